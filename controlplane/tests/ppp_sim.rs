//! PPP simulation: a server and a client engine wired together on a virtual clock, with
//! seeded random loss, delay and reordering. Both must reach Ipv4Up/Ipv6Up with the right
//! addresses within bounded virtual time, for PAP, CHAP-MD5 and MS-CHAPv2 (the server
//! verifying with `auth::verify_local`); a wrong password ends in Down(AuthFailed); a silent
//! peer is detected by LCP echo.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::ppp::auth::{verify_local, AuthMethod};
use controlplane::ppp::engine::{Config, DownReason, Engine, Event, IpcpParams, Role};

const USER_PASSWORD: &str = "s3cret pässword";

/// xorshift64*: the simulation's own deterministic randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Sim {
    now: Instant,
    t0: Instant,
    server: Engine,
    client: Engine,
    /// (deliver at, to server?, frame)
    wire: Vec<(Instant, bool, Vec<u8>)>,
    rng: Rng,
    loss: u64,
    server_events: Vec<Event>,
    client_events: Vec<Event>,
    password: String,
    /// Drop everything the client sends (dead peer).
    client_silent: bool,
}

const PARAMS: IpcpParams = IpcpParams {
    local: Ipv4Addr::new(10, 0, 0, 1),
    peer: Ipv4Addr::new(10, 0, 7, 42),
    dns: [Some(Ipv4Addr::new(192, 0, 2, 53)), None],
};
const SERVER_IFID: u64 = 0x0200_5eff_fe00_0001;

impl Sim {
    fn new(seed: u64, methods: Vec<AuthMethod>, client_password: &str, loss: u64) -> Sim {
        let t0 = Instant::now();
        let server_cfg = Arc::new(Config {
            auth: methods.clone(),
            ..Config::default()
        });
        let client_cfg = Arc::new(Config {
            auth: methods,
            username: "alice@example".into(),
            password: client_password.into(),
            ..Config::default()
        });
        let mut server = Engine::new(server_cfg, Role::Server, t0, seed);
        let mut client = Engine::new(client_cfg, Role::Client, t0, seed ^ 0xdead_beef);
        server.open(t0);
        client.open(t0);
        Sim {
            now: t0,
            t0,
            server,
            client,
            wire: Vec::new(),
            rng: Rng(seed | 1),
            loss,
            server_events: Vec::new(),
            client_events: Vec::new(),
            password: USER_PASSWORD.into(),
            client_silent: false,
        }
    }

    fn pump(&mut self) {
        while let Some(f) = self.server.poll_transmit() {
            assert_eq!(&f[..2], &[0xff, 0x03]);
            if !self.rng.chance(self.loss) {
                let d = Duration::from_millis(5 + self.rng.next() % 200);
                self.wire.push((self.now + d, false, f));
            }
        }
        while let Some(f) = self.client.poll_transmit() {
            if !self.client_silent && !self.rng.chance(self.loss) {
                let d = Duration::from_millis(5 + self.rng.next() % 200);
                self.wire.push((self.now + d, true, f));
            }
        }
        while let Some(e) = self.server.poll_event() {
            match &e {
                Event::Authenticate(req) => {
                    let r = verify_local(req, &self.password).unwrap();
                    self.server.auth_result(self.now, r);
                    // The RADIUS-like driver assigns the addresses after the accept.
                    self.server.set_ipv4(self.now, PARAMS);
                    self.server.set_ipv6(self.now, SERVER_IFID);
                }
                Event::LinkUp if self.server.auth_method().is_none() => {
                    self.server.set_ipv4(self.now, PARAMS);
                    self.server.set_ipv6(self.now, SERVER_IFID);
                }
                _ => {}
            }
            self.server_events.push(e);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
    }

    /// Advances to the next delivery or deadline. False when nothing is left to do.
    fn step(&mut self) -> bool {
        self.pump();
        let next_frame = self.wire.iter().map(|w| w.0).min();
        let next = [next_frame, self.server.deadline(), self.client.deadline()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else { return false };
        self.now = self.now.max(t);
        // Deliver everything due, in random order (reordering).
        let mut due: Vec<_> = Vec::new();
        let mut i = 0;
        while i < self.wire.len() {
            if self.wire[i].0 <= self.now {
                due.push(self.wire.swap_remove(i));
            } else {
                i += 1;
            }
        }
        while !due.is_empty() {
            let k = (self.rng.next() as usize) % due.len();
            let (_, to_server, f) = due.swap_remove(k);
            if to_server {
                self.server.handle_frame(self.now, &f);
            } else {
                self.client.handle_frame(self.now, &f);
            }
        }
        if self.server.deadline().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        if self.client.deadline().is_some_and(|t| t <= self.now) {
            self.client.handle_timeout(self.now);
        }
        self.pump();
        true
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        while self.now - self.t0 < limit {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }
}

fn has(ev: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    ev.iter().any(f)
}

fn both_up(s: &Sim) -> bool {
    let v4 = |e: &Event| matches!(e, Event::Ipv4Up { .. });
    let v6 = |e: &Event| matches!(e, Event::Ipv6Up { .. });
    has(&s.server_events, v4)
        && has(&s.server_events, v6)
        && has(&s.client_events, v4)
        && has(&s.client_events, v6)
}

fn check_up(method: AuthMethod, seed: u64, loss: u64) {
    let mut s = Sim::new(seed, vec![method], USER_PASSWORD, loss);
    assert!(
        s.run_until(Duration::from_secs(120), both_up),
        "{method:?} seed {seed} loss {loss}%: not up; server {:?} client {:?} counters {:?}",
        s.server_events,
        s.client_events,
        s.server.counters()
    );
    assert_eq!(s.server.auth_method(), Some(method));
    let client_v4 = s
        .client_events
        .iter()
        .find_map(|e| match e {
            Event::Ipv4Up { local, peer, dns } => Some((*local, *peer, *dns)),
            _ => None,
        })
        .unwrap();
    assert_eq!(client_v4, (PARAMS.peer, PARAMS.local, PARAMS.dns));
    let server_v4 = s.server_events.iter().find_map(|e| match e {
        Event::Ipv4Up { local, peer, .. } => Some((*local, *peer)),
        _ => None,
    });
    assert_eq!(server_v4, Some((PARAMS.local, PARAMS.peer)));
    let (c6, s6) = (
        s.client_events.iter().find_map(|e| match e {
            Event::Ipv6Up {
                local_ifid,
                peer_ifid,
            } => Some((*local_ifid, *peer_ifid)),
            _ => None,
        }),
        s.server_events.iter().find_map(|e| match e {
            Event::Ipv6Up {
                local_ifid,
                peer_ifid,
            } => Some((*local_ifid, *peer_ifid)),
            _ => None,
        }),
    );
    let (c6, s6) = (c6.unwrap(), s6.unwrap());
    assert_eq!(s6.0, SERVER_IFID);
    assert_eq!(c6.1, SERVER_IFID);
    assert_eq!(c6.0, s6.1, "both agree on the client's interface id");
    assert!(has(&s.client_events, |e| *e == Event::AuthDone { ok: true }));
    assert!(!s.server.is_finished() && !s.client.is_finished());
}

#[test]
fn all_methods_come_up_without_loss() {
    for m in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
        check_up(m, 1, 0);
    }
}

#[test]
fn all_methods_come_up_with_loss_and_reordering() {
    for seed in 1..=20u64 {
        for m in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
            check_up(m, seed, 20);
        }
    }
}

#[test]
fn server_policy_falls_back_to_what_the_client_allows() {
    let mut s = Sim::new(3, vec![AuthMethod::MsChapV2], USER_PASSWORD, 0);
    // Server prefers MS-CHAPv2, then CHAP-MD5, then PAP; the client only does PAP.
    s.server = Engine::new(Arc::new(Config::default()), Role::Server, s.now, 99);
    s.server.open(s.now);
    s.client = Engine::new(
        Arc::new(Config {
            auth: vec![AuthMethod::Pap],
            username: "bob".into(),
            password: USER_PASSWORD.into(),
            ..Config::default()
        }),
        Role::Client,
        s.now,
        7,
    );
    s.client.open(s.now);
    assert!(s.run_until(Duration::from_secs(60), both_up));
    assert_eq!(s.server.auth_method(), Some(AuthMethod::Pap));
}

#[test]
fn wrong_password_is_auth_failed() {
    for m in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
        let mut s = Sim::new(5, vec![m], "not the password", 0);
        let down = |s: &Sim| s.server.is_finished() && s.client.is_finished();
        assert!(s.run_until(Duration::from_secs(60), down), "{m:?}");
        assert!(has(&s.server_events, |e| *e
            == Event::Down {
                reason: DownReason::AuthFailed
            }));
        // The Nak/Failure and the Terminate-Request may be reordered: the client learns
        // either way.
        assert!(
            has(&s.client_events, |e| *e == Event::AuthDone { ok: false })
                || has(&s.client_events, |e| *e
                    == Event::Down {
                        reason: DownReason::PeerTerminate
                    }),
            "{m:?}: {:?}",
            s.client_events
        );
        assert!(!has(&s.server_events, |e| matches!(
            e,
            Event::Ipv4Up { .. }
        )));
        assert_eq!(s.server.counters().auth_rejects, 1);
    }
}

#[test]
fn silent_peer_is_detected_by_echo() {
    let mut s = Sim::new(11, vec![AuthMethod::ChapMd5], USER_PASSWORD, 0);
    assert!(s.run_until(Duration::from_secs(30), both_up));
    s.client_silent = true;
    let t = s.now;
    let dead = |s: &Sim| s.server.is_finished();
    assert!(s.run_until(Duration::from_secs(400), dead));
    // echo every 30 s, 3 unanswered, declared dead at the 4th tick.
    assert!(s.now - t <= Duration::from_secs(121), "{:?}", s.now - t);
    assert!(has(&s.server_events, |e| *e
        == Event::Down {
            reason: DownReason::EchoTimeout
        }));
    assert!(has(&s.server_events, |e| *e == Event::Ipv4Down));
    assert_eq!(s.server.counters().lcp_echo_timeouts, 1);
}

#[test]
fn local_close_terminates_both() {
    let mut s = Sim::new(13, vec![AuthMethod::Pap], USER_PASSWORD, 0);
    assert!(s.run_until(Duration::from_secs(30), both_up));
    let now = s.now;
    s.server.close(now, DownReason::LocalClose);
    let down = |s: &Sim| s.server.is_finished() && s.client.is_finished();
    assert!(s.run_until(Duration::from_secs(60), down));
    assert!(has(&s.server_events, |e| *e
        == Event::Down {
            reason: DownReason::LocalClose
        }));
    assert!(has(&s.client_events, |e| *e
        == Event::Down {
            reason: DownReason::PeerTerminate
        }));
}
