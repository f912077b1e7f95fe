//! `varouter bench api`: management changes per second against a running appliance, and
//! the latency of each.
//!
//! One client thread (or `--clients N`) sends transactions over one keep-alive HTTP
//! connection each: alternately `add_route` and `delete_route` of a /32 in one VR (or of
//! `--batch N` /32s per transaction), so the VR's table returns to where it started. A
//! change is one route added or deleted; a transaction of N changes counts N. The API replies only after the change has been
//! checked, applied and *published* to the workers (docs/api.md, "Transactions"), so the
//! request→reply time measured here is an upper bound of the time from request to the
//! change being visible to the workers. `scripts/bench-api` runs it beside generator
//! traffic and checks that forwarding went on.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::{Client, Method};

/// Options of `varouter bench api`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// API address [env: VAROUTER_API].
    #[arg(long)]
    pub api: Option<String>,
    /// Token of a principal that may change the VR's routes [env: VAROUTER_TOKEN].
    #[arg(long)]
    pub token: Option<String>,
    /// PEM certificate to trust for an https API.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The VR whose routes are added and deleted.
    #[arg(long)]
    pub vr: String,
    /// Next hop of the added routes (on-link in the VR).
    #[arg(long)]
    pub via: String,
    /// First /32 of the routes added (the prefixes count up from it; keep it outside every
    /// prefix the generator's flows use so that the churn does not steer them).
    #[arg(long, default_value = "10.250.0.0")]
    pub base: Ipv4Addr,
    /// How long to send changes.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Client threads, each with its own keep-alive connection and its own prefixes.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Changes per transaction: each request adds this many routes, the next deletes them
    /// (1 = one change per request). The VR holds at most `clients × batch` extra routes.
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Results of one client thread.
#[derive(Default)]
struct Worker {
    latencies_ns: Vec<u64>,
    changes: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Runs the benchmark.
pub fn run(a: Args) -> Result<(), String> {
    let api = a
        .api
        .clone()
        .or_else(|| std::env::var("VAROUTER_API").ok())
        .ok_or("no API address: give --api URL or set VAROUTER_API")?;
    let token = a
        .token
        .clone()
        .or_else(|| std::env::var("VAROUTER_TOKEN").ok());
    if a.clients == 0 || a.batch == 0 || a.batch > 4096 || a.seconds.is_nan() || a.seconds <= 0.0 {
        return Err("--clients, --seconds and --batch (1..=4096) must be positive".into());
    }
    let per_client = 1u32 << 16;
    if a.clients as u64 * per_client as u64 > (1u64 << 24) {
        return Err("too many clients for the prefix space".into());
    }
    let probe = Client::new(&api, token.as_deref(), a.ca.as_deref()).map_err(|e| e.to_string())?;
    let before = probe
        .get("/api/v1/stats")
        .map_err(|e| format!("GET /api/v1/stats: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut threads = Vec::new();
    for c in 0..a.clients {
        let client =
            Client::new(&api, token.as_deref(), a.ca.as_deref()).map_err(|e| e.to_string())?;
        let stop = stop.clone();
        let vr = a.vr.clone();
        let via = a.via.clone();
        let base = u32::from(a.base).wrapping_add(c as u32 * per_client);
        let batch = a.batch;
        threads.push(std::thread::spawn(move || {
            churn(&client, &vr, &via, base, batch, &stop)
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(a.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all = Worker::default();
    for t in threads {
        let w = t.join().map_err(|_| "a client thread panicked")?;
        all.latencies_ns.extend(w.latencies_ns);
        all.changes += w.changes;
        all.errors += w.errors;
        if all.first_error.is_none() {
            all.first_error = w.first_error;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = probe
        .get("/api/v1/stats")
        .map_err(|e| format!("GET /api/v1/stats: {e}"))?;
    let forwarded = |v: &serde_json::Value| -> u64 {
        v.get("vrs")
            .and_then(|x| x.as_array())
            .map(|vrs| {
                vrs.iter()
                    .filter_map(|r| r.get("tx_packets").and_then(|x| x.as_u64()))
                    .sum()
            })
            .unwrap_or(0)
    };
    let fwd = forwarded(&after).saturating_sub(forwarded(&before));
    let mut l = all.latencies_ns;
    l.sort_unstable();
    let n = l.len();
    let q = |p: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        l[((n as f64 * p).ceil() as usize).clamp(1, n) - 1] as f64 / 1e3
    };
    let changes = all.changes;
    let rate = changes as f64 / elapsed;
    if a.json {
        println!(
            "{}",
            json!({
                "changes": changes, "transactions": n, "changes_per_transaction": a.batch,
                "seconds": elapsed, "changes_per_s": rate,
                "transactions_per_s": n as f64 / elapsed, "clients": a.clients,
                "errors": all.errors,
                "latency_us": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0)},
                "vr_packets_forwarded_during": fwd,
                "measured": "request to reply; the reply is sent after the change is published to the workers"
            })
        );
    } else {
        println!(
            "api changes: {changes} in {n} transactions of {} in {elapsed:.2} s = {rate:.0} changes/s, \
             {:.0} transactions/s ({} client(s), keep-alive), {} errors",
            a.batch,
            n as f64 / elapsed,
            a.clients,
            all.errors
        );
        println!(
            "latency of a transaction, request→reply (reply after publish): p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
        println!("packets forwarded by the VRs meanwhile: {fwd}");
    }
    if let Some(e) = all.first_error {
        return Err(format!("{} change(s) failed; first: {e}", all.errors));
    }
    Ok(())
}

/// Adds `batch` routes in one transaction, deletes them in the next, and again, until
/// `stop`; returns each transaction's time.
fn churn(client: &Client, vr: &str, via: &str, base: u32, batch: u32, stop: &AtomicBool) -> Worker {
    let mut w = Worker::default();
    let mut k = 0u32;
    let one = |changes: Vec<serde_json::Value>, w: &mut Worker| {
        let n = changes.len() as u64;
        let body = json!({ "changes": changes });
        let t = Instant::now();
        let r = client.request(Method::Post, "/api/v1/transaction", Some(&body));
        let ns = t.elapsed().as_nanos() as u64;
        match r {
            Ok(_) => {
                w.latencies_ns.push(ns);
                w.changes += n;
            }
            Err(e) => {
                w.errors += 1;
                if w.first_error.is_none() {
                    w.first_error = Some(e.to_string());
                }
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let first = base + (k % 16) * batch;
        k = k.wrapping_add(1);
        let prefixes: Vec<String> = (0..batch)
            .map(|i| format!("{}/32", Ipv4Addr::from(first + i)))
            .collect();
        one(
            prefixes
                .iter()
                .map(|p| json!({"op": "add_route", "vr": vr, "route": {"prefix": p, "via": via}}))
                .collect(),
            &mut w,
        );
        one(
            prefixes
                .iter()
                .map(|p| json!({"op": "delete_route", "vr": vr, "prefix": p}))
                .collect(),
            &mut w,
        );
        if w.errors > 100 {
            break;
        }
    }
    w
}
