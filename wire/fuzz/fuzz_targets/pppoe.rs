//! PPPoE header: any bytes are either refused or give a payload of exactly LENGTH bytes inside
//! the buffer and a PPP protocol field inside it; the Repr re-emits the header byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::pppoe::Code;
use wire::{PppoeHeader, PppoeRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = PppoeHeader::new_checked(data) else {
        return;
    };
    let payload = p.payload();
    assert_eq!(payload.len(), usize::from(p.payload_len()));
    if let Ok((_, n)) = p.ppp_protocol() {
        assert!(n <= payload.len());
    }
    if p.code() != Code::SessionData {
        assert!(p.ppp_protocol().is_err());
    }
    let r = PppoeRepr::parse(&p).expect("a checked header parses");
    let mut out = [0u8; 6];
    r.emit(&mut PppoeHeader::new_unchecked(&mut out[..]));
    assert_eq!(out[..], data[..6], "header re-emits byte for byte");
});
