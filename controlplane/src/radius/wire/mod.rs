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
//! Tunnel attributes (RFC 2868) are typed with their tags ([`TaggedInt`], [`TaggedString`],
//! [`TunnelPassword`]); [`tunnels`] groups them into [`TunnelSpec`]s (see the [`tunnel`]
//! module for the tag rules and what a malformed one means).
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
pub mod tunnel;
mod vsa;

pub use attribute::{attr, attr_name, values, Attribute, ChapPassword, Ipv6Prefix};
pub use packet::{code, Packet, RawAttribute, RawAttributes, Repr, HEADER_LEN, MAX_LEN};
pub use tunnel::{
    choose_l2tp, is_tunnel_attribute, tunnels, Endpoint, L2tpChoice, TaggedInt, TaggedString,
    TunnelError, TunnelPassword, TunnelSpec,
};
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
    #[error(
        "Tunnel-Password salt 0x{salt:04x}: the most significant bit must be set (RFC 2868 §3.5)"
    )]
    TunnelPasswordSalt { salt: u16 },
    #[error(
        "encrypted Tunnel-Password of {len} bytes: must be a multiple of 16 between 16 and 240"
    )]
    TunnelPasswordLength { len: usize },
    #[error("Tunnel-Password of {len} bytes: must be at most 239 bytes")]
    TunnelPasswordTooLong { len: usize },
    #[error("decrypted Tunnel-Password: Data-Length {data_length} is larger than the {available} bytes after it (wrong secret, or a corrupt attribute)")]
    TunnelPasswordDataLength {
        data_length: usize,
        available: usize,
    },
    #[error("decrypted Tunnel-Password: {padding} bytes of padding, at most 15 are allowed (wrong secret, or a corrupt attribute)")]
    TunnelPasswordPadding { padding: usize },
}

impl Error {
    /// The attribute type an error is about, when it is about one attribute's value (not
    /// its framing): the client uses it to tell a malformed tunnel attribute from other
    /// malformed packets.
    pub fn value_error_kind(&self) -> Option<u8> {
        match self {
            Error::AttrBadLength { kind, .. } | Error::AttrBadValue { kind, .. } => Some(*kind),
            Error::TunnelPasswordSalt { .. }
            | Error::TunnelPasswordLength { .. }
            | Error::TunnelPasswordTooLong { .. }
            | Error::TunnelPasswordDataLength { .. }
            | Error::TunnelPasswordPadding { .. } => Some(attr::TUNNEL_PASSWORD),
            _ => None,
        }
    }
}

/// Result of RADIUS wire operations.
pub type Result<T> = core::result::Result<T, Error>;

type Field = core::ops::Range<usize>;
