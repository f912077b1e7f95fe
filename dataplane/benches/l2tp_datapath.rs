//! L2TP data path cost per packet on one core: LNS decapsulation + route (subscriber →
//! network) and route + encapsulation (network → subscriber), through the real pipeline
//! (`pipeline::forward`) with the packets of the golden test. Each iteration restores the
//! input bytes into a buffer (a 14–100 byte copy, included in the time).
//!
//! `cargo bench -p dataplane --bench l2tp_datapath`; cycles = ns × CPU GHz.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::buffer::HeapBuf;
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use std::hint::black_box;
use vr::PortId;

#[path = "../tests/common/l2tp_lns.rs"]
mod l2tp_lns;
use l2tp_lns::R;

fn bench(c: &mut Criterion) {
    let st = l2tp_lns::state();
    let ports = [
        PortInfo { mac: R, mtu: 1500 },
        PortInfo { mac: R, mtu: 1500 },
    ];
    let cnt = WorkerCounters::new(0, 2);
    let input = dataplane::port::pcap::read_capture(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_l2tp/in.pcap"),
    )
    .unwrap();
    let (decap, encap) = (&input[0], &input[1]);
    let mut g = c.benchmark_group("l2tp");
    g.throughput(Throughput::Elements(1));
    let mut buf = HeapBuf::new();
    let ppp_at = 14 + 20 + 8 + 6;
    let (_, ppp_len) = wire::ppp::parse(&decap[ppp_at..]).unwrap();
    let mut inner: Vec<u8> = [&decap[..14], &decap[ppp_at + ppp_len..]].concat();
    inner[12] = 0x08;
    inner[13] = 0x00;
    // Each case must take the path it claims to measure.
    for (pkt, port, want) in [(decap, 1, 0), (encap, 0, 1), (&inner, 1, 0)] {
        buf.set(pkt);
        let v = forward(&st, &ports, PortId(port), &mut buf, &cnt);
        assert_eq!(
            v,
            Verdict::Tx(PortId(want)),
            "case on port {port}, {} bytes",
            pkt.len()
        );
    }
    g.bench_function("decap_route", |bn| {
        bn.iter(|| {
            buf.set(decap);
            black_box(forward(&st, &ports, PortId(1), &mut buf, &cnt))
        })
    });
    g.bench_function("route_encap", |bn| {
        bn.iter(|| {
            buf.set(encap);
            black_box(forward(&st, &ports, PortId(0), &mut buf, &cnt))
        })
    });
    g.bench_function("plain_route_baseline", |bn| {
        // The inner packet of `decap` forwarded without L2TP: the cost L2TP adds.
        bn.iter(|| {
            buf.set(&inner);
            black_box(forward(&st, &ports, PortId(1), &mut buf, &cnt))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
