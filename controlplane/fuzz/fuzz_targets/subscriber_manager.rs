//! The subscriber manager fed arbitrary input: PPP frames on its sessions, RADIUS answers on
//! its client sockets, Dynamic Authorization requests, L2TP sessions going down, time
//! passing. Nothing may panic, routes are never removed without having been added, and a
//! subscriber's address is never handed to two live sessions.
#![no_main]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use controlplane::subscriber::config::{
    DaeClient, LocalUser, RadiusServer, RadiusSettings, SubscriberConfig,
};
use controlplane::subscriber::manager::{Output, SessionInfo, Subscribers, TimerKey};
use controlplane::subscriber::pool::V4PoolConfig;
use libfuzzer_sys::fuzz_target;
use vr::{IpPrefix, PortId, VrId};

fn cfg(vr: u32, radius: bool) -> SubscriberConfig {
    let mut c = SubscriberConfig::new(VrId(vr), Ipv4Addr::new(100, 64, 0, 1));
    c.ipv6 = true;
    c.ipv6_pools = vec![controlplane::subscriber::pool::V6PoolConfig {
        name: "v6".into(),
        prefix: "2001:db8::".parse().unwrap(),
        len: 60,
        delegated_len: 64,
    }];
    c.pools = vec![V4PoolConfig {
        name: "p".into(),
        ranges: vec![(Ipv4Addr::new(100, 64, 0, 10), Ipv4Addr::new(100, 64, 0, 12))],
    }];
    if radius {
        c.radius = Some(RadiusSettings {
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            nas_identifier: "fuzz".into(),
            servers: vec![RadiusServer {
                addr: "127.0.0.1:1812".parse().unwrap(),
                secret: "s".into(),
            }],
            accounting: vec![RadiusServer {
                addr: "127.0.0.1:1813".parse().unwrap(),
                secret: "s".into(),
            }],
            timeout: Duration::from_secs(1),
            retries: 2,
            interim_interval: Some(Duration::from_secs(10)),
            dae: Some((
                "127.0.0.1:3799".parse().unwrap(),
                vec![DaeClient {
                    addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    secret: "s".into(),
                }],
            )),
        });
    } else {
        c.users = vec![LocalUser {
            name: "u".into(),
            password: "p".into(),
            address: Some(Ipv4Addr::new(100, 64, 0, 11)),
        }];
    }
    c
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut s = Subscribers::new(1);
    let traffic = |_: u32| [1u64, 100, 2, 200];
    s.configure(now, vec![cfg(1, false), cfg(2, true)], &traffic);
    for (vr, sid) in [(1u32, 1u16), (1, 2), (2, 3), (2, 4)] {
        s.session_up(
            now,
            VrId(vr),
            SessionInfo {
                tunnel: 1,
                session: sid,
                peer_tunnel: 9,
                peer_session: sid,
                peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 1701),
                local: Ipv4Addr::new(10, 0, 0, 1),
                egress: Some((PortId(0), None, Ipv4Addr::new(10, 0, 0, 2))),
                counters: u32::from(sid),
                calling_number: Vec::new(),
                proxy: None,
                pppoe: None,
            },
        );
    }
    let mut routes: BTreeMap<(u32, IpPrefix), ()> = BTreeMap::new();
    let mut timers: BTreeMap<TimerKey, Instant> = BTreeMap::new();
    let mut d = data;
    while d.len() >= 3 {
        let op = d[0] % 6;
        let sid = u16::from(d[1] % 5);
        let len = usize::from(d[2]);
        let body = &d[3..(3 + len).min(d.len())];
        d = &d[(3 + len).min(d.len())..];
        let vr = VrId(if sid <= 2 { 1 } else { 2 });
        match op {
            0 | 1 => {
                s.ppp_frame(now, vr, 1, sid, body, &traffic);
            }
            2 => s.radius_datagram(
                now,
                VrId(2),
                usize::from(d.first().copied().unwrap_or(0) % 4),
                "127.0.0.1:1812".parse().unwrap(),
                body,
                &traffic,
            ),
            3 => s.dae_datagram(now, VrId(2), "127.0.0.1:4000".parse().unwrap(), body, &traffic),
            4 => s.session_down(now, vr, 1, sid, &traffic),
            _ => {
                now += Duration::from_millis(u64::from(sid) * 700 + len as u64 * 50);
                let due: Vec<TimerKey> = timers
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(k, _)| *k)
                    .collect();
                for k in due {
                    timers.remove(&k);
                    s.handle_timer(now, k, &traffic);
                }
            }
        }
        for o in s.drain() {
            match o {
                Output::Route { vr, prefix, via } => {
                    if via.is_some() {
                        assert!(
                            routes.insert((vr.0, prefix), ()).is_none(),
                            "{prefix} given twice"
                        );
                    } else {
                        assert!(routes.remove(&(vr.0, prefix)).is_some(), "{prefix} removed but not there");
                    }
                }
                Output::Timer { key, at } => match at {
                    Some(at) => {
                        timers.insert(key, at);
                    }
                    None => {
                        timers.remove(&key);
                    }
                },
                _ => {}
            }
        }
    }
    s.shutdown(now, &traffic);
    for o in s.drain() {
        if let Output::Route { vr, prefix, via: None } = o {
            assert!(routes.remove(&(vr.0, prefix)).is_some());
        }
    }
    assert!(routes.is_empty(), "routes left after shutdown: {routes:?}");
});
