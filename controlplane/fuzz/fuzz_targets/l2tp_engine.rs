//! Fuzzes the L2TP engine: the input is split into datagrams (2-byte length prefix each) fed
//! from two sources, with timers advanced between them. The engine must never panic and its
//! state must stay within its limits.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::l2tp::engine::{Config, Engine, Role};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let role = if data.first().is_some_and(|b| b & 1 == 1) { Role::Lac } else { Role::Lns };
    let mut cfg = Config::new(role, "fuzz");
    cfg.secret = Some(b"fuzzsecret".to_vec());
    cfg.limits.max_tunnels = 8;
    cfg.limits.max_half_open = 4;
    cfg.limits.max_sessions = 16;
    let mut e = Engine::new(cfg, rand::rngs::StdRng::seed_from_u64(1));
    let t0 = Instant::now();
    let mut now = t0;
    let peer: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    let _ = e.open_tunnel(now, peer);
    let mut rest = data.get(1..).unwrap_or(&[]);
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 512;
        let body = &rest[2..];
        let take = len.min(body.len());
        let src: SocketAddr = if len & 1 == 0 { peer } else { "198.51.100.7:1701".parse().unwrap() };
        e.handle_input(now, src, &body[..take]);
        rest = &body[take..];
        now += Duration::from_millis(len as u64 * 37);
        if e.poll_timeout().is_some_and(|t| t <= now) {
            e.handle_timeout(now);
        }
        while e.poll_transmit().is_some() {}
        while e.poll_event().is_some() {}
        assert!(e.tunnel_count() <= 8);
        assert!(e.session_count() <= 16);
    }
});
