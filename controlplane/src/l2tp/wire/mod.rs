//! L2TPv2 wire format (RFC 2661 §3, §4).
//!
//! Three layers, smoltcp style: [`L2tpPacket`] is a zero-copy view of the L2TP header (the
//! one header codec, `wire::l2tp`, shared with the data path and re-exported here with
//! [`L2tpRepr`], [`MessageKind`] and [`CONTROL_HEADER_LEN`]), [`AvpPacket`] a zero-copy view
//! of one AVP, and [`ControlMessage`] / [`Avp`] the owned values (`parse` / `emit`). Hidden
//! AVPs (§4.3) are decrypted on parse and encrypted on emit when a shared secret is given
//! ([`hidden`]). Nothing here panics on any input; every failure is an [`Error`] that says
//! what was wrong and where.

mod avp;
pub mod hidden;
mod message;

pub use ::wire::l2tp::{L2tpPacket, L2tpRepr, MessageKind, CONTROL_HEADER_LEN};
pub use avp::{
    attr, Avp, AvpPacket, AvpValue, CallErrors, AVP_HEADER_LEN, AVP_MAX_LEN, VENDOR_IETF,
};
pub use message::{ControlMessage, MessageType};

/// Decoding and encoding errors of L2TP messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The L2TP header is invalid (version, control-message flags, lengths), as
    /// `wire::l2tp::L2tpPacket::new_checked` reports it.
    #[error("L2TP header: {0}")]
    Header(#[from] ::wire::Error),
    #[error("L2TP message with flags {flags:#06x} is a data message (T=0), not a control message")]
    NotControl { flags: u16 },
    #[error("AVP at offset {at}: {len} bytes left, an AVP header needs 6")]
    AvpTruncated { at: usize, len: usize },
    #[error("AVP at offset {at}: length field {length} is shorter than the 6-byte AVP header")]
    AvpTooShort { at: usize, length: usize },
    #[error("AVP at offset {at}: length field {length} runs past the message ({left} bytes left)")]
    AvpOverrun {
        at: usize,
        length: usize,
        left: usize,
    },
    #[error("AVP {attr} ({name}): value of {len} bytes, expected {expected}")]
    AvpBadLength {
        attr: u16,
        name: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("AVP {attr} ({name}): value {value} out of range ({why})")]
    AvpBadValue {
        attr: u16,
        name: &'static str,
        value: u64,
        why: &'static str,
    },
    #[error("Assigned Tunnel ID AVP carries tunnel id 0 (must be non-zero)")]
    ZeroTunnelId,
    #[error("hidden AVP {attr} without a preceding Random Vector AVP in the message")]
    HiddenWithoutRandomVector { attr: u16 },
    #[error("hidden AVP {attr} received but no shared secret is configured")]
    HiddenWithoutSecret { attr: u16 },
    #[error("hidden AVP {attr}: decrypted original length {original} exceeds the {available} bytes hidden")]
    HiddenBadLength {
        attr: u16,
        original: usize,
        available: usize,
    },
    #[error("AVP {attr} must not be hidden")]
    MustNotBeHidden { attr: u16 },
    #[error("control message does not start with a Message Type AVP")]
    MissingMessageType,
    #[error("message type AVP is set on an AVP that is not the first one")]
    MisplacedMessageType,
    #[error("AVP value of {len} bytes too long to encode (max {max})")]
    AvpTooLong { len: usize, max: usize },
    #[error("control message of {len} bytes too long to encode (max 65535)")]
    MessageTooLong { len: usize },
    #[error("output buffer of {have} bytes too small, need {need}")]
    BufferTooSmall { have: usize, need: usize },
}

/// Result of L2TP wire operations.
pub type Result<T> = core::result::Result<T, Error>;

type Field = core::ops::Range<usize>;
