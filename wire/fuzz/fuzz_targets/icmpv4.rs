//! ICMPv4: Repr round trip; everything but the checksum field re-emits byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::icmpv4::quoted_ipv4_header;
use wire::{Icmpv4Packet, Icmpv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.msg_type(),
        p.msg_code(),
        p.echo_ident(),
        p.echo_seq_no(),
        p.next_hop_mtu(),
    );
    let _ = quoted_ipv4_header(p.data());
    let Ok(r) = Icmpv4Repr::parse(&p) else {
        assert!(!p.verify_checksum());
        return;
    };
    assert_eq!(r.buffer_len(), data.len());
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
    // A verifying checksum may be 0x0000 or 0xffff; emit picks one, so skip bytes 2..4.
    assert_eq!(out[..2], data[..2]);
    assert_eq!(out[4..], data[4..]);
    let q = Icmpv4Packet::new_checked(&out[..]).unwrap();
    assert!(q.verify_checksum());
    assert_eq!(Icmpv4Repr::parse(&q), Ok(r));
});
