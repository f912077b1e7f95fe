//! The LNS forwarding state shared by the L2TP data-path golden test and its benchmark:
//! VR 1 on ports 0 (site side) and 1 (LAC side) with the tunnel address 192.0.2.1; our
//! tunnel 7 carries session 9 (VR 1) and session 10 (VR 2); 10.8.0.5 is a subscriber of
//! session 9 (peer ids 70/90), 10.1.0.0/16 and fd00:1::/48 are behind the CE on port 0.

use std::net::Ipv4Addr;
use vr::{
    ForwardingState, IfBinding, IfKey, L2tpEncap, LabelPush, NeighborKey, NextHop, PortId,
    RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId, VrId,
};

pub const R: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const LAC: [u8; 6] = [2, 0, 0, 0, 0x1a, 0xc0];
pub const CE: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xe0];

pub fn state() -> ForwardingState {
    writer().commit().unwrap()
}

/// The writer of [`state`], to change it further.
pub fn writer() -> StateWriter {
    let mut w = StateWriter::new(vec![R, R], 2);
    w.set_session_counter_slots(4);
    for v in [1, 2] {
        w.add_vr(VirtualRouter::new(
            VrId(v),
            format!("vr{v}"),
            VpnId::new(1, v).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(1)))
        .unwrap();
    // Sessions (our tunnel 7): 9 in VR 1, 10 in VR 2.
    for (s, vr) in [(9, 1), (10, 2)] {
        let counters = w.alloc_session_counters().unwrap();
        w.bind_session(
            SessionKey::L2tp {
                tunnel: 7,
                session: s,
            },
            SessionBinding {
                counters,
                ..SessionBinding::new(VrId(vr))
            },
        )
        .unwrap();
    }
    // The LAC's MAC is known (the L2TP next hop takes it from the neighbour).
    w.set_neighbor(
        NeighborKey {
            port: PortId(1),
            vlan: None,
            ip: Ipv4Addr::new(198, 51, 100, 2).into(),
        },
        Some(LAC),
    );
    let st = RouteSource::Static;
    w.set_route(
        VrId(1),
        "192.0.2.1/32".parse().unwrap(),
        RouteSource::Local,
        NextHop::Local,
    )
    .unwrap();
    let ce = NextHop::Forward {
        port: PortId(0),
        vlan: None,
        src_mac: R,
        dst_mac: CE,
        push: LabelPush::EMPTY,
    };
    w.set_route(VrId(1), "10.1.0.0/16".parse().unwrap(), st, ce)
        .unwrap();
    w.set_route(VrId(1), "fd00:1::/48".parse().unwrap(), st, ce)
        .unwrap();
    let sess = NextHop::L2tp(L2tpEncap {
        port: PortId(1),
        vlan: None,
        src_mac: R,
        dst_mac: LAC,
        src_ip: Ipv4Addr::new(192, 0, 2, 1),
        dst_ip: Ipv4Addr::new(198, 51, 100, 2),
        via: Ipv4Addr::new(198, 51, 100, 2),
        counters: 0,
        src_port: 1701,
        dst_port: 1701,
        peer_tunnel: 70,
        peer_session: 90,
    });
    w.set_route(VrId(1), "10.8.0.5/32".parse().unwrap(), st, sess)
        .unwrap();
    w
}
