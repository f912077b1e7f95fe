//! `varouter bench aaa`: registrations per second through the mobile VPN's home AAA (seed
//! 003, issue 16) with its VPN database on SQLite and on PostgreSQL.
//!
//! **What runs.** For each `--db` in turn, in one process:
//!
//! * the database gets `--users` generated users (one VPN profile each, half on the SLA's
//!   default SA towards a static enterprise gateway — Fig. 13 S113, two tunnels — and half
//!   with their own SA behind a dynamic gateway — S112, keys generated, S108), imported in one
//!   transaction;
//! * **the AAAH under test** is the appliance's own AAA thread ([`crate::aaa::start`]): the
//!   Home engine on the Diameter peer engine and TCP driver, reading the database on its
//!   thread, listening on `--listen` (loopback);
//! * **the load** runs on this thread with the client-side engines of `controlplane::aaa`:
//!   a home agent ([`HaClient`], its own Diameter connection, answering every HAR with HAA
//!   2001) and `--clients` foreign agents ([`FaClient`], one connection each), each keeping
//!   `--window` AMRs outstanding (a closed loop: concurrency = clients × window). Each user
//!   belongs to one FA; an FA sends its users' AMRs round robin, each with a valid MN-AAA
//!   authenticator (RFC 3012 §8, with an FA challenge) checked by the AAAH.
//!
//! With `--ha mip` the HARs are answered by the Mobile IPv4 home agent itself
//! (`controlplane::mip::ha::Ha`, with an in-process PCN answering its Binding Updates for the
//! dynamic-GW half of the users), so HA + AAAH are measured; its counters go to stderr.
//!
//! Every transaction is AMR → database lookup → HAR → HAA → AMA. With `--path lookup`
//! (default) each AMR carries the vendor Service-Update flag (Fig. 30), so the AAAH reads the
//! database for every AMR even for a user it has cached; `--path cache` measures
//! re-registrations served from the AAAH's session cache (the first AMR of each user reads
//! the database). The AAAH's own counters (lookups, cache hits, HARs) are printed to show the
//! path taken.
//!
//! **What is measured**, after `--warmup` seconds, over `--seconds`: AMAs received per second
//! with Result-Code 2001 (transactions/s), the latency AMR sent → AMA received (p50, p99,
//! max; of AMAs received in the window), AMAs by Result-Code and failures (timeouts, not
//! delivered). Beside it, in the same run, the **database alone**: the time of the AAAH's
//! lookup ([`subscriber_from_store`], one transaction reading the user's profiles, SLAs and
//! CN → GW rows) called directly in a loop on this thread, p50 and p99, after one untimed
//! pass over every user (which clears the service-update marks the import set, as the
//! warm-up does for the AAAH).
//!
//! Limits: the load generator, the HA and the AAAH share the machine (and the database
//! server, for PostgreSQL); the Diameter driver polls its sockets (no readiness API), so an
//! idle AAA thread sleeps up to [`crate::aaa::IDLE_SLEEP`] between polls, which adds up to
//! that to a transaction that finds it idle (not under load).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use controlplane::aaa::client::{FaClient, FaEvent, HaClient, HaDecision};
use controlplane::aaa::driver::Node;
use controlplane::aaa::home::subscriber_from_store;
use controlplane::aaa::{mn_aaa_registration, Token};
use controlplane::diameter::mip4::{self, Amr, MnAaaAuth, Route};
use controlplane::diameter::peer::Config as PeerConfig;
use controlplane::diameter::wire as mip4_msg;
use controlplane::diameter::wire::codes::{mip_feature, result};
use serde_json::json;
use vpndb::model::{
    AddrMask, CnGwEntry, GwType, KeyBytes, Nai, Qos, SaKeys, SecurityType, Sla, VpnDocument,
    VpnProfile, VpnShare,
};

use crate::aaa::{AaaConfig, AaaRole, AaaStats};

/// Which AAAH path each AMR takes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathMode {
    /// Every AMR reads the database (Service-Update set).
    Lookup,
    /// Re-registrations from the AAAH's session cache.
    Cache,
}

/// Which home agent answers the AAAH's HARs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaMode {
    /// `HaClient` answering every HAR with HAA 2001 (the AAAH alone is measured).
    Stub,
    /// The Mobile IPv4 home agent (`controlplane::mip::ha::Ha`: Identification check,
    /// binding table, tunnel events, BUs to an in-process PCN for dynamic-GW users): HA +
    /// AAAH are measured. Each AMR then carries a fresh Identification and MN-AAA.
    Mip,
}

/// Options of `varouter bench aaa`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A VPN database to measure: `sqlite:PATH` or `postgres:URL` (`postgres://...` also
    /// accepted). Repeat to measure several in one run, one after the other. The users are
    /// written into it (existing profiles with the same numbers are replaced).
    #[arg(long = "db", required = true)]
    pub dbs: Vec<String>,
    /// Generated users (one profile each).
    #[arg(long, default_value_t = 2000)]
    pub users: u32,
    /// Concurrent FA clients (one Diameter connection each).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// AMRs each FA keeps outstanding.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Measured seconds per database.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured seconds before.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// The AAAH path (see the module docs).
    #[arg(long, value_enum, default_value_t = PathMode::Lookup)]
    pub path: PathMode,
    /// The home agent (see [`HaMode`]).
    #[arg(long, value_enum, default_value_t = HaMode::Stub)]
    pub ha: HaMode,
    /// Where the AAAH listens (loopback).
    #[arg(long, default_value = "127.0.0.1:18190")]
    pub listen: SocketAddr,
    /// Direct lookups timed for the database-alone baseline.
    #[arg(long, default_value_t = 2000)]
    pub baseline_lookups: u32,
    /// Do not write sessions into the database's `vpn_session` table (the appliance does by
    /// default: two more writes per transaction, the new session's and the replaced one's).
    #[arg(long)]
    pub no_record_sessions: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Exit with an error unless every database had at least this many successful
    /// transactions in the measured window.
    #[arg(long, default_value_t = 1)]
    pub min_success: u64,
}

const REALM: &str = "bench.example";
const VISITED: &str = "visited.example";
const AAAH_HOST: &str = "aaah.bench.example";
const HA_HOST: &str = "ha.bench.example";
const HA_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const STATIC_GW: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PCN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// Answer timeout of the FAs.
const FA_TIMEOUT: Duration = Duration::from_secs(10);

/// The FA challenge the load generator's mobile nodes echo (RFC 3012 MN-AAA needs one).
const BENCH_CHALLENGE: &[u8] = b"bench-fa-challenge";

/// The NAI of generated user `i` (1-based).
pub fn nai(i: u32) -> String {
    format!("user{i}@{REALM}")
}

/// The MN-AAA key of generated user `i`.
pub fn mn_key(i: u32) -> KeyBytes {
    KeyBytes::new(format!("bench-mn-aaa-{i:08}").into_bytes())
}

/// The generated database: two SLAs and `users` profiles (see the module docs).
pub fn document(users: u32) -> VpnDocument {
    let key = |b: u8, n: usize| KeyBytes::new(vec![b; n]);
    let sla = |name: &str, spi: u32| Sla {
        name: name.into(),
        up_spi: spi,
        down_spi: spi + 1,
        keys: SaKeys {
            up_enc: key(1, 16),
            down_enc: key(2, 16),
            up_auth: key(3, 20),
            down_auth: key(4, 20),
        },
        qos: Qos {
            up_tos: 0x28,
            down_tos: 0x28,
        },
        security: SecurityType::Esp,
        domain: vec![],
        users: vec![],
    };
    let mut doc = VpnDocument {
        slas: vec![sla("bench-static", 4096), sla("bench-dynamic", 8192)],
        cn_gw: vec![
            CnGwEntry {
                cn: "10.10.0.0/16".parse().expect("literal"),
                gw: STATIC_GW,
                gw_type: GwType::Static,
            },
            CnGwEntry {
                cn: "10.20.0.0/16".parse().expect("literal"),
                gw: PCN,
                gw_type: GwType::Dynamic,
            },
        ],
        profiles: Vec::with_capacity(users as usize),
    };
    for i in 1..=users {
        let own = i % 2 == 0;
        let third = (i % 256) as u8;
        let dest = if own {
            AddrMask::new(
                Ipv4Addr::new(10, 20, third, 0),
                Ipv4Addr::new(255, 255, 255, 0),
            )
        } else {
            AddrMask::new(
                Ipv4Addr::new(10, 10, third, 0),
                Ipv4Addr::new(255, 255, 255, 0),
            )
        }
        .expect("a /24 mask");
        doc.profiles.push(VpnProfile {
            profile_number: i,
            nai: Nai::parse(&nai(i)).expect("generated NAI"),
            sla: if own { "bench-dynamic" } else { "bench-static" }.into(),
            vpnshare: if own { VpnShare::Own } else { VpnShare::Shared },
            destinations: vec![dest],
            up_class: None,
            down_class: None,
            up_spi: own.then_some(0x10000 + 2 * i),
            down_spi: own.then_some(0x10001 + 2 * i),
        });
    }
    doc
}

/// `postgres:URL` → `URL`; other forms unchanged.
fn store_url(db: &str) -> String {
    match db.strip_prefix("postgres:") {
        Some(rest) if !rest.starts_with("//") => rest.to_string(),
        _ => db.to_string(),
    }
}

/// One database's results.
#[derive(Debug, Clone, Default)]
pub struct DbResult {
    /// The `--db` argument.
    pub db: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Seconds measured.
    pub seconds: f64,
    /// AMAs with 2001 in the window.
    pub success: u64,
    /// AMAs by Result-Code in the window.
    pub by_result: BTreeMap<u32, u64>,
    /// FA-side failures (timeout, not delivered) in the window.
    pub failures: BTreeMap<String, u64>,
    /// Latencies of the window's AMAs, sorted (µs).
    pub latency_us: Vec<u64>,
    /// The database alone: lookup times (µs), sorted.
    pub lookup_us: Vec<u64>,
    /// The AAAH's counters at the end.
    pub aaah: AaaStats,
}

impl DbResult {
    fn tps(&self) -> f64 {
        self.success as f64 / self.seconds.max(1e-9)
    }
}

fn pct(v: &[u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn peer_cfg(host: &str, realm: &str) -> PeerConfig {
    let mut c = PeerConfig::new(host, realm);
    c.known_avp = mip4::known_avp;
    c.supported_vendor_ids = vec![mip4::VENDOR_ID];
    c.product_name = "varouter-bench-aaa".into();
    c
}

struct Fa {
    node: Node<FaClient>,
    /// The users of this FA: (user number, MIP-Reg-Request, MIP-MN-AAA-Auth).
    users: Vec<(u32, Vec<u8>, MnAaaAuth)>,
    next: usize,
    seq: u64,
    outstanding: HashMap<Token, Instant>,
}

/// The home agent under load: the stub or the real engine with an in-process PCN.
enum BenchHa {
    Stub(Box<HaClient>),
    Mip(Box<MipHa>),
}

/// `mip::ha::Ha` on the Diameter driver; its datagrams to the PCN go to an in-process
/// `mip::pcn::Pcn` and back (no sockets), tunnel events are counted.
struct MipHa {
    ha: controlplane::mip::ha::Ha,
    pcn: controlplane::mip::pcn::Pcn,
    out: std::collections::VecDeque<controlplane::aaa::Output>,
    tunnel_events: u64,
}

impl MipHa {
    fn new(clock: controlplane::mip::wire::ntp::NtpClock) -> Self {
        use controlplane::mip::{ha, pcn, Sa};
        let sa = Sa {
            spi: 300,
            key: b"bench ha-pcn key".to_vec(),
        };
        let mut cfg = ha::HaConfig::new(HA_ADDR, HA_HOST, REALM, clock);
        cfg.max_lifetime = 3600;
        let mut h = ha::Ha::new(cfg);
        h.set_pcn(PCN, sa.clone());
        let mut p = pcn::Pcn::new(pcn::PcnConfig::new(PCN, clock));
        p.set_peer(HA_ADDR, sa);
        MipHa {
            ha: h,
            pcn: p,
            out: std::collections::VecDeque::new(),
            tunnel_events: 0,
        }
    }

    fn pump(&mut self, now: Instant) {
        use controlplane::mip::Output as M;
        loop {
            let mut moved = false;
            while let Some(o) = self.ha.poll_output() {
                moved = true;
                match o {
                    M::Aaa(a) => self.out.push_back(a),
                    M::Send { to, bytes } if *to.ip() == PCN => self.pcn.handle_datagram(
                        now,
                        std::net::SocketAddrV4::new(HA_ADDR, 434),
                        &bytes,
                    ),
                    M::Send { .. } => {}
                    M::Tunnel(_) => self.tunnel_events += 1,
                    M::Replay { .. } => {}
                }
            }
            while let Some(o) = self.pcn.poll_output() {
                moved = true;
                match o {
                    M::Send { bytes, .. } => {
                        self.ha
                            .handle_datagram(now, std::net::SocketAddrV4::new(PCN, 434), &bytes)
                    }
                    M::Tunnel(_) => self.tunnel_events += 1,
                    M::Aaa(_) | M::Replay { .. } => {}
                }
            }
            if !moved {
                return;
            }
        }
    }
}

impl controlplane::aaa::driver::Engine for BenchHa {
    fn handle_request(
        &mut self,
        now: Instant,
        req: controlplane::aaa::ReqId,
        msg: mip4_msg::Message,
    ) {
        match self {
            BenchHa::Stub(h) => h.handle_request(now, req, msg),
            BenchHa::Mip(m) => {
                m.ha.handle_diameter_request(now, req, msg);
                m.pump(now);
            }
        }
    }
    fn handle_answer(&mut self, _now: Instant, _token: Token, _msg: mip4_msg::Message) {}
    fn handle_send_failed(&mut self, _now: Instant, _token: Token) {}
    fn handle_lookup(
        &mut self,
        _now: Instant,
        _token: Token,
        _sub: Option<controlplane::aaa::home::Subscriber>,
    ) {
    }
    fn poll_output(&mut self) -> Option<controlplane::aaa::Output> {
        match self {
            BenchHa::Stub(h) => h.poll_output(),
            BenchHa::Mip(m) => m.out.pop_front(),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            BenchHa::Stub(_) => None,
            BenchHa::Mip(m) => [m.ha.poll_timeout(), m.pcn.poll_timeout()]
                .into_iter()
                .flatten()
                .min(),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if let BenchHa::Mip(m) = self {
            m.ha.handle_timeout(now);
            m.pcn.handle_timeout(now);
            m.pump(now);
        }
    }
}

/// Runs the benchmark; the error is the message to print.
pub fn run(a: Args) -> Result<(), String> {
    if a.clients == 0 || a.window == 0 || a.users == 0 {
        return Err("--clients, --window and --users must be at least 1".into());
    }
    if (a.users as usize) < a.clients * a.window {
        return Err(format!(
            "--users {} is below clients x window = {}: two AMRs of one user would be in flight at once",
            a.users,
            a.clients * a.window
        ));
    }
    if !a.listen.ip().is_loopback() {
        return Err(format!("--listen {} is not a loopback address", a.listen));
    }
    let mut results = Vec::new();
    for db in &a.dbs {
        eprintln!(
            "bench aaa: {db}: {} users, {} clients x {} window",
            a.users, a.clients, a.window
        );
        results.push(run_one(&a, db)?);
    }
    if a.json {
        let rows: Vec<_> = results
            .iter()
            .map(|r| {
                json!({
                    "db": r.db,
                    "backend": r.backend,
                    "seconds": r.seconds,
                    "transactions_per_second": r.tps(),
                    "success": r.success,
                    "latency_us": {
                        "p50": pct(&r.latency_us, 0.5),
                        "p99": pct(&r.latency_us, 0.99),
                        "max": r.latency_us.last().copied().unwrap_or(0),
                    },
                    "answers_by_result_code": r.by_result.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    "failures": r.failures,
                    "database_lookup_alone_us": {
                        "n": r.lookup_us.len(),
                        "p50": pct(&r.lookup_us, 0.5),
                        "p99": pct(&r.lookup_us, 0.99),
                    },
                    "aaah": {
                        "requests": r.aaah.requests,
                        "answers_by_result_code": r.aaah.answers_by_result.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                        "lookups": r.aaah.lookups,
                        "lookup_errors": r.aaah.lookup_errors,
                        "sessions_recorded": r.aaah.sessions_recorded,
                        "sessions_ended": r.aaah.sessions_ended,
                        "session_record_errors": r.aaah.session_record_errors,
                        "session_records_dropped": r.aaah.session_records_dropped,
                        "session_batches": r.aaah.session_batches,
                        "engine": r.aaah.engine.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    },
                })
            })
            .collect();
        let out = json!({
            "users": a.users,
            "clients": a.clients,
            "window": a.window,
            "path": format!("{:?}", a.path).to_lowercase(),
            "record_sessions": !a.no_record_sessions,
            "results": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", table(&a, &results));
    }
    for r in &results {
        if r.success < a.min_success {
            return Err(format!(
                "{}: {} successful transactions, fewer than --min-success {} (answers {:?}, failures {:?})",
                r.db, r.success, a.min_success, r.by_result, r.failures
            ));
        }
    }
    Ok(())
}

fn table(a: &Args, rs: &[DbResult]) -> String {
    let mut s = format!(
        "AMR -> lookup -> HAR -> HAA -> AMA through the AAAH ({} users, {} FA clients x {} outstanding, path {:?}, sessions {}recorded, {:.1} s)\n",
        a.users,
        a.clients,
        a.window,
        a.path,
        if a.no_record_sessions { "not " } else { "" },
        a.seconds
    );
    let _ = writeln!(
        s,
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>22} {:>17} {:>12}",
        "database",
        "trans/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ok",
        "errors",
        "lookup alone p50/p99 us",
        "lookups/AMR"
    );
    for r in rs {
        let errors: Vec<String> = r
            .by_result
            .iter()
            .filter(|(c, _)| **c != result::SUCCESS)
            .map(|(c, n)| format!("{c}:{n}"))
            .chain(r.failures.iter().map(|(w, n)| format!("{w}:{n}")))
            .collect();
        let rx_amr = r
            .aaah
            .engine
            .iter()
            .find(|(k, _)| *k == "rx_amr")
            .map_or(0, |x| x.1);
        let ms = |us: u64| us as f64 / 1000.0;
        let _ = writeln!(
            s,
            "{:<10} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>22} {:>17} {:>12.2}",
            r.backend,
            r.tps(),
            ms(pct(&r.latency_us, 0.5)),
            ms(pct(&r.latency_us, 0.99)),
            ms(r.latency_us.last().copied().unwrap_or(0)),
            r.success,
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(" ")
            },
            format!("{}/{}", pct(&r.lookup_us, 0.5), pct(&r.lookup_us, 0.99)),
            r.aaah.lookups as f64 / rx_amr.max(1) as f64,
        );
    }
    for r in rs {
        let _ = writeln!(s, "{}: {}", r.backend, crate::aaa::stats_line(&r.aaah));
    }
    s
}

fn run_one(a: &Args, db: &str) -> Result<DbResult, String> {
    let url = store_url(db);
    let doc = document(a.users);
    let mut store = vpndb::open(&url).map_err(|e| format!("{db}: {e}"))?;
    let backend = store.backend();
    store
        .import("bench-aaa", &doc)
        .map_err(|e| format!("{db}: import: {e}"))?;
    // The database alone, on this thread: the AAAH's lookup, back to back. A first pass over
    // every user (not timed) clears the service-update marks the import set, so the timed
    // pass reads as the AAAH's lookups do in the measured window (steady state).
    for i in 1..=a.users {
        subscriber_from_store(store.as_mut(), &nai(i), None)
            .map_err(|e| format!("{db}: lookup: {e}"))?;
    }
    let mut lookup_us = Vec::with_capacity(a.baseline_lookups as usize);
    for k in 0..a.baseline_lookups {
        let i = 1 + k % a.users;
        let t = Instant::now();
        let sub = subscriber_from_store(store.as_mut(), &nai(i), Some(mn_key(i)))
            .map_err(|e| format!("{db}: lookup: {e}"))?;
        lookup_us.push(t.elapsed().as_micros() as u64);
        if sub.is_none() {
            return Err(format!("{db}: user {} missing after the import", nai(i)));
        }
    }
    lookup_us.sort_unstable();
    drop(store);

    // The AAAH under test: the appliance's AAA thread.
    let mut cfg = AaaConfig::new(AaaRole::Home, a.listen, AAAH_HOST, REALM);
    cfg.database = Some(url.clone());
    cfg.ha_host = Some(HA_HOST.into());
    cfg.mn_aaa_keys = (1..=a.users).map(|i| (nai(i), mn_key(i))).collect();
    cfg.max_sessions = (a.users as usize).max(1) * 2;
    cfg.record_sessions = !a.no_record_sessions;
    let aaah = crate::aaa::start(&cfg).map_err(|e| format!("{db}: {e}"))?;
    let target = aaah.local_addr();

    // The load: one HA and K FAs on this thread.
    let now = Instant::now();
    // The MN and HA clocks: NTP from the wall clock, taken once (Identification, §5.7).
    let ntp = controlplane::mip::wire::ntp::NtpClock {
        epoch: now,
        epoch_ntp: {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            controlplane::mip::wire::ntp::to_ntp_duration(unix + Duration::from_secs(2_208_988_800))
        },
    };
    let mut ha = Node::new(
        match a.ha {
            HaMode::Stub => BenchHa::Stub(Box::new(HaClient::new(
                HA_HOST,
                REALM,
                HA_ADDR,
                Box::new(|h| HaDecision {
                    result_code: result::SUCCESS,
                    // A Registration Reply (type 3, code 0 accepted) for the mobile node.
                    reg_reply: Some(vec![3, 0, 0x0e, 0x10]),
                    mn_address: h.mn_address,
                    old_fa: None,
                }),
            ))),
            HaMode::Mip => BenchHa::Mip(Box::new(MipHa::new(ntp))),
        },
        peer_cfg(HA_HOST, REALM),
        None,
        Box::new(|_| Ok(None)),
    )
    .map_err(|e| e.to_string())?;
    ha.connect(target, Duration::from_secs(1), now);
    let mut fas: Vec<Fa> = Vec::with_capacity(a.clients);
    for k in 0..a.clients {
        let host = format!("fa{k}.{VISITED}");
        let coa = Ipv4Addr::from(u32::from(Ipv4Addr::new(192, 0, 2, 0)) + 1 + k as u32);
        let mut node = Node::new(
            // The FA's AAA is the AAAH here (no AAAF in between): route by its realm.
            FaClient::new(&host, REALM, FA_TIMEOUT),
            peer_cfg(&host, VISITED),
            None,
            Box::new(|_| Ok(None)),
        )
        .map_err(|e| e.to_string())?;
        node.connect(target, Duration::from_secs(1), now);
        let users = (1..=a.users)
            .filter(|i| (*i as usize - 1) % a.clients == k)
            .map(|i| {
                let home = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 0)) + i);
                let (reg, auth) = mn_aaa_registration(
                    home,
                    HA_ADDR,
                    coa,
                    3600,
                    u64::from(i),
                    &nai(i),
                    BENCH_CHALLENGE,
                    256,
                    mn_key(i).as_bytes(),
                );
                (i, reg, auth)
            })
            .collect();
        fas.push(Fa {
            node,
            users,
            next: 0,
            seq: 0,
            outstanding: HashMap::new(),
        });
    }
    let up_by = Instant::now() + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        ha.poll(now);
        for f in &mut fas {
            f.node.poll(now);
        }
        let all_up =
            ha.open_peers().len() == 1 && fas.iter_mut().all(|f| f.node.open_peers().len() == 1);
        if all_up {
            break;
        }
        if now > up_by {
            return Err(format!(
                "{db}: the Diameter connections to the AAAH at {target} did not all open within 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut res = DbResult {
        db: db.to_string(),
        backend,
        lookup_us,
        ..DbResult::default()
    };
    let warm_end = Instant::now() + Duration::from_secs_f64(a.warmup.max(0.0));
    let end = warm_end + Duration::from_secs_f64(a.seconds.max(0.01));
    let service_update = a.path == PathMode::Lookup;
    let mut idle = 0u32;
    loop {
        let now = Instant::now();
        let sending = now < end;
        let mut progress = false;
        for (k, f) in fas.iter_mut().enumerate() {
            while sending && f.outstanding.len() < a.window {
                let (i, reg, auth) = &f.users[f.next];
                f.next = (f.next + 1) % f.users.len();
                // The real HA refuses a repeated Identification: a fresh request each time.
                let fresh = (a.ha == HaMode::Mip).then(|| {
                    let info = mip4::RegRequestInfo::parse(reg).expect("our request");
                    mn_aaa_registration(
                        info.home_address,
                        HA_ADDR,
                        info.care_of_address,
                        3600,
                        ntp.at(now),
                        &nai(*i),
                        BENCH_CHALLENGE,
                        256,
                        mn_key(*i).as_bytes(),
                    )
                });
                let (reg, auth) = match &fresh {
                    Some((r, x)) => (r, x),
                    None => (reg, auth),
                };
                f.seq += 1;
                let amr = Amr {
                    session_id: format!("fa{k}.{VISITED};{};{}", f.seq, i),
                    route: Route {
                        origin_host: format!("fa{k}.{VISITED}"),
                        origin_realm: VISITED.into(),
                        destination_realm: REALM.into(),
                        destination_host: None,
                    },
                    user_name: nai(*i),
                    reg_request: reg.clone(),
                    mn_aaa_auth: *auth,
                    mn_address: None,
                    ha_address: Some(HA_ADDR),
                    feature_vector: Some(mip_feature::FA_HA_KEY_REQUEST),
                    originating_foreign_aaa: None,
                    authorization_lifetime: None,
                    auth_session_state: None,
                    ha_to_fa_spi: None,
                    old_fa: None,
                    service_update,
                    route_record: vec![],
                };
                let t = f.node.engine_mut().send_amr(now, &amr);
                f.outstanding.insert(t, now);
                progress = true;
            }
        }
        ha.poll(now);
        for f in &mut fas {
            f.node.poll(now);
            let done = Instant::now();
            while let Some(ev) = f.node.engine_mut().poll_event() {
                progress = true;
                let (token, outcome) = match ev {
                    FaEvent::Answer { token, ama } => (token, Ok(ama.result_code)),
                    FaEvent::Failed { token, why } => (token, Err(why)),
                };
                let Some(sent) = f.outstanding.remove(&token) else {
                    continue;
                };
                if done < warm_end || done >= end {
                    continue;
                }
                match outcome {
                    Ok(code) => {
                        *res.by_result.entry(code).or_default() += 1;
                        if code == result::SUCCESS {
                            res.success += 1;
                        }
                        res.latency_us
                            .push(done.duration_since(sent).as_micros() as u64);
                    }
                    Err(why) => *res.failures.entry(why).or_default() += 1,
                }
            }
        }
        if !sending && fas.iter().all(|f| f.outstanding.is_empty()) {
            break;
        }
        if now > end + FA_TIMEOUT + Duration::from_secs(1) {
            // The FAs' own timeouts have reported every AMR by now.
            break;
        }
        if progress {
            idle = 0;
        } else {
            idle += 1;
            if idle > 64 {
                std::thread::sleep(Duration::from_micros(50));
            } else {
                std::thread::yield_now();
            }
        }
    }
    res.seconds = a.seconds.max(0.01);
    res.latency_us.sort_unstable();
    // Let the AAAH publish what it counted, then stop it.
    res.aaah = aaah.stop();
    if let BenchHa::Mip(m) = ha.engine_mut() {
        // On stderr: the JSON on stdout keeps its shape.
        eprintln!(
            "{db}: HA (mip): {} bindings, {} PCN entries, {} tunnel events, {:?}",
            m.ha.binding_count(),
            m.pcn.entries().count(),
            m.tunnel_events,
            m.ha.counters()
        );
    }
    Ok(res)
}
