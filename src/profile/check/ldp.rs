//! The `ldp` section: LSR Id, trunk ports, transport address, label block (disjoint from the
//! static label matrix), originated FECs, timers and the core routes (docs/profile.md,
//! docs/protocols/ldp.md §6).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use controlplane::ldp::wire::Prefix4;

use super::{Checker, LABEL_MAX, LABEL_MIN};
use crate::config::PortCfg;
use crate::ldp::config::{covers, CoreRouteCfg, LdpCfg, LdpPortCfg, LDP_PORT};
use crate::profile::{LabelEntry, Ldp, S};

/// Most core routes (each is looked up for every FEC on every change).
pub const MAX_CORE_ROUTES: usize = 4096;
/// Most originated FECs.
pub const MAX_FECS: usize = 1024;

fn ipv4(c: &mut Checker, v: &S<String>, key: &str) -> Option<Ipv4Addr> {
    c.unicast_v4(v, &format!("ldp.{key}"), "10.255.0.1")
}

fn prefix(c: &mut Checker, v: &S<String>, key: &str) -> Option<Prefix4> {
    if !v.value.contains('/') {
        c.err(
            v.referenced,
            format!(
                "ldp.{key} `{}` has no prefix length; expected e.g. 10.255.0.3/32",
                v.value
            ),
        );
        return None;
    }
    match Prefix4::from_str(&v.value) {
        Ok(p) if p.addr().to_string() + "/" + &p.len().to_string() != v.value => {
            c.err(
                v.referenced,
                format!("ldp.{key} `{}` has host bits set; expected `{p}`", v.value),
            );
            None
        }
        Ok(p) => Some(p),
        Err(e) => {
            c.err(
                v.referenced,
                format!("ldp.{key}: {e}; expected an IPv4 prefix like 10.255.0.3/32"),
            );
            None
        }
    }
}

fn secs(c: &mut Checker, v: &Option<S<u64>>, key: &str, def: u64, max: u64) -> u64 {
    match v {
        None => def,
        Some(s) if s.value == 0 || s.value > max => {
            c.err(
                s.referenced,
                format!(
                    "ldp.{key} {} is out of range; expected 1..={max} seconds",
                    s.value
                ),
            );
            def
        }
        Some(s) => s.value,
    }
}

/// Checks `l` against the profile's router id, ports and static label matrix.
pub(super) fn check(
    c: &mut Checker,
    l: &Ldp,
    router_id: Ipv4Addr,
    ports: &[PortCfg],
    statics: &[LabelEntry],
) -> Option<LdpCfg> {
    let before = c.errors.len();
    let lsr_id = match &l.lsr_id {
        Some(v) => ipv4(c, v, "lsr_id").unwrap_or(router_id),
        None => router_id,
    };
    // Ports: trunk ports with an IPv4 address, each once.
    let known = || {
        let mut v: Vec<&str> = ports
            .iter()
            .filter(|p| p.trunk)
            .map(|p| p.name.as_str())
            .collect();
        v.sort_unstable();
        if v.is_empty() {
            "none (mark a port `trunk: true`)".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut lports: Vec<LdpPortCfg> = Vec::new();
    for n in &l.ports {
        let Some(pi) = ports.iter().position(|p| p.name == n.value) else {
            c.err(
                n.referenced,
                format!(
                    "ldp.ports: port `{}` is not defined; trunk ports: {}",
                    n.value,
                    known()
                ),
            );
            continue;
        };
        let p = &ports[pi];
        if !p.trunk {
            c.err(
                n.referenced,
                format!(
                    "ldp.ports: port `{}` is not a trunk; LDP runs on core-facing trunk ports: {}",
                    n.value,
                    known()
                ),
            );
            continue;
        }
        let addrs: Vec<(Ipv4Addr, u8)> = p
            .addresses
            .iter()
            .filter_map(|a| match a.addr {
                IpAddr::V4(x) => Some((x, a.len)),
                IpAddr::V6(_) => None,
            })
            .collect();
        if addrs.is_empty() {
            c.err(
                n.referenced,
                format!(
                    "ldp.ports: trunk port `{}` has no IPv4 address; LDP Hellos go out of one (give it `addresses:`)",
                    n.value
                ),
            );
            continue;
        }
        if lports.iter().any(|x| x.port == pi) {
            c.err(
                n.referenced,
                format!("ldp.ports: port `{}` is listed twice", n.value),
            );
            continue;
        }
        lports.push(LdpPortCfg {
            port: pi,
            name: p.name.clone(),
            addrs,
        });
    }
    if l.ports.is_empty() {
        c.err(
            l.labels.min.referenced,
            format!(
                "ldp.ports is empty; expected the trunk ports LDP runs on: {}",
                known()
            ),
        );
    }
    // Transport address: the LSR Id or an address of an LDP port.
    let transport = match &l.transport_address {
        None => lsr_id,
        Some(v) => match ipv4(c, v, "transport_address") {
            Some(a) if a == lsr_id || lports.iter().any(|p| p.addrs.iter().any(|x| x.0 == a)) => a,
            Some(a) => {
                c.err(
                    v.referenced,
                    format!(
                        "ldp.transport_address {a} is neither the LSR Id ({lsr_id}) nor an address of an LDP port; expected one of them"
                    ),
                );
                lsr_id
            }
            None => lsr_id,
        },
    };
    // Label block.
    let (lo, hi) = (l.labels.min.value, l.labels.max.value);
    let mut labels_ok = true;
    if lo < LABEL_MIN || hi > LABEL_MAX || lo > hi {
        c.err(
            l.labels.min.referenced,
            format!(
                "ldp.labels {lo}..={hi} is not a label block; expected min ≤ max within {LABEL_MIN}..={LABEL_MAX}"
            ),
        );
        labels_ok = false;
    }
    if labels_ok {
        for s in statics {
            if (lo..=hi).contains(&s.label.value) {
                c.err(
                    s.label.referenced,
                    format!(
                        "static label {} is inside LDP's label block {lo}..={hi} (ldp.labels); LDP would hand it out too. Move the static label or the block",
                        s.label.value
                    ),
                );
            }
        }
    }
    // FECs.
    let mut fecs = Vec::new();
    let mut seen = HashSet::new();
    seen.insert(Prefix4::host(lsr_id));
    for f in &l.fecs {
        if let Some(p) = prefix(c, f, "fecs") {
            if !seen.insert(p) {
                c.err(
                    f.referenced,
                    format!(
                        "ldp.fecs: `{p}` is listed twice (the LSR Id /32 is always originated)"
                    ),
                );
            } else {
                fecs.push(p);
            }
        }
    }
    if fecs.len() > MAX_FECS {
        c.err(
            l.labels.min.referenced,
            format!("ldp.fecs has {} prefixes; at most {MAX_FECS}", fecs.len()),
        );
    }
    // Timers.
    let hello = secs(c, &l.hello_interval_s, "hello_interval_s", 5, 3600);
    let hold = secs(c, &l.hold_time_s, "hold_time_s", 15, 65535);
    let keepalive = secs(c, &l.keepalive_s, "keepalive_s", 180, 65535);
    if hello >= hold {
        let at = l
            .hello_interval_s
            .as_ref()
            .or(l.hold_time_s.as_ref())
            .map_or(l.labels.min.referenced, |s| s.referenced);
        c.err(
            at,
            format!(
                "ldp.hello_interval_s {hello} is not below hold_time_s {hold}; expected Hellos several times per hold time (RFC 5036 suggests a third)"
            ),
        );
    }
    let udp_tcp_port = match &l.port {
        None => LDP_PORT,
        Some(p) if p.value == 0 => {
            c.err(
                p.referenced,
                format!("ldp.port 0 is not a port; expected {LDP_PORT} (the default)"),
            );
            LDP_PORT
        }
        Some(p) => p.value,
    };
    // Core routes.
    let mut core_routes = Vec::new();
    let mut seen_routes = HashSet::new();
    for r in &l.core_routes {
        let pfx = prefix(c, &r.prefix, "core_routes.prefix");
        let via = ipv4(c, &r.via, "core_routes.via");
        let port = lports.iter().find(|p| p.name == r.port.value);
        if port.is_none() {
            c.err(
                r.port.referenced,
                format!(
                    "ldp.core_routes: port `{}` is not one of ldp.ports ({})",
                    r.port.value,
                    lports
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let (Some(pfx), Some(via), Some(port)) = (pfx, via, port) else {
            continue;
        };
        if !port
            .addrs
            .iter()
            .any(|(a, len)| covers(Prefix4::new(*a, *len).unwrap_or(Prefix4::host(*a)), via))
        {
            c.err(
                r.via.referenced,
                format!(
                    "ldp.core_routes: next hop {via} is not on port `{}`'s link ({}); expected an address of its subnet",
                    port.name,
                    port.addrs
                        .iter()
                        .map(|(a, l)| format!("{a}/{l}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        }
        if port.addrs.iter().any(|(a, _)| *a == via) {
            c.err(
                r.via.referenced,
                format!(
                    "ldp.core_routes: next hop {via} is our own address on `{}`",
                    port.name
                ),
            );
            continue;
        }
        if !seen_routes.insert(pfx) {
            c.err(
                r.prefix.referenced,
                format!("ldp.core_routes: `{pfx}` has two routes; one next hop per prefix"),
            );
            continue;
        }
        core_routes.push(CoreRouteCfg {
            prefix: pfx,
            via,
            port: port.port,
        });
    }
    if core_routes.len() > MAX_CORE_ROUTES {
        c.err(
            l.labels.min.referenced,
            format!(
                "ldp.core_routes has {} routes; at most {MAX_CORE_ROUTES}",
                core_routes.len()
            ),
        );
    }
    if c.errors.len() > before {
        return None;
    }
    Some(LdpCfg {
        lsr_id,
        transport,
        ports: lports,
        labels: lo..=hi,
        fecs,
        hello_interval: Duration::from_secs(hello),
        hold_time: hold as u16,
        keepalive: keepalive as u16,
        udp_tcp_port,
        core_routes,
        next_hop_from_peers: l.next_hop_from_peers.as_ref().is_none_or(|b| b.value),
        hello_loopback: false,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = r#"router_id: 10.255.0.2
ports:
  - { name: a, backend: mem, mac: "02:00:00:02:00:01", trunk: true, addresses: [10.99.1.2/24] }
  - { name: b, backend: mem, mac: "02:00:00:02:00:02", trunk: true, addresses: ["fd00::2/64", 10.99.2.2/24] }
  - { name: user, backend: mem, mac: "02:00:00:02:00:03" }
labels: { min: 16, max: 30000 }
"#;

    fn check(rest: &str) -> Result<crate::config::Config, Vec<String>> {
        let text = format!("{BASE}{rest}");
        crate::parse_config(Path::new("p.yaml"), &text)
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn a_good_section_resolves_with_defaults() {
        let c = check(
            r#"ldp:
  ports: [a, b]
  labels: { min: 20000, max: 20999 }
  core_routes:
    - { prefix: 192.0.2.0/24, via: 10.99.2.3, port: b }
"#,
        )
        .unwrap();
        let l = c.ldp.unwrap();
        let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        assert_eq!(
            (l.lsr_id, l.transport),
            (ip("10.255.0.2"), ip("10.255.0.2"))
        );
        assert_eq!(l.ports[1].port, 1);
        // The IPv6 address of `b` is not LDP's.
        assert_eq!(l.ports[1].addrs, vec![(ip("10.99.2.2"), 24)]);
        assert_eq!(l.labels, 20000..=20999);
        assert_eq!(l.udp_tcp_port, 646);
        assert_eq!((l.hold_time, l.keepalive), (15, 180));
        assert!(l.next_hop_from_peers && !l.hello_loopback);
        assert_eq!(l.core_routes[0].port, 1);
        assert_eq!(l.own_fecs(), vec!["10.255.0.2/32".parse().unwrap()]);
    }

    #[test]
    fn every_error_is_named_with_its_place() {
        let e = check(
            r#"label_matrix:
  - { label: 20005, action: pop-next }
ldp:
  lsr_id: 224.0.0.5
  ports: [a, user, nope, a]
  transport_address: 10.1.1.1
  labels: { min: 20000, max: 20999 }
  fecs: [192.0.2.1/24, 10.0.0.0]
  hello_interval_s: 20
  keepalive_s: 0
  port: 0
  core_routes:
    - { prefix: 10.255.0.3/32, via: 10.98.0.1, port: a }
    - { prefix: 10.255.0.4/32, via: 10.99.1.2, port: a }
    - { prefix: 10.255.0.5/32, via: 10.99.2.3, port: b }
"#,
        )
        .unwrap_err();
        let want = [
            "p.yaml:8:14: static label 20005 is inside LDP's label block 20000..=20999",
            "p.yaml:10:11: ldp.lsr_id `224.0.0.5` is not a unicast address",
            "p.yaml:11:14: ldp.ports: port `user` is not a trunk",
            "p.yaml:11:20: ldp.ports: port `nope` is not defined; trunk ports: a, b",
            "p.yaml:11:26: ldp.ports: port `a` is listed twice",
            "p.yaml:12:22: ldp.transport_address 10.1.1.1 is neither the LSR Id",
            "p.yaml:14:10: ldp.fecs `192.0.2.1/24` has host bits set; expected `192.0.2.0/24`",
            "p.yaml:14:24: ldp.fecs `10.0.0.0` has no prefix length",
            "p.yaml:15:21: ldp.hello_interval_s 20 is not below hold_time_s 15",
            "p.yaml:16:16: ldp.keepalive_s 0 is out of range",
            "p.yaml:17:9: ldp.port 0 is not a port",
            "p.yaml:19:37: ldp.core_routes: next hop 10.98.0.1 is not on port `a`'s link",
            "p.yaml:20:37: ldp.core_routes: next hop 10.99.1.2 is our own address on `a`",
            "p.yaml:21:54: ldp.core_routes: port `b` is not one of ldp.ports (a)",
        ];
        for w in want {
            assert!(
                e.iter().any(|x| x.starts_with(w)),
                "missing `{w}` in:\n{}",
                e.join("\n")
            );
        }
        assert_eq!(e.len(), want.len(), "{}", e.join("\n"));
    }
}
