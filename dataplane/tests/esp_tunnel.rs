//! ESP tunnel mode through the pipeline (issue 13): encapsulation of what a customer VR
//! routes into an outbound SA, decapsulation of what a peer sends to a local address of the
//! core VR, UDP encapsulation (RFC 3948), IPv4 and IPv6 outer and inner headers, DSCP
//! marking, the named ESP drops and the isolation rules between VRs.
//!
//! The peer is played by independent `esp::Sa` instances made from the same parameters as
//! ours: it seals what the pipeline must decrypt and opens what the pipeline sends. The
//! outer headers are built and checked field by field here, with the test's own checksum
//! code; nothing of the pipeline's encoders is used to produce an expectation. The
//! property test at the end runs a packet through two pipelines — ours and a second state
//! configured as the peer, with mirrored SAs — and checks the inner packet comes out.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use esp::{Cipher, Sa, SaParams};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use vr::{
    vr_counter, EspSaId, EspTunnel, EspUdp, ForwardingState, IfBinding, IfKey, InboundKey,
    LabelPush, NextHop, OutboundKey, PortId, RouteSource, StateWriter, VirtualRouter, VpnId, VrId,
};

// Port 0: customer A (untagged). Port 1: core. Port 2: customer B (VLAN 300).
const CUST_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const CUST_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
const CE_A: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xea];
const CE_B: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xeb];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];
const B_VLAN: u16 = 300;

const A_VR: VrId = VrId(1);
const CORE_VR: VrId = VrId(2);
const B_VR: VrId = VrId(3);

const ME4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 9);
const LOST4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

/// A tunnel of the lab: our outbound id and SPI, our inbound SPI.
#[derive(Clone, Copy)]
struct T {
    id: u32,
    out_spi: u32,
    in_spi: u32,
}

/// A: IPv4 outer, plain ESP. Routes 10.2.0.0/16 and fd00:2::/48.
const T_V4: T = T {
    id: 1,
    out_spi: 0x1001,
    in_spi: 0x2001,
};
/// A: IPv6 outer, plain ESP. Routes 10.3.0.0/16 and fd00:3::/48.
const T_V6: T = T {
    id: 2,
    out_spi: 0x1002,
    in_spi: 0x2002,
};
/// A: IPv4 outer, UDP 4500. Routes 10.4.0.0/16.
const T_UDP4: T = T {
    id: 3,
    out_spi: 0x1003,
    in_spi: 0x2003,
};
/// A: IPv6 outer, UDP 4500. Routes 10.5.0.0/16 and fd00:5::/48.
const T_UDP6: T = T {
    id: 4,
    out_spi: 0x1004,
    in_spi: 0x2004,
};
/// A: IPv4 outer, marks DSCP 10. Routes 10.6.0.0/16 and fd00:6::/48.
const T_DSCP: T = T {
    id: 5,
    out_spi: 0x1005,
    in_spi: 0x2005,
};
/// B: IPv4 outer. Routes 10.2.0.0/16 (overlapping A's).
const T_B: T = T {
    id: 6,
    out_spi: 0x1006,
    in_spi: 0x2006,
};
/// A: IPv4 outer to a peer the core VR has no route for. Routes 10.7.0.0/16.
const T_LOST: T = T {
    id: 7,
    out_spi: 0x1007,
    in_spi: 0x2007,
};

/// Keying material of an SPI (key ‖ salt), different for every SPI; the cipher also varies
/// with the SPI so that every AEAD is exercised.
fn params(spi: u32) -> SaParams {
    let cipher = Cipher::ALL[spi as usize % Cipher::ALL.len()];
    let keymat = (0..cipher.key_len() + 4)
        .map(|i| {
            (spi as u8)
                .wrapping_mul(37)
                .wrapping_add((i as u8).wrapping_mul(11))
        })
        .collect();
    SaParams::new(spi, cipher, keymat)
}

/// An independent SA of the same parameters (the peer's half).
fn peer_sa(spi: u32) -> Sa {
    Sa::new(&params(spi), 1).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn tunnel(
    name: &str,
    spi: u32,
    vr: VrId,
    outer_vr: VrId,
    local: IpAddr,
    remote: IpAddr,
    udp: bool,
    dscp: Option<u8>,
) -> Arc<EspTunnel> {
    Arc::new(EspTunnel {
        name: name.into(),
        sa: Arc::new(Sa::new(&params(spi), 2).unwrap()),
        vr,
        outer_vr,
        local,
        remote,
        udp: udp.then_some(EspUdp {
            local_port: 4500,
            remote_port: 4500,
        }),
        dscp,
        sources: None,
    })
}

fn fwd(port: u16, vlan: Option<u16>, src: [u8; 6], dst: [u8; 6]) -> NextHop {
    NextHop::Forward {
        port: PortId(port),
        vlan,
        src_mac: src,
        dst_mac: dst,
        push: LabelPush::EMPTY,
    }
}

fn route(w: &mut StateWriter, vr: VrId, p: &str, nh: NextHop) {
    let source = if nh == NextHop::Local {
        RouteSource::Local
    } else {
        RouteSource::Static
    };
    w.set_route(vr, p.parse().unwrap(), source, nh).unwrap();
}

/// Installs tunnel `t` (outbound and inbound SA) of `vr` between `local` and `remote`.
fn install(
    w: &mut StateWriter,
    t: T,
    vr: VrId,
    local: IpAddr,
    remote: IpAddr,
    udp: bool,
    dscp: Option<u8>,
) {
    let name = format!("t{}", t.id);
    let out = tunnel(&name, t.out_spi, vr, CORE_VR, local, remote, udp, dscp);
    w.set_esp_outbound(EspSaId(t.id), out).unwrap();
    let inb = tunnel(&name, t.in_spi, vr, CORE_VR, local, remote, udp, None);
    w.set_esp_inbound(inb).unwrap();
}

fn writer() -> StateWriter {
    let mut w = StateWriter::new(vec![CUST_A, CORE, CUST_B], 2);
    for (id, name) in [(A_VR, "cust"), (CORE_VR, "core"), (B_VR, "custb")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(A_VR))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(CORE_VR))
        .unwrap();
    w.bind_interface(IfKey::PortVlan(PortId(2), B_VLAN), IfBinding::Vr(B_VR))
        .unwrap();
    // The core VR: our tunnel addresses, the peer's networks behind the gateway.
    route(&mut w, CORE_VR, "192.0.2.1/32", NextHop::Local);
    route(&mut w, CORE_VR, "2001:db8::1/128", NextHop::Local);
    let gw = fwd(1, None, CORE, GW);
    route(&mut w, CORE_VR, "198.51.100.0/24", gw);
    route(&mut w, CORE_VR, "2001:db8:100::/48", gw);
    // Customer A: its CE, the tunnel address too (to test isolation), routes into tunnels.
    let ce_a = fwd(0, None, CUST_A, CE_A);
    route(&mut w, A_VR, "10.1.0.0/16", ce_a);
    route(&mut w, A_VR, "fd00:1::/48", ce_a);
    route(&mut w, A_VR, "192.0.2.1/32", NextHop::Local);
    let (me4, peer4, me6, peer6) = (ME4.into(), PEER4.into(), ME6.into(), PEER6.into());
    install(&mut w, T_V4, A_VR, me4, peer4, false, None);
    install(&mut w, T_V6, A_VR, me6, peer6, false, None);
    install(&mut w, T_UDP4, A_VR, me4, peer4, true, None);
    install(&mut w, T_UDP6, A_VR, me6, peer6, true, None);
    install(&mut w, T_DSCP, A_VR, me4, peer4, false, Some(10));
    install(&mut w, T_LOST, A_VR, me4, LOST4.into(), false, None);
    for (p, t) in [
        ("10.2.0.0/16", T_V4),
        ("fd00:2::/48", T_V4),
        ("10.3.0.0/16", T_V6),
        ("fd00:3::/48", T_V6),
        ("10.4.0.0/16", T_UDP4),
        ("10.5.0.0/16", T_UDP6),
        ("fd00:5::/48", T_UDP6),
        ("10.6.0.0/16", T_DSCP),
        ("fd00:6::/48", T_DSCP),
        ("10.7.0.0/16", T_LOST),
    ] {
        route(&mut w, A_VR, p, NextHop::Esp(EspSaId(t.id)));
    }
    // An id without an SA.
    route(&mut w, A_VR, "10.8.0.0/16", NextHop::Esp(EspSaId(99)));
    // Customer B: the same addresses as A, its own CE and tunnel; 10.9/16 into A's SA id
    // (which B does not have).
    route(
        &mut w,
        B_VR,
        "10.1.0.0/16",
        fwd(2, Some(B_VLAN), CUST_B, CE_B),
    );
    install(&mut w, T_B, B_VR, me4, peer4, false, None);
    route(&mut w, B_VR, "10.2.0.0/16", NextHop::Esp(EspSaId(T_B.id)));
    route(&mut w, B_VR, "10.9.0.0/16", NextHop::Esp(EspSaId(T_V4.id)));
    w
}

fn ports() -> Vec<PortInfo> {
    [CUST_A, CORE, CUST_B]
        .into_iter()
        .map(|mac| PortInfo { mac, mtu: 1500 })
        .collect()
}

// --- frame builders and checkers (independent of the pipeline) ----------------------------

fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn csum(b: &[u8]) -> u16 {
    fold(sum(b))
}

/// The UDP checksum over IPv6 (RFC 8200 §8.1) of `udp` (its checksum field included as it
/// is): 0 when the field is right.
fn udp6_check(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> u16 {
    let mut ph = src.octets().to_vec();
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(udp.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 17]);
    fold(sum(&ph) + sum(udp))
}

fn eth(dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, et: u16) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&et.to_be_bytes());
    f
}

/// IPv4 header (no options) for `payload`, then the payload.
fn ip4_raw(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, tos: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, tos, 0, 0, 0x12, 0x34, 0, 0, ttl, proto, 0, 0];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn udp_payload(n: usize) -> Vec<u8> {
    let mut u = vec![0, 5, 0, 6];
    u.extend_from_slice(&((8 + n) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..n).map(|i| (i * 7) as u8));
    u
}

/// A customer's IPv4/UDP packet with `n` bytes of data.
fn ip4(src: [u8; 4], dst: [u8; 4], ttl: u8, tos: u8, n: usize) -> Vec<u8> {
    ip4_raw(src.into(), dst.into(), ttl, tos, 17, &udp_payload(n))
}

fn ip6_raw(src: Ipv6Addr, dst: Ipv6Addr, hlim: u8, tc: u8, nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60 | (tc >> 4), (tc << 4) | 0x0a, 0xbc, 0xde];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[nh, hlim]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// A customer's IPv6/UDP packet (checksum left 0: nobody checks it on the way).
fn ip6(src: &str, dst: &str, hlim: u8, tc: u8, n: usize) -> Vec<u8> {
    ip6_raw(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        hlim,
        tc,
        17,
        &udp_payload(n),
    )
}

/// The packet as routed by one hop: TTL/hop limit one less (IPv4 checksum recomputed).
fn routed(p: &[u8]) -> Vec<u8> {
    let mut q = p.to_vec();
    if q[0] >> 4 == 4 {
        q[8] -= 1;
        fix_ip4_csum(&mut q);
    } else {
        q[7] -= 1;
    }
    q
}

fn fix_ip4_csum(q: &mut [u8]) {
    q[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&q[..20]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
}

/// The packet with DSCP `dscp` (ECN kept).
fn with_dscp(p: &[u8], dscp: u8) -> Vec<u8> {
    let mut q = p.to_vec();
    if q[0] >> 4 == 4 {
        q[1] = (dscp << 2) | (q[1] & 3);
        fix_ip4_csum(&mut q);
    } else {
        let tc = (dscp << 2) | ((q[1] >> 4) & 3);
        q[0] = 0x60 | (tc >> 4);
        q[1] = (tc << 4) | (q[1] & 0x0f);
    }
    q
}

/// Traffic class of an IPv4 or IPv6 header.
fn tos_of(p: &[u8]) -> u8 {
    if p[0] >> 4 == 4 {
        p[1]
    } else {
        (p[0] << 4) | (p[1] >> 4)
    }
}

/// What the peer sends: `inner` sealed with `sa` (next header `nh`).
fn seal(sa: &Sa, inner: &[u8], nh: u8) -> Vec<u8> {
    let mut pkt = vec![0; esp::HEAD_LEN];
    pkt.extend_from_slice(inner);
    pkt.resize(pkt.len() + Sa::tail_len(inner.len()), 0);
    sa.seal(0, &mut pkt, inner.len(), nh).unwrap();
    pkt
}

/// What the peer reads: sequence number, next header and payload of `esp` opened with `sa`.
fn open(sa: &Sa, esp: &[u8]) -> (u64, u8, Vec<u8>) {
    let mut b = esp.to_vec();
    let o = sa.open(0, &mut b).expect("the peer opens what we sent");
    (o.seq, o.next_header, b[o.payload].to_vec())
}

/// UDP header (RFC 3948) in front of `payload`, with checksum `ck`.
fn udp(sport: u16, dport: u16, payload: &[u8], ck: u16) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&ck.to_be_bytes());
    u.extend_from_slice(payload);
    u
}

/// The frame the peer sends to our core port: ESP (or UDP-encapsulated ESP) from
/// `PEER4` to `ME4`.
fn from_peer4(esp: &[u8], over_udp: bool) -> Vec<u8> {
    let mut f = eth(CORE, GW, None, 0x0800);
    if over_udp {
        f.extend(ip4_raw(PEER4, ME4, 60, 0, 17, &udp(4500, 4500, esp, 0)));
    } else {
        f.extend(ip4_raw(PEER4, ME4, 60, 0, 50, esp));
    }
    f
}

/// The same over IPv6 (UDP with a correct checksum).
fn from_peer6(esp: &[u8], over_udp: bool) -> Vec<u8> {
    let mut f = eth(CORE, GW, None, 0x86dd);
    if over_udp {
        let mut u = udp(4500, 4500, esp, 0);
        let ck = udp6_check(PEER6, ME6, &u);
        u[6..8].copy_from_slice(&ck.to_be_bytes());
        f.extend(ip6_raw(PEER6, ME6, 60, 0, 17, &u));
    } else {
        f.extend(ip6_raw(PEER6, ME6, 60, 0, 50, esp));
    }
    f
}

/// Checks the outer IPv4 header of a frame we sent to the peer and returns the ESP bytes.
fn outer4(out: &[u8], tos: u8, over_udp: bool) -> Vec<u8> {
    assert_eq!(&out[..14], &eth(GW, CORE, None, 0x0800)[..], "Ethernet");
    let h = &out[14..34];
    assert_eq!(h[0], 0x45, "version 4, no options");
    assert_eq!(h[1], tos, "TOS");
    assert_eq!(
        usize::from(u16::from_be_bytes([h[2], h[3]])),
        out.len() - 14
    );
    assert_eq!(h[8], 64, "TTL");
    assert_eq!(h[9], if over_udp { 17 } else { 50 }, "protocol");
    assert_eq!(&h[12..16], &ME4.octets());
    assert_eq!(&h[16..20], &PEER4.octets());
    assert_eq!(csum(h), 0, "header checksum");
    if !over_udp {
        return out[34..].to_vec();
    }
    let u = &out[34..];
    assert_eq!(&u[0..4], &[0x11, 0x94, 0x11, 0x94], "ports 4500");
    assert_eq!(usize::from(u16::from_be_bytes([u[4], u[5]])), u.len());
    assert_eq!(
        &u[6..8],
        &[0, 0],
        "no UDP checksum over IPv4 (RFC 3948 §2.1)"
    );
    u[8..].to_vec()
}

/// The same for an IPv6 outer header (the UDP checksum must verify).
fn outer6(out: &[u8], tc: u8, over_udp: bool) -> Vec<u8> {
    assert_eq!(&out[..14], &eth(GW, CORE, None, 0x86dd)[..], "Ethernet");
    let h = &out[14..54];
    assert_eq!(h[0] >> 4, 6, "version 6");
    assert_eq!(tos_of(h), tc, "traffic class");
    assert_eq!(&[h[1] & 0x0f, h[2], h[3]], &[0, 0, 0], "flow label");
    assert_eq!(
        usize::from(u16::from_be_bytes([h[4], h[5]])),
        out.len() - 54
    );
    assert_eq!(h[6], if over_udp { 17 } else { 50 }, "next header");
    assert_eq!(h[7], 64, "hop limit");
    assert_eq!(&h[8..24], &ME6.octets());
    assert_eq!(&h[24..40], &PEER6.octets());
    if !over_udp {
        return out[54..].to_vec();
    }
    let u = &out[54..];
    assert_eq!(&u[0..4], &[0x11, 0x94, 0x11, 0x94], "ports 4500");
    assert_eq!(usize::from(u16::from_be_bytes([u[4], u[5]])), u.len());
    assert_ne!(&u[6..8], &[0, 0], "a UDP checksum is mandatory over IPv6");
    assert_eq!(udp6_check(ME6, PEER6, u), 0, "UDP checksum");
    u[8..].to_vec()
}

struct Run {
    st: ForwardingState,
    c: WorkerCounters,
    ports: Vec<PortInfo>,
}

impl Run {
    fn new() -> Self {
        Self::with(writer().commit().unwrap())
    }

    fn with(st: ForwardingState) -> Self {
        Run {
            st,
            c: WorkerCounters::new(0, 3),
            ports: ports(),
        }
    }

    fn go(&self, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let mut b = HeapBuf::from_slice(frame).unwrap();
        let v = forward(&self.st, &self.ports, PortId(port), &mut b, &self.c);
        (v, b.data().to_vec())
    }

    /// A customer A packet into the pipeline.
    fn send_a(&self, ip: &[u8]) -> (Verdict, Vec<u8>) {
        let et = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
        let mut f = eth(CUST_A, CE_A, None, et);
        f.extend_from_slice(ip);
        self.go(0, &f)
    }

    fn send_b(&self, ip: &[u8]) -> (Verdict, Vec<u8>) {
        let mut f = eth(CUST_B, CE_B, Some(B_VLAN), 0x0800);
        f.extend_from_slice(ip);
        self.go(2, &f)
    }

    fn vr(&self, vr: VrId, which: usize) -> u64 {
        self.st.vr(vr).unwrap().counters.total(which)
    }

    fn counts(&self, vr: VrId) -> [u64; 3] {
        [
            self.vr(vr, vr_counter::RX),
            self.vr(vr, vr_counter::TX),
            self.vr(vr, vr_counter::DROP),
        ]
    }

    /// Tunnel `t`'s outbound SA (all but `T_B` are A's).
    fn out_sa(&self, t: T) -> &Sa {
        let vr = if t.id == T_B.id { B_VR } else { A_VR };
        let k = OutboundKey::new(vr, EspSaId(t.id));
        &self.st.esp.outbound.get(&k).unwrap().sa
    }

    /// Tunnel `t`'s inbound SA (every tunnel's ESP arrives in the core VR).
    fn in_sa(&self, t: T) -> &Sa {
        let k = InboundKey::new(CORE_VR, t.in_spi);
        &self.st.esp.inbound.get(&k).unwrap().sa
    }
}

fn spi_seq(esp: &[u8]) -> (u32, u32) {
    (
        u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]),
        u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]]),
    )
}

// --- encapsulation ---------------------------------------------------------------------------

#[test]
fn ipv4_is_encapsulated_with_sequence_numbers_and_the_inner_tos() {
    let r = Run::new();
    let peer = peer_sa(T_V4.out_spi);
    for (i, n) in [(1u32, 30usize), (2, 0), (3, 1000)] {
        let inner = ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0xb8, n);
        let (v, out) = r.send_a(&inner);
        assert_eq!(v, Verdict::Tx(PortId(1)), "packet {i}");
        let esp = outer4(&out, 0xb8, false);
        assert_eq!(spi_seq(&esp), (T_V4.out_spi, i));
        let (seq, nh, payload) = open(&peer, &esp);
        assert_eq!((seq, nh), (u64::from(i), 4));
        assert_eq!(
            payload,
            routed(&inner),
            "packet {i}: the inner packet, TTL - 1"
        );
    }
    let bytes = (3 * 28 + 30 + 1000) as u64;
    assert_eq!(r.out_sa(T_V4).traffic(), (3, bytes));
    assert_eq!(r.counts(A_VR), [3, 3, 0]);
    assert_eq!(
        r.counts(CORE_VR),
        [0, 3, 0],
        "the outer packets leave the core VR"
    );
}

#[test]
fn ipv6_inner_over_ipv4_outer() {
    let r = Run::new();
    let peer = peer_sa(T_V4.out_spi);
    let inner = ip6("fd00:1::5", "fd00:2::7", 30, 0x2e << 2, 77);
    let (v, out) = r.send_a(&inner);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let esp = outer4(&out, 0x2e << 2, false);
    let (seq, nh, payload) = open(&peer, &esp);
    assert_eq!((seq, nh), (1, 41));
    assert_eq!(payload, routed(&inner));
}

#[test]
fn dscp_marking_re_marks_the_inner_and_the_outer_copies_it() {
    let r = Run::new();
    let peer = peer_sa(T_DSCP.out_spi);
    // ECN 01 (ECT(1)) stays; the DSCP becomes 10.
    let inner = ip4([10, 1, 0, 5], [10, 6, 0, 7], 64, 0xb9, 40);
    let (v, out) = r.send_a(&inner);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let marked = with_dscp(&routed(&inner), 10);
    assert_eq!(marked[1], (10 << 2) | 1);
    let esp = outer4(&out, (10 << 2) | 1, false);
    let (_, _, payload) = open(&peer, &esp);
    assert_eq!(payload, marked, "re-marked, checksum still valid");
    assert_eq!(csum(&payload[..20]), 0);
    // An inner IPv6 packet: its traffic class is re-marked the same way.
    let inner = ip6("fd00:1::5", "fd00:6::7", 9, 0xb8 | 2, 3);
    let (v, out) = r.send_a(&inner);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let esp = outer4(&out, (10 << 2) | 2, false);
    let (_, nh, payload) = open(&peer, &esp);
    assert_eq!(nh, 41);
    assert_eq!(payload, with_dscp(&routed(&inner), 10));
    assert_eq!(&payload[..4], &[0x62, 0xaa, 0xbc, 0xde], "flow label kept");
}

#[test]
fn ipv6_outer_both_inner_families() {
    let r = Run::new();
    let peer = peer_sa(T_V6.out_spi);
    let inner4 = ip4([10, 1, 0, 5], [10, 3, 0, 7], 64, 0x48, 100);
    let inner6 = ip6("fd00:1::5", "fd00:3::7", 64, 0x49, 200);
    for (i, (inner, nh)) in [(&inner4, 4u8), (&inner6, 41)].into_iter().enumerate() {
        let (v, out) = r.send_a(inner);
        assert_eq!(v, Verdict::Tx(PortId(1)));
        let esp = outer6(&out, tos_of(inner), false);
        assert_eq!(spi_seq(&esp), (T_V6.out_spi, i as u32 + 1));
        let (_, got_nh, payload) = open(&peer, &esp);
        assert_eq!(got_nh, nh);
        assert_eq!(&payload, &routed(inner));
    }
}

#[test]
fn udp_encapsulation_outbound_ipv4_and_ipv6() {
    let r = Run::new();
    let peer4 = peer_sa(T_UDP4.out_spi);
    let inner = ip4([10, 1, 0, 5], [10, 4, 0, 7], 64, 0, 50);
    let (v, out) = r.send_a(&inner);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let esp = outer4(&out, 0, true);
    assert_eq!(spi_seq(&esp), (T_UDP4.out_spi, 1));
    assert_eq!(open(&peer4, &esp).2, routed(&inner));
    // IPv6 outer: the UDP checksum is computed; payload lengths of both parities.
    let peer6 = peer_sa(T_UDP6.out_spi);
    for n in [0usize, 1, 2, 3, 501, 1300] {
        for inner in [
            ip4([10, 1, 0, 5], [10, 5, 0, 7], 64, 0x10, n),
            ip6("fd00:1::5", "fd00:5::7", 64, 0x11, n),
        ] {
            let (v, out) = r.send_a(&inner);
            assert_eq!(v, Verdict::Tx(PortId(1)), "n = {n}");
            let esp = outer6(&out, tos_of(&inner), true);
            assert_eq!(open(&peer6, &esp).2, routed(&inner), "n = {n}");
        }
    }
}

// --- decapsulation ---------------------------------------------------------------------------

#[test]
fn ipv4_outer_is_decapsulated_into_the_sa_vr() {
    let r = Run::new();
    let peer = peer_sa(T_V4.in_spi);
    for n in [0usize, 33, 1400] {
        let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 61, 0x28, n);
        let (v, out) = r.go(1, &from_peer4(&seal(&peer, &inner, 4), false));
        assert_eq!(v, Verdict::Tx(PortId(0)), "n = {n}");
        let mut want = eth(CE_A, CUST_A, None, 0x0800);
        want.extend(routed(&inner));
        assert_eq!(out, want, "n = {n}");
    }
    let inner6 = ip6("fd00:2::7", "fd00:1::5", 9, 0, 10);
    let (v, out) = r.go(1, &from_peer4(&seal(&peer, &inner6, 41), false));
    assert_eq!(v, Verdict::Tx(PortId(0)));
    let mut want = eth(CE_A, CUST_A, None, 0x86dd);
    want.extend(routed(&inner6));
    assert_eq!(out, want);
    let bytes = (3 * 28 + 33 + 1400 + inner6.len()) as u64;
    assert_eq!(r.in_sa(T_V4).traffic(), (4, bytes));
    assert_eq!(r.in_sa(T_V4).replay_top(), 4);
    assert_eq!(r.counts(CORE_VR), [4, 0, 0]);
    assert_eq!(r.counts(A_VR), [4, 4, 0]);
}

#[test]
fn ipv6_outer_is_decapsulated() {
    let r = Run::new();
    for (t, over_udp) in [(T_V6, false), (T_UDP6, true)] {
        let peer = peer_sa(t.in_spi);
        let inner4 = ip4([10, 3, 0, 7], [10, 1, 0, 5], 64, 0, 20);
        let inner6 = ip6("fd00:3::7", "fd00:1::5", 64, 0, 21);
        for (inner, nh, et) in [(&inner4, 4, 0x0800), (&inner6, 41, 0x86dd)] {
            let (v, out) = r.go(1, &from_peer6(&seal(&peer, inner, nh), over_udp));
            assert_eq!(v, Verdict::Tx(PortId(0)), "udp {over_udp}, nh {nh}");
            let mut want = eth(CE_A, CUST_A, None, et);
            want.extend(routed(inner));
            assert_eq!(out, want);
        }
        assert_eq!(r.in_sa(t).traffic().0, 2);
    }
}

#[test]
fn udp_encapsulation_inbound_keepalives_and_ike() {
    let r = Run::new();
    let peer = peer_sa(T_UDP4.in_spi);
    let inner = ip4([10, 4, 0, 7], [10, 1, 0, 5], 64, 0, 8);
    let (v, out) = r.go(1, &from_peer4(&seal(&peer, &inner, 4), true));
    assert_eq!(v, Verdict::Tx(PortId(0)));
    assert_eq!(&out[14..], &routed(&inner)[..]);
    // A NAT-keepalive: counted and dropped.
    let (v, _) = r.go(1, &from_peer4(&[0xff], true));
    assert_eq!(v, Verdict::Drop(Drop::EspNatKeepalive));
    let (v, _) = r.go(1, &from_peer6(&[0xff], true));
    assert_eq!(v, Verdict::Drop(Drop::EspNatKeepalive));
    // As it comes off the wire: padded to the 60-byte Ethernet minimum (counted below
    // with the others).
    let mut padded = from_peer4(&[0xff], true);
    padded.resize(60, 0);
    assert_eq!(r.go(1, &padded).0, Verdict::Drop(Drop::EspNatKeepalive));
    // IKE (non-ESP marker, then an IKE header): punted, unchanged, with its offsets.
    let mut ike = vec![0, 0, 0, 0];
    ike.extend((0..28).map(|i| i as u8 + 1));
    let f = from_peer4(&ike, true);
    let (v, out) = r.go(1, &f);
    let Verdict::Punt(p) = v else { panic!("{v:?}") };
    assert_eq!((p.reason, p.vr), (Punt::Local, Some(CORE_VR)));
    assert_eq!((p.at.ip, p.at.l4, p.at.app), (14, 34, 42));
    assert_eq!(out, f);
    // Neither ESP, keepalive nor IKE: too short.
    let (v, _) = r.go(1, &from_peer4(&[1, 2, 3], true));
    assert_eq!(v, Verdict::Drop(Drop::EspTruncated));
    assert_eq!(r.counts(CORE_VR), [6, 0, 4]);
}

#[test]
fn decapsulated_traffic_can_be_routed_into_another_tunnel() {
    // A hub: from the IPv4 tunnel into the IPv6 one, in one pass.
    let r = Run::new();
    let from = peer_sa(T_V4.in_spi);
    let to = peer_sa(T_V6.out_spi);
    let inner = ip4([10, 2, 0, 7], [10, 3, 0, 7], 64, 0x20, 300);
    let (v, out) = r.go(1, &from_peer4(&seal(&from, &inner, 4), false));
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let esp = outer6(&out, 0x20, false);
    assert_eq!(spi_seq(&esp), (T_V6.out_spi, 1));
    assert_eq!(open(&to, &esp).2, routed(&inner));
    assert_eq!(r.counts(CORE_VR), [1, 1, 0]);
    assert_eq!(r.counts(A_VR), [1, 1, 0]);
}

// --- errors ----------------------------------------------------------------------------------

#[test]
fn replay_bad_icv_unknown_spi_and_truncation_are_named_drops() {
    let r = Run::new();
    let peer = peer_sa(T_V4.in_spi);
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 30);
    let esp1 = seal(&peer, &inner, 4);
    assert_eq!(r.go(1, &from_peer4(&esp1, false)).0, Verdict::Tx(PortId(0)));
    // The same packet again.
    assert_eq!(
        r.go(1, &from_peer4(&esp1, false)).0,
        Verdict::Drop(Drop::EspReplay)
    );
    // A flipped ICV bit, a flipped ciphertext bit: refused, and the sequence number is
    // not burnt (the genuine packet is accepted afterwards).
    let esp2 = seal(&peer, &inner, 4);
    for at in [esp2.len() - 1, esp::HEAD_LEN + 3, 6] {
        let mut bad = esp2.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            r.go(1, &from_peer4(&bad, false)).0,
            Verdict::Drop(Drop::EspBadIcv),
            "byte {at}"
        );
    }
    assert_eq!(r.go(1, &from_peer4(&esp2, false)).0, Verdict::Tx(PortId(0)));
    // An SPI nobody installed (and our outbound SPI: not an inbound one).
    for spi in [0x7777u32, T_V4.out_spi] {
        let mut bad = seal(&peer, &inner, 4);
        bad[..4].copy_from_slice(&spi.to_be_bytes());
        assert_eq!(
            r.go(1, &from_peer4(&bad, false)).0,
            Verdict::Drop(Drop::EspUnknownSpi)
        );
    }
    // Truncated: below the header, below header + IV + trailer + ICV, over UDP too.
    let esp3 = seal(&peer, &inner, 4);
    for n in [0usize, 4, 7, 8, 20, esp::sa::MIN_PACKET - 1] {
        for over_udp in [false, true] {
            let (v, _) = r.go(1, &from_peer4(&esp3[..n], over_udp));
            assert_eq!(
                v,
                Verdict::Drop(Drop::EspTruncated),
                "{n} bytes, udp {over_udp}"
            );
        }
    }
    // An IPv4 total length shorter than the ESP packet cuts it.
    let mut short = from_peer4(&esp3, false);
    let total = u16::from_be_bytes([short[16], short[17]]) - 40;
    short[16..18].copy_from_slice(&total.to_be_bytes());
    short[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&short[14..34]);
    short[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(r.go(1, &short).0, Verdict::Drop(Drop::EspBadIcv));
    // Nothing of this reached customer A.
    assert_eq!(r.counts(A_VR), [2, 2, 0]);
    assert_eq!(r.in_sa(T_V4).traffic().0, 2);
}

#[test]
fn expired_sas_drop_both_ways() {
    let r = Run::new();
    let peer = peer_sa(T_V4.in_spi);
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 30);
    let esp = seal(&peer, &inner, 4);
    r.in_sa(T_V4).expire();
    assert_eq!(
        r.go(1, &from_peer4(&esp, false)).0,
        Verdict::Drop(Drop::EspSaExpired)
    );
    let out = ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0, 30);
    assert_eq!(r.send_a(&out).0, Verdict::Tx(PortId(1)));
    r.out_sa(T_V4).expire();
    assert_eq!(r.send_a(&out).0, Verdict::Drop(Drop::EspSaExpired));
    // The other tunnels carry on.
    assert_eq!(
        r.send_a(&ip4([10, 1, 0, 5], [10, 3, 0, 7], 64, 0, 30)).0,
        Verdict::Tx(PortId(1))
    );
    assert_eq!(r.out_sa(T_V4).traffic().0, 1);
    assert_eq!(r.in_sa(T_V4).traffic().0, 0);
    assert_eq!(r.counts(A_VR), [3, 2, 1]);
    assert_eq!(r.counts(CORE_VR), [1, 2, 1]);
}

#[test]
fn routes_into_missing_or_unroutable_sas_drop() {
    let r = Run::new();
    let (v, _) = r.send_a(&ip4([10, 1, 0, 5], [10, 8, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspNoSa));
    let (v, _) = r.send_a(&ip4([10, 1, 0, 5], [10, 7, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspOuterUnroutable));
    // Nothing was sealed for the unroutable peer (no sequence number used).
    assert_eq!(r.out_sa(T_LOST).traffic(), (0, 0));
    assert_eq!(r.counts(A_VR), [2, 0, 2]);
    assert_eq!(r.counts(CORE_VR), [0, 0, 0]);
    // Once the SA is removed, the routes through its id drop as having none.
    let mut w = writer();
    w.remove_esp_outbound(OutboundKey::new(A_VR, EspSaId(T_V4.id)))
        .unwrap();
    let r = Run::with(w.commit().unwrap());
    let (v, _) = r.send_a(&ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspNoSa));
}

#[test]
fn a_source_selector_keeps_other_hosts_out_of_the_tunnel() {
    // T_V4 takes only 10.1.0.5/32 and fd00:1::/64 (a mobile node, say); T_V6 any source.
    let mut w = writer();
    let me4: IpAddr = ME4.into();
    let mut t = (*tunnel(
        "t1",
        T_V4.out_spi,
        A_VR,
        CORE_VR,
        me4,
        PEER4.into(),
        false,
        None,
    ))
    .clone();
    t.sources = Some(Arc::new(vr::SourceSelector::new([
        (IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5)), 32),
        ("fd00:1::".parse().unwrap(), 64),
    ])));
    w.set_esp_outbound(EspSaId(T_V4.id), Arc::new(t)).unwrap();
    let r = Run::with(w.commit().unwrap());
    // The named host enters, and its packet is sealed.
    let (v, out) = r.send_a(&ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Tx(PortId(1)));
    assert_eq!(spi_seq(&out[14 + 20..]), (T_V4.out_spi, 1));
    let (v, _) = r.send_a(&ip6("fd00:1::77", "fd00:2::7", 64, 0, 30));
    assert_eq!(v, Verdict::Tx(PortId(1)));
    // Its neighbours on the same link and VR do not, v4 or v6, and use no sequence number.
    for src in [[10, 1, 0, 6], [10, 1, 0, 4], [10, 1, 1, 5]] {
        let (v, _) = r.send_a(&ip4(src, [10, 2, 0, 7], 64, 0, 30));
        assert_eq!(v, Verdict::Drop(Drop::EspSourceNotAllowed), "{src:?}");
    }
    let (v, _) = r.send_a(&ip6("fd00:1:0:1::77", "fd00:2::7", 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspSourceNotAllowed));
    assert_eq!(
        r.out_sa(T_V4).traffic().0,
        2,
        "refused packets used no sequence number"
    );
    // An SA without a selector takes anyone.
    let (v, _) = r.send_a(&ip4([10, 1, 0, 6], [10, 3, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Tx(PortId(1)));
}

/// Two mobile nodes of VR A, each with its own SA, reach one network (10.2.0.0/16): the
/// route names a source selection, and each node's packets leave in its own SA (SPI on the
/// wire, its own keys, its own DSCP class); a host that is neither is dropped before any
/// SA, and the SA's own selector still holds for what the selection lets through.
#[test]
fn a_source_selection_sends_each_source_into_its_own_sa() {
    use vr::{SourceRouteId, SourceRoutes};
    let mut w = writer();
    // T_V4 takes only 10.1.0.5 (its selector), T_DSCP (marks DSCP 10) is 10.1.0.6's.
    let mut t = (*tunnel(
        "t1",
        T_V4.out_spi,
        A_VR,
        CORE_VR,
        ME4.into(),
        PEER4.into(),
        false,
        None,
    ))
    .clone();
    t.sources = Some(Arc::new(vr::SourceSelector::new([(
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5)),
        32,
    )])));
    w.set_esp_outbound(EspSaId(T_V4.id), Arc::new(t)).unwrap();
    let sel = SourceRoutes::new(
        "users",
        A_VR,
        [
            // 10.1.0.0/24 into T_V4 too: the /32s decide first, and T_V4's selector then
            // refuses the rest of the /24.
            (
                (IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 24),
                NextHop::Esp(EspSaId(T_V4.id)),
            ),
            (
                (IpAddr::V4(Ipv4Addr::new(10, 1, 0, 6)), 32),
                NextHop::Esp(EspSaId(T_DSCP.id)),
            ),
            (
                (IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5)), 32),
                NextHop::Esp(EspSaId(T_V4.id)),
            ),
            (
                ("fd00:1::".parse().unwrap(), 64),
                NextHop::Esp(EspSaId(T_V6.id)),
            ),
            (
                (IpAddr::V4(Ipv4Addr::new(10, 1, 1, 0)), 24),
                NextHop::Esp(EspSaId(99)),
            ),
        ],
    );
    w.set_source_routes(SourceRouteId(1), Arc::new(sel))
        .unwrap();
    route(
        &mut w,
        A_VR,
        "10.2.0.0/16",
        NextHop::BySource(SourceRouteId(1)),
    );
    route(
        &mut w,
        A_VR,
        "fd00:2::/48",
        NextHop::BySource(SourceRouteId(1)),
    );
    // B's route names selection 1, which only A has.
    route(
        &mut w,
        B_VR,
        "10.2.0.0/16",
        NextHop::BySource(SourceRouteId(1)),
    );
    let r = Run::with(w.commit().unwrap());
    let (peer_v4, peer_dscp, peer_v6) = (
        peer_sa(T_V4.out_spi),
        peer_sa(T_DSCP.out_spi),
        peer_sa(T_V6.out_spi),
    );
    for round in 1..=2u32 {
        // 10.1.0.5 → T_V4: its SPI, its keys, the inner TOS copied.
        let inner = ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0xb8, 30);
        let (v, out) = r.send_a(&inner);
        assert_eq!(v, Verdict::Tx(PortId(1)));
        let esp = outer4(&out, 0xb8, false);
        assert_eq!(spi_seq(&esp), (T_V4.out_spi, round));
        assert_eq!(open(&peer_v4, &esp).2, routed(&inner));
        // 10.1.0.6 → T_DSCP: another SPI, another key, re-marked DSCP 10.
        let inner = ip4([10, 1, 0, 6], [10, 2, 0, 7], 64, 0xb8, 30);
        let (v, out) = r.send_a(&inner);
        assert_eq!(v, Verdict::Tx(PortId(1)));
        let esp = outer4(&out, 10 << 2, false);
        assert_eq!(spi_seq(&esp), (T_DSCP.out_spi, round));
        assert_eq!(open(&peer_dscp, &esp).2, with_dscp(&routed(&inner), 10));
        // IPv6 from fd00:1::/64 → T_V6 (IPv6 outer).
        let inner = ip6("fd00:1::77", "fd00:2::7", 64, 0, 30);
        let (v, out) = r.send_a(&inner);
        assert_eq!(v, Verdict::Tx(PortId(1)));
        let esp = outer6(&out, 0, false);
        assert_eq!(spi_seq(&esp), (T_V6.out_spi, round));
        assert_eq!(open(&peer_v6, &esp).2, routed(&inner));
    }
    // Sources none of the entries contains, of either family: dropped, no SA touched.
    for src in [[10, 1, 2, 5], [10, 3, 0, 5]] {
        let (v, _) = r.send_a(&ip4(src, [10, 2, 0, 7], 64, 0, 30));
        assert_eq!(v, Verdict::Drop(Drop::SourceRouteNoMatch), "{src:?}");
    }
    let (v, _) = r.send_a(&ip6("fd00:1:0:1::77", "fd00:2::7", 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::SourceRouteNoMatch));
    // The /24 selects T_V4, whose own selector refuses 10.1.0.9; an entry into an SA id
    // the VR does not have drops as a route into it does.
    let (v, _) = r.send_a(&ip4([10, 1, 0, 9], [10, 2, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspSourceNotAllowed));
    let (v, _) = r.send_a(&ip4([10, 1, 1, 9], [10, 2, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspNoSa));
    assert_eq!(
        r.out_sa(T_V4).traffic().0,
        2,
        "refused packets used no sequence number"
    );
    assert_eq!(r.out_sa(T_DSCP).traffic().0, 2);
    assert_eq!(r.out_sa(T_V6).traffic().0, 2);
    // VR B has no selection 1.
    let (v, _) = r.send_b(&ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::SourceRouteUnknown));
    assert_eq!(r.counts(A_VR), [11, 6, 5]);
    assert_eq!(r.counts(B_VR), [1, 0, 1]);
}

/// The writer takes only tunnels as a selection's next hops, in a VR that exists; a
/// label operation cannot send into a selection.
#[test]
fn the_writer_refuses_selections_that_are_not_of_tunnels() {
    use vr::{LabelAction, SourceRouteId, SourceRoutes};
    let mut w = writer();
    let src = (IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5)), 32);
    for nh in [NextHop::Local, fwd(1, None, CORE, GW)] {
        let s = SourceRoutes::new("bad", A_VR, [(src, nh)]);
        let e = w
            .set_source_routes(SourceRouteId(1), Arc::new(s))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("entries send into an ESP SA or an IP-in-IP tunnel"),
            "{e}"
        );
    }
    let s = SourceRoutes::new("far", VrId(77), [(src, NextHop::Esp(EspSaId(1)))]);
    let e = w
        .set_source_routes(SourceRouteId(1), Arc::new(s))
        .unwrap_err();
    assert_eq!(e.to_string(), "source selection far: vr77 does not exist");
    let e = w
        .remove_source_routes(vr::SourceRouteKey::new(A_VR, SourceRouteId(1)))
        .unwrap_err();
    assert!(
        e.to_string().contains("no source selection #1 of vr1"),
        "{e}"
    );
    let e = w
        .set_label(
            labelswitch::Label::new(3000).unwrap(),
            LabelAction::Swap {
                out: labelswitch::Label::new(3001).unwrap(),
                via: NextHop::BySource(SourceRouteId(1)),
            },
        )
        .unwrap_err();
    assert!(!e.to_string().is_empty());
}

#[test]
fn the_outer_mtu_is_checked_before_sealing() {
    let mut r = Run::new();
    r.ports[1].mtu = 1000;
    let peer = peer_sa(T_V4.out_spi);
    // Outer IPv4 (20) + ESP header and IV (16) + inner + padding, trailer, ICV (18..21).
    let fits = ip4(
        [10, 1, 0, 5],
        [10, 2, 0, 7],
        64,
        0,
        1000 - 20 - 16 - 28 - 20,
    );
    let over = ip4(
        [10, 1, 0, 5],
        [10, 2, 0, 7],
        64,
        0,
        1000 - 20 - 16 - 28 - 16,
    );
    assert_eq!(fits.len() + 20 + 16 + Sa::tail_len(fits.len()), 1000);
    assert_eq!(r.send_a(&over).0, Verdict::Drop(Drop::MtuExceeded));
    let (v, out) = r.send_a(&fits);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    assert_eq!(out.len(), 14 + 1000);
    let esp = outer4(&out, 0, false);
    assert_eq!(
        spi_seq(&esp).1,
        1,
        "the dropped packet used no sequence number"
    );
    assert_eq!(open(&peer, &esp).2, routed(&fits));
    assert_eq!(r.out_sa(T_V4).traffic().0, 1);
}

#[test]
fn dummy_and_malformed_inner_packets_are_refused() {
    let r = Run::new();
    let peer = peer_sa(T_V4.in_spi);
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 30);
    // Next header 59 (a dummy packet, RFC 4303 §2.6), 6 (TCP in transport mode) and an
    // empty payload.
    for (payload, nh) in [(&inner[..], 59u8), (&inner[..], 6), (&[][..], 4)] {
        let (v, _) = r.go(1, &from_peer4(&seal(&peer, payload, nh), false));
        assert_eq!(v, Verdict::Drop(Drop::EspInnerUnsupported), "nh {nh}");
    }
    // An IPv6 packet announced as IPv4, and an IPv4 one announced as IPv6.
    let inner6 = ip6("fd00:2::7", "fd00:1::5", 9, 0, 10);
    for (payload, nh) in [(&inner6, 4u8), (&inner, 41)] {
        let (v, _) = r.go(1, &from_peer4(&seal(&peer, payload, nh), false));
        assert_eq!(v, Verdict::Drop(Drop::EspInnerUnsupported), "nh {nh}");
    }
    // A truncated inner IPv4 header.
    let (v, _) = r.go(1, &from_peer4(&seal(&peer, &inner[..12], 4), false));
    assert_eq!(v, Verdict::Drop(Drop::EspInnerUnsupported));
    assert_eq!(r.in_sa(T_V4).traffic().0, 6, "they did decrypt");
    assert_eq!(r.counts(A_VR), [6, 0, 6]);
    assert_eq!(r.counts(CORE_VR), [6, 0, 6]);
}

// --- isolation -------------------------------------------------------------------------------

#[test]
fn an_sa_of_vr_b_delivers_into_b_only() {
    let r = Run::new();
    let peer_b = peer_sa(T_B.in_spi);
    let peer_a = peer_sa(T_V4.in_spi);
    // The same inner packet through B's SA and A's SA: each lands at its own CE.
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 30);
    let (v, out) = r.go(1, &from_peer4(&seal(&peer_b, &inner, 4), false));
    assert_eq!(v, Verdict::Tx(PortId(2)));
    let mut want = eth(CE_B, CUST_B, Some(B_VLAN), 0x0800);
    want.extend(routed(&inner));
    assert_eq!(out, want);
    let (v, out) = r.go(1, &from_peer4(&seal(&peer_a, &inner, 4), false));
    assert_eq!(v, Verdict::Tx(PortId(0)));
    assert_eq!(&out[..12], &[CE_A, CUST_A].concat()[..]);
    // B has no route where A has one: dropped in B, never looked up in A.
    let to_a_only = ip4([10, 2, 0, 7], [10, 6, 0, 1], 64, 0, 30);
    let (v, _) = r.go(1, &from_peer4(&seal(&peer_b, &to_a_only, 4), false));
    assert_eq!(v, Verdict::Drop(Drop::NoRoute));
    assert_eq!(r.counts(B_VR), [2, 1, 1]);
    assert_eq!(r.counts(A_VR), [1, 1, 0]);
    assert_eq!(r.counts(CORE_VR), [3, 0, 1]);
    // And outbound: B's 10.2/16 goes into B's own SA.
    let (v, out) = r.send_b(&ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Tx(PortId(1)));
    assert_eq!(spi_seq(&outer4(&out, 0, false)).0, T_B.out_spi);
}

#[test]
fn esp_arriving_in_another_vr_than_the_sa_outer_vr_is_refused() {
    let r = Run::new();
    let peer = peer_sa(T_V4.in_spi);
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 30);
    let esp = seal(&peer, &inner, 4);
    // Customer A also has 192.0.2.1 as a local address; the SA's outer VR is the core, so
    // A has no SA of that SPI (the core's is not looked at).
    let mut f = from_peer4(&esp, false);
    f[..12].copy_from_slice(&[CUST_A, CE_A].concat());
    assert_eq!(r.go(0, &f).0, Verdict::Drop(Drop::EspUnknownSpi));
    assert_eq!(r.counts(A_VR), [1, 0, 1]);
    assert_eq!(r.in_sa(T_V4).replay_top(), 0, "not opened");
    // The same packet through the core is accepted (its sequence number was not used).
    assert_eq!(r.go(1, &from_peer4(&esp, false)).0, Verdict::Tx(PortId(0)));
}

/// Two VRs hold the same inbound SPI with different keys (issue 17: two foreign agents on
/// one appliance with the SLA's default SA): A's SA of SPI 0x3000 takes ESP arriving in A,
/// B's takes ESP arriving in the core. Each peer's packets decrypt in their own VR, and a
/// packet arriving in the other VR meets that VR's SA, whose keys do not open it: it is
/// never decrypted there, and uses nothing of the SA it was not sealed for.
#[test]
fn the_same_inbound_spi_in_two_vrs_decrypts_each_in_its_own_vr_only() {
    const SPI: u32 = 0x3000;
    let mut w = writer();
    let a_sa = tunnel(
        "a-direct",
        SPI,
        A_VR,
        A_VR,
        ME4.into(),
        PEER4.into(),
        false,
        None,
    );
    // B's keys: another SPI's material under the same SPI.
    let b_params = || SaParams::new(SPI, params(0x3001).cipher, params(0x3001).keymat);
    let b_sa = Arc::new(EspTunnel {
        name: "b-core".into(),
        sa: Arc::new(Sa::new(&b_params(), 2).unwrap()),
        ..(*tunnel(
            "b-core",
            SPI,
            B_VR,
            CORE_VR,
            ME4.into(),
            PEER4.into(),
            false,
            None,
        ))
        .clone()
    });
    w.set_esp_inbound(Arc::clone(&a_sa)).unwrap();
    w.set_esp_inbound(Arc::clone(&b_sa)).unwrap();
    let r = Run::with(w.commit().unwrap());
    let peer_a = peer_sa(SPI);
    let peer_b = Sa::new(&b_params(), 1).unwrap();
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 30);
    let in_a = |esp: &[u8]| {
        let mut f = from_peer4(esp, false);
        f[..12].copy_from_slice(&[CUST_A, CE_A].concat());
        f
    };
    let for_a = seal(&peer_a, &inner, 4);
    let for_b = seal(&peer_b, &inner, 4);
    assert_eq!(
        spi_seq(&for_a),
        spi_seq(&for_b),
        "one SPI, one sequence number"
    );
    // A's packet arriving in the core meets B's SA: not opened, B's window untouched.
    let (v, _) = r.go(1, &from_peer4(&for_a, false));
    assert_eq!(v, Verdict::Drop(Drop::EspBadIcv));
    // B's packet arriving in A meets A's SA: the same.
    assert_eq!(r.go(0, &in_a(&for_b)).0, Verdict::Drop(Drop::EspBadIcv));
    assert_eq!((a_sa.sa.replay_top(), b_sa.sa.replay_top()), (0, 0));
    assert_eq!(r.counts(B_VR), [0, 0, 0], "nothing reached B");
    // Each in its own VR: A's to A's CE on port 0, B's to B's CE on VLAN 300.
    let (v, out) = r.go(0, &in_a(&for_a));
    assert_eq!(v, Verdict::Tx(PortId(0)));
    let mut want = eth(CE_A, CUST_A, None, 0x0800);
    want.extend(routed(&inner));
    assert_eq!(out, want);
    let (v, out) = r.go(1, &from_peer4(&for_b, false));
    assert_eq!(v, Verdict::Tx(PortId(2)));
    let mut want = eth(CE_B, CUST_B, Some(B_VLAN), 0x0800);
    want.extend(routed(&inner));
    assert_eq!(out, want);
    assert_eq!((a_sa.sa.replay_top(), b_sa.sa.replay_top()), (1, 1));
    assert_eq!(a_sa.sa.traffic().0, 1);
    assert_eq!(b_sa.sa.traffic().0, 1);
    // A's SA of the core (T_V4's SPI) is still A's: the core's other SPIs are unchanged.
    assert_eq!(r.in_sa(T_V4).replay_top(), 0);
}

#[test]
fn a_route_of_vr_b_into_an_sa_id_only_vr_a_has_finds_none() {
    let r = Run::new();
    // B's 10.9/16 names id 1, which is A's: B has no SA 1.
    let (v, _) = r.send_b(&ip4([10, 1, 0, 5], [10, 9, 0, 7], 64, 0, 30));
    assert_eq!(v, Verdict::Drop(Drop::EspNoSa));
    assert_eq!(r.out_sa(T_V4).traffic(), (0, 0));
    assert_eq!(r.counts(B_VR), [1, 0, 1]);
    assert_eq!(r.counts(A_VR), [0, 0, 0]);
    assert_eq!(r.counts(CORE_VR), [0, 0, 0]);
}

#[test]
fn a_rekey_under_the_same_id_switches_the_routes_to_the_new_sa() {
    let mut w = writer();
    let st1 = w.commit().unwrap();
    let new = tunnel(
        "t1b",
        0x3001,
        A_VR,
        CORE_VR,
        ME4.into(),
        PEER4.into(),
        false,
        None,
    );
    w.set_esp_outbound(EspSaId(T_V4.id), new).unwrap();
    let st2 = w.commit().unwrap();
    let inner = ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, 0, 30);
    let (v, out) = Run::with(st2).send_a(&inner);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let esp = outer4(&out, 0, false);
    assert_eq!(spi_seq(&esp), (0x3001, 1));
    assert_eq!(open(&peer_sa(0x3001), &esp).2, routed(&inner));
    // A worker still on the old version uses the old SA.
    let (_, out) = Run::with(st1).send_a(&inner);
    assert_eq!(spi_seq(&outer4(&out, 0, false)), (T_V4.out_spi, 1));
}

// --- two routers: ours and the peer ----------------------------------------------------------

const PEER_CUST: [u8; 6] = [2, 0, 0, 0, 1, 0xa0];
const PEER_CORE: [u8; 6] = [2, 0, 0, 0, 1, 0xc0];
const PEER_CE: [u8; 6] = [2, 0, 0, 0, 1, 0xce];

/// One router of a pair: customer port 0 (VR 1), core port 1 (VR 2) towards the other
/// router's core port `gw`. `me`/`them` are the tunnel addresses; `mine` the customer
/// prefixes here, `theirs` those behind the tunnel; the outbound SA has SPI `out_spi`, the
/// inbound `in_spi`.
#[allow(clippy::too_many_arguments)]
fn side(
    macs: [[u8; 6]; 2],
    ce: [u8; 6],
    gw: [u8; 6],
    (me, them): (IpAddr, IpAddr),
    mine: [&str; 2],
    theirs: [&str; 2],
    (out_spi, in_spi): (u32, u32),
    udp: bool,
    dscp: Option<u8>,
) -> ForwardingState {
    let mut w = StateWriter::new(macs.to_vec(), 1);
    for (id, name) in [(A_VR, "cust"), (CORE_VR, "core")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(A_VR))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(CORE_VR))
        .unwrap();
    let host = if me.is_ipv4() { 32 } else { 128 };
    route(&mut w, CORE_VR, &format!("{me}/{host}"), NextHop::Local);
    let core = fwd(1, None, macs[1], gw);
    route(&mut w, CORE_VR, &format!("{them}/{host}"), core);
    for p in mine {
        route(&mut w, A_VR, p, fwd(0, None, macs[0], ce));
    }
    for p in theirs {
        route(&mut w, A_VR, p, NextHop::Esp(EspSaId(1)));
    }
    let out = tunnel("o", out_spi, A_VR, CORE_VR, me, them, udp, dscp);
    w.set_esp_outbound(EspSaId(1), out).unwrap();
    let inb = tunnel("i", in_spi, A_VR, CORE_VR, me, them, udp, None);
    w.set_esp_inbound(inb).unwrap();
    w.commit().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A packet of any size and marking crosses the tunnel between two pipelines (ours
    /// encrypts, the peer's decrypts) and comes out as it went in, routed twice and marked
    /// as the SA says.
    #[test]
    fn round_trip_through_two_pipelines(
        n in 0usize..1400,
        tos in any::<u8>(),
        dscp in proptest::option::of(0u8..64),
        outer_v6 in any::<bool>(),
        inner_v6 in any::<bool>(),
        over_udp in any::<bool>(),
        spi in 0x100u32..0x10000,
    ) {
        let (me, them): (IpAddr, IpAddr) = if outer_v6 {
            (ME6.into(), PEER6.into())
        } else {
            (ME4.into(), PEER4.into())
        };
        let (a_spi, b_spi) = (spi, spi ^ 0x8000_0000);
        let near = ["10.1.0.0/16", "fd00:1::/48"];
        let far = ["10.2.0.0/16", "fd00:2::/48"];
        let ours = side(
            [CUST_A, CORE], CE_A, PEER_CORE, (me, them), near, far, (a_spi, b_spi), over_udp,
            dscp,
        );
        let theirs = side(
            [PEER_CUST, PEER_CORE], PEER_CE, CORE, (them, me), far, near, (b_spi, a_spi),
            over_udp, None,
        );
        let inner = if inner_v6 {
            ip6("fd00:1::5", "fd00:2::7", 64, tos, n)
        } else {
            ip4([10, 1, 0, 5], [10, 2, 0, 7], 64, tos, n)
        };
        let et = if inner_v6 { 0x86dd } else { 0x0800 };
        let c = WorkerCounters::new(0, 2);
        // Core links of 1600 bytes: the largest inner packet fits every outer header.
        let our_ports = [
            PortInfo { mac: CUST_A, mtu: 1500 },
            PortInfo { mac: CORE, mtu: 1600 },
        ];
        let their_ports = [
            PortInfo { mac: PEER_CUST, mtu: 1500 },
            PortInfo { mac: PEER_CORE, mtu: 1600 },
        ];
        let mut f = eth(CUST_A, CE_A, None, et);
        f.extend_from_slice(&inner);
        let mut b = HeapBuf::from_slice(&f).unwrap();
        prop_assert_eq!(forward(&ours, &our_ports, PortId(0), &mut b, &c), Verdict::Tx(PortId(1)));
        let wire = b.data().to_vec();
        prop_assert_eq!(&wire[..12], &[PEER_CORE, CORE].concat()[..]);
        let mut b = HeapBuf::from_slice(&wire).unwrap();
        prop_assert_eq!(
            forward(&theirs, &their_ports, PortId(1), &mut b, &c),
            Verdict::Tx(PortId(0))
        );
        let mut want = eth(PEER_CE, PEER_CUST, None, et);
        let twice = routed(&routed(&inner));
        want.extend(match dscp {
            Some(d) => with_dscp(&twice, d),
            None => twice,
        });
        prop_assert_eq!(b.data(), &want[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any byte of an inbound ESP frame (plain, in UDP, IPv4 or IPv6 outer) mutated and the
    /// frame cut anywhere: no panic; what is sent leaves by a port with an Ethernet header;
    /// a frame that did not decrypt never reaches a customer.
    #[test]
    fn mutated_esp_frames_never_panic(which in 0usize..4, i in 0usize..200, x in any::<u8>(), cut in 0usize..200) {
        let r = Run::new();
        let (t, v6, over_udp) = [
            (T_V4, false, false),
            (T_UDP4, false, true),
            (T_V6, true, false),
            (T_UDP6, true, true),
        ][which];
        let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 40);
        let esp = seal(&peer_sa(t.in_spi), &inner, 4);
        let mut f = if v6 { from_peer6(&esp, over_udp) } else { from_peer4(&esp, over_udp) };
        let i = i % f.len();
        let changed = f[i] != x;
        f[i] = x;
        f.truncate(cut.max(1).min(f.len()));
        let (v, out) = r.go(1, &f);
        if let Verdict::Tx(p) = v {
            prop_assert!(p.0 < 3);
            prop_assert!(out.len() >= 14);
        }
        // A change in the ESP packet itself (from the SPI on) is never delivered.
        let esp_at = 14 + if v6 { 40 } else { 20 } + if over_udp { 8 } else { 0 };
        if changed && i >= esp_at && i < esp_at + esp.len() {
            prop_assert_eq!(r.in_sa(t).traffic().0, 0);
        }
    }
}

#[test]
fn an_sa_takes_only_its_own_encapsulation_and_ipv6_udp_needs_its_checksum() {
    let r = Run::new();
    // Plain ESP for a UDP SA, UDP for a plain SA: refused before decryption, and the
    // genuine packet in the right form still gets through afterwards.
    for (t, right_udp, v6) in [
        (T_UDP4, true, false),
        (T_V4, false, false),
        (T_UDP6, true, true),
        (T_V6, false, true),
    ] {
        let peer = peer_sa(t.in_spi);
        let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 64, 0, 8);
        let esp = seal(&peer, &inner, 4);
        let frame = |udp: bool| {
            if v6 {
                from_peer6(&esp, udp)
            } else {
                from_peer4(&esp, udp)
            }
        };
        let (v, _) = r.go(1, &frame(!right_udp));
        assert_eq!(v, Verdict::Drop(Drop::EspWrongEncap), "SPI {:#x}", t.in_spi);
        assert_eq!(r.in_sa(t).traffic().0, 0, "nothing decrypted");
        let (v, _) = r.go(1, &frame(right_udp));
        assert_eq!(v, Verdict::Tx(PortId(0)), "SPI {:#x}", t.in_spi);
    }
    // ESP in UDP over IPv6 with a zero or a wrong checksum.
    let peer = peer_sa(T_UDP6.in_spi);
    let inner = ip4([10, 5, 0, 7], [10, 1, 0, 5], 64, 0, 8);
    // (Sequence number 1 of this SA was taken above.)
    let _ = seal(&peer, &inner, 4);
    let good = from_peer6(&seal(&peer, &inner, 4), true);
    let udp_ck = 14 + 40 + 6;
    for ck in [[0u8, 0], [good[udp_ck] ^ 0x10, good[udp_ck + 1]]] {
        let mut bad = good.clone();
        bad[udp_ck..udp_ck + 2].copy_from_slice(&ck);
        let (v, _) = r.go(1, &bad);
        assert_eq!(v, Verdict::Drop(Drop::EspUdpChecksum), "checksum {ck:?}");
    }
    // A UDP length past the packet, or below the UDP header.
    for len in [7u16, 60_000] {
        let mut bad = good.clone();
        bad[14 + 40 + 4..14 + 40 + 6].copy_from_slice(&len.to_be_bytes());
        let (v, _) = r.go(1, &bad);
        assert_eq!(v, Verdict::Drop(Drop::EspTruncated), "UDP length {len}");
    }
    let (v, _) = r.go(1, &good);
    assert_eq!(v, Verdict::Tx(PortId(0)));
}
