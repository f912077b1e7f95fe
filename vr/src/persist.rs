//! Persistent (copy-on-write) tables: the parts of a forwarding-state version that change
//! at control-plane rates without being rebuilt whole.
//!
//! A published version must never change, yet the control core must be able to derive the
//! next version in time proportional to the change, not to the table. Both structures here
//! split their contents into small chunks behind [`Arc`]s: a new version shares every chunk
//! it did not touch with the previous one, and the writer copies a chunk only the first time
//! it changes after a publication ([`Arc::make_mut`] copies exactly when a published version
//! still holds the chunk). Memory of old versions is freed when the last version holding a
//! chunk is dropped — on the control core, by [`crate::publish::Publisher::reclaim`].
//!
//! * [`PVec`] / [`PVecWriter`]: an array indexed by a dense integer (next-hop ids, VR ids)
//!   in chunks of [`CHUNK`] entries. A lookup is two dependent loads (chunk pointer, entry).
//!   Publishing costs one reference-count increment per chunk (the chunk-pointer array is
//!   copied), plus a copy of each chunk written since the last publication.
//! * [`PMap`] / [`PMapWriter`]: a hash map (session bindings) split into power-of-two
//!   shards by the high bits of the key's hash; each shard is a small open-addressing table
//!   with linear probing, its slots behind an [`Arc`] and the shard itself held inline in
//!   the shard array. A lookup is a hash (one folded multiply), two dependent loads (the
//!   shard's slot pointer, the slot) and usually one probe.
//!   Publishing costs one increment per shard plus a copy of each written shard; the shard
//!   count doubles (one full rehash) when shards average more than [`SHARD_LOAD`] entries, so
//!   shards stay a few hundred bytes and a publication that follows a handful of binds
//!   copies a few kilobytes.
//!
//! Written here rather than taken from a crate of persistent collections (`im`, `rpds`):
//! their trees are deeper (more dependent loads per lookup) and allocate per node, and the
//! fast path needs exactly these two shapes with flat chunks.

use std::sync::Arc;

/// Entries per [`PVec`] chunk.
pub const CHUNK: usize = 64;
const CHUNK_BITS: u32 = CHUNK.trailing_zeros();
const CHUNK_MASK: usize = CHUNK - 1;

/// A read-only persistent array (one published version).
#[derive(Debug)]
pub struct PVec<T> {
    chunks: Arc<[Arc<[T; CHUNK]>]>,
    len: usize,
}

impl<T> Clone for PVec<T> {
    fn clone(&self) -> Self {
        PVec {
            chunks: Arc::clone(&self.chunks),
            len: self.len,
        }
    }
}

impl<T> PVec<T> {
    /// The entry at `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.chunks.get(i >> CHUNK_BITS).map(|c| &c[i & CHUNK_MASK])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry in index order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|c| c.iter()).take(self.len)
    }

    /// Heap bytes of this version (chunks shared with other versions counted in full).
    pub fn memory_bytes(&self) -> usize {
        self.chunks.len() * (std::mem::size_of::<[T; CHUNK]>() + 2 * std::mem::size_of::<usize>())
            + std::mem::size_of_val(&*self.chunks)
    }

    /// True when `self` and `other` share their chunk array (nothing changed in between).
    pub fn same_as(&self, other: &PVec<T>) -> bool {
        Arc::ptr_eq(&self.chunks, &other.chunks)
    }
}

/// The writer of a [`PVec`]: owns the newest contents and publishes versions.
#[derive(Debug)]
pub struct PVecWriter<T> {
    chunks: Vec<Arc<[T; CHUNK]>>,
    len: usize,
    fill: T,
    /// The last version handed out, reused while nothing changes.
    published: Option<PVec<T>>,
}

impl<T: Clone> PVecWriter<T> {
    /// An empty array whose unused slots hold `fill`.
    pub fn new(fill: T) -> Self {
        PVecWriter {
            chunks: Vec::new(),
            len: 0,
            fill,
            published: None,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry at `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.chunks.get(i >> CHUNK_BITS).map(|c| &c[i & CHUNK_MASK])
    }

    /// Sets entry `i`, growing the array (with the fill value) when `i` is past its end.
    pub fn set(&mut self, i: usize, value: T) {
        let c = i >> CHUNK_BITS;
        while self.chunks.len() <= c {
            let fill = self.fill.clone();
            self.chunks
                .push(Arc::new(std::array::from_fn(|_| fill.clone())));
        }
        self.len = self.len.max(i + 1);
        // Copies the chunk when a published version still holds it.
        Arc::make_mut(&mut self.chunks[c])[i & CHUNK_MASK] = value;
        self.published = None;
    }

    /// The current contents as a read-only version (shares every chunk with the writer;
    /// the writer copies a chunk on its next write to it).
    pub fn publish(&mut self) -> PVec<T> {
        if let Some(p) = &self.published {
            return p.clone();
        }
        let v = PVec {
            chunks: self.chunks.iter().cloned().collect(),
            len: self.len,
        };
        self.published = Some(v.clone());
        v
    }
}

/// Keys of a [`PMap`]: a cheap, well-mixed 64-bit hash.
pub trait PKey: Copy + Eq + std::fmt::Debug {
    /// The key packed into 64 bits (injective).
    fn pack(&self) -> u64;
}

/// Average entries per shard above which the shard count doubles.
pub const SHARD_LOAD: usize = 16;
const MIN_SHARDS: usize = 16;

#[inline]
fn mix(k: u64) -> u64 {
    // A folded 64×64→128-bit multiply (the "mum" step of wyhash): both halves of the
    // product, so every input bit reaches the high bits (the shard) and the low bits (the
    // slot). One multiply instead of splitmix64's two dependent ones: the hash is on the
    // critical path of every session lookup of the decapsulation path.
    let p = u128::from(k ^ 0xa076_1d64_78bd_642f) * u128::from(0xe703_7ed1_a0b4_28db_u64);
    (p as u64) ^ ((p >> 64) as u64)
}

/// One shard: open addressing with linear probing, at most half full. Its slots are shared
/// by every version that holds the shard; the shard sits inline in the map's shard array, so
/// a lookup goes from that array straight to the slots (one pointer fewer on the path of
/// every session lookup of the decapsulation path).
#[derive(Debug)]
struct Shard<K, V> {
    slots: Arc<[Option<(K, V)>]>,
    len: usize,
}

impl<K, V> Clone for Shard<K, V> {
    /// Another holder of the same slots (a published version).
    fn clone(&self) -> Self {
        Shard {
            slots: Arc::clone(&self.slots),
            len: self.len,
        }
    }
}

impl<K: PKey, V: Clone> Shard<K, V> {
    fn with_capacity(n: usize) -> Self {
        let cap = (2 * n).next_power_of_two().max(4);
        Shard {
            slots: (0..cap).map(|_| None).collect(),
            len: 0,
        }
    }

    /// A copy of the entries in slots of their own, sized for `n` entries.
    fn resized(&self, n: usize) -> Self {
        let mut s = Shard::with_capacity(n);
        for (k, v) in self.iter() {
            s.insert(*k, mix(k.pack()), v.clone());
        }
        s
    }

    /// The slots, to change. The first change of a shard a published version still holds
    /// copies it, sized for the entries it holds, so a shard that grew during a burst does
    /// not keep its capacity once sessions go (memory follows the live set under churn).
    fn slots_mut(&mut self) -> &mut [Option<(K, V)>] {
        if Arc::get_mut(&mut self.slots).is_none() {
            *self = self.resized(self.len + 1);
        }
        // Not shared any more: this does not copy.
        Arc::make_mut(&mut self.slots)
    }

    #[inline(always)]
    fn get(&self, k: &K, h: u64) -> Option<&V> {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some((key, v)) if key == k => return Some(v),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    fn insert(&mut self, k: K, h: u64, v: V) -> Option<V> {
        if 2 * (self.len + 1) > self.slots.len() {
            *self = self.resized(self.slots.len());
        }
        let slots = self.slots_mut();
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match &mut slots[i] {
                None => {
                    slots[i] = Some((k, v));
                    break;
                }
                Some((key, old)) if *key == k => return Some(std::mem::replace(old, v)),
                Some(_) => i = (i + 1) & mask,
            }
        }
        self.len += 1;
        None
    }

    /// Removes `k` with backward-shift deletion (no tombstones).
    fn remove(&mut self, k: &K, h: u64) -> Option<V> {
        let slots = self.slots_mut();
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match &slots[i] {
                None => return None,
                Some((key, _)) if key == k => break,
                Some(_) => i = (i + 1) & mask,
            }
        }
        let (_, v) = slots[i].take()?;
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while let Some((key, _)) = &slots[j] {
            let home = mix(key.pack()) as usize & mask;
            // Move the entry back into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                slots[hole] = slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.len -= 1;
        // Shrink once mostly empty (amortised: the shard lost 3/4 of its fill since it
        // was last sized).
        if self.slots.len() > 4 && 8 * self.len < self.slots.len() {
            *self = self.resized(self.len + 1);
        }
        Some(v)
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

/// A read-only persistent hash map (one published version).
#[derive(Debug)]
pub struct PMap<K, V> {
    shards: Arc<[Shard<K, V>]>,
    shift: u32,
    len: usize,
}

impl<K, V> Clone for PMap<K, V> {
    fn clone(&self) -> Self {
        PMap {
            shards: Arc::clone(&self.shards),
            shift: self.shift,
            len: self.len,
        }
    }
}

impl<K: PKey, V: Clone> Default for PMap<K, V> {
    fn default() -> Self {
        PMapWriter::new().publish()
    }
}

impl<K: PKey, V: Clone> PMap<K, V> {
    /// The value of `k`.
    #[inline(always)]
    pub fn get(&self, k: &K) -> Option<&V> {
        let h = mix(k.pack());
        self.shards.get((h >> self.shift) as usize)?.get(k, h)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Heap bytes of this version (shards shared with other versions counted in full).
    pub fn memory_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.bytes()).sum::<usize>() + std::mem::size_of_val(&*self.shards)
    }
}

/// The writer of a [`PMap`].
#[derive(Debug)]
pub struct PMapWriter<K, V> {
    shards: Vec<Shard<K, V>>,
    shift: u32,
    len: usize,
    published: Option<PMap<K, V>>,
    /// Times the shard count doubled.
    pub reshards: u64,
}

impl<K: PKey, V: Clone> Default for PMapWriter<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: PKey, V: Clone> PMapWriter<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        PMapWriter {
            shards: (0..MIN_SHARDS).map(|_| Shard::with_capacity(0)).collect(),
            shift: 64 - MIN_SHARDS.trailing_zeros(),
            len: 0,
            published: None,
            reshards: 0,
        }
    }

    #[inline]
    fn shard_of(&self, h: u64) -> usize {
        (h >> self.shift) as usize
    }

    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        let h = mix(k.pack());
        self.shards[self.shard_of(h)].get(k, h)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        let h = mix(k.pack());
        let s = self.shard_of(h);
        let old = self.shards[s].insert(k, h, v);
        if old.is_none() {
            self.len += 1;
            if self.len > SHARD_LOAD * self.shards.len() {
                self.reshard();
            }
        }
        self.published = None;
        old
    }

    /// Removes `k`; returns its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let h = mix(k.pack());
        let s = self.shard_of(h);
        // Look first so that a miss does not copy a published shard.
        self.shards[s].get(k, h)?;
        let old = self.shards[s].remove(k, h);
        if old.is_some() {
            self.len -= 1;
            self.published = None;
        }
        old
    }

    /// Removes every entry for which `keep` says false; returns how many.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) -> usize {
        let gone: Vec<K> = self
            .shards
            .iter()
            .flat_map(|s| s.iter())
            .filter(|(k, v)| !keep(k, v))
            .map(|(k, _)| *k)
            .collect();
        for k in &gone {
            self.remove(k);
        }
        gone.len()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// Doubles the shard count (one full rehash; amortised over the inserts since the last).
    fn reshard(&mut self) {
        let n = self.shards.len() * 2;
        let shift = self.shift - 1;
        let mut fresh: Vec<Shard<K, V>> = (0..n)
            .map(|_| Shard::with_capacity(SHARD_LOAD / 2))
            .collect();
        for s in &self.shards {
            for (k, v) in s.iter() {
                let h = mix(k.pack());
                fresh[(h >> shift) as usize].insert(*k, h, v.clone());
            }
        }
        self.shards = fresh;
        self.shift = shift;
        self.reshards += 1;
    }

    /// The current contents as a read-only version.
    pub fn publish(&mut self) -> PMap<K, V> {
        if let Some(p) = &self.published {
            return p.clone();
        }
        let m = PMap {
            shards: self.shards.iter().cloned().collect(),
            shift: self.shift,
            len: self.len,
        };
        self.published = Some(m.clone());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    impl PKey for u32 {
        fn pack(&self) -> u64 {
            u64::from(*self)
        }
    }

    #[test]
    fn pvec_versions_are_independent() {
        let mut w = PVecWriter::new(0u32);
        for i in 0..200 {
            w.set(i, i as u32);
        }
        let v1 = w.publish();
        assert!(v1.same_as(&w.publish()), "no change, same version");
        w.set(5, 500);
        w.set(300, 3);
        let v2 = w.publish();
        assert_eq!(v1.get(5), Some(&5));
        assert_eq!(v1.get(300), None);
        assert_eq!(v2.get(5), Some(&500));
        assert_eq!(v2.get(299), Some(&0), "fill value");
        assert_eq!(v2.get(300), Some(&3));
        assert_eq!(v2.len(), 301);
        // Untouched chunks are shared between the versions.
        assert!(Arc::ptr_eq(&v1.chunks[1], &v2.chunks[1]));
        assert!(!Arc::ptr_eq(&v1.chunks[0], &v2.chunks[0]));
        assert_eq!(v2.iter().count(), 301);
    }

    #[test]
    fn pmap_remove_keeps_probe_chains_intact() {
        let mut w: PMapWriter<u32, u32> = PMapWriter::new();
        for k in 0..5000 {
            w.insert(k, k * 2);
        }
        assert!(w.reshards > 0);
        for k in (0..5000).step_by(3) {
            assert_eq!(w.remove(&k), Some(k * 2));
        }
        let m = w.publish();
        for k in 0..5000 {
            let want = (k % 3 != 0).then_some(k * 2);
            assert_eq!(m.get(&k).copied(), want, "key {k}");
        }
        assert_eq!(m.len(), 5000 - 1667);
        assert_eq!(m.iter().count(), m.len());
    }

    #[test]
    fn pmap_publication_copies_only_touched_shards() {
        let mut w: PMapWriter<u32, u64> = PMapWriter::new();
        for k in 0..10_000 {
            w.insert(k, 1);
        }
        let a = w.publish();
        w.insert(77, 2);
        let b = w.publish();
        let shared = a
            .shards
            .iter()
            .zip(b.shards.iter())
            .filter(|(x, y)| Arc::ptr_eq(&x.slots, &y.slots))
            .count();
        assert_eq!(shared, a.shards() - 1);
        assert_eq!(a.get(&77), Some(&1));
        assert_eq!(b.get(&77), Some(&2));
        // A miss copies nothing.
        assert_eq!(w.remove(&1_000_000), None);
        assert!(Arc::ptr_eq(&w.publish().shards, &b.shards));
    }

    proptest! {
        #[test]
        fn pmap_matches_a_hashmap(ops in proptest::collection::vec((0u32..300, any::<bool>(), any::<u16>()), 0..2000)) {
            let mut w: PMapWriter<u32, u16> = PMapWriter::new();
            let mut truth = HashMap::new();
            let mut versions = Vec::new();
            for (i, (k, ins, v)) in ops.iter().enumerate() {
                if *ins {
                    prop_assert_eq!(w.insert(*k, *v), truth.insert(*k, *v));
                } else {
                    prop_assert_eq!(w.remove(k), truth.remove(k));
                }
                if i % 97 == 0 {
                    versions.push((w.publish(), truth.clone()));
                }
            }
            versions.push((w.publish(), truth.clone()));
            for (m, t) in &versions {
                prop_assert_eq!(m.len(), t.len());
                for k in 0..300u32 {
                    prop_assert_eq!(m.get(&k), t.get(&k));
                }
            }
        }

        #[test]
        fn pvec_matches_a_vec(ops in proptest::collection::vec((0usize..400, any::<u8>()), 0..1000)) {
            let mut w = PVecWriter::new(0u8);
            let mut truth: Vec<u8> = Vec::new();
            let mut versions = Vec::new();
            for (i, (idx, v)) in ops.iter().enumerate() {
                if truth.len() <= *idx {
                    truth.resize(idx + 1, 0);
                }
                truth[*idx] = *v;
                w.set(*idx, *v);
                if i % 50 == 0 {
                    versions.push((w.publish(), truth.clone()));
                }
            }
            versions.push((w.publish(), truth.clone()));
            for (p, t) in &versions {
                prop_assert_eq!(p.len(), t.len());
                prop_assert_eq!(p.iter().copied().collect::<Vec<_>>(), t.clone());
            }
        }
    }
}
