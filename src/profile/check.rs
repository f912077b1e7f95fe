//! Semantic validation of a parsed profile: every error is collected, not only the first.

mod aaa;
mod discovery;
mod esp;
mod ldp;
mod mgmt;
mod mobile_ip;
mod vpn_peering;

use super::{Profile, ProfileError, S};
use crate::config::*;
use serde_saphyr::Location;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::str::FromStr;

/// Lowest label a profile may use (0..=15 are reserved by RFC 3032).
pub const LABEL_MIN: u32 = 16;
/// Highest 20-bit label.
pub const LABEL_MAX: u32 = (1 << 20) - 1;
/// Most labels a route may push.
pub const MAX_PUSH: usize = 4;
/// Bytes a generated frame needs after its L2/MPLS headers: IP + UDP + the 16-byte flow tag.
const FLOW_TAG_LEN: usize = 16;

/// Backends a profile may name, and the ones that exist in this build.
const KNOWN_BACKENDS: &[&str] = &["mem", "pcap", "dpdk", "af_packet"];

struct Checker<'a> {
    file: &'a Path,
    errors: Vec<ProfileError>,
}

impl Checker<'_> {
    /// A unicast IPv4 address (not 0.0.0.0, broadcast or multicast: a router id, an LSR id,
    /// a next hop) at `what` (e.g. `ldp.lsr_id`); an error showing `example` otherwise.
    fn unicast_v4(&mut self, v: &S<String>, what: &str, example: &str) -> Option<Ipv4Addr> {
        match Ipv4Addr::from_str(&v.value) {
            Ok(a) if a.is_unspecified() || a.is_broadcast() || a.is_multicast() => {
                self.err(
                    v.referenced,
                    format!(
                        "{what} `{}` is not a unicast address; expected e.g. {example}",
                        v.value
                    ),
                );
                None
            }
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    v.referenced,
                    format!(
                        "{what} `{}` is not an IPv4 address; expected dotted form like {example}",
                        v.value
                    ),
                );
                None
            }
        }
    }

    fn err(&mut self, loc: Location, msg: impl Into<String>) {
        self.errors.push(ProfileError::at(self.file, loc, msg));
    }
}

/// Validates a profile and resolves it into a [`Config`]. `file` names the profile in
/// messages and anchors relative capture paths.
pub fn check(file: &Path, p: &Profile) -> Result<Config, Vec<ProfileError>> {
    let mut c = Checker {
        file,
        errors: Vec::new(),
    };
    let base = file.parent().unwrap_or(Path::new("."));

    let router_id = match Ipv4Addr::from_str(&p.router_id.value) {
        Ok(a) => a,
        Err(_) => {
            c.err(
                p.router_id.referenced,
                format!(
                    "router_id `{}` is not an IPv4 address; expected dotted form like 192.0.2.1",
                    p.router_id.value
                ),
            );
            Ipv4Addr::UNSPECIFIED
        }
    };

    // Cores.
    let mut seen_cores = HashSet::new();
    if let Some(cc) = &p.cores.control {
        seen_cores.insert(cc.value);
    }
    let mut worker_cores = Vec::new();
    for w in &p.cores.workers {
        if !seen_cores.insert(w.value) {
            c.err(
                w.referenced,
                format!(
                    "core {} is used twice; each worker (and the control thread) needs its own core",
                    w.value
                ),
            );
        }
        worker_cores.push(w.value);
    }

    // Ports.
    let mut port_ix: HashMap<&str, usize> = HashMap::new();
    let mut ports = Vec::new();
    for (i, port) in p.ports.iter().enumerate() {
        let name = port.name.value.as_str();
        if name.is_empty() {
            c.err(
                port.name.referenced,
                "port name is empty; expected a name like `user0`",
            );
        } else if port_ix.insert(name, i).is_some() {
            c.err(
                port.name.referenced,
                format!("port `{name}` is defined twice; port names must be unique"),
            );
        }
        let mac = parse_mac(&mut c, &port.mac);
        if mac[0] & 1 == 1 {
            c.err(
                port.mac.referenced,
                format!(
                    "port MAC {} is a multicast address; expected a unicast MAC",
                    port.mac.value
                ),
            );
        }
        let trunk = port.trunk.as_ref().is_some_and(|t| t.value);
        let backend = match port.backend.value.as_str() {
            "mem" => {
                for f in [&port.rx, &port.tx].into_iter().flatten() {
                    c.err(
                        f.referenced,
                        "`rx`/`tx` capture files only apply to the `pcap` backend",
                    );
                }
                Backend::Mem
            }
            "pcap" => {
                if port.rx.is_none() && port.tx.is_none() {
                    c.err(
                        port.backend.referenced,
                        format!("pcap port `{name}` has neither `rx` nor `tx`; expected at least one capture file"),
                    );
                }
                Backend::Pcap {
                    rx: port.rx.as_ref().map(|r| base.join(&r.value)),
                    tx: port.tx.as_ref().map(|t| base.join(&t.value)),
                }
            }
            "dpdk" => {
                for f in [&port.rx, &port.tx].into_iter().flatten() {
                    c.err(
                        f.referenced,
                        "`rx`/`tx` capture files only apply to the `pcap` backend; for a `dpdk` port give `net_pcap` vdev arguments in `dpdk.vdevs`",
                    );
                }
                match &port.device {
                    Some(d) if !d.value.trim().is_empty() => Backend::Dpdk {
                        device: d.value.clone(),
                    },
                    _ => {
                        c.err(
                            port.backend.referenced,
                            format!("dpdk port `{name}` has no `device`; expected a vdev name from `dpdk.vdevs` (net_pcap0), a PCI address (0000:3b:00.0) or a DPDK port id"),
                        );
                        Backend::Dpdk {
                            device: String::new(),
                        }
                    }
                }
            }
            "af_packet" => {
                for f in [&port.rx, &port.tx].into_iter().flatten() {
                    c.err(
                        f.referenced,
                        "`rx`/`tx` capture files only apply to the `pcap` backend",
                    );
                }
                if let Some(m) = &port.mtu {
                    c.err(
                        m.referenced,
                        format!("af_packet port `{name}` takes its MTU from the interface; remove `mtu` (set it with `ip link set <interface> mtu {}`)", m.value),
                    );
                }
                match &port.interface {
                    Some(i)
                        if !i.value.is_empty()
                            && i.value.len() < 16
                            && !i.value.contains(['/', ' ', '\0']) =>
                    {
                        Backend::AfPacket {
                            interface: i.value.clone(),
                        }
                    }
                    Some(i) => {
                        c.err(
                            i.referenced,
                            format!("`{}` is not a valid Linux interface name; expected 1 to 15 characters without `/` or spaces", i.value),
                        );
                        Backend::Mem
                    }
                    None => {
                        c.err(
                            port.backend.referenced,
                            format!("af_packet port `{name}` has no `interface`; expected the Linux interface to bind (`interface: eth1`)"),
                        );
                        Backend::Mem
                    }
                }
            }
            other => {
                c.err(
                    port.backend.referenced,
                    format!(
                        "unknown backend `{other}`; expected one of: {}",
                        KNOWN_BACKENDS.join(", ")
                    ),
                );
                Backend::Mem
            }
        };
        if let (Some(i), false) = (&port.interface, matches!(backend, Backend::AfPacket { .. })) {
            c.err(
                i.referenced,
                format!(
                    "`interface` only applies to the `af_packet` backend; port `{name}` uses `{}`",
                    port.backend.value
                ),
            );
        }
        let mut addresses = Vec::new();
        for a in &port.addresses {
            if let Some(ifa) = parse_ifaddr(&mut c, a) {
                addresses.push(ifa);
            }
        }
        if !trunk && !port.addresses.is_empty() {
            c.err(
                port.addresses[0].referenced,
                format!("port `{name}` is not a trunk: customer addresses belong to a VR interface (virtual_routers[].interfaces[].addresses), not to the port"),
            );
        }
        let mtu = match &port.mtu {
            Some(m) if !(68..=9000).contains(&m.value) => {
                c.err(
                    m.referenced,
                    format!("mtu {} is out of range; expected 68..=9000", m.value),
                );
                1500
            }
            Some(m) => m.value,
            None => 1500,
        };
        ports.push(PortCfg {
            name: name.to_string(),
            backend,
            mac,
            trunk,
            addresses,
            mtu,
        });
    }
    if p.ports.len() > usize::from(u16::MAX) {
        c.err(Location::UNKNOWN, "too many ports; at most 65535");
    }
    let known_ports = || {
        let mut v: Vec<&str> = p.ports.iter().map(|p| p.name.value.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.join(", ")
    };
    let lookup_port = |c: &mut Checker, n: &S<String>| -> Option<usize> {
        let r = port_ix.get(n.value.as_str()).copied();
        if r.is_none() {
            c.err(
                n.referenced,
                format!(
                    "port `{}` is not defined; known ports: {}",
                    n.value,
                    known_ports()
                ),
            );
        }
        r
    };

    // Labels range.
    let label_range = match &p.labels {
        Some(r) => {
            let mut ok = true;
            if r.min.value < LABEL_MIN {
                c.err(
                    r.min.referenced,
                    format!(
                        "label range min {} is reserved; expected ≥ {LABEL_MIN}",
                        r.min.value
                    ),
                );
                ok = false;
            }
            if r.max.value > LABEL_MAX {
                c.err(
                    r.max.referenced,
                    format!(
                        "label range max {} is not a 20-bit label; expected ≤ {LABEL_MAX}",
                        r.max.value
                    ),
                );
                ok = false;
            }
            if r.min.value > r.max.value {
                c.err(
                    r.min.referenced,
                    format!(
                        "label range min {} is above max {}",
                        r.min.value, r.max.value
                    ),
                );
                ok = false;
            }
            if ok {
                r.min.value..=r.max.value
            } else {
                LABEL_MIN..=LABEL_MAX
            }
        }
        None => LABEL_MIN..=LABEL_MAX,
    };

    // VRs: first pass for ids and names, so references can be checked in any order.
    let mut vr_ids = HashSet::new();
    let mut vr_ix: HashMap<&str, usize> = HashMap::new();
    for (i, v) in p.virtual_routers.iter().enumerate() {
        if !(1..=65535).contains(&v.id.value) {
            c.err(
                v.id.referenced,
                format!("VR id {} is out of range; expected 1..=65535", v.id.value),
            );
        } else if !vr_ids.insert(v.id.value) {
            c.err(
                v.id.referenced,
                format!("VR id {} is used twice; VR ids must be unique", v.id.value),
            );
        }
        if v.name.value.is_empty() {
            c.err(v.name.referenced, "VR name is empty");
        } else if vr_ix.insert(v.name.value.as_str(), i).is_some() {
            c.err(
                v.name.referenced,
                format!(
                    "VR name `{}` is used twice; VR names must be unique",
                    v.name.value
                ),
            );
        }
    }

    let mut bound: HashMap<(usize, Option<u16>), &str> = HashMap::new();
    let mut vrs = Vec::new();
    for v in &p.virtual_routers {
        let vpn_id = match vr::VpnId::from_str(&v.vpn_id.value) {
            Ok(id) => id,
            Err(e) => {
                c.err(
                    v.vpn_id.referenced,
                    format!("VPN id `{}`: {e}", v.vpn_id.value),
                );
                vr::VpnId::from_bytes([0; 7])
            }
        };
        if v.tenant.value.is_empty() {
            c.err(
                v.tenant.referenced,
                "tenant is empty; expected the owning tenant's name",
            );
        }
        let mut interfaces = Vec::new();
        for ifc in &v.interfaces {
            let port = lookup_port(&mut c, &ifc.port);
            let vlan = ifc.vlan.as_ref().and_then(|vl| check_vlan(&mut c, vl));
            if let Some(pi) = port {
                if ports[pi].trunk {
                    c.err(
                        ifc.port.referenced,
                        format!("port `{}` is a trunk; trunks face the core and cannot be bound to a VR", ifc.port.value),
                    );
                }
                if let Some(other) = bound.insert((pi, vlan), v.name.value.as_str()) {
                    let what = match vlan {
                        Some(id) => format!("port `{}` vlan {id}", ifc.port.value),
                        None => format!("port `{}` (untagged)", ifc.port.value),
                    };
                    c.err(
                        ifc.port.referenced,
                        format!("{what} is already bound to VR `{other}`; an interface belongs to exactly one VR"),
                    );
                }
            }
            let mut addresses = Vec::new();
            for a in &ifc.addresses {
                if let Some(ifa) = parse_ifaddr(&mut c, a) {
                    addresses.push(ifa);
                }
            }
            if let Some(pi) = port {
                interfaces.push(IfCfg {
                    port: pi,
                    vlan,
                    addresses,
                });
            }
        }
        let mut prefixes = HashSet::new();
        let mut routes = Vec::new();
        let esp_sa = |name: &str| {
            v.esp
                .iter()
                .flat_map(|e| e.sas.iter())
                .find(|sa| sa.name.value == name)
                .map(|sa| (sa.direction.value == "out", sa.spi.value))
        };
        for r in &v.routes {
            if let Some(rc) = check_route(
                &mut c,
                &v.name.value,
                r,
                &mut prefixes,
                &interfaces,
                &ports,
                &esp_sa,
            ) {
                routes.push(rc);
            }
        }
        let l2tp = v
            .l2tp
            .as_ref()
            .and_then(|l| check_l2tp(&mut c, l, &interfaces));
        // (A `ppp` section without an LNS must be a realm's target: `resolve_realms`.)
        let ppp = v
            .ppp
            .as_ref()
            .and_then(|pp| check_ppp(&mut c, pp, vr::VrId(v.id.value), &v.name.value, &interfaces));
        let relay = check_relay(&mut c, v, l2tp.as_ref(), &interfaces);
        vrs.push(VrCfg {
            id: v.id.value,
            name: v.name.value.clone(),
            vpn_id,
            tenant: v.tenant.value.clone(),
            interfaces,
            routes,
            l2tp,
            ppp,
            pppoe: v.pppoe.is_some(),
            relay,
            esp: Vec::new(),
        });
    }
    resolve_realms(&mut c, p, &mut vrs);
    esp::resolve(&mut c, p, &mut vrs);

    // Neighbors.
    let mut neighbors = Vec::new();
    let mut seen_nb = HashSet::new();
    for n in &p.neighbors {
        let port = lookup_port(&mut c, &n.port);
        let vlan = n.vlan.as_ref().and_then(|vl| check_vlan(&mut c, vl));
        let mac = parse_mac(&mut c, &n.mac);
        let Ok(ip) = IpAddr::from_str(&n.ip.value) else {
            c.err(
                n.ip.referenced,
                format!("neighbor address `{}` is not an IP address", n.ip.value),
            );
            continue;
        };
        if let Some(port) = port {
            if !seen_nb.insert((port, vlan, ip)) {
                c.err(
                    n.ip.referenced,
                    format!("neighbor {ip} on port `{}` is given twice", n.port.value),
                );
            }
            neighbors.push(NeighborCfg {
                port,
                vlan,
                ip,
                mac,
            });
        }
    }

    // Label matrix.
    let mut label_matrix = Vec::new();
    let mut seen_labels = HashSet::new();
    for e in &p.label_matrix {
        check_label(&mut c, &e.label);
        if (LABEL_MIN..=LABEL_MAX).contains(&e.label.value) && !label_range.contains(&e.label.value)
        {
            c.err(
                e.label.referenced,
                format!(
                    "label {} is outside the configured label range {}..={}",
                    e.label.value,
                    label_range.start(),
                    label_range.end()
                ),
            );
        }
        if !seen_labels.insert(e.label.value) {
            c.err(
                e.label.referenced,
                format!("label {} has two label matrix entries", e.label.value),
            );
        }
        let trunk_next_hop = |c: &mut Checker| -> Option<(usize, IpAddr)> {
            let (Some(port), Some(via)) = (&e.port, &e.via) else {
                c.err(
                    e.action.referenced,
                    format!(
                        "`{}` needs `port` (a trunk) and `via` (next-hop address)",
                        e.action.value
                    ),
                );
                return None;
            };
            let pi = lookup_port(c, port)?;
            if !ports[pi].trunk {
                c.err(
                    port.referenced,
                    format!(
                        "port `{}` is not a trunk; labelled packets leave on trunks only",
                        port.value
                    ),
                );
                return None;
            }
            let Ok(ip) = IpAddr::from_str(&via.value) else {
                c.err(
                    via.referenced,
                    format!("next hop `{}` is not an IP address", via.value),
                );
                return None;
            };
            if !ports[pi].addresses.iter().any(|a| a.on_link(ip)) {
                c.err(
                    via.referenced,
                    format!(
                        "next hop {ip} is not on any subnet of trunk `{}`",
                        port.value
                    ),
                );
                return None;
            }
            Some((pi, ip))
        };
        let op = match e.action.value.as_str() {
            "swap" => {
                let out = match &e.out_label {
                    Some(o) => {
                        check_label(&mut c, o);
                        Some(o.value)
                    }
                    None => {
                        c.err(e.action.referenced, "`swap` needs `out_label`");
                        None
                    }
                };
                if let Some(v) = &e.vr {
                    c.err(v.referenced, "`vr` only applies to `pop`");
                }
                match (out, trunk_next_hop(&mut c)) {
                    (Some(out), Some((port, via))) => Some(LabelOpCfg::Swap { out, port, via }),
                    _ => None,
                }
            }
            "pop" => {
                for f in [&e.port, &e.via].into_iter().flatten() {
                    c.err(
                        f.referenced,
                        "`pop` delivers into a VR; `port`/`via` do not apply (use `pop-forward`)",
                    );
                }
                if let Some(o) = &e.out_label {
                    c.err(o.referenced, "`out_label` only applies to `swap`");
                }
                match &e.vr {
                    None => {
                        c.err(
                            e.action.referenced,
                            "`pop` needs `vr` (the VR that routes the packet)",
                        );
                        None
                    }
                    Some(v) => match vr_ix.get(v.value.as_str()) {
                        Some(&ix) => Some(LabelOpCfg::Pop { vr: ix }),
                        None => {
                            let mut known: Vec<&str> = vr_ix.keys().copied().collect();
                            known.sort_unstable();
                            c.err(
                                v.referenced,
                                format!(
                                    "VR `{}` is not defined; known VRs: {}",
                                    v.value,
                                    known.join(", ")
                                ),
                            );
                            None
                        }
                    },
                }
            }
            "pop-next" => {
                for f in [&e.port, &e.via, &e.vr].into_iter().flatten() {
                    c.err(
                        f.referenced,
                        "`pop-next` removes a transport label and looks up the next label; `port`/`via`/`vr` do not apply",
                    );
                }
                if let Some(o) = &e.out_label {
                    c.err(o.referenced, "`out_label` only applies to `swap`");
                }
                Some(LabelOpCfg::PopNext)
            }
            "pop-forward" => {
                if let Some(o) = &e.out_label {
                    c.err(o.referenced, "`out_label` only applies to `swap`");
                }
                trunk_next_hop(&mut c).map(|(port, via)| LabelOpCfg::PopForward { port, via })
            }
            other => {
                c.err(
                    e.action.referenced,
                    format!("unknown label action `{other}`; expected swap, pop, pop-next or pop-forward"),
                );
                None
            }
        };
        if let Some(op) = op {
            label_matrix.push(LabelCfg {
                label: e.label.value,
                op,
            });
        }
    }

    // Traffic.
    let mut flows = Vec::new();
    if let Some(t) = &p.traffic {
        let mut names = HashSet::new();
        for f in &t.flows {
            if !names.insert(f.name.value.as_str()) {
                c.err(
                    f.name.referenced,
                    format!("flow `{}` is defined twice", f.name.value),
                );
            }
            let port = lookup_port(&mut c, &f.port);
            if let Some(pi) = port {
                if ports[pi].backend != Backend::Mem {
                    c.err(
                        f.port.referenced,
                        format!(
                            "flows are generated on `mem` ports; port `{}` is not one",
                            f.port.value
                        ),
                    );
                }
            }
            let vlan = f.vlan.as_ref().and_then(|vl| check_vlan(&mut c, vl));
            for l in &f.labels {
                check_label(&mut c, l);
            }
            let src = parse_range(&mut c, &f.src);
            let dst = parse_range(&mut c, &f.dst);
            let (Some(src), Some(dst)) = (src, dst) else {
                continue;
            };
            if matches!(src, AddrRange::V4(..)) != matches!(dst, AddrRange::V4(..)) {
                c.err(
                    f.dst.referenced,
                    "`src` and `dst` must be of the same address family",
                );
                continue;
            }
            let l3 = if matches!(src, AddrRange::V4(..)) {
                20
            } else {
                40
            };
            let min_size =
                14 + 4 * usize::from(vlan.is_some()) + 4 * f.labels.len() + l3 + 8 + FLOW_TAG_LEN;
            let size = match &f.size {
                None => FrameSize::Fixed(min_size.max(60) as u16),
                Some(s) if s.value == "imix" => {
                    if min_size > 64 {
                        c.err(s.referenced, format!("imix needs 64-byte frames but this flow's headers need {min_size} bytes"));
                    }
                    FrameSize::Imix
                }
                Some(s) => {
                    match s.value.parse::<u16>() {
                        Ok(n) if (min_size..=1514).contains(&usize::from(n)) && n >= 60 => {
                            FrameSize::Fixed(n)
                        }
                        _ => {
                            c.err(s.referenced, format!("frame size `{}` is invalid; expected `imix` or {}..=1514 bytes", s.value, min_size.max(60)));
                            continue;
                        }
                    }
                }
            };
            if let Some(r) = &f.rate_pps {
                if r.value == 0 {
                    c.err(
                        r.referenced,
                        "rate_pps is 0; omit it to send as fast as possible",
                    );
                }
            }
            let expect = match &f.expect {
                None => None,
                Some(e) => {
                    let ep = lookup_port(&mut c, &e.port);
                    let vlan = e.vlan.as_ref().and_then(|vl| check_vlan(&mut c, vl));
                    for l in &e.labels {
                        check_label(&mut c, l);
                    }
                    if let Some(pi) = ep {
                        if ports[pi].backend != Backend::Mem {
                            c.err(
                                e.port.referenced,
                                format!(
                                    "flows are counted on `mem` ports; port `{}` is not one",
                                    e.port.value
                                ),
                            );
                        }
                    }
                    ep.map(|port| ExpectCfg {
                        port,
                        vlan,
                        labels: e.labels.iter().map(|l| l.value).collect(),
                    })
                }
            };
            if let Some(port) = port {
                flows.push(FlowCfg {
                    name: f.name.value.clone(),
                    port,
                    vlan,
                    labels: f.labels.iter().map(|l| l.value).collect(),
                    src,
                    dst,
                    size,
                    rate_pps: f.rate_pps.as_ref().map(|r| r.value),
                    count: f.count.as_ref().map(|n| n.value),
                    expect,
                });
            }
        }
    }

    let dpdk = check_dpdk(&mut c, p, &ports);
    let management = p
        .management
        .as_ref()
        .and_then(|m| mgmt::check(&mut c, m, base));
    let aaa = p.aaa.as_ref().and_then(|a| aaa::check(&mut c, a, base));
    let discovery = p
        .discovery
        .as_ref()
        .and_then(|d| discovery::check(&mut c, d, router_id, &vrs));
    let ldp = p
        .ldp
        .as_ref()
        .and_then(|l| ldp::check(&mut c, l, router_id, &ports, &p.label_matrix));
    let vpn_peering = p
        .vpn_peering
        .as_ref()
        .and_then(|v| vpn_peering::check(&mut c, v, p, discovery.as_ref(), &ports));
    let mobile_ip = p
        .mobile_ip
        .as_ref()
        .and_then(|m| mobile_ip::check(&mut c, m, &vrs, &ports));

    if c.errors.is_empty() {
        Ok(Config {
            router_id,
            control_core: p.cores.control.as_ref().map(|c| c.value),
            worker_cores,
            ports,
            vrs,
            neighbors,
            label_matrix,
            label_range,
            flows,
            dpdk,
            management,
            aaa,
            discovery,
            ldp,
            vpn_peering,
            mobile_ip,
        })
    } else {
        c.errors.sort_by_key(|e| (e.line, e.column));
        Err(c.errors)
    }
}

/// EAL options varouter sets itself (from `cores`, `dpdk.vdevs`, `dpdk.allow`).
const EAL_RESERVED: &[&str] = &[
    "-l",
    "-c",
    "--lcores",
    "--main-lcore",
    "--vdev",
    "-a",
    "--allow",
    "-b",
    "--block",
];

/// Checks the `dpdk` section and the `device` of every port: dpdk ports need a device
/// (each used once), other ports must not have one, and dpdk ports cannot be mixed with
/// other backends in one profile. Accepted in every build: only `run` needs the feature.
/// Whether `l` is a usable (unreserved, 20-bit) label.
fn check_label(c: &mut Checker, l: &S<u32>) {
    if !(LABEL_MIN..=LABEL_MAX).contains(&l.value) {
        c.err(
            l.referenced,
            format!("label {} is out of range; expected {LABEL_MIN}..={LABEL_MAX} (0..=15 are reserved)", l.value),
        );
    }
}

/// An outbound ESP SA of a VR by name: `(outbound, spi)`.
type EspSaLookup<'a> = dyn Fn(&str) -> Option<(bool, u32)> + 'a;

/// Checks one static route of VR `vr_name`, whose interfaces are `interfaces` (resolved);
/// `prefixes` holds the VR's prefixes before this route (a second route to one is an
/// error) and gets this one. `None` when an error was reported that leaves no route.
fn check_route(
    c: &mut Checker,
    vr_name: &str,
    r: &super::Route,
    prefixes: &mut HashSet<IpPrefix>,
    interfaces: &[IfCfg],
    ports: &[PortCfg],
    esp_sa: &EspSaLookup,
) -> Option<RouteCfg> {
    let prefix = match parse_prefix(&r.prefix.value) {
        Ok(pf) => pf,
        Err(e) => {
            c.err(r.prefix.referenced, e);
            return None;
        }
    };
    if !prefixes.insert(prefix) {
        c.err(
            r.prefix.referenced,
            format!(
                "route {} is given twice in VR `{}`",
                r.prefix.value, vr_name
            ),
        );
    }
    for l in &r.push {
        check_label(c, l);
    }
    if r.push.len() > MAX_PUSH {
        c.err(
            r.push[MAX_PUSH].referenced,
            format!("a route may push at most {MAX_PUSH} labels"),
        );
    }
    let blackhole = r.blackhole.as_ref().is_some_and(|b| b.value);
    if let Some(name) = &r.esp {
        if r.via.is_some() || blackhole || !r.push.is_empty() {
            c.err(
                    name.referenced,
                    "a route has one of `via`, `blackhole: true` or `esp`; an ESP route pushes no labels",
                );
            return None;
        }
        return esp::route_target(c, vr_name, name, esp_sa).map(|spi| RouteCfg {
            prefix,
            target: RouteTarget::Esp(spi),
        });
    }
    let target = match (&r.via, blackhole) {
        (Some(via), true) => {
            c.err(
                via.referenced,
                "a route has either `via` or `blackhole: true`, not both",
            );
            return None;
        }
        (None, true) => {
            if let Some(l) = r.push.first() {
                c.err(l.referenced, "a blackhole route cannot push labels");
            }
            RouteTarget::Blackhole
        }
        (None, false) => {
            c.err(
                r.prefix.referenced,
                format!(
                    "route {} has no next hop; expected `via: ADDRESS` or `blackhole: true`",
                    r.prefix.value
                ),
            );
            return None;
        }
        (Some(via), false) => {
            let Ok(addr) = IpAddr::from_str(&via.value) else {
                c.err(
                    via.referenced,
                    format!("next hop `{}` is not an IP address", via.value),
                );
                return None;
            };
            // A labelled route may cross an IPv4 core for IPv6 traffic (as 6VPE does);
            // an unlabelled next hop must be of the prefix's family.
            if r.push.is_empty() && matches!(prefix, IpPrefix::V4(_)) != addr.is_ipv4() {
                c.err(via.referenced, format!("next hop {addr} is not of the same address family as {}; only labelled routes may use a next hop of the other family", r.prefix.value));
                return None;
            }
            match resolve_via(addr, interfaces, ports, !r.push.is_empty()) {
                Ok((port, vlan)) => RouteTarget::Via {
                    addr,
                    port,
                    vlan,
                    push: r.push.iter().map(|l| l.value).collect(),
                },
                Err(why) => {
                    c.err(
                        via.referenced,
                        format!("next hop {addr} is unreachable in VR `{}`: {why}", vr_name),
                    );
                    return None;
                }
            }
        }
    };
    Some(RouteCfg { prefix, target })
}

/// Checks routes added to VR `vr` (index in `cfg.vrs`) of a configuration that passed
/// [`check`], with the very code [`check`] runs on every route: the profile with the route
/// appended to the VR's `routes` checks exactly when this does, with the same messages,
/// and its VR then has these routes. `prefixes` holds the VR's prefixes (the caller
/// keeps it across several routes of one transaction). Route changes affect nothing else
/// a profile resolves to (nothing refers to a route); the management API's fast path
/// relies on that, and its tests hold it against [`check`].
pub fn added_route(
    file: &Path,
    cfg: &Config,
    vr: usize,
    r: &super::Route,
    prefixes: &mut HashSet<IpPrefix>,
) -> Result<RouteCfg, Vec<ProfileError>> {
    let mut c = Checker {
        file,
        errors: Vec::new(),
    };
    let v = &cfg.vrs[vr];
    let esp_sa = |name: &str| {
        v.esp
            .iter()
            .find(|sa| sa.name == name)
            .map(|sa| (!sa.inbound, sa.params.spi))
    };
    let route = check_route(
        &mut c,
        &v.name,
        r,
        prefixes,
        &v.interfaces,
        &cfg.ports,
        &esp_sa,
    );
    match route {
        Some(rc) if c.errors.is_empty() => Ok(rc),
        _ => Err(c.errors),
    }
}

fn check_dpdk(c: &mut Checker, p: &Profile, ports: &[PortCfg]) -> DpdkCfg {
    let mut cfg = DpdkCfg::default();
    let mut devices: HashSet<&str> = HashSet::new();
    let any_dpdk = ports
        .iter()
        .any(|q| matches!(q.backend, Backend::Dpdk { .. }));
    for (port, resolved) in p.ports.iter().zip(ports) {
        let is_dpdk = matches!(resolved.backend, Backend::Dpdk { .. });
        match (&port.device, is_dpdk) {
            (Some(d), false) => c.err(
                d.referenced,
                format!(
                    "`device` only applies to the `dpdk` backend; port `{}` uses `{}`",
                    port.name.value, port.backend.value
                ),
            ),
            (Some(d), true) if !devices.insert(d.value.as_str()) => c.err(
                d.referenced,
                format!(
                    "DPDK device `{}` is used by two ports; each port needs its own device",
                    d.value
                ),
            ),
            _ => {}
        }
        if any_dpdk && !is_dpdk {
            c.err(
                port.backend.referenced,
                format!(
                    "port `{}` uses backend `{}`, but this profile has `dpdk` ports; a profile runs either only `dpdk` ports or none (give DPDK a `net_pcap`/`net_null` vdev instead)",
                    port.name.value, port.backend.value
                ),
            );
        }
    }
    let Some(d) = &p.dpdk else { return cfg };
    for a in &d.eal_args {
        let flag = a.value.split('=').next().unwrap_or("");
        if EAL_RESERVED.contains(&flag) {
            c.err(
                a.referenced,
                format!(
                    "EAL option `{flag}` is set by varouter; use `cores` for the core list, `dpdk.vdevs` for virtual devices and `dpdk.allow` for PCI devices"
                ),
            );
        }
        cfg.eal_args.push(a.value.clone());
    }
    for v in &d.vdevs {
        let name = v.value.split(',').next().unwrap_or("");
        if !name.starts_with("net_") && !name.starts_with("eth_") {
            c.err(
                v.referenced,
                format!("vdev `{}` is not a network vdev; expected a name like net_null0, net_ring0, net_pcap0,rx_pcap=in.pcap, net_tap0, net_memif0", v.value),
            );
        }
        cfg.vdevs.push(v.value.clone());
    }
    for a in &d.allow {
        if !is_pci_addr(&a.value) {
            c.err(
                a.referenced,
                format!("`{}` is not a PCI address; expected domain:bus:device.function like 0000:3b:00.0", a.value),
            );
        }
        cfg.allow.push(a.value.clone());
    }
    for (field, v, out) in [
        ("rx_desc", &d.rx_desc, &mut cfg.rx_desc),
        ("tx_desc", &d.tx_desc, &mut cfg.tx_desc),
    ] {
        if let Some(v) = v {
            if !v.value.is_power_of_two() || !(64..=8192).contains(&v.value) {
                c.err(
                    v.referenced,
                    format!(
                        "{field} {} is invalid; expected a power of two from 64 to 8192",
                        v.value
                    ),
                );
            }
            *out = v.value;
        }
    }
    if let Some(m) = &d.mbufs {
        if !(1024..=16_777_215).contains(&m.value) {
            c.err(
                m.referenced,
                format!(
                    "mbufs {} is out of range; expected 1024..=16777215",
                    m.value
                ),
            );
        }
        cfg.mbufs = m.value;
    }
    cfg
}

/// `dddd:bb:dd.f` or `bb:dd.f` in hex.
fn is_pci_addr(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let (bus, devfn) = match parts.as_slice() {
        [dom, bus, devfn] if dom.len() == 4 && dom.chars().all(|c| c.is_ascii_hexdigit()) => {
            (bus, devfn)
        }
        [bus, devfn] => (bus, devfn),
        _ => return false,
    };
    let Some((dev, func)) = devfn.split_once('.') else {
        return false;
    };
    let hex = |x: &str, n: usize| x.len() == n && x.chars().all(|c| c.is_ascii_hexdigit());
    hex(bus, 2) && hex(dev, 2) && func.len() == 1 && func.chars().all(|c| ('0'..='7').contains(&c))
}

/// Finds where a next hop is on-link: a VR interface, or (for labelled routes) a trunk.
fn resolve_via(
    addr: IpAddr,
    interfaces: &[IfCfg],
    ports: &[PortCfg],
    labelled: bool,
) -> Result<(usize, Option<u16>), String> {
    if let Some(ifc) = interfaces
        .iter()
        .find(|i| i.addresses.iter().any(|a| a.on_link(addr)))
    {
        if labelled {
            return Err(
                "labelled routes leave on a trunk, but this next hop is on a customer interface"
                    .into(),
            );
        }
        return Ok((ifc.port, ifc.vlan));
    }
    if let Some((pi, _)) = ports
        .iter()
        .enumerate()
        .find(|(_, p)| p.trunk && p.addresses.iter().any(|a| a.on_link(addr)))
    {
        if !labelled {
            return Err("it is on a trunk subnet, and an unlabelled route into the core would leak the VR's traffic; add `push: [LABEL]`".into());
        }
        return Ok((pi, None));
    }
    Err("no interface of this VR (nor any trunk) has a subnet containing it".into())
}

fn check_vlan(c: &mut Checker, v: &S<u16>) -> Option<u16> {
    if (1..=4094).contains(&v.value) {
        Some(v.value)
    } else {
        c.err(
            v.referenced,
            format!("VLAN id {} is out of range; expected 1..=4094", v.value),
        );
        None
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn mac_from_str(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        if n == 6 || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

fn parse_mac(c: &mut Checker, s: &S<String>) -> [u8; 6] {
    mac_from_str(&s.value).unwrap_or_else(|| {
        c.err(
            s.referenced,
            format!(
                "`{}` is not a MAC address; expected six hex pairs like 02:00:00:00:00:01",
                s.value
            ),
        );
        [0; 6]
    })
}

fn parse_ifaddr(c: &mut Checker, s: &S<String>) -> Option<IfAddr> {
    let r = (|| {
        let (a, l) = s.value.split_once('/')?;
        let addr = IpAddr::from_str(a).ok()?;
        let len: u8 = l.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IfAddr { addr, len })
    })();
    if r.is_none() {
        c.err(s.referenced, format!("`{}` is not an interface address; expected ADDRESS/LENGTH like 10.1.0.1/24 or fd00::1/64", s.value));
    }
    r
}

/// Parses a route prefix of either family, with operator-facing errors.
pub fn parse_prefix(s: &str) -> Result<IpPrefix, String> {
    if s.contains(':') {
        vr::Prefix6::from_str(s)
            .map(IpPrefix::V6)
            .map_err(|e| format!("bad prefix `{s}`: {e}"))
    } else {
        vr::Prefix4::from_str(s)
            .map(IpPrefix::V4)
            .map_err(|e| format!("bad prefix `{s}`: {e}"))
    }
}

fn parse_range(c: &mut Checker, s: &S<String>) -> Option<AddrRange> {
    let (a, b) = s.value.split_once('-').unwrap_or((&s.value, &s.value));
    let r = match (IpAddr::from_str(a.trim()), IpAddr::from_str(b.trim())) {
        (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) if u32::from(a) <= u32::from(b) => {
            Some(AddrRange::V4(a.into(), b.into()))
        }
        (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) if u128::from(a) <= u128::from(b) => {
            Some(AddrRange::V6(a.into(), b.into()))
        }
        _ => None,
    };
    if r.is_none() {
        c.err(s.referenced, format!("`{}` is not an address or range; expected 10.0.0.1 or 10.0.0.1-10.0.0.200 (same family, ascending)", s.value));
    }
    r
}

/// Validates a VR's `l2tp` section.
fn check_l2tp(c: &mut Checker, l: &super::L2tp, interfaces: &[IfCfg]) -> Option<L2tpCfg> {
    let role = match l.role.value.as_str() {
        "lac" => Some(L2tpRole::Lac),
        "lns" => Some(L2tpRole::Lns),
        other => {
            c.err(
                l.role.referenced,
                format!("unknown L2TP role `{other}`; expected lac or lns"),
            );
            None
        }
    };
    let local = match std::net::Ipv4Addr::from_str(&l.local.value) {
        Ok(a)
            if interfaces
                .iter()
                .any(|i| i.addresses.iter().any(|x| x.addr == IpAddr::V4(a))) =>
        {
            Some(a)
        }
        Ok(a) => {
            c.err(
                l.local.referenced,
                format!("L2TP local address {a} is not an address of this VR's interfaces"),
            );
            None
        }
        Err(_) => {
            c.err(
                l.local.referenced,
                format!(
                    "`{}` is not an IPv4 address; L2TP runs over UDP/IPv4",
                    l.local.value
                ),
            );
            None
        }
    };
    if l.hostname.value.is_empty() {
        c.err(
            l.hostname.referenced,
            "hostname is empty; expected the Host Name AVP to send",
        );
    }
    let hide = l.hide_avps.as_ref().is_some_and(|h| h.value);
    if hide && l.secret.is_none() {
        c.err(
            l.hide_avps
                .as_ref()
                .map_or(l.role.referenced, |h| h.referenced),
            "hide_avps needs a `secret` (hidden AVPs are encrypted with it)",
        );
    }
    let mut peers = Vec::new();
    for p in &l.peers {
        match std::net::Ipv4Addr::from_str(&p.value) {
            Ok(a) => peers.push(a),
            Err(_) => c.err(
                p.referenced,
                format!("peer `{}` is not an IPv4 address", p.value),
            ),
        }
    }
    if role == Some(L2tpRole::Lac) && l.peers.is_empty() {
        c.err(l.role.referenced, "a LAC needs at least one LNS in `peers`");
    }
    let hello = l.hello_interval.as_ref().map_or(60, |h| h.value);
    if hello == 0 {
        if let Some(h) = &l.hello_interval {
            c.err(h.referenced, "hello_interval must be at least 1 second");
        }
    }
    let d = controlplane_defaults();
    let lim = |c: &mut Checker, v: &Option<S<usize>>, default: usize| match v {
        Some(x) if x.value == 0 => {
            c.err(
                x.referenced,
                "a limit of 0 would refuse everything; expected at least 1",
            );
            default
        }
        Some(x) => x.value,
        None => default,
    };
    let none = None;
    let ls = l.limits.as_ref();
    let max_tunnels = lim(c, ls.map_or(&none, |x| &x.max_tunnels), d.0);
    let max_half_open = lim(c, ls.map_or(&none, |x| &x.max_half_open), d.1);
    let max_half_open_per_source = lim(c, ls.map_or(&none, |x| &x.max_half_open_per_source), d.2);
    let max_sessions_per_tunnel = lim(c, ls.map_or(&none, |x| &x.max_sessions_per_tunnel), d.3);
    let max_sessions = lim(c, ls.map_or(&none, |x| &x.max_sessions), d.4);
    Some(L2tpCfg {
        role: role?,
        local: local?,
        hostname: l.hostname.value.clone(),
        secret: l.secret.as_ref().map(|s| s.value.clone()),
        hide_avps: hide,
        peers,
        hello_interval: std::time::Duration::from_secs(hello.max(1)),
        autodial: l.autodial.as_ref().is_some_and(|a| a.value),
        max_tunnels,
        max_half_open,
        max_half_open_per_source,
        max_sessions_per_tunnel,
        max_sessions,
    })
}

/// The L2TP engine's default limits (tunnels, half-open, half-open per source, sessions per
/// tunnel, sessions), so `check` and the engine agree.
fn controlplane_defaults() -> (usize, usize, usize, usize, usize) {
    let l = controlplane::l2tp::engine::Limits::default();
    (
        l.max_tunnels,
        l.max_half_open,
        l.max_half_open_per_source,
        l.max_sessions_per_tunnel,
        l.max_sessions,
    )
}

/// Validates a VR's `pppoe` and `relay` sections (realm targets are resolved by
/// [`resolve_realms`] once every VR is known).
fn check_relay(
    c: &mut Checker,
    v: &super::VirtualRouter,
    l2tp: Option<&L2tpCfg>,
    interfaces: &[IfCfg],
) -> Option<controlplane::access::config::AccessConfig> {
    use controlplane::access::config::AccessConfig;
    use controlplane::subscriber::config::AuthMethod;
    let vr_name = &v.name;
    let Some(r) = &v.relay else {
        if v.pppoe.is_some() {
            c.err(
                vr_name.referenced,
                format!(
                    "VR `{}` has a `pppoe` section but no `relay` section; PPPoE subscribers are relayed to their ISP's LNS by realm (`relay: {{ realms: [...] }}`); terminating PPPoE in the VR itself is not supported yet",
                    vr_name.value
                ),
            );
        }
        return None;
    };
    if v.ppp.is_some() {
        c.err(
            vr_name.referenced,
            format!(
                "VR `{}` has both `ppp` (terminate subscribers) and `relay` (relay them to an ISP); a VR does one or the other",
                vr_name.value
            ),
        );
    }
    let lns = l2tp.is_some_and(|l| l.role == L2tpRole::Lns);
    if l2tp.is_some_and(|l| l.role == L2tpRole::Lac) {
        c.err(
            vr_name.referenced,
            format!(
                "VR `{}` relays subscribers but is itself an L2TP LAC; the LAC is the VR a realm points to",
                vr_name.value
            ),
        );
    }
    if v.pppoe.is_none() && !lns {
        c.err(
            vr_name.referenced,
            format!(
                "VR `{}` has a `relay` section but no subscribers to relay: give it a `pppoe` section (PPPoE access) or an L2TP LNS (tunnel switching)",
                vr_name.value
            ),
        );
    }
    let mut cfg = AccessConfig::new(vr::VrId(v.id.value));
    if let Some(p) = &v.pppoe {
        if interfaces.is_empty() {
            c.err(
                vr_name.referenced,
                format!(
                    "VR `{}` has a `pppoe` section but no interfaces; PPPoE runs on the VR's ports and VLANs",
                    vr_name.value
                ),
            );
        }
        if let Some(n) = &p.ac_name {
            if n.value.is_empty() || n.value.len() > 64 {
                c.err(n.referenced, "ac_name must be 1 to 64 bytes");
            }
            cfg.ac_name = n.value.clone();
        }
        for s in &p.service_names {
            if s.value.len() > 64 {
                c.err(s.referenced, "a Service-Name is at most 64 bytes");
            }
        }
        cfg.service_names = p.service_names.iter().map(|s| s.value.clone()).collect();
        if let Some(m) = &p.max_sessions {
            if m.value == 0 || m.value > 65_534 {
                c.err(
                    m.referenced,
                    format!(
                        "max_sessions {} is out of range; expected 1..=65534 (PPPoE session ids per port)",
                        m.value
                    ),
                );
            }
            cfg.max_sessions = m.value;
        }
        if let Some(m) = &p.max_sessions_per_mac {
            if m.value == 0 {
                c.err(m.referenced, "max_sessions_per_mac must be at least 1");
            }
            cfg.max_sessions_per_mac = m.value;
        }
        if let Some(m) = &p.padi_per_mac_per_sec {
            cfg.padi_per_mac_per_sec = m.value;
        }
        if let Some(m) = &p.max_payload {
            if !(1492..=9000).contains(&m.value) {
                c.err(
                    m.referenced,
                    format!(
                        "max_payload {} is out of range; expected 1492 (no RFC 4638) ..= 9000",
                        m.value
                    ),
                );
            }
            cfg.max_payload = m.value;
        }
    }
    if !r.auth.is_empty() {
        let mut methods = Vec::new();
        for m in &r.auth {
            let k = match m.value.as_str() {
                "pap" => AuthMethod::Pap,
                "chap" => AuthMethod::Chap,
                "mschapv2" => {
                    c.err(
                        m.referenced,
                        "mschapv2 cannot be relayed to an LNS (RFC 2661 proxy authentication has no MS-CHAPv2 type); expected chap or pap",
                    );
                    continue;
                }
                other => {
                    c.err(
                        m.referenced,
                        format!("unknown authentication method `{other}`; expected chap or pap"),
                    );
                    continue;
                }
            };
            if methods.contains(&k) {
                c.err(m.referenced, format!("`{}` is listed twice", m.value));
            }
            methods.push(k);
        }
        cfg.auth = methods;
    }
    if let Some(n) = &r.chap_name {
        cfg.chap_name = n.value.clone();
    }
    if let Some(rr) = &r.radius {
        cfg.radius = check_relay_radius(c, rr, &vr_name.value);
    }
    Some(cfg)
}

/// The RADIUS client settings `ppp.radius` and `relay.radius` share, validated.
struct RadiusClientCfg {
    source: IpAddr,
    nas_identifier: String,
    servers: Vec<controlplane::subscriber::config::RadiusServer>,
    timeout: std::time::Duration,
    retries: u32,
}

/// One `{address, secret}` RADIUS server.
fn check_radius_server(
    c: &mut Checker,
    s: &super::RadiusServer,
) -> Option<controlplane::subscriber::config::RadiusServer> {
    match std::net::SocketAddr::from_str(&s.address.value) {
        Ok(a) if !s.secret.value.is_empty() => {
            Some(controlplane::subscriber::config::RadiusServer {
                addr: a,
                secret: s.secret.value.clone(),
            })
        }
        Ok(_) => {
            c.err(s.secret.referenced, "the RADIUS secret is empty");
            None
        }
        Err(_) => {
            c.err(
                s.address.referenced,
                format!(
                    "`{}` is not ADDRESS:PORT (e.g. 192.0.2.10:1812)",
                    s.address.value
                ),
            );
            None
        }
    }
}

/// Source, NAS-Identifier, servers, timeout and retries of a RADIUS client section.
fn check_radius_client(
    c: &mut Checker,
    source: &S<String>,
    nas_identifier: Option<&S<String>>,
    servers: &[super::RadiusServer],
    (timeout, retries): (Option<&S<u64>>, Option<&S<u32>>),
    vr_name: &str,
) -> Option<RadiusClientCfg> {
    let addr = match IpAddr::from_str(&source.value) {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                source.referenced,
                format!("radius source `{}` is not an IP address", source.value),
            );
            None
        }
    };
    if servers.is_empty() {
        c.err(
            source.referenced,
            "radius needs at least one server in `servers`",
        );
    }
    let servers: Vec<_> = servers
        .iter()
        .filter_map(|s| check_radius_server(c, s))
        .collect();
    let t = timeout.map_or(3, |t| t.value);
    if t == 0 {
        c.err(
            timeout.map_or(source.referenced, |t| t.referenced),
            "timeout must be at least 1 second",
        );
    }
    let r = retries.map_or(3, |t| t.value);
    if r == 0 {
        c.err(
            retries.map_or(source.referenced, |t| t.referenced),
            "retries must be at least 1",
        );
    }
    Some(RadiusClientCfg {
        source: addr?,
        nas_identifier: nas_identifier.map_or_else(|| vr_name.to_string(), |n| n.value.clone()),
        servers,
        timeout: std::time::Duration::from_secs(t.max(1)),
        retries: r.max(1),
    })
}

/// Validates a relaying VR's `radius` section (as `ppp.radius`, without accounting/DAE).
fn check_relay_radius(
    c: &mut Checker,
    r: &super::RelayRadius,
    vr_name: &str,
) -> Option<controlplane::access::config::RelayRadius> {
    let b = check_radius_client(
        c,
        &r.source,
        r.nas_identifier.as_ref(),
        &r.servers,
        (r.timeout.as_ref(), r.retries.as_ref()),
        vr_name,
    )?;
    Some(controlplane::access::config::RelayRadius {
        source: b.source,
        nas_identifier: b.nas_identifier,
        servers: b.servers,
        timeout: b.timeout,
        retries: b.retries,
    })
}

/// Resolves every `relay` section's realm routes to VR ids: each target must be a VR with
/// an L2TP LAC.
fn resolve_realms(c: &mut Checker, p: &Profile, vrs: &mut [VrCfg]) {
    use controlplane::access::config::RealmRoute;
    // By name: the VR's id, whether it is an L2TP LAC, whether it terminates PPP.
    let lacs: HashMap<String, (u32, bool, bool)> = vrs
        .iter()
        .map(|v| {
            let lac = v.l2tp.as_ref().is_some_and(|l| l.role == L2tpRole::Lac);
            (v.name.clone(), (v.id, lac, v.ppp.is_some()))
        })
        .collect();
    let mut targeted: HashSet<u32> = HashSet::new();
    let mut target = |c: &mut Checker, name: &S<String>, lns: Option<&S<String>>| {
        let Some(&(id, lac, terminates)) = lacs.get(&name.value) else {
            c.err(
                name.referenced,
                format!("VR `{}` is not defined", name.value),
            );
            return None;
        };
        if !lac && !terminates {
            c.err(
                name.referenced,
                format!(
                    "VR `{}` neither has an L2TP LAC (`l2tp: {{ role: lac, ... }}`) to tunnel subscribers to their ISP nor terminates them (`ppp`)",
                    name.value
                ),
            );
            return None;
        }
        targeted.insert(id);
        let lns = match lns {
            None => None,
            Some(s) => match Ipv4Addr::from_str(&s.value) {
                Ok(a) => Some(a),
                Err(_) => {
                    c.err(
                        s.referenced,
                        format!("lns `{}` is not an IPv4 address", s.value),
                    );
                    return None;
                }
            },
        };
        Some((vr::VrId(id), lns))
    };
    // Where RADIUS-chosen tunnels may be placed from: every LAC VR.
    let lac_targets: Vec<controlplane::access::config::LacTarget> = vrs
        .iter()
        .filter_map(|v| {
            let l = v.l2tp.as_ref().filter(|l| l.role == L2tpRole::Lac)?;
            Some(controlplane::access::config::LacTarget {
                name: v.name.clone(),
                vr: vr::VrId(v.id),
                peers: l.peers.clone(),
                secret: l.secret.as_ref().map(|s| s.as_bytes().to_vec()),
            })
        })
        .collect();
    for pv in &p.virtual_routers {
        let Some(pp) = &pv.relay else { continue };
        let mut routes = Vec::new();
        let mut seen = HashSet::new();
        for r in &pp.realms {
            let realm = r.realm.value.to_ascii_lowercase();
            if realm.is_empty() || realm.contains('@') {
                c.err(
                    r.realm.referenced,
                    format!(
                        "realm `{}` must be a domain (the part after `@`)",
                        r.realm.value
                    ),
                );
                continue;
            }
            if !seen.insert(realm.clone()) {
                c.err(
                    r.realm.referenced,
                    format!("realm `{realm}` is listed twice"),
                );
                continue;
            }
            if let Some((vr, lns)) = target(c, &r.vr, r.lns.as_ref()) {
                routes.push(RealmRoute { realm, vr, lns });
            }
        }
        let default = pp.default_vr.as_ref().and_then(|d| {
            target(c, d, None).map(|(vr, lns)| RealmRoute {
                realm: String::new(),
                vr,
                lns,
            })
        });
        if let Some(v) = vrs.iter_mut().find(|v| v.id == pv.id.value) {
            if let Some(a) = v.relay.as_mut() {
                a.realms = routes;
                a.default_route = default;
                if a.radius.is_some() {
                    a.lacs = lac_targets.clone();
                }
            }
        }
    }
    // A VR that terminates PPP needs subscribers: an L2TP LNS, or a realm pointing at it.
    for pv in &p.virtual_routers {
        let Some(pp) = &pv.ppp else { continue };
        let lns = vrs
            .iter()
            .find(|v| v.id == pv.id.value)
            .and_then(|v| v.l2tp.as_ref())
            .is_some_and(|l| l.role == L2tpRole::Lns);
        if !lns && !targeted.contains(&pv.id.value) {
            c.err(
                pp.address.referenced,
                format!(
                    "VR `{}` has a `ppp` section but no L2TP LNS and no relay realm points to it; subscribers are terminated on an LNS (`l2tp: {{ role: lns, ... }}`) or reach the VR by realm (`relay: {{ realms: ... }}` of an access VR)",
                    pv.name.value
                ),
            );
        }
    }
}

/// Validates a VR's `ppp` section (subscriber termination).
fn check_ppp(
    c: &mut Checker,
    p: &super::Ppp,
    vr: vr::VrId,
    vr_name: &str,
    interfaces: &[IfCfg],
) -> Option<controlplane::subscriber::config::SubscriberConfig> {
    use controlplane::subscriber::config::*;
    use controlplane::subscriber::pool::{V4PoolConfig, V6PoolConfig};
    let mut ok = true;
    let v4 = |c: &mut Checker, s: &S<String>, what: &str| match Ipv4Addr::from_str(&s.value) {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                s.referenced,
                format!("{what} `{}` is not an IPv4 address", s.value),
            );
            None
        }
    };
    let local = v4(c, &p.address, "ppp address");
    if let Some(a) = local {
        if interfaces
            .iter()
            .any(|i| i.addresses.iter().any(|x| x.addr == IpAddr::V4(a)))
        {
            c.err(
                p.address.referenced,
                format!("ppp address {a} is an interface address of VR `{vr_name}`; subscribers need an address of their own links (e.g. 100.64.0.1)"),
            );
            ok = false;
        }
    }
    let mut cfg = SubscriberConfig::new(vr, local.unwrap_or(Ipv4Addr::UNSPECIFIED));
    if !p.auth.is_empty() {
        let mut methods = Vec::new();
        for m in &p.auth {
            let k = match m.value.as_str() {
                "pap" => AuthMethod::Pap,
                "chap" => AuthMethod::Chap,
                "mschapv2" => AuthMethod::MsChapV2,
                other => {
                    c.err(
                        m.referenced,
                        format!("unknown authentication method `{other}`; expected mschapv2, chap or pap"),
                    );
                    ok = false;
                    continue;
                }
            };
            if methods.contains(&k) {
                c.err(m.referenced, format!("`{}` is listed twice", m.value));
            }
            methods.push(k);
        }
        cfg.auth = methods;
    }
    if p.dns.len() > 2 {
        c.err(
            p.dns[2].referenced,
            "IPCP carries at most two DNS servers (primary and secondary)",
        );
    }
    cfg.dns = p
        .dns
        .iter()
        .filter_map(|d| v4(c, d, "DNS server"))
        .collect();
    if let Some(m) = &p.mru {
        if !(576..=9000).contains(&m.value) {
            c.err(
                m.referenced,
                format!("mru {} is out of range; expected 576..=9000", m.value),
            );
        }
        cfg.mru = m.value;
    }
    if let Some(k) = &p.keepalive {
        if let Some(i) = &k.interval {
            cfg.echo_interval = std::time::Duration::from_secs(i.value);
        }
        if let Some(f) = &k.failures {
            if f.value == 0 {
                c.err(f.referenced, "keepalive failures must be at least 1");
            }
            cfg.echo_failures = f.value.max(1);
        }
    }
    let mut names = HashSet::new();
    for pool in &p.pools {
        if !names.insert(pool.name.value.clone()) {
            c.err(
                pool.name.referenced,
                format!("pool `{}` is defined twice", pool.name.value),
            );
        }
        let mut ranges = Vec::new();
        for r in &pool.ranges {
            match parse_v4_range(&r.value) {
                Some((a, b)) => {
                    if local.is_some_and(|l| a <= l && l <= b) {
                        c.err(
                            r.referenced,
                            format!("range {} contains the ppp address itself", r.value),
                        );
                    }
                    ranges.push((a, b));
                }
                None => {
                    c.err(r.referenced, format!("`{}` is not an IPv4 range; expected FIRST-LAST (100.64.0.10-100.64.0.250) or a prefix (100.64.0.0/24)", r.value));
                    ok = false;
                }
            }
        }
        cfg.pools.push(V4PoolConfig {
            name: pool.name.value.clone(),
            ranges,
        });
    }
    for pool in &p.ipv6_pools {
        if !names.insert(pool.name.value.clone()) {
            c.err(
                pool.name.referenced,
                format!("pool `{}` is defined twice", pool.name.value),
            );
        }
        let Ok(IpPrefix::V6(pfx)) = pool.prefix.value.parse::<IpPrefix>() else {
            c.err(
                pool.prefix.referenced,
                format!("`{}` is not an IPv6 prefix", pool.prefix.value),
            );
            ok = false;
            continue;
        };
        let len = pool.length.as_ref().map_or(64, |l| l.value);
        if len < pfx.len() || len > 64 {
            c.err(
                pool.length.as_ref().map_or(pool.prefix.referenced, |l| l.referenced),
                format!("subscriber prefix length {len} must lie between the pool's own length ({}) and 64", pfx.len()),
            );
            ok = false;
        }
        cfg.ipv6_pools.push(V6PoolConfig {
            name: pool.name.value.clone(),
            prefix: std::net::Ipv6Addr::from(pfx.addr()),
            len: pfx.len(),
            delegated_len: len,
        });
    }
    if let Some(i) = &p.ipv6 {
        cfg.ipv6 = i.value;
        if i.value && cfg.ipv6_pools.is_empty() {
            c.err(
                i.referenced,
                "ipv6: true needs an `ipv6_pools` entry (each subscriber gets a prefix from it)",
            );
        }
    }
    for u in &p.users {
        let address = u.address.as_ref().and_then(|a| v4(c, a, "user address"));
        cfg.users.push(LocalUser {
            name: u.name.value.clone(),
            password: u.password.value.clone(),
            address,
        });
    }
    if let Some(r) = &p.radius {
        let base = check_radius_client(
            c,
            &r.source,
            r.nas_identifier.as_ref(),
            &r.servers,
            (r.timeout.as_ref(), r.retries.as_ref()),
            vr_name,
        );
        let accounting: Vec<_> = r
            .accounting
            .iter()
            .filter_map(|s| check_radius_server(c, s))
            .collect();
        let dae = r.dynamic_authorization.as_ref().and_then(|d| {
            let listen = match std::net::SocketAddr::from_str(&d.listen.value) {
                Ok(a) => Some(a),
                Err(_) => {
                    c.err(
                        d.listen.referenced,
                        format!(
                            "`{}` is not ADDRESS:PORT (e.g. 192.0.2.1:3799)",
                            d.listen.value
                        ),
                    );
                    None
                }
            };
            let clients: Vec<_> = d
                .clients
                .iter()
                .filter_map(|cl| match IpAddr::from_str(&cl.address.value) {
                    Ok(a) => Some(DaeClient {
                        addr: a,
                        secret: cl.secret.value.clone(),
                    }),
                    Err(_) => {
                        c.err(
                            cl.address.referenced,
                            format!("`{}` is not an IP address", cl.address.value),
                        );
                        None
                    }
                })
                .collect();
            Some((listen?, clients))
        });
        let base = base?;
        cfg.radius = Some(RadiusSettings {
            source: base.source,
            nas_identifier: base.nas_identifier,
            servers: base.servers,
            accounting,
            timeout: base.timeout,
            retries: base.retries,
            interim_interval: r
                .interim_interval
                .as_ref()
                .map(|i| std::time::Duration::from_secs(i.value.max(10))),
            dae,
        });
        if !p.users.is_empty() {
            c.err(
                p.users[0].name.referenced,
                "local `users` are not used when `radius` is set; keep one of the two",
            );
        }
    } else if p.users.is_empty() {
        c.err(
            p.address.referenced,
            format!("VR `{vr_name}` terminates PPP but has neither `radius` nor `users`; no subscriber could authenticate"),
        );
    }
    (ok && local.is_some()).then_some(cfg)
}

/// `first-last` or `a.b.c.d/len` as an inclusive range.
fn parse_v4_range(s: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (
            Ipv4Addr::from_str(a.trim()).ok()?,
            Ipv4Addr::from_str(b.trim()).ok()?,
        );
        return (a <= b).then_some((a, b));
    }
    let (a, l) = s.split_once('/')?;
    let a = u32::from(Ipv4Addr::from_str(a).ok()?);
    let l: u32 = l.parse().ok().filter(|l| *l <= 32)?;
    let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
    Some(((a & m).into(), (a | !m).into()))
}

#[cfg(test)]
mod relay_radius_tests {
    use std::path::Path;

    const BASE: &str = "\
router_id: 192.0.2.1
ports:
  - { name: user0, backend: mem, mac: \"02:00:00:00:00:01\" }
  - { name: wan0, backend: mem, mac: \"02:00:00:00:00:02\" }
virtual_routers:
  - id: 1
    name: access
    vpn_id: \"00a0c9:00000001\"
    tenant: carrier
    interfaces:
      - { port: user0, vlan: 100 }
    pppoe: {}
    relay:
      realms:
        - { realm: isp-a.example, vr: isp-a }
RADIUS
  - id: 2
    name: isp-a
    vpn_id: \"00a0c9:00000002\"
    tenant: a
    interfaces:
      - { port: wan0, vlan: 2, addresses: [10.231.0.1/24] }
    l2tp: { role: lac, local: 10.231.0.1, hostname: lac-a, secret: sa, peers: [10.231.0.2] }
  - id: 3
    name: isp-b
    vpn_id: \"00a0c9:00000003\"
    tenant: b
    interfaces:
      - { port: wan0, vlan: 3, addresses: [10.232.0.1/24] }
    l2tp: { role: lac, local: 10.232.0.1, hostname: lac-b, peers: [10.232.0.2, 10.232.0.3] }
";

    fn parse(radius: &str) -> Result<crate::config::Config, Vec<String>> {
        let y = BASE.replace("RADIUS\n", radius);
        crate::parse_config(Path::new("p.yaml"), &y)
            .map_err(|es| es.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn relay_radius_is_parsed_with_every_lac_as_a_tunnel_target() {
        let c = parse(
            "      radius:\n        source: 127.0.0.1\n        servers: [{ address: \"127.0.0.1:1812\", secret: s }]\n        timeout: 2\n        retries: 4\n",
        )
        .unwrap();
        let a = c.vrs[0].relay.as_ref().unwrap();
        let r = a.radius.as_ref().expect("radius");
        assert_eq!(r.nas_identifier, "access", "defaults to the VR's name");
        assert_eq!(r.servers.len(), 1);
        assert_eq!(r.servers[0].addr, "127.0.0.1:1812".parse().unwrap());
        assert_eq!(r.timeout, std::time::Duration::from_secs(2));
        assert_eq!(r.retries, 4);
        assert_eq!(a.lacs.len(), 2);
        assert_eq!(a.lacs[0].name, "isp-a");
        assert_eq!(a.lacs[0].vr, vr::VrId(2));
        assert_eq!(a.lacs[0].secret.as_deref(), Some(&b"sa"[..]));
        assert_eq!(a.lacs[1].peers.len(), 2);
        assert_eq!(a.lacs[1].secret, None);
        // Without `radius`: no targets, no client.
        let c = parse("").unwrap();
        let a = c.vrs[0].relay.as_ref().unwrap();
        assert!(a.radius.is_none() && a.lacs.is_empty());
    }

    #[test]
    fn relay_radius_errors() {
        let e = parse(
            "      radius:\n        source: nowhere\n        servers: [{ address: \"127.0.0.1\", secret: \"\" }, { address: \"127.0.0.1:1812\", secret: \"\" }]\n        timeout: 0\n        retries: 0\n",
        )
        .unwrap_err();
        let want = [
            "radius source `nowhere` is not an IP address",
            "`127.0.0.1` is not ADDRESS:PORT",
            "the RADIUS secret is empty",
            "timeout must be at least 1 second",
            "retries must be at least 1",
        ];
        for w in want {
            assert!(e.iter().any(|x| x.contains(w)), "{w}: {e:?}");
        }
        let e = parse("      radius: { source: 127.0.0.1, servers: [] }\n").unwrap_err();
        assert!(e.iter().any(|x| x.contains("at least one server")), "{e:?}");
        // Accounting and DAE are not relay keys.
        let e = parse(
            "      radius:\n        source: 127.0.0.1\n        servers: [{ address: \"127.0.0.1:1812\", secret: s }]\n        accounting: [{ address: \"127.0.0.1:1813\", secret: s }]\n",
        )
        .unwrap_err();
        assert!(
            e.iter().any(|x| x.contains("unknown field `accounting`")),
            "{e:?}"
        );
    }
}
