//! A VR's VPN peering channels for the API (`GET /api/v1/vrs/{vr}/peers`, `varouter ctl vr
//! peers`): one channel per other VR of its VPN, its state, L2TP tunnel ids, routes, the
//! transport path, and the routes the channels put in the VR's FIB. Runs on the control
//! thread (called from [`super::exec`]); the caller has already checked that the VR is in
//! the principal's scope.

use std::time::Instant;

use controlcore::Core;
use controlplane::vpnpeer::service::VpnPeerService;
use dataplane::buffer::PacketBuf;
use serde_json::{json, Value};
use vr::{NextHop, RouteSource, VrId};

use super::ApiError;
use crate::config::Config;

/// The channels of `vr` as JSON (schema in docs/api.md).
pub fn vr_peers<B: PacketBuf>(
    core: &Core<B>,
    running: &Config,
    vr: VrId,
    now: Instant,
) -> Result<Value, ApiError> {
    let (Some(d), Some(svc)) = (&running.discovery, core.service::<VpnPeerService>()) else {
        return Err(ApiError::not_found(
            "this appliance runs no VPN peering (its profile has no `vpn_peering:` section)",
        ));
    };
    let v = running
        .vrs
        .iter()
        .find(|v| v.id == vr.0)
        .ok_or_else(|| ApiError::not_found(format!("no VR with id {}", vr.0)))?;
    let port_name = |p: vr::PortId| {
        running
            .ports
            .get(usize::from(p.0))
            .map_or_else(|| format!("#{}", p.0), |x| x.name.clone())
    };
    let mut out = json!({
        "vr": v.name,
        "id": v.id,
        "vpn_id": v.vpn_id.to_string(),
        "router_id": d.router_id.to_string(),
    });
    let Some(p) = svc.peers(vr, now) else {
        out["state"] = json!(format!(
            "not peering: VPN {} has no CHAP secret in vpn_peering.vpns",
            v.vpn_id
        ));
        out["peering_vpn"] = Value::Null;
        out["label"] = Value::Null;
        out["routes_announced"] = json!(0);
        out["channels"] = json!([]);
        out["fib"] = json!([]);
        return Ok(out);
    };
    out["state"] = json!("peering");
    out["peering_vpn"] = json!(p.vpn_id);
    out["label"] = json!(p.label);
    out["routes_announced"] = json!(p.routes_announced);
    out["channels"] = p
        .channels
        .iter()
        .map(|c| {
            json!({
                "router": c.router.to_string(),
                "address": c.addr.to_string(),
                "state": c.state,
                "tunnel": c.tunnel,
                "peer_tunnel": c.peer_tunnel,
                "routes_received": c.routes_received,
                "routes_installed": c.routes_installed,
                "routes_sent": c.routes_sent,
                "hold_left_s": c.hold_left.map(|d| d.as_secs_f64()),
                "transport": c.transport.map(|t| json!({
                    "label": t.label,
                    "port": port_name(t.port),
                    "via": t.via.to_string(),
                })),
            })
        })
        .collect();
    let mut fib: Vec<Value> = core
        .writer()
        .routes(vr)
        .filter(|(_, src, _)| *src == RouteSource::Vpn)
        .filter_map(|(prefix, _, nh)| {
            let (port, via, push) = match nh {
                NextHop::Unresolved {
                    port, via, push, ..
                } => (port, Some(via), push),
                NextHop::Forward { port, push, .. } => (port, None, push),
                _ => return None,
            };
            Some(json!({
                "prefix": prefix.to_string(),
                "push": push.as_slice().iter().map(|l| l.value()).collect::<Vec<u32>>(),
                "port": port_name(port),
                "via": via.map(|v| v.to_string()),
            }))
        })
        .collect();
    fib.sort_by(|a, b| a["prefix"].as_str().cmp(&b["prefix"].as_str()));
    out["fib"] = json!(fib);
    Ok(out)
}
