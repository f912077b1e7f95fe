//! Fuzzes the RADIUS authentication server (controlplane::radius::server): arbitrary
//! datagrams (2-byte length prefix and a selector byte each) from a known client or a stranger,
//! with the clock advanced between them. Selector bits make a datagram reach the deep end:
//! Code forced to Access-Request or Status-Server, Length fixed up, and the
//! Message-Authenticator (if the bytes have one) recomputed with the client's secret, so the
//! credential checks, the duplicate cache and the answer encoding run on fuzzed attributes.
//! The server must not panic, must answer at most once per datagram with an answer that
//! verifies against the request, and must keep its cache and queues within their limits.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::radius::server::{Config, NasClient, RadiusServer, StaticUsers, UserTable};
use controlplane::radius::wire::crypto;
use controlplane::radius::wire::Packet;
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let users =
        StaticUsers::from_text("alice secret Session-Timeout=60 Class=c\nUser clientPass\n")
            .expect("valid users file");
    assert!(users.lookup(b"alice").is_some());
    let cfg = Config {
        max_cached: 8,
        max_events: 4,
        max_transmits: 4,
        ..Config::default()
    };
    let mut s = RadiusServer::new(cfg, users);
    s.add_client(NasClient::new("nas", "192.0.2.0".parse().unwrap(), 24, SECRET).unwrap())
        .unwrap();
    let mut legacy = NasClient::new("legacy", "198.51.100.7".parse().unwrap(), 32, SECRET).unwrap();
    legacy.require_message_authenticator = false;
    s.add_client(legacy).unwrap();
    let mut now = Instant::now();
    let mut rest = data;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 4200;
        let sel = rest[2];
        let body = &rest[3..];
        let take = len.min(body.len());
        let mut d = body[..take].to_vec();
        rest = &body[take..];
        if sel & 1 != 0 && d.len() >= 20 {
            d[0] = if sel & 2 != 0 { 12 } else { 1 };
            let l = d.len().min(4096) as u16;
            d[2..4].copy_from_slice(&l.to_be_bytes());
            if let Ok(Some(at)) = crypto::find_message_authenticator(&Packet::new_unchecked(&d[..]))
            {
                let ra: [u8; 16] = d[4..20].try_into().unwrap();
                let m = crypto::message_authenticator(SECRET, &d[..usize::from(l)], &ra, at);
                d[at..at + 16].copy_from_slice(&m);
            }
        }
        let src: SocketAddr = match (sel >> 2) & 3 {
            0 => "192.0.2.10:1812".parse().unwrap(),
            1 => "192.0.2.10:1813".parse().unwrap(),
            2 => "198.51.100.7:5000".parse().unwrap(),
            _ => "203.0.113.9:1812".parse().unwrap(),
        };
        s.handle_datagram(now, src, &d);
        let mut answers = 0;
        while let Some(t) = s.poll_transmit() {
            answers += 1;
            assert_eq!(t.dst, src);
            let ra: [u8; 16] = d[4..20].try_into().unwrap();
            crypto::verify_response(&t.payload, &ra, SECRET, true).expect("answers are signed");
        }
        assert!(answers <= 1);
        while s.poll_event().is_some() {}
        assert!(s.cached() <= 8);
        now += Duration::from_millis(u64::from(sel >> 4) * 700);
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
    }
});
