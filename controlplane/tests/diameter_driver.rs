//! The Diameter TCP driver on real loopback sockets: two of our peers exchange
//! capabilities, a request and its answer, watchdogs and a disconnect; a hostile client's
//! impossible Message Length is answered and the connection closed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use controlplane::diameter::driver::{Client, Connection, MAX_UNSENT};
use controlplane::diameter::peer::{Config, DownReason, Event, State};
use controlplane::diameter::wire::codes::{app, cmd, code, disconnect_cause, result};
use controlplane::diameter::wire::{Avp, Message};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn cfg(host: &str) -> Config {
    let mut c = Config::new(host, "example.net");
    c.watchdog_interval = Duration::from_millis(400);
    c
}

/// Polls both connections until `done` or 5 s pass; returns the events seen by each.
fn run(
    a: &mut Connection<StdRng>,
    b: &mut Connection<StdRng>,
    ea: &mut Vec<Event>,
    eb: &mut Vec<Event>,
    mut done: impl FnMut(&[Event], &[Event]) -> bool,
) {
    let start = Instant::now();
    while !done(ea, eb) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out: {ea:?} / {eb:?}"
        );
        let now = Instant::now();
        a.poll(now);
        b.poll(now);
        while let Some(e) = a.peer().poll_event() {
            ea.push(e);
        }
        while let Some(e) = b.peer().poll_event() {
            eb.push(e);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn two_peers_over_tcp() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let now = Instant::now();
    let mut client =
        Connection::connect(addr, cfg("fa.example.net"), StdRng::seed_from_u64(1), now);
    let (s, _) = l.accept().unwrap();
    let mut server =
        Connection::accepted(s, cfg("aaa.example.net"), StdRng::seed_from_u64(2), now).unwrap();
    let (mut ec, mut es) = (Vec::new(), Vec::new());
    let up = |e: &[Event]| e.iter().any(|e| matches!(e, Event::Up(_)));
    run(&mut client, &mut server, &mut ec, &mut es, |a, b| {
        up(a) && up(b)
    });
    assert_eq!(client.peer().state(), State::IOpen);
    assert_eq!(server.peer().state(), State::ROpen);
    // The Host-IP-Address is the socket's local address.
    let info = server.peer().remote().unwrap().clone();
    assert_eq!(
        info.host_ip_addresses[0].ip(),
        Some("127.0.0.1".parse().unwrap())
    );

    // A request and its answer.
    let req = Message::request(cmd::AA_MOBILE_NODE, app::MOBILE_IPV4, 0, 0)
        .with(Avp::text(code::SESSION_ID, "fa.example.net;1;1"))
        .with(Avp::text(code::ORIGIN_HOST, "fa.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"));
    let hbh = client.peer().send_request(Instant::now(), req).unwrap();
    run(&mut client, &mut server, &mut ec, &mut es, |_, b| {
        b.iter().any(|e| matches!(e, Event::Request(_)))
    });
    let Some(Event::Request(got)) = es.iter().find(|e| matches!(e, Event::Request(_))).cloned()
    else {
        unreachable!()
    };
    let ans = server.peer().answer(&got, result::SUCCESS);
    server.peer().send_answer(&ans).unwrap();
    run(&mut client, &mut server, &mut ec, &mut es, |a, _| {
        a.iter()
            .any(|e| matches!(e, Event::Answer { hop_by_hop, .. } if *hop_by_hop == hbh))
    });

    // Watchdogs go both ways at Tw = 400 ms ± 100 ms.
    let start = Instant::now();
    while client.peer().counters().rx_dwa < 2 || server.peer().counters().rx_dwa < 2 {
        assert!(start.elapsed() < Duration::from_secs(5));
        let now = Instant::now();
        client.poll(now);
        server.poll(now);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!client.peer().is_suspect() && !server.peer().is_suspect());

    // Disconnect: DPR, DPA, both sockets closed.
    client.peer().disconnect(Instant::now(), 0);
    run(&mut client, &mut server, &mut ec, &mut es, |a, b| {
        a.iter().any(|e| matches!(e, Event::Down { .. }))
            && b.iter().any(|e| matches!(e, Event::Down { .. }))
    });
    assert!(ec.iter().any(|e| matches!(
        e,
        Event::Down {
            reason: DownReason::LocalDisconnect { answered: true },
            ..
        }
    )));
    assert!(es.iter().any(|e| matches!(
        e,
        Event::Down {
            reason: DownReason::PeerDisconnect { cause: Some(0) },
            ..
        }
    )));
    let now = Instant::now();
    client.poll(now);
    server.poll(now);
    assert!(client.is_finished() && server.is_finished());
}

#[test]
fn hostile_length_is_answered_and_closed() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut raw = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let mut server = Connection::accepted(
        s,
        cfg("aaa.example.net"),
        StdRng::seed_from_u64(2),
        Instant::now(),
    )
    .unwrap();
    // A request header claiming 16 MiB - 4 bytes.
    let mut hdr = vec![1, 0xff, 0xff, 0xfc, 0x80, 0, 1, 1];
    hdr.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 9]);
    raw.write_all(&hdr).unwrap();
    raw.write_all(&[0u8; 4096]).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    while !server.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(5));
        server.poll(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut got = Vec::new();
    raw.read_to_end(&mut got).unwrap();
    let a = Message::parse(&got).unwrap();
    assert_eq!(a.header.command, 257);
    assert_eq!(a.header.hop_by_hop, 9);
    assert_eq!(
        a.find(code::RESULT_CODE).unwrap().as_u32(),
        Ok(result::INVALID_MESSAGE_LENGTH)
    );
    assert_eq!(server.peer().counters().malformed_framing, 1);
}

#[test]
fn connect_refused_is_an_event() {
    // Bind then drop: nothing listens on that port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut c = Connection::connect(
        addr,
        cfg("fa.example.net"),
        StdRng::seed_from_u64(1),
        Instant::now(),
    );
    assert!(matches!(
        c.peer().poll_event(),
        Some(Event::Down {
            reason: DownReason::ConnectFailed,
            ..
        })
    ));
    assert!(c.is_finished());
}

#[test]
fn a_peer_that_does_not_read_is_held_back() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut raw = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let mut server = Connection::accepted(
        s,
        cfg("aaa.example.net"),
        StdRng::seed_from_u64(2),
        Instant::now(),
    )
    .unwrap();
    let cer = Message::request(cmd::CAPABILITIES_EXCHANGE, 0, 1, 1)
        .not_proxiable()
        .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"))
        .with(Avp::new(code::HOST_IP_ADDRESS, vec![0, 1, 127, 0, 0, 1]))
        .with(Avp::u32(code::VENDOR_ID, 0))
        .with(Avp::text(code::PRODUCT_NAME, "flood").optional())
        .with(Avp::u32(code::AUTH_APPLICATION_ID, 2));
    raw.write_all(&cer.emit().unwrap()).unwrap();
    raw.set_nonblocking(true).unwrap();
    let mut dwrs = Vec::new();
    for h in 0..500u32 {
        let dwr = Message::request(cmd::DEVICE_WATCHDOG, 0, h, h)
            .not_proxiable()
            .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
            .with(Avp::text(code::ORIGIN_REALM, "example.net"));
        dwrs.extend(dwr.emit().unwrap());
    }
    // Send DWRs and never read a DWA, until the server stops taking them.
    let start = Instant::now();
    let (mut off, mut max_unsent, mut blocked_since) = (0usize, 0usize, None);
    loop {
        assert!(start.elapsed() < Duration::from_secs(30), "never held back");
        match raw.write(&dwrs[off..]) {
            Ok(n) => {
                off = (off + n) % dwrs.len();
                blocked_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    break;
                }
            }
            Err(e) => panic!("write: {e}"),
        }
        server.poll(Instant::now());
        max_unsent = max_unsent.max(server.unsent());
        assert_eq!(server.peer().state(), State::ROpen);
    }
    assert!(
        max_unsent >= MAX_UNSENT,
        "backpressure not reached ({max_unsent})"
    );
    assert!(
        max_unsent <= MAX_UNSENT + 64 * 1024,
        "unsent grew to {max_unsent}"
    );
    assert!(server.peer().counters().rx_dwr > 10_000);
}

#[test]
fn client_reconnects_after_tc_unless_told_not_to() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let t0 = Instant::now();
    let tc = Duration::from_millis(300);
    let mut seed = 10;
    let mut client = Client::new(
        l.local_addr().unwrap(),
        cfg("fa.example.net"),
        tc,
        move || {
            seed += 1;
            StdRng::seed_from_u64(seed)
        },
        t0,
    );
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut server: Option<Connection<StdRng>> = None;
    // Each round: wait for an open connection, then the server disconnects with `cause`.
    for (round, cause) in [
        disconnect_cause::REBOOTING,
        disconnect_cause::DO_NOT_WANT_TO_TALK_TO_YOU,
    ]
    .into_iter()
    .enumerate()
    {
        let start = Instant::now();
        while ups.len() <= round {
            assert!(start.elapsed() < Duration::from_secs(5), "no reconnection");
            let now = Instant::now();
            client.poll(now);
            if let Ok((s, _)) = l.accept() {
                server = Some(
                    Connection::accepted(s, cfg("aaa.example.net"), StdRng::seed_from_u64(2), now)
                        .unwrap(),
                );
            }
            if let Some(s) = server.as_mut() {
                s.poll(now);
            }
            while let Some(e) = client.poll_event() {
                if matches!(e, Event::Up(_)) {
                    ups.push(now);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let s = server.as_mut().unwrap();
        s.peer().disconnect(Instant::now(), cause);
        let start = Instant::now();
        while downs.len() <= round {
            assert!(start.elapsed() < Duration::from_secs(5), "no disconnect");
            let now = Instant::now();
            client.poll(now);
            s.poll(now);
            while let Some(e) = client.poll_event() {
                if let Event::Down { reason, .. } = e {
                    downs.push((now, reason));
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(
            downs[round].1,
            DownReason::PeerDisconnect { cause: Some(cause) }
        );
    }
    // Reconnected Tc after the REBOOTING disconnect, not before.
    assert!(
        ups[1] - downs[0].0 >= tc,
        "reconnected after {:?}",
        ups[1] - downs[0].0
    );
    assert_eq!(client.connects(), 2);
    // After DO_NOT_WANT_TO_TALK_TO_YOU: no reconnection within 3 Tc.
    assert!(!client.will_reconnect());
    let start = Instant::now();
    while start.elapsed() < 3 * tc {
        client.poll(Instant::now());
        assert!(
            l.accept().is_err(),
            "reconnected after DO_NOT_WANT_TO_TALK_TO_YOU"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(client.connects(), 2);
    // Unless asked to.
    client.reconnect_now(Instant::now());
    client.poll(Instant::now());
    assert_eq!(client.connects(), 3);
    client.stop(Instant::now(), disconnect_cause::REBOOTING);
    assert!(!client.will_reconnect());
}
