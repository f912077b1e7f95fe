//! ICMPv6 incl. NS/NA options: the first 32 bytes are the pseudo-header addresses, the rest
//! the message. Repr round trip; the re-emitted checksum verifies.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use wire::{Icmpv6Packet, Icmpv6Repr, NdiscOptions};

fuzz_target!(|data: &[u8]| {
    let Some((a, msg)) = data.split_first_chunk::<32>() else {
        return;
    };
    let s: [u8; 16] = a[..16].try_into().unwrap();
    let d: [u8; 16] = a[16..].try_into().unwrap();
    let (src, dst) = (Ipv6Addr::from(s), Ipv6Addr::from(d));

    // The option walker on its own (no checksum in the way).
    if let Ok(opts) = NdiscOptions::new_checked(msg) {
        let total: usize = opts.iter().map(|o| o.buffer_len()).sum();
        assert_eq!(total, msg.len());
        let mut out = vec![0u8; total];
        let mut at = 0;
        for o in opts.iter() {
            at += o.emit(&mut out[at..]);
        }
        assert_eq!(out, msg, "options re-emit byte for byte");
    }

    let Ok(p) = Icmpv6Packet::new_checked(msg) else {
        return;
    };
    let _ = (
        p.msg_type(),
        p.msg_code(),
        p.rest_of_header(),
        p.target_addr(),
        p.nd_options(),
    );
    let _ = p.neighbor_flags();
    let Ok(r) = Icmpv6Repr::parse(&p, &src, &dst) else {
        return;
    };
    assert_eq!(r.buffer_len(), msg.len());
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut out[..]));
    let q = Icmpv6Packet::new_checked(&out[..]).unwrap();
    assert!(q.verify_checksum(&src, &dst));
    assert_eq!(Icmpv6Repr::parse(&q, &src, &dst), Ok(r));
    assert_eq!(out[..2], msg[..2]);
    assert_eq!(out[8..], msg[8..]);
});
