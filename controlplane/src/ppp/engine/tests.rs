//! Engine unit tests with hand-built frames (hand-derived from RFC 1661/1994 layouts).

use super::*;
use crate::ppp::auth::verify_local;

fn cfg() -> Arc<Config> {
    Arc::new(Config {
        auth: vec![AuthMethod::ChapMd5],
        ..Config::default()
    })
}

fn lcp(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03, 0xc0, 0x21, code, id];
    f.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

fn drain(e: &mut Engine) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| e.poll_transmit()).collect()
}

/// A server whose LCP is Opened with CHAP-MD5 negotiated; returns its Challenge frame.
fn opened_server(now: Instant) -> (Engine, Vec<u8>) {
    let mut e = Engine::new(cfg(), Role::Server, now, 42);
    e.open(now);
    let req = drain(&mut e).pop().unwrap();
    // Ack our request as sent.
    let mut ack = req.clone();
    ack[4] = 2;
    e.handle_frame(now, &ack);
    // Peer's request: MRU 1400, magic 0x11223344.
    e.handle_frame(
        now,
        &lcp(1, 1, &[1, 4, 0x05, 0x78, 5, 6, 0x11, 0x22, 0x33, 0x44]),
    );
    assert_eq!(e.state(), State::Opened);
    assert_eq!(e.mru(), 1400);
    assert_eq!(e.peer_magic(), 0x11223344);
    let out = drain(&mut e);
    assert_eq!(out[0][4], 2, "Configure-Ack");
    let challenge = out.last().unwrap().clone();
    assert_eq!(&challenge[2..5], &[0xc2, 0x23, 1]);
    (e, challenge)
}

#[test]
fn engine_size() {
    let size = std::mem::size_of::<Engine>();
    println!("size_of::<Engine>() = {size} bytes");
    assert!(size <= 512, "{size}");
}

#[test]
fn first_configure_request() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, now, 1);
    e.open(now);
    assert_eq!(e.state(), State::ReqSent);
    let f = e.poll_transmit().unwrap();
    assert_eq!(&f[..5], &[0xff, 0x03, 0xc0, 0x21, 1]);
    let r = CpRepr::<LcpOption>::parse_bytes(&f[4..]).unwrap();
    let CpData::ConfigureRequest(o) = r.data else {
        panic!()
    };
    assert_eq!(o[0], LcpOption::Mru(1500));
    assert_eq!(o[1], auth_option(AuthMethod::ChapMd5));
    assert!(matches!(o[2], LcpOption::MagicNumber(m) if m != 0));
    assert_eq!(e.deadline(), Some(now + Duration::from_secs(3)));
}

#[test]
fn malformed_input_is_counted_never_panics() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, now, 1);
    e.open(now);
    drain(&mut e);
    let cases: [&[u8]; 7] = [
        &[],
        &[0xff, 0x03, 0xc0],
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0], // shorter than header
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 9, 1, 4], // length larger than data
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 3], // length smaller than header
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 6, 1, 0], // option length 0
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 7, 5, 9, 0], // option overrun
    ];
    for c in cases {
        e.handle_frame(now, c);
    }
    e.handle_frame(now, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 6, 1, 1]); // option length 1
    assert_eq!(e.counters().rx_malformed, 8);
    assert_eq!(e.counters().rx_frames, 8);
    assert_eq!(e.state(), State::ReqSent);
    assert!(
        drain(&mut e).is_empty(),
        "malformed packets are not answered"
    );
    // Padding after the length field is fine (RFC 1661 §5).
    let mut padded = lcp(9, 1, &[0, 0, 0, 0]);
    padded.extend_from_slice(&[0xaa; 3]);
    e.handle_frame(now, &padded);
    assert_eq!(e.counters().rx_malformed, 8);
}

#[test]
fn unknown_option_is_rejected_and_unknown_code_code_rejected() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, now, 1);
    e.open(now);
    drain(&mut e);
    // MRU 1500 + unknown option 0x20 (len 3) + ACFC
    e.handle_frame(now, &lcp(1, 7, &[1, 4, 5, 0xdc, 0x20, 3, 0xab, 8, 2]));
    let out = drain(&mut e);
    assert_eq!(out, vec![lcp(4, 7, &[0x20, 3, 0xab])]);
    e.handle_frame(now, &lcp(0x33, 8, &[1, 2]));
    let out = drain(&mut e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][4], 7, "Code-Reject");
    assert_eq!(&out[0][8..], &[0x33, 8, 0, 6, 1, 2]);
    assert_eq!(e.counters().rx_unknown_code, 1);
}

#[test]
fn nak_loop_hits_max_failure_and_rejects() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, now, 1);
    e.open(now);
    drain(&mut e);
    // The peer keeps asking for MRU 10 (below 64): we Nak max_failure times, then Reject.
    for i in 0..7u8 {
        e.handle_frame(now, &lcp(1, i, &[1, 4, 0, 10]));
        let out = drain(&mut e);
        let want = if i < 5 { 3 } else { 4 };
        assert_eq!(out[0][4], want, "round {i}");
    }
    assert_eq!(e.counters().configure_loops, 2);
}

#[test]
fn peer_auth_protocol_is_rejected_by_the_server() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, now, 1);
    e.open(now);
    drain(&mut e);
    e.handle_frame(now, &lcp(1, 3, &[3, 4, 0xc0, 0x23]));
    assert_eq!(drain(&mut e), vec![lcp(4, 3, &[3, 4, 0xc0, 0x23])]);
}

#[test]
fn server_auth_nak_moves_through_policy() {
    let now = Instant::now();
    let mut e = Engine::new(Arc::new(Config::default()), Role::Server, now, 1);
    e.open(now);
    let first = drain(&mut e).pop().unwrap();
    let id = first[5];
    // Peer Naks MS-CHAPv2 suggesting PAP.
    e.handle_frame(now, &lcp(3, id, &[3, 4, 0xc0, 0x23]));
    assert_eq!(
        e.our_lcp_options()[1],
        auth_option(AuthMethod::Pap),
        "jumps to the suggested method"
    );
    // Peer Rejects authentication altogether: no common method.
    let id = drain(&mut e).pop().unwrap()[5];
    e.handle_frame(now, &lcp(4, id, &[3, 4, 0xc0, 0x23]));
    assert_eq!(e.state(), State::Closing);
    e.handle_frame(now, &lcp(6, e.fsm[0].id, &[]));
    assert!(e.is_finished());
    assert_eq!(
        std::iter::from_fn(|| e.poll_event()).last(),
        Some(Event::Down {
            reason: DownReason::NoCommonAuth
        })
    );
}

#[test]
fn chap_wrong_identifier_is_counted_and_ignored() {
    let now = Instant::now();
    let (mut e, ch) = opened_server(now);
    let id = ch[5];
    let challenge = &ch[9..25];
    let resp = chap_md5_response(id, b"pw", challenge);
    let mut f = vec![0xff, 0x03, 0xc2, 0x23, 2, id.wrapping_add(1), 0, 21, 16];
    f.extend_from_slice(&resp);
    e.handle_frame(now, &f);
    assert_eq!(e.counters().chap_bad_identifier, 1);
    assert!(!std::iter::from_fn(|| e.poll_event()).any(|e| matches!(e, Event::Authenticate(_))));
    f[5] = id;
    e.handle_frame(now, &f);
    let req = std::iter::from_fn(|| e.poll_event())
        .find_map(|e| match e {
            Event::Authenticate(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(req.method(), AuthMethod::ChapMd5);
    let r = verify_local(&req, "pw").unwrap();
    e.auth_result(now, r);
    let out = drain(&mut e);
    assert_eq!(&out[0][2..6], &[0xc2, 0x23, 3, id], "CHAP Success");
    assert_eq!(e.phase(), Phase::Network);
    // IPCP waits for addresses.
    assert_eq!(e.ipcp_state(), State::Starting);
    e.set_ipv4(
        now,
        IpcpParams {
            local: Ipv4Addr::new(10, 0, 0, 1),
            peer: Ipv4Addr::new(10, 0, 0, 2),
            dns: [None; 2],
        },
    );
    assert_eq!(e.ipcp_state(), State::ReqSent);
    let ours = drain(&mut e);
    assert_eq!(
        (ours[0][4], &ours[0][6..]),
        (1, &[0, 10, 3, 6, 10, 0, 0, 1][..])
    );
    // Peer asks for 0.0.0.0 and a primary DNS we do not have: DNS rejected first.
    let mut ipcp = vec![
        0xff, 0x03, 0x80, 0x21, 1, 1, 0, 16, 3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0,
    ];
    e.handle_frame(now, &ipcp);
    let out = drain(&mut e);
    assert_eq!(&out[0][4..], &[4, 1, 0, 10, 129, 6, 0, 0, 0, 0]);
    ipcp = vec![0xff, 0x03, 0x80, 0x21, 1, 2, 0, 10, 3, 6, 0, 0, 0, 0];
    e.handle_frame(now, &ipcp);
    let out = drain(&mut e);
    assert_eq!(
        &out[0][4..],
        &[3, 2, 0, 10, 3, 6, 10, 0, 0, 2],
        "Nak with its address"
    );
}

#[test]
fn unknown_protocol_gets_protocol_reject_when_opened() {
    let now = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, now, 1);
    e.open(now);
    drain(&mut e);
    e.handle_frame(now, &[0xff, 0x03, 0x80, 0xfd, 1, 1, 0, 4]);
    assert!(drain(&mut e).is_empty(), "not before LCP is Opened");
    let (mut e, _) = opened_server(now);
    e.handle_frame(now, &[0x80, 0xfd, 1, 1, 0, 4]);
    let out = drain(&mut e);
    assert_eq!(&out[0][..5], &[0xff, 0x03, 0xc0, 0x21, 8]);
    assert_eq!(&out[0][8..], &[0x80, 0xfd, 1, 1, 0, 4]);
    assert_eq!(e.counters().rx_unknown_protocol, 1);
}

#[test]
fn echo_is_answered_and_loopback_detected() {
    let now = Instant::now();
    let (mut e, _) = opened_server(now);
    e.handle_frame(now, &lcp(9, 5, &[0x11, 0x22, 0x33, 0x44, 0xde, 0xad]));
    let out = drain(&mut e);
    assert_eq!(out[0][4..6], [10, 5]);
    assert_eq!(&out[0][12..], &[0xde, 0xad]);
    // Our own magic coming back, Max-Failure times: looped back.
    let magic = e.our_magic.to_be_bytes();
    for _ in 0..5 {
        let m = e.our_magic.to_be_bytes();
        e.handle_frame(now, &lcp(9, 6, &m));
    }
    assert_ne!(magic, e.our_magic.to_be_bytes());
    assert_eq!(e.counters().magic_collisions, 5);
    assert_eq!(e.state(), State::Closing);
    let later = now + Duration::from_secs(10);
    e.handle_timeout(later);
    e.handle_timeout(later + Duration::from_secs(10));
    assert!(e.is_finished());
    assert_eq!(
        std::iter::from_fn(|| e.poll_event()).last(),
        Some(Event::Down {
            reason: DownReason::Loopback
        })
    );
}

#[test]
fn silence_ends_in_max_configure_and_auth_timeout() {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(), Role::Server, t0, 1);
    e.open(t0);
    let mut now = t0;
    while let Some(t) = e.deadline() {
        now = t;
        e.handle_timeout(now);
    }
    assert_eq!(drain(&mut e).len(), 10, "Max-Configure requests");
    assert_eq!(now - t0, Duration::from_secs(30));
    assert_eq!(
        e.poll_event(),
        Some(Event::Down {
            reason: DownReason::MaxConfigure
        })
    );
    let (mut e, _) = opened_server(t0);
    while !e.is_finished() {
        let now = e.deadline().unwrap();
        e.handle_timeout(now);
    }
    assert!(std::iter::from_fn(|| e.poll_event()).any(|ev| ev
        == Event::Down {
            reason: DownReason::AuthTimeout
        }));
    assert_eq!(e.counters().auth_timeouts, 1);
}

#[test]
fn proxy_lcp_accepted_and_renegotiated() {
    let now = Instant::now();
    let proxy = ProxyLcp {
        initial_received: vec![5, 6, 0x11, 0x22, 0x33, 0x44],
        last_sent_confreq: vec![3, 4, 0xc0, 0x23, 5, 6, 0xaa, 0xbb, 0xcc, 0xdd],
        last_received_confreq: vec![1, 4, 0x05, 0xd4, 5, 6, 0x11, 0x22, 0x33, 0x44],
    };
    let pap = ProxyAuth {
        auth_type: 3,
        name: b"alice".to_vec(),
        challenge: vec![],
        id: 9,
        response: b"pw".to_vec(),
    };
    let c = Arc::new(Config {
        auth: vec![AuthMethod::Pap],
        ..Config::default()
    });
    let mut e = Engine::server_with_proxy(c.clone(), now, 1, &proxy, Some(&pap));
    assert_eq!(e.state(), State::Opened);
    assert_eq!((e.peer_magic(), e.mru()), (0x11223344, 1492));
    assert_eq!(e.poll_event(), Some(Event::LinkUp));
    let Some(Event::Authenticate(req)) = e.poll_event() else {
        panic!()
    };
    assert_eq!(req.username, b"alice");
    e.auth_result(now, verify_local(&req, "pw").unwrap());
    let out = drain(&mut e);
    assert_eq!(
        &out[0][2..6],
        &[0xc0, 0x23, 2, 9],
        "PAP Ack with the proxied id"
    );
    assert_eq!(e.counters().proxy_lcp_accepted, 1);
    // An option we do not accept (peer asks to authenticate us): renegotiate.
    let bad = ProxyLcp {
        last_received_confreq: vec![3, 4, 0xc0, 0x23],
        ..proxy
    };
    let mut e = Engine::server_with_proxy(c, now, 1, &bad, Some(&pap));
    assert_eq!(e.state(), State::ReqSent);
    assert_eq!(drain(&mut e)[0][4], 1);
    assert_eq!(e.counters().proxy_lcp_renegotiated, 1);
}

#[test]
fn lower_down_and_finished_engine_ignores_input() {
    let now = Instant::now();
    let (mut e, _) = opened_server(now);
    e.lower_down();
    assert!(e.is_finished());
    assert_eq!(e.deadline(), None);
    e.handle_frame(now, &lcp(9, 1, &[0, 0, 0, 0]));
    e.handle_timeout(now + Duration::from_secs(100));
    assert!(drain(&mut e).is_empty());
    assert_eq!(
        std::iter::from_fn(|| e.poll_event()).last(),
        Some(Event::Down {
            reason: DownReason::LowerDown
        })
    );
}
