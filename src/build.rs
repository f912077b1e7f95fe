//! Compiles a validated profile into the forwarding tables the workers read.

use crate::config::{Config, IfAddr, LabelOpCfg, RouteTarget};
use labelswitch::{Label, LabelOp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vr::{
    ForwardingState, ForwardingStateBuilder, IfBinding, IfKey, LabelPush, NextHop, NextHopId,
    PortId, Prefix4, Prefix6, VrId,
};

/// A table compilation failure (a profile that passed `check` should never produce one;
/// these are the table builders' own limits).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

fn e<E: std::fmt::Display>(ctx: &str) -> impl Fn(E) -> BuildError + '_ {
    move |err| BuildError(format!("{ctx}: {err}"))
}

fn neighbor_mac(cfg: &Config, port: usize, vlan: Option<u16>, ip: IpAddr) -> Option<[u8; 6]> {
    cfg.neighbors
        .iter()
        .find(|n| n.port == port && n.vlan == vlan && n.ip == ip)
        .map(|n| n.mac)
}

fn next_hop(
    cfg: &Config,
    port: usize,
    vlan: Option<u16>,
    via: IpAddr,
    push: &[u32],
) -> Result<NextHop, BuildError> {
    let labels = push
        .iter()
        .map(|l| Label::new_unreserved(*l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(e("route label"))?;
    let lp = LabelPush::new(&labels).map_err(e("route labels"))?;
    let pid = PortId(port as u16);
    Ok(match neighbor_mac(cfg, port, vlan, via) {
        Some(mac) => NextHop::Forward {
            port: pid,
            vlan,
            src_mac: cfg.ports[port].mac,
            dst_mac: mac,
            push: lp,
        },
        None => NextHop::Unresolved {
            port: pid,
            vlan,
            via,
            push: lp,
        },
    })
}

fn host_prefix(a: IpAddr) -> Result<Either, BuildError> {
    Ok(match a {
        IpAddr::V4(v4) => Either::V4(Prefix4::new(u32::from(v4), 32).map_err(e("address"))?),
        IpAddr::V6(v6) => Either::V6(Prefix6::new(u128::from(v6), 128).map_err(e("address"))?),
    })
}

fn subnet(a: &IfAddr) -> Result<Either, BuildError> {
    Ok(match a.addr {
        IpAddr::V4(v4) => {
            let m = if a.len == 0 {
                0
            } else {
                u32::MAX << (32 - a.len)
            };
            Either::V4(Prefix4::new(u32::from(v4) & m, a.len).map_err(e("subnet"))?)
        }
        IpAddr::V6(v6) => {
            let m = if a.len == 0 {
                0
            } else {
                u128::MAX << (128 - a.len)
            };
            Either::V6(Prefix6::new(u128::from(v6) & m, a.len).map_err(e("subnet"))?)
        }
    })
}

enum Either {
    V4(Prefix4),
    V6(Prefix6),
}

fn add_route(
    b: &mut ForwardingStateBuilder,
    vr: VrId,
    p: Either,
    nh: NextHopId,
) -> Result<(), BuildError> {
    match p {
        Either::V4(p) => b.add_route4(vr, p, nh),
        Either::V6(p) => b.add_route6(vr, p, nh),
    }
    .map_err(e("route"))
}

/// Builds the first table version from a profile.
pub fn compile(cfg: &Config) -> Result<ForwardingState, BuildError> {
    compile_builder(cfg)?.build(1).map_err(e("tables"))
}

/// The control plane's editable mirror of the first table version (the control core keeps
/// it to publish neighbor resolutions).
pub fn compile_builder(cfg: &Config) -> Result<ForwardingStateBuilder, BuildError> {
    let mut b = ForwardingStateBuilder::new();
    let local = b.add_next_hop(NextHop::Local);
    let drop = b.add_next_hop(NextHop::Drop);

    for (pi, p) in cfg.ports.iter().enumerate() {
        if p.trunk {
            b.bind_interface(IfKey::Port(PortId(pi as u16)), IfBinding::Trunk)
                .map_err(e("trunk"))?;
        }
    }
    for v in &cfg.vrs {
        let id = VrId(v.id);
        b.add_vr(id).map_err(e("vr"))?;
        for ifc in &v.interfaces {
            let pid = PortId(ifc.port as u16);
            let key = match ifc.vlan {
                Some(vl) => IfKey::PortVlan(pid, vl),
                None => IfKey::Port(pid),
            };
            b.bind_interface(key, IfBinding::Vr(id))
                .map_err(e("interface"))?;
            for a in &ifc.addresses {
                // Connected subnet: destinations are resolved on the link (glean: the
                // unspecified `via` means "the destination itself"); statically known
                // neighbors get host routes that need no resolution.
                let unspecified = if a.addr.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                };
                let glean = b.add_next_hop(NextHop::Unresolved {
                    port: pid,
                    vlan: ifc.vlan,
                    via: unspecified,
                    push: LabelPush::default(),
                });
                add_route(&mut b, id, subnet(a)?, glean)?;
                for n in cfg.neighbors.iter().filter(|n| {
                    n.port == ifc.port && n.vlan == ifc.vlan && a.on_link(n.ip) && n.ip != a.addr
                }) {
                    let nh = b.add_next_hop(next_hop(cfg, n.port, n.vlan, n.ip, &[])?);
                    add_route(&mut b, id, host_prefix(n.ip)?, nh)?;
                }
                add_route(&mut b, id, host_prefix(a.addr)?, local)?;
            }
        }
        for r in &v.routes {
            let nh = match &r.target {
                RouteTarget::Blackhole => drop,
                RouteTarget::Via {
                    addr,
                    port,
                    vlan,
                    push,
                } => b.add_next_hop(next_hop(cfg, *port, *vlan, *addr, push)?),
            };
            let p = match r.prefix {
                crate::config::IpPrefix::V4(p) => Either::V4(p),
                crate::config::IpPrefix::V6(p) => Either::V6(p),
            };
            add_route(&mut b, id, p, nh)?;
        }
    }
    for l in &cfg.label_matrix {
        let label = Label::new_unreserved(l.label).map_err(e("label matrix"))?;
        let op = match l.op {
            LabelOpCfg::Swap { out, port, via } => {
                let nh = b.add_next_hop(next_hop(cfg, port, None, via, &[])?);
                LabelOp::Swap {
                    out: Label::new_unreserved(out).map_err(e("label matrix"))?,
                    next_hop: nh.0,
                }
            }
            LabelOpCfg::Pop { vr } => LabelOp::PopToVr { vr: cfg.vrs[vr].id },
            LabelOpCfg::PopNext => LabelOp::Pop,
            LabelOpCfg::PopForward { port, via } => {
                let nh = b.add_next_hop(next_hop(cfg, port, None, via, &[])?);
                LabelOp::PopAndForward { next_hop: nh.0 }
            }
        };
        b.insert_label(label, op).map_err(e("label matrix"))?;
    }
    Ok(b)
}
