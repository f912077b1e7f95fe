//! Deterministic tests of the peer engine on a simulated clock: both roles of the
//! capabilities exchange, the watchdog, disconnect, error answers, identifiers, and the
//! stream reassembly.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::diameter::wire::codes::disconnect_cause;

type P = Peer<StdRng>;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn cfg(host: &str) -> Config {
    let mut c = Config::new(host, "example.net");
    c.host_ip_addresses = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
    c.origin_state_id = 7;
    c.epoch_secs = 0x1234_5678;
    c
}

fn sent(p: &mut P) -> Vec<Message> {
    std::iter::from_fn(|| p.poll_transmit())
        .map(|b| Message::parse(&b).expect("the engine emits valid messages"))
        .collect()
}

fn events(p: &mut P) -> Vec<Event> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn rc(m: &Message) -> Option<u32> {
    m.find(code::RESULT_CODE).and_then(|a| a.as_u32().ok())
}

fn feed(p: &mut P, now: Instant, m: &Message) {
    p.handle_input(now, &m.emit().unwrap());
}

/// Moves bytes between two engines until neither has anything to send.
fn pump(a: &mut P, b: &mut P, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(x) = a.poll_transmit() {
            b.handle_input(now, &x);
            moved = true;
        }
        while let Some(x) = b.poll_transmit() {
            a.handle_input(now, &x);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn open_pair(ci: Config, cr: Config, now: Instant) -> (P, P) {
    let mut i = Peer::connect(ci, rng(1), now);
    let mut r = Peer::accept(cr, rng(2), now);
    i.handle_connected(now);
    pump(&mut i, &mut r, now);
    (i, r)
}

/// A CER from "nas.example.net" with these auth application ids.
fn cer(apps: &[u32]) -> Message {
    let mut m = Message::request(cmd::CAPABILITIES_EXCHANGE, app::COMMON, 100, 200)
        .not_proxiable()
        .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"))
        .with(Avp::address(
            code::HOST_IP_ADDRESS,
            &Address::V4(Ipv4Addr::new(192, 0, 2, 9)),
        ))
        .with(Avp::u32(code::VENDOR_ID, 0))
        .with(Avp::text(code::PRODUCT_NAME, "test").optional());
    for a in apps {
        m = m.with(Avp::u32(code::AUTH_APPLICATION_ID, *a));
    }
    m
}

/// An engine that accepted a connection and took `cer(&[2])`; its CEA is drained.
fn opened_responder(now: Instant) -> P {
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), now);
    feed(&mut r, now, &cer(&[app::MOBILE_IPV4]));
    let out = sent(&mut r);
    assert_eq!(rc(&out[0]), Some(result::SUCCESS));
    assert_eq!(r.state(), State::ROpen);
    events(&mut r);
    r
}

fn amr(hbh: u32) -> Message {
    Message::request(cmd::AA_MOBILE_NODE, app::MOBILE_IPV4, hbh, 0)
        .with(Avp::text(code::SESSION_ID, "nas.example.net;1;2"))
        .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"))
        .with(Avp::text(code::USER_NAME, "alice@example.net"))
}

fn failed_avp(m: &Message) -> Avp {
    let g = m.find(code::FAILED_AVP).expect("Failed-AVP");
    g.as_grouped().unwrap().remove(0)
}

#[test]
fn capabilities_exchange_both_roles() {
    let t0 = Instant::now();
    let mut i = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(2), t0);
    assert_eq!(i.state(), State::WaitConnAck);
    assert_eq!(i.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    i.handle_connected(t0);
    assert_eq!(i.state(), State::WaitICea);
    let cer_bytes = i.poll_transmit().unwrap();
    let m = Message::parse(&cer_bytes).unwrap();
    assert!(m.header.request && !m.header.proxiable);
    assert_eq!(m.header.command, cmd::CAPABILITIES_EXCHANGE);
    assert_eq!(m.header.application, 0);
    assert_eq!(
        m.find(code::ORIGIN_HOST).unwrap().as_identity(),
        Ok("fa.example.net")
    );
    assert_eq!(
        m.find(code::HOST_IP_ADDRESS).unwrap().as_address(),
        Ok(Address::V4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert_eq!(m.find(code::VENDOR_ID).unwrap().as_u32(), Ok(0));
    assert!(!m.find(code::PRODUCT_NAME).unwrap().mandatory);
    assert_eq!(m.find(code::ORIGIN_STATE_ID).unwrap().as_u32(), Ok(7));
    assert_eq!(m.find(code::AUTH_APPLICATION_ID).unwrap().as_u32(), Ok(2));
    // End-to-End: the low 12 bits of the epoch in the top 12 bits.
    assert_eq!(m.header.end_to_end >> 20, 0x678);

    r.handle_input(t0, &cer_bytes);
    let cea = sent(&mut r);
    assert_eq!(cea.len(), 1);
    let a = &cea[0];
    assert!(!a.header.request && !a.header.error);
    assert_eq!(a.header.hop_by_hop, m.header.hop_by_hop);
    assert_eq!(a.header.end_to_end, m.header.end_to_end);
    assert_eq!(rc(a), Some(result::SUCCESS));
    assert_eq!(a.find_all(code::ORIGIN_HOST).count(), 1);
    assert_eq!(a.find_all(code::ORIGIN_REALM).count(), 1);
    assert_eq!(r.state(), State::ROpen);
    let Event::Up(info) = &events(&mut r)[0] else {
        panic!("no Up")
    };
    assert_eq!(info.origin_host, "fa.example.net");
    assert_eq!(info.origin_state_id, Some(7));
    assert_eq!(info.common_applications, vec![app::MOBILE_IPV4]);

    i.handle_input(t0, &a.emit().unwrap());
    assert_eq!(i.state(), State::IOpen);
    let Event::Up(info) = &events(&mut i)[0] else {
        panic!("no Up")
    };
    assert_eq!(info.origin_host, "aaa.example.net");
    assert_eq!(info.product_name, "varouter");
    assert_eq!(i.counters().tx_cer, 1);
    assert_eq!(i.counters().rx_cea, 1);
    assert_eq!(r.counters().rx_cer, 1);
    assert_eq!(r.counters().tx_cea, 1);
    // Open: only the watchdog is armed.
    let d = i.poll_timeout().unwrap();
    assert!(d >= t0 + Duration::from_secs(28) && d <= t0 + Duration::from_secs(32));
}

#[test]
fn common_application_rules() {
    assert_eq!(common_applications(&[2, 3], &[1, 2]), vec![2]);
    assert_eq!(common_applications(&[2], &[1]), Vec::<u32>::new());
    assert_eq!(common_applications(&[2], &[app::RELAY]), vec![2]);
    assert_eq!(common_applications(&[app::RELAY], &[1, 2]), vec![1, 2]);
    assert_eq!(
        common_applications(&[app::RELAY], &[app::RELAY]),
        vec![app::RELAY]
    );
    // Id 0 is the common messages, never a negotiated application.
    assert_eq!(common_applications(&[0], &[0]), Vec::<u32>::new());
}

#[test]
fn election_compares_origin_hosts_as_octets() {
    assert!(election_won("b.example.net", "a.example.net"));
    assert!(!election_won("a.example.net", "b.example.net"));
    assert!(election_won("aaa.example.net.", "aaa.example.net"));
    assert!(!election_won("x", "x"));
    // Octets, not case-folded text: 'a' (0x61) is greater than 'Z' (0x5a).
    assert!(election_won("a", "Z"));
}

#[test]
fn relay_passes_every_application_up() {
    let t0 = Instant::now();
    let mut cr = cfg("relay.example.net");
    cr.relay = true;
    cr.auth_applications.clear();
    let mut ci = cfg("fa.example.net");
    ci.auth_applications = vec![2, 16_777_251];
    let (mut i, mut r) = open_pair(ci, cr, t0);
    assert_eq!(r.remote().unwrap().common_applications, vec![2, 16_777_251]);
    assert_eq!(i.remote().unwrap().auth_applications, vec![app::RELAY]);
    events(&mut i);
    events(&mut r);
    let hbh = i
        .send_request(
            t0,
            Message::request(316, 16_777_251, 0, 0).with(Avp::text(code::SESSION_ID, "s")),
        )
        .unwrap();
    pump(&mut i, &mut r, t0);
    let Event::Request(req) = &events(&mut r)[0] else {
        panic!("relay did not pass the request up")
    };
    assert_eq!(req.header.hop_by_hop, hbh);
    let ans = r.answer(req, result::SUCCESS);
    r.send_answer(&ans).unwrap();
    pump(&mut i, &mut r, t0);
    assert!(matches!(&events(&mut i)[0], Event::Answer { hop_by_hop, .. } if *hop_by_hop == hbh));
}

#[test]
fn no_common_application_is_5010_and_close() {
    let t0 = Instant::now();
    let mut ci = cfg("fa.example.net");
    ci.auth_applications = vec![4];
    let mut i = Peer::connect(ci, rng(1), t0);
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(2), t0);
    i.handle_connected(t0);
    r.handle_input(t0, &i.poll_transmit().unwrap());
    let cea = r.poll_transmit().unwrap();
    let m = Message::parse(&cea).unwrap();
    assert_eq!(rc(&m), Some(result::NO_COMMON_APPLICATION));
    assert!(!m.header.error);
    assert_eq!(r.state(), State::Closed);
    assert_eq!(r.counters().no_common_application, 1);
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::Rejected { result_code: 5010 },
            ..
        }]
    ));
    i.handle_input(t0, &cea);
    assert_eq!(i.state(), State::Closed);
    assert!(matches!(
        &events(&mut i)[..],
        [Event::Down {
            reason: DownReason::CapabilitiesRefused { result_code: 5010 },
            ..
        }]
    ));
}

#[test]
fn initiator_closes_on_success_cea_without_common_application() {
    let t0 = Instant::now();
    let mut i = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    i.handle_connected(t0);
    let c = sent(&mut i).remove(0);
    let mut a = Message::answer_to(&c.header).with(Avp::u32(code::RESULT_CODE, 2001));
    a.avps.extend(cer(&[1]).avps);
    feed(&mut i, t0, &a);
    assert!(matches!(
        &events(&mut i)[..],
        [Event::Down {
            reason: DownReason::Rejected { result_code: 5010 },
            ..
        }]
    ));
}

#[test]
fn cea_timeout_and_cer_timeout_close() {
    let t0 = Instant::now();
    let mut i = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    i.handle_connected(t0);
    let d = i.poll_timeout().unwrap();
    assert_eq!(d, t0 + Duration::from_secs(10));
    i.handle_timeout(d - Duration::from_millis(1));
    assert_eq!(i.state(), State::WaitICea);
    i.handle_timeout(d);
    assert!(matches!(
        &events(&mut i)[..],
        [Event::Down {
            reason: DownReason::CeaTimeout,
            ..
        }]
    ));
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(2), t0);
    r.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::CerTimeout,
            ..
        }]
    ));
    let mut c = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    c.handle_connect_failed(t0);
    assert!(matches!(
        &events(&mut c)[..],
        [Event::Down {
            reason: DownReason::ConnectFailed,
            ..
        }]
    ));
}

#[test]
fn cer_refusals_name_the_avp() {
    let t0 = Instant::now();
    // Origin-Host missing: 5005 with an example of the missing AVP.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let mut m = cer(&[2]);
    m.avps.retain(|a| a.code != code::ORIGIN_HOST);
    feed(&mut r, t0, &m);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::MISSING_AVP));
    assert_eq!(failed_avp(&a).code, code::ORIGIN_HOST);
    assert_eq!(r.state(), State::Closed);
    assert_eq!(r.counters().missing_avp, 1);
    // Host-IP-Address missing.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let mut m = cer(&[2]);
    m.avps.retain(|a| a.code != code::HOST_IP_ADDRESS);
    feed(&mut r, t0, &m);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::MISSING_AVP));
    assert_eq!(failed_avp(&a).code, code::HOST_IP_ADDRESS);
    // Vendor-Id of 2 bytes: 5014 with the AVP as sent.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let mut m = cer(&[2]);
    m.avps.retain(|a| a.code != code::VENDOR_ID);
    m.avps.push(Avp::new(code::VENDOR_ID, vec![0, 1]));
    feed(&mut r, t0, &m);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_AVP_LENGTH));
    assert_eq!(failed_avp(&a), Avp::new(code::VENDOR_ID, vec![0, 1]));
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::Rejected { result_code: 5014 },
            ..
        }]
    ));
    // TLS only: 5017.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    feed(
        &mut r,
        t0,
        &cer(&[2]).with(Avp::u32(code::INBAND_SECURITY_ID, 1)),
    );
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::NO_COMMON_SECURITY));
    // NO_INBAND_SECURITY listed: accepted.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    feed(
        &mut r,
        t0,
        &cer(&[2])
            .with(Avp::u32(code::INBAND_SECURITY_ID, 1))
            .with(Avp::u32(code::INBAND_SECURITY_ID, 0)),
    );
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::SUCCESS));
    // Vendor-Specific-Application-Id with both ids: 5004.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let vsai = Avp::grouped(
        code::VENDOR_SPECIFIC_APPLICATION_ID,
        &[
            Avp::u32(code::VENDOR_ID, 10415),
            Avp::u32(code::AUTH_APPLICATION_ID, 2),
            Avp::u32(code::ACCT_APPLICATION_ID, 3),
        ],
    )
    .unwrap();
    feed(&mut r, t0, &cer(&[]).with(vsai.clone()));
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_AVP_VALUE));
    assert_eq!(failed_avp(&a), vsai);
}

#[test]
fn vendor_specific_application_counts_as_common() {
    let t0 = Instant::now();
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let vsai = Avp::grouped(
        code::VENDOR_SPECIFIC_APPLICATION_ID,
        &[
            Avp::u32(code::VENDOR_ID, 10415),
            Avp::u32(code::AUTH_APPLICATION_ID, 2),
        ],
    )
    .unwrap();
    feed(&mut r, t0, &cer(&[]).with(vsai));
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::SUCCESS));
    let info = r.remote().unwrap();
    assert_eq!(
        info.vendor_applications,
        vec![VendorApp {
            vendor_id: 10415,
            auth: Some(2),
            acct: None
        }]
    );
    assert_eq!(info.common_applications, vec![2]);
}

#[test]
fn cer_again_when_open_is_answered_and_stays_open() {
    let t0 = Instant::now();
    let mut r = opened_responder(t0);
    feed(&mut r, t0, &cer(&[2]));
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::SUCCESS));
    assert_eq!(r.state(), State::ROpen);
    assert!(events(&mut r).is_empty(), "no second Up");
}

#[test]
fn watchdog_sends_dwr_with_jitter_and_answers_dwr() {
    let t0 = Instant::now();
    let mut r = opened_responder(t0);
    let tw = Duration::from_secs(30);
    let mut now = t0;
    let mut seen = Vec::new();
    for _ in 0..20 {
        let d = r.poll_timeout().unwrap();
        let wait = d - now;
        assert!(
            wait >= tw - Duration::from_secs(2) && wait <= tw + Duration::from_secs(2),
            "Tw {wait:?} outside 30 s ± 2 s"
        );
        seen.push(wait);
        r.handle_timeout(d - Duration::from_millis(1));
        assert!(sent(&mut r).is_empty(), "DWR before the deadline");
        r.handle_timeout(d);
        now = d;
        let out = sent(&mut r);
        assert_eq!(out.len(), 1);
        let dwr = &out[0];
        assert_eq!(dwr.header.command, cmd::DEVICE_WATCHDOG);
        assert!(dwr.header.request && !dwr.header.proxiable);
        assert_eq!(dwr.find(code::ORIGIN_STATE_ID).unwrap().as_u32(), Ok(7));
        let dwa = Message::answer_to(&dwr.header)
            .with(Avp::u32(code::RESULT_CODE, 2001))
            .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
            .with(Avp::text(code::ORIGIN_REALM, "example.net"));
        // The answer comes a second later and re-arms the timer from then.
        now += Duration::from_secs(1);
        feed(&mut r, now, &dwa);
    }
    assert_eq!(r.counters().tx_dwr, 20);
    assert_eq!(r.counters().rx_dwa, 20);
    assert!(!r.is_suspect());
    seen.sort();
    seen.dedup();
    assert!(seen.len() > 10, "the jitter varies the interval: {seen:?}");

    // The peer's DWR is answered with a DWA carrying our Origin-State-Id.
    let dwr = Message::request(cmd::DEVICE_WATCHDOG, 0, 77, 88)
        .not_proxiable()
        .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"));
    feed(&mut r, now, &dwr);
    let a = sent(&mut r).remove(0);
    assert_eq!(a.header.command, cmd::DEVICE_WATCHDOG);
    assert_eq!((a.header.hop_by_hop, a.header.end_to_end), (77, 88));
    assert_eq!(rc(&a), Some(result::SUCCESS));
    assert_eq!(a.find(code::ORIGIN_STATE_ID).unwrap().as_u32(), Ok(7));
}

#[test]
fn any_message_rearms_the_watchdog() {
    let t0 = Instant::now();
    let mut r = opened_responder(t0);
    let d0 = r.poll_timeout().unwrap();
    let later = t0 + Duration::from_secs(20);
    let dwr = Message::request(cmd::DEVICE_WATCHDOG, 0, 1, 1)
        .not_proxiable()
        .with(Avp::text(code::ORIGIN_HOST, "nas.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"));
    feed(&mut r, later, &dwr);
    let d1 = r.poll_timeout().unwrap();
    assert!(d1 > d0 && d1 >= later + Duration::from_secs(28));
}

#[test]
fn watchdog_failover_failback_and_expiry() {
    let t0 = Instant::now();
    let mut c = cfg("fa.example.net");
    c.request_timeout = Duration::from_secs(100);
    let (mut i, mut r) = open_pair(c, cfg("aaa.example.net"), t0);
    events(&mut i);
    events(&mut r);
    // The responder goes silent: nothing i sends reaches it.
    let mut now = t0;
    while !i.is_suspect() {
        now = i.poll_timeout().unwrap();
        i.handle_timeout(now);
    }
    let out = sent(&mut i);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].header.command, cmd::DEVICE_WATCHDOG);
    let waited = now - t0;
    assert!(waited >= Duration::from_secs(56) && waited <= Duration::from_secs(64));
    assert_eq!(events(&mut i), vec![Event::Suspect { pending: vec![] }]);
    // A late message from the peer is a failback.
    let dwr = Message::request(cmd::DEVICE_WATCHDOG, 0, 9, 9)
        .not_proxiable()
        .with(Avp::text(code::ORIGIN_HOST, "aaa.example.net"))
        .with(Avp::text(code::ORIGIN_REALM, "example.net"));
    feed(&mut i, now, &dwr);
    assert_eq!(events(&mut i), vec![Event::Failback]);
    assert!(!i.is_suspect());
    assert_eq!(i.counters().watchdog_failbacks, 1);
    sent(&mut i);
    // Silent again, with a request pending this time: failover names it, then expiry. The
    // DWR is still unanswered (a DWR from the peer is not a DWA, RFC 3539 keeps Pending),
    // so the first expiry is a failover at once, without a new DWR.
    let hbh = i.send_request(now, amr(0)).unwrap();
    let start = now;
    while i.state() != State::Closed {
        now = i.poll_timeout().unwrap();
        i.handle_timeout(now);
    }
    let waited = now - start;
    assert!(waited >= Duration::from_secs(56) && waited <= Duration::from_secs(64));
    assert!(sent(&mut i)
        .iter()
        .all(|m| m.header.command != cmd::DEVICE_WATCHDOG));
    let ev = events(&mut i);
    assert!(
        ev.contains(&Event::Suspect { pending: vec![hbh] }),
        "{ev:?}"
    );
    assert!(matches!(
        ev.last(),
        Some(Event::Down { reason: DownReason::WatchdogExpired, pending }) if pending == &vec![hbh]
    ));
    assert_eq!(i.counters().watchdog_expired, 1);
    assert_eq!(i.counters().watchdog_failovers, 2);
}

#[test]
fn short_tw_scales_the_jitter() {
    let t0 = Instant::now();
    let mut c = cfg("fa.example.net");
    c.watchdog_interval = Duration::from_secs(2);
    let (i, _r) = open_pair(c, cfg("aaa.example.net"), t0);
    let d = i.poll_timeout().unwrap() - t0;
    assert!(d >= Duration::from_millis(1500) && d <= Duration::from_millis(2500));
}

#[test]
fn disconnect_peer_both_sides() {
    let t0 = Instant::now();
    let (mut i, mut r) = open_pair(cfg("fa.example.net"), cfg("aaa.example.net"), t0);
    events(&mut i);
    events(&mut r);
    i.disconnect(t0, disconnect_cause::DO_NOT_WANT_TO_TALK_TO_YOU);
    assert_eq!(i.state(), State::Closing);
    let dpr = i.poll_transmit().unwrap();
    let m = Message::parse(&dpr).unwrap();
    assert_eq!(m.header.command, cmd::DISCONNECT_PEER);
    assert!(!m.header.proxiable);
    assert_eq!(m.find(code::DISCONNECT_CAUSE).unwrap().as_u32(), Ok(2));
    r.handle_input(t0, &dpr);
    assert_eq!(
        r.state(),
        State::Closing,
        "waits for the DPR sender to close"
    );
    let dpa = r.poll_transmit().unwrap();
    assert_eq!(rc(&Message::parse(&dpa).unwrap()), Some(result::SUCCESS));
    i.handle_input(t0, &dpa);
    assert_eq!(i.state(), State::Closed);
    assert!(matches!(
        &events(&mut i)[..],
        [Event::Down {
            reason: DownReason::LocalDisconnect { answered: true },
            ..
        }]
    ));
    r.handle_transport_closed(t0);
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::PeerDisconnect { cause: Some(2) },
            ..
        }]
    ));
    assert_eq!(
        (i.counters().tx_dpr, i.counters().rx_dpa),
        (1, 1),
        "DPR/DPA counted"
    );
    assert_eq!((r.counters().rx_dpr, r.counters().tx_dpa), (1, 1));
}

#[test]
fn dpa_timeout_and_peer_that_never_closes() {
    let t0 = Instant::now();
    let (mut i, mut r) = open_pair(cfg("fa.example.net"), cfg("aaa.example.net"), t0);
    events(&mut i);
    events(&mut r);
    i.disconnect(t0, disconnect_cause::REBOOTING);
    let dpr = i.poll_transmit().unwrap();
    assert_eq!(i.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    i.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(
        &events(&mut i)[..],
        [Event::Down {
            reason: DownReason::LocalDisconnect { answered: false },
            ..
        }]
    ));
    r.handle_input(t0, &dpr);
    r.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::PeerDisconnect { cause: Some(0) },
            ..
        }]
    ));
    // Disconnecting before the exchange closes at once.
    let mut c = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    c.handle_connected(t0);
    c.disconnect(t0, 0);
    assert!(c.is_closed());
}

#[test]
fn message_before_capabilities_is_5012_and_close() {
    let t0 = Instant::now();
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    feed(&mut r, t0, &amr(5));
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::UNABLE_TO_COMPLY));
    assert_eq!(a.header.hop_by_hop, 5);
    assert_eq!(
        a.avps[0],
        Avp::text(code::SESSION_ID, "nas.example.net;1;2"),
        "Session-Id first"
    );
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::BeforeCapabilities { command: 260 },
            ..
        }]
    ));
    assert_eq!(r.counters().before_capabilities, 1);
    // An answer before the CER: nothing to answer, closed.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let mut ans = Message::answer_to(&amr(5).header).with(Avp::u32(code::RESULT_CODE, 2001));
    ans.header.proxiable = true;
    feed(&mut r, t0, &ans);
    assert!(sent(&mut r).is_empty());
    assert!(r.is_closed());
    // A DWR while our CER waits for its CEA.
    let mut i = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    i.handle_connected(t0);
    sent(&mut i);
    feed(
        &mut i,
        t0,
        &Message::request(cmd::DEVICE_WATCHDOG, 0, 1, 1).not_proxiable(),
    );
    assert_eq!(rc(&sent(&mut i)[0]), Some(result::UNABLE_TO_COMPLY));
    assert!(i.is_closed());
}

#[test]
fn unknown_mandatory_avp_is_5001_with_failed_avp() {
    let t0 = Instant::now();
    let mut r = opened_responder(t0);
    let odd = Avp::u32(9999, 1);
    feed(&mut r, t0, &amr(11).with(odd.clone()));
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::AVP_UNSUPPORTED));
    assert!(!a.header.error, "5001 is not a protocol error");
    assert_eq!(a.header.hop_by_hop, 11);
    assert_eq!(failed_avp(&a), odd);
    assert_eq!(r.counters().avp_unsupported, 1);
    assert!(events(&mut r).is_empty());
    // A vendor AVP with the M bit is unknown too; without the M bit it passes.
    feed(&mut r, t0, &amr(12).with(Avp::u32(5, 1).with_vendor(10415)));
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::AVP_UNSUPPORTED));
    feed(&mut r, t0, &amr(13).with(Avp::u32(9999, 1).optional()));
    assert!(sent(&mut r).is_empty());
    assert!(matches!(&events(&mut r)[..], [Event::Request(m)] if m.header.hop_by_hop == 13));
    assert_eq!(r.state(), State::ROpen);
    // In a CER: refused and closed.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    feed(&mut r, t0, &cer(&[2]).with(Avp::u32(9999, 1)));
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::AVP_UNSUPPORTED));
    assert!(r.is_closed());
}

/// Offset of the first AVP with this code in an encoded message.
fn avp_at(bytes: &[u8], code: u32) -> usize {
    let mut at = HEADER_LEN;
    loop {
        let c = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_be_bytes([0, bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        if c == code {
            return at;
        }
        at += len.div_ceil(4) * 4;
    }
}

#[test]
fn bad_avp_length_and_bits_are_answered() {
    let t0 = Instant::now();
    let mut r = opened_responder(t0);
    // User-Name's AVP Length says 7 (below the 8-byte header).
    let mut b = amr(21).emit().unwrap();
    let at = avp_at(&b, code::USER_NAME);
    b[at + 7] = 7;
    r.handle_input(t0, &b);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_AVP_LENGTH));
    assert_eq!(a.header.hop_by_hop, 21);
    let f = failed_avp(&a);
    assert_eq!((f.code, f.data.len()), (code::USER_NAME, 0));
    assert_eq!(a.avps[0].code, code::SESSION_ID, "Session-Id first");
    // AVP Length running past the message.
    let mut b = amr(22).emit().unwrap();
    let at = avp_at(&b, code::USER_NAME);
    b[at + 6] = 0x10;
    r.handle_input(t0, &b);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_AVP_LENGTH));
    assert_eq!(failed_avp(&a).code, code::USER_NAME);
    // Reserved AVP flag bits: 3009 with the E bit.
    let mut b = amr(23).emit().unwrap();
    let at = avp_at(&b, code::USER_NAME);
    b[at + 4] |= 0x01;
    r.handle_input(t0, &b);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_AVP_BITS));
    assert!(a.header.error && !a.header.request);
    // Reserved header flag bits: 3008 DIAMETER_INVALID_HDR_BITS with the E bit.
    let mut b = amr(24).emit().unwrap();
    b[4] |= 0x01;
    r.handle_input(t0, &b);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_HDR_BITS));
    assert!(a.header.error);
    assert_eq!(a.header.hop_by_hop, 24);
    // Grouped AVPs nested too deep: 5004.
    let mut g = Avp::u32(code::PROXY_HOST, 1);
    for _ in 0..10 {
        g = Avp::grouped(code::PROXY_INFO, &[g]).unwrap();
    }
    feed(&mut r, t0, &amr(25).with(g));
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_AVP_VALUE));
    assert_eq!(failed_avp(&a).code, code::PROXY_INFO);
    // The connection survives all of them.
    assert_eq!(r.state(), State::ROpen);
    assert_eq!(r.counters().malformed_avp, 4);
    assert_eq!(r.counters().malformed_header, 1);
    assert_eq!(r.counters().tx_error_answers, 5);
    // A malformed answer is dropped.
    let mut b = Message::answer_to(&amr(26).header)
        .with(Avp::u32(code::RESULT_CODE, 2001))
        .emit()
        .unwrap();
    b[HEADER_LEN + 7] = 3;
    r.handle_input(t0, &b);
    assert!(sent(&mut r).is_empty());
    assert_eq!(r.counters().malformed_answers_dropped, 1);
}

#[test]
fn unsupported_application_and_command() {
    let t0 = Instant::now();
    let mut r = opened_responder(t0);
    feed(
        &mut r,
        t0,
        &Message::request(272, 4, 31, 1).with(Avp::text(code::SESSION_ID, "x")),
    );
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::APPLICATION_UNSUPPORTED));
    assert!(a.header.error);
    feed(&mut r, t0, &Message::request(cmd::ABORT_SESSION, 0, 32, 1));
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::COMMAND_UNSUPPORTED));
    assert!(a.header.error);
    assert_eq!(r.counters().application_unsupported, 1);
    assert_eq!(r.counters().command_unsupported, 1);
}

#[test]
fn requests_and_answers_are_matched() {
    let t0 = Instant::now();
    let (mut i, mut r) = open_pair(cfg("fa.example.net"), cfg("aaa.example.net"), t0);
    events(&mut i);
    events(&mut r);
    let h1 = i.send_request(t0, amr(0)).unwrap();
    let h2 = i.send_request(t0, amr(0)).unwrap();
    assert_ne!(h1, h2);
    assert_eq!(i.pending_requests(), 2);
    pump(&mut i, &mut r, t0);
    let reqs: Vec<Message> = events(&mut r)
        .into_iter()
        .filter_map(|e| match e {
            Event::Request(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(reqs.len(), 2);
    assert_ne!(reqs[0].header.end_to_end, reqs[1].header.end_to_end);
    // Answer the second first; then an answer that matches nothing.
    r.send_answer(&r.answer(&reqs[1], result::SUCCESS)).unwrap();
    let mut stray = r.answer(&reqs[0], result::SUCCESS);
    stray.header.hop_by_hop ^= 0x8000_0000;
    r.send_answer(&stray).unwrap();
    pump(&mut i, &mut r, t0);
    let ev = events(&mut i);
    assert!(matches!(&ev[..], [Event::Answer { hop_by_hop, .. }] if *hop_by_hop == h2));
    assert_eq!(i.counters().rx_unmatched_answers, 1);
    assert_eq!(i.pending_requests(), 1);
    // The other times out.
    i.handle_timeout(t0 + Duration::from_secs(10));
    assert!(events(&mut i)
        .iter()
        .any(|e| matches!(e, Event::AnswerTimeout { hop_by_hop, .. } if *hop_by_hop == h1)));
    assert_eq!(i.counters().answer_timeouts, 1);
    // An answer after the timeout is unmatched.
    r.send_answer(&r.answer(&reqs[0], result::SUCCESS)).unwrap();
    pump(&mut i, &mut r, t0 + Duration::from_secs(11));
    assert_eq!(i.counters().rx_unmatched_answers, 2);
}

#[test]
fn local_request_refusals() {
    let t0 = Instant::now();
    let mut i = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    assert_eq!(
        i.send_request(t0, amr(0)),
        Err(PeerError::NotOpen(State::WaitConnAck))
    );
    let mut c = cfg("fa.example.net");
    c.max_pending_requests = 2;
    let (mut i, _r) = open_pair(c, cfg("aaa.example.net"), t0);
    assert_eq!(
        i.send_request(t0, Message::request(1, 4, 0, 0)),
        Err(PeerError::ApplicationNotCommon(4))
    );
    i.send_request(t0, amr(0)).unwrap();
    i.send_request(t0, amr(0)).unwrap();
    assert_eq!(
        i.send_request(t0, amr(0)),
        Err(PeerError::TooManyPending(2))
    );
    assert_eq!(i.counters().requests_refused, 1);
    assert_eq!(i.send_answer(&amr(1)), Err(PeerError::WrongKind));
}

#[test]
fn timer_updates_are_reported_once() {
    let t0 = Instant::now();
    let mut i = Peer::connect(cfg("fa.example.net"), rng(1), t0);
    assert_eq!(
        i.poll_timer_update(),
        Some(Some(t0 + Duration::from_secs(10)))
    );
    assert_eq!(i.poll_timer_update(), None);
    i.handle_connect_failed(t0);
    assert_eq!(i.poll_timer_update(), Some(None));
}

// ---- the stream ----

#[test]
fn split_and_coalesced_stream() {
    let t0 = Instant::now();
    // Byte by byte: the same CEA as in one piece.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    for b in cer(&[2]).emit().unwrap() {
        r.handle_input(t0, &[b]);
    }
    assert_eq!(r.state(), State::ROpen);
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::SUCCESS));
    // Three messages in one read, the last cut in two reads.
    let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
    let mut all = cer(&[2]).emit().unwrap();
    all.extend(amr(41).emit().unwrap());
    let third = amr(42).emit().unwrap();
    all.extend(&third[..7]);
    r.handle_input(t0, &all);
    assert_eq!(r.counters().rx_messages, 2);
    assert!(r.rx.buffered() == 7);
    r.handle_input(t0, &third[7..]);
    let ev = events(&mut r);
    let hbhs: Vec<u32> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Request(m) => Some(m.header.hop_by_hop),
            _ => None,
        })
        .collect();
    assert_eq!(hbhs, vec![41, 42]);
}

#[test]
fn hostile_lengths_close_without_buffering() {
    let t0 = Instant::now();
    // Message Length 16 MiB - 4: refused from the first 4 bytes, answered 5015.
    let mut r = opened_responder(t0);
    let mut b = amr(51).emit().unwrap();
    b[1..4].copy_from_slice(&[0xff, 0xff, 0xfc]);
    r.handle_input(t0, &b);
    assert!(r.rx.buffered() <= HEADER_LEN);
    let a = sent(&mut r).remove(0);
    assert_eq!(rc(&a), Some(result::INVALID_MESSAGE_LENGTH));
    assert_eq!(a.header.hop_by_hop, 51);
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Down {
            reason: DownReason::Framing(FrameError::TooLong {
                length: 0xff_fffc,
                max: 65536
            }),
            ..
        }]
    ));
    assert_eq!(r.counters().malformed_framing, 1);
    // Later bytes are ignored.
    r.handle_input(t0, &[0; 100]);
    assert!(sent(&mut r).is_empty());
    // Version 2: 5011.
    let mut r = opened_responder(t0);
    let mut b = amr(52).emit().unwrap();
    b[0] = 2;
    r.handle_input(t0, &b);
    assert_eq!(rc(&sent(&mut r)[0]), Some(result::UNSUPPORTED_VERSION));
    assert!(r.is_closed());
    // Length not a multiple of 4, only 6 bytes of it: closed, nothing to answer with.
    let mut r = opened_responder(t0);
    r.handle_input(t0, &[1, 0, 0, 22, 0x80, 0]);
    assert!(sent(&mut r).is_empty());
    assert!(r.is_closed());
}

#[test]
fn reassembler_bounds() {
    let mut re = Reassembler::new(64);
    let mut input: &[u8] = &[1, 0, 0, 68, 0x80, 0, 1, 1];
    assert!(matches!(
        re.next(&mut input),
        Some(Frame::Broken { error: FrameError::TooLong { length: 68, max: 64 }, ref header }) if header.len() == 8
    ));
    assert!(re.is_failed());
    let mut more: &[u8] = &[0; 10];
    assert_eq!(re.next(&mut more), None);
    assert!(more.is_empty());
    let mut re = Reassembler::new(64);
    let msg = [
        1, 0, 0, 20, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2,
    ];
    let mut two: Vec<u8> = msg.to_vec();
    two.extend(msg);
    let mut input: &[u8] = &two;
    assert_eq!(re.next(&mut input), Some(Frame::Message(msg.to_vec())));
    assert_eq!(input.len(), 20);
    assert_eq!(re.next(&mut input), Some(Frame::Message(msg.to_vec())));
    assert_eq!(re.next(&mut input), None);
}

proptest! {
    /// Any bytes, in any pieces, into an engine that is open or waiting for a CER: no
    /// panic, the buffer stays under the limit, and everything sent parses.
    #[test]
    fn hostile_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(0usize..600, 0..8),
        open in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let mut c = cfg("aaa.example.net");
        c.max_message_len = 256;
        let mut r = Peer::accept(c, rng(3), t0);
        if open {
            feed(&mut r, t0, &cer(&[2]));
        }
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= data.len()).collect();
        cuts.sort_unstable();
        let mut last = 0;
        for c in cuts.into_iter().chain([data.len()]) {
            r.handle_input(t0, &data[last..c]);
            last = c;
            prop_assert!(r.rx.buffered() <= 256);
        }
        r.handle_timeout(t0 + Duration::from_secs(100));
        while let Some(b) = r.poll_transmit() {
            prop_assert!(Message::parse(&b).is_ok());
        }
    }

    /// A valid exchange gives the same output however the stream is cut.
    #[test]
    fn cuts_do_not_change_the_outcome(cuts in proptest::collection::vec(0usize..2000, 0..12)) {
        let t0 = Instant::now();
        let mut whole = cer(&[2]).emit().unwrap();
        for h in 60..64 {
            whole.extend(amr(h).emit().unwrap());
        }
        whole.extend(amr(70).with(Avp::u32(9999, 0)).emit().unwrap());
        let run = |pieces: &[&[u8]]| {
            let mut r = Peer::accept(cfg("aaa.example.net"), rng(3), t0);
            for p in pieces {
                r.handle_input(t0, p);
            }
            (sent(&mut r), events(&mut r))
        };
        let expect = run(&[&whole]);
        prop_assert_eq!(expect.1.len(), 5);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (whole.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain([whole.len()]) {
            pieces.push(&whole[last..c]);
            last = c;
        }
        prop_assert_eq!(run(&pieces), expect);
    }
}
