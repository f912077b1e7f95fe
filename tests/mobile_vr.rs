//! The Mobile IP agents with `transport: vr` on the control core (no ports): UDP 434 punted
//! as `local` in the agent's VR, answers out as frames. The FA advertises on its access
//! port (ICMP type 9 to 224.0.0.1, a fresh challenge each time), answers a mobile node
//! straight on the link its request came from (to its MAC, from port 434, with the next
//! challenge), and without a Diameter peer answers 78; the HA answers a request with a
//! wrong MN-HA authenticator (131) routed in its VR; a punt for an address no agent has is
//! counted. The FA answers Agent Solicitations (ICMP type 10 to 224.0.0.11, which its VR
//! routes to the core) at once, unicast on the link, within its rate limit.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::Core;
use controlplane::mip::auth;
use controlplane::mip::mn::MnRegistration;
use controlplane::mip::wire::advert::Advertisement;
use controlplane::mip::wire::ext::kind;
use controlplane::mip::wire::registration::{code, Reply, Request};
use controlplane::mip::wire::Extension;
use controlplane::mip::Sa;
use controlplane::packet::{ethernet, l2_split};
use dataplane::buffer::{HeapAlloc, HeapBuf, PacketBuf};
use dataplane::counters::Punt;
use dataplane::pipeline::PortInfo;
use dataplane::punt::{Inject, InjectRing, Offsets, PuntTo, Punted};
use varouter::mip::service::{udp_ipv4, MipService};
use vr::{PortId, VrId};
use wire::EtherType;

const MN_MAC: [u8; 6] = [0x02, 0x33, 0, 0, 0, 0x01];
const GW_MAC: [u8; 6] = [0x02, 0x44, 0, 0, 0, 0x01];
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const HOME: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 7);

const PROFILE: &str = r#"router_id: 192.0.2.1
ports:
  - { name: access0, backend: mem, mac: "02:00:00:00:00:01" }
  - { name: core0, backend: mem, mac: "02:00:00:00:00:02" }
virtual_routers:
  - id: 1
    name: visited
    vpn_id: "00a0c9:00000001"
    tenant: carrier
    interfaces:
      - { port: access0, vlan: 10, addresses: [192.0.2.1/24] }
  - id: 2
    name: home
    vpn_id: "00a0c9:00000002"
    tenant: carrier
    interfaces:
      - { port: core0, addresses: [198.51.100.10/24] }
neighbors:
  - { port: core0, ip: 198.51.100.1, mac: "02:44:00:00:00:01" }
mobile_ip:
  agents:
    - name: fa1
      vr: visited
      role: foreign_agent
      address: 192.0.2.1
      diameter: { origin_host: fa1.visited.example, origin_realm: visited.example, peers: [127.0.0.1:18297] }
      advertise: { interval_ms: 500, ports: [access0] }
    - name: ha1
      vr: home
      role: home_agent
      address: 198.51.100.10
      home_network: 10.200.0.0/16
      mn_ha: [{ peer: 10.200.0.7, spi: 400, key: "00112233445566778899" }]
"#;

struct Rig {
    core: Core<HeapBuf>,
    ring: Arc<InjectRing<HeapBuf>>,
    t0: Instant,
}

fn rig() -> Rig {
    let d = tempfile::tempdir().unwrap();
    let cfg = varouter::parse_config(&d.path().join("p.yaml"), PROFILE).expect("profile checks");
    let writer = varouter::appliance::initial_state(&cfg, 1).unwrap();
    let ports: Arc<[PortInfo]> = cfg
        .ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: 1500,
        })
        .collect();
    let ring = Arc::new(InjectRing::new(256));
    let t0 = Instant::now();
    let mut core = Core::new(
        writer,
        ports,
        vec![true; cfg.ports.len()],
        vec![ring.clone()],
        Box::new(HeapAlloc),
    );
    for s in varouter::services::services(&cfg, t0) {
        core.add_service(s).unwrap();
    }
    // No Diameter thread: the FA's AMRs find no peer.
    let macs = cfg.ports.iter().map(|p| p.mac).collect();
    let m = MipService::new(cfg.mobile_ip.as_ref().unwrap(), macs, 1, None, t0);
    core.add_service(Box::new(m)).unwrap();
    core.start(t0);
    core.publish();
    Rig { core, ring, t0 }
}

fn sent(r: &Rig) -> Vec<(PortId, Vec<u8>)> {
    std::iter::from_fn(|| r.ring.pop())
        .filter_map(|i| match i {
            Inject::Tx { port, buf } => Some((port, buf.data().to_vec())),
            Inject::Recycle(_) => None,
        })
        .collect()
}

/// (VLAN, IPv4 packet) of a frame.
fn ip_of(f: &[u8]) -> Option<(Option<u16>, &[u8])> {
    let (et, vlan, off) = l2_split(f)?;
    (et == 0x0800).then_some((vlan, &f[off..]))
}

fn udp_payload(ip: &[u8]) -> Option<(u16, u16, &[u8])> {
    if ip[9] != 17 {
        return None;
    }
    let h = usize::from(ip[0] & 0x0f) * 4;
    let u = &ip[h..];
    Some((
        u16::from_be_bytes([u[0], u[1]]),
        u16::from_be_bytes([u[2], u[3]]),
        &u[8..],
    ))
}

fn punt_udp(
    r: &mut Rig,
    at: Duration,
    port: PortId,
    vlan: Option<u16>,
    vr: u32,
    src_mac: [u8; 6],
    ip: Vec<u8>,
) {
    // To the port's own MAC (the profile's 02:00:00:00:00:0N).
    let dst_mac = [0x02, 0, 0, 0, 0, port.0 as u8 + 1];
    let f = ethernet(dst_mac, src_mac, vlan, EtherType::Ipv4, &ip);
    let (_, vlan, l3) = l2_split(&f).unwrap();
    let mut off = Offsets::l3(vlan, l3);
    off.ip = l3 as u16;
    off.l4 = (l3 + 20) as u16;
    off.app = (l3 + 28) as u16;
    r.core.handle_punt(
        r.t0 + at,
        Punted {
            to: PuntTo {
                reason: Punt::Local,
                vr: Some(VrId(vr)),
                at: off,
            },
            port,
            worker: 0,
            buf: HeapBuf::from_slice(&f).unwrap(),
        },
    );
    r.core.publish();
}

fn mip(r: &Rig) -> &MipService {
    r.core.service::<MipService>().unwrap()
}

#[test]
fn the_fa_advertises_and_answers_on_the_link_and_the_ha_routes_its_answers() {
    let mut r = rig();
    // The first advertisement at start, on access0 VLAN 10.
    let out = sent(&r);
    let adverts: Vec<_> = out
        .iter()
        .filter(|(p, f)| *p == PortId(0) && f[0..6] == [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01])
        .collect();
    assert_eq!(adverts.len(), 1, "{out:?}");
    let (vlan, ip) = ip_of(&adverts[0].1).unwrap();
    assert_eq!(vlan, Some(10));
    assert_eq!((ip[8], ip[9]), (1, 1), "TTL 1, ICMP");
    assert_eq!(&ip[12..16], &FA.octets());
    assert_eq!(&ip[16..20], &[224, 0, 0, 1]);
    let adv = Advertisement::parse(&ip[20..]).unwrap();
    assert_eq!(adv.care_of, vec![FA]);
    let ch = adv.challenge.unwrap();
    // The next one after the interval, with another challenge.
    r.core.run_timers(r.t0 + Duration::from_millis(510));
    let out = sent(&r);
    let (_, ip) = ip_of(&out.iter().find(|(p, _)| *p == PortId(0)).unwrap().1).unwrap();
    let ch2 = Advertisement::parse(&ip[20..]).unwrap().challenge.unwrap();
    assert_ne!(ch, ch2);

    // A registration from the mobile node's link: the FA's AMR finds no Diameter peer, 78
    // goes straight back to the MN's MAC on access0 VLAN 10, from UDP 434.
    let req = MnRegistration {
        flags: 0,
        lifetime: 300,
        home_address: HOME,
        home_agent: HA,
        care_of_address: FA,
        identification: 1,
        nai: "user7@home.example",
        challenge: &ch2,
        previous_fa: None,
        service_update: false,
        mn_ha: None,
        mn_aaa: &Sa {
            spi: 256,
            key: b"k".to_vec(),
        },
    }
    .build()
    .unwrap();
    let ip = udp_ipv4(
        SocketAddrV4::new(HOME, 434),
        SocketAddrV4::new(FA, 434),
        64,
        &req,
    );
    punt_udp(
        &mut r,
        Duration::from_millis(600),
        PortId(0),
        Some(10),
        1,
        MN_MAC,
        ip,
    );
    let out = sent(&r);
    let (port, f) = out
        .iter()
        .find(|(_, f)| f[0..6] == MN_MAC)
        .expect("a reply to the mobile node's MAC");
    assert_eq!(*port, PortId(0));
    let (vlan, ip) = ip_of(f).unwrap();
    assert_eq!(vlan, Some(10));
    assert_eq!(&ip[12..16], &FA.octets());
    assert_eq!(&ip[16..20], &HOME.octets());
    let (sport, dport, payload) = udp_payload(ip).unwrap();
    assert_eq!((sport, dport), (434, 434));
    let rep = Reply::parse(payload).unwrap();
    assert_eq!(rep.code, code::FA_TIMEOUT);
    assert!(rep
        .extensions
        .iter()
        .any(|l| matches!(l.ext, Extension::Challenge(_))));
    let fa = &mip(&r).agents()[0];
    assert_eq!(fa.counters.aaa_no_peer, 1);
    assert_eq!(fa.counters.rx_datagrams, 1);

    // Straight to the HA with a wrong MN-HA authenticator, from an FA on the HA's link
    // (198.51.100.1, a static neighbour): 131, routed in VR `home` back to it.
    let fa_on_link = Ipv4Addr::new(198, 51, 100, 1);
    let direct = Request {
        flags: 0,
        lifetime: 300,
        home_address: HOME,
        home_agent: HA,
        care_of_address: FA,
        identification: varouter::mip::service::wall_ntp_clock(r.t0).at(r.t0),
        extensions: Vec::new(),
    };
    let (mut bytes, offs) = direct
        .emit_extensions(&[auth::auth_placeholder(kind::MN_HA_AUTH, 400)])
        .unwrap();
    let at = offs[0] + 6;
    let m = auth::hmac_md5(b"wrong", &bytes[..at]);
    bytes[at..at + auth::AUTH_LEN].copy_from_slice(&m);
    let ip = udp_ipv4(
        SocketAddrV4::new(fa_on_link, 434),
        SocketAddrV4::new(HA, 434),
        64,
        &bytes,
    );
    punt_udp(
        &mut r,
        Duration::from_millis(700),
        PortId(1),
        None,
        2,
        GW_MAC,
        ip,
    );
    let out = sent(&r);
    let (port, f) = out
        .iter()
        .find(|(_, f)| f[0..6] == GW_MAC)
        .expect("the HA's reply routed to the neighbour");
    assert_eq!(*port, PortId(1));
    let (_, ip) = ip_of(f).unwrap();
    assert_eq!(&ip[12..16], &HA.octets());
    let (_, _, payload) = udp_payload(ip).unwrap();
    assert_eq!(Reply::parse(payload).unwrap().code, code::HA_MN_AUTH_FAILED);
    let ha = &mip(&r).agents()[1];
    assert_eq!(ha.counters.rx_datagrams, 1);

    // UDP 434 to an address of the VR that is no agent's: counted.
    let ip = udp_ipv4(
        SocketAddrV4::new(HOME, 434),
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 99), 434),
        64,
        &req,
    );
    punt_udp(
        &mut r,
        Duration::from_millis(800),
        PortId(0),
        Some(10),
        1,
        MN_MAC,
        ip,
    );
    assert_eq!(mip(&r).service_counters().not_for_agent, 1);
}

/// An Agent Solicitation (RFC 5944 §2.2) from `src` to `dst`, with `icmp` as its ICMP part.
fn solicitation_ip(src: Ipv4Addr, dst: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
    controlplane::packet::ipv4(src, dst, wire::IpProtocol::Icmp, 1, icmp)
}

/// A solicited advertisement as sent: port, Ethernet destination, VLAN, IP destination.
#[derive(Debug)]
struct Answer {
    port: PortId,
    mac: [u8; 6],
    vlan: Option<u16>,
    to: Ipv4Addr,
    adv: Advertisement,
}

/// The advertisements in `out` that answer a solicitation (not to the all-systems MAC).
fn solicited(out: &[(PortId, Vec<u8>)]) -> Vec<Answer> {
    out.iter()
        .filter_map(|(p, f)| {
            let (vlan, ip) = ip_of(f)?;
            (ip[9] == 1 && ip[20] == 9).then(|| {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&f[0..6]);
                Answer {
                    port: *p,
                    mac,
                    vlan,
                    to: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
                    adv: Advertisement::parse(&ip[20..]).unwrap(),
                }
            })
        })
        .collect()
}

fn counter(r: &Rig, name: &str) -> u64 {
    use controlcore::Service;
    mip(r)
        .counters()
        .into_iter()
        .find(|(k, _)| *k == name)
        .unwrap_or_else(|| panic!("no counter {name}"))
        .1
}

#[test]
fn the_fa_answers_agent_solicitations_at_once_on_the_link_and_no_faster_than_its_limit() {
    let mut r = rig();
    let _ = sent(&r); // the advertisement at start
                      // 224.0.0.11 reaches the core in the FA's VR only.
    let st = r.core.state();
    let group = u32::from(Ipv4Addr::new(224, 0, 0, 11));
    let nh = st.vr(VrId(1)).unwrap().lookup4(group).unwrap();
    assert!(matches!(st.next_hop(nh), Some(vr::NextHop::Local)));
    assert!(
        st.vr(VrId(2)).unwrap().lookup4(group).is_none(),
        "the HA's VR has no route"
    );
    let sol = controlplane::mip::wire::advert::solicitation();

    // From a node with an address, to the group, on access0 VLAN 10: answered at once,
    // unicast to its MAC and address, with a fresh challenge and the next sequence number.
    let at = Duration::from_millis(100);
    let ip = solicitation_ip(HOME, Ipv4Addr::new(224, 0, 0, 11), &sol);
    punt_udp(&mut r, at, PortId(0), Some(10), 1, MN_MAC, ip.clone());
    let got = solicited(&sent(&r));
    assert_eq!(got.len(), 1, "{got:?}");
    let a = &got[0];
    assert_eq!(
        (a.port, a.mac, a.vlan, a.to),
        (PortId(0), MN_MAC, Some(10), HOME)
    );
    let adv = &a.adv;
    assert_eq!(adv.care_of, vec![FA]);
    assert!(adv.challenge.is_some());
    assert_eq!(counter(&r, "mip_solicitations"), 1);

    // Again within the limit: counted, not answered; after it: answered. A node with no
    // address yet (0.0.0.0) gets it at 224.0.0.1, still to its MAC; unicast to the FA's
    // address is answered too.
    punt_udp(
        &mut r,
        at + Duration::from_millis(10),
        PortId(0),
        Some(10),
        1,
        MN_MAC,
        ip,
    );
    assert!(solicited(&sent(&r)).is_empty());
    assert_eq!(counter(&r, "mip_solicitations_rate_limited"), 1);
    let ip0 = solicitation_ip(Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(224, 0, 0, 11), &sol);
    punt_udp(
        &mut r,
        at + Duration::from_millis(60),
        PortId(0),
        Some(10),
        1,
        MN_MAC,
        ip0,
    );
    let got = solicited(&sent(&r));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].mac, got[0].to),
        (MN_MAC, Ipv4Addr::new(224, 0, 0, 1))
    );
    assert!(got[0].adv.sequence > adv.sequence);
    let ipu = solicitation_ip(HOME, FA, &sol);
    punt_udp(
        &mut r,
        at + Duration::from_millis(120),
        PortId(0),
        Some(10),
        1,
        MN_MAC,
        ipu,
    );
    assert_eq!(solicited(&sent(&r)).len(), 1);
    assert_eq!(counter(&r, "mip_solicitations"), 3);

    // Not answered: a bad checksum, a code other than 0, a cut message (malformed); another
    // VLAN of the port or the core port, where the FA does not advertise (not for an agent).
    let mut bad = sol.clone();
    bad[4] = 1;
    let mut code = sol.clone();
    code[1] = 1;
    for (i, icmp) in [bad, code, sol[..6].to_vec()].into_iter().enumerate() {
        let ip = solicitation_ip(HOME, Ipv4Addr::new(224, 0, 0, 11), &icmp);
        punt_udp(
            &mut r,
            at + Duration::from_millis(200 + 60 * i as u64),
            PortId(0),
            Some(10),
            1,
            MN_MAC,
            ip,
        );
    }
    let ip = solicitation_ip(HOME, Ipv4Addr::new(224, 0, 0, 11), &sol);
    punt_udp(
        &mut r,
        at + Duration::from_millis(400),
        PortId(0),
        Some(11),
        1,
        MN_MAC,
        ip.clone(),
    );
    punt_udp(
        &mut r,
        at + Duration::from_millis(460),
        PortId(1),
        None,
        2,
        MN_MAC,
        ip,
    );
    // Unicast to another address of the link (the data plane would not punt it; the
    // service does not answer it either).
    let other = solicitation_ip(HOME, Ipv4Addr::new(192, 0, 2, 77), &sol);
    punt_udp(
        &mut r,
        at + Duration::from_millis(520),
        PortId(0),
        Some(10),
        1,
        MN_MAC,
        other,
    );
    assert!(solicited(&sent(&r)).is_empty());
    assert_eq!(counter(&r, "mip_solicitations_malformed"), 3);
    assert_eq!(counter(&r, "mip_solicitations_not_for_agent"), 3);
    assert_eq!(counter(&r, "mip_solicitations"), 3);
}
