//! The agents' bindings and tunnels as JSON for `GET /api/v1/mobile/bindings` and
//! `GET /api/v1/mobile/tunnels` and `varouter ctl mobile` (schemas in docs/api.md). Runs on
//! the control thread; `sees(vr)` is the caller's scope (a tenant sees the agents of its
//! VRs only).

use std::net::Ipv4Addr;
use std::time::Instant;

use controlplane::mip::{TunnelKind, TunnelSpec};
use serde_json::{json, Value};

use super::datapath::{InstalledTunnel, TunnelOut};
use super::service::{agent_counters, denied_by_code, Engine, MipService};

fn role_of(t: &TunnelSpec) -> &'static str {
    use controlplane::mip::tunnel::TunnelRole;
    match t.role {
        TunnelRole::HomeToCareOf => "ha_to_care_of",
        TunnelRole::HomeToGw => "ha_to_gw",
        TunnelRole::ForeignToGw => "fa_to_gw",
        TunnelRole::PcnToForeign => "pcn_to_fa",
        TunnelRole::Handoff => "handoff",
        TunnelRole::HandoffReceive => "handoff_receive",
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
            let route = route_published(st, agent_vr, t);
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

/// Whether the published state routes `t`'s prefix in `agent_vr` into `t`'s SA or tunnel:
/// the route's next hop is it, or (a route shared with other users' tunnels) a source
/// selection that sends `t`'s own source into it.
fn route_published(st: &vr::ForwardingState, agent_vr: vr::VrId, t: &InstalledTunnel) -> bool {
    st.vr(agent_vr)
        .and_then(|v| v.lookup4(u32::from(t.prefix.0)))
        .and_then(|id| st.next_hop(id))
        .and_then(|nh| match *nh {
            vr::NextHop::BySource(id) => {
                let (a, _) = t.source().unwrap_or((Ipv4Addr::UNSPECIFIED, 0));
                st.source_routes
                    .get(&vr::SourceRouteKey::new(agent_vr, id))?
                    .select(a.into())
            }
            nh => Some(nh),
        })
        .is_some_and(|nh| nh == t.out.next_hop())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mip::datapath::{AgentSide, Datapath};
    use controlplane::mip::tunnel::TunnelRole;
    use controlplane::mip::TunnelEvent;
    use vpndb::model::{KeyBytes, SaKeys};
    use vr::{StateWriter, VirtualRouter, VpnId, VrId};

    fn up(home: [u8; 4], spi: u32, key: u8) -> TunnelSpec {
        TunnelSpec {
            home_address: home.into(),
            role: TunnelRole::ForeignToGw,
            local: Ipv4Addr::new(192, 0, 2, 1),
            remote: Ipv4Addr::new(198, 51, 100, 1),
            kind: TunnelKind::Esp {
                out_spi: spi,
                in_spi: spi + 1,
                keys: SaKeys {
                    up_enc: KeyBytes::new(vec![key; 16]),
                    down_enc: KeyBytes::new(vec![key + 1; 16]),
                    ..SaKeys::default()
                },
                ah: false,
            },
            src: None,
            dst: Some("10.10.0.0/16".parse().unwrap()),
            tos: 0,
        }
    }

    /// Two users' tunnels toward one network on their own SAs: the route names a source
    /// selection, and each tunnel is listed as published because its own source selects
    /// it; a tunnel whose source the selection sends elsewhere is not.
    #[test]
    fn a_route_by_source_is_published_for_the_tunnel_its_source_selects() {
        let vr = VrId(1);
        let mut w = StateWriter::new(vec![[2, 0, 0, 0, 0, 1]], 1);
        w.add_vr(VirtualRouter::new(vr, "fa", VpnId::new(1, 1).unwrap(), "t"))
            .unwrap();
        let side = AgentSide {
            agent: 0,
            vr,
            outer_vr: vr,
            default_sas: &[],
        };
        let mut d = Datapath::new(1);
        d.apply(
            &mut w,
            &side,
            &TunnelEvent::Up(up([10, 200, 0, 1], 5000, 1)),
        );
        let st = w.commit().unwrap();
        let one: Vec<_> = d.tunnels(0).cloned().collect();
        assert!(
            route_published(&st, vr, &one[0]),
            "one user: the plain route"
        );
        d.apply(
            &mut w,
            &side,
            &TunnelEvent::Up(up([10, 200, 0, 2], 6000, 3)),
        );
        let st = w.commit().unwrap();
        let mut both: Vec<_> = d.tunnels(0).cloned().collect();
        both.sort_by_key(|t| t.spec.home_address);
        assert!(matches!(
            st.next_hop(st.vr(vr).unwrap().lookup4(0x0a0a_0001).unwrap()),
            Some(vr::NextHop::BySource(_))
        ));
        for t in &both {
            assert!(route_published(&st, vr, t), "{}", t.spec.home_address);
        }
        // User 1's tunnel listed with user 2's source: the selection sends that elsewhere.
        let mut wrong = both[0].clone();
        wrong.spec.home_address = Ipv4Addr::new(10, 200, 0, 2);
        assert!(!route_published(&st, vr, &wrong));
    }
}
