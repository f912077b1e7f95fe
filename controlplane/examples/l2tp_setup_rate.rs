//! Setup-rate measurement (run with `--release`): one LAC engine and one LNS engine wired
//! back to back in memory; opens TUNNELS tunnels with SESSIONS sessions each and reports how
//! long the setup took and how many tunnels/sessions each engine holds.
//!
//! `cargo run --release -p controlplane --example l2tp_setup_rate -- 2000 16`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::l2tp::engine::{CallParams, Config, Engine, Event, Role};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tunnels = args.first().copied().unwrap_or(1000);
    let sessions = args.get(1).copied().unwrap_or(10);
    let mut lac_cfg = Config::new(Role::Lac, "lac");
    let mut lns_cfg = Config::new(Role::Lns, "lns");
    for c in [&mut lac_cfg, &mut lns_cfg] {
        c.secret = Some(b"secret".to_vec());
        c.limits.max_tunnels = 65535;
        c.limits.max_half_open = 65535;
        c.limits.max_half_open_per_source = 65535;
        c.limits.max_sessions = 10_000_000;
        c.limits.max_sessions_per_tunnel = 65535;
    }
    let mut lac = Engine::new(lac_cfg, StdRng::seed_from_u64(1));
    let mut lns = Engine::new(lns_cfg, StdRng::seed_from_u64(2));
    let lns_addr: SocketAddr = "10.0.0.2:1701".parse().unwrap();
    let now = Instant::now();
    let start = Instant::now();
    let mut up = (0usize, 0usize);
    // Many LAC tunnels from distinct source ports of one address (the LNS sees many peers).
    let mut ids = Vec::with_capacity(tunnels);
    for _ in 0..tunnels {
        let t = lac.open_tunnel(now, lns_addr).unwrap();
        for _ in 0..sessions {
            lac.open_session(now, t, CallParams::default()).unwrap();
        }
        ids.push(t);
    }
    let lac_addr: SocketAddr = "10.0.0.1:1701".parse().unwrap();
    let mut clock = now;
    let mut quiet = 0;
    while quiet < 2 {
        let mut moved = false;
        while let Some(t) = lac.poll_transmit() {
            lns.handle_input(clock, lac_addr, &t.bytes);
            moved = true;
        }
        while let Some(t) = lns.poll_transmit() {
            lac.handle_input(clock, lns_addr, &t.bytes);
            moved = true;
        }
        if moved {
            quiet = 0;
        } else {
            // Let delayed acks go out; stop after two quiet rounds.
            quiet += 1;
            clock += Duration::from_millis(200);
            lac.handle_timeout(clock);
            lns.handle_timeout(clock);
        }
    }
    let elapsed = start.elapsed();
    while let Some(e) = lns.poll_event() {
        match e {
            Event::TunnelUp { .. } => up.0 += 1,
            Event::SessionUp { .. } => up.1 += 1,
            _ => {}
        }
    }
    println!(
        "{} tunnels, {} sessions up on the LNS in {:.3} s: {:.0} tunnels/s, {:.0} sessions/s (both engines, one core, secret + challenge on)",
        up.0,
        up.1,
        elapsed.as_secs_f64(),
        up.0 as f64 / elapsed.as_secs_f64(),
        up.1 as f64 / elapsed.as_secs_f64()
    );
    println!(
        "LNS holds {} tunnels / {} sessions; LAC {} / {}",
        lns.tunnel_count(),
        lns.session_count(),
        lac.tunnel_count(),
        lac.session_count()
    );
}
