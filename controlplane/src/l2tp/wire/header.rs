//! The L2TP header (RFC 2661 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! |           Tunnel ID           |           Session ID          |
//! |             Ns (opt)          |             Nr (opt)          |
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! ```
//!
//! Field positions depend on the L, S and O bits, so the view computes them from the flags.
//! `new_checked` validates the version, the flags and every length once.

use super::{Error, Field, Result};

mod field {
    use super::Field;
    pub const FLAGS: Field = 0..2;
    pub const FLAG_T: u16 = 0x8000;
    pub const FLAG_L: u16 = 0x4000;
    pub const FLAG_S: u16 = 0x0800;
    pub const FLAG_O: u16 = 0x0200;
    pub const FLAG_P: u16 = 0x0100;
    pub const VERSION_MASK: u16 = 0x000f;
}

/// Header length of a control message (T, L, S set; no offset): flags, length, ids, Ns, Nr.
pub const CONTROL_HEADER_LEN: usize = 12;

/// Control or data message (the T bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Control,
    Data,
}

/// Zero-copy view of an L2TP header and its payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks; call [`Packet::check_len`] before reading variable fields.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps and validates version, flags and lengths (the Length field, when present, must not
    /// exceed the datagram; the offset must stay inside the message).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates the header (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < 2 {
            return Err(Error::Truncated {
                len: data.len(),
                need: 2,
            });
        }
        let ver = self.version();
        if ver != 2 {
            return Err(Error::BadVersion(ver));
        }
        let flags = self.flags();
        if self.kind() == MessageKind::Control
            && (flags & field::FLAG_L == 0
                || flags & field::FLAG_S == 0
                || flags & field::FLAG_O != 0)
        {
            return Err(Error::BadControlFlags { flags });
        }
        let fixed = self.fixed_header_len();
        if data.len() < fixed {
            return Err(Error::Truncated {
                len: data.len(),
                need: fixed,
            });
        }
        if self.has_length() {
            let length = usize::from(self.read_u16(2));
            if length > data.len() {
                return Err(Error::LengthExceedsDatagram {
                    length,
                    datagram: data.len(),
                });
            }
            if length < fixed {
                return Err(Error::LengthTooShort {
                    length,
                    header: fixed,
                });
            }
        }
        let end = self.message_len();
        let payload = self.payload_offset();
        if payload > end {
            return Err(Error::OffsetOverrun {
                offset: payload,
                len: end,
            });
        }
        Ok(())
    }

    #[inline]
    fn read_u16(&self, at: usize) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[at], d[at + 1]])
    }

    /// The flags-and-version word.
    pub fn flags(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::FLAGS.start], d[field::FLAGS.start + 1]])
    }
    /// Protocol version (low 4 bits).
    pub fn version(&self) -> u8 {
        (self.flags() & field::VERSION_MASK) as u8
    }
    /// T bit.
    pub fn kind(&self) -> MessageKind {
        if self.flags() & field::FLAG_T != 0 {
            MessageKind::Control
        } else {
            MessageKind::Data
        }
    }
    /// L bit.
    pub fn has_length(&self) -> bool {
        self.flags() & field::FLAG_L != 0
    }
    /// S bit.
    pub fn has_sequence(&self) -> bool {
        self.flags() & field::FLAG_S != 0
    }
    /// O bit.
    pub fn has_offset(&self) -> bool {
        self.flags() & field::FLAG_O != 0
    }
    /// P bit.
    pub fn priority(&self) -> bool {
        self.flags() & field::FLAG_P != 0
    }

    fn ids_at(&self) -> usize {
        if self.has_length() {
            4
        } else {
            2
        }
    }
    fn seq_at(&self) -> usize {
        self.ids_at() + 4
    }
    fn offset_at(&self) -> usize {
        self.seq_at() + if self.has_sequence() { 4 } else { 0 }
    }
    /// Header length up to and including the Offset Size field (not the offset padding).
    pub fn fixed_header_len(&self) -> usize {
        self.offset_at() + if self.has_offset() { 2 } else { 0 }
    }
    /// Tunnel ID.
    pub fn tunnel_id(&self) -> u16 {
        self.read_u16(self.ids_at())
    }
    /// Session ID.
    pub fn session_id(&self) -> u16 {
        self.read_u16(self.ids_at() + 2)
    }
    /// Ns, when the S bit is set.
    pub fn ns(&self) -> Option<u16> {
        self.has_sequence().then(|| self.read_u16(self.seq_at()))
    }
    /// Nr, when the S bit is set.
    pub fn nr(&self) -> Option<u16> {
        self.has_sequence()
            .then(|| self.read_u16(self.seq_at() + 2))
    }
    /// Offset Size, when the O bit is set.
    pub fn offset_size(&self) -> Option<u16> {
        self.has_offset().then(|| self.read_u16(self.offset_at()))
    }
    /// Length of the message: the Length field if present, else the whole buffer.
    pub fn message_len(&self) -> usize {
        if self.has_length() {
            usize::from(self.read_u16(2))
        } else {
            self.buffer.as_ref().len()
        }
    }
    /// Where the payload (AVPs or the PPP frame) starts.
    pub fn payload_offset(&self) -> usize {
        self.fixed_header_len() + usize::from(self.offset_size().unwrap_or(0))
    }
    /// The payload: AVPs of a control message or the PPP frame of a data message.
    /// Bytes after the Length field's end (link padding) are excluded.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_offset()..self.message_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    /// Overwrites Nr in place (used when retransmitting a stored control message).
    /// The S bit must be set and the buffer checked.
    pub fn set_nr(&mut self, nr: u16) {
        let at = self.seq_at() + 2;
        self.write_u16(at, nr);
    }
}

/// Owned L2TP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: MessageKind,
    /// Whether the Length field is present (always for control messages).
    pub with_length: bool,
    pub tunnel_id: u16,
    pub session_id: u16,
    /// (Ns, Nr) when the S bit is set (always for control messages).
    pub sequence: Option<(u16, u16)>,
    /// Offset Size when the O bit is set (data messages only). Emitted padding is zeroed.
    pub offset: Option<u16>,
    /// P bit (data messages only).
    pub priority: bool,
}

impl Header {
    /// A control message header.
    pub fn control(tunnel_id: u16, session_id: u16, ns: u16, nr: u16) -> Self {
        Header {
            kind: MessageKind::Control,
            with_length: true,
            tunnel_id,
            session_id,
            sequence: Some((ns, nr)),
            offset: None,
            priority: false,
        }
    }

    /// Reads the header of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Header> {
        p.check_len()?;
        Ok(Header {
            kind: p.kind(),
            with_length: p.has_length(),
            tunnel_id: p.tunnel_id(),
            session_id: p.session_id(),
            sequence: p.ns().zip(p.nr()),
            offset: p.offset_size(),
            priority: p.priority(),
        })
    }

    /// Header length on the wire, including offset padding.
    pub fn header_len(&self) -> usize {
        2 + if self.with_length { 2 } else { 0 }
            + 4
            + if self.sequence.is_some() { 4 } else { 0 }
            + self.offset.map_or(0, |o| 2 + usize::from(o))
    }

    /// Writes the header into the front of `buf`; `total_len` is the whole message length
    /// (header + payload), written into the Length field when present.
    pub fn emit(&self, buf: &mut [u8], total_len: usize) -> Result<()> {
        let need = self.header_len();
        if buf.len() < need {
            return Err(Error::BufferTooSmall {
                have: buf.len(),
                need,
            });
        }
        if self.with_length && total_len > usize::from(u16::MAX) {
            return Err(Error::MessageTooLong { len: total_len });
        }
        let mut flags: u16 = 2;
        if self.kind == MessageKind::Control {
            flags |= field::FLAG_T;
        }
        if self.with_length {
            flags |= field::FLAG_L;
        }
        if self.sequence.is_some() {
            flags |= field::FLAG_S;
        }
        if self.offset.is_some() {
            flags |= field::FLAG_O;
        }
        if self.priority {
            flags |= field::FLAG_P;
        }
        let mut at = 0;
        let mut put = |v: u16| {
            buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
            at += 2;
        };
        put(flags);
        if self.with_length {
            put(total_len as u16);
        }
        put(self.tunnel_id);
        put(self.session_id);
        if let Some((ns, nr)) = self.sequence {
            put(ns);
            put(nr);
        }
        if let Some(o) = self.offset {
            put(o);
            let start = at;
            buf[start..start + usize::from(o)].fill(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ZLB ACK, hand-built per RFC 2661 §3.1 (T L S, length 12, tunnel 0x3a1c, session 0, Ns 2,
    // Nr 3); tshark 4.0 decodes it as "Control Message - ZLB (tunnel id=14876, session id=0)".
    const ZLB: [u8; 12] = [
        0xc8, 0x02, 0x00, 0x0c, 0x3a, 0x1c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03,
    ];

    #[test]
    fn parse_zlb() {
        let p = Packet::new_checked(&ZLB[..]).unwrap();
        let h = Header::parse(&p).unwrap();
        assert_eq!(h, Header::control(0x3a1c, 0, 2, 3));
        assert!(p.payload().is_empty());
        let mut out = [0u8; 12];
        h.emit(&mut out, 12).unwrap();
        assert_eq!(out, ZLB);
    }

    #[test]
    fn data_header_without_options() {
        // Data message, no L/S/O: flags 0x0002, tunnel 7, session 9, then PPP (ff 03 c0 21).
        let d = [0x00, 0x02, 0x00, 0x07, 0x00, 0x09, 0xff, 0x03, 0xc0, 0x21];
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.kind(), MessageKind::Data);
        assert_eq!((p.tunnel_id(), p.session_id()), (7, 9));
        assert_eq!(p.payload(), &[0xff, 0x03, 0xc0, 0x21]);
    }

    #[test]
    fn data_header_with_offset_skips_pad() {
        let d = [
            0x02, 0x02, 0x00, 0x07, 0x00, 0x09, 0x00, 0x02, 0xaa, 0xbb, 0xff, 0x03,
        ];
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.offset_size(), Some(2));
        assert_eq!(p.payload(), &[0xff, 0x03]);
        let bad = [0x02, 0x02, 0x00, 0x07, 0x00, 0x09, 0x00, 0x09, 0xaa];
        assert!(matches!(
            Packet::new_checked(&bad[..]),
            Err(Error::OffsetOverrun { .. })
        ));
    }

    #[test]
    fn malformed_headers() {
        assert!(matches!(
            Packet::new_checked(&[0xc8][..]),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(
            Packet::new_checked(&[0xc8, 0x03, 0, 12][..]).unwrap_err(),
            Error::BadVersion(3)
        );
        // Length field bigger than the datagram.
        let mut big = ZLB;
        big[3] = 0x40;
        assert_eq!(
            Packet::new_checked(&big[..]).unwrap_err(),
            Error::LengthExceedsDatagram {
                length: 0x40,
                datagram: 12
            }
        );
        let mut small = ZLB;
        small[3] = 4;
        assert!(matches!(
            Packet::new_checked(&small[..]),
            Err(Error::LengthTooShort { .. })
        ));
        // Control message without S bit.
        let mut nos = ZLB;
        nos[0] = 0xc0;
        assert!(matches!(
            Packet::new_checked(&nos[..]),
            Err(Error::BadControlFlags { .. })
        ));
    }

    proptest! {
        #[test]
        fn header_round_trip(control in any::<bool>(), len in any::<bool>(), tid in any::<u16>(),
                             sid in any::<u16>(), seq in any::<Option<(u16, u16)>>(),
                             off in proptest::option::of(0u16..8), prio in any::<bool>(),
                             payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let h = if control {
                Header::control(tid, sid, seq.map_or(0, |s| s.0), seq.map_or(0, |s| s.1))
            } else {
                Header { kind: MessageKind::Data, with_length: len, tunnel_id: tid, session_id: sid,
                         sequence: seq, offset: off, priority: prio }
            };
            let total = h.header_len() + payload.len();
            let mut buf = vec![0xeeu8; total];
            h.emit(&mut buf, total).unwrap();
            buf[h.header_len()..].copy_from_slice(&payload);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Header::parse(&p).unwrap(), h);
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn header_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = Header::parse(&p);
                let _ = p.payload();
            }
        }
    }
}
