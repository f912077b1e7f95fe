//! Ethernet header and up to four 802.1Q/802.1ad tags: parse, re-emit, compare bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{EtherType, EthernetFrame, EthernetRepr, VlanPacket, VlanRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let repr = EthernetRepr::parse(&frame).expect("checked frame always parses");
    let mut out = [0u8; 14];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(
        out[..],
        data[..14],
        "ethernet header re-emits byte for byte"
    );

    let mut ethertype = frame.ethertype();
    let mut rest = frame.payload();
    for _ in 0..4 {
        if !matches!(ethertype, EtherType::Vlan | EtherType::QinQ) {
            break;
        }
        let Ok(tag) = VlanPacket::new_checked(rest) else {
            return;
        };
        let _ = (tag.pcp(), tag.dei(), tag.vid());
        match VlanRepr::parse(&tag) {
            Ok(r) => {
                assert_ne!(r.vid, 0xfff);
                let mut t = [0u8; 4];
                r.emit(&mut VlanPacket::new_unchecked(&mut t[..]));
                assert_eq!(t[..], rest[..4], "tag re-emits byte for byte");
            }
            Err(_) => assert_eq!(tag.vid(), 0xfff, "only the reserved VID is refused"),
        }
        ethertype = tag.ethertype();
        rest = &rest[4..];
        assert_eq!(tag.payload(), rest);
    }
});
