//! Label operations added for the multi-router lab: `LabelOp::Pop` (egress of a transport
//! LSP without PHP), the punt of expired swaps (RFC 3032 §2.3.2), and `originate` (packets
//! of the control core routed in a VR).

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, originate, PortInfo, Verdict};
use labelswitch::{Label, LabelEntry};
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, LabelAction, LabelPush, NextHop, PortId, Prefix4,
    RouteSource, StateWriter, VirtualRouter, VpnId, VrId,
};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const TRUNK: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CE: [u8; 6] = [2, 0, 0, 0, 0xce, 1];
const PEER: [u8; 6] = [2, 0, 0, 0, 0xff, 2];

fn l(v: u32) -> Label {
    Label::new(v).unwrap()
}

fn state() -> ForwardingState {
    let mut w = StateWriter::new(vec![ACCESS, TRUNK], 2);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "A",
        VpnId::new(1, 1).unwrap(),
        "t",
    ))
    .unwrap();
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Trunk)
        .unwrap();
    let ce = NextHop::Forward {
        port: PortId(0),
        vlan: None,
        src_mac: ACCESS,
        dst_mac: CE,
        push: LabelPush::EMPTY,
    };
    let v4 = |a: u32, l: u8| IpPrefix::V4(Prefix4::new(a, l).unwrap());
    w.set_route(VrId(1), v4(0x0a02_0000, 24), RouteSource::Static, ce)
        .unwrap();
    let core = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: TRUNK,
        dst_mac: PEER,
        push: LabelPush::new(&[l(16003), l(1001)]).unwrap(),
    };
    w.set_route(VrId(1), v4(0x0a01_0000, 24), RouteSource::Static, core)
        .unwrap();
    let swap_nh = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: TRUNK,
        dst_mac: PEER,
        push: LabelPush::EMPTY,
    };
    w.set_label(l(16002), LabelAction::Pop).unwrap();
    w.set_label(l(2001), LabelAction::PopToVr(VrId(1))).unwrap();
    w.set_label(
        l(16001),
        LabelAction::Swap {
            out: l(16005),
            via: swap_nh,
        },
    )
    .unwrap();
    w.commit().unwrap()
}

fn ports() -> Vec<PortInfo> {
    vec![
        PortInfo {
            mac: ACCESS,
            mtu: 1500,
        },
        PortInfo {
            mac: TRUNK,
            mtu: 1600,
        },
    ]
}

fn ip(dst: [u8; 4], ttl: u8) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, ttl, 17, 0, 0, 10, 1, 0, 2];
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0; 8]);
    let mut pk = wire::Ipv4Packet::new_unchecked(&mut p[..]);
    pk.fill_checksum();
    p
}

fn labelled(stack: &[(u32, u8)], inner: &[u8]) -> Vec<u8> {
    let mut f = TRUNK.to_vec();
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x88, 0x47]);
    for (i, (v, ttl)) in stack.iter().enumerate() {
        let e = LabelEntry {
            label: l(*v),
            tc: 0,
            bos: i + 1 == stack.len(),
            ttl: *ttl,
        };
        f.extend_from_slice(&e.to_bytes());
    }
    f.extend_from_slice(inner);
    f
}

#[test]
fn pop_next_then_pop_to_vr_delivers_with_one_ttl_decrement() {
    let st = state();
    let c = WorkerCounters::new(0, 2);
    let mut b =
        HeapBuf::from_slice(&labelled(&[(16002, 9), (2001, 64)], &ip([10, 2, 0, 2], 64))).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(1), &mut b, &c),
        Verdict::Tx(PortId(0))
    );
    let d = b.data();
    assert_eq!(&d[0..6], &CE);
    assert_eq!(&d[12..14], &[0x08, 0x00], "both labels gone");
    assert_eq!(
        d[14 + 8],
        8,
        "TTL: min(transport 9, ...) then one decrement for this router"
    );
    assert!(wire::Ipv4Packet::new_checked(&d[14..])
        .unwrap()
        .verify_checksum());
}

#[test]
fn pop_next_at_the_bottom_is_dropped() {
    let st = state();
    let c = WorkerCounters::new(0, 2);
    let mut b = HeapBuf::from_slice(&labelled(&[(16002, 9)], &ip([10, 2, 0, 2], 64))).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(1), &mut b, &c),
        Verdict::Drop(Drop::MplsPayloadUnsupported)
    );
}

#[test]
fn expired_swap_is_counted_as_a_drop_and_punted_unchanged() {
    let st = state();
    let c = WorkerCounters::new(0, 2);
    let f = labelled(&[(16001, 1), (2001, 1)], &ip([10, 2, 0, 2], 1));
    let mut b = HeapBuf::from_slice(&f).unwrap();
    let v = forward(&st, &ports(), PortId(1), &mut b, &c);
    assert_eq!(v.punted(), Some((Punt::LabelTtlExpired, None)));
    let Verdict::Punt(to) = v else { unreachable!() };
    assert_eq!(
        (to.at.l3, to.at.ip),
        (14, 22),
        "stack at 14, IP after two labels"
    );
    assert_eq!(c.drops(Drop::MplsTtlExpired), 1);
    assert_eq!(b.data(), &f[..], "unchanged for the control core");
    let mut ok =
        HeapBuf::from_slice(&labelled(&[(16001, 5), (2001, 5)], &ip([10, 2, 0, 2], 5))).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(1), &mut ok, &c),
        Verdict::Tx(PortId(1))
    );
}

#[test]
fn originate_routes_in_the_vr_without_touching_the_ttl() {
    let st = state();
    let c = WorkerCounters::new(0, 2);
    let pkt = ip([10, 1, 0, 2], 64);
    let mut b = HeapBuf::from_slice(&pkt).unwrap();
    assert_eq!(
        originate(&st, &ports(), VrId(1), &mut b, &c),
        Verdict::Tx(PortId(1))
    );
    let d = b.data();
    assert_eq!(&d[0..6], &PEER);
    assert_eq!(&d[12..14], &[0x88, 0x47]);
    assert_eq!(
        LabelEntry::parse(&[d[14], d[15], d[16], d[17]]).label,
        l(16003)
    );
    assert_eq!(
        LabelEntry::parse(&[d[18], d[19], d[20], d[21]]).label,
        l(1001)
    );
    assert_eq!(&d[22..], &pkt[..], "IP packet (TTL included) unchanged");
    let mut nr = HeapBuf::from_slice(&ip([192, 168, 0, 1], 64)).unwrap();
    assert_eq!(
        originate(&st, &ports(), VrId(1), &mut nr, &c),
        Verdict::Drop(Drop::NoRoute)
    );
    let mut bad = HeapBuf::from_slice(&[0x45, 0, 0]).unwrap();
    assert_eq!(
        originate(&st, &ports(), VrId(1), &mut bad, &c),
        Verdict::Drop(Drop::Ipv4Malformed)
    );
    assert_eq!(
        originate(&st, &ports(), VrId(9), &mut b, &c),
        Verdict::Drop(Drop::TableInconsistent)
    );
}
