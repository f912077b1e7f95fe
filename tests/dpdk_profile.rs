//! The `dpdk` section and `backend: dpdk` ports of profiles: accepted by `check` in every
//! build, every mistake reported with its position; `run` without the feature says which
//! build is needed.

use std::path::Path;

const GOOD: &str = r#"router_id: 192.0.2.1
cores: { control: 0, workers: [1] }
dpdk:
  eal_args: [--no-huge, --no-pci, -m, "256"]
  vdevs: ["net_pcap0,rx_pcap=in.pcap", net_null0]
  allow: ["0000:3b:00.0"]
  rx_desc: 512
ports:
  - { name: p0, backend: dpdk, device: net_pcap0, mac: "02:00:00:00:00:01" }
  - { name: p1, backend: dpdk, device: "0000:3b:00.0", mac: "02:00:00:00:00:02", trunk: true, addresses: [192.0.2.1/30] }
"#;

fn errors(text: &str) -> Vec<String> {
    match varouter::parse_config(Path::new("p.yaml"), text) {
        Ok(_) => Vec::new(),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn dpdk_profile_is_accepted_and_resolved() {
    let cfg = varouter::parse_config(Path::new("p.yaml"), GOOD).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        cfg.ports[0].backend,
        varouter::config::Backend::Dpdk {
            device: "net_pcap0".into()
        }
    );
    assert_eq!(
        cfg.dpdk.vdevs,
        vec!["net_pcap0,rx_pcap=in.pcap", "net_null0"]
    );
    assert_eq!(cfg.dpdk.allow, vec!["0000:3b:00.0"]);
    assert_eq!((cfg.dpdk.rx_desc, cfg.dpdk.tx_desc), (512, 1024));
}

#[test]
fn dpdk_mistakes_are_all_reported_with_positions() {
    let bad = GOOD
        .replace("-m, \"256\"]", "-m, \"256\", -l, \"0-1\"]")
        .replace("\"0000:3b:00.0\"]", "\"3b:00.9\"]")
        .replace("rx_desc: 512", "rx_desc: 500")
        .replace("device: net_pcap0, ", "")
        .replace("device: \"0000:3b:00.0\"", "device: net_null0");
    let bad = format!(
        "{bad}  - {{ name: p2, backend: mem, device: net_null1, mac: \"02:00:00:00:00:03\" }}\n"
    );
    let e = errors(&bad);
    let want = [
        "p.yaml:4:46: EAL option `-l` is set by varouter",
        "p.yaml:6:11: `3b:00.9` is not a PCI address",
        "p.yaml:7:12: rx_desc 500 is invalid; expected a power of two from 64 to 8192",
        "p.yaml:9:26: dpdk port `p0` has no `device`",
        "p.yaml:11:26: port `p2` uses backend `mem`, but this profile has `dpdk` ports",
        "p.yaml:11:39: `device` only applies to the `dpdk` backend",
    ];
    for w in want {
        assert!(
            e.iter().any(|m| m.starts_with(w)),
            "missing `{w}` in {e:#?}"
        );
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");
}

#[test]
fn one_device_per_port() {
    let bad = GOOD.replace("device: \"0000:3b:00.0\"", "device: net_pcap0");
    let e = errors(&bad);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("DPDK device `net_pcap0` is used by two ports"),
        "{e:#?}"
    );
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn run_without_the_feature_says_which_build_is_needed() {
    let dir = std::env::temp_dir().join(format!("varouter-dpdk-nofeature-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.yaml"), GOOD).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_varouter"))
        .args(["run", "p.yaml", "--duration", "1"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("backend `dpdk` needs a build with `--features dpdk`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
