//! Runs an AAA engine (AAAH or AAAF) on Diameter peer connections over TCP
//! ([`crate::diameter::driver`]): accepted connections (FAs, AAAFs, HAs that connect to us)
//! and outgoing ones ([`Client`]s to the HAs or the home AAAH), polled by one thread.
//!
//! Requests from any open connection go to the engine with a [`ReqId`] that remembers the
//! connection; the engine's answers go back on it. The engine's requests are routed by
//! Destination-Host (a peer with that Origin-Host) or else Destination-Realm (a peer of that
//! realm); no such open peer is `handle_send_failed` at once (3002 upstream). The peer
//! engine's answer timeout and a connection going down with requests pending are
//! `handle_send_failed` too. [`Output::Lookup`]s are answered by the caller's lookup
//! function (a `vpndb` store or a file).

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{CryptoRng, Rng};

use super::client::{FaClient, HaClient};
use super::foreign::Foreign;
use super::home::{Home, Subscriber};
use super::{Output, ReqId, Token};
use crate::diameter::driver::{Client, Connection};
use crate::diameter::peer::{Config, Event, Peer};
use crate::diameter::wire::Message;

/// What the driver needs of an engine.
pub trait Engine {
    /// A request from a peer.
    fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message);
    /// The answer to one of the engine's requests.
    fn handle_answer(&mut self, now: Instant, token: Token, msg: Message);
    /// One of the engine's requests failed.
    fn handle_send_failed(&mut self, now: Instant, token: Token);
    /// The answer to a lookup (engines that make none ignore it).
    fn handle_lookup(&mut self, now: Instant, token: Token, sub: Option<Subscriber>);
    /// A lookup the database could not answer (engines that make none ignore it).
    fn handle_lookup_failed(&mut self, _now: Instant, _token: Token) {}
    /// The next output.
    fn poll_output(&mut self) -> Option<Output>;
    /// The next timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs the timers.
    fn handle_timeout(&mut self, now: Instant);
}

impl<R: Rng + CryptoRng> Engine for Home<R> {
    fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        Home::handle_request(self, now, req, msg)
    }
    fn handle_answer(&mut self, now: Instant, token: Token, msg: Message) {
        Home::handle_answer(self, now, token, msg)
    }
    fn handle_send_failed(&mut self, now: Instant, token: Token) {
        Home::handle_send_failed(self, now, token)
    }
    fn handle_lookup(&mut self, now: Instant, token: Token, sub: Option<Subscriber>) {
        Home::handle_lookup(self, now, token, sub)
    }
    fn handle_lookup_failed(&mut self, now: Instant, token: Token) {
        Home::handle_lookup_failed(self, now, token)
    }
    fn poll_output(&mut self) -> Option<Output> {
        Home::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Home::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Home::handle_timeout(self, now)
    }
}

impl Engine for Foreign {
    fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        Foreign::handle_request(self, now, req, msg)
    }
    fn handle_answer(&mut self, now: Instant, token: Token, msg: Message) {
        Foreign::handle_answer(self, now, token, msg)
    }
    fn handle_send_failed(&mut self, now: Instant, token: Token) {
        Foreign::handle_send_failed(self, now, token)
    }
    fn handle_lookup(&mut self, _now: Instant, _token: Token, _sub: Option<Subscriber>) {}
    fn poll_output(&mut self) -> Option<Output> {
        Foreign::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Foreign::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Foreign::handle_timeout(self, now)
    }
}

impl Engine for FaClient {
    fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        FaClient::handle_request(self, now, req, msg)
    }
    fn handle_answer(&mut self, now: Instant, token: Token, msg: Message) {
        FaClient::handle_answer(self, now, token, msg)
    }
    fn handle_send_failed(&mut self, now: Instant, token: Token) {
        FaClient::handle_send_failed(self, now, token)
    }
    fn handle_lookup(&mut self, _now: Instant, _token: Token, _sub: Option<Subscriber>) {}
    fn poll_output(&mut self) -> Option<Output> {
        FaClient::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        FaClient::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        FaClient::handle_timeout(self, now)
    }
}

impl Engine for HaClient {
    fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        HaClient::handle_request(self, now, req, msg)
    }
    fn handle_answer(&mut self, _now: Instant, _token: Token, _msg: Message) {}
    fn handle_send_failed(&mut self, _now: Instant, _token: Token) {}
    fn handle_lookup(&mut self, _now: Instant, _token: Token, _sub: Option<Subscriber>) {}
    fn poll_output(&mut self) -> Option<Output> {
        HaClient::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
}

/// The answer to a lookup: the NAI's VPN data, `None` for an unknown user, or why the
/// database could not answer (the AMR is answered 5012, the driver counts and logs it).
pub type Lookup = Box<dyn FnMut(&str) -> Result<Option<Subscriber>, String> + Send>;

enum Link {
    In(Box<Connection<StdRng>>),
    Out(Box<Client<StdRng>>),
}

impl Link {
    fn peer(&mut self) -> Option<&mut Peer<StdRng>> {
        match self {
            Link::In(c) => Some(c.peer()),
            Link::Out(c) => c.peer(),
        }
    }
    fn poll(&mut self, now: Instant) {
        match self {
            Link::In(c) => {
                c.poll(now);
            }
            Link::Out(c) => {
                c.poll(now);
            }
        }
    }
    fn next_event(&mut self) -> Option<Event> {
        match self {
            Link::In(c) => c.peer().poll_event(),
            Link::Out(c) => c.poll_event(),
        }
    }
    fn finished(&self) -> bool {
        matches!(self, Link::In(c) if c.is_finished())
    }
}

/// Driver counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverCounters {
    pub accepted: u64,
    pub requests_in: u64,
    pub answers_out: u64,
    pub requests_out: u64,
    pub answers_in: u64,
    pub no_route: u64,
    pub send_errors: u64,
    pub lookups: u64,
    /// Lookups that failed (database errors).
    pub lookup_errors: u64,
    /// Answers sent, by their Result-Code (0: an answer without one).
    pub answers_by_result: BTreeMap<u32, u64>,
}

impl DriverCounters {
    /// A number that moves whenever the driver did some work (a connection accepted, a
    /// message in or out, a lookup): a polling loop may back off while it stands still.
    pub fn activity(&self) -> u64 {
        self.accepted
            + self.requests_in
            + self.answers_out
            + self.requests_out
            + self.answers_in
            + self.no_route
            + self.send_errors
            + self.lookups
    }
}

/// The Result-Code of an answer (0 when it has none or it does not read as an Unsigned32).
pub fn result_code_of(msg: &Message) -> u32 {
    msg.find(crate::diameter::wire::codes::code::RESULT_CODE)
        .and_then(|a| a.as_u32().ok())
        .unwrap_or(0)
}

/// An AAA node: an engine, its listener and its connections.
pub struct Node<E> {
    engine: E,
    cfg: Config,
    listener: Option<TcpListener>,
    links: Vec<(u64, Link)>,
    next_link: u64,
    next_req: ReqId,
    /// ReqId → (link id, request) for the answer.
    reqs: HashMap<ReqId, u64>,
    /// (link id, Hop-by-Hop) → engine token.
    sent: HashMap<(u64, u32), Token>,
    lookup: Lookup,
    counters: DriverCounters,
}

impl<E: Engine> Node<E> {
    /// A node with the peer configuration `cfg` (its `known_avp` should be
    /// [`crate::diameter::mip4::known_avp`]), listening on `listen` when given.
    pub fn new(
        engine: E,
        cfg: Config,
        listen: Option<SocketAddr>,
        lookup: Lookup,
    ) -> std::io::Result<Self> {
        let listener = match listen {
            Some(a) => {
                let l = TcpListener::bind(a)?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        Ok(Node {
            engine,
            cfg,
            listener,
            links: Vec::new(),
            next_link: 1,
            next_req: 1,
            reqs: HashMap::new(),
            sent: HashMap::new(),
            lookup,
            counters: DriverCounters::default(),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }
    /// The engine, to hand it work (e.g. an FA's AMR); call [`Node::poll`] after.
    pub fn engine_mut(&mut self) -> &mut E {
        &mut self.engine
    }
    /// The listening address (e.g. after binding port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }
    /// The driver counters.
    pub fn counters(&self) -> &DriverCounters {
        &self.counters
    }
    /// The remote identities of the open connections.
    pub fn open_peers(&mut self) -> Vec<String> {
        self.links
            .iter_mut()
            .filter_map(|(_, l)| l.peer())
            .filter(|p| p.state().is_open())
            .filter_map(|p| p.remote().map(|r| r.origin_host.clone()))
            .collect()
    }

    /// Keeps a connection to `remote` (an HA, or the home AAAH), reconnected `tc` after it
    /// ends.
    pub fn connect(&mut self, remote: SocketAddr, tc: Duration, now: Instant) {
        let c = Client::new(remote, self.cfg.clone(), tc, || rand::make_rng(), now);
        let id = self.next_link;
        self.next_link += 1;
        self.links.push((id, Link::Out(Box::new(c))));
    }

    /// Accepts, reads, runs the engine and the timers, writes. Call often (every few ms).
    pub fn poll(&mut self, now: Instant) {
        if let Some(l) = &self.listener {
            while let Ok((s, _)) = l.accept() {
                let rng: StdRng = rand::make_rng();
                if let Ok(c) = Connection::accepted(s, self.cfg.clone(), rng, now) {
                    self.counters.accepted += 1;
                    let id = self.next_link;
                    self.next_link += 1;
                    self.links.push((id, Link::In(Box::new(c))));
                }
            }
        }
        for i in 0..self.links.len() {
            self.links[i].1.poll(now);
            let id = self.links[i].0;
            while let Some(ev) = self.links[i].1.next_event() {
                self.on_event(now, id, ev);
            }
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        self.run_outputs(now);
        // Write what the engine produced at once.
        for (_, l) in &mut self.links {
            l.poll(now);
        }
        self.links.retain(|(_, l)| !l.finished());
    }

    fn on_event(&mut self, now: Instant, link: u64, ev: Event) {
        match ev {
            Event::Request(m) => {
                self.counters.requests_in += 1;
                let id = self.next_req;
                self.next_req += 1;
                self.reqs.insert(id, link);
                self.engine.handle_request(now, id, m);
            }
            Event::Answer {
                hop_by_hop,
                message,
            } => {
                if let Some(t) = self.sent.remove(&(link, hop_by_hop)) {
                    self.counters.answers_in += 1;
                    self.engine.handle_answer(now, t, message);
                }
            }
            Event::AnswerTimeout { hop_by_hop, .. } => {
                if let Some(t) = self.sent.remove(&(link, hop_by_hop)) {
                    self.engine.handle_send_failed(now, t);
                }
            }
            Event::Down { pending, .. } => {
                for h in pending {
                    if let Some(t) = self.sent.remove(&(link, h)) {
                        self.engine.handle_send_failed(now, t);
                    }
                }
            }
            _ => {}
        }
    }

    fn route(&mut self, realm: &str, host: Option<&str>) -> Option<usize> {
        let mut by_realm = None;
        for (i, (_, l)) in self.links.iter_mut().enumerate() {
            let Some(p) = l.peer() else { continue };
            if !p.state().is_open() {
                continue;
            }
            let Some(r) = p.remote() else { continue };
            if host.is_some_and(|h| h == r.origin_host) {
                return Some(i);
            }
            if by_realm.is_none() && r.origin_realm == realm {
                by_realm = Some(i);
            }
        }
        by_realm
    }

    fn run_outputs(&mut self, now: Instant) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Answer { req, msg } => {
                    let Some(link) = self.reqs.remove(&req) else {
                        continue;
                    };
                    if let Some((_, l)) = self.links.iter_mut().find(|(id, _)| *id == link) {
                        if let Some(p) = l.peer() {
                            if p.send_answer(&msg).is_ok() {
                                self.counters.answers_out += 1;
                                *self
                                    .counters
                                    .answers_by_result
                                    .entry(result_code_of(&msg))
                                    .or_default() += 1;
                            } else {
                                self.counters.send_errors += 1;
                            }
                        }
                    }
                }
                Output::Send { token, dest, msg } => {
                    let Some(i) = self.route(&dest.realm, dest.host.as_deref()) else {
                        self.counters.no_route += 1;
                        self.engine.handle_send_failed(now, token);
                        continue;
                    };
                    let (id, l) = &mut self.links[i];
                    let id = *id;
                    match l.peer().map(|p| p.send_request(now, msg)) {
                        Some(Ok(hbh)) => {
                            self.counters.requests_out += 1;
                            self.sent.insert((id, hbh), token);
                        }
                        _ => {
                            self.counters.send_errors += 1;
                            self.engine.handle_send_failed(now, token);
                        }
                    }
                }
                Output::Lookup { token, nai } => {
                    self.counters.lookups += 1;
                    match (self.lookup)(&nai) {
                        Ok(sub) => self.engine.handle_lookup(now, token, sub),
                        Err(e) => {
                            self.counters.lookup_errors += 1;
                            // The first failure and every 1000th after it: a database down
                            // under load must not flood the log.
                            if self.counters.lookup_errors % 1000 == 1 {
                                tracing::warn!(
                                    nai = %nai,
                                    failures = self.counters.lookup_errors,
                                    "AAA: VPN database lookup failed: {e}"
                                );
                            }
                            self.engine.handle_lookup_failed(now, token);
                        }
                    }
                }
            }
        }
    }

    /// When to poll next at the latest (engine and connection timers).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let mut t = self.engine.poll_timeout();
        for (_, l) in &self.links {
            let w = match l {
                Link::In(c) => c.next_wakeup(),
                Link::Out(c) => c.next_wakeup(),
            };
            t = match (t, w) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        t
    }
}
