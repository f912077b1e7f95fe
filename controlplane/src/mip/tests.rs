//! Unit tests of the agents' decisions that the simulation (`tests/mip_sim.rs`) does not
//! reach: each HA and FA reply code, deregistration, the table limits.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::fa::{Fa, FaConfig};
use super::ha::{Ha, HaConfig};
use super::mn::MnRegistration;
use super::wire::advert::Advertisement;
use super::wire::ext::kind;
use super::wire::ntp::NtpClock;
use super::wire::registration::{code, Reply, Request};
use super::{auth, Output, Sa, TunnelEvent};

const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn clock(t0: Instant) -> NtpClock {
    NtpClock {
        epoch: t0,
        epoch_ntp: 3_973_795_200u64 << 32,
    }
}

fn mn(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

fn sa(i: u8) -> Sa {
    Sa {
        spi: 256,
        key: vec![i; 16],
    }
}

/// A Request straight to the HA with MN-HA keyed `key`.
fn direct(home: Ipv4Addr, ha: Ipv4Addr, lifetime: u16, id: u64, key: &Sa) -> Vec<u8> {
    let r = Request {
        flags: 0,
        lifetime,
        home_address: home,
        home_agent: ha,
        care_of_address: FA,
        identification: id,
        extensions: Vec::new(),
    };
    auth::seal(
        r.fixed(),
        &[auth::auth_placeholder(kind::MN_HA_AUTH, key.spi)],
        0,
        |c| auth::hmac_md5(&key.key, c),
    )
    .unwrap()
}

fn reply(ha: &mut Ha) -> (Reply, Vec<TunnelEvent>) {
    let mut rep = None;
    let mut t = Vec::new();
    while let Some(o) = ha.poll_output() {
        match o {
            Output::Send { bytes, .. } => rep = Some(Reply::parse(&bytes).unwrap()),
            Output::Tunnel(e) => t.push(e),
            Output::Aaa(_) => panic!("no AAA on the direct path"),
            Output::Replay { .. } => panic!("an HA replays nothing"),
        }
    }
    (rep.expect("a reply"), t)
}

#[test]
fn ha_reply_codes() {
    let t0 = Instant::now();
    let c = clock(t0);
    let mut cfg = HaConfig::new(HA, "ha", "home", c);
    cfg.max_bindings = 1;
    cfg.max_lifetime = 100;
    let mut ha = Ha::new(cfg);
    ha.set_mn_ha(mn(1), sa(1));
    ha.set_mn_ha(mn(2), sa(2));
    let from = SocketAddrV4::new(FA, 434);
    let id = c.at(t0);

    // Accepted, lifetime cut to the maximum; the MN-HA of the reply verifies.
    ha.handle_datagram(t0, from, &direct(mn(1), HA, 1000, id, &sa(1)));
    let (r, t) = reply(&mut ha);
    assert_eq!((r.code, r.lifetime), (code::ACCEPTED, 100));
    assert!(matches!(&t[..], [TunnelEvent::Up(s)] if s.remote == FA));
    // Table full for another MN: 130.
    ha.handle_datagram(t0, from, &direct(mn(2), HA, 10, id, &sa(2)));
    assert_eq!(reply(&mut ha).0.code, code::HA_NO_RESOURCES);
    // Wrong MN-HA key: 131; no association at all: 131.
    ha.handle_datagram(t0, from, &direct(mn(1), HA, 10, id + 1, &sa(9)));
    assert_eq!(reply(&mut ha).0.code, code::HA_MN_AUTH_FAILED);
    ha.handle_datagram(t0, from, &direct(mn(7), HA, 10, id + 1, &sa(7)));
    assert_eq!(reply(&mut ha).0.code, code::HA_MN_AUTH_FAILED);
    // Not our address: 136.
    ha.handle_datagram(
        t0,
        from,
        &direct(mn(1), Ipv4Addr::new(1, 1, 1, 1), 10, id + 1, &sa(1)),
    );
    assert_eq!(reply(&mut ha).0.code, code::HA_UNKNOWN_HA);
    // Identification far from our clock: 133 with our seconds and its low bits.
    let far = id + (3600u64 << 32);
    ha.handle_datagram(t0, from, &direct(mn(1), HA, 10, far, &sa(1)));
    let r = reply(&mut ha).0;
    assert_eq!(r.code, code::HA_ID_MISMATCH);
    assert_eq!(r.identification, (id & !0xffff_ffff) | (far & 0xffff_ffff));
    // Deregistration: accepted, tunnel down, binding gone.
    ha.handle_datagram(t0, from, &direct(mn(1), HA, 0, id + 2, &sa(1)));
    let (r, t) = reply(&mut ha);
    assert_eq!(r.code, code::ACCEPTED);
    assert!(matches!(&t[..], [TunnelEvent::Down(s)] if s.remote == FA));
    assert!(ha.binding(mn(1)).is_none());
    let c = ha.counters();
    assert_eq!(c.deregistrations, 1);
    assert_eq!(c.bad_authenticator, 2);
    assert_eq!(c.replayed, 1);
    assert_eq!(c.denied[&code::HA_MN_AUTH_FAILED], 2);
    // Garbage and a truncated request: counted, no reply.
    ha.handle_datagram(t0, from, &[1, 0, 0]);
    ha.handle_datagram(t0, from, &[]);
    assert!(ha.poll_output().is_none());
    assert_eq!(ha.counters().malformed, 2);
}

#[test]
fn ha_binding_expires() {
    let t0 = Instant::now();
    let c = clock(t0);
    let mut ha = Ha::new(HaConfig::new(HA, "ha", "home", c));
    ha.set_mn_ha(mn(1), sa(1));
    ha.handle_datagram(
        t0,
        SocketAddrV4::new(FA, 434),
        &direct(mn(1), HA, 30, c.at(t0), &sa(1)),
    );
    let _ = reply(&mut ha);
    assert_eq!(ha.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    ha.handle_timeout(t0 + Duration::from_secs(29));
    assert!(ha.binding(mn(1)).is_some());
    ha.handle_timeout(t0 + Duration::from_secs(30));
    assert!(ha.binding(mn(1)).is_none());
    assert_eq!(ha.counters().lifetime_expiries, 1);
    assert!(matches!(
        ha.poll_output(),
        Some(Output::Tunnel(TunnelEvent::Down(_)))
    ));
}

fn fa_reply(fa: &mut Fa<StdRng>) -> u8 {
    let mut got = None;
    while let Some(o) = fa.poll_output() {
        if let Output::Send { bytes, .. } = o {
            got = Some(Reply::parse(&bytes).unwrap().code);
        }
    }
    got.expect("the FA answered the MN")
}

#[test]
fn fa_challenge_and_request_checks() {
    let t0 = Instant::now();
    let c = clock(t0);
    let mut cfg = FaConfig::new(FA, "fa", "visited.example", c);
    cfg.challenge_window = 2;
    cfg.max_lifetime = 600;
    let mut fa = Fa::new(cfg, StdRng::seed_from_u64(1));
    let adv = Advertisement::parse(&fa.advertisement(t0)).unwrap();
    let ch = adv.challenge.unwrap();
    assert_eq!(ch.len(), 16);
    let key = sa(3);
    let build = |challenge: &[u8], lifetime: u16, nai: &str| {
        MnRegistration {
            flags: 0,
            lifetime,
            home_address: mn(1),
            home_agent: HA,
            care_of_address: FA,
            identification: 1,
            nai,
            challenge,
            previous_fa: None,
            service_update: false,
            mn_ha: None,
            mn_aaa: &key,
        }
        .build()
        .unwrap()
    };
    let from = SocketAddrV4::new(mn(1), 434);
    // A challenge never advertised: 104.
    fa.handle_datagram(t0, from, &build(b"made up!", 60, "a@home.example"));
    assert_eq!(fa_reply(&mut fa), code::FA_UNKNOWN_CHALLENGE);
    // No challenge extension at all: 105.
    let r = Request::parse(&build(&ch, 60, "a@home.example")).unwrap();
    let exts: Vec<_> = r
        .extensions
        .iter()
        .filter(|l| l.ext.kind() != kind::MN_FA_CHALLENGE)
        .map(|l| l.ext.clone())
        .collect();
    fa.handle_datagram(t0, from, &r.emit_extensions(&exts).unwrap().0);
    assert_eq!(fa_reply(&mut fa), code::FA_MISSING_CHALLENGE);
    // Too long a lifetime: 69. An NAI without a realm: 70.
    fa.handle_datagram(t0, from, &build(&ch, 601, "a@home.example"));
    assert_eq!(fa_reply(&mut fa), code::FA_LIFETIME_TOO_LONG);
    fa.handle_datagram(t0, from, &build(&ch, 60, "nobody"));
    assert_eq!(fa_reply(&mut fa), code::FA_POORLY_FORMED_REQUEST);
    // A stale challenge (older than its lifetime): 106.
    let late = t0 + Duration::from_secs(11);
    fa.handle_datagram(late, from, &build(&ch, 60, "a@home.example"));
    assert_eq!(fa_reply(&mut fa), code::FA_STALE_CHALLENGE);
    // A fresh one goes to the AAA; with no answer the MN gets 78 after the AAA timeout.
    let ch2 = Advertisement::parse(&fa.advertisement(late))
        .unwrap()
        .challenge
        .unwrap();
    fa.handle_datagram(late, from, &build(&ch2, 60, "a@home.example"));
    assert!(matches!(fa.poll_output(), Some(Output::Aaa(_))));
    assert_eq!(fa.pending(), 1);
    fa.handle_timeout(late + Duration::from_secs(6));
    assert_eq!(fa_reply(&mut fa), code::FA_TIMEOUT);
    // A challenge pushed out of the window: 104.
    let _ = fa.advertisement(late);
    let _ = fa.advertisement(late);
    fa.handle_datagram(
        late,
        SocketAddrV4::new(mn(2), 434),
        &build(&ch2, 60, "b@home.example"),
    );
    assert_eq!(fa_reply(&mut fa), code::FA_UNKNOWN_CHALLENGE);
}

/// RFC 3012 §3.3: every Reply to a mobile node carries a fresh challenge for its next
/// request, usable once by that mobile node only (a host-socket FA sends no advertisements).
#[test]
fn fa_reply_challenge_is_for_that_mobile_node_once() {
    use super::wire::Extension;
    let t0 = Instant::now();
    let mut cfg = FaConfig::new(FA, "fa", "visited.example", clock(t0));
    cfg.max_lifetime = 600;
    let mut fa = Fa::new(cfg, StdRng::seed_from_u64(9));
    let key = sa(3);
    let build = |home: Ipv4Addr, challenge: &[u8], nai: &str| {
        MnRegistration {
            flags: 0,
            lifetime: 60,
            home_address: home,
            home_agent: HA,
            care_of_address: FA,
            identification: 1,
            nai,
            challenge,
            previous_fa: None,
            service_update: false,
            mn_ha: None,
            mn_aaa: &key,
        }
        .build()
        .unwrap()
    };
    let from = SocketAddrV4::new(mn(1), 434);
    let ch = Advertisement::parse(&fa.advertisement(t0))
        .unwrap()
        .challenge
        .unwrap();
    // Without a challenge: 105, and the Reply brings one.
    let r = Request::parse(&build(mn(1), &ch, "a@home.example")).unwrap();
    let exts: Vec<_> = r
        .extensions
        .iter()
        .filter(|l| l.ext.kind() != kind::MN_FA_CHALLENGE)
        .map(|l| l.ext.clone())
        .collect();
    fa.handle_datagram(t0, from, &r.emit_extensions(&exts).unwrap().0);
    let Some(Output::Send { bytes, .. }) = fa.poll_output() else {
        panic!("no reply")
    };
    let rep = Reply::parse(&bytes).unwrap();
    assert_eq!(rep.code, code::FA_MISSING_CHALLENGE);
    let got = rep
        .extensions
        .iter()
        .find_map(|l| match &l.ext {
            Extension::Challenge(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a challenge in the reply");
    assert_ne!(got, ch);
    // Another mobile node cannot use it.
    fa.handle_datagram(
        t0,
        SocketAddrV4::new(mn(2), 434),
        &build(mn(2), &got, "b@home.example"),
    );
    assert_eq!(fa_reply(&mut fa), code::FA_UNKNOWN_CHALLENGE);
    // Ours can, once: the request goes to the AAA.
    fa.handle_datagram(t0, from, &build(mn(1), &got, "a@home.example"));
    assert!(matches!(fa.poll_output(), Some(Output::Aaa(_))));
}
