//! The `mem` backend: an in-process packet generator on receive and a counting sink on
//! transmit. It needs no root, no NIC and no network, so the embedded demo, the isolation
//! tests and the pipeline benchmarks all run on it.
//!
//! Every generated packet is UDP carrying a 16-byte *flow tag* (`VRTF`, flow id, sequence)
//! right after the UDP header. The sink reads the tag of every packet the router sends and
//! checks the packet left where its flow was expected (port, VLAN, label stack): anything
//! else is counted as **misdelivered** — for a VPN router, a leak.

use super::PortQueue;
use crate::buffer::{BufPool, HeapBuf, HeapPool, PacketBuf};
use crate::counters::bump;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use wire::checksum;

/// Magic at the start of the flow tag.
pub const TAG_MAGIC: [u8; 4] = *b"VRTF";
/// Flow tag length: magic, flow id (u32), sequence (u64).
pub const TAG_LEN: usize = 16;
/// UDP destination port of generated packets (discard).
pub const UDP_DST_PORT: u16 = 9;
/// Label TTL and IP TTL of generated packets.
pub const GEN_TTL: u8 = 64;
/// The simple IMIX mix: 7 × 64 B, 4 × 576 B, 1 × 1500 B frames.
pub const IMIX: [u16; 12] = [64, 64, 576, 64, 64, 576, 64, 1500, 64, 576, 64, 576];

/// Addresses of one family as an inclusive integer range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// IPv4.
    V4(u32, u32),
    /// IPv6.
    V6(u128, u128),
}

impl Range {
    fn pick(&self, k: u128) -> u128 {
        match *self {
            Range::V4(a, b) => u128::from(a) + k % (u128::from(b - a) + 1),
            Range::V6(a, b) => a + k % ((b - a).saturating_add(1).max(1)),
        }
    }
    fn size(&self) -> u128 {
        match *self {
            Range::V4(a, b) => u128::from(b - a) + 1,
            Range::V6(a, b) => (b - a).saturating_add(1).max(1),
        }
    }
}

/// Where a flow must leave the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    /// Port index.
    pub port: u16,
    /// VLAN, if tagged.
    pub vlan: Option<u16>,
    /// Label stack values, outermost first.
    pub labels: Vec<u32>,
}

/// A flow as the generator sees it.
#[derive(Clone, Debug)]
pub struct FlowSpec {
    /// Flow id (index in the profile's flow list).
    pub id: u32,
    /// Destination MAC of generated frames (the router port's MAC).
    pub dst_mac: [u8; 6],
    /// Source MAC of generated frames (a host behind the port).
    pub src_mac: [u8; 6],
    /// VLAN tag.
    pub vlan: Option<u16>,
    /// Labels, outermost first.
    pub labels: Vec<u32>,
    /// Source addresses.
    pub src: Range,
    /// Destination addresses.
    pub dst: Range,
    /// Frame sizes, cycled.
    pub sizes: Vec<u16>,
    /// Packets per second for this generator instance; `None` = as fast as possible.
    pub rate_pps: Option<u64>,
    /// Packet budget for this generator instance.
    pub count: Option<u64>,
    /// Sequence numbers used: `seq_base + n * seq_stride` (workers interleave).
    pub seq_base: u64,
    /// See `seq_base`.
    pub seq_stride: u64,
}

/// Per-flow and per-port counters of the mem backend on one worker (single writer).
pub struct MemStats {
    /// Per flow: packets generated.
    pub sent: Box<[AtomicU64]>,
    /// Per flow: packets that left where expected.
    pub delivered: Box<[AtomicU64]>,
    /// Per flow: packets that left anywhere else (leaks).
    pub misdelivered: Box<[AtomicU64]>,
    /// Per port: frames the sink could not attribute to a flow.
    pub foreign: Box<[AtomicU64]>,
}

impl MemStats {
    /// Counters for `flows` flows and `ports` ports.
    pub fn new(flows: usize, ports: usize) -> Self {
        let z = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        MemStats {
            sent: z(flows),
            delivered: z(flows),
            misdelivered: z(flows),
            foreign: z(ports),
        }
    }
}

/// Reads a counter array entry.
pub fn load(a: &[AtomicU64], i: usize) -> u64 {
    a.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
}

struct GenFlow {
    spec: FlowSpec,
    /// Full-size template frame (largest size); shorter packets use its prefix.
    template: Vec<u8>,
    l3_off: usize,
    v6: bool,
    generated: u64,
}

/// One worker's queue on a `mem` port.
pub struct MemPort {
    port: u16,
    flows: Vec<GenFlow>,
    next_flow: usize,
    started: Option<Instant>,
    expect: Arc<Vec<Option<Egress>>>,
    stats: Arc<MemStats>,
}

impl MemPort {
    /// A queue on port `port` generating `flows` and checking sent packets against
    /// `expect` (indexed by flow id; `None` = the flow must be dropped).
    pub fn new(
        port: u16,
        flows: Vec<FlowSpec>,
        expect: Arc<Vec<Option<Egress>>>,
        stats: Arc<MemStats>,
    ) -> Self {
        let flows = flows
            .into_iter()
            .map(|spec| {
                let (template, l3_off, v6) = build_template(&spec);
                GenFlow {
                    spec,
                    template,
                    l3_off,
                    v6,
                    generated: 0,
                }
            })
            .collect();
        MemPort {
            port,
            flows,
            next_flow: 0,
            started: None,
            expect,
            stats,
        }
    }

    fn allowance(f: &GenFlow, elapsed_ns: u128) -> u64 {
        let by_count = f
            .spec
            .count
            .map_or(u64::MAX, |c| c.saturating_sub(f.generated));
        let by_rate = match f.spec.rate_pps {
            None => u64::MAX,
            Some(r) => {
                let due = (u128::from(r) * elapsed_ns / 1_000_000_000) as u64;
                // Allow at most one burst of catch-up so a stalled worker does not spike.
                due.saturating_sub(f.generated).min(super::BURST as u64)
            }
        };
        by_count.min(by_rate)
    }

    /// Checks one transmitted packet against its flow's expected egress.
    fn sink(&self, frame: &[u8]) {
        let Some((flow, egress)) = parse_tagged(frame) else {
            if let Some(c) = self.stats.foreign.get(usize::from(self.port)) {
                bump(c, 1);
            }
            return;
        };
        let f = flow as usize;
        let ok = match self.expect.get(f) {
            Some(Some(e)) => {
                e.port == self.port && e.vlan == egress.vlan && e.labels == egress.labels
            }
            Some(None) => false,
            None => {
                if let Some(c) = self.stats.foreign.get(usize::from(self.port)) {
                    bump(c, 1);
                }
                return;
            }
        };
        let arr = if ok {
            &self.stats.delivered
        } else {
            &self.stats.misdelivered
        };
        bump(&arr[f], 1);
    }
}

impl PortQueue<HeapBuf, HeapPool> for MemPort {
    fn rx_burst(&mut self, pool: &mut HeapPool, out: &mut Vec<HeapBuf>, max: usize) -> usize {
        if self.flows.is_empty() {
            return 0;
        }
        let now = Instant::now();
        let elapsed = now
            .duration_since(*self.started.get_or_insert(now))
            .as_nanos();
        let mut produced = 0;
        let mut idle_rounds = 0;
        while produced < max && idle_rounds < self.flows.len() {
            let i = self.next_flow;
            self.next_flow = (self.next_flow + 1) % self.flows.len();
            let f = &mut self.flows[i];
            if Self::allowance(f, elapsed) == 0 {
                idle_rounds += 1;
                continue;
            }
            idle_rounds = 0;
            let Some(mut buf) = pool.alloc() else { break };
            write_packet(f, &mut buf);
            f.generated += 1;
            bump(&self.stats.sent[f.spec.id as usize], 1);
            out.push(buf);
            produced += 1;
        }
        produced
    }

    fn tx_burst(&mut self, pool: &mut HeapPool, pkts: &mut Vec<HeapBuf>) -> usize {
        for b in pkts.drain(..) {
            self.sink(b.data());
            pool.free(b);
        }
        0
    }

    fn rx_finished(&self) -> bool {
        self.flows
            .iter()
            .all(|f| f.spec.count.is_some_and(|c| f.generated >= c))
    }
}

fn build_template(s: &FlowSpec) -> (Vec<u8>, usize, bool) {
    let max = usize::from(s.sizes.iter().copied().max().unwrap_or(64));
    let mut t = Vec::with_capacity(max);
    t.extend_from_slice(&s.dst_mac);
    t.extend_from_slice(&s.src_mac);
    if let Some(v) = s.vlan {
        t.extend_from_slice(&0x8100u16.to_be_bytes());
        t.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    let v6 = matches!(s.src, Range::V6(..));
    let l3_type: u16 = if !s.labels.is_empty() {
        0x8847
    } else if v6 {
        0x86dd
    } else {
        0x0800
    };
    t.extend_from_slice(&l3_type.to_be_bytes());
    for (i, l) in s.labels.iter().enumerate() {
        let bos = u32::from(i + 1 == s.labels.len());
        let word = (l << 12) | (bos << 8) | u32::from(GEN_TTL);
        t.extend_from_slice(&word.to_be_bytes());
    }
    let l3_off = t.len();
    if v6 {
        t.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 17, GEN_TTL]);
        t.extend_from_slice(&[0; 32]);
    } else {
        t.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, GEN_TTL, 17, 0, 0]);
        t.extend_from_slice(&[0; 8]);
    }
    let sport = 49152 + (s.id % 16384) as u16;
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&UDP_DST_PORT.to_be_bytes());
    t.extend_from_slice(&[0; 4]);
    t.extend_from_slice(&TAG_MAGIC);
    t.extend_from_slice(&s.id.to_be_bytes());
    t.extend_from_slice(&[0; 8]);
    if t.len() < max {
        t.resize(max, 0);
    }
    (t, l3_off, v6)
}

fn write_packet(f: &GenFlow, buf: &mut HeapBuf) {
    let s = &f.spec;
    let size =
        usize::from(s.sizes[(f.generated % s.sizes.len() as u64) as usize]).max(f.l3_off + 64);
    let size = size.min(f.template.len());
    let seq = s.seq_base + f.generated * s.seq_stride;
    let k = u128::from(seq / s.seq_stride.max(1));
    let dst = s.dst.pick(k);
    let src = s.src.pick(k / s.dst.size());
    let Some(p) = buf.set_len(size) else { return };
    p.copy_from_slice(&f.template[..size]);
    let ip = &mut p[f.l3_off..];
    let l4 = if f.v6 { 40 } else { 20 };
    let ip_len = ip.len();
    let udp_len = (ip_len - l4) as u16;
    {
        let udp = &mut ip[l4..];
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[8 + 8..8 + 16].copy_from_slice(&seq.to_be_bytes());
    }
    // The frame beyond the tag is zero padding, so the UDP checksum only needs the
    // pseudo-header, the UDP header and the tag.
    let covered = 8 + TAG_LEN;
    if f.v6 {
        ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
        ip[8..24].copy_from_slice(&src.to_be_bytes());
        ip[24..40].copy_from_slice(&dst.to_be_bytes());
        let ph = checksum::pseudo_header_v6(
            &std::net::Ipv6Addr::from(src),
            &std::net::Ipv6Addr::from(dst),
            wire::IpProtocol::Udp,
            u32::from(udp_len),
        );
        let c = !checksum::combine(&[ph, checksum::data(&ip[40..40 + covered])]);
        let c = if c == 0 { 0xffff } else { c };
        ip[40 + 6..40 + 8].copy_from_slice(&c.to_be_bytes());
    } else {
        let (s4, d4) = (src as u32, dst as u32);
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[12..16].copy_from_slice(&s4.to_be_bytes());
        ip[16..20].copy_from_slice(&d4.to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let hc = !checksum::data(&ip[..20]);
        ip[10..12].copy_from_slice(&hc.to_be_bytes());
        let ph = checksum::pseudo_header_v4(
            &std::net::Ipv4Addr::from(s4),
            &std::net::Ipv4Addr::from(d4),
            wire::IpProtocol::Udp,
            u32::from(udp_len),
        );
        let c = !checksum::combine(&[ph, checksum::data(&ip[20..20 + covered])]);
        let c = if c == 0 { 0xffff } else { c };
        ip[20 + 6..20 + 8].copy_from_slice(&c.to_be_bytes());
    }
}

/// Finds the flow tag in a frame and reports where the frame was (VLAN, labels).
/// Returns `None` for anything that is not a well-formed tagged generator packet.
pub fn parse_tagged(frame: &[u8]) -> Option<(u32, Egress)> {
    let be16 = |o: usize| -> Option<u16> {
        Some(u16::from_be_bytes(frame.get(o..o + 2)?.try_into().ok()?))
    };
    let mut off = 12;
    let mut et = be16(off)?;
    off += 2;
    let mut vlan = None;
    if et == 0x8100 {
        vlan = Some(be16(off)? & 0x0fff);
        et = be16(off + 2)?;
        off += 4;
    }
    let mut labels = Vec::new();
    let mut v6 = et == 0x86dd;
    if et == 0x8847 {
        loop {
            let w = u32::from_be_bytes(frame.get(off..off + 4)?.try_into().ok()?);
            off += 4;
            labels.push(w >> 12);
            if w & 0x100 != 0 {
                break;
            }
            if labels.len() > 16 {
                return None;
            }
        }
        v6 = frame.get(off)? >> 4 == 6;
    } else if et != 0x0800 && et != 0x86dd {
        return None;
    }
    let l4 = if v6 {
        if *frame.get(off + 6)? != 17 {
            return None;
        }
        off + 40
    } else {
        let b = *frame.get(off)?;
        if b >> 4 != 4 || *frame.get(off + 9)? != 17 {
            return None;
        }
        off + usize::from(b & 0x0f) * 4
    };
    let tag = frame.get(l4 + 8..l4 + 8 + TAG_LEN)?;
    if tag[..4] != TAG_MAGIC {
        return None;
    }
    let flow = u32::from_be_bytes(tag[4..8].try_into().ok()?);
    Some((
        flow,
        Egress {
            port: 0,
            vlan,
            labels,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::{Ipv4Packet, UdpPacket};

    fn spec(labels: Vec<u32>, vlan: Option<u16>) -> FlowSpec {
        FlowSpec {
            id: 3,
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            vlan,
            labels,
            src: Range::V4(0x0a01_0001, 0x0a01_0001),
            dst: Range::V4(0x0a02_0001, 0x0a02_0004),
            sizes: vec![64],
            rate_pps: None,
            count: Some(10),
            seq_base: 0,
            seq_stride: 1,
        }
    }

    #[test]
    fn generated_ipv4_is_valid_and_tagged() {
        let stats = Arc::new(MemStats::new(4, 1));
        let mut q = MemPort::new(
            0,
            vec![spec(vec![], Some(7))],
            Arc::new(vec![None; 4]),
            stats.clone(),
        );
        let mut pool = HeapPool::new(0, 64);
        let mut out = Vec::new();
        assert_eq!(
            q.rx_burst(&mut pool, &mut out, 32),
            10,
            "count limits the flow"
        );
        assert!(q.rx_finished());
        let dsts: Vec<_> = out
            .iter()
            .map(|b| {
                let ip = Ipv4Packet::new_checked(&b.data()[18..]).unwrap();
                assert!(ip.verify_checksum());
                let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                assert!(udp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()));
                let (flow, eg) = parse_tagged(b.data()).unwrap();
                assert_eq!((flow, eg.vlan), (3, Some(7)));
                ip.dst_addr()
            })
            .collect();
        assert_eq!(dsts[0].octets(), [10, 2, 0, 1]);
        assert_eq!(
            dsts[4].octets(),
            [10, 2, 0, 1],
            "destinations cycle through the range"
        );
        assert_eq!(load(&stats.sent, 3), 10);
    }

    #[test]
    fn sink_counts_delivered_and_misdelivered() {
        let stats = Arc::new(MemStats::new(4, 2));
        let exp = Arc::new(vec![
            None,
            None,
            None,
            Some(Egress {
                port: 1,
                vlan: None,
                labels: vec![1001],
            }),
        ]);
        let mut gen = MemPort::new(0, vec![spec(vec![1001], None)], exp.clone(), stats.clone());
        let mut pool = HeapPool::new(0, 64);
        let mut out = Vec::new();
        gen.rx_burst(&mut pool, &mut out, 4);
        let mut right = MemPort::new(1, vec![], exp.clone(), stats.clone());
        let mut wrong = MemPort::new(0, vec![], exp, stats.clone());
        let mut two: Vec<_> = out.drain(..2).collect();
        right.tx_burst(&mut pool, &mut two);
        wrong.tx_burst(&mut pool, &mut out);
        assert_eq!(load(&stats.delivered, 3), 2);
        assert_eq!(load(&stats.misdelivered, 3), 2);
        let mut junk = vec![HeapBuf::from_slice(&[0u8; 60]).unwrap()];
        right.tx_burst(&mut pool, &mut junk);
        assert_eq!(load(&stats.foreign, 1), 1);
        assert_eq!(pool.outstanding(), 0, "the sink returns every buffer");
    }

    #[test]
    fn rate_limits_generation() {
        let stats = Arc::new(MemStats::new(4, 1));
        let mut s = spec(vec![], None);
        s.count = None;
        s.rate_pps = Some(1);
        let mut q = MemPort::new(0, vec![s], Arc::new(vec![None; 4]), stats);
        let mut pool = HeapPool::new(0, 64);
        let mut out = Vec::new();
        // At t=0 nothing is due yet; a 1 pps flow cannot produce a burst immediately.
        assert_eq!(q.rx_burst(&mut pool, &mut out, 32), 0);
        assert!(!q.rx_finished());
    }
}
