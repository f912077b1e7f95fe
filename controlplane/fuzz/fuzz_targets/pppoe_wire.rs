//! Fuzzes the PPPoE discovery TAG decoder: the input (after one byte choosing a VLAN) is a
//! PPPoE header and payload; the tag walk and the parse must not panic, and whatever parses
//! must emit as a frame that parses back to the same value.
#![no_main]

use controlplane::pppoe::wire::{DiscoveryRepr, EthHeader, Tag, TagIter};
use libfuzzer_sys::fuzz_target;
use wire::pppoe::PppoeHeader;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let header = PppoeHeader::new_unchecked(rest);
    if let Ok(payload) = controlplane::pppoe::wire::payload(&header) {
        for raw in TagIter::new(payload) {
            let Ok(raw) = raw else { break };
            let _ = Tag::parse(&raw);
        }
    }
    if let Ok(r) = DiscoveryRepr::parse(&header) {
        let vlan = (first & 1 == 1).then_some(u16::from(first) << 4);
        let eth = EthHeader {
            dst: [0xff; 6],
            src: [2, 0, 0, 0, 0, 1],
            vlan,
        };
        let frame = r
            .to_frame(&eth)
            .expect("a parsed payload fits LENGTH again");
        assert_eq!(frame.len(), r.buffer_len(vlan));
        let back = DiscoveryRepr::parse(&PppoeHeader::new_checked(&frame[eth.len()..]).unwrap());
        assert_eq!(back.as_ref(), Ok(&r));
    }
});
