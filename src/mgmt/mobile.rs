//! The Mobile IPv4 agents for the API (`GET /api/v1/mobile/bindings`, `/tunnels`,
//! `/agents`; `varouter ctl mobile`). Runs on the control thread (called from
//! [`super::exec`]). Carrier principals see every agent; a tenant sees the agents of the VRs
//! it holds (by the running document's `tenant` of the agent's VR).

use std::time::Instant;

use controlcore::Core;
use dataplane::buffer::PacketBuf;
use serde_json::{json, Value};

use super::scope::Scope;
use super::ApiError;
use crate::mip::service::MipService;

/// Which listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Bindings (HA), visitors (FA), cache entries (PCN).
    Bindings,
    /// Tunnels in the data plane.
    Tunnels,
    /// Agents with their counters.
    Agents,
}

/// Whether `scope` sees the VR with id `vr` in the running document `doc`.
fn sees(doc: &Value, scope: &Scope, vr: u32) -> bool {
    if scope.sees_appliance() {
        return true;
    }
    doc.get("virtual_routers")
        .and_then(Value::as_array)
        .is_some_and(|l| {
            l.iter().any(|v| {
                v.get("id").and_then(Value::as_u64) == Some(u64::from(vr))
                    && scope.sees(v.get("tenant").and_then(Value::as_str).unwrap_or(""))
            })
        })
}

/// The listing as JSON.
pub fn listing<B: PacketBuf>(
    core: &Core<B>,
    doc: &Value,
    scope: &Scope,
    what: Listing,
    now: Instant,
) -> Result<Value, ApiError> {
    let Some(m) = core.service::<MipService>() else {
        return Err(ApiError::not_found(
            "this appliance runs no Mobile IP agents (its profile has no `mobile_ip:` section)",
        ));
    };
    let f = |vr: u32| sees(doc, scope, vr);
    Ok(match what {
        Listing::Bindings => json!({ "bindings": crate::mip::view::bindings(m, &f, now) }),
        Listing::Tunnels => {
            let st = core.state();
            json!({ "tunnels": crate::mip::view::tunnels(m, &st, &f) })
        }
        Listing::Agents => json!({ "agents": crate::mip::view::agents(m, &f) }),
    })
}

/// One Mobile IP agent's counters in the statistics snapshot (`/api/v1/stats`,
/// `/metrics`).
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct MobileAgentStats {
    /// The agent's name.
    pub agent: String,
    /// `home_agent`, `foreign_agent` or `pcn`.
    pub role: String,
    /// Its VR.
    pub vr: String,
    /// The VR's tenant (scoping).
    pub tenant: String,
    /// Counters: `requests`, `accepted`, `denied`, `bad_authenticator`, `replayed`,
    /// `expiries`, `malformed`, `tunnel_unsupported`, the driver's datagram and Diameter
    /// counts.
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Entries held now: bindings (HA), visitors (FA), cache entries (PCN).
    pub entries: u64,
    /// Denials by Registration Reply code.
    pub denied_by_code: std::collections::BTreeMap<String, u64>,
}

/// The agents' counters for the snapshot, with their VRs' tenants from `running`.
pub fn stats<B: PacketBuf>(
    core: &Core<B>,
    running: &crate::config::Config,
) -> Vec<MobileAgentStats> {
    use crate::mip::service::{agent_counters, denied_by_code};
    let Some(m) = core.service::<MipService>() else {
        return Vec::new();
    };
    m.agents()
        .iter()
        .map(|a| {
            let mut entries = 0;
            let mut counters = std::collections::BTreeMap::new();
            for (k, v) in agent_counters(a) {
                if matches!(k, "bindings" | "visitors" | "entries") {
                    entries = v;
                } else {
                    counters.insert(k.to_string(), v);
                }
            }
            MobileAgentStats {
                agent: a.cfg.name.clone(),
                role: a.cfg.role.name().to_string(),
                vr: a.cfg.vr_name.clone(),
                tenant: running
                    .vrs
                    .iter()
                    .find(|v| v.id == a.cfg.vr)
                    .map(|v| v.tenant.clone())
                    .unwrap_or_default(),
                counters,
                entries,
                denied_by_code: denied_by_code(a)
                    .into_iter()
                    .map(|(c, n)| (c.to_string(), n))
                    .collect(),
            }
        })
        .collect()
}
