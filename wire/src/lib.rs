//! Packet views of varouter, smoltcp style: the one place where bytes from the network become
//! typed headers, shared by the data plane's workers and the control core.
//!
//! This is the bottom layer of the workspace and depends on nothing else in it. The workers
//! (`dataplane`) parse and rewrite headers with these views on the fast path; the control core
//! (`controlplane`) uses the same views to read what the workers punt and to build what it
//! injects (ARP/ND, ICMP, UDP for L2TP). Only headers belong here: the full codecs of control
//! messages — L2TP AVPs, later LCP/IPCP, RADIUS, Diameter — stay with their protocol in
//! `controlplane` as `<proto>/{wire,engine,driver}`, built on the headers of this crate.
//!
//! Every protocol has a zero-copy view (`XxxPacket<T: AsRef<[u8]>>`) whose `new_checked()`
//! validates every length once, so that the getters that follow cannot panic on any input,
//! and (where the protocol has a value form) a `XxxRepr` with `parse()` / `emit()` /
//! `buffer_len()`. Field offsets live in a `mod field` of `const` ranges in each file.
//!
//! Contract, as in smoltcp:
//! - After `new_checked()` succeeds, no getter, `payload()` or `Repr::parse()` panics, whatever
//!   the bytes are. Unknown code points are kept (`Unknown(x)` / `Other { .. }`).
//! - Setters and `Repr::emit()` write into a buffer the *caller* sized (with
//!   `Repr::buffer_len()` / `XxxPacket::buffer_len()`); handing them a shorter buffer is a
//!   programming error and panics. Emitting overwrites every header byte (reserved bytes are
//!   written as zero), so nothing from a recycled buffer leaks.
//!
//! Modules: [`ethernet`], [`vlan`] (802.1Q / 802.1ad tags), [`arp`], [`checksum`] (RFC 1071 /
//! RFC 1624), [`ipv4`], [`ipv6`] (fixed header only), [`mpls`] (label stack entry view),
//! [`udp`], [`icmpv4`], [`icmpv6`] (incl. neighbor discovery NS/NA), [`l2tp`] (the one L2TPv2
//! header codec: the data path's view and the control engine's header with Ns/Nr; AVPs live
//! with the engine in `controlplane`), [`ppp`] (the PPP protocol field inside L2TP and PPPoE
//! sessions), [`pppoe`] (the PPPoE header of discovery and session frames; TAGs are not
//! decoded), [`esp`] (the ESP header and trailer, ESP in UDP; the AEADs live in the crate
//! `esp`).
#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod esp;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod l2tp;
pub mod mpls;
pub mod ppp;
pub mod pppoe;
pub mod udp;
pub mod vlan;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{
    Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Icmpv4TimeExceeded,
};
pub use icmpv6::{
    Icmpv6DstUnreachable, Icmpv6Message, Icmpv6Packet, Icmpv6ParamProblem, Icmpv6Repr,
    Icmpv6TimeExceeded, NdiscOption, NdiscOptions, NeighborFlags,
};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use l2tp::{L2tpPacket, L2tpRepr};
pub use mpls::MplsPacket;
pub use pppoe::{PppoeHeader, PppoeRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanPacket, VlanRepr};

use core::fmt;

/// Which header an [`Error`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Ethernet,
    Vlan,
    Arp,
    Ipv4,
    Ipv6,
    Mpls,
    Udp,
    Icmpv4,
    Icmpv6,
    L2tp,
    Ppp,
    Pppoe,
    Esp,
    /// An address in text form (e.g. `EthernetAddress::from_str`).
    Text,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Ethernet => "ethernet",
            Proto::Vlan => "802.1Q tag",
            Proto::Arp => "arp",
            Proto::Ipv4 => "ipv4",
            Proto::Ipv6 => "ipv6",
            Proto::Mpls => "mpls",
            Proto::Udp => "udp",
            Proto::Icmpv4 => "icmpv4",
            Proto::Icmpv6 => "icmpv6",
            Proto::L2tp => "l2tp",
            Proto::Ppp => "ppp",
            Proto::Pppoe => "pppoe",
            Proto::Esp => "esp",
            Proto::Text => "address",
        })
    }
}

/// Why a header could not be read. Small (24 bytes) and `Copy`, so the fast path can count it
/// and drop the packet without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header (or than a length field in it says).
    #[error("{proto}: truncated: need at least {needed} bytes, have {got}")]
    Truncated {
        proto: Proto,
        needed: usize,
        got: usize,
    },
    /// A field holds a value the protocol forbids.
    #[error("{proto}: malformed: {reason} (got {value})")]
    Malformed {
        proto: Proto,
        reason: &'static str,
        value: u32,
    },
    /// A well-formed header of a variant this module does not implement.
    #[error("{proto}: unsupported {field} {value:#x}")]
    Unsupported {
        proto: Proto,
        field: &'static str,
        value: u32,
    },
    /// The checksum does not verify.
    #[error("{proto}: checksum mismatch")]
    Checksum { proto: Proto },
    /// Forwarding would take the TTL / hop limit to zero; the packet must not be forwarded
    /// (RFC 1812 §5.3.1, RFC 8200 §3): drop it and send ICMP time exceeded.
    #[error("{proto}: TTL/hop limit {ttl} expires in transit; send time exceeded")]
    TtlExpired { proto: Proto, ttl: u8 },
}

/// Result of the wire modules.
pub type Result<T> = core::result::Result<T, Error>;

pub(crate) type Field = core::ops::Range<usize>;
pub(crate) type Rest = core::ops::RangeFrom<usize>;

/// `Err(Truncated)` unless `got >= needed`.
#[inline]
pub(crate) fn need(proto: Proto, needed: usize, got: usize) -> Result<()> {
    if got < needed {
        Err(Error::Truncated { proto, needed, got })
    } else {
        Ok(())
    }
}

/// The forwarding step on a TTL or hop limit (RFC 1812 §5.3.1, RFC 8200 §3, and for labels
/// `labelswitch::ttl::decrement`): the value to write, or [`Error::TtlExpired`] when `ttl` ≤ 1.
#[inline]
pub(crate) fn decremented(proto: Proto, ttl: u8) -> Result<u8> {
    if ttl <= 1 {
        Err(Error::TtlExpired { proto, ttl })
    } else {
        Ok(ttl - 1)
    }
}

#[inline]
pub(crate) fn get_u16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline]
pub(crate) fn set_u16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn get_u32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

#[inline]
pub(crate) fn set_u32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_readable() {
        assert!(core::mem::size_of::<Error>() <= 24);
        let e = Error::Malformed {
            proto: Proto::Ipv4,
            reason: "IHL below 5",
            value: 3,
        };
        assert_eq!(e.to_string(), "ipv4: malformed: IHL below 5 (got 3)");
        let e = Error::Truncated {
            proto: Proto::Udp,
            needed: 8,
            got: 3,
        };
        assert_eq!(
            e.to_string(),
            "udp: truncated: need at least 8 bytes, have 3"
        );
    }

    #[test]
    fn need_checks_lengths() {
        assert!(need(Proto::Arp, 8, 8).is_ok());
        assert_eq!(
            need(Proto::Arp, 8, 7),
            Err(Error::Truncated {
                proto: Proto::Arp,
                needed: 8,
                got: 7
            })
        );
    }
}
