//! What a profile asks of the forwarding state, as data: VRs, interface bindings, routes,
//! label operations and static neighbours ([`Desired`]). Starting the appliance applies
//! the difference between nothing and a profile; a reload applies the difference between
//! the running profile and the new one ([`diff`]) — the same code, so a reload ends in
//! exactly the state a restart with the new profile would start from (plus what the
//! protocols learnt meanwhile: resolved neighbours, L2TP sessions).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use labelswitch::Label;
use vr::{
    Change, IfBinding, IfKey, IpPrefix, LabelAction, LabelPush, NeighborKey, NextHop, PortId,
    Prefix4, Prefix6, RouteSource, VirtualRouter, VrId,
};

use crate::config::{Config, EspSaCfg, IfAddr, IfCfg, LabelOpCfg, NeighborCfg, RouteTarget, VrCfg};
use std::sync::Arc;
use vr::{EspSaId, EspTunnel, EspUdp, InboundKey, OutboundKey};

/// A profile that cannot be turned into tables (a profile that passed `check` never gives
/// one; these are the table types' own limits).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

fn e<E: std::fmt::Display>(ctx: &str) -> impl Fn(E) -> BuildError + '_ {
    move |err| BuildError(format!("{ctx}: {err}"))
}

/// The forwarding state a profile describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// VRs by id.
    pub vrs: BTreeMap<VrId, VirtualRouter>,
    /// Interface bindings.
    pub interfaces: BTreeMap<IfKey, IfBinding>,
    /// Routes: (VR, prefix, source) → next hop specification.
    pub routes: Routes,
    /// Label operations.
    pub labels: BTreeMap<Label, LabelAction>,
    /// Static neighbours.
    pub neighbors: BTreeMap<NeighborKey, [u8; 6]>,
    /// Inbound ESP SAs by (outer VR, SPI), with their VR.
    pub esp_in: BTreeMap<(VrId, u32), (VrId, EspSaCfg)>,
    /// Outbound ESP SAs by (VR, SPI) (the SPI is their id in the VR's routes), with their VR.
    pub esp_out: BTreeMap<(VrId, u32), (VrId, EspSaCfg)>,
}

fn labels(push: &[u32]) -> Result<LabelPush, BuildError> {
    let l = push
        .iter()
        .map(|l| Label::new_unreserved(*l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(e("route label"))?;
    LabelPush::new(&l).map_err(e("route labels"))
}

fn via(port: usize, vlan: Option<u16>, addr: IpAddr, push: LabelPush) -> NextHop {
    NextHop::Unresolved {
        port: PortId(port as u16),
        vlan,
        via: addr,
        push,
    }
}

fn subnet(a: &IfAddr) -> Result<IpPrefix, BuildError> {
    Ok(match a.addr {
        IpAddr::V4(v4) => {
            let m = if a.len == 0 {
                0
            } else {
                u32::MAX << (32 - a.len)
            };
            IpPrefix::V4(Prefix4::new(u32::from(v4) & m, a.len).map_err(e("subnet"))?)
        }
        IpAddr::V6(v6) => {
            let m = if a.len == 0 {
                0
            } else {
                u128::MAX << (128 - a.len)
            };
            IpPrefix::V6(Prefix6::new(u128::from(v6) & m, a.len).map_err(e("subnet"))?)
        }
    })
}

/// The forwarding state `cfg` describes.
pub fn desired(cfg: &Config) -> Result<Desired, BuildError> {
    let mut d = Desired::default();
    for (pi, p) in cfg.ports.iter().enumerate() {
        if p.trunk {
            d.interfaces
                .insert(IfKey::Port(PortId(pi as u16)), IfBinding::Trunk);
        }
    }
    for n in &cfg.neighbors {
        let key = NeighborKey {
            port: PortId(n.port as u16),
            vlan: n.vlan,
            ip: n.ip,
        };
        d.neighbors.insert(key, n.mac);
    }
    for v in &cfg.vrs {
        let id = VrId(v.id);
        d.vrs.insert(
            id,
            VirtualRouter::new(id, v.name.clone(), v.vpn_id, v.tenant.clone()),
        );
        for ifc in &v.interfaces {
            let pid = PortId(ifc.port as u16);
            let key = match ifc.vlan {
                Some(vl) => IfKey::PortVlan(pid, vl),
                None => IfKey::Port(pid),
            };
            d.interfaces.insert(key, IfBinding::Vr(id));
        }
        vr_routes(cfg, v, &mut d.routes)?;
        for sa in &v.esp {
            // Keyed as the state writer keys them: inbound by outer VR, outbound by VR.
            let (table, key_vr) = if sa.inbound {
                (&mut d.esp_in, VrId(sa.outer_vr))
            } else {
                (&mut d.esp_out, id)
            };
            table.insert((key_vr, sa.params.spi), (id, sa.clone()));
        }
    }
    for l in &cfg.label_matrix {
        let label = Label::new_unreserved(l.label).map_err(e("label matrix"))?;
        let op = match l.op {
            LabelOpCfg::Swap { out, port, via: v } => LabelAction::Swap {
                out: Label::new_unreserved(out).map_err(e("label matrix"))?,
                via: via(port, None, v, LabelPush::EMPTY),
            },
            LabelOpCfg::Pop { vr } => LabelAction::PopToVr(VrId(cfg.vrs[vr].id)),
            LabelOpCfg::PopNext => LabelAction::Pop,
            LabelOpCfg::PopForward { port, via: v } => LabelAction::PopAndForward {
                via: via(port, None, v, LabelPush::EMPTY),
            },
        };
        d.labels.insert(label, op);
    }
    Ok(d)
}

/// Routes of the forwarding state: (VR, prefix, source) → next hop specification.
pub type Routes = BTreeMap<(VrId, IpPrefix, RouteSource), NextHop>;

/// The routes VR `v` of `cfg` has: connected subnets, local addresses, host routes of
/// static neighbours on its links, and its static routes (a later route for the same
/// prefix wins, so a static route overrides a neighbour's host route).
pub fn vr_routes(cfg: &Config, v: &VrCfg, routes: &mut Routes) -> Result<(), BuildError> {
    let id = VrId(v.id);
    for ifc in &v.interfaces {
        for a in &ifc.addresses {
            // Connected subnet: destinations are resolved on the link (the unspecified
            // `via` means "the destination itself"); statically known neighbours get
            // host routes through their static entry.
            let unspecified = if a.addr.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            };
            routes.insert(
                (id, subnet(a)?, RouteSource::Connected),
                via(ifc.port, ifc.vlan, unspecified, LabelPush::EMPTY),
            );
            for n in link_neighbors(cfg, ifc, a) {
                routes.insert(
                    (id, IpPrefix::host(n.ip), RouteSource::Static),
                    via(n.port, n.vlan, n.ip, LabelPush::EMPTY),
                );
            }
            routes.insert(
                (id, IpPrefix::host(a.addr), RouteSource::Local),
                NextHop::Local,
            );
        }
    }
    for r in &v.routes {
        // A later route for the same prefix wins.
        routes.insert(
            (id, r.prefix, RouteSource::Static),
            route_next_hop(&r.target)?,
        );
    }
    Ok(())
}

/// The next hop of a static route's target.
fn route_next_hop(target: &RouteTarget) -> Result<NextHop, BuildError> {
    Ok(match target {
        RouteTarget::Blackhole => NextHop::Drop,
        RouteTarget::Via {
            addr,
            port,
            vlan,
            push,
        } => via(*port, *vlan, *addr, labels(push)?),
        RouteTarget::Esp(spi) => NextHop::Esp(EspSaId(*spi)),
    })
}

/// The static neighbours of `cfg` on the link of address `a` of interface `ifc` (not the
/// address itself): each gets a host route in the VR.
fn link_neighbors<'a>(
    cfg: &'a Config,
    ifc: &'a IfCfg,
    a: &'a IfAddr,
) -> impl Iterator<Item = &'a NeighborCfg> + 'a {
    cfg.neighbors.iter().filter(move |n| {
        n.port == ifc.port && n.vlan == ifc.vlan && a.on_link(n.ip) && n.ip != a.addr
    })
}

/// What [`vr_routes`] maps `(VR v, prefix, Static)` to, found without building the VR's
/// routes: its last static route to `prefix`, else the host route of a static neighbour on
/// one of its links; `None` when there is neither.
pub fn static_entry(
    cfg: &Config,
    v: &VrCfg,
    prefix: IpPrefix,
) -> Result<Option<NextHop>, BuildError> {
    let mut found = None;
    for ifc in &v.interfaces {
        for a in &ifc.addresses {
            for n in link_neighbors(cfg, ifc, a) {
                if IpPrefix::host(n.ip) == prefix {
                    found = Some(via(n.port, n.vlan, n.ip, LabelPush::EMPTY));
                }
            }
        }
    }
    if let Some(r) = v.routes.iter().rev().find(|r| r.prefix == prefix) {
        found = Some(route_next_hop(&r.target)?);
    }
    Ok(found)
}

/// The route changes from `old` to `new`, in the order [`diff`] gives them (removals,
/// then additions and changes, each by key), for VRs that exist on both sides and stay
/// the same VR (same id, name and VPN id): what a change of only routes needs, without
/// building and comparing the whole state.
pub fn route_diff(old: &Routes, new: &Routes) -> Vec<Change> {
    let mut out: Vec<Change> = old
        .keys()
        .filter(|k| !new.contains_key(k))
        .map(|&(vr, prefix, source)| Change::RemoveRoute { vr, prefix, source })
        .collect();
    for (&(vr, prefix, source), nh) in new {
        if old.get(&(vr, prefix, source)) != Some(nh) {
            out.push(Change::SetRoute {
                vr,
                prefix,
                source,
                via: *nh,
            });
        }
    }
    out
}

/// The changes that take the state from `old` to `new`, in an order the writer accepts:
/// what goes first (labels, bindings, routes, VRs), then what comes (VRs, bindings, routes,
/// labels, neighbours). A VR whose name or VPN id changed is removed and added again (with
/// its routes and bindings); one whose tenant changed only changes hands
/// ([`Change::SetTenant`]): its tables, sessions and counters stay.
///
/// ESP SAs that are new or changed get a fresh [`esp::Sa`] sized for `workers` (a changed
/// key is a rekey: sequence numbers start again); unchanged ones are left alone, so their
/// sequence numbers and replay windows carry on across a reload.
pub fn diff(old: &Desired, new: &Desired, workers: usize) -> Result<Vec<Change>, BuildError> {
    let mut out = Vec::new();
    let reborn: Vec<VrId> = new
        .vrs
        .iter()
        .filter(|(id, v)| {
            old.vrs
                .get(id)
                .is_some_and(|o| o.name != v.name || o.vpn_id != v.vpn_id)
        })
        .map(|(id, _)| *id)
        .collect();
    let gone = |id: &VrId| !new.vrs.contains_key(id) || reborn.contains(id);
    let fresh = |id: &VrId| !old.vrs.contains_key(id) || reborn.contains(id);

    // Out.
    for (l, a) in &old.labels {
        let pops_gone = matches!(a, LabelAction::PopToVr(v) if gone(v));
        if !new.labels.contains_key(l) && !pops_gone {
            out.push(Change::RemoveLabel(*l));
        }
    }
    for (k, b) in &old.interfaces {
        let vr_gone = matches!(b, IfBinding::Vr(v) if gone(v));
        if new.interfaces.get(k) != Some(b) && !vr_gone {
            out.push(Change::Unbind(*k));
        }
    }
    for key @ (vr, prefix, source) in old.routes.keys() {
        if !gone(vr) && !new.routes.contains_key(key) {
            out.push(Change::RemoveRoute {
                vr: *vr,
                prefix: *prefix,
                source: *source,
            });
        }
    }
    // (Removing a VR removes the SAs that name it, as their VR or their outer VR.)
    let sa_gone = |vr: &VrId, sa: &EspSaCfg| gone(vr) || gone(&VrId(sa.outer_vr));
    for (k @ (outer, spi), (vr, sa)) in &old.esp_in {
        if !sa_gone(vr, sa) && new.esp_in.get(k) != Some(&(*vr, sa.clone())) {
            out.push(Change::RemoveEspInbound(InboundKey::new(*outer, *spi)));
        }
    }
    for (k @ (kvr, spi), (vr, sa)) in &old.esp_out {
        if !sa_gone(vr, sa) && new.esp_out.get(k) != Some(&(*vr, sa.clone())) {
            out.push(Change::RemoveEspOutbound(OutboundKey::new(
                *kvr,
                EspSaId(*spi),
            )));
        }
    }
    for id in old.vrs.keys().filter(|id| gone(id)) {
        out.push(Change::RemoveVr(*id));
    }
    for k in old.neighbors.keys() {
        if !new.neighbors.contains_key(k) {
            out.push(Change::SetNeighbor(*k, None));
        }
    }
    // In.
    for (id, v) in &new.vrs {
        if fresh(id) {
            out.push(Change::AddVr(v.clone()));
        } else if old.vrs.get(id).is_some_and(|o| o.tenant != v.tenant) {
            // Delegation changes who manages the VR, not what it forwards.
            out.push(Change::SetTenant(*id, v.tenant.clone()));
        }
    }
    for (k, mac) in &new.neighbors {
        if old.neighbors.get(k) != Some(mac) {
            out.push(Change::SetNeighbor(*k, Some(*mac)));
        }
    }
    for (k, b) in &new.interfaces {
        let vr_fresh = matches!(b, IfBinding::Vr(v) if fresh(v));
        if old.interfaces.get(k) != Some(b) || vr_fresh {
            out.push(Change::Bind(*k, *b));
        }
    }
    for (key @ (vr, prefix, source), nh) in &new.routes {
        if fresh(vr) || old.routes.get(key) != Some(nh) {
            out.push(Change::SetRoute {
                vr: *vr,
                prefix: *prefix,
                source: *source,
                via: *nh,
            });
        }
    }
    for (l, a) in &new.labels {
        let pops_fresh = matches!(a, LabelAction::PopToVr(v) if fresh(v));
        if old.labels.get(l) != Some(a) || pops_fresh {
            out.push(Change::SetLabel(*l, *a));
        }
    }
    let sa_fresh = |vr: &VrId, sa: &EspSaCfg| fresh(vr) || fresh(&VrId(sa.outer_vr));
    for (k, (vr, sa)) in &new.esp_in {
        let old_sa = old.esp_in.get(k);
        if old_sa != Some(&(*vr, sa.clone())) || sa_fresh(vr, sa) {
            out.push(Change::SetEspInbound(tunnel(*vr, sa, workers)?));
        }
    }
    for (k @ (_, spi), (vr, sa)) in &new.esp_out {
        let old_sa = old.esp_out.get(k);
        if old_sa != Some(&(*vr, sa.clone())) || sa_fresh(vr, sa) {
            out.push(Change::SetEspOutbound(
                EspSaId(*spi),
                tunnel(*vr, sa, workers)?,
            ));
        }
    }
    Ok(out)
}

/// A fresh SA and its tunnel.
fn tunnel(vr: VrId, sa: &EspSaCfg, workers: usize) -> Result<Arc<EspTunnel>, BuildError> {
    let s = esp::Sa::new(&sa.params, workers).map_err(e("ESP SA"))?;
    Ok(Arc::new(EspTunnel {
        name: sa.name.as_str().into(),
        sa: Arc::new(s),
        vr,
        outer_vr: VrId(sa.outer_vr),
        local: sa.local,
        remote: sa.remote,
        udp: sa.udp.map(|(l, r)| EspUdp {
            local_port: l,
            remote_port: r,
        }),
        dscp: sa.dscp,
        sources: sa
            .sources
            .as_ref()
            .map(|p| Arc::new(vr::SourceSelector::from_prefixes(p))),
    }))
}

/// The changes that build `cfg`'s tables from nothing.
pub fn initial(cfg: &Config, workers: usize) -> Result<Vec<Change>, BuildError> {
    diff(&Desired::default(), &desired(cfg)?, workers)
}
