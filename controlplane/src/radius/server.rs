//! Sans-IO RADIUS authentication server (RFC 2865), one per VR.
//!
//! Seed 001 Fig. 5 (units 33/34) gives every VR a RADIUS client and a RADIUS server: the VR
//! that is already in a VPN authenticates a new VR of the same VPN. This is that server;
//! the caller backs it with a [`UserTable`] — [`VpnUsers`] (user `<vpn-id>/<router-id>`,
//! password = the VPN's secret) or [`StaticUsers`] (a fixed table, e.g. read from a file).
//!
//! The driver owns the UDP socket (1812, or any port) and feeds every datagram to
//! [`RadiusServer::handle_datagram`] with its source address and the time; it sends what
//! [`RadiusServer::poll_transmit`] returns and calls [`RadiusServer::handle_timeout`] at
//! [`RadiusServer::poll_timeout`] (expiry of cached answers). [`RadiusServer::poll_event`]
//! reports every decision (accept or reject, by client, user and method) for logs and for
//! the caller's own bookkeeping. No sockets, no clock reads, no threads.
//!
//! Per datagram, in this order (each drop has its own counter, nothing is answered):
//! 1. the source must be a known client (longest address prefix wins; RFC 2865 §3: silently
//!    discarded otherwise);
//! 2. the header must be sane (Length 20..=4096 and within the datagram);
//! 3. the code must be Access-Request (or Status-Server, RFC 5997, if enabled);
//! 4. the Message-Authenticator (RFC 3579 §3.2) must verify if present, and must be present
//!    if the client is configured to require it — the default, as Blast-RADIUS
//!    (CVE-2024-3596) advises; Status-Server always needs one (RFC 5997 §3); a client
//!    allowed not to sign still cannot send Proxy-State unsigned (the Blast-RADIUS shape,
//!    FreeRADIUS's `limit_proxy_state`);
//! 5. a request with the same source address and port, Identifier and Request Authenticator
//!    as one answered within `duplicate_window` gets the cached answer again, byte for byte,
//!    without being evaluated again (RFC 5080 §2.2.2);
//! 6. every attribute must decode (framing and the typed values of the dictionary).
//!
//! Then the request is decided: User-Name and exactly one credential — PAP (User-Password,
//! RFC 2865 §5.2), CHAP-MD5 (CHAP-Password with CHAP-Challenge, or the Request
//! Authenticator as the challenge, RFC 2865 §2.2 / §5.3) or MS-CHAPv2 (MS-CHAP-Challenge and
//! MS-CHAP2-Response, RFC 2548 / RFC 2759) — checked against the user's password. An
//! Access-Accept carries the user's reply attributes (and MS-CHAP2-Success); an
//! Access-Reject carries a Reply-Message (and MS-CHAP-Error). Every answer has the
//! Message-Authenticator as its first attribute, copies the request's Proxy-State
//! attributes in order (RFC 2865 §5.33), and is signed with the Response Authenticator.
//! Rejects do not say whether the user exists; the reason is in the counters and the event.
//!
//! Limits: `max_clients` configured clients, `max_cached` answers kept for duplicates (the
//! oldest is evicted first, counted), `max_events` and `max_transmits` queued outputs (the
//! oldest event is dropped, an answer that does not fit is dropped; both counted).
//!
//! MS-CHAPv2 Accepts carry MS-MPPE-Send-Key and MS-MPPE-Recv-Key (RFC 2548 §2.4.2, the
//! 128-bit start keys of RFC 3079) unless `mppe_keys` is off.
//!
//! Not implemented: Access-Challenge (so requests carrying only State are rejected), EAP
//! (EAP-Message, RFC 3579), MS-CHAPv1, MS-MPPE-Encryption-Policy/Types, accounting
//! (RFC 2866) and RADIUS over TLS/TCP. Attributes whose typed values do not decode make the
//! request a malformed drop rather than being kept raw (RFC 6929 §2.8 allows either).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::ppp::auth::{
    chap_md5_response, generate_authenticator_response, generate_nt_response,
    hash_nt_password_hash, nt_password_hash,
};

use super::dupcache::{DupCache, DupKey};
use super::wire::crypto::{self, Signing, VerifyError};
use super::wire::{code, Attribute, MsAttr, Packet, Repr, Vsa};

/// Proxy-State (RFC 2865 §5.33): not in the typed dictionary, echoed in every answer.
const PROXY_STATE: u8 = 33;
/// EAP-Message (RFC 3579 §3.1): EAP is not implemented, such requests are rejected.
const EAP_MESSAGE: u8 = 79;
/// MS-CHAP-Response (RFC 2548 §2.1.3, MS-CHAPv1): not implemented, rejected.
const MS_CHAP_RESPONSE: u8 = 1;
/// Shortest CHAP-Challenge value (RFC 2865 §5.40: Length >= 7).
const MIN_CHAP_CHALLENGE: usize = 5;

/// A NAS allowed to send requests: the addresses it sends from and the shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NasClient {
    /// Operator's name, reported in events and errors.
    pub name: String,
    /// Network address of the prefix (host bits are cleared by [`NasClient::new`]).
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub secret: Vec<u8>,
    /// Drop Access-Requests without a Message-Authenticator (default true).
    pub require_message_authenticator: bool,
}

impl NasClient {
    /// A client for `addr/prefix_len` that must sign its requests. The prefix length must
    /// fit the address family and the secret must not be empty (RFC 2865 §3).
    pub fn new(
        name: &str,
        addr: IpAddr,
        prefix_len: u8,
        secret: &[u8],
    ) -> Result<NasClient, ServerError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(ServerError::BadPrefix {
                client: name.to_owned(),
                prefix_len,
                max,
            });
        }
        if secret.is_empty() {
            return Err(ServerError::EmptySecret {
                client: name.to_owned(),
            });
        }
        let addr = canonical(addr);
        Ok(NasClient {
            name: name.to_owned(),
            addr: mask(addr, prefix_len),
            prefix_len,
            secret: secret.to_vec(),
            require_message_authenticator: true,
        })
    }

    /// Whether `ip` (canonical: IPv4-mapped IPv6 addresses as IPv4) is in the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix_len) == self.addr
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// What a user table knows of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// The clear-text password (PAP compares it, CHAP and MS-CHAPv2 compute with it;
    /// MS-CHAPv2 needs it to be UTF-8).
    pub password: Vec<u8>,
    /// Attributes for the Access-Accept (e.g. Class, Session-Timeout).
    pub reply: Vec<Attribute>,
}

/// Where the server looks users up. Implemented by [`StaticUsers`] and [`VpnUsers`]; the
/// caller may back it by anything that answers synchronously.
pub trait UserTable {
    /// The entry of `user` (the User-Name as received), or `None` if unknown.
    fn lookup(&self, user: &[u8]) -> Option<UserEntry>;
}

/// Longest user name, password and number of users of a [`StaticUsers`] table.
pub const MAX_USER_NAME: usize = 253;
pub const MAX_PASSWORD: usize = 128;

/// A fixed user table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticUsers {
    users: HashMap<Vec<u8>, UserEntry>,
}

impl StaticUsers {
    pub fn new() -> Self {
        StaticUsers::default()
    }

    /// Adds or replaces a user. The name must be 1..=253 bytes, the password 1..=128 bytes
    /// (the most PAP can carry), and the reply attributes must be encodable together in one
    /// answer and must not be ones the server writes itself (Message-Authenticator,
    /// credentials, MS-CHAP results).
    pub fn insert(&mut self, user: &[u8], entry: UserEntry) -> Result<(), UserError> {
        let name = String::from_utf8_lossy(user).into_owned();
        if user.is_empty() || user.len() > MAX_USER_NAME {
            return Err(UserError::NameLength { len: user.len() });
        }
        if entry.password.is_empty() || entry.password.len() > MAX_PASSWORD {
            return Err(UserError::PasswordLength {
                user: name,
                len: entry.password.len(),
            });
        }
        for a in &entry.reply {
            let forbidden = match a {
                Attribute::MessageAuthenticator(_)
                | Attribute::UserPassword(_)
                | Attribute::ChapPassword(_)
                | Attribute::ChapChallenge(_) => true,
                Attribute::Unknown { kind, .. } => *kind == PROXY_STATE || *kind == EAP_MESSAGE,
                Attribute::VendorSpecific(Vsa::Microsoft(ms)) => ms.iter().any(|m| {
                    matches!(
                        m,
                        MsAttr::Chap2Success(_)
                            | MsAttr::ChapError(_)
                            | MsAttr::ChapChallenge(_)
                            | MsAttr::Chap2Response(_)
                            | MsAttr::MppeSendKey(_)
                            | MsAttr::MppeRecvKey(_)
                    )
                }),
                _ => false,
            };
            if forbidden {
                return Err(UserError::ReplyAttribute {
                    user: name,
                    kind: a.kind(),
                });
            }
        }
        // The answer must encode: Message-Authenticator + the reply + MS-CHAP2-Success
        // (43-byte value) + the two MPPE keys (34-byte values) must fit; Proxy-State of a
        // request may still overflow it at run time (counted as `reject_reply_too_long`).
        let mut trial = vec![Attribute::MessageAuthenticator([0; 16])];
        trial.extend(entry.reply.iter().cloned());
        trial.push(Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Success(
            vec![0; 43],
        ))));
        trial.push(Attribute::VendorSpecific(Vsa::ms(MsAttr::MppeSendKey(
            vec![0; 34],
        ))));
        trial.push(Attribute::VendorSpecific(Vsa::ms(MsAttr::MppeRecvKey(
            vec![0; 34],
        ))));
        Repr {
            code: code::ACCESS_ACCEPT,
            identifier: 0,
            authenticator: [0; 16],
            attributes: trial,
        }
        .to_bytes()
        .map_err(|e| UserError::ReplyEncode {
            user: name,
            error: e,
        })?;
        self.users.insert(user.to_vec(), entry);
        Ok(())
    }

    pub fn remove(&mut self, user: &[u8]) -> Option<UserEntry> {
        self.users.remove(user)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Reads a users file: one user a line, `NAME PASSWORD [ATTRIBUTE=VALUE ...]`, fields
    /// separated by spaces or tabs (so names and passwords contain neither), `#` starts a
    /// comment line. Reply attributes: `Session-Timeout`, `Idle-Timeout`,
    /// `Acct-Interim-Interval` (integers), `Framed-IP-Address`, `Framed-IP-Netmask` (IPv4),
    /// `Class`, `Reply-Message`, `Framed-Pool` (text, no spaces). Errors name the line.
    pub fn from_text(text: &str) -> Result<StaticUsers, UsersFileError> {
        let mut t = StaticUsers::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(name), Some(password)) = (fields.next(), fields.next()) else {
                return Err(UsersFileError::Syntax {
                    line: line_no,
                    why: "a user line needs a name and a password".into(),
                });
            };
            let mut reply = Vec::new();
            for f in fields {
                reply.push(
                    parse_reply_attribute(f)
                        .map_err(|why| UsersFileError::Syntax { line: line_no, why })?,
                );
            }
            if t.users.contains_key(name.as_bytes()) {
                return Err(UsersFileError::Syntax {
                    line: line_no,
                    why: format!("user `{name}` is defined twice"),
                });
            }
            t.insert(
                name.as_bytes(),
                UserEntry {
                    password: password.as_bytes().to_vec(),
                    reply,
                },
            )
            .map_err(|e| UsersFileError::User {
                line: line_no,
                error: e,
            })?;
        }
        Ok(t)
    }
}

fn parse_reply_attribute(f: &str) -> Result<Attribute, String> {
    const KNOWN: &str = "Session-Timeout, Idle-Timeout, Acct-Interim-Interval, Framed-IP-Address, Framed-IP-Netmask, Class, Reply-Message, Framed-Pool";
    let Some((k, v)) = f.split_once('=') else {
        return Err(format!("`{f}` is not ATTRIBUTE=VALUE"));
    };
    let int = || {
        v.parse::<u32>()
            .map_err(|_| format!("{k}: `{v}` is not an integer 0..=4294967295"))
    };
    let ip = || {
        v.parse::<Ipv4Addr>()
            .map_err(|_| format!("{k}: `{v}` is not an IPv4 address"))
    };
    let text = || {
        if v.is_empty() {
            Err(format!("{k}: empty value"))
        } else {
            Ok(v.as_bytes().to_vec())
        }
    };
    Ok(match k {
        "Session-Timeout" => Attribute::SessionTimeout(int()?),
        "Idle-Timeout" => Attribute::IdleTimeout(int()?),
        "Acct-Interim-Interval" => Attribute::AcctInterimInterval(int()?),
        "Framed-IP-Address" => Attribute::FramedIpAddress(ip()?),
        "Framed-IP-Netmask" => Attribute::FramedIpNetmask(ip()?),
        "Class" => Attribute::Class(text()?),
        "Reply-Message" => Attribute::ReplyMessage(text()?),
        "Framed-Pool" => Attribute::FramedPool(text()?),
        _ => return Err(format!("unknown reply attribute `{k}`; known: {KNOWN}")),
    })
}

impl UserTable for StaticUsers {
    fn lookup(&self, user: &[u8]) -> Option<UserEntry> {
        self.users.get(user).cloned()
    }
}

/// Errors of [`StaticUsers::insert`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user name of {len} bytes: must be 1..=253 bytes")]
    NameLength { len: usize },
    #[error("user `{user}`: password of {len} bytes, must be 1..=128 bytes")]
    PasswordLength { user: String, len: usize },
    #[error("user `{user}`: attribute {kind} is written by the server itself and cannot be a reply attribute")]
    ReplyAttribute { user: String, kind: u8 },
    #[error("user `{user}`: the reply attributes do not fit one answer: {error}")]
    ReplyEncode {
        user: String,
        error: super::wire::Error,
    },
}

/// Errors of [`StaticUsers::from_text`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsersFileError {
    #[error("users file line {line}: {why}")]
    Syntax { line: usize, why: String },
    #[error("users file line {line}: {error}")]
    User { line: usize, error: UserError },
}

/// VR authentication by VPN (issue 15): the user `<vpn-id>/<router-id>` (VPN id in decimal,
/// router id as a dotted IPv4 address, both in canonical form) has the VPN's secret as
/// its password. A router of a VPN whose secret is not configured here is unknown; so is
/// a router not in the provider router list when one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpnUsers {
    secrets: HashMap<u32, Vec<u8>>,
    routers: Option<HashSet<Ipv4Addr>>,
}

impl VpnUsers {
    pub fn new() -> Self {
        VpnUsers::default()
    }

    /// Sets the secret of a VPN (1..=128 bytes, the most PAP can carry).
    pub fn set_secret(&mut self, vpn: u32, secret: &[u8]) -> Result<(), UserError> {
        if secret.is_empty() || secret.len() > MAX_PASSWORD {
            return Err(UserError::PasswordLength {
                user: format!("VPN {vpn}"),
                len: secret.len(),
            });
        }
        self.secrets.insert(vpn, secret.to_vec());
        Ok(())
    }

    pub fn remove(&mut self, vpn: u32) -> bool {
        self.secrets.remove(&vpn).is_some()
    }

    /// Only these routers may authenticate (the provider router list); `None` lifts it.
    pub fn restrict_routers(&mut self, routers: Option<HashSet<Ipv4Addr>>) {
        self.routers = routers;
    }

    /// The user name a VR uses: `<vpn-id>/<router-id>`.
    pub fn user_name(vpn: u32, router: Ipv4Addr) -> String {
        format!("{vpn}/{router}")
    }

    /// Parses a user name made by [`VpnUsers::user_name`]; anything not in that exact form
    /// (leading zeros, a sign, spaces) is `None`.
    pub fn parse_user_name(user: &[u8]) -> Option<(u32, Ipv4Addr)> {
        let s = std::str::from_utf8(user).ok()?;
        let (vpn, router) = s.split_once('/')?;
        let v: u32 = vpn.parse().ok()?;
        let r: Ipv4Addr = router.parse().ok()?;
        (v.to_string() == vpn && r.to_string() == router).then_some((v, r))
    }
}

impl UserTable for VpnUsers {
    fn lookup(&self, user: &[u8]) -> Option<UserEntry> {
        let (vpn, router) = VpnUsers::parse_user_name(user)?;
        if self.routers.as_ref().is_some_and(|r| !r.contains(&router)) {
            return None;
        }
        Some(UserEntry {
            password: self.secrets.get(&vpn)?.clone(),
            reply: Vec::new(),
        })
    }
}

/// Server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Clients that can be configured (default 1024).
    pub max_clients: usize,
    /// Answers kept for duplicate detection (default 4096).
    pub max_cached: usize,
    /// How long an answer is kept for duplicates (default 10 s: covers a client that sends
    /// 4 times 3 s apart, the default of [`super::client`]).
    pub duplicate_window: Duration,
    /// Events queued for [`RadiusServer::poll_event`] (default 1024; oldest dropped).
    pub max_events: usize,
    /// Answers queued for [`RadiusServer::poll_transmit`] (default 1024).
    pub max_transmits: usize,
    /// Answer Status-Server (RFC 5997) with an Access-Accept (default true).
    pub status_server: bool,
    /// Reply-Message of every Access-Reject (default "Authentication failed").
    pub reject_message: Vec<u8>,
    /// Send MS-MPPE-Send-Key and MS-MPPE-Recv-Key (RFC 2548 §2.4.2, 128-bit keys of
    /// RFC 3079 §3.4) in MS-CHAPv2 Accepts, for a NAS running MPPE (default true).
    pub mppe_keys: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clients: 1024,
            max_cached: 4096,
            duplicate_window: Duration::from_secs(10),
            max_events: 1024,
            max_transmits: 1024,
            status_server: true,
            reject_message: b"Authentication failed".to_vec(),
            mppe_keys: true,
        }
    }
}

/// Errors of the server's configuration calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    #[error("client `{client}`: prefix length {prefix_len} is above {max}")]
    BadPrefix {
        client: String,
        prefix_len: u8,
        max: u8,
    },
    #[error("client `{client}`: the shared secret must not be empty")]
    EmptySecret { client: String },
    #[error("client `{client}`: {max} clients are configured already (max_clients)")]
    TooManyClients { client: String, max: usize },
    #[error("client `{client}`: a client of this name is configured already")]
    DuplicateName { client: String },
    #[error("client `{client}`: prefix {addr}/{prefix_len} is already client `{existing}`")]
    DuplicateClient {
        client: String,
        addr: IpAddr,
        prefix_len: u8,
        existing: String,
    },
}

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Pap,
    ChapMd5,
    MsChapV2,
}

/// Why a request was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    UnknownClient,
    Malformed,
    UnexpectedCode,
    MissingMessageAuthenticator,
    BadMessageAuthenticator,
    /// The answer queue was full.
    TransmitQueueFull,
    /// The answer could not be encoded at all (never expected; counted).
    EncodeError,
    /// Proxy-State without Message-Authenticator from a client allowed not to sign: the
    /// shape of the Blast-RADIUS attack (CVE-2024-3596), dropped as FreeRADIUS's
    /// `limit_proxy_state` does.
    UnsignedProxyState,
}

/// Why an Access-Request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    MissingUserName,
    /// No User-Password, CHAP-Password, MS-CHAP2-Response or EAP-Message.
    NoCredentials,
    /// More than one credential (e.g. User-Password and CHAP-Password), or one twice.
    ConflictingCredentials,
    /// EAP or MS-CHAPv1.
    UnsupportedMethod,
    /// A credential of the wrong shape (hidden password length, short CHAP-Challenge,
    /// MS-CHAP-Challenge not 16 bytes, MS-CHAP2-Response without its challenge).
    MalformedCredentials,
    UnknownUser,
    WrongPassword,
    /// The Accept with the user's reply attributes (and Proxy-State) exceeds 4096 bytes.
    ReplyTooLong,
}

/// What [`RadiusServer::handle_datagram`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Accepted(Method),
    Rejected(RejectReason),
    /// Status-Server answered with an Access-Accept.
    StatusAnswered,
    /// A duplicate: the cached answer was queued again.
    Resent,
    Dropped(DropReason),
}

/// One decision, for logs and the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// The client's configured name.
    pub client: String,
    pub src: SocketAddr,
    pub user: Vec<u8>,
    pub method: Option<Method>,
    /// `Ok` for an Access-Accept.
    pub result: Result<(), RejectReason>,
}

/// An answer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// Named counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_datagrams: u64,
    pub access_requests: u64,
    pub status_server: u64,
    pub accepts: u64,
    pub accepts_pap: u64,
    pub accepts_chap: u64,
    pub accepts_mschapv2: u64,
    pub rejects: u64,
    pub duplicates_resent: u64,
    pub cache_evictions: u64,
    pub events_dropped: u64,
    pub drop_unknown_client: u64,
    pub drop_malformed: u64,
    pub drop_unexpected_code: u64,
    pub drop_missing_message_authenticator: u64,
    /// The Message-Authenticator does not verify: a wrong secret or a forgery (the only
    /// authenticator an Access-Request has).
    pub drop_bad_message_authenticator: u64,
    pub drop_transmit_queue_full: u64,
    pub drop_encode_error: u64,
    pub drop_unsigned_proxy_state: u64,
    pub reject_missing_user_name: u64,
    pub reject_no_credentials: u64,
    pub reject_conflicting_credentials: u64,
    pub reject_unsupported_method: u64,
    pub reject_malformed_credentials: u64,
    pub reject_unknown_user: u64,
    pub reject_wrong_password: u64,
    pub reject_reply_too_long: u64,
}

impl Counters {
    /// Adds `o` to these counters. Destructured so that a new field cannot be forgotten.
    pub fn add(&mut self, o: &Counters) {
        let Counters {
            rx_datagrams,
            access_requests,
            status_server,
            accepts,
            accepts_pap,
            accepts_chap,
            accepts_mschapv2,
            rejects,
            duplicates_resent,
            cache_evictions,
            events_dropped,
            drop_unknown_client,
            drop_malformed,
            drop_unexpected_code,
            drop_missing_message_authenticator,
            drop_bad_message_authenticator,
            drop_transmit_queue_full,
            drop_encode_error,
            drop_unsigned_proxy_state,
            reject_missing_user_name,
            reject_no_credentials,
            reject_conflicting_credentials,
            reject_unsupported_method,
            reject_malformed_credentials,
            reject_unknown_user,
            reject_wrong_password,
            reject_reply_too_long,
        } = *o;
        self.rx_datagrams += rx_datagrams;
        self.access_requests += access_requests;
        self.status_server += status_server;
        self.accepts += accepts;
        self.accepts_pap += accepts_pap;
        self.accepts_chap += accepts_chap;
        self.accepts_mschapv2 += accepts_mschapv2;
        self.rejects += rejects;
        self.duplicates_resent += duplicates_resent;
        self.cache_evictions += cache_evictions;
        self.events_dropped += events_dropped;
        self.drop_unknown_client += drop_unknown_client;
        self.drop_malformed += drop_malformed;
        self.drop_unexpected_code += drop_unexpected_code;
        self.drop_missing_message_authenticator += drop_missing_message_authenticator;
        self.drop_bad_message_authenticator += drop_bad_message_authenticator;
        self.drop_transmit_queue_full += drop_transmit_queue_full;
        self.drop_encode_error += drop_encode_error;
        self.drop_unsigned_proxy_state += drop_unsigned_proxy_state;
        self.reject_missing_user_name += reject_missing_user_name;
        self.reject_no_credentials += reject_no_credentials;
        self.reject_conflicting_credentials += reject_conflicting_credentials;
        self.reject_unsupported_method += reject_unsupported_method;
        self.reject_malformed_credentials += reject_malformed_credentials;
        self.reject_unknown_user += reject_unknown_user;
        self.reject_wrong_password += reject_wrong_password;
        self.reject_reply_too_long += reject_reply_too_long;
    }

    fn count_drop(&mut self, r: DropReason) {
        match r {
            DropReason::UnknownClient => self.drop_unknown_client += 1,
            DropReason::Malformed => self.drop_malformed += 1,
            DropReason::UnexpectedCode => self.drop_unexpected_code += 1,
            DropReason::MissingMessageAuthenticator => self.drop_missing_message_authenticator += 1,
            DropReason::BadMessageAuthenticator => self.drop_bad_message_authenticator += 1,
            DropReason::TransmitQueueFull => self.drop_transmit_queue_full += 1,
            DropReason::EncodeError => self.drop_encode_error += 1,
            DropReason::UnsignedProxyState => self.drop_unsigned_proxy_state += 1,
        }
    }

    fn count_reject(&mut self, r: RejectReason) {
        self.rejects += 1;
        match r {
            RejectReason::MissingUserName => self.reject_missing_user_name += 1,
            RejectReason::NoCredentials => self.reject_no_credentials += 1,
            RejectReason::ConflictingCredentials => self.reject_conflicting_credentials += 1,
            RejectReason::UnsupportedMethod => self.reject_unsupported_method += 1,
            RejectReason::MalformedCredentials => self.reject_malformed_credentials += 1,
            RejectReason::UnknownUser => self.reject_unknown_user += 1,
            RejectReason::WrongPassword => self.reject_wrong_password += 1,
            RejectReason::ReplyTooLong => self.reject_reply_too_long += 1,
        }
    }

    fn count_accept(&mut self, m: Method) {
        self.accepts += 1;
        match m {
            Method::Pap => self.accepts_pap += 1,
            Method::ChapMd5 => self.accepts_chap += 1,
            Method::MsChapV2 => self.accepts_mschapv2 += 1,
        }
    }
}

/// The credential a request carries.
enum Credential<'a> {
    Pap(&'a [u8]),
    Chap {
        ident: u8,
        response: [u8; 16],
        challenge: &'a [u8],
    },
    MsChapV2 {
        ident: u8,
        auth_challenge: &'a [u8],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
    },
}

/// The verdict on an Access-Request before encoding.
struct Verdict {
    /// The method tried (also known for most rejects).
    method: Option<Method>,
    /// Accept by this method, or why not.
    result: Result<Method, RejectReason>,
    /// Accept: the user's reply attributes; either: MS-CHAP2-Success / MS-CHAP-Error.
    attributes: Vec<Attribute>,
}

/// The RFC 2865 authentication server of one VR.
#[derive(Debug)]
pub struct RadiusServer<U> {
    cfg: Config,
    clients: Vec<NasClient>,
    users: U,
    cache: DupCache<Vec<u8>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<AuthEvent>,
    counters: Counters,
}

impl<U: UserTable> RadiusServer<U> {
    pub fn new(cfg: Config, users: U) -> Self {
        RadiusServer {
            cfg,
            clients: Vec::new(),
            users,
            cache: DupCache::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn users(&self) -> &U {
        &self.users
    }

    /// The user table, to change (e.g. a VPN's secret). Cached answers stay valid for
    /// their window: a retransmission is answered as the original was.
    pub fn users_mut(&mut self) -> &mut U {
        &mut self.users
    }

    pub fn clients(&self) -> &[NasClient] {
        &self.clients
    }

    /// Adds a client; at most `max_clients`, and not the same prefix or name twice (events
    /// and [`RadiusServer::remove_client`] name clients).
    pub fn add_client(&mut self, c: NasClient) -> Result<(), ServerError> {
        if self.clients.iter().any(|e| e.name == c.name) {
            return Err(ServerError::DuplicateName { client: c.name });
        }
        if let Some(e) = self
            .clients
            .iter()
            .find(|e| e.addr == c.addr && e.prefix_len == c.prefix_len)
        {
            return Err(ServerError::DuplicateClient {
                client: c.name,
                addr: c.addr,
                prefix_len: c.prefix_len,
                existing: e.name.clone(),
            });
        }
        if self.clients.len() >= self.cfg.max_clients {
            return Err(ServerError::TooManyClients {
                client: c.name,
                max: self.cfg.max_clients,
            });
        }
        self.clients.push(c);
        Ok(())
    }

    /// Removes the client with this name; true if there was one.
    pub fn remove_client(&mut self, name: &str) -> bool {
        let n = self.clients.len();
        self.clients.retain(|c| c.name != name);
        self.clients.len() != n
    }

    /// The most specific client whose prefix holds `ip`.
    fn client_index(&self, ip: IpAddr) -> Option<usize> {
        let ip = canonical(ip);
        self.clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.contains(ip))
            .max_by_key(|(_, c)| c.prefix_len)
            .map(|(i, _)| i)
    }

    /// Answers cached for duplicates.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Handles one datagram from `src`; the answer (if any) is queued for
    /// [`RadiusServer::poll_transmit`], the decision for [`RadiusServer::poll_event`].
    pub fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) -> Handled {
        self.counters.rx_datagrams += 1;
        self.expire(now);
        let r = self.process(now, src, bytes);
        if let Handled::Dropped(d) = r {
            self.counters.count_drop(d);
        }
        r
    }

    fn process(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) -> Handled {
        use Handled::Dropped;
        let Some(ci) = self.client_index(src.ip()) else {
            return Dropped(DropReason::UnknownClient);
        };
        let Ok(pkt) = Packet::new_checked(bytes) else {
            return Dropped(DropReason::Malformed);
        };
        let status = match pkt.code() {
            code::ACCESS_REQUEST => false,
            code::STATUS_SERVER if self.cfg.status_server => true,
            _ => return Dropped(DropReason::UnexpectedCode),
        };
        let client = &self.clients[ci];
        // RFC 5997 §3: Status-Server MUST carry a Message-Authenticator.
        let require = client.require_message_authenticator || status;
        if let Err(e) = crypto::verify_access_request(pkt.bytes(), &client.secret, require) {
            return Dropped(match e {
                VerifyError::Malformed(_) => DropReason::Malformed,
                VerifyError::MissingMessageAuthenticator => DropReason::MissingMessageAuthenticator,
                VerifyError::BadMessageAuthenticator | VerifyError::BadAuthenticator => {
                    DropReason::BadMessageAuthenticator
                }
            });
        }
        let key = (src, pkt.identifier(), pkt.authenticator());
        if !status {
            if let Some(a) = self.cache.get(&key) {
                let answer = a.clone();
                if !self.queue_transmit(src, answer) {
                    return Dropped(DropReason::TransmitQueueFull);
                }
                self.counters.duplicates_resent += 1;
                return Handled::Resent;
            }
        }
        let Ok(req) = Repr::parse(&pkt) else {
            return Dropped(DropReason::Malformed);
        };
        let secret = client.secret.clone();
        let client_name = client.name.clone();
        let proxy_state: Vec<Attribute> = req
            .attributes
            .iter()
            .filter(|a| a.kind() == PROXY_STATE)
            .cloned()
            .collect();
        let signed = req
            .attributes
            .iter()
            .any(|a| matches!(a, Attribute::MessageAuthenticator(_)));
        if !signed && !proxy_state.is_empty() {
            return Dropped(DropReason::UnsignedProxyState);
        }
        if self.transmits.len() >= self.cfg.max_transmits {
            return Dropped(DropReason::TransmitQueueFull);
        }
        if status {
            // RFC 5997 §4: an Access-Accept; not cached (each probe is answered afresh).
            let mut a = vec![Attribute::MessageAuthenticator([0; 16])];
            a.extend(proxy_state);
            let Ok(b) = encode(
                code::ACCESS_ACCEPT,
                req.identifier,
                &req.authenticator,
                a,
                &secret,
            ) else {
                return Dropped(DropReason::EncodeError);
            };
            self.counters.status_server += 1;
            self.queue_transmit(src, b);
            return Handled::StatusAnswered;
        }
        self.counters.access_requests += 1;
        let user = req.find(|a| match a {
            Attribute::UserName(u) => Some(u.clone()),
            _ => None,
        });
        let v = self.decide(&req, user.as_deref(), &secret);
        let (code, mut attributes) = match v.result {
            Ok(_) => (code::ACCESS_ACCEPT, vec![]),
            Err(_) => (
                code::ACCESS_REJECT,
                vec![Attribute::ReplyMessage(self.cfg.reject_message.clone())],
            ),
        };
        attributes.insert(0, Attribute::MessageAuthenticator([0; 16]));
        attributes.extend(v.attributes);
        attributes.extend(proxy_state.iter().cloned());
        let mut result = v.result;
        let b = match encode(
            code,
            req.identifier,
            &req.authenticator,
            attributes,
            &secret,
        ) {
            Ok(b) => b,
            Err(_) => {
                // Only an Accept can grow beyond 4096 bytes (the user's reply attributes
                // and Proxy-State); answer a plain reject instead.
                result = Err(RejectReason::ReplyTooLong);
                let a = vec![
                    Attribute::MessageAuthenticator([0; 16]),
                    Attribute::ReplyMessage(self.cfg.reject_message.clone()),
                ];
                let Ok(b) = encode(
                    code::ACCESS_REJECT,
                    req.identifier,
                    &req.authenticator,
                    a,
                    &secret,
                ) else {
                    return Dropped(DropReason::EncodeError);
                };
                b
            }
        };
        self.cache_answer(now, key, b.clone());
        self.queue_transmit(src, b);
        match result {
            Ok(m) => self.counters.count_accept(m),
            Err(r) => self.counters.count_reject(r),
        }
        self.push_event(AuthEvent {
            client: client_name,
            src,
            user: user.unwrap_or_default(),
            method: v.method,
            result: result.map(|_| ()),
        });
        match result {
            Ok(m) => Handled::Accepted(m),
            Err(r) => Handled::Rejected(r),
        }
    }

    /// Decides an Access-Request whose integrity was checked.
    fn decide(&self, req: &Repr, user: Option<&[u8]>, secret: &[u8]) -> Verdict {
        let reject = |method, r| Verdict {
            method,
            result: Err(r),
            attributes: Vec::new(),
        };
        let Some(user) = user.filter(|u| !u.is_empty()) else {
            return reject(None, RejectReason::MissingUserName);
        };
        let cred = match credential(req) {
            Ok(c) => c,
            Err((m, r)) => return reject(m, r),
        };
        let m = match cred {
            Credential::Pap(_) => Method::Pap,
            Credential::Chap { .. } => Method::ChapMd5,
            Credential::MsChapV2 { .. } => Method::MsChapV2,
        };
        let method = Some(m);
        // A malformed hidden password is a malformed request whoever the user is.
        let pap_plain = match cred {
            Credential::Pap(hidden) => {
                match crypto::unhide_password(secret, &req.authenticator, hidden) {
                    Ok(p) => Some(p),
                    Err(_) => return reject(method, RejectReason::MalformedCredentials),
                }
            }
            _ => None,
        };
        let Some(entry) = self.users.lookup(user) else {
            return reject(method, RejectReason::UnknownUser);
        };
        match cred {
            Credential::Pap(_) => {
                let ok = pap_plain.is_some_and(|p| ct_eq(&p, &entry.password));
                if ok {
                    accept(m, entry.reply)
                } else {
                    reject(method, RejectReason::WrongPassword)
                }
            }
            Credential::Chap {
                ident,
                response,
                challenge,
            } => {
                if ct_eq(
                    &chap_md5_response(ident, &entry.password, challenge),
                    &response,
                ) {
                    accept(m, entry.reply)
                } else {
                    reject(method, RejectReason::WrongPassword)
                }
            }
            Credential::MsChapV2 {
                ident,
                auth_challenge,
                peer_challenge,
                nt_response,
            } => {
                let mut ac = [0u8; 16];
                ac.copy_from_slice(auth_challenge);
                // NtPasswordHash is over the UTF-16 form of the password: a password that
                // is not UTF-8 cannot be used with MS-CHAPv2.
                let ok = std::str::from_utf8(&entry.password).ok().filter(|pw| {
                    ct_eq(
                        &generate_nt_response(&ac, &peer_challenge, user, pw),
                        &nt_response,
                    )
                });
                match ok {
                    Some(pw) => {
                        let mut s = vec![ident];
                        s.extend_from_slice(
                            generate_authenticator_response(
                                pw,
                                &nt_response,
                                &peer_challenge,
                                &ac,
                                user,
                            )
                            .as_bytes(),
                        );
                        let mut v = accept(m, entry.reply);
                        v.attributes
                            .push(Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Success(s))));
                        if self.cfg.mppe_keys {
                            match mppe_key_attributes(
                                secret,
                                &req.authenticator,
                                &nt_password_hash(pw),
                                &nt_response,
                            ) {
                                Ok(keys) => v.attributes.extend(keys),
                                // Cannot happen (16-byte keys always encrypt); an Accept
                                // without keys would make MPPE fail silently, so refuse.
                                Err(_) => {
                                    return reject(method, RejectReason::ReplyTooLong);
                                }
                            }
                        }
                        v
                    }
                    None => {
                        // RFC 2759 §6: E=691 authentication failure, no retry.
                        let mut e = vec![ident];
                        e.extend_from_slice(b"E=691 R=0 C=");
                        for b in ac {
                            e.extend_from_slice(format!("{b:02X}").as_bytes());
                        }
                        e.extend_from_slice(b" V=3 M=Authentication failed");
                        let mut v = reject(method, RejectReason::WrongPassword);
                        v.attributes
                            .push(Attribute::VendorSpecific(Vsa::ms(MsAttr::ChapError(e))));
                        v
                    }
                }
            }
        }
    }

    fn queue_transmit(&mut self, dst: SocketAddr, payload: Vec<u8>) -> bool {
        if self.transmits.len() >= self.cfg.max_transmits {
            return false;
        }
        self.transmits.push_back(Transmit { dst, payload });
        true
    }

    fn push_event(&mut self, e: AuthEvent) {
        if self.cfg.max_events == 0 {
            self.counters.events_dropped += 1;
            return;
        }
        if self.events.len() >= self.cfg.max_events {
            self.events.pop_front();
            self.counters.events_dropped += 1;
        }
        self.events.push_back(e);
    }

    fn cache_answer(&mut self, now: Instant, key: DupKey, answer: Vec<u8>) {
        if self.cfg.max_cached == 0 {
            return;
        }
        while self.cache.len() >= self.cfg.max_cached && self.cache.evict_oldest() {
            self.counters.cache_evictions += 1;
        }
        self.cache
            .insert(key, answer, now + self.cfg.duplicate_window);
    }

    fn expire(&mut self, now: Instant) {
        self.cache.expire(now);
    }

    /// When [`RadiusServer::handle_timeout`] wants to be called (cache expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cache.next_expiry()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// The next answer to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next decision made.
    pub fn poll_event(&mut self) -> Option<AuthEvent> {
        self.events.pop_front()
    }
}

fn accept(method: Method, reply: Vec<Attribute>) -> Verdict {
    Verdict {
        method: Some(method),
        result: Ok(method),
        attributes: reply,
    }
}

/// The one credential of a request, or why there is not exactly one usable credential.
fn credential(req: &Repr) -> Result<Credential<'_>, (Option<Method>, RejectReason)> {
    let mut pap = Vec::new();
    let mut chap = Vec::new();
    let mut chap_challenge = Vec::new();
    let mut ms_challenge = Vec::new();
    let mut ms_response = Vec::new();
    let mut unsupported = false;
    for a in &req.attributes {
        match a {
            Attribute::UserPassword(h) => pap.push(h.as_slice()),
            Attribute::ChapPassword(c) => chap.push(c),
            Attribute::ChapChallenge(c) => chap_challenge.push(c.as_slice()),
            Attribute::Unknown { kind, .. } if *kind == EAP_MESSAGE => unsupported = true,
            Attribute::VendorSpecific(Vsa::Microsoft(ms)) => {
                for m in ms {
                    match m {
                        MsAttr::ChapChallenge(c) => ms_challenge.push(c.as_slice()),
                        MsAttr::Chap2Response(r) => ms_response.push(r),
                        MsAttr::Unknown { kind, .. } if *kind == MS_CHAP_RESPONSE => {
                            unsupported = true
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let kinds = usize::from(!pap.is_empty())
        + usize::from(!chap.is_empty())
        + usize::from(!ms_response.is_empty())
        + usize::from(unsupported);
    if kinds == 0 {
        // A bare MS-CHAP-Challenge or CHAP-Challenge is an incomplete credential.
        return Err(if !ms_challenge.is_empty() || !chap_challenge.is_empty() {
            (None, RejectReason::MalformedCredentials)
        } else {
            (None, RejectReason::NoCredentials)
        });
    }
    if kinds > 1 || pap.len() > 1 || chap.len() > 1 || ms_response.len() > 1 {
        return Err((None, RejectReason::ConflictingCredentials));
    }
    if unsupported {
        return Err((None, RejectReason::UnsupportedMethod));
    }
    if let Some(h) = pap.first() {
        return Ok(Credential::Pap(h));
    }
    if let Some(c) = chap.first() {
        let m = Some(Method::ChapMd5);
        let challenge = match chap_challenge.as_slice() {
            [] => &req.authenticator[..],
            [c] if c.len() >= MIN_CHAP_CHALLENGE => c,
            _ => return Err((m, RejectReason::MalformedCredentials)),
        };
        return Ok(Credential::Chap {
            ident: c.ident,
            response: c.response,
            challenge,
        });
    }
    let m = Some(Method::MsChapV2);
    let (Some(r), [c]) = (ms_response.first(), ms_challenge.as_slice()) else {
        return Err((m, RejectReason::MalformedCredentials));
    };
    if c.len() != 16 {
        return Err((m, RejectReason::MalformedCredentials));
    }
    Ok(Credential::MsChapV2 {
        ident: r.ident,
        auth_challenge: c,
        peer_challenge: r.peer_challenge,
        nt_response: r.nt_response,
    })
}

/// RFC 3079 §3.3, §3.4: the 128-bit MPPE start keys of the authenticator (server side) of
/// an MS-CHAPv2 authentication: `(send, receive)`.
fn mppe_start_keys(password_hash: &[u8; 16], nt_response: &[u8; 24]) -> ([u8; 16], [u8; 16]) {
    const MAGIC1: &[u8] = b"This is the MPPE Master Key";
    const MAGIC2: &[u8] =
        b"On the client side, this is the send key; on the server side, it is the receive key.";
    const MAGIC3: &[u8] =
        b"On the client side, this is the receive key; on the server side, it is the send key.";
    let hh = hash_nt_password_hash(password_hash);
    let master = Sha1::new()
        .chain_update(hh)
        .chain_update(nt_response)
        .chain_update(MAGIC1)
        .finalize();
    let start = |magic: &[u8]| {
        let d = Sha1::new()
            .chain_update(&master[..16])
            .chain_update([0u8; 40])
            .chain_update(magic)
            .chain_update([0xf2u8; 40])
            .finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
    };
    // Server side: IsSend → Magic3, receive → Magic2.
    (start(MAGIC3), start(MAGIC2))
}

/// MS-MPPE-Send-Key and MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3): salt (high bit set,
/// unique in the packet), then Key-Length, key and padding encrypted with the secret and the
/// Request Authenticator — the Tunnel-Password construction (RFC 2868 §3.5). The salts are
/// taken from the Request Authenticator (no RNG in the engine): unique per request, and
/// they differ in their last bit within the packet.
fn mppe_key_attributes(
    secret: &[u8],
    request_authenticator: &[u8; 16],
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
) -> Result<Vec<Attribute>, super::wire::Error> {
    let (send, recv) = mppe_start_keys(password_hash, nt_response);
    let base = 0x8000
        | (u16::from_be_bytes([request_authenticator[0], request_authenticator[1]]) & 0x7ffe);
    let mut out = Vec::with_capacity(2);
    for (salt, key, send_key) in [(base, send, true), (base | 1, recv, false)] {
        let mut v = salt.to_be_bytes().to_vec();
        v.extend(crypto::encrypt_tunnel_password(
            secret,
            request_authenticator,
            salt,
            &key,
        )?);
        out.push(Attribute::VendorSpecific(Vsa::ms(if send_key {
            MsAttr::MppeSendKey(v)
        } else {
            MsAttr::MppeRecvKey(v)
        })));
    }
    Ok(out)
}

/// Encodes and signs an answer (Message-Authenticator first, Response Authenticator).
fn encode(
    code: u8,
    identifier: u8,
    request_authenticator: &[u8; 16],
    attributes: Vec<Attribute>,
    secret: &[u8],
) -> Result<Vec<u8>, super::wire::Error> {
    let mut b = Repr {
        code,
        identifier,
        authenticator: [0; 16],
        attributes,
    }
    .to_bytes()?;
    crypto::sign(
        &mut b,
        secret,
        Signing::Response {
            request_authenticator: *request_authenticator,
        },
    )?;
    Ok(b)
}

/// Constant-time comparison (the length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::auth::generate_nt_response;
    use crate::radius::client::{self, AccessRequest, Auth, Client, ClientResult};
    use crate::radius::wire::{attr, ChapPassword, MsChap2Response};

    const SECRET: &[u8] = b"testing123";
    const NAS: &str = "192.0.2.10:40000";

    fn nas() -> SocketAddr {
        NAS.parse().unwrap()
    }

    fn users() -> StaticUsers {
        StaticUsers::from_text(
            "# test users\n\
             alice  secret  Session-Timeout=3600 Class=gold\n\
             bob\thunter2\n\
             carol  clientPass  Framed-IP-Address=100.64.0.12\n",
        )
        .unwrap()
    }

    fn server() -> RadiusServer<StaticUsers> {
        let mut s = RadiusServer::new(Config::default(), users());
        s.add_client(NasClient::new("nas1", "192.0.2.0".parse().unwrap(), 24, SECRET).unwrap())
            .unwrap();
        s
    }

    /// An Access-Request as our client encodes it (Message-Authenticator first).
    fn request(user: &str, auth: Auth, secret: &[u8], id: u8, ra: [u8; 16]) -> Vec<u8> {
        let cfg = client::Config::new("nas1");
        let req = AccessRequest::ppp(user, auth, "s1", 0);
        client::encode_auth(&cfg, &req, secret, id, &ra).unwrap()
    }

    fn pap(user: &str, pw: &str) -> Vec<u8> {
        request(
            user,
            Auth::Pap {
                password: pw.as_bytes().to_vec(),
            },
            SECRET,
            1,
            [7; 16],
        )
    }

    /// Encodes attributes as an Access-Request, signed if `ma`.
    fn raw_request(attrs: Vec<Attribute>, ma: bool, id: u8) -> Vec<u8> {
        let mut a = Vec::new();
        if ma {
            a.push(Attribute::MessageAuthenticator([0; 16]));
        }
        a.extend(attrs);
        let mut b = Repr {
            code: code::ACCESS_REQUEST,
            identifier: id,
            authenticator: [0x42; 16],
            attributes: a,
        }
        .to_bytes()
        .unwrap();
        crypto::sign(&mut b, SECRET, Signing::AccessRequest).unwrap();
        b
    }

    /// The one answer queued, checked as a client would (Response Authenticator and a
    /// Message-Authenticator that must be the first attribute).
    fn answer(s: &mut RadiusServer<StaticUsers>, req: &[u8]) -> Repr {
        let t = s.poll_transmit().expect("an answer");
        assert!(s.poll_transmit().is_none());
        assert_eq!(t.dst, nas());
        let ra: [u8; 16] = req[4..20].try_into().unwrap();
        crypto::verify_response(&t.payload, &ra, SECRET, true).unwrap();
        let r = Repr::from_bytes(&t.payload).unwrap();
        assert_eq!(r.identifier, req[1]);
        assert!(matches!(
            r.attributes[0],
            Attribute::MessageAuthenticator(_)
        ));
        r
    }

    // Access-Requests from radclient 3.2.1 (Debian 12 freeradius-utils) to
    // examples/radius_server on 127.0.0.1:18230, secret "testing123", captured with tcpdump
    // (`echo 'User-Name = "alice", User-Password = "secret", NAS-Identifier = "vp-nas",
    // Message-Authenticator = 0x00' | radclient 127.0.0.1:18230 auth testing123`, and bob
    // with `CHAP-Password = "hunter2"`: radclient uses the Request Authenticator as the
    // challenge). radclient puts the Message-Authenticator last. The answers are the bytes
    // this server sent and radclient accepted (Response Authenticator and
    // Message-Authenticator checked by radclient).
    const RADCLIENT_PAP: &str = "012b0047b0ab506113425850b83afa9e708cd1730107616c6963650212846bb29b4f04ff135a4047961bf2885e200876702d6e6173501240cc703e0189f8062cff891046b80a17";
    const RADCLIENT_PAP_ACCEPT: &str = "022b0032f5d745d0bea4500681d8aec5dffa378a50122f5592fd5a4922d1509b67bc12610eca1b0600000e101906676f6c64";
    const RADCLIENT_CHAP: &str = "01c700461c1b7e9d2f37316bf1248920a08c1fae0105626f62031386c6d7735f40d6a06302f1da4e63d680d6200876702d6e617350124fe683f901f37fd66fb9f422f5033bad";
    const RADCLIENT_CHAP_ACCEPT: &str =
        "02c70026cb8072969bce95ab1cf3d909158aa062501204647bd53d5887d62861b01b84615c47";

    #[test]
    fn radclient_vectors() {
        use crate::radius::wire::crypto::tests::hex;
        let t0 = Instant::now();
        let mut s = RadiusServer::new(Config::default(), users());
        s.add_client(NasClient::new("lo", "127.0.0.1".parse().unwrap(), 32, SECRET).unwrap())
            .unwrap();
        let src: SocketAddr = "127.0.0.1:33267".parse().unwrap();
        for (req, want, method) in [
            (RADCLIENT_PAP, RADCLIENT_PAP_ACCEPT, Method::Pap),
            (RADCLIENT_CHAP, RADCLIENT_CHAP_ACCEPT, Method::ChapMd5),
        ] {
            assert_eq!(
                s.handle_datagram(t0, src, &hex(req)),
                Handled::Accepted(method)
            );
            assert_eq!(s.poll_transmit().unwrap().payload, hex(want));
        }
    }

    #[test]
    fn pap_accept_and_reject() {
        let t0 = Instant::now();
        let mut s = server();
        let req = pap("alice", "secret");
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Accepted(Method::Pap)
        );
        let r = answer(&mut s, &req);
        assert_eq!(r.code, code::ACCESS_ACCEPT);
        assert_eq!(
            &r.attributes[1..],
            &[
                Attribute::SessionTimeout(3600),
                Attribute::Class(b"gold".to_vec())
            ]
        );
        let e = s.poll_event().unwrap();
        assert_eq!(e.client, "nas1");
        assert_eq!(e.user, b"alice");
        assert_eq!(e.method, Some(Method::Pap));
        assert_eq!(e.result, Ok(()));

        let req = request(
            "alice",
            Auth::Pap {
                password: b"wrong".to_vec(),
            },
            SECRET,
            2,
            [8; 16],
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::WrongPassword)
        );
        let r = answer(&mut s, &req);
        assert_eq!(r.code, code::ACCESS_REJECT);
        assert_eq!(
            r.attributes[1],
            Attribute::ReplyMessage(b"Authentication failed".to_vec())
        );
        assert_eq!(r.attributes.len(), 2, "a reject grants nothing");
        // An unknown user gets the same reject; only the counters tell them apart.
        let req = request(
            "mallory",
            Auth::Pap {
                password: b"secret".to_vec(),
            },
            SECRET,
            3,
            [9; 16],
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::UnknownUser)
        );
        assert_eq!(answer(&mut s, &req).code, code::ACCESS_REJECT);
        let k = s.counters();
        assert_eq!((k.accepts, k.accepts_pap, k.rejects), (1, 1, 2));
        assert_eq!((k.reject_wrong_password, k.reject_unknown_user), (1, 1));
    }

    #[test]
    fn chap_with_challenge_attribute_and_with_request_authenticator() {
        let t0 = Instant::now();
        let mut s = server();
        let challenge = b"0123456789abcdef".to_vec();
        let auth = Auth::Chap {
            id: 5,
            challenge: challenge.clone(),
            response: chap_md5_response(5, b"hunter2", &challenge),
        };
        let req = request("bob", auth, SECRET, 1, [1; 16]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Accepted(Method::ChapMd5)
        );
        assert_eq!(answer(&mut s, &req).code, code::ACCESS_ACCEPT);
        // Without CHAP-Challenge the Request Authenticator is the challenge (RFC 2865 §2.2).
        let ra = [0x5a; 16];
        let ok = ChapPassword {
            ident: 9,
            response: chap_md5_response(9, b"hunter2", &ra),
        };
        let mk = |cp: ChapPassword, ra: [u8; 16]| {
            let mut b = Repr {
                code: code::ACCESS_REQUEST,
                identifier: 2,
                authenticator: ra,
                attributes: vec![
                    Attribute::MessageAuthenticator([0; 16]),
                    Attribute::UserName(b"bob".to_vec()),
                    Attribute::ChapPassword(cp),
                ],
            }
            .to_bytes()
            .unwrap();
            crypto::sign(&mut b, SECRET, Signing::AccessRequest).unwrap();
            b
        };
        let req = mk(ok, ra);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Accepted(Method::ChapMd5)
        );
        answer(&mut s, &req);
        // The same response under another authenticator is wrong.
        let req = mk(ok, [0x5b; 16]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::WrongPassword)
        );
        answer(&mut s, &req);
        // A wrong password.
        let bad = Auth::Chap {
            id: 5,
            challenge: challenge.clone(),
            response: chap_md5_response(5, b"hunter3", &challenge),
        };
        let req = request("bob", bad, SECRET, 3, [3; 16]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::WrongPassword)
        );
        answer(&mut s, &req);
        // A CHAP-Challenge shorter than RFC 2865 §5.40 allows.
        let short = Auth::Chap {
            id: 5,
            challenge: b"abcd".to_vec(),
            response: chap_md5_response(5, b"hunter2", b"abcd"),
        };
        let req = request("bob", short, SECRET, 4, [4; 16]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::MalformedCredentials)
        );
        assert_eq!(s.counters().accepts_chap, 2);
    }

    // RFC 2759 §9.2 values.
    const MS_USER: &str = "User";
    const MS_AUTH_CHALLENGE: [u8; 16] = [
        0x5B, 0x5D, 0x7C, 0x7D, 0x7B, 0x3F, 0x2F, 0x3E, 0x3C, 0x2C, 0x60, 0x21, 0x32, 0x26, 0x26,
        0x28,
    ];
    const MS_PEER_CHALLENGE: [u8; 16] = [
        0x21, 0x40, 0x23, 0x24, 0x25, 0x5E, 0x26, 0x2A, 0x28, 0x29, 0x5F, 0x2B, 0x3A, 0x33, 0x7C,
        0x7E,
    ];

    #[test]
    fn mschapv2_rfc2759_vector() {
        let t0 = Instant::now();
        let mut u = users();
        u.insert(
            MS_USER.as_bytes(),
            UserEntry {
                password: b"clientPass".to_vec(),
                reply: vec![],
            },
        )
        .unwrap();
        let mut s = RadiusServer::new(Config::default(), u);
        s.add_client(NasClient::new("nas1", nas().ip(), 32, SECRET).unwrap())
            .unwrap();
        let nt = generate_nt_response(
            &MS_AUTH_CHALLENGE,
            &MS_PEER_CHALLENGE,
            b"User",
            "clientPass",
        );
        let auth = Auth::MsChapV2 {
            ident: 0x17,
            auth_challenge: MS_AUTH_CHALLENGE,
            peer_challenge: MS_PEER_CHALLENGE,
            nt_response: nt,
            flags: 0,
        };
        let req = request(MS_USER, auth, SECRET, 1, [1; 16]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Accepted(Method::MsChapV2)
        );
        let r = answer(&mut s, &req);
        // RFC 2759 §9.2: AuthenticatorResponse "S=407A5589115FD0D6209F510FE9C04566932CDA56".
        let mut want = vec![0x17];
        want.extend_from_slice(b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
        assert!(r
            .attributes
            .contains(&Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Success(
                want
            )))));
        // MPPE keys: RFC 3079 §3.5.3 gives MasterKey FDECE3717A8C838CB388E527AE3CDD31 and
        // the server's send start key 8B7CDC149B993A1BA118CB153F56DCCB for this exchange;
        // the receive key (Magic2) computed with Python's hashlib from the same formulas.
        let keys: Vec<(u8, Vec<u8>)> = r
            .attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::VendorSpecific(Vsa::Microsoft(m)) => match &m[0] {
                    MsAttr::MppeSendKey(v) => Some((16, v.clone())),
                    MsAttr::MppeRecvKey(v) => Some((17, v.clone())),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(keys.len(), 2);
        let ra: [u8; 16] = req[4..20].try_into().unwrap();
        let plain = |v: &[u8]| {
            let salt = u16::from_be_bytes([v[0], v[1]]);
            assert!(salt & 0x8000 != 0);
            crypto::decrypt_tunnel_password(SECRET, &ra, salt, &v[2..]).unwrap()
        };
        assert_eq!(keys[0].0, 16);
        assert_eq!(
            plain(&keys[0].1),
            crypto::tests::hex("8B7CDC149B993A1BA118CB153F56DCCB")
        );
        assert_eq!(
            plain(&keys[1].1),
            crypto::tests::hex("D5F0E9521E3EA9589645E86051C82226")
        );
        assert_ne!(keys[0].1[..2], keys[1].1[..2], "salts unique in the packet");
        // A wrong NT-Response: reject with MS-CHAP-Error E=691.
        let mut bad = nt;
        bad[0] ^= 1;
        let auth = Auth::MsChapV2 {
            ident: 0x18,
            auth_challenge: MS_AUTH_CHALLENGE,
            peer_challenge: MS_PEER_CHALLENGE,
            nt_response: bad,
            flags: 0,
        };
        let req = request(MS_USER, auth, SECRET, 2, [2; 16]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::WrongPassword)
        );
        let r = answer(&mut s, &req);
        let err = r
            .find(|a| match a {
                Attribute::VendorSpecific(Vsa::Microsoft(m)) => match &m[0] {
                    MsAttr::ChapError(e) => Some(e.clone()),
                    _ => None,
                },
                _ => None,
            })
            .unwrap();
        assert_eq!(err[0], 0x18);
        assert!(err[1..].starts_with(b"E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3"));
        // MS-CHAP2-Response without MS-CHAP-Challenge.
        let req = raw_request(
            vec![
                Attribute::UserName(b"User".to_vec()),
                Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Response(MsChap2Response {
                    ident: 1,
                    flags: 0,
                    peer_challenge: MS_PEER_CHALLENGE,
                    nt_response: nt,
                }))),
            ],
            true,
            3,
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::MalformedCredentials)
        );
    }

    #[test]
    fn message_authenticator_checks() {
        let t0 = Instant::now();
        let mut s = server();
        // Signed with another secret: dropped, not answered.
        let req = request(
            "alice",
            Auth::Pap {
                password: b"secret".to_vec(),
            },
            b"not the secret",
            1,
            [1; 16],
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Dropped(DropReason::BadMessageAuthenticator)
        );
        // One flipped bit anywhere after the header breaks the HMAC.
        let mut req = pap("alice", "secret");
        let n = req.len();
        req[n - 1] ^= 1;
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Dropped(DropReason::BadMessageAuthenticator)
        );
        // No Message-Authenticator while the client must sign (the default).
        let hidden = crypto::hide_password(SECRET, &[0x42; 16], b"secret").unwrap();
        let unsigned = raw_request(
            vec![
                Attribute::UserName(b"alice".to_vec()),
                Attribute::UserPassword(hidden),
            ],
            false,
            1,
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &unsigned),
            Handled::Dropped(DropReason::MissingMessageAuthenticator)
        );
        // Two Message-Authenticators are malformed.
        let two = Repr {
            code: code::ACCESS_REQUEST,
            identifier: 1,
            authenticator: [1; 16],
            attributes: vec![
                Attribute::MessageAuthenticator([0; 16]),
                Attribute::UserName(b"alice".to_vec()),
                Attribute::MessageAuthenticator([0; 16]),
            ],
        }
        .to_bytes()
        .unwrap();
        assert_eq!(
            s.handle_datagram(t0, nas(), &two),
            Handled::Dropped(DropReason::Malformed)
        );
        assert!(s.poll_transmit().is_none());
        assert!(s.poll_event().is_none());
        let k = *s.counters();
        assert_eq!(k.drop_bad_message_authenticator, 2);
        assert_eq!(k.drop_missing_message_authenticator, 1);
        assert_eq!(k.drop_malformed, 1);
        assert_eq!(k.access_requests, 0);
        // A client allowed not to sign is answered; the answer is still signed.
        s.remove_client("nas1");
        let mut c = NasClient::new("legacy", nas().ip(), 32, SECRET).unwrap();
        c.require_message_authenticator = false;
        s.add_client(c).unwrap();
        assert_eq!(
            s.handle_datagram(t0, nas(), &unsigned),
            Handled::Accepted(Method::Pap)
        );
        answer(&mut s, &unsigned);
        // ... but not with Proxy-State (Blast-RADIUS needs an unsigned request whose
        // Proxy-State the server echoes).
        let hidden = crypto::hide_password(SECRET, &[0x42; 16], b"secret").unwrap();
        let proxied = raw_request(
            vec![
                Attribute::UserName(b"alice".to_vec()),
                Attribute::UserPassword(hidden),
                Attribute::Unknown {
                    kind: PROXY_STATE,
                    data: b"collision blob".to_vec(),
                },
            ],
            false,
            7,
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &proxied),
            Handled::Dropped(DropReason::UnsignedProxyState)
        );
        assert_eq!(s.counters().drop_unsigned_proxy_state, 1);
        // ... and a Message-Authenticator that is present must still verify.
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Dropped(DropReason::BadMessageAuthenticator)
        );
    }

    #[test]
    fn duplicates_get_the_cached_answer() {
        let t0 = Instant::now();
        let mut s = server();
        let req = pap("alice", "secret");
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Accepted(Method::Pap)
        );
        let first = s.poll_transmit().unwrap();
        s.poll_event().unwrap();
        // Change the password: a retransmission is answered from the cache, not decided
        // again (RFC 5080 §2.2.2).
        s.users_mut()
            .insert(
                b"alice",
                UserEntry {
                    password: b"changed".to_vec(),
                    reply: vec![],
                },
            )
            .unwrap();
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(s.handle_datagram(t1, nas(), &req), Handled::Resent);
        assert_eq!(s.poll_transmit().unwrap(), first);
        assert!(
            s.poll_event().is_none(),
            "a duplicate is not a new decision"
        );
        // Another source port is another request.
        let other: SocketAddr = "192.0.2.10:40001".parse().unwrap();
        assert_eq!(
            s.handle_datagram(t1, other, &req),
            Handled::Rejected(RejectReason::WrongPassword)
        );
        s.poll_transmit().unwrap();
        // After the window the request is decided afresh.
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        let t2 = t0 + Duration::from_secs(10);
        s.handle_timeout(t2);
        assert_eq!(s.cached(), 1);
        assert_eq!(
            s.handle_datagram(t2, nas(), &req),
            Handled::Rejected(RejectReason::WrongPassword)
        );
        let k = s.counters();
        assert_eq!((k.access_requests, k.duplicates_resent), (3, 1));
    }

    #[test]
    fn cache_limit_evicts_the_oldest() {
        let t0 = Instant::now();
        let cfg = Config {
            max_cached: 2,
            ..Config::default()
        };
        let mut s = RadiusServer::new(cfg, users());
        s.add_client(NasClient::new("nas1", nas().ip(), 32, SECRET).unwrap())
            .unwrap();
        let reqs: Vec<Vec<u8>> = (0..3u8)
            .map(|i| {
                request(
                    "alice",
                    Auth::Pap {
                        password: b"secret".to_vec(),
                    },
                    SECRET,
                    i,
                    [i; 16],
                )
            })
            .collect();
        for r in &reqs {
            s.handle_datagram(t0, nas(), r);
        }
        assert_eq!(s.cached(), 2);
        assert_eq!(s.counters().cache_evictions, 1);
        // The newest two are duplicates, the first is decided again.
        assert_eq!(s.handle_datagram(t0, nas(), &reqs[2]), Handled::Resent);
        assert_eq!(s.handle_datagram(t0, nas(), &reqs[1]), Handled::Resent);
        assert_eq!(
            s.handle_datagram(t0, nas(), &reqs[0]),
            Handled::Accepted(Method::Pap)
        );
    }

    #[test]
    fn malformed_attributes_are_dropped() {
        let t0 = Instant::now();
        let mut s = server();
        let good = pap("alice", "secret");
        // Attribute length 0 and 1 (the CVE shapes of naive walkers), and one running past
        // the packet: the Message-Authenticator cannot even be located → malformed.
        for bad_len in [0u8, 1, 200] {
            let mut b = good.clone();
            b.extend_from_slice(&[attr::REPLY_MESSAGE, bad_len, b'x']);
            let l = b.len() as u16;
            b[2..4].copy_from_slice(&l.to_be_bytes());
            assert_eq!(
                s.handle_datagram(t0, nas(), &b),
                Handled::Dropped(DropReason::Malformed),
                "attribute length {bad_len}"
            );
        }
        // A lone type byte at the end.
        let mut b = good.clone();
        b.push(attr::CLASS);
        let l = b.len() as u16;
        b[2..4].copy_from_slice(&l.to_be_bytes());
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::Malformed)
        );
        // Truncated datagram, Length beyond it, Length below 20, above 4096.
        assert_eq!(
            s.handle_datagram(t0, nas(), &good[..19]),
            Handled::Dropped(DropReason::Malformed)
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &good[..good.len() - 1]),
            Handled::Dropped(DropReason::Malformed)
        );
        let mut b = good.clone();
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::Malformed)
        );
        let mut b = vec![0u8; 4100];
        b[..good.len()].copy_from_slice(&good);
        b[2..4].copy_from_slice(&4097u16.to_be_bytes());
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::Malformed)
        );
        // A correctly signed request whose typed value is wrong (NAS-Port of 3 bytes).
        let b = raw_request(
            vec![
                Attribute::UserName(b"alice".to_vec()),
                Attribute::Unknown {
                    kind: attr::NAS_PORT,
                    data: vec![0, 0, 1],
                },
            ],
            true,
            9,
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::Malformed)
        );
        // Padding after Length is ignored (RFC 2865 §3).
        let mut b = good.clone();
        b.extend_from_slice(&[0xff; 7]);
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Accepted(Method::Pap)
        );
        assert_eq!(s.counters().drop_malformed, 9);
    }

    #[test]
    fn clients_by_longest_prefix() {
        let t0 = Instant::now();
        let mut s = server();
        s.add_client(NasClient::new("one", "192.0.2.77".parse().unwrap(), 32, b"other").unwrap())
            .unwrap();
        let req = pap("alice", "secret");
        // 192.0.2.77 is the /32 client with another secret: its HMAC fails.
        let from77: SocketAddr = "192.0.2.77:1000".parse().unwrap();
        assert_eq!(
            s.handle_datagram(t0, from77, &req),
            Handled::Dropped(DropReason::BadMessageAuthenticator)
        );
        // Unknown source: silently dropped (RFC 2865 §3).
        let stranger: SocketAddr = "198.51.100.1:1000".parse().unwrap();
        assert_eq!(
            s.handle_datagram(t0, stranger, &req),
            Handled::Dropped(DropReason::UnknownClient)
        );
        // An IPv4-mapped IPv6 source (dual-stack socket) is the IPv4 client.
        let mapped: SocketAddr = "[::ffff:192.0.2.10]:40000".parse().unwrap();
        assert_eq!(
            s.handle_datagram(t0, mapped, &req),
            Handled::Accepted(Method::Pap)
        );
        assert_eq!(s.counters().drop_unknown_client, 1);
        // Configuration errors.
        assert!(matches!(
            s.add_client(NasClient::new("dup", "192.0.2.99".parse().unwrap(), 24, b"x").unwrap()),
            Err(ServerError::DuplicateClient { .. })
        ));
        assert!(matches!(
            s.add_client(NasClient::new("one", "10.1.0.0".parse().unwrap(), 16, b"x").unwrap()),
            Err(ServerError::DuplicateName { .. })
        ));
        assert!(matches!(
            NasClient::new("p", "192.0.2.1".parse().unwrap(), 33, b"x"),
            Err(ServerError::BadPrefix { .. })
        ));
        assert!(matches!(
            NasClient::new("e", "2001:db8::".parse().unwrap(), 32, b""),
            Err(ServerError::EmptySecret { .. })
        ));
        let mut s = RadiusServer::new(
            Config {
                max_clients: 1,
                ..Config::default()
            },
            users(),
        );
        s.add_client(NasClient::new("a", "2001:db8::".parse().unwrap(), 32, b"x").unwrap())
            .unwrap();
        assert!(matches!(
            s.add_client(NasClient::new("b", "10.0.0.0".parse().unwrap(), 8, b"x").unwrap()),
            Err(ServerError::TooManyClients { max: 1, .. })
        ));
        assert!(s.clients()[0].contains("2001:db8:0:1::5".parse().unwrap()));
        assert!(!s.clients()[0].contains("2001:db9::".parse().unwrap()));
    }

    #[test]
    fn request_shape_rejects() {
        let t0 = Instant::now();
        let mut s = server();
        let hidden = crypto::hide_password(SECRET, &[0x42; 16], b"secret").unwrap();
        let cp = Attribute::ChapPassword(ChapPassword {
            ident: 1,
            response: [0; 16],
        });
        let cases = [
            (
                vec![Attribute::UserPassword(hidden.clone())],
                RejectReason::MissingUserName,
            ),
            (
                vec![Attribute::UserName(b"alice".to_vec())],
                RejectReason::NoCredentials,
            ),
            (
                vec![
                    Attribute::UserName(b"alice".to_vec()),
                    Attribute::UserPassword(hidden.clone()),
                    cp.clone(),
                ],
                RejectReason::ConflictingCredentials,
            ),
            (
                vec![
                    Attribute::UserName(b"alice".to_vec()),
                    Attribute::UserPassword(hidden.clone()),
                    Attribute::UserPassword(hidden.clone()),
                ],
                RejectReason::ConflictingCredentials,
            ),
            (
                vec![
                    Attribute::UserName(b"alice".to_vec()),
                    Attribute::Unknown {
                        kind: EAP_MESSAGE,
                        data: vec![2, 1, 0, 5, 1],
                    },
                ],
                RejectReason::UnsupportedMethod,
            ),
            (
                vec![
                    Attribute::UserName(b"alice".to_vec()),
                    Attribute::UserPassword(vec![1; 17]),
                ],
                RejectReason::MalformedCredentials,
            ),
            (
                vec![
                    Attribute::UserName(b"alice".to_vec()),
                    Attribute::ChapChallenge(vec![1; 16]),
                ],
                RejectReason::MalformedCredentials,
            ),
        ];
        for (i, (attrs, why)) in cases.into_iter().enumerate() {
            let req = raw_request(attrs, true, i as u8);
            assert_eq!(
                s.handle_datagram(t0, nas(), &req),
                Handled::Rejected(why),
                "case {i}"
            );
            assert_eq!(answer(&mut s, &req).code, code::ACCESS_REJECT);
            assert_eq!(s.poll_event().unwrap().result, Err(why));
        }
        let k = s.counters();
        assert_eq!(k.rejects, 7);
        assert_eq!(k.reject_conflicting_credentials, 2);
        assert_eq!(k.reject_malformed_credentials, 2);
        // Other codes are not ours.
        let mut acct = pap("alice", "secret");
        acct[0] = code::ACCOUNTING_REQUEST;
        assert_eq!(
            s.handle_datagram(t0, nas(), &acct),
            Handled::Dropped(DropReason::UnexpectedCode)
        );
    }

    #[test]
    fn proxy_state_echoed_in_order() {
        let t0 = Instant::now();
        let mut s = server();
        let hidden = crypto::hide_password(SECRET, &[0x42; 16], b"secret").unwrap();
        let ps = |d: &[u8]| Attribute::Unknown {
            kind: PROXY_STATE,
            data: d.to_vec(),
        };
        let req = raw_request(
            vec![
                ps(b"first"),
                Attribute::UserName(b"alice".to_vec()),
                Attribute::UserPassword(hidden),
                ps(b"second"),
            ],
            true,
            1,
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Accepted(Method::Pap)
        );
        let r = answer(&mut s, &req);
        let got: Vec<&Attribute> = r
            .attributes
            .iter()
            .filter(|a| a.kind() == PROXY_STATE)
            .collect();
        assert_eq!(got, vec![&ps(b"first"), &ps(b"second")]);
    }

    #[test]
    fn status_server() {
        let t0 = Instant::now();
        let mut s = server();
        let mut b = raw_request(vec![], true, 4);
        b[0] = code::STATUS_SERVER;
        crypto::sign(&mut b, SECRET, Signing::AccessRequest).unwrap();
        assert_eq!(s.handle_datagram(t0, nas(), &b), Handled::StatusAnswered);
        assert_eq!(answer(&mut s, &b).code, code::ACCESS_ACCEPT);
        // Not cached: asked again, answered again (not as a duplicate).
        assert_eq!(s.handle_datagram(t0, nas(), &b), Handled::StatusAnswered);
        answer(&mut s, &b);
        // RFC 5997 §3: unsigned Status-Server is dropped even for a client allowed not to
        // sign Access-Requests.
        let mut b = raw_request(vec![], false, 5);
        b[0] = code::STATUS_SERVER;
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::MissingMessageAuthenticator)
        );
        assert_eq!(s.counters().status_server, 2);
        let mut s = RadiusServer::new(
            Config {
                status_server: false,
                ..Config::default()
            },
            users(),
        );
        s.add_client(NasClient::new("n", nas().ip(), 32, SECRET).unwrap())
            .unwrap();
        let mut b = raw_request(vec![], true, 4);
        b[0] = code::STATUS_SERVER;
        crypto::sign(&mut b, SECRET, Signing::AccessRequest).unwrap();
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::UnexpectedCode)
        );
    }

    #[test]
    fn output_queue_limits() {
        let t0 = Instant::now();
        let cfg = Config {
            max_transmits: 1,
            max_events: 1,
            ..Config::default()
        };
        let mut s = RadiusServer::new(cfg, users());
        s.add_client(NasClient::new("n", nas().ip(), 32, SECRET).unwrap())
            .unwrap();
        let a = pap("alice", "secret");
        let b = request(
            "alice",
            Auth::Pap {
                password: b"secret".to_vec(),
            },
            SECRET,
            2,
            [2; 16],
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &a),
            Handled::Accepted(Method::Pap)
        );
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Dropped(DropReason::TransmitQueueFull)
        );
        s.poll_transmit().unwrap();
        assert_eq!(
            s.handle_datagram(t0, nas(), &b),
            Handled::Accepted(Method::Pap)
        );
        assert_eq!(s.counters().drop_transmit_queue_full, 1);
        assert_eq!(s.counters().events_dropped, 1);
        assert_eq!(s.poll_event().unwrap().src, nas());
        assert!(s.poll_event().is_none());
    }

    #[test]
    fn reply_too_long_becomes_a_reject() {
        let t0 = Instant::now();
        let mut u = StaticUsers::new();
        // 14 Class attributes of 253 bytes: ~3.6 KB, fits with the success attribute.
        u.insert(
            b"big",
            UserEntry {
                password: b"pw".to_vec(),
                reply: vec![Attribute::Class(vec![b'c'; 253]); 14],
            },
        )
        .unwrap();
        let mut s = RadiusServer::new(Config::default(), u);
        s.add_client(NasClient::new("n", nas().ip(), 32, SECRET).unwrap())
            .unwrap();
        let hidden = crypto::hide_password(SECRET, &[0x42; 16], b"pw").unwrap();
        // Proxy-State pushes the Accept beyond 4096 bytes.
        let mut attrs = vec![
            Attribute::UserName(b"big".to_vec()),
            Attribute::UserPassword(hidden),
        ];
        attrs.extend((0..2).map(|_| Attribute::Unknown {
            kind: PROXY_STATE,
            data: vec![b'p'; 253],
        }));
        let req = raw_request(attrs, true, 1);
        assert_eq!(
            s.handle_datagram(t0, nas(), &req),
            Handled::Rejected(RejectReason::ReplyTooLong)
        );
        assert_eq!(answer(&mut s, &req).code, code::ACCESS_REJECT);
        assert_eq!(s.counters().reject_reply_too_long, 1);
    }

    #[test]
    fn users_file_and_table_limits() {
        let u = users();
        assert_eq!(u.len(), 3);
        assert_eq!(
            u.lookup(b"carol").unwrap().reply,
            vec![Attribute::FramedIpAddress([100, 64, 0, 12].into())]
        );
        for (text, want) in [
            ("alice\n", "line 1: a user line needs a name and a password"),
            (
                "# c\nalice pw Foo=1\n",
                "line 2: unknown reply attribute `Foo`",
            ),
            (
                "alice pw Session-Timeout=x\n",
                "line 1: Session-Timeout: `x` is not an integer",
            ),
            ("alice pw Class\n", "line 1: `Class` is not ATTRIBUTE=VALUE"),
            ("a p\na q\n", "line 2: user `a` is defined twice"),
        ] {
            let e = StaticUsers::from_text(text).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        let long = format!("u {}\n", "p".repeat(129));
        assert!(matches!(
            StaticUsers::from_text(&long),
            Err(UsersFileError::User {
                line: 1,
                error: UserError::PasswordLength { len: 129, .. }
            })
        ));
        let mut t = StaticUsers::new();
        let e = |reply| UserEntry {
            password: b"p".to_vec(),
            reply,
        };
        assert!(matches!(
            t.insert(b"", e(vec![])),
            Err(UserError::NameLength { len: 0 })
        ));
        assert!(matches!(
            t.insert(b"u", e(vec![Attribute::MessageAuthenticator([0; 16])])),
            Err(UserError::ReplyAttribute { kind: 80, .. })
        ));
        assert!(matches!(
            t.insert(b"u", e(vec![Attribute::Class(vec![0; 253]); 17])),
            Err(UserError::ReplyEncode { .. })
        ));
        assert!(t.is_empty());
    }

    #[test]
    fn vpn_user_names() {
        let r: Ipv4Addr = "10.255.0.2".parse().unwrap();
        assert_eq!(VpnUsers::user_name(100, r), "100/10.255.0.2");
        assert_eq!(VpnUsers::parse_user_name(b"100/10.255.0.2"), Some((100, r)));
        for bad in [
            &b"0100/10.255.0.2"[..],
            b"+100/10.255.0.2",
            b"100/10.255.0.02",
            b"100 /10.255.0.2",
            b"100/10.255.0.2/",
            b"4294967296/10.255.0.2",
            b"100",
            b"\xff/1.2.3.4",
        ] {
            assert_eq!(VpnUsers::parse_user_name(bad), None, "{bad:?}");
        }
        let mut v = VpnUsers::new();
        v.set_secret(100, b"vpn secret").unwrap();
        assert!(v.set_secret(7, b"").is_err());
        assert_eq!(v.lookup(b"100/10.255.0.2").unwrap().password, b"vpn secret");
        assert!(v.lookup(b"200/10.255.0.2").is_none());
        v.restrict_routers(Some([r].into_iter().collect()));
        assert!(v.lookup(b"100/10.255.0.2").is_some());
        assert!(v.lookup(b"100/10.255.0.3").is_none());
        assert!(v.remove(100));
        assert!(v.lookup(b"100/10.255.0.2").is_none());
    }

    /// Our client against this server, in process: datagrams carried by hand.
    fn round_trip<U: UserTable>(
        s: &mut RadiusServer<U>,
        secret: &[u8],
        req: AccessRequest,
    ) -> ClientResult {
        let t0 = Instant::now();
        let srv: SocketAddr = "192.0.2.1:1812".parse().unwrap();
        let mut cfg = client::Config::new("vr-a");
        cfg.auth_servers.push(client::Server {
            addr: srv,
            secret: secret.to_vec(),
        });
        cfg.source_ports = 1;
        cfg.retries = 0;
        // A seed per request: the same seed would repeat the identifier and Request
        // Authenticator, and the server would (rightly) answer from its duplicate cache.
        let mut c = Client::new(cfg, req.tag);
        c.access_request(t0, req).unwrap();
        let tx = c.poll_transmit().unwrap();
        assert_eq!(tx.dst, srv);
        let src: SocketAddr = "192.0.2.10:50000".parse().unwrap();
        s.handle_datagram(t0, src, &tx.payload);
        if let Some(a) = s.poll_transmit() {
            assert_eq!(a.dst, src);
            c.handle_datagram(t0, tx.socket, srv, &a.payload);
        } else {
            c.handle_timeout(t0 + Duration::from_secs(4));
        }
        assert_eq!(c.counters().drop_bad_authenticator, 0);
        assert_eq!(c.counters().drop_bad_message_authenticator, 0);
        c.poll_event().unwrap().result
    }

    #[test]
    fn our_client_against_our_server() {
        let mut s = server();
        let r = round_trip(
            &mut s,
            SECRET,
            AccessRequest::ppp(
                "alice",
                Auth::Pap {
                    password: b"secret".to_vec(),
                },
                "s1",
                1,
            ),
        );
        let ClientResult::Accept(a) = r else {
            panic!("{r:?}")
        };
        assert_eq!(a.session_timeout, Some(3600));
        assert_eq!(a.class, vec![b"gold".to_vec()]);
        let ch = b"challenge-16-byt".to_vec();
        let chap = Auth::Chap {
            id: 3,
            challenge: ch.clone(),
            response: chap_md5_response(3, b"hunter2", &ch),
        };
        assert!(matches!(
            round_trip(&mut s, SECRET, AccessRequest::ppp("bob", chap, "s2", 2)),
            ClientResult::Accept(_)
        ));
        let r = round_trip(
            &mut s,
            SECRET,
            AccessRequest::ppp(
                "alice",
                Auth::Pap {
                    password: b"nope".to_vec(),
                },
                "s3",
                3,
            ),
        );
        assert_eq!(
            r,
            ClientResult::Reject {
                reply_message: Some(b"Authentication failed".to_vec()),
                ms_chap_error: None
            }
        );
        // MS-CHAPv2: the client checks nothing of MS-CHAP2-Success itself; the PPP layer
        // does, so check it here as PPP would.
        let nt = generate_nt_response(
            &MS_AUTH_CHALLENGE,
            &MS_PEER_CHALLENGE,
            b"carol",
            "clientPass",
        );
        let ms = Auth::MsChapV2 {
            ident: 1,
            auth_challenge: MS_AUTH_CHALLENGE,
            peer_challenge: MS_PEER_CHALLENGE,
            nt_response: nt,
            flags: 0,
        };
        let r = round_trip(&mut s, SECRET, AccessRequest::ppp("carol", ms, "s4", 4));
        let ClientResult::Accept(a) = r else {
            panic!("{r:?}")
        };
        let success = a.ms_chap2_success.unwrap();
        assert!(a.mppe_send_key.is_some() && a.mppe_recv_key.is_some());
        assert!(crate::ppp::auth::check_authenticator_response(
            "clientPass",
            &nt,
            &MS_PEER_CHALLENGE,
            &MS_AUTH_CHALLENGE,
            b"carol",
            &success[1..]
        ));
        // A client with the wrong shared secret gets no answer at all: a timeout.
        assert_eq!(
            round_trip(
                &mut s,
                b"wrong",
                AccessRequest::ppp(
                    "alice",
                    Auth::Pap {
                        password: b"secret".to_vec()
                    },
                    "s5",
                    5
                )
            ),
            ClientResult::Timeout
        );
        assert_eq!(s.counters().drop_bad_message_authenticator, 1);
    }

    #[test]
    fn vr_authentication_by_vpn_secret() {
        // The existing VR of VPN 100 authenticates router 10.255.0.2's new VR with CHAP
        // and the VPN's secret; the one holding another VPN's secret is refused.
        let mut v = VpnUsers::new();
        v.set_secret(100, b"secret of VPN 100").unwrap();
        let mut s = RadiusServer::new(Config::default(), v);
        s.add_client(NasClient::new("pe2", "192.0.2.10".parse().unwrap(), 32, SECRET).unwrap())
            .unwrap();
        let user = VpnUsers::user_name(100, "10.255.0.2".parse().unwrap());
        let ch = b"vr-auth-challenge".to_vec();
        let chap = |pw: &[u8]| Auth::Chap {
            id: 1,
            challenge: ch.clone(),
            response: chap_md5_response(1, pw, &ch),
        };
        let r = round_trip(
            &mut s,
            SECRET,
            AccessRequest::ppp(&user, chap(b"secret of VPN 100"), "vr", 1),
        );
        assert!(matches!(r, ClientResult::Accept(_)), "{r:?}");
        let e = s.poll_event().unwrap();
        assert_eq!(
            VpnUsers::parse_user_name(&e.user),
            Some((100, "10.255.0.2".parse().unwrap()))
        );
        let r = round_trip(
            &mut s,
            SECRET,
            AccessRequest::ppp(&user, chap(b"secret of VPN 200"), "vr", 2),
        );
        assert!(matches!(r, ClientResult::Reject { .. }), "{r:?}");
        assert_eq!(
            s.poll_event().unwrap().result,
            Err(RejectReason::WrongPassword)
        );
    }

    proptest::proptest! {
        /// Every VPN id and router id round-trips through the user name.
        #[test]
        fn vpn_user_name_round_trip(vpn in proptest::prelude::any::<u32>(), r in proptest::prelude::any::<[u8; 4]>()) {
            let router = Ipv4Addr::from(r);
            let name = VpnUsers::user_name(vpn, router);
            proptest::prop_assert_eq!(VpnUsers::parse_user_name(name.as_bytes()), Some((vpn, router)));
        }

        /// Any users file text is either a table or an error naming a line; never a panic.
        #[test]
        fn users_file_never_panics(text in "[ -~\t\n=#/]{0,300}") {
            match StaticUsers::from_text(&text) {
                Ok(t) => proptest::prop_assert!(t.len() <= text.lines().count()),
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("users file line ")),
            }
        }

        /// Arbitrary bytes from a known client, signed or not: never a panic, at most one
        /// answer, and every answer verifies against the request.
        #[test]
        fn never_panics(d in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), fix in proptest::prelude::any::<bool>()) {
            let mut s = server();
            let mut d = d;
            if fix && d.len() >= 20 {
                let l = d.len() as u16;
                d[2..4].copy_from_slice(&l.to_be_bytes());
                d[0] = code::ACCESS_REQUEST;
                if let Ok(Some(at)) = crypto::find_message_authenticator(&Packet::new_unchecked(&d[..])) {
                    let ra: [u8; 16] = d[4..20].try_into().unwrap();
                    let m = crypto::message_authenticator(SECRET, &d, &ra, at);
                    d[at..at + 16].copy_from_slice(&m);
                }
            }
            s.handle_datagram(Instant::now(), nas(), &d);
            if let Some(t) = s.poll_transmit() {
                let ra: [u8; 16] = d[4..20].try_into().unwrap();
                proptest::prop_assert!(crypto::verify_response(&t.payload, &ra, SECRET, true).is_ok());
            }
            proptest::prop_assert!(s.poll_transmit().is_none());
        }
    }
}
