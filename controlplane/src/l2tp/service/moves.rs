//! Moving an L2TP tunnel or a PPP(oE) session to another VR while it stays up (seed 002
//! claims 7–8: the interface table maps tunnels and sessions to VRs; issue 11: management
//! changes that mapping).
//!
//! A move changes the VR a session's subscriber traffic is **routed** in — nothing else:
//!
//! - the session's binding in the session table names the new VR (one publish: the
//!   workers route its decapsulated IP there from the next version on); an L2TP session's
//!   tunnel stays in its VR ([`vr::SessionBinding::tunnel_vr`]), its L2TP packets keep
//!   arriving there;
//! - the subscriber's routes (its address, its IPv6 prefix, with the same encapsulation
//!   into the session) leave the VR they were in and enter the new one, in the same
//!   version;
//! - PPP, the address lease, the RADIUS context and the Acct-Session-Id stay with the VR
//!   the session started in (its *owner*): the session goes on without renegotiation,
//!   its traffic counters go on, an accounting Interim-Update names the new VR
//!   ([`crate::subscriber::manager::Subscribers::move_routes`]).
//!
//! Moving a tunnel moves every session of it that is routed in the VR it is moved from,
//! and the sessions that come up on it later are routed in the new VR too, until the
//! tunnel ends (or is moved again; moving it back to its own VR ends the redirection).
//!
//! What is checked here: that the session (tunnel) exists and is routed in the VR it is
//! moved from, and that it is not relayed (a relayed session's frames are routed in no VR).
//! Whether its addresses are free in the new VR is the caller's to check (it knows the
//! VR's interfaces; the routes are in [`MovePlan::sessions`]) before [`L2tpService::apply_move`].

use std::collections::HashMap;

use controlcore::Ctx;
use vr::{IpPrefix, PortId, SessionKey, StateWriter, VrId};

use super::L2tpService;
use crate::access::manager::LinkKey;

/// A session as a move names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MovedSession {
    /// An L2TP session, by our tunnel and session ids.
    L2tp {
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// A PPPoE session terminated here, by access port and PPPoE session id.
    Pppoe {
        /// The access port.
        port: PortId,
        /// The PPPoE session id.
        session: u16,
    },
}

/// Why a move cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// No such session routed in the VR.
    #[error("no session {0} in this VR")]
    NoSession(String),
    /// No such tunnel in the VR.
    #[error("no tunnel {0} in this VR")]
    NoTunnel(u16),
    /// The session is relayed to another session (LAC, tunnel switching).
    #[error("{0} is relayed on to another session (LAC, tunnel switching): it is routed in no VR and cannot move")]
    Relayed(String),
    /// A PPPoE session not terminated in a VR of this appliance (not yet placed).
    #[error("PPPoE session {0} is not terminated here (not yet authenticated, or relayed)")]
    NotTerminated(String),
    /// The tables refused (a bug: the plan was checked).
    #[error("the tables refused the move: {0}")]
    Table(String),
}

/// One session a move takes along.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSession {
    /// Its session-table key.
    pub key: SessionKey,
    /// The VR whose subscriber manager runs its PPP (and owns its address and accounting).
    pub owner: VrId,
    /// The subscriber manager's key for it in `owner`: (tunnel, session), or (0, link
    /// number) for a PPPoE session.
    pub link: (u16, u16),
    /// The routes its subscriber has installed (they move with it).
    pub routes: Vec<IpPrefix>,
}

/// What a move changes (from [`L2tpService::plan_session_move`] or
/// [`L2tpService::plan_tunnel_move`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovePlan {
    /// The VR its sessions are routed in now.
    pub from: VrId,
    /// The sessions.
    pub sessions: Vec<PlannedSession>,
    /// A tunnel move: the tunnel's own VR (its endpoint) and id.
    pub tunnel: Option<(VrId, u16)>,
}

/// Tunnels whose sessions are routed in another VR than the tunnel's: (the tunnel's VR,
/// tunnel id) → (the VR, its name for accounting).
pub(super) type TunnelRoutes = HashMap<(VrId, u16), (VrId, String)>;

impl L2tpService {
    /// The VR tunnel `tunnel` of endpoint `ep` routes its sessions in now.
    pub fn tunnel_routed_in(&self, ep: VrId, tunnel: u16) -> VrId {
        self.tunnel_routes.get(&(ep, tunnel)).map_or(ep, |r| r.0)
    }

    /// The tunnels routed in `vr` that belong to another VR's endpoint: (endpoint VR,
    /// tunnel id).
    pub fn tunnels_moved_into(&self, vr: VrId) -> Vec<(VrId, u16)> {
        let mut v: Vec<(VrId, u16)> = self
            .tunnel_routes
            .iter()
            .filter(|(_, r)| r.0 == vr)
            .map(|(k, _)| *k)
            .collect();
        v.sort_unstable();
        v
    }

    /// Checks a move of session `s`, routed in `from` now, and says what it takes along.
    pub fn plan_session_move(
        &self,
        w: &StateWriter,
        from: VrId,
        s: MovedSession,
    ) -> Result<MovePlan, MoveError> {
        Ok(MovePlan {
            from,
            sessions: vec![self.plan_one(w, from, s)?],
            tunnel: None,
        })
    }

    /// Checks a move of tunnel `tunnel` whose sessions are routed in `from` now (its own
    /// VR's tunnel, or one moved into `from`) and says which sessions it takes along.
    pub fn plan_tunnel_move(
        &self,
        w: &StateWriter,
        from: VrId,
        tunnel: u16,
    ) -> Result<MovePlan, MoveError> {
        let ep = if self.eps.tunnel_peer(from, tunnel).is_some()
            && self.tunnel_routed_in(from, tunnel) == from
        {
            from
        } else {
            self.tunnel_routes
                .iter()
                .find(|((_, t), r)| *t == tunnel && r.0 == from)
                .map(|((ep, _), _)| *ep)
                .filter(|ep| self.eps.tunnel_peer(*ep, tunnel).is_some())
                .ok_or(MoveError::NoTunnel(tunnel))?
        };
        if self.access.relays(ep) {
            // Its sessions are relayed on (tunnel switching): routed in no VR.
            return Err(MoveError::Relayed(format!("tunnel {tunnel}")));
        }
        let t = self
            .eps
            .tunnels(ep)
            .into_iter()
            .find(|t| t.id == tunnel)
            .ok_or(MoveError::NoTunnel(tunnel))?;
        let mut sessions = Vec::new();
        for (sid, _) in t.sessions {
            let key = SessionKey::L2tp {
                tunnel,
                session: sid,
            };
            // Sessions not up yet (no binding) follow the tunnel when they come up;
            // sessions moved on their own to another VR stay there.
            match w.session(&key) {
                Some(b) if b.vr == from && b.tunnel_vr == ep => {}
                _ => continue,
            }
            sessions.push(self.plan_one(
                w,
                from,
                MovedSession::L2tp {
                    tunnel,
                    session: sid,
                },
            )?);
        }
        Ok(MovePlan {
            from,
            sessions,
            tunnel: Some((ep, tunnel)),
        })
    }

    fn plan_one(
        &self,
        w: &StateWriter,
        from: VrId,
        s: MovedSession,
    ) -> Result<PlannedSession, MoveError> {
        let (key, name) = match s {
            MovedSession::L2tp { tunnel, session } => (
                SessionKey::L2tp { tunnel, session },
                format!("l2tp-{tunnel}-{session}"),
            ),
            MovedSession::Pppoe { port, session } => (
                SessionKey::Pppoe { port, session },
                format!("pppoe-{}-{session}", port.0),
            ),
        };
        let b = w
            .session(&key)
            .filter(|b| b.vr == from)
            .ok_or_else(|| MoveError::NoSession(name.clone()))?;
        if b.relay.is_some() {
            return Err(MoveError::Relayed(format!("session {name}")));
        }
        let (owner, link) = match s {
            MovedSession::L2tp { tunnel, session } => (b.tunnel_vr, (tunnel, session)),
            MovedSession::Pppoe { port, session } => {
                let link = LinkKey::Pppoe { port, session };
                let (owner, no) = self
                    .local_links
                    .get(&link)
                    .copied()
                    .ok_or_else(|| MoveError::NotTerminated(name.clone()))?;
                (owner, (0, no))
            }
        };
        let routes = self
            .subs
            .routes_of(owner, link.0, link.1)
            .map(|(_, r)| r)
            .unwrap_or_default();
        Ok(PlannedSession {
            key,
            owner,
            link,
            routes,
        })
    }

    /// Carries out a checked plan: every session's binding and its subscriber's routes
    /// go to `to` (named `to_name`) in the writer — published together by the caller —
    /// and a tunnel's later sessions follow. An error (a bug: the plan was checked on the
    /// same writer) leaves the sessions moved before it moved.
    pub fn apply_move(
        &mut self,
        cx: &mut Ctx<'_>,
        plan: &MovePlan,
        to: VrId,
        to_name: &str,
    ) -> Result<(), MoveError> {
        if let Some((ep, tunnel)) = plan.tunnel {
            if to == ep {
                self.tunnel_routes.remove(&(ep, tunnel));
            } else {
                self.tunnel_routes
                    .insert((ep, tunnel), (to, to_name.to_string()));
            }
        }
        let now = cx.now;
        for s in &plan.sessions {
            cx.tables()
                .move_session(&s.key, to)
                .map_err(|e| MoveError::Table(e.to_string()))?;
            let w = cx.writer();
            self.subs
                .move_routes(now, s.owner, s.link, to, to_name, &|slot| {
                    w.session_traffic(slot)
                });
            self.stats.moves += 1;
        }
        self.pump(cx);
        Ok(())
    }

    /// VRs `gone` are about to be removed (a reload): every session moved into one of them
    /// goes back to the VR it came from (its tunnel's, whose subscriber it is; named by
    /// `name_of` for accounting) with its routes, and tunnels moved into them route their
    /// sessions at home again. Returns how many sessions went back.
    pub fn return_from(
        &mut self,
        cx: &mut Ctx<'_>,
        gone: &[VrId],
        name_of: impl Fn(VrId) -> String,
    ) -> usize {
        self.tunnel_routes.retain(|_, r| !gone.contains(&r.0));
        let back: Vec<(SessionKey, VrId)> = cx
            .writer()
            .sessions()
            .filter(|(_, b)| {
                b.vr != b.tunnel_vr
                    && b.relay.is_none()
                    && gone.contains(&b.vr)
                    && !gone.contains(&b.tunnel_vr)
            })
            .map(|(k, b)| (*k, b.tunnel_vr))
            .collect();
        let now = cx.now;
        let mut n = 0;
        for (key, home) in back {
            let link = match key {
                SessionKey::L2tp { tunnel, session } => Some((tunnel, session)),
                SessionKey::Pppoe { port, session } => self
                    .local_links
                    .get(&LinkKey::Pppoe { port, session })
                    .map(|&(_, no)| (0, no)),
            };
            if let Err(e) = cx.tables().move_session(&key, home) {
                self.stats.table_errors += 1;
                tracing::error!("{key}: back to {home} before its VR goes: {e}");
                continue;
            }
            if let Some(link) = link {
                let name = name_of(home);
                let w = cx.writer();
                self.subs
                    .move_routes(now, home, link, home, &name, &|slot| {
                        w.session_traffic(slot)
                    });
            }
            n += 1;
        }
        self.pump(cx);
        n
    }

    /// Forgets the redirection of tunnels that ended (their ids may come back for other
    /// tunnels).
    pub(super) fn prune_tunnel_routes(&mut self) {
        if self.tunnel_routes.is_empty() {
            return;
        }
        let eps = &self.eps;
        self.tunnel_routes
            .retain(|(ep, t), _| eps.tunnel_peer(*ep, *t).is_some());
    }
}
