//! Mobile IPv4 wire formats (`docs/protocols/mobile-ip.md`).
//!
//! - [`registration`]: Registration Request (type 1) and Reply (type 3) of RFC 5944 §3.3/§3.4
//!   and the extensions that follow them ([`ext`]): MN-HA (32), MN-FA (33), FA-HA (34)
//!   authentication (RFC 5944 §3.5), the route optimisation authentication (35), the
//!   generalized authentication extension (36, RFC 3012 §5; subtype 1 is MN-AAA), the
//!   Critical and Normal Vendor/Organization Specific Extensions (38, 134; RFC 3115) that carry
//!   the seed's VPN information, NAI (131, RFC 2794), MN-FA Challenge (132, RFC 3012 §4) and
//!   the Previous Foreign Agent Notification of the route optimisation draft.
//! - [`binding`]: Binding Warning / Request / Update / Acknowledge of the route optimisation
//!   draft (draft-ietf-mobileip-optim-09 §4) as the seed uses them (Figs. 25–30).
//! - [`advert`]: the ICMP Agent Advertisement (RFC 5944 §2.1) with the Mobility Agent
//!   Advertisement extension (16), the Prefix-Lengths extension (19) and the FA challenge
//!   extension (24, RFC 3012 §2).
//! - [`ntp`]: the NTP-timestamp Identification of §5.7 and its replay check.
//!
//! Every decoder checks each length before using it and returns an [`Error`]; nothing here
//! panics on any input. Unknown extensions are kept as `Unknown` (the engines decide: RFC 5944
//! §1.9 — types 0–127 not understood make the message fail, 128–255 are skipped).

pub mod advert;
pub mod binding;
pub mod ext;
pub mod ntp;
pub mod registration;

#[cfg(test)]
mod tests;

pub use ext::Extension;

/// The Mobile IP registration UDP port (RFC 5944 §3.1).
pub const UDP_PORT: u16 = 434;

/// Message types of the first byte (RFC 5944 §3.3/§3.4, draft-ietf-mobileip-optim-09 §4).
pub mod msg_type {
    /// Registration Request.
    pub const REGISTRATION_REQUEST: u8 = 1;
    /// Registration Reply.
    pub const REGISTRATION_REPLY: u8 = 3;
    /// Binding Warning (route optimisation).
    pub const BINDING_WARNING: u8 = 16;
    /// Binding Request.
    pub const BINDING_REQUEST: u8 = 17;
    /// Binding Update.
    pub const BINDING_UPDATE: u8 = 18;
    /// Binding Acknowledge.
    pub const BINDING_ACK: u8 = 19;
}

/// Decoding errors of Mobile IPv4 messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the fixed part of the message needs.
    #[error("{what}: {have} bytes, at least {need} needed")]
    Truncated {
        /// Which message or extension.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The first byte is not the type this decoder reads.
    #[error("message type {got} is not {want} ({what})")]
    WrongType {
        /// Which message.
        what: &'static str,
        /// The expected type.
        want: u8,
        /// The type present.
        got: u8,
    },
    /// An extension's Length runs past the end of the message.
    #[error(
        "extension type {kind} at offset {offset}: length {len} runs past the {total}-byte message"
    )]
    ExtensionOverrun {
        /// The extension type.
        kind: u8,
        /// Its offset in the message.
        offset: usize,
        /// The declared length of its data.
        len: usize,
        /// The message length.
        total: usize,
    },
    /// An extension's Length is too short for its fixed fields.
    #[error("extension type {kind} at offset {offset}: length {len} is shorter than its {min}-byte fixed part")]
    ExtensionTooShort {
        /// The extension type.
        kind: u8,
        /// Its offset.
        offset: usize,
        /// Its declared data length.
        len: usize,
        /// The fixed part.
        min: usize,
    },
    /// More extensions than [`ext::MAX_EXTENSIONS`].
    #[error("more than {0} extensions")]
    TooManyExtensions(usize),
    /// A value that does not fit its field on encoding.
    #[error("{0} is too long for its length field")]
    TooLong(&'static str),
    /// ICMP checksum mismatch.
    #[error("ICMP checksum {got:#06x}, computed {want:#06x}")]
    BadChecksum {
        /// Carried.
        got: u16,
        /// Computed.
        want: u16,
    },
    /// A field with a value the message does not allow.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Result of the decoders.
pub type Result<T> = core::result::Result<T, Error>;

pub(crate) fn need(what: &'static str, b: &[u8], n: usize) -> Result<()> {
    if b.len() < n {
        Err(Error::Truncated {
            what,
            need: n,
            have: b.len(),
        })
    } else {
        Ok(())
    }
}

pub(crate) fn v4(b: &[u8], at: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(o)
}
