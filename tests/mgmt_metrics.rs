//! `/metrics` and `/dashboard` over real HTTP: the appliance runs in-process on
//! tests/mgmt/metrics-profile.yaml (three VRs of three tenants with mem-generator traffic)
//! and the tests scrape it on 127.0.0.1 (ports 18123–18124) as the carrier admin, as a
//! tenant admin and without a token. (scripts/test.d/45-mgmt-metrics.sh runs promtool, a
//! Prometheus server and headless Chromium against the same profile.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use varouter::appliance::RunOptions;

mod common;
use common::{cheap_hash, Running, TestDir};

const ADMIN: &str = "metrics-admin-token";
const BRAVO: &str = "metrics-bravo-token";

/// The running appliance and the client that talks to it.
struct App {
    _run: Running,
    base: String,
    agent: ureq::Agent,
    /// Dropped after the run (fields drop in order).
    _dir: TestDir,
}

fn start(name: &str, port: u16) -> App {
    let dir = TestDir::new(name);
    let template = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mgmt/metrics-profile.yaml"),
    )
    .unwrap();
    let path = dir.join("profile.yaml");
    std::fs::write(
        &path,
        template
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@ADMIN_HASH@", &cheap_hash(ADMIN))
            .replace("@BRAVO_HASH@", &cheap_hash(BRAVO)),
    )
    .unwrap();
    let opts = RunOptions {
        duration: Some(Duration::from_secs(120)),
        until_inputs_finished: false,
        stats_every: None,
    };
    App {
        _run: Running::start(&path, opts, Duration::from_secs(10)),
        base: format!("http://127.0.0.1:{port}"),
        agent: common::agent(),
        _dir: dir,
    }
}

/// One GET: (status, content type, body).
fn get(app: &App, path: &str, token: Option<&str>, accept: Option<&str>) -> (u16, String, String) {
    let mut r = app.agent.get(format!("{}{path}", app.base));
    if let Some(t) = token {
        r = r.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    let mut resp = r.call().unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let status = resp.status().as_u16();
    (status, ct, resp.body_mut().read_to_string().unwrap())
}

/// Samples of a Prometheus text exposition: (name, labels) → value.
fn samples(text: &str) -> BTreeMap<(String, String), f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {l}"));
            ((name.to_string(), labels.to_string()), v)
        })
        .collect()
}

fn value(s: &BTreeMap<(String, String), f64>, name: &str, labels: &str) -> f64 {
    *s.get(&(name.to_string(), labels.to_string()))
        .unwrap_or_else(|| panic!("no {name}{{{labels}}}"))
}

#[test]
fn metrics_count_traffic_and_are_scoped_to_the_token() {
    let app = start("metrics-scoped", 18123);
    std::thread::sleep(Duration::from_millis(800));

    // No token, a wrong token: 401 with the API's JSON error.
    for t in [None, Some("nope")] {
        let (s, _, body) = get(&app, "/metrics", t, None);
        assert_eq!(s, 401, "{body}");
        assert!(body.contains(r#""code":"unauthorized""#), "{body}");
    }

    // A change through the API is one more publication, timed.
    let (s0, _, before) = get(&app, "/metrics", Some(ADMIN), None);
    assert_eq!(s0, 200);
    let published0 = value(&samples(&before), "varouter_publish_total", "");
    let r = app
        .agent
        .post(format!("{}/api/v1/vrs/vr-alpha/routes", app.base))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .send(r#"{"prefix": "10.77.0.0/16", "via": "10.255.0.2"}"#)
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    std::thread::sleep(Duration::from_millis(300));

    let (s, ct, text) = get(&app, "/metrics", Some(ADMIN), None);
    assert_eq!(s, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    let c = samples(&text);
    for (vr, tenant) in [
        ("vr-alpha", "carrier-a"),
        ("vr-bravo", "carrier-b"),
        ("vr-charlie", "carrier-c"),
    ] {
        let l = format!(r#"vr="{vr}",tenant="{tenant}""#);
        let rx = value(&c, "varouter_vr_rx_packets_total", &l);
        let tx = value(&c, "varouter_vr_tx_packets_total", &l);
        assert!(rx > 0.0 && tx > 0.0, "{vr}: rx {rx} tx {tx}");
        // Frames of at least 60 bytes each (Ethernet + 802.1Q + IPv4), counted by the workers.
        assert!(
            value(&c, "varouter_vr_rx_bytes_total", &l) >= 60.0 * rx,
            "{vr} rx bytes"
        );
        assert!(
            value(&c, "varouter_vr_tx_bytes_total", &l) >= 60.0 * tx,
            "{vr} tx bytes"
        );
    }
    // The unrouted flow of vr-alpha: its drops, by name, on the worker.
    assert!(
        value(
            &c,
            "varouter_worker_drops_total",
            r#"worker="0",reason="no_route""#
        ) > 0.0
    );
    assert!(
        value(
            &c,
            "varouter_vr_drops_total",
            r#"vr="vr-alpha",tenant="carrier-a""#
        ) > 0.0
    );
    assert!(value(&c, "varouter_port_rx_packets_total", r#"port="access0""#) > 0.0);
    assert!(value(&c, "varouter_control_loop_busy_seconds_count", "") > 100.0);
    assert!(value(&c, "varouter_publish_total", "") >= published0 + 1.0);
    assert!(value(&c, "varouter_publish_seconds_total", "") > 0.0);
    // The route went the fast path; every fallback reason is there, at 0.
    let fast0 = value(&c, "varouter_api_transactions_total", r#"path="fast""#);
    let full0 = value(&c, "varouter_api_transactions_total", r#"path="full""#);
    assert!(fast0 >= 1.0, "{text}");
    for reason in [
        "disabled",
        "delete_after_add",
        "document_mismatch",
        "table_limit",
    ] {
        let l = format!(r#"reason="{reason}""#);
        assert_eq!(
            value(&c, "varouter_api_transaction_fallbacks_total", &l),
            0.0
        );
    }
    // A deletion after an addition goes the full way, and says why; so does a change that
    // is not a route (without a fallback reason: the fast path is not for it).
    for (body, full, fallbacks) in [
        (
            r#"{"changes":[{"op":"add_route","vr":"vr-alpha","route":{"prefix":"10.78.0.0/16","via":"10.255.0.2"}},{"op":"delete_route","vr":"vr-alpha","prefix":"10.77.0.0/16"}]}"#,
            1.0,
            1.0,
        ),
        (
            r#"{"changes":[{"op":"set_tenant","vr":"vr-alpha","tenant":"carrier-a"}]}"#,
            2.0,
            1.0,
        ),
    ] {
        let r = app
            .agent
            .post(format!("{}/api/v1/transaction", app.base))
            .header("Authorization", format!("Bearer {ADMIN}"))
            .send(body)
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let (_, _, text) = get(&app, "/metrics", Some(ADMIN), None);
        let c = samples(&text);
        assert_eq!(
            value(&c, "varouter_api_transactions_total", r#"path="full""#),
            full0 + full
        );
        assert_eq!(
            value(&c, "varouter_api_transactions_total", r#"path="fast""#),
            fast0
        );
        assert_eq!(
            value(
                &c,
                "varouter_api_transaction_fallbacks_total",
                r#"reason="delete_after_add""#
            ),
            fallbacks
        );
    }

    // The tenant: its VR, nothing else, nowhere in the text.
    let (s, _, text) = get(&app, "/metrics", Some(BRAVO), None);
    assert_eq!(s, 200);
    for hidden in [
        "vr-alpha",
        "vr-charlie",
        "carrier-a",
        "carrier-c",
        "access0",
        "trunk0",
        "varouter_port_",
        "varouter_worker_",
        "varouter_control_loop",
        "varouter_publish",
        "varouter_api_",
    ] {
        assert!(
            !text.contains(hidden),
            "{hidden} in the tenant's exposition:\n{text}"
        );
    }
    let t = samples(&text);
    assert!(
        value(
            &t,
            "varouter_vr_rx_packets_total",
            r#"vr="vr-bravo",tenant="carrier-b""#
        ) > 0.0
    );

    // OpenMetrics on request.
    let (s, ct, text) = get(
        &app,
        "/metrics",
        Some(BRAVO),
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    );
    assert_eq!(s, 200);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("vr-alpha"));
}

#[test]
fn the_dashboard_is_served_without_a_token_and_holds_no_data() {
    let app = start("metrics-dashboard", 18124);
    let r = app
        .agent
        .get(format!("{}/dashboard", app.base))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert_eq!(h.get("content-type").unwrap(), "text/html; charset=utf-8");
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let (_, _, body) = get(&app, "/dashboard", None, None);
    assert_eq!(body, varouter::mgmt::dashboard::PAGE);
    for name in ["vr-alpha", "vr-bravo", "carrier-b", "access0"] {
        assert!(!body.contains(name), "the page itself holds {name}");
    }
}
