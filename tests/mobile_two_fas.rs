//! Two foreign agents in one appliance on the SLA's default SA (issue 17): VRs `visited1`
//! (FA1) and `visited2` (FA2) of one profile each get the tunnel to the HA that a
//! registration installs — the same SPI pair (4096 up, 4097 down) and the same keys, from
//! the agents' `default_sas` — through the appliance's Mobile IP data-plane driver
//! (`varouter::mip::datapath`) into the appliance's state built from the profile; then the
//! real pipeline carries traffic both ways for a mobile node behind each FA:
//!
//! - down: the HA's ESP to each care-of address (sealed by an independent `esp::Sa` of the
//!   default SA's keys) is decrypted in that FA's VR and delivered to its mobile node's
//!   link, VLAN and MAC — never in the other FA's VR;
//! - up: each mobile node's packet to the enterprise network leaves its FA's VR in ESP of
//!   SPI 4096 from that FA's address, and the HA's half of the SA opens it.
//!
//! Before inbound SAs were keyed per VR, FA2's tunnel shared FA1's inbound SA (VR
//! `visited1`) and the HA's ESP to FA2 was dropped (`esp_wrong_vr`, seen in the mobile lab).
//! Also checked: FA2's tunnel going (deregistration) leaves FA1's SAs and traffic alone.

use std::net::Ipv4Addr;

use controlplane::mip::tunnel::TunnelRole;
use controlplane::mip::{TunnelEvent, TunnelKind, TunnelSpec};
use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use esp::{Cipher, Sa, SaParams};
use varouter::mip::datapath::{AgentSide, Datapath};
use varouter::mip::DefaultSa;
use vr::{ForwardingState, InboundKey, OutboundKey, PortId, VrId};

const ACCESS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CORE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const HA_MAC: [u8; 6] = [2, 0x44, 0, 0, 0, 0x10];
const MN1_MAC: [u8; 6] = [2, 0x33, 0, 0, 0, 1];
const MN2_MAC: [u8; 6] = [2, 0x33, 0, 0, 0, 2];
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 21);
const FA2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 22);
const MN1: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const MN2: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const CN: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 5);
const UP: u32 = 4096;
const DOWN: u32 = 4097;
/// Key || salt of the SLA's default SAs (as in tests/mobile_appliance.rs).
const UP_KEYMAT: [u8; 20] = [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x11, 0x11, 0x11, 0x11,
];
const DOWN_KEYMAT: [u8; 20] = [
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0x22, 0x22, 0x22, 0x22,
];

/// Each FA: its VR with the mobile node's link on access0 (VLAN 11 / 12) and the core on
/// core0 (VLAN 100 / 200), the HA a static neighbour on both core VLANs.
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
  - id: 2
    name: visited2
    vpn_id: "00a0c9:00000002"
    tenant: carrier
    interfaces:
      - { port: access0, vlan: 12, addresses: [192.0.3.1/24] }
      - { port: core0, vlan: 200, addresses: [198.51.100.22/24] }
    routes:
      - { prefix: 10.200.0.2/32, via: 192.0.3.2 }
neighbors:
  - { port: access0, vlan: 11, ip: 192.0.2.2, mac: "02:33:00:00:00:01" }
  - { port: access0, vlan: 12, ip: 192.0.3.2, mac: "02:33:00:00:00:02" }
  - { port: core0, vlan: 100, ip: 198.51.100.10, mac: "02:44:00:00:00:10" }
  - { port: core0, vlan: 200, ip: 198.51.100.10, mac: "02:44:00:00:00:10" }
"#;

fn defaults() -> Vec<DefaultSa> {
    vec![
        DefaultSa {
            spi: UP,
            cipher: Cipher::AesGcm128,
            keymat: UP_KEYMAT.to_vec(),
        },
        DefaultSa {
            spi: DOWN,
            cipher: Cipher::AesGcm128,
            keymat: DOWN_KEYMAT.to_vec(),
        },
    ]
}

/// The FA → HA tunnel of a mobile node's profile on the default SA (no keys from the AAA).
fn fa_tunnel(home: Ipv4Addr, care_of: Ipv4Addr) -> TunnelSpec {
    TunnelSpec {
        home_address: home,
        role: TunnelRole::ForeignToGw,
        local: care_of,
        remote: HA,
        kind: TunnelKind::Esp {
            out_spi: UP,
            in_spi: DOWN,
            keys: Default::default(),
            ah: false,
        },
        src: None,
        dst: Some("10.10.1.0/24".parse().unwrap()),
        tos: 0,
    }
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

fn ip4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, ttl, proto, 0, 0];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram (checksum 0) with `tag` in its payload.
fn udp(src: Ipv4Addr, dst: Ipv4Addr, tag: &[u8]) -> Vec<u8> {
    let mut u = vec![0x47, 0x10, 0x47, 0x20, 0, 0, 0, 0];
    u[4..6].copy_from_slice(&((8 + tag.len()) as u16).to_be_bytes());
    u.extend_from_slice(tag);
    ip4(src, dst, 64, 17, &u)
}

fn eth(dst: [u8; 6], src: [u8; 6], vlan: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(payload);
    f
}

/// `inner` in ESP of `sa` (tunnel mode, next header 4).
fn seal(sa: &Sa, inner: &[u8]) -> Vec<u8> {
    let mut pkt = vec![0; esp::HEAD_LEN];
    pkt.extend_from_slice(inner);
    pkt.resize(pkt.len() + Sa::tail_len(inner.len()), 0);
    sa.seal(0, &mut pkt, inner.len(), 4).unwrap();
    pkt
}

fn peer(spi: u32, keymat: &[u8]) -> Sa {
    Sa::new(&SaParams::new(spi, Cipher::AesGcm128, keymat.to_vec()), 1).unwrap()
}

struct Dp {
    st: ForwardingState,
    c: WorkerCounters,
    ports: Vec<PortInfo>,
}

impl Dp {
    fn go(&self, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let mut b = HeapBuf::from_slice(frame).unwrap();
        let v = forward(&self.st, &self.ports, PortId(port), &mut b, &self.c);
        (v, b.data().to_vec())
    }

    /// The HA's ESP (sealed with `ha_down`) to `care_of` on the core VLAN `vlan`, holding
    /// a datagram from the CN to `mn`: must come out on access0 to `mn_mac` on `mn_vlan`.
    fn down(
        &self,
        ha_down: &Sa,
        care_of: Ipv4Addr,
        vlan: u16,
        mn: Ipv4Addr,
        mn_vlan: u16,
        mn_mac: [u8; 6],
    ) {
        let inner = udp(CN, mn, format!("to {mn}").as_bytes());
        let esp = seal(ha_down, &inner);
        let f = eth(CORE_MAC, HA_MAC, vlan, &ip4(HA, care_of, 60, 50, &esp));
        let (v, out) = self.go(1, &f);
        assert_eq!(v, Verdict::Tx(PortId(0)), "ESP to {care_of} for {mn}");
        let mut routed = inner.clone();
        routed[8] -= 1;
        routed[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&routed[..20]);
        routed[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(out, eth(mn_mac, ACCESS_MAC, mn_vlan, &routed), "to {mn}");
    }

    /// A datagram from `mn` on access0 VLAN `mn_vlan` to the CN: must leave on core0 VLAN
    /// `vlan` in ESP of SPI 4096 from `care_of` to the HA, which opens it with `ha_up`.
    fn up(
        &self,
        ha_up: &Sa,
        care_of: Ipv4Addr,
        vlan: u16,
        mn: Ipv4Addr,
        mn_vlan: u16,
        mn_mac: [u8; 6],
    ) {
        let inner = udp(mn, CN, format!("from {mn}").as_bytes());
        let (v, out) = self.go(0, &eth(ACCESS_MAC, mn_mac, mn_vlan, &inner));
        assert_eq!(v, Verdict::Tx(PortId(1)), "from {mn}");
        assert_eq!(&out[..12], &[HA_MAC, CORE_MAC].concat()[..]);
        assert_eq!(u16::from_be_bytes([out[14], out[15]]), vlan);
        let ip = &out[18..];
        assert_eq!(
            (ip[9], &ip[12..16], &ip[16..20]),
            (50, &care_of.octets()[..], &HA.octets()[..])
        );
        let mut esp = ip[20..].to_vec();
        assert_eq!(u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]), UP);
        let o = ha_up.open(0, &mut esp).expect("the HA opens it");
        let got = &esp[o.payload];
        assert_eq!(&got[12..20], &[mn.octets(), CN.octets()].concat()[..]);
        assert_eq!(&got[28..], format!("from {mn}").as_bytes());
    }
}

#[test]
fn two_fas_of_one_appliance_both_carry_traffic_on_the_default_sa() {
    let d = tempfile::tempdir().unwrap();
    let cfg = varouter::parse_config(&d.path().join("p.yaml"), PROFILE).expect("profile checks");
    let mut w = varouter::appliance::initial_state(&cfg, 1).unwrap();
    let sas = defaults();
    let side = |agent, vr| AgentSide {
        agent,
        vr: VrId(vr),
        outer_vr: VrId(vr),
        default_sas: &sas,
    };
    let mut dp = Datapath::new(1);
    // Both registrations: FA1 for MN1, FA2 for MN2, on the same default SA pair.
    dp.apply(&mut w, &side(0, 1), &TunnelEvent::Up(fa_tunnel(MN1, FA1)));
    dp.apply(&mut w, &side(1, 2), &TunnelEvent::Up(fa_tunnel(MN2, FA2)));
    let c = dp.counters();
    assert_eq!(
        (c.tunnels_up, c.refused_conflict, c.writer_errors),
        (2, 0, 0),
        "{c:?}"
    );
    let st = w.commit().unwrap();
    for vr in [VrId(1), VrId(2)] {
        let i = st
            .esp
            .inbound
            .get(&InboundKey::new(vr, DOWN))
            .expect("inbound SA");
        assert_eq!((i.vr, i.outer_vr), (vr, vr));
        let o = st
            .esp
            .outbound
            .get(&OutboundKey::new(vr, vr::EspSaId(UP)))
            .expect("outbound SA");
        assert_eq!(o.vr, vr);
    }
    let inb1 = st
        .esp
        .inbound
        .get(&InboundKey::new(VrId(1), DOWN))
        .unwrap()
        .clone();
    let inb2 = st
        .esp
        .inbound
        .get(&InboundKey::new(VrId(2), DOWN))
        .unwrap()
        .clone();
    assert!(
        !std::sync::Arc::ptr_eq(&inb1.sa, &inb2.sa),
        "two SAs, two replay windows"
    );
    let ports = cfg
        .ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: 1500,
        })
        .collect();
    let dp_run = Dp {
        st,
        c: WorkerCounters::new(0, 2),
        ports,
    };
    // The HA's halves, one pair per care-of address (each FA numbers its own packets from
    // 1, so one SA at the HA for both would take FA2's first packet for a replay).
    let ha_down1 = peer(DOWN, &DOWN_KEYMAT);
    let ha_down2 = peer(DOWN, &DOWN_KEYMAT);
    let ha_up1 = peer(UP, &UP_KEYMAT);
    let ha_up2 = peer(UP, &UP_KEYMAT);
    for _ in 0..3 {
        dp_run.down(&ha_down1, FA1, 100, MN1, 11, MN1_MAC);
        dp_run.down(&ha_down2, FA2, 200, MN2, 12, MN2_MAC);
        dp_run.up(&ha_up1, FA1, 100, MN1, 11, MN1_MAC);
        dp_run.up(&ha_up2, FA2, 200, MN2, 12, MN2_MAC);
    }
    assert_eq!(inb1.sa.traffic().0, 3);
    assert_eq!(inb2.sa.traffic().0, 3);
    // The ESP to FA2 arriving in FA1's VR (on FA1's core VLAN, to FA1's address): FA1's
    // SA of that SPI decrypts into FA1's VR, which has no route to MN2 — FA2's mobile node
    // never gets it through FA1's VR, and FA2's window is untouched.
    let stray = seal(&ha_down2, &udp(CN, MN2, b"stray"));
    let f = eth(CORE_MAC, HA_MAC, 100, &ip4(HA, FA1, 60, 50, &stray));
    let (v, _) = dp_run.go(1, &f);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert_eq!(inb2.sa.replay_top(), 3);

    // MN2 deregisters: FA2's tunnel and SAs go, FA1's stay and carry on.
    let mut w2 = varouter::appliance::initial_state(&cfg, 1).unwrap();
    let mut dp2 = Datapath::new(1);
    dp2.apply(&mut w2, &side(0, 1), &TunnelEvent::Up(fa_tunnel(MN1, FA1)));
    dp2.apply(&mut w2, &side(1, 2), &TunnelEvent::Up(fa_tunnel(MN2, FA2)));
    dp2.apply(
        &mut w2,
        &side(1, 2),
        &TunnelEvent::Down(fa_tunnel(MN2, FA2)),
    );
    assert_eq!(dp2.counters().writer_errors, 0);
    let st2 = w2.commit().unwrap();
    assert!(st2
        .esp
        .inbound
        .get(&InboundKey::new(VrId(2), DOWN))
        .is_none());
    assert!(st2
        .esp
        .inbound
        .get(&InboundKey::new(VrId(1), DOWN))
        .is_some());
    let after = Dp {
        st: st2,
        c: WorkerCounters::new(0, 2),
        ports: dp_run.ports.clone(),
    };
    after.down(&peer(DOWN, &DOWN_KEYMAT), FA1, 100, MN1, 11, MN1_MAC);
    after.up(&peer(UP, &UP_KEYMAT), FA1, 100, MN1, 11, MN1_MAC);
}
