//! Reloading the profile of a running appliance (SIGHUP).
//!
//! The new profile is checked like at startup, then compared with the **running**
//! configuration (the one the last successful reload applied, not the one the appliance
//! started with):
//!
//! * What can only change with a restart — ports (name, backend, device, MAC, MTU, trunk
//!   flag), cores, the DPDK EAL settings, the label range, the generator flows — is named,
//!   and then nothing is applied: the running state stays exactly as it was.
//! * Everything else is applied live, all or nothing: VRs added and removed (a VR whose
//!   name or VPN id changed is re-created; a new tenant only changes hands), interface ↔
//!   VR bindings, addresses, routes, label operations, static neighbours as one list of
//!   table changes checked first and then applied through the incremental writer (published as one version, so
//!   the workers see the old tables or the new, and the VRs it does not touch keep
//!   forwarding untouched); then the services: router interfaces for ARP/ND and ICMP, and
//!   each VR's L2TP endpoint (a role change drains the VR's tunnels first; other L2TP
//!   setting changes restart that VR's endpoint), and VR discovery (a VR of a VPN with a
//!   discovery key that appears is announced, one that goes is withdrawn).
//!
//! Every change applied is printed, as is every refusal with its reason.

use std::path::Path;
use std::time::Instant;

use controlcore::Core;
use controlplane::discovery::service::DiscoveryService;
use controlplane::icmp::service::IcmpService;
use controlplane::l2tp::service::L2tpService;
use controlplane::neighbor::service::NeighborService;
use controlplane::packet::IfaceChanges;
use controlplane::vpnpeer::service::VpnPeerService;
use dataplane::buffer::PacketBuf;

use crate::config::Config;

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new profile does not check; nothing applied.
    Invalid(usize),
    /// Some differences need a restart; nothing applied.
    NeedsRestart(Vec<String>),
    /// The table changes were refused (a bug: both profiles checked); nothing applied.
    Refused(String),
    /// Applied: one line per change.
    Applied(Vec<String>),
}

/// What differs between `old` and `new` that cannot change while running.
pub fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    let mut why = Vec::new();
    if old.ports.len() != new.ports.len() {
        why.push(format!(
            "the number of ports ({} → {})",
            old.ports.len(),
            new.ports.len()
        ));
    }
    for (a, b) in old.ports.iter().zip(&new.ports) {
        if a.name != b.name {
            why.push(format!("port `{}` renamed to `{}`", a.name, b.name));
        }
        if a.backend != b.backend {
            why.push(format!("the backend of port `{}`", b.name));
        }
        if a.mac != b.mac {
            why.push(format!("the MAC address of port `{}`", b.name));
        }
        if a.mtu != b.mtu {
            why.push(format!("the MTU of port `{}`", b.name));
        }
        if a.trunk != b.trunk {
            why.push(format!("whether port `{}` is a trunk", b.name));
        }
    }
    if old.worker_cores != new.worker_cores || old.control_core != new.control_core {
        why.push("the cores (`cores:`)".into());
    }
    if old.dpdk != new.dpdk {
        why.push("the DPDK settings (`dpdk:`)".into());
    }
    if old.label_range != new.label_range {
        why.push("the label range (`labels:`)".into());
    }
    let api = |c: &Config| {
        c.management
            .as_ref()
            .map(|m| (m.listen, m.tls.clone(), m.portal.clone()))
    };
    if api(old) != api(new) {
        why.push("the management API's address, TLS files or web page (`management.listen`, `management.tls`, `management.portal`, or the section itself)".into());
    }
    if old.aaa != new.aaa {
        why.push("the AAA (`aaa:`; its thread, listener and database are set up at start)".into());
    }
    if old.ldp != new.ldp {
        why.push("LDP (`ldp:`; its thread and sockets are set up at start)".into());
    }
    if old.mobile_ip != new.mobile_ip {
        why.push("the Mobile IP agents (`mobile_ip:`; their sockets, Diameter thread and keys are set up at start)".into());
    }
    if old.discovery != new.discovery {
        why.push("VR discovery (`discovery:`; its socket, router list, keys and timers are set up at start — VRs joining and leaving it are applied live)".into());
    }
    if old.vpn_peering != new.vpn_peering {
        why.push("VPN peering (`vpn_peering:`; its sockets, secrets, RADIUS, timers and transport paths are set up at start — VRs joining and leaving it are applied live)".into());
    }
    if format!("{:?}", old.flows) != format!("{:?}", new.flows) {
        why.push("the generator flows (`traffic:`)".into());
    }
    why
}

/// Re-reads `path` and applies it to `core`; `running` becomes the new profile when it is
/// applied. Prints what happened (stderr).
pub fn reload<B: PacketBuf>(
    core: &mut Core<B>,
    running: &mut Config,
    path: &Path,
    now: Instant,
) -> Outcome {
    let new = match crate::load_config(path) {
        Ok(c) => c,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            eprintln!(
                "varouter: reload refused ({} errors); running configuration kept",
                errs.len()
            );
            return Outcome::Invalid(errs.len());
        }
    };
    let outcome = apply(core, running, new, now);
    match &outcome {
        Outcome::NeedsRestart(why) => {
            for w in why {
                eprintln!("varouter: reload: changing {w} needs a restart");
            }
            eprintln!(
                "varouter: reload of {} refused: it changes what needs a restart; nothing applied, running configuration kept",
                path.display()
            );
        }
        Outcome::Refused(e) => eprintln!(
            "varouter: reload of {} refused: {e}; nothing applied, running configuration kept",
            path.display()
        ),
        Outcome::Applied(lines) => {
            for l in lines {
                eprintln!("varouter: reload: {l}");
            }
            eprintln!(
                "varouter: reload of {}: {} live change(s) applied",
                path.display(),
                lines.len()
            );
        }
        Outcome::Invalid(_) => {}
    }
    outcome
}

/// Applies `new` over `running` (see the module docs).
pub fn apply<B: PacketBuf>(
    core: &mut Core<B>,
    running: &mut Config,
    new: Config,
    now: Instant,
) -> Outcome {
    let why = restart_needed(running, &new);
    if !why.is_empty() {
        return Outcome::NeedsRestart(why);
    }
    let (old_d, new_d) = match (
        crate::tables::desired(running),
        crate::tables::desired(&new),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Outcome::Refused(e.to_string()),
    };
    let workers = core.writer_mut().workers();
    let changes = match crate::tables::diff(&old_d, &new_d, workers) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    if let Err((i, e)) = core.writer().check(&changes) {
        return Outcome::Refused(format!("{}: {e}", changes[i]));
    }
    // Sessions moved into a VR that goes (management, docs/api.md) go back to their own.
    let gone: Vec<vr::VrId> = running
        .vrs
        .iter()
        .filter(|v| !new.vrs.iter().any(|n| n.id == v.id))
        .map(|v| vr::VrId(v.id))
        .collect();
    let returned = if gone.is_empty() {
        0
    } else {
        let names: Vec<(u32, String)> = new.vrs.iter().map(|v| (v.id, v.name.clone())).collect();
        core.with_service::<L2tpService, _>(now, |s, cx| {
            s.return_from(cx, &gone, |id| {
                names
                    .iter()
                    .find(|(i, _)| *i == id.0)
                    .map_or_else(String::new, |n| n.1.clone())
            })
        })
        .unwrap_or(0)
    };
    if let Err((i, e)) = core.writer_mut().apply(&changes) {
        return Outcome::Refused(format!("{}: {e}", changes[i]));
    }
    let mut lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    if returned > 0 {
        lines.push(format!(
            "{returned} session(s) moved into removed VRs went back to their own VRs"
        ));
    }

    // Services.
    let ifaces = crate::services::interfaces(&new);
    let statics = crate::services::static_neighbors(&new);
    let changed = core.with_service::<NeighborService, _>(now, |s, cx| {
        s.set_static(statics);
        s.set_interfaces(cx, ifaces.clone())
    });
    if changed.is_some_and(|c| c != IfaceChanges::default()) {
        lines.push("router interfaces and addresses updated (ARP/ND, ICMP)".into());
    }
    core.with_service::<IcmpService, _>(now, |s, _| s.set_interfaces(ifaces));
    let eps = crate::services::l2tp_endpoints(&new);
    for v in &new.vrs {
        let old = running.vrs.iter().find(|o| o.id == v.id);
        match (old.and_then(|o| o.l2tp.as_ref()), &v.l2tp) {
            (Some(a), Some(b)) if a.role != b.role => lines.push(format!(
                "VR {} switches L2TP role to {:?} (draining its tunnels)",
                v.name, b.role
            )),
            (None, Some(_)) => lines.push(format!("VR {} starts an L2TP endpoint", v.name)),
            (Some(_), None) => lines.push(format!("VR {} stops its L2TP endpoint", v.name)),
            _ => {}
        }
    }
    let restarted = core
        .with_service::<L2tpService, _>(now, |s, cx| s.configure(cx, eps))
        .unwrap_or_default();
    for vr in restarted {
        if let (Some(a), Some(b)) = (
            running.vrs.iter().find(|o| o.id == vr.0),
            new.vrs.iter().find(|o| o.id == vr.0),
        ) {
            if a.l2tp.is_some() && b.l2tp.is_some() {
                lines.push(format!(
                    "VR {} restarts its L2TP endpoint (settings changed)",
                    b.name
                ));
            }
        }
    }
    for v in &new.vrs {
        let old = running
            .vrs
            .iter()
            .find(|o| o.id == v.id)
            .and_then(|o| o.ppp.as_ref());
        match (old, &v.ppp) {
            (None, Some(_)) => lines.push(format!("VR {} starts terminating PPP", v.name)),
            (Some(_), None) => lines.push(format!(
                "VR {} stops terminating PPP (its subscribers are disconnected)",
                v.name
            )),
            (Some(a), Some(b)) if a != b => lines.push(format!(
                "VR {} PPP settings updated (subscribers stay up with their addresses)",
                v.name
            )),
            _ => {}
        }
    }
    let subs = crate::services::subscribers(&new);
    core.with_service::<L2tpService, _>(now, |s, cx| s.configure_subscribers(cx, subs));
    let access = crate::services::access(&new);
    core.with_service::<L2tpService, _>(now, |s, cx| s.configure_access(cx, access));
    follow_subscribers(core, now, &mut lines);
    // VR discovery: VRs that joined are announced, those that left withdrawn.
    let local = crate::services::discovery_vrs(&new);
    if let Some(l) = core.with_service::<DiscoveryService, _>(now, |s, cx| s.configure(cx, local)) {
        lines.extend(l);
    }
    // VPN peering: VRs that joined get a label and channels, every VR's announced routes
    // follow its table.
    let local = crate::services::vpn_peering_vrs(&new);
    if let Some(l) = core.with_service::<VpnPeerService, _>(now, |s, cx| s.configure(cx, local)) {
        lines.extend(l);
    }
    *running = new;
    Outcome::Applied(lines)
}

/// Applies `new`, which differs from `running` only in VRs' static routes, with the table
/// `changes` that take the state there ([`crate::tables::route_diff`] of the touched VRs,
/// what [`apply`] would compute for it): no service depends on static routes, so none is
/// reconfigured, but subscriber sessions follow a new path to their LAC as in [`apply`].
/// Not published: the caller publishes.
pub fn apply_routes<B: PacketBuf>(
    core: &mut Core<B>,
    running: &mut Config,
    new: Config,
    changes: &[vr::Change],
    now: Instant,
) -> Outcome {
    if let Err((i, e)) = core.writer_mut().apply(changes) {
        return Outcome::Refused(format!("{}: {e}", changes[i]));
    }
    let mut lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    follow_subscribers(core, now, &mut lines);
    // VPN peering: the touched VRs announce their changed routes.
    let touched: std::collections::BTreeSet<vr::VrId> = changes
        .iter()
        .filter_map(|c| match c {
            vr::Change::SetRoute { vr, .. } | vr::Change::RemoveRoute { vr, .. } => Some(*vr),
            _ => None,
        })
        .collect();
    core.with_service::<VpnPeerService, _>(now, |s, cx| s.routes_changed(cx, &touched));
    *running = new;
    Outcome::Applied(lines)
}

fn follow_subscribers<B: PacketBuf>(core: &mut Core<B>, now: Instant, lines: &mut Vec<String>) {
    // Subscriber routes encapsulate towards their LAC along the VR's route to it: with the
    // new tables published, sessions whose path changed are re-pointed. (Without
    // subscribers there is nothing to re-point, and the publish is left to the caller, so
    // that the management API can carry several transactions in one version.)
    let subscribers = core
        .service::<L2tpService>()
        .is_some_and(|s| s.subscribers().count() > 0);
    if subscribers {
        core.publish();
    }
    let moved = core
        .with_service::<L2tpService, _>(now, |s, cx| s.refresh_subscriber_egress(cx))
        .unwrap_or(0);
    if moved > 0 {
        lines.push(format!(
            "{moved} subscriber session(s) follow a new path to their LAC"
        ));
    }
}
