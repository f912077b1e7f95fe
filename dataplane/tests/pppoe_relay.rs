//! PPPoE sessions and PPP relays through the pipeline (issue 14): discovery punts, PPPoE
//! termination into the session's VR, control punts, the isolation and validity drops, and
//! the three relays — PPPoE → L2TP (LAC), L2TP → PPPoE, L2TP → L2TP (tunnel switching) —
//! with their counters. Expected frames are spelled out field by field here (with their
//! own checksum code), not produced by the pipeline's encoders.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, originate, PortInfo, Verdict};
use proptest::prelude::*;
use std::net::Ipv4Addr;
use vr::{
    vr_counter, ForwardingState, IfBinding, IfKey, L2tpEncap, LabelPush, NeighborKey, NextHop,
    PortId, PppoeEncap, RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId,
    VrId,
};

// Port 0: access (subscribers on VLAN 100). Port 1: core (LNSes, the CE). Port 2: access
// with a small MTU.
const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const SMALL: [u8; 6] = [2, 0, 0, 0, 0, 0x50];
const SUB_A: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0a];
const SUB_B: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0b];
const SUB_C: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0c];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];
const CE: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xe0];
const LNS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const LNS2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SMALL_MTU: u32 = 100;

const ACCESS_VR: VrId = VrId(1);
const CORE_VR: VrId = VrId(2);
const ISP_VR: VrId = VrId(3);

// Counter slots.
const SLOT_A: u32 = 0; // terminated PPPoE session 0x11 (subscriber A)
const SLOT_B: u32 = 1; // PPPoE session 0x12 of subscriber B, relayed to the LNS (both ways)
const SLOT_LNS: u32 = 2; // B's L2TP session towards the LNS
const SLOT_SW_IN: u32 = 3; // switched L2TP session, ingress side
const SLOT_SW_OUT: u32 = 4; // switched L2TP session, egress side

fn l2tp_key(session: u16) -> SessionKey {
    SessionKey::L2tp { tunnel: 7, session }
}

fn pppoe_key(port: u16, session: u16) -> SessionKey {
    SessionKey::Pppoe {
        port: PortId(port),
        session,
    }
}

fn to_lns(peer_session: u16, dst_ip: Ipv4Addr, via: Ipv4Addr, counters: u32) -> NextHop {
    NextHop::L2tp(L2tpEncap {
        port: PortId(1),
        vlan: None,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        src_ip: ME,
        dst_ip,
        via,
        counters,
        src_port: 1701,
        dst_port: 1701,
        peer_tunnel: 40,
        peer_session,
    })
}

fn to_sub(port: u16, vlan: Option<u16>, mac: [u8; 6], session: u16, counters: u32) -> NextHop {
    NextHop::Pppoe(PppoeEncap {
        port: PortId(port),
        vlan,
        src_mac: [0; 6],
        dst_mac: mac,
        session,
        counters,
    })
}

fn writer() -> StateWriter {
    let mut w = StateWriter::new(vec![ACCESS, CORE, SMALL], 2);
    w.set_session_counter_slots(8);
    for (id, name) in [(ACCESS_VR, "access"), (CORE_VR, "core"), (ISP_VR, "isp")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).unwrap(),
            "t",
        ))
        .unwrap();
    }
    for _ in 0..8 {
        w.alloc_session_counters().unwrap();
    }
    w.bind_interface(IfKey::PortVlan(PortId(0), 100), IfBinding::Vr(ACCESS_VR))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(ACCESS_VR))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(CORE_VR))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(2)), IfBinding::Vr(ACCESS_VR))
        .unwrap();
    w.set_neighbor(
        NeighborKey {
            port: PortId(1),
            vlan: None,
            ip: Ipv4Addr::new(192, 0, 2, 254).into(),
        },
        Some(GW),
    );
    // Subscriber A: PPPoE session 0x11 on VLAN 100, terminated in the ISP VR.
    w.bind_session(
        pppoe_key(0, 0x11),
        SessionBinding::pppoe(ISP_VR, SLOT_A, SUB_A, Some(100)),
    )
    .unwrap();
    // Subscriber B: PPPoE session 0x12 relayed to the LNS (our L2TP session 90, theirs 90);
    // the LNS's frames for it come back in our session (7, 90).
    w.bind_session_relay(
        pppoe_key(0, 0x12),
        SessionBinding::pppoe(ACCESS_VR, SLOT_B, SUB_B, Some(100)),
        to_lns(90, LNS, Ipv4Addr::new(192, 0, 2, 254), SLOT_LNS),
    )
    .unwrap();
    w.bind_session_relay(
        l2tp_key(90),
        SessionBinding {
            counters: SLOT_LNS,
            ..SessionBinding::new(CORE_VR)
        },
        to_sub(0, Some(100), SUB_B, 0x12, SLOT_B),
    )
    .unwrap();
    // Tunnel switching: our (7, 91) → LNS2's session 60.
    w.bind_session_relay(
        l2tp_key(91),
        SessionBinding {
            counters: SLOT_SW_IN,
            ..SessionBinding::new(CORE_VR)
        },
        to_lns(60, LNS2, Ipv4Addr::new(192, 0, 2, 254), SLOT_SW_OUT),
    )
    .unwrap();
    // (7, 92) → an LNS behind a gateway whose MAC is not known.
    w.bind_session_relay(
        l2tp_key(92),
        SessionBinding::new(CORE_VR),
        to_lns(
            61,
            LNS2,
            Ipv4Addr::new(192, 0, 2, 253),
            SessionBinding::NO_COUNTERS,
        ),
    )
    .unwrap();
    // Subscriber C on the small-MTU port, untagged, relayed to the LNS.
    w.bind_session_relay(
        pppoe_key(2, 0x21),
        SessionBinding::pppoe(ACCESS_VR, SessionBinding::NO_COUNTERS, SUB_C, None),
        to_lns(
            93,
            LNS,
            Ipv4Addr::new(192, 0, 2, 254),
            SessionBinding::NO_COUNTERS,
        ),
    )
    .unwrap();
    // (7, 94) → subscriber C on the small-MTU port.
    w.bind_session_relay(
        l2tp_key(94),
        SessionBinding::new(CORE_VR),
        to_sub(2, None, SUB_C, 0x21, SessionBinding::NO_COUNTERS),
    )
    .unwrap();
    // The tunnel address is local in the core VR and (to test isolation) in the access VR.
    for vr in [CORE_VR, ACCESS_VR] {
        w.set_route(
            vr,
            "192.0.2.1/32".parse().unwrap(),
            RouteSource::Local,
            NextHop::Local,
        )
        .unwrap();
    }
    let ce = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: CORE,
        dst_mac: CE,
        push: LabelPush::EMPTY,
    };
    for p in ["10.1.0.0/16", "fd00:1::/48"] {
        w.set_route(ISP_VR, p.parse().unwrap(), RouteSource::Static, ce)
            .unwrap();
    }
    w.set_route(
        ISP_VR,
        "100.64.0.17/32".parse().unwrap(),
        RouteSource::Static,
        to_sub(0, Some(100), SUB_A, 0x11, SLOT_A),
    )
    .unwrap();
    w.set_route(
        ISP_VR,
        "100.64.0.33/32".parse().unwrap(),
        RouteSource::Static,
        to_sub(2, None, SUB_C, 0x21, SessionBinding::NO_COUNTERS),
    )
    .unwrap();
    w
}

fn state() -> ForwardingState {
    writer().commit().unwrap()
}

fn ports() -> Vec<PortInfo> {
    vec![
        PortInfo {
            mac: ACCESS,
            mtu: 1500,
        },
        PortInfo {
            mac: CORE,
            mtu: 1500,
        },
        PortInfo {
            mac: SMALL,
            mtu: SMALL_MTU,
        },
    ]
}

// --- frame builders (independent of the pipeline) -----------------------------------------

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
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

/// IPv4/UDP packet, `n` payload bytes.
fn ip4(src: [u8; 4], dst: [u8; 4], ttl: u8, n: usize) -> Vec<u8> {
    let total = 28 + n;
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, ttl, 17, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&[0, 5, 0, 6]);
    p.extend_from_slice(&((8 + n) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend((0..n).map(|i| i as u8));
    p
}

/// The same packet as forwarded: TTL one less, checksum recomputed.
fn ip4_forwarded(p: &[u8]) -> Vec<u8> {
    let mut q = p.to_vec();
    q[8] -= 1;
    q[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&q[..20]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
    q
}

fn ip6(dst_last: u8, hlim: u8, n: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((n + 8) as u16).to_be_bytes());
    p.extend_from_slice(&[17, hlim]);
    p.extend_from_slice(&[0xfd, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    p.extend_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dst_last]);
    p.extend_from_slice(&[0, 5, 0, 6]);
    p.extend_from_slice(&((8 + n) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend((0..n).map(|i| i as u8));
    p
}

/// A PPPoE frame: Ethernet from `src` to the access port, PPPoE with `ver_type`, `code`,
/// `session`, LENGTH = `payload.len()`, then `payload`.
fn pppoe_raw(
    src: [u8; 6],
    vlan: Option<u16>,
    et: u16,
    ver_type: u8,
    code: u8,
    session: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = eth(ACCESS, src, vlan, et);
    f.extend_from_slice(&[ver_type, code]);
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn pppoe(src: [u8; 6], vlan: Option<u16>, session: u16, ppp: &[u8]) -> Vec<u8> {
    pppoe_raw(src, vlan, 0x8864, 0x11, 0, session, ppp)
}

/// The frame addressed to the small-MTU port instead.
fn to_small(mut f: Vec<u8>) -> Vec<u8> {
    f[0..6].copy_from_slice(&SMALL);
    f
}

/// PPP frame: protocol field then information.
fn ppp(proto: u16, info: &[u8]) -> Vec<u8> {
    let mut f = proto.to_be_bytes().to_vec();
    f.extend_from_slice(info);
    f
}

/// Ethernet/IPv4/UDP 1701/L2TP data header (no options)/`l2tp_payload`, from `src_ip` to
/// `dst_ip`, with the fields the pipeline writes (DF, TTL 64, id 0, UDP checksum 0).
fn l2tp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    tunnel: u16,
    session: u16,
    l2tp_payload: &[u8],
) -> Vec<u8> {
    let mut f = eth(dst_mac, src_mac, None, 0x0800);
    let total = 20 + 8 + 6 + l2tp_payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src_ip.octets());
    ip.extend_from_slice(&dst_ip.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x06, 0xa5, 0x06, 0xa5]);
    f.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x00, 0x02]);
    f.extend_from_slice(&tunnel.to_be_bytes());
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(l2tp_payload);
    f
}

/// An L2TP data frame from the LNS to us, our tunnel 7.
fn from_lns(session: u16, l2tp_payload: &[u8]) -> Vec<u8> {
    l2tp_frame(CORE, GW, LNS, ME, 7, session, l2tp_payload)
}

fn hdlc(ppp: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03];
    f.extend_from_slice(ppp);
    f
}

struct Run {
    st: ForwardingState,
    c: WorkerCounters,
}

impl Run {
    fn new() -> Self {
        Run {
            st: state(),
            c: WorkerCounters::new(0, 3),
        }
    }

    fn go(&self, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let mut b = HeapBuf::from_slice(frame).unwrap();
        let v = forward(&self.st, &ports(), PortId(port), &mut b, &self.c);
        (v, b.data().to_vec())
    }

    fn vr(&self, vr: VrId, which: usize) -> u64 {
        self.st.vr(vr).unwrap().counters.total(which)
    }
}

// --- discovery and termination ----------------------------------------------------------

#[test]
fn discovery_is_punted_in_the_interface_vr() {
    let r = Run::new();
    // PADI, tagged and untagged (tags: Service-Name empty).
    for (vlan, l3) in [(Some(100), 18u16), (None, 14)] {
        let mut f = pppoe_raw(SUB_A, vlan, 0x8863, 0x11, 0x09, 0, &[1, 1, 0, 0]);
        f[0..6].copy_from_slice(&[0xff; 6]);
        let (v, out) = r.go(0, &f);
        let Verdict::Punt(p) = v else { panic!("{v:?}") };
        assert_eq!((p.reason, p.vr), (Punt::PppoeDiscovery, Some(ACCESS_VR)));
        assert_eq!((p.at.vlan, p.at.l3), (vlan, l3));
        assert_eq!(out, f, "punted unchanged");
    }
}

#[test]
fn terminated_ipv4_is_routed_in_the_session_vr() {
    let r = Run::new();
    let ip = ip4([100, 64, 0, 17], [10, 1, 0, 5], 64, 30);
    let frame = pppoe(SUB_A, Some(100), 0x11, &ppp(0x0021, &ip));
    let (v, out) = r.go(0, &frame);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let mut want = eth(CE, CORE, None, 0x0800);
    want.extend(ip4_forwarded(&ip));
    assert_eq!(out, want);
    assert_eq!(
        r.st.session_counters.read(SLOT_A),
        [1, ip.len() as u64, 0, 0]
    );
    // Counted in the access VR (the frame's) and the ISP VR (the packet's).
    assert_eq!(r.vr(ACCESS_VR, vr_counter::RX), 1);
    assert_eq!(r.vr(ISP_VR, vr_counter::RX), 1);
    assert_eq!(r.vr(ISP_VR, vr_counter::TX), 1);
    // Bytes: the frame as it arrived into the access VR, as it left the ISP VR.
    assert_eq!(r.vr(ACCESS_VR, vr_counter::RX_BYTES), frame.len() as u64);
    assert_eq!(r.vr(ISP_VR, vr_counter::TX_BYTES), out.len() as u64);
    // A padded short frame: LENGTH says where the PPP frame ends; the padding goes.
    let small = ip4([100, 64, 0, 17], [10, 1, 0, 5], 64, 0);
    let mut f = pppoe(SUB_A, Some(100), 0x11, &ppp(0x0021, &small));
    f.extend_from_slice(&[0xee; 12]);
    let (v, out) = r.go(0, &f);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    assert_eq!(&out[14..], &ip4_forwarded(&small)[..]);
}

#[test]
fn terminated_ipv6_is_routed_in_the_session_vr() {
    let r = Run::new();
    let ip = ip6(5, 64, 20);
    let (v, out) = r.go(0, &pppoe(SUB_A, Some(100), 0x11, &ppp(0x0057, &ip)));
    assert_eq!(v, Verdict::Tx(PortId(1)));
    let mut want = eth(CE, CORE, None, 0x86dd);
    let mut fwd = ip.clone();
    fwd[7] = 63;
    want.extend(fwd);
    assert_eq!(out, want);
    assert_eq!(
        r.st.session_counters.read(SLOT_A),
        [1, ip.len() as u64, 0, 0]
    );
    // No route for fd99:... in the ISP VR: dropped, counted in both VRs.
    let mut other = ip6(5, 64, 0);
    other[24..26].copy_from_slice(&[0xfd, 0x99]);
    let (v, _) = r.go(0, &pppoe(SUB_A, Some(100), 0x11, &ppp(0x0057, &other)));
    assert_eq!(v, Verdict::Drop(Drop::NoRoute));
    assert_eq!(r.vr(ISP_VR, vr_counter::DROP), 1);
    assert_eq!(r.vr(ACCESS_VR, vr_counter::DROP), 1);
}

#[test]
fn pppoe_control_is_punted_with_offsets() {
    let r = Run::new();
    // LCP Configure-Request (id 1, MRU 1492).
    let lcp = ppp(0xc021, &[1, 1, 0, 8, 1, 4, 0x05, 0xd4]);
    let mut f = pppoe(SUB_A, Some(100), 0x11, &lcp);
    f.extend_from_slice(&[0; 10]); // padding: trimmed away
    let (v, out) = r.go(0, &f);
    let Verdict::Punt(p) = v else { panic!("{v:?}") };
    assert_eq!((p.reason, p.vr), (Punt::PppoeControl, Some(ISP_VR)));
    assert_eq!(
        (p.at.vlan, p.at.l3, p.at.inner),
        (Some(100), 18, 24),
        "PPPoE header, PPP protocol field"
    );
    assert_eq!(&out[24..], &lcp[..]);
    // Untagged subscriber C's session is relayed, so its LCP is not punted; a terminated
    // untagged session is tested through the offsets of the tagged one (+4).
    assert_eq!(
        r.st.session_counters.read(SLOT_A),
        [0; 4],
        "control is not traffic"
    );
}

#[test]
fn isolation_and_validity_drops() {
    let r = Run::new();
    let ip = ppp(0x0021, &ip4([100, 64, 0, 17], [10, 1, 0, 5], 64, 10));
    let cases: Vec<(Vec<u8>, Drop)> = vec![
        // Subscriber B using A's session id.
        (pppoe(SUB_B, Some(100), 0x11, &ip), Drop::PppoeWrongPeer),
        // A's MAC, but untagged (A is on VLAN 100).
        (pppoe(SUB_A, None, 0x11, &ip), Drop::PppoeWrongPeer),
        // A on another VLAN of the same port would have no interface; on port 2 (another
        // port) the session id names nothing.
        (
            to_small(pppoe(SUB_A, None, 0x11, &ip)),
            Drop::PppoeNoSession,
        ),
        (pppoe(SUB_A, Some(100), 0x99, &ip), Drop::PppoeNoSession),
        (
            pppoe_raw(SUB_A, Some(100), 0x8864, 0x21, 0, 0x11, &ip),
            Drop::PppoeMalformed,
        ),
        (
            pppoe_raw(SUB_A, Some(100), 0x8864, 0x11, 0x09, 0x11, &ip),
            Drop::PppoeMalformed,
        ),
        (pppoe(SUB_A, Some(100), 0x11, &[]), Drop::PppoeMalformed),
        (
            pppoe(SUB_A, Some(100), 0x11, &[0x00, 0x20]),
            Drop::PppoeMalformed,
        ),
        (
            pppoe(SUB_B, Some(100), 0x12, &[0xff, 0x03]),
            Drop::PppoeMalformed,
        ),
    ];
    for (i, (f, want)) in cases.iter().enumerate() {
        let port = if i == 2 { 2 } else { 0 };
        assert_eq!(r.go(port, f).0, Verdict::Drop(*want), "case {i}");
    }
    // LENGTH beyond the frame.
    let mut long = pppoe(SUB_A, Some(100), 0x11, &ip);
    long[18 + 4..18 + 6].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(r.go(0, &long).0, Verdict::Drop(Drop::PppoeMalformed));
    // Truncated inside the PPPoE header.
    let short = pppoe(SUB_A, Some(100), 0x11, &ip);
    for n in 18..24 {
        assert_eq!(
            r.go(0, &short[..n]).0,
            Verdict::Drop(Drop::PppoeMalformed),
            "{n}"
        );
    }
    assert_eq!(r.vr(ACCESS_VR, vr_counter::DROP), cases.len() as u64 + 7);
    assert_eq!(r.st.session_counters.read(SLOT_A), [0; 4]);
    assert_eq!(r.st.session_counters.read(SLOT_B), [0; 4]);
}

// --- relays --------------------------------------------------------------------------------

#[test]
fn pppoe_to_l2tp_relay_is_byte_exact() {
    let r = Run::new();
    // IPv4 and LCP alike: the PPP frame goes on unchanged from its protocol field.
    let frames = [
        ppp(0x0021, &ip4([100, 64, 0, 18], [10, 1, 0, 5], 64, 40)),
        ppp(0xc021, &[9, 7, 0, 8, 0, 0, 0, 1]),
    ];
    for frame in &frames {
        let mut f = pppoe(SUB_B, Some(100), 0x12, frame);
        f.extend_from_slice(&[0; 4]); // Ethernet padding: not relayed
        let (v, out) = r.go(0, &f);
        assert_eq!(v, Verdict::Tx(PortId(1)));
        let want = l2tp_frame(GW, CORE, ME, LNS, 40, 90, &hdlc(frame));
        assert_eq!(out, want);
    }
    let bytes = frames.iter().map(|f| f.len() as u64).sum::<u64>();
    assert_eq!(bytes, 70 + 10);
    assert_eq!(r.st.session_counters.read(SLOT_B), [2, bytes, 0, 0]);
    assert_eq!(r.st.session_counters.read(SLOT_LNS), [0, 0, 2, bytes]);
    assert_eq!(r.vr(ACCESS_VR, vr_counter::TX), 2);
}

#[test]
fn l2tp_to_pppoe_relay_is_byte_exact() {
    let r = Run::new();
    let ip = ip4([10, 1, 0, 5], [100, 64, 0, 18], 60, 33);
    // With address/control bytes, and without them (ACFC) with a compressed protocol
    // field (PFC): the PPP frame goes on from its protocol field, as it came.
    let full = ppp(0x0021, &ip);
    let mut pfc = vec![0x21];
    pfc.extend_from_slice(&ip);
    for (l2tp_payload, relayed) in [(hdlc(&full), full.clone()), (pfc.clone(), pfc.clone())] {
        let (v, out) = r.go(1, &from_lns(90, &l2tp_payload));
        assert_eq!(v, Verdict::Tx(PortId(0)));
        let want = pppoe_raw(SUB_B, Some(100), 0x8864, 0x11, 0, 0x12, &relayed);
        let mut want_out = want.clone();
        want_out[0..6].copy_from_slice(&SUB_B);
        want_out[6..12].copy_from_slice(&ACCESS);
        assert_eq!(out, want_out);
    }
    let bytes = (full.len() + pfc.len()) as u64;
    assert_eq!(r.st.session_counters.read(SLOT_LNS), [2, bytes, 0, 0]);
    assert_eq!(r.st.session_counters.read(SLOT_B), [0, 0, 2, bytes]);
    assert_eq!(r.vr(CORE_VR, vr_counter::TX), 2);
}

#[test]
fn l2tp_to_l2tp_switching_is_byte_exact() {
    let r = Run::new();
    let frame = ppp(0x0057, &ip6(9, 50, 17));
    let (v, out) = r.go(1, &from_lns(91, &hdlc(&frame)));
    assert_eq!(v, Verdict::Tx(PortId(1)));
    assert_eq!(out, l2tp_frame(GW, CORE, ME, LNS2, 40, 60, &hdlc(&frame)));
    let n = frame.len() as u64;
    assert_eq!(r.st.session_counters.read(SLOT_SW_IN), [1, n, 0, 0]);
    assert_eq!(r.st.session_counters.read(SLOT_SW_OUT), [0, 0, 1, n]);
    // An L2TP header with the length, sequence and offset fields: the PPP frame is found
    // after them.
    let mut opt = vec![0x4a, 0x02, 0, 0, 0, 7, 0, 91, 0, 1, 0, 2, 0, 2, 0xaa, 0xbb];
    let l = (opt.len() + 2 + frame.len()) as u16;
    opt[2..4].copy_from_slice(&l.to_be_bytes());
    opt.extend(hdlc(&frame));
    let mut f = l2tp_frame(CORE, GW, LNS, ME, 0, 0, &[]);
    f.truncate(f.len() - 6);
    f.extend_from_slice(&opt);
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[38..40].copy_from_slice(&(total - 20).to_be_bytes());
    let (v, out) = r.go(1, &f);
    assert_eq!(v, Verdict::Tx(PortId(1)));
    assert_eq!(out, l2tp_frame(GW, CORE, ME, LNS2, 40, 60, &hdlc(&frame)));
}

#[test]
fn unresolved_lns_neighbour_drops() {
    let r = Run::new();
    let frame = hdlc(&ppp(0x0021, &ip4([1, 1, 1, 1], [2, 2, 2, 2], 9, 4)));
    assert_eq!(
        r.go(1, &from_lns(92, &frame)).0,
        Verdict::Drop(Drop::L2tpNoNeighbor)
    );
    // Once the gateway resolves, the same frame goes.
    let mut w = writer();
    w.set_neighbor(
        NeighborKey {
            port: PortId(1),
            vlan: None,
            ip: Ipv4Addr::new(192, 0, 2, 253).into(),
        },
        Some([2, 0, 0, 0, 0x6e, 0x02]),
    );
    let st = w.commit().unwrap();
    let c = WorkerCounters::new(0, 3);
    let mut b = HeapBuf::from_slice(&from_lns(92, &frame)).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(1), &mut b, &c),
        Verdict::Tx(PortId(1))
    );
    assert_eq!(&b.data()[0..6], &[2, 0, 0, 0, 0x6e, 0x02]);
}

#[test]
fn relay_wrong_vr_and_unbound_sessions_are_refused() {
    let r = Run::new();
    // L2TP for a relayed session (bound in the core VR) arriving in the access VR, which
    // also has the tunnel address: refused (isolation), not relayed.
    let mut f = from_lns(90, &hdlc(&ppp(0x0021, &[0x45])));
    f[0..6].copy_from_slice(&ACCESS);
    assert_eq!(r.go(0, &f).0, Verdict::Drop(Drop::L2tpWrongVr));
    assert_eq!(
        r.go(1, &from_lns(95, &hdlc(&ppp(0x0021, &[0x45])))).0,
        Verdict::Drop(Drop::L2tpNoSession)
    );
    // An empty PPP frame in a relayed L2TP session.
    assert_eq!(
        r.go(1, &from_lns(90, &[0xff, 0x03])).0,
        Verdict::Drop(Drop::L2tpMalformed)
    );
}

#[test]
fn mtu_of_relays_and_routes_into_pppoe() {
    let r = Run::new();
    // Into PPPoE on the small port: PPPoE header (6) + PPP frame must fit the MTU.
    let fits = ppp(0x0021, &vec![0x45; SMALL_MTU as usize - 6 - 2]);
    let (v, out) = r.go(1, &from_lns(94, &hdlc(&fits)));
    assert_eq!(v, Verdict::Tx(PortId(2)));
    assert_eq!(out.len(), 14 + SMALL_MTU as usize);
    let over = ppp(0x0021, &vec![0x45; SMALL_MTU as usize - 6 - 1]);
    assert_eq!(
        r.go(1, &from_lns(94, &hdlc(&over))).0,
        Verdict::Drop(Drop::MtuExceeded)
    );
    // From PPPoE into L2TP: the outer IPv4 packet (20 + 8 + 6 + 2 + PPP) must fit.
    let big = ppp(0x0021, &vec![0x45; 1500 - 36 - 2]);
    assert_eq!(
        r.go(2, &to_small(pppoe(SUB_C, None, 0x21, &big))).0,
        Verdict::Tx(PortId(1))
    );
    let bigger = ppp(0x0021, &vec![0x45; 1500 - 36 - 1]);
    assert_eq!(
        r.go(2, &to_small(pppoe(SUB_C, None, 0x21, &bigger))).0,
        Verdict::Drop(Drop::MtuExceeded)
    );
    // Routed into PPPoE (originated in the ISP VR, which routes 100.64.0.33 into C's
    // session): IP + PPP protocol (2) + PPPoE header (6) within the MTU.
    let ok = ip4(
        [10, 1, 0, 5],
        [100, 64, 0, 33],
        64,
        SMALL_MTU as usize - 8 - 28,
    );
    let st = &r.st;
    let c = WorkerCounters::new(0, 3);
    let mut b = HeapBuf::from_slice(&ok).unwrap();
    assert_eq!(
        originate(st, &ports(), ISP_VR, &mut b, &c),
        Verdict::Tx(PortId(2))
    );
    let too_big = ip4(
        [10, 1, 0, 5],
        [100, 64, 0, 33],
        64,
        SMALL_MTU as usize - 8 - 27,
    );
    let mut b = HeapBuf::from_slice(&too_big).unwrap();
    assert_eq!(
        originate(st, &ports(), ISP_VR, &mut b, &c),
        Verdict::Drop(Drop::MtuExceeded)
    );
}

#[test]
fn routes_into_pppoe_are_byte_exact() {
    let r = Run::new();
    // Subscriber A's packet to another subscriber of the ISP VR (hairpin through the
    // session of 100.64.0.17): routed into PPPoE session 0x11 on VLAN 100.
    let ip = ip4([100, 64, 0, 17], [100, 64, 0, 17], 64, 21);
    let (v, out) = r.go(0, &pppoe(SUB_A, Some(100), 0x11, &ppp(0x0021, &ip)));
    assert_eq!(v, Verdict::Tx(PortId(0)));
    let mut want = ppp(0x0021, &ip4_forwarded(&ip));
    want = pppoe_raw(SUB_A, Some(100), 0x8864, 0x11, 0, 0x11, &want);
    want[0..6].copy_from_slice(&SUB_A);
    want[6..12].copy_from_slice(&ACCESS);
    assert_eq!(out, want);
    let n = ip.len() as u64;
    assert_eq!(r.st.session_counters.read(SLOT_A), [1, n, 1, n]);
    // Originated by the control core into the session of 100.64.0.17: PPPoE, PPP protocol
    // 0x0021, the IP packet with its TTL unchanged.
    let mut b = HeapBuf::from_slice(&ip).unwrap();
    assert_eq!(
        originate(&r.st, &ports(), ISP_VR, &mut b, &r.c),
        Verdict::Tx(PortId(0))
    );
    assert_eq!(
        &b.data()[18..26],
        &[0x11, 0, 0, 0x11, 0, (n + 2) as u8, 0, 0x21]
    );
    assert_eq!(&b.data()[26..], &ip[..]);
}

/// A buffer that starts without headroom (a backend that keeps none): only the space of
/// headers removed with `adj` can be prepended again.
struct Tight {
    mem: Vec<u8>,
    off: usize,
}

impl Tight {
    fn new(f: Vec<u8>) -> Self {
        Tight { mem: f, off: 0 }
    }
}

impl PacketBuf for Tight {
    fn data(&self) -> &[u8] {
        &self.mem[self.off..]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.off..]
    }
    fn headroom(&self) -> usize {
        self.off
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.mem.len() - self.off {
            return false;
        }
        self.off += n;
        true
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.off {
            return None;
        }
        self.off -= n;
        Some(&mut self.mem[self.off..self.off + n])
    }
    fn trim(&mut self, len: usize) {
        self.mem.truncate(self.off + len);
    }
}

#[test]
fn relays_without_headroom_drop() {
    let st = state();
    let c = WorkerCounters::new(0, 3);
    // PPPoE (PPP at 24) → L2TP needs 50 bytes in front of the PPP frame.
    let f = pppoe(SUB_B, Some(100), 0x12, &ppp(0xc021, &[1, 1, 0, 4]));
    let mut b = Tight::new(f);
    assert_eq!(
        forward(&st, &ports(), PortId(0), &mut b, &c),
        Verdict::Drop(Drop::NoHeadroom)
    );
    assert_eq!(st.session_counters.read(SLOT_LNS), [0; 4], "nothing sent");
    // L2TP (PPP at 50) → PPPoE (24 bytes of headers) fits in what the outer headers
    // leave, and so does a route into PPPoE of a PPPoE subscriber's packet (IP at 26, 26
    // bytes of headers).
    let lcp = ppp(0xc021, &[1, 1, 0, 4]);
    let mut b = Tight::new(from_lns(90, &hdlc(&lcp)));
    assert_eq!(
        forward(&st, &ports(), PortId(1), &mut b, &c),
        Verdict::Tx(PortId(0))
    );
    let mut want = pppoe_raw(SUB_B, Some(100), 0x8864, 0x11, 0, 0x12, &lcp);
    want[0..6].copy_from_slice(&SUB_B);
    want[6..12].copy_from_slice(&ACCESS);
    assert_eq!(b.data(), &want[..]);
    let ip = ip4([100, 64, 0, 17], [100, 64, 0, 17], 64, 0);
    let mut b = Tight::new(pppoe(SUB_A, Some(100), 0x11, &ppp(0x0021, &ip)));
    assert_eq!(
        forward(&st, &ports(), PortId(0), &mut b, &c),
        Verdict::Tx(PortId(0))
    );
    assert_eq!(&b.data()[26..], &ip4_forwarded(&ip)[..]);
    // Routed from the untagged small port into the tagged session: 4 bytes short.
    let mut w = writer();
    w.bind_session(
        pppoe_key(2, 0x22),
        SessionBinding::pppoe(ISP_VR, SessionBinding::NO_COUNTERS, SUB_C, None),
    )
    .unwrap();
    let st = w.commit().unwrap();
    let mut b = Tight::new(to_small(pppoe(SUB_C, None, 0x22, &ppp(0x0021, &ip))));
    assert_eq!(
        forward(&st, &ports(), PortId(2), &mut b, &c),
        Verdict::Drop(Drop::NoHeadroom)
    );
}

#[test]
fn unbinding_stops_the_relay() {
    let mut w = writer();
    w.unbind_session(&pppoe_key(0, 0x12)).unwrap();
    let st = w.commit().unwrap();
    let c = WorkerCounters::new(0, 3);
    let mut b = HeapBuf::from_slice(&pppoe(SUB_B, Some(100), 0x12, &ppp(0xc021, &[1]))).unwrap();
    assert_eq!(
        forward(&st, &ports(), PortId(0), &mut b, &c),
        Verdict::Drop(Drop::PppoeNoSession)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any byte of a PPPoE or relayed L2TP frame mutated: no panic, and what leaves goes
    /// out of a port with at least an Ethernet header.
    #[test]
    fn mutated_session_frames_never_panic(which in 0usize..4, i in 0usize..120, x in any::<u8>(), cut in 0usize..130) {
        let ip = ip4([100, 64, 0, 17], [10, 1, 0, 5], 64, 20);
        let (port, mut f) = match which {
            0 => (0, pppoe(SUB_A, Some(100), 0x11, &ppp(0x0021, &ip))),
            1 => (0, pppoe(SUB_B, Some(100), 0x12, &ppp(0x0021, &ip))),
            2 => (1, from_lns(90, &hdlc(&ppp(0x0021, &ip)))),
            _ => (1, from_lns(91, &hdlc(&ppp(0x0057, &ip6(1, 3, 9))))),
        };
        let i = i % f.len();
        f[i] = x;
        f.truncate(cut.max(1).min(f.len()));
        let st = state();
        let c = WorkerCounters::new(0, 3);
        let mut b = HeapBuf::from_slice(&f).unwrap();
        if let Verdict::Tx(p) = forward(&st, &ports(), PortId(port), &mut b, &c) {
            prop_assert!(p.0 < 3);
            prop_assert!(b.len() >= 14);
        }
    }
}
