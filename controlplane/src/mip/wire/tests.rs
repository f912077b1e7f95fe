//! Wire tests. The reference bytes were produced by an independent Python 3 implementation
//! (stdlib `struct`, `hmac`, `hashlib`; the script is in `docs/protocols/mobile-ip.md`
//! §Test vectors): a Registration Request with NAI, MN-HA (HMAC-MD5, key `k`×16, SPI 256),
//! MN-FA Challenge (0xa0..0xaf) and MN-AAA (RFC 3012 §8, key `mn-aaa key`, SPI 257); the
//! matching Reply with MN-HA; an Agent Advertisement with a challenge.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::advert::{check_solicitation, solicitation, Advertisement};
use super::binding::{BindingAck, BindingRequest, BindingUpdate};
use super::ext::{kind, Extension};
use super::registration::{Reply, Request};
use super::Error;
use crate::mip::auth;
use crate::mip::mn::MnRegistration;
use crate::mip::Sa;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const RRQ: &str = "01020708c0000232c0000201cb007107e7a1b2c300000001830d6d6e40746573742e6c6f63616c2014000001002620c9423a3c079c4f781672f049c0528410a0a1a2a3a4a5a6a7a8a9aaabacadaeaf2401001400000101e652f2f1f99c29cebf6444def9be725a";
const RRP: &str =
    "03000708c0000232c0000201e7a1b2c3000000012014000001005bc1f99c4924c2602988017594fd4326";
const ADV: &str = "0910206e010200b4cb00710700000000100a000707089000cb0071071804deadbeef";

fn challenge() -> Vec<u8> {
    (0xa0..0xb0).collect()
}

#[test]
fn reference_request_parses_and_authenticates() {
    let b = hex(RRQ);
    let r = Request::parse(&b).unwrap();
    assert_eq!(r.flags, 0x02);
    assert_eq!(r.lifetime, 1800);
    assert_eq!(r.home_address, Ipv4Addr::new(192, 0, 2, 50));
    assert_eq!(r.home_agent, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(r.care_of_address, Ipv4Addr::new(203, 0, 113, 7));
    assert_eq!(r.identification, 0xe7a1_b2c3_0000_0001);
    assert_eq!(r.nai(), Some("mn@test.local"));
    let kinds: Vec<u8> = r.extensions.iter().map(|l| l.ext.kind()).collect();
    assert_eq!(
        kinds,
        [
            kind::NAI,
            kind::MN_HA_AUTH,
            kind::MN_FA_CHALLENGE,
            kind::GEN_AUTH
        ]
    );
    assert_eq!(
        auth::verify_hmac(&b, &r.extensions, kind::MN_HA_AUTH, &[b'k'; 16]),
        Ok(256)
    );
    assert_eq!(auth::verify_mn_aaa(b"mn-aaa key", &b, None), Ok(257));
    let d = auth::mn_aaa_diameter(&b).unwrap();
    assert_eq!(
        (
            d.spi,
            d.input_len,
            d.authenticator_offset,
            d.authenticator_len
        ),
        (257, 87, 87, 16)
    );
    assert_eq!(auth::verify_mn_aaa(b"mn-aaa key", &b, Some(&d)), Ok(257));
    assert_eq!(r.emit().unwrap(), b, "re-encoding is byte-exact");
}

#[test]
fn mobile_node_builds_the_reference_bytes() {
    let mn_ha = Sa {
        spi: 256,
        key: vec![b'k'; 16],
    };
    let mn_aaa = Sa {
        spi: 257,
        key: b"mn-aaa key".to_vec(),
    };
    let c = challenge();
    let b = MnRegistration {
        flags: 0x02,
        lifetime: 1800,
        home_address: Ipv4Addr::new(192, 0, 2, 50),
        home_agent: Ipv4Addr::new(192, 0, 2, 1),
        care_of_address: Ipv4Addr::new(203, 0, 113, 7),
        identification: 0xe7a1_b2c3_0000_0001,
        nai: "mn@test.local",
        challenge: &c,
        previous_fa: None,
        service_update: false,
        mn_ha: Some(&mn_ha),
        mn_aaa: &mn_aaa,
    }
    .build()
    .unwrap();
    assert_eq!(b, hex(RRQ));
}

#[test]
fn mn_aaa_covers_every_byte_before_the_authenticator_and_nothing_after() {
    let b = hex(RRQ);
    for i in 0..87 {
        let mut m = b.clone();
        m[i] ^= 1;
        assert!(
            auth::verify_mn_aaa(b"mn-aaa key", &m, None).is_err(),
            "byte {i}"
        );
    }
    // An FA-HA extension appended by the FA is not covered.
    let mut m = b.clone();
    m.extend_from_slice(&[34, 20, 0, 0, 1, 0]);
    m.extend_from_slice(&[0u8; 16]);
    assert_eq!(auth::verify_mn_aaa(b"mn-aaa key", &m, None), Ok(257));
    // Without the challenge extension there is nothing to compute with.
    let r = Request::parse(&b).unwrap();
    let exts: Vec<Extension> = r
        .extensions
        .iter()
        .filter(|l| l.ext.kind() != kind::MN_FA_CHALLENGE)
        .map(|l| l.ext.clone())
        .collect();
    let (m, _) = r.emit_extensions(&exts).unwrap();
    assert_eq!(
        auth::verify_mn_aaa(b"mn-aaa key", &m, None),
        Err(auth::AuthError::NoChallenge)
    );
}

#[test]
fn short_challenges_count_their_first_byte_twice() {
    // RFC 3012 §8 with a 4-byte challenge: MD5(c[0] || key || MD5(covered) || c[0..4]).
    use md5::{Digest, Md5};
    let c = [9u8, 8, 7, 6];
    let mut h = Md5::new();
    h.update([9u8]);
    h.update(b"key");
    h.update(Md5::digest(b"covered"));
    h.update(c);
    let want: [u8; 16] = h.finalize().into();
    assert_eq!(auth::mn_aaa_authenticator(b"key", b"covered", &c), want);
}

#[test]
fn long_challenges_contribute_their_last_237_bytes() {
    let key = b"key";
    let covered = b"covered";
    let c: Vec<u8> = (0..250u8).collect();
    let mut other = c.clone();
    other[5] ^= 0xff; // inside the bytes the construction drops (1..13)
    assert_eq!(
        auth::mn_aaa_authenticator(key, covered, &c),
        auth::mn_aaa_authenticator(key, covered, &other)
    );
    other[200] ^= 0xff;
    assert_ne!(
        auth::mn_aaa_authenticator(key, covered, &c),
        auth::mn_aaa_authenticator(key, covered, &other)
    );
}

#[test]
fn reference_reply_parses_and_authenticates() {
    let b = hex(RRP);
    let r = Reply::parse(&b).unwrap();
    assert_eq!((r.code, r.lifetime), (0, 1800));
    assert_eq!(r.identification, 0xe7a1_b2c3_0000_0001);
    assert_eq!(
        auth::verify_hmac(&b, &r.extensions, kind::MN_HA_AUTH, &[b'k'; 16]),
        Ok(256)
    );
    assert_eq!(
        auth::verify_hmac(&b, &r.extensions, kind::MN_HA_AUTH, &[b'x'; 16]),
        Err(auth::AuthError::Mismatch)
    );
    assert_eq!(r.emit().unwrap(), b);
}

#[test]
fn reference_advertisement() {
    let b = hex(ADV);
    let a = Advertisement::parse(&b).unwrap();
    assert_eq!(a.code, 16);
    assert_eq!(a.routers, vec![(Ipv4Addr::new(203, 0, 113, 7), 0)]);
    assert_eq!(
        (a.sequence, a.registration_lifetime, a.flags),
        (7, 1800, 0x90)
    );
    assert_eq!(a.care_of, vec![Ipv4Addr::new(203, 0, 113, 7)]);
    assert_eq!(a.challenge.as_deref(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    assert_eq!(a.emit().unwrap(), b);
    let mut bad = b.clone();
    bad[10] ^= 1;
    assert!(matches!(
        Advertisement::parse(&bad),
        Err(Error::BadChecksum { .. })
    ));
}

/// An ICMP Router Solicitation as RFC 1256 §3.1 lays it out: type 10, code 0, the checksum
/// of 0x0a00 (its one's complement, 0xf5ff) and four reserved zero bytes.
const SOL: &str = "0a00f5ff00000000";

#[test]
fn reference_solicitation() {
    let b = hex(SOL);
    assert_eq!(solicitation(), b);
    check_solicitation(&b).unwrap();
    // Bytes after the eighth are ignored (RFC 1256 §5.1), but the checksum covers them.
    let mut longer = b.clone();
    longer.extend([1, 2, 3, 4]);
    assert!(matches!(
        check_solicitation(&longer),
        Err(Error::BadChecksum { .. })
    ));
    longer[2..4].copy_from_slice(&[0, 0]);
    let c = super::advert::checksum(&longer);
    longer[2..4].copy_from_slice(&c.to_be_bytes());
    check_solicitation(&longer).unwrap();
    let mut bad = b.clone();
    bad[7] = 1;
    assert!(matches!(
        check_solicitation(&bad),
        Err(Error::BadChecksum { got: 0xf5ff, .. })
    ));
    let mut code = b.clone();
    code[1] = 1;
    code[3] = 0xfe; // checksum fixed up: only the code is wrong
    assert!(matches!(check_solicitation(&code), Err(Error::Invalid(_))));
    assert!(matches!(
        check_solicitation(&hex(ADV)),
        Err(Error::WrongType { got: 9, .. })
    ));
    for n in 0..8 {
        assert!(matches!(
            check_solicitation(&b[..n]),
            Err(Error::Truncated { .. })
        ));
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for msg in [hex(RRQ), hex(RRP), hex(ADV)] {
        for n in 0..msg.len() {
            let p = &msg[..n];
            // A cut at an extension boundary is a shorter valid message; anything else errs.
            let _ = Request::parse(p);
            let _ = Reply::parse(p);
            let _ = Advertisement::parse(p);
        }
    }
    let b = hex(RRQ);
    assert!(matches!(
        Request::parse(&b[..23]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        Request::parse(&b[..30]),
        Err(Error::ExtensionOverrun { kind: 131, .. })
    ));
    assert!(matches!(
        Reply::parse(&b),
        Err(Error::WrongType { got: 1, .. })
    ));
}

#[test]
fn unknown_extensions_are_kept() {
    let r = Request {
        flags: 0,
        lifetime: 10,
        home_address: Ipv4Addr::new(10, 0, 0, 1),
        home_agent: Ipv4Addr::new(10, 0, 0, 2),
        care_of_address: Ipv4Addr::new(10, 0, 0, 3),
        identification: 1,
        extensions: Vec::new(),
    };
    let (b, _) = r
        .emit_extensions(&[
            Extension::Unknown {
                kind: 200,
                data: vec![1, 2],
            },
            Extension::Unknown {
                kind: 99,
                data: vec![],
            },
            Extension::Pad,
        ])
        .unwrap();
    let p = Request::parse(&b).unwrap();
    assert_eq!(p.extensions.len(), 3);
    assert_eq!(crate::mip::unknown_critical(&p.extensions), Some(99));
}

#[test]
fn binding_messages_round_trip() {
    let bu = BindingUpdate {
        flags: 0xc0,
        lifetime: 30,
        home_address: Ipv4Addr::new(10, 0, 0, 1),
        care_of_address: Ipv4Addr::new(10, 0, 0, 3),
        identification: 99,
        extensions: Vec::new(),
    };
    let (b, _) = bu
        .emit_extensions(&[Extension::prev_fa(Ipv4Addr::new(10, 9, 9, 9), 5)])
        .unwrap();
    let p = BindingUpdate::parse(&b).unwrap();
    assert_eq!((p.flags, p.lifetime, p.identification), (0xc0, 30, 99));
    assert_eq!(
        p.extensions[0].ext.as_prev_fa(),
        Some(Ok((Ipv4Addr::new(10, 9, 9, 9), 5)))
    );
    let ba = BindingAck {
        status: 130,
        home_address: Ipv4Addr::new(10, 0, 0, 1),
        lifetime: 30,
        refresh: 15,
        identification: 99,
        extensions: Vec::new(),
    };
    assert_eq!(BindingAck::parse(&ba.emit().unwrap()).unwrap(), ba);
    let br = BindingRequest {
        home_address: Ipv4Addr::new(10, 0, 0, 1),
        identification: 5,
        extensions: Vec::new(),
    };
    assert_eq!(BindingRequest::parse(&br.emit().unwrap()).unwrap(), br);
}

fn ext_strategy() -> impl Strategy<Value = Extension> {
    prop_oneof![
        Just(Extension::Pad),
        (
            prop::sample::select(vec![32u8, 33, 34, 35]),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(kind, spi, authenticator)| Extension::Auth {
                kind,
                spi,
                authenticator
            }),
        (
            any::<u8>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(subtype, spi, authenticator)| Extension::GenAuth {
                subtype,
                spi,
                authenticator
            }),
        prop::collection::vec(any::<u8>(), 1..255).prop_map(Extension::Nai),
        prop::collection::vec(any::<u8>(), 1..255).prop_map(Extension::Challenge),
        (
            any::<bool>(),
            any::<u32>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(critical, vendor, vtype, data)| Extension::Vendor {
                critical,
                vendor,
                vtype,
                data
            }),
        (
            prop::sample::select(vec![1u8, 50, 99, 128, 200, 255]),
            prop::collection::vec(any::<u8>(), 0..255)
        )
            .prop_map(|(kind, data)| Extension::Unknown { kind, data }),
    ]
}

proptest! {
    #[test]
    fn request_round_trips(
        flags in any::<u8>(), lifetime in any::<u16>(), id in any::<u64>(),
        a in any::<[u8; 4]>(), exts in prop::collection::vec(ext_strategy(), 0..8),
    ) {
        let r = Request {
            flags: flags & !super::registration::flags::R,
            lifetime,
            home_address: a.into(),
            home_agent: a.into(),
            care_of_address: a.into(),
            identification: id,
            extensions: Vec::new(),
        };
        let (b, offs) = r.emit_extensions(&exts).unwrap();
        let p = Request::parse(&b).unwrap();
        let got: Vec<Extension> = p.extensions.iter().map(|l| l.ext.clone()).collect();
        prop_assert_eq!(&got, &exts);
        let pos: Vec<usize> = p.extensions.iter().map(|l| l.offset).collect();
        prop_assert_eq!(pos, offs);
        prop_assert_eq!(p.emit().unwrap(), b);
    }

    #[test]
    fn decoders_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Request::parse(&b);
        let _ = Reply::parse(&b);
        let _ = BindingUpdate::parse(&b);
        let _ = BindingAck::parse(&b);
        let _ = BindingRequest::parse(&b);
        let _ = Advertisement::parse(&b);
        let _ = auth::verify_mn_aaa(b"k", &b, None);
    }
}
