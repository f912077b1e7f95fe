//! Criterion micro-benchmarks of the poptrie FIB on generated full-shape tables: single and
//! bulk (64) lookups, IPv4 and IPv6, and an incremental commit of 1,000 changes.
//! `varouter bench fib` is the tool for real tables and the DPDK comparison.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use vr::fib::gen;
use vr::fib::poptrie::{Trie4, Trie6};
use vr::fib::update::{FibWriter, RouteChange};
use vr::fib::Lpm;
use vr::NextHopId;

fn lookups(c: &mut Criterion) {
    let r4 = gen::routes_v4(900_000, 1);
    let t4 = Trie4::build(&r4);
    let a4 = gen::addrs_in_routes(&r4, 1 << 16, 2);
    let r6 = gen::routes_v6(160_000, 1);
    let t6 = Trie6::build(&r6);
    let a6 = gen::addrs_in_routes(&r6, 1 << 16, 2);
    let mut g = c.benchmark_group("fib_lookup");
    g.throughput(Throughput::Elements(a4.len() as u64));
    g.bench_function(BenchmarkId::new("v4_single", "900k"), |b| {
        b.iter(|| {
            a4.iter().fold(0u32, |acc, a| {
                acc ^ t4.lookup(black_box(*a)).map_or(0, |n| n.0)
            })
        })
    });
    g.bench_function(BenchmarkId::new("v4_bulk64", "900k"), |b| {
        let mut out = [None; 64];
        b.iter(|| {
            for chunk in a4.chunks(64) {
                t4.lookup_bulk(black_box(chunk), &mut out);
            }
            out[0]
        })
    });
    g.bench_function(BenchmarkId::new("v6_single", "160k"), |b| {
        b.iter(|| {
            a6.iter().fold(0u32, |acc, a| {
                acc ^ t6.lookup(black_box(*a)).map_or(0, |n| n.0)
            })
        })
    });
    g.bench_function(BenchmarkId::new("v6_bulk64", "160k"), |b| {
        let mut out = [None; 64];
        b.iter(|| {
            for chunk in a6.chunks(64) {
                t6.lookup_bulk(black_box(chunk), &mut out);
            }
            out[0]
        })
    });
    g.finish();
}

fn updates(c: &mut Criterion) {
    let r4 = gen::routes_v4(100_000, 1);
    let mut w = FibWriter::new(&r4);
    let mut i = 0u32;
    let mut g = c.benchmark_group("fib_update");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("v4_100k_commit_1000_changes", |b| {
        b.iter(|| {
            let batch: Vec<_> = (0..1000)
                .map(|k| {
                    i = i.wrapping_add(1);
                    RouteChange::Set(
                        r4[(i as usize * 7919 + k) % r4.len()].0,
                        NextHopId(i % 5000),
                    )
                })
                .collect();
            w.apply(&batch);
            w.commit()
        })
    });
    g.finish();
}

criterion_group!(benches, lookups, updates);
criterion_main!(benches);
