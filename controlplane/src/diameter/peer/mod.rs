//! Sans-IO Diameter peer (RFC 6733 §2.1, §5, §6.2, §7; watchdog of RFC 3539 §3.4): one
//! [`Peer`] per transport connection.
//!
//! The engine never touches a socket or a clock. Its driver (see [`super::driver`] for the
//! TCP one) tells it about the connection — [`Peer::connect`] / [`Peer::accept`],
//! [`Peer::handle_connected`], [`Peer::handle_input`] with the bytes read,
//! [`Peer::handle_transport_closed`] — wakes it at [`Peer::poll_timeout`] with
//! [`Peer::handle_timeout`], writes what [`Peer::poll_transmit`] returns, and hands
//! [`Peer::poll_event`]s to the application (the AAA roles). The application sends requests
//! with [`Peer::send_request`] and answers with [`Peer::send_answer`]. Randomness (the
//! first Hop-by-Hop and End-to-End ids, the watchdog jitter) comes from an injected
//! [`rand::Rng`], so tests are deterministic.
//!
//! ## States (RFC 6733 §5.6, one connection)
//! - [`State::WaitConnAck`]: we are connecting (initiator); [`Peer::handle_connected`] sends
//!   the CER and moves to [`State::WaitICea`]; a failed connect or `connect_timeout` closes.
//! - [`State::WaitCer`]: a connection was accepted (responder) and its CER has not come yet
//!   (the RFC's Closed state before R-Conn-CER); `cer_timeout` closes.
//! - [`State::WaitICea`]: our CER is out; `cer_timeout` closes.
//! - [`State::IOpen`] / [`State::ROpen`]: open, as initiator / responder.
//! - [`State::Closing`]: we sent a DPR and wait for the DPA, or we answered the peer's DPR and
//!   wait for it to close the transport; `dpa_timeout` closes.
//! - [`State::Closed`]: final; the driver flushes what is left to send and closes.
//!
//! Election (§5.6.4, two connections to the same peer at once) is not done inside the engine,
//! which sees one connection: [`election_won`] gives the caller that keeps one connection
//! per peer the RFC's comparison, and the caller closes the losing connection.
//!
//! ## Capabilities exchange (§5.3)
//! CER and CEA carry Origin-Host, Origin-Realm, every Host-IP-Address, Vendor-Id,
//! Product-Name, Origin-State-Id, Supported-Vendor-Id, Auth-/Acct-Application-Id,
//! Vendor-Specific-Application-Id and Firmware-Revision from [`Config`]. The common
//! applications are the intersection of both sides' application ids (auth, acct and
//! vendor-specific together); the Relay id (0xffffffff) on one side makes every application
//! of the other side common. No common application: CEA with DIAMETER_NO_COMMON_APPLICATION
//! (5010) and close; a CER listing Inband-Security-Id without NO_INBAND_SECURITY (0): 5017
//! (TLS is not done). A CER with a missing or malformed AVP is answered with 5005 / 5014 /
//! 5004 and a Failed-AVP, then the connection closes.
//!
//! ## Errors (§7)
//! A request that does not parse is answered with the Result-Code of its [`wire::Error`]
//! (3008 DIAMETER_INVALID_HDR_BITS and 3009 DIAMETER_INVALID_AVP_BITS with the E bit, 5014
//! DIAMETER_INVALID_AVP_LENGTH, 5004, ...) and a Failed-AVP holding the offending AVP's
//! header with an empty payload (§7.5); an unknown AVP with the M bit (per
//! [`Config::known_avp`]) gets 5001 DIAMETER_AVP_UNSUPPORTED with the whole AVP in
//! Failed-AVP. Answers that do not parse are counted and dropped. A broken stream (version not
//! 1, impossible or too large Message Length) is answered with 5011 / 5015 when it was a
//! request and the connection closes: a stream cannot be resynchronised. A message before
//! the capabilities exchange is done is answered (if a request) with
//! DIAMETER_UNABLE_TO_COMPLY (5012) and the connection closes. Requests of a command of the
//! common application (0) other than CER/DWR/DPR get 3001, of an application not common to
//! both peers 3007.
//!
//! ## Watchdog (RFC 3539 §3.4.1)
//! Open, every message received re-arms a timer of Tw (`watchdog_interval`, RFC 3539
//! recommends 30 s and at least 6 s) with ±2 s of jitter (at most ±Tw/4). When it fires with
//! no DWR outstanding a DWR goes out; when it fires with one outstanding, the peer is
//! suspect ([`Event::Suspect`], with the pending requests to fail over); when it fires
//! again while suspect, the connection closes ([`DownReason::WatchdogExpired`]). Any
//! message from a suspect peer is a failback ([`Event::Failback`]). The REOPEN state (three
//! DWAs after a reconnection) belongs to the caller that reconnects.
//!
//! ## Identifiers (§3, §6.2)
//! Hop-by-Hop ids count up from a random start and are unique among pending requests;
//! End-to-End ids start at the low 12 bits of `Config::epoch_secs` (the wall clock, given by
//! the driver) in the top 12 bits and 20 random bits, and count up. An answer is matched to
//! its request by Hop-by-Hop id (and command code); an answer matching nothing is counted
//! and dropped; a request without answer after `request_timeout` is
//! [`Event::AnswerTimeout`].
//!
//! Not done: duplicate detection of retransmitted requests (T bit), TLS/DTLS, SCTP,
//! election, peer tables and realm routing (the caller's).

pub mod stream;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::wire::codes::{app, cmd, code, result};
use super::wire::{self, Address, Avp, Header, Message, MessageView, HEADER_LEN};
pub use stream::{Frame, FrameError, Reassembler};

/// NO_INBAND_SECURITY value of Inband-Security-Id (RFC 6733 §6.10).
pub const NO_INBAND_SECURITY: u32 = 0;

/// A Vendor-Specific-Application-Id (RFC 6733 §6.11): a vendor and one auth or acct
/// application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorApp {
    /// Vendor-Id.
    pub vendor_id: u32,
    /// Auth-Application-Id, or
    pub auth: Option<u32>,
    /// Acct-Application-Id.
    pub acct: Option<u32>,
}

impl VendorApp {
    fn id(&self) -> Option<u32> {
        self.auth.or(self.acct)
    }
}

/// AVP codes of the base protocol this engine understands (for the M-bit check).
const BASE_AVPS: &[u32] = &[
    code::USER_NAME,
    code::CLASS,
    code::SESSION_TIMEOUT,
    code::PROXY_STATE,
    code::ACCT_SESSION_ID,
    code::ACCT_MULTI_SESSION_ID,
    code::EVENT_TIMESTAMP,
    code::ACCT_INTERIM_INTERVAL,
    code::HOST_IP_ADDRESS,
    code::AUTH_APPLICATION_ID,
    code::ACCT_APPLICATION_ID,
    code::VENDOR_SPECIFIC_APPLICATION_ID,
    code::REDIRECT_HOST_USAGE,
    code::REDIRECT_MAX_CACHE_TIME,
    code::SESSION_ID,
    code::ORIGIN_HOST,
    code::SUPPORTED_VENDOR_ID,
    code::VENDOR_ID,
    code::FIRMWARE_REVISION,
    code::RESULT_CODE,
    code::PRODUCT_NAME,
    code::SESSION_BINDING,
    code::SESSION_SERVER_FAILOVER,
    code::MULTI_ROUND_TIME_OUT,
    code::DISCONNECT_CAUSE,
    code::AUTH_REQUEST_TYPE,
    code::AUTH_GRACE_PERIOD,
    code::AUTH_SESSION_STATE,
    code::ORIGIN_STATE_ID,
    code::FAILED_AVP,
    code::PROXY_HOST,
    code::ERROR_MESSAGE,
    code::ROUTE_RECORD,
    code::DESTINATION_REALM,
    code::PROXY_INFO,
    code::RE_AUTH_REQUEST_TYPE,
    code::ACCOUNTING_SUB_SESSION_ID,
    code::AUTHORIZATION_LIFETIME,
    code::REDIRECT_HOST,
    code::DESTINATION_HOST,
    code::ERROR_REPORTING_HOST,
    code::TERMINATION_CAUSE,
    code::ORIGIN_REALM,
    code::EXPERIMENTAL_RESULT,
    code::EXPERIMENTAL_RESULT_CODE,
    code::INBAND_SECURITY_ID,
    code::ACCOUNTING_RECORD_TYPE,
    code::ACCOUNTING_REALTIME_REQUIRED,
    code::ACCOUNTING_RECORD_NUMBER,
];

/// AVP codes of the Mobile IPv4 application (RFC 4004 §7).
const MIP_AVPS: &[u32] = &[
    code::MIP_FA_TO_HA_SPI,
    code::MIP_FA_TO_MN_SPI,
    code::MIP_REG_REQUEST,
    code::MIP_REG_REPLY,
    code::MIP_MN_AAA_AUTH,
    code::MIP_HA_TO_FA_SPI,
    code::MIP_MN_TO_FA_MSA,
    code::MIP_FA_TO_MN_MSA,
    code::MIP_FA_TO_HA_MSA,
    code::MIP_HA_TO_FA_MSA,
    code::MIP_MN_TO_HA_MSA,
    code::MIP_HA_TO_MN_MSA,
    code::MIP_MOBILE_NODE_ADDRESS,
    code::MIP_HOME_AGENT_ADDRESS,
    code::MIP_NONCE,
    code::MIP_CANDIDATE_HOME_AGENT_HOST,
    code::MIP_FEATURE_VECTOR,
    code::MIP_AUTH_INPUT_DATA_LENGTH,
    code::MIP_AUTHENTICATOR_LENGTH,
    code::MIP_AUTHENTICATOR_OFFSET,
    code::MIP_MN_AAA_SPI,
    code::MIP_FILTER_RULE,
    code::MIP_SESSION_KEY,
    code::MIP_FA_CHALLENGE,
    code::MIP_ALGORITHM_TYPE,
    code::MIP_REPLAY_MODE,
    code::MIP_ORIGINATING_FOREIGN_AAA,
    code::MIP_HOME_AGENT_HOST,
    code::MIP_MSA_LIFETIME,
];

/// The default dictionary for the M-bit check: the base protocol's AVPs in every
/// application, plus RFC 4004's in the Mobile IPv4 application; no vendor AVPs.
pub fn default_known_avp(application: u32, avp: u32, vendor: Option<u32>) -> bool {
    vendor.is_none()
        && (BASE_AVPS.contains(&avp)
            || (application == app::MOBILE_IPV4 && MIP_AVPS.contains(&avp)))
}

/// Engine configuration: what we advertise and the timers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Origin-Host (our DiameterIdentity, an FQDN).
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Host-IP-Address values (at least one is sent; none configured sends 127.0.0.1, so
    /// set the connection's local address).
    pub host_ip_addresses: Vec<IpAddr>,
    /// Vendor-Id (IANA enterprise number; 0 = none).
    pub vendor_id: u32,
    /// Product-Name.
    pub product_name: String,
    /// Firmware-Revision, if sent.
    pub firmware_revision: Option<u32>,
    /// Origin-State-Id: changes at every restart (the driver passes e.g. the boot time).
    pub origin_state_id: u32,
    /// Supported-Vendor-Id values.
    pub supported_vendor_ids: Vec<u32>,
    /// Auth-Application-Id values (default: 2, Mobile IPv4).
    pub auth_applications: Vec<u32>,
    /// Acct-Application-Id values.
    pub acct_applications: Vec<u32>,
    /// Vendor-Specific-Application-Id values.
    pub vendor_applications: Vec<VendorApp>,
    /// Act as a relay: advertise the Relay application id and pass every application's
    /// requests up.
    pub relay: bool,
    /// Which AVPs with the M bit are understood, per application id (the M-bit check of
    /// every request).
    pub known_avp: fn(u32, u32, Option<u32>) -> bool,
    /// Wall-clock seconds (Unix) when the engine starts, for the End-to-End ids.
    pub epoch_secs: u64,
    /// How long a connect may take (Wait-Conn-Ack).
    pub connect_timeout: Duration,
    /// How long to wait for the CER (responder) or the CEA (initiator).
    pub cer_timeout: Duration,
    /// Tw of RFC 3539 (before jitter).
    pub watchdog_interval: Duration,
    /// How long Closing waits for the DPA, or for the peer to close after our DPA.
    pub dpa_timeout: Duration,
    /// How long an application request waits for its answer.
    pub request_timeout: Duration,
    /// Largest Message Length accepted from the peer; a longer one closes the connection.
    pub max_message_len: usize,
    /// Most application requests waiting for an answer.
    pub max_pending_requests: usize,
}

impl Config {
    /// Defaults (Tw 30 s, 10 s for the other timers, 64 KiB messages, 4096 pending requests,
    /// the Mobile IPv4 application) for this identity.
    pub fn new(origin_host: &str, origin_realm: &str) -> Self {
        Config {
            origin_host: origin_host.to_string(),
            origin_realm: origin_realm.to_string(),
            host_ip_addresses: Vec::new(),
            vendor_id: 0,
            product_name: "varouter".to_string(),
            firmware_revision: None,
            origin_state_id: 0,
            supported_vendor_ids: Vec::new(),
            auth_applications: vec![app::MOBILE_IPV4],
            acct_applications: Vec::new(),
            vendor_applications: Vec::new(),
            relay: false,
            known_avp: default_known_avp,
            epoch_secs: 0,
            connect_timeout: Duration::from_secs(10),
            cer_timeout: Duration::from_secs(10),
            watchdog_interval: Duration::from_secs(30),
            dpa_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_message_len: 65536,
            max_pending_requests: 4096,
        }
    }

    /// Every application id we advertise (Relay included when `relay`).
    fn applications(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .auth_applications
            .iter()
            .chain(&self.acct_applications)
            .copied()
            .chain(self.vendor_applications.iter().filter_map(VendorApp::id))
            .collect();
        if self.relay {
            v.push(app::RELAY);
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Connection state (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Final.
    Closed,
    /// Connecting.
    WaitConnAck,
    /// Our CER is out.
    WaitICea,
    /// Accepted, waiting for the peer's CER.
    WaitCer,
    /// Open, we initiated.
    IOpen,
    /// Open, the peer initiated.
    ROpen,
    /// Disconnecting.
    Closing,
}

impl State {
    /// I-Open or R-Open.
    pub fn is_open(self) -> bool {
        matches!(self, State::IOpen | State::ROpen)
    }
}

/// What the peer told us in its CER or CEA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerInfo {
    pub origin_host: String,
    pub origin_realm: String,
    pub host_ip_addresses: Vec<Address>,
    pub vendor_id: u32,
    pub product_name: String,
    pub origin_state_id: Option<u32>,
    pub firmware_revision: Option<u32>,
    pub supported_vendor_ids: Vec<u32>,
    pub auth_applications: Vec<u32>,
    pub acct_applications: Vec<u32>,
    pub vendor_applications: Vec<VendorApp>,
    pub inband_security: Vec<u32>,
    /// The applications both sides support (sorted; [`app::RELAY`] alone when both relay).
    pub common_applications: Vec<u32>,
}

impl PeerInfo {
    fn applications(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .auth_applications
            .iter()
            .chain(&self.acct_applications)
            .copied()
            .chain(self.vendor_applications.iter().filter_map(VendorApp::id))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The applications common to two sorted lists of advertised ids (see the module docs).
/// The common-messages id 0 is never a negotiated application.
pub fn common_applications(ours: &[u32], theirs: &[u32]) -> Vec<u32> {
    let real = |v: &[u32]| -> Vec<u32> {
        v.iter()
            .copied()
            .filter(|a| *a != app::COMMON && *a != app::RELAY)
            .collect()
    };
    match (ours.contains(&app::RELAY), theirs.contains(&app::RELAY)) {
        (true, true) => vec![app::RELAY],
        (false, true) => real(ours),
        (true, false) => real(theirs),
        (false, false) => real(ours)
            .into_iter()
            .filter(|a| theirs.contains(a))
            .collect(),
    }
}

/// The election of RFC 6733 §5.6.4, for the caller that finds two connections to the same
/// peer (ours in Wait-I-CEA or open, and one the peer opened, whose CER names
/// `remote_origin_host`): the local node wins when its Origin-Host is greater, compared as
/// octet strings. The winner keeps the connection the peer opened (the responder one) and
/// drops its own; the loser drops the responder one and keeps waiting for its CEA.
pub fn election_won(local_origin_host: &str, remote_origin_host: &str) -> bool {
    local_origin_host.as_bytes() > remote_origin_host.as_bytes()
}

/// Why the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The driver could not connect.
    ConnectFailed,
    /// The connect did not complete within `connect_timeout`.
    ConnectTimeout,
    /// No CER within `cer_timeout` after accepting.
    CerTimeout,
    /// No CEA within `cer_timeout` after our CER.
    CeaTimeout,
    /// The peer's CEA carried this non-success Result-Code.
    CapabilitiesRefused { result_code: u32 },
    /// We refused the peer's CER or CEA with this Result-Code (5010 when no application is
    /// common).
    Rejected { result_code: u32 },
    /// The peer sent a DPR with this Disconnect-Cause.
    PeerDisconnect { cause: Option<u32> },
    /// We sent a DPR; `answered` when the DPA came.
    LocalDisconnect { answered: bool },
    /// Closed before the exchange (local request while not open).
    Aborted,
    /// Two watchdog intervals without any message (RFC 3539).
    WatchdogExpired,
    /// The transport closed under us.
    TransportClosed,
    /// The byte stream is broken (bad version, Message Length).
    Framing(FrameError),
    /// A message of this command came before the capabilities exchange was done.
    BeforeCapabilities { command: u32 },
    /// The peer broke the protocol otherwise.
    Protocol(&'static str),
}

/// Output of the engine for the application and the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Capabilities exchanged: the connection is open.
    Up(Box<PeerInfo>),
    /// A request of a common application (or any, when relaying): the application answers
    /// it with [`Peer::send_answer`].
    Request(Message),
    /// The answer to our request `hop_by_hop`.
    Answer { hop_by_hop: u32, message: Message },
    /// No answer to our request within `request_timeout`.
    AnswerTimeout {
        hop_by_hop: u32,
        end_to_end: u32,
        command: u32,
        application: u32,
    },
    /// The watchdog found the peer unresponsive: these pending requests should be failed
    /// over to another peer (RFC 3539 §3.4.1 Failover()).
    Suspect { pending: Vec<u32> },
    /// The suspect peer spoke again.
    Failback,
    /// The connection closed; `pending` lists the requests left without answer.
    Down {
        reason: DownReason,
        pending: Vec<u32>,
    },
}

/// Refusals of local requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("the Diameter connection is not open (state {0:?})")]
    NotOpen(State),
    #[error("application {0} was not negotiated with this peer")]
    ApplicationNotCommon(u32),
    #[error("too many requests waiting for an answer (max_pending_requests {0})")]
    TooManyPending(usize),
    #[error("a request was given where an answer is expected, or the reverse")]
    WrongKind,
    #[error("cannot encode the message: {0}")]
    Encode(#[from] wire::Error),
}

/// Named counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_bytes: u64,
    pub rx_messages: u64,
    pub rx_requests: u64,
    pub rx_answers: u64,
    pub tx_messages: u64,
    pub tx_requests: u64,
    pub tx_answers: u64,
    /// Answers we sent with a Result-Code other than 2xxx.
    pub tx_error_answers: u64,
    pub rx_cer: u64,
    pub rx_cea: u64,
    pub rx_dwr: u64,
    pub rx_dwa: u64,
    pub rx_dpr: u64,
    pub rx_dpa: u64,
    pub tx_cer: u64,
    pub tx_cea: u64,
    pub tx_dwr: u64,
    pub tx_dwa: u64,
    pub tx_dpr: u64,
    pub tx_dpa: u64,
    pub rx_app_requests: u64,
    pub rx_app_answers: u64,
    pub tx_app_requests: u64,
    /// Answers matching no pending request (dropped).
    pub rx_unmatched_answers: u64,
    pub answer_timeouts: u64,
    /// Local requests refused by `max_pending_requests`.
    pub requests_refused: u64,
    pub watchdog_failovers: u64,
    pub watchdog_failbacks: u64,
    pub watchdog_expired: u64,
    /// Broken streams (version, Message Length, over the size limit).
    pub malformed_framing: u64,
    /// Messages with bad header bits.
    pub malformed_header: u64,
    /// Messages with bad AVP lengths, flags or nesting.
    pub malformed_avp: u64,
    /// Answers dropped because they did not parse.
    pub malformed_answers_dropped: u64,
    pub avp_unsupported: u64,
    pub missing_avp: u64,
    pub invalid_avp_value: u64,
    pub no_common_application: u64,
    pub no_common_security: u64,
    pub application_unsupported: u64,
    pub command_unsupported: u64,
    pub before_capabilities: u64,
    /// Bytes given before the connection was up or after it closed (ignored).
    pub rx_after_close: u64,
}

/// A refusal of a CER/CEA: Result-Code, the AVP for Failed-AVP, a text for Error-Message.
#[derive(Debug)]
struct Refusal {
    result_code: u32,
    failed: Option<Avp>,
    message: &'static str,
}

impl Refusal {
    fn missing(avp: u32, message: &'static str) -> Refusal {
        Refusal {
            result_code: result::MISSING_AVP,
            failed: Some(Avp::new(avp, Vec::new())),
            message,
        }
    }
    fn bad(avp: &Avp, e: &wire::Error) -> Refusal {
        Refusal {
            result_code: e.result_code().unwrap_or(result::INVALID_AVP_VALUE),
            failed: Some(avp.clone()),
            message: "malformed capabilities AVP",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    deadline: Instant,
    end_to_end: u32,
    command: u32,
    application: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Watchdog {
    deadline: Option<Instant>,
    /// Hop-by-Hop id of the outstanding DWR.
    outstanding: Option<u32>,
    suspect: bool,
}

/// The engine of one Diameter connection (see the [module docs](self)).
#[derive(Debug)]
pub struct Peer<R> {
    cfg: Config,
    rng: R,
    state: State,
    rx: Reassembler,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    counters: Counters,
    /// Deadline of the current state (connect, CER/CEA wait, closing).
    state_deadline: Option<Instant>,
    watchdog: Watchdog,
    pending: HashMap<u32, Pending>,
    deadlines: BTreeSet<(Instant, u32)>,
    /// Hop-by-Hop id of our CER or DPR while its answer is awaited.
    base_outstanding: Option<u32>,
    next_hop_by_hop: u32,
    next_end_to_end: u32,
    remote: Option<PeerInfo>,
    /// Why Closing will end in Closed.
    closing_reason: Option<DownReason>,
    reported_deadline: Option<Instant>,
}

impl<R: Rng> Peer<R> {
    fn new(cfg: Config, mut rng: R, state: State, deadline: Instant) -> Self {
        let next_hop_by_hop = rng.next_u32();
        let next_end_to_end = ((cfg.epoch_secs & 0xfff) as u32) << 20 | rng.next_u32() & 0xf_ffff;
        Peer {
            rx: Reassembler::new(cfg.max_message_len),
            cfg,
            rng,
            state,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            state_deadline: Some(deadline),
            watchdog: Watchdog::default(),
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            base_outstanding: None,
            next_hop_by_hop,
            next_end_to_end,
            remote: None,
            closing_reason: None,
            reported_deadline: None,
        }
    }

    /// An engine for a connection we are opening (Wait-Conn-Ack): call
    /// [`Peer::handle_connected`] when the transport is up.
    pub fn connect(cfg: Config, rng: R, now: Instant) -> Self {
        let d = now + cfg.connect_timeout;
        Peer::new(cfg, rng, State::WaitConnAck, d)
    }

    /// An engine for a connection we accepted: it waits for the peer's CER.
    pub fn accept(cfg: Config, rng: R, now: Instant) -> Self {
        let d = now + cfg.cer_timeout;
        Peer::new(cfg, rng, State::WaitCer, d)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The state.
    pub fn state(&self) -> State {
        self.state
    }
    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// What the peer advertised, once the capabilities are exchanged.
    pub fn remote(&self) -> Option<&PeerInfo> {
        self.remote.as_ref()
    }
    /// Application requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }
    /// Bytes held of a message not yet complete (never more than `max_message_len`).
    pub fn buffered(&self) -> usize {
        self.rx.buffered()
    }
    /// Whether the watchdog currently suspects the peer.
    pub fn is_suspect(&self) -> bool {
        self.watchdog.suspect
    }
    /// Whether the connection is over (the driver closes it once the transmits are out).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes to write to the transport, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }
    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    /// When [`Peer::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.state_deadline,
            self.watchdog.deadline,
            self.deadlines.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }
    /// `Some(deadline)` once after the deadline of [`Peer::poll_timeout`] changed (`None`
    /// inside: no timer needed), for drivers that arm one timer per connection.
    pub fn poll_timer_update(&mut self) -> Option<Option<Instant>> {
        let d = self.poll_timeout();
        (d != self.reported_deadline).then(|| {
            self.reported_deadline = d;
            d
        })
    }

    // ---- transport events ----

    /// The connection we opened is up: send the CER.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != State::WaitConnAck {
            return;
        }
        let hbh = self.alloc_hop_by_hop();
        let e2e = self.alloc_end_to_end();
        let cer = self.capabilities(Message::request(
            cmd::CAPABILITIES_EXCHANGE,
            app::COMMON,
            hbh,
            e2e,
        ));
        self.base_outstanding = Some(hbh);
        self.counters.tx_cer += 1;
        self.transmit(&cer.not_proxiable());
        self.state = State::WaitICea;
        self.state_deadline = Some(now + self.cfg.cer_timeout);
    }

    /// The connect failed.
    pub fn handle_connect_failed(&mut self, _now: Instant) {
        if self.state == State::WaitConnAck {
            self.close(DownReason::ConnectFailed);
        }
    }

    /// The peer closed the transport (or it failed).
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        if self.state == State::Closed {
            return;
        }
        let reason = self
            .closing_reason
            .take()
            .unwrap_or(DownReason::TransportClosed);
        self.close(reason);
    }

    /// Bytes read from the transport: reassembles and processes every whole message.
    pub fn handle_input(&mut self, now: Instant, mut bytes: &[u8]) {
        if matches!(self.state, State::Closed | State::WaitConnAck) {
            self.counters.rx_after_close += bytes.len() as u64;
            return;
        }
        self.counters.rx_bytes += bytes.len() as u64;
        while let Some(frame) = self.rx.next(&mut bytes) {
            match frame {
                Frame::Message(m) => self.on_message(now, &m),
                Frame::Broken { error, header } => self.on_broken(error, &header),
            }
            if self.state == State::Closed {
                self.counters.rx_after_close += bytes.len() as u64;
                return;
            }
        }
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state_deadline.is_some_and(|d| d <= now) {
            self.state_deadline = None;
            match self.state {
                State::WaitConnAck => self.close(DownReason::ConnectTimeout),
                State::WaitCer => self.close(DownReason::CerTimeout),
                State::WaitICea => self.close(DownReason::CeaTimeout),
                State::Closing => {
                    let r = self
                        .closing_reason
                        .take()
                        .unwrap_or(DownReason::LocalDisconnect { answered: false });
                    self.close(r);
                }
                _ => {}
            }
        }
        if self.watchdog.deadline.is_some_and(|d| d <= now) {
            self.watchdog_fired(now);
        }
        while let Some(&(t, hbh)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&hbh) {
                self.counters.answer_timeouts += 1;
                self.events.push_back(Event::AnswerTimeout {
                    hop_by_hop: hbh,
                    end_to_end: p.end_to_end,
                    command: p.command,
                    application: p.application,
                });
            }
        }
    }

    // ---- local requests ----

    /// Sends an application request: sets the R bit and a fresh Hop-by-Hop id (and an
    /// End-to-End id when it is 0), and waits `request_timeout` for the answer. Returns the
    /// Hop-by-Hop id, which [`Event::Answer`] / [`Event::AnswerTimeout`] carry.
    pub fn send_request(&mut self, now: Instant, mut msg: Message) -> Result<u32, PeerError> {
        if !self.state.is_open() {
            return Err(PeerError::NotOpen(self.state));
        }
        let application = msg.header.application;
        if application != app::COMMON && !self.is_common(application) {
            return Err(PeerError::ApplicationNotCommon(application));
        }
        if self.pending.len() >= self.cfg.max_pending_requests {
            self.counters.requests_refused += 1;
            return Err(PeerError::TooManyPending(self.cfg.max_pending_requests));
        }
        msg.header.request = true;
        msg.header.error = false;
        msg.header.hop_by_hop = self.alloc_hop_by_hop();
        if msg.header.end_to_end == 0 {
            msg.header.end_to_end = self.alloc_end_to_end();
        }
        let bytes = msg.emit()?;
        let hbh = msg.header.hop_by_hop;
        let deadline = now + self.cfg.request_timeout;
        self.pending.insert(
            hbh,
            Pending {
                deadline,
                end_to_end: msg.header.end_to_end,
                command: msg.header.command,
                application,
            },
        );
        self.deadlines.insert((deadline, hbh));
        self.counters.tx_app_requests += 1;
        self.push(bytes, true);
        Ok(hbh)
    }

    /// Sends an answer the application built (e.g. with [`Peer::answer`]).
    pub fn send_answer(&mut self, msg: &Message) -> Result<(), PeerError> {
        if !(self.state.is_open() || self.state == State::Closing) {
            return Err(PeerError::NotOpen(self.state));
        }
        if msg.header.request {
            return Err(PeerError::WrongKind);
        }
        let bytes = msg.emit()?;
        self.count_error_answer(msg);
        self.push(bytes, false);
        Ok(())
    }

    /// Disconnects: with a DPR carrying `cause` (RFC 6733 §5.4.3) when open, else at once.
    pub fn disconnect(&mut self, now: Instant, cause: u32) {
        match self.state {
            State::IOpen | State::ROpen => {
                let hbh = self.alloc_hop_by_hop();
                let e2e = self.alloc_end_to_end();
                let dpr = Message::request(cmd::DISCONNECT_PEER, app::COMMON, hbh, e2e)
                    .not_proxiable()
                    .with(Avp::text(code::ORIGIN_HOST, &self.cfg.origin_host))
                    .with(Avp::text(code::ORIGIN_REALM, &self.cfg.origin_realm))
                    .with(Avp::u32(code::DISCONNECT_CAUSE, cause));
                self.base_outstanding = Some(hbh);
                self.counters.tx_dpr += 1;
                self.transmit(&dpr);
                self.enter_closing(now, DownReason::LocalDisconnect { answered: false });
            }
            State::Closing | State::Closed => {}
            State::WaitConnAck | State::WaitCer | State::WaitICea => {
                self.close(DownReason::Aborted)
            }
        }
    }

    /// An answer to `req` with our Origin-Host/Realm and `result_code` (the E bit set for
    /// 3xxx), Session-Id first when the request had one; the application appends its AVPs.
    pub fn answer(&self, req: &Message, result_code: u32) -> Message {
        let mut a = Message::answer_to(&req.header);
        a.header.error = result::is_protocol_error(result_code);
        if let Some(sid) = req.find(code::SESSION_ID) {
            a.avps.push(sid.clone());
        }
        a.with(Avp::u32(code::RESULT_CODE, result_code))
            .with(Avp::text(code::ORIGIN_HOST, &self.cfg.origin_host))
            .with(Avp::text(code::ORIGIN_REALM, &self.cfg.origin_realm))
    }

    // ---- internals ----

    fn alloc_hop_by_hop(&mut self) -> u32 {
        loop {
            let id = self.next_hop_by_hop;
            self.next_hop_by_hop = id.wrapping_add(1);
            if !self.pending.contains_key(&id) && self.base_outstanding != Some(id) {
                return id;
            }
        }
    }

    fn alloc_end_to_end(&mut self) -> u32 {
        let id = self.next_end_to_end;
        self.next_end_to_end = id.wrapping_add(1);
        id
    }

    fn is_common(&self, application: u32) -> bool {
        self.remote.as_ref().is_some_and(|r| {
            r.common_applications.contains(&application)
                || r.common_applications.contains(&app::RELAY)
        })
    }

    fn push(&mut self, bytes: Vec<u8>, request: bool) {
        self.counters.tx_messages += 1;
        if request {
            self.counters.tx_requests += 1;
        } else {
            self.counters.tx_answers += 1;
        }
        self.transmits.push_back(bytes);
    }

    fn count_error_answer(&mut self, msg: &Message) {
        let rc = msg.find(code::RESULT_CODE).and_then(|a| a.as_u32().ok());
        if rc.is_some_and(|c| !(2000..3000).contains(&c)) {
            self.counters.tx_error_answers += 1;
        }
    }

    /// Emits a message the engine built (always encodable: bounded fields we chose).
    fn transmit(&mut self, msg: &Message) {
        match msg.emit() {
            Ok(b) => {
                if !msg.header.request {
                    self.count_error_answer(msg);
                }
                self.push(b, msg.header.request);
            }
            Err(e) => {
                tracing::warn!(error = %e, "Diameter peer: could not encode own message");
            }
        }
    }

    /// Our capabilities AVPs appended to a CER or CEA.
    fn capabilities(&self, mut m: Message) -> Message {
        let c = &self.cfg;
        // An answer built by `answer` already has them.
        if m.find(code::ORIGIN_HOST).is_none() {
            m = m
                .with(Avp::text(code::ORIGIN_HOST, &c.origin_host))
                .with(Avp::text(code::ORIGIN_REALM, &c.origin_realm));
        }
        if c.host_ip_addresses.is_empty() {
            m = m.with(Avp::address(
                code::HOST_IP_ADDRESS,
                &Address::V4(std::net::Ipv4Addr::LOCALHOST),
            ));
        }
        for a in &c.host_ip_addresses {
            m = m.with(Avp::address(code::HOST_IP_ADDRESS, &Address::from(*a)));
        }
        m = m
            .with(Avp::u32(code::VENDOR_ID, c.vendor_id))
            .with(Avp::text(code::PRODUCT_NAME, &c.product_name).optional())
            .with(Avp::u32(code::ORIGIN_STATE_ID, c.origin_state_id));
        for v in &c.supported_vendor_ids {
            m = m.with(Avp::u32(code::SUPPORTED_VENDOR_ID, *v));
        }
        for a in &c.auth_applications {
            m = m.with(Avp::u32(code::AUTH_APPLICATION_ID, *a));
        }
        if c.relay {
            m = m.with(Avp::u32(code::AUTH_APPLICATION_ID, app::RELAY));
        }
        for a in &c.acct_applications {
            m = m.with(Avp::u32(code::ACCT_APPLICATION_ID, *a));
        }
        for v in &c.vendor_applications {
            let mut kids = vec![Avp::u32(code::VENDOR_ID, v.vendor_id)];
            if let Some(a) = v.auth {
                kids.push(Avp::u32(code::AUTH_APPLICATION_ID, a));
            }
            if let Some(a) = v.acct {
                kids.push(Avp::u32(code::ACCT_APPLICATION_ID, a));
            }
            if let Ok(g) = Avp::grouped(code::VENDOR_SPECIFIC_APPLICATION_ID, &kids) {
                m = m.with(g);
            }
        }
        if let Some(f) = c.firmware_revision {
            m = m.with(Avp::u32(code::FIRMWARE_REVISION, f).optional());
        }
        m
    }

    /// An error answer to a request header, with Failed-AVP and Error-Message.
    fn error_answer(
        &self,
        req: &Header,
        session: Option<Avp>,
        result_code: u32,
        failed: Option<Avp>,
        text: &str,
    ) -> Message {
        let mut a = Message::answer_to(req);
        a.header.error = result::is_protocol_error(result_code);
        if let Some(s) = session {
            a.avps.push(s);
        }
        a = a
            .with(Avp::u32(code::RESULT_CODE, result_code))
            .with(Avp::text(code::ORIGIN_HOST, &self.cfg.origin_host))
            .with(Avp::text(code::ORIGIN_REALM, &self.cfg.origin_realm))
            .with(Avp::text(code::ERROR_MESSAGE, text).optional());
        if let Some(f) = failed {
            if let Ok(g) = Avp::grouped(code::FAILED_AVP, &[f]) {
                a = a.with(g);
            }
        }
        a
    }

    fn close(&mut self, reason: DownReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.state_deadline = None;
        self.watchdog = Watchdog::default();
        self.base_outstanding = None;
        self.closing_reason = None;
        self.deadlines.clear();
        let mut pending: Vec<u32> = self.pending.drain().map(|(k, _)| k).collect();
        pending.sort_unstable();
        self.events.push_back(Event::Down { reason, pending });
    }

    fn enter_closing(&mut self, now: Instant, reason: DownReason) {
        self.state = State::Closing;
        self.state_deadline = Some(now + self.cfg.dpa_timeout);
        self.watchdog = Watchdog::default();
        self.closing_reason = Some(reason);
    }

    fn open(&mut self, now: Instant, state: State, info: PeerInfo) {
        let first = !self.state.is_open();
        self.state = state;
        self.state_deadline = None;
        self.remote = Some(info.clone());
        if first {
            self.set_watchdog(now);
            self.events.push_back(Event::Up(Box::new(info)));
        }
    }

    fn set_watchdog(&mut self, now: Instant) {
        let tw = self.cfg.watchdog_interval;
        let jitter = Duration::from_secs(2).min(tw / 4);
        let span = (jitter.as_millis() as u64) * 2 + 1;
        let offset = Duration::from_millis(self.rng.next_u64() % span);
        self.watchdog.deadline = Some(now + tw - jitter + offset);
    }

    fn watchdog_fired(&mut self, now: Instant) {
        if !self.state.is_open() {
            self.watchdog.deadline = None;
            return;
        }
        if self.watchdog.suspect {
            self.counters.watchdog_expired += 1;
            self.close(DownReason::WatchdogExpired);
        } else if self.watchdog.outstanding.is_some() {
            self.watchdog.suspect = true;
            self.counters.watchdog_failovers += 1;
            let mut pending: Vec<u32> = self.pending.keys().copied().collect();
            pending.sort_unstable();
            self.events.push_back(Event::Suspect { pending });
            self.set_watchdog(now);
        } else {
            let hbh = self.alloc_hop_by_hop();
            let e2e = self.alloc_end_to_end();
            let dwr = Message::request(cmd::DEVICE_WATCHDOG, app::COMMON, hbh, e2e)
                .not_proxiable()
                .with(Avp::text(code::ORIGIN_HOST, &self.cfg.origin_host))
                .with(Avp::text(code::ORIGIN_REALM, &self.cfg.origin_realm))
                .with(Avp::u32(code::ORIGIN_STATE_ID, self.cfg.origin_state_id));
            self.watchdog.outstanding = Some(hbh);
            self.counters.tx_dwr += 1;
            self.transmit(&dwr);
            self.set_watchdog(now);
        }
    }

    /// Any message from an open peer re-arms the watchdog and ends suspicion.
    fn watchdog_heard(&mut self, now: Instant) {
        if !self.state.is_open() {
            return;
        }
        if self.watchdog.suspect {
            self.watchdog.suspect = false;
            self.counters.watchdog_failbacks += 1;
            self.events.push_back(Event::Failback);
        }
        self.set_watchdog(now);
    }

    fn on_broken(&mut self, error: FrameError, header: &[u8]) {
        self.counters.malformed_framing += 1;
        if header.len() >= HEADER_LEN && header[4] & 0x80 != 0 {
            let h = raw_header(header);
            let text = error.to_string();
            let a = self.error_answer(&h, None, error.result_code(), None, &text);
            self.transmit(&a);
        }
        self.close(DownReason::Framing(error));
    }

    fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        self.counters.rx_messages += 1;
        let view = match MessageView::new_checked(bytes) {
            Ok(v) => v,
            Err(e) => return self.on_malformed(bytes, &e),
        };
        let msg = Message::from_view(&view);
        if msg.header.request {
            self.counters.rx_requests += 1;
        } else {
            self.counters.rx_answers += 1;
        }
        self.watchdog_heard(now);
        match self.state {
            State::WaitCer => {
                if msg.header.request && msg.header.command == cmd::CAPABILITIES_EXCHANGE {
                    self.on_cer(now, &view, &msg);
                } else {
                    self.before_capabilities(&msg);
                }
            }
            State::WaitICea => {
                if !msg.header.request && msg.header.command == cmd::CAPABILITIES_EXCHANGE {
                    self.on_cea(now, &msg);
                } else {
                    self.before_capabilities(&msg);
                }
            }
            State::IOpen | State::ROpen | State::Closing => {
                if msg.header.request {
                    self.on_request(now, &view, msg);
                } else {
                    self.on_answer(msg);
                }
            }
            State::Closed | State::WaitConnAck => {}
        }
    }

    /// A message that failed validation: answer a request, drop an answer; a CER that
    /// fails closes the connection, as does any message before the exchange.
    fn on_malformed(&mut self, bytes: &[u8], e: &wire::Error) {
        match e {
            wire::Error::InvalidHdrBits { .. } => self.counters.malformed_header += 1,
            _ => self.counters.malformed_avp += 1,
        }
        let h = raw_header(bytes);
        if !h.request {
            self.counters.malformed_answers_dropped += 1;
            self.counters.rx_answers += 1;
            if matches!(self.state, State::WaitICea | State::WaitCer) {
                self.close(DownReason::Protocol(
                    "malformed message before capabilities",
                ));
            }
            return;
        }
        self.counters.rx_requests += 1;
        let failed = e.avp_offset().and_then(|at| failed_avp_header(bytes, at));
        let session = first_session_id(bytes);
        let rc = e.result_code().unwrap_or(result::UNABLE_TO_COMPLY);
        let text = e.to_string();
        let a = self.error_answer(&h, session, rc, failed, &text);
        self.transmit(&a);
        if matches!(self.state, State::WaitCer | State::WaitICea) {
            self.close(DownReason::Rejected { result_code: rc });
        }
    }

    fn before_capabilities(&mut self, msg: &Message) {
        self.counters.before_capabilities += 1;
        if msg.header.request {
            let a = self.error_answer(
                &msg.header,
                msg.find(code::SESSION_ID).cloned(),
                result::UNABLE_TO_COMPLY,
                None,
                "capabilities exchange not done",
            );
            self.transmit(&a);
        }
        self.close(DownReason::BeforeCapabilities {
            command: msg.header.command,
        });
    }

    /// The M-bit check of a request: answers 5001 and returns false when it fails.
    fn mandatory_ok(&mut self, view: &MessageView<'_>, msg: &Message) -> bool {
        let application = msg.header.application;
        let known = self.cfg.known_avp;
        let Err(e) = view.check_mandatory(|c, v| known(application, c, v)) else {
            return true;
        };
        self.counters.avp_unsupported += 1;
        let failed = e
            .avp_offset()
            .and_then(|at| wire::avp::read_one(view.as_bytes(), at, 0).ok())
            .map(|(a, _)| a.to_owned());
        let text = e.to_string();
        let a = self.error_answer(
            &msg.header,
            msg.find(code::SESSION_ID).cloned(),
            result::AVP_UNSUPPORTED,
            failed,
            &text,
        );
        self.transmit(&a);
        false
    }

    fn on_cer(&mut self, now: Instant, view: &MessageView<'_>, msg: &Message) {
        self.counters.rx_cer += 1;
        if !self.mandatory_ok(view, msg) {
            if !self.state.is_open() {
                self.close(DownReason::Rejected {
                    result_code: result::AVP_UNSUPPORTED,
                });
            }
            return;
        }
        let refusal = match parse_capabilities(msg) {
            Err(r) => r,
            Ok(mut info) => {
                info.common_applications =
                    common_applications(&self.cfg.applications(), &info.applications());
                if info.common_applications.is_empty() {
                    self.counters.no_common_application += 1;
                    Refusal {
                        result_code: result::NO_COMMON_APPLICATION,
                        failed: None,
                        message: "no common application",
                    }
                } else if !info.inband_security.is_empty()
                    && !info.inband_security.contains(&NO_INBAND_SECURITY)
                {
                    self.counters.no_common_security += 1;
                    Refusal {
                        result_code: result::NO_COMMON_SECURITY,
                        failed: msg.find(code::INBAND_SECURITY_ID).cloned(),
                        message: "only NO_INBAND_SECURITY is supported",
                    }
                } else {
                    let cea = self.capabilities(self.answer(msg, result::SUCCESS));
                    self.counters.tx_cea += 1;
                    self.transmit(&cea);
                    let state = if self.state.is_open() {
                        self.state
                    } else {
                        State::ROpen
                    };
                    self.open(now, state, info);
                    return;
                }
            }
        };
        if refusal.result_code == result::MISSING_AVP {
            self.counters.missing_avp += 1;
        } else if refusal.result_code == result::INVALID_AVP_VALUE {
            self.counters.invalid_avp_value += 1;
        }
        let mut cea = self.capabilities(self.answer(msg, refusal.result_code));
        cea = cea.with(Avp::text(code::ERROR_MESSAGE, refusal.message).optional());
        if let Some(f) = refusal.failed {
            if let Ok(g) = Avp::grouped(code::FAILED_AVP, &[f]) {
                cea = cea.with(g);
            }
        }
        self.counters.tx_cea += 1;
        self.transmit(&cea);
        self.close(DownReason::Rejected {
            result_code: refusal.result_code,
        });
    }

    fn on_cea(&mut self, now: Instant, msg: &Message) {
        self.counters.rx_cea += 1;
        if self.base_outstanding != Some(msg.header.hop_by_hop) {
            self.counters.rx_unmatched_answers += 1;
            return self.close(DownReason::Protocol("CEA does not match our CER"));
        }
        self.base_outstanding = None;
        let rc = msg.find(code::RESULT_CODE).and_then(|a| a.as_u32().ok());
        match rc {
            Some(rc) if (2000..3000).contains(&rc) => {}
            Some(rc) => return self.close(DownReason::CapabilitiesRefused { result_code: rc }),
            None => return self.close(DownReason::Protocol("CEA without a Result-Code")),
        }
        match parse_capabilities(msg) {
            Err(r) => self.close(DownReason::Rejected {
                result_code: r.result_code,
            }),
            Ok(mut info) => {
                info.common_applications =
                    common_applications(&self.cfg.applications(), &info.applications());
                if info.common_applications.is_empty() {
                    self.counters.no_common_application += 1;
                    self.close(DownReason::Rejected {
                        result_code: result::NO_COMMON_APPLICATION,
                    });
                } else {
                    self.open(now, State::IOpen, info);
                }
            }
        }
    }

    fn on_request(&mut self, now: Instant, view: &MessageView<'_>, msg: Message) {
        let h = msg.header;
        if h.command == cmd::CAPABILITIES_EXCHANGE {
            return self.on_cer(now, view, &msg);
        }
        if !self.mandatory_ok(view, &msg) {
            return;
        }
        match h.command {
            cmd::DEVICE_WATCHDOG => {
                self.counters.rx_dwr += 1;
                let dwa = self
                    .answer(&msg, result::SUCCESS)
                    .with(Avp::u32(code::ORIGIN_STATE_ID, self.cfg.origin_state_id));
                self.counters.tx_dwa += 1;
                self.transmit(&dwa);
            }
            cmd::DISCONNECT_PEER => {
                self.counters.rx_dpr += 1;
                let cause = msg
                    .find(code::DISCONNECT_CAUSE)
                    .and_then(|a| a.as_u32().ok());
                let dpa = self.answer(&msg, result::SUCCESS);
                self.counters.tx_dpa += 1;
                self.transmit(&dpa);
                if self.state != State::Closing {
                    self.enter_closing(now, DownReason::PeerDisconnect { cause });
                }
            }
            _ if h.application == app::COMMON => {
                self.counters.command_unsupported += 1;
                let a = self.error_answer(
                    &h,
                    msg.find(code::SESSION_ID).cloned(),
                    result::COMMAND_UNSUPPORTED,
                    None,
                    "command not supported in the common application",
                );
                self.transmit(&a);
            }
            _ if self.is_common(h.application) => {
                self.counters.rx_app_requests += 1;
                self.events.push_back(Event::Request(msg));
            }
            _ => {
                self.counters.application_unsupported += 1;
                let a = self.error_answer(
                    &h,
                    msg.find(code::SESSION_ID).cloned(),
                    result::APPLICATION_UNSUPPORTED,
                    None,
                    "application not common to both peers",
                );
                self.transmit(&a);
            }
        }
    }

    fn on_answer(&mut self, msg: Message) {
        let hbh = msg.header.hop_by_hop;
        match msg.header.command {
            cmd::DEVICE_WATCHDOG if self.watchdog.outstanding == Some(hbh) => {
                self.counters.rx_dwa += 1;
                self.watchdog.outstanding = None;
            }
            cmd::DISCONNECT_PEER if self.base_outstanding == Some(hbh) => {
                self.counters.rx_dpa += 1;
                self.close(DownReason::LocalDisconnect { answered: true });
            }
            _ => match self.pending.remove(&hbh) {
                Some(p) if p.command == msg.header.command => {
                    self.deadlines.remove(&(p.deadline, hbh));
                    self.counters.rx_app_answers += 1;
                    self.events.push_back(Event::Answer {
                        hop_by_hop: hbh,
                        message: msg,
                    });
                }
                other => {
                    if let Some(p) = other {
                        self.pending.insert(hbh, p);
                    }
                    self.counters.rx_unmatched_answers += 1;
                }
            },
        }
    }
}

/// The header fields of a buffer of at least 20 bytes, read without validation.
fn raw_header(b: &[u8]) -> Header {
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let f = b[4];
    Header {
        request: f & 0x80 != 0,
        proxiable: f & 0x40 != 0,
        error: f & 0x20 != 0,
        retransmit: f & 0x10 != 0,
        command: u32_at(4) & 0x00ff_ffff,
        application: u32_at(8),
        hop_by_hop: u32_at(12),
        end_to_end: u32_at(16),
    }
}

/// For Failed-AVP (RFC 6733 §7.5): the header of the AVP at `at` — code, V and M flags,
/// Vendor-Id when there are bytes for it — with an empty payload, since its length or
/// flags are what is wrong.
fn failed_avp_header(b: &[u8], at: usize) -> Option<Avp> {
    let h = b.get(at..)?;
    let code = u32::from_be_bytes(h.get(..4)?.try_into().ok()?);
    let flags = h.get(4).copied().unwrap_or(0);
    let vendor = if flags & wire::avp::FLAG_VENDOR != 0 {
        Some(
            h.get(8..12)
                .and_then(|v| v.try_into().ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0),
        )
    } else {
        None
    };
    Some(Avp {
        code,
        vendor,
        mandatory: flags & wire::avp::FLAG_MANDATORY != 0,
        protected: false,
        data: Vec::new(),
    })
}

/// The Session-Id of a message that did not validate, when it is its first AVP and well
/// formed (RFC 6733 §8.8 puts it first).
fn first_session_id(b: &[u8]) -> Option<Avp> {
    let (a, _) = wire::avp::read_one(b, HEADER_LEN, 0).ok()?;
    (a.code == code::SESSION_ID && a.vendor.is_none()).then(|| a.to_owned())
}

fn want_u32(msg: &Message, c: u32, what: &'static str) -> Result<u32, Refusal> {
    let a = msg.find(c).ok_or_else(|| Refusal::missing(c, what))?;
    a.as_u32().map_err(|e| Refusal::bad(a, &e))
}

fn all_u32(msg: &Message, c: u32) -> Result<Vec<u32>, Refusal> {
    msg.find_all(c)
        .map(|a| a.as_u32().map_err(|e| Refusal::bad(a, &e)))
        .collect()
}

fn want_identity(msg: &Message, c: u32, what: &'static str) -> Result<String, Refusal> {
    let a = msg.find(c).ok_or_else(|| Refusal::missing(c, what))?;
    a.as_identity()
        .map(str::to_string)
        .map_err(|e| Refusal::bad(a, &e))
}

/// The capabilities AVPs of a CER or CEA (RFC 6733 §5.3.1, §5.3.2).
fn parse_capabilities(msg: &Message) -> Result<PeerInfo, Refusal> {
    let origin_host = want_identity(msg, code::ORIGIN_HOST, "Origin-Host missing")?;
    let origin_realm = want_identity(msg, code::ORIGIN_REALM, "Origin-Realm missing")?;
    let mut host_ip_addresses = Vec::new();
    for a in msg.find_all(code::HOST_IP_ADDRESS) {
        host_ip_addresses.push(a.as_address().map_err(|e| Refusal::bad(a, &e))?);
    }
    if host_ip_addresses.is_empty() {
        return Err(Refusal {
            result_code: result::MISSING_AVP,
            failed: Some(Avp::address(
                code::HOST_IP_ADDRESS,
                &Address::V4(std::net::Ipv4Addr::UNSPECIFIED),
            )),
            message: "Host-IP-Address missing",
        });
    }
    let vendor_id = want_u32(msg, code::VENDOR_ID, "Vendor-Id missing")?;
    let pn = msg
        .find(code::PRODUCT_NAME)
        .ok_or_else(|| Refusal::missing(code::PRODUCT_NAME, "Product-Name missing"))?;
    let product_name = pn.as_utf8().map_err(|e| Refusal::bad(pn, &e))?.to_string();
    let origin_state_id = match msg.find(code::ORIGIN_STATE_ID) {
        Some(a) => Some(a.as_u32().map_err(|e| Refusal::bad(a, &e))?),
        None => None,
    };
    let firmware_revision = match msg.find(code::FIRMWARE_REVISION) {
        Some(a) => Some(a.as_u32().map_err(|e| Refusal::bad(a, &e))?),
        None => None,
    };
    let mut vendor_applications = Vec::new();
    for g in msg.find_all(code::VENDOR_SPECIFIC_APPLICATION_ID) {
        let kids = g.as_grouped().map_err(|e| Refusal::bad(g, &e))?;
        let get = |c: u32| -> Result<Option<u32>, Refusal> {
            match kids.iter().find(|k| k.code == c && k.vendor.is_none()) {
                Some(k) => k.as_u32().map(Some).map_err(|e| Refusal::bad(k, &e)),
                None => Ok(None),
            }
        };
        let v = VendorApp {
            vendor_id: get(code::VENDOR_ID)?.ok_or_else(|| {
                Refusal::missing(
                    code::VENDOR_ID,
                    "Vendor-Specific-Application-Id without Vendor-Id",
                )
            })?,
            auth: get(code::AUTH_APPLICATION_ID)?,
            acct: get(code::ACCT_APPLICATION_ID)?,
        };
        if v.auth.is_some() == v.acct.is_some() {
            return Err(Refusal {
                result_code: result::INVALID_AVP_VALUE,
                failed: Some(g.clone()),
                message: "Vendor-Specific-Application-Id needs exactly one application id",
            });
        }
        vendor_applications.push(v);
    }
    Ok(PeerInfo {
        origin_host,
        origin_realm,
        host_ip_addresses,
        vendor_id,
        product_name,
        origin_state_id,
        firmware_revision,
        supported_vendor_ids: all_u32(msg, code::SUPPORTED_VENDOR_ID)?,
        auth_applications: all_u32(msg, code::AUTH_APPLICATION_ID)?,
        acct_applications: all_u32(msg, code::ACCT_APPLICATION_ID)?,
        vendor_applications,
        inband_security: all_u32(msg, code::INBAND_SECURITY_ID)?,
        common_applications: Vec::new(),
    })
}
