//! A parsed MPLS label stack (RFC 3032 §2.1) held inline, without heap allocation.
//!
//! The stack is stored outermost (top) entry first, as it appears on the wire. The data plane
//! usually only needs the top entry ([`LabelEntry::from_bytes`]); [`LabelStack`] is for code
//! that must see or rebuild the whole stack (tests, OAM, the punt path, label imposition of
//! several labels at once).

use crate::entry::{LabelEntry, ENTRY_LEN};

/// Deepest label stack this implementation parses or builds.
///
/// Eight entries cover every stack varouter builds (VPN label + transport label + optional
/// protection labels) with room to spare; deeper stacks are rejected with
/// [`StackError::TooDeep`].
pub const MAX_STACK_DEPTH: usize = 8;

/// Errors when parsing, building or emitting a label stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// The input ends in the middle of a label stack entry (or before the first one).
    #[error("label stack truncated: needed {needed} bytes, only {available} available")]
    Truncated {
        /// Bytes needed to read the next entry.
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
    /// The input ends on an entry boundary but no entry had the bottom-of-stack (S) bit.
    #[error("label stack has no bottom-of-stack entry: {entries} entries read without the S bit")]
    NoBottomOfStack {
        /// Entries read before the input ran out.
        entries: usize,
    },
    /// More than [`MAX_STACK_DEPTH`] entries without the S bit, or a push onto a full stack.
    #[error("label stack deeper than {MAX_STACK_DEPTH} entries")]
    TooDeep,
    /// The output buffer cannot hold the encoded stack.
    #[error("output buffer too small for the label stack: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes needed ([`LabelStack::header_len`]).
        needed: usize,
        /// Bytes available in the output buffer.
        available: usize,
    },
}

/// A label stack of at most [`MAX_STACK_DEPTH`] entries, outermost first.
///
/// Invariant: exactly the last (innermost) entry has `bos` set, or the stack is empty.
/// [`LabelStack::push`] and [`LabelStack::pop`] keep it; [`LabelStack::emit`] writes the
/// bits from the position, so an entry's own `bos` field never leaks into the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelStack {
    entries: [LabelEntry; MAX_STACK_DEPTH],
    len: u8,
}

impl Default for LabelStack {
    fn default() -> Self {
        Self::new()
    }
}

impl LabelStack {
    /// An empty stack.
    pub const fn new() -> LabelStack {
        LabelStack {
            entries: [LabelEntry::ZERO; MAX_STACK_DEPTH],
            len: 0,
        }
    }

    /// Parses the label stack at the start of `bytes` (the bytes right after the Ethernet
    /// header of an MPLS frame): entries are read until one has the S bit. The payload
    /// starts at `bytes[stack.header_len()..]`.
    pub fn parse(bytes: &[u8]) -> Result<LabelStack, StackError> {
        let mut stack = LabelStack::new();
        let mut rest = bytes;
        loop {
            if stack.len() == MAX_STACK_DEPTH {
                return Err(StackError::TooDeep);
            }
            if rest.is_empty() && !stack.is_empty() {
                return Err(StackError::NoBottomOfStack {
                    entries: stack.len(),
                });
            }
            let Some((word, tail)) = rest.split_first_chunk::<ENTRY_LEN>() else {
                return Err(StackError::Truncated {
                    needed: ENTRY_LEN,
                    available: rest.len(),
                });
            };
            let entry = LabelEntry::parse(word);
            stack.entries[stack.len()] = entry;
            stack.len += 1;
            if entry.bos {
                return Ok(stack);
            }
            rest = tail;
        }
    }

    /// The top entry of the label stack at the start of `bytes` and the stack's depth
    /// (entries up to and including the bottom one): the same checks and errors as
    /// [`LabelStack::parse`], without building the stack. The forwarding path needs only the
    /// top label and the depth, so it skips the copy of a [`MAX_STACK_DEPTH`]-entry array per
    /// packet. `tests::parse_top_agrees_with_parse` holds it to `parse` on arbitrary bytes.
    #[inline]
    pub fn parse_top(bytes: &[u8]) -> Result<(LabelEntry, usize), StackError> {
        let Some(first) = bytes.first_chunk::<ENTRY_LEN>() else {
            return Err(StackError::Truncated {
                needed: ENTRY_LEN,
                available: bytes.len(),
            });
        };
        let top = LabelEntry::parse(first);
        let mut bottom = top.bos;
        let mut depth = 1;
        while !bottom {
            if depth == MAX_STACK_DEPTH {
                return Err(StackError::TooDeep);
            }
            let rest = bytes.get(depth * ENTRY_LEN..).unwrap_or_default();
            if rest.is_empty() {
                return Err(StackError::NoBottomOfStack { entries: depth });
            }
            let Some(word) = rest.first_chunk::<ENTRY_LEN>() else {
                return Err(StackError::Truncated {
                    needed: ENTRY_LEN,
                    available: rest.len(),
                });
            };
            bottom = LabelEntry::parse(word).bos;
            depth += 1;
        }
        Ok((top, depth))
    }

    /// Builds a stack from entries listed outermost first; the S bits are set from the
    /// position (only the last entry gets it), whatever the entries carried.
    pub fn from_entries(entries: &[LabelEntry]) -> Result<LabelStack, StackError> {
        if entries.len() > MAX_STACK_DEPTH {
            return Err(StackError::TooDeep);
        }
        let mut stack = LabelStack::new();
        for (i, e) in entries.iter().enumerate() {
            stack.entries[i] = LabelEntry {
                bos: i + 1 == entries.len(),
                ..*e
            };
        }
        stack.len = entries.len() as u8;
        Ok(stack)
    }

    /// Number of entries.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True when the stack holds no entry.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries, outermost first.
    #[inline]
    pub fn entries(&self) -> &[LabelEntry] {
        &self.entries[..self.len()]
    }

    /// The outermost entry.
    #[inline]
    pub fn top(&self) -> Option<&LabelEntry> {
        self.entries().first()
    }

    /// The outermost entry, mutable (to swap the label or rewrite the TTL in place).
    /// Changing its `bos` field has no effect on [`LabelStack::emit`].
    #[inline]
    pub fn top_mut(&mut self) -> Option<&mut LabelEntry> {
        let len = self.len();
        self.entries[..len].first_mut()
    }

    /// Bytes the stack occupies on the wire: 4 per entry.
    #[inline]
    pub const fn header_len(&self) -> usize {
        self.len() * ENTRY_LEN
    }

    /// Pushes `entry` as the new outermost entry. Its S bit is set only if the stack was
    /// empty.
    pub fn push(&mut self, entry: LabelEntry) -> Result<(), StackError> {
        let len = self.len();
        if len == MAX_STACK_DEPTH {
            return Err(StackError::TooDeep);
        }
        self.entries.copy_within(0..len, 1);
        self.entries[0] = LabelEntry {
            bos: len == 0,
            ..entry
        };
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the outermost entry.
    pub fn pop(&mut self) -> Option<LabelEntry> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let top = self.entries[0];
        self.entries.copy_within(1..len, 0);
        self.entries[len - 1] = LabelEntry::ZERO;
        self.len -= 1;
        Some(top)
    }

    /// Writes the stack to the start of `out` and returns the bytes written
    /// ([`LabelStack::header_len`]). The S bit is written on the last entry only.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, StackError> {
        let needed = self.header_len();
        let Some(dst) = out.get_mut(..needed) else {
            return Err(StackError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        };
        let last = self.len().saturating_sub(1);
        for (i, (chunk, e)) in dst
            .chunks_exact_mut(ENTRY_LEN)
            .zip(self.entries())
            .enumerate()
        {
            let e = LabelEntry {
                bos: i == last,
                ..*e
            };
            chunk.copy_from_slice(&e.to_bytes());
        }
        Ok(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::Label;
    use proptest::prelude::*;

    fn entry(label: u32, ttl: u8) -> LabelEntry {
        LabelEntry {
            label: Label::new(label).unwrap(),
            tc: 0,
            bos: false,
            ttl,
        }
    }

    #[test]
    fn parse_two_labels_and_payload() {
        // Outer label 100 TTL 63, inner label 2000 S=1 TTL 64, then the first IPv4 byte;
        // from scapy 2.5: `MPLS(label=100, s=0, ttl=63)/MPLS(label=2000, s=1, ttl=64)/IP()`.
        let bytes = [0x00, 0x06, 0x40, 0x3f, 0x00, 0x7d, 0x01, 0x40, 0x45];
        let s = LabelStack::parse(&bytes).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.header_len(), 8);
        assert_eq!(s.top().unwrap().label.value(), 100);
        assert_eq!(s.entries()[1].label.value(), 2000);
        assert!(s.entries()[1].bos);
        assert_eq!(bytes[s.header_len()], 0x45);
        let mut out = [0u8; 8];
        assert_eq!(s.emit(&mut out), Ok(8));
        assert_eq!(out, bytes[..8]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            LabelStack::parse(&[]),
            Err(StackError::Truncated {
                needed: 4,
                available: 0
            })
        );
        assert_eq!(
            LabelStack::parse(&[0, 0x10, 0, 64, 0, 0]),
            Err(StackError::Truncated {
                needed: 4,
                available: 2
            })
        );
        assert_eq!(
            LabelStack::parse(&[0, 0x10, 0, 64]),
            Err(StackError::NoBottomOfStack { entries: 1 })
        );
        let deep = [0u8; 4 * (MAX_STACK_DEPTH + 1)];
        assert_eq!(LabelStack::parse(&deep), Err(StackError::TooDeep));
        // Exactly MAX_STACK_DEPTH entries with S on the last one parse.
        let mut full = [0u8; 4 * MAX_STACK_DEPTH];
        full[4 * MAX_STACK_DEPTH - 2] = 0x01;
        assert_eq!(LabelStack::parse(&full).unwrap().len(), MAX_STACK_DEPTH);
    }

    #[test]
    fn push_pop_keep_bottom_bit() {
        let mut s = LabelStack::new();
        assert_eq!(s.pop(), None);
        s.push(entry(300, 64)).unwrap();
        s.push(entry(200, 64)).unwrap();
        assert_eq!(s.entries()[0].label.value(), 200);
        assert!(!s.entries()[0].bos);
        assert!(s.entries()[1].bos);
        let top = s.pop().unwrap();
        assert_eq!(top.label.value(), 200);
        assert_eq!(s.len(), 1);
        assert!(s.top().unwrap().bos);
        for _ in 1..MAX_STACK_DEPTH {
            s.push(entry(17, 1)).unwrap();
        }
        assert_eq!(s.push(entry(17, 1)), Err(StackError::TooDeep));
    }

    #[test]
    fn emit_checks_space() {
        let s = LabelStack::from_entries(&[entry(16, 1), entry(17, 2)]).unwrap();
        let mut small = [0u8; 7];
        assert_eq!(
            s.emit(&mut small),
            Err(StackError::BufferTooSmall {
                needed: 8,
                available: 7
            })
        );
        assert_eq!(LabelStack::new().emit(&mut []), Ok(0));
        assert!(LabelStack::from_entries(&[entry(16, 1); MAX_STACK_DEPTH + 1]).is_err());
    }

    fn arb_entry() -> impl Strategy<Value = LabelEntry> {
        (0u32..=Label::MAX, 0u8..8, any::<u8>()).prop_map(|(l, tc, ttl)| LabelEntry {
            label: Label::new(l).unwrap(),
            tc,
            bos: false,
            ttl,
        })
    }

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::vec(arb_entry(), 1..=MAX_STACK_DEPTH)) {
            let s = LabelStack::from_entries(&entries).unwrap();
            let mut buf = [0u8; 4 * MAX_STACK_DEPTH + 3];
            let n = s.emit(&mut buf).unwrap();
            prop_assert_eq!(n, 4 * entries.len());
            let p = LabelStack::parse(&buf[..n]).unwrap();
            prop_assert_eq!(p, s);
        }

        #[test]
        fn parse_top_agrees_with_parse(
            words in proptest::collection::vec((any::<u32>(), any::<bool>()), 0..=MAX_STACK_DEPTH + 2),
            cut in 0usize..4,
        ) {
            // Words with a random S bit (so stacks of every depth, with and without a
            // bottom, too deep), then a tail cut short by 0-3 bytes (truncated entries).
            let mut bytes: Vec<u8> = words
                .iter()
                .flat_map(|&(w, s)| ((w & !0x100) | (u32::from(s) << 8)).to_be_bytes())
                .collect();
            bytes.truncate(bytes.len().saturating_sub(cut));
            let want = LabelStack::parse(&bytes).map(|s| (s.entries()[0], s.len()));
            prop_assert_eq!(LabelStack::parse_top(&bytes), want);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(s) = LabelStack::parse(&bytes) {
                prop_assert!(s.header_len() <= bytes.len());
                prop_assert!(s.entries().last().unwrap().bos);
                prop_assert!(s.entries()[..s.len() - 1].iter().all(|e| !e.bos));
            }
        }

        #[test]
        fn push_then_pop(entries in proptest::collection::vec(arb_entry(), 0..=MAX_STACK_DEPTH)) {
            let mut s = LabelStack::new();
            for e in entries.iter().rev() {
                s.push(*e).unwrap();
            }
            prop_assert_eq!(s, LabelStack::from_entries(&entries).unwrap());
            for e in &entries {
                let p = s.pop().unwrap();
                prop_assert_eq!((p.label, p.tc, p.ttl), (e.label, e.tc, e.ttl));
            }
            prop_assert!(s.is_empty());
        }
    }
}
