//! IP-in-IP tunnels (RFC 2003; IPv6 inside as protocol 41) through the pipeline (issue 17):
//! encapsulation of what a customer VR routes into an outbound tunnel, decapsulation of what
//! the peer sends to a local address of the core VR, the DSCP mark and the copy of DSCP,
//! ECN and DF inner → outer, TTLs, the named drops and the isolation rules between VRs.
//!
//! The outer headers are built and checked field by field here with the test's own
//! checksum code; nothing of the pipeline's encoders produces an expectation.

use dataplane::buffer::{HeapBuf, PacketBuf, HEADROOM};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;
use vr::{
    vr_counter, ForwardingState, IfBinding, IfKey, IpIpId, IpIpTunnel, LabelPush, NextHop, PortId,
    RouteSource, SourceSelector, StateWriter, VirtualRouter, VpnId, VrId,
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

/// Our tunnel address in the core VR, another local address there, the peers.
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ME2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const PEER_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const LOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

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

fn tun(vr: VrId, remote: Ipv4Addr, dscp: Option<u8>) -> IpIpTunnel {
    IpIpTunnel {
        name: format!("t-{vr}-{remote}").into(),
        vr,
        outer_vr: CORE_VR,
        local: ME,
        remote,
        dscp,
        sources: None,
    }
}

/// The lab: A's tunnels 1 (to PEER, routes 10.2/16 and fd00:2::/48), 2 (to PEER, marks
/// DSCP 46, routes 10.6/16), 3 (to LOST, unroutable, routes 10.7/16), 4 (to PEER, takes only
/// 10.1.0.5, routes 10.5/16); 10.8/16 into id 99 (none). A decapsulates from PEER. B:
/// tunnel 1 to PEER_B (routes 10.2/16), 10.9/16 into id 2 (A's, not B's), decapsulates
/// from PEER_B.
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
    route(&mut w, CORE_VR, "192.0.2.1/32", NextHop::Local);
    route(&mut w, CORE_VR, "192.0.2.2/32", NextHop::Local);
    route(&mut w, CORE_VR, "198.51.100.0/24", fwd(1, None, CORE, GW));
    let ce_a = fwd(0, None, CUST_A, CE_A);
    route(&mut w, A_VR, "10.1.0.0/16", ce_a);
    route(&mut w, A_VR, "fd00:1::/48", ce_a);
    let mut sel = tun(A_VR, PEER, None);
    sel.sources = Some(Arc::new(SourceSelector::new([(
        Ipv4Addr::new(10, 1, 0, 5).into(),
        32,
    )])));
    for (id, t) in [
        (1, tun(A_VR, PEER, None)),
        (2, tun(A_VR, PEER, Some(46))),
        (3, tun(A_VR, LOST, None)),
        (4, sel),
    ] {
        w.set_ipip_outbound(IpIpId(id), Arc::new(t)).unwrap();
    }
    w.set_ipip_inbound(Arc::new(tun(A_VR, PEER, None))).unwrap();
    for (p, id) in [
        ("10.2.0.0/16", 1),
        ("fd00:2::/48", 1),
        ("10.6.0.0/16", 2),
        ("10.7.0.0/16", 3),
        ("10.5.0.0/16", 4),
        ("10.8.0.0/16", 99),
    ] {
        route(&mut w, A_VR, p, NextHop::IpIp(IpIpId(id)));
    }
    route(
        &mut w,
        B_VR,
        "10.1.0.0/16",
        fwd(2, Some(B_VLAN), CUST_B, CE_B),
    );
    w.set_ipip_outbound(IpIpId(1), Arc::new(tun(B_VR, PEER_B, None)))
        .unwrap();
    w.set_ipip_inbound(Arc::new(tun(B_VR, PEER_B, None)))
        .unwrap();
    route(&mut w, B_VR, "10.2.0.0/16", NextHop::IpIp(IpIpId(1)));
    route(&mut w, B_VR, "10.9.0.0/16", NextHop::IpIp(IpIpId(2)));
    w
}

fn ports() -> Vec<PortInfo> {
    [CUST_A, CORE, CUST_B]
        .into_iter()
        .map(|mac| PortInfo { mac, mtu: 1500 })
        .collect()
}

// --- frame builders and checkers (independent of the pipeline) ----------------------------

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
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

/// An IPv4 packet: header (no options; DF as given) and `payload`.
fn ip4_raw(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    tos: u8,
    df: bool,
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let flags = if df { 0x40 } else { 0 };
    let mut p = vec![0x45, tos, 0, 0, 0x12, 0x34, flags, 0, ttl, proto, 0, 0];
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

fn ip4(src: [u8; 4], dst: [u8; 4], ttl: u8, tos: u8, df: bool, n: usize) -> Vec<u8> {
    ip4_raw(src.into(), dst.into(), ttl, tos, df, 17, &udp_payload(n))
}

fn ip6(src: &str, dst: &str, hlim: u8, tc: u8, n: usize) -> Vec<u8> {
    let payload = udp_payload(n);
    let mut p = vec![0x60 | (tc >> 4), (tc << 4) | 0x0a, 0xbc, 0xde];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[17, hlim]);
    p.extend_from_slice(&src.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p.extend_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p.extend_from_slice(&payload);
    p
}

/// The packet as routed by one hop: TTL/hop limit one less (IPv4 checksum recomputed).
fn routed(p: &[u8]) -> Vec<u8> {
    let mut q = p.to_vec();
    if q[0] >> 4 == 4 {
        q[8] -= 1;
        fix_csum(&mut q);
    } else {
        q[7] -= 1;
    }
    q
}

fn fix_csum(q: &mut [u8]) {
    q[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&q[..20]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
}

struct Lab {
    st: ForwardingState,
    ports: Vec<PortInfo>,
    c: WorkerCounters,
}

impl Lab {
    fn new() -> Self {
        Lab {
            st: writer().snapshot(),
            ports: ports(),
            c: WorkerCounters::new(0, 3),
        }
    }

    fn go(&self, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let mut b = HeapBuf::from_slice(frame).unwrap();
        let v = forward(&self.st, &self.ports, PortId(port), &mut b, &self.c);
        (v, b.data().to_vec())
    }

    fn send_a(&self, ip: &[u8]) -> (Verdict, Vec<u8>) {
        let et = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
        let mut f = eth(CUST_A, CE_A, None, et);
        f.extend_from_slice(ip);
        self.go(0, &f)
    }

    /// What the peer `from` sends to `to` on the core port: `inner` in protocol `proto`.
    fn peer_sends(
        &self,
        from: Ipv4Addr,
        to: Ipv4Addr,
        proto: u8,
        inner: &[u8],
    ) -> (Verdict, Vec<u8>) {
        let mut f = eth(CORE, GW, None, 0x0800);
        f.extend(ip4_raw(from, to, 60, 0, false, proto, inner));
        self.go(1, &f)
    }

    fn vr_count(&self, vr: VrId, which: usize) -> u64 {
        self.st.vr(vr).unwrap().counters.total(which)
    }
}

/// Checks the outer IPv4 header of `frame` (after a 14-byte Ethernet header to the
/// gateway) field by field and returns (header, inner packet).
fn outer(frame: &[u8], remote: Ipv4Addr) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(&frame[0..6], &GW, "to the gateway");
    assert_eq!(&frame[6..12], &CORE, "from the core port");
    assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4");
    let h = &frame[14..34];
    assert_eq!(h[0], 0x45, "version 4, no options");
    assert_eq!(
        usize::from(u16::from_be_bytes([h[2], h[3]])),
        frame.len() - 14,
        "total length"
    );
    assert_eq!(h[6] & 0xbf, 0, "no MF, no offset, reserved bit clear");
    assert_eq!(h[7], 0);
    assert_eq!(h[8], 64, "outer TTL");
    assert_eq!(csum(h), 0, "outer header checksum");
    assert_eq!(&h[12..16], &ME.octets(), "outer source");
    assert_eq!(&h[16..20], &remote.octets(), "outer destination");
    (h.to_vec(), frame[34..].to_vec())
}

#[test]
fn encapsulates_ipv4_with_tos_and_df_copied() {
    let lab = Lab::new();
    // DF set, DSCP 10 and ECT(0): DF, TOS copied; an atomic datagram's ID 0.
    let p = ip4([10, 1, 0, 5], [10, 2, 0, 7], 9, (10 << 2) | 2, true, 100);
    let (v, f) = lab.send_a(&p);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let (h, inner) = outer(&f, PEER);
    assert_eq!(h[9], 4, "protocol 4");
    assert_eq!(h[1], (10 << 2) | 2, "TOS copied inner -> outer");
    assert_eq!(h[6], 0x40, "DF copied");
    assert_eq!(&h[4..6], &[0, 0]);
    assert_eq!(inner, routed(&p), "the inner packet, TTL decremented");
    // Without DF: the outer header has none either, and two packets two IDs.
    let p = ip4([10, 1, 0, 5], [10, 2, 0, 7], 9, 0, false, 30);
    let (_, f1) = lab.send_a(&p);
    let (_, f2) = lab.send_a(&p);
    let (h1, i1) = outer(&f1, PEER);
    let (h2, _) = outer(&f2, PEER);
    assert_eq!(h1[6] & 0x40, 0, "no DF");
    assert_ne!(
        &h1[4..6],
        &h2[4..6],
        "non-atomic datagrams need distinct IDs"
    );
    assert_eq!(i1, routed(&p));
    assert_eq!(lab.vr_count(A_VR, vr_counter::TX), 3);
    assert_eq!(lab.vr_count(CORE_VR, vr_counter::TX), 3);
}

#[test]
fn encapsulates_ipv6_as_protocol_41() {
    let lab = Lab::new();
    let p = ip6("fd00:1::5", "fd00:2::7", 5, 0xb9, 40);
    let (v, f) = lab.send_a(&p);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let (h, inner) = outer(&f, PEER);
    assert_eq!(h[9], 41);
    assert_eq!(h[1], 0xb9, "traffic class copied");
    assert_eq!(h[6] & 0x40, 0, "no DF over IPv6 inside (RFC 4213)");
    assert_eq!(inner, routed(&p));
}

#[test]
fn marks_the_inner_dscp_first_and_keeps_ecn() {
    let lab = Lab::new();
    let p = ip4([10, 1, 0, 5], [10, 6, 0, 1], 9, (8 << 2) | 1, true, 20);
    let (v, f) = lab.send_a(&p);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let (h, inner) = outer(&f, PEER);
    assert_eq!(inner[1], (46 << 2) | 1, "inner marked EF, ECN kept");
    assert_eq!(csum(&inner[..20]), 0, "inner checksum updated");
    assert_eq!(h[1], inner[1], "outer copies the marked inner TOS");
    let mut want = routed(&p);
    want[1] = (46 << 2) | 1;
    fix_csum(&mut want);
    assert_eq!(inner, want);
}

#[test]
fn decapsulates_into_the_tunnels_vr_only() {
    let lab = Lab::new();
    // To a host of A's CE network: routed there with its TTL decremented.
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 20, 0x20, false, 64);
    let (v, f) = lab.peer_sends(PEER, ME, 4, &inner);
    assert_eq!(v, Verdict::Tx(PortId(0)));
    assert_eq!(&f[0..6], &CE_A);
    assert_eq!(&f[6..12], &CUST_A);
    assert_eq!(&f[12..14], &[0x08, 0x00]);
    assert_eq!(f[14..].to_vec(), routed(&inner));
    // IPv6 inside (41).
    let inner6 = ip6("fd00:2::7", "fd00:1::5", 7, 0, 10);
    let (v, f) = lab.peer_sends(PEER, ME, 41, &inner6);
    assert_eq!(v, Verdict::Tx(PortId(0)));
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    assert_eq!(f[14..].to_vec(), routed(&inner6));
    assert_eq!(lab.vr_count(A_VR, vr_counter::RX), 2);
    // B's tunnel: the same inner addresses land in B (its VLAN), not in A.
    let (v, f) = lab.peer_sends(PEER_B, ME, 4, &inner);
    assert_eq!(v, Verdict::Tx(PortId(2)));
    assert_eq!(&f[0..6], &CE_B);
    assert_eq!(&f[14..16], &B_VLAN.to_be_bytes());
    assert_eq!(f[18..].to_vec(), routed(&inner));
}

#[test]
fn refuses_unknown_sources_and_malformed_inner_packets() {
    let lab = Lab::new();
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 20, 0, false, 64);
    // (what, outer source, outer destination, protocol, payload, drop)
    type Case<'a> = (&'a str, Ipv4Addr, Ipv4Addr, u8, Vec<u8>, Drop);
    let cases: Vec<Case> = vec![
        (
            "from a stranger",
            LOST,
            ME,
            4,
            inner.clone(),
            Drop::IpIpUnknownTunnel,
        ),
        (
            "to another local address",
            PEER,
            ME2,
            4,
            inner.clone(),
            Drop::IpIpUnknownTunnel,
        ),
        (
            "nothing inside",
            PEER,
            ME,
            4,
            Vec::new(),
            Drop::IpIpInnerMalformed,
        ),
        (
            "IPv6 under protocol 4",
            PEER,
            ME,
            4,
            ip6("fd00:2::7", "fd00:1::5", 7, 0, 10),
            Drop::IpIpInnerMalformed,
        ),
        (
            "IPv4 under protocol 41",
            PEER,
            ME,
            41,
            inner.clone(),
            Drop::IpIpInnerMalformed,
        ),
        (
            "inner header cut",
            PEER,
            ME,
            4,
            inner[..12].to_vec(),
            Drop::IpIpInnerMalformed,
        ),
        (
            "inner longer than the outer",
            PEER,
            ME,
            4,
            inner[..40].to_vec(),
            Drop::IpIpInnerMalformed,
        ),
    ];
    for (what, from, to, proto, payload, drop) in cases {
        let before = lab.c.drops(drop);
        let (v, _) = lab.peer_sends(from, to, proto, &payload);
        assert_eq!(v, Verdict::Drop(drop), "{what}");
        assert_eq!(lab.c.drops(drop), before, "the caller counts: {what}");
    }
    // A bad inner checksum is the inner packet's own drop.
    let mut bad = inner.clone();
    bad[10] ^= 0xff;
    let (v, _) = lab.peer_sends(PEER, ME, 4, &bad);
    assert_eq!(v, Verdict::Drop(Drop::Ipv4BadChecksum));
    // The inner packet is not decapsulated again (no nesting): IP-in-IP inside IP-in-IP
    // to A's own address is not A's to open.
    let nested = ip4_raw(PEER, ME, 20, 0, false, 4, &inner);
    let (v, _) = lab.peer_sends(PEER, ME, 4, &nested);
    assert_eq!(
        v,
        Verdict::Drop(Drop::NoRoute),
        "198.51.100.9 is not routed in A"
    );
}

#[test]
fn ttls_expire_before_and_after_the_tunnel() {
    let lab = Lab::new();
    let p = ip4([10, 1, 0, 5], [10, 2, 0, 7], 1, 0, true, 10);
    let (v, _) = lab.send_a(&p);
    assert_eq!(v.punted().map(|x| x.0), Some(Punt::TtlExpired));
    let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 1, 0, false, 10);
    let (v, _) = lab.peer_sends(PEER, ME, 4, &inner);
    assert_eq!(v.punted(), Some((Punt::TtlExpired, Some(A_VR))));
}

#[test]
fn outbound_drops_are_named() {
    let lab = Lab::new();
    let send = |dst: [u8; 4], src: [u8; 4], n: usize| lab.send_a(&ip4(src, dst, 9, 0, true, n)).0;
    assert_eq!(
        send([10, 8, 0, 1], [10, 1, 0, 5], 10),
        Verdict::Drop(Drop::IpIpNoTunnel)
    );
    assert_eq!(
        send([10, 7, 0, 1], [10, 1, 0, 5], 10),
        Verdict::Drop(Drop::IpIpOuterUnroutable)
    );
    // The selector of tunnel 4 takes 10.1.0.5 only.
    assert_eq!(
        send([10, 5, 0, 1], [10, 1, 0, 5], 10),
        Verdict::Tx(PortId(1))
    );
    assert_eq!(
        send([10, 5, 0, 1], [10, 1, 0, 6], 10),
        Verdict::Drop(Drop::IpIpSourceNotAllowed)
    );
    // 1480 bytes of IP fit a 1500-byte port with the outer header; 1481 do not.
    assert_eq!(
        send([10, 2, 0, 1], [10, 1, 0, 5], 1480 - 28),
        Verdict::Tx(PortId(1))
    );
    assert_eq!(
        send([10, 2, 0, 1], [10, 1, 0, 5], 1481 - 28),
        Verdict::Drop(Drop::MtuExceeded)
    );
    // B's route into id 2 finds no B tunnel 2 (A's is not B's).
    let mut f = eth(CUST_B, CE_B, Some(B_VLAN), 0x0800);
    f.extend(ip4([10, 1, 0, 5], [10, 9, 0, 1], 9, 0, true, 10));
    assert_eq!(lab.go(2, &f).0, Verdict::Drop(Drop::IpIpNoTunnel));
    // B's own tunnel goes to B's peer.
    let mut f = eth(CUST_B, CE_B, Some(B_VLAN), 0x0800);
    f.extend(ip4([10, 1, 0, 5], [10, 2, 0, 1], 9, 0, true, 10));
    let (v, out) = lab.go(2, &f);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    outer(&out, PEER_B);
}

#[test]
fn no_headroom_is_a_named_drop() {
    let lab = Lab::new();
    let mut f = eth(CUST_A, CE_A, None, 0x0800);
    f.extend(ip4([10, 1, 0, 5], [10, 2, 0, 7], 9, 0, true, 100));
    // A buffer with 4 bytes of headroom: the outer header (20) does not fit in front of
    // the Ethernet header's 14.
    let mut b = HeapBuf::new();
    assert!(b.set(&[]));
    b.prepend(HEADROOM - 4).unwrap();
    b.append(f.len() - (HEADROOM - 4)).unwrap();
    b.data_mut().copy_from_slice(&f);
    assert_eq!(b.headroom(), 4);
    let v = forward(&lab.st, &lab.ports, PortId(0), &mut b, &lab.c);
    assert_eq!(v, Verdict::Drop(Drop::NoHeadroom));
}

#[test]
fn decapsulation_combines_ecn_as_rfc_6040_says() {
    let lab = Lab::new();
    // (outer ECN, inner TOS) → inner TOS after, or the drop.
    let cases: [(u8, u8, Result<u8, Drop>); 7] = [
        (3, (10 << 2) | 2, Ok((10 << 2) | 3)),  // CE over ECT(0): CE
        (3, 1, Ok(3)),                          // CE over ECT(1): CE
        (3, 3, Ok(3)),                          // CE over CE
        (3, 10 << 2, Err(Drop::IpIpEcnNotEct)), // CE over Not-ECT: dropped
        (1, 2, Ok(1)),                          // ECT(1) over ECT(0): ECT(1)
        (2, 1, Ok(1)),                          // ECT(0) over ECT(1): unchanged
        (2, 10 << 2, Ok(10 << 2)),              // ECT(0) over Not-ECT: unchanged
    ];
    for (outer_ecn, tos, want) in cases {
        let inner = ip4([10, 2, 0, 7], [10, 1, 0, 5], 20, tos, false, 16);
        let mut f = eth(CORE, GW, None, 0x0800);
        f.extend(ip4_raw(PEER, ME, 60, 0xb8 | outer_ecn, false, 4, &inner));
        let (v, out) = lab.go(1, &f);
        match want {
            Ok(t) => {
                assert_eq!(
                    v,
                    Verdict::Tx(PortId(0)),
                    "ECN {outer_ecn} over TOS {tos:#x}"
                );
                let ip = &out[14..];
                assert_eq!(ip[1], t, "ECN {outer_ecn} over TOS {tos:#x}");
                assert_eq!(csum(&ip[..20]), 0, "inner checksum after the ECN change");
            }
            Err(d) => assert_eq!(v, Verdict::Drop(d), "ECN {outer_ecn} over TOS {tos:#x}"),
        }
    }
    // IPv6 inside: CE over ECT(0) in the traffic class.
    let inner6 = ip6("fd00:2::7", "fd00:1::5", 7, 0x02, 10);
    let mut f = eth(CORE, GW, None, 0x0800);
    f.extend(ip4_raw(PEER, ME, 60, 3, false, 41, &inner6));
    let (v, out) = lab.go(1, &f);
    assert_eq!(v, Verdict::Tx(PortId(0)));
    let tc = (out[14] << 4) | (out[15] >> 4);
    assert_eq!(tc, 0x03);
}
