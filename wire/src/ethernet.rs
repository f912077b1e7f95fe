//! Ethernet II frames (IEEE 802.3 clause 3.2.6 with an EtherType).
//!
//! Implemented: destination, source, EtherType, payload. Not implemented: 802.3 length-field
//! frames with LLC/SNAP (an EtherType value below 0x0600 is returned as `Unknown(len)`), the FCS
//! (NICs strip it). 802.1Q / 802.1ad tags are in [`super::vlan`]; the EtherType of a tagged
//! frame is `Vlan` / `QinQ` and the tag is the start of `payload()`.

use core::fmt;
use core::str::FromStr;

use super::{need, Error, Field, Proto, Rest, Result};

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Reads an address from the first 6 bytes of `data`; `None` if shorter.
    #[inline]
    pub fn from_bytes(data: &[u8]) -> Option<EthernetAddress> {
        let b: [u8; 6] = data.get(..6)?.try_into().ok()?;
        Some(EthernetAddress(b))
    }

    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    #[inline]
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }

    /// Group bit set (includes broadcast).
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Locally administered bit set.
    #[inline]
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for EthernetAddress {
    type Err = Error;

    /// Accepts `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (hex, either case, two digits each).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::Malformed {
            proto: Proto::Text,
            reason,
            value: s.len() as u32,
        };
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(sep) {
            if n == 6 {
                return Err(bad(
                    "MAC address has more than 6 octets, expected aa:bb:cc:dd:ee:ff",
                ));
            }
            if part.len() != 2 {
                return Err(bad(
                    "MAC address octet is not two hex digits, expected aa:bb:cc:dd:ee:ff",
                ));
            }
            out[n] = u8::from_str_radix(part, 16)
                .map_err(|_| bad("MAC address octet is not hex, expected aa:bb:cc:dd:ee:ff"))?;
            n += 1;
        }
        if n != 6 {
            return Err(bad(
                "MAC address has fewer than 6 octets, expected aa:bb:cc:dd:ee:ff",
            ));
        }
        Ok(EthernetAddress(out))
    }
}

/// EtherType values the appliance cares about; everything else is kept as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EtherType {
    Ipv4,
    Arp,
    /// 802.1Q customer tag (C-tag).
    Vlan,
    /// 802.1ad service tag (S-tag).
    QinQ,
    Ipv6,
    Mpls,
    MplsMulticast,
    PppoeDiscovery,
    PppoeSession,
    Unknown(u16),
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            0x86dd => EtherType::Ipv6,
            0x8847 => EtherType::Mpls,
            0x8848 => EtherType::MplsMulticast,
            0x8863 => EtherType::PppoeDiscovery,
            0x8864 => EtherType::PppoeSession,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88a8,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Mpls => 0x8847,
            EtherType::MplsMulticast => 0x8848,
            EtherType::PppoeDiscovery => 0x8863,
            EtherType::PppoeSession => 0x8864,
            EtherType::Unknown(other) => other,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
            known => write!(f, "{known:?}"),
        }
    }
}

mod field {
    use super::{Field, Rest};
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// Length of an Ethernet II header (no tags).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checks; getters may panic if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// `Err(Truncated)` if the buffer cannot hold the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        need(Proto::Ethernet, HEADER_LEN, self.buffer.as_ref().len())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub const fn header_len() -> usize {
        HEADER_LEN
    }

    /// Frame length for a payload of `payload_len` bytes.
    #[inline]
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let d = self.buffer.as_ref();
        let mut a = [0u8; 6];
        a.copy_from_slice(&d[field::DESTINATION]);
        EthernetAddress(a)
    }

    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let d = self.buffer.as_ref();
        let mut a = [0u8; 6];
        a.copy_from_slice(&d[field::SOURCE]);
        EthernetAddress(a)
    }

    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(super::get_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Everything after the 14-byte header (a VLAN tag, if the EtherType says so).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0)
    }

    #[inline]
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0)
    }

    #[inline]
    pub fn set_ethertype(&mut self, value: EtherType) {
        super::set_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value.into())
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The value form of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub src_addr: EthernetAddress,
    pub dst_addr: EthernetAddress,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame. Cannot fail once `new_checked` succeeded; returns
    /// `Result` for symmetry and for frames built with `new_unchecked`.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; the frame must be at least [`HEADER_LEN`] long.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // scapy 2.5: bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")/ARP()) [:14]
    // followed by 4 payload bytes.
    const FRAME: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00,
    ];

    #[test]
    fn parse_real_frame() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
        assert!(f.dst_addr().is_broadcast() && f.dst_addr().is_multicast());
        assert_eq!(f.src_addr(), "02:00:00:00:00:01".parse().unwrap());
        assert!(f.src_addr().is_local() && f.src_addr().is_unicast());
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn emit_matches_real_frame() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&FRAME[..]).unwrap()).unwrap();
        let mut buf = [0xaau8; 18];
        let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&[0x00, 0x01, 0x08, 0x00]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]),
            Err(Error::Truncated {
                proto: Proto::Ethernet,
                needed: 14,
                got: 13
            })
        );
        assert!(EthernetFrame::new_checked(&FRAME[..14])
            .unwrap()
            .payload()
            .is_empty());
    }

    #[test]
    fn mac_text() {
        let a: EthernetAddress = "00:1B:21:aa:bb:0c".parse().unwrap();
        assert_eq!(a.to_string(), "00:1b:21:aa:bb:0c");
        assert_eq!("00-1b-21-aa-bb-0c".parse::<EthernetAddress>().unwrap(), a);
        for bad in [
            "",
            "00:1b:21:aa:bb",
            "00:1b:21:aa:bb:0c:01",
            "00:1b:21:aa:bb:0g",
            "0:1b:21:aa:bb:0c",
        ] {
            assert!(bad.parse::<EthernetAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ethertypes_round_trip() {
        for v in [
            0x0800u16, 0x0806, 0x8100, 0x88a8, 0x86dd, 0x8847, 0x8848, 0x8863, 0x8864, 0x1234,
        ] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
        assert_eq!(EtherType::from(0x0800), EtherType::Ipv4);
        assert_eq!(EtherType::from(0x0042), EtherType::Unknown(0x42));
    }

    proptest! {
        #[test]
        fn repr_round_trip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), et in any::<u16>()) {
            let repr = EthernetRepr {
                src_addr: EthernetAddress(src),
                dst_addr: EthernetAddress(dst),
                ethertype: EtherType::from(et),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
            let parsed = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap()).unwrap();
            prop_assert_eq!(parsed, repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = EthernetFrame::new_checked(&data[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload());
                let _ = EthernetRepr::parse(&f);
            }
        }

        #[test]
        fn mac_display_parse(b in any::<[u8; 6]>()) {
            let a = EthernetAddress(b);
            prop_assert_eq!(a.to_string().parse::<EthernetAddress>().unwrap(), a);
        }
    }
}
