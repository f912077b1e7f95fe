//! Fuzzes the VR discovery engine: three routers sharing VPN keys exchange messages while
//! the input drives VR additions/removals, datagram loss, time steps, and raw datagrams
//! (garbage, bit-flipped and replayed real messages) injected at any router. Nothing may
//! panic, and no configuration map may ever contain a VR of a router that is not configured,
//! or a peer in a VPN the engine holds no VR of.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use controlplane::discovery::{Config, Engine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let routers: Vec<Ipv4Addr> = (1..=3).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    let mut e: Vec<Engine> = (0..3)
        .map(|i| Engine::new(Config::new(routers[i], routers.clone(), 1000 * i as u64)))
        .collect();
    for (i, x) in e.iter_mut().enumerate() {
        x.set_key(1, b"fuzz secret of VPN one!").unwrap();
        if i != 2 {
            x.set_key(2, b"fuzz secret of VPN two!").unwrap();
        }
    }
    let mut now = t0;
    let mut sniffed: Vec<Vec<u8>> = Vec::new();
    let mut it = data.chunks(2);
    while let Some(&[op, arg]) = it.next() {
        let who = usize::from(arg % 3);
        let vpn = u32::from(arg / 3 % 2) + 1;
        match op % 6 {
            0 => {
                let _ = e[who].add_vr(now, vpn, IpAddr::from([10, 0, arg, who as u8]));
            }
            1 => {
                let _ = e[who].remove_vr(now, vpn);
            }
            2 => {
                now += Duration::from_millis(u64::from(arg) * 100);
                for x in e.iter_mut() {
                    if x.poll_timeout().is_some_and(|d| d <= now) {
                        x.handle_timeout(now);
                    }
                }
            }
            3 => {
                // Inject a sniffed message, possibly with one bit flipped.
                if let Some(m) = sniffed.get(usize::from(arg) % sniffed.len().max(1)) {
                    let mut m = m.clone();
                    if arg & 0x80 != 0 && !m.is_empty() {
                        let i = usize::from(arg) % m.len();
                        m[i] ^= 1 << (arg % 8);
                    }
                    e[who].handle_input(now, &m);
                }
            }
            4 => {
                let raw: Vec<u8> = it.by_ref().take(40).flatten().copied().collect();
                e[who].handle_input(now, &raw);
            }
            _ => {}
        }
        // Deliver, losing datagrams whose index bit in `op` is set.
        let mut n = 0u32;
        loop {
            let mut moved = false;
            for i in 0..3 {
                while let Some(t) = e[i].poll_transmit() {
                    moved = true;
                    n += 1;
                    if sniffed.len() < 64 {
                        sniffed.push(t.payload.clone());
                    }
                    if (op >> (n % 8)) & 1 == 1 && op >= 0x80 {
                        continue;
                    }
                    if let Some(j) = routers.iter().position(|r| *r == t.dst) {
                        e[j].handle_input(now, &t.payload);
                    }
                }
            }
            if !moved {
                break;
            }
        }
        for x in e.iter_mut() {
            while x.poll_event().is_some() {}
        }
    }
    for x in &e {
        for vpn in 1..=2 {
            if let Some(m) = x.config_map(vpn) {
                for r in m.keys() {
                    assert!(routers.contains(r) && *r != x.router_id());
                }
            }
        }
        // Router 3 never holds VPN 2's key, so it can never have a map for it.
        assert!(e[2].config_map(2).is_none());
    }
});
