//! Label matrix lookup cost: a burst of 32 labels against a matrix with 10 000 bindings
//! spread over one range (the edge-router case) and against one with 200 000 bindings
//! spread over the whole label space (many chunks, cache misses).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use labelswitch::{Label, LabelMatrix, LabelMatrixBuilder, LabelOp};

/// xorshift32, so the bench needs no RNG crate.
fn next(state: &mut u32) -> u32 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    x
}

fn matrix(count: u32, stride: u32) -> (LabelMatrix, Vec<Label>) {
    let mut b = LabelMatrixBuilder::new();
    let mut labels = Vec::new();
    for i in 0..count {
        let l = Label::new(16 + i * stride).unwrap();
        b.insert(l, LabelOp::PopToVr { vr: i }).unwrap();
        labels.push(l);
    }
    (b.build(), labels)
}

fn bench(c: &mut Criterion) {
    for (name, count, stride) in [("10k_dense", 10_000, 1), ("200k_sparse", 200_000, 5)] {
        let (m, labels) = matrix(count, stride);
        let mut seed = 0x1234_5678;
        let probes: Vec<Label> = (0..4096)
            .map(|_| labels[next(&mut seed) as usize % labels.len()])
            .collect();
        let mut g = c.benchmark_group("label_matrix");
        g.throughput(Throughput::Elements(32));
        let mut at = 0;
        g.bench_function(format!("lookup_burst32_{name}"), |b| {
            b.iter(|| {
                let burst = &probes[at..at + 32];
                at = (at + 32) % probes.len();
                let mut hits = 0u32;
                for l in burst {
                    if let Some(LabelOp::PopToVr { vr }) = m.lookup(black_box(*l)) {
                        hits = hits.wrapping_add(vr);
                    }
                }
                black_box(hits)
            })
        });
        g.finish();
        println!("{name}: matrix memory {} bytes", m.memory_bytes());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
