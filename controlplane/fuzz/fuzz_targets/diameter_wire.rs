//! Fuzzes the Diameter codec: stream framing, the validating view and its AVP walk, the
//! owned message, every typed reader on every AVP (grouped AVPs recursively), and the
//! re-encoding of whatever parsed, which must parse back to the same message.
#![no_main]

use controlplane::diameter::wire::{frame_len, Avp, Message, MessageView};
use libfuzzer_sys::fuzz_target;

fn read_all(a: &Avp, depth: usize) {
    let _ = (a.as_u32(), a.as_u64(), a.as_i32(), a.as_i64(), a.as_f32(), a.as_f64());
    let _ = (a.as_time(), a.as_identity(), a.as_address(), a.as_uri());
    if let Ok(kids) = a.as_grouped() {
        assert!(depth < 64, "grouped recursion beyond any limit");
        for k in &kids {
            read_all(k, depth + 1);
        }
        // Padding bytes are accepted whatever they hold, so compare values, not bytes.
        let again = Avp::grouped(a.code, &kids).expect("parsed children re-encode");
        assert_eq!(again.as_grouped().expect("own encoding parses"), kids);
    }
}

fuzz_target!(|data: &[u8]| {
    let framed = frame_len(data);
    let Ok(v) = MessageView::new_checked(data) else { return };
    assert_eq!(framed, Ok(Some(v.len())));
    let _ = v.check_mandatory(|c, vendor| vendor.is_none() && c < 300);
    let m = Message::from_view(&v);
    assert_eq!(m.avps.len(), v.avps().count());
    for a in &m.avps {
        read_all(a, 0);
    }
    let bytes = m.emit().expect("parsed message re-encodes");
    assert_eq!(bytes.len(), v.len());
    assert_eq!(Message::parse(&bytes).expect("own encoding parses"), m);
});
