//! The protocol services a profile runs on the control core, and their settings from the
//! profile: router interfaces for ARP/ND and ICMP, the L2TP endpoints of the VRs, VR
//! discovery.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use controlcore::Service;
use controlplane::discovery::engine::Config as DiscoveryEngineConfig;
use controlplane::discovery::service::{DiscoveryService, LocalVr, ServiceConfig};
use controlplane::esp::service::EspService;
use controlplane::icmp::service::IcmpService;
use controlplane::l2tp::driver::vr::EndpointConfig;
use controlplane::l2tp::engine::{Config as L2tpConfig, Limits as L2tpLimits, Role};
use controlplane::l2tp::service::L2tpService;
use controlplane::neighbor::service::NeighborService;
use controlplane::neighbor::NeighborConfig;
use controlplane::packet::{Iface, Interfaces};
use vr::{NeighborKey, PortId, VrId};

use crate::config::{Config, IfAddr, L2tpRole};

/// The router interfaces of a profile: every VR interface, then every trunk port.
pub fn interfaces(cfg: &Config) -> Interfaces {
    let split = |addrs: &[IfAddr]| {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in addrs {
            match a.addr {
                IpAddr::V4(x) => v4.push((x, a.len)),
                IpAddr::V6(x) => v6.push((x, a.len)),
            }
        }
        (v4, v6)
    };
    let mut out = Vec::new();
    for v in &cfg.vrs {
        for i in &v.interfaces {
            let (v4, v6) = split(&i.addresses);
            out.push(Iface {
                port: i.port as u16,
                vlan: i.vlan,
                mac: cfg.ports[i.port].mac,
                vr: Some(v.id),
                v4,
                v6,
            });
        }
    }
    for (pi, p) in cfg.ports.iter().enumerate() {
        if p.trunk {
            let (v4, v6) = split(&p.addresses);
            out.push(Iface {
                port: pi as u16,
                vlan: None,
                mac: p.mac,
                vr: None,
                v4,
                v6,
            });
        }
    }
    Interfaces::new(out)
}

/// The static neighbours of a profile (the neighbour service never overrides them).
pub fn static_neighbors(cfg: &Config) -> BTreeSet<NeighborKey> {
    cfg.neighbors
        .iter()
        .map(|n| NeighborKey {
            port: PortId(n.port as u16),
            vlan: n.vlan,
            ip: n.ip,
        })
        .collect()
}

/// The engine role of a profile role.
pub fn role(r: L2tpRole) -> Role {
    match r {
        L2tpRole::Lac => Role::Lac,
        L2tpRole::Lns => Role::Lns,
    }
}

/// The L2TP endpoints of a profile's VRs.
pub fn l2tp_endpoints(cfg: &Config) -> Vec<EndpointConfig> {
    cfg.vrs
        .iter()
        .filter_map(|v| {
            let l = v.l2tp.as_ref()?;
            let mut e = L2tpConfig::new(role(l.role), &l.hostname);
            e.secret = l.secret.as_ref().map(|s| s.as_bytes().to_vec());
            e.hide_avps = l.hide_avps;
            e.hello_interval = l.hello_interval;
            e.limits = L2tpLimits {
                max_tunnels: l.max_tunnels,
                max_half_open: l.max_half_open,
                max_half_open_per_source: l.max_half_open_per_source,
                max_sessions_per_tunnel: l.max_sessions_per_tunnel,
                max_sessions: l.max_sessions,
            };
            Some(EndpointConfig {
                vr: VrId(v.id),
                local: l.local,
                engine: e,
                peers: l.peers.clone(),
                autodial: l.autodial,
            })
        })
        .collect()
}

/// The subscriber termination settings of a profile's VRs.
pub fn subscribers(cfg: &Config) -> Vec<controlplane::subscriber::config::SubscriberConfig> {
    cfg.vrs.iter().filter_map(|v| v.ppp.clone()).collect()
}

/// The relaying VRs of a profile, with their PPPoE access interfaces (none for a VR that
/// only switches L2TP sessions).
pub fn access(cfg: &Config) -> Vec<controlplane::l2tp::service::AccessVr> {
    cfg.vrs
        .iter()
        .filter_map(|v| {
            let a = v.relay.clone()?;
            let ifs = if v.pppoe {
                v.interfaces
                    .iter()
                    .map(|i| (PortId(i.port as u16), i.vlan))
                    .collect()
            } else {
                Vec::new()
            };
            Some((a, ifs))
        })
        .collect()
}

/// The VRs of a profile that take part in discovery: those whose VPN has a key in the
/// `discovery:` section, with the address they announce.
pub fn discovery_vrs(cfg: &Config) -> Vec<LocalVr> {
    let Some(d) = &cfg.discovery else {
        return Vec::new();
    };
    cfg.vrs
        .iter()
        .filter_map(|v| {
            Some(LocalVr {
                vr: VrId(v.id),
                vpn_id: d.vpn_of(v.vpn_id)?,
                addr: v.discovery_addr(),
            })
        })
        .collect()
}

/// The discovery service of a profile, if it has a `discovery:` section. The first sequence
/// number is the wall clock in microseconds (vr-discovery.md §5: a restarted router goes on
/// above what it sent before).
pub fn discovery(cfg: &Config) -> Result<Option<DiscoveryService>, String> {
    let Some(d) = &cfg.discovery else {
        return Ok(None);
    };
    let seq_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |t| t.as_micros() as u64);
    let mut engine = DiscoveryEngineConfig::new(d.router_id, d.routers.clone(), seq_start);
    engine.rto_initial = d.rto_initial;
    engine.rto_max = d.rto_max;
    engine.max_attempts = d.max_attempts;
    engine.refresh = d.refresh;
    let sc = ServiceConfig {
        engine,
        listen: d.listen,
        reach: d.reach.clone(),
        keys: d.vpns.iter().map(|v| (v.id, v.secret.clone())).collect(),
    };
    DiscoveryService::new(sc, discovery_vrs(cfg))
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The services of a profile: ARP/ND, ICMP, L2TP (with PPP termination, PPPoE access). VR
/// discovery ([`discovery`]) is added by the appliance, which reports its errors.
pub fn services(cfg: &Config, now: Instant) -> Vec<Box<dyn Service>> {
    let ifaces = interfaces(cfg);
    let mut neighbor = NeighborService::new(ifaces.clone(), NeighborConfig::default());
    neighbor.set_static(static_neighbors(cfg));
    vec![
        Box::new(neighbor),
        Box::new(IcmpService::new(ifaces)),
        Box::new(EspService::new()),
        Box::new(
            L2tpService::new(l2tp_endpoints(cfg), now)
                .with_subscribers(subscribers(cfg))
                .with_access(access(cfg)),
        ),
    ]
}

/// The VRs of a profile that take part in VPN peering: those of a VPN with a CHAP secret in
/// `vpn_peering:` (and so with a discovery key).
pub fn vpn_peering_vrs(cfg: &Config) -> Vec<controlplane::vpnpeer::service::LocalVr> {
    let (Some(d), Some(p)) = (&cfg.discovery, &cfg.vpn_peering) else {
        return Vec::new();
    };
    cfg.vrs
        .iter()
        .filter_map(|v| {
            let vpn_id = d.vpn_of(v.vpn_id)?;
            p.vpns.iter().any(|x| x.id == vpn_id).then_some(
                controlplane::vpnpeer::service::LocalVr {
                    vr: VrId(v.id),
                    vpn_id,
                },
            )
        })
        .collect()
}

/// The VPN peering service of a profile, if it has a `vpn_peering:` section.
pub fn vpn_peering(
    cfg: &Config,
) -> Result<Option<controlplane::vpnpeer::service::VpnPeerService>, String> {
    use controlplane::vpnpeer::service::{RadiusMode, ServiceConfig, VpnPeerService};
    let (Some(d), Some(p)) = (&cfg.discovery, &cfg.vpn_peering) else {
        return Ok(None);
    };
    let mut engine = controlplane::vpnpeer::Config::new(d.router_id);
    engine.l2tp.hello_interval = p.hello;
    engine.l2tp.retransmit_initial = p.retransmit;
    engine.l2tp.max_retransmits = p.max_retransmits;
    engine.hold_time = p.hold;
    engine.reconnect_interval = p.reconnect;
    engine.max_routes_per_peer = p.max_routes_per_peer;
    engine.max_peers = p.max_peers;
    let sc = ServiceConfig {
        engine,
        listen: p.listen,
        reach: p.reach.clone(),
        secrets: p.vpns.iter().map(|v| (v.id, v.secret.clone())).collect(),
        radius: match &p.radius {
            crate::config::VpnRadiusCfg::InProcess(a) => RadiusMode::InProcess(*a),
            crate::config::VpnRadiusCfg::External(a, s) => RadiusMode::External(*a, s.clone()),
        },
        radius_timeout: p.radius_timeout,
        transport: p
            .transport
            .iter()
            .map(|(r, (label, port, via))| {
                (
                    *r,
                    controlcore::TransportPath {
                        label: *label,
                        port: PortId(*port as u16),
                        via: *via,
                    },
                )
            })
            .collect(),
        labels: cfg.label_range.clone(),
    };
    VpnPeerService::new(sc, vpn_peering_vrs(cfg)).map(Some)
}
