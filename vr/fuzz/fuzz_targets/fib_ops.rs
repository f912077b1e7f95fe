//! Fuzzes insert/delete/commit/lookup sequences on the incrementally published poptrie FIB:
//! after every commit, lookups must equal a linear-scan LPM over the routes applied so far,
//! the published table must equal a fresh build, and its heap layout must be consistent
//! (`Poptrie::check_layout`).
//!
//! Input: 6-byte records `[op, a0, a1, a2, a3, len_or_nh]`.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use vr::fib::poptrie::Trie4;
use vr::fib::update::FibWriter;
use vr::fib::{Lpm, Prefix4};
use vr::NextHopId;

fn naive(routes: &HashMap<Prefix4, NextHopId>, a: u32) -> Option<NextHopId> {
    routes
        .iter()
        .filter(|(p, _)| p.contains(a))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, nh)| *nh)
}

fuzz_target!(|data: &[u8]| {
    let mut writer = FibWriter::<u32>::new(&[]);
    let mut truth: HashMap<Prefix4, NextHopId> = HashMap::new();
    let mut probes = Vec::new();
    for rec in data.chunks_exact(6) {
        let addr = u32::from_be_bytes([rec[1], rec[2], rec[3], rec[4]]);
        let len = rec[5] % 33;
        let Ok(p) = Prefix4::new_truncating(addr, len) else {
            return;
        };
        probes.push(addr);
        match rec[0] % 4 {
            0 | 1 => {
                let nh = NextHopId(u32::from(rec[0] >> 2));
                writer.set(p, nh);
                truth.insert(p, nh);
            }
            2 => {
                writer.delete(&p);
                truth.remove(&p);
            }
            _ => {
                writer.commit();
                let published = writer.reader().load();
                assert_eq!(published.check_layout(), Ok(()));
                let routes: Vec<_> = truth.iter().map(|(p, nh)| (*p, *nh)).collect();
                let fresh = Trie4::build(&routes);
                assert_eq!(published.len(), truth.len());
                for &a in probes.iter().chain([0, u32::MAX, addr ^ 1].iter()) {
                    let want = naive(&truth, a);
                    assert_eq!(published.lookup(a), want);
                    assert_eq!(fresh.lookup(a), want);
                }
            }
        }
    }
});
