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
//! endpoints.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use controlcore::{Ctx, Interest, Punt, PuntView, Service, SocketId};
use rand::rngs::StdRng;
use vr::{NextHop, PortId, RouteSource, SessionBinding, SessionKey, StateWriter, VrId};
use wire::l2tp::L2tpPacket;
use wire::UdpPacket;

use super::driver::vr::{EndpointConfig, EndpointTimer, TableChange, VrEndpoints};
use super::engine::Role;
use crate::subscriber::config::SubscriberConfig;
use crate::subscriber::manager::{
    radius_source_ports, Output, SessionInfo, SubscriberView, Subscribers, TimerKey,
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
            let mut socks = Vec::new();
            for n in 0..radius_source_ports(c) {
                match cx.udp_open(SocketAddr::new(r.source, 0)) {
                    Ok(s) => {
                        self.sockets.insert(s, SockUse::Radius(vr, n));
                        socks.push(s);
                    }
                    Err(e) => {
                        self.stats.socket_errors += 1;
                        tracing::error!("vr {}: RADIUS client socket: {e}", vr.0);
                    }
                }
            }
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
        if !self.subs.serves(vr) {
            self.stats.ppp_not_terminated += 1;
            return;
        }
        let (tunnel, session) = (h.tunnel_id(), h.session_id());
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
            if !self.apply_subscribers(cx) {
                break;
            }
        }
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
                } => {
                    let counters = cx.tables().alloc_session_counters().unwrap_or_else(|| {
                        self.stats.counters_exhausted += 1;
                        SessionBinding::NO_COUNTERS
                    });
                    let r = cx.tables().bind_session(
                        SessionKey::L2tp { tunnel, session },
                        SessionBinding {
                            counters,
                            ..SessionBinding::new(vr)
                        },
                    );
                    if r.is_ok() && up.role == Role::Lns && self.subs.serves(vr) {
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
                            },
                        );
                    }
                    r
                }
                TableChange::Unbind { tunnel, session } => {
                    let key = SessionKey::L2tp { tunnel, session };
                    // A session of a VR that was removed went with its VR.
                    let Some(b) = cx.writer().session(&key).copied() else {
                        continue;
                    };
                    {
                        let w = cx.writer();
                        self.subs.session_down(now, b.vr, tunnel, session, &|slot| {
                            w.session_traffic(slot)
                        });
                    }
                    if b.counters != SessionBinding::NO_COUNTERS {
                        cx.tables().free_session_counters(b.counters);
                    }
                    cx.tables().unbind_session(&key).map(|_| ())
                }
            };
            if let Err(e) = r {
                self.stats.table_errors += 1;
                tracing::error!("l2tp session binding: {e}");
            }
        }
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
        ]
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        if let Some(cfgs) = self.pending_subs.take() {
            self.configure_subscribers(cx, cfgs);
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
        {
            let w = cx.writer();
            let traffic = |slot| w.session_traffic(slot);
            match self.sockets.get(&sock) {
                Some(SockUse::Radius(vr, n)) => self
                    .subs
                    .radius_datagram(now, *vr, *n, from, data, &traffic),
                Some(SockUse::Dae(vr)) => self.subs.dae_datagram(now, *vr, from, data, &traffic),
                None => return,
            }
        }
        self.pump(cx);
    }

    fn on_punt(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        if p.reason() == Punt::PppControl {
            self.on_ppp(cx, p);
            return;
        }
        match (p.vr(), p.ip()) {
            (Some(vr), Some(ip)) => self.eps.handle_packet(cx.now, vr, ip),
            _ => self.stats.malformed += 1,
        }
        self.pump(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, tok: u64) {
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
        if l.is_empty() {
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
                ("session_counters_exhausted", self.stats.counters_exhausted),
            ];
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
