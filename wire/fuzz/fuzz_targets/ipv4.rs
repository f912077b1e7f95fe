//! IPv4: view getters, Repr round trip (options dropped, payload kept), TTL decrement keeps a
//! valid checksum valid, `check_header` (the forwarding path's one-pass check) gives the
//! view's answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::ipv4::{check_header, HeaderError};
use wire::{Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        assert_eq!(check_header(data), Err(HeaderError::Malformed));
        return;
    };
    match check_header(data) {
        Ok(h) => {
            assert!(p.verify_checksum());
            assert_eq!(h.dst, u32::from(p.dst_addr()));
            assert_eq!(h.total_len, p.total_len());
            assert_eq!(h.protocol, u8::from(p.next_header()));
        }
        Err(e) => {
            assert_eq!(e, HeaderError::BadChecksum);
            assert!(!p.verify_checksum());
        }
    }
    let _ = (
        p.dscp(),
        p.ecn(),
        p.ident(),
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
    );
    let _ = (
        p.ttl(),
        p.next_header(),
        p.src_addr(),
        p.dst_addr(),
        p.options(),
    );
    assert_eq!(
        usize::from(p.header_len()) + p.payload().len(),
        usize::from(p.total_len())
    );

    let valid = p.verify_checksum();
    match Ipv4Repr::parse(&p) {
        Ok(r) => {
            assert!(valid);
            let mut out = vec![0u8; r.buffer_len() + r.payload_len];
            let mut q = Ipv4Packet::new_unchecked(&mut out[..]);
            r.emit(&mut q);
            q.payload_mut().copy_from_slice(p.payload());
            let q = Ipv4Packet::new_checked(&out[..]).expect("emitted packet is well formed");
            assert!(q.verify_checksum());
            assert_eq!(q.payload(), p.payload());
            assert_eq!(Ipv4Repr::parse(&q), Ok(r));
        }
        Err(_) => assert!(!valid),
    }

    let mut copy = data.to_vec();
    let mut m = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
    let ttl = m.ttl();
    match m.decrement_ttl_update_checksum() {
        Ok(t) => {
            assert_eq!(t, ttl - 1);
            assert_eq!(
                m.verify_checksum(),
                valid,
                "incremental update keeps validity"
            );
        }
        Err(_) => {
            assert!(ttl <= 1);
            assert_eq!(&copy[..], data, "expired packet untouched");
        }
    }
});
