//! Single-writer counters laid out one cache line per writer, and the per-VR traffic
//! counters that live in the published state.
//!
//! A [`CounterLine`] is 64-byte aligned and 64 bytes long, so two workers never write the
//! same cache line. A worker increments only its own line with a plain load and store
//! ([`CounterLine::bump`]): no locked instruction on the fast path; readers (the control
//! core) sum the lines of all workers with relaxed loads.
//!
//! [`VrCounters`] belong to a VR, not to a worker: they are created with the VR and travel
//! with it in every forwarding-state version ([`crate::state::VrEntry::counters`]), so a
//! VR created while the appliance runs is counted like the others, and a worker reaches
//! its VR's line through the VR entry it already looked up.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters per line.
pub const LINE_COUNTERS: usize = 8;

/// Eight counters on one cache line of their own.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct CounterLine(pub [AtomicU64; LINE_COUNTERS]);

impl CounterLine {
    /// Single-writer increment of counter `i` (`i < 8`): a plain load and store.
    #[inline]
    pub fn bump(&self, i: usize, n: u64) {
        let c = &self.0[i & (LINE_COUNTERS - 1)];
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Counter `i`.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        self.0[i & (LINE_COUNTERS - 1)].load(Ordering::Relaxed)
    }
}

/// `n` counters packed on whole cache lines (8 per line), each writer owning its array.
#[derive(Debug)]
pub struct CounterArray {
    lines: Box<[CounterLine]>,
    len: usize,
}

impl CounterArray {
    /// `n` zeroed counters.
    pub fn new(n: usize) -> Self {
        CounterArray {
            lines: (0..n.div_ceil(LINE_COUNTERS).max(1))
                .map(|_| CounterLine::default())
                .collect(),
            len: n,
        }
    }

    /// Single-writer increment of counter `i`; out-of-range indices are ignored.
    #[inline]
    pub fn bump(&self, i: usize, n: u64) {
        if i < self.len {
            self.lines[i / LINE_COUNTERS].bump(i % LINE_COUNTERS, n);
        }
    }

    /// Adds `a` to counter `i` and `b` to counter `i + 1`, with one line lookup when both
    /// are on one line (a session's packet and byte counters always are: the packet
    /// counter's index is even). Out-of-range counters are not counted. Always inlined: the
    /// L2TP and PPPoE data paths call it for every session packet.
    #[inline(always)]
    pub fn bump_pair(&self, i: usize, a: u64, b: u64) {
        let o = i % LINE_COUNTERS;
        match self.lines.get(i / LINE_COUNTERS) {
            Some(line) if o + 1 < LINE_COUNTERS && i + 1 < self.len => {
                line.bump(o, a);
                line.bump(o + 1, b);
            }
            _ => {
                self.bump(i, a);
                self.bump(i + 1, b);
            }
        }
    }

    /// Counter `i` (0 when out of range).
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        if i < self.len {
            self.lines[i / LINE_COUNTERS].get(i % LINE_COUNTERS)
        } else {
            0
        }
    }

    /// Number of counters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no counter.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which counter of a VR's line.
pub mod vr_counter {
    /// Packets classified into the VR (by interface, session or pop-to-VR label).
    pub const RX: usize = 0;
    /// Packets the VR forwarded.
    pub const TX: usize = 1;
    /// Packets of the VR dropped by the pipeline (no route, blackhole, TTL, MTU, ...).
    pub const DROP: usize = 2;
    /// Bytes of the packets counted in [`RX`]: the frame as it was when classified.
    pub const RX_BYTES: usize = 3;
    /// Bytes of the packets counted in [`TX`]: the frame as it leaves.
    pub const TX_BYTES: usize = 4;
}

/// One VR's traffic counters: one [`CounterLine`] per worker.
#[derive(Debug)]
pub struct VrCounters {
    lines: Box<[CounterLine]>,
}

impl VrCounters {
    /// Counters for `workers` workers.
    pub fn new(workers: usize) -> Self {
        VrCounters {
            lines: (0..workers.max(1))
                .map(|_| CounterLine::default())
                .collect(),
        }
    }

    /// Worker `w`'s line (`None` for a worker the VR was not sized for).
    #[inline]
    pub fn worker(&self, w: usize) -> Option<&CounterLine> {
        self.lines.get(w)
    }

    /// Counter `i` ([`vr_counter`]) summed over all workers.
    pub fn total(&self, i: usize) -> u64 {
        self.lines.iter().map(|l| l.get(i)).sum()
    }

    /// Workers counted.
    pub fn workers(&self) -> usize {
        self.lines.len()
    }
}

/// Indices of a session's traffic counters ([`SessionCounters`]).
pub mod session_counter {
    /// Packets from the subscriber (decapsulated by a worker).
    pub const RX_PACKETS: usize = 0;
    /// Bytes from the subscriber (the PPP payload: the IP packet).
    pub const RX_BYTES: usize = 1;
    /// Packets to the subscriber (encapsulated by a worker).
    pub const TX_PACKETS: usize = 2;
    /// Bytes to the subscriber (the IP packet).
    pub const TX_BYTES: usize = 3;
    /// Counters per session.
    pub const PER_SESSION: usize = 4;
}

/// Traffic counters of sessions (L2TP, later PPPoE), in slots the control plane hands out
/// ([`crate::StateWriter::alloc_session_counters`]): each worker has its own array (a
/// session's four counters share half a cache line of that worker's array only), the
/// control core sums them for accounting. Sized once for the appliance; shared by every
/// forwarding-state version like the VR counters.
#[derive(Debug)]
pub struct SessionCounters {
    workers: Box<[CounterArray]>,
    slots: usize,
}

impl SessionCounters {
    /// `slots` sessions' counters for `workers` workers.
    pub fn new(workers: usize, slots: usize) -> Self {
        SessionCounters {
            workers: (0..workers.max(1))
                .map(|_| CounterArray::new(slots * session_counter::PER_SESSION))
                .collect(),
            slots,
        }
    }

    /// Sessions that can be counted.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Worker `w` adds one packet of `bytes` to slot `slot`, direction `packets` (the
    /// packet index; the byte counter follows it). Out-of-range slots are not counted.
    #[inline]
    pub fn bump(&self, w: usize, slot: u32, packets: usize, bytes: u64) {
        if let Some(a) = self.workers.get(w) {
            let i = slot as usize * session_counter::PER_SESSION + packets;
            a.bump_pair(i, 1, bytes);
        }
    }

    /// Counter `which` of `slot`, summed over the workers.
    pub fn total(&self, slot: u32, which: usize) -> u64 {
        let i = slot as usize * session_counter::PER_SESSION + which;
        self.workers.iter().map(|a| a.get(i)).sum()
    }

    /// The four counters of `slot` summed over the workers.
    pub fn read(&self, slot: u32) -> [u64; session_counter::PER_SESSION] {
        std::array::from_fn(|i| self.total(slot, i))
    }

    /// Bytes of memory the counters take.
    pub fn memory_bytes(&self) -> usize {
        self.workers
            .iter()
            .map(|a| a.len().div_ceil(LINE_COUNTERS) * 64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_whole_cache_lines() {
        assert_eq!(std::mem::size_of::<CounterLine>(), 64);
        assert_eq!(std::mem::align_of::<CounterLine>(), 64);
        // Two arrays allocated back to back never share a line.
        let a = CounterArray::new(3);
        let b = CounterArray::new(3);
        let pa = a.lines.as_ptr() as usize;
        let pb = b.lines.as_ptr() as usize;
        assert_eq!(pa % 64, 0);
        assert_eq!(pb % 64, 0);
        assert!(pa.abs_diff(pb) >= 64);
    }

    #[test]
    fn arrays_and_vr_counters_add_up() {
        let a = CounterArray::new(10);
        a.bump(9, 4);
        a.bump(9, 1);
        a.bump(10, 1);
        assert_eq!(a.get(9), 5);
        assert_eq!(a.get(10), 0);
        assert_eq!(a.len(), 10);
        let v = VrCounters::new(2);
        v.worker(0).unwrap().bump(vr_counter::RX, 3);
        v.worker(1).unwrap().bump(vr_counter::RX, 4);
        assert!(v.worker(2).is_none());
        assert_eq!(v.total(vr_counter::RX), 7);
        assert_eq!(v.total(vr_counter::TX), 0);
    }

    #[test]
    fn pairs_are_counted_as_two_bumps() {
        // Within a line, across a line boundary (7 and 8), and at the array's end (the
        // second counter, or both, out of range).
        let a = CounterArray::new(11);
        for i in [0, 6, 7, 9, 10, 11] {
            a.bump_pair(i, 1, 100);
        }
        let got: Vec<u64> = (0..12).map(|i| a.get(i)).collect();
        assert_eq!(got, [1, 100, 0, 0, 0, 0, 1, 101, 100, 1, 101, 0]);
    }

    #[test]
    fn session_counters_sum_workers_and_ignore_bad_slots() {
        let s = SessionCounters::new(2, 3);
        s.bump(0, 2, session_counter::RX_PACKETS, 100);
        s.bump(1, 2, session_counter::RX_PACKETS, 50);
        s.bump(1, 2, session_counter::TX_PACKETS, 7);
        s.bump(0, 3, session_counter::RX_PACKETS, 9);
        s.bump(5, 0, session_counter::RX_PACKETS, 9);
        assert_eq!(s.read(2), [2, 150, 1, 7]);
        assert_eq!(s.read(0), [0; 4]);
        assert_eq!(s.read(3), [0; 4]);
        assert_eq!(s.slots(), 3);
    }
}
