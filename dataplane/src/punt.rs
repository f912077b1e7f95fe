//! Punt rings: packets a worker hands to the control core (ARP, packets for the router's
//! own addresses, neighbor misses, expired TTLs). One bounded ring per worker, written only
//! by that worker and read only by the control core; a full ring drops and counts
//! (`punt_ring_full`) instead of blocking the worker.
//!
//! Inject rings go the other way: frames the control core originates (ARP and ND answers,
//! ICMP, packets released after neighbor resolution) and consumed punt buffers, one bounded
//! ring per worker, drained by the worker into its per-port transmit buffers every
//! iteration.

use crate::counters::Punt;
use crossbeam::queue::ArrayQueue;
use vr::{PortId, VrId};

/// Default ring size per worker.
pub const PUNT_RING_SIZE: usize = 1024;

/// A packet on its way to the control core.
#[derive(Debug)]
pub struct Punted<B> {
    /// Why it was punted.
    pub reason: Punt,
    /// Port it arrived on.
    pub port: PortId,
    /// VR it was classified into, if any.
    pub vr: Option<VrId>,
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
