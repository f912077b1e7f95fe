//! Moving sessions and tunnels between VRs (`move_session`, `move_tunnel`): the control
//! thread's side. [`super::ops`] has checked that the caller sees both VRs; here each
//! move is planned on the L2TP service
//! ([`controlplane::l2tp::service::moves`]), the subscriber's addresses are checked against
//! the VR they go to, and only when every move of the transaction checks are they carried
//! out — on the writer, published with the rest of the transaction (docs/api.md, "Moving
//! sessions and tunnels").

use std::collections::BTreeSet;
use std::time::Instant;

use controlcore::Core;
use controlplane::l2tp::service::moves::{MoveError, MovePlan, MovedSession};
use controlplane::l2tp::service::L2tpService;
use dataplane::buffer::PacketBuf;
use vr::{IpPrefix, PortId, RouteSource, StateWriter, VrId};

use super::ops::Change;
use super::ApiError;
use crate::config::Config;

/// One checked move: change index, plan, destination VR and its name.
pub struct Planned {
    /// Index of the change in the transaction.
    pub index: usize,
    /// What it moves.
    pub plan: MovePlan,
    /// The VR it goes to.
    pub to: VrId,
    /// Its name.
    pub to_name: String,
}

/// Parses a session id as the listings give it: `l2tp-T-S` or `pppoe-PORT-S`.
pub fn parse_session(id: &str) -> Option<MovedSession> {
    let parse = |p: &str| -> Option<(u16, u16)> {
        let (a, b) = id.strip_prefix(p)?.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    if let Some((tunnel, session)) = parse("l2tp-") {
        Some(MovedSession::L2tp { tunnel, session })
    } else {
        parse("pppoe-").map(|(port, session)| MovedSession::Pppoe {
            port: PortId(port),
            session,
        })
    }
}

fn vr_of(running: &Config, name: &str) -> Option<VrId> {
    running
        .vrs
        .iter()
        .find(|v| v.name == name)
        .map(|v| VrId(v.id))
}

/// Checks the moves among `changes` (the rest of the transaction already applied to the
/// writer) in order, each seeing the addresses the ones before it claimed: the plans, or
/// the first refusal (pointing at its change).
pub fn plan<B: PacketBuf>(
    core: &Core<B>,
    running: &Config,
    changes: &[Change],
) -> Result<Vec<Planned>, ApiError> {
    let moves: Vec<(usize, &Change)> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_move())
        .collect();
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    let Some(svc) = core.service::<L2tpService>() else {
        let (i, c) = moves[0];
        return Err(
            ApiError::not_found("the appliance runs no L2TP or PPPoE sessions").at(at(i, c)),
        );
    };
    let w = core.writer();
    // Addresses claimed in a VR by earlier moves of this transaction.
    let mut claimed: BTreeSet<(VrId, IpPrefix)> = BTreeSet::new();
    let mut out = Vec::with_capacity(moves.len());
    for (i, c) in moves {
        let (vr, to) = match c {
            Change::MoveSession { vr, to, .. } | Change::MoveTunnel { vr, to, .. } => (vr, to),
            _ => unreachable!("filtered to moves"),
        };
        // Both names were found in the caller's scope by `ops::apply`; the running
        // configuration knows them (the transaction's other changes are applied).
        let (Some(from), Some(to_id)) = (vr_of(running, vr), vr_of(running, to)) else {
            return Err(ApiError::not_found("the VR is gone").at(format!("/changes/{i}/to")));
        };
        let plan = match c {
            Change::MoveSession { session, .. } => {
                let s = parse_session(session).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "session id `{session}` is not `l2tp-TUNNEL-SESSION` or `pppoe-PORT-SESSION`"
                    ))
                    .at(format!("/changes/{i}/session"))
                })?;
                svc.plan_session_move(w, from, s)
            }
            Change::MoveTunnel { tunnel, .. } => svc.plan_tunnel_move(w, from, *tunnel),
            _ => unreachable!("filtered to moves"),
        }
        .map_err(|e| refusal(e, i, c))?;
        // A move to where a session (of a tunnel moved back and forth) is already routed
        // is nothing; the checks below still hold for it.
        for s in &plan.sessions {
            for p in &s.routes {
                if let Some(why) = collides(w, to_id, *p) {
                    return Err(ApiError::address_conflict(format!(
                        "{p} of the subscriber on {} is in use in VR `{to}`: {why}; nothing was moved",
                        s.key
                    ))
                    .at(format!("/changes/{i}/to")));
                }
                if !claimed.insert((to_id, *p)) {
                    return Err(ApiError::address_conflict(format!(
                        "{p} of the subscriber on {} goes to VR `{to}` with another move of this transaction; nothing was moved",
                        s.key
                    ))
                    .at(format!("/changes/{i}/to")));
                }
            }
        }
        out.push(Planned {
            index: i,
            plan,
            to: to_id,
            to_name: to.clone(),
        });
    }
    Ok(out)
}

/// Carries out checked moves (on the writer; the caller publishes): one line each.
pub fn apply<B: PacketBuf>(
    core: &mut Core<B>,
    planned: &[Planned],
    now: Instant,
) -> Result<Vec<String>, ApiError> {
    let mut lines = Vec::with_capacity(planned.len());
    for p in planned {
        let r = core
            .with_service::<L2tpService, _>(now, |s, cx| {
                s.apply_move(cx, &p.plan, p.to, &p.to_name)
            })
            .ok_or_else(|| ApiError::internal("the L2TP service is gone"))?;
        r.map_err(|e| ApiError::internal(e.to_string()).at(format!("/changes/{}", p.index)))?;
        let what = match p.plan.tunnel {
            Some((_, t)) => format!("tunnel {t} ({} sessions)", p.plan.sessions.len()),
            None => p
                .plan
                .sessions
                .first()
                .map_or_else(String::new, |s| s.key.to_string()),
        };
        lines.push(format!(
            "moved {what} from {} to {} ({})",
            p.plan.from, p.to, p.to_name
        ));
    }
    Ok(lines)
}

/// Why `p` cannot enter `vr`: the same prefix routed there already (any source: an
/// address of the VR, a static route, another subscriber), or an address inside one of
/// its connected subnets (it belongs to a host on that link).
fn collides(w: &StateWriter, vr: VrId, p: IpPrefix) -> Option<String> {
    for (q, src, _) in w.routes(vr) {
        let covered = match (q, p) {
            (IpPrefix::V4(a), IpPrefix::V4(b)) => a.covers(&b),
            (IpPrefix::V6(a), IpPrefix::V6(b)) => a.covers(&b),
            _ => false,
        };
        if q == p {
            return Some(format!("it has a {} route to {q}", source_name(src)));
        }
        if covered && matches!(src, RouteSource::Connected | RouteSource::Local) {
            return Some(format!("it is inside the connected subnet {q}"));
        }
    }
    None
}

fn source_name(s: RouteSource) -> &'static str {
    match s {
        RouteSource::Local => "local (own address)",
        RouteSource::Connected => "connected",
        RouteSource::Static => "static",
        RouteSource::Subscriber => "subscriber",
        RouteSource::Neighbor => "neighbour",
        RouteSource::Vpn => "VPN peer",
    }
}

fn at(i: usize, c: &Change) -> String {
    match c {
        Change::MoveTunnel { .. } => format!("/changes/{i}/tunnel"),
        _ => format!("/changes/{i}/session"),
    }
}

fn refusal(e: MoveError, i: usize, c: &Change) -> ApiError {
    match e {
        MoveError::NoSession(_) | MoveError::NoTunnel(_) => ApiError::not_found(e.to_string()),
        MoveError::Relayed(_) | MoveError::NotTerminated(_) => ApiError::conflict(e.to_string()),
        MoveError::Table(_) => ApiError::internal(e.to_string()),
    }
    .at(at(i, c))
}
