//! UDP: the first byte picks IPv4 or IPv6, then come the pseudo-header addresses, then the
//! datagram. Repr round trip; the re-emitted checksum always verifies.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use wire::{UdpPacket, UdpRepr};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (src, dst, dgram): (IpAddr, IpAddr, &[u8]) = if sel & 1 == 0 {
        let Some((a, rest)) = rest.split_first_chunk::<8>() else {
            return;
        };
        let s = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
        let d = Ipv4Addr::new(a[4], a[5], a[6], a[7]);
        (s.into(), d.into(), rest)
    } else {
        let Some((a, rest)) = rest.split_first_chunk::<32>() else {
            return;
        };
        let s: [u8; 16] = a[..16].try_into().unwrap();
        let d: [u8; 16] = a[16..].try_into().unwrap();
        (Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into(), rest)
    };
    let Ok(p) = UdpPacket::new_checked(dgram) else {
        return;
    };
    let _ = (p.src_port(), p.dst_port(), p.checksum());
    let Ok(r) = UdpRepr::parse(&p, &src, &dst) else {
        return;
    };
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        &src,
        &dst,
        p.payload(),
    );
    let q = UdpPacket::new_checked(&out[..]).expect("emitted datagram is well formed");
    assert!(q.verify_checksum(&src, &dst));
    assert_ne!(q.checksum(), 0);
    assert_eq!(UdpRepr::parse(&q, &src, &dst), Ok(r));
    assert_eq!(
        out[..6],
        dgram[..6],
        "ports and length re-emit byte for byte"
    );
    assert_eq!(q.payload(), p.payload());
});
