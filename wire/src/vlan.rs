//! IEEE 802.1Q VLAN tags (C-tag, TPID 0x8100) and 802.1ad service tags (S-tag, TPID 0x88a8).
//!
//! The view covers the 4 bytes that follow the TPID: the tag control information (PCP 3 bits,
//! DEI 1 bit, VID 12 bits) and the inner EtherType; `payload()` starts after them. The TPID
//! itself is the EtherType of the enclosing header ([`super::EthernetFrame::ethertype`] is
//! `Vlan` or `QinQ`), so for QinQ the payload of the outer tag is the inner tag view again.
//!
//! VID semantics (IEEE 802.1Q-2018 table 9-2):
//! - VID 0: *priority-tagged* frame — no VLAN membership, only the PCP is meaningful; the frame
//!   belongs to the port's untagged VLAN. The view and [`VlanRepr`] accept it; mapping it to the
//!   untagged interface is the interface table's job.
//! - VID 4095 (0xFFF): reserved, "shall not be transmitted in a tag header". The view reads it
//!   (so counters can say what arrived), but [`VlanRepr::parse`] rejects it with
//!   [`Error::Malformed`], so it can never be bound to an interface.

use super::ethernet::EtherType;
use super::{need, Error, Field, Proto, Rest, Result};

mod field {
    use super::{Field, Rest};
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: Rest = 4..;
}

/// Length of the tag (TCI + inner EtherType) after the TPID.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The reserved VID.
pub const VID_RESERVED: u16 = 0xfff;

/// A read/write view of one VLAN tag (after its TPID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanPacket { buffer }
    }

    /// Wraps a buffer of at least [`HEADER_LEN`] bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<()> {
        need(Proto::Vlan, HEADER_LEN, self.buffer.as_ref().len())
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
    fn tci(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// Priority code point (0..=7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (0..=4095; see the module doc for 0 and 4095).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// EtherType of what follows the tag.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(super::get_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanPacket<T> {
    #[inline]
    fn set_tci(&mut self, v: u16) {
        super::set_u16(self.buffer.as_mut(), field::TCI.start, v)
    }

    /// Sets the PCP (only the low 3 bits of `value` are used).
    #[inline]
    pub fn set_pcp(&mut self, value: u8) {
        let t = (self.tci() & 0x1fff) | (u16::from(value & 7) << 13);
        self.set_tci(t)
    }

    #[inline]
    pub fn set_dei(&mut self, value: bool) {
        let t = (self.tci() & !0x1000) | if value { 0x1000 } else { 0 };
        self.set_tci(t)
    }

    /// Sets the VID (only the low 12 bits of `value` are used).
    #[inline]
    pub fn set_vid(&mut self, value: u16) {
        let t = (self.tci() & 0xf000) | (value & 0x0fff);
        self.set_tci(t)
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

/// The value form of a VLAN tag. `vid` is never 4095 in a parsed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a tag; rejects the reserved VID 4095.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &VlanPacket<T>) -> Result<VlanRepr> {
        packet.check_len()?;
        let vid = packet.vid();
        if vid == VID_RESERVED {
            return Err(Error::Malformed {
                proto: Proto::Vlan,
                reason: "VID 4095 is reserved and must not appear in a tag",
                value: u32::from(vid),
            });
        }
        Ok(VlanRepr {
            pcp: packet.pcp(),
            dei: packet.dei(),
            vid,
            ethertype: packet.ethertype(),
        })
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag (PCP masked to 3 bits, VID to 12 bits).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut VlanPacket<T>) {
        let tci = (u16::from(self.pcp & 7) << 13)
            | if self.dei { 0x1000 } else { 0 }
            | (self.vid & 0x0fff);
        packet.set_tci(tci);
        packet.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::super::ethernet::EthernetFrame;
    use super::*;
    use proptest::prelude::*;

    // scapy 2.5: Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
    //   /Dot1Q(prio=5, id=1, vlan=100)/IP(src="10.0.0.1", dst="10.0.0.2")/ICMP(), first 22 bytes.
    const TAGGED: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0xb0,
        0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x1c,
    ];
    // scapy 2.5: Ether(..., type=0x88a8)/Dot1AD(prio=0, vlan=200)/Dot1Q(vlan=4094), first 22 bytes.
    const QINQ: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0xa8, 0x00,
        0xc8, 0x81, 0x00, 0x0f, 0xfe, 0x00, 0x00,
    ];

    #[test]
    fn parse_real_tag() {
        let eth = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Vlan);
        let tag = VlanPacket::new_checked(eth.payload()).unwrap();
        assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (5, true, 100));
        assert_eq!(tag.ethertype(), EtherType::Ipv4);
        assert_eq!(tag.payload()[0], 0x45);
        let repr = VlanRepr::parse(&tag).unwrap();
        let mut buf = [0xffu8; 4];
        repr.emit(&mut VlanPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, TAGGED[14..18]);
    }

    #[test]
    fn parse_real_qinq() {
        let eth = EthernetFrame::new_checked(&QINQ[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::QinQ);
        let outer = VlanPacket::new_checked(eth.payload()).unwrap();
        assert_eq!((outer.vid(), outer.ethertype()), (200, EtherType::Vlan));
        let inner = VlanPacket::new_checked(outer.payload()).unwrap();
        assert_eq!(inner.vid(), 4094);
        assert_eq!(VlanRepr::parse(&inner).unwrap().vid, 4094);
    }

    #[test]
    fn vid_zero_and_reserved() {
        let prio_tagged = [0xa0, 0x00, 0x08, 0x00];
        let r = VlanRepr::parse(&VlanPacket::new_checked(&prio_tagged[..]).unwrap()).unwrap();
        assert_eq!((r.pcp, r.vid), (5, 0));
        let reserved = [0x0f, 0xff, 0x08, 0x00];
        let p = VlanPacket::new_checked(&reserved[..]).unwrap();
        assert_eq!(p.vid(), 4095);
        assert!(matches!(
            VlanRepr::parse(&p),
            Err(Error::Malformed { value: 4095, .. })
        ));
    }

    #[test]
    fn truncated() {
        assert!(matches!(
            VlanPacket::new_checked(&[0x81u8, 0, 8][..]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn setters_keep_other_bits() {
        let mut buf = [0u8; 4];
        let mut p = VlanPacket::new_unchecked(&mut buf[..]);
        p.set_vid(0xabc);
        p.set_pcp(7);
        p.set_dei(true);
        p.set_vid(0x123);
        assert_eq!((p.pcp(), p.dei(), p.vid()), (7, true, 0x123));
        p.set_dei(false);
        assert_eq!((p.pcp(), p.dei(), p.vid()), (7, false, 0x123));
    }

    proptest! {
        #[test]
        fn repr_round_trip(pcp in 0u8..8, dei in any::<bool>(), vid in 0u16..4095, et in any::<u16>()) {
            let repr = VlanRepr { pcp, dei, vid, ethertype: EtherType::from(et) };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut VlanPacket::new_unchecked(&mut buf[..]));
            prop_assert_eq!(VlanRepr::parse(&VlanPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(p) = VlanPacket::new_checked(&data[..]) {
                let _ = (p.pcp(), p.dei(), p.vid(), p.ethertype(), p.payload());
                let _ = VlanRepr::parse(&p);
            }
        }
    }
}
