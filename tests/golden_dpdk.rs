//! The golden capture cases of `tests/golden.rs`, run through the DPDK backend: each pcap
//! port becomes a `dpdk` port on a `net_pcap` vdev reading the same `in.pcap` and writing
//! the same `out-*.pcap` (EAL with `--no-huge --no-pci --no-shconf`, no root-only
//! resources). The frames written must be byte-identical, in order, to `expected/` (the
//! pcap *record timestamps* are the PMD's own and are not compared), and the drop and punt
//! counters must equal the `pcap` backend's for the same case.
//!
//! DPDK's EAL can be initialised once per process, so every run is a subprocess of the
//! `varouter` binary — which also tests start, stop (duration and SIGINT) and restart.

#![cfg(feature = "dpdk")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_varouter");

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

/// Splits `a: 1, b: [x, y], c: z` at the commas outside brackets.
fn split_fields(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for ch in s.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The case's profile with every `pcap` port turned into a `dpdk` port on a `net_pcap`
/// vdev; captures are read from `src` and written to `out`.
fn dpdk_profile(text: &str, src: &Path, out: &Path, prefix: &str) -> String {
    let mut vdevs = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) else {
            lines.push(line.to_string());
            continue;
        };
        if !line.contains("backend: pcap") {
            lines.push(line.to_string());
            continue;
        }
        let n = vdevs.len();
        let mut vdev = format!("net_pcap{n}");
        let mut fields = Vec::new();
        for f in split_fields(&line[open + 1..close]) {
            if let Some(rx) = f.strip_prefix("rx: ") {
                vdev.push_str(&format!(",rx_pcap={}", src.join(rx.trim()).display()));
            } else if let Some(tx) = f.strip_prefix("tx: ") {
                vdev.push_str(&format!(",tx_pcap={}", out.join(tx.trim()).display()));
            } else if f == "backend: pcap" {
                fields.push("backend: dpdk".to_string());
                fields.push(format!("device: net_pcap{n}"));
            } else {
                fields.push(f);
            }
        }
        vdevs.push(vdev);
        lines.push(format!("{}{{ {} }}", &line[..open], fields.join(", ")));
    }
    lines.push("dpdk:".into());
    lines.push(format!(
        "  eal_args: [--no-huge, --no-pci, --no-shconf, -m, \"256\", --file-prefix, {prefix}, --log-level, \"*:warning\"]"
    ));
    lines.push("  vdevs:".into());
    for v in vdevs {
        lines.push(format!("    - \"{v}\""));
    }
    lines.join("\n") + "\n"
}

/// The frames of a capture, in order (any timestamp resolution).
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r =
        pcap_file::pcap::PcapReader::new(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(p.unwrap().data.into_owned());
    }
    v
}

/// The `drops:` and `punted to control core:` sections of a summary, sorted.
fn counter_sections(stdout: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut on = false;
    for l in stdout.lines() {
        if !l.starts_with(' ') {
            on = l == "drops:" || l == "punted to control core:";
            if on {
                v.push(l.to_string());
            }
            continue;
        }
        if on {
            v.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    v.sort();
    v
}

fn run_out(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start varouter");
    assert!(
        out.status.success(),
        "varouter failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The EAL runtime directory of a file prefix must hold nothing after a run.
fn assert_no_leftovers(prefix: &str) {
    let dir = Path::new("/var/run/dpdk").join(prefix);
    if let Ok(rd) = std::fs::read_dir(&dir) {
        let left: Vec<_> = rd.map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{}: DPDK left {left:?}", dir.display());
        let _ = std::fs::remove_dir(&dir);
    }
    let huge: Vec<_> = std::fs::read_dir("/dev/hugepages")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !huge.iter().any(|n| n.to_string_lossy().starts_with(prefix)),
        "hugepage files left: {huge:?}"
    );
}

fn golden_case(case: &str, runs: usize) {
    let src = case_dir(case);
    let tmp = std::env::temp_dir().join(format!(
        "varouter-golden-dpdk-{case}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("pcap")).unwrap();
    std::fs::create_dir_all(tmp.join("dpdk")).unwrap();

    // Reference: the pcap backend, same binary.
    let text = std::fs::read_to_string(src.join("profile.yaml")).unwrap();
    std::fs::write(tmp.join("pcap/profile.yaml"), &text).unwrap();
    std::fs::copy(src.join("in.pcap"), tmp.join("pcap/in.pcap")).unwrap();
    let reference = run_out(
        Command::new(BIN)
            .args(["run", "profile.yaml", "--stats-interval", "0"])
            .current_dir(tmp.join("pcap")),
    );
    let want_counters = counter_sections(&String::from_utf8_lossy(&reference.stdout));
    assert!(
        want_counters.len() > 1,
        "{case}: the reference run counted no drops or punts"
    );

    let prefix = format!("vrgold{}{case}", std::process::id());
    let profile = dpdk_profile(&text, &src, &tmp.join("dpdk"), &prefix);
    std::fs::write(tmp.join("dpdk/profile.yaml"), &profile).unwrap();
    let expected = src.join("expected");
    for attempt in 0..runs {
        let out = run_out(
            Command::new(BIN)
                .args([
                    "run",
                    "profile.yaml",
                    "--duration",
                    "1.5",
                    "--stats-interval",
                    "0",
                ])
                .current_dir(tmp.join("dpdk")),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            counter_sections(&stdout),
            want_counters,
            "{case} run {attempt}: counters differ from the pcap backend\n{stdout}"
        );
        let mut n = 0;
        for e in std::fs::read_dir(&expected).unwrap() {
            let exp = e.unwrap().path();
            let got = tmp.join("dpdk").join(exp.file_name().unwrap());
            assert_eq!(
                frames(&got),
                frames(&exp),
                "{case} run {attempt}: {} differs from {}",
                got.display(),
                exp.display()
            );
            n += 1;
        }
        assert!(n > 0, "{case}: no expected captures");
        assert_no_leftovers(&prefix);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn vpn_ingress_through_dpdk() {
    golden_case("vpn_ingress", 1);
}

#[test]
fn label_switch_through_dpdk() {
    golden_case("label_switch", 1);
}

/// Start, stop, restart: the same case three times in a row gives the same result and
/// leaves nothing behind.
#[test]
fn vpn_egress_through_dpdk_restarted() {
    golden_case("vpn_egress", 3);
}

/// An endless run (net_null vdevs) stops cleanly on SIGINT and prints the summary with
/// the device statistics.
#[test]
fn sigint_stops_cleanly_with_summary() {
    let tmp = std::env::temp_dir().join(format!("varouter-dpdk-sigint-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let prefix = format!("vrsig{}", std::process::id());
    let profile = format!(
        "router_id: 192.0.2.1\n\
         ports:\n  - {{ name: p0, backend: dpdk, device: net_null0, mac: \"02:00:00:00:00:01\" }}\n\
         dpdk:\n  eal_args: [--no-huge, --no-pci, --no-shconf, -m, \"256\", --file-prefix, {prefix}]\n  vdevs: [net_null0]\n"
    );
    std::fs::write(tmp.join("p.yaml"), profile).unwrap();
    let child = Command::new(BIN)
        .args(["run", "p.yaml", "--stats-interval", "0"])
        .current_dir(&tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("=== varouter summary ==="), "{stdout}");
    // net_null frames are all-zero: not addressed to the port, dropped by name.
    let dropped: u64 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("l2_not_for_us"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "{stdout}");
    assert!(
        stdout.contains("rx_good_packets"),
        "xstats missing:\n{stdout}"
    );
    assert_no_leftovers(&prefix);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn binary_refuses_mixed_backends() {
    let tmp = std::env::temp_dir().join(format!("varouter-dpdk-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        tmp.join("p.yaml"),
        "router_id: 192.0.2.1\nports:\n  - { name: p0, backend: dpdk, device: net_null0, mac: \"02:00:00:00:00:01\" }\n  - { name: p1, backend: mem, mac: \"02:00:00:00:00:02\" }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "p.yaml"])
        .current_dir(&tmp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("p.yaml:4:"), "{err}");
    assert!(err.contains("this profile has `dpdk` ports"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}
