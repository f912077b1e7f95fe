//! Fuzzes the L2TP decoders: header view, control message parse (with a secret, so hidden
//! AVPs are decrypted), and re-encoding of whatever parsed.
#![no_main]

use controlplane::l2tp::wire::{ControlMessage, L2tpPacket, L2tpRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = L2tpPacket::new_checked(data) else { return };
    let _ = L2tpRepr::parse(&p);
    let _ = p.payload();
    for secret in [None, Some(&b"fuzzsecret"[..])] {
        if let Ok(m) = ControlMessage::parse(&p, secret) {
            // Whatever parses must encode, and re-parse to the same value.
            if let Ok(bytes) = m.to_bytes(secret) {
                let p2 = L2tpPacket::new_checked(&bytes[..]).expect("own encoding has a valid header");
                assert_eq!(ControlMessage::parse(&p2, secret).expect("own encoding parses"), m);
            }
        }
    }
});
