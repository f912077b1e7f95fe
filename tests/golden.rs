//! Golden capture tests: for each case under `tests/golden/`, replay `in.pcap` through the
//! case's profile and compare every capture the router writes byte for byte with
//! `expected/`. The counters each case must produce are asserted too, so every dropped
//! input is accounted for by name.
//!
//! Inputs are crafted by scapy (`tests/golden/make_inputs.py`); `scripts/test` also has
//! tshark decode every expected capture and fail on malformed packets or bad checksums.
//! To regenerate the expected captures after an intended change:
//! `VAROUTER_BLESS=1 cargo test --test golden` (then review them with tshark).

mod common;

use common::TestDir;
use dataplane::counters::{Drop, Punt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use varouter::appliance::{run, RunOptions, Summary};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

/// Runs `case` in a scratch directory, which the caller holds until its checks are done
/// (removed when they pass, kept when one fails).
fn run_case(case: &str) -> (Summary, TestDir) {
    let src = case_dir(case);
    let tmp = TestDir::new(&format!("golden-{case}"));
    for f in ["profile.yaml", "in.pcap"] {
        std::fs::copy(src.join(f), tmp.join(f)).unwrap();
    }
    let cfg = varouter::load_config(&tmp.join("profile.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let opts = RunOptions {
        duration: Some(std::time::Duration::from_secs(20)),
        until_inputs_finished: true,
        stats_every: None,
    };
    let s = run(&cfg, &opts, Arc::new(AtomicBool::new(false))).expect("run");
    (s, tmp)
}

fn compare_outputs(case: &str, tmp: &Path) {
    let expected = case_dir(case).join("expected");
    let bless = std::env::var_os("VAROUTER_BLESS").is_some();
    let mut outs: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("out-"))
        .collect();
    outs.sort();
    assert!(!outs.is_empty(), "{case}: the router wrote no capture");
    if bless {
        std::fs::create_dir_all(&expected).unwrap();
    }
    for out in outs {
        let name = out.file_name().unwrap();
        let exp = expected.join(name);
        let got = std::fs::read(&out).unwrap();
        if bless {
            std::fs::write(&exp, &got).unwrap();
            continue;
        }
        let want = std::fs::read(&exp)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with VAROUTER_BLESS=1)", exp.display()));
        assert!(
            got == want,
            "{case}: {} differs from {}",
            out.display(),
            exp.display()
        );
    }
}

fn drops(s: &Summary) -> Vec<(&'static str, u64)> {
    s.totals
        .drops
        .iter()
        .filter(|d| d.1 > 0)
        .map(|d| (d.0.name(), d.1))
        .collect()
}

fn punts(s: &Summary) -> Vec<(&'static str, u64)> {
    s.punted
        .iter()
        .filter(|p| p.1 > 0)
        .map(|p| (p.0.name(), p.1))
        .collect()
}

#[test]
fn vpn_ingress() {
    let (s, tmp) = run_case("vpn_ingress");
    compare_outputs("vpn_ingress", tmp.path());
    assert_eq!(s.rx_packets(), 14);
    // 1-4 to the trunk, 5 hairpinned to CE-B.
    assert_eq!(s.totals.ports[1].1, 4, "trunk tx");
    assert_eq!(s.totals.ports[0].1, 1, "access tx");
    let mut d = drops(&s);
    d.sort();
    let mut want = vec![
        (Drop::NoRoute.name(), 1),
        (Drop::Ipv4BadChecksum.name(), 1),
        (Drop::LabelledOnCustomerPort.name(), 1),
        (Drop::NoInterface.name(), 1),
        (Drop::Ipv4Malformed.name(), 1),
        (Drop::L2NotForUs.name(), 1),
        (Drop::Blackhole.name(), 1),
    ];
    want.sort();
    assert_eq!(d, want);
    let mut p = punts(&s);
    p.sort();
    assert_eq!(
        p,
        vec![(Punt::Local.name(), 1), (Punt::TtlExpired.name(), 1)]
    );
}

#[test]
fn label_switch() {
    let (s, tmp) = run_case("label_switch");
    compare_outputs("label_switch", tmp.path());
    assert_eq!(s.rx_packets(), 6);
    assert_eq!(s.totals.ports[1].1, 2, "trunk1 tx");
    let mut d = drops(&s);
    d.sort();
    let mut want = vec![
        (Drop::LabelUnknown.name(), 1),
        (Drop::MplsTtlExpired.name(), 1),
        (Drop::MplsMalformed.name(), 1),
        (Drop::UnlabelledOnTrunk.name(), 1),
    ];
    want.sort();
    assert_eq!(d, want);
}

#[test]
fn vpn_egress() {
    let (s, tmp) = run_case("vpn_egress");
    compare_outputs("vpn_egress", tmp.path());
    assert_eq!(s.rx_packets(), 7);
    assert_eq!(s.totals.ports[0].1, 4, "access tx");
    let mut d = drops(&s);
    d.sort();
    let mut want = vec![
        (Drop::MplsPopNotBottom.name(), 1),
        (Drop::NoRoute.name(), 2),
    ];
    want.sort();
    assert_eq!(d, want);
    // Per-VR accounting: A forwarded 1, 3, 6; B forwarded 2.
    let a = s.vrs.iter().find(|v| v.name == "A").unwrap();
    let b = s.vrs.iter().find(|v| v.name == "B").unwrap();
    assert_eq!((a.tx, b.tx), (3, 1));
}
