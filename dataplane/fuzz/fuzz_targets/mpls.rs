//! MPLS: top-entry view vs labelswitch's decoder, stack scan vs labelswitch's stack parser,
//! stack re-emits byte for byte.
#![no_main]

use dataplane::wire::MplsPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = MplsPacket::new_checked(data) else {
        return;
    };
    let e = p.entry();
    assert_eq!(
        (e.label, e.tc, e.bos, e.ttl),
        (p.label(), p.tc(), p.bos(), p.ttl())
    );
    let mut top = [0u8; 4];
    MplsPacket::new_unchecked(&mut top[..]).set_entry(&e);
    assert_eq!(top[..], data[..4]);

    match (p.stack_len(), p.stack()) {
        (Ok(n), Ok(s)) => {
            assert_eq!(n, s.header_len());
            let mut out = vec![0u8; n];
            assert_eq!(s.emit(&mut out), Ok(n));
            assert_eq!(out[..], data[..n], "stack re-emits byte for byte");
            assert_eq!(p.inner_payload().unwrap(), &data[n..]);
        }
        (a, b) => assert_eq!(a.err(), b.err(), "scan and labelswitch agree on errors"),
    }

    let mut copy = data.to_vec();
    let mut m = MplsPacket::new_checked(&mut copy[..]).unwrap();
    let ttl = m.ttl();
    match m.decrement_ttl() {
        Ok(t) => assert_eq!(t, ttl - 1),
        Err(_) => assert!(ttl <= 1),
    }
});
