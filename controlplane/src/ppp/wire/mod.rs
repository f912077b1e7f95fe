//! PPP control-packet wire format: LCP (RFC 1661 §5), IPCP (RFC 1332, RFC 1877), IPV6CP
//! (RFC 5072), PAP (RFC 1334 §2), CHAP (RFC 1994 §4) with the MS-CHAPv2 Response value
//! (RFC 2759 §4).
//!
//! Every one of them starts with the same 4-byte header (code, identifier, length);
//! [`Packet`] is the zero-copy view of it, smoltcp style. [`CpRepr`] is the owned value of an
//! LCP/IPCP/IPV6CP packet, generic over its option type ([`LcpOption`], [`IpcpOption`],
//! [`Ipv6cpOption`]); [`PapRepr`] and [`ChapRepr`] are the authentication packets. Options
//! this module does not know, or known options whose length is not the one their RFC gives,
//! are kept as `Unknown { kind, data }` so they can be Configure-Rejected byte for byte.
//!
//! The PPP frame header in front of these (`ff 03` + protocol) is the data path's codec,
//! `wire::ppp`, re-exported here as [`frame`].
//!
//! Nothing here panics on any input; every failure is an [`Error`] saying what and where.

mod auth;
mod cp;

pub use ::wire::ppp as frame;
pub use auth::{ChapRepr, MsChapV2Response, PapRepr, MSCHAPV2_RESPONSE_LEN};
pub use cp::{
    CpData, CpOption, CpRepr, IpcpOption, Ipv6cpOption, LcpOption, OptionIter, OPTION_HEADER_LEN,
};

/// PPP protocol numbers of the control protocols (RFC 1661 §2, IANA PPP numbers).
pub mod protocol {
    pub use ::wire::ppp::protocol::{IPV4, IPV6, LCP};
    /// Password Authentication Protocol.
    pub const PAP: u16 = 0xc023;
    /// Challenge Handshake Authentication Protocol.
    pub const CHAP: u16 = 0xc223;
    /// IP Control Protocol.
    pub const IPCP: u16 = 0x8021;
    /// IPv6 Control Protocol.
    pub const IPV6CP: u16 = 0x8057;
    /// Compression Control Protocol (not implemented: Protocol-Rejected).
    pub const CCP: u16 = 0x80fd;
}

/// CHAP algorithm numbers (RFC 1994 §3, RFC 2759 §2).
pub mod chap_algorithm {
    pub const MD5: u8 = 5;
    pub const MSCHAPV2: u8 = 0x81;
}

/// Decoding and encoding errors of PPP control packets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("PPP frame header: {0}")]
    Frame(#[from] ::wire::Error),
    #[error("PPP control packet of {len} bytes is shorter than its 4-byte header")]
    Truncated { len: usize },
    #[error("PPP control packet length field {length} is below the 4-byte header")]
    LengthTooSmall { length: usize },
    #[error("PPP control packet length field {length} runs past the {available} bytes received")]
    LengthOverrun { length: usize, available: usize },
    #[error("option at offset {at}: {left} byte(s) left, an option header needs 2")]
    OptionTruncated { at: usize, left: usize },
    #[error("option at offset {at}: length field {length} is below the 2-byte option header")]
    OptionTooShort { at: usize, length: usize },
    #[error(
        "option at offset {at}: length field {length} runs past the packet ({left} bytes left)"
    )]
    OptionOverrun {
        at: usize,
        length: usize,
        left: usize,
    },
    #[error("{what}: {len} byte(s), expected {expected}")]
    BadLength {
        what: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("{what}: length byte {length} runs past the {left} bytes left")]
    FieldOverrun {
        what: &'static str,
        length: usize,
        left: usize,
    },
    #[error("packet of {len} bytes too long to encode (max {max})")]
    TooLong { len: usize, max: usize },
}

/// Result of PPP wire operations.
pub type Result<T> = core::result::Result<T, Error>;

mod field {
    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: core::ops::Range<usize> = 2..4;
    pub const DATA: usize = 4;
}

/// Length of the code/identifier/length header.
pub const HEADER_LEN: usize = field::DATA;

/// Zero-copy view of a PPP control packet (LCP, IPCP, IPV6CP, PAP, CHAP; RFC 1661 §5).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// Wraps and checks that the header fits and 4 <= length <= buffer length. Bytes past
    /// the length field are padding (RFC 1661 §5) and not part of [`Packet::data`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        let available = p.buffer.as_ref().len();
        if available < HEADER_LEN {
            return Err(Error::Truncated { len: available });
        }
        let length = p.length();
        if length < HEADER_LEN {
            return Err(Error::LengthTooSmall { length });
        }
        if length > available {
            return Err(Error::LengthOverrun { length, available });
        }
        Ok(p)
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }
    /// The length field (header included).
    pub fn length(&self) -> usize {
        let d = self.buffer.as_ref();
        usize::from(u16::from_be_bytes([
            d[field::LENGTH.start],
            d[field::LENGTH.start + 1],
        ]))
    }
    /// The bytes after the header, up to the length field.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..self.length()]
    }
    /// The whole packet up to the length field (padding cut off).
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.length()]
    }
}

/// Appends a control packet header with a placeholder length to `out`; returns where it
/// starts so [`finish`] can fill in the length.
pub(crate) fn begin(out: &mut Vec<u8>, code: u8, identifier: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[code, identifier, 0, 0]);
    at
}

/// Writes the length of the packet started at `at` by [`begin`].
pub(crate) fn finish(out: &mut [u8], at: usize) -> Result<()> {
    let len = out.len() - at;
    let l = u16::try_from(len).map_err(|_| Error::TooLong { len, max: 65535 })?;
    out[at + 2..at + 4].copy_from_slice(&l.to_be_bytes());
    Ok(())
}

/// Builds a full PPP frame: `ff 03`, `protocol`, then whatever `body` appends.
pub fn build_frame(protocol: u16, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![0; frame::ENCAP_LEN];
    frame::emit(&mut out, protocol);
    body(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0][..]).unwrap_err(),
            Error::Truncated { len: 3 }
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0, 3][..]).unwrap_err(),
            Error::LengthTooSmall { length: 3 }
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0, 6, 0][..]).unwrap_err(),
            Error::LengthOverrun {
                length: 6,
                available: 5
            }
        );
        // Padding past the length field is not data (RFC 1661 §5).
        let p = Packet::new_checked(&[9u8, 2, 0, 5, 0xaa, 0xbb, 0xcc][..]).unwrap();
        assert_eq!((p.code(), p.identifier(), p.data()), (9, 2, &[0xaa][..]));
        assert_eq!(p.packet(), &[9, 2, 0, 5, 0xaa]);
    }
}
