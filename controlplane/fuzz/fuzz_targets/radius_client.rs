//! Fuzzes the RADIUS client and the DAE server: a client with outstanding auth and
//! accounting requests is fed arbitrary datagrams (2-byte length prefix each, from the
//! server or elsewhere) with the clock advanced between them; the DAE server gets the same
//! datagrams. Neither may panic, and the client's bookkeeping must stay within bounds.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::radius::client::{
    AccessRequest, AcctRequest, AcctStatus, Auth, Client, Config, Server,
};
use controlplane::radius::dae::{DaeAnswer, DaeClient, DaeServer, ErrorCause};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let srv: SocketAddr = "192.0.2.1:1812".parse().unwrap();
    let mut cfg = Config::new("fuzz");
    cfg.auth_servers.push(Server { addr: srv, secret: b"s".to_vec() });
    cfg.acct_servers.push(Server { addr: srv, secret: b"s".to_vec() });
    cfg.source_ports = 1;
    cfg.max_queue = 4;
    let mut c = Client::new(cfg, 1);
    let mut dae = DaeServer::new(vec![DaeClient { addr: srv.ip(), secret: b"s".to_vec() }]);
    let t0 = Instant::now();
    let mut now = t0;
    for i in 0..3 {
        let auth = Auth::Pap { password: b"pw".to_vec() };
        let _ = c.access_request(now, AccessRequest::ppp("u", auth, "x", i));
        let req = AcctRequest { status: Some(AcctStatus::Start), tag: 10 + i, ..Default::default() };
        let _ = c.accounting(now, req);
    }
    let mut rest = data;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 600;
        let sel = rest[2];
        let body = &rest[3..];
        let take = len.min(body.len());
        let mut d = body[..take].to_vec();
        // Let some datagrams hit a live identifier.
        if sel & 2 != 0 && d.len() > 1 {
            d[1] = sel >> 2;
        }
        let src = if sel & 1 == 0 { srv } else { "198.51.100.7:1812".parse().unwrap() };
        c.handle_datagram(now, 0, src, &d);
        if let Some(r) = dae.handle_datagram(now, src, &d) {
            let a = if sel & 4 == 0 { DaeAnswer::Ack } else { DaeAnswer::Nak(ErrorCause::SessionContextNotFound) };
            dae.answer(now, r.handle, a).expect("answer to a fresh handle");
        }
        rest = &body[take..];
        now += Duration::from_millis(u64::from(sel) * 50);
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        dae.handle_timeout(now);
        while c.poll_transmit().is_some() {}
        while c.poll_event().is_some() {}
        while dae.poll_transmit().is_some() {}
        assert!(c.in_flight() <= 256);
        assert!(c.queued() <= 4);
    }
});
