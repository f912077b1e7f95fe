//! One LDP speaker on real sockets: link Hellos on UDP 646, sessions on TCP 646; prints
//! what happens (adjacencies, sessions, bindings learnt and lost) as JSON lines on stdout.
//!
//! ```text
//! ldp_peer --router-id 10.255.0.1 --interface 10.99.0.1 [--transport 10.99.0.1]
//!          [--fec 192.0.2.0/24 ...] [--labels 10000-10999] [--hello-interval 5]
//!          [--hold 15] [--keepalive 180] [--duration SECONDS] [--state-every SECONDS]
//! ```
//!
//! The LSR Id /32 is always advertised; `--fec` adds prefixes. `--duration`, SIGINT or
//! SIGTERM end the run (with a Shutdown notification to every peer) and print a final
//! `summary` line with the learnt bindings, the local ones and every counter; `--state-every` prints one
//! periodically. Logs go to stderr (`RUST_LOG=debug` for more).

use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::ldp::driver::{Driver, DriverConfig};
use controlplane::ldp::engine::{Config, Event, Speaker};
use controlplane::ldp::wire::Prefix4;
use labelswitch::alloc::LabelAllocator;
use serde_json::json;

struct Args {
    router_id: Ipv4Addr,
    transport: Option<Ipv4Addr>,
    interfaces: Vec<Ipv4Addr>,
    fecs: Vec<Prefix4>,
    labels: (u32, u32),
    hello_interval: u64,
    hold: u16,
    keepalive: u16,
    duration: Option<u64>,
    state_every: Option<u64>,
}

fn usage() -> &'static str {
    "usage: ldp_peer --router-id A.B.C.D --interface A.B.C.D [--interface ...] [--transport A.B.C.D] \
     [--fec P/L ...] [--labels FIRST-LAST] [--hello-interval S] [--hold S] [--keepalive S] \
     [--duration S] [--state-every S]"
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        router_id: Ipv4Addr::UNSPECIFIED,
        transport: None,
        interfaces: Vec::new(),
        fecs: Vec::new(),
        labels: (10000, 10999),
        hello_interval: 5,
        hold: 15,
        keepalive: 180,
        duration: None,
        state_every: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let ip = |s: String| s.parse::<Ipv4Addr>().map_err(|e| format!("`{s}`: {e}"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("`{s}`: {e}"));
        match flag.as_str() {
            "--router-id" => a.router_id = ip(val()?)?,
            "--transport" => a.transport = Some(ip(val()?)?),
            "--interface" => a.interfaces.push(ip(val()?)?),
            "--fec" => a.fecs.push(val()?.parse()?),
            "--labels" => {
                let v = val()?;
                let (x, y) = v
                    .split_once('-')
                    .ok_or_else(|| format!("--labels `{v}`: expected FIRST-LAST"))?;
                a.labels = (num(x.to_string())? as u32, num(y.to_string())? as u32);
            }
            "--hello-interval" => a.hello_interval = num(val()?)?,
            "--hold" => a.hold = u16::try_from(num(val()?)?).map_err(|e| e.to_string())?,
            "--keepalive" => {
                a.keepalive = u16::try_from(num(val()?)?).map_err(|e| e.to_string())?
            }
            "--duration" => a.duration = Some(num(val()?)?),
            "--state-every" => a.state_every = Some(num(val()?)?),
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    if a.router_id.is_unspecified() || a.interfaces.is_empty() {
        return Err(format!(
            "--router-id and --interface are required\n{}",
            usage()
        ));
    }
    Ok(a)
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

fn state(d: &mut Driver, kind: &str) {
    let s = d.speaker();
    let learnt: Vec<_> = s
        .learnt()
        .map(
            |(p, f, l)| json!({"peer": p.to_string(), "prefix": f.to_string(), "label": l.value()}),
        )
        .collect();
    let local: Vec<_> = s
        .local_bindings()
        .map(|(f, l)| json!({"prefix": f.to_string(), "label": l.value()}))
        .collect();
    let sessions: Vec<_> = s
        .sessions()
        .map(|(p, st)| json!({"peer": p.to_string(), "state": format!("{st:?}")}))
        .collect();
    let c = format!("{:?}", s.counters());
    let dc = format!("{:?}", d.counters());
    emit(
        json!({"event": kind, "sessions": sessions, "learnt": learnt, "local": local,
                "counters": c, "driver_counters": dc}),
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ldp_peer: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let transport = args.transport.unwrap_or(args.interfaces[0]);
    let mut cfg = Config::new(args.router_id, transport);
    cfg.addresses = args.interfaces.clone();
    cfg.fecs = args.fecs.clone();
    cfg.hello_interval = Duration::from_secs(args.hello_interval);
    cfg.hello_hold_time = args.hold;
    cfg.keepalive_time = args.keepalive;
    let alloc = match LabelAllocator::new(args.labels.0..=args.labels.1) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ldp_peer: --labels: {e}");
            return ExitCode::from(2);
        }
    };
    let now = Instant::now();
    let speaker = match Speaker::new(cfg, alloc, now) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ldp_peer: {e}");
            return ExitCode::from(2);
        }
    };
    let mut d = match Driver::new(speaker, DriverConfig::new(args.interfaces.clone())) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ldp_peer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local: Vec<_> = d
        .speaker()
        .local_bindings()
        .map(|(f, l)| json!({"prefix": f.to_string(), "label": l.value()}))
        .collect();
    emit(
        json!({"event": "started", "router_id": args.router_id.to_string(),
                "transport": transport.to_string(), "local": local}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("ldp_peer: cannot install a signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    let end = args.duration.map(|s| now + Duration::from_secs(s));
    let mut next_state = args.state_every.map(|s| now + Duration::from_secs(s));
    loop {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) || stop.load(Ordering::Relaxed) {
            break;
        }
        let moved = d.poll(now);
        while let Some(e) = d.speaker().poll_event() {
            emit(match e {
                Event::AdjacencyUp {
                    peer,
                    source,
                    transport,
                } => json!({"event": "adjacency_up",
                    "peer": peer.to_string(), "source": source.to_string(), "transport": transport.to_string()}),
                Event::AdjacencyDown { peer } => {
                    json!({"event": "adjacency_down", "peer": peer.to_string()})
                }
                Event::SessionUp { peer, keepalive } => json!({"event": "session_up",
                    "peer": peer.to_string(), "state": "OPERATIONAL", "keepalive": keepalive}),
                Event::SessionDown { peer, reason } => json!({"event": "session_down",
                    "peer": peer.to_string(), "reason": reason.to_string()}),
                Event::BindingLearnt {
                    peer,
                    prefix,
                    label,
                } => json!({"event": "binding_learnt",
                    "peer": peer.to_string(), "prefix": prefix.to_string(), "label": label.value()}),
                Event::BindingLost {
                    peer,
                    prefix,
                    label,
                } => json!({"event": "binding_lost",
                    "peer": peer.to_string(), "prefix": prefix.to_string(), "label": label.value()}),
                Event::Notification { peer, status } => json!({"event": "notification",
                    "peer": peer.to_string(), "code": status.value(), "fatal": status.is_fatal()}),
            });
        }
        if next_state.is_some_and(|t| now >= t) {
            state(&mut d, "state");
            next_state = args.state_every.map(|s| now + Duration::from_secs(s));
        }
        if !moved {
            let wake = d.next_wakeup().unwrap_or(now + Duration::from_millis(10));
            let nap = wake
                .saturating_duration_since(now)
                .min(Duration::from_millis(10));
            std::thread::sleep(nap);
        }
    }
    let now = Instant::now();
    d.shutdown(now);
    state(&mut d, "summary");
    ExitCode::SUCCESS
}
