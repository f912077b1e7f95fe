//! Registration Request (RFC 5944 §3.3) and Registration Reply (§3.4).
//!
//! ```text
//! Request:  Type=1 | S B D M G r T x | Lifetime(2) | Home Address | Home Agent |
//!           Care-of Address | Identification(8) | Extensions...
//! Reply:    Type=3 | Code | Lifetime(2) | Home Address | Home Agent |
//!           Identification(8) | Extensions...
//! ```

use std::net::Ipv4Addr;

use super::ext::{self, Extension, Located};
use super::{msg_type, need, u16_at, u64_at, v4, Error, Result};

/// Length of the Request's fixed part.
pub const REQUEST_LEN: usize = 24;
/// Length of the Reply's fixed part.
pub const REPLY_LEN: usize = 20;

/// Flag bits of the Request's second byte (RFC 5944 §3.3).
pub mod flags {
    /// Simultaneous bindings.
    pub const S: u8 = 0x80;
    /// Broadcast datagrams.
    pub const B: u8 = 0x40;
    /// Decapsulation by the mobile node (co-located care-of address).
    pub const D: u8 = 0x20;
    /// Minimal encapsulation.
    pub const M: u8 = 0x10;
    /// GRE encapsulation.
    pub const G: u8 = 0x08;
    /// Reserved, sent as zero.
    pub const R: u8 = 0x04;
    /// Reverse tunnelling (RFC 3024).
    pub const T: u8 = 0x02;
    /// Ignored.
    pub const X: u8 = 0x01;
}

/// Reply codes (RFC 5944 §3.4, RFC 3012 §10).
pub mod code {
    /// Registration accepted.
    pub const ACCEPTED: u8 = 0;
    /// Accepted, but simultaneous mobility bindings unsupported.
    pub const ACCEPTED_NO_SIMULTANEOUS: u8 = 1;
    /// FA: reason unspecified.
    pub const FA_UNSPECIFIED: u8 = 64;
    /// FA: administratively prohibited.
    pub const FA_PROHIBITED: u8 = 65;
    /// FA: insufficient resources.
    pub const FA_NO_RESOURCES: u8 = 66;
    /// FA: mobile node failed authentication.
    pub const FA_MN_AUTH_FAILED: u8 = 67;
    /// FA: home agent failed authentication.
    pub const FA_HA_AUTH_FAILED: u8 = 68;
    /// FA: requested lifetime too long.
    pub const FA_LIFETIME_TOO_LONG: u8 = 69;
    /// FA: poorly formed request.
    pub const FA_POORLY_FORMED_REQUEST: u8 = 70;
    /// FA: poorly formed reply.
    pub const FA_POORLY_FORMED_REPLY: u8 = 71;
    /// FA: home agent host unreachable (ICMP error received).
    pub const FA_HA_UNREACHABLE: u8 = 81;
    /// FA: registration timeout.
    pub const FA_TIMEOUT: u8 = 78;
    /// FA: unknown challenge (RFC 3012 §10).
    pub const FA_UNKNOWN_CHALLENGE: u8 = 104;
    /// FA: missing challenge.
    pub const FA_MISSING_CHALLENGE: u8 = 105;
    /// FA: stale challenge.
    pub const FA_STALE_CHALLENGE: u8 = 106;
    /// HA: reason unspecified.
    pub const HA_UNSPECIFIED: u8 = 128;
    /// HA: administratively prohibited.
    pub const HA_PROHIBITED: u8 = 129;
    /// HA: insufficient resources.
    pub const HA_NO_RESOURCES: u8 = 130;
    /// HA: mobile node failed authentication.
    pub const HA_MN_AUTH_FAILED: u8 = 131;
    /// HA: foreign agent failed authentication.
    pub const HA_FA_AUTH_FAILED: u8 = 132;
    /// HA: registration Identification mismatch.
    pub const HA_ID_MISMATCH: u8 = 133;
    /// HA: poorly formed request.
    pub const HA_POORLY_FORMED: u8 = 134;
    /// HA: too many simultaneous mobility bindings.
    pub const HA_TOO_MANY_BINDINGS: u8 = 135;
    /// HA: unknown home agent address.
    pub const HA_UNKNOWN_HA: u8 = 136;

    /// Whether `c` accepts the registration.
    pub fn accepted(c: u8) -> bool {
        c <= ACCEPTED_NO_SIMULTANEOUS
    }
}

/// A Registration Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Flag byte ([`flags`]).
    pub flags: u8,
    /// Requested lifetime in seconds (0: deregistration, 0xffff: infinity).
    pub lifetime: u16,
    /// Home address.
    pub home_address: Ipv4Addr,
    /// Home agent.
    pub home_agent: Ipv4Addr,
    /// Care-of address.
    pub care_of_address: Ipv4Addr,
    /// Identification (§5.7).
    pub identification: u64,
    /// Extensions in order, with their offsets when parsed (0 when built).
    pub extensions: Vec<Located>,
}

/// A Registration Reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Reply code ([`code`]).
    pub code: u8,
    /// Granted lifetime.
    pub lifetime: u16,
    /// Home address.
    pub home_address: Ipv4Addr,
    /// Home agent.
    pub home_agent: Ipv4Addr,
    /// Identification (§5.7: the HA's timestamp in the high 32 bits on a mismatch).
    pub identification: u64,
    /// Extensions.
    pub extensions: Vec<Located>,
}

/// Finds the first extension for which `f` gives a value.
pub fn find<'a, T>(exts: &'a [Located], f: impl Fn(&'a Extension) -> Option<T>) -> Option<T> {
    exts.iter().find_map(|l| f(&l.ext))
}

/// The NAI (RFC 2794), as UTF-8.
pub fn nai(exts: &[Located]) -> Option<&str> {
    find(exts, |e| match e {
        Extension::Nai(n) => std::str::from_utf8(n).ok(),
        _ => None,
    })
}

/// Emits `extensions` after `fixed`: the bytes and the offset of each extension.
fn emit_with(fixed: Vec<u8>, exts: &[Extension]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut b = fixed;
    let mut offs = Vec::with_capacity(exts.len());
    for e in exts {
        offs.push(b.len());
        e.emit(&mut b)?;
    }
    Ok((b, offs))
}

impl Request {
    /// Decodes a Registration Request.
    pub fn parse(b: &[u8]) -> Result<Request> {
        need("Registration Request", b, REQUEST_LEN)?;
        if b[0] != msg_type::REGISTRATION_REQUEST {
            return Err(Error::WrongType {
                what: "Registration Request",
                want: msg_type::REGISTRATION_REQUEST,
                got: b[0],
            });
        }
        Ok(Request {
            flags: b[1],
            lifetime: u16_at(b, 2),
            home_address: v4(b, 4),
            home_agent: v4(b, 8),
            care_of_address: v4(b, 12),
            identification: u64_at(b, 16),
            extensions: ext::parse_all(b, REQUEST_LEN)?,
        })
    }

    /// The fixed part.
    pub fn fixed(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(REQUEST_LEN + 64);
        b.push(msg_type::REGISTRATION_REQUEST);
        b.push(self.flags & !flags::R);
        b.extend_from_slice(&self.lifetime.to_be_bytes());
        b.extend_from_slice(&self.home_address.octets());
        b.extend_from_slice(&self.home_agent.octets());
        b.extend_from_slice(&self.care_of_address.octets());
        b.extend_from_slice(&self.identification.to_be_bytes());
        b
    }

    /// Encodes the request with its extensions as they are.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let exts: Vec<Extension> = self.extensions.iter().map(|l| l.ext.clone()).collect();
        Ok(emit_with(self.fixed(), &exts)?.0)
    }

    /// Encodes the fixed part followed by `exts`: bytes and extension offsets.
    pub fn emit_extensions(&self, exts: &[Extension]) -> Result<(Vec<u8>, Vec<usize>)> {
        emit_with(self.fixed(), exts)
    }

    /// The NAI extension.
    pub fn nai(&self) -> Option<&str> {
        nai(&self.extensions)
    }
}

impl Reply {
    /// Decodes a Registration Reply.
    pub fn parse(b: &[u8]) -> Result<Reply> {
        need("Registration Reply", b, REPLY_LEN)?;
        if b[0] != msg_type::REGISTRATION_REPLY {
            return Err(Error::WrongType {
                what: "Registration Reply",
                want: msg_type::REGISTRATION_REPLY,
                got: b[0],
            });
        }
        Ok(Reply {
            code: b[1],
            lifetime: u16_at(b, 2),
            home_address: v4(b, 4),
            home_agent: v4(b, 8),
            identification: u64_at(b, 12),
            extensions: ext::parse_all(b, REPLY_LEN)?,
        })
    }

    /// The fixed part.
    pub fn fixed(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(REPLY_LEN + 32);
        b.push(msg_type::REGISTRATION_REPLY);
        b.push(self.code);
        b.extend_from_slice(&self.lifetime.to_be_bytes());
        b.extend_from_slice(&self.home_address.octets());
        b.extend_from_slice(&self.home_agent.octets());
        b.extend_from_slice(&self.identification.to_be_bytes());
        b
    }

    /// Encodes the reply with its extensions.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let exts: Vec<Extension> = self.extensions.iter().map(|l| l.ext.clone()).collect();
        Ok(emit_with(self.fixed(), &exts)?.0)
    }

    /// Encodes the fixed part followed by `exts`.
    pub fn emit_extensions(&self, exts: &[Extension]) -> Result<(Vec<u8>, Vec<usize>)> {
        emit_with(self.fixed(), exts)
    }
}
