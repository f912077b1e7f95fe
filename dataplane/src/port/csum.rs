//! Completing a transport checksum the sender left partial (checksum offload).
//!
//! A Linux sender whose interface offloads transmit checksums (a veth's default) hands a
//! locally generated TCP/UDP segment down with `CHECKSUM_PARTIAL`: the checksum field holds
//! only the pseudo-header sum and "the device" is to finish it. When that frame reaches a
//! packet socket instead of a NIC (our af_packet port on the other end of the veth), the
//! kernel flags it `TP_STATUS_CSUMNOTREADY` and leaves the field as it is; forwarded like
//! that, the receiver drops it. [`complete`] computes the whole checksum in software.
//!
//! It parses the frame itself (Ethernet, up to two 802.1Q/802.1ad tags, IPv4 or IPv6 with
//! hop-by-hop and destination-options headers, then TCP, UDP or ICMPv6) rather than asking
//! the kernel for `csum_start`/`csum_offset` with `PACKET_VNET_HDR`: that option also puts a
//! `virtio_net_hdr` in front of every frame of the tx ring and hands over unsegmented GSO
//! frames, a change of the whole port's data path for a case a parser of two headers
//! covers. What it does not cover (IPv4 fragments, IPv6 fragment or routing headers —
//! a routing header changes the pseudo-header's destination —, other protocols, frames
//! whose lengths do not add up) is left as it is and reported, never a panic.

/// What [`complete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The checksum field now holds the full checksum.
    Completed,
    /// Nothing was changed: not a frame this can complete (see the module docs).
    Unhandled,
}

const ET_VLAN: u16 = 0x8100;
const ET_QINQ: u16 = 0x88a8;
const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86dd;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;

/// Offset of the checksum field in the transport header of `proto`.
fn csum_field(proto: u8) -> Option<usize> {
    match proto {
        TCP => Some(16),
        UDP => Some(6),
        ICMPV6 => Some(2),
        _ => None,
    }
}

/// Fills in the transport checksum of the Ethernet `frame` (see the module docs).
pub fn complete(frame: &mut [u8]) -> Completion {
    match locate(frame) {
        Some(l) => {
            let Located {
                pseudo,
                l4,
                len,
                proto,
                field,
            } = l;
            let seg = &mut frame[l4..l4 + len];
            seg[field..field + 2].copy_from_slice(&[0, 0]);
            let mut c = !wire::checksum::combine(&[pseudo, wire::checksum::data(seg)]);
            if c == 0 && proto == UDP {
                // UDP: a computed zero is sent as all ones (RFC 768).
                c = 0xffff;
            }
            seg[field..field + 2].copy_from_slice(&c.to_be_bytes());
            Completion::Completed
        }
        None => Completion::Unhandled,
    }
}

/// Where [`complete`] works in a frame.
struct Located {
    /// The pseudo-header's sum.
    pseudo: u16,
    /// Offset of the transport header in the frame.
    l4: usize,
    /// Transport length (header and payload).
    len: usize,
    /// Transport protocol (one [`csum_field`] knows).
    proto: u8,
    /// Offset of the checksum field in the transport header (`len` has room for it).
    field: usize,
}

/// Where the frame's transport checksum is, or `None` when the frame is not one
/// [`complete`] handles.
fn locate(f: &[u8]) -> Option<Located> {
    let be16 = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*f.get(i)?, *f.get(i + 1)?])) };
    let mut off = 12;
    let mut et = be16(off)?;
    for _ in 0..2 {
        if et == ET_VLAN || et == ET_QINQ {
            off += 4;
            et = be16(off)?;
        }
    }
    let ip = off + 2;
    match et {
        ET_IPV4 => {
            let h = f.get(ip..ip + 20)?;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let frag = u16::from_be_bytes([h[6], h[7]]) & 0x3fff;
            if h[0] >> 4 != 4 || ihl < 20 || total < ihl || ip + total > f.len() || frag != 0 {
                return None;
            }
            let proto = h[9];
            if proto == ICMPV6 {
                return None;
            }
            let field = csum_field(proto)?;
            let len = total - ihl;
            if len < field + 2 {
                return None;
            }
            let src = std::net::Ipv4Addr::new(h[12], h[13], h[14], h[15]);
            let dst = std::net::Ipv4Addr::new(h[16], h[17], h[18], h[19]);
            let pseudo = wire::checksum::pseudo_header_v4(&src, &dst, proto.into(), len as u32);
            Some(Located {
                pseudo,
                l4: ip + ihl,
                len,
                proto,
                field,
            })
        }
        ET_IPV6 => {
            let h = f.get(ip..ip + 40)?;
            if h[0] >> 4 != 6 {
                return None;
            }
            let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
            let end = ip + 40 + payload;
            if payload == 0 || end > f.len() {
                return None;
            }
            let mut next = h[6];
            let mut l4 = ip + 40;
            // Hop-by-hop and destination options only (a handful at most).
            for _ in 0..4 {
                if next != 0 && next != 60 {
                    break;
                }
                let e = f.get(l4..l4 + 2)?;
                next = e[0];
                l4 += (usize::from(e[1]) + 1) * 8;
                if l4 > end {
                    return None;
                }
            }
            let field = csum_field(next)?;
            let len = end - l4;
            if len < field + 2 {
                return None;
            }
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&h[8..24]);
            dst.copy_from_slice(&h[24..40]);
            let pseudo =
                wire::checksum::pseudo_header_v6(&src.into(), &dst.into(), next.into(), len as u32);
            Some(Located {
                pseudo,
                l4,
                len,
                proto: next,
                field,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 1071 sum written out bytewise here (not `wire::checksum`), over `parts`.
    fn sum(parts: &[&[u8]]) -> u16 {
        let mut s: u32 = 0;
        for p in parts {
            for c in p.chunks(2) {
                s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn eth(tags: &[u16], et: u16) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        for t in tags {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&t.to_be_bytes());
        }
        f.extend_from_slice(&et.to_be_bytes());
        f
    }

    /// An IPv4 frame of `proto` with `l4` as transport (its checksum field holding the
    /// partial value a sender would leave); returns the frame and the transport offset.
    fn v4(tags: &[u16], proto: u8, l4: &[u8], frag: u16) -> (Vec<u8>, usize) {
        let mut f = eth(tags, ET_IPV4);
        let ip = f.len();
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0]);
        f[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
        f[ip + 6..ip + 8].copy_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(l4);
        f.extend_from_slice(&[0; 6]); // Ethernet padding, not part of the datagram
        (f, ip + 20)
    }

    fn udp(n: usize, partial: u16) -> Vec<u8> {
        let mut u = vec![0x12, 0x34, 0x47, 0x11, 0, 0, 0, 0];
        u[4..6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
        u[6..8].copy_from_slice(&partial.to_be_bytes());
        u.extend((0..n).map(|i| (i * 13 + 1) as u8));
        u
    }

    fn tcp(n: usize) -> Vec<u8> {
        let mut t = vec![
            0x12, 0x34, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
        ];
        t.extend_from_slice(&[0xab, 0xcd, 0, 0]); // a partial checksum, urgent pointer
        t.extend((0..n).map(|i| i as u8));
        t
    }

    #[test]
    fn udp_and_tcp_over_ipv4_tagged_or_not_verify_after_completion() {
        for tags in [&[][..], &[100][..], &[100, 7][..]] {
            for (proto, l4) in [(UDP, udp(33, 0x1f2e)), (TCP, tcp(100))] {
                let (mut f, at) = v4(tags, proto, &l4, 0);
                assert_eq!(complete(&mut f), Completion::Completed);
                let seg = &f[at..at + l4.len()];
                let pseudo = [
                    &[10, 0, 0, 1, 10, 0, 0, 2, 0, proto][..],
                    &(l4.len() as u16).to_be_bytes(),
                ]
                .concat();
                assert_eq!(sum(&[&pseudo, seg]), 0xffff, "{tags:?} {proto}");
                // Only the checksum field changed; the padding neither.
                let field = if proto == UDP { 6 } else { 16 };
                assert_eq!(&seg[..field], &l4[..field]);
                assert_eq!(&seg[field + 2..], &l4[field + 2..]);
                assert_eq!(&f[f.len() - 6..], &[0; 6]);
            }
        }
    }

    #[test]
    fn udp_tcp_and_icmpv6_over_ipv6_with_options_verify() {
        for (next, l4) in [
            (UDP, udp(20, 0x7777)),
            (TCP, tcp(7)),
            (ICMPV6, vec![128, 0, 0x12, 0x34, 0, 1, 0, 1, 9, 9]),
        ] {
            for opts in [false, true] {
                let mut f = eth(&[], ET_IPV6);
                let ip = f.len();
                let ext: Vec<u8> = if opts {
                    vec![next, 0, 1, 4, 0, 0, 0, 0]
                } else {
                    vec![]
                };
                let plen = (ext.len() + l4.len()) as u16;
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&plen.to_be_bytes());
                f.extend_from_slice(&[if opts { 0 } else { next }, 64]);
                let src: Vec<u8> = (0..16).collect();
                let dst: Vec<u8> = (16..32).collect();
                f.extend_from_slice(&src);
                f.extend_from_slice(&dst);
                f.extend_from_slice(&ext);
                let at = f.len();
                f.extend_from_slice(&l4);
                assert_eq!(complete(&mut f), Completion::Completed, "{next} {opts}");
                let pseudo = [
                    &src[..],
                    &dst,
                    &(l4.len() as u32).to_be_bytes(),
                    &[0, 0, 0, next],
                ]
                .concat();
                assert_eq!(sum(&[&pseudo, &f[at..]]), 0xffff, "{next} {opts}");
                assert_eq!(f[ip + 6], if opts { 0 } else { next });
            }
        }
    }

    #[test]
    fn a_udp_checksum_of_zero_is_sent_as_all_ones() {
        // Find a payload whose checksum comes out 0: vary one 16-bit word (every sum is
        // reached).
        for word in 0..=u16::MAX {
            let mut l4 = udp(4, 0);
            l4[8..10].copy_from_slice(&word.to_be_bytes());
            let (mut f, at) = v4(&[], UDP, &l4, 0);
            complete(&mut f);
            let c = u16::from_be_bytes([f[at + 6], f[at + 7]]);
            assert_ne!(c, 0);
            if c == 0xffff {
                return;
            }
        }
        panic!("no payload gave a zero checksum");
    }

    #[test]
    fn what_it_cannot_complete_is_left_alone() {
        let l4 = udp(10, 0x1234);
        let mut cases: Vec<Vec<u8>> = vec![
            v4(&[], UDP, &l4, 0x2000).0, // first fragment (MF)
            v4(&[], UDP, &l4, 0x0010).0, // later fragment
            v4(&[], 47, &l4, 0).0,       // GRE
            v4(&[], ICMPV6, &l4, 0).0,   // ICMPv6 in IPv4
            v4(&[], UDP, &l4[..7], 0).0, // too short for the field
            eth(&[], 0x0806),            // ARP
            vec![1, 2, 3],               // runt
            vec![],
        ];
        // Lengths beyond the frame, IHL below 5, a wrong version.
        let (mut f, _) = v4(&[], UDP, &l4, 0);
        f[16..18].copy_from_slice(&500u16.to_be_bytes());
        cases.push(f);
        let (mut f, _) = v4(&[], UDP, &l4, 0);
        f[14] = 0x44;
        cases.push(f);
        let (mut f, _) = v4(&[], UDP, &l4, 0);
        f[14] = 0x65;
        cases.push(f);
        // IPv6 with a fragment header, a routing header, a payload past the frame.
        for (nh, plen) in [(44u8, 18u16), (43, 18), (UDP, 1000)] {
            let mut f = eth(&[], ET_IPV6);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&plen.to_be_bytes());
            f.extend_from_slice(&[nh, 64]);
            f.extend_from_slice(&[0; 32]);
            f.extend_from_slice(&[UDP, 0, 0, 0, 0, 0, 0, 0]);
            f.extend_from_slice(&l4);
            cases.push(f);
        }
        for c in cases {
            let mut x = c.clone();
            assert_eq!(complete(&mut x), Completion::Unhandled, "{c:?}");
            assert_eq!(x, c);
        }
    }

    #[test]
    fn truncated_prefixes_of_a_good_frame_never_panic() {
        let (f, _) = v4(&[5, 6], TCP, &tcp(40), 0);
        for n in 0..f.len() {
            let mut x = f[..n].to_vec();
            let _ = complete(&mut x);
        }
    }
}
