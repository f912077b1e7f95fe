//! MPLS label stack entries (RFC 3032 §2.1) as a zero-copy view for the fast path.
//!
//! The value types — [`Label`], [`LabelEntry`], [`LabelStack`] — and the one decoder of a whole
//! stack belong to the `labelswitch` crate; this module only frames them: [`MplsPacket`] reads
//! and rewrites the **top** entry in place (swap, TTL) and, to walk the stack, calls
//! [`LabelStack::parse`]. The top entry's value form (the "Repr") is `labelswitch`'s
//! [`LabelEntry`] ([`MplsPacket::entry`] / [`MplsPacket::set_entry`]).
//!
//! Errors: a stack that runs out of bytes without an entry carrying the bottom-of-stack bit is
//! [`Error::Malformed`] (never a panic); a stack deeper than `labelswitch`'s
//! [`MAX_STACK_DEPTH`](labelswitch::MAX_STACK_DEPTH) is [`Error::Unsupported`].
//! Not implemented: entropy labels, GAL/G-ACh (RFC 5586), guessing the payload type after the
//! bottom of stack (the label matrix knows it).

use labelswitch::{Label, LabelEntry, LabelStack, StackError};

use super::{need, Error, Field, Proto, Rest, Result};

mod field {
    use super::{Field, Rest};
    pub const ENTRY: Field = 0..4;
    pub const PAYLOAD: Rest = 4..;
}

/// Length of one label stack entry.
pub const ENTRY_LEN: usize = field::ENTRY.end;

/// Maps a `labelswitch` stack error for a buffer of `total` bytes to a wire [`Error`].
fn stack_error(e: StackError, total: usize) -> Error {
    match e {
        // `available` counts the bytes left after the complete entries read so far.
        StackError::Truncated { needed, available } => Error::Truncated {
            proto: Proto::Mpls,
            needed: total - available + needed,
            got: total,
        },
        StackError::NoBottomOfStack { entries } => Error::Malformed {
            proto: Proto::Mpls,
            reason: "label stack ends without a bottom-of-stack entry; entries read",
            value: entries as u32,
        },
        StackError::TooDeep => Error::Unsupported {
            proto: Proto::Mpls,
            field: "label stack depth above",
            value: labelswitch::MAX_STACK_DEPTH as u32,
        },
        StackError::BufferTooSmall { needed, available } => Error::Truncated {
            proto: Proto::Mpls,
            needed,
            got: available,
        },
    }
}

/// A read/write view of an MPLS packet: the label stack followed by the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MplsPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MplsPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        MplsPacket { buffer }
    }

    /// Wraps a buffer holding at least the top entry (4 bytes). The rest of the stack is only
    /// checked by [`stack`](Self::stack) / [`inner_payload`](Self::inner_payload).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<()> {
        need(Proto::Mpls, ENTRY_LEN, self.buffer.as_ref().len())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn word(&self) -> u32 {
        super::get_u32(self.buffer.as_ref(), field::ENTRY.start)
    }

    /// The top entry.
    #[inline]
    pub fn entry(&self) -> LabelEntry {
        LabelEntry::from_word(self.word())
    }

    #[inline]
    pub fn label(&self) -> Label {
        Label::from_entry_word(self.word())
    }

    /// Traffic class (RFC 5462), 3 bits.
    #[inline]
    pub fn tc(&self) -> u8 {
        ((self.word() >> 9) & 7) as u8
    }

    /// Bottom-of-stack bit of the top entry.
    #[inline]
    pub fn bos(&self) -> bool {
        self.word() & 0x100 != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.word() as u8
    }

    /// Everything after the top entry (the next entry, or the payload if `bos()`).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }

    /// The whole stack, decoded by `labelswitch` (entries up to and including the one with the
    /// S bit).
    #[inline]
    pub fn stack(&self) -> Result<LabelStack> {
        let d = self.buffer.as_ref();
        LabelStack::parse(d).map_err(|e| stack_error(e, d.len()))
    }

    /// Byte length of the label stack (4 × entries up to the bottom of stack), found by
    /// scanning the S bits without decoding the entries.
    #[inline]
    pub fn stack_len(&self) -> Result<usize> {
        let d = self.buffer.as_ref();
        let mut at = 0;
        // Same order of checks as `LabelStack::parse`, so both report the same error.
        loop {
            let entries = at / ENTRY_LEN;
            if entries == labelswitch::MAX_STACK_DEPTH {
                return Err(stack_error(StackError::TooDeep, d.len()));
            }
            if at == d.len() && entries > 0 {
                return Err(stack_error(
                    StackError::NoBottomOfStack { entries },
                    d.len(),
                ));
            }
            let Some(entry) = d.get(at..at + ENTRY_LEN) else {
                let available = d.len() - at;
                return Err(stack_error(
                    StackError::Truncated {
                        needed: ENTRY_LEN,
                        available,
                    },
                    d.len(),
                ));
            };
            at += ENTRY_LEN;
            if entry[2] & 0x01 != 0 {
                return Ok(at);
            }
        }
    }

    /// The payload after the bottom of stack (an IP packet, usually).
    #[inline]
    pub fn inner_payload(&self) -> Result<&[u8]> {
        let n = self.stack_len()?;
        Ok(&self.buffer.as_ref()[n..])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MplsPacket<T> {
    #[inline]
    fn set_word(&mut self, w: u32) {
        super::set_u32(self.buffer.as_mut(), field::ENTRY.start, w)
    }

    /// Rewrites the whole top entry (label, TC, S, TTL) as given.
    #[inline]
    pub fn set_entry(&mut self, entry: &LabelEntry) {
        self.set_word(entry.to_word())
    }

    /// Swaps the top label, keeping TC, S and TTL.
    #[inline]
    pub fn set_label(&mut self, label: Label) {
        let w = (self.word() & 0x0000_0fff) | (label.value() << 12);
        self.set_word(w)
    }

    /// Sets the traffic class (low 3 bits of `value`).
    #[inline]
    pub fn set_tc(&mut self, value: u8) {
        let w = (self.word() & !0x0000_0e00) | (u32::from(value & 7) << 9);
        self.set_word(w)
    }

    #[inline]
    pub fn set_bos(&mut self, value: bool) {
        let w = (self.word() & !0x100) | if value { 0x100 } else { 0 };
        self.set_word(w)
    }

    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        let w = (self.word() & !0xff) | u32::from(value);
        self.set_word(w)
    }

    /// LSR step (`labelswitch::ttl::decrement`): if the top TTL is ≤ 1 returns
    /// [`Error::TtlExpired`] and leaves the entry untouched; otherwise decrements it.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Result<u8> {
        let ttl = self.ttl();
        match labelswitch::ttl::decrement(ttl) {
            Some(t) => {
                self.set_ttl(t);
                Ok(t)
            }
            None => Err(Error::TtlExpired {
                proto: Proto::Mpls,
                ttl,
            }),
        }
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::super::ethernet::{EtherType, EthernetFrame};
    use super::*;
    use proptest::prelude::*;

    // scapy 2.5 (scapy.contrib.mpls): Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
    //   /MPLS(label=16, cos=5, s=0, ttl=64)/MPLS(label=1000, cos=0, s=1, ttl=63)/IP(...),
    // first 22 bytes.
    const FRAME: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x47, 0x00,
        0x01, 0x0a, 0x40, 0x00, 0x3e, 0x81, 0x3f,
    ];

    #[test]
    fn parse_real_stack() {
        let eth = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Mpls);
        let p = MplsPacket::new_checked(eth.payload()).unwrap();
        assert_eq!(
            (p.label().value(), p.tc(), p.bos(), p.ttl()),
            (16, 5, false, 64)
        );
        assert_eq!(
            p.entry(),
            LabelEntry {
                label: Label::new(16).unwrap(),
                tc: 5,
                bos: false,
                ttl: 64
            }
        );
        let inner = MplsPacket::new_checked(p.payload()).unwrap();
        assert_eq!(
            (inner.label().value(), inner.tc(), inner.bos(), inner.ttl()),
            (1000, 0, true, 63)
        );
        assert_eq!(p.stack_len(), Ok(8));
        assert_eq!(p.stack().unwrap().len(), 2);
        assert!(p.inner_payload().unwrap().is_empty());
    }

    #[test]
    fn swap_and_ttl_in_place() {
        let mut b = FRAME;
        let mut p = MplsPacket::new_checked(&mut b[14..]).unwrap();
        p.set_label(Label::new(2000).unwrap());
        assert_eq!(p.decrement_ttl(), Ok(63));
        assert_eq!(
            (p.label().value(), p.tc(), p.bos(), p.ttl()),
            (2000, 5, false, 63)
        );
        p.set_tc(1);
        p.set_bos(true);
        assert_eq!(
            (p.label().value(), p.tc(), p.bos(), p.ttl()),
            (2000, 1, true, 63)
        );
        assert_eq!(&b[18..], &FRAME[18..], "next entry untouched");
    }

    #[test]
    fn ttl_zero_and_one() {
        for ttl in [0u8, 1] {
            let mut b = [0x00, 0x01, 0x01, ttl];
            let mut p = MplsPacket::new_checked(&mut b[..]).unwrap();
            assert_eq!(
                p.decrement_ttl(),
                Err(Error::TtlExpired {
                    proto: Proto::Mpls,
                    ttl
                })
            );
            assert_eq!(p.ttl(), ttl);
        }
    }

    #[test]
    fn malformed_stacks() {
        assert!(matches!(
            MplsPacket::new_checked(&[0u8, 1, 1][..]),
            Err(Error::Truncated {
                needed: 4,
                got: 3,
                ..
            })
        ));
        // Two entries, neither with S: an error, not a panic, from both walkers.
        let no_bos = [0x00, 0x01, 0x0a, 0x40, 0x00, 0x3e, 0x80, 0x3f];
        let p = MplsPacket::new_checked(&no_bos[..]).unwrap();
        let want = Some(Error::Malformed {
            proto: Proto::Mpls,
            reason: "label stack ends without a bottom-of-stack entry; entries read",
            value: 2,
        });
        assert_eq!(p.stack_len().err(), want);
        assert_eq!(p.stack().err(), want);
        assert_eq!(p.inner_payload().err(), want);
        // Stack cut in the middle of the second entry.
        let cut = &FRAME[14..20];
        let p = MplsPacket::new_checked(cut).unwrap();
        let want = Some(Error::Truncated {
            proto: Proto::Mpls,
            needed: 8,
            got: 6,
        });
        assert_eq!(p.stack_len().err(), want);
        assert_eq!(p.stack().err(), want);
        // Deeper than labelswitch supports (found by the mpls fuzz target: 8 entries without S
        // and a trailing byte must be "too deep" from both walkers, not "truncated").
        for len in [4 * 12, 4 * 8, 4 * 8 + 1] {
            let deep = vec![0u8; len];
            let p = MplsPacket::new_checked(&deep[..]).unwrap();
            assert!(
                matches!(p.stack_len(), Err(Error::Unsupported { .. })),
                "{len}"
            );
            assert!(matches!(p.stack(), Err(Error::Unsupported { .. })), "{len}");
        }
    }

    proptest! {
        #[test]
        fn entry_round_trip(label in 0u32..=Label::MAX, tc in 0u8..8, bos in any::<bool>(), ttl in any::<u8>()) {
            let e = LabelEntry { label: Label::new(label).unwrap(), tc, bos, ttl };
            let mut b = [0u8; 4];
            MplsPacket::new_unchecked(&mut b[..]).set_entry(&e);
            let p = MplsPacket::new_checked(&b[..]).unwrap();
            prop_assert_eq!(p.entry(), e);
            prop_assert_eq!((p.label().value(), p.tc(), p.bos(), p.ttl()), (label, tc, bos, ttl));
        }

        #[test]
        fn scan_agrees_with_labelswitch(data in proptest::collection::vec(any::<u8>(), 0..48).prop_map(|mut v| {
            // Mostly clear the S bits so that deep and unterminated stacks are common.
            for i in (2..v.len()).step_by(4) { if v[i] & 0x80 == 0 { v[i] &= !1 } }
            v
        })) {
            if let Ok(p) = MplsPacket::new_checked(&data[..]) {
                let _ = (p.entry(), p.payload());
                match (p.stack_len(), p.stack()) {
                    (Ok(n), Ok(s)) => prop_assert_eq!(n, s.header_len()),
                    (a, b) => prop_assert_eq!(a.err(), b.err()),
                }
                let _ = p.inner_payload();
            }
        }
    }
}
