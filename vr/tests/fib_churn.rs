//! Live churn: one writer publishes ≥ 100,000 route changes while reader threads look up
//! continuously. The check is exact: each published version carries its generation `g`,
//! and the writer's change schedule is a pure function of `g`, so a reader that loads a
//! version can compute the one correct answer for every probe address in that version.
//! Any torn read (a mix of two versions) or lost update would show up as a mismatch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use vr::fib::update::FibWriter;
use vr::fib::{Lpm, Prefix4};
use vr::NextHopId;

/// Probe slots: slot `j` is the /24 `20.j.0.0/24`... spread over distinct top slots, each
/// covered by a /16 with a fixed next hop (so a deleted /24 falls back to it).
const SLOTS: u32 = 64;
const CHANGES_PER_COMMIT: u64 = 8;
const COMMITS: u64 = 13_000; // 104,000 changes

fn slot_prefix(j: u32) -> Prefix4 {
    Prefix4::new(0x1400_0000 | (j << 16) | (7 << 8), 24).unwrap()
}

fn slot_addr(j: u32) -> u32 {
    0x1400_0000 | (j << 16) | (7 << 8) | 99
}

/// Change number `c` (0-based) touches slot `c % SLOTS`: even rounds set next hop
/// `1000 + c`, odd rounds delete the /24.
fn change(c: u64) -> (u32, Option<u32>) {
    let j = (c % u64::from(SLOTS)) as u32;
    let round = c / u64::from(SLOTS);
    (j, round.is_multiple_of(2).then_some(1000 + c as u32))
}

/// The correct answer for slot `j` after `applied` changes.
fn expected(j: u32, applied: u64) -> NextHopId {
    // Last change to slot j before `applied`, if any.
    let s = u64::from(SLOTS);
    if applied <= u64::from(j) {
        return NextHopId(j); // the covering /16
    }
    let last = (applied - 1 - u64::from(j)) / s * s + u64::from(j);
    match change(last).1 {
        Some(nh) => NextHopId(nh),
        None => NextHopId(j),
    }
}

#[test]
fn readers_see_exactly_one_version_during_100k_changes() {
    let mut base: Vec<(Prefix4, NextHopId)> = (0..SLOTS)
        .map(|j| {
            (
                Prefix4::new(0x1400_0000 | (j << 16), 16).unwrap(),
                NextHopId(j),
            )
        })
        .collect();
    // Background routes so the table has a realistic shape and size.
    base.extend(
        vr::fib::gen::routes_v4(20_000, 77)
            .into_iter()
            .filter(|(p, _)| p.addr() >> 24 != 20),
    );
    let mut writer = FibWriter::new(&base);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let reader = writer.reader();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let addrs: Vec<u32> = (0..SLOTS).map(slot_addr).collect();
                let mut out = vec![None; addrs.len()];
                let mut checked = 0u64;
                let mut last_gen = 0;
                while !stop.load(Ordering::Relaxed) {
                    let v = reader.load();
                    let g = v.generation();
                    assert!(
                        g >= last_gen,
                        "reader {r}: generation went back {last_gen} -> {g}"
                    );
                    last_gen = g;
                    let applied = g * CHANGES_PER_COMMIT;
                    v.lookup_bulk(&addrs, &mut out);
                    for j in 0..SLOTS {
                        let want = Some(expected(j, applied));
                        assert_eq!(
                            out[j as usize], want,
                            "reader {r}, generation {g}, slot {j} (bulk)"
                        );
                        assert_eq!(
                            v.lookup(addrs[j as usize]),
                            want,
                            "reader {r}, generation {g}, slot {j}"
                        );
                    }
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    let mut c = 0u64;
    for _ in 0..COMMITS {
        for _ in 0..CHANGES_PER_COMMIT {
            let (j, nh) = change(c);
            match nh {
                Some(nh) => {
                    writer.set(slot_prefix(j), NextHopId(nh));
                }
                None => {
                    writer.delete(&slot_prefix(j));
                }
            }
            c += 1;
        }
        writer.commit();
    }
    stop.store(true, Ordering::Relaxed);
    let checked: u64 = readers
        .into_iter()
        .map(|h| h.join().expect("reader panicked"))
        .sum();
    assert!(checked > 0, "readers ran");
    assert!(c >= 100_000);
    let last = writer.current();
    for j in 0..SLOTS {
        assert_eq!(last.lookup(slot_addr(j)), Some(expected(j, c)));
    }
    // Every retired version is freed once no reader holds it.
    writer.commit();
    drop(writer);
}
