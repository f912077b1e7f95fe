//! L2TP tunnels and subscriber sessions of a VR for the API: listing them, clearing a
//! tunnel (StopCCN), disconnecting a session (CDN, or PADT for a PPPoE link). Runs on the
//! control thread (called from [`super::exec`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use controlcore::Core;
use controlplane::access::manager::LinkKey;
use controlplane::l2tp::service::L2tpService;
use controlplane::subscriber::manager::SubscriberView;
use dataplane::buffer::PacketBuf;
use serde_json::{json, Value};
use vr::{PortId, SessionKey, VrId};

use super::ApiError;
use crate::config::Config;

/// Most sessions one listing returns.
pub const LIST_LIMIT: usize = 10_000;

/// Tunnels and sessions per VR id. A tunnel counts in its own VR; a session counts in the
/// VR it is routed in, so a session moved to another VR (`POST .../sessions/{id}/move`)
/// counts there. Finding the moved ones is one pass over the session bindings (a few
/// milliseconds per 100,000 sessions), done per statistics request, not per packet.
pub fn occupancy<B: PacketBuf>(core: &Core<B>) -> HashMap<u32, (u64, u64)> {
    let Some(s) = core.service::<L2tpService>() else {
        return HashMap::new();
    };
    let mut occ: HashMap<u32, (u64, u64)> = s
        .endpoints()
        .occupancy()
        .into_iter()
        .map(|(v, t, n)| (v.0, (t as u64, n as u64)))
        .collect();
    for (k, b) in core.writer().sessions() {
        if matches!(k, SessionKey::L2tp { .. }) && b.vr != b.tunnel_vr {
            if let Some(e) = occ.get_mut(&b.tunnel_vr.0) {
                e.1 = e.1.saturating_sub(1);
            }
            occ.entry(b.vr.0).or_default().1 += 1;
        }
    }
    occ
}

/// RADIUS client counters per VR terminating PPP: (VR name, tenant, counters).
pub fn radius<B: PacketBuf>(
    core: &Core<B>,
    running: &Config,
) -> Vec<(String, String, BTreeMap<String, u64>)> {
    let Some(s) = core.service::<L2tpService>() else {
        return Vec::new();
    };
    s.subscribers()
        .per_vr()
        .into_iter()
        .filter_map(|r| {
            let v = running.vrs.iter().find(|v| v.id == r.vr.0)?;
            let c = r.radius;
            let counters = [
                ("access_requests", c.access_requests),
                ("accepts", c.accepts),
                ("rejects", c.rejects),
                ("challenges", c.challenges),
                ("timeouts", c.timeouts),
                ("retransmits", c.retransmits),
                ("failovers", c.failovers),
                ("acct_requests", c.acct_requests),
                ("acct_responses", c.acct_responses),
                ("acct_failures", c.acct_failures),
            ]
            .into_iter()
            .map(|(k, x)| (k.to_string(), x))
            .collect();
            Some((v.name.clone(), v.tenant.clone(), counters))
        })
        .collect()
}

/// `vr`'s tunnels.
pub fn tunnels<B: PacketBuf>(core: &Core<B>, vr: VrId) -> Value {
    let Some(s) = core.service::<L2tpService>() else {
        return json!([]);
    };
    let mut out: Vec<Value> = s
        .endpoints()
        .tunnels(vr)
        .into_iter()
        .map(|t| {
            let mut e = json!({
                "id": t.id,
                "peer": t.peer.map(|p| p.to_string()),
                "state": t.state.map(|s| format!("{s:?}")),
                "sessions": t.sessions.len(),
            });
            if s.tunnel_routed_in(vr, t.id) != vr {
                // Its sessions are routed in another VR (moved); it still runs here.
                e["moved_out"] = json!(true);
            }
            e
        })
        .collect();
    // Other VRs' tunnels whose sessions were moved here (they run in their own VR).
    for (ep, id) in s.tunnels_moved_into(vr) {
        if let Some(t) = s.endpoints().tunnels(ep).into_iter().find(|t| t.id == id) {
            out.push(json!({
                "id": t.id,
                "state": t.state.map(|s| format!("{s:?}")),
                "sessions": t.sessions.len(),
                "moved": true,
            }));
        }
    }
    Value::Array(out)
}

/// `vr`'s sessions: the L2TP sessions routed in it (with the PPP subscriber on each, if
/// any) — its own tunnels' sessions that were not moved elsewhere and the sessions moved
/// into it (`"moved": true`) — and the PPPoE links it terminates or relays. `id` is what
/// `DELETE .../sessions/{id}` and `POST .../sessions/{id}/move` take.
pub fn sessions<B: PacketBuf>(core: &Core<B>, vr: VrId, now: Instant) -> Value {
    let Some(s) = core.service::<L2tpService>() else {
        return json!([]);
    };
    let w = core.writer();
    let subs: HashMap<(u16, u16), _> = s
        .subscriber_list_of(w, now, vr, LIST_LIMIT)
        .into_iter()
        .map(|x| ((x.tunnel, x.session), x))
        .collect();
    let mut out = Vec::new();
    let routed_in = |t: u16, sid: u16| {
        w.session(&SessionKey::L2tp {
            tunnel: t,
            session: sid,
        })
        .map(|b| b.vr)
    };
    let subscriber = |e: &mut Value, x: &SubscriberView| {
        e["user"] = json!(x.user);
        e["address"] = json!(x.v4.map(|a| a.to_string()));
        e["phase"] = json!(x.phase);
        e["uptime_s"] = json!(x.uptime.as_secs());
        e["traffic"] = json!(x.traffic);
    };
    for t in s.endpoints().tunnels(vr) {
        for (sid, st) in &t.sessions {
            if routed_in(t.id, *sid).is_some_and(|r| r != vr) {
                continue; // moved to another VR: listed there
            }
            let mut e = json!({
                "id": format!("l2tp-{}-{sid}", t.id),
                "kind": "l2tp",
                "tunnel": t.id,
                "session": sid,
                "state": st.map(|s| format!("{s:?}")),
            });
            if let Some(x) = subs.get(&(t.id, *sid)) {
                subscriber(&mut e, x);
            }
            out.push(e);
        }
    }
    // Sessions of other VRs' tunnels routed here.
    let mut moved: Vec<(u16, u16, VrId)> = w
        .sessions()
        .filter_map(|(k, b)| match *k {
            SessionKey::L2tp { tunnel, session } if b.vr == vr && b.tunnel_vr != vr => {
                Some((tunnel, session, b.tunnel_vr))
            }
            _ => None,
        })
        .collect();
    moved.sort_unstable();
    for (t, sid, owner) in moved.into_iter().take(LIST_LIMIT) {
        let mut e = json!({
            "id": format!("l2tp-{t}-{sid}"),
            "kind": "l2tp",
            "tunnel": t,
            "session": sid,
            "moved": true,
        });
        if let Some(x) = s
            .subscribers()
            .get(now, owner, t, sid, &|slot| w.session_traffic(slot))
        {
            subscriber(&mut e, &x);
        }
        out.push(e);
    }
    for r in s.relay_list(w, now, LIST_LIMIT) {
        let LinkKey::Pppoe { port, session } = r.link.link else {
            // Switched L2TP sessions are listed above with the VR's L2TP sessions.
            continue;
        };
        // A PPPoE session is listed in the VR it is routed in (its binding's), else (not
        // placed yet, relayed) in its access VR.
        let bound = w
            .session(&SessionKey::Pppoe { port, session })
            .map(|b| b.vr);
        let here = match bound {
            Some(b) if r.lns.is_none() => b == vr,
            _ => r.link.vr == vr,
        };
        if !here {
            continue;
        }
        let id = format!("pppoe-{}-{session}", port.0);
        out.push(json!({
            "id": id,
            "kind": "pppoe",
            "vlan": r.link.vlan,
            "user": r.link.user,
            "lns": r.lns.map(|a| a.to_string()),
            "uptime_s": r.uptime.as_secs(),
            "traffic": r.traffic,
        }));
    }
    Value::Array(out)
}

/// Clears tunnel `t` of `vr` (StopCCN).
pub fn clear_tunnel<B: PacketBuf>(
    core: &mut Core<B>,
    vr: VrId,
    t: u16,
    now: Instant,
) -> Result<(), ApiError> {
    core.with_service::<L2tpService, _>(now, |s, cx| s.clear_tunnel(cx, vr, t))
        .filter(|ok| *ok)
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found(format!("no tunnel {t}")))
}

/// Disconnects session `id` (as [`sessions`] names it) of `vr`.
pub fn disconnect<B: PacketBuf>(
    core: &mut Core<B>,
    vr: VrId,
    id: &str,
    now: Instant,
) -> Result<(), ApiError> {
    let parse = |p: &str| -> Option<(u16, u16)> {
        let (a, b) = id.strip_prefix(p)?.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let none = || ApiError::not_found(format!("no session `{id}`"));
    let ok = if let Some((t, sid)) = parse("l2tp-") {
        // A session moved into `vr` is its tunnel's VR's subscriber (and session).
        let key = SessionKey::L2tp {
            tunnel: t,
            session: sid,
        };
        let owner = match core.writer().session(&key) {
            Some(b) if b.vr == vr => b.tunnel_vr,
            _ => vr,
        };
        core.with_service::<L2tpService, _>(now, |s, cx| {
            s.disconnect_subscriber(cx, owner, t, sid) || s.clear_session(cx, owner, t, sid)
        })
    } else if let Some((port, sid)) = parse("pppoe-") {
        let link = LinkKey::Pppoe {
            port: PortId(port),
            session: sid,
        };
        let routed_here = core
            .writer()
            .session(&SessionKey::Pppoe {
                port: PortId(port),
                session: sid,
            })
            .is_some_and(|b| b.vr == vr);
        core.with_service::<L2tpService, _>(now, |s, cx| {
            (routed_here || s.access().link(link).is_some_and(|v| v.vr == vr))
                && s.disconnect_access(cx, link)
        })
    } else {
        return Err(none());
    };
    if ok == Some(true) {
        Ok(())
    } else {
        Err(none())
    }
}
