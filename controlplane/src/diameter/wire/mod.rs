//! Diameter wire format (RFC 6733 §3, §4; RFC 4004 §5, §7).
//!
//! Three layers, smoltcp style:
//! - [`MessageView`] is a zero-copy view of one message whose `new_checked` validates the
//!   header (version 1, Message Length of at least 20 and a multiple of 4, no reserved flag
//!   bits, no E bit on a request) and walks every AVP once: flags, AVP Length (at least 8, or
//!   12 with the V bit), the padding to 4 bytes, and the AVPs nested in the grouped AVPs this
//!   dictionary knows ([`avp::is_grouped`]) down to [`MAX_GROUP_DEPTH`]. After that, its
//!   [`MessageView::avps`] iterator cannot fail.
//! - [`Avp`] is one owned AVP (code, V/M/P flags, optional Vendor-Id, data without padding)
//!   with constructors and typed readers for the basic data types of RFC 6733 §4.2–§4.3
//!   (OctetString, Integer32/64, Unsigned32/64, Float32/64, Grouped, [`Address`], [`Time`],
//!   UTF8String, DiameterIdentity, [`DiameterUri`] (the `aaa://`/`aaas://` form only),
//!   Enumerated as Integer32).
//! - [`Message`] is the owned message: a [`Header`] and its AVPs, with `parse` / `emit`,
//!   builders (`request`, `answer_to`, `with`) and lookups (first AVP by code, by vendor and
//!   code, every AVP of a code).
//!
//! AVP data are kept as bytes in [`Avp`]; a value is decoded when it is read, with the type
//! the caller (the engine, which knows the command's grammar) asks for. The AVP Length
//! excludes the padding, the Message Length includes it; emit writes zero padding, parse
//! accepts any padding bytes (RFC 6733 §4 only says they are zero when sent).
//!
//! Errors are an [`Error`] whose [`Error::result_code`] names the Result-Code a receiver
//! answers with (DIAMETER_INVALID_AVP_LENGTH, DIAMETER_INVALID_HDR_BITS, ...), and whose
//! `at` fields give the offset of the offending AVP so the engine can copy it into a
//! Failed-AVP. The codec only reports: unknown AVPs with the M bit are found by
//! [`MessageView::check_mandatory`] / [`Message::check_mandatory`] against a caller's
//! dictionary, and what to answer is the engine's decision.
//!
//! Nothing here panics on any input. There is no engine, no socket and no profile here yet:
//! see the [parent module](super).

pub mod avp;
pub mod codes;
mod message;

pub use avp::{Address, Avp, DiameterUri, Time};
pub use message::{frame_len, Header, Message, MessageView};

/// Length of the Diameter header (RFC 6733 §3).
pub const HEADER_LEN: usize = 20;
/// Largest value of the 24-bit Message Length and AVP Length fields.
pub const MAX_LEN: usize = 0x00ff_ffff;
/// How deep grouped AVPs may nest (a grouped AVP at the top level is depth 1); deeper
/// nesting is refused with [`Error::NestingTooDeep`] so hostile input cannot recurse far.
pub const MAX_GROUP_DEPTH: usize = 8;

/// Decoding and encoding errors of Diameter messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than a header: on a stream, wait for more.
    #[error("Diameter message of {len} bytes is shorter than the 20-byte header")]
    Truncated { len: usize },
    /// The buffer ends before Message Length: on a stream, wait for more.
    #[error("Diameter Message Length {length} runs past the {have} bytes received")]
    Incomplete { length: usize, have: usize },
    #[error("Diameter version {version} is not supported (only 1)")]
    UnsupportedVersion { version: u8 },
    #[error("Diameter Message Length {length}: must be at least 20 and a multiple of 4")]
    InvalidMessageLength { length: usize },
    #[error("Diameter header flags 0x{flags:02x}: reserved bits set, or E bit on a request")]
    InvalidHdrBits { flags: u8 },
    #[error("AVP {code} at offset {at}: flags 0x{flags:02x} have reserved bits set")]
    InvalidAvpBits { at: usize, code: u32, flags: u8 },
    #[error("AVP {code} at offset {at}: AVP Length {length} {why}")]
    InvalidAvpLength {
        at: usize,
        code: u32,
        length: usize,
        why: &'static str,
    },
    #[error("AVP {code}: data of {len} bytes, expected {expected}")]
    InvalidDataLength {
        code: u32,
        len: usize,
        expected: &'static str,
    },
    #[error("AVP {code} (vendor {vendor}) has the M bit set and is not understood")]
    AvpUnsupported { at: usize, code: u32, vendor: u32 },
    #[error("AVP {code}: {why}")]
    InvalidAvpValue { code: u32, why: &'static str },
    #[error("AVP {code} at offset {at}: grouped AVPs nested deeper than {max}")]
    NestingTooDeep { at: usize, code: u32, max: usize },
    #[error("AVP {code} with {len} bytes of data is too long to encode")]
    AvpTooLong { code: u32, len: usize },
    #[error("command code {command} does not fit the 24-bit field")]
    CommandTooLarge { command: u32 },
    #[error("Diameter message of {len} bytes is too long to encode (max 16777215)")]
    MessageTooLong { len: usize },
}

impl Error {
    /// The Result-Code (RFC 6733 §7.1) a receiver answers this error with, or `None` when
    /// the error is not the peer's fault to be told about (more bytes needed, or our own
    /// message could not be encoded). Nesting beyond [`MAX_GROUP_DEPTH`] is answered as
    /// DIAMETER_INVALID_AVP_VALUE: the grouped AVP's value is what we refuse.
    pub fn result_code(&self) -> Option<u32> {
        use codes::result::*;
        Some(match self {
            Error::Truncated { .. }
            | Error::Incomplete { .. }
            | Error::AvpTooLong { .. }
            | Error::CommandTooLarge { .. }
            | Error::MessageTooLong { .. } => return None,
            Error::UnsupportedVersion { .. } => UNSUPPORTED_VERSION,
            Error::InvalidMessageLength { .. } => INVALID_MESSAGE_LENGTH,
            Error::InvalidHdrBits { .. } => INVALID_HDR_BITS,
            Error::InvalidAvpBits { .. } => INVALID_AVP_BITS,
            Error::InvalidAvpLength { .. } | Error::InvalidDataLength { .. } => INVALID_AVP_LENGTH,
            Error::AvpUnsupported { .. } => AVP_UNSUPPORTED,
            Error::InvalidAvpValue { .. } | Error::NestingTooDeep { .. } => INVALID_AVP_VALUE,
        })
    }

    /// Offset (within the buffer that was parsed) of the AVP the error is about, for the
    /// Failed-AVP of the answer.
    pub fn avp_offset(&self) -> Option<usize> {
        match self {
            Error::InvalidAvpBits { at, .. }
            | Error::InvalidAvpLength { at, .. }
            | Error::AvpUnsupported { at, .. }
            | Error::NestingTooDeep { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// Result of Diameter wire operations.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests;
