//! Fuzzes the LDP codec: TCP stream framing, the PDU view, the message walk and every TLV
//! decoder; whatever parses must re-encode and parse back to the same messages.
#![no_main]

use controlplane::ldp::wire::{encode_pdus, pdu_frame_len, Message, PduView, DEFAULT_MAX_PDU};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let framed = pdu_frame_len(data, 65539);
    let Ok(v) = PduView::new_checked(data) else { return };
    if let Ok(Some(n)) = framed {
        assert_eq!(n, v.total_len());
    }
    let mut msgs = Vec::new();
    for raw in v.messages() {
        let Ok(raw) = raw else { break };
        if let Ok(m) = Message::parse(&raw) {
            let _ = (m.fec(), m.generic_label(), m.status(), m.unknown_mandatory_tlv());
            msgs.push(m);
        }
    }
    let max = DEFAULT_MAX_PDU.max(v.total_len());
    let Ok(pdus) = encode_pdus(v.ldp_id(), &msgs, max) else {
        // Only a message longer than any PDU may fail to encode.
        return;
    };
    let mut back = Vec::new();
    for p in &pdus {
        let pv = PduView::new_checked(&p[..]).expect("own PDU parses");
        assert_eq!(pv.ldp_id(), v.ldp_id());
        for r in pv.messages() {
            back.push(Message::parse(&r.expect("own message frames")).expect("own message parses"));
        }
    }
    assert_eq!(back, msgs);
});
