//! The pipeline on arbitrary frames, with PPPoE sessions and PPP relays in the state: never
//! a panic; what is sent leaves on an existing port, starts with an Ethernet header and fits
//! the port's MTU; punt offsets lie inside the frame.
#![no_main]

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use dataplane::punt::Offsets;
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use vr::{
    ForwardingState, IfBinding, IfKey, L2tpEncap, LabelPush, NeighborKey, NextHop, PortId,
    PppoeEncap, RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId, VrId,
};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const SUB_A: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0a];
const SUB_B: [u8; 6] = [2, 0, 0, 0, 0xab, 0x0b];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

const PORTS: [PortInfo; 3] = [
    PortInfo {
        mac: ACCESS,
        mtu: 1500,
    },
    PortInfo {
        mac: CORE,
        mtu: 1500,
    },
    PortInfo {
        mac: ACCESS,
        mtu: 90,
    },
];

fn to_lns(peer_session: u16, via: [u8; 4]) -> NextHop {
    NextHop::L2tp(L2tpEncap {
        port: PortId(1),
        vlan: None,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        src_ip: ME,
        dst_ip: Ipv4Addr::new(198, 51, 100, 9),
        via: Ipv4Addr::from(via),
        counters: 1,
        src_port: 1701,
        dst_port: 1701,
        peer_tunnel: 40,
        peer_session,
    })
}

fn to_sub(port: u16, vlan: Option<u16>, mac: [u8; 6], session: u16) -> NextHop {
    NextHop::Pppoe(PppoeEncap {
        port: PortId(port),
        vlan,
        src_mac: [0; 6],
        dst_mac: mac,
        session,
        counters: 0,
    })
}

fn state() -> ForwardingState {
    let mut w = StateWriter::new(PORTS.iter().map(|p| p.mac).collect(), 1);
    w.set_session_counter_slots(4);
    for v in 1..=3 {
        w.add_vr(VirtualRouter::new(
            VrId(v),
            format!("vr{v}"),
            VpnId::new(1, v).unwrap(),
            "t",
        ))
        .unwrap();
        w.alloc_session_counters();
    }
    w.bind_interface(IfKey::PortVlan(PortId(0), 100), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(2)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(2)), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.set_neighbor(
        NeighborKey {
            port: PortId(1),
            vlan: None,
            ip: Ipv4Addr::new(192, 0, 2, 254).into(),
        },
        Some(GW),
    );
    let sa = SessionKey::Pppoe {
        port: PortId(0),
        session: 0x11,
    };
    w.bind_session(sa, SessionBinding::pppoe(VrId(3), 0, SUB_A, Some(100)))
        .unwrap();
    let sb = SessionKey::Pppoe {
        port: PortId(0),
        session: 0x12,
    };
    w.bind_session_relay(
        sb,
        SessionBinding::pppoe(VrId(1), 1, SUB_B, Some(100)),
        to_lns(90, [192, 0, 2, 254]),
    )
    .unwrap();
    let l2 = |s| SessionKey::L2tp {
        tunnel: 7,
        session: s,
    };
    w.bind_session_relay(
        l2(90),
        SessionBinding::new(VrId(2)),
        to_sub(0, Some(100), SUB_B, 0x12),
    )
    .unwrap();
    w.bind_session_relay(
        l2(91),
        SessionBinding::new(VrId(2)),
        to_lns(60, [192, 0, 2, 254]),
    )
    .unwrap();
    w.bind_session_relay(
        l2(92),
        SessionBinding::new(VrId(2)),
        to_lns(61, [192, 0, 2, 253]),
    )
    .unwrap();
    w.bind_session_relay(
        l2(93),
        SessionBinding::new(VrId(2)),
        to_sub(2, None, SUB_A, 0x21),
    )
    .unwrap();
    w.bind_session(l2(94), SessionBinding::new(VrId(2)))
        .unwrap();
    for vr in [1, 2] {
        w.set_route(
            VrId(vr),
            "192.0.2.1/32".parse().unwrap(),
            RouteSource::Local,
            NextHop::Local,
        )
        .unwrap();
    }
    let ce = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: CORE,
        dst_mac: [2, 0, 0, 0, 0xc, 0xe],
        push: LabelPush::EMPTY,
    };
    for p in ["0.0.0.0/0", "::/0"] {
        w.set_route(VrId(3), p.parse().unwrap(), RouteSource::Static, ce)
            .unwrap();
        w.set_route(VrId(2), p.parse().unwrap(), RouteSource::Static, ce)
            .unwrap();
    }
    for (p, nh) in [
        ("100.64.0.17/32", to_sub(0, Some(100), SUB_A, 0x11)),
        ("100.64.0.33/32", to_sub(2, None, SUB_A, 0x21)),
        ("100.64.0.44/32", to_lns(70, [192, 0, 2, 254])),
    ] {
        w.set_route(VrId(3), p.parse().unwrap(), RouteSource::Static, nh)
            .unwrap();
    }
    w.commit().unwrap()
}

fn l2tp_header(session: u16) -> Vec<u8> {
    let mut f = CORE.to_vec();
    f.extend_from_slice(&GW);
    f.extend_from_slice(&[0x08, 0x00]);
    // IPv4 to 192.0.2.1, lengths fixed up below, checksum left to the fuzzer's luck:
    // the header is completed in `frame`.
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[198, 51, 100, 9]);
    f.extend_from_slice(&ME.octets());
    f.extend_from_slice(&[0x06, 0xa5, 0x06, 0xa5, 0, 0, 0, 0]);
    f.extend_from_slice(&[0x00, 0x02, 0, 7]);
    f.extend_from_slice(&session.to_be_bytes());
    f
}

fn frame(template: u8, body: &[u8]) -> Vec<u8> {
    let pppoe = |src: [u8; 6], session: u16, et: u16| {
        let mut f = ACCESS.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x81, 0x00, 0, 100]);
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&[0x11, 0]);
        f.extend_from_slice(&session.to_be_bytes());
        f.extend_from_slice(&(body.len() as u16).to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    match template % 8 {
        0 => body.to_vec(),
        1 => pppoe(SUB_A, 0x11, 0x8864),
        2 => pppoe(SUB_B, 0x12, 0x8864),
        3 => pppoe(SUB_A, 0x12, 0x8863),
        t => {
            let mut f = l2tp_header(89 + u16::from(t));
            f.extend_from_slice(body);
            let total = (f.len() - 14) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            let mut s: u32 = 0;
            for c in f[14..34].chunks(2) {
                s += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            f[24..26].copy_from_slice(&(!(s as u16)).to_be_bytes());
            f[38..40].copy_from_slice(&(total - 20).to_be_bytes());
            f
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static STATE: OnceLock<ForwardingState> = OnceLock::new();
    let st = STATE.get_or_init(state);
    let [template, port, body @ ..] = data else {
        return;
    };
    let f = frame(*template, body);
    let Some(mut b) = HeapBuf::from_slice(&f) else {
        return;
    };
    let port = u16::from(*port % 4);
    let c = WorkerCounters::new(0, PORTS.len());
    match forward(st, &PORTS, PortId(port), &mut b, &c) {
        Verdict::Tx(p) => {
            let out = PORTS
                .get(usize::from(p.0))
                .expect("sent on an existing port");
            assert!(b.len() >= 14, "sent frame without an Ethernet header");
            let l2 = if b.data()[12..14] == [0x81, 0x00] {
                18
            } else {
                14
            };
            assert!(
                b.len() - l2 <= out.mtu as usize,
                "{} bytes after L2 on a port with MTU {}",
                b.len() - l2,
                out.mtu
            );
        }
        Verdict::Punt(p) => {
            for o in [p.at.l3, p.at.ip, p.at.l4, p.at.app, p.at.inner] {
                if let Some(o) = Offsets::get(o) {
                    assert!(o <= b.len(), "offset {o} beyond a {}-byte frame", b.len());
                }
            }
        }
        Verdict::Drop(_) => {}
    }
});
