//! Sans-IO Dynamic Authorization server (RFC 5176): Disconnect-Request and CoA-Request.
//!
//! The driver owns the UDP socket (port 3799). [`DaeServer::handle_datagram`] checks a
//! request — known client by source address, Request Authenticator (RFC 5176 §2.3), and the
//! Message-Authenticator if present (or always, with `require_message_authenticator`) — and
//! hands back a [`DaeRequest`] naming the session and the changes. The caller looks the
//! session up, acts, and calls [`DaeServer::answer`] with the request's handle to get the
//! signed ACK/NAK. Answers are cached for `duplicate_window` keyed by (source, identifier,
//! authenticator): a retransmitted request gets the same answer again via
//! [`DaeServer::poll_transmit`] without reaching the caller twice (RFC 5176 §2.3 / RFC 5080
//! §2.2.2). A duplicate of a request not answered yet is dropped (counted).
//!
//! Not yet: Proxy-State echo, Event-Timestamp replay window (RFC 5176 §3.5), State /
//! Service-Type Authorize-Only follow-up Access-Request (§3.2) — such requests are reported
//! with the attribute in [`DaeRequest::unsupported`] so the caller NAKs them.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::dupcache::{DupCache, DupKey};
use super::wire::crypto::{self, Signing, VerifyError};
use super::wire::{attr, code, Attribute, Packet, Repr};

/// A client allowed to send requests (an ISP's policy server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeClient {
    pub addr: IpAddr,
    pub secret: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaeKind {
    Disconnect,
    Coa,
}

/// Session identification attributes (RFC 5176 §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionSelectors {
    pub user_name: Option<Vec<u8>>,
    pub acct_session_id: Option<Vec<u8>>,
    pub framed_ip: Option<Ipv4Addr>,
    pub nas_port: Option<u32>,
    pub nas_port_id: Option<Vec<u8>>,
    pub calling_station_id: Option<Vec<u8>>,
    /// NAS identification: the caller should NAK 403 if these do not name us.
    pub nas_identifier: Option<Vec<u8>>,
    pub nas_ip: Option<Ipv4Addr>,
}

impl SessionSelectors {
    /// True if no session identification attribute is present (→ NAK 402).
    pub fn is_empty(&self) -> bool {
        self.user_name.is_none()
            && self.acct_session_id.is_none()
            && self.framed_ip.is_none()
            && self.nas_port.is_none()
            && self.nas_port_id.is_none()
            && self.calling_station_id.is_none()
    }
}

/// Changes a CoA-Request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoaChanges {
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub acct_interim_interval: Option<u32>,
}

/// Opaque handle of a request awaiting [`DaeServer::answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DaeHandle(u64);

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeRequest {
    pub kind: DaeKind,
    pub src: SocketAddr,
    pub id: u8,
    pub identifies: SessionSelectors,
    pub changes: CoaChanges,
    /// Types of attributes present that we cannot act on (→ NAK 401, or ignore).
    pub unsupported: Vec<u8>,
    pub handle: DaeHandle,
}

/// Error-Cause values (RFC 5176 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCause {
    ResidualSessionContextRemoved = 201,
    UnsupportedAttribute = 401,
    MissingAttribute = 402,
    NasIdentificationMismatch = 403,
    InvalidRequest = 404,
    UnsupportedService = 405,
    UnsupportedExtension = 406,
    InvalidAttributeValue = 407,
    AdministrativelyProhibited = 501,
    RequestNotRoutable = 502,
    SessionContextNotFound = 503,
    SessionContextNotRemovable = 504,
    OtherProxyProcessingError = 505,
    ResourcesUnavailable = 506,
    RequestInitiated = 507,
}

/// The caller's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaeAnswer {
    Ack,
    Nak(ErrorCause),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaeError {
    #[error("no request with this handle is waiting for an answer")]
    UnknownHandle,
    #[error("answer cannot be encoded: {0}")]
    Encode(#[from] super::wire::Error),
}

/// Named counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_datagrams: u64,
    pub disconnect_requests: u64,
    pub coa_requests: u64,
    pub acks: u64,
    pub naks: u64,
    pub duplicates_resent: u64,
    pub duplicates_in_progress: u64,
    pub drop_unknown_client: u64,
    pub drop_unexpected_code: u64,
    pub drop_malformed: u64,
    pub drop_bad_authenticator: u64,
    pub drop_missing_message_authenticator: u64,
    pub drop_bad_message_authenticator: u64,
    pub drop_too_many_pending: u64,
}

impl Counters {
    /// Adds `o` to these counters. Destructured so that a new field cannot be forgotten.
    pub fn add(&mut self, o: &Counters) {
        let Counters {
            rx_datagrams,
            disconnect_requests,
            coa_requests,
            acks,
            naks,
            duplicates_resent,
            duplicates_in_progress,
            drop_unknown_client,
            drop_unexpected_code,
            drop_malformed,
            drop_bad_authenticator,
            drop_missing_message_authenticator,
            drop_bad_message_authenticator,
            drop_too_many_pending,
        } = *o;
        self.rx_datagrams += rx_datagrams;
        self.disconnect_requests += disconnect_requests;
        self.coa_requests += coa_requests;
        self.acks += acks;
        self.naks += naks;
        self.duplicates_resent += duplicates_resent;
        self.duplicates_in_progress += duplicates_in_progress;
        self.drop_unknown_client += drop_unknown_client;
        self.drop_unexpected_code += drop_unexpected_code;
        self.drop_malformed += drop_malformed;
        self.drop_bad_authenticator += drop_bad_authenticator;
        self.drop_missing_message_authenticator += drop_missing_message_authenticator;
        self.drop_bad_message_authenticator += drop_bad_message_authenticator;
        self.drop_too_many_pending += drop_too_many_pending;
    }
}

#[derive(Debug)]
struct Waiting {
    key: DupKey,
    kind: DaeKind,
    secret: Vec<u8>,
}

/// The RFC 5176 server of one VR.
#[derive(Debug)]
pub struct DaeServer {
    clients: Vec<DaeClient>,
    /// Require a Message-Authenticator in every request (default true).
    pub require_message_authenticator: bool,
    /// How long answers are kept for duplicates (default 10 s).
    pub duplicate_window: Duration,
    /// Requests handed out and not answered yet (default 1024).
    pub max_pending: usize,
    next_handle: u64,
    waiting: HashMap<u64, Waiting>,
    /// Answers for duplicates (`None` while the request is with the caller).
    cache: DupCache<Option<Vec<u8>>>,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    counters: Counters,
}

impl DaeServer {
    pub fn new(clients: Vec<DaeClient>) -> Self {
        DaeServer {
            clients,
            require_message_authenticator: true,
            duplicate_window: Duration::from_secs(10),
            max_pending: 1024,
            next_handle: 0,
            waiting: HashMap::new(),
            cache: DupCache::new(),
            transmits: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Checks a datagram from `src`; a new valid request comes back for the caller to act
    /// on. Duplicates are answered from the cache (see [`DaeServer::poll_transmit`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
    ) -> Option<DaeRequest> {
        self.counters.rx_datagrams += 1;
        self.expire(now);
        let c = &mut self.counters;
        let Some(client) = self.clients.iter().find(|k| k.addr == src.ip()) else {
            c.drop_unknown_client += 1;
            return None;
        };
        let Ok(pkt) = Packet::new_checked(bytes) else {
            c.drop_malformed += 1;
            return None;
        };
        let kind = match pkt.code() {
            code::DISCONNECT_REQUEST => DaeKind::Disconnect,
            code::COA_REQUEST => DaeKind::Coa,
            _ => {
                c.drop_unexpected_code += 1;
                return None;
            }
        };
        if let Err(e) =
            crypto::verify_request(bytes, &client.secret, self.require_message_authenticator)
        {
            match e {
                VerifyError::Malformed(_) => c.drop_malformed += 1,
                VerifyError::BadAuthenticator => c.drop_bad_authenticator += 1,
                VerifyError::MissingMessageAuthenticator => {
                    c.drop_missing_message_authenticator += 1
                }
                VerifyError::BadMessageAuthenticator => c.drop_bad_message_authenticator += 1,
            }
            return None;
        }
        let key = (src, pkt.identifier(), pkt.authenticator());
        if let Some(cached) = self.cache.get(&key) {
            match cached {
                Some(a) => {
                    c.duplicates_resent += 1;
                    self.transmits.push_back((src, a.clone()));
                }
                None => c.duplicates_in_progress += 1,
            }
            return None;
        }
        let Ok(repr) = Repr::parse(&pkt) else {
            c.drop_malformed += 1;
            return None;
        };
        if self.waiting.len() >= self.max_pending {
            c.drop_too_many_pending += 1;
            return None;
        }
        match kind {
            DaeKind::Disconnect => c.disconnect_requests += 1,
            DaeKind::Coa => c.coa_requests += 1,
        }
        let mut identifies = SessionSelectors::default();
        let mut changes = CoaChanges::default();
        let mut unsupported = Vec::new();
        for a in &repr.attributes {
            match a {
                Attribute::UserName(v) => identifies.user_name = Some(v.clone()),
                Attribute::AcctSessionId(v) => identifies.acct_session_id = Some(v.clone()),
                Attribute::FramedIpAddress(v) => identifies.framed_ip = Some(*v),
                Attribute::NasPort(v) => identifies.nas_port = Some(*v),
                Attribute::NasPortId(v) => identifies.nas_port_id = Some(v.clone()),
                Attribute::CallingStationId(v) => identifies.calling_station_id = Some(v.clone()),
                Attribute::NasIdentifier(v) => identifies.nas_identifier = Some(v.clone()),
                Attribute::NasIpAddress(v) => identifies.nas_ip = Some(*v),
                Attribute::SessionTimeout(v) if kind == DaeKind::Coa => {
                    changes.session_timeout = Some(*v)
                }
                Attribute::IdleTimeout(v) if kind == DaeKind::Coa => {
                    changes.idle_timeout = Some(*v)
                }
                Attribute::AcctInterimInterval(v) if kind == DaeKind::Coa => {
                    changes.acct_interim_interval = Some(*v)
                }
                // Integrity and bookkeeping attributes that need no action.
                Attribute::MessageAuthenticator(_)
                | Attribute::EventTimestamp(_)
                | Attribute::AcctTerminateCause(_)
                | Attribute::ReplyMessage(_) => {}
                other => unsupported.push(other.kind()),
            }
        }
        let handle = self.next_handle;
        self.next_handle += 1;
        self.waiting.insert(
            handle,
            Waiting {
                key,
                kind,
                secret: client.secret.clone(),
            },
        );
        self.cache.insert(key, None, now + self.duplicate_window);
        Some(DaeRequest {
            kind,
            src,
            id: key.1,
            identifies,
            changes,
            unsupported,
            handle: DaeHandle(handle),
        })
    }

    /// Builds the signed answer to a request (ACK, or NAK with Error-Cause), with a
    /// Message-Authenticator first; returns where to send it.
    pub fn answer(
        &mut self,
        now: Instant,
        handle: DaeHandle,
        answer: DaeAnswer,
    ) -> Result<(SocketAddr, Vec<u8>), DaeError> {
        let w = self
            .waiting
            .remove(&handle.0)
            .ok_or(DaeError::UnknownHandle)?;
        let (src, identifier, request_authenticator) = w.key;
        let mut attributes = vec![Attribute::MessageAuthenticator([0; 16])];
        let code = match (w.kind, answer) {
            (DaeKind::Disconnect, DaeAnswer::Ack) => code::DISCONNECT_ACK,
            (DaeKind::Disconnect, DaeAnswer::Nak(_)) => code::DISCONNECT_NAK,
            (DaeKind::Coa, DaeAnswer::Ack) => code::COA_ACK,
            (DaeKind::Coa, DaeAnswer::Nak(_)) => code::COA_NAK,
        };
        match answer {
            DaeAnswer::Ack => self.counters.acks += 1,
            DaeAnswer::Nak(cause) => {
                self.counters.naks += 1;
                attributes.push(Attribute::ErrorCause(cause as u32));
            }
        }
        let mut b = Repr {
            code,
            identifier,
            authenticator: [0; 16],
            attributes,
        }
        .to_bytes()?;
        crypto::sign(
            &mut b,
            &w.secret,
            Signing::Response {
                request_authenticator,
            },
        )?;
        // Keep it for duplicates for a full window from now.
        self.cache
            .insert(w.key, Some(b.clone()), now + self.duplicate_window);
        Ok((src, b))
    }

    fn expire(&mut self, now: Instant) {
        self.cache.expire(now);
    }

    /// When [`DaeServer::handle_timeout`] wants to be called (cache expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cache.next_expiry()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Cached answers to resend to duplicates.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// Requests waiting for an answer.
    pub fn pending(&self) -> usize {
        self.waiting.len()
    }
}

/// Attribute types a request may use to identify a session (RFC 5176 §3).
pub const SESSION_IDENTIFICATION: [u8; 6] = [
    attr::USER_NAME,
    attr::ACCT_SESSION_ID,
    attr::FRAMED_IP_ADDRESS,
    attr::NAS_PORT,
    attr::NAS_PORT_ID,
    attr::CALLING_STATION_ID,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::wire::crypto::tests::{hex, DISCONNECT_REQUEST_MA, SECRET};

    fn server() -> DaeServer {
        DaeServer::new(vec![DaeClient {
            addr: "198.51.100.5".parse().unwrap(),
            secret: SECRET.to_vec(),
        }])
    }

    fn src() -> SocketAddr {
        "198.51.100.5:40000".parse().unwrap()
    }

    fn coa(attrs: Vec<Attribute>, secret: &[u8]) -> Vec<u8> {
        let mut a = vec![Attribute::MessageAuthenticator([0; 16])];
        a.extend(attrs);
        let mut b = Repr {
            code: code::COA_REQUEST,
            identifier: 4,
            authenticator: [0; 16],
            attributes: a,
        }
        .to_bytes()
        .unwrap();
        crypto::sign(&mut b, secret, Signing::Request).unwrap();
        b
    }

    #[test]
    fn disconnect_from_scapy_vector() {
        // Disconnect-Request built by scapy (tests/interop/radius/mkvectors.py).
        let t0 = Instant::now();
        let mut s = server();
        let req_bytes = hex(DISCONNECT_REQUEST_MA);
        let r = s.handle_datagram(t0, src(), &req_bytes).unwrap();
        assert_eq!(r.kind, DaeKind::Disconnect);
        assert_eq!(r.id, 9);
        assert_eq!(r.identifies.user_name.as_deref(), Some(&b"nemo"[..]));
        assert_eq!(
            r.identifies.acct_session_id.as_deref(),
            Some(&b"00000001"[..])
        );
        assert!(r.unsupported.is_empty());
        let (dst, ack) = s.answer(t0, r.handle, DaeAnswer::Ack).unwrap();
        assert_eq!(dst, src());
        assert_eq!(ack[0], code::DISCONNECT_ACK);
        let req_auth: [u8; 16] = req_bytes[4..20].try_into().unwrap();
        crypto::verify_response(&ack, &req_auth, SECRET, true).unwrap();
        // The retransmitted request gets the same answer, not a second DaeRequest.
        assert!(s.handle_datagram(t0, src(), &req_bytes).is_none());
        assert_eq!(s.poll_transmit(), Some((src(), ack.clone())));
        assert_eq!(s.counters().duplicates_resent, 1);
        assert_eq!(
            s.answer(t0, r.handle, DaeAnswer::Ack),
            Err(DaeError::UnknownHandle)
        );
        // After the window it is a new request again.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        s.handle_timeout(later);
        assert!(s.handle_datagram(later, src(), &req_bytes).is_some());
    }

    #[test]
    fn coa_nak_and_changes() {
        let t0 = Instant::now();
        let mut s = server();
        let b = coa(
            vec![
                Attribute::AcctSessionId(b"s1".to_vec()),
                Attribute::SessionTimeout(600),
                Attribute::AcctInterimInterval(60),
                Attribute::FramedPool(b"p".to_vec()),
            ],
            SECRET,
        );
        let r = s.handle_datagram(t0, src(), &b).unwrap();
        assert_eq!(r.kind, DaeKind::Coa);
        assert_eq!(r.changes.session_timeout, Some(600));
        assert_eq!(r.changes.acct_interim_interval, Some(60));
        assert_eq!(r.unsupported, vec![attr::FRAMED_POOL]);
        // In progress: a duplicate is dropped.
        assert!(s.handle_datagram(t0, src(), &b).is_none());
        assert_eq!(s.counters().duplicates_in_progress, 1);
        let (_, nak) = s
            .answer(
                t0,
                r.handle,
                DaeAnswer::Nak(ErrorCause::UnsupportedAttribute),
            )
            .unwrap();
        let req_auth: [u8; 16] = b[4..20].try_into().unwrap();
        crypto::verify_response(&nak, &req_auth, SECRET, true).unwrap();
        let n = Repr::from_bytes(&nak).unwrap();
        assert_eq!(n.code, code::COA_NAK);
        assert!(n.attributes.contains(&Attribute::ErrorCause(401)));
    }

    #[test]
    fn drops() {
        let t0 = Instant::now();
        let mut s = server();
        let good = coa(vec![Attribute::UserName(b"u".to_vec())], SECRET);
        // Unknown client.
        assert!(s
            .handle_datagram(t0, "203.0.113.1:1".parse().unwrap(), &good)
            .is_none());
        // Wrong secret.
        assert!(s
            .handle_datagram(t0, src(), &coa(vec![], b"nope"))
            .is_none());
        // No Message-Authenticator.
        let mut no_ma = Repr {
            code: code::COA_REQUEST,
            identifier: 1,
            authenticator: [0; 16],
            attributes: vec![Attribute::UserName(b"u".to_vec())],
        }
        .to_bytes()
        .unwrap();
        crypto::sign(&mut no_ma, SECRET, Signing::Request).unwrap();
        assert!(s.handle_datagram(t0, src(), &no_ma).is_none());
        // Bad Message-Authenticator with a fixed-up Request Authenticator.
        let mut bad = good.clone();
        bad[23] ^= 1;
        bad[4..20].fill(0);
        let a = crypto::md5_authenticator(SECRET, &bad, &[0; 16]);
        bad[4..20].copy_from_slice(&a);
        assert!(s.handle_datagram(t0, src(), &bad).is_none());
        // Wrong code, malformed.
        let mut acc = good.clone();
        acc[0] = code::ACCESS_REQUEST;
        assert!(s.handle_datagram(t0, src(), &acc).is_none());
        assert!(s.handle_datagram(t0, src(), &good[..10]).is_none());
        let k = *s.counters();
        assert_eq!(k.drop_unknown_client, 1);
        assert_eq!(k.drop_bad_authenticator, 1);
        assert_eq!(k.drop_missing_message_authenticator, 1);
        assert_eq!(k.drop_bad_message_authenticator, 1);
        assert_eq!(k.drop_unexpected_code, 1);
        assert_eq!(k.drop_malformed, 1);
        // Without the requirement, a request without Message-Authenticator is accepted.
        s.require_message_authenticator = false;
        assert!(s.handle_datagram(t0, src(), &no_ma).is_some());
        assert!(s.handle_datagram(t0, src(), &good).is_some());
        assert_eq!(s.pending(), 2);
    }
}
