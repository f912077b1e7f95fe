//! The `varouter` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use varouter::appliance::{format_summary, RunOptions};

mod vpndb_cli;

/// The system allocator, counting live bytes for `varouter bench subscribers` (control-plane
/// memory per session). Counting is off unless a benchmark turns it on
/// ([`varouter::bench::heap::enable`]); off, it costs one relaxed load per call.
#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use varouter::bench::heap;

    pub struct Counting;

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged and
    // returns what it returns; the counters are plain atomics and never allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            heap::on_alloc(layout.size());
            // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            heap::on_alloc(layout.size());
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            heap::on_dealloc(layout.size());
            // SAFETY: `ptr` came from `System` with this layout (every allocation goes there).
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            heap::on_dealloc(layout.size());
            heap::on_alloc(new_size);
            // SAFETY: `ptr` came from `System` with `layout`; the caller checked `new_size`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

#[derive(Parser)]
#[command(
    name = "varouter",
    version,
    about = "Carrier edge appliance hosting isolated virtual routers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance described by a profile (the embedded demo when none is given).
    Run {
        /// Deployment profile (YAML).
        profile: Option<PathBuf>,
        /// Stop after this many seconds (default: until SIGINT/SIGTERM, or until every
        /// input is exhausted when all inputs are finite).
        #[arg(long)]
        duration: Option<f64>,
        /// Seconds between live statistics lines (0 = none).
        #[arg(long, default_value_t = 1.0)]
        stats_interval: f64,
    },
    /// Validate a profile and report every error with its position.
    Check {
        /// Deployment profile (YAML).
        profile: PathBuf,
    },
    /// Benchmarks (numbers for operators and for comparisons with DPDK's tools).
    Bench {
        #[command(subcommand)]
        which: BenchCmd,
    },
    /// Print a synthetic routing table with the prefix-length mix of the real Internet.
    GenRoutes(varouter::bench::gen_routes::Args),
    /// The management API's command-line client (docs/api.md).
    Ctl(varouter::ctl::CtlArgs),
    /// Read an API token on stdin and print its argon2id PHC string (for a principal's
    /// `token_hash` in the profile's `management` section).
    HashToken,
    /// The mobile VPN's database (seed 003): import, export, list profiles (SQLite or
    /// PostgreSQL).
    Vpndb(vpndb_cli::VpndbArgs),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// FIB build time, memory, lookup cycles and update rate on a route file.
    Fib(varouter::bench::fib::Args),
    /// Packets per second and cycles per packet of the real pipeline (pktgen-style).
    Pipeline(varouter::bench::pipeline::Args),
    /// Incremental publication: session binds/unbinds and neighbour resolutions per second
    /// beside a full table, delay until workers see them, memory under churn.
    Publish(varouter::bench::publish::Args),
    /// PPP subscribers over L2TP: setup rate and control-plane memory per session, with an
    /// in-process RADIUS responder, local users or a real RADIUS server.
    Subscribers(varouter::bench::subscribers::Args),
    /// PPPoE discovery: sessions per second through PADI/PADO/PADR/PADS and engine memory
    /// per session.
    Pppoe(varouter::bench::pppoe::Args),
    /// PPP relays on the workers (PPPoE → L2TP, L2TP → PPPoE) and PPPoE termination beside
    /// plain routing: Mpps and cycles per packet.
    Relay(varouter::bench::relay::Args),
    /// ESP tunnel mode on one worker: encrypt + route and decrypt + route (AES-GCM,
    /// ChaCha20-Poly1305) beside plain routing, Gbps and cycles per packet, beside
    /// `openssl speed` in the same run.
    Esp(varouter::bench::esp::Args),
    /// The mobile VPN's home AAA: AMR -> lookup -> HAR -> HAA -> AMA transactions per second
    /// and latency with its VPN database on SQLite and/or PostgreSQL.
    Aaa(varouter::bench::aaa::Args),
    /// VR discovery: convergence time when a PE with 1,000 VRs joins 9 others, on the
    /// simulated network's virtual clock and in wall time, with datagrams and bytes sent.
    Discovery(varouter::bench::discovery::Args),
    /// VPN peering channel: routes per second over one channel (full exchange and
    /// incremental updates) through the real engines on an in-memory network.
    Vpnpeer(varouter::bench::vpnpeer::Args),
    /// Management API: route add/delete transactions per second against a running
    /// appliance, and their request→reply latency (the reply follows the publish).
    Api(varouter::ctl::bench::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Bench {
            which: BenchCmd::Fib(a),
        } => tool(varouter::bench::fib::run(a)),
        Cmd::Bench {
            which: BenchCmd::Pipeline(a),
        } => tool(varouter::bench::pipeline::run(a)),
        Cmd::Bench {
            which: BenchCmd::Publish(a),
        } => tool(varouter::bench::publish::run(a)),
        Cmd::Bench {
            which: BenchCmd::Subscribers(a),
        } => {
            varouter::bench::heap::INSTALLED.store(true, std::sync::atomic::Ordering::Relaxed);
            tool(varouter::bench::subscribers::run(a))
        }
        Cmd::Bench {
            which: BenchCmd::Pppoe(a),
        } => {
            varouter::bench::heap::INSTALLED.store(true, std::sync::atomic::Ordering::Relaxed);
            tool(varouter::bench::pppoe::run(a))
        }
        Cmd::Bench {
            which: BenchCmd::Relay(a),
        } => tool(varouter::bench::relay::run(a)),
        Cmd::Bench {
            which: BenchCmd::Esp(a),
        } => tool(varouter::bench::esp::run(a)),
        Cmd::Bench {
            which: BenchCmd::Discovery(a),
        } => tool(varouter::bench::discovery::run(a)),
        Cmd::Bench {
            which: BenchCmd::Vpnpeer(a),
        } => tool(varouter::bench::vpnpeer::run(a)),
        Cmd::Bench {
            which: BenchCmd::Api(a),
        } => tool(varouter::ctl::bench::run(a)),
        Cmd::Bench {
            which: BenchCmd::Aaa(a),
        } => tool(varouter::bench::aaa::run(a)),
        Cmd::GenRoutes(a) => tool(varouter::bench::gen_routes::run(a)),
        Cmd::Ctl(a) => varouter::ctl::main(a),
        Cmd::HashToken => {
            let mut t = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut t) {
                eprintln!("varouter: hash-token: {e}");
                return ExitCode::FAILURE;
            }
            let t = t.trim_end_matches(['\r', '\n']);
            if t.is_empty() {
                eprintln!("varouter: hash-token: no token on stdin");
                return ExitCode::FAILURE;
            }
            println!("{}", varouter::mgmt::auth::hash_token(t));
            ExitCode::SUCCESS
        }
        Cmd::Vpndb(a) => tool(vpndb_cli::run(a)),
        Cmd::Check { profile } => match varouter::load_config(&profile) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} ports, {} virtual routers, {} label matrix entries, {} flows)",
                    profile.display(),
                    cfg.ports.len(),
                    cfg.vrs.len(),
                    cfg.label_matrix.len(),
                    cfg.flows.len()
                );
                ExitCode::SUCCESS
            }
            Err(errs) => report(&errs),
        },
        Cmd::Run {
            profile,
            duration,
            stats_interval,
        } => {
            let cfg = match &profile {
                Some(p) => varouter::load_config(p),
                None => varouter::parse_config(
                    std::path::Path::new("configs/demo.yaml (embedded)"),
                    varouter::DEMO_PROFILE,
                ),
            };
            let cfg = match cfg {
                Ok(c) => c,
                Err(errs) => return report(&errs),
            };
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
                    eprintln!("varouter: cannot install signal handler: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let opts = RunOptions {
                duration: duration.map(Duration::from_secs_f64),
                // An appliance with a management API, an AAA, VR discovery or LDP runs until it is
                // stopped: changes, registrations and other routers' VRs may still come when
                // its generator flows are done.
                until_inputs_finished: cfg.management.is_none()
                    && cfg.aaa.is_none()
                    && cfg.discovery.is_none()
                    && cfg.ldp.is_none(),
                stats_every: (stats_interval > 0.0)
                    .then(|| Duration::from_secs_f64(stats_interval)),
            };
            // SIGHUP re-reads the profile and applies what can change live.
            let reload = match &profile {
                Some(p) => {
                    let requested = Arc::new(AtomicBool::new(false));
                    if let Err(e) =
                        signal_hook::flag::register(signal_hook::consts::SIGHUP, requested.clone())
                    {
                        eprintln!("varouter: cannot install SIGHUP handler: {e}");
                        return ExitCode::FAILURE;
                    }
                    Some(varouter::appliance::Reload {
                        path: p.clone(),
                        requested,
                    })
                }
                None => None,
            };
            match varouter::appliance::run_with_reload(&cfg, &opts, stop, reload) {
                Ok(s) => {
                    print!("{}", format_summary(&s));
                    if s.misdelivered() > 0 {
                        eprintln!(
                            "varouter: {} packets were delivered to the wrong place",
                            s.misdelivered()
                        );
                        return ExitCode::from(3);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("varouter: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn tool(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varouter: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(errs: &[varouter::profile::ProfileError]) -> ExitCode {
    for e in errs {
        eprintln!("{e}");
    }
    eprintln!("{} error(s)", errs.len());
    ExitCode::from(2)
}
