//! Runs the VR discovery engine of one router on UDP (`controlplane::discovery::driver`) from a
//! small JSON configuration, and prints its configuration maps and counters as one JSON
//! object when it stops (after `run_seconds`, or on end of the configured time).
//!
//! ```text
//! cargo run -p controlplane --example discovery_router -- router.json
//! ```
//!
//! ```json
//! {
//!   "router_id": "10.255.0.1",
//!   "listen": "127.0.0.1:18210",
//!   "routers": { "10.255.0.1": "127.0.0.1:18210", "10.255.0.2": "127.0.0.1:18211" },
//!   "vpns": [ { "id": 100, "secret": "at least sixteen bytes", "vr_address": "10.0.0.1" } ],
//!   "run_seconds": 3,
//!   "rto_initial_ms": 200
//! }
//! ```
//!
//! `routers` lists every provider router with its discovery address; a VPN without
//! `vr_address` only installs the key (the router answers nothing for it). Map changes are
//! logged to stderr as they happen. Used by `scripts/test.d/51-discovery-udp.sh`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use controlplane::discovery::driver::UdpDriver;
use controlplane::discovery::{Config, Engine, Event};
use serde_json::{json, Value};

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value, String> {
    v.get(key)
        .ok_or_else(|| format!("{what}: missing key `{key}`"))
}

fn text<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, String> {
    field(v, key, what)?
        .as_str()
        .ok_or_else(|| format!("{what}: `{key}` must be a string"))
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| format!("{what}: `{s}` is not valid: {e}"))
}

struct Vpn {
    id: u32,
    secret: String,
    vr: Option<IpAddr>,
}

struct Setup {
    router_id: Ipv4Addr,
    listen: SocketAddr,
    routers: BTreeMap<Ipv4Addr, SocketAddr>,
    vpns: Vec<Vpn>,
    run: Duration,
    rto: Duration,
}

fn load(path: &str) -> Result<Setup, String> {
    let text_in = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let v: Value = serde_json::from_str(&text_in).map_err(|e| format!("{path}: {e}"))?;
    let router_id = parse(text(&v, "router_id", path)?, "router_id")?;
    let listen = parse(text(&v, "listen", path)?, "listen")?;
    let mut routers = BTreeMap::new();
    let rs = field(&v, "routers", path)?
        .as_object()
        .ok_or(format!("{path}: `routers` must be an object"))?;
    for (id, addr) in rs {
        let a = addr
            .as_str()
            .ok_or(format!("{path}: routers.{id} must be a string"))?;
        routers.insert(
            parse(id, "routers key")?,
            parse(a, &format!("routers.{id}"))?,
        );
    }
    if !routers.contains_key(&router_id) {
        return Err(format!("{path}: `routers` must list router_id {router_id}"));
    }
    let mut vpns = Vec::new();
    let list = field(&v, "vpns", path)?
        .as_array()
        .ok_or(format!("{path}: `vpns` must be a list"))?;
    for (n, x) in list.iter().enumerate() {
        let what = format!("{path}: vpns[{n}]");
        let id = field(x, "id", &what)?
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or(format!("{what}: `id` must be a 32-bit number"))?;
        let secret = text(x, "secret", &what)?.to_string();
        let vr = match x.get("vr_address") {
            None | Some(Value::Null) => None,
            Some(a) => Some(parse(
                a.as_str()
                    .ok_or(format!("{what}: `vr_address` must be a string"))?,
                &what,
            )?),
        };
        vpns.push(Vpn { id, secret, vr });
    }
    let secs = v.get("run_seconds").and_then(Value::as_f64).unwrap_or(3.0);
    let rto = v
        .get("rto_initial_ms")
        .and_then(Value::as_u64)
        .unwrap_or(1000);
    if !(0.0..=3600.0).contains(&secs) {
        return Err(format!("{path}: `run_seconds` must be 0 to 3600"));
    }
    Ok(Setup {
        router_id,
        listen,
        routers,
        vpns,
        run: Duration::from_secs_f64(secs),
        rto: Duration::from_millis(rto),
    })
}

fn run(path: &str) -> Result<Value, String> {
    let s = load(path)?;
    // Sequence numbers start at the wall clock in microseconds (doc §5: a restarted router
    // continues above what it sent before).
    let seq_start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_micros() as u64;
    let mut cfg = Config::new(s.router_id, s.routers.keys().copied().collect(), seq_start);
    cfg.rto_initial = s.rto;
    let mut engine = Engine::new(cfg);
    for vpn in &s.vpns {
        engine
            .set_key(vpn.id, vpn.secret.as_bytes())
            .map_err(|e| format!("VPN {}: {e}", vpn.id))?;
    }
    let mut driver = UdpDriver::bind(s.listen, engine, s.routers.clone())
        .map_err(|e| format!("bind {}: {e}", s.listen))?;
    let start = Instant::now();
    for vpn in &s.vpns {
        if let Some(addr) = vpn.vr {
            driver
                .engine_mut()
                .add_vr(start, vpn.id, addr)
                .map_err(|e| format!("VPN {}: {e}", vpn.id))?;
        }
    }
    driver.flush();
    let end = start + s.run;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        driver.poll(now);
        while let Some(ev) = driver.engine_mut().poll_event() {
            match ev {
                Event::PeerLearnt {
                    vpn_id,
                    router,
                    addr,
                } => eprintln!("{}: VPN {vpn_id}: learnt {router} at {addr}", s.router_id),
                Event::PeerLost {
                    vpn_id,
                    router,
                    addr,
                } => eprintln!("{}: VPN {vpn_id}: lost {router} at {addr}", s.router_id),
            }
        }
        let wake = driver
            .next_wakeup()
            .unwrap_or(end)
            .min(end)
            .min(now + Duration::from_millis(5));
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    let mut maps = serde_json::Map::new();
    for vpn in &s.vpns {
        if let Some(m) = driver.engine().config_map(vpn.id) {
            let m: serde_json::Map<String, Value> = m
                .iter()
                .map(|(r, a)| (r.to_string(), json!(a.to_string())))
                .collect();
            maps.insert(vpn.id.to_string(), Value::Object(m));
        }
    }
    Ok(json!({
        "router_id": s.router_id.to_string(),
        "maps": maps,
        "counters": format!("{:?}", driver.engine().counters()),
        "driver": format!("{:?}", driver.counters()),
    }))
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: discovery_router CONFIG.json");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("discovery_router: {e}");
            ExitCode::FAILURE
        }
    }
}
