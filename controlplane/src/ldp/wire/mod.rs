//! LDP wire format (RFC 5036 §3): the PDU header, messages and the TLVs a downstream-unsolicited
//! speaker needs.
//!
//! Three layers, smoltcp style:
//! - [`PduView`] is a zero-copy view of one PDU whose `new_checked` validates the header
//!   (version 1, PDU Length of at least the 6 bytes of LDP identifier and no larger than the
//!   buffer). [`pdu_frame_len`] frames PDUs on a TCP stream.
//! - [`MessageIter`] walks the messages of a PDU's payload and yields each [`RawMessage`]
//!   (U bit, type, id, body); a Message Length that does not fit stops the walk with
//!   [`Error::BadMessageLength`] (the whole PDU is then unusable, RFC 5036 §3.5.1.2.1).
//! - [`Message`] is the owned message: type, U bit, id and its TLVs as typed [`Tlv`] values,
//!   with `parse` / `emit`. Every known TLV's value length is checked against the RFC's
//!   layout; unknown TLVs are kept as [`Tlv::Unknown`] with their U and F bits, so the engine
//!   applies §3.5 (U clear: ignore the message and notify; U set: ignore the TLV).
//!
//! TLVs decoded: FEC (Wildcard, Prefix for IPv4 and IPv6, Typed Wildcard of RFC 5918 kept as
//! bytes), Address List (IPv4 and IPv6), Hop Count, Path Vector, Generic Label, Status,
//! Common Hello Parameters, IPv4 Transport Address, Configuration Sequence Number, Common
//! Session Parameters, Label Request Message ID. Others (ATM and Frame Relay labels and
//! session parameters, Extended Status, Returned PDU/Message, IPv6 transport address,
//! capabilities) are [`Tlv::Unknown`]: their bytes are kept whole.
//!
//! Errors are an [`Error`] whose [`Error::status`] gives the Status Code (RFC 5036 §3.9) a
//! receiver puts in its Notification. Nothing here panics on any input.

use std::net::{Ipv4Addr, Ipv6Addr};

#[cfg(test)]
mod tests;

/// UDP port of discovery and TCP port of sessions (RFC 5036 §3.10).
pub const PORT: u16 = 646;
/// The all-routers group link Hellos go to (RFC 5036 §2.4.1).
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// The only protocol version.
pub const VERSION: u16 = 1;
/// Version, PDU Length, LSR Id, label space.
pub const PDU_HEADER_LEN: usize = 10;
/// Type, Message Length, Message ID.
pub const MSG_HEADER_LEN: usize = 8;
/// Type, Length.
pub const TLV_HEADER_LEN: usize = 4;
/// Maximum PDU length before negotiation, and what a Max PDU Length of 0..=255 means
/// (RFC 5036 §3.5.3).
pub const DEFAULT_MAX_PDU: usize = 4096;
/// Largest label value (20 bits).
pub const MAX_LABEL: u32 = 0xF_FFFF;

/// Field offsets of the PDU header.
mod field {
    use std::ops::Range;
    pub const VERSION: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = 2..4;
    pub const LSR_ID: Range<usize> = 4..8;
    pub const LABEL_SPACE: Range<usize> = 8..10;
}

/// Message types (RFC 5036 §3.7, §3.5).
pub mod msg {
    pub const NOTIFICATION: u16 = 0x0001;
    pub const HELLO: u16 = 0x0100;
    pub const INITIALIZATION: u16 = 0x0200;
    pub const KEEPALIVE: u16 = 0x0201;
    pub const ADDRESS: u16 = 0x0300;
    pub const ADDRESS_WITHDRAW: u16 = 0x0301;
    pub const LABEL_MAPPING: u16 = 0x0400;
    pub const LABEL_REQUEST: u16 = 0x0401;
    pub const LABEL_WITHDRAW: u16 = 0x0402;
    pub const LABEL_RELEASE: u16 = 0x0403;
    pub const LABEL_ABORT: u16 = 0x0404;

    /// A short name for logs.
    pub fn name(kind: u16) -> &'static str {
        match kind {
            NOTIFICATION => "Notification",
            HELLO => "Hello",
            INITIALIZATION => "Initialization",
            KEEPALIVE => "KeepAlive",
            ADDRESS => "Address",
            ADDRESS_WITHDRAW => "Address Withdraw",
            LABEL_MAPPING => "Label Mapping",
            LABEL_REQUEST => "Label Request",
            LABEL_WITHDRAW => "Label Withdraw",
            LABEL_RELEASE => "Label Release",
            LABEL_ABORT => "Label Abort Request",
            _ => "unknown",
        }
    }
}

/// TLV types (RFC 5036 §3.4, §4.2).
pub mod tlv {
    pub const FEC: u16 = 0x0100;
    pub const ADDRESS_LIST: u16 = 0x0101;
    pub const HOP_COUNT: u16 = 0x0103;
    pub const PATH_VECTOR: u16 = 0x0104;
    pub const GENERIC_LABEL: u16 = 0x0200;
    pub const STATUS: u16 = 0x0300;
    pub const COMMON_HELLO: u16 = 0x0400;
    pub const IPV4_TRANSPORT: u16 = 0x0401;
    pub const CONFIG_SEQ: u16 = 0x0402;
    pub const COMMON_SESSION: u16 = 0x0500;
    pub const LABEL_REQUEST_ID: u16 = 0x0600;
}

/// Status codes (RFC 5036 §3.9), without the E and F bits; [`status::FATAL`] marks the ones
/// whose notification ends the session.
pub mod status {
    pub const SUCCESS: u32 = 0x00;
    pub const BAD_LDP_ID: u32 = 0x01;
    pub const BAD_VERSION: u32 = 0x02;
    pub const BAD_PDU_LENGTH: u32 = 0x03;
    pub const UNKNOWN_MESSAGE: u32 = 0x04;
    pub const BAD_MESSAGE_LENGTH: u32 = 0x05;
    pub const UNKNOWN_TLV: u32 = 0x06;
    pub const BAD_TLV_LENGTH: u32 = 0x07;
    pub const MALFORMED_TLV: u32 = 0x08;
    pub const HOLD_TIMER_EXPIRED: u32 = 0x09;
    pub const SHUTDOWN: u32 = 0x0A;
    pub const UNKNOWN_FEC: u32 = 0x0C;
    pub const NO_LABEL_RESOURCES: u32 = 0x0E;
    pub const SESSION_REJECTED_NO_HELLO: u32 = 0x10;
    pub const SESSION_REJECTED_ADV_MODE: u32 = 0x11;
    pub const SESSION_REJECTED_MAX_PDU: u32 = 0x12;
    pub const KEEPALIVE_EXPIRED: u32 = 0x14;
    pub const MISSING_PARAMETERS: u32 = 0x16;
    pub const UNSUPPORTED_AF: u32 = 0x17;
    pub const SESSION_REJECTED_KEEPALIVE: u32 = 0x18;
    pub const INTERNAL_ERROR: u32 = 0x19;
    /// E bit: fatal error.
    pub const E_BIT: u32 = 0x8000_0000;
    /// F bit: forward the notification.
    pub const F_BIT: u32 = 0x4000_0000;

    /// Whether RFC 5036 §3.9 makes this status a fatal error (E bit set when sent).
    pub fn is_fatal(code: u32) -> bool {
        matches!(
            code & 0x3fff_ffff,
            BAD_LDP_ID
                | BAD_VERSION
                | BAD_PDU_LENGTH
                | BAD_MESSAGE_LENGTH
                | BAD_TLV_LENGTH
                | MALFORMED_TLV
                | HOLD_TIMER_EXPIRED
                | SHUTDOWN
                | SESSION_REJECTED_NO_HELLO
                | SESSION_REJECTED_ADV_MODE
                | SESSION_REJECTED_MAX_PDU
                | 0x13
                | KEEPALIVE_EXPIRED
                | SESSION_REJECTED_KEEPALIVE
                | INTERNAL_ERROR
        )
    }
}

/// Address families (IANA) used in FEC and Address List TLVs.
pub mod af {
    pub const IPV4: u16 = 1;
    pub const IPV6: u16 = 2;
}

/// Decoding and encoding errors of LDP PDUs, messages and TLVs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the structure needs (on a stream: wait for more).
    #[error("LDP {what}: {have} bytes, need at least {need}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("LDP version {0} is not supported (only 1)")]
    BadVersion(u16),
    #[error("LDP PDU Length {length} is invalid: {why}")]
    BadPduLength { length: usize, why: &'static str },
    #[error("LDP {kind} message: Message Length {length} {why}")]
    BadMessageLength {
        kind: &'static str,
        length: usize,
        why: &'static str,
    },
    #[error("LDP TLV 0x{kind:04x}: Length {length} {why}")]
    BadTlvLength {
        kind: u16,
        length: usize,
        why: &'static str,
    },
    #[error("LDP TLV 0x{kind:04x}: malformed value: {why}")]
    MalformedTlv { kind: u16, why: &'static str },
    #[error("LDP FEC element type 0x{0:02x} is not known")]
    UnknownFecElement(u8),
    #[error("LDP address family {0} is not supported")]
    UnsupportedAddressFamily(u16),
    #[error("LDP message of {len} bytes does not fit in a PDU of at most {max} bytes")]
    TooLong { len: usize, max: usize },
}

impl Error {
    /// The Status Code (RFC 5036 §3.9, E bit not included) a receiver notifies for this error.
    pub fn status(&self) -> u32 {
        match self {
            Error::Truncated { .. } | Error::BadPduLength { .. } => status::BAD_PDU_LENGTH,
            Error::BadVersion(_) => status::BAD_VERSION,
            Error::BadMessageLength { .. } => status::BAD_MESSAGE_LENGTH,
            Error::BadTlvLength { .. } => status::BAD_TLV_LENGTH,
            Error::MalformedTlv { .. } => status::MALFORMED_TLV,
            Error::UnknownFecElement(_) => status::UNKNOWN_FEC,
            Error::UnsupportedAddressFamily(_) => status::UNSUPPORTED_AF,
            Error::TooLong { .. } => status::INTERNAL_ERROR,
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn ip4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// An LDP identifier: LSR Id and label space (RFC 5036 §2.2.2). Label space 0 is the
/// platform-wide one this implementation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LdpId {
    pub lsr_id: Ipv4Addr,
    pub label_space: u16,
}

impl LdpId {
    /// The platform-wide label space of `lsr_id`.
    pub const fn platform(lsr_id: Ipv4Addr) -> Self {
        LdpId {
            lsr_id,
            label_space: 0,
        }
    }
}

impl std::fmt::Display for LdpId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.lsr_id, self.label_space)
    }
}

/// How many bytes the PDU at the start of a TCP stream takes: `Ok(None)` when fewer than 4
/// bytes are there; an error when version or PDU Length is impossible (the stream cannot be
/// resynchronised). `max_pdu` is the negotiated maximum PDU length (header included).
pub fn pdu_frame_len(buf: &[u8], max_pdu: usize) -> Result<Option<usize>, Error> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let version = be16(buf, 0);
    if version != VERSION {
        return Err(Error::BadVersion(version));
    }
    let length = be16(buf, 2) as usize;
    if length < PDU_HEADER_LEN - 4 {
        return Err(Error::BadPduLength {
            length,
            why: "shorter than the 6-byte LDP identifier",
        });
    }
    if length + 4 > max_pdu {
        return Err(Error::BadPduLength {
            length,
            why: "larger than the maximum PDU length",
        });
    }
    Ok(Some(length + 4))
}

/// A zero-copy view of one LDP PDU (RFC 5036 §3.1).
#[derive(Debug, Clone, Copy)]
pub struct PduView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PduView<T> {
    /// Validates the header: version 1, PDU Length of at least 6 and within the buffer.
    /// Bytes after the PDU are not part of it (see [`PduView::total_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < PDU_HEADER_LEN {
            return Err(Error::Truncated {
                what: "PDU header",
                need: PDU_HEADER_LEN,
                have: b.len(),
            });
        }
        let version = be16(b, field::VERSION.start);
        if version != VERSION {
            return Err(Error::BadVersion(version));
        }
        let length = be16(b, field::LENGTH.start) as usize;
        if length < PDU_HEADER_LEN - 4 {
            return Err(Error::BadPduLength {
                length,
                why: "shorter than the 6-byte LDP identifier",
            });
        }
        if length + 4 > b.len() {
            return Err(Error::BadPduLength {
                length,
                why: "runs past the end of the packet",
            });
        }
        Ok(PduView { buffer })
    }

    /// The PDU Length field (bytes after version and length).
    pub fn pdu_length(&self) -> usize {
        be16(self.buffer.as_ref(), field::LENGTH.start) as usize
    }

    /// Bytes the PDU takes, header included.
    pub fn total_len(&self) -> usize {
        self.pdu_length() + 4
    }

    /// The sender's LDP identifier.
    pub fn ldp_id(&self) -> LdpId {
        let b = self.buffer.as_ref();
        LdpId {
            lsr_id: ip4(b, field::LSR_ID.start),
            label_space: be16(b, field::LABEL_SPACE.start),
        }
    }

    /// The messages' bytes.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[PDU_HEADER_LEN..self.total_len()]
    }

    /// The messages of the PDU.
    pub fn messages(&self) -> MessageIter<'_> {
        MessageIter {
            rest: self.payload(),
            failed: false,
        }
    }
}

/// One message as framed in a PDU: U bit, type, id and the bytes of its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMessage<'a> {
    pub unknown_bit: bool,
    pub kind: u16,
    pub id: u32,
    pub body: &'a [u8],
}

/// Iterator over the messages of a PDU payload; stops after the first framing error.
#[derive(Debug, Clone)]
pub struct MessageIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for MessageIter<'a> {
    type Item = Result<RawMessage<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let b = self.rest;
        if b.len() < MSG_HEADER_LEN {
            self.failed = true;
            return Some(Err(Error::BadMessageLength {
                kind: "(truncated)",
                length: b.len(),
                why: "leaves less than a message header in the PDU",
            }));
        }
        let t = be16(b, 0);
        let kind = t & 0x7fff;
        let length = be16(b, 2) as usize;
        if length < 4 {
            self.failed = true;
            return Some(Err(Error::BadMessageLength {
                kind: msg::name(kind),
                length,
                why: "is shorter than the 4-byte Message ID",
            }));
        }
        if length + 4 > b.len() {
            self.failed = true;
            return Some(Err(Error::BadMessageLength {
                kind: msg::name(kind),
                length,
                why: "runs past the end of the PDU",
            }));
        }
        self.rest = &b[4 + length..];
        Some(Ok(RawMessage {
            unknown_bit: t & 0x8000 != 0,
            kind,
            id: be32(b, 4),
            body: &b[MSG_HEADER_LEN..4 + length],
        }))
    }
}

/// An IPv4 prefix (address with host bits cleared, length 0..=32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix4 {
    addr: Ipv4Addr,
    len: u8,
}

impl Prefix4 {
    /// A prefix; host bits of `addr` are cleared. `None` when `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        if len > 32 {
            return None;
        }
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        Some(Prefix4 {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    /// A host route.
    pub fn host(addr: Ipv4Addr) -> Self {
        Prefix4 { addr, len: 32 }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route (length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Display for Prefix4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix4 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a.parse().map_err(|e| format!("`{s}`: {e}"))?;
        let len: u8 = l
            .parse()
            .map_err(|_| format!("`{s}`: prefix length `{l}` is not 0..=32"))?;
        Prefix4::new(addr, len).ok_or_else(|| format!("`{s}`: prefix length {len} is over 32"))
    }
}

/// One FEC element (RFC 5036 §3.4.1; Typed Wildcard of RFC 5918).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FecElement {
    /// Every FEC (only in Label Withdraw and Label Release).
    Wildcard,
    /// An IPv4 address prefix.
    Prefix4(Prefix4),
    /// An IPv6 address prefix (host bits cleared).
    Prefix6 { addr: Ipv6Addr, len: u8 },
    /// Typed Wildcard FEC (RFC 5918): the FEC element type it covers and its additional
    /// information, as bytes.
    TypedWildcard { element: u8, info: Vec<u8> },
}

const FEC_WILDCARD: u8 = 0x01;
const FEC_PREFIX: u8 = 0x02;
const FEC_TYPED_WILDCARD: u8 = 0x05;

fn parse_fec(v: &[u8]) -> Result<Vec<FecElement>, Error> {
    let mut out = Vec::new();
    let mut i = 0;
    if v.is_empty() {
        return Err(Error::MalformedTlv {
            kind: tlv::FEC,
            why: "no FEC element",
        });
    }
    while i < v.len() {
        let t = v[i];
        i += 1;
        match t {
            FEC_WILDCARD => out.push(FecElement::Wildcard),
            FEC_PREFIX => {
                if v.len() - i < 3 {
                    return Err(Error::BadTlvLength {
                        kind: tlv::FEC,
                        length: v.len(),
                        why: "ends inside a Prefix FEC element header",
                    });
                }
                let family = be16(v, i);
                let len = v[i + 2];
                i += 3;
                let max = match family {
                    af::IPV4 => 32,
                    af::IPV6 => 128,
                    other => return Err(Error::UnsupportedAddressFamily(other)),
                };
                if len > max {
                    return Err(Error::MalformedTlv {
                        kind: tlv::FEC,
                        why: "prefix length longer than the address",
                    });
                }
                let n = usize::from(len).div_ceil(8);
                if v.len() - i < n {
                    return Err(Error::BadTlvLength {
                        kind: tlv::FEC,
                        length: v.len(),
                        why: "ends inside a prefix",
                    });
                }
                if family == af::IPV4 {
                    let mut a = [0u8; 4];
                    a[..n].copy_from_slice(&v[i..i + n]);
                    out.push(FecElement::Prefix4(
                        Prefix4::new(Ipv4Addr::from(a), len).expect("len <= 32 checked"),
                    ));
                } else {
                    let mut a = [0u8; 16];
                    a[..n].copy_from_slice(&v[i..i + n]);
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(len))
                    };
                    out.push(FecElement::Prefix6 {
                        addr: Ipv6Addr::from(u128::from_be_bytes(a) & mask),
                        len,
                    });
                }
                i += n;
            }
            FEC_TYPED_WILDCARD => {
                if v.len() - i < 2 {
                    return Err(Error::BadTlvLength {
                        kind: tlv::FEC,
                        length: v.len(),
                        why: "ends inside a Typed Wildcard FEC element",
                    });
                }
                let element = v[i];
                let n = usize::from(v[i + 1]);
                i += 2;
                if v.len() - i < n {
                    return Err(Error::BadTlvLength {
                        kind: tlv::FEC,
                        length: v.len(),
                        why: "ends inside a Typed Wildcard's additional information",
                    });
                }
                out.push(FecElement::TypedWildcard {
                    element,
                    info: v[i..i + n].to_vec(),
                });
                i += n;
            }
            other => return Err(Error::UnknownFecElement(other)),
        }
    }
    Ok(out)
}

fn emit_fec(elems: &[FecElement], out: &mut Vec<u8>) -> Result<(), Error> {
    for e in elems {
        match e {
            FecElement::Wildcard => out.push(FEC_WILDCARD),
            FecElement::Prefix4(p) => {
                out.push(FEC_PREFIX);
                out.extend_from_slice(&af::IPV4.to_be_bytes());
                out.push(p.len);
                let n = usize::from(p.len).div_ceil(8);
                out.extend_from_slice(&p.addr.octets()[..n]);
            }
            FecElement::Prefix6 { addr, len } => {
                if *len > 128 {
                    return Err(Error::MalformedTlv {
                        kind: tlv::FEC,
                        why: "IPv6 prefix length over 128",
                    });
                }
                out.push(FEC_PREFIX);
                out.extend_from_slice(&af::IPV6.to_be_bytes());
                out.push(*len);
                let n = usize::from(*len).div_ceil(8);
                out.extend_from_slice(&addr.octets()[..n]);
            }
            FecElement::TypedWildcard { element, info } => {
                let n = u8::try_from(info.len()).map_err(|_| Error::MalformedTlv {
                    kind: tlv::FEC,
                    why: "Typed Wildcard information over 255 bytes",
                })?;
                out.extend_from_slice(&[FEC_TYPED_WILDCARD, *element, n]);
                out.extend_from_slice(info);
            }
        }
    }
    Ok(())
}

/// Addresses of an Address List TLV (RFC 5036 §3.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressList {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

/// A Status TLV (RFC 5036 §3.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Status Code with its E and F bits.
    pub code: u32,
    /// Id of the message the status refers to, or 0.
    pub message_id: u32,
    /// Type of that message, or 0.
    pub message_type: u16,
}

impl Status {
    /// A status whose E bit follows [`status::is_fatal`].
    pub fn new(code: u32, message_id: u32, message_type: u16) -> Self {
        let e = if status::is_fatal(code) {
            status::E_BIT
        } else {
            0
        };
        Status {
            code: code | e,
            message_id,
            message_type,
        }
    }

    /// Whether the E bit is set.
    pub fn is_fatal(&self) -> bool {
        self.code & status::E_BIT != 0
    }

    /// The code without the E and F bits.
    pub fn value(&self) -> u32 {
        self.code & 0x3fff_ffff
    }
}

/// Common Session Parameters (RFC 5036 §3.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionParams {
    pub version: u16,
    /// Proposed KeepAlive Time, seconds.
    pub keepalive: u16,
    /// A bit: Downstream on Demand when set.
    pub on_demand: bool,
    /// D bit: loop detection.
    pub loop_detection: bool,
    pub path_vector_limit: u8,
    /// Max PDU Length; 0..=255 means 4096.
    pub max_pdu: u16,
    /// The receiver's LDP identifier.
    pub receiver: LdpId,
}

/// One TLV (RFC 5036 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tlv {
    Fec(Vec<FecElement>),
    AddressList(AddressList),
    HopCount(u8),
    PathVector(Vec<Ipv4Addr>),
    /// Generic Label, 20 bits.
    GenericLabel(u32),
    Status(Status),
    /// Common Hello Parameters: hold time (seconds, 0 = default), T (targeted), R
    /// (request targeted) and G (GTSM, RFC 6720) bits.
    CommonHello {
        hold_time: u16,
        targeted: bool,
        request_targeted: bool,
        gtsm: bool,
    },
    Ipv4Transport(Ipv4Addr),
    ConfigSeq(u32),
    CommonSession(SessionParams),
    LabelRequestId(u32),
    /// A TLV this codec does not decode, with its U and F bits and value.
    Unknown {
        unknown_bit: bool,
        forward_bit: bool,
        kind: u16,
        value: Vec<u8>,
    },
}

fn exact(kind: u16, v: &[u8], n: usize) -> Result<(), Error> {
    if v.len() != n {
        return Err(Error::BadTlvLength {
            kind,
            length: v.len(),
            why: match n {
                1 => "is not 1",
                4 => "is not 4",
                10 => "is not 10",
                14 => "is not 14",
                _ => "is not the TLV's fixed length",
            },
        });
    }
    Ok(())
}

impl Tlv {
    /// The TLV type (14 bits).
    pub fn kind(&self) -> u16 {
        match self {
            Tlv::Fec(_) => tlv::FEC,
            Tlv::AddressList(_) => tlv::ADDRESS_LIST,
            Tlv::HopCount(_) => tlv::HOP_COUNT,
            Tlv::PathVector(_) => tlv::PATH_VECTOR,
            Tlv::GenericLabel(_) => tlv::GENERIC_LABEL,
            Tlv::Status(_) => tlv::STATUS,
            Tlv::CommonHello { .. } => tlv::COMMON_HELLO,
            Tlv::Ipv4Transport(_) => tlv::IPV4_TRANSPORT,
            Tlv::ConfigSeq(_) => tlv::CONFIG_SEQ,
            Tlv::CommonSession(_) => tlv::COMMON_SESSION,
            Tlv::LabelRequestId(_) => tlv::LABEL_REQUEST_ID,
            Tlv::Unknown { kind, .. } => *kind,
        }
    }

    fn parse_value(
        unknown_bit: bool,
        forward_bit: bool,
        kind: u16,
        v: &[u8],
    ) -> Result<Tlv, Error> {
        Ok(match kind {
            tlv::FEC => Tlv::Fec(parse_fec(v)?),
            tlv::ADDRESS_LIST => {
                if v.len() < 2 {
                    return Err(Error::BadTlvLength {
                        kind,
                        length: v.len(),
                        why: "has no address family",
                    });
                }
                let family = be16(v, 0);
                let a = &v[2..];
                match family {
                    af::IPV4 if a.len().is_multiple_of(4) => Tlv::AddressList(AddressList::V4(
                        a.chunks_exact(4).map(|c| ip4(c, 0)).collect(),
                    )),
                    af::IPV6 if a.len().is_multiple_of(16) => Tlv::AddressList(AddressList::V6(
                        a.chunks_exact(16)
                            .map(|c| Ipv6Addr::from(<[u8; 16]>::try_from(c).expect("chunk of 16")))
                            .collect(),
                    )),
                    af::IPV4 | af::IPV6 => {
                        return Err(Error::BadTlvLength {
                            kind,
                            length: v.len(),
                            why: "is not a whole number of addresses",
                        })
                    }
                    other => return Err(Error::UnsupportedAddressFamily(other)),
                }
            }
            tlv::HOP_COUNT => {
                exact(kind, v, 1)?;
                Tlv::HopCount(v[0])
            }
            tlv::PATH_VECTOR => {
                if v.is_empty() || !v.len().is_multiple_of(4) {
                    return Err(Error::BadTlvLength {
                        kind,
                        length: v.len(),
                        why: "is not a non-zero multiple of 4",
                    });
                }
                Tlv::PathVector(v.chunks_exact(4).map(|c| ip4(c, 0)).collect())
            }
            tlv::GENERIC_LABEL => {
                exact(kind, v, 4)?;
                let l = be32(v, 0);
                if l > MAX_LABEL {
                    return Err(Error::MalformedTlv {
                        kind,
                        why: "label does not fit in 20 bits",
                    });
                }
                Tlv::GenericLabel(l)
            }
            tlv::STATUS => {
                exact(kind, v, 10)?;
                Tlv::Status(Status {
                    code: be32(v, 0),
                    message_id: be32(v, 4),
                    message_type: be16(v, 8),
                })
            }
            tlv::COMMON_HELLO => {
                exact(kind, v, 4)?;
                Tlv::CommonHello {
                    hold_time: be16(v, 0),
                    targeted: v[2] & 0x80 != 0,
                    request_targeted: v[2] & 0x40 != 0,
                    gtsm: v[2] & 0x20 != 0,
                }
            }
            tlv::IPV4_TRANSPORT => {
                exact(kind, v, 4)?;
                Tlv::Ipv4Transport(ip4(v, 0))
            }
            tlv::CONFIG_SEQ => {
                exact(kind, v, 4)?;
                Tlv::ConfigSeq(be32(v, 0))
            }
            tlv::COMMON_SESSION => {
                exact(kind, v, 14)?;
                Tlv::CommonSession(SessionParams {
                    version: be16(v, 0),
                    keepalive: be16(v, 2),
                    on_demand: v[4] & 0x80 != 0,
                    loop_detection: v[4] & 0x40 != 0,
                    path_vector_limit: v[5],
                    max_pdu: be16(v, 6),
                    receiver: LdpId {
                        lsr_id: ip4(v, 8),
                        label_space: be16(v, 12),
                    },
                })
            }
            tlv::LABEL_REQUEST_ID => {
                exact(kind, v, 4)?;
                Tlv::LabelRequestId(be32(v, 0))
            }
            _ => Tlv::Unknown {
                unknown_bit,
                forward_bit,
                kind,
                value: v.to_vec(),
            },
        })
    }

    fn emit_value(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Tlv::Fec(e) => emit_fec(e, out)?,
            Tlv::AddressList(AddressList::V4(a)) => {
                out.extend_from_slice(&af::IPV4.to_be_bytes());
                a.iter().for_each(|x| out.extend_from_slice(&x.octets()));
            }
            Tlv::AddressList(AddressList::V6(a)) => {
                out.extend_from_slice(&af::IPV6.to_be_bytes());
                a.iter().for_each(|x| out.extend_from_slice(&x.octets()));
            }
            Tlv::HopCount(h) => out.push(*h),
            Tlv::PathVector(p) => p.iter().for_each(|x| out.extend_from_slice(&x.octets())),
            Tlv::GenericLabel(l) => {
                if *l > MAX_LABEL {
                    return Err(Error::MalformedTlv {
                        kind: tlv::GENERIC_LABEL,
                        why: "label does not fit in 20 bits",
                    });
                }
                out.extend_from_slice(&l.to_be_bytes());
            }
            Tlv::Status(s) => {
                out.extend_from_slice(&s.code.to_be_bytes());
                out.extend_from_slice(&s.message_id.to_be_bytes());
                out.extend_from_slice(&s.message_type.to_be_bytes());
            }
            Tlv::CommonHello {
                hold_time,
                targeted,
                request_targeted,
                gtsm,
            } => {
                out.extend_from_slice(&hold_time.to_be_bytes());
                out.push(
                    u8::from(*targeted) << 7
                        | u8::from(*request_targeted) << 6
                        | u8::from(*gtsm) << 5,
                );
                out.push(0);
            }
            Tlv::Ipv4Transport(a) => out.extend_from_slice(&a.octets()),
            Tlv::ConfigSeq(n) | Tlv::LabelRequestId(n) => out.extend_from_slice(&n.to_be_bytes()),
            Tlv::CommonSession(p) => {
                out.extend_from_slice(&p.version.to_be_bytes());
                out.extend_from_slice(&p.keepalive.to_be_bytes());
                out.push(u8::from(p.on_demand) << 7 | u8::from(p.loop_detection) << 6);
                out.push(p.path_vector_limit);
                out.extend_from_slice(&p.max_pdu.to_be_bytes());
                out.extend_from_slice(&p.receiver.lsr_id.octets());
                out.extend_from_slice(&p.receiver.label_space.to_be_bytes());
            }
            Tlv::Unknown { value, .. } => out.extend_from_slice(value),
        }
        Ok(())
    }

    /// Appends the TLV (header and value) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        let (u, f) = match self {
            Tlv::Unknown {
                unknown_bit,
                forward_bit,
                ..
            } => (*unknown_bit, *forward_bit),
            _ => (false, false),
        };
        let kind = self.kind();
        if kind > 0x3fff {
            return Err(Error::MalformedTlv {
                kind,
                why: "TLV type does not fit in 14 bits",
            });
        }
        let t = kind | u16::from(u) << 15 | u16::from(f) << 14;
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        self.emit_value(out)?;
        let len = out.len() - start - TLV_HEADER_LEN;
        let len16 = u16::try_from(len).map_err(|_| Error::BadTlvLength {
            kind,
            length: len,
            why: "does not fit in 16 bits",
        })?;
        out[start + 2..start + 4].copy_from_slice(&len16.to_be_bytes());
        Ok(())
    }
}

/// Parses a sequence of TLVs (a message body).
pub fn parse_tlvs(mut b: &[u8]) -> Result<Vec<Tlv>, Error> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < TLV_HEADER_LEN {
            return Err(Error::BadTlvLength {
                kind: 0,
                length: b.len(),
                why: "leaves less than a TLV header in the message",
            });
        }
        let t = be16(b, 0);
        let kind = t & 0x3fff;
        let length = be16(b, 2) as usize;
        if TLV_HEADER_LEN + length > b.len() {
            return Err(Error::BadTlvLength {
                kind,
                length,
                why: "runs past the end of the message",
            });
        }
        out.push(Tlv::parse_value(
            t & 0x8000 != 0,
            t & 0x4000 != 0,
            kind,
            &b[TLV_HEADER_LEN..TLV_HEADER_LEN + length],
        )?);
        b = &b[TLV_HEADER_LEN + length..];
    }
    Ok(out)
}

/// An owned LDP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The U bit (only set on message types a receiver may ignore silently).
    pub unknown_bit: bool,
    pub kind: u16,
    pub id: u32,
    pub tlvs: Vec<Tlv>,
}

impl Message {
    /// A message of a known type (U bit clear).
    pub fn new(kind: u16, id: u32, tlvs: Vec<Tlv>) -> Self {
        Message {
            unknown_bit: false,
            kind,
            id,
            tlvs,
        }
    }

    /// Decodes the TLVs of a framed message.
    pub fn parse(raw: &RawMessage<'_>) -> Result<Message, Error> {
        Ok(Message {
            unknown_bit: raw.unknown_bit,
            kind: raw.kind,
            id: raw.id,
            tlvs: parse_tlvs(raw.body)?,
        })
    }

    /// Appends the message to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.kind > 0x7fff {
            return Err(Error::BadMessageLength {
                kind: "(invalid type)",
                length: 0,
                why: "type does not fit in 15 bits",
            });
        }
        let start = out.len();
        out.extend_from_slice(&(self.kind | u16::from(self.unknown_bit) << 15).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.id.to_be_bytes());
        for t in &self.tlvs {
            t.emit(out)?;
        }
        let len = out.len() - start - 4;
        let len16 = u16::try_from(len).map_err(|_| Error::TooLong {
            len: len + 4,
            max: usize::from(u16::MAX),
        })?;
        out[start + 2..start + 4].copy_from_slice(&len16.to_be_bytes());
        Ok(())
    }

    /// The first FEC TLV's elements.
    pub fn fec(&self) -> Option<&[FecElement]> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Fec(e) => Some(e.as_slice()),
            _ => None,
        })
    }

    /// The first Generic Label TLV's label.
    pub fn generic_label(&self) -> Option<u32> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::GenericLabel(l) => Some(*l),
            _ => None,
        })
    }

    /// The first Status TLV.
    pub fn status(&self) -> Option<Status> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Status(s) => Some(*s),
            _ => None,
        })
    }

    /// The first unknown TLV with the U bit clear (RFC 5036 §3.5: such a message is ignored
    /// and notified with Unknown TLV).
    pub fn unknown_mandatory_tlv(&self) -> Option<u16> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Unknown {
                unknown_bit: false,
                kind,
                ..
            } => Some(*kind),
            _ => None,
        })
    }
}

/// Encodes `messages` from `id` into PDUs of at most `max_pdu` bytes each (a PDU holds as
/// many whole messages as fit). A message too long for any PDU is an error.
pub fn encode_pdus(id: LdpId, messages: &[Message], max_pdu: usize) -> Result<Vec<Vec<u8>>, Error> {
    let max_pdu = max_pdu.clamp(PDU_HEADER_LEN + MSG_HEADER_LEN, usize::from(u16::MAX) + 4);
    let mut pdus = Vec::new();
    let mut cur = Vec::new();
    let mut m = Vec::new();
    for msg in messages {
        m.clear();
        msg.emit(&mut m)?;
        if PDU_HEADER_LEN + m.len() > max_pdu {
            return Err(Error::TooLong {
                len: m.len(),
                max: max_pdu - PDU_HEADER_LEN,
            });
        }
        if !cur.is_empty() && cur.len() + m.len() > max_pdu {
            pdus.push(finish_pdu(std::mem::take(&mut cur)));
        }
        if cur.is_empty() {
            cur.extend_from_slice(&VERSION.to_be_bytes());
            cur.extend_from_slice(&[0, 0]);
            cur.extend_from_slice(&id.lsr_id.octets());
            cur.extend_from_slice(&id.label_space.to_be_bytes());
        }
        cur.extend_from_slice(&m);
    }
    if !cur.is_empty() {
        pdus.push(finish_pdu(cur));
    }
    Ok(pdus)
}

fn finish_pdu(mut p: Vec<u8>) -> Vec<u8> {
    let len = (p.len() - 4) as u16; // bounded by max_pdu <= 65539
    p[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    p
}
