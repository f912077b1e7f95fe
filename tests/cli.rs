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
