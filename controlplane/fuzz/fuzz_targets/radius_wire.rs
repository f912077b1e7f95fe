//! Fuzzes the RADIUS decoders: packet view, attribute walk, typed attributes and VSAs,
//! verification helpers, re-encoding of whatever parsed, and the RFC 2868 tunnel layer:
//! Tunnel-Password decryption of every raw attribute 69, grouping into tunnels and the
//! L2TP choice, and the encrypt → decrypt round trip of every password that decrypted.
#![no_main]

use controlplane::radius::wire::{
    attr, choose_l2tp, crypto, tunnels, Attribute, Packet, Repr, TunnelPassword,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else { return };
    let ra = p.authenticator();
    for a in p.attributes() {
        let Ok(a) = a else { break };
        if a.kind == attr::TUNNEL_PASSWORD && a.value.len() >= 3 {
            let salt = u16::from_be_bytes([a.value[1], a.value[2]]);
            let _ = crypto::decrypt_tunnel_password(b"fuzz", &ra, salt, &a.value[3..]);
        }
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
        if let Ok(ts) = tunnels(&r.attributes, b"fuzz", &ra) {
            let _ = choose_l2tp(&ts);
            for t in &ts {
                if let Some(pw) = &t.password {
                    let e = TunnelPassword::encrypt(t.tag, 0x8000, b"k", &ra, pw)
                        .expect("a decrypted password re-encrypts");
                    assert_eq!(&e.decrypt(b"k", &ra).expect("own encryption decrypts"), pw);
                    let mut v = Vec::new();
                    Attribute::TunnelPassword(e).encode(&mut v);
                    assert!(v.len() <= 253);
                }
            }
        }
    }
});
