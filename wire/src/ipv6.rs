//! IPv6 fixed header (RFC 8200 §3).
//!
//! `Ipv6Packet::new_checked` validates: buffer ≥ 40 bytes, version 6, 40 + payload length ≤
//! buffer (longer buffers — Ethernet padding — are accepted; `payload()` ends at the payload
//! length). Not implemented yet: extension headers are **not walked** — `next_header()` is the
//! fixed header's, and `payload()` begins right after the 40-byte header, so a hop-by-hop,
//! routing, fragment or destination-options header is seen as the payload. Jumbograms
//! (RFC 2675, payload length 0 with a jumbo option) are not supported: payload length 0 means
//! an empty payload.

use std::net::Ipv6Addr;

use super::ipv4::IpProtocol;
use super::{need, Error, Field, Proto, Result};

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates length and version (see the module doc).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::Ipv6, HEADER_LEN, len)?;
        if self.version() != 6 {
            return Err(Error::Malformed {
                proto: Proto::Ipv6,
                reason: "version is not 6",
                value: u32::from(self.version()),
            });
        }
        need(
            Proto::Ipv6,
            HEADER_LEN + usize::from(self.payload_len()),
            len,
        )
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub const fn header_len() -> usize {
        HEADER_LEN
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        super::get_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label, 20 bits.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }

    /// Bytes 40 .. 40 + payload length (extension headers included, see the module doc).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, v: u32) {
        super::set_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, v)
    }

    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let v = (self.ver_tc_flow() & 0x0fff_ffff) | (u32::from(value & 0x0f) << 28);
        self.set_ver_tc_flow(v)
    }

    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let v = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_ver_tc_flow(v)
    }

    /// Sets the flow label (low 20 bits of `value`).
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let v = (self.ver_tc_flow() & 0xfff0_0000) | (value & 0x000f_ffff);
        self.set_ver_tc_flow(v)
    }

    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into()
    }

    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value
    }

    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets())
    }

    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets())
    }

    /// Forwarding step: if the hop limit is ≤ 1 returns [`Error::TtlExpired`] and leaves the
    /// packet untouched (send ICMPv6 time exceeded); otherwise decrements it and returns the
    /// new value. IPv6 has no header checksum.
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> Result<u8> {
        let h = super::decremented(Proto::Ipv6, self.hop_limit())?;
        self.set_hop_limit(h);
        Ok(h)
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The value form of an IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: IpProtocol,
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
}

impl Ipv6Repr {
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr> {
        packet.check_len()?;
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte header; `payload_len` must be ≤ 65535.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_ver_tc_flow(
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff),
        );
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // scapy 2.5: IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64, tc=0xb8, fl=0x12345)
    //   /UDP(sport=546, dport=547)/b"dhcp"
    pub(crate) const UDP_PACKET: [u8; 52] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x0c, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x22, 0x02, 0x23, 0x00,
        0x0c, 0xd8, 0x43, 0x64, 0x68, 0x63, 0x70,
    ];

    #[test]
    fn parse_real_packet() {
        let p = Ipv6Packet::new_checked(&UDP_PACKET[..]).unwrap();
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xb8, 0x12345)
        );
        assert_eq!(
            (p.payload_len(), p.next_header(), p.hop_limit()),
            (12, IpProtocol::Udp, 64)
        );
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &UDP_PACKET[40..]);
        let r = Ipv6Repr::parse(&p).unwrap();
        let mut buf = [0xaau8; 40];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, UDP_PACKET[..40]);
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            Ipv6Packet::new_checked(&UDP_PACKET[..39]),
            Err(Error::Truncated { needed: 40, .. })
        ));
        assert!(matches!(
            Ipv6Packet::new_checked(&UDP_PACKET[..51]),
            Err(Error::Truncated { needed: 52, .. })
        ));
        let mut b = UDP_PACKET;
        b[0] = 0x4b;
        assert!(matches!(
            Ipv6Packet::new_checked(&b[..]),
            Err(Error::Malformed { value: 4, .. })
        ));
        // Padding after the payload is not payload.
        let mut padded = [0u8; 64];
        padded[..52].copy_from_slice(&UDP_PACKET);
        assert_eq!(
            Ipv6Packet::new_checked(&padded[..])
                .unwrap()
                .payload()
                .len(),
            12
        );
    }

    #[test]
    fn hop_limit_helper() {
        for h in [0u8, 1] {
            let mut b = UDP_PACKET;
            b[7] = h;
            let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
            assert_eq!(
                p.decrement_hop_limit(),
                Err(Error::TtlExpired {
                    proto: Proto::Ipv6,
                    ttl: h
                })
            );
            assert_eq!(p.hop_limit(), h);
        }
        let mut b = UDP_PACKET;
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_hop_limit(), Ok(63));
    }

    #[test]
    fn setters_keep_neighbours() {
        let mut b = UDP_PACKET;
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_traffic_class(0x12);
        p.set_flow_label(0xfffff);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x12, 0xfffff)
        );
        p.set_flow_label(0);
        p.set_version(6);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x12, 0)
        );
    }

    proptest! {
        #[test]
        fn repr_round_trip(s in any::<[u8; 16]>(), d in any::<[u8; 16]>(), nh in any::<u8>(),
                           len in 0usize..2000, hl in any::<u8>(), tc in any::<u8>(), fl in 0u32..(1 << 20)) {
            let repr = Ipv6Repr {
                src_addr: Ipv6Addr::from(s), dst_addr: Ipv6Addr::from(d),
                next_header: IpProtocol::from(nh), payload_len: len, hop_limit: hl,
                traffic_class: tc, flow_label: fl,
            };
            let mut buf = vec![0u8; repr.buffer_len() + len];
            repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..120)) {
            if data.len() > 5 {
                data[0] = 0x60 | (data[0] & 0x0f);
                data[4] = 0;
            }
            if let Ok(mut p) = Ipv6Packet::new_checked(&mut data[..]) {
                let _ = (p.traffic_class(), p.flow_label(), p.next_header(), p.src_addr(), p.dst_addr());
                let _ = p.payload().len();
                let _ = Ipv6Repr::parse(&p);
                let _ = p.decrement_hop_limit();
                let _ = p.payload_mut();
            }
        }
    }
}
