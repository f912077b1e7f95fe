//! The burst path (`pipeline::vector::BurstPath`) against the per-packet pipeline
//! (`pipeline::forward`): on random mixed bursts — routed IPv4 and IPv6 in two VRs (one
//! untagged, one on a VLAN), label pushes, unresolved neighbours, local addresses, discard
//! routes, no route, expired TTLs, bad checksums, truncated and padded frames, multicast,
//! ARP, MPLS on a trunk, frames for another MAC, and L2TP to the router's address (data
//! with and without the length, sequence and offset fields, IPv4/IPv6/PPP control inside,
//! compressed protocol fields, unknown sessions, sessions of another VR's tunnel, a session
//! moved to another VR, a relayed session, control messages, malformed headers, frames cut
//! short), and IP-in-IP (routes into tunnels with a resolved, an unresolved and no outer
//! route, a missing tunnel id, a source selector; protocol 4 and 41 to the router's address
//! from the tunnel's remote or a stranger, decapsulated into the same or another VR, with
//! IPv4, IPv6, malformed or cut inner packets), and routes into source selections (each
//! source into its own IP-in-IP tunnel or ESP SA, a source no entry names, a selection id
//! the VR lacks) — both give the same verdict for every packet, the same bytes, and the same
//! worker, VR and session counters.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::vector::BurstPath;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use labelswitch::Label;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use vr::counters::{session_counter, vr_counter};
use vr::{
    EspSaId, EspTunnel, ForwardingState, IfBinding, IfKey, IpIpId, IpIpTunnel, IpPrefix, L2tpEncap,
    LabelAction, LabelPush, NeighborKey, NextHop, PortId, RouteSource, SessionBinding, SessionKey,
    SourceRouteId, SourceRoutes, SourceSelector, StateWriter, VirtualRouter, VpnId, VrId,
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

/// An L2TP session next hop (to the LAC 10.3.0.9 on port 0 VLAN 20, peer ids 70/`session`).
fn l2tp_hop(session: u16, counters: u32) -> NextHop {
    NextHop::L2tp(L2tpEncap {
        port: PortId(0),
        vlan: Some(20),
        src_mac: ACCESS,
        dst_mac: PEER,
        src_ip: Ipv4Addr::new(10, 5, 0, 1),
        dst_ip: Ipv4Addr::new(10, 3, 0, 9),
        via: Ipv4Addr::new(10, 3, 0, 9),
        counters,
        src_port: 1701,
        dst_port: 1701,
        peer_tunnel: 70,
        peer_session: session,
    })
}

/// Sessions of tunnel 7 (L2TP to 10.5.0.1): 9 in VR 1; 10 in VR 2's tunnel (wrong VR when
/// it arrives in VR 1); 11 with its tunnel in VR 1, moved to VR 2; 12 relayed into the
/// L2TP session 90. Session counter slot = session id − 9.
const SESSIONS: [u16; 4] = [9, 10, 11, 12];

/// VR 1 untagged on port 0, VR 2 on port 0 VLAN 10, port 1 a trunk.
fn state() -> ForwardingState {
    let mut w = StateWriter::new(vec![ACCESS, TRUNK], 1);
    w.set_session_counter_slots(8);
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
    for s in SESSIONS {
        let counters = w.alloc_session_counters().unwrap();
        assert_eq!(counters, u32::from(s - 9));
        let key = SessionKey::L2tp {
            tunnel: 7,
            session: s,
        };
        let (vr, tunnel_vr) = match s {
            9 | 12 => (1, 1),
            10 => (2, 2),
            _ => (2, 1),
        };
        let b = SessionBinding {
            counters,
            tunnel_vr: VrId(tunnel_vr),
            ..SessionBinding::new(VrId(vr))
        };
        if s == 12 {
            w.bind_session_relay(key, b, l2tp_hop(90, 5)).unwrap();
        } else {
            w.bind_session(key, b).unwrap();
        }
    }
    // The LAC's MAC (L2TP next hops take it from the neighbour table).
    w.set_neighbor(
        NeighborKey {
            port: PortId(0),
            vlan: Some(20),
            ip: Ipv4Addr::new(10, 3, 0, 9).into(),
        },
        Some(PEER),
    );
    // The subscriber of session 9 and the L2TP path back to it.
    for vr in [1, 2] {
        route(&mut w, vr, "10.8.0.0/24", l2tp_hop(9, 0));
        route(&mut w, vr, "2001:db8:8::/48", l2tp_hop(9, 0));
    }
    // IP-in-IP: VR 1's tunnel 1 to 10.3.0.77 (resolved outer route in VR 1), VR 2's tunnel
    // 1 to 10.6.0.9 (unresolved outer route), taking 10.1.0.1 only over IPv4; 10.9/16 and
    // 2001:db8:6::/48 into tunnel 1, 10.10/16 into tunnel 7 (none). Both VRs decapsulate
    // from 10.3.0.9 to 10.5.0.1 into VR 1.
    for vr in [1u32, 2] {
        let remote = if vr == 1 {
            Ipv4Addr::new(10, 3, 0, 77)
        } else {
            Ipv4Addr::new(10, 6, 0, 9)
        };
        let t = IpIpTunnel {
            name: format!("ipip{vr}").into(),
            vr: VrId(vr),
            outer_vr: VrId(vr),
            local: Ipv4Addr::new(10, 5, 0, 1),
            remote,
            dscp: (vr == 2).then_some(46),
            sources: (vr == 2).then(|| {
                Arc::new(SourceSelector::new([(
                    Ipv4Addr::new(10, 1, 0, 1).into(),
                    32,
                )]))
            }),
        };
        w.set_ipip_outbound(IpIpId(1), Arc::new(t)).unwrap();
        let inb = IpIpTunnel {
            name: format!("ipip{vr}-in").into(),
            vr: VrId(1),
            outer_vr: VrId(vr),
            local: Ipv4Addr::new(10, 5, 0, 1),
            remote: Ipv4Addr::new(10, 3, 0, 9),
            dscp: None,
            sources: None,
        };
        w.set_ipip_inbound(Arc::new(inb)).unwrap();
        route(&mut w, vr, "10.9.0.0/16", NextHop::IpIp(IpIpId(1)));
        route(&mut w, vr, "2001:db8:6::/48", NextHop::IpIp(IpIpId(1)));
        route(&mut w, vr, "10.10.0.0/16", NextHop::IpIp(IpIpId(7)));
    }
    // Source selections (several users' tunnels toward one network): VR 1's selection 1
    // sends 10.1.0.1 into IP-in-IP tunnel 1, 10.1.0.2 and 2001:db8:1::/64 into ESP SA 1
    // (to 10.3.0.78: the resolved outer route, DSCP 10 marked); VR 2's sends 10.1.0.0/24
    // into its tunnel 1 (whose selector refuses 10.1.0.2) and names no IPv6 source. In both
    // VRs 10.11/16 and 2001:db8:7::/48 route into selection 1, 10.12/16 into 9 (none).
    let sa = esp::Sa::new(
        &esp::SaParams::new(0x5001, esp::Cipher::AesGcm128, vec![7; 20]),
        1,
    )
    .unwrap();
    let t = EspTunnel {
        name: "esp1".into(),
        sa: Arc::new(sa),
        vr: VrId(1),
        outer_vr: VrId(1),
        local: Ipv4Addr::new(10, 5, 0, 1).into(),
        remote: Ipv4Addr::new(10, 3, 0, 78).into(),
        udp: None,
        dscp: Some(10),
        sources: None,
    };
    w.set_esp_outbound(EspSaId(1), Arc::new(t)).unwrap();
    let v4 = |a: [u8; 4], l: u8| (IpAddr::V4(a.into()), l);
    let sel1 = SourceRoutes::new(
        "users1",
        VrId(1),
        [
            (v4([10, 1, 0, 1], 32), NextHop::IpIp(IpIpId(1))),
            (v4([10, 1, 0, 2], 32), NextHop::Esp(EspSaId(1))),
            (
                ("2001:db8:1::".parse().unwrap(), 64),
                NextHop::Esp(EspSaId(1)),
            ),
        ],
    );
    let sel2 = SourceRoutes::new(
        "users2",
        VrId(2),
        [(v4([10, 1, 0, 0], 24), NextHop::IpIp(IpIpId(1)))],
    );
    for sel in [sel1, sel2] {
        let vr = sel.vr.0;
        w.set_source_routes(SourceRouteId(1), Arc::new(sel))
            .unwrap();
        route(
            &mut w,
            vr,
            "10.11.0.0/16",
            NextHop::BySource(SourceRouteId(1)),
        );
        route(
            &mut w,
            vr,
            "2001:db8:7::/48",
            NextHop::BySource(SourceRouteId(1)),
        );
        route(
            &mut w,
            vr,
            "10.12.0.0/16",
            NextHop::BySource(SourceRouteId(9)),
        );
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
    /// L2TP frames (kind 5): header flags, session, PPP payload.
    l2tp: L2tpSpec,
}

#[derive(Clone, Copy, Debug)]
struct L2tpSpec {
    /// Bit 0: L (length), bit 1: S (sequence), bit 2: O (offset, size `offset`), bit 3:
    /// T (control), bit 4: a wrong Length, bit 5: version 3.
    bits: u8,
    offset: u8,
    /// Index into [`SESSIONS`], or past it: session 99 (unknown).
    session: u8,
    /// 0: `ff 03` + IPv4, 1: compressed IPv4 (`21`), 2: IPv6, 3: LCP, 4: `ff 03` alone.
    ppp: u8,
}

fn l2tp_spec() -> impl Strategy<Value = L2tpSpec> {
    (
        prop_oneof![4 => 0u8..8, 1 => 0u8..64],
        0u8..5,
        0u8..6,
        prop_oneof![6 => 0u8..3, 1 => 3u8..5],
    )
        .prop_map(|(bits, offset, session, ppp)| L2tpSpec {
            bits,
            offset,
            session,
            ppp,
        })
}

/// The UDP payload of an L2TP frame carrying `inner` (an IPv4 or IPv6 packet).
fn l2tp_message(l: &L2tpSpec, inner_v4: &[u8], inner_v6: &[u8]) -> Vec<u8> {
    let (len_bit, seq, off, control) = (
        l.bits & 1 != 0,
        l.bits & 2 != 0,
        l.bits & 4 != 0,
        l.bits & 8 != 0,
    );
    let mut flags: u16 = if l.bits & 32 != 0 { 3 } else { 2 };
    for (on, bit) in [
        (control, 0x8000),
        (len_bit, 0x4000),
        (seq, 0x0800),
        (off, 0x0200),
    ] {
        if on {
            flags |= bit;
        }
    }
    let mut m = flags.to_be_bytes().to_vec();
    if len_bit {
        m.extend([0, 0]);
    }
    let session = SESSIONS.get(usize::from(l.session)).copied().unwrap_or(99);
    m.extend([0, 7]);
    m.extend(session.to_be_bytes());
    if seq {
        m.extend([0, 1, 0, 2]);
    }
    if off {
        m.extend(u16::from(l.offset).to_be_bytes());
        m.extend(std::iter::repeat_n(0xee, usize::from(l.offset)));
    }
    match l.ppp {
        0 => {
            m.extend([0xff, 0x03, 0x00, 0x21]);
            m.extend(inner_v4);
        }
        1 => {
            m.push(0x21);
            m.extend(inner_v4);
        }
        2 => {
            m.extend([0xff, 0x03, 0x00, 0x57]);
            m.extend(inner_v6);
        }
        3 => m.extend([0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4]),
        _ => m.extend([0xff, 0x03]),
    }
    if len_bit {
        let n = m.len() + if l.bits & 16 != 0 { 3 } else { 0 };
        m[2..4].copy_from_slice(&(n as u16).to_be_bytes());
    }
    m
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![5 => 0u8..5, 2 => Just(5u8), 2 => Just(6u8)],
        0u8..12,
        prop_oneof![Just(0u8), Just(1), Just(2), Just(64)],
        prop_oneof![Just(None), Just(Some(10)), Just(Some(11)), Just(Some(0))],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
        prop_oneof![Just(0usize), Just(60), Just(64), Just(128)],
        prop_oneof![8 => Just(0usize), 1 => 1usize..60],
        l2tp_spec(),
    )
        .prop_map(
            |(kind, dst, ttl, vlan, bad_sum, wrong_mac, multicast, pad_to, cut, l2tp)| Spec {
                kind,
                dst,
                ttl,
                vlan,
                bad_sum,
                wrong_mac,
                multicast,
                pad_to,
                cut,
                l2tp,
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
            if s.l2tp.bits & 1 != 0 {
                // DF and a TOS (DSCP 10, ECT(0)): the IP-in-IP routes copy both.
                ip[1] = (10 << 2) | 2;
                ip[6] = 0x40;
            }
            if s.l2tp.bits & 2 != 0 {
                // Another source: the selector of VR 2's tunnel refuses it.
                ip[15] = 2;
            }
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
                1 + s.dst % 7,
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
        // L2TP to the router's address 10.5.0.1 (the session's inner packet to 10.<dst>.0.x).
        5 => {
            f.extend([0x08, 0x00]);
            let mut v4 = vec![0x45, 0, 0, 28, 0, 0, 0, 0, s.ttl, 17, 0, 0, 10, 8, 0, 5];
            v4.extend([10, 1 + s.dst, 0, 1 + (s.dst & 1)]);
            let sum = !wire::checksum::data(&v4);
            v4[10..12].copy_from_slice(&sum.to_be_bytes());
            if s.bad_sum {
                v4[11] ^= 0x5a;
            }
            v4.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
            let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, s.ttl];
            v6.extend([0x20, 0x01, 0x0d, 0xb8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
            v6.extend([0x20, 0x01, 0x0d, 0xb8, 0, 1 + s.dst % 6]);
            v6.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            v6.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
            let msg = l2tp_message(&s.l2tp, &v4, &v6);
            let total = 20 + 8 + msg.len();
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 3, 0, 9];
            ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            ip.extend([10, 5, 0, 1]);
            let sum = !wire::checksum::data(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend(ip);
            f.extend([0x06, 0xa5, 0x06, 0xa5]);
            f.extend(((8 + msg.len()) as u16).to_be_bytes());
            f.extend([0, 0]);
            f.extend(msg);
        }
        // IP-in-IP to the router's address 10.5.0.1 (the inner packet to 10.<dst>.0.x or
        // 2001:db8:<dst>::1), from the tunnel's remote 10.3.0.9 or (bit 1) a stranger;
        // bit 0: IPv6 inside (protocol 41); bit 2: the other family inside than the
        // protocol says; bit 3: the inner packet cut to 10 bytes.
        6 => {
            f.extend([0x08, 0x00]);
            let bits = s.l2tp.bits;
            let mut v4 = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, s.ttl, 17, 0, 0, 10, 8, 0, 5];
            v4.extend([10, 1 + s.dst, 0, 1 + (s.dst & 1)]);
            let sum = !wire::checksum::data(&v4);
            v4[10..12].copy_from_slice(&sum.to_be_bytes());
            if s.bad_sum {
                v4[11] ^= 0x5a;
            }
            v4.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
            let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, s.ttl];
            v6.extend([0x20, 0x01, 0x0d, 0xb8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
            v6.extend([0x20, 0x01, 0x0d, 0xb8, 0, 1 + s.dst % 6]);
            v6.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            v6.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
            let six = bits & 1 != 0;
            let (proto, mut inner) = match (six, bits & 4 != 0) {
                (false, false) => (4u8, v4),
                (false, true) => (4, v6),
                (true, false) => (41, v6),
                (true, true) => (41, v4),
            };
            if bits & 8 != 0 {
                inner.truncate(10);
            }
            let total = 20 + inner.len();
            let from = if bits & 2 != 0 { 10 } else { 9 };
            // The outer ECN from the offset bits: CE (3) over the Not-ECT inner IPv4 is
            // dropped (RFC 6040), ECT(1) over IPv6's Not-ECT leaves it.
            let ecn = s.l2tp.offset & 3;
            let mut ip = vec![
                0x45,
                0xb8 | ecn,
                0,
                0,
                0,
                0,
                0,
                0,
                60,
                proto,
                0,
                0,
                10,
                3,
                0,
                from,
            ];
            ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            ip.extend([10, 5, 0, 1]);
            let sum = !wire::checksum::data(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend(ip);
            f.extend(inner);
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
    sessions: Vec<[u64; session_counter::PER_SESSION]>,
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
        sessions: (0..6).map(|slot| st.session_counters.read(slot)).collect(),
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
            l2tp: L2tpSpec {
                bits: 0,
                offset: 0,
                session: 0,
                ppp: 0,
            },
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

/// L2TP frames the proptest draws, one of each case, with the verdict each must get: so the
/// equivalence above is known to cover decapsulation, relay, the session checks and the
/// punts, not only drops of malformed frames.
#[test]
fn l2tp_cases_take_their_paths() {
    let l2tp = |bits, offset, session, ppp| L2tpSpec {
        bits,
        offset,
        session,
        ppp,
    };
    let spec = |dst, l| Spec {
        kind: 5,
        dst,
        ttl: 64,
        vlan: None,
        bad_sum: false,
        wrong_mac: false,
        multicast: false,
        pad_to: 0,
        cut: 0,
        l2tp: l,
    };
    let tx = |p| Verdict::Tx(PortId(p));
    let cases = [
        // Session 9, inner IPv4 to 10.3.0.2 (port 0, VLAN 20): every header variant.
        (spec(2, l2tp(0, 0, 0, 0)), tx(0)),
        (spec(2, l2tp(1, 0, 0, 0)), tx(0)),
        (spec(2, l2tp(2, 0, 0, 1)), tx(0)),
        (spec(2, l2tp(7, 3, 0, 0)), tx(0)),
        // To 10.2.0.1: two labels on the trunk; IPv6 to 2001:db8:2::1 likewise.
        (spec(1, l2tp(0, 0, 0, 0)), tx(1)),
        (spec(1, l2tp(0, 0, 0, 2)), tx(1)),
        // Back into session 9 (10.8.0.1), and relayed session 12.
        (spec(7, l2tp(0, 0, 0, 0)), tx(0)),
        (spec(2, l2tp(0, 0, 3, 0)), tx(0)),
        // Moved session 11: routed in VR 2.
        (spec(2, l2tp(3, 0, 2, 0)), tx(0)),
        // Inner no route (10.1.0.1), inner local address (punted), inner discard.
        (spec(0, l2tp(0, 0, 0, 0)), Verdict::Drop(Drop::NoRoute)),
        (spec(3, l2tp(0, 0, 0, 0)), Verdict::Drop(Drop::Blackhole)),
    ];
    let mut frames: Vec<Vec<u8>> = cases.iter().map(|(s, _)| frame(s)).collect();
    let punts = [
        (spec(2, l2tp(0, 0, 0, 3)), Punt::PppControl),
        (spec(2, l2tp(11, 0, 0, 3)), Punt::L2tpControl),
        (spec(4, l2tp(0, 0, 0, 0)), Punt::Local),
    ];
    frames.extend(punts.iter().map(|(s, _)| frame(s)));
    let drops = [
        (spec(2, l2tp(0, 0, 5, 0)), Drop::L2tpNoSession),
        (spec(2, l2tp(0, 0, 1, 0)), Drop::L2tpWrongVr),
        (spec(2, l2tp(32, 0, 0, 0)), Drop::L2tpMalformed),
        (spec(2, l2tp(17, 0, 0, 0)), Drop::L2tpMalformed),
        (spec(2, l2tp(15, 0, 0, 3)), Drop::L2tpMalformed),
        (spec(2, l2tp(0, 0, 0, 4)), Drop::L2tpMalformed),
    ];
    frames.extend(drops.iter().map(|(s, _)| frame(s)));
    let (a, b) = both(0, &frames);
    assert_eq!(a, b);
    let mut want: Vec<Verdict> = cases.iter().map(|(_, v)| *v).collect();
    let n = want.len();
    for (i, (_, p)) in punts.iter().enumerate() {
        assert_eq!(b.0[n + i].punted().map(|p| p.0), Some(*p), "punt case {i}");
    }
    want.extend(drops.iter().map(|(_, d)| Verdict::Drop(*d)));
    let got: Vec<Verdict> = b.0[..n]
        .iter()
        .chain(&b.0[n + punts.len()..])
        .copied()
        .collect();
    assert_eq!(got, want);
    // Session counters: RX of 9, 11 and 12; TX of session 9's next hop (slot 0) and of the
    // relay's (slot 5).
    let rx = |slot: usize| b.2.sessions[slot][session_counter::RX_PACKETS];
    assert!(rx(0) >= 8 && rx(2) == 1 && rx(3) == 1, "{:?}", b.2.sessions);
    assert_eq!(b.2.sessions[0][session_counter::TX_PACKETS], 1);
    assert_eq!(b.2.sessions[5][session_counter::TX_PACKETS], 1);
}

/// IP-in-IP frames the proptest draws, one of each case, with the verdict each must get:
/// so the equivalence above is known to cover encapsulation and decapsulation, not only
/// their drops.
#[test]
fn ipip_cases_take_their_paths() {
    let spec = |kind, dst, vlan, bits| Spec {
        kind,
        dst,
        ttl: 64,
        vlan,
        bad_sum: false,
        wrong_mac: false,
        multicast: false,
        pad_to: 0,
        cut: 0,
        l2tp: L2tpSpec {
            bits,
            offset: 0,
            session: 0,
            ppp: 0,
        },
    };
    let tx = |p| Verdict::Tx(PortId(p));
    let drop = Verdict::Drop;
    let cases = [
        // Into VR 1's tunnel (outer route: port 0, VLAN 20), IPv4 with DF/TOS and IPv6.
        (spec(0, 8, None, 0), Some(tx(0))),
        (spec(0, 8, None, 1), Some(tx(0))),
        (spec(2, 5, None, 0), Some(tx(0))),
        // VR 2's tunnel: an unresolved outer route (punted below), a source its selector
        // refuses, IPv6 it does not take.
        (spec(0, 8, Some(10), 0), None),
        (
            spec(0, 8, Some(10), 2),
            Some(drop(Drop::IpIpSourceNotAllowed)),
        ),
        (
            spec(2, 5, Some(10), 0),
            Some(drop(Drop::IpIpSourceNotAllowed)),
        ),
        // A route into a tunnel id the VR does not have.
        (spec(0, 9, None, 0), Some(drop(Drop::IpIpNoTunnel))),
        // Decapsulation: IPv4 and IPv6 inside, into VR 1 from either VR; inner no route.
        (spec(6, 2, None, 0), Some(tx(0))),
        (spec(6, 2, None, 1), Some(tx(0))),
        (spec(6, 2, Some(10), 0), Some(tx(0))),
        (spec(6, 0, None, 0), Some(drop(Drop::NoRoute))),
        // A stranger, the other family inside, a cut inner packet.
        (spec(6, 2, None, 2), Some(drop(Drop::IpIpUnknownTunnel))),
        (spec(6, 2, None, 4), Some(drop(Drop::IpIpInnerMalformed))),
        (spec(6, 2, None, 5), Some(drop(Drop::IpIpInnerMalformed))),
        (spec(6, 2, None, 8), Some(drop(Drop::IpIpInnerMalformed))),
        // Outer CE over a Not-ECT inner packet (RFC 6040).
        (
            Spec {
                l2tp: L2tpSpec {
                    offset: 3,
                    ..spec(6, 2, None, 0).l2tp
                },
                ..spec(6, 2, None, 0)
            },
            Some(drop(Drop::IpIpEcnNotEct)),
        ),
    ];
    let frames: Vec<Vec<u8>> = cases.iter().map(|(s, _)| frame(s)).collect();
    let (a, b) = both(0, &frames);
    assert_eq!(a, b);
    for (i, ((_, want), got)) in cases.iter().zip(&b.0).enumerate() {
        match want {
            Some(w) => assert_eq!(got, w, "case {i}"),
            None => assert_eq!(
                got.punted().map(|p| p.0),
                Some(Punt::NeighborMiss),
                "case {i}"
            ),
        }
    }
    // The encapsulated IPv4 with DF and TOS: outer protocol 4, DF and TOS copied, TTL 64.
    let f = &b.1[1];
    assert_eq!(&f[12..18], &[0x81, 0x00, 0, 20, 0x08, 0x00]);
    let outer = &f[18..38];
    assert_eq!(
        (outer[1], outer[6], outer[8], outer[9]),
        ((10 << 2) | 2, 0x40, 64, 4)
    );
    assert_eq!(&outer[16..20], &[10, 3, 0, 77]);
    assert_eq!(
        &f[38 + 16..38 + 20],
        &[10, 9, 0, 1],
        "the inner packet follows"
    );
}

/// Source-selection frames the proptest draws, one of each case, with the verdict each must
/// get: so the equivalence above is known to cover each source entering its own tunnel (and
/// ESP sequence numbers in arrival order), not only the drops.
#[test]
fn source_selection_cases_take_their_paths() {
    let spec = |kind, dst, vlan, bits| Spec {
        kind,
        dst,
        ttl: 64,
        vlan,
        bad_sum: false,
        wrong_mac: false,
        multicast: false,
        pad_to: 0,
        cut: 0,
        l2tp: L2tpSpec {
            bits,
            offset: 0,
            session: 0,
            ppp: 0,
        },
    };
    let tx = |p| Verdict::Tx(PortId(p));
    let drop = Verdict::Drop;
    let cases = [
        // VR 1, to 10.11.0.1: 10.1.0.1 into IP-in-IP tunnel 1, 10.1.0.2 into ESP SA 1 (twice:
        // two sequence numbers), IPv6 from 2001:db8:1::1 into ESP SA 1.
        (spec(0, 10, None, 0), Some(tx(0))),
        (spec(0, 10, None, 2), Some(tx(0))),
        (spec(0, 10, None, 2), Some(tx(0))),
        (spec(2, 6, None, 0), Some(tx(0))),
        // VR 2: 10.1.0.1 into its tunnel 1 (unresolved outer route: punted), 10.1.0.2 into
        // it too and refused by the tunnel's selector, IPv6 matches no entry.
        (spec(0, 10, Some(10), 0), None),
        (
            spec(0, 10, Some(10), 2),
            Some(drop(Drop::IpIpSourceNotAllowed)),
        ),
        (
            spec(2, 6, Some(10), 0),
            Some(drop(Drop::SourceRouteNoMatch)),
        ),
        // L2TP session 9's inner packet (from 10.8.0.5) to 10.11.0.1: no entry names it.
        (spec(5, 10, None, 0), Some(drop(Drop::SourceRouteNoMatch))),
        // A selection id the VR does not have.
        (spec(0, 11, None, 0), Some(drop(Drop::SourceRouteUnknown))),
    ];
    let frames: Vec<Vec<u8>> = cases.iter().map(|(s, _)| frame(s)).collect();
    let (a, b) = both(0, &frames);
    assert_eq!(a, b);
    for (i, ((_, want), got)) in cases.iter().zip(&b.0).enumerate() {
        match want {
            Some(w) => assert_eq!(got, w, "case {i}"),
            None => assert_eq!(
                got.punted().map(|p| p.0),
                Some(Punt::NeighborMiss),
                "case {i}"
            ),
        }
    }
    // Case 0: IP-in-IP (protocol 4) to 10.3.0.77; cases 1 and 2: ESP (protocol 50) to
    // 10.3.0.78, outer DSCP 10, SPI 0x5001, sequence numbers 1 and 2; case 3: ESP too.
    let outer = |i: usize| b.1[i][18..38].to_vec();
    assert_eq!((outer(0)[9], &outer(0)[16..20]), (4, &[10, 3, 0, 77][..]));
    for (i, seq) in [(1usize, 1u32), (2, 2), (3, 3)] {
        let o = outer(i);
        assert_eq!(
            (o[1] >> 2, o[9], &o[16..20]),
            (10, 50, &[10, 3, 0, 78][..]),
            "case {i}"
        );
        let esp = &b.1[i][38..46];
        assert_eq!(
            esp,
            &[0, 0, 0x50, 0x01, 0, 0, 0, seq as u8],
            "case {i}: SPI, sequence"
        );
    }
}
