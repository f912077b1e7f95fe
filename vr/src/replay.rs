//! Replay hops: a link next hop that keeps a copy of the last packets it sent, so that the
//! control core can send them again by another way.
//!
//! What it is for: Mobile IP smooth handoff (seed 003, Figs. 25–29). A foreign agent
//! delivers a visitor's packets on its access link. When the mobile node moves, it leaves
//! the old link at once (break before make), but the old FA learns of the move only from
//! the new FA's Binding Update some 10–40 ms later; what it put on its link in between is
//! lost. With the visitor's route through a [`crate::NextHop::Replayable`] next hop, the
//! worker keeps each delivered IP packet (with the instant it went out) in the hop's
//! [`ReplayRing`]; at the BU the FA takes from the ring the packets delivered since the
//! node left and routes them again, now into the old → new forwarding tunnel.
//!
//! **The hop** ([`ReplayHop`]): the `Forward` next hop the packets are sent to (the
//! visitor's MAC on the FA's port and VLAN) and the ring. Keyed per VR like the source
//! selections: a route of VR `v` reaches only `v`'s hop `id`; a missing id is a named drop
//! on the workers (`replay_hop_unknown`).
//!
//! **The ring** is a bounded lock-free queue (crossbeam's `ArrayQueue`): the workers push
//! (a full ring overwrites its oldest packet), the control core takes. What it costs: a
//! clock read and a copy per delivered packet, into the buffer of the packet it overwrites
//! (an allocation only while the ring fills); paid only by routes through a replay hop
//! (`cargo bench -p dataplane --bench ipip`: `replay_hop_route` beside `plain_route`).
//! Packets longer than [`MAX_KEPT`] are sent but not kept (counted).

use crate::ids::VrId;
use crate::nexthop::NextHop;
use crate::persist::{PKey, PMap, PMapWriter};
use crossbeam::queue::ArrayQueue;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The longest IP packet a ring keeps (bytes).
pub const MAX_KEPT: usize = 9216;

/// Packets a foreign agent's visitor ring holds unless the profile says otherwise.
pub const DEFAULT_RING: usize = 64;

/// The most packets one ring holds.
pub const MAX_RING: usize = 4096;

/// The name of a replay hop in routes ([`crate::NextHop::Replayable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayId(pub u32);

impl fmt::Display for ReplayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replay hop #{}", self.0)
    }
}

/// A replay hop's key: the VR whose routes name it and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayKey {
    /// The VR whose routes use it ([`ReplayHop::vr`]).
    pub vr: VrId,
    /// The id routes name.
    pub id: ReplayId,
}

impl ReplayKey {
    /// The key of `vr`'s hop `id`.
    #[inline]
    pub fn new(vr: VrId, id: ReplayId) -> Self {
        ReplayKey { vr, id }
    }
}

impl PKey for ReplayKey {
    #[inline]
    fn pack(&self) -> u64 {
        (u64::from(self.vr.0) << 32) | u64::from(self.id.0)
    }
}

impl fmt::Display for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.id, self.vr)
    }
}

/// Why a replay hop cannot be installed or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The VR it names does not exist.
    #[error("replay hop {name}: {vr} does not exist")]
    UnknownVr {
        /// The hop.
        name: String,
        /// The VR.
        vr: VrId,
    },
    /// The packets would go anywhere but to a resolved link neighbour.
    #[error(
        "replay hop {name}: sends to a {kind} next hop; a replay hop sends to a resolved \
         link neighbour (forward)"
    )]
    Hop {
        /// The hop.
        name: String,
        /// The kind of next hop given.
        kind: &'static str,
    },
    /// Nothing is installed under that key.
    #[error("no {0} is installed")]
    NotInstalled(String),
}

/// A packet a ring kept: the IP packet as it went out and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// When the worker sent it.
    pub at: Instant,
    /// The IP packet (from its IP header on; TTL as sent). A buffer of the ring, reused
    /// for the packet that overwrites it.
    pub ip: Vec<u8>,
}

/// What [`ReplayRing::take_since`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The packets sent at or after the instant asked, oldest first.
    pub packets: Vec<Vec<u8>>,
    /// Packets in the ring sent before that instant (discarded).
    pub older: usize,
    /// True when the ring had overwritten packets and its oldest one is already at or after
    /// the instant asked: some packets of the interval may have been lost from it.
    pub incomplete: bool,
}

/// The last packets a replay hop sent (see the module docs).
#[derive(Debug)]
pub struct ReplayRing {
    q: ArrayQueue<Kept>,
    kept: AtomicU64,
    overwritten: AtomicU64,
    too_long: AtomicU64,
}

impl ReplayRing {
    /// A ring of `packets` packets (clamped to 1..=[`MAX_RING`]).
    pub fn new(packets: usize) -> Self {
        ReplayRing {
            q: ArrayQueue::new(packets.clamp(1, MAX_RING)),
            kept: AtomicU64::new(0),
            overwritten: AtomicU64::new(0),
            too_long: AtomicU64::new(0),
        }
    }

    /// Its capacity in packets.
    pub fn capacity(&self) -> usize {
        self.q.capacity()
    }

    /// Keeps a copy of `ip`, sent at `at` (a worker, after sending it). A full ring loses its
    /// oldest packet, whose buffer takes the copy (no allocation once the ring is full and
    /// its buffers are large enough); a packet longer than [`MAX_KEPT`] is not kept.
    #[inline]
    pub fn keep(&self, at: Instant, ip: &[u8]) {
        if ip.len() > MAX_KEPT {
            self.too_long.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut buf = match self.q.is_full().then(|| self.q.pop()).flatten() {
            Some(old) => {
                self.overwritten.fetch_add(1, Ordering::Relaxed);
                old.ip
            }
            None => Vec::new(),
        };
        buf.clear();
        buf.extend_from_slice(ip);
        // Another thread may have filled the ring in between: then the oldest goes.
        if self.q.force_push(Kept { at, ip: buf }).is_some() {
            self.overwritten.fetch_add(1, Ordering::Relaxed);
        }
        self.kept.fetch_add(1, Ordering::Relaxed);
    }

    /// Empties the ring and returns the packets sent at or after `since`, oldest first.
    pub fn take_since(&self, since: Instant) -> Taken {
        let mut t = Taken::default();
        let mut first = None;
        while let Some(k) = self.q.pop() {
            first.get_or_insert(k.at);
            if k.at >= since {
                t.packets.push(k.ip);
            } else {
                t.older += 1;
            }
        }
        t.incomplete =
            self.overwritten.load(Ordering::Relaxed) > 0 && first.is_some_and(|f| f >= since);
        t
    }

    /// Packets kept since the ring was made.
    pub fn kept(&self) -> u64 {
        self.kept.load(Ordering::Relaxed)
    }

    /// Packets pushed out of a full ring by newer ones.
    pub fn overwritten(&self) -> u64 {
        self.overwritten.load(Ordering::Relaxed)
    }

    /// Packets too long to keep.
    pub fn too_long(&self) -> u64 {
        self.too_long.load(Ordering::Relaxed)
    }

    /// Packets in the ring now.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// A replay hop: where its packets go and the ring that keeps them.
#[derive(Debug, Clone)]
pub struct ReplayHop {
    /// The operator's name (for messages and listings).
    pub name: Arc<str>,
    /// The VR whose routes use it.
    pub vr: VrId,
    /// Where the packets go: a `Forward` next hop.
    pub hop: NextHop,
    /// The packets it sent last (shared with whoever will replay them).
    pub ring: Arc<ReplayRing>,
}

impl ReplayHop {
    /// Checks what the data plane relies on: the hop is a resolved link neighbour.
    pub fn check(&self) -> Result<(), ReplayError> {
        match self.hop {
            NextHop::Forward { .. } => Ok(()),
            other => Err(ReplayError::Hop {
                name: self.name.to_string(),
                kind: other.kind(),
            }),
        }
    }
}

/// The published replay hops by VR and id.
pub type ReplayTable = PMap<ReplayKey, Arc<ReplayHop>>;

/// The writer's side of [`ReplayTable`].
pub(crate) type ReplayTableWriter = PMapWriter<ReplayKey, Arc<ReplayHop>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PortId;
    use crate::nexthop::LabelPush;
    use std::time::Duration;

    #[test]
    fn takes_what_went_out_since_the_instant_oldest_first() {
        let r = ReplayRing::new(4);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        r.keep(at(0), &[1]);
        r.keep(at(10), &[2]);
        r.keep(at(20), &[3]);
        let t = r.take_since(at(10));
        assert_eq!(t.packets, vec![vec![2u8], vec![3u8]]);
        assert_eq!(t.older, 1);
        assert!(!t.incomplete);
        assert!(r.is_empty(), "taking empties the ring");
        assert_eq!(r.kept(), 3);
    }

    #[test]
    fn a_full_ring_loses_its_oldest_and_says_the_interval_may_be_incomplete() {
        let r = ReplayRing::new(2);
        let t0 = Instant::now();
        for i in 0..5u8 {
            r.keep(t0 + Duration::from_millis(u64::from(i)), &[i]);
        }
        assert_eq!(r.overwritten(), 3);
        let t = r.take_since(t0);
        assert_eq!(t.packets, vec![vec![3u8], vec![4u8]]);
        assert!(t.incomplete, "packets 0..=2 of the interval are gone");
        // Asked from after the overwritten ones: complete.
        for i in 0..3u8 {
            r.keep(t0 + Duration::from_millis(10 + u64::from(i)), &[i]);
        }
        let t = r.take_since(t0 + Duration::from_millis(12));
        assert_eq!((t.packets.len(), t.older, t.incomplete), (1, 1, false));
    }

    #[test]
    fn too_long_packets_are_counted_not_kept() {
        let r = ReplayRing::new(2);
        r.keep(Instant::now(), &vec![0u8; MAX_KEPT + 1]);
        assert_eq!((r.len(), r.too_long(), r.kept()), (0, 1, 0));
        assert_eq!(ReplayRing::new(0).capacity(), 1);
        assert_eq!(ReplayRing::new(1 << 20).capacity(), MAX_RING);
    }

    #[test]
    fn only_a_forward_hop_is_accepted() {
        let mut h = ReplayHop {
            name: "v".into(),
            vr: VrId(1),
            hop: NextHop::Forward {
                port: PortId(0),
                vlan: None,
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                push: LabelPush::EMPTY,
            },
            ring: Arc::new(ReplayRing::new(8)),
        };
        assert_eq!(h.check(), Ok(()));
        h.hop = NextHop::Local;
        assert!(matches!(
            h.check(),
            Err(ReplayError::Hop { kind: "local", .. })
        ));
    }
}
