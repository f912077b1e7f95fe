//! RADIUS wire format (RFC 2865 §3, §5; RFC 2866; RFC 3162; RFC 3579 §3.2; RFC 5176; RFC 2548).
//!
//! Three layers, smoltcp style: [`Packet`] is a zero-copy view of a RADIUS datagram whose
//! `new_checked` validates the header once (Length 20..=4096 and within the datagram; bytes
//! after Length are ignored as RFC 2865 §3 says), [`RawAttributes`] walks the attributes
//! without copying, and [`Repr`] / [`Attribute`] are the owned values (`parse` / `emit`).
//! Attributes of the [`dictionary`](attr) we use are typed; anything else is kept as
//! [`Attribute::Unknown`], and vendor-specific attributes of other vendors as
//! [`Vsa::Other`]. Microsoft VSAs (vendor 311, RFC 2548) are typed as [`MsAttr`].
//!
//! User-Password travels hidden (RFC 2865 §5.2): a [`Repr`] carries the hidden bytes, and
//! [`crypto::hide_password`] / [`crypto::unhide_password`] convert with the secret and the
//! Request Authenticator. [`crypto`] also computes and checks the Request/Response
//! Authenticators and the Message-Authenticator.
//!
//! Nothing here panics on any input; every failure is an [`Error`] that says what and where.

mod attribute;
pub mod crypto;
mod packet;
mod vsa;

pub use attribute::{attr, attr_name, values, Attribute, ChapPassword, Ipv6Prefix};
pub use packet::{code, Packet, RawAttribute, RawAttributes, Repr, HEADER_LEN, MAX_LEN};
pub use vsa::{ms, MsAttr, MsChap2Response, Vsa, VENDOR_MICROSOFT};

/// Decoding and encoding errors of RADIUS packets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("RADIUS datagram of {len} bytes is shorter than the 20-byte header")]
    Truncated { len: usize },
    #[error("RADIUS Length field {length} is below the minimum of 20")]
    LengthTooShort { length: usize },
    #[error("RADIUS Length field {length} is above the maximum of 4096")]
    LengthTooLong { length: usize },
    #[error("RADIUS Length field {length} runs past the {datagram}-byte datagram")]
    LengthOverrun { length: usize, datagram: usize },
    #[error("attribute at offset {at}: only {left} byte(s) left, an attribute header needs 2")]
    AttrTruncated { at: usize, left: usize },
    #[error("attribute {kind} at offset {at}: length field {length} is below the minimum of 2")]
    AttrTooShort { at: usize, kind: u8, length: usize },
    #[error("attribute {kind} at offset {at}: length field {length} runs past the packet ({left} bytes left)")]
    AttrOverrun {
        at: usize,
        kind: u8,
        length: usize,
        left: usize,
    },
    #[error("attribute {kind} ({name}): value of {len} bytes, expected {expected}")]
    AttrBadLength {
        kind: u8,
        name: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("attribute {kind} ({name}): {why}")]
    AttrBadValue {
        kind: u8,
        name: &'static str,
        why: &'static str,
    },
    #[error("Vendor-Specific attribute of {len} bytes has no room for the 4-byte Vendor-Id")]
    VsaTooShort { len: usize },
    #[error("vendor {vendor} sub-attribute at offset {at} of the VSA: {left} byte(s) left, a sub-attribute header needs 2")]
    VsaTruncated { vendor: u32, at: usize, left: usize },
    #[error("vendor {vendor} sub-attribute {kind} at offset {at} of the VSA: vendor-length {length} is below 2")]
    VsaSubTooShort {
        vendor: u32,
        at: usize,
        kind: u8,
        length: usize,
    },
    #[error("vendor {vendor} sub-attribute {kind} at offset {at} of the VSA: vendor-length {length} overruns the VSA ({left} bytes left)")]
    VsaSubOverrun {
        vendor: u32,
        at: usize,
        kind: u8,
        length: usize,
        left: usize,
    },
    #[error(
        "vendor {vendor} sub-attribute {kind} ({name}): value of {len} bytes, expected {expected}"
    )]
    VsaBadLength {
        vendor: u32,
        kind: u8,
        name: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("attribute value of {len} bytes is too long to encode (max {max})")]
    ValueTooLong { len: usize, max: usize },
    #[error("packet of {len} bytes is too long to encode (max 4096)")]
    PacketTooLong { len: usize },
    #[error("User-Password of {len} bytes: must be at most 128 bytes")]
    PasswordTooLong { len: usize },
    #[error("hidden User-Password of {len} bytes: must be a multiple of 16 between 16 and 128")]
    HiddenPasswordLength { len: usize },
    #[error("packet has {count} Message-Authenticator attributes (at most one is allowed)")]
    DuplicateMessageAuthenticator { count: usize },
}

/// Result of RADIUS wire operations.
pub type Result<T> = core::result::Result<T, Error>;

type Field = core::ops::Range<usize>;
