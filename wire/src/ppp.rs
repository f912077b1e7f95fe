//! The PPP frame header inside L2TP and PPPoE sessions (RFC 1661 §2, RFC 2661 §5.?): optional
//! HDLC address/control bytes `ff 03` (absent when Address-and-Control-Field-Compression is
//! in use) and a protocol field of two bytes, or one when Protocol-Field-Compression is in
//! use (protocol values are odd in their last byte, RFC 1661 §2).

use super::{Error, Proto, Result};

/// PPP protocol numbers the data path knows.
pub mod protocol {
    /// IPv4 (RFC 1332).
    pub const IPV4: u16 = 0x0021;
    /// IPv6 (RFC 5072).
    pub const IPV6: u16 = 0x0057;
    /// LCP.
    pub const LCP: u16 = 0xc021;
}

/// Bytes the data path writes in front of an IP packet: `ff 03` and a 2-byte protocol.
pub const ENCAP_LEN: usize = 4;

/// Reads the protocol field of a PPP frame: `(protocol, header length)`.
#[inline]
pub fn parse(frame: &[u8]) -> Result<(u16, usize)> {
    let mut off = 0;
    if frame.len() >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
        off = 2;
    }
    let trunc = |needed| Error::Truncated {
        proto: Proto::Ppp,
        needed,
        got: frame.len(),
    };
    let first = *frame.get(off).ok_or_else(|| trunc(off + 1))?;
    if first & 1 == 1 {
        // Compressed one-byte protocol field.
        return Ok((u16::from(first), off + 1));
    }
    let second = *frame.get(off + 1).ok_or_else(|| trunc(off + 2))?;
    if second & 1 == 0 {
        return Err(Error::Malformed {
            proto: Proto::Ppp,
            reason: "protocol field must be odd",
            value: u32::from(u16::from_be_bytes([first, second])),
        });
    }
    Ok((u16::from_be_bytes([first, second]), off + 2))
}

/// Writes `ff 03` and `protocol` into `out[..ENCAP_LEN]`.
pub fn emit(out: &mut [u8], protocol: u16) {
    out[0] = 0xff;
    out[1] = 0x03;
    out[2..4].copy_from_slice(&protocol.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_the_header() {
        assert_eq!(
            parse(&[0xff, 0x03, 0x00, 0x21, 0x45]).unwrap(),
            (protocol::IPV4, 4)
        );
        assert_eq!(
            parse(&[0x00, 0x57, 0x60]).unwrap(),
            (protocol::IPV6, 2),
            "ACFC"
        );
        assert_eq!(
            parse(&[0x21, 0x45]).unwrap(),
            (protocol::IPV4, 1),
            "ACFC + PFC"
        );
        assert_eq!(parse(&[0xc0, 0x21, 1]).unwrap(), (protocol::LCP, 2));
        assert!(parse(&[]).is_err());
        assert!(parse(&[0xff, 0x03]).is_err());
        assert!(parse(&[0xff, 0x03, 0x00]).is_err());
        assert!(matches!(parse(&[0x00, 0x20]), Err(Error::Malformed { .. })));
        let mut b = [0u8; 4];
        emit(&mut b, protocol::IPV6);
        assert_eq!(b, [0xff, 0x03, 0x00, 0x57]);
    }
}
