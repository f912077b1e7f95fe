//! A simple, correct longest-prefix-match table, and a naive reference for tests.
//!
//! [`SimpleLpm`] keeps one hash map per prefix length that has routes, probed longest first
//! (at most 33 probes for IPv4, 129 for IPv6, usually far fewer: only lengths in use are
//! probed). It builds fast, is small for small VRs and allocates nothing on lookup; the fast
//! compressed tries live beside it and are checked against it.
//!
//! [`ReferenceLpm`] is a linear scan, obviously correct, used only as the oracle in tests.

use hashbrown::HashMap;

use super::prefix::{Addr, Prefix};
use super::Lpm;
use crate::ids::NextHopId;

#[derive(Clone, Debug)]
struct Level<A> {
    len: u8,
    mask: A,
    routes: HashMap<A, NextHopId>,
}

/// Longest-prefix match with one hash map per prefix length in use.
#[derive(Clone, Debug)]
pub struct SimpleLpm<A> {
    /// Lengths in use except 0, longest first.
    levels: Vec<Level<A>>,
    /// The default route (`/0`), kept out of the maps.
    default: Option<NextHopId>,
    count: usize,
}

impl<A: Addr> Default for SimpleLpm<A> {
    fn default() -> Self {
        SimpleLpm {
            levels: Vec::new(),
            default: None,
            count: 0,
        }
    }
}

impl<A: Addr> SimpleLpm<A> {
    /// Exact-match lookup of one prefix (not longest match).
    pub fn get(&self, prefix: &Prefix<A>) -> Option<NextHopId> {
        if prefix.len() == 0 {
            return self.default;
        }
        self.levels
            .iter()
            .find(|l| l.len == prefix.len())
            .and_then(|l| l.routes.get(&prefix.addr()).copied())
    }

    /// Every route, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix<A>, NextHopId)> + '_ {
        let default = self.default.map(|nh| (Prefix::DEFAULT, nh));
        default.into_iter().chain(self.levels.iter().flat_map(|l| {
            l.routes.iter().filter_map(move |(&a, &nh)| {
                // Keys were stored from valid prefixes of this length.
                Prefix::new(a, l.len).ok().map(|p| (p, nh))
            })
        }))
    }
}

impl<A: Addr> Lpm<A> for SimpleLpm<A> {
    fn build(routes: &[(Prefix<A>, NextHopId)]) -> Self {
        let mut by_len: Vec<Option<HashMap<A, NextHopId>>> = vec![None; A::BITS as usize + 1];
        let mut default = None;
        for (p, nh) in routes {
            if p.len() == 0 {
                default = Some(*nh);
            } else {
                by_len[p.len() as usize]
                    .get_or_insert_with(HashMap::new)
                    .insert(p.addr(), *nh);
            }
        }
        let levels: Vec<Level<A>> = by_len
            .into_iter()
            .enumerate()
            .rev()
            .filter_map(|(len, m)| {
                m.map(|mut routes| {
                    routes.shrink_to_fit();
                    // len ≤ 128, fits in u8.
                    let len = len as u8;
                    Level {
                        len,
                        mask: A::mask(len),
                        routes,
                    }
                })
            })
            .collect();
        let count =
            levels.iter().map(|l| l.routes.len()).sum::<usize>() + default.is_some() as usize;
        SimpleLpm {
            levels,
            default,
            count,
        }
    }

    #[inline]
    fn lookup(&self, addr: A) -> Option<NextHopId> {
        for level in &self.levels {
            if let Some(nh) = level.routes.get(&addr.and(level.mask)) {
                return Some(*nh);
            }
        }
        self.default
    }

    fn memory_bytes(&self) -> usize {
        self.levels.capacity() * std::mem::size_of::<Level<A>>()
            + self
                .levels
                .iter()
                .map(|l| l.routes.allocation_size())
                .sum::<usize>()
    }

    fn len(&self) -> usize {
        self.count
    }
}

/// Naive longest-prefix match by linear scan: the oracle for FIB tests. Never use it for
/// forwarding.
#[derive(Clone, Debug, Default)]
pub struct ReferenceLpm<A> {
    routes: Vec<(Prefix<A>, NextHopId)>,
}

impl<A: Addr> Lpm<A> for ReferenceLpm<A> {
    fn build(routes: &[(Prefix<A>, NextHopId)]) -> Self {
        let mut out: Vec<(Prefix<A>, NextHopId)> = Vec::with_capacity(routes.len());
        for (p, nh) in routes {
            match out.iter_mut().find(|(q, _)| q == p) {
                Some(existing) => existing.1 = *nh,
                None => out.push((*p, *nh)),
            }
        }
        ReferenceLpm { routes: out }
    }

    fn lookup(&self, addr: A) -> Option<NextHopId> {
        self.routes
            .iter()
            .filter(|(p, _)| p.contains(addr))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, nh)| *nh)
    }

    fn memory_bytes(&self) -> usize {
        self.routes.capacity() * std::mem::size_of::<(Prefix<A>, NextHopId)>()
    }

    fn len(&self) -> usize {
        self.routes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::{Prefix4, Prefix6};
    type Fib4 = SimpleLpm<u32>;
    use proptest::prelude::*;

    fn p4(s: &str) -> Prefix4 {
        s.parse().unwrap()
    }

    #[test]
    fn longest_match_wins() {
        let routes = [
            (p4("0.0.0.0/0"), NextHopId(1)),
            (p4("10.0.0.0/8"), NextHopId(2)),
            (p4("10.1.0.0/16"), NextHopId(3)),
            (p4("10.1.2.3/32"), NextHopId(4)),
        ];
        let fib = Fib4::build(&routes);
        assert_eq!(fib.len(), 4);
        let ip = |s: &str| u32::from(s.parse::<std::net::Ipv4Addr>().unwrap());
        assert_eq!(fib.lookup(ip("10.1.2.3")), Some(NextHopId(4)));
        assert_eq!(fib.lookup(ip("10.1.2.4")), Some(NextHopId(3)));
        assert_eq!(fib.lookup(ip("10.2.0.0")), Some(NextHopId(2)));
        assert_eq!(fib.lookup(ip("11.0.0.0")), Some(NextHopId(1)));
        assert_eq!(fib.get(&p4("10.1.0.0/16")), Some(NextHopId(3)));
        assert_eq!(fib.get(&p4("10.1.0.0/17")), None);
        let mut all: Vec<_> = fib.iter().collect();
        all.sort();
        let mut expect = routes.to_vec();
        expect.sort();
        assert_eq!(all, expect);
        assert!(fib.memory_bytes() > 0);
        let mut out = [None; 2];
        fib.lookup_bulk(&[ip("10.1.2.3"), ip("12.0.0.0")], &mut out);
        assert_eq!(out, [Some(NextHopId(4)), Some(NextHopId(1))]);
    }

    #[test]
    fn empty_and_later_duplicates_win() {
        let fib = Fib4::build(&[]);
        assert!(fib.is_empty());
        assert_eq!(fib.lookup(0), None);
        let routes = [
            (p4("10.0.0.0/8"), NextHopId(1)),
            (p4("10.0.0.0/8"), NextHopId(2)),
            (p4("0.0.0.0/0"), NextHopId(3)),
            (p4("0.0.0.0/0"), NextHopId(4)),
        ];
        let fib = Fib4::build(&routes);
        assert_eq!(fib.len(), 2);
        assert_eq!(fib.lookup(0x0a00_0001), Some(NextHopId(2)));
        assert_eq!(fib.lookup(0x0b00_0001), Some(NextHopId(4)));
        let r = ReferenceLpm::build(&routes);
        assert_eq!(r.len(), 2);
        assert_eq!(r.lookup(0x0a00_0001), Some(NextHopId(2)));
    }

    /// Route tables whose prefixes overlap a lot: addresses come from a few bases, lengths
    /// cover 0 and the full width.
    fn arb_routes<A>(bases: Vec<A>) -> impl Strategy<Value = Vec<(Prefix<A>, NextHopId)>>
    where
        A: Addr + proptest::arbitrary::Arbitrary + std::ops::BitXor<Output = A>,
    {
        let n = bases.len();
        proptest::collection::vec(
            (0..n, any::<A>(), any::<bool>(), 0..=A::BITS, 0u32..64),
            0..120,
        )
        .prop_map(move |v| {
            v.into_iter()
                .map(|(bi, r, use_base, len, nh)| {
                    let a = if use_base { bases[bi] } else { bases[bi] ^ r };
                    (Prefix::new_truncating(a, len).unwrap(), NextHopId(nh))
                })
                .collect()
        })
    }

    fn check<A: Addr>(
        routes: &[(Prefix<A>, NextHopId)],
        probes: &[A],
    ) -> Result<(), TestCaseError> {
        let fast = SimpleLpm::build(routes);
        let slow = ReferenceLpm::build(routes);
        prop_assert_eq!(fast.len(), slow.len());
        let mut all: Vec<A> = probes.to_vec();
        all.extend(routes.iter().map(|(p, _)| p.addr()));
        for a in &all {
            prop_assert_eq!(fast.lookup(*a), slow.lookup(*a), "address {:?}", a);
        }
        let mut bulk = vec![None; all.len()];
        fast.lookup_bulk(&all, &mut bulk);
        for (a, b) in all.iter().zip(&bulk) {
            prop_assert_eq!(*b, slow.lookup(*a));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn v4_matches_reference(
            routes in arb_routes::<u32>(vec![0, 0x0a00_0000, 0x0a01_0200, 0xc0a8_0001, u32::MAX]),
            probes in proptest::collection::vec(any::<u32>(), 0..100),
            near in proptest::collection::vec((0usize..5, 0u32..65536), 0..100),
        ) {
            let bases = [0u32, 0x0a00_0000, 0x0a01_0200, 0xc0a8_0001, u32::MAX];
            let mut probes = probes;
            probes.extend(near.into_iter().map(|(b, x)| bases[b] ^ x));
            check(&routes, &probes)?;
        }

        #[test]
        fn v6_matches_reference(
            routes in arb_routes::<u128>(vec![0, 0x2001_0db8 << 96, (0x2001_0db8 << 96) | 1, u128::MAX]),
            probes in proptest::collection::vec(any::<u128>(), 0..100),
            near in proptest::collection::vec((0usize..4, any::<u64>()), 0..100),
        ) {
            let bases = [0u128, 0x2001_0db8 << 96, (0x2001_0db8 << 96) | 1, u128::MAX];
            let mut probes = probes;
            probes.extend(near.into_iter().map(|(b, x)| bases[b] ^ u128::from(x)));
            check(&routes, &probes)?;
        }
    }

    #[test]
    fn full_width_prefixes() {
        let routes = [
            (Prefix6::host(u128::MAX), NextHopId(1)),
            (Prefix6::DEFAULT, NextHopId(2)),
            (
                Prefix6::new_truncating(u128::MAX, 127).unwrap(),
                NextHopId(3),
            ),
        ];
        let fib = SimpleLpm::build(&routes);
        assert_eq!(fib.lookup(u128::MAX), Some(NextHopId(1)));
        assert_eq!(fib.lookup(u128::MAX - 1), Some(NextHopId(3)));
        assert_eq!(fib.lookup(0), Some(NextHopId(2)));
    }
}
