//! The internet checksum (RFC 1071), pseudo-header sums for UDP/TCP/ICMPv6 over IPv4
//! (RFC 768) and IPv6 (RFC 8200 §8.1), and incremental update (RFC 1624).
//!
//! Conventions (as smoltcp): [`data`] and [`combine`] return the *folded one's-complement sum*
//! (not complemented); a checksum field holds `!combine(..)`; data including a correct checksum
//! field sums to `0xffff`.
//!
//! Speed: [`data`] adds big-endian `u64` words with end-around carry (2^64 ≡ 1 mod 0xffff, so
//! folding the 64-bit sum gives the 16-bit one), then a 2-byte tail and an odd byte.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ipv4::IpProtocol;

/// Folds a wide one's-complement sum to 16 bits.
#[inline]
pub const fn fold(mut sum: u64) -> u16 {
    sum = (sum >> 32) + (sum & 0xffff_ffff);
    sum = (sum >> 32) + (sum & 0xffff_ffff);
    sum = (sum >> 16) + (sum & 0xffff);
    sum = (sum >> 16) + (sum & 0xffff);
    sum as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words (an odd last byte is padded with
/// zero), folded to 16 bits and not complemented.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    match <&[u8; 20]>::try_from(data) {
        Ok(h) => header20(h),
        Err(_) => data_any(data),
    }
}

/// [`data`] of any length, out of line: the 20-byte path above is what the forwarding path
/// runs for every IPv4 header, and stays small enough to inline there.
#[inline(never)]
fn data_any(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = acc.overflowing_add(w);
        acc = s + u64::from(carry);
    }
    let mut rest = chunks.remainder();
    let mut tail: u64 = 0;
    while rest.len() >= 2 {
        tail += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        tail += u64::from(*last) << 8;
    }
    // After an overflow `s` is at most 2^64 - 2, so adding the carry back cannot overflow.
    let (s, carry) = acc.overflowing_add(tail);
    fold(s + u64::from(carry))
}

/// [`data`] of a 20-byte IPv4 header (no options), which the forwarding path sums on every
/// packet: five big-endian 32-bit words added without a loop (2^32 ≡ 1 mod 0xffff, so their
/// folded sum is the 16-bit one; five words cannot overflow 64 bits).
#[inline]
fn header20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    fold(w(0) + w(4) + w(8) + w(12) + w(16))
}

/// One's-complement sum of several partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Sum of the IPv4 pseudo header (RFC 768): src, dst, zero, protocol, `length` (of the
/// transport header + data).
#[inline]
pub fn pseudo_header_v4(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: IpProtocol, length: u32) -> u16 {
    let s = u64::from(u32::from(*src));
    let d = u64::from(u32::from(*dst));
    fold(s + d + u64::from(u8::from(protocol)) + u64::from(length))
}

/// Sum of the IPv6 pseudo header (RFC 8200 §8.1): src, dst, upper-layer length (32 bits),
/// zero, next header.
#[inline]
pub fn pseudo_header_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: IpProtocol,
    length: u32,
) -> u16 {
    let s = u128::from(*src);
    let d = u128::from(*dst);
    let mut acc: u64 = u64::from(u8::from(next_header)) + u64::from(length);
    for w in [(s >> 64) as u64, s as u64, (d >> 64) as u64, d as u64] {
        // Split each 64-bit half so the additions cannot overflow.
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    fold(acc)
}

/// RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the covered data changes
/// from `old_word` to `new_word`, `HC' = ~(~HC + ~m + m')`.
///
/// Equals a full recompute whenever the covered data is not all zero after the change (always
/// true for an IPv4 header, whose version nibble is 4): one's-complement addition of a non-zero
/// operand never yields +0, so this returns 0x0000 exactly when a recompute does, never 0xffff
/// for it (the eqn. 2 pitfall RFC 1624 §3 describes).
#[inline]
pub fn update_u16(old_csum: u16, old_word: u16, new_word: u16) -> u16 {
    if old_word == new_word {
        return old_csum;
    }
    // Three 16-bit terms: the sum is below 2^18, so two 16-bit folds finish it (the forwarding
    // path runs this for every TTL decrement).
    let s = u32::from(!old_csum) + u32::from(!old_word) + u32::from(new_word);
    let s = (s >> 16) + (s & 0xffff);
    !((s >> 16) + (s & 0xffff)) as u16
}

/// Like [`update_u16`] for a 32-bit field (e.g. an IPv4 address during NAT).
#[inline]
pub fn update_u32(old_csum: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(old_csum, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Textbook RFC 1071 loop over 16-bit words, the reference for the fast version.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            sum += u32::from(w);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    #[test]
    fn rfc1071_example() {
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xff]), 0xff00);
    }

    // scapy 2.5: IP(src="192.0.2.1", dst="198.51.100.7", ttl=64, id=0x1c46, flags="DF",
    // tos=0xb8)/UDP(...) header; scapy's checksum is 0x3192.
    #[test]
    fn real_ipv4_header_checksum() {
        let mut h = [
            0x45, 0xb8, 0x00, 0x21, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x31, 0x92, 0xc0, 0x00,
            0x02, 0x01, 0xc6, 0x33, 0x64, 0x07,
        ];
        assert_eq!(data(&h), 0xffff);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(!data(&h), 0x3192);
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let (s4, d4) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 7));
        let mut b = Vec::new();
        b.extend_from_slice(&s4.octets());
        b.extend_from_slice(&d4.octets());
        b.extend_from_slice(&[0, 17, 0, 13]);
        assert_eq!(pseudo_header_v4(&s4, &d4, IpProtocol::Udp, 13), naive(&b));

        let s6: Ipv6Addr = "2001:db8::ffff:1".parse().unwrap();
        let d6: Ipv6Addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let mut b = Vec::new();
        b.extend_from_slice(&s6.octets());
        b.extend_from_slice(&d6.octets());
        b.extend_from_slice(&70000u32.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            pseudo_header_v6(&s6, &d6, IpProtocol::Icmpv6, 70000),
            naive(&b)
        );
    }

    /// Recompute of an IPv4-like header's checksum field (bytes 10..12).
    fn full(h: &[u8]) -> u16 {
        let mut c = h.to_vec();
        c[10] = 0;
        c[11] = 0;
        !data(&c)
    }

    #[test]
    fn incremental_zero_corner() {
        // A header whose checksum becomes exactly 0x0000 after decrementing TTL: eqn. 3 must
        // give 0x0000 (not 0xffff), as a recompute does.
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[8] = 2; // TTL
                  // Choose word 6 (bytes 12..14) so that the post-decrement sum is 0xffff.
        let mut after = h;
        after[8] = 1;
        let s = data(&after);
        let fill = 0xffff - s; // s + fill = 0xffff, no carry
        h[12..14].copy_from_slice(&fill.to_be_bytes());
        after[12..14].copy_from_slice(&fill.to_be_bytes());
        let c0 = full(&h);
        h[10..12].copy_from_slice(&c0.to_be_bytes());
        assert_eq!(full(&after), 0x0000);
        let old_word = u16::from_be_bytes([h[8], h[9]]);
        let new_word = u16::from_be_bytes([after[8], after[9]]);
        assert_eq!(update_u16(c0, old_word, new_word), 0x0000);
        // And back: from checksum 0x0000 to the recomputed value.
        assert_eq!(update_u16(0x0000, new_word, old_word), c0);
    }

    proptest! {
        #[test]
        fn fast_equals_naive(d in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(data(&d), naive(&d));
        }

        #[test]
        fn header20_equals_naive(h in any::<[u8; 20]>()) {
            // The 20-byte path of `data` (an IPv4 header without options).
            prop_assert_eq!(data(&h), naive(&h));
            prop_assert_eq!(data(&[0xff; 20]), naive(&[0xff; 20]));
        }

        #[test]
        fn fast_equals_naive_all_ones(len in 0usize..200) {
            let d = vec![0xffu8; len];
            prop_assert_eq!(data(&d), naive(&d));
        }

        #[test]
        fn incremental_equals_recompute(mut h in any::<[u8; 20]>(), word in 0usize..10, new in any::<u16>()) {
            h[0] = 0x40 | (h[0] & 0x0f); // version 4: the header is never all zero
            prop_assume!(word != 5); // not the checksum field itself
            let c0 = full(&h);
            h[10..12].copy_from_slice(&c0.to_be_bytes());
            let at = word * 2;
            let old = u16::from_be_bytes([h[at], h[at + 1]]);
            let mut new = new;
            if word == 0 { new = 0x4000 | (new & 0x0fff); }
            h[at..at + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update_u16(c0, old, new), full(&h));
        }

        #[test]
        fn ttl_decrement_incremental(mut h in any::<[u8; 20]>(), ttl in 1u8..=255) {
            h[0] = 0x45;
            h[8] = ttl;
            let c0 = full(&h);
            h[10..12].copy_from_slice(&c0.to_be_bytes());
            let old = u16::from_be_bytes([h[8], h[9]]);
            h[8] = ttl - 1;
            let new = u16::from_be_bytes([h[8], h[9]]);
            let c1 = update_u16(c0, old, new);
            prop_assert_eq!(c1, full(&h));
            h[10..12].copy_from_slice(&c1.to_be_bytes());
            prop_assert_eq!(data(&h), 0xffff);
        }

        #[test]
        fn incremental_u32(mut h in any::<[u8; 20]>(), new in any::<u32>()) {
            h[0] = 0x45;
            let c0 = full(&h);
            let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
            h[12..16].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update_u32(c0, old, new), full(&h));
        }
    }
}
