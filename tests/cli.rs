//! The `varouter run` command as an operator meets it: live stats, SIGINT/SIGTERM stop it
//! cleanly with the summary, the embedded demo needs no file.

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
    let dir = std::env::temp_dir().join(format!("varouter-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
        stdout.contains("l2tp_role_switches                   1"),
        "{stdout}"
    );
}
