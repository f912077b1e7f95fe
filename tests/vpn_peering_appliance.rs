//! VPN peering inside the appliance (issue 15): three appliances run in this process (mem
//! ports), each with `discovery:`, `vpn_peering:` (in-process RADIUS server) and a
//! management API, on loopback ports 18270–18279: discovery on 127.0.0.1:18270–18272, L2TP
//! on 127.0.0.1:18273–18275, the APIs on 18276–18278, router n's RADIUS server on
//! 127.0.0.n:18279.
//!
//! Router 3 checks CHAP responses through an "external" RADIUS server (`radius.server` +
//! `secret`): a `radius::server` with `VpnUsers` on its own UDP socket in this test process
//! at 127.0.0.3:18279, standing in for FreeRADIUS; routers 1 and 2 use the in-process one.
//!
//! VPN A has a VR on every router, VPN B on routers 1 and 2, both with the same addresses
//! (10.0.n.0/24 on the interface, 172.16.n.0/24 behind a CE). VPN C has a VR on routers 1
//! and 3, and router 3 holds a wrong CHAP secret for it. Static transport paths: toward
//! router 2 label 1600m, toward router 3 implicit null (label 3).
//!
//! Checked through `GET /api/v1/vrs/{vr}/peers` (the channels and the VR's FIB routes of
//! source `vpn` read from the control core's state): the channels come up; every VR holds
//! exactly the other sites' prefixes of its VPN with push [transport, peer's VPN label] (or
//! [VPN label]) via the transport path; B never holds an A route; C's channel is refused
//! and router 1 counts it (`auth_rejects`), nothing is installed in C; router 2 restarted
//! within the hold time withdraws nothing elsewhere; router 3 stopped has its routes
//! withdrawn after the hold time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{cheap_hash, Running};

const DISC_PORT: u16 = 18270;
const L2TP_PORT: u16 = 18273;
const API_PORT: u16 = 18276;
const RADIUS_PORT: u16 = 18279;
const ADMIN: &str = "peer-admin-token";
const TENANT_B: &str = "peer-tenant-b-token";
const HOLD_S: u64 = 5;

/// Router `n` (1–3).
fn profile(n: u16) -> String {
    let mut vrs = format!(
        r#"  - id: 1
    name: a{n}
    vpn_id: "00a0c9:00000001"
    tenant: ta
    interfaces:
      - {{ port: p0, vlan: 10, addresses: [10.0.{n}.1/24] }}
    routes:
      - {{ prefix: 172.16.{n}.0/24, via: 10.0.{n}.2 }}
      - {{ prefix: 10.99.0.0/16, blackhole: true }}
"#
    );
    if n != 3 {
        vrs += &format!(
            r#"  - id: 2
    name: b{n}
    vpn_id: "00a0c9:00000002"
    tenant: tb
    interfaces:
      - {{ port: p0, vlan: 20, addresses: [10.0.{n}.1/24] }}
    routes:
      - {{ prefix: 172.16.{n}.0/24, via: 10.0.{n}.2 }}
"#
        );
    }
    if n != 2 {
        vrs += &format!(
            r#"  - id: 3
    name: c{n}
    vpn_id: "00a0c9:00000003"
    tenant: tc
    interfaces:
      - {{ port: p0, vlan: 30, addresses: [10.3.{n}.1/24] }}
"#
        );
    }
    let transport: String = (1..=3u16)
        .filter(|m| *m != n)
        .map(|m| {
            let label = if m == 3 { 3 } else { 16000 + m };
            format!(
                "    - {{ router: 192.0.2.{m}, label: {label}, port: t0, via: 198.51.100.{m} }}\n"
            )
        })
        .collect();
    let secret_c = if n == 3 {
        "not the CHAP secret of VPN C!"
    } else {
        "CHAP secret of VPN C, 32 bytes."
    };
    format!(
        r#"router_id: 192.0.2.{n}
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:0{n}:01" }}
  - {{ name: t0, backend: mem, mac: "02:00:00:00:0{n}:02", trunk: true, addresses: [198.51.100.{n}/24] }}
labels: {{ min: 100{n}00, max: 100{n}99 }}
virtual_routers:
{vrs}discovery:
  listen: 127.0.0.1:{disc}
  routers: [192.0.2.1, 192.0.2.2, 192.0.2.3]
  reach:
    - {{ router: 192.0.2.1, address: "127.0.0.1:{d1}" }}
    - {{ router: 192.0.2.2, address: "127.0.0.1:{d2}" }}
    - {{ router: 192.0.2.3, address: "127.0.0.1:{d3}" }}
  vpns:
    - {{ vpn_id: "00a0c9:00000001", secret: "discovery secret of VPN A......" }}
    - {{ vpn_id: "00a0c9:00000002", secret: "discovery secret of VPN B......" }}
    - {{ vpn_id: "00a0c9:00000003", secret: "discovery secret of VPN C......" }}
  rto_initial_ms: 100
  rto_max_ms: 400
  max_attempts: 10
  refresh_s: 0
vpn_peering:
  listen: 127.0.0.1:{l2tp}
  reach:
    - {{ router: 192.0.2.1, address: "127.0.0.1:{l1}" }}
    - {{ router: 192.0.2.2, address: "127.0.0.1:{l2}" }}
    - {{ router: 192.0.2.3, address: "127.0.0.1:{l3}" }}
  vpns:
    - {{ vpn_id: "00a0c9:00000001", secret: "CHAP secret of VPN A, 32 bytes." }}
    - {{ vpn_id: "00a0c9:00000002", secret: "CHAP secret of VPN B, 32 bytes." }}
    - {{ vpn_id: "00a0c9:00000003", secret: "{secret_c}" }}
  radius: {radius}
  hello_s: 1
  retransmit_ms: 200
  max_retransmits: 3
  hold_s: {HOLD_S}
  reconnect_s: 1
  transport:
{transport}management:
  listen: 127.0.0.1:{api}
  owner: carrier
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{admin}" }}
    - {{ name: tb-admin, role: tenant-admin, tenant: tb, token_hash: "{tb}" }}
"#,
        disc = DISC_PORT + n - 1,
        d1 = DISC_PORT,
        d2 = DISC_PORT + 1,
        d3 = DISC_PORT + 2,
        l2tp = L2TP_PORT + n - 1,
        l1 = L2TP_PORT,
        l2 = L2TP_PORT + 1,
        l3 = L2TP_PORT + 2,
        api = API_PORT + n - 1,
        admin = cheap_hash(ADMIN),
        tb = cheap_hash(TENANT_B),
        radius = if n == 3 {
            format!(
                r#"{{ server: "127.0.0.3:{RADIUS_PORT}", secret: "{EXTERNAL_SECRET}", timeout_ms: 500 }}"#
            )
        } else {
            format!(r#"{{ listen: "127.0.0.{n}:{RADIUS_PORT}", timeout_ms: 500 }}"#)
        },
    )
}

const EXTERNAL_SECRET: &str = "shared with the external server";

/// The external RADIUS server of router 3: the project's server on a UDP socket of its
/// own, with router 3's view of the CHAP secrets (its wrong one for VPN C). Counts the
/// accepts and rejects it gave.
struct External {
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<(u64, u64)>>,
}

impl External {
    fn start() -> External {
        use controlplane::radius::server::{Config, NasClient, RadiusServer, VpnUsers};
        let sock = std::net::UdpSocket::bind(("127.0.0.3", RADIUS_PORT)).expect("bind 127.0.0.3");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut users = VpnUsers::new();
        users
            .set_secret(1, b"CHAP secret of VPN A, 32 bytes.")
            .unwrap();
        users
            .set_secret(2, b"CHAP secret of VPN B, 32 bytes.")
            .unwrap();
        users
            .set_secret(3, b"not the CHAP secret of VPN C!")
            .unwrap();
        let mut srv = RadiusServer::new(Config::default(), users);
        srv.add_client(
            NasClient::new(
                "router 3",
                "127.0.0.0".parse().unwrap(),
                8,
                EXTERNAL_SECRET.as_bytes(),
            )
            .unwrap(),
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let join = std::thread::spawn(move || {
            let (mut acc, mut rej) = (0, 0);
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                let now = Instant::now();
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    srv.handle_datagram(now, from, &buf[..n]);
                }
                srv.handle_timeout(now);
                while let Some(e) = srv.poll_event() {
                    match e.result {
                        Ok(()) => acc += 1,
                        Err(_) => rej += 1,
                    }
                }
                while let Some(t) = srv.poll_transmit() {
                    let _ = sock.send_to(&t.payload, t.dst);
                }
            }
            (acc, rej)
        });
        External {
            stop,
            join: Some(join),
        }
    }

    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.join.take().unwrap().join().unwrap()
    }
}

impl Drop for External {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

struct App {
    run: Option<Running>,
    /// VPN labels last read, by VR (what the others must still push once it stopped).
    labels: std::cell::RefCell<BTreeMap<String, u64>>,
    path: PathBuf,
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
        run: Some(Running::until_stopped(&path, Duration::from_secs(20))),
        labels: Default::default(),
        path,
        base: format!("http://{addr}"),
        agent: common::agent(),
    }
}

impl App {
    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {ADMIN}");
        let r = match body {
            None => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            Some(b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send(b.to_string()),
        };
        let mut r = r.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn peers(&self, vr: &str) -> Value {
        let (s, v) = self.get(&format!("/api/v1/vrs/{vr}/peers"), ADMIN);
        assert_eq!(s, 200, "peers of {vr}: {v}");
        v
    }

    /// The VR's FIB routes of source `vpn`: prefix → (push stack, port, via).
    fn fib(&self, vr: &str) -> BTreeMap<String, (Vec<u64>, String, String)> {
        self.peers(vr)["fib"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["prefix"].as_str().unwrap().to_string(),
                    (
                        r["push"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|l| l.as_u64().unwrap())
                            .collect(),
                        r["port"].as_str().unwrap().to_string(),
                        r["via"].as_str().unwrap_or("").to_string(),
                    ),
                )
            })
            .collect()
    }

    fn label(&self, vr: &str) -> u64 {
        if self.run.is_none() {
            return self.labels.borrow()[vr];
        }
        let v = self.peers(vr);
        let l = v["label"]
            .as_u64()
            .unwrap_or_else(|| panic!("{vr} has no VPN label: {v}"));
        self.labels.borrow_mut().insert(vr.to_string(), l);
        l
    }

    fn counter(&self, name: &str) -> u64 {
        let (s, v) = self.get("/api/v1/stats", ADMIN);
        assert_eq!(s, 200, "{v}");
        v["vpn_peering"]["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no vpn_peering counter {name} in {v}"))
    }

    fn stop(&mut self) {
        self.run.take();
    }

    /// The routers in the configuration map of `vr` (VR discovery).
    fn map_routers(&self, vr: &str) -> Vec<String> {
        let (s, v) = self.get(&format!("/api/v1/vrs/{vr}/map"), ADMIN);
        assert_eq!(s, 200, "map of {vr}: {v}");
        v["peers"]
            .as_array()
            .unwrap_or_else(|| panic!("map of {vr}: {v}"))
            .iter()
            .map(|p| p["router"].as_str().unwrap().to_string())
            .collect()
    }
}

type Fib = BTreeMap<String, (Vec<u64>, String, String)>;

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let t0 = Instant::now();
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if t0.elapsed() > limit => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The FIB `vr` on router `n` must hold: the other routers' prefixes of the VPN.
fn expected(
    apps: &[App],
    n: u16,
    vr: &str,
    others: &[u16],
    prefixes: impl Fn(u16) -> Vec<String>,
) -> Fib {
    let mut want = Fib::new();
    for &m in others {
        let peer_vr = format!("{}{m}", &vr[..1]);
        let label = apps[usize::from(m - 1)].label(&peer_vr);
        let push = if m == 3 {
            vec![label]
        } else {
            vec![16000 + u64::from(m), label]
        };
        for p in prefixes(m) {
            want.insert(p, (push.clone(), "t0".into(), format!("198.51.100.{m}")));
        }
    }
    let _ = n;
    want
}

fn site(m: u16) -> Vec<String> {
    vec![format!("10.0.{m}.0/24"), format!("172.16.{m}.0/24")]
}

fn check_fib(apps: &[App], n: u16, vr: &str, others: &[u16]) -> Result<(), String> {
    let want = expected(apps, n, vr, others, site);
    let got = apps[usize::from(n - 1)].fib(vr);
    if got == want {
        Ok(())
    } else {
        Err(format!("router {n} {vr}: FIB {got:?}, want {want:?}"))
    }
}

#[test]
fn vrs_of_a_vpn_exchange_routes_and_labels_through_the_appliance() {
    let dir = std::env::temp_dir().join(format!("varouter-vpnpeer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let external = External::start();
    let mut apps: Vec<App> = (1..=3).map(|n| start(&dir, n)).collect();

    // Channels up, every VR holds the other sites' prefixes with the right stack.
    let full = |apps: &[App]| -> Result<(), String> {
        check_fib(apps, 1, "a1", &[2, 3])?;
        check_fib(apps, 2, "a2", &[1, 3])?;
        check_fib(apps, 3, "a3", &[1, 2])?;
        check_fib(apps, 1, "b1", &[2])?;
        check_fib(apps, 2, "b2", &[1])?;
        Ok(())
    };
    wait_for(
        "channels up and routes installed",
        Duration::from_secs(30),
        || full(&apps),
    );
    let a1 = apps[0].peers("a1");
    let chans = a1["channels"].as_array().unwrap();
    assert_eq!(chans.len(), 2, "{a1}");
    for c in chans {
        assert_eq!(c["state"], "up", "{a1}");
        assert!(c["tunnel"].as_u64().is_some() && c["peer_tunnel"].as_u64().unwrap() > 0);
        assert_eq!(c["routes_received"], 2, "{a1}");
        assert_eq!(c["routes_installed"], 2, "{a1}");
        // 10.0.1.0/24 and 172.16.1.0/24; the blackhole is not announced.
        assert_eq!(c["routes_sent"], 2, "{a1}");
    }
    // The label matrix pops the VPN label into the VR (a label of router 1's range).
    let l = apps[0].label("a1");
    assert!((100100..=100199).contains(&l), "{l}");
    assert_ne!(l, apps[0].label("b1"));

    // Isolation: B's FIB has B's labels only, never an A route (router 3 has no B).
    let a_labels: Vec<u64> = (1..=3u16)
        .map(|m| apps[usize::from(m - 1)].label(&format!("a{m}")))
        .collect();
    for (n, vr) in [(1usize, "b1"), (2, "b2")] {
        for (p, (push, _, _)) in apps[n - 1].fib(vr) {
            assert!(
                !a_labels.contains(push.last().unwrap()),
                "{vr} holds {p} with an A label: {push:?}"
            );
            assert!(
                !p.starts_with("10.0.3.") && !p.starts_with("172.16.3."),
                "{vr}: {p}"
            );
        }
    }
    // ctl: the human table and --json.
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_varouter"))
            .args(["ctl", "--api", &apps[0].base, "--token", ADMIN])
            .args(args)
            .output()
            .expect("varouter ctl runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = ctl(&["vr", "peers", "a1"]);
    assert!(
        out.contains("192.0.2.3")
            && out.contains("implicit-null on t0 via 198.51.100.3")
            && out.contains("routes installed:")
            && out.contains("172.16.2.0/24"),
        "{out}"
    );
    let v: Value = serde_json::from_str(&ctl(&["--json", "vr", "peers", "a1"])).unwrap();
    assert_eq!(v["channels"].as_array().unwrap().len(), 2, "{v}");
    // Metrics: the appliance-wide gauges and event counters.
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
        metrics.contains("varouter_vpn_peering_channels_up 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"varouter_vpn_peering_events_total{event="routes_rx"}"#),
        "{metrics}"
    );
    // A tenant sees its VRs' channels, not another's.
    let (s, _) = apps[0].get("/api/v1/vrs/b1/peers", TENANT_B);
    assert_eq!(s, 200);
    let (s, _) = apps[0].get("/api/v1/vrs/a1/peers", TENANT_B);
    assert_eq!(s, 404);

    // b2 deleted through the API: b1 loses its routes and its channel; re-created (with
    // its static route), everything comes back.
    let (st, v) = apps[1].send("DELETE", "/api/v1/vrs/b2", None);
    assert!(st == 200 || st == 204, "{st} {v}");
    wait_for(
        "b2's routes withdrawn from b1",
        Duration::from_secs(15),
        || {
            let v = apps[0].peers("b1");
            let empty = v["fib"].as_array().unwrap().is_empty()
                && v["channels"].as_array().unwrap().is_empty();
            empty.then_some(()).ok_or(format!("{v}"))
        },
    );
    check_fib(&apps, 1, "a1", &[2, 3]).unwrap();
    let b2 = serde_json::json!({
        "id": 2, "name": "b2", "vpn_id": "00a0c9:00000002", "tenant": "tb",
        "interfaces": [{"port": "p0", "vlan": 20, "addresses": ["10.0.2.1/24"]}],
        "routes": [{"prefix": "172.16.2.0/24", "via": "10.0.2.2"}],
    });
    let (st, v) = apps[1].send("POST", "/api/v1/vrs", Some(&b2));
    assert_eq!(st, 201, "{v}");
    assert!(
        v["applied"]
            .to_string()
            .contains("vpn peering: VR 2 of VPN 2 takes part"),
        "{v}"
    );
    wait_for("b2 back", Duration::from_secs(20), || {
        check_fib(&apps, 1, "b1", &[2])?;
        check_fib(&apps, 2, "b2", &[1])
    });

    // A static route added through the API (a route-only transaction) is announced at once;
    // deleted, it is withdrawn.
    let (st, v) = apps[0].send(
        "POST",
        "/api/v1/vrs/a1/routes",
        Some(&serde_json::json!({"prefix": "172.20.0.0/16", "via": "10.0.1.2"})),
    );
    assert!(st == 200 || st == 201, "{st} {v}");
    let has = |apps: &[App], want: bool| -> Result<(), String> {
        let got = apps[1].fib("a2").contains_key("172.20.0.0/16");
        (got == want)
            .then_some(())
            .ok_or(format!("a2 holds 172.20.0.0/16: {got}"))
    };
    wait_for("API route announced", Duration::from_secs(10), || {
        has(&apps, true)
    });
    let (st, v) = apps[0].send("DELETE", "/api/v1/vrs/a1/routes/172.20.0.0%2F16", None);
    assert!(st == 200 || st == 204, "{st} {v}");
    wait_for("API route withdrawn", Duration::from_secs(10), || {
        has(&apps, false)
    });

    // VPN C: router 3's CHAP secret is wrong: refused and counted, nothing learnt. Which
    // side refuses first is a race: router 1 rejects router 3's answer (`auth_rejects` on
    // 1), or router 3 rejects router 1 through its RADIUS server (`auth_rejects` on 3,
    // `refused_by_peer` on 1 once the StopCCN arrives).
    wait_for("C refused", Duration::from_secs(15), || {
        let (r1, p1, r3) = (
            apps[0].counter("auth_rejects"),
            apps[0].counter("refused_by_peer"),
            apps[2].counter("auth_rejects"),
        );
        (r1 + p1 + r3 > 0).then_some(()).ok_or(format!(
            "router 1 auth_rejects {r1} refused_by_peer {p1}, router 3 auth_rejects {r3}"
        ))
    });
    for (n, vr) in [(0usize, "c1"), (2, "c3")] {
        let v = apps[n].peers(vr);
        assert_eq!(v["fib"].as_array().unwrap().len(), 0, "{v}");
        for c in v["channels"].as_array().unwrap() {
            assert_ne!(c["state"], "up", "{v}");
        }
    }

    // Router 3 (external RADIUS) accepted routers 1 and 2 for A through the external
    // server; for C it was refused by router 1 (StopCCN result 4) or refused router 1
    // itself, whichever check finished first.
    assert!(apps[2].counter("auth_accepts") >= 2);
    assert!(apps[2].counter("refused_by_peer") + apps[2].counter("auth_rejects") > 0);

    // Router 2 restarts within the hold time: nothing is withdrawn on routers 1 and 3.
    let removals = |apps: &[App]| {
        (
            apps[0].counter("fib_removals"),
            apps[2].counter("fib_removals"),
        )
    };
    let before = removals(&apps);
    apps[1].stop();
    std::thread::sleep(Duration::from_millis(500));
    let path = apps[1].path.clone();
    apps[1].run = Some(Running::until_stopped(&path, Duration::from_secs(20)));
    let t0 = Instant::now();
    // Through the restart and beyond the hold time, the others keep router 2's routes.
    while t0.elapsed() < Duration::from_secs(HOLD_S + 3) {
        check_fib(&apps, 1, "a1", &[2, 3]).unwrap_or_else(|e| panic!("during restart: {e}"));
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for("after router 2's restart", Duration::from_secs(20), || {
        full(&apps)?;
        let v = apps[0].peers("a1");
        let up = v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "up");
        up.then_some(()).ok_or(format!("channels {v}"))
    });
    assert_eq!(
        removals(&apps),
        before,
        "a restart within the hold time withdrew routes"
    );
    // Router 1 saw router 2 go silent and come back within the hold time.
    assert!(
        apps[0].counter("peers_held") > 0,
        "router 2's silence was not noticed"
    );
    assert!(
        apps[0].counter("hold_recoveries") > 0,
        "router 2 did not recover from hold"
    );

    // Router 3 stops: held, then after the hold time its routes are withdrawn elsewhere.
    apps[2].stop();
    let t_stop = Instant::now();
    wait_for("router 3 held", Duration::from_secs(10), || {
        let v = apps[0].peers("a1");
        let held = v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["router"] == "192.0.2.3" && c["state"] == "held");
        held.then_some(()).ok_or(format!("{v}"))
    });
    // Still installed while held.
    check_fib(&apps, 1, "a1", &[2, 3]).unwrap();
    wait_for(
        "router 3's routes withdrawn",
        Duration::from_secs(HOLD_S + 10),
        || {
            check_fib(&apps, 1, "a1", &[2])?;
            check_fib(&apps, 2, "a2", &[1])
        },
    );
    assert!(
        t_stop.elapsed() >= Duration::from_secs(HOLD_S),
        "withdrawn before the hold time ran out ({:?})",
        t_stop.elapsed()
    );
    assert!(apps[0].counter("hold_expiries") > 0);
    // B untouched.
    check_fib(&apps, 1, "b1", &[2]).unwrap();
    // At expiry the configuration maps drop router 3 (seed 001 Fig. 10)...
    wait_for("router 3 out of the maps", Duration::from_secs(5), || {
        for (n, vr) in [(1, "a1"), (2, "a2")] {
            let m = apps[n - 1].map_routers(vr);
            if m.contains(&"192.0.2.3".to_string()) {
                return Err(format!("router {n} {vr}: map {m:?}"));
            }
        }
        Ok(())
    });
    // ... so that router 3, back after the hold time, is learnt and peered again (before
    // the maps were updated, the others still listed it and never peered with it again).
    let path = apps[2].path.clone();
    apps[2].run = Some(Running::until_stopped(&path, Duration::from_secs(20)));
    wait_for(
        "router 3 peered again after expiry",
        Duration::from_secs(20),
        || {
            check_fib(&apps, 1, "a1", &[2, 3])?;
            check_fib(&apps, 2, "a2", &[1, 3])
        },
    );

    drop(apps);
    let (accepts, rejects) = external.finish();
    assert!(
        accepts >= 2 && rejects > 0,
        "external server: {accepts} accepts, {rejects} rejects"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
