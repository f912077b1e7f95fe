//! The control core's mechanics with small services of the test's own: dispatch by punt
//! reason, UDP port and ICMPv4 type, conflicts, buffers back to their worker, frames and
//! routed packets out, neighbour misses of routed packets to the miss service, events,
//! timers, host sockets, publication of table changes.

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::{
    Core, CoreError, Ctx, Event, EventKind, IcmpKind, Interest, PuntView, Service, SocketId,
    ORIGINATED,
};
use dataplane::buffer::{HeapAlloc, HeapBuf, PacketBuf};
use dataplane::counters::Punt;
use dataplane::pipeline::PortInfo;
use dataplane::punt::{Inject, InjectRing, Offsets, PuntTo, Punted};
use vr::{
    IfBinding, IfKey, IpPrefix, LabelPush, NextHop, PortId, RouteSource, StateWriter,
    VirtualRouter, VpnId, VrId,
};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

#[derive(Default)]
struct Log {
    punts: Vec<(Punt, PortId, Option<VrId>, Vec<u8>)>,
    timers: Vec<u64>,
    events: Vec<Event>,
    datagrams: Vec<(SocketAddr, Vec<u8>)>,
}

/// Records what it gets; on an ARP punt sends a frame, on a local punt routes a packet
/// and raises an event; arms timers; echoes datagrams.
struct Recorder {
    name: &'static str,
    wants: Vec<Interest>,
    log: Log,
    sock: Option<SocketId>,
}

impl Recorder {
    fn new(name: &'static str, wants: Vec<Interest>) -> Self {
        Recorder {
            name,
            wants,
            log: Log::default(),
            sock: None,
        }
    }
}

impl Service for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn interests(&self) -> Vec<Interest> {
        self.wants.clone()
    }
    fn start(&mut self, cx: &mut Ctx<'_>) {
        cx.timer_at(7, cx.now + Duration::from_millis(5));
        cx.timer_at(8, cx.now + Duration::from_millis(1));
    }
    fn on_punt(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        self.log
            .punts
            .push((p.reason(), p.port, p.vr(), p.frame.to_vec()));
        match p.reason() {
            Punt::Arp => cx.send_frame(p.port, vec![0xaa; 20]),
            Punt::Local => {
                let vr = p.vr().unwrap();
                // To 10.0.0.9 (resolved) and 10.0.1.9 (unresolved: a miss).
                cx.route(vr, ipv4([10, 0, 0, 9]));
                cx.route(vr, ipv4([10, 0, 1, 9]));
                cx.emit(Event::IcmpError {
                    vr,
                    port: Some(p.port),
                    packet: p.ip().unwrap().to_vec(),
                    kind: IcmpKind::PortUnreachable,
                });
            }
            _ => {}
        }
    }
    fn on_timer(&mut self, _cx: &mut Ctx<'_>, token: u64) {
        self.log.timers.push(token);
    }
    fn on_event(&mut self, _cx: &mut Ctx<'_>, ev: &Event) {
        self.log.events.push(ev.clone());
    }
    fn on_datagram(&mut self, cx: &mut Ctx<'_>, sock: SocketId, from: SocketAddr, data: &[u8]) {
        self.log.datagrams.push((from, data.to_vec()));
        let mut reply = b"re:".to_vec();
        reply.extend_from_slice(data);
        cx.udp_send(sock, from, &reply).unwrap();
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("recorder_punts", self.log.punts.len() as u64)]
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The miss handler: only records (a second service type, to find it by type).
struct Misses(Recorder);

impl Service for Misses {
    fn name(&self) -> &'static str {
        "misses"
    }
    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest::Punt(Punt::NeighborMiss),
            Interest::LocalUdp(1812),
            Interest::Event(EventKind::IcmpError),
        ]
    }
    fn on_punt(&mut self, _cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        self.0
            .log
            .punts
            .push((p.reason(), p.port, p.vr(), p.frame.to_vec()));
    }
    fn on_event(&mut self, cx: &mut Ctx<'_>, ev: &Event) {
        self.0.on_event(cx, ev)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![]
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn ipv4(dst: [u8; 4]) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 0, 0, 0, 0, 0x30, 0x39, 0x00, 0x09,
        0, 8, 0, 0,
    ];
    p[16..20].copy_from_slice(&dst);
    let sum = !wire::checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p
}

fn frame(ip: &[u8]) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend([2, 0, 0, 0, 0, 9, 0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

struct Rig {
    core: Core<HeapBuf>,
    rings: Vec<Arc<InjectRing<HeapBuf>>>,
}

fn rig() -> Rig {
    let mut w = StateWriter::new(vec![MAC, MAC, MAC], 2);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "a",
        VpnId::new(1, 1).unwrap(),
        "t",
    ))
    .unwrap();
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    let p: IpPrefix = "10.0.0.0/24".parse().unwrap();
    w.set_route(
        VrId(1),
        p,
        RouteSource::Static,
        NextHop::Forward {
            port: PortId(1),
            vlan: None,
            src_mac: MAC,
            dst_mac: [2, 0, 0, 0, 0, 0x55],
            push: LabelPush::EMPTY,
        },
    )
    .unwrap();
    w.set_route(
        VrId(1),
        "10.0.1.0/24".parse().unwrap(),
        RouteSource::Static,
        NextHop::Unresolved {
            port: PortId(1),
            vlan: None,
            via: Ipv4Addr::new(10, 0, 1, 1).into(),
            push: LabelPush::EMPTY,
        },
    )
    .unwrap();
    let ports: Arc<[PortInfo]> = vec![
        PortInfo {
            mac: MAC,
            mtu: 1500
        };
        2
    ]
    .into();
    let rings: Vec<_> = (0..2).map(|_| Arc::new(InjectRing::new(64))).collect();
    let core = Core::new(
        w,
        ports,
        vec![true, true, false],
        rings.clone(),
        Box::new(HeapAlloc),
    );
    Rig { core, rings }
}

fn punted(reason: Punt, port: u16, worker: u16, ip_at: Option<usize>, f: &[u8]) -> Punted<HeapBuf> {
    let at = match ip_at {
        Some(ip) => Offsets {
            l4: (ip + 20) as u16,
            ..Offsets::ip(None, 14, ip)
        },
        None => Offsets::l3(None, 14),
    };
    Punted {
        to: PuntTo {
            reason,
            vr: Some(VrId(1)),
            at,
        },
        port: PortId(port),
        worker,
        buf: HeapBuf::from_slice(f).unwrap(),
    }
}

fn drain(r: &Arc<InjectRing<HeapBuf>>) -> (Vec<(PortId, Vec<u8>)>, usize) {
    let (mut tx, mut recycled) = (Vec::new(), 0);
    while let Some(i) = r.pop() {
        match i {
            Inject::Tx { port, buf } => tx.push((port, buf.data().to_vec())),
            Inject::Recycle(_) => recycled += 1,
        }
    }
    (tx, recycled)
}

#[test]
fn conflicting_registrations_are_refused_with_names() {
    let mut r = rig();
    r.core
        .add_service(Box::new(Recorder::new(
            "one",
            vec![Interest::Punt(Punt::Arp)],
        )))
        .unwrap();
    let e = r
        .core
        .add_service(Box::new(Recorder::new(
            "two",
            vec![Interest::Punt(Punt::Arp)],
        )))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "service `two` wants punts `arp`, which service `one` already handles"
    );
    r.core
        .add_service(Box::new(Misses(Recorder::new("m", vec![]))))
        .unwrap();
    assert!(matches!(
        r.core
            .add_service(Box::new(Recorder::new("x", vec![Interest::LocalUdp(1812)]))),
        Err(CoreError::Conflict { .. })
    ));
}

#[test]
fn punts_are_dispatched_answered_and_their_buffers_returned() {
    let mut r = rig();
    r.core
        .add_service(Box::new(Recorder::new(
            "rec",
            vec![Interest::Punt(Punt::Arp), Interest::Punt(Punt::Local)],
        )))
        .unwrap();
    r.core
        .add_service(Box::new(Misses(Recorder::new("m", vec![]))))
        .unwrap();
    let t0 = Instant::now();
    r.core.start(t0);

    // ARP from worker 1: answered with a frame (padded to 60), buffer back to worker 1.
    r.core
        .handle_punt(t0, punted(Punt::Arp, 0, 1, None, &frame(&[0; 28])));
    let (tx0, rec0) = drain(&r.rings[0]);
    let (tx1, rec1) = drain(&r.rings[1]);
    let sent: Vec<_> = tx0.into_iter().chain(tx1).collect();
    assert_eq!(
        sent,
        vec![(PortId(0), {
            let mut f = vec![0xaa; 20];
            f.resize(60, 0);
            f
        })]
    );
    assert_eq!((rec0, rec1), (0, 1));

    // A local UDP punt to port 1812 goes to the UDP-port owner, not the Local handler.
    let mut to_radius = ipv4([192, 0, 2, 1]);
    to_radius[22..24].copy_from_slice(&1812u16.to_be_bytes());
    r.core
        .handle_punt(t0, punted(Punt::Local, 0, 0, Some(14), &frame(&to_radius)));
    assert_eq!(r.core.service::<Misses>().unwrap().0.log.punts.len(), 1);
    assert_eq!(r.core.service::<Recorder>().unwrap().log.punts.len(), 1);

    // Another local punt: routes two packets (one sent on port 1, one a neighbour miss that
    // reaches the miss service as a punt from ORIGINATED) and raises an ICMP event.
    r.core.handle_punt(
        t0,
        punted(Punt::Local, 0, 0, Some(14), &frame(&ipv4([192, 0, 2, 1]))),
    );
    let (tx0, _) = drain(&r.rings[0]);
    let (tx1, _) = drain(&r.rings[1]);
    let routed: Vec<_> = tx0.into_iter().chain(tx1).collect();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].0, PortId(1));
    assert_eq!(&routed[0].1[0..6], &[2, 0, 0, 0, 0, 0x55]);
    assert_eq!(&routed[0].1[14 + 16..14 + 20], &[10, 0, 0, 9]);
    let m = &r.core.service::<Misses>().unwrap().0.log;
    let miss = m.punts.last().unwrap();
    assert_eq!(
        (miss.0, miss.1, miss.2),
        (Punt::NeighborMiss, ORIGINATED, Some(VrId(1)))
    );
    assert_eq!(&miss.3[14 + 16..14 + 20], &[10, 0, 1, 9]);
    assert_eq!(m.events.len(), 1);
    assert_eq!(r.core.stats.originated, 2);

    // Punts from a port that is not live are counted and released, not dispatched.
    r.core
        .handle_punt(t0, punted(Punt::Arp, 2, 0, None, &frame(&[0; 28])));
    assert_eq!(r.core.stats.not_live, 1);
    assert_eq!(drain(&r.rings[0]).1, 1);

    // A reason nobody handles is counted.
    r.core
        .handle_punt(t0, punted(Punt::PppControl, 0, 0, None, &frame(&[0; 28])));
    assert!(r
        .core
        .stat_lines()
        .contains(&("ppp_control_unhandled".to_string(), 1)));

    // Timers fire in order, once.
    assert_eq!(r.core.run_timers(t0), 0);
    assert_eq!(r.core.next_deadline(), Some(t0 + Duration::from_millis(1)));
    assert_eq!(r.core.run_timers(t0 + Duration::from_millis(10)), 2);
    assert_eq!(r.core.service::<Recorder>().unwrap().log.timers, vec![8, 7]);
    assert_eq!(r.core.run_timers(t0 + Duration::from_millis(20)), 0);
}

#[test]
fn table_changes_are_published_once_per_publish() {
    let mut r = rig();
    let v0 = r.core.state().version;
    assert!(!r.core.publish(), "nothing changed");
    r.core
        .writer_mut()
        .bind_interface(IfKey::Port(PortId(2)), IfBinding::Vr(VrId(1)))
        .unwrap();
    assert_eq!(r.core.state().version, v0, "not visible before publish");
    assert!(r.core.publish());
    let s = r.core.state();
    assert_eq!(s.version, v0 + 1);
    assert_eq!(
        s.interfaces.lookup_l2(PortId(2), None),
        Some(IfBinding::Vr(VrId(1)))
    );
    assert_eq!(r.core.stats.publications, 1);
}

#[test]
fn events_raised_from_outside_reach_only_interested_services() {
    let mut r = rig();
    r.core
        .add_service(Box::new(Recorder::new(
            "wants-transport",
            vec![Interest::Event(EventKind::TransportPath)],
        )))
        .unwrap();
    r.core
        .add_service(Box::new(Recorder::new(
            "wants-icmp",
            vec![Interest::Event(EventKind::IcmpError)],
        )))
        .unwrap();
    let ev = Event::TransportPath {
        router: Ipv4Addr::new(192, 0, 2, 9),
        path: Some(controlcore::TransportPath {
            label: Some(16001),
            port: PortId(1),
            via: Ipv4Addr::new(192, 0, 2, 2).into(),
        }),
    };
    r.core.raise(Instant::now(), ev.clone());
    assert_eq!(r.core.stats.events, 1);
    let t = r.core.service::<Recorder>().unwrap();
    assert_eq!(t.name, "wants-transport");
    assert_eq!(t.log.events, vec![ev]);
}

#[test]
fn host_sockets_carry_datagrams_to_their_service() {
    struct Opener(Recorder);
    impl Service for Opener {
        fn name(&self) -> &'static str {
            "opener"
        }
        fn interests(&self) -> Vec<Interest> {
            vec![]
        }
        fn start(&mut self, cx: &mut Ctx<'_>) {
            self.0.sock = Some(cx.udp_open("127.0.0.1:0".parse().unwrap()).unwrap());
        }
        fn on_datagram(&mut self, cx: &mut Ctx<'_>, s: SocketId, f: SocketAddr, d: &[u8]) {
            self.0.on_datagram(cx, s, f, d)
        }
        fn counters(&self) -> Vec<(&'static str, u64)> {
            vec![]
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }
    let mut r = rig();
    r.core
        .add_service(Box::new(Opener(Recorder::new("o", vec![]))))
        .unwrap();
    let t0 = Instant::now();
    r.core.start(t0);
    let sock = r.core.service::<Opener>().unwrap().0.sock.unwrap();
    let addr = r.core.sockets().local_addr(sock).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.send_to(b"hello", addr).unwrap();
    let mut got = 0;
    for _ in 0..500 {
        got += r.core.poll_sockets(Instant::now());
        if got > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(got, 1);
    let mut buf = [0u8; 64];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"re:hello");
    assert_eq!(from, addr);
    assert_eq!(
        r.core.service::<Opener>().unwrap().0.log.datagrams,
        vec![(peer.local_addr().unwrap(), b"hello".to_vec())]
    );
}

/// Takes one ICMPv4 type (a third service type, to find it by type).
struct IcmpType(Recorder);

impl Service for IcmpType {
    fn name(&self) -> &'static str {
        "icmp-type"
    }
    fn interests(&self) -> Vec<Interest> {
        self.0.wants.clone()
    }
    fn on_punt(&mut self, _cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        self.0
            .log
            .punts
            .push((p.reason(), p.port, p.vr(), p.frame.to_vec()));
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![]
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An ICMPv4 message of `ty` to `dst`, with `opts` bytes of IP options and the fragment
/// field `frag`.
fn icmp4(dst: [u8; 4], ty: u8, opts: usize, frag: u16) -> Vec<u8> {
    let hl = 20 + opts;
    let mut p = vec![0u8; hl + 8];
    p[0] = 0x40 | (hl / 4) as u8;
    p[2..4].copy_from_slice(&((hl + 8) as u16).to_be_bytes());
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 1;
    p[9] = 1;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&dst);
    if opts > 0 {
        p[20..24].copy_from_slice(&[0x94, 4, 0, 0]); // Router Alert, then NOPs
        p[24..hl].fill(1);
    }
    p[hl] = ty;
    p
}

#[test]
fn local_icmp4_goes_to_the_owner_of_its_type_the_rest_to_the_local_owner() {
    let mut r = rig();
    r.core
        .add_service(Box::new(Recorder::new(
            "rec",
            vec![Interest::Punt(Punt::Local)],
        )))
        .unwrap();
    r.core
        .add_service(Box::new(IcmpType(Recorder::new(
            "sol",
            vec![Interest::LocalIcmp4(10)],
        ))))
        .unwrap();
    // A second owner of type 10 is refused, with what it wanted.
    let e = r
        .core
        .add_service(Box::new(IcmpType(Recorder::new(
            "sol2",
            vec![Interest::LocalIcmp4(10)],
        ))))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "service `icmp-type` wants ICMPv4 type 10 to VR addresses, which service `icmp-type` already handles"
    );
    let t0 = Instant::now();
    r.core.start(t0);
    let got = |r: &Rig| {
        (
            r.core.service::<IcmpType>().unwrap().0.log.punts.len(),
            r.core.service::<Recorder>().unwrap().log.punts.len(),
        )
    };
    // An Agent Solicitation to 224.0.0.11: to the type's owner; with IP options too.
    for opts in [0, 4, 8] {
        let ip = icmp4([224, 0, 0, 11], 10, opts, 0);
        r.core
            .handle_punt(t0, punted(Punt::Local, 0, 0, Some(14), &frame(&ip)));
    }
    assert_eq!(got(&r), (3, 0));
    // An echo request: the owner of the local punts.
    let ip = icmp4([192, 0, 2, 1], 8, 0, 0);
    r.core
        .handle_punt(t0, punted(Punt::Local, 0, 0, Some(14), &frame(&ip)));
    assert_eq!(got(&r), (3, 1));
    // A later fragment carries no ICMP header: not read as one.
    let ip = icmp4([224, 0, 0, 11], 10, 0, 0x0010);
    r.core
        .handle_punt(t0, punted(Punt::Local, 0, 0, Some(14), &frame(&ip)));
    assert_eq!(got(&r), (3, 2));
    // Cut before the type: the local owner, no panic.
    let ip = icmp4([224, 0, 0, 11], 10, 0, 0);
    r.core
        .handle_punt(t0, punted(Punt::Local, 0, 0, Some(14), &frame(&ip[..20])));
    assert_eq!(got(&r), (3, 3));
}
