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

use crate::config::{Config, IfAddr, LabelOpCfg, RouteTarget};

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
    pub routes: BTreeMap<(VrId, IpPrefix, RouteSource), NextHop>,
    /// Label operations.
    pub labels: BTreeMap<Label, LabelAction>,
    /// Static neighbours.
    pub neighbors: BTreeMap<NeighborKey, [u8; 6]>,
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
            for a in &ifc.addresses {
                // Connected subnet: destinations are resolved on the link (the unspecified
                // `via` means "the destination itself"); statically known neighbours get
                // host routes through their static entry.
                let unspecified = if a.addr.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                };
                d.routes.insert(
                    (id, subnet(a)?, RouteSource::Connected),
                    via(ifc.port, ifc.vlan, unspecified, LabelPush::EMPTY),
                );
                for n in cfg.neighbors.iter().filter(|n| {
                    n.port == ifc.port && n.vlan == ifc.vlan && a.on_link(n.ip) && n.ip != a.addr
                }) {
                    d.routes.insert(
                        (id, IpPrefix::host(n.ip), RouteSource::Static),
                        via(n.port, n.vlan, n.ip, LabelPush::EMPTY),
                    );
                }
                d.routes.insert(
                    (id, IpPrefix::host(a.addr), RouteSource::Local),
                    NextHop::Local,
                );
            }
        }
        for r in &v.routes {
            let nh = match &r.target {
                RouteTarget::Blackhole => NextHop::Drop,
                RouteTarget::Via {
                    addr,
                    port,
                    vlan,
                    push,
                } => via(*port, *vlan, *addr, labels(push)?),
            };
            // A later route for the same prefix wins.
            d.routes.insert((id, r.prefix, RouteSource::Static), nh);
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

/// The changes that take the state from `old` to `new`, in an order the writer accepts:
/// what goes first (labels, bindings, routes, VRs), then what comes (VRs, bindings, routes,
/// labels, neighbours). A VR whose identity (name, VPN id, tenant) changed is removed and
/// added again (with its routes and bindings).
pub fn diff(old: &Desired, new: &Desired) -> Vec<Change> {
    let mut out = Vec::new();
    let reborn: Vec<VrId> = new
        .vrs
        .iter()
        .filter(|(id, v)| old.vrs.get(id).is_some_and(|o| o != *v))
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
    out
}

/// The changes that build `cfg`'s tables from nothing.
pub fn initial(cfg: &Config) -> Result<Vec<Change>, BuildError> {
    Ok(diff(&Desired::default(), &desired(cfg)?))
}
