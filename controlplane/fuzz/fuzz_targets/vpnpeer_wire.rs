//! Fuzzes the VPN peering channel's decoder (controlplane::vpnpeer::wire): the bytes are an
//! L2TP control message; whatever parses as one is decoded as a peering message, and a
//! decoded Update must re-encode (split into messages within MAX_MESSAGE_LEN) to the same
//! routes.
#![no_main]

use controlplane::l2tp::wire::{ControlMessage, L2tpPacket};
use controlplane::vpnpeer::wire::{decode, encode, encode_updates, Message, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = L2tpPacket::new_checked(data) else {
        return;
    };
    let Ok(m) = ControlMessage::parse(&p, None) else {
        return;
    };
    let Ok((msg, _)) = decode(&m.avps) else {
        return;
    };
    match &msg {
        Message::Update {
            vpn_id,
            router_id,
            routes,
            end_of_rib,
        } => {
            // Withdraws may carry any label; announcements were checked on decode.
            let Ok(msgs) = encode_updates(*vpn_id, *router_id, routes, *end_of_rib) else {
                panic!("a decoded update must re-encode");
            };
            let mut back = Vec::new();
            for avps in msgs {
                let mut c = ControlMessage::new(1, 0, m.message_type.expect("not a ZLB"), avps);
                c.message_type_mandatory = false;
                let bytes = c.to_bytes(None).expect("own encoding");
                assert!(bytes.len() <= MAX_MESSAGE_LEN);
                let p2 = L2tpPacket::new_checked(&bytes[..]).expect("own header");
                let c2 = ControlMessage::parse(&p2, None).expect("own encoding parses");
                if let (Message::Update { routes, .. }, _) =
                    decode(&c2.avps).expect("own AVPs decode")
                {
                    back.extend(routes);
                }
            }
            // Labels of withdraws are masked to 20 bits on the wire like any other.
            assert_eq!(back.len(), routes.len());
            for (a, b) in back.iter().zip(routes) {
                assert_eq!((a.prefix, a.withdraw), (b.prefix, b.withdraw));
            }
        }
        other => {
            let avps = encode(other).expect("control messages encode");
            assert_eq!(decode(&avps).expect("own AVPs decode").0, msg);
        }
    }
});
