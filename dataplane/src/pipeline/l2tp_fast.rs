//! The L2TP decapsulation fast path: IPv4 in an L2TP session, in its common form, read in
//! one pass.
//!
//! An LNS receives almost all of its subscribers' traffic in one shape: an outer IPv4
//! header without options, UDP to port 1701, an L2TP data header without an offset field
//! (with or without Length and Ns/Nr), PPP with or without `ff 03`, protocol IPv4
//! (compressed or not). [`parse`] reads that shape from one 44-byte window (one bounds
//! check) in straight-line code; [`decap`] looks the session up, counts the packet on it
//! and says where the inner packet starts. `ipv4_at` calls them for UDP to one of the VR's
//! tunnel endpoints and routes the inner packet in its next pass. Every packet of another
//! shape — fragments, options, an offset field, IPv6 or PPP control inside — and every
//! session but the common one — unknown, another VR's tunnel, relayed, moved to another
//! VR — is left to the general path (`local_v4`), which decides it from the start.
//!
//! The two paths must agree: `tests::fast_parse_matches_general` holds [`parse`] to the
//! general path's parsers (`wire::UdpPacket`, the pipeline's `l2tp_header`, `wire::ppp`)
//! on arbitrary mutations of such packets, and `tests::common_forms_take_the_fast_path`
//! that it does take the shapes it is for.

use crate::buffer::PacketBuf;
use crate::counters::WorkerCounters;
use crate::punt::Offsets;
use vr::{session_counter, ForwardingState, SessionKey, VrEntry};
use wire::l2tp as l2tp_wire;

/// The bytes [`parse`] reads at once: IPv4 without options (20), UDP (8), the longest L2TP
/// data header without an offset field (12) and PPP with address, control and protocol (4).
/// Any IPv4-in-L2TP packet is longer: the shortest is 20 + 8 + 6 + 1 + 20 = 55 bytes.
const WINDOW: usize = 44;
/// Where UDP's and L2TP's fields start in the window.
const UDP: usize = 20;
const L2TP: usize = 28;

/// An IPv4 packet in an L2TP data message, as [`parse`] found it (offsets in the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decap {
    pub tunnel: u16,
    pub session: u16,
    /// Where the L2TP message (the UDP payload) ends.
    pub msg_end: usize,
    /// Where the inner IPv4 header starts (after the PPP protocol field).
    pub inner: usize,
}

#[inline(always)]
fn be16(w: &[u8; WINDOW], o: usize) -> u16 {
    u16::from_be_bytes([w[o], w[o + 1]])
}

/// Reads the IPv4 / UDP / L2TP / PPP headers of the packet whose IPv4 header (already
/// checked: version, lengths, checksum) starts at `l3` and whose IP datagram ends at `end`.
/// `Some` only for IPv4 carried in an L2TP data message in the common form (module doc);
/// `None` sends the packet to the general path.
#[inline(always)]
pub(super) fn parse(d: &[u8], l3: usize, end: usize) -> Option<Decap> {
    use l2tp_wire::flags::{L, O, S, T, VER};
    let w: &[u8; WINDOW] = d.get(l3..l3 + WINDOW)?.try_into().ok()?;
    // No options, not a fragment (MF clear, offset 0), UDP to the L2TP port.
    let fragment = be16(w, 6) & 0x3fff != 0;
    if w[0] != 0x45 || fragment || w[9] != 17 || be16(w, UDP + 2) != l2tp_wire::UDP_PORT {
        return None;
    }
    // The UDP Length within the datagram. (A Length below the UDP header's 8 bytes puts
    // `msg_end` before `msg`: the last check refuses it, as it refuses an L2TP header or
    // PPP header running past the message.)
    let msg = l3 + L2TP;
    let msg_end = l3 + UDP + usize::from(be16(w, UDP + 4));
    if msg_end > end {
        return None;
    }
    // A data message of version 2 without an offset field; its Length field, when there
    // is one, covers the header and stays within the message.
    let f = be16(w, L2TP);
    if f & (T | O | VER) != 2 {
        return None;
    }
    let long = f & L != 0;
    let ids = L2TP + 2 + if long { 2 } else { 0 };
    let header = ids + 4 + if f & S != 0 { 4 } else { 0 } - L2TP;
    if long {
        let length = usize::from(be16(w, L2TP + 2));
        if length < header || msg + length > msg_end {
            return None;
        }
    }
    // PPP: `ff 03`, then protocol IPv4 (0x0021, or 0x21 compressed). The window may hold
    // bytes past the message's end; any read of them makes `inner` pass it, refused below
    // (where the general path, too, finds no IPv4).
    let mut p = L2TP + header;
    if w[p] == 0xff && w[p + 1] == 0x03 {
        p += 2;
    }
    let inner = if w[p] == 0x21 {
        p + 1
    } else if w[p] == 0 && w[p + 1] == 0x21 {
        p + 2
    } else {
        return None;
    };
    if l3 + inner > msg_end {
        return None;
    }
    Some(Decap {
        tunnel: be16(w, ids),
        session: be16(w, ids + 2),
        msg_end,
        inner: l3 + inner,
    })
}

/// Decapsulates, in `vr`, the IPv4 packet [`parse`] found (`p`) in L2TP data to one of
/// `vr`'s endpoints: counts it on its session, trims the frame to the L2TP message and
/// returns where the inner packet's header is, for `ipv4_at` to route it in `vr` — the
/// same counters, bytes and verdict as the general path (`local_v4`).
///
/// `None` for every session but the common one (its tunnel and its subscriber both in
/// `vr`, not relayed), with nothing counted or changed: the general path then decides the
/// packet, and it alone applies the isolation rule (a session of another VR's tunnel is
/// dropped as `l2tp_wrong_vr`, an unknown one as `l2tp_no_session`).
#[inline(always)]
pub(super) fn decap<B: PacketBuf>(
    st: &ForwardingState,
    vr: &VrEntry,
    buf: &mut B,
    at: Offsets,
    p: Decap,
    c: &WorkerCounters,
) -> Option<Offsets> {
    let key = SessionKey::L2tp {
        tunnel: p.tunnel,
        session: p.session,
    };
    let s = st.session(&key)?;
    if s.tunnel_vr != vr.id() || s.vr != vr.id() || s.relay.is_some() {
        return None;
    }
    let bytes = (p.msg_end - p.inner) as u64;
    st.session_counters
        .bump(c.worker, s.counters, session_counter::RX_PACKETS, bytes);
    buf.trim(p.msg_end);
    Some(Offsets {
        ip: p.inner as u16,
        l4: Offsets::NONE,
        app: Offsets::NONE,
        inner: Offsets::NONE,
        ..at
    })
}

/// What the general path (`local_v4`) reads of the same bytes, with the same parsers:
/// the reference the tests hold [`parse`] to.
#[cfg(test)]
fn general(d: &[u8], l3: usize, end: usize) -> Option<Decap> {
    use super::{l2tp_header, L2tpHeader};
    use wire::{ppp, IpProtocol, Ipv4Packet, UdpPacket};
    let p = Ipv4Packet::new_checked(&d[l3..end]).ok()?;
    if p.is_fragment() || p.protocol() != IpProtocol::Udp {
        return None;
    }
    let udp_off = l3 + usize::from(p.header_len());
    let u = UdpPacket::new_checked(&d[udp_off..end]).ok()?;
    if u.dst_port() != l2tp_wire::UDP_PORT {
        return None;
    }
    let msg = udp_off + 8;
    let msg_end = (udp_off + usize::from(u.len())).min(end);
    let L2tpHeader::Data {
        tunnel,
        session,
        ppp: hl,
    } = l2tp_header(&d[msg..msg_end])
    else {
        return None;
    };
    let (proto, plen) = ppp::parse(&d[msg + hl..msg_end]).ok()?;
    (proto == ppp::protocol::IPV4).then_some(Decap {
        tunnel,
        session,
        msg_end,
        inner: msg + hl + plen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An Ethernet frame with IPv4 / UDP / L2TP / PPP / a 20-byte inner IPv4 header and
    /// `payload` bytes, in the form the flags say.
    #[allow(clippy::too_many_arguments)]
    fn frame(
        long: bool,
        seq: bool,
        offset: Option<u16>,
        acf: bool,
        compressed: bool,
        proto: u16,
        payload: usize,
        tunnel: u16,
        session: u16,
    ) -> Vec<u8> {
        let mut l2tp = vec![0u8, 2];
        if long {
            l2tp[0] |= 0x40;
            l2tp.extend([0, 0]);
        }
        l2tp.extend(tunnel.to_be_bytes());
        l2tp.extend(session.to_be_bytes());
        if seq {
            l2tp[0] |= 0x08;
            l2tp.extend([0, 5, 0, 6]);
        }
        if let Some(o) = offset {
            l2tp[0] |= 0x02;
            l2tp.extend(o.to_be_bytes());
            l2tp.extend(vec![0xee; usize::from(o)]);
        }
        if acf {
            l2tp.extend([0xff, 0x03]);
        }
        if compressed && proto < 0x100 {
            l2tp.push(proto as u8);
        } else {
            l2tp.extend(proto.to_be_bytes());
        }
        l2tp.extend([0x45, 0, 0, 20 + payload as u8, 0, 0, 0, 0, 64, 17, 0, 0]);
        l2tp.extend([10, 8, 0, 5, 192, 0, 2, 1]);
        l2tp.extend(vec![0xab; payload]);
        let msg = l2tp.len();
        if long {
            l2tp[2..4].copy_from_slice(&(msg as u16).to_be_bytes());
        }
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = 20 + 8 + msg;
        f.extend([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        f[16..18].copy_from_slice(&(total as u16).to_be_bytes());
        f.extend([192, 0, 2, 9, 192, 0, 2, 1]);
        f.extend([0x06, 0xa5, 0x06, 0xa5]);
        f.extend(((8 + msg) as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(l2tp);
        let ck = wire::checksum::data(&f[14..34]);
        f[24..26].copy_from_slice(&(!ck).to_be_bytes());
        f
    }

    /// The datagram's end as `ipv4_at` passes it (the outer Total Length, within the frame).
    fn end_of(f: &[u8]) -> usize {
        (14 + usize::from(u16::from_be_bytes([f[16], f[17]]))).min(f.len())
    }

    #[test]
    fn common_forms_take_the_fast_path() {
        for long in [false, true] {
            for seq in [false, true] {
                for acf in [false, true] {
                    for compressed in [false, true] {
                        for payload in [0, 1, 26] {
                            let f = frame(long, seq, None, acf, compressed, 0x21, payload, 7, 9);
                            let fast = parse(&f, 14, end_of(&f));
                            assert!(fast.is_some(), "{long} {seq} {acf} {compressed} {payload}");
                            assert_eq!(fast, general(&f, 14, end_of(&f)));
                            let d = fast.unwrap();
                            assert_eq!((d.tunnel, d.session, d.msg_end), (7, 9, f.len()));
                            assert_eq!(f[d.inner], 0x45);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn other_forms_go_to_the_general_path() {
        // An offset field, IPv6 and LCP inside: well-formed, not the fast path's.
        let f = frame(false, false, Some(2), true, false, 0x21, 8, 7, 9);
        assert!(parse(&f, 14, end_of(&f)).is_none() && general(&f, 14, end_of(&f)).is_some());
        for proto in [0x57, 0xc021] {
            let f = frame(false, false, None, true, false, proto, 8, 7, 9);
            assert_eq!(parse(&f, 14, end_of(&f)), None, "{proto:#x}");
        }
        let base = frame(true, false, None, true, false, 0x21, 8, 7, 9);
        // A fragment, options, another port, a control message.
        for (at, v) in [(20, 0x20), (21, 1), (14, 0x46), (37, 0xa6), (42, 0xc8)] {
            let mut f = base.clone();
            f[at] = v;
            assert_eq!(parse(&f, 14, end_of(&f)), None, "byte {at} = {v:#x}");
        }
        // The message cut inside the PPP protocol field by the UDP Length.
        let mut f = frame(false, false, None, true, false, 0x21, 8, 7, 9);
        let cut = (8 + 6 + 3) as u16;
        f[38..40].copy_from_slice(&cut.to_be_bytes());
        assert_eq!(parse(&f, 14, end_of(&f)), None);
        assert_eq!(general(&f, 14, end_of(&f)), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whatever the bytes, the fast path either leaves a packet to the general path or
        /// reads it as the general path's parsers do: packets of every form (offset fields,
        /// other protocols, every flag mix), then one to three bytes of the first 56
        /// overwritten (lengths and flags made likely), and the outer Total Length, the UDP
        /// Length or the L2TP Length cut anywhere.
        #[test]
        fn fast_parse_matches_general(
            long: bool, seq: bool, acf: bool, compressed: bool,
            offset in prop_oneof![4 => Just(None), 1 => (0u16..4).prop_map(Some)],
            proto in prop_oneof![4 => Just(0x21u16), 1 => Just(0x57), 1 => Just(0xc021), 1 => any::<u16>()],
            payload in 0usize..40,
            ids: (u16, u16),
            edits in prop::collection::vec((14usize..70, prop_oneof![
                Just(0u8), Just(1), Just(2), Just(7), Just(8), Just(0x21), Just(0x45),
                Just(0xff), Just(0x03), Just(0x40), Just(0x48), Just(0x02), any::<u8>(),
            ]), 0..3),
            cut in prop_oneof![3 => Just(u16::MAX), 1 => 20u16..100],
            udp_cut in prop_oneof![2 => Just(u16::MAX), 1 => 8u16..40],
            length_cut in prop_oneof![2 => Just(u16::MAX), 1 => 0u16..32],
        ) {
            let mut f = frame(long, seq, offset, acf, compressed, proto, payload, ids.0, ids.1);
            // A shorter UDP Length or L2TP Length (the message, or its header, cut).
            if udp_cut < u16::from_be_bytes([f[38], f[39]]) {
                f[38..40].copy_from_slice(&udp_cut.to_be_bytes());
            }
            if long && length_cut < u16::from_be_bytes([f[44], f[45]]) {
                f[44..46].copy_from_slice(&length_cut.to_be_bytes());
            }
            for (at, v) in edits {
                if at < f.len() {
                    f[at] = v;
                }
            }
            if cut < u16::from_be_bytes([f[16], f[17]]) {
                f[16..18].copy_from_slice(&cut.to_be_bytes());
            }
            // Like `ipv4_at`: only a packet whose outer header checks reaches the fast path.
            if wire::Ipv4Packet::new_checked(&f[14..]).is_err() {
                return Ok(());
            }
            let end = end_of(&f);
            let fast = parse(&f, 14, end);
            if fast.is_some() {
                prop_assert_eq!(fast, general(&f, 14, end));
            }
        }
    }
}
