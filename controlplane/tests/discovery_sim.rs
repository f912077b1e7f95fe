//! Deterministic simulations of VR discovery (issue 15, `docs/protocols/vr-discovery.md`):
//! real [`Engine`]s of N provider routers on the virtual clock of
//! [`controlplane::discovery::sim`], a network that loses, duplicates and reorders datagrams
//! by seed. Scenarios: 1,000 VRs across 10 PEs (VPNs on all PEs, on two, on one) joining,
//! leaving and flapping, at 0, 10 and 30 % loss with reordering and duplicates; a router with
//! a wrong VPN key; replayed and forged datagrams; and a seed loop over smaller networks.
//!
//! The truth is computed from the scenario alone (which VR exists where, with which address,
//! whether the router holds the VPN's right key), never from the engines.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use controlplane::discovery::sim::{NetModel, SimNet};
use controlplane::discovery::wire::{kind, Repr, VpnKey};
use controlplane::discovery::{Config, Counters, Engine, Event};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Re-announcement period of the simulated routers (the default is 300 s; shorter here so
/// that the virtual runs are short; the protocol is the same).
const REFRESH: Duration = Duration::from_secs(120);

fn router(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, i as u8 + 1)
}

fn secret(vpn: u32) -> Vec<u8> {
    format!("discovery secret of VPN {vpn:08}").into_bytes()
}

/// The address of generation `gen` of VPN `vpn`'s VR on router `i`: distinct per VPN, so a
/// VR of another VPN in a map cannot pass for one of this VPN.
fn vr_addr(vpn: u32, i: usize, gen: u32) -> IpAddr {
    let host = (i as u32 * 10 + gen % 10) as u16;
    if vpn.is_multiple_of(7) {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, vpn as u16, 0, 0, 0, 0, host))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, (vpn >> 8) as u8, vpn as u8, host as u8))
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Add { vpn: u32, gen: u32 },
    Remove { vpn: u32 },
}

/// A scenario: keys per router, and a timed list of VR additions and removals.
struct Scenario {
    routers: usize,
    /// (router, VPN) → holds the right key (`false`: a wrong key for that VPN).
    keys: BTreeMap<(usize, u32), bool>,
    /// (virtual time, router, action), sorted by time.
    actions: Vec<(Duration, usize, Action)>,
}

impl Scenario {
    /// `all` VPNs on every router, `two` on two routers, `one` on one; VR additions spread
    /// over the first 2 s. Then, from 10 s: `leave` VRs removed for good, `flap` VRs removed
    /// and re-added three times within a few seconds (some with a new address), and a few VRs
    /// that join late. Router `routers - 1` holds a wrong key for the first all-router VPN.
    fn generate(
        seed: u64,
        routers: usize,
        (all, two, one): (u32, u32, u32),
        leave: usize,
        flap: usize,
    ) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_D15C);
        let mut keys = BTreeMap::new();
        let mut actions = Vec::new();
        let mut placed: Vec<(usize, u32)> = Vec::new();
        let mut vpn = 1;
        let mut place = |vpn: u32, rs: Vec<usize>, rng: &mut StdRng| {
            for i in rs {
                keys.insert((i, vpn), true);
                let at = Duration::from_millis(rng.random_range(0..2000));
                actions.push((at, i, Action::Add { vpn, gen: 0 }));
                placed.push((i, vpn));
            }
        };
        for _ in 0..all {
            place(vpn, (0..routers).collect(), &mut rng);
            vpn += 1;
        }
        for _ in 0..two {
            let a = rng.random_range(0..routers);
            let b = (a + rng.random_range(1..routers)) % routers;
            place(vpn, vec![a, b], &mut rng);
            vpn += 1;
        }
        for _ in 0..one {
            place(vpn, vec![rng.random_range(0..routers)], &mut rng);
            vpn += 1;
        }
        // Some routers hold keys of VPNs they host no VR of (they must stay silent).
        for _ in 0..(all + two + one) / 4 {
            let v = rng.random_range(1..vpn);
            let i = rng.random_range(0..routers);
            keys.entry((i, v)).or_insert(true);
        }
        if all > 0 {
            keys.insert((routers - 1, 1), false);
        }
        // Leaving and flapping VRs are distinct ones.
        let mut chosen = BTreeSet::new();
        while chosen.len() < (leave + flap).min(placed.len()) {
            chosen.insert(rng.random_range(0..placed.len()));
        }
        let chosen: Vec<usize> = chosen.into_iter().collect();
        for (n, &k) in chosen.iter().enumerate() {
            let (i, v) = placed[k];
            let t0 = Duration::from_secs(10) + Duration::from_millis(rng.random_range(0..3000));
            actions.push((t0, i, Action::Remove { vpn: v }));
            if n >= leave {
                // Three flaps: re-added (half of the time at a new address), removed again,
                // and finally re-added; the steps are closer than the retransmission interval.
                let mut t = t0;
                for k in 1..=3 {
                    t += Duration::from_millis(rng.random_range(1..400));
                    let gen = if rng.random_bool(0.5) { k } else { 0 };
                    actions.push((t, i, Action::Add { vpn: v, gen }));
                    if k < 3 {
                        t += Duration::from_millis(rng.random_range(1..400));
                        actions.push((t, i, Action::Remove { vpn: v }));
                    }
                }
            }
        }
        // Late joiners: VPNs of two routers gain a third.
        for v in (all + 1..=all + two).step_by(17) {
            let i = (0..routers).find(|i| !placed.contains(&(*i, v)));
            if let Some(i) = i {
                keys.insert((i, v), true);
                let at = Duration::from_secs(12) + Duration::from_millis(rng.random_range(0..500));
                actions.push((at, i, Action::Add { vpn: v, gen: 5 }));
            }
        }
        actions.sort_by_key(|(t, i, _)| (*t, *i));
        Scenario {
            routers,
            keys,
            actions,
        }
    }

    /// Local VRs after the actions up to `until`: (router, VPN) → address.
    fn state(&self, until: Duration) -> BTreeMap<(usize, u32), IpAddr> {
        let mut s = BTreeMap::new();
        for (t, i, a) in &self.actions {
            if *t > until {
                break;
            }
            match *a {
                Action::Add { vpn, gen } => {
                    s.insert((*i, vpn), vr_addr(vpn, *i, gen));
                }
                Action::Remove { vpn } => {
                    s.remove(&(*i, vpn));
                }
            }
        }
        s
    }

    /// Every VR that ever existed with the right key: (VPN, router id, address).
    fn ever_visible(&self) -> BTreeSet<(u32, Ipv4Addr, IpAddr)> {
        self.actions
            .iter()
            .filter_map(|(_, i, a)| match *a {
                Action::Add { vpn, gen } if self.keys[&(*i, vpn)] => {
                    Some((vpn, router(*i), vr_addr(vpn, *i, gen)))
                }
                _ => None,
            })
            .collect()
    }

    /// The configuration maps the routers must converge to: for each existing VR whose router
    /// holds the right key, every other existing VR of the VPN whose router holds it too. A VR
    /// with a wrong key sees nobody and nobody sees it.
    fn truth(&self, until: Duration) -> BTreeMap<(usize, u32), BTreeMap<Ipv4Addr, IpAddr>> {
        let state = self.state(until);
        let mut maps = BTreeMap::new();
        for (&(i, v), _) in state.iter() {
            let mut m = BTreeMap::new();
            if self.keys[&(i, v)] {
                for (&(j, w), &addr) in state.iter() {
                    if w == v && j != i && self.keys[&(j, w)] {
                        m.insert(router(j), addr);
                    }
                }
            }
            maps.insert((i, v), m);
        }
        maps
    }

    fn end(&self) -> Duration {
        self.actions.last().map(|a| a.0).unwrap_or_default()
    }

    fn network(&self, model: NetModel, seed: u64, start: Instant) -> SimNet {
        let ids: Vec<Ipv4Addr> = (0..self.routers).map(router).collect();
        let engines = (0..self.routers)
            .map(|i| {
                let mut c = Config::new(router(i), ids.clone(), 1_000_000 * (i as u64 + 1));
                c.refresh = Some(REFRESH);
                let mut e = Engine::new(c);
                for (&(j, v), &right) in &self.keys {
                    if j == i {
                        let s = if right {
                            secret(v)
                        } else {
                            b"a wrong secret for this VPN!".to_vec()
                        };
                        e.set_key(v, &s).unwrap();
                    }
                }
                e
            })
            .collect();
        SimNet::new(engines, model, seed, start)
    }
}

/// Plays the scenario's actions on `net` (whose clock started at `start`).
fn play(net: &mut SimNet, sc: &Scenario, start: Instant) {
    for &(t, i, a) in &sc.actions {
        net.run_until(start + t);
        net.with_engine(i, |e, now| match a {
            Action::Add { vpn, gen } => e.add_vr(now, vpn, vr_addr(vpn, i, gen)).unwrap(),
            Action::Remove { vpn } => e.remove_vr(now, vpn).unwrap(),
        });
    }
}

/// Every engine's maps equal the truth: same local VRs, same peers, same addresses.
fn assert_converged(net: &SimNet, sc: &Scenario, what: &str) {
    let truth = sc.truth(sc.end());
    let mut got = BTreeMap::new();
    for (i, e) in net.engines().iter().enumerate() {
        for &(j, v) in sc.keys.keys() {
            if j == i {
                if let Some(m) = e.config_map(v) {
                    got.insert((i, v), m.clone());
                }
            }
        }
    }
    if got != truth {
        let wrong: Vec<_> = truth
            .iter()
            .filter(|(k, m)| got.get(k) != Some(m))
            .take(5)
            .map(|(k, m)| format!("{k:?}: want {m:?}, have {:?}", got.get(k)))
            .collect();
        panic!(
            "{what}: {} of {} maps differ from the truth at {:?}, e.g. {wrong:#?}",
            truth.iter().filter(|(k, m)| got.get(k) != Some(m)).count(),
            truth.len(),
            net.elapsed()
        );
    }
}

/// No map ever held a VR that did not exist in that VPN with the right key (another VPN's
/// VR, the wrong-key router's VR, a forged one).
fn assert_no_foreign_vr(net: &SimNet, sc: &Scenario) {
    let ok = sc.ever_visible();
    for (at, i, ev) in net.events() {
        if let Event::PeerLearnt {
            vpn_id,
            router: r,
            addr,
        } = *ev
        {
            assert!(
                ok.contains(&(vpn_id, r, addr)),
                "router {i} learnt {r} {addr} in VPN {vpn_id} at {at:?}: no such VR"
            );
            assert!(
                sc.keys[&(*i, vpn_id)],
                "router {i} with a wrong key for VPN {vpn_id} learnt {r}"
            );
        }
    }
}

fn sum(net: &SimNet, f: impl Fn(&Counters) -> u64) -> u64 {
    net.engines().iter().map(|e| f(e.counters())).sum()
}

/// Runs the scenario: actions, then long enough for the retransmissions and three
/// re-announcement rounds; checks convergence and the absence of foreign VRs.
fn run_scenario(sc: &Scenario, model: NetModel, seed: u64) -> SimNet {
    let start = Instant::now();
    let mut net = sc.network(model, seed, start);
    play(&mut net, sc, start);
    let what = format!("seed {seed}, {model:?}");
    if model.loss == 0.0 {
        // Without loss the first exchange suffices, however reordered and duplicated: the
        // maps must be right before any re-announcement could repair them.
        let before_refresh = start + sc.end() + Duration::from_secs(50);
        assert!(before_refresh < start + REFRESH);
        net.run_until(before_refresh);
        assert_eq!(sum(&net, |c| c.refreshes), 0);
        assert_converged(&net, sc, &format!("{what}, before any re-announcement"));
    }
    net.run_until(start + sc.end() + 3 * REFRESH + Duration::from_secs(60));
    assert_converged(&net, sc, &what);
    assert_no_foreign_vr(&net, sc);
    // The wrong-key router's VR was refused by the others, counted as an unknown key id.
    if sc.keys.get(&(sc.routers - 1, 1)) == Some(&false) {
        assert!(sum(&net, |c| c.rx_unknown_key) > 0, "{what}");
    }
    net
}

fn lossy(loss: f64) -> NetModel {
    NetModel {
        delay: Duration::from_millis(5),
        // Larger than the spacing of a burst's datagrams: reorders them.
        jitter: Duration::from_millis(40),
        loss,
        duplicate: 0.02,
    }
}

/// 1,000 VRs across 10 PEs: 50 VPNs on all ten (500 VRs), 200 on two (400), 100 on one.
fn big(seed: u64) -> Scenario {
    let sc = Scenario::generate(seed, 10, (50, 200, 100), 60, 60);
    assert_eq!(
        sc.actions
            .iter()
            .filter(|a| matches!(a.2, Action::Add { gen: 0, .. }) && a.0 < Duration::from_secs(2))
            .count(),
        1000
    );
    sc
}

#[test]
fn thousand_vrs_ten_pes_no_loss() {
    let sc = big(1);
    let net = run_scenario(&sc, lossy(0.0), 1);
    assert_eq!(net.stats().lost, 0);
    assert!(net.stats().duplicated > 0);
    // Duplicates are refused as replays; nothing fails authentication on a clean network
    // (the wrong-key router's traffic has another key id).
    assert!(sum(&net, |c| c.rx_replay) > 0);
    assert_eq!(sum(&net, |c| c.rx_bad_auth + c.rx_malformed), 0);
}

#[test]
fn thousand_vrs_ten_pes_10_percent_loss() {
    let sc = big(2);
    let net = run_scenario(&sc, lossy(0.10), 2);
    assert!(net.stats().lost > 0);
    assert!(sum(&net, |c| c.retransmits) > 0);
}

#[test]
fn thousand_vrs_ten_pes_30_percent_loss() {
    let sc = big(3);
    let net = run_scenario(&sc, lossy(0.30), 3);
    // At 30 % some exchanges fail all six transmissions: the re-announcement repaired them.
    assert!(sum(&net, |c| c.gave_up) > 0);
    assert!(sum(&net, |c| c.refreshes) > 0);
}

/// Many seeds over smaller networks: 3–6 routers, every loss rate, reordering, duplicates,
/// joins, leaves and flaps.
#[test]
fn seed_loop_small_networks() {
    for seed in 0..48u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let routers = rng.random_range(3..7);
        let sc = Scenario::generate(seed, routers, (2, 4, 2), 2, 3);
        let loss = [0.0, 0.1, 0.3][seed as usize % 3];
        let mut model = lossy(loss);
        model.jitter = Duration::from_millis(rng.random_range(0..200));
        model.duplicate = rng.random_range(0.0..0.2);
        run_scenario(&sc, model, seed);
    }
}

/// Replayed datagrams (every datagram of a window of traffic, re-injected) and forged ones
/// (altered ciphertext, made-up key id, right key id with a wrong key, truncated) are
/// dropped, each under its counter, and change no map.
#[test]
fn replayed_and_forged_datagrams_are_dropped_and_counted() {
    let sc = Scenario::generate(7, 4, (2, 3, 1), 0, 0);
    let start = Instant::now();
    let mut net = sc.network(NetModel::perfect(Duration::from_millis(5)), 7, start);
    play(&mut net, &sc, start);
    net.run_until(start + Duration::from_secs(60));
    assert_converged(&net, &sc, "before the attack");
    // A window of traffic: router 0 re-adds one VR (new sequence numbers everywhere).
    net.record(true);
    let (i, v) = (0, 1);
    net.with_engine(i, |e, now| {
        e.remove_vr(now, v).unwrap();
        e.add_vr(now, v, vr_addr(v, i, 0)).unwrap();
    });
    net.run_until(start + Duration::from_secs(61));
    let log = net.take_log();
    net.record(false);
    assert!(!log.is_empty());
    // Wait until nothing is in flight or due for a while, so that the counters below move
    // only because of the injections.
    net.run_until(start + Duration::from_secs(100));
    let quiet_until = net
        .engines()
        .iter()
        .filter_map(|e| e.poll_timeout())
        .min()
        .unwrap();
    assert!(quiet_until > net.now() + Duration::from_secs(1));
    assert_eq!(net.in_flight(), 0);

    let before: Vec<Counters> = net.engines().iter().map(|e| e.counters().clone()).collect();
    let maps_before: Vec<_> = net
        .engines()
        .iter()
        .map(|e| {
            (1..=6)
                .map(|v| e.config_map(v).cloned())
                .collect::<Vec<_>>()
        })
        .collect();
    let holds = |j: usize, v: u32| sc.keys.get(&(j, v)) == Some(&true);
    let mut want_replay = vec![0u64; sc.routers];
    let mut want_unknown_key = vec![0u64; sc.routers];
    for c in &log {
        let j = net.index_of(c.to).unwrap();
        if holds(j, v) {
            want_replay[j] += 1;
        } else {
            want_unknown_key[j] += 1;
        }
        net.inject(c.to, c.payload.clone());
    }
    // Forgeries against router 1, which holds VPN 1's key.
    let target = router(1);
    let sample = log
        .iter()
        .find(|c| c.to == target)
        .expect("traffic to router 1")
        .payload
        .clone();
    let mut flipped = sample.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x01; // ciphertext byte
    net.inject(target, flipped);
    let mut made_up_key_id = sample.clone();
    made_up_key_id[4..12].copy_from_slice(&[0xEE; 8]);
    net.inject(target, made_up_key_id);
    let wrong = VpnKey::derive(b"a guess at the secret of VPN 1").unwrap();
    let mut wrong_key = Repr {
        msg_type: kind::ADDITION,
        sender: router(2),
        seq: u64::MAX - 1,
        vpn_id: v,
        ack_seq: 0,
        vr_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66)),
    }
    .seal(&wrong)
    .unwrap();
    wrong_key[4..12].copy_from_slice(&sample[4..12]);
    net.inject(target, wrong_key);
    net.inject(target, sample[..30].to_vec());
    net.run_for(Duration::from_millis(500));
    assert!(net.now() < quiet_until);

    for (j, e) in net.engines().iter().enumerate() {
        let (b, c) = (&before[j], e.counters());
        let forged = usize::from(j == 1);
        assert_eq!(
            c.rx_replay - b.rx_replay,
            want_replay[j],
            "router {j} replays"
        );
        assert_eq!(
            c.rx_unknown_key - b.rx_unknown_key,
            want_unknown_key[j] + forged as u64,
            "router {j} unknown key ids"
        );
        assert_eq!(
            c.rx_bad_auth - b.rx_bad_auth,
            2 * forged as u64,
            "router {j}"
        );
        assert_eq!(c.rx_malformed - b.rx_malformed, forged as u64, "router {j}");
        assert_eq!(c.rx_ok, b.rx_ok, "router {j} accepted an injected datagram");
        assert_eq!(
            c.tx_ack, b.tx_ack,
            "router {j} answered an injected datagram"
        );
    }
    let maps_after: Vec<_> = net
        .engines()
        .iter()
        .map(|e| {
            (1..=6)
                .map(|v| e.config_map(v).cloned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(maps_before, maps_after);
    assert_no_foreign_vr(&net, &sc);
}

/// The same seed gives the same run, datagram for datagram.
#[test]
fn runs_are_deterministic() {
    let sc = Scenario::generate(11, 5, (2, 4, 2), 2, 3);
    let a = run_scenario(&sc, lossy(0.3), 11);
    let b = run_scenario(&sc, lossy(0.3), 11);
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.events(), b.events());
    let c = run_scenario(&sc, lossy(0.3), 12);
    assert_ne!(a.stats(), c.stats());
}
