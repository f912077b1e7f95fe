//! PPPoE discovery TAGs (RFC 2516 Appendix A, RFC 4638 §4) and whole discovery frames.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |          TAG_TYPE             |        TAG_LENGTH             |
//! |          TAG_VALUE ...
//! ```
//!
//! The discovery payload (after the 6-byte header of [`wire::pppoe`]) is a list of TAGs.
//! [`TagIter`] walks it without copying and yields [`RawTag`]s (type, value, offset);
//! [`Tag::parse`] turns one into a value, and [`DiscoveryRepr`] is a whole discovery packet
//! (code, session id, tags) with `parse` and `emit`. Emission writes a complete Ethernet frame
//! (destination, source, optional 802.1Q tag, EtherType 0x8863, header, tags) through
//! [`FrameWriter`], which the discovery engine also uses directly to build its replies
//! without building a `Vec<Tag>` first.
//!
//! Rules:
//! - Parsing stops at End-Of-List (its length is not looked at; what follows is ignored, as
//!   RFC 2516 §A says nothing may follow it). The End-Of-List itself is kept in the tag list
//!   so that the list re-emits to the same value.
//! - A tag header cut short ([`Error::TruncatedTagHeader`]) or a TAG_LENGTH running past the
//!   payload ([`Error::TagOverrun`]) makes the whole payload malformed: nothing after it can be
//!   trusted. A PPP-Max-Payload whose length is not 2 is [`Error::BadMaxPayloadLength`].
//! - Unknown TAG_TYPEs are kept as [`Tag::Unknown`]; values of the string tags (Service-Name,
//!   AC-Name, the three error tags) are kept as bytes (RFC 2516 says UTF-8; nothing here
//!   depends on it).
//! - The LENGTH field of the header is the payload's length; Ethernet padding past it is not
//!   payload. A LENGTH past the end of the frame is [`Error::PayloadTooLong`].
//!
//! Not implemented: decoding the contents of Vendor-Specific tags (e.g. the Broadband Forum
//! TR-101 access-loop identification, vendor 3561): they are kept as bytes with
//! [`Tag::vendor_id`]; 802.1ad double tags (one 802.1Q tag at most is written).

use wire::pppoe::{Code, PppoeHeader, HEADER_LEN};

/// TAG_TYPE values (RFC 2516 Appendix A, RFC 4638 §4).
pub mod kind {
    pub const END_OF_LIST: u16 = 0x0000;
    pub const SERVICE_NAME: u16 = 0x0101;
    pub const AC_NAME: u16 = 0x0102;
    pub const HOST_UNIQ: u16 = 0x0103;
    pub const AC_COOKIE: u16 = 0x0104;
    pub const VENDOR_SPECIFIC: u16 = 0x0105;
    pub const RELAY_SESSION_ID: u16 = 0x0110;
    pub const PPP_MAX_PAYLOAD: u16 = 0x0120;
    pub const SERVICE_NAME_ERROR: u16 = 0x0201;
    pub const AC_SYSTEM_ERROR: u16 = 0x0202;
    pub const GENERIC_ERROR: u16 = 0x0203;
}

/// EtherType of PPPoE discovery frames.
pub const ETHERTYPE_DISCOVERY: u16 = 0x8863;
/// EtherType of an 802.1Q tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// Length of a TAG's header (TAG_TYPE + TAG_LENGTH).
pub const TAG_HEADER_LEN: usize = 4;
/// The largest discovery payload that fits an untagged 1500-byte Ethernet MTU with the
/// PPPoE header (RFC 2516 §4: discovery packets must not exceed the Ethernet MTU).
pub const MAX_DISCOVERY_PAYLOAD: usize = 1500 - HEADER_LEN;

/// Why a discovery packet could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The 6-byte header is cut short or has another version/type than 1/1.
    #[error("PPPoE discovery header: {0}")]
    Header(wire::Error),
    /// The header's LENGTH says more payload than the frame holds.
    #[error("PPPoE LENGTH {len} runs past the frame: only {available} bytes follow the header")]
    PayloadTooLong { len: u16, available: usize },
    /// Fewer than 4 bytes left where a tag header should start.
    #[error("tag header at payload offset {offset} truncated: 4 bytes needed, {left} left")]
    TruncatedTagHeader { offset: usize, left: usize },
    /// TAG_LENGTH runs past the end of the payload (the classic short-TLV attack).
    #[error(
        "tag {kind:#06x} at payload offset {offset}: TAG_LENGTH {len} runs past the payload \
         ({left} bytes left after the tag header)"
    )]
    TagOverrun {
        kind: u16,
        offset: usize,
        len: u16,
        left: usize,
    },
    /// PPP-Max-Payload must hold exactly a 16-bit value (RFC 4638 §4).
    #[error("PPP-Max-Payload tag at payload offset {offset} has TAG_LENGTH {len}; it must be 2")]
    BadMaxPayloadLength { offset: usize, len: u16 },
    /// The tags do not fit the 16-bit LENGTH field.
    #[error("discovery payload of {len} bytes does not fit the 16-bit LENGTH field")]
    TooLong { len: usize },
    /// The buffer handed to [`DiscoveryRepr::emit`] is too short.
    #[error("buffer of {got} bytes is shorter than the frame ({needed} bytes)")]
    BufferTooSmall { needed: usize, got: usize },
}

/// Result of this module.
pub type Result<T> = core::result::Result<T, Error>;

/// One TAG as it sits in the payload (zero-copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTag<'a> {
    pub kind: u16,
    pub value: &'a [u8],
    /// Offset of the tag header in the discovery payload (for error messages).
    pub offset: usize,
}

/// Iterator over the TAGs of a discovery payload: yields each tag, stops after End-Of-List
/// (which it yields) or at the end of the payload; after an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct TagIter<'a> {
    data: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> TagIter<'a> {
    /// Walks `payload` (the bytes after the PPPoE header, LENGTH long).
    pub fn new(payload: &'a [u8]) -> Self {
        TagIter {
            data: payload,
            offset: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for TagIter<'a> {
    type Item = Result<RawTag<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.offset >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.offset..];
        if rest.len() < TAG_HEADER_LEN {
            self.done = true;
            return Some(Err(Error::TruncatedTagHeader {
                offset: self.offset,
                left: rest.len(),
            }));
        }
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]);
        let offset = self.offset;
        if kind == kind::END_OF_LIST {
            self.done = true;
            return Some(Ok(RawTag {
                kind,
                value: &[],
                offset,
            }));
        }
        let body = &rest[TAG_HEADER_LEN..];
        let Some(value) = body.get(..usize::from(len)) else {
            self.done = true;
            return Some(Err(Error::TagOverrun {
                kind,
                offset,
                len,
                left: body.len(),
            }));
        };
        self.offset += TAG_HEADER_LEN + value.len();
        Some(Ok(RawTag {
            kind,
            value,
            offset,
        }))
    }
}

/// A discovery TAG as a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tag {
    /// 0x0000: end of the list; nothing after it is read.
    EndOfList,
    /// 0x0101: a service; empty = any service.
    ServiceName(Vec<u8>),
    /// 0x0102: the access concentrator's name.
    AcName(Vec<u8>),
    /// 0x0103: the host's value to match replies to requests (echoed by the AC).
    HostUniq(Vec<u8>),
    /// 0x0104: the AC's cookie, returned by the host in its PADR.
    AcCookie(Vec<u8>),
    /// 0x0105: vendor id (first 4 bytes) and vendor data, kept as bytes.
    VendorSpecific(Vec<u8>),
    /// 0x0110: added by a relay; echoed unchanged by host and AC.
    RelaySessionId(Vec<u8>),
    /// 0x0120: RFC 4638, the largest PPP payload (MRU) the sender can carry (> 1492).
    PppMaxPayload(u16),
    /// 0x0201: the requested Service-Name cannot be honoured (text, may be empty).
    ServiceNameError(Vec<u8>),
    /// 0x0202: the AC failed to perform the request (text, may be empty).
    AcSystemError(Vec<u8>),
    /// 0x0203: any other error (text, may be empty).
    GenericError(Vec<u8>),
    /// Any other TAG_TYPE, kept as is.
    Unknown { kind: u16, data: Vec<u8> },
}

impl Tag {
    /// The value of one raw tag.
    pub fn parse(raw: &RawTag<'_>) -> Result<Tag> {
        let v = raw.value.to_vec();
        Ok(match raw.kind {
            kind::END_OF_LIST => Tag::EndOfList,
            kind::SERVICE_NAME => Tag::ServiceName(v),
            kind::AC_NAME => Tag::AcName(v),
            kind::HOST_UNIQ => Tag::HostUniq(v),
            kind::AC_COOKIE => Tag::AcCookie(v),
            kind::VENDOR_SPECIFIC => Tag::VendorSpecific(v),
            kind::RELAY_SESSION_ID => Tag::RelaySessionId(v),
            kind::PPP_MAX_PAYLOAD => Tag::PppMaxPayload(max_payload(raw)?),
            kind::SERVICE_NAME_ERROR => Tag::ServiceNameError(v),
            kind::AC_SYSTEM_ERROR => Tag::AcSystemError(v),
            kind::GENERIC_ERROR => Tag::GenericError(v),
            kind => Tag::Unknown { kind, data: v },
        })
    }

    /// TAG_TYPE.
    pub fn kind(&self) -> u16 {
        match self {
            Tag::EndOfList => kind::END_OF_LIST,
            Tag::ServiceName(_) => kind::SERVICE_NAME,
            Tag::AcName(_) => kind::AC_NAME,
            Tag::HostUniq(_) => kind::HOST_UNIQ,
            Tag::AcCookie(_) => kind::AC_COOKIE,
            Tag::VendorSpecific(_) => kind::VENDOR_SPECIFIC,
            Tag::RelaySessionId(_) => kind::RELAY_SESSION_ID,
            Tag::PppMaxPayload(_) => kind::PPP_MAX_PAYLOAD,
            Tag::ServiceNameError(_) => kind::SERVICE_NAME_ERROR,
            Tag::AcSystemError(_) => kind::AC_SYSTEM_ERROR,
            Tag::GenericError(_) => kind::GENERIC_ERROR,
            Tag::Unknown { kind, .. } => *kind,
        }
    }

    /// Writes TAG_VALUE through `f` (a borrowed slice; PPP-Max-Payload as 2 bytes).
    fn with_value<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Tag::EndOfList => f(&[]),
            Tag::PppMaxPayload(v) => f(&v.to_be_bytes()),
            Tag::ServiceName(v)
            | Tag::AcName(v)
            | Tag::HostUniq(v)
            | Tag::AcCookie(v)
            | Tag::VendorSpecific(v)
            | Tag::RelaySessionId(v)
            | Tag::ServiceNameError(v)
            | Tag::AcSystemError(v)
            | Tag::GenericError(v)
            | Tag::Unknown { data: v, .. } => f(v),
        }
    }

    /// Bytes the tag takes when emitted (header included).
    pub fn buffer_len(&self) -> usize {
        TAG_HEADER_LEN + self.with_value(|v| v.len())
    }

    /// The vendor id of a Vendor-Specific tag (its first 4 bytes), if it has one.
    pub fn vendor_id(&self) -> Option<u32> {
        match self {
            Tag::VendorSpecific(v) if v.len() >= 4 => {
                Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            _ => None,
        }
    }
}

/// The value of a PPP-Max-Payload tag (exactly 2 bytes).
pub fn max_payload(raw: &RawTag<'_>) -> Result<u16> {
    match raw.value {
        [a, b] => Ok(u16::from_be_bytes([*a, *b])),
        v => Err(Error::BadMaxPayloadLength {
            offset: raw.offset,
            len: v.len() as u16,
        }),
    }
}

/// The discovery payload of a PPPoE header view, LENGTH checked against the buffer
/// (version/type must be 1/1).
pub fn payload<'a>(header: &PppoeHeader<&'a [u8]>) -> Result<&'a [u8]> {
    let b: &'a [u8] = header.clone().into_inner();
    if b.len() < HEADER_LEN {
        return Err(Error::Header(wire::Error::Truncated {
            proto: wire::Proto::Pppoe,
            needed: HEADER_LEN,
            got: b.len(),
        }));
    }
    let len = header.payload_len();
    match header.check_len() {
        Ok(()) => Ok(&b[HEADER_LEN..HEADER_LEN + usize::from(len)]),
        Err(wire::Error::Truncated { .. }) => Err(Error::PayloadTooLong {
            len,
            available: b.len() - HEADER_LEN,
        }),
        Err(e) => Err(Error::Header(e)),
    }
}

/// The Ethernet framing of an emitted discovery packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthHeader {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// 802.1Q VLAN id (12 bits; PCP and DEI written as 0).
    pub vlan: Option<u16>,
}

impl EthHeader {
    /// Bytes before the PPPoE header: 14, or 18 with a VLAN tag.
    pub const fn len(&self) -> usize {
        if self.vlan.is_some() {
            18
        } else {
            14
        }
    }

    /// Never empty (here for clippy's `len_without_is_empty`).
    pub const fn is_empty(&self) -> bool {
        false
    }

    fn write(&self, b: &mut [u8]) {
        b[0..6].copy_from_slice(&self.dst);
        b[6..12].copy_from_slice(&self.src);
        match self.vlan {
            Some(v) => {
                b[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                b[14..16].copy_from_slice(&(v & 0x0fff).to_be_bytes());
                b[16..18].copy_from_slice(&ETHERTYPE_DISCOVERY.to_be_bytes());
            }
            None => b[12..14].copy_from_slice(&ETHERTYPE_DISCOVERY.to_be_bytes()),
        }
    }
}

/// Builds a discovery frame tag by tag into a `Vec` (Ethernet header, PPPoE header, tags;
/// LENGTH is written by [`finish`](Self::finish)).
#[derive(Debug, Clone)]
pub struct FrameWriter {
    buf: Vec<u8>,
    /// Offset of the PPPoE header.
    l3: usize,
}

impl FrameWriter {
    /// Starts a frame with room for `capacity` bytes of tags.
    pub fn new(eth: &EthHeader, code: Code, session_id: u16, capacity: usize) -> Self {
        let l3 = eth.len();
        let mut buf = Vec::with_capacity(l3 + HEADER_LEN + capacity);
        buf.resize(l3 + HEADER_LEN, 0);
        eth.write(&mut buf);
        buf[l3] = 0x11;
        buf[l3 + 1] = code.into();
        buf[l3 + 2..l3 + 4].copy_from_slice(&session_id.to_be_bytes());
        FrameWriter { buf, l3 }
    }

    /// Bytes of tags written so far.
    pub fn payload_len(&self) -> usize {
        self.buf.len() - self.l3 - HEADER_LEN
    }

    /// Appends one tag; refuses a tag that would take the payload past 65,535 bytes.
    pub fn tag(&mut self, kind: u16, value: &[u8]) -> Result<&mut Self> {
        let len = self.payload_len() + TAG_HEADER_LEN + value.len();
        if len > usize::from(u16::MAX) {
            return Err(Error::TooLong { len });
        }
        self.buf.extend_from_slice(&kind.to_be_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    /// Appends a [`Tag`].
    pub fn push(&mut self, tag: &Tag) -> Result<&mut Self> {
        tag.with_value(|v| self.tag(tag.kind(), v))
    }

    /// Writes LENGTH and returns the frame.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.payload_len() as u16; // bounded by `tag`
        self.buf[self.l3 + 4..self.l3 + 6].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

/// A discovery packet as a value: PADI, PADO, PADR, PADS, PADT (or any other code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryRepr {
    pub code: Code,
    pub session_id: u16,
    pub tags: Vec<Tag>,
}

impl DiscoveryRepr {
    /// Reads a discovery packet from its PPPoE header view (LENGTH checked here, so a view
    /// made with `new_unchecked` is fine).
    pub fn parse(header: &PppoeHeader<&[u8]>) -> Result<DiscoveryRepr> {
        let payload = payload(header)?;
        let tags = TagIter::new(payload)
            .map(|raw| raw.and_then(|r| Tag::parse(&r)))
            .collect::<Result<Vec<_>>>()?;
        Ok(DiscoveryRepr {
            code: header.code(),
            session_id: header.session_id(),
            tags,
        })
    }

    /// Bytes of tags.
    pub fn payload_len(&self) -> usize {
        self.tags.iter().map(Tag::buffer_len).sum()
    }

    /// Length of the whole Ethernet frame (with a 802.1Q tag when `vlan` is set).
    pub fn buffer_len(&self, vlan: Option<u16>) -> usize {
        (if vlan.is_some() { 18 } else { 14 }) + HEADER_LEN + self.payload_len()
    }

    /// Writes the whole frame (every byte of it) at the start of `buf`; returns its length.
    pub fn emit(&self, eth: &EthHeader, buf: &mut [u8]) -> Result<usize> {
        let frame = self.to_frame(eth)?;
        let got = buf.len();
        let out = buf.get_mut(..frame.len()).ok_or(Error::BufferTooSmall {
            needed: frame.len(),
            got,
        })?;
        out.copy_from_slice(&frame);
        Ok(frame.len())
    }

    /// The whole frame in a new `Vec`.
    pub fn to_frame(&self, eth: &EthHeader) -> Result<Vec<u8>> {
        let len = self.payload_len();
        if len > usize::from(u16::MAX) {
            return Err(Error::TooLong { len });
        }
        let mut w = FrameWriter::new(eth, self.code, self.session_id, len);
        for t in &self.tags {
            w.push(t)?;
        }
        Ok(w.finish())
    }

    /// The first tag of a type, as a raw value (Service-Name, Host-Uniq, ...).
    pub fn first(&self, kind: u16) -> Option<&Tag> {
        self.tags.iter().find(|t| t.kind() == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Frames built with scapy 2.5.0 (scapy.layers.ppp), `bytes(...)` of:
    // Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")/Dot1Q(vlan=100)
    //   /PPPoED(code=0x09, sessionid=0)/PPPoED_Tags(tag_list=[
    //     PPPoETag(tag_type=0x0101, tag_value=b"internet"),
    //     PPPoETag(tag_type=0x0103, tag_value=b"\xde\xad\xbe\xef"),
    //     PPPoETag(tag_type=0x0120, tag_value=b"\x05\xdc"),
    //     PPPoETag(tag_type=0x0105, tag_value=b"\x00\x00\x0d\xe9\x01\x03abc")])
    const PADI_VLAN: [u8; 63] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00,
        0x64, 0x88, 0x63, 0x11, 0x09, 0x00, 0x00, 0x00, 0x27, 0x01, 0x01, 0x00, 0x08, 0x69, 0x6e,
        0x74, 0x65, 0x72, 0x6e, 0x65, 0x74, 0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x01,
        0x20, 0x00, 0x02, 0x05, 0xdc, 0x01, 0x05, 0x00, 0x09, 0x00, 0x00, 0x0d, 0xe9, 0x01, 0x03,
        0x61, 0x62, 0x63,
    ];
    // Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:aa")/PPPoED(code=0x07, sessionid=0)
    //   /PPPoED_Tags(tag_list=[PPPoETag(tag_type=0x0102, tag_value=b"varouter"),
    //     PPPoETag(tag_type=0x0101, tag_value=b""),
    //     PPPoETag(tag_type=0x0104, tag_value=bytes(range(16))),
    //     PPPoETag(tag_type=0x0110, tag_value=b"\x01\x02"),
    //     PPPoETag(tag_type=0x0000, tag_value=b"")])
    const PADO: [u8; 66] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, 0x88, 0x63, 0x11,
        0x07, 0x00, 0x00, 0x00, 0x2e, 0x01, 0x02, 0x00, 0x08, 0x76, 0x61, 0x72, 0x6f, 0x75, 0x74,
        0x65, 0x72, 0x01, 0x01, 0x00, 0x00, 0x01, 0x04, 0x00, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04,
        0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x01, 0x10, 0x00, 0x02,
        0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
    ];
    // Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:aa")/PPPoED(code=0xa7, sessionid=0x1234)
    //   /PPPoED_Tags(tag_list=[PPPoETag(tag_type=0x0203, tag_value=b"bye"),
    //     PPPoETag(tag_type=0x0201, tag_value=b""), PPPoETag(tag_type=0x0202, tag_value=b"x"),
    //     PPPoETag(tag_type=0x0999, tag_value=b"zz")])
    const PADT: [u8; 42] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, 0x88, 0x63, 0x11,
        0xa7, 0x12, 0x34, 0x00, 0x16, 0x02, 0x03, 0x00, 0x03, 0x62, 0x79, 0x65, 0x02, 0x01, 0x00,
        0x00, 0x02, 0x02, 0x00, 0x01, 0x78, 0x09, 0x99, 0x00, 0x02, 0x7a, 0x7a,
    ];

    fn repr(frame: &[u8], l3: usize) -> Result<DiscoveryRepr> {
        DiscoveryRepr::parse(&PppoeHeader::new_unchecked(&frame[l3..]))
    }

    #[test]
    fn scapy_padi_with_vlan() {
        let r = repr(&PADI_VLAN, 18).unwrap();
        assert_eq!((r.code, r.session_id), (Code::Padi, 0));
        assert_eq!(
            r.tags,
            vec![
                Tag::ServiceName(b"internet".to_vec()),
                Tag::HostUniq(vec![0xde, 0xad, 0xbe, 0xef]),
                Tag::PppMaxPayload(1500),
                Tag::VendorSpecific(b"\x00\x00\x0d\xe9\x01\x03abc".to_vec()),
            ]
        );
        assert_eq!(r.tags[3].vendor_id(), Some(3561));
        let eth = EthHeader {
            dst: [0xff; 6],
            src: [2, 0, 0, 0, 0, 1],
            vlan: Some(100),
        };
        assert_eq!(r.buffer_len(Some(100)), PADI_VLAN.len());
        assert_eq!(r.to_frame(&eth).unwrap(), PADI_VLAN);
    }

    #[test]
    fn scapy_pado_stops_at_end_of_list() {
        let r = repr(&PADO, 14).unwrap();
        assert_eq!(
            r.tags,
            vec![
                Tag::AcName(b"varouter".to_vec()),
                Tag::ServiceName(vec![]),
                Tag::AcCookie((0..16).collect()),
                Tag::RelaySessionId(vec![1, 2]),
                Tag::EndOfList,
            ]
        );
        let eth = EthHeader {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 0xaa],
            vlan: None,
        };
        let mut buf = [0xeeu8; 80];
        let n = r.emit(&eth, &mut buf).unwrap();
        assert_eq!(&buf[..n], &PADO[..]);
        // Bytes after End-Of-List (even a broken tag) are not read.
        let mut junk = PADO.to_vec();
        junk.extend_from_slice(&[0x01, 0x01, 0xff, 0xff]);
        let l = u16::from_be_bytes([junk[18], junk[19]]) + 4;
        junk[18..20].copy_from_slice(&l.to_be_bytes());
        assert_eq!(repr(&junk, 14).unwrap(), r);
    }

    #[test]
    fn scapy_padt_errors_and_unknown() {
        let r = repr(&PADT, 14).unwrap();
        assert_eq!((r.code, r.session_id), (Code::Padt, 0x1234));
        assert_eq!(
            r.tags,
            vec![
                Tag::GenericError(b"bye".to_vec()),
                Tag::ServiceNameError(vec![]),
                Tag::AcSystemError(b"x".to_vec()),
                Tag::Unknown {
                    kind: 0x0999,
                    data: b"zz".to_vec()
                },
            ]
        );
        let eth = EthHeader {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 0xaa],
            vlan: None,
        };
        assert_eq!(r.to_frame(&eth).unwrap(), PADT);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut f = PADT.to_vec();
        f.resize(60, 0);
        assert_eq!(repr(&f, 14).unwrap(), repr(&PADT, 14).unwrap());
    }

    #[test]
    fn bad_lengths() {
        // TAG_LENGTH of the last tag (Vendor-Specific, payload offset 26) one byte too long.
        let mut f = PADI_VLAN.to_vec();
        f[24 + 26 + 3] = 10;
        assert_eq!(
            repr(&f, 18),
            Err(Error::TagOverrun {
                kind: kind::VENDOR_SPECIFIC,
                offset: 26,
                len: 10,
                left: 9
            })
        );
        // Host-Uniq (offset 12) so long it runs past the whole payload.
        let mut f = PADI_VLAN.to_vec();
        f[24 + 12 + 2] = 0xff;
        assert_eq!(
            repr(&f, 18),
            Err(Error::TagOverrun {
                kind: kind::HOST_UNIQ,
                offset: 12,
                len: 0xff04,
                left: 23
            })
        );
        // PPP-Max-Payload of length 1 (followed by a 1-byte shorter vendor tag).
        let mut f = PADI_VLAN.to_vec();
        f[24 + 20 + 3] = 1;
        assert_eq!(
            repr(&f, 18),
            Err(Error::BadMaxPayloadLength { offset: 20, len: 1 })
        );
        // A tag header cut short: LENGTH ends 2 bytes into the last tag's header.
        let mut f = PADT.to_vec();
        f[18..20].copy_from_slice(&18u16.to_be_bytes());
        assert_eq!(
            repr(&f, 14),
            Err(Error::TruncatedTagHeader {
                offset: 16,
                left: 2
            })
        );
        // LENGTH past the end of the frame.
        let mut f = PADT.to_vec();
        f[18..20].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(
            repr(&f, 14),
            Err(Error::PayloadTooLong {
                len: 23,
                available: 22
            })
        );
        assert!(matches!(
            repr(&PADT[..18], 14),
            Err(Error::Header(wire::Error::Truncated { .. }))
        ));
        let mut f = PADT.to_vec();
        f[14] = 0x21;
        assert!(matches!(
            repr(&f, 14),
            Err(Error::Header(wire::Error::Unsupported { .. }))
        ));
        // Messages say where and what.
        let e = Error::TagOverrun {
            kind: 0x0103,
            offset: 12,
            len: 5,
            left: 4,
        };
        assert_eq!(
            e.to_string(),
            "tag 0x0103 at payload offset 12: TAG_LENGTH 5 runs past the payload (4 bytes \
             left after the tag header)"
        );
    }

    #[test]
    fn writer_limits() {
        let eth = EthHeader {
            dst: [0; 6],
            src: [0; 6],
            vlan: None,
        };
        let mut w = FrameWriter::new(&eth, Code::Pado, 0, 0);
        w.tag(kind::AC_NAME, &vec![0u8; 65531]).unwrap();
        assert_eq!(w.payload_len(), 65535);
        assert_eq!(
            w.tag(kind::AC_NAME, &[]).err(),
            Some(Error::TooLong { len: 65539 })
        );
        let r = DiscoveryRepr {
            code: Code::Padt,
            session_id: 1,
            tags: vec![Tag::GenericError(vec![0; 70000])],
        };
        assert_eq!(r.to_frame(&eth), Err(Error::TooLong { len: 70004 }));
        let r = DiscoveryRepr {
            code: Code::Padt,
            session_id: 1,
            tags: vec![],
        };
        assert_eq!(
            r.emit(&eth, &mut [0u8; 19]),
            Err(Error::BufferTooSmall {
                needed: 20,
                got: 19
            })
        );
    }

    fn any_tag() -> impl Strategy<Value = Tag> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            bytes().prop_map(Tag::ServiceName),
            bytes().prop_map(Tag::AcName),
            bytes().prop_map(Tag::HostUniq),
            bytes().prop_map(Tag::AcCookie),
            bytes().prop_map(Tag::VendorSpecific),
            bytes().prop_map(Tag::RelaySessionId),
            any::<u16>().prop_map(Tag::PppMaxPayload),
            bytes().prop_map(Tag::ServiceNameError),
            bytes().prop_map(Tag::AcSystemError),
            bytes().prop_map(Tag::GenericError),
            (any::<u16>(), bytes())
                .prop_filter("a known type", |(k, _)| {
                    Tag::parse(&RawTag {
                        kind: *k,
                        value: &[0, 0],
                        offset: 0,
                    })
                    .is_ok_and(|t| matches!(t, Tag::Unknown { .. }))
                })
                .prop_map(|(kind, data)| Tag::Unknown { kind, data }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(code in any::<u8>(), session_id in any::<u16>(),
                      tags in proptest::collection::vec(any_tag(), 0..8), eol in any::<bool>(),
                      vlan in proptest::option::of(0u16..4096), padding in 0usize..8) {
            let mut tags = tags;
            if eol { tags.push(Tag::EndOfList); }
            let r = DiscoveryRepr { code: Code::from(code), session_id, tags };
            let eth = EthHeader { dst: [1, 2, 3, 4, 5, 6], src: [2, 0, 0, 0, 0, 1], vlan };
            let mut f = r.to_frame(&eth).unwrap();
            prop_assert_eq!(f.len(), r.buffer_len(vlan));
            f.resize(f.len() + padding, 0xaa);
            prop_assert_eq!(repr(&f, eth.len()), Ok(r));
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut b = b;
            if let Some(x) = b.first_mut() { *x = 0x11 }
            if let Ok(r) = DiscoveryRepr::parse(&PppoeHeader::new_unchecked(&b[..])) {
                let eth = EthHeader { dst: [0; 6], src: [0; 6], vlan: None };
                let f = r.to_frame(&eth).unwrap();
                prop_assert_eq!(repr(&f, 14), Ok(r));
            }
        }
    }
}
