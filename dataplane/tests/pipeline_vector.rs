//! The burst path (`pipeline::vector::BurstPath`) against the per-packet pipeline
//! (`pipeline::forward`): on random mixed bursts — routed IPv4 and IPv6 in two VRs (one
//! untagged, one on a VLAN), label pushes, unresolved neighbours, local addresses, discard
//! routes, no route, expired TTLs, bad checksums, truncated and padded frames, multicast,
//! ARP, MPLS on a trunk, frames for another MAC — both give the same verdict for every
//! packet, the same bytes, and the same worker and VR counters.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::vector::BurstPath;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use labelswitch::Label;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use vr::counters::vr_counter;
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, LabelAction, LabelPush, NextHop, PortId,
    RouteSource, StateWriter, VirtualRouter, VpnId, VrId,
};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const TRUNK: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER: [u8; 6] = [2, 0, 0, 0, 0xff, 2];

fn route(w: &mut StateWriter, vr: u32, prefix: &str, nh: NextHop) {
    let p: IpPrefix = prefix.parse().unwrap();
    w.set_route(VrId(vr), p, RouteSource::Static, nh).unwrap();
}

fn fwd(port: u16, vlan: Option<u16>, push: &[u32]) -> NextHop {
    let labels: Vec<Label> = push.iter().map(|l| Label::new(*l).unwrap()).collect();
    NextHop::Forward {
        port: PortId(port),
        vlan,
        src_mac: if port == 0 { ACCESS } else { TRUNK },
        dst_mac: PEER,
        push: LabelPush::new(&labels).unwrap(),
    }
}

/// VR 1 untagged on port 0, VR 2 on port 0 VLAN 10, port 1 a trunk.
fn state() -> ForwardingState {
    let mut w = StateWriter::new(vec![ACCESS, TRUNK], 1);
    for (id, name) in [(1, "A"), (2, "B")] {
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
    w.bind_interface(IfKey::PortVlan(PortId(0), 10), IfBinding::Vr(VrId(2)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Trunk)
        .unwrap();
    for vr in [1, 2] {
        route(&mut w, vr, "10.2.0.0/16", fwd(1, None, &[16001, 1001]));
        route(&mut w, vr, "10.3.0.0/16", fwd(0, Some(20), &[]));
        route(&mut w, vr, "10.4.0.0/16", NextHop::Drop);
        route(&mut w, vr, "10.5.0.1/32", NextHop::Local);
        route(
            &mut w,
            vr,
            "10.6.0.0/16",
            NextHop::Unresolved {
                port: PortId(0),
                vlan: None,
                via: IpAddr::V4(Ipv4Addr::new(10, 6, 0, 1)),
                push: LabelPush::EMPTY,
            },
        );
        route(&mut w, vr, "2001:db8:2::/48", fwd(1, None, &[16001, 2001]));
        route(&mut w, vr, "2001:db8:3::/48", fwd(0, None, &[]));
        route(&mut w, vr, "2001:db8:5::1/128", NextHop::Local);
    }
    w.set_label(Label::new(2001).unwrap(), LabelAction::PopToVr(VrId(1)))
        .unwrap();
    w.set_label(
        Label::new(16001).unwrap(),
        LabelAction::Swap {
            out: Label::new(16002).unwrap(),
            via: fwd(1, None, &[]),
        },
    )
    .unwrap();
    w.commit().unwrap()
}

fn ports() -> Vec<PortInfo> {
    [ACCESS, TRUNK]
        .iter()
        .map(|&mac| PortInfo { mac, mtu: 1500 })
        .collect()
}

/// One frame of the random burst.
#[derive(Clone, Debug)]
struct Spec {
    kind: u8,
    dst: u8,
    ttl: u8,
    vlan: Option<u16>,
    bad_sum: bool,
    wrong_mac: bool,
    multicast: bool,
    pad_to: usize,
    cut: usize,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..5,
        0u8..8,
        prop_oneof![Just(0u8), Just(1), Just(2), Just(64)],
        prop_oneof![Just(None), Just(Some(10)), Just(Some(11)), Just(Some(0))],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
        prop_oneof![Just(0usize), Just(60), Just(64), Just(128)],
        prop_oneof![8 => Just(0usize), 1 => 1usize..60],
    )
        .prop_map(
            |(kind, dst, ttl, vlan, bad_sum, wrong_mac, multicast, pad_to, cut)| Spec {
                kind,
                dst,
                ttl,
                vlan,
                bad_sum,
                wrong_mac,
                multicast,
                pad_to,
                cut,
            },
        )
}

fn frame(s: &Spec) -> Vec<u8> {
    let mut f = if s.wrong_mac {
        vec![2, 0, 0, 0, 0, 9]
    } else if s.multicast {
        vec![1, 0, 0x5e, 0, 0, 1]
    } else {
        ACCESS.to_vec()
    };
    f.extend([2, 0, 0, 0, 0, 0x77]);
    if let Some(v) = s.vlan {
        f.extend([0x81, 0x00]);
        f.extend(v.to_be_bytes());
    }
    match s.kind {
        // IPv4 (twice as likely as the others).
        0 | 1 => {
            f.extend([0x08, 0x00]);
            let dst = [10, 1 + s.dst, 0, 1 + (s.dst & 1)];
            let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, s.ttl, 17, 0, 0, 10, 1, 0, 1];
            ip.extend(dst);
            ip.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
            if dst == [10, 5, 0, 1] {
                // Something else than L2TP/ESP to the router's own address.
                ip[9] = 1;
            }
            let sum = !wire::checksum::data(&ip[..20]);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            if s.bad_sum {
                ip[11] ^= 0x5a;
            }
            f.extend(ip);
        }
        // IPv6.
        2 => {
            f.extend([0x86, 0xdd]);
            let mut ip = vec![0x60, 0, 0, 0, 0, 8, 17, s.ttl];
            ip.extend([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            let mut dst = [
                0x20,
                0x01,
                0x0d,
                0xb8,
                0,
                1 + s.dst % 6,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                1,
            ];
            if s.bad_sum {
                dst[0] = 0xff; // multicast: punted
            }
            ip.extend(dst);
            ip.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
            f.extend(ip);
        }
        // ARP.
        3 => {
            f.extend([0x08, 0x06]);
            f.extend([0u8; 28]);
        }
        // MPLS (meant for the trunk; on the access port it is dropped).
        _ => {
            f.extend([0x88, 0x47]);
            let label = if s.dst & 1 == 0 { 16001u32 } else { 2001 };
            let e = (label << 12) | 0x100 | u32::from(s.ttl);
            f.extend(e.to_be_bytes());
            let mut ip = vec![
                0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 1, 0, 1, 10, 3, 0, 1,
            ];
            let sum = !wire::checksum::data(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend(ip);
        }
    }
    if f.len() < s.pad_to {
        f.resize(s.pad_to, 0);
    }
    if s.cut > 0 {
        f.truncate(f.len().saturating_sub(s.cut));
    }
    f
}

/// Everything counted about a run.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    drops: Vec<u64>,
    punts: Vec<u64>,
    vrs: Vec<[u64; 5]>,
}

fn counts(st: &ForwardingState, c: &WorkerCounters) -> Counts {
    Counts {
        drops: Drop::ALL.iter().map(|d| c.drops(*d)).collect(),
        punts: Punt::ALL.iter().map(|p| c.punts(*p)).collect(),
        vrs: [1, 2]
            .iter()
            .map(|v| {
                let line = st.vr(VrId(*v)).unwrap().counters.worker(0).unwrap();
                [
                    vr_counter::RX,
                    vr_counter::TX,
                    vr_counter::DROP,
                    vr_counter::RX_BYTES,
                    vr_counter::TX_BYTES,
                ]
                .map(|i| line.get(i))
            })
            .collect(),
    }
}

/// Runs `frames` received on `port` both ways; returns (verdicts, bytes, counts) of each.
#[allow(clippy::type_complexity)]
fn both(
    port: u16,
    frames: &[Vec<u8>],
) -> (
    (Vec<Verdict>, Vec<Vec<u8>>, Counts),
    (Vec<Verdict>, Vec<Vec<u8>>, Counts),
) {
    let ports = ports();
    let (st_a, c_a) = (state(), WorkerCounters::new(0, 2));
    let mut a: Vec<HeapBuf> = frames
        .iter()
        .map(|f| HeapBuf::from_slice(f).unwrap())
        .collect();
    let va: Vec<Verdict> = a
        .iter_mut()
        .map(|b| forward(&st_a, &ports, PortId(port), b, &c_a))
        .collect();
    let (st_b, c_b) = (state(), WorkerCounters::new(0, 2));
    let mut b: Vec<HeapBuf> = frames
        .iter()
        .map(|f| HeapBuf::from_slice(f).unwrap())
        .collect();
    let mut path = BurstPath::new();
    let mut vb = Vec::new();
    for chunk in b.chunks_mut(dataplane::port::BURST) {
        vb.extend_from_slice(path.run(&st_b, &ports, PortId(port), chunk, &c_b));
    }
    let bytes = |v: &[HeapBuf]| v.iter().map(|b| b.data().to_vec()).collect::<Vec<_>>();
    (
        (va, bytes(&a), counts(&st_a, &c_a)),
        (vb, bytes(&b), counts(&st_b, &c_b)),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn burst_path_matches_forward(specs in prop::collection::vec(spec(), 0..70), port in 0u16..3) {
        let frames: Vec<Vec<u8>> = specs.iter().map(frame).collect();
        let (a, b) = both(port, &frames);
        prop_assert_eq!(&a.0, &b.0, "verdicts");
        prop_assert_eq!(&a.1, &b.1, "bytes");
        prop_assert_eq!(&a.2, &b.2, "counters");
    }
}

/// The common case the burst path exists for: a full burst of routed IPv4 in one VR, with
/// the answers the FIB gives (one label push, one plain next hop), counted once per burst.
#[test]
fn a_routed_burst_is_forwarded_and_counted() {
    let specs: Vec<Spec> = (0..32)
        .map(|i| Spec {
            kind: 0,
            dst: if i % 2 == 0 { 1 } else { 2 },
            ttl: 64,
            vlan: None,
            bad_sum: false,
            wrong_mac: false,
            multicast: false,
            pad_to: 60,
            cut: 0,
        })
        .collect();
    let frames: Vec<Vec<u8>> = specs.iter().map(frame).collect();
    let (a, b) = both(0, &frames);
    assert_eq!(a, b);
    for (i, v) in b.0.iter().enumerate() {
        let want = if i % 2 == 0 { PortId(1) } else { PortId(0) };
        assert_eq!(*v, Verdict::Tx(want), "packet {i}");
    }
    // 10.2/16: two labels pushed, TTL 63 in both.
    assert_eq!(&b.1[0][12..14], &[0x88, 0x47]);
    assert_eq!(b.1[0][17], 63);
    assert_eq!(b.1[0][21], 63);
    // 10.3/16: VLAN 20, IPv4, TTL 63.
    assert_eq!(&b.1[1][12..18], &[0x81, 0x00, 0, 20, 0x08, 0x00]);
    assert_eq!(b.1[1][18 + 8], 63);
    let vr1 = &b.2.vrs[0];
    assert_eq!((vr1[0], vr1[1], vr1[2]), (32, 32, 0));
    assert_eq!(vr1[3], 32 * 60);
}
