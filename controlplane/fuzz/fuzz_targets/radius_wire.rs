//! Fuzzes the RADIUS decoders: packet view, attribute walk, typed attributes and VSAs,
//! verification helpers, and re-encoding of whatever parsed.
#![no_main]

use controlplane::radius::wire::{crypto, Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else { return };
    for a in p.attributes() {
        let _ = a;
    }
    let _ = crypto::verify_response(data, &[0; 16], b"fuzz", true);
    let _ = crypto::verify_request(data, b"fuzz", false);
    let _ = crypto::verify_access_request(data, b"fuzz", true);
    if let Ok(r) = Repr::parse(&p) {
        // Whatever parses must encode, and re-parse to the same value.
        let bytes = r.to_bytes().expect("parsed packet re-encodes");
        assert_eq!(Repr::from_bytes(&bytes).expect("own encoding parses"), r);
        let mut signed = bytes;
        let _ = crypto::sign(&mut signed, b"fuzz", crypto::Signing::Request);
    }
});
