//! `varouter bench publish`: how fast the control core publishes the changes that come at
//! subscriber rates, beside a full Internet table, and how soon workers see them.
//!
//! **Set-up.** One VR holds a full table (a route file such as the real Jan 2024 table, or
//! a generated one with the same prefix-length mix), and `--small-vrs` VRs beside it hold
//! `--small-routes` routes and a VLAN interface each — the appliance of the issue's
//! targets. Everything goes through the appliance's own writer ([`vr::StateWriter`]) and
//! publisher.
//!
//! **Measured** (each on its own, with one reader thread standing in for a worker: it
//! loads the current version as a worker does once per burst, and notes when it first sees
//! each version):
//! * **session binds/unbinds per second**: L2TP session bindings in the small VRs (a
//!   steady population of `--sessions` bound, each op binds a new one and unbinds the
//!   oldest), published every `--batch` ops;
//! * **neighbour resolutions per second**: what the neighbour service does when ARP
//!   resolves an on-link host of a small VR — the neighbour entry (every next hop through
//!   it follows) and a host route in the VR — and when it withdraws one; published every
//!   `--batch` resolutions;
//! * the same resolution for a host in the **full-table VR** (its FIB is recompiled in the
//!   touched slots and copied, ≈ the table's size per publication: the expensive case);
//! * **visibility delay**: from a change (the oldest of its batch) to the reader's first
//!   load of the version that holds it, and from the publication to that load (median,
//!   99th percentile, max);
//! * **memory under churn**: resident set size before and after `--churn` binds/unbinds.
//!
//! Rates are wall-clock on the control thread (commit and publish included); the reader
//! thread spins on its own core, as a worker would.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vr::fib::gen;
use vr::{
    ForwardingState, IfBinding, IfKey, IpPrefix, LabelPush, NeighborKey, NextHop, PortId, Prefix4,
    Publisher, RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId, VrId,
};

/// Options of `varouter bench publish`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Route file for the full-table VR (`prefix [anything]` per line); default: a
    /// generated table of `--generate` IPv4 routes.
    #[arg(long)]
    pub routes: Option<PathBuf>,
    /// IPv4 routes to generate when no `--routes` is given.
    #[arg(long, default_value_t = 901_899)]
    pub generate: usize,
    /// Small VRs beside the full-table one.
    #[arg(long, default_value_t = 1000)]
    pub small_vrs: u32,
    /// Routes per small VR.
    #[arg(long, default_value_t = 100)]
    pub small_routes: usize,
    /// Session binds+unbinds to time.
    #[arg(long, default_value_t = 500_000)]
    pub binds: u64,
    /// Sessions kept bound during the measurement.
    #[arg(long, default_value_t = 100_000)]
    pub sessions: u64,
    /// Neighbour resolutions (and as many withdrawals) to time in the small VRs.
    #[arg(long, default_value_t = 200_000)]
    pub resolutions: u64,
    /// Resolutions to time in the full-table VR.
    #[arg(long, default_value_t = 2_000)]
    pub big_resolutions: u64,
    /// Changes per publication in the throughput phases.
    #[arg(long, default_value_t = 64)]
    pub batch: u64,
    /// Offered session binds+unbinds per second in the latency phase (for one second).
    #[arg(long, default_value_t = 50_000.0)]
    pub bind_rate: f64,
    /// Offered neighbour resolutions per second in the latency phase (for one second).
    #[arg(long, default_value_t = 10_000.0)]
    pub resolution_rate: f64,
    /// Binds+unbinds for the memory check (0: skip).
    #[arg(long, default_value_t = 10_000_000)]
    pub churn: u64,
    /// Print one JSON line instead of a report.
    #[arg(long)]
    pub json: bool,
}

const PORT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn small_prefix(vr: u32, i: usize) -> IpPrefix {
    // 10.x.y.0/24 per route, distinct per VR (VRs are isolated; overlap would be fine too).
    IpPrefix::V4(
        Prefix4::new(
            0x0a00_0000 | ((vr & 0xff) << 16) | ((i as u32 & 0xff) << 8),
            24,
        )
        .unwrap(),
    )
}

/// Host `j` of small VR `vr`, on the VR's connected /24 (172.16.0.0/12 split by VR).
fn host(vr: u32, j: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        0xac10_0000 | ((vr & 0xfff) << 8) | (j % 254 + 1) as u32,
    ))
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// One worker-like reader: notes when it first sees each version.
struct Reader {
    stop: Arc<AtomicBool>,
    seen: Arc<Vec<AtomicU64>>,
    handle: std::thread::JoinHandle<u64>,
}

const SEEN: usize = 1 << 20;

fn reader(p: &Publisher<ForwardingState>, t0: Instant) -> Reader {
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..SEEN).map(|_| AtomicU64::new(0)).collect());
    let h = p.handle();
    let (s, v) = (stop.clone(), seen.clone());
    let handle = std::thread::spawn(move || {
        let mut cache = h.cache();
        let mut last = 0;
        let mut loads = 0u64;
        while !s.load(Ordering::Relaxed) {
            let st = cache.load();
            loads += 1;
            if st.version != last {
                last = st.version;
                let ns = t0.elapsed().as_nanos() as u64;
                if let Some(slot) = v.get(last as usize % SEEN) {
                    slot.store(ns, Ordering::Relaxed);
                }
            }
            std::hint::spin_loop();
        }
        loads
    });
    Reader { stop, seen, handle }
}

/// Commits, publishes and notes when.
struct Pub {
    p: Publisher<ForwardingState>,
    t0: Instant,
    /// (version, when its oldest change was made, when it was published), in ns from t0.
    committed: Vec<(u64, u64, u64)>,
    /// When the oldest change not yet published was made.
    pending_since: Option<u64>,
    /// Whether publications are recorded (not during the memory check, whose own
    /// bookkeeping must not grow).
    record: bool,
}

impl Pub {
    fn now(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// A change is about to be made; it arrived at `at` (ns from t0).
    fn change(&mut self, at: u64) {
        if self.pending_since.is_none() {
            self.pending_since = Some(at);
        }
    }

    fn publish(&mut self, w: &mut StateWriter) {
        if let Some(st) = w.commit() {
            let v = st.version;
            // Stamped before the swap: a reader may load the version before `publish`
            // returns.
            let at = self.now();
            self.p.publish(st);
            let since = self.pending_since.take().unwrap_or(at);
            if self.record {
                self.committed.push((v, since, at));
            }
        }
    }
}

/// For the versions published since `from`: (µs from the oldest change to the reader's
/// first load of the version or of a later one — a reader that skipped a version saw its
/// changes in the next —, µs from publication to that load).
fn delays(p: &Pub, r: &Reader, from: usize) -> (Vec<f64>, Vec<f64>) {
    // Give the reader a moment to see the last version.
    std::thread::sleep(Duration::from_millis(20));
    let mut first_seen = u64::MAX;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (v, since, at) in p.committed[from..].iter().rev() {
        let seen = r
            .seen
            .get(*v as usize % SEEN)
            .map_or(0, |x| x.load(Ordering::Relaxed));
        if seen >= *at {
            first_seen = first_seen.min(seen);
        }
        if first_seen != u64::MAX && first_seen >= *at {
            out.push((
                (first_seen - since) as f64 / 1e3,
                (first_seen - at) as f64 / 1e3,
            ));
        }
    }
    out.into_iter().unzip()
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// One timed phase.
#[derive(Debug)]
struct Phase {
    name: &'static str,
    ops: u64,
    secs: f64,
    publications: usize,
    /// From the change to the reader: median, p99, max (µs).
    change_us: (f64, f64, f64),
    /// From the publication to the reader: median, p99, max (µs).
    publish_us: (f64, f64, f64),
}

/// How changes are fed to the writer.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// As fast as possible, published every `n` changes (throughput).
    Batch(u64),
    /// Changes arrive at this rate; everything that arrived is applied and published at
    /// once, as the control core's loop does (latency at a given load). A change's delay
    /// counts from when it arrived, so falling behind shows.
    Rate(f64),
}

fn phase(
    name: &'static str,
    p: &mut Pub,
    r: &Reader,
    w: &mut StateWriter,
    ops: u64,
    pace: Pace,
    mut op: impl FnMut(&mut StateWriter, u64),
) -> Phase {
    let from = p.committed.len();
    let t = Instant::now();
    match pace {
        Pace::Batch(batch) => {
            for i in 0..ops {
                p.change(p.now());
                op(w, i);
                if (i + 1) % batch == 0 {
                    p.publish(w);
                }
            }
        }
        Pace::Rate(rate) => {
            let start = p.now();
            let mut i = 0;
            while i < ops {
                let arrived = ((t.elapsed().as_secs_f64() * rate) as u64 + 1).min(ops);
                if i == arrived {
                    std::hint::spin_loop();
                    continue;
                }
                while i < arrived {
                    p.change(start + (i as f64 / rate * 1e9) as u64);
                    op(w, i);
                    i += 1;
                }
                p.publish(w);
            }
        }
    }
    p.publish(w);
    let secs = t.elapsed().as_secs_f64();
    let (mut c, mut d) = delays(p, r, from);
    let q = |v: &mut Vec<f64>| (pct(v, 0.5), pct(v, 0.99), pct(v, 1.0));
    Phase {
        name,
        ops,
        secs,
        publications: p.committed.len() - from,
        change_us: q(&mut c),
        publish_us: q(&mut d),
    }
}

/// Runs the benchmark and prints the result.
pub fn run(args: Args) -> Result<(), String> {
    if args.batch == 0 || args.small_vrs == 0 {
        return Err("--batch and --small-vrs must be at least 1".into());
    }
    let full: Vec<IpPrefix> = match &args.routes {
        Some(path) => crate::bench::pipeline::load_routes(path)?,
        None => gen::routes_v4(args.generate, 7)
            .into_iter()
            .map(|(p, _)| IpPrefix::V4(p))
            .collect(),
    };
    let t_build = Instant::now();
    let mut w = StateWriter::new(vec![PORT_MAC, PORT_MAC], 2);
    let vr =
        |id: u32| VirtualRouter::new(VrId(id), format!("vr{id}"), VpnId::new(1, id).unwrap(), "t");
    w.add_vr(vr(1)).map_err(|e| e.to_string())?;
    let upstream: Vec<NextHop> = (0..8u8)
        .map(|k| NextHop::Unresolved {
            port: PortId(1),
            vlan: None,
            via: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + k)),
            push: LabelPush::EMPTY,
        })
        .collect();
    for (i, p) in full.iter().enumerate() {
        w.set_route(
            VrId(1),
            *p,
            RouteSource::Static,
            upstream[i % upstream.len()],
        )
        .map_err(|e| e.to_string())?;
    }
    let big_host_net: IpPrefix = "100.64.0.0/16".parse().unwrap();
    let glean = |port: u16, vlan: Option<u16>| NextHop::Unresolved {
        port: PortId(port),
        vlan,
        via: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        push: LabelPush::EMPTY,
    };
    w.set_route(
        VrId(1),
        big_host_net,
        RouteSource::Connected,
        glean(1, None),
    )
    .map_err(|e| e.to_string())?;
    for id in 2..args.small_vrs + 2 {
        w.add_vr(vr(id)).map_err(|e| e.to_string())?;
        let vlan = (id % 4000 + 1) as u16;
        w.bind_interface(IfKey::PortVlan(PortId(0), vlan), IfBinding::Vr(VrId(id)))
            .map_err(|e| e.to_string())?;
        let subnet = IpPrefix::V4(Prefix4::new(0xac10_0000 | ((id & 0xfff) << 8), 24).unwrap());
        w.set_route(
            VrId(id),
            subnet,
            RouteSource::Connected,
            glean(0, Some(vlan)),
        )
        .map_err(|e| e.to_string())?;
        for i in 0..args.small_routes {
            w.set_route(
                VrId(id),
                small_prefix(id, i),
                RouteSource::Static,
                upstream[i % 8],
            )
            .map_err(|e| e.to_string())?;
        }
    }
    let first = w.commit().ok_or("nothing to publish")?;
    let build_secs = t_build.elapsed().as_secs_f64();
    let state_mib = first.memory_bytes() as f64 / (1 << 20) as f64;
    let t0 = Instant::now();
    let mut p = Pub {
        p: Publisher::new(first),
        t0,
        committed: Vec::new(),
        pending_since: None,
        record: true,
    };
    let r = reader(&p.p, t0);
    let small = args.small_vrs;
    let sess = |i: u64| SessionKey::L2tp {
        tunnel: (i >> 16) as u16 + 1,
        session: i as u16,
    };

    // Fill the steady session population, then churn it.
    let pop = args.sessions.min(u64::from(u16::MAX) * 256);
    for i in 0..pop {
        w.bind_session(
            sess(i),
            SessionBinding::new(VrId(2 + (i % u64::from(small)) as u32)),
        )
        .map_err(|e| e.to_string())?;
    }
    p.publish(&mut w);
    let mut next = pop;
    let mut bind_one = |w: &mut StateWriter| {
        let i = next;
        next += 1;
        let _ = w.unbind_session(&sess(i - pop));
        let _ = w.bind_session(
            sess(i),
            SessionBinding::new(VrId(2 + (i % u64::from(small)) as u32)),
        );
    };
    let binds = phase(
        "session bind+unbind",
        &mut p,
        &r,
        &mut w,
        args.binds,
        Pace::Batch(args.batch),
        |w, _| bind_one(w),
    );
    let binds_paced = phase(
        "session bind+unbind at --bind-rate",
        &mut p,
        &r,
        &mut w,
        (args.bind_rate as u64).min(args.binds),
        Pace::Rate(args.bind_rate),
        |w, _| bind_one(w),
    );

    let key = |vr: u32, ip: IpAddr| NeighborKey {
        port: PortId(0),
        vlan: Some((vr % 4000 + 1) as u16),
        ip,
    };
    let resolve = |w: &mut StateWriter, vr: u32, ip: IpAddr, port: u16, vlan: Option<u16>| {
        w.set_neighbor(
            NeighborKey {
                port: PortId(port),
                vlan,
                ip,
            },
            Some([2, 0xaa, 0, 0, 0, 1]),
        );
        let _ = w.set_route(
            VrId(vr),
            IpPrefix::host(ip),
            RouteSource::Neighbor,
            NextHop::Unresolved {
                port: PortId(port),
                vlan,
                via: ip,
                push: LabelPush::EMPTY,
            },
        );
    };
    let withdraw = |w: &mut StateWriter, vr: u32, ip: IpAddr, port: u16, vlan: Option<u16>| {
        w.set_neighbor(
            NeighborKey {
                port: PortId(port),
                vlan,
                ip,
            },
            None,
        );
        let _ = w.remove_route(VrId(vr), IpPrefix::host(ip), RouteSource::Neighbor);
    };
    let resolve_small = |w: &mut StateWriter, i: u64| {
        let vr = 2 + (i % u64::from(small)) as u32;
        let ip = host(vr, i / u64::from(small));
        resolve(w, vr, ip, 0, key(vr, ip).vlan);
    };
    let withdraw_small = |w: &mut StateWriter, i: u64| {
        let vr = 2 + (i % u64::from(small)) as u32;
        let ip = host(vr, i / u64::from(small));
        withdraw(w, vr, ip, 0, key(vr, ip).vlan);
    };
    let res = phase(
        "neighbour resolution (small VRs)",
        &mut p,
        &r,
        &mut w,
        args.resolutions,
        Pace::Batch(args.batch),
        resolve_small,
    );
    let wd = phase(
        "neighbour withdrawal (small VRs)",
        &mut p,
        &r,
        &mut w,
        args.resolutions,
        Pace::Batch(args.batch),
        withdraw_small,
    );
    let res_paced = phase(
        "neighbour resolution at --resolution-rate",
        &mut p,
        &r,
        &mut w,
        (args.resolution_rate as u64).min(args.resolutions),
        Pace::Rate(args.resolution_rate),
        resolve_small,
    );
    let big = phase(
        "neighbour resolution (full-table VR)",
        &mut p,
        &r,
        &mut w,
        args.big_resolutions,
        Pace::Batch(args.batch),
        |w, i| {
            let ip = IpAddr::V4(Ipv4Addr::from(0x6440_0000 | (i as u32 & 0xffff)));
            resolve(w, 1, ip, 1, None);
        },
    );

    // Memory under churn.
    let mut churn = None;
    let mut rss_series = Vec::new();
    if args.churn > 0 {
        p.record = false;
        let rss0 = rss_bytes();
        let cap0 = w.next_hops().capacity();
        let t = Instant::now();
        for k in 0..args.churn {
            p.change(p.now());
            let i = next;
            next += 1;
            let _ = w.unbind_session(&sess(i - pop));
            let _ = w.bind_session(
                sess(i),
                SessionBinding::new(VrId(2 + (i % u64::from(small)) as u32)),
            );
            if (k + 1) % args.batch == 0 {
                p.publish(&mut w);
                p.p.reclaim();
            }
            if (k + 1) % (args.churn / 10).max(1) == 0 {
                rss_series.push(rss_bytes());
            }
        }
        p.publish(&mut w);
        p.p.reclaim();
        churn = Some((
            args.churn,
            t.elapsed().as_secs_f64(),
            rss0,
            rss_bytes(),
            cap0,
            w.next_hops().capacity(),
            w.session_count(),
        ));
    }
    r.stop.store(true, Ordering::Relaxed);
    let loads = r.handle.join().map_err(|_| "reader thread panicked")?;
    let retired = p.p.reclaim();

    let phases = [binds, binds_paced, res, wd, res_paced, big];
    if args.json {
        let mut o = format!(
            "{{\"routes\":{},\"small_vrs\":{},\"batch\":{},\"build_s\":{:.3},\"state_mib\":{:.1}",
            full.len(),
            args.small_vrs,
            args.batch,
            build_secs,
            state_mib
        );
        for ph in &phases {
            let _ = write!(
                o,
                ",\"{}\":{{\"per_s\":{:.0},\"change_to_worker_us\":[{:.1},{:.1},{:.1}],\"publish_to_worker_us\":[{:.1},{:.1},{:.1}]}}",
                ph.name.replace(' ', "_").replace(['(', ')'], ""),
                ph.ops as f64 / ph.secs,
                ph.change_us.0,
                ph.change_us.1,
                ph.change_us.2,
                ph.publish_us.0,
                ph.publish_us.1,
                ph.publish_us.2
            );
        }
        if let Some((n, s, a, b, _, _, _)) = churn {
            let _ = write!(
                o,
                ",\"churn\":{{\"ops\":{n},\"per_s\":{:.0},\"rss_before_mib\":{:.1},\"rss_after_mib\":{:.1}}}",
                n as f64 / s,
                a as f64 / (1 << 20) as f64,
                b as f64 / (1 << 20) as f64
            );
        }
        o.push('}');
        println!("{o}");
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(o, "=== varouter bench publish ===");
    let _ = writeln!(
        o,
        "tables           VR 1: {} routes; {} small VRs × {} routes; built and published in {:.2} s; {:.1} MiB",
        full.len(),
        args.small_vrs,
        args.small_routes,
        build_secs,
        state_mib
    );
    let _ = writeln!(o, "batch            {} changes per publication", args.batch);
    let _ = writeln!(
        o,
        "{:<38} {:>9}   {:>27}   {:>27}",
        "", "per s", "change → worker (µs)", "publish → worker (µs)"
    );
    let _ = writeln!(
        o,
        "{:<38} {:>9}   {:>27}   {:>27}",
        "", "", "median / p99 / max", "median / p99 / max"
    );
    for ph in &phases {
        let _ = writeln!(
            o,
            "{:<38} {:>9.0}   {:>8.1} / {:>7.1} / {:>7.1}   {:>8.1} / {:>7.1} / {:>7.1}   ({} in {:.2} s, {} publications)",
            ph.name,
            ph.ops as f64 / ph.secs,
            ph.change_us.0,
            ph.change_us.1,
            ph.change_us.2,
            ph.publish_us.0,
            ph.publish_us.1,
            ph.publish_us.2,
            ph.ops,
            ph.secs,
            ph.publications,
        );
    }
    if let Some((n, s, a, b, c0, c1, live)) = churn {
        let _ = writeln!(
            o,
            "churn            {n} binds+unbinds in {:.1} s ({:.0} /s); RSS {:.1} MiB before, {:.1} MiB after; next-hop ids {c0} → {c1}; {live} sessions bound",
            s,
            n as f64 / s,
            a as f64 / (1 << 20) as f64,
            b as f64 / (1 << 20) as f64
        );
        let series: Vec<String> = rss_series
            .iter()
            .map(|b| format!("{:.1}", *b as f64 / (1 << 20) as f64))
            .collect();
        let _ = writeln!(o, "RSS every tenth  {} MiB", series.join(" "));
    }
    let _ = writeln!(
        o,
        "reader           {loads} loads; {retired} replaced versions still held at the end"
    );
    print!("{o}");
    Ok(())
}
