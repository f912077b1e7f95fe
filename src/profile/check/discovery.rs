//! The `discovery` section: VR discovery across the provider network — our router id, the
//! host socket, the provider router list, where routers are reached, the per-VPN keys and
//! the timers (docs/profile.md, docs/protocols/vr-discovery.md).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use super::Checker;
use crate::config::{DiscoveryCfg, DiscoveryVpnCfg, VrCfg, DISCOVERY_PORT};
use crate::profile::{Discovery, S};

/// Shortest secret accepted (the wire format's minimum, `vr-discovery.md` §2).
pub const MIN_SECRET: usize = 16;
/// Most routers in the list (each addition is unicast to every one).
pub const MAX_ROUTERS: usize = 4096;

fn ipv4(c: &mut Checker, v: &S<String>, key: &str) -> Option<Ipv4Addr> {
    c.unicast_v4(v, &format!("discovery.{key}"), "192.0.2.1")
}

/// Checks `d` against the profile's router id and VRs.
pub(super) fn check(
    c: &mut Checker,
    d: &Discovery,
    router_id: Ipv4Addr,
    vrs: &[VrCfg],
) -> Option<DiscoveryCfg> {
    let before = c.errors.len();
    let me = match &d.router_id {
        Some(r) => ipv4(c, r, "router_id").unwrap_or(router_id),
        None => router_id,
    };
    let listen = match &d.listen {
        None => SocketAddr::from(([0, 0, 0, 0], DISCOVERY_PORT)),
        Some(l) => match l.value.parse::<SocketAddr>() {
            Ok(a) if a.port() == 0 => {
                c.err(
                    l.referenced,
                    format!(
                        "discovery.listen `{}` has port 0; expected a fixed port (every router sends to it), default {DISCOVERY_PORT}",
                        l.value
                    ),
                );
                a
            }
            Ok(a) => a,
            Err(_) => {
                c.err(
                    l.referenced,
                    format!(
                        "discovery.listen `{}` is not an address and port; expected e.g. 0.0.0.0:{DISCOVERY_PORT}",
                        l.value
                    ),
                );
                SocketAddr::from(([0, 0, 0, 0], DISCOVERY_PORT))
            }
        },
    };
    let mut routers = Vec::new();
    let mut seen = HashSet::new();
    for r in &d.routers {
        if let Some(a) = ipv4(c, r, "routers") {
            if !seen.insert(a) {
                c.err(
                    r.referenced,
                    format!("discovery.routers: `{a}` is listed twice"),
                );
            } else {
                routers.push(a);
            }
        }
    }
    if routers.len() > MAX_ROUTERS {
        c.err(
            d.routers[MAX_ROUTERS].referenced,
            format!(
                "discovery.routers has {} routers; at most {MAX_ROUTERS}",
                routers.len()
            ),
        );
    }
    if !d.routers.is_empty() && routers.iter().all(|r| *r == me) && c.errors.len() == before {
        c.err(
            d.routers[0].referenced,
            format!(
                "discovery.routers names no router but ourselves ({me}); expected the provider routers' ids"
            ),
        );
    }
    if d.routers.is_empty() {
        // No location for an empty list: anchor at the first VPN, else nothing to anchor.
        if let Some(v) = d.vpns.first() {
            c.err(
                v.vpn_id.referenced,
                "discovery.routers is empty; expected the provider routers' ids (additions go to every one)",
            );
        }
    }
    let mut reach = BTreeMap::new();
    for r in &d.reach {
        let Some(router) = ipv4(c, &r.router, "reach.router") else {
            continue;
        };
        if !seen.contains(&router) {
            c.err(
                r.router.referenced,
                format!("discovery.reach: router `{router}` is not in discovery.routers"),
            );
        }
        match r.address.value.parse::<SocketAddr>() {
            Ok(a) if a.port() == 0 || a.ip().is_unspecified() => c.err(
                r.address.referenced,
                format!(
                    "discovery.reach: `{}` is not where a router can be reached; expected an address and a port, e.g. 192.0.2.2:{DISCOVERY_PORT}",
                    r.address.value
                ),
            ),
            Ok(a) => {
                if reach.insert(router, a).is_some() {
                    c.err(
                        r.router.referenced,
                        format!("discovery.reach: router `{router}` is given twice"),
                    );
                }
            }
            Err(_) => c.err(
                r.address.referenced,
                format!(
                    "discovery.reach: `{}` is not an address and port; expected e.g. 127.0.0.1:{DISCOVERY_PORT}",
                    r.address.value
                ),
            ),
        }
    }
    let mut vpns: Vec<DiscoveryVpnCfg> = Vec::new();
    let mut ids: HashMap<u32, String> = HashMap::new();
    let mut secrets: HashMap<&str, String> = HashMap::new();
    for v in &d.vpns {
        let vpn_id = match vr::VpnId::from_str(&v.vpn_id.value) {
            Ok(x) => x,
            Err(e) => {
                c.err(
                    v.vpn_id.referenced,
                    format!("discovery.vpns: VPN id `{}`: {e}", v.vpn_id.value),
                );
                continue;
            }
        };
        if vpns.iter().any(|o| o.vpn_id == vpn_id) {
            c.err(
                v.vpn_id.referenced,
                format!("discovery.vpns: VPN `{}` is listed twice", v.vpn_id.value),
            );
            continue;
        }
        let id = v.id.as_ref().map_or(vpn_id.index(), |i| i.value);
        if let Some(other) = ids.insert(id, v.vpn_id.value.clone()) {
            let at = v.id.as_ref().map_or(v.vpn_id.referenced, |i| i.referenced);
            c.err(
                at,
                format!(
                    "discovery.vpns: wire id {id} of VPN `{}` is also VPN `{other}`'s; give each VPN its own `id`",
                    v.vpn_id.value
                ),
            );
        }
        if v.secret.value.len() < MIN_SECRET {
            c.err(
                v.secret.referenced,
                format!(
                    "discovery.vpns: the secret of VPN `{}` has {} bytes; expected at least {MIN_SECRET}",
                    v.vpn_id.value,
                    v.secret.value.len()
                ),
            );
        } else if let Some(other) = secrets.insert(v.secret.value.as_str(), v.vpn_id.value.clone())
        {
            c.err(
                v.secret.referenced,
                format!(
                    "discovery.vpns: VPN `{}` has the secret of VPN `{other}`; each VPN needs its own (a shared secret would let one VPN's routers read the other's)",
                    v.vpn_id.value
                ),
            );
        }
        // One router hosts at most one VR per VPN (vr-discovery.md §2).
        let mine: Vec<&str> = vrs
            .iter()
            .filter(|r| r.vpn_id == vpn_id)
            .map(|r| r.name.as_str())
            .collect();
        if mine.len() > 1 {
            c.err(
                v.vpn_id.referenced,
                format!(
                    "discovery.vpns: VPN `{}` has {} VRs on this router ({}); discovery allows one VR per VPN per router",
                    v.vpn_id.value,
                    mine.len(),
                    mine.join(", ")
                ),
            );
        }
        vpns.push(DiscoveryVpnCfg {
            vpn_id,
            id,
            secret: v.secret.value.as_bytes().to_vec(),
        });
    }
    let ms = |c: &mut Checker, v: &Option<S<u64>>, key: &str, default: u64| match v {
        Some(x) if !(1..=3_600_000).contains(&x.value) => {
            c.err(
                x.referenced,
                format!(
                    "discovery.{key} {} is out of range; expected 1..=3600000 milliseconds",
                    x.value
                ),
            );
            Duration::from_millis(default)
        }
        Some(x) => Duration::from_millis(x.value),
        None => Duration::from_millis(default),
    };
    let rto_initial = ms(c, &d.rto_initial_ms, "rto_initial_ms", 1000);
    let rto_max = ms(c, &d.rto_max_ms, "rto_max_ms", 16_000);
    if rto_max < rto_initial {
        if let Some(x) = &d.rto_max_ms {
            c.err(
                x.referenced,
                format!(
                    "discovery.rto_max_ms {} is below rto_initial_ms ({} ms); expected at least it",
                    x.value,
                    rto_initial.as_millis()
                ),
            );
        } else if let Some(x) = &d.rto_initial_ms {
            c.err(
                x.referenced,
                format!(
                    "discovery.rto_initial_ms {} is above the default rto_max_ms (16000); give rto_max_ms too",
                    x.value
                ),
            );
        }
    }
    let max_attempts = match &d.max_attempts {
        Some(x) if !(1..=32).contains(&x.value) => {
            c.err(
                x.referenced,
                format!(
                    "discovery.max_attempts {} is out of range; expected 1..=32",
                    x.value
                ),
            );
            6
        }
        Some(x) => x.value,
        None => 6,
    };
    let refresh = match &d.refresh_s {
        Some(x) if x.value == 0 => None,
        Some(x) if x.value > 86_400 * 7 => {
            c.err(
                x.referenced,
                format!(
                    "discovery.refresh_s {} is out of range; expected 0 (off) or 1..=604800 seconds",
                    x.value
                ),
            );
            None
        }
        Some(x) => Some(Duration::from_secs(x.value)),
        None => Some(Duration::from_secs(300)),
    };
    if c.errors.len() != before {
        return None;
    }
    Some(DiscoveryCfg {
        router_id: me,
        listen,
        routers,
        reach,
        vpns,
        rto_initial,
        rto_max,
        max_attempts,
        refresh,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = r#"router_id: 192.0.2.1
ports:
  - { name: p0, backend: mem, mac: "02:00:00:00:00:01" }
virtual_routers:
  - id: 1
    name: a
    vpn_id: "00a0c9:00000001"
    tenant: t
    interfaces:
      - { port: p0, vlan: 10, addresses: ["fd00::1/64", 10.1.0.1/24] }
"#;

    fn check(discovery: &str) -> Result<crate::config::Config, Vec<String>> {
        let text = format!("{BASE}{discovery}");
        crate::parse_config(Path::new("p.yaml"), &text)
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn a_good_section_resolves_with_defaults() {
        let c = check(
            r#"discovery:
  routers: [192.0.2.1, 192.0.2.2]
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "0123456789abcdef" }
"#,
        )
        .unwrap();
        let d = c.discovery.as_ref().unwrap();
        assert_eq!(
            d.router_id,
            "192.0.2.1".parse::<std::net::Ipv4Addr>().unwrap()
        );
        assert_eq!(d.listen.port(), crate::config::DISCOVERY_PORT);
        assert_eq!(d.vpns[0].id, 1, "the index part of the VPN id");
        assert_eq!(d.refresh, Some(std::time::Duration::from_secs(300)));
        assert_eq!(d.vpn_of(c.vrs[0].vpn_id), Some(1));
        // The announced address: the first IPv4 address, even after an IPv6 one.
        assert_eq!(c.vrs[0].discovery_addr(), Some("10.1.0.1".parse().unwrap()));
        // The secret is not printed.
        assert!(!format!("{d:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn every_error_is_named_with_its_place() {
        let e = check(
            r#"discovery:
  router_id: 224.0.0.1
  listen: 0.0.0.0:0
  routers: [192.0.2.2, 192.0.2.2]
  reach:
    - { router: 192.0.2.7, address: "127.0.0.1:18240" }
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "short" }
    - { vpn_id: "00a0c9:00000002", id: 1, secret: "0123456789abcdef" }
    - { vpn_id: "00a0c9:00000003", secret: "0123456789abcdef" }
  rto_initial_ms: 20000
  max_attempts: 0
  refresh_s: 999999999
"#,
        )
        .unwrap_err();
        let want = [
            "p.yaml:12:14: discovery.router_id `224.0.0.1` is not a unicast address",
            "p.yaml:13:11: discovery.listen `0.0.0.0:0` has port 0",
            "p.yaml:14:24: discovery.routers: `192.0.2.2` is listed twice",
            "p.yaml:16:17: discovery.reach: router `192.0.2.7` is not in discovery.routers",
            "p.yaml:18:44: discovery.vpns: the secret of VPN `00a0c9:00000001` has 5 bytes",
            "p.yaml:19:40: discovery.vpns: wire id 1 of VPN `00a0c9:00000002`",
            "p.yaml:20:44: discovery.vpns: VPN `00a0c9:00000003` has the secret of VPN `00a0c9:00000002`",
            "p.yaml:21:19: discovery.rto_initial_ms 20000 is above the default rto_max_ms",
            "p.yaml:22:17: discovery.max_attempts 0 is out of range",
            "p.yaml:23:14: discovery.refresh_s 999999999 is out of range",
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
    fn one_vr_per_vpn_per_router() {
        let text = format!(
            "{BASE}{}",
            r#"  - id: 2
    name: b
    vpn_id: "00a0c9:00000001"
    tenant: t
discovery:
  routers: [192.0.2.1, 192.0.2.2]
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "0123456789abcdef" }
"#
        );
        let e = crate::parse_config(Path::new("p.yaml"), &text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].to_string()
                .contains("VPN `00a0c9:00000001` has 2 VRs on this router (a, b)"),
            "{e:?}"
        );
    }
}
