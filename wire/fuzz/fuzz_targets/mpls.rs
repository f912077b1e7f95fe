//! MPLS: top-entry view vs labelswitch's decoder, stack scan vs labelswitch's stack parser,
//! stack re-emits byte for byte.
#![no_main]

use labelswitch::{LabelEntry, LabelStack, StackError, MAX_STACK_DEPTH};
use libfuzzer_sys::fuzz_target;
use wire::{Error, MplsPacket};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = MplsPacket::new_checked(data) else {
        return;
    };
    let e = LabelEntry::from_word(p.entry_word());
    assert_eq!(
        (e.label.value(), e.tc, e.bos, e.ttl),
        (p.label(), p.tc(), p.bos(), p.ttl())
    );
    let mut top = [0u8; 4];
    MplsPacket::new_unchecked(&mut top[..]).set_entry_word(e.to_word());
    assert_eq!(top[..], data[..4]);

    match (p.stack_len(MAX_STACK_DEPTH), LabelStack::parse(data)) {
        (Ok(n), Ok(s)) => {
            assert_eq!(n, s.header_len());
            let mut out = vec![0u8; n];
            assert_eq!(s.emit(&mut out), Ok(n));
            assert_eq!(out[..], data[..n], "stack re-emits byte for byte");
            assert_eq!(p.inner_payload(MAX_STACK_DEPTH).unwrap(), &data[n..]);
        }
        // Same error from both walkers (labelswitch/tests/wire_mpls.rs checks the values).
        (Err(Error::Truncated { .. }), Err(StackError::Truncated { .. }))
        | (Err(Error::Malformed { .. }), Err(StackError::NoBottomOfStack { .. }))
        | (Err(Error::Unsupported { .. }), Err(StackError::TooDeep)) => {}
        (a, b) => panic!("scan and labelswitch disagree: {a:?} vs {b:?}"),
    }

    let mut copy = data.to_vec();
    let mut m = MplsPacket::new_checked(&mut copy[..]).unwrap();
    let ttl = m.ttl();
    match m.decrement_ttl() {
        Ok(t) => assert_eq!(t, ttl - 1),
        Err(_) => assert!(ttl <= 1),
    }
});
