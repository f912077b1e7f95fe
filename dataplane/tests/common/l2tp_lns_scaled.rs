//! An LNS forwarding state at carrier scale, for the `l2tp_100k` benchmark group and its
//! test: `sessions` L2TP sessions over `tunnels` tunnels (sessions spread evenly), bound
//! into [`VRS`] ISP VRs (tunnel `t` belongs to VR `t % VRS + 1`), each session with its own
//! counter slot and its own subscriber /32 whose next hop is an [`L2tpEncap`] toward its
//! tunnel's LAC; plus a network side of [`NET_PREFIXES`] Internet-shaped prefixes and a
//! default route per VR over [`GATEWAYS`] upstream gateways.
//!
//! Addressing (VR `v` = 1..=VRS, tunnel index `t`, session index `i` over all sessions):
//!
//! | what | where |
//! |---|---|
//! | LAC side of VR `v` | port 1 VLAN `100 + v`; our tunnel address 192.0.2.`v` (local) |
//! | LAC of tunnel `t` | 198.18.0.0 + `t` + 1, MAC [`lac_mac`]`(t)`, resolved with `set_neighbor` |
//! | network side of VR `v` | port 0 VLAN `200 + v`; gateways 203.0.113.1..=GATEWAYS |
//! | subscriber `i` | 100.64.0.0 + `i` + 1 (/32 in its session's VR) |
//! | ids | our tunnel `t + 1`, our session `j + 1` (`j`: index in the tunnel); the peer's `0x4000 + t`, `0x8000 + j` |

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use vr::fib::gen::{routes_v4, SplitMix64};
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, L2tpEncap, LabelPush, NeighborKey, NextHop,
    PortId, Prefix4, RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId,
    VrId,
};

/// The router's MAC on both ports.
pub const R: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// ISP VRs.
pub const VRS: u32 = 10;
/// Network-side prefixes per VR (besides the default route).
pub const NET_PREFIXES: usize = 2_000;
/// Upstream gateways per VR.
pub const GATEWAYS: u32 = 4;
/// The LAC-side port and the network-side port.
pub const LAC_PORT: PortId = PortId(1);
pub const NET_PORT: PortId = PortId(0);

/// The MAC of tunnel `t`'s LAC.
pub fn lac_mac(t: usize) -> [u8; 6] {
    [2, 0, 0, 0x1a, (t >> 8) as u8, t as u8]
}

/// The MAC of gateway `g` of VR `v`.
pub fn gw_mac(v: u32, g: u32) -> [u8; 6] {
    [2, 0, 0, 0xce, v as u8, g as u8]
}

/// One bound session as the packets name it.
#[derive(Clone, Copy, Debug)]
pub struct Session {
    pub vr: VrId,
    pub tunnel_index: usize,
    pub tunnel: u16,
    pub session: u16,
    pub peer_tunnel: u16,
    pub peer_session: u16,
    pub lac: Ipv4Addr,
    pub lns: Ipv4Addr,
    pub subscriber: Ipv4Addr,
    pub counters: u32,
}

impl Session {
    /// The VLAN of its VR on the LAC side.
    pub fn lac_vlan(&self) -> u16 {
        100 + self.vr.0 as u16
    }

    /// The VLAN of its VR on the network side.
    pub fn net_vlan(&self) -> u16 {
        200 + self.vr.0 as u16
    }
}

/// The scaled state and what the benchmark needs to address it.
pub struct Scaled {
    pub state: ForwardingState,
    pub sessions: Vec<Session>,
    /// Network-side prefixes of VR `v` at index `v - 1`.
    pub net_routes: Vec<Vec<Prefix4>>,
    /// Time to build (writer calls and the commit).
    pub build_time: Duration,
}

fn lns_addr(v: u32) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, v as u8)
}

fn gw_addr(g: u32) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, g as u8 + 1)
}

/// Address ranges the generated network prefixes must stay out of.
fn reserved() -> [Prefix4; 4] {
    [
        "100.64.0.0/10".parse().unwrap(),
        "192.0.2.0/24".parse().unwrap(),
        "198.18.0.0/15".parse().unwrap(),
        "203.0.113.0/24".parse().unwrap(),
    ]
}

/// Builds the state (see the module docs). `sessions` is rounded down to a multiple of
/// `tunnels`; fewer than 32,768 sessions per tunnel (the peer session ids are 0x8000 + j).
pub fn state_scaled(sessions: usize, tunnels: usize) -> Scaled {
    let started = Instant::now();
    let per_tunnel = sessions / tunnels;
    assert!((1..0x8000).contains(&per_tunnel) && tunnels < 0x4000);
    let mut w = StateWriter::new(vec![R, R], 2);
    assert!(w.set_session_counter_slots(per_tunnel * tunnels));
    let st = RouteSource::Static;
    let mut net_routes = Vec::new();
    for v in 1..=VRS {
        w.add_vr(VirtualRouter::new(
            VrId(v),
            format!("isp{v}"),
            VpnId::new(1, v).unwrap(),
            "t",
        ))
        .unwrap();
        for (port, vlan) in [(LAC_PORT, 100 + v as u16), (NET_PORT, 200 + v as u16)] {
            w.bind_interface(IfKey::PortVlan(port, vlan), IfBinding::Vr(VrId(v)))
                .unwrap();
        }
        w.set_route(
            VrId(v),
            IpPrefix::host(lns_addr(v).into()),
            RouteSource::Local,
            NextHop::Local,
        )
        .unwrap();
        // The network side: upstream gateways (resolved) and an Internet-shaped table.
        let vlan = Some(200 + v as u16);
        let gw = |g: u32| NextHop::Unresolved {
            port: NET_PORT,
            vlan,
            via: gw_addr(g).into(),
            push: LabelPush::EMPTY,
        };
        for g in 0..GATEWAYS {
            let key = NeighborKey {
                port: NET_PORT,
                vlan,
                ip: gw_addr(g).into(),
            };
            w.set_neighbor(key, Some(gw_mac(v, g)));
        }
        w.set_route(VrId(v), "0.0.0.0/0".parse().unwrap(), st, gw(0))
            .unwrap();
        let res = reserved();
        let mut mine = Vec::new();
        for (p, nh) in routes_v4(NET_PREFIXES * 11 / 10, u64::from(v)) {
            if mine.len() == NET_PREFIXES {
                break;
            }
            if res.iter().any(|r| r.covers(&p) || p.covers(r)) {
                continue;
            }
            w.set_route(VrId(v), IpPrefix::V4(p), st, gw(nh.0 % GATEWAYS))
                .unwrap();
            mine.push(p);
        }
        assert_eq!(mine.len(), NET_PREFIXES);
        net_routes.push(mine);
    }
    // The LACs: one address per tunnel, resolved on its VR's LAC-side VLAN.
    for t in 0..tunnels {
        let v = t as u32 % VRS + 1;
        let key = NeighborKey {
            port: LAC_PORT,
            vlan: Some(100 + v as u16),
            ip: IpAddr::V4(lac_addr(t)),
        };
        w.set_neighbor(key, Some(lac_mac(t)));
    }
    // The sessions: binding, counter slot, subscriber route into the session.
    let mut out = Vec::with_capacity(per_tunnel * tunnels);
    for t in 0..tunnels {
        let v = t as u32 % VRS + 1;
        for j in 0..per_tunnel {
            let i = out.len();
            let counters = w.alloc_session_counters().unwrap();
            let s = Session {
                vr: VrId(v),
                tunnel_index: t,
                tunnel: t as u16 + 1,
                session: j as u16 + 1,
                peer_tunnel: 0x4000 + t as u16,
                peer_session: 0x8000 + j as u16,
                lac: lac_addr(t),
                lns: lns_addr(v),
                subscriber: Ipv4Addr::from(0x6440_0000 + i as u32 + 1),
                counters,
            };
            w.bind_session(
                SessionKey::L2tp {
                    tunnel: s.tunnel,
                    session: s.session,
                },
                SessionBinding {
                    counters,
                    ..SessionBinding::new(s.vr)
                },
            )
            .unwrap();
            let encap = NextHop::L2tp(L2tpEncap {
                port: LAC_PORT,
                vlan: Some(s.lac_vlan()),
                src_mac: [0; 6],
                dst_mac: [0; 6],
                src_ip: s.lns,
                dst_ip: s.lac,
                via: s.lac,
                counters,
                src_port: 1701,
                dst_port: 1701,
                peer_tunnel: s.peer_tunnel,
                peer_session: s.peer_session,
            });
            w.set_route(s.vr, IpPrefix::host(s.subscriber.into()), st, encap)
                .unwrap();
            out.push(s);
        }
    }
    let state = w.commit().unwrap();
    Scaled {
        state,
        sessions: out,
        net_routes,
        build_time: started.elapsed(),
    }
}

fn lac_addr(t: usize) -> Ipv4Addr {
    Ipv4Addr::from(0xc612_0000 + t as u32 + 1)
}

/// The UDP payload of every generated packet (as long as the golden test's).
pub const PAYLOAD: &[u8] = b"l2tp-data-path-golden";

/// IPv4 (TTL 64, checksum filled in) / UDP (no checksum) / [`PAYLOAD`].
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    let total = 20 + 8 + PAYLOAD.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = !wire::checksum::data(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + PAYLOAD.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(PAYLOAD);
    p
}

/// Ethernet to the router with one VLAN tag, then `ethertype` and `payload`.
pub fn eth_vlan(src: [u8; 6], vlan: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + payload.len());
    f.extend_from_slice(&R);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A random address of a random network prefix of `s`'s VR.
pub fn net_dst(sc: &Scaled, s: &Session, rng: &mut SplitMix64) -> Ipv4Addr {
    let routes = &sc.net_routes[s.vr.0 as usize - 1];
    let p = routes[rng.below(routes.len() as u64) as usize];
    let m = p.mask();
    Ipv4Addr::from((p.addr() & m) | (rng.next_u64() as u32 & !m))
}

/// The subscriber's packet to `dst` as the LAC sends it in the session (port 1).
pub fn decap_packet(s: &Session, dst: Ipv4Addr) -> Vec<u8> {
    let inner = ipv4_udp(s.subscriber, dst, 5, 6);
    let mut l2tp = vec![0; wire::l2tp::MIN_HEADER_LEN + wire::ppp::ENCAP_LEN];
    wire::l2tp::emit_data_header(&mut l2tp, s.tunnel, s.session);
    wire::ppp::emit(
        &mut l2tp[wire::l2tp::MIN_HEADER_LEN..],
        wire::ppp::protocol::IPV4,
    );
    l2tp.extend_from_slice(&inner);
    // Outer IPv4/UDP from the LAC to our tunnel address, UDP checksum 0.
    let total = 20 + 8 + l2tp.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&s.lac.octets());
    ip.extend_from_slice(&s.lns.octets());
    let sum = !wire::checksum::data(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&1701u16.to_be_bytes());
    ip.extend_from_slice(&1701u16.to_be_bytes());
    ip.extend_from_slice(&((8 + l2tp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(&l2tp);
    eth_vlan(lac_mac(s.tunnel_index), s.lac_vlan(), 0x0800, &ip)
}

/// The same subscriber packet without L2TP (as if the subscriber were on the LAC-side VLAN).
pub fn plain_packet(s: &Session, dst: Ipv4Addr) -> Vec<u8> {
    eth_vlan(
        lac_mac(s.tunnel_index),
        s.lac_vlan(),
        0x0800,
        &ipv4_udp(s.subscriber, dst, 5, 6),
    )
}

/// A packet from the network (gateway 0 of the VR, port 0) to the subscriber.
pub fn encap_packet(s: &Session, src: Ipv4Addr) -> Vec<u8> {
    eth_vlan(
        gw_mac(s.vr.0, 0),
        s.net_vlan(),
        0x0800,
        &ipv4_udp(src, s.subscriber, 6, 5),
    )
}

/// Packets cycling through random sessions: `decap[k]`, `encap[k]` and `plain[k]` are of
/// session `sessions[k]` (an index into [`Scaled::sessions`]).
pub struct Workload {
    pub sessions: Vec<usize>,
    pub decap: Vec<Vec<u8>>,
    pub encap: Vec<Vec<u8>>,
    pub plain: Vec<Vec<u8>>,
}

/// `n` packets of each kind over uniformly random sessions and network addresses.
pub fn workload(sc: &Scaled, n: usize, seed: u64) -> Workload {
    let mut rng = SplitMix64::new(seed);
    let mut w = Workload {
        sessions: Vec::with_capacity(n),
        decap: Vec::with_capacity(n),
        encap: Vec::with_capacity(n),
        plain: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let i = rng.below(sc.sessions.len() as u64) as usize;
        let s = &sc.sessions[i];
        let far = net_dst(sc, s, &mut rng);
        w.sessions.push(i);
        w.decap.push(decap_packet(s, far));
        w.encap.push(encap_packet(s, far));
        w.plain.push(plain_packet(s, far));
    }
    w
}

/// Runs every packet of `w` once and panics unless each takes the path its case claims:
/// decap + route out of the network-side VLAN of the session's VR toward one of its
/// gateways, route + encap into the session (its LAC's MAC and VLAN, the peer's ids),
/// plain routing like decap; the sessions' counters advance by exactly their packets (and
/// not for plain routing).
pub fn check(sc: &Scaled, w: &Workload) {
    use dataplane::buffer::{HeapBuf, PacketBuf};
    use dataplane::counters::WorkerCounters;
    use dataplane::pipeline::{forward, PortInfo, Verdict};
    use vr::session_counter::{RX_PACKETS, TX_PACKETS};
    let st = &sc.state;
    let ports = [PortInfo { mac: R, mtu: 1500 }; 2];
    let cnt = WorkerCounters::new(0, 2);
    let read = |slot| st.session_counters.read(slot);
    let before: Vec<[u64; 4]> = sc.sessions.iter().map(|s| read(s.counters)).collect();
    let mut want = vec![[0u64; 2]; sc.sessions.len()];
    let mut buf = HeapBuf::new();
    let vlan_of = |d: &[u8]| {
        assert_eq!(&d[12..14], &[0x81, 0x00]);
        u16::from_be_bytes([d[14], d[15]]) & 0x0fff
    };
    for (k, &i) in w.sessions.iter().enumerate() {
        let s = &sc.sessions[i];
        for (case, pkt) in [("decap", &w.decap[k]), ("plain", &w.plain[k])] {
            assert!(buf.set(pkt));
            let v = forward(st, &ports, LAC_PORT, &mut buf, &cnt);
            assert_eq!(v, Verdict::Tx(NET_PORT), "{case} packet {k}, {s:?}");
            let d = buf.data();
            assert_eq!(vlan_of(d), s.net_vlan(), "{case} packet {k}");
            assert_eq!(&d[..5], &gw_mac(s.vr.0, 0)[..5], "{case} packet {k}");
            assert_eq!(&d[18 + 12..18 + 16], &s.subscriber.octets(), "{case} {k}");
        }
        want[i][0] += 1;
        assert!(buf.set(&w.encap[k]));
        let v = forward(st, &ports, NET_PORT, &mut buf, &cnt);
        assert_eq!(v, Verdict::Tx(LAC_PORT), "encap packet {k}, {s:?}");
        let d = buf.data();
        assert_eq!(&d[..6], &lac_mac(s.tunnel_index), "encap packet {k}");
        assert_eq!(vlan_of(d), s.lac_vlan(), "encap packet {k}");
        assert_eq!(&d[18 + 16..18 + 20], &s.lac.octets(), "encap packet {k}");
        let l2tp = 18 + 20 + 8;
        assert_eq!(
            (
                u16::from_be_bytes([d[l2tp + 2], d[l2tp + 3]]),
                u16::from_be_bytes([d[l2tp + 4], d[l2tp + 5]])
            ),
            (s.peer_tunnel, s.peer_session),
            "encap packet {k}"
        );
        want[i][1] += 1;
    }
    for (i, s) in sc.sessions.iter().enumerate() {
        let now = read(s.counters);
        assert_eq!(
            [
                now[RX_PACKETS] - before[i][RX_PACKETS],
                now[TX_PACKETS] - before[i][TX_PACKETS]
            ],
            want[i],
            "session counters of {s:?}"
        );
    }
}
