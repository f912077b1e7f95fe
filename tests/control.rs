//! The control core with the profile's services (ARP/ND, ICMP, L2TP) and no port: punted
//! frames in, injected frames and published table versions out. Uses the lab's PE1 profile
//! (configs/lab/pe1.yaml).

use controlcore::Core;
use controlplane::icmp::service::IcmpService;
use controlplane::neighbor::service::NeighborService;
use controlplane::packet::{ethernet, ipv4, l2_split};
use dataplane::buffer::{HeapAlloc, HeapBuf, PacketBuf};
use dataplane::counters::Punt;
use dataplane::pipeline::PortInfo;
use dataplane::punt::{Inject, InjectRing, Offsets, PuntTo, Punted};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{NextHop, PortId, VrId};
use wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, Icmpv4Packet, Icmpv4Repr,
    IpProtocol, Ipv4Packet,
};

const A1_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x01];
const P_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0x02];
const TO_A1: PortId = PortId(0);
const CORE: PortId = PortId(2);

struct Rig {
    core: Core<HeapBuf>,
    ring: Arc<InjectRing<HeapBuf>>,
    ports: Arc<[PortInfo]>,
    t0: Instant,
}

fn rig() -> Rig {
    let cfg =
        varouter::load_config(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/lab/pe1.yaml"))
            .expect("lab profile checks");
    let writer = varouter::appliance::initial_state(&cfg, 1).unwrap();
    let ports: Arc<[PortInfo]> = cfg
        .ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: 1500,
        })
        .collect();
    let ring = Arc::new(InjectRing::new(256));
    let t0 = Instant::now();
    let mut core = Core::new(
        writer,
        ports.clone(),
        vec![true; cfg.ports.len()],
        vec![ring.clone()],
        Box::new(HeapAlloc),
    );
    for s in varouter::services::services(&cfg, t0) {
        core.add_service(s).unwrap();
    }
    core.start(t0);
    core.publish();
    Rig {
        core,
        ring,
        ports,
        t0,
    }
}

/// Frames sent, with their port (recycled buffers are skipped).
fn sent(r: &Rig) -> Vec<(PortId, Vec<u8>)> {
    std::iter::from_fn(|| r.ring.pop())
        .filter_map(|i| match i {
            Inject::Tx { port, buf } => Some((port, buf.data().to_vec())),
            Inject::Recycle(_) => None,
        })
        .collect()
}

fn arp_of(f: &[u8]) -> Option<ArpRepr> {
    let (et, _, off) = l2_split(f)?;
    (et == 0x0806).then(|| ArpRepr::parse(&ArpPacket::new_checked(&f[off..]).ok()?).ok())?
}

fn arp_frame(
    op: ArpOperation,
    smac: [u8; 6],
    sip: Ipv4Addr,
    dmac: [u8; 6],
    tip: Ipv4Addr,
) -> HeapBuf {
    let r = ArpRepr {
        operation: op,
        source_hardware_addr: EthernetAddress(smac),
        source_protocol_addr: sip,
        target_hardware_addr: EthernetAddress(if op == ArpOperation::Reply {
            dmac
        } else {
            [0; 6]
        }),
        target_protocol_addr: tip,
    };
    let mut b = [0u8; 28];
    r.emit(&mut ArpPacket::new_unchecked(&mut b[..]));
    HeapBuf::from_slice(&ethernet(dmac, smac, None, EtherType::Arp, &b)).unwrap()
}

/// Hands a frame to the core as a worker would punt it, with the header offsets a worker
/// finds (Ethernet/VLAN, then ARP or IP; for IPv4 the transport header after the IHL).
fn punt(r: &mut Rig, at: Duration, reason: Punt, port: PortId, vr: Option<u32>, buf: HeapBuf) {
    let (et, vlan, l3) = l2_split(buf.data()).unwrap();
    let mut off = Offsets::l3(vlan, l3);
    if et == 0x0800 || et == 0x86dd {
        off.ip = l3 as u16;
    }
    if et == 0x0800 {
        off.l4 = (l3 + usize::from(buf.data()[l3] & 0x0f) * 4) as u16;
    }
    r.core.handle_punt(
        r.t0 + at,
        Punted {
            to: PuntTo {
                reason,
                vr: vr.map(VrId),
                at: off,
            },
            port,
            worker: 0,
            buf,
        },
    );
}

/// Runs due timers and publishes, as one loop iteration of the core would.
fn tick(r: &mut Rig, at: Duration) {
    r.core.run_timers(r.t0 + at);
    r.core.publish();
}

#[test]
fn start_announces_addresses_and_resolves_static_next_hops() {
    let r = rig();
    let out = sent(&r);
    let arps: Vec<_> = out
        .iter()
        .filter_map(|(p, f)| arp_of(f).map(|a| (*p, a)))
        .collect();
    assert!(
        arps.iter().any(|(p, a)| *p == TO_A1
            && a.source_protocol_addr == a.target_protocol_addr
            && a.source_protocol_addr == Ipv4Addr::new(10, 1, 0, 1)),
        "gratuitous ARP for VR A's address"
    );
    assert!(
        arps.iter().any(|(p, a)| *p == CORE
            && a.target_protocol_addr == Ipv4Addr::new(192, 0, 2, 2)
            && a.source_protocol_addr == Ipv4Addr::new(192, 0, 2, 1)),
        "ARP request for the P router (static labelled next hop)"
    );
    let na = out.iter().filter(|(_, f)| f[0..2] == [0x33, 0x33]).count();
    assert!(na >= 2, "unsolicited NA for fd00:1::1 in A and B");
}

#[test]
fn arp_reply_from_the_core_publishes_the_labelled_next_hop() {
    let mut r = rig();
    sent(&r);
    let before = r.core.stats.publications;
    let reply = arp_frame(
        ArpOperation::Reply,
        P_MAC,
        Ipv4Addr::new(192, 0, 2, 2),
        r.ports[2].mac,
        Ipv4Addr::new(192, 0, 2, 1),
    );
    punt(
        &mut r,
        Duration::from_millis(5),
        Punt::Arp,
        CORE,
        None,
        reply,
    );
    tick(&mut r, Duration::from_millis(10));
    assert_eq!(
        r.core.stats.publications,
        before + 1,
        "one new version published"
    );
    // A1 pings A2: the new version routes it to P with [16001, 2001] (checked with originate).
    let ping = ipv4(
        Ipv4Addr::new(10, 1, 0, 2),
        Ipv4Addr::new(10, 2, 0, 2),
        IpProtocol::Icmp,
        64,
        &[8, 0, 0xf7, 0xff, 0, 0, 0, 0],
    );
    let st = varouter_state(&r);
    let mut b = HeapBuf::from_slice(&ping).unwrap();
    let c = dataplane::counters::WorkerCounters::new(0, 3);
    let v = dataplane::pipeline::originate(&st, &r.ports, VrId(1), &mut b, &c);
    assert_eq!(v, dataplane::pipeline::Verdict::Tx(CORE));
    assert_eq!(
        &b.data()[0..6],
        &P_MAC,
        "resolved MAC in the published table"
    );
    assert_eq!(&b.data()[12..14], &[0x88, 0x47]);
}

fn varouter_state(r: &Rig) -> Arc<vr::ForwardingState> {
    r.core.state()
}

#[test]
fn answers_arp_and_ping_for_the_vr_address() {
    let mut r = rig();
    sent(&r);
    let req = arp_frame(
        ArpOperation::Request,
        A1_MAC,
        Ipv4Addr::new(10, 1, 0, 2),
        [0xff; 6],
        Ipv4Addr::new(10, 1, 0, 1),
    );
    punt(&mut r, Duration::ZERO, Punt::Arp, TO_A1, Some(1), req);
    let out = sent(&r);
    let (p, f) = &out[0];
    assert_eq!(*p, TO_A1);
    let a = arp_of(f).unwrap();
    assert_eq!(a.operation, ArpOperation::Reply);
    assert_eq!(&f[0..6], &A1_MAC);

    // Echo request to 10.1.0.1 punted as local: the reply goes back to A1, whose MAC the
    // control core learned from its request (it then probes it, RFC 4861 STALE → PROBE).
    let echo = Icmpv4Repr::EchoRequest {
        ident: 9,
        seq_no: 1,
        data: b"abc",
    };
    let mut icmp = vec![0u8; echo.buffer_len()];
    echo.emit(&mut Icmpv4Packet::new_unchecked(&mut icmp[..]));
    let ip = ipv4(
        Ipv4Addr::new(10, 1, 0, 2),
        Ipv4Addr::new(10, 1, 0, 1),
        IpProtocol::Icmp,
        64,
        &icmp,
    );
    let frame = HeapBuf::from_slice(&ethernet(
        r.ports[0].mac,
        A1_MAC,
        None,
        EtherType::Ipv4,
        &ip,
    ))
    .unwrap();
    punt(
        &mut r,
        Duration::from_millis(1),
        Punt::Local,
        TO_A1,
        Some(1),
        frame,
    );
    let out = sent(&r);
    let (p, f) = out
        .iter()
        .find(|(_, f)| f[12..14] == [0x08, 0x00])
        .expect("the echo reply is sent");
    assert_eq!(*p, TO_A1);
    assert_eq!(
        &f[0..6],
        &A1_MAC,
        "learned MAC reused for the reply (the request made it a neighbor)"
    );
    let ipr = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ipr.dst_addr(), Ipv4Addr::new(10, 1, 0, 2));
    assert_eq!(ipr.src_addr(), Ipv4Addr::new(10, 1, 0, 1));
    let ic = Icmpv4Packet::new_checked(ipr.payload()).unwrap();
    assert!(matches!(
        Icmpv4Repr::parse(&ic).unwrap(),
        Icmpv4Repr::EchoReply {
            ident: 9,
            seq_no: 1,
            ..
        }
    ));
    assert_eq!(
        r.core.service::<IcmpService>().unwrap().stats.echo_replies,
        1
    );
}

#[test]
fn neighbor_miss_queues_then_releases_and_gleans_a_host_route() {
    let mut r = rig();
    sent(&r);
    // A packet for 10.1.0.7 on VR A's subnet, rewritten by a worker except the dst MAC.
    let ip = ipv4(
        Ipv4Addr::new(10, 2, 0, 2),
        Ipv4Addr::new(10, 1, 0, 7),
        IpProtocol::Udp,
        60,
        &[0; 12],
    );
    let f = ethernet([0; 6], r.ports[0].mac, None, EtherType::Ipv4, &ip);
    punt(
        &mut r,
        Duration::ZERO,
        Punt::NeighborMiss,
        CORE,
        Some(1),
        HeapBuf::from_slice(&f).unwrap(),
    );
    let out = sent(&r);
    assert_eq!(out.len(), 1, "only the ARP request; the packet waits");
    let q = arp_of(&out[0].1).unwrap();
    assert_eq!(
        (out[0].0, q.target_protocol_addr),
        (TO_A1, Ipv4Addr::new(10, 1, 0, 7))
    );
    let host = [0x02, 0xaa, 0, 0, 0, 0x07];
    let reply = arp_frame(
        ArpOperation::Reply,
        host,
        Ipv4Addr::new(10, 1, 0, 7),
        r.ports[0].mac,
        Ipv4Addr::new(10, 1, 0, 1),
    );
    punt(
        &mut r,
        Duration::from_millis(3),
        Punt::Arp,
        TO_A1,
        Some(1),
        reply,
    );
    let out = sent(&r);
    assert_eq!(out.len(), 1, "the queued packet is released");
    assert_eq!(&out[0].1[0..6], &host);
    assert_eq!(
        &out[0].1[14..14 + ip.len()],
        &ip[..],
        "(padded to 60 bytes)"
    );
    tick(&mut r, Duration::from_millis(10));
    let st = r.core.state();
    let fib = st.vr(VrId(1)).unwrap();
    let nh = fib.lookup4(u32::from(Ipv4Addr::new(10, 1, 0, 7))).unwrap();
    assert!(
        matches!(st.next_hop(nh), Some(NextHop::Forward { dst_mac, .. }) if *dst_mac == host),
        "host route published"
    );
    // VR B has the same subnet and learned nothing.
    let fib_b = st.vr(VrId(2)).unwrap();
    let nh_b = fib_b
        .lookup4(u32::from(Ipv4Addr::new(10, 1, 0, 7)))
        .unwrap();
    assert!(
        matches!(st.next_hop(nh_b), Some(NextHop::Unresolved { .. })),
        "isolation: B is untouched"
    );
}

#[test]
fn ttl_expired_gets_time_exceeded_from_the_vr_and_failed_resolution_host_unreachable() {
    let mut r = rig();
    sent(&r);
    // A1 is known (it asked for us), so the error can go straight back.
    let req = arp_frame(
        ArpOperation::Request,
        A1_MAC,
        Ipv4Addr::new(10, 1, 0, 2),
        [0xff; 6],
        Ipv4Addr::new(10, 1, 0, 1),
    );
    punt(&mut r, Duration::ZERO, Punt::Arp, TO_A1, Some(1), req);
    sent(&r);
    let ip = ipv4(
        Ipv4Addr::new(10, 1, 0, 2),
        Ipv4Addr::new(10, 2, 0, 2),
        IpProtocol::Udp,
        1,
        &[0; 12],
    );
    let f = ethernet(r.ports[0].mac, A1_MAC, None, EtherType::Ipv4, &ip);
    punt(
        &mut r,
        Duration::from_millis(1),
        Punt::TtlExpired,
        TO_A1,
        Some(1),
        HeapBuf::from_slice(&f).unwrap(),
    );
    let out = sent(&r);
    let (p, e) = out
        .iter()
        .find(|(_, f)| f[12..14] == [0x08, 0x00])
        .expect("an ICMP error");
    assert_eq!(*p, TO_A1);
    let ipe = Ipv4Packet::new_checked(&e[14..]).unwrap();
    assert_eq!(
        ipe.src_addr(),
        Ipv4Addr::new(10, 1, 0, 1),
        "sourced from VR A's interface"
    );
    let ic = Icmpv4Packet::new_checked(ipe.payload()).unwrap();
    assert!(
        matches!(Icmpv4Repr::parse(&ic).unwrap(), Icmpv4Repr::TimeExceeded { data, .. } if data == &ip[..])
    );

    // A destination on the subnet that never answers: 3 requests, then host unreachable.
    let ip = ipv4(
        Ipv4Addr::new(10, 1, 0, 2),
        Ipv4Addr::new(10, 1, 0, 99),
        IpProtocol::Udp,
        60,
        &[0; 12],
    );
    let f = ethernet([0; 6], r.ports[0].mac, None, EtherType::Ipv4, &ip);
    punt(
        &mut r,
        Duration::from_millis(2),
        Punt::NeighborMiss,
        TO_A1,
        Some(1),
        HeapBuf::from_slice(&f).unwrap(),
    );
    let mut requests = 0;
    let mut unreachable = 0;
    for ms in (100..5000).step_by(100) {
        tick(&mut r, Duration::from_millis(ms));
        for (_, f) in sent(&r) {
            if arp_of(&f).is_some_and(|a| a.target_protocol_addr == Ipv4Addr::new(10, 1, 0, 99)) {
                requests += 1;
            } else if f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 1 && f[34] == 3 {
                unreachable += 1;
            }
        }
    }
    assert_eq!(requests, 3);
    assert_eq!(unreachable, 1, "ICMP host unreachable to the sender");
    assert_eq!(r.core.service::<NeighborService>().unwrap().stats.drops, 1);
}
