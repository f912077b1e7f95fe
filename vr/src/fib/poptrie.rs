//! A poptrie-style compressed multibit trie: the fast FIB for both address families.
//!
//! Layout (after the idea of Asai & Ohara, "Poptrie", SIGCOMM 2015 — a direct-pointing top
//! array and 64-way nodes whose slots are found with a population count — written from the
//! paper's description, not from its code; the node layout below differs):
//!
//! * a **direct-pointing top array** indexed by the first `s` address bits (`s` is 18 for
//!   large tables, 12 for medium ones and 6 for tiny ones, so a 100-route VR stays a few KiB);
//! * every top entry and every node slot is one `u32` **entry**: either a **leaf** (bit 31
//!   set) that holds the next hop itself, or the offset of a child node. A lookup that ends
//!   in the top array therefore costs one load, and no separate leaf array is read;
//! * **nodes** of stride 6 are variable-length records in one `u32` heap:
//!   `[bitmap low, bitmap high, entry 0, entry 1, ...]`. Bit `i` of the 64-bit bitmap is set
//!   where slot `i` starts a new run (a child, or a leaf different from the slot before), so
//!   slot `v`'s entry is `entry[popcount(bitmap & bits 0..=v) - 1]`. The entries follow the
//!   bitmap, so a step usually touches one cache line (two for nodes with many runs).
//!
//! A leaf's low 31 bits are the next hop when it is below 2^30; the rare larger `NextHopId`s
//! are stored once in a side table and the leaf holds `2^30 + index`. `NO_ROUTE`
//! (`u32::MAX`) is the leaf "no route", which is also why `NextHopId(u32::MAX)` is reserved:
//! a route with that next hop behaves as if it were absent.
//!
//! Key bits past the end of the address read as zero, so the last stride of IPv4 (bits
//! 30..32) and of IPv6 (bits 126..128) just uses 2 real bits; the padded slots form one run
//! each and cost nothing after compression.
//!
//! A full IPv4 table (≈ 900k routes) compiles to ≈ 5.3 MiB (1 MiB top array, 4.3 MiB
//! heap); a /19–/24 lookup reads the top array and one node (2–3 dependent loads, usually 2
//! cache lines). [`Poptrie::lookup_bulk`] walks a burst of 64 level by level, so the loads of
//! different packets overlap.
//!
//! Measured and not adopted: a 16-bit top array (256 KiB, L2-resident) with 8-bit nodes
//! (256-bit bitmaps) — 6 % smaller but ≈ 20 % slower, because a /16's node holds many runs
//! and its header and the wanted entry are then always in different cache lines; and the
//! earlier layout with children and leaves in two separate arrays (one more dependent miss
//! per lookup).
//!
//! The trie is compiled from a [`Rib`] — a binary trie of the routes up to /18 plus one
//! sorted list per 18-bit slot of the longer ones — that also serves incremental updates
//! ([`crate::fib::update`]): a node is compiled by painting its routes into its 64 slots.
//! Every top slot's subtree is contiguous in the heap, which lets a writer that updates a
//! table in place keep each one in a block it can rewrite or move (see `Blocks`).

use std::marker::PhantomData;

use hashbrown::HashMap;

use crate::fib::prefix::{Addr, Prefix};
use crate::fib::Lpm;
use crate::ids::NextHopId;

/// Leaf value meaning "no route"; also the reserved `NextHopId`.
pub const NO_ROUTE: u32 = u32::MAX;
/// Entry flag: the entry is a leaf, not a node offset.
const LEAF_FLAG: u32 = 1 << 31;
/// Leaf payloads from here on index the side table of large next hops.
const INLINE_LIMIT: u32 = 1 << 30;
/// Stride of the nodes below the top array.
const STRIDE: u32 = 6;
/// Null child in the [`Rib`].
const NIL: u32 = u32::MAX;

/// Address types the poptrie can index (`u32`, `u128`).
pub trait TrieKey: Addr {
    /// `width` (1..=18) key bits starting `off` bits from the top, as an integer; bits past
    /// the end of the address read as zero. `off` is less than the address width.
    fn bits_at(self, off: u32, width: u32) -> usize;
    /// The bit at depth `d` (0 = most significant).
    fn bit(self, d: u32) -> usize;
    /// This address with the bit at depth `d` set.
    fn with_bit(self, d: u32) -> Self;
    /// The address whose first `width` (0..=18) bits are `bits` and the rest zero.
    fn from_top(bits: usize, width: u32) -> Self;
}

impl TrieKey for u32 {
    #[inline(always)]
    fn bits_at(self, off: u32, width: u32) -> usize {
        ((self << off) >> (32 - width)) as usize
    }
    #[inline(always)]
    fn bit(self, d: u32) -> usize {
        ((self >> (31 - d)) & 1) as usize
    }
    #[inline(always)]
    fn with_bit(self, d: u32) -> Self {
        self | (1 << (31 - d))
    }
    #[inline(always)]
    fn from_top(bits: usize, width: u32) -> Self {
        (bits as u32).checked_shl(32 - width).unwrap_or(0)
    }
}

impl TrieKey for u128 {
    #[inline(always)]
    fn bits_at(self, off: u32, width: u32) -> usize {
        ((self << off) >> (128 - width)) as usize
    }
    #[inline(always)]
    fn bit(self, d: u32) -> usize {
        ((self >> (127 - d)) & 1) as usize
    }
    #[inline(always)]
    fn with_bit(self, d: u32) -> Self {
        self | (1 << (127 - d))
    }
    #[inline(always)]
    fn from_top(bits: usize, width: u32) -> Self {
        (bits as u128).checked_shl(128 - width).unwrap_or(0)
    }
}

#[inline(always)]
fn decode(leaf: u32) -> Option<NextHopId> {
    if leaf == NO_ROUTE {
        None
    } else {
        Some(NextHopId(leaf))
    }
}

/// Bits `0..=v` set.
#[inline(always)]
fn upto(v: usize) -> u64 {
    u64::MAX >> (63 - v)
}

/// A dirty top slot with at least this many routes reuses the unchanged parts of its old
/// subtree (see [`paint_node`]); smaller ones are painted whole, which is as cheap.
const REUSE_MIN_ROUTES: usize = 256;

/// Depth at which the [`Rib`] splits: routes up to this length live in its binary trie,
/// longer ones in sorted per-slot lists keyed by their first `SPLIT` bits. Equal to the
/// widest top array, so a top slot of a large table is exactly one list.
pub(crate) const SPLIT: u32 = 18;

/// The 18-bit slots covered by a prefix of length `len` ≤ [`SPLIT`]: first and count.
#[inline]
fn slot_range<K: TrieKey>(addr: K, len: u32) -> (usize, usize) {
    (addr.bits_at(0, SPLIT), 1usize << (SPLIT - len))
}

/// One route of a [`Rib`] slot list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route<K> {
    pub(crate) prefix: Prefix<K>,
    pub(crate) nh: u32,
}

/// The control-plane side, from which the poptrie is compiled and which serves incremental
/// updates ([`crate::fib::update`]).
///
/// Two parts, split at depth [`SPLIT`] (18 bits, the widest top array):
/// * routes of length ≤ 18 in a binary trie (one `[child 0, child 1, next hop]` node per
///   prefix bit, at most 18 deep). A node at depth 18 uses its child-0 word for the id of
///   the slot list below it (the trie never goes deeper), so the trie also records which
///   slots hold longer routes;
/// * routes longer than 18 bits in one **slot list** per 18-bit slot: a vector sorted by
///   prefix (address, then length — which is also the order in which nested prefixes must
///   be painted), found through a hash map from the slot number (large RIBs: a direct
///   2^18-entry index, see `index_slots`).
///
/// A change to a /19–/32 costs one hash probe and a binary search in a short contiguous list
/// (where the old all-binary trie walked ~24 dependent, mostly cache-missing nodes), and a
/// top slot of a large table is recompiled from its list alone.
#[derive(Clone, Debug)]
pub struct Rib<K> {
    /// `[child0, child1, next hop]`; node 0 is the root (`/0`). At depth [`SPLIT`],
    /// `child0` is the slot list id (or `NIL`) and `child1` is `NIL`.
    nodes: Vec<[u32; 3]>,
    free: Vec<u32>,
    /// Slot lists, indexed by id; an empty list is free (its id is in `free_lists`).
    lists: Vec<Vec<Route<K>>>,
    free_lists: Vec<u32>,
    /// Slot number (first [`SPLIT`] address bits) → list id (RIBs without `index`).
    by_slot: HashMap<u32, u32>,
    /// Large RIBs (see [`index_slots`](Self::index_slots)): per 18-bit slot, its list id
    /// and the next hop of the longest route of length ≤ [`SPLIT`] covering it, so that a
    /// change finds its list and a commit a slot's inherited next hop with one load (no
    /// hash probe, no trie walk); `best_len` is that route's length + 1 (0: none).
    index: Vec<SlotIndex>,
    best_len: Vec<u8>,
    routes: usize,
}

impl<K: TrieKey> Default for Rib<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: TrieKey> Rib<K> {
    /// An empty RIB.
    pub fn new() -> Self {
        Rib {
            nodes: vec![[NIL, NIL, NO_ROUTE]],
            free: Vec::new(),
            lists: Vec::new(),
            free_lists: Vec::new(),
            by_slot: HashMap::new(),
            index: Vec::new(),
            best_len: Vec::new(),
            routes: 0,
        }
    }

    /// Builds a RIB from a route list; later duplicates win. The routes are inserted in
    /// address order (a stable sort, so duplicates keep their order): trie nodes are laid
    /// out depth-first and every slot list is appended to in order.
    pub fn from_routes(routes: &[(Prefix<K>, NextHopId)]) -> Self {
        let mut sorted = routes.to_vec();
        sorted.sort_by_key(|(p, _)| *p);
        let mut rib = Self::new();
        for (p, nh) in &sorted {
            rib.insert(*p, *nh);
        }
        rib
    }

    fn alloc(&mut self) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = [NIL, NIL, NO_ROUTE];
                i
            }
            None => {
                self.nodes.push([NIL, NIL, NO_ROUTE]);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// The trie node for the first `len` (≤ [`SPLIT`]) bits of `addr`, created if absent.
    fn node_for(&mut self, addr: K, len: u32) -> u32 {
        let mut n = 0u32;
        for d in 0..len {
            let b = addr.bit(d);
            let c = self.nodes[n as usize][b];
            n = if c == NIL {
                let c = self.alloc();
                self.nodes[n as usize][b] = c;
                c
            } else {
                c
            };
        }
        n
    }

    /// Adds or replaces a route; returns the previous next hop of that prefix. A next hop of
    /// `NextHopId(u32::MAX)` (the reserved sentinel) removes the route instead.
    pub fn insert(&mut self, prefix: Prefix<K>, nh: NextHopId) -> Option<NextHopId> {
        if nh.0 == NO_ROUTE {
            return self.remove(&prefix);
        }
        let len = u32::from(prefix.len());
        let old = if len <= SPLIT {
            let n = self.node_for(prefix.addr(), len);
            if !self.index.is_empty() {
                let (first, span) = slot_range(prefix.addr(), len);
                for x in first..first + span {
                    if self.best_len[x] <= len as u8 + 1 {
                        self.best_len[x] = len as u8 + 1;
                        self.index[x].best = nh.0;
                    }
                }
            }
            std::mem::replace(&mut self.nodes[n as usize][2], nh.0)
        } else {
            let slot = prefix.addr().bits_at(0, SPLIT) as u32;
            let id = match self.list_id(slot) {
                Some(id) => id,
                None => self.new_list(prefix.addr(), slot),
            };
            let list = &mut self.lists[id as usize];
            match list.binary_search_by(|r| r.prefix.cmp(&prefix)) {
                Ok(i) => std::mem::replace(&mut list[i].nh, nh.0),
                Err(i) => {
                    list.insert(i, Route { prefix, nh: nh.0 });
                    NO_ROUTE
                }
            }
        };
        if old == NO_ROUTE {
            self.routes += 1;
        }
        decode(old)
    }

    /// A new (empty) list for `slot`, recorded in the map and in the trie.
    fn new_list(&mut self, addr: K, slot: u32) -> u32 {
        let id = match self.free_lists.pop() {
            Some(id) => id,
            None => {
                self.lists.push(Vec::new());
                (self.lists.len() - 1) as u32
            }
        };
        self.set_list_id(slot, id);
        let n = self.node_for(addr, SPLIT);
        self.nodes[n as usize][0] = id;
        id
    }

    /// Removes a route; returns its next hop if it was present. Empty lists and branches
    /// are freed.
    pub fn remove(&mut self, prefix: &Prefix<K>) -> Option<NextHopId> {
        let len = u32::from(prefix.len());
        if len <= SPLIT {
            let old = self.clear_in_trie(prefix.addr(), len, false);
            if old != NO_ROUTE {
                self.routes -= 1;
                if !self.index.is_empty() {
                    let (first, span) = slot_range(prefix.addr(), len);
                    for x in first..first + span {
                        if self.best_len[x] == len as u8 + 1 {
                            (self.index[x].best, self.best_len[x]) = self.best_short(x);
                        }
                    }
                }
            }
            return decode(old);
        }
        let slot = prefix.addr().bits_at(0, SPLIT) as u32;
        let id = self.list_id(slot)?;
        let list = &mut self.lists[id as usize];
        let i = list.binary_search_by(|r| r.prefix.cmp(prefix)).ok()?;
        let old = list.remove(i).nh;
        self.routes -= 1;
        if list.is_empty() {
            self.set_list_id(slot, NIL);
            self.free_lists.push(id);
            self.clear_in_trie(prefix.addr(), SPLIT, true);
        }
        decode(old)
    }

    /// Clears the next hop of trie node `addr/len` (or, with `list`, the slot list id of the
    /// depth-[`SPLIT`] node) and prunes the branches left empty; returns the old value.
    fn clear_in_trie(&mut self, addr: K, len: u32, list: bool) -> u32 {
        let mut path: [u32; SPLIT as usize + 1] = [0; SPLIT as usize + 1];
        let mut n = 0u32;
        for d in 0..len {
            path[d as usize] = n;
            n = self.nodes[n as usize][addr.bit(d)];
            if n == NIL {
                return NO_ROUTE;
            }
        }
        let old = std::mem::replace(&mut self.nodes[n as usize][if list { 0 } else { 2 }], NIL);
        if !list && old == NO_ROUTE {
            return NO_ROUTE;
        }
        // Prune: walk back up while the node is empty (`NIL` == `NO_ROUTE`).
        let mut d = len;
        while d > 0 {
            let node = self.nodes[n as usize];
            if node[0] != NIL || node[1] != NIL || node[2] != NO_ROUTE {
                break;
            }
            d -= 1;
            let parent = path[d as usize];
            self.nodes[parent as usize][addr.bit(d)] = NIL;
            self.free.push(n);
            n = parent;
        }
        old
    }

    /// The next hop of exactly this prefix.
    pub fn get(&self, prefix: &Prefix<K>) -> Option<NextHopId> {
        let len = u32::from(prefix.len());
        if len > SPLIT {
            let id = self.list_id(prefix.addr().bits_at(0, SPLIT) as u32)?;
            let list = &self.lists[id as usize];
            let i = list.binary_search_by(|r| r.prefix.cmp(prefix)).ok()?;
            return decode(list[i].nh);
        }
        let addr = prefix.addr();
        let mut n = 0u32;
        for d in 0..len {
            n = self.nodes[n as usize][addr.bit(d)];
            if n == NIL {
                return None;
            }
        }
        decode(self.nodes[n as usize][2])
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes
    }

    /// True when the RIB holds no route.
    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }

    /// Heap bytes held (the hash map's control bytes not counted).
    pub fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<[u32; 3]>()
            + self.free.capacity() * 4
            + self.free_lists.capacity() * 4
            + self.lists.capacity() * std::mem::size_of::<Vec<Route<K>>>()
            + self
                .lists
                .iter()
                .map(|l| l.capacity() * std::mem::size_of::<Route<K>>())
                .sum::<usize>()
            + self.by_slot.capacity() * 8
            + self.index.capacity() * std::mem::size_of::<SlotIndex>()
            + self.best_len.capacity()
    }

    /// True when trie node `n` has something below it: children, or (at depth [`SPLIT`])
    /// a slot list.
    #[inline]
    fn has_children(&self, n: u32) -> bool {
        let node = &self.nodes[n as usize];
        node[0] != NIL || node[1] != NIL
    }

    /// The routes strictly below trie node `n`, which sits at depth `d` on address `addr`
    /// (bits below `d` clear), in prefix order: its trie descendants and slot lists.
    pub(crate) fn collect_below(&self, n: u32, d: u32, addr: K, out: &mut Vec<Route<K>>) {
        if d == SPLIT {
            let id = self.nodes[n as usize][0];
            if id != NIL {
                out.extend_from_slice(&self.lists[id as usize]);
            }
            return;
        }
        let node = self.nodes[n as usize];
        for (b, &c) in node[..2].iter().enumerate() {
            if c == NIL {
                continue;
            }
            let a = if b == 0 { addr } else { addr.with_bit(d) };
            let nh = self.nodes[c as usize][2];
            if nh != NO_ROUTE {
                out.push(Route {
                    prefix: Prefix::clamped(a, (d + 1) as u8),
                    nh,
                });
            }
            self.collect_below(c, d + 1, a, out);
        }
    }

    /// Keeps the per-slot index from now on (2^18 entries, 2.25 MiB: for RIBs compiled with
    /// an 18-bit top array, whose changes and commits then find a slot's list and inherited
    /// next hop with one load instead of a hash probe and a walk of the trie).
    pub(crate) fn index_slots(&mut self) {
        if !self.index.is_empty() {
            return;
        }
        self.index = vec![
            SlotIndex {
                best: NO_ROUTE,
                list: NIL
            };
            1 << SPLIT
        ];
        self.best_len = vec![0; 1 << SPLIT];
        self.paint_best(0, 0, 0);
        for (slot, id) in std::mem::take(&mut self.by_slot) {
            self.index[slot as usize].list = id;
        }
    }

    /// The list id of 18-bit slot `slot`.
    #[inline]
    fn list_id(&self, slot: u32) -> Option<u32> {
        if self.index.is_empty() {
            self.by_slot.get(&slot).copied()
        } else {
            Some(self.index[slot as usize].list).filter(|&id| id != NIL)
        }
    }

    /// Records `id` (`NIL`: none) as the list id of 18-bit slot `slot`.
    fn set_list_id(&mut self, slot: u32, id: u32) {
        if !self.index.is_empty() {
            self.index[slot as usize].list = id;
        } else if id == NIL {
            self.by_slot.remove(&slot);
        } else {
            self.by_slot.insert(slot, id);
        }
    }

    /// Loads the lists of the 18-bit slots `slots` (at most 64) into the cache ahead of
    /// their use: all index entries first, then all list headers, then every cache line of
    /// every list. The loads of one pass are independent, so their misses overlap, where
    /// using each list right after finding it waits for one miss after another. Returns a
    /// value derived from the loads (for `black_box`, so they are not optimised away).
    pub(crate) fn warm_lists(&self, slots: &[u32]) -> u32 {
        let n = slots.len().min(64);
        let mut ids = [NIL; 64];
        for (id, &x) in ids.iter_mut().zip(&slots[..n]) {
            *id = self.list_id(x).unwrap_or(NIL);
        }
        let mut acc = 0u32;
        for &id in &ids[..n] {
            if id != NIL {
                acc ^= self.lists[id as usize].len() as u32;
            }
        }
        for &id in &ids[..n] {
            if id != NIL {
                acc ^= touch_lines(&self.lists[id as usize]);
            }
        }
        acc
    }

    /// Paints the routes of the trie below node `n` (depth `d`, first slot `x`) into the
    /// per-slot best arrays; parents paint before their children, so the longest wins.
    fn paint_best(&mut self, n: u32, d: u32, x: usize) {
        let node = self.nodes[n as usize];
        if node[2] != NO_ROUTE {
            let span = 1usize << (SPLIT - d);
            for e in &mut self.index[x..x + span] {
                e.best = node[2];
            }
            self.best_len[x..x + span].fill(d as u8 + 1);
        }
        if d == SPLIT {
            return;
        }
        for (b, &c) in node[..2].iter().enumerate() {
            if c != NIL {
                self.paint_best(c, d + 1, x + (b << (SPLIT - d - 1)));
            }
        }
    }

    /// The longest route of length ≤ [`SPLIT`] covering 18-bit slot `x`: (next hop,
    /// length + 1), or (`NO_ROUTE`, 0).
    fn best_short(&self, x: usize) -> (u32, u8) {
        let mut found = (NO_ROUTE, 0u8);
        let mut n = 0u32;
        for d in 0..=SPLIT {
            let node = self.nodes[n as usize];
            if node[2] != NO_ROUTE {
                found = (node[2], d as u8 + 1);
            }
            if d == SPLIT {
                break;
            }
            n = node[(x >> (SPLIT - 1 - d)) & 1];
            if n == NIL {
                break;
            }
        }
        found
    }

    /// The routes below top slot `x` of an `s`-bit top array holding `slot`, in prefix
    /// order: a slot list itself when `s` is [`SPLIT`], else gathered into `scratch`.
    fn routes_of_top_slot<'a>(
        &'a self,
        x: usize,
        slot: Slot,
        s: u32,
        scratch: &'a mut Vec<Route<K>>,
    ) -> &'a [Route<K>] {
        match slot {
            Slot::Leaf(_) => &[],
            Slot::List(id, _) => &self.lists[id as usize],
            Slot::Child(n, _) if s == SPLIT => self.slot_list(n),
            Slot::Child(n, _) => {
                scratch.clear();
                self.collect_below(n, s, K::from_top(x, s), scratch);
                scratch
            }
        }
    }

    /// The slot list below the depth-[`SPLIT`] trie node `n` (empty if none).
    #[inline]
    pub(crate) fn slot_list(&self, n: u32) -> &[Route<K>] {
        match self.nodes[n as usize][0] {
            NIL => &[],
            id => &self.lists[id as usize],
        }
    }

    /// What top slot `slot` of a `s`-bit top array holds (the one-slot reference for
    /// [`top_slots`](Self::top_slots)): the RIB node at depth `s` and the
    /// next hop inherited from shorter prefixes, or just a leaf.
    #[cfg(test)]
    fn top_slot(&self, slot: usize, s: u32) -> Slot {
        let mut n = 0u32;
        let mut inherited = NO_ROUTE;
        for d in 0..s {
            let nh = self.nodes[n as usize][2];
            if nh != NO_ROUTE {
                inherited = nh;
            }
            n = self.nodes[n as usize][(slot >> (s - 1 - d)) & 1];
            if n == NIL {
                return Slot::Leaf(inherited);
            }
        }
        self.boundary(n, inherited)
    }

    /// Calls `f(slot, what it holds)` for every slot in `slots` (sorted, without duplicates)
    /// of an `s`-bit (`s` ≤ [`SPLIT`]) top array, like [`top_slot`](Self::top_slot) for each
    /// but in one depth-first walk, so slots that share a path from the root share its
    /// (cache-missing) loads.
    fn top_slots(&self, slots: &[u32], s: u32, f: &mut dyn FnMut(u32, Slot)) {
        if s == SPLIT && !self.index.is_empty() {
            // Indexed: no walk. Per 64 slots, the index entries are loaded first and the
            // lists warmed (see `warm_lists`), so their misses overlap.
            for chunk in slots.chunks(64) {
                let mut e = [SlotIndex {
                    best: NO_ROUTE,
                    list: NIL,
                }; 64];
                for (e, &x) in e.iter_mut().zip(chunk) {
                    *e = self.index[x as usize];
                }
                let mut acc = 0u32;
                for e in &e[..chunk.len()] {
                    if e.list != NIL {
                        acc ^= self.lists[e.list as usize].len() as u32;
                    }
                }
                for e in &e[..chunk.len()] {
                    if e.list != NIL {
                        acc ^= touch_lines(&self.lists[e.list as usize]);
                    }
                }
                std::hint::black_box(acc);
                for (e, &x) in e.iter().zip(chunk) {
                    f(
                        x,
                        if e.list != NIL {
                            Slot::List(e.list, e.best)
                        } else {
                            Slot::Leaf(e.best)
                        },
                    );
                }
            }
            return;
        }
        self.top_walk(0, 0, NO_ROUTE, s, slots, f);
    }

    fn top_walk(
        &self,
        n: u32,
        d: u32,
        inherited: u32,
        s: u32,
        slots: &[u32],
        f: &mut dyn FnMut(u32, Slot),
    ) {
        if slots.is_empty() {
            return;
        }
        if n == NIL {
            for &x in slots {
                f(x, Slot::Leaf(inherited));
            }
            return;
        }
        if d == s {
            // All of `slots` share the `s` bits that led here: there is exactly one.
            f(slots[0], self.boundary(n, inherited));
            return;
        }
        let node = self.nodes[n as usize];
        let val = if node[2] != NO_ROUTE {
            node[2]
        } else {
            inherited
        };
        let split = slots.partition_point(|&x| (x >> (s - 1 - d)) & 1 == 0);
        self.top_walk(node[0], d + 1, val, s, &slots[..split], f);
        self.top_walk(node[1], d + 1, val, s, &slots[split..], f);
    }

    #[inline]
    fn boundary(&self, n: u32, inherited: u32) -> Slot {
        let nh = self.nodes[n as usize][2];
        let val = if nh != NO_ROUTE { nh } else { inherited };
        if self.has_children(n) {
            Slot::Child(n, val)
        } else {
            Slot::Leaf(val)
        }
    }

    /// Expands the trie below the root into the `2^width` (`width` ≤ [`SPLIT`]) slots of a
    /// top array.
    fn expand(&self, n: u32, k: u32, width: u32, slot: usize, inherited: u32, out: &mut [Slot]) {
        if n == NIL {
            out[slot..slot + (1usize << (width - k))].fill(Slot::Leaf(inherited));
            return;
        }
        if k == width {
            out[slot] = self.boundary(n, inherited);
            return;
        }
        let node = self.nodes[n as usize];
        let val = if node[2] != NO_ROUTE {
            node[2]
        } else {
            inherited
        };
        let half = 1usize << (width - k - 1);
        self.expand(node[0], k + 1, width, slot, val, out);
        self.expand(node[1], k + 1, width, slot + half, val, out);
    }
}

/// One expanded slot while compiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Leaf(u32),
    /// RIB node at the stride boundary with descendants, and the next hop it passes down.
    Child(u32, u32),
    /// An 18-bit slot of an indexed RIB: its list id, and the next hop it passes down.
    List(u32, u32),
}

/// Per 18-bit slot of an indexed [`Rib`]: the inherited next hop and the list id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotIndex {
    /// Next hop of the longest route of length ≤ [`SPLIT`] covering the slot.
    best: u32,
    /// The slot's list id, or `NIL`.
    list: u32,
}

/// Reads a word of every cache line of a slot list (see [`Rib::warm_lists`]) of up to
/// 2 KiB. Longer lists (IPv6 slots hold thousands of routes) are left alone: touching them
/// costs as much as reading them, a binary search reads a few of their lines, and painting
/// reads them in order, which the hardware prefetcher follows.
#[inline]
fn touch_lines<K>(list: &[Route<K>]) -> u32 {
    if std::mem::size_of_val(list) > 2048 {
        return 0;
    }
    let step = (64 / std::mem::size_of::<Route<K>>()).max(1);
    let mut acc = list.last().map_or(0, |r| r.nh);
    for r in list.iter().step_by(step) {
        acc ^= r.nh;
    }
    acc
}

/// Compiled poptrie for addresses of type `K` (see the module documentation).
#[derive(Clone, Debug)]
pub struct Poptrie<K> {
    top_bits: u32,
    /// Entries indexed by the first `top_bits` address bits.
    top: Vec<u32>,
    /// Node records `[bitmap low, bitmap high, entries...]`, addressed by offset.
    heap: Vec<u32>,
    /// Next hops ≥ 2^30 (rare), referenced by leaves `2^30 + index`.
    large: Vec<u32>,
    /// Node records written into `heap` since it was built or compacted (including those
    /// of replaced subtrees).
    nodes: usize,
    routes: usize,
    generation: u64,
    /// The writer's block bookkeeping (tables that are updated in place only; readers never
    /// look at it).
    blocks: Option<Box<Blocks>>,
    _k: PhantomData<K>,
}

/// Where the subtrees of an incrementally updated table live in its heap. Every top slot's
/// subtree is one contiguous **block** (compiling and copying write a subtree depth-first in
/// one piece). A recompiled slot is written back into its own block when it fits, else
/// into a free block of its size class or at the end of the heap, and its old block is
/// freed for reuse — so a stream of updates reuses the heap instead of growing it.
#[derive(Clone, Debug, Default)]
struct Blocks {
    /// Per top slot: capacity in words of the block holding its subtree (0: the slot is a
    /// leaf and owns no block).
    cap: Vec<u32>,
    /// Offsets of free blocks, per size class ([`class_size`]): a block in list `c` has at
    /// least `class_size(c)` words.
    free: Vec<Vec<u32>>,
    /// Words in free blocks.
    free_words: usize,
}

impl Blocks {
    /// Frees the block at offset `o` of `cap` words for reuse (a block smaller than the
    /// smallest size class stays behind as garbage).
    fn release(&mut self, o: u32, cap: usize) {
        if cap < 4 {
            return;
        }
        let c = class_floor(cap);
        if self.free.len() <= c {
            self.free.resize_with(c + 1, Vec::new);
        }
        self.free[c].push(o);
        self.free_words += class_size(c);
    }

    fn memory_bytes(&self) -> usize {
        self.cap.capacity() * 4
            + self.free.capacity() * std::mem::size_of::<Vec<u32>>()
            + self.free.iter().map(|l| l.capacity() * 4).sum::<usize>()
    }
}

/// Capacity in words of block size class `c`: four classes per doubling from 4 words (4, 5,
/// 6, 7, 8, 10, 12, 14, 16, 20, ...), so a block wastes less than a quarter of itself.
#[inline]
fn class_size(c: usize) -> usize {
    let b = c / 4 + 2;
    (1 << b) + ((c % 4) << (b - 2))
}

/// The smallest size class holding `n` words.
#[inline]
fn class_ceil(n: usize) -> usize {
    if n <= 4 {
        return 0;
    }
    let b = (usize::BITS - 1 - n.leading_zeros()) as usize;
    let q = (n - (1 << b)).div_ceil(1 << (b - 2));
    4 * (b - 2) + q
}

/// The largest size class that fits in `cap` (≥ 4) words.
#[inline]
fn class_floor(cap: usize) -> usize {
    let b = (usize::BITS - 1 - cap.leading_zeros()) as usize;
    4 * (b - 2) + ((cap - (1 << b)) >> (b - 2))
}

/// Subtrees compiled ("painted") from the RIB for a set of top slots, not yet in any table.
/// A commit paints its dirty slots once and writes them into the table it publishes; the
/// double-buffering writer keeps them to bring the spare (which lags exactly on those slots)
/// up to date at the next commit, with a copy instead of a second compilation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Painted {
    /// Node records of all painted subtrees, each contiguous; child entries are offsets in
    /// this buffer (relocated when a subtree is written into a table).
    words: Vec<u32>,
    /// Leaves of next hops ≥ 2^30: (offset in `words`, next hop), resolved against the side
    /// table of the table written into.
    large: Vec<(u32, u32)>,
    /// The painted top slots, in slot order.
    slots: Vec<PaintedSlot>,
}

#[derive(Clone, Copy, Debug)]
struct PaintedSlot {
    slot: u32,
    /// The subtree is `words[start..start + len]`; `len` 0: the slot is the leaf `value`
    /// (a RIB next hop).
    start: u32,
    len: u32,
    value: u32,
    /// Node records of the subtree.
    nodes: u32,
    /// The slot's entries of `large` end here (they start where the previous slot's end).
    large_end: u32,
}

impl Painted {
    /// Forgets everything painted.
    pub(crate) fn clear(&mut self) {
        self.words.clear();
        self.large.clear();
        self.slots.clear();
    }

    /// True when no slot is painted.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of painted slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Words of the painted subtrees.
    pub(crate) fn words(&self) -> usize {
        self.words.len()
    }
}

/// A leaf entry while painting: next hops below 2^30 (and "no route") are encoded in the
/// entry; larger ones get a placeholder leaf and are recorded in `large` to be resolved
/// against the side table of the table the node ends up in.
#[inline]
fn paint_leaf(v: u32, at: usize, large: &mut Vec<(u32, u32)>) -> u32 {
    if v < INLINE_LIMIT || v == NO_ROUTE {
        v | LEAF_FLAG
    } else {
        large.push((at as u32, v));
        NO_ROUTE
    }
}

/// Compiles `routes` (non-empty, in prefix order, all inside one node's range at depth `off`
/// and longer than `off`) into a node and its children at the end of `words`; returns the
/// node's offset and counts the node records in `nodes`. Each route paints the slots it
/// covers (in prefix order a route comes before the routes nested in it, so the longest
/// match is painted last); routes longer than the node's stride are grouped by slot
/// (contiguous in prefix order) into child nodes, which inherit the slot's painted value.
/// A node and all its descendants end up contiguous.
///
/// With `reuse` (the same node in the table before this commit and the commit's changed
/// prefixes inside the node, sorted), a child whose range no change touches — no changed
/// route inside it, none covering it — is copied from the old table instead of painted:
/// its routes and the value it inherits are the same, so is its subtree.
fn paint_node<K: TrieKey>(
    words: &mut Vec<u32>,
    large: &mut Vec<(u32, u32)>,
    nodes: &mut usize,
    routes: &[Route<K>],
    off: u32,
    inherited: u32,
    reuse: Option<Reuse<'_, K>>,
) -> u32 {
    let end = off + STRIDE;
    let mut val = [inherited; 64];
    let mut children = 0u64;
    let mut first = [0u32; 64];
    let mut last = [0u32; 64];
    for (i, r) in routes.iter().enumerate() {
        let v = r.prefix.addr().bits_at(off, STRIDE);
        let len = u32::from(r.prefix.len());
        if len <= end {
            // Past the end of the address the key bits read as zero: a /32 at the
            // last stride of IPv4 covers its 2^4 padded slots.
            let span = 1usize << (end - len);
            val[v..v + span].fill(r.nh);
        } else {
            if children & (1 << v) == 0 {
                children |= 1 << v;
                first[v] = i as u32;
            }
            last[v] = i as u32 + 1;
        }
    }
    // A run starts at slot 0, at every child, after every child, and where the value
    // changes (the same layout as a compile of the same routes from scratch).
    let mut bitmap = 1u64 | children | (children << 1);
    for i in 1..64 {
        if val[i] != val[i - 1] {
            bitmap |= 1 << i;
        }
    }
    // With `reuse`: the children a change touches (`touched`), and per child the changes
    // inside it (`cfirst..clast`, contiguous in prefix order).
    let mut touched = 0u64;
    let mut cfirst = [0u32; 64];
    let mut clast = [0u32; 64];
    if let Some(r) = &reuse {
        for (i, c) in r.changes.iter().enumerate() {
            let v = c.addr().bits_at(off, STRIDE);
            let len = u32::from(c.len());
            if len <= end {
                let span = 1u32 << (end - len);
                touched |= (u64::MAX >> (64 - span)) << v;
            } else {
                if clast[v] == 0 {
                    cfirst[v] = i as u32;
                }
                clast[v] = i as u32 + 1;
            }
        }
    }
    let o = words.len();
    words.push(bitmap as u32);
    words.push((bitmap >> 32) as u32);
    words.resize(o + 2 + bitmap.count_ones() as usize, NO_ROUTE);
    *nodes += 1;
    let mut j = o + 2;
    let mut rest = bitmap;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        words[j] = if children & (1 << i) != 0 {
            let group = &routes[first[i] as usize..last[i] as usize];
            // The old node's entry for this slot, when a change inside the child (and none
            // covering it) leaves parts of the old child to reuse, or none at all.
            let old = reuse
                .as_ref()
                .filter(|_| touched & (1 << i) == 0)
                .map(|r| (r, r.old.step(r.node as u32, i)))
                .filter(|(_, e)| e & LEAF_FLAG == 0);
            match old {
                Some((r, e)) if clast[i] == 0 => copy_subtree(words, large, nodes, r.old, e),
                Some((r, e)) => {
                    let inner = Reuse {
                        old: r.old,
                        node: e as usize,
                        changes: &r.changes[cfirst[i] as usize..clast[i] as usize],
                    };
                    paint_node(words, large, nodes, group, end, val[i], Some(inner))
                }
                None => paint_node(words, large, nodes, group, end, val[i], None),
            }
        } else {
            paint_leaf(val[i], j, large)
        };
        j += 1;
    }
    o as u32
}

/// The table before a commit, the commit's changed prefixes longer than the top array's
/// width (sorted) and the top slots shorter changed prefixes cover (sorted): what
/// [`Poptrie::paint_slots`] needs to reuse unchanged subtrees.
pub(crate) type OldTable<'a, K> = (&'a Poptrie<K>, &'a [Prefix<K>], &'a [u32]);

/// What [`paint_node`] may reuse: the node covering the same range in the table before the
/// commit, and the commit's changed prefixes inside that range (sorted).
struct Reuse<'a, K> {
    old: &'a Poptrie<K>,
    node: usize,
    changes: &'a [Prefix<K>],
}

/// Appends a copy of `old`'s subtree at node offset `o` to `words` (as [`paint_node`] would
/// have painted it: depth-first, child offsets into `words`, large next hops recorded in
/// `large`); returns its offset.
fn copy_subtree<K: TrieKey>(
    words: &mut Vec<u32>,
    large: &mut Vec<(u32, u32)>,
    nodes: &mut usize,
    old: &Poptrie<K>,
    o: u32,
) -> u32 {
    let o = o as usize;
    let k = old.bitmap(o).count_ones() as usize;
    let at = words.len();
    words.extend_from_slice(&old.heap[o..o + 2 + k]);
    *nodes += 1;
    for j in 0..k {
        let e = old.heap[o + 2 + j];
        let p = e & !LEAF_FLAG;
        if e & LEAF_FLAG == 0 {
            let c = copy_subtree(words, large, nodes, old, e);
            words[at + 2 + j] = c;
        } else if p >= INLINE_LIMIT && e != NO_ROUTE {
            let v = old.large.get((p - INLINE_LIMIT) as usize).copied();
            words[at + 2 + j] = paint_leaf(v.unwrap_or(NO_ROUTE), at + 2 + j, large);
        }
    }
    at as u32
}

/// The IPv4 poptrie.
pub type Trie4 = Poptrie<u32>;
/// The IPv6 poptrie.
pub type Trie6 = Poptrie<u128>;

/// Top-array width for a table of `routes` routes: small tables get a small top array so a
/// tiny VR costs a few KiB, large ones a 2^18-entry (1 MiB) array that resolves most
/// addresses in one or two loads.
pub fn top_bits_for(routes: usize) -> u32 {
    if routes <= 256 {
        6
    } else if routes <= 16_384 {
        12
    } else {
        18
    }
}

impl<K: TrieKey> Poptrie<K> {
    /// Compiles the whole RIB, choosing the top-array width from its size.
    pub fn from_rib(rib: &Rib<K>) -> Self {
        Self::from_rib_with(rib, top_bits_for(rib.len()))
    }

    /// Compiles the whole RIB with a `top_bits`-bit top array (`top_bits` is clamped to
    /// 1..=18).
    pub fn from_rib_with(rib: &Rib<K>, top_bits: u32) -> Self {
        Self::compile(rib, top_bits, false)
    }

    /// Compiles the whole RIB for a writer that will update the table in place: as
    /// [`from_rib`](Self::from_rib), plus the block bookkeeping ([`Blocks`]).
    pub(crate) fn from_rib_for_updates(rib: &Rib<K>) -> Self {
        Self::compile(rib, top_bits_for(rib.len()), true)
    }

    fn compile(rib: &Rib<K>, top_bits: u32, managed: bool) -> Self {
        let s = top_bits.clamp(1, SPLIT);
        let mut slots = vec![Slot::Leaf(NO_ROUTE); 1 << s];
        rib.expand(0, 0, s, 0, NO_ROUTE, &mut slots);
        let mut t = Self::empty(s, rib.len());
        t.heap.reserve(rib.len() + rib.len() / 8 + 16);
        let mut cap = if managed {
            vec![0u32; 1 << s]
        } else {
            Vec::new()
        };
        let mut scratch = Vec::new();
        let mut large = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            t.top[i] = match *slot {
                Slot::Leaf(v) => t.leaf(v),
                Slot::Child(_, inherited) | Slot::List(_, inherited) => {
                    let start = t.heap.len();
                    let routes = rib.routes_of_top_slot(i, *slot, s, &mut scratch);
                    let o = paint_node(
                        &mut t.heap,
                        &mut large,
                        &mut t.nodes,
                        routes,
                        s,
                        inherited,
                        None,
                    );
                    if managed {
                        cap[i] = (t.heap.len() - start) as u32;
                    }
                    o
                }
            };
        }
        for (at, v) in large {
            t.heap[at as usize] = t.leaf(v);
        }
        t.heap.shrink_to_fit();
        if managed {
            t.blocks = Some(Box::new(Blocks {
                cap,
                ..Blocks::default()
            }));
        }
        t
    }

    fn empty(top_bits: u32, routes: usize) -> Self {
        Poptrie {
            top_bits,
            top: vec![NO_ROUTE; 1 << top_bits],
            heap: Vec::new(),
            large: Vec::new(),
            nodes: 0,
            routes,
            generation: 0,
            blocks: None,
            _k: PhantomData,
        }
    }

    /// The leaf entry for next hop `v` (a RIB value, `NO_ROUTE` for none).
    fn leaf(&mut self, v: u32) -> u32 {
        if v < INLINE_LIMIT || v == NO_ROUTE {
            return v | LEAF_FLAG;
        }
        let i = match self.large.iter().position(|&x| x == v) {
            Some(i) => i,
            None => {
                self.large.push(v);
                self.large.len() - 1
            }
        };
        // At most 2^31 - 2^30 - 1 distinct large values fit; more cannot be allocated anyway.
        LEAF_FLAG | (INLINE_LIMIT + i as u32).min(!LEAF_FLAG - 1)
    }

    #[inline(always)]
    fn bitmap(&self, o: usize) -> u64 {
        u64::from(self.heap[o]) | (u64::from(self.heap[o + 1]) << 32)
    }

    /// One step down: the entry of slot `v` of the node at offset `o`.
    #[inline(always)]
    fn step(&self, o: u32, v: usize) -> u32 {
        let o = o as usize;
        let bitmap = self.bitmap(o);
        self.heap[o + 1 + (bitmap & upto(v)).count_ones() as usize]
    }

    /// The next hop of a leaf entry.
    #[inline(always)]
    fn decode_leaf(&self, e: u32) -> Option<NextHopId> {
        let p = e & !LEAF_FLAG;
        if p < INLINE_LIMIT {
            Some(NextHopId(p))
        } else if e == NO_ROUTE {
            None
        } else {
            self.large
                .get((p - INLINE_LIMIT) as usize)
                .map(|&v| NextHopId(v))
        }
    }

    /// Compiles the top slots `slots` (sorted, without duplicates, each below `2^top_bits`)
    /// of a `top_bits`-bit table from the RIB, appending them to `out`.
    ///
    /// With `old` (the table before the commit, of the same width), `changed` (the
    /// commit's changed prefixes longer than `top_bits`, sorted) and `whole` (the slots
    /// changed prefixes of at most `top_bits` bits cover, sorted), the subtrees of slots
    /// with many routes (IPv6 slots hold thousands) reuse the old table's children that no
    /// change touches (see [`paint_node`]).
    pub(crate) fn paint_slots(
        rib: &Rib<K>,
        top_bits: u32,
        slots: &[u32],
        out: &mut Painted,
        old: Option<OldTable<'_, K>>,
    ) {
        let mut scratch = Vec::new();
        rib.top_slots(slots, top_bits, &mut |x, what| {
            let start = out.words.len();
            let mut ps = PaintedSlot {
                slot: x,
                start: start as u32,
                len: 0,
                value: NO_ROUTE,
                nodes: 0,
                large_end: 0,
            };
            match what {
                Slot::Leaf(v) => ps.value = v,
                Slot::Child(_, inherited) | Slot::List(_, inherited) => {
                    let routes = rib.routes_of_top_slot(x as usize, what, top_bits, &mut scratch);
                    let reuse = old
                        .filter(|(t, _, whole)| {
                            routes.len() >= REUSE_MIN_ROUTES
                                && t.top_bits == top_bits
                                && t.top[x as usize] & LEAF_FLAG == 0
                                && whole.binary_search(&x).is_err()
                        })
                        .map(|(t, changed, _)| {
                            let a = changed
                                .partition_point(|p| p.addr().bits_at(0, top_bits) < x as usize);
                            let b = changed
                                .partition_point(|p| p.addr().bits_at(0, top_bits) <= x as usize);
                            Reuse {
                                old: t,
                                node: t.top[x as usize] as usize,
                                changes: &changed[a..b],
                            }
                        });
                    let mut nodes = 0;
                    paint_node(
                        &mut out.words,
                        &mut out.large,
                        &mut nodes,
                        routes,
                        top_bits,
                        inherited,
                        reuse,
                    );
                    ps.len = (out.words.len() - start) as u32;
                    ps.nodes = nodes as u32;
                }
            }
            ps.large_end = out.large.len() as u32;
            out.slots.push(ps);
        });
    }

    /// Writes the painted slots into this table, except those in `skip` (sorted). Only for a
    /// table no reader can see (the writer's spare or fresh copy): a slot's subtree is
    /// rewritten in its own block when it fits (see [`Blocks`]).
    pub(crate) fn apply_painted(&mut self, p: &Painted, skip: &[u32]) {
        let mut blocks = match self.blocks.take() {
            Some(b) => b,
            None => Box::new(self.blocks_from_walk()),
        };
        let mut j = 0;
        let mut large_start = 0;
        // Per 64 slots: the slots' top entries and capacities are loaded first and their
        // old blocks touched, so those cache misses overlap; then the slots are written.
        let mut todo = [(0usize, 0usize); 64];
        for chunk in p.slots.chunks(64) {
            let mut n = 0;
            for (i, ps) in chunk.iter().enumerate() {
                let large = (large_start, ps.large_end as usize);
                large_start = ps.large_end as usize;
                while j < skip.len() && skip[j] < ps.slot {
                    j += 1;
                }
                if j < skip.len() && skip[j] == ps.slot {
                    continue;
                }
                todo[n] = (i, large.0);
                n += 1;
            }
            let mut acc = 0u32;
            for &(i, _) in &todo[..n] {
                let x = chunk[i].slot as usize;
                acc ^= self.top[x] ^ blocks.cap[x];
            }
            for &(i, _) in &todo[..n] {
                let e = self.top[chunk[i].slot as usize];
                if e & LEAF_FLAG == 0 {
                    acc ^= self.heap[e as usize];
                }
            }
            std::hint::black_box(acc);
            for &(i, large_from) in &todo[..n] {
                let ps = &chunk[i];
                let large = &p.large[large_from..ps.large_end as usize];
                self.place(&mut blocks, p, ps, large);
            }
        }
        self.blocks = Some(blocks);
    }

    /// The block bookkeeping of a table built without it: every top slot's subtree is one
    /// contiguous block of exactly its size (as compiled or copied).
    fn blocks_from_walk(&self) -> Blocks {
        Blocks {
            cap: self
                .top
                .iter()
                .map(|&e| {
                    if e & LEAF_FLAG != 0 {
                        0
                    } else {
                        self.subtree_words(e) as u32
                    }
                })
                .collect(),
            ..Blocks::default()
        }
    }

    /// Writes one painted slot: in its old block if it fits (and does not waste more than
    /// half of it), else in a free block of its size class or at the end of the heap.
    fn place(&mut self, b: &mut Blocks, p: &Painted, ps: &PaintedSlot, large: &[(u32, u32)]) {
        let x = ps.slot as usize;
        let cap = b.cap[x] as usize;
        let n = ps.len as usize;
        if n == 0 {
            if cap > 0 {
                b.release(self.top[x], cap);
                b.cap[x] = 0;
            }
            self.top[x] = self.leaf(ps.value);
            return;
        }
        let at = if n <= cap && 2 * class_size(class_ceil(n)) > cap {
            self.top[x] as usize
        } else {
            if cap > 0 {
                b.release(self.top[x], cap);
            }
            let c = class_ceil(n);
            let size = class_size(c);
            b.cap[x] = size as u32;
            match b.free.get_mut(c).and_then(|l| l.pop()) {
                Some(o) => {
                    b.free_words -= size;
                    o as usize
                }
                None => {
                    let o = self.heap.len();
                    self.heap.resize(o + size, 0);
                    o
                }
            }
        };
        // Copy the subtree, node by node, moving its child offsets from the painted buffer
        // to the block (`delta` is added modulo 2^32 to entries that are not leaves).
        let start = ps.start as usize;
        let src = &p.words[start..start + n];
        let dst = &mut self.heap[at..at + n];
        let delta = (at as u32).wrapping_sub(start as u32);
        let mut i = 0;
        while i < n {
            let k = (src[i].count_ones() + src[i + 1].count_ones()) as usize;
            dst[i] = src[i];
            dst[i + 1] = src[i + 1];
            for (d, &e) in dst[i + 2..i + 2 + k].iter_mut().zip(&src[i + 2..i + 2 + k]) {
                // All ones for a child offset (bit 31 clear), zero for a leaf.
                let child = (e >> 31).wrapping_sub(1);
                *d = e.wrapping_add(delta & child);
            }
            i += 2 + k;
        }
        for &(pos, v) in large {
            let e = self.leaf(v);
            self.heap[at + pos as usize - start] = e;
        }
        self.nodes += ps.nodes as usize;
        self.top[x] = at as u32;
    }

    /// Recompiles the top slots `slots` (sorted, without duplicates) from the RIB.
    #[cfg(test)]
    pub(crate) fn recompile_slots(&mut self, rib: &Rib<K>, slots: &[u32]) {
        let mut p = Painted::default();
        Self::paint_slots(rib, self.top_bits, slots, &mut p, None);
        self.apply_painted(&p, &[]);
    }

    /// Free heap words waiting for reuse in the block lists (0 for a table that is not
    /// updated in place).
    pub fn free_heap_words(&self) -> usize {
        self.blocks.as_ref().map_or(0, |b| b.free_words)
    }

    /// A copy without garbage or free blocks: live subtrees are copied record by record (no
    /// recompilation from the RIB), so this costs about one pass over the live table.
    pub(crate) fn compacted(&self) -> Self {
        let mut t = Self::empty(self.top_bits, self.routes);
        t.generation = self.generation;
        t.large.clone_from(&self.large);
        t.heap.reserve(self.heap.len() / 2);
        let mut cap = if self.blocks.is_some() {
            vec![0u32; self.top.len()]
        } else {
            Vec::new()
        };
        for (i, &e) in self.top.iter().enumerate() {
            let start = t.heap.len();
            t.top[i] = t.copy_entry(self, e);
            if let Some(c) = cap.get_mut(i) {
                *c = (t.heap.len() - start) as u32;
            }
        }
        // Room for the slots that outgrow their blocks until the free lists fill up: without
        // it, the next commit would reallocate (and copy) the whole heap at once.
        t.heap.reserve_exact(t.heap.len() / 4 + 1024);
        if self.blocks.is_some() {
            t.blocks = Some(Box::new(Blocks {
                cap,
                ..Blocks::default()
            }));
        }
        t
    }

    fn copy_entry(&mut self, from: &Self, e: u32) -> u32 {
        if e & LEAF_FLAG != 0 {
            return e;
        }
        let o = e as usize;
        let k = from.bitmap(o).count_ones() as usize;
        let at = self.heap.len();
        self.heap.extend_from_slice(&from.heap[o..o + 2 + k]);
        self.nodes += 1;
        for j in 0..k {
            let c = self.copy_entry(from, from.heap[o + 2 + j]);
            self.heap[at + 2 + j] = c;
        }
        at as u32
    }

    /// A copy with room for `extra` more heap words, so writing slots into it does not
    /// reallocate (and copy) the heap again.
    pub(crate) fn clone_with_room(&self, extra: usize) -> Self {
        let mut heap = Vec::with_capacity(self.heap.len() + extra);
        heap.extend_from_slice(&self.heap);
        Poptrie {
            top_bits: self.top_bits,
            top: self.top.clone(),
            heap,
            large: self.large.clone(),
            nodes: self.nodes,
            routes: self.routes,
            generation: self.generation,
            blocks: self.blocks.clone(),
            _k: PhantomData,
        }
    }

    /// Checks the heap's layout (for tests and fuzzing; costs a walk of the whole table):
    /// every node record lies inside the heap, every top slot's subtree is contiguous, and
    /// for a table updated in place, each subtree lies in its slot's block and no two
    /// blocks (live or free) overlap. Returns what is wrong.
    pub fn check_layout(&self) -> Result<(), String> {
        let mut spans: Vec<(usize, usize, String)> = Vec::new();
        for (x, &e) in self.top.iter().enumerate() {
            let cap = self.blocks.as_ref().map(|b| b.cap.get(x).copied());
            if e & LEAF_FLAG != 0 {
                if let Some(c) = cap {
                    if c != Some(0) {
                        return Err(format!("leaf slot {x} owns a block of {c:?} words"));
                    }
                }
                continue;
            }
            let start = e as usize;
            let mut end = start;
            self.check_subtree(start, &mut end, 0)
                .map_err(|m| format!("slot {x}: {m}"))?;
            match cap {
                None => {}
                Some(Some(c)) if end - start <= c as usize => {
                    spans.push((start, start + c as usize, format!("slot {x}")));
                }
                Some(c) => {
                    return Err(format!(
                        "slot {x}: subtree of {} words in a block of {c:?}",
                        end - start
                    ))
                }
            }
        }
        if let Some(b) = &self.blocks {
            let mut free_words = 0;
            for (c, list) in b.free.iter().enumerate() {
                for &o in list {
                    free_words += class_size(c);
                    spans.push((o as usize, o as usize + class_size(c), format!("free {c}")));
                }
            }
            if free_words != b.free_words {
                return Err(format!(
                    "{} free words counted, {free_words} in the lists",
                    b.free_words
                ));
            }
            spans.sort_unstable_by_key(|s| s.0);
            for w in spans.windows(2) {
                if w[0].1 > w[1].0 {
                    return Err(format!("{} and {} overlap", w[0].2, w[1].2));
                }
            }
            if let Some(last) = spans.last() {
                if last.1 > self.heap.len() {
                    return Err(format!("{} ends past the heap", last.2));
                }
            }
        }
        Ok(())
    }

    /// Checks the node at `o` and its children, which must follow it contiguously from
    /// `*end` on (depth-first); advances `*end` past them.
    fn check_subtree(&self, o: usize, end: &mut usize, depth: u32) -> Result<(), String> {
        if o != *end {
            return Err(format!("node at {o}, expected at {end}"));
        }
        if depth > 128 / STRIDE + 1 {
            return Err(format!("node at {o} too deep"));
        }
        let (Some(&lo), Some(&hi)) = (self.heap.get(o), self.heap.get(o + 1)) else {
            return Err(format!("node at {o} past the heap"));
        };
        let k = (lo.count_ones() + hi.count_ones()) as usize;
        let Some(entries) = self.heap.get(o + 2..o + 2 + k) else {
            return Err(format!("entries of the node at {o} past the heap"));
        };
        *end = o + 2 + k;
        for &c in entries {
            if c & LEAF_FLAG == 0 {
                self.check_subtree(c as usize, end, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Heap words reachable from the top array (without the garbage left by incremental
    /// updates); one walk over the live table.
    pub fn live_heap_words(&self) -> usize {
        self.top
            .iter()
            .filter(|&&e| e & LEAF_FLAG == 0)
            .map(|&e| self.subtree_words(e))
            .sum()
    }

    /// Heap words of the subtree at node offset `o`.
    fn subtree_words(&self, o: u32) -> usize {
        let o = o as usize;
        let k = self.bitmap(o).count_ones() as usize;
        let mut words = 2 + k;
        for &e in &self.heap[o + 2..o + 2 + k] {
            if e & LEAF_FLAG == 0 {
                words += self.subtree_words(e);
            }
        }
        words
    }

    /// Width of the top array in bits.
    pub fn top_bits(&self) -> u32 {
        self.top_bits
    }

    /// Number of node records written since the table was built or compacted (including
    /// those of subtrees replaced by incremental updates since).
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Words (`u32`) in the node heap (including free blocks and the unused tails of blocks
    /// of a table updated in place).
    pub fn heap_words(&self) -> usize {
        self.heap.len()
    }

    /// Publication counter set by [`crate::fib::update::FibWriter`] (0 for a table built
    /// directly).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn set_meta(&mut self, routes: usize, generation: u64) {
        self.routes = routes;
        self.generation = generation;
    }

    /// Looks up a burst of at most 64 addresses level by level: every pass advances all
    /// unfinished lookups by one node, so the loads of different addresses are independent
    /// and overlap. The only branch per address tests an entry loaded in the previous pass
    /// (already resolved), and every array index is the loop counter: indexing by a loaded
    /// value (a compacted list of unfinished lookups) was measured 2-4x slower, because
    /// each store through such an index makes the next load wait for the previous miss.
    #[inline]
    fn lookup_burst(&self, addrs: &[K], out: &mut [Option<NextHopId>]) {
        let n = addrs.len().min(64).min(out.len());
        let mut e = [0u32; 64];
        let s = self.top_bits;
        // Bit 31 of `pending` is set while some entry is still a node offset.
        let mut pending = 0u32;
        for i in 0..n {
            let x = self.top[addrs[i].bits_at(0, s)];
            e[i] = x;
            pending |= !x;
        }
        let mut off = s;
        while pending & LEAF_FLAG != 0 {
            pending = 0;
            for i in 0..n {
                let x = e[i];
                if x & LEAF_FLAG == 0 {
                    let y = self.step(x, addrs[i].bits_at(off, STRIDE));
                    e[i] = y;
                    pending |= !y;
                }
            }
            off += STRIDE;
        }
        for i in 0..n {
            out[i] = self.decode_leaf(e[i]);
        }
    }
}

impl<K: TrieKey> Lpm<K> for Poptrie<K> {
    fn build(routes: &[(Prefix<K>, NextHopId)]) -> Self {
        Self::from_rib(&Rib::from_routes(routes))
    }

    #[inline]
    fn lookup(&self, addr: K) -> Option<NextHopId> {
        let mut e = self.top[addr.bits_at(0, self.top_bits)];
        let mut off = self.top_bits;
        while e & LEAF_FLAG == 0 {
            e = self.step(e, addr.bits_at(off, STRIDE));
            off += STRIDE;
        }
        self.decode_leaf(e)
    }

    fn lookup_bulk(&self, addrs: &[K], out: &mut [Option<NextHopId>]) {
        for (a, o) in addrs.chunks(64).zip(out.chunks_mut(64)) {
            self.lookup_burst(a, o);
        }
    }

    fn memory_bytes(&self) -> usize {
        (self.top.capacity() + self.heap.capacity() + self.large.capacity()) * 4
            + self.blocks.as_ref().map_or(0, |b| b.memory_bytes())
    }

    fn len(&self) -> usize {
        self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::simple::ReferenceLpm;
    use crate::fib::{Prefix4, Prefix6};
    use proptest::prelude::*;

    fn p4(s: &str) -> Prefix4 {
        s.parse().unwrap()
    }

    #[test]
    fn longest_match_and_padding_bits() {
        let routes = [
            (p4("0.0.0.0/0"), NextHopId(1)),
            (p4("10.0.0.0/8"), NextHopId(2)),
            (p4("10.1.2.0/24"), NextHopId(3)),
            (p4("10.1.2.128/25"), NextHopId(4)),
            (p4("10.1.2.129/32"), NextHopId(5)),
            (p4("10.1.2.130/31"), NextHopId(6)),
        ];
        for s in [6, 12, 18] {
            let t = Trie4::from_rib_with(&Rib::from_routes(&routes), s);
            let l = |a: [u8; 4]| t.lookup(u32::from_be_bytes(a));
            assert_eq!(l([9, 0, 0, 1]), Some(NextHopId(1)));
            assert_eq!(l([10, 9, 0, 1]), Some(NextHopId(2)));
            assert_eq!(l([10, 1, 2, 1]), Some(NextHopId(3)));
            assert_eq!(l([10, 1, 2, 128]), Some(NextHopId(4)));
            assert_eq!(l([10, 1, 2, 129]), Some(NextHopId(5)));
            assert_eq!(l([10, 1, 2, 130]), Some(NextHopId(6)));
            assert_eq!(l([10, 1, 2, 131]), Some(NextHopId(6)));
            assert_eq!(l([10, 1, 2, 132]), Some(NextHopId(4)));
        }
    }

    #[test]
    fn empty_and_host_routes_v6() {
        let t = Trie6::build(&[]);
        assert_eq!(t.lookup(0), None);
        let host: Prefix6 = "2001:db8::1/128".parse().unwrap();
        let t = Trie6::build(&[(host, NextHopId(7))]);
        assert_eq!(t.lookup(host.addr()), Some(NextHopId(7)));
        assert_eq!(t.lookup(host.addr() + 1), None);
        assert_eq!(t.lookup(host.addr() - 1), None);
    }

    #[test]
    fn rib_remove_prunes() {
        let mut rib = Rib::<u32>::new();
        rib.insert(p4("10.1.2.0/24"), NextHopId(1));
        let grown = rib.nodes.len();
        assert_eq!(
            grown,
            1 + SPLIT as usize,
            "the slot's path down to the split"
        );
        assert_eq!(rib.by_slot.len(), 1);
        assert_eq!(rib.remove(&p4("10.1.2.0/24")), Some(NextHopId(1)));
        assert_eq!(rib.free.len(), grown - 1);
        assert!(rib.by_slot.is_empty(), "the empty slot list is freed");
        assert_eq!(rib.free_lists.len(), 1);
        assert_eq!(rib.remove(&p4("10.1.2.0/24")), None);
        assert!(rib.is_empty());
        // A short route on the path of a slot list keeps the list's branch when removed.
        rib.insert(p4("10.1.0.0/16"), NextHopId(4));
        rib.insert(p4("10.1.0.0/24"), NextHopId(5));
        assert_eq!(rib.remove(&p4("10.1.0.0/16")), Some(NextHopId(4)));
        assert_eq!(rib.get(&p4("10.1.0.0/24")), Some(NextHopId(5)));
        assert_eq!(rib.remove(&p4("10.1.0.0/24")), Some(NextHopId(5)));
        assert_eq!(
            rib.free.len(),
            rib.nodes.len() - 1,
            "all but the root freed"
        );
        // The sentinel next hop withdraws.
        rib.insert(p4("10.0.0.0/8"), NextHopId(2));
        rib.insert(p4("10.0.0.0/8"), NextHopId(NO_ROUTE));
        assert_eq!(rib.get(&p4("10.0.0.0/8")), None);
    }

    #[test]
    fn top_slots_walk_equals_per_slot_walks() {
        let routes = crate::fib::gen::routes_v4(3000, 5);
        let mut rib = Rib::from_routes(&routes);
        rib.insert(p4("0.0.0.0/0"), NextHopId(9));
        rib.insert(p4("64.0.0.0/2"), NextHopId(8));
        for s in [1, 6, 12] {
            let slots: Vec<u32> = (0..1u32 << s).filter(|x| x % 3 != 1).collect();
            let mut got = Vec::new();
            rib.top_slots(&slots, s, &mut |x, what| got.push((x, what)));
            let want: Vec<_> = slots
                .iter()
                .map(|&x| (x, rib.top_slot(x as usize, s)))
                .collect();
            assert_eq!(got, want, "top bits {s}");
        }
        // 18 bits, indexed per slot: kept up to date by short-route changes (nested,
        // replaced, withdrawn) and list creation and removal.
        rib.index_slots();
        let changes: [(&str, Option<u32>); 10] = [
            ("10.0.0.0/8", Some(1)),
            ("10.0.0.0/16", Some(2)),
            ("10.0.0.0/18", Some(3)),
            ("10.0.0.0/24", Some(4)),
            ("10.0.0.0/16", Some(5)),
            ("10.0.0.0/18", None),
            ("64.0.0.0/2", None),
            ("10.0.64.0/24", Some(6)),
            ("10.0.0.0/24", None),
            ("0.0.0.0/0", None),
        ];
        let check = |rib: &Rib<u32>, step: usize| {
            let slots: Vec<u32> = (0..1u32 << SPLIT).filter(|x| x % 7 != 1).collect();
            let mut got = Vec::new();
            rib.top_slots(&slots, SPLIT, &mut |x, what| got.push((x, what)));
            for (x, what) in got {
                // Indexed, a slot with longer routes names its list instead of its node.
                let want = match rib.top_slot(x as usize, SPLIT) {
                    Slot::Child(n, v) => Slot::List(rib.nodes[n as usize][0], v),
                    leaf => leaf,
                };
                assert_eq!(what, want, "slot {x}, after change {step}");
            }
        };
        check(&rib, 0);
        for (i, (p, nh)) in changes.iter().enumerate() {
            match nh {
                Some(nh) => rib.insert(p4(p), NextHopId(*nh)),
                None => rib.remove(&p4(p)),
            };
            check(&rib, i + 1);
        }
    }

    #[test]
    fn recompiled_slots_and_compaction_keep_answers() {
        let routes = crate::fib::gen::routes_v4(5000, 3);
        let mut rib = Rib::from_routes(&routes);
        let mut t = Trie4::from_rib_with(&rib, 12);
        let built_words = t.heap_words();
        assert_eq!(
            t.live_heap_words(),
            built_words,
            "a fresh build has no garbage"
        );
        // Change every route under the first 1024 top slots, then recompile those slots.
        for (p, _) in routes
            .iter()
            .filter(|(p, _)| p.len() >= 12 && p.addr() >> 20 < 1024)
        {
            rib.insert(*p, NextHopId(77));
        }
        let slots: Vec<u32> = (0..1024).collect();
        t.recompile_slots(&rib, &slots);
        t.check_layout().unwrap();
        assert!(t.live_heap_words() + t.free_heap_words() <= t.heap_words());
        let c = t.compacted();
        c.check_layout().unwrap();
        assert_eq!(c.heap_words(), c.live_heap_words());
        assert_eq!(c.free_heap_words(), 0);
        let fresh = Trie4::from_rib_with(&rib, 12);
        for a in crate::fib::gen::addrs_in_routes(&routes, 20_000, 4) {
            assert_eq!(t.lookup(a), fresh.lookup(a), "address {a:#x}");
            assert_eq!(c.lookup(a), fresh.lookup(a), "compacted, address {a:#x}");
        }
    }

    #[test]
    fn size_classes() {
        assert_eq!(
            (0..12).map(class_size).collect::<Vec<_>>(),
            [4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28]
        );
        for n in 1..5000 {
            let c = class_ceil(n);
            assert!(
                class_size(c) >= n && (c == 0 || class_size(c - 1) < n),
                "ceil {n}"
            );
            if n >= 4 {
                let f = class_floor(n);
                assert!(class_size(f) <= n && class_size(f + 1) > n, "floor {n}");
            }
        }
    }

    #[test]
    fn blocks_are_rewritten_in_place_moved_and_reused() {
        // A 12-bit table updated in place; slot 0x0A0 (10.0.0.0/12) is changed over and over.
        let mut rib = Rib::from_routes(&crate::fib::gen::routes_v4(3000, 17));
        let mut t = Trie4::compile(&rib, 12, true);
        t.check_layout().unwrap();
        let x = 0x0A0usize;
        let slot = [x as u32];
        rib.insert(p4("10.0.1.0/24"), NextHopId(1));
        t.recompile_slots(&rib, &slot);
        let (at, words) = (t.top[x], t.heap_words());
        // Same shape, another next hop: the same block.
        rib.insert(p4("10.0.1.0/24"), NextHopId(2));
        t.recompile_slots(&rib, &slot);
        assert_eq!((t.top[x], t.heap_words()), (at, words));
        // Much bigger: moved to a new block at the end; the old one is free.
        let more: Vec<Prefix4> = (0..200u32)
            .map(|i| Prefix4::new_truncating(0x0A00_0000 | (i << 12), 24).unwrap())
            .collect();
        for (i, p) in more.iter().enumerate() {
            rib.insert(*p, NextHopId(10 + i as u32 % 3));
        }
        t.recompile_slots(&rib, &slot);
        t.check_layout().unwrap();
        assert_ne!(t.top[x], at);
        assert!(t.heap_words() > words);
        assert!(t.free_heap_words() > 0);
        // Back to the small shape: moved again (the big block would be mostly empty), into
        // a free block, without growing the heap.
        for p in &more {
            rib.remove(p);
        }
        let grown = t.heap_words();
        t.recompile_slots(&rib, &slot);
        t.check_layout().unwrap();
        assert_eq!(t.heap_words(), grown);
        // A leaf: its block is freed.
        let free = t.free_heap_words();
        let under: Vec<Prefix4> = rib
            .lists
            .iter()
            .flatten()
            .map(|r| r.prefix)
            .chain((12..=18).flat_map(|l| {
                (0..1u32 << (l - 12)).map(move |i| {
                    Prefix4::new_truncating(0x0A00_0000 | (i << (32 - l)), l as u8).unwrap()
                })
            }))
            .filter(|p| p.len() > 12 && p.addr() >> 20 == x as u32)
            .collect();
        for p in &under {
            rib.remove(p);
        }
        t.recompile_slots(&rib, &slot);
        t.check_layout().unwrap();
        assert!(t.top[x] & LEAF_FLAG != 0);
        assert!(t.free_heap_words() > free);
        let fresh = Trie4::from_rib_with(&rib, 12);
        for a in (0..1u32 << 20).step_by(97).map(|i| 0x0A00_0000 | i) {
            assert_eq!(t.lookup(a), fresh.lookup(a), "address {a:#x}");
        }
    }

    #[test]
    fn large_next_hops_use_the_side_table() {
        let routes = [
            (p4("10.0.0.0/8"), NextHopId(INLINE_LIMIT - 1)),
            (p4("10.1.0.0/16"), NextHopId(INLINE_LIMIT)),
            (p4("10.1.2.0/24"), NextHopId(u32::MAX - 1)),
            (p4("10.1.3.0/24"), NextHopId(INLINE_LIMIT)),
        ];
        for s in [6, 18] {
            let t = Trie4::from_rib_with(&Rib::from_routes(&routes), s);
            let l = |a: [u8; 4]| t.lookup(u32::from_be_bytes(a));
            assert_eq!(l([10, 9, 0, 1]), Some(NextHopId(INLINE_LIMIT - 1)));
            assert_eq!(l([10, 1, 9, 1]), Some(NextHopId(INLINE_LIMIT)));
            assert_eq!(l([10, 1, 2, 1]), Some(NextHopId(u32::MAX - 1)));
            assert_eq!(l([10, 1, 3, 1]), Some(NextHopId(INLINE_LIMIT)));
            assert_eq!(l([11, 0, 0, 0]), None);
            assert_eq!(t.large.len(), 2, "each large next hop is stored once");
        }
    }

    fn routes4() -> impl Strategy<Value = Vec<(Prefix4, NextHopId)>> {
        proptest::collection::vec(
            (any::<u32>(), 0u8..=32, 0u32..8).prop_map(|(a, l, nh)| {
                // Bias towards a few /8s so prefixes nest.
                let a = (a & 0x03FF_FFFF) | 0x0A00_0000;
                (Prefix4::new_truncating(a, l).unwrap(), NextHopId(nh))
            }),
            0..60,
        )
    }

    proptest! {
        #[test]
        fn matches_reference_v4(routes in routes4(), probes in proptest::collection::vec(any::<u32>(), 64), s in 1u32..=18) {
            let reference = ReferenceLpm::build(&routes);
            let t = Trie4::from_rib_with(&Rib::from_routes(&routes), s);
            let mut addrs: Vec<u32> = routes.iter().map(|(p, _)| p.addr() | (probes[0] & !p.mask())).collect();
            addrs.extend(probes.iter().map(|a| (a & 0x03FF_FFFF) | 0x0A00_0000));
            let mut bulk = vec![None; addrs.len()];
            t.lookup_bulk(&addrs, &mut bulk);
            for (a, b) in addrs.iter().zip(&bulk) {
                prop_assert_eq!(t.lookup(*a), reference.lookup(*a));
                prop_assert_eq!(*b, reference.lookup(*a));
            }
            prop_assert_eq!(t.len(), reference.len());
        }
    }
}
