//! Fuzzes the text parsers fed from profiles and the management API: prefixes and RFC 2685
//! VPN ids. They must never panic, and what they accept must print back to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vr::{Prefix4, Prefix6, VpnId};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = s.parse::<Prefix4>() {
        assert_eq!(p.to_string().parse::<Prefix4>(), Ok(p));
    }
    if let Ok(p) = s.parse::<Prefix6>() {
        assert_eq!(p.to_string().parse::<Prefix6>(), Ok(p));
    }
    if let Ok(v) = s.parse::<VpnId>() {
        assert_eq!(v.to_string().parse::<VpnId>(), Ok(v));
    }
});
