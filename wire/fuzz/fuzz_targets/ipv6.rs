//! IPv6 fixed header: Repr round trip byte for byte, hop-limit helper.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{Ipv6Packet, Ipv6Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.traffic_class(),
        p.flow_label(),
        p.next_header(),
        p.hop_limit(),
    );
    assert_eq!(p.payload().len(), usize::from(p.payload_len()));
    let r = Ipv6Repr::parse(&p).expect("checked packet always parses");
    let mut out = [0u8; 40];
    r.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
    assert_eq!(out[..], data[..40], "fixed header re-emits byte for byte");

    let mut copy = data.to_vec();
    let mut m = Ipv6Packet::new_checked(&mut copy[..]).unwrap();
    let h = m.hop_limit();
    match m.decrement_hop_limit() {
        Ok(n) => assert_eq!(n, h - 1),
        Err(_) => assert!(h <= 1),
    }
});
