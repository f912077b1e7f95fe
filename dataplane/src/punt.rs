//! Punt rings: packets a worker hands to the control core (ARP, packets for the router's
//! own addresses, neighbor misses, expired TTLs). One bounded ring per worker, written only
//! by that worker and read only by the control core; a full ring drops and counts
//! (`punt_ring_full`) instead of blocking the worker.

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
