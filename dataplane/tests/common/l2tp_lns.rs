//! The LNS forwarding state shared by the L2TP data-path golden test and its benchmark:
//! VR 1 on ports 0 (site side) and 1 (LAC side) with the tunnel address 192.0.2.1; our
//! tunnel 7 carries session 9 (VR 1) and session 10 (VR 2); 10.8.0.5 is a subscriber of
//! session 9 (peer ids 70/90), 10.1.0.0/16 and fd00:1::/48 are behind the CE on port 0.

use std::net::Ipv4Addr;
use vr::{
    ForwardingState, ForwardingStateBuilder, IfBinding, IfKey, L2tpEncap, LabelPush, NextHop,
    PortId, Prefix4, Prefix6, VrId,
};

pub const R: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const LAC: [u8; 6] = [2, 0, 0, 0, 0x1a, 0xc0];
pub const CE: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xe0];

pub fn state() -> ForwardingState {
    let mut b = ForwardingStateBuilder::new();
    for v in [1, 2] {
        b.add_vr(VrId(v)).unwrap();
    }
    b.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    b.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(1)))
        .unwrap();
    // Sessions (our tunnel 7): 9 in VR 1, 10 in VR 2.
    b.bind_interface(
        IfKey::L2tpSession {
            tunnel: 7,
            session: 9,
        },
        IfBinding::Vr(VrId(1)),
    )
    .unwrap();
    b.bind_interface(
        IfKey::L2tpSession {
            tunnel: 7,
            session: 10,
        },
        IfBinding::Vr(VrId(2)),
    )
    .unwrap();
    let local = b.add_next_hop(NextHop::Local);
    b.add_route4(VrId(1), Prefix4::new(0xc000_0201, 32).unwrap(), local)
        .unwrap();
    let ce = b.add_next_hop(NextHop::Forward {
        port: PortId(0),
        vlan: None,
        src_mac: R,
        dst_mac: CE,
        push: LabelPush::EMPTY,
    });
    b.add_route4(VrId(1), "10.1.0.0/16".parse().unwrap(), ce)
        .unwrap();
    b.add_route6(VrId(1), "fd00:1::/48".parse::<Prefix6>().unwrap(), ce)
        .unwrap();
    let sess = b.add_next_hop(NextHop::L2tp(L2tpEncap {
        port: PortId(1),
        vlan: None,
        src_mac: R,
        dst_mac: LAC,
        src_ip: Ipv4Addr::new(192, 0, 2, 1),
        dst_ip: Ipv4Addr::new(198, 51, 100, 2),
        src_port: 1701,
        dst_port: 1701,
        peer_tunnel: 70,
        peer_session: 90,
    }));
    b.add_route4(VrId(1), "10.8.0.5/32".parse().unwrap(), sess)
        .unwrap();
    b.build(1).unwrap()
}
