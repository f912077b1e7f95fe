//! `varouter bench fib`: builds the poptrie FIB from a route file and measures build time,
//! memory, single and bulk lookup cost, incremental update rate and exactness against the
//! straightforward hash-per-length LPM.
//!
//! Address order dominates the result: addresses sorted by value (as `dpdk-test-fib -u`
//! dumps them) keep any structure in cache; shuffle them to measure what random traffic
//! costs (`scripts/bench/fib-vs-dpdk` measures both).
//!
//! Cycles are derived from wall-clock nanoseconds and the CPU clock (`--cpu-mhz`, else the
//! first `cpu MHz` of `/proc/cpuinfo`; on this project's machines the TSC is invariant and
//! runs at that rate), because reading the TSC directly needs `unsafe`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use vr::fib::gen::{self, RandomBits, SplitMix64};
use vr::fib::poptrie::{Poptrie, TrieKey};
use vr::fib::prefix::{Addr, Prefix};
use vr::fib::simple::SimpleLpm;
use vr::fib::update::{FibWriter, RouteChange};
use vr::fib::Lpm;
use vr::ids::NextHopId;

/// Address family selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// IPv4
    V4,
    /// IPv6
    V6,
}

/// Options of `varouter bench fib`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Route file: one `prefix [nexthop]` per line (`#` comments; lines of the other family
    /// are skipped; a missing next hop becomes line number % 1000 + 1).
    #[arg(long)]
    pub routes: PathBuf,
    /// Lookup addresses, one per line (default: random addresses inside random routes).
    #[arg(long)]
    pub addrs: Option<PathBuf>,
    /// Number of timed lookups (the address list is cycled).
    #[arg(long, default_value_t = 20_000_000)]
    pub lookups: usize,
    /// Address family of the routes to load.
    #[arg(long, value_enum, default_value_t = Family::V4)]
    pub family: Family,
    /// Seed for generated addresses and route changes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Burst size of the bulk lookup (1..=64).
    #[arg(long, default_value_t = 64)]
    pub burst: usize,
    /// Incremental route changes to time (0 = skip).
    #[arg(long, default_value_t = 200_000)]
    pub updates: usize,
    /// Route changes per published version.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// Also build this many tiny VR tables (100 generated routes each) and report memory.
    #[arg(long, default_value_t = 0)]
    pub tiny_vrs: usize,
    /// Timed repetitions; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// CPU clock in MHz for the cycle figures (default: from /proc/cpuinfo).
    #[arg(long)]
    pub cpu_mhz: Option<f64>,
    /// Print one JSON line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<(), String> {
    if args.burst == 0 || args.burst > 64 {
        return Err(format!(
            "--burst {} is out of range; expected 1..=64",
            args.burst
        ));
    }
    let mhz = match args.cpu_mhz {
        Some(m) => m,
        None => cpu_mhz().ok_or("cannot read `cpu MHz` from /proc/cpuinfo; pass --cpu-mhz")?,
    };
    match args.family {
        Family::V4 => bench::<u32>(&args, mhz),
        Family::V6 => bench::<u128>(&args, mhz),
    }
}

fn cpu_mhz() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
}

/// Reads a route file of one family.
pub fn read_routes<A: Addr>(path: &Path) -> Result<Vec<(Prefix<A>, NextHopId)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut routes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let prefix = words.next().unwrap_or("");
        let (addr, len) = prefix.split_once('/').ok_or_else(|| {
            format!(
                "{}:{}: `{prefix}` is not a prefix; expected address/length",
                path.display(),
                i + 1
            )
        })?;
        // Lines of the other family are skipped (a full-table dump holds both).
        if addr.contains(':') != (A::BITS == 128) {
            continue;
        }
        let a = A::parse_addr(addr).ok_or_else(|| {
            format!(
                "{}:{}: `{addr}` is not an {} address",
                path.display(),
                i + 1,
                A::FAMILY
            )
        })?;
        let len: u8 = len.parse().map_err(|_| {
            format!(
                "{}:{}: `/{len}` is not a prefix length",
                path.display(),
                i + 1
            )
        })?;
        let p = Prefix::new_truncating(a, len)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let nh = match words.next() {
            Some(w) => w.parse::<u32>().map_err(|_| {
                format!(
                    "{}:{}: next hop `{w}` is not a number (0..4294967294)",
                    path.display(),
                    i + 1
                )
            })?,
            None => (i as u32 + 1) % 1000 + 1,
        };
        routes.push((p, NextHopId(nh)));
    }
    Ok(routes)
}

fn read_addrs<A: Addr>(path: &Path) -> Result<Vec<A>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            A::parse_addr(l.trim()).ok_or_else(|| {
                format!(
                    "{}:{}: `{}` is not an {} address",
                    path.display(),
                    i + 1,
                    l.trim(),
                    A::FAMILY
                )
            })
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench<A: TrieKey + RandomBits>(args: &Args, mhz: f64) -> Result<(), String> {
    let routes = read_routes::<A>(&args.routes)?;
    if routes.is_empty() {
        return Err(format!(
            "{}: no {} routes",
            args.routes.display(),
            A::FAMILY
        ));
    }
    let runs = args.runs.max(1);

    let mut build_times = Vec::new();
    let mut table = None;
    for _ in 0..runs.min(3) {
        let t0 = Instant::now();
        let t = Poptrie::<A>::build(&routes);
        build_times.push(t0.elapsed().as_secs_f64());
        table = Some(t);
    }
    let table = table.ok_or("no build")?;
    let build_seconds = median(build_times);

    let addrs: Vec<A> = match &args.addrs {
        Some(p) => read_addrs(p)?,
        None => gen::addrs_in_routes(&routes, args.lookups.clamp(1, 1 << 22), args.seed),
    };
    if addrs.is_empty() {
        return Err("no lookup addresses".into());
    }
    let lookups = args.lookups.max(addrs.len());
    let rounds = lookups.div_ceil(addrs.len());
    let lookups = rounds * addrs.len();

    let mut single = Vec::new();
    let mut bulk = Vec::new();
    let mut out = vec![None; args.burst];
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut acc = 0u32;
        for _ in 0..rounds {
            for a in &addrs {
                acc ^= table.lookup(black_box(*a)).map_or(0, |n| n.0);
            }
        }
        black_box(acc);
        single.push(t0.elapsed().as_nanos() as f64 / lookups as f64);

        let t0 = Instant::now();
        let mut acc = 0u32;
        for _ in 0..rounds {
            for chunk in addrs.chunks(args.burst) {
                table.lookup_bulk(black_box(chunk), &mut out);
                acc ^= out[0].map_or(0, |n| n.0);
            }
        }
        black_box(acc);
        bulk.push(t0.elapsed().as_nanos() as f64 / lookups as f64);
    }
    let ns_single = median(single);
    // On a shared machine interference only ever adds time: the minimum shows the
    // structure's own cost, the median what a busy neighbour leaves of it.
    let ns_bulk_min = bulk.iter().copied().fold(f64::INFINITY, f64::min);
    let ns_bulk = median(bulk);

    // Exactness on a sample, against the straightforward LPM.
    let reference = SimpleLpm::build(&routes);
    let sample = addrs.len().min(200_000);
    let mut rng = SplitMix64::new(args.seed ^ 0xC0FFEE);
    let mut mismatches = 0usize;
    let mut probe: Vec<A> = addrs[..sample].to_vec();
    probe.extend((0..sample / 4).map(|_| A::random_bits(&mut rng)));
    let mut bulk_out = vec![None; probe.len()];
    table.lookup_bulk(&probe, &mut bulk_out);
    for (a, b) in probe.iter().zip(&bulk_out) {
        let want = reference.lookup(*a);
        if table.lookup(*a) != want || *b != want {
            mismatches += 1;
        }
    }
    drop(reference);

    // Incremental updates: modify / delete / re-add existing routes and add new ones.
    let mut updates_per_second = 0.0;
    let mut update_mismatches = 0usize;
    if args.updates > 0 {
        let mut writer = FibWriter::new(&routes);
        let fresh = if A::BITS == 32 {
            gen::routes_v4(args.updates / 4 + 1, args.seed ^ 0xADD)
                .into_iter()
                .map(|(p, nh)| (convert::<A>(p.addr() as u128, p.len()), nh))
                .collect::<Vec<_>>()
        } else {
            gen::routes_v6(args.updates / 4 + 1, args.seed ^ 0xADD)
                .into_iter()
                .map(|(p, nh)| (convert::<A>(p.addr(), p.len()), nh))
                .collect::<Vec<_>>()
        };
        let mut changes = Vec::with_capacity(args.updates);
        for i in 0..args.updates {
            let (p, _) = routes[rng.below(routes.len() as u64) as usize];
            changes.push(match i % 4 {
                0 => RouteChange::Set(p, NextHopId(2000 + (i as u32 % 1000))),
                1 => RouteChange::Delete(p),
                2 => RouteChange::Set(p, NextHopId(3000)),
                _ => {
                    let (q, nh) = fresh[i / 4];
                    RouteChange::Set(q, nh)
                }
            });
        }
        let batch = args.batch.max(1);
        let t0 = Instant::now();
        for chunk in changes.chunks(batch) {
            writer.apply(chunk);
            writer.commit();
        }
        let secs = t0.elapsed().as_secs_f64();
        updates_per_second = args.updates as f64 / secs;
        // The incrementally updated table must equal a fresh build of the same RIB.
        let mut truth = routes.clone();
        for c in &changes {
            match c {
                RouteChange::Set(p, nh) => truth.push((*p, *nh)),
                RouteChange::Delete(p) => truth.push((*p, NextHopId(u32::MAX))),
            }
        }
        let fresh_build = Poptrie::<A>::build(&truth);
        let cur = writer.current();
        for a in probe.iter().take(100_000) {
            if cur.lookup(*a) != fresh_build.lookup(*a) {
                update_mismatches += 1;
            }
        }
    }

    let mut tiny = String::new();
    if args.tiny_vrs > 0 {
        let mut total = 0usize;
        let mut max = 0usize;
        for i in 0..args.tiny_vrs {
            let m = if A::BITS == 32 {
                Poptrie::<u32>::build(&gen::routes_v4(100, args.seed + i as u64)).memory_bytes()
            } else {
                Poptrie::<u128>::build(&gen::routes_v6(100, args.seed + i as u64)).memory_bytes()
            };
            total += m;
            max = max.max(m);
        }
        let _ = write!(
            tiny,
            ",\"tiny_vrs\":{},\"tiny_vr_avg_bytes\":{},\"tiny_vr_max_bytes\":{},\"tiny_vrs_plus_full_bytes\":{}",
            args.tiny_vrs,
            total / args.tiny_vrs,
            max,
            total + table.memory_bytes()
        );
    }

    let cyc = mhz / 1000.0;
    if args.json {
        println!(
            "{{\"family\":\"{}\",\"routes\":{},\"build_seconds\":{:.4},\"memory_bytes\":{},\"top_bits\":{},\"nodes\":{},\"heap_words\":{},\"lookups\":{},\"ns_per_lookup\":{:.3},\"cycles_per_lookup\":{:.2},\"bulk_ns_per_lookup\":{:.3},\"bulk_cycles_per_lookup\":{:.2},\"bulk_cycles_per_lookup_min\":{:.2},\"burst\":{},\"cpu_mhz\":{:.1},\"mismatches\":{},\"checked\":{},\"updates\":{},\"update_batch\":{},\"updates_per_second\":{:.0},\"update_mismatches\":{}{}}}",
            A::FAMILY,
            table.len(),
            build_seconds,
            table.memory_bytes(),
            table.top_bits(),
            table.node_count(),
            table.heap_words(),
            lookups,
            ns_single,
            ns_single * cyc,
            ns_bulk,
            ns_bulk * cyc,
            ns_bulk_min * cyc,
            args.burst,
            mhz,
            mismatches,
            probe.len(),
            args.updates,
            args.batch,
            updates_per_second,
            update_mismatches,
            tiny
        );
    } else {
        println!("{} routes: {}", A::FAMILY, table.len());
        println!(
            "build:              {:.3} s (median of {})",
            build_seconds,
            runs.min(3)
        );
        println!(
            "memory:             {} bytes ({:.2} MiB; top 2^{}, {} nodes, {} heap words)",
            table.memory_bytes(),
            table.memory_bytes() as f64 / 1048576.0,
            table.top_bits(),
            table.node_count(),
            table.heap_words()
        );
        println!("lookups:            {lookups} per run, {runs} runs, median");
        println!(
            "single lookup:      {:.2} ns = {:.1} cycles @ {:.0} MHz",
            ns_single,
            ns_single * cyc,
            mhz
        );
        println!(
            "bulk lookup ({:>2}):   {:.2} ns = {:.1} cycles (fastest run {:.1})",
            args.burst,
            ns_bulk,
            ns_bulk * cyc,
            ns_bulk_min * cyc
        );
        println!(
            "mismatches:         {mismatches} of {} checked",
            probe.len()
        );
        if args.updates > 0 {
            println!(
                "updates:            {:.0} /s ({} changes, {} per commit), {} mismatches after",
                updates_per_second, args.updates, args.batch, update_mismatches
            );
        }
        if !tiny.is_empty() {
            println!("tiny VRs:          {}", tiny.trim_start_matches(','));
        }
    }
    if mismatches > 0 || update_mismatches > 0 {
        return Err(format!(
            "{mismatches} lookup mismatches and {update_mismatches} post-update mismatches against the reference"
        ));
    }
    Ok(())
}

/// Converts a generated prefix (as `u128` bits) to family `A`.
fn convert<A: Addr>(bits: u128, len: u8) -> Prefix<A> {
    let text = if A::BITS == 32 {
        std::net::Ipv4Addr::from(bits as u32).to_string()
    } else {
        std::net::Ipv6Addr::from(bits).to_string()
    };
    A::parse_addr(&text)
        .and_then(|a| Prefix::new_truncating(a, len).ok())
        .unwrap_or(Prefix::DEFAULT)
}
