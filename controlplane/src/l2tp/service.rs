//! The L2TP service: every VR's L2TP endpoint (LAC or LNS) on the control core.
//!
//! L2TP control messages to a VR's tunnel address are punted by the workers with the
//! offsets of their IPv4 and UDP headers; the per-VR driver ([`super::driver::vr`]) feeds
//! them to the VR's engine; what the engines send is routed **in the same VR**; sessions
//! that come up are bound in the session table (`(our tunnel, our session)` → VR, so the
//! workers decapsulate their data into that VR) and unbound when they go. Each tunnel's
//! timers (retransmission, acknowledgement, HELLO, closing) and each VR's role-switch
//! deadline are timers of the core's one timer set.
//!
//! Reconfiguration while running: [`L2tpService::set_role`] switches a VR between LAC and
//! LNS (draining its tunnels first), [`L2tpService::configure`] adds, replaces or removes
//! endpoints; [`moves`] moves a tunnel or a session to another VR while it stays up.

pub mod moves;

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use controlcore::{Ctx, Interest, Punt, PuntView, Service, SocketId};
use rand::rngs::StdRng;
use vr::{
    L2tpEncap, NextHop, PortId, PppoeEncap, RouteSource, SessionBinding, SessionKey, StateWriter,
    VrId,
};
use wire::l2tp::L2tpPacket;
use wire::UdpPacket;

use super::driver::vr::{EndpointConfig, EndpointTimer, TableChange, VrEndpoints};
use super::engine::{CallParams, Role};
use crate::access::config::{AccessConfig, RelayRadius};
use crate::access::manager::{
    radius_source_ports as relay_radius_ports, AccessManager, L2tpLeg, LinkKey,
    Output as AccessOutput,
};
use crate::subscriber::config::SubscriberConfig;
use crate::subscriber::manager::{
    radius_source_ports, Output, PppoeLink, SessionInfo, SubscriberView, Subscribers, TimerKey,
};

const DRAIN_BIT: u64 = 1 << 16;

fn token(vr: VrId, t: EndpointTimer) -> u64 {
    let low = match t {
        EndpointTimer::Tunnel(id) => u64::from(id),
        EndpointTimer::Drain => DRAIN_BIT,
    };
    u64::from(vr.0) << 17 | low
}

/// Subscriber timers live in the upper half of the token space.
const SUB_BIT: u64 = 1 << 63;
const RADIUS_BIT: u64 = 1 << 62;
/// PPPoE access sessions' timers.
const ACCESS_BIT: u64 = 1 << 61;

/// Access links that are switched L2TP sessions (else PPPoE sessions).
const ACCESS_L2TP_BIT: u64 = 1 << 60;

fn access_token(link: LinkKey) -> u64 {
    match link {
        LinkKey::Pppoe { port, session } => {
            ACCESS_BIT | u64::from(port.0) << 16 | u64::from(session)
        }
        LinkKey::L2tp {
            vr,
            tunnel,
            session,
        } => {
            ACCESS_BIT
                | ACCESS_L2TP_BIT
                | u64::from(vr.0) << 32
                | u64::from(tunnel) << 16
                | u64::from(session)
        }
    }
}

/// A relaying VR's RADIUS client timer.
fn access_radius_token(vr: VrId) -> u64 {
    ACCESS_BIT | RADIUS_BIT | u64::from(vr.0)
}

fn access_untoken(tok: u64) -> LinkKey {
    if tok & ACCESS_L2TP_BIT != 0 {
        LinkKey::L2tp {
            vr: VrId(((tok >> 32) as u32) & 0x0fff_ffff),
            tunnel: (tok >> 16) as u16,
            session: tok as u16,
        }
    } else {
        LinkKey::Pppoe {
            port: PortId((tok >> 16) as u16),
            session: tok as u16,
        }
    }
}

/// The session-table key of an access link.
fn link_table_key(link: LinkKey) -> SessionKey {
    match link {
        LinkKey::Pppoe { port, session } => SessionKey::Pppoe { port, session },
        LinkKey::L2tp {
            tunnel, session, ..
        } => SessionKey::L2tp { tunnel, session },
    }
}

/// A relayed subscriber as listings show it: its access link, where it is relayed, its
/// traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayView {
    /// The access link and what the manager knows of it.
    pub link: crate::access::manager::LinkView,
    /// The ISP's LNS, once a call is placed.
    pub lns: Option<SocketAddr>,
    /// How long it has been up.
    pub uptime: std::time::Duration,
    /// Packets and bytes from and to the subscriber (`vr::session_counter` order).
    pub traffic: [u64; 4],
}

/// An access VR's settings and its access interfaces (port, VLAN).
pub type AccessVr = (AccessConfig, Vec<(PortId, Option<u16>)>);

fn sub_token(k: TimerKey) -> u64 {
    match k {
        TimerKey::Session {
            vr,
            tunnel,
            session,
        } => SUB_BIT | u64::from(vr.0) << 32 | u64::from(tunnel) << 16 | u64::from(session),
        TimerKey::Radius(vr) => SUB_BIT | RADIUS_BIT | u64::from(vr.0),
    }
}

fn sub_untoken(tok: u64) -> TimerKey {
    if tok & RADIUS_BIT != 0 {
        TimerKey::Radius(VrId(tok as u32))
    } else {
        TimerKey::Session {
            vr: VrId(((tok >> 32) as u32) & 0x3fff_ffff),
            tunnel: (tok >> 16) as u16,
            session: tok as u16,
        }
    }
}

/// What a host socket of the service is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SockUse {
    /// A VR's RADIUS client, source socket `n`.
    Radius(VrId, usize),
    /// A VR's Dynamic Authorization server.
    Dae(VrId),
    /// A relaying VR's RADIUS client, source socket `n`.
    RelayRadius(VrId, usize),
}

fn untoken(tok: u64) -> (VrId, EndpointTimer) {
    let vr = VrId((tok >> 17) as u32);
    if tok & DRAIN_BIT != 0 {
        (vr, EndpointTimer::Drain)
    } else {
        (vr, EndpointTimer::Tunnel(tok as u16))
    }
}

/// Counters of the service (the engines keep their own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L2tpServiceStats {
    /// Punts without an IPv4 header.
    pub malformed: u64,
    /// Session binds or unbinds the state refused (a bug; logged).
    pub table_errors: u64,
    /// PPP frames of sessions in VRs that do not terminate PPP.
    pub ppp_not_terminated: u64,
    /// PPP punts without a readable L2TP data header.
    pub ppp_malformed: u64,
    /// Sessions bound without traffic counters (every slot in use).
    pub counters_exhausted: u64,
    /// RADIUS / DAE sockets that could not be opened, or sends that failed.
    pub socket_errors: u64,
    /// Subscriber route changes the state refused.
    pub route_errors: u64,
    /// Relayed calls that came up without a path to their LNS (closed).
    pub relay_no_egress: u64,
    /// PPPoE punts too short for a PPPoE header.
    pub pppoe_malformed: u64,
    /// Sessions moved to another VR (management, [`moves`]).
    pub moves: u64,
}

/// A VR's RADIUS settings as its sockets were opened for, its client sockets and its DAE
/// socket.
type VrSockets = (
    Option<crate::subscriber::config::RadiusSettings>,
    Vec<SocketId>,
    Option<SocketId>,
);

/// The L2TP service (see the module docs).
pub struct L2tpService {
    eps: VrEndpoints,
    subs: Subscribers,
    /// Subscriber settings given before start (sockets need the core).
    pending_subs: Option<Vec<SubscriberConfig>>,
    sockets: HashMap<SocketId, SockUse>,
    vr_sockets: BTreeMap<VrId, VrSockets>,
    /// PPPoE access and the LAC relay.
    access: AccessManager,
    /// Access settings given before start.
    pending_access: Option<Vec<AccessVr>>,
    /// Relaying VRs' RADIUS settings as their sockets were opened for, and the sockets.
    relay_sockets: BTreeMap<VrId, (RelayRadius, Vec<SocketId>)>,
    /// Relayed calls: the L2TP leg `(vr, tunnel, session)` → the PPPoE session.
    relays: HashMap<(VrId, u16, u16), LinkKey>,
    /// Traffic counter slots of PPPoE sessions.
    link_slots: HashMap<LinkKey, u32>,
    /// PPPoE sessions terminated in a VR here: the VR and the link number its subscriber
    /// manager knows them by (as L2TP session `(0, no)`), and back.
    local_links: HashMap<LinkKey, (VrId, u16)>,
    local_by_no: HashMap<(VrId, u16), LinkKey>,
    next_link_no: u16,
    /// Tunnels whose sessions are routed in another VR ([`moves`]).
    tunnel_routes: moves::TunnelRoutes,
    /// Counters.
    pub stats: L2tpServiceStats,
}

impl L2tpService {
    /// The endpoints of `cfgs`, engines seeded from the operating system.
    pub fn new(cfgs: Vec<EndpointConfig>, now: Instant) -> Self {
        L2tpService {
            eps: VrEndpoints::with_os_rng(cfgs, now),
            subs: Subscribers::new(rand::random()),
            pending_subs: None,
            sockets: HashMap::new(),
            vr_sockets: BTreeMap::new(),
            access: AccessManager::new(rand::random(), Default::default(), rand::random()),
            pending_access: None,
            relay_sockets: BTreeMap::new(),
            relays: HashMap::new(),
            link_slots: HashMap::new(),
            local_links: HashMap::new(),
            local_by_no: HashMap::new(),
            next_link_no: 0,
            tunnel_routes: HashMap::new(),
            stats: L2tpServiceStats::default(),
        }
    }

    /// The endpoints of `cfgs` with engines seeded by `make_rng` (deterministic tests).
    pub fn with_rng(
        cfgs: Vec<EndpointConfig>,
        make_rng: Box<dyn FnMut() -> StdRng + Send>,
        now: Instant,
    ) -> Self {
        L2tpService {
            eps: VrEndpoints::new(cfgs, make_rng, now),
            subs: Subscribers::new(0x5eed),
            pending_subs: None,
            sockets: HashMap::new(),
            vr_sockets: BTreeMap::new(),
            access: AccessManager::new([0x5e; 32], Default::default(), 0x5eed),
            pending_access: None,
            relay_sockets: BTreeMap::new(),
            relays: HashMap::new(),
            link_slots: HashMap::new(),
            local_links: HashMap::new(),
            local_by_no: HashMap::new(),
            next_link_no: 0,
            tunnel_routes: HashMap::new(),
            stats: L2tpServiceStats::default(),
        }
    }

    /// The per-VR endpoints (status, counters).
    pub fn endpoints(&self) -> &VrEndpoints {
        &self.eps
    }

    /// With subscriber termination (PPP, RADIUS, pools) in these VRs, from the start.
    pub fn with_subscribers(mut self, cfgs: Vec<SubscriberConfig>) -> Self {
        self.pending_subs = Some(cfgs);
        self
    }

    /// The subscriber manager (counters, settings).
    pub fn subscribers(&self) -> &Subscribers {
        &self.subs
    }

    /// With PPPoE access in these VRs, from the start.
    pub fn with_access(mut self, cfgs: Vec<AccessVr>) -> Self {
        self.pending_access = Some(cfgs);
        self
    }

    /// The access manager (PPPoE sessions, relays, counters).
    pub fn access(&self) -> &AccessManager {
        &self.access
    }

    /// The first `limit` relayed subscribers, with the path of each: access link → access
    /// VR → the ISP's VR, tunnel and session → the LNS; traffic read through `w`.
    pub fn relay_list(&self, w: &StateWriter, now: Instant, limit: usize) -> Vec<RelayView> {
        self.access
            .list(limit)
            .into_iter()
            .map(|l| {
                use crate::access::manager::Stage;
                let lns = match l.stage {
                    Stage::Relaying { vr, tunnel, .. }
                    | Stage::Placing {
                        vr,
                        call: Some((tunnel, _)),
                    } => self.eps.tunnel_peer(vr, tunnel),
                    _ => None,
                };
                let slot = match l.link {
                    LinkKey::Pppoe { .. } => self.link_slots.get(&l.link).copied(),
                    LinkKey::L2tp { .. } => w.session(&link_table_key(l.link)).map(|b| b.counters),
                };
                let traffic = slot
                    .filter(|s| *s != SessionBinding::NO_COUNTERS)
                    .map_or([0; 4], |s| w.session_traffic(s));
                RelayView {
                    uptime: now.saturating_duration_since(l.since),
                    link: l,
                    lns,
                    traffic,
                }
            })
            .collect()
    }

    /// The relayed call of a PPPoE session: `(vr, tunnel, session)` of its L2TP leg.
    pub fn relay_of(&self, link: LinkKey) -> Option<(VrId, u16, u16)> {
        self.relays
            .iter()
            .find(|(_, l)| **l == link)
            .map(|(k, _)| *k)
    }

    /// Makes the access VRs those of `cfgs` (reload): sessions on interfaces that are no
    /// longer access interfaces of the same VR end.
    pub fn configure_access(&mut self, cx: &mut Ctx<'_>, cfgs: Vec<AccessVr>) {
        self.open_relay_sockets(cx, &cfgs);
        self.access.configure(cx.now, cfgs);
        self.pump(cx);
    }

    /// Ends one PPPoE subscriber (operator command): CDN toward its LNS, PADT.
    pub fn disconnect_access(&mut self, cx: &mut Ctx<'_>, link: LinkKey) -> bool {
        let ok = self.access.disconnect(cx.now, link);
        self.pump(cx);
        ok
    }

    /// The first `limit` subscribers now, with their traffic (read through `w`).
    pub fn subscriber_list(
        &self,
        w: &StateWriter,
        now: Instant,
        limit: usize,
    ) -> Vec<SubscriberView> {
        self.subs
            .list(now, None, limit, &|slot| w.session_traffic(slot))
    }

    /// The PPP subscribers of one VR (at most `limit`).
    pub fn subscriber_list_of(
        &self,
        w: &StateWriter,
        now: Instant,
        vr: VrId,
        limit: usize,
    ) -> Vec<SubscriberView> {
        self.subs
            .list(now, Some(vr), limit, &|slot| w.session_traffic(slot))
    }

    /// Makes the VRs' subscriber settings those of `cfgs` (reload): sockets of VRs whose
    /// RADIUS settings changed are reopened; subscribers of VRs that keep terminating PPP
    /// stay up with their addresses.
    pub fn configure_subscribers(&mut self, cx: &mut Ctx<'_>, cfgs: Vec<SubscriberConfig>) {
        self.open_sockets(cx, &cfgs);
        let now = cx.now;
        {
            let w = cx.writer();
            self.subs
                .configure(now, cfgs, &|slot| w.session_traffic(slot));
        }
        self.pump(cx);
    }

    /// Re-resolves the path to every subscriber's LAC in the published tables and
    /// re-points the subscriber routes whose path changed (after a reload changed routes).
    /// Returns how many sessions changed.
    pub fn refresh_subscriber_egress(&mut self, cx: &mut Ctx<'_>) -> usize {
        let n = {
            let cx: &Ctx<'_> = cx;
            self.subs
                .refresh_egress(|vr, lac| Self::egress(cx, vr, lac))
        };
        self.pump(cx);
        n
    }

    /// Clears one of `vr`'s tunnels (operator command): StopCCN; its sessions (and their
    /// subscribers) end with it. False when there is no such tunnel.
    pub fn clear_tunnel(&mut self, cx: &mut Ctx<'_>, vr: VrId, tunnel: u16) -> bool {
        let ok = self.eps.close_tunnel(cx.now, vr, tunnel);
        self.pump(cx);
        ok
    }

    /// Clears one L2TP session of `vr` (operator command): CDN. A PPP subscriber on it is
    /// better ended with [`L2tpService::disconnect_subscriber`] (accounting Stop first).
    pub fn clear_session(&mut self, cx: &mut Ctx<'_>, vr: VrId, tunnel: u16, session: u16) -> bool {
        let ok = self.eps.close_session(cx.now, vr, tunnel, session);
        self.pump(cx);
        ok
    }

    /// Ends one subscriber (operator command): accounting Stop (Admin-Reset), CDN.
    pub fn disconnect_subscriber(
        &mut self,
        cx: &mut Ctx<'_>,
        vr: VrId,
        tunnel: u16,
        session: u16,
    ) -> bool {
        let now = cx.now;
        let ok = {
            let w = cx.writer();
            self.subs.disconnect(
                now,
                vr,
                tunnel,
                session,
                crate::subscriber::manager::terminate_cause::ADMIN_RESET,
                &|slot| w.session_traffic(slot),
            )
        };
        self.pump(cx);
        ok
    }

    /// Opens (and closes) the RADIUS client and DAE sockets so that they match `cfgs`.
    fn open_sockets(&mut self, cx: &mut Ctx<'_>, cfgs: &[SubscriberConfig]) {
        let wanted: BTreeMap<VrId, &SubscriberConfig> = cfgs.iter().map(|c| (c.vr, c)).collect();
        let stale: Vec<VrId> = self
            .vr_sockets
            .iter()
            .filter(|(vr, (r, _, _))| wanted.get(vr).map(|c| &c.radius) != Some(r))
            .map(|(vr, _)| *vr)
            .collect();
        for vr in stale {
            if let Some((_, socks, dae)) = self.vr_sockets.remove(&vr) {
                for s in socks.into_iter().chain(dae) {
                    self.sockets.remove(&s);
                    cx.udp_close(s);
                }
            }
        }
        for (vr, c) in wanted {
            if self.vr_sockets.contains_key(&vr) {
                continue;
            }
            let Some(r) = &c.radius else {
                self.vr_sockets.insert(vr, (None, Vec::new(), None));
                continue;
            };
            let socks = self.open_client_sockets(cx, r.source, radius_source_ports(c), |n| {
                SockUse::Radius(vr, n)
            });
            let dae = r
                .dae
                .as_ref()
                .and_then(|(listen, _)| match cx.udp_open(*listen) {
                    Ok(s) => {
                        self.sockets.insert(s, SockUse::Dae(vr));
                        Some(s)
                    }
                    Err(e) => {
                        self.stats.socket_errors += 1;
                        tracing::error!("vr {}: Dynamic Authorization socket: {e}", vr.0);
                        None
                    }
                });
            self.vr_sockets.insert(vr, (c.radius.clone(), socks, dae));
        }
    }

    /// Opens (and closes) the relaying VRs' RADIUS client sockets so that they match `cfgs`.
    fn open_relay_sockets(&mut self, cx: &mut Ctx<'_>, cfgs: &[AccessVr]) {
        let wanted: BTreeMap<VrId, &RelayRadius> = cfgs
            .iter()
            .filter_map(|(c, _)| c.radius.as_ref().map(|r| (c.vr, r)))
            .collect();
        let stale: Vec<VrId> = self
            .relay_sockets
            .iter()
            .filter(|(vr, (r, _))| wanted.get(vr) != Some(&r))
            .map(|(vr, _)| *vr)
            .collect();
        for vr in stale {
            if let Some((_, socks)) = self.relay_sockets.remove(&vr) {
                for s in socks {
                    self.sockets.remove(&s);
                    cx.udp_close(s);
                }
            }
        }
        for (vr, r) in wanted {
            if self.relay_sockets.contains_key(&vr) {
                continue;
            }
            let socks = self.open_client_sockets(cx, r.source, relay_radius_ports(), |n| {
                SockUse::RelayRadius(vr, n)
            });
            self.relay_sockets.insert(vr, (r.clone(), socks));
        }
    }

    /// Opens `n` RADIUS client sockets bound to `source` (any port), registered as `usage(i)`;
    /// a socket that cannot be opened is logged and counted.
    fn open_client_sockets(
        &mut self,
        cx: &mut Ctx<'_>,
        source: IpAddr,
        n: usize,
        usage: impl Fn(usize) -> SockUse,
    ) -> Vec<SocketId> {
        let mut socks = Vec::new();
        for i in 0..n {
            match cx.udp_open(SocketAddr::new(source, 0)) {
                Ok(s) => {
                    self.sockets.insert(s, usage(i));
                    socks.push(s);
                }
                Err(e) => {
                    self.stats.socket_errors += 1;
                    tracing::error!("{:?}: RADIUS client socket on {source}: {e}", usage(i));
                }
            }
        }
        socks
    }

    /// Port, VLAN and neighbour through which `vr` reaches `peer` now.
    fn egress(cx: &Ctx<'_>, vr: VrId, peer: Ipv4Addr) -> Option<(PortId, Option<u16>, Ipv4Addr)> {
        let id = cx.state().vr(vr)?.lookup4(u32::from(peer))?;
        match cx.writer().next_hops().spec(id)? {
            NextHop::Unresolved {
                port,
                vlan,
                via: IpAddr::V4(via),
                push,
            } if push.as_slice().is_empty() => {
                Some((*port, *vlan, if via.is_unspecified() { peer } else { *via }))
            }
            _ => None,
        }
    }

    /// Acts on what the subscriber manager produced. Returns true when it closed L2TP
    /// sessions (the endpoints have something to send).
    fn apply_subscribers(&mut self, cx: &mut Ctx<'_>) -> bool {
        let outs: Vec<Output> = self.subs.drain().collect();
        let mut closed = false;
        for o in outs {
            match o {
                Output::Packet { vr, ip } => cx.route(vr, ip),
                Output::Frame { port, frame } => cx.send_frame(port, frame),
                Output::Route { vr, prefix, via } => {
                    let r = match via {
                        Some(nh) => cx
                            .tables()
                            .set_route(vr, prefix, RouteSource::Subscriber, nh),
                        None => cx
                            .tables()
                            .remove_route(vr, prefix, RouteSource::Subscriber),
                    };
                    if let Err(e) = r {
                        self.stats.route_errors += 1;
                        tracing::error!("vr {}: subscriber route {prefix}: {e}", vr.0);
                    }
                }
                Output::CloseSession {
                    vr,
                    tunnel: 0,
                    session,
                } if self.local_by_no.contains_key(&(vr, session)) => {
                    // A PPPoE subscriber terminated here: PADT (the access side unbinds).
                    let link = self.local_by_no[&(vr, session)];
                    closed |= self.access.disconnect(cx.now, link);
                }
                Output::CloseSession {
                    vr,
                    tunnel,
                    session,
                } => closed |= self.eps.close_session(cx.now, vr, tunnel, session),
                Output::Radius {
                    vr,
                    socket,
                    dst,
                    payload,
                } => {
                    let s = self
                        .vr_sockets
                        .get(&vr)
                        .and_then(|(_, v, _)| v.get(socket).copied());
                    self.send(cx, s, dst, &payload);
                }
                Output::Dae { vr, dst, payload } => {
                    let s = self.vr_sockets.get(&vr).and_then(|(_, _, d)| *d);
                    self.send(cx, s, dst, &payload);
                }
                Output::Timer { key, at } => match at {
                    Some(at) => cx.timer_at(sub_token(key), at),
                    None => cx.timer_cancel(sub_token(key)),
                },
            }
        }
        closed
    }

    /// Sends a RADIUS/DAE datagram from one of the service's sockets; a missing socket (it
    /// could not be opened) or a failed send is counted.
    fn send(&mut self, cx: &mut Ctx<'_>, sock: Option<SocketId>, dst: SocketAddr, payload: &[u8]) {
        if sock.is_none_or(|s| cx.udp_send(s, dst, payload).is_err()) {
            self.stats.socket_errors += 1;
        }
    }

    /// A PPP frame punted by a worker (a session bound to the VR it arrived in).
    fn on_ppp(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        let (Some(vr), Some(l4)) = (p.vr(), p.l4()) else {
            self.stats.ppp_malformed += 1;
            return;
        };
        let Ok(udp) = UdpPacket::new_checked(l4) else {
            self.stats.ppp_malformed += 1;
            return;
        };
        let msg = udp.payload();
        let Ok(h) = L2tpPacket::new_checked(msg) else {
            self.stats.ppp_malformed += 1;
            return;
        };
        if h.is_control() {
            self.stats.ppp_malformed += 1;
            return;
        }
        let (tunnel, session) = (h.tunnel_id(), h.session_id());
        if self.access.relays(vr) {
            let link = LinkKey::L2tp {
                vr,
                tunnel,
                session,
            };
            self.access.ppp_frame(cx.now, link, &msg[h.header_len()..]);
            self.pump(cx);
            return;
        }
        if !self.subs.serves(vr) {
            self.stats.ppp_not_terminated += 1;
            return;
        }
        let frame = &msg[h.header_len()..];
        let now = cx.now;
        {
            let w = cx.writer();
            self.subs
                .ppp_frame(now, vr, tunnel, session, frame, &|slot| {
                    w.session_traffic(slot)
                });
        }
        self.pump(cx);
    }

    /// A PPPoE frame punted by a worker: discovery (any frame of an access interface) or
    /// the PPP control of a session bound here.
    fn on_pppoe(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        let Some(l3) = p.l3().filter(|h| h.len() >= wire::pppoe::HEADER_LEN) else {
            self.stats.pppoe_malformed += 1;
            return;
        };
        let now = cx.now;
        if p.reason() == Punt::PppoeDiscovery {
            let off = p.frame.len() - l3.len();
            let mac = cx.writer().next_hops().port_mac(p.port).unwrap_or([0; 6]);
            self.access
                .discovery_frame(now, p.port, mac, p.vlan(), p.frame, off);
        } else {
            let Some(ppp) = p.inner() else {
                self.stats.pppoe_malformed += 1;
                return;
            };
            let session = u16::from_be_bytes([l3[2], l3[3]]);
            let link = LinkKey::Pppoe {
                port: p.port,
                session,
            };
            match self.local_links.get(&link) {
                Some(&(vr, no)) => {
                    // Terminated here: the VR's subscriber manager runs its PPP.
                    let mut f = Vec::with_capacity(ppp.len() + 2);
                    f.extend_from_slice(&[0xff, 0x03]);
                    f.extend_from_slice(ppp);
                    let w = cx.writer();
                    self.subs
                        .ppp_frame(now, vr, 0, no, &f, &|slot| w.session_traffic(slot));
                }
                None => self.access.ppp_frame(now, link, ppp),
            }
        }
        self.pump(cx);
    }

    /// Starts switching `vr` to `role` (draining its tunnels). False when the VR has no
    /// L2TP endpoint.
    pub fn set_role(&mut self, cx: &mut Ctx<'_>, vr: VrId, role: Role) -> bool {
        let ok = self.eps.set_role(cx.now, vr, role);
        self.pump(cx);
        ok
    }

    /// Makes the endpoints those of `cfgs`: endpoints whose settings changed are replaced
    /// (their tunnels are dropped and their sessions unbound), new ones start, missing ones
    /// are removed. A change of role alone is a [`set_role`](Self::set_role) (drained, not
    /// dropped). Returns the VRs whose endpoint was (re)started or removed.
    pub fn configure(&mut self, cx: &mut Ctx<'_>, cfgs: Vec<EndpointConfig>) -> Vec<VrId> {
        let mut touched = Vec::new();
        let wanted: std::collections::BTreeSet<VrId> = cfgs.iter().map(|c| c.vr).collect();
        let present: Vec<VrId> = self.eps.occupancy().iter().map(|o| o.0).collect();
        for vr in present {
            if !wanted.contains(&vr) && self.eps.remove(vr) {
                touched.push(vr);
            }
        }
        for c in cfgs {
            match self.eps.config(c.vr) {
                Some(old) if same_but_role(old, &c) => {
                    if old.engine.role != c.engine.role {
                        self.eps.set_role(cx.now, c.vr, c.engine.role);
                    }
                }
                _ => {
                    touched.push(c.vr);
                    self.eps.add(c, cx.now);
                }
            }
        }
        self.pump(cx);
        touched
    }

    /// Sends what the engines produced, applies their session bindings (and starts or
    /// ends the subscribers of PPP-terminating VRs), acts on the subscriber manager's
    /// output, follows every timer; until nothing moves.
    fn pump(&mut self, cx: &mut Ctx<'_>) {
        for _ in 0..8 {
            self.pump_endpoints(cx);
            let subs = self.apply_subscribers(cx);
            let access = self.apply_access(cx);
            if !subs && !access {
                break;
            }
        }
    }

    /// Acts on what the access manager produced. Returns true when it placed or cleared
    /// calls (the endpoints have something to send).
    fn apply_access(&mut self, cx: &mut Ctx<'_>) -> bool {
        let mut calls = false;
        loop {
            let outs: Vec<AccessOutput> = self.access.drain().collect();
            if outs.is_empty() {
                return calls;
            }
            for o in outs {
                match o {
                    AccessOutput::Frame { port, frame } => cx.send_frame(port, frame),
                    AccessOutput::Packet { vr, ip } => cx.route(vr, ip),
                    AccessOutput::Bind {
                        link,
                        vr,
                        mac,
                        vlan,
                    } => {
                        let slot = cx.tables().alloc_session_counters().unwrap_or_else(|| {
                            self.stats.counters_exhausted += 1;
                            SessionBinding::NO_COUNTERS
                        });
                        let key = link_table_key(link);
                        let b = SessionBinding::pppoe(vr, slot, mac, vlan);
                        match cx.tables().bind_session(key, b) {
                            Ok(()) => {
                                self.link_slots.insert(link, slot);
                            }
                            Err(e) => {
                                self.stats.table_errors += 1;
                                tracing::error!("pppoe session binding: {e}");
                                if slot != SessionBinding::NO_COUNTERS {
                                    cx.tables().free_session_counters(slot);
                                }
                                self.access.disconnect(cx.now, link);
                            }
                        }
                    }
                    AccessOutput::Unbind { link } => {
                        if let Some((vr, no)) = self.local_links.remove(&link) {
                            self.local_by_no.remove(&(vr, no));
                            let now = cx.now;
                            let w = cx.writer();
                            self.subs
                                .session_down(now, vr, 0, no, &|slot| w.session_traffic(slot));
                        }
                        let key = link_table_key(link);
                        if cx.writer().session(&key).is_some() {
                            let _ = cx.tables().unbind_session(&key);
                        }
                        if let Some(slot) = self.link_slots.remove(&link) {
                            if slot != SessionBinding::NO_COUNTERS {
                                cx.tables().free_session_counters(slot);
                            }
                        }
                    }
                    AccessOutput::Place {
                        link: link @ LinkKey::Pppoe { .. },
                        vr,
                        proxy,
                        calling_number,
                        ..
                    } if self.subs.serves(vr) => {
                        if let Err(e) = self.terminate_here(cx, link, vr, proxy, calling_number) {
                            tracing::warn!("vr {}: terminating {link}: {e}", vr.0);
                            self.access.call_down(cx.now, link, "cannot terminate here");
                        }
                    }
                    AccessOutput::Place {
                        link,
                        vr,
                        lns,
                        proxy,
                        calling_number,
                    } => {
                        let params = CallParams {
                            called_number: Vec::new(),
                            calling_number,
                            // Digital access (RFC 2661 §4.4.3 Bearer Type), synchronous
                            // framing: what an Ethernet access line is.
                            bearer_type: 1,
                            framing_type: 1,
                            connect_speed: 1_000_000_000,
                            proxy: Some(proxy),
                        };
                        calls = true;
                        match self.eps.place_call(cx.now, vr, lns, params) {
                            Ok((tunnel, session)) => {
                                self.relays.insert((vr, tunnel, session), link);
                                self.access.call_placed(link, tunnel, session);
                            }
                            Err(e) => {
                                tracing::warn!("vr {}: cannot place a call: {e}", vr.0);
                                self.access.call_down(cx.now, link, "no tunnel to the ISP");
                            }
                        }
                    }
                    AccessOutput::Hangup {
                        vr,
                        tunnel,
                        session,
                    } => {
                        self.relays.remove(&(vr, tunnel, session));
                        calls |= self.eps.close_session(cx.now, vr, tunnel, session);
                    }
                    AccessOutput::Timer { link, at } => match at {
                        Some(at) => cx.timer_at(access_token(link), at),
                        None => cx.timer_cancel(access_token(link)),
                    },
                    AccessOutput::Radius {
                        vr,
                        socket,
                        dst,
                        payload,
                    } => {
                        let s = self
                            .relay_sockets
                            .get(&vr)
                            .and_then(|(_, v)| v.get(socket).copied());
                        self.send(cx, s, dst, &payload);
                    }
                    AccessOutput::RadiusTimer { vr, at } => match at {
                        Some(at) => cx.timer_at(access_radius_token(vr), at),
                        None => cx.timer_cancel(access_radius_token(vr)),
                    },
                }
            }
        }
    }

    /// A PPPoE subscriber whose realm points at a VR that terminates PPP (`ppp`): the
    /// session is rebound to that VR (its IP routed there by the workers, its PPP control
    /// punted to that VR's subscriber manager), which takes the access side's proxy LCP and
    /// authentication as an LNS takes a LAC's and authenticates, addresses and accounts it.
    fn terminate_here(
        &mut self,
        cx: &mut Ctx<'_>,
        link: LinkKey,
        vr: VrId,
        proxy: Box<crate::l2tp::engine::ProxyInfo>,
        calling_number: Vec<u8>,
    ) -> Result<(), String> {
        let LinkKey::Pppoe { port, session } = link else {
            return Err("not a PPPoE session".into());
        };
        let view = self.access.link(link).ok_or("the subscriber is gone")?;
        // A link number in the VR: the subscriber manager knows the session as (0, no).
        let start = self.next_link_no;
        let mut no = start;
        loop {
            no = no.wrapping_add(1).max(1);
            if !self.local_by_no.contains_key(&(vr, no)) {
                break;
            }
            if no == start {
                return Err("no free link number".into());
            }
        }
        self.next_link_no = no;
        let slot = self
            .link_slots
            .get(&link)
            .copied()
            .unwrap_or(SessionBinding::NO_COUNTERS);
        let key = link_table_key(link);
        let t = cx.tables();
        let _ = t.unbind_session(&key);
        t.bind_session(key, SessionBinding::pppoe(vr, slot, view.mac, view.vlan))
            .map_err(|e| e.to_string())?;
        self.local_links.insert(link, (vr, no));
        self.local_by_no.insert((vr, no), link);
        self.access.terminated_here(link, vr);
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        self.subs.session_up(
            cx.now,
            vr,
            SessionInfo {
                tunnel: 0,
                session: no,
                peer_tunnel: 0,
                peer_session: 0,
                peer: unspecified,
                local: Ipv4Addr::UNSPECIFIED,
                egress: None,
                counters: slot,
                calling_number,
                proxy: Some(proxy),
                pppoe: Some(PppoeLink {
                    port,
                    session,
                    mac: view.mac,
                    our_mac: view.our_mac,
                    vlan: view.vlan,
                }),
            },
        );
        Ok(())
    }

    /// The L2TP encapsulation from `vr` to the peer of a session (LNS or LAC).
    #[allow(clippy::too_many_arguments)]
    fn encap_to(
        &mut self,
        cx: &Ctx<'_>,
        vr: VrId,
        local: Ipv4Addr,
        peer: SocketAddr,
        (peer_tunnel, peer_session): (u16, u16),
        counters: u32,
    ) -> Result<NextHop, String> {
        let SocketAddr::V4(peer) = peer else {
            return Err("IPv6 L2TP peer".into());
        };
        let (port, vlan, via) = Self::egress(cx, vr, *peer.ip()).ok_or_else(|| {
            self.stats.relay_no_egress += 1;
            format!("no route to {} in vr {}", peer.ip(), vr.0)
        })?;
        Ok(NextHop::L2tp(L2tpEncap {
            port,
            vlan,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src_ip: local,
            dst_ip: *peer.ip(),
            via,
            counters,
            src_port: wire::l2tp::UDP_PORT,
            dst_port: peer.port(),
            peer_tunnel,
            peer_session,
        }))
    }

    /// A relayed call came up: the call's L2TP session relays to the subscriber's access
    /// link, and the access link (bound so far with its PPP control punted here) now relays
    /// to the call. The access link's counter slot counts the subscriber's traffic both ways.
    fn bind_relay(
        &mut self,
        cx: &mut Ctx<'_>,
        link: LinkKey,
        (vr, tunnel, session): (VrId, u16, u16),
        up: &super::driver::vr::SessionUp,
    ) -> Result<(), String> {
        let view = self.access.link(link).ok_or("the subscriber is gone")?;
        let access_key = link_table_key(link);
        let (slot, to_subscriber, access_binding) = match link {
            LinkKey::Pppoe { port, session: sid } => {
                let slot = self
                    .link_slots
                    .get(&link)
                    .copied()
                    .unwrap_or(SessionBinding::NO_COUNTERS);
                let nh = NextHop::Pppoe(PppoeEncap {
                    port,
                    vlan: view.vlan,
                    src_mac: [0; 6],
                    dst_mac: view.mac,
                    session: sid,
                    counters: slot,
                });
                (
                    slot,
                    nh,
                    SessionBinding::pppoe(view.vr, slot, view.mac, view.vlan),
                )
            }
            LinkKey::L2tp { vr: avr, .. } => {
                let leg = view.l2tp.as_ref().ok_or("not an L2TP link")?;
                let slot = cx
                    .writer()
                    .session(&access_key)
                    .map_or(SessionBinding::NO_COUNTERS, |b| b.counters);
                let nh = self.encap_to(
                    cx,
                    avr,
                    leg.local,
                    leg.peer,
                    (leg.peer_tunnel, leg.peer_session),
                    slot,
                )?;
                let mut b = SessionBinding::new(avr);
                b.counters = slot;
                (slot, nh, b)
            }
        };
        let _ = slot;
        let to_lns = self.encap_to(
            cx,
            vr,
            up.local,
            up.peer,
            (up.peer_tunnel, up.peer_session),
            SessionBinding::NO_COUNTERS,
        )?;
        let t = cx.tables();
        t.bind_session_relay(
            SessionKey::L2tp { tunnel, session },
            SessionBinding::new(vr),
            to_subscriber,
        )
        .map_err(|e| e.to_string())?;
        let _ = t.unbind_session(&access_key);
        t.bind_session_relay(access_key, access_binding, to_lns)
            .map_err(|e| e.to_string())?;
        self.access.call_up(link);
        Ok(())
    }

    fn pump_endpoints(&mut self, cx: &mut Ctx<'_>) {
        let mut packets = Vec::new();
        let mut changes = Vec::new();
        {
            let w = cx.writer();
            self.eps
                .drain(cx.now, &mut packets, &mut changes, |tunnel, session| {
                    w.session(&SessionKey::L2tp { tunnel, session }).is_none()
                });
        }
        for (vr, ip) in packets {
            cx.route(vr, ip);
        }
        let now = cx.now;
        for ch in changes {
            let r = match ch {
                TableChange::Bind {
                    vr,
                    tunnel,
                    session,
                    up,
                } if self.relays.contains_key(&(vr, tunnel, session)) => {
                    let link = self.relays[&(vr, tunnel, session)];
                    if let Err(e) = self.bind_relay(cx, link, (vr, tunnel, session), &up) {
                        tracing::warn!("vr {}: relay of call {tunnel}/{session}: {e}", vr.0);
                        let key = SessionKey::L2tp { tunnel, session };
                        if cx.writer().session(&key).is_some() {
                            let _ = cx.tables().unbind_session(&key);
                        }
                        self.eps.close_session(now, vr, tunnel, session);
                        self.relays.remove(&(vr, tunnel, session));
                        self.access.call_down(now, link, "no path to the ISP's LNS");
                    }
                    Ok(())
                }
                TableChange::Bind {
                    vr,
                    tunnel,
                    session,
                    up,
                } => {
                    let counters = cx.tables().alloc_session_counters().unwrap_or_else(|| {
                        self.stats.counters_exhausted += 1;
                        SessionBinding::NO_COUNTERS
                    });
                    // A session of a tunnel moved to another VR is routed there.
                    let moved = self.tunnel_routes.get(&(vr, tunnel)).cloned();
                    let r = cx.tables().bind_session(
                        SessionKey::L2tp { tunnel, session },
                        SessionBinding {
                            counters,
                            vr: moved.as_ref().map_or(vr, |m| m.0),
                            ..SessionBinding::new(vr)
                        },
                    );
                    if r.is_ok() && up.role == Role::Lns && self.access.relays(vr) {
                        let up = *up;
                        self.access.l2tp_session_up(
                            now,
                            vr,
                            tunnel,
                            session,
                            L2tpLeg {
                                peer: up.peer,
                                local: up.local,
                                peer_tunnel: up.peer_tunnel,
                                peer_session: up.peer_session,
                                calling_number: up.calling_number,
                                proxy: up.proxy,
                            },
                        );
                    } else if r.is_ok() && up.role == Role::Lns && self.subs.serves(vr) {
                        let egress = match up.peer {
                            SocketAddr::V4(p) => Self::egress(cx, vr, *p.ip()),
                            SocketAddr::V6(_) => None,
                        };
                        let up = *up;
                        self.subs.session_up(
                            now,
                            vr,
                            SessionInfo {
                                tunnel,
                                session,
                                peer_tunnel: up.peer_tunnel,
                                peer_session: up.peer_session,
                                peer: up.peer,
                                local: up.local,
                                egress,
                                counters,
                                calling_number: up.calling_number,
                                proxy: up.proxy,
                                pppoe: None,
                            },
                        );
                        if let Some((to, name)) = moved {
                            let w = cx.writer();
                            self.subs
                                .move_routes(now, vr, (tunnel, session), to, &name, &|slot| {
                                    w.session_traffic(slot)
                                });
                        }
                    }
                    r
                }
                TableChange::Unbind { tunnel, session } => {
                    let key = SessionKey::L2tp { tunnel, session };
                    // A session of a VR that was removed went with its VR.
                    let Some(b) = cx.writer().session(&key).copied() else {
                        continue;
                    };
                    // The subscriber (or relay) runs in the tunnel's VR, also when the
                    // session was moved to route in another one.
                    let owner = b.tunnel_vr;
                    {
                        let w = cx.writer();
                        self.subs
                            .session_down(now, owner, tunnel, session, &|slot| {
                                w.session_traffic(slot)
                            });
                    }
                    self.access.l2tp_session_down(now, owner, tunnel, session);
                    if b.counters != SessionBinding::NO_COUNTERS {
                        cx.tables().free_session_counters(b.counters);
                    }
                    cx.tables().unbind_session(&key).map(|_| ())
                }
                TableChange::CallEnded {
                    vr,
                    tunnel,
                    session,
                } => {
                    if let Some(link) = self.relays.remove(&(vr, tunnel, session)) {
                        self.access
                            .call_down(now, link, "the ISP's LNS ended the call");
                    }
                    Ok(())
                }
            };
            if let Err(e) = r {
                self.stats.table_errors += 1;
                tracing::error!("l2tp session binding: {e}");
            }
        }
        self.prune_tunnel_routes();
        while let Some((vr, t, at)) = self.eps.poll_timer_update() {
            match at {
                Some(at) => cx.timer_at(token(vr, t), at),
                None => cx.timer_cancel(token(vr, t)),
            }
        }
    }
}

/// True when two endpoint settings differ at most in the role.
fn same_but_role(a: &EndpointConfig, b: &EndpointConfig) -> bool {
    let mut a2 = a.clone();
    a2.engine.role = b.engine.role;
    a2 == *b
}

impl Service for L2tpService {
    fn name(&self) -> &'static str {
        "l2tp"
    }

    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest::Punt(Punt::L2tpControl),
            Interest::Punt(Punt::PppControl),
            Interest::Punt(Punt::PppoeDiscovery),
            Interest::Punt(Punt::PppoeControl),
        ]
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        if let Some(cfgs) = self.pending_subs.take() {
            self.configure_subscribers(cx, cfgs);
        }
        if let Some(cfgs) = self.pending_access.take() {
            self.configure_access(cx, cfgs);
        }
        // LAC endpoints have sent their SCCRQs.
        self.pump(cx);
    }

    fn stop(&mut self, cx: &mut Ctx<'_>) {
        // Accounting Stop (NAS-Request) for every subscriber; best effort, not retried.
        let now = cx.now;
        {
            let w = cx.writer();
            self.subs.shutdown(now, &|slot| w.session_traffic(slot));
        }
        self.apply_subscribers(cx);
    }

    fn on_datagram(&mut self, cx: &mut Ctx<'_>, sock: SocketId, from: SocketAddr, data: &[u8]) {
        let now = cx.now;
        if let Some(SockUse::RelayRadius(vr, n)) = self.sockets.get(&sock) {
            self.access.radius_datagram(now, *vr, *n, from, data);
            self.pump(cx);
            return;
        }
        {
            let w = cx.writer();
            let traffic = |slot| w.session_traffic(slot);
            match self.sockets.get(&sock) {
                Some(SockUse::Radius(vr, n)) => self
                    .subs
                    .radius_datagram(now, *vr, *n, from, data, &traffic),
                Some(SockUse::Dae(vr)) => self.subs.dae_datagram(now, *vr, from, data, &traffic),
                Some(SockUse::RelayRadius(..)) | None => return,
            }
        }
        self.pump(cx);
    }

    fn on_punt(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        match p.reason() {
            Punt::PppControl => return self.on_ppp(cx, p),
            Punt::PppoeDiscovery | Punt::PppoeControl => return self.on_pppoe(cx, p),
            _ => {}
        }
        match (p.vr(), p.ip()) {
            (Some(vr), Some(ip)) => self.eps.handle_packet(cx.now, vr, ip),
            _ => self.stats.malformed += 1,
        }
        self.pump(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, tok: u64) {
        if tok & (SUB_BIT | ACCESS_BIT) == ACCESS_BIT {
            if tok & RADIUS_BIT != 0 {
                self.access.handle_radius_timer(cx.now, VrId(tok as u32));
            } else {
                self.access.handle_timer(cx.now, access_untoken(tok));
            }
            self.pump(cx);
            return;
        }
        if tok & SUB_BIT != 0 {
            let now = cx.now;
            {
                let w = cx.writer();
                self.subs
                    .handle_timer(now, sub_untoken(tok), &|slot| w.session_traffic(slot));
            }
            self.pump(cx);
            return;
        }
        let (vr, t) = untoken(tok);
        self.eps.handle_timer(cx.now, vr, t);
        self.pump(cx);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let l = &self.eps;
        if l.is_empty() && !self.access.is_active() {
            return Vec::new();
        }
        let mut subs = Vec::new();
        if !self.vr_sockets.is_empty() || self.subs.stats().sessions_started > 0 {
            let st = self.subs.stats();
            let p = self.subs.ppp_counters();
            let r = self.subs.radius_counters();
            let d = self.subs.dae_counters();
            let (pool, v4_used, v6_used) = self.subs.pool_stats();
            subs = vec![
                ("ppp_sessions_now", self.subs.count() as u64),
                ("subscribers_up_now", self.subs.count_up() as u64),
                ("subscriber_addresses_now", v4_used as u64),
                ("subscriber_prefixes_now", v6_used as u64),
                ("ppp_sessions_started", st.sessions_started),
                ("ppp_sessions_up", st.sessions_up),
                ("ppp_sessions_ended", st.sessions_ended),
                ("ppp_auth_accepts", st.auth_accepts),
                ("ppp_auth_rejects", st.auth_rejects),
                ("ppp_rx_frames", p.rx_frames),
                ("ppp_tx_frames", p.tx_frames),
                (
                    "ppp_rx_malformed",
                    p.rx_malformed + self.stats.ppp_malformed,
                ),
                ("ppp_rx_unknown_protocol", p.rx_unknown_protocol),
                ("ppp_echo_timeouts", p.lcp_echo_timeouts),
                ("ppp_chap_bad_identifier", p.chap_bad_identifier),
                ("ppp_configure_loops", p.configure_loops),
                ("ppp_proxy_lcp_accepted", p.proxy_lcp_accepted),
                ("ppp_frames_unknown_session", st.frames_unknown_session),
                ("subscriber_no_address", st.no_address),
                ("subscriber_no_egress", st.no_egress),
                ("subscriber_session_timeouts", st.session_timeouts),
                ("subscriber_idle_timeouts", st.idle_timeouts),
                ("pool_allocations", pool.allocated),
                ("pool_exhausted", pool.exhausted),
                ("pool_conflicts", pool.conflicts),
                ("radius_access_requests", r.access_requests),
                ("radius_accepts", r.accepts),
                ("radius_rejects", r.rejects + r.challenges),
                ("radius_timeouts", st.radius_timeouts),
                ("radius_retransmits", r.retransmits),
                ("radius_failovers", r.failovers),
                ("radius_request_errors", st.radius_errors),
                ("radius_acct_requests", r.acct_requests),
                ("radius_acct_responses", r.acct_responses),
                ("radius_acct_failures", st.acct_failures),
                (
                    "radius_drop_bad_authenticator",
                    r.drop_bad_authenticator + r.drop_bad_message_authenticator,
                ),
                (
                    "radius_drop_missing_message_authenticator",
                    r.drop_missing_message_authenticator,
                ),
                (
                    "radius_drop_other",
                    r.drop_malformed
                        + r.drop_unknown_id
                        + r.drop_unknown_source
                        + r.drop_unexpected_code,
                ),
                ("dae_disconnects", st.dae_disconnects),
                ("dae_coa", st.dae_coa),
                ("dae_naks", st.dae_naks),
                ("dae_requests", d.disconnect_requests + d.coa_requests),
                (
                    "dae_drops",
                    d.drop_unknown_client
                        + d.drop_unexpected_code
                        + d.drop_malformed
                        + d.drop_bad_authenticator
                        + d.drop_missing_message_authenticator,
                ),
                ("subscriber_socket_errors", self.stats.socket_errors),
                ("subscriber_route_errors", self.stats.route_errors),
                ("sessions_moved", self.stats.moves),
                ("session_counters_exhausted", self.stats.counters_exhausted),
            ];
        }
        let mut access = Vec::new();
        if self.access.is_active() {
            let d = self.access.discovery().counters();
            let a = self.access.stats;
            access = vec![
                ("pppoe_sessions_now", self.access.count() as u64),
                ("pppoe_relays_now", self.relays.len() as u64),
                ("pppoe_rx_padi", d.rx_padi),
                ("pppoe_rx_padr", d.rx_padr),
                ("pppoe_rx_padt", d.rx_padt),
                ("pppoe_tx_pado", d.tx_pado),
                ("pppoe_tx_pads", d.tx_pads),
                ("pppoe_tx_pads_errors", d.tx_pads_errors),
                ("pppoe_tx_padt", d.tx_padt),
                ("pppoe_padr_retransmits", d.padr_retransmits),
                ("pppoe_malformed", d.malformed + self.stats.pppoe_malformed),
                ("pppoe_unexpected_code", d.unexpected_code),
                ("pppoe_no_interface", d.no_interface),
                (
                    "pppoe_bad_discovery",
                    d.bad_destination
                        + d.bad_session_id
                        + d.bad_source_mac
                        + d.bad_service_name_tags,
                ),
                ("pppoe_service_name_refused", d.service_name_refused),
                ("pppoe_cookie_invalid", d.cookie_invalid),
                ("pppoe_rate_limited", d.rate_limited),
                (
                    "pppoe_refused_limits",
                    d.padi_full + d.limit_interface + d.limit_mac + d.limit_port,
                ),
                ("pppoe_padt_unknown", d.padt_unknown),
                ("access_realm_unknown", a.realm_unknown),
                ("access_auth_not_proxyable", a.auth_not_proxyable),
                ("access_calls_placed", a.calls_placed),
                ("access_calls_up", a.calls_up),
                ("access_terminated_here", a.terminated_here),
                ("access_calls_failed", a.calls_failed),
                ("access_call_timeouts", a.call_timeouts),
                ("access_ended_by_subscriber", a.ended_by_subscriber),
                ("access_ended_by_lns", a.ended_by_lns),
                ("access_relay_no_egress", self.stats.relay_no_egress),
                ("access_ppp_unknown_session", a.ppp_unknown_session),
            ];
            if !self.relay_sockets.is_empty() || a.radius_requests > 0 {
                let r = self.access.radius_counters();
                access.extend([
                    ("access_radius_requests", a.radius_requests),
                    ("access_radius_accepts", a.radius_accepts),
                    ("access_radius_rejects", a.radius_rejects),
                    ("access_radius_timeouts", a.radius_timeouts),
                    ("access_radius_errors", a.radius_errors),
                    ("access_radius_tunnel_invalid", r.accept_tunnel_invalid),
                    ("access_radius_tunnel_unusable", a.radius_tunnel_unusable),
                    ("access_radius_tunnel_skipped", a.radius_tunnel_skipped),
                    (
                        "access_radius_tunnel_secret_mismatch",
                        a.radius_tunnel_secret_mismatch,
                    ),
                    ("access_radius_tunnel_calls", a.radius_tunnel_calls),
                    ("access_radius_tunnel_fallbacks", a.radius_tunnel_fallbacks),
                    ("access_radius_retransmits", r.retransmits),
                    ("access_radius_failovers", r.failovers),
                    (
                        "access_radius_drops",
                        r.drop_malformed
                            + r.drop_unknown_id
                            + r.drop_unknown_source
                            + r.drop_unexpected_code
                            + r.drop_bad_authenticator
                            + r.drop_missing_message_authenticator
                            + r.drop_bad_message_authenticator,
                    ),
                ]);
            }
        }
        let e = |f: fn(&super::engine::Counters) -> u64| l.engine_counter(f);
        let (tunnels, sessions) = l
            .occupancy()
            .iter()
            .fold((0, 0), |(t, s), o| (t + o.1 as u64, s + o.2 as u64));
        vec![
            ("l2tp_tunnels_now", tunnels),
            ("l2tp_sessions_now", sessions),
            ("l2tp_tunnels_established", e(|c| c.tunnels_established)),
            ("l2tp_sessions_established", e(|c| c.sessions_established)),
            ("l2tp_tunnel_auth_failures", e(|c| c.tunnel_auth_failures)),
            ("l2tp_tunnels_timed_out", e(|c| c.tunnels_timed_out)),
            ("l2tp_rx_control_messages", e(|c| c.rx_control_messages)),
            ("l2tp_tx_messages", e(|c| c.tx_messages)),
            ("l2tp_tx_retransmits", e(|c| c.tx_retransmits)),
            ("l2tp_tx_hello", e(|c| c.tx_hello)),
            (
                "l2tp_malformed_avp",
                e(|c| {
                    c.malformed_avp_too_short
                        + c.malformed_avp_overrun
                        + c.malformed_avp_length
                        + c.malformed_avp_value
                }),
            ),
            (
                "l2tp_refused_limits",
                e(|c| {
                    c.refused_max_tunnels
                        + c.refused_max_half_open
                        + c.refused_max_half_open_per_source
                        + c.refused_max_sessions_per_tunnel
                        + c.refused_max_sessions
                }),
            ),
            ("l2tp_not_configured", l.stats.rx_not_configured),
            ("l2tp_peer_not_allowed", l.stats.rx_peer_not_allowed),
            (
                "l2tp_malformed_packets",
                l.stats.rx_malformed + self.stats.malformed,
            ),
            ("l2tp_id_collisions", l.stats.id_collisions),
            ("l2tp_role_switches", l.stats.role_switches),
            ("l2tp_refused_draining", l.stats.refused_draining),
            ("l2tp_table_errors", self.stats.table_errors),
            // PPP frames of sessions in VRs without PPP termination (a LAC-only or
            // tunnel-only VR): counted whether or not any VR terminates PPP.
            ("ppp_not_terminated", self.stats.ppp_not_terminated),
        ]
        .into_iter()
        .chain(subs)
        .chain(access)
        .collect()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_radius_timer_tokens_are_apart_from_every_other_token() {
        for vr in [0, 1, 77, vr::MAX_VR_ID] {
            let t = access_radius_token(VrId(vr));
            // Routed to the access manager, as a RADIUS timer, of that VR.
            assert_eq!(t & (SUB_BIT | ACCESS_BIT), ACCESS_BIT);
            assert_ne!(t & RADIUS_BIT, 0);
            assert_eq!(VrId(t as u32), VrId(vr));
            for link in [
                LinkKey::Pppoe {
                    port: PortId(u16::MAX),
                    session: u16::MAX,
                },
                LinkKey::L2tp {
                    vr: VrId(vr),
                    tunnel: u16::MAX,
                    session: u16::MAX,
                },
            ] {
                assert_eq!(access_token(link) & RADIUS_BIT, 0);
                assert_eq!(access_untoken(access_token(link)), link);
            }
        }
    }

    #[test]
    fn timer_tokens_round_trip() {
        for vr in [0, 1, 77, vr::MAX_VR_ID] {
            for t in [
                EndpointTimer::Tunnel(0),
                EndpointTimer::Tunnel(65535),
                EndpointTimer::Drain,
            ] {
                assert_eq!(untoken(token(VrId(vr), t)), (VrId(vr), t));
            }
        }
    }
}
