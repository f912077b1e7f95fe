//! Two users at one foreign agent, each with their own SA from the AAA, toward one
//! enterprise network (issue 17): the tunnels their registrations install go through the
//! appliance's Mobile IP data-plane driver (`varouter::mip::datapath`) into the state built
//! from a profile, and the real pipeline carries each user's upward traffic:
//!
//! - each user's packets leave in that user's SA: its SPI on the wire, sealed with its keys
//!   (the HA's half, made here from the AAA's key with the salt derived independently,
//!   opens it), marked with its DSCP class (user B's profile TOS 0xb8, user A's none);
//! - a host of the same link that is neither user is dropped (`source_route_no_match`)
//!   and enters no SA;
//! - when user B deregisters, the route toward the network is the plain route into A's SA
//!   again (no source selection left), A's traffic carries on in its SA (sequence numbers
//!   continue), and B's packets no longer enter any SA (A's selector refuses them).
//!
//! Before routes selected by source, the route followed the latest tunnel, so user A's
//! packets left under user B's SPI, keys and DSCP.

use std::net::Ipv4Addr;

use controlplane::mip::tunnel::TunnelRole;
use controlplane::mip::{TunnelEvent, TunnelKind, TunnelSpec};
use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use esp::{Cipher, Sa, SaParams};
use sha2::{Digest, Sha256};
use varouter::mip::datapath::{AgentSide, Datapath, TunnelOut, SOURCE};
use vpndb::model::{KeyBytes, SaKeys};
use vr::{ForwardingState, IpPrefix, NextHop, PortId, SourceRouteKey, VrId};

const ACCESS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const HA_MAC: [u8; 6] = [2, 0x44, 0, 0, 0, 0x10];
const MN_A_MAC: [u8; 6] = [2, 0x33, 0, 0, 0, 1];
const MN_B_MAC: [u8; 6] = [2, 0x33, 0, 0, 0, 2];
const OTHER_MAC: [u8; 6] = [2, 0x33, 0, 0, 0, 9];
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 21);
const MN_A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const MN_B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 9);
const CN: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 5);
const FA_VR: VrId = VrId(1);

/// User A: SPIs 5000 up / 5001 down, no TOS. User B: 6000 / 6001, TOS 0xb8 (EF).
const A_UP: u32 = 5000;
const B_UP: u32 = 6000;
const A_KEY: [u8; 16] = [0xa1; 16];
const B_KEY: [u8; 16] = [0xb1; 16];

/// The FA's VR with both users' link on access0 VLAN 11 and the core on core0 VLAN 100.
const PROFILE: &str = r#"router_id: 198.51.100.21
ports:
  - { name: access0, backend: mem, mac: "02:00:00:00:00:01" }
  - { name: core0, backend: mem, mac: "02:00:00:00:00:02" }
virtual_routers:
  - id: 1
    name: visited1
    vpn_id: "00a0c9:00000001"
    tenant: carrier
    interfaces:
      - { port: access0, vlan: 11, addresses: [192.0.2.1/24] }
      - { port: core0, vlan: 100, addresses: [198.51.100.21/24] }
    routes:
      - { prefix: 10.200.0.1/32, via: 192.0.2.2 }
      - { prefix: 10.200.0.2/32, via: 192.0.2.3 }
neighbors:
  - { port: access0, vlan: 11, ip: 192.0.2.2, mac: "02:33:00:00:00:01" }
  - { port: access0, vlan: 11, ip: 192.0.2.3, mac: "02:33:00:00:00:02" }
  - { port: core0, vlan: 100, ip: 198.51.100.10, mac: "02:44:00:00:00:10" }
"#;

/// The FA → HA tunnel of a user's profile toward 10.10.1.0/24, with keys from the AAA.
fn fa_tunnel(home: Ipv4Addr, up: u32, key: [u8; 16], tos: u8) -> TunnelSpec {
    let mut down_key = key;
    down_key[0] ^= 0xff;
    TunnelSpec {
        home_address: home,
        role: TunnelRole::ForeignToGw,
        local: FA,
        remote: HA,
        kind: TunnelKind::Esp {
            out_spi: up,
            in_spi: up + 1,
            keys: SaKeys {
                up_enc: KeyBytes::new(key.to_vec()),
                down_enc: KeyBytes::new(down_key.to_vec()),
                ..SaKeys::default()
            },
            ah: false,
        },
        src: None,
        dst: Some("10.10.1.0/24".parse().unwrap()),
        tos,
    }
}

/// The HA's half of a user's up SA: the AAA's key and the GCM salt both ends derive from it
/// (SHA-256 of "varouter mip esp salt" and the key, first four bytes).
fn ha_up(spi: u32, key: [u8; 16]) -> Sa {
    let mut h = Sha256::new();
    h.update(b"varouter mip esp salt");
    h.update(key);
    let mut keymat = key.to_vec();
    keymat.extend_from_slice(&h.finalize()[..4]);
    Sa::new(&SaParams::new(spi, Cipher::AesGcm128, keymat), 1).unwrap()
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A UDP datagram (checksum 0) from `src` to the CN with `tag` in its payload.
fn udp_to_cn(src: Ipv4Addr, tag: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&((28 + tag.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&CN.octets());
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&[0x47, 0x10, 0x47, 0x20, 0, 0, 0, 0]);
    p[24..26].copy_from_slice(&((8 + tag.len()) as u16).to_be_bytes());
    p.extend_from_slice(tag);
    p
}

struct Dp {
    st: ForwardingState,
    c: WorkerCounters,
    ports: Vec<PortInfo>,
}

impl Dp {
    /// `src`'s datagram to the CN, from `mac` on access0 VLAN 11.
    fn send(&self, src: Ipv4Addr, mac: [u8; 6], tag: &str) -> (Verdict, Vec<u8>) {
        let mut f = ACCESS_MAC.to_vec();
        f.extend_from_slice(&mac);
        f.extend_from_slice(&[0x81, 0x00, 0, 11, 0x08, 0x00]);
        f.extend_from_slice(&udp_to_cn(src, tag.as_bytes()));
        let mut b = HeapBuf::from_slice(&f).unwrap();
        let v = forward(&self.st, &self.ports, PortId(0), &mut b, &self.c);
        (v, b.data().to_vec())
    }

    /// `mn`'s datagram must leave on core0 VLAN 100 in ESP of SPI `spi`, sequence `seq`,
    /// from the FA to the HA with outer TOS `tos`, and `ha` must open it to `mn`'s packet.
    fn up(&self, mn: Ipv4Addr, mac: [u8; 6], ha: &Sa, spi: u32, seq: u32, tos: u8) {
        let tag = format!("from {mn} #{seq}");
        let (v, out) = self.send(mn, mac, &tag);
        assert_eq!(v, Verdict::Tx(PortId(1)), "from {mn}");
        assert_eq!(&out[..12], &[HA_MAC, CORE_MAC].concat()[..]);
        assert_eq!(&out[12..16], &[0x81, 0x00, 0, 100]);
        let ip = &out[18..];
        assert_eq!(
            (ip[1], ip[9], &ip[12..16], &ip[16..20]),
            (tos, 50, &FA.octets()[..], &HA.octets()[..]),
            "outer TOS, ESP, FA → HA, from {mn}"
        );
        let mut esp = ip[20..].to_vec();
        let wire = (
            u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]),
            u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]]),
        );
        assert_eq!(wire, (spi, seq), "SPI and sequence number of {mn}'s packet");
        let o = ha
            .open(0, &mut esp)
            .expect("the HA opens it with the user's key");
        let got = &esp[o.payload];
        assert_eq!(got[1], tos, "inner TOS (marked with the profile's DSCP)");
        assert_eq!(&got[12..20], &[mn.octets(), CN.octets()].concat()[..]);
        assert_eq!(&got[28..], tag.as_bytes());
    }
}

#[test]
fn two_users_on_their_own_sas_toward_one_network_each_use_their_own_spi() {
    let d = tempfile::tempdir().unwrap();
    let cfg = varouter::parse_config(&d.path().join("p.yaml"), PROFILE).expect("profile checks");
    let mut w = varouter::appliance::initial_state(&cfg, 1).unwrap();
    let side = AgentSide {
        agent: 0,
        vr: FA_VR,
        outer_vr: FA_VR,
        default_sas: &[],
    };
    let ports: Vec<PortInfo> = cfg
        .ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: 1500,
        })
        .collect();
    let (ta, tb) = (
        fa_tunnel(MN_A, A_UP, A_KEY, 0),
        fa_tunnel(MN_B, B_UP, B_KEY, 0xb8),
    );
    let mut dp = Datapath::new(1);
    dp.apply(&mut w, &side, &TunnelEvent::Up(ta.clone()));
    dp.apply(&mut w, &side, &TunnelEvent::Up(tb.clone()));
    let c = dp.counters();
    assert_eq!(
        (
            c.tunnels_up,
            c.refused_conflict,
            c.refused_keys,
            c.writer_errors
        ),
        (2, 0, 0, 0),
        "{c:?}"
    );
    let net: IpPrefix = "10.10.1.0/24".parse().unwrap();
    let Some(NextHop::BySource(id)) = w.route(FA_VR, net, SOURCE) else {
        panic!(
            "the shared route selects by source: {:?}",
            w.route(FA_VR, net, SOURCE)
        );
    };
    let mut listed: Vec<_> = dp
        .tunnels(0)
        .map(|t| (t.spec.home_address, t.out))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![(MN_A, TunnelOut::Esp(A_UP)), (MN_B, TunnelOut::Esp(B_UP))]
    );
    let run = Dp {
        st: w.commit().unwrap(),
        c: WorkerCounters::new(0, 2),
        ports: ports.clone(),
    };
    let (ha_a, ha_b) = (ha_up(A_UP, A_KEY), ha_up(B_UP, B_KEY));
    for seq in 1..=3 {
        run.up(MN_A, MN_A_MAC, &ha_a, A_UP, seq, 0);
        run.up(MN_B, MN_B_MAC, &ha_b, B_UP, seq, 0xb8);
    }
    // A host of the link that is neither user enters no SA.
    let (v, _) = run.send(OTHER, OTHER_MAC, "not a user");
    assert_eq!(v, Verdict::Drop(Drop::SourceRouteNoMatch));
    // The users' address, from another MAC, is still that user's (the selection is by IP
    // source, as the SAs' selectors are); the SA's counters saw exactly the users' packets.
    let sa = |spi| {
        run.st
            .esp
            .outbound
            .get(&vr::OutboundKey::new(FA_VR, vr::EspSaId(spi)))
            .unwrap()
            .sa
            .clone()
    };
    assert_eq!((sa(A_UP).traffic().0, sa(B_UP).traffic().0), (3, 3));

    // B deregisters: the route is plain into A's SA again, the selection is gone.
    dp.apply(&mut w, &side, &TunnelEvent::Down(tb));
    assert_eq!(dp.counters().writer_errors, 0);
    assert_eq!(
        w.route(FA_VR, net, SOURCE),
        Some(NextHop::Esp(vr::EspSaId(A_UP)))
    );
    let after = Dp {
        st: w.commit().unwrap(),
        c: WorkerCounters::new(0, 2),
        ports,
    };
    assert!(after
        .st
        .source_routes
        .get(&SourceRouteKey::new(FA_VR, id))
        .is_none());
    // A carries on in its SA (the same SA: sequence numbers continue).
    run_after_a(&after, &ha_a);
    // B's packets, and the stranger's, do not enter A's SA.
    for (src, mac) in [(MN_B, MN_B_MAC), (OTHER, OTHER_MAC)] {
        let (v, _) = after.send(src, mac, "not A");
        assert_eq!(v, Verdict::Drop(Drop::EspSourceNotAllowed), "{src}");
    }
    assert_eq!(sa(A_UP).traffic().0, 5);
}

fn run_after_a(after: &Dp, ha_a: &Sa) {
    after.up(MN_A, MN_A_MAC, ha_a, A_UP, 4, 0);
    after.up(MN_A, MN_A_MAC, ha_a, A_UP, 5, 0);
}
