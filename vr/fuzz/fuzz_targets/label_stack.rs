//! Fuzzes the MPLS label stack decoder (network bytes): it must never panic, and whatever
//! it accepts must re-encode to the same bytes.
#![no_main]

use labelswitch::{LabelEntry, LabelStack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = LabelEntry::from_bytes(data);
    if let Ok(stack) = LabelStack::parse(data) {
        let n = stack.header_len();
        assert!(n <= data.len());
        let mut out = [0u8; 4 * labelswitch::MAX_STACK_DEPTH];
        assert_eq!(stack.emit(&mut out), Ok(n));
        assert_eq!(&out[..n], &data[..n]);
        assert_eq!(LabelStack::parse(&out[..n]), Ok(stack));
    }
});
