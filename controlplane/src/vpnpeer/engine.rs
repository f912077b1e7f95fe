//! Sans-IO VPN peering engine of one router (docs/protocols/vpn-peering.md).
//!
//! One [`Engine`] serves every local VR of a router: it owns one L2TP engine (one UDP
//! endpoint; each pair of VRs of a VPN gets its own control connection in it) and one
//! [`Authenticator`]. The caller feeds it the configuration map (from discovery:
//! [`Engine::add_peer`] / [`Engine::remove_peer`]), the local VRs' routes
//! ([`Engine::update`]) and datagrams ([`Engine::handle_input`] for L2TP,
//! [`Engine::handle_auth_input`] for RADIUS answers); it hands back datagrams
//! ([`Engine::poll_transmit`]), its next deadline ([`Engine::poll_timeout`]) and
//! [`Event`]s: routes to install / withdraw in a VR's FIB, peers up / held / down.
//!
//! Per channel: the lower router id opens the L2TP connection (SCCRQ); both ends send Open
//! (who they are, a CHAP challenge), answer the other's challenge (Auth-Response), check the
//! answer through RADIUS and send Auth-Accept; once both accepted, each sends its VR's
//! routes (full exchange, END-OF-RIB), then incremental updates. L2TP HELLO is the monitor
//! message; a channel that times out puts the peer on hold: its routes stay installed until
//! the hold time runs out (then they are withdrawn and the peer released) or the channel
//! comes back (then routes not refreshed by the new full exchange are withdrawn, the others
//! stay untouched).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::l2tp::engine::{self as l2tp, result, DownReason};
use crate::ppp::auth::chap_md5_response;

use super::auth::{AuthRequest, AuthTransmit, Authenticator, Verdict};
use super::wire::{self, IpPrefix, Message, RouteOp};

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// This router's id (IPv4 form): the next hop of our routes, the tie rule of who opens.
    pub router_id: Ipv4Addr,
    /// The L2TP engine's configuration ([`Config::new`] sets what the channel needs).
    pub l2tp: l2tp::Config,
    /// How long a silent peer's routes are kept (seed 001 Fig. 10: 24 h; seconds in a lab).
    pub hold_time: Duration,
    /// How long the opener waits before trying again after a failed or lost connection.
    pub reconnect_interval: Duration,
    /// A channel must be authenticated in both directions within this time after the L2TP
    /// connection is up, else it is cleared.
    pub auth_timeout: Duration,
    /// Routes accepted from one peer; more are dropped and counted.
    pub max_routes_per_peer: usize,
    /// Peers (VR pairs) over all VPNs.
    pub max_peers: usize,
}

impl Config {
    /// Defaults: hold time 24 h (seed 001), reconnect 5 s, auth timeout 30 s, 100,000 routes per
    /// peer, 4,096 peers; the L2TP engine without tunnel secret (authentication is per VPN,
    /// above L2TP), no tie breaker (only the lower router id opens), our message type
    /// delivered, a receive window of 64 messages and a 10 ms delayed ack: a full exchange
    /// is a burst of hundreds of messages, and with RFC 2661's usual window of 8 and a
    /// 100 ms delayed ack the sender would wait for the ack of every window (about 11,000
    /// routes/s whatever the CPU; docs/protocols/vpn-peering.md §8).
    pub fn new(router_id: Ipv4Addr) -> Self {
        let mut l = l2tp::Config::new(l2tp::Role::Lns, &router_id.to_string());
        l.tie_breaker = false;
        l.deliver_unknown_messages = true;
        l.receive_window = 64;
        l.ack_delay = Duration::from_millis(10);
        l.secret = None;
        Config {
            router_id,
            l2tp: l,
            hold_time: Duration::from_secs(24 * 3600),
            reconnect_interval: Duration::from_secs(5),
            auth_timeout: Duration::from_secs(30),
            max_routes_per_peer: 100_000,
            max_peers: 4096,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// L2TP, from our L2TP socket.
    L2tp { dst: SocketAddr, bytes: Vec<u8> },
    /// To the RADIUS server, from authenticator socket `socket`.
    Auth(AuthTransmit),
}

/// Why a peer left the channel table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownCause {
    /// The hold time ran out with the peer still silent.
    HoldExpired,
    /// Removed by the caller (the configuration map lost it).
    Removed,
    /// The peer refused our authentication (StopCCN result 4): we stop talking to it.
    RefusedByPeer,
}

/// What the caller acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Install (or replace) `prefix` in VR `vpn_id`'s FIB: push [transport label toward
    /// `via`, `vpn_label`], next hop router `via`.
    Install {
        vpn_id: u32,
        prefix: IpPrefix,
        vpn_label: u32,
        via: Ipv4Addr,
    },
    /// Remove `prefix` learnt from `via` from VR `vpn_id`'s FIB.
    Withdraw {
        vpn_id: u32,
        prefix: IpPrefix,
        via: Ipv4Addr,
    },
    /// The channel is authenticated both ways; the full exchange starts.
    PeerUp { vpn_id: u32, router: Ipv4Addr },
    /// The channel went silent: routes kept until `until`.
    PeerHeld {
        vpn_id: u32,
        router: Ipv4Addr,
        until: Instant,
    },
    /// The peer is gone from the table (its routes were withdrawn before this event).
    PeerDown {
        vpn_id: u32,
        router: Ipv4Addr,
        cause: DownCause,
    },
    /// Our RADIUS server rejected the peer's response; the channel was refused.
    AuthRejected { vpn_id: u32, router: Ipv4Addr },
}

/// Local request errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("VPN {0} has no local VR on this router")]
    UnknownVpn(u32),
    #[error("peer limit reached (max_peers = {0})")]
    MaxPeers(usize),
    #[error("router {0} is this router")]
    SelfPeer(Ipv4Addr),
    #[error("{0}")]
    Wire(#[from] wire::WireError),
}

/// Named counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub connect_attempts: u64,
    pub connect_failures: u64,
    pub peers_up: u64,
    pub peers_held: u64,
    pub hold_recoveries: u64,
    pub hold_expiries: u64,
    pub auth_requests: u64,
    pub auth_accepts: u64,
    /// RADIUS rejected a peer (the error the existing VR records).
    pub auth_rejects: u64,
    pub auth_unavailable: u64,
    pub auth_start_errors: u64,
    pub auth_timeouts: u64,
    /// A peer refused us (StopCCN result 4 during authentication).
    pub refused_by_peer: u64,
    /// Open for a VPN or router not in our configuration map, or from the wrong address.
    pub unknown_peer: u64,
    pub malformed_messages: u64,
    /// A well-formed message whose VPN/router is not the channel's, or out of phase.
    pub unexpected_messages: u64,
    pub foreign_avps_skipped: u64,
    pub updates_rx: u64,
    pub updates_tx: u64,
    pub routes_rx: u64,
    pub withdraws_rx: u64,
    pub routes_tx: u64,
    pub withdraws_tx: u64,
    pub routes_over_limit: u64,
    pub stale_routes_withdrawn: u64,
    pub refused_max_peers: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No channel; the opener connects at `next_connect`.
    Idle,
    /// SCCRQ sent (we open).
    Connecting,
    /// L2TP up; Open / Auth-Response / Auth-Accept in progress.
    Authenticating,
    Up,
    /// The peer refused us: nothing more until the caller re-adds it.
    Refused,
}

type PeerKey = (u32, Ipv4Addr);

/// One channel as listed ([`Engine::channels`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The peer VR's provider router.
    pub router: Ipv4Addr,
    /// Its L2TP endpoint.
    pub addr: SocketAddr,
    /// `up`, `held` (silent, routes kept), `authenticating`, `connecting`, `refused` (the
    /// peer refused us) or `down` (waiting to (re)connect, or for the peer to open).
    pub state: &'static str,
    /// Our L2TP tunnel id.
    pub tunnel: Option<u16>,
    /// The peer's L2TP tunnel id.
    pub peer_tunnel: Option<u16>,
    /// Routes learnt from it.
    pub routes_received: usize,
    /// End of the hold time, when held.
    pub held_until: Option<Instant>,
}

struct Peer {
    addr: SocketAddr,
    phase: Phase,
    tunnel: Option<u16>,
    challenge: Vec<u8>,
    chap_id: u8,
    open_sent: bool,
    we_accepted: bool,
    they_accepted: bool,
    auth_tag: Option<u64>,
    auth_deadline: Option<Instant>,
    next_connect: Option<Instant>,
    held_until: Option<Instant>,
    rib_in: HashMap<IpPrefix, u32>,
    /// Routes kept over a reconnection, not yet refreshed by the new full exchange.
    stale: Option<HashSet<IpPrefix>>,
}

struct LocalVr {
    secret: Vec<u8>,
    routes: HashMap<IpPrefix, u32>,
}

/// The VPN peering engine of one router.
pub struct Engine<R: Rng, A: Authenticator> {
    cfg: Config,
    l2tp: l2tp::Engine<R>,
    auth: A,
    vrs: HashMap<u32, LocalVr>,
    peers: HashMap<PeerKey, Peer>,
    /// Our tunnel id → the peer it serves.
    tunnels: HashMap<u16, PeerKey>,
    /// Established tunnels whose Open has not come yet, with their deadline.
    unbound: HashMap<u16, Instant>,
    auth_tags: HashMap<u64, (PeerKey, u16)>,
    next_tag: u64,
    events: VecDeque<Event>,
    counters: Counters,
}

impl<R: Rng, A: Authenticator> Engine<R, A> {
    /// A new engine; `rng` gives tunnel ids and challenges (seeded in simulations).
    pub fn new(cfg: Config, rng: R, auth: A) -> Self {
        let l2tp = l2tp::Engine::new(cfg.l2tp.clone(), rng);
        Engine {
            cfg,
            l2tp,
            auth,
            vrs: HashMap::new(),
            peers: HashMap::new(),
            tunnels: HashMap::new(),
            unbound: HashMap::new(),
            auth_tags: HashMap::new(),
            next_tag: 1,
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// The L2TP engine's counters (retransmissions, HELLOs, malformed datagrams).
    pub fn l2tp_counters(&self) -> &l2tp::Counters {
        self.l2tp.counters()
    }
    pub fn authenticator(&self) -> &A {
        &self.auth
    }
    /// Routes learnt from `router` for VPN `vpn_id` (prefix → VPN label).
    pub fn routes_from(&self, vpn_id: u32, router: Ipv4Addr) -> Option<&HashMap<IpPrefix, u32>> {
        self.peers.get(&(vpn_id, router)).map(|p| &p.rib_in)
    }
    /// Whether the channel to `router` for `vpn_id` is up (authenticated both ways).
    pub fn peer_is_up(&self, vpn_id: u32, router: Ipv4Addr) -> bool {
        self.peers
            .get(&(vpn_id, router))
            .is_some_and(|p| p.phase == Phase::Up)
    }
    /// Whether `router` is on hold for `vpn_id`.
    pub fn peer_is_held(&self, vpn_id: u32, router: Ipv4Addr) -> bool {
        self.peers
            .get(&(vpn_id, router))
            .is_some_and(|p| p.held_until.is_some())
    }
    /// Peers known (any state).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Every channel of VPN `vpn_id`, by router id (for listings).
    pub fn channels(&self, vpn_id: u32) -> Vec<ChannelInfo> {
        let mut out: Vec<ChannelInfo> = self
            .peers
            .iter()
            .filter(|(k, _)| k.0 == vpn_id)
            .map(|(k, p)| ChannelInfo {
                router: k.1,
                addr: p.addr,
                state: match (p.phase, p.held_until) {
                    (_, Some(_)) => "held",
                    (Phase::Up, None) => "up",
                    (Phase::Authenticating, None) => "authenticating",
                    (Phase::Connecting, None) => "connecting",
                    (Phase::Refused, None) => "refused",
                    (Phase::Idle, None) => "down",
                },
                tunnel: p.tunnel,
                peer_tunnel: p.tunnel.and_then(|t| self.l2tp.tunnel_peer_id(t)),
                routes_received: p.rib_in.len(),
                held_until: p.held_until,
            })
            .collect();
        out.sort_by_key(|c| c.router);
        out
    }

    /// Routes local VR `vpn_id` announces (prefix → its VPN label).
    pub fn local_routes(&self, vpn_id: u32) -> Option<&HashMap<IpPrefix, u32>> {
        self.vrs.get(&vpn_id).map(|v| &v.routes)
    }

    /// Adds (or re-keys) a local VR of `vpn_id` with the VPN's secret.
    pub fn add_vr(&mut self, vpn_id: u32, secret: &[u8]) {
        let vr = self.vrs.entry(vpn_id).or_insert_with(|| LocalVr {
            secret: Vec::new(),
            routes: HashMap::new(),
        });
        vr.secret = secret.to_vec();
    }

    /// Removes a local VR: its peers are removed (channels cleared, routes withdrawn).
    pub fn remove_vr(&mut self, now: Instant, vpn_id: u32) {
        let keys: Vec<PeerKey> = self
            .peers
            .keys()
            .filter(|k| k.0 == vpn_id)
            .copied()
            .collect();
        for (v, r) in keys {
            self.remove_peer(now, v, r);
        }
        self.vrs.remove(&vpn_id);
    }

    /// A VR of `vpn_id` on `router` at `addr` (its L2TP endpoint) joined the configuration
    /// map. The lower router id opens the channel at once.
    pub fn add_peer(
        &mut self,
        now: Instant,
        vpn_id: u32,
        router: Ipv4Addr,
        addr: SocketAddr,
    ) -> Result<(), Error> {
        if !self.vrs.contains_key(&vpn_id) {
            return Err(Error::UnknownVpn(vpn_id));
        }
        if router == self.cfg.router_id {
            return Err(Error::SelfPeer(router));
        }
        if let Some(p) = self.peers.get_mut(&(vpn_id, router)) {
            p.addr = addr;
            if p.phase == Phase::Refused {
                p.phase = Phase::Idle;
                p.next_connect = Some(now);
            }
            self.run_timers(now);
            self.pump(now);
            return Ok(());
        }
        if self.peers.len() >= self.cfg.max_peers {
            self.counters.refused_max_peers += 1;
            return Err(Error::MaxPeers(self.cfg.max_peers));
        }
        let opener = self.we_open(router);
        self.peers.insert(
            (vpn_id, router),
            Peer {
                addr,
                phase: Phase::Idle,
                tunnel: None,
                challenge: Vec::new(),
                chap_id: 0,
                open_sent: false,
                we_accepted: false,
                they_accepted: false,
                auth_tag: None,
                auth_deadline: None,
                next_connect: opener.then_some(now),
                held_until: None,
                rib_in: HashMap::new(),
                stale: None,
            },
        );
        self.run_timers(now);
        self.pump(now);
        Ok(())
    }

    /// The VR of `vpn_id` on `router` left the configuration map: channel cleared, its routes
    /// withdrawn, the peer forgotten.
    pub fn remove_peer(&mut self, now: Instant, vpn_id: u32, router: Ipv4Addr) {
        self.release(now, (vpn_id, router), DownCause::Removed);
        self.pump(now);
    }

    /// Follows a configuration-map change of VR discovery (`crate::discovery`): a learnt
    /// VR becomes a peer at its address and the L2TP port `l2tp_port`, a lost one is
    /// removed. Changes for VPNs without a local VR here are ignored (`Ok(false)`).
    pub fn on_discovery(
        &mut self,
        now: Instant,
        ev: crate::discovery::Event,
        l2tp_port: u16,
    ) -> Result<bool, Error> {
        use crate::discovery::Event as D;
        match ev {
            D::PeerLearnt {
                vpn_id,
                router,
                addr,
            } if self.vrs.contains_key(&vpn_id) => {
                self.add_peer(now, vpn_id, router, SocketAddr::new(addr, l2tp_port))?;
                Ok(true)
            }
            D::PeerLost { vpn_id, router, .. } if self.peers.contains_key(&(vpn_id, router)) => {
                self.remove_peer(now, vpn_id, router);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Changes the routes of local VR `vpn_id` (add/replace or withdraw) and sends them to
    /// every peer of the VPN whose channel is up.
    pub fn update(&mut self, now: Instant, vpn_id: u32, ops: &[RouteOp]) -> Result<(), Error> {
        let vr = self.vrs.get_mut(&vpn_id).ok_or(Error::UnknownVpn(vpn_id))?;
        // All or nothing: a bad label refuses the whole call before anything changes.
        if let Some(bad) = ops
            .iter()
            .find(|o| !o.withdraw && !(wire::MIN_LABEL..=wire::MAX_LABEL).contains(&o.label))
        {
            return Err(wire::WireError::LabelOutOfRange(bad.label).into());
        }
        let mut send = Vec::with_capacity(ops.len());
        for op in ops {
            let changed = if op.withdraw {
                vr.routes.remove(&op.prefix).is_some()
            } else {
                vr.routes.insert(op.prefix, op.label) != Some(op.label)
            };
            if changed {
                send.push(*op);
            }
        }
        if send.is_empty() {
            return Ok(());
        }
        let msgs = wire::encode_updates(vpn_id, self.cfg.router_id, &send, false)?;
        let (adds, wds) = send.iter().fold((0u64, 0u64), |(a, w), o| {
            (a + u64::from(!o.withdraw), w + u64::from(o.withdraw))
        });
        let up: Vec<u16> = self
            .peers
            .iter()
            .filter(|(k, p)| k.0 == vpn_id && p.phase == Phase::Up)
            .filter_map(|(_, p)| p.tunnel)
            .collect();
        for t in up {
            for m in &msgs {
                if self
                    .l2tp
                    .send_optional_message(now, t, wire::MESSAGE_TYPE, m.clone())
                    .is_ok()
                {
                    self.counters.updates_tx += 1;
                }
            }
            self.counters.routes_tx += adds;
            self.counters.withdraws_tx += wds;
        }
        self.pump(now);
        Ok(())
    }

    /// Feeds an L2TP datagram from `src`.
    pub fn handle_input(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        self.l2tp.handle_input(now, src, bytes);
        self.pump(now);
    }

    /// Feeds a datagram received on authenticator socket `socket` (a RADIUS answer).
    pub fn handle_auth_input(
        &mut self,
        now: Instant,
        socket: usize,
        src: SocketAddr,
        bytes: &[u8],
    ) {
        self.auth.handle_input(now, socket, src, bytes);
        self.pump(now);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.l2tp.handle_timeout(now);
        self.auth.handle_timeout(now);
        self.pump(now);
        self.run_timers(now);
        self.pump(now);
    }

    /// When [`Engine::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self.peers.values().flat_map(|p| {
            [p.next_connect, p.held_until, p.auth_deadline]
                .into_iter()
                .flatten()
        });
        [self.l2tp.poll_timeout(), self.auth.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(peers)
            .chain(self.unbound.values().copied())
            .min()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.l2tp.poll_transmit() {
            return Some(Transmit::L2tp {
                dst: t.dst,
                bytes: t.bytes,
            });
        }
        self.auth.poll_transmit().map(Transmit::Auth)
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn we_open(&self, router: Ipv4Addr) -> bool {
        u32::from(self.cfg.router_id) < u32::from(router)
    }

    fn run_timers(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get(&k) else {
                continue;
            };
            if p.held_until.is_some_and(|u| u <= now) {
                self.counters.hold_expiries += 1;
                self.release(now, k, DownCause::HoldExpired);
                continue;
            }
            if p.auth_deadline.is_some_and(|u| u <= now) {
                self.counters.auth_timeouts += 1;
                let t = p.tunnel;
                self.drop_channel(
                    now,
                    k,
                    t,
                    result::STOPCCN_GENERAL_ERROR,
                    "authentication timed out",
                );
                continue;
            }
            if p.phase == Phase::Idle && p.next_connect.is_some_and(|u| u <= now) {
                self.connect(now, k);
            }
        }
        let late: Vec<u16> = self
            .unbound
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in late {
            self.unbound.remove(&t);
            self.counters.auth_timeouts += 1;
            let _ = self.l2tp.close_tunnel_with(
                now,
                t,
                result::STOPCCN_GENERAL_ERROR,
                None,
                "no Open received",
            );
        }
    }

    fn connect(&mut self, now: Instant, k: PeerKey) {
        let Some(p) = self.peers.get_mut(&k) else {
            return;
        };
        p.next_connect = None;
        self.counters.connect_attempts += 1;
        match self.l2tp.open_tunnel(now, p.addr) {
            Ok(t) => {
                p.phase = Phase::Connecting;
                p.tunnel = Some(t);
                self.tunnels.insert(t, k);
            }
            Err(_) => {
                self.counters.connect_failures += 1;
                p.next_connect = Some(now + self.cfg.reconnect_interval);
            }
        }
    }

    /// Clears the channel of `k` (StopCCN with `result`) and goes back to Idle (or stays
    /// held); the opener retries later.
    fn drop_channel(
        &mut self,
        now: Instant,
        k: PeerKey,
        tunnel: Option<u16>,
        result: u16,
        msg: &str,
    ) {
        if let Some(t) = tunnel {
            self.tunnels.remove(&t);
            let _ = self.l2tp.close_tunnel_with(now, t, result, None, msg);
        }
        let opener = self.we_open(k.1);
        if let Some(p) = self.peers.get_mut(&k) {
            if p.tunnel == tunnel {
                p.tunnel = None;
            }
            self.lost(now, k, opener);
        }
    }

    /// The channel of `k` ended without a refusal: hold the routes if there are any.
    fn lost(&mut self, now: Instant, k: PeerKey, opener: bool) {
        let hold = self.cfg.hold_time;
        let retry = now + self.cfg.reconnect_interval;
        let Some(p) = self.peers.get_mut(&k) else {
            return;
        };
        let was_up = p.phase == Phase::Up;
        p.phase = Phase::Idle;
        p.tunnel = None;
        p.open_sent = false;
        p.we_accepted = false;
        p.they_accepted = false;
        p.auth_deadline = None;
        if let Some(tag) = p.auth_tag.take() {
            self.auth_tags.remove(&tag);
        }
        p.next_connect = opener.then_some(retry);
        if !was_up {
            self.counters.connect_failures += 1;
        }
        if p.held_until.is_none() && (was_up || !p.rib_in.is_empty()) {
            let until = now + hold;
            p.held_until = Some(until);
            self.counters.peers_held += 1;
            self.events.push_back(Event::PeerHeld {
                vpn_id: k.0,
                router: k.1,
                until,
            });
        }
    }

    /// Withdraws every route of `k`, clears its channel and forgets it.
    fn release(&mut self, now: Instant, k: PeerKey, cause: DownCause) {
        let Some(p) = self.peers.remove(&k) else {
            return;
        };
        if let Some(t) = p.tunnel {
            self.tunnels.remove(&t);
            let _ = self.l2tp.close_tunnel_with(
                now,
                t,
                result::STOPCCN_CLEAR,
                None,
                match cause {
                    DownCause::HoldExpired => "hold time expired",
                    DownCause::Removed => "VR left the configuration map",
                    DownCause::RefusedByPeer => "refused",
                },
            );
        }
        if let Some(tag) = p.auth_tag {
            self.auth_tags.remove(&tag);
        }
        let mut prefixes: Vec<IpPrefix> = p.rib_in.into_keys().collect();
        prefixes.sort();
        for prefix in prefixes {
            self.events.push_back(Event::Withdraw {
                vpn_id: k.0,
                prefix,
                via: k.1,
            });
        }
        self.events.push_back(Event::PeerDown {
            vpn_id: k.0,
            router: k.1,
            cause,
        });
    }

    fn send(&mut self, now: Instant, tunnel: u16, m: &Message) {
        match wire::encode(m) {
            Ok(avps) => {
                let _ = self
                    .l2tp
                    .send_optional_message(now, tunnel, wire::MESSAGE_TYPE, avps);
            }
            Err(_) => self.counters.malformed_messages += 1,
        }
    }

    fn send_open(&mut self, now: Instant, k: PeerKey) {
        // From the L2TP engine's injected RNG: deterministic in simulations.
        let mut challenge = vec![0u8; 16];
        self.l2tp.fill_random(&mut challenge);
        // The CHAP identifier is the challenge's first byte (docs/protocols/vpn-peering.md §4).
        let chap_id = challenge[0];
        let Some(p) = self.peers.get_mut(&k) else {
            return;
        };
        let Some(t) = p.tunnel else { return };
        p.challenge = challenge.clone();
        p.chap_id = chap_id;
        p.open_sent = true;
        self.send(
            now,
            t,
            &Message::Open {
                vpn_id: k.0,
                router_id: self.cfg.router_id,
                challenge,
            },
        );
    }

    /// Processes what the L2TP engine and the authenticator produced.
    fn pump(&mut self, now: Instant) {
        loop {
            if let Some(e) = self.l2tp.poll_event() {
                self.on_l2tp_event(now, e);
                continue;
            }
            if let Some(r) = self.auth.poll_result() {
                self.on_auth_result(now, r.tag, r.verdict);
                continue;
            }
            break;
        }
    }

    fn on_l2tp_event(&mut self, now: Instant, e: l2tp::Event) {
        match e {
            l2tp::Event::TunnelUp { tunnel, .. } => match self.tunnels.get(&tunnel).copied() {
                Some(k) => {
                    if let Some(p) = self.peers.get_mut(&k) {
                        p.phase = Phase::Authenticating;
                        p.auth_deadline = Some(now + self.cfg.auth_timeout);
                    }
                    self.send_open(now, k);
                }
                None => {
                    self.unbound.insert(tunnel, now + self.cfg.auth_timeout);
                }
            },
            l2tp::Event::TunnelDown { tunnel, reason } => {
                self.unbound.remove(&tunnel);
                let Some(k) = self.tunnels.remove(&tunnel) else {
                    return;
                };
                let opener = self.we_open(k.1);
                let refused = matches!(reason, DownReason::Peer { result, .. } if result == result::STOPCCN_NOT_AUTHORIZED);
                let Some(p) = self.peers.get_mut(&k) else {
                    return;
                };
                if p.tunnel != Some(tunnel) {
                    return;
                }
                if refused && p.phase == Phase::Authenticating {
                    // The new VR stops: the existing VR refused it. It is not retried until
                    // the configuration map adds the peer again.
                    self.counters.refused_by_peer += 1;
                    self.release(now, k, DownCause::RefusedByPeer);
                    return;
                }
                self.lost(now, k, opener);
            }
            l2tp::Event::Message {
                tunnel,
                message_type,
                avps,
            } => {
                if message_type != wire::MESSAGE_TYPE {
                    self.counters.unexpected_messages += 1;
                    return;
                }
                match wire::decode(&avps) {
                    Ok((m, skipped)) => {
                        self.counters.foreign_avps_skipped += u64::from(skipped.foreign_avps);
                        self.on_message(now, tunnel, m);
                    }
                    Err(_) => self.counters.malformed_messages += 1,
                }
            }
            // Sessions are never placed on peering channels.
            l2tp::Event::SessionUp { .. }
            | l2tp::Event::SessionDown { .. }
            | l2tp::Event::WanErrorNotify { .. }
            | l2tp::Event::SetLinkInfo { .. } => {}
        }
    }

    fn on_message(&mut self, now: Instant, tunnel: u16, m: Message) {
        let (vpn_id, router) = match &m {
            Message::Open {
                vpn_id, router_id, ..
            }
            | Message::AuthResponse {
                vpn_id, router_id, ..
            }
            | Message::AuthAccept { vpn_id, router_id }
            | Message::Update {
                vpn_id, router_id, ..
            } => (*vpn_id, *router_id),
        };
        let k = (vpn_id, router);
        let bound = match self.tunnels.get(&tunnel) {
            Some(b) => *b,
            None => {
                // The first message of a channel the peer opened must be its Open.
                if !matches!(m, Message::Open { .. }) || !self.unbound.contains_key(&tunnel) {
                    self.counters.unexpected_messages += 1;
                    return;
                }
                let src = self.l2tp.tunnel_peer(tunnel).map(|a| a.ip());
                let ok = self
                    .peers
                    .get(&k)
                    .is_some_and(|p| Some(p.addr.ip()) == src && p.phase != Phase::Refused)
                    && !self.we_open(router);
                if !ok {
                    self.counters.unknown_peer += 1;
                    self.unbound.remove(&tunnel);
                    let _ = self.l2tp.close_tunnel_with(
                        now,
                        tunnel,
                        result::STOPCCN_NOT_AUTHORIZED,
                        None,
                        "VPN or router not in the configuration map",
                    );
                    return;
                }
                self.unbound.remove(&tunnel);
                // A new channel from a peer we had one with: it restarted; the old one goes.
                let old = self.peers.get(&k).and_then(|p| p.tunnel);
                if let Some(old) = old {
                    self.tunnels.remove(&old);
                    let _ = self.l2tp.close_tunnel_with(
                        now,
                        old,
                        result::STOPCCN_CLEAR,
                        None,
                        "replaced by a new channel",
                    );
                    self.lost(now, k, false);
                }
                self.tunnels.insert(tunnel, k);
                if let Some(p) = self.peers.get_mut(&k) {
                    p.tunnel = Some(tunnel);
                    p.phase = Phase::Authenticating;
                    p.next_connect = None;
                    p.auth_deadline = Some(now + self.cfg.auth_timeout);
                }
                k
            }
        };
        if bound != k {
            self.counters.unexpected_messages += 1;
            return;
        }
        let Some(p) = self.peers.get(&k) else { return };
        let phase = p.phase;
        match m {
            Message::Open { challenge, .. } if phase == Phase::Authenticating => {
                if !p.open_sent {
                    self.send_open(now, k);
                }
                let Some(vr) = self.vrs.get(&k.0) else { return };
                let chap_id = challenge[0];
                let response = chap_md5_response(chap_id, &vr.secret, &challenge);
                self.send(
                    now,
                    tunnel,
                    &Message::AuthResponse {
                        vpn_id: k.0,
                        router_id: self.cfg.router_id,
                        chap_id,
                        response,
                    },
                );
            }
            Message::AuthResponse {
                chap_id, response, ..
            } if phase == Phase::Authenticating && p.auth_tag.is_none() && !p.we_accepted => {
                if chap_id != p.chap_id || p.challenge.is_empty() {
                    self.counters.unexpected_messages += 1;
                    return;
                }
                let tag = self.next_tag;
                self.next_tag += 1;
                let req = AuthRequest {
                    tag,
                    user: format!("{}/{}", k.0, k.1),
                    chap_id,
                    challenge: p.challenge.clone(),
                    response,
                };
                self.counters.auth_requests += 1;
                match self.auth.start(now, req) {
                    Ok(()) => {
                        self.auth_tags.insert(tag, (k, tunnel));
                        if let Some(p) = self.peers.get_mut(&k) {
                            p.auth_tag = Some(tag);
                        }
                    }
                    Err(_) => {
                        self.counters.auth_start_errors += 1;
                        self.drop_channel(
                            now,
                            k,
                            Some(tunnel),
                            result::STOPCCN_GENERAL_ERROR,
                            "authentication server not available",
                        );
                    }
                }
            }
            Message::AuthAccept { .. } if phase == Phase::Authenticating => {
                if let Some(p) = self.peers.get_mut(&k) {
                    p.they_accepted = true;
                }
                self.maybe_up(now, k);
            }
            Message::Update {
                routes, end_of_rib, ..
            } if phase == Phase::Up => self.on_update(k, routes, end_of_rib),
            _ => self.counters.unexpected_messages += 1,
        }
    }

    fn on_auth_result(&mut self, now: Instant, tag: u64, verdict: Verdict) {
        let Some((k, tunnel)) = self.auth_tags.remove(&tag) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&k) else {
            return;
        };
        if p.auth_tag != Some(tag) || p.tunnel != Some(tunnel) {
            return;
        }
        p.auth_tag = None;
        match verdict {
            Verdict::Accept => {
                self.counters.auth_accepts += 1;
                p.we_accepted = true;
                self.send(
                    now,
                    tunnel,
                    &Message::AuthAccept {
                        vpn_id: k.0,
                        router_id: self.cfg.router_id,
                    },
                );
                self.maybe_up(now, k);
            }
            Verdict::Reject => {
                self.counters.auth_rejects += 1;
                self.events.push_back(Event::AuthRejected {
                    vpn_id: k.0,
                    router: k.1,
                });
                self.tunnels.remove(&tunnel);
                let _ = self.l2tp.close_tunnel_with(
                    now,
                    tunnel,
                    result::STOPCCN_NOT_AUTHORIZED,
                    None,
                    "RADIUS rejected the VPN peer",
                );
                let opener = self.we_open(k.1);
                self.lost(now, k, opener);
                // A rejected VR is not retried until the map changes.
                if let Some(p) = self.peers.get_mut(&k) {
                    p.next_connect = None;
                    p.phase = Phase::Refused;
                }
            }
            Verdict::Unavailable => {
                self.counters.auth_unavailable += 1;
                self.drop_channel(
                    now,
                    k,
                    Some(tunnel),
                    result::STOPCCN_GENERAL_ERROR,
                    "authentication server not available",
                );
            }
        }
    }

    fn maybe_up(&mut self, now: Instant, k: PeerKey) {
        let Some(p) = self.peers.get_mut(&k) else {
            return;
        };
        if !(p.we_accepted && p.they_accepted) || p.phase != Phase::Authenticating {
            return;
        }
        let Some(tunnel) = p.tunnel else { return };
        p.phase = Phase::Up;
        p.auth_deadline = None;
        if p.held_until.take().is_some() {
            self.counters.hold_recoveries += 1;
        }
        if !p.rib_in.is_empty() {
            p.stale = Some(p.rib_in.keys().copied().collect());
        }
        self.counters.peers_up += 1;
        self.events.push_back(Event::PeerUp {
            vpn_id: k.0,
            router: k.1,
        });
        // Full exchange: every route of our VR, then END-OF-RIB.
        let routes: Vec<RouteOp> = self
            .vrs
            .get(&k.0)
            .map(|vr| {
                let mut v: Vec<RouteOp> = vr
                    .routes
                    .iter()
                    .map(|(p, l)| RouteOp {
                        prefix: *p,
                        label: *l,
                        withdraw: false,
                    })
                    .collect();
                v.sort_by_key(|r| r.prefix);
                v
            })
            .unwrap_or_default();
        match wire::encode_updates(k.0, self.cfg.router_id, &routes, true) {
            Ok(msgs) => {
                for m in msgs {
                    if self
                        .l2tp
                        .send_optional_message(now, tunnel, wire::MESSAGE_TYPE, m)
                        .is_ok()
                    {
                        self.counters.updates_tx += 1;
                    }
                }
                self.counters.routes_tx += routes.len() as u64;
            }
            Err(_) => self.counters.malformed_messages += 1,
        }
    }

    fn on_update(&mut self, k: PeerKey, routes: Vec<RouteOp>, end_of_rib: bool) {
        self.counters.updates_rx += 1;
        let max = self.cfg.max_routes_per_peer;
        let Some(p) = self.peers.get_mut(&k) else {
            return;
        };
        for r in routes {
            if r.withdraw {
                self.counters.withdraws_rx += 1;
                if let Some(s) = p.stale.as_mut() {
                    s.remove(&r.prefix);
                }
                if p.rib_in.remove(&r.prefix).is_some() {
                    self.events.push_back(Event::Withdraw {
                        vpn_id: k.0,
                        prefix: r.prefix,
                        via: k.1,
                    });
                }
                continue;
            }
            self.counters.routes_rx += 1;
            if let Some(s) = p.stale.as_mut() {
                s.remove(&r.prefix);
            }
            match p.rib_in.get(&r.prefix) {
                Some(l) if *l == r.label => continue,
                Some(_) => {}
                None if p.rib_in.len() >= max => {
                    self.counters.routes_over_limit += 1;
                    continue;
                }
                None => {}
            }
            p.rib_in.insert(r.prefix, r.label);
            self.events.push_back(Event::Install {
                vpn_id: k.0,
                prefix: r.prefix,
                vpn_label: r.label,
                via: k.1,
            });
        }
        if end_of_rib {
            if let Some(stale) = p.stale.take() {
                let mut v: Vec<IpPrefix> = stale.into_iter().collect();
                v.sort();
                for prefix in v {
                    p.rib_in.remove(&prefix);
                    self.counters.stale_routes_withdrawn += 1;
                    self.events.push_back(Event::Withdraw {
                        vpn_id: k.0,
                        prefix,
                        via: k.1,
                    });
                }
            }
        }
    }
}
