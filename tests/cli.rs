//! The `varouter run` command as an operator meets it: live stats, SIGINT/SIGTERM stop it
//! cleanly with the summary, the embedded demo needs no file.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_varouter")
}

fn stop_with(sig: &str) {
    let child = Command::new(bin())
        .args([
            "run",
            concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.yaml"),
            "--stats-interval",
            "0.2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("| vr A rx "),
        "no live stats line:\n{stdout}"
    );
    assert!(
        stdout.contains("=== varouter summary ==="),
        "no summary:\n{stdout}"
    );
    assert!(
        stdout.contains("misdelivered (delivered to the wrong VR or port): 0"),
        "{stdout}"
    );
}

#[test]
fn sigint_stops_with_summary() {
    stop_with("-INT");
}

#[test]
fn sigterm_stops_with_summary() {
    stop_with("-TERM");
}

#[test]
fn embedded_demo_runs_without_a_profile_file() {
    let out = Command::new(bin())
        .args(["run", "--duration", "0.5", "--stats-interval", "0"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("misdelivered (delivered to the wrong VR or port): 0"),
        "{stdout}"
    );
}

#[test]
fn missing_profile_is_a_clear_error() {
    let out = Command::new(bin())
        .args(["run", "/nonexistent/p.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/p.yaml:0:0: cannot read profile"),
        "{err}"
    );
}

#[test]
fn sighup_reload_switches_l2tp_role() {
    let dir = common::TestDir::new("reload");
    let profile = dir.join("p.yaml");
    let text = |role: &str| {
        format!(
            "router_id: 192.0.2.1\nports:\n  - {{ name: p0, backend: mem, mac: \"02:00:00:00:00:01\" }}\n\
             virtual_routers:\n  - id: 3\n    name: isp\n    vpn_id: \"00a0c9:00000003\"\n    tenant: t\n    \
             interfaces: [{{ port: p0, addresses: [10.0.0.1/24] }}]\n    \
             l2tp: {{ role: {role}, local: 10.0.0.1, hostname: h, peers: [10.0.0.2] }}\n\
             traffic:\n  flows:\n    - {{ name: keepalive, port: p0, src: 10.0.0.9, dst: 10.0.0.1, rate_pps: 10 }}\n"
        )
    };
    std::fs::write(&profile, text("lns")).unwrap();
    let child = Command::new(bin())
        .args([
            "run",
            profile.to_str().unwrap(),
            "--duration",
            "4",
            "--stats-interval",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // A broken profile is refused and the running one kept.
    std::fs::write(&profile, text("lcc")).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&profile, text("lac")).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    // And back: compared with the running configuration (LAC), LNS is a change again.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&profile, text("lns")).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("unknown L2TP role `lcc`"), "{stderr}");
    assert!(
        stderr.contains("reload refused (1 errors); running configuration kept"),
        "{stderr}"
    );
    assert!(
        stderr.contains("VR isp switches L2TP role to Lac"),
        "{stderr}"
    );
    assert!(
        stderr.contains("VR isp switches L2TP role to Lns"),
        "{stderr}"
    );
    // LNS -> LAC completed at once (no tunnels); LAC -> LNS drains the tunnel the LAC
    // opened (its LNS never answers here) and completes after the run (tests/reload.rs
    // follows it to the end).
    assert!(
        stdout.contains("l2tp_role_switches                   1"),
        "{stdout}"
    );
}

/// A reload under generator traffic loses nothing of the VRs it does not touch: VR A's
/// flows are delivered exactly while VR B is changed (a route added, a VLAN moved away
/// from B's traffic is not: its flow keeps its VLAN) and VR C is added.
#[test]
fn reload_under_traffic_loses_no_packet_of_untouched_vrs() {
    let dir = common::TestDir::new("reload-traffic");
    let profile = dir.join("p.yaml");
    let text = |extra: &str| {
        format!(
            r#"router_id: 192.0.2.1
ports:
  - {{ name: access, backend: mem, mac: "02:00:00:00:00:01" }}
  - {{ name: trunk, backend: mem, mac: "02:00:00:00:00:02", trunk: true, addresses: [192.0.2.1/30] }}
virtual_routers:
  - id: 1
    name: A
    vpn_id: "00a0c9:00000001"
    tenant: t
    interfaces: [{{ port: access, vlan: 10, addresses: [10.255.0.1/30] }}]
    routes: [{{ prefix: 10.2.0.0/16, via: 192.0.2.2, push: [16001, 1001] }}]
  - id: 2
    name: B
    vpn_id: "00a0c9:00000002"
    tenant: t
    interfaces: [{{ port: access, vlan: 20, addresses: [10.255.0.1/30] }}]
    routes:
      - {{ prefix: 10.2.0.0/16, via: 192.0.2.2, push: [16001, 1002] }}
{extra}neighbors:
  - {{ port: trunk, ip: 192.0.2.2, mac: "02:00:00:00:ff:02" }}
traffic:
  flows:
    - {{ name: a-out, port: access, vlan: 10, src: 10.1.0.1, dst: 10.2.0.1-10.2.0.250, size: 64, rate_pps: 100000, count: 300000, expect: {{ port: trunk, labels: [16001, 1001] }} }}
    - {{ name: b-out, port: access, vlan: 20, src: 10.1.0.1, dst: 10.2.0.1-10.2.0.250, size: 64, rate_pps: 100000, count: 300000, expect: {{ port: trunk, labels: [16001, 1002] }} }}
    - {{ name: c-out, port: access, vlan: 30, src: 10.1.0.1, dst: 10.2.0.1-10.2.0.250, size: 64, rate_pps: 100000, count: 300000, expect: {{ port: trunk, labels: [16001, 1003] }} }}
"#
        )
    };
    std::fs::write(&profile, text("")).unwrap();
    let child = Command::new(bin())
        .args(["run", profile.to_str().unwrap(), "--stats-interval", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let more = r#"      - { prefix: 10.3.0.0/16, blackhole: true }
  - id: 3
    name: C
    vpn_id: "00a0c9:00000003"
    tenant: t
    interfaces: [{ port: access, vlan: 30, addresses: [10.255.1.1/30] }]
    routes: [{ prefix: 10.2.0.0/16, via: 192.0.2.2, push: [16001, 1003] }]
"#;
    std::fs::write(&profile, text(more)).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for want in [
        "add VR C (vr3)",
        "vr2: static route 10.3.0.0/16 via Drop",
        "live change(s) applied",
    ] {
        assert!(stderr.contains(want), "{want}:\n{stderr}");
    }
    // Both flows ran to their budget (the run ends when they are exhausted) and every
    // packet of A (and of B, whose forwarding did not change) was delivered.
    for f in ["a-out", "b-out"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(f))
            .unwrap_or_else(|| panic!("no flow {f}:\n{stdout}"));
        let n: Vec<&str> = line.split_whitespace().collect();
        let field = |k: &str| -> u64 {
            let i = n.iter().position(|x| *x == k).unwrap();
            n[i + 1].parse().unwrap()
        };
        assert_eq!(field("sent"), 300_000, "{line}");
        assert_eq!(field("delivered"), 300_000, "{line}");
        assert_eq!(field("misdelivered"), 0, "{line}");
    }
    // VR C exists only after the reload: its flow was dropped before (no interface) and
    // forwarded and counted after — a VR created while running has counters like the others.
    let c = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("C "))
        .unwrap_or_else(|| panic!("VR C is not in the summary:\n{stdout}"));
    let n: Vec<&str> = c.split_whitespace().collect();
    let rx: u64 = n[n.iter().position(|x| *x == "rx").unwrap() + 1]
        .parse()
        .unwrap();
    let delivered: u64 = n[n.iter().position(|x| *x == "delivered").unwrap() + 1]
        .parse()
        .unwrap();
    assert!(rx > 0 && delivered > 0 && delivered < 300_000, "{c}");
    assert!(
        stdout.contains("misdelivered (delivered to the wrong VR or port): 0"),
        "{stdout}"
    );
}
