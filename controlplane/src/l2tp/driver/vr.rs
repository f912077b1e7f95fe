//! The appliance driver: one L2TP endpoint (LAC or LNS) per VR, fed with the L2TP control
//! messages the workers punt (UDP 1701 to the VR's tunnel address) and answering with IPv4
//! packets the control core routes **in the same VR**.
//!
//! It turns the engine's session events into interface-table changes: a session that comes
//! up binds `(our tunnel id, our session id)` to its VR, so the workers decapsulate its data
//! messages into that VR; one that goes down is unbound. Tunnel ids are drawn per VR at
//! random; should two VRs ever hold the same `(tunnel, session)` pair, the second binding is
//! refused by the table, the session is closed (CDN) and the collision is counted.
//!
//! Switching a VR between LAC and LNS ([`VrEndpoints::set_role`]) drains it: every tunnel
//! is closed with StopCCN, new tunnels are refused while draining, and the engine is
//! replaced by one of the new role once the old one holds no tunnel (or after
//! [`DRAIN_LIMIT`]).
//!
//! Work is proportional to what happened, not to the number of VRs: endpoints are found by
//! VR id, [`VrEndpoints::drain`] looks only at the endpoints touched since the last drain,
//! and timers are reported per tunnel ([`VrEndpoints::poll_timer_update`]) for the control
//! core's one timer set, which calls [`VrEndpoints::handle_tunnel_timeout`] when one is due.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use vr::VrId;
use wire::l2tp::UDP_PORT;
use wire::{IpProtocol, Ipv4Packet, UdpPacket, UdpRepr};

use crate::l2tp::engine::{CallParams, Config, Engine, Event, Role, SessionState};

/// How long a role switch waits for tunnels to close before replacing the engine anyway.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(35);

/// What the control core must do to the forwarding tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// Bind `(tunnel, session)` to `vr` in the interface table.
    Bind {
        /// The VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
        /// The session as it came up (peer, ids, proxy LCP) for its PPP termination.
        up: Box<SessionUp>,
    },
    /// Remove the binding of `(tunnel, session)`.
    Unbind {
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// A call placed with [`VrEndpoints::place_call`] ended, up or not (after its
    /// `Unbind` if it was up).
    CallEnded {
        /// The VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
}

/// Why a call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The VR has no L2TP endpoint.
    #[error("the VR has no L2TP endpoint")]
    NoEndpoint,
    /// The VR's endpoint is an LNS.
    #[error("the VR's L2TP endpoint is an LNS, not a LAC")]
    NotLac,
    /// The VR is switching roles.
    #[error("the VR's L2TP endpoint is switching roles")]
    Draining,
    /// No LNS to call: none configured.
    #[error("the VR has no LNS peer configured")]
    NoPeer,
    /// The engine refused (limits, ids).
    #[error("{0}")]
    Engine(String),
}

/// An L2TP session that came up, as the PPP termination needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUp {
    /// The LAC's (or LNS's) tunnel id.
    pub peer_tunnel: u16,
    /// Its session id.
    pub peer_session: u16,
    /// Its address and port.
    pub peer: std::net::SocketAddr,
    /// Our tunnel address.
    pub local: Ipv4Addr,
    /// The role of our endpoint.
    pub role: Role,
    /// Calling Number of the call.
    pub calling_number: Vec<u8>,
    /// Proxy LCP / authentication.
    pub proxy: Option<Box<crate::l2tp::engine::ProxyInfo>>,
}

/// Driver counters (the engines keep their own protocol counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// L2TP control packets handed to an engine.
    pub rx: u64,
    /// Punted L2TP for a VR without an L2TP endpoint, or to another of its addresses.
    pub rx_not_configured: u64,
    /// From a source the LNS's `peers` list does not allow.
    pub rx_peer_not_allowed: u64,
    /// Not a well-formed IPv4/UDP datagram.
    pub rx_malformed: u64,
    /// Packets produced for the VRs to route.
    pub tx: u64,
    /// `(tunnel, session)` already bound elsewhere: session closed.
    pub id_collisions: u64,
    /// Role switches completed.
    pub role_switches: u64,
    /// New tunnels refused because the VR is draining for a role switch.
    pub refused_draining: u64,
}

/// One VR's endpoint settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The VR.
    pub vr: VrId,
    /// The VR's tunnel address.
    pub local: Ipv4Addr,
    /// Engine configuration (role, host name, secret, timers, limits).
    pub engine: Config,
    /// LAC: the LNSs to open tunnels to. LNS: allowed LACs (empty = any).
    pub peers: Vec<Ipv4Addr>,
    /// LAC: place one incoming call per peer once its tunnel is up (as xl2tpd's `autodial`).
    pub autodial: bool,
}

struct Endpoint {
    cfg: EndpointConfig,
    engine: Engine<StdRng>,
    /// Role to switch to once drained, and when draining started.
    draining: Option<(Role, Instant)>,
    bound: HashSet<(u16, u16)>,
    dialed: HashSet<u16>,
    /// Calls placed by [`VrEndpoints::place_call`], reported when they end.
    placed: HashSet<(u16, u16)>,
}

impl Endpoint {
    fn new(cfg: EndpointConfig, rng: StdRng, now: Instant) -> Self {
        let mut e = Endpoint {
            engine: Engine::new(cfg.engine.clone(), rng),
            cfg,
            draining: None,
            bound: HashSet::new(),
            dialed: HashSet::new(),
            placed: HashSet::new(),
        };
        e.start(now);
        e
    }

    fn start(&mut self, now: Instant) {
        if self.cfg.engine.role == Role::Lac {
            for p in self.cfg.peers.clone() {
                let _ = self
                    .engine
                    .open_tunnel(now, SocketAddr::new(IpAddr::V4(p), UDP_PORT));
            }
        }
    }
}

/// A tunnel as an operator lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelView {
    /// Our tunnel id.
    pub id: u16,
    /// The peer's address and UDP port.
    pub peer: Option<SocketAddr>,
    /// Control connection state.
    pub state: Option<crate::l2tp::engine::TunnelState>,
    /// Our session ids and their states.
    pub sessions: Vec<(u16, Option<SessionState>)>,
}

/// Which timer of a VR's endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointTimer {
    /// A tunnel's retransmission, acknowledgement, HELLO or closing timer.
    Tunnel(u16),
    /// The deadline of a role switch ([`DRAIN_LIMIT`]).
    Drain,
}

/// Every VR's L2TP endpoint.
pub struct VrEndpoints {
    eps: BTreeMap<VrId, Endpoint>,
    make_rng: Box<dyn FnMut() -> StdRng + Send>,
    /// Bindings of replaced engines still to be removed from the table.
    orphans: Vec<(u16, u16)>,
    /// Placed calls of replaced engines, still to be reported ended.
    orphan_calls: Vec<(VrId, u16, u16)>,
    /// Endpoints used since the last drain.
    touched: BTreeSet<VrId>,
    /// Protocol counters of engines that were replaced or removed.
    retired: crate::l2tp::engine::Counters,
    /// Timers whose deadline may have changed (the deadline is read when polled).
    timer_keys: BTreeSet<(VrId, EndpointTimer)>,
    /// Counters.
    pub stats: DriverStats,
}

impl VrEndpoints {
    /// Endpoints for `cfgs`; `make_rng` seeds each engine (from the OS in the appliance,
    /// fixed seeds in tests).
    pub fn new(
        cfgs: Vec<EndpointConfig>,
        make_rng: Box<dyn FnMut() -> StdRng + Send>,
        now: Instant,
    ) -> Self {
        let mut v = VrEndpoints {
            eps: BTreeMap::new(),
            make_rng,
            orphans: Vec::new(),
            orphan_calls: Vec::new(),
            touched: BTreeSet::new(),
            retired: Default::default(),
            timer_keys: BTreeSet::new(),
            stats: DriverStats::default(),
        };
        for c in cfgs {
            v.add(c, now);
        }
        v
    }

    /// Adds (or replaces, closing its tunnels' bindings) the endpoint of `cfg.vr`.
    pub fn add(&mut self, cfg: EndpointConfig, now: Instant) {
        let vr = cfg.vr;
        let ep = Endpoint::new(cfg, (self.make_rng)(), now);
        if let Some(old) = self.eps.insert(vr, ep) {
            self.retire(old);
        }
        self.touched.insert(vr);
    }

    /// Removes the endpoint of `vr` (its sessions are unbound at the next drain). Returns
    /// false when the VR has none.
    pub fn remove(&mut self, vr: VrId) -> bool {
        match self.eps.remove(&vr) {
            Some(old) => {
                self.retire(old);
                true
            }
            None => false,
        }
    }

    fn retire(&mut self, old: Endpoint) {
        self.retired.add(old.engine.counters());
        for t in old.engine.tunnel_ids() {
            self.timer_keys
                .insert((old.cfg.vr, EndpointTimer::Tunnel(t)));
        }
        self.timer_keys.insert((old.cfg.vr, EndpointTimer::Drain));
        self.orphans.extend(old.bound);
        let vr = old.cfg.vr;
        self.orphan_calls
            .extend(old.placed.into_iter().map(|(t, s)| (vr, t, s)));
    }

    /// The settings of `vr`'s endpoint.
    pub fn config(&self, vr: VrId) -> Option<&EndpointConfig> {
        self.eps.get(&vr).map(|e| &e.cfg)
    }

    /// Endpoints whose engines draw ids, challenges and random vectors from generators
    /// seeded by the operating system (the appliance's choice; tests use [`Self::new`]).
    pub fn with_os_rng(cfgs: Vec<EndpointConfig>, now: Instant) -> Self {
        Self::new(cfgs, Box::new(rand::make_rng::<StdRng>), now)
    }

    /// True when no VR runs L2TP.
    pub fn is_empty(&self) -> bool {
        self.eps.is_empty()
    }

    /// A punted IPv4 packet (starting at the IP header) that arrived in `vr` for UDP 1701.
    pub fn handle_packet(&mut self, now: Instant, vr: VrId, ip: &[u8]) {
        let Ok(p) = Ipv4Packet::new_checked(ip) else {
            self.stats.rx_malformed += 1;
            return;
        };
        if p.protocol() != IpProtocol::Udp {
            self.stats.rx_malformed += 1;
            return;
        }
        let Ok(u) = UdpPacket::new_checked(p.payload()) else {
            self.stats.rx_malformed += 1;
            return;
        };
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let sport = u.src_port();
        let payload = u.payload().to_vec();
        let Some(ep) = self.eps.get_mut(&vr) else {
            self.stats.rx_not_configured += 1;
            return;
        };
        if dst != ep.cfg.local {
            self.stats.rx_not_configured += 1;
            return;
        }
        if ep.cfg.engine.role == Role::Lns
            && !ep.cfg.peers.is_empty()
            && !ep.cfg.peers.contains(&src)
        {
            self.stats.rx_peer_not_allowed += 1;
            return;
        }
        if ep.draining.is_some() && ep.engine.tunnel_count() == 0 {
            // A new peer while draining: the engine would open a tunnel we are about to drop.
            self.stats.refused_draining += 1;
            return;
        }
        self.stats.rx += 1;
        ep.engine
            .handle_input(now, SocketAddr::new(IpAddr::V4(src), sport), &payload);
        self.touched.insert(vr);
    }

    /// Runs every engine's timers and finishes role switches that are due (a scan of every
    /// endpoint: for tests; the appliance uses [`Self::handle_tunnel_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let vrs: Vec<VrId> = self.eps.keys().copied().collect();
        for vr in vrs {
            if let Some(ep) = self.eps.get_mut(&vr) {
                ep.engine.handle_timeout(now);
            }
            self.handle_drain_timeout(now, vr);
            self.touched.insert(vr);
        }
    }

    /// When [`Self::handle_timeout`] should run next (a scan of every endpoint).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.eps
            .values()
            .filter_map(|e| {
                let t = e.engine.poll_timeout();
                let d = e.draining.map(|(_, since)| {
                    if e.engine.tunnel_count() == 0 {
                        since
                    } else {
                        since + DRAIN_LIMIT
                    }
                });
                match (t, d) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// Places an incoming call from `vr`'s LAC endpoint to `lns` (or its first configured
    /// peer): in a tunnel to that LNS that is up or being set up, else in a new one. Returns
    /// our `(tunnel, session)` ids; the session binds when it comes up
    /// ([`TableChange::Bind`]) and [`TableChange::CallEnded`] reports its end.
    pub fn place_call(
        &mut self,
        now: Instant,
        vr: VrId,
        lns: Option<Ipv4Addr>,
        params: CallParams,
    ) -> Result<(u16, u16), PlaceError> {
        let ep = self.eps.get_mut(&vr).ok_or(PlaceError::NoEndpoint)?;
        if ep.cfg.engine.role != Role::Lac {
            return Err(PlaceError::NotLac);
        }
        if ep.draining.is_some() {
            return Err(PlaceError::Draining);
        }
        let lns = lns
            .or_else(|| ep.cfg.peers.first().copied())
            .ok_or(PlaceError::NoPeer)?;
        let e = &mut ep.engine;
        let existing = e.tunnel_ids().find(|&t| {
            e.tunnel_peer(t).is_some_and(|p| p.ip() == IpAddr::V4(lns))
                && e.tunnel_state(t)
                    .is_some_and(|s| s != crate::l2tp::engine::TunnelState::Closing)
        });
        self.touched.insert(vr);
        let tunnel = match existing {
            Some(t) => t,
            None => e
                .open_tunnel(now, SocketAddr::new(IpAddr::V4(lns), UDP_PORT))
                .map_err(|x| PlaceError::Engine(x.to_string()))?,
        };
        let session = e
            .open_session(now, tunnel, params)
            .map_err(|x| PlaceError::Engine(x.to_string()))?;
        ep.placed.insert((tunnel, session));
        Ok((tunnel, session))
    }

    /// Closes a session of `vr`'s endpoint (CDN, result 3: administrative). False when
    /// there is no such session.
    pub fn close_session(&mut self, now: Instant, vr: VrId, tunnel: u16, session: u16) -> bool {
        let Some(ep) = self.eps.get_mut(&vr) else {
            return false;
        };
        self.touched.insert(vr);
        ep.engine.close_session(now, tunnel, session).is_ok()
    }

    /// Runs one timer of `vr`'s endpoint.
    pub fn handle_timer(&mut self, now: Instant, vr: VrId, timer: EndpointTimer) {
        match timer {
            EndpointTimer::Tunnel(t) => self.handle_tunnel_timeout(now, vr, t),
            EndpointTimer::Drain => self.handle_drain_timeout(now, vr),
        }
    }

    /// Runs the timers of one tunnel of `vr`'s endpoint.
    pub fn handle_tunnel_timeout(&mut self, now: Instant, vr: VrId, tunnel: u16) {
        if let Some(ep) = self.eps.get_mut(&vr) {
            ep.engine.handle_tunnel_timeout(now, tunnel);
            self.touched.insert(vr);
        }
    }

    /// Finishes `vr`'s role switch if it is drained or its drain time is over.
    pub fn handle_drain_timeout(&mut self, now: Instant, vr: VrId) {
        let Some(ep) = self.eps.get(&vr) else {
            return;
        };
        let done = match ep.draining {
            Some((_, since)) => ep.engine.tunnel_count() == 0 || now >= since + DRAIN_LIMIT,
            None => false,
        };
        if done {
            self.finish_switch(vr, now);
        }
    }

    /// The next timer whose deadline may have changed: (VR, timer, its deadline now or
    /// `None` to disarm). Valid after [`Self::drain`].
    pub fn poll_timer_update(&mut self) -> Option<(VrId, EndpointTimer, Option<Instant>)> {
        let (vr, t) = self.timer_keys.pop_first()?;
        let ep = self.eps.get(&vr);
        let at = match t {
            EndpointTimer::Tunnel(id) => ep.and_then(|e| e.engine.tunnel_deadline(id)),
            EndpointTimer::Drain => ep
                .and_then(|e| e.draining)
                .map(|(_, since)| since + DRAIN_LIMIT),
        };
        Some((vr, t, at))
    }

    /// Moves what the engines produced out: IPv4 packets to route in their VR, and table
    /// changes. `bound_ok` is asked before each bind (false = the pair is taken elsewhere).
    pub fn drain(
        &mut self,
        now: Instant,
        packets: &mut Vec<(VrId, Vec<u8>)>,
        changes: &mut Vec<TableChange>,
        mut bound_ok: impl FnMut(u16, u16) -> bool,
    ) {
        for (tunnel, session) in self.orphans.drain(..) {
            changes.push(TableChange::Unbind { tunnel, session });
        }
        // A drained endpoint switches at once; the new engine's start may send: loop until
        // quiet.
        while !self.touched.is_empty() {
            let touched = std::mem::take(&mut self.touched);
            for vr in touched {
                self.drain_one(now, vr, packets, changes, &mut bound_ok);
                if self
                    .eps
                    .get(&vr)
                    .is_some_and(|e| e.draining.is_some() && e.engine.tunnel_count() == 0)
                {
                    self.finish_switch(vr, now);
                }
            }
        }
        for (tunnel, session) in self.orphans.drain(..) {
            changes.push(TableChange::Unbind { tunnel, session });
        }
        for (vr, tunnel, session) in self.orphan_calls.drain(..) {
            changes.push(TableChange::CallEnded {
                vr,
                tunnel,
                session,
            });
        }
    }

    fn drain_one(
        &mut self,
        now: Instant,
        vr: VrId,
        packets: &mut Vec<(VrId, Vec<u8>)>,
        changes: &mut Vec<TableChange>,
        bound_ok: &mut impl FnMut(u16, u16) -> bool,
    ) {
        {
            let Some(ep) = self.eps.get_mut(&vr) else {
                return;
            };
            while let Some(ev) = ep.engine.poll_event() {
                match ev {
                    Event::SessionUp {
                        tunnel,
                        session,
                        peer_tunnel,
                        peer_session,
                        peer,
                        calling_number,
                        proxy,
                        ..
                    } => {
                        if bound_ok(tunnel, session) {
                            ep.bound.insert((tunnel, session));
                            changes.push(TableChange::Bind {
                                vr,
                                tunnel,
                                session,
                                up: Box::new(SessionUp {
                                    peer_tunnel,
                                    peer_session,
                                    peer,
                                    local: ep.cfg.local,
                                    role: ep.cfg.engine.role,
                                    calling_number,
                                    proxy,
                                }),
                            });
                        } else {
                            self.stats.id_collisions += 1;
                            let _ = ep.engine.close_session(now, tunnel, session);
                        }
                    }
                    Event::SessionDown {
                        tunnel, session, ..
                    } => {
                        if ep.bound.remove(&(tunnel, session)) {
                            changes.push(TableChange::Unbind { tunnel, session });
                        }
                        if ep.placed.remove(&(tunnel, session)) {
                            changes.push(TableChange::CallEnded {
                                vr,
                                tunnel,
                                session,
                            });
                        }
                    }
                    Event::TunnelUp { tunnel, .. } => {
                        if ep.cfg.autodial
                            && ep.cfg.engine.role == Role::Lac
                            && ep.dialed.insert(tunnel)
                        {
                            let call = CallParams {
                                called_number: Vec::new(),
                                calling_number: Vec::new(),
                                bearer_type: 0,
                                framing_type: 3,
                                connect_speed: 1_000_000_000,
                                proxy: None,
                            };
                            let _ = ep.engine.open_session(now, tunnel, call);
                        }
                    }
                    Event::TunnelDown { tunnel, .. } => {
                        ep.dialed.remove(&tunnel);
                        let gone: Vec<_> =
                            ep.bound.iter().filter(|b| b.0 == tunnel).copied().collect();
                        for (t, s) in gone {
                            ep.bound.remove(&(t, s));
                            changes.push(TableChange::Unbind {
                                tunnel: t,
                                session: s,
                            });
                        }
                        let ended: Vec<_> = ep
                            .placed
                            .iter()
                            .filter(|b| b.0 == tunnel)
                            .copied()
                            .collect();
                        for (t, s) in ended {
                            ep.placed.remove(&(t, s));
                            changes.push(TableChange::CallEnded {
                                vr,
                                tunnel: t,
                                session: s,
                            });
                        }
                    }
                    Event::WanErrorNotify { .. }
                    | Event::SetLinkInfo { .. }
                    | Event::Message { .. } => {}
                }
            }
            while let Some(t) = ep.engine.poll_transmit() {
                let IpAddr::V4(dst) = t.dst.ip() else {
                    continue;
                };
                packets.push((
                    vr,
                    udp4(ep.cfg.local, dst, UDP_PORT, t.dst.port(), &t.bytes),
                ));
                self.stats.tx += 1;
            }
            while let Some((tunnel, _)) = ep.engine.poll_timer_update() {
                self.timer_keys.insert((vr, EndpointTimer::Tunnel(tunnel)));
            }
            self.timer_keys.insert((vr, EndpointTimer::Drain));
        }
    }

    /// Starts switching `vr` to `role`: every tunnel is closed (StopCCN) and the engine is
    /// replaced when they are gone. Returns false when the VR has no L2TP endpoint.
    pub fn set_role(&mut self, now: Instant, vr: VrId, role: Role) -> bool {
        self.touched.insert(vr);
        let Some(ep) = self.eps.get_mut(&vr) else {
            return false;
        };
        if ep.engine.config().role == role && ep.draining.is_none() {
            return true;
        }
        let ids: Vec<u16> = ep.engine.tunnel_ids().collect();
        for t in ids {
            let _ = ep.engine.close_tunnel(now, t);
        }
        ep.draining = Some((role, now));
        true
    }

    fn finish_switch(&mut self, vr: VrId, now: Instant) {
        let Some((role, _)) = self.eps.get(&vr).and_then(|e| e.draining) else {
            return;
        };
        let Some(ep) = self.eps.get(&vr) else {
            return;
        };
        let mut cfg = ep.cfg.clone();
        cfg.engine.role = role;
        // Sessions of the old engine that never reported going down are unbound at the
        // next `drain`; its timers are disarmed.
        self.add(cfg, now);
        self.stats.role_switches += 1;
    }

    /// `vr`'s tunnels for an operator's listing, by tunnel id.
    pub fn tunnels(&self, vr: VrId) -> Vec<TunnelView> {
        let Some(ep) = self.eps.get(&vr) else {
            return Vec::new();
        };
        let mut v: Vec<TunnelView> = ep
            .engine
            .tunnel_ids()
            .map(|t| TunnelView {
                id: t,
                peer: ep.engine.tunnel_peer(t),
                state: ep.engine.tunnel_state(t),
                sessions: {
                    let mut s: Vec<(u16, Option<SessionState>)> = ep
                        .engine
                        .session_ids(t)
                        .into_iter()
                        .map(|s| (s, ep.engine.session_state(t, s)))
                        .collect();
                    s.sort_by_key(|x| x.0);
                    s
                },
            })
            .collect();
        v.sort_by_key(|t| t.id);
        v
    }

    /// Clears one of `vr`'s tunnels (StopCCN, result 1: general request to clear); its
    /// sessions go down with it. False when there is no such tunnel.
    pub fn close_tunnel(&mut self, now: Instant, vr: VrId, tunnel: u16) -> bool {
        let Some(ep) = self.eps.get_mut(&vr) else {
            return false;
        };
        self.touched.insert(vr);
        ep.engine.close_tunnel(now, tunnel).is_ok()
    }

    /// The peer (address and UDP port) of one of `vr`'s tunnels.
    pub fn tunnel_peer(&self, vr: VrId, tunnel: u16) -> Option<SocketAddr> {
        self.eps.get(&vr)?.engine.tunnel_peer(tunnel)
    }

    /// The role a VR's endpoint plays now.
    pub fn role(&self, vr: VrId) -> Option<Role> {
        self.eps.get(&vr).map(|e| e.engine.config().role)
    }

    /// True while `vr` drains for a role switch.
    pub fn draining(&self, vr: VrId) -> bool {
        self.eps.get(&vr).is_some_and(|e| e.draining.is_some())
    }

    /// Tunnels and sessions per VR: `(vr, tunnels, sessions)`.
    pub fn occupancy(&self) -> Vec<(VrId, usize, usize)> {
        self.eps
            .values()
            .map(|e| (e.cfg.vr, e.engine.tunnel_count(), e.engine.session_count()))
            .collect()
    }

    /// Sum of a protocol counter over every engine, the replaced ones included.
    pub fn engine_counter(&self, f: impl Fn(&crate::l2tp::engine::Counters) -> u64) -> u64 {
        f(&self.retired)
            + self
                .eps
                .values()
                .map(|e| f(e.engine.counters()))
                .sum::<u64>()
    }
}

/// An L2TP data message carrying `frame` (a PPP frame, `ff 03` first) to a session's peer
/// (its tunnel and session ids), as an IPv4 packet from `local` for the VR to route.
pub fn data_packet(
    local: Ipv4Addr,
    peer: SocketAddr,
    (peer_tunnel, peer_session): (u16, u16),
    frame: &[u8],
) -> Vec<u8> {
    let mut msg = vec![0u8; wire::l2tp::MIN_HEADER_LEN + frame.len()];
    wire::l2tp::emit_data_header(&mut msg, peer_tunnel, peer_session);
    msg[wire::l2tp::MIN_HEADER_LEN..].copy_from_slice(frame);
    let (dst, dport) = match peer {
        SocketAddr::V4(a) => (*a.ip(), a.port()),
        SocketAddr::V6(_) => (Ipv4Addr::UNSPECIFIED, UDP_PORT),
    };
    udp4(local, dst, UDP_PORT, dport, &msg)
}

/// An IPv4/UDP datagram (UDP checksum filled in).
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
    };
    let mut udp = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut udp[..]),
        &IpAddr::V4(src),
        &IpAddr::V4(dst),
        payload,
    );
    crate::packet::ipv4(src, dst, IpProtocol::Udp, 64, &udp)
}
