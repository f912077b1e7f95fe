//! `varouter bench subscribers`: PPP subscribers over L2TP through the real control-plane
//! code — setup rate and control-plane memory per session.
//!
//! **Set-up.** One process, one thread (plus, with a real RADIUS server, one receiving
//! thread per RADIUS source socket):
//! 1. an LAC L2TP engine and an LNS L2TP engine back to back in memory (as
//!    `controlplane/examples/l2tp_setup_rate.rs`) bring up `--tunnels` tunnels ×
//!    `--sessions` sessions (secret and challenge on; a virtual clock lets delayed acks
//!    go);
//! 2. every LNS `SessionUp` becomes [`Subscribers::session_up`] in one VR (egress known,
//!    counter slot = session index) and a PPP client engine ([`Role::Client`], user
//!    `subN`, password `secret`, `--auth pap|chap|mschapv2`) stands for the subscriber: the
//!    manager's [`Output::Packet`]s are stripped of IPv4/UDP/L2TP and given to the client,
//!    the client's frames go to [`Subscribers::ppp_frame`]. At most `--window` sessions
//!    are in setup at once;
//! 3. authentication by `--radius local` (an in-process RADIUS server built with the
//!    `radius::wire` module: it checks the PAP/CHAP/MS-CHAPv2 credentials as a server
//!    would and answers a signed Access-Accept, MS-CHAP2-Success included, at once; it
//!    answers Accounting-Requests), `--radius none` (the VR's local users, one per
//!    subscriber), or `--radius ADDR:PORT` (a real server over UDP: the manager's RADIUS
//!    client on [`radius_source_ports`] sockets; accounting to port+1 unless
//!    `--no-accounting`).
//!
//! A session counts as up when its client saw IPCP up (the manager installed its route
//! just before). Wall time of step 2–3 ends when every session is up or failed and no
//! RADIUS request is in flight.
//!
//! **Memory** is counted by the binary's global allocator ([`super::heap`]): live heap
//! bytes after each step minus before, and, at the end, what each structure frees when it
//! is dropped (LAC engine, LNS engine, PPP clients, the manager) — exact heap bytes per
//! owner, divided by sessions. The manager's figure is everything [`Subscribers`] owns: per
//! subscriber its PPP engine, L2TP ids, user name, the session and serial maps, the pool's
//! set of used addresses (and the VR's local-user list with `--radius none`).
//!
//! **Time split**: every call into the manager, into the PPP clients and into the RADIUS
//! responder is timed (two clock reads per call, ≈ 50 ns, included); the rest is the
//! driver (queues, header stripping, timers).
//!
//! **Results** (2-core shared VM, release build, 3 Dec 2026; PAP, `--window` 128, no LCP
//! echo, Accounting-Start per session; medians of 3 runs of
//! `scripts/bench/subscribers-vs-freeradius 3`, runs spread about ±10 %):
//!
//! | case | sessions | PPP + auth | whole path (L2TP + PPP) | time in manager / simulated peers / driver |
//! |---|---|---|---|---|
//! | `--radius local` | 100 tunnels × 1000 = 100,000 | 23,123 /s | 20,968 /s | 2.59 s (25.9 µs/session) / 1.03 s / 0.71 s |
//! | FreeRADIUS 3.2.1 `-f`, UDP on loopback | 100 × 200 = 20,000 | 8,958 /s | 8,570 /s | 1.04 s (52 µs/session) / 0.20 s / 0.92 s (mostly waiting) |
//!
//! The L2TP step alone (both engines) runs at ~200,000 sessions/s. Against FreeRADIUS: no
//! retransmission, no timeout, every Accounting-Start answered; FreeRADIUS (same 2 cores)
//! is the limit. Single runs, same machine, 100,000 sessions, whole path: CHAP 26,989 /s,
//! MS-CHAPv2 23,183 /s (local responder); local users (`--radius none`) PAP 62,527 /s,
//! MS-CHAPv2 38,345 /s.
//!
//! **Memory per session** (heap bytes requested; malloc adds ~16 B per block): manager
//! 1,155 B at 100,000 sessions (1,459 B at 20,000: hash-table fill), LNS L2TP engine
//! 325 B, LAC L2TP engine 366 B; the simulated PPP clients 715 B. The manager's figure is
//! its session table: `HashMap<(u16, u16), Subscriber>` holds each subscriber inline,
//! 848 B per entry (PPP `Engine` 496 B, `SessionInfo` 96 B, the subscriber's own fields
//! 256 B), and 100,000 entries take 131,072 buckets: 1,113 B per session; the serial map,
//! the pool's set of used addresses, the user name and the PPP engine's last
//! authentication answer make the other ~40 B. Boxing the subscriber would make the table
//! 8 B per bucket (≈ 860 B per session whatever the fill); not needed for the 2 KiB aim.
//!
//! **Findings.**
//! * Local users were found by a scan of the VR's user list per authentication: with
//!   100,000 users, 200 µs of manager time per session and 4,738 sessions/s; now a name
//!   index (9.7 µs, 51,609 sessions/s, measured right after that change).
//! * The RADIUS client encodes and signs every request twice (`Client::access_request`
//!   and `Client::accounting` run `encode_auth`/`encode_acct` once to refuse what cannot
//!   be encoded, then `build` encodes it for real): MD5 is ~20 % of the whole process's
//!   profile with the local responder, about half of it the manager's. Not a limit at
//!   these rates.
//! * The RADIUS client sends up to 256 × 4 source sockets = 1,024 requests at once with no
//!   lower cap. At `--window 512` (Access- and Accounting-Requests of 512 sessions in
//!   flight) FreeRADIUS's socket overflows its default 208 KiB receive buffer: 1,463
//!   sessions/s, 597 retransmissions = the namespace's UDP `RcvbufErrors`, each a 3 s wait.
//!   A per-server in-flight limit (or a larger server buffer) avoids it; `--window` 128
//!   stands for it here.
//!
//! Commands (the script runs both inside a `vb-subs-PID` network namespace):
//! ```text
//! cargo build --release --bin varouter
//! scripts/bench/subscribers-vs-freeradius 3
//! target/release/varouter bench subscribers                  # 100 × 1000, PAP, local responder
//! target/release/varouter bench subscribers --auth mschapv2 --radius none
//! target/release/varouter bench subscribers --radius 127.0.0.1:1812 --secret testing123 --sessions 200
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use controlplane::l2tp::engine::{
    CallParams, Config as L2tpConfig, Engine as L2tpEngine, Event as L2tpEvent, Role as L2tpRole,
};
use controlplane::ppp::auth::{self as ppp_auth, AuthRequest, AuthResult, Credentials};
use controlplane::ppp::engine::{
    Config as PppConfig, Engine as PppEngine, Event as PppEvent, Role,
};
use controlplane::radius::wire::crypto::{sign, unhide_password, Signing};
use controlplane::radius::wire::{code, Attribute, MsAttr, Packet, Repr, Vsa};
use controlplane::subscriber::config::{
    AuthMethod, LocalUser, RadiusServer, RadiusSettings, SubscriberConfig,
};
use controlplane::subscriber::manager::{
    radius_source_ports, Output, SessionInfo, Subscribers, TimerKey,
};
use controlplane::subscriber::pool::V4PoolConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vr::{PortId, VrId};

use super::heap;

/// Authentication method the subscribers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Auth {
    /// PAP
    Pap,
    /// CHAP-MD5
    Chap,
    /// MS-CHAPv2
    Mschapv2,
}

/// Options of `varouter bench subscribers`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// L2TP tunnels.
    #[arg(long, default_value_t = 100)]
    pub tunnels: usize,
    /// Sessions per tunnel.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Authentication method.
    #[arg(long, value_enum, default_value_t = Auth::Pap)]
    pub auth: Auth,
    /// `local` (in-process RADIUS responder), `none` (local users), or ADDR:PORT of a
    /// RADIUS server (accounting at PORT+1).
    #[arg(long, default_value = "local")]
    pub radius: String,
    /// Shared secret with the RADIUS server.
    #[arg(long, default_value = "testing123")]
    pub secret: String,
    /// Local address of the RADIUS client's sockets (with a real server).
    #[arg(long, default_value = "127.0.0.1")]
    pub source: IpAddr,
    /// No accounting (no Accounting-Start per session).
    #[arg(long)]
    pub no_accounting: bool,
    /// Sessions in setup at once. Beyond ~200, bursts of Access- and Accounting-Requests
    /// overflow a RADIUS server's default 208 KiB UDP receive buffer (each request lost
    /// costs a `--radius-timeout` wait).
    #[arg(long, default_value_t = 128)]
    pub window: usize,
    /// LCP Echo-Request interval of the LNS in seconds (0: no keepalive).
    #[arg(long, default_value_t = 0)]
    pub echo_interval: u64,
    /// RADIUS timeout (seconds) before a retransmission.
    #[arg(long, default_value_t = 3)]
    pub radius_timeout: u64,
    /// Give up when nothing progressed for this many seconds.
    #[arg(long, default_value_t = 60)]
    pub stall: u64,
    /// Print one JSON line instead of a report.
    #[arg(long)]
    pub json: bool,
}

const VR: VrId = VrId(1);
const LAC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const LNS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PASSWORD: &str = "secret";
/// Where the in-process responder "is" (never sent to).
const LOCAL_RADIUS: &str = "192.0.2.10:1812";

enum Radius {
    Local,
    None,
    Server(SocketAddr),
}

/// One simulated subscriber.
struct Sub {
    /// LNS tunnel and session ids (the manager's key).
    lns: (u16, u16),
    client: PppEngine,
    /// Client deadline as last put in the timer heap.
    armed: Option<Instant>,
    state: SubState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SubState {
    Waiting,
    Setup,
    Up,
    Failed,
}

enum Work {
    Mgr(Output),
    ToMgr(u32, Vec<u8>),
    RadiusIn(usize, SocketAddr, Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Mgr(TimerKey),
    Client(u32),
}

#[derive(Default)]
struct Times {
    mgr: Duration,
    peers: Duration,
}

#[derive(Default)]
struct Counts {
    up: usize,
    failed: usize,
    routes_added: usize,
    routes_removed: usize,
    closes: usize,
    radius_sent: u64,
    radius_send_errors: u64,
    radius_received: u64,
}

/// Where RADIUS datagrams go.
struct Udp {
    sockets: Vec<UdpSocket>,
    rx: mpsc::Receiver<(usize, SocketAddr, Vec<u8>)>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Udp {
    fn open(source: IpAddr, n: usize) -> Result<Udp, String> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut sockets = Vec::new();
        let mut threads = Vec::new();
        for i in 0..n {
            let s = UdpSocket::bind(SocketAddr::new(source, 0))
                .map_err(|e| format!("RADIUS socket on {source}: {e}"))?;
            let r = s.try_clone().map_err(|e| e.to_string())?;
            r.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            let (tx, stop) = (tx.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, src)) = r.recv_from(&mut buf) {
                        if tx.send((i, src, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }));
            sockets.push(s);
        }
        Ok(Udp {
            sockets,
            rx,
            stop,
            threads,
        })
    }

    fn close(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

struct Sim {
    subs: Subscribers,
    clients: Vec<Sub>,
    /// LAC (tunnel, session) → index.
    by_lac: HashMap<(u16, u16), u32>,
    queue: VecDeque<Work>,
    timers: HashMap<Key, Instant>,
    heap: BinaryHeap<Reverse<(Instant, Key)>>,
    radius: Radius,
    secret: Vec<u8>,
    udp: Option<Udp>,
    times: Times,
    counts: Counts,
    active: usize,
}

fn no_traffic(_: u32) -> [u64; 4] {
    [0; 4]
}

impl Sim {
    fn drain_mgr(&mut self) {
        self.queue.extend(self.subs.drain().map(Work::Mgr));
    }

    fn set_timer(&mut self, key: Key, at: Option<Instant>) {
        match at {
            Some(at) => {
                self.timers.insert(key, at);
                self.heap.push(Reverse((at, key)));
            }
            None => {
                self.timers.remove(&key);
            }
        }
    }

    /// Moves what client `i` produced: its frames to the manager, its events to the counts.
    fn pump_client(&mut self, i: u32) {
        let t = Instant::now();
        let c = &mut self.clients[i as usize];
        while let Some(f) = c.client.poll_transmit() {
            self.queue.push_back(Work::ToMgr(i, f));
        }
        while let Some(e) = c.client.poll_event() {
            match e {
                PppEvent::Ipv4Up { .. } if c.state == SubState::Setup => {
                    c.state = SubState::Up;
                    self.counts.up += 1;
                    self.active -= 1;
                }
                PppEvent::Down { .. } => {
                    if c.state == SubState::Setup {
                        self.active -= 1;
                    }
                    if c.state != SubState::Failed {
                        self.counts.failed += 1;
                        if c.state == SubState::Up {
                            self.counts.up -= 1;
                        }
                    }
                    c.state = SubState::Failed;
                }
                _ => {}
            }
        }
        let d = c.client.deadline();
        let changed = d != c.armed;
        c.armed = d;
        self.times.peers += t.elapsed();
        if changed {
            self.set_timer(Key::Client(i), d);
        }
    }

    fn admit(&mut self, i: u32, info: SessionInfo) {
        self.clients[i as usize].state = SubState::Setup;
        self.active += 1;
        let t = Instant::now();
        self.clients[i as usize].client.open(t);
        self.times.peers += t.elapsed();
        let t = Instant::now();
        self.subs.session_up(t, VR, info);
        self.times.mgr += t.elapsed();
        self.drain_mgr();
        self.pump_client(i);
    }

    fn work(&mut self, w: Work) {
        match w {
            Work::ToMgr(i, f) => {
                let (tunnel, session) = self.clients[i as usize].lns;
                let t = Instant::now();
                self.subs.ppp_frame(t, VR, tunnel, session, &f, &no_traffic);
                self.times.mgr += t.elapsed();
                self.drain_mgr();
            }
            Work::RadiusIn(socket, src, bytes) => {
                self.counts.radius_received += 1;
                let t = Instant::now();
                self.subs
                    .radius_datagram(t, VR, socket, src, &bytes, &no_traffic);
                self.times.mgr += t.elapsed();
                self.drain_mgr();
            }
            Work::Mgr(o) => self.output(o),
        }
    }

    fn output(&mut self, o: Output) {
        match o {
            // The simulated subscribers are L2TP sessions.
            Output::Frame { .. } => unreachable!("no PPPoE links in this benchmark"),
            Output::Packet { ip, .. } => {
                // IPv4 / UDP / L2TP data header (the LAC's ids) / PPP.
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let l2tp = &ip[ihl + 8..];
                let key = (
                    u16::from_be_bytes([l2tp[2], l2tp[3]]),
                    u16::from_be_bytes([l2tp[4], l2tp[5]]),
                );
                let Some(&i) = self.by_lac.get(&key) else {
                    return;
                };
                let t = Instant::now();
                self.clients[i as usize]
                    .client
                    .handle_frame(t, &l2tp[wire::l2tp::MIN_HEADER_LEN..]);
                self.times.peers += t.elapsed();
                self.pump_client(i);
            }
            Output::Route { via, .. } => {
                if via.is_some() {
                    self.counts.routes_added += 1;
                } else {
                    self.counts.routes_removed += 1;
                }
            }
            Output::CloseSession { .. } => self.counts.closes += 1,
            Output::Radius {
                socket,
                dst,
                payload,
                ..
            } => {
                self.counts.radius_sent += 1;
                match (&self.radius, &self.udp) {
                    (Radius::Server(_), Some(u)) => {
                        if u.sockets[socket].send_to(&payload, dst).is_err() {
                            self.counts.radius_send_errors += 1;
                        }
                    }
                    _ => {
                        let t = Instant::now();
                        let answer = respond(&payload, &self.secret);
                        self.times.peers += t.elapsed();
                        if let Some(a) = answer {
                            self.queue.push_back(Work::RadiusIn(socket, dst, a));
                        }
                    }
                }
            }
            Output::Dae { .. } => {}
            Output::Timer { key, at } => self.set_timer(Key::Mgr(key), at),
        }
    }

    /// Fires due timers; returns the next deadline.
    fn timers_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if self.timers.get(&key) != Some(&at) {
                self.heap.pop();
                continue;
            }
            if at > now {
                return Some(at);
            }
            self.heap.pop();
            self.timers.remove(&key);
            match key {
                Key::Mgr(k) => {
                    let t = Instant::now();
                    self.subs.handle_timer(t, k, &no_traffic);
                    self.times.mgr += t.elapsed();
                    self.drain_mgr();
                }
                Key::Client(i) => {
                    let t = Instant::now();
                    let c = &mut self.clients[i as usize];
                    c.armed = None;
                    c.client.handle_timeout(t);
                    self.times.peers += t.elapsed();
                    self.pump_client(i);
                }
            }
            while let Some(w) = self.queue.pop_front() {
                self.work(w);
            }
        }
        None
    }
}

/// The in-process RADIUS server: checks the credentials against [`PASSWORD`] as a server
/// would and answers at once, signed (Message-Authenticator first).
fn respond(payload: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    let req = Repr::parse(&Packet::new_checked(payload).ok()?).ok()?;
    let (code, attrs) = match req.code {
        code::ACCESS_REQUEST => {
            let mut user = Vec::new();
            let mut pap = None;
            let mut chap = None;
            let mut chap_challenge = None;
            let mut ms_challenge = None;
            let mut ms_response = None;
            for a in &req.attributes {
                match a {
                    Attribute::UserName(u) => user = u.clone(),
                    Attribute::UserPassword(h) => pap = Some(h.clone()),
                    Attribute::ChapPassword(c) => chap = Some(*c),
                    Attribute::ChapChallenge(c) => chap_challenge = Some(c.clone()),
                    Attribute::VendorSpecific(Vsa::Microsoft(ms)) => {
                        for m in ms {
                            match m {
                                MsAttr::ChapChallenge(c) => ms_challenge = Some(c.clone()),
                                MsAttr::Chap2Response(r) => ms_response = Some(*r),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            let credentials = if let Some(h) = pap {
                Credentials::Pap {
                    password: unhide_password(secret, &req.authenticator, &h).ok()?,
                }
            } else if let Some(c) = chap {
                Credentials::ChapMd5 {
                    id: c.ident,
                    challenge: chap_challenge.unwrap_or_else(|| req.authenticator.to_vec()),
                    response: c.response,
                }
            } else {
                let r = ms_response?;
                Credentials::MsChapV2 {
                    id: r.ident,
                    auth_challenge: ms_challenge?.try_into().ok()?,
                    peer_challenge: r.peer_challenge,
                    nt_response: r.nt_response,
                    flags: r.flags,
                }
            };
            let ident = match &credentials {
                Credentials::MsChapV2 { id, .. } => Some(*id),
                _ => None,
            };
            let verdict = ppp_auth::verify_local(
                &AuthRequest {
                    username: user,
                    credentials,
                },
                PASSWORD,
            );
            match verdict {
                Some(AuthResult::Accept {
                    mschap2_success, ..
                }) => {
                    let mut a = vec![Attribute::ServiceType(2), Attribute::FramedProtocol(1)];
                    if let (Some(s), Some(id)) = (mschap2_success, ident) {
                        let mut v = vec![id];
                        v.extend_from_slice(s.as_bytes());
                        a.push(Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Success(v))));
                    }
                    (code::ACCESS_ACCEPT, a)
                }
                _ => (code::ACCESS_REJECT, vec![]),
            }
        }
        code::ACCOUNTING_REQUEST => (code::ACCOUNTING_RESPONSE, vec![]),
        _ => return None,
    };
    let mut attributes = vec![Attribute::MessageAuthenticator([0; 16])];
    attributes.extend(attrs);
    let mut bytes = Repr {
        code,
        identifier: req.identifier,
        authenticator: [0; 16],
        attributes,
    }
    .to_bytes()
    .ok()?;
    sign(
        &mut bytes,
        secret,
        Signing::Response {
            request_authenticator: req.authenticator,
        },
    )
    .ok()?;
    Some(bytes)
}

fn l2tp_config(role: L2tpRole, name: &str) -> L2tpConfig {
    let mut c = L2tpConfig::new(role, name);
    c.secret = Some(b"secret".to_vec());
    c.limits.max_tunnels = 65535;
    c.limits.max_half_open = 65535;
    c.limits.max_half_open_per_source = 65535;
    c.limits.max_sessions = 10_000_000;
    c.limits.max_sessions_per_tunnel = 65535;
    c
}

fn per(bytes: i64, n: usize) -> f64 {
    bytes as f64 / n.max(1) as f64
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<(), String> {
    let n = args.tunnels * args.sessions;
    if n == 0 || args.sessions > 65535 || args.tunnels > 65535 {
        return Err("need 1..=65535 tunnels and 1..=65535 sessions per tunnel".into());
    }
    let radius = match args.radius.as_str() {
        "local" => Radius::Local,
        "none" => Radius::None,
        a => Radius::Server(
            a.parse()
                .map_err(|e| format!("--radius {a}: not local, none or ADDR:PORT ({e})"))?,
        ),
    };
    let counting = heap::enable();
    let method = match args.auth {
        Auth::Pap => AuthMethod::Pap,
        Auth::Chap => AuthMethod::Chap,
        Auth::Mschapv2 => AuthMethod::MsChapV2,
    };

    // --- Step 1: L2TP tunnels and sessions, LAC and LNS engines back to back. -------------
    let m0 = heap::live();
    let mut lac = L2tpEngine::new(l2tp_config(L2tpRole::Lac, "lac"), StdRng::seed_from_u64(1));
    let mut lns = L2tpEngine::new(l2tp_config(L2tpRole::Lns, "lns"), StdRng::seed_from_u64(2));
    let lns_addr = SocketAddr::new(IpAddr::V4(LNS_IP), 1701);
    let lac_addr = SocketAddr::new(IpAddr::V4(LAC_IP), 1701);
    let t_l2tp = Instant::now();
    let mut clock = t_l2tp;
    for _ in 0..args.tunnels {
        let t = lac
            .open_tunnel(clock, lns_addr)
            .map_err(|e| e.to_string())?;
        for _ in 0..args.sessions {
            lac.open_session(clock, t, CallParams::default())
                .map_err(|e| e.to_string())?;
        }
    }
    let mut quiet = 0;
    while quiet < 2 {
        let mut moved = false;
        while let Some(t) = lac.poll_transmit() {
            lns.handle_input(clock, lac_addr, &t.bytes);
            moved = true;
        }
        while let Some(t) = lns.poll_transmit() {
            lac.handle_input(clock, lns_addr, &t.bytes);
            moved = true;
        }
        if moved {
            quiet = 0;
        } else {
            quiet += 1;
            clock += Duration::from_millis(200);
            lac.handle_timeout(clock);
            lns.handle_timeout(clock);
        }
    }
    let l2tp_secs = t_l2tp.elapsed().as_secs_f64();
    while lac.poll_event().is_some() {}
    let mut infos = Vec::with_capacity(n);
    while let Some(e) = lns.poll_event() {
        if let L2tpEvent::SessionUp {
            tunnel,
            session,
            peer_tunnel,
            peer_session,
            peer,
            calling_number,
            proxy,
            ..
        } = e
        {
            infos.push((
                tunnel,
                session,
                peer_tunnel,
                peer_session,
                peer,
                calling_number,
                proxy,
            ));
        }
    }
    let l2tp_sessions = infos.len();
    let m1 = heap::live();

    // --- Step 2: the subscriber manager, PPP clients, authentication. ----------------------
    let m_cfg0 = heap::live();
    let mut cfg = SubscriberConfig::new(VR, Ipv4Addr::new(100, 64, 0, 1));
    cfg.auth = vec![method];
    cfg.echo_interval = Duration::from_secs(args.echo_interval);
    cfg.dns = vec![Ipv4Addr::new(192, 0, 2, 53)];
    cfg.pools = vec![V4PoolConfig {
        name: "subscribers".into(),
        ranges: vec![(
            Ipv4Addr::new(100, 64, 0, 2),
            Ipv4Addr::new(100, 127, 255, 254),
        )],
    }];
    let (server, acct) = match &radius {
        Radius::Local => {
            let a: SocketAddr = LOCAL_RADIUS.parse().expect("literal");
            (Some(a), Some(SocketAddr::new(a.ip(), a.port() + 1)))
        }
        Radius::Server(a) => (Some(*a), Some(SocketAddr::new(a.ip(), a.port() + 1))),
        Radius::None => (None, None),
    };
    if let Some(server) = server {
        cfg.radius = Some(RadiusSettings {
            source: args.source,
            nas_identifier: "varouter-bench".into(),
            servers: vec![RadiusServer {
                addr: server,
                secret: args.secret.clone(),
            }],
            accounting: acct
                .filter(|_| !args.no_accounting)
                .map(|addr| RadiusServer {
                    addr,
                    secret: args.secret.clone(),
                })
                .into_iter()
                .collect(),
            timeout: Duration::from_secs(args.radius_timeout),
            retries: 3,
            interim_interval: None,
            dae: None,
        });
    } else {
        cfg.users = (0..l2tp_sessions)
            .map(|i| LocalUser {
                name: format!("sub{i}"),
                password: PASSWORD.into(),
                address: None,
            })
            .collect();
    }
    let udp = match &radius {
        Radius::Server(_) => Some(Udp::open(args.source, radius_source_ports(&cfg))?),
        _ => None,
    };
    let mut subs = Subscribers::new(0x5eed);
    subs.configure(Instant::now(), vec![cfg], &no_traffic);
    let m_cfg1 = heap::live();

    // The simulated subscribers (peer side).
    let mut clients = Vec::with_capacity(l2tp_sessions);
    let mut by_lac = HashMap::with_capacity(l2tp_sessions);
    let auth = match args.auth {
        Auth::Pap => ppp_auth::AuthMethod::Pap,
        Auth::Chap => ppp_auth::AuthMethod::ChapMd5,
        Auth::Mschapv2 => ppp_auth::AuthMethod::MsChapV2,
    };
    let now = Instant::now();
    for (i, info) in infos.iter().enumerate() {
        let pc = Arc::new(PppConfig {
            auth: vec![auth],
            username: format!("sub{i}"),
            password: PASSWORD.into(),
            enable_ipv6: false,
            echo_interval: None,
            ..PppConfig::default()
        });
        clients.push(Sub {
            lns: (info.0, info.1),
            client: PppEngine::new(pc, Role::Client, now, i as u64 * 31 + 7),
            armed: None,
            state: SubState::Waiting,
        });
        by_lac.insert((info.2, info.3), i as u32);
    }
    let mut sim = Sim {
        subs,
        clients,
        by_lac,
        queue: VecDeque::new(),
        timers: HashMap::new(),
        heap: BinaryHeap::new(),
        radius,
        secret: args.secret.as_bytes().to_vec(),
        udp,
        times: Times::default(),
        counts: Counts::default(),
        active: 0,
    };
    let m2 = heap::live();
    let allocs0 = heap::allocs();
    let t_ppp = Instant::now();
    let mut infos = infos.into_iter().enumerate();
    let mut last_progress = Instant::now();
    let mut progress = (0, 0);
    let stall = Duration::from_secs(args.stall);
    let mut stalled = false;
    loop {
        while sim.active < args.window.max(1) {
            let Some((i, (tunnel, session, peer_tunnel, peer_session, peer, calling, proxy))) =
                infos.next()
            else {
                break;
            };
            sim.admit(
                i as u32,
                SessionInfo {
                    tunnel,
                    session,
                    peer_tunnel,
                    peer_session,
                    peer,
                    local: LNS_IP,
                    egress: Some((PortId(0), None, LAC_IP)),
                    counters: i as u32,
                    calling_number: calling,
                    proxy,
                    pppoe: None,
                },
            );
            while let Some(w) = sim.queue.pop_front() {
                sim.work(w);
            }
        }
        while let Some(w) = sim.queue.pop_front() {
            sim.work(w);
        }
        let now = Instant::now();
        let next = sim.timers_due(now);
        let r = sim.subs.radius_counters();
        let outstanding = (r.access_requests + r.acct_requests).saturating_sub(
            r.accepts
                + r.rejects
                + r.challenges
                + r.timeouts
                + r.acct_responses
                + r.acct_failures
                + r.queue_full,
        );
        if sim.active == 0 && infos.len() == 0 && outstanding == 0 && sim.queue.is_empty() {
            break;
        }
        let p = (
            sim.counts.up + sim.counts.failed,
            sim.counts.radius_received,
        );
        if p != progress {
            progress = p;
            last_progress = now;
        } else if now.duration_since(last_progress) > stall {
            stalled = true;
            break;
        }
        if let Some(u) = &sim.udp {
            let wait = next
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50));
            if let Ok((s, src, b)) = u.rx.recv_timeout(wait) {
                sim.queue.push_back(Work::RadiusIn(s, src, b));
                while let Ok((s, src, b)) = u.rx.try_recv() {
                    sim.queue.push_back(Work::RadiusIn(s, src, b));
                }
            }
        } else if sim.queue.is_empty() && sim.active > 0 {
            // Waiting on timers only (a lost exchange); sleep until the next one.
            if let Some(t) = next {
                std::thread::sleep(
                    t.saturating_duration_since(now)
                        .min(Duration::from_millis(50)),
                );
            }
        }
    }
    let ppp_secs = t_ppp.elapsed().as_secs_f64();
    let allocs = heap::allocs() - allocs0;
    let m3 = heap::live();
    let up_mgr = sim.subs.count_up();
    let stats = sim.subs.stats();
    let rc = sim.subs.radius_counters();
    let ppp_ctr = sim.subs.ppp_counters();
    if let Some(u) = sim.udp.take() {
        u.close();
    }

    // --- Memory by owner: what each frees when dropped. ------------------------------------
    let drop_of = |f: &mut dyn FnMut()| {
        let a = heap::live();
        f();
        a - heap::live()
    };
    let Sim {
        subs,
        clients,
        by_lac,
        queue,
        timers,
        heap: theap,
        ..
    } = sim;
    let mut clients = Some(clients);
    let mem_clients = drop_of(&mut || drop(clients.take()));
    let mut driver = Some((by_lac, queue, timers, theap));
    let mem_driver = drop_of(&mut || drop(driver.take()));
    let mut lac = Some(lac);
    let mem_lac = drop_of(&mut || drop(lac.take()));
    let mut lns = Some(lns);
    let mem_lns = drop_of(&mut || drop(lns.take()));
    let mut subs = Some(subs);
    let mem_mgr = drop_of(&mut || drop(subs.take()));
    let mem_cfg = m_cfg1 - m_cfg0;

    let c = &sim.counts;
    let t = &sim.times;
    let total = l2tp_secs + ppp_secs;
    let other = (ppp_secs - t.mgr.as_secs_f64() - t.peers.as_secs_f64()).max(0.0);
    let mode = match args.radius.as_str() {
        "local" => "local responder".to_string(),
        "none" => "local users".to_string(),
        a => format!("RADIUS server {a}"),
    };
    if args.json {
        println!(
            "{{\"mode\":\"{}\",\"auth\":\"{:?}\",\"tunnels\":{},\"sessions\":{},\"l2tp_up\":{},\"up\":{},\"failed\":{},\"stalled\":{},\
\"l2tp_seconds\":{:.3},\"ppp_seconds\":{:.3},\"l2tp_rate\":{:.0},\"ppp_rate\":{:.0},\"rate\":{:.0},\
\"mgr_seconds\":{:.3},\"peer_seconds\":{:.3},\"driver_seconds\":{:.3},\
\"radius_access\":{},\"radius_accepts\":{},\"radius_rejects\":{},\"radius_timeouts\":{},\"radius_retransmits\":{},\"acct_requests\":{},\"acct_responses\":{},\"acct_failures\":{},\"radius_queued\":{},\"radius_queue_full\":{},\
\"bytes_per_session_mgr\":{:.0},\"bytes_per_session_lns\":{:.0},\"bytes_per_session_lac\":{:.0},\"bytes_per_session_clients\":{:.0}}}",
            mode,
            args.auth,
            args.tunnels,
            n,
            l2tp_sessions,
            c.up,
            c.failed,
            stalled,
            l2tp_secs,
            ppp_secs,
            l2tp_sessions as f64 / l2tp_secs,
            c.up as f64 / ppp_secs,
            c.up as f64 / total,
            t.mgr.as_secs_f64(),
            t.peers.as_secs_f64(),
            other,
            rc.access_requests,
            rc.accepts,
            rc.rejects,
            rc.timeouts,
            rc.retransmits,
            rc.acct_requests,
            rc.acct_responses,
            rc.acct_failures,
            rc.queued,
            rc.queue_full,
            per(mem_mgr, c.up),
            per(mem_lns, l2tp_sessions),
            per(mem_lac, l2tp_sessions),
            per(mem_clients, l2tp_sessions),
        );
        return if stalled || c.up < n {
            Err(format!("{} of {n} sessions up", c.up))
        } else {
            Ok(())
        };
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "subscribers      {} tunnels × {} sessions = {n}; {:?}; {mode}{}; window {}; LCP echo {}",
        args.tunnels,
        args.sessions,
        args.auth,
        if args.no_accounting || matches!(args.radius.as_str(), "none") {
            ", no accounting"
        } else {
            ", accounting Start per session"
        },
        args.window,
        if args.echo_interval == 0 {
            "off".to_string()
        } else {
            format!("every {} s", args.echo_interval)
        }
    );
    let _ = writeln!(
        o,
        "L2TP setup       {l2tp_sessions} sessions in {l2tp_secs:.3} s: {:.0} sessions/s (LAC + LNS engines, one core)",
        l2tp_sessions as f64 / l2tp_secs
    );
    let _ = writeln!(
        o,
        "PPP + auth       {} up, {} failed{} in {ppp_secs:.3} s: {:.0} sessions/s",
        c.up,
        c.failed,
        if stalled { " (STALLED)" } else { "" },
        c.up as f64 / ppp_secs
    );
    let _ = writeln!(
        o,
        "  time split     manager {:.3} s ({:.1} µs/session), simulated peers {:.3} s ({:.1} µs/session), driver {:.3} s",
        t.mgr.as_secs_f64(),
        t.mgr.as_secs_f64() * 1e6 / c.up.max(1) as f64,
        t.peers.as_secs_f64(),
        t.peers.as_secs_f64() * 1e6 / c.up.max(1) as f64,
        other
    );
    let _ = writeln!(
        o,
        "whole path       {} sessions in {total:.3} s: {:.0} sessions/s",
        c.up,
        c.up as f64 / total
    );
    let _ = writeln!(
        o,
        "manager          {} subscribers up, {} started, {} accepted, {} rejected, {} no address; {} routes added, {} removed; {} L2TP closes; PPP rx {} frames, {} malformed",
        up_mgr,
        stats.sessions_started,
        stats.auth_accepts,
        stats.auth_rejects,
        stats.no_address,
        c.routes_added,
        c.routes_removed,
        c.closes,
        ppp_ctr.rx_frames,
        ppp_ctr.rx_malformed,
    );
    if !matches!(args.radius.as_str(), "none") {
        let _ = writeln!(
            o,
            "RADIUS           {} Access-Requests: {} accepts, {} rejects, {} timeouts, {} retransmits, {} queued, {} queue full; accounting {} sent, {} answered, {} failed; {} datagrams out, {} in, {} send errors",
            rc.access_requests,
            rc.accepts,
            rc.rejects,
            rc.timeouts,
            rc.retransmits,
            rc.queued,
            rc.queue_full,
            rc.acct_requests,
            rc.acct_responses,
            rc.acct_failures,
            c.radius_sent,
            c.radius_received,
            c.radius_send_errors,
        );
    }
    if counting {
        let _ = writeln!(
            o,
            "memory (heap)    L2TP step +{:.1} MiB; PPP clients built +{:.1} MiB; PPP step +{:.1} MiB; {} allocations in the PPP step ({:.0} per session)",
            (m1 - m0) as f64 / 1048576.0,
            (m2 - m1) as f64 / 1048576.0,
            (m3 - m2) as f64 / 1048576.0,
            allocs,
            allocs as f64 / c.up.max(1) as f64
        );
        let _ = writeln!(
            o,
            "  per session    manager {:.0} B (everything Subscribers owns{}), LNS L2TP engine {:.0} B, LAC L2TP engine {:.0} B, PPP clients {:.0} B, bench driver {:.0} B",
            per(mem_mgr, c.up),
            if matches!(args.radius.as_str(), "none") {
                format!(
                    "; of it the VR config with {} local users {:.0} B",
                    l2tp_sessions,
                    per(mem_cfg, c.up)
                )
            } else {
                String::new()
            },
            per(mem_lns, l2tp_sessions),
            per(mem_lac, l2tp_sessions),
            per(mem_clients, l2tp_sessions),
            per(mem_driver, l2tp_sessions),
        );
        let _ = writeln!(
            o,
            "  sizes          size_of PPP Engine {} B, SessionInfo {} B",
            std::mem::size_of::<PppEngine>(),
            std::mem::size_of::<SessionInfo>(),
        );
    } else {
        let _ = writeln!(
            o,
            "memory           (no counting allocator: run the varouter binary)"
        );
    }
    print!("{o}");
    if stalled || c.up < n {
        return Err(format!("{} of {n} sessions up", c.up));
    }
    Ok(())
}
