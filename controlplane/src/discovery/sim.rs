//! A deterministic simulated provider network for discovery engines: a virtual clock and an
//! event queue, and a network that delays, drops, duplicates and reorders datagrams as a
//! seeded RNG decides. Used by the simulations (`controlplane/tests/discovery_sim.rs`) and
//! by `varouter bench discovery`; nothing here reads the wall clock or sleeps.
//!
//! Each datagram an engine emits is, independently: lost with probability
//! [`NetModel::loss`]; otherwise delivered after [`NetModel::delay`] plus a uniform jitter
//! in `[0, NetModel::jitter)` (a jitter larger than the spacing of datagrams reorders them);
//! and with probability [`NetModel::duplicate`] delivered a second time with its own jitter.
//! Engines are driven exactly as a driver would: every delivery is a `handle_input`, every
//! expired `poll_timeout` a `handle_timeout`, and after each the engine's transmits and
//! events are collected.
//!
//! The one wall-clock read is opt-in: [`SimNet::measure_engines`] accounts the real time each
//! engine spends in its calls (for `varouter bench discovery`); it never moves the virtual
//! clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::engine::{Engine, Event};

/// How the simulated network treats each datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetModel {
    /// One-way delay every datagram has.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter)`; reorders datagrams sent closer than this.
    pub jitter: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a delivered datagram is delivered twice.
    pub duplicate: f64,
}

impl NetModel {
    /// A network that loses nothing: `delay` one way, no jitter.
    pub fn perfect(delay: Duration) -> NetModel {
        NetModel {
            delay,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// What the network did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams the engines sent.
    pub sent: u64,
    /// Their bytes (discovery payload only, no UDP/IP headers).
    pub bytes: u64,
    /// Datagrams the network lost.
    pub lost: u64,
    /// Extra copies the network made.
    pub duplicated: u64,
    /// Datagrams handed to an engine (copies included, injections included).
    pub delivered: u64,
    /// Datagrams to a router id that is not in the simulation.
    pub no_route: u64,
}

/// A datagram as the network carried it (see [`SimNet::record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Virtual time it was sent.
    pub at: Duration,
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub payload: Vec<u8>,
}

/// A datagram in flight: (delivery time, order of scheduling, destination engine, payload).
type InFlight = (Instant, u64, usize, Vec<u8>);

/// Routers connected by the simulated network, on a virtual clock.
pub struct SimNet {
    engines: Vec<Engine>,
    index: HashMap<Ipv4Addr, usize>,
    start: Instant,
    now: Instant,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Next timeout per engine (cached; refreshed whenever the engine was touched).
    timeouts: Vec<Option<Instant>>,
    rng: StdRng,
    model: NetModel,
    stats: NetStats,
    events: Vec<(Duration, usize, Event)>,
    log: Option<Vec<Captured>>,
    /// Wall time spent in each engine's calls, when measured.
    engine_time: Option<Vec<Duration>>,
}

impl SimNet {
    /// The network of `engines` (router ids must be distinct), at virtual time 0 = `start`.
    pub fn new(engines: Vec<Engine>, model: NetModel, seed: u64, start: Instant) -> SimNet {
        let index = engines
            .iter()
            .enumerate()
            .map(|(i, e)| (e.router_id(), i))
            .collect();
        let timeouts = engines.iter().map(|e| e.poll_timeout()).collect();
        SimNet {
            engines,
            index,
            start,
            now: start,
            queue: BinaryHeap::new(),
            order: 0,
            timeouts,
            rng: StdRng::seed_from_u64(seed),
            model,
            stats: NetStats::default(),
            events: Vec::new(),
            log: None,
            engine_time: None,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Changes the network's behaviour from now on (datagrams in flight keep their fate).
    pub fn set_model(&mut self, model: NetModel) {
        self.model = model;
    }

    /// The engines.
    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }

    /// Index of the engine of `router`.
    pub fn index_of(&self, router: Ipv4Addr) -> Option<usize> {
        self.index.get(&router).copied()
    }

    /// Acts on engine `i` now (add or remove a VR, change a key), then collects what it sent.
    pub fn with_engine<R>(&mut self, i: usize, f: impl FnOnce(&mut Engine, Instant) -> R) -> R {
        let now = self.now;
        let clock = self.engine_time.is_some().then(std::time::Instant::now);
        let r = f(&mut self.engines[i], now);
        self.account(i, clock);
        self.collect(i);
        r
    }

    /// Starts (`true`, from zero) or stops accounting the wall time each engine spends in
    /// `handle_input`, `handle_timeout` and [`SimNet::with_engine`].
    pub fn measure_engines(&mut self, on: bool) {
        self.engine_time = on.then(|| vec![Duration::ZERO; self.engines.len()]);
    }

    /// Wall time per engine since [`SimNet::measure_engines`] (empty when not measuring).
    pub fn engine_time(&self) -> &[Duration] {
        self.engine_time.as_deref().unwrap_or_default()
    }

    fn account(&mut self, i: usize, clock: Option<std::time::Instant>) {
        if let (Some(t), Some(c)) = (self.engine_time.as_mut(), clock) {
            t[i] += c.elapsed();
        }
    }

    /// Keeps a copy of every datagram sent from now on (`false` stops and drops the log).
    pub fn record(&mut self, on: bool) {
        self.log = on.then(Vec::new);
    }

    /// The datagrams recorded so far.
    pub fn take_log(&mut self) -> Vec<Captured> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Delivers `payload` to `to` after the network's base delay, outside the loss model (an
    /// attacker's datagram: forged, replayed, truncated).
    pub fn inject(&mut self, to: Ipv4Addr, payload: Vec<u8>) {
        match self.index.get(&to) {
            Some(&j) => {
                let at = self.now + self.model.delay;
                self.push(at, j, payload);
            }
            None => self.stats.no_route += 1,
        }
    }

    /// Map changes seen so far: (virtual time, engine index, event).
    pub fn events(&self) -> &[(Duration, usize, Event)] {
        &self.events
    }

    /// What the network did so far.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    fn push(&mut self, at: Instant, j: usize, payload: Vec<u8>) {
        self.order += 1;
        self.queue.push(Reverse((at, self.order, j, payload)));
    }

    fn jitter(&mut self) -> Duration {
        let j = self.model.jitter.as_nanos() as u64;
        if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.random_range(0..j))
        }
    }

    /// Moves engine `i`'s transmits into the network and its events into the log.
    fn collect(&mut self, i: usize) {
        let from = self.engines[i].router_id();
        while let Some(t) = self.engines[i].poll_transmit() {
            self.stats.sent += 1;
            self.stats.bytes += t.payload.len() as u64;
            if let Some(log) = self.log.as_mut() {
                log.push(Captured {
                    at: self.now - self.start,
                    from,
                    to: t.dst,
                    payload: t.payload.clone(),
                });
            }
            let Some(&j) = self.index.get(&t.dst) else {
                self.stats.no_route += 1;
                continue;
            };
            if self.rng.random_bool(self.model.loss.clamp(0.0, 1.0)) {
                self.stats.lost += 1;
                continue;
            }
            if self.rng.random_bool(self.model.duplicate.clamp(0.0, 1.0)) {
                self.stats.duplicated += 1;
                let at = self.now + self.model.delay + self.jitter();
                self.push(at, j, t.payload.clone());
            }
            let at = self.now + self.model.delay + self.jitter();
            self.push(at, j, t.payload);
        }
        let elapsed = self.now - self.start;
        while let Some(e) = self.engines[i].poll_event() {
            self.events.push((elapsed, i, e));
        }
        self.timeouts[i] = self.engines[i].poll_timeout();
    }

    /// Runs every delivery and timer due up to `until` in time order, then sets the clock to
    /// `until`. Returns the number of steps taken.
    pub fn run_until(&mut self, until: Instant) -> u64 {
        let mut steps = 0;
        loop {
            let next_rx = self.queue.peek().map(|Reverse(q)| q.0);
            let next_timer = self
                .timeouts
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|t| (t, i)))
                .min();
            let rx_first = match (next_rx, next_timer) {
                (Some(r), Some((t, _))) => r <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if rx_first {
                let Some(Reverse((at, _, j, payload))) = self.queue.peek().cloned() else {
                    break;
                };
                if at > until {
                    break;
                }
                self.queue.pop();
                self.now = self.now.max(at);
                self.stats.delivered += 1;
                let now = self.now;
                let clock = self.engine_time.is_some().then(std::time::Instant::now);
                self.engines[j].handle_input(now, &payload);
                self.account(j, clock);
                self.collect(j);
            } else {
                let Some((at, i)) = next_timer else {
                    break;
                };
                if at > until {
                    break;
                }
                self.now = self.now.max(at);
                let now = self.now;
                let clock = self.engine_time.is_some().then(std::time::Instant::now);
                self.engines[i].handle_timeout(now);
                self.account(i, clock);
                self.collect(i);
            }
            steps += 1;
        }
        self.now = self.now.max(until);
        steps
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> u64 {
        let until = self.now + d;
        self.run_until(until)
    }

    /// Runs until no datagram is in flight (timers that fire meanwhile run too), at most
    /// until `limit`. Returns whether the network went quiet.
    pub fn run_until_quiet(&mut self, limit: Instant) -> bool {
        while let Some(Reverse(q)) = self.queue.peek() {
            let at = q.0;
            if at > limit {
                return false;
            }
            self.run_until(at);
        }
        true
    }
}
