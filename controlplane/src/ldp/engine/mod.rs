//! Sans-IO LDP speaker (RFC 5036): basic discovery, sessions, and downstream-unsolicited
//! independent label distribution with liberal retention.
//!
//! One [`Speaker`] is one LSR with a platform-wide label space. It owns no socket and reads
//! no clock; its driver (see [`super::driver`]) tells it what happened and carries out what
//! it asks:
//! - [`Speaker::handle_hello`] with each UDP datagram received on port 646;
//! - [`Speaker::handle_connected`] / [`Speaker::handle_connect_failed`] after a
//!   [`Transmit::Connect`], [`Speaker::handle_accepted`] for a TCP connection accepted on
//!   port 646 (the engine says which peer it belongs to, or that it is to be closed),
//!   [`Speaker::handle_session_input`] with the bytes read, [`Speaker::handle_session_closed`]
//!   when the connection ends;
//! - [`Speaker::handle_timeout`] at [`Speaker::poll_timeout`];
//! - [`Speaker::poll_transmit`] gives [`Transmit`]s: Hellos to send to 224.0.0.2, session bytes,
//!   connections to open and close. [`Speaker::poll_event`] gives [`Event`]s (adjacency and
//!   session up/down, **binding learnt / lost**) to the caller that builds the label matrix.
//!
//! ## Discovery (§2.4.1, §2.5.2)
//! A link Hello every `hello_interval` with the Common Hello Parameters (hold time
//! `hello_hold_time`) and the IPv4 Transport Address. A received link Hello creates or
//! refreshes the adjacency of its LSR Id; its hold time is the smaller of both proposals (0
//! means 15 s); the adjacency is deleted when no Hello came within it, and with it the
//! session. Targeted Hellos are not supported (counted and ignored), nor label spaces other
//! than 0.
//!
//! ## Sessions (§2.5.3, §2.5.4)
//! The LSR with the higher transport address is active: it asks its driver to connect
//! (from its transport address to the peer's, port 646) and sends Initialization; the
//! passive one accepts the connection from a transport address it has an adjacency for and
//! answers. States follow §2.5.4: [`SessionState::Initialized`] (passive, waiting for the
//! peer's Initialization), [`SessionState::OpenSent`], [`SessionState::OpenRec`],
//! [`SessionState::Operational`]. Initialization is checked (protocol version, receiver LDP
//! identifier, KeepAlive time > 0); the KeepAlive time is the smaller proposal and the max
//! PDU length the smaller of both. A KeepAlive goes out every third of the KeepAlive time;
//! no PDU for the whole time ends the session (KeepAlive Timer Expired). Session setup that
//! does not finish within `init_timeout` is abandoned. The active side retries with an
//! exponential backoff from `backoff_initial` to `backoff_max` (§2.5.3).
//!
//! ## Label distribution (§2.6, Appendix A: DU, independent control, liberal retention)
//! Each local FEC (the LSR Id as /32 and [`Config::fecs`], more with
//! [`Speaker::advertise`]) gets a label from the [`LabelAllocator`]; once a session is
//! operational the speaker sends its addresses (Address) and a Label Mapping per local FEC.
//! Every mapping received for an IPv4 prefix is kept (liberal retention) and reported as
//! [`Event::BindingLearnt`]; Label Withdraw removes it ([`Event::BindingLost`]) and is
//! answered with Label Release; a session that ends loses all its peer's bindings. A
//! withdrawn local label ([`Speaker::withdraw`]) goes back to the allocator once every peer
//! it was sent to has released it or gone. Label Request is answered with the local mapping
//! (or No Route); Label Abort is counted.
//!
//! ## Errors (§3.5)
//! A PDU that does not frame ends the session (Bad PDU Length / Bad Protocol Version); a
//! wrong LDP identifier ends it (Bad LDP Identifier); a malformed message or TLV is notified
//! with its status, and the session ends when that status is fatal (E bit). Unknown messages
//! and TLVs with the U bit clear are notified (Unknown Message Type / Unknown TLV) and the
//! message ignored; with the U bit set they are ignored silently. Every case is counted in
//! [`Counters`].
//!
//! Not done: targeted Hellos, IPv6 (FECs and addresses are counted and ignored), downstream
//! on demand, loop detection (Hop Count / Path Vector are accepted and not checked),
//! ordered control, graceful restart, MD5 signatures on the TCP session, capabilities.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use labelswitch::alloc::{AllocError, LabelAllocator};
use labelswitch::label::Label;
use labelswitch::matrix::LabelOp;

use super::wire::{
    self, encode_pdus, msg, pdu_frame_len, status, AddressList, FecElement, LdpId, Message,
    PduView, Prefix4, SessionParams, Status, Tlv,
};

/// Configuration of one speaker.
#[derive(Debug, Clone)]
pub struct Config {
    /// LSR Id (a stable address of the router, usually its loopback).
    pub lsr_id: Ipv4Addr,
    /// Transport address: sessions are opened from / accepted on it.
    pub transport_address: Ipv4Addr,
    /// Interface addresses advertised in the Address message (peers map next hops to LSRs
    /// with them); the transport address and LSR Id are added.
    pub addresses: Vec<Ipv4Addr>,
    /// Prefixes to advertise besides the LSR Id /32.
    pub fecs: Vec<Prefix4>,
    /// Seconds between link Hellos (RFC 5036 suggests a third of the hold time).
    pub hello_interval: Duration,
    /// Link Hello hold time proposed (seconds; 15 by default).
    pub hello_hold_time: u16,
    /// KeepAlive time proposed in Initialization (seconds).
    pub keepalive_time: u16,
    /// Time to reach Operational after the connection is up.
    pub init_timeout: Duration,
    /// First delay of the active side's session retry, doubled after each failure.
    pub backoff_initial: Duration,
    /// Largest delay of the session retry.
    pub backoff_max: Duration,
    /// Max PDU Length proposed (and the largest PDU accepted).
    pub max_pdu: u16,
    /// Most adjacencies (peers) kept; Hellos from more are dropped and counted.
    pub max_peers: usize,
    /// Most bindings kept per peer; mappings beyond are released and counted.
    pub max_bindings_per_peer: usize,
    /// Owner id of the labels taken from the allocator.
    pub label_owner: u32,
}

impl Config {
    /// RFC 5036's usual values: Hellos every 5 s with a 15 s hold time, KeepAlive time 180 s
    /// (as FRR), 15 s to set a session up, retries from 15 s to 120 s.
    pub fn new(lsr_id: Ipv4Addr, transport_address: Ipv4Addr) -> Self {
        Config {
            lsr_id,
            transport_address,
            addresses: Vec::new(),
            fecs: Vec::new(),
            hello_interval: Duration::from_secs(5),
            hello_hold_time: 15,
            keepalive_time: 180,
            init_timeout: Duration::from_secs(15),
            backoff_initial: Duration::from_secs(15),
            backoff_max: Duration::from_secs(120),
            max_pdu: wire::DEFAULT_MAX_PDU as u16,
            max_peers: 64,
            max_bindings_per_peer: 100_000,
            label_owner: 0,
        }
    }
}

/// Errors of [`Speaker::new`] and [`Speaker::advertise`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("LDP configuration: {0}")]
    Config(String),
    #[error("LDP could not allocate a label for {prefix}: {source}")]
    Alloc { prefix: Prefix4, source: AllocError },
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Send this PDU to 224.0.0.2 port 646 on every LDP interface (TTL 1).
    Hello(Vec<u8>),
    /// Open a TCP connection from `local` to `remote` port 646 for `peer`'s session.
    Connect {
        peer: Ipv4Addr,
        local: Ipv4Addr,
        remote: Ipv4Addr,
    },
    /// Write these bytes (whole PDUs) on `peer`'s session connection.
    Send { peer: Ipv4Addr, bytes: Vec<u8> },
    /// Close `peer`'s session connection once what was queued for it is written.
    Close { peer: Ipv4Addr },
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// The last Hello adjacency to the peer timed out.
    HelloHoldExpired,
    /// No PDU within the KeepAlive time.
    KeepaliveExpired,
    /// Not Operational within `init_timeout`.
    InitTimeout,
    /// The TCP connection failed or ended.
    TransportClosed,
    /// The peer sent a fatal Notification.
    PeerNotification(Status),
    /// We found a fatal error (the status we notified).
    ProtocolError(u32),
    /// The caller stopped the speaker.
    Shutdown,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::HelloHoldExpired => f.write_str("Hello hold time expired"),
            DownReason::KeepaliveExpired => f.write_str("KeepAlive timer expired"),
            DownReason::InitTimeout => f.write_str("session setup timed out"),
            DownReason::TransportClosed => f.write_str("TCP connection closed or failed"),
            DownReason::PeerNotification(s) => {
                write!(
                    f,
                    "peer sent fatal Notification, status 0x{:08x}",
                    s.value()
                )
            }
            DownReason::ProtocolError(c) => write!(f, "protocol error, notified status 0x{c:08x}"),
            DownReason::Shutdown => f.write_str("shut down"),
        }
    }
}

/// What happened, for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    AdjacencyUp {
        peer: Ipv4Addr,
        source: Ipv4Addr,
        transport: Ipv4Addr,
    },
    AdjacencyDown {
        peer: Ipv4Addr,
    },
    SessionUp {
        peer: Ipv4Addr,
        keepalive: u16,
    },
    SessionDown {
        peer: Ipv4Addr,
        reason: DownReason,
    },
    /// `peer` advertised `label` for `prefix` (a swap entry E -> `label` towards `peer` when
    /// `peer` is the next hop of `prefix`).
    BindingLearnt {
        peer: Ipv4Addr,
        prefix: Prefix4,
        label: Label,
    },
    /// The binding is gone (withdrawn, replaced, or the session ended).
    BindingLost {
        peer: Ipv4Addr,
        prefix: Prefix4,
        label: Label,
    },
    /// A non-fatal Notification from `peer`.
    Notification {
        peer: Ipv4Addr,
        status: Status,
    },
}

/// Session states of RFC 5036 §2.5.4 (NON EXISTENT is the absence of a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Active side: waiting for the TCP connection (not an RFC state: before INITIALIZED).
    Connecting,
    /// Passive side: connected, waiting for the peer's Initialization.
    Initialized,
    /// Active side: our Initialization is out.
    OpenSent,
    /// Initializations exchanged, our KeepAlive is out; waiting for the peer's.
    OpenRec,
    Operational,
}

/// Counters of one speaker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub hellos_sent: u64,
    pub hellos_received: u64,
    /// Hellos not used: malformed, targeted, other label space, over `max_peers`.
    pub hellos_dropped: u64,
    pub adjacencies_up: u64,
    pub adjacencies_down: u64,
    pub connects: u64,
    pub connects_failed: u64,
    /// Accepted connections refused (no adjacency, or we are the active side).
    pub accepts_refused: u64,
    pub sessions_up: u64,
    pub sessions_down: u64,
    pub keepalive_expired: u64,
    pub init_timeouts: u64,
    pub pdus_sent: u64,
    pub pdus_received: u64,
    pub messages_received: u64,
    /// Messages or PDUs that did not parse.
    pub malformed: u64,
    pub unknown_messages: u64,
    pub unknown_tlvs: u64,
    /// Messages not allowed in the session's state.
    pub unexpected_messages: u64,
    pub notifications_sent: u64,
    pub notifications_received: u64,
    pub mappings_sent: u64,
    pub mappings_received: u64,
    pub withdraws_sent: u64,
    pub withdraws_received: u64,
    pub releases_sent: u64,
    pub releases_received: u64,
    pub requests_received: u64,
    /// FECs or addresses of another family (IPv6) ignored.
    pub unsupported_family: u64,
    /// Mappings released because the peer is at `max_bindings_per_peer`.
    pub bindings_over_limit: u64,
    /// PDUs that could not be encoded (a bug if ever non-zero).
    pub encode_errors: u64,
}

#[derive(Debug, Clone)]
struct Adjacency {
    source: Ipv4Addr,
    transport: Ipv4Addr,
    expires: Instant,
}

#[derive(Debug)]
struct Session {
    state: SessionState,
    active: bool,
    transport: Ipv4Addr,
    rx: Vec<u8>,
    max_pdu: usize,
    keepalive: Duration,
    ka_send: Option<Instant>,
    ka_expire: Option<Instant>,
    init_deadline: Option<Instant>,
    addresses: BTreeSet<Ipv4Addr>,
    learnt: BTreeMap<Prefix4, Label>,
}

/// A label swap the caller can install (seed 001 Fig. 13: E -> F): packets arriving with
/// `in_label` (ours for `prefix`) leave with `out_label` (the next hop's) towards `next_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossConnect {
    pub prefix: Prefix4,
    pub in_label: Label,
    pub out_label: Label,
    pub peer: Ipv4Addr,
    pub next_hop: Ipv4Addr,
}

impl CrossConnect {
    /// The label-matrix operation at `in_label`, given the caller's index of `next_hop` in
    /// the next-hop table: swap to `out_label`, or pop and forward when the next hop asked
    /// for Implicit NULL (penultimate hop popping, RFC 3031 §3.16).
    pub fn label_op(&self, next_hop: u32) -> LabelOp {
        if self.out_label == Label::IMPLICIT_NULL {
            LabelOp::PopAndForward { next_hop }
        } else {
            LabelOp::Swap {
                out: self.out_label,
                next_hop,
            }
        }
    }
}

/// One LDP speaker (see the [module docs](self)).
#[derive(Debug)]
pub struct Speaker {
    cfg: Config,
    id: LdpId,
    alloc: LabelAllocator,
    local: BTreeMap<Prefix4, Label>,
    /// Withdrawn local labels and the peers that have not released them yet.
    releasing: HashMap<Label, (Prefix4, BTreeSet<Ipv4Addr>)>,
    adjacencies: BTreeMap<Ipv4Addr, Adjacency>,
    sessions: BTreeMap<Ipv4Addr, Session>,
    /// Active side: when to try the session again, and the current backoff.
    retry: BTreeMap<Ipv4Addr, (Instant, Duration)>,
    next_hello: Instant,
    msg_id: u32,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: Counters,
}

fn label_of(v: u32) -> Option<Label> {
    Label::new(v).ok()
}

fn notification(id: u32, s: Status) -> Message {
    Message::new(msg::NOTIFICATION, id, vec![Tlv::Status(s)])
}

impl Speaker {
    /// A speaker that allocates its labels from `alloc`; it sends its first Hello at `now`.
    pub fn new(cfg: Config, alloc: LabelAllocator, now: Instant) -> Result<Self, Error> {
        if cfg.lsr_id.is_unspecified() || cfg.transport_address.is_unspecified() {
            return Err(Error::Config(
                "LSR Id and transport address must be set (not 0.0.0.0)".into(),
            ));
        }
        if cfg.hello_hold_time == 0 || cfg.keepalive_time == 0 {
            return Err(Error::Config(
                "hello_hold_time and keepalive_time must be at least 1 second".into(),
            ));
        }
        if cfg.hello_interval.is_zero()
            || cfg.hello_interval >= Duration::from_secs(cfg.hello_hold_time.into())
        {
            return Err(Error::Config(format!(
                "hello_interval {:?} must be above 0 and below the hold time of {} s",
                cfg.hello_interval, cfg.hello_hold_time
            )));
        }
        if usize::from(cfg.max_pdu) < 256 {
            return Err(Error::Config(format!(
                "max_pdu {} is below 256 (RFC 5036 §3.5.3)",
                cfg.max_pdu
            )));
        }
        let mut s = Speaker {
            id: LdpId::platform(cfg.lsr_id),
            alloc,
            local: BTreeMap::new(),
            releasing: HashMap::new(),
            adjacencies: BTreeMap::new(),
            sessions: BTreeMap::new(),
            retry: BTreeMap::new(),
            next_hello: now,
            msg_id: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            cfg,
        };
        let mut fecs = vec![Prefix4::host(s.cfg.lsr_id)];
        fecs.extend(s.cfg.fecs.iter().copied());
        for p in fecs {
            s.advertise(p)?;
        }
        Ok(s)
    }

    /// Our LDP identifier.
    pub fn id(&self) -> LdpId {
        self.id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Local FECs and their labels.
    pub fn local_bindings(&self) -> impl Iterator<Item = (Prefix4, Label)> + '_ {
        self.local.iter().map(|(p, l)| (*p, *l))
    }

    /// Our label for `prefix`, if it is a local FEC.
    pub fn local_label(&self, prefix: Prefix4) -> Option<Label> {
        self.local.get(&prefix).copied()
    }

    /// Every binding learnt: (peer, prefix, label).
    pub fn learnt(&self) -> impl Iterator<Item = (Ipv4Addr, Prefix4, Label)> + '_ {
        self.sessions
            .iter()
            .flat_map(|(peer, s)| s.learnt.iter().map(move |(p, l)| (*peer, *p, *l)))
    }

    /// The state of the session with `peer`.
    pub fn session_state(&self, peer: Ipv4Addr) -> Option<SessionState> {
        self.sessions.get(&peer).map(|s| s.state)
    }

    /// Peers with a session, and its state.
    pub fn sessions(&self) -> impl Iterator<Item = (Ipv4Addr, SessionState)> + '_ {
        self.sessions.iter().map(|(p, s)| (*p, s.state))
    }

    /// Addresses `peer` advertised.
    pub fn peer_addresses(&self, peer: Ipv4Addr) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.sessions
            .get(&peer)
            .into_iter()
            .flat_map(|s| s.addresses.iter().copied())
    }

    /// The peer whose advertised addresses include `next_hop` (an operational session).
    pub fn peer_for_next_hop(&self, next_hop: Ipv4Addr) -> Option<Ipv4Addr> {
        self.sessions.iter().find_map(|(p, s)| {
            (s.state == SessionState::Operational
                && (s.addresses.contains(&next_hop) || s.transport == next_hop))
                .then_some(*p)
        })
    }

    /// The swaps (E -> F) to install: for each local FEC whose IGP next hop (given by
    /// `next_hop_of`, the caller's routing table) belongs to a peer that advertised a label
    /// for it. How the caller maps `next_hop` to a next-hop index is its business.
    pub fn cross_connects(
        &self,
        mut next_hop_of: impl FnMut(Prefix4) -> Option<Ipv4Addr>,
    ) -> Vec<CrossConnect> {
        let mut out = Vec::new();
        for (prefix, in_label) in &self.local {
            let Some(nh) = next_hop_of(*prefix) else {
                continue;
            };
            let Some(peer) = self.peer_for_next_hop(nh) else {
                continue;
            };
            if let Some(out_label) = self.sessions[&peer].learnt.get(prefix) {
                out.push(CrossConnect {
                    prefix: *prefix,
                    in_label: *in_label,
                    out_label: *out_label,
                    peer,
                    next_hop: nh,
                });
            }
        }
        out
    }

    /// What to send or do next.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Speaker::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_hello;
        for a in self.adjacencies.values() {
            t = t.min(a.expires);
        }
        for s in self.sessions.values() {
            for x in [s.ka_send, s.ka_expire, s.init_deadline]
                .into_iter()
                .flatten()
            {
                t = t.min(x);
            }
        }
        for (peer, (at, _)) in &self.retry {
            if self.adjacencies.contains_key(peer) && !self.sessions.contains_key(peer) {
                t = t.min(*at);
            }
        }
        Some(t)
    }

    fn next_id(&mut self) -> u32 {
        self.msg_id = self.msg_id.wrapping_add(1);
        self.msg_id
    }

    /// Encodes and queues messages on `peer`'s session.
    fn send(&mut self, peer: Ipv4Addr, msgs: &[Message]) {
        let max = self
            .sessions
            .get(&peer)
            .map_or(wire::DEFAULT_MAX_PDU, |s| s.max_pdu);
        match encode_pdus(self.id, msgs, max) {
            Ok(pdus) => {
                for bytes in pdus {
                    self.counters.pdus_sent += 1;
                    self.out.push_back(Transmit::Send { peer, bytes });
                }
            }
            Err(e) => {
                self.counters.encode_errors += 1;
                tracing::error!(%peer, error = %e, "LDP: could not encode a PDU");
            }
        }
    }

    fn send_notification(&mut self, peer: Ipv4Addr, s: Status) {
        let id = self.next_id();
        self.counters.notifications_sent += 1;
        self.send(peer, &[notification(id, s)]);
    }

    fn mapping(&mut self, prefix: Prefix4, label: Label, request: Option<u32>) -> Message {
        let mut tlvs = vec![
            Tlv::Fec(vec![FecElement::Prefix4(prefix)]),
            Tlv::GenericLabel(label.value()),
        ];
        if let Some(r) = request {
            tlvs.push(Tlv::LabelRequestId(r));
        }
        let id = self.next_id();
        Message::new(msg::LABEL_MAPPING, id, tlvs)
    }

    fn operational_peers(&self) -> Vec<Ipv4Addr> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::Operational)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Makes `prefix` a local FEC: allocates its label and advertises it on every operational
    /// session. Advertising a FEC again returns its label.
    pub fn advertise(&mut self, prefix: Prefix4) -> Result<Label, Error> {
        if let Some(l) = self.local.get(&prefix) {
            return Ok(*l);
        }
        let label = self
            .alloc
            .alloc(self.cfg.label_owner)
            .map_err(|source| Error::Alloc { prefix, source })?;
        self.local.insert(prefix, label);
        for peer in self.operational_peers() {
            let m = self.mapping(prefix, label, None);
            self.counters.mappings_sent += 1;
            self.send(peer, &[m]);
        }
        Ok(label)
    }

    /// Stops advertising `prefix`: Label Withdraw to every operational session; its label
    /// returns to the allocator once they all released it. Returns whether it was local.
    pub fn withdraw(&mut self, prefix: Prefix4) -> bool {
        let Some(label) = self.local.remove(&prefix) else {
            return false;
        };
        let peers = self.operational_peers();
        for peer in &peers {
            let id = self.next_id();
            self.counters.withdraws_sent += 1;
            self.send(
                *peer,
                &[Message::new(
                    msg::LABEL_WITHDRAW,
                    id,
                    vec![
                        Tlv::Fec(vec![FecElement::Prefix4(prefix)]),
                        Tlv::GenericLabel(label.value()),
                    ],
                )],
            );
        }
        if peers.is_empty() {
            let _ = self.alloc.free(label);
        } else {
            self.releasing
                .insert(label, (prefix, peers.into_iter().collect()));
        }
        true
    }

    /// Labels waiting for a peer's Label Release.
    pub fn labels_releasing(&self) -> usize {
        self.releasing.len()
    }

    /// Labels taken from the allocator: local bindings plus those waiting for a release.
    pub fn labels_in_use(&self) -> usize {
        self.alloc.allocated()
    }

    /// Ends every session (Shutdown notification) and forgets the adjacencies.
    pub fn shutdown(&mut self, now: Instant) {
        let peers: Vec<_> = self.sessions.keys().copied().collect();
        for p in peers {
            self.close(now, p, DownReason::Shutdown, Some(status::SHUTDOWN));
        }
        self.adjacencies.clear();
        self.retry.clear();
    }

    fn hello(&mut self) -> Option<Vec<u8>> {
        let id = self.next_id();
        let m = Message::new(
            msg::HELLO,
            id,
            vec![
                Tlv::CommonHello {
                    hold_time: self.cfg.hello_hold_time,
                    targeted: false,
                    request_targeted: false,
                    gtsm: false,
                },
                Tlv::Ipv4Transport(self.cfg.transport_address),
            ],
        );
        match encode_pdus(self.id, &[m], wire::DEFAULT_MAX_PDU) {
            Ok(mut p) => p.pop(),
            Err(e) => {
                self.counters.encode_errors += 1;
                tracing::error!(error = %e, "LDP: could not encode a Hello");
                None
            }
        }
    }

    /// A UDP datagram received on port 646 from `source`.
    pub fn handle_hello(&mut self, now: Instant, source: Ipv4Addr, bytes: &[u8]) {
        let pdu = match PduView::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.counters.hellos_received += 1;
                self.counters.hellos_dropped += 1;
                self.counters.malformed += 1;
                tracing::debug!(%source, error = %e, "LDP: malformed Hello PDU dropped");
                return;
            }
        };
        let peer = pdu.ldp_id();
        if peer.lsr_id == self.cfg.lsr_id {
            // Our own Hello looped back.
            return;
        }
        self.counters.hellos_received += 1;
        if peer.label_space != 0 {
            self.counters.hellos_dropped += 1;
            tracing::debug!(%source, %peer, "LDP: Hello for a per-interface label space dropped");
            return;
        }
        let mut hello = None;
        for raw in pdu.messages() {
            let parsed = raw.and_then(|r| Message::parse(&r));
            match parsed {
                Ok(m) if m.kind == msg::HELLO && m.unknown_mandatory_tlv().is_none() => {
                    hello = Some(m);
                    break;
                }
                Ok(m) if m.kind == msg::HELLO => self.counters.unknown_tlvs += 1,
                Ok(_) => self.counters.unexpected_messages += 1,
                Err(e) => {
                    self.counters.malformed += 1;
                    tracing::debug!(%source, error = %e, "LDP: malformed Hello dropped");
                }
            }
        }
        let Some(m) = hello else {
            self.counters.hellos_dropped += 1;
            return;
        };
        let mut params = None;
        let mut transport = source;
        for t in &m.tlvs {
            match t {
                Tlv::CommonHello {
                    hold_time,
                    targeted,
                    ..
                } => params = Some((*hold_time, *targeted)),
                Tlv::Ipv4Transport(a) => transport = *a,
                _ => {}
            }
        }
        let Some((hold, targeted)) = params else {
            self.counters.hellos_dropped += 1;
            tracing::debug!(%source, "LDP: Hello without Common Hello Parameters dropped");
            return;
        };
        if targeted {
            self.counters.hellos_dropped += 1;
            tracing::debug!(%source, "LDP: targeted Hello ignored (not supported)");
            return;
        }
        let theirs = if hold == 0 { 15 } else { hold };
        let hold = Duration::from_secs(theirs.min(self.cfg.hello_hold_time).into());
        let lsr = peer.lsr_id;
        match self.adjacencies.get_mut(&lsr) {
            Some(a) => {
                a.expires = now + hold;
                a.source = source;
                a.transport = transport;
            }
            None => {
                if self.adjacencies.len() >= self.cfg.max_peers {
                    self.counters.hellos_dropped += 1;
                    tracing::warn!(%source, peer = %lsr, max = self.cfg.max_peers, "LDP: too many peers, Hello dropped");
                    return;
                }
                self.adjacencies.insert(
                    lsr,
                    Adjacency {
                        source,
                        transport,
                        expires: now + hold,
                    },
                );
                self.counters.adjacencies_up += 1;
                tracing::info!(peer = %lsr, %source, %transport, "LDP adjacency up");
                self.events.push_back(Event::AdjacencyUp {
                    peer: lsr,
                    source,
                    transport,
                });
                // A triggered Hello, ahead of the session's connection: the passive side
                // accepts a connection only from a neighbour it has heard (§2.5.3), and a
                // neighbour that started after our last Hello has not heard us yet. Without
                // it the active side's first connection is refused and retried only after
                // the session backoff (15 s), found by the dynamic lab.
                if let Some(h) = self.hello() {
                    self.counters.hellos_sent += 1;
                    self.out.push_back(Transmit::Hello(h));
                }
            }
        }
        self.maybe_connect(now, lsr);
    }

    fn we_are_active(&self, transport: Ipv4Addr) -> bool {
        u32::from(self.cfg.transport_address) > u32::from(transport)
    }

    fn maybe_connect(&mut self, now: Instant, lsr: Ipv4Addr) {
        let Some(a) = self.adjacencies.get(&lsr) else {
            return;
        };
        if self.sessions.contains_key(&lsr) || !self.we_are_active(a.transport) {
            return;
        }
        if self.retry.get(&lsr).is_some_and(|(at, _)| *at > now) {
            return;
        }
        let remote = a.transport;
        self.counters.connects += 1;
        self.sessions
            .insert(lsr, self.new_session(true, remote, now));
        self.out.push_back(Transmit::Connect {
            peer: lsr,
            local: self.cfg.transport_address,
            remote,
        });
    }

    fn new_session(&self, active: bool, transport: Ipv4Addr, now: Instant) -> Session {
        Session {
            state: if active {
                SessionState::Connecting
            } else {
                SessionState::Initialized
            },
            active,
            transport,
            rx: Vec::new(),
            max_pdu: usize::from(self.cfg.max_pdu),
            keepalive: Duration::from_secs(self.cfg.keepalive_time.into()),
            ka_send: None,
            ka_expire: None,
            init_deadline: Some(now + self.cfg.init_timeout),
            addresses: BTreeSet::new(),
            learnt: BTreeMap::new(),
        }
    }

    /// The active side's connection to `peer` is up: Initialization goes out.
    pub fn handle_connected(&mut self, now: Instant, peer: Ipv4Addr) {
        let Some(s) = self.sessions.get_mut(&peer) else {
            self.out.push_back(Transmit::Close { peer });
            return;
        };
        if s.state != SessionState::Connecting {
            return;
        }
        s.state = SessionState::OpenSent;
        s.init_deadline = Some(now + self.cfg.init_timeout);
        let init = self.init_message(peer);
        self.send(peer, &[init]);
    }

    /// The active side's connection to `peer` could not be opened.
    pub fn handle_connect_failed(&mut self, now: Instant, peer: Ipv4Addr) {
        if self
            .sessions
            .get(&peer)
            .is_some_and(|s| s.state == SessionState::Connecting)
        {
            self.counters.connects_failed += 1;
            self.close(now, peer, DownReason::TransportClosed, None);
        }
    }

    /// A TCP connection from `remote` was accepted on port 646: the peer whose session it
    /// carries, or `None` when the driver is to close it (no adjacency with that transport
    /// address, or we are the active side, or a session is already there).
    pub fn handle_accepted(&mut self, now: Instant, remote: Ipv4Addr) -> Option<Ipv4Addr> {
        let found = self
            .adjacencies
            .iter()
            .find(|(_, a)| a.transport == remote)
            .map(|(p, _)| *p);
        let ok = found.filter(|p| !self.sessions.contains_key(p) && !self.we_are_active(remote));
        match ok {
            Some(p) => {
                self.sessions
                    .insert(p, self.new_session(false, remote, now));
                Some(p)
            }
            None => {
                self.counters.accepts_refused += 1;
                tracing::debug!(%remote, adjacency = ?found, "LDP: accepted connection refused");
                None
            }
        }
    }

    /// The session connection with `peer` ended.
    pub fn handle_session_closed(&mut self, now: Instant, peer: Ipv4Addr) {
        if self.sessions.contains_key(&peer) {
            self.close(now, peer, DownReason::TransportClosed, None);
        }
    }

    fn init_message(&mut self, peer: Ipv4Addr) -> Message {
        let id = self.next_id();
        Message::new(
            msg::INITIALIZATION,
            id,
            vec![Tlv::CommonSession(SessionParams {
                version: wire::VERSION,
                keepalive: self.cfg.keepalive_time,
                on_demand: false,
                loop_detection: false,
                path_vector_limit: 0,
                max_pdu: self.cfg.max_pdu,
                receiver: LdpId::platform(peer),
            })],
        )
    }

    fn keepalive_message(&mut self) -> Message {
        let id = self.next_id();
        Message::new(msg::KEEPALIVE, id, vec![])
    }

    /// Ends the session with `peer` (Notification with `notify` first when given).
    fn close(&mut self, now: Instant, peer: Ipv4Addr, reason: DownReason, notify: Option<u32>) {
        if let Some(code) = notify {
            let mut st = Status::new(code, 0, 0);
            st.code |= status::E_BIT;
            self.send_notification(peer, st);
        }
        let Some(s) = self.sessions.remove(&peer) else {
            return;
        };
        self.out.push_back(Transmit::Close { peer });
        for (prefix, label) in s.learnt {
            self.events.push_back(Event::BindingLost {
                peer,
                prefix,
                label,
            });
        }
        self.release_done(peer, None);
        if s.state == SessionState::Operational {
            self.counters.sessions_down += 1;
            tracing::info!(%peer, ?reason, "LDP session down");
        } else {
            tracing::debug!(%peer, ?reason, state = ?s.state, "LDP session setup failed");
        }
        self.events.push_back(Event::SessionDown { peer, reason });
        if s.active {
            let backoff = match self.retry.get(&peer) {
                Some((_, b)) if s.state != SessionState::Operational => {
                    (*b * 2).min(self.cfg.backoff_max)
                }
                _ => self.cfg.backoff_initial,
            };
            self.retry.insert(peer, (now + backoff, backoff));
        }
    }

    /// `peer` released `label` (or every label, `None`, when its session ended): frees the
    /// withdrawn labels nobody holds any more.
    fn release_done(&mut self, peer: Ipv4Addr, label: Option<Label>) {
        let mut free = Vec::new();
        for (l, (_, peers)) in self.releasing.iter_mut() {
            if label.is_none_or(|x| x == *l) {
                peers.remove(&peer);
                if peers.is_empty() {
                    free.push(*l);
                }
            }
        }
        for l in free {
            self.releasing.remove(&l);
            if let Err(e) = self.alloc.free(l) {
                tracing::error!(label = %l, error = %e, "LDP: freeing a released label failed");
            }
        }
    }

    /// Bytes read from `peer`'s session connection.
    pub fn handle_session_input(&mut self, now: Instant, peer: Ipv4Addr, bytes: &[u8]) {
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        s.rx.extend_from_slice(bytes);
        loop {
            let Some(s) = self.sessions.get_mut(&peer) else {
                return;
            };
            let max = usize::from(self.cfg.max_pdu).max(s.max_pdu);
            let len = match pdu_frame_len(&s.rx, max) {
                Ok(Some(n)) if n <= s.rx.len() => n,
                Ok(_) => return,
                Err(e) => {
                    self.counters.malformed += 1;
                    tracing::warn!(%peer, error = %e, "LDP: broken PDU stream, closing the session");
                    let code = e.status();
                    self.close(now, peer, DownReason::ProtocolError(code), Some(code));
                    return;
                }
            };
            let pdu: Vec<u8> = s.rx.drain(..len).collect();
            s.ka_expire = s.ka_expire.map(|_| now + s.keepalive);
            self.counters.pdus_received += 1;
            self.handle_pdu(now, peer, &pdu);
        }
    }

    fn handle_pdu(&mut self, now: Instant, peer: Ipv4Addr, bytes: &[u8]) {
        let pdu = match PduView::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.counters.malformed += 1;
                let code = e.status();
                self.close(now, peer, DownReason::ProtocolError(code), Some(code));
                return;
            }
        };
        if pdu.ldp_id() != LdpId::platform(peer) {
            self.counters.malformed += 1;
            tracing::warn!(%peer, got = %pdu.ldp_id(), "LDP: PDU with a wrong LDP identifier");
            let code = status::BAD_LDP_ID;
            self.close(now, peer, DownReason::ProtocolError(code), Some(code));
            return;
        }
        for raw in pdu.messages() {
            if !self.sessions.contains_key(&peer) {
                return;
            }
            let raw = match raw {
                Ok(r) => r,
                Err(e) => {
                    self.counters.malformed += 1;
                    let code = e.status();
                    self.close(now, peer, DownReason::ProtocolError(code), Some(code));
                    return;
                }
            };
            self.counters.messages_received += 1;
            match Message::parse(&raw) {
                Ok(m) => self.handle_message(now, peer, m),
                Err(e) => {
                    self.counters.malformed += 1;
                    tracing::debug!(%peer, kind = msg::name(raw.kind), error = %e, "LDP: malformed message");
                    let st = Status::new(e.status(), raw.id, raw.kind);
                    if st.is_fatal() {
                        self.close(
                            now,
                            peer,
                            DownReason::ProtocolError(st.value()),
                            Some(st.value()),
                        );
                        return;
                    }
                    self.send_notification(peer, st);
                }
            }
        }
    }

    fn handle_message(&mut self, now: Instant, peer: Ipv4Addr, m: Message) {
        let state = self.sessions[&peer].state;
        let known = matches!(
            m.kind,
            msg::NOTIFICATION
                | msg::HELLO
                | msg::INITIALIZATION
                | msg::KEEPALIVE
                | msg::ADDRESS
                | msg::ADDRESS_WITHDRAW
                | msg::LABEL_MAPPING
                | msg::LABEL_REQUEST
                | msg::LABEL_WITHDRAW
                | msg::LABEL_RELEASE
                | msg::LABEL_ABORT
        );
        if !known {
            self.counters.unknown_messages += 1;
            if !m.unknown_bit {
                self.send_notification(peer, Status::new(status::UNKNOWN_MESSAGE, m.id, m.kind));
            }
            return;
        }
        if let Some(kind) = m.unknown_mandatory_tlv() {
            self.counters.unknown_tlvs += 1;
            tracing::debug!(%peer, tlv = kind, "LDP: message with an unknown TLV (U clear) ignored");
            self.send_notification(peer, Status::new(status::UNKNOWN_TLV, m.id, m.kind));
            return;
        }
        if m.tlvs.iter().any(|t| matches!(t, Tlv::Unknown { .. })) {
            self.counters.unknown_tlvs += 1;
        }
        if m.kind == msg::NOTIFICATION {
            self.handle_notification(now, peer, &m);
            return;
        }
        match (state, m.kind) {
            (SessionState::Initialized | SessionState::OpenSent, msg::INITIALIZATION) => {
                self.handle_init(now, peer, &m)
            }
            (SessionState::OpenRec, msg::KEEPALIVE) => self.operational(now, peer),
            (SessionState::Operational, msg::KEEPALIVE) => {}
            (SessionState::Operational, msg::ADDRESS | msg::ADDRESS_WITHDRAW) => {
                self.handle_address(peer, &m)
            }
            (SessionState::Operational, msg::LABEL_MAPPING) => self.handle_mapping(peer, &m),
            (SessionState::Operational, msg::LABEL_WITHDRAW) => self.handle_withdraw(peer, &m),
            (SessionState::Operational, msg::LABEL_RELEASE) => self.handle_release(peer, &m),
            (SessionState::Operational, msg::LABEL_REQUEST) => self.handle_request(peer, &m),
            (SessionState::Operational, msg::LABEL_ABORT) => {
                // Nothing is pending in DU mode; the request was answered already.
                self.counters.requests_received += 1;
            }
            (SessionState::Operational, msg::HELLO) => self.counters.unexpected_messages += 1,
            _ => {
                // §2.5.4: any other message before Operational (or Initialization after)
                // ends the session.
                self.counters.unexpected_messages += 1;
                tracing::debug!(%peer, ?state, kind = msg::name(m.kind), "LDP: unexpected message");
                self.close(
                    now,
                    peer,
                    DownReason::ProtocolError(status::SHUTDOWN),
                    Some(status::SHUTDOWN),
                );
            }
        }
    }

    fn handle_notification(&mut self, now: Instant, peer: Ipv4Addr, m: &Message) {
        self.counters.notifications_received += 1;
        let Some(st) = m.status() else {
            self.counters.malformed += 1;
            self.send_notification(peer, Status::new(status::MISSING_PARAMETERS, m.id, m.kind));
            return;
        };
        if st.is_fatal() {
            tracing::info!(%peer, code = st.value(), "LDP: fatal Notification from the peer");
            self.close(now, peer, DownReason::PeerNotification(st), None);
        } else {
            tracing::debug!(%peer, code = st.value(), "LDP: Notification from the peer");
            self.events
                .push_back(Event::Notification { peer, status: st });
        }
    }

    fn handle_init(&mut self, now: Instant, peer: Ipv4Addr, m: &Message) {
        let params = m.tlvs.iter().find_map(|t| match t {
            Tlv::CommonSession(p) => Some(*p),
            _ => None,
        });
        let reject = match params {
            None => Some(status::MISSING_PARAMETERS),
            Some(p) if p.version != wire::VERSION => Some(status::BAD_VERSION),
            Some(p) if p.receiver != self.id => Some(status::SESSION_REJECTED_NO_HELLO),
            Some(p) if p.keepalive == 0 => Some(status::SESSION_REJECTED_KEEPALIVE),
            Some(_) => None,
        };
        if let Some(code) = reject {
            self.counters.malformed += 1;
            tracing::warn!(%peer, code, "LDP: Initialization rejected");
            self.close(now, peer, DownReason::ProtocolError(code), Some(code));
            return;
        }
        let p = params.expect("checked above");
        let theirs = if p.max_pdu <= 255 {
            wire::DEFAULT_MAX_PDU
        } else {
            usize::from(p.max_pdu)
        };
        let ka = p.keepalive.min(self.cfg.keepalive_time);
        let s = self.sessions.get_mut(&peer).expect("caller checked");
        s.max_pdu = theirs.min(usize::from(self.cfg.max_pdu));
        s.keepalive = Duration::from_secs(ka.into());
        let passive = s.state == SessionState::Initialized;
        s.state = SessionState::OpenRec;
        s.ka_expire = Some(now + s.keepalive);
        let mut out = Vec::new();
        if passive {
            out.push(self.init_message(peer));
        }
        out.push(self.keepalive_message());
        self.send(peer, &out);
    }

    fn operational(&mut self, now: Instant, peer: Ipv4Addr) {
        let s = self.sessions.get_mut(&peer).expect("caller checked");
        s.state = SessionState::Operational;
        s.init_deadline = None;
        s.ka_send = Some(now + s.keepalive / 3);
        s.ka_expire = Some(now + s.keepalive);
        let ka = s.keepalive.as_secs() as u16;
        self.retry.remove(&peer);
        self.counters.sessions_up += 1;
        tracing::info!(%peer, keepalive = ka, "LDP session operational");
        self.events.push_back(Event::SessionUp {
            peer,
            keepalive: ka,
        });
        // Addresses, then a mapping per local FEC (DU, §2.6.1.1).
        let mut addrs: Vec<Ipv4Addr> = self.cfg.addresses.clone();
        addrs.push(self.cfg.transport_address);
        addrs.push(self.cfg.lsr_id);
        addrs.sort();
        addrs.dedup();
        let id = self.next_id();
        let mut out = vec![Message::new(
            msg::ADDRESS,
            id,
            vec![Tlv::AddressList(AddressList::V4(addrs))],
        )];
        let local: Vec<_> = self.local_bindings().collect();
        for (p, l) in local {
            out.push(self.mapping(p, l, None));
            self.counters.mappings_sent += 1;
        }
        self.send(peer, &out);
    }

    fn handle_address(&mut self, peer: Ipv4Addr, m: &Message) {
        let list = m.tlvs.iter().find_map(|t| match t {
            Tlv::AddressList(a) => Some(a),
            _ => None,
        });
        match list {
            None => {
                self.counters.malformed += 1;
                self.send_notification(peer, Status::new(status::MISSING_PARAMETERS, m.id, m.kind));
            }
            Some(AddressList::V6(_)) => self.counters.unsupported_family += 1,
            Some(AddressList::V4(a)) => {
                let s = self.sessions.get_mut(&peer).expect("caller checked");
                for x in a {
                    if m.kind == msg::ADDRESS {
                        s.addresses.insert(*x);
                    } else {
                        s.addresses.remove(x);
                    }
                }
            }
        }
    }

    fn handle_mapping(&mut self, peer: Ipv4Addr, m: &Message) {
        self.counters.mappings_received += 1;
        let (Some(fec), Some(label)) = (m.fec(), m.generic_label().and_then(label_of)) else {
            self.counters.malformed += 1;
            self.send_notification(peer, Status::new(status::MISSING_PARAMETERS, m.id, m.kind));
            return;
        };
        let mut release = Vec::new();
        for e in fec {
            let prefix = match e {
                FecElement::Prefix4(p) => *p,
                FecElement::Prefix6 { .. } => {
                    self.counters.unsupported_family += 1;
                    continue;
                }
                FecElement::Wildcard | FecElement::TypedWildcard { .. } => {
                    // A wildcard has no place in a mapping (§3.4.1).
                    self.counters.malformed += 1;
                    self.send_notification(peer, Status::new(status::UNKNOWN_FEC, m.id, m.kind));
                    return;
                }
            };
            let limit = self.cfg.max_bindings_per_peer;
            let s = self.sessions.get_mut(&peer).expect("caller checked");
            if !s.learnt.contains_key(&prefix) && s.learnt.len() >= limit {
                self.counters.bindings_over_limit += 1;
                release.push((prefix, label));
                continue;
            }
            match s.learnt.insert(prefix, label) {
                Some(old) if old == label => continue,
                Some(old) => {
                    // A new label replaces the old one, which goes back (Appendix A.1.3).
                    release.push((prefix, old));
                    self.events.push_back(Event::BindingLost {
                        peer,
                        prefix,
                        label: old,
                    });
                }
                None => {}
            }
            tracing::debug!(%peer, %prefix, %label, "LDP binding learnt");
            self.events.push_back(Event::BindingLearnt {
                peer,
                prefix,
                label,
            });
        }
        let msgs: Vec<_> = release
            .into_iter()
            .map(|(p, l)| self.release_message(vec![FecElement::Prefix4(p)], Some(l.value())))
            .collect();
        if !msgs.is_empty() {
            self.send(peer, &msgs);
        }
    }

    fn release_message(&mut self, fec: Vec<FecElement>, label: Option<u32>) -> Message {
        self.counters.releases_sent += 1;
        let id = self.next_id();
        let mut tlvs = vec![Tlv::Fec(fec)];
        if let Some(l) = label {
            tlvs.push(Tlv::GenericLabel(l));
        }
        Message::new(msg::LABEL_RELEASE, id, tlvs)
    }

    fn handle_withdraw(&mut self, peer: Ipv4Addr, m: &Message) {
        self.counters.withdraws_received += 1;
        let Some(fec) = m.fec().map(<[FecElement]>::to_vec) else {
            self.counters.malformed += 1;
            self.send_notification(peer, Status::new(status::MISSING_PARAMETERS, m.id, m.kind));
            return;
        };
        let label = m.generic_label();
        let s = self.sessions.get_mut(&peer).expect("caller checked");
        let matches = |l: &Label| label.is_none_or(|x| x == l.value());
        let mut lost = Vec::new();
        for e in &fec {
            match e {
                FecElement::Wildcard | FecElement::TypedWildcard { element: 0x02, .. } => {
                    let all: Vec<_> = s
                        .learnt
                        .iter()
                        .filter(|(_, l)| matches(l))
                        .map(|(p, l)| (*p, *l))
                        .collect();
                    for (p, l) in all {
                        s.learnt.remove(&p);
                        lost.push((p, l));
                    }
                }
                FecElement::Prefix4(p) => {
                    if s.learnt.get(p).is_some_and(matches) {
                        lost.push((*p, s.learnt.remove(p).expect("present")));
                    }
                }
                FecElement::Prefix6 { .. } | FecElement::TypedWildcard { .. } => {
                    self.counters.unsupported_family += 1
                }
            }
        }
        for (prefix, label) in lost {
            self.events.push_back(Event::BindingLost {
                peer,
                prefix,
                label,
            });
        }
        // Always answered with a Label Release of the same FEC (§3.5.10).
        let r = self.release_message(fec, label);
        self.send(peer, &[r]);
    }

    fn handle_release(&mut self, peer: Ipv4Addr, m: &Message) {
        self.counters.releases_received += 1;
        let Some(fec) = m.fec() else {
            self.counters.malformed += 1;
            self.send_notification(peer, Status::new(status::MISSING_PARAMETERS, m.id, m.kind));
            return;
        };
        let label = m.generic_label().and_then(label_of);
        if fec.iter().any(|e| matches!(e, FecElement::Wildcard)) {
            self.release_done(peer, label);
            return;
        }
        match label {
            Some(l) => self.release_done(peer, Some(l)),
            None => {
                // Without a label the FEC names it: the withdrawn labels of those prefixes.
                let waiting: Vec<Label> = self
                    .releasing
                    .iter()
                    .filter(|(_, (p, ps))| {
                        ps.contains(&peer) && fec.contains(&FecElement::Prefix4(*p))
                    })
                    .map(|(l, _)| *l)
                    .collect();
                for l in waiting {
                    self.release_done(peer, Some(l));
                }
            }
        }
    }

    fn handle_request(&mut self, peer: Ipv4Addr, m: &Message) {
        self.counters.requests_received += 1;
        let prefix = m.fec().and_then(|f| {
            f.iter().find_map(|e| match e {
                FecElement::Prefix4(p) => Some(*p),
                _ => None,
            })
        });
        match prefix.and_then(|p| self.local.get(&p).map(|l| (p, *l))) {
            Some((p, l)) => {
                let mapping = self.mapping(p, l, Some(m.id));
                self.counters.mappings_sent += 1;
                self.send(peer, &[mapping]);
            }
            None => self.send_notification(peer, Status::new(0x0D, m.id, m.kind)),
        }
    }

    /// Runs what is due at `now`: Hellos, adjacency hold times, session setup deadlines,
    /// KeepAlives and their expiry, session retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_hello {
            if let Some(h) = self.hello() {
                self.counters.hellos_sent += 1;
                self.out.push_back(Transmit::Hello(h));
            }
            self.next_hello = now + self.cfg.hello_interval;
        }
        let expired: Vec<_> = self
            .adjacencies
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.adjacencies.remove(&peer);
            self.retry.remove(&peer);
            self.counters.adjacencies_down += 1;
            tracing::info!(%peer, "LDP adjacency down (hold time expired)");
            self.events.push_back(Event::AdjacencyDown { peer });
            if self.sessions.contains_key(&peer) {
                self.close(
                    now,
                    peer,
                    DownReason::HelloHoldExpired,
                    Some(status::HOLD_TIMER_EXPIRED),
                );
                self.retry.remove(&peer);
            }
        }
        let peers: Vec<_> = self.sessions.keys().copied().collect();
        for peer in peers {
            let s = &self.sessions[&peer];
            if s.init_deadline.is_some_and(|t| t <= now) {
                self.counters.init_timeouts += 1;
                self.close(now, peer, DownReason::InitTimeout, None);
                continue;
            }
            if s.ka_expire.is_some_and(|t| t <= now) {
                self.counters.keepalive_expired += 1;
                let code = status::KEEPALIVE_EXPIRED;
                self.close(now, peer, DownReason::KeepaliveExpired, Some(code));
                continue;
            }
            if s.ka_send.is_some_and(|t| t <= now) {
                let every = s.keepalive / 3;
                let ka = self.keepalive_message();
                self.send(peer, &[ka]);
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.ka_send = Some(now + every);
                }
            }
        }
        let due: Vec<_> = self
            .retry
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            self.maybe_connect(now, peer);
        }
    }
}
