//! Fuzzes the PPP server engine: the input is split into frames (1-byte length prefix each)
//! with virtual time advancing between them; the driver answers authentication requests and
//! sets addresses at input-chosen moments. The engine must never panic, every frame it sends
//! must start with `ff 03` and a control protocol, and a finished engine stays silent.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::ppp::auth::{verify_local, AuthMethod};
use controlplane::ppp::engine::{Config, Engine, Event, IpcpParams, ProxyLcp, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let cfg = Arc::new(Config {
        auth: match mode % 4 {
            0 => vec![AuthMethod::Pap],
            1 => vec![AuthMethod::ChapMd5],
            2 => vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
            _ => vec![],
        },
        ..Config::default()
    });
    let t0 = Instant::now();
    let mut now = t0;
    let mut e = if mode & 0x10 != 0 {
        let n = rest.first().map_or(0, |&b| usize::from(b)).min(rest.len().saturating_sub(1));
        let proxy = ProxyLcp {
            initial_received: vec![],
            last_sent_confreq: rest.get(1..1 + n / 2).unwrap_or(&[]).to_vec(),
            last_received_confreq: rest.get(1 + n / 2..1 + n).unwrap_or(&[]).to_vec(),
        };
        rest = rest.get(1 + n..).unwrap_or(&[]);
        Engine::server_with_proxy(cfg, now, 7, &proxy, None)
    } else {
        let mut e = Engine::new(cfg, Role::Server, now, 7);
        e.open(now);
        e
    };
    while let Some((&len, body)) = rest.split_first() {
        let was_finished = e.is_finished();
        let take = usize::from(len & 0x7f).min(body.len());
        e.handle_frame(now, &body[..take]);
        rest = &body[take..];
        if len & 0x80 != 0 {
            now += Duration::from_millis(u64::from(len) * 97);
            if e.deadline().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
        }
        if len & 0x40 != 0 {
            e.set_ipv4(
                now,
                IpcpParams {
                    local: Ipv4Addr::new(10, 0, 0, 1),
                    peer: Ipv4Addr::new(10, 0, 0, 2),
                    dns: [Some(Ipv4Addr::new(10, 0, 0, 53)), None],
                },
            );
            e.set_ipv6(now, 1);
        }
        let finished = e.is_finished();
        while let Some(f) = e.poll_transmit() {
            assert!(!was_finished, "a finished engine sent {f:02x?}");
            assert_eq!(&f[..2], &[0xff, 0x03]);
        }
        while let Some(ev) = e.poll_event() {
            if let Event::Authenticate(req) = ev {
                e.auth_result(now, verify_local(&req, "pw").unwrap());
            }
        }
        if finished {
            assert_eq!(e.deadline(), None);
        }
    }
});
