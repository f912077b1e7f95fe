//! Sans-IO PPP engine: one [`Engine`] per PPP link (one L2TP session).
//!
//! It never touches a socket or a clock. Feed it frames with [`Engine::handle_frame`], wake
//! it at [`Engine::deadline`] with [`Engine::handle_timeout`], send what
//! [`Engine::poll_transmit`] returns (`ff 03` + protocol + packet) and act on
//! [`Engine::poll_event`]. Authentication decisions come from the driver
//! ([`Event::Authenticate`] → [`Engine::auth_result`]), addresses too ([`Engine::set_ipv4`],
//! [`Engine::set_ipv6`]).
//!
//! Phases (RFC 1661 §3.2): Establish (LCP) → Authenticate (PAP/CHAP/MS-CHAPv2, server asks,
//! client answers) → Network (IPCP, IPV6CP) → Terminate. When LCP finishes the engine emits
//! [`Event::Down`] and is finished ([`Engine::is_finished`]); a new link needs a new engine.

mod authn;
mod counters;
mod fsm;
mod negotiate;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use super::auth::{
    chap_md5_response, generate_nt_response, AuthMethod, AuthRequest, AuthResult, Credentials,
};
use super::wire::{
    build_frame, chap_algorithm, frame, protocol, ChapRepr, CpData, CpOption, CpRepr, IpcpOption,
    Ipv6cpOption, LcpOption, MsChapV2Response, PapRepr,
};
pub use counters::Counters;
use fsm::Fsm;
pub use fsm::State;

/// Which end of the link this engine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The LNS: authenticates the peer and assigns its addresses.
    Server,
    /// The peer (simulations, benchmarks): authenticates with `Config::username`/`password`
    /// and takes the addresses it is given.
    Client,
}

/// Per-profile configuration, shared by all links (`Arc`), never copied per link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Restart timer (RFC 1661 §4.6, default 3 s); also the PAP/CHAP retransmission timer.
    pub restart_timer: Duration,
    /// Max-Configure (default 10); also the most PAP/CHAP retransmissions.
    pub max_configure: u8,
    /// Max-Failure (default 5): Configure-Naks before rejecting instead.
    pub max_failure: u8,
    /// Max-Terminate (default 2).
    pub max_terminate: u8,
    /// The MRU we ask for (default 1500).
    pub mru: u16,
    /// Server: authentication methods to request, in order of preference (empty: none).
    /// Client: methods it accepts, first one suggested in a Configure-Nak.
    pub auth: Vec<AuthMethod>,
    /// Server: how long the authentication phase may take (default 30 s).
    pub auth_timeout: Duration,
    /// LCP Echo-Request interval once Opened (`None`: no keepalive).
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before the peer is declared dead.
    pub echo_failures: u8,
    /// Server: CHAP name in our Challenges.
    pub name: String,
    /// Client: credentials.
    pub username: String,
    pub password: String,
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    /// Server on a LAC: record the LCP Configure-Requests for proxy LCP
    /// ([`Engine::proxy_lcp`], RFC 2661 §4.4.5).
    pub record_proxy_lcp: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            restart_timer: Duration::from_secs(3),
            max_configure: 10,
            max_failure: 5,
            max_terminate: 2,
            mru: 1500,
            auth: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
            auth_timeout: Duration::from_secs(30),
            echo_interval: Some(Duration::from_secs(30)),
            echo_failures: 3,
            name: "varouter".into(),
            username: String::new(),
            password: String::new(),
            enable_ipv4: true,
            enable_ipv6: true,
            record_proxy_lcp: false,
        }
    }
}

/// Addresses the driver assigns to a server link (RFC 1332, RFC 1877).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcpParams {
    pub local: Ipv4Addr,
    pub peer: Ipv4Addr,
    pub dns: [Option<Ipv4Addr>; 2],
}

/// Proxy LCP from the LAC (RFC 2661 §4.4.5): option fields of the Configure-Requests,
/// starting from the first option (as the AVPs carry them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyLcp {
    pub initial_received: Vec<u8>,
    pub last_sent_confreq: Vec<u8>,
    pub last_received_confreq: Vec<u8>,
}

/// Proxy authentication from the LAC (RFC 2661 §4.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyAuth {
    /// 1 textual username/password, 2 CHAP, 3 PAP, 4 none, 5 MS-CHAPv1.
    pub auth_type: u16,
    pub name: Vec<u8>,
    pub challenge: Vec<u8>,
    pub id: u8,
    pub response: Vec<u8>,
}

/// Why the link went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// The peer sent Terminate-Request.
    PeerTerminate,
    /// `echo_failures` Echo-Requests in a row went unanswered.
    EchoTimeout,
    /// Authentication rejected (by the driver, or by the server for a client).
    AuthFailed,
    /// No authentication result within `auth_timeout`.
    AuthTimeout,
    /// No common authentication method (peer Nak'd or Rejected all of ours).
    NoCommonAuth,
    /// Max-Configure retransmissions of Configure-Request went unanswered.
    MaxConfigure,
    /// Our own magic number keeps coming back: the line is looped back.
    Loopback,
    /// Every network control protocol failed.
    NoNetworkProtocol,
    /// The peer Code- or Protocol-Rejected LCP itself.
    Rejected,
    /// [`Engine::close`].
    LocalClose,
    /// [`Engine::lower_down`]: the L2TP session or tunnel went away.
    LowerDown,
}

/// What the driver must know or do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// LCP reached Opened.
    LinkUp,
    /// Server: decide this and call [`Engine::auth_result`].
    Authenticate(AuthRequest),
    /// Authentication finished (server: as decided; client: as the server said).
    AuthDone {
        ok: bool,
    },
    Ipv4Up {
        local: Ipv4Addr,
        peer: Ipv4Addr,
        dns: [Option<Ipv4Addr>; 2],
    },
    Ipv6Up {
        local_ifid: u64,
        peer_ifid: u64,
    },
    Ipv4Down,
    Ipv6Down,
    /// The link is down for good; the engine is finished.
    Down {
        reason: DownReason,
    },
}

/// PPP phase (RFC 1661 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Establish,
    Authenticate,
    Network,
    Terminate,
    /// Finished: [`Event::Down`] was emitted.
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    Lcp = 0,
    Ipcp = 1,
    Ipv6cp = 2,
}

impl P {
    fn protocol(self) -> u16 {
        match self {
            P::Lcp => protocol::LCP,
            P::Ipcp => protocol::IPCP,
            P::Ipv6cp => protocol::IPV6CP,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthState {
    /// Not started or not needed.
    Idle,
    /// Server: waiting for PAP Request / CHAP Response. Client: waiting for Challenge or
    /// for the server's verdict.
    Waiting,
    /// Server: [`Event::Authenticate`] emitted, waiting for [`Engine::auth_result`].
    Pending,
    Done,
}

// Flags of what we put in our Configure-Requests (cleared when the peer rejects them).
const F_MRU: u8 = 1;
const F_MAGIC: u8 = 2;
const F_AUTH: u8 = 4;
const F_ADDR: u8 = 8;
const F_DNS1: u8 = 16;
const F_DNS2: u8 = 32;
const F_IFID: u8 = 64;

/// Verdict on a peer's Configure-Request.
enum Verdict {
    Ack,
    Nak(Vec<u8>),
    Reject(Vec<u8>),
}

/// One PPP link. `size_of::<Engine>()` is printed by the `engine_size` test (496 bytes on
/// x86-64); its queues hold heap memory only while frames or events wait to be polled.
#[derive(Debug)]
pub struct Engine {
    cfg: Arc<Config>,
    role: Role,
    phase: Phase,
    fsm: [Fsm; 3],
    down_reason: Option<DownReason>,
    /// Every NCP failed: close LCP once the current transition is done.
    pending_close: bool,
    seed: u64,
    rng_counter: u64,
    // LCP
    lcp_flags: u8,
    our_mru: u16,
    peer_mru: u16,
    our_magic: u32,
    peer_magic: u32,
    magic_collisions: u8,
    /// Server: index into `cfg.auth` of the method we request.
    auth_idx: u8,
    auth_method: Option<AuthMethod>,
    echo_timer: Option<Instant>,
    echo_outstanding: u8,
    echo_id: u8,
    // Authentication
    auth_state: AuthState,
    auth_id: u8,
    auth_retx: u8,
    auth_timer: Option<Instant>,
    auth_deadline: Option<Instant>,
    /// Server: our challenge. Client (MS-CHAPv2): the authenticator challenge.
    challenge: [u8; 16],
    /// Client (MS-CHAPv2): our peer challenge.
    peer_challenge: [u8; 16],
    /// Server: the Success/Ack or Failure/Nak sent, resent if the peer repeats itself.
    /// Client: the Request/Response sent, resent on the timer.
    auth_frame: Option<Box<[u8]>>,
    // IPCP
    ipcp_flags: u8,
    v4_set: bool,
    v4: IpcpParams,
    // IPV6CP
    ipv6cp_flags: u8,
    v6_set: bool,
    local_ifid: u64,
    peer_ifid: u64,
    counters: Counters,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// With `record_proxy_lcp`: the Configure-Requests so far (allocated at the first).
    proxy_rec: Option<Box<ProxyLcp>>,
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn auth_option(m: AuthMethod) -> LcpOption {
    match m {
        AuthMethod::Pap => LcpOption::AuthProtocol {
            protocol: protocol::PAP,
            data: vec![],
        },
        AuthMethod::ChapMd5 => LcpOption::AuthProtocol {
            protocol: protocol::CHAP,
            data: vec![chap_algorithm::MD5],
        },
        AuthMethod::MsChapV2 => LcpOption::AuthProtocol {
            protocol: protocol::CHAP,
            data: vec![chap_algorithm::MSCHAPV2],
        },
    }
}

fn auth_method_of(protocol: u16, data: &[u8]) -> Option<AuthMethod> {
    match (protocol, data) {
        (protocol::PAP, []) => Some(AuthMethod::Pap),
        (protocol::CHAP, [chap_algorithm::MD5]) => Some(AuthMethod::ChapMd5),
        (protocol::CHAP, [chap_algorithm::MSCHAPV2]) => Some(AuthMethod::MsChapV2),
        _ => None,
    }
}

fn emit_opts<O: CpOption>(opts: &[O]) -> Vec<u8> {
    let mut v = Vec::new();
    for o in opts {
        // Options we build are short; a too-long one cannot occur.
        let _ = o.emit(&mut v);
    }
    v
}

impl Engine {
    /// A new link in Phase Establish, LCP Initial. Call [`Engine::open`] to start it.
    /// `seed` feeds magic numbers, challenges and identifiers (seed it from the OS in
    /// production, fixed in tests).
    pub fn new(cfg: Arc<Config>, role: Role, now: Instant, seed: u64) -> Self {
        let _ = now;
        let mut e = Engine {
            cfg,
            role,
            phase: Phase::Establish,
            fsm: [Fsm::new(); 3],
            down_reason: None,
            pending_close: false,
            seed,
            rng_counter: 0,
            lcp_flags: 0,
            our_mru: 0,
            peer_mru: 1500,
            our_magic: 0,
            peer_magic: 0,
            magic_collisions: 0,
            auth_idx: 0,
            auth_method: None,
            echo_timer: None,
            echo_outstanding: 0,
            echo_id: 0,
            auth_state: AuthState::Idle,
            auth_id: 0,
            auth_retx: 0,
            auth_timer: None,
            auth_deadline: None,
            challenge: [0; 16],
            peer_challenge: [0; 16],
            auth_frame: None,
            ipcp_flags: 0,
            v4_set: false,
            v4: IpcpParams {
                local: Ipv4Addr::UNSPECIFIED,
                peer: Ipv4Addr::UNSPECIFIED,
                dns: [None; 2],
            },
            ipv6cp_flags: 0,
            v6_set: false,
            local_ifid: 0,
            peer_ifid: 0,
            counters: Counters::default(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            proxy_rec: None,
        };
        e.reset_lcp_request();
        for f in &mut e.fsm {
            f.id = e.seed as u8;
        }
        if role == Role::Client {
            e.local_ifid = e.random_ifid(0);
            e.v6_set = true;
            e.v4_set = true;
            e.ipcp_flags = F_ADDR | F_DNS1 | F_DNS2;
            e.ipv6cp_flags = F_IFID;
        }
        e
    }

    /// A server link whose LCP (and maybe authentication) the LAC already did (RFC 2661
    /// §4.4.5). If the proxied options are acceptable (only MRU, ACCM, Magic-Number,
    /// PFC/ACFC from the peer; our side asked only for those and an authentication method of
    /// our policy; proxy authentication, if any, of a method we can pass on), LCP starts in
    /// Opened with the negotiated values and, with proxy authentication, an
    /// [`Event::Authenticate`] is queued at once (the Ack/Success then goes to the peer with
    /// the proxied identifier). Otherwise LCP is renegotiated from scratch, as RFC 2661
    /// allows. No [`Engine::open`] call is needed.
    pub fn server_with_proxy(
        cfg: Arc<Config>,
        now: Instant,
        seed: u64,
        proxy: &ProxyLcp,
        auth: Option<&ProxyAuth>,
    ) -> Self {
        let mut e = Engine::new(cfg, Role::Server, now, seed);
        match e.proxy_accept(proxy, auth) {
            Some(req) => {
                e.counters.proxy_lcp_accepted += 1;
                e.fsm[P::Lcp as usize].state = State::Opened;
                e.events.push_back(Event::LinkUp);
                e.start_echo(now);
                match req {
                    Some(req) => {
                        e.phase = Phase::Authenticate;
                        e.auth_deadline = Some(now + e.cfg.auth_timeout);
                        e.auth_state = AuthState::Pending;
                        e.counters.auth_requests += 1;
                        e.events.push_back(Event::Authenticate(req));
                    }
                    None => e.tlu_lcp(now),
                }
            }
            None => {
                e.counters.proxy_lcp_renegotiated += 1;
                e.open(now);
            }
        }
        e
    }

    /// `Some(Some(request))`: accepted with proxy authentication; `Some(None)`: accepted,
    /// authenticate ourselves (or not at all); `None`: renegotiate.
    fn proxy_accept(
        &mut self,
        proxy: &ProxyLcp,
        auth: Option<&ProxyAuth>,
    ) -> Option<Option<AuthRequest>> {
        let sent = LcpOption::parse_list(&proxy.last_sent_confreq).ok()?;
        let recvd = LcpOption::parse_list(&proxy.last_received_confreq).ok()?;
        let (mut magic, mut mru, mut method) = (0u32, 1500u16, None);
        for o in &sent {
            match o {
                LcpOption::MagicNumber(m) => magic = *m,
                LcpOption::Mru(_) | LcpOption::Accm(_) | LcpOption::Pfc | LcpOption::Acfc => {}
                LcpOption::AuthProtocol { protocol, data } => {
                    let m = auth_method_of(*protocol, data)?;
                    if !self.cfg.auth.contains(&m) {
                        return None;
                    }
                    method = Some(m);
                }
                LcpOption::Unknown { .. } => return None,
            }
        }
        if method.is_none() && !self.cfg.auth.is_empty() {
            return None;
        }
        let mut peer_magic = 0;
        for o in &recvd {
            match o {
                LcpOption::MagicNumber(m) if *m != 0 && *m != magic => peer_magic = *m,
                LcpOption::Mru(v) if *v >= 64 => mru = *v,
                LcpOption::Accm(_) | LcpOption::Pfc | LcpOption::Acfc => {}
                _ => return None,
            }
        }
        let req = match (auth, method) {
            (None, _) => None,
            (Some(a), _) if a.auth_type == 4 => {
                if method.is_some() {
                    return None;
                }
                None
            }
            (Some(a), Some(AuthMethod::Pap)) if a.auth_type == 1 || a.auth_type == 3 => {
                self.auth_id = a.id;
                Some(AuthRequest {
                    username: a.name.clone(),
                    credentials: Credentials::Pap {
                        password: a.response.clone(),
                    },
                })
            }
            (Some(a), Some(AuthMethod::ChapMd5)) if a.auth_type == 2 => {
                let response: [u8; 16] = a.response.as_slice().try_into().ok()?;
                self.auth_id = a.id;
                Some(AuthRequest {
                    username: a.name.clone(),
                    credentials: Credentials::ChapMd5 {
                        id: a.id,
                        challenge: a.challenge.clone(),
                        response,
                    },
                })
            }
            (Some(a), Some(AuthMethod::MsChapV2)) if a.auth_type == 2 => {
                let r = MsChapV2Response::parse(&a.response).ok()?;
                let auth_challenge: [u8; 16] = a.challenge.as_slice().try_into().ok()?;
                self.auth_id = a.id;
                self.challenge = auth_challenge;
                Some(AuthRequest {
                    username: a.name.clone(),
                    credentials: Credentials::MsChapV2 {
                        id: a.id,
                        auth_challenge,
                        peer_challenge: r.peer_challenge,
                        nt_response: r.nt_response,
                        flags: r.flags,
                    },
                })
            }
            _ => return None,
        };
        self.our_magic = magic;
        self.peer_magic = peer_magic;
        self.peer_mru = mru;
        self.auth_method = method;
        Some(req)
    }

    // ---- getters ----

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// LCP state.
    pub fn state(&self) -> State {
        self.fsm[P::Lcp as usize].state
    }
    pub fn ipcp_state(&self) -> State {
        self.fsm[P::Ipcp as usize].state
    }
    pub fn ipv6cp_state(&self) -> State {
        self.fsm[P::Ipv6cp as usize].state
    }
    /// The peer's magic number (0 until negotiated).
    pub fn peer_magic(&self) -> u32 {
        self.peer_magic
    }
    /// The peer's MRU: the largest packet we may send it.
    pub fn mru(&self) -> u16 {
        self.peer_mru
    }
    /// The negotiated authentication method, if any.
    pub fn auth_method(&self) -> Option<AuthMethod> {
        self.auth_method
    }
    /// With `record_proxy_lcp`, once LCP is Opened: the subscriber's first Configure-Request,
    /// our last one (the one it acknowledged) and its last one (the one we acknowledged),
    /// option bytes as the proxy LCP AVPs of an ICCN carry them (RFC 2661 §4.4.5).
    pub fn proxy_lcp(&self) -> Option<&ProxyLcp> {
        self.proxy_rec
            .as_deref()
            .filter(|_| self.fsm[P::Lcp as usize].state == State::Opened)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// [`Event::Down`] was emitted; the engine does nothing more.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Dead
    }

    // ---- driver API ----

    /// Administrative Open + lower layer Up of LCP: sends the first Configure-Request.
    pub fn open(&mut self, now: Instant) {
        if self.is_finished() {
            return;
        }
        self.ev_open(now, P::Lcp);
        self.ev_up(now, P::Lcp);
    }

    /// Administrative Close: LCP Terminate-Request; [`Event::Down`] with `reason` follows
    /// on Terminate-Ack or after Max-Terminate restarts.
    pub fn close(&mut self, now: Instant, reason: DownReason) {
        if self.is_finished() {
            return;
        }
        if self.down_reason.is_none() {
            self.down_reason = Some(reason);
        }
        self.ev_close(now, P::Lcp);
    }

    /// The lower layer (L2TP session) is gone: down at once, nothing sent.
    pub fn lower_down(&mut self) {
        if self.is_finished() {
            return;
        }
        if self.state() == State::Opened {
            self.tld_lcp();
        }
        self.finish(DownReason::LowerDown);
    }

    /// Server: the decision on the last [`Event::Authenticate`]. Ignored unless one is
    /// pending.
    pub fn auth_result(&mut self, now: Instant, result: AuthResult) {
        if self.role != Role::Server || self.auth_state != AuthState::Pending || self.is_finished()
        {
            return;
        }
        let Some(method) = self.auth_method else {
            return;
        };
        let id = self.auth_id;
        let (ok, frame) = match (&result, method) {
            (AuthResult::Accept { message, .. }, AuthMethod::Pap) => (
                true,
                self.pap_frame(&PapRepr::Ack {
                    id,
                    message: message.as_bytes().to_vec(),
                }),
            ),
            (AuthResult::Reject { message }, AuthMethod::Pap) => (
                false,
                self.pap_frame(&PapRepr::Nak {
                    id,
                    message: message.as_bytes().to_vec(),
                }),
            ),
            (AuthResult::Accept { message, .. }, AuthMethod::ChapMd5) => (
                true,
                self.chap_frame(&ChapRepr::Success {
                    id,
                    message: message.as_bytes().to_vec(),
                }),
            ),
            (
                AuthResult::Accept {
                    message,
                    mschap2_success,
                },
                AuthMethod::MsChapV2,
            ) => {
                let s = mschap2_success.as_deref().unwrap_or("");
                (
                    true,
                    self.chap_frame(&ChapRepr::Success {
                        id,
                        message: format!("{s} M={message}").trim_start().as_bytes().to_vec(),
                    }),
                )
            }
            (AuthResult::Reject { message }, AuthMethod::ChapMd5) => (
                false,
                self.chap_frame(&ChapRepr::Failure {
                    id,
                    message: message.as_bytes().to_vec(),
                }),
            ),
            (AuthResult::Reject { message }, AuthMethod::MsChapV2) => {
                let m = format!("E=691 R=0 C={} V=3 M={message}", hex_upper(&self.challenge));
                (
                    false,
                    self.chap_frame(&ChapRepr::Failure {
                        id,
                        message: m.into_bytes(),
                    }),
                )
            }
        };
        self.push_frame(frame.clone());
        self.auth_frame = Some(frame.into_boxed_slice());
        self.auth_state = AuthState::Done;
        self.auth_deadline = None;
        self.auth_timer = None;
        self.events.push_back(Event::AuthDone { ok });
        if ok {
            self.counters.auth_accepts += 1;
            self.enter_network(now);
        } else {
            self.counters.auth_rejects += 1;
            self.close(now, DownReason::AuthFailed);
        }
    }

    /// Server: the IPv4 addresses of this link. May come before or after authentication;
    /// IPCP waits for it. Later calls after IPCP started are ignored.
    pub fn set_ipv4(&mut self, now: Instant, params: IpcpParams) {
        if self.role != Role::Server || self.v4_set {
            return;
        }
        self.v4 = params;
        self.v4_set = true;
        self.ipcp_flags = F_ADDR;
        if self.phase == Phase::Network && self.fsm[P::Ipcp as usize].state == State::Starting {
            self.ev_up(now, P::Ipcp);
        }
    }

    /// Server: our IPv6 interface identifier. IPV6CP waits for it.
    pub fn set_ipv6(&mut self, now: Instant, local_ifid: u64) {
        if self.role != Role::Server || self.v6_set {
            return;
        }
        self.local_ifid = local_ifid;
        self.v6_set = true;
        self.ipv6cp_flags = F_IFID;
        if self.phase == Phase::Network && self.fsm[P::Ipv6cp as usize].state == State::Starting {
            self.ev_up(now, P::Ipv6cp);
        }
    }

    /// The next frame to send: `ff 03`, 2-byte protocol, packet.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let f = self.tx.pop_front();
        if self.tx.is_empty() && self.tx.capacity() > 0 {
            self.tx = VecDeque::new();
        }
        f
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if self.events.is_empty() && self.events.capacity() > 0 {
            self.events = VecDeque::new();
        }
        e
    }

    /// The one next deadline of this link.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        self.fsm
            .iter()
            .map(|f| f.timer)
            .chain([self.echo_timer, self.auth_timer, self.auth_deadline])
            .flatten()
            .min()
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for p in [P::Lcp, P::Ipcp, P::Ipv6cp] {
            if self.is_finished() {
                return;
            }
            if self.fsm[p as usize].timer.is_some_and(|t| t <= now) {
                self.fsm[p as usize].timer = None;
                self.ev_timeout(now, p);
            }
        }
        if self.is_finished() {
            return;
        }
        if self.auth_deadline.is_some_and(|t| t <= now) {
            self.auth_deadline = None;
            self.auth_timer = None;
            self.counters.auth_timeouts += 1;
            self.close(now, DownReason::AuthTimeout);
        }
        if self.auth_timer.is_some_and(|t| t <= now) {
            self.auth_timer = None;
            self.auth_retransmit(now);
        }
        if self.echo_timer.is_some_and(|t| t <= now) {
            self.echo_timer = None;
            self.echo_tick(now);
        }
    }

    /// A received PPP frame, with or without `ff 03`, protocol field of 1 or 2 bytes.
    pub fn handle_frame(&mut self, now: Instant, bytes: &[u8]) {
        if self.is_finished() {
            return;
        }
        self.counters.rx_frames += 1;
        let Ok((proto, hlen)) = frame::parse(bytes) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let body = &bytes[hlen..];
        match proto {
            protocol::LCP => self.rx_cp::<LcpOption>(now, P::Lcp, body),
            protocol::IPCP if self.cfg.enable_ipv4 => self.rx_ncp::<IpcpOption>(now, P::Ipcp, body),
            protocol::IPV6CP if self.cfg.enable_ipv6 => {
                self.rx_ncp::<Ipv6cpOption>(now, P::Ipv6cp, body)
            }
            protocol::PAP => self.rx_pap(now, body),
            protocol::CHAP => self.rx_chap(now, body),
            protocol::IPV4 | protocol::IPV6 => self.counters.rx_discarded += 1,
            _ => {
                self.counters.rx_unknown_protocol += 1;
                if self.state() == State::Opened {
                    let max = usize::from(self.peer_mru).saturating_sub(6);
                    let data = body[..body.len().min(max)].to_vec();
                    let id = self.next_id(P::Lcp);
                    self.send_cp::<LcpOption>(
                        P::Lcp,
                        CpRepr {
                            identifier: id,
                            data: CpData::ProtocolReject {
                                protocol: proto,
                                data,
                            },
                        },
                    );
                } else {
                    self.counters.rx_discarded += 1;
                }
            }
        }
    }

    // ---- randomness: SHA-1 in counter mode over the seed ----

    fn random(&mut self) -> [u8; 20] {
        self.rng_counter += 1;
        let mut h = Sha1::new();
        h.update(self.seed.to_le_bytes());
        h.update(self.rng_counter.to_le_bytes());
        h.finalize().into()
    }
    fn random_u32(&mut self) -> u32 {
        let r = self.random();
        u32::from_le_bytes([r[0], r[1], r[2], r[3]])
    }
    fn random_magic(&mut self) -> u32 {
        loop {
            let m = self.random_u32();
            if m != 0 && m != self.our_magic && m != self.peer_magic {
                return m;
            }
        }
    }
    fn random_ifid(&mut self, avoid: u64) -> u64 {
        loop {
            let r = self.random();
            let v = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
            if v != 0 && v != avoid {
                return v;
            }
        }
    }
    fn random16(&mut self) -> [u8; 16] {
        let r = self.random();
        let mut o = [0; 16];
        o.copy_from_slice(&r[..16]);
        o
    }

    // ---- sending ----

    fn push_frame(&mut self, f: Vec<u8>) {
        self.counters.tx_frames += 1;
        self.tx.push_back(f);
    }
    fn send_cp<O: CpOption>(&mut self, p: P, repr: CpRepr<O>) {
        let f = build_frame(p.protocol(), |out| {
            let _ = repr.emit(out);
        });
        self.push_frame(f);
    }
    fn send_raw(&mut self, p: P, code: u8, id: u8, data: &[u8]) {
        let f = build_frame(p.protocol(), |out| {
            out.extend_from_slice(&[code, id]);
            let len = (data.len() + 4).min(usize::from(u16::MAX)) as u16;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&data[..usize::from(len) - 4]);
        });
        self.push_frame(f);
    }
    fn pap_frame(&self, r: &PapRepr) -> Vec<u8> {
        build_frame(protocol::PAP, |out| {
            let _ = r.emit(out);
        })
    }
    fn chap_frame(&self, r: &ChapRepr) -> Vec<u8> {
        build_frame(protocol::CHAP, |out| {
            let _ = r.emit(out);
        })
    }
    fn next_id(&mut self, p: P) -> u8 {
        let f = &mut self.fsm[p as usize];
        f.id = f.id.wrapping_add(1);
        f.id
    }

    // ---- our Configure-Request per protocol ----

    fn reset_lcp_request(&mut self) {
        self.lcp_flags = F_MRU | F_MAGIC;
        self.our_mru = self.cfg.mru;
        if self.role == Role::Server && !self.cfg.auth.is_empty() {
            self.lcp_flags |= F_AUTH;
        }
        self.auth_idx = 0;
        if self.our_magic == 0 {
            self.our_magic = self.random_magic();
        }
    }

    fn our_request(&self, p: P) -> Vec<u8> {
        match p {
            P::Lcp => {
                let mut o = Vec::new();
                if self.lcp_flags & F_MRU != 0 {
                    o.push(LcpOption::Mru(self.our_mru));
                }
                if self.lcp_flags & F_AUTH != 0 {
                    if let Some(m) = self.cfg.auth.get(usize::from(self.auth_idx)) {
                        o.push(auth_option(*m));
                    }
                }
                if self.lcp_flags & F_MAGIC != 0 {
                    o.push(LcpOption::MagicNumber(self.our_magic));
                }
                emit_opts(&o)
            }
            P::Ipcp => {
                let mut o = Vec::new();
                if self.ipcp_flags & F_ADDR != 0 {
                    o.push(IpcpOption::IpAddress(self.v4.local));
                }
                let z = Ipv4Addr::UNSPECIFIED;
                if self.ipcp_flags & F_DNS1 != 0 {
                    o.push(IpcpOption::PrimaryDns(self.v4.dns[0].unwrap_or(z)));
                }
                if self.ipcp_flags & F_DNS2 != 0 {
                    o.push(IpcpOption::SecondaryDns(self.v4.dns[1].unwrap_or(z)));
                }
                emit_opts(&o)
            }
            P::Ipv6cp => {
                if self.ipv6cp_flags & F_IFID != 0 {
                    emit_opts(&[Ipv6cpOption::InterfaceId(self.local_ifid)])
                } else {
                    Vec::new()
                }
            }
        }
    }

    // ---- RFC 1661 actions ----

    fn irc(&mut self, p: P, terminate: bool) {
        self.fsm[p as usize].restart = if terminate {
            self.cfg.max_terminate
        } else {
            self.cfg.max_configure
        };
    }
    fn zrc(&mut self, now: Instant, p: P) {
        self.fsm[p as usize].restart = 0;
        self.fsm[p as usize].timer = Some(now + self.cfg.restart_timer);
    }
    fn scr(&mut self, now: Instant, p: P) {
        let id = self.next_id(p);
        let opts = self.our_request(p);
        self.send_raw(p, 1, id, &opts);
        let f = &mut self.fsm[p as usize];
        f.restart = f.restart.saturating_sub(1);
        f.timer = Some(now + self.cfg.restart_timer);
    }
    fn str_(&mut self, now: Instant, p: P) {
        let id = self.next_id(p);
        self.send_raw(p, 5, id, &[]);
        let f = &mut self.fsm[p as usize];
        f.restart = f.restart.saturating_sub(1);
        f.timer = Some(now + self.cfg.restart_timer);
    }
    fn sta(&mut self, p: P, id: u8) {
        self.send_raw(p, 6, id, &[]);
    }
    fn set_state(&mut self, p: P, s: State) {
        let f = &mut self.fsm[p as usize];
        f.state = s;
        if !matches!(
            s,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        ) {
            f.timer = None;
        }
    }

    fn tlu(&mut self, now: Instant, p: P) {
        match p {
            P::Lcp => {
                self.events.push_back(Event::LinkUp);
                self.start_echo(now);
                self.negotiated_server_auth();
                self.tlu_lcp(now);
            }
            P::Ipcp => {
                let v = self.v4;
                self.events.push_back(Event::Ipv4Up {
                    local: v.local,
                    peer: v.peer,
                    dns: v.dns,
                });
            }
            P::Ipv6cp => self.events.push_back(Event::Ipv6Up {
                local_ifid: self.local_ifid,
                peer_ifid: self.peer_ifid,
            }),
        }
    }

    fn tld(&mut self, p: P) {
        match p {
            P::Lcp => self.tld_lcp(),
            P::Ipcp => self.events.push_back(Event::Ipv4Down),
            P::Ipv6cp => self.events.push_back(Event::Ipv6Down),
        }
    }

    fn tlf(&mut self, p: P) {
        match p {
            P::Lcp => {
                let r = self.down_reason.unwrap_or(DownReason::MaxConfigure);
                self.finish(r);
            }
            P::Ipcp | P::Ipv6cp => {
                let alive =
                    |s: State| !matches!(s, State::Stopped | State::Closed | State::Initial);
                let v4 = self.cfg.enable_ipv4 && alive(self.ipcp_state());
                let v6 = self.cfg.enable_ipv6 && alive(self.ipv6cp_state());
                if self.phase == Phase::Network && !v4 && !v6 {
                    // Called from inside an NCP transition; closing LCP from here is fine as
                    // the NCP's own state is already final.
                    self.down_reason
                        .get_or_insert(DownReason::NoNetworkProtocol);
                    self.pending_close = true;
                }
            }
        }
    }

    /// LCP left Opened: every NCP goes down, authentication stops, keepalive stops.
    fn tld_lcp(&mut self) {
        for p in [P::Ipcp, P::Ipv6cp] {
            if self.fsm[p as usize].state == State::Opened {
                self.tld(p);
            }
            self.fsm[p as usize] = Fsm {
                id: self.fsm[p as usize].id,
                ..Fsm::new()
            };
        }
        self.echo_timer = None;
        self.auth_timer = None;
        self.auth_deadline = None;
        self.auth_frame = None;
        if self.auth_state != AuthState::Done {
            self.auth_state = AuthState::Idle;
        }
        // LCP renegotiates (back to Establish) unless the link is terminating or dead.
        if self.phase != Phase::Dead && self.phase != Phase::Terminate {
            self.phase = Phase::Establish;
        }
    }

    fn finish(&mut self, reason: DownReason) {
        if self.phase == Phase::Dead {
            return;
        }
        self.phase = Phase::Dead;
        for f in &mut self.fsm {
            f.timer = None;
        }
        self.echo_timer = None;
        self.auth_timer = None;
        self.auth_deadline = None;
        self.auth_frame = None;
        self.events.push_back(Event::Down { reason });
    }
}
