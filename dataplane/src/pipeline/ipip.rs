//! IP-in-IP tunnels on the workers (RFC 2003; an IPv6 inner packet is protocol 41 in the
//! same IPv4 outer header, RFC 4213 §3.5). Outer IPv6 headers are not handled here.
//!
//! **Inbound.** IPv4 protocol 4 or 41 addressed to one of a VR's own addresses (not a
//! fragment: those are punted as `local`, like every fragment to the router): the VR and
//! the outer source name the inbound tunnel, whose local address must be the outer
//! destination (`ipip_unknown_tunnel` otherwise, whatever other VRs hold); the outer
//! header is stripped and the inner packet, which must be of the family the protocol names
//! (`ipip_inner_malformed`), is routed in the tunnel's VR — and only there — with no
//! further decapsulation (its TTL is decremented as for any routed packet; RFC 2003 §3.1).
//! The outer ECN field is combined into the inner one as RFC 6040 §4.2 says: an outer CE
//! marks an ECN-capable inner packet CE and drops a Not-ECT one (`ipip_ecn_not_ect`), an
//! outer ECT(1) turns an inner ECT(0) into ECT(1), anything else leaves the inner field.
//!
//! **Outbound.** A route through [`NextHop::IpIp`] in VR `v` names an outbound tunnel of
//! `v` (`ipip_no_tunnel`: `v` has none of that id); a tunnel with a source selector takes
//! only packets from the sources it names (`ipip_source_not_allowed`). The outer
//! destination must have a route in the outer VR (`ipip_outer_unroutable`) and the outer
//! packet must fit that port's MTU (`mtu_exceeded`; no fragmentation). The inner packet
//! (TTL already decremented, RFC 2003 §3.1) is marked with the tunnel's DSCP when it has
//! one, and gets a 20-byte outer IPv4 header: protocol 4 or 41, TTL 64, TOS (DSCP and ECN)
//! copied from the inner header (seed 003 S204; RFC 6040's normal mode copies ECN too);
//! Don't Fragment copied from an inner IPv4 header (RFC 2003 §3.1: the originator decides
//! whether the tunnelled datagram may be fragmented) and clear for IPv6 inside (RFC 4213
//! §3.2.1); an outer header without DF takes an Identification from the worker's
//! counter ([`WorkerCounters::next_ip_id`]), one with DF the ID 0 (RFC 6864 §4.1).
//! The outer packet is then sent like any packet the router originates in the outer VR
//! (labels pushed there too) and counted as TX of both VRs.
//!
//! Not done: ICMP from inside the tunnel relayed to the original sender (RFC 2003 §4),
//! tunnel MTU discovery.

use super::esp::mark;
use super::{count_vr, count_vr_rx, count_vr_tx, ipv4_at, ipv6_at, reframe, send_ip, PortInfo};
use super::{Verdict, ET_IPV4};
use crate::buffer::PacketBuf;
use crate::counters::{Drop, WorkerCounters};
use crate::punt::Offsets;
use std::net::Ipv4Addr;
use vr::{vr_counter, ForwardingState, IpIpId, IpIpInboundKey, IpIpKey, NextHop, VrEntry};
use wire::IpProtocol;

/// Length of the outer header.
pub(super) const OUTER_LEN: usize = 20;

/// Writes the 20-byte outer IPv4 header of an IP-in-IP packet into `h`: no options, DF as
/// given, Identification `id`, TTL 64, TOS `tos`, total length `total`, the checksum.
#[allow(clippy::too_many_arguments)]
#[inline]
fn write_outer(
    h: &mut [u8],
    tos: u8,
    id: u16,
    df: bool,
    proto: IpProtocol,
    total: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let (total, proto) = (total as u16, u8::from(proto));
    let flags: u16 = if df { 0x4000 } else { 0 };
    let (s, d) = (u32::from(src), u32::from(dst));
    let sum = u64::from(u16::from_be_bytes([0x45, tos]))
        + u64::from(total)
        + u64::from(id)
        + u64::from(flags)
        + u64::from(u16::from_be_bytes([64, proto]))
        + u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff);
    let sum = !wire::checksum::fold(sum);
    let [t0, t1] = total.to_be_bytes();
    let [i0, i1] = id.to_be_bytes();
    let [f0, f1] = flags.to_be_bytes();
    let [c0, c1] = sum.to_be_bytes();
    let [s0, s1, s2, s3] = s.to_be_bytes();
    let [d0, d1, d2, d3] = d.to_be_bytes();
    h.copy_from_slice(&[
        0x45, tos, t0, t1, i0, i1, f0, f1, 64, proto, c0, c1, s0, s1, s2, s3, d0, d1, d2, d3,
    ]);
}

/// An IP-in-IP packet addressed to `vr`: the outer IPv4 header at `at.ip`, the inner packet
/// at `inner..end` (`end`: the outer total length, within the frame).
#[allow(clippy::too_many_arguments)]
pub(super) fn input<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    inner: usize,
    end: usize,
    c: &WorkerCounters,
) -> Verdict {
    let l3 = usize::from(at.ip);
    let d = buf.data();
    // The caller checked the outer header (and that `inner` is after it).
    let src = Ipv4Addr::new(d[l3 + 12], d[l3 + 13], d[l3 + 14], d[l3 + 15]);
    let dst = Ipv4Addr::new(d[l3 + 16], d[l3 + 17], d[l3 + 18], d[l3 + 19]);
    let proto = d[l3 + 9];
    // Keyed by the VR it arrived in: another VR's tunnel from the same address is never
    // found.
    let Some(t) = st.ipip.inbound.get(&IpIpInboundKey::new(vr.id(), src)) else {
        return Verdict::Drop(Drop::IpIpUnknownTunnel);
    };
    if t.local != dst {
        return Verdict::Drop(Drop::IpIpUnknownTunnel);
    }
    let want = if proto == 4 { 4 } else { 6 };
    if inner >= end || end > d.len() || d[inner] >> 4 != want {
        return Verdict::Drop(Drop::IpIpInnerMalformed);
    }
    let Some(ivr) = st.vr(t.vr) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    let outer_ecn = d[l3 + 1] & 3;
    // A header too short for the ECN rule is refused by the inner forwarding below.
    if outer_ecn != 0 && end - inner >= if want == 4 { 20 } else { 40 } {
        let d = buf.data_mut();
        let old = if want == 4 {
            d[inner + 1] & 3
        } else {
            (d[inner + 1] >> 4) & 3
        };
        let new = match (outer_ecn, old) {
            (3, 0) => return Verdict::Drop(Drop::IpIpEcnNotEct),
            (3, _) => 3,
            (1, 2) => 1,
            (_, o) => o,
        };
        if new != old {
            if want == 4 {
                let tos = (d[inner + 1] & !3) | new;
                let sum = wire::checksum::update_u16(
                    u16::from_be_bytes([d[inner + 10], d[inner + 11]]),
                    u16::from_be_bytes([d[inner], d[inner + 1]]),
                    u16::from_be_bytes([d[inner], tos]),
                );
                d[inner + 1] = tos;
                d[inner + 10..inner + 12].copy_from_slice(&sum.to_be_bytes());
            } else {
                d[inner + 1] = (d[inner + 1] & 0xcf) | (new << 4);
            }
        }
    }
    let other = ivr.id() != vr.id();
    if other {
        count_vr_rx(ivr, c, buf.len());
    }
    buf.trim(end);
    let at = Offsets::ip(at.vlan, usize::from(at.l3), inner);
    let v = if want == 4 {
        ipv4_at(st, ports, ivr, buf, at, c, false)
    } else {
        ipv6_at(st, ports, ivr, buf, at, c, false)
    };
    // The only malformed-header drops of the inner forwarding are about the inner header.
    let v = match v {
        Verdict::Drop(Drop::Ipv4Malformed | Drop::Ipv6Malformed) => {
            Verdict::Drop(Drop::IpIpInnerMalformed)
        }
        v => v,
    };
    if other && matches!(v, Verdict::Drop(_)) {
        count_vr(ivr, c, vr_counter::DROP);
    }
    v
}

/// Sends the IP packet of `ip_len` bytes at `l3` (routed in `vr`, TTL done) into the
/// outbound IP-in-IP tunnel `id`.
#[allow(clippy::too_many_arguments)]
pub(super) fn out<B: PacketBuf>(
    st: &ForwardingState,
    ports: &[PortInfo],
    vr: &VrEntry,
    buf: &mut B,
    l3: usize,
    ip_len: usize,
    ethertype: u16,
    id: IpIpId,
    c: &WorkerCounters,
) -> Verdict {
    // Keyed by the route's VR: another VR's tunnel of the same id is never found.
    let Some(t) = st.ipip.outbound.get(&IpIpKey::new(vr.id(), id)) else {
        return Verdict::Drop(Drop::IpIpNoTunnel);
    };
    let v4 = ethertype == ET_IPV4;
    if let Some(sel) = &t.sources {
        // The caller checked the header is there.
        if !sel.allows_header(&buf.data()[l3..], v4) {
            return Verdict::Drop(Drop::IpIpSourceNotAllowed);
        }
    }
    let Some(outer_vr) = st.vr(t.outer_vr) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    let total = OUTER_LEN + ip_len;
    if total > usize::from(u16::MAX) {
        return Verdict::Drop(Drop::MtuExceeded);
    }
    let nh = outer_vr.lookup4(u32::from(t.remote));
    let (nh, port) = match nh.and_then(|id| st.next_hops.get(id)) {
        Some(nh @ (NextHop::Forward { port, .. } | NextHop::Unresolved { port, .. })) => {
            (nh, *port)
        }
        _ => return Verdict::Drop(Drop::IpIpOuterUnroutable),
    };
    let Some(out_port) = ports.get(usize::from(port.0)) else {
        return Verdict::Drop(Drop::TableInconsistent);
    };
    if total > out_port.mtu as usize {
        return Verdict::Drop(Drop::MtuExceeded);
    }
    let tos = mark(buf, l3, ethertype, t.dscp);
    // RFC 2003 §3.1: DF copied from the inner IPv4 header; IPv6 inside: clear (RFC 4213
    // §3.2.1, static tunnel MTU).
    let df = v4 && buf.data()[l3 + 6] & 0x40 != 0;
    let h = match reframe(buf, l3, ip_len, OUTER_LEN) {
        Ok(h) => h,
        Err(d) => return Verdict::Drop(d),
    };
    let (proto, ident) = match (v4, df) {
        (true, true) => (IpProtocol::Ipv4, 0),
        (true, false) => (IpProtocol::Ipv4, c.next_ip_id()),
        (false, _) => (IpProtocol::Ipv6, c.next_ip_id()),
    };
    write_outer(
        &mut h[..OUTER_LEN],
        tos,
        ident,
        df,
        proto,
        total,
        t.local,
        t.remote,
    );
    let v = send_ip(st, ports, outer_vr, buf, 0, total, 64, ET_IPV4, nh, c);
    if matches!(v, Verdict::Tx(_)) && outer_vr.id() != vr.id() {
        count_vr_tx(vr, c, buf.len());
    }
    v
}

/// Whether an IPv4 protocol number is one this module decapsulates.
#[inline]
pub(super) fn is_ipip(proto: IpProtocol) -> bool {
    matches!(proto, IpProtocol::Ipv4 | IpProtocol::Ipv6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_header_fields_and_checksum() {
        let mut h = [0xaau8; 20];
        let src = Ipv4Addr::new(198, 51, 100, 10);
        let dst = Ipv4Addr::new(192, 0, 2, 1);
        write_outer(&mut h, 0xb8, 0x1234, false, IpProtocol::Ipv4, 120, src, dst);
        let p = wire::Ipv4Packet::new_unchecked(&h[..]);
        assert!(p.verify_checksum());
        assert_eq!(h[0], 0x45);
        assert_eq!(h[1], 0xb8);
        assert_eq!(&h[2..4], &120u16.to_be_bytes());
        assert_eq!(&h[4..6], &[0x12, 0x34]);
        assert_eq!(&h[6..8], &[0, 0], "no DF, no MF, offset 0");
        assert_eq!(h[8], 64);
        assert_eq!(h[9], 4);
        assert_eq!(&h[12..16], &src.octets());
        assert_eq!(&h[16..20], &dst.octets());
        write_outer(&mut h, 0, 0, true, IpProtocol::Ipv6, 60, src, dst);
        let p = wire::Ipv4Packet::new_unchecked(&h[..]);
        assert!(p.verify_checksum());
        assert_eq!(&h[6..8], &[0x40, 0], "DF");
        assert_eq!(h[9], 41);
        assert!(is_ipip(IpProtocol::Ipv6) && !is_ipip(IpProtocol::Esp));
    }
}
