//! Everything the control core decodes from punted packets, fed arbitrary bytes: the ARP and
//! ND handlers (with a neighbor table that must stay bounded), ICMP echo replies and errors
//! (quoting arbitrary datagrams), and the per-VR L2TP driver. None may panic.
#![no_main]

use controlplane::icmp::{self, IcmpError};
use controlplane::l2tp::driver::vr::{EndpointConfig, VrEndpoints};
use controlplane::l2tp::engine::{Config, Role};
use controlplane::neighbor::{arp, nd, NeighborConfig, NeighborTable};
use controlplane::packet::Iface;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let ifc = Iface {
        port: 0,
        vlan: None,
        mac: [2, 0, 0, 0, 0, 1],
        vr: Some(1),
        v4: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
        v6: vec![("fd00::1".parse::<Ipv6Addr>().unwrap(), 64)],
    };
    let mut t4: NeighborTable<Ipv4Addr, ()> = NeighborTable::new(NeighborConfig::default());
    let mut t6: NeighborTable<Ipv6Addr, ()> = NeighborTable::new(NeighborConfig::default());
    let _ = arp::handle(&mut t4, now, 0, &ifc, data);
    let _ = nd::handle(&mut t6, now, 0, &ifc, [2, 0, 0, 0, 0, 2], data);
    let _ = icmp::echo_reply_v4(data);
    let _ = icmp::echo_reply_v6(data);
    for kind in [IcmpError::TimeExceeded, IcmpError::PortUnreachable, IcmpError::HostUnreachable] {
        let _ = icmp::error_v4(Ipv4Addr::new(10, 0, 0, 1), data, kind);
        let _ = icmp::error_v6("fd00::1".parse().unwrap(), data, kind);
    }
    let mut eps = VrEndpoints::new(
        vec![EndpointConfig {
            vr: vr::VrId(1),
            local: Ipv4Addr::new(10, 0, 0, 1),
            engine: Config::new(Role::Lns, "fuzz"),
            peers: vec![],
            autodial: false,
        }],
        Box::new(|| rand::rngs::StdRng::seed_from_u64(7)),
        now,
    );
    eps.handle_packet(now, vr::VrId(1), data);
    let (mut p, mut c) = (Vec::new(), Vec::new());
    eps.drain(now, &mut p, &mut c, |_, _| true);
});
