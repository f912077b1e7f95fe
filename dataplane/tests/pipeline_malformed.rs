//! Malformed and hostile packets through the pipeline: never a panic, always a named drop
//! (or a punt for TTL expiry), never a transmission.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use labelswitch::Label;
use proptest::prelude::*;
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, LabelAction, LabelPush, NextHop, PortId, Prefix4,
    RouteSource, StateWriter, VirtualRouter, VpnId, VrId,
};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const TRUNK: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn state() -> ForwardingState {
    let mut w = StateWriter::new(vec![ACCESS, TRUNK], 2);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "A",
        VpnId::new(1, 1).unwrap(),
        "t",
    ))
    .unwrap();
    w.bind_interface(IfKey::PortVlan(PortId(0), 10), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Trunk)
        .unwrap();
    let nh = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: TRUNK,
        dst_mac: [2, 0, 0, 0, 0xff, 2],
        push: LabelPush::new(&[Label::new(16001).unwrap(), Label::new(1001).unwrap()]).unwrap(),
    };
    w.set_route(
        VrId(1),
        IpPrefix::V4(Prefix4::new(0x0a02_0000, 16).unwrap()),
        RouteSource::Static,
        nh,
    )
    .unwrap();
    w.set_label(Label::new(2001).unwrap(), LabelAction::PopToVr(VrId(1)))
        .unwrap();
    w.set_label(
        Label::new(16001).unwrap(),
        LabelAction::Swap {
            out: Label::new(16002).unwrap(),
            via: nh,
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
            mtu: 1500,
        },
    ]
}

fn run(port: u16, bytes: &[u8]) -> Verdict {
    let st = state();
    let c = WorkerCounters::new(0, 2);
    let mut b = HeapBuf::from_slice(bytes).unwrap();
    forward(&st, &ports(), PortId(port), &mut b, &c)
}

fn ipv4(ttl: u8, ihl: u8, total: u16) -> Vec<u8> {
    let mut ip = vec![
        0x40 | ihl,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        ttl,
        17,
        0,
        0,
        10,
        1,
        0,
        5,
        10,
        2,
        0,
        7,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.resize(usize::from(ihl.max(5)) * 4, 0);
    let c = !wire::checksum::data(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.resize(usize::from(total).max(ip.len()), 0);
    ip
}

fn access_frame(l3: &[u8]) -> Vec<u8> {
    let mut f = ACCESS.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0xa, 2, 0x81, 0, 0, 10, 0x08, 0]);
    f.extend_from_slice(l3);
    f
}

fn trunk_frame(stack: &[u8]) -> Vec<u8> {
    let mut f = TRUNK.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0xff, 2, 0x88, 0x47]);
    f.extend_from_slice(stack);
    f
}

#[test]
fn good_packet_is_forwarded() {
    assert_eq!(
        run(0, &access_frame(&ipv4(64, 5, 40))),
        Verdict::Tx(PortId(1))
    );
}

#[test]
fn truncated_headers_at_every_length_are_dropped() {
    let full = access_frame(&ipv4(64, 5, 40));
    for len in 0..18 + 20 {
        let v = run(0, &full[..len]);
        assert!(matches!(v, Verdict::Drop(_)), "len {len}: {v:?}");
    }
    let trunk = trunk_frame(&[0x00, 0x7d, 0x11, 0x40]);
    for len in 0..trunk.len() {
        assert!(
            matches!(run(1, &trunk[..len]), Verdict::Drop(_)),
            "trunk len {len}"
        );
    }
}

#[test]
fn bad_ihl_and_lengths() {
    assert_eq!(
        run(0, &access_frame(&ipv4(64, 4, 40))),
        Verdict::Drop(Drop::Ipv4Malformed)
    );
    let mut long_ihl = ipv4(64, 15, 40);
    long_ihl.truncate(40);
    assert_eq!(
        run(0, &access_frame(&long_ihl)),
        Verdict::Drop(Drop::Ipv4Malformed)
    );
    let mut short_total = ipv4(64, 5, 40);
    short_total[2..4].copy_from_slice(&400u16.to_be_bytes());
    assert!(matches!(
        run(0, &access_frame(&short_total)),
        Verdict::Drop(Drop::Ipv4Malformed | Drop::Ipv4BadChecksum)
    ));
}

#[test]
fn ttl_zero_and_one_are_punted_not_forwarded() {
    for ttl in [0, 1] {
        let v = run(0, &access_frame(&ipv4(ttl, 5, 40)));
        assert_eq!(v.punted(), Some((Punt::TtlExpired, Some(VrId(1)))));
        let Verdict::Punt(to) = v else { unreachable!() };
        assert_eq!((to.at.vlan, to.at.l3, to.at.ip), (Some(10), 18, 18));
    }
}

#[test]
fn mpls_without_bottom_of_stack_is_dropped() {
    // Three entries, none with S set, then the frame ends.
    let stack = [
        0x03, 0xe8, 0x10, 0x40, 0x03, 0xe8, 0x10, 0x40, 0x03, 0xe8, 0x10, 0x40,
    ];
    assert_eq!(
        run(1, &trunk_frame(&stack)),
        Verdict::Drop(Drop::MplsMalformed)
    );
    // A stack deeper than any we accept, never terminated.
    let deep: Vec<u8> = [0x03, 0xe8, 0x10, 0x40].repeat(64);
    assert_eq!(
        run(1, &trunk_frame(&deep)),
        Verdict::Drop(Drop::MplsMalformed)
    );
}

#[test]
fn label_ttl_one_is_dropped() {
    // 16001 swap with TTL 1, bottom of stack, then an IPv4 packet: not forwarded (counted as
    // `mpls_ttl_expired`) and punted for ICMP time exceeded along the LSP (RFC 3032 §2.3.2).
    let mut s = vec![0x03, 0xe8, 0x11, 0x01];
    s.extend(ipv4(64, 5, 40));
    let st = state();
    let c = WorkerCounters::new(0, 2);
    let mut b = HeapBuf::from_slice(&trunk_frame(&s)).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(1), &mut b, &c).punted(),
        Some((Punt::LabelTtlExpired, None))
    );
    assert_eq!(c.drops(Drop::MplsTtlExpired), 1);
}

#[test]
fn popped_payload_that_is_not_ip() {
    let mut s = vec![0x00, 0x7d, 0x11, 0x40]; // 2001, S, TTL 64
    s.extend([0x90; 30]);
    assert_eq!(
        run(1, &trunk_frame(&s)),
        Verdict::Drop(Drop::MplsPayloadUnsupported)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Arbitrary bytes on either port: no panic, and only well-formed routed packets leave.
    #[test]
    fn random_frames_never_panic(port in 0u16..3, body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut f = if port == 1 { TRUNK.to_vec() } else { ACCESS.to_vec() };
        f.extend_from_slice(&body);
        let st = state();
        let c = WorkerCounters::new(0, 2);
        let mut b = HeapBuf::from_slice(&f).unwrap();
        let v = forward(&st, &ports(), PortId(port), &mut b, &c);
        if let Verdict::Tx(p) = v {
            prop_assert_eq!(p, PortId(1));
            prop_assert!(b.len() >= 14);
        }
    }

    /// Mutating any byte of a good packet never panics.
    #[test]
    fn mutated_good_packets_never_panic(i in 0usize..58, x in any::<u8>(), trunk in any::<bool>()) {
        let mut f = if trunk {
            let mut s = vec![0x00, 0x7d, 0x11, 0x40];
            s.extend(ipv4(64, 5, 40));
            trunk_frame(&s)
        } else {
            access_frame(&ipv4(64, 5, 40))
        };
        let i = i % f.len();
        f[i] = x;
        let _ = run(u16::from(trunk), &f);
    }
}
