//! The mobile VPN's AAA in the appliance (seed 003, issue 16): the home AAA (AAAH) or the
//! foreign AAA (AAAF) of `controlplane::aaa` on Diameter over TCP, run on **its own thread**
//! (never a worker core, never the control core's loop), as the profile's `aaa:` section
//! describes it (docs/profile.md, docs/mobile-vpn.md).
//!
//! The AAAH reads each user's VPN data from the VPN database (`vpndb`, SQLite or
//! PostgreSQL) on this thread: a lookup blocks only the AAA thread, so a slow database slows
//! registrations and never the packet path. A lookup the database cannot answer is answered
//! DIAMETER_UNABLE_TO_COMPLY (5012) and counted (`lookup_errors`). MN-AAA keys (the secret
//! each mobile node shares with its home AAA) are not in the VPN database: they come from the
//! `mn_aaa_keys` file, loaded when the profile is checked.
//!
//! The thread polls its connections (the Diameter TCP driver has no readiness API): without
//! work for [`SPIN_POLLS`] polls in a row it sleeps [`IDLE_SLEEP`] (or until the next timer),
//! so an idle AAA costs next to no CPU and a busy one answers without sleeping. Its counters
//! ([`AaaStats`]: requests, answers by Result-Code, sessions, peers up, the engine's own) are
//! published every [`STATS_EVERY`] for the appliance's stats line, its summary and the
//! management API's `/metrics`.
//!
//! With `record_sessions` (the default for a home AAA) each session it answers 2001 is
//! written into the database's `vpn_session` table (one row per VPN data instance: the
//! tunnel that reaches the destination's gateway, Fig. 13) and its rows are deleted when the
//! session ends (expired, replaced by the user's next session, refused on re-registration):
//! the current tunnels the web page of Fig. 30 shows a user. These writes are OFF the
//! registration path: the AAA thread queues them (bounded, never waiting) for the session
//! writer ([`sessions`]), a thread with its own database connection that writes them in
//! batches, one transaction each. A full queue drops and counts (`session_records_dropped`),
//! a failed write is counted (`session_record_errors`) and logged; the registration is
//! answered all the same. On stop the writer writes what is queued. Rows of sessions alive
//! when the AAA stops stay until their `expires_at` (the tunnels at the agents live that
//! long too).
//!
//! `varouter bench aaa` ([`crate::bench::aaa`]) measures this same thread.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use controlplane::aaa::driver::{Engine, Lookup, Node};
use controlplane::aaa::foreign::{Foreign, ForeignConfig};
use controlplane::aaa::home::{
    subscriber_from_store, Home, HomeConfig, Session, SessionEvent, Subscriber,
};
use controlplane::diameter::mip4;
use controlplane::diameter::peer::Config as PeerConfig;
use rand::rngs::StdRng;
use vpndb::model::{KeyBytes, VpnSession};
use vpndb::VpnStore;

pub mod sessions;
use sessions::{SessionWriter, SESSION_BATCH, SESSION_QUEUE};

/// Polls without work before the thread starts sleeping.
pub const SPIN_POLLS: u32 = 64;
/// How long an idle AAA thread sleeps between polls (at most).
pub const IDLE_SLEEP: Duration = Duration::from_micros(200);
/// How often the thread publishes its counters.
pub const STATS_EVERY: Duration = Duration::from_millis(100);
/// Reconnection delay (RFC 6733 Tc) of the configured peers.
pub const RECONNECT: Duration = Duration::from_secs(5);

/// AAAH or AAAF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AaaRole {
    /// The home AAA: users, VPN database, HAR to the home agents.
    Home,
    /// The foreign AAA: forwards AMRs home, answers intra-domain moves from its cache.
    Foreign,
}

impl AaaRole {
    /// `home` or `foreign`.
    pub fn name(self) -> &'static str {
        match self {
            AaaRole::Home => "home",
            AaaRole::Foreign => "foreign",
        }
    }
}

/// The AAA of a profile (the `aaa:` section, checked).
#[derive(Debug, Clone, PartialEq)]
pub struct AaaConfig {
    /// AAAH or AAAF.
    pub role: AaaRole,
    /// Where FAs, AAAFs and HAs connect.
    pub listen: SocketAddr,
    /// Our Diameter identity.
    pub origin_host: String,
    /// Our realm.
    pub origin_realm: String,
    /// Peers we keep a connection to (the HAs for an AAAH, the home AAAH for an AAAF).
    pub peers: Vec<SocketAddr>,
    /// The VPN database (`sqlite:PATH` or `postgres://...`), AAAH only.
    pub database: Option<String>,
    /// MN-AAA keys by NAI (AAAH only).
    pub mn_aaa_keys: HashMap<String, KeyBytes>,
    /// Refuse users without an MN-AAA key (AAAH).
    pub require_mn_aaa_auth: bool,
    /// Destination-Host of HARs (the home agent's Diameter identity), AAAH.
    pub ha_host: Option<String>,
    /// Authorization-Lifetime granted, seconds (AAAH); also how long a session stays cached.
    pub authorization_lifetime: u32,
    /// How long one transaction (lookup + HAR, or the home AAA's answer) may take.
    pub transaction_timeout: Duration,
    /// Most transactions in progress (more are answered 3004).
    pub max_transactions: usize,
    /// Most cached sessions (AAAH) or cache entries (AAAF).
    pub max_sessions: usize,
    /// AAAH: write sessions into the database's `vpn_session` table (the web page's current
    /// tunnels).
    pub record_sessions: bool,
    /// AAAH: authorize users with no VPN for plain Mobile IP (else 5003).
    pub plain_mobile_ip: bool,
}

impl AaaConfig {
    /// A configuration with the defaults of the profile's optional keys.
    pub fn new(role: AaaRole, listen: SocketAddr, origin_host: &str, origin_realm: &str) -> Self {
        AaaConfig {
            role,
            listen,
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            peers: Vec::new(),
            database: None,
            mn_aaa_keys: HashMap::new(),
            require_mn_aaa_auth: true,
            ha_host: None,
            authorization_lifetime: 3600,
            transaction_timeout: Duration::from_secs(10),
            max_transactions: 4096,
            max_sessions: 100_000,
            record_sessions: true,
            plain_mobile_ip: false,
        }
    }
}

/// The AAA's counters, as last published by its thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AaaStats {
    /// `home` or `foreign`.
    pub role: &'static str,
    /// Diameter requests received (AMRs, HARs, anything of the application).
    pub requests: u64,
    /// Answers sent.
    pub answers: u64,
    /// Answers sent, by Result-Code.
    pub answers_by_result: BTreeMap<u32, u64>,
    /// Requests sent (HARs, AMRs forwarded home).
    pub requests_out: u64,
    /// Answers received to them.
    pub answers_in: u64,
    /// Requests we could not route (no open peer of the realm / host).
    pub no_route: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Database lookups made, and those that failed.
    pub lookups: u64,
    /// See `lookups`.
    pub lookup_errors: u64,
    /// Sessions (AAAH) or cache entries (AAAF).
    pub sessions: u64,
    /// Transactions in progress.
    pub pending: u64,
    /// Peers with an open Diameter connection.
    pub peers_up: u64,
    /// Session rows written to `vpn_session` by the session writer, sessions ended there,
    /// changes the database refused, changes dropped because the writer's queue was full,
    /// and the writer's transactions (batches).
    pub sessions_recorded: u64,
    /// See `sessions_recorded`.
    pub sessions_ended: u64,
    /// See `sessions_recorded`.
    pub session_record_errors: u64,
    /// See `sessions_recorded`.
    pub session_records_dropped: u64,
    /// See `sessions_recorded`.
    pub session_batches: u64,
    /// The engine's own counters, by name.
    pub engine: Vec<(&'static str, u64)>,
}

/// What a running AAA thread leaves to the appliance.
pub struct AaaHandle {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<AaaStats>>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
}

impl AaaHandle {
    /// The counters as last published (at most [`STATS_EVERY`] old).
    pub fn stats(&self) -> AaaStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
    /// A shared view of the counters (for the management API's thread).
    pub fn stats_ref(&self) -> Arc<Mutex<AaaStats>> {
        self.stats.clone()
    }
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    /// Stops the thread and returns its final counters.
    pub fn stop(mut self) -> AaaStats {
        self.shutdown();
        self.stats()
    }
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("AAA thread panicked");
            }
        }
    }
}

impl Drop for AaaHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn peer_config(cfg: &AaaConfig) -> PeerConfig {
    let mut c = PeerConfig::new(&cfg.origin_host, &cfg.origin_realm);
    c.known_avp = mip4::known_avp;
    c.supported_vendor_ids = vec![mip4::VENDOR_ID];
    c.product_name = "varouter-aaa".into();
    c
}

/// The VPN database connection of the AAA thread's lookups (only that thread uses it, so the
/// lock is never contended; the session writer has a connection of its own).
pub type SharedStore = Arc<Mutex<Box<dyn VpnStore>>>;

/// The lookup of an AAAH on `store`. With `plain` (`aaa.plain_mobile_ip`), an NAI that has
/// an MN-AAA key but no VPN in the database is a known user with no VPN (authenticated by its
/// key, then authorized for plain Mobile IP); without a key it stays unknown (4001).
pub fn database_lookup(store: SharedStore, keys: HashMap<String, KeyBytes>, plain: bool) -> Lookup {
    Box::new(move |nai: &str| {
        let mut g = store
            .lock()
            .map_err(|_| "the VPN database connection was poisoned".to_string())?;
        let key = keys.get(nai).cloned();
        match subscriber_from_store(g.as_mut(), nai, key.clone()).map_err(|e| e.to_string())? {
            None if plain && key.is_some() => Ok(Some(Subscriber {
                mn_aaa_key: key,
                ..Subscriber::default()
            })),
            s => Ok(s),
        }
    })
}

/// The `vpn_session` rows of a session: per VPN data instance, the tunnel that reaches the
/// destination's gateway (HA → VPNGW for a static gateway, FA → PCN for a dynamic one, else
/// FA → HA). Tunnels without SPIs (encapsulation only) have no row: the table requires them.
pub fn session_rows(s: &Session, created_at: i64, expires_at: i64) -> Vec<VpnSession> {
    let mut rows: Vec<VpnSession> = Vec::new();
    for p in &s.entry.profiles {
        if p.up_spi < vpndb::model::MIN_SPI || p.down_spi < vpndb::model::MIN_SPI {
            continue;
        }
        let row = VpnSession {
            session_id: s.entry.session_id.clone(),
            nai: s.entry.nai.clone(),
            profile_number: p.profile_number,
            fa: s.fa,
            ha: s.ha,
            src_gw: p.src_gw,
            dst_gw: p.dst_gw,
            gw_type: p.dst_gw_type,
            up_spi: p.up_spi,
            down_spi: p.down_spi,
            created_at,
            expires_at,
        };
        match rows
            .iter_mut()
            .find(|r| r.profile_number == p.profile_number)
        {
            // A later tunnel of the same instance replaces one that ends at the HA.
            Some(r) if r.dst_gw == s.ha && p.dst_gw != s.ha => *r = row,
            Some(_) => {}
            None => rows.push(row),
        }
    }
    rows
}

/// What the AAA thread takes from an engine besides its outputs: the AAAH's session events.
pub trait SessionSource {
    /// The next session event, if any.
    fn next_session_event(&mut self) -> Option<SessionEvent>;
}

impl SessionSource for Home<StdRng> {
    fn next_session_event(&mut self) -> Option<SessionEvent> {
        self.poll_session_event()
    }
}

impl SessionSource for Foreign {
    fn next_session_event(&mut self) -> Option<SessionEvent> {
        None
    }
}

/// Starts the AAA of `cfg` on its own thread: opens the database, binds the listener and
/// connects to the peers (errors are returned here, before the thread starts).
pub fn start(cfg: &AaaConfig) -> Result<AaaHandle, String> {
    match cfg.role {
        AaaRole::Home => {
            let url = cfg
                .database
                .as_deref()
                .ok_or("the home AAA needs a VPN database (`aaa.database`)")?;
            let store: SharedStore = Arc::new(Mutex::new(
                vpndb::open(url).map_err(|e| format!("aaa.database {url}: {e}"))?,
            ));
            let lookup = database_lookup(store, cfg.mn_aaa_keys.clone(), cfg.plain_mobile_ip);
            // The session writer's own connection: its commits never wait for a lookup and
            // a lookup never waits for a commit.
            let writer = if cfg.record_sessions {
                Some(vpndb::open(url).map_err(|e| {
                    format!("aaa.database {url} (session writer's connection): {e}")
                })?)
            } else {
                None
            };
            start_home(cfg, lookup, writer)
        }
        AaaRole::Foreign => {
            let mut fc = ForeignConfig::new(&cfg.origin_host, &cfg.origin_realm);
            fc.transaction_timeout = cfg.transaction_timeout;
            fc.max_transactions = cfg.max_transactions;
            fc.max_cache = cfg.max_sessions;
            let node = Node::new(
                Foreign::new(fc),
                peer_config(cfg),
                Some(cfg.listen),
                Box::new(|_| Ok(None)),
            )
            .map_err(|e| format!("aaa.listen {}: {e}", cfg.listen))?;
            spawn(cfg, node, None, |e: &Foreign| {
                let c = e.counters();
                (
                    e.cache_len() as u64,
                    e.pending() as u64,
                    vec![
                        ("rx_amr", c.rx_amr),
                        ("tx_amr_home", c.tx_amr_home),
                        ("rx_ama_home", c.rx_ama_home),
                        ("tx_ama", c.tx_ama),
                        ("cache_hits", c.cache_hits),
                        ("cache_bypassed", c.cache_bypassed),
                        ("malformed", c.malformed),
                        ("avp_unsupported", c.avp_unsupported),
                        ("command_unsupported", c.command_unsupported),
                        ("unreachable", c.unreachable),
                        ("timeouts", c.timeouts),
                        ("too_busy", c.too_busy),
                        ("expired", c.expired),
                    ],
                )
            })
        }
    }
}

/// Starts an AAAH with the given lookup (the database's, or another source), recording its
/// sessions into `sessions` (a connection of the session writer's own) when given.
pub fn start_home(
    cfg: &AaaConfig,
    lookup: Lookup,
    sessions: Option<Box<dyn VpnStore>>,
) -> Result<AaaHandle, String> {
    let mut hc = HomeConfig::new(&cfg.origin_host, &cfg.origin_realm);
    hc.default_ha_host = cfg.ha_host.clone();
    hc.authorization_lifetime = cfg.authorization_lifetime;
    hc.require_mn_aaa_auth = cfg.require_mn_aaa_auth;
    hc.plain_mobile_ip = cfg.plain_mobile_ip;
    hc.transaction_timeout = cfg.transaction_timeout;
    hc.max_transactions = cfg.max_transactions;
    hc.max_sessions = cfg.max_sessions;
    hc.session_events = sessions.is_some();
    let engine: Home<StdRng> = Home::new(hc, rand::make_rng());
    let node = Node::new(engine, peer_config(cfg), Some(cfg.listen), lookup)
        .map_err(|e| format!("aaa.listen {}: {e}", cfg.listen))?;
    let writer = match sessions {
        Some(store) => Some(SessionWriter::start(store, SESSION_QUEUE, SESSION_BATCH)?),
        None => None,
    };
    spawn(cfg, node, writer, |e: &Home<StdRng>| {
        let c = e.counters();
        (
            e.sessions() as u64,
            e.pending() as u64,
            vec![
                ("rx_amr", c.rx_amr),
                ("tx_ama", c.tx_ama),
                ("tx_ama_success", c.tx_ama_success),
                ("tx_har", c.tx_har),
                ("rx_haa", c.rx_haa),
                ("lookups", c.lookups),
                ("lookup_failed", c.lookup_failed),
                ("cache_hits", c.cache_hits),
                ("moves", c.moves),
                ("service_updates", c.service_updates),
                ("unknown_user", c.unknown_user),
                ("auth_failed", c.auth_failed),
                ("not_authorized", c.not_authorized),
                ("plain_authorized", c.plain_authorized),
                ("malformed", c.malformed),
                ("avp_unsupported", c.avp_unsupported),
                ("command_unsupported", c.command_unsupported),
                ("realm_not_served", c.realm_not_served),
                ("timeouts", c.timeouts),
                ("send_failed", c.send_failed),
                ("too_busy", c.too_busy),
                ("keys_generated", c.keys_generated),
                ("sessions_expired", c.sessions_expired),
            ],
        )
    })
}

type EngineStats<E> = fn(&E) -> (u64, u64, Vec<(&'static str, u64)>);

fn spawn<E: Engine + SessionSource + Send + 'static>(
    cfg: &AaaConfig,
    mut node: Node<E>,
    writer: Option<SessionWriter>,
    engine_stats: EngineStats<E>,
) -> Result<AaaHandle, String> {
    let local_addr = node.local_addr().unwrap_or(cfg.listen);
    let now = Instant::now();
    for p in &cfg.peers {
        node.connect(*p, RECONNECT, now);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(AaaStats {
        role: cfg.role.name(),
        ..AaaStats::default()
    }));
    let role = cfg.role.name();
    let (stop2, stats2) = (stop.clone(), stats.clone());
    let thread = std::thread::Builder::new()
        .name(format!("aaa-{role}"))
        .spawn(move || run(node, writer, role, &stop2, &stats2, engine_stats))
        .map_err(|e| format!("cannot start the AAA thread: {e}"))?;
    Ok(AaaHandle {
        stop,
        stats,
        thread: Some(thread),
        local_addr,
    })
}

fn run<E: Engine + SessionSource>(
    mut node: Node<E>,
    mut writer: Option<SessionWriter>,
    role: &'static str,
    stop: &AtomicBool,
    stats: &Mutex<AaaStats>,
    engine_stats: EngineStats<E>,
) {
    let mut idle = 0u32;
    let mut published = Instant::now();
    loop {
        let done = stop.load(Ordering::Relaxed);
        let now = Instant::now();
        let before = node.counters().activity();
        node.poll(now);
        let mut worked = node.counters().activity() != before;
        while let Some(ev) = node.engine_mut().next_session_event() {
            worked = true;
            if let Some(w) = &writer {
                w.submit(ev);
            }
        }
        if worked {
            idle = 0;
        } else {
            idle = idle.saturating_add(1);
        }
        if done || now.duration_since(published) >= STATS_EVERY {
            published = now;
            let mut s = snapshot(&mut node, role, engine_stats);
            // On stop, the writer first writes what is queued: the last counters are final.
            let w = if done {
                writer.take().map(SessionWriter::finish)
            } else {
                writer.as_ref().map(SessionWriter::stats)
            };
            if let Some(w) = w {
                s.sessions_recorded = w.recorded;
                s.sessions_ended = w.ended;
                s.session_record_errors = w.failed;
                s.session_records_dropped = w.dropped;
                s.session_batches = w.batches;
            }
            if let Ok(mut g) = stats.lock() {
                *g = s;
            }
        }
        if done {
            return;
        }
        if idle > SPIN_POLLS {
            let nap = node
                .next_wakeup()
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(IDLE_SLEEP)
                .min(IDLE_SLEEP);
            std::thread::sleep(nap);
        } else if idle > 0 {
            std::thread::yield_now();
        }
    }
}

fn snapshot<E: Engine>(
    node: &mut Node<E>,
    role: &'static str,
    engine_stats: EngineStats<E>,
) -> AaaStats {
    let peers_up = node.open_peers().len() as u64;
    let (sessions, pending, engine) = engine_stats(node.engine());
    let c = node.counters();
    AaaStats {
        role,
        requests: c.requests_in,
        answers: c.answers_out,
        answers_by_result: c.answers_by_result.clone(),
        requests_out: c.requests_out,
        answers_in: c.answers_in,
        no_route: c.no_route,
        accepted: c.accepted,
        lookups: c.lookups,
        lookup_errors: c.lookup_errors,
        sessions,
        pending,
        peers_up,
        sessions_recorded: 0,
        sessions_ended: 0,
        session_record_errors: 0,
        session_records_dropped: 0,
        session_batches: 0,
        engine,
    }
}

/// One line of the AAA's counters (the appliance's stats line and summary).
pub fn stats_line(s: &AaaStats) -> String {
    let codes: Vec<String> = s
        .answers_by_result
        .iter()
        .map(|(c, n)| format!("{c}:{n}"))
        .collect();
    format!(
        "aaa {} requests {} answers {} [{}] sessions {} pending {} peers up {} lookups {} lookup errors {} sessions recorded {} ended {} record errors {} dropped {} batches {}",
        s.role,
        s.requests,
        s.answers,
        codes.join(" "),
        s.sessions,
        s.pending,
        s.peers_up,
        s.lookups,
        s.lookup_errors,
        s.sessions_recorded,
        s.sessions_ended,
        s.session_record_errors,
        s.session_records_dropped,
        s.session_batches
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NAI with an MN-AAA key but no VPN in the database: unknown (4001) unless
    /// `plain_mobile_ip`, then a known user with no VPN (and its key); without a key it stays
    /// unknown either way.
    #[test]
    fn plain_users_are_known_by_their_key_only_when_plain_mobile_ip_is_on() {
        let store: SharedStore = Arc::new(Mutex::new(Box::new(
            vpndb::sqlite::SqliteStore::open_in_memory().unwrap(),
        )));
        let keys: HashMap<String, KeyBytes> = [(
            "erin@isp.example".to_string(),
            KeyBytes::new(b"erin's key".to_vec()),
        )]
        .into();
        let mut strict = database_lookup(store.clone(), keys.clone(), false);
        assert!(strict("erin@isp.example").unwrap().is_none());
        let mut plain = database_lookup(store, keys, true);
        let s = plain("erin@isp.example")
            .unwrap()
            .expect("known by her key");
        assert!(s.profiles.is_empty() && s.slas.is_empty() && s.cn_gw.is_empty());
        assert_eq!(s.mn_aaa_key.unwrap().as_bytes(), b"erin's key");
        assert!(
            plain("frank@isp.example").unwrap().is_none(),
            "no key: unknown"
        );
    }
}
