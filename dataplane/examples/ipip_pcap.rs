//! Writes what the pipeline's IP-in-IP encapsulation sends to a pcap, for an independent
//! decoder (`scripts/test.d/59-ipip-tshark.sh` reads it with tshark). A customer VR (port 0)
//! routes 10.2.0.0/16 and fd00:2::/48 into tunnel 1 (192.0.2.1 → 198.51.100.9, outer VR on
//! port 1) and 10.6.0.0/16 into tunnel 2 (same ends, marks DSCP 46). Frames, in order:
//!
//! 1. IPv4/UDP 10.1.0.5 → 10.2.0.7, TTL 9, TOS 0x2a (DSCP 10, ECT(0)), DF;
//! 2. the same without DF, TOS 0;
//! 3. IPv6/UDP fd00:1::5 → fd00:2::7, hop limit 5, traffic class 0xb9;
//! 4. IPv4/UDP 10.1.0.5 → 10.6.0.1, TOS 0x21 (DSCP 8, ECT(1)), DF: marked EF.
//!
//! Usage: `cargo run -p dataplane --example ipip_pcap -- OUT.pcap`.

use std::fs::File;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use vr::{
    IfBinding, IfKey, IpIpId, IpIpTunnel, LabelPush, NextHop, PortId, RouteSource, StateWriter,
    VirtualRouter, VpnId, VrId,
};

const CUST: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const CE: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xea];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];

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

fn udp(n: usize) -> Vec<u8> {
    // Ports 40000 → 40001: no dissector claims them, so the UDP payload is data.
    let mut u = vec![0x9c, 0x40, 0x9c, 0x41];
    u.extend_from_slice(&((8 + n) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..n).map(|i| i as u8));
    u
}

fn ip4(dst: [u8; 4], tos: u8, df: bool) -> Vec<u8> {
    let payload = udp(32);
    let mut p = vec![
        0x45,
        tos,
        0,
        0,
        0x12,
        0x34,
        if df { 0x40 } else { 0 },
        0,
        9,
        17,
        0,
        0,
    ];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[10, 1, 0, 5]);
    p.extend_from_slice(&dst);
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&payload);
    p
}

fn ip6() -> Vec<u8> {
    let mut payload = udp(24);
    let (src, dst) = (
        "fd00:1::5".parse::<std::net::Ipv6Addr>().unwrap(),
        "fd00:2::7".parse::<std::net::Ipv6Addr>().unwrap(),
    );
    // UDP over IPv6 needs its checksum (RFC 8200 §8.1): pseudo-header and datagram.
    let mut ph = src.octets().to_vec();
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 17]);
    ph.extend_from_slice(&payload);
    let c = match csum(&ph) {
        0 => 0xffff,
        c => c,
    };
    payload[6..8].copy_from_slice(&c.to_be_bytes());
    let tc: u8 = 0xb9;
    let mut p = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[17, 5]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&payload);
    p
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: ipip_pcap OUT.pcap")?;
    let (cust, core) = (VrId(1), VrId(2));
    let mut w = StateWriter::new(vec![CUST, CORE], 1);
    for (id, name) in [(cust, "cust"), (core, "core")] {
        w.add_vr(VirtualRouter::new(id, name, VpnId::new(1, id.0)?, "t"))?;
    }
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(cust))?;
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(core))?;
    let fwd = |port, src, dst| NextHop::Forward {
        port: PortId(port),
        vlan: None,
        src_mac: src,
        dst_mac: dst,
        push: LabelPush::EMPTY,
    };
    let route = |w: &mut StateWriter, vr, p: &str, nh| {
        w.set_route(vr, p.parse().expect("prefix"), RouteSource::Static, nh)
    };
    route(&mut w, core, "198.51.100.0/24", fwd(1, CORE, GW))?;
    route(&mut w, cust, "10.1.0.0/16", fwd(0, CUST, CE))?;
    for (id, dscp) in [(1, None), (2, Some(46))] {
        w.set_ipip_outbound(
            IpIpId(id),
            Arc::new(IpIpTunnel {
                name: format!("t{id}").into(),
                vr: cust,
                outer_vr: core,
                local: Ipv4Addr::new(192, 0, 2, 1),
                remote: Ipv4Addr::new(198, 51, 100, 9),
                dscp,
                sources: None,
            }),
        )?;
    }
    route(&mut w, cust, "10.2.0.0/16", NextHop::IpIp(IpIpId(1)))?;
    route(&mut w, cust, "fd00:2::/48", NextHop::IpIp(IpIpId(1)))?;
    route(&mut w, cust, "10.6.0.0/16", NextHop::IpIp(IpIpId(2)))?;
    let st = w.commit().ok_or("nothing to publish")?;
    let ports = [
        PortInfo {
            mac: CUST,
            mtu: 1500,
        },
        PortInfo {
            mac: CORE,
            mtu: 1500,
        },
    ];
    let c = WorkerCounters::new(0, 2);
    let mut pcap = PcapWriter::new(File::create(&out)?)?;
    let inputs = [
        (0x0800u16, ip4([10, 2, 0, 7], 0x2a, true)),
        (0x0800, ip4([10, 2, 0, 7], 0, false)),
        (0x86dd, ip6()),
        (0x0800, ip4([10, 6, 0, 1], 0x21, true)),
    ];
    for (i, (et, ip)) in inputs.iter().enumerate() {
        let mut f = CUST.to_vec();
        f.extend_from_slice(&CE);
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(ip);
        let mut b = HeapBuf::from_slice(&f).ok_or("frame too long")?;
        let v = forward(&st, &ports, PortId(0), &mut b, &c);
        if v != Verdict::Tx(PortId(1)) {
            return Err(format!("frame {}: {v:?}, not sent on the core port", i + 1).into());
        }
        let data = b.data();
        pcap.write_packet(&PcapPacket::new(
            Duration::from_secs(1_700_000_000 + i as u64),
            data.len() as u32,
            data,
        ))?;
    }
    println!("{}: {} frames", out, inputs.len());
    Ok(())
}
