//! The model's parsers on arbitrary input: they never panic, and what they accept prints back
//! to something they read as the same value.

use proptest::prelude::*;
use vpndb::{AddrMask, KeyBytes, Nai, VpnDocument};

proptest! {
    #[test]
    fn nai_never_panics_and_round_trips(s in "\\PC{0,300}") {
        if let Ok(n) = Nai::parse(&s) {
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert!(s.len() <= 253 && s.contains('@'));
            prop_assert_eq!(Nai::parse(&n.to_string()).unwrap(), n);
        }
    }

    #[test]
    fn nai_like_input(user in "[a-z0-9._+-]{1,20}", realm in "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,3}") {
        let s = format!("{user}@{realm}");
        let ok = realm.split('.').all(|l| !l.starts_with('-') && !l.ends_with('-'));
        prop_assert_eq!(Nai::parse(&s).is_ok(), ok, "{}", s);
    }

    #[test]
    fn addr_mask_never_panics_and_round_trips(s in "[0-9./]{0,40}") {
        if let Ok(a) = s.parse::<AddrMask>() {
            prop_assert_eq!(a.to_string().parse::<AddrMask>().unwrap(), a);
            prop_assert!(a.contains(a.addr()));
        }
    }

    #[test]
    fn addr_mask_from_parts(addr: u32, len in 0u8..=40) {
        let ip = std::net::Ipv4Addr::from(addr);
        match AddrMask::from_prefix(ip, len) {
            Ok(a) => {
                prop_assert!(len <= 32);
                prop_assert_eq!(a.prefix_len(), len);
                prop_assert_eq!(format!("{ip}/{len}").parse::<AddrMask>().unwrap(), a);
            }
            Err(_) => {
                let host_bits = len < 32 && (addr << len) != 0;
                prop_assert!(len > 32 || host_bits);
            }
        }
    }

    #[test]
    fn key_hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let k = KeyBytes::new(bytes.clone());
        let back = KeyBytes::from_hex(&k.to_hex()).unwrap();
        prop_assert_eq!(back.as_bytes(), &bytes[..]);
        let dbg = format!("{:?}", k);
        // Only the length, whatever the bytes.
        prop_assert_eq!(dbg, format!("KeyBytes(<{} bytes redacted>)", bytes.len()));
    }

    #[test]
    fn documents_never_panic(s in "\\PC{0,400}") {
        let _ = serde_json::from_str::<VpnDocument>(&s);
        let _ = serde_saphyr::from_str::<VpnDocument>(&s);
    }
}
