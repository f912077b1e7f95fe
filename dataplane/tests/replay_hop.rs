//! Routes through a replay hop (`NextHop::Replayable`, `vr::replay`): the packet leaves as
//! through the hop's `Forward` next hop, on the per-packet and the burst path, and the
//! hop's ring keeps the IP packet as sent; a hop of another VR or a missing one is a named
//! drop, and a packet that does not go out is not kept.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, WorkerCounters};
use dataplane::pipeline::vector::BurstPath;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use std::sync::Arc;
use std::time::Instant;
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, LabelPush, NextHop, PortId, ReplayHop, ReplayId,
    ReplayKey, ReplayRing, RouteSource, StateWriter, VirtualRouter, VpnId, VrId,
};

const CORE: [u8; 6] = [2, 0, 0, 0, 0, 1];
const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER: [u8; 6] = [2, 0, 0, 0, 0xee, 1];
const MN: [u8; 6] = [2, 0, 0, 0, 0x33, 1];

fn ports() -> Vec<PortInfo> {
    vec![
        PortInfo {
            mac: CORE,
            mtu: 1500,
        },
        PortInfo {
            mac: ACCESS,
            mtu: 1500,
        },
    ]
}

/// VR 1 (port 0 in, port 1 the visitors' link, VLAN 7): 10.200.0.2 through replay hop 1,
/// 10.200.0.3 through hop 9 (which only VR 2 has), 10.200.0.4 through hop 5 (nobody's).
fn state(ring: &Arc<ReplayRing>) -> ForwardingState {
    let mut w = StateWriter::new(vec![CORE, ACCESS], 2);
    for (id, name) in [(1, "fa"), (2, "other")] {
        w.add_vr(VirtualRouter::new(
            VrId(id),
            name,
            VpnId::new(1, id).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    let to_mn = NextHop::Forward {
        port: PortId(1),
        vlan: Some(7),
        src_mac: ACCESS,
        dst_mac: MN,
        push: LabelPush::EMPTY,
    };
    let hop = |vr: u32, ring: Arc<ReplayRing>| {
        Arc::new(ReplayHop {
            name: "visitor 10.200.0.2".into(),
            vr: VrId(vr),
            hop: to_mn,
            ring,
        })
    };
    w.set_replay(ReplayId(1), hop(1, ring.clone())).unwrap();
    w.set_replay(ReplayId(9), hop(2, Arc::new(ReplayRing::new(4))))
        .unwrap();
    for (dst, id) in [
        ("10.200.0.2/32", 1),
        ("10.200.0.3/32", 9),
        ("10.200.0.4/32", 5),
    ] {
        let p: IpPrefix = dst.parse().unwrap();
        w.set_route(
            VrId(1),
            p,
            RouteSource::Subscriber,
            NextHop::Replayable(ReplayId(id)),
        )
        .unwrap();
    }
    w.commit().unwrap()
}

fn frame(dst: [u8; 4], seq: u8, len: usize) -> Vec<u8> {
    let mut f = CORE.to_vec();
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 28 + len;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        seq,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    ip.extend_from_slice(&[10, 1, 0, 9]);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, (8 + len) as u8, 0, 0]);
    ip.extend(std::iter::repeat_n(seq, len));
    wire::Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
    f.extend_from_slice(&ip);
    f
}

#[test]
fn a_replay_hop_sends_like_its_forward_hop_and_keeps_the_ip_packet() {
    let ring = Arc::new(ReplayRing::new(8));
    let st = state(&ring);
    let c = WorkerCounters::new(0, 2);
    let t0 = Instant::now();
    let mut b = HeapBuf::from_slice(&frame([10, 200, 0, 2], 1, 10)).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(0), &mut b, &c),
        Verdict::Tx(PortId(1))
    );
    let d = b.data().to_vec();
    assert_eq!(&d[0..6], &MN);
    assert_eq!(&d[6..12], &ACCESS);
    assert_eq!(&d[12..16], &[0x81, 0x00, 0x00, 0x07], "tagged VLAN 7");
    assert_eq!(d[18 + 8], 63, "TTL decremented once");
    let t = ring.take_since(t0);
    assert_eq!(t.packets.len(), 1);
    assert_eq!(
        &t.packets[0][..],
        &d[18..],
        "the IP packet exactly as it went out"
    );
    assert_eq!((t.older, t.incomplete), (0, false));
}

#[test]
fn the_burst_path_keeps_every_packet_in_order() {
    let ring = Arc::new(ReplayRing::new(64));
    let st = state(&ring);
    let c = WorkerCounters::new(0, 2);
    let t0 = Instant::now();
    let mut bufs: Vec<HeapBuf> = (0..20u8)
        .map(|i| HeapBuf::from_slice(&frame([10, 200, 0, 2], i, 4 + usize::from(i))).unwrap())
        .collect();
    let mut path = BurstPath::new();
    let v = path.run(&st, &ports(), PortId(0), &mut bufs, &c).to_vec();
    assert!(v.iter().all(|v| *v == Verdict::Tx(PortId(1))), "{v:?}");
    let t = ring.take_since(t0);
    let sent: Vec<Vec<u8>> = bufs.iter().map(|b| b.data()[18..].to_vec()).collect();
    let kept: Vec<Vec<u8>> = t.packets.iter().map(|p| p.to_vec()).collect();
    assert_eq!(kept, sent);
}

#[test]
fn another_vrs_hop_or_a_missing_one_is_a_named_drop_and_nothing_is_kept() {
    let ring = Arc::new(ReplayRing::new(8));
    let st = state(&ring);
    let c = WorkerCounters::new(0, 2);
    for dst in [[10, 200, 0, 3], [10, 200, 0, 4]] {
        let mut b = HeapBuf::from_slice(&frame(dst, 1, 10)).unwrap();
        assert_eq!(
            forward(&st, &ports(), PortId(0), &mut b, &c),
            Verdict::Drop(Drop::ReplayHopUnknown)
        );
    }
    let other = st
        .replays
        .get(&ReplayKey::new(VrId(2), ReplayId(9)))
        .unwrap();
    assert_eq!((ring.kept(), other.ring.kept()), (0, 0));
}

#[test]
fn a_packet_that_does_not_go_out_is_not_kept() {
    let ring = Arc::new(ReplayRing::new(8));
    let st = state(&ring);
    let c = WorkerCounters::new(0, 2);
    // An IP packet of exactly the link's MTU (1500) passes, one byte more is dropped.
    let mut ok = HeapBuf::from_slice(&frame([10, 200, 0, 2], 1, 1472)).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(0), &mut ok, &c),
        Verdict::Tx(PortId(1))
    );
    let mut big = HeapBuf::from_slice(&frame([10, 200, 0, 2], 2, 1473)).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(0), &mut big, &c),
        Verdict::Drop(Drop::MtuExceeded)
    );
    assert_eq!(ring.kept(), 1);
}

#[test]
fn the_writer_refuses_a_hop_that_is_not_a_link_neighbour_or_names_no_vr() {
    let mut w = StateWriter::new(vec![CORE, ACCESS], 2);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "fa",
        VpnId::new(1, 1).unwrap(),
        "t",
    ))
    .unwrap();
    let mk = |vr: u32, hop: NextHop| {
        Arc::new(ReplayHop {
            name: "v".into(),
            vr: VrId(vr),
            hop,
            ring: Arc::new(ReplayRing::new(4)),
        })
    };
    let fwd = |port: u16| NextHop::Forward {
        port: PortId(port),
        vlan: None,
        src_mac: ACCESS,
        dst_mac: MN,
        push: LabelPush::EMPTY,
    };
    assert!(w.set_replay(ReplayId(1), mk(1, NextHop::Local)).is_err());
    assert!(
        w.set_replay(ReplayId(1), mk(1, fwd(5))).is_err(),
        "no port 5"
    );
    assert!(w.set_replay(ReplayId(1), mk(3, fwd(1))).is_err(), "no VR 3");
    assert!(w.set_replay(ReplayId(1), mk(1, fwd(1))).is_ok());
    assert!(w
        .remove_replay(ReplayKey::new(VrId(1), ReplayId(1)))
        .is_ok());
    assert!(w
        .remove_replay(ReplayKey::new(VrId(1), ReplayId(1)))
        .is_err());
}
