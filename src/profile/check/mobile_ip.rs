//! The `mobile_ip` section: the Mobile IPv4 agents hosted in VRs (docs/profile.md,
//! docs/mobile-vpn.md "Mobile IPv4 agents").

use super::aaa::identity_ok;
use super::Checker;
use crate::config::{PortCfg, VrCfg};
use crate::mip::{AgentCfg, DefaultSa, DiameterCfg, MipConfig, MipRole, Transport};
use crate::profile::mobile_ip::{MipAgent, MipSa, MobileIp};
use crate::profile::S;
use controlplane::mip::Sa;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn ipv4(c: &mut Checker, v: &S<String>, what: &str) -> Option<Ipv4Addr> {
    match v.value.parse::<Ipv4Addr>() {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                v.referenced,
                format!("{what} `{}` is not an IPv4 address", v.value),
            );
            None
        }
    }
}

fn sockaddr(c: &mut Checker, v: &S<String>, what: &str) -> Option<SocketAddr> {
    match v.value.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                v.referenced,
                format!(
                    "{what} `{}` is not an address and port; expected e.g. 127.0.0.1:18290",
                    v.value
                ),
            );
            None
        }
    }
}

fn prefix(c: &mut Checker, v: &S<String>, what: &str) -> Option<(Ipv4Addr, u8)> {
    let bad = |c: &mut Checker| {
        c.err(
            v.referenced,
            format!(
                "{what} `{}` is not an IPv4 prefix; expected e.g. 10.200.0.0/16",
                v.value
            ),
        );
        None
    };
    let Some((a, l)) = v.value.split_once('/') else {
        return bad(c);
    };
    let (Ok(a), Ok(l)) = (a.parse::<Ipv4Addr>(), l.parse::<u8>()) else {
        return bad(c);
    };
    if l > 32 {
        return bad(c);
    }
    let m = if l == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(l))
    };
    if u32::from(a) & !m != 0 {
        c.err(
            v.referenced,
            format!(
                "{what} `{}` has host bits set; expected {}/{l}",
                v.value,
                Ipv4Addr::from(u32::from(a) & m)
            ),
        );
        return None;
    }
    Some((a, l))
}

fn inside(a: Ipv4Addr, (n, l): (Ipv4Addr, u8)) -> bool {
    let m = if l == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(l))
    };
    u32::from(a) & m == u32::from(n)
}

fn sas(c: &mut Checker, list: &[MipSa], key: &str) -> Vec<(Ipv4Addr, Sa)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for s in list {
        let peer = ipv4(c, &s.peer, &format!("mobile_ip.agents[].{key}[].peer"));
        if s.spi.value < 256 {
            c.err(
                s.spi.referenced,
                format!(
                    "mobile_ip {key}: SPI {} is reserved; expected 256 or more (RFC 5944 §1.6)",
                    s.spi.value
                ),
            );
        }
        let k = match hex(&s.key.value) {
            Some(k) => Some(k),
            None => {
                c.err(
                    s.key.referenced,
                    format!("mobile_ip {key}: the key is not non-empty hexadecimal"),
                );
                None
            }
        };
        if let Some(p) = peer {
            if !seen.insert(p) {
                c.err(
                    s.peer.referenced,
                    format!("mobile_ip {key}: peer {p} is listed twice"),
                );
                continue;
            }
            if let (Some(k), true) = (k, s.spi.value >= 256) {
                out.push((
                    p,
                    Sa {
                        spi: s.spi.value,
                        key: k,
                    },
                ));
            }
        }
    }
    out
}

/// Reports `key` as an error when it is set on an agent of another role.
fn only(
    c: &mut Checker,
    loc: Option<serde_saphyr::Location>,
    key: &str,
    role: MipRole,
    for_: MipRole,
) {
    if let Some(l) = loc {
        if role != for_ {
            c.err(
                l,
                format!(
                    "mobile_ip: `{key}` applies to role {}, not {}",
                    for_.name(),
                    role.name()
                ),
            );
        }
    }
}

fn agent(c: &mut Checker, a: &MipAgent, vrs: &[VrCfg], ports: &[PortCfg]) -> Option<AgentCfg> {
    let before = c.errors.len();
    let role = match a.role.value.as_str() {
        "home_agent" => Some(MipRole::HomeAgent),
        "foreign_agent" => Some(MipRole::ForeignAgent),
        "pcn" => Some(MipRole::Pcn),
        other => {
            c.err(
                a.role.referenced,
                format!(
                    "unknown mobile_ip role `{other}`; expected home_agent, foreign_agent or pcn"
                ),
            );
            None
        }
    };
    let vr = vrs.iter().find(|v| v.name == a.vr.value);
    if vr.is_none() {
        c.err(
            a.vr.referenced,
            format!(
                "mobile_ip agent `{}`: no VR named `{}`; known VRs: {}",
                a.name.value,
                a.vr.value,
                vrs.iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let address = ipv4(c, &a.address, "mobile_ip address");
    let transport = match a.transport.as_ref().map(|t| t.value.as_str()) {
        None | Some("vr") => {
            if let Some(l) = &a.listen {
                c.err(
                    l.referenced,
                    "mobile_ip `listen` is for `transport: host`; a `vr` agent takes UDP 434 at its address in the VR",
                );
            }
            Some(Transport::Vr)
        }
        Some("host") => {
            match &a.listen {
                Some(l) => sockaddr(c, l, "mobile_ip listen").map(Transport::Host),
                None => {
                    c.err(
                    a.transport.as_ref().map_or(a.name.referenced, |t| t.referenced),
                    "mobile_ip `transport: host` needs `listen` (the host socket's address:port)",
                );
                    None
                }
            }
        }
        Some(other) => {
            c.err(
                a.transport
                    .as_ref()
                    .map_or(a.name.referenced, |t| t.referenced),
                format!("unknown mobile_ip transport `{other}`; expected vr or host"),
            );
            None
        }
    };
    // A `vr` agent's address must be the VR's own: only those are punted as local.
    if let (Some(v), Some(addr), Some(Transport::Vr)) = (vr, address, transport) {
        let own = v
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter())
            .any(|x| x.addr == IpAddr::V4(addr));
        if !own {
            c.err(
                a.address.referenced,
                format!(
                    "mobile_ip agent `{}`: {addr} is not an interface address of VR `{}`; a `transport: vr` agent listens on one of its VR's addresses",
                    a.name.value, v.name
                ),
            );
        }
    }
    let diameter = a.diameter.as_ref().map(|d| {
        for (v, k) in [(&d.origin_host, "origin_host"), (&d.origin_realm, "origin_realm")] {
            if !identity_ok(&v.value) {
                c.err(
                    v.referenced,
                    format!(
                        "mobile_ip diameter.{k} `{}` is not a host or realm name; expected an FQDN",
                        v.value
                    ),
                );
            }
        }
        let listen = d
            .listen
            .as_ref()
            .and_then(|l| sockaddr(c, l, "mobile_ip diameter.listen"));
        let peers: Vec<SocketAddr> = d
            .peers
            .iter()
            .filter_map(|p| sockaddr(c, p, "mobile_ip diameter.peers[]"))
            .collect();
        if d.listen.is_none() && d.peers.is_empty() {
            c.err(
                d.origin_host.referenced,
                "mobile_ip diameter: give `listen` (the AAAH connects to the HA) or `peers` (the FA connects to its AAAF), or both",
            );
        }
        DiameterCfg {
            origin_host: d.origin_host.value.clone(),
            origin_realm: d.origin_realm.value.clone(),
            listen,
            peers,
        }
    });
    let mut cfg = None;
    if let Some(role) = role {
        match (role, &a.diameter) {
            (MipRole::ForeignAgent, None) => c.err(
                a.role.referenced,
                "mobile_ip: a foreign_agent needs `diameter` (its AAAF peer: every registration goes through the AAA)",
            ),
            (MipRole::Pcn, Some(d)) => c.err(
                d.origin_host.referenced,
                "mobile_ip: a pcn has no Diameter side (BUs come from the HA over UDP 434)",
            ),
            _ => {}
        }
        if role == MipRole::Pcn && a.peers.is_empty() {
            c.err(
                a.role.referenced,
                "mobile_ip: a pcn needs `peers` (the HAs whose Binding Updates it takes, with their route optimisation keys)",
            );
        }
        only(
            c,
            a.advertise
                .as_ref()
                .map(|x| x.ports.first().map_or(a.name.referenced, |p| p.referenced)),
            "advertise",
            role,
            MipRole::ForeignAgent,
        );
        only(
            c,
            a.challenge.as_ref().map(|_| a.name.referenced),
            "challenge",
            role,
            MipRole::ForeignAgent,
        );
        only(
            c,
            a.handoff.as_ref().map(|_| a.name.referenced),
            "handoff",
            role,
            MipRole::ForeignAgent,
        );
        only(
            c,
            a.max_visitors.as_ref().map(|x| x.referenced),
            "max_visitors",
            role,
            MipRole::ForeignAgent,
        );
        only(
            c,
            a.max_bindings.as_ref().map(|x| x.referenced),
            "max_bindings",
            role,
            MipRole::HomeAgent,
        );
        only(
            c,
            a.home_network.as_ref().map(|x| x.referenced),
            "home_network",
            role,
            MipRole::HomeAgent,
        );
        only(
            c,
            a.mn_ha.first().map(|x| x.peer.referenced),
            "mn_ha",
            role,
            MipRole::HomeAgent,
        );
        only(
            c,
            a.fa_ha.first().map(|x| x.peer.referenced),
            "fa_ha",
            role,
            MipRole::HomeAgent,
        );
        only(
            c,
            a.max_entries.as_ref().map(|x| x.referenced),
            "max_entries",
            role,
            MipRole::Pcn,
        );
        only(
            c,
            a.serves.first().map(|x| x.referenced),
            "serves",
            role,
            MipRole::Pcn,
        );
        cfg = Some(role);
    }
    let role = cfg?;
    let mut advertise_on = Vec::new();
    let mut advertise_interval = Duration::from_secs(1);
    if let (Some(adv), Some(v)) = (&a.advertise, vr) {
        if transport == Some(Transport::Vr) {
            for p in &adv.ports {
                let pi = ports.iter().position(|x| x.name == p.value);
                match pi.and_then(|pi| v.interfaces.iter().find(|i| i.port == pi)) {
                    Some(i) => advertise_on.push((i.port, i.vlan)),
                    None => c.err(
                        p.referenced,
                        format!(
                            "mobile_ip advertise: VR `{}` has no interface on port `{}`",
                            v.name, p.value
                        ),
                    ),
                }
            }
        } else if let Some(p) = adv.ports.first() {
            c.err(
                p.referenced,
                "mobile_ip advertise: a `transport: host` agent has no access link to advertise on",
            );
        }
        if let Some(ms) = &adv.interval_ms {
            if !(100..=600_000).contains(&ms.value) {
                c.err(
                    ms.referenced,
                    format!(
                        "mobile_ip advertise.interval_ms {} is out of range; expected 100..=600000",
                        ms.value
                    ),
                );
            }
            advertise_interval = Duration::from_millis(ms.value);
        }
    }
    let (mut challenge_len, mut challenge_window, mut challenge_lifetime) =
        (16usize, 4usize, Duration::from_secs(10));
    if let Some(ch) = &a.challenge {
        if let Some(l) = &ch.length {
            if !(4..=255).contains(&l.value) {
                c.err(l.referenced, format!("mobile_ip challenge.length {} is out of range; expected 4..=255 (RFC 3012: at least 4)", l.value));
            }
            challenge_len = l.value as usize;
        }
        if let Some(w) = &ch.window {
            if !(1..=64).contains(&w.value) {
                c.err(
                    w.referenced,
                    format!(
                        "mobile_ip challenge.window {} is out of range; expected 1..=64",
                        w.value
                    ),
                );
            }
            challenge_window = w.value as usize;
        }
        if let Some(s) = &ch.lifetime_s {
            if !(1..=3600).contains(&s.value) {
                c.err(
                    s.referenced,
                    format!(
                        "mobile_ip challenge.lifetime_s {} is out of range; expected 1..=3600",
                        s.value
                    ),
                );
            }
            challenge_lifetime = Duration::from_secs(s.value);
        }
    }
    let (mut handoff_replay_packets, mut handoff_replay_margin) = (
        vr::replay::DEFAULT_RING,
        controlplane::mip::fa::DEFAULT_REPLAY_MARGIN,
    );
    if let Some(h) = &a.handoff {
        if let Some(n) = &h.replay_packets {
            if n.value as usize > vr::replay::MAX_RING {
                c.err(
                    n.referenced,
                    format!(
                        "mobile_ip handoff.replay_packets {} is out of range; expected 0..={} (0: no replay)",
                        n.value,
                        vr::replay::MAX_RING
                    ),
                );
            }
            handoff_replay_packets = n.value as usize;
        }
        if let Some(ms) = &h.replay_margin_ms {
            if ms.value > 1000 {
                c.err(
                    ms.referenced,
                    format!(
                        "mobile_ip handoff.replay_margin_ms {} is out of range; expected 0..=1000",
                        ms.value
                    ),
                );
            }
            handoff_replay_margin = Duration::from_millis(ms.value);
        }
    }
    let max_lifetime = match &a.max_lifetime {
        Some(l) if l.value == 0 || l.value == u16::MAX => {
            c.err(
                l.referenced,
                format!(
                    "mobile_ip max_lifetime {} is out of range; expected 1..=65534 seconds",
                    l.value
                ),
            );
            0
        }
        Some(l) => l.value,
        None => 600,
    };
    let max = [&a.max_bindings, &a.max_visitors, &a.max_entries]
        .into_iter()
        .flatten()
        .next();
    let max_entries = match max {
        Some(m) if m.value == 0 => {
            c.err(
                m.referenced,
                "mobile_ip: the table limit is 0; expected at least 1",
            );
            0
        }
        Some(m) => m.value as usize,
        None => 100_000,
    };
    let home_network = a
        .home_network
        .as_ref()
        .and_then(|h| prefix(c, h, "mobile_ip home_network"));
    let serves: Vec<(Ipv4Addr, u8)> = a
        .serves
        .iter()
        .filter_map(|s| prefix(c, s, "mobile_ip serves[]"))
        .collect();
    let mn_ha = sas(c, &a.mn_ha, "mn_ha");
    if let Some(net) = home_network {
        for (s, (home, _)) in a.mn_ha.iter().zip(&mn_ha) {
            if !inside(*home, net) {
                c.err(
                    s.peer.referenced,
                    format!(
                        "mobile_ip mn_ha: home address {home} is outside the home network {}/{}",
                        net.0, net.1
                    ),
                );
            }
        }
    }
    let fa_ha = sas(c, &a.fa_ha, "fa_ha");
    let peers = sas(c, &a.peers, "peers");
    let mut outer_vr = vr.map(|v| v.id);
    let mut default_sas = Vec::new();
    if let Some(e) = &a.esp {
        if let Some(o) = &e.outer_vr {
            outer_vr = vrs.iter().find(|v| v.name == o.value).map(|v| v.id);
            if outer_vr.is_none() {
                c.err(
                    o.referenced,
                    format!("mobile_ip esp.outer_vr: no VR named `{}`", o.value),
                );
            }
        }
        let mut seen = HashSet::new();
        for d in &e.default_sas {
            if d.spi.value < 256 {
                c.err(
                    d.spi.referenced,
                    format!(
                        "mobile_ip esp.default_sas: SPI {} is reserved; expected 256 or more",
                        d.spi.value
                    ),
                );
            }
            if !seen.insert(d.spi.value) {
                c.err(
                    d.spi.referenced,
                    format!(
                        "mobile_ip esp.default_sas: SPI {} is listed twice",
                        d.spi.value
                    ),
                );
            }
            let Some(cipher) = ::esp::Cipher::from_name(&d.cipher.value) else {
                c.err(
                    d.cipher.referenced,
                    format!(
                        "unknown cipher `{}`; expected one of {}",
                        d.cipher.value,
                        ::esp::Cipher::ALL
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                continue;
            };
            let need = cipher.key_len() + ::esp::sa::SALT_LEN;
            match hex(&d.key.value) {
                Some(k) if k.len() == need => default_sas.push(DefaultSa {
                    spi: d.spi.value,
                    cipher,
                    keymat: k,
                }),
                _ => c.err(
                    d.key.referenced,
                    format!(
                        "mobile_ip esp.default_sas: {} needs {need} bytes of hexadecimal key material ({}-byte key || 4-byte salt)",
                        cipher.name(),
                        cipher.key_len()
                    ),
                ),
            }
        }
    }
    if c.errors.len() != before {
        return None;
    }
    let vr = vr?;
    Some(AgentCfg {
        name: a.name.value.clone(),
        vr: vr.id,
        vr_name: vr.name.clone(),
        role,
        address: address?,
        transport: transport?,
        diameter,
        advertise_interval,
        advertise_on,
        challenge_len,
        challenge_window,
        challenge_lifetime,
        handoff_replay_packets,
        handoff_replay_margin,
        max_lifetime,
        max_entries,
        home_network,
        serves,
        mn_ha,
        fa_ha,
        peers,
        outer_vr: outer_vr?,
        default_sas,
    })
}

/// Checks the section.
pub(super) fn check(
    c: &mut Checker,
    m: &MobileIp,
    vrs: &[VrCfg],
    ports: &[PortCfg],
) -> Option<MipConfig> {
    let before = c.errors.len();
    let mut names = HashSet::new();
    let mut places = HashSet::new();
    let mut listens = HashSet::new();
    let mut agents = Vec::new();
    for a in &m.agents {
        if a.name.value.is_empty() || !names.insert(a.name.value.clone()) {
            c.err(
                a.name.referenced,
                format!(
                    "mobile_ip agent name `{}` is empty or used twice",
                    a.name.value
                ),
            );
        }
        let Some(cfg) = agent(c, a, vrs, ports) else {
            continue;
        };
        if !places.insert((cfg.vr, cfg.address)) {
            c.err(
                a.address.referenced,
                format!(
                    "mobile_ip: two agents at {} in VR `{}`",
                    cfg.address, cfg.vr_name
                ),
            );
        }
        let mut sockets: Vec<SocketAddr> = cfg.diameter.iter().filter_map(|d| d.listen).collect();
        if let Transport::Host(l) = cfg.transport {
            sockets.push(l);
        }
        for s in sockets {
            if !listens.insert(s) {
                c.err(
                    a.name.referenced,
                    format!("mobile_ip: {s} is used by two listeners"),
                );
            }
        }
        agents.push(cfg);
    }
    if c.errors.len() != before {
        return None;
    }
    Some(MipConfig { agents })
}

#[cfg(test)]
mod tests {
    use crate::mip::{MipRole, Transport};
    use std::time::Duration;

    const HEAD: &str = r#"router_id: 192.0.2.1
ports:
  - { name: access0, backend: mem, mac: "02:00:00:00:00:01" }
  - { name: core0, backend: mem, mac: "02:00:00:00:00:02" }
virtual_routers:
  - id: 1
    name: visited
    vpn_id: "00a0c9:00000001"
    tenant: t1
    interfaces:
      - { port: access0, vlan: 10, addresses: [192.0.2.1/24] }
  - id: 2
    name: core
    vpn_id: "00a0c9:00000002"
    tenant: carrier
    interfaces:
      - { port: core0, addresses: [198.51.100.10/24] }
mobile_ip:
  agents:
"#;

    fn check(agents: &str) -> Result<crate::config::Config, String> {
        let d = tempfile::tempdir().unwrap();
        crate::parse_config(&d.path().join("p.yaml"), &format!("{HEAD}{agents}"))
            .map_err(|e| e.iter().map(|e| e.to_string() + "\n").collect())
    }

    #[test]
    fn agents_resolve_with_defaults() {
        let cfg = check(
            r#"    - name: fa1
      vr: visited
      role: foreign_agent
      address: 192.0.2.1
      diameter: { origin_host: fa1.visited.example, origin_realm: visited.example, peers: [127.0.0.1:3868] }
      advertise: { interval_ms: 500, ports: [access0] }
      peers: [{ peer: 192.0.2.2, spi: 301, key: "00112233" }]
      esp:
        outer_vr: core
        default_sas: [{ spi: 4096, cipher: aes-gcm-128, key: "0101010101010101010101010101010111111111" }]
    - name: ha1
      vr: core
      role: home_agent
      address: 198.51.100.10
      transport: host
      listen: 127.0.0.1:18299
      diameter: { origin_host: ha.home.example, origin_realm: home.example, listen: 127.0.0.1:18298 }
      home_network: 10.200.0.0/16
      mn_ha: [{ peer: 10.200.0.3, spi: 400, key: "aabb" }]
"#,
        )
        .unwrap();
        let m = cfg.mobile_ip.unwrap();
        let fa = &m.agents[0];
        assert_eq!((fa.role, fa.vr, fa.outer_vr), (MipRole::ForeignAgent, 1, 2));
        assert_eq!(fa.transport, Transport::Vr);
        assert_eq!(fa.advertise_on, vec![(0, Some(10))]);
        assert_eq!(fa.advertise_interval.as_millis(), 500);
        assert_eq!(
            (fa.challenge_len, fa.challenge_window, fa.max_lifetime),
            (16, 4, 600)
        );
        assert_eq!(fa.default_sas[0].spi, 4096);
        assert_eq!(
            (fa.handoff_replay_packets, fa.handoff_replay_margin),
            (64, Duration::from_millis(10)),
            "the defaults"
        );
        assert_eq!(fa.peers[0].1.key, vec![0, 0x11, 0x22, 0x33]);
        let ha = &m.agents[1];
        assert_eq!(
            ha.transport,
            Transport::Host("127.0.0.1:18299".parse().unwrap())
        );
        assert_eq!(ha.home_network, Some(("10.200.0.0".parse().unwrap(), 16)));
        assert_eq!(ha.mn_ha[0].1.spi, 400);
        assert_eq!(ha.outer_vr, 2);
    }

    #[test]
    fn every_mistake_is_reported_with_its_place() {
        let e = check(
            r#"    - name: fa1
      vr: nowhere
      role: foreign_agent
      address: 192.0.2.9
      advertise: { ports: [core0] }
    - name: fa2
      vr: visited
      role: foreign_agent
      address: 192.0.2.77
      challenge: { length: 2 }
      handoff: { replay_packets: 5000, replay_margin_ms: 1001 }
      diameter: { origin_host: "not a host", origin_realm: visited.example }
    - name: ha1
      vr: core
      role: home_agent
      address: 198.51.100.10
      transport: host
      home_network: 10.200.0.0/16
      mn_ha: [{ peer: 10.9.0.3, spi: 12, key: "xyz" }]
      advertise: { ports: [core0] }
    - name: p1
      vr: core
      role: pcn
      address: 198.51.100.10
      esp: { default_sas: [{ spi: 4096, cipher: des, key: "00" }] }
    - name: x
      vr: core
      role: gateway
      address: 198.51.100.10
"#,
        )
        .unwrap_err();
        for want in [
            "p.yaml:21:11: mobile_ip agent `fa1`: no VR named `nowhere`",
            "a foreign_agent needs `diameter`",
            "mobile_ip challenge.length 2 is out of range",
            "mobile_ip handoff.replay_packets 5000 is out of range; expected 0..=4096",
            "mobile_ip handoff.replay_margin_ms 1001 is out of range",
            "mobile_ip diameter.origin_host `not a host` is not a host or realm name",
            "give `listen` (the AAAH connects to the HA) or `peers`",
            "192.0.2.77 is not an interface address of VR `visited`",
            "`transport: host` needs `listen`",
            "mobile_ip mn_ha: SPI 12 is reserved",
            "mobile_ip mn_ha: the key is not non-empty hexadecimal",
            "`advertise` applies to role foreign_agent, not home_agent",
            "a pcn needs `peers`",
            "unknown cipher `des`",
            "unknown mobile_ip role `gateway`",
        ] {
            assert!(e.contains(want), "missing `{want}` in:\n{e}");
        }
    }

    #[test]
    fn mn_ha_outside_the_home_network_and_duplicates() {
        let e = check(
            r#"    - name: ha1
      vr: core
      role: home_agent
      address: 198.51.100.10
      home_network: 10.200.0.0/16
      mn_ha: [{ peer: 10.9.0.3, spi: 400, key: "aa" }]
    - name: ha1
      vr: core
      role: home_agent
      address: 198.51.100.10
"#,
        )
        .unwrap_err();
        assert!(
            e.contains("home address 10.9.0.3 is outside the home network 10.200.0.0/16"),
            "{e}"
        );
        assert!(
            e.contains("mobile_ip agent name `ha1` is empty or used twice"),
            "{e}"
        );
        let e = check(
            r#"    - name: ha1
      vr: core
      role: home_agent
      address: 198.51.100.10
    - name: ha2
      vr: core
      role: home_agent
      address: 198.51.100.10
"#,
        )
        .unwrap_err();
        assert!(
            e.contains("two agents at 198.51.100.10 in VR `core`"),
            "{e}"
        );
    }
}
