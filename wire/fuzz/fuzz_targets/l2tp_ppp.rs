//! The L2TPv2 header codec and the PPP protocol field behind it: any bytes are either refused
//! or give ids, a header length inside the message, a header value that agrees with the view,
//! and a PPP header length inside the payload; a data header the fast path emits always
//! parses back. (The control engine's use of the header, with AVPs, is fuzzed by
//! controlplane/fuzz's l2tp_wire.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::l2tp::{emit_data_header, L2tpPacket, L2tpRepr, MIN_HEADER_LEN};
use wire::ppp;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = L2tpPacket::new_checked(data) {
        assert!(h.header_len() <= h.message_len() && h.message_len() <= data.len());
        let r = L2tpRepr::parse(&h).expect("a checked header parses");
        assert_eq!((r.tunnel_id, r.session_id), (h.tunnel_id(), h.session_id()));
        let _ = (h.is_control(), h.tunnel_id(), h.session_id(), h.sequence());
        let payload = h.payload();
        if let Ok((_, n)) = ppp::parse(payload) {
            assert!(n <= payload.len());
        }
    }
    if data.len() >= 4 {
        let (t, s) = (
            u16::from_be_bytes([data[0], data[1]]),
            u16::from_be_bytes([data[2], data[3]]),
        );
        let mut out = [0u8; MIN_HEADER_LEN];
        emit_data_header(&mut out, t, s);
        let h = L2tpPacket::new_checked(&out[..]).expect("our own header parses");
        assert_eq!(
            (h.tunnel_id(), h.session_id(), h.is_control()),
            (t, s, false)
        );
        assert_eq!(L2tpRepr::parse(&h), Ok(L2tpRepr::data(t, s)));
    }
});
