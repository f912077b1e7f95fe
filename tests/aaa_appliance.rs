//! The appliance with an `aaa:` section (issue 16): it runs the home AAA on its own thread,
//! on a SQLite VPN database, and a real FA and HA (the client-side engines of
//! `controlplane::aaa` on their own Diameter connections over loopback TCP, ports
//! 18191–18192) drive AMR → HAR → HAA → AMA through it. The AAA's counters are checked in
//! the management API's `/metrics` while it runs and in the run's summary after.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::aaa::client::{FaClient, FaEvent, HaClient, HaDecision};
use controlplane::aaa::driver::Node;
use controlplane::aaa::mn_aaa_registration;
use controlplane::diameter::mip4::{self, Ama, Amr, Route};
use controlplane::diameter::peer::Config;
use controlplane::diameter::wire::codes::result;
use varouter::appliance::{Reload, RunError, RunOptions};
use varouter::bench::aaa::{document, mn_key, nai};

mod common;
use common::cheap_hash;

const AAA_PORT: u16 = 18191;
const API_PORT: u16 = 18192;
const TOKEN: &str = "aaa-test-admin-token";
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn profile(dir: &Path) -> String {
    format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:00:01" }}
management:
  listen: 127.0.0.1:{API_PORT}
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{hash}" }}
aaa:
  role: home
  listen: 127.0.0.1:{AAA_PORT}
  origin_host: aaah.bench.example
  origin_realm: bench.example
  database: sqlite:{db}
  mn_aaa_keys: keys.yaml
  ha_host: ha.bench.example
  authorization_lifetime: 600
"#,
        hash = cheap_hash(TOKEN),
        db = dir.join("vpndb.sqlite").display(),
    )
}

fn peer(host: &str, realm: &str) -> Config {
    let mut c = Config::new(host, realm);
    c.known_avp = mip4::known_avp;
    c.supported_vendor_ids = vec![mip4::VENDOR_ID];
    c
}

fn amr(session: &str, user: u32, key: &[u8]) -> Amr {
    let (reg, auth) = mn_aaa_registration(
        Ipv4Addr::new(10, 200, 0, 5),
        HA,
        FA,
        600,
        1,
        "mn@home.example",
        b"fa-challenge",
        256,
        key,
    );
    Amr {
        session_id: session.into(),
        route: Route {
            origin_host: "fa.visited.example".into(),
            origin_realm: "visited.example".into(),
            destination_realm: "bench.example".into(),
            destination_host: None,
        },
        user_name: nai(user),
        reg_request: reg,
        mn_aaa_auth: auth,
        mn_address: None,
        ha_address: Some(HA),
        feature_vector: None,
        originating_foreign_aaa: None,
        authorization_lifetime: None,
        auth_session_state: None,
        ha_to_fa_spi: None,
        old_fa: None,
        service_update: false,
        route_record: vec![],
    }
}

struct Agents {
    ha: Node<HaClient>,
    fa: Node<FaClient>,
}

impl Agents {
    fn until<T>(&mut self, what: &str, mut f: impl FnMut(&mut Agents) -> Option<T>) -> T {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let now = Instant::now();
            self.ha.poll(now);
            self.fa.poll(now);
            if let Some(t) = f(self) {
                return t;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    fn register(&mut self, a: &Amr) -> Ama {
        let t = self.fa.engine_mut().send_amr(Instant::now(), a);
        self.until("the AMA", |s| match s.fa.engine_mut().poll_event() {
            Some(FaEvent::Answer { token, ama }) if token == t => Some(*ama),
            Some(e) => panic!("{e:?}"),
            None => None,
        })
    }
}

fn scrape() -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut r = agent
        .get(format!("http://127.0.0.1:{API_PORT}/metrics"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.body_mut().read_to_string().unwrap()
}

#[test]
fn the_appliance_answers_amrs_through_its_aaa_thread() {
    let dir = tempfile::tempdir().unwrap();
    // The VPN database: four users (vpndb, as `varouter vpndb import` writes it).
    let mut store = vpndb::open(&format!(
        "sqlite:{}",
        dir.path().join("vpndb.sqlite").display()
    ))
    .unwrap();
    store.import("test", &document(4)).unwrap();
    drop(store);
    let keys: String = (1..=4)
        .map(|i| {
            let hex: String = mn_key(i)
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{}: \"{hex}\"\n", nai(i))
        })
        .collect();
    std::fs::write(dir.path().join("keys.yaml"), keys).unwrap();
    let path = dir.path().join("profile.yaml");
    std::fs::write(&path, profile(dir.path())).unwrap();
    let cfg = varouter::load_config(&path).expect("the test profile checks");
    assert!(cfg.aaa.is_some());

    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let reload = Reload {
        path: path.clone(),
        requested: Arc::new(AtomicBool::new(false)),
    };
    let app = std::thread::spawn(move || {
        let opts = RunOptions {
            duration: Some(Duration::from_secs(120)),
            until_inputs_finished: false,
            stats_every: None,
        };
        varouter::appliance::run_with_reload(&cfg, &opts, s, Some(reload))
    });
    let aaa: SocketAddr = format!("127.0.0.1:{AAA_PORT}").parse().unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(aaa).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no AAA on {aaa}");
        assert!(!app.is_finished(), "the appliance stopped at start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let now = Instant::now();
    let decide = Box::new(|h: &mip4::Har| HaDecision {
        result_code: result::SUCCESS,
        reg_reply: Some(vec![3, 0, 2, 0x58]),
        mn_address: h.mn_address,
        old_fa: None,
    });
    let mut ha = Node::new(
        HaClient::new("ha.bench.example", "bench.example", HA, decide),
        peer("ha.bench.example", "bench.example"),
        None,
        Box::new(|_| Ok(None)),
    )
    .unwrap();
    ha.connect(aaa, Duration::from_secs(1), now);
    let mut fa = Node::new(
        FaClient::new(
            "fa.visited.example",
            "bench.example",
            Duration::from_secs(5),
        ),
        peer("fa.visited.example", "visited.example"),
        None,
        Box::new(|_| Ok(None)),
    )
    .unwrap();
    fa.connect(aaa, Duration::from_secs(1), now);
    let mut agents = Agents { ha, fa };
    agents.until("both connections open", |a| {
        (a.ha.open_peers() == ["aaah.bench.example"] && a.fa.open_peers().len() == 1).then_some(())
    });

    // User 1 with its key: the full path, the HA saw the HAR with the VPN information.
    let ama = agents.register(&amr("fa;1", 1, mn_key(1).as_bytes()));
    assert_eq!(ama.result_code, result::SUCCESS, "{ama:?}");
    assert_eq!(ama.user_name.as_deref(), Some(nai(1).as_str()));
    assert!(!ama.vpn.as_ref().unwrap().profiles.is_empty());
    let har = agents
        .ha
        .engine()
        .recent
        .back()
        .expect("the HA got a HAR")
        .clone();
    assert_eq!(har.user_name, nai(1));
    // A wrong MN-AAA key and an unknown user: one Result-Code for both.
    let ama = agents.register(&amr("fa;2", 2, b"not the key"));
    assert_eq!(ama.result_code, result::AUTHENTICATION_REJECTED);
    let ama = agents.register(&amr("fa;3", 99, mn_key(99).as_bytes()));
    assert_eq!(ama.result_code, result::AUTHENTICATION_REJECTED);
    // User 1 registers again under a new Session-Id (from the AAAH's cache): its session
    // record moves to the new one.
    let ama = agents.register(&amr("fa;4", 1, mn_key(1).as_bytes()));
    assert_eq!(ama.result_code, result::SUCCESS, "{ama:?}");

    // The counters in /metrics (published by the AAA thread every 100 ms).
    let t0 = Instant::now();
    let metrics = loop {
        let m = scrape();
        if m.contains(r#"varouter_aaa_requests_total{role="home"} 4"#) {
            break m;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "AAA counters not in /metrics:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for line in [
        r#"varouter_aaa_answers_total{role="home",result_code="2001"} 2"#,
        r#"varouter_aaa_answers_total{role="home",result_code="4001"} 2"#,
        r#"varouter_aaa_sessions{role="home"} 1"#,
        r#"varouter_aaa_peers_up{role="home"} 2"#,
        r#"varouter_aaa_lookups_total{role="home"} 3"#,
        r#"varouter_aaa_lookup_errors_total{role="home"} 0"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line}:\n{metrics}"
        );
    }

    // The session writer (its own thread and connection) writes the rows while the AAA runs,
    // off the registration path: they appear shortly after the answers, and its counters
    // reach /metrics.
    let db_url = format!("sqlite:{}", dir.path().join("vpndb.sqlite").display());
    let mut reader = vpndb::open(&db_url).unwrap();
    let user1 = vpndb::Nai::parse(&nai(1)).unwrap();
    let t0 = Instant::now();
    loop {
        let rows = reader.sessions_of_nai(&user1).unwrap();
        if rows.len() == 1 && rows[0].session_id == "fa;4" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the session writer did not write fa;4 (nor end fa;1) while running: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(reader);
    let t0 = Instant::now();
    loop {
        let m = scrape();
        let want = [
            r#"varouter_aaa_sessions_recorded_total{role="home"} 2"#,
            r#"varouter_aaa_sessions_ended_total{role="home"} 1"#,
            r#"varouter_aaa_session_record_errors_total{role="home"} 0"#,
            r#"varouter_aaa_session_records_dropped_total{role="home"} 0"#,
        ];
        if want.iter().all(|w| m.lines().any(|l| l == *w)) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "session writer counters not in /metrics ({want:?}):\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    stop.store(true, Ordering::Relaxed);
    let summary = app.join().unwrap().expect("the appliance ran");
    let a = summary
        .aaa
        .clone()
        .expect("the summary has the AAA's counters");
    assert_eq!(a.role, "home");
    assert_eq!(a.requests, 4);
    assert_eq!(
        a.answers_by_result,
        [(2001, 2), (4001, 2)].into_iter().collect()
    );
    assert_eq!((a.requests_out, a.answers_in), (2, 2), "two HARs, two HAAs");
    assert_eq!(
        (
            a.sessions_recorded,
            a.sessions_ended,
            a.session_record_errors,
            a.session_records_dropped
        ),
        (2, 1, 0, 0)
    );
    assert!(a.session_batches >= 1 && a.session_batches <= 3, "{a:?}");
    let engine: HashMap<_, _> = a.engine.iter().copied().collect();
    assert_eq!(engine["auth_failed"], 1);
    assert_eq!(engine["unknown_user"], 1);
    assert!(varouter::appliance::format_summary(&summary).contains("aaa home requests 4"));
    // The current tunnels of user 1 for the web page: the second session only; user 1's
    // profile is on a static gateway, so its row is the HA -> enterprise gateway tunnel.
    let mut store = vpndb::open(&db_url).unwrap();
    let rows = store.sessions_of_nai(&user1).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((r.session_id.as_str(), r.profile_number), ("fa;4", 1));
    assert_eq!((r.fa, r.ha, r.src_gw), (FA, HA, HA));
    assert_eq!(r.gw_type, vpndb::GwType::Static);
    assert!(r.expires_at >= r.created_at + 590, "{r:?}");
}

#[test]
fn an_aaa_whose_database_cannot_be_opened_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.yaml");
    // Nothing listens on port 18193 (of this test's range); the AAA would listen on 18194.
    std::fs::write(
        &path,
        "router_id: 192.0.2.1\nports:\n  - { name: p0, backend: mem, mac: \"02:00:00:00:00:01\" }\naaa:\n  role: home\n  listen: 127.0.0.1:18194\n  origin_host: aaah.example\n  origin_realm: example\n  database: postgres://nobody@127.0.0.1:18193/none\n  require_mn_aaa_auth: false\n",
    )
    .unwrap();
    let cfg = varouter::load_config(&path).expect("the profile checks");
    let opts = RunOptions {
        duration: Some(Duration::from_secs(5)),
        until_inputs_finished: false,
        stats_every: None,
    };
    match varouter::appliance::run(&cfg, &opts, Arc::new(AtomicBool::new(false))) {
        Err(RunError::Aaa(e)) => {
            assert!(
                e.contains("aaa.database postgres://nobody@127.0.0.1:18193/none"),
                "{e}"
            )
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("the appliance ran without its database"),
    }
}
