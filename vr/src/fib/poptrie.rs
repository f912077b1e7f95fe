//! A poptrie-style compressed multibit trie: the fast FIB for both address families.
//!
//! Layout (after Asai & Ohara, "Poptrie", SIGCOMM 2015; written from the paper's idea, not
//! from its code):
//!
//! * a **direct-pointing top array** indexed by the first `s` address bits (`s` is 18 for
//!   large tables, 12 for medium ones and 6 for tiny ones, so a 100-route VR stays a few KiB);
//!   each entry is either a leaf (bit 31 set, index into the leaf array) or a node index;
//! * **nodes** of stride 6: a 64-bit `vector` marks which of the 64 slots continue in a
//!   child node, a 64-bit `leafvec` marks where a new run of equal leaves starts; the children
//!   of a node are contiguous from `base_child` and its leaf runs contiguous from `base_leaf`,
//!   so the slot's position is a population count of the bits below it;
//! * **leaves**: `u32` next-hop indices, `u32::MAX` meaning "no route".
//!
//! Key bits past the end of the address read as zero, so the last stride of IPv4 (bits
//! 30..32) and of IPv6 (bits 126..128) just uses 2 real bits; the padded slots hold the same
//! leaf runs and cost nothing after `leafvec` compression.
//!
//! A full IPv4 table compiles to a few MiB; a lookup follows at most 1 + 3 (IPv4) or
//! 1 + 19 (IPv6) dependent loads, usually 2–3 for IPv4. [`Poptrie::lookup_bulk`] walks a
//! burst level by level so the loads of different packets overlap.
//!
//! The trie is compiled from a [`Rib`], a plain binary trie that also serves incremental
//! updates ([`crate::fib::update`]). `NextHopId(u32::MAX)` is reserved as the "no route"
//! sentinel: a route with that next hop behaves as if it were absent.

use std::marker::PhantomData;

use crate::fib::prefix::{Addr, Prefix};
use crate::fib::Lpm;
use crate::ids::NextHopId;

/// Leaf value meaning "no route"; also the reserved `NextHopId`.
pub const NO_ROUTE: u32 = u32::MAX;
/// Top-array flag: the entry is a leaf index, not a node index.
const LEAF_FLAG: u32 = 1 << 31;
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

/// One trie node below the top array (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Node {
    vector: u64,
    leafvec: u64,
    base_leaf: u32,
    base_child: u32,
}

/// The control-plane side: a binary trie of routes (one node per prefix bit), from which the
/// poptrie is compiled. Insert and delete are O(prefix length).
#[derive(Clone, Debug)]
pub struct Rib<K> {
    /// `[child0, child1, next hop]`; node 0 is the root (`/0`).
    nodes: Vec<[u32; 3]>,
    free: Vec<u32>,
    routes: usize,
    _k: PhantomData<K>,
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
            routes: 0,
            _k: PhantomData,
        }
    }

    /// Builds a RIB from a route list; later duplicates win. The routes are inserted in
    /// address order (a stable sort, so duplicates keep their order), which lays the trie
    /// nodes out depth-first: subtrees are contiguous and later walks touch few cache lines.
    pub fn from_routes(routes: &[(Prefix<K>, NextHopId)]) -> Self {
        let mut sorted = routes.to_vec();
        sorted.sort_by_key(|(p, _)| *p);
        let mut rib = Self::new();
        rib.nodes.reserve(routes.len() * 2);
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

    /// Adds or replaces a route; returns the previous next hop of that prefix. A next hop of
    /// `NextHopId(u32::MAX)` (the reserved sentinel) removes the route instead.
    pub fn insert(&mut self, prefix: Prefix<K>, nh: NextHopId) -> Option<NextHopId> {
        if nh.0 == NO_ROUTE {
            return self.remove(&prefix);
        }
        let addr = prefix.addr();
        let mut n = 0u32;
        for d in 0..u32::from(prefix.len()) {
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
        let old = std::mem::replace(&mut self.nodes[n as usize][2], nh.0);
        if old == NO_ROUTE {
            self.routes += 1;
        }
        decode(old)
    }

    /// Removes a route; returns its next hop if it was present. Empty branches are freed.
    pub fn remove(&mut self, prefix: &Prefix<K>) -> Option<NextHopId> {
        let addr = prefix.addr();
        let len = u32::from(prefix.len());
        let mut path: [u32; 129] = [0; 129];
        let mut n = 0u32;
        for d in 0..len {
            path[d as usize] = n;
            n = self.nodes[n as usize][addr.bit(d)];
            if n == NIL {
                return None;
            }
        }
        let old = std::mem::replace(&mut self.nodes[n as usize][2], NO_ROUTE);
        if old == NO_ROUTE {
            return None;
        }
        self.routes -= 1;
        // Prune: walk back up while the node is empty.
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
        decode(old)
    }

    /// The next hop of exactly this prefix.
    pub fn get(&self, prefix: &Prefix<K>) -> Option<NextHopId> {
        let addr = prefix.addr();
        let mut n = 0u32;
        for d in 0..u32::from(prefix.len()) {
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

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<[u32; 3]>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    #[inline]
    fn has_children(&self, n: u32) -> bool {
        let node = &self.nodes[n as usize];
        node[0] != NIL || node[1] != NIL
    }

    /// What top slot `slot` of a `s`-bit top array holds: the RIB node at depth `s` and the
    /// next hop inherited from shorter prefixes, or just a leaf.
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

    /// Expands the subtree at `n` (depth `k` within a stride of `width` bits) into `out`,
    /// whose slot range for this subtree starts at `slot`.
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
}

/// Compiled poptrie for addresses of type `K` (see the module documentation).
#[derive(Clone, Debug)]
pub struct Poptrie<K> {
    top_bits: u32,
    top: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<u32>,
    routes: usize,
    generation: u64,
    _k: PhantomData<K>,
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
        let s = top_bits.clamp(1, 18);
        let mut slots = vec![Slot::Leaf(NO_ROUTE); 1 << s];
        rib.expand(0, 0, s, 0, NO_ROUTE, &mut slots);
        let mut t = Poptrie {
            top_bits: s,
            top: vec![0; 1 << s],
            nodes: Vec::with_capacity(rib.len() / 2 + 16),
            leaves: Vec::with_capacity(rib.len() + 16),
            routes: rib.len(),
            generation: 0,
            _k: PhantomData,
        };
        let mut last_leaf: Option<(u32, u32)> = None;
        for (i, slot) in slots.iter().enumerate() {
            t.top[i] = match *slot {
                Slot::Leaf(v) => match last_leaf {
                    Some((value, idx)) if value == v => idx | LEAF_FLAG,
                    _ => {
                        let idx = t.push_leaf(v);
                        last_leaf = Some((v, idx));
                        idx | LEAF_FLAG
                    }
                },
                Slot::Child(n, inherited) => t.push_subtree(rib, n, inherited),
            };
        }
        t.nodes.shrink_to_fit();
        t.leaves.shrink_to_fit();
        t
    }

    fn push_leaf(&mut self, v: u32) -> u32 {
        self.leaves.push(v);
        (self.leaves.len() - 1) as u32
    }

    /// Compiles the RIB subtree at `n` into a new node at the end; returns its index.
    fn push_subtree(&mut self, rib: &Rib<K>, n: u32, inherited: u32) -> u32 {
        let idx = self.nodes.len();
        self.nodes.push(Node::default());
        let node = self.build_node(rib, n, inherited);
        self.nodes[idx] = node;
        idx as u32
    }

    /// Builds the node for RIB node `n` (at a stride boundary); its children are placed in
    /// a contiguous block reserved at the end of `nodes`.
    fn build_node(&mut self, rib: &Rib<K>, n: u32, inherited: u32) -> Node {
        let mut slots = [Slot::Leaf(NO_ROUTE); 64];
        rib.expand(n, 0, STRIDE, 0, inherited, &mut slots);
        let mut node = Node {
            base_leaf: self.leaves.len() as u32,
            ..Node::default()
        };
        let mut last = None;
        let mut children = 0usize;
        for (i, slot) in slots.iter().enumerate() {
            match *slot {
                Slot::Leaf(v) => {
                    if last != Some(v) {
                        node.leafvec |= 1 << i;
                        self.leaves.push(v);
                        last = Some(v);
                    }
                }
                Slot::Child(..) => {
                    node.vector |= 1 << i;
                    children += 1;
                }
            }
        }
        let base_child = self.nodes.len();
        node.base_child = base_child as u32;
        self.nodes.resize(base_child + children, Node::default());
        let mut j = base_child;
        for slot in slots.iter() {
            if let Slot::Child(c, inh) = *slot {
                let child = self.build_node(rib, c, inh);
                self.nodes[j] = child;
                j += 1;
            }
        }
        node
    }

    /// Recompiles top slot `slot` from the RIB (incremental update). The old subtree, if
    /// any, is left in place as garbage; returns `(garbage nodes, garbage leaves)` created.
    pub(crate) fn recompile_slot(&mut self, rib: &Rib<K>, slot: usize) -> (usize, usize) {
        let old = self.top[slot];
        let garbage = if old & LEAF_FLAG != 0 {
            (0, 0)
        } else {
            self.subtree_size(old)
        };
        self.top[slot] = match rib.top_slot(slot, self.top_bits) {
            Slot::Leaf(v) => {
                // Reuse a neighbour's leaf when it holds the same value.
                let reuse = [slot.wrapping_sub(1), slot + 1]
                    .into_iter()
                    .filter_map(|j| self.top.get(j).copied())
                    .find(|&e| e & LEAF_FLAG != 0 && self.leaves[(e & !LEAF_FLAG) as usize] == v);
                match reuse {
                    Some(e) => e,
                    None => self.push_leaf(v) | LEAF_FLAG,
                }
            }
            Slot::Child(n, inherited) => self.push_subtree(rib, n, inherited),
        };
        garbage
    }

    /// A copy without the garbage left by [`recompile_slot`](Self::recompile_slot): live
    /// subtrees are copied node by node (no recompilation from the RIB), so this costs about
    /// one pass over the live table.
    pub(crate) fn compacted(&self) -> Self {
        let mut t = Poptrie {
            top_bits: self.top_bits,
            top: vec![0; self.top.len()],
            nodes: Vec::with_capacity(self.nodes.len()),
            leaves: Vec::with_capacity(self.leaves.len()),
            routes: self.routes,
            generation: self.generation,
            _k: PhantomData,
        };
        let mut last_leaf: Option<(u32, u32)> = None;
        for (i, &e) in self.top.iter().enumerate() {
            t.top[i] = if e & LEAF_FLAG != 0 {
                let v = self.leaves[(e & !LEAF_FLAG) as usize];
                match last_leaf {
                    Some((value, idx)) if value == v => idx | LEAF_FLAG,
                    _ => {
                        let idx = t.push_leaf(v);
                        last_leaf = Some((v, idx));
                        idx | LEAF_FLAG
                    }
                }
            } else {
                let idx = t.nodes.len();
                t.nodes.push(Node::default());
                let node = t.copy_node(self, e);
                t.nodes[idx] = node;
                idx as u32
            };
        }
        t.nodes.shrink_to_fit();
        t.leaves.shrink_to_fit();
        t
    }

    fn copy_node(&mut self, from: &Self, idx: u32) -> Node {
        let old = from.nodes[idx as usize];
        let nleaves = old.leafvec.count_ones() as usize;
        let nchildren = old.vector.count_ones() as usize;
        let mut node = old;
        node.base_leaf = self.leaves.len() as u32;
        let lb = old.base_leaf as usize;
        self.leaves
            .extend_from_slice(&from.leaves[lb..lb + nleaves]);
        let base_child = self.nodes.len();
        node.base_child = base_child as u32;
        self.nodes.resize(base_child + nchildren, Node::default());
        for j in 0..nchildren {
            let child = self.copy_node(from, old.base_child + j as u32);
            self.nodes[base_child + j] = child;
        }
        node
    }

    fn subtree_size(&self, idx: u32) -> (usize, usize) {
        let node = self.nodes[idx as usize];
        let mut nodes = 1;
        let mut leaves = node.leafvec.count_ones() as usize;
        for j in 0..node.vector.count_ones() {
            let (n, l) = self.subtree_size(node.base_child + j);
            nodes += n;
            leaves += l;
        }
        (nodes, leaves)
    }

    /// Width of the top array in bits.
    pub fn top_bits(&self) -> u32 {
        self.top_bits
    }

    /// Number of trie nodes (including garbage left by incremental updates).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of leaves (including garbage left by incremental updates).
    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
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

    /// Walks a burst of at most 64 addresses level by level, so the memory loads of
    /// different addresses are independent and overlap.
    #[inline]
    fn lookup_burst(&self, addrs: &[K], out: &mut [Option<NextHopId>]) {
        debug_assert!(addrs.len() <= 64 && out.len() >= addrs.len());
        let mut cur = [0u32; 64];
        let mut active: u64 = 0;
        let s = self.top_bits;
        for (i, a) in addrs.iter().enumerate() {
            let t = self.top[a.bits_at(0, s)];
            if t & LEAF_FLAG != 0 {
                out[i] = decode(self.leaves[(t & !LEAF_FLAG) as usize]);
            } else {
                cur[i] = t;
                active |= 1 << i;
            }
        }
        let mut off = s;
        while active != 0 {
            let mut m = active;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                let node = &self.nodes[cur[i] as usize];
                let v = addrs[i].bits_at(off, STRIDE);
                if node.vector & (1 << v) != 0 {
                    cur[i] = node.base_child + (node.vector & upto(v)).count_ones() - 1;
                } else {
                    let l = node.base_leaf + (node.leafvec & upto(v)).count_ones() - 1;
                    out[i] = decode(self.leaves[l as usize]);
                    active &= !(1 << i);
                }
            }
            off += STRIDE;
        }
    }
}

impl<K: TrieKey> Lpm<K> for Poptrie<K> {
    fn build(routes: &[(Prefix<K>, NextHopId)]) -> Self {
        Self::from_rib(&Rib::from_routes(routes))
    }

    #[inline]
    fn lookup(&self, addr: K) -> Option<NextHopId> {
        let t = self.top[addr.bits_at(0, self.top_bits)];
        if t & LEAF_FLAG != 0 {
            return decode(self.leaves[(t & !LEAF_FLAG) as usize]);
        }
        let mut node = &self.nodes[t as usize];
        let mut off = self.top_bits;
        loop {
            let v = addr.bits_at(off, STRIDE);
            if node.vector & (1 << v) != 0 {
                let c = node.base_child + (node.vector & upto(v)).count_ones() - 1;
                node = &self.nodes[c as usize];
                off += STRIDE;
            } else {
                let l = node.base_leaf + (node.leafvec & upto(v)).count_ones() - 1;
                return decode(self.leaves[l as usize]);
            }
        }
    }

    fn lookup_bulk(&self, addrs: &[K], out: &mut [Option<NextHopId>]) {
        for (a, o) in addrs.chunks(64).zip(out.chunks_mut(64)) {
            self.lookup_burst(a, o);
        }
    }

    fn memory_bytes(&self) -> usize {
        self.top.capacity() * 4
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.leaves.capacity() * 4
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
        assert_eq!(rib.remove(&p4("10.1.2.0/24")), Some(NextHopId(1)));
        assert_eq!(rib.free.len(), grown - 1);
        assert_eq!(rib.remove(&p4("10.1.2.0/24")), None);
        assert!(rib.is_empty());
        // The sentinel next hop withdraws.
        rib.insert(p4("10.0.0.0/8"), NextHopId(2));
        rib.insert(p4("10.0.0.0/8"), NextHopId(NO_ROUTE));
        assert_eq!(rib.get(&p4("10.0.0.0/8")), None);
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
