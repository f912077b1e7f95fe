//! Sans-IO L2TPv2 engine: control connections and sessions (RFC 2661 §5, §7).
//!
//! One [`Engine`] owns the tunnels of one local L2TP endpoint (in the appliance: one VR's LAC
//! or LNS). It never touches a socket or a clock: feed it datagrams with
//! [`Engine::handle_input`], wake it at [`Engine::poll_timeout`] with
//! [`Engine::handle_timeout`], and send what [`Engine::poll_transmit`] returns. Tunnel and
//! session up/down transitions come out of [`Engine::poll_event`] so the appliance can bind
//! and unbind interface-table entries.
//!
//! Randomness (tunnel/session ids, challenges, tie breakers, random vectors) comes from an
//! injected [`rand::Rng`], so simulations are deterministic.
//!
//! Not implemented yet: per-peer secrets, acting on proxy LCP / proxy authentication AVPs,
//! the data path (data messages are counted and ignored here).

pub mod limits;
pub mod reliable;
pub mod session;
pub mod tunnel;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::l2tp::wire::{
    Avp, AvpValue, CallErrors, ControlMessage, L2tpPacket, MessageKind, MessageType,
};
pub use limits::{Counters, Limit, Limits};
use reliable::{Expired, Receive, Reliable, Timers};
use session::Session;
pub use session::{CallKind, CallParams, ProxyInfo, SessionState};
use tunnel::Tunnel;
pub use tunnel::{challenge_response, TunnelState};

/// The Assigned Tunnel ID of a StopCCN that refuses an SCCRQ without keeping state; never
/// the id of a tunnel (so at most 65,534 tunnels).
pub const REFUSAL_TUNNEL_ID: u16 = u16::MAX;

/// Which side of calls this endpoint plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// L2TP Access Concentrator: places incoming calls (ICRQ), answers outgoing ones (OCRQ).
    Lac,
    /// L2TP Network Server: answers incoming calls, places outgoing calls.
    Lns,
}

/// Engine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub role: Role,
    pub host_name: Vec<u8>,
    pub vendor_name: Vec<u8>,
    /// Tunnel secret: enables challenge/response in both directions and hidden AVPs.
    pub secret: Option<Vec<u8>>,
    /// Hide the Assigned Tunnel/Session ID and Call Serial Number AVPs (needs `secret`).
    pub hide_avps: bool,
    /// Send a Tie Breaker AVP in our SCCRQs (§4.4.3).
    pub tie_breaker: bool,
    /// Our Receive Window Size.
    pub receive_window: u16,
    pub hello_interval: Duration,
    pub retransmit_initial: Duration,
    pub retransmit_cap: Duration,
    pub max_retransmits: u32,
    pub ack_delay: Duration,
    /// How long a closed tunnel keeps state to re-acknowledge a retransmitted StopCCN.
    pub close_linger: Duration,
    pub framing_capabilities: u32,
    pub bearer_capabilities: u32,
    pub limits: Limits,
    /// Hand messages of an unknown type whose Message Type AVP has the M bit clear, received
    /// in an established tunnel, to the caller as [`Event::Message`] (in order, after the
    /// reliable delivery of §5.8) instead of only counting them as ignored. Used by the VPN
    /// peering channel (`crate::vpnpeer`), which carries its own message type.
    pub deliver_unknown_messages: bool,
}

impl Config {
    /// RFC 2661 defaults for `role`.
    pub fn new(role: Role, host_name: &str) -> Self {
        Config {
            role,
            host_name: host_name.as_bytes().to_vec(),
            vendor_name: b"varouter".to_vec(),
            secret: None,
            hide_avps: false,
            tie_breaker: true,
            receive_window: 8,
            hello_interval: Duration::from_secs(60),
            retransmit_initial: Duration::from_secs(1),
            retransmit_cap: Duration::from_secs(8),
            max_retransmits: 5,
            ack_delay: Duration::from_millis(100),
            close_linger: Duration::from_secs(31),
            framing_capabilities: 3,
            bearer_capabilities: 3,
            limits: Limits::default(),
            deliver_unknown_messages: false,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dst: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Why a tunnel or session went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// Closed by a local request.
    Local,
    /// The peer sent StopCCN or CDN with this result.
    Peer {
        result: u16,
        error: Option<u16>,
        message: Vec<u8>,
    },
    /// Retransmissions exhausted (§5.8).
    Timeout,
    /// Tunnel authentication failed (challenge response wrong or missing).
    AuthFailed,
    /// Our SCCRQ lost the tie break; the peer's tunnel is used instead (§4.4.3).
    TieBreakLost,
    /// An unknown AVP with the M bit set (§4.1).
    UnknownMandatoryAvp { vendor: u16, attr: u16 },
    /// The peer violated the protocol.
    Protocol(&'static str),
    /// The session's tunnel went down.
    TunnelDown,
}

/// Tunnel and session transitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    TunnelUp {
        tunnel: u16,
        peer_tunnel: u16,
        peer: SocketAddr,
        peer_host_name: Vec<u8>,
    },
    TunnelDown {
        tunnel: u16,
        reason: DownReason,
    },
    SessionUp {
        tunnel: u16,
        session: u16,
        peer_tunnel: u16,
        peer_session: u16,
        call: CallKind,
        /// The tunnel's peer (where the session's data goes).
        peer: SocketAddr,
        /// Calling Number of the ICRQ (the subscriber's line; RADIUS Calling-Station-Id).
        calling_number: Vec<u8>,
        /// Called Number of the ICRQ.
        called_number: Vec<u8>,
        /// Proxy LCP and proxy authentication from the LAC's ICCN (§4.4.5), if it sent any.
        proxy: Option<Box<ProxyInfo>>,
    },
    SessionDown {
        tunnel: u16,
        session: u16,
        reason: DownReason,
    },
    /// WAN-Error-Notify from the LAC.
    WanErrorNotify {
        tunnel: u16,
        session: u16,
        errors: CallErrors,
    },
    /// Set-Link-Info from the LNS.
    SetLinkInfo {
        tunnel: u16,
        session: u16,
        send_accm: u32,
        receive_accm: u32,
    },
    /// A message of a type this engine does not know, sent with the M bit of its Message
    /// Type AVP clear, in an established tunnel (only with
    /// [`Config::deliver_unknown_messages`]).
    Message {
        tunnel: u16,
        message_type: u16,
        avps: Vec<Avp>,
    },
}

/// Errors of local requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("refused: {0}")]
    Limit(#[from] Limit),
    #[error("tunnel {0} does not exist")]
    UnknownTunnel(u16),
    #[error("tunnel {0} is not established")]
    NotEstablished(u16),
    #[error("session {session} does not exist in tunnel {tunnel}")]
    UnknownSession { tunnel: u16, session: u16 },
    #[error("a {role:?} cannot place {call:?} calls (LAC: incoming, LNS: outgoing)")]
    WrongRole { role: Role, call: CallKind },
    #[error("{what} is only sent by the {by:?}")]
    WrongSender { what: &'static str, by: Role },
}

/// StopCCN / CDN result and error codes used by the engine (§4.4.2).
pub mod result {
    pub const STOPCCN_CLEAR: u16 = 1;
    pub const STOPCCN_GENERAL_ERROR: u16 = 2;
    pub const STOPCCN_NOT_AUTHORIZED: u16 = 4;
    pub const STOPCCN_BAD_VERSION: u16 = 5;
    pub const STOPCCN_FSM_ERROR: u16 = 7;
    pub const CDN_ADMIN: u16 = 3;
    pub const CDN_GENERAL_ERROR: u16 = 2;
    pub const CDN_TEMP_FACILITIES: u16 = 4;
    pub const ERR_NO_CONTROL_CONNECTION: u16 = 1;
    pub const ERR_INSUFFICIENT_RESOURCES: u16 = 4;
    pub const ERR_INVALID_SESSION: u16 = 5;
    pub const ERR_UNKNOWN_MANDATORY_AVP: u16 = 8;
}
use result::*;

struct Ctx<R> {
    cfg: Config,
    timers: Timers,
    rng: R,
    counters: Counters,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
    sessions_total: usize,
    half_open_total: usize,
    half_open_by_src: HashMap<IpAddr, usize>,
}

/// The L2TP engine of one local endpoint.
pub struct Engine<R: Rng> {
    ctx: Ctx<R>,
    tunnels: HashMap<u16, Tunnel>,
    /// (peer address, peer's tunnel id) → our tunnel id: finds retransmitted SCCRQs.
    by_peer: HashMap<(SocketAddr, u16), u16>,
    /// Tunnels that are only closing (StopCCN sent or received; kept to acknowledge
    /// retransmissions, §5.7): they do not count against `max_tunnels`.
    closing: std::collections::HashSet<u16>,
    /// Tunnels whose deadline may have changed since the driver last asked.
    touched: Vec<u16>,
}

fn rc(result: u16, error: Option<u16>, msg: &str) -> Avp {
    Avp::m(AvpValue::ResultCode {
        result,
        error,
        message: msg.as_bytes().to_vec(),
    })
}

impl<R: Rng> Ctx<R> {
    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// Builds the AVP list: hidden AVPs get a Random Vector in front (§4.3).
    fn avps(&mut self, mut avps: Vec<Avp>) -> Vec<Avp> {
        if self.cfg.hide_avps && self.cfg.secret.is_some() {
            let mut any = false;
            for a in avps.iter_mut() {
                if matches!(
                    a.value,
                    AvpValue::AssignedTunnelId(_)
                        | AvpValue::AssignedSessionId(_)
                        | AvpValue::CallSerialNumber(_)
                ) {
                    a.hidden = true;
                    any = true;
                }
            }
            if any {
                let rv = self.random_bytes(16);
                avps.insert(0, Avp::m(AvpValue::RandomVector(rv)));
            }
        }
        avps
    }

    fn encode(&mut self, m: &ControlMessage) -> Option<Vec<u8>> {
        match m.to_bytes(self.cfg.secret.as_deref()) {
            Ok(b) => Some(b),
            Err(_) => {
                self.counters.encode_errors += 1;
                None
            }
        }
    }

    fn flush(&mut self, now: Instant, t: &mut Tunnel) {
        let timers = self.timers;
        let dst = t.peer;
        let mut encoded = Vec::new();
        let sent = t.rel.flush(now, &timers, |m| {
            let b = m.to_bytes(self.cfg.secret.as_deref()).ok();
            encoded.push(b.is_some());
            b
        });
        self.counters.encode_errors += encoded.iter().filter(|ok| !**ok).count() as u64;
        for bytes in sent {
            self.counters.tx_messages += 1;
            self.transmits.push_back(Transmit { dst, bytes });
        }
    }

    fn send_zlb(&mut self, t: &mut Tunnel) {
        let m = ControlMessage::zlb(t.peer_id, t.rel.ns, t.rel.nr);
        if let Some(bytes) = self.encode(&m) {
            self.counters.tx_zlb += 1;
            self.transmits.push_back(Transmit { dst: t.peer, bytes });
        }
        t.rel.ack_due = None;
    }

    fn leave_half_open(&mut self, t: &mut Tunnel) {
        if t.half_open {
            t.half_open = false;
            self.half_open_total = self.half_open_total.saturating_sub(1);
            if t.peer_initiated {
                let ip = t.peer.ip();
                if let Some(n) = self.half_open_by_src.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        self.half_open_by_src.remove(&ip);
                    }
                }
            }
        }
    }

    /// Tunnel goes down: sessions down, events, half-open accounting. The caller removes it or
    /// keeps it in Closing.
    fn tunnel_down(&mut self, t: &mut Tunnel, reason: DownReason) {
        self.leave_half_open(t);
        for (_, s) in t.sessions.drain() {
            self.sessions_total = self.sessions_total.saturating_sub(1);
            if s.state == SessionState::Established {
                self.counters.sessions_closed += 1;
            }
            self.events.push_back(Event::SessionDown {
                tunnel: t.local_id,
                session: s.local_id,
                reason: DownReason::TunnelDown,
            });
        }
        if t.state != TunnelState::Closing {
            self.counters.tunnels_closed += 1;
            self.events.push_back(Event::TunnelDown {
                tunnel: t.local_id,
                reason,
            });
        }
    }

    /// Sends StopCCN and moves the tunnel to Closing.
    fn stop(
        &mut self,
        now: Instant,
        t: &mut Tunnel,
        result: u16,
        error: Option<u16>,
        msg: &str,
        reason: DownReason,
    ) {
        self.tunnel_down(t, reason);
        let avps = self.avps(vec![
            Avp::m(AvpValue::AssignedTunnelId(t.local_id)),
            rc(result, error, msg),
        ]);
        t.rel.enqueue(ControlMessage::new(
            t.peer_id,
            0,
            MessageType::StopCcn,
            avps,
        ));
        t.state = TunnelState::Closing;
        t.stop_sent = true;
        t.hello_at = None;
        t.close_until = Some(now + self.cfg.close_linger);
        self.flush(now, t);
    }

    fn session_down(&mut self, t: &mut Tunnel, sid: u16, reason: DownReason) {
        if let Some(s) = t.sessions.remove(&sid) {
            self.sessions_total = self.sessions_total.saturating_sub(1);
            if s.state == SessionState::Established {
                self.counters.sessions_closed += 1;
            }
            self.events.push_back(Event::SessionDown {
                tunnel: t.local_id,
                session: sid,
                reason,
            });
        }
    }

    /// Sends CDN for `sid` (or for a peer session we never created, `sid` = 0) and removes it.
    fn cdn(
        &mut self,
        now: Instant,
        t: &mut Tunnel,
        (sid, peer_sid): (u16, u16),
        (result, error): (u16, Option<u16>),
        msg: &str,
        reason: DownReason,
    ) {
        let avps = self.avps(vec![
            rc(result, error, msg),
            Avp::m(AvpValue::AssignedSessionId(sid)),
        ]);
        t.rel.enqueue(ControlMessage::new(
            t.peer_id,
            peer_sid,
            MessageType::Cdn,
            avps,
        ));
        self.session_down(t, sid, reason);
        self.flush(now, t);
    }

    fn new_session_id(&mut self, t: &Tunnel) -> Option<u16> {
        for _ in 0..64 {
            let id = self.rng.next_u32() as u16;
            if id != 0 && !t.sessions.contains_key(&id) {
                return Some(id);
            }
            self.counters.id_collisions += 1;
        }
        (1..=u16::MAX).find(|id| !t.sessions.contains_key(id))
    }

    fn check_session_limits(&mut self, t: &Tunnel) -> Result<(), Limit> {
        let l = self.cfg.limits;
        let r = if t.sessions.len() >= l.max_sessions_per_tunnel {
            Err(Limit::SessionsPerTunnel)
        } else if self.sessions_total >= l.max_sessions {
            Err(Limit::Sessions)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            self.counters.refused(e);
        }
        r
    }

    /// Sends the ICRQ/OCRQ of a session whose tunnel is established.
    fn place_call(&mut self, now: Instant, t: &mut Tunnel, sid: u16) {
        let Some(s) = t.sessions.get_mut(&sid) else {
            return;
        };
        s.state = SessionState::WaitReply;
        let (mt, mut avps) = match s.call {
            CallKind::Incoming => (
                MessageType::Icrq,
                vec![
                    Avp::m(AvpValue::AssignedSessionId(s.local_id)),
                    Avp::m(AvpValue::CallSerialNumber(s.serial)),
                    Avp::m(AvpValue::BearerType(s.params.bearer_type)),
                ],
            ),
            CallKind::Outgoing => (
                MessageType::Ocrq,
                vec![
                    Avp::m(AvpValue::AssignedSessionId(s.local_id)),
                    Avp::m(AvpValue::CallSerialNumber(s.serial)),
                    Avp::m(AvpValue::MinimumBps(0)),
                    Avp::m(AvpValue::MaximumBps(u32::MAX)),
                    Avp::m(AvpValue::BearerType(s.params.bearer_type)),
                    Avp::m(AvpValue::FramingType(s.params.framing_type)),
                    Avp::m(AvpValue::CalledNumber(s.params.called_number.clone())),
                ],
            ),
        };
        if s.call == CallKind::Incoming {
            if !s.params.called_number.is_empty() {
                avps.push(Avp::o(AvpValue::CalledNumber(
                    s.params.called_number.clone(),
                )));
            }
            if !s.params.calling_number.is_empty() {
                avps.push(Avp::o(AvpValue::CallingNumber(
                    s.params.calling_number.clone(),
                )));
            }
        }
        let avps = self.avps(avps);
        t.rel.enqueue(ControlMessage::new(t.peer_id, 0, mt, avps));
        self.flush(now, t);
    }

    fn established(&mut self, now: Instant, t: &mut Tunnel) {
        t.state = TunnelState::Established;
        self.leave_half_open(t);
        self.counters.tunnels_established += 1;
        t.hello_at = Some(now + self.cfg.hello_interval);
        self.events.push_back(Event::TunnelUp {
            tunnel: t.local_id,
            peer_tunnel: t.peer_id,
            peer: t.peer,
            peer_host_name: t.peer_host_name.clone(),
        });
        let waiting: Vec<u16> = t
            .sessions
            .values()
            .filter(|s| s.state == SessionState::WaitTunnel)
            .map(|s| s.local_id)
            .collect();
        for sid in waiting {
            self.place_call(now, t, sid);
        }
    }

    fn session_up(&mut self, t: &mut Tunnel, sid: u16, proxy: Option<Box<ProxyInfo>>) {
        if let Some(s) = t.sessions.get_mut(&sid) {
            s.state = SessionState::Established;
            self.counters.sessions_established += 1;
            self.events.push_back(Event::SessionUp {
                tunnel: t.local_id,
                session: sid,
                peer_tunnel: t.peer_id,
                peer_session: s.peer_id,
                call: s.call,
                peer: t.peer,
                calling_number: std::mem::take(&mut s.params.calling_number),
                called_number: std::mem::take(&mut s.params.called_number),
                proxy,
            });
        }
    }

    /// Handles one in-order message of an existing tunnel.
    fn dispatch(&mut self, now: Instant, t: &mut Tunnel, m: ControlMessage) {
        let Some(mt) = m.message_type else { return };
        if t.state == TunnelState::Closing {
            return;
        }
        // §4.1: an unknown AVP with the M bit tears down the session or the tunnel.
        if let Some((vendor, attr)) = m.unknown_mandatory() {
            self.counters.unknown_mandatory_avp += 1;
            let reason = DownReason::UnknownMandatoryAvp { vendor, attr };
            if mt.is_session_message() {
                let (sid, peer_sid) = match mt {
                    MessageType::Icrq | MessageType::Ocrq => (0, find_session_id(&m).unwrap_or(0)),
                    _ => (
                        m.session_id,
                        t.sessions.get(&m.session_id).map_or(0, |s| s.peer_id),
                    ),
                };
                if mt != MessageType::Cdn {
                    self.cdn(
                        now,
                        t,
                        (sid, peer_sid),
                        (CDN_GENERAL_ERROR, Some(ERR_UNKNOWN_MANDATORY_AVP)),
                        "unknown mandatory AVP",
                        reason,
                    );
                }
            } else {
                self.stop(
                    now,
                    t,
                    STOPCCN_GENERAL_ERROR,
                    Some(ERR_UNKNOWN_MANDATORY_AVP),
                    "unknown mandatory AVP",
                    reason,
                );
            }
            return;
        }
        match (mt, t.state) {
            (MessageType::Sccrp, TunnelState::WaitCtlReply) => self.on_sccrp(now, t, &m),
            (MessageType::Scccn, TunnelState::WaitCtlConn) => {
                if let Some(ch) = t.challenge_sent.take() {
                    let want =
                        challenge_response(3, self.cfg.secret.as_deref().unwrap_or(&[]), &ch);
                    if find_response(&m) != Some(want) {
                        self.counters.tunnel_auth_failures += 1;
                        self.stop(
                            now,
                            t,
                            STOPCCN_NOT_AUTHORIZED,
                            None,
                            "challenge response in SCCCN is wrong or missing",
                            DownReason::AuthFailed,
                        );
                        return;
                    }
                }
                self.established(now, t);
            }
            (MessageType::StopCcn, _) => {
                let (result, error, message) = m
                    .find(|v| match v {
                        AvpValue::ResultCode {
                            result,
                            error,
                            message,
                        } => Some((*result, *error, message.clone())),
                        _ => None,
                    })
                    .unwrap_or((0, None, Vec::new()));
                self.tunnel_down(
                    t,
                    DownReason::Peer {
                        result,
                        error,
                        message,
                    },
                );
                t.state = TunnelState::Closing;
                t.hello_at = None;
                t.close_until = Some(now + self.cfg.close_linger);
                // The tunnel is gone (§5.7): what we still had in flight (a CDN crossing the
                // StopCCN, say) is not retransmitted; we only acknowledge, at once.
                t.rel.abandon();
                t.rel.ack_due = Some(now);
            }
            (MessageType::Hello, TunnelState::Established) => {}
            (mt, TunnelState::Established) if mt.is_session_message() => {
                self.on_session_message(now, t, mt, &m)
            }
            (MessageType::Unknown(ty), TunnelState::Established)
                if !m.message_type_mandatory && self.cfg.deliver_unknown_messages =>
            {
                self.counters.rx_delivered_unknown_message += 1;
                self.events.push_back(Event::Message {
                    tunnel: t.local_id,
                    message_type: ty,
                    avps: m.avps,
                });
            }
            (MessageType::Unknown(_), _) if !m.message_type_mandatory => {
                self.counters.rx_ignored_unknown_message += 1;
            }
            (MessageType::Unknown(_), _) => {
                self.counters.rx_unexpected_message += 1;
                self.stop(
                    now,
                    t,
                    STOPCCN_GENERAL_ERROR,
                    Some(3),
                    "unknown mandatory message type",
                    DownReason::Protocol("unknown message type"),
                );
            }
            _ => {
                // §7.2: a message the state machine does not expect clears the connection
                // only while it is being set up; established tunnels ignore it.
                self.counters.rx_unexpected_message += 1;
                if t.state != TunnelState::Established {
                    self.stop(
                        now,
                        t,
                        STOPCCN_FSM_ERROR,
                        None,
                        "unexpected message during setup",
                        DownReason::Protocol("unexpected message"),
                    );
                }
            }
        }
    }

    fn on_sccrp(&mut self, now: Instant, t: &mut Tunnel, m: &ControlMessage) {
        let secret = self.cfg.secret.clone();
        if let Some(ch) = t.challenge_sent.take() {
            let want = challenge_response(2, secret.as_deref().unwrap_or(&[]), &ch);
            if find_response(m) != Some(want) {
                self.counters.tunnel_auth_failures += 1;
                t.peer_id = find_tunnel_id(m).unwrap_or(t.peer_id);
                self.stop(
                    now,
                    t,
                    STOPCCN_NOT_AUTHORIZED,
                    None,
                    "challenge response in SCCRP is wrong or missing",
                    DownReason::AuthFailed,
                );
                return;
            }
        }
        let Some(peer_id) = find_tunnel_id(m) else {
            self.counters.missing_avp += 1;
            self.tunnel_down(t, DownReason::Protocol("SCCRP without Assigned Tunnel ID"));
            t.state = TunnelState::Closing;
            t.close_until = Some(now);
            return;
        };
        t.peer_id = peer_id;
        if let Some(w) = find_window(m) {
            t.rel.peer_window = w;
        }
        t.peer_host_name = find_host(m).unwrap_or_default();
        let mut avps = Vec::new();
        if let Some(ch) = find_challenge(m) {
            let Some(s) = secret.as_deref() else {
                self.counters.tunnel_auth_failures += 1;
                self.stop(
                    now,
                    t,
                    STOPCCN_NOT_AUTHORIZED,
                    None,
                    "peer sent a challenge but no secret is configured",
                    DownReason::AuthFailed,
                );
                return;
            };
            avps.push(Avp::m(AvpValue::ChallengeResponse(challenge_response(
                3, s, &ch,
            ))));
        }
        let avps = self.avps(avps);
        t.rel
            .enqueue(ControlMessage::new(t.peer_id, 0, MessageType::Scccn, avps));
        self.flush(now, t);
        self.established(now, t);
    }

    fn on_session_message(
        &mut self,
        now: Instant,
        t: &mut Tunnel,
        mt: MessageType,
        m: &ControlMessage,
    ) {
        let role = self.cfg.role;
        match mt {
            MessageType::Icrq | MessageType::Ocrq => {
                let Some(peer_sid) = find_session_id(m) else {
                    self.counters.missing_avp += 1;
                    return;
                };
                let want = if mt == MessageType::Icrq {
                    Role::Lns
                } else {
                    Role::Lac
                };
                if role != want {
                    self.counters.refused_wrong_role += 1;
                    self.cdn(
                        now,
                        t,
                        (0, peer_sid),
                        (CDN_GENERAL_ERROR, Some(6)),
                        "call type not served by this role",
                        DownReason::Protocol("wrong role"),
                    );
                    return;
                }
                if self.check_session_limits(t).is_err() {
                    self.cdn(
                        now,
                        t,
                        (0, peer_sid),
                        (CDN_TEMP_FACILITIES, Some(ERR_INSUFFICIENT_RESOURCES)),
                        "session limit reached",
                        DownReason::Local,
                    );
                    return;
                }
                let Some(sid) = self.new_session_id(t) else {
                    self.counters.refused(Limit::Ids);
                    self.cdn(
                        now,
                        t,
                        (0, peer_sid),
                        (CDN_TEMP_FACILITIES, Some(ERR_INSUFFICIENT_RESOURCES)),
                        "no free session id",
                        DownReason::Local,
                    );
                    return;
                };
                let serial = m
                    .find(|v| match v {
                        AvpValue::CallSerialNumber(n) => Some(*n),
                        _ => None,
                    })
                    .unwrap_or(0);
                let call = if mt == MessageType::Icrq {
                    CallKind::Incoming
                } else {
                    CallKind::Outgoing
                };
                t.sessions.insert(
                    sid,
                    Session {
                        local_id: sid,
                        peer_id: peer_sid,
                        state: SessionState::WaitConnect,
                        call,
                        serial,
                        params: CallParams {
                            calling_number: m
                                .find(|v| match v {
                                    AvpValue::CallingNumber(n) => Some(n.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default(),
                            called_number: m
                                .find(|v| match v {
                                    AvpValue::CalledNumber(n) => Some(n.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default(),
                            ..CallParams::default()
                        },
                    },
                );
                self.sessions_total += 1;
                let reply = if call == CallKind::Incoming {
                    MessageType::Icrp
                } else {
                    MessageType::Ocrp
                };
                let avps = self.avps(vec![Avp::m(AvpValue::AssignedSessionId(sid))]);
                t.rel
                    .enqueue(ControlMessage::new(t.peer_id, peer_sid, reply, avps));
                if call == CallKind::Outgoing {
                    // LAC: the call is placed at once (no real bearer); report it connected.
                    let avps = vec![
                        Avp::m(AvpValue::TxConnectSpeed(10_000_000)),
                        Avp::m(AvpValue::FramingType(1)),
                    ];
                    t.rel.enqueue(ControlMessage::new(
                        t.peer_id,
                        peer_sid,
                        MessageType::Occn,
                        avps,
                    ));
                    self.session_up(t, sid, None);
                }
                self.flush(now, t);
            }
            _ => {
                let sid = m.session_id;
                let Some(s) = t.sessions.get_mut(&sid) else {
                    self.counters.rx_unexpected_message += 1;
                    return;
                };
                match (mt, s.state, s.call) {
                    (MessageType::Icrp, SessionState::WaitReply, CallKind::Incoming) => {
                        let Some(peer_sid) = find_session_id(m) else {
                            self.counters.missing_avp += 1;
                            return;
                        };
                        s.peer_id = peer_sid;
                        let speed = s.params.connect_speed.max(1);
                        let framing = s.params.framing_type;
                        let mut avps = vec![
                            Avp::m(AvpValue::TxConnectSpeed(speed)),
                            Avp::m(AvpValue::FramingType(framing)),
                        ];
                        if let Some(p) = s.params.proxy.take() {
                            avps.extend(p.avps().into_iter().map(Avp::o));
                        }
                        t.rel.enqueue(ControlMessage::new(
                            t.peer_id,
                            peer_sid,
                            MessageType::Iccn,
                            avps,
                        ));
                        self.session_up(t, sid, None);
                        self.flush(now, t);
                    }
                    (MessageType::Iccn, SessionState::WaitConnect, CallKind::Incoming) => {
                        let proxy = ProxyInfo::of(m);
                        self.session_up(t, sid, proxy)
                    }
                    (MessageType::Ocrp, SessionState::WaitReply, CallKind::Outgoing) => {
                        let Some(peer_sid) = find_session_id(m) else {
                            self.counters.missing_avp += 1;
                            return;
                        };
                        s.peer_id = peer_sid;
                        s.state = SessionState::WaitConnect;
                    }
                    (MessageType::Occn, SessionState::WaitConnect, CallKind::Outgoing) => {
                        self.session_up(t, sid, None)
                    }
                    (MessageType::Cdn, _, _) => {
                        let (result, error, message) = m
                            .find(|v| match v {
                                AvpValue::ResultCode {
                                    result,
                                    error,
                                    message,
                                } => Some((*result, *error, message.clone())),
                                _ => None,
                            })
                            .unwrap_or((0, None, Vec::new()));
                        self.session_down(
                            t,
                            sid,
                            DownReason::Peer {
                                result,
                                error,
                                message,
                            },
                        );
                    }
                    (MessageType::Wen, SessionState::Established, _) if role == Role::Lns => {
                        if let Some(errors) = m.find(|v| match v {
                            AvpValue::CallErrors(e) => Some(*e),
                            _ => None,
                        }) {
                            self.events.push_back(Event::WanErrorNotify {
                                tunnel: t.local_id,
                                session: sid,
                                errors,
                            });
                        }
                    }
                    (MessageType::Sli, SessionState::Established, _) if role == Role::Lac => {
                        if let Some((send_accm, receive_accm)) = m.find(|v| match v {
                            AvpValue::Accm { send, receive } => Some((*send, *receive)),
                            _ => None,
                        }) {
                            self.events.push_back(Event::SetLinkInfo {
                                tunnel: t.local_id,
                                session: sid,
                                send_accm,
                                receive_accm,
                            });
                        }
                    }
                    _ => {
                        self.counters.rx_unexpected_message += 1;
                        let peer_sid = s.peer_id;
                        self.cdn(
                            now,
                            t,
                            (sid, peer_sid),
                            (CDN_GENERAL_ERROR, None),
                            "unexpected message for the session state",
                            DownReason::Protocol("unexpected session message"),
                        );
                    }
                }
            }
        }
    }
}

fn find_tunnel_id(m: &ControlMessage) -> Option<u16> {
    m.find(|v| match v {
        AvpValue::AssignedTunnelId(t) => Some(*t),
        _ => None,
    })
}
fn find_session_id(m: &ControlMessage) -> Option<u16> {
    m.find(|v| match v {
        AvpValue::AssignedSessionId(t) => Some(*t),
        _ => None,
    })
}
fn find_response(m: &ControlMessage) -> Option<[u8; 16]> {
    m.find(|v| match v {
        AvpValue::ChallengeResponse(r) => Some(*r),
        _ => None,
    })
}
fn find_challenge(m: &ControlMessage) -> Option<Vec<u8>> {
    m.find(|v| match v {
        AvpValue::Challenge(c) => Some(c.clone()),
        _ => None,
    })
}
fn find_window(m: &ControlMessage) -> Option<u16> {
    m.find(|v| match v {
        AvpValue::ReceiveWindowSize(w) => Some(*w),
        _ => None,
    })
}
fn find_host(m: &ControlMessage) -> Option<Vec<u8>> {
    m.find(|v| match v {
        AvpValue::HostName(h) => Some(h.clone()),
        _ => None,
    })
}
fn find_tie_breaker(m: &ControlMessage) -> Option<u64> {
    m.find(|v| match v {
        AvpValue::TieBreaker(t) => Some(*t),
        _ => None,
    })
}

impl<R: Rng> Engine<R> {
    /// A new engine with `rng` as its source of ids, challenges and random vectors.
    pub fn new(cfg: Config, rng: R) -> Self {
        let timers = Timers {
            initial: cfg.retransmit_initial,
            cap: cfg.retransmit_cap,
            max_retransmits: cfg.max_retransmits,
            ack_delay: cfg.ack_delay,
        };
        Engine {
            ctx: Ctx {
                cfg,
                timers,
                rng,
                counters: Counters::default(),
                events: VecDeque::new(),
                transmits: VecDeque::new(),
                sessions_total: 0,
                half_open_total: 0,
                half_open_by_src: HashMap::new(),
            },
            tunnels: HashMap::new(),
            by_peer: HashMap::new(),
            closing: std::collections::HashSet::new(),
            touched: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.ctx.cfg
    }
    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.ctx.counters
    }
    /// Number of tunnels in any state.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }
    /// Number of sessions in all tunnels.
    pub fn session_count(&self) -> usize {
        self.ctx.sessions_total
    }
    /// State of a tunnel.
    pub fn tunnel_state(&self, tunnel: u16) -> Option<TunnelState> {
        self.tunnels.get(&tunnel).map(|t| t.state)
    }
    /// The peer (address and UDP port) of a tunnel.
    pub fn tunnel_peer(&self, tunnel: u16) -> Option<SocketAddr> {
        self.tunnels.get(&tunnel).map(|t| t.peer)
    }
    /// The peer's id of a tunnel (0 until its SCCRP/SCCRQ gave it).
    pub fn tunnel_peer_id(&self, tunnel: u16) -> Option<u16> {
        self.tunnels.get(&tunnel).map(|t| t.peer_id)
    }
    /// State of a session.
    pub fn session_state(&self, tunnel: u16, session: u16) -> Option<SessionState> {
        self.tunnels
            .get(&tunnel)?
            .sessions
            .get(&session)
            .map(|s| s.state)
    }
    /// Our tunnel ids.
    pub fn tunnel_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.tunnels.keys().copied()
    }
    /// Our session ids in a tunnel.
    pub fn session_ids(&self, tunnel: u16) -> Vec<u16> {
        self.tunnels
            .get(&tunnel)
            .map(|t| t.sessions.keys().copied().collect())
            .unwrap_or_default()
    }

    /// A tunnel id not in use and not [`REFUSAL_TUNNEL_ID`].
    fn new_tunnel_id(&mut self) -> Option<u16> {
        for _ in 0..64 {
            let id = self.ctx.rng.next_u32() as u16;
            if id != 0 && id != REFUSAL_TUNNEL_ID && !self.tunnels.contains_key(&id) {
                return Some(id);
            }
            self.ctx.counters.id_collisions += 1;
        }
        (1..REFUSAL_TUNNEL_ID).find(|id| !self.tunnels.contains_key(id))
    }

    fn check_tunnel_limits(&mut self, src: Option<IpAddr>) -> Result<(), Limit> {
        let l = self.ctx.cfg.limits;
        // A closing tunnel only waits to acknowledge a StopCCN: it does not hold a place, so a
        // LAC that left can be replaced at once; as many closing tunnels again are allowed,
        // which keeps memory bounded when tunnels open and close in a loop.
        let active = self.tunnels.len() - self.closing.len().min(self.tunnels.len());
        let r = if active >= l.max_tunnels || self.tunnels.len() >= l.max_tunnels * 2 {
            Err(Limit::Tunnels)
        } else if self.ctx.half_open_total >= l.max_half_open {
            Err(Limit::HalfOpen)
        } else if src.is_some_and(|ip| {
            self.ctx.half_open_by_src.get(&ip).copied().unwrap_or(0) >= l.max_half_open_per_source
        }) {
            Err(Limit::HalfOpenPerSource)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            self.ctx.counters.refused(e);
        }
        r
    }

    fn make_tunnel(
        &mut self,
        now: Instant,
        id: u16,
        peer: SocketAddr,
        peer_initiated: bool,
    ) -> Tunnel {
        self.ctx.half_open_total += 1;
        if peer_initiated {
            *self.ctx.half_open_by_src.entry(peer.ip()).or_insert(0) += 1;
        }
        self.ctx.counters.tunnels_opened += 1;
        let _ = now;
        Tunnel {
            local_id: id,
            peer_id: 0,
            peer,
            state: TunnelState::Idle,
            rel: Reliable::new(self.ctx.cfg.receive_window, self.ctx.cfg.retransmit_initial),
            challenge_sent: None,
            tie_breaker: None,
            peer_host_name: Vec::new(),
            sessions: HashMap::new(),
            hello_at: None,
            close_until: None,
            stop_sent: false,
            half_open: true,
            peer_initiated,
            next_serial: 1,
        }
    }

    fn sccrq_common_avps(&mut self, local_id: u16) -> Vec<Avp> {
        let c = &self.ctx.cfg;
        vec![
            Avp::m(AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            }),
            Avp::m(AvpValue::HostName(c.host_name.clone())),
            Avp::m(AvpValue::FramingCapabilities(c.framing_capabilities)),
            Avp::m(AvpValue::BearerCapabilities(c.bearer_capabilities)),
            Avp::m(AvpValue::AssignedTunnelId(local_id)),
            Avp::m(AvpValue::ReceiveWindowSize(c.receive_window)),
            Avp::o(AvpValue::FirmwareRevision(0x0100)),
            Avp::o(AvpValue::VendorName(c.vendor_name.clone())),
        ]
    }

    /// Opens a control connection to `peer` (sends SCCRQ). Returns our tunnel id.
    pub fn open_tunnel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, EngineError> {
        self.check_tunnel_limits(None)?;
        let id = self.new_tunnel_id().ok_or(Limit::Ids)?;
        let mut t = self.make_tunnel(now, id, peer, false);
        let mut avps = self.sccrq_common_avps(id);
        if self.ctx.cfg.tie_breaker {
            let tb = self.ctx.rng.next_u64();
            t.tie_breaker = Some(tb);
            // M bit clear: §4.4.3 sends Tie Breaker as optional, and xl2tpd refuses it as mandatory.
            avps.push(Avp::o(AvpValue::TieBreaker(tb)));
        }
        if self.ctx.cfg.secret.is_some() {
            let ch = self.ctx.random_bytes(16);
            t.challenge_sent = Some(ch.clone());
            avps.push(Avp::m(AvpValue::Challenge(ch)));
        }
        let avps = self.ctx.avps(avps);
        t.rel
            .enqueue(ControlMessage::new(0, 0, MessageType::Sccrq, avps));
        t.state = TunnelState::WaitCtlReply;
        self.ctx.flush(now, &mut t);
        self.tunnels.insert(id, t);
        self.touched.push(id);
        Ok(id)
    }

    /// Closes a tunnel (StopCCN with result 1, "general request to clear").
    pub fn close_tunnel(&mut self, now: Instant, tunnel: u16) -> Result<(), EngineError> {
        self.touched.push(tunnel);
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EngineError::UnknownTunnel(tunnel))?;
        if t.state != TunnelState::Closing {
            self.ctx.stop(
                now,
                t,
                STOPCCN_CLEAR,
                None,
                "closed by administrator",
                DownReason::Local,
            );
        }
        Ok(())
    }

    /// Fills `buf` from the engine's injected RNG (so that a protocol riding on the engine
    /// draws its challenges from the same, seedable, source).
    pub fn fill_random(&mut self, buf: &mut [u8]) {
        self.ctx.rng.fill_bytes(buf);
    }

    /// Closes a tunnel with StopCCN carrying `result`/`error` and `message` (§4.4.2), e.g.
    /// result 4 "not authorized" when the peer failed an authentication done above L2TP.
    pub fn close_tunnel_with(
        &mut self,
        now: Instant,
        tunnel: u16,
        result: u16,
        error: Option<u16>,
        message: &str,
    ) -> Result<(), EngineError> {
        self.touched.push(tunnel);
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EngineError::UnknownTunnel(tunnel))?;
        if t.state != TunnelState::Closing {
            self.ctx
                .stop(now, t, result, error, message, DownReason::Local);
        }
        Ok(())
    }

    /// Sends a control message of `message_type` with the M bit of its Message Type AVP
    /// clear (a peer that does not know the type ignores it, §4.4.1) over the reliable
    /// channel of an established tunnel. For message types of our own (the VPN peering
    /// channel); the AVPs should have their M bit clear too.
    pub fn send_optional_message(
        &mut self,
        now: Instant,
        tunnel: u16,
        message_type: u16,
        avps: Vec<Avp>,
    ) -> Result<(), EngineError> {
        self.touched.push(tunnel);
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EngineError::UnknownTunnel(tunnel))?;
        if t.state != TunnelState::Established {
            return Err(EngineError::NotEstablished(tunnel));
        }
        let mut m = ControlMessage::new(t.peer_id, 0, MessageType::from(message_type), avps);
        m.message_type_mandatory = false;
        t.rel.enqueue(m);
        self.ctx.flush(now, t);
        Ok(())
    }

    /// Messages of `tunnel` queued or sent but not yet acknowledged (for flow control by
    /// the caller; 0 for an unknown tunnel).
    pub fn unacked(&self, tunnel: u16) -> usize {
        self.tunnels.get(&tunnel).map_or(0, |t| t.rel.pending())
    }

    /// Places a call in `tunnel`: an incoming call (ICRQ) on a LAC, an outgoing call (OCRQ) on
    /// an LNS. If the tunnel is not yet established, the call waits for it.
    pub fn open_session(
        &mut self,
        now: Instant,
        tunnel: u16,
        params: CallParams,
    ) -> Result<u16, EngineError> {
        let call = match self.ctx.cfg.role {
            Role::Lac => CallKind::Incoming,
            Role::Lns => CallKind::Outgoing,
        };
        self.touched.push(tunnel);
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EngineError::UnknownTunnel(tunnel))?;
        if t.state == TunnelState::Closing {
            return Err(EngineError::UnknownTunnel(tunnel));
        }
        self.ctx.check_session_limits(t)?;
        let sid = self.ctx.new_session_id(t).ok_or(Limit::Ids)?;
        let serial = t.next_serial;
        t.next_serial = t.next_serial.wrapping_add(1);
        t.sessions.insert(
            sid,
            Session {
                local_id: sid,
                peer_id: 0,
                state: SessionState::WaitTunnel,
                call,
                serial,
                params,
            },
        );
        self.ctx.sessions_total += 1;
        if t.state == TunnelState::Established {
            self.ctx.place_call(now, t, sid);
        }
        Ok(sid)
    }

    /// Clears a session (CDN with result 3, "disconnect for administrative reasons").
    pub fn close_session(
        &mut self,
        now: Instant,
        tunnel: u16,
        session: u16,
    ) -> Result<(), EngineError> {
        self.touched.push(tunnel);
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EngineError::UnknownTunnel(tunnel))?;
        let peer_sid = t
            .sessions
            .get(&session)
            .ok_or(EngineError::UnknownSession { tunnel, session })?
            .peer_id;
        if t.state == TunnelState::Established {
            self.ctx.cdn(
                now,
                t,
                (session, peer_sid),
                (CDN_ADMIN, None),
                "closed by administrator",
                DownReason::Local,
            );
        } else {
            self.ctx.session_down(t, session, DownReason::Local);
        }
        Ok(())
    }

    fn established_session(
        &mut self,
        tunnel: u16,
        session: u16,
    ) -> Result<(&mut Ctx<R>, &mut Tunnel, u16), EngineError> {
        self.touched.push(tunnel);
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EngineError::UnknownTunnel(tunnel))?;
        match t.sessions.get(&session) {
            Some(s)
                if s.state == SessionState::Established && t.state == TunnelState::Established =>
            {
                let p = s.peer_id;
                Ok((&mut self.ctx, t, p))
            }
            _ => Err(EngineError::UnknownSession { tunnel, session }),
        }
    }

    /// Sends WAN-Error-Notify (LAC only).
    pub fn send_wen(
        &mut self,
        now: Instant,
        tunnel: u16,
        session: u16,
        errors: CallErrors,
    ) -> Result<(), EngineError> {
        if self.ctx.cfg.role != Role::Lac {
            return Err(EngineError::WrongSender {
                what: "WEN",
                by: Role::Lac,
            });
        }
        let (ctx, t, peer_sid) = self.established_session(tunnel, session)?;
        t.rel.enqueue(ControlMessage::new(
            t.peer_id,
            peer_sid,
            MessageType::Wen,
            vec![Avp::m(AvpValue::CallErrors(errors))],
        ));
        ctx.flush(now, t);
        Ok(())
    }

    /// Sends Set-Link-Info (LNS only).
    pub fn send_sli(
        &mut self,
        now: Instant,
        tunnel: u16,
        session: u16,
        send_accm: u32,
        receive_accm: u32,
    ) -> Result<(), EngineError> {
        if self.ctx.cfg.role != Role::Lns {
            return Err(EngineError::WrongSender {
                what: "SLI",
                by: Role::Lns,
            });
        }
        let (ctx, t, peer_sid) = self.established_session(tunnel, session)?;
        t.rel.enqueue(ControlMessage::new(
            t.peer_id,
            peer_sid,
            MessageType::Sli,
            vec![Avp::m(AvpValue::Accm {
                send: send_accm,
                receive: receive_accm,
            })],
        ));
        ctx.flush(now, t);
        Ok(())
    }

    /// Feeds one UDP payload received from `src`.
    pub fn handle_input(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        let c = &mut self.ctx.counters;
        c.rx_datagrams += 1;
        let p = match L2tpPacket::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                c.malformed(&e.into());
                return;
            }
        };
        if p.kind() == MessageKind::Data {
            c.rx_data_messages += 1;
            return;
        }
        let m = match ControlMessage::parse(&p, self.ctx.cfg.secret.as_deref()) {
            Ok(m) => m,
            Err(e) => {
                c.malformed(&e);
                return;
            }
        };
        c.rx_control_messages += 1;
        if m.message_type.is_none() {
            c.rx_zlb += 1;
        }
        if m.tunnel_id == 0 {
            self.on_tunnel_zero(now, src, m);
            return;
        }
        let tid = m.tunnel_id;
        let Some(mut t) = self.tunnels.remove(&tid) else {
            self.ctx.counters.rx_unknown_tunnel += 1;
            return;
        };
        if t.peer.ip() != src.ip() {
            self.ctx.counters.rx_wrong_peer += 1;
            self.tunnels.insert(tid, t);
            return;
        }
        // §5.8 / RFC 2661: the responder may answer from another port; follow it.
        if t.state == TunnelState::WaitCtlReply {
            t.peer = src;
        }
        self.process(now, &mut t, m);
        self.finish(now, t);
    }

    fn process(&mut self, now: Instant, t: &mut Tunnel, m: ControlMessage) {
        let timers = self.ctx.timers;
        t.rel.on_ack(m.nr, now, &timers);
        if m.message_type.is_none() {
            // A ZLB only acknowledges: it may open the send window.
            self.ctx.flush(now, t);
            return;
        }
        if t.state == TunnelState::Established {
            t.hello_at = Some(now + self.ctx.cfg.hello_interval);
        }
        match t.rel.on_receive(m, now, &timers) {
            Receive::Deliver(msgs) => {
                for m in msgs {
                    self.ctx.dispatch(now, t, m);
                }
            }
            Receive::Duplicate => self.ctx.counters.rx_duplicates += 1,
            Receive::Buffered => self.ctx.counters.rx_out_of_order += 1,
            Receive::OutOfWindow => self.ctx.counters.rx_out_of_window += 1,
        }
        self.ctx.flush(now, t);
    }

    /// Puts the tunnel back, or drops it when it is finished.
    fn finish(&mut self, now: Instant, mut t: Tunnel) {
        self.touched.push(t.local_id);
        if t.rel.ack_due.is_some_and(|at| at <= now) {
            self.ctx.send_zlb(&mut t);
        }
        let done = t.state == TunnelState::Closing
            && (t.close_until.is_some_and(|u| u <= now) || (t.stop_sent && t.rel.idle()));
        if done || t.state != TunnelState::Closing {
            self.closing.remove(&t.local_id);
        } else {
            self.closing.insert(t.local_id);
        }
        if done {
            self.ctx.leave_half_open(&mut t);
            self.by_peer.remove(&(t.peer, t.peer_id));
        } else {
            if t.peer_id != 0 {
                self.by_peer.insert((t.peer, t.peer_id), t.local_id);
            }
            self.tunnels.insert(t.local_id, t);
        }
    }

    /// An SCCRQ (tunnel id 0) or its retransmission.
    fn on_tunnel_zero(&mut self, now: Instant, src: SocketAddr, m: ControlMessage) {
        if m.message_type != Some(MessageType::Sccrq) {
            self.ctx.counters.rx_unknown_tunnel += 1;
            return;
        }
        let Some(peer_tid) = find_tunnel_id(&m) else {
            self.ctx.counters.missing_avp += 1;
            return;
        };
        if let Some(&tid) = self.by_peer.get(&(src, peer_tid)) {
            if let Some(mut t) = self.tunnels.remove(&tid) {
                self.process(now, &mut t, m);
                self.finish(now, t);
                return;
            }
        }
        // Tie breaker (§4.4.3 Tie Breaker AVP): we have our own SCCRQ outstanding to this peer.
        let theirs = find_tie_breaker(&m);
        let ours: Vec<(u16, Option<u64>)> = self
            .tunnels
            .values()
            .filter(|t| t.state == TunnelState::WaitCtlReply && t.peer.ip() == src.ip())
            .map(|t| (t.local_id, t.tie_breaker))
            .collect();
        if let (Some(theirs), false) = (theirs, ours.is_empty()) {
            for (tid, mine) in ours {
                match mine {
                    // Lower value wins; equal: both sides drop and start anew.
                    Some(mine) if mine < theirs => {
                        self.ctx.counters.tie_breaks_won += 1;
                        return;
                    }
                    Some(mine) if mine == theirs => {
                        if let Some(mut t) = self.tunnels.remove(&tid) {
                            self.ctx.counters.tie_breaks_lost += 1;
                            self.ctx.tunnel_down(&mut t, DownReason::TieBreakLost);
                        }
                        return;
                    }
                    // Theirs is lower, or our SCCRQ carried none: the peer's request wins and
                    // ours is treated as never sent.
                    _ => {
                        if let Some(mut t) = self.tunnels.remove(&tid) {
                            self.ctx.counters.tie_breaks_lost += 1;
                            self.ctx.tunnel_down(&mut t, DownReason::TieBreakLost);
                        }
                    }
                }
            }
        }
        self.accept_sccrq(now, src, peer_tid, m);
    }

    fn reject_stateless(
        &mut self,
        src: SocketAddr,
        peer_tid: u16,
        ns: u16,
        result: u16,
        error: Option<u16>,
        msg: &str,
    ) {
        // RFC 2661 §6.4: a StopCCN carries the sender's Assigned Tunnel ID. No tunnel is kept
        // for a refused SCCRQ, so the id is the one reserved for refusals, never given to a
        // tunnel: the peer (xl2tpd insists on a non-zero id, else it ignores the StopCCN and
        // waits forever) closes its side, and its acknowledgement to that id is counted as
        // for an unknown tunnel.
        let ours = REFUSAL_TUNNEL_ID;
        let m = ControlMessage::new(
            peer_tid,
            0,
            MessageType::StopCcn,
            vec![
                Avp::m(AvpValue::AssignedTunnelId(ours)),
                rc(result, error, msg),
            ],
        );
        let mut m = m;
        m.ns = 0;
        m.nr = ns.wrapping_add(1);
        if let Some(bytes) = self.ctx.encode(&m) {
            self.ctx.counters.tx_messages += 1;
            self.ctx.transmits.push_back(Transmit { dst: src, bytes });
        }
    }

    fn accept_sccrq(&mut self, now: Instant, src: SocketAddr, peer_tid: u16, m: ControlMessage) {
        if let Err(l) = self.check_tunnel_limits(Some(src.ip())) {
            // No state is kept for a refused SCCRQ: a flood cannot grow memory.
            self.reject_stateless(
                src,
                peer_tid,
                m.ns,
                STOPCCN_GENERAL_ERROR,
                Some(ERR_INSUFFICIENT_RESOURCES),
                &l.to_string(),
            );
            return;
        }
        let version = m.find(|v| match v {
            AvpValue::ProtocolVersion { version, revision } => Some((*version, *revision)),
            _ => None,
        });
        if version != Some((1, 0)) {
            self.ctx.counters.missing_avp += u64::from(version.is_none());
            self.reject_stateless(
                src,
                peer_tid,
                m.ns,
                STOPCCN_BAD_VERSION,
                None,
                "protocol version 1.0 required",
            );
            return;
        }
        let Some(host) = find_host(&m) else {
            self.ctx.counters.missing_avp += 1;
            self.reject_stateless(
                src,
                peer_tid,
                m.ns,
                STOPCCN_GENERAL_ERROR,
                Some(0),
                "SCCRQ without Host Name AVP",
            );
            return;
        };
        let secret = self.ctx.cfg.secret.clone();
        let peer_challenge = find_challenge(&m);
        if peer_challenge.is_some() && secret.is_none() {
            self.ctx.counters.tunnel_auth_failures += 1;
            self.reject_stateless(
                src,
                peer_tid,
                m.ns,
                STOPCCN_NOT_AUTHORIZED,
                None,
                "challenge received but no secret configured",
            );
            return;
        }
        let Some(id) = self.new_tunnel_id() else {
            self.ctx.counters.refused(Limit::Ids);
            self.reject_stateless(
                src,
                peer_tid,
                m.ns,
                STOPCCN_GENERAL_ERROR,
                Some(ERR_INSUFFICIENT_RESOURCES),
                "no free tunnel id",
            );
            return;
        };
        let mut t = self.make_tunnel(now, id, src, true);
        t.peer_id = peer_tid;
        t.peer_host_name = host;
        if let Some(w) = find_window(&m) {
            t.rel.peer_window = w;
        }
        t.rel.nr = m.ns.wrapping_add(1);
        t.rel.ack_due = Some(now + self.ctx.cfg.ack_delay);
        let mut avps = self.sccrq_common_avps(id);
        if let (Some(ch), Some(s)) = (&peer_challenge, secret.as_deref()) {
            avps.push(Avp::m(AvpValue::ChallengeResponse(challenge_response(
                2, s, ch,
            ))));
        }
        if secret.is_some() {
            let ch = self.ctx.random_bytes(16);
            t.challenge_sent = Some(ch.clone());
            avps.push(Avp::m(AvpValue::Challenge(ch)));
        }
        let avps = self.ctx.avps(avps);
        t.rel
            .enqueue(ControlMessage::new(peer_tid, 0, MessageType::Sccrp, avps));
        t.state = TunnelState::WaitCtlConn;
        // SCCRQ must not carry an unknown mandatory AVP (§4.1).
        if let Some((vendor, attr)) = m.unknown_mandatory() {
            self.ctx.counters.unknown_mandatory_avp += 1;
            t.rel.enqueue_clear();
            self.ctx.stop(
                now,
                &mut t,
                STOPCCN_GENERAL_ERROR,
                Some(ERR_UNKNOWN_MANDATORY_AVP),
                "unknown mandatory AVP",
                DownReason::UnknownMandatoryAvp { vendor, attr },
            );
        } else {
            self.ctx.flush(now, &mut t);
        }
        self.finish(now, t);
    }

    /// Runs the timers of every tunnel due at `now` (a scan of every tunnel: for tests and
    /// the socket driver; the appliance follows each tunnel's deadline with
    /// [`poll_timer_update`](Self::poll_timer_update) and
    /// [`handle_tunnel_timeout`](Self::handle_tunnel_timeout)).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u16> = self
            .tunnels
            .values()
            .filter(|t| tunnel_timeout(t).is_some_and(|at| at <= now))
            .map(|t| t.local_id)
            .collect();
        for tid in due {
            self.handle_tunnel_timeout(now, tid);
        }
    }

    /// When `tunnel`'s timers are due (`None`: no timer armed, or no such tunnel).
    pub fn tunnel_deadline(&self, tunnel: u16) -> Option<Instant> {
        self.tunnels.get(&tunnel).and_then(tunnel_timeout)
    }

    /// The next tunnel whose deadline may have changed, with its deadline now (`None`: no
    /// timer, or the tunnel is gone).
    pub fn poll_timer_update(&mut self) -> Option<(u16, Option<Instant>)> {
        let tid = self.touched.pop()?;
        Some((tid, self.tunnels.get(&tid).and_then(tunnel_timeout)))
    }

    /// Runs one tunnel's timers (retransmissions, delayed acks, HELLOs, closing linger) if
    /// due at `now`.
    pub fn handle_tunnel_timeout(&mut self, now: Instant, tid: u16) {
        let timers = self.ctx.timers;
        match self.tunnels.get(&tid).and_then(tunnel_timeout) {
            Some(at) if at <= now => {}
            _ => return,
        }
        let Some(mut t) = self.tunnels.remove(&tid) else {
            return;
        };
        match t.rel.on_timeout(now, &timers) {
            Expired::Nothing => {}
            Expired::Retransmit(v) => {
                for bytes in v {
                    self.ctx.counters.tx_retransmits += 1;
                    self.ctx
                        .transmits
                        .push_back(Transmit { dst: t.peer, bytes });
                }
            }
            Expired::GaveUp => {
                if t.state != TunnelState::Closing {
                    self.ctx.counters.tunnels_timed_out += 1;
                    self.ctx.tunnel_down(&mut t, DownReason::Timeout);
                }
                t.state = TunnelState::Closing;
                t.close_until = Some(now);
            }
        }
        if t.hello_at.is_some_and(|at| at <= now) && t.state == TunnelState::Established {
            self.ctx.counters.tx_hello += 1;
            t.rel.enqueue(ControlMessage::new(
                t.peer_id,
                0,
                MessageType::Hello,
                vec![],
            ));
            t.hello_at = Some(now + self.ctx.cfg.hello_interval);
            self.ctx.flush(now, &mut t);
        }
        self.finish(now, t);
    }

    /// When [`Engine::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tunnels.values().filter_map(tunnel_timeout).min()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ctx.transmits.pop_front()
    }

    /// Next tunnel/session event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.ctx.events.pop_front()
    }
}

fn tunnel_timeout(t: &Tunnel) -> Option<Instant> {
    [t.rel.poll_timeout(), t.hello_at, t.close_until]
        .into_iter()
        .flatten()
        .min()
}
