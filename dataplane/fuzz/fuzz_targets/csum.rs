//! Checksum completion of af_packet frames (`dataplane::port::csum::complete`) on arbitrary
//! frames: never a panic; a frame it does not handle is left byte for byte as it was; a
//! completed one differs from the input in two adjacent bytes at most (the checksum field),
//! and completing it again changes nothing (the full checksum is a fixed point).
//!
//! The first byte picks how the rest becomes a frame: as it is (bit 0 clear), or (bit 0
//! set) behind an Ethernet header with 0–2 VLAN tags (bits 1–2) and an IPv4 (bit 3 clear)
//! or IPv6 header whose lengths match the rest, whose protocol / next header the second
//! byte picks (TCP, UDP, ICMP, ICMPv6, hop-by-hop, destination options, routing,
//! fragment, or the byte itself) and whose IPv4 fragment fields bit 4 sets — so the
//! fuzzer reaches the completion itself at once, not only the parser's refusals.
#![no_main]

use dataplane::port::csum::{complete, Completion};
use libfuzzer_sys::fuzz_target;

const PROTOS: [u8; 9] = [6, 17, 1, 58, 0, 60, 43, 44, 6];

fn frame(data: &[u8]) -> Vec<u8> {
    let (Some(&sel), Some(&p)) = (data.first(), data.get(1)) else {
        return data.to_vec();
    };
    if sel & 1 == 0 {
        return data[1..].to_vec();
    }
    let rest = &data[2..];
    let proto = PROTOS.get(usize::from(p >> 4)).copied().unwrap_or(p);
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for t in 0..(sel >> 1) & 3 {
        let et: u16 = if t == 0 { 0x88a8 } else { 0x8100 };
        f.extend(et.to_be_bytes());
        f.extend([0, 10 + t]);
    }
    if sel & 8 == 0 {
        f.extend(0x0800u16.to_be_bytes());
        let total = (20 + rest.len()).min(0xffff) as u16;
        let frag: u16 = if sel & 16 != 0 { 0x2000 | u16::from(p & 7) } else { 0 };
        f.extend([0x45, 0]);
        f.extend(total.to_be_bytes());
        f.extend([0, 1]);
        f.extend(frag.to_be_bytes());
        f.extend([64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    } else {
        f.extend(0x86ddu16.to_be_bytes());
        let payload = rest.len().min(0xffff) as u16;
        f.extend([0x60, 0, 0, 0]);
        f.extend(payload.to_be_bytes());
        f.extend([proto, 64]);
        f.extend([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    }
    f.extend(rest);
    f
}

fuzz_target!(|data: &[u8]| {
    let input = frame(data);
    let mut f = input.clone();
    match complete(&mut f) {
        Completion::Unhandled => assert_eq!(f, input, "an unhandled frame was changed"),
        Completion::Completed => {
            assert_eq!(f.len(), input.len());
            let changed: Vec<usize> = (0..f.len()).filter(|&i| f[i] != input[i]).collect();
            if let (Some(&first), Some(&last)) = (changed.first(), changed.last()) {
                assert!(last - first <= 1, "bytes changed outside one field: {changed:?}");
            }
            let once = f.clone();
            assert_eq!(complete(&mut f), Completion::Completed);
            assert_eq!(f, once, "completing a completed frame changed it");
        }
    }
});
