//! IP-in-IP encapsulation and decapsulation (RFC 2003, `pipeline/ipip.rs`) against plain
//! routing, per packet (`pipeline::forward`), in the same process and run: a customer VR
//! routes 10.2.0.0/16 into an IP-in-IP tunnel whose outer packets are routed in a core VR,
//! and 10.3.0.0/16 to a neighbour (plain); the core VR decapsulates what the tunnel's peer
//! sends to the router's address into the customer VR (routed to 10.3.0.0/16). 10.4.0.0/16
//! routes into a source selection of two users (10.3.0.6 into a second tunnel, 10.3.0.5
//! into the first): `ipip_encap_by_source` is the encapsulation through it, the second
//! entry matching (what two users sharing a destination cost over one). 10.5.0.0/16 routes
//! to the same neighbour as 10.3.0.0/16 through a replay hop of 64 packets
//! (`NextHop::Replayable`, a foreign agent's visitor): `replay_hop_route` is plain routing
//! plus keeping a copy of each packet (full ring: a clock read and one copy, into the buffer
//! of the packet it overwrites).
//!
//! Each iteration restores the input frame (the same copy in every case) and forwards it;
//! the figures are per packet. Before measuring, each case is checked to give the verdict it
//! is meant to (sent on the expected port).
//!
//! `cargo bench -p dataplane --bench ipip`. Two runs on 2026-12-05 (2-vCPU VM, load average
//! 2.8–3.0, criterion medians per packet): plain 50.3 / 43.5 ns, encapsulation 85.6 /
//! 103.9 ns, decapsulation 76.9 / 74.2 ns (docs/performance.md).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::buffer::HeapBuf;
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use vr::{
    ForwardingState, IfBinding, IfKey, IpIpId, IpIpTunnel, LabelPush, NextHop, PortId, ReplayHop,
    ReplayId, ReplayRing, RouteSource, SourceRouteId, SourceRoutes, StateWriter, VirtualRouter,
    VpnId, VrId,
};

const CUST: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

fn state() -> ForwardingState {
    let (cust, core) = (VrId(1), VrId(2));
    let mut w = StateWriter::new(vec![CUST, CORE], 1);
    for (id, name) in [(cust, "cust"), (core, "core")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(cust))
        .unwrap();
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(core))
        .unwrap();
    let fwd = |port: u16, src| NextHop::Forward {
        port: PortId(port),
        vlan: None,
        src_mac: src,
        dst_mac: [2, 0, 0, 0, 0x6e, 1],
        push: LabelPush::EMPTY,
    };
    let mut route = |vr, p: &str, src, nh| w.set_route(vr, p.parse().unwrap(), src, nh).unwrap();
    route(core, "192.0.2.1/32", RouteSource::Local, NextHop::Local);
    route(core, "198.51.100.0/24", RouteSource::Static, fwd(1, CORE));
    route(cust, "10.3.0.0/16", RouteSource::Static, fwd(0, CUST));
    route(
        cust,
        "10.2.0.0/16",
        RouteSource::Static,
        NextHop::IpIp(IpIpId(1)),
    );
    let t = IpIpTunnel {
        name: "t".into(),
        vr: cust,
        outer_vr: core,
        local: ME,
        remote: PEER,
        dscp: None,
        sources: None,
    };
    w.set_ipip_outbound(IpIpId(1), Arc::new(t.clone())).unwrap();
    let other = IpIpTunnel {
        remote: Ipv4Addr::new(198, 51, 100, 10),
        ..t.clone()
    };
    w.set_ipip_outbound(IpIpId(2), Arc::new(other)).unwrap();
    w.set_ipip_inbound(Arc::new(t)).unwrap();
    let sel = SourceRoutes::new(
        "users",
        cust,
        [
            (([10, 3, 0, 6].into(), 32), NextHop::IpIp(IpIpId(2))),
            (([10, 3, 0, 5].into(), 32), NextHop::IpIp(IpIpId(1))),
        ],
    );
    w.set_source_routes(SourceRouteId(1), Arc::new(sel))
        .unwrap();
    w.set_route(
        cust,
        "10.4.0.0/16".parse().unwrap(),
        RouteSource::Static,
        NextHop::BySource(SourceRouteId(1)),
    )
    .unwrap();
    let hop = ReplayHop {
        name: "visitor".into(),
        vr: cust,
        hop: fwd(0, CUST),
        ring: Arc::new(ReplayRing::new(64)),
    };
    w.set_replay(ReplayId(1), Arc::new(hop)).unwrap();
    w.set_route(
        cust,
        "10.5.0.0/16".parse().unwrap(),
        RouteSource::Static,
        NextHop::Replayable(ReplayId(1)),
    )
    .unwrap();
    w.commit().unwrap()
}

fn ip4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let sum = !wire::checksum::data(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn frame(to: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = to.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 0x77, 0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

fn bench(c: &mut Criterion) {
    let st = state();
    let ports = [CUST, CORE].map(|mac| PortInfo { mac, mtu: 1500 });
    let wc = WorkerCounters::new(0, 2);
    // 26 bytes of payload: 60-byte frames (64 with the FCS) into the tunnel and plain; the
    // decapsulated case's frame is 20 bytes longer.
    let udp = [0u8; 26];
    let cases = [
        (
            "plain_route",
            frame(CUST, &ip4([10, 3, 0, 5], [10, 3, 0, 7], 17, &udp)),
            0,
            PortId(0),
        ),
        (
            "ipip_encap",
            frame(CUST, &ip4([10, 3, 0, 5], [10, 2, 0, 7], 17, &udp)),
            0,
            PortId(1),
        ),
        (
            "replay_hop_route",
            frame(CUST, &ip4([10, 3, 0, 5], [10, 5, 0, 7], 17, &udp)),
            0,
            PortId(0),
        ),
        (
            "ipip_encap_by_source",
            frame(CUST, &ip4([10, 3, 0, 5], [10, 4, 0, 7], 17, &udp)),
            0,
            PortId(1),
        ),
        (
            "ipip_decap",
            frame(
                CORE,
                &ip4(
                    PEER.octets(),
                    ME.octets(),
                    4,
                    &ip4([10, 2, 0, 7], [10, 3, 0, 5], 17, &udp),
                ),
            ),
            1,
            PortId(0),
        ),
    ];
    let mut g = c.benchmark_group("ipip");
    g.throughput(Throughput::Elements(1));
    for (name, f, port, out) in cases {
        let mut b = HeapBuf::from_slice(&f).unwrap();
        assert_eq!(
            forward(&st, &ports, PortId(port), &mut b, &wc),
            Verdict::Tx(out),
            "{name}"
        );
        g.bench_function(name, |bch| {
            let mut b = HeapBuf::new();
            bch.iter(|| {
                b.set(&f);
                black_box(forward(&st, &ports, PortId(port), &mut b, &wc))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
