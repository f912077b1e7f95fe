//! The PPPoE discovery engine against simulated clients: every frame a client sends is built
//! with the wire module and every frame the engine sends is parsed back with it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use controlplane::packet::l2_split;
use controlplane::pppoe::discovery::{
    AccessConfig, Discovery, DownReason, Limits, Output, Session, COOKIE_LEN,
};
use controlplane::pppoe::wire::{kind, DiscoveryRepr, EthHeader, Tag};
use vr::{PortId, VrId};
use wire::pppoe::{Code, PppoeHeader};

const AC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xac];
const BROADCAST: [u8; 6] = [0xff; 6];
const P1: PortId = PortId(1);
const P2: PortId = PortId(2);
const V100: Option<u16> = Some(100);
const V200: Option<u16> = Some(200);

fn cfg() -> AccessConfig {
    AccessConfig {
        vr: VrId(7),
        ac_name: "bng-1".into(),
        service_names: vec!["internet".into(), "voip".into()],
        max_sessions: 1000,
        max_sessions_per_mac: 1,
        padi_per_mac_per_sec: 10,
        max_payload: 1492,
    }
}

fn engine_with(limits: Limits, c: AccessConfig) -> (Discovery, Instant) {
    let mut d = Discovery::new([7; 32], limits);
    let t0 = Instant::now();
    d.configure(t0, P1, V100, Some(c));
    (d, t0)
}

fn engine() -> (Discovery, Instant) {
    engine_with(
        Limits {
            max_sessions_per_port: 65534,
            max_tracked_macs: 1024,
        },
        cfg(),
    )
}

fn mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0x10, b[0], b[1], b[2], b[3]]
}

/// A discovery frame and the offset of its PPPoE header.
fn frame(
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    code: Code,
    sid: u16,
    tags: Vec<Tag>,
) -> (Vec<u8>, usize) {
    let eth = EthHeader { dst, src, vlan };
    let r = DiscoveryRepr {
        code,
        session_id: sid,
        tags,
    };
    (r.to_frame(&eth).unwrap(), eth.len())
}

/// A frame the engine sent: (dst, src, VLAN, packet).
fn parse(f: &[u8]) -> ([u8; 6], [u8; 6], Option<u16>, DiscoveryRepr) {
    let (et, vlan, l3) = l2_split(f).unwrap();
    assert_eq!(et, 0x8863);
    let r = DiscoveryRepr::parse(&PppoeHeader::new_checked(&f[l3..]).unwrap()).unwrap();
    (
        f[0..6].try_into().unwrap(),
        f[6..12].try_into().unwrap(),
        vlan,
        r,
    )
}

fn drain(d: &mut Discovery) -> Vec<Output> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

/// The one frame among `out`, parsed.
fn only_frame(out: &[Output]) -> (PortId, [u8; 6], [u8; 6], Option<u16>, DiscoveryRepr) {
    let frames: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Frame { port, frame } => Some((*port, frame)),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 1, "{out:?}");
    let (dst, src, vlan, r) = parse(frames[0].1);
    (frames[0].0, dst, src, vlan, r)
}

/// A simulated PPPoE client.
#[derive(Clone)]
struct Client {
    port: PortId,
    vlan: Option<u16>,
    mac: [u8; 6],
    service: Vec<u8>,
    host_uniq: Option<Vec<u8>>,
    relay: Option<Vec<u8>>,
    max_payload: Option<u16>,
}

impl Client {
    fn new(n: u32) -> Self {
        Client {
            port: P1,
            vlan: V100,
            mac: mac(n),
            service: b"internet".to_vec(),
            host_uniq: Some(n.to_be_bytes().to_vec()),
            relay: None,
            max_payload: None,
        }
    }

    fn tags(&self) -> Vec<Tag> {
        let mut t = vec![Tag::ServiceName(self.service.clone())];
        t.extend(self.host_uniq.clone().map(Tag::HostUniq));
        t.extend(self.relay.clone().map(Tag::RelaySessionId));
        t.extend(self.max_payload.map(Tag::PppMaxPayload));
        t
    }

    fn send(&self, d: &mut Discovery, now: Instant, f: (Vec<u8>, usize)) -> Vec<Output> {
        d.handle_frame(now, self.port, AC_MAC, self.vlan, &f.0, f.1);
        drain(d)
    }

    fn padi(&self, d: &mut Discovery, now: Instant) -> Vec<Output> {
        let f = frame(BROADCAST, self.mac, self.vlan, Code::Padi, 0, self.tags());
        self.send(d, now, f)
    }

    fn padr(&self, d: &mut Discovery, now: Instant, cookie: &[u8]) -> Vec<Output> {
        let mut t = self.tags();
        t.push(Tag::AcCookie(cookie.to_vec()));
        let f = frame(AC_MAC, self.mac, self.vlan, Code::Padr, 0, t);
        self.send(d, now, f)
    }

    fn padt(&self, d: &mut Discovery, now: Instant, sid: u16) -> Vec<Output> {
        let f = frame(AC_MAC, self.mac, self.vlan, Code::Padt, sid, vec![]);
        self.send(d, now, f)
    }

    /// PADI → PADO: the cookie.
    fn cookie(&self, d: &mut Discovery, now: Instant) -> Vec<u8> {
        let out = self.padi(d, now);
        let (_, _, _, _, pado) = only_frame(&out);
        assert_eq!(pado.code, Code::Pado);
        match pado.first(kind::AC_COOKIE) {
            Some(Tag::AcCookie(c)) => c.clone(),
            other => panic!("no cookie: {other:?}"),
        }
    }

    /// The whole handshake: Ok(session) or Err(the PADS that refused).
    fn connect(&self, d: &mut Discovery, now: Instant) -> Result<Session, DiscoveryRepr> {
        let cookie = self.cookie(d, now);
        let out = self.padr(d, now, &cookie);
        let (_, _, _, _, pads) = only_frame(&out);
        assert_eq!(pads.code, Code::Pads);
        match out.iter().find_map(|o| match o {
            Output::SessionUp(s) => Some(s.clone()),
            _ => None,
        }) {
            Some(s) => {
                assert_eq!(pads.session_id, s.session);
                Ok(s)
            }
            None => {
                assert_eq!(pads.session_id, 0);
                Err(pads)
            }
        }
    }
}

#[test]
fn full_handshake_echoes_host_uniq_and_relay_session_id() {
    let (mut d, t0) = engine();
    let mut c = Client::new(1);
    c.relay = Some(b"relay-7".to_vec());
    let out = c.padi(&mut d, t0);
    let (port, dst, src, vlan, pado) = only_frame(&out);
    assert_eq!((port, dst, src, vlan), (P1, c.mac, AC_MAC, V100));
    assert_eq!((pado.code, pado.session_id), (Code::Pado, 0));
    let cookie = match &pado.tags[3] {
        Tag::AcCookie(k) => k.clone(),
        t => panic!("{t:?}"),
    };
    assert_eq!(cookie.len(), COOKIE_LEN);
    assert_eq!(
        pado.tags,
        vec![
            Tag::AcName(b"bng-1".to_vec()),
            Tag::ServiceName(b"internet".to_vec()),
            Tag::ServiceName(b"voip".to_vec()),
            Tag::AcCookie(cookie.clone()),
            Tag::HostUniq(1u32.to_be_bytes().to_vec()),
            Tag::RelaySessionId(b"relay-7".to_vec()),
        ]
    );
    assert_eq!(d.session_count(), 0, "a PADI creates no session");

    let t1 = t0 + Duration::from_secs(2);
    let out = c.padr(&mut d, t1, &cookie);
    assert_eq!(out.len(), 2, "{out:?}");
    let (_, dst, src, vlan, pads) = only_frame(&out);
    assert_eq!((dst, src, vlan), (c.mac, AC_MAC, V100));
    assert_eq!(pads.code, Code::Pads);
    assert_ne!(pads.session_id, 0);
    assert_eq!(
        pads.tags,
        vec![
            Tag::ServiceName(b"internet".to_vec()),
            Tag::HostUniq(1u32.to_be_bytes().to_vec()),
            Tag::RelaySessionId(b"relay-7".to_vec()),
        ]
    );
    let Output::SessionUp(s) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(
        *s,
        Session {
            port: P1,
            vlan: V100,
            mac: c.mac,
            session: pads.session_id,
            vr: VrId(7),
            service_name: b"internet".to_vec(),
            max_payload: 1492,
            host_uniq: Some(1u32.to_be_bytes().to_vec()),
            relay_session_id: Some(b"relay-7".to_vec()),
            since: t1,
            our_mac: AC_MAC,
        }
    );
    assert_eq!(d.session(P1, s.session), Some(s));
    assert_eq!(d.sessions().count(), 1);
    assert_eq!(d.interface_sessions(P1, V100), 1);
    let k = d.counters();
    assert_eq!(
        (k.rx_padi, k.tx_pado, k.rx_padr, k.tx_pads, k.sessions_up),
        (1, 1, 1, 1, 1)
    );
    // Every counter is listed by name, the ones that moved with their value.
    let f = k.fields();
    assert!(f.contains(&("sessions_up", 1)));
    assert!(f.contains(&("cookie_invalid", 0)));
}

#[test]
fn any_service_request_and_open_interfaces() {
    let (mut d, t0) = engine();
    // An empty Service-Name asks for any service: offered, and the PADO lists ours.
    let mut c = Client::new(1);
    c.service = vec![];
    let out = c.padi(&mut d, t0);
    let names: Vec<_> = only_frame(&out)
        .4
        .tags
        .into_iter()
        .filter(|t| t.kind() == kind::SERVICE_NAME)
        .collect();
    assert_eq!(
        names,
        vec![
            Tag::ServiceName(vec![]),
            Tag::ServiceName(b"internet".to_vec()),
            Tag::ServiceName(b"voip".to_vec())
        ]
    );
    assert!(c.connect(&mut d, t0).is_ok());
    // An interface that lists no names accepts whatever is asked.
    let mut open = cfg();
    open.service_names.clear();
    d.configure(t0, P1, V200, Some(open));
    let mut c = Client::new(2);
    c.vlan = V200;
    c.service = b"anything".to_vec();
    let s = c.connect(&mut d, t0).unwrap();
    assert_eq!(s.service_name, b"anything");
}

#[test]
fn service_name_refused() {
    let (mut d, t0) = engine();
    let mut c = Client::new(1);
    let cookie = c.cookie(&mut d, t0);
    c.service = b"video".to_vec();
    assert!(
        c.padi(&mut d, t0).is_empty(),
        "no PADO for a name we do not offer"
    );
    assert_eq!(d.counters().service_name_refused, 1);
    // A PADR for it (with a cookie that checks out) gets a PADS with Service-Name-Error.
    let out = c.padr(&mut d, t0, &cookie);
    let (_, _, _, _, pads) = only_frame(&out);
    assert_eq!((pads.code, pads.session_id), (Code::Pads, 0));
    assert_eq!(pads.tags[0], Tag::ServiceName(b"video".to_vec()));
    assert!(matches!(
        pads.first(kind::SERVICE_NAME_ERROR),
        Some(Tag::ServiceNameError(_))
    ));
    assert_eq!(
        pads.first(kind::HOST_UNIQ),
        Some(&Tag::HostUniq(1u32.to_be_bytes().to_vec()))
    );
    assert_eq!(
        (
            d.counters().service_name_refused,
            d.counters().tx_pads_errors
        ),
        (2, 1)
    );
    assert_eq!(d.session_count(), 0);
}

#[test]
fn rfc4638_max_payload() {
    let mut c4638 = cfg();
    c4638.max_payload = 1500;
    let (mut d, t0) = engine_with(Limits::default(), c4638);
    d.configure(t0, P1, V200, Some(cfg())); // cap 1492: no RFC 4638
    let cases = [
        // (vlan, client's tag, echoed, session's value)
        (V100, Some(1500), Some(1500), 1500),
        (V100, Some(9000), Some(1500), 1500),
        (V100, Some(1496), Some(1496), 1496),
        (V100, Some(1400), None, 1492),
        (V100, None, None, 1492),
        (V200, Some(1500), None, 1492),
    ];
    for (i, (vlan, asked, echoed, value)) in cases.into_iter().enumerate() {
        let mut c = Client::new(i as u32);
        c.vlan = vlan;
        c.max_payload = asked;
        let pado = only_frame(&c.padi(&mut d, t0)).4;
        let tag = |r: &DiscoveryRepr| match r.first(kind::PPP_MAX_PAYLOAD) {
            Some(Tag::PppMaxPayload(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(tag(&pado), echoed, "PADO, case {i}");
        let cookie = match pado.first(kind::AC_COOKIE) {
            Some(Tag::AcCookie(k)) => k.clone(),
            _ => unreachable!(),
        };
        let out = c.padr(&mut d, t0, &cookie);
        assert_eq!(tag(&only_frame(&out).4), echoed, "PADS, case {i}");
        let Some(Output::SessionUp(s)) = out.last() else {
            panic!()
        };
        assert_eq!(s.max_payload, value, "case {i}");
    }
    // A PPP-Max-Payload of the wrong length makes the PADI malformed.
    let c = Client::new(99);
    let mut t = c.tags();
    t.push(Tag::Unknown {
        kind: kind::PPP_MAX_PAYLOAD,
        data: vec![5, 0xdc, 0],
    });
    assert!(c
        .send(&mut d, t0, frame(BROADCAST, c.mac, V100, Code::Padi, 0, t))
        .is_empty());
    assert_eq!(d.counters().malformed, 1);
}

#[test]
fn forged_and_expired_cookies_are_refused_without_state() {
    let (mut d, t0) = engine();
    let c = Client::new(1);
    // 10,000 PADRs with forged cookies (and from as many MACs): nothing sent, nothing kept.
    for i in 0..10_000u32 {
        let mut f = Client::new(1000 + i);
        f.host_uniq = None;
        let mut cookie = [0u8; COOKIE_LEN];
        cookie[..4].copy_from_slice(&i.to_be_bytes());
        assert!(f.padr(&mut d, t0, &cookie).is_empty());
    }
    // Missing, empty, short and long cookies.
    let f = frame(AC_MAC, c.mac, V100, Code::Padr, 0, c.tags());
    assert!(c.send(&mut d, t0, f).is_empty());
    assert!(c.padr(&mut d, t0, &[]).is_empty());
    let good = c.cookie(&mut d, t0);
    assert!(c.padr(&mut d, t0, &good[..8]).is_empty());
    assert!(c
        .padr(&mut d, t0, &[good.clone(), vec![0]].concat())
        .is_empty());
    assert_eq!(d.counters().cookie_invalid, 10_004);
    assert_eq!(d.session_count(), 0);
    assert_eq!(
        d.tracked_macs(),
        1,
        "only the PADI's MAC is in the rate table"
    );
    // Another MAC, another VLAN, another port cannot use this client's cookie.
    let mut other = Client::new(2);
    assert!(other.padr(&mut d, t0, &good).is_empty());
    other = c.clone();
    other.vlan = V200;
    d.configure(t0, P1, V200, Some(cfg()));
    assert!(other.padr(&mut d, t0, &good).is_empty());
    other.vlan = V100;
    other.port = P2;
    d.configure(t0, P2, V100, Some(cfg()));
    assert!(other.padr(&mut d, t0, &good).is_empty());
    assert_eq!(d.counters().cookie_invalid, 10_007);
    // Expired: cookies live for their 60 s epoch and the next one.
    let old = t0 + Duration::from_secs(120);
    assert!(c.padr(&mut d, old, &good).is_empty());
    assert_eq!(d.counters().cookie_invalid, 10_008);
    let late = t0 + Duration::from_secs(119);
    assert!(c
        .padr(&mut d, late, &good)
        .iter()
        .any(|o| matches!(o, Output::SessionUp(_))));
}

#[test]
fn padr_retransmission_gets_the_same_pads() {
    let mut two = cfg();
    two.max_sessions_per_mac = 2;
    let (mut d, t0) = engine_with(Limits::default(), two);
    let c = Client::new(1);
    let cookie = c.cookie(&mut d, t0);
    let first = c.padr(&mut d, t0, &cookie);
    assert_eq!(first.len(), 2);
    let again = c.padr(&mut d, t0 + Duration::from_secs(5), &cookie);
    assert_eq!(again.len(), 1, "the PADS only, no second SessionUp");
    assert_eq!(again[0], first[0], "byte for byte");
    assert_eq!((d.session_count(), d.counters().padr_retransmits), (1, 1));
    // Another Host-Uniq from the same MAC is another session.
    let mut c2 = c.clone();
    c2.host_uniq = Some(b"other".to_vec());
    assert!(c2.padr(&mut d, t0, &cookie).len() == 2);
    assert_eq!(d.session_count(), 2);
    // Past the window the same PADR is a new request (here refused by the MAC limit).
    let late = c.padr(&mut d, t0 + Duration::from_secs(11), &cookie);
    let (_, _, _, _, pads) = only_frame(&late);
    assert_eq!(pads.session_id, 0);
    assert_eq!(d.counters().limit_mac, 1);
}

#[test]
fn limit_per_interface() {
    let mut c = cfg();
    c.max_sessions = 2;
    let (mut d, t0) = engine_with(Limits::default(), c);
    let late = Client::new(3);
    let cookie = late.cookie(&mut d, t0);
    Client::new(1).connect(&mut d, t0).unwrap();
    Client::new(2).connect(&mut d, t0).unwrap();
    // Full: PADIs get no PADO (the client may find another AC) ...
    assert!(Client::new(4).padi(&mut d, t0).is_empty());
    assert_eq!(d.counters().padi_full, 1);
    // ... and a PADR with an earlier cookie a PADS with AC-System-Error and session id 0.
    let out = late.padr(&mut d, t0, &cookie);
    let (_, _, _, _, pads) = only_frame(&out);
    assert_eq!(pads.session_id, 0);
    assert!(
        matches!(pads.first(kind::AC_SYSTEM_ERROR), Some(Tag::AcSystemError(t)) if t == b"session limit of the interface reached")
    );
    assert_eq!((d.counters().limit_interface, d.session_count()), (1, 2));
}

#[test]
fn limit_per_mac() {
    let (mut d, t0) = engine();
    let c = Client::new(1);
    c.connect(&mut d, t0).unwrap();
    let mut again = c.clone();
    again.host_uniq = Some(b"second".to_vec());
    let pads = again.connect(&mut d, t0).unwrap_err();
    assert!(
        matches!(pads.first(kind::AC_SYSTEM_ERROR), Some(Tag::AcSystemError(t)) if t == b"session limit per MAC reached")
    );
    assert_eq!(d.counters().limit_mac, 1);
    // The same MAC on another VLAN is another client.
    d.configure(t0, P1, V200, Some(cfg()));
    let mut v200 = c.clone();
    v200.vlan = V200;
    v200.connect(&mut d, t0).unwrap();
}

#[test]
fn limit_per_port_across_vlans() {
    let limits = Limits {
        max_sessions_per_port: 3,
        max_tracked_macs: 64,
    };
    let (mut d, t0) = engine_with(limits, cfg());
    d.configure(t0, P1, V200, Some(cfg()));
    d.configure(t0, P2, None, Some(cfg()));
    let mut last = Client::new(9);
    last.vlan = V200;
    let cookie = last.cookie(&mut d, t0);
    for (i, vlan) in [V100, V200, V100].into_iter().enumerate() {
        let mut c = Client::new(i as u32);
        c.vlan = vlan;
        c.connect(&mut d, t0).unwrap();
    }
    assert!(last.padi(&mut d, t0).is_empty());
    let out = last.padr(&mut d, t0, &cookie);
    let pads = only_frame(&out).4;
    assert_eq!(pads.session_id, 0);
    assert!(
        matches!(pads.first(kind::AC_SYSTEM_ERROR), Some(Tag::AcSystemError(t)) if t == b"session limit of the port reached")
    );
    assert_eq!(d.counters().limit_port, 1);
    // Another port has its own budget.
    let mut p2 = Client::new(20);
    p2.port = P2;
    p2.vlan = None;
    p2.connect(&mut d, t0).unwrap();
}

#[test]
fn padi_rate_limit_per_mac() {
    let mut c = cfg();
    c.padi_per_mac_per_sec = 2;
    let (mut d, t0) = engine_with(Limits::default(), c);
    let a = Client::new(1);
    let answered = |d: &mut Discovery, now| (0..5).filter(|_| !a.padi(d, now).is_empty()).count();
    assert_eq!(answered(&mut d, t0), 2, "burst of 2");
    assert_eq!(d.counters().rate_limited, 3);
    assert_eq!(
        answered(&mut d, t0 + Duration::from_millis(500)),
        1,
        "1 token per 0.5 s"
    );
    assert_eq!(
        answered(&mut d, t0 + Duration::from_secs(10)),
        2,
        "refilled to the burst only"
    );
    // Another MAC has its own bucket.
    assert_eq!(Client::new(2).padi(&mut d, t0).len(), 1);
    assert_eq!(d.counters().rate_limited, 3 + 4 + 3);
}

#[test]
fn padi_flood_from_a_million_macs_keeps_the_table_bounded() {
    let limits = Limits {
        max_sessions_per_port: 65534,
        max_tracked_macs: 4096,
    };
    let (mut d, t0) = engine_with(limits, cfg());
    // One PADI per random MAC (xorshift; locally administered unicast).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut f = frame(
        BROADCAST,
        mac(0),
        V100,
        Code::Padi,
        0,
        vec![Tag::ServiceName(vec![])],
    );
    for i in 0..1_000_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_be_bytes();
        f.0[6..12].copy_from_slice(&[b[0] & 0xfe | 0x02, b[1], b[2], b[3], b[4], b[5]]);
        let now = t0 + Duration::from_micros(u64::from(i));
        d.handle_frame(now, P1, AC_MAC, V100, &f.0, f.1);
        while d.poll_output().is_some() {}
        if i % 65_536 == 0 {
            assert!(d.tracked_macs() <= 4096);
        }
    }
    assert_eq!(d.tracked_macs(), 4096);
    let k = d.counters();
    assert_eq!(k.mac_evictions, 1_000_000 - 4096);
    assert_eq!(k.tx_pado + k.rate_limited, 1_000_000);
    assert_eq!(d.session_count(), 0);
}

#[test]
fn padt_from_the_client() {
    let (mut d, t0) = engine();
    d.configure(t0, P1, V200, Some(cfg()));
    let c = Client::new(1);
    let s = c.connect(&mut d, t0).unwrap();
    // PADTs that do not name this client's session are ignored.
    let mut stranger = Client::new(2);
    assert!(stranger.padt(&mut d, t0, s.session).is_empty());
    stranger = c.clone();
    stranger.vlan = V200;
    assert!(stranger.padt(&mut d, t0, s.session).is_empty());
    assert!(c.padt(&mut d, t0, s.session ^ 1).is_empty());
    assert!(c.padt(&mut d, t0, 0).is_empty());
    let to_other = frame(
        [0x02, 0, 0, 0, 0, 0xbb],
        c.mac,
        V100,
        Code::Padt,
        s.session,
        vec![],
    );
    assert!(c.send(&mut d, t0, to_other).is_empty());
    assert_eq!((d.counters().padt_unknown, d.session_count()), (5, 1));
    // The client's own PADT ends it: no PADT back, one SessionDown.
    let out = c.padt(&mut d, t0, s.session);
    assert_eq!(
        out,
        vec![Output::SessionDown {
            port: P1,
            session: s.session,
            vr: VrId(7),
            mac: c.mac,
            reason: DownReason::PadtFromPeer
        }]
    );
    assert_eq!(d.session_count(), 0);
    assert_eq!(d.interface_sessions(P1, V100), 0);
    assert!(c.padt(&mut d, t0, s.session).is_empty(), "gone");
    // The per-MAC budget is back: the client can connect again.
    c.connect(&mut d, t0).unwrap();
}

#[test]
fn close_sends_padt_with_the_reason() {
    let (mut d, t0) = engine();
    let mut c = Client::new(1);
    c.relay = Some(vec![9, 9]);
    let s = c.connect(&mut d, t0).unwrap();
    assert!(d.close(
        t0,
        P1,
        s.session,
        DownReason::Local(Some("idle timeout".into()))
    ));
    let out = drain(&mut d);
    let (port, dst, src, vlan, padt) = only_frame(&out);
    assert_eq!((port, dst, src, vlan), (P1, c.mac, AC_MAC, V100));
    assert_eq!((padt.code, padt.session_id), (Code::Padt, s.session));
    assert_eq!(
        padt.tags,
        vec![
            Tag::GenericError(b"idle timeout".to_vec()),
            Tag::HostUniq(1u32.to_be_bytes().to_vec()),
            Tag::RelaySessionId(vec![9, 9]),
        ]
    );
    assert!(matches!(
        &out[1],
        Output::SessionDown { reason: DownReason::Local(Some(t)), .. } if t == "idle timeout"
    ));
    assert!(!d.close(t0, P1, s.session, DownReason::Local(None)));
    assert_eq!((d.counters().tx_padt, d.counters().sessions_down), (1, 1));
}

#[test]
fn interface_removal_and_vr_change() {
    let (mut d, t0) = engine();
    d.configure(t0, P1, V200, Some(cfg()));
    let a = Client::new(1);
    let b = Client::new(2);
    let mut c = Client::new(3);
    c.vlan = V200;
    let sa = a.connect(&mut d, t0).unwrap();
    let sb = b.connect(&mut d, t0).unwrap();
    let sc = c.connect(&mut d, t0).unwrap();
    // Other settings change: sessions stay.
    let mut renamed = cfg();
    renamed.ac_name = "bng-2".into();
    d.configure(t0, P1, V100, Some(renamed.clone()));
    assert!(drain(&mut d).is_empty());
    // Another VR: the interface's sessions end.
    renamed.vr = VrId(8);
    d.configure(t0, P1, V200, Some(renamed));
    let out = drain(&mut d);
    assert_eq!(out.len(), 2);
    assert!(
        matches!(&out[1], Output::SessionDown { session, reason: DownReason::VrChanged, .. } if *session == sc.session)
    );
    // Removal: PADT + SessionDown for each of its sessions, the other VLAN untouched.
    d.configure(t0, P1, V100, None);
    let out = drain(&mut d);
    let mut down = Vec::new();
    for o in &out {
        match o {
            Output::Frame { frame, .. } => {
                let (dst, _, vlan, r) = parse(frame);
                assert_eq!((r.code, vlan), (Code::Padt, V100));
                assert_eq!(
                    r.tags[0],
                    Tag::GenericError(b"access interface removed".to_vec())
                );
                assert!(dst == a.mac || dst == b.mac);
            }
            Output::SessionDown {
                session, reason, ..
            } => {
                assert_eq!(*reason, DownReason::InterfaceRemoved);
                down.push(*session);
            }
            o => panic!("{o:?}"),
        }
    }
    down.sort();
    let mut want = vec![sa.session, sb.session];
    want.sort();
    assert_eq!(down, want);
    assert_eq!(d.session_count(), 0);
    assert!(a.padi(&mut d, t0).is_empty());
    assert_eq!(d.counters().no_interface, 1);
}

#[test]
fn session_ids_unique_per_port_across_vlans_and_not_reused_at_once() {
    let mut c = cfg();
    c.max_sessions = 5000;
    let (mut d, t0) = engine_with(Limits::default(), c.clone());
    d.configure(t0, P1, V200, Some(c.clone()));
    d.configure(t0, P2, V100, Some(c));
    let mut ids = HashSet::new();
    for i in 0..2000u32 {
        let mut cl = Client::new(i);
        cl.vlan = if i % 2 == 0 { V100 } else { V200 };
        let s = cl.connect(&mut d, t0).unwrap();
        assert!((1..=0xfffe).contains(&s.session));
        assert!(ids.insert(s.session), "id {} twice on port 1", s.session);
    }
    // Port 2 allocates independently (ids may coincide with port 1's; not checked).
    let mut p2 = Client::new(1);
    p2.port = P2;
    p2.connect(&mut d, t0).unwrap();
    // Freeing an id does not hand it out again next.
    let victim = *ids.iter().next().unwrap();
    assert!(d.close(t0, P1, victim, DownReason::Local(None)));
    assert_eq!(drain(&mut d).len(), 2, "PADT + SessionDown");
    let s = Client::new(5000).connect(&mut d, t0).unwrap();
    assert_ne!(s.session, victim);
    assert!(!ids.contains(&s.session));
}

#[test]
fn malformed_and_unexpected_frames_are_counted() {
    let (mut d, t0) = engine();
    let c = Client::new(1);
    let send = |d: &mut Discovery, f: &[u8], l3: usize| {
        d.handle_frame(t0, P1, AC_MAC, V100, f, l3);
        assert!(d.poll_output().is_none());
    };
    let (padi, l3) = frame(BROADCAST, c.mac, V100, Code::Padi, 0, c.tags());
    // A tag length past the payload (Service-Name's length 0x00ff).
    let mut bad = padi.clone();
    bad[l3 + 6 + 2..l3 + 6 + 4].copy_from_slice(&0x00ffu16.to_be_bytes());
    send(&mut d, &bad, l3);
    // A tag header cut short: LENGTH ends 2 bytes into the last tag.
    let mut bad = padi.clone();
    let len = u16::from_be_bytes([bad[l3 + 4], bad[l3 + 5]]) + 2;
    bad[l3 + 4..l3 + 6].copy_from_slice(&len.to_be_bytes());
    bad.extend_from_slice(&[0x01, 0x03]);
    send(&mut d, &bad, l3);
    // LENGTH past the frame; version 2; offsets out of range; the wrong EtherType.
    let mut bad = padi.clone();
    bad[l3 + 4..l3 + 6].copy_from_slice(&0xffffu16.to_be_bytes());
    send(&mut d, &bad, l3);
    let mut bad = padi.clone();
    bad[l3] = 0x21;
    send(&mut d, &bad, l3);
    send(&mut d, &padi, padi.len() + 1);
    send(&mut d, &padi, 4);
    send(&mut d, &padi[..10], 18);
    send(&mut d, &padi, l3 - 4);
    assert_eq!(d.counters().malformed, 8);
    // Codes a client must not send.
    for code in [
        Code::Pado,
        Code::Pads,
        Code::SessionData,
        Code::Unknown(0x42),
    ] {
        let (f, l3) = frame(AC_MAC, c.mac, V100, code, 0, c.tags());
        send(&mut d, &f, l3);
    }
    assert_eq!(d.counters().unexpected_code, 4);
    // PADI rules: broadcast, session id 0, exactly one Service-Name, unicast source.
    let (f, l3) = frame(AC_MAC, c.mac, V100, Code::Padi, 0, c.tags());
    send(&mut d, &f, l3);
    let (f, l3) = frame(BROADCAST, c.mac, V100, Code::Padi, 5, c.tags());
    send(&mut d, &f, l3);
    let two = vec![Tag::ServiceName(vec![]), Tag::ServiceName(b"voip".to_vec())];
    let (f, l3) = frame(BROADCAST, c.mac, V100, Code::Padi, 0, two);
    send(&mut d, &f, l3);
    let (f, l3) = frame(BROADCAST, c.mac, V100, Code::Padi, 0, vec![]);
    send(&mut d, &f, l3);
    let (f, l3) = frame(
        BROADCAST,
        [0x03, 0, 0, 0, 0, 1],
        V100,
        Code::Padi,
        0,
        c.tags(),
    );
    send(&mut d, &f, l3);
    let k = *d.counters();
    assert_eq!(
        (
            k.bad_destination,
            k.bad_session_id,
            k.bad_service_name_tags,
            k.bad_source_mac
        ),
        (1, 1, 2, 1)
    );
    // PADR rules: to our MAC, session id 0.
    let cookie = c.cookie(&mut d, t0);
    let mut t = c.tags();
    t.push(Tag::AcCookie(cookie));
    let (f, l3) = frame(BROADCAST, c.mac, V100, Code::Padr, 0, t.clone());
    send(&mut d, &f, l3);
    let (f, l3) = frame(AC_MAC, c.mac, V100, Code::Padr, 9, t);
    send(&mut d, &f, l3);
    let k = *d.counters();
    assert_eq!((k.bad_destination, k.bad_session_id), (2, 2));
    // A Host-Uniq too long to echo within a 1500-byte frame: no reply.
    let mut big = c.clone();
    big.mac = mac(77);
    big.host_uniq = Some(vec![0; 1480]);
    assert!(big.padi(&mut d, t0).is_empty());
    assert_eq!(d.counters().reply_too_long, 1);
    assert_eq!(d.session_count(), 0);
}

#[test]
fn random_frames_keep_the_invariants() {
    // Mutated copies of valid PADI/PADR/PADT frames from a few clients: never a panic,
    // never more sessions than the limits, ids unique per port.
    let limits = Limits {
        max_sessions_per_port: 20,
        max_tracked_macs: 16,
    };
    let mut c = cfg();
    c.max_sessions = 12;
    c.max_sessions_per_mac = 3;
    let (mut d, t0) = engine_with(limits, c.clone());
    d.configure(t0, P1, V200, Some(c));
    let mut x = 1u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000u64 {
        let now = t0 + Duration::from_millis(i * 7);
        let mut cl = Client::new((rnd() % 8) as u32);
        cl.vlan = if rnd() % 2 == 0 { V100 } else { V200 };
        cl.host_uniq = Some(vec![(rnd() % 3) as u8]);
        let cookie = cl.cookie_or_empty(&mut d, now);
        let mut t = cl.tags();
        t.push(Tag::AcCookie(cookie));
        let (mut f, l3) = match rnd() % 3 {
            0 => frame(AC_MAC, cl.mac, cl.vlan, Code::Padr, 0, t),
            1 => frame(
                AC_MAC,
                cl.mac,
                cl.vlan,
                Code::Padt,
                (rnd() % 64) as u16,
                vec![],
            ),
            _ => frame(BROADCAST, cl.mac, cl.vlan, Code::Padi, 0, t),
        };
        if rnd() % 4 == 0 {
            let at = (rnd() as usize) % f.len();
            f[at] ^= 1 << (rnd() % 8);
        }
        d.handle_frame(now, P1, AC_MAC, cl.vlan, &f, l3);
        drain(&mut d);
        assert!(d.session_count() <= 20);
        assert!(d.interface_sessions(P1, V100) <= 12 && d.interface_sessions(P1, V200) <= 12);
        assert!(d.tracked_macs() <= 16);
    }
    let mut ids = HashSet::new();
    for s in d.sessions() {
        assert!(ids.insert((s.port, s.session)));
    }
    assert!(
        d.counters().sessions_up > 0,
        "the mutations left valid handshakes"
    );
}

impl Client {
    /// The PADO's cookie, or nothing when the PADI is not answered (rate, limits).
    fn cookie_or_empty(&self, d: &mut Discovery, now: Instant) -> Vec<u8> {
        self.padi(d, now)
            .iter()
            .find_map(|o| match o {
                Output::Frame { frame, .. } => match parse(frame).3.first(kind::AC_COOKIE) {
                    Some(Tag::AcCookie(c)) => Some(c.clone()),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_default()
    }
}
