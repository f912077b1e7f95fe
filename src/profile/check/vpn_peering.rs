//! The `vpn_peering` section: the L2TP control channels between the VRs of a VPN that
//! `discovery:` finds — the host socket, the per-VPN CHAP secrets (separate from the
//! discovery keys), the RADIUS server that checks them, timers, limits and the static
//! transport paths (docs/profile.md, docs/protocols/vpn-peering.md §7).

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use super::Checker;
use crate::config::{
    DiscoveryCfg, PortCfg, VpnPeeringCfg, VpnPeeringVpnCfg, VpnRadiusCfg, VPN_PEERING_PORT,
};
use crate::profile::{Profile, VpnPeering, S};

/// Shortest CHAP secret accepted.
pub const MIN_SECRET: usize = 16;
/// Longest (what RADIUS can hold as a password).
pub const MAX_SECRET: usize = 128;
/// RFC 3032 implicit-null label: push no transport label (penultimate hop popping).
pub const IMPLICIT_NULL: u32 = 3;

fn ipv4(c: &mut Checker, v: &S<String>, key: &str) -> Option<Ipv4Addr> {
    c.unicast_v4(v, &format!("vpn_peering.{key}"), "192.0.2.1")
}

fn sockaddr(c: &mut Checker, v: &S<String>, key: &str, wildcard_ok: bool) -> Option<SocketAddr> {
    match v.value.parse::<SocketAddr>() {
        Ok(a) if a.port() == 0 || (!wildcard_ok && a.ip().is_unspecified()) => {
            c.err(
                v.referenced,
                format!(
                    "vpn_peering.{key} `{}` needs a fixed port{}; expected e.g. 192.0.2.1:{VPN_PEERING_PORT}",
                    v.value,
                    if wildcard_ok { "" } else { " and a reachable address" }
                ),
            );
            None
        }
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                v.referenced,
                format!(
                    "vpn_peering.{key} `{}` is not an address and port; expected e.g. 127.0.0.1:{VPN_PEERING_PORT}",
                    v.value
                ),
            );
            None
        }
    }
}

fn range(
    c: &mut Checker,
    v: &Option<S<u64>>,
    key: &str,
    r: RangeInclusive<u64>,
    unit: &str,
    default: u64,
) -> u64 {
    match v {
        Some(x) if !r.contains(&x.value) => {
            c.err(
                x.referenced,
                format!(
                    "vpn_peering.{key} {} is out of range; expected {}..={} {unit}",
                    x.value,
                    r.start(),
                    r.end()
                ),
            );
            default
        }
        Some(x) => x.value,
        None => default,
    }
}

/// Checks `v` against the discovery section (the VPNs' 32-bit ids and keys) and the ports
/// (transport paths leave by trunks).
pub(super) fn check(
    c: &mut Checker,
    v: &VpnPeering,
    p: &Profile,
    discovery: Option<&DiscoveryCfg>,
    ports: &[PortCfg],
) -> Option<VpnPeeringCfg> {
    let before = c.errors.len();
    let listen = match &v.listen {
        None => SocketAddr::from(([0, 0, 0, 0], VPN_PEERING_PORT)),
        Some(l) => sockaddr(c, l, "listen", true)
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], VPN_PEERING_PORT))),
    };
    let Some(d) = discovery else {
        // Channels open to the VRs discovery finds: without it there is nobody to peer with.
        let at = v
            .listen
            .as_ref()
            .map(|l| l.referenced)
            .or_else(|| v.vpns.first().map(|x| x.vpn_id.referenced));
        if p.discovery.is_none() {
            if let Some(at) = at {
                c.err(
                    at,
                    "vpn_peering needs a `discovery:` section (channels open to the VRs discovery finds)",
                );
            }
        }
        return None;
    };
    let mut reach = BTreeMap::new();
    for r in &v.reach {
        let Some(router) = ipv4(c, &r.router, "reach.router") else {
            continue;
        };
        if !d.routers.contains(&router) {
            c.err(
                r.router.referenced,
                format!("vpn_peering.reach: router `{router}` is not in discovery.routers"),
            );
        }
        if let Some(a) = sockaddr(c, &r.address, "reach.address", false) {
            if reach.insert(router, a).is_some() {
                c.err(
                    r.router.referenced,
                    format!("vpn_peering.reach: router `{router}` is given twice"),
                );
            }
        }
    }
    let mut vpns: Vec<VpnPeeringVpnCfg> = Vec::new();
    let mut secrets: HashSet<&str> = HashSet::new();
    for x in &v.vpns {
        let vpn_id = match vr::VpnId::from_str(&x.vpn_id.value) {
            Ok(id) => id,
            Err(e) => {
                c.err(
                    x.vpn_id.referenced,
                    format!("vpn_peering.vpns: VPN id `{}`: {e}", x.vpn_id.value),
                );
                continue;
            }
        };
        let Some(dv) = d.vpns.iter().find(|dv| dv.vpn_id == vpn_id) else {
            c.err(
                x.vpn_id.referenced,
                format!(
                    "vpn_peering.vpns: VPN `{}` is not in discovery.vpns; a VPN peers with the VRs discovery finds",
                    x.vpn_id.value
                ),
            );
            continue;
        };
        if vpns.iter().any(|o| o.id == dv.id) {
            c.err(
                x.vpn_id.referenced,
                format!("vpn_peering.vpns: VPN `{}` is listed twice", x.vpn_id.value),
            );
            continue;
        }
        let s = x.secret.value.as_bytes();
        if !(MIN_SECRET..=MAX_SECRET).contains(&s.len()) {
            c.err(
                x.secret.referenced,
                format!(
                    "vpn_peering.vpns: the CHAP secret of VPN `{}` has {} bytes; expected {MIN_SECRET}..={MAX_SECRET}",
                    x.vpn_id.value,
                    s.len()
                ),
            );
        } else if s == dv.secret.as_slice() {
            c.err(
                x.secret.referenced,
                format!(
                    "vpn_peering.vpns: the CHAP secret of VPN `{}` is its discovery secret; keep them separate (a leaked RADIUS user table must not give away the discovery key)",
                    x.vpn_id.value
                ),
            );
        } else if !secrets.insert(x.secret.value.as_str()) {
            c.err(
                x.secret.referenced,
                format!(
                    "vpn_peering.vpns: VPN `{}` has another VPN's CHAP secret; each VPN needs its own",
                    x.vpn_id.value
                ),
            );
        }
        vpns.push(VpnPeeringVpnCfg {
            id: dv.id,
            secret: s.to_vec(),
        });
    }
    let radius_timeout = Duration::from_millis(range(
        c,
        &v.radius.as_ref().and_then(|r| r.timeout_ms.clone()),
        "radius.timeout_ms",
        10..=60_000,
        "milliseconds",
        3000,
    ));
    let default_radius = SocketAddr::from(([127, 0, 0, 1], 1812));
    let radius = match &v.radius {
        None => VpnRadiusCfg::InProcess(default_radius),
        Some(r) => {
            match (&r.listen, &r.server, &r.secret) {
                (Some(l), None, None) => VpnRadiusCfg::InProcess(
                    sockaddr(c, l, "radius.listen", false).unwrap_or(default_radius),
                ),
                (None, None, None) => VpnRadiusCfg::InProcess(default_radius),
                (None, Some(s), Some(k)) => {
                    if k.value.is_empty() {
                        c.err(k.referenced, "vpn_peering.radius.secret is empty; expected the shared secret of the RADIUS server");
                    }
                    let a = sockaddr(c, s, "radius.server", false).unwrap_or(default_radius);
                    VpnRadiusCfg::External(a, k.value.as_bytes().to_vec())
                }
                (None, Some(s), None) => {
                    c.err(s.referenced, "vpn_peering.radius.server needs `secret` (the shared secret with that server)");
                    VpnRadiusCfg::InProcess(default_radius)
                }
                (l, _, k) => {
                    let at = l
                        .as_ref()
                        .map(|x| x.referenced)
                        .or(k.as_ref().map(|x| x.referenced))
                        .expect("one of listen/secret is present in this arm");
                    c.err(
                    at,
                    "vpn_peering.radius: give either `listen` (the in-process server) or `server` with `secret` (an external one), not both",
                );
                    VpnRadiusCfg::InProcess(default_radius)
                }
            }
        }
    };
    let hello = Duration::from_secs(range(c, &v.hello_s, "hello_s", 1..=3600, "seconds", 60));
    let retransmit = Duration::from_millis(range(
        c,
        &v.retransmit_ms,
        "retransmit_ms",
        50..=10_000,
        "milliseconds",
        1000,
    ));
    let max_retransmits = match &v.max_retransmits {
        Some(x) if !(1..=20).contains(&x.value) => {
            c.err(
                x.referenced,
                format!(
                    "vpn_peering.max_retransmits {} is out of range; expected 1..=20",
                    x.value
                ),
            );
            5
        }
        Some(x) => x.value,
        None => 5,
    };
    let hold = Duration::from_secs(range(
        c,
        &v.hold_s,
        "hold_s",
        1..=30 * 86_400,
        "seconds",
        86_400,
    ));
    let reconnect = Duration::from_secs(range(
        c,
        &v.reconnect_s,
        "reconnect_s",
        1..=3600,
        "seconds",
        5,
    ));
    let max_routes_per_peer = range(
        c,
        &v.max_routes_per_peer,
        "max_routes_per_peer",
        1..=10_000_000,
        "routes",
        100_000,
    ) as usize;
    let max_peers = range(c, &v.max_peers, "max_peers", 1..=65_535, "channels", 4096) as usize;
    let mut transport = BTreeMap::new();
    for t in &v.transport {
        let router = ipv4(c, &t.router, "transport.router");
        let label = match t.label.value {
            IMPLICIT_NULL => None,
            l if labelswitch::Label::new_unreserved(l).is_ok() => Some(l),
            l => {
                c.err(
                    t.label.referenced,
                    format!(
                        "vpn_peering.transport: label {l} is not a transport label; expected 16..=1048575, or 3 for implicit null"
                    ),
                );
                None
            }
        };
        let port = match ports.iter().position(|x| x.name == t.port.value) {
            Some(i) if ports[i].trunk => Some(i),
            Some(_) => {
                c.err(
                    t.port.referenced,
                    format!(
                        "vpn_peering.transport: port `{}` is not a trunk; transport paths leave by core-facing trunks",
                        t.port.value
                    ),
                );
                None
            }
            None => {
                let known: Vec<&str> = ports.iter().map(|x| x.name.as_str()).collect();
                c.err(
                    t.port.referenced,
                    format!(
                        "vpn_peering.transport: port `{}` is not defined; known ports: {}",
                        t.port.value,
                        known.join(", ")
                    ),
                );
                None
            }
        };
        let via = match IpAddr::from_str(&t.via.value) {
            Ok(a) if !a.is_unspecified() && !a.is_multicast() => Some(a),
            _ => {
                c.err(
                    t.via.referenced,
                    format!(
                        "vpn_peering.transport: via `{}` is not a next-hop address; expected e.g. 192.0.2.254",
                        t.via.value
                    ),
                );
                None
            }
        };
        if let (Some(r), Some(port), Some(via)) = (router, port, via) {
            if r == d.router_id {
                c.err(
                    t.router.referenced,
                    format!("vpn_peering.transport: router `{r}` is this router"),
                );
            } else if transport.insert(r, (label, port, via)).is_some() {
                c.err(
                    t.router.referenced,
                    format!("vpn_peering.transport: router `{r}` is given twice"),
                );
            }
        }
    }
    if c.errors.len() != before {
        return None;
    }
    Some(VpnPeeringCfg {
        listen,
        reach,
        vpns,
        radius,
        radius_timeout,
        hello,
        retransmit,
        max_retransmits,
        hold,
        reconnect,
        max_routes_per_peer,
        max_peers,
        transport,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = r#"router_id: 192.0.2.1
ports:
  - { name: p0, backend: mem, mac: "02:00:00:00:00:01" }
  - { name: t0, backend: mem, mac: "02:00:00:00:00:02", trunk: true, addresses: [192.0.2.1/30] }
virtual_routers:
  - id: 1
    name: a
    vpn_id: "00a0c9:00000001"
    tenant: t
    interfaces:
      - { port: p0, vlan: 10, addresses: [10.1.0.1/24] }
discovery:
  routers: [192.0.2.1, 192.0.2.2]
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "discovery secret of A" }
"#;

    fn check(section: &str) -> Result<crate::config::Config, Vec<String>> {
        let text = format!("{BASE}{section}");
        crate::parse_config(Path::new("p.yaml"), &text)
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn a_good_section_resolves_with_defaults() {
        let c = check(
            r#"vpn_peering:
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "peering secret of A" }
  transport:
    - { router: 192.0.2.2, label: 3, port: t0, via: 192.0.2.2 }
"#,
        )
        .unwrap();
        let v = c.vpn_peering.as_ref().unwrap();
        assert_eq!(v.listen.port(), crate::config::VPN_PEERING_PORT);
        assert_eq!(v.vpns[0].id, 1);
        assert_eq!(v.hold, std::time::Duration::from_secs(86_400));
        assert_eq!(
            v.radius,
            crate::config::VpnRadiusCfg::InProcess("127.0.0.1:1812".parse().unwrap())
        );
        let r2: std::net::Ipv4Addr = "192.0.2.2".parse().unwrap();
        assert_eq!(v.transport[&r2], (None, 1, "192.0.2.2".parse().unwrap()));
        assert!(!format!("{v:?}").contains("peering secret of A"));
    }

    #[test]
    fn every_error_is_named_with_its_place() {
        let e = check(
            r#"vpn_peering:
  listen: "0.0.0.0:0"
  reach:
    - { router: 192.0.2.9, address: "127.0.0.1:18270" }
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "discovery secret of A" }
    - { vpn_id: "00a0c9:00000002", secret: "peering secret of B" }
  radius: { listen: "127.0.0.1:18273", server: "10.0.0.1:1812", secret: "x" }
  hold_s: 0
  transport:
    - { router: 192.0.2.2, label: 7, port: t0, via: 192.0.2.2 }
    - { router: 192.0.2.3, label: 100, port: p0, via: 192.0.2.2 }
"#,
        )
        .unwrap_err();
        let want = [
            "p.yaml:17:11: vpn_peering.listen `0.0.0.0:0` needs a fixed port",
            "p.yaml:19:17: vpn_peering.reach: router `192.0.2.9` is not in discovery.routers",
            "p.yaml:21:44: vpn_peering.vpns: the CHAP secret of VPN `00a0c9:00000001` is its discovery secret",
            "p.yaml:22:17: vpn_peering.vpns: VPN `00a0c9:00000002` is not in discovery.vpns",
            "p.yaml:23:21: vpn_peering.radius: give either `listen`",
            "p.yaml:24:11: vpn_peering.hold_s 0 is out of range",
            "p.yaml:26:35: vpn_peering.transport: label 7 is not a transport label",
            "p.yaml:27:46: vpn_peering.transport: port `p0` is not a trunk",
        ];
        for w in want {
            assert!(
                e.iter().any(|x| x.starts_with(w)),
                "missing {w:?} in {e:#?}"
            );
        }
        assert_eq!(e.len(), want.len(), "{e:#?}");
    }

    #[test]
    fn needs_discovery() {
        let text = r#"router_id: 192.0.2.1
ports:
  - { name: p0, backend: mem, mac: "02:00:00:00:00:01" }
vpn_peering:
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "peering secret of A" }
"#;
        let e = crate::parse_config(Path::new("p.yaml"), text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].to_string().contains("needs a `discovery:` section"),
            "{e:?}"
        );
    }
}
