//! One MPLS label stack entry (RFC 3032 §2.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Label                  | TC  |S|       TTL     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! TC is the Traffic Class field (formerly EXP, renamed by RFC 5462).

use crate::label::Label;
use crate::stack::StackError;

/// Size of one label stack entry on the wire.
pub const ENTRY_LEN: usize = 4;

/// One decoded label stack entry.
///
/// `tc` is a 3-bit field: only its low 3 bits are written by [`LabelEntry::to_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LabelEntry {
    /// The label value.
    pub label: Label,
    /// Traffic class, 0..=7 (RFC 5462).
    pub tc: u8,
    /// Bottom-of-stack bit (S): set on the last entry of the stack.
    pub bos: bool,
    /// Time to live.
    pub ttl: u8,
}

impl LabelEntry {
    /// An entry with every field zero (label 0, not bottom of stack); used as filler.
    pub const ZERO: LabelEntry = LabelEntry {
        label: Label::IPV4_EXPLICIT_NULL,
        tc: 0,
        bos: false,
        ttl: 0,
    };

    /// Decodes one entry. Every 4-byte value is a valid entry.
    #[inline]
    pub const fn parse(bytes: &[u8; ENTRY_LEN]) -> LabelEntry {
        Self::from_word(u32::from_be_bytes(*bytes))
    }

    /// Decodes one entry from the first 4 bytes of `bytes`.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Result<LabelEntry, StackError> {
        match bytes.first_chunk::<ENTRY_LEN>() {
            Some(b) => Ok(Self::parse(b)),
            None => Err(StackError::Truncated {
                needed: ENTRY_LEN,
                available: bytes.len(),
            }),
        }
    }

    /// Decodes one entry from its big-endian 32-bit word.
    #[inline]
    pub const fn from_word(word: u32) -> LabelEntry {
        LabelEntry {
            label: Label::from_entry_word(word),
            tc: ((word >> 9) & 0x7) as u8,
            bos: (word >> 8) & 1 == 1,
            ttl: word as u8,
        }
    }

    /// The 32-bit word of this entry (host order; write it big-endian).
    #[inline]
    pub const fn to_word(&self) -> u32 {
        (self.label.value() << 12)
            | (((self.tc & 0x7) as u32) << 9)
            | ((self.bos as u32) << 8)
            | self.ttl as u32
    }

    /// Encodes this entry in network byte order.
    #[inline]
    pub const fn to_bytes(&self) -> [u8; ENTRY_LEN] {
        self.to_word().to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        // Label 1000, TC 5, S=1, TTL 64: bytes from scapy 2.5,
        // `bytes(MPLS(label=1000, cos=5, s=1, ttl=64))`.
        let e = LabelEntry::parse(&[0x00, 0x3e, 0x8b, 0x40]);
        assert_eq!(e.label.value(), 1000);
        assert_eq!(e.tc, 5);
        assert!(e.bos);
        assert_eq!(e.ttl, 64);
        assert_eq!(e.to_bytes(), [0x00, 0x3e, 0x8b, 0x40]);
    }

    #[test]
    fn short_input() {
        assert_eq!(
            LabelEntry::from_bytes(&[1, 2, 3]),
            Err(StackError::Truncated {
                needed: 4,
                available: 3
            })
        );
        assert!(LabelEntry::from_bytes(&[0, 0, 0x11, 0xff, 9]).is_ok());
    }

    #[test]
    fn tc_is_masked_to_three_bits() {
        let e = LabelEntry {
            label: Label::new(16).unwrap(),
            tc: 0xff,
            bos: false,
            ttl: 1,
        };
        assert_eq!(LabelEntry::parse(&e.to_bytes()).tc, 7);
        assert!(!LabelEntry::parse(&e.to_bytes()).bos);
    }

    proptest! {
        #[test]
        fn round_trip(label in 0u32..=Label::MAX, tc in 0u8..8, bos: bool, ttl: u8) {
            let e = LabelEntry { label: Label::new(label).unwrap(), tc, bos, ttl };
            prop_assert_eq!(LabelEntry::parse(&e.to_bytes()), e);
        }

        #[test]
        fn any_bytes_round_trip(b: [u8; 4]) {
            prop_assert_eq!(LabelEntry::parse(&b).to_bytes(), b);
        }
    }
}
