//! The peering engine against a hand-driven peer: a plain L2TP engine that speaks the
//! channel's messages itself (`vpnpeer::wire`), so that it can also send what a correct
//! engine never would — malformed updates, messages of another VPN, updates before
//! authentication, a wrong CHAP response. The engine's RADIUS server is the simulation's
//! CHAP-checking one.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use controlplane::l2tp::engine as l2tp;
use controlplane::l2tp::wire::{Avp, AvpValue};
use controlplane::ppp::auth::chap_md5_response;
use controlplane::radius::client::{self, Client};
use controlplane::vpnpeer::engine::{Config, Engine, Event, Transmit};
use controlplane::vpnpeer::sim::{SimRadius, RADIUS_SECRET};
use controlplane::vpnpeer::wire::{self, IpPrefix, Message, RouteOp, MESSAGE_TYPE, VENDOR_ID};
use controlplane::vpnpeer::RadiusAuthenticator;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vr::Prefix4;

const VPN: u32 = 7;
const SECRET: &[u8] = b"vpn seven";
const A_RID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 9);
const B_RID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);

fn a_addr() -> SocketAddr {
    "10.0.0.9:1701".parse().unwrap()
}
fn b_addr() -> SocketAddr {
    "10.0.0.1:1701".parse().unwrap()
}

struct Lab {
    now: Instant,
    a: Engine<StdRng, RadiusAuthenticator>,
    b: l2tp::Engine<StdRng>,
    srv: SimRadius,
    a_events: Vec<Event>,
    b_msgs: Vec<Message>,
    b_events: Vec<l2tp::Event>,
    tunnel: Option<u16>,
}

impl Lab {
    fn new() -> Lab {
        let raddr: SocketAddr = "10.1.0.9:1812".parse().unwrap();
        let mut rc = client::Config::new("a");
        rc.auth_servers.push(client::Server {
            addr: raddr,
            secret: RADIUS_SECRET.to_vec(),
        });
        let mut a = Engine::new(
            Config::new(A_RID),
            StdRng::seed_from_u64(1),
            RadiusAuthenticator::new(Client::new(rc, 2)),
        );
        a.add_vr(VPN, SECRET);
        let now = Instant::now();
        a.add_peer(now, VPN, B_RID, b_addr()).unwrap();
        let mut srv = SimRadius::new(raddr, RADIUS_SECRET);
        srv.add_user(&format!("{VPN}/{B_RID}"), SECRET);
        let mut bc = l2tp::Config::new(l2tp::Role::Lac, "b");
        bc.deliver_unknown_messages = true;
        bc.tie_breaker = false;
        let b = l2tp::Engine::new(bc, StdRng::seed_from_u64(3));
        Lab {
            now,
            a,
            b,
            srv,
            a_events: Vec::new(),
            b_msgs: Vec::new(),
            b_events: Vec::new(),
            tunnel: None,
        }
    }

    /// Moves datagrams until nothing moves, then lets 100 ms pass (delayed acks), `n` times.
    fn run(&mut self, n: usize) {
        for _ in 0..n {
            loop {
                let mut moved = false;
                while let Some(t) = self.a.poll_transmit() {
                    moved = true;
                    match t {
                        Transmit::L2tp { bytes, .. } => {
                            self.b.handle_input(self.now, a_addr(), &bytes)
                        }
                        Transmit::Auth(t) => {
                            // The RADIUS client's socket `t.socket` of router A.
                            let src = SocketAddr::new(a_addr().ip(), 18000 + t.socket as u16);
                            if let Some(ans) = self.srv.answer(self.now, src, &t.payload) {
                                self.a
                                    .handle_auth_input(self.now, t.socket, self.srv.addr, &ans);
                            }
                        }
                    }
                }
                while let Some(t) = self.b.poll_transmit() {
                    moved = true;
                    self.a.handle_input(self.now, b_addr(), &t.bytes);
                }
                while let Some(e) = self.a.poll_event() {
                    self.a_events.push(e);
                }
                while let Some(e) = self.b.poll_event() {
                    match e {
                        l2tp::Event::Message { avps, .. } => self
                            .b_msgs
                            .push(wire::decode(&avps).expect("engine sends valid messages").0),
                        l2tp::Event::TunnelUp { tunnel, .. } => {
                            self.tunnel = Some(tunnel);
                            self.b_events.push(e);
                        }
                        e => self.b_events.push(e),
                    }
                }
                if !moved {
                    break;
                }
            }
            self.now += Duration::from_millis(100);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }

    fn b_send(&mut self, avps: Vec<Avp>) {
        let t = self.tunnel.expect("tunnel up");
        self.b
            .send_optional_message(self.now, t, MESSAGE_TYPE, avps)
            .unwrap();
        self.run(3);
    }

    fn b_send_msg(&mut self, m: &Message) {
        self.b_send(wire::encode(m).unwrap());
    }

    /// B opens, sends Open and answers A's challenge with `secret`.
    fn authenticate(&mut self, secret: &[u8]) {
        self.b.open_tunnel(self.now, a_addr()).unwrap();
        self.run(3);
        self.b_send_msg(&Message::Open {
            vpn_id: VPN,
            router_id: B_RID,
            challenge: vec![0x42; 16],
        });
        let ch = self
            .b_msgs
            .iter()
            .find_map(|m| match m {
                Message::Open { challenge, .. } => Some(challenge.clone()),
                _ => None,
            })
            .expect("A sent its Open");
        // A answered our challenge with the VPN secret.
        let want = chap_md5_response(0x42, SECRET, &[0x42; 16]);
        assert!(self.b_msgs.iter().any(|m| matches!(m,
            Message::AuthResponse { vpn_id: VPN, router_id, chap_id: 0x42, response } if *router_id == A_RID && *response == want)));
        self.b_send_msg(&Message::AuthResponse {
            vpn_id: VPN,
            router_id: B_RID,
            chap_id: ch[0],
            response: chap_md5_response(ch[0], secret, &ch),
        });
    }

    fn update(&mut self, routes: Vec<RouteOp>) {
        let m = Message::Update {
            vpn_id: VPN,
            router_id: B_RID,
            routes,
            end_of_rib: true,
        };
        self.b_send_msg(&m);
    }
}

fn route(n: u8, label: u32) -> RouteOp {
    RouteOp {
        prefix: IpPrefix::V4(Prefix4::new(u32::from_be_bytes([192, 168, n, 0]), 24).unwrap()),
        label,
        withdraw: false,
    }
}

#[test]
fn hostile_peer_messages_are_dropped_and_counted() {
    let mut lab = Lab::new();
    lab.authenticate(SECRET);
    assert!(lab
        .b_msgs
        .iter()
        .any(|m| matches!(m, Message::AuthAccept { vpn_id: VPN, .. })));
    // An update before we accepted A is ignored (the engine is not up yet).
    lab.update(vec![route(1, 100)]);
    assert_eq!(lab.a.counters().unexpected_messages, 1);
    assert!(lab.a.routes_from(VPN, B_RID).unwrap().is_empty());
    lab.b_send_msg(&Message::AuthAccept {
        vpn_id: VPN,
        router_id: B_RID,
    });
    assert!(lab.a.peer_is_up(VPN, B_RID));
    // A's full exchange: no routes, only END-OF-RIB.
    assert!(lab.b_msgs.iter().any(
        |m| matches!(m, Message::Update { routes, end_of_rib: true, .. } if routes.is_empty())
    ));

    lab.update(vec![route(1, 100)]);
    assert_eq!(lab.a.routes_from(VPN, B_RID).unwrap().len(), 1);
    assert!(lab.a_events.contains(&Event::Install {
        vpn_id: VPN,
        prefix: route(1, 100).prefix,
        vpn_label: 100,
        via: B_RID
    }));

    // Malformed: a truncated route entry.
    let mut bad = wire::encode(&Message::AuthAccept {
        vpn_id: VPN,
        router_id: B_RID,
    })
    .unwrap();
    bad[0] = Avp::o(AvpValue::Unknown {
        vendor: VENDOR_ID,
        attr: wire::attr::KIND,
        data: vec![4],
    });
    bad.push(Avp::o(AvpValue::Unknown {
        vendor: VENDOR_ID,
        attr: wire::attr::ROUTES_V4,
        data: vec![0, 24, 0, 6],
    }));
    lab.b_send(bad);
    assert_eq!(lab.a.counters().malformed_messages, 1);

    // Another VPN's update on this channel.
    lab.b_send_msg(&Message::Update {
        vpn_id: VPN + 1,
        router_id: B_RID,
        routes: vec![route(2, 200)],
        end_of_rib: false,
    });
    assert_eq!(lab.a.counters().unexpected_messages, 2);
    // Still up, still one route, the L2TP channel intact.
    assert!(lab.a.peer_is_up(VPN, B_RID));
    assert_eq!(lab.a.routes_from(VPN, B_RID).unwrap().len(), 1);
    // A withdraw works.
    lab.update(vec![RouteOp {
        withdraw: true,
        ..route(1, 0)
    }]);
    assert!(lab.a.routes_from(VPN, B_RID).unwrap().is_empty());
    assert_eq!(lab.a.counters().withdraws_rx, 1);

    // An AVP with the M bit set that nobody knows: RFC 2661 §4.1 — the L2TP engine clears
    // the tunnel before our decoder sees the message; the peer is held like a lost one.
    lab.update(vec![route(3, 300)]);
    let mut m = wire::encode(&Message::AuthAccept {
        vpn_id: VPN,
        router_id: B_RID,
    })
    .unwrap();
    m.push(Avp::m(AvpValue::Unknown {
        vendor: VENDOR_ID,
        attr: 200,
        data: vec![],
    }));
    lab.b_send(m);
    assert_eq!(lab.a.l2tp_counters().unknown_mandatory_avp, 1);
    assert!(!lab.a.peer_is_up(VPN, B_RID));
    assert!(lab.a.peer_is_held(VPN, B_RID));
    assert_eq!(lab.a.routes_from(VPN, B_RID).unwrap().len(), 1);
}

#[test]
fn wrong_chap_response_is_refused_with_stopccn_result_4() {
    let mut lab = Lab::new();
    lab.authenticate(b"a guess");
    assert_eq!(lab.a.counters().auth_rejects, 1);
    assert_eq!(lab.srv.counters().rejects, 1);
    assert!(lab.a_events.contains(&Event::AuthRejected {
        vpn_id: VPN,
        router: B_RID
    }));
    assert!(lab.b_events.iter().any(|e| matches!(
        e,
        l2tp::Event::TunnelDown {
            reason: l2tp::DownReason::Peer { result: 4, .. },
            ..
        }
    )));
    assert!(!lab
        .b_msgs
        .iter()
        .any(|m| matches!(m, Message::AuthAccept { .. })));
    // A does not retry a refused peer (B has the lower id anyway) and holds no channel.
    lab.run(100);
    assert!(!lab.a.peer_is_up(VPN, B_RID));
}

#[test]
fn open_for_an_unknown_vpn_is_refused() {
    let mut lab = Lab::new();
    lab.b.open_tunnel(lab.now, a_addr()).unwrap();
    lab.run(3);
    lab.b_send_msg(&Message::Open {
        vpn_id: 99,
        router_id: B_RID,
        challenge: vec![1; 16],
    });
    assert_eq!(lab.a.counters().unknown_peer, 1);
    assert!(lab.b_events.iter().any(|e| matches!(
        e,
        l2tp::Event::TunnelDown {
            reason: l2tp::DownReason::Peer { result: 4, .. },
            ..
        }
    )));
}

#[test]
fn local_update_is_all_or_nothing_and_the_full_exchange_carries_it() {
    let mut lab = Lab::new();
    let now = lab.now;
    assert!(matches!(
        lab.a.update(now, VPN, &[route(4, 400), route(6, 3)]),
        Err(controlplane::vpnpeer::Error::Wire(
            wire::WireError::LabelOutOfRange(3)
        ))
    ));
    assert!(matches!(
        lab.a.update(now, 99, &[route(4, 400)]),
        Err(controlplane::vpnpeer::Error::UnknownVpn(99))
    ));
    lab.a.update(now, VPN, &[route(5, 500)]).unwrap();
    lab.authenticate(SECRET);
    lab.b_send_msg(&Message::AuthAccept {
        vpn_id: VPN,
        router_id: B_RID,
    });
    let sent: Vec<RouteOp> = lab
        .b_msgs
        .iter()
        .filter_map(|m| match m {
            Message::Update { routes, .. } => Some(routes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sent, vec![route(5, 500)]);
    assert_eq!(lab.a.counters().routes_tx, 1);
}
