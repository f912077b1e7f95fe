//! Binding messages of the route optimisation draft (draft-ietf-mobileip-optim-09 §4), as
//! the seed uses them: the HA tells a PCN (on behalf of its CNs) and a new FA tells the old FA
//! where a mobile node is now (Figs. 25–29), with the VPN information in vendor extensions.
//!
//! ```text
//! Binding Request (17): Type | Reserved(3) | Home Address | Identification(8) | Ext...
//! Binding Update  (18): Type | A I M G rsv | Lifetime(2) | Home Address | Care-of Address |
//!                       Identification(8) | Ext...
//! Binding Ack     (19): Type | N rsv | Reserved | Status | Home Address | Lifetime(2) |
//!                       Refresh(2) | Identification(8) | Ext...
//! ```
//! The Binding Warning (16) is not implemented: nothing in the seed sends one.

use std::net::Ipv4Addr;

use super::ext::{self, Extension, Located};
use super::{msg_type, need, u16_at, u64_at, v4, Error, Result};

/// Length of a Binding Request's fixed part.
pub const REQUEST_LEN: usize = 16;
/// Length of a Binding Update's fixed part.
pub const UPDATE_LEN: usize = 20;
/// Length of a Binding Acknowledge's fixed part.
pub const ACK_LEN: usize = 20;

/// Binding Update flags.
pub mod flags {
    /// Acknowledge requested.
    pub const A: u8 = 0x80;
    /// Identification present.
    pub const I: u8 = 0x40;
    /// Minimal encapsulation.
    pub const M: u8 = 0x20;
    /// GRE encapsulation.
    pub const G: u8 = 0x10;
}

/// Binding Acknowledge status values (draft §4.4; 128 and up are rejections).
pub mod status {
    /// Accepted.
    pub const ACCEPTED: u8 = 0;
    /// Rejected, reason unspecified.
    pub const UNSPECIFIED: u8 = 128;
    /// Poorly formed Binding Update.
    pub const POORLY_FORMED: u8 = 129;
    /// Failed authentication.
    pub const AUTH_FAILED: u8 = 130;
    /// Identification mismatch (replay).
    pub const ID_MISMATCH: u8 = 131;
    /// Insufficient resources.
    pub const NO_RESOURCES: u8 = 132;
}

/// A Binding Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRequest {
    /// The mobile node's home address.
    pub home_address: Ipv4Addr,
    /// Identification.
    pub identification: u64,
    /// Extensions.
    pub extensions: Vec<Located>,
}

/// A Binding Update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingUpdate {
    /// Flags ([`flags`]).
    pub flags: u8,
    /// Lifetime of the binding in seconds (0: delete it).
    pub lifetime: u16,
    /// The mobile node's home address.
    pub home_address: Ipv4Addr,
    /// Its current care-of address.
    pub care_of_address: Ipv4Addr,
    /// Identification (replay protection as §5.7).
    pub identification: u64,
    /// Extensions (VPN profiles, RO authentication last).
    pub extensions: Vec<Located>,
}

/// A Binding Acknowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingAck {
    /// Status ([`status`]).
    pub status: u8,
    /// The mobile node's home address.
    pub home_address: Ipv4Addr,
    /// Lifetime granted.
    pub lifetime: u16,
    /// When to refresh (seconds).
    pub refresh: u16,
    /// Identification of the update acknowledged.
    pub identification: u64,
    /// Extensions.
    pub extensions: Vec<Located>,
}

fn check_type(b: &[u8], want: u8, what: &'static str, len: usize) -> Result<()> {
    need(what, b, len)?;
    if b[0] != want {
        return Err(Error::WrongType {
            what,
            want,
            got: b[0],
        });
    }
    Ok(())
}

fn finish(mut b: Vec<u8>, exts: &[Extension]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut offs = Vec::with_capacity(exts.len());
    for e in exts {
        offs.push(b.len());
        e.emit(&mut b)?;
    }
    Ok((b, offs))
}

fn owned(l: &[Located]) -> Vec<Extension> {
    l.iter().map(|l| l.ext.clone()).collect()
}

impl BindingRequest {
    /// Decodes.
    pub fn parse(b: &[u8]) -> Result<Self> {
        check_type(b, msg_type::BINDING_REQUEST, "Binding Request", REQUEST_LEN)?;
        Ok(BindingRequest {
            home_address: v4(b, 4),
            identification: u64_at(b, 8),
            extensions: ext::parse_all(b, REQUEST_LEN)?,
        })
    }
    /// Fixed part.
    pub fn fixed(&self) -> Vec<u8> {
        let mut b = vec![msg_type::BINDING_REQUEST, 0, 0, 0];
        b.extend_from_slice(&self.home_address.octets());
        b.extend_from_slice(&self.identification.to_be_bytes());
        b
    }
    /// Encodes.
    pub fn emit(&self) -> Result<Vec<u8>> {
        Ok(finish(self.fixed(), &owned(&self.extensions))?.0)
    }
}

impl BindingUpdate {
    /// Decodes.
    pub fn parse(b: &[u8]) -> Result<Self> {
        check_type(b, msg_type::BINDING_UPDATE, "Binding Update", UPDATE_LEN)?;
        Ok(BindingUpdate {
            flags: b[1],
            lifetime: u16_at(b, 2),
            home_address: v4(b, 4),
            care_of_address: v4(b, 8),
            identification: u64_at(b, 12),
            extensions: ext::parse_all(b, UPDATE_LEN)?,
        })
    }
    /// Fixed part.
    pub fn fixed(&self) -> Vec<u8> {
        let mut b = vec![msg_type::BINDING_UPDATE, self.flags & 0xf0];
        b.extend_from_slice(&self.lifetime.to_be_bytes());
        b.extend_from_slice(&self.home_address.octets());
        b.extend_from_slice(&self.care_of_address.octets());
        b.extend_from_slice(&self.identification.to_be_bytes());
        b
    }
    /// Encodes.
    pub fn emit(&self) -> Result<Vec<u8>> {
        Ok(finish(self.fixed(), &owned(&self.extensions))?.0)
    }
    /// Encodes the fixed part followed by `exts`: bytes and extension offsets.
    pub fn emit_extensions(&self, exts: &[Extension]) -> Result<(Vec<u8>, Vec<usize>)> {
        finish(self.fixed(), exts)
    }
}

impl BindingAck {
    /// Decodes.
    pub fn parse(b: &[u8]) -> Result<Self> {
        check_type(b, msg_type::BINDING_ACK, "Binding Acknowledge", ACK_LEN)?;
        Ok(BindingAck {
            status: b[3],
            home_address: v4(b, 4),
            lifetime: u16_at(b, 8),
            refresh: u16_at(b, 10),
            identification: u64_at(b, 12),
            extensions: ext::parse_all(b, ACK_LEN)?,
        })
    }
    /// Fixed part.
    pub fn fixed(&self) -> Vec<u8> {
        let mut b = vec![msg_type::BINDING_ACK, 0, 0, self.status];
        b.extend_from_slice(&self.home_address.octets());
        b.extend_from_slice(&self.lifetime.to_be_bytes());
        b.extend_from_slice(&self.refresh.to_be_bytes());
        b.extend_from_slice(&self.identification.to_be_bytes());
        b
    }
    /// Encodes.
    pub fn emit(&self) -> Result<Vec<u8>> {
        Ok(finish(self.fixed(), &owned(&self.extensions))?.0)
    }
    /// Encodes the fixed part followed by `exts`.
    pub fn emit_extensions(&self, exts: &[Extension]) -> Result<(Vec<u8>, Vec<usize>)> {
        finish(self.fixed(), exts)
    }
}
