//! A VR's discovery configuration map for the API (`GET /api/v1/vrs/{vr}/map`, `varouter ctl
//! vr map`): the other VRs of its VPN that discovery found, by provider router. Runs on the
//! control thread (called from [`super::exec`]); the caller has already checked that the VR
//! is in the principal's scope.

use std::time::Instant;

use controlcore::Core;
use controlplane::discovery::service::DiscoveryService;
use dataplane::buffer::PacketBuf;
use serde_json::{json, Value};
use vr::VrId;

use super::ApiError;
use crate::config::Config;

/// The map of `vr` as JSON (schema in docs/api.md).
pub fn vr_map<B: PacketBuf>(
    core: &Core<B>,
    running: &Config,
    vr: VrId,
    now: Instant,
) -> Result<Value, ApiError> {
    let (Some(d), Some(svc)) = (&running.discovery, core.service::<DiscoveryService>()) else {
        return Err(ApiError::not_found(
            "this appliance runs no VR discovery (its profile has no `discovery:` section)",
        ));
    };
    let v = running
        .vrs
        .iter()
        .find(|v| v.id == vr.0)
        .ok_or_else(|| ApiError::not_found(format!("no VR with id {}", vr.0)))?;
    let base = json!({
        "vr": v.name,
        "id": v.id,
        "vpn_id": v.vpn_id.to_string(),
        "router_id": d.router_id.to_string(),
    });
    let mut out = base;
    match svc.map(vr, now) {
        None => {
            out["discovery_vpn"] = Value::Null;
            out["address"] = Value::Null;
            out["state"] = json!(format!(
                "not in discovery: VPN {} has no key in discovery.vpns",
                v.vpn_id
            ));
            out["peers"] = json!([]);
        }
        Some(m) => {
            out["discovery_vpn"] = json!(m.vpn_id);
            out["address"] = json!(m.addr.map(|a| a.to_string()));
            out["state"] = json!(m.state);
            out["peers"] = m
                .peers
                .iter()
                .map(|p| {
                    json!({
                        "router": p.router.to_string(),
                        "address": p.addr.to_string(),
                        "age_s": p.age.as_secs(),
                    })
                })
                .collect();
        }
    }
    Ok(out)
}
