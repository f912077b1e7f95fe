//! The discovery service on two real control cores (host sockets on 127.0.0.1:18246–18247,
//! a third socket on 18248 as an intruder): map changes reach another service as
//! `controlcore::Event::VrPeer` (where the L2TP control channels will plug in), a VR removed
//! raises `down` on both sides, a datagram from the wrong source is counted and ignored, a VR
//! of a VPN without a key is listed with the reason and not announced.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::{Core, Ctx, Event, EventKind, Interest, Service};
use controlplane::discovery::engine::Config;
use controlplane::discovery::service::{DiscoveryService, LocalVr, ServiceConfig};
use dataplane::buffer::{HeapAlloc, HeapBuf};
use dataplane::pipeline::PortInfo;
use dataplane::punt::InjectRing;
use vr::{StateWriter, VrId};

const PORT_A: u16 = 18246;
const PORT_B: u16 = 18247;
const PORT_X: u16 = 18248;
const SECRET: &[u8] = b"secret of VPN 100, 32 bytes long";

fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, n)
}

fn lo(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Keeps the VrPeer events it receives.
#[derive(Default)]
struct Channels {
    events: Vec<Event>,
}

impl Service for Channels {
    fn name(&self) -> &'static str {
        "channels"
    }
    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Event(EventKind::VrPeer)]
    }
    fn on_event(&mut self, _cx: &mut Ctx<'_>, ev: &Event) {
        self.events.push(ev.clone());
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn core(me: u8, port: u16, vrs: Vec<LocalVr>) -> Core<HeapBuf> {
    let w = StateWriter::new(vec![[2, 0, 0, 0, 0, me]], 1);
    let ports: Arc<[PortInfo]> = vec![PortInfo {
        mac: [2, 0, 0, 0, 0, me],
        mtu: 1500,
    }]
    .into();
    let mut c = Core::new(
        w,
        ports,
        vec![false],
        vec![Arc::new(InjectRing::new(16))],
        Box::new(HeapAlloc),
    );
    let mut engine = Config::new(rid(me), vec![rid(1), rid(2)], 1_000 * me as u64);
    engine.rto_initial = Duration::from_millis(50);
    engine.rto_max = Duration::from_millis(200);
    engine.refresh = None;
    let cfg = ServiceConfig {
        engine,
        listen: lo(port),
        reach: BTreeMap::from([(rid(1), lo(PORT_A)), (rid(2), lo(PORT_B))]),
        keys: vec![(100, SECRET.to_vec())],
    };
    c.add_service(Box::new(DiscoveryService::new(cfg, vrs).unwrap()))
        .unwrap();
    c.add_service(Box::new(Channels::default())).unwrap();
    c
}

fn vr(id: u32, vpn: u32, addr: &str) -> LocalVr {
    LocalVr {
        vr: VrId(id),
        vpn_id: vpn,
        addr: Some(addr.parse().unwrap()),
    }
}

/// Runs both cores' sockets and timers until `done` or 5 s.
fn run(cores: &mut [&mut Core<HeapBuf>], mut done: impl FnMut(&[&mut Core<HeapBuf>]) -> bool) {
    let t0 = Instant::now();
    while !done(cores) {
        assert!(t0.elapsed() < Duration::from_secs(5), "no convergence");
        for c in cores.iter_mut() {
            let now = Instant::now();
            c.poll_sockets(now);
            c.run_timers(now);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn peers(c: &Core<HeapBuf>, vr: u32) -> Vec<(Ipv4Addr, IpAddr)> {
    c.service::<DiscoveryService>()
        .unwrap()
        .map(VrId(vr), Instant::now())
        .map(|m| m.peers.iter().map(|p| (p.router, p.addr)).collect())
        .unwrap_or_default()
}

fn events(c: &Core<HeapBuf>) -> Vec<Event> {
    c.service::<Channels>().unwrap().events.clone()
}

fn counter(c: &Core<HeapBuf>, name: &str) -> u64 {
    c.service::<DiscoveryService>()
        .unwrap()
        .counters()
        .into_iter()
        .find(|(k, _)| *k == name)
        .unwrap()
        .1
}

#[test]
fn map_changes_are_events_for_other_services() {
    let mut a = core(
        1,
        PORT_A,
        vec![vr(5, 100, "10.0.0.1"), vr(6, 999, "10.9.0.1")],
    );
    let mut b = core(2, PORT_B, vec![vr(7, 100, "10.0.0.2")]);
    let now = Instant::now();
    a.start(now);
    b.start(now);

    // VR 6's VPN has no key: listed with the reason, not announced.
    let m = a
        .service::<DiscoveryService>()
        .unwrap()
        .map(VrId(6), now)
        .unwrap();
    assert_eq!(m.state, "VPN 999 has no discovery key");
    assert_eq!(counter(&a, "discovery_vr_refused"), 1);

    run(&mut [&mut a, &mut b], |c| {
        !peers(c[0], 5).is_empty() && !peers(c[1], 7).is_empty()
    });
    assert_eq!(peers(&a, 5), vec![(rid(2), "10.0.0.2".parse().unwrap())]);
    assert_eq!(peers(&b, 7), vec![(rid(1), "10.0.0.1".parse().unwrap())]);
    let up = |vr: u32, router: u8, addr: &str| Event::VrPeer {
        vr: VrId(vr),
        vpn_id: 100,
        router: rid(router),
        addr: addr.parse().unwrap(),
        up: true,
    };
    assert_eq!(events(&a), vec![up(5, 2, "10.0.0.2")]);
    assert_eq!(events(&b), vec![up(7, 1, "10.0.0.1")]);

    // A datagram naming router 2 as sender, from elsewhere: counted, not given to the engine.
    let x = UdpSocket::bind(lo(PORT_X)).unwrap();
    let mut forged = [0u8; 62];
    forged[0] = 1; // version
    forged[1] = 1; // addition
    forged[2..4].copy_from_slice(&62u16.to_be_bytes());
    forged[12..16].copy_from_slice(&rid(2).octets());
    x.send_to(&forged, lo(PORT_A)).unwrap();
    run(&mut [&mut a, &mut b], |c| {
        counter(c[0], "discovery_rx_wrong_source") == 1
    });
    assert_eq!(counter(&a, "discovery_rx_malformed"), 0);
    assert_eq!(counter(&a, "discovery_rx_bad_auth"), 0);

    // VR 5 goes: `down` for its own map entry at once, and router 2 learns the withdrawal.
    let lines = a
        .with_service::<DiscoveryService, _>(Instant::now(), |s, cx| {
            s.configure(cx, vec![vr(6, 999, "10.9.0.1")])
        })
        .unwrap();
    assert_eq!(
        lines,
        vec!["discovery: VR 5 of VPN 100 withdrawn".to_string()]
    );
    let down = |vr: u32, router: u8, addr: &str| Event::VrPeer {
        vr: VrId(vr),
        vpn_id: 100,
        router: rid(router),
        addr: addr.parse().unwrap(),
        up: false,
    };
    assert_eq!(events(&a)[1..], [down(5, 2, "10.0.0.2")]);
    run(&mut [&mut a, &mut b], |c| peers(c[1], 7).is_empty());
    assert_eq!(events(&b)[1..], [down(7, 1, "10.0.0.1")]);
    assert!(a
        .service::<DiscoveryService>()
        .unwrap()
        .map(VrId(5), Instant::now())
        .is_none());
}
