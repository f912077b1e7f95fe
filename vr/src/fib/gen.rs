//! Synthetic routing tables with the shape of real Internet tables, for tests, CI and users
//! without a RIB dump.
//!
//! Prefix lengths follow the distribution of a January 2024 full table (IPv4: 60 % /24,
//! 12 % /22, 11 % /23, 5.6 % /21, 4.7 % /20, …; IPv6: 47 % /48, 14 % /32, 9 % /44, 8 % /40,
//! …). Addresses cluster as real allocations do: most prefixes fall inside a pool of
//! "allocation blocks" (IPv4 /12–/16 inside 1.0.0.0–223.255.255.255; IPv6 /20–/28 inside
//! 2000::/3), so longer prefixes nest under shorter ones and share trie paths. Prefixes are
//! unique and the output is a pure function of `(count, seed)`.

use std::collections::HashSet;

use crate::fib::prefix::{Addr, Prefix};
use crate::ids::NextHopId;

/// A small deterministic pseudo-random generator (SplitMix64), so generated tables do not
/// depend on an external crate's stream stability.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// 128 random bits.
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

/// Per-mille weights of prefix lengths in a 2024 IPv4 full table (rounded; the rest spread
/// over the remaining lengths).
const V4_LENGTHS: &[(u8, u32)] = &[
    (24, 596),
    (22, 120),
    (23, 107),
    (21, 56),
    (20, 47),
    (19, 28),
    (18, 15),
    (16, 15),
    (17, 9),
    (15, 2),
    (14, 1),
    (13, 1),
    (12, 1),
    (25, 1),
    (26, 1),
    (28, 1),
    (32, 1),
];

/// Per-mille weights of prefix lengths in a 2024 IPv6 full table.
const V6_LENGTHS: &[(u8, u32)] = &[
    (48, 471),
    (32, 141),
    (44, 90),
    (40, 84),
    (36, 37),
    (29, 27),
    (47, 20),
    (46, 19),
    (33, 18),
    (34, 16),
    (42, 14),
    (38, 10),
    (45, 10),
    (39, 9),
    (35, 7),
    (43, 6),
    (41, 6),
    (37, 5),
    (30, 4),
    (28, 3),
    (31, 2),
    (64, 2),
];

fn pick_len(rng: &mut SplitMix64, table: &[(u8, u32)]) -> u8 {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(u64::from(total)) as u32;
    for &(len, w) in table {
        if r < w {
            return len;
        }
        r -= w;
    }
    table[0].0
}

/// Address family parameters for the generator.
trait Family: Addr {
    const LENGTHS: &'static [(u8, u32)];
    /// A random address in the family's routed space.
    fn random(rng: &mut SplitMix64) -> Self;
    /// Length of the allocation blocks prefixes cluster in.
    fn block_len(rng: &mut SplitMix64) -> u8;
    /// `base` with the bits below `len` replaced by random ones.
    fn randomize_below(base: Self, len: u8, rng: &mut SplitMix64) -> Self;
}

impl Family for u32 {
    const LENGTHS: &'static [(u8, u32)] = V4_LENGTHS;
    fn random(rng: &mut SplitMix64) -> Self {
        // 1.0.0.0 – 223.255.255.255, skipping 10/8 and 127/8.
        loop {
            let a = 0x0100_0000 + rng.below(0xDF00_0000) as u32;
            let first = a >> 24;
            if first != 10 && first != 127 {
                return a;
            }
        }
    }
    fn block_len(rng: &mut SplitMix64) -> u8 {
        12 + rng.below(5) as u8
    }
    fn randomize_below(base: Self, len: u8, rng: &mut SplitMix64) -> Self {
        let m = u32::mask(len);
        (base & m) | (rng.next_u64() as u32 & !m)
    }
}

impl Family for u128 {
    const LENGTHS: &'static [(u8, u32)] = V6_LENGTHS;
    fn random(rng: &mut SplitMix64) -> Self {
        // 2000::/3
        (rng.next_u128() >> 3) | (1u128 << 125)
    }
    fn block_len(rng: &mut SplitMix64) -> u8 {
        20 + rng.below(9) as u8
    }
    fn randomize_below(base: Self, len: u8, rng: &mut SplitMix64) -> Self {
        let m = u128::mask(len);
        (base & m) | (rng.next_u128() & !m)
    }
}

fn generate<A: Family>(count: usize, seed: u64) -> Vec<(Prefix<A>, NextHopId)> {
    let mut rng = SplitMix64::new(seed);
    let blocks: Vec<(A, u8)> = (0..count / 64 + 1)
        .map(|_| {
            let len = A::block_len(&mut rng);
            (A::random(&mut rng).and(A::mask(len)), len)
        })
        .collect();
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    let mut attempts = 0usize;
    while out.len() < count {
        attempts += 1;
        let len = pick_len(&mut rng, A::LENGTHS);
        // 85 % inside an allocation block (when the block is shorter than the prefix).
        let (block, block_len) = blocks[rng.below(blocks.len() as u64) as usize];
        let addr = if rng.below(100) < 85 && block_len < len {
            A::randomize_below(block, block_len, &mut rng)
        } else {
            A::random(&mut rng)
        };
        // After many collisions (tiny spaces), fall back to any length so we terminate.
        let len = if attempts > count * 20 + 1000 {
            rng.below(u64::from(A::BITS) + 1) as u8
        } else {
            len
        };
        let Ok(p) = Prefix::new_truncating(addr, len) else {
            continue;
        };
        if seen.insert(p) {
            let nh = NextHopId(1 + (rng.below(1000) as u32));
            out.push((p, nh));
        }
        if attempts > count * 1000 + 100_000 {
            break;
        }
    }
    out
}

/// `count` unique IPv4 routes (`prefix`, next hop 1..=1000), deterministic per `seed`.
pub fn routes_v4(count: usize, seed: u64) -> Vec<(Prefix<u32>, NextHopId)> {
    generate(count, seed)
}

/// `count` unique IPv6 routes (`prefix`, next hop 1..=1000), deterministic per `seed`.
pub fn routes_v6(count: usize, seed: u64) -> Vec<(Prefix<u128>, NextHopId)> {
    generate(count, seed)
}

/// `n` addresses drawn uniformly inside uniformly chosen routes (the usual FIB benchmark
/// workload), deterministic per `seed`. Empty if `routes` is empty.
pub fn addrs_in_routes<A: Addr + RandomBits>(
    routes: &[(Prefix<A>, NextHopId)],
    n: usize,
    seed: u64,
) -> Vec<A> {
    if routes.is_empty() {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(seed ^ 0x5EED_ADD5);
    (0..n)
        .map(|_| {
            let (p, _) = routes[rng.below(routes.len() as u64) as usize];
            let m = p.mask();
            p.addr().and(m) | A::random_bits(&mut rng).and(!m)
        })
        .collect()
}

/// Uniformly random addresses of a family.
pub trait RandomBits: Addr + std::ops::BitOr<Output = Self> + std::ops::Not<Output = Self> {
    /// A uniformly random address.
    fn random_bits(rng: &mut SplitMix64) -> Self;
}

impl RandomBits for u32 {
    fn random_bits(rng: &mut SplitMix64) -> Self {
        rng.next_u64() as u32
    }
}

impl RandomBits for u128 {
    fn random_bits(rng: &mut SplitMix64) -> Self {
        rng.next_u128()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unique_and_shaped() {
        let a = routes_v4(20_000, 7);
        assert_eq!(a, routes_v4(20_000, 7));
        assert_ne!(a, routes_v4(20_000, 8));
        let uniq: HashSet<_> = a.iter().map(|(p, _)| *p).collect();
        assert_eq!(uniq.len(), a.len());
        let slash24 = a.iter().filter(|(p, _)| p.len() == 24).count();
        assert!((0.5..0.7).contains(&(slash24 as f64 / a.len() as f64)));
        let b = routes_v6(5_000, 1);
        assert_eq!(b.len(), 5_000);
        assert!(b.iter().all(|(p, _)| p.addr() >> 125 == 1));
        let slash48 = b.iter().filter(|(p, _)| p.len() == 48).count();
        assert!((0.4..0.55).contains(&(slash48 as f64 / b.len() as f64)));
    }

    #[test]
    fn addresses_fall_inside_routes() {
        let r = routes_v4(100, 3);
        for a in addrs_in_routes(&r, 1000, 1) {
            assert!(r.iter().any(|(p, _)| p.contains(a)));
        }
        assert!(addrs_in_routes::<u32>(&[], 10, 1).is_empty());
    }
}
