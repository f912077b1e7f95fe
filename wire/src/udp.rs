//! UDP (RFC 768; over IPv6, RFC 8200 §8.1).
//!
//! `UdpPacket::new_checked` validates: buffer ≥ 8 bytes, length field ≥ 8 and ≤ buffer. The
//! buffer should be the IP payload; bytes after the UDP length are ignored by `payload()`.
//! Checksums: over IPv4 a zero checksum means "not computed" and verifies; over IPv6 it is
//! mandatory and zero fails (RFC 8200 §8.1). A computed checksum of zero is sent as 0xffff.
//! Not implemented: UDP-Lite, the RFC 6935/6936 zero-checksum exception for IPv6 tunnels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::ipv4::IpProtocol;
use super::{need, Error, Field, Proto, Result};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates the length field against the header and the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::Udp, HEADER_LEN, len)?;
        let l = usize::from(self.len());
        if l < HEADER_LEN {
            return Err(Error::Malformed {
                proto: Proto::Udp,
                reason: "length field below the 8-byte header",
                value: l as u32,
            });
        }
        need(Proto::Udp, l, len)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The length field (header + data).
    #[inline]
    pub fn len(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// True if the length field says there is no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Bytes 8 .. length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    #[inline]
    fn sum(&self) -> u16 {
        checksum::data(&self.buffer.as_ref()[..usize::from(self.len())])
    }

    /// Over IPv4: true if the checksum is zero (not computed) or verifies.
    #[inline]
    pub fn verify_checksum_ipv4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let ph = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, u32::from(self.len()));
        checksum::combine(&[ph, self.sum()]) == 0xffff
    }

    /// Over IPv6: true if the checksum verifies; zero never does.
    #[inline]
    pub fn verify_checksum_ipv6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len()));
        checksum::combine(&[ph, self.sum()]) == 0xffff
    }

    /// Dispatches on the address family; addresses of different families never verify.
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.verify_checksum_ipv4(s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.verify_checksum_ipv6(s, d),
            _ => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::SRC_PORT.start, value)
    }

    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::DST_PORT.start, value)
    }

    #[inline]
    pub fn set_len(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    #[inline]
    fn finish(&mut self, ph: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[ph, self.sum()]);
        // 0 means "no checksum": a computed zero is sent as its other representation.
        self.set_checksum(if c == 0 { 0xffff } else { c })
    }

    /// Computes the checksum with the IPv4 pseudo header (over the `len()` bytes).
    #[inline]
    pub fn fill_checksum_ipv4(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        let ph = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, u32::from(self.len()));
        self.finish(ph)
    }

    /// Computes the checksum with the IPv6 pseudo header.
    #[inline]
    pub fn fill_checksum_ipv6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len()));
        self.finish(ph)
    }

    /// Dispatches on the address family. Mixed families are a caller bug: the checksum is
    /// written as 0, which an IPv4 receiver accepts as "none" and an IPv6 receiver rejects.
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.fill_checksum_ipv4(s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.fill_checksum_ipv6(s, d),
            _ => self.set_checksum(0),
        }
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The value form of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Data bytes after the header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked datagram and verifies its checksum against the pseudo header of
    /// `src`/`dst` ([`Error::Checksum`]; zero is accepted over IPv4 only).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum { proto: Proto::Udp });
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// Header + payload length.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes ports and length and zeroes the checksum; for in-place encapsulation, where the
    /// payload is already there: follow with `fill_checksum*`.
    #[inline]
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut UdpPacket<T>) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.set_checksum(0);
    }

    /// Writes the header, copies `payload` (must be `payload_len` bytes) and fills the
    /// checksum. The buffer must be at least `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: &IpAddr,
        dst: &IpAddr,
        payload: &[u8],
    ) {
        self.emit_header(packet);
        packet.payload_mut().copy_from_slice(payload);
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // UDP part of scapy 2.5: IP(src="192.0.2.1", dst="198.51.100.7", ...)
    //   /UDP(sport=1701, dport=1701)/b"hello"  (checksum 0xc27b)
    const V4_UDP: [u8; 13] = [
        0x06, 0xa5, 0x06, 0xa5, 0x00, 0x0d, 0xc2, 0x7b, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
    ];
    // UDP part of scapy 2.5: IPv6(src="2001:db8::1", dst="2001:db8::2", ...)
    //   /UDP(sport=546, dport=547)/b"dhcp"  (checksum 0xd843)
    const V6_UDP: [u8; 12] = [
        0x02, 0x22, 0x02, 0x23, 0x00, 0x0c, 0xd8, 0x43, 0x64, 0x68, 0x63, 0x70,
    ];

    fn v4() -> (IpAddr, IpAddr) {
        (
            Ipv4Addr::new(192, 0, 2, 1).into(),
            Ipv4Addr::new(198, 51, 100, 7).into(),
        )
    }
    fn v6() -> (IpAddr, IpAddr) {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    }

    #[test]
    fn parse_real_v4() {
        let (s, d) = v4();
        let p = UdpPacket::new_checked(&V4_UDP[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (1701, 1701, 13));
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(&s, &d));
        assert!(!p.verify_checksum(&Ipv4Addr::new(192, 0, 2, 9).into(), &d));
        let r = UdpRepr::parse(&p, &s, &d).unwrap();
        assert_eq!(
            r,
            UdpRepr {
                src_port: 1701,
                dst_port: 1701,
                payload_len: 5
            }
        );
        let mut buf = [0u8; 13];
        r.emit(
            &mut UdpPacket::new_unchecked(&mut buf[..]),
            &s,
            &d,
            b"hello",
        );
        assert_eq!(buf, V4_UDP);
    }

    #[test]
    fn parse_real_v6() {
        let (s, d) = v6();
        let p = UdpPacket::new_checked(&V6_UDP[..]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        let r = UdpRepr::parse(&p, &s, &d).unwrap();
        let mut buf = [0u8; 12];
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), &s, &d, b"dhcp");
        assert_eq!(buf, V6_UDP);
    }

    #[test]
    fn zero_checksum_rules() {
        let mut b = V4_UDP;
        b[6] = 0;
        b[7] = 0;
        let (s, d) = v4();
        assert!(UdpRepr::parse(&UdpPacket::new_checked(&b[..]).unwrap(), &s, &d).is_ok());
        let mut b = V6_UDP;
        b[6] = 0;
        b[7] = 0;
        let (s, d) = v6();
        assert_eq!(
            UdpRepr::parse(&UdpPacket::new_checked(&b[..]).unwrap(), &s, &d),
            Err(Error::Checksum { proto: Proto::Udp })
        );
        // Mixed families never verify.
        let (s4, _) = v4();
        assert!(!UdpPacket::new_checked(&V6_UDP[..])
            .unwrap()
            .verify_checksum(&s4, &d));
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Find a payload word that makes the computed checksum zero, then check it is 0xffff.
        let (s, d) = v4();
        let mut b = [0u8; 10];
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 2,
        };
        r.emit(&mut UdpPacket::new_unchecked(&mut b[..]), &s, &d, &[0, 0]);
        let c0 = u16::from_be_bytes([b[6], b[7]]);
        // Adding c0 to the data makes the sum 0xffff, i.e. checksum 0 → must become 0xffff.
        let mut p = UdpPacket::new_unchecked(&mut b[..]);
        p.payload_mut().copy_from_slice(&c0.to_be_bytes());
        p.fill_checksum(&s, &d);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&s, &d));
    }

    #[test]
    fn malformed_lengths() {
        assert!(matches!(
            UdpPacket::new_checked(&V4_UDP[..7]),
            Err(Error::Truncated { needed: 8, .. })
        ));
        let mut b = V4_UDP;
        b[5] = 7;
        assert!(matches!(
            UdpPacket::new_checked(&b[..]),
            Err(Error::Malformed { value: 7, .. })
        ));
        b[5] = 14;
        assert!(matches!(
            UdpPacket::new_checked(&b[..]),
            Err(Error::Truncated {
                needed: 14,
                got: 13,
                ..
            })
        ));
        // Shorter length than the buffer: the rest is not payload.
        b[5] = 10;
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap().payload(), b"he");
        let mut bad = V4_UDP;
        bad[12] ^= 0xff;
        let (s, d) = v4();
        assert!(UdpRepr::parse(&UdpPacket::new_checked(&bad[..]).unwrap(), &s, &d).is_err());
    }

    proptest! {
        #[test]
        fn repr_round_trip(sp in any::<u16>(), dp in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..100),
                           s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(), s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(), six in any::<bool>()) {
            let (s, d): (IpAddr, IpAddr) = if six {
                (Ipv6Addr::from(s6).into(), Ipv6Addr::from(d6).into())
            } else {
                (Ipv4Addr::from(s4).into(), Ipv4Addr::from(d4).into())
            };
            let r = UdpRepr { src_port: sp, dst_port: dp, payload_len: payload.len() };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), &s, &d, &payload);
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_ne!(p.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&p, &s, &d).unwrap(), r);
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let (s, d) = v4();
            let (s6, d6) = v6();
            if let Ok(p) = UdpPacket::new_checked(&data[..]) {
                let _ = (p.src_port(), p.dst_port(), p.payload());
                let _ = UdpRepr::parse(&p, &s, &d);
                let _ = UdpRepr::parse(&p, &s6, &d6);
            }
        }
    }
}
