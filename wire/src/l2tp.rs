//! The L2TPv2 header (RFC 2661 §3.1): the one codec of it, for the data path and the control
//! engine.
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
//! The optional fields shift everything after them, so the view computes their positions
//! from the flags. [`L2tpPacket::new_checked`] validates, once:
//! - the version is 2 (L2TPv3 and anything else: [`Error::Unsupported`]);
//! - a control message (T bit) has L and S set and O clear (§3.1: "MUST"), else
//!   [`Error::Malformed`];
//! - every optional field present in the flags is inside the buffer ([`Error::Truncated`]);
//! - the Length field, when present, is not past the end of the datagram
//!   ([`Error::Truncated`]) and not shorter than the header including the offset padding
//!   ([`Error::Malformed`]); without a Length field the offset padding must fit in the
//!   datagram ([`Error::Truncated`]).
//!
//! The data path reads the ids, [`L2tpPacket::is_control`] (control messages are punted to
//! the control engine) and [`L2tpPacket::header_len`], and writes its data header with
//! [`emit_data_header`]. The control engine reads and writes the whole header as an
//! [`L2tpRepr`] (with Ns/Nr) and patches Nr of a stored message with [`L2tpPacket::set_nr`]
//! when it retransmits; its AVP codec lives with the engine in `controlplane::l2tp::wire`.
//!
//! Not implemented: L2TPv3 (RFC 3931, rejected as `Unsupported`). Not checked: the P bit of
//! control messages (§3.1 says it is 0; it is read and kept) and the reserved bits.

use super::{need, Error, Field, Proto, Result};

/// UDP port of L2TP (RFC 2661 §8.1).
pub const UDP_PORT: u16 = 1701;
/// Length of the minimal data header [`emit_data_header`] writes (flags, tunnel, session).
pub const MIN_HEADER_LEN: usize = 6;
/// Header length of a control message (T, L, S set; no offset): flags, length, ids, Ns, Nr.
pub const CONTROL_HEADER_LEN: usize = 12;

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

mod field {
    use super::Field;
    pub const FLAGS: Field = 0..2;
    /// When the L bit is set.
    pub const LENGTH: Field = 2..4;
}

/// The version this module implements.
const VERSION: u16 = 2;

/// Control or data message (the T bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Control,
    Data,
}

/// A read/write view of an L2TP message: the header and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2tpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> L2tpPacket<T> {
    /// Wraps without checks; call [`check_len`](Self::check_len) before reading the fields.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        L2tpPacket { buffer }
    }

    /// Wraps and validates (see the module docs for what).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates version, control-message flags and every length (see the module docs).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::L2tp, field::FLAGS.end, len)?;
        let f = self.flags();
        if f & flags::VER != VERSION {
            return Err(Error::Unsupported {
                proto: Proto::L2tp,
                field: "version",
                value: u32::from(f & flags::VER),
            });
        }
        if self.is_control() && f & (flags::L | flags::S | flags::O) != flags::L | flags::S {
            return Err(Error::Malformed {
                proto: Proto::L2tp,
                reason: "control message needs L=1, S=1, O=0; flags",
                value: u32::from(f),
            });
        }
        need(Proto::L2tp, self.fixed_header_len(), len)?;
        let header = self.header_len();
        if self.has_length() {
            let length = self.message_len();
            if length > len {
                return Err(Error::Truncated {
                    proto: Proto::L2tp,
                    needed: length,
                    got: len,
                });
            }
            if length < header {
                return Err(Error::Malformed {
                    proto: Proto::L2tp,
                    reason: "length field shorter than the header",
                    value: length as u32,
                });
            }
            Ok(())
        } else {
            need(Proto::L2tp, header, len)
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn word(&self, at: usize) -> u16 {
        super::get_u16(self.buffer.as_ref(), at)
    }

    /// The flags-and-version word.
    #[inline]
    pub fn flags(&self) -> u16 {
        self.word(field::FLAGS.start)
    }

    /// Protocol version (low 4 bits).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.flags() & flags::VER) as u8
    }

    /// T bit.
    #[inline]
    pub fn kind(&self) -> MessageKind {
        if self.is_control() {
            MessageKind::Control
        } else {
            MessageKind::Data
        }
    }

    /// True for control messages (T bit).
    #[inline]
    pub fn is_control(&self) -> bool {
        self.flags() & flags::T != 0
    }

    /// L bit.
    #[inline]
    pub fn has_length(&self) -> bool {
        self.flags() & flags::L != 0
    }

    /// S bit.
    #[inline]
    pub fn has_sequence(&self) -> bool {
        self.flags() & flags::S != 0
    }

    /// O bit.
    #[inline]
    pub fn has_offset(&self) -> bool {
        self.flags() & flags::O != 0
    }

    /// P bit.
    #[inline]
    pub fn priority(&self) -> bool {
        self.flags() & flags::P != 0
    }

    #[inline]
    fn ids_at(&self) -> usize {
        if self.has_length() {
            field::LENGTH.end
        } else {
            field::FLAGS.end
        }
    }

    #[inline]
    fn seq_at(&self) -> usize {
        self.ids_at() + 4
    }

    #[inline]
    fn offset_at(&self) -> usize {
        self.seq_at() + if self.has_sequence() { 4 } else { 0 }
    }

    /// Header length up to and including the Offset Size field (not the padding).
    #[inline]
    fn fixed_header_len(&self) -> usize {
        self.offset_at() + if self.has_offset() { 2 } else { 0 }
    }

    /// Tunnel ID (the receiver's).
    #[inline]
    pub fn tunnel_id(&self) -> u16 {
        self.word(self.ids_at())
    }

    /// Session ID (the receiver's; 0 for tunnel-level control messages).
    #[inline]
    pub fn session_id(&self) -> u16 {
        self.word(self.ids_at() + 2)
    }

    /// Ns and Nr, when the S bit is set.
    #[inline]
    pub fn sequence(&self) -> Option<(u16, u16)> {
        self.has_sequence()
            .then(|| (self.word(self.seq_at()), self.word(self.seq_at() + 2)))
    }

    /// Offset Size, when the O bit is set.
    #[inline]
    pub fn offset_size(&self) -> Option<u16> {
        self.has_offset().then(|| self.word(self.offset_at()))
    }

    /// Length of the message: the Length field if present, else the whole buffer.
    #[inline]
    pub fn message_len(&self) -> usize {
        if self.has_length() {
            usize::from(self.word(field::LENGTH.start))
        } else {
            self.buffer.as_ref().len()
        }
    }

    /// Bytes of header, including the offset padding: where the payload starts.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.fixed_header_len() + usize::from(self.offset_size().unwrap_or(0))
    }

    /// The payload: AVPs of a control message or the PPP frame of a data message, bounded
    /// by the Length field when present (link padding after it is excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.message_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> L2tpPacket<T> {
    /// Overwrites Nr in place (the control engine does when it retransmits a stored message).
    /// The S bit must be set.
    #[inline]
    pub fn set_nr(&mut self, nr: u16) {
        debug_assert!(self.has_sequence(), "set_nr on a header without Ns/Nr");
        let at = self.seq_at() + 2;
        super::set_u16(self.buffer.as_mut(), at, nr)
    }
}

/// Writes the minimal data-message header (no length, sequence or offset) into
/// `out[..MIN_HEADER_LEN]`: what [`L2tpRepr::data`] emits, without the branches, for the fast
/// path. `out` must be at least [`MIN_HEADER_LEN`] long.
#[inline]
pub fn emit_data_header(out: &mut [u8], tunnel: u16, session: u16) {
    super::set_u16(out, 0, VERSION);
    super::set_u16(out, 2, tunnel);
    super::set_u16(out, 4, session);
}

/// The L2TP header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2tpRepr {
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

impl L2tpRepr {
    /// A control message header.
    pub const fn control(tunnel_id: u16, session_id: u16, ns: u16, nr: u16) -> Self {
        L2tpRepr {
            kind: MessageKind::Control,
            with_length: true,
            tunnel_id,
            session_id,
            sequence: Some((ns, nr)),
            offset: None,
            priority: false,
        }
    }

    /// The minimal data message header (no Length, Ns/Nr or offset).
    pub const fn data(tunnel_id: u16, session_id: u16) -> Self {
        L2tpRepr {
            kind: MessageKind::Data,
            with_length: false,
            tunnel_id,
            session_id,
            sequence: None,
            offset: None,
            priority: false,
        }
    }

    /// Reads the header of a packet (validating it as [`L2tpPacket::new_checked`] does).
    pub fn parse<T: AsRef<[u8]>>(packet: &L2tpPacket<T>) -> Result<L2tpRepr> {
        packet.check_len()?;
        Ok(L2tpRepr {
            kind: packet.kind(),
            with_length: packet.has_length(),
            tunnel_id: packet.tunnel_id(),
            session_id: packet.session_id(),
            sequence: packet.sequence(),
            offset: packet.offset_size(),
            priority: packet.priority(),
        })
    }

    /// Header length on the wire, including the offset padding.
    pub fn buffer_len(&self) -> usize {
        2 + if self.with_length { 2 } else { 0 }
            + 4
            + if self.sequence.is_some() { 4 } else { 0 }
            + self.offset.map_or(0, |o| 2 + usize::from(o))
    }

    /// Writes the header (offset padding zeroed) into the front of `packet`, which must be at
    /// least [`buffer_len`](Self::buffer_len) long; `payload_len` bytes follow it, the
    /// caller's. With a Length field, `buffer_len() + payload_len` must fit in 16 bits (the
    /// caller checks: a longer message cannot be encoded). A control repr must be one that
    /// [`control`](Self::control) builds, or it will not parse back.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut L2tpPacket<T>,
        payload_len: usize,
    ) {
        let total = self.buffer_len() + payload_len;
        let mut f = VERSION;
        for (on, bit) in [
            (self.kind == MessageKind::Control, flags::T),
            (self.with_length, flags::L),
            (self.sequence.is_some(), flags::S),
            (self.offset.is_some(), flags::O),
            (self.priority, flags::P),
        ] {
            if on {
                f |= bit;
            }
        }
        let buf = packet.buffer.as_mut();
        let mut at = 0;
        let mut put = |v: u16| {
            super::set_u16(buf, at, v);
            at += 2;
        };
        put(f);
        if self.with_length {
            put(u16::try_from(total).expect("L2TP message longer than its 16-bit Length field"));
        }
        put(self.tunnel_id);
        put(self.session_id);
        if let Some((ns, nr)) = self.sequence {
            put(ns);
            put(nr);
        }
        if let Some(o) = self.offset {
            put(o);
            buf[at..at + usize::from(o)].fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // From scapy 2.5: bytes(L2TP(tunnel_id=7, session_id=9)) with hdr='control+length'
    // cleared → plain data header, then PPP ff03 0021.
    const DATA: [u8; 10] = [0x00, 0x02, 0x00, 0x07, 0x00, 0x09, 0xff, 0x03, 0x00, 0x21];

    // ZLB ACK, hand-built per RFC 2661 §3.1 (T L S, length 12, tunnel 0x3a1c, session 0, Ns 2,
    // Nr 3); tshark 4.0 decodes it as "Control Message - ZLB (tunnel id=14876, session id=0)".
    const ZLB: [u8; 12] = [
        0xc8, 0x02, 0x00, 0x0c, 0x3a, 0x1c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03,
    ];

    fn emit_repr(r: &L2tpRepr, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xeeu8; r.buffer_len() + payload.len()];
        r.emit(&mut L2tpPacket::new_unchecked(&mut buf[..]), payload.len());
        buf[r.buffer_len()..].copy_from_slice(payload);
        buf
    }

    #[test]
    fn plain_data_header() {
        let h = L2tpPacket::new_checked(&DATA[..]).unwrap();
        assert!(!h.is_control());
        assert_eq!((h.tunnel_id(), h.session_id()), (7, 9));
        assert_eq!(h.header_len(), 6);
        assert_eq!(h.payload(), &[0xff, 0x03, 0x00, 0x21]);
        let mut out = [0u8; 6];
        emit_data_header(&mut out, 7, 9);
        assert_eq!(out, DATA[..6]);
        assert_eq!(L2tpRepr::parse(&h), Ok(L2tpRepr::data(7, 9)));
        assert_eq!(emit_repr(&L2tpRepr::data(7, 9), &[]), DATA[..6]);
    }

    #[test]
    fn every_optional_field() {
        // T=0 L=1 S=1 O=1, length 18, tunnel 1, session 2, Ns 3, Nr 4, offset 2 + 2 pad.
        let m = [
            0x4a, 0x02, 0x00, 0x12, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x02,
            0xaa, 0xbb, 0xff, 0x03, 0x99,
        ];
        let h = L2tpPacket::new_checked(&m[..]).unwrap();
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
        assert!(L2tpPacket::new_checked(&ctl[..]).unwrap().is_control());
        assert!(matches!(
            L2tpPacket::new_checked(&[0x00, 0x03, 0, 1, 0, 1][..]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            L2tpPacket::new_checked(&DATA[..5]),
            Err(Error::Truncated { .. })
        ));
        // Length smaller than the header.
        assert!(matches!(
            L2tpPacket::new_checked(&[0x40, 0x02, 0x00, 0x04, 0, 1, 0, 1][..]),
            Err(Error::Malformed { .. })
        ));
        // Length larger than the datagram.
        assert!(matches!(
            L2tpPacket::new_checked(&[0x40, 0x02, 0x00, 0x40, 0, 1, 0, 1][..]),
            Err(Error::Truncated { .. })
        ));
        // Offset padding running past the end.
        assert!(matches!(
            L2tpPacket::new_checked(&[0x02, 0x02, 0, 1, 0, 1, 0xff, 0xff, 0][..]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn parse_zlb() {
        let p = L2tpPacket::new_checked(&ZLB[..]).unwrap();
        let h = L2tpRepr::parse(&p).unwrap();
        assert_eq!(h, L2tpRepr::control(0x3a1c, 0, 2, 3));
        assert_eq!(p.header_len(), CONTROL_HEADER_LEN);
        assert!(p.payload().is_empty());
        assert_eq!(emit_repr(&h, &[]), ZLB);
    }

    #[test]
    fn set_nr_patches_in_place() {
        let mut b = ZLB;
        L2tpPacket::new_checked(&mut b[..]).unwrap().set_nr(0x1234);
        assert_eq!(
            L2tpPacket::new_checked(&b[..]).unwrap().sequence(),
            Some((2, 0x1234))
        );
        assert_eq!(b[..10], ZLB[..10]);
    }

    #[test]
    fn data_header_without_options() {
        // Data message, no L/S/O: flags 0x0002, tunnel 7, session 9, then PPP (ff 03 c0 21).
        let d = [0x00, 0x02, 0x00, 0x07, 0x00, 0x09, 0xff, 0x03, 0xc0, 0x21];
        let p = L2tpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(p.kind(), MessageKind::Data);
        assert_eq!((p.tunnel_id(), p.session_id()), (7, 9));
        assert_eq!(p.payload(), &[0xff, 0x03, 0xc0, 0x21]);
    }

    #[test]
    fn data_header_with_offset_skips_pad() {
        let d = [
            0x02, 0x02, 0x00, 0x07, 0x00, 0x09, 0x00, 0x02, 0xaa, 0xbb, 0xff, 0x03,
        ];
        let p = L2tpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(p.offset_size(), Some(2));
        assert_eq!(p.payload(), &[0xff, 0x03]);
        let bad = [0x02, 0x02, 0x00, 0x07, 0x00, 0x09, 0x00, 0x09, 0xaa];
        assert_eq!(
            L2tpPacket::new_checked(&bad[..]),
            Err(Error::Truncated {
                proto: Proto::L2tp,
                needed: 17,
                got: 9
            })
        );
    }

    #[test]
    fn malformed_headers() {
        assert!(matches!(
            L2tpPacket::new_checked(&[0xc8][..]),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(
            L2tpPacket::new_checked(&[0xc8, 0x03, 0, 12][..]),
            Err(Error::Unsupported {
                proto: Proto::L2tp,
                field: "version",
                value: 3
            })
        );
        // Length field bigger than the datagram.
        let mut big = ZLB;
        big[3] = 0x40;
        assert_eq!(
            L2tpPacket::new_checked(&big[..]),
            Err(Error::Truncated {
                proto: Proto::L2tp,
                needed: 0x40,
                got: 12
            })
        );
        let mut small = ZLB;
        small[3] = 4;
        assert!(matches!(
            L2tpPacket::new_checked(&small[..]),
            Err(Error::Malformed { .. })
        ));
        // Control messages without the S bit, without the L bit, with the O bit.
        for flags in [0xc0, 0x88, 0xca] {
            let mut b = ZLB;
            b[0] = flags;
            assert_eq!(
                L2tpPacket::new_checked(&b[..]),
                Err(Error::Malformed {
                    proto: Proto::L2tp,
                    reason: "control message needs L=1, S=1, O=0; flags",
                    value: (u32::from(flags) << 8) | 2
                }),
                "{flags:#x}"
            );
        }
    }

    proptest! {
        #[test]
        fn header_round_trip(control in any::<bool>(), len in any::<bool>(), tid in any::<u16>(),
                             sid in any::<u16>(), seq in any::<Option<(u16, u16)>>(),
                             off in proptest::option::of(0u16..8), prio in any::<bool>(),
                             payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let h = if control {
                L2tpRepr::control(tid, sid, seq.map_or(0, |s| s.0), seq.map_or(0, |s| s.1))
            } else {
                L2tpRepr { kind: MessageKind::Data, with_length: len, tunnel_id: tid, session_id: sid,
                           sequence: seq, offset: off, priority: prio }
            };
            let buf = emit_repr(&h, &payload);
            let p = L2tpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(L2tpRepr::parse(&p).unwrap(), h);
            prop_assert_eq!(p.header_len(), h.buffer_len());
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(h) = L2tpPacket::new_checked(&b[..]) {
                let _ = (h.tunnel_id(), h.session_id(), h.sequence(), h.payload());
                prop_assert!(h.header_len() <= h.message_len() && h.message_len() <= b.len());
                prop_assert!(L2tpRepr::parse(&h).is_ok());
            }
        }
    }
}
