//! Incremental FIB updates published to lock-free readers.
//!
//! An [`IncrementalFib`] (control core) owns the [`Rib`] and the current compiled
//! [`Poptrie`]. Route changes are applied to the RIB at once and mark the top-array slots
//! they touch; [`IncrementalFib::commit`] then compiles ("paints") only the marked slots'
//! subtrees, once, and writes them into a table that no reader can see (untouched subtrees
//! are not rebuilt) and returns it. The appliance publishes it as part of the next
//! forwarding-state version ([`crate::state`]); a [`FibWriter`] publishes a FIB on its own
//! with one atomic pointer store ([`arc_swap::ArcSwap`]).
//!
//! Readers ([`FibReader`]) load the current version once per burst: `load()` never blocks
//! and never waits for the writer, and every lookup in the burst sees that one immutable
//! version, so an answer is always exactly the old or the new table's answer, never a mix.
//!
//! **Double buffering.** Which table does a commit write into? Copying the current one
//! costs its whole size (5.3 MiB for a full IPv4 table) on every commit, which bounded a
//! BGP-like stream of small commits to ≈ 0.15 M changes/s at 1,000 changes per commit. So
//! a large table (≥ [`SPARE_MIN_BYTES`]) keeps the version before the current one as a
//! *spare*, which lags behind exactly on the previous commit's slots; that commit's painted
//! subtrees are kept. At the next commit, if no reader holds the spare any more
//! (`Arc::get_mut`: the reference count proves it, no `unsafe`), the commit brings it up to
//! date in place — copying in the kept subtrees of the slots it lags on, then writing this
//! commit's — and publishes it; the version it replaces becomes the new spare. Readers
//! never see a table being written: the spare was unpublished and unreferenced. If a reader
//! still holds the spare (a slow worker, a version kept by an old forwarding-state root),
//! the commit copies the current table as before and the spare is retired. Small tables
//! (thousands of small VRs) are copied: cheap, and a spare would double their memory. Big
//! commits are copied too: a spare lagging on more than `SPARE_MAX_LAG` (4,096) top slots
//! costs more to bring up to date than a copy.
//!
//! Reclamation is deferred and kept off the fast path: replaced versions go to a retired
//! list and are freed by the writer on a later commit once no reader holds them (their
//! reference count is back to 1), so a worker never runs a deallocation.
//!
//! Batching: each commit costs the painted slots plus (without a free spare) a copy of the
//! table. With an 18-bit top array a dirty slot is one RIB slot list, and the RIB keeps
//! each slot's list id and inherited next hop in one index entry
//! ([`Rib::index_slots`](crate::fib::poptrie::Rib)), so a slot costs one index load and the
//! painting of its list; smaller tables find their dirty slots in one depth-first walk of
//! the RIB's trie. Both the changes ([`IncrementalFib::apply`]) and the commit work in
//! groups of 64 slots whose cache misses are taken together (index entries, then lists,
//! then old blocks), not one after another. A slot's subtree is written back into its own
//! block of the table's heap when it fits, else into a freed block of its size class or at
//! the end, so the heap is reused rather than grown; should it still double since it was
//! last all live, the commit compacts the table (one pass over the live records, no
//! recompilation). When the route count crosses a top-array width threshold the commit
//! recompiles from the RIB. `varouter bench fib --batch N` measures the rate (figures in
//! docs/performance.md).

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::fib::poptrie::{Painted, Poptrie, Rib, TrieKey};
use crate::fib::prefix::Prefix;
use crate::fib::Lpm;
use crate::ids::NextHopId;

/// One route change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteChange<K> {
    /// Add the route, or change its next hop.
    Set(Prefix<K>, NextHopId),
    /// Withdraw the route.
    Delete(Prefix<K>),
}

/// The read side: cheap to clone, one per worker.
#[derive(Debug)]
pub struct FibReader<K> {
    shared: Arc<ArcSwap<Poptrie<K>>>,
}

impl<K> Clone for FibReader<K> {
    fn clone(&self) -> Self {
        FibReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: TrieKey> FibReader<K> {
    /// The current version; hold it for one burst, then drop it.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Poptrie<K>>> {
        self.shared.load()
    }
}

/// Tables of at least this many bytes are double-buffered (see the module documentation);
/// smaller ones are copied on every commit.
pub const SPARE_MIN_BYTES: usize = 256 * 1024;

/// A spare lagging on more top slots than this is dropped and the commit copies the current
/// table instead (see [`IncrementalFib::commit`]).
const SPARE_MAX_LAG: usize = 4096;

/// The incremental compiler of one FIB: owns the RIB and the current compiled table, and
/// turns batches of route changes into new table versions that share nothing mutable with
/// the old ones (the forwarding state publishes them; [`FibWriter`] publishes them alone).
#[derive(Debug)]
pub struct IncrementalFib<K> {
    rib: Rib<K>,
    /// The version last produced by [`commit`](Self::commit).
    current: Arc<Poptrie<K>>,
    /// The version before `current`, to be brought up to date in place by the next commit
    /// if no reader holds it then (double buffering).
    spare: Option<Arc<Poptrie<K>>>,
    /// The slots where `spare` lags behind `current` (those of the commit that produced
    /// `current`), as painted by that commit: the next commit writes them into the spare.
    lag: Painted,
    /// This commit's slots, painted once from the RIB.
    painted: Painted,
    /// Spares a reader still held when they were due for reuse; freed here once unused.
    retired: Vec<Arc<Poptrie<K>>>,
    /// Tables of at least this many bytes keep a spare.
    spare_min_bytes: usize,
    /// Top slots to recompile at the next commit.
    dirty: Vec<u32>,
    /// The changed prefixes longer than the top array's width, and the top slots covered by
    /// the shorter ones (see [`Poptrie::paint_slots`]'s reuse of unchanged subtrees).
    changed: Vec<Prefix<K>>,
    whole: Vec<u32>,
    /// Too much changed for slot-wise recompilation: rebuild at the next commit.
    full: bool,
    /// Heap words right after the last full build or compaction (all live then).
    compacted_words: usize,
    compactions: u64,
    in_place: u64,
    generation: u64,
}

impl<K: TrieKey> IncrementalFib<K> {
    /// Bulk-loads `routes` (later duplicates win) as generation 0.
    pub fn new(routes: &[(Prefix<K>, NextHopId)]) -> Self {
        let rib = Rib::from_routes(routes);
        let current = Arc::new(Poptrie::from_rib_for_updates(&rib));
        IncrementalFib {
            compacted_words: current.heap_words(),
            compactions: 0,
            in_place: 0,
            current,
            spare: None,
            lag: Painted::default(),
            painted: Painted::default(),
            retired: Vec::new(),
            spare_min_bytes: SPARE_MIN_BYTES,
            rib,
            dirty: Vec::new(),
            changed: Vec::new(),
            whole: Vec::new(),
            full: false,
            generation: 0,
        }
    }

    /// Double-buffers tables of at least `bytes` bytes instead of [`SPARE_MIN_BYTES`]
    /// (0: every table; `usize::MAX`: none, every commit copies). For tests and benchmarks.
    pub fn set_spare_min_bytes(&mut self, bytes: usize) {
        self.spare_min_bytes = bytes;
    }

    /// The RIB (the routes as of the last applied change, committed or not).
    pub fn rib(&self) -> &Rib<K> {
        &self.rib
    }

    /// The last committed version.
    pub fn current(&self) -> &Arc<Poptrie<K>> {
        &self.current
    }

    /// True when `v` is the spare this writer keeps for reuse (and frees itself).
    pub fn is_spare(&self, v: &Arc<Poptrie<K>>) -> bool {
        self.spare.as_ref().is_some_and(|s| Arc::ptr_eq(s, v))
    }

    /// Adds or modifies a route (in the table at the next [`commit`](Self::commit));
    /// returns the previous next hop.
    pub fn set(&mut self, prefix: Prefix<K>, nh: NextHopId) -> Option<NextHopId> {
        let old = self.rib.insert(prefix, nh);
        if old != Some(nh) {
            self.mark(&prefix);
        }
        old
    }

    /// Withdraws a route (in the table at the next commit); returns its next hop if present.
    pub fn delete(&mut self, prefix: &Prefix<K>) -> Option<NextHopId> {
        let old = self.rib.remove(prefix);
        if old.is_some() {
            self.mark(prefix);
        }
        old
    }

    /// Applies a batch of changes (in the table at the next commit). The batch is applied
    /// in address order (a stable sort: changes to the same prefix keep their order, and
    /// changes to different prefixes commute), so consecutive RIB walks share their paths.
    pub fn apply(&mut self, changes: &[RouteChange<K>]) {
        let mut sorted = changes.to_vec();
        sorted.sort_by_key(|c| match c {
            RouteChange::Set(p, _) | RouteChange::Delete(p) => *p,
        });
        let mut slots = [0u32; 64];
        for chunk in sorted.chunks(64) {
            // Warm the slot lists of the chunk's long routes first, so their cache misses
            // overlap instead of coming one after another.
            let mut n = 0;
            for c in chunk {
                let (RouteChange::Set(p, _) | RouteChange::Delete(p)) = c;
                if u32::from(p.len()) > crate::fib::poptrie::SPLIT {
                    slots[n] = p.addr().bits_at(0, crate::fib::poptrie::SPLIT) as u32;
                    n += 1;
                }
            }
            std::hint::black_box(self.rib.warm_lists(&slots[..n]));
            for c in chunk {
                match c {
                    RouteChange::Set(p, nh) => {
                        self.set(*p, *nh);
                    }
                    RouteChange::Delete(p) => {
                        self.delete(p);
                    }
                }
            }
        }
    }

    fn mark(&mut self, prefix: &Prefix<K>) {
        if self.full {
            return;
        }
        let s = self.current.top_bits();
        let len = u32::from(prefix.len());
        let first = prefix.addr().bits_at(0, s);
        if len > s {
            self.dirty.push(first as u32);
            self.changed.push(*prefix);
        } else {
            let span = 1usize << (s - len);
            if span > (1usize << s) / 16 {
                self.full = true;
                self.dirty.clear();
                self.changed.clear();
                self.whole.clear();
            } else {
                self.dirty.extend((first..first + span).map(|i| i as u32));
                self.whole.extend((first..first + span).map(|i| i as u32));
            }
        }
    }

    /// True when changes are waiting for [`commit`](Self::commit).
    pub fn has_pending(&self) -> bool {
        self.full || !self.dirty.is_empty()
    }

    /// Compiles all applied changes into a new version and returns it (`None` when nothing
    /// changed). The previous version is untouched: readers holding it keep a valid table.
    pub fn commit(&mut self) -> Option<Arc<Poptrie<K>>> {
        self.retired.retain(|v| Arc::strong_count(v) > 1);
        if !self.has_pending() {
            return None;
        }
        self.generation += 1;
        let (routes, generation) = (self.rib.len(), self.generation);
        let spare = self.spare.take();
        let next = if self.full || self.rebuild_for_size() {
            self.retire(spare);
            self.lag.clear();
            self.dirty.clear();
            self.changed.clear();
            self.whole.clear();
            self.full = false;
            let mut t = Poptrie::from_rib_for_updates(&self.rib);
            t.set_meta(routes, generation);
            self.compacted_words = t.heap_words();
            Arc::new(t)
        } else {
            self.dirty.sort_unstable();
            self.dirty.dedup();
            self.changed.sort_unstable();
            self.whole.sort_unstable();
            if self.current.top_bits() == crate::fib::poptrie::SPLIT {
                self.rib.index_slots();
            }
            // Compile this commit's slots once; they go into the published table now and
            // into the other buffer at the next commit.
            self.painted.clear();
            Poptrie::paint_slots(
                &self.rib,
                self.current.top_bits(),
                &self.dirty,
                &mut self.painted,
                Some((&self.current, &self.changed, &self.whole)),
            );
            self.changed.clear();
            self.whole.clear();
            // A spare lagging on very many slots (a huge previous commit) costs as much to
            // bring up to date as one copy of the whole table (measured on the full IPv4
            // table at 10,000 changes per commit: 1.76-1.87 M/s either way), and the copy
            // does not depend on the spare being free.
            let spare = if self.lag.len() <= SPARE_MAX_LAG {
                spare
            } else {
                self.retire(spare);
                None
            };
            let reused = match spare {
                Some(mut s) => match Arc::get_mut(&mut s) {
                    Some(t) => {
                        // No reader holds the spare: bring it up to date in place with the
                        // slots it lags on (painted by the previous commit; those this
                        // commit changes again are skipped) and this commit's.
                        t.apply_painted(&self.lag, &self.dirty);
                        t.apply_painted(&self.painted, &[]);
                        t.set_meta(routes, generation);
                        self.in_place += 1;
                        Some(s)
                    }
                    None => {
                        self.retired.push(s);
                        None
                    }
                },
                None => None,
            };
            let mut next = reused.unwrap_or_else(|| {
                let mut t = self.current.clone_with_room(self.painted.words() + 1024);
                t.apply_painted(&self.painted, &[]);
                t.set_meta(routes, generation);
                Arc::new(t)
            });
            if self.too_much_garbage(&next) {
                next = Arc::new(next.compacted());
                self.compacted_words = next.heap_words();
                self.compactions += 1;
            }
            // The replaced version lags behind the new one exactly on this commit's slots.
            std::mem::swap(&mut self.lag, &mut self.painted);
            self.dirty.clear();
            next
        };
        let previous = std::mem::replace(&mut self.current, next);
        if previous.memory_bytes() >= self.spare_min_bytes
            && previous.top_bits() == self.current.top_bits()
            && !self.lag.is_empty()
        {
            self.spare = Some(previous);
        } else {
            // Not kept: the caller's publisher frees it once readers let go, as it frees
            // every replaced version of a copied table.
            self.lag.clear();
        }
        Some(Arc::clone(&self.current))
    }

    /// Keeps `spare` until no reader holds it, so that no reader runs its deallocation.
    fn retire(&mut self, spare: Option<Arc<Poptrie<K>>>) {
        if let Some(s) = spare {
            if Arc::strong_count(&s) > 1 {
                self.retired.push(s);
            }
        }
    }

    /// Commits so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The heap has doubled since it was last all live: compact (one copy pass over the
    /// live table, no recompilation). Freed blocks are reused, so this takes a table whose
    /// subtrees grew a lot or whose free blocks are of the wrong sizes; at most half of the
    /// heap is then free or unused, and compaction costs O(1) amortised per word written.
    fn too_much_garbage(&self, t: &Poptrie<K>) -> bool {
        t.heap_words() > 2 * self.compacted_words + 1024
    }

    /// The table grew or shrank past a top-array width threshold: recompile from the RIB.
    fn rebuild_for_size(&self) -> bool {
        crate::fib::poptrie::top_bits_for(self.rib.len()) != self.current.top_bits()
    }

    /// Commits that compacted the table (dropped the garbage of replaced subtrees).
    pub fn compactions(&self) -> u64 {
        self.compactions
    }

    /// Commits that brought the spare up to date in place instead of copying the table.
    pub fn in_place_commits(&self) -> u64 {
        self.in_place
    }

    /// Replaced versions this writer keeps until no reader holds them.
    pub fn retired_versions(&self) -> usize {
        self.retired.len()
    }

    /// Heap bytes of the RIB plus the current table and the spare.
    pub fn memory_bytes(&self) -> usize {
        self.rib.memory_bytes()
            + self.current.memory_bytes()
            + self.spare.as_ref().map_or(0, |s| s.memory_bytes())
    }
}

/// A FIB published on its own (benchmarks, tests of the FIB alone): an [`IncrementalFib`]
/// whose versions go to [`FibReader`]s through one atomic pointer.
#[derive(Debug)]
pub struct FibWriter<K> {
    inner: IncrementalFib<K>,
    shared: Arc<ArcSwap<Poptrie<K>>>,
    retired: Vec<Arc<Poptrie<K>>>,
}

impl<K: TrieKey> FibWriter<K> {
    /// Bulk-loads `routes` (later duplicates win) and publishes generation 0.
    pub fn new(routes: &[(Prefix<K>, NextHopId)]) -> Self {
        let inner = IncrementalFib::new(routes);
        FibWriter {
            shared: Arc::new(ArcSwap::new(Arc::clone(inner.current()))),
            inner,
            retired: Vec::new(),
        }
    }

    /// A read handle for a worker.
    pub fn reader(&self) -> FibReader<K> {
        FibReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The RIB (the routes as of the last applied change, committed or not).
    pub fn rib(&self) -> &Rib<K> {
        self.inner.rib()
    }

    /// The last published version.
    pub fn current(&self) -> &Arc<Poptrie<K>> {
        self.inner.current()
    }

    /// See [`IncrementalFib::set`].
    pub fn set(&mut self, prefix: Prefix<K>, nh: NextHopId) -> Option<NextHopId> {
        self.inner.set(prefix, nh)
    }

    /// See [`IncrementalFib::delete`].
    pub fn delete(&mut self, prefix: &Prefix<K>) -> Option<NextHopId> {
        self.inner.delete(prefix)
    }

    /// See [`IncrementalFib::apply`].
    pub fn apply(&mut self, changes: &[RouteChange<K>]) {
        self.inner.apply(changes)
    }

    /// True when changes are waiting for [`commit`](Self::commit).
    pub fn has_pending(&self) -> bool {
        self.inner.has_pending()
    }

    /// Publishes all applied changes as one new version and returns its generation (the
    /// current generation if nothing changed). Also frees retired versions no reader holds.
    pub fn commit(&mut self) -> u64 {
        self.retired.retain(|v| Arc::strong_count(v) > 1);
        let old = Arc::clone(self.inner.current());
        if let Some(next) = self.inner.commit() {
            self.shared.store(next);
            // `old` here, the ArcSwap's previous value just dropped: > 1 means a reader. A
            // version kept as the spare is the inner writer's to free.
            if !self.inner.is_spare(&old) && Arc::strong_count(&old) > 1 {
                self.retired.push(old);
            }
        }
        self.inner.generation()
    }

    /// Commits that compacted the table (dropped the garbage of replaced subtrees).
    pub fn compactions(&self) -> u64 {
        self.inner.compactions()
    }

    /// Versions replaced but still held by some reader.
    pub fn retired_versions(&self) -> usize {
        self.retired.len() + self.inner.retired_versions()
    }

    /// See [`IncrementalFib::in_place_commits`].
    pub fn in_place_commits(&self) -> u64 {
        self.inner.in_place_commits()
    }

    /// See [`IncrementalFib::set_spare_min_bytes`].
    pub fn set_spare_min_bytes(&mut self, bytes: usize) {
        self.inner.set_spare_min_bytes(bytes)
    }

    /// Heap bytes of the RIB plus the published table and the spare.
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::simple::ReferenceLpm;
    use crate::fib::Prefix4;

    fn p4(s: &str) -> Prefix4 {
        s.parse().unwrap()
    }

    #[test]
    fn commit_publishes_and_old_snapshot_stays_valid() {
        let mut w = FibWriter::new(&[(p4("10.0.0.0/8"), NextHopId(1))]);
        let r = w.reader();
        let before = r.load();
        w.set(p4("10.1.0.0/16"), NextHopId(2));
        w.set(p4("0.0.0.0/0"), NextHopId(3));
        assert_eq!(w.commit(), 1);
        let a = u32::from_be_bytes([10, 1, 2, 3]);
        assert_eq!(before.lookup(a), Some(NextHopId(1)));
        assert_eq!(r.load().lookup(a), Some(NextHopId(2)));
        assert_eq!(r.load().lookup(0x0808_0808), Some(NextHopId(3)));
        assert_eq!(w.retired_versions(), 1);
        drop(before);
        w.delete(&p4("10.1.0.0/16"));
        assert_eq!(w.commit(), 2);
        assert_eq!(
            w.retired_versions(),
            0,
            "unreferenced versions are freed by the writer"
        );
        assert_eq!(r.load().lookup(a), Some(NextHopId(1)));
        assert_eq!(r.load().generation(), 2);
        assert_eq!(w.commit(), 2, "nothing pending, nothing published");
    }

    #[test]
    fn churn_reuses_blocks_then_growth_compacts() {
        let base = crate::fib::gen::routes_v4(20_000, 21);
        let mut w = FibWriter::new(&base);
        let mut truth: std::collections::HashMap<Prefix4, NextHopId> =
            base.iter().copied().collect();
        let built = w.current().heap_words();
        let check = |w: &FibWriter<u32>, truth: &std::collections::HashMap<Prefix4, NextHopId>| {
            let routes: Vec<_> = truth.iter().map(|(p, nh)| (*p, *nh)).collect();
            let reference = crate::fib::simple::SimpleLpm::build(&routes);
            let t = w.current();
            t.check_layout().unwrap();
            assert!(t.live_heap_words() + t.free_heap_words() <= t.heap_words());
            for a in crate::fib::gen::addrs_in_routes(&routes, 3_000, 8) {
                assert_eq!(t.lookup(a), reference.lookup(a), "address {a:#x}");
            }
        };
        // Changing next hops (and withdrawing and re-adding routes) rewrites the slots'
        // blocks in place or reuses freed ones: the heap stays within a size class of what
        // it was, and nothing needs compacting.
        for round in 1..=30u32 {
            let changes: Vec<_> = base
                .iter()
                .skip((round as usize * 331) % 1000)
                .step_by(7)
                .take(500)
                .enumerate()
                .map(|(i, (p, _))| match (i + round as usize) % 3 {
                    0 => RouteChange::Delete(*p),
                    _ => RouteChange::Set(*p, NextHopId(round)),
                })
                .collect();
            for c in &changes {
                match c {
                    RouteChange::Set(p, nh) => truth.insert(*p, *nh),
                    RouteChange::Delete(p) => truth.remove(p),
                };
            }
            w.apply(&changes);
            w.commit();
            if round.is_multiple_of(10) {
                check(&w, &truth);
            }
        }
        assert_eq!(w.compactions(), 0);
        assert!(
            w.current().heap_words() <= built + built / 4 + 1024,
            "heap grew from {built} to {} words",
            w.current().heap_words()
        );
        // Growing many slots' subtrees moves them to bigger blocks: once the heap has
        // doubled, the commit compacts, and the result stays exact.
        let mut round = 0u32;
        while w.compactions() < 2 {
            round += 1;
            assert!(round < 400, "no compaction after {round} commits");
            let changes: Vec<_> = base
                .iter()
                .skip(round as usize * 17 % 50)
                .step_by(3)
                .take(2000)
                .map(|(p, _)| {
                    let a = p.addr() | (round.wrapping_mul(0x9E37_79B9) >> 24);
                    RouteChange::Set(Prefix4::new_truncating(a, 29).unwrap(), NextHopId(round))
                })
                .collect();
            for c in &changes {
                if let RouteChange::Set(p, nh) = c {
                    truth.insert(*p, *nh);
                }
            }
            w.apply(&changes);
            w.commit();
            let t = w.current();
            assert!(
                t.heap_words() <= 2 * w.inner.compacted_words + 1024 + 4096,
                "garbage is bounded"
            );
            if round.is_multiple_of(5) {
                check(&w, &truth);
            }
        }
        check(&w, &truth);
    }

    #[test]
    fn double_buffering_reuses_the_spare_unless_a_reader_holds_it() {
        let base = crate::fib::gen::routes_v4(20_000, 31);
        let mut w = FibWriter::new(&base);
        assert!(w.current().memory_bytes() >= SPARE_MIN_BYTES);
        let r = w.reader();
        let mut truth: std::collections::HashMap<Prefix4, NextHopId> =
            base.iter().copied().collect();
        let probes = crate::fib::gen::addrs_in_routes(&base, 2000, 9);
        let answers = |truth: &std::collections::HashMap<Prefix4, NextHopId>| {
            let routes: Vec<_> = truth.iter().map(|(p, nh)| (*p, *nh)).collect();
            let reference = crate::fib::simple::SimpleLpm::build(&routes);
            probes
                .iter()
                .map(|a| reference.lookup(*a))
                .collect::<Vec<_>>()
        };
        let round =
            |w: &mut FibWriter<u32>, truth: &mut std::collections::HashMap<_, _>, n: u32| {
                for (k, (p, _)) in base
                    .iter()
                    .skip(n as usize * 13)
                    .step_by(41)
                    .take(300)
                    .enumerate()
                {
                    if k % 5 == 4 {
                        w.delete(p);
                        truth.remove(p);
                    } else {
                        w.set(*p, NextHopId(5000 + n));
                        truth.insert(*p, NextHopId(5000 + n));
                    }
                }
                w.commit();
                let want = answers(truth);
                let cur = w.current();
                for (a, x) in probes.iter().zip(&want) {
                    assert_eq!(cur.lookup(*a), *x, "round {n}, address {a:#x}");
                }
                want
            };
        round(&mut w, &mut truth, 1);
        assert_eq!(w.in_place_commits(), 0, "no spare before the first commit");
        round(&mut w, &mut truth, 2);
        assert_eq!(
            w.in_place_commits(),
            1,
            "generation 0 rewritten into generation 2"
        );
        let held = r.load();
        let held_answers = answers(&truth);
        round(&mut w, &mut truth, 3);
        assert_eq!(w.in_place_commits(), 2);
        round(&mut w, &mut truth, 4);
        assert_eq!(w.in_place_commits(), 2, "the spare is held: copied instead");
        assert_eq!(w.retired_versions(), 1);
        assert_eq!(held.generation(), 2);
        for (a, x) in probes.iter().zip(&held_answers) {
            assert_eq!(held.lookup(*a), *x, "held version, address {a:#x}");
        }
        drop(held);
        round(&mut w, &mut truth, 5);
        assert_eq!(w.retired_versions(), 0, "freed by the writer once let go");
        assert_eq!(w.in_place_commits(), 3);
        assert_eq!(r.load().generation(), 5);
    }

    #[test]
    fn many_small_commits_match_reference() {
        let base = crate::fib::gen::routes_v4(3000, 11);
        let mut w = FibWriter::new(&base);
        let mut truth: std::collections::HashMap<Prefix4, NextHopId> =
            base.iter().copied().collect();
        let extra = crate::fib::gen::routes_v4(6000, 12);
        for (i, (p, nh)) in extra.iter().enumerate() {
            if i % 3 == 2 {
                let victim = base[i % base.len()].0;
                w.delete(&victim);
                truth.remove(&victim);
            } else {
                w.set(*p, *nh);
                truth.insert(*p, *nh);
            }
            if i % 50 == 0 {
                w.commit();
            }
        }
        w.commit();
        let routes: Vec<_> = truth.into_iter().collect();
        let reference = ReferenceLpm::build(&routes);
        let t = w.current();
        assert_eq!(t.len(), routes.len());
        for a in crate::fib::gen::addrs_in_routes(&extra, 3000, 5) {
            assert_eq!(t.lookup(a), reference.lookup(a), "address {a:#x}");
        }
    }
}
