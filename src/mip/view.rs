//! The agents' bindings and tunnels as JSON for `GET /api/v1/mobile/bindings` and
//! `GET /api/v1/mobile/tunnels` and `varouter ctl mobile` (schemas in docs/api.md). Runs on
//! the control thread; `sees(vr)` is the caller's scope (a tenant sees the agents of its
//! VRs only).

use std::time::Instant;

use controlplane::mip::{TunnelKind, TunnelSpec};
use serde_json::{json, Value};

use super::datapath::TunnelOut;
use super::service::{agent_counters, denied_by_code, Engine, MipService};

fn role_of(t: &TunnelSpec) -> &'static str {
    use controlplane::mip::tunnel::TunnelRole;
    match t.role {
        TunnelRole::HomeToCareOf => "ha_to_care_of",
        TunnelRole::HomeToGw => "ha_to_gw",
        TunnelRole::ForeignToGw => "fa_to_gw",
        TunnelRole::PcnToForeign => "pcn_to_fa",
        TunnelRole::Handoff => "handoff",
    }
}

fn mask(a: &Option<vpndb::model::AddrMask>) -> Value {
    a.map_or(Value::Null, |m| {
        json!(format!("{}/{}", m.addr(), m.prefix_len()))
    })
}

/// Every binding (HA), visitor (FA) and cache entry (PCN) of the agents in scope.
pub fn bindings(s: &MipService, sees: &dyn Fn(u32) -> bool, now: Instant) -> Value {
    let mut out = Vec::new();
    for a in s.agents().iter().filter(|a| sees(a.cfg.vr)) {
        let base = |home: std::net::Ipv4Addr| {
            json!({
                "agent": a.cfg.name,
                "role": a.cfg.role.name(),
                "vr": a.cfg.vr_name,
                "home_address": home.to_string(),
            })
        };
        match &a.engine {
            Engine::Ha(e) => {
                let mut v: Vec<_> = e.bindings().collect();
                v.sort_by_key(|(h, _)| **h);
                for (home, b) in v {
                    let mut j = base(*home);
                    j["nai"] = json!(b.nai.as_deref());
                    j["care_of"] = json!(b.care_of.to_string());
                    j["lifetime_s"] = json!(b.lifetime);
                    j["expires_in_s"] = json!(b.expires.saturating_duration_since(now).as_secs());
                    j["vpn_profiles"] = json!(b.vpn.len());
                    j["tunnels"] = json!(b.tunnels.len());
                    out.push(j);
                }
            }
            Engine::Fa(e) => {
                let mut v: Vec<_> = e.visitors().collect();
                v.sort_by_key(|(h, _)| **h);
                for (home, b) in v {
                    let mut j = base(*home);
                    j["nai"] = json!(b.nai);
                    j["home_agent"] = json!(b.home_agent.to_string());
                    j["mobile_node"] = json!(b.mn.to_string());
                    j["expires_in_s"] = json!(b.expires.saturating_duration_since(now).as_secs());
                    j["vpn_profiles"] = json!(b.vpn.len());
                    j["tunnels"] = json!(b.tunnels.len());
                    out.push(j);
                }
            }
            Engine::Pcn(e) => {
                let mut v: Vec<_> = e.entries().collect();
                v.sort_by_key(|(h, _)| **h);
                for (home, b) in v {
                    let mut j = base(*home);
                    j["home_agent"] = json!(b.home_agent.to_string());
                    j["care_of"] = json!(b.care_of.to_string());
                    j["expires_in_s"] = json!(b.expires.saturating_duration_since(now).as_secs());
                    j["vpn_profiles"] = json!(b.vpn.len());
                    j["tunnels"] = json!(b.tunnels.len());
                    out.push(j);
                }
            }
        }
    }
    Value::Array(out)
}

/// Every tunnel the agents in scope have in the data plane, with what the published
/// forwarding state `st` (the version the workers use) holds of it.
pub fn tunnels(s: &MipService, st: &vr::ForwardingState, sees: &dyn Fn(u32) -> bool) -> Value {
    let mut out = Vec::new();
    for (i, a) in s.agents().iter().enumerate() {
        if !sees(a.cfg.vr) {
            continue;
        }
        let mut v: Vec<_> = s.datapath().tunnels(i).collect();
        v.sort_by_key(|t| (t.spec.home_address, t.spec.remote, t.out));
        for t in v {
            // Published means in the keys the workers look up: the agent's VR for the
            // outbound SA or tunnel, the VR its ESP or IP-in-IP arrives in for the inbound
            // one — and decrypting or decapsulating into the agent's VR.
            let agent_vr = vr::VrId(a.cfg.vr);
            let (out_sa, in_sa, ipip_id) = match t.out {
                TunnelOut::Esp(spi) => (
                    st.esp
                        .outbound
                        .get(&vr::OutboundKey::new(agent_vr, vr::EspSaId(spi)))
                        .is_some(),
                    st.esp
                        .inbound
                        .get(&vr::InboundKey::new(t.outer_vr, t.in_spi))
                        .is_some_and(|x| x.vr == agent_vr),
                    None,
                ),
                TunnelOut::IpIp(id) => (
                    st.ipip
                        .outbound
                        .get(&vr::IpIpKey::new(agent_vr, vr::IpIpId(id)))
                        .is_some(),
                    st.ipip
                        .inbound
                        .get(&vr::IpIpInboundKey::new(t.outer_vr, t.spec.remote))
                        .is_some_and(|x| x.vr == agent_vr && x.local == t.spec.local),
                    Some(id),
                ),
            };
            // A route shared with other users' tunnels selects by source: published when
            // the tunnel's own source selects it.
            let route = st
                .vr(agent_vr)
                .and_then(|v| v.lookup4(u32::from(t.prefix.0)))
                .and_then(|id| st.next_hop(id))
                .and_then(|nh| match *nh {
                    vr::NextHop::BySource(id) => {
                        let (a, _) = t.source().unwrap_or((std::net::Ipv4Addr::UNSPECIFIED, 0));
                        st.source_routes
                            .get(&vr::SourceRouteKey::new(agent_vr, id))?
                            .select(a.into())
                    }
                    nh => Some(nh),
                })
                .is_some_and(|nh| nh == t.out.next_hop());
            // A tunnel that routes nothing (the FA's plain IP-in-IP to the HA): no route to
            // be published.
            let route = if t.routed { Some(route) } else { None };
            out.push(json!({
                "agent": a.cfg.name,
                "vr": a.cfg.vr_name,
                "home_address": t.spec.home_address.to_string(),
                "role": role_of(&t.spec),
                "local": t.spec.local.to_string(),
                "remote": t.spec.remote.to_string(),
                "kind": match &t.spec.kind { TunnelKind::IpInIp => "ipip", TunnelKind::Esp { .. } => "esp" },
                "out_spi": t.out_spi,
                "ipip_id": ipip_id,
                "in_spi": t.in_spi,
                "cipher": t.cipher,
                "prefix": t.routed.then(|| format!("{}/{}", t.prefix.0, t.prefix.1)),
                "src": mask(&t.spec.src),
                "dst": mask(&t.spec.dst),
                "tos": t.spec.tos,
                "dscp": t.dscp,
                "published": { "out_sa": out_sa, "in_sa": in_sa, "route": route },
            }));
        }
    }
    Value::Array(out)
}

/// Per agent counters in scope (`GET /api/v1/mobile/agents`, the stats snapshot).
pub fn agents(s: &MipService, sees: &dyn Fn(u32) -> bool) -> Value {
    let peers = s.peer_stats();
    let mut out = Vec::new();
    for (i, a) in s.agents().iter().enumerate() {
        if !sees(a.cfg.vr) {
            continue;
        }
        let counters: serde_json::Map<String, Value> = agent_counters(a)
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let denied: serde_json::Map<String, Value> = denied_by_code(a)
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let p = peers.get(i).cloned().unwrap_or_default();
        out.push(json!({
            "agent": a.cfg.name,
            "role": a.cfg.role.name(),
            "vr": a.cfg.vr_name,
            "address": a.cfg.address.to_string(),
            "counters": counters,
            "denied_by_code": denied,
            "diameter_peers": p.open,
        }));
    }
    Value::Array(out)
}
