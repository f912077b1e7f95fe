//! L2TP endpoint on a UDP socket, for interop runs against xl2tpd.
//!
//! ```text
//! l2tp_udp lns BIND [--secret S] [--name N] [--seconds T]
//! l2tp_udp lac BIND PEER [--secret S] [--name N] [--seconds T] [--sessions K] [--close-after T2]
//! ```
//! Prints one line per event (`TunnelUp …`, `SessionUp …`) and the counters at exit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::l2tp::driver::udp::UdpDriver;
use controlplane::l2tp::engine::{CallParams, Config, Engine, Event, Role};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: l2tp_udp lns BIND | lac BIND PEER  [--secret S] [--name N] [--seconds T] [--sessions K] [--close-after T] [--hello T]";
    let opt = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let role = match args.first().map(String::as_str) {
        Some("lac") => Role::Lac,
        Some("lns") => Role::Lns,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let parse_addr = |i: usize| -> SocketAddr {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            eprintln!("{usage}: argument {i} must be IP:PORT");
            std::process::exit(2)
        })
    };
    let bind = parse_addr(1);
    let name = opt("--name").unwrap_or_else(|| {
        if role == Role::Lac {
            "lac.varouter".into()
        } else {
            "lns.varouter".into()
        }
    });
    let mut cfg = Config::new(role, &name);
    cfg.secret = opt("--secret").map(String::into_bytes);
    if let Some(h) = opt("--hello").and_then(|s| s.parse().ok()) {
        cfg.hello_interval = Duration::from_secs(h);
    }
    let seconds: u64 = opt("--seconds").and_then(|s| s.parse().ok()).unwrap_or(20);
    let close_after: Option<u64> = opt("--close-after").and_then(|s| s.parse().ok());
    let sessions: usize = opt("--sessions").and_then(|s| s.parse().ok()).unwrap_or(1);
    let engine = Engine::new(cfg, rand::make_rng::<rand::rngs::StdRng>());
    let mut d = UdpDriver::bind(bind, engine).unwrap_or_else(|e| {
        eprintln!("cannot bind {bind}: {e}");
        std::process::exit(1)
    });
    let start = Instant::now();
    let mut tunnel = None;
    if role == Role::Lac {
        let peer = parse_addr(2);
        let t = d.engine().open_tunnel(start, peer).expect("open tunnel");
        for _ in 0..sessions {
            d.engine()
                .open_session(
                    start,
                    t,
                    CallParams {
                        calling_number: b"100".to_vec(),
                        ..Default::default()
                    },
                )
                .expect("open session");
        }
        tunnel = Some(t);
    }
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(seconds) {
        let events = d.poll(Duration::from_millis(100)).unwrap_or_else(|e| {
            eprintln!("socket error: {e}");
            std::process::exit(1)
        });
        for ev in events {
            println!("{ev:?}");
            if let Event::TunnelUp { tunnel: t, .. } = ev {
                tunnel.get_or_insert(t);
            }
        }
        if let (Some(after), Some(t), false) = (close_after, tunnel, closed) {
            if start.elapsed() >= Duration::from_secs(after) {
                let _ = d.engine().close_tunnel(Instant::now(), t);
                closed = true;
            }
        }
    }
    println!("{:?}", d.engine().counters());
}
