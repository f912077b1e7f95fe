//! Profile reloads applied to a running control core (no ports): compared with the running
//! configuration, applied live through the incremental writer, or refused with nothing
//! applied. The CLI side (SIGHUP, generator traffic across a reload) is in `tests/cli.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::Core;
use controlplane::l2tp::engine::Role;
use controlplane::l2tp::service::L2tpService;
use dataplane::buffer::{HeapAlloc, HeapBuf};
use dataplane::pipeline::PortInfo;
use dataplane::punt::InjectRing;
use varouter::config::Config;
use varouter::reload::{apply, Outcome};
use vr::{IfBinding, IfKey, NextHop, PortId, VrId};

/// Two ports, VR A (VLAN 10) and B (VLAN 20), each with a route; optional extras.
fn profile(extra_vrs: &str, b_vlan: u16, b_routes: &str, a_role: &str, mtu: u32) -> String {
    format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: access, backend: mem, mac: "02:00:00:00:00:01", mtu: {mtu} }}
  - {{ name: trunk, backend: mem, mac: "02:00:00:00:00:02", trunk: true, addresses: [192.0.2.1/30] }}
virtual_routers:
  - id: 1
    name: A
    vpn_id: "00a0c9:00000001"
    tenant: t
    interfaces: [{{ port: access, vlan: 10, addresses: [10.0.1.1/24] }}]
    routes: [{{ prefix: 10.1.0.0/16, via: 10.0.1.2 }}]
    l2tp: {{ role: {a_role}, local: 10.0.1.1, hostname: a, peers: [10.0.1.2] }}
  - id: 2
    name: B
    vpn_id: "00a0c9:00000002"
    tenant: t
    interfaces: [{{ port: access, vlan: {b_vlan}, addresses: [10.0.2.1/24] }}]
    routes: [{b_routes}]
{extra_vrs}neighbors:
  - {{ port: trunk, ip: 192.0.2.2, mac: "02:00:00:00:ff:02" }}
label_matrix:
  - {{ label: 2001, action: pop, vr: A }}
"#
    )
}

fn base() -> String {
    profile(
        "",
        20,
        "{ prefix: 10.2.0.0/16, via: 10.0.2.2 }",
        "lns",
        1500,
    )
}

fn cfg(text: &str) -> Config {
    varouter::parse_config(Path::new("test.yaml"), text).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

struct Rig {
    core: Core<HeapBuf>,
    running: Config,
    t0: Instant,
}

fn rig(text: &str) -> Rig {
    let running = cfg(text);
    let writer = varouter::appliance::initial_state(&running, 1).unwrap();
    let ports: Arc<[PortInfo]> = running
        .ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: p.mtu,
        })
        .collect();
    let t0 = Instant::now();
    let mut core = Core::new(
        writer,
        ports,
        vec![true; running.ports.len()],
        vec![Arc::new(InjectRing::new(1024))],
        Box::new(HeapAlloc),
    );
    for s in varouter::services::services(&running, t0) {
        core.add_service(s).unwrap();
    }
    core.start(t0);
    core.publish();
    Rig { core, running, t0 }
}

impl Rig {
    fn reload(&mut self, text: &str, after: Duration) -> Outcome {
        let o = apply(
            &mut self.core,
            &mut self.running,
            cfg(text),
            self.t0 + after,
        );
        self.core.publish();
        o
    }
    fn role(&self, vr: u32) -> Option<Role> {
        self.core
            .service::<L2tpService>()
            .unwrap()
            .endpoints()
            .role(VrId(vr))
    }
}

fn applied(o: Outcome) -> Vec<String> {
    match o {
        Outcome::Applied(lines) => lines,
        other => panic!("not applied: {other:?}"),
    }
}

#[test]
fn lns_lac_lns_is_seen_each_time() {
    let mut r = rig(&base());
    assert_eq!(r.role(1), Some(Role::Lns));
    let lac = profile(
        "",
        20,
        "{ prefix: 10.2.0.0/16, via: 10.0.2.2 }",
        "lac",
        1500,
    );
    let lines = applied(r.reload(&lac, Duration::from_secs(1)));
    assert!(
        lines
            .iter()
            .any(|l| l == "VR A switches L2TP role to Lac (draining its tunnels)"),
        "{lines:?}"
    );
    // No tunnels to drain: switched at once.
    assert_eq!(r.role(1), Some(Role::Lac));
    let lines = applied(r.reload(&base(), Duration::from_secs(2)));
    assert!(
        lines
            .iter()
            .any(|l| l == "VR A switches L2TP role to Lns (draining its tunnels)"),
        "the running configuration is compared, not the startup one: {lines:?}"
    );
    // The LAC had opened a tunnel to its LNS (never answered): it drains first.
    assert_eq!(r.role(1), Some(Role::Lac));
    for s in 3..60 {
        r.core.run_timers(r.t0 + Duration::from_secs(s));
    }
    assert_eq!(r.role(1), Some(Role::Lns));
    let l2tp = r.core.stat_lines();
    assert!(
        l2tp.contains(&("l2tp_role_switches".to_string(), 2)),
        "{l2tp:?}"
    );
    // The tunnel's timers ran from the core's timer set: its SCCRQ and StopCCN were
    // retransmitted before it gave up.
    let retransmits = l2tp
        .iter()
        .find(|x| x.0 == "l2tp_tx_retransmits")
        .map(|x| x.1);
    assert!(retransmits.unwrap_or(0) > 0, "{l2tp:?}");
    // The same profile again: nothing to do.
    assert_eq!(
        applied(r.reload(&base(), Duration::from_secs(61))),
        Vec::<String>::new()
    );
}

#[test]
fn vrs_bindings_and_routes_change_live_and_untouched_vrs_keep_their_tables() {
    let mut r = rig(&base());
    let before = r.core.state();
    let a_before = before.vr(VrId(1)).unwrap().fib4.clone();
    // B moves from VLAN 20 to 30 and gets a second route; VR C appears on VLAN 20.
    let c = r#"  - id: 3
    name: C
    vpn_id: "00a0c9:00000003"
    tenant: t
    interfaces: [{ port: access, vlan: 20, addresses: [10.0.3.1/24] }]
"#;
    let next = profile(
        c,
        30,
        "{ prefix: 10.2.0.0/16, via: 10.0.2.2 }, { prefix: 10.3.0.0/16, blackhole: true }",
        "lns",
        1500,
    );
    let lines = applied(r.reload(&next, Duration::from_secs(1)));
    for want in [
        "unbind port 0 vlan 20",
        "add VR C (vr3)",
        "bind port 0 vlan 30 to vr2",
        "bind port 0 vlan 20 to vr3",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want}: {lines:?}");
    }
    let st = r.core.state();
    let l2 = |vlan| st.interfaces.lookup_l2(PortId(0), Some(vlan));
    assert_eq!(l2(20), Some(IfBinding::Vr(VrId(3))));
    assert_eq!(l2(30), Some(IfBinding::Vr(VrId(2))));
    assert_eq!(l2(10), Some(IfBinding::Vr(VrId(1))));
    let b = st.vr(VrId(2)).unwrap();
    let nh = b.lookup4(0x0a03_0001).unwrap();
    assert_eq!(st.next_hop(nh), Some(&NextHop::Drop));
    // VR A was not touched: the very same compiled FIB is shared by both versions.
    assert!(Arc::ptr_eq(&a_before, &st.vr(VrId(1)).unwrap().fib4));
    assert_eq!(
        st.version,
        before.version + 1,
        "one publication for the whole reload"
    );

    // Removing C again removes its binding; B keeps VLAN 30.
    let back = profile(
        "",
        30,
        "{ prefix: 10.2.0.0/16, via: 10.0.2.2 }",
        "lns",
        1500,
    );
    let lines = applied(r.reload(&back, Duration::from_secs(2)));
    assert!(lines.iter().any(|l| l == "remove vr3"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "vr2: remove static route 10.3.0.0/16"),
        "{lines:?}"
    );
    let st = r.core.state();
    assert!(st.vr(VrId(3)).is_none());
    assert_eq!(st.interfaces.lookup_l2(PortId(0), Some(20)), None);
}

#[test]
fn a_reload_that_needs_a_restart_applies_nothing() {
    let mut r = rig(&base());
    let before = r.core.state();
    // A new VR and an MTU change together: the MTU needs a restart, so the VR is not added.
    let c = r#"  - id: 3
    name: C
    vpn_id: "00a0c9:00000003"
    tenant: t
    interfaces: [{ port: access, vlan: 40, addresses: [10.0.3.1/24] }]
"#;
    let next = profile(c, 20, "{ prefix: 10.2.0.0/16, via: 10.0.2.2 }", "lac", 9000);
    match r.reload(&next, Duration::from_secs(1)) {
        Outcome::NeedsRestart(why) => assert_eq!(why, vec!["the MTU of port `access`"]),
        other => panic!("{other:?}"),
    }
    let st = r.core.state();
    assert_eq!(st.version, before.version, "nothing published");
    assert!(st.vr(VrId(3)).is_none());
    assert_eq!(
        r.role(1),
        Some(Role::Lns),
        "the L2TP role did not change either"
    );
    assert_eq!(
        r.running.ports[0].mtu, 1500,
        "the running configuration is kept"
    );
    // The same VR without the MTU change is applied.
    let ok = profile(c, 20, "{ prefix: 10.2.0.0/16, via: 10.0.2.2 }", "lns", 1500);
    applied(r.reload(&ok, Duration::from_secs(2)));
    assert!(r.core.state().vr(VrId(3)).is_some());
    assert_eq!(
        r.core.state().interfaces.lookup_l2(PortId(0), Some(40)),
        Some(IfBinding::Vr(VrId(3)))
    );
    let _ = IfKey::Port(PortId(0));
}

#[test]
fn ppp_termination_starts_changes_and_stops_live() {
    let mut r = rig(&base());
    let with_ppp = |dns: &str| {
        base().replace(
            "hostname: a, peers: [10.0.1.2] }\n",
            &format!("hostname: a, peers: [10.0.1.2] }}\n    ppp: {{ address: 100.64.0.1, dns: [{dns}], pools: [{{ name: p, ranges: [100.64.0.10-100.64.0.250] }}], users: [{{ name: u, password: p }}] }}\n"),
        )
    };
    let serves = |r: &Rig| {
        r.core
            .service::<L2tpService>()
            .unwrap()
            .subscribers()
            .serves(VrId(1))
    };
    assert!(!serves(&r));
    let lines = applied(r.reload(&with_ppp("192.0.2.53"), Duration::from_secs(1)));
    assert!(
        lines.iter().any(|l| l == "VR A starts terminating PPP"),
        "{lines:?}"
    );
    assert!(serves(&r));
    let lines = applied(r.reload(&with_ppp("192.0.2.54"), Duration::from_secs(2)));
    assert!(
        lines
            .iter()
            .any(|l| l == "VR A PPP settings updated (subscribers stay up with their addresses)"),
        "{lines:?}"
    );
    let c = r.core.service::<L2tpService>().unwrap().subscribers();
    assert_eq!(
        c.config(VrId(1)).unwrap().dns,
        vec!["192.0.2.54".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    let lines = applied(r.reload(&base(), Duration::from_secs(3)));
    assert!(
        lines
            .iter()
            .any(|l| l == "VR A stops terminating PPP (its subscribers are disconnected)"),
        "{lines:?}"
    );
    assert!(!serves(&r));
}
