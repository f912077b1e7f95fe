//! Sans-IO RADIUS client: authentication (RFC 2865) and accounting (RFC 2866).
//!
//! One [`Client`] per virtual router: each ISP's VR has its own servers and secrets. The
//! driver owns `source_ports` UDP sockets and feeds what they receive to
//! [`Client::handle_datagram`], sends what [`Client::poll_transmit`] returns from the socket
//! it names, and wakes the client at [`Client::poll_timeout`] with [`Client::handle_timeout`].
//! Results come out of [`Client::poll_event`], tagged with the caller's cookie.
//!
//! Identifiers: each source socket has its own 256 identifiers, so up to
//! `256 × source_ports` requests are in flight. Slots are handed out round-robin across
//! all sockets (an identifier is not reused right after it was freed, so a late answer to
//! an old request finds no match). When every slot is busy, requests wait in a bounded
//! queue; overflow is refused with [`ClientError::QueueFull`] and counted.
//!
//! Retransmission and failover policy:
//! - A request is sent `1 + retries` times to a server, `timeout` apart. Access-Request
//!   retransmissions are byte-identical (same identifier and authenticator, RFC 5080
//!   §2.2.1). Accounting retransmissions carry an updated Acct-Delay-Time (RFC 2866 §5.2),
//!   which changes the Request Authenticator, so each one takes a new identifier
//!   (RFC 5080 §2.2.1: a changed packet is a new request).
//! - After the last try without a valid answer the server is marked dead for `dead_time`
//!   and the request moves to the next server (a new Request Authenticator, since secrets
//!   differ). Servers are tried in configured order, live ones first, then dead ones — a
//!   request is never refused just because every server is marked dead. A valid answer
//!   marks the server alive again; a dead server is used again once `dead_time` passed.
//! - When every server was tried, the request ends with [`ClientResult::Timeout`] or
//!   [`ClientResult::AcctFailed`].
//!
//! Answers are accepted only from the server the request was last sent to, on the socket
//! and with the identifier it was sent with, with a valid Response Authenticator and — for
//! every Access-Accept/Reject/Challenge — a valid Message-Authenticator (Blast-RADIUS,
//! CVE-2024-3596). Requests carry a Message-Authenticator as their first attribute. Every
//! drop has its own counter.
//!
//! Tunnel attributes (RFC 2868): an Access-Accept's are grouped into [`AuthAttrs::tunnels`]
//! (by tag, most preferred first, Tunnel-Passwords decrypted with the server's secret and
//! the request's authenticator). An Accept whose tunnel attributes are malformed — one does
//! not decode, a password does not decrypt, salts repeat, values conflict within a tag, or
//! tagged and untagged ones are mixed — ends as [`ClientResult::Reject`] and is counted in
//! `accept_tunnel_invalid` (the reason in [`Client::last_tunnel_error`]): RFC 2868 §3.1
//! has an initiator that cannot use the offered tunnels "behave as though an Access-Reject
//! had been received", and the answer itself was valid, so it is not dropped and
//! retransmitted (see [`super::wire::tunnel`]). Whether the tunnels suit a LAC is the
//! caller's question: [`AuthAttrs::l2tp_tunnels`].

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::wire::crypto::{self, Signing, VerifyError};
use super::wire::{
    choose_l2tp, code, is_tunnel_attribute, tunnels, values, Attribute, ChapPassword, Ipv6Prefix,
    L2tpChoice, MsAttr, MsChap2Response, Packet, Repr, TunnelError, TunnelSpec, Vsa,
};

/// A RADIUS server and the secret shared with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub addr: SocketAddr,
    pub secret: Vec<u8>,
}

/// Client configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub auth_servers: Vec<Server>,
    pub acct_servers: Vec<Server>,
    /// Wait for an answer before retransmitting.
    pub timeout: Duration,
    /// Retransmissions per server after the first send.
    pub retries: u32,
    pub nas_identifier: String,
    pub nas_ip: Option<Ipv4Addr>,
    /// Number of source sockets the driver opens (1..=16; each gives 256 identifiers).
    pub source_ports: usize,
    /// Requests waiting for a free identifier.
    pub max_queue: usize,
    /// Requests outstanding at once (the rest wait in the queue): a burst of logins must
    /// not overflow the server's socket buffer, which turns into retransmissions after a
    /// full timeout (FreeRADIUS's default 208 KiB buffer drops at ~500 outstanding).
    pub max_in_flight: usize,
    /// How long a server that did not answer is skipped.
    pub dead_time: Duration,
}

impl Config {
    /// Defaults: 3 s timeout, 3 retries, 4 source ports, 4096 queued, 128 in flight, 30 s
    /// dead time.
    pub fn new(nas_identifier: &str) -> Self {
        Config {
            auth_servers: Vec::new(),
            acct_servers: Vec::new(),
            timeout: Duration::from_secs(3),
            retries: 3,
            nas_identifier: nas_identifier.to_owned(),
            nas_ip: None,
            source_ports: 4,
            max_queue: 4096,
            max_in_flight: 128,
            dead_time: Duration::from_secs(30),
        }
    }
}

/// How the user authenticated to us (PPP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Pap {
        password: Vec<u8>,
    },
    /// CHAP-MD5: the CHAP identifier, our challenge and the peer's 16-byte response.
    Chap {
        id: u8,
        challenge: Vec<u8>,
        response: [u8; 16],
    },
    /// MS-CHAPv2 (RFC 2759), sent as MS-CHAP-Challenge + MS-CHAP2-Response (RFC 2548).
    MsChapV2 {
        ident: u8,
        auth_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
        flags: u8,
    },
}

/// An authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub user: String,
    pub auth: Auth,
    pub nas_port: u32,
    pub nas_port_type: u32,
    pub nas_port_id: Option<String>,
    pub calling_station: Option<String>,
    pub called_station: Option<String>,
    pub acct_session_id: String,
    pub service_type: u32,
    pub framed_protocol: u32,
    /// State from an Access-Challenge, echoed back (RFC 2865 §5.24).
    pub state: Option<Vec<u8>>,
    /// The caller's cookie, returned in the event.
    pub tag: u64,
}

impl AccessRequest {
    /// A PPP user: Service-Type Framed, Framed-Protocol PPP, NAS-Port-Type Virtual.
    pub fn ppp(user: &str, auth: Auth, acct_session_id: &str, tag: u64) -> Self {
        AccessRequest {
            user: user.to_owned(),
            auth,
            nas_port: 0,
            nas_port_type: values::NAS_PORT_TYPE_VIRTUAL,
            nas_port_id: None,
            calling_station: None,
            called_station: None,
            acct_session_id: acct_session_id.to_owned(),
            service_type: values::SERVICE_TYPE_FRAMED,
            framed_protocol: values::FRAMED_PROTOCOL_PPP,
            state: None,
            tag,
        }
    }
}

/// Acct-Status-Type (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcctStatus {
    Start = 1,
    Stop = 2,
    Interim = 3,
    On = 7,
    Off = 8,
}

/// An accounting request. Octet counters are 64-bit and sent as Octets + Gigawords
/// (RFC 2869 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcctRequest {
    pub status: Option<AcctStatus>,
    pub acct_session_id: String,
    pub user: String,
    pub framed_ip: Option<Ipv4Addr>,
    pub nas_port: Option<u32>,
    pub input_octets: u64,
    pub output_octets: u64,
    pub input_packets: u32,
    pub output_packets: u32,
    pub session_time: u32,
    pub terminate_cause: Option<u32>,
    /// Class attributes from the Access-Accept, echoed (RFC 2865 §5.25).
    pub class: Vec<Vec<u8>>,
    pub event_timestamp: Option<u32>,
    pub tag: u64,
    /// The VR (VRF) the subscriber's traffic is routed in when it is not the one the
    /// session started in (moved by the management API, issue 11): sent as a Cisco-AVPair
    /// `ip:vrf-id=NAME` (vendor 9, type 1), the attribute BNGs report a VRF with.
    pub vrf: Option<String>,
}

/// Vendor-Id of Cisco (the Cisco-AVPair attribute, vendor type 1).
pub const VENDOR_CISCO: u32 = 9;

/// The Cisco-AVPair VSA `ip:vrf-id=NAME` naming the VR a subscriber is routed in.
pub fn vrf_avpair(name: &str) -> Attribute {
    let v = format!("ip:vrf-id={name}");
    // Vendor-Length is one byte: type, length, value; a VR name is short (the profile
    // checker limits names), but cut it at the attribute's room all the same.
    let v = &v.as_bytes()[..v.len().min(240)];
    let mut data = vec![1, (v.len() + 2) as u8];
    data.extend_from_slice(v);
    Attribute::VendorSpecific(Vsa::Other {
        vendor: VENDOR_CISCO,
        data,
    })
}

/// What an Access-Accept grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthAttrs {
    pub framed_ip: Option<Ipv4Addr>,
    pub framed_netmask: Option<Ipv4Addr>,
    pub framed_pool: Option<Vec<u8>>,
    pub framed_ipv6_prefix: Option<Ipv6Prefix>,
    pub delegated_ipv6_prefix: Option<Ipv6Prefix>,
    pub framed_interface_id: Option<[u8; 8]>,
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub acct_interim_interval: Option<u32>,
    pub class: Vec<Vec<u8>>,
    /// All Reply-Message attributes, concatenated (RFC 2865 §5.18).
    pub reply_message: Option<Vec<u8>>,
    /// MS-CHAP2-Success with its leading Ident byte.
    pub ms_chap2_success: Option<Vec<u8>>,
    pub ms_chap_error: Option<Vec<u8>>,
    pub dns_primary: Option<Ipv4Addr>,
    pub dns_secondary: Option<Ipv4Addr>,
    /// MPPE keys as sent (salted and encrypted, RFC 2548 §2.4.2).
    pub mppe_send_key: Option<Vec<u8>>,
    pub mppe_recv_key: Option<Vec<u8>>,
    /// The tunnels offered (RFC 2868), most preferred first, passwords decrypted; filled by
    /// [`AuthAttrs::from_accept`] (the client's Access-Accept), empty otherwise.
    pub tunnels: Vec<TunnelSpec>,
    /// Attributes not mapped above (unknown ones, other vendors; the tunnel attributes too
    /// when collected by [`AuthAttrs::from_attributes`]).
    pub other: Vec<Attribute>,
}

impl AuthAttrs {
    /// Collects the attributes of an answer.
    pub fn from_attributes(attrs: &[Attribute]) -> AuthAttrs {
        let mut a = AuthAttrs::default();
        for at in attrs {
            match at {
                Attribute::FramedIpAddress(v) => a.framed_ip = Some(*v),
                Attribute::FramedIpNetmask(v) => a.framed_netmask = Some(*v),
                Attribute::FramedPool(v) => a.framed_pool = Some(v.clone()),
                Attribute::FramedIpv6Prefix(v) => a.framed_ipv6_prefix = Some(*v),
                Attribute::DelegatedIpv6Prefix(v) => a.delegated_ipv6_prefix = Some(*v),
                Attribute::FramedInterfaceId(v) => a.framed_interface_id = Some(*v),
                Attribute::SessionTimeout(v) => a.session_timeout = Some(*v),
                Attribute::IdleTimeout(v) => a.idle_timeout = Some(*v),
                Attribute::AcctInterimInterval(v) => a.acct_interim_interval = Some(*v),
                Attribute::Class(v) => a.class.push(v.clone()),
                Attribute::ReplyMessage(v) => a
                    .reply_message
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(v),
                Attribute::MessageAuthenticator(_) => {}
                Attribute::VendorSpecific(Vsa::Microsoft(ms)) => {
                    for m in ms {
                        match m {
                            MsAttr::Chap2Success(v) => a.ms_chap2_success = Some(v.clone()),
                            MsAttr::ChapError(v) => a.ms_chap_error = Some(v.clone()),
                            MsAttr::PrimaryDnsServer(v) => a.dns_primary = Some(*v),
                            MsAttr::SecondaryDnsServer(v) => a.dns_secondary = Some(*v),
                            MsAttr::MppeSendKey(v) => a.mppe_send_key = Some(v.clone()),
                            MsAttr::MppeRecvKey(v) => a.mppe_recv_key = Some(v.clone()),
                            other => a
                                .other
                                .push(Attribute::VendorSpecific(Vsa::ms(other.clone()))),
                        }
                    }
                }
                other => a.other.push(other.clone()),
            }
        }
        a
    }

    /// Collects the attributes of an Access-Accept and its tunnels: grouped by tag, ordered
    /// by Tunnel-Preference, Tunnel-Passwords decrypted with `secret` and the Request
    /// Authenticator of the request the Accept answers. Malformed tunnel attributes are an
    /// error (the client turns the Accept into a reject).
    pub fn from_accept(
        attrs: &[Attribute],
        secret: &[u8],
        request_authenticator: &[u8; 16],
    ) -> Result<AuthAttrs, TunnelError> {
        let mut a = AuthAttrs::from_attributes(attrs);
        a.tunnels = tunnels(attrs, secret, request_authenticator)?;
        a.other.retain(|x| !is_tunnel_attribute(x.kind()));
        Ok(a)
    }

    /// RFC 2868 §3.1 for a LAC that speaks L2TP over IPv4: no tunnel offered, the usable
    /// L2TP tunnels in preference order, or "behave as though an Access-Reject had been
    /// received" when tunnels were offered and none is usable.
    pub fn l2tp_tunnels(&self) -> L2tpChoice<'_> {
        choose_l2tp(&self.tunnels)
    }
}

/// Outcome of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResult {
    Accept(Box<AuthAttrs>),
    Reject {
        reply_message: Option<Vec<u8>>,
        ms_chap_error: Option<Vec<u8>>,
    },
    /// Access-Challenge. PPP cannot carry a RADIUS challenge: callers treat it as a reject.
    Challenge {
        reply_message: Option<Vec<u8>>,
        state: Option<Vec<u8>>,
    },
    /// No valid answer from any server.
    Timeout,
    AcctOk,
    /// No valid Accounting-Response from any server.
    AcctFailed,
}

/// A finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEvent {
    pub id: RequestId,
    pub tag: u64,
    pub result: ClientResult,
}

/// A datagram to send from source socket `socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub socket: usize,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// Identifies a request until its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Errors of [`Client::access_request`] and [`Client::accounting`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("no {0} servers configured")]
    NoServers(&'static str),
    #[error("all identifiers busy and the queue is full (max_queue {0})")]
    QueueFull(usize),
    #[error("request cannot be encoded: {0}")]
    Encode(#[from] super::wire::Error),
    #[error("accounting request without a status")]
    NoStatus,
}

/// Named counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub access_requests: u64,
    pub accepts: u64,
    pub rejects: u64,
    pub challenges: u64,
    pub timeouts: u64,
    pub retransmits: u64,
    pub failovers: u64,
    pub servers_marked_dead: u64,
    pub acct_requests: u64,
    pub acct_responses: u64,
    pub acct_failures: u64,
    pub queued: u64,
    pub queue_full: u64,
    pub encode_errors: u64,
    pub rx_datagrams: u64,
    pub drop_malformed: u64,
    pub drop_unknown_id: u64,
    pub drop_unknown_source: u64,
    pub drop_unexpected_code: u64,
    pub drop_bad_authenticator: u64,
    pub drop_missing_message_authenticator: u64,
    pub drop_bad_message_authenticator: u64,
    /// Valid Access-Accepts with malformed tunnel attributes, reported as rejects.
    pub accept_tunnel_invalid: u64,
}

impl Counters {
    /// Adds `o` to these counters. Destructured so that a new field cannot be forgotten.
    pub fn add(&mut self, o: &Counters) {
        let Counters {
            access_requests,
            accepts,
            rejects,
            challenges,
            timeouts,
            retransmits,
            failovers,
            servers_marked_dead,
            acct_requests,
            acct_responses,
            acct_failures,
            queued,
            queue_full,
            encode_errors,
            rx_datagrams,
            drop_malformed,
            drop_unknown_id,
            drop_unknown_source,
            drop_unexpected_code,
            drop_bad_authenticator,
            drop_missing_message_authenticator,
            drop_bad_message_authenticator,
            accept_tunnel_invalid,
        } = *o;
        self.access_requests += access_requests;
        self.accepts += accepts;
        self.rejects += rejects;
        self.challenges += challenges;
        self.timeouts += timeouts;
        self.retransmits += retransmits;
        self.failovers += failovers;
        self.servers_marked_dead += servers_marked_dead;
        self.acct_requests += acct_requests;
        self.acct_responses += acct_responses;
        self.acct_failures += acct_failures;
        self.queued += queued;
        self.queue_full += queue_full;
        self.encode_errors += encode_errors;
        self.rx_datagrams += rx_datagrams;
        self.drop_malformed += drop_malformed;
        self.drop_unknown_id += drop_unknown_id;
        self.drop_unknown_source += drop_unknown_source;
        self.drop_unexpected_code += drop_unexpected_code;
        self.drop_bad_authenticator += drop_bad_authenticator;
        self.drop_missing_message_authenticator += drop_missing_message_authenticator;
        self.drop_bad_message_authenticator += drop_bad_message_authenticator;
        self.accept_tunnel_invalid += accept_tunnel_invalid;
    }
}

#[derive(Debug, Clone)]
enum Body {
    Auth(AccessRequest),
    Acct(AcctRequest),
}

impl Body {
    fn tag(&self) -> u64 {
        match self {
            Body::Auth(r) => r.tag,
            Body::Acct(r) => r.tag,
        }
    }
    fn is_auth(&self) -> bool {
        matches!(self, Body::Auth(_))
    }
}

type Slot = (usize, u8);

/// A verified answer: an Access-Accept collected with its tunnels (or why they are
/// malformed), or any other answer.
enum Answer {
    Accept(Result<Box<AuthAttrs>, TunnelError>),
    Other(Repr),
}

#[derive(Debug)]
struct Pending {
    body: Body,
    created: Instant,
    /// Servers in the order this request tries them, and where it is.
    order: Vec<usize>,
    pos: usize,
    sends: u32,
    slot: Slot,
    authenticator: [u8; 16],
    bytes: Vec<u8>,
    deadline: Instant,
}

#[derive(Debug)]
struct Queued {
    id: u64,
    body: Body,
    created: Instant,
}

/// The RADIUS client of one VR.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    rng: StdRng,
    next_id: u64,
    slots: HashMap<Slot, u64>,
    cursor: usize,
    pending: HashMap<u64, Pending>,
    queue: VecDeque<Queued>,
    auth_dead: Vec<Option<Instant>>,
    acct_dead: Vec<Option<Instant>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
    counters: Counters,
    last_tunnel_error: Option<TunnelError>,
}

impl Client {
    /// A client; `seed` seeds the Request Authenticator generator (from the OS in
    /// production, fixed in tests). `source_ports` is clamped to 1..=16.
    pub fn new(mut cfg: Config, seed: u64) -> Self {
        cfg.source_ports = cfg.source_ports.clamp(1, 16);
        Client {
            auth_dead: vec![None; cfg.auth_servers.len()],
            acct_dead: vec![None; cfg.acct_servers.len()],
            cfg,
            rng: StdRng::seed_from_u64(seed),
            next_id: 0,
            slots: HashMap::new(),
            cursor: 0,
            pending: HashMap::new(),
            queue: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            last_tunnel_error: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// Why the last Access-Accept counted in `accept_tunnel_invalid` was refused.
    pub fn last_tunnel_error(&self) -> Option<&TunnelError> {
        self.last_tunnel_error.as_ref()
    }
    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
    /// Requests waiting for an identifier.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Starts an authentication; the result comes as a [`ClientEvent`] with `req.tag`.
    pub fn access_request(
        &mut self,
        now: Instant,
        req: AccessRequest,
    ) -> Result<RequestId, ClientError> {
        if self.cfg.auth_servers.is_empty() {
            return Err(ClientError::NoServers("authentication"));
        }
        // Refuse what cannot be encoded now rather than failing at send time.
        encode_auth(&self.cfg, &req, b"", 0, &[0; 16])?;
        self.counters.access_requests += 1;
        self.submit(now, Body::Auth(req))
    }

    /// Sends an accounting record; the result is [`ClientResult::AcctOk`] or
    /// [`ClientResult::AcctFailed`].
    pub fn accounting(&mut self, now: Instant, req: AcctRequest) -> Result<RequestId, ClientError> {
        if self.cfg.acct_servers.is_empty() {
            return Err(ClientError::NoServers("accounting"));
        }
        if req.status.is_none() {
            return Err(ClientError::NoStatus);
        }
        encode_acct(&self.cfg, &req, b"", 0, 0)?;
        self.counters.acct_requests += 1;
        self.submit(now, Body::Acct(req))
    }

    fn submit(&mut self, now: Instant, body: Body) -> Result<RequestId, ClientError> {
        if self.queue.is_empty() {
            if let Some(slot) = self.alloc_slot() {
                let id = self.next_id;
                self.next_id += 1;
                self.start(now, id, body, now, slot);
                return Ok(RequestId(id));
            }
        }
        if self.queue.len() >= self.cfg.max_queue {
            self.counters.queue_full += 1;
            return Err(ClientError::QueueFull(self.cfg.max_queue));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.counters.queued += 1;
        self.queue.push_back(Queued {
            id,
            body,
            created: now,
        });
        Ok(RequestId(id))
    }

    fn alloc_slot(&mut self) -> Option<Slot> {
        if self.slots.len() >= self.cfg.max_in_flight.max(1) {
            return None;
        }
        let total = self.cfg.source_ports * 256;
        for i in 0..total {
            let n = (self.cursor + i) % total;
            let slot = (n / 256, (n % 256) as u8);
            if !self.slots.contains_key(&slot) {
                self.cursor = (n + 1) % total;
                return Some(slot);
            }
        }
        None
    }

    fn servers(&self, auth: bool) -> &[Server] {
        if auth {
            &self.cfg.auth_servers
        } else {
            &self.cfg.acct_servers
        }
    }

    fn dead(&mut self, auth: bool) -> &mut Vec<Option<Instant>> {
        if auth {
            &mut self.auth_dead
        } else {
            &mut self.acct_dead
        }
    }

    fn start(&mut self, now: Instant, id: u64, body: Body, created: Instant, slot: Slot) {
        let auth = body.is_auth();
        let dead = self.dead(auth);
        for d in dead.iter_mut() {
            if d.is_some_and(|t| t <= now) {
                *d = None;
            }
        }
        let (mut order, dead_ones): (Vec<usize>, Vec<usize>) =
            (0..dead.len()).partition(|&i| dead[i].is_none());
        order.extend(dead_ones);
        self.slots.insert(slot, id);
        let mut p = Pending {
            body,
            created,
            order,
            pos: 0,
            sends: 0,
            slot,
            authenticator: [0; 16],
            bytes: Vec::new(),
            deadline: now,
        };
        if self.build(now, &mut p) {
            self.transmit(now, id, p);
        } else {
            self.finish(id, p, None);
        }
    }

    /// (Re)builds the packet of `p` for its current server and slot. False if it cannot be
    /// encoded (only possible if a secret change made it so; counted).
    fn build(&mut self, now: Instant, p: &mut Pending) -> bool {
        let auth = p.body.is_auth();
        let server = &self.servers(auth)[p.order[p.pos]];
        let secret = server.secret.clone();
        let r = match &p.body {
            Body::Auth(req) => {
                self.rng.fill_bytes(&mut p.authenticator);
                encode_auth(&self.cfg, req, &secret, p.slot.1, &p.authenticator)
            }
            Body::Acct(req) => {
                let delay = now.saturating_duration_since(p.created).as_secs();
                encode_acct(
                    &self.cfg,
                    req,
                    &secret,
                    p.slot.1,
                    u32::try_from(delay).unwrap_or(u32::MAX),
                )
                .map(|b| {
                    p.authenticator.copy_from_slice(&b[4..20]);
                    b
                })
            }
        };
        match r {
            Ok(b) => {
                p.bytes = b;
                p.sends = 0;
                true
            }
            Err(_) => {
                self.counters.encode_errors += 1;
                false
            }
        }
    }

    /// Ends request `id`: frees its slot, emits its event (`None`: failed), and starts
    /// queued requests.
    fn finish(&mut self, id: u64, p: Pending, result: Option<ClientResult>) {
        if self.slots.get(&p.slot) == Some(&id) {
            self.slots.remove(&p.slot);
        }
        let result = result.unwrap_or_else(|| {
            if p.body.is_auth() {
                self.counters.timeouts += 1;
                ClientResult::Timeout
            } else {
                self.counters.acct_failures += 1;
                ClientResult::AcctFailed
            }
        });
        self.events.push_back(ClientEvent {
            id: RequestId(id),
            tag: p.body.tag(),
            result,
        });
    }

    fn drain_queue(&mut self, now: Instant) {
        while !self.queue.is_empty() {
            let Some(slot) = self.alloc_slot() else {
                return;
            };
            let Some(q) = self.queue.pop_front() else {
                return;
            };
            self.start(now, q.id, q.body, q.created, slot);
        }
    }

    /// A datagram received on source socket `socket` from `src`.
    pub fn handle_datagram(&mut self, now: Instant, socket: usize, src: SocketAddr, bytes: &[u8]) {
        self.counters.rx_datagrams += 1;
        let Ok(pkt) = Packet::new_checked(bytes) else {
            self.counters.drop_malformed += 1;
            return;
        };
        let Some(&id) = self.slots.get(&(socket, pkt.identifier())) else {
            self.counters.drop_unknown_id += 1;
            return;
        };
        let Some(p) = self.pending.get(&id) else {
            self.counters.drop_unknown_id += 1;
            return;
        };
        let auth = p.body.is_auth();
        let server = &self.servers(auth)[p.order[p.pos]];
        if server.addr != src {
            self.counters.drop_unknown_source += 1;
            return;
        }
        let expected = if auth {
            matches!(
                pkt.code(),
                code::ACCESS_ACCEPT | code::ACCESS_REJECT | code::ACCESS_CHALLENGE
            )
        } else {
            pkt.code() == code::ACCOUNTING_RESPONSE
        };
        if !expected {
            self.counters.drop_unexpected_code += 1;
            return;
        }
        if let Err(e) = crypto::verify_response(bytes, &p.authenticator, &server.secret, auth) {
            let c = &mut self.counters;
            match e {
                VerifyError::Malformed(_) => c.drop_malformed += 1,
                VerifyError::BadAuthenticator => c.drop_bad_authenticator += 1,
                VerifyError::MissingMessageAuthenticator => {
                    c.drop_missing_message_authenticator += 1
                }
                VerifyError::BadMessageAuthenticator => c.drop_bad_message_authenticator += 1,
            }
            return;
        }
        // An Accept is collected with its tunnels now, while the request's authenticator and
        // the server's secret are at hand. A tunnel attribute whose value does not decode
        // spoils the Accept, not the packet: the answer is valid, and a retransmission
        // would get the same one.
        let answer = match Repr::parse(&pkt) {
            Ok(r) if r.code == code::ACCESS_ACCEPT => Answer::Accept(
                AuthAttrs::from_accept(&r.attributes, &server.secret, &p.authenticator)
                    .map(Box::new),
            ),
            Ok(r) => Answer::Other(r),
            Err(e)
                if pkt.code() == code::ACCESS_ACCEPT
                    && e.value_error_kind().is_some_and(is_tunnel_attribute) =>
            {
                Answer::Accept(Err(TunnelError::Attribute(e)))
            }
            Err(_) => {
                self.counters.drop_malformed += 1;
                return;
            }
        };
        let server_idx = p.order[p.pos];
        self.dead(auth)[server_idx] = None;
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let c = &mut self.counters;
        let result = match answer {
            Answer::Accept(Ok(a)) => {
                c.accepts += 1;
                ClientResult::Accept(a)
            }
            Answer::Accept(Err(e)) => {
                c.accept_tunnel_invalid += 1;
                self.last_tunnel_error = Some(e);
                ClientResult::Reject {
                    reply_message: None,
                    ms_chap_error: None,
                }
            }
            Answer::Other(repr) => match repr.code {
                code::ACCESS_REJECT => {
                    c.rejects += 1;
                    let a = AuthAttrs::from_attributes(&repr.attributes);
                    ClientResult::Reject {
                        reply_message: a.reply_message,
                        ms_chap_error: a.ms_chap_error,
                    }
                }
                code::ACCESS_CHALLENGE => {
                    c.challenges += 1;
                    ClientResult::Challenge {
                        reply_message: AuthAttrs::from_attributes(&repr.attributes).reply_message,
                        state: repr.find(|a| match a {
                            Attribute::State(s) => Some(s.clone()),
                            _ => None,
                        }),
                    }
                }
                _ => {
                    c.acct_responses += 1;
                    ClientResult::AcctOk
                }
            },
        };
        self.finish(id, p, Some(result));
        self.drain_queue(now);
    }

    /// When [`Client::handle_timeout`] wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Retransmits, fails over and gives up as the policy in the module docs says.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        for id in due {
            let Some(mut p) = self.pending.remove(&id) else {
                continue;
            };
            let auth = p.body.is_auth();
            if p.sends <= self.cfg.retries {
                self.counters.retransmits += 1;
                if !auth {
                    // New Acct-Delay-Time → new authenticator → new identifier.
                    if let Some(slot) = self.alloc_slot() {
                        self.slots.remove(&p.slot);
                        self.slots.insert(slot, id);
                        p.slot = slot;
                    }
                    let sends = p.sends;
                    if !self.build(now, &mut p) {
                        self.finish(id, p, None);
                        continue;
                    }
                    p.sends = sends;
                }
                self.transmit(now, id, p);
                continue;
            }
            // This server had its chances.
            let idx = p.order[p.pos];
            let dead_until = now + self.cfg.dead_time;
            self.dead(auth)[idx] = Some(dead_until);
            self.counters.servers_marked_dead += 1;
            if p.pos + 1 < p.order.len() {
                self.counters.failovers += 1;
                p.pos += 1;
                if self.build(now, &mut p) {
                    self.transmit(now, id, p);
                } else {
                    self.finish(id, p, None);
                }
            } else {
                self.finish(id, p, None);
            }
        }
        self.drain_queue(now);
    }

    fn transmit(&mut self, now: Instant, id: u64, mut p: Pending) {
        p.sends += 1;
        p.deadline = now + self.cfg.timeout;
        let dst = self.servers(p.body.is_auth())[p.order[p.pos]].addr;
        self.transmits.push_back(Transmit {
            socket: p.slot.0,
            dst,
            payload: p.bytes.clone(),
        });
        self.pending.insert(id, p);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

/// Encodes and signs an Access-Request (Message-Authenticator first).
pub fn encode_auth(
    cfg: &Config,
    req: &AccessRequest,
    secret: &[u8],
    identifier: u8,
    authenticator: &[u8; 16],
) -> Result<Vec<u8>, super::wire::Error> {
    let mut a = vec![
        Attribute::MessageAuthenticator([0; 16]),
        Attribute::UserName(s(&req.user)),
    ];
    match &req.auth {
        Auth::Pap { password } => a.push(Attribute::UserPassword(crypto::hide_password(
            secret,
            authenticator,
            password,
        )?)),
        Auth::Chap {
            id,
            challenge,
            response,
        } => {
            a.push(Attribute::ChapPassword(ChapPassword {
                ident: *id,
                response: *response,
            }));
            a.push(Attribute::ChapChallenge(challenge.clone()));
        }
        Auth::MsChapV2 {
            ident,
            auth_challenge,
            peer_challenge,
            nt_response,
            flags,
        } => {
            a.push(Attribute::VendorSpecific(Vsa::ms(MsAttr::ChapChallenge(
                auth_challenge.to_vec(),
            ))));
            a.push(Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Response(
                MsChap2Response {
                    ident: *ident,
                    flags: *flags,
                    peer_challenge: *peer_challenge,
                    nt_response: *nt_response,
                },
            ))));
        }
    }
    a.push(Attribute::NasIdentifier(s(&cfg.nas_identifier)));
    if let Some(ip) = cfg.nas_ip {
        a.push(Attribute::NasIpAddress(ip));
    }
    a.push(Attribute::NasPort(req.nas_port));
    a.push(Attribute::NasPortType(req.nas_port_type));
    if let Some(v) = &req.nas_port_id {
        a.push(Attribute::NasPortId(s(v)));
    }
    a.push(Attribute::ServiceType(req.service_type));
    a.push(Attribute::FramedProtocol(req.framed_protocol));
    if let Some(v) = &req.calling_station {
        a.push(Attribute::CallingStationId(s(v)));
    }
    if let Some(v) = &req.called_station {
        a.push(Attribute::CalledStationId(s(v)));
    }
    a.push(Attribute::AcctSessionId(s(&req.acct_session_id)));
    if let Some(v) = &req.state {
        a.push(Attribute::State(v.clone()));
    }
    let mut b = Repr {
        code: code::ACCESS_REQUEST,
        identifier,
        authenticator: *authenticator,
        attributes: a,
    }
    .to_bytes()?;
    crypto::sign(&mut b, secret, Signing::AccessRequest)?;
    Ok(b)
}

/// Encodes and signs an Accounting-Request (Message-Authenticator first).
pub fn encode_acct(
    cfg: &Config,
    req: &AcctRequest,
    secret: &[u8],
    identifier: u8,
    delay: u32,
) -> Result<Vec<u8>, super::wire::Error> {
    let status = req.status.unwrap_or(AcctStatus::Start);
    let mut a = vec![
        Attribute::MessageAuthenticator([0; 16]),
        Attribute::AcctStatusType(status as u32),
        Attribute::AcctSessionId(s(&req.acct_session_id)),
    ];
    if !req.user.is_empty() {
        a.push(Attribute::UserName(s(&req.user)));
    }
    a.push(Attribute::NasIdentifier(s(&cfg.nas_identifier)));
    if let Some(ip) = cfg.nas_ip {
        a.push(Attribute::NasIpAddress(ip));
    }
    if let Some(p) = req.nas_port {
        a.push(Attribute::NasPort(p));
    }
    if let Some(ip) = req.framed_ip {
        a.push(Attribute::FramedIpAddress(ip));
    }
    a.push(Attribute::AcctDelayTime(delay));
    if matches!(
        status,
        AcctStatus::Start | AcctStatus::Stop | AcctStatus::Interim
    ) {
        a.push(Attribute::AcctAuthentic(values::ACCT_AUTHENTIC_RADIUS));
    }
    if matches!(status, AcctStatus::Stop | AcctStatus::Interim) {
        a.push(Attribute::AcctInputOctets(req.input_octets as u32));
        a.push(Attribute::AcctInputGigawords(
            (req.input_octets >> 32) as u32,
        ));
        a.push(Attribute::AcctOutputOctets(req.output_octets as u32));
        a.push(Attribute::AcctOutputGigawords(
            (req.output_octets >> 32) as u32,
        ));
        a.push(Attribute::AcctInputPackets(req.input_packets));
        a.push(Attribute::AcctOutputPackets(req.output_packets));
        a.push(Attribute::AcctSessionTime(req.session_time));
    }
    if status == AcctStatus::Stop {
        if let Some(c) = req.terminate_cause {
            a.push(Attribute::AcctTerminateCause(c));
        }
    }
    for c in &req.class {
        a.push(Attribute::Class(c.clone()));
    }
    if let Some(t) = req.event_timestamp {
        a.push(Attribute::EventTimestamp(t));
    }
    if let Some(v) = &req.vrf {
        a.push(vrf_avpair(v));
    }
    let mut b = Repr {
        code: code::ACCOUNTING_REQUEST,
        identifier,
        authenticator: [0; 16],
        attributes: a,
    }
    .to_bytes()?;
    crypto::sign(&mut b, secret, Signing::Request)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::wire::{self, attr};

    const S1: &str = "192.0.2.1:1812";
    const S2: &str = "192.0.2.2:1812";

    fn cfg(servers: &[&str]) -> Config {
        let mut c = Config::new("vr1-lns");
        c.nas_ip = Some([10, 0, 0, 1].into());
        for (i, a) in servers.iter().enumerate() {
            let srv = Server {
                addr: a.parse().unwrap(),
                secret: format!("secret{i}").into_bytes(),
            };
            c.auth_servers.push(srv.clone());
            let mut acct = srv;
            acct.addr.set_port(1813);
            c.acct_servers.push(acct);
        }
        c
    }

    fn pap(tag: u64) -> AccessRequest {
        AccessRequest::ppp(
            "nemo",
            Auth::Pap {
                password: b"arctangent".to_vec(),
            },
            "sess-1",
            tag,
        )
    }

    /// A server's answer to `req` (signed with `secret`), with a Message-Authenticator
    /// unless `ma` is false.
    fn answer(req: &[u8], secret: &[u8], code: u8, attrs: Vec<Attribute>, ma: bool) -> Vec<u8> {
        let q = Repr::from_bytes(req).unwrap();
        let mut a = Vec::new();
        if ma {
            a.push(Attribute::MessageAuthenticator([0; 16]));
        }
        a.extend(attrs);
        let mut b = Repr {
            code,
            identifier: q.identifier,
            authenticator: [0; 16],
            attributes: a,
        }
        .to_bytes()
        .unwrap();
        crypto::sign(
            &mut b,
            secret,
            Signing::Response {
                request_authenticator: q.authenticator,
            },
        )
        .unwrap();
        b
    }

    #[test]
    fn pap_accept() {
        let t0 = Instant::now();
        let mut c = Client::new(cfg(&[S1]), 1);
        let id = c.access_request(t0, pap(77)).unwrap();
        let tx = c.poll_transmit().unwrap();
        assert_eq!(tx.dst, S1.parse().unwrap());
        // What the server sees: Message-Authenticator first and valid, password unhides.
        crypto::verify_access_request(&tx.payload, b"secret0", true).unwrap();
        let q = Repr::from_bytes(&tx.payload).unwrap();
        assert_eq!(q.attributes[0].kind(), attr::MESSAGE_AUTHENTICATOR);
        let hidden = q
            .find(|a| match a {
                Attribute::UserPassword(h) => Some(h.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            crypto::unhide_password(b"secret0", &q.authenticator, &hidden).unwrap(),
            b"arctangent"
        );
        assert!(q
            .attributes
            .contains(&Attribute::NasIdentifier(b"vr1-lns".to_vec())));
        assert!(q.attributes.contains(&Attribute::ServiceType(2)));
        assert!(q.attributes.contains(&Attribute::FramedProtocol(1)));

        let resp = answer(
            &tx.payload,
            b"secret0",
            code::ACCESS_ACCEPT,
            vec![
                Attribute::FramedIpAddress([100, 64, 0, 9].into()),
                Attribute::SessionTimeout(86400),
                Attribute::AcctInterimInterval(300),
                Attribute::Class(b"c1".to_vec()),
                Attribute::Class(b"c2".to_vec()),
                Attribute::DelegatedIpv6Prefix(Ipv6Prefix::new(
                    "2001:db8:100::".parse().unwrap(),
                    56,
                )),
                Attribute::VendorSpecific(Vsa::Microsoft(vec![
                    MsAttr::PrimaryDnsServer([9, 9, 9, 9].into()),
                    MsAttr::SecondaryDnsServer([1, 1, 1, 1].into()),
                ])),
                Attribute::Unknown {
                    kind: 200,
                    data: vec![1],
                },
            ],
            true,
        );
        c.handle_datagram(t0, tx.socket, tx.dst, &resp);
        let ev = c.poll_event().unwrap();
        assert_eq!((ev.id, ev.tag), (id, 77));
        let ClientResult::Accept(a) = ev.result else {
            panic!("{ev:?}")
        };
        assert_eq!(a.framed_ip, Some([100, 64, 0, 9].into()));
        assert_eq!(a.session_timeout, Some(86400));
        assert_eq!(a.acct_interim_interval, Some(300));
        assert_eq!(a.class, vec![b"c1".to_vec(), b"c2".to_vec()]);
        assert_eq!(a.delegated_ipv6_prefix.unwrap().len, 56);
        assert_eq!(a.dns_primary, Some([9, 9, 9, 9].into()));
        assert_eq!(a.dns_secondary, Some([1, 1, 1, 1].into()));
        assert_eq!(a.other.len(), 1);
        assert_eq!(c.counters().accepts, 1);
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.poll_timeout(), None);
        // A duplicate answer now has no request to match.
        c.handle_datagram(t0, tx.socket, tx.dst, &resp);
        assert_eq!(c.counters().drop_unknown_id, 1);
    }

    #[test]
    fn bad_answers_are_dropped_by_name() {
        let t0 = Instant::now();
        let mut c = Client::new(cfg(&[S1]), 2);
        c.access_request(t0, pap(1)).unwrap();
        let tx = c.poll_transmit().unwrap();
        let ok = answer(&tx.payload, b"secret0", code::ACCESS_REJECT, vec![], true);
        // No Message-Authenticator (FreeRADIUS 3.2.1 as shipped).
        let no_ma = answer(&tx.payload, b"secret0", code::ACCESS_ACCEPT, vec![], false);
        c.handle_datagram(t0, tx.socket, tx.dst, &no_ma);
        // Message-Authenticator wrong, Response Authenticator recomputed (a forger without
        // the HMAC key but able to fix MD5: the Blast-RADIUS shape).
        let mut bad_ma = ok.clone();
        bad_ma[22] ^= 0xff;
        let q = Repr::from_bytes(&tx.payload).unwrap();
        let ra = crypto::md5_authenticator(b"secret0", &bad_ma, &q.authenticator);
        bad_ma[4..20].copy_from_slice(&ra);
        c.handle_datagram(t0, tx.socket, tx.dst, &bad_ma);
        // Wrong secret.
        let wrong = answer(&tx.payload, b"other", code::ACCESS_ACCEPT, vec![], true);
        c.handle_datagram(t0, tx.socket, tx.dst, &wrong);
        // Wrong source, wrong socket, wrong code, malformed.
        c.handle_datagram(t0, tx.socket, S2.parse().unwrap(), &ok);
        c.handle_datagram(t0, tx.socket + 1, tx.dst, &ok);
        let acct = answer(
            &tx.payload,
            b"secret0",
            code::ACCOUNTING_RESPONSE,
            vec![],
            true,
        );
        c.handle_datagram(t0, tx.socket, tx.dst, &acct);
        c.handle_datagram(t0, tx.socket, tx.dst, &ok[..19]);
        let mut bad_attr = ok.clone();
        bad_attr[21] = 1; // Message-Authenticator length 1, authenticator fixed up
        let ra = crypto::md5_authenticator(b"secret0", &bad_attr, &q.authenticator);
        bad_attr[4..20].copy_from_slice(&ra);
        c.handle_datagram(t0, tx.socket, tx.dst, &bad_attr);
        let k = *c.counters();
        assert_eq!(k.drop_missing_message_authenticator, 1);
        assert_eq!(k.drop_bad_message_authenticator, 1);
        assert_eq!(k.drop_bad_authenticator, 1);
        assert_eq!(k.drop_unknown_source, 1);
        assert_eq!(k.drop_unknown_id, 1);
        assert_eq!(k.drop_unexpected_code, 1);
        assert_eq!(k.drop_malformed, 2);
        assert!(c.poll_event().is_none());
        // The real answer still gets through.
        c.handle_datagram(t0, tx.socket, tx.dst, &ok);
        assert!(matches!(
            c.poll_event().unwrap().result,
            ClientResult::Reject { .. }
        ));
    }

    #[test]
    fn accept_with_tunnels() {
        use crate::radius::wire::tunnel::{medium_type, tunnel_type};
        use crate::radius::wire::{Endpoint, TaggedInt, TaggedString, TunnelPassword};
        let t0 = Instant::now();
        let mut c = Client::new(cfg(&[S1]), 4);
        c.access_request(t0, pap(9)).unwrap();
        let tx = c.poll_transmit().unwrap();
        let ra = Repr::from_bytes(&tx.payload).unwrap().authenticator;
        let int = |tag, value| TaggedInt { tag, value };
        let s = |tag, v: &str| TaggedString {
            tag,
            value: v.as_bytes().to_vec(),
        };
        // Two tunnels; tag 2 is preferred. The passwords are encrypted for this request.
        let resp = answer(
            &tx.payload,
            b"secret0",
            code::ACCESS_ACCEPT,
            vec![
                Attribute::FramedIpAddress([100, 64, 0, 9].into()),
                Attribute::TunnelType(int(1, tunnel_type::L2TP)),
                Attribute::TunnelMediumType(int(1, medium_type::IPV4)),
                Attribute::TunnelServerEndpoint(s(1, "10.232.0.2")),
                Attribute::TunnelPassword(
                    TunnelPassword::encrypt(1, 0x8001, b"secret0", &ra, b"secret-b").unwrap(),
                ),
                Attribute::TunnelPreference(int(1, 20)),
                Attribute::TunnelType(int(2, tunnel_type::L2TP)),
                Attribute::TunnelServerEndpoint(s(2, "lns2.example")),
                Attribute::TunnelAssignmentId(s(2, "isp-b")),
                Attribute::TunnelClientAuthId(s(2, "lac-1")),
                Attribute::TunnelPassword(
                    TunnelPassword::encrypt(2, 0x8002, b"secret0", &ra, b"pw2").unwrap(),
                ),
                Attribute::TunnelPreference(int(2, 10)),
            ],
            true,
        );
        c.handle_datagram(t0, tx.socket, tx.dst, &resp);
        let ev = c.poll_event().unwrap();
        let ClientResult::Accept(a) = ev.result else {
            panic!("{:?}", ev.result)
        };
        assert_eq!(a.framed_ip, Some([100, 64, 0, 9].into()));
        // Tunnel attributes are in `tunnels`, not in `other`.
        assert!(a.other.is_empty(), "{:?}", a.other);
        assert_eq!(a.tunnels.len(), 2);
        assert_eq!(a.tunnels[0].tag, 2);
        assert_eq!(a.tunnels[0].password.as_deref(), Some(&b"pw2"[..]));
        assert_eq!(
            a.tunnels[0].server_endpoint,
            Some(Endpoint::Host("lns2.example".into()))
        );
        assert_eq!(a.tunnels[0].assignment_id.as_deref(), Some(&b"isp-b"[..]));
        assert_eq!(a.tunnels[0].client_auth_id.as_deref(), Some(&b"lac-1"[..]));
        assert_eq!(a.tunnels[1].tag, 1);
        assert_eq!(a.tunnels[1].password.as_deref(), Some(&b"secret-b"[..]));
        assert_eq!(
            a.tunnels[1].server_endpoint,
            Some(Endpoint::Ipv4([10, 232, 0, 2].into()))
        );
        assert_eq!(
            a.l2tp_tunnels(),
            L2tpChoice::Tunnels(vec![&a.tunnels[0], &a.tunnels[1]])
        );
        assert_eq!(c.counters().accepts, 1);
        assert_eq!(c.counters().accept_tunnel_invalid, 0);
    }

    #[test]
    fn malformed_tunnel_attributes_turn_an_accept_into_a_reject() {
        use crate::radius::wire::{TaggedInt, TaggedString, TunnelPassword};
        let t0 = Instant::now();
        let mut c = Client::new(cfg(&[S1]), 5);
        let mut salt_no_high_bit = vec![1u8, 0x01, 0x02];
        salt_no_high_bit.extend_from_slice(&[0x55; 16]);
        // Each case: the attributes of an otherwise valid Accept, and the expected error.
        type Case = (Vec<Attribute>, fn(&TunnelError) -> bool);
        let cases: Vec<(&str, Case)> = vec![
            (
                "zero-length Tunnel-Server-Endpoint",
                (
                    vec![Attribute::Unknown {
                        kind: attr::TUNNEL_SERVER_ENDPOINT,
                        data: vec![],
                    }],
                    |e| {
                        matches!(
                            e,
                            TunnelError::Attribute(wire::Error::AttrBadLength { kind: 67, .. })
                        )
                    },
                ),
            ),
            (
                "Tunnel-Type with tag 0x20",
                (
                    vec![Attribute::Unknown {
                        kind: attr::TUNNEL_TYPE,
                        data: vec![0x20, 0, 0, 3],
                    }],
                    |e| {
                        matches!(
                            e,
                            TunnelError::Attribute(wire::Error::AttrBadValue { kind: 64, .. })
                        )
                    },
                ),
            ),
            (
                "Tunnel-Password salt without its high bit",
                (
                    vec![Attribute::Unknown {
                        kind: attr::TUNNEL_PASSWORD,
                        data: salt_no_high_bit,
                    }],
                    |e| {
                        matches!(
                            e,
                            TunnelError::Attribute(wire::Error::TunnelPasswordSalt {
                                salt: 0x0102
                            })
                        )
                    },
                ),
            ),
            (
                "Tunnel-Password encrypted with another secret",
                (
                    vec![Attribute::TunnelPassword(
                        TunnelPassword::encrypt(0, 0x8abc, b"not-the-secret", &[0; 16], b"pw")
                            .unwrap(),
                    )],
                    |e| matches!(e, TunnelError::Password { tag: 0, .. }),
                ),
            ),
            (
                "tagged and untagged mixed",
                (
                    vec![
                        Attribute::TunnelType(TaggedInt { tag: 1, value: 3 }),
                        Attribute::TunnelServerEndpoint(TaggedString {
                            tag: 0,
                            value: b"10.0.0.1".to_vec(),
                        }),
                    ],
                    |e| matches!(e, TunnelError::MixedTags { tag: 1 }),
                ),
            ),
        ];
        for (i, (what, (attrs, expect))) in cases.into_iter().enumerate() {
            c.access_request(t0, pap(i as u64)).unwrap();
            let tx = c.poll_transmit().unwrap();
            let resp = answer(&tx.payload, b"secret0", code::ACCESS_ACCEPT, attrs, true);
            c.handle_datagram(t0, tx.socket, tx.dst, &resp);
            let ev = c.poll_event().unwrap_or_else(|| panic!("{what}: no event"));
            assert_eq!(
                ev.result,
                ClientResult::Reject {
                    reply_message: None,
                    ms_chap_error: None
                },
                "{what}"
            );
            assert_eq!(c.counters().accept_tunnel_invalid, i as u64 + 1, "{what}");
            let e = c.last_tunnel_error().unwrap();
            assert!(expect(e), "{what}: {e}");
            // Answered: nothing left to retransmit, the server stays alive.
            assert_eq!(c.in_flight(), 0, "{what}");
        }
        let k = *c.counters();
        assert_eq!((k.accepts, k.rejects, k.drop_malformed), (0, 0, 0));
        // A malformed tunnel attribute in a Reject, or a malformed non-tunnel attribute in
        // an Accept, is still a malformed packet.
        c.access_request(t0, pap(50)).unwrap();
        let tx = c.poll_transmit().unwrap();
        let bad = |code, kind, data| {
            answer(
                &tx.payload,
                b"secret0",
                code,
                vec![Attribute::Unknown { kind, data }],
                true,
            )
        };
        c.handle_datagram(
            t0,
            tx.socket,
            tx.dst,
            &bad(code::ACCESS_REJECT, attr::TUNNEL_TYPE, vec![1]),
        );
        c.handle_datagram(
            t0,
            tx.socket,
            tx.dst,
            &bad(code::ACCESS_ACCEPT, attr::FRAMED_IP_ADDRESS, vec![1, 2, 3]),
        );
        assert_eq!(c.counters().drop_malformed, 2);
        assert_eq!(c.counters().accept_tunnel_invalid, 5);
        assert!(c.poll_event().is_none());
        // The retransmission timer still runs for that request.
        assert_eq!(c.in_flight(), 1);
    }

    #[test]
    fn retransmit_failover_dead_server() {
        let t0 = Instant::now();
        let mut cf = cfg(&[S1, S2]);
        cf.retries = 1;
        let mut c = Client::new(cf, 3);
        c.access_request(t0, pap(5)).unwrap();
        let first = c.poll_transmit().unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        let t = t0 + Duration::from_secs(3);
        c.handle_timeout(t);
        let re = c.poll_transmit().unwrap();
        assert_eq!(re, first, "RFC 5080: a retransmission is byte-identical");
        let t = t + Duration::from_secs(3);
        c.handle_timeout(t);
        let fo = c.poll_transmit().unwrap();
        assert_eq!(fo.dst, S2.parse().unwrap());
        crypto::verify_access_request(&fo.payload, b"secret1", true).unwrap();
        assert_eq!(c.counters().failovers, 1);
        // A late answer from the first server is not accepted any more.
        let late = answer(
            &first.payload,
            b"secret0",
            code::ACCESS_ACCEPT,
            vec![],
            true,
        );
        c.handle_datagram(t, first.socket, first.dst, &late);
        assert_eq!(c.counters().drop_unknown_source, 1);
        let t = t + Duration::from_secs(3);
        c.handle_timeout(t);
        assert!(c.poll_transmit().is_some());
        assert!(c.poll_event().is_none());
        let t = t + Duration::from_secs(3);
        c.handle_timeout(t);
        assert!(c.poll_transmit().is_none());
        let ev = c.poll_event().unwrap();
        assert_eq!((ev.tag, ev.result), (5, ClientResult::Timeout));
        assert_eq!(c.counters().retransmits, 2);
        assert_eq!(c.counters().servers_marked_dead, 2);
        // Both dead: the next request still goes out, to the first configured server.
        c.access_request(t, pap(6)).unwrap();
        assert_eq!(c.poll_transmit().unwrap().dst, S1.parse().unwrap());
        // After the hold-down, server 1 is alive again; if only server 2 answered meanwhile,
        // it would be preferred. Here: S2 answers a request, S1 still dead → S2 first.
        let t = t + Duration::from_secs(12);
        c.handle_timeout(t); // pap(6): S1 retransmit
        c.handle_timeout(t + Duration::from_secs(3)); // failover to S2
        let to_s2 = loop {
            let x = c.poll_transmit().unwrap();
            if x.dst == S2.parse().unwrap() {
                break x;
            }
        };
        let ok = answer(
            &to_s2.payload,
            b"secret1",
            code::ACCESS_ACCEPT,
            vec![],
            true,
        );
        c.handle_datagram(t, to_s2.socket, to_s2.dst, &ok);
        assert!(matches!(
            c.poll_event().unwrap().result,
            ClientResult::Accept(_)
        ));
        c.access_request(t + Duration::from_secs(4), pap(7))
            .unwrap();
        assert_eq!(c.poll_transmit().unwrap().dst, S2.parse().unwrap());
        // Once S1's dead time has passed it is first again.
        c.access_request(t + Duration::from_secs(60), pap(8))
            .unwrap();
        assert_eq!(c.poll_transmit().unwrap().dst, S1.parse().unwrap());
    }

    #[test]
    fn outstanding_requests_are_capped_and_the_rest_wait() {
        let t0 = Instant::now();
        let mut cf = cfg(&[S1]);
        cf.max_in_flight = 3;
        let mut c = Client::new(cf, 4);
        for i in 0..5 {
            c.access_request(t0, pap(i)).unwrap();
        }
        let sent: Vec<Transmit> = std::iter::from_fn(|| c.poll_transmit()).collect();
        assert_eq!((sent.len(), c.in_flight(), c.queued()), (3, 3, 2));
        let ok = answer(
            &sent[0].payload,
            b"secret0",
            code::ACCESS_REJECT,
            vec![],
            true,
        );
        c.handle_datagram(t0, sent[0].socket, sent[0].dst, &ok);
        assert!(c.poll_event().is_some());
        assert_eq!(
            (c.in_flight(), c.queued()),
            (3, 1),
            "a freed place goes to the queue"
        );
        assert!(c.poll_transmit().is_some());
    }

    #[test]
    fn identifiers_across_sockets_and_queue() {
        let t0 = Instant::now();
        let mut cf = cfg(&[S1]);
        cf.source_ports = 2;
        cf.max_queue = 2;
        cf.max_in_flight = 4096;
        let mut c = Client::new(cf, 4);
        let mut seen = std::collections::HashSet::new();
        for i in 0..512 {
            c.access_request(t0, pap(i)).unwrap();
            let tx = c.poll_transmit().unwrap();
            assert!(seen.insert((tx.socket, tx.payload[1])), "slot reused");
        }
        assert_eq!(c.in_flight(), 512);
        let q1 = c.access_request(t0, pap(1000)).unwrap();
        c.access_request(t0, pap(1001)).unwrap();
        assert!(c.poll_transmit().is_none());
        assert_eq!(c.queued(), 2);
        assert_eq!(
            c.access_request(t0, pap(1002)),
            Err(ClientError::QueueFull(2))
        );
        assert_eq!(c.counters().queue_full, 1);
        // Nothing answers: at the first timeout all 512 are retransmitted; none leaves the
        // queue (no slot was freed).
        c.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(c.queued(), 2);
        // Answer one request: its slot goes to the first queued request.
        let mut cf1 = None;
        while let Some(tx) = c.poll_transmit() {
            cf1 = Some(tx);
        }
        let tx = cf1.unwrap();
        let ok = answer(&tx.payload, b"secret0", code::ACCESS_REJECT, vec![], true);
        c.handle_datagram(t0, tx.socket, tx.dst, &ok);
        assert!(c.poll_event().is_some());
        assert_eq!(c.queued(), 1);
        let started = c.poll_transmit().unwrap();
        assert_eq!(
            (started.socket, started.payload[1]),
            (tx.socket, tx.payload[1])
        );
        let ok = answer(
            &started.payload,
            b"secret0",
            code::ACCESS_REJECT,
            vec![],
            true,
        );
        c.handle_datagram(t0, started.socket, started.dst, &ok);
        assert_eq!(c.poll_event().unwrap().id, q1);
    }

    #[test]
    fn accounting_retransmit_updates_delay_and_identifier() {
        let t0 = Instant::now();
        let mut c = Client::new(cfg(&[S1]), 5);
        let req = AcctRequest {
            status: Some(AcctStatus::Stop),
            acct_session_id: "sess-1".into(),
            user: "nemo".into(),
            framed_ip: Some([100, 64, 0, 9].into()),
            input_octets: (5u64 << 32) + 7,
            output_octets: 1234,
            terminate_cause: Some(1),
            class: vec![b"c1".to_vec()],
            tag: 9,
            ..Default::default()
        };
        c.accounting(t0, req).unwrap();
        let a = c.poll_transmit().unwrap();
        assert_eq!(a.dst.port(), 1813);
        crypto::verify_request(&a.payload, b"secret0", true).unwrap();
        let r = Repr::from_bytes(&a.payload).unwrap();
        for want in [
            Attribute::AcctStatusType(2),
            Attribute::AcctInputOctets(7),
            Attribute::AcctInputGigawords(5),
            Attribute::AcctOutputOctets(1234),
            Attribute::AcctOutputGigawords(0),
            Attribute::AcctTerminateCause(1),
            Attribute::Class(b"c1".to_vec()),
            Attribute::AcctDelayTime(0),
        ] {
            assert!(r.attributes.contains(&want), "{want:?}");
        }
        c.handle_timeout(t0 + Duration::from_secs(3));
        let b = c.poll_transmit().unwrap();
        crypto::verify_request(&b.payload, b"secret0", true).unwrap();
        let rb = Repr::from_bytes(&b.payload).unwrap();
        assert!(rb.attributes.contains(&Attribute::AcctDelayTime(3)));
        assert_ne!((a.socket, a.payload[1]), (b.socket, b.payload[1]));
        // An answer to the old identifier no longer matches.
        let old = answer(
            &a.payload,
            b"secret0",
            code::ACCOUNTING_RESPONSE,
            vec![],
            false,
        );
        c.handle_datagram(t0, a.socket, a.dst, &old);
        assert_eq!(c.counters().drop_unknown_id, 1);
        // Accounting-Response without Message-Authenticator is fine (FreeRADIUS sends none).
        let ok = answer(
            &b.payload,
            b"secret0",
            code::ACCOUNTING_RESPONSE,
            vec![],
            false,
        );
        c.handle_datagram(t0, b.socket, b.dst, &ok);
        assert_eq!(c.poll_event().unwrap().result, ClientResult::AcctOk);
        assert_eq!(c.counters().acct_responses, 1);
    }

    #[test]
    fn chap_mschapv2_and_challenge() {
        let t0 = Instant::now();
        let mut c = Client::new(cfg(&[S1]), 6);
        let chap = Auth::Chap {
            id: 3,
            challenge: vec![0xaa; 16],
            response: [0xbb; 16],
        };
        c.access_request(t0, AccessRequest::ppp("u", chap, "s", 1))
            .unwrap();
        let tx = c.poll_transmit().unwrap();
        let r = Repr::from_bytes(&tx.payload).unwrap();
        assert!(r
            .attributes
            .contains(&Attribute::ChapPassword(ChapPassword {
                ident: 3,
                response: [0xbb; 16]
            })));
        assert!(r
            .attributes
            .contains(&Attribute::ChapChallenge(vec![0xaa; 16])));
        let ch = answer(
            &tx.payload,
            b"secret0",
            code::ACCESS_CHALLENGE,
            vec![Attribute::State(b"st".to_vec())],
            true,
        );
        c.handle_datagram(t0, tx.socket, tx.dst, &ch);
        assert_eq!(
            c.poll_event().unwrap().result,
            ClientResult::Challenge {
                reply_message: None,
                state: Some(b"st".to_vec())
            }
        );
        assert_eq!(c.counters().challenges, 1);

        let ms = Auth::MsChapV2 {
            ident: 0x2a,
            auth_challenge: [1; 16],
            peer_challenge: [2; 16],
            nt_response: [3; 24],
            flags: 0,
        };
        c.access_request(t0, AccessRequest::ppp("u", ms, "s", 2))
            .unwrap();
        let tx = c.poll_transmit().unwrap();
        let r = Repr::from_bytes(&tx.payload).unwrap();
        assert!(r
            .attributes
            .contains(&Attribute::VendorSpecific(Vsa::ms(MsAttr::ChapChallenge(
                vec![1; 16]
            )))));
        let ok = answer(
            &tx.payload,
            b"secret0",
            code::ACCESS_ACCEPT,
            vec![
                Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Success(b"\x2aS=00".to_vec()))),
                Attribute::VendorSpecific(Vsa::ms(MsAttr::MppeSendKey(vec![0x80; 34]))),
            ],
            true,
        );
        c.handle_datagram(t0, tx.socket, tx.dst, &ok);
        let ClientResult::Accept(a) = c.poll_event().unwrap().result else {
            panic!()
        };
        assert_eq!(a.ms_chap2_success.as_deref(), Some(&b"\x2aS=00"[..]));
        assert_eq!(a.mppe_send_key.map(|k| k.len()), Some(34));
    }

    #[test]
    fn refuses_what_cannot_be_sent() {
        let t0 = Instant::now();
        let mut c = Client::new(Config::new("x"), 7);
        assert_eq!(
            c.access_request(t0, pap(1)),
            Err(ClientError::NoServers("authentication"))
        );
        let mut c = Client::new(cfg(&[S1]), 7);
        let mut r = pap(1);
        r.auth = Auth::Pap {
            password: vec![b'x'; 129],
        };
        assert!(matches!(
            c.access_request(t0, r),
            Err(ClientError::Encode(_))
        ));
    }
}
