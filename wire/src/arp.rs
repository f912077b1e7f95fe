//! ARP (RFC 826).
//!
//! The view reads any hardware/protocol address lengths (addresses are located from HLEN and
//! PLEN, and `new_checked` makes sure they fit). [`ArpRepr`] implements only Ethernet/IPv4 —
//! hardware type 1, protocol type 0x0800, HLEN 6, PLEN 4 — and returns
//! [`Error::Unsupported`] for anything else. Operations other than request (1) and reply (2)
//! (RARP, InARP) are kept as `ArpOperation::Unknown`. Not implemented: RFC 5227 probe/announce
//! classification (a probe is a request with sender IP 0.0.0.0; the engine can see that).

use std::net::Ipv4Addr;

use super::ethernet::{EtherType, EthernetAddress};
use super::{need, Error, Field, Proto, Result};

/// ARP operation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            o => ArpOperation::Unknown(o),
        }
    }
}

impl From<ArpOperation> for u16 {
    #[inline]
    fn from(v: ArpOperation) -> u16 {
        match v {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(o) => o,
        }
    }
}

mod field {
    #![allow(non_snake_case)]
    use super::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;

    #[inline]
    pub const fn SHA(hlen: u8, _plen: u8) -> Field {
        let start = OPER.end;
        start..(start + hlen as usize)
    }
    #[inline]
    pub const fn SPA(hlen: u8, plen: u8) -> Field {
        let start = SHA(hlen, plen).end;
        start..(start + plen as usize)
    }
    #[inline]
    pub const fn THA(hlen: u8, plen: u8) -> Field {
        let start = SPA(hlen, plen).end;
        start..(start + hlen as usize)
    }
    #[inline]
    pub const fn TPA(hlen: u8, plen: u8) -> Field {
        let start = THA(hlen, plen).end;
        start..(start + plen as usize)
    }
}

/// Fixed part of the ARP header (before the addresses).
pub const FIXED_LEN: usize = field::OPER.end;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = FIXED_LEN + 2 * (6 + 4);

/// Hardware type Ethernet (RFC 826 / IANA).
pub const HTYPE_ETHERNET: u16 = 1;

/// A read/write view of an ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer holding the fixed part and all four addresses its HLEN/PLEN announce.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::Arp, FIXED_LEN, len)?;
        need(
            Proto::Arp,
            field::TPA(self.hardware_len(), self.protocol_len()).end,
            len,
        )
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::HTYPE.start)
    }

    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(super::get_u16(self.buffer.as_ref(), field::PTYPE.start))
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    #[inline]
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(super::get_u16(self.buffer.as_ref(), field::OPER.start))
    }

    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SHA(self.hardware_len(), self.protocol_len())]
    }

    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SPA(self.hardware_len(), self.protocol_len())]
    }

    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::THA(self.hardware_len(), self.protocol_len())]
    }

    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TPA(self.hardware_len(), self.protocol_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::HTYPE.start, value)
    }

    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        super::set_u16(self.buffer.as_mut(), field::PTYPE.start, value.into())
    }

    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value
    }

    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value
    }

    #[inline]
    pub fn set_operation(&mut self, value: ArpOperation) {
        super::set_u16(self.buffer.as_mut(), field::OPER.start, value.into())
    }

    /// Address setters copy `value` into the slot HLEN/PLEN define; `value` must have that length.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        let r = field::SHA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value)
    }

    #[inline]
    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        let r = field::SPA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value)
    }

    #[inline]
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        let r = field::THA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value)
    }

    #[inline]
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        let r = field::TPA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value)
    }
}

/// The value form of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub source_hardware_addr: EthernetAddress,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: EthernetAddress,
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 ARP packet; other hardware/protocol combinations are
    /// `Unsupported`. Trailing bytes (Ethernet padding to 60 bytes) are ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        let unsupported = |field, value: u32| {
            Err(Error::Unsupported {
                proto: Proto::Arp,
                field,
                value,
            })
        };
        if packet.hardware_type() != HTYPE_ETHERNET {
            return unsupported(
                "hardware type (only 1, Ethernet)",
                u32::from(packet.hardware_type()),
            );
        }
        if packet.protocol_type() != EtherType::Ipv4 {
            return unsupported(
                "protocol type (only 0x0800, IPv4)",
                u32::from(u16::from(packet.protocol_type())),
            );
        }
        if packet.hardware_len() != 6 {
            return unsupported(
                "hardware address length (only 6)",
                u32::from(packet.hardware_len()),
            );
        }
        if packet.protocol_len() != 4 {
            return unsupported(
                "protocol address length (only 4)",
                u32::from(packet.protocol_len()),
            );
        }
        let v4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        let mac = |b: &[u8]| EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]]);
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: mac(packet.source_hardware_addr()),
            source_protocol_addr: v4(packet.source_protocol_addr()),
            target_hardware_addr: mac(packet.target_hardware_addr()),
            target_protocol_addr: v4(packet.target_protocol_addr()),
        })
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes all 28 bytes; the buffer must be at least [`ETHERNET_IPV4_LEN`] long.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr.0);
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(&self.target_hardware_addr.0);
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // scapy 2.5: ARP(op=1, hwsrc="02:00:00:00:00:01", psrc="192.0.2.1",
    //                hwdst="00:00:00:00:00:00", pdst="192.0.2.2")
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc0,
        0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x02,
    ];
    // scapy 2.5: ARP(op=2, hwsrc="02:00:00:00:00:02", psrc="192.0.2.2",
    //                hwdst="02:00:00:00:00:01", pdst="192.0.2.1")
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0,
        0x00, 0x02, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01,
    ];

    #[test]
    fn parse_real_request_and_reply() {
        let r = ArpRepr::parse(&ArpPacket::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.source_hardware_addr, EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.source_protocol_addr, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(r.target_hardware_addr, EthernetAddress([0; 6]));
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(192, 0, 2, 2));
        let mut buf = [0xeeu8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);

        let r = ArpRepr::parse(&ArpPacket::new_checked(&REPLY[..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Reply);
        assert_eq!(r.target_hardware_addr, EthernetAddress([2, 0, 0, 0, 0, 1]));
        let mut buf = [0u8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REPLY);
    }

    #[test]
    fn padded_frame_is_accepted() {
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&REQUEST);
        let r = ArpRepr::parse(&ArpPacket::new_checked(&padded[..]).unwrap()).unwrap();
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(192, 0, 2, 2));
    }

    #[test]
    fn truncated_and_unsupported() {
        assert!(matches!(
            ArpPacket::new_checked(&REQUEST[..7]),
            Err(Error::Truncated { needed: 8, .. })
        ));
        assert!(matches!(
            ArpPacket::new_checked(&REQUEST[..27]),
            Err(Error::Truncated { needed: 28, .. })
        ));
        // HLEN 255 / PLEN 255 claims 8 + 2 * 510 bytes.
        let mut big = REQUEST;
        big[4] = 255;
        big[5] = 255;
        assert!(matches!(
            ArpPacket::new_checked(&big[..]),
            Err(Error::Truncated { needed: 1028, .. })
        ));
        for (at, v) in [(1usize, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = [0u8; 64];
            b[..28].copy_from_slice(&REQUEST);
            b[at] = v;
            let p = ArpPacket::new_checked(&b[..]).unwrap();
            assert!(
                matches!(ArpRepr::parse(&p), Err(Error::Unsupported { .. })),
                "byte {at}={v}"
            );
        }
        // Hardware length 0 is not Ethernet but must not panic.
        let mut zero = REQUEST;
        zero[4] = 0;
        let p = ArpPacket::new_checked(&zero[..]).unwrap();
        assert!(p.source_hardware_addr().is_empty());
        assert!(ArpRepr::parse(&p).is_err());
    }

    #[test]
    fn unknown_operation_is_kept() {
        let mut b = REQUEST;
        b[7] = 8; // InARP request
        let r = ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Unknown(8));
    }

    proptest! {
        #[test]
        fn repr_round_trip(op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<[u8; 4]>(),
                           tha in any::<[u8; 6]>(), tpa in any::<[u8; 4]>()) {
            let repr = ArpRepr {
                operation: ArpOperation::from(op),
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = ArpPacket::new_checked(&data[..]) {
                let _ = (p.hardware_type(), p.protocol_type(), p.operation());
                let _ = (p.source_hardware_addr(), p.source_protocol_addr());
                let _ = (p.target_hardware_addr(), p.target_protocol_addr());
                let _ = ArpRepr::parse(&p);
            }
        }
    }
}
