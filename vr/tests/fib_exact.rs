//! Exactness of the poptrie FIB against the straightforward LPMs: on generated full-shape
//! tables (IPv4 and IPv6), after random add/delete sequences published incrementally, and
//! on the real January 2024 table when `VAROUTER_BGP_TABLE` points at an uncompressed copy
//! (`zcat ../shared/data/bgp-full-2024-01.txt.gz > /tmp/bgp.txt`).

use std::collections::HashMap;

use proptest::prelude::*;
use vr::fib::gen::{self, RandomBits, SplitMix64};
use vr::fib::poptrie::{Poptrie, Trie4, Trie6, TrieKey};
use vr::fib::simple::{ReferenceLpm, SimpleLpm};
use vr::fib::update::{FibWriter, RouteChange};
use vr::fib::{Lpm, Prefix, Prefix4};
use vr::NextHopId;

fn check_against<A: TrieKey + RandomBits>(
    routes: &[(Prefix<A>, NextHopId)],
    samples: usize,
    seed: u64,
) {
    let fast = Poptrie::<A>::build(routes);
    let reference = SimpleLpm::build(routes);
    assert_eq!(fast.len(), reference.len());
    let mut addrs = gen::addrs_in_routes(routes, samples, seed);
    let mut rng = SplitMix64::new(seed);
    addrs.extend((0..samples / 4).map(|_| A::random_bits(&mut rng)));
    let mut bulk = vec![None; addrs.len()];
    fast.lookup_bulk(&addrs, &mut bulk);
    for (a, b) in addrs.iter().zip(&bulk) {
        let want = reference.lookup(*a);
        assert_eq!(fast.lookup(*a), want, "address {a:?}");
        assert_eq!(*b, want, "bulk, address {a:?}");
    }
}

#[test]
fn generated_v4_table_matches_reference() {
    check_against(&gen::routes_v4(200_000, 42), 300_000, 1);
}

#[test]
fn generated_v6_table_matches_reference() {
    check_against(&gen::routes_v6(50_000, 42), 200_000, 2);
}

#[test]
fn every_top_width_matches_naive_reference() {
    let routes = gen::routes_v4(2_000, 9);
    let naive = ReferenceLpm::build(&routes);
    let rib = vr::fib::poptrie::Rib::from_routes(&routes);
    for s in [1, 6, 7, 12, 16, 18] {
        let t = Trie4::from_rib_with(&rib, s);
        for a in gen::addrs_in_routes(&routes, 5_000, s.into()) {
            assert_eq!(t.lookup(a), naive.lookup(a), "top bits {s}, address {a:#x}");
        }
    }
}

#[test]
fn tiny_vr_tables_stay_small() {
    for seed in 0..50 {
        let t4 = Trie4::build(&gen::routes_v4(100, seed));
        let t6 = Trie6::build(&gen::routes_v6(100, seed));
        assert!(
            t4.memory_bytes() <= 64 * 1024,
            "v4 {} bytes",
            t4.memory_bytes()
        );
        assert!(
            t6.memory_bytes() <= 64 * 1024,
            "v6 {} bytes",
            t6.memory_bytes()
        );
    }
}

/// Reads `prefix [nexthop]` lines of one family from the real table, if provided.
fn real_table<A: TrieKey>() -> Option<Vec<(Prefix<A>, NextHopId)>> {
    let path = std::env::var_os("VAROUTER_BGP_TABLE")?;
    let text = std::fs::read_to_string(&path).expect("VAROUTER_BGP_TABLE is readable");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((addr, len)) = line
            .split_whitespace()
            .next()
            .and_then(|p| p.split_once('/'))
        else {
            continue;
        };
        if addr.contains(':') != (A::BITS == 128) {
            continue;
        }
        let a = A::parse_addr(addr).expect("address");
        let p = Prefix::new_truncating(a, len.parse().expect("length")).expect("prefix");
        out.push((p, NextHopId(i as u32 % 1000 + 1)));
    }
    Some(out)
}

#[test]
fn real_full_table_matches_reference_when_present() {
    if let Some(routes) = real_table::<u32>() {
        check_against(&routes, 1_000_000, 3);
    }
    if let Some(routes) = real_table::<u128>() {
        check_against(&routes, 500_000, 4);
    }
}

fn arb_change() -> impl Strategy<Value = RouteChange<u32>> {
    // A small address space (10.0.0.0/14) so changes collide, nest and delete real routes.
    // Next hops 6 and 7 are ≥ 2^30 (the poptrie's side table of large next hops).
    (any::<u32>(), 0u8..=32, 0u32..8, any::<bool>()).prop_map(|(a, len, nh, del)| {
        let a = 0x0A00_0000 | (a & 0x0003_FFFF);
        let nh = if nh >= 6 { (1 << 30) + nh } else { nh };
        let p = Prefix4::new_truncating(a, len.max(6)).unwrap();
        if del {
            RouteChange::Delete(p)
        } else {
            RouteChange::Set(p, NextHopId(nh))
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every commit is checked against a reference built from the truth, with and without
    /// double buffering (`double`: every table keeps a spare that the next commit rewrites
    /// in place). `hold[i]` keeps a reader's guard on the version published before batch
    /// `i` across that batch's commit and the next one: at the second, the held version is
    /// the spare, so that commit must copy instead of writing into it, and the held version
    /// must still give its old answers.
    #[test]
    fn incremental_updates_equal_fresh_build(
        base in 0usize..400,
        batches in proptest::collection::vec(proptest::collection::vec(arb_change(), 0..40), 1..12),
        probes in proptest::collection::vec(any::<u32>(), 200),
        double in any::<bool>(),
        hold in proptest::collection::vec(any::<bool>(), 12),
    ) {
        let initial: Vec<_> = gen::routes_v4(base, 5);
        let mut writer = FibWriter::new(&initial);
        writer.set_spare_min_bytes(if double { 0 } else { usize::MAX });
        let mut truth: HashMap<Prefix4, NextHopId> = initial.iter().copied().collect();
        let addrs: Vec<u32> = probes
            .iter()
            .map(|a| 0x0A00_0000 | (a & 0x0003_FFFF))
            .chain(probes.iter().copied())
            .collect();
        let mut previous: Vec<Option<NextHopId>> = {
            let v = writer.reader().load();
            addrs.iter().map(|a| v.lookup(*a)).collect()
        };
        let mut held = Vec::new();
        for (i, batch) in batches.iter().enumerate() {
            if hold[i] {
                held.push((i, writer.reader().load(), previous.clone()));
            }
            writer.apply(batch);
            for c in batch {
                match c {
                    RouteChange::Set(p, nh) => { truth.insert(*p, *nh); }
                    RouteChange::Delete(p) => { truth.remove(p); }
                }
            }
            writer.commit();
            for (_, old, answers) in &held {
                for (a, want) in addrs.iter().zip(answers) {
                    prop_assert_eq!(old.lookup(*a), *want, "held version, address {:#x}", a);
                }
            }
            held.retain(|(j, _, _)| j + 2 > i + 1);
            let routes: Vec<_> = truth.iter().map(|(p, nh)| (*p, *nh)).collect();
            let reference = ReferenceLpm::build(&routes);
            let published = writer.reader().load();
            prop_assert_eq!(published.check_layout(), Ok(()));
            prop_assert_eq!(published.len(), routes.len());
            let mut bulk = vec![None; addrs.len()];
            published.lookup_bulk(&addrs, &mut bulk);
            for (a, b) in addrs.iter().zip(&bulk) {
                let want = reference.lookup(*a);
                prop_assert_eq!(published.lookup(*a), want, "address {:#x}", a);
                prop_assert_eq!(*b, want, "bulk, address {:#x}", a);
            }
            previous = addrs.iter().map(|a| reference.lookup(*a)).collect();
        }
        if !double {
            prop_assert_eq!(writer.in_place_commits(), 0);
        }
        // Nothing holds an old version now: the next commit frees what was retired.
        drop(held);
        writer.set(Prefix4::new(0x0B00_0000, 8).unwrap(), NextHopId(999_999));
        writer.commit();
        prop_assert_eq!(writer.retired_versions(), 0);
    }
}

/// One generated change: `kind` 0–1 announces a new prefix (`bits`, `len` inside the test's
/// region), 2 withdraws and 3 replaces the next hop of an existing route (`pick` chooses it
/// among the initial routes, so withdrawals and replacements hit real routes of a large
/// table), 4 withdraws the generated prefix (often absent, sometimes just announced).
type Spec = (u128, u8, u32, u8, usize);

fn arb_spec() -> impl Strategy<Value = Spec> {
    (any::<u128>(), 0u8..=255, 0u32..8, 0u8..5, any::<usize>())
}

/// Turns specs into changes: `region(bits, len)` makes the prefix of a new route.
fn changes_from<A: TrieKey>(
    specs: &[Spec],
    initial: &[(Prefix<A>, NextHopId)],
    region: &dyn Fn(u128, u8) -> Prefix<A>,
) -> Vec<RouteChange<A>> {
    specs
        .iter()
        .map(|&(bits, len, nh, kind, pick)| {
            // Next hops 6 and 7 are ≥ 2^30 (the poptrie's side table of large next hops).
            let nh = NextHopId(if nh >= 6 { (1 << 30) + nh } else { nh + 1 });
            let old = initial.get(pick % initial.len().max(1)).map(|r| r.0);
            match (kind, old) {
                (2, Some(p)) => RouteChange::Delete(p),
                (3, Some(p)) => RouteChange::Set(p, nh),
                (4, _) => RouteChange::Delete(region(bits, len)),
                _ => RouteChange::Set(region(bits, len), nh),
            }
        })
        .collect()
}

/// Applies `batches` to a writer loaded with `initial`, one commit per batch, and checks
/// every published version against a reference built from the truth (single and bulk
/// lookups of `probes` plus addresses inside every route of the truth's changed prefixes).
fn check_stream<A: TrieKey + RandomBits>(
    initial: &[(Prefix<A>, NextHopId)],
    batches: &[Vec<RouteChange<A>>],
    probes: &[A],
    double: bool,
) -> Result<(), TestCaseError> {
    let mut writer = FibWriter::new(initial);
    writer.set_spare_min_bytes(if double { 0 } else { usize::MAX });
    let mut truth: HashMap<Prefix<A>, NextHopId> = initial.iter().copied().collect();
    let mut addrs: Vec<A> = probes.to_vec();
    for batch in batches {
        writer.apply(batch);
        for c in batch {
            match c {
                RouteChange::Set(p, nh) => {
                    truth.insert(*p, *nh);
                    addrs.push(p.addr());
                }
                RouteChange::Delete(p) => {
                    truth.remove(p);
                    addrs.push(p.addr());
                }
            }
        }
        writer.commit();
        let routes: Vec<_> = truth.iter().map(|(p, nh)| (*p, *nh)).collect();
        let reference = SimpleLpm::build(&routes);
        let published = writer.reader().load();
        // Subtrees in their blocks, no two blocks overlapping (in-place rewrites).
        prop_assert_eq!(published.check_layout(), Ok(()));
        prop_assert_eq!(published.len(), routes.len());
        prop_assert_eq!(writer.rib().len(), routes.len());
        let mut bulk = vec![None; addrs.len()];
        published.lookup_bulk(&addrs, &mut bulk);
        for (a, b) in addrs.iter().zip(&bulk) {
            let want = reference.lookup(*a);
            prop_assert_eq!(published.lookup(*a), want, "address {:?}", a);
            prop_assert_eq!(*b, want, "bulk, address {:?}", a);
        }
    }
    // The incrementally maintained table answers like a fresh build of the same routes.
    let routes: Vec<_> = truth.into_iter().collect();
    let fresh = Poptrie::<A>::build(&routes);
    let published = writer.reader().load();
    for a in &addrs {
        prop_assert_eq!(
            published.lookup(*a),
            fresh.lookup(*a),
            "fresh build, {:?}",
            a
        );
    }
    Ok(())
}

/// IPv4 prefixes in 10.0.0.0/12 (64 slots of the RIB's 18-bit split), lengths 6..=32 with
/// most of them around and past the split.
fn region4(bits: u128, len: u8) -> Prefix4 {
    let len = [6, 8, 11, 12, 14, 16, 17, 18, 19, 20, 22, 24, 24, 25, 28, 32][usize::from(len) % 16];
    Prefix4::new_truncating(0x0A00_0000 | (bits as u32 & 0x000F_FFFF), len).unwrap()
}

/// IPv4 prefixes in 10.0.0.0/16 (four 18-bit slots), almost all longer than /18 (a change
/// of a /18 repaints its whole slot), so that a few slots' subtrees change shape all the
/// time and their untouched children are reused.
fn region_few4(bits: u128, len: u8) -> Prefix4 {
    let len = [
        14, 17, 18, 19, 20, 21, 22, 23, 24, 24, 24, 25, 26, 28, 30, 32,
    ][usize::from(len) % 16];
    Prefix4::new_truncating(0x0A00_0000 | (bits as u32 & 0x0000_FFFF), len).unwrap()
}

/// IPv6 prefixes in 2001:d00::/24 with random bits down to /56, lengths 10..=128.
fn region6(bits: u128, len: u8) -> Prefix<u128> {
    let len = [
        10, 16, 17, 18, 19, 20, 24, 29, 32, 32, 40, 44, 48, 56, 64, 128,
    ][usize::from(len) % 16];
    let window = (u128::MAX >> 24) & !(u128::MAX >> 56);
    let a = (0x2001_0d00u128 << 96) | (bits & window) | (bits & 0xFF);
    Prefix::new_truncating(a, len).unwrap()
}

fn probes4(raw: &[u128]) -> Vec<u32> {
    raw.iter()
        .flat_map(|&r| [0x0A00_0000 | (r as u32 & 0x000F_FFFF), r as u32])
        .collect()
}

fn probes6(raw: &[u128]) -> Vec<u128> {
    raw.iter()
        .flat_map(|&r| [(0x2001_0d00u128 << 96) | (r & (u128::MAX >> 24)), r])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Interleaved announce / withdraw / replace streams in commits of varying size on a
    /// table large enough for the 18-bit top array (every top slot one RIB slot list),
    /// checked after every commit.
    #[test]
    fn streams_on_a_large_v4_table_match_reference(
        seed in 0u64..1000,
        batches in proptest::collection::vec(proptest::collection::vec(arb_spec(), 0..300), 1..6),
        raw in proptest::collection::vec(any::<u128>(), 300),
        double in any::<bool>(),
    ) {
        let mut initial = gen::routes_v4(20_000, seed);
        // Routes inside the region too, so that changes nest in and replace them.
        initial.extend((0..2000u32).map(|i| {
            let x = u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (region4(x, (i % 16) as u8), NextHopId(100 + i % 50))
        }));
        let batches: Vec<_> = batches.iter().map(|b| changes_from(b, &initial, &region4)).collect();
        let mut probes = probes4(&raw);
        probes.extend(gen::addrs_in_routes(&initial, 500, seed));
        check_stream(&initial, &batches, &probes, double)?;
    }

    /// Many small commits on a few slots of a large table: the same slots' subtrees grow
    /// and shrink commit after commit (kept in their blocks, moved to bigger or smaller
    /// ones, freed when they become leaves, their blocks reused by others), the spare
    /// catches up with the previous commit's slots every time, and the slots (hundreds of
    /// routes each) are repainted reusing their untouched children.
    #[test]
    fn block_churn_on_few_slots_matches_reference(
        seed in 0u64..1000,
        batches in proptest::collection::vec(proptest::collection::vec(arb_spec(), 0..25), 1..40),
        raw in proptest::collection::vec(any::<u128>(), 100),
        double in any::<bool>(),
    ) {
        let mut initial = gen::routes_v4(20_000, seed);
        // Hundreds of routes per slot: dirty slots reuse their old children that no change
        // touches instead of painting them again.
        initial.extend((0..2400u32).map(|i| {
            let x = u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (region_few4(x, (i % 16) as u8), NextHopId(100 + i % 50))
        }));
        let batches: Vec<_> = batches.iter().map(|b| changes_from(b, &initial, &region_few4)).collect();
        let probes: Vec<u32> = raw.iter().map(|&r| 0x0A00_0000 | (r as u32 & 0x0000_FFFF)).collect();
        check_stream(&initial, &batches, &probes, double)?;
    }

    /// The same on small IPv4 tables (6- and 12-bit top arrays: a top slot spans many RIB
    /// slots and short routes below it).
    #[test]
    fn streams_on_small_v4_tables_match_reference(
        base in 0usize..3000,
        batches in proptest::collection::vec(proptest::collection::vec(arb_spec(), 0..80), 1..10),
        raw in proptest::collection::vec(any::<u128>(), 200),
        double in any::<bool>(),
    ) {
        let initial = gen::routes_v4(base, 7);
        let batches: Vec<_> = batches.iter().map(|b| changes_from(b, &initial, &region4)).collect();
        check_stream(&initial, &batches, &probes4(&raw), double)?;
    }

    /// IPv6, small and large tables.
    #[test]
    fn streams_on_v6_tables_match_reference(
        base in prop_oneof![0usize..300, 17_000usize..18_000],
        batches in proptest::collection::vec(proptest::collection::vec(arb_spec(), 0..200), 1..6),
        raw in proptest::collection::vec(any::<u128>(), 200),
        double in any::<bool>(),
    ) {
        let mut initial = gen::routes_v6(base, 8);
        initial.extend((0..500u32).map(|i| {
            let x = u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
            (region6(x, (i % 16) as u8), NextHopId(100 + i % 50))
        }));
        let batches: Vec<_> = batches.iter().map(|b| changes_from(b, &initial, &region6)).collect();
        let mut probes = probes6(&raw);
        probes.extend(gen::addrs_in_routes(&initial, 300, 3));
        check_stream(&initial, &batches, &probes, double)?;
    }
}
