//! `varouter check` on broken profiles: every error is reported, each with its exact
//! position and message.

use std::path::Path;
use std::process::Command;

fn errors(yaml: &str) -> Vec<String> {
    match varouter::parse_config(Path::new("p.yaml"), yaml) {
        Ok(_) => vec![],
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

const GOOD: &str = "\
router_id: 192.0.2.1
ports:
  - { name: user0, backend: mem, mac: \"02:00:00:00:00:01\" }
  - { name: trunk0, backend: mem, mac: \"02:00:00:00:00:02\", trunk: true, addresses: [192.0.2.1/30] }
virtual_routers:
  - id: 1
    name: A
    vpn_id: \"00a0c9:00000001\"
    tenant: t
    interfaces:
      - { port: user0, vlan: 10, addresses: [10.0.0.1/24] }
    routes:
      - { prefix: 10.2.0.0/16, via: 192.0.2.2, push: [1001] }
";

#[test]
fn good_profile_passes() {
    assert_eq!(errors(GOOD), Vec::<String>::new());
}

#[test]
fn unknown_key_is_reported_with_position_and_the_expected_keys() {
    let y = GOOD.replace("    tenant: t\n", "    tenant: t\n    tennant: x\n");
    let e = errors(&y);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0], "p.yaml:10:5: unknown field `tennant`, expected one of id, name, vpn_id, tenant, interfaces, routes, l2tp, ppp, pppoe, relay, esp");
    assert!(e[0].contains("tenant"), "{}", e[0]);
}

#[test]
fn several_semantic_errors_at_once() {
    let y = "\
router_id: 192.0.2.300
ports:
  - { name: user0, backend: mem, mac: \"02:00:00:00:00:01\" }
  - { name: user0, backend: nic, mac: \"01:00:00:00:00:02\" }
  - { name: trunk0, backend: mem, mac: \"02:00:00:00:00:03\", trunk: true, addresses: [192.0.2.1/30] }
virtual_routers:
  - id: 1
    name: A
    vpn_id: \"00a0c9:00000001\"
    tenant: t
    interfaces:
      - { port: user0, vlan: 10, addresses: [10.0.0.1/24] }
      - { port: user9 }
    routes:
      - { prefix: 10.1.0.1/16, via: 10.0.0.2 }
      - { prefix: 10.3.0.0/16, via: 10.9.9.9 }
      - { prefix: 10.4.0.0/16, via: 192.0.2.2 }
      - { prefix: 10.5.0.0/16, via: 192.0.2.2, push: [5] }
  - id: 1
    name: B
    vpn_id: \"bogus\"
    tenant: t
    interfaces:
      - { port: user0, vlan: 10 }
      - { port: user0, vlan: 4095 }
label_matrix:
  - { label: 2000000, action: pop, vr: A }
  - { label: 3000, action: pop, vr: Z }
  - { label: 3001, action: swap, out_label: 3002, port: user0, via: 192.0.2.2 }
";
    let e = errors(y);
    let want = [
        "p.yaml:1:12: router_id `192.0.2.300` is not an IPv4 address; expected dotted form like 192.0.2.1",
        "p.yaml:4:13: port `user0` is defined twice; port names must be unique",
        "p.yaml:4:29: unknown backend `nic`; expected one of: mem, pcap",
        "p.yaml:4:39: port MAC 01:00:00:00:00:02 is a multicast address; expected a unicast MAC",
        "p.yaml:13:17: port `user9` is not defined; known ports: trunk0, user0",
        "p.yaml:15:19: bad prefix `10.1.0.1/16`: 10.1.0.1/16 has host bits set; did you mean 10.1.0.0/16?",
        "p.yaml:16:37: next hop 10.9.9.9 is unreachable in VR `A`: no interface of this VR (nor any trunk) has a subnet containing it",
        "p.yaml:17:37: next hop 192.0.2.2 is unreachable in VR `A`: it is on a trunk subnet, and an unlabelled route into the core would leak the VR's traffic; add `push: [LABEL]`",
        "p.yaml:18:55: label 5 is out of range; expected 16..=1048575 (0..=15 are reserved)",
        "p.yaml:19:9: VR id 1 is used twice; VR ids must be unique",
        "p.yaml:21:13: VPN id `bogus`: `bogus` is not a VPN id; expected oui:index in hex as in RFC 2685",
        "p.yaml:24:17: port `user0` vlan 10 is already bound to VR `A`; an interface belongs to exactly one VR",
        "p.yaml:25:30: VLAN id 4095 is out of range; expected 1..=4094",
        "p.yaml:27:14: label 2000000 is out of range; expected 16..=1048575 (0..=15 are reserved)",
        "p.yaml:28:37: VR `Z` is not defined; known VRs: A, B",
        "p.yaml:29:57: port `user0` is not a trunk; labelled packets leave on trunks only",
    ];
    assert_eq!(e.len(), want.len(), "got:\n{}", e.join("\n"));
    for (got, want) in e.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "\n got: {got}\nwant: {want}…\nall:\n{}",
            e.join("\n")
        );
    }
}

#[test]
fn yaml_syntax_error_has_a_position() {
    let e = errors("router_id: [1, 2\nports: []\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("p.yaml:"), "{}", e[0]);
    assert!(!e[0].starts_with("p.yaml:0:0"), "{}", e[0]);
}

#[test]
fn cli_check_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_varouter");
    let ok = Command::new(bin)
        .args([
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.yaml"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = std::env::temp_dir().join(format!("varouter-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, GOOD.replace("vlan: 10", "vlan: 0")).unwrap();
    let out = Command::new(bin).arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:11:30: VLAN id 0 is out of range; expected 1..=4094"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_shipped_profile_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            if let Err(es) = varouter::load_config(&p) {
                panic!("{}: {es:?}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn l2tp_section_errors() {
    let y = GOOD.replace(
        "    routes:\n",
        "    l2tp:\n      role: lcc\n      local: 10.9.9.9\n      hostname: lns1\n      hide_avps: true\n      peers: [nope]\n      limits: { max_tunnels: 0 }\n    routes:\n",
    );
    let e = errors(&y);
    let want = [
        "p.yaml:13:13: unknown L2TP role `lcc`; expected lac or lns",
        "p.yaml:14:14: L2TP local address 10.9.9.9 is not an address of this VR's interfaces",
        "p.yaml:16:18: hide_avps needs a `secret` (hidden AVPs are encrypted with it)",
        "p.yaml:17:15: peer `nope` is not an IPv4 address",
        "p.yaml:18:30: a limit of 0 would refuse everything; expected at least 1",
    ];
    assert_eq!(e, want, "\n{}", e.join("\n"));
    let ok = GOOD.replace(
        "    routes:\n",
        "    l2tp: { role: lns, local: 10.0.0.1, hostname: lns1, secret: s3cret, hide_avps: true }\n    routes:\n",
    );
    assert_eq!(errors(&ok), Vec::<String>::new());
    let lac_without_peer = GOOD.replace(
        "    routes:\n",
        "    l2tp: { role: lac, local: 10.0.0.1, hostname: lac1 }\n    routes:\n",
    );
    assert_eq!(
        errors(&lac_without_peer),
        vec!["p.yaml:12:19: a LAC needs at least one LNS in `peers`"]
    );
}

#[test]
fn ppp_section_errors() {
    let lns = "    l2tp: { role: lns, local: 10.0.0.1, hostname: lns1 }\n";
    let y = GOOD.replace(
        "    routes:\n",
        &format!("{lns}    ppp:\n      address: 10.0.0.1\n      auth: [pap, eap]\n      dns: [192.0.2.1, 192.0.2.2, 192.0.2.3]\n      pools:\n        - {{ name: a, ranges: [100.64.0.9-100.64.0.1, 100.64.0.0/33] }}\n      ipv6: true\n      radius:\n        source: 127.0.0.1\n        servers: [{{ address: 127.0.0.1, secret: s }}]\n    routes:\n"),
    );
    let e = errors(&y);
    let want = [
        "p.yaml:14:16: ppp address 10.0.0.1 is an interface address of VR `A`; subscribers need an address of their own links (e.g. 100.64.0.1)",
        "p.yaml:15:19: unknown authentication method `eap`; expected mschapv2, chap or pap",
        "p.yaml:16:35: IPCP carries at most two DNS servers (primary and secondary)",
        "p.yaml:18:31: `100.64.0.9-100.64.0.1` is not an IPv4 range; expected FIRST-LAST (100.64.0.10-100.64.0.250) or a prefix (100.64.0.0/24)",
        "p.yaml:18:54: `100.64.0.0/33` is not an IPv4 range; expected FIRST-LAST (100.64.0.10-100.64.0.250) or a prefix (100.64.0.0/24)",
        "p.yaml:19:13: ipv6: true needs an `ipv6_pools` entry (each subscriber gets a prefix from it)",
        "p.yaml:22:30: `127.0.0.1` is not ADDRESS:PORT (e.g. 192.0.2.10:1812)",
    ];
    assert_eq!(e, want, "\n{}", e.join("\n"));
    // ppp without an LNS, and without a way to authenticate.
    let y = GOOD.replace(
        "    routes:\n",
        "    ppp: { address: 100.64.0.1 }\n    routes:\n",
    );
    assert_eq!(
        errors(&y),
        vec![
            "p.yaml:12:21: VR `A` terminates PPP but has neither `radius` nor `users`; no subscriber could authenticate",
            "p.yaml:12:21: VR `A` has a `ppp` section but no L2TP LNS and no relay realm points to it; subscribers are terminated on an LNS (`l2tp: { role: lns, ... }`) or reach the VR by realm (`relay: { realms: ... }` of an access VR)",
        ]
    );
    let ok = GOOD.replace(
        "    routes:\n",
        &format!("{lns}    ppp:\n      address: 100.64.0.1\n      pools: [{{ name: a, ranges: [100.64.0.0/24] }}]\n      radius: {{ source: 127.0.0.1, servers: [{{ address: \"127.0.0.1:1812\", secret: s }}] }}\n    routes:\n"),
    );
    let e = errors(&ok);
    assert_eq!(
        e,
        vec!["p.yaml:15:35: range 100.64.0.0/24 contains the ppp address itself"],
        "{e:?}"
    );
}

#[test]
fn pppoe_and_relay_section_errors() {
    // pppoe without relay; relay pointing at a VR that is no LAC, a VR that does not exist,
    // mschapv2 (cannot be proxied), a realm twice, an out-of-range max_sessions.
    let y = GOOD.replace(
        "    routes:\n",
        "    pppoe: { max_sessions: 70000 }\n    relay:\n      auth: [chap, mschapv2]\n      realms:\n        - { realm: isp-a.example, vr: A }\n        - { realm: ISP-A.example, vr: A }\n        - { realm: isp-b.example, vr: nosuch }\n    routes:\n",
    );
    let e = errors(&y);
    for want in [
        "max_sessions 70000 is out of range; expected 1..=65534 (PPPoE session ids per port)",
        "mschapv2 cannot be relayed to an LNS (RFC 2661 proxy authentication has no MS-CHAPv2 type); expected chap or pap",
        "VR `A` neither has an L2TP LAC (`l2tp: { role: lac, ... }`) to tunnel subscribers to their ISP nor terminates them (`ppp`)",
        "realm `isp-a.example` is listed twice",
        "VR `nosuch` is not defined",
    ] {
        assert!(e.iter().any(|x| x.ends_with(want)), "missing {want:?} in\n{}", e.join("\n"));
    }
    assert!(e.iter().all(|x| x.starts_with("p.yaml:")), "{e:?}");
    let y = GOOD.replace("    routes:\n", "    pppoe: {}\n    routes:\n");
    let e = errors(&y);
    assert!(
        e.iter()
            .any(|x| x.contains("has a `pppoe` section but no `relay` section")),
        "{e:?}"
    );
    let y = GOOD.replace("    routes:\n", "    relay: { realms: [] }\n    routes:\n");
    let e = errors(&y);
    assert!(
        e.iter()
            .any(|x| x.contains("has a `relay` section but no subscribers to relay")),
        "{e:?}"
    );
}

#[test]
fn esp_section_errors() {
    // A good ESP section first: it must pass.
    let sa = |name: &str, dir: &str, spi: &str, cipher: &str, key: &str, local: &str| {
        format!("        - {{ name: {name}, direction: {dir}, spi: {spi}, cipher: {cipher}, key: \"{key}\", local: {local}, remote: 198.51.100.9 }}\n")
    };
    let k16 = "00112233445566778899aabbccddeeff01020304";
    let good = GOOD.replace(
        "    routes:\n",
        &format!(
            "    esp:\n      marking: {{ up: 46 }}\n      sas:\n{}{}    routes:\n      - {{ prefix: 10.9.0.0/16, esp: o }}\n",
            sa("o", "out", "0x1001", "aes-gcm-128", k16, "10.0.0.1").replace(" }\n", ", class: up, sources: [10.1.0.5/32, \"fd00:1::/64\"] }\n"),
            sa("i", "in", "0x1001", "aes-gcm-128", k16, "10.0.0.1"),
        ),
    );
    assert_eq!(errors(&good), Vec::<String>::new());

    // `sources`: outbound only, not empty, prefixes without host bits.
    let bad = GOOD.replace(
        "    routes:\n",
        &format!(
            "    esp:\n      sas:\n{}{}{}    routes:\n",
            sa("o", "out", "0x1001", "aes-gcm-128", k16, "10.0.0.1")
                .replace(" }\n", ", sources: [10.1.0.5/24] }\n"),
            sa("e", "out", "0x1002", "aes-gcm-128", k16, "10.0.0.1")
                .replace(" }\n", ", sources: [] }\n"),
            sa("i", "in", "0x1001", "aes-gcm-128", k16, "10.0.0.1")
                .replace(" }\n", ", sources: [10.1.0.5/32] }\n"),
        ),
    );
    let e = errors(&bad);
    for want in [
        "`sources`: bad prefix `10.1.0.5/24`",
        "ESP SA `e`: `sources` is empty, so nothing could enter the SA; leave it out to take any source",
        "`sources` selects what enters an outbound SA; this SA is inbound",
    ] {
        assert!(e.iter().any(|x| x.contains(want)), "missing {want:?} in\n{}", e.join("\n"));
    }

    let bad = GOOD.replace(
        "    routes:\n",
        "    esp:\n      outer_vr: nosuch\n      sas: []\n    routes:\n",
    );
    let e = errors(&bad);
    assert!(
        e.iter().any(|x| x.ends_with("VR `nosuch` is not defined")),
        "{e:?}"
    );

    let bad = GOOD.replace(
        "    routes:\n",
        &format!(
            "    esp:\n      marking: {{ dscp: 64 }}\n      sas:\n{}{}{}{}{}{}    routes:\n      - {{ prefix: 10.8.0.0/16, esp: i }}\n      - {{ prefix: 10.9.0.0/16, esp: none }}\n      - {{ prefix: 10.7.0.0/16, esp: o, via: 10.0.0.9 }}\n",
            sa("o", "out", "0x1001", "aes-gcm-128", k16, "10.0.0.1").replace(" }\n", ", class: down }\n"),
            sa("o2", "out", "0x1001", "aes-gcm-128", k16, "10.0.0.1"),
            sa("i", "in", "255", "aes-gcm-128", k16, "10.0.0.1"),
            sa("k", "in", "0x2001", "aes-gcm-256", k16, "10.0.0.1"),
            sa("c", "in", "0x2002", "des", k16, "10.0.0.1"),
            sa("l", "sideways", "0x2003", "aes-gcm-128", k16, "10.0.0.99"),
        ),
    );
    let e = errors(&bad);
    for want in [
        "DSCP 64 is out of range; expected 0..=63",
        "class `down` has no DSCP: add `marking: { down: DSCP }` to the VR's `esp`",
        "outbound SPI 0x1001 is already used by ESP SA `o` of VR `A`; outbound SPIs are unique per VR (VR `A`'s routes name them)",
        "SPI 255 is reserved; SPIs start at 256 (RFC 4303 §2.1)",
        "aes-gcm-256 needs 36 bytes of key and salt (72 hex digits: the 32-byte key then the 4-byte salt), 20 given",
        "unknown cipher `des`; expected one of aes-gcm-128, aes-gcm-256, chacha20-poly1305",
        "unknown direction `sideways`; expected `in` or `out`",
        "ESP SA `i` of VR `A` is inbound; routes send into outbound SAs (`direction: out`)",
        "VR `A` has no ESP SA named `none` (its `esp.sas`)",
        "a route has one of `via`, `blackhole: true` or `esp`; an ESP route pushes no labels",
    ] {
        assert!(e.iter().any(|x| x.ends_with(want)), "missing {want:?} in\n{}", e.join("\n"));
    }
    assert!(e.iter().all(|x| x.starts_with("p.yaml:")), "{e:?}");

    let bad = GOOD.replace(
        "    routes:\n",
        &format!(
            "    esp:\n      sas:\n{}    routes:\n",
            sa("x", "in", "0x3001", "aes-gcm-128", k16, "10.0.0.99")
                .replace(" }\n", ", lifetime: { soft_bytes: 10, hard_bytes: 5 } }\n")
        ),
    );
    let e = errors(&bad);
    for want in [
        "local address 10.0.0.99 is not an address of VR `A`, which carries the tunnel's outer packets",
        "soft bytes 10 is above hard bytes 5",
    ] {
        assert!(e.iter().any(|x| x.ends_with(want)), "missing {want:?} in\n{}", e.join("\n"));
    }
}

/// ESP SPIs are unique per VR that keys them (issue 17): VRs A and B may each hold inbound
/// SPI 0x1001 and outbound 0x2001 when each is its own outer VR; two inbound SAs of one SPI
/// whose ESP would arrive in one VR (B's outer VR is A) are refused, naming that VR.
#[test]
fn esp_spis_are_per_vr() {
    let k = "00112233445566778899aabbccddeeff01020304";
    let vr = |id: u32, name: &str, vlan: u32, outer: &str| {
        format!(
            "  - id: {id}
    name: {name}
    vpn_id: \"00a0c9:0000000{id}\"
    tenant: t
    interfaces:
      - {{ port: user0, vlan: {vlan}, addresses: [10.{id}.0.1/24] }}
    esp:
{outer}      sas:
        - {{ name: i, direction: in, spi: 0x1001, cipher: aes-gcm-128, key: \"{k}\", local: 10.{id}.0.1, remote: 198.51.100.9 }}
        - {{ name: o, direction: out, spi: 0x2001, cipher: aes-gcm-128, key: \"{k}\", local: 10.{id}.0.1, remote: 198.51.100.9 }}
"
        )
    };
    let head = "router_id: 192.0.2.1\nports:\n  - { name: user0, backend: mem, mac: \"02:00:00:00:00:01\" }\nvirtual_routers:\n";
    let two = format!("{head}{}{}", vr(1, "A", 10, ""), vr(2, "B", 20, ""));
    assert_eq!(errors(&two), Vec::<String>::new());
    // B's ESP arrives in A: its inbound 0x1001 clashes with A's; its outbound id is B's own.
    let clash = format!(
        "{head}{}{}",
        vr(1, "A", 10, ""),
        vr(2, "B", 20, "      outer_vr: A\n").replace("local: 10.2.0.1", "local: 10.1.0.1")
    );
    let e = errors(&clash);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].ends_with("inbound SPI 0x1001 is already used by ESP SA `i` of VR `A`; inbound SPIs are unique per outer VR (the ESP of both would arrive in VR `A`)"),
        "{e:?}"
    );
}
