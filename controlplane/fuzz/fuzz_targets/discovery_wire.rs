//! Fuzzes the VR discovery codec: the checked view on any bytes, opening with a fixed key and
//! with a key chosen by the key id, and the replay window on the sequence; whatever opens
//! must seal again to the same bytes (the codec is canonical) and open to the same value.
#![no_main]

use controlplane::discovery::wire::{Packet, ReplayWindow, Repr, VpnKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = VpnKey::derive(b"fuzz discovery secret").expect("long enough");
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    assert_eq!(p.length(), data.len());
    let _ = (p.msg_type(), p.key_id(), p.sender());
    let mut w = ReplayWindow::default();
    let fresh = w.accept(p.seq());
    assert!(!w.accept(p.seq()), "a sequence is accepted once");
    assert_eq!(fresh, p.seq() != 0);
    let _ = Repr::open_bytes(data, |id| (*id == key.id()).then_some(&key));
    if let Ok(r) = Repr::open(&p, &key) {
        // Only reachable with a forged tag (practically never) — still, be consistent.
        let bytes = r.seal(&key).expect("opened message seals");
        assert_eq!(
            Repr::open_bytes(&bytes, |_| Some(&key)).expect("reopens"),
            r
        );
    }
    // Sealing a structured input derived from the bytes always opens to itself.
    let r = Repr {
        msg_type: 1 + data[1] % 3,
        sender: p.sender(),
        seq: p.seq().max(1),
        vpn_id: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ack_seq: if data[1] % 3 == 1 { p.seq() } else { 0 },
        vr_addr: if data.len() % 2 == 0 {
            std::net::IpAddr::from([data[8], data[9], data[10], data[11]])
        } else {
            let mut o = [0u8; 16];
            o.copy_from_slice(&data[8..24]);
            std::net::IpAddr::from(o)
        },
    };
    let bytes = r.seal(&key).expect("valid repr seals");
    assert_eq!(
        Repr::open_bytes(&bytes, |_| Some(&key)).expect("own seal opens"),
        r
    );
});
