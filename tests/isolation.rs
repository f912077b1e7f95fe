//! VRF isolation matrix, after VPP's multi-instance VRF test: 8 VRs with identical
//! (overlapping) prefixes plus one prefix unique to each VR; traffic from every ingress
//! (each VR's customer VLAN, each VR's VPN label on the trunk, an unknown label, an unbound
//! VLAN) to every destination. Every packet must leave exactly where its VR's table says,
//! or be dropped with the named counter — zero leaks, on two workers.

use dataplane::counters::Drop;
use std::fmt::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use varouter::appliance::{run, RunOptions};

const VRS: u32 = 8;
const N: u64 = 20;

#[derive(Clone, Copy)]
enum Src {
    Vlan(u32),
    Label(u32),
    UnknownLabel,
    UnboundVlan,
}

#[derive(Clone, Copy)]
enum Dst {
    Site1,
    Site2,
    Unique(u32),
    Nowhere,
    Site1V6,
}

fn addr(d: Dst) -> (&'static str, String) {
    match d {
        Dst::Site1 => ("10.1.0.5", "10.1.0.1-10.1.0.200".into()),
        Dst::Site2 => ("10.1.0.5", "10.2.0.1-10.2.0.200".into()),
        Dst::Unique(j) => (
            "10.1.0.5",
            format!("10.{}.0.1-10.{}.0.50", 100 + j, 100 + j),
        ),
        Dst::Nowhere => ("10.1.0.5", "10.250.0.1".into()),
        Dst::Site1V6 => ("fd00:2::5", "fd00:1::1-fd00:1::ff".into()),
    }
}

/// Expected egress as YAML, or None (must be dropped) with the counter that must count it.
fn expect(s: Src, d: Dst) -> Result<String, Drop> {
    let vr = match s {
        Src::Vlan(i) | Src::Label(i) => i,
        Src::UnknownLabel => return Err(Drop::LabelUnknown),
        Src::UnboundVlan => return Err(Drop::NoInterface),
    };
    let local = format!("{{ port: access0, vlan: {} }}", 100 + vr);
    match d {
        Dst::Site1 | Dst::Site1V6 => Ok(local),
        Dst::Site2 => Ok(format!(
            "{{ port: trunk0, labels: [16001, {}] }}",
            1000 + vr
        )),
        Dst::Unique(j) if j == vr => Ok(local),
        Dst::Unique(_) | Dst::Nowhere => Err(Drop::NoRoute),
    }
}

fn profile(flows: &[(Src, Dst)]) -> String {
    let mut y = String::from(
        "router_id: 192.0.2.1\ncores: { workers: [0, 1] }\nports:\n  \
         - { name: access0, backend: mem, mac: \"02:00:00:00:00:01\" }\n  \
         - { name: trunk0, backend: mem, mac: \"02:00:00:00:00:02\", trunk: true, addresses: [192.0.2.1/30] }\n\
         virtual_routers:\n",
    );
    for i in 1..=VRS {
        let _ = write!(
            y,
            "  - id: {i}\n    name: vr{i}\n    vpn_id: \"00a0c9:{i:08x}\"\n    tenant: t{i}\n    interfaces:\n      \
             - {{ port: access0, vlan: {v}, addresses: [10.255.0.1/30, \"fd00:ff::1/64\"] }}\n    routes:\n      \
             - {{ prefix: 10.1.0.0/16, via: 10.255.0.2 }}\n      \
             - {{ prefix: \"fd00:1::/48\", via: \"fd00:ff::2\" }}\n      \
             - {{ prefix: 10.2.0.0/16, via: 192.0.2.2, push: [16001, {l}] }}\n      \
             - {{ prefix: 10.{u}.0.0/16, via: 10.255.0.2 }}\n",
            v = 100 + i,
            l = 1000 + i,
            u = 100 + i
        );
    }
    y.push_str("neighbors:\n  - { port: trunk0, ip: 192.0.2.2, mac: \"02:00:00:00:ff:02\" }\n");
    for i in 1..=VRS {
        let _ = writeln!(
            y,
            "  - {{ port: access0, vlan: {}, ip: 10.255.0.2, mac: \"02:00:00:00:{i:02x}:02\" }}",
            100 + i
        );
        let _ = writeln!(y, "  - {{ port: access0, vlan: {}, ip: \"fd00:ff::2\", mac: \"02:00:00:00:{i:02x}:02\" }}", 100 + i);
    }
    y.push_str("label_matrix:\n");
    for i in 1..=VRS {
        let _ = writeln!(y, "  - {{ label: {}, action: pop, vr: vr{i} }}", 2000 + i);
    }
    y.push_str("traffic:\n  flows:\n");
    for (n, (s, d)) in flows.iter().enumerate() {
        let (src, dst) = addr(*d);
        let src = if matches!(d, Dst::Site1V6) {
            "fd00:2::5"
        } else {
            src
        };
        let ingress = match s {
            Src::Vlan(i) => format!("port: access0, vlan: {}", 100 + i),
            Src::Label(i) => format!("port: trunk0, labels: [{}]", 2000 + i),
            Src::UnknownLabel => "port: trunk0, labels: [2999]".into(),
            Src::UnboundVlan => "port: access0, vlan: 200".into(),
        };
        let _ = write!(
            y,
            "    - {{ name: f{n}, {ingress}, src: \"{src}\", dst: \"{dst}\", count: {N}"
        );
        if let Ok(e) = expect(*s, *d) {
            let _ = write!(y, ", expect: {e}");
        }
        y.push_str(" }\n");
    }
    y
}

#[test]
fn every_ingress_to_every_destination() {
    let mut srcs: Vec<Src> = (1..=VRS).map(Src::Vlan).collect();
    srcs.extend((1..=VRS).map(Src::Label));
    srcs.extend([Src::UnknownLabel, Src::UnboundVlan]);
    let mut dsts = vec![Dst::Site1, Dst::Site2, Dst::Nowhere, Dst::Site1V6];
    dsts.extend((1..=VRS).map(Dst::Unique));
    let flows: Vec<(Src, Dst)> = srcs
        .iter()
        .flat_map(|s| dsts.iter().map(move |d| (*s, *d)))
        .collect();
    let yaml = profile(&flows);
    let cfg = varouter::parse_config(std::path::Path::new("isolation.yaml"), &yaml)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let opts = RunOptions {
        duration: Some(std::time::Duration::from_secs(60)),
        until_inputs_finished: true,
        stats_every: None,
    };
    let s = run(&cfg, &opts, Arc::new(AtomicBool::new(false))).expect("run");

    let mut want_drops = std::collections::HashMap::new();
    for ((src, dst), f) in flows.iter().zip(&s.flows) {
        assert_eq!(f.sent, N, "{}", f.name);
        assert_eq!(f.misdelivered, 0, "flow {} leaked", f.name);
        match expect(*src, *dst) {
            Ok(_) => assert_eq!(f.delivered, N, "flow {} not delivered", f.name),
            Err(d) => {
                assert_eq!(f.delivered, 0, "{}", f.name);
                *want_drops.entry(d).or_insert(0) += N;
            }
        }
    }
    assert_eq!(s.misdelivered(), 0);
    let total_expected_drops: u64 = want_drops.values().sum();
    for (d, n) in &want_drops {
        assert_eq!(s.totals.drop_count(*d), *n, "{}", d.name());
    }
    assert_eq!(
        s.totals.total_drops(),
        total_expected_drops,
        "{:?}",
        s.totals.drops
    );
    assert_eq!(s.foreign.iter().sum::<u64>(), 0, "unattributed frames");
    for v in &s.vrs {
        assert_eq!(v.misdelivered, 0, "{}", v.name);
        assert!(v.delivered > 0, "{}", v.name);
    }
}
