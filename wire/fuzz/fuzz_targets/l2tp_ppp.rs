//! The data path's L2TPv2 header view and the PPP protocol field behind it: any bytes are
//! either refused or give ids, a header length inside the buffer, and a PPP header length
//! inside the payload; a data header the fast path emits always parses back.
#![no_main]

use wire::l2tp::{emit_data_header, L2tpHeader, MIN_HEADER_LEN};
use wire::ppp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = L2tpHeader::new_checked(data) {
        assert!(h.header_len() <= data.len());
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
        let h = L2tpHeader::new_checked(&out[..]).expect("our own header parses");
        assert_eq!((h.tunnel_id(), h.session_id(), h.is_control()), (t, s, false));
    }
});
