//! L2TP tunnels and subscriber sessions of a VR for the API: listing them, clearing a
//! tunnel (StopCCN), disconnecting a session (CDN, or PADT for a PPPoE link). Runs on the
//! control thread (called from [`super::exec`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use controlcore::Core;
use controlplane::access::manager::LinkKey;
use controlplane::l2tp::service::L2tpService;
use dataplane::buffer::PacketBuf;
use serde_json::{json, Value};
use vr::{PortId, VrId};

use super::ApiError;
use crate::config::Config;

/// Most sessions one listing returns.
pub const LIST_LIMIT: usize = 10_000;

/// Tunnels and sessions per VR id.
pub fn occupancy<B: PacketBuf>(core: &Core<B>) -> HashMap<u32, (u64, u64)> {
    core.service::<L2tpService>()
        .map(|s| {
            s.endpoints()
                .occupancy()
                .into_iter()
                .map(|(v, t, n)| (v.0, (t as u64, n as u64)))
                .collect()
        })
        .unwrap_or_default()
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
    Value::Array(
        s.endpoints()
            .tunnels(vr)
            .into_iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "peer": t.peer.map(|p| p.to_string()),
                    "state": t.state.map(|s| format!("{s:?}")),
                    "sessions": t.sessions.len(),
                })
            })
            .collect(),
    )
}

/// `vr`'s sessions: its L2TP sessions (with the PPP subscriber on each, if any) and the
/// PPPoE links it terminates or relays. `id` is what `DELETE .../sessions/{id}` takes.
pub fn sessions<B: PacketBuf>(core: &Core<B>, vr: VrId, now: Instant) -> Value {
    let Some(s) = core.service::<L2tpService>() else {
        return json!([]);
    };
    let subs: HashMap<(u16, u16), _> = s
        .subscriber_list_of(core.writer(), now, vr, LIST_LIMIT)
        .into_iter()
        .map(|x| ((x.tunnel, x.session), x))
        .collect();
    let mut out = Vec::new();
    for t in s.endpoints().tunnels(vr) {
        for (sid, st) in &t.sessions {
            let mut e = json!({
                "id": format!("l2tp-{}-{sid}", t.id),
                "kind": "l2tp",
                "tunnel": t.id,
                "session": sid,
                "state": st.map(|s| format!("{s:?}")),
            });
            if let Some(x) = subs.get(&(t.id, *sid)) {
                e["user"] = json!(x.user);
                e["address"] = json!(x.v4.map(|a| a.to_string()));
                e["phase"] = json!(x.phase);
                e["uptime_s"] = json!(x.uptime.as_secs());
                e["traffic"] = json!(x.traffic);
            }
            out.push(e);
        }
    }
    for r in s.relay_list(core.writer(), now, LIST_LIMIT) {
        if r.link.vr != vr {
            continue;
        }
        let id = match r.link.link {
            LinkKey::Pppoe { port, session } => format!("pppoe-{}-{session}", port.0),
            // Switched L2TP sessions are listed above with the VR's L2TP sessions.
            LinkKey::L2tp { .. } => continue,
        };
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
        core.with_service::<L2tpService, _>(now, |s, cx| {
            s.disconnect_subscriber(cx, vr, t, sid) || s.clear_session(cx, vr, t, sid)
        })
    } else if let Some((port, sid)) = parse("pppoe-") {
        let link = LinkKey::Pppoe {
            port: PortId(port),
            session: sid,
        };
        core.with_service::<L2tpService, _>(now, |s, cx| {
            s.access().link(link).is_some_and(|v| v.vr == vr) && s.disconnect_access(cx, link)
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
