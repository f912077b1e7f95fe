//! Tests of the Diameter codec: a hand-written CER, malformed input, round trips.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::codes::{app, cmd, code, result};
use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A CER written by hand from RFC 6733 §3 and §4 (not by `emit`): Origin-Host
/// "aaa.example.net" (23 bytes + 1 padding), Origin-Realm "example.net", Host-IP-Address
/// 192.0.2.1 (family 1; 14 bytes + 2 padding), Vendor-Id 0, Product-Name "varouter" without
/// the M bit, Auth-Application-Id 2.
const CER: &str = "
    01 000078 80 000101 00000000 11223344 55667788
    00000108 40 000017 6161612e6578616d706c652e6e6574 00
    00000128 40 000013 6578616d706c652e6e6574 00
    00000101 40 00000e 0001 c0000201 0000
    0000010a 40 00000c 00000000
    0000010d 00 000010 7661726f75746572
    00000102 40 00000c 00000002";

fn cer() -> Message {
    Message::request(
        cmd::CAPABILITIES_EXCHANGE,
        app::COMMON,
        0x1122_3344,
        0x5566_7788,
    )
    .not_proxiable()
    .with(Avp::text(code::ORIGIN_HOST, "aaa.example.net"))
    .with(Avp::text(code::ORIGIN_REALM, "example.net"))
    .with(Avp::address(
        code::HOST_IP_ADDRESS,
        &Address::V4(Ipv4Addr::new(192, 0, 2, 1)),
    ))
    .with(Avp::u32(code::VENDOR_ID, 0))
    .with(Avp::text(code::PRODUCT_NAME, "varouter").optional())
    .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
}

#[test]
fn hand_written_cer() {
    let bytes = unhex(CER);
    let v = MessageView::new_checked(&bytes).unwrap();
    assert_eq!(v.len(), 120);
    let h = v.header();
    assert!(h.request && !h.proxiable && !h.error && !h.retransmit);
    assert_eq!(h.command, cmd::CAPABILITIES_EXCHANGE);
    assert_eq!(v.avps().count(), 6);
    assert_eq!(v.find(code::ORIGIN_REALM).unwrap().data, b"example.net");
    assert_eq!(v.find(code::HOST_IP_ADDRESS).unwrap().at, 64);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m, cer());
    assert_eq!(cer().emit().unwrap(), bytes);
    assert_eq!(
        m.find(code::ORIGIN_HOST).unwrap().as_identity().unwrap(),
        "aaa.example.net"
    );
    assert_eq!(
        m.find(code::HOST_IP_ADDRESS).unwrap().as_address().unwrap(),
        Address::V4(Ipv4Addr::new(192, 0, 2, 1))
    );
    assert_eq!(m.find(code::AUTH_APPLICATION_ID).unwrap().as_u32(), Ok(2));
    assert!(!m.find(code::PRODUCT_NAME).unwrap().mandatory);
    assert_eq!(m.find_all(code::VENDOR_ID).count(), 1);
    assert_eq!(frame_len(&bytes[..4]), Ok(Some(120)));
    assert_eq!(frame_len(&bytes[..3]), Ok(None));
    // Trailing bytes (the next message on a stream) are not part of this one.
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes);
    assert_eq!(MessageView::new_checked(&two).unwrap().len(), 120);
}

#[test]
fn answer_copies_identifiers() {
    let req = cer();
    let a = Message::answer_to(&req.header).with(Avp::u32(code::RESULT_CODE, result::SUCCESS));
    assert!(!a.header.request);
    assert_eq!(
        (a.header.hop_by_hop, a.header.end_to_end, a.header.command),
        (0x1122_3344, 0x5566_7788, 257)
    );
    let back = Message::parse(&a.emit().unwrap()).unwrap();
    assert_eq!(back.find(code::RESULT_CODE).unwrap().as_u32(), Ok(2001));
}

fn set_u24(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 3].copy_from_slice(&(v as u32).to_be_bytes()[1..]);
}

#[test]
fn malformed_header() {
    let good = unhex(CER);
    assert_eq!(
        MessageView::new_checked(&good[..19]).unwrap_err(),
        Error::Truncated { len: 19 }
    );
    let e = MessageView::new_checked(&good[..100]).unwrap_err();
    assert_eq!(
        e,
        Error::Incomplete {
            length: 120,
            have: 100
        }
    );
    assert_eq!(e.result_code(), None);

    let mut b = good.clone();
    b[0] = 2;
    let e = MessageView::new_checked(&b).unwrap_err();
    assert_eq!(e.result_code(), Some(result::UNSUPPORTED_VERSION));

    for length in [16, 118, 121] {
        let mut b = good.clone();
        set_u24(&mut b, 1, length);
        b.resize(b.len().max(length), 0);
        let e = MessageView::new_checked(&b).unwrap_err();
        assert_eq!(e, Error::InvalidMessageLength { length });
        assert_eq!(e.result_code(), Some(result::INVALID_MESSAGE_LENGTH));
    }

    // Reserved flag bit, and E on a request.
    for flags in [0x81, 0xa0] {
        let mut b = good.clone();
        b[4] = flags;
        let e = MessageView::new_checked(&b).unwrap_err();
        assert_eq!(e, Error::InvalidHdrBits { flags });
        assert_eq!(e.result_code(), Some(result::INVALID_HDR_BITS));
    }
    // E on an answer is fine.
    let mut b = good.clone();
    b[4] = 0x20;
    assert!(MessageView::new_checked(&b).unwrap().header().error);
}

#[test]
fn malformed_avps() {
    let good = unhex(CER);
    // AVP Length below 8 (Origin-Host at offset 20).
    let mut b = good.clone();
    set_u24(&mut b, 25, 7);
    let e = MessageView::new_checked(&b).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidAvpLength {
            at: 20,
            code: 264,
            length: 7,
            ..
        }
    ));
    assert_eq!(e.result_code(), Some(result::INVALID_AVP_LENGTH));
    assert_eq!(e.avp_offset(), Some(20));

    // The last AVP (Auth-Application-Id at 108) runs past the message.
    let mut b = good.clone();
    set_u24(&mut b, 113, 16);
    assert!(matches!(
        MessageView::new_checked(&b).unwrap_err(),
        Error::InvalidAvpLength {
            at: 108,
            code: 258,
            length: 16,
            ..
        }
    ));

    // Length 13 leaves the data inside the message but not the padding to 16.
    let mut b = good.clone();
    set_u24(&mut b, 113, 13);
    assert!(matches!(
        MessageView::new_checked(&b).unwrap_err(),
        Error::InvalidAvpLength { length: 13, .. }
    ));

    // V bit set on Vendor-Id (length 12 at offset 80): the header then needs 12, and the
    // value does not fit; with length 8 there is no room for the Vendor-Id at all.
    let mut b = good.clone();
    b[84] = 0xc0;
    set_u24(&mut b, 85, 8);
    assert!(matches!(
        MessageView::new_checked(&b).unwrap_err(),
        Error::InvalidAvpLength {
            at: 80,
            length: 8,
            ..
        }
    ));

    // Reserved AVP flag bits.
    let mut b = good.clone();
    b[84] = 0x41;
    let e = MessageView::new_checked(&b).unwrap_err();
    assert_eq!(
        e,
        Error::InvalidAvpBits {
            at: 80,
            code: 266,
            flags: 0x41
        }
    );
    assert_eq!(e.result_code(), Some(result::INVALID_AVP_BITS));

    // Fewer than 8 bytes left for an AVP header: a message with 4 bytes of AVP area.
    let mut b = unhex("01 000018 80 000118 00000000 00000001 00000002 00000108");
    let e = MessageView::new_checked(&b).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidAvpLength {
            at: 20,
            code: 264,
            length: 4,
            ..
        }
    ));
    b.truncate(20);
    set_u24(&mut b, 1, 20);
    assert_eq!(MessageView::new_checked(&b).unwrap().avps().count(), 0);
}

#[test]
fn padding() {
    // Length excludes padding; emit pads with zeros; parse accepts non-zero padding.
    let m = Message::request(1, 0, 0, 0).with(Avp::new(7, b"abcde".to_vec()));
    let b = m.emit().unwrap();
    assert_eq!(b.len(), 20 + 16);
    assert_eq!(&b[25..28], &[0, 0, 13]);
    assert_eq!(&b[33..36], &[0, 0, 0]);
    let mut dirty = b.clone();
    dirty[35] = 0xff;
    assert_eq!(Message::parse(&dirty).unwrap(), m);
    // With a Vendor-Id the header is 12 bytes.
    let v = Avp::new(7, vec![1]).with_vendor(10415);
    assert_eq!(v.wire_len(), 16);
    let m = Message::request(1, 0, 0, 0).with(v.clone());
    let b = m.emit().unwrap();
    assert_eq!(&b[24..32], &[0xc0, 0, 0, 13, 0, 0, 0x28, 0xaf]);
    assert_eq!(
        Message::parse(&b).unwrap().find_vendor(7, Some(10415)),
        Some(&v)
    );
    assert_eq!(Message::parse(&b).unwrap().find(7), None);
}

/// Failed-AVPs nested `n` deep around a Result-Code.
fn nested(n: usize) -> Avp {
    let mut a = Avp::u32(code::RESULT_CODE, 1);
    for _ in 0..n {
        a = Avp::grouped(code::FAILED_AVP, &[a]).unwrap();
    }
    a
}

#[test]
fn grouped_nesting_limit() {
    let ok = Message::request(1, 0, 0, 0).with(nested(MAX_GROUP_DEPTH));
    let b = ok.emit().unwrap();
    let m = Message::parse(&b).unwrap();
    let mut a = m.avps[0].clone();
    for _ in 0..MAX_GROUP_DEPTH {
        let c = a.as_grouped().unwrap();
        assert_eq!(c.len(), 1);
        a = c[0].clone();
    }
    assert_eq!(a.as_u32(), Ok(1));

    let deep = Message::request(1, 0, 0, 0).with(nested(MAX_GROUP_DEPTH + 1));
    let e = Message::parse(&deep.emit().unwrap()).unwrap_err();
    assert_eq!(
        e,
        Error::NestingTooDeep {
            at: 20 + 8 * MAX_GROUP_DEPTH,
            code: code::FAILED_AVP,
            max: MAX_GROUP_DEPTH
        }
    );
    assert_eq!(e.result_code(), Some(result::INVALID_AVP_VALUE));
    assert!(matches!(
        nested(MAX_GROUP_DEPTH + 1).as_grouped(),
        Err(Error::NestingTooDeep { .. })
    ));

    // A bad length inside a grouped AVP is found by the view.
    let mut b = Message::request(1, 0, 0, 0).with(nested(2)).emit().unwrap();
    set_u24(&mut b, 20 + 16 + 5, 13);
    assert!(matches!(
        MessageView::new_checked(&b).unwrap_err(),
        Error::InvalidAvpLength {
            at: 36,
            code: 268,
            length: 13,
            ..
        }
    ));
}

#[test]
fn unknown_mandatory() {
    let m = cer()
        .with(Avp::new(9999, vec![1]).optional())
        .with(Avp::new(9998, vec![1]));
    let known = |c: u32, v: Option<u32>| v.is_none() && c < 1000;
    let b = m.emit().unwrap();
    let e = MessageView::new_checked(&b)
        .unwrap()
        .check_mandatory(known)
        .unwrap_err();
    assert_eq!(
        e,
        Error::AvpUnsupported {
            at: 132,
            code: 9998,
            vendor: 0
        }
    );
    assert_eq!(e.result_code(), Some(result::AVP_UNSUPPORTED));
    assert!(matches!(
        m.check_mandatory(known),
        Err(Error::AvpUnsupported { at: 132, .. })
    ));
    assert_eq!(cer().check_mandatory(known), Ok(()));
}

#[test]
fn data_types() {
    let a = Avp::u32(1, 5);
    assert_eq!(
        a.as_u64(),
        Err(Error::InvalidDataLength {
            code: 1,
            len: 4,
            expected: "8 (Unsigned64)"
        })
    );
    assert_eq!(
        a.as_u64().unwrap_err().result_code(),
        Some(result::INVALID_AVP_LENGTH)
    );
    assert_eq!(Avp::i32(1, -3).as_i32(), Ok(-3));
    assert_eq!(Avp::i64(1, -3).as_i64(), Ok(-3));
    assert_eq!(Avp::u64(1, u64::MAX).as_u64(), Ok(u64::MAX));
    assert_eq!(Avp::f32(1, 1.5).as_f32(), Ok(1.5));
    assert_eq!(Avp::f64(1, -2.25).as_f64(), Ok(-2.25));
    assert_eq!(Avp::f32(1, 1.5).data, [0x3f, 0xc0, 0, 0]);
    assert!(matches!(
        Avp::new(1, vec![0xff]).as_utf8(),
        Err(Error::InvalidAvpValue { .. })
    ));
    assert!(Avp::text(1, "").as_identity().is_err());
    assert!(Avp::text(1, "a b").as_identity().is_err());
    // Address: IPv6, bad sizes, other families kept.
    let v6 = Address::V6("2001:db8::1".parse().unwrap());
    assert_eq!(Avp::address(1, &v6).data.len(), 18);
    assert_eq!(Avp::address(1, &v6).as_address(), Ok(v6));
    assert!(matches!(
        Avp::new(1, vec![0, 1, 1, 2, 3]).as_address(),
        Err(Error::InvalidDataLength { len: 5, .. })
    ));
    assert!(Avp::new(1, vec![0]).as_address().is_err());
    assert_eq!(
        Avp::new(1, vec![0, 6, 1]).as_address(),
        Ok(Address::Other {
            family: 6,
            bytes: vec![1]
        })
    );
    // Time: NTP epoch, and the 2036 wrap.
    let t = Time::from_unix(1_700_000_000);
    assert_eq!(t.0, 3_908_988_800);
    assert_eq!(Avp::time(55, t).as_time().unwrap().to_unix(), 1_700_000_000);
    assert_eq!(Time::from_unix(2_200_000_000).to_unix(), 2_200_000_000);
    // DiameterURI.
    let u =
        DiameterUri::parse("aaa://host.example.com:3868;transport=tcp;protocol=diameter").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("host.example.com", Some(3868)));
    assert_eq!(Avp::uri(1, &u).as_uri(), Ok(u));
    assert_eq!(
        DiameterUri::parse("aaas://h").unwrap().to_string(),
        "aaas://h"
    );
    for bad in [
        "http://h",
        "aaa://",
        "aaa://h:99999",
        "aaa://h;transport=x",
        "aaa://h;foo",
    ] {
        assert_eq!(DiameterUri::parse(bad), None, "{bad}");
    }
}

#[test]
fn emit_refuses_what_would_not_parse() {
    let mut m = cer();
    m.header.error = true;
    assert!(matches!(m.emit(), Err(Error::InvalidHdrBits { .. })));
    let mut m = cer();
    m.header.command = 1 << 24;
    assert_eq!(m.emit(), Err(Error::CommandTooLarge { command: 1 << 24 }));
    let big = Avp::new(1, vec![0; MAX_LEN]);
    assert!(matches!(
        big.emit(&mut Vec::new()),
        Err(Error::AvpTooLong { .. })
    ));
}

fn any_leaf() -> impl Strategy<Value = Avp> {
    (
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(code, vendor, mandatory, protected, data)| Avp {
            // Codes the dictionary calls grouped would need grouped data.
            code: if avp::is_grouped(code, vendor) {
                1
            } else {
                code
            },
            vendor,
            mandatory,
            protected,
            data,
        })
}

fn any_avp() -> impl Strategy<Value = Avp> {
    any_leaf().prop_recursive(3, 24, 4, |inner| {
        (
            prop::sample::select(vec![
                code::FAILED_AVP,
                code::PROXY_INFO,
                code::MIP_MN_AAA_AUTH,
                code::MIP_HA_TO_FA_MSA,
                code::VENDOR_SPECIFIC_APPLICATION_ID,
            ]),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(c, kids)| Avp::grouped(c, &kids).unwrap())
    })
}

fn any_message() -> impl Strategy<Value = Message> {
    (
        any::<[bool; 4]>(),
        0u32..1 << 24,
        any::<[u32; 3]>(),
        proptest::collection::vec(any_avp(), 0..8),
    )
        .prop_map(|(f, command, ids, avps)| Message {
            header: Header {
                request: f[0],
                proxiable: f[1],
                error: f[2] && !f[0],
                retransmit: f[3],
                command,
                application: ids[0],
                hop_by_hop: ids[1],
                end_to_end: ids[2],
            },
            avps,
        })
}

proptest! {
    #[test]
    fn message_round_trip(m in any_message()) {
        let b = m.emit().unwrap();
        prop_assert_eq!(b.len() % 4, 0);
        prop_assert_eq!(frame_len(&b), Ok(Some(b.len())));
        let back = Message::parse(&b).unwrap();
        for a in &back.avps {
            if avp::is_grouped(a.code, a.vendor) {
                // Every grouped child list re-emits to the same bytes.
                let kids = a.as_grouped().unwrap();
                prop_assert_eq!(&Avp::grouped(a.code, &kids).unwrap().data, &a.data);
            }
        }
        prop_assert_eq!(back, m);
    }

    #[test]
    fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::parse(&b);
    }

    #[test]
    fn mutated_messages(m in any_message(), at in any::<usize>(), byte in any::<u8>()) {
        let mut b = m.emit().unwrap();
        let i = at % b.len();
        b[i] = byte;
        if let Ok(p) = Message::parse(&b) {
            // Whatever parses re-encodes to a message that parses the same.
            prop_assert_eq!(Message::parse(&p.emit().unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn typed_readers_never_panic(d in proptest::collection::vec(any::<u8>(), 0..40)) {
        let a = Avp::new(1, d);
        let _ = (a.as_u32(), a.as_u64(), a.as_i32(), a.as_i64(), a.as_f32(), a.as_f64());
        let _ = (a.as_time(), a.as_utf8(), a.as_identity(), a.as_address(), a.as_uri());
        let _ = a.as_grouped();
    }
}
