//! `varouter bench discovery`: convergence of VR discovery (issue 15,
//! `docs/protocols/vr-discovery.md` §10) when a PE with `--vrs` VRs (default 1,000) joins
//! `--routers - 1` PEs (default 9) that already host VRs of the same VPNs.
//!
//! **Method.** Real [`Engine`]s on the deterministic simulated network of
//! [`controlplane::discovery::sim`] (virtual clock; `--delay-ms` one way, `--jitter-ms`,
//! `--loss` per datagram). Of the joining PE's VPNs, 10 % have a VR on every other PE, 50 % on
//! one other PE, 20 % on two and 20 % on none (the other PEs also hold those keys, so they
//! receive, authenticate and silently drop the additions). The other PEs' VRs are added and
//! settled first (60 virtual seconds, every retransmission over); then every VR of the joining
//! PE is added at the same virtual instant T.
//!
//! - **Virtual convergence**: from T to the last configuration-map change (the network is
//!   then run on to T + 60 s and every map of every router is checked against the truth,
//!   computed from the placement; a wrong map fails the benchmark).
//! - **Wall time to convergence**: the same run replayed (same seed, so the same datagrams),
//!   timed from T to the virtual convergence instant: every router's work on this one thread,
//!   so a real network, where routers work in parallel, needs less. **Busiest router**: the
//!   wall time spent inside the engine that worked most (the joining PE): with the network
//!   delay, the time a real deployment needs.
//! - **Datagrams and bytes** (discovery payload; add 28 bytes of IPv4/UDP header each) until
//!   convergence and until the end of the run, T + 60 s (the additions to PEs without a VR
//!   of the VPN are retransmitted until they give up, 47 s after T); with `--loss`, the run
//!   lasts three re-announcement periods (300 s each) more, since at high loss some
//!   exchanges fail all six transmissions and only the re-announcement repairs them.
//!
//! Each number is the median of `--runs` runs (the fastest and slowest beside it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use controlplane::discovery::sim::{NetModel, SimNet};
use controlplane::discovery::{Config, Engine, Event};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Provider routers, the joining PE included.
    #[arg(long, default_value_t = 10)]
    pub routers: usize,
    /// VRs (one per VPN) on the joining PE.
    #[arg(long, default_value_t = 1000)]
    pub vrs: u32,
    /// One-way delay of the simulated network, milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub delay_ms: f64,
    /// Extra uniform delay per datagram in [0, jitter), milliseconds (reorders).
    #[arg(long, default_value_t = 0.0)]
    pub jitter_ms: f64,
    /// Probability that a datagram is lost.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Runs (seeds 1..=runs); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: u64,
    /// Print one JSON line instead of a report.
    #[arg(long)]
    pub json: bool,
}

fn router(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, (i >> 8) as u8, i as u8 + 1)
}

fn vr_addr(vpn: u32, i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, (vpn >> 8) as u8, vpn as u8, i as u8 + 1))
}

/// Other PEs hosting a VR of the joining PE's VPN `k` (the mix of the module doc).
fn hosts(k: u32, others: usize) -> Vec<usize> {
    match k % 10 {
        0 => (0..others).collect(),
        1..=5 => vec![k as usize % others],
        6 | 7 => vec![k as usize % others, (k as usize + 1) % others],
        _ => vec![],
    }
}

struct Run {
    converged: Duration,
    wall: Duration,
    busiest: Duration,
    sent_conv: u64,
    bytes_conv: u64,
    sent_quiet: u64,
    bytes_quiet: u64,
}

/// The network before the join: every PE holds every key, the others' VRs are settled.
fn network(args: &Args, seed: u64, start: Instant) -> Result<SimNet, String> {
    let ids: Vec<Ipv4Addr> = (0..args.routers).map(router).collect();
    let others = args.routers - 1;
    let mut engines = Vec::new();
    for i in 0..args.routers {
        let mut e = Engine::new(Config::new(
            router(i),
            ids.clone(),
            1 + i as u64 * 1_000_000_000,
        ));
        for k in 0..args.vrs {
            e.set_key(
                k + 1,
                format!("bench secret of VPN {:08}", k + 1).as_bytes(),
            )
            .map_err(|e| e.to_string())?;
        }
        engines.push(e);
    }
    let model = NetModel {
        delay: Duration::from_secs_f64(args.delay_ms / 1e3),
        jitter: Duration::from_secs_f64(args.jitter_ms / 1e3),
        loss: args.loss,
        duplicate: 0.0,
    };
    let mut net = SimNet::new(engines, model, seed, start);
    for k in 0..args.vrs {
        for i in hosts(k, others) {
            net.with_engine(i, |e, now| e.add_vr(now, k + 1, vr_addr(k + 1, i)))
                .map_err(|e| e.to_string())?;
        }
    }
    net.run_until(start + Duration::from_secs(60));
    Ok(net)
}

fn join(net: &mut SimNet, args: &Args) -> Result<(), String> {
    let j = args.routers - 1;
    net.with_engine(j, |e, now| {
        (0..args.vrs).try_for_each(|k| e.add_vr(now, k + 1, vr_addr(k + 1, j)))
    })
    .map_err(|e| e.to_string())
}

/// Every map against the placement.
fn check(net: &SimNet, args: &Args) -> Result<(), String> {
    let others = args.routers - 1;
    let j = args.routers - 1;
    for k in 0..args.vrs {
        let vpn = k + 1;
        let h = hosts(k, others);
        let mut all: BTreeMap<Ipv4Addr, IpAddr> =
            h.iter().map(|&i| (router(i), vr_addr(vpn, i))).collect();
        all.insert(router(j), vr_addr(vpn, j));
        for (&r, _) in all.iter() {
            let i = net.index_of(r).ok_or("router missing")?;
            let mut want = all.clone();
            want.remove(&r);
            let have = net.engines()[i].config_map(vpn);
            if have != Some(&want) {
                return Err(format!(
                    "VPN {vpn}: router {r}'s map is {have:?}, the truth is {want:?}"
                ));
            }
        }
    }
    Ok(())
}

fn one_run(args: &Args, seed: u64) -> Result<Run, String> {
    let start = Instant::now();
    // Pass 1: find the convergence instant and check the maps.
    let mut net = network(args, seed, start)?;
    let (sent0, bytes0) = (net.stats().sent, net.stats().bytes);
    let events0 = net.events().len();
    let t = net.now();
    join(&mut net, args)?;
    net.run_until(t + horizon(args));
    check(&net, args)?;
    let mut last = Duration::ZERO;
    for (at, i, ev) in &net.events()[events0..] {
        if let Event::PeerLost { .. } = ev {
            return Err(format!("router {i} lost a peer at {at:?} during the join"));
        }
        last = last.max(*at);
    }
    let converged = last.saturating_sub(t - start);
    let (sent_quiet, bytes_quiet) = (net.stats().sent - sent0, net.stats().bytes - bytes0);
    // Pass 2: the same run, timed up to the convergence instant.
    let mut net = network(args, seed, start)?;
    let (sent0, bytes0) = (net.stats().sent, net.stats().bytes);
    net.measure_engines(true);
    let clock = Instant::now();
    join(&mut net, args)?;
    net.run_until(t + converged);
    let wall = clock.elapsed();
    let busiest = net.engine_time().iter().copied().max().unwrap_or_default();
    Ok(Run {
        converged,
        wall,
        busiest,
        sent_conv: net.stats().sent - sent0,
        bytes_conv: net.stats().bytes - bytes0,
        sent_quiet,
        bytes_quiet,
    })
}

/// How long after the join the network runs before the maps are checked: 60 s (every
/// retransmission over) without loss; with loss, three re-announcement rounds more (an
/// exchange can fail all six transmissions, §6).
fn horizon(args: &Args) -> Duration {
    let settle = Duration::from_secs(60);
    match Config::new(router(0), vec![], 1).refresh {
        Some(period) if args.loss > 0.0 => settle + 3 * period,
        _ => settle,
    }
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: Args) -> Result<(), String> {
    if args.routers < 2 || args.routers > 250 {
        return Err("--routers must be 2 to 250".into());
    }
    if args.vrs == 0 || args.vrs > 60_000 || args.runs == 0 {
        return Err("--vrs must be 1 to 60,000 and --runs at least 1".into());
    }
    if !(0.0..1.0).contains(&args.loss) || args.delay_ms < 0.0 || args.jitter_ms < 0.0 {
        return Err("--loss must be in [0, 1), --delay-ms and --jitter-ms ≥ 0".into());
    }
    let runs: Vec<Run> = (1..=args.runs)
        .map(|s| one_run(&args, s))
        .collect::<Result<_, _>>()?;
    let conv = median(runs.iter().map(|r| r.converged).collect());
    let wall = median(runs.iter().map(|r| r.wall).collect());
    let busy = median(runs.iter().map(|r| r.busiest).collect());
    let r0 = &runs[0];
    let peers: usize = (0..args.vrs)
        .map(|k| hosts(k, args.routers - 1).len())
        .sum();
    if args.json {
        println!(
            "{{\"routers\":{},\"vrs\":{},\"peer_vrs\":{peers},\"delay_ms\":{},\"jitter_ms\":{},\"loss\":{},\"runs\":{},\
\"converged_ms\":{:.3},\"converged_ms_max\":{:.3},\"wall_ms\":{:.3},\"wall_ms_min\":{:.3},\"wall_ms_max\":{:.3},\
\"busiest_router_ms\":{:.3},\"datagrams_to_convergence\":{},\"bytes_to_convergence\":{},\
\"datagrams_to_end\":{},\"bytes_to_end\":{},\"run_s\":{}}}",
            args.routers,
            args.vrs,
            args.delay_ms,
            args.jitter_ms,
            args.loss,
            args.runs,
            ms(conv.0),
            ms(conv.2),
            ms(wall.0),
            ms(wall.1),
            ms(wall.2),
            ms(busy.0),
            r0.sent_conv,
            r0.bytes_conv,
            r0.sent_quiet,
            r0.bytes_quiet,
            horizon(&args).as_secs()
        );
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "discovery join  a PE with {} VRs joins {} PEs ({peers} peer VRs); one-way delay {} ms, \
jitter {} ms, loss {} %; {} runs",
        args.vrs,
        args.routers - 1,
        args.delay_ms,
        args.jitter_ms,
        args.loss * 100.0,
        args.runs
    );
    let _ = writeln!(
        o,
        "  virtual convergence     {:.3} ms (min {:.3}, max {:.3}); target < 1 s",
        ms(conv.0),
        ms(conv.1),
        ms(conv.2)
    );
    let _ = writeln!(
        o,
        "  wall time to converge   {:.3} ms (min {:.3}, max {:.3}): all {} routers' work on one thread",
        ms(wall.0),
        ms(wall.1),
        ms(wall.2),
        args.routers
    );
    let _ = writeln!(
        o,
        "  busiest router          {:.3} ms (min {:.3}, max {:.3}) inside its engine",
        ms(busy.0),
        ms(busy.1),
        ms(busy.2)
    );
    let _ = writeln!(
        o,
        "  datagrams (run 1)       {} ({} bytes) to convergence; {} ({} bytes) until T + {} s",
        r0.sent_conv,
        r0.bytes_conv,
        r0.sent_quiet,
        r0.bytes_quiet,
        horizon(&args).as_secs()
    );
    print!("{o}");
    Ok(())
}
