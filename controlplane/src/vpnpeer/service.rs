//! The peering engine as a service of the control core (`docs/protocols/vpn-peering.md`
//! §7): the driver that connects [`super::Engine`] to host sockets, to VR discovery's map
//! events and to the forwarding state.
//!
//! **Sockets.** One host UDP socket for L2TP (the channels run between provider routers'
//! loopbacks over the host's provider network, like discovery); one RADIUS client socket;
//! with the in-process RADIUS server (the default) one more socket for it, so that the
//! Access-Requests take the real UDP path and an external server (FreeRADIUS) drops in by
//! configuration only. The in-process server ([`crate::radius::server`] with
//! [`VpnUsers`]) accepts only our client's address, with a random shared secret made at
//! start.
//!
//! **Inputs.** [`controlcore::Event::VrPeer`] (the configuration map of a local VR: a peer
//! joined or left) becomes [`super::Engine::add_peer`] / `remove_peer`, at the peer
//! router's L2TP address (`router id : listen port`, or `reach`). Map entries are kept
//! even for VPNs without a local VR here yet, so a VR added later peers with them at once.
//! [`controlcore::Event::TransportPath`] (LDP, or the profile's static `transport:` list
//! that this service raises itself at start) tells how to reach a provider router by label.
//!
//! **VPN label.** Each local VR taking part gets one VPN label from the label range (an
//! allocator of its own over the profile's range; labels already bound in the label matrix
//! are skipped) and a label-matrix entry pop-to-VR.
//!
//! **Announced routes.** A VR announces its interface subnets (`Connected`) and its
//! unlabelled static routes toward its own sites (`Static` through a plain next hop: not
//! blackholes, not routes that already push labels into the core, not sessions or ESP) with
//! its VPN label. They are recomputed whenever the appliance applies a change
//! ([`VpnPeerService::configure`]: reload, management API).
//!
//! **Installed routes.** An `Install` from the engine becomes a route of the VR with source
//! [`vr::RouteSource::Vpn`], next hop `Unresolved {transport port, via}` pushing
//! `[transport label, VPN label]` (`[VPN label]` for implicit null), through the
//! incremental writer. When several routers announce one prefix, the lowest router id with
//! a transport path wins (the others are kept and take over when it goes). A router whose
//! transport path is lost makes its routes **removed** from the FIB (not blackholed: a
//! less specific route may still carry the traffic); they stay learnt and come back when
//! the path returns. `Withdraw` and hold expiry remove them for good.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use controlcore::{Ctx, Event as CoreEvent, EventKind, Interest, Service, SocketId, TransportPath};
use labelswitch::alloc::LabelAllocator;
use labelswitch::Label;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vr::{IpPrefix as VrPrefix, LabelAction, LabelPush, NextHop, RouteSource, StateError, VrId};

use super::auth::RadiusAuthenticator;
use super::engine::{Config, DownCause, Engine, Event, Transmit};
use super::wire::{IpPrefix, RouteOp};
use crate::radius::client::{self, Client};
use crate::radius::server::{self as rserver, NasClient, RadiusServer, VpnUsers};

/// Timer token of the engine's next deadline.
const TIMER_ENGINE: u64 = 0;
/// Timer token of the in-process RADIUS server's next deadline.
const TIMER_RADIUS: u64 = 1;
/// Largest L2TP datagram accepted (a control message is at most 64 KiB by its length
/// field; ours stay far below).
pub const MAX_DATAGRAM: usize = 65_535;
/// Label-allocator owner id of the VPN labels (labels are owned per VR id; this marks the
/// ones found bound in the matrix at start).
const OWNER_FOREIGN: u32 = u32::MAX;

/// Who checks the peers' CHAP responses.
#[derive(Clone, PartialEq, Eq)]
pub enum RadiusMode {
    /// The in-process server on this UDP address.
    InProcess(SocketAddr),
    /// An external server and its shared secret.
    External(SocketAddr, Vec<u8>),
}

impl std::fmt::Debug for RadiusMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RadiusMode::InProcess(a) => write!(f, "in-process RADIUS server on {a}"),
            RadiusMode::External(a, _) => write!(f, "RADIUS server {a}"),
        }
    }
}

/// The service's configuration (from the profile's `vpn_peering:` section).
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The engine's configuration (router id, L2TP timers, hold time, limits).
    pub engine: Config,
    /// The L2TP host socket's address.
    pub listen: SocketAddr,
    /// Routers' L2TP sockets other than `router id : listen port`.
    pub reach: BTreeMap<Ipv4Addr, SocketAddr>,
    /// CHAP secret per 32-bit VPN id (a VPN not listed takes no part).
    pub secrets: BTreeMap<u32, Vec<u8>>,
    /// Who checks CHAP responses.
    pub radius: RadiusMode,
    /// RADIUS retransmission timeout.
    pub radius_timeout: Duration,
    /// Static transport paths, raised as [`CoreEvent::TransportPath`] at start.
    pub transport: Vec<(Ipv4Addr, TransportPath)>,
    /// The label range VPN labels come from.
    pub labels: RangeInclusive<u32>,
}

/// A VR of this appliance that takes part in peering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalVr {
    /// Its id.
    pub vr: VrId,
    /// Its VPN (32-bit discovery id).
    pub vpn_id: u32,
}

/// The service's own counters (the engine counts the protocol's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    pub rx_datagrams: u64,
    pub rx_oversize: u64,
    pub tx_datagrams: u64,
    pub tx_errors: u64,
    pub socket_errors: u64,
    /// Routes set in a VR's FIB (new or changed path).
    pub fib_installs: u64,
    /// Routes removed from a VR's FIB (withdrawn, hold expiry, transport lost).
    pub fib_removals: u64,
    /// Writer refusals (should stay 0).
    pub fib_errors: u64,
    /// Times a learnt prefix could not be installed because no router announcing it has a
    /// transport path.
    pub no_transport: u64,
    pub transport_changes: u64,
    pub labels_allocated: u64,
    pub label_errors: u64,
    /// Map entries the engine refused (peer limit, VPN unknown to the engine).
    pub peers_refused: u64,
    pub radius_server_accepts: u64,
    pub radius_server_rejects: u64,
}

/// A local VR's state in the service.
#[derive(Clone, Debug)]
struct Vr {
    vpn_id: u32,
    label: Option<u32>,
}

/// One channel of a VR as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelView {
    pub router: Ipv4Addr,
    pub addr: SocketAddr,
    pub state: &'static str,
    pub tunnel: Option<u16>,
    pub peer_tunnel: Option<u16>,
    pub routes_received: usize,
    /// Routes from this router now in the VR's FIB.
    pub routes_installed: usize,
    pub routes_sent: usize,
    /// Time left on hold.
    pub hold_left: Option<Duration>,
    /// The transport path toward the router (`None`: unreachable by label).
    pub transport: Option<TransportPath>,
}

/// A VR's peering state as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeersView {
    pub vr: VrId,
    pub vpn_id: u32,
    /// Its VPN label (pop-to-VR).
    pub label: Option<u32>,
    pub routes_announced: usize,
    pub channels: Vec<ChannelView>,
}

type Key = (u32, IpPrefix);

/// VPN peering on host sockets (see the module docs).
pub struct VpnPeerService {
    cfg: ServiceConfig,
    engine: Engine<StdRng, RadiusAuthenticator>,
    server: Option<RadiusServer<VpnUsers>>,
    l2tp_sock: Option<SocketId>,
    client_sock: Option<SocketId>,
    server_sock: Option<SocketId>,
    started: bool,
    alloc: Option<LabelAllocator>,
    wanted: BTreeMap<VrId, LocalVr>,
    vrs: BTreeMap<VrId, Vr>,
    by_vpn: BTreeMap<u32, VrId>,
    /// Configuration-map entries seen (VPN, router) → raised by discovery.
    map: BTreeSet<(u32, Ipv4Addr)>,
    transport: BTreeMap<Ipv4Addr, TransportPath>,
    /// Paths learnt: (VPN, prefix) → router → VPN label.
    rib: HashMap<Key, BTreeMap<Ipv4Addr, u32>>,
    /// What is in the FIB: (VPN, prefix) → (router, next hop).
    fib: HashMap<Key, (Ipv4Addr, NextHop)>,
    counters: ServiceCounters,
}

impl std::fmt::Debug for VpnPeerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpnPeerService")
            .field("listen", &self.cfg.listen)
            .field("radius", &self.cfg.radius)
            .field("vrs", &self.wanted.len())
            .finish_non_exhaustive()
    }
}

fn to_vr_prefix(p: IpPrefix) -> VrPrefix {
    match p {
        IpPrefix::V4(x) => VrPrefix::V4(x),
        IpPrefix::V6(x) => VrPrefix::V6(x),
    }
}

fn to_wire_prefix(p: VrPrefix) -> IpPrefix {
    match p {
        VrPrefix::V4(x) => IpPrefix::V4(x),
        VrPrefix::V6(x) => IpPrefix::V6(x),
    }
}

/// Whether a VR's own route is announced to its peers (module docs).
fn announced(source: RouteSource, nh: &NextHop) -> bool {
    match source {
        RouteSource::Connected => true,
        RouteSource::Static => match nh {
            NextHop::Forward { push, .. } | NextHop::Unresolved { push, .. } => {
                push.as_slice().is_empty()
            }
            _ => false,
        },
        _ => false,
    }
}

impl VpnPeerService {
    /// A service with `cfg`, for `vrs` once started. The RADIUS client (and in-process
    /// server) get their configuration here; an invalid one is an error.
    pub fn new(cfg: ServiceConfig, vrs: Vec<LocalVr>) -> Result<Self, String> {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        let (server_addr, shared, server) = match &cfg.radius {
            RadiusMode::External(a, s) => (*a, s.clone(), None),
            RadiusMode::InProcess(a) => {
                let mut users = VpnUsers::new();
                for (vpn, s) in &cfg.secrets {
                    users
                        .set_secret(*vpn, s)
                        .map_err(|e| format!("VPN {vpn}: {e}"))?;
                }
                let mut srv = RadiusServer::new(rserver::Config::default(), users);
                let len = if a.is_ipv4() { 32 } else { 128 };
                let nas = NasClient::new("vpn peering (in-process)", a.ip(), len, &secret)
                    .map_err(|e| e.to_string())?;
                srv.add_client(nas).map_err(|e| e.to_string())?;
                (*a, secret.to_vec(), Some(srv))
            }
        };
        let mut rc = client::Config::new(&cfg.engine.router_id.to_string());
        rc.auth_servers.push(client::Server {
            addr: server_addr,
            secret: shared,
        });
        rc.timeout = cfg.radius_timeout;
        rc.retries = 2;
        rc.source_ports = 1;
        let auth = RadiusAuthenticator::new(Client::new(rc, rand::random()));
        let engine = Engine::new(cfg.engine.clone(), StdRng::from_rng(&mut rand::rng()), auth);
        let alloc = LabelAllocator::new(cfg.labels.clone()).ok();
        Ok(VpnPeerService {
            cfg,
            engine,
            server,
            l2tp_sock: None,
            client_sock: None,
            server_sock: None,
            started: false,
            alloc,
            wanted: vrs.into_iter().map(|v| (v.vr, v)).collect(),
            vrs: BTreeMap::new(),
            by_vpn: BTreeMap::new(),
            map: BTreeSet::new(),
            transport: BTreeMap::new(),
            rib: HashMap::new(),
            fib: HashMap::new(),
            counters: ServiceCounters::default(),
        })
    }

    /// The L2TP address of `router`.
    pub fn address_of(&self, router: Ipv4Addr) -> SocketAddr {
        self.cfg
            .reach
            .get(&router)
            .copied()
            .unwrap_or(SocketAddr::V4(SocketAddrV4::new(
                router,
                self.cfg.listen.port(),
            )))
    }

    /// The L2TP socket's address.
    pub fn listen(&self) -> SocketAddr {
        self.cfg.listen
    }

    /// The RADIUS side, as configured.
    pub fn radius(&self) -> &RadiusMode {
        &self.cfg.radius
    }

    /// The engine (its counters).
    pub fn engine(&self) -> &Engine<StdRng, RadiusAuthenticator> {
        &self.engine
    }

    /// The service's counters.
    pub fn service_counters(&self) -> &ServiceCounters {
        &self.counters
    }

    /// Sets the local VRs after the appliance applied a change (reload, management API):
    /// VRs that appeared get a label and their peers, those that went release theirs, and
    /// every VR's announced routes follow its table. Returns one line per VR added/removed.
    pub fn configure(&mut self, cx: &mut Ctx<'_>, vrs: Vec<LocalVr>) -> Vec<String> {
        self.wanted = vrs.into_iter().map(|v| (v.vr, v)).collect();
        if !self.started || self.l2tp_sock.is_none() {
            return Vec::new();
        }
        let lines = self.reconcile(cx);
        self.after(cx);
        lines
    }

    /// The routes of `vrs` changed (a route-only transaction): their announcements follow.
    pub fn routes_changed(&mut self, cx: &mut Ctx<'_>, vrs: &BTreeSet<VrId>) {
        if self.l2tp_sock.is_none() {
            return;
        }
        for vr in vrs {
            self.announce(cx, *vr);
        }
        self.after(cx);
    }

    fn reconcile(&mut self, cx: &mut Ctx<'_>) -> Vec<String> {
        let now = cx.now;
        let mut lines = Vec::new();
        let gone: Vec<VrId> = self
            .vrs
            .iter()
            .filter(|(id, v)| self.wanted.get(id).is_none_or(|w| w.vpn_id != v.vpn_id))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            // The engine withdraws the VR's learnt routes while the VR is still mapped, so
            // that a VR that stays (its VPN changed) loses them from its table too.
            let vpn = self.vrs[&id].vpn_id;
            self.engine.remove_vr(now, vpn);
            self.drain_events(cx);
            let keys: Vec<Key> = self.rib.keys().filter(|k| k.0 == vpn).copied().collect();
            for k in keys {
                self.rib.remove(&k);
                self.sync(cx, k);
            }
            let v = self.vrs.remove(&id).expect("listed above");
            self.by_vpn.remove(&v.vpn_id);
            if let Some(l) = v.label {
                if let Ok(label) = Label::new_unreserved(l) {
                    // Fails only when the VR's deletion took its pop label with it.
                    let _ = cx.tables().remove_label(label);
                    if let Some(a) = &mut self.alloc {
                        let _ = a.free(label);
                    }
                }
            }
            lines.push(format!(
                "vpn peering: VR {} of VPN {} left (its channels closed)",
                id.0, v.vpn_id
            ));
        }
        let wanted: Vec<LocalVr> = self.wanted.values().copied().collect();
        for w in wanted {
            if self.vrs.contains_key(&w.vr) {
                continue;
            }
            let Some(secret) = self.cfg.secrets.get(&w.vpn_id).cloned() else {
                continue;
            };
            if self.by_vpn.contains_key(&w.vpn_id) {
                continue;
            }
            let label = self.allocate_label(cx, w.vr);
            self.engine.add_vr(w.vpn_id, &secret);
            self.vrs.insert(
                w.vr,
                Vr {
                    vpn_id: w.vpn_id,
                    label,
                },
            );
            self.by_vpn.insert(w.vpn_id, w.vr);
            lines.push(format!(
                "vpn peering: VR {} of VPN {} takes part, VPN label {}",
                w.vr.0,
                w.vpn_id,
                label.map_or("none (no label free)".into(), |l| l.to_string())
            ));
            let peers: Vec<Ipv4Addr> = self
                .map
                .range((w.vpn_id, Ipv4Addr::UNSPECIFIED)..=(w.vpn_id, Ipv4Addr::BROADCAST))
                .map(|(_, r)| *r)
                .collect();
            for r in peers {
                self.add_peer(now, w.vpn_id, r);
            }
        }
        let ids: Vec<VrId> = self.vrs.keys().copied().collect();
        for id in ids {
            self.announce(cx, id);
        }
        lines
    }

    /// A VPN label for `vr` (not bound in the matrix), with its pop-to-VR entry.
    fn allocate_label(&mut self, cx: &mut Ctx<'_>, vr: VrId) -> Option<u32> {
        let alloc = self.alloc.as_mut()?;
        let bound: BTreeSet<Label> = cx.writer().labels().map(|(l, _)| l).collect();
        loop {
            let l = match alloc.alloc(vr.0) {
                Ok(l) => l,
                Err(e) => {
                    self.counters.label_errors += 1;
                    tracing::warn!(vr = vr.0, error = %e, "vpn peering: no VPN label");
                    return None;
                }
            };
            if bound.contains(&l) {
                // Bound by the profile or another service: keep it marked as used.
                let _ = alloc.free(l);
                let _ = alloc.reserve(l, OWNER_FOREIGN);
                continue;
            }
            match cx.tables().set_label(l, LabelAction::PopToVr(vr)) {
                Ok(()) => {
                    self.counters.labels_allocated += 1;
                    return Some(l.value());
                }
                Err(e) => {
                    self.counters.label_errors += 1;
                    tracing::warn!(vr = vr.0, error = %e, "vpn peering: VPN label not bound");
                    let _ = alloc.free(l);
                    return None;
                }
            }
        }
    }

    /// Brings the routes VR `id` announces to what its table holds now.
    fn announce(&mut self, cx: &mut Ctx<'_>, id: VrId) {
        let Some(v) = self.vrs.get(&id) else {
            return;
        };
        let Some(label) = v.label else {
            return;
        };
        let vpn = v.vpn_id;
        let want: HashMap<IpPrefix, u32> = cx
            .writer()
            .routes(id)
            .filter(|(_, src, nh)| announced(*src, nh))
            .map(|(p, _, _)| (to_wire_prefix(p), label))
            .collect();
        let have = self.engine.local_routes(vpn).cloned().unwrap_or_default();
        let mut ops: Vec<RouteOp> = have
            .keys()
            .filter(|p| !want.contains_key(p))
            .map(|p| RouteOp {
                prefix: *p,
                label: 0,
                withdraw: true,
            })
            .collect();
        ops.extend(
            want.iter()
                .filter(|(p, l)| have.get(p) != Some(l))
                .map(|(p, l)| RouteOp {
                    prefix: *p,
                    label: *l,
                    withdraw: false,
                }),
        );
        if ops.is_empty() {
            return;
        }
        ops.sort_by_key(|o| (o.withdraw, o.prefix));
        if let Err(e) = self.engine.update(cx.now, vpn, &ops) {
            tracing::warn!(vr = id.0, error = %e, "vpn peering: routes not announced");
        }
    }

    fn add_peer(&mut self, now: Instant, vpn: u32, router: Ipv4Addr) {
        let addr = self.address_of(router);
        if let Err(e) = self.engine.add_peer(now, vpn, router, addr) {
            self.counters.peers_refused += 1;
            tracing::warn!(vpn, %router, error = %e, "vpn peering: peer not added");
        }
    }

    /// Puts the FIB in step with what is learnt for `k`.
    fn sync(&mut self, cx: &mut Ctx<'_>, k: Key) {
        let vr = self.by_vpn.get(&k.0).copied();
        let want = vr.and_then(|_| {
            let paths = self.rib.get(&k)?;
            let mut unusable = 0;
            let best = paths.iter().find_map(|(r, l)| match self.transport.get(r) {
                Some(t) => Some((*r, *t, *l)),
                None => {
                    unusable += 1;
                    None
                }
            });
            if best.is_none() && unusable > 0 {
                self.counters.no_transport += 1;
            }
            let (r, t, l) = best?;
            let vpn = Label::new_unreserved(l).ok()?;
            let mut stack = Vec::with_capacity(2);
            if let Some(tl) = t.label.and_then(|x| Label::new_unreserved(x).ok()) {
                stack.push(tl);
            }
            stack.push(vpn);
            let push = LabelPush::new(&stack).ok()?;
            Some((
                r,
                NextHop::Unresolved {
                    port: t.port,
                    vlan: None,
                    via: t.via,
                    push,
                },
            ))
        });
        let have = self.fib.get(&k).copied();
        if want == have {
            return;
        }
        let prefix = to_vr_prefix(k.1);
        match (vr, want) {
            (Some(vr), Some((r, nh))) => {
                match cx.tables().set_route(vr, prefix, RouteSource::Vpn, nh) {
                    Ok(()) => {
                        self.counters.fib_installs += 1;
                        self.fib.insert(k, (r, nh));
                    }
                    Err(e) => {
                        self.counters.fib_errors += 1;
                        tracing::warn!(vr = vr.0, %prefix, error = %e, "vpn peering: route not installed");
                    }
                }
            }
            (vr, _) => {
                self.fib.remove(&k);
                if let Some(vr) = vr {
                    match cx.tables().remove_route(vr, prefix, RouteSource::Vpn) {
                        // A VR deleted with its routes (reload, API) before we heard of it.
                        Ok(()) | Err(StateError::UnknownVr(_)) => self.counters.fib_removals += 1,
                        Err(e) => {
                            self.counters.fib_errors += 1;
                            tracing::warn!(vr = vr.0, %prefix, error = %e, "vpn peering: route not removed");
                        }
                    }
                } else {
                    // The VR is gone with its routes.
                    self.counters.fib_removals += 1;
                }
            }
        }
    }

    fn drain_events(&mut self, cx: &mut Ctx<'_>) {
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::Install {
                    vpn_id,
                    prefix,
                    vpn_label,
                    via,
                } => {
                    self.rib
                        .entry((vpn_id, prefix))
                        .or_default()
                        .insert(via, vpn_label);
                    self.sync(cx, (vpn_id, prefix));
                }
                Event::Withdraw {
                    vpn_id,
                    prefix,
                    via,
                } => {
                    let k = (vpn_id, prefix);
                    if let Some(m) = self.rib.get_mut(&k) {
                        m.remove(&via);
                        if m.is_empty() {
                            self.rib.remove(&k);
                        }
                    }
                    self.sync(cx, k);
                }
                Event::PeerUp { vpn_id, router } => {
                    tracing::info!(vpn_id, %router, "vpn peering: channel up");
                }
                Event::PeerHeld { vpn_id, router, .. } => {
                    tracing::warn!(vpn_id, %router, hold = ?self.cfg.engine.hold_time, "vpn peering: peer silent, routes held");
                }
                Event::PeerDown {
                    vpn_id,
                    router,
                    cause,
                } => {
                    tracing::warn!(vpn_id, %router, ?cause, "vpn peering: peer released");
                    if cause == DownCause::HoldExpired {
                        // Seed 001 Fig. 10: at expiry the configuration map is updated.
                        cx.emit(CoreEvent::PeerExpired { vpn_id, router });
                    }
                }
                Event::AuthRejected { vpn_id, router } => {
                    eprintln!(
                        "varouter: vpn peering: VPN {vpn_id}: router {router} failed authentication (RADIUS reject); channel refused"
                    );
                }
            }
        }
    }

    /// Sends what the engine queued, applies its events, re-arms the timer.
    fn after(&mut self, cx: &mut Ctx<'_>) {
        while let Some(t) = self.engine.poll_transmit() {
            let (sock, dst, bytes) = match t {
                Transmit::L2tp { dst, bytes } => (self.l2tp_sock, dst, bytes),
                Transmit::Auth(a) => (self.client_sock, a.dst, a.payload),
            };
            match sock.map(|s| cx.udp_send(s, dst, &bytes)) {
                Some(Ok(())) => self.counters.tx_datagrams += 1,
                _ => self.counters.tx_errors += 1,
            }
        }
        self.drain_events(cx);
        match self.engine.poll_timeout() {
            Some(t) => cx.timer_at(TIMER_ENGINE, t),
            None => cx.timer_cancel(TIMER_ENGINE),
        }
    }

    fn after_server(&mut self, cx: &mut Ctx<'_>) {
        let Some(srv) = &mut self.server else {
            return;
        };
        while let Some(e) = srv.poll_event() {
            match e.result {
                Ok(()) => self.counters.radius_server_accepts += 1,
                Err(why) => {
                    self.counters.radius_server_rejects += 1;
                    tracing::warn!(user = %String::from_utf8_lossy(&e.user), reason = ?why, "vpn peering: RADIUS reject");
                }
            }
        }
        while let Some(t) = srv.poll_transmit() {
            match self.server_sock.map(|s| cx.udp_send(s, t.dst, &t.payload)) {
                Some(Ok(())) => self.counters.tx_datagrams += 1,
                _ => self.counters.tx_errors += 1,
            }
        }
        match srv.poll_timeout() {
            Some(t) => cx.timer_at(TIMER_RADIUS, t),
            None => cx.timer_cancel(TIMER_RADIUS),
        }
    }

    /// The peering state of local VR `vr` (`None`: it takes no part).
    pub fn peers(&self, vr: VrId, now: Instant) -> Option<PeersView> {
        let v = self.vrs.get(&vr)?;
        let sent = self.engine.local_routes(v.vpn_id).map_or(0, |r| r.len());
        let mut installed: HashMap<Ipv4Addr, usize> = HashMap::new();
        for (k, (r, _)) in &self.fib {
            if k.0 == v.vpn_id {
                *installed.entry(*r).or_default() += 1;
            }
        }
        let channels = self
            .engine
            .channels(v.vpn_id)
            .into_iter()
            .map(|c| ChannelView {
                router: c.router,
                addr: c.addr,
                state: c.state,
                tunnel: c.tunnel,
                peer_tunnel: c.peer_tunnel,
                routes_received: c.routes_received,
                routes_installed: installed.get(&c.router).copied().unwrap_or(0),
                routes_sent: if c.state == "up" { sent } else { 0 },
                hold_left: c.held_until.map(|t| t.saturating_duration_since(now)),
                transport: self.transport.get(&c.router).copied(),
            })
            .collect();
        Some(PeersView {
            vr,
            vpn_id: v.vpn_id,
            label: v.label,
            routes_announced: sent,
            channels,
        })
    }

    /// Whether VR `vr` takes part (its VPN has a peering secret).
    pub fn takes_part(&self, vr: VrId) -> bool {
        self.vrs.contains_key(&vr)
    }
}

impl Service for VpnPeerService {
    fn name(&self) -> &'static str {
        "vpnpeer"
    }

    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest::Event(EventKind::VrPeer),
            Interest::Event(EventKind::TransportPath),
        ]
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        self.started = true;
        let l2tp = match cx.udp_open(self.cfg.listen) {
            Ok(s) => s,
            Err(e) => {
                self.counters.socket_errors += 1;
                eprintln!("varouter: vpn peering: {e}; VPN peering does not run");
                return;
            }
        };
        // The client binds where the in-process server sees it (its NAS client address).
        let (client_bind, server_bind) = match &self.cfg.radius {
            RadiusMode::InProcess(a) => (SocketAddr::new(a.ip(), 0), Some(*a)),
            RadiusMode::External(a, _) if a.is_ipv4() => {
                (SocketAddr::from(([0, 0, 0, 0], 0)), None)
            }
            RadiusMode::External(..) => (SocketAddr::from(([0u16; 8], 0)), None),
        };
        let client = cx.udp_open(client_bind);
        let server = server_bind.map(|a| cx.udp_open(a));
        match (client, server) {
            (Ok(c), None) => self.client_sock = Some(c),
            (Ok(c), Some(Ok(s))) => {
                self.client_sock = Some(c);
                self.server_sock = Some(s);
            }
            (c, s) => {
                self.counters.socket_errors += 1;
                let e = match (c, s) {
                    (Err(e), _) | (_, Some(Err(e))) => e.to_string(),
                    _ => "unknown".into(),
                };
                eprintln!("varouter: vpn peering: RADIUS: {e}; VPN peering does not run");
                cx.udp_close(l2tp);
                return;
            }
        }
        self.l2tp_sock = Some(l2tp);
        tracing::info!(listen = %self.cfg.listen, radius = ?self.cfg.radius, "vpn peering: listening");
        for (router, path) in self.cfg.transport.clone() {
            cx.emit(CoreEvent::TransportPath {
                router,
                path: Some(path),
            });
        }
        self.reconcile(cx);
        self.after(cx);
    }

    fn on_event(&mut self, cx: &mut Ctx<'_>, ev: &CoreEvent) {
        match ev {
            CoreEvent::VrPeer {
                vpn_id, router, up, ..
            } => {
                if *up {
                    self.map.insert((*vpn_id, *router));
                    if self.l2tp_sock.is_some() && self.by_vpn.contains_key(vpn_id) {
                        self.add_peer(cx.now, *vpn_id, *router);
                    }
                } else {
                    self.map.remove(&(*vpn_id, *router));
                    self.engine.remove_peer(cx.now, *vpn_id, *router);
                }
            }
            CoreEvent::TransportPath { router, path } => {
                let changed = match path {
                    Some(p) => self.transport.insert(*router, *p) != Some(*p),
                    None => self.transport.remove(router).is_some(),
                };
                if changed {
                    self.counters.transport_changes += 1;
                    tracing::info!(%router, ?path, "vpn peering: transport path");
                    let keys: Vec<Key> = self
                        .rib
                        .iter()
                        .filter(|(_, m)| m.contains_key(router))
                        .map(|(k, _)| *k)
                        .collect();
                    for k in keys {
                        self.sync(cx, k);
                    }
                }
            }
            CoreEvent::IcmpError { .. } | CoreEvent::PeerExpired { .. } => return,
        }
        self.after(cx);
    }

    fn on_datagram(&mut self, cx: &mut Ctx<'_>, sock: SocketId, from: SocketAddr, data: &[u8]) {
        self.counters.rx_datagrams += 1;
        if data.len() > MAX_DATAGRAM {
            self.counters.rx_oversize += 1;
            return;
        }
        if Some(sock) == self.server_sock {
            if let Some(srv) = &mut self.server {
                srv.handle_datagram(cx.now, from, data);
            }
            self.after_server(cx);
            return;
        }
        if Some(sock) == self.client_sock {
            self.engine.handle_auth_input(cx.now, 0, from, data);
        } else {
            self.engine.handle_input(cx.now, from, data);
        }
        self.after(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, token: u64) {
        if token == TIMER_RADIUS {
            if let Some(srv) = &mut self.server {
                srv.handle_timeout(cx.now);
            }
            self.after_server(cx);
            return;
        }
        self.engine.handle_timeout(cx.now);
        self.after(cx);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let e = self.engine.counters();
        let s = &self.counters;
        let up = self
            .by_vpn
            .keys()
            .flat_map(|v| self.engine.channels(*v))
            .filter(|c| c.state == "up")
            .count() as u64;
        let held = self
            .by_vpn
            .keys()
            .flat_map(|v| self.engine.channels(*v))
            .filter(|c| c.state == "held")
            .count() as u64;
        vec![
            ("vpnpeer_vrs", self.vrs.len() as u64),
            ("vpnpeer_channels_up", up),
            ("vpnpeer_channels_held", held),
            ("vpnpeer_fib_routes", self.fib.len() as u64),
            ("vpnpeer_auth_accepts", e.auth_accepts),
            ("vpnpeer_auth_rejects", e.auth_rejects),
            ("vpnpeer_auth_unavailable", e.auth_unavailable),
            ("vpnpeer_auth_timeouts", e.auth_timeouts),
            ("vpnpeer_refused_by_peer", e.refused_by_peer),
            ("vpnpeer_unknown_peer", e.unknown_peer),
            ("vpnpeer_peers_up", e.peers_up),
            ("vpnpeer_peers_held", e.peers_held),
            ("vpnpeer_hold_recoveries", e.hold_recoveries),
            ("vpnpeer_hold_expiries", e.hold_expiries),
            ("vpnpeer_connect_attempts", e.connect_attempts),
            ("vpnpeer_connect_failures", e.connect_failures),
            ("vpnpeer_routes_rx", e.routes_rx),
            ("vpnpeer_withdraws_rx", e.withdraws_rx),
            ("vpnpeer_routes_tx", e.routes_tx),
            ("vpnpeer_withdraws_tx", e.withdraws_tx),
            ("vpnpeer_routes_over_limit", e.routes_over_limit),
            ("vpnpeer_stale_routes_withdrawn", e.stale_routes_withdrawn),
            ("vpnpeer_malformed_messages", e.malformed_messages),
            ("vpnpeer_unexpected_messages", e.unexpected_messages),
            ("vpnpeer_refused_max_peers", e.refused_max_peers),
            ("vpnpeer_fib_installs", s.fib_installs),
            ("vpnpeer_fib_removals", s.fib_removals),
            ("vpnpeer_fib_errors", s.fib_errors),
            ("vpnpeer_no_transport", s.no_transport),
            ("vpnpeer_transport_changes", s.transport_changes),
            ("vpnpeer_labels_allocated", s.labels_allocated),
            ("vpnpeer_label_errors", s.label_errors),
            ("vpnpeer_peers_refused", s.peers_refused),
            ("vpnpeer_rx_datagrams", s.rx_datagrams),
            ("vpnpeer_rx_oversize", s.rx_oversize),
            ("vpnpeer_tx_datagrams", s.tx_datagrams),
            ("vpnpeer_tx_errors", s.tx_errors),
            ("vpnpeer_socket_errors", s.socket_errors),
            ("vpnpeer_radius_server_accepts", s.radius_server_accepts),
            ("vpnpeer_radius_server_rejects", s.radius_server_rejects),
            (
                "vpnpeer_radius_server_drops",
                self.server.as_ref().map_or(0, |srv| {
                    let c = srv.counters();
                    c.drop_unknown_client
                        + c.drop_malformed
                        + c.drop_unexpected_code
                        + c.drop_missing_message_authenticator
                        + c.drop_bad_message_authenticator
                        + c.drop_transmit_queue_full
                        + c.drop_encode_error
                        + c.drop_unsigned_proxy_state
                }),
            ),
        ]
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
