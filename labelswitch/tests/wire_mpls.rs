//! The data path's MPLS view (`wire::mpls`, which cannot see this crate) against this crate's
//! value types: the top entry reads the same, and the view's S-bit scan and
//! [`LabelStack::parse`] agree on every input, errors included.

use labelswitch::{LabelEntry, LabelStack, StackError, MAX_STACK_DEPTH};
use proptest::prelude::*;
use wire::{Error, MplsPacket};

/// The wire error `LabelStack::parse` corresponds to, for a buffer of `total` bytes.
fn as_wire(e: StackError, total: usize) -> Error {
    match e {
        // `available` counts the bytes left after the complete entries read so far.
        StackError::Truncated { needed, available } => Error::Truncated {
            proto: wire::Proto::Mpls,
            needed: total - available + needed,
            got: total,
        },
        StackError::NoBottomOfStack { entries } => Error::Malformed {
            proto: wire::Proto::Mpls,
            reason: "label stack ends without a bottom-of-stack entry; entries read",
            value: entries as u32,
        },
        StackError::TooDeep => Error::Unsupported {
            proto: wire::Proto::Mpls,
            field: "label stack depth above",
            value: MAX_STACK_DEPTH as u32,
        },
        StackError::BufferTooSmall { .. } => unreachable!("parse never emits"),
    }
}

#[test]
fn deep_and_cut_stacks_agree() {
    // 8 entries without S and a trailing byte must be "too deep" from both (a fuzz finding).
    for len in [0, 3, 6, 4 * 2, 4 * 8, 4 * 8 + 1, 4 * 12] {
        let d = vec![0u8; len];
        let Ok(p) = MplsPacket::new_checked(&d[..]) else {
            continue;
        };
        assert_eq!(
            p.stack_len(MAX_STACK_DEPTH).err(),
            LabelStack::parse(&d).err().map(|e| as_wire(e, d.len())),
            "{len}"
        );
    }
}

proptest! {
    #[test]
    fn top_entry_is_labelswitch_entry(data in proptest::collection::vec(any::<u8>(), 4..12)) {
        let p = MplsPacket::new_checked(&data[..]).unwrap();
        let e = LabelEntry::from_word(p.entry_word());
        prop_assert_eq!((e.label.value(), e.tc, e.bos, e.ttl), (p.label(), p.tc(), p.bos(), p.ttl()));
        let mut b = [0u8; 4];
        MplsPacket::new_unchecked(&mut b[..]).set_entry_word(e.to_word());
        prop_assert_eq!(&b[..], &data[..4]);
    }

    #[test]
    fn scan_agrees_with_labelswitch(data in proptest::collection::vec(any::<u8>(), 0..48).prop_map(|mut v| {
        // Mostly clear the S bits so that deep and unterminated stacks are common.
        for i in (2..v.len()).step_by(4) { if v[i] & 0x80 == 0 { v[i] &= !1 } }
        v
    })) {
        if let Ok(p) = MplsPacket::new_checked(&data[..]) {
            match (p.stack_len(MAX_STACK_DEPTH), LabelStack::parse(&data)) {
                (Ok(n), Ok(s)) => prop_assert_eq!(n, s.header_len()),
                (a, b) => prop_assert_eq!(a.err(), b.err().map(|e| as_wire(e, data.len()))),
            }
        }
    }
}
