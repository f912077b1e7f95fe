//! Fuzzes the LDP speaker: two speakers brought to an operational session, then the input
//! drives time steps, advertise/withdraw, and raw bytes injected as Hellos or session input
//! (garbage, or bit-flipped copies of PDUs the speakers sent). Nothing may panic; bindings
//! are only ever held for peers with a session, and the labels taken from the allocator are
//! exactly the local bindings plus those waiting for a release.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use controlplane::ldp::engine::{Config, Speaker, Transmit};
use controlplane::ldp::wire::Prefix4;
use labelswitch::alloc::LabelAllocator;
use libfuzzer_sys::fuzz_target;

const IDS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 255, 0, 1), Ipv4Addr::new(10, 255, 0, 2)];
const TR: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];

fn pump(s: &mut [Speaker; 2], now: Instant, sniffed: &mut Vec<Vec<u8>>) {
    for _ in 0..50 {
        let mut moved = false;
        for i in 0..2 {
            let j = 1 - i;
            while let Some(t) = s[i].poll_transmit() {
                moved = true;
                match t {
                    Transmit::Hello(b) => {
                        s[j].handle_hello(now, TR[i], &b);
                        sniffed.push(b);
                    }
                    Transmit::Connect { peer, .. } => {
                        if s[j].handle_accepted(now, TR[i]).is_some() {
                            s[i].handle_connected(now, peer);
                        } else {
                            s[i].handle_connect_failed(now, peer);
                        }
                    }
                    Transmit::Send { bytes, .. } => {
                        s[j].handle_session_input(now, IDS[i], &bytes);
                        if sniffed.len() < 64 {
                            sniffed.push(bytes);
                        }
                    }
                    Transmit::Close { .. } => s[j].handle_session_closed(now, IDS[i]),
                }
            }
        }
        while s[0].poll_event().is_some() || s[1].poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mk = |i: usize, now| {
        let mut c = Config::new(IDS[i], TR[i]);
        c.keepalive_time = 9;
        c.hello_interval = Duration::from_secs(1);
        c.hello_hold_time = 3;
        c.max_bindings_per_peer = 32;
        let r = 100 + 1000 * i as u32;
        Speaker::new(c, LabelAllocator::new(r..=r + 63).unwrap(), now).unwrap()
    };
    let mut s = [mk(0, now), mk(1, now)];
    let mut sniffed = Vec::new();
    for x in &mut s {
        x.handle_timeout(now);
    }
    pump(&mut s, now, &mut sniffed);
    let mut it = data.iter();
    while let Some(&op) = it.next() {
        let arg = it.next().copied().unwrap_or(0);
        let who = usize::from(arg & 1);
        match op % 6 {
            0 => {
                now += Duration::from_millis(u64::from(arg) * 50);
                for x in &mut s {
                    x.handle_timeout(now);
                }
            }
            1 => {
                let _ = s[who].advertise(Prefix4::new(Ipv4Addr::new(192, 0, 2, arg), 32).unwrap());
            }
            2 => {
                s[who].withdraw(Prefix4::new(Ipv4Addr::new(192, 0, 2, arg), 32).unwrap());
            }
            3 | 4 => {
                let n = usize::from(arg >> 1).min(it.len());
                let raw: Vec<u8> = it.by_ref().take(n).copied().collect();
                if op % 6 == 3 {
                    s[who].handle_hello(now, TR[1 - who], &raw);
                } else {
                    s[who].handle_session_input(now, IDS[1 - who], &raw);
                }
            }
            _ => {
                if !sniffed.is_empty() {
                    let mut b = sniffed[usize::from(arg) % sniffed.len()].clone();
                    if let Some(&flip) = it.next() {
                        let at = usize::from(flip) % b.len().max(1);
                        if let Some(x) = b.get_mut(at) {
                            *x ^= flip | 1;
                        }
                    }
                    s[who].handle_session_input(now, IDS[1 - who], &b);
                }
            }
        }
        pump(&mut s, now, &mut sniffed);
        for x in &s {
            let peers: Vec<_> = x.sessions().map(|(p, _)| p).collect();
            assert!(x.learnt().all(|(p, _, _)| peers.contains(&p)));
            assert!(x.learnt().count() <= 32 * peers.len().max(1));
            assert_eq!(x.local_bindings().count() + x.labels_releasing(), x.labels_in_use());
        }
    }
});
