//! The outer IPv4 header of ESP tunnel mode (found by the scapy/tshark interop test,
//! `tests/interop/esp/`): every outer packet carried IPv4 ID 0 with DF clear, so a router
//! that fragmented two of them would hand the peer fragments it cannot tell apart (RFC 6864
//! §4.1: non-atomic datagrams must not repeat an ID). The outer header is now atomic (DF
//! set, like the L2TP encapsulation's); this checks it over several packets, together with
//! the rest of the header and that the packet opens to the routed inner packet.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use esp::{Cipher, Sa, SaParams};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use vr::{
    EspSaId, EspTunnel, ForwardingState, IfBinding, IfKey, IpPrefix, LabelPush, NextHop, PortId,
    Prefix4, RouteSource, StateWriter, VirtualRouter, VpnId, VrId,
};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 2];
const P: [u8; 6] = [2, 0, 0, 0, 0xff, 2];
const CE: [u8; 6] = [2, 0, 0, 0, 0x0a, 2];
const SPI: u32 = 0x0a00_0001;
const KEY: [u8; 20] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    1, 2, 3, 4,
];
const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

fn state() -> ForwardingState {
    let mut w = StateWriter::new(vec![ACCESS, CORE], 1);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "A",
        VpnId::new(1, 1).unwrap(),
        "a",
    ))
    .unwrap();
    w.add_vr(VirtualRouter::new(
        VrId(3),
        "core",
        VpnId::new(1, 0xff).unwrap(),
        "c",
    ))
    .unwrap();
    w.bind_interface(IfKey::PortVlan(PortId(0), 10), IfBinding::Vr(VrId(1)))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(3)))
        .unwrap();
    let sa = Sa::new(&SaParams::new(SPI, Cipher::AesGcm128, KEY.to_vec()), 1).unwrap();
    w.set_esp_outbound(
        EspSaId(SPI),
        Arc::new(EspTunnel {
            name: "a-out".into(),
            sa: Arc::new(sa),
            vr: VrId(1),
            outer_vr: VrId(3),
            local: IpAddr::V4(LOCAL),
            remote: IpAddr::V4(REMOTE),
            udp: None,
            dscp: None,
            sources: None,
        }),
    )
    .unwrap();
    w.set_route(
        VrId(1),
        IpPrefix::V4(Prefix4::new(0x0a02_0000, 16).unwrap()),
        RouteSource::Static,
        NextHop::Esp(EspSaId(SPI)),
    )
    .unwrap();
    w.set_route(
        VrId(3),
        IpPrefix::V4(Prefix4::new(u32::from(REMOTE) & !0xff, 24).unwrap()),
        RouteSource::Static,
        NextHop::Forward {
            port: PortId(1),
            vlan: None,
            src_mac: CORE,
            dst_mac: P,
            push: LabelPush::EMPTY,
        },
    )
    .unwrap();
    w.commit().unwrap()
}

/// A UDP packet from the CE on VLAN 10 to 10.2.0.7, DF clear, of `total` bytes of IP.
fn ce_frame(total: usize, id: u16) -> (Vec<u8>, Vec<u8>) {
    let mut ip = vec![0u8; total];
    ip[..20].copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 1, 0, 5, 10, 2, 0, 7,
    ]);
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    let sum = !wire::checksum::data(&ip[..20]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip[20..22].copy_from_slice(&40000u16.to_be_bytes());
    ip[22..24].copy_from_slice(&5001u16.to_be_bytes());
    ip[24..26].copy_from_slice(&((total - 20) as u16).to_be_bytes());
    for (i, b) in ip[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut f = Vec::new();
    f.extend_from_slice(&ACCESS);
    f.extend_from_slice(&CE);
    f.extend_from_slice(&[0x81, 0x00, 0x00, 10, 0x08, 0x00]);
    f.extend_from_slice(&ip);
    (f, ip)
}

#[test]
fn outer_ipv4_header_is_atomic_and_opens_to_the_routed_packet() {
    let st = state();
    let ports = [
        PortInfo {
            mac: ACCESS,
            mtu: 1500,
        },
        PortInfo {
            mac: CORE,
            mtu: 1500,
        },
    ];
    let c = WorkerCounters::new(0, 2);
    let rx = Sa::new(&SaParams::new(SPI, Cipher::AesGcm128, KEY.to_vec()), 1).unwrap();
    for (n, total) in [28usize, 64, 512, 1400].into_iter().enumerate() {
        let (f, inner) = ce_frame(total, 0x1000 + n as u16);
        let mut b = HeapBuf::from_slice(&f).unwrap();
        assert_eq!(
            forward(&st, &ports, PortId(0), &mut b, &c),
            Verdict::Tx(PortId(1)),
            "{total} B"
        );
        let out = b.data().to_vec();
        assert_eq!(&out[..6], &P);
        assert_eq!(&out[6..12], &CORE);
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        let o = &out[14..];
        let len = usize::from(u16::from_be_bytes([o[2], o[3]]));
        assert_eq!(len, o.len(), "{total} B: total length");
        assert_eq!(o[0], 0x45);
        // DF set, not a fragment: an atomic datagram (RFC 6864), whatever its ID.
        assert_eq!(
            u16::from_be_bytes([o[6], o[7]]),
            0x4000,
            "{total} B: flags/fragment offset"
        );
        assert_eq!(o[8], 64, "TTL");
        assert_eq!(o[9], 50, "protocol ESP");
        assert_eq!(wire::checksum::data(&o[..20]), 0xffff, "header checksum");
        assert_eq!(&o[12..16], &LOCAL.octets());
        assert_eq!(&o[16..20], &REMOTE.octets());
        let mut esp = o[20..].to_vec();
        let opened = rx.open(0, &mut esp).expect("opens");
        assert_eq!(opened.seq, n as u64 + 1);
        assert_eq!(opened.next_header, 4);
        // The inner packet as routed: TTL 63, checksum adjusted, the rest untouched.
        let mut want = inner.clone();
        want[8] = 63;
        want[10..12].copy_from_slice(&[0, 0]);
        let sum = !wire::checksum::data(&want[..20]);
        want[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(&esp[opened.payload], &want[..], "{total} B: inner packet");
    }
}
