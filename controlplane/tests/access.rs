//! The access manager (PPPoE access, LAC relay by realm) on a virtual clock: a PPPoE client
//! built from the discovery wire module and a PPP client engine dials in; the proxy LCP and
//! proxy authentication the manager hands to the L2TP call are fed to an LNS-side PPP
//! engine (`server_with_proxy`, as our LNS does with an ICCN), which must accept them and
//! answer the subscriber, whose client engine must then be authenticated — the chain a
//! relayed subscriber goes through, without the wires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::access::config::{AccessConfig, RealmRoute};
use controlplane::access::manager::{AccessManager, L2tpLeg, LinkKey, Output, Stage};
use controlplane::ppp::auth::{chap_md5_response, AuthMethod as PppAuth, AuthResult, Credentials};
use controlplane::ppp::engine::{
    Config as PppConfig, Engine, Event as PppEvent, ProxyAuth, ProxyLcp, Role,
};
use controlplane::pppoe::discovery::Limits;
use controlplane::pppoe::wire::{DiscoveryRepr, EthHeader, Tag};
use controlplane::subscriber::config::AuthMethod;
use vr::{PortId, VrId};
use wire::pppoe::{Code, PppoeHeader};

const ACCESS: VrId = VrId(1);
const ISP_A: VrId = VrId(2);
const PORT: PortId = PortId(0);
const VLAN: Option<u16> = Some(100);
const AC_MAC: [u8; 6] = [2, 0, 0, 0x23, 0, 1];

fn manager(now: Instant, auth: Vec<AuthMethod>) -> AccessManager {
    let mut m = AccessManager::new([7; 32], Limits::default(), 1);
    let mut c = AccessConfig::new(ACCESS);
    c.auth = auth;
    c.realms = vec![RealmRoute {
        realm: "isp-a.example".into(),
        vr: ISP_A,
        lns: None,
    }];
    m.configure(now, vec![(c, vec![(PORT, VLAN)])]);
    assert!(m.drain().next().is_none());
    m
}

fn client(user: &str, auth: PppAuth) -> PppConfig {
    PppConfig {
        username: user.into(),
        password: "secret".into(),
        auth: vec![auth],
        ..PppConfig::default()
    }
}

/// Discovery replies to `mac` among `outs`, parsed.
fn discovery_replies(outs: &[Output], mac: [u8; 6]) -> Vec<DiscoveryRepr> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Frame { frame, .. } if frame[0..6] == mac && frame[16..18] == [0x88, 0x63] => {
                let h = PppoeHeader::new_checked(&frame[18..]).unwrap();
                Some(DiscoveryRepr::parse(&h).unwrap())
            }
            _ => None,
        })
        .collect()
}

/// PADI → PADO → PADR → PADS for `mac`; returns the session id.
fn discover(m: &mut AccessManager, now: Instant, mac: [u8; 6]) -> (u16, Vec<Output>) {
    let eth = |dst| EthHeader {
        dst,
        src: mac,
        vlan: VLAN,
    };
    let padi = DiscoveryRepr {
        code: Code::Padi,
        session_id: 0,
        tags: vec![Tag::ServiceName(vec![]), Tag::HostUniq(b"hu".to_vec())],
    }
    .to_frame(&eth([0xff; 6]))
    .unwrap();
    m.discovery_frame(now, PORT, AC_MAC, VLAN, &padi, 18);
    let outs: Vec<Output> = m.drain().collect();
    let pado = discovery_replies(&outs, mac);
    assert_eq!(pado.len(), 1, "{outs:?}");
    assert_eq!(pado[0].code, Code::Pado);
    let cookie = pado[0]
        .tags
        .iter()
        .find(|t| matches!(t, Tag::AcCookie(_)))
        .cloned()
        .expect("AC-Cookie");
    let padr = DiscoveryRepr {
        code: Code::Padr,
        session_id: 0,
        tags: vec![
            Tag::ServiceName(vec![]),
            Tag::HostUniq(b"hu".to_vec()),
            cookie,
        ],
    }
    .to_frame(&eth(AC_MAC))
    .unwrap();
    m.discovery_frame(now, PORT, AC_MAC, VLAN, &padr, 18);
    let outs: Vec<Output> = m.drain().collect();
    let pads = discovery_replies(&outs, mac);
    assert_eq!(pads.len(), 1);
    assert_eq!(pads[0].code, Code::Pads);
    let sid = pads[0].session_id;
    assert_ne!(sid, 0);
    assert!(outs.iter().any(|o| matches!(o, Output::Bind { link, vr, mac: m2, vlan }
        if *link == LinkKey::Pppoe { port: PORT, session: sid } && *vr == ACCESS && *m2 == mac && *vlan == VLAN)));
    (sid, outs)
}

/// Feeds PPP session frames for `mac` among `outs` to the client; returns the other outputs.
fn to_client(c: &mut Engine, now: Instant, mac: [u8; 6], sid: u16, outs: Vec<Output>) -> Vec<Output> {
    let mut rest = Vec::new();
    for o in outs {
        match &o {
            Output::Frame { frame, .. }
                if frame[0..6] == mac && frame[16..18] == [0x88, 0x64] =>
            {
                let h = PppoeHeader::new_checked(&frame[18..]).unwrap();
                assert_eq!(h.session_id(), sid);
                let mut f = vec![0xff, 0x03];
                f.extend_from_slice(h.payload());
                c.handle_frame(now, &f);
            }
            _ => rest.push(o),
        }
    }
    rest
}

/// Shuttles frames between the client and the manager until neither has anything to say;
/// returns the manager's other outputs.
fn converse(m: &mut AccessManager, c: &mut Engine, now: Instant, mac: [u8; 6], sid: u16, first: Vec<Output>) -> Vec<Output> {
    let mut other = to_client(c, now, mac, sid, first);
    for _ in 0..50 {
        let mut sent = false;
        while let Some(f) = c.poll_transmit() {
            sent = true;
            m.ppp_frame(now, LinkKey::Pppoe { port: PORT, session: sid }, &f[2..]);
        }
        let outs: Vec<Output> = m.drain().collect();
        let had = outs
            .iter()
            .any(|o| matches!(o, Output::Frame { frame, .. } if frame[0..6] == mac));
        other.extend(to_client(c, now, mac, sid, outs));
        if !sent && !had {
            break;
        }
    }
    other
}

#[test]
fn chap_subscriber_is_relayed_with_proxy_lcp_and_authentication_the_lns_accepts() {
    let now = Instant::now();
    let mut m = manager(now, vec![AuthMethod::Chap, AuthMethod::Pap]);
    let mac = [2, 0, 0, 0, 0, 0xaa];
    let (sid, outs) = discover(&mut m, now, mac);
    let link = LinkKey::Pppoe { port: PORT, session: sid };
    let mut c = Engine::new(Arc::new(client("alice@isp-a.example", PppAuth::ChapMd5)), Role::Client, now, 9);
    c.open(now);
    let other = converse(&mut m, &mut c, now, mac, sid, outs);
    let place = other
        .iter()
        .find_map(|o| match o {
            Output::Place {
                link: l,
                vr,
                lns,
                proxy,
                calling_number,
            } => {
                assert_eq!(*l, link);
                assert_eq!(*vr, ISP_A);
                assert_eq!(*lns, None);
                assert_eq!(
                    String::from_utf8_lossy(calling_number),
                    "02:00:00:00:00:aa port 0 vlan 100"
                );
                Some(proxy.clone())
            }
            _ => None,
        })
        .expect("a call placed");
    assert_eq!(place.authen_type, Some(2), "CHAP");
    assert_eq!(place.authen_name, b"alice@isp-a.example");
    let id = place.authen_id.expect("CHAP id");
    assert_eq!(
        place.authen_response,
        chap_md5_response(id, b"secret", &place.authen_challenge).to_vec()
    );
    assert!(matches!(m.link(link).unwrap().stage, Stage::Placing { vr, call: None } if vr == ISP_A));
    // The client has not been answered yet: the LNS answers.
    assert!(!c.is_finished());

    // The LNS takes the proxied LCP as negotiated and checks the proxied CHAP response.
    let lcp = ProxyLcp {
        initial_received: place.initial_received_confreq.clone().unwrap(),
        last_sent_confreq: place.last_sent_confreq.clone().unwrap(),
        last_received_confreq: place.last_received_confreq.clone().unwrap(),
    };
    let auth = ProxyAuth {
        auth_type: 2,
        name: place.authen_name.clone(),
        challenge: place.authen_challenge.clone(),
        id,
        response: place.authen_response.clone(),
    };
    let lns_cfg = Arc::new(PppConfig {
        auth: vec![PppAuth::ChapMd5, PppAuth::Pap],
        mru: 1492,
        ..PppConfig::default()
    });
    let mut lns = Engine::server_with_proxy(lns_cfg, now, 3, &lcp, Some(&auth));
    assert_eq!(lns.counters().proxy_lcp_accepted, 1, "proxy LCP accepted as negotiated");
    let mut authed = false;
    while let Some(ev) = lns.poll_event() {
        if let PppEvent::Authenticate(req) = ev {
            assert_eq!(req.username, b"alice@isp-a.example");
            let Credentials::ChapMd5 { id: rid, challenge, response } = req.credentials else {
                panic!("{:?}", req.credentials)
            };
            assert_eq!(response, chap_md5_response(rid, b"secret", &challenge));
            authed = true;
        }
    }
    assert!(authed);
    lns.auth_result(
        now,
        AuthResult::Accept {
            mschap2_success: None,
            message: "welcome".into(),
        },
    );
    // Relayed now: the LNS's frames reach the client as they are (the workers' relay).
    m.call_placed(link, 5, 6);
    assert!(m.call_up(link));
    assert!(matches!(m.link(link).unwrap().stage, Stage::Relaying { vr, tunnel: 5, session: 6 } if vr == ISP_A));
    let mut ok = false;
    while let Some(f) = lns.poll_transmit() {
        c.handle_frame(now, &f);
    }
    while let Some(ev) = c.poll_event() {
        if ev == (PppEvent::AuthDone { ok: true }) {
            ok = true;
        }
    }
    assert!(ok, "the subscriber accepted the LNS's CHAP Success");
    assert_eq!(m.stats.calls_placed, 1);
    assert_eq!(m.stats.calls_up, 1);

    // The subscriber hangs up (PADT): the call is cleared, the session unbound.
    let padt = DiscoveryRepr {
        code: Code::Padt,
        session_id: sid,
        tags: vec![],
    }
    .to_frame(&EthHeader {
        dst: AC_MAC,
        src: mac,
        vlan: VLAN,
    })
    .unwrap();
    m.discovery_frame(now, PORT, AC_MAC, VLAN, &padt, 18);
    let outs: Vec<Output> = m.drain().collect();
    assert!(outs.contains(&Output::Hangup {
        vr: ISP_A,
        tunnel: 5,
        session: 6
    }));
    assert!(outs.contains(&Output::Unbind { link }));
    assert!(discovery_replies(&outs, mac).is_empty(), "no PADT back to a PADT");
    assert_eq!(m.count(), 0);
    assert_eq!(m.stats.ended_by_subscriber, 1);
}

#[test]
fn pap_subscriber_proxy_carries_the_password() {
    let now = Instant::now();
    let mut m = manager(now, vec![AuthMethod::Pap]);
    let mac = [2, 0, 0, 0, 0, 0xbb];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(Arc::new(client("bob@ISP-A.example", PppAuth::Pap)), Role::Client, now, 4);
    c.open(now);
    let other = converse(&mut m, &mut c, now, mac, sid, outs);
    let proxy = other
        .iter()
        .find_map(|o| match o {
            Output::Place { proxy, vr, .. } if *vr == ISP_A => Some(proxy.clone()),
            _ => None,
        })
        .expect("realm matched case-insensitively");
    assert_eq!(proxy.authen_type, Some(3));
    assert_eq!(proxy.authen_name, b"bob@ISP-A.example");
    assert_eq!(proxy.authen_response, b"secret");
    assert_eq!(proxy.authen_id, None);
}

#[test]
fn unknown_realm_is_refused_with_a_reason_and_a_padt() {
    let now = Instant::now();
    let mut m = manager(now, vec![AuthMethod::Chap]);
    let mac = [2, 0, 0, 0, 0, 0xcc];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(Arc::new(client("carol@nowhere.example", PppAuth::ChapMd5)), Role::Client, now, 5);
    c.open(now);
    let mut other = converse(&mut m, &mut c, now, mac, sid, outs);
    assert!(!other.iter().any(|o| matches!(o, Output::Place { .. })));
    assert_eq!(m.stats.realm_unknown, 1);
    let mut failed = false;
    while let Some(ev) = c.poll_event() {
        failed |= ev == (PppEvent::AuthDone { ok: false });
    }
    assert!(failed, "CHAP Failure reached the subscriber");
    // LCP terminates; then the session ends with a PADT.
    let mut t = now;
    for _ in 0..20 {
        t += Duration::from_secs(3);
        c.handle_timeout(t);
        m.handle_timer(t, LinkKey::Pppoe { port: PORT, session: sid });
        let outs: Vec<Output> = m.drain().collect();
        other.extend(converse(&mut m, &mut c, t, mac, sid, outs));
        if m.count() == 0 {
            break;
        }
    }
    assert_eq!(m.count(), 0);
    assert!(other.contains(&Output::Unbind { link: LinkKey::Pppoe { port: PORT, session: sid } }));
    assert!(other.iter().any(|o| matches!(o, Output::Frame { frame, .. }
        if frame[0..6] == mac && frame[16..18] == [0x88, 0x63] && frame[19] == 0xa7)), "PADT sent");
    assert!(!other.iter().any(|o| matches!(o, Output::Hangup { .. })));
}

#[test]
fn the_lns_ending_the_call_sends_a_padt_and_a_call_that_never_comes_up_times_out() {
    let now = Instant::now();
    let mut m = manager(now, vec![AuthMethod::Chap]);
    // Relayed, then the LNS clears the call.
    let mac = [2, 0, 0, 0, 0, 0xdd];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(Arc::new(client("dave@isp-a.example", PppAuth::ChapMd5)), Role::Client, now, 6);
    c.open(now);
    converse(&mut m, &mut c, now, mac, sid, outs);
    m.call_placed(LinkKey::Pppoe { port: PORT, session: sid }, 7, 8);
    assert!(m.call_up(LinkKey::Pppoe { port: PORT, session: sid }));
    m.call_down(now, LinkKey::Pppoe { port: PORT, session: sid }, "the ISP's LNS ended the call");
    let outs: Vec<Output> = m.drain().collect();
    assert!(outs.contains(&Output::Unbind { link: LinkKey::Pppoe { port: PORT, session: sid } }));
    assert!(!outs.iter().any(|o| matches!(o, Output::Hangup { .. })), "the call is gone already");
    let padt = discovery_replies(&outs, mac);
    assert_eq!(padt.len(), 1);
    assert_eq!(padt[0].code, Code::Padt);
    assert_eq!(m.stats.ended_by_lns, 1);

    // A call that never comes up: refused to the subscriber at the deadline, CDN'd.
    let mac = [2, 0, 0, 0, 0, 0xee];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(Arc::new(client("erin@isp-a.example", PppAuth::ChapMd5)), Role::Client, now, 7);
    c.open(now);
    converse(&mut m, &mut c, now, mac, sid, outs);
    m.call_placed(LinkKey::Pppoe { port: PORT, session: sid }, 7, 9);
    let t = now + controlplane::access::manager::PLACE_TIMEOUT;
    m.handle_timer(t, LinkKey::Pppoe { port: PORT, session: sid });
    let outs: Vec<Output> = m.drain().collect();
    assert!(outs.contains(&Output::Hangup {
        vr: ISP_A,
        tunnel: 7,
        session: 9
    }));
    assert_eq!(m.stats.call_timeouts, 1);
    converse(&mut m, &mut c, t, mac, sid, outs);
    let mut failed = false;
    while let Some(ev) = c.poll_event() {
        failed |= ev == (PppEvent::AuthDone { ok: false });
    }
    assert!(failed);
}

fn switching(now: Instant) -> AccessManager {
    let mut m = AccessManager::new([7; 32], Limits::default(), 1);
    let mut c = AccessConfig::new(ACCESS);
    c.realms = vec![RealmRoute {
        realm: "isp-a.example".into(),
        vr: ISP_A,
        lns: Some("10.231.0.2".parse().unwrap()),
    }];
    // No PPPoE interfaces: the VR only switches the sessions of its LNS.
    m.configure(now, vec![(c, vec![])]);
    m
}

fn leg(proxy: Option<Box<controlplane::l2tp::engine::ProxyInfo>>) -> L2tpLeg {
    L2tpLeg {
        peer: "10.9.0.1:1701".parse().unwrap(),
        local: "10.9.0.2".parse().unwrap(),
        peer_tunnel: 40,
        peer_session: 41,
        calling_number: b"wholesale-port-7".to_vec(),
        proxy,
    }
}

#[test]
fn switched_session_with_proxy_authentication_is_placed_at_once_unchanged() {
    let now = Instant::now();
    let mut m = switching(now);
    let proxy = Box::new(controlplane::l2tp::engine::ProxyInfo {
        initial_received_confreq: Some(vec![5, 6, 1, 2, 3, 4]),
        last_sent_confreq: Some(vec![3, 5, 0xc2, 0x23, 5]),
        last_received_confreq: Some(vec![5, 6, 1, 2, 3, 4]),
        authen_type: Some(2),
        authen_name: b"alice@isp-a.example".to_vec(),
        authen_challenge: vec![9; 16],
        authen_id: Some(1),
        authen_response: vec![7; 16],
    });
    m.l2tp_session_up(now, ACCESS, 3, 4, leg(Some(proxy.clone())));
    let outs: Vec<Output> = m.drain().collect();
    let link = LinkKey::L2tp {
        vr: ACCESS,
        tunnel: 3,
        session: 4,
    };
    assert!(outs.contains(&Output::Place {
        link,
        vr: ISP_A,
        lns: Some("10.231.0.2".parse().unwrap()),
        proxy,
        calling_number: b"wholesale-port-7".to_vec(),
    }));
    assert_eq!(m.stats.switched_by_proxy, 1);
    m.call_placed(link, 8, 9);
    assert!(m.call_up(link));
    // The ISP's LNS clears the call: the wholesale LAC's session is cleared too.
    m.call_down(now, link, "gone");
    let outs: Vec<Output> = m.drain().collect();
    assert!(outs.contains(&Output::Hangup {
        vr: ACCESS,
        tunnel: 3,
        session: 4
    }));
    assert_eq!(m.count(), 0);
    // Unknown realm by proxy: the session is cleared at once.
    let mut p2 = controlplane::l2tp::engine::ProxyInfo {
        authen_name: b"carol@elsewhere".to_vec(),
        ..(*outs_proxy()).clone()
    };
    p2.authen_type = Some(3);
    m.l2tp_session_up(now, ACCESS, 3, 5, leg(Some(Box::new(p2))));
    let outs: Vec<Output> = m.drain().collect();
    assert_eq!(
        outs,
        vec![Output::Hangup {
            vr: ACCESS,
            tunnel: 3,
            session: 5
        }]
    );
    assert_eq!(m.stats.realm_unknown, 1);
}

fn outs_proxy() -> Box<controlplane::l2tp::engine::ProxyInfo> {
    Box::new(controlplane::l2tp::engine::ProxyInfo {
        last_sent_confreq: Some(vec![3, 4, 0xc0, 0x23]),
        last_received_confreq: Some(vec![]),
        ..Default::default()
    })
}

#[test]
fn switched_session_without_proxy_runs_ppp_here_over_the_l2tp_session() {
    let now = Instant::now();
    let mut m = switching(now);
    m.l2tp_session_up(now, ACCESS, 3, 4, leg(None));
    let link = LinkKey::L2tp {
        vr: ACCESS,
        tunnel: 3,
        session: 4,
    };
    let mut c = Engine::new(Arc::new(client("alice@isp-a.example", PppAuth::ChapMd5)), Role::Client, now, 11);
    c.open(now);
    let mut placed = None;
    for _ in 0..50 {
        let outs: Vec<Output> = m.drain().collect();
        let mut moved = false;
        for o in outs {
            match o {
                Output::Packet { vr, ip } => {
                    assert_eq!(vr, ACCESS);
                    // IPv4 (20) / UDP (8) / L2TP data header to the LAC's ids / PPP.
                    let l2tp = &ip[28..];
                    let h = wire::l2tp::L2tpPacket::new_checked(l2tp).unwrap();
                    assert_eq!((h.tunnel_id(), h.session_id()), (40, 41));
                    c.handle_frame(now, &l2tp[h.header_len()..]);
                    moved = true;
                }
                Output::Place { proxy, .. } => placed = Some(proxy),
                _ => {}
            }
        }
        while let Some(f) = c.poll_transmit() {
            m.ppp_frame(now, link, &f);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let proxy = placed.expect("placed after CHAP");
    assert_eq!(proxy.authen_type, Some(2));
    assert_eq!(proxy.authen_name, b"alice@isp-a.example");
    assert_eq!(m.stats.switched_by_proxy, 0);
}
