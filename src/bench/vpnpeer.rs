//! `varouter bench vpnpeer`: route exchange over one VPN peering channel (issue 15,
//! `docs/protocols/vpn-peering.md` §8).
//!
//! **Method.** Two real peering [`Engine`](controlplane::vpnpeer::Engine)s (their L2TP
//! engines, the RADIUS client, the wire codec) on the in-memory simulated network of
//! [`controlplane::vpnpeer::sim`] (virtual clock, `--delay-ms` one way, no loss), each with
//! its RADIUS server (`radius::server`). R2's VR holds `--routes` routes (90 % IPv4 /24, 10 %
//! IPv6 /48, distinct labels per 1,000 routes).
//!
//! - **Full exchange**: the configuration maps are given at instant T; timed (wall clock, the
//!   whole simulation on this one thread: both routers, both RADIUS servers) from T until
//!   R1 has installed every route (each one an `Install` event applied to a route table):
//!   channel set-up, authentication both ways, then the routes.
//! - **Incremental**: with the channel up, R2 withdraws every route and announces it again
//!   with a new label, in batches of `--batch` routes (one `update` call each); timed until
//!   R1 saw every withdrawal and every re-announcement. Routes/s counts both operations.
//!
//! The virtual time each phase took is printed beside: what the channel needs on a real
//! network with that delay, set by the L2TP window (`--window`) and the delayed-ack timer
//! (`--ack-delay-ms`), not by computation. Each number is the median of `--runs` runs.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use controlplane::vpnpeer::engine::Config;
use controlplane::vpnpeer::sim::SimNet;
use controlplane::vpnpeer::wire::{IpPrefix, RouteOp};
use vr::{Prefix4, Prefix6};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Routes in the announcing VR.
    #[arg(long, default_value_t = 100_000)]
    pub routes: u32,
    /// Routes per update call in the incremental phase.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// One-way delay of the simulated network, milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub delay_ms: f64,
    /// L2TP receive window of both ends, messages (the engine's default: 64).
    #[arg(long, default_value_t = 64)]
    pub window: u16,
    /// L2TP delayed-ack time, milliseconds (the engine's default: 10; RFC 2661 engines
    /// commonly use 100 with a window of 8).
    #[arg(long, default_value_t = 10.0)]
    pub ack_delay_ms: f64,
    /// Runs (seeds 1..=runs); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: u64,
    /// Print one JSON line instead of a report.
    #[arg(long)]
    pub json: bool,
}

const VPN: u32 = 1;
const SECRET: &[u8] = b"bench VPN secret";

fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, n)
}

fn routes(n: u32, label_base: u32) -> Vec<RouteOp> {
    (0..n)
        .map(|i| {
            let prefix = if i % 10 == 9 {
                let a = (0x2001u128 << 112) | (u128::from(i) << 80);
                IpPrefix::V6(Prefix6::new(a, 48).unwrap_or(Prefix6::DEFAULT))
            } else {
                let a = (10u32 << 24).wrapping_add(i << 8);
                IpPrefix::V4(Prefix4::new(a, 24).unwrap_or(Prefix4::DEFAULT))
            };
            RouteOp {
                prefix,
                label: label_base + i / 1000,
                withdraw: false,
            }
        })
        .collect()
}

struct Run {
    full_wall: Duration,
    full_virtual: Duration,
    incr_wall: Duration,
    incr_virtual: Duration,
    messages: u64,
}

fn cfg(n: u8, args: &Args) -> Config {
    let mut c = Config::new(rid(n));
    c.max_routes_per_peer = args.routes as usize + 1;
    c.l2tp.receive_window = args.window;
    c.l2tp.ack_delay = Duration::from_secs_f64(args.ack_delay_ms / 1e3);
    c
}

fn run_until(
    net: &mut SimNet,
    limit: Duration,
    done: impl Fn(&SimNet) -> bool,
) -> Result<(), String> {
    let end = net.elapsed() + limit;
    while !done(net) {
        if net.elapsed() >= end {
            return Err(format!(
                "not finished after {} virtual seconds",
                limit.as_secs()
            ));
        }
        net.run_for(Duration::from_millis(1));
    }
    Ok(())
}

fn one_run(args: &Args, seed: u64) -> Result<Run, String> {
    let mut net = SimNet::new(seed, Instant::now());
    net.latency = Duration::from_secs_f64(args.delay_ms / 1e3);
    let n = args.routes;
    for k in 1..=2u8 {
        let i = net.add_node(cfg(k, args), seed * 16 + u64::from(k));
        for m in 1..=2u8 {
            net.nodes[i]
                .radius
                .add_user(&format!("{VPN}/{}", rid(m)), SECRET);
        }
        net.with(i, |e, _| e.add_vr(VPN, SECRET));
    }
    let table = routes(n, 100);
    let mut seen = std::collections::HashSet::new();
    if !table.iter().all(|r| seen.insert(r.prefix)) {
        return Err("route generator produced duplicates".into());
    }
    net.with(1, |e, now| e.update(now, VPN, &table))
        .map_err(|e| e.to_string())?;
    let (a1, a2) = (net.nodes[0].addr, net.nodes[1].addr);
    let full = |net: &SimNet| {
        net.nodes[0]
            .engine
            .routes_from(VPN, rid(2))
            .is_some_and(|r| r.len() == n as usize)
    };
    let t0v = net.elapsed();
    let t0 = Instant::now();
    net.with(0, |e, now| e.add_peer(now, VPN, rid(2), a2))
        .map_err(|e| e.to_string())?;
    net.with(1, |e, now| e.add_peer(now, VPN, rid(1), a1))
        .map_err(|e| e.to_string())?;
    run_until(&mut net, Duration::from_secs(600), full)?;
    let full_wall = t0.elapsed();
    let full_virtual = net.elapsed() - t0v;
    if net.nodes[0].fib.len() != n as usize {
        return Err(format!(
            "R1 installed {} routes, expected {n}",
            net.nodes[0].fib.len()
        ));
    }
    // Incremental: withdraw and re-announce with new labels, batch by batch.
    let relabelled = routes(n, 5000);
    let msgs0 = net.nodes[1].engine.counters().updates_tx;
    let t1v = net.elapsed();
    let t1 = Instant::now();
    for (old, new) in table.chunks(args.batch).zip(relabelled.chunks(args.batch)) {
        let w: Vec<RouteOp> = old
            .iter()
            .map(|r| RouteOp {
                withdraw: true,
                ..*r
            })
            .collect();
        net.with(1, |e, now| {
            e.update(now, VPN, &w)?;
            e.update(now, VPN, new)
        })
        .map_err(|e| e.to_string())?;
        net.run_for(Duration::ZERO);
    }
    let last = relabelled.last().copied();
    run_until(&mut net, Duration::from_secs(600), |net| {
        let r = net.nodes[0].engine.routes_from(VPN, rid(2));
        r.is_some_and(|r| {
            r.len() == n as usize && last.is_none_or(|l| r.get(&l.prefix) == Some(&l.label))
        })
    })?;
    let incr_wall = t1.elapsed();
    let incr_virtual = net.elapsed() - t1v;
    let r = net.nodes[0]
        .engine
        .routes_from(VPN, rid(2))
        .ok_or("R1 lost the peer")?;
    if relabelled
        .iter()
        .any(|x| r.get(&x.prefix) != Some(&x.label))
    {
        return Err("R1's routes differ from R2's after the incremental phase".into());
    }
    Ok(Run {
        full_wall,
        full_virtual,
        incr_wall,
        incr_virtual,
        messages: net.nodes[1].engine.counters().updates_tx - msgs0,
    })
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: Args) -> Result<(), String> {
    if args.routes == 0 || args.routes > 1_000_000 || args.runs == 0 || args.batch == 0 {
        return Err("--routes must be 1 to 1,000,000, --runs and --batch at least 1".into());
    }
    if args.delay_ms < 0.0 || args.ack_delay_ms < 0.0 || args.window == 0 {
        return Err("--delay-ms and --ack-delay-ms must be ≥ 0, --window at least 1".into());
    }
    let runs: Vec<Run> = (1..=args.runs)
        .map(|s| one_run(&args, s))
        .collect::<Result<_, _>>()?;
    let full = median(runs.iter().map(|r| r.full_wall).collect());
    let incr = median(runs.iter().map(|r| r.incr_wall).collect());
    let fv = median(runs.iter().map(|r| r.full_virtual).collect());
    let iv = median(runs.iter().map(|r| r.incr_virtual).collect());
    let n = f64::from(args.routes);
    let full_rate = n / full.0.as_secs_f64();
    let incr_rate = 2.0 * n / incr.0.as_secs_f64();
    if args.json {
        println!(
            "{{\"routes\":{},\"batch\":{},\"delay_ms\":{},\"window\":{},\"ack_delay_ms\":{},\"runs\":{},\"full_exchange_ms\":{:.3},\
\"full_exchange_routes_per_s\":{:.0},\"full_exchange_virtual_ms\":{:.3},\"incremental_ms\":{:.3},\
\"incremental_routes_per_s\":{:.0},\"incremental_virtual_ms\":{:.3},\"update_messages_incremental\":{}}}",
            args.routes,
            args.batch,
            args.delay_ms,
            args.window,
            args.ack_delay_ms,
            args.runs,
            ms(full.0),
            full_rate,
            ms(fv.0),
            ms(incr.0),
            incr_rate,
            ms(iv.0),
            runs[0].messages
        );
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "vpnpeer  {} routes over one channel (90 % IPv4 /24, 10 % IPv6 /48); one-way delay {} ms; L2TP window {}, delayed ack {} ms; {} runs",
        args.routes, args.delay_ms, args.window, args.ack_delay_ms, args.runs
    );
    let _ = writeln!(
        o,
        "  full exchange   {:.1} ms wall (min {:.1}, max {:.1}) = {:.0} routes/s, incl. set-up and RADIUS; {:.1} ms virtual; target ≥ 100,000 routes/s",
        ms(full.0),
        ms(full.1),
        ms(full.2),
        full_rate,
        ms(fv.0)
    );
    let _ = writeln!(
        o,
        "  incremental     {:.1} ms wall (min {:.1}, max {:.1}) = {:.0} routes/s (withdraw + re-announce, batches of {}); {:.1} ms virtual; {} update messages",
        ms(incr.0),
        ms(incr.1),
        ms(incr.2),
        incr_rate,
        args.batch,
        ms(iv.0),
        runs[0].messages
    );
    print!("{o}");
    Ok(())
}
