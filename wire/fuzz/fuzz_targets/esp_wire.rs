//! ESP header, trailer and the UDP 4500 classifier on arbitrary bytes, each checked against
//! a reference written from RFC 4303 §2 and RFC 3948 §2: `EspPacket::new_checked` takes
//! exactly the buffers of 8 or more bytes with an SPI of 256 or more and re-emits its header
//! byte for byte; `Trailer::parse` takes exactly the plaintexts that end in pad length, next
//! header and that many padding bytes reading 1, 2, 3, …, and then payload + padding + 2 is
//! the input length and the trailer re-emits byte for byte; `classify_udp_4500` sorts a
//! payload as the RFC does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::esp::{self, classify_udp_4500, EspPacket, Trailer, Udp4500};

fuzz_target!(|data: &[u8]| {
    // The header.
    let spi = data
        .get(..4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()));
    let valid = data.len() >= esp::HEADER_LEN && spi.is_some_and(|s| s >= 256);
    match EspPacket::new_checked(data) {
        Ok(p) => {
            assert!(valid, "accepted {} bytes, SPI {spi:?}", data.len());
            assert_eq!(Some(p.spi()), spi);
            assert_eq!(p.payload(), &data[esp::HEADER_LEN..]);
            let mut out = [0u8; esp::HEADER_LEN];
            esp::emit_header(&mut out, p.spi(), p.seq());
            assert_eq!(out[..], data[..esp::HEADER_LEN], "header re-emits");
        }
        Err(_) => assert!(!valid, "refused {} bytes, SPI {spi:?}", data.len()),
    }

    // The trailer, as if `data` were a decrypted plaintext.
    let n = data.len();
    let reference = (n >= 2)
        .then(|| usize::from(data[n - 2]))
        .filter(|&pad| pad + 2 <= n)
        .filter(|&pad| (0..pad).all(|i| usize::from(data[n - 2 - pad + i]) == i + 1))
        .map(|pad| n - 2 - pad);
    match Trailer::parse(data) {
        Ok((t, len)) => {
            assert_eq!(Some(len), reference);
            assert_eq!(len + usize::from(t.pad_len) + 2, n, "lengths add up");
            assert_eq!((t.pad_len, t.next_header), (data[n - 2], data[n - 1]));
            let mut out = vec![0u8; n - len];
            Trailer::emit(&mut out, t.next_header);
            assert_eq!(out[..], data[len..], "trailer re-emits");
        }
        Err(_) => assert_eq!(reference, None, "a good trailer refused"),
    }
    // The sender's padding always ends on a 4-byte boundary and parses back.
    let pad = Trailer::pad_for(n);
    assert!(pad < 4 && (n + pad + 2).is_multiple_of(4));
    let mut sealed = data.to_vec();
    sealed.resize(n + pad + 2, 0);
    Trailer::emit(&mut sealed[n..], 59);
    let (t, len) = Trailer::parse(&sealed).expect("an emitted trailer parses");
    assert_eq!((len, usize::from(t.pad_len), t.next_header), (n, pad, 59));

    // UDP 4500.
    let want = if data == [0xff] {
        Udp4500::NatKeepalive
    } else if data.len() >= 4 && data[..4] == [0; 4] {
        Udp4500::Ike
    } else if data.len() >= esp::HEADER_LEN {
        Udp4500::Esp
    } else {
        Udp4500::Malformed
    };
    assert_eq!(classify_udp_4500(data), want);
});
