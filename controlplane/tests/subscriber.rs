//! The subscriber manager on a virtual clock: a PPP client engine dials through a simulated
//! L2TP session, a scripted RADIUS server (built with the RADIUS wire module, signing its
//! answers) authorises it; the test follows routes, accounting records, timeouts and
//! Dynamic Authorization.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::ppp::auth::AuthMethod as PppAuth;
use controlplane::ppp::engine::{Config as PppConfig, Engine, Event as PppEvent, Role};
use controlplane::radius::wire::crypto::{sign, Signing};
use controlplane::radius::wire::{code, Attribute, Packet, Repr};
use controlplane::subscriber::config::{
    DaeClient, LocalUser, RadiusServer, RadiusSettings, SubscriberConfig,
};
use controlplane::subscriber::manager::{
    terminate_cause, Output, PppoeLink, SessionInfo, Subscribers, TimerKey,
};
use controlplane::subscriber::pool::V4PoolConfig;
use vr::{IpPrefix, NextHop, PortId, VrId};

const VR: VrId = VrId(10);
const SECRET: &[u8] = b"testing123";
const LAC: Ipv4Addr = Ipv4Addr::new(10, 214, 0, 1);
const LNS: Ipv4Addr = Ipv4Addr::new(10, 214, 0, 2);
const RADIUS: &str = "192.0.2.10:1812";
const ACCT: &str = "192.0.2.10:1813";

fn base_cfg() -> SubscriberConfig {
    let mut c = SubscriberConfig::new(VR, Ipv4Addr::new(100, 64, 0, 1));
    c.dns = vec![Ipv4Addr::new(192, 0, 2, 53)];
    c.pools = vec![V4PoolConfig {
        name: "subscribers".into(),
        ranges: vec![(
            Ipv4Addr::new(100, 64, 0, 100),
            Ipv4Addr::new(100, 64, 0, 101),
        )],
    }];
    c
}

fn local_cfg() -> SubscriberConfig {
    let mut c = base_cfg();
    c.users = vec![
        LocalUser {
            name: "alice".into(),
            password: "secret".into(),
            address: Some(Ipv4Addr::new(100, 64, 0, 10)),
        },
        LocalUser {
            name: "bob".into(),
            password: "secret".into(),
            address: None,
        },
    ];
    c
}

fn radius_cfg() -> SubscriberConfig {
    let mut c = base_cfg();
    c.radius = Some(RadiusSettings {
        source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        nas_identifier: "varouter-test".into(),
        servers: vec![RadiusServer {
            addr: RADIUS.parse().unwrap(),
            secret: "testing123".into(),
        }],
        accounting: vec![RadiusServer {
            addr: ACCT.parse().unwrap(),
            secret: "testing123".into(),
        }],
        timeout: Duration::from_secs(2),
        retries: 2,
        interim_interval: None,
        dae: Some((
            "127.0.0.1:3799".parse().unwrap(),
            vec![DaeClient {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                secret: "testing123".into(),
            }],
        )),
    });
    c
}

/// What the scripted RADIUS server does with an Access-Request.
#[derive(Clone)]
enum Answer {
    Accept(Vec<Attribute>),
    Reject,
    Silent,
}

struct Sim {
    now: Instant,
    subs: Subscribers,
    clients: HashMap<u16, Engine>,
    client_events: HashMap<u16, Vec<PppEvent>>,
    timers: BTreeMap<TimerKey, Instant>,
    routes: BTreeMap<IpPrefix, NextHop>,
    /// The VR each route is in.
    route_vr: BTreeMap<IpPrefix, VrId>,
    closed: Vec<u16>,
    answer: Answer,
    access_requests: Vec<Repr>,
    acct: Vec<Repr>,
    dae_answers: Vec<Repr>,
    /// Traffic per counter slot, as the workers would count it.
    traffic: HashMap<u32, [u64; 4]>,
    /// Clients negotiate IPV6CP too.
    v6: bool,
    /// Router Advertisements sent to subscribers.
    ras: usize,
}

impl Sim {
    fn new(cfg: SubscriberConfig) -> Sim {
        let now = Instant::now();
        let mut subs = Subscribers::new(7);
        subs.configure(now, vec![cfg], &|_| [0; 4]);
        Sim {
            now,
            subs,
            clients: HashMap::new(),
            client_events: HashMap::new(),
            timers: BTreeMap::new(),
            routes: BTreeMap::new(),
            route_vr: BTreeMap::new(),
            closed: Vec::new(),
            answer: Answer::Silent,
            access_requests: Vec::new(),
            acct: Vec::new(),
            dae_answers: Vec::new(),
            traffic: HashMap::new(),
            v6: false,
            ras: 0,
        }
    }

    /// A subscriber dials on session `sid` (tunnel 1) with these credentials.
    fn dial(&mut self, sid: u16, user: &str, password: &str, auth: PppAuth) {
        let cfg = Arc::new(PppConfig {
            auth: vec![auth],
            username: user.into(),
            password: password.into(),
            enable_ipv6: self.v6,
            ..PppConfig::default()
        });
        let mut c = Engine::new(cfg, Role::Client, self.now, u64::from(sid) * 31);
        c.open(self.now);
        self.clients.insert(sid, c);
        self.subs.session_up(
            self.now,
            VR,
            SessionInfo {
                tunnel: 1,
                session: sid,
                peer_tunnel: 70,
                peer_session: 1000 + sid,
                peer: SocketAddr::new(IpAddr::V4(LAC), 1701),
                local: LNS,
                egress: Some((PortId(0), None, LAC)),
                counters: u32::from(sid),
                calling_number: b"line-7".to_vec(),
                proxy: None,
                pppoe: None,
            },
        );
        self.settle();
    }

    /// Moves everything until quiet (no time passes).
    fn settle(&mut self) {
        for _ in 0..200 {
            let mut moved = false;
            let outs: Vec<Output> = self.subs.drain().collect();
            for o in outs {
                moved = true;
                self.output(o);
            }
            let sids: Vec<u16> = self.clients.keys().copied().collect();
            for sid in sids {
                let frames: Vec<Vec<u8>> = {
                    let c = self.clients.get_mut(&sid).unwrap();
                    std::iter::from_fn(|| c.poll_transmit()).collect()
                };
                for f in frames {
                    moved = true;
                    let t = self.traffic.clone();
                    let now = self.now;
                    self.subs.ppp_frame(now, VR, 1, sid, &f, &|s| {
                        t.get(&s).copied().unwrap_or([0; 4])
                    });
                }
                let c = self.clients.get_mut(&sid).unwrap();
                while let Some(e) = c.poll_event() {
                    self.client_events.entry(sid).or_default().push(e);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the simulation does not settle");
    }

    fn output(&mut self, o: Output) {
        match o {
            Output::Frame { .. } => panic!("the simulated subscribers are L2TP sessions"),
            Output::Packet { vr, ip } => {
                assert_eq!(vr, VR);
                // IPv4 / UDP 1701 / L2TP data (peer ids) / PPP.
                assert_eq!(&ip[12..16], &LNS.octets());
                assert_eq!(&ip[16..20], &LAC.octets());
                let udp = &ip[20..];
                assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 1701);
                let l2tp = &udp[8..];
                assert_eq!(u16::from_be_bytes([l2tp[2], l2tp[3]]), 70);
                let peer_session = u16::from_be_bytes([l2tp[4], l2tp[5]]);
                let sid = peer_session - 1000;
                let now = self.now;
                let ppp = &l2tp[6..];
                if ppp[2..4] == [0x00, 0x57] && ppp[4 + 40] == 134 {
                    // An ICMPv6 Router Advertisement (IPv6 data: not for the PPP engine).
                    self.ras += 1;
                } else if let Some(c) = self.clients.get_mut(&sid) {
                    c.handle_frame(now, ppp);
                }
            }
            Output::Route { vr, prefix, via } => match via {
                Some(nh) => {
                    self.routes.insert(prefix, nh);
                    self.route_vr.insert(prefix, vr);
                }
                None => {
                    assert!(
                        self.routes.remove(&prefix).is_some(),
                        "removed {prefix} twice"
                    );
                    assert_eq!(
                        self.route_vr.remove(&prefix),
                        Some(vr),
                        "{prefix} removed from the VR it is in"
                    );
                }
            },
            Output::CloseSession { session, .. } => self.closed.push(session),
            Output::Radius { dst, payload, .. } => self.radius(dst, &payload),
            Output::Dae { payload, .. } => {
                self.dae_answers
                    .push(Repr::parse(&Packet::new_checked(&payload[..]).unwrap()).unwrap());
            }
            Output::Timer { key, at } => match at {
                Some(at) => {
                    self.timers.insert(key, at);
                }
                None => {
                    self.timers.remove(&key);
                }
            },
        }
    }

    /// The scripted server: answers signed, as FreeRADIUS configured for us does.
    fn radius(&mut self, dst: SocketAddr, payload: &[u8]) {
        let req = Repr::parse(&Packet::new_checked(payload).unwrap()).unwrap();
        assert!(
            matches!(
                req.attributes.first(),
                Some(Attribute::MessageAuthenticator(_))
            ),
            "Message-Authenticator first (Blast-RADIUS)"
        );
        let (code, attrs) = if req.code == code::ACCESS_REQUEST {
            self.access_requests.push(req.clone());
            match self.answer.clone() {
                Answer::Accept(a) => (code::ACCESS_ACCEPT, a),
                Answer::Reject => (code::ACCESS_REJECT, vec![]),
                Answer::Silent => return,
            }
        } else {
            assert_eq!(dst, ACCT.parse().unwrap());
            self.acct.push(req.clone());
            (code::ACCOUNTING_RESPONSE, vec![])
        };
        let mut attributes = vec![Attribute::MessageAuthenticator([0; 16])];
        attributes.extend(attrs);
        let resp = Repr {
            code,
            identifier: req.identifier,
            authenticator: [0; 16],
            attributes,
        };
        let mut bytes = resp.to_bytes().unwrap();
        sign(
            &mut bytes,
            SECRET,
            Signing::Response {
                request_authenticator: req.authenticator,
            },
        )
        .unwrap();
        let t = self.traffic.clone();
        let now = self.now;
        self.subs.radius_datagram(now, VR, 0, dst, &bytes, &|s| {
            t.get(&s).copied().unwrap_or([0; 4])
        });
    }

    /// Advances the virtual clock by `d`, firing due timers in order.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_sub = self.timers.iter().map(|(k, at)| (*at, *k)).min();
            let next_client = self.clients.values().filter_map(|c| c.deadline()).min();
            let next = [next_sub.map(|x| x.0), next_client]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    if let Some((at, k)) = next_sub {
                        if at <= now {
                            self.timers.remove(&k);
                            let t = self.traffic.clone();
                            self.subs
                                .handle_timer(now, k, &|s| t.get(&s).copied().unwrap_or([0; 4]));
                        }
                    }
                    for c in self.clients.values_mut() {
                        if c.deadline().is_some_and(|x| x <= now) {
                            c.handle_timeout(now);
                        }
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn client_up(&self, sid: u16) -> Option<Ipv4Addr> {
        self.client_events.get(&sid)?.iter().find_map(|e| match e {
            PppEvent::Ipv4Up { local, .. } => Some(*local),
            _ => None,
        })
    }

    fn client_down(&self, sid: u16) -> bool {
        self.client_events
            .get(&sid)
            .is_some_and(|v| v.iter().any(|e| matches!(e, PppEvent::Down { .. })))
    }

    fn acct_of(&self, status: u32) -> Vec<&Repr> {
        self.acct
            .iter()
            .filter(|r| r.attributes.contains(&Attribute::AcctStatusType(status)))
            .collect()
    }
}

fn host(a: [u8; 4]) -> IpPrefix {
    IpPrefix::host(IpAddr::V4(Ipv4Addr::from(a)))
}

#[test]
fn local_users_get_addresses_and_routes_into_their_sessions() {
    for (auth, sid) in [
        (PppAuth::Pap, 1),
        (PppAuth::ChapMd5, 2),
        (PppAuth::MsChapV2, 3),
    ] {
        let mut s = Sim::new(local_cfg());
        s.dial(sid, "alice", "secret", auth);
        s.dial(sid + 10, "bob", "secret", auth);
        assert_eq!(
            s.client_up(sid),
            Some(Ipv4Addr::new(100, 64, 0, 10)),
            "{auth:?}"
        );
        assert_eq!(s.client_up(sid + 10), Some(Ipv4Addr::new(100, 64, 0, 100)));
        let Some(NextHop::L2tp(e)) = s.routes.get(&host([100, 64, 0, 10])) else {
            panic!("no route to alice: {:?}", s.routes);
        };
        assert_eq!(
            (
                e.peer_tunnel,
                e.peer_session,
                e.dst_ip,
                e.via,
                e.counters,
                e.src_ip
            ),
            (70, 1000 + sid, LAC, LAC, u32::from(sid), LNS)
        );
        assert_eq!(s.subs.count_up(), 2);
        assert_eq!(s.subs.stats().auth_accepts, 2);
        let list = s.subs.list(s.now, None, usize::MAX, &|_| [0; 4]);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].user, "alice");
        assert_eq!(list[0].phase, "up");
    }
}

#[test]
fn a_wrong_password_is_rejected_without_an_address() {
    let mut s = Sim::new(local_cfg());
    s.dial(1, "alice", "wrong", PppAuth::ChapMd5);
    s.dial(2, "mallory", "secret", PppAuth::Pap);
    s.advance(Duration::from_secs(10));
    assert_eq!(s.client_up(1), None);
    assert!(s.client_down(1) && s.client_down(2));
    assert!(s.routes.is_empty());
    assert_eq!(s.subs.stats().auth_rejects, 2);
    assert_eq!(s.subs.count(), 0);
    assert_eq!(s.closed, vec![1, 2], "the L2TP sessions are closed");
    assert_eq!(s.subs.pool_stats().1, 0, "no address taken");
}

#[test]
fn the_pool_runs_out_cleanly() {
    let mut cfg = local_cfg();
    cfg.users.push(LocalUser {
        name: "carol".into(),
        password: "secret".into(),
        address: None,
    });
    cfg.users.push(LocalUser {
        name: "dave".into(),
        password: "secret".into(),
        address: None,
    });
    let mut s = Sim::new(cfg);
    s.dial(1, "bob", "secret", PppAuth::Pap);
    s.dial(2, "carol", "secret", PppAuth::Pap);
    s.dial(3, "dave", "secret", PppAuth::Pap);
    assert!(s.client_up(1).is_some() && s.client_up(2).is_some());
    assert_eq!(s.client_up(3), None);
    assert_eq!(s.subs.stats().no_address, 1);
    // bob leaves: his address serves dave's next try.
    s.subs.session_down(s.now, VR, 1, 1, &|_| [0; 4]);
    s.settle();
    assert!(!s
        .routes
        .contains_key(&IpPrefix::host(IpAddr::V4(s.client_up(1).unwrap()))));
    s.dial(4, "dave", "secret", PppAuth::Pap);
    assert_eq!(s.client_up(4), s.client_up(1));
}

#[test]
fn radius_accept_drives_address_timeouts_and_accounting() {
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![
        Attribute::FramedIpAddress(Ipv4Addr::new(100, 64, 0, 10)),
        Attribute::SessionTimeout(30),
        Attribute::AcctInterimInterval(10),
        Attribute::Class(b"gold".to_vec()),
    ]);
    s.dial(1, "alice", "secret", PppAuth::MsChapV2);
    assert_eq!(
        s.client_up(1),
        None,
        "MS-CHAPv2 without MS-CHAP2-Success fails the peer"
    );
    // A fresh start with a server that signs MS-CHAPv2 the way RADIUS does is in the
    // FreeRADIUS interop test; here PAP carries the RADIUS semantics.
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![
        Attribute::FramedIpAddress(Ipv4Addr::new(100, 64, 0, 10)),
        Attribute::SessionTimeout(30),
        Attribute::AcctInterimInterval(10),
        Attribute::Class(b"gold".to_vec()),
    ]);
    s.dial(1, "alice", "secret", PppAuth::Pap);
    assert_eq!(s.client_up(1), Some(Ipv4Addr::new(100, 64, 0, 10)));
    // The Access-Request: PPP user, hidden password, our NAS-Identifier, Calling-Station-Id.
    let req = &s.access_requests[0];
    assert!(req
        .attributes
        .contains(&Attribute::UserName(b"alice".to_vec())));
    assert!(req
        .attributes
        .contains(&Attribute::CallingStationId(b"line-7".to_vec())));
    assert!(req
        .attributes
        .contains(&Attribute::NasIdentifier(b"varouter-test".to_vec())));
    assert!(req
        .attributes
        .iter()
        .any(|a| matches!(a, Attribute::UserPassword(_))));
    // Accounting Start with the Class echoed.
    let start = s.acct_of(1);
    assert_eq!(start.len(), 1);
    assert!(start[0]
        .attributes
        .contains(&Attribute::Class(b"gold".to_vec())));
    assert!(start[0]
        .attributes
        .contains(&Attribute::FramedIpAddress(Ipv4Addr::new(100, 64, 0, 10))));
    // Traffic, then an Interim-Update after 10 s with it.
    s.traffic.insert(1, [10, 1000, 20, 5_000_000_000]);
    s.advance(Duration::from_secs(11));
    let interim = s.acct_of(3);
    assert_eq!(interim.len(), 1, "{:?}", s.acct);
    assert!(interim[0]
        .attributes
        .contains(&Attribute::AcctInputOctets(1000)));
    assert!(interim[0]
        .attributes
        .contains(&Attribute::AcctOutputGigawords(1)));
    // Session-Timeout at 30 s: the subscriber goes, with a Stop saying why.
    s.advance(Duration::from_secs(25));
    assert!(s.client_down(1));
    assert!(s.routes.is_empty());
    let stop = s.acct_of(2);
    assert_eq!(stop.len(), 1);
    assert!(stop[0].attributes.contains(&Attribute::AcctTerminateCause(
        terminate_cause::SESSION_TIMEOUT
    )));
    assert!(stop[0]
        .attributes
        .contains(&Attribute::AcctInputPackets(10)));
    assert_eq!(s.subs.stats().session_timeouts, 1);
    assert_eq!(s.subs.count(), 0);
}

#[test]
fn radius_reject_and_silence_are_refusals() {
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Reject;
    s.dial(1, "alice", "wrong", PppAuth::Pap);
    assert!(s.client_down(1) || s.client_up(1).is_none());
    s.advance(Duration::from_secs(5));
    assert!(s.client_down(1));
    assert_eq!(s.subs.stats().auth_rejects, 1);
    s.answer = Answer::Silent;
    s.dial(2, "bob", "secret", PppAuth::Pap);
    s.advance(Duration::from_secs(30));
    assert!(s.client_down(2));
    assert_eq!(s.subs.stats().radius_timeouts, 1);
    assert!(s.subs.radius_counters().retransmits >= 1);
    assert!(
        s.acct_of(1).is_empty() && s.acct_of(2).is_empty(),
        "no accounting for sessions that never came up"
    );
}

fn dae_request(code: u8, attrs: Vec<Attribute>) -> Vec<u8> {
    let mut attributes = vec![Attribute::MessageAuthenticator([0; 16])];
    attributes.extend(attrs);
    let mut b = Repr {
        code,
        identifier: 9,
        authenticator: [0; 16],
        attributes,
    }
    .to_bytes()
    .unwrap();
    sign(&mut b, SECRET, Signing::Request).unwrap();
    b
}

#[test]
fn disconnect_and_coa_requests_act_on_the_named_subscriber() {
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![Attribute::FramedIpAddress(Ipv4Addr::new(
        100, 64, 0, 10,
    ))]);
    s.dial(1, "alice", "secret", PppAuth::Pap);
    s.answer = Answer::Accept(vec![]);
    s.dial(2, "bob", "secret", PppAuth::Pap);
    assert_eq!(s.client_up(2), Some(Ipv4Addr::new(100, 64, 0, 100)));
    let dae: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    // Unknown subscriber: NAK 503.
    let b = dae_request(
        code::DISCONNECT_REQUEST,
        vec![Attribute::UserName(b"nobody".to_vec())],
    );
    let now = s.now;
    s.subs.dae_datagram(now, VR, dae, &b, &|_| [0; 4]);
    s.settle();
    assert_eq!(s.dae_answers.last().unwrap().code, code::DISCONNECT_NAK);
    assert!(s
        .dae_answers
        .last()
        .unwrap()
        .attributes
        .contains(&Attribute::ErrorCause(503)));
    // CoA: bob gets a Session-Timeout of 5 s.
    let b = dae_request(
        code::COA_REQUEST,
        vec![
            Attribute::UserName(b"bob".to_vec()),
            Attribute::SessionTimeout(5),
        ],
    );
    s.subs.dae_datagram(now, VR, dae, &b, &|_| [0; 4]);
    s.settle();
    assert_eq!(s.dae_answers.last().unwrap().code, code::COA_ACK);
    // Disconnect alice by her address.
    let b = dae_request(
        code::DISCONNECT_REQUEST,
        vec![Attribute::FramedIpAddress(Ipv4Addr::new(100, 64, 0, 10))],
    );
    s.subs.dae_datagram(now, VR, dae, &b, &|_| [0; 4]);
    s.settle();
    assert_eq!(s.dae_answers.last().unwrap().code, code::DISCONNECT_ACK);
    assert!(!s.routes.contains_key(&host([100, 64, 0, 10])));
    assert!(s.routes.contains_key(&host([100, 64, 0, 100])));
    let stop = s.acct_of(2);
    assert_eq!(stop.len(), 1);
    assert!(stop[0]
        .attributes
        .contains(&Attribute::AcctTerminateCause(terminate_cause::ADMIN_RESET)));
    // bob's new Session-Timeout ends him 5 s later.
    s.advance(Duration::from_secs(6));
    assert!(s.routes.is_empty());
    assert_eq!(s.subs.count(), 0);
    assert_eq!(s.subs.stats().dae_disconnects, 1);
    assert_eq!(s.subs.stats().dae_coa, 1);
    assert_eq!(s.subs.stats().dae_naks, 1);
    // A forged request (wrong secret) gets no answer at all.
    let answers = s.dae_answers.len();
    let mut b = dae_request(
        code::DISCONNECT_REQUEST,
        vec![Attribute::UserName(b"bob".to_vec())],
    );
    b[4] ^= 1;
    s.subs.dae_datagram(now, VR, dae, &b, &|_| [0; 4]);
    s.settle();
    assert_eq!(s.dae_answers.len(), answers);
}

#[test]
fn lower_layer_loss_ends_the_subscriber_with_lost_carrier() {
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![]);
    s.dial(1, "bob", "secret", PppAuth::Pap);
    assert!(s.client_up(1).is_some());
    s.subs.session_down(s.now, VR, 1, 1, &|_| [5, 500, 6, 600]);
    s.settle();
    assert!(s.routes.is_empty());
    assert!(
        s.closed.is_empty(),
        "no CDN for a session L2TP already ended"
    );
    let stop = s.acct_of(2);
    assert!(stop[0].attributes.contains(&Attribute::AcctTerminateCause(
        terminate_cause::LOST_CARRIER
    )));
    assert!(stop[0]
        .attributes
        .contains(&Attribute::AcctOutputOctets(600)));
}

#[test]
fn malformed_ppp_frames_are_counted_not_fatal() {
    let mut s = Sim::new(local_cfg());
    s.dial(1, "alice", "secret", PppAuth::Pap);
    let now = s.now;
    for f in [
        &[][..],
        &[0xff][..],
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 2][..],
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 200, 1, 0][..],
        &[0xc0, 0x21, 1, 1, 0, 8, 3, 0, 1, 2][..],
    ] {
        s.subs.ppp_frame(now, VR, 1, 1, f, &|_| [0; 4]);
    }
    // Unknown session: counted.
    assert!(!s
        .subs
        .ppp_frame(now, VR, 1, 999, &[0xff, 0x03, 0xc0, 0x21], &|_| [0; 4]));
    assert_eq!(s.subs.stats().frames_unknown_session, 1);
    assert!(s.subs.ppp_counters().rx_malformed >= 3);
    s.settle();
    assert_eq!(s.subs.count_up(), 1, "the subscriber is still up");
}

#[test]
fn proxy_lcp_and_proxy_pap_from_the_lac_skip_to_the_network_phase() {
    use controlplane::l2tp::engine::ProxyInfo;
    let mut s = Sim::new(local_cfg());
    // What the LAC negotiated with the subscriber (RFC 2661 §4.4.5): it asked for PAP with
    // magic 0x11111111; the subscriber asked for MRU 1492 with magic 0x22222222.
    let sent = vec![0x03, 0x04, 0xc0, 0x23, 0x05, 0x06, 0x11, 0x11, 0x11, 0x11];
    let recvd = vec![0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 0x22, 0x22, 0x22, 0x22];
    let proxy = ProxyInfo {
        initial_received_confreq: Some(recvd.clone()),
        last_sent_confreq: Some(sent),
        last_received_confreq: Some(recvd),
        authen_type: Some(3),
        authen_name: b"alice".to_vec(),
        authen_challenge: Vec::new(),
        authen_id: Some(7),
        authen_response: b"secret".to_vec(),
    };
    s.subs.session_up(
        s.now,
        VR,
        SessionInfo {
            tunnel: 1,
            session: 5,
            peer_tunnel: 70,
            peer_session: 1005,
            peer: SocketAddr::new(IpAddr::V4(LAC), 1701),
            local: LNS,
            egress: Some((PortId(0), None, LAC)),
            counters: 5,
            calling_number: Vec::new(),
            proxy: Some(Box::new(proxy)),
            pppoe: None,
        },
    );
    // No client engine: look at what the LNS sends. The first frames are the PAP Ack with
    // the proxied identifier and an IPCP Configure-Request (no LCP negotiation at all).
    let outs: Vec<Output> = s.subs.drain().collect();
    let frames: Vec<Vec<u8>> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Packet { ip, .. } => Some(ip[20 + 8 + 6..].to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(s.subs.stats().auth_accepts, 1);
    let protos: Vec<u16> = frames
        .iter()
        .map(|f| u16::from_be_bytes([f[2], f[3]]))
        .collect();
    assert!(
        !protos.contains(&0xc021),
        "no LCP renegotiation: {protos:x?}"
    );
    let pap = frames
        .iter()
        .find(|f| f[2..4] == [0xc0, 0x23])
        .expect("PAP Ack");
    assert_eq!(
        (pap[4], pap[5]),
        (2, 7),
        "Authenticate-Ack with the proxied id"
    );
    assert!(protos.contains(&0x8021), "IPCP starts: {protos:x?}");
    assert_eq!(s.subs.ppp_counters().proxy_lcp_accepted, 1);
}

#[test]
fn a_subscriber_that_hangs_up_is_listed_as_closing_then_gone() {
    let mut s = Sim::new(local_cfg());
    s.dial(1, "alice", "secret", PppAuth::Pap);
    assert!(s.client_up(1).is_some());
    let now = s.now;
    s.clients
        .get_mut(&1)
        .unwrap()
        .close(now, controlplane::ppp::engine::DownReason::LocalClose);
    s.settle();
    let l = s.subs.list(s.now, None, usize::MAX, &|_| [0; 4]);
    assert_eq!(l[0].phase, "closing");
    assert!(s.routes.is_empty(), "the route goes when IPCP goes down");
    s.advance(Duration::from_secs(5));
    assert_eq!(s.subs.count(), 0);
}

#[test]
fn local_users_are_found_by_name_among_many_and_follow_a_reconfiguration() {
    let mut cfg = local_cfg();
    cfg.pools[0].ranges = vec![(
        Ipv4Addr::new(100, 64, 0, 100),
        Ipv4Addr::new(100, 64, 0, 110),
    )];
    cfg.users.extend((0..5000).map(|i| LocalUser {
        name: format!("u{i}"),
        password: format!("pw{i}"),
        address: None,
    }));
    // Two entries of one name: the first one counts, as it always did.
    for pw in ["first", "second"] {
        cfg.users.push(LocalUser {
            name: "dup".into(),
            password: pw.into(),
            address: None,
        });
    }
    let mut s = Sim::new(cfg.clone());
    s.dial(1, "u4999", "pw4999", PppAuth::Pap);
    s.dial(2, "dup", "second", PppAuth::ChapMd5);
    s.dial(3, "dup", "first", PppAuth::ChapMd5);
    assert!(s.client_up(1).is_some());
    assert_eq!(s.client_up(2), None);
    assert!(s.client_up(3).is_some());
    // A new password for u4999 applies to the next session; an added user exists at once.
    cfg.users
        .iter_mut()
        .find(|u| u.name == "u4999")
        .unwrap()
        .password = "new".into();
    cfg.users.push(LocalUser {
        name: "erin".into(),
        password: "secret".into(),
        address: None,
    });
    let now = s.now;
    s.subs.configure(now, vec![cfg], &|_| [0; 4]);
    s.settle();
    s.dial(4, "u4999", "pw4999", PppAuth::Pap);
    s.dial(5, "u4999", "new", PppAuth::MsChapV2);
    s.dial(6, "erin", "secret", PppAuth::Pap);
    assert_eq!(s.client_up(4), None);
    assert!(s.client_up(5).is_some());
    assert!(s.client_up(6).is_some());
    assert_eq!(s.subs.stats().auth_rejects, 2);
    assert_eq!(
        s.subs.count_up(),
        4,
        "sessions 1 and 3 stayed up across the reload"
    );
}

#[test]
fn ipv6_subscribers_get_a_prefix_route_and_periodic_router_advertisements() {
    let mut cfg = local_cfg();
    cfg.ipv6 = true;
    cfg.ipv6_pools = vec![controlplane::subscriber::pool::V6PoolConfig {
        name: "v6".into(),
        prefix: "2001:db8:100::".parse().unwrap(),
        len: 56,
        delegated_len: 64,
    }];
    let mut s = Sim::new(cfg);
    s.v6 = true;
    s.dial(1, "alice", "secret", PppAuth::Pap);
    assert!(s.client_events[&1]
        .iter()
        .any(|e| matches!(e, PppEvent::Ipv6Up { .. })));
    let v6: IpPrefix = "2001:db8:100::/64".parse().unwrap();
    assert!(
        matches!(s.routes.get(&v6), Some(NextHop::L2tp(_))),
        "{:?}",
        s.routes
    );
    assert_eq!(s.ras, 1, "one RA when IPV6CP opens");
    s.advance(Duration::from_secs(1250));
    assert_eq!(s.ras, 3, "then every 600 s");
    // The prefix goes with the subscriber and returns to the pool.
    s.subs.session_down(s.now, VR, 1, 1, &|_| [0; 4]);
    s.settle();
    assert!(!s.routes.contains_key(&v6));
    assert_eq!(s.subs.pool_stats().2, 0);
}

#[test]
fn accounting_on_at_start_and_off_after_the_stops_at_shutdown() {
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![]);
    s.dial(1, "bob", "secret", PppAuth::Pap);
    assert_eq!(
        s.acct_of(7).len(),
        1,
        "Accounting-On when the VR's NAS starts"
    );
    assert_eq!(s.acct_of(1).len(), 1);
    let now = s.now;
    s.subs.shutdown(now, &|_| [0; 4]);
    s.settle();
    let kinds: Vec<u32> = s
        .acct
        .iter()
        .filter_map(|r| {
            r.attributes.iter().find_map(|a| match a {
                Attribute::AcctStatusType(t) => Some(*t),
                _ => None,
            })
        })
        .collect();
    assert_eq!(kinds, vec![7, 1, 2, 8], "On, Start, Stop, Off");
    let stop = s.acct_of(2);
    assert!(stop[0]
        .attributes
        .contains(&Attribute::AcctTerminateCause(terminate_cause::NAS_REQUEST)));
}

/// The Cisco-AVPair `ip:vrf-id=NAME` of a moved subscriber's accounting records.
fn vrf_of(r: &Repr) -> Option<String> {
    r.attributes.iter().find_map(|a| match a {
        Attribute::VendorSpecific(controlplane::radius::wire::Vsa::Other { vendor: 9, data })
            if data.len() > 2 && data[0] == 1 && usize::from(data[1]) == data.len() =>
        {
            String::from_utf8(data[2..].to_vec()).ok()
        }
        _ => None,
    })
}

#[test]
fn a_moved_subscriber_routes_in_the_new_vr_and_accounts_it_in_an_interim_update() {
    const B: VrId = VrId(20);
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![Attribute::FramedIpAddress(Ipv4Addr::new(
        100, 64, 0, 10,
    ))]);
    s.dial(1, "alice", "secret", PppAuth::Pap);
    assert_eq!(s.client_up(1), Some(Ipv4Addr::new(100, 64, 0, 10)));
    let alice = host([100, 64, 0, 10]);
    let nh = s.routes[&alice];
    assert_eq!(s.subs.routes_of(VR, 1, 1), Some((VR, vec![alice])));
    let start = s.acct_of(1)[0].clone();
    assert_eq!(vrf_of(&start), None);
    s.traffic.insert(1, [3, 300, 4, 400]);
    let t = s.traffic.clone();
    let traffic = move |slot: u32| t.get(&slot).copied().unwrap_or_default();
    // No such subscriber: nothing happens.
    assert!(!s.subs.move_routes(s.now, VR, (1, 9), B, "B", &traffic));
    assert!(s.subs.move_routes(s.now, VR, (1, 1), B, "B", &traffic));
    s.settle();
    // The route left VR and entered B, with the same encapsulation into the session.
    assert_eq!((s.route_vr[&alice], s.routes[&alice]), (B, nh));
    assert_eq!(s.subs.routes_of(VR, 1, 1), Some((B, vec![alice])));
    let v = &s.subs.list(s.now, Some(VR), 10, &traffic)[0];
    assert_eq!((v.vr, v.routed_in, v.phase), (VR, B, "up"));
    assert_eq!(s.subs.stats().moves, 1);
    // One Interim-Update of the same session with the counters so far, naming B.
    let interim = s.acct_of(3);
    assert_eq!(interim.len(), 1, "{:?}", s.acct);
    assert!(interim[0]
        .attributes
        .contains(&Attribute::AcctInputOctets(300)));
    assert_eq!(vrf_of(interim[0]).as_deref(), Some("ip:vrf-id=B"));
    let sid = |r: &Repr| {
        r.attributes
            .iter()
            .find(|a| matches!(a, Attribute::AcctSessionId(_)))
            .cloned()
    };
    assert_eq!(sid(interim[0]), sid(&start));
    // The PPP link was not touched: the client is still up with its address.
    assert_eq!(s.client_up(1), Some(Ipv4Addr::new(100, 64, 0, 10)));
    // Moving to where it is: nothing.
    assert!(s.subs.move_routes(s.now, VR, (1, 1), B, "B", &traffic));
    s.settle();
    assert_eq!(s.acct_of(3).len(), 1);
    // It ends in B: its route leaves B (the Sim checks the VR), the Stop names B.
    assert!(s
        .subs
        .disconnect(s.now, VR, 1, 1, terminate_cause::ADMIN_RESET, &traffic));
    s.settle();
    assert!(s.routes.is_empty());
    let stop = s.acct_of(2);
    assert_eq!(vrf_of(stop[0]).as_deref(), Some("ip:vrf-id=B"));
}

#[test]
fn a_subscriber_moved_home_again_routes_in_its_own_vr_and_its_interim_says_so() {
    const B: VrId = VrId(20);
    let mut s = Sim::new(radius_cfg());
    s.answer = Answer::Accept(vec![Attribute::FramedIpAddress(Ipv4Addr::new(
        100, 64, 0, 10,
    ))]);
    s.dial(1, "alice", "secret", PppAuth::Pap);
    let alice = host([100, 64, 0, 10]);
    let none = |_: u32| [0; 4];
    s.subs.move_routes(s.now, VR, (1, 1), B, "B", &none);
    s.settle();
    s.subs.move_routes(s.now, VR, (1, 1), VR, "A", &none);
    s.settle();
    assert_eq!(s.route_vr[&alice], VR);
    let interims = s.acct_of(3);
    assert_eq!(
        interims.iter().map(|r| vrf_of(r)).collect::<Vec<_>>(),
        vec![Some("ip:vrf-id=B".into()), Some("ip:vrf-id=A".into())]
    );
    // Home: later records carry no VRF (as before any move).
    let t = s.now;
    s.subs
        .disconnect(t, VR, 1, 1, terminate_cause::ADMIN_RESET, &none);
    s.settle();
    assert_eq!(vrf_of(s.acct_of(2)[0]), None);
}

#[test]
fn subscriber_routes_follow_a_new_path_to_the_lac() {
    let mut s = Sim::new(local_cfg());
    s.dial(1, "alice", "secret", PppAuth::Pap);
    let alice = host([100, 64, 0, 10]);
    let gw = Ipv4Addr::new(10, 214, 9, 1);
    // Same path: nothing to do.
    assert_eq!(
        s.subs.refresh_egress(|_, _| Some((PortId(0), None, LAC))),
        0
    );
    // The VR now reaches the LAC through a gateway on another port and VLAN.
    assert_eq!(
        s.subs.refresh_egress(|vr, lac| {
            assert_eq!((vr, lac), (VR, LAC));
            Some((PortId(1), Some(7), gw))
        }),
        1
    );
    s.settle();
    let Some(NextHop::L2tp(e)) = s.routes.get(&alice) else {
        panic!("{:?}", s.routes)
    };
    assert_eq!(
        (e.port, e.vlan, e.via, e.dst_ip),
        (PortId(1), Some(7), gw, LAC)
    );
    // No route to the LAC any more: the subscriber route goes; it comes back with one.
    assert_eq!(s.subs.refresh_egress(|_, _| None), 1);
    s.settle();
    assert!(!s.routes.contains_key(&alice));
    assert_eq!(
        s.subs.refresh_egress(|_, _| Some((PortId(0), None, LAC))),
        1
    );
    s.settle();
    assert!(s.routes.contains_key(&alice));
}

#[test]
fn listings_are_ordered_and_limited() {
    let mut cfg = local_cfg();
    cfg.pools[0].ranges = vec![(
        Ipv4Addr::new(100, 64, 0, 100),
        Ipv4Addr::new(100, 64, 0, 110),
    )];
    let mut s = Sim::new(cfg);
    for sid in [3, 1, 2] {
        s.dial(sid, "bob", "secret", PppAuth::Pap);
    }
    let all: Vec<u16> = s
        .subs
        .list(s.now, None, usize::MAX, &|_| [0; 4])
        .iter()
        .map(|v| v.session)
        .collect();
    assert_eq!(all, vec![1, 2, 3]);
    let two: Vec<u16> = s
        .subs
        .list(s.now, Some(VR), 2, &|_| [0; 4])
        .iter()
        .map(|v| v.session)
        .collect();
    assert_eq!(two, vec![1, 2]);
    assert!(s
        .subs
        .list(s.now, Some(VrId(99)), 10, &|_| [0; 4])
        .is_empty());
}

#[test]
fn a_pppoe_session_terminated_here_talks_pppoe_and_routes_into_its_session() {
    use controlplane::l2tp::engine::ProxyInfo;
    let mut s = Sim::new(local_cfg());
    // The access side's proxy (PAP, as in the test above), and the PPPoE session it came on.
    let sent = vec![0x03, 0x04, 0xc0, 0x23, 0x05, 0x06, 0x11, 0x11, 0x11, 0x11];
    let recvd = vec![0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 0x22, 0x22, 0x22, 0x22];
    let link = PppoeLink {
        port: PortId(3),
        session: 0x1234,
        mac: [2, 0, 0, 0, 0, 0xaa],
        our_mac: [2, 0, 0, 0, 0, 1],
        vlan: Some(100),
    };
    s.subs.session_up(
        s.now,
        VR,
        SessionInfo {
            tunnel: 0,
            session: 1,
            peer_tunnel: 0,
            peer_session: 0,
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            local: Ipv4Addr::UNSPECIFIED,
            egress: None,
            counters: 9,
            calling_number: b"02:00:00:00:00:aa".to_vec(),
            proxy: Some(Box::new(ProxyInfo {
                initial_received_confreq: Some(recvd.clone()),
                last_sent_confreq: Some(sent),
                last_received_confreq: Some(recvd),
                authen_type: Some(3),
                authen_name: b"alice".to_vec(),
                authen_challenge: Vec::new(),
                authen_id: Some(7),
                authen_response: b"secret".to_vec(),
            })),
            pppoe: Some(link),
        },
    );
    let outs: Vec<Output> = s.subs.drain().collect();
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Packet { .. })),
        "nothing goes to an L2TP peer: {outs:?}"
    );
    // PPPoE session frames to the subscriber: Ethernet + 802.1Q 100 + PPPoE + PPP (no ff 03).
    let frames: Vec<&Vec<u8>> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Frame { port, frame } if *port == PortId(3) => Some(frame),
            _ => None,
        })
        .collect();
    assert!(!frames.is_empty());
    for f in &frames {
        assert_eq!(f[0..6], link.mac);
        assert_eq!(f[6..12], link.our_mac);
        assert_eq!(f[12..16], [0x81, 0x00, 0x00, 100]);
        assert_eq!(f[16..18], [0x88, 0x64]);
        assert_eq!(f[18..20], [0x11, 0x00]);
        assert_eq!(f[20..22], [0x12, 0x34]);
        assert_eq!(
            usize::from(u16::from_be_bytes([f[22], f[23]])),
            f.len() - 24
        );
    }
    let pap = frames
        .iter()
        .find(|f| f[24..26] == [0xc0, 0x23])
        .expect("PAP Ack");
    assert_eq!(
        (pap[26], pap[27]),
        (2, 7),
        "Authenticate-Ack with the proxied id"
    );
    assert_eq!(s.subs.stats().auth_accepts, 1);
    // IPCP: answer the LNS's request and ask for an address as a client would.
    let ipcp: Vec<u8> = frames
        .iter()
        .find(|f| f[24..26] == [0x80, 0x21] && f[26] == 1)
        .map(|f| f[24..].to_vec())
        .expect("IPCP Configure-Request");
    let mut ack = vec![0xff, 0x03];
    ack.extend_from_slice(&ipcp);
    ack[4] = 2; // Configure-Ack of its request
    s.subs.ppp_frame(s.now, VR, 0, 1, &ack, &|_| [0; 4]);
    // Our Configure-Request: address 0.0.0.0 (give me one).
    let req = [0xff, 0x03, 0x80, 0x21, 1, 9, 0, 10, 3, 6, 0, 0, 0, 0];
    s.subs.ppp_frame(s.now, VR, 0, 1, &req, &|_| [0; 4]);
    let outs: Vec<Output> = s.subs.drain().collect();
    let nak = outs.iter().find_map(|o| match o {
        Output::Frame { frame, .. } if frame[24..26] == [0x80, 0x21] && frame[26] == 3 => {
            Some(frame.clone())
        }
        _ => None,
    });
    let nak = nak.expect("Configure-Nak with alice's address");
    let addr = [nak[32], nak[33], nak[34], nak[35]];
    assert_eq!(addr, [100, 64, 0, 10], "alice's fixed address");
    let mut req2 = req.to_vec();
    req2[4] = 1;
    req2[5] = 10;
    req2[10..14].copy_from_slice(&addr);
    s.subs.ppp_frame(s.now, VR, 0, 1, &req2, &|_| [0; 4]);
    let outs: Vec<Output> = s.subs.drain().collect();
    let route = outs.iter().find_map(|o| match o {
        Output::Route {
            prefix,
            via: Some(nh),
            ..
        } if *prefix == host([100, 64, 0, 10]) => Some(*nh),
        _ => None,
    });
    match route {
        Some(NextHop::Pppoe(e)) => {
            assert_eq!(
                (e.port, e.vlan, e.dst_mac, e.session, e.counters),
                (PortId(3), Some(100), link.mac, 0x1234, 9)
            );
        }
        other => panic!("route into the PPPoE session expected, got {other:?} in {outs:?}"),
    }
}
