//! VR discovery inside the appliance (issue 15): three appliances run in this process (mem
//! ports), each with a `discovery:` section and a management API, on loopback UDP/TCP ports
//! 18240–18245. Routers 192.0.2.1–3 are reached at 127.0.0.1:18240–18242 (`discovery.reach`).
//!
//! VPN A has a VR on every router, but router 3 holds a wrong secret for it; VPN B has a VR
//! on every router with the right secret. Checked through the API (and `varouter ctl vr map`):
//! the maps of A on routers 1 and 2 hold each other and not router 3, router 3's A learns
//! nothing, and both others count router 3's messages `rx_unknown_key`; B's maps hold the two
//! other routers; a tenant sees only its VRs' maps; a VR deleted through the API is withdrawn
//! from the others' maps (and the other VPN's maps stay), and re-created it comes back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{cheap_hash, Running};

const DISC_PORT: u16 = 18240;
const API_PORT: u16 = 18243;
const ADMIN: &str = "disc-admin-token";
const TENANT_A: &str = "disc-tenant-a-token";

const SECRET_A: &str = "secret of VPN A, thirty-two bytes";
const SECRET_A_WRONG: &str = "not the secret of VPN A, really!!";
const SECRET_B: &str = "secret of VPN B, thirty-two bytes";

/// Router `n` (1–3): VR `a{n}` of VPN A at 10.1.0.n, VR `b{n}` of VPN B at 10.2.0.n.
fn profile(n: u16) -> String {
    let secret_a = if n == 3 { SECRET_A_WRONG } else { SECRET_A };
    format!(
        r#"router_id: 192.0.2.{n}
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:0{n}:01" }}
virtual_routers:
  - id: 1
    name: a{n}
    vpn_id: "00a0c9:00000001"
    tenant: ta
    interfaces:
      - {{ port: p0, vlan: 10, addresses: [10.1.0.{n}/24] }}
  - id: 2
    name: b{n}
    vpn_id: "00a0c9:00000002"
    tenant: tb
    interfaces:
      - {{ port: p0, vlan: 20, addresses: [10.2.0.{n}/24] }}
discovery:
  listen: 127.0.0.1:{listen}
  routers: [192.0.2.1, 192.0.2.2, 192.0.2.3]
  reach:
    - {{ router: 192.0.2.1, address: "127.0.0.1:{p1}" }}
    - {{ router: 192.0.2.2, address: "127.0.0.1:{p2}" }}
    - {{ router: 192.0.2.3, address: "127.0.0.1:{p3}" }}
  vpns:
    - {{ vpn_id: "00a0c9:00000001", secret: "{secret_a}" }}
    - {{ vpn_id: "00a0c9:00000002", secret: "{SECRET_B}" }}
  rto_initial_ms: 100
  rto_max_ms: 400
  max_attempts: 8
  refresh_s: 0
management:
  listen: 127.0.0.1:{api}
  owner: carrier
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{admin}" }}
    - {{ name: ta-admin, role: tenant-admin, tenant: ta, token_hash: "{ta}" }}
"#,
        listen = DISC_PORT + n - 1,
        p1 = DISC_PORT,
        p2 = DISC_PORT + 1,
        p3 = DISC_PORT + 2,
        api = API_PORT + n - 1,
        admin = cheap_hash(ADMIN),
        ta = cheap_hash(TENANT_A),
    )
}

struct App {
    _run: Running,
    base: String,
    agent: ureq::Agent,
}

fn start(dir: &Path, n: u16) -> App {
    let path: PathBuf = dir.join(format!("r{n}.yaml"));
    std::fs::write(&path, profile(n)).unwrap();
    let addr = varouter::load_config(&path)
        .expect("test profile checks")
        .management
        .expect("a management section")
        .listen;
    App {
        _run: Running::until_stopped(&path, Duration::from_secs(20)),
        base: format!("http://{addr}"),
        agent: common::agent(),
    }
}

impl App {
    fn json(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let r = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send(b.to_string()),
            _ => panic!("method {method}"),
        };
        let mut r = r.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The map of `vr` as (router, address) pairs, sorted.
    fn map(&self, vr: &str) -> Vec<(String, String)> {
        let (s, v) = self.json("GET", &format!("/api/v1/vrs/{vr}/map"), ADMIN, None);
        assert_eq!(s, 200, "map of {vr}: {v}");
        let mut out: Vec<(String, String)> = v["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["router"].as_str().unwrap().to_string(),
                    p["address"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn discovery_counter(&self, name: &str) -> u64 {
        let (s, v) = self.json("GET", "/api/v1/stats", ADMIN, None);
        assert_eq!(s, 200, "{v}");
        v["discovery"]["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no discovery counter {name} in {v}"))
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Waits until every `(app, vr, expected map)` holds (each map is polled through the API).
/// A map as (router, address) pairs.
type Map = Vec<(String, String)>;

fn converge(apps: &[App], want: &[(usize, &str, Map)], what: &str) {
    let t0 = Instant::now();
    loop {
        let wrong: Vec<String> = want
            .iter()
            .filter_map(|(i, vr, m)| {
                let got = apps[*i].map(vr);
                (got != *m).then(|| format!("{vr}: {got:?}, want {m:?}"))
            })
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{what}: maps did not converge: {wrong:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ctl(app: &App, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_varouter"))
        .arg("ctl")
        .arg("--api")
        .arg(&app.base)
        .arg("--token")
        .arg(ADMIN)
        .args(args)
        .output()
        .expect("varouter ctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn vrs_of_a_vpn_find_each_other_through_the_appliance() {
    let dir = std::env::temp_dir().join(format!("varouter-discovery-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let apps: Vec<App> = (1..=3).map(|n| start(&dir, n)).collect();

    let r = |n: u8| format!("192.0.2.{n}");
    let a = |n: u8| format!("10.1.0.{n}");
    let b = |n: u8| format!("10.2.0.{n}");
    let s = |x: String, y: String| (x, y);
    let full = vec![
        (0, "a1", vec![s(r(2), a(2))]),
        (1, "a2", vec![s(r(1), a(1))]),
        (2, "a3", vec![]),
        (0, "b1", vec![s(r(2), b(2)), s(r(3), b(3))]),
        (1, "b2", vec![s(r(1), b(1)), s(r(3), b(3))]),
        (2, "b3", vec![s(r(1), b(1)), s(r(2), b(2))]),
    ];
    converge(&apps, &full, "start");

    // The wrong key: router 3's VPN A messages are refused and counted by the others, and
    // router 3 learns nothing of VPN A (its map stays empty, as converge checked).
    for app in &apps[..2] {
        assert!(app.discovery_counter("rx_unknown_key") > 0);
        assert!(app.discovery_counter("rx_ok") > 0);
    }
    assert_eq!(apps[2].map("a3"), pairs(&[]));
    let (_, v) = apps[0].json("GET", "/api/v1/vrs/a1/map", ADMIN, None);
    assert_eq!(v["state"], "announced", "{v}");
    assert_eq!(v["address"], "10.1.0.1");
    assert_eq!(v["vpn_id"], "00a0c9:00000001");
    assert_eq!(v["discovery_vpn"], 1);
    assert_eq!(v["router_id"], "192.0.2.1");

    // Scope: tenant ta sees its VR's map, not tb's (as if it did not exist).
    let (st, _) = apps[0].json("GET", "/api/v1/vrs/a1/map", TENANT_A, None);
    assert_eq!(st, 200);
    let (st, v) = apps[0].json("GET", "/api/v1/vrs/b1/map", TENANT_A, None);
    assert_eq!(st, 404, "{v}");

    // Metrics: the per-VR gauge and the event counters.
    let metrics = {
        let mut r = apps[0]
            .agent
            .get(format!("{}/metrics", apps[0].base))
            .header("Authorization", format!("Bearer {ADMIN}"))
            .call()
            .unwrap();
        r.body_mut().read_to_string().unwrap()
    };
    assert!(
        metrics.contains(r#"varouter_vr_discovery_peers{vr="b1",tenant="tb"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"varouter_discovery_events_total{event="rx_unknown_key"}"#),
        "{metrics}"
    );

    // ctl: the human table and --json.
    let (ok, out) = ctl(&apps[0], &["vr", "map", "b1"]);
    assert!(ok, "{out}");
    assert!(out.contains("announced") && out.contains("192.0.2.2") && out.contains("10.2.0.3"));
    let (ok, out) = ctl(&apps[0], &["--json", "vr", "map", "b1"]);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["peers"].as_array().unwrap().len(), 2, "{v}");

    // Delete b2 through the API: it is withdrawn from b1's and b3's maps; VPN A's maps stay.
    let (st, v) = apps[1].json("DELETE", "/api/v1/vrs/b2", ADMIN, None);
    assert!(st == 204 || st == 200, "{st} {v}");
    let without_b2 = vec![
        (0, "a1", vec![s(r(2), a(2))]),
        (1, "a2", vec![s(r(1), a(1))]),
        (0, "b1", vec![s(r(3), b(3))]),
        (2, "b3", vec![s(r(1), b(1))]),
    ];
    converge(&apps, &without_b2, "after deleting b2");
    let (st, _) = apps[1].json("GET", "/api/v1/vrs/b2/map", ADMIN, None);
    assert_eq!(st, 404);

    // Re-create it through the API: announced again, the maps are full again.
    let vr = json!({
        "id": 2, "name": "b2", "vpn_id": "00a0c9:00000002", "tenant": "tb",
        "interfaces": [{"port": "p0", "vlan": 20, "addresses": ["10.2.0.2/24"]}],
    });
    let (st, v) = apps[1].json("POST", "/api/v1/vrs", ADMIN, Some(&vr));
    assert_eq!(st, 201, "{v}");
    let applied = v["applied"].to_string();
    assert!(applied.contains("announced"), "{v}");
    converge(&apps, &full, "after re-creating b2");

    // A second VR of VPN A on router 1 is refused by the checker (one VR per VPN per router).
    let second = json!({
        "id": 7, "name": "a1bis", "vpn_id": "00a0c9:00000001", "tenant": "ta",
        "interfaces": [{"port": "p0", "vlan": 70, "addresses": ["10.7.0.1/24"]}],
    });
    let (st, v) = apps[0].json("POST", "/api/v1/vrs", ADMIN, Some(&second));
    assert_eq!(st, 422, "{v}");
    assert!(
        v.to_string()
            .contains("discovery allows one VR per VPN per router"),
        "{v}"
    );

    // b1's address changes in one transaction: withdrawn and announced again at the new
    // address, which the others' maps follow.
    let tx = json!({"changes": [
        {"op": "unbind_interface", "vr": "b1", "port": "p0", "vlan": 20},
        {"op": "bind_interface", "vr": "b1",
         "interface": {"port": "p0", "vlan": 20, "addresses": ["10.2.9.1/24"]}},
    ]});
    let (st, v) = apps[0].json("POST", "/api/v1/transaction", ADMIN, Some(&tx));
    assert_eq!(st, 200, "{v}");
    let applied = v["applied"].to_string();
    assert!(
        applied.contains("withdrawn") && applied.contains("announced at 10.2.9.1"),
        "{v}"
    );
    converge(
        &apps,
        &[
            (1, "b2", vec![s(r(1), "10.2.9.1".into()), s(r(3), b(3))]),
            (2, "b3", vec![s(r(1), "10.2.9.1".into()), s(r(2), b(2))]),
            (0, "b1", vec![s(r(2), b(2)), s(r(3), b(3))]),
        ],
        "after b1's address changed",
    );

    drop(apps);
    let _ = std::fs::remove_dir_all(&dir);
}
