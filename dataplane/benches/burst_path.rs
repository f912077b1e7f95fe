//! The burst path (`pipeline::vector::BurstPath`, what the worker runs) against the
//! per-packet pipeline (`pipeline::forward` on each packet of the burst, what the worker ran
//! before, without its prefetch stage) on the same bursts, in the same process: IPv4
//! routing in one VR whose FIB holds `ROUTES` random /16../24 prefixes over 16 next hops,
//! 64-byte frames to random covered destinations, bursts of 32.
//!
//! Each iteration restores the 32 input frames (a 60-byte copy each, the same in both
//! cases) and runs one burst, so the figures are per burst; divide by 32 for a packet.
//! Before measuring, both paths are checked to give every packet the same verdict.
//!
//! `cargo bench -p dataplane --bench burst_path`. The DPDK comparison with `dpdk-testpmd` in
//! the same run is `scripts/bench/pipeline-vs-testpmd`; this bench isolates the pipeline's
//! own work from the port backend and needs no DPDK.
//!
//! Three runs on 2026-12-05 (2-vCPU AMD EPYC KVM guest, TSC 2.596 GHz, load average 1.2–1.7,
//! criterion medians per burst of 32):
//!
//! | run | per-packet `forward` | burst path | ratio |
//! |---|---|---|---|
//! | 1 | 1.978 µs | 1.159 µs | 1.71× |
//! | 2 | 1.963 µs | 1.202 µs | 1.63× |
//! | 3 | 2.702 µs (a noisy run) | 1.292 µs | 2.09× |
//!
//! Median: 61.8 ns (160 cycles) against 37.6 ns (98 cycles) per packet, the 60-byte restore
//! copy included in both. The old worker also ran a prefetch stage (every lookup of the
//! burst back to back, answers discarded) before `forward`; this bench does not reproduce
//! it, so it measures the burst path against plain per-packet processing, not against the
//! old worker as a whole.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dataplane::buffer::HeapBuf;
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::vector::BurstPath;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use dataplane::port::BURST;
use std::hint::black_box;
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, LabelPush, NextHop, PortId, RouteSource,
    StateWriter, VirtualRouter, VpnId, VrId,
};

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 1];
const TRUNK: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// Prefixes in the VR's FIB (a mid-size table: big enough that lookups leave L1).
const ROUTES: usize = 200_000;
/// Distinct bursts cycled through (random destinations each).
const BURSTS: usize = 256;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// VR 1 on port 0 with `ROUTES` prefixes out of port 1; returns the state and the
/// prefixes' first addresses (the destinations the frames use).
fn state(rng: &mut Rng) -> (ForwardingState, Vec<u32>) {
    let mut w = StateWriter::new(vec![ACCESS, TRUNK], 1);
    w.add_vr(VirtualRouter::new(
        VrId(1),
        "A",
        VpnId::new(1, 1).unwrap(),
        "t",
    ))
    .unwrap();
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
        .unwrap();
    let mut dsts = Vec::with_capacity(ROUTES);
    for i in 0..ROUTES {
        let len = 16 + (rng.next() % 9) as u8;
        // Unicast, not 0/8, 127/8 or 224/3.
        let a = ((rng.next() as u32) % 0xdf00_0000 + 0x0100_0000) & (!0u32 << (32 - len));
        if a >> 24 == 127 {
            continue;
        }
        let p: IpPrefix = format!("{}/{len}", std::net::Ipv4Addr::from(a))
            .parse()
            .unwrap();
        let nh = NextHop::Forward {
            port: PortId(1),
            vlan: None,
            src_mac: TRUNK,
            dst_mac: [2, 0, 0, 0, 0xee, (i % 16) as u8],
            push: LabelPush::EMPTY,
        };
        w.set_route(VrId(1), p, RouteSource::Static, nh).unwrap();
        dsts.push(a | 1);
    }
    (w.commit().unwrap(), dsts)
}

fn frame(dst: u32) -> Vec<u8> {
    let mut f = ACCESS.to_vec();
    f.extend([2, 0, 0, 0, 0, 0x77, 0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 1, 0, 1];
    ip.extend(dst.to_be_bytes());
    let sum = !wire::checksum::data(&ip[..20]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend(ip);
    f.extend([0x04, 0x00, 0x00, 0x35, 0, 26, 0, 0]);
    f.resize(60, 0);
    f
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = std::time::Instant::now();
    let (st, dsts) = state(&mut rng);
    eprintln!(
        "burst_path: {} routes in VR 1, built in {:.2} s",
        dsts.len(),
        t.elapsed().as_secs_f64()
    );
    let ports = [
        PortInfo {
            mac: ACCESS,
            mtu: 1500,
        },
        PortInfo {
            mac: TRUNK,
            mtu: 1500,
        },
    ];
    let bursts: Vec<Vec<Vec<u8>>> = (0..BURSTS)
        .map(|_| {
            (0..BURST)
                .map(|_| frame(dsts[(rng.next() % dsts.len() as u64) as usize]))
                .collect()
        })
        .collect();
    let counters = WorkerCounters::new(0, 2);
    let mut path = BurstPath::new();
    let load = |b: &[Vec<u8>], bufs: &mut Vec<HeapBuf>| {
        for (buf, f) in bufs.iter_mut().zip(b) {
            assert!(buf.set(f));
        }
    };
    let mut bufs: Vec<HeapBuf> = (0..BURST).map(|_| HeapBuf::new()).collect();

    // Both paths give every packet the same verdict (forwarded out of port 1).
    for b in &bursts {
        load(b, &mut bufs);
        let per: Vec<Verdict> = bufs
            .iter_mut()
            .map(|x| forward(&st, &ports, PortId(0), x, &counters))
            .collect();
        load(b, &mut bufs);
        let vec = path.run(&st, &ports, PortId(0), &mut bufs, &counters);
        assert_eq!(per.as_slice(), vec);
        assert!(
            per.iter().all(|v| matches!(v, Verdict::Tx(PortId(1)))),
            "{per:?}"
        );
    }

    let mut g = c.benchmark_group("burst_ipv4_route");
    g.throughput(Throughput::Elements(BURST as u64));
    let mut i = 0usize;
    g.bench_function("per_packet_forward", |bch| {
        bch.iter_batched_ref(
            || {
                i = (i + 1) % BURSTS;
                i
            },
            |k| {
                load(&bursts[*k], &mut bufs);
                for b in bufs.iter_mut() {
                    black_box(forward(&st, &ports, PortId(0), b, &counters));
                }
            },
            BatchSize::SmallInput,
        )
    });
    let mut i = 0usize;
    g.bench_function("burst_path", |bch| {
        bch.iter_batched_ref(
            || {
                i = (i + 1) % BURSTS;
                i
            },
            |k| {
                load(&bursts[*k], &mut bufs);
                black_box(path.run(&st, &ports, PortId(0), &mut bufs, &counters));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
