//! Semantic validation of a parsed profile: every error is collected, not only the first.

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
const KNOWN_BACKENDS: &[&str] = &["mem", "pcap"];

struct Checker<'a> {
    file: &'a Path,
    errors: Vec<ProfileError>,
}

impl Checker<'_> {
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
            "af_packet" | "dpdk" => {
                c.err(
                    port.backend.referenced,
                    format!(
                        "backend `{}` is not available in this build; expected one of: {}",
                        port.backend.value,
                        KNOWN_BACKENDS.join(", ")
                    ),
                );
                Backend::Mem
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
    let check_label = |c: &mut Checker, l: &S<u32>| {
        if !(LABEL_MIN..=LABEL_MAX).contains(&l.value) {
            c.err(
                l.referenced,
                format!("label {} is out of range; expected {LABEL_MIN}..={LABEL_MAX} (0..=15 are reserved)", l.value),
            );
        }
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
        for r in &v.routes {
            let prefix = match parse_prefix(&r.prefix.value) {
                Ok(pf) => pf,
                Err(e) => {
                    c.err(r.prefix.referenced, e);
                    continue;
                }
            };
            if !prefixes.insert(prefix) {
                c.err(
                    r.prefix.referenced,
                    format!(
                        "route {} is given twice in VR `{}`",
                        r.prefix.value, v.name.value
                    ),
                );
            }
            for l in &r.push {
                check_label(&mut c, l);
            }
            if r.push.len() > MAX_PUSH {
                c.err(
                    r.push[MAX_PUSH].referenced,
                    format!("a route may push at most {MAX_PUSH} labels"),
                );
            }
            let blackhole = r.blackhole.as_ref().is_some_and(|b| b.value);
            let target = match (&r.via, blackhole) {
                (Some(via), true) => {
                    c.err(
                        via.referenced,
                        "a route has either `via` or `blackhole: true`, not both",
                    );
                    continue;
                }
                (None, true) => {
                    if let Some(l) = r.push.first() {
                        c.err(l.referenced, "a blackhole route cannot push labels");
                    }
                    RouteTarget::Blackhole
                }
                (None, false) => {
                    c.err(r.prefix.referenced, format!("route {} has no next hop; expected `via: ADDRESS` or `blackhole: true`", r.prefix.value));
                    continue;
                }
                (Some(via), false) => {
                    let Ok(addr) = IpAddr::from_str(&via.value) else {
                        c.err(
                            via.referenced,
                            format!("next hop `{}` is not an IP address", via.value),
                        );
                        continue;
                    };
                    // A labelled route may cross an IPv4 core for IPv6 traffic (as 6VPE does);
                    // an unlabelled next hop must be of the prefix's family.
                    if r.push.is_empty() && matches!(prefix, IpPrefix::V4(_)) != addr.is_ipv4() {
                        c.err(via.referenced, format!("next hop {addr} is not of the same address family as {}; only labelled routes may use a next hop of the other family", r.prefix.value));
                        continue;
                    }
                    match resolve_via(addr, &interfaces, &ports, !r.push.is_empty()) {
                        Ok((port, vlan)) => RouteTarget::Via {
                            addr,
                            port,
                            vlan,
                            push: r.push.iter().map(|l| l.value).collect(),
                        },
                        Err(why) => {
                            c.err(
                                via.referenced,
                                format!(
                                    "next hop {addr} is unreachable in VR `{}`: {why}",
                                    v.name.value
                                ),
                            );
                            continue;
                        }
                    }
                }
            };
            routes.push(RouteCfg { prefix, target });
        }
        vrs.push(VrCfg {
            id: v.id.value,
            name: v.name.value.clone(),
            vpn_id,
            tenant: v.tenant.value.clone(),
            interfaces,
            routes,
        });
    }

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
            "pop-forward" => {
                if let Some(o) = &e.out_label {
                    c.err(o.referenced, "`out_label` only applies to `swap`");
                }
                trunk_next_hop(&mut c).map(|(port, via)| LabelOpCfg::PopForward { port, via })
            }
            other => {
                c.err(
                    e.action.referenced,
                    format!("unknown label action `{other}`; expected swap, pop or pop-forward"),
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
        })
    } else {
        c.errors.sort_by_key(|e| (e.line, e.column));
        Err(c.errors)
    }
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
