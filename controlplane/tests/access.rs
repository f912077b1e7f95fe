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
fn to_client(
    c: &mut Engine,
    now: Instant,
    mac: [u8; 6],
    sid: u16,
    outs: Vec<Output>,
) -> Vec<Output> {
    let mut rest = Vec::new();
    for o in outs {
        match &o {
            Output::Frame { frame, .. } if frame[0..6] == mac && frame[16..18] == [0x88, 0x64] => {
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
fn converse(
    m: &mut AccessManager,
    c: &mut Engine,
    now: Instant,
    mac: [u8; 6],
    sid: u16,
    first: Vec<Output>,
) -> Vec<Output> {
    let mut other = to_client(c, now, mac, sid, first);
    for _ in 0..50 {
        let mut sent = false;
        while let Some(f) = c.poll_transmit() {
            sent = true;
            m.ppp_frame(
                now,
                LinkKey::Pppoe {
                    port: PORT,
                    session: sid,
                },
                &f[2..],
            );
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
    let link = LinkKey::Pppoe {
        port: PORT,
        session: sid,
    };
    let mut c = Engine::new(
        Arc::new(client("alice@isp-a.example", PppAuth::ChapMd5)),
        Role::Client,
        now,
        9,
    );
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
    assert!(
        matches!(m.link(link).unwrap().stage, Stage::Placing { vr, call: None } if vr == ISP_A)
    );
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
    assert_eq!(
        lns.counters().proxy_lcp_accepted,
        1,
        "proxy LCP accepted as negotiated"
    );
    let mut authed = false;
    while let Some(ev) = lns.poll_event() {
        if let PppEvent::Authenticate(req) = ev {
            assert_eq!(req.username, b"alice@isp-a.example");
            let Credentials::ChapMd5 {
                id: rid,
                challenge,
                response,
            } = req.credentials
            else {
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
    assert!(
        matches!(m.link(link).unwrap().stage, Stage::Relaying { vr, tunnel: 5, session: 6 } if vr == ISP_A)
    );
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
    assert!(
        discovery_replies(&outs, mac).is_empty(),
        "no PADT back to a PADT"
    );
    assert_eq!(m.count(), 0);
    assert_eq!(m.stats.ended_by_subscriber, 1);
}

#[test]
fn pap_subscriber_proxy_carries_the_password() {
    let now = Instant::now();
    let mut m = manager(now, vec![AuthMethod::Pap]);
    let mac = [2, 0, 0, 0, 0, 0xbb];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(
        Arc::new(client("bob@ISP-A.example", PppAuth::Pap)),
        Role::Client,
        now,
        4,
    );
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
    let mut c = Engine::new(
        Arc::new(client("carol@nowhere.example", PppAuth::ChapMd5)),
        Role::Client,
        now,
        5,
    );
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
        m.handle_timer(
            t,
            LinkKey::Pppoe {
                port: PORT,
                session: sid,
            },
        );
        let outs: Vec<Output> = m.drain().collect();
        other.extend(converse(&mut m, &mut c, t, mac, sid, outs));
        if m.count() == 0 {
            break;
        }
    }
    assert_eq!(m.count(), 0);
    assert!(other.contains(&Output::Unbind {
        link: LinkKey::Pppoe {
            port: PORT,
            session: sid
        }
    }));
    assert!(
        other.iter().any(|o| matches!(o, Output::Frame { frame, .. }
        if frame[0..6] == mac && frame[16..18] == [0x88, 0x63] && frame[19] == 0xa7)),
        "PADT sent"
    );
    assert!(!other.iter().any(|o| matches!(o, Output::Hangup { .. })));
}

#[test]
fn the_lns_ending_the_call_sends_a_padt_and_a_call_that_never_comes_up_times_out() {
    let now = Instant::now();
    let mut m = manager(now, vec![AuthMethod::Chap]);
    // Relayed, then the LNS clears the call.
    let mac = [2, 0, 0, 0, 0, 0xdd];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(
        Arc::new(client("dave@isp-a.example", PppAuth::ChapMd5)),
        Role::Client,
        now,
        6,
    );
    c.open(now);
    converse(&mut m, &mut c, now, mac, sid, outs);
    m.call_placed(
        LinkKey::Pppoe {
            port: PORT,
            session: sid,
        },
        7,
        8,
    );
    assert!(m.call_up(LinkKey::Pppoe {
        port: PORT,
        session: sid
    }));
    m.call_down(
        now,
        LinkKey::Pppoe {
            port: PORT,
            session: sid,
        },
        "the ISP's LNS ended the call",
    );
    let outs: Vec<Output> = m.drain().collect();
    assert!(outs.contains(&Output::Unbind {
        link: LinkKey::Pppoe {
            port: PORT,
            session: sid
        }
    }));
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Hangup { .. })),
        "the call is gone already"
    );
    let padt = discovery_replies(&outs, mac);
    assert_eq!(padt.len(), 1);
    assert_eq!(padt[0].code, Code::Padt);
    assert_eq!(m.stats.ended_by_lns, 1);

    // A call that never comes up: refused to the subscriber at the deadline, CDN'd.
    let mac = [2, 0, 0, 0, 0, 0xee];
    let (sid, outs) = discover(&mut m, now, mac);
    let mut c = Engine::new(
        Arc::new(client("erin@isp-a.example", PppAuth::ChapMd5)),
        Role::Client,
        now,
        7,
    );
    c.open(now);
    converse(&mut m, &mut c, now, mac, sid, outs);
    m.call_placed(
        LinkKey::Pppoe {
            port: PORT,
            session: sid,
        },
        7,
        9,
    );
    let t = now + controlplane::access::manager::PLACE_TIMEOUT;
    m.handle_timer(
        t,
        LinkKey::Pppoe {
            port: PORT,
            session: sid,
        },
    );
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
    let mut c = Engine::new(
        Arc::new(client("alice@isp-a.example", PppAuth::ChapMd5)),
        Role::Client,
        now,
        11,
    );
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

// --- relay.radius: RADIUS authorises relayed subscribers and may choose their tunnels ---

mod radius_relay {
    use super::*;
    use controlplane::access::config::{LacTarget, RelayRadius};
    use controlplane::access::manager::PLACE_TIMEOUT;
    use controlplane::radius::wire::crypto::{sign, unhide_password, Signing};
    use controlplane::radius::wire::tunnel::{
        medium_type, tunnel_type, TaggedInt, TaggedString, TunnelPassword,
    };
    use controlplane::radius::wire::{code, values, Attribute, Packet, Repr};
    use controlplane::subscriber::config::RadiusServer;
    use std::net::{Ipv4Addr, SocketAddr};

    const ISP_B: VrId = VrId(3);
    const SECRET: &[u8] = b"testing123";
    const SERVER: &str = "192.0.2.10:1812";
    const LNS_A: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);
    const LNS_B: Ipv4Addr = Ipv4Addr::new(10, 232, 0, 2);

    fn manager(now: Instant) -> AccessManager {
        let mut m = AccessManager::new([7; 32], Limits::default(), 1);
        let mut c = AccessConfig::new(ACCESS);
        c.realms = vec![RealmRoute {
            realm: "isp-a.example".into(),
            vr: ISP_A,
            lns: None,
        }];
        c.radius = manager_cfg_radius();
        c.lacs = vec![
            LacTarget {
                name: "isp-a".into(),
                vr: ISP_A,
                peers: vec![LNS_A],
                secret: Some(b"l2tp-a".to_vec()),
            },
            LacTarget {
                name: "isp-b".into(),
                vr: ISP_B,
                peers: vec![LNS_B],
                secret: Some(b"l2tp-b".to_vec()),
            },
        ];
        m.configure(now, vec![(c, vec![(PORT, VLAN)])]);
        assert!(m.drain().next().is_none());
        m
    }

    /// How the scripted server answers an Access-Request.
    type Script<'a> = &'a mut dyn FnMut(&Repr) -> Option<(u8, Vec<Attribute>)>;

    /// Answers every RADIUS datagram among `outs` with `script` (signed, with a
    /// Message-Authenticator, as FreeRADIUS does), feeding the answers back; returns the
    /// other outputs and the requests seen.
    fn serve(
        m: &mut AccessManager,
        now: Instant,
        outs: Vec<Output>,
        script: Script<'_>,
    ) -> (Vec<Output>, Vec<Repr>) {
        let mut rest = Vec::new();
        let mut seen = Vec::new();
        let mut queue = outs;
        while !queue.is_empty() {
            for o in std::mem::take(&mut queue) {
                match o {
                    Output::Radius {
                        vr,
                        socket,
                        dst,
                        payload,
                    } => {
                        assert_eq!(vr, ACCESS);
                        assert_eq!(dst, SERVER.parse::<SocketAddr>().unwrap());
                        let req = Repr::parse(&Packet::new_checked(&payload[..]).unwrap()).unwrap();
                        assert_eq!(req.code, code::ACCESS_REQUEST);
                        assert!(
                            matches!(
                                req.attributes.first(),
                                Some(Attribute::MessageAuthenticator(_))
                            ),
                            "Message-Authenticator first (Blast-RADIUS)"
                        );
                        seen.push(req.clone());
                        let Some((code, attrs)) = script(&req) else {
                            continue;
                        };
                        let mut attributes = vec![Attribute::MessageAuthenticator([0; 16])];
                        attributes.extend(attrs);
                        let mut bytes = Repr {
                            code,
                            identifier: req.identifier,
                            authenticator: [0; 16],
                            attributes,
                        }
                        .to_bytes()
                        .unwrap();
                        sign(
                            &mut bytes,
                            SECRET,
                            Signing::Response {
                                request_authenticator: req.authenticator,
                            },
                        )
                        .unwrap();
                        m.radius_datagram(now, ACCESS, socket, dst, &bytes);
                    }
                    o => rest.push(o),
                }
            }
            queue = m.drain().collect();
        }
        (rest, seen)
    }

    /// One L2TP tunnel of an Access-Accept under `tag`.
    fn tunnel(
        req: &Repr,
        tag: u8,
        endpoint: &str,
        pref: Option<u32>,
        id: Option<&str>,
        password: Option<&[u8]>,
    ) -> Vec<Attribute> {
        let mut a = vec![
            Attribute::TunnelType(TaggedInt {
                tag,
                value: tunnel_type::L2TP,
            }),
            Attribute::TunnelMediumType(TaggedInt {
                tag,
                value: medium_type::IPV4,
            }),
            Attribute::TunnelServerEndpoint(TaggedString {
                tag,
                value: endpoint.as_bytes().to_vec(),
            }),
        ];
        if let Some(p) = pref {
            a.push(Attribute::TunnelPreference(TaggedInt { tag, value: p }));
        }
        if let Some(id) = id {
            a.push(Attribute::TunnelAssignmentId(TaggedString {
                tag,
                value: id.as_bytes().to_vec(),
            }));
        }
        if let Some(pw) = password {
            let salt = 0x8000 | u16::from(tag);
            a.push(Attribute::TunnelPassword(
                TunnelPassword::encrypt(tag, salt, SECRET, &req.authenticator, pw).unwrap(),
            ));
        }
        a
    }

    /// A subscriber dials in up to its credentials; returns the link, its client and the
    /// manager's outputs so far (the Access-Request among them).
    fn dial(
        m: &mut AccessManager,
        now: Instant,
        mac: [u8; 6],
        user: &str,
        auth: PppAuth,
    ) -> (LinkKey, Engine, Vec<Output>) {
        let (sid, outs) = discover(m, now, mac);
        let mut c = Engine::new(
            Arc::new(client(user, auth)),
            Role::Client,
            now,
            u64::from(mac[5]),
        );
        c.open(now);
        let other = converse(m, &mut c, now, mac, sid, outs);
        (
            LinkKey::Pppoe {
                port: PORT,
                session: sid,
            },
            c,
            other,
        )
    }

    fn places(outs: &[Output]) -> Vec<(VrId, Option<Ipv4Addr>)> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Place { vr, lns, .. } => Some((*vr, *lns)),
                _ => None,
            })
            .collect()
    }

    /// Frames to the subscriber carry a CHAP Failure (or PAP Nak) with `message`.
    fn refused_with(outs: &[Output], mac: [u8; 6], message: &str) -> bool {
        outs.iter().any(|o| match o {
            Output::Frame { frame, .. } if frame[0..6] == mac && frame[16..18] == [0x88, 0x64] => {
                let ppp = &frame[24..];
                let auth = ppp.starts_with(&[0xc2, 0x23, 4]) || ppp.starts_with(&[0xc0, 0x23, 3]);
                auth && ppp.windows(message.len()).any(|w| w == message.as_bytes())
            }
            _ => false,
        })
    }

    fn auth_failed(c: &mut Engine) -> bool {
        let mut failed = false;
        while let Some(ev) = c.poll_event() {
            failed |= ev == (PppEvent::AuthDone { ok: false });
        }
        failed
    }

    #[test]
    fn access_request_carries_the_subscribers_credentials_and_line() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xa1];
        let (link, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        assert!(places(&outs).is_empty(), "no call before RADIUS answers");
        assert_eq!(m.link(link).unwrap().stage, Stage::Authorizing);
        let (_, seen) = serve(&mut m, now, outs, &mut |_| None);
        assert_eq!(seen.len(), 1);
        let a = &seen[0].attributes;
        let has = |x: &Attribute| a.contains(x);
        assert!(has(&Attribute::UserName(b"alice@isp-a.example".to_vec())));
        assert!(has(&Attribute::NasPortType(15)), "Ethernet: {a:?}");
        assert!(has(&Attribute::ServiceType(values::SERVICE_TYPE_FRAMED)));
        assert!(has(&Attribute::FramedProtocol(values::FRAMED_PROTOCOL_PPP)));
        assert!(has(&Attribute::NasIdentifier(b"relay-test".to_vec())));
        assert!(has(&Attribute::CallingStationId(
            b"02:00:00:00:00:a1".to_vec()
        )));
        assert!(has(&Attribute::NasPortId(b"port 0 vlan 100".to_vec())));
        let (Some(Attribute::ChapPassword(p)), Some(Attribute::ChapChallenge(ch))) = (
            a.iter().find(|x| matches!(x, Attribute::ChapPassword(_))),
            a.iter().find(|x| matches!(x, Attribute::ChapChallenge(_))),
        ) else {
            panic!("CHAP-Password and CHAP-Challenge: {a:?}")
        };
        assert_eq!(p.response, chap_md5_response(p.ident, b"secret", ch));
        assert_eq!(m.stats.radius_requests, 1);

        // PAP: User-Password hidden with the secret.
        let mac = [2, 0, 0, 0, 0, 0xa2];
        let mut mp = AccessManager::new([7; 32], Limits::default(), 1);
        let mut cfg = AccessConfig::new(ACCESS);
        cfg.auth = vec![AuthMethod::Pap];
        cfg.radius = manager_cfg_radius();
        mp.configure(now, vec![(cfg, vec![(PORT, VLAN)])]);
        let (_, _c, outs) = dial(&mut mp, now, mac, "bob@isp-a.example", PppAuth::Pap);
        let (_, seen) = serve(&mut mp, now, outs, &mut |_| None);
        let hidden = seen[0]
            .attributes
            .iter()
            .find_map(|x| match x {
                Attribute::UserPassword(h) => Some(h.clone()),
                _ => None,
            })
            .expect("User-Password");
        assert_eq!(
            unhide_password(SECRET, &seen[0].authenticator, &hidden).unwrap(),
            b"secret"
        );
    }

    fn manager_cfg_radius() -> Option<RelayRadius> {
        Some(RelayRadius {
            source: "127.0.0.1".parse().unwrap(),
            nas_identifier: "relay-test".into(),
            servers: vec![RadiusServer {
                addr: SERVER.parse().unwrap(),
                secret: "testing123".into(),
            }],
            timeout: Duration::from_secs(2),
            retries: 2,
        })
    }

    #[test]
    fn accept_with_a_tunnel_places_the_call_from_the_vr_its_assignment_id_names() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xb1];
        let (link, mut c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        // The LNS is none of isp-b's peers: the assignment id alone picks the VR.
        let (outs, _) = serve(&mut m, now, outs, &mut |r| {
            Some((
                code::ACCESS_ACCEPT,
                tunnel(r, 1, "192.0.2.77", None, Some("isp-b"), Some(b"l2tp-b")),
            ))
        });
        assert_eq!(
            places(&outs),
            vec![(ISP_B, Some(Ipv4Addr::new(192, 0, 2, 77)))]
        );
        let proxy = outs
            .iter()
            .find_map(|o| match o {
                Output::Place { proxy, .. } => Some(proxy.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            proxy.authen_name, b"alice@isp-a.example",
            "the call still proxies the credentials"
        );
        assert!(
            matches!(m.link(link).unwrap().stage, Stage::Placing { vr, call: None } if vr == ISP_B)
        );
        assert!(!auth_failed(&mut c));
        m.call_placed(link, 11, 12);
        assert!(m.call_up(link));
        assert_eq!(m.stats.radius_accepts, 1);
        assert_eq!(m.stats.radius_tunnel_calls, 1);
        assert_eq!(m.stats.calls_up, 1);
    }

    #[test]
    fn accept_with_a_tunnel_to_a_known_peer_uses_the_vr_that_peers_with_it() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xb2];
        // Realm isp-a, but RADIUS sends the subscriber to isp-b's LNS: isp-b's VR calls.
        let (_, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |r| {
            Some((
                code::ACCESS_ACCEPT,
                tunnel(r, 0, "10.232.0.2", None, None, None),
            ))
        });
        assert_eq!(places(&outs), vec![(ISP_B, Some(LNS_B))]);
        // An unknown LNS and no assignment id: the realm's VR calls it.
        let mac = [2, 0, 0, 0, 0, 0xb3];
        let (_, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |r| {
            Some((
                code::ACCESS_ACCEPT,
                tunnel(
                    r,
                    0,
                    "198.51.100.9",
                    None,
                    Some("no-such-vr"),
                    Some(b"l2tp-a"),
                ),
            ))
        });
        assert_eq!(
            places(&outs),
            vec![(ISP_A, Some(Ipv4Addr::new(198, 51, 100, 9)))]
        );
    }

    #[test]
    fn tunnels_are_tried_in_preference_order_and_unusable_ones_skipped() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xc1];
        let (link, mut c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |r| {
            let mut a = tunnel(r, 1, "10.231.0.2", Some(20), None, Some(b"l2tp-a"));
            a.extend(tunnel(r, 2, "10.232.0.2", Some(10), None, Some(b"l2tp-b")));
            // Most preferred, but with a password isp-a's LAC does not have: skipped.
            a.extend(tunnel(r, 3, "10.231.0.2", Some(5), None, Some(b"other")));
            // A host name: not resolved here, skipped.
            a.extend(tunnel(r, 4, "lns.isp-a.example", Some(1), None, None));
            Some((code::ACCESS_ACCEPT, a))
        });
        assert_eq!(m.stats.radius_tunnel_secret_mismatch, 1);
        assert_eq!(m.stats.radius_tunnel_skipped, 1);
        assert_eq!(
            places(&outs),
            vec![(ISP_B, Some(LNS_B))],
            "preference 10 first"
        );
        m.call_placed(link, 21, 22);

        // The first tunnel's call does not come up within its half of the time: CDN, and
        // the next tunnel is tried.
        let t = now + PLACE_TIMEOUT / 2;
        m.handle_timer(t, link);
        let outs: Vec<Output> = m.drain().collect();
        assert!(outs.contains(&Output::Hangup {
            vr: ISP_B,
            tunnel: 21,
            session: 22
        }));
        assert_eq!(places(&outs), vec![(ISP_A, Some(LNS_A))]);
        assert_eq!(m.stats.radius_tunnel_fallbacks, 1);
        assert_eq!(m.stats.call_timeouts, 1);
        assert!(!auth_failed(&mut c), "the subscriber still waits");

        // The second cannot be placed either: no tunnel left, the subscriber is refused.
        m.call_down(t, link, "no tunnel to the ISP");
        let outs: Vec<Output> = m.drain().collect();
        assert!(places(&outs).is_empty());
        assert!(refused_with(&outs, mac, "no tunnel to the ISP"));
        converse(&mut m, &mut c, t, mac, link_session(link), outs);
        assert!(auth_failed(&mut c));
        assert_eq!(m.stats.calls_placed, 2);
        assert_eq!(m.stats.calls_failed, 2);
    }

    fn link_session(l: LinkKey) -> u16 {
        match l {
            LinkKey::Pppoe { session, .. } => session,
            LinkKey::L2tp { session, .. } => session,
        }
    }

    #[test]
    fn accept_without_tunnels_follows_the_realm() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xd1];
        let (_, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |_| {
            Some((
                code::ACCESS_ACCEPT,
                vec![Attribute::ReplyMessage(b"hi".to_vec())],
            ))
        });
        assert_eq!(places(&outs), vec![(ISP_A, None)]);
        assert_eq!(m.stats.radius_tunnel_calls, 0);
        // Accepted by RADIUS but of no known realm and no tunnel: refused.
        let mac = [2, 0, 0, 0, 0, 0xd2];
        let (_, mut c, outs) = dial(&mut m, now, mac, "carol@nowhere.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |_| {
            Some((code::ACCESS_ACCEPT, vec![]))
        });
        assert!(places(&outs).is_empty());
        assert!(refused_with(&outs, mac, "unknown realm"));
        assert_eq!(m.stats.realm_unknown, 1);
        let sid = outs
            .iter()
            .find_map(|o| match o {
                Output::Frame { frame, .. } if frame[0..6] == mac => {
                    Some(u16::from_be_bytes([frame[20], frame[21]]))
                }
                _ => None,
            })
            .unwrap();
        converse(&mut m, &mut c, now, mac, sid, outs);
        assert!(auth_failed(&mut c));
    }

    #[test]
    fn reject_refuses_with_the_reply_message() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xe1];
        let (link, mut c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |_| {
            Some((
                code::ACCESS_REJECT,
                vec![Attribute::ReplyMessage(b"account suspended".to_vec())],
            ))
        });
        assert!(places(&outs).is_empty());
        assert!(refused_with(&outs, mac, "account suspended"), "{outs:?}");
        converse(&mut m, &mut c, now, mac, link_session(link), outs);
        assert!(auth_failed(&mut c));
        assert_eq!(m.stats.radius_rejects, 1);
        // Without a Reply-Message: a reason of our own.
        let mac = [2, 0, 0, 0, 0, 0xe2];
        let (_, _c, outs) = dial(&mut m, now, mac, "bob@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |_| {
            Some((code::ACCESS_REJECT, vec![]))
        });
        assert!(refused_with(&outs, mac, "rejected by RADIUS"));
        assert_eq!(m.stats.radius_rejects, 2);
        assert_eq!(m.stats.calls_placed, 0);
    }

    #[test]
    fn silence_from_every_server_refuses_after_the_retries() {
        let now = Instant::now();
        let mut m = manager(now);
        let mac = [2, 0, 0, 0, 0, 0xf1];
        let (link, mut c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (mut outs, mut seen) = serve(&mut m, now, outs, &mut |_| None);
        let mut t = now;
        for _ in 0..10 {
            let Some(at) = outs.iter().rev().find_map(|o| match o {
                Output::RadiusTimer { vr, at } if *vr == ACCESS => Some(*at),
                _ => None,
            }) else {
                break;
            };
            let Some(at) = at else { break };
            t = at;
            m.handle_radius_timer(t, ACCESS);
            let o: Vec<Output> = m.drain().collect();
            let (o, s) = serve(&mut m, t, o, &mut |_| None);
            seen.extend(s);
            outs = o;
            if m.stats.radius_timeouts > 0 {
                break;
            }
        }
        assert_eq!(m.stats.radius_timeouts, 1);
        assert_eq!(seen.len(), 2, "retries: 2 transmissions to the one server");
        assert_eq!(
            seen[0].attributes, seen[1].attributes,
            "retransmitted as it was"
        );
        assert!(refused_with(
            &outs,
            mac,
            "authentication service unavailable"
        ));
        assert_eq!(t, now + Duration::from_secs(4), "two timeouts of 2 s");
        converse(&mut m, &mut c, t, mac, link_session(link), outs);
        assert!(auth_failed(&mut c));
    }

    #[test]
    fn malformed_or_unusable_tunnel_attributes_are_counted_refusals() {
        let now = Instant::now();
        let mut m = manager(now);
        // Tagged and untagged tunnel attributes mixed: the client turns the Accept into a
        // reject (RFC 2868 §3.1).
        let mac = [2, 0, 0, 0, 0, 0x71];
        let (_, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |r| {
            let mut a = tunnel(r, 1, "10.231.0.2", None, None, None);
            a.push(Attribute::TunnelPreference(TaggedInt { tag: 0, value: 3 }));
            Some((code::ACCESS_ACCEPT, a))
        });
        assert!(places(&outs).is_empty());
        assert!(refused_with(&outs, mac, "rejected by RADIUS"));
        assert_eq!(m.radius_counters().accept_tunnel_invalid, 1);
        assert_eq!(m.stats.radius_rejects, 1);
        // Well formed, but only a PPTP tunnel: none usable, refused.
        let mac = [2, 0, 0, 0, 0, 0x72];
        let (_, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |_| {
            Some((
                code::ACCESS_ACCEPT,
                vec![
                    Attribute::TunnelType(TaggedInt {
                        tag: 1,
                        value: tunnel_type::PPTP,
                    }),
                    Attribute::TunnelMediumType(TaggedInt {
                        tag: 1,
                        value: medium_type::IPV4,
                    }),
                    Attribute::TunnelServerEndpoint(TaggedString {
                        tag: 1,
                        value: b"10.231.0.2".to_vec(),
                    }),
                ],
            ))
        });
        assert!(places(&outs).is_empty());
        assert!(refused_with(&outs, mac, "no usable tunnel"));
        assert_eq!(m.stats.radius_tunnel_unusable, 1);
        // Every tunnel offered has the wrong password: refused too.
        let mac = [2, 0, 0, 0, 0, 0x73];
        let (_, _c, outs) = dial(&mut m, now, mac, "alice@isp-a.example", PppAuth::ChapMd5);
        let (outs, _) = serve(&mut m, now, outs, &mut |r| {
            Some((
                code::ACCESS_ACCEPT,
                tunnel(r, 1, "10.231.0.2", None, None, Some(b"nope")),
            ))
        });
        assert!(places(&outs).is_empty());
        assert!(refused_with(&outs, mac, "no usable tunnel"));
        assert_eq!(m.stats.radius_tunnel_unusable, 2);
        assert_eq!(m.stats.radius_tunnel_secret_mismatch, 1);
    }

    #[test]
    fn a_switched_session_with_proxy_authentication_is_authorised_too() {
        let now = Instant::now();
        let mut m = AccessManager::new([7; 32], Limits::default(), 1);
        let mut c = AccessConfig::new(ACCESS);
        c.radius = manager_cfg_radius();
        c.lacs = vec![LacTarget {
            name: "isp-b".into(),
            vr: ISP_B,
            peers: vec![LNS_B],
            secret: None,
        }];
        m.configure(now, vec![(c, vec![])]);
        let proxy = Box::new(controlplane::l2tp::engine::ProxyInfo {
            initial_received_confreq: Some(vec![5, 6, 1, 2, 3, 4]),
            last_sent_confreq: Some(vec![3, 5, 0xc2, 0x23, 5]),
            last_received_confreq: Some(vec![5, 6, 1, 2, 3, 4]),
            authen_type: Some(2),
            authen_name: b"alice@isp-b.example".to_vec(),
            authen_challenge: vec![9; 16],
            authen_id: Some(1),
            authen_response: vec![7; 16],
        });
        m.l2tp_session_up(now, ACCESS, 3, 4, leg(Some(proxy.clone())));
        let outs: Vec<Output> = m.drain().collect();
        let (outs, seen) = serve(&mut m, now, outs, &mut |r| {
            Some((
                code::ACCESS_ACCEPT,
                tunnel(r, 1, "10.232.0.2", None, None, None),
            ))
        });
        let a = &seen[0].attributes;
        assert!(a.contains(&Attribute::CallingStationId(b"wholesale-port-7".to_vec())));
        assert!(a.contains(&Attribute::NasPortType(values::NAS_PORT_TYPE_VIRTUAL)));
        assert!(a.contains(&Attribute::ChapChallenge(vec![9; 16])));
        assert!(outs.contains(&Output::Place {
            link: LinkKey::L2tp {
                vr: ACCESS,
                tunnel: 3,
                session: 4
            },
            vr: ISP_B,
            lns: Some(LNS_B),
            proxy,
            calling_number: b"wholesale-port-7".to_vec(),
        }));
        // Rejected: no PPP here, the switched session is cleared.
        let p2 = Box::new(controlplane::l2tp::engine::ProxyInfo {
            authen_type: Some(3),
            authen_name: b"mallory@isp-b.example".to_vec(),
            authen_response: b"guess".to_vec(),
            ..(*outs_proxy()).clone()
        });
        m.l2tp_session_up(now, ACCESS, 3, 5, leg(Some(p2)));
        let outs: Vec<Output> = m.drain().collect();
        let (outs, _) = serve(&mut m, now, outs, &mut |_| {
            Some((code::ACCESS_REJECT, vec![]))
        });
        assert!(outs.contains(&Output::Hangup {
            vr: ACCESS,
            tunnel: 3,
            session: 5
        }));
        assert!(places(&outs).is_empty());
        assert_eq!(m.count(), 1);
    }
}
