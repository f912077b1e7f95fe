//! Punt rings: packets a worker hands to the control core (ARP, packets for the router's
//! own addresses, neighbor misses, expired TTLs, L2TP and PPP control). One bounded ring
//! per worker, written only by that worker and read only by the control core; a full ring
//! drops and counts (`punt_ring_full`) instead of blocking the worker.
//!
//! A punt carries the header offsets the worker already found ([`Offsets`]), so the
//! control core's services read the headers they need without parsing the frame again.
//!
//! Inject rings go the other way: frames the control core originates (ARP and ND answers,
//! ICMP, L2TP control, packets released after neighbor resolution) and consumed punt
//! buffers, one bounded ring per worker, drained by the worker into its per-port transmit
//! buffers every iteration.

use crate::counters::Punt;
use crossbeam::queue::ArrayQueue;
use vr::{PortId, VrId};

/// Default ring size per worker.
pub const PUNT_RING_SIZE: usize = 1024;

/// Where the headers of a punted frame are, as the worker found them. Offsets count from
/// the first byte of the frame (its Ethernet header); [`Offsets::NONE`] means "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    /// 802.1Q VLAN id of the frame, if tagged.
    pub vlan: Option<u16>,
    /// First byte after Ethernet and the VLAN tag: ARP, IPv4/IPv6 or the MPLS label stack.
    pub l3: u16,
    /// The IP header (after any labels).
    pub ip: u16,
    /// The IP packet's transport header (UDP, ICMP, ...).
    pub l4: u16,
    /// The transport payload (the L2TP header of an L2TP message).
    pub app: u16,
    /// The frame inside a tunnel (the PPP frame of an L2TP data message).
    pub inner: u16,
}

impl Offsets {
    /// "Not found".
    pub const NONE: u16 = u16::MAX;

    /// Only the network-layer offset is known.
    #[inline]
    pub const fn l3(vlan: Option<u16>, l3: usize) -> Offsets {
        Offsets {
            vlan,
            l3: l3 as u16,
            ip: Self::NONE,
            l4: Self::NONE,
            app: Self::NONE,
            inner: Self::NONE,
        }
    }

    /// The network layer is IP at `l3`.
    #[inline]
    pub const fn ip(vlan: Option<u16>, l3: usize, ip: usize) -> Offsets {
        Offsets {
            ip: ip as u16,
            ..Self::l3(vlan, l3)
        }
    }

    /// An offset as a usable index, or `None`.
    #[inline]
    pub fn get(o: u16) -> Option<usize> {
        (o != Self::NONE).then_some(usize::from(o))
    }
}

/// Why a packet goes to the control core, in which VR, and where its headers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PuntTo {
    /// The reason.
    pub reason: Punt,
    /// The VR it was classified into, if any.
    pub vr: Option<VrId>,
    /// Header offsets.
    pub at: Offsets,
}

/// A packet on its way to the control core.
#[derive(Debug)]
pub struct Punted<B> {
    /// Why it was punted, in which VR, where its headers are.
    pub to: PuntTo,
    /// Port it arrived on.
    pub port: PortId,
    /// Worker that punted it (its buffers go back to that worker).
    pub worker: u16,
    /// The packet, starting at its Ethernet header.
    pub buf: B,
}

/// A worker's punt ring.
pub type PuntRing<B> = ArrayQueue<Punted<B>>;

/// Default inject ring size per worker.
pub const INJECT_RING_SIZE: usize = 1024;

/// A packet (or an empty buffer) the control core hands back to a worker.
#[derive(Debug)]
pub enum Inject<B> {
    /// Send `buf` (a complete frame, starting at its Ethernet header) on `port`.
    Tx {
        /// Egress port.
        port: PortId,
        /// The frame.
        buf: B,
    },
    /// Give the buffer back to the worker's pool (a punted packet the control core consumed).
    Recycle(B),
}

/// A worker's inject ring: written only by the control core, read only by that worker. A
/// full ring is the control core's problem: it drops and counts (`inject_ring_full`).
pub type InjectRing<B> = ArrayQueue<Inject<B>>;
