use super::*;
use proptest::prelude::*;

/// A link Hello (RFC 5036 §3.5.2 layout, built by hand): LSR 10.255.0.2, hold 15 s,
/// transport address 10.99.0.2, configuration sequence 1 and an optional TLV this codec does
/// not know (type 0x3701 with the U bit set, as capability TLVs are sent).
const HELLO: [u8; 46] = [
    0x00, 0x01, 0x00, 0x2a, // version 1, PDU length 42
    10, 255, 0, 2, 0x00, 0x00, // LDP id 10.255.0.2:0
    0x01, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, // Hello, length 32, id 1
    0x04, 0x00, 0x00, 0x04, 0x00, 0x0f, 0x00, 0x00, // Common Hello: hold 15, T=0 R=0
    0x04, 0x01, 0x00, 0x04, 10, 99, 0, 2, // IPv4 transport address
    0x04, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // configuration sequence 1
    0xb7, 0x01, 0x00, 0x00, // unknown TLV 0x3701, U set, F clear, empty
];

fn hello() -> Vec<u8> {
    HELLO.to_vec()
}

#[test]
fn parses_a_hello_with_an_unknown_optional_tlv() {
    let b = hello();
    let pdu = PduView::new_checked(&b[..]).unwrap();
    assert_eq!(pdu.total_len(), 46);
    assert_eq!(pdu.ldp_id(), LdpId::platform(Ipv4Addr::new(10, 255, 0, 2)));
    let raws: Vec<_> = pdu.messages().collect::<Result<_, _>>().unwrap();
    assert_eq!(raws.len(), 1);
    let m = Message::parse(&raws[0]).unwrap();
    assert_eq!(m.kind, msg::HELLO);
    assert_eq!(m.id, 1);
    assert_eq!(
        m.tlvs[..3],
        [
            Tlv::CommonHello {
                hold_time: 15,
                targeted: false,
                request_targeted: false,
                gtsm: false
            },
            Tlv::Ipv4Transport(Ipv4Addr::new(10, 99, 0, 2)),
            Tlv::ConfigSeq(1),
        ]
    );
    assert_eq!(
        m.tlvs[3],
        Tlv::Unknown {
            unknown_bit: true,
            forward_bit: false,
            kind: 0x3701,
            value: vec![]
        }
    );
    assert_eq!(m.unknown_mandatory_tlv(), None);
    // Re-encoding gives the same bytes.
    let again = encode_pdus(pdu.ldp_id(), &[m], DEFAULT_MAX_PDU).unwrap();
    assert_eq!(again, vec![b]);
}

#[test]
fn label_mapping_bytes() {
    // Label Mapping for 10.255.0.1/32 with label 16 (layout of RFC 5036 §3.5.7).
    let m = Message::new(
        msg::LABEL_MAPPING,
        7,
        vec![
            Tlv::Fec(vec![FecElement::Prefix4(Prefix4::host(Ipv4Addr::new(
                10, 255, 0, 1,
            )))]),
            Tlv::GenericLabel(16),
        ],
    );
    let mut out = Vec::new();
    m.emit(&mut out).unwrap();
    assert_eq!(
        out,
        [
            0x04, 0x00, 0x00, 0x18, 0, 0, 0, 7, // Label Mapping, length 24, id 7
            0x01, 0x00, 0x00, 0x08, 0x02, 0x00, 0x01, 32, 10, 255, 0, 1, // FEC
            0x02, 0x00, 0x00, 0x04, 0, 0, 0, 16, // Generic Label
        ]
    );
}

#[test]
fn prefix_fec_carries_only_the_prefix_bytes() {
    let mut out = Vec::new();
    Tlv::Fec(vec![
        FecElement::Prefix4("10.1.0.0/16".parse().unwrap()),
        FecElement::Wildcard,
    ])
    .emit(&mut out)
    .unwrap();
    assert_eq!(
        out,
        [0x01, 0x00, 0x00, 0x07, 0x02, 0x00, 0x01, 16, 10, 1, 0x01]
    );
    assert_eq!(
        parse_tlvs(&out).unwrap(),
        vec![Tlv::Fec(vec![
            FecElement::Prefix4("10.1.0.0/16".parse().unwrap()),
            FecElement::Wildcard
        ])]
    );
}

#[test]
fn host_bits_are_cleared() {
    let p: Prefix4 = "10.1.2.3/16".parse().unwrap();
    assert_eq!(p.to_string(), "10.1.0.0/16");
    assert!("10.1.2.3/33".parse::<Prefix4>().is_err());
}

#[test]
fn malformed_pdus_are_refused() {
    assert!(matches!(
        PduView::new_checked(&[0u8; 9][..]),
        Err(Error::Truncated { .. })
    ));
    let mut b = hello();
    b[1] = 2;
    assert_eq!(
        PduView::new_checked(&b[..]).unwrap_err(),
        Error::BadVersion(2)
    );
    let mut b = hello();
    b[3] = 5;
    assert!(matches!(
        PduView::new_checked(&b[..]),
        Err(Error::BadPduLength { length: 5, .. })
    ));
    let mut b = hello();
    b[3] = 200;
    assert!(matches!(
        PduView::new_checked(&b[..]),
        Err(Error::BadPduLength { .. })
    ));
    assert_eq!(pdu_frame_len(&b[..3], 4096), Ok(None));
    assert_eq!(pdu_frame_len(&hello(), 4096), Ok(Some(46)));
    assert!(pdu_frame_len(&[0, 1, 0x10, 0], 4096).is_err());
}

#[test]
fn malformed_messages_and_tlvs_are_refused() {
    // Message length past the PDU.
    let mut b = hello();
    b[13] = 0x40;
    let pdu = PduView::new_checked(&b[..]).unwrap();
    let r: Vec<_> = pdu.messages().collect();
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].clone().unwrap_err().status(),
        status::BAD_MESSAGE_LENGTH
    );
    // Message length under 4.
    let mut b = hello();
    b[13] = 2;
    let pdu = PduView::new_checked(&b[..]).unwrap();
    assert!(pdu.messages().next().unwrap().is_err());
    // TLV length past the message.
    let mut b = hello();
    b[21] = 0x30;
    let pdu = PduView::new_checked(&b[..]).unwrap();
    let raw = pdu.messages().next().unwrap().unwrap();
    assert_eq!(
        Message::parse(&raw).unwrap_err().status(),
        status::BAD_TLV_LENGTH
    );
    // Fixed-length TLVs with the wrong length.
    for (kind, len) in [
        (tlv::GENERIC_LABEL, 3),
        (tlv::COMMON_HELLO, 5),
        (tlv::STATUS, 9),
        (tlv::COMMON_SESSION, 13),
        (tlv::IPV4_TRANSPORT, 0),
        (tlv::HOP_COUNT, 2),
    ] {
        let mut t = kind.to_be_bytes().to_vec();
        t.extend_from_slice(&(len as u16).to_be_bytes());
        t.resize(4 + len, 0);
        assert_eq!(
            parse_tlvs(&t).unwrap_err().status(),
            status::BAD_TLV_LENGTH,
            "TLV 0x{kind:04x} of {len}"
        );
    }
    // A label over 20 bits.
    let t = [0x02, 0x00, 0x00, 0x04, 0x00, 0x10, 0x00, 0x00];
    assert_eq!(parse_tlvs(&t).unwrap_err().status(), status::MALFORMED_TLV);
    // FEC: unknown element, unsupported family, prefix longer than the address, truncated.
    let fec = |v: &[u8]| {
        let mut t = vec![0x01, 0x00, 0x00, v.len() as u8];
        t.extend_from_slice(v);
        parse_tlvs(&t)
    };
    assert_eq!(fec(&[0x03]).unwrap_err(), Error::UnknownFecElement(3));
    assert_eq!(
        fec(&[0x02, 0, 9, 8, 1]).unwrap_err(),
        Error::UnsupportedAddressFamily(9)
    );
    assert_eq!(
        fec(&[0x02, 0, 1, 33, 1, 2, 3, 4, 5]).unwrap_err().status(),
        status::MALFORMED_TLV
    );
    assert_eq!(
        fec(&[0x02, 0, 1, 24, 10, 1]).unwrap_err().status(),
        status::BAD_TLV_LENGTH
    );
    assert_eq!(
        fec(&[0x02, 0, 1]).unwrap_err().status(),
        status::BAD_TLV_LENGTH
    );
    assert_eq!(fec(&[]).unwrap_err().status(), status::MALFORMED_TLV);
    // Address list: not a whole number of addresses; no family.
    assert!(parse_tlvs(&[0x01, 0x01, 0x00, 0x05, 0, 1, 1, 2, 3]).is_err());
    assert!(parse_tlvs(&[0x01, 0x01, 0x00, 0x01, 0]).is_err());
    // A TLV header cut short.
    assert!(parse_tlvs(&[0x01, 0x01, 0x00]).is_err());
}

#[test]
fn unknown_mandatory_tlv_is_reported() {
    let t = [0x3e, 0x00, 0x00, 0x01, 0xaa];
    let tlvs = parse_tlvs(&t).unwrap();
    let m = Message::new(msg::LABEL_MAPPING, 1, tlvs);
    assert_eq!(m.unknown_mandatory_tlv(), Some(0x3e00));
}

#[test]
fn messages_are_split_over_pdus() {
    let id = LdpId::platform(Ipv4Addr::new(1, 1, 1, 1));
    let msgs: Vec<_> = (0..300)
        .map(|i| {
            Message::new(
                msg::LABEL_MAPPING,
                i,
                vec![
                    Tlv::Fec(vec![FecElement::Prefix4(Prefix4::host(Ipv4Addr::from(i)))]),
                    Tlv::GenericLabel(16 + i),
                ],
            )
        })
        .collect();
    let pdus = encode_pdus(id, &msgs, 4096).unwrap();
    assert!(pdus.len() > 1);
    let mut back = Vec::new();
    for p in &pdus {
        assert!(p.len() <= 4096);
        let v = PduView::new_checked(&p[..]).unwrap();
        assert_eq!(v.total_len(), p.len());
        for r in v.messages() {
            back.push(Message::parse(&r.unwrap()).unwrap());
        }
    }
    assert_eq!(back, msgs);
    // A message that cannot fit.
    let big = Message::new(
        msg::ADDRESS,
        1,
        vec![Tlv::AddressList(AddressList::V4(vec![
            Ipv4Addr::LOCALHOST;
            1100
        ]))],
    );
    assert!(matches!(
        encode_pdus(id, &[big], 4096),
        Err(Error::TooLong { .. })
    ));
}

#[test]
fn status_fatal_bits() {
    assert!(Status::new(status::KEEPALIVE_EXPIRED, 0, 0).is_fatal());
    assert!(Status::new(status::SHUTDOWN, 0, 0).is_fatal());
    assert!(!Status::new(status::UNKNOWN_TLV, 3, msg::LABEL_MAPPING).is_fatal());
    assert_eq!(Status::new(status::BAD_LDP_ID, 0, 0).code, 0x8000_0001);
}

fn arb_tlv() -> impl Strategy<Value = Tlv> {
    let ip4 = any::<u32>().prop_map(Ipv4Addr::from);
    let prefix =
        (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Prefix4::new(Ipv4Addr::from(a), l).unwrap());
    let elem = prop_oneof![
        Just(FecElement::Wildcard),
        prefix.prop_map(FecElement::Prefix4),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(element, info)| FecElement::TypedWildcard { element, info }),
    ];
    prop_oneof![
        proptest::collection::vec(elem, 1..5).prop_map(Tlv::Fec),
        proptest::collection::vec(ip4.clone(), 0..5)
            .prop_map(|a| Tlv::AddressList(AddressList::V4(a))),
        any::<u8>().prop_map(Tlv::HopCount),
        proptest::collection::vec(ip4.clone(), 1..4).prop_map(Tlv::PathVector),
        (0..=MAX_LABEL).prop_map(Tlv::GenericLabel),
        (any::<u32>(), any::<u32>(), any::<u16>()).prop_map(|(code, message_id, message_type)| {
            Tlv::Status(Status {
                code,
                message_id,
                message_type,
            })
        }),
        (any::<u16>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(hold_time, targeted, request_targeted, gtsm)| Tlv::CommonHello {
                hold_time,
                targeted,
                request_targeted,
                gtsm,
            }
        ),
        ip4.clone().prop_map(Tlv::Ipv4Transport),
        any::<u32>().prop_map(Tlv::ConfigSeq),
        (
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            any::<u8>(),
            any::<u16>(),
            ip4
        )
            .prop_map(
                |(version, keepalive, on_demand, loop_detection, path_vector_limit, max_pdu, r)| {
                    Tlv::CommonSession(SessionParams {
                        version,
                        keepalive,
                        on_demand,
                        loop_detection,
                        path_vector_limit,
                        max_pdu,
                        receiver: LdpId::platform(r),
                    })
                }
            ),
        any::<u32>().prop_map(Tlv::LabelRequestId),
        (
            any::<bool>(),
            any::<bool>(),
            0x3800u16..0x3fff,
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(unknown_bit, forward_bit, kind, value)| Tlv::Unknown {
                unknown_bit,
                forward_bit,
                kind,
                value
            }),
    ]
}

proptest! {
    #[test]
    fn message_round_trip(kind in 0u16..0x7fff, id in any::<u32>(), u in any::<bool>(),
                          tlvs in proptest::collection::vec(arb_tlv(), 0..6)) {
        let m = Message { unknown_bit: u, kind, id, tlvs };
        let pdus = encode_pdus(LdpId::platform(Ipv4Addr::new(9, 9, 9, 9)), std::slice::from_ref(&m), DEFAULT_MAX_PDU).unwrap();
        prop_assert_eq!(pdus.len(), 1);
        let v = PduView::new_checked(&pdus[0][..]).unwrap();
        let raws: Vec<_> = v.messages().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(raws.len(), 1);
        prop_assert_eq!(Message::parse(&raws[0]).unwrap(), m);
    }

    #[test]
    fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = pdu_frame_len(&b, DEFAULT_MAX_PDU);
        if let Ok(v) = PduView::new_checked(&b[..]) {
            for r in v.messages().flatten() {
                let _ = Message::parse(&r);
            }
        }
        let _ = parse_tlvs(&b);
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse_all(b: &[u8]) -> (LdpId, Vec<Message>) {
    let v = PduView::new_checked(b).unwrap();
    assert_eq!(v.total_len(), b.len());
    let msgs = v
        .messages()
        .map(|r| Message::parse(&r.unwrap()).unwrap())
        .collect();
    (v.ldp_id(), msgs)
}

/// PDUs FRR 8.4 ldpd sent to us in scripts/test.d/49-ldp-frr.sh, captured with tcpdump and
/// read out with `tshark -T fields -e udp.payload -e tcp.payload`.
const FRR_HELLO: &str =
    "000100260aff000200000100001c000000010400000400062000040100040a6300020402000400000002";
const FRR_INIT: &str = "0001002f0aff0002000002000025000000030500000e000100b4000000000aff000100008506000180850b0001808603000180";
const FRR_MAPPINGS: &str = "000100590aff00020000040000170000000601000007020001180a63000200000400000003040000180000000701000008020001200aff00010200000400000010040000180000000801000008020001200aff00020200000400000003";

#[test]
fn frr_pdus_parse_and_reencode_byte_for_byte() {
    let frr = LdpId::platform(Ipv4Addr::new(10, 255, 0, 2));
    for hex in [FRR_HELLO, FRR_INIT, FRR_MAPPINGS] {
        let b = unhex(hex);
        let (id, msgs) = parse_all(&b);
        assert_eq!(id, frr);
        assert_eq!(encode_pdus(id, &msgs, DEFAULT_MAX_PDU).unwrap(), vec![b]);
    }
    let (_, hello) = parse_all(&unhex(FRR_HELLO));
    assert_eq!(
        hello[0].tlvs,
        vec![
            Tlv::CommonHello {
                hold_time: 6,
                targeted: false,
                request_targeted: false,
                gtsm: true
            },
            Tlv::Ipv4Transport(Ipv4Addr::new(10, 99, 0, 2)),
            Tlv::ConfigSeq(2),
        ]
    );
    let (_, init) = parse_all(&unhex(FRR_INIT));
    assert_eq!(init[0].kind, msg::INITIALIZATION);
    let Tlv::CommonSession(p) = &init[0].tlvs[0] else {
        panic!("{:?}", init[0].tlvs)
    };
    assert_eq!(
        (p.version, p.keepalive, p.max_pdu, p.on_demand),
        (1, 180, 0, false)
    );
    assert_eq!(p.receiver, LdpId::platform(Ipv4Addr::new(10, 255, 0, 1)));
    // Its capability TLVs (0x0506, 0x050b, 0x0603) carry the U bit: ignored, not refused.
    assert_eq!(init[0].tlvs.len(), 4);
    assert_eq!(init[0].unknown_mandatory_tlv(), None);
    let (_, maps) = parse_all(&unhex(FRR_MAPPINGS));
    let got: Vec<_> = maps
        .iter()
        .map(|m| (m.fec().unwrap().to_vec(), m.generic_label().unwrap()))
        .collect();
    let pfx = |s: &str| vec![FecElement::Prefix4(s.parse().unwrap())];
    assert_eq!(
        got,
        vec![
            (pfx("10.99.0.0/24"), 3),
            (pfx("10.255.0.1/32"), 16),
            (pfx("10.255.0.2/32"), 3)
        ]
    );
}
