//! L2TP data path cost per packet on one core: LNS decapsulation + route (subscriber →
//! network) and route + encapsulation (network → subscriber), through the real pipeline
//! (`pipeline::forward`), beside plain routing of the same inner packet. Each iteration
//! restores the input bytes into a buffer (a 60–110 byte copy, about 4 ns, included).
//!
//! * `l2tp`: the golden test's state (2 sessions) and packets: every table access hits L1.
//! * `l2tp_100k`: 100,000 sessions over 100 tunnels in 10 ISP VRs, 2,000 network prefixes
//!   and a default route per VR (`tests/common/l2tp_lns_scaled.rs`); each iteration takes
//!   the next of 4096 packets over random sessions and network destinations. Before
//!   measuring, every packet is checked to take its path and the session counters to
//!   advance.
//!
//! Baselines: `plain_route_baseline` is the decapsulated packet routed without L2TP (the
//! baseline of `decap_route`); `l2tp/plain_route_to_subscriber` is the packet `route_encap`
//! encapsulates, routed by the same /32 to a plain Ethernet next hop (the baseline of
//! `route_encap`: a /32 lookup costs more than the decapsulated packet's /16).
//!
//! `cargo bench -p dataplane --bench l2tp_datapath`; cycles = ns × TSC GHz (the bench
//! prints the TSC rate, measured with `rdtsc` over a 200 ms sleep).
//!
//! One run (criterion medians; 2-vCPU KVM guest, Intel Xeon (Sapphire Rapids class),
//! TSC 2.300 GHz, L2 2 MiB/core, the other vCPU idle during the run):
//!
//! | case | `l2tp` (2 sessions) | `l2tp_100k` |
//! |---|---|---|
//! | decap_route | 97.9 ns, 225 cycles | 239.5 ns, 551 cycles |
//! | route_encap | 91.1 ns, 210 cycles | 195.8 ns, 450 cycles |
//! | plain_route_baseline | 48.7 ns, 112 cycles | 69.0 ns, 159 cycles |
//!
//! Over three runs the 2-session numbers stayed within 98–116 / 76–91 / 45–49 ns; the 100k
//! ones vary more on this shared host (decap 222–315, encap 156–198, plain 67–83 ns). The 100k
//! state builds in ~0.14 s and takes 10.05 MiB (session table 4.23 MiB, next hops
//! 4.62 MiB, FIBs 1.13 MiB), plus 6.10 MiB of session counters (2 workers × 100k slots).
//!
//! Those are the figures before issue 12's L2TP work (one FIB lookup on decap, one next-hop
//! fetch, the L2TP header read in line, no copy of the encapsulation): the before/after of
//! that work, with the ratios to plain routing, is in docs/performance.md.
//!
//! Where the 100k time goes (a throwaway probe on the same state; no hardware counters in
//! this guest, `perf stat` reports instructions and cycles as not supported): the cost
//! follows the number of *distinct* sessions the packets touch, not the table size. With
//! every packet in one session of the 100k state, decap/encap/plain take 94/68/41 ns
//! (about the 2-session figures); over 256, 4096, 16k and 100k distinct sessions decap takes
//! 121/150/195/230 ns and encap 97/114/158/266 ns, while plain stays at 45 ns (65 ns with
//! 64k packets, when the packets themselves leave L2). Each session's packet touches its
//! own lines in several structures (session-table shard, subscriber /32 in the FIB, next
//! hop, counter line) in a dependent chain, so spread turns L1 hits into L2/L3 misses and,
//! likely, dTLB misses (4 KiB pages, tables made of many small allocations); without
//! hardware counters the two could not be told apart. The random network
//! destinations of the benchmark add ~20 ns to every case (plain: 45 → 69 ns).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::buffer::HeapBuf;
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use std::hint::black_box;
use vr::PortId;

#[path = "../tests/common/l2tp_lns.rs"]
mod l2tp_lns;
use l2tp_lns::R;

#[path = "../tests/common/l2tp_lns_scaled.rs"]
mod scaled;

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
    // The baseline of `route_encap`: the same packet (network → the subscriber's address)
    // routed by the same /32 to a plain Ethernet next hop instead of the session. Its
    // lookup goes as deep as the encapsulation's (a /32 costs more than the /16 of the
    // decapsulated packet), so the difference is what the encapsulation adds.
    let plain_st = {
        let mut w = l2tp_lns::writer();
        let lac = vr::NextHop::Forward {
            port: PortId(1),
            vlan: None,
            src_mac: R,
            dst_mac: l2tp_lns::LAC,
            push: vr::LabelPush::EMPTY,
        };
        let sub = "10.8.0.5/32".parse().unwrap();
        w.set_route(vr::VrId(1), sub, vr::RouteSource::Static, lac)
            .unwrap();
        w.commit().unwrap()
    };
    buf.set(encap);
    let v = forward(&plain_st, &ports, PortId(0), &mut buf, &cnt);
    assert_eq!(v, Verdict::Tx(PortId(1)), "plain route to the subscriber");
    g.bench_function("plain_route_to_subscriber", |bn| {
        bn.iter(|| {
            buf.set(encap);
            black_box(forward(&plain_st, &ports, PortId(0), &mut buf, &cnt))
        })
    });
    g.finish();
}

/// Packets per case in the `l2tp_100k` group (each iteration takes the next one).
const SPREAD: usize = 4096;

/// TSC ticks per nanosecond, measured over a 200 ms sleep (x86_64 only). `rdtsc` has no
/// safe wrapper in `std`; reading a counter is the only effect.
#[allow(unsafe_code)]
fn tsc_ghz() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        let t0 = unsafe { std::arch::x86_64::_rdtsc() };
        let w0 = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(200));
        // SAFETY: as above.
        let t1 = unsafe { std::arch::x86_64::_rdtsc() };
        Some((t1 - t0) as f64 / w0.elapsed().as_nanos() as f64)
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

fn mib(b: usize) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

fn bench_100k(c: &mut Criterion) {
    let sc = scaled::state_scaled(100_000, 100);
    let st = &sc.state;
    let fibs: usize = st.vrs().map(|v| v.memory_bytes()).sum();
    eprintln!(
        "l2tp_100k state: {} sessions over 100 tunnels in {} VRs, {} network prefixes per VR; \
         built in {:.2?}",
        st.sessions.len(),
        st.vr_count(),
        scaled::NET_PREFIXES,
        sc.build_time
    );
    eprintln!(
        "  memory: forwarding state {} (session table {}, next hops {}, FIBs {}); \
         session counters {} ({} slots, 2 workers)",
        mib(st.memory_bytes()),
        mib(st.sessions.memory_bytes()),
        mib(st.next_hops.memory_bytes()),
        mib(fibs),
        mib(st.session_counters.memory_bytes()),
        st.session_counters.slots()
    );
    let small = l2tp_lns::state();
    eprintln!(
        "  small state for comparison: forwarding state {} bytes, session counters {} bytes",
        small.memory_bytes(),
        small.session_counters.memory_bytes()
    );
    match tsc_ghz() {
        Some(g) => eprintln!("  TSC: {g:.3} GHz (rdtsc over a 200 ms sleep)"),
        None => eprintln!("  TSC: not measured on this architecture"),
    }
    if let Some(mhz) = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| l.starts_with("cpu MHz"))
            .map(str::to_owned)
    }) {
        eprintln!("  /proc/cpuinfo: {mhz}");
    }
    let w = scaled::workload(&sc, SPREAD, 0x100_000);
    // Each case must take the path it claims, and the session counters must advance.
    scaled::check(&sc, &w);
    let ports = [PortInfo { mac: R, mtu: 1500 }; 2];
    let cnt = WorkerCounters::new(0, 2);
    let mut buf = HeapBuf::new();
    let mut g = c.benchmark_group("l2tp_100k");
    g.throughput(Throughput::Elements(1));
    for (name, pkts, port) in [
        ("decap_route", &w.decap, scaled::LAC_PORT),
        ("route_encap", &w.encap, scaled::NET_PORT),
        // The inner packets of `decap_route` without L2TP: the cost L2TP adds at scale.
        ("plain_route_baseline", &w.plain, scaled::LAC_PORT),
    ] {
        g.bench_function(name, |bn| {
            let mut k = 0;
            bn.iter(|| {
                buf.set(&pkts[k % SPREAD]);
                k += 1;
                black_box(forward(st, &ports, port, &mut buf, &cnt))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench, bench_100k
}
criterion_main!(benches);
