//! The ESP header and trailer (RFC 4303 §2) and the UDP encapsulation of ESP (RFC 3948 §2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |               Security Parameters Index (SPI)                 |
//! |                      Sequence Number                          |
//! |                IV (8 bytes for AES-GCM, ChaCha20-Poly1305)    |
//! ~                    Payload Data (variable)                    ~
//! |               |     Padding (0-255 bytes)                     |
//! |                               |  Pad Length   | Next Header   |
//! |         Integrity Check Value (16 bytes for the AEADs here)   |
//! ```
//!
//! [`EspPacket::new_checked`] validates that the SPI is not one of the reserved values 1–255
//! (RFC 4303 §2.1; 0 is reserved for local use and never on the wire either) and that the
//! buffer holds the header; the AEAD transforms of the crate `esp` decide the IV and ICV
//! lengths. [`Trailer::parse`] reads the decrypted trailer (pad length, next header) and
//! checks the padding bytes are 1, 2, 3, … as RFC 4303 §2.4 has the sender write them.
//!
//! UDP-encapsulated ESP on port 4500 ([`classify_udp_4500`]): a payload of the single byte
//! `0xff` is a NAT-keepalive (RFC 3948 §2.3), one starting with four zero bytes (the
//! non-ESP marker) is IKE (RFC 3948 §2.2), anything else is ESP.

use super::{get_u32, need, set_u32, Error, Field, Proto, Result};

/// IP protocol number of ESP (RFC 4303 §2).
pub const IP_PROTOCOL: u8 = 50;
/// UDP port of ESP in UDP (RFC 3948 §2; the IKE NAT-T port).
pub const UDP_PORT: u16 = 4500;
/// SPI and sequence number.
pub const HEADER_LEN: usize = 8;
/// Pad Length and Next Header.
pub const TRAILER_LEN: usize = 2;

mod field {
    use super::Field;
    pub const SPI: Field = 0..4;
    pub const SEQ: Field = 4..8;
}

/// A view of an ESP packet, from the SPI on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Wraps without checking.
    pub fn new_unchecked(buffer: T) -> Self {
        EspPacket { buffer }
    }

    /// Wraps after checking the header fits and the SPI is not reserved.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        need(Proto::Esp, HEADER_LEN, p.buffer.as_ref().len())?;
        let spi = p.spi();
        if spi < 256 {
            return Err(Error::Malformed {
                proto: Proto::Esp,
                reason: "SPI 0..=255 is reserved",
                value: spi,
            });
        }
        Ok(p)
    }

    /// Security Parameters Index.
    pub fn spi(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SPI.start)
    }

    /// The (low 32 bits of the) sequence number.
    pub fn seq(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ.start)
    }

    /// Everything after the header (IV, ciphertext, ICV).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

/// Writes an ESP header (SPI, low 32 bits of the sequence number) into `out[..8]`.
pub fn emit_header(out: &mut [u8], spi: u32, seq: u32) {
    set_u32(out, field::SPI.start, spi);
    set_u32(out, field::SEQ.start, seq);
}

/// The decrypted ESP trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Bytes of padding before the trailer.
    pub pad_len: u8,
    /// Protocol of the payload (4 IPv4, 41 IPv6, 59 a dummy packet, RFC 4303 §2.6).
    pub next_header: u8,
}

impl Trailer {
    /// Reads the trailer at the end of a decrypted `plaintext` (payload, padding, pad length,
    /// next header); checks the padding is there and reads 1, 2, 3, …. Returns the trailer and
    /// the length of the payload data.
    pub fn parse(plaintext: &[u8]) -> Result<(Trailer, usize)> {
        need(Proto::Esp, TRAILER_LEN, plaintext.len())?;
        let n = plaintext.len();
        let t = Trailer {
            pad_len: plaintext[n - 2],
            next_header: plaintext[n - 1],
        };
        let pad = usize::from(t.pad_len);
        if pad + TRAILER_LEN > n {
            return Err(Error::Malformed {
                proto: Proto::Esp,
                reason: "pad length beyond the payload",
                value: u32::from(t.pad_len),
            });
        }
        let data = n - TRAILER_LEN - pad;
        for (i, b) in plaintext[data..n - TRAILER_LEN].iter().enumerate() {
            if usize::from(*b) != i + 1 {
                return Err(Error::Malformed {
                    proto: Proto::Esp,
                    reason: "padding bytes are not 1, 2, 3, ...",
                    value: u32::from(*b),
                });
            }
        }
        Ok((t, data))
    }

    /// Padding for a payload of `len` bytes so that payload, padding and trailer end on a
    /// four-byte boundary (RFC 4303 §2.4; the AEADs here need no block alignment).
    pub fn pad_for(len: usize) -> usize {
        (4 - (len + TRAILER_LEN) % 4) % 4
    }

    /// Writes padding (1, 2, 3, …), pad length and next header into `out`, which is exactly
    /// `pad_len + 2` bytes.
    pub fn emit(out: &mut [u8], next_header: u8) {
        let pad = out.len() - TRAILER_LEN;
        for (i, b) in out[..pad].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        out[pad] = pad as u8;
        out[pad + 1] = next_header;
    }
}

/// What a UDP datagram to port 4500 carries (RFC 3948 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500 {
    /// ESP (the SPI is not zero).
    Esp,
    /// A NAT-keepalive: the single byte `0xff`.
    NatKeepalive,
    /// IKE: the payload starts with the non-ESP marker (four zero bytes).
    Ike,
    /// Too short to be any of them (1–7 bytes other than a keepalive, or empty).
    Malformed,
}

/// Classifies the payload of a UDP datagram to port 4500.
pub fn classify_udp_4500(payload: &[u8]) -> Udp4500 {
    match payload {
        [0xff] => Udp4500::NatKeepalive,
        [0, 0, 0, 0, ..] => Udp4500::Ike,
        p if p.len() >= HEADER_LEN => Udp4500::Esp,
        _ => Udp4500::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_reserved_spis() {
        let mut b = [0u8; 12];
        emit_header(&mut b, 0x1234_5678, 42);
        let p = EspPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.spi(), p.seq(), p.payload().len()), (0x1234_5678, 42, 4));
        emit_header(&mut b, 255, 1);
        assert!(matches!(
            EspPacket::new_checked(&b[..]),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            EspPacket::new_checked(&b[..7]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn trailer_round_trip_for_every_padding() {
        for len in 0..16 {
            let pad = Trailer::pad_for(len);
            assert_eq!((len + pad + 2) % 4, 0);
            let mut b = vec![0xaa; len + pad + 2];
            Trailer::emit(&mut b[len..], 4);
            let (t, data) = Trailer::parse(&b).unwrap();
            assert_eq!((t.pad_len as usize, t.next_header, data), (pad, 4, len));
        }
    }

    #[test]
    fn bad_trailers_are_refused() {
        // Pad length larger than what precedes it.
        assert!(Trailer::parse(&[1, 2, 9, 4]).is_err());
        // Padding bytes that are not 1, 2, 3.
        assert!(Trailer::parse(&[0xaa, 1, 3, 2, 4]).is_err());
        assert!(Trailer::parse(&[4]).is_err());
        // Zero padding, zero payload: a valid empty payload.
        assert_eq!(Trailer::parse(&[0, 59]).unwrap().1, 0);
    }

    #[test]
    fn udp_4500_payloads() {
        assert_eq!(classify_udp_4500(&[0xff]), Udp4500::NatKeepalive);
        assert_eq!(classify_udp_4500(&[0, 0, 0, 0, 1]), Udp4500::Ike);
        assert_eq!(classify_udp_4500(&[1; 8]), Udp4500::Esp);
        assert_eq!(classify_udp_4500(&[1; 7]), Udp4500::Malformed);
        assert_eq!(classify_udp_4500(&[]), Udp4500::Malformed);
    }
}
