//! The L2TPv2 header (RFC 2661 §3.1), as the data path reads and writes it.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! |           Tunnel ID           |           Session ID          |
//! |             Ns (opt)          |             Nr (opt)          |
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! ```
//!
//! The optional fields shift everything after them, so [`L2tpHeader::new_checked`] works out
//! the header length once (including the offset padding) and validates it against the
//! buffer and the Length field. Control messages (T bit) are recognised and handed to the
//! control engine, whose AVP codec lives in `controlplane::l2tp::wire`; the data path only
//! needs the ids and where the PPP frame starts.
//!
//! Not implemented: L2TPv3 (version 3) — rejected as `Unsupported`.

use super::{Error, Proto, Result};

/// UDP port of L2TP (RFC 2661 §8.1).
pub const UDP_PORT: u16 = 1701;
/// Length of the minimal data header this module emits (flags, tunnel, session).
pub const MIN_HEADER_LEN: usize = 6;

/// Flag bits of the first 16-bit word.
pub mod flags {
    /// Type: 1 = control message.
    pub const T: u16 = 0x8000;
    /// Length field present.
    pub const L: u16 = 0x4000;
    /// Ns and Nr fields present.
    pub const S: u16 = 0x0800;
    /// Offset Size field present.
    pub const O: u16 = 0x0200;
    /// Priority (data messages).
    pub const P: u16 = 0x0100;
    /// Version mask.
    pub const VER: u16 = 0x000f;
}

/// A validated view of an L2TP header and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2tpHeader<T: AsRef<[u8]>> {
    buffer: T,
    header_len: usize,
    msg_len: usize,
}

impl<T: AsRef<[u8]>> L2tpHeader<T> {
    /// Validates the header: version 2, every optional field present in the buffer, the
    /// offset padding inside the message, and the Length field (when present) neither
    /// shorter than the header nor longer than the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        let need = |n: usize| {
            if b.len() < n {
                Err(Error::Truncated {
                    proto: Proto::L2tp,
                    needed: n,
                    got: b.len(),
                })
            } else {
                Ok(())
            }
        };
        need(2)?;
        let f = u16::from_be_bytes([b[0], b[1]]);
        let ver = f & flags::VER;
        if ver != 2 {
            return Err(Error::Unsupported {
                proto: Proto::L2tp,
                field: "version",
                value: u32::from(ver),
            });
        }
        let mut off = 2;
        let mut length = None;
        if f & flags::L != 0 {
            need(off + 2)?;
            length = Some(usize::from(u16::from_be_bytes([b[off], b[off + 1]])));
            off += 2;
        }
        need(off + 4)?;
        off += 4; // tunnel id, session id
        if f & flags::S != 0 {
            need(off + 4)?;
            off += 4;
        }
        if f & flags::O != 0 {
            need(off + 2)?;
            let pad = usize::from(u16::from_be_bytes([b[off], b[off + 1]]));
            off += 2 + pad;
            need(off)?;
        }
        let msg_len = match length {
            Some(l) if l < off => {
                return Err(Error::Malformed {
                    proto: Proto::L2tp,
                    reason: "length field shorter than the header",
                    value: l as u32,
                })
            }
            Some(l) if l > b.len() => {
                return Err(Error::Truncated {
                    proto: Proto::L2tp,
                    needed: l,
                    got: b.len(),
                })
            }
            Some(l) => l,
            None => b.len(),
        };
        Ok(L2tpHeader {
            buffer,
            header_len: off,
            msg_len,
        })
    }

    fn word(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// The flags-and-version word.
    pub fn flags(&self) -> u16 {
        self.word(0)
    }

    /// True for control messages (T bit).
    pub fn is_control(&self) -> bool {
        self.flags() & flags::T != 0
    }

    fn ids_at(&self) -> usize {
        if self.flags() & flags::L != 0 {
            4
        } else {
            2
        }
    }

    /// Tunnel ID (the receiver's).
    pub fn tunnel_id(&self) -> u16 {
        self.word(self.ids_at())
    }

    /// Session ID (the receiver's; 0 for tunnel-level control messages).
    pub fn session_id(&self) -> u16 {
        self.word(self.ids_at() + 2)
    }

    /// Ns and Nr, when the S bit is set.
    pub fn sequence(&self) -> Option<(u16, u16)> {
        (self.flags() & flags::S != 0)
            .then(|| (self.word(self.ids_at() + 4), self.word(self.ids_at() + 6)))
    }

    /// Bytes of header, including the offset padding.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The message after the header (the PPP frame of a data message), bounded by the
    /// Length field when present.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len..self.msg_len]
    }
}

/// Writes the minimal data-message header (no length, sequence or offset) into
/// `out[..MIN_HEADER_LEN]`. `out` must be at least [`MIN_HEADER_LEN`] long.
pub fn emit_data_header(out: &mut [u8], tunnel: u16, session: u16) {
    out[0..2].copy_from_slice(&2u16.to_be_bytes());
    out[2..4].copy_from_slice(&tunnel.to_be_bytes());
    out[4..6].copy_from_slice(&session.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // From scapy 2.5: bytes(L2TP(tunnel_id=7, session_id=9)) with hdr='control+length'
    // cleared → plain data header, then PPP ff03 0021.
    const DATA: [u8; 10] = [0x00, 0x02, 0x00, 0x07, 0x00, 0x09, 0xff, 0x03, 0x00, 0x21];

    #[test]
    fn plain_data_header() {
        let h = L2tpHeader::new_checked(&DATA[..]).unwrap();
        assert!(!h.is_control());
        assert_eq!((h.tunnel_id(), h.session_id()), (7, 9));
        assert_eq!(h.header_len(), 6);
        assert_eq!(h.payload(), &[0xff, 0x03, 0x00, 0x21]);
        let mut out = [0u8; 6];
        emit_data_header(&mut out, 7, 9);
        assert_eq!(out, DATA[..6]);
    }

    #[test]
    fn every_optional_field() {
        // T=0 L=1 S=1 O=1, length 18, tunnel 1, session 2, Ns 3, Nr 4, offset 2 + 2 pad.
        let m = [
            0x4a, 0x02, 0x00, 0x12, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x02,
            0xaa, 0xbb, 0xff, 0x03, 0x99,
        ];
        let h = L2tpHeader::new_checked(&m[..]).unwrap();
        assert_eq!(
            (h.tunnel_id(), h.session_id(), h.sequence()),
            (1, 2, Some((3, 4)))
        );
        assert_eq!(h.header_len(), 16);
        assert_eq!(
            h.payload(),
            &[0xff, 0x03],
            "the length field bounds the message"
        );
    }

    #[test]
    fn control_bit_and_bad_inputs() {
        let ctl = [
            0xc8, 0x02, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert!(L2tpHeader::new_checked(&ctl[..]).unwrap().is_control());
        assert!(matches!(
            L2tpHeader::new_checked(&[0x00, 0x03, 0, 1, 0, 1][..]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            L2tpHeader::new_checked(&DATA[..5]),
            Err(Error::Truncated { .. })
        ));
        // Length smaller than the header.
        assert!(matches!(
            L2tpHeader::new_checked(&[0x40, 0x02, 0x00, 0x04, 0, 1, 0, 1][..]),
            Err(Error::Malformed { .. })
        ));
        // Length larger than the datagram.
        assert!(matches!(
            L2tpHeader::new_checked(&[0x40, 0x02, 0x00, 0x40, 0, 1, 0, 1][..]),
            Err(Error::Truncated { .. })
        ));
        // Offset padding running past the end.
        assert!(matches!(
            L2tpHeader::new_checked(&[0x02, 0x02, 0, 1, 0, 1, 0xff, 0xff, 0][..]),
            Err(Error::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(h) = L2tpHeader::new_checked(&b[..]) {
                let _ = (h.tunnel_id(), h.session_id(), h.sequence(), h.payload());
                prop_assert!(h.header_len() <= b.len());
            }
        }
    }
}
