//! Fuzzes the Diameter peer engine: the first byte picks the role (responder waiting for a
//! CER, responder already open after a valid CER, or initiator waiting for its CEA), relaying
//! or not, and a small size limit; the rest is a
//! TCP byte stream cut into reads (1-byte length prefix each) with the clock advanced
//! between them. The engine must never panic, never buffer more than its limit, and every
//! message it sends must parse back.
#![no_main]

use std::time::{Duration, Instant};

use controlplane::diameter::peer::{Config, Peer};
use controlplane::diameter::wire::codes::{app, cmd, code};
use controlplane::diameter::wire::{Avp, Message};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

fn cer() -> Vec<u8> {
    Message::request(cmd::CAPABILITIES_EXCHANGE, app::COMMON, 1, 1)
        .not_proxiable()
        .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"))
        .with(Avp::new(code::HOST_IP_ADDRESS, vec![0, 1, 192, 0, 2, 9]))
        .with(Avp::u32(code::VENDOR_ID, 0))
        .with(Avp::text(code::PRODUCT_NAME, "fuzz").optional())
        .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
        .emit()
        .expect("valid CER")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut cfg = Config::new("aaa.example.net", "example.net");
    cfg.max_message_len = 64 + usize::from((mode >> 2) & 0x1f) * 16;
    cfg.max_pending_requests = 4;
    cfg.relay = mode & 2 != 0;
    let max = cfg.max_message_len;
    let t0 = Instant::now();
    let mut now = t0;
    let rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut p = if mode & 0x80 != 0 {
        let mut p = Peer::connect(cfg, rng, now);
        p.handle_connected(now);
        p
    } else if mode & 1 == 1 {
        let mut p = Peer::accept(cfg, rng, now);
        p.handle_input(now, &cer());
        p
    } else {
        Peer::accept(cfg, rng, now)
    };
    while let Some((&n, body)) = rest.split_first() {
        let take = usize::from(n).min(body.len());
        p.handle_input(now, &body[..take]);
        assert!(p.buffered() <= max, "buffered past max_message_len");
        rest = &body[take..];
        now += Duration::from_millis(u64::from(n) * 300);
        if p.poll_timeout().is_some_and(|t| t <= now) {
            p.handle_timeout(now);
        }
        // Answer whatever application request came up, as an application would.
        while let Some(ev) = p.poll_event() {
            if let controlplane::diameter::peer::Event::Request(m) = ev {
                let a = p.answer(&m, 2001);
                let _ = p.send_answer(&a);
            }
        }
        while let Some(b) = p.poll_transmit() {
            assert!(Message::parse(&b).is_ok(), "the engine sent a message that does not parse");
        }
    }
});
