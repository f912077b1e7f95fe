//! The PPPoE header (RFC 2516 §4), for discovery (EtherType 0x8863,
//! [`EtherType::PppoeDiscovery`](super::EtherType::PppoeDiscovery)) and session frames
//! (0x8864, [`EtherType::PppoeSession`](super::EtherType::PppoeSession)).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |  VER  | TYPE  |      CODE     |          SESSION_ID           |
//! |            LENGTH             |           payload ~
//! ```
//!
//! [`PppoeHeader::new_checked`] validates VER = 1 and TYPE = 1 (anything else is another
//! version: [`Error::Unsupported`]) and that the LENGTH field (the payload's length) fits in
//! the buffer ([`Error::Truncated`]); [`PppoeHeader::payload`] is bounded by LENGTH, so the
//! Ethernet padding of short frames is excluded. Unknown codes are kept as
//! [`Code::Unknown`]. In a session frame the payload is a PPP frame starting at its protocol
//! field (§7); [`PppoeHeader::ppp_protocol`] reads it with [`super::ppp`].
//!
//! Not implemented here: the discovery TAGs (§A) and every rule of the discovery stage
//! (which code may carry which session id, AC-Cookie, ...): they belong to a PPPoE engine in
//! `controlplane` (`pppoe/{wire,engine,driver}`), on top of this header. The MRU limits of
//! RFC 4638 are not checked.

use super::{need, Error, Field, Proto, Rest, Result};

mod field {
    use super::{Field, Rest};
    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SESSION_ID: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const PAYLOAD: Rest = 6..;
}

/// Length of the PPPoE header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;
/// The only version (high nibble of the first byte) and type (low nibble) of RFC 2516.
const VER_TYPE: u8 = 0x11;

/// The CODE field (RFC 2516 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 0x00: a session frame (EtherType 0x8864) carrying PPP.
    SessionData,
    /// 0x09: PPPoE Active Discovery Initiation (host, broadcast).
    Padi,
    /// 0x07: Active Discovery Offer (access concentrator).
    Pado,
    /// 0x19: Active Discovery Request (host).
    Padr,
    /// 0x65: Active Discovery Session-confirmation (access concentrator; assigns the id).
    Pads,
    /// 0xa7: Active Discovery Terminate (either side).
    Padt,
    Unknown(u8),
}

impl From<u8> for Code {
    fn from(v: u8) -> Self {
        match v {
            0x00 => Code::SessionData,
            0x09 => Code::Padi,
            0x07 => Code::Pado,
            0x19 => Code::Padr,
            0x65 => Code::Pads,
            0xa7 => Code::Padt,
            other => Code::Unknown(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(v: Code) -> u8 {
        match v {
            Code::SessionData => 0x00,
            Code::Padi => 0x09,
            Code::Pado => 0x07,
            Code::Padr => 0x19,
            Code::Pads => 0x65,
            Code::Padt => 0xa7,
            Code::Unknown(other) => other,
        }
    }
}

/// A read/write view of a PPPoE frame's payload (after the Ethernet header and any tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppoeHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PppoeHeader<T> {
    /// Wraps without checks; call [`check_len`](Self::check_len) before reading the fields.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        PppoeHeader { buffer }
    }

    /// Wraps and validates version, type and the LENGTH field (see the module docs).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates (see [`new_checked`](Self::new_checked)).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::Pppoe, HEADER_LEN, len)?;
        for (field, value) in [("version", self.version()), ("type", self.pppoe_type())] {
            if value != 1 {
                return Err(Error::Unsupported {
                    proto: Proto::Pppoe,
                    field,
                    value: u32::from(value),
                });
            }
        }
        need(
            Proto::Pppoe,
            HEADER_LEN + usize::from(self.payload_len()),
            len,
        )
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// VER (high nibble of the first byte); 1 after `new_checked`.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// TYPE (low nibble of the first byte); 1 after `new_checked`.
    #[inline]
    pub fn pppoe_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    #[inline]
    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref()[field::CODE])
    }

    /// SESSION_ID (0 in PADI/PADO/PADR; assigned by the PADS).
    #[inline]
    pub fn session_id(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::SESSION_ID.start)
    }

    /// LENGTH: bytes of payload after the 6-byte header.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The payload, LENGTH bytes (discovery TAGs, or a session's PPP frame).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[field::PAYLOAD.start..end]
    }

    /// The PPP protocol field of a session frame: `(protocol, PPP header length)`, as
    /// [`ppp::parse`](super::ppp::parse) reads it from the payload. A frame whose CODE is not
    /// session data (0x00, RFC 2516 §5) carries no PPP: [`Error::Malformed`].
    pub fn ppp_protocol(&self) -> Result<(u16, usize)> {
        let code = self.code();
        if code != Code::SessionData {
            return Err(Error::Malformed {
                proto: Proto::Pppoe,
                reason: "PPP protocol asked of a frame that is not session data; code",
                value: u32::from(u8::from(code)),
            });
        }
        super::ppp::parse(self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PppoeHeader<T> {
    /// Writes VER = 1, TYPE = 1.
    #[inline]
    pub fn set_version_and_type(&mut self) {
        self.buffer.as_mut()[field::VER_TYPE] = VER_TYPE;
    }

    #[inline]
    pub fn set_code(&mut self, value: Code) {
        self.buffer.as_mut()[field::CODE] = value.into();
    }

    #[inline]
    pub fn set_session_id(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::SESSION_ID.start, value)
    }

    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    /// Everything after the header (not bounded by LENGTH: the caller is writing it).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The PPPoE header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PppoeRepr {
    pub code: Code,
    pub session_id: u16,
    /// The LENGTH field: bytes of payload after the header.
    pub payload_len: u16,
}

impl PppoeRepr {
    /// Reads the header of a packet (validating it as [`PppoeHeader::new_checked`] does).
    pub fn parse<T: AsRef<[u8]>>(packet: &PppoeHeader<T>) -> Result<PppoeRepr> {
        packet.check_len()?;
        Ok(PppoeRepr {
            code: packet.code(),
            session_id: packet.session_id(),
            payload_len: packet.payload_len(),
        })
    }

    /// Header length when emitted (always 6).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 6-byte header (every byte of it) into a buffer of at least
    /// [`HEADER_LEN`] bytes; the payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut PppoeHeader<T>) {
        packet.set_version_and_type();
        packet.set_code(self.code);
        packet.set_session_id(self.session_id);
        packet.set_payload_len(self.payload_len);
    }
}

#[cfg(test)]
mod tests {
    use super::super::ethernet::{EtherType, EthernetFrame};
    use super::super::ppp::protocol;
    use super::*;
    use proptest::prelude::*;

    // Frames built with scapy 2.5 (scapy.layers.ppp), `bytes(...)` of:
    // Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")/PPPoED(code=0x09, sessionid=0)
    //   /PPPoED_Tags(tag_list=[PPPoETag(tag_type=0x0101, tag_value=b""),
    //                          PPPoETag(tag_type=0x0103, tag_value=b"\x12\x34\x56\x78")])
    const PADI: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x63, 0x11,
        0x09, 0x00, 0x00, 0x00, 0x0c, 0x01, 0x01, 0x00, 0x00, 0x01, 0x03, 0x00, 0x04, 0x12, 0x34,
        0x56, 0x78,
    ];
    // Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")/PPPoED(code=0x65, sessionid=0x2a)
    //   /PPPoED_Tags(tag_list=[PPPoETag(tag_type=0x0101, tag_value=b"")])
    const PADS: [u8; 24] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88, 0x63, 0x11,
        0x65, 0x00, 0x2a, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00,
    ];
    // Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")/PPPoED(code=0xa7, sessionid=0x2a)
    const PADT: [u8; 20] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x63, 0x11,
        0xa7, 0x00, 0x2a, 0x00, 0x00,
    ];
    // Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")/PPPoE(sessionid=0x2a)
    //   /PPP(proto=0x0021)/IP(src="10.0.0.1", dst="10.0.0.2", id=1)/ICMP(id=7, seq=1)
    // (scapy writes the protocol field compressed to one byte, 0x21).
    const SESSION_IPV4: [u8; 49] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x64, 0x11,
        0x00, 0x00, 0x2a, 0x00, 0x1d, 0x21, 0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40,
        0x01, 0x66, 0xde, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0xf7, 0xf7,
        0x00, 0x07, 0x00, 0x01,
    ];
    // Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")/PPPoE(sessionid=0x2a)
    //   /PPP(proto=0xc021)/b"\x01\x01\x00\x04"   (an LCP Configure-Request)
    const SESSION_LCP: [u8; 26] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x64, 0x11,
        0x00, 0x00, 0x2a, 0x00, 0x06, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04,
    ];

    /// The PPPoE header of an Ethernet frame, with the frame's EtherType.
    fn pppoe(frame: &[u8]) -> (EtherType, PppoeHeader<&[u8]>) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        (
            eth.ethertype(),
            PppoeHeader::new_checked(&frame[14..]).unwrap(),
        )
    }

    #[test]
    fn discovery_frames() {
        let (et, p) = pppoe(&PADI);
        assert_eq!(et, EtherType::PppoeDiscovery);
        assert_eq!((p.version(), p.pppoe_type()), (1, 1));
        assert_eq!(
            (p.code(), p.session_id(), p.payload_len()),
            (Code::Padi, 0, 12)
        );
        assert_eq!(p.payload(), &PADI[20..], "the two TAGs");
        let (_, p) = pppoe(&PADS);
        assert_eq!(
            (p.code(), p.session_id(), p.payload()),
            (Code::Pads, 0x2a, &PADS[20..])
        );
        let (_, p) = pppoe(&PADT);
        assert_eq!((p.code(), p.session_id()), (Code::Padt, 0x2a));
        assert!(p.payload().is_empty());
        assert!(matches!(p.ppp_protocol(), Err(Error::Malformed { .. })));
    }

    #[test]
    fn session_frames() {
        let (et, p) = pppoe(&SESSION_IPV4);
        assert_eq!(et, EtherType::PppoeSession);
        assert_eq!(
            (p.code(), p.session_id(), p.payload_len()),
            (Code::SessionData, 0x2a, 29)
        );
        assert_eq!(p.ppp_protocol(), Ok((protocol::IPV4, 1)));
        assert_eq!(p.payload()[1], 0x45, "the IPv4 header follows");
        let (_, p) = pppoe(&SESSION_LCP);
        assert_eq!(p.ppp_protocol(), Ok((protocol::LCP, 2)));
        assert_eq!(&p.payload()[2..], &[0x01, 0x01, 0x00, 0x04]);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        // The LCP frame as a NIC delivers it: padded to the 60-byte Ethernet minimum.
        let mut padded = SESSION_LCP.to_vec();
        padded.resize(60, 0);
        let (_, p) = pppoe(&padded);
        assert_eq!(p.payload(), &SESSION_LCP[20..]);
    }

    #[test]
    fn malformed_headers() {
        let hdr = &SESSION_LCP[14..];
        assert_eq!(
            PppoeHeader::new_checked(&hdr[..5]),
            Err(Error::Truncated {
                proto: Proto::Pppoe,
                needed: 6,
                got: 5
            })
        );
        // The payload cut short: LENGTH 6, 5 bytes left.
        assert_eq!(
            PppoeHeader::new_checked(&hdr[..11]),
            Err(Error::Truncated {
                proto: Proto::Pppoe,
                needed: 12,
                got: 11
            })
        );
        // LENGTH past the end of the frame.
        let mut long = hdr.to_vec();
        long[5] = 0x07;
        assert!(matches!(
            PppoeHeader::new_checked(&long[..]),
            Err(Error::Truncated { needed: 13, .. })
        ));
        // Version 2, type 2.
        for (b, field) in [(0x21u8, "version"), (0x12, "type")] {
            let mut v = hdr.to_vec();
            v[0] = b;
            assert_eq!(
                PppoeHeader::new_checked(&v[..]),
                Err(Error::Unsupported {
                    proto: Proto::Pppoe,
                    field,
                    value: 2
                })
            );
        }
        // A session frame whose PPP protocol field is cut (LENGTH 1, even first byte).
        let cut = [0x11, 0x00, 0x00, 0x2a, 0x00, 0x01, 0x00];
        let p = PppoeHeader::new_checked(&cut[..]).unwrap();
        assert!(matches!(p.ppp_protocol(), Err(Error::Truncated { .. })));
    }

    #[test]
    fn emit_writes_every_header_byte() {
        let mut b = [0xeeu8; 6];
        let r = PppoeRepr {
            code: Code::Pads,
            session_id: 0x2a,
            payload_len: 4,
        };
        r.emit(&mut PppoeHeader::new_unchecked(&mut b[..]));
        assert_eq!(b, PADS[14..20]);
    }

    proptest! {
        #[test]
        fn repr_round_trip(code in any::<u8>(), session_id in any::<u16>(),
                           payload in proptest::collection::vec(any::<u8>(), 0..64),
                           padding in 0usize..8) {
            let r = PppoeRepr { code: Code::from(code), session_id, payload_len: payload.len() as u16 };
            prop_assert_eq!(u8::from(r.code), code);
            let mut b = vec![0u8; r.buffer_len() + payload.len() + padding];
            let mut p = PppoeHeader::new_unchecked(&mut b[..]);
            r.emit(&mut p);
            p.payload_mut()[..payload.len()].copy_from_slice(&payload);
            let p = PppoeHeader::new_checked(&b[..]).unwrap();
            prop_assert_eq!(PppoeRepr::parse(&p), Ok(r));
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..32).prop_map(|mut v| {
            // Mostly version 1 / type 1, so that the getters are reached.
            if let Some(x) = v.first_mut() { if *x & 0x80 == 0 { *x = 0x11 } }
            v
        })) {
            if let Ok(p) = PppoeHeader::new_checked(&b[..]) {
                let _ = (p.code(), p.session_id(), p.ppp_protocol());
                prop_assert_eq!(p.payload().len(), usize::from(p.payload_len()));
            }
        }
    }
}
