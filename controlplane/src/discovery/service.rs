//! The discovery engine as a service of the control core (`docs/protocols/vr-discovery.md`
//! §11): the appliance's VRs of the VPNs it holds keys for are announced to the provider
//! routers, and each VR's configuration map is kept and shown.
//!
//! **Socket.** One host UDP socket ([`controlcore::Ctx::udp_open`]) on the configured
//! address (default port 61701): discovery runs between provider routers' loopbacks over the
//! management/provider network of the host, not inside a VR, so the control core's host
//! sockets fit (datagrams, non-blocking, polled by the loop) and no thread of its own is
//! needed. As in [`super::driver`], a datagram whose header names sender R is accepted only
//! from R's discovery address (`discovery_rx_wrong_source` otherwise).
//!
//! **VR lifecycle.** [`DiscoveryService::configure`] takes the wanted local VRs (VR id, VPN,
//! address); the appliance calls it at start and whenever the control loop applies VR
//! changes (a reload, a management API transaction). A VR that appears is announced
//! (addition), one that goes is withdrawn, one whose address changed is withdrawn and
//! announced again. A VR whose VPN has no key, or that has no address, is listed but not
//! announced (`discovery_vrs_not_announced`).
//!
//! **Map changes.** Every change of a local VR's map is raised as
//! [`controlcore::Event::VrPeer`] for whichever service wants it (the L2TP control channels
//! between the VRs of a VPN: [`crate::vpnpeer::service`] follows it).
//!
//! Not done here: changing the router list, the socket or the timers needs a restart (the
//! engine's configuration is fixed at start); keys are fixed at start too.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use controlcore::{Ctx, Event as CoreEvent, EventKind, Interest, Service, SocketId};
use vr::VrId;

use super::engine::{Config, Engine, Event};
use super::wire::{Packet, MAX_LEN};

/// Timer token of the engine's next deadline.
const TIMER: u64 = 0;
/// Timer token of the paced sending.
const TIMER_TX: u64 = 1;
/// Datagrams sent per [`TX_WINDOW`] at most. A receiver reads its socket between other work
/// and a socket receive buffer of the Linux default (208 KiB; the control core asks for
/// 4 MiB, which `net.core.rmem_max` may cap) holds a few hundred small datagrams: a PE adding
/// 1,000 VRs sends thousands of additions at once, overflows the receivers and leaves
/// convergence to the 1 s retransmission. At 32 per ms the 9,000 additions of a PE with
/// 1,000 VRs and 9 peers leave in about 280 ms. Measurements: vr-discovery.md §11.
pub const TX_BURST: usize = 32;
/// The pacing window.
pub const TX_WINDOW: Duration = Duration::from_millis(1);
/// Datagrams waiting to be sent at most; more are dropped (`discovery_tx_queue_full`) and
/// left to the engine's retransmission.
pub const TX_QUEUE: usize = 65_536;

/// The service's configuration (from the profile's `discovery:` section).
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The engine's configuration (router id, router list, timers, first sequence).
    pub engine: Config,
    /// Address of the host UDP socket.
    pub listen: SocketAddr,
    /// Routers reached elsewhere than `router id : listen port`.
    pub reach: BTreeMap<Ipv4Addr, SocketAddr>,
    /// Secret per 32-bit VPN id.
    pub keys: Vec<(u32, Vec<u8>)>,
}

/// A VR of this appliance that takes part in discovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalVr {
    /// Its id.
    pub vr: VrId,
    /// Its VPN (32-bit discovery id).
    pub vpn_id: u32,
    /// The address it announces (`None`: it has none, it is not announced).
    pub addr: Option<IpAddr>,
}

/// One entry of a configuration map as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// The other VR's provider router.
    pub router: Ipv4Addr,
    /// The other VR's address.
    pub addr: IpAddr,
    /// How long it has been in the map.
    pub age: Duration,
}

/// A local VR's discovery state as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapView {
    /// The VR.
    pub vr: VrId,
    /// Its VPN (32-bit discovery id).
    pub vpn_id: u32,
    /// The address it announces.
    pub addr: Option<IpAddr>,
    /// `announced`, or why not (`no key for the VPN`, `no address`, ...).
    pub state: String,
    /// This router's id.
    pub router_id: Ipv4Addr,
    /// The other VRs of the VPN, by router id.
    pub peers: Vec<PeerView>,
}

/// The service's own counters (the engine counts the protocol's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    /// Datagrams received on the socket.
    pub rx_datagrams: u64,
    /// Datagrams longer than any discovery message.
    pub rx_oversize: u64,
    /// Datagrams whose header sender's discovery address is not their source.
    pub rx_wrong_source: u64,
    /// Datagrams sent.
    pub tx_datagrams: u64,
    /// Datagrams the socket refused (retransmission covers them).
    pub tx_errors: u64,
    /// The socket could not be opened (the service then does nothing).
    pub socket_errors: u64,
    /// Local VRs refused by the engine (a VPN without key, a second VR of one VPN).
    pub vr_refused: u64,
    /// Map changes raised as events.
    pub map_changes: u64,
    /// Datagrams dropped because the pacing queue was full.
    pub tx_queue_full: u64,
}

/// Why a wanted local VR is not announced.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Standing {
    /// Announced for this VPN at this address.
    Announced(u32, IpAddr),
    NotAnnounced(String),
}

/// VR discovery on a host socket (see the module docs).
pub struct DiscoveryService {
    cfg: ServiceConfig,
    engine: Engine,
    port: u16,
    sock: Option<SocketId>,
    started: bool,
    /// Wanted local VRs.
    wanted: BTreeMap<VrId, LocalVr>,
    /// What the engine has of each wanted VR.
    standing: BTreeMap<VrId, Standing>,
    /// The VR announced for each VPN.
    by_vpn: BTreeMap<u32, VrId>,
    /// When each peer entered the map of (VPN).
    since: BTreeMap<(u32, Ipv4Addr), Instant>,
    /// Datagrams waiting for the pacing (destination, payload).
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Start of the current pacing window and datagrams sent in it.
    window: Option<(Instant, usize)>,
    counters: ServiceCounters,
}

impl std::fmt::Debug for DiscoveryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryService")
            .field("listen", &self.cfg.listen)
            .field("router_id", &self.engine.router_id())
            .field("vrs", &self.wanted.len())
            .finish_non_exhaustive()
    }
}

impl DiscoveryService {
    /// A service with `cfg`, announcing `vrs` once started. A key the engine refuses (too
    /// short, two VPNs with one secret) is an error (the profile checker refuses both).
    pub fn new(cfg: ServiceConfig, vrs: Vec<LocalVr>) -> Result<Self, super::ConfigError> {
        let mut engine = Engine::new(cfg.engine.clone());
        for (vpn, secret) in &cfg.keys {
            engine.set_key(*vpn, secret)?;
        }
        let port = cfg.listen.port();
        Ok(DiscoveryService {
            cfg,
            engine,
            port,
            sock: None,
            started: false,
            wanted: vrs.into_iter().map(|v| (v.vr, v)).collect(),
            standing: BTreeMap::new(),
            by_vpn: BTreeMap::new(),
            since: BTreeMap::new(),
            queue: VecDeque::new(),
            window: None,
            counters: ServiceCounters::default(),
        })
    }

    /// The discovery address of `router`.
    pub fn address_of(&self, router: Ipv4Addr) -> SocketAddr {
        self.cfg
            .reach
            .get(&router)
            .copied()
            .unwrap_or(SocketAddr::V4(SocketAddrV4::new(router, self.port)))
    }

    /// Sets the local VRs (the appliance's VRs after a change). Returns one line per VR
    /// announced, withdrawn or re-announced.
    pub fn configure(&mut self, cx: &mut Ctx<'_>, vrs: Vec<LocalVr>) -> Vec<String> {
        self.wanted = vrs.into_iter().map(|v| (v.vr, v)).collect();
        // Before start the start announces them; without a socket nothing is announced.
        if !self.started || self.sock.is_none() {
            return Vec::new();
        }
        let lines = self.reconcile(cx);
        self.after(cx);
        lines
    }

    /// Brings the engine to the wanted VRs: withdraws what went or changed, then announces
    /// what is new.
    fn reconcile(&mut self, cx: &mut Ctx<'_>) -> Vec<String> {
        let now = cx.now;
        let mut lines = Vec::new();
        // Withdrawals first, so that a VR moving to another VR id of the same VPN frees it.
        let gone: Vec<VrId> = self
            .standing
            .iter()
            .filter(|(vr, st)| {
                let Standing::Announced(vpn, addr) = st else {
                    return !self.wanted.contains_key(vr);
                };
                match self.wanted.get(vr) {
                    None => true,
                    Some(w) => w.addr != Some(*addr) || w.vpn_id != *vpn,
                }
            })
            .map(|(vr, _)| *vr)
            .collect();
        for vr in gone {
            if let Some(Standing::Announced(vpn, _)) = self.standing.remove(&vr) {
                self.by_vpn.remove(&vpn);
                self.drop_map(cx, vr, vpn);
                if self.engine.remove_vr(now, vpn).is_ok() {
                    lines.push(format!("discovery: VR {} of VPN {vpn} withdrawn", vr.0));
                }
            }
        }
        let wanted: Vec<LocalVr> = self.wanted.values().copied().collect();
        for w in wanted {
            if let Some(Standing::Announced(..)) = self.standing.get(&w.vr) {
                continue;
            }
            let st = match (w.addr, self.by_vpn.get(&w.vpn_id)) {
                (None, _) => Standing::NotAnnounced("no address to announce".into()),
                (Some(_), Some(other)) if *other != w.vr => Standing::NotAnnounced(format!(
                    "VR {} already announces VPN {} on this router",
                    other.0, w.vpn_id
                )),
                (Some(addr), _) => match self.engine.add_vr(now, w.vpn_id, addr) {
                    Ok(()) => {
                        self.by_vpn.insert(w.vpn_id, w.vr);
                        lines.push(format!(
                            "discovery: VR {} of VPN {} announced at {addr}",
                            w.vr.0, w.vpn_id
                        ));
                        Standing::Announced(w.vpn_id, addr)
                    }
                    Err(e) => {
                        self.counters.vr_refused += 1;
                        tracing::warn!(vr = w.vr.0, error = %e, "discovery: VR not announced");
                        Standing::NotAnnounced(e.to_string())
                    }
                },
            };
            self.standing.insert(w.vr, st);
        }
        self.standing.retain(|vr, _| self.wanted.contains_key(vr));
        lines
    }

    /// Raises a `down` event for every entry of the map of `vr` (its VR goes away).
    fn drop_map(&mut self, cx: &mut Ctx<'_>, vr: VrId, vpn: u32) {
        let peers: Vec<(Ipv4Addr, IpAddr)> = self
            .engine
            .config_map(vpn)
            .map(|m| m.iter().map(|(r, a)| (*r, *a)).collect())
            .unwrap_or_default();
        for (router, addr) in peers {
            self.since.remove(&(vpn, router));
            self.counters.map_changes += 1;
            cx.emit(CoreEvent::VrPeer {
                vr,
                vpn_id: vpn,
                router,
                addr,
                up: false,
            });
        }
    }

    /// Sends what the engine queued, raises its map changes, re-arms the timer.
    fn after(&mut self, cx: &mut Ctx<'_>) {
        while let Some(t) = self.engine.poll_transmit() {
            if self.queue.len() >= TX_QUEUE {
                self.counters.tx_queue_full += 1;
                continue;
            }
            let to = self.address_of(t.dst);
            self.queue.push_back((to, t.payload));
        }
        self.send_paced(cx);
        while let Some(ev) = self.engine.poll_event() {
            let (vpn_id, router, addr, up) = match ev {
                Event::PeerLearnt {
                    vpn_id,
                    router,
                    addr,
                } => {
                    self.since.insert((vpn_id, router), cx.now);
                    (vpn_id, router, addr, true)
                }
                Event::PeerLost {
                    vpn_id,
                    router,
                    addr,
                } => {
                    self.since.remove(&(vpn_id, router));
                    (vpn_id, router, addr, false)
                }
            };
            let Some(&vr) = self.by_vpn.get(&vpn_id) else {
                continue;
            };
            tracing::info!(
                vr = vr.0,
                vpn_id,
                %router,
                %addr,
                up,
                "discovery: configuration map changed"
            );
            self.counters.map_changes += 1;
            cx.emit(CoreEvent::VrPeer {
                vr,
                vpn_id,
                router,
                addr,
                up,
            });
        }
        match self.engine.poll_timeout() {
            Some(t) => cx.timer_at(TIMER, t),
            None => cx.timer_cancel(TIMER),
        }
    }

    /// Sends what the pacing allows now ([`TX_BURST`] per [`TX_WINDOW`]) and arms the
    /// pacing timer for the rest.
    fn send_paced(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let (start, mut sent) = match self.window {
            Some((start, sent)) if now < start + TX_WINDOW => (start, sent),
            _ => (now, 0),
        };
        while sent < TX_BURST {
            let Some((to, payload)) = self.queue.pop_front() else {
                break;
            };
            sent += 1;
            match self.sock.map(|s| cx.udp_send(s, to, &payload)) {
                Some(Ok(())) => self.counters.tx_datagrams += 1,
                Some(Err(e)) => {
                    self.counters.tx_errors += 1;
                    tracing::debug!(%to, error = %e, "discovery datagram not sent");
                }
                None => self.counters.tx_errors += 1,
            }
        }
        self.window = Some((start, sent));
        if self.queue.is_empty() {
            cx.timer_cancel(TIMER_TX);
        } else {
            cx.timer_at(TIMER_TX, start + TX_WINDOW);
        }
    }

    /// The local VRs with their maps, in VR id order.
    pub fn maps(&self, now: Instant) -> Vec<MapView> {
        self.wanted.values().map(|w| self.view(w, now)).collect()
    }

    /// Entries in the map of one local VR (0 when it is not announced).
    pub fn peer_count(&self, vr: VrId) -> usize {
        match self.standing.get(&vr) {
            Some(Standing::Announced(vpn, _)) => {
                self.engine.config_map(*vpn).map_or(0, |m| m.len())
            }
            _ => 0,
        }
    }

    /// The map of one local VR (`None`: the VR takes no part in discovery).
    pub fn map(&self, vr: VrId, now: Instant) -> Option<MapView> {
        self.wanted.get(&vr).map(|w| self.view(w, now))
    }

    fn view(&self, w: &LocalVr, now: Instant) -> MapView {
        let state = match self.standing.get(&w.vr) {
            _ if self.sock.is_none() && self.started => "socket not open".to_string(),
            Some(Standing::Announced(..)) => "announced".to_string(),
            Some(Standing::NotAnnounced(why)) => why.clone(),
            None => "not started".to_string(),
        };
        let announced = matches!(self.standing.get(&w.vr), Some(Standing::Announced(..)));
        let peers = if announced {
            self.engine
                .config_map(w.vpn_id)
                .map(|m| {
                    m.iter()
                        .map(|(r, a)| PeerView {
                            router: *r,
                            addr: *a,
                            age: self
                                .since
                                .get(&(w.vpn_id, *r))
                                .map_or(Duration::ZERO, |t| now.saturating_duration_since(*t)),
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        MapView {
            vr: w.vr,
            vpn_id: w.vpn_id,
            addr: w.addr,
            state,
            router_id: self.engine.router_id(),
            peers,
        }
    }

    /// The engine (its counters, maps).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The service's counters.
    pub fn service_counters(&self) -> &ServiceCounters {
        &self.counters
    }

    /// The bound address (after start).
    pub fn listen(&self) -> SocketAddr {
        self.cfg.listen
    }
}

impl Service for DiscoveryService {
    fn name(&self) -> &'static str {
        "discovery"
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Event(EventKind::PeerExpired)]
    }

    fn on_event(&mut self, cx: &mut Ctx<'_>, ev: &CoreEvent) {
        // The control channel's hold time expired: the silent VR leaves the map (raised as
        // `VrPeer { up: false }` by `after`), and is learnt again from its next addition.
        if let CoreEvent::PeerExpired { vpn_id, router } = ev {
            if self.engine.expire_peer(*vpn_id, *router) {
                tracing::info!(vpn_id, %router, "discovery: map entry expired with its control channel");
            }
            self.after(cx);
        }
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        self.started = true;
        match cx.udp_open(self.cfg.listen) {
            Ok(s) => {
                self.sock = Some(s);
                tracing::info!(listen = %self.cfg.listen, "discovery: listening");
            }
            Err(e) => {
                // Announcing without a socket would only count send errors: stay quiet and
                // show why in the maps and the counters.
                self.counters.socket_errors += 1;
                eprintln!("varouter: discovery: {e}; VR discovery does not run");
                return;
            }
        }
        self.reconcile(cx);
        self.after(cx);
    }

    fn on_datagram(&mut self, cx: &mut Ctx<'_>, _sock: SocketId, from: SocketAddr, data: &[u8]) {
        self.counters.rx_datagrams += 1;
        if data.len() > MAX_LEN {
            self.counters.rx_oversize += 1;
            return;
        }
        // Too short for a header: the engine counts it malformed. With a header, it must come
        // from its sender's discovery address.
        if let Ok(p) = Packet::new_checked(data) {
            if self.address_of(p.sender()) != from {
                self.counters.rx_wrong_source += 1;
                return;
            }
        }
        self.engine.handle_input(cx.now, data);
        self.after(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, token: u64) {
        if token == TIMER_TX {
            self.send_paced(cx);
            return;
        }
        self.engine.handle_timeout(cx.now);
        self.after(cx);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let e = self.engine.counters();
        let s = &self.counters;
        let announced = self
            .standing
            .values()
            .filter(|s| matches!(s, Standing::Announced(..)))
            .count() as u64;
        let peers: u64 = self
            .by_vpn
            .keys()
            .filter_map(|v| self.engine.config_map(*v))
            .map(|m| m.len() as u64)
            .sum();
        vec![
            ("discovery_vrs_announced", announced),
            (
                "discovery_vrs_not_announced",
                self.wanted.len() as u64 - announced.min(self.wanted.len() as u64),
            ),
            ("discovery_map_entries", peers),
            ("discovery_map_changes", s.map_changes),
            ("discovery_rx_datagrams", s.rx_datagrams),
            ("discovery_rx_ok", e.rx_ok),
            ("discovery_rx_malformed", e.rx_malformed),
            ("discovery_rx_oversize", s.rx_oversize),
            ("discovery_rx_wrong_source", s.rx_wrong_source),
            ("discovery_rx_unknown_key", e.rx_unknown_key),
            ("discovery_rx_bad_auth", e.rx_bad_auth),
            ("discovery_rx_replay", e.rx_replay),
            ("discovery_rx_unknown_router", e.rx_unknown_router),
            ("discovery_rx_no_local_vr", e.rx_no_local_vr),
            ("discovery_rx_ack_unmatched", e.rx_ack_unmatched),
            ("discovery_rx_superseded", e.rx_superseded),
            ("discovery_tx_datagrams", s.tx_datagrams),
            ("discovery_tx_errors", s.tx_errors),
            ("discovery_tx_queued", self.queue.len() as u64),
            ("discovery_tx_queue_full", s.tx_queue_full),
            ("discovery_tx_addition", e.tx_addition),
            ("discovery_tx_ack", e.tx_ack),
            ("discovery_tx_withdrawal", e.tx_withdrawal),
            ("discovery_retransmits", e.retransmits),
            ("discovery_gave_up", e.gave_up),
            ("discovery_refreshes", e.refreshes),
            ("discovery_map_expiries", e.expired),
            ("discovery_socket_errors", s.socket_errors),
            ("discovery_vr_refused", s.vr_refused),
        ]
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
