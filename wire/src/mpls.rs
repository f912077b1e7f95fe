//! MPLS label stack entries (RFC 3032 §2.1) as a zero-copy view for the fast path.
//!
//! [`MplsPacket`] reads and rewrites the **top** entry in place (swap, TC, S, TTL) as raw field
//! values, and scans the S bits to find where the stack ends. The value types of labels —
//! `Label`, `LabelEntry`, `LabelStack` — and the one decoder of a whole stack belong to the
//! `labelswitch` crate, which this crate (the bottom layer) does not depend on: a caller that
//! wants the value form reads it from the entry word (`LabelEntry::from_word(p.entry_word())`)
//! and passes `labelswitch::MAX_STACK_DEPTH` as the depth limit of [`MplsPacket::stack_len`],
//! so that the scan and `LabelStack::parse` agree (checked by `labelswitch/tests/wire_mpls.rs`
//! and the `mpls` fuzz target).
//!
//! Errors: a stack that runs out of bytes without an entry carrying the bottom-of-stack bit is
//! [`Error::Malformed`] (never a panic); a stack deeper than the caller's limit is
//! [`Error::Unsupported`].
//! Not implemented: entropy labels, GAL/G-ACh (RFC 5586), guessing the payload type after the
//! bottom of stack (the label matrix knows it).

use super::{need, Error, Field, Proto, Rest, Result};

mod field {
    use super::{Field, Rest};
    pub const ENTRY: Field = 0..4;
    pub const PAYLOAD: Rest = 4..;
}

/// Length of one label stack entry.
pub const ENTRY_LEN: usize = field::ENTRY.end;

/// Largest label value (20 bits).
pub const LABEL_MAX: u32 = 0x000f_ffff;

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
    /// checked by [`stack_len`](Self::stack_len) / [`inner_payload`](Self::inner_payload).
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

    /// The top entry as one 32-bit word (label, TC, S, TTL), the form
    /// `labelswitch::LabelEntry::from_word` reads.
    #[inline]
    pub fn entry_word(&self) -> u32 {
        super::get_u32(self.buffer.as_ref(), field::ENTRY.start)
    }

    /// Label value of the top entry (20 bits).
    #[inline]
    pub fn label(&self) -> u32 {
        self.entry_word() >> 12
    }

    /// Traffic class (RFC 5462), 3 bits.
    #[inline]
    pub fn tc(&self) -> u8 {
        ((self.entry_word() >> 9) & 7) as u8
    }

    /// Bottom-of-stack bit of the top entry.
    #[inline]
    pub fn bos(&self) -> bool {
        self.entry_word() & 0x100 != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.entry_word() as u8
    }

    /// Everything after the top entry (the next entry, or the payload if `bos()`).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }

    /// Byte length of the label stack (4 × entries up to the bottom of stack), found by
    /// scanning the S bits without decoding the entries. A stack of more than `max_entries`
    /// entries is [`Error::Unsupported`]; the checks come in the order of
    /// `labelswitch::LabelStack::parse`, so with its `MAX_STACK_DEPTH` both report the same
    /// error.
    #[inline]
    pub fn stack_len(&self, max_entries: usize) -> Result<usize> {
        let d = self.buffer.as_ref();
        let mut at = 0;
        loop {
            let entries = at / ENTRY_LEN;
            if entries == max_entries {
                return Err(Error::Unsupported {
                    proto: Proto::Mpls,
                    field: "label stack depth above",
                    value: max_entries as u32,
                });
            }
            if at == d.len() && entries > 0 {
                return Err(Error::Malformed {
                    proto: Proto::Mpls,
                    reason: "label stack ends without a bottom-of-stack entry; entries read",
                    value: entries as u32,
                });
            }
            let Some(entry) = d.get(at..at + ENTRY_LEN) else {
                return Err(Error::Truncated {
                    proto: Proto::Mpls,
                    needed: at + ENTRY_LEN,
                    got: d.len(),
                });
            };
            at += ENTRY_LEN;
            if entry[2] & 0x01 != 0 {
                return Ok(at);
            }
        }
    }

    /// The payload after the bottom of stack (an IP packet, usually); `max_entries` as for
    /// [`stack_len`](Self::stack_len).
    #[inline]
    pub fn inner_payload(&self, max_entries: usize) -> Result<&[u8]> {
        let n = self.stack_len(max_entries)?;
        Ok(&self.buffer.as_ref()[n..])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MplsPacket<T> {
    /// Rewrites the whole top entry (label, TC, S, TTL) as given, e.g.
    /// `labelswitch::LabelEntry::to_word`.
    #[inline]
    pub fn set_entry_word(&mut self, w: u32) {
        super::set_u32(self.buffer.as_mut(), field::ENTRY.start, w)
    }

    /// Swaps the top label, keeping TC, S and TTL. Only the low 20 bits of `label` are
    /// written (a label above [`LABEL_MAX`] is the caller's bug).
    #[inline]
    pub fn set_label(&mut self, label: u32) {
        debug_assert!(label <= LABEL_MAX, "label {label} does not fit in 20 bits");
        let w = (self.entry_word() & 0x0000_0fff) | ((label & LABEL_MAX) << 12);
        self.set_entry_word(w)
    }

    /// Sets the traffic class (low 3 bits of `value`).
    #[inline]
    pub fn set_tc(&mut self, value: u8) {
        let w = (self.entry_word() & !0x0000_0e00) | (u32::from(value & 7) << 9);
        self.set_entry_word(w)
    }

    #[inline]
    pub fn set_bos(&mut self, value: bool) {
        let w = (self.entry_word() & !0x100) | if value { 0x100 } else { 0 };
        self.set_entry_word(w)
    }

    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        let w = (self.entry_word() & !0xff) | u32::from(value);
        self.set_entry_word(w)
    }

    /// LSR step (the rule of `labelswitch::ttl::decrement`, and of the IPv4/IPv6 forwarding
    /// steps here): if the top TTL is ≤ 1 returns [`Error::TtlExpired`] and leaves the entry
    /// untouched; otherwise decrements it.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Result<u8> {
        let ttl = super::decremented(Proto::Mpls, self.ttl())?;
        self.set_ttl(ttl);
        Ok(ttl)
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

    /// `labelswitch::MAX_STACK_DEPTH`, the limit the data path uses.
    const DEPTH: usize = 8;

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
        assert_eq!((p.label(), p.tc(), p.bos(), p.ttl()), (16, 5, false, 64));
        assert_eq!(p.entry_word(), 0x0001_0a40);
        let inner = MplsPacket::new_checked(p.payload()).unwrap();
        assert_eq!(
            (inner.label(), inner.tc(), inner.bos(), inner.ttl()),
            (1000, 0, true, 63)
        );
        assert_eq!(p.stack_len(DEPTH), Ok(8));
        assert!(p.inner_payload(DEPTH).unwrap().is_empty());
    }

    #[test]
    fn swap_and_ttl_in_place() {
        let mut b = FRAME;
        let mut p = MplsPacket::new_checked(&mut b[14..]).unwrap();
        p.set_label(2000);
        assert_eq!(p.decrement_ttl(), Ok(63));
        assert_eq!((p.label(), p.tc(), p.bos(), p.ttl()), (2000, 5, false, 63));
        p.set_tc(1);
        p.set_bos(true);
        assert_eq!((p.label(), p.tc(), p.bos(), p.ttl()), (2000, 1, true, 63));
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
        // Two entries, neither with S: an error, not a panic.
        let no_bos = [0x00, 0x01, 0x0a, 0x40, 0x00, 0x3e, 0x80, 0x3f];
        let p = MplsPacket::new_checked(&no_bos[..]).unwrap();
        let want = Some(Error::Malformed {
            proto: Proto::Mpls,
            reason: "label stack ends without a bottom-of-stack entry; entries read",
            value: 2,
        });
        assert_eq!(p.stack_len(DEPTH).err(), want);
        assert_eq!(p.inner_payload(DEPTH).err(), want);
        // Stack cut in the middle of the second entry.
        let cut = &FRAME[14..20];
        let p = MplsPacket::new_checked(cut).unwrap();
        let want = Some(Error::Truncated {
            proto: Proto::Mpls,
            needed: 8,
            got: 6,
        });
        assert_eq!(p.stack_len(DEPTH).err(), want);
        // Deeper than the limit (found by the mpls fuzz target: 8 entries without S and a
        // trailing byte must be "too deep", as labelswitch says, not "truncated").
        for len in [4 * 12, 4 * 8, 4 * 8 + 1] {
            let deep = vec![0u8; len];
            let p = MplsPacket::new_checked(&deep[..]).unwrap();
            assert!(
                matches!(p.stack_len(DEPTH), Err(Error::Unsupported { .. })),
                "{len}"
            );
        }
    }

    proptest! {
        #[test]
        fn entry_round_trip(label in 0u32..=LABEL_MAX, tc in 0u8..8, bos in any::<bool>(), ttl in any::<u8>()) {
            let mut b = [0u8; 4];
            let mut w = MplsPacket::new_unchecked(&mut b[..]);
            w.set_label(label);
            w.set_tc(tc);
            w.set_bos(bos);
            w.set_ttl(ttl);
            let p = MplsPacket::new_checked(&b[..]).unwrap();
            prop_assert_eq!((p.label(), p.tc(), p.bos(), p.ttl()), (label, tc, bos, ttl));
            let mut c = [0u8; 4];
            MplsPacket::new_unchecked(&mut c[..]).set_entry_word(p.entry_word());
            prop_assert_eq!(c, b);
        }

        #[test]
        fn scan_never_panics(data in proptest::collection::vec(any::<u8>(), 0..48), depth in 0usize..14) {
            if let Ok(p) = MplsPacket::new_checked(&data[..]) {
                let _ = (p.entry_word(), p.payload());
                if let Ok(n) = p.stack_len(depth) {
                    prop_assert!(n <= data.len() && n <= depth * ENTRY_LEN);
                    prop_assert_eq!(p.inner_payload(depth).unwrap().len(), data.len() - n);
                }
            }
        }
    }
}
