//! The forwarding pipeline of DESIGN.md, one packet at a time:
//!
//! ```text
//! Ethernet (+ one 802.1Q tag) → interface table → VR or trunk
//!   trunk:    MPLS → label matrix → swap & send | pop → VR lookup | pop & send
//!   VR port:  IPv4/IPv6 → VR FIB → next hop → TTL, checksum, MAC rewrite, label push
//!             ARP, local addresses, expired TTLs, neighbor misses → punt
//!             PPPoE discovery → punt; PPPoE session → session table → relay, or
//!               IPv4/IPv6 routed in the session's VR, or other PPP → punt
//!             L2TP data to a local address → session table → relay, or decapsulate
//!               (IPv4 in the common header form: `l2tp_fast.rs`, one pass)
//!             ESP / IP-in-IP to a local address → tunnel of that VR → inner packet
//!               routed in the tunnel's VR (`esp.rs`, `ipip.rs`); routes into
//!               `NextHop::Esp` / `NextHop::IpIp` encapsulate and route in the outer VR;
//!               `NextHop::BySource` picks one of those by the packet's source first
//! ```
//!
//! **PPP sessions.** A session (L2TP by tunnel and session id, PPPoE by port and session
//! id) is looked up in the session table. A PPPoE frame is accepted only from the
//! subscriber's MAC and VLAN the binding names (`pppoe_wrong_peer`); an L2TP session only in
//! its tunnel's VR (`l2tp_wrong_vr`; a session moved to another VR keeps its tunnel
//! where it is, and its IP is routed — and counted — in the VR it was moved to). A *relayed* session's PPP frames (from the
//! protocol field on; `ff 03` address/control bytes are dropped, a compressed protocol
//! field is carried as it is) go out through the binding's relay next hop — into an L2TP
//! session (LAC, tunnel switching: Ethernet/IPv4/UDP/L2TP/`ff 03`/PPP) or a PPPoE session
//! (Ethernet/PPPoE/PPP) — counted as the ingress session's RX and the egress session's TX
//! (PPP bytes), and as TX of the VR the frame arrived in. A *terminated* session's IPv4 and
//! IPv6 are counted (IP bytes) and routed in the session's VR; other PPP is punted
//! (`ppp_control`, `pppoe_control`). Routes through [`NextHop::Pppoe`] send IP into a
//! PPPoE session. MTU rule for PPPoE: the Ethernet payload (PPPoE header, PPP protocol,
//! IP) must fit the port's MTU, so a 1500-byte port carries 1492-byte IP packets (the
//! usual PPPoE MRU; the session's negotiated MRU is not known here). The frame a PPPoE
//! session frame arrived in is counted in its interface's VR (RX, and DROP when dropped);
//! when the session's VR is another one, that VR counts it too.
//!
//! [`forward`] decides and rewrites one packet and returns a [`Verdict`]; the worker moves
//! the buffer accordingly. Isolation rules enforced here: a packet is bound to exactly one
//! VR at ingress (by the interface table or by a pop-to-VR label) and is looked up only in
//! that VR's FIB; labelled frames on customer-facing interfaces are dropped; plain IP on
//! trunks is dropped; nothing falls back to a default VR.
//!
//! TTL follows the RFC 3443 uniform model (see `labelswitch::ttl`). Packets larger than the
//! egress MTU are dropped (`mtu_exceeded`); fragmentation and ICMP "packet too big" come
//! with the ICMP engine.

use crate::buffer::PacketBuf;
use crate::counters::{Drop, Punt, WorkerCounters};
use crate::punt::{Offsets, PuntTo};
use std::net::Ipv4Addr;
use wire::esp as esp_wire;

mod esp;
mod ipip;
mod l2tp_fast;
pub mod vector;
use labelswitch::{ttl, LabelEntry, LabelOp, LabelStack};
use vr::{
    session_counter, vr_counter, ForwardingState, IfBinding, L2tpEncap, LabelPush, NextHop,
    NextHopId, PortId, PppoeEncap, SessionCounters, SessionKey, VrEntry, VrId,
};
use wire::ipv4::{self as ipv4_wire, HeaderError};
use wire::l2tp as l2tp_wire;
use wire::pppoe::{self as pppoe_wire, PppoeHeader};
use wire::{ppp, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket};

const ETH_HLEN: usize = 14;
const ET_IPV4: u16 = 0x0800;
const ET_ARP: u16 = 0x0806;
const ET_VLAN: u16 = 0x8100;
const ET_QINQ: u16 = 0x88a8;
const ET_IPV6: u16 = 0x86dd;
const ET_MPLS: u16 = 0x8847;
const ET_PPPOE_DISCOVERY: u16 = 0x8863;
const ET_PPPOE_SESSION: u16 = 0x8864;

/// What the pipeline decided for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send on this port (the packet has been rewritten).
    Tx(PortId),
    /// Hand to the control core (the packet is unchanged from ingress for `Local`/`Arp`;
    /// for `NeighborMiss` it is rewritten except for the destination MAC), with the reason,
    /// the VR and the header offsets found.
    Punt(PuntTo),
    /// Discard.
    Drop(Drop),
}

impl Verdict {
    /// The reason and VR of a punt (`None` for other verdicts).
    pub fn punted(&self) -> Option<(Punt, Option<VrId>)> {
        match self {
            Verdict::Punt(p) => Some((p.reason, p.vr)),
            _ => None,
        }
    }
}

/// Static facts about a port the pipeline needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// The port's MAC address.
    pub mac: [u8; 6],
    /// Largest IP packet the port sends.
    pub mtu: u32,
}

#[inline]
fn be16(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

#[inline]
fn punt(reason: Punt, vr: Option<VrId>, at: Offsets) -> Verdict {
    Verdict::Punt(PuntTo { reason, vr, at })
}

/// Counts a VR packet on this worker's line of the VR's counters.
#[inline]
fn count_vr(entry: &VrEntry, c: &WorkerCounters, which: usize) {
    if let Some(line) = entry.counters.worker(c.worker) {
        line.bump(which, 1);
    }
}

/// Counts a packet of `bytes` into the VR (`RX`, `RX_BYTES`).
#[inline]
fn count_vr_rx(entry: &VrEntry, c: &WorkerCounters, bytes: usize) {
    if let Some(line) = entry.counters.worker(c.worker) {
        line.bump(vr_counter::RX, 1);
        line.bump(vr_counter::RX_BYTES, bytes as u64);
    }
}

/// Counts a packet of `bytes` the VR sent (`TX`, `TX_BYTES`).
#[inline]
fn count_vr_tx(entry: &VrEntry, c: &WorkerCounters, bytes: usize) {
    if let Some(line) = entry.counters.worker(c.worker) {
        line.bump(vr_counter::TX, 1);
        line.bump(vr_counter::TX_BYTES, bytes as u64);
    }
}

/// Runs one packet through the pipeline. `in_port` is where it arrived.
#[inline]
pub fn forward<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    in_port: PortId,
    buf: &mut B,
    c: &WorkerCounters,
) -> Verdict {
    let d = buf.data();
    if d.len() < ETH_HLEN {
        return Verdict::Drop(Drop::EthTruncated);
    }
    let Some(me) = ports.get(usize::from(in_port.0)) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    if d[0] & 1 == 0 && d[0..6] != me.mac {
        return Verdict::Drop(Drop::L2NotForUs);
    }
    let mut et = be16(d, 12);
    let mut l3 = ETH_HLEN;
    let mut vlan = None;
    match et {
        ET_VLAN => {
            if d.len() < ETH_HLEN + 4 {
                return Verdict::Drop(Drop::VlanMalformed);
            }
            let vid = be16(d, 14) & 0x0fff;
            if vid == 0 || vid == 0x0fff {
                return Verdict::Drop(Drop::VlanMalformed);
            }
            et = be16(d, 16);
            if et == ET_VLAN || et == ET_QINQ {
                return Verdict::Drop(Drop::VlanUnsupported);
            }
            vlan = Some(vid);
            l3 += 4;
        }
        ET_QINQ => return Verdict::Drop(Drop::VlanUnsupported),
        _ => {}
    }
    match st.interfaces.lookup_l2(in_port, vlan) {
        None => Verdict::Drop(Drop::NoInterface),
        Some(IfBinding::Trunk) => match et {
            ET_MPLS => mpls(st, ports, buf, vlan, l3, c),
            ET_ARP => punt(Punt::Arp, None, Offsets::l3(vlan, l3)),
            _ => Verdict::Drop(Drop::UnlabelledOnTrunk),
        },
        Some(IfBinding::Vr(vr)) => {
            let Some(entry) = st.vr(vr) else {
                return Verdict::Drop(Drop::TableInconsistent);
            };
            count_vr_rx(entry, c, buf.len());
            let v = match et {
                ET_IPV4 => ipv4(st, ports, entry, buf, vlan, l3, l3, c),
                ET_IPV6 => ipv6(st, ports, entry, buf, vlan, l3, l3, c),
                ET_ARP => return punt(Punt::Arp, Some(vr), Offsets::l3(vlan, l3)),
                ET_PPPOE_DISCOVERY => {
                    return punt(Punt::PppoeDiscovery, Some(vr), Offsets::l3(vlan, l3))
                }
                ET_PPPOE_SESSION => pppoe(st, ports, entry, in_port, buf, vlan, l3, c),
                ET_MPLS => Verdict::Drop(Drop::LabelledOnCustomerPort),
                _ => Verdict::Drop(Drop::EtherTypeUnsupported),
            };
            if let Verdict::Drop(_) = v {
                count_vr(entry, c, vr_counter::DROP);
            }
            v
        }
    }
}

/// Sends an IP packet the control core originated in `vr` (an ICMP answer or error): `buf`
/// starts at the IP header, which is complete (checksum filled in). The packet is looked up
/// in `vr`'s FIB like forwarded traffic and gets the same L2 rewrite and label push, but its
/// TTL is not decremented. Returns `Tx(port)` (frame ready), `Punt(NeighborMiss, ..)` (frame
/// complete except the destination MAC), `Punt(Local, ..)` (addressed to the router itself)
/// or a drop.
pub fn originate<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: VrId,
    buf: &mut B,
    c: &WorkerCounters,
) -> Verdict {
    let Some(fib) = st.vr(vr) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    let (nh_id, total, ttl, et) = match buf.data().first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(p) = Ipv4Packet::new_checked(buf.data()) else {
                return Verdict::Drop(Drop::Ipv4Malformed);
            };
            let nh = fib.lookup4(u32::from(p.dst_addr()));
            (nh, usize::from(p.total_len()), p.ttl(), ET_IPV4)
        }
        Some(6) => {
            let Ok(p) = Ipv6Packet::new_checked(buf.data()) else {
                return Verdict::Drop(Drop::Ipv6Malformed);
            };
            let nh = fib.lookup6(u128::from(p.dst_addr()));
            (
                nh,
                40 + usize::from(p.payload_len()),
                p.hop_limit(),
                ET_IPV6,
            )
        }
        _ => return Verdict::Drop(Drop::EtherTypeUnsupported),
    };
    let Some(nh_id) = nh_id else {
        return Verdict::Drop(Drop::NoRoute);
    };
    let nh = match resolve(st, nh_id, vr, Offsets::ip(None, 0, 0)) {
        Ok(nh) => nh,
        Err(v) => return v,
    };
    buf.trim(total);
    send_ip(st, ports, fib, buf, 0, total, ttl, et, nh, c)
}

/// IPv4 forwarding in VR `vr` of the packet whose IP header starts at `ip` (`l3` is where
/// the network layer started: before the labels of a popped packet).
#[allow(clippy::too_many_arguments)]
#[inline]
fn ipv4<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    vlan: Option<u16>,
    l3: usize,
    ip: usize,
    c: &WorkerCounters,
) -> Verdict {
    ipv4_at(st, ports, vr, buf, Offsets::ip(vlan, l3, ip), c, true)
}

/// IPv4 forwarding; `decap` allows terminating L2TP addressed to the router (off for the
/// packet inside an L2TP session, so tunnels do not nest).
fn ipv4_at<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    c: &WorkerCounters,
    decap: bool,
) -> Verdict {
    let (mut at, mut decap) = (at, decap);
    // One pass per IP header: the outer one and, for L2TP decapsulated here, the inner
    // one, with `decap` off. A loop rather than a call for the inner packet: the call
    // (frame, arguments, a second copy of the routing code) cost ~30 instructions.
    loop {
        let l3 = usize::from(at.ip);
        let h = match ipv4_wire::check_header(&buf.data()[l3..]) {
            Ok(h) => h,
            Err(HeaderError::Malformed) => return Verdict::Drop(Drop::Ipv4Malformed),
            Err(HeaderError::BadChecksum) => return Verdict::Drop(Drop::Ipv4BadChecksum),
        };
        let (dst, total) = (h.dst, usize::from(h.total_len));
        let udp = h.protocol == u8::from(IpProtocol::Udp);
        // UDP to one of the VR's tunnel endpoints (L2TP, ESP in UDP): the answer of the
        // lookup is known to be `LOCAL` (`VrEntry::local4`), whose next hop is always
        // `NextHop::Local` (interned at that id), so the decapsulation path makes one FIB
        // lookup and one next-hop fetch, both for the inner packet.
        if decap && udp && vr.is_local4(dst) {
            if let Some(p) = l2tp_fast::parse(buf.data(), l3, l3 + total) {
                if let Some(inner) = l2tp_fast::decap(st, vr, buf, at, p, c) {
                    (at, decap) = (inner, false);
                    continue;
                }
            }
            return local_v4(st, ports, vr, buf, at, total, c);
        }
        // The verdict is returned from the tail position: a verdict wrapped or copied on
        // its way out costs a store-forwarding stall.
        return ipv4_routed(st, ports, vr, buf, at, total, vr.lookup4(dst), c, decap);
    }
}

/// IPv4 forwarding after the header check (version, length, checksum) and the FIB lookup:
/// `nh_id` is the lookup's answer for the packet's destination, `total` its total length.
/// Shared by [`ipv4_at`] and the burst path ([`vector`]), which looks up a whole burst.
#[allow(clippy::too_many_arguments)]
#[inline]
fn ipv4_routed<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    total: usize,
    nh_id: Option<NextHopId>,
    c: &WorkerCounters,
    decap: bool,
) -> Verdict {
    let l3 = usize::from(at.ip);
    let Some(nh_id) = nh_id else {
        return Verdict::Drop(Drop::NoRoute);
    };
    // One fetch of the next hop serves the local test and the resolution.
    let hop = st.next_hops.get(nh_id);
    if decap && matches!(hop, Some(NextHop::Local)) {
        return local_v4(st, ports, vr, buf, at, total, c);
    }
    let nh = match resolved(hop, vr.id(), at) {
        Ok(nh) => nh,
        Err(v) => return v,
    };
    buf.trim(l3 + total);
    let new_ttl = {
        let mut p = Ipv4Packet::new_unchecked(&mut buf.data_mut()[l3..]);
        match p.decrement_ttl_update_checksum() {
            Ok(t) => t,
            Err(_) => return punt(Punt::TtlExpired, Some(vr.id()), at),
        }
    };
    send_ip(st, ports, vr, buf, l3, total, new_ttl, ET_IPV4, nh, c)
}

/// IPv6 forwarding in VR `vr` of the packet whose IP header starts at `ip`.
#[allow(clippy::too_many_arguments)]
fn ipv6<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    vlan: Option<u16>,
    l3: usize,
    ip: usize,
    c: &WorkerCounters,
) -> Verdict {
    ipv6_at(st, ports, vr, buf, Offsets::ip(vlan, l3, ip), c, true)
}

/// IPv6 forwarding; `decap` allows terminating ESP addressed to the router (off for the
/// packet inside a tunnel or session, so tunnels do not nest).
fn ipv6_at<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    c: &WorkerCounters,
    decap: bool,
) -> Verdict {
    let ip = usize::from(at.ip);
    let (dst, total) = {
        let Ok(p) = Ipv6Packet::new_checked(&buf.data()[ip..]) else {
            return Verdict::Drop(Drop::Ipv6Malformed);
        };
        let dst = u128::from(p.dst_addr());
        if dst >> 120 == 0xff {
            return punt(Punt::Ipv6Multicast, Some(vr.id()), at);
        }
        (dst, 40 + usize::from(p.payload_len()))
    };
    ipv6_routed(st, ports, vr, buf, at, total, vr.lookup6(dst), c, decap)
}

/// IPv6 forwarding after the header check (length, not multicast) and the FIB lookup; the
/// IPv6 counterpart of [`ipv4_routed`].
#[allow(clippy::too_many_arguments)]
#[inline]
fn ipv6_routed<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    total: usize,
    nh_id: Option<NextHopId>,
    c: &WorkerCounters,
    decap: bool,
) -> Verdict {
    let ip = usize::from(at.ip);
    let Some(nh_id) = nh_id else {
        return Verdict::Drop(Drop::NoRoute);
    };
    let hop = st.next_hops.get(nh_id);
    if decap && matches!(hop, Some(NextHop::Local)) {
        if let Some(v) = esp::local_v6(st, ports, vr, buf, at, total, c) {
            return v;
        }
    }
    let nh = match resolved(hop, vr.id(), at) {
        Ok(nh) => nh,
        Err(v) => return v,
    };
    buf.trim(ip + total);
    let new_hl = {
        let mut p = Ipv6Packet::new_unchecked(&mut buf.data_mut()[ip..]);
        match p.decrement_hop_limit() {
            Ok(t) => t,
            Err(_) => return punt(Punt::TtlExpired, Some(vr.id()), at),
        }
    };
    send_ip(st, ports, vr, buf, ip, total, new_hl, ET_IPV6, nh, c)
}

/// Follows a next-hop index of a VR route: local and discard next hops end here.
#[inline]
fn resolve(
    st: &ForwardingState,
    id: NextHopId,
    vr: VrId,
    at: Offsets,
) -> Result<&NextHop, Verdict> {
    resolved(st.next_hops.get(id), vr, at)
}

/// [`resolve`] for a next hop already fetched (`None`: the id named no entry).
#[inline]
fn resolved(hop: Option<&NextHop>, vr: VrId, at: Offsets) -> Result<&NextHop, Verdict> {
    match hop {
        None => Err(Verdict::Drop(Drop::TableInconsistent)),
        Some(NextHop::Local) => Err(punt(Punt::Local, Some(vr), at)),
        Some(NextHop::Drop) => Err(Verdict::Drop(Drop::Blackhole)),
        Some(nh) => Ok(nh),
    }
}

/// Sends a routed IP packet (TTL already decremented) to its next hop.
#[allow(clippy::too_many_arguments)]
#[inline]
fn send_ip<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    l3: usize,
    ip_len: usize,
    new_ttl: u8,
    ethertype: u16,
    nh: &NextHop,
    c: &WorkerCounters,
) -> Verdict {
    // Matched by reference: a session's encapsulation is read in place, not copied.
    let (port, vlan, src, dst, push, resolved) = match nh {
        NextHop::Forward {
            port,
            vlan,
            src_mac,
            dst_mac,
            push,
        } => (*port, *vlan, *src_mac, *dst_mac, push, true),
        NextHop::Unresolved {
            port, vlan, push, ..
        } => (*port, *vlan, [0; 6], [0; 6], push, false),
        NextHop::L2tp(e) => {
            let proto = ppp_protocol_of(ethertype);
            let sessions = &st.session_counters;
            let r = l2tp_out(ports, sessions, buf, l3, ip_len, Some(proto), e, c);
            return sent(r, vr, c, buf.len());
        }
        NextHop::Pppoe(e) => {
            let proto = ppp_protocol_of(ethertype);
            let sessions = &st.session_counters;
            let r = pppoe_out(ports, sessions, buf, l3, ip_len, Some(proto), e, c);
            return sent(r, vr, c, buf.len());
        }
        NextHop::Esp(id) => return esp::out(st, ports, vr, buf, l3, ip_len, ethertype, *id, c),
        NextHop::IpIp(id) => return ipip::out(st, ports, vr, buf, l3, ip_len, ethertype, *id, c),
        NextHop::BySource(id) => {
            return by_source(st, ports, vr, buf, l3, ip_len, ethertype, *id, c);
        }
        NextHop::Replayable(id) => {
            return replayable(st, ports, vr, buf, l3, ip_len, new_ttl, ethertype, *id, c);
        }
        _ => return Verdict::Drop(Drop::TableInconsistent),
    };
    let hop = EthHop {
        port,
        vlan,
        src,
        dst,
        push,
        resolved,
    };
    let v = eth_out(ports, vr.id(), buf, l3, ip_len, new_ttl, ethertype, hop);
    if let Verdict::Tx(_) = v {
        count_vr_tx(vr, c, buf.len());
    }
    v
}

/// Sends the IP packet of `ip_len` bytes at `l3` (routed in `vr`, TTL done) into the tunnel
/// that its source selects in `vr`'s source selection `id` ([`vr::srcsel`]): the ESP SA or
/// IP-in-IP tunnel of the longest entry containing the source, from there on exactly as a
/// route straight into that tunnel (its own checks and drops, its selector included).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn by_source<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    l3: usize,
    ip_len: usize,
    ethertype: u16,
    id: vr::SourceRouteId,
    c: &WorkerCounters,
) -> Verdict {
    // Keyed by the route's VR: another VR's selection of the same id is never found.
    let Some(s) = st.source_routes.get(&vr::SourceRouteKey::new(vr.id(), id)) else {
        return Verdict::Drop(Drop::SourceRouteUnknown);
    };
    // The caller checked the header is there.
    match s.select_header(&buf.data()[l3..], ethertype == ET_IPV4) {
        Some(NextHop::Esp(id)) => esp::out(st, ports, vr, buf, l3, ip_len, ethertype, id, c),
        Some(NextHop::IpIp(id)) => ipip::out(st, ports, vr, buf, l3, ip_len, ethertype, id, c),
        // The writer accepts only those two.
        Some(_) => Verdict::Drop(Drop::TableInconsistent),
        None => Verdict::Drop(Drop::SourceRouteNoMatch),
    }
}

/// Sends the IP packet of `ip_len` bytes at `l3` (routed in `vr`, TTL done) to the link
/// neighbour of `vr`'s replay hop `id` ([`vr::replay`]) and, once it is on its way, keeps a
/// copy of it in the hop's ring.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn replayable<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    l3: usize,
    ip_len: usize,
    new_ttl: u8,
    ethertype: u16,
    id: vr::ReplayId,
    c: &WorkerCounters,
) -> Verdict {
    // Keyed by the route's VR: another VR's hop of the same id is never found.
    let Some(r) = st.replays.get(&vr::ReplayKey::new(vr.id(), id)) else {
        return Verdict::Drop(Drop::ReplayHopUnknown);
    };
    // The writer accepts only a `Forward` hop, so this does not come back here.
    let v = send_ip(
        st, ports, vr, buf, l3, ip_len, new_ttl, ethertype, &r.hop, c,
    );
    if let (Verdict::Tx(_), NextHop::Forward { vlan, push, .. }) = (v, &r.hop) {
        // The frame is the new L2 header and labels, then the IP packet.
        let at = ETH_HLEN + if vlan.is_some() { 4 } else { 0 } + 4 * push.len();
        if let Some(ip) = buf.data().get(at..at + ip_len) {
            r.ring.keep(std::time::Instant::now(), ip);
        }
    }
    v
}

/// An Ethernet next hop as [`eth_out`] needs it: a resolved `Forward`, or an `Unresolved`
/// one (`resolved == false`: the frame is completed except for the destination MAC and
/// punted as a neighbour miss).
#[derive(Clone, Copy)]
struct EthHop<'a> {
    port: PortId,
    vlan: Option<u16>,
    src: [u8; 6],
    dst: [u8; 6],
    push: &'a LabelPush,
    resolved: bool,
}

/// The Ethernet rewrite of a routed IP packet (TTL already decremented) at `l3`: the MTU
/// check, the new L2 header and the pushed labels. Counts nothing (the caller counts the
/// VR's TX: per packet in [`send_ip`], per burst in the burst path).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn eth_out<B: PacketBuf>(
    ports: &[PortInfo],
    vr: VrId,
    buf: &mut B,
    l3: usize,
    ip_len: usize,
    new_ttl: u8,
    ethertype: u16,
    hop: EthHop<'_>,
) -> Verdict {
    let EthHop {
        port,
        vlan,
        src,
        dst,
        push,
        resolved,
    } = hop;
    let Some(out) = ports.get(usize::from(port.0)) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    if ip_len > out.mtu as usize {
        return Verdict::Drop(Drop::MtuExceeded);
    }
    let src = if resolved { src } else { out.mac };
    let entry_ttl = ttl::on_push(new_ttl);
    let hdr = match write_l2(buf, l3, vlan, src, dst, ethertype, push, |_| entry_ttl) {
        Ok(h) => h,
        Err(d) => return Verdict::Drop(d),
    };
    if !resolved {
        // The frame now starts with the new L2 header and labels.
        let l2 = ETH_HLEN + if vlan.is_some() { 4 } else { 0 };
        return punt(Punt::NeighborMiss, Some(vr), Offsets::ip(vlan, l2, hdr));
    }
    Verdict::Tx(port)
}

/// Replaces everything before `l3` with a new Ethernet header (+ VLAN tag) and the labels
/// of `push` (outermost first; bottom-of-stack set on the last one only when `inner` is an
/// IP ethertype). `label_ttl(i)` gives the TTL of pushed label `i`. Returns the length of
/// what was written (where the old `l3` now starts).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_l2<B: PacketBuf>(
    buf: &mut B,
    l3: usize,
    vlan: Option<u16>,
    src: [u8; 6],
    dst: [u8; 6],
    inner: u16,
    push: &LabelPush,
    label_ttl: impl Fn(usize) -> u8,
) -> Result<usize, Drop> {
    let labels = push.as_slice();
    let hdr = ETH_HLEN + if vlan.is_some() { 4 } else { 0 } + 4 * labels.len();
    if buf.headroom() + l3 < hdr {
        return Err(Drop::NoHeadroom);
    }
    let ok = buf.adj(l3);
    debug_assert!(ok);
    let Some(h) = buf.prepend(hdr) else {
        return Err(Drop::NoHeadroom);
    };
    h[0..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&src);
    let mut o = 12;
    if let Some(v) = vlan {
        h[o..o + 2].copy_from_slice(&ET_VLAN.to_be_bytes());
        h[o + 2..o + 4].copy_from_slice(&(v & 0x0fff).to_be_bytes());
        o += 4;
    }
    let et = if labels.is_empty() { inner } else { ET_MPLS };
    h[o..o + 2].copy_from_slice(&et.to_be_bytes());
    o += 2;
    let bottom_is_ip = inner != ET_MPLS;
    for (i, l) in labels.iter().enumerate() {
        let e = LabelEntry {
            label: *l,
            tc: 0,
            bos: bottom_is_ip && i + 1 == labels.len(),
            ttl: label_ttl(i),
        };
        h[o..o + 4].copy_from_slice(&e.to_bytes());
        o += 4;
    }
    Ok(hdr)
}

/// A labelled packet on a trunk; the label stack starts at `l3`.
#[inline]
fn mpls<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    buf: &mut B,
    vlan: Option<u16>,
    stack: usize,
    c: &WorkerCounters,
) -> Verdict {
    mpls_at(st, ports, buf, vlan, stack, stack, c)
}

/// The swap of [`mpls_at`] for a frame on a trunk whose label stack starts at `l3`: when the
/// top label's operation is a swap and its TTL lives, the same bytes and verdict as
/// `mpls_at`; otherwise `None`, with nothing written or counted (the caller runs
/// [`forward`]). Always inlined: the burst path's label lane builds the verdict in place (a
/// verdict returned through memory and copied costs a store-forwarding stall per packet).
#[inline(always)]
fn swap_top<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    buf: &mut B,
    l3: usize,
) -> Option<Verdict> {
    let (top, _) = LabelStack::parse_top(buf.data().get(l3..)?).ok()?;
    let LabelOp::Swap { out, next_hop } = st.labels.lookup(top.label)? else {
        return None;
    };
    let t = ttl::on_swap(top.ttl)?;
    let swapped = LabelEntry {
        label: out,
        ttl: t,
        ..top
    };
    buf.data_mut()[l3..l3 + 4].copy_from_slice(&swapped.to_bytes());
    Some(label_out(st, ports, buf, l3, NextHopId(next_hop), t))
}

/// The label at `l3` of the stack that starts at `stack`.
fn mpls_at<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    buf: &mut B,
    vlan: Option<u16>,
    stack: usize,
    l3: usize,
    c: &WorkerCounters,
) -> Verdict {
    let Ok((top, depth)) = LabelStack::parse_top(&buf.data()[l3..]) else {
        return Verdict::Drop(Drop::MplsMalformed);
    };
    let Some(op) = st.labels.lookup(top.label) else {
        return Verdict::Drop(Drop::LabelUnknown);
    };
    match op {
        LabelOp::Swap { out, next_hop } => {
            let Some(t) = ttl::on_swap(top.ttl) else {
                // Not forwarded (counted as a drop), but handed to the control core unchanged
                // so that it can answer with time exceeded along the LSP (RFC 3032 §2.3.2).
                c.count_drop(Drop::MplsTtlExpired);
                let at = Offsets::ip(vlan, stack, l3 + 4 * depth);
                return punt(Punt::LabelTtlExpired, None, at);
            };
            let swapped = LabelEntry {
                label: out,
                ttl: t,
                ..top
            };
            buf.data_mut()[l3..l3 + 4].copy_from_slice(&swapped.to_bytes());
            label_out(st, ports, buf, l3, NextHopId(next_hop), t)
        }
        LabelOp::PopToVr { vr } => {
            if !top.bos {
                return Verdict::Drop(Drop::MplsPopNotBottom);
            }
            let Some(vr) = st.vr(VrId(vr)) else {
                return Verdict::Drop(Drop::TableInconsistent);
            };
            count_vr_rx(vr, c, buf.len());
            let ip = l3 + 4;
            let v = match buf.data().get(ip).map(|b| b >> 4) {
                Some(4) => {
                    {
                        let Ok(mut p) = Ipv4Packet::new_checked(&mut buf.data_mut()[ip..]) else {
                            return Verdict::Drop(Drop::Ipv4Malformed);
                        };
                        let t = ttl::on_pop(top.ttl, p.ttl());
                        set_ttl_v4(&mut p, t);
                    }
                    ipv4(st, ports, vr, buf, vlan, stack, ip, c)
                }
                Some(6) => {
                    {
                        let Ok(mut p) = Ipv6Packet::new_checked(&mut buf.data_mut()[ip..]) else {
                            return Verdict::Drop(Drop::Ipv6Malformed);
                        };
                        let hl = ttl::on_pop(top.ttl, p.hop_limit());
                        p.set_hop_limit(hl);
                    }
                    ipv6(st, ports, vr, buf, vlan, stack, ip, c)
                }
                _ => Verdict::Drop(Drop::MplsPayloadUnsupported),
            };
            if let Verdict::Drop(_) = v {
                count_vr(vr, c, vr_counter::DROP);
            }
            v
        }
        LabelOp::Pop => {
            // Egress of the transport LSP: drop the top label, carry its TTL down (uniform
            // model, no decrement here: the next label's operation counts this router) and
            // process the next label. Each pass consumes 4 bytes, so this ends.
            if top.bos {
                return Verdict::Drop(Drop::MplsPayloadUnsupported);
            }
            let inner = l3 + 4;
            let d = buf.data_mut();
            let mut next = LabelEntry::parse(&[d[inner], d[inner + 1], d[inner + 2], d[inner + 3]]);
            next.ttl = next.ttl.min(top.ttl);
            d[inner..inner + 4].copy_from_slice(&next.to_bytes());
            mpls_at(st, ports, buf, vlan, stack, inner, c)
        }
        LabelOp::PopAndForward { next_hop } => {
            let inner = l3 + 4;
            if top.bos {
                let d = buf.data_mut();
                match d.get(inner).map(|b| b >> 4) {
                    Some(4) => {
                        let Ok(mut p) = Ipv4Packet::new_checked(&mut d[inner..]) else {
                            return Verdict::Drop(Drop::Ipv4Malformed);
                        };
                        let Some(t) = ttl::on_pop_and_forward(top.ttl, p.ttl()) else {
                            return Verdict::Drop(Drop::MplsTtlExpired);
                        };
                        set_ttl_v4(&mut p, t);
                        ip_out(st, ports, buf, inner, NextHopId(next_hop), ET_IPV4)
                    }
                    Some(6) => {
                        let Ok(mut p) = Ipv6Packet::new_checked(&mut d[inner..]) else {
                            return Verdict::Drop(Drop::Ipv6Malformed);
                        };
                        let Some(t) = ttl::on_pop_and_forward(top.ttl, p.hop_limit()) else {
                            return Verdict::Drop(Drop::MplsTtlExpired);
                        };
                        p.set_hop_limit(t);
                        ip_out(st, ports, buf, inner, NextHopId(next_hop), ET_IPV6)
                    }
                    _ => Verdict::Drop(Drop::MplsPayloadUnsupported),
                }
            } else {
                // The stack parsed, so a next entry exists.
                let d = buf.data_mut();
                let mut next =
                    LabelEntry::parse(&[d[inner], d[inner + 1], d[inner + 2], d[inner + 3]]);
                let Some(t) = ttl::on_pop_and_forward(top.ttl, next.ttl) else {
                    return Verdict::Drop(Drop::MplsTtlExpired);
                };
                next.ttl = t;
                d[inner..inner + 4].copy_from_slice(&next.to_bytes());
                label_out(st, ports, buf, inner, NextHopId(next_hop), t)
            }
        }
    }
}

fn set_ttl_v4<T: AsRef<[u8]> + AsMut<[u8]>>(p: &mut Ipv4Packet<T>, ttl: u8) {
    let old = p.ttl();
    if old != ttl {
        let proto = u8::from(p.protocol());
        let c = wire::checksum::update_u16(
            p.checksum(),
            u16::from_be_bytes([old, proto]),
            u16::from_be_bytes([ttl, proto]),
        );
        p.set_ttl(ttl);
        p.set_checksum(c);
    }
}

/// Sends a labelled packet whose (already processed) stack starts at `l3`; the next hop may
/// push more labels on top (TTL copied from the processed top label).
#[inline(always)]
fn label_out<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    buf: &mut B,
    l3: usize,
    nh: NextHopId,
    top_ttl: u8,
) -> Verdict {
    let out_ttl = ttl::on_push_over_label(top_ttl);
    trunk_out(st, ports, buf, l3, nh, ET_MPLS, |_| out_ttl)
}

/// Sends an unlabelled IP packet (TTL already processed) at `l3` to a next hop.
fn ip_out<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    buf: &mut B,
    l3: usize,
    nh: NextHopId,
    et: u16,
) -> Verdict {
    let ip_ttl = buf.data()[l3 + if et == ET_IPV4 { 8 } else { 7 }];
    trunk_out(st, ports, buf, l3, nh, et, |_| ttl::on_push(ip_ttl))
}

#[inline(always)]
fn trunk_out<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    buf: &mut B,
    l3: usize,
    nh: NextHopId,
    inner: u16,
    label_ttl: impl Fn(usize) -> u8,
) -> Verdict {
    match st.next_hops.get(nh) {
        Some(NextHop::Forward {
            port,
            vlan,
            src_mac,
            dst_mac,
            push,
        }) => {
            let Some(out) = ports.get(usize::from(port.0)) else {
                return Verdict::Drop(Drop::TableInconsistent);
            };
            if buf.len() - l3 > out.mtu as usize + 4 * labelswitch::MAX_STACK_DEPTH {
                return Verdict::Drop(Drop::MtuExceeded);
            }
            match write_l2(buf, l3, *vlan, *src_mac, *dst_mac, inner, push, label_ttl) {
                Ok(_) => Verdict::Tx(*port),
                Err(d) => Verdict::Drop(d),
            }
        }
        // The frame is as it arrived (labels already processed from `l3` on).
        Some(NextHop::Unresolved { .. }) => punt(Punt::NeighborMiss, None, at_label(l3, inner)),
        Some(NextHop::Drop) => Verdict::Drop(Drop::Blackhole),
        Some(NextHop::Local) => punt(Punt::Local, None, at_label(l3, inner)),
        // Label operations never point into sessions or ESP or IP-in-IP tunnels (the writer refuses it).
        Some(
            NextHop::L2tp(_)
            | NextHop::Pppoe(_)
            | NextHop::Esp(_)
            | NextHop::IpIp(_)
            | NextHop::BySource(_)
            | NextHop::Replayable(_),
        )
        | None => Verdict::Drop(Drop::TableInconsistent),
    }
}

/// Offsets of a label-switched packet whose (processed) stack or IP header is at `l3`.
fn at_label(l3: usize, inner: u16) -> Offsets {
    if inner == ET_MPLS {
        Offsets::l3(None, l3)
    } else {
        Offsets::ip(None, l3, l3)
    }
}

/// An IPv4 packet addressed to one of `vr`'s own addresses: L2TP (UDP 1701) is terminated
/// here — data messages of a session bound to this VR are decapsulated and routed, control
/// messages go to the VR's L2TP engine — everything else is punted as `local`.
///
/// Isolation: a session is accepted only in its tunnel's VR. A session of another VR's
/// tunnel is dropped as `l2tp_wrong_vr`, so a customer cannot inject into another VR's
/// sessions by guessing ids; an unknown one as `l2tp_no_session`. This is the one place
/// the rule is decided: the fast path (`l2tp_fast::decap`) accepts only sessions whose
/// tunnel and subscriber are both in `vr` and leaves every other packet to this function.
fn local_v4<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    total: usize,
    c: &WorkerCounters,
) -> Verdict {
    let l3 = usize::from(at.ip);
    let d = buf.data();
    let end = (l3 + total).min(d.len());
    let p = Ipv4Packet::new_unchecked(&d[l3..end]);
    let local = |l4: usize| {
        punt(
            Punt::Local,
            Some(vr.id()),
            Offsets {
                l4: l4 as u16,
                ..at
            },
        )
    };
    let udp_off = l3 + usize::from(p.header_len());
    if p.is_fragment() {
        return punt(Punt::Local, Some(vr.id()), at);
    }
    if p.protocol() == IpProtocol::Esp {
        return esp::input(st, ports, vr, buf, at, udp_off, end, false, c);
    }
    if ipip::is_ipip(p.protocol()) {
        return ipip::input(st, ports, vr, buf, at, udp_off, end, c);
    }
    if p.protocol() != IpProtocol::Udp {
        return local(udp_off);
    }
    let Ok(u) = UdpPacket::new_checked(&d[udp_off..end]) else {
        return local(udp_off);
    };
    if u.dst_port() == esp_wire::UDP_PORT {
        let msg_end = (udp_off + usize::from(u.len())).min(end);
        return esp::input_udp(st, ports, vr, buf, at, udp_off, msg_end, c);
    }
    if u.dst_port() != l2tp_wire::UDP_PORT {
        return local(udp_off);
    }
    let msg = udp_off + 8;
    let msg_end = (udp_off + usize::from(u.len())).min(end);
    let mut at = Offsets {
        l4: udp_off as u16,
        app: msg as u16,
        ..at
    };
    let (key, ppp_off) = match l2tp_header(&d[msg..msg_end]) {
        L2tpHeader::Malformed => return Verdict::Drop(Drop::L2tpMalformed),
        L2tpHeader::Control => return punt(Punt::L2tpControl, Some(vr.id()), at),
        L2tpHeader::Data {
            tunnel,
            session,
            ppp,
        } => (SessionKey::L2tp { tunnel, session }, msg + ppp),
    };
    let s = match st.session(&key) {
        Some(s) if s.tunnel_vr == vr.id() => s,
        Some(_) => return Verdict::Drop(Drop::L2tpWrongVr),
        None => return Verdict::Drop(Drop::L2tpNoSession),
    };
    let (counters, relay, routed_in) = (s.counters, s.relay, s.vr);
    let Ok((proto, plen)) = ppp::parse(&d[ppp_off..msg_end]) else {
        return Verdict::Drop(Drop::L2tpMalformed);
    };
    if let Some(relay) = relay {
        let start = ppp_off + acf_len(&d[ppp_off..msg_end]);
        buf.trim(msg_end);
        return relay_ppp(st, ports, vr, buf, start, counters, relay, c);
    }
    if proto == ppp::protocol::IPV4 || proto == ppp::protocol::IPV6 {
        let bytes = (msg_end - ppp_off - plen) as u64;
        st.session_counters
            .bump(c.worker, counters, session_counter::RX_PACKETS, bytes);
    }
    at.inner = ppp_off as u16;
    let inner = ppp_off + plen;
    // A session moved to another VR (issue 11): its tunnel stays in `vr`, its subscriber's
    // packets are routed in the session's VR, which counts them too (like PPPoE sessions
    // of another VR than their access interface's).
    let moved = routed_in != vr.id();
    let route_vr = if moved && (proto == ppp::protocol::IPV4 || proto == ppp::protocol::IPV6) {
        match st.vr(routed_in) {
            Some(r) => r,
            None => return Verdict::Drop(Drop::TableInconsistent),
        }
    } else {
        vr
    };
    let v = match proto {
        ppp::protocol::IPV4 => {
            buf.trim(msg_end);
            let at = Offsets {
                ip: inner as u16,
                l4: Offsets::NONE,
                app: Offsets::NONE,
                inner: Offsets::NONE,
                ..at
            };
            if moved {
                count_vr_rx(route_vr, c, buf.len());
            }
            ipv4_at(st, ports, route_vr, buf, at, c, false)
        }
        ppp::protocol::IPV6 => {
            buf.trim(msg_end);
            let at = Offsets::ip(at.vlan, usize::from(at.l3), inner);
            if moved {
                count_vr_rx(route_vr, c, buf.len());
            }
            ipv6_at(st, ports, route_vr, buf, at, c, false)
        }
        // PPP control goes to the subscriber's PPP, which runs with the tunnel.
        _ => return punt(Punt::PppControl, Some(vr.id()), at),
    };
    if moved && matches!(v, Verdict::Drop(_)) {
        count_vr(route_vr, c, vr_counter::DROP);
    }
    v
}

/// The L2TP header at the start of a UDP payload, as the data path needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L2tpHeader {
    /// A data message of session (`tunnel`, `session`) whose PPP frame starts `ppp` bytes
    /// into the message (after the optional length, sequence and offset fields and the
    /// offset padding).
    Data {
        tunnel: u16,
        session: u16,
        ppp: usize,
    },
    /// A well-formed control message.
    Control,
    /// Anything [`l2tp_wire::L2tpPacket::new_checked`] refuses.
    Malformed,
}

/// Reads the L2TP header at the start of `m`: the same checks as
/// [`l2tp_wire::L2tpPacket::new_checked`] (version 2; a control message with L=1, S=1, O=0; every
/// optional field, the offset padding and the Length field within `m`; Length not shorter
/// than the header) and the same answers (ids, header length), in straight-line code with
/// one bounds check for the fixed fields: the decapsulation path runs it for every packet.
/// `tests::l2tp_header_matches_wire` holds it to the wire parser on arbitrary bytes.
#[inline(always)]
fn l2tp_header(m: &[u8]) -> L2tpHeader {
    use l2tp_wire::flags::{L, O, S, T, VER};
    let Some(&[f0, f1]) = m.get(..2) else {
        return L2tpHeader::Malformed;
    };
    let f = u16::from_be_bytes([f0, f1]);
    let control = f & T != 0;
    if f & VER != 2 || (control && f & (L | S | O) != L | S) {
        return L2tpHeader::Malformed;
    }
    let ids = if f & L != 0 { 4 } else { 2 };
    let off_at = ids + 4 + if f & S != 0 { 4 } else { 0 };
    let fixed = off_at + if f & O != 0 { 2 } else { 0 };
    let Some(h) = m.get(..fixed) else {
        return L2tpHeader::Malformed;
    };
    let header = if f & O != 0 {
        fixed + usize::from(be16(h, off_at))
    } else {
        fixed
    };
    let bounded = if f & L != 0 {
        let length = usize::from(be16(h, 2));
        length <= m.len() && length >= header
    } else {
        header <= m.len()
    };
    if !bounded {
        return L2tpHeader::Malformed;
    }
    if control {
        return L2tpHeader::Control;
    }
    L2tpHeader::Data {
        tunnel: be16(h, ids),
        session: be16(h, ids + 2),
        ppp: header,
    }
}

/// The PPP protocol carrying an IP packet of `ethertype`.
#[inline]
fn ppp_protocol_of(ethertype: u16) -> u16 {
    if ethertype == ET_IPV6 {
        ppp::protocol::IPV6
    } else {
        ppp::protocol::IPV4
    }
}

/// Length of the HDLC address and control bytes (`ff 03`) in front of a PPP frame: 2 when
/// present, 0 when compressed away (ACFC) or, in PPPoE, never sent.
#[inline]
fn acf_len(frame: &[u8]) -> usize {
    if frame.starts_with(&[0xff, 0x03]) {
        2
    } else {
        0
    }
}

/// The verdict of a session encapsulation (`l2tp_out`, `pppoe_out`) of a packet routed in
/// `vr`: counted as the VR's TX when sent.
#[inline]
fn sent(r: Result<PortId, Drop>, vr: &VrEntry, c: &WorkerCounters, bytes: usize) -> Verdict {
    match r {
        Ok(port) => {
            count_vr_tx(vr, c, bytes);
            Verdict::Tx(port)
        }
        Err(d) => Verdict::Drop(d),
    }
}

/// A PPPoE session frame (RFC 2516 §7) on an access interface of VR `access`; the PPPoE
/// header is at `l3`. See the module docs for what happens to it.
#[allow(clippy::too_many_arguments)]
fn pppoe<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    access: &VrEntry,
    in_port: PortId,
    buf: &mut B,
    vlan: Option<u16>,
    l3: usize,
    c: &WorkerCounters,
) -> Verdict {
    let d = buf.data();
    // `new_checked` validates VER/TYPE 1/1 and that LENGTH fits the frame.
    let (session, end) = match PppoeHeader::new_checked(&d[l3..]) {
        Ok(h) if h.code() == pppoe_wire::Code::SessionData => (
            h.session_id(),
            l3 + pppoe_wire::HEADER_LEN + usize::from(h.payload_len()),
        ),
        _ => return Verdict::Drop(Drop::PppoeMalformed),
    };
    let key = SessionKey::Pppoe {
        port: in_port,
        session,
    };
    let Some(b) = st.session(&key) else {
        return Verdict::Drop(Drop::PppoeNoSession);
    };
    if d[6..12] != b.peer_mac || vlan.unwrap_or(0) != b.peer_vlan {
        return Verdict::Drop(Drop::PppoeWrongPeer);
    }
    let ppp_off = l3 + pppoe_wire::HEADER_LEN;
    let Ok((proto, plen)) = ppp::parse(&d[ppp_off..end]) else {
        return Verdict::Drop(Drop::PppoeMalformed);
    };
    let start = ppp_off + acf_len(&d[ppp_off..end]);
    // Ethernet padding of short frames goes; LENGTH says where the PPP frame ends.
    buf.trim(end);
    if let Some(relay) = b.relay {
        return relay_ppp(st, ports, access, buf, start, b.counters, relay, c);
    }
    let Some(vr) = st.vr(b.vr) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    let at = Offsets {
        inner: ppp_off as u16,
        ..Offsets::l3(vlan, l3)
    };
    let ip = ppp_off + plen;
    match proto {
        ppp::protocol::IPV4 | ppp::protocol::IPV6 => {
            st.session_counters.bump(
                c.worker,
                b.counters,
                session_counter::RX_PACKETS,
                (end - ip) as u64,
            );
            let other = vr.id() != access.id();
            if other {
                count_vr_rx(vr, c, buf.len());
            }
            let v = if proto == ppp::protocol::IPV4 {
                ipv4_at(st, ports, vr, buf, Offsets::ip(vlan, l3, ip), c, false)
            } else {
                ipv6_at(st, ports, vr, buf, Offsets::ip(vlan, l3, ip), c, false)
            };
            if other && matches!(v, Verdict::Drop(_)) {
                count_vr(vr, c, vr_counter::DROP);
            }
            v
        }
        _ => punt(Punt::PppoeControl, Some(vr.id()), at),
    }
}

/// Relays the PPP frame of a session — from its protocol field at `start` to the end of
/// `buf` — through the session's relay next hop `relay`, counting the ingress session
/// (slot `rx_slot`), the egress session and `vr` (the VR the frame arrived in).
#[allow(clippy::too_many_arguments)]
fn relay_ppp<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    start: usize,
    rx_slot: u32,
    relay: NextHopId,
    c: &WorkerCounters,
) -> Verdict {
    let len = buf.len() - start;
    let sessions = &st.session_counters;
    sessions.bump(c.worker, rx_slot, session_counter::RX_PACKETS, len as u64);
    let r = match st.next_hops.get(relay) {
        Some(NextHop::L2tp(e)) => l2tp_out(ports, sessions, buf, start, len, None, e, c),
        Some(NextHop::Pppoe(e)) => pppoe_out(ports, sessions, buf, start, len, None, e, c),
        // The writer relays only through session next hops.
        _ => Err(Drop::TableInconsistent),
    };
    sent(r, vr, c, buf.len())
}

/// Writes Ethernet (+VLAN) with source MAC `src`, destination `dst` and EtherType `et` into
/// `h`; returns where the next header starts.
#[inline]
fn write_eth(h: &mut [u8], dst: &[u8; 6], src: &[u8; 6], vlan: Option<u16>, et: u16) -> usize {
    h[0..6].copy_from_slice(dst);
    h[6..12].copy_from_slice(src);
    let mut o = 12;
    if let Some(v) = vlan {
        h[o..o + 2].copy_from_slice(&ET_VLAN.to_be_bytes());
        h[o + 2..o + 4].copy_from_slice(&(v & 0x0fff).to_be_bytes());
        o += 4;
    }
    h[o..o + 2].copy_from_slice(&et.to_be_bytes());
    o + 2
}

/// Replaces everything before `start` with `hdr` fresh bytes (the caller writes them all)
/// and drops whatever follows `start + len`.
#[inline]
fn reframe<B: PacketBuf>(
    buf: &mut B,
    start: usize,
    len: usize,
    hdr: usize,
) -> Result<&mut [u8], Drop> {
    if buf.headroom() + start < hdr {
        return Err(Drop::NoHeadroom);
    }
    buf.trim(start + len);
    let ok = buf.adj(start);
    debug_assert!(ok);
    buf.prepend(hdr).ok_or(Drop::NoHeadroom)
}

/// Writes the 20-byte outer IPv4 header of a tunnel (L2TP, ESP) into `h`: no options, DF
/// set — an atomic datagram, whose ID may be the same for every packet (RFC 6864 §4.1) —
/// TTL 64, TOS `tos`, total length `total`, and the header checksum.
#[inline]
pub(super) fn write_tunnel_ipv4(
    h: &mut [u8],
    tos: u8,
    proto: IpProtocol,
    total: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let (total, proto) = (total as u16, u8::from(proto));
    let (s, d) = (u32::from(src), u32::from(dst));
    // The header's one's-complement sum from its fields (only the length, the protocol and
    // the addresses vary), instead of a pass over the 20 bytes written.
    let sum = u64::from(u16::from_be_bytes([0x45, tos]))
        + u64::from(total)
        + 0x4000
        + u64::from(u16::from_be_bytes([64, proto]))
        + u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff);
    let sum = !wire::checksum::fold(sum);
    let [t0, t1] = total.to_be_bytes();
    let [c0, c1] = sum.to_be_bytes();
    let [s0, s1, s2, s3] = s.to_be_bytes();
    let [d0, d1, d2, d3] = d.to_be_bytes();
    h.copy_from_slice(&[
        0x45, tos, t0, t1, 0, 0, 0x40, 0, 64, proto, c0, c1, s0, s1, s2, s3, d0, d1, d2, d3,
    ]);
}

/// Writes an 8-byte UDP header of `len` bytes (header included) with a zero checksum.
#[inline]
pub(super) fn write_udp_no_checksum(h: &mut [u8], src_port: u16, dst_port: u16, len: usize) {
    h[0..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    h[6..8].copy_from_slice(&[0, 0]);
}

/// Sends `len` bytes at `start` into an L2TP session: Ethernet (+VLAN) / IPv4 / UDP / L2TP
/// data header with the peer's ids / `ff 03` / `proto` (a routed IP packet) or nothing (a
/// relayed PPP frame, which starts with its protocol field), all written fresh. Counts the
/// session's TX (`len` bytes: the IP packet, or the PPP frame). Returns the port.
#[allow(clippy::too_many_arguments)]
fn l2tp_out<B: PacketBuf>(
    ports: &[PortInfo],
    sessions: &SessionCounters,
    buf: &mut B,
    start: usize,
    len: usize,
    proto: Option<u16>,
    e: &L2tpEncap,
    c: &WorkerCounters,
) -> Result<PortId, Drop> {
    let Some(out) = ports.get(usize::from(e.port.0)) else {
        return Err(Drop::TableInconsistent);
    };
    if e.dst_mac == [0; 6] {
        return Err(Drop::L2tpNoNeighbor);
    }
    let ppp_hdr = 2 + if proto.is_some() { 2 } else { 0 };
    let outer = 20 + 8 + l2tp_wire::MIN_HEADER_LEN + ppp_hdr;
    let outer_len = outer + len;
    if outer_len > out.mtu as usize || outer_len > usize::from(u16::MAX) {
        return Err(Drop::MtuExceeded);
    }
    let l2 = ETH_HLEN + if e.vlan.is_some() { 4 } else { 0 };
    let h = reframe(buf, start, len, l2 + outer)?;
    let mut o = write_eth(h, &e.dst_mac, &e.src_mac, e.vlan, ET_IPV4);
    let ip = &mut h[o..o + 20];
    write_tunnel_ipv4(ip, 0, IpProtocol::Udp, outer_len, e.src_ip, e.dst_ip);
    o += 20;
    // The UDP checksum is optional over IPv4 (RFC 768; RFC 2661 §8.1 leaves it to the peer).
    write_udp_no_checksum(&mut h[o..o + 8], e.src_port, e.dst_port, outer_len - 20);
    o += 8;
    l2tp_wire::emit_data_header(&mut h[o..], e.peer_tunnel, e.peer_session);
    o += l2tp_wire::MIN_HEADER_LEN;
    match proto {
        Some(p) => ppp::emit(&mut h[o..], p),
        None => h[o..o + 2].copy_from_slice(&[0xff, 0x03]),
    }
    sessions.bump(
        c.worker,
        e.counters,
        session_counter::TX_PACKETS,
        len as u64,
    );
    Ok(e.port)
}

/// Sends `len` bytes at `start` into a PPPoE session: Ethernet (+VLAN) to the subscriber /
/// PPPoE (VER/TYPE 1/1, CODE 0, session id, LENGTH) / `proto` (a routed IP packet) or
/// nothing (a relayed PPP frame, which starts with its protocol field). The Ethernet
/// payload must fit the port's MTU (`mtu_exceeded`). Counts the session's TX (`len`
/// bytes). Returns the port.
#[allow(clippy::too_many_arguments)]
fn pppoe_out<B: PacketBuf>(
    ports: &[PortInfo],
    sessions: &SessionCounters,
    buf: &mut B,
    start: usize,
    len: usize,
    proto: Option<u16>,
    e: &PppoeEncap,
    c: &WorkerCounters,
) -> Result<PortId, Drop> {
    let Some(out) = ports.get(usize::from(e.port.0)) else {
        return Err(Drop::TableInconsistent);
    };
    let proto_len = if proto.is_some() { 2 } else { 0 };
    let payload = proto_len + len;
    if pppoe_wire::HEADER_LEN + payload > out.mtu as usize || payload > usize::from(u16::MAX) {
        return Err(Drop::MtuExceeded);
    }
    let l2 = ETH_HLEN + if e.vlan.is_some() { 4 } else { 0 };
    let h = reframe(buf, start, len, l2 + pppoe_wire::HEADER_LEN + proto_len)?;
    let o = write_eth(h, &e.dst_mac, &e.src_mac, e.vlan, ET_PPPOE_SESSION);
    h[o] = 0x11;
    h[o + 1] = pppoe_wire::Code::SessionData.into();
    h[o + 2..o + 4].copy_from_slice(&e.session.to_be_bytes());
    h[o + 4..o + 6].copy_from_slice(&(payload as u16).to_be_bytes());
    if let Some(p) = proto {
        h[o + 6..o + 8].copy_from_slice(&p.to_be_bytes());
    }
    sessions.bump(
        c.worker,
        e.counters,
        session_counter::TX_PACKETS,
        len as u64,
    );
    Ok(e.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use wire::l2tp::L2tpPacket;

    /// What the wire parser says about `m`, in the data path's terms.
    fn wire_view(m: &[u8]) -> L2tpHeader {
        match L2tpPacket::new_checked(m) {
            Err(_) => L2tpHeader::Malformed,
            Ok(h) if h.is_control() => L2tpHeader::Control,
            Ok(h) => L2tpHeader::Data {
                tunnel: h.tunnel_id(),
                session: h.session_id(),
                ppp: h.header_len(),
            },
        }
    }

    proptest! {
        /// The outer header written from its fields equals one summed over its bytes.
        #[test]
        fn tunnel_ipv4_checksum(tos: u8, udp: bool, total in 20usize..=65535, src: u32, dst: u32) {
            let proto = if udp { IpProtocol::Udp } else { IpProtocol::Esp };
            let mut h = [0u8; 20];
            write_tunnel_ipv4(&mut h, tos, proto, total, Ipv4Addr::from(src), Ipv4Addr::from(dst));
            prop_assert_eq!(wire::checksum::data(&h), 0xffff);
            let p = Ipv4Packet::new_unchecked(&h[..]);
            prop_assert_eq!((p.tos(), usize::from(p.total_len()), p.ttl()), (tos, total, 64));
            prop_assert_eq!((p.protocol(), u32::from(p.src_addr()), u32::from(p.dst_addr())), (proto, src, dst));
            prop_assert_eq!((&h[4..8], h[0]), (&[0, 0, 0x40, 0][..], 0x45));
        }
    }

    #[test]
    fn l2tp_header_examples() {
        // Minimal data header: tunnel 7, session 9.
        let m = [0x00, 0x02, 0, 7, 0, 9, 0xff, 0x03];
        let want = L2tpHeader::Data {
            tunnel: 7,
            session: 9,
            ppp: 6,
        };
        assert_eq!(l2tp_header(&m), want);
        // L, S and O set, offset size 2, Length 20.
        let m = [
            0x4a, 0x02, 0, 20, 0, 7, 0, 9, 0, 1, 0, 2, 0, 2, 0xee, 0xee, 0xff, 0x03, 0, 0x21,
        ];
        let want = L2tpHeader::Data {
            tunnel: 7,
            session: 9,
            ppp: 16,
        };
        assert_eq!(l2tp_header(&m), want);
        assert_eq!(l2tp_header(&m[..15]), L2tpHeader::Malformed, "padding cut");
        // Control: L, S set; O must be clear.
        let c = [0xc8, 0x02, 0, 12, 0, 7, 0, 0, 0, 0, 0, 0];
        assert_eq!(l2tp_header(&c), L2tpHeader::Control);
        let mut bad = c;
        bad[0] |= 0x02;
        assert_eq!(l2tp_header(&bad), L2tpHeader::Malformed);
        // Version 3, one byte, nothing.
        assert_eq!(
            l2tp_header(&[0x00, 0x03, 0, 7, 0, 9]),
            L2tpHeader::Malformed
        );
        assert_eq!(l2tp_header(&[0x00]), L2tpHeader::Malformed);
        assert_eq!(l2tp_header(&[]), L2tpHeader::Malformed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The fast header reader agrees with `wire::l2tp` on arbitrary bytes, with the
        /// flag word drawn mostly from the combinations that matter (version 2, every
        /// T/L/S/O mix) and short lengths, offsets and Length fields common.
        #[test]
        fn l2tp_header_matches_wire(
            flags in prop_oneof![
                3 => (0u16..16).prop_map(|b| {
                    2 | if b & 1 != 0 { 0x8000 } else { 0 } | if b & 2 != 0 { 0x4000 } else { 0 }
                        | if b & 4 != 0 { 0x0800 } else { 0 } | if b & 8 != 0 { 0x0200 } else { 0 }
                }),
                1 => any::<u16>(),
            ],
            length in prop_oneof![0u16..40, any::<u16>()],
            offset in prop_oneof![0u16..16, any::<u16>()],
            rest in prop::collection::vec(any::<u8>(), 0..40),
            cut in 0usize..48,
        ) {
            let mut m = flags.to_be_bytes().to_vec();
            m.extend(rest);
            // Put the Length and Offset Size where the flags say they are, when they fit.
            if flags & 0x4000 != 0 && m.len() >= 4 {
                m[2..4].copy_from_slice(&length.to_be_bytes());
            }
            let ids = if flags & 0x4000 != 0 { 4 } else { 2 };
            let off_at = ids + 4 + if flags & 0x0800 != 0 { 4 } else { 0 };
            if flags & 0x0200 != 0 && m.len() >= off_at + 2 {
                m[off_at..off_at + 2].copy_from_slice(&offset.to_be_bytes());
            }
            m.truncate(cut.min(m.len()));
            prop_assert_eq!(l2tp_header(&m), wire_view(&m));
        }
    }
}
