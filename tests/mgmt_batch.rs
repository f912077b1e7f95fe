//! Transactions sent at the same time by several clients are carried out in batches (one
//! publish per control-loop iteration, `MgmtLink::tick`), yet each is all or nothing and
//! answered on its own: a refused one changes nothing and does not affect the others. The
//! appliance runs in-process (mem ports); the API listens on 127.0.0.1:18175.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use varouter::appliance::{Reload, RunOptions};

mod common;
use common::cheap_hash;

const PORT: u16 = 18175;
const TOKEN: &str = "tok-batch-admin";
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 24;

fn profile() -> String {
    format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:00:01" }}
  - {{ name: core, backend: mem, mac: "02:00:00:00:00:02", trunk: true, addresses: [192.0.2.1/30] }}
virtual_routers:
  - id: 1
    name: A
    vpn_id: "00a0c9:00000001"
    tenant: carrier
    interfaces:
      - {{ port: p0, vlan: 10, addresses: [10.255.0.1/30] }}
    routes:
      - {{ prefix: 10.1.0.0/16, via: 10.255.0.2 }}
management:
  listen: 127.0.0.1:{PORT}
  owner: carrier
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{}" }}
"#,
        cheap_hash(TOKEN)
    )
}

fn post(agent: &ureq::Agent, body: &Value) -> (u16, Value) {
    let mut r = agent
        .post(format!("http://127.0.0.1:{PORT}/api/v1/transaction"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send(body.to_string())
        .expect("the API answers");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn concurrent_transactions_are_each_all_or_nothing() {
    let dir = std::env::temp_dir().join(format!("varouter-mgmt-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("profile.yaml");
    std::fs::write(&path, profile()).unwrap();
    let cfg = varouter::load_config(&path).expect("test profile checks");
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Reload {
        path: path.clone(),
        requested: Arc::new(AtomicBool::new(false)),
    };
    let s = stop.clone();
    let app = std::thread::spawn(move || {
        let opts = RunOptions {
            duration: None,
            until_inputs_finished: false,
            stats_every: None,
        };
        varouter::appliance::run_with_reload(&cfg, &opts, s, Some(reload))
    });
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the API did not come up"
        );
        assert!(!app.is_finished(), "the appliance stopped at start");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Each client alternates: a good route; a transaction whose first change is good and
    // whose second is not (its next hop is unreachable), so none of it may be applied.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(20)))
                    .build()
                    .into();
                let mut kept = Vec::new();
                let mut versions = Vec::new();
                for i in 0..PER_CLIENT {
                    let good = format!("10.200.{c}.{i}/32");
                    if i % 2 == 0 {
                        let (st, b) = post(
                            &agent,
                            &json!({"changes": [{"op": "add_route", "vr": "A",
                                "route": {"prefix": good, "via": "10.255.0.2"}}]}),
                        );
                        assert_eq!(st, 200, "{good}: {b}");
                        let applied = b["applied"].to_string();
                        assert!(applied.contains(&format!("10.200.{c}.{i}")), "{b}");
                        versions.push(b["version"].as_u64().expect("a version"));
                        kept.push(good);
                    } else {
                        let (st, b) = post(
                            &agent,
                            &json!({"changes": [
                                {"op": "add_route", "vr": "A",
                                 "route": {"prefix": good, "via": "10.255.0.2"}},
                                {"op": "add_route", "vr": "A",
                                 "route": {"prefix": format!("10.201.{c}.{i}/32"), "via": "10.9.9.9"}},
                            ]}),
                        );
                        assert_eq!(st, 422, "{b}");
                        assert_eq!(b["error"]["pointer"], "/changes/1/route/via", "{b}");
                        assert!(
                            b["error"]["message"]
                                .as_str()
                                .unwrap_or("")
                                .contains("unreachable"),
                            "{b}"
                        );
                    }
                }
                // A client's answers come in order: versions never go back.
                assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
                (kept, versions)
            })
        })
        .collect();
    let mut kept = BTreeSet::new();
    let mut versions = BTreeSet::new();
    for c in clients {
        let (k, v) = c.join().expect("a client failed");
        kept.extend(k);
        versions.extend(v);
    }

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("http://127.0.0.1:{PORT}/api/v1/vrs/A/routes"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let routes: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let listed: BTreeSet<String> = routes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["prefix"].as_str())
        .filter(|p| p.starts_with("10.20"))
        .map(String::from)
        .collect();
    // Exactly the accepted routes: none of a refused transaction, none lost.
    assert_eq!(listed, kept);
    assert_eq!(kept.len(), CLIENTS * PER_CLIENT / 2);
    eprintln!(
        "{} accepted transactions answered with {} distinct versions",
        kept.len(),
        versions.len()
    );
    stop.store(true, Ordering::Relaxed);
    app.join().unwrap().expect("the appliance ran");
    let _ = std::fs::remove_dir_all(&dir);
}
