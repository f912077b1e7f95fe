//! A deterministic simulated provider network for peering engines: a virtual clock, seeded
//! loss and delay jitter (hence reordering) on L2TP datagrams, partitions ("silent" routers),
//! and beside each router the project's RADIUS server checking CHAP-Password for real
//! ([`SimRadius`]). Used by `tests/vpnpeer_sim.rs` and `varouter bench vpnpeer`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::auth::RadiusAuthenticator;
use super::engine::{Config, Engine, Event, Transmit};
use super::wire::IpPrefix;
use crate::radius::client::{self, Client};
use crate::radius::server::{self, NasClient, RadiusServer, StaticUsers, UserEntry};

/// The RADIUS server beside each simulated router: the project's authentication server
/// ([`RadiusServer`], which checks Message-Authenticators and CHAP-Password for real),
/// with one NAS client covering the simulated network and a user per peer VR.
pub struct SimRadius {
    pub addr: SocketAddr,
    server: RadiusServer<StaticUsers>,
}

impl SimRadius {
    pub fn new(addr: SocketAddr, secret: &[u8]) -> Self {
        let mut server = RadiusServer::new(server::Config::default(), StaticUsers::new());
        let nas = NasClient::new("simulated network", Ipv4Addr::UNSPECIFIED.into(), 0, secret)
            .expect("a non-empty secret and prefix length 0 make a valid client");
        server
            .add_client(nas)
            .expect("the first client of an empty server");
        SimRadius { addr, server }
    }

    /// Adds or replaces a user and its CHAP password.
    pub fn add_user(&mut self, user: &str, password: &[u8]) {
        let entry = UserEntry {
            password: password.to_vec(),
            reply: Vec::new(),
        };
        self.server
            .users_mut()
            .insert(user.as_bytes(), entry)
            .expect("simulation user names and secrets are within RADIUS limits");
    }

    /// The answer to a request from `src`, or `None` (dropped and counted by the server).
    pub fn answer(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        self.server.handle_datagram(now, src, bytes);
        while self.server.poll_event().is_some() {}
        self.server.poll_transmit().map(|t| t.payload)
    }

    /// The server's counters (accepts, rejects, drops by reason).
    pub fn counters(&self) -> &server::Counters {
        self.server.counters()
    }
}

/// The engine type of the simulation.
pub type SimEngine = Engine<StdRng, RadiusAuthenticator>;

/// One simulated router.
pub struct Node {
    pub router_id: Ipv4Addr,
    pub addr: SocketAddr,
    pub engine: SimEngine,
    pub radius: SimRadius,
    /// The routes the events installed: (VPN, prefix, next-hop router) → VPN label (every
    /// path; the VR's FIB chooses among paths of the same prefix).
    pub fib: BTreeMap<(u32, IpPrefix, Ipv4Addr), u32>,
    /// Every event, with its virtual time since the start.
    pub events: Vec<(Duration, Event)>,
    /// Withdraw events for routes the FIB did not hold from that router (must stay 0).
    pub bad_withdraws: u64,
    /// Partitioned: every L2TP datagram to or from it is lost.
    pub silent: bool,
}

/// Where a queued datagram goes.
enum Dst {
    L2tp(usize),
    Radius(usize),
    RadiusAnswer(usize, usize),
}

/// The simulated network.
pub struct SimNet {
    start: Instant,
    now: Instant,
    pub nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    parcels: HashMap<u64, (Dst, SocketAddr, Vec<u8>)>,
    seq: u64,
    rng: StdRng,
    /// Probability that an L2TP datagram is lost.
    pub loss: f64,
    pub latency: Duration,
    /// Up to this much extra delay per datagram (reorders them).
    pub jitter: Duration,
    pub delivered: u64,
    pub lost: u64,
}

/// The RADIUS shared secret of every router with its server in the simulation.
pub const RADIUS_SECRET: &[u8] = b"sim-radius-secret";

impl SimNet {
    pub fn new(seed: u64, start: Instant) -> Self {
        SimNet {
            start,
            now: start,
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            parcels: HashMap::new(),
            seq: 0,
            rng: StdRng::seed_from_u64(seed),
            loss: 0.0,
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
            delivered: 0,
            lost: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Adds a router with engine configuration `cfg` (its router id, L2TP address
    /// `10.0.0.x:1701` from the router id's last byte) and its RADIUS server.
    pub fn add_node(&mut self, cfg: Config, seed: u64) -> usize {
        let rid = cfg.router_id;
        let o = rid.octets();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, o[2], o[3])), 1701);
        let raddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, o[2], o[3])), 1812);
        let mut rc = client::Config::new(&rid.to_string());
        rc.auth_servers.push(client::Server {
            addr: raddr,
            secret: RADIUS_SECRET.to_vec(),
        });
        rc.timeout = Duration::from_millis(500);
        rc.retries = 2;
        let auth = RadiusAuthenticator::new(Client::new(rc, seed ^ 0x5eed));
        let engine = Engine::new(cfg, StdRng::seed_from_u64(seed), auth);
        self.nodes.push(Node {
            router_id: rid,
            addr,
            engine,
            radius: SimRadius::new(raddr, RADIUS_SECRET),
            fib: BTreeMap::new(),
            events: Vec::new(),
            bad_withdraws: 0,
            silent: false,
        });
        self.nodes.len() - 1
    }

    /// Index of the router with `rid`.
    pub fn index_of(&self, rid: Ipv4Addr) -> Option<usize> {
        self.nodes.iter().position(|n| n.router_id == rid)
    }

    /// Runs `f` on node `i`'s engine at the current time, then collects its output.
    pub fn with<T>(&mut self, i: usize, f: impl FnOnce(&mut SimEngine, Instant) -> T) -> T {
        let now = self.now;
        let r = f(&mut self.nodes[i].engine, now);
        self.collect(i);
        r
    }

    fn push(&mut self, at: Instant, dst: Dst, src: SocketAddr, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.parcels.insert(self.seq, (dst, src, bytes));
    }

    fn delay(&mut self) -> Duration {
        let j = self.jitter.as_nanos() as u64;
        let extra = if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.random_range(0..j))
        };
        self.latency + extra
    }

    /// Moves node `i`'s datagrams into the network and its events into its FIB.
    fn collect(&mut self, i: usize) {
        let now = self.now;
        while let Some(t) = self.nodes[i].engine.poll_transmit() {
            match t {
                Transmit::L2tp { dst, bytes } => {
                    let Some(j) = self.nodes.iter().position(|n| n.addr == dst) else {
                        self.lost += 1;
                        continue;
                    };
                    if self.nodes[i].silent
                        || self.nodes[j].silent
                        || (self.loss > 0.0 && self.rng.random_bool(self.loss.clamp(0.0, 1.0)))
                    {
                        self.lost += 1;
                        continue;
                    }
                    let at = now + self.delay();
                    let src = self.nodes[i].addr;
                    self.push(at, Dst::L2tp(j), src, bytes);
                }
                Transmit::Auth(t) => {
                    if t.dst != self.nodes[i].radius.addr {
                        self.lost += 1;
                        continue;
                    }
                    let at = now + Duration::from_millis(1);
                    let src = SocketAddr::new(self.nodes[i].addr.ip(), 18000 + t.socket as u16);
                    self.push(at, Dst::Radius(i), src, t.payload);
                }
            }
        }
        let elapsed = now - self.start;
        let n = &mut self.nodes[i];
        while let Some(e) = n.engine.poll_event() {
            match &e {
                Event::Install {
                    vpn_id,
                    prefix,
                    vpn_label,
                    via,
                } => {
                    n.fib.insert((*vpn_id, *prefix, *via), *vpn_label);
                }
                Event::Withdraw {
                    vpn_id,
                    prefix,
                    via,
                } if n.fib.remove(&(*vpn_id, *prefix, *via)).is_none() => n.bad_withdraws += 1,
                _ => {}
            }
            n.events.push((elapsed, e));
        }
    }

    fn deliver(&mut self, id: u64) {
        let Some((dst, src, bytes)) = self.parcels.remove(&id) else {
            return;
        };
        let now = self.now;
        match dst {
            Dst::L2tp(j) => {
                if self.nodes[j].silent {
                    self.lost += 1;
                    return;
                }
                self.delivered += 1;
                self.nodes[j].engine.handle_input(now, src, &bytes);
                self.collect(j);
            }
            Dst::Radius(i) => {
                let socket = usize::from(src.port() - 18000);
                if let Some(answer) = self.nodes[i].radius.answer(now, src, &bytes) {
                    let from = self.nodes[i].radius.addr;
                    self.push(
                        now + Duration::from_millis(1),
                        Dst::RadiusAnswer(i, socket),
                        from,
                        answer,
                    );
                }
            }
            Dst::RadiusAnswer(i, socket) => {
                self.nodes[i]
                    .engine
                    .handle_auth_input(now, socket, src, &bytes);
                self.collect(i);
            }
        }
    }

    /// Runs the network and every engine's timers until `until`.
    pub fn run_until(&mut self, until: Instant) {
        let mut steps: u64 = 0;
        loop {
            for i in 0..self.nodes.len() {
                self.collect(i);
            }
            let next_packet = self.queue.peek().map(|Reverse((at, _))| *at);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.engine.poll_timeout())
                .min();
            let next = [next_packet, next_timer].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= until) else {
                self.now = self.now.max(until);
                return;
            };
            self.now = self.now.max(next);
            steps += 1;
            assert!(steps < 50_000_000, "simulation does not progress");
            while let Some(Reverse((at, id))) = self.queue.peek().copied() {
                if at > self.now {
                    break;
                }
                self.queue.pop();
                self.deliver(id);
            }
            let now = self.now;
            for i in 0..self.nodes.len() {
                if self.nodes[i]
                    .engine
                    .poll_timeout()
                    .is_some_and(|t| t <= now)
                {
                    self.nodes[i].engine.handle_timeout(now);
                    self.collect(i);
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}
