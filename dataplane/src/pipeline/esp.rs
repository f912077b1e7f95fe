//! ESP tunnel mode on the workers (RFC 4303 §3.1.2; UDP encapsulation RFC 3948).
//!
//! **Inbound.** ESP (IP protocol 50, or UDP to port 4500 whose payload is not a
//! NAT-keepalive or IKE) addressed to one of a VR's own addresses: the VR and the SPI name
//! the inbound SA (`esp_unknown_spi`: the VR has no SA of that SPI, whatever other VRs
//! hold), which must use the encapsulation it came in (`esp_wrong_encap`; ESP in UDP
//! over IPv6 must also carry a valid UDP checksum, `esp_udp_checksum`); the SA checks the replay window, verifies and decrypts in place and
//! checks the trailer; the inner IPv4/IPv6 packet is then routed in the SA's VR — and only
//! there — with no further decapsulation; a payload that is not an IPv4/IPv6 packet of the
//! family the trailer names is `esp_inner_unsupported`. NAT-keepalives are counted and dropped
//! (`esp_nat_keepalive`), IKE is punted as `local`.
//!
//! **Outbound.** A route through [`NextHop::Esp`] in VR `v` names an outbound SA of `v`
//! (`esp_no_sa`: `v` has none of that id); an SA with a source selector takes only packets
//! from the sources it names (`esp_source_not_allowed`). The outer destination must have a
//! route in the SA's
//! outer VR (`esp_outer_unroutable`) and the outer packet must fit that port's MTU
//! (`mtu_exceeded`), both checked before anything is sealed, so a packet that cannot leave
//! uses no sequence number and no lifetime. The inner packet (TTL already decremented) is
//! marked with the SA's DSCP when it has one, padded, encrypted in place between the new
//! ESP header and trailer, and given an outer IPv4/IPv6 header (and UDP) whose DSCP and ECN
//! are copied from the inner header (seed 003 S204), IPv4 with DF set; the outer packet is
//! then sent like any packet the router originates in the outer VR (labels pushed there
//! too), and is counted as TX of both VRs.

use super::{
    count_vr, count_vr_rx, count_vr_tx, ipv4_at, ipv6_at, punt, reframe, send_ip, PortInfo, Verdict,
};
use super::{write_tunnel_ipv4, write_udp_no_checksum};
use super::{ET_IPV4, ET_IPV6};
use crate::buffer::PacketBuf;
use crate::counters::{Drop, Punt, WorkerCounters};
use crate::punt::Offsets;
use esp::{OpenError, Sa, SealError};
use std::net::IpAddr;
use vr::{vr_counter, EspSaId, ForwardingState, InboundKey, NextHop, OutboundKey, VrEntry};
use wire::esp::{self as esp_wire, Udp4500};
use wire::IpProtocol;

const IPV6_HLEN: usize = 40;

#[inline]
fn open_drop(e: OpenError) -> Drop {
    match e {
        OpenError::Truncated => Drop::EspTruncated,
        OpenError::BadIcv => Drop::EspBadIcv,
        OpenError::Replay(_) => Drop::EspReplay,
        OpenError::BadPadding => Drop::EspBadPadding,
        OpenError::Expired => Drop::EspSaExpired,
    }
}

/// A UDP datagram to port 4500 addressed to `vr`: the UDP header at `udp`, the datagram
/// ends at `end`.
#[allow(clippy::too_many_arguments)]
pub(super) fn input_udp<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    udp: usize,
    end: usize,
    c: &WorkerCounters,
) -> Verdict {
    let payload = udp + 8;
    match esp_wire::classify_udp_4500(&buf.data()[payload.min(end)..end]) {
        Udp4500::Esp => input(st, ports, vr, buf, at, payload, end, true, c),
        Udp4500::NatKeepalive => Verdict::Drop(Drop::EspNatKeepalive),
        Udp4500::Ike => punt(
            Punt::Local,
            Some(vr.id()),
            Offsets {
                l4: udp as u16,
                app: payload as u16,
                ..at
            },
        ),
        Udp4500::Malformed => Verdict::Drop(Drop::EspTruncated),
    }
}

/// An ESP packet at `esp..end` addressed to `vr` (the outer headers before it).
#[allow(clippy::too_many_arguments)]
pub(super) fn input<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    esp: usize,
    end: usize,
    udp: bool,
    c: &WorkerCounters,
) -> Verdict {
    let d = buf.data();
    // Too short for header, IV, trailer and ICV: nothing else about it matters.
    if end < esp + ::esp::sa::MIN_PACKET || end > d.len() {
        return Verdict::Drop(Drop::EspTruncated);
    }
    let spi = u32::from_be_bytes([d[esp], d[esp + 1], d[esp + 2], d[esp + 3]]);
    // Keyed by the VR it arrived in: another VR's SA of the same SPI is never found
    // (RFC 4301 §4.1's SPI + destination lookup, the VR standing for the destination).
    let Some(t) = st.esp.inbound.get(&InboundKey::new(vr.id(), spi)) else {
        if vr.esp_hold {
            return punt(
                Punt::EspUnknownSpi,
                Some(vr.id()),
                Offsets {
                    app: esp as u16,
                    ..at
                },
            );
        }
        return Verdict::Drop(Drop::EspUnknownSpi);
    };
    // An SA is either plain ESP or ESP in UDP (RFC 3948): the other form is not its
    // traffic (Linux's xfrm refuses it the same way).
    if t.udp.is_some() != udp {
        return Verdict::Drop(Drop::EspWrongEncap);
    }
    let o = match t.sa.open(c.worker, &mut buf.data_mut()[esp..end]) {
        Ok(o) => o,
        Err(e) => return Verdict::Drop(open_drop(e)),
    };
    let Some(inner) = st.vr(t.vr) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    let other = inner.id() != vr.id();
    if other {
        count_vr_rx(inner, c, buf.len());
    }
    buf.trim(esp + o.payload.end);
    let ip = esp + o.payload.start;
    let at = Offsets::ip(at.vlan, usize::from(at.l3), ip);
    let v = match o.next_header {
        4 => ipv4_at(st, ports, inner, buf, at, c, false),
        41 => ipv6_at(st, ports, inner, buf, at, c, false),
        _ => Verdict::Drop(Drop::EspInnerUnsupported),
    };
    // The only malformed-header drops of the inner forwarding are about the inner header
    // (an empty or truncated payload, or a packet of the other family than the trailer
    // said): they are the tunnel's, as `esp_inner_unsupported` documents.
    let v = match v {
        Verdict::Drop(Drop::Ipv4Malformed | Drop::Ipv6Malformed) => {
            Verdict::Drop(Drop::EspInnerUnsupported)
        }
        v => v,
    };
    if other && matches!(v, Verdict::Drop(_)) {
        count_vr(inner, c, vr_counter::DROP);
    }
    v
}

/// An IPv6 packet of `total` bytes at `at.ip` that `vr` routes to itself: ESP (directly
/// after the fixed header, or in UDP to 4500) is handled here; `None` for anything else
/// (punted as local by the caller).
pub(super) fn local_v6<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    total: usize,
    c: &WorkerCounters,
) -> Option<Verdict> {
    let ip = usize::from(at.ip);
    let d = buf.data();
    let end = (ip + total).min(d.len());
    let l4 = ip + IPV6_HLEN;
    match IpProtocol::from(d[ip + 6]) {
        IpProtocol::Esp => Some(input(st, ports, vr, buf, at, l4, end, false, c)),
        IpProtocol::Udp if end >= l4 + 8 => {
            let dport = u16::from_be_bytes([d[l4 + 2], d[l4 + 3]]);
            if dport != esp_wire::UDP_PORT {
                return None;
            }
            let ulen = usize::from(u16::from_be_bytes([d[l4 + 4], d[l4 + 5]]));
            if ulen < 8 || l4 + ulen > end {
                return Some(Verdict::Drop(Drop::EspTruncated));
            }
            // UDP over IPv6 carries a checksum (RFC 8200 §8.1; RFC 6935's zero-checksum
            // exception is for tunnels that ask for it, and ESP-in-UDP does not).
            let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
            src.copy_from_slice(&d[ip + 8..ip + 24]);
            dst.copy_from_slice(&d[ip + 24..ip + 40]);
            let stored = u16::from_be_bytes([d[l4 + 6], d[l4 + 7]]);
            let sum = wire::checksum::combine(&[
                wire::checksum::pseudo_header_v6(
                    &src.into(),
                    &dst.into(),
                    IpProtocol::Udp,
                    ulen as u32,
                ),
                wire::checksum::data(&d[l4..l4 + ulen]),
            ]);
            if stored == 0 || sum != 0xffff {
                return Some(Verdict::Drop(Drop::EspUdpChecksum));
            }
            Some(input_udp(st, ports, vr, buf, at, l4, l4 + ulen, c))
        }
        _ => None,
    }
}

/// The traffic class byte of the IP packet at `l3` (TOS of IPv4), after marking it with
/// `dscp` when given.
#[inline]
pub(super) fn mark<B: PacketBuf>(buf: &mut B, l3: usize, ethertype: u16, dscp: Option<u8>) -> u8 {
    let d = buf.data_mut();
    if ethertype == ET_IPV4 {
        let old = d[l3 + 1];
        let Some(dscp) = dscp else { return old };
        let new = (dscp << 2) | (old & 0x03);
        if new != old {
            let sum = u16::from_be_bytes([d[l3 + 10], d[l3 + 11]]);
            let sum = wire::checksum::update_u16(
                sum,
                u16::from_be_bytes([d[l3], old]),
                u16::from_be_bytes([d[l3], new]),
            );
            d[l3 + 1] = new;
            d[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
        }
        new
    } else {
        let old = (d[l3] << 4) | (d[l3 + 1] >> 4);
        let Some(dscp) = dscp else { return old };
        let new = (dscp << 2) | (old & 0x03);
        d[l3] = 0x60 | (new >> 4);
        d[l3 + 1] = (new << 4) | (d[l3 + 1] & 0x0f);
        new
    }
}

/// Sends the IP packet of `ip_len` bytes at `l3` (routed in `vr`, TTL done) into the
/// outbound SA `id`.
#[allow(clippy::too_many_arguments)]
pub(super) fn out<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    l3: usize,
    ip_len: usize,
    ethertype: u16,
    id: EspSaId,
    c: &WorkerCounters,
) -> Verdict {
    // Keyed by the route's VR: another VR's SA of the same id is never found.
    let Some(t) = st.esp.outbound.get(&OutboundKey::new(vr.id(), id)) else {
        return Verdict::Drop(Drop::EspNoSa);
    };
    if let Some(sel) = &t.sources {
        // The SA's source selector (RFC 4301 §4.4.1): traffic of hosts it does not name
        // never enters the tunnel. The caller checked the header is there.
        if !sel.allows_header(&buf.data()[l3..], ethertype == ET_IPV4) {
            return Verdict::Drop(Drop::EspSourceNotAllowed);
        }
    }
    let Some(outer_vr) = st.vr(t.outer_vr) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    let tail = Sa::tail_len(ip_len);
    let (v6, outer_et) = match t.remote {
        IpAddr::V4(_) => (false, ET_IPV4),
        IpAddr::V6(_) => (true, ET_IPV6),
    };
    let ip_hlen = if v6 { IPV6_HLEN } else { 20 };
    let udp_len = if t.udp.is_some() { 8 } else { 0 };
    let esp_len = esp::HEAD_LEN + ip_len + tail;
    let total = ip_hlen + udp_len + esp_len;
    if total > usize::from(u16::MAX) {
        return Verdict::Drop(Drop::MtuExceeded);
    }
    // The outer route and MTU are checked before sealing: a packet that cannot leave must
    // not use a sequence number nor count against the SA's lifetime.
    let nh = match t.remote {
        IpAddr::V4(a) => outer_vr.lookup4(u32::from(a)),
        IpAddr::V6(a) => outer_vr.lookup6(u128::from(a)),
    };
    let (nh, port) = match nh.and_then(|id| st.next_hops.get(id)) {
        Some(nh @ (NextHop::Forward { port, .. } | NextHop::Unresolved { port, .. })) => {
            (nh, *port)
        }
        _ => return Verdict::Drop(Drop::EspOuterUnroutable),
    };
    let Some(out_port) = ports.get(usize::from(port.0)) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    if total > out_port.mtu as usize {
        return Verdict::Drop(Drop::MtuExceeded);
    }
    let tos = mark(buf, l3, ethertype, t.dscp);
    // Room after the packet first (the buffer is unchanged when there is none).
    if buf.len() != l3 + ip_len || buf.append(tail).is_none() {
        return Verdict::Drop(Drop::EspNoTailroom);
    }
    if let Err(d) = reframe(buf, l3, ip_len + tail, ip_hlen + udp_len + esp::HEAD_LEN) {
        return Verdict::Drop(d);
    }
    let next_header = if ethertype == ET_IPV6 { 41 } else { 4 };
    let d = buf.data_mut();
    match t
        .sa
        .seal(c.worker, &mut d[ip_hlen + udp_len..], ip_len, next_header)
    {
        Ok(_) => {}
        Err(SealError::Expired) => return Verdict::Drop(Drop::EspSaExpired),
        Err(SealError::SeqExhausted) => return Verdict::Drop(Drop::EspSeqExhausted),
        Err(SealError::BadLayout) => return Verdict::Drop(Drop::TableInconsistent),
    }
    let proto = if t.udp.is_some() {
        IpProtocol::Udp
    } else {
        IpProtocol::Esp
    };
    match (t.local, t.remote) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            // DF set: without it every outer packet would need an ID of its own, or a
            // router fragmenting two of them would let the peer reassemble one from pieces
            // of both. RFC 4301 §8.1 lets an SA set DF.
            write_tunnel_ipv4(&mut d[..20], tos, proto, total, src, dst);
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let h = &mut d[..IPV6_HLEN];
            h[0] = 0x60 | (tos >> 4);
            h[1] = tos << 4;
            h[2..4].copy_from_slice(&[0, 0]);
            h[4..6].copy_from_slice(&((total - IPV6_HLEN) as u16).to_be_bytes());
            h[6] = u8::from(proto);
            h[7] = 64;
            h[8..24].copy_from_slice(&src.octets());
            h[24..40].copy_from_slice(&dst.octets());
        }
        // The writer refuses tunnels of two families.
        _ => return Verdict::Drop(Drop::TableInconsistent),
    }
    if let Some(u) = t.udp {
        let len = (udp_len + esp_len) as u16;
        let h = &mut d[ip_hlen..ip_hlen + 8];
        write_udp_no_checksum(h, u.local_port, u.remote_port, usize::from(len));
        if let (IpAddr::V6(src), IpAddr::V6(dst)) = (t.local, t.remote) {
            // IPv6 needs the UDP checksum (RFC 8200 §8.1); IPv4 sends zero (RFC 3948 §2.1).
            let sum = !wire::checksum::combine(&[
                wire::checksum::pseudo_header_v6(&src, &dst, IpProtocol::Udp, u32::from(len)),
                wire::checksum::data(&d[ip_hlen..total]),
            ]);
            let sum = if sum == 0 { 0xffff } else { sum };
            d[ip_hlen + 6..ip_hlen + 8].copy_from_slice(&sum.to_be_bytes());
        }
    }
    let v = send_ip(st, ports, outer_vr, buf, 0, total, 64, outer_et, nh, c);
    if matches!(v, Verdict::Tx(_)) && outer_vr.id() != vr.id() {
        count_vr_tx(vr, c, buf.len());
    }
    v
}
