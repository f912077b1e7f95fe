//! The pipeline on arbitrary frames, with PPPoE sessions, PPP relays and ESP tunnels in the
//! state: never a panic; what is sent leaves on an existing port, starts with an Ethernet
//! header and fits the port's MTU; punt offsets lie inside the frame.
//!
//! ESP: the fuzzer's bytes also become the inner packet of an ESP packet sealed by the twin
//! of an inbound SA (so the decrypted packets are fuzzed too), which must then be decrypted
//! when it arrives in the tunnel's outer VR and refused as `esp_unknown_spi` in the other one
//! (SAs are keyed per VR and the SPIs here differ);
//! whatever an outbound SA sealed and the pipeline sent has outer headers that name the
//! tunnel, opens with the twin of the SA, and holds an IPv4/IPv6 packet of the next header's
//! version with a valid checksum, the whole length, and the tunnel's DSCP (copied to the
//! outer header).
//!
//! IP-in-IP: the fuzzer's bytes also become the inner packet of protocol 4 or 41 from the
//! remote of an inbound tunnel (decapsulated into VR 3 when it arrives in VR 2); whatever
//! the outbound IP-in-IP tunnel sent has an outer IPv4 header naming the tunnel (protocol 4
//! or 41 for the inner version, TTL 64, right length and checksum), the inner DSCP (the
//! tunnel's mark) and ECN copied to it, and DF copied from an inner IPv4 header.
//!
//! Source selections: VR 3 and VR 1 route 10.94/16 and 2001:db8:94::/48 into a selection
//! of their tunnels by source (10.93/16 into an id they do not have); what an outbound SA
//! sealed for such a destination must be the SA the longest selection entry containing
//! the inner source names (worked out here, apart from `vr::srcsel`), and a packet dropped
//! as `source_route_no_match` or `source_route_unknown` used no SA.
#![no_main]

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use dataplane::punt::Offsets;
use esp::{Cipher, Sa, SaParams, HEAD_LEN};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};
use vr::{
    EspSaId, EspTunnel, EspUdp, ForwardingState, IfBinding, IfKey, IpIpId, IpIpTunnel, L2tpEncap,
    LabelPush, NeighborKey, NextHop, PortId, PppoeEncap, RouteSource, SessionBinding, SessionKey,
    SourceRouteId, SourceRoutes, StateWriter, VirtualRouter, VpnId, VrId,
};
use wire::{checksum, IpProtocol};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const SUB_A: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0a];
const SUB_B: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0b];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const PEER_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 9);
const NAT_T: EspUdp = EspUdp {
    local_port: 4500,
    remote_port: 4500,
};

/// An ESP tunnel of the state.
struct Tun {
    spi: u32,
    cipher: Cipher,
    esn: bool,
    vr: VrId,
    outer_vr: VrId,
    local: IpAddr,
    remote: IpAddr,
    udp: Option<EspUdp>,
    dscp: Option<u8>,
}

/// Inbound tunnels: into VR 3 over IPv4 (ESP) and IPv6 (UDP, ESN) arriving in VR 2, and
/// into VR 1 over IPv4 (UDP) arriving in VR 1.
const INBOUND: [Tun; 3] = [
    Tun {
        spi: 0x1000,
        cipher: Cipher::AesGcm128,
        esn: false,
        vr: VrId(3),
        outer_vr: VrId(2),
        local: IpAddr::V4(ME),
        remote: IpAddr::V4(PEER),
        udp: None,
        dscp: None,
    },
    Tun {
        spi: 0x2000,
        cipher: Cipher::ChaCha20Poly1305,
        esn: true,
        vr: VrId(3),
        outer_vr: VrId(2),
        local: IpAddr::V6(ME6),
        remote: IpAddr::V6(PEER6),
        udp: Some(NAT_T),
        dscp: None,
    },
    Tun {
        spi: 0x3000,
        cipher: Cipher::AesGcm256,
        esn: false,
        vr: VrId(1),
        outer_vr: VrId(1),
        local: IpAddr::V4(ME),
        remote: IpAddr::V4(PEER_C),
        udp: Some(NAT_T),
        dscp: None,
    },
];

/// Outbound tunnels by id: VR 3 over IPv4 with DSCP EF, VR 3 over IPv6 in UDP to a moved
/// port, VR 1 over IPv4 in UDP; all routed in VR 2.
const OUTBOUND: [(u32, Tun); 3] = [
    (
        1,
        Tun {
            spi: 0x5001,
            cipher: Cipher::AesGcm128,
            esn: false,
            vr: VrId(3),
            outer_vr: VrId(2),
            local: IpAddr::V4(ME),
            remote: IpAddr::V4(PEER),
            udp: None,
            dscp: Some(46),
        },
    ),
    (
        2,
        Tun {
            spi: 0x5002,
            cipher: Cipher::ChaCha20Poly1305,
            esn: true,
            vr: VrId(3),
            outer_vr: VrId(2),
            local: IpAddr::V6(ME6),
            remote: IpAddr::V6(PEER6),
            udp: Some(EspUdp {
                local_port: 4500,
                remote_port: 31_000,
            }),
            dscp: None,
        },
    ),
    (
        3,
        Tun {
            spi: 0x5003,
            cipher: Cipher::AesGcm256,
            esn: false,
            vr: VrId(1),
            outer_vr: VrId(2),
            local: IpAddr::V4(ME),
            remote: IpAddr::V4(PEER),
            udp: Some(NAT_T),
            dscp: None,
        },
    ),
];

impl Tun {
    /// A new SA of the tunnel; two of them are twins (same key and salt).
    fn sa(&self) -> Sa {
        let keymat = (0..self.cipher.key_len() + 4)
            .map(|i| (self.spi as usize * 7 + i * 13) as u8)
            .collect();
        let mut p = SaParams::new(self.spi, self.cipher, keymat);
        p.esn = self.esn;
        Sa::new(&p, 1).unwrap()
    }

    fn tunnel(&self, sa: Arc<Sa>) -> Arc<EspTunnel> {
        Arc::new(EspTunnel {
            name: format!("spi-{:x}", self.spi).into(),
            sa,
            vr: self.vr,
            outer_vr: self.outer_vr,
            local: self.local,
            remote: self.remote,
            udp: self.udp,
            dscp: self.dscp,
            sources: None,
        })
    }
}

/// The state, and the SAs the target checks against.
struct World {
    st: ForwardingState,
    /// The installed inbound SAs and their twins (which seal the fuzzer's packets).
    inbound: Vec<(Arc<Sa>, Sa)>,
    /// The installed outbound SAs and their twins (which open what they send).
    outbound: Vec<(Arc<Sa>, Sa)>,
}

const PORTS: [PortInfo; 3] = [
    PortInfo {
        mac: ACCESS,
        mtu: 1500,
    },
    PortInfo {
        mac: CORE,
        mtu: 1500,
    },
    PortInfo {
        mac: ACCESS,
        mtu: 90,
    },
];

/// The source selection 1 of VR 3 and of VR 1: (source, prefix length, next hop).
fn selection(vr: u32) -> Vec<(IpAddr, u8, NextHop)> {
    let v4 = |a: [u8; 4]| IpAddr::V4(a.into());
    let v6 = |a: &str| IpAddr::V6(a.parse().unwrap());
    if vr == 3 {
        vec![
            (v4([10, 0, 0, 0]), 8, NextHop::Esp(EspSaId(1))),
            (v4([10, 1, 0, 0]), 16, NextHop::IpIp(IpIpId(1))),
            (v4([100, 64, 0, 17]), 32, NextHop::Esp(EspSaId(2))),
            (v4([192, 0, 2, 0]), 24, NextHop::Esp(EspSaId(9))),
            (v6("2001:db8::"), 32, NextHop::Esp(EspSaId(2))),
            (v6("::"), 0, NextHop::Esp(EspSaId(1))),
        ]
    } else {
        vec![
            (v4([0, 0, 0, 0]), 0, NextHop::Esp(EspSaId(3))),
            (v4([10, 0, 0, 0]), 8, NextHop::Esp(EspSaId(1))),
        ]
    }
}

/// What the selection of `vr` picks for `src`: the longest entry of its family holding
/// it, the first given among equal ones.
fn selected(vr: u32, src: IpAddr) -> Option<NextHop> {
    let bits = |a: IpAddr| match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, true),
        IpAddr::V6(a) => (u128::from(a), false),
    };
    let (s, s4) = bits(src);
    let mut best: Option<(u8, NextHop)> = None;
    for (a, l, nh) in selection(vr) {
        let (a, a4) = bits(a);
        if a4 != s4 {
            continue;
        }
        let m = if l == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(l))
        };
        if s & m == a & m && best.is_none_or(|(bl, _)| l > bl) {
            best = Some((l, nh));
        }
    }
    best.map(|b| b.1)
}

fn to_lns(peer_session: u16, via: [u8; 4]) -> NextHop {
    NextHop::L2tp(L2tpEncap {
        port: PortId(1),
        vlan: None,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        src_ip: ME,
        dst_ip: Ipv4Addr::new(198, 51, 100, 9),
        via: Ipv4Addr::from(via),
        counters: 1,
        src_port: 1701,
        dst_port: 1701,
        peer_tunnel: 40,
        peer_session,
    })
}

fn to_sub(port: u16, vlan: Option<u16>, mac: [u8; 6], session: u16) -> NextHop {
    NextHop::Pppoe(PppoeEncap {
        port: PortId(port),
        vlan,
        src_mac: [0; 6],
        dst_mac: mac,
        session,
        counters: 0,
    })
}

fn state() -> World {
    let mut w = StateWriter::new(PORTS.iter().map(|p| p.mac).collect(), 1);
    w.set_session_counter_slots(4);
    for v in 1..=3 {
        w.add_vr(VirtualRouter::new(
            VrId(v),
            format!("vr{v}"),
            VpnId::new(1, v).unwrap(),
            "t",
        ))
        .unwrap();
        w.alloc_session_counters();
    }
    w.bind_interface(IfKey::PortVlan(PortId(0), 100), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(2)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(2)), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.set_neighbor(
        NeighborKey {
            port: PortId(1),
            vlan: None,
            ip: Ipv4Addr::new(192, 0, 2, 254).into(),
        },
        Some(GW),
    );
    let sa = SessionKey::Pppoe {
        port: PortId(0),
        session: 0x11,
    };
    w.bind_session(sa, SessionBinding::pppoe(VrId(3), 0, SUB_A, Some(100)))
        .unwrap();
    let sb = SessionKey::Pppoe {
        port: PortId(0),
        session: 0x12,
    };
    w.bind_session_relay(
        sb,
        SessionBinding::pppoe(VrId(1), 1, SUB_B, Some(100)),
        to_lns(90, [192, 0, 2, 254]),
    )
    .unwrap();
    let l2 = |s| SessionKey::L2tp {
        tunnel: 7,
        session: s,
    };
    w.bind_session_relay(
        l2(90),
        SessionBinding::new(VrId(2)),
        to_sub(0, Some(100), SUB_B, 0x12),
    )
    .unwrap();
    w.bind_session_relay(
        l2(91),
        SessionBinding::new(VrId(2)),
        to_lns(60, [192, 0, 2, 254]),
    )
    .unwrap();
    w.bind_session_relay(
        l2(92),
        SessionBinding::new(VrId(2)),
        to_lns(61, [192, 0, 2, 253]),
    )
    .unwrap();
    w.bind_session_relay(
        l2(93),
        SessionBinding::new(VrId(2)),
        to_sub(2, None, SUB_A, 0x21),
    )
    .unwrap();
    w.bind_session(l2(94), SessionBinding::new(VrId(2)))
        .unwrap();
    for vr in [1, 2] {
        for p in ["192.0.2.1/32", "2001:db8::1/128"] {
            w.set_route(
                VrId(vr),
                p.parse().unwrap(),
                RouteSource::Local,
                NextHop::Local,
            )
            .unwrap();
        }
    }
    let mut inbound = Vec::new();
    for t in &INBOUND {
        let sa = Arc::new(t.sa());
        w.set_esp_inbound(t.tunnel(Arc::clone(&sa))).unwrap();
        inbound.push((sa, t.sa()));
    }
    let mut outbound = Vec::new();
    for (id, t) in &OUTBOUND {
        let sa = Arc::new(t.sa());
        w.set_esp_outbound(EspSaId(*id), t.tunnel(Arc::clone(&sa)))
            .unwrap();
        outbound.push((sa, t.sa()));
    }
    // Into the tunnels of the VR, into an id only another VR has and into none (both
    // esp_no_sa: ids are per VR).
    for (vr, p, id) in [
        (3, "10.99.0.0/16", 1),
        (3, "2001:db8:99::/48", 2),
        (3, "10.97.0.0/16", 3),
        (3, "10.96.0.0/16", 9),
        (1, "10.98.0.0/16", 3),
        (1, "2001:db8:98::/48", 1),
    ] {
        w.set_route(
            VrId(vr),
            p.parse().unwrap(),
            RouteSource::Static,
            NextHop::Esp(EspSaId(id)),
        )
        .unwrap();
    }
    // IP-in-IP: VR 3's tunnel 1 to PEER (marks DSCP 10) routed in VR 2, for 10.95/16 and
    // 2001:db8:95::/48; from PEER_C arriving in VR 2 into VR 3.
    let ipip = |remote, dscp| IpIpTunnel {
        name: "ipip".into(),
        vr: VrId(3),
        outer_vr: VrId(2),
        local: ME,
        remote,
        dscp,
        sources: None,
    };
    w.set_ipip_outbound(IpIpId(1), Arc::new(ipip(PEER, Some(10))))
        .unwrap();
    w.set_ipip_inbound(Arc::new(ipip(PEER_C, None))).unwrap();
    for p in ["10.95.0.0/16", "2001:db8:95::/48"] {
        w.set_route(
            VrId(3),
            p.parse().unwrap(),
            RouteSource::Static,
            NextHop::IpIp(IpIpId(1)),
        )
        .unwrap();
    }
    for vr in [3u32, 1] {
        let entries = selection(vr).into_iter().map(|(a, l, nh)| ((a, l), nh));
        let sel = SourceRoutes::new(format!("sel{vr}"), VrId(vr), entries);
        w.set_source_routes(SourceRouteId(1), Arc::new(sel))
            .unwrap();
        for (p, id) in [
            ("10.94.0.0/16", 1),
            ("2001:db8:94::/48", 1),
            ("10.93.0.0/16", 5),
        ] {
            w.set_route(
                VrId(vr),
                p.parse().unwrap(),
                RouteSource::Static,
                NextHop::BySource(SourceRouteId(id)),
            )
            .unwrap();
        }
    }
    let ce = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: CORE,
        dst_mac: [2, 0, 0, 0, 0xc, 0xe],
        push: LabelPush::EMPTY,
    };
    for p in ["0.0.0.0/0", "::/0"] {
        w.set_route(VrId(3), p.parse().unwrap(), RouteSource::Static, ce)
            .unwrap();
        w.set_route(VrId(2), p.parse().unwrap(), RouteSource::Static, ce)
            .unwrap();
    }
    for (p, nh) in [
        ("100.64.0.17/32", to_sub(0, Some(100), SUB_A, 0x11)),
        ("100.64.0.33/32", to_sub(2, None, SUB_A, 0x21)),
        ("100.64.0.44/32", to_lns(70, [192, 0, 2, 254])),
    ] {
        w.set_route(VrId(3), p.parse().unwrap(), RouteSource::Static, nh)
            .unwrap();
    }
    World {
        st: w.commit().unwrap(),
        inbound,
        outbound,
    }
}

fn l2tp_header(session: u16) -> Vec<u8> {
    let mut f = CORE.to_vec();
    f.extend_from_slice(&GW);
    f.extend_from_slice(&[0x08, 0x00]);
    // IPv4 to 192.0.2.1, lengths fixed up below, checksum left to the fuzzer's luck:
    // the header is completed in `frame`.
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[198, 51, 100, 9]);
    f.extend_from_slice(&ME.octets());
    f.extend_from_slice(&[0x06, 0xa5, 0x06, 0xa5, 0, 0, 0, 0]);
    f.extend_from_slice(&[0x00, 0x02, 0, 7]);
    f.extend_from_slice(&session.to_be_bytes());
    f
}

/// An IP packet from `src` to `dst` carrying `esp`, in UDP (ports 4500) when `udp`.
fn outer(src: IpAddr, dst: IpAddr, udp: bool, esp: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::new();
    if udp {
        let len = (esp.len() + 8) as u16;
        l4.extend_from_slice(&[0x11, 0x94, 0x11, 0x94]);
        l4.extend_from_slice(&len.to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(esp);
    let proto = if udp {
        IpProtocol::Udp
    } else {
        IpProtocol::Esp
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, u8::from(proto), 0, 0];
            h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let sum = !checksum::data(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            h.extend_from_slice(&l4);
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if udp {
                let sum = !checksum::combine(&[
                    checksum::pseudo_header_v6(&s, &d, proto, l4.len() as u32),
                    checksum::data(&l4),
                ]);
                let sum = if sum == 0 { 0xffff } else { sum };
                l4[6..8].copy_from_slice(&sum.to_be_bytes());
            }
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            h.extend_from_slice(&[u8::from(proto), 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(&l4);
            h
        }
        _ => unreachable!("tunnels of one family"),
    }
}

/// Sets the length (and, for IPv4, the checksum) of the IP header at the start of `ip` to
/// what they should be, so the fuzzer reaches past the header checks.
fn fix_ip(ip: &mut [u8]) {
    match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => {
            let len = ip.len().min(usize::from(u16::MAX)) as u16;
            ip[2..4].copy_from_slice(&len.to_be_bytes());
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if (20..=ip.len()).contains(&ihl) {
                ip[10..12].copy_from_slice(&[0, 0]);
                let sum = !checksum::data(&ip[..ihl]);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
            }
        }
        Some(6) if ip.len() >= 40 => {
            let len = (ip.len() - 40).min(usize::from(u16::MAX)) as u16;
            ip[4..6].copy_from_slice(&len.to_be_bytes());
        }
        _ => {}
    }
}

/// A frame for `port`: an Ethernet header to the port's MAC, then `ip`.
fn eth(port: u16, ip: &[u8]) -> Vec<u8> {
    let mac = PORTS.get(usize::from(port)).map_or(CORE, |p| p.mac);
    let mut f = mac.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0x77, 0x01]);
    let et: u16 = if ip.first().is_some_and(|b| b >> 4 == 6) {
        0x86dd
    } else {
        0x0800
    };
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// The frame for the input, and the inbound tunnel whose twin sealed it, if one did.
fn frame(w: &World, template: u8, port: u16, body: &[u8]) -> (Vec<u8>, Option<usize>) {
    let (flags, rest) = body.split_first().unwrap_or((&0, &[]));
    match template % 16 {
        // Raw ESP to one of the router's addresses: IPv4 or IPv6, in UDP or not; the first
        // byte names an inbound SA's SPI or leaves the body's own.
        t @ 8..=11 => {
            let mut e = rest.to_vec();
            if let (Some(tun), true) = (INBOUND.get(usize::from(flags % 4)), e.len() >= 4) {
                e[..4].copy_from_slice(&tun.spi.to_be_bytes());
            }
            let (src, dst) = if t & 2 == 0 {
                (IpAddr::V4(PEER), IpAddr::V4(ME))
            } else {
                (IpAddr::V6(PEER6), IpAddr::V6(ME6))
            };
            (eth(port, &outer(src, dst, t & 1 != 0, &e)), None)
        }
        // A genuine ESP packet of an inbound tunnel around the fuzzer's inner packet.
        t @ 12..=14 => {
            let i = usize::from(t - 12);
            let tun = &INBOUND[i];
            let next_header = match flags % 4 {
                0 => 4,
                1 => 41,
                2 => 59,
                _ => 17,
            };
            let mut inner = rest.to_vec();
            if flags & 4 != 0 {
                fix_ip(&mut inner);
            }
            let len = inner.len();
            let mut e = vec![0; HEAD_LEN + len + Sa::tail_len(len)];
            e[HEAD_LEN..HEAD_LEN + len].copy_from_slice(&inner);
            w.inbound[i]
                .1
                .seal(0, &mut e, len, next_header)
                .expect("the twin seals");
            let ip = outer(tun.remote, tun.local, tun.udp.is_some(), &e);
            (eth(port, &ip), Some(i))
        }
        // IP-in-IP from the inbound tunnel's remote to the router: protocol 4 or 41.
        15 if template & 0x10 != 0 => {
            let mut inner = rest.to_vec();
            if flags & 1 != 0 {
                fix_ip(&mut inner);
            }
            let proto = if flags & 2 != 0 { 41 } else { 4 };
            let mut h = vec![0x45, flags & 0xfc, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
            h[2..4].copy_from_slice(&((20 + inner.len()).min(0xffff) as u16).to_be_bytes());
            h.extend_from_slice(&PEER_C.octets());
            h.extend_from_slice(&ME.octets());
            let sum = !checksum::data(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            h.extend_from_slice(&inner);
            (eth(port, &h), None)
        }
        // A plain IP packet (into the VRs' routes through the outbound tunnels).
        15 => {
            let mut ip = rest.to_vec();
            if flags & 1 != 0 {
                fix_ip(&mut ip);
            }
            (eth(port, &ip), None)
        }
        t => (frame_access(t, body), None),
    }
}

/// The VR a frame without a VLAN tag arriving on `port` is in.
fn port_vr(port: u16) -> Option<VrId> {
    match port {
        0 | 2 => Some(VrId(1)),
        1 => Some(VrId(2)),
        _ => None,
    }
}

/// Checks a frame the outbound IP-in-IP tunnel sent, if it is one (outer IPv4 from ME to
/// PEER with protocol 4 or 41).
fn check_ipip(f: &[u8]) {
    let l2 = if f[12..14] == [0x81, 0x00] { 18 } else { 14 };
    let ip = &f[l2..];
    if f[l2 - 2..l2] != [0x08, 0x00]
        || ip.len() < 20
        || !(ip[9] == 4 || ip[9] == 41)
        || ip[12..16] != ME.octets()
        || ip[16..20] != PEER.octets()
    {
        return;
    }
    assert_eq!(ip[0], 0x45);
    assert_eq!(checksum::data(&ip[..20]), 0xffff, "outer IPv4 checksum");
    assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
    assert_eq!(ip[8], 64, "outer TTL");
    assert_eq!(ip[6] & 0xbf, 0, "no MF, no offset");
    let inner = &ip[20..];
    let (tos, df) = if ip[9] == 4 {
        assert_eq!(inner[0] >> 4, 4, "protocol 4 carries IPv4");
        let ihl = usize::from(inner[0] & 0x0f) * 4;
        assert_eq!(checksum::data(&inner[..ihl]), 0xffff, "inner IPv4 checksum");
        (inner[1], inner[6] & 0x40)
    } else {
        assert_eq!(inner[0] >> 4, 6, "protocol 41 carries IPv6");
        ((inner[0] << 4) | (inner[1] >> 4), 0)
    };
    assert_eq!(ip[1], tos, "the outer header copies DSCP and ECN");
    assert_eq!(tos >> 2, 10, "the tunnel's DSCP");
    assert_eq!(
        ip[6] & 0x40,
        df,
        "DF copied from inner IPv4, clear for IPv6"
    );
    // VR 3's tunnel: when its destination is routed by source, its source selected it.
    check_selected(3, NextHop::IpIp(IpIpId(1)), inner);
}

/// Checks a frame that outbound tunnel `i` sealed and the pipeline sent; returns the inner
/// packet.
fn check_outbound(w: &World, i: usize, f: &[u8]) -> Vec<u8> {
    let tun = &OUTBOUND[i].1;
    let l2 = if f[12..14] == [0x81, 0x00] { 18 } else { 14 };
    let ip = &f[l2..];
    let (hlen, proto, tos) = match (tun.local, tun.remote) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            assert_eq!(f[l2 - 2..l2], [0x08, 0x00]);
            assert_eq!(ip[0], 0x45);
            assert_eq!(checksum::data(&ip[..20]), 0xffff, "outer IPv4 checksum");
            assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
            assert_eq!(
                (&ip[12..16], &ip[16..20]),
                (&s.octets()[..], &d.octets()[..])
            );
            (20, ip[9], ip[1])
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            assert_eq!(f[l2 - 2..l2], [0x86, 0xdd]);
            assert_eq!(ip[0] >> 4, 6);
            assert_eq!(
                usize::from(u16::from_be_bytes([ip[4], ip[5]])) + 40,
                ip.len()
            );
            assert_eq!(
                (&ip[8..24], &ip[24..40]),
                (&s.octets()[..], &d.octets()[..])
            );
            (40, ip[6], (ip[0] << 4) | (ip[1] >> 4))
        }
        _ => unreachable!("tunnels of one family"),
    };
    let esp_at = match tun.udp {
        Some(u) => {
            assert_eq!(proto, 17);
            let h = &ip[hlen..hlen + 8];
            assert_eq!(u16::from_be_bytes([h[0], h[1]]), u.local_port);
            assert_eq!(u16::from_be_bytes([h[2], h[3]]), u.remote_port);
            assert_eq!(
                usize::from(u16::from_be_bytes([h[4], h[5]])),
                ip.len() - hlen
            );
            hlen + 8
        }
        None => {
            assert_eq!(proto, 50);
            hlen
        }
    };
    let mut e = ip[esp_at..].to_vec();
    let o = w.outbound[i]
        .1
        .open(0, &mut e)
        .unwrap_or_else(|err| panic!("what tunnel {i} sent does not open: {err}"));
    let inner = &e[o.payload];
    let inner_tos = match o.next_header {
        4 => {
            assert_eq!(inner[0] >> 4, 4);
            let ihl = usize::from(inner[0] & 0x0f) * 4;
            assert_eq!(checksum::data(&inner[..ihl]), 0xffff, "inner IPv4 checksum");
            assert_eq!(
                usize::from(u16::from_be_bytes([inner[2], inner[3]])),
                inner.len()
            );
            inner[1]
        }
        41 => {
            assert_eq!(inner[0] >> 4, 6);
            let plen = usize::from(u16::from_be_bytes([inner[4], inner[5]]));
            assert_eq!(plen + 40, inner.len());
            (inner[0] << 4) | (inner[1] >> 4)
        }
        n => panic!("next header {n} from an outbound tunnel"),
    };
    assert_eq!(tos, inner_tos, "the outer header copies DSCP and ECN");
    if let Some(d) = tun.dscp {
        assert_eq!(inner_tos >> 2, d, "the tunnel's DSCP");
    }
    inner.to_vec()
}

/// An inner packet tunnel `nh` of `vr` carried: when its VR routes its destination by
/// source, `nh` must be what the selection picks for its source.
fn check_selected(vr: u32, nh: NextHop, inner: &[u8]) {
    let (src, by_source) = if inner[0] >> 4 == 4 {
        let a = |o: usize| {
            IpAddr::V4(Ipv4Addr::new(
                inner[o],
                inner[o + 1],
                inner[o + 2],
                inner[o + 3],
            ))
        };
        (a(12), inner[16..18] == [10, 94])
    } else {
        let a = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&inner[8..24]).unwrap()));
        (a, inner[24..30] == [0x20, 0x01, 0x0d, 0xb8, 0, 0x94])
    };
    if by_source {
        assert_eq!(
            selected(vr, src),
            Some(nh),
            "{src}'s packet left in {nh:?} of VR {vr}"
        );
    }
}

fn frame_access(template: u8, body: &[u8]) -> Vec<u8> {
    let pppoe = |src: [u8; 6], session: u16, et: u16| {
        let mut f = ACCESS.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x81, 0x00, 0, 100]);
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&[0x11, 0]);
        f.extend_from_slice(&session.to_be_bytes());
        f.extend_from_slice(&(body.len() as u16).to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    match template % 8 {
        0 => body.to_vec(),
        1 => pppoe(SUB_A, 0x11, 0x8864),
        2 => pppoe(SUB_B, 0x12, 0x8864),
        3 => pppoe(SUB_A, 0x12, 0x8863),
        t => {
            let mut f = l2tp_header(89 + u16::from(t));
            f.extend_from_slice(body);
            let total = (f.len() - 14) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            let mut s: u32 = 0;
            for c in f[14..34].chunks(2) {
                s += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            f[24..26].copy_from_slice(&(!(s as u16)).to_be_bytes());
            f[38..40].copy_from_slice(&(total - 20).to_be_bytes());
            f
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static WORLD: OnceLock<World> = OnceLock::new();
    let w = WORLD.get_or_init(state);
    let [template, port, body @ ..] = data else {
        return;
    };
    let port = u16::from(*port % 4);
    let (f, sealed) = frame(w, *template, port, body);
    let Some(mut b) = HeapBuf::from_slice(&f) else {
        return;
    };
    let c = WorkerCounters::new(0, PORTS.len());
    let opened = |w: &World| {
        w.inbound
            .iter()
            .map(|s| s.0.traffic().0)
            .collect::<Vec<_>>()
    };
    let sent = |w: &World| {
        w.outbound
            .iter()
            .map(|s| s.0.traffic().0)
            .collect::<Vec<_>>()
    };
    let (opened_before, sent_before) = (opened(w), sent(w));
    let v = forward(&w.st, &PORTS, PortId(port), &mut b, &c);
    if let Some(i) = sealed {
        let got = opened(w)[i] - opened_before[i];
        match port_vr(port) {
            Some(vr) if vr == INBOUND[i].outer_vr => {
                assert_eq!(got, 1, "a genuine packet of tunnel {i} not opened: {v:?}")
            }
            Some(_) => {
                assert_eq!(got, 0, "tunnel {i}'s SA used outside its outer VR");
                assert_eq!(v, Verdict::Drop(Drop::EspUnknownSpi))
            }
            None => {}
        }
    }
    let sealer = sent(w)
        .iter()
        .zip(&sent_before)
        .position(|(now, before)| now != before);
    match v {
        Verdict::Tx(p) => {
            let out = PORTS
                .get(usize::from(p.0))
                .expect("sent on an existing port");
            assert!(b.len() >= 14, "sent frame without an Ethernet header");
            let l2 = if b.data()[12..14] == [0x81, 0x00] {
                18
            } else {
                14
            };
            assert!(
                b.len() - l2 <= out.mtu as usize,
                "{} bytes after L2 on a port with MTU {}",
                b.len() - l2,
                out.mtu
            );
            if let Some(i) = sealer {
                let inner = check_outbound(w, i, b.data());
                let (id, tun) = &OUTBOUND[i];
                check_selected(tun.vr.0, NextHop::Esp(EspSaId(*id)), &inner);
            } else {
                // A packet that already had these outer addresses (anywhere in the input,
                // plaintext of the ESP templates included) may be routed as it is; only
                // what the tunnel wrote is checked.
                let mut needle = ME.octets().to_vec();
                needle.extend_from_slice(&PEER.octets());
                if !data.windows(8).any(|x| x == needle) {
                    check_ipip(b.data());
                }
            }
        }
        Verdict::Punt(p) => {
            for o in [p.at.l3, p.at.ip, p.at.l4, p.at.app, p.at.inner] {
                if let Some(o) = Offsets::get(o) {
                    assert!(o <= b.len(), "offset {o} beyond a {}-byte frame", b.len());
                }
            }
        }
        Verdict::Drop(d @ (Drop::SourceRouteNoMatch | Drop::SourceRouteUnknown)) => {
            assert_eq!(sealer, None, "{d:?}, yet an SA sealed");
        }
        Verdict::Drop(_) => {}
    }
});
