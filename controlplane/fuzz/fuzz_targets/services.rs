//! The control core with the appliance's services (ARP/ND, ICMP, L2TP) fed arbitrary punts:
//! any reason, VR, port, header offsets (even ones a worker would never produce) and frame
//! bytes, then timers far into the future. Nothing may panic, and the tables must stay
//! publishable.
#![no_main]

use controlcore::{Core, Offsets, Punt, PuntTo};
use controlplane::icmp::service::IcmpService;
use controlplane::l2tp::driver::vr::EndpointConfig;
use controlplane::l2tp::engine::{Config, Role};
use controlplane::l2tp::service::L2tpService;
use controlplane::neighbor::service::NeighborService;
use controlplane::neighbor::NeighborConfig;
use controlplane::packet::{Iface, Interfaces};
use dataplane::buffer::{HeapAlloc, HeapBuf};
use dataplane::pipeline::PortInfo;
use dataplane::punt::{InjectRing, Punted};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{
    IfBinding, IfKey, LabelPush, NextHop, PortId, RouteSource, StateWriter, VirtualRouter, VpnId,
    VrId,
};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn core(now: Instant) -> (Core<HeapBuf>, Arc<InjectRing<HeapBuf>>) {
    let mut w = StateWriter::new(vec![MAC, MAC], 1);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "a",
        VpnId::new(1, 1).unwrap(),
        "t",
    ))
    .unwrap();
    w.bind_interface(IfKey::PortVlan(PortId(0), 10), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Trunk)
        .unwrap();
    let glean = NextHop::Unresolved {
        port: PortId(0),
        vlan: Some(10),
        via: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        push: LabelPush::EMPTY,
    };
    w.set_route(
        VrId(1),
        "10.0.0.0/24".parse().unwrap(),
        RouteSource::Connected,
        glean,
    )
    .unwrap();
    w.set_route(
        VrId(1),
        "10.0.0.1/32".parse().unwrap(),
        RouteSource::Local,
        NextHop::Local,
    )
    .unwrap();
    let ring = Arc::new(InjectRing::new(4096));
    let ports: Arc<[PortInfo]> = vec![
        PortInfo {
            mac: MAC,
            mtu: 1500
        };
        2
    ]
    .into();
    let mut c = Core::new(
        w,
        ports,
        vec![true, true],
        vec![ring.clone()],
        Box::new(HeapAlloc),
    );
    let ifaces = Interfaces::new(vec![
        Iface {
            port: 0,
            vlan: Some(10),
            mac: MAC,
            vr: Some(1),
            v4: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
            v6: vec![("fd00::1".parse().unwrap(), 64)],
        },
        Iface {
            port: 1,
            vlan: None,
            mac: MAC,
            vr: None,
            v4: vec![(Ipv4Addr::new(192, 0, 2, 1), 30)],
            v6: vec![],
        },
    ]);
    c.add_service(Box::new(NeighborService::new(
        ifaces.clone(),
        NeighborConfig::default(),
    )))
    .unwrap();
    c.add_service(Box::new(IcmpService::new(ifaces))).unwrap();
    let mut engine = Config::new(Role::Lns, "fuzz");
    engine.secret = Some(b"s".to_vec());
    c.add_service(Box::new(L2tpService::with_rng(
        vec![EndpointConfig {
            vr: VrId(1),
            local: Ipv4Addr::new(10, 0, 0, 1),
            engine,
            peers: vec![],
            autodial: false,
        }],
        Box::new(|| rand::rngs::StdRng::seed_from_u64(7)),
        now,
    )))
    .unwrap();
    c.start(now);
    (c, ring)
}

fn u16_at(d: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([
        d.get(i).copied().unwrap_or(0),
        d.get(i + 1).copied().unwrap_or(0),
    ])
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let (mut c, ring) = core(now);
    // Each record: reason, flags (vr, port, vlan), 5 offsets, a 1-byte length, the frame.
    let mut d = data;
    let mut t = now;
    while d.len() >= 13 {
        let reason = Punt::ALL[usize::from(d[0]) % Punt::COUNT];
        let flags = d[1];
        let off = |i: usize| {
            let o = u16_at(d, 2 + 2 * i);
            // Mostly small offsets inside the frame, sometimes anything.
            if flags & 0x80 != 0 {
                o
            } else {
                o % 96
            }
        };
        let at = Offsets {
            vlan: (flags & 4 != 0).then_some(10),
            l3: off(0),
            ip: off(1),
            l4: off(2),
            app: off(3),
            inner: Offsets::NONE,
        };
        let len = usize::from(d[12]);
        let frame = &d[13..(13 + len).min(d.len())];
        d = &d[(13 + len).min(d.len())..];
        let Some(buf) = HeapBuf::from_slice(frame) else {
            continue;
        };
        c.handle_punt(
            t,
            Punted {
                to: PuntTo {
                    reason,
                    vr: (flags & 1 != 0).then_some(VrId(1)),
                    at,
                },
                port: PortId(u16::from(flags & 2 != 0)),
                worker: 0,
                buf,
            },
        );
        t += Duration::from_millis(u64::from(flags & 0x0f) * 100);
        c.run_timers(t);
        c.publish();
        while ring.pop().is_some() {}
    }
    for s in [1, 10, 100] {
        c.run_timers(t + Duration::from_secs(s));
        c.publish();
        while ring.pop().is_some() {}
    }
});
