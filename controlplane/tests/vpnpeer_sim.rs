//! Deterministic simulations of the VPN peering channel (docs/protocols/vpn-peering.md):
//! four routers, VRs of two VPNs with overlapping prefixes, lossy and reordering L2TP
//! transport, a RADIUS server per router that checks CHAP-Password for real.
//!
//! Topology: R1 (10.255.0.1), R2, R3, R4. VPN A (100) on R1, R2, R3; VPN B (200) on R1,
//! R2, R4. Every VR announces 192.168.0.0/24 (overlap across VPNs and routers) plus its own
//! prefixes. The configuration maps are given to the engines as discovery would.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use controlplane::vpnpeer::engine::{Config, DownCause, Event};
use controlplane::vpnpeer::sim::SimNet;
use controlplane::vpnpeer::wire::{IpPrefix, RouteOp};
use vr::{Prefix4, Prefix6};

const A: u32 = 100;
const B: u32 = 200;
const SECRET_A: &[u8] = b"vpn-a-secret";
const SECRET_B: &[u8] = b"vpn-b-secret";
const HOLD: Duration = Duration::from_secs(30);

fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, n)
}

fn p4(a: [u8; 4], len: u8) -> IpPrefix {
    IpPrefix::V4(Prefix4::new(u32::from_be_bytes(a), len).unwrap())
}

/// Routes of VR `vpn` on router `n`: the shared 192.168.0.0/24, one /24 per router, one
/// IPv6 /64; labels distinct per (VPN, router).
fn routes_of(vpn: u32, n: u8) -> Vec<RouteOp> {
    let label = 1000 + vpn * 10 + u32::from(n);
    let v6 = (0x2001_0db8u128 << 96) | (u128::from(vpn) << 80) | (u128::from(n) << 64);
    vec![
        RouteOp {
            prefix: p4([192, 168, 0, 0], 24),
            label,
            withdraw: false,
        },
        RouteOp {
            prefix: p4([10, n, (vpn / 100) as u8, 0], 24),
            label,
            withdraw: false,
        },
        RouteOp {
            prefix: IpPrefix::V6(Prefix6::new(v6, 64).unwrap()),
            label,
            withdraw: false,
        },
    ]
}

fn members(vpn: u32) -> &'static [u8] {
    if vpn == A {
        &[1, 2, 3]
    } else {
        &[1, 2, 4]
    }
}

fn cfg(n: u8) -> Config {
    let mut c = Config::new(rid(n));
    c.hold_time = HOLD;
    c.reconnect_interval = Duration::from_secs(2);
    c.auth_timeout = Duration::from_secs(10);
    c.l2tp.hello_interval = Duration::from_secs(1);
    c.l2tp.retransmit_initial = Duration::from_millis(200);
    c.l2tp.retransmit_cap = Duration::from_secs(1);
    c.l2tp.max_retransmits = 4;
    c.l2tp.ack_delay = Duration::from_millis(20);
    c
}

/// Builds the network: `wrong_b_on_4`: R4's VR of VPN B holds a wrong secret.
fn build(seed: u64, loss: f64, wrong_b_on_4: bool) -> SimNet {
    let mut net = SimNet::new(seed, Instant::now());
    net.loss = loss;
    net.jitter = Duration::from_millis(15);
    for n in 1..=4u8 {
        let i = net.add_node(cfg(n), seed * 16 + u64::from(n));
        // Each router's RADIUS server knows every VR of the VPNs it serves.
        for vpn in [A, B] {
            if !members(vpn).contains(&n) {
                continue;
            }
            let secret = if vpn == A { SECRET_A } else { SECRET_B };
            for m in members(vpn) {
                net.nodes[i]
                    .radius
                    .add_user(&format!("{vpn}/{}", rid(*m)), secret);
            }
        }
    }
    for vpn in [A, B] {
        for &n in members(vpn) {
            let i = net.index_of(rid(n)).unwrap();
            let secret = match vpn {
                B if n == 4 && wrong_b_on_4 => b"not-the-vpn-b-secret".as_slice(),
                A => SECRET_A,
                _ => SECRET_B,
            };
            net.with(i, |e, now| {
                e.add_vr(vpn, secret);
                e.update(now, vpn, &routes_of(vpn, n)).unwrap();
            });
        }
    }
    // The configuration maps (what discovery gives each VR).
    for vpn in [A, B] {
        for &n in members(vpn) {
            let i = net.index_of(rid(n)).unwrap();
            for &m in members(vpn) {
                if m != n {
                    let addr = net.nodes[net.index_of(rid(m)).unwrap()].addr;
                    net.with(i, |e, now| e.add_peer(now, vpn, rid(m), addr).unwrap());
                }
            }
        }
    }
    net
}

/// The routes router `n` must hold for `vpn`: every route of every other live member, via
/// that member, with its label.
fn expected(vpn: u32, n: u8, skip: &[u8]) -> BTreeMap<(u32, IpPrefix, Ipv4Addr), u32> {
    let mut want = BTreeMap::new();
    if !members(vpn).contains(&n) || skip.contains(&n) {
        return want;
    }
    for &m in members(vpn) {
        if m == n || skip.contains(&m) {
            continue;
        }
        for r in routes_of(vpn, m) {
            want.insert((vpn, r.prefix, rid(m)), r.label);
        }
    }
    want
}

/// Checks router `n`'s routes against the truth, exactly.
fn check_fib(net: &SimNet, n: u8, skip: &[u8]) {
    let node = &net.nodes[net.index_of(rid(n)).unwrap()];
    for vpn in [A, B] {
        let got: BTreeMap<_, _> = node
            .fib
            .iter()
            .filter(|((v, _, _), _)| *v == vpn)
            .map(|(k, v)| (*k, *v))
            .collect();
        assert_eq!(got, expected(vpn, n, skip), "router {n} VPN {vpn}");
    }
    assert_eq!(
        node.bad_withdraws, 0,
        "router {n} saw withdraws of routes it did not hold"
    );
}

fn withdraws_via(net: &SimNet, n: u8, via: Ipv4Addr) -> usize {
    net.nodes[net.index_of(rid(n)).unwrap()]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Withdraw { via: v, .. } if *v == via))
        .count()
}

#[test]
fn channels_converge_with_loss_and_reordering_and_vpns_stay_apart() {
    for seed in 1..=4 {
        let mut net = build(seed, 0.1, false);
        net.run_for(Duration::from_secs(60));
        for n in 1..=4 {
            check_fib(&net, n, &[]);
        }
        // R4 is in VPN B only: it holds nothing of VPN A; R3 nothing of VPN B.
        let r4 = &net.nodes[3];
        assert!(r4.fib.keys().all(|(v, _, _)| *v == B));
        let r3 = &net.nodes[2];
        assert!(r3.fib.keys().all(|(v, _, _)| *v == A));
        let c = net.nodes[0].engine.counters();
        assert_eq!(c.peers_up, 4, "R1 has 2 peers in A and 2 in B: {c:?}");
        assert_eq!(c.auth_rejects, 0);
        assert!(net.lost > 0, "the run had loss");
        assert!(
            net.nodes[0].engine.l2tp_counters().tx_retransmits > 0
                || net.nodes[1].engine.l2tp_counters().tx_retransmits > 0
        );

        // Incremental: R2 adds a route to A and withdraws its own /24 of A.
        let i2 = 1;
        let extra = RouteOp {
            prefix: p4([172, 16, 2, 0], 24),
            label: 4242,
            withdraw: false,
        };
        let gone = RouteOp {
            prefix: p4([10, 2, 1, 0], 24),
            label: 0,
            withdraw: true,
        };
        net.with(i2, |e, now| e.update(now, A, &[extra, gone]).unwrap());
        net.run_for(Duration::from_secs(10));
        for n in [1u8, 3] {
            let fib = &net.nodes[usize::from(n - 1)].fib;
            assert_eq!(
                fib.get(&(A, extra.prefix, rid(2))),
                Some(&4242),
                "router {n}"
            );
            assert_eq!(fib.get(&(A, gone.prefix, rid(2))), None, "router {n}");
        }
        // VPN B never sees it.
        for n in [1usize, 4] {
            assert!(net.nodes[n - 1]
                .fib
                .keys()
                .all(|k| !(k.0 == B && k.1 == extra.prefix)));
        }
    }
}

#[test]
fn silent_peer_is_held_then_withdrawn_everywhere_after_the_hold_time() {
    let mut net = build(7, 0.02, false);
    net.run_for(Duration::from_secs(30));
    for n in 1..=4 {
        check_fib(&net, n, &[]);
    }
    net.nodes[2].silent = true; // R3 (VPN A) goes silent.
    let t0 = net.elapsed();
    // Detection (HELLO unanswered, retransmissions exhausted) takes a few seconds; during
    // the hold time R3's routes stay.
    net.run_for(HOLD / 2);
    for n in [1u8, 2] {
        let node = &net.nodes[usize::from(n - 1)];
        assert!(node.engine.peer_is_held(A, rid(3)), "router {n} holds R3");
        let (held_at, _) = node
            .events
            .iter()
            .find(|(_, e)| matches!(e, Event::PeerHeld { vpn_id: A, router, .. } if *router == rid(3)))
            .expect("R3 held");
        // Detected by the monitor: HELLO after 1 s, then retransmissions 0.2 + 0.4 + 0.8 +
        // 1 + 1 s (a retransmission lost to the 2 % loss just before can add a little).
        let detect = *held_at - t0;
        println!("router {n}: R3 held {detect:?} after it went silent");
        assert!(
            detect > Duration::from_secs(3) && detect < Duration::from_secs(8),
            "{detect:?}"
        );
        check_fib(&net, n, &[]);
    }
    net.run_for(HOLD);
    for n in [1u8, 2] {
        check_fib(&net, n, &[3]);
        let node = &net.nodes[usize::from(n - 1)];
        assert_eq!(node.engine.counters().hold_expiries, 1, "router {n}");
        let (at, _) = node
            .events
            .iter()
            .find(|(_, e)| matches!(e, Event::PeerDown { vpn_id: A, router, cause: DownCause::HoldExpired } if *router == rid(3)))
            .expect("R3 released");
        // Withdrawn after the hold time, not before.
        assert!(*at >= t0 + HOLD, "released at {at:?}, silent at {t0:?}");
        assert_eq!(node.engine.routes_from(A, rid(3)), None);
    }
    // VPN B was never disturbed.
    for n in [1u8, 2, 4] {
        assert_eq!(withdraws_via(&net, n, rid(4)), 0);
    }
}

#[test]
fn silent_peer_back_within_the_hold_time_loses_nothing() {
    let mut net = build(11, 0.02, false);
    net.run_for(Duration::from_secs(30));
    net.nodes[2].silent = true;
    net.run_for(HOLD / 2);
    assert!(net.nodes[0].engine.peer_is_held(A, rid(3)));
    net.nodes[2].silent = false;
    net.run_for(HOLD * 2);
    for n in 1..=4 {
        check_fib(&net, n, &[]);
        for m in 1..=4 {
            assert_eq!(
                withdraws_via(&net, n, rid(m)),
                0,
                "router {n} withdrew routes of {m}"
            );
        }
    }
    for n in [1u8, 2] {
        let node = &net.nodes[usize::from(n - 1)];
        assert!(node.engine.peer_is_up(A, rid(3)), "router {n}");
        assert!(node.engine.counters().hold_recoveries >= 1, "router {n}");
        assert_eq!(node.engine.counters().hold_expiries, 0);
    }
    // After the recovery, incremental updates flow again: R3 withdraws its /24.
    let gone = RouteOp {
        prefix: p4([10, 3, 1, 0], 24),
        label: 0,
        withdraw: true,
    };
    net.with(2, |e, now| e.update(now, A, &[gone]).unwrap());
    net.run_for(Duration::from_secs(5));
    for n in [1usize, 2] {
        assert!(!net.nodes[n - 1].fib.contains_key(&(A, gone.prefix, rid(3))));
    }
}

#[test]
fn wrong_vpn_secret_is_refused_and_counted() {
    let mut net = build(5, 0.0, true);
    net.run_for(Duration::from_secs(60));
    // R1 and R2 refused R4's VR of VPN B through their RADIUS servers.
    for n in [1usize, 2] {
        let node = &net.nodes[n - 1];
        assert!(node.engine.counters().auth_rejects >= 1, "router {n}");
        assert!(node.radius.counters().rejects >= 1, "router {n}");
        assert!(!node.engine.peer_is_up(B, rid(4)));
        assert_eq!(
            node.engine
                .routes_from(B, rid(4))
                .map(|r| r.len())
                .unwrap_or(0),
            0
        );
        assert!(node.events.iter().any(
            |(_, e)| matches!(e, Event::AuthRejected { vpn_id: B, router } if *router == rid(4))
        ));
        // Not retried: one rejection each.
        assert_eq!(node.engine.counters().auth_rejects, 1, "router {n}");
    }
    // R4 stopped: refused by both, installed nothing.
    let r4 = &net.nodes[3];
    assert_eq!(r4.engine.counters().refused_by_peer, 2);
    assert!(r4.fib.is_empty());
    assert_eq!(r4.engine.peer_count(), 0);
    // Everything else converged (R1 and R2 exchange VPN B without R4).
    for n in 1..=3 {
        check_fib(&net, n, &[4]);
    }
}

#[test]
fn a_peer_not_in_the_map_is_refused() {
    let mut net = build(3, 0.0, false);
    // R3 believes R4 holds a VR of VPN A (a stale or forged map entry); R4 has none.
    let addr4 = net.nodes[3].addr;
    net.with(2, |e, now| e.add_peer(now, A, rid(4), addr4).unwrap());
    net.run_for(Duration::from_secs(20));
    assert!(net.nodes[3].engine.counters().unknown_peer >= 1);
    assert!(!net.nodes[2].engine.peer_is_up(A, rid(4)));
    for n in 1..=4 {
        check_fib(&net, n, &[]);
    }
}

#[test]
fn route_limit_per_peer_is_enforced_and_counted() {
    let mut net = SimNet::new(9, Instant::now());
    let mut c1 = cfg(1);
    c1.max_routes_per_peer = 100;
    net.add_node(c1, 1);
    net.add_node(cfg(2), 2);
    for i in 0..2 {
        for m in [1u8, 2] {
            net.nodes[i]
                .radius
                .add_user(&format!("{A}/{}", rid(m)), SECRET_A);
        }
        net.with(i, |e, _| e.add_vr(A, SECRET_A));
    }
    let many: Vec<RouteOp> = (0..250u32)
        .map(|k| RouteOp {
            prefix: IpPrefix::V4(Prefix4::new((20 << 24) | (k << 8), 24).unwrap()),
            label: 5000,
            withdraw: false,
        })
        .collect();
    net.with(1, |e, now| e.update(now, A, &many).unwrap());
    let (a1, a2) = (net.nodes[0].addr, net.nodes[1].addr);
    net.with(0, |e, now| e.add_peer(now, A, rid(2), a2).unwrap());
    net.with(1, |e, now| e.add_peer(now, A, rid(1), a1).unwrap());
    net.run_for(Duration::from_secs(10));
    let c = net.nodes[0].engine.counters();
    assert_eq!(net.nodes[0].fib.len(), 100);
    assert_eq!(c.routes_over_limit, 150);
    assert_eq!(c.routes_rx, 250);
}

#[test]
fn discovery_map_changes_drive_the_peers() {
    use controlplane::discovery::Event as D;
    use std::net::IpAddr;
    let mut net = SimNet::new(21, Instant::now());
    for n in 1..=2u8 {
        let i = net.add_node(cfg(n), u64::from(n));
        for m in 1..=2u8 {
            net.nodes[i]
                .radius
                .add_user(&format!("{A}/{}", rid(m)), SECRET_A);
        }
        net.with(i, |e, now| {
            e.add_vr(A, SECRET_A);
            e.update(now, A, &routes_of(A, n)).unwrap();
        });
    }
    let ip = |i: usize| -> IpAddr { net.nodes[i].addr.ip() };
    let (ip0, ip1) = (ip(0), ip(1));
    let learnt = |router, addr| D::PeerLearnt {
        vpn_id: A,
        router,
        addr,
    };
    assert!(net.with(0, |e, now| e
        .on_discovery(now, learnt(rid(2), ip1), 1701)
        .unwrap()));
    assert!(net.with(1, |e, now| e
        .on_discovery(now, learnt(rid(1), ip0), 1701)
        .unwrap()));
    // Another VPN's map change: not ours.
    let other = D::PeerLearnt {
        vpn_id: B,
        router: rid(2),
        addr: ip1,
    };
    assert!(!net.with(0, |e, now| e.on_discovery(now, other, 1701).unwrap()));
    net.run_for(Duration::from_secs(5));
    assert!(net.nodes[0].engine.peer_is_up(A, rid(2)));
    assert_eq!(net.nodes[0].fib.len(), 3);
    // R2's VR leaves the map: its routes go at once.
    let lost = D::PeerLost {
        vpn_id: A,
        router: rid(2),
        addr: ip1,
    };
    assert!(net.with(0, |e, now| e.on_discovery(now, lost, 1701).unwrap()));
    assert!(net.nodes[0].fib.is_empty());
    assert_eq!(net.nodes[0].engine.peer_count(), 0);
}
