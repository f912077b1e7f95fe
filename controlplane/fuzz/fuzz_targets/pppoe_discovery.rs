//! Fuzzes the PPPoE discovery engine: the input is a sequence of operations on an engine
//! with two access interfaces (port 1 untagged, port 1 VLAN 10) and a third port: raw
//! discovery frames from a few client MACs, PADRs carrying the cookie the client last got
//! (so the fuzzer reaches session creation, which forged cookies never do), PADTs, local
//! closes and reconfiguration. Invariants: no panic; sessions within every limit; session
//! ids unique per port and in 1..=0xfffe; the rate table within its bound; every frame the
//! engine sends parses.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use controlplane::packet::l2_split;
use controlplane::pppoe::discovery::{AccessConfig, Discovery, DownReason, Limits, Output};
use controlplane::pppoe::wire::{kind, DiscoveryRepr, EthHeader, FrameWriter, Tag};
use libfuzzer_sys::fuzz_target;
use vr::{PortId, VrId};
use wire::pppoe::{Code, PppoeHeader};

const AC: [u8; 6] = [2, 0, 0, 0, 0, 0xac];
const IFACES: [(PortId, Option<u16>); 3] =
    [(PortId(1), None), (PortId(1), Some(10)), (PortId(2), None)];
const PER_PORT: u32 = 6;
const PER_IFACE: u32 = 4;
const PER_MAC: u32 = 2;
const MACS: usize = 8;

fn cfg(vr: u32) -> AccessConfig {
    AccessConfig {
        vr: VrId(vr),
        ac_name: "fuzz".into(),
        service_names: vec!["a".into(), "b".into()],
        max_sessions: PER_IFACE,
        max_sessions_per_mac: PER_MAC,
        padi_per_mac_per_sec: 3,
        max_payload: 1500,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut d = Discovery::new(
        [9; 32],
        Limits {
            max_sessions_per_port: PER_PORT,
            max_tracked_macs: 5,
        },
    );
    let mut now = Instant::now();
    for (p, v) in IFACES {
        d.configure(now, p, v, Some(cfg(1)));
    }
    // Cookies the clients got, by (interface, client).
    let mut cookies: HashMap<(usize, usize), Vec<u8>> = HashMap::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let (op, arg, len) = (rest[0], rest[1], usize::from(rest[2]));
        let body = &rest[3..];
        let body = &body[..len.min(body.len())];
        rest = &rest[3 + body.len()..];
        now += Duration::from_millis(u64::from(op >> 3) * 250);
        let i = usize::from(arg) % IFACES.len();
        let (port, vlan) = IFACES[i];
        let k = usize::from(arg >> 2) % MACS;
        let mac = [2, 0x10, 0, 0, 0, k as u8];
        match op & 7 {
            // A raw PPPoE header + payload from client k, broadcast or to us.
            0 | 1 => {
                let dst = if op & 1 == 0 { [0xff; 6] } else { AC };
                let eth = EthHeader {
                    dst,
                    src: mac,
                    vlan,
                };
                let mut f = vec![0u8; eth.len()];
                let w = FrameWriter::new(&eth, Code::Padi, 0, 0).finish();
                f.copy_from_slice(&w[..eth.len()]);
                f.extend_from_slice(body);
                d.handle_frame(now, port, AC, vlan, &f, eth.len());
            }
            // A PADI or PADR whose tags are the body, plus the cookie for a PADR.
            2 | 3 => {
                let padr = op & 7 == 3;
                let eth = EthHeader {
                    dst: if padr { AC } else { [0xff; 6] },
                    src: mac,
                    vlan,
                };
                let mut w =
                    FrameWriter::new(&eth, if padr { Code::Padr } else { Code::Padi }, 0, 64);
                let _ = w.tag(kind::SERVICE_NAME, if arg & 0x80 == 0 { b"a" } else { b"" });
                if padr {
                    let c = cookies.get(&(i, k)).cloned().unwrap_or_default();
                    let _ = w.tag(kind::AC_COOKIE, &c);
                }
                let mut f = w.finish();
                let l3 = eth.len();
                let n =
                    (u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize + body.len()).min(65535);
                f[l3 + 4..l3 + 6].copy_from_slice(&(n as u16).to_be_bytes());
                f.extend_from_slice(body);
                d.handle_frame(now, port, AC, vlan, &f, l3);
            }
            // A PADT from client k naming a session id from the body.
            4 => {
                let sid = body.first().map_or(0, |&b| {
                    d.sessions()
                        .map(|s| s.session)
                        .nth(usize::from(b) % 8)
                        .unwrap_or(u16::from(b))
                });
                let eth = EthHeader {
                    dst: AC,
                    src: mac,
                    vlan,
                };
                let f = FrameWriter::new(&eth, Code::Padt, sid, 0).finish();
                d.handle_frame(now, port, AC, vlan, &f, eth.len());
            }
            // A local close of some session.
            5 => {
                let pick = d
                    .sessions()
                    .nth(usize::from(arg) % 8)
                    .map(|s| (s.port, s.session));
                if let Some((p, s)) = pick {
                    assert!(d.close(now, p, s, DownReason::Local(Some("fuzz".into()))));
                }
            }
            // Reconfigure: remove, re-add, or move to another VR.
            _ => {
                let c = match arg & 3 {
                    0 => None,
                    1 => Some(cfg(1)),
                    _ => Some(cfg(2)),
                };
                d.configure(now, port, vlan, c);
            }
        }
        while let Some(o) = d.poll_output() {
            if let Output::Frame { port, frame } = o {
                let (et, _, l3) = l2_split(&frame).expect("an Ethernet frame");
                assert_eq!(et, 0x8863);
                let r = DiscoveryRepr::parse(&PppoeHeader::new_checked(&frame[l3..]).unwrap())
                    .expect("our frames parse");
                if r.code == Code::Pado {
                    let dst = frame[5] as usize % MACS;
                    let vlan = l2_split(&frame).unwrap().1;
                    if let Some(Tag::AcCookie(c)) = r.first(kind::AC_COOKIE) {
                        let idx = IFACES.iter().position(|&iface| iface == (port, vlan));
                        cookies.insert(
                            (idx.expect("a PADO on a configured interface"), dst),
                            c.clone(),
                        );
                    }
                }
            }
        }
        // Invariants.
        let mut ids = HashSet::new();
        let mut per_port: HashMap<PortId, u32> = HashMap::new();
        for s in d.sessions() {
            assert!((1..=0xfffe).contains(&s.session));
            assert!(ids.insert((s.port, s.session)), "id twice on a port");
            *per_port.entry(s.port).or_default() += 1;
        }
        assert!(per_port.values().all(|&n| n <= PER_PORT));
        for (p, v) in IFACES {
            assert!(d.interface_sessions(p, v) <= PER_IFACE);
        }
        assert!(d.tracked_macs() <= 5);
    }
});
