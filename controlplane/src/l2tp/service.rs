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
use std::time::Instant;

use controlcore::{Ctx, Interest, Punt, PuntView, Service};
use rand::rngs::StdRng;
use vr::{SessionBinding, SessionKey, VrId};

use super::driver::vr::{EndpointConfig, EndpointTimer, TableChange, VrEndpoints};
use super::engine::Role;

const DRAIN_BIT: u64 = 1 << 16;

fn token(vr: VrId, t: EndpointTimer) -> u64 {
    let low = match t {
        EndpointTimer::Tunnel(id) => u64::from(id),
        EndpointTimer::Drain => DRAIN_BIT,
    };
    u64::from(vr.0) << 17 | low
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
}

/// The L2TP service (see the module docs).
pub struct L2tpService {
    eps: VrEndpoints,
    /// Counters.
    pub stats: L2tpServiceStats,
}

impl L2tpService {
    /// The endpoints of `cfgs`, engines seeded from the operating system.
    pub fn new(cfgs: Vec<EndpointConfig>, now: Instant) -> Self {
        L2tpService {
            eps: VrEndpoints::with_os_rng(cfgs, now),
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
            stats: L2tpServiceStats::default(),
        }
    }

    /// The per-VR endpoints (status, counters).
    pub fn endpoints(&self) -> &VrEndpoints {
        &self.eps
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

    /// Sends what the engines produced, applies their session bindings, follows their
    /// timers.
    fn pump(&mut self, cx: &mut Ctx<'_>) {
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
        for ch in changes {
            let r = match ch {
                TableChange::Bind {
                    vr,
                    tunnel,
                    session,
                } => cx.tables().bind_session(
                    SessionKey::L2tp { tunnel, session },
                    SessionBinding::new(vr),
                ),
                TableChange::Unbind { tunnel, session } => {
                    let key = SessionKey::L2tp { tunnel, session };
                    // A session of a VR that was removed went with its VR.
                    if cx.writer().session(&key).is_none() {
                        continue;
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
        vec![Interest::Punt(Punt::L2tpControl)]
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        // LAC endpoints have sent their SCCRQs.
        self.pump(cx);
    }

    fn on_punt(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        match (p.vr(), p.ip()) {
            (Some(vr), Some(ip)) => self.eps.handle_packet(cx.now, vr, ip),
            _ => self.stats.malformed += 1,
        }
        self.pump(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, tok: u64) {
        let (vr, t) = untoken(tok);
        self.eps.handle_timer(cx.now, vr, t);
        self.pump(cx);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let l = &self.eps;
        if l.is_empty() {
            return Vec::new();
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
        ]
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
