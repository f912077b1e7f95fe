//! Deterministic two-engine simulations of the L2TP engine: a virtual clock and a network
//! with latency, loss, duplication and reordering driven by a seeded RNG.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::l2tp::engine::*;
use controlplane::l2tp::wire::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const A: &str = "10.0.0.1:1701";
const B: &str = "10.0.0.2:1701";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Net {
    rng: StdRng,
    loss: u32,
    dup: u32,
    reorder: u32,
    latency: Duration,
    /// (deliver at, to index, from, bytes)
    inflight: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    /// Every datagram sent, with the sender's index and time.
    log: Vec<(Instant, usize, Vec<u8>)>,
    /// Drop everything to this engine (a dead peer).
    dead: [bool; 2],
}

impl Net {
    fn new(seed: u64, loss: u32, dup: u32, reorder: u32) -> Self {
        Net {
            rng: StdRng::seed_from_u64(seed),
            loss,
            dup,
            reorder,
            latency: Duration::from_millis(20),
            inflight: Vec::new(),
            log: Vec::new(),
            dead: [false; 2],
        }
    }
}

struct Sim {
    now: Instant,
    e: [Engine<StdRng>; 2],
    net: Net,
    events: [Vec<Event>; 2],
}

impl Sim {
    fn new(a: Config, b: Config, seeds: (u64, u64), net: Net) -> Self {
        Sim {
            now: Instant::now(),
            e: [
                Engine::new(a, StdRng::seed_from_u64(seeds.0)),
                Engine::new(b, StdRng::seed_from_u64(seeds.1)),
            ],
            net,
            events: [Vec::new(), Vec::new()],
        }
    }

    fn pump(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.e[i].poll_transmit() {
                self.net.log.push((self.now, i, t.bytes.clone()));
                let to = if t.dst == addr(A) { 0 } else { 1 };
                assert!(
                    t.dst == addr(A) || t.dst == addr(B),
                    "sent to unknown {:?}",
                    t.dst
                );
                let from = if i == 0 { addr(A) } else { addr(B) };
                let roll = |n: &mut Net| n.rng.next_u32() % 100;
                if self.net.dead[to] || roll(&mut self.net) < self.net.loss {
                    continue;
                }
                let copies = if roll(&mut self.net) < self.net.dup {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let extra = if roll(&mut self.net) < self.net.reorder {
                        Duration::from_millis(u64::from(self.net.rng.next_u32() % 200))
                    } else {
                        Duration::ZERO
                    };
                    self.net.inflight.push((
                        self.now + self.net.latency + extra,
                        to,
                        from,
                        t.bytes.clone(),
                    ));
                }
            }
            while let Some(ev) = self.e[i].poll_event() {
                self.events[i].push(ev);
            }
        }
    }

    /// Runs until `dur` of virtual time has passed.
    fn run(&mut self, dur: Duration) {
        let end = self.now + dur;
        loop {
            self.pump();
            let next_net = self.net.inflight.iter().map(|x| x.0).min();
            let next = [next_net, self.e[0].poll_timeout(), self.e[1].poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                self.now = end;
                break;
            };
            if next > end {
                self.now = end;
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let (ready, rest): (Vec<_>, Vec<_>) =
                self.net.inflight.drain(..).partition(|x| x.0 <= now);
            self.net.inflight = rest;
            for (_, to, from, bytes) in ready {
                self.e[to].handle_input(now, from, &bytes);
            }
            for e in self.e.iter_mut() {
                if e.poll_timeout().is_some_and(|t| t <= now) {
                    e.handle_timeout(now);
                }
            }
        }
        self.pump();
    }

    fn ups(&self, i: usize) -> Vec<(u16, u16)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::TunnelUp {
                    tunnel,
                    peer_tunnel,
                    ..
                } => Some((*tunnel, *peer_tunnel)),
                _ => None,
            })
            .collect()
    }
    fn session_ups(&self, i: usize) -> Vec<(u16, u16)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::SessionUp {
                    session,
                    peer_session,
                    ..
                } => Some((*session, *peer_session)),
                _ => None,
            })
            .collect()
    }
}

fn cfg(role: Role, name: &str, secret: Option<&[u8]>) -> Config {
    let mut c = Config::new(role, name);
    c.secret = secret.map(|s| s.to_vec());
    c
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn tunnel_sessions_wen_sli_and_teardown_with_authentication() {
    let mut lac = cfg(Role::Lac, "lac", Some(b"tunnelsecret"));
    lac.hide_avps = true;
    let lns = cfg(Role::Lns, "lns", Some(b"tunnelsecret"));
    let mut s = Sim::new(lac, lns, (1, 2), Net::new(7, 0, 0, 0));
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    // A call placed before the tunnel is up waits for it.
    let s1 = s.e[0]
        .open_session(
            now,
            t,
            CallParams {
                calling_number: b"100".to_vec(),
                ..Default::default()
            },
        )
        .unwrap();
    s.run(secs(2));
    let (ua, ub) = (s.ups(0), s.ups(1));
    assert_eq!(ua.len(), 1);
    assert_eq!(ub.len(), 1);
    assert_eq!(
        (ua[0].0, ua[0].1),
        (ub[0].1, ub[0].0),
        "tunnel ids must pair up"
    );
    assert_eq!(s.e[0].tunnel_state(t), Some(TunnelState::Established));
    let tb = ub[0].0;
    assert!(s.events[1]
        .iter()
        .any(|e| matches!(e, Event::TunnelUp { peer_host_name, .. } if peer_host_name == b"lac")));
    // Incoming call LAC -> LNS.
    let (sa, sb) = (s.session_ups(0), s.session_ups(1));
    assert_eq!(sa, vec![(s1, sb[0].0)]);
    assert_eq!(sb, vec![(sb[0].0, s1)]);
    // Outgoing call LNS -> LAC.
    let now = s.now;
    let s2 = s.e[1]
        .open_session(
            now,
            tb,
            CallParams {
                called_number: b"200".to_vec(),
                ..Default::default()
            },
        )
        .unwrap();
    s.run(secs(2));
    assert_eq!(
        s.e[1].session_state(tb, s2),
        Some(SessionState::Established)
    );
    assert_eq!(s.session_ups(0).len(), 2);
    assert_eq!((s.e[0].session_count(), s.e[1].session_count()), (2, 2));
    // WEN from LAC, SLI from LNS.
    let now = s.now;
    let errs = CallErrors {
        crc_errors: 3,
        ..Default::default()
    };
    s.e[0].send_wen(now, t, s1, errs).unwrap();
    let lns_s1 = sb[0].0;
    s.e[1].send_sli(now, tb, lns_s1, 0xffff_ffff, 0).unwrap();
    assert!(matches!(
        s.e[1].send_wen(now, tb, lns_s1, errs),
        Err(EngineError::WrongSender { .. })
    ));
    s.run(secs(1));
    assert!(s.events[1].contains(&Event::WanErrorNotify {
        tunnel: tb,
        session: lns_s1,
        errors: errs
    }));
    assert!(s.events[0].contains(&Event::SetLinkInfo {
        tunnel: t,
        session: s1,
        send_accm: 0xffff_ffff,
        receive_accm: 0
    }));
    // CDN from the LAC.
    let now = s.now;
    s.e[0].close_session(now, t, s1).unwrap();
    s.run(secs(1));
    assert!(s.events[1].iter().any(|e| matches!(e, Event::SessionDown { session, reason: DownReason::Peer { result: 3, .. }, .. } if *session == lns_s1)));
    assert_eq!(s.e[1].session_count(), 1);
    // StopCCN from the LNS: the LAC's remaining session goes down with the tunnel.
    let now = s.now;
    s.e[1].close_tunnel(now, tb).unwrap();
    s.run(secs(40));
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::Peer { result: 1, .. },
            ..
        }
    )));
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::SessionDown {
            reason: DownReason::TunnelDown,
            ..
        }
    )));
    assert_eq!((s.e[0].tunnel_count(), s.e[1].tunnel_count()), (0, 0));
    assert_eq!((s.e[0].session_count(), s.e[1].session_count()), (0, 0));
    assert_eq!(
        s.e[0].counters().tunnel_auth_failures + s.e[1].counters().tunnel_auth_failures,
        0
    );
}

#[test]
fn wrong_secret_fails_authentication_on_both_sides() {
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", Some(b"one")),
        cfg(Role::Lns, "lns", Some(b"two")),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.run(secs(40));
    assert!(s.ups(0).is_empty() && s.ups(1).is_empty());
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::AuthFailed,
            ..
        }
    )));
    assert!(s.events[1].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::Peer { result: 4, .. },
            ..
        }
    )));
    assert_eq!(s.e[0].counters().tunnel_auth_failures, 1);
    assert_eq!((s.e[0].tunnel_count(), s.e[1].tunnel_count()), (0, 0));
}

#[test]
fn missing_secret_on_lac_is_refused() {
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", None),
        cfg(Role::Lns, "lns", Some(b"two")),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.run(secs(40));
    // The LNS challenges; the LAC has no secret and refuses with StopCCN 4.
    assert!(s.ups(1).is_empty());
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::AuthFailed,
            ..
        }
    )));
}

#[test]
fn lossy_network_brings_tunnels_and_sessions_up_and_down() {
    for seed in 0..24u64 {
        let mut s = Sim::new(
            cfg(Role::Lac, "lac", Some(b"k")),
            cfg(Role::Lns, "lns", Some(b"k")),
            (seed * 2 + 1, seed * 2 + 2),
            Net::new(seed, 15, 10, 30),
        );
        let now = s.now;
        let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
        let mut sids = vec![];
        for _ in 0..8 {
            sids.push(s.e[0].open_session(now, t, CallParams::default()).unwrap());
        }
        s.run(secs(60));
        assert_eq!(s.ups(0).len(), 1, "seed {seed}: {:?}", s.events[0]);
        assert_eq!(s.ups(1).len(), 1, "seed {seed}");
        assert_eq!(s.session_ups(0).len(), 8, "seed {seed}");
        assert_eq!(s.session_ups(1).len(), 8, "seed {seed}");
        let mut pa = s.session_ups(0);
        let mut pb: Vec<(u16, u16)> = s.session_ups(1).into_iter().map(|(a, b)| (b, a)).collect();
        pa.sort();
        pb.sort();
        assert_eq!(pa, pb, "seed {seed}: session ids pair up");
        let now = s.now;
        s.e[0].close_tunnel(now, t).unwrap();
        s.run(secs(120));
        assert_eq!(
            (s.e[0].tunnel_count(), s.e[1].tunnel_count()),
            (0, 0),
            "seed {seed}"
        );
        assert_eq!(s.e[1].session_count(), 0, "seed {seed}");
        let c = s.e[0].counters();
        assert!(c.tx_messages > 0);
    }
}

#[test]
fn dead_peer_backs_off_and_is_cleared() {
    let mut net = Net::new(1, 0, 0, 0);
    net.dead[1] = true;
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", None),
        cfg(Role::Lns, "lns", None),
        (1, 2),
        net,
    );
    let t0 = s.now;
    s.e[0].open_tunnel(t0, addr(B)).unwrap();
    s.run(secs(100));
    let times: Vec<u64> = s
        .net
        .log
        .iter()
        .filter(|x| x.1 == 0)
        .map(|x| (x.0 - t0).as_secs())
        .collect();
    // SCCRQ at 0, then retransmissions after 1, 2, 4, 8, 8 s; cleared 8 s later.
    assert_eq!(times, vec![0, 1, 3, 7, 15, 23]);
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::Timeout,
            ..
        }
    )));
    assert_eq!(s.e[0].tunnel_count(), 0);
    assert_eq!(s.e[0].counters().tunnels_timed_out, 1);
    assert_eq!(s.e[0].counters().tx_retransmits, 5);
}

#[test]
fn established_tunnel_sends_hello_and_clears_a_peer_that_died() {
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", None),
        cfg(Role::Lns, "lns", None),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.run(secs(200));
    assert!(s.e[0].counters().tx_hello >= 2 || s.e[1].counters().tx_hello >= 2);
    assert_eq!((s.e[0].tunnel_count(), s.e[1].tunnel_count()), (1, 1));
    s.net.dead[1] = true;
    s.run(secs(200));
    assert_eq!(s.e[0].tunnel_count(), 0);
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::Timeout,
            ..
        }
    )));
}

#[test]
fn tie_break_leaves_exactly_one_tunnel() {
    for seed in 0..16u64 {
        let mut s = Sim::new(
            cfg(Role::Lac, "a", None),
            cfg(Role::Lns, "b", None),
            (seed + 100, seed + 200),
            Net::new(seed, 0, 0, 0),
        );
        let now = s.now;
        s.e[0].open_tunnel(now, addr(B)).unwrap();
        s.e[1].open_tunnel(now, addr(A)).unwrap();
        s.run(secs(60));
        assert_eq!(s.ups(0).len(), 1, "seed {seed}: {:?}", s.events[0]);
        assert_eq!(s.ups(1).len(), 1, "seed {seed}: {:?}", s.events[1]);
        assert_eq!(s.ups(0)[0], (s.ups(1)[0].1, s.ups(1)[0].0));
        assert_eq!(
            (s.e[0].tunnel_count(), s.e[1].tunnel_count()),
            (1, 1),
            "seed {seed}"
        );
        let lost = s.e[0].counters().tie_breaks_lost + s.e[1].counters().tie_breaks_lost;
        let won = s.e[0].counters().tie_breaks_won + s.e[1].counters().tie_breaks_won;
        assert_eq!((lost, won), (1, 1), "seed {seed}");
    }
}

#[test]
fn equal_tie_breakers_clear_both() {
    // Same RNG seed on both sides: the same tie breaker value.
    let mut s = Sim::new(
        cfg(Role::Lac, "a", None),
        cfg(Role::Lns, "b", None),
        (5, 5),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.e[1].open_tunnel(now, addr(A)).unwrap();
    s.run(secs(5));
    for i in 0..2 {
        assert!(s.events[i].iter().any(|e| matches!(
            e,
            Event::TunnelDown {
                reason: DownReason::TieBreakLost,
                ..
            }
        )));
        assert!(s.ups(i).is_empty());
        assert_eq!(s.e[i].tunnel_count(), 0);
    }
}

/// An RNG that always returns the same value: every random id collides after the first.
struct StuckRng;
impl rand::TryRng for StuckRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> std::result::Result<u32, Infallible> {
        Ok(7)
    }
    fn try_next_u64(&mut self) -> std::result::Result<u64, Infallible> {
        Ok(7)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Infallible> {
        dst.fill(7);
        Ok(())
    }
}

#[test]
fn ids_never_collide_even_with_a_stuck_rng() {
    let mut e = Engine::new(cfg(Role::Lac, "lac", None), StuckRng);
    let now = Instant::now();
    let mut ids = std::collections::HashSet::new();
    for i in 0..50u16 {
        let peer: SocketAddr = format!("10.1.0.{}:1701", i + 1).parse().unwrap();
        let id = e.open_tunnel(now, peer).unwrap();
        assert_ne!(id, 0);
        assert!(ids.insert(id), "tunnel id {id} reused");
    }
    assert!(e.counters().id_collisions >= 49);
    let t = *ids.iter().next().unwrap();
    let mut sids = std::collections::HashSet::new();
    for _ in 0..100 {
        let sid = e.open_session(now, t, CallParams::default()).unwrap();
        assert_ne!(sid, 0);
        assert!(sids.insert(sid));
    }
}

#[test]
fn random_ids_are_unique_across_many_tunnels() {
    let mut c = cfg(Role::Lac, "lac", None);
    c.limits.max_tunnels = 20_000;
    c.limits.max_half_open = 20_000;
    let mut e = Engine::new(c, StdRng::seed_from_u64(3));
    let now = Instant::now();
    let mut ids = std::collections::HashSet::new();
    for i in 0..20_000u32 {
        let peer = SocketAddr::from(([10, 2, (i >> 8) as u8, i as u8], 1701));
        let id = e.open_tunnel(now, peer).unwrap();
        assert!(id != 0 && ids.insert(id));
    }
    assert_eq!(e.tunnel_count(), 20_000);
    assert!(matches!(
        e.open_tunnel(now, addr(B)),
        Err(EngineError::Limit(Limit::Tunnels))
    ));
}

fn sccrq(peer_tid: u16, extra: Vec<Avp>) -> Vec<u8> {
    let mut avps = vec![
        Avp::m(AvpValue::ProtocolVersion {
            version: 1,
            revision: 0,
        }),
        Avp::m(AvpValue::HostName(b"flood".to_vec())),
        Avp::m(AvpValue::FramingCapabilities(3)),
        Avp::m(AvpValue::AssignedTunnelId(peer_tid)),
    ];
    avps.extend(extra);
    ControlMessage::new(0, 0, MessageType::Sccrq, avps)
        .to_bytes(None)
        .unwrap()
}

#[test]
fn sccrq_flood_is_bounded_by_half_open_limits() {
    let mut c = cfg(Role::Lns, "lns", None);
    c.limits.max_half_open = 100;
    c.limits.max_half_open_per_source = 10;
    let mut e = Engine::new(c, StdRng::seed_from_u64(9));
    let now = Instant::now();
    // 1000 SCCRQs from one source: only 10 tunnels are created.
    for i in 1..=1000u16 {
        e.handle_input(
            now,
            SocketAddr::from(([192, 0, 2, 1], 1000 + i)),
            &sccrq(i, vec![]),
        );
    }
    assert_eq!(e.tunnel_count(), 10);
    assert_eq!(e.counters().refused_max_half_open_per_source, 990);
    // 5000 more from 500 sources: capped at 100 overall.
    for i in 0..5000u32 {
        let src = SocketAddr::from(([198, 51, (i % 500 / 250) as u8, (i % 250) as u8 + 1], 1701));
        e.handle_input(now, src, &sccrq((i % 60000) as u16 + 1, vec![]));
    }
    assert_eq!(e.tunnel_count(), 100);
    assert!(e.counters().refused_max_half_open > 0);
    // Every refusal was answered statelessly with StopCCN result 2 error 4.
    let mut refusals = 0;
    while let Some(t) = e.poll_transmit() {
        let m =
            ControlMessage::parse(&L2tpPacket::new_checked(&t.bytes[..]).unwrap(), None).unwrap();
        if m.message_type == Some(MessageType::StopCcn) {
            assert!(m.avps.iter().any(|a| matches!(
                a.value,
                AvpValue::ResultCode {
                    result: 2,
                    error: Some(4),
                    ..
                }
            )));
            // RFC 2661 §6.4: the sender's Assigned Tunnel ID, the one reserved for refusals.
            let ours = m.avps.iter().find_map(|a| match a.value {
                AvpValue::AssignedTunnelId(t) => Some(t),
                _ => None,
            });
            assert_eq!(ours, Some(REFUSAL_TUNNEL_ID));
            assert!(e.tunnel_state(REFUSAL_TUNNEL_ID).is_none());
            refusals += 1;
        }
    }
    assert_eq!(refusals, 6000 - 100);
    // Half-open tunnels expire after their SCCRP retransmissions; the slots come back.
    e.handle_timeout(now + secs(100));
    let mut t = now;
    while let Some(at) = e.poll_timeout() {
        t = at;
        e.handle_timeout(t);
    }
    assert_eq!(e.tunnel_count(), 0);
    e.handle_input(t, SocketAddr::from(([192, 0, 2, 1], 1)), &sccrq(1, vec![]));
    assert_eq!(e.tunnel_count(), 1);
}

#[test]
fn malformed_datagrams_bump_named_counters() {
    let mut e = Engine::new(cfg(Role::Lns, "lns", Some(b"k")), StdRng::seed_from_u64(1));
    let now = Instant::now();
    let src = addr(A);
    let good = sccrq(5, vec![]);
    // AVP shorter than 6 bytes.
    let mut b = good.clone();
    b[13] = 4;
    e.handle_input(now, src, &b);
    // AVP length past the message.
    let mut b = good.clone();
    b[13] = 0x30;
    e.handle_input(now, src, &b);
    // Length field bigger than the datagram.
    let mut b = good.clone();
    b[3] = 0xff;
    e.handle_input(now, src, &b);
    // Zero Assigned Tunnel ID.
    e.handle_input(
        now,
        src,
        &sccrq(0x0100, vec![])
            .iter()
            .enumerate()
            .map(|(i, x)| if i >= good.len() - 2 { 0 } else { *x })
            .collect::<Vec<_>>(),
    );
    // Hidden AVP without Random Vector.
    let mut b = good.clone();
    b[28] |= 0x40;
    e.handle_input(now, src, &b);
    // Odd length for a 2-byte AVP: Assigned Tunnel ID with 3 bytes.
    let m = ControlMessage::new(
        0,
        0,
        MessageType::Sccrq,
        vec![Avp::m(AvpValue::Unknown {
            vendor: 0,
            attr: 9,
            data: vec![1, 2, 3],
        })],
    );
    e.handle_input(now, src, &m.to_bytes(None).unwrap());
    e.handle_input(now, src, &[0xc8]);
    let c = *e.counters();
    assert_eq!(c.malformed_avp_too_short, 1);
    assert_eq!(c.malformed_avp_overrun, 1);
    assert_eq!(c.malformed_header, 2);
    assert_eq!(c.malformed_zero_tunnel_id, 1);
    assert_eq!(c.malformed_hidden_without_random_vector, 1);
    assert_eq!(c.malformed_avp_length, 1);
    assert_eq!(e.tunnel_count(), 0);
    assert!(e.poll_transmit().is_none());
}

#[test]
fn unknown_mandatory_avp_tears_down_session_or_tunnel() {
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", None),
        cfg(Role::Lns, "lns", None),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    let sid = s.e[0].open_session(now, t, CallParams::default()).unwrap();
    s.run(secs(2));
    let (tb, peer_t) = s.ups(1)[0];
    let (lns_sid, _) = s.session_ups(1)[0];
    // Craft messages as the LAC would, with the next Ns/Nr the LNS expects.
    let sent_by_a = |s: &Sim| {
        s.net
            .log
            .iter()
            .filter(|x| x.1 == 0)
            .filter_map(|x| {
                let m = ControlMessage::parse(&L2tpPacket::new_checked(&x.2[..]).unwrap(), None)
                    .unwrap();
                m.message_type.map(|_| m.ns)
            })
            .max()
            .unwrap()
    };
    let ns = sent_by_a(&s) + 1;
    let nr = s
        .net
        .log
        .iter()
        .filter(|x| x.1 == 1)
        .filter_map(|x| {
            let m =
                ControlMessage::parse(&L2tpPacket::new_checked(&x.2[..]).unwrap(), None).unwrap();
            m.message_type.map(|_| m.ns)
        })
        .max()
        .unwrap()
        + 1;
    let vendor_opt = Avp::o(AvpValue::Unknown {
        vendor: 9,
        attr: 1,
        data: vec![1],
    });
    let mut m = ControlMessage::new(tb, lns_sid, MessageType::Sli, vec![vendor_opt.clone()]);
    (m.ns, m.nr) = (ns, nr);
    // SLI is LNS->LAC only, so the LNS treats it as unexpected; use WEN instead, with an
    // optional unknown AVP (ignored) and then a mandatory one (session torn down).
    let mut wen = ControlMessage::new(
        tb,
        lns_sid,
        MessageType::Wen,
        vec![
            Avp::m(AvpValue::CallErrors(CallErrors::default())),
            vendor_opt,
        ],
    );
    (wen.ns, wen.nr) = (ns, nr);
    let now = s.now;
    s.e[1].handle_input(now, addr(A), &wen.to_bytes(None).unwrap());
    s.run(secs(1));
    assert!(s.events[1]
        .iter()
        .any(|e| matches!(e, Event::WanErrorNotify { .. })));
    let mut bad = ControlMessage::new(
        tb,
        lns_sid,
        MessageType::Wen,
        vec![Avp::m(AvpValue::Unknown {
            vendor: 9,
            attr: 2,
            data: vec![],
        })],
    );
    (bad.ns, bad.nr) = (ns + 1, nr);
    let now = s.now;
    s.e[1].handle_input(now, addr(A), &bad.to_bytes(None).unwrap());
    s.run(secs(1));
    assert!(s.events[1].iter().any(|e| matches!(
        e,
        Event::SessionDown {
            reason: DownReason::UnknownMandatoryAvp { vendor: 9, attr: 2 },
            ..
        }
    )));
    // The LAC got a CDN with error code 8.
    assert!(s.events[0].iter().any(|e| matches!(e, Event::SessionDown { session, reason: DownReason::Peer { result: 2, error: Some(8), .. }, .. } if *session == sid)));
    assert_eq!(s.e[1].tunnel_count(), 1);
    // Unknown mandatory AVP in a tunnel message (HELLO): the tunnel goes.
    let mut hello = ControlMessage::new(
        tb,
        0,
        MessageType::Hello,
        vec![Avp::m(AvpValue::Unknown {
            vendor: 0,
            attr: 200,
            data: vec![],
        })],
    );
    (hello.ns, hello.nr) = (ns + 2, nr);
    let _ = m;
    let now = s.now;
    s.e[1].handle_input(now, addr(A), &hello.to_bytes(None).unwrap());
    s.run(secs(40));
    assert!(s.events[1].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::UnknownMandatoryAvp {
                vendor: 0,
                attr: 200
            },
            ..
        }
    )));
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::TunnelDown {
            reason: DownReason::Peer {
                result: 2,
                error: Some(8),
                ..
            },
            ..
        }
    )));
    assert_eq!(peer_t, t);
    assert_eq!(s.e[1].counters().unknown_mandatory_avp, 2);
}

#[test]
fn session_limits_answer_with_cdn() {
    let mut lns = cfg(Role::Lns, "lns", None);
    lns.limits.max_sessions_per_tunnel = 2;
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", None),
        lns,
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    for _ in 0..3 {
        s.e[0].open_session(now, t, CallParams::default()).unwrap();
    }
    s.run(secs(3));
    assert_eq!(s.session_ups(1).len(), 2);
    assert_eq!(s.e[1].counters().refused_max_sessions_per_tunnel, 1);
    assert!(s.events[0].iter().any(|e| matches!(
        e,
        Event::SessionDown {
            reason: DownReason::Peer {
                result: 4,
                error: Some(4),
                ..
            },
            ..
        }
    )));
    assert_eq!(s.e[0].session_count(), 2);
    // Wrong role: a LAC cannot place outgoing calls... it places incoming ones; an LNS
    // refuses an ICRQ sent by another LNS.
    let mut s = Sim::new(
        cfg(Role::Lns, "x", None),
        cfg(Role::Lns, "y", None),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.e[0].open_session(now, t, CallParams::default()).unwrap();
    s.run(secs(3));
    assert_eq!(s.e[1].counters().refused_wrong_role, 1);
    assert_eq!(s.e[0].session_count(), 0);
}

#[test]
fn more_sessions_than_the_window_all_come_up() {
    let mut s = Sim::new(
        cfg(Role::Lac, "lac", None),
        cfg(Role::Lns, "lns", None),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    for _ in 0..40 {
        s.e[0].open_session(now, t, CallParams::default()).unwrap();
    }
    s.run(secs(10));
    assert_eq!(s.session_ups(0).len(), 40);
    assert_eq!(s.session_ups(1).len(), 40);
}

#[test]
fn a_closing_tunnel_does_not_hold_a_place_under_max_tunnels() {
    let lac = cfg(Role::Lac, "lac", None);
    let mut lns = cfg(Role::Lns, "lns", None);
    lns.limits.max_tunnels = 1;
    let mut s = Sim::new(lac, lns, (3, 4), Net::new(5, 0, 0, 0));
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.run(secs(2));
    assert_eq!(s.e[1].tunnel_count(), 1);
    // At the limit: another LAC is refused.
    let other = SocketAddr::from(([192, 0, 2, 77], 1701));
    let now = s.now;
    s.e[1].handle_input(now, other, &sccrq(9, vec![]));
    assert_eq!(s.e[1].counters().refused_max_tunnels, 1);
    // (what the LNS answers the other LAC is not for the simulated network)
    while s.e[1].poll_transmit().is_some() {}
    // The first LAC leaves: the LNS keeps the tunnel only to acknowledge (closing)...
    s.e[0].close_tunnel(now, t).unwrap();
    s.run(secs(2));
    assert_eq!(s.e[1].tunnel_count(), 1);
    // ...and the other LAC gets the place at once.
    let now = s.now;
    s.e[1].handle_input(now, other, &sccrq(10, vec![]));
    assert_eq!(s.e[1].counters().refused_max_tunnels, 1);
    assert_eq!(s.e[1].tunnel_count(), 2);
    // Still, closing tunnels are bounded: a third is refused while both are there.
    s.e[1].handle_input(
        now,
        SocketAddr::from(([192, 0, 2, 78], 1701)),
        &sccrq(11, vec![]),
    );
    assert_eq!(s.e[1].counters().refused_max_tunnels, 2);
}

#[test]
fn a_stopccn_ends_the_retransmission_of_what_crossed_it() {
    let lac = cfg(Role::Lac, "lac", None);
    let lns = cfg(Role::Lns, "lns", None);
    let mut s = Sim::new(lac, lns, (5, 6), Net::new(3, 0, 0, 0));
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    s.e[0].open_session(now, t, CallParams::default()).unwrap();
    s.run(secs(2));
    let (tb, sb) = (s.ups(1)[0].0, s.session_ups(1)[0].0);
    // The LNS hangs up the call while the LAC no longer hears it; the LAC closes the tunnel.
    s.net.dead[0] = true;
    let now = s.now;
    s.e[1].close_session(now, tb, sb).unwrap();
    s.run(secs(1));
    s.e[0].close_tunnel(s.now, t).unwrap();
    s.run(secs(1));
    let after = s.now;
    s.run(secs(20));
    // Nothing but acknowledgements from the LNS once it has the StopCCN: no CDN again.
    let cdns = s
        .net
        .log
        .iter()
        .filter(|(at, i, _)| *i == 1 && *at >= after)
        .filter(|(_, _, b)| {
            let m = ControlMessage::parse(&L2tpPacket::new_checked(&b[..]).unwrap(), None).unwrap();
            m.message_type.is_some()
        })
        .count();
    assert_eq!(cdns, 0);
}

#[test]
fn optional_message_of_our_own_is_delivered_or_ignored_and_stopccn_carries_our_result() {
    // The VPN peering channel's message type (M bit clear): a peer that opted in gets it as
    // an event, in order; a plain peer acknowledges and ignores it; the tunnel stays up.
    let vendor_avp = |n: u8| {
        Avp::o(AvpValue::Unknown {
            vendor: 32473,
            attr: 1,
            data: vec![n],
        })
    };
    for deliver in [true, false] {
        let mut b = cfg(Role::Lns, "b", None);
        b.deliver_unknown_messages = deliver;
        let mut s = Sim::new(cfg(Role::Lac, "a", None), b, (3, 4), Net::new(9, 20, 5, 20));
        let now = s.now;
        let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
        s.run(secs(10));
        assert_eq!(s.ups(0).len(), 1);
        let now = s.now;
        for n in 0..20 {
            s.e[0]
                .send_optional_message(now, t, 32473, vec![vendor_avp(n)])
                .unwrap();
        }
        s.run(secs(30));
        let got: Vec<Vec<Avp>> = s.events[1]
            .iter()
            .filter_map(|e| match e {
                Event::Message {
                    message_type: 32473,
                    avps,
                    ..
                } => Some(avps.clone()),
                _ => None,
            })
            .collect();
        let c = s.e[1].counters();
        if deliver {
            let want: Vec<Vec<Avp>> = (0..20).map(|n| vec![vendor_avp(n)]).collect();
            assert_eq!(
                got, want,
                "in order, each once, despite loss and reordering"
            );
            assert_eq!(c.rx_delivered_unknown_message, 20);
        } else {
            assert!(got.is_empty());
            assert_eq!(c.rx_ignored_unknown_message, 20);
        }
        assert_eq!(s.e[0].tunnel_state(t), Some(TunnelState::Established));
        assert_eq!(s.e[0].unacked(t), 0);
        let now = s.now;
        s.e[0]
            .close_tunnel_with(now, t, 4, None, "RADIUS rejected the VPN peer")
            .unwrap();
        s.run(secs(10));
        assert!(s.events[1].iter().any(|e| matches!(
            e,
            Event::TunnelDown {
                reason: DownReason::Peer { result: 4, message, .. },
                ..
            } if message == b"RADIUS rejected the VPN peer"
        )));
    }
}

#[test]
fn optional_message_needs_an_established_tunnel() {
    let mut s = Sim::new(
        cfg(Role::Lac, "a", None),
        cfg(Role::Lns, "b", None),
        (1, 2),
        Net::new(1, 0, 0, 0),
    );
    let now = s.now;
    let t = s.e[0].open_tunnel(now, addr(B)).unwrap();
    assert_eq!(
        s.e[0].send_optional_message(now, t, 32473, vec![]),
        Err(EngineError::NotEstablished(t))
    );
    assert_eq!(
        s.e[0].send_optional_message(now, 999, 32473, vec![]),
        Err(EngineError::UnknownTunnel(999))
    );
}
