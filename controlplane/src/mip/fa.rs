//! The foreign agent (RFC 5944 §3.7, RFC 3012) of the mobile VPN (seed 003, Figs. 4, 25–29).
//!
//! - **Advertisement and challenge** (RFC 3012 §2, §3.2): every [`Fa::advertisement`] carries
//!   a fresh random challenge; a Registration Request must echo one of the last
//!   [`FaConfig::challenge_window`] challenges (104 unknown, 105 missing, 106 older than
//!   [`FaConfig::challenge_lifetime`]), each usable once per mobile node.
//! - **Registration through the AAA** (Fig. 4 ②–⑧): the request (with NAI and MN-AAA) goes
//!   in an AMR to the local AAA (the AAAF); the AMA brings the HA's Registration Reply and the
//!   VPN profiles, the FA sets its tunnels ([`Output::Tunnel`]) and answers the mobile node.
//!   When the AAAF answered a move inside its domain from its cache (no Reply in the AMA,
//!   Figs. 25/28 ③), the FA relays the request to the HA itself (④), with the FA-HA
//!   extension when the AMA gave an FA-HA key.
//! - **Smooth handoff** (Figs. 25–29 ⑥–⑧): when the AMA or the request's Previous FA
//!   Notification names another FA, the new FA sends that FA a Binding Update with the VPN
//!   profile rewritten old FA → new FA, waits for the Binding Acknowledge, then answers the
//!   mobile node. As the old FA, it takes such a BU (authenticated with the FA–FA
//!   association), tears down the visitor's tunnels, sets the old → new forwarding tunnel for
//!   the BU's lifetime and acknowledges.
//!
//! Reply codes it sends itself (RFC 5944 §3.4, RFC 3012): 65 (AAA refused the VPN), 66 (visitor
//! list full), 67 (MN authentication failed at the AAA, or no MN-AAA extension), 68 (the HA's
//! FA-HA authenticator did not verify), 69 (lifetime too long), 70 (poorly formed), 78 (no
//! answer from the AAA or the HA), 104/105/106 (challenge).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::{CryptoRng, Rng};
use vpndb::model::{KeyBytes, SaKeys, SecurityType, VpnCacheProfile};

use super::auth::{self, seal};
use super::ha::{build_ba, build_bu};
use super::tunnel::{TunnelEvent, TunnelRole, TunnelSpec};
use super::wire::advert::{self, Advertisement};
use super::wire::binding::{self, BindingAck, BindingUpdate};
use super::wire::ext::{kind, Extension};
use super::wire::msg_type;
use super::wire::ntp::NtpClock;
use super::wire::registration::{code, Reply, Request};
use super::{agent_port, unknown_critical, vpn_profiles, Output, Sa};
use crate::aaa::client::{FaClient, FaEvent};
use crate::aaa::Token;
use crate::diameter::mip4::{Ama, Amr, Route};
use crate::diameter::wire::codes::result;
use crate::diameter::wire::Message;

/// Configuration of a foreign agent.
#[derive(Debug, Clone)]
pub struct FaConfig {
    /// The FA's address: the care-of address it advertises.
    pub address: Ipv4Addr,
    /// Diameter Origin-Host.
    pub origin_host: String,
    /// Diameter Origin-Realm (its domain; the AAAF's realm).
    pub realm: String,
    /// Most visitors.
    pub max_visitors: usize,
    /// Longest lifetime accepted (advertised as the registration lifetime).
    pub max_lifetime: u16,
    /// Challenge length in bytes (RFC 3012: at least 4; 4–255 used).
    pub challenge_len: usize,
    /// How many recent challenges are accepted.
    pub challenge_window: usize,
    /// Age after which a challenge is stale.
    pub challenge_lifetime: Duration,
    /// Wait for the AMA.
    pub aaa_timeout: Duration,
    /// Wait for the HA's Reply (relayed requests) and for the old FA's BA.
    pub peer_timeout: Duration,
    /// How long the old FA forwards to the new one after a handoff (BU lifetime, seconds).
    pub handoff_lifetime: u16,
    /// As the old FA: how much earlier than the new FA's time of the mobile node's request
    /// (the BU's Identification) the replay of what was delivered on the link starts
    /// ([`Output::Replay`]). Covers how long before its request the node may have left the
    /// old link (its link-layer handoff), the request's way to the new FA and the FAs'
    /// clock difference; what the node received in that margin reaches it twice (default
    /// 10 ms: a lost packet costs more than a duplicate).
    pub handoff_replay_margin: Duration,
    /// Our NTP clock (Identification of the BUs we send).
    pub clock: NtpClock,
    /// Which tunnels the data plane can build (others: 65, `tunnel_unsupported`).
    pub tunnel_support: super::tunnel::TunnelSupport,
}

impl FaConfig {
    /// Defaults for the FA at `address` in `realm`.
    pub fn new(address: Ipv4Addr, origin_host: &str, realm: &str, clock: NtpClock) -> Self {
        FaConfig {
            address,
            origin_host: origin_host.into(),
            realm: realm.into(),
            max_visitors: 100_000,
            max_lifetime: 3600,
            challenge_len: 16,
            challenge_window: 4,
            challenge_lifetime: Duration::from_secs(10),
            aaa_timeout: Duration::from_secs(5),
            peer_timeout: Duration::from_secs(2),
            handoff_lifetime: 10,
            handoff_replay_margin: DEFAULT_REPLAY_MARGIN,
            clock,
            tunnel_support: super::tunnel::any_tunnel,
        }
    }
}

/// The default of [`FaConfig::handoff_replay_margin`] (the profile's too).
pub const DEFAULT_REPLAY_MARGIN: Duration = Duration::from_millis(10);

/// Counters of the FA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaCounters {
    /// Registration Requests from mobile nodes.
    pub rx_requests: u64,
    /// Replies sent to mobile nodes that accept.
    pub accepted: u64,
    /// Denials sent to mobile nodes, by code (the FA's own and the HA's).
    pub denied: std::collections::BTreeMap<u8, u64>,
    /// Authenticators that did not verify (FA-HA from the HA, route optimisation from FAs).
    pub bad_authenticator: u64,
    /// Binding Updates with an Identification not above the last one (replays).
    pub replayed: u64,
    /// Visitors whose lifetime ran out.
    pub lifetime_expiries: u64,
    /// Datagrams that do not parse.
    pub malformed: u64,
    /// AMRs sent.
    pub tx_amr: u64,
    /// Requests relayed to the HA directly (AAAF cache answers).
    pub relayed_to_ha: u64,
    /// Binding Updates sent to an old FA.
    pub bu_sent: u64,
    /// Binding Updates taken as the old FA (forwarding set up).
    pub bu_accepted: u64,
    /// Handoffs answered without the old FA's BA.
    pub ba_timeouts: u64,
    /// As the old FA: replays of a moved visitor's last packets asked of the driver.
    pub handoff_replays: u64,
    /// Replies from an HA or BAs that match nothing pending.
    pub unmatched: u64,
    /// Forwarding tunnels that ran out.
    pub forward_expiries: u64,
    /// Registrations refused because the data plane cannot build their tunnels (65).
    pub tunnel_unsupported: u64,
}

/// A mobile node registered through this FA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor {
    /// Its NAI.
    pub nai: String,
    /// Where it sent from (link address and port).
    pub mn: SocketAddrV4,
    /// Its home agent.
    pub home_agent: Ipv4Addr,
    /// Expiry.
    pub expires: Instant,
    /// The VPN profiles the FA acts on.
    pub vpn: Vec<VpnCacheProfile>,
    /// The FA's tunnels for it.
    pub tunnels: Vec<TunnelSpec>,
}

#[derive(Debug, Clone)]
struct Reg {
    mn: SocketAddrV4,
    bytes: Vec<u8>,
    home: Ipv4Addr,
    ha: Ipv4Addr,
    id: u64,
    nai: String,
    old_fa: Option<Ipv4Addr>,
    vpn: Vec<VpnCacheProfile>,
    fa_ha: Option<Sa>,
    /// The reply for the MN once known.
    reply: Vec<u8>,
    lifetime: u16,
    /// When its request reached us (a handoff BU carries it as its Identification).
    received: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Wait {
    Ha(Ipv4Addr, u32),
    Ba(Ipv4Addr, u64),
}

struct Challenge {
    value: Vec<u8>,
    issued: Instant,
    used_by: HashSet<Ipv4Addr>,
}

struct Forward {
    spec: TunnelSpec,
    expires: Instant,
}

/// The foreign agent (see the [module docs](self)).
pub struct Fa<R> {
    cfg: FaConfig,
    rng: R,
    client: FaClient,
    sequence: u16,
    challenges: VecDeque<Challenge>,
    visitors: HashMap<Ipv4Addr, Visitor>,
    visitor_expiries: BTreeSet<(Instant, Ipv4Addr)>,
    aaa_wait: HashMap<Token, Reg>,
    peer_wait: HashMap<Wait, (Reg, Instant)>,
    deadlines: BTreeSet<(Instant, Wait)>,
    forwards: HashMap<Ipv4Addr, Forward>,
    forward_expiries: BTreeSet<(Instant, Ipv4Addr)>,
    fa_peers: HashMap<Ipv4Addr, Sa>,
    bu_last: HashMap<(Ipv4Addr, Ipv4Addr), u64>,
    last_bu_id: u64,
    next_session: u64,
    /// The time of the last input (for the challenges of replies).
    last_now: Instant,
    /// The challenge each mobile node got in our last Reply to it, and when.
    reply_challenges: HashMap<Ipv4Addr, (Vec<u8>, Instant)>,
    out: VecDeque<Output>,
    counters: FaCounters,
}

impl<R: Rng + CryptoRng> Fa<R> {
    /// A foreign agent; `rng` draws the challenges.
    pub fn new(cfg: FaConfig, rng: R) -> Self {
        let client = FaClient::new(&cfg.origin_host, &cfg.realm, cfg.aaa_timeout);
        Fa {
            cfg,
            rng,
            client,
            sequence: 0,
            challenges: VecDeque::new(),
            visitors: HashMap::new(),
            visitor_expiries: BTreeSet::new(),
            aaa_wait: HashMap::new(),
            peer_wait: HashMap::new(),
            deadlines: BTreeSet::new(),
            forwards: HashMap::new(),
            forward_expiries: BTreeSet::new(),
            fa_peers: HashMap::new(),
            bu_last: HashMap::new(),
            last_bu_id: 0,
            next_session: 1,
            last_now: Instant::now(),
            reply_challenges: HashMap::new(),
            out: VecDeque::new(),
            counters: FaCounters::default(),
        }
    }

    /// Provisions the FA–FA association (smooth handoff BUs) with the FA at `fa`.
    pub fn set_fa_peer(&mut self, fa: Ipv4Addr, sa: Sa) {
        self.fa_peers.insert(fa, sa);
    }
    /// The counters.
    pub fn counters(&self) -> &FaCounters {
        &self.counters
    }
    /// The AAA client's counters.
    pub fn aaa_counters(&self) -> &crate::aaa::client::ClientCounters {
        self.client.counters()
    }
    /// The visitor list.
    pub fn visitors(&self) -> impl Iterator<Item = (&Ipv4Addr, &Visitor)> {
        self.visitors.iter()
    }
    /// The visitor with home address `home`.
    pub fn visitor(&self, home: Ipv4Addr) -> Option<&Visitor> {
        self.visitors.get(&home)
    }
    /// The handoff forwarding tunnel for `home`, while it lasts.
    pub fn forwarding(&self, home: Ipv4Addr) -> Option<&TunnelSpec> {
        self.forwards.get(&home).map(|f| &f.spec)
    }
    /// Registrations in progress.
    pub fn pending(&self) -> usize {
        self.aaa_wait.len() + self.peer_wait.len()
    }
    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    /// When to call [`Fa::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.client.poll_timeout(),
            self.visitor_expiries.first().map(|e| e.0),
            self.deadlines.first().map(|e| e.0),
            self.forward_expiries.first().map(|e| e.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// An Agent Advertisement with a fresh challenge (ICMP bytes, for the driver to send to
    /// 224.0.0.1 or 255.255.255.255 on the access link).
    pub fn advertisement(&mut self, now: Instant) -> Vec<u8> {
        self.last_now = now;
        let c = self.new_challenge(now);
        self.sequence = self.sequence.wrapping_add(1);
        let adv = Advertisement {
            code: advert::CODE_MOBILITY_ONLY,
            lifetime: 3 * 60,
            routers: vec![(self.cfg.address, 0)],
            sequence: self.sequence,
            registration_lifetime: self.cfg.max_lifetime,
            flags: advert::flags::R | advert::flags::F,
            care_of: vec![self.cfg.address],
            prefix_lengths: None,
            challenge: Some(c),
            unknown: Vec::new(),
        };
        adv.emit()
            .expect("one care-of address and a short challenge always encode")
    }

    /// A Diameter answer to one of our AMRs.
    pub fn handle_aaa_answer(&mut self, now: Instant, token: Token, msg: Message) {
        self.last_now = now;
        self.client.handle_answer(now, token, msg);
        self.pump(now);
    }
    /// One of our AMRs could not be delivered.
    pub fn handle_aaa_send_failed(&mut self, now: Instant, token: Token) {
        self.last_now = now;
        self.client.handle_send_failed(now, token);
        self.pump(now);
    }

    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.client.poll_output() {
            self.out.push_back(Output::Aaa(o));
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                FaEvent::Answer { token, ama } => self.on_ama(now, token, *ama),
                FaEvent::Failed { token, why } => {
                    if let Some(r) = self.aaa_wait.remove(&token) {
                        tracing::debug!(%why, home = %r.home, "mip fa: no AMA");
                        self.deny(&r, code::FA_TIMEOUT);
                    }
                }
            }
        }
    }

    /// A datagram to UDP 434 from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV4, bytes: &[u8]) {
        self.last_now = now;
        match bytes.first() {
            Some(&msg_type::REGISTRATION_REQUEST) => self.request(now, from, bytes),
            Some(&msg_type::REGISTRATION_REPLY) => self.ha_reply(now, *from.ip(), bytes),
            Some(&msg_type::BINDING_UPDATE) => self.binding_update(now, from, bytes),
            Some(&msg_type::BINDING_ACK) => self.binding_ack(now, *from.ip(), bytes),
            _ => self.counters.malformed += 1,
        }
    }

    /// Answers a mobile node, with a fresh challenge appended (RFC 3012 §3.3: the FA may
    /// put the MN-FA Challenge of the MN's next registration in its Reply, after every
    /// authentication extension; the HA's MN-HA authenticator does not cover it). A mobile
    /// node that has heard no advertisement (a host-socket agent has none) learns a challenge
    /// from its first refusal (105).
    fn reply_to(&mut self, mn: SocketAddrV4, mut bytes: Vec<u8>) {
        let c = bytes.get(1).copied().unwrap_or(code::FA_UNSPECIFIED);
        if code::accepted(c) {
            self.counters.accepted += 1;
        } else {
            *self.counters.denied.entry(c).or_insert(0) += 1;
        }
        let home = Reply::parse(&bytes).map(|r| r.home_address).ok();
        // Bounded like the visitor list: beyond it, Replies carry no challenge.
        if let Some(home) = home.filter(|h| {
            self.reply_challenges.contains_key(h)
                || self.reply_challenges.len() < self.cfg.max_visitors
        }) {
            let mut c = vec![0u8; self.cfg.challenge_len.clamp(4, 255)];
            self.rng.fill_bytes(&mut c);
            if Extension::Challenge(c.clone()).emit(&mut bytes).is_ok() {
                self.reply_challenges.insert(home, (c, self.last_now));
            }
        }
        self.out.push_back(Output::Send { to: mn, bytes });
    }

    /// A fresh challenge for an advertisement, remembered in the window.
    fn new_challenge(&mut self, now: Instant) -> Vec<u8> {
        let mut c = vec![0u8; self.cfg.challenge_len.clamp(4, 255)];
        self.rng.fill_bytes(&mut c);
        self.challenges.push_back(Challenge {
            value: c.clone(),
            issued: now,
            used_by: HashSet::new(),
        });
        while self.challenges.len() > self.cfg.challenge_window.max(1) {
            self.challenges.pop_front();
        }
        c
    }

    fn deny_req(&mut self, mn: SocketAddrV4, req: &Request, c: u8) {
        let r = Reply {
            code: c,
            lifetime: 0,
            home_address: req.home_address,
            home_agent: req.home_agent,
            identification: req.identification,
            extensions: Vec::new(),
        };
        tracing::debug!(home = %req.home_address, code = c, "mip fa: registration denied");
        self.reply_to(mn, r.fixed());
    }

    fn deny(&mut self, r: &Reg, c: u8) {
        let rep = Reply {
            code: c,
            lifetime: 0,
            home_address: r.home,
            home_agent: r.ha,
            identification: r.id,
            extensions: Vec::new(),
        };
        self.reply_to(r.mn, rep.fixed());
    }

    fn check_challenge(&mut self, now: Instant, req: &Request) -> Result<(), u8> {
        let got = req.extensions.iter().find_map(|l| match &l.ext {
            Extension::Challenge(c) => Some(c.as_slice()),
            _ => None,
        });
        let Some(got) = got else {
            return Err(code::FA_MISSING_CHALLENGE);
        };
        let life = self.cfg.challenge_lifetime;
        // The challenge of our last Reply to this mobile node (RFC 3012 §3.3), once.
        if self
            .reply_challenges
            .get(&req.home_address)
            .is_some_and(|(c, _)| c.as_slice() == got)
        {
            let (_, issued) = self
                .reply_challenges
                .remove(&req.home_address)
                .expect("checked above");
            if now.saturating_duration_since(issued) > life {
                return Err(code::FA_STALE_CHALLENGE);
            }
            return Ok(());
        }
        let Some(c) = self.challenges.iter_mut().find(|c| c.value == got) else {
            return Err(code::FA_UNKNOWN_CHALLENGE);
        };
        if now.saturating_duration_since(c.issued) > life {
            return Err(code::FA_STALE_CHALLENGE);
        }
        if !c.used_by.insert(req.home_address) {
            return Err(code::FA_UNKNOWN_CHALLENGE);
        }
        Ok(())
    }

    fn request(&mut self, now: Instant, mn: SocketAddrV4, bytes: &[u8]) {
        self.counters.rx_requests += 1;
        let req = match Request::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!(error = %e, "mip fa: malformed Registration Request dropped");
                return;
            }
        };
        if unknown_critical(&req.extensions).is_some() {
            return self.deny_req(mn, &req, code::FA_POORLY_FORMED_REQUEST);
        }
        if req.lifetime > self.cfg.max_lifetime {
            return self.deny_req(mn, &req, code::FA_LIFETIME_TOO_LONG);
        }
        if let Err(c) = self.check_challenge(now, &req) {
            return self.deny_req(mn, &req, c);
        }
        let Some(nai) = req.nai().map(str::to_owned) else {
            return self.deny_req(mn, &req, code::FA_POORLY_FORMED_REQUEST);
        };
        let Some(realm) = nai
            .split_once('@')
            .map(|(_, r)| r.to_owned())
            .filter(|r| !r.is_empty())
        else {
            return self.deny_req(mn, &req, code::FA_POORLY_FORMED_REQUEST);
        };
        let mn_aaa = match auth::mn_aaa_diameter(bytes) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "mip fa: no usable MN-AAA extension");
                return self.deny_req(mn, &req, code::FA_MN_AUTH_FAILED);
            }
        };
        if !self.visitors.contains_key(&req.home_address)
            && self.visitors.len() + self.aaa_wait.len() >= self.cfg.max_visitors
        {
            return self.deny_req(mn, &req, code::FA_NO_RESOURCES);
        }
        let prev = req
            .extensions
            .iter()
            .find_map(|l| l.ext.as_prev_fa())
            .and_then(Result::ok)
            .map(|(a, _)| a)
            .filter(|a| *a != self.cfg.address);
        let session_id = format!("{};{};{}", self.cfg.origin_host, nai, self.next_session);
        self.next_session += 1;
        let amr = Amr {
            session_id,
            route: Route {
                origin_host: self.cfg.origin_host.clone(),
                origin_realm: self.cfg.realm.clone(),
                destination_realm: realm,
                destination_host: None,
            },
            user_name: nai.clone(),
            reg_request: bytes.to_vec(),
            mn_aaa_auth: mn_aaa,
            mn_address: Some(req.home_address),
            ha_address: Some(req.home_agent),
            feature_vector: None,
            originating_foreign_aaa: None,
            authorization_lifetime: Some(u32::from(req.lifetime)),
            auth_session_state: None,
            ha_to_fa_spi: None,
            old_fa: prev,
            // Fig. 30 ③: the MN's Service-Update request goes to the AAAH in the AMR.
            service_update: req.extensions.iter().any(|l| l.ext.is_service_update()),
            route_record: Vec::new(),
        };
        self.counters.tx_amr += 1;
        let token = self.client.send_amr(now, &amr);
        self.aaa_wait.insert(
            token,
            Reg {
                mn,
                bytes: bytes.to_vec(),
                home: req.home_address,
                ha: req.home_agent,
                id: req.identification,
                nai,
                old_fa: prev,
                vpn: Vec::new(),
                fa_ha: None,
                reply: Vec::new(),
                lifetime: req.lifetime,
                received: now,
            },
        );
        self.pump(now);
    }

    fn on_ama(&mut self, now: Instant, token: Token, ama: Ama) {
        let Some(mut r) = self.aaa_wait.remove(&token) else {
            self.counters.unmatched += 1;
            return;
        };
        r.vpn = ama.vpn.map(|v| v.profiles).unwrap_or_default();
        r.fa_ha = ama.fa_to_ha_msa.map(|m| Sa {
            spi: m.spi,
            key: m.key,
        });
        if r.old_fa.is_none() {
            r.old_fa = ama.old_fa.filter(|a| *a != self.cfg.address);
        }
        if ama.result_code != result::SUCCESS {
            if let Some(rep) = ama.reg_reply {
                if Reply::parse(&rep).is_ok() {
                    return self.reply_to(r.mn, rep);
                }
            }
            let c = match ama.result_code {
                result::AUTHENTICATION_REJECTED => code::FA_MN_AUTH_FAILED,
                result::AUTHORIZATION_REJECTED => code::FA_PROHIBITED,
                _ => code::FA_TIMEOUT,
            };
            return self.deny(&r, c);
        }
        match ama.reg_reply {
            Some(rep) => self.on_reply(now, r, rep),
            None => self.relay_to_ha(now, r),
        }
    }

    /// Figs. 25/28 ④: the AAAF answered from its cache; register with the HA directly.
    fn relay_to_ha(&mut self, now: Instant, r: Reg) {
        let bytes = match &r.fa_ha {
            Some(sa) => {
                let Ok(req) = Request::parse(&r.bytes) else {
                    return self.deny(&r, code::FA_POORLY_FORMED_REQUEST);
                };
                let mut exts: Vec<Extension> =
                    req.extensions.iter().map(|l| l.ext.clone()).collect();
                exts.push(auth::auth_placeholder(kind::FA_HA_AUTH, sa.spi));
                let n = exts.len() - 1;
                match seal(req.fixed(), &exts, n, |c| auth::hmac_md5(&sa.key, c)) {
                    Ok(b) => b,
                    Err(_) => return self.deny(&r, code::FA_POORLY_FORMED_REQUEST),
                }
            }
            None => r.bytes.clone(),
        };
        self.counters.relayed_to_ha += 1;
        let w = Wait::Ha(r.home, r.id as u32);
        let d = now + self.cfg.peer_timeout;
        self.out.push_back(Output::Send {
            to: agent_port(r.ha),
            bytes,
        });
        self.deadlines.insert((d, w));
        if let Some((old, od)) = self.peer_wait.insert(w, (r, d)) {
            self.deadlines.remove(&(od, w));
            self.deny(&old, code::FA_UNSPECIFIED);
        }
    }

    fn ha_reply(&mut self, now: Instant, from: Ipv4Addr, bytes: &[u8]) {
        let Ok(rep) = Reply::parse(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let w = Wait::Ha(rep.home_address, rep.identification as u32);
        let Some((r, d)) = self.peer_wait.remove(&w) else {
            self.counters.unmatched += 1;
            return;
        };
        self.deadlines.remove(&(d, w));
        if from != r.ha {
            self.counters.unmatched += 1;
            self.peer_wait.insert(w, (r, d));
            self.deadlines.insert((d, w));
            return;
        }
        if let Some(sa) = &r.fa_ha {
            if auth::verify_hmac(bytes, &rep.extensions, kind::FA_HA_AUTH, &sa.key).is_err()
                && rep.extensions.iter().any(|l| {
                    matches!(
                        l.ext,
                        Extension::Auth {
                            kind: kind::FA_HA_AUTH,
                            ..
                        }
                    )
                })
            {
                self.counters.bad_authenticator += 1;
                return self.deny(&r, code::FA_HA_AUTH_FAILED);
            }
        }
        self.on_reply(now, r, bytes.to_vec());
    }

    /// The HA's reply is here: install the visitor, hand off, answer the MN.
    fn on_reply(&mut self, now: Instant, mut r: Reg, rep: Vec<u8>) {
        let parsed = match Reply::parse(&rep) {
            Ok(p) => p,
            Err(_) => {
                self.counters.malformed += 1;
                return self.deny(&r, code::FA_POORLY_FORMED_REPLY);
            }
        };
        if !code::accepted(parsed.code) {
            return self.reply_to(r.mn, rep);
        }
        r.lifetime = parsed.lifetime;
        r.reply = rep;
        if parsed.lifetime == 0 {
            self.drop_visitor(r.home);
            return self.reply_to(r.mn, r.reply);
        }
        if let Some(why) = self
            .tunnels_of(&r)
            .iter()
            .find_map(|t| (self.cfg.tunnel_support)(t).err())
        {
            // The HA accepted; its binding ends with its lifetime (or the MN's next
            // registration elsewhere).
            self.counters.tunnel_unsupported += 1;
            tracing::warn!(home = %r.home, "mip fa: registration refused: {why}");
            return self.deny(&r, code::FA_PROHIBITED);
        }
        self.install(now, &r);
        match r.old_fa {
            Some(old) => self.handoff(now, r, old),
            None => self.reply_to(r.mn, r.reply),
        }
    }

    /// The FA's tunnels for registration `r`: per profile with the FA at one end, and the
    /// plain Mobile IP tunnel to the HA when no profile's tunnel goes to the HA — the HA's
    /// rule for its end (a user whose profiles all lead to PCNs still gets the HA's plain
    /// tunnel to the care-of address, whose traffic this end must take).
    fn tunnels_of(&self, r: &Reg) -> Vec<TunnelSpec> {
        let me = self.cfg.address;
        let mut tunnels: Vec<TunnelSpec> = r
            .vpn
            .iter()
            .filter_map(|p| {
                let remote = if p.src_gw == me {
                    p.dst_gw
                } else if p.dst_gw == me {
                    p.src_gw
                } else {
                    return None;
                };
                Some(TunnelSpec::from_profile(
                    r.home,
                    TunnelRole::ForeignToGw,
                    me,
                    remote,
                    p,
                    true,
                ))
            })
            .collect();
        if !tunnels.iter().any(|t| t.remote == r.ha) {
            tunnels.push(TunnelSpec::plain(r.home, TunnelRole::ForeignToGw, me, r.ha));
        }
        tunnels
    }

    fn install(&mut self, now: Instant, r: &Reg) {
        let tunnels = self.tunnels_of(r);
        let old = self.visitors.remove(&r.home);
        if let Some(o) = &old {
            self.visitor_expiries.remove(&(o.expires, r.home));
        }
        let before = old.as_ref().map_or(&[][..], |o| &o.tunnels[..]);
        self.out.extend(
            super::tunnel::changes(before, &tunnels)
                .into_iter()
                .map(Output::Tunnel),
        );
        let expires = now + Duration::from_secs(u64::from(r.lifetime));
        self.visitor_expiries.insert((expires, r.home));
        self.visitors.insert(
            r.home,
            Visitor {
                nai: r.nai.clone(),
                mn: r.mn,
                home_agent: r.ha,
                expires,
                vpn: r.vpn.clone(),
                tunnels,
            },
        );
    }

    /// Fig. 26 ⑥: BU to the old FA with the profiles rewritten old FA → new FA.
    fn handoff(&mut self, now: Instant, r: Reg, old: Ipv4Addr) {
        let Some(sa) = self.fa_peers.get(&old).cloned() else {
            tracing::warn!(%old, "mip fa: no FA-FA association with the old FA; no smooth handoff");
            return self.reply_to(r.mn, r.reply);
        };
        let me = self.cfg.address;
        let profiles: Vec<VpnCacheProfile> = r
            .vpn
            .iter()
            .filter(|p| p.src_gw == me || p.dst_gw == me)
            .map(|p| {
                let mut p = p.clone();
                p.src_gw = old;
                p.dst_gw = me;
                if p.security == SecurityType::Esp {
                    self.forwarding_sa(&mut p);
                }
                p
            })
            .collect();
        let refs: Vec<&VpnCacheProfile> = profiles.iter().collect();
        // Our end of the forwarding tunnel (the old FA takes the first profile, as here):
        // goes with the visitor. `install` has just set the visitor's tunnels to this
        // registration's, which hold no earlier receiving end (it went down there).
        let recv = match profiles.first() {
            Some(p) => {
                TunnelSpec::from_profile(r.home, TunnelRole::HandoffReceive, me, old, p, true)
            }
            None => TunnelSpec::plain(r.home, TunnelRole::HandoffReceive, me, old),
        };
        if let Some(v) = self.visitors.get_mut(&r.home) {
            v.tunnels.push(recv.clone());
            self.out.push_back(Output::Tunnel(TunnelEvent::Up(recv)));
        }
        // The Identification is our time of the node's request (when it left the old link,
        // give or take its way here): the old FA replays what it delivered since then.
        let id = self.cfg.clock.at(r.received).max(self.last_bu_id + 1);
        self.last_bu_id = id;
        let bytes = match build_bu(r.home, me, self.cfg.handoff_lifetime, id, &refs, &sa) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "mip fa: handoff BU not encodable");
                return self.reply_to(r.mn, r.reply);
            }
        };
        self.counters.bu_sent += 1;
        self.out.push_back(Output::Send {
            to: agent_port(old),
            bytes,
        });
        let w = Wait::Ba(old, id);
        let d = now + self.cfg.peer_timeout;
        self.deadlines.insert((d, w));
        self.peer_wait.insert(w, (r, d));
    }

    /// Gives the forwarding tunnel of a handoff (old FA → us) an SA pair of its own: fresh
    /// SPIs (2^31 and up, clear of provisioned ones) and fresh keys of the profile's key
    /// length (16 bytes for the SLA's default SA, which has none in the profile). Sharing
    /// the down SA with the HA would put two senders with their own sequence numbers — the
    /// GCM IVs — under one key (nonce reuse) and into one replay window (the old FA's
    /// packets dropped as replays). The BU carries them, as it carries the profile's keys.
    fn forwarding_sa(&mut self, p: &mut VpnCacheProfile) {
        let len = match p.keys.down_enc.as_bytes().len() {
            16 | 32 => p.keys.down_enc.as_bytes().len(),
            _ => 16,
        };
        let mut key = || {
            let mut k = vec![0u8; len];
            self.rng.fill_bytes(&mut k);
            KeyBytes::new(k)
        };
        p.keys = SaKeys {
            up_enc: key(),
            down_enc: key(),
            up_auth: KeyBytes::default(),
            down_auth: KeyBytes::default(),
        };
        p.up_spi = 0x8000_0000 | self.rng.next_u32();
        p.down_spi = 0x8000_0000 | (self.rng.next_u32() ^ 1);
        if p.down_spi == p.up_spi {
            p.down_spi ^= 1;
        }
    }

    fn binding_ack(&mut self, _now: Instant, from: Ipv4Addr, bytes: &[u8]) {
        let Ok(ba) = BindingAck::parse(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(sa) = self.fa_peers.get(&from) else {
            self.counters.bad_authenticator += 1;
            return;
        };
        if auth::verify_hmac(bytes, &ba.extensions, kind::RO_AUTH, &sa.key).is_err() {
            self.counters.bad_authenticator += 1;
            return;
        }
        let w = Wait::Ba(from, ba.identification);
        let Some((r, d)) = self.peer_wait.remove(&w) else {
            self.counters.unmatched += 1;
            return;
        };
        self.deadlines.remove(&(d, w));
        if ba.status >= binding::status::UNSPECIFIED {
            tracing::warn!(old = %from, status = ba.status, "mip fa: old FA refused the handoff");
        }
        self.reply_to(r.mn, r.reply);
    }

    /// As the old FA: a new FA's BU (Fig. 26 ⑥–⑦).
    fn binding_update(&mut self, now: Instant, from: SocketAddrV4, bytes: &[u8]) {
        let bu = match BindingUpdate::parse(bytes) {
            Ok(b) => b,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let Some(sa) = self.fa_peers.get(from.ip()).cloned() else {
            self.counters.bad_authenticator += 1;
            tracing::debug!(from = %from, "mip fa: BU from an FA without an association");
            return;
        };
        if auth::verify_hmac(bytes, &bu.extensions, kind::RO_AUTH, &sa.key).is_err() {
            self.counters.bad_authenticator += 1;
            return;
        }
        let key = (*from.ip(), bu.home_address);
        if self
            .bu_last
            .get(&key)
            .is_some_and(|l| bu.identification <= *l)
        {
            self.counters.replayed += 1;
            return;
        }
        let profiles = match vpn_profiles(&bu.extensions) {
            Ok(p) if unknown_critical(&bu.extensions).is_none() => p,
            _ => {
                self.counters.malformed += 1;
                if let Ok(b) = build_ba(
                    binding::status::POORLY_FORMED,
                    bu.home_address,
                    0,
                    bu.identification,
                    &sa,
                ) {
                    self.out.push_back(Output::Send {
                        to: agent_port(*from.ip()),
                        bytes: b,
                    });
                }
                return;
            }
        };
        self.bu_last.insert(key, bu.identification);
        self.counters.bu_accepted += 1;
        let forwarding = bu.lifetime > 0 && bu.care_of_address != self.cfg.address;
        if forwarding && self.visitors.contains_key(&bu.home_address) {
            // The node left when it sent its request: the new FA's time of it, less the
            // margin, mapped onto our clock (a time ahead of ours is taken as now).
            let now_ntp = self.cfg.clock.at(now);
            let ago = if bu.identification <= now_ntp {
                super::wire::ntp::distance(now_ntp, bu.identification)
            } else {
                Duration::ZERO
            };
            let since = now
                .checked_sub(ago + self.cfg.handoff_replay_margin)
                .unwrap_or(now);
            self.counters.handoff_replays += 1;
            self.out.push_back(Output::Replay {
                home: bu.home_address,
                since,
            });
        }
        self.drop_visitor(bu.home_address);
        let me = self.cfg.address;
        let spec = match profiles.first() {
            Some(p) => TunnelSpec::from_profile(
                bu.home_address,
                TunnelRole::Handoff,
                me,
                bu.care_of_address,
                p,
                false,
            ),
            None => TunnelSpec::plain(bu.home_address, TunnelRole::Handoff, me, bu.care_of_address),
        };
        if let Some(f) = self.forwards.remove(&bu.home_address) {
            self.forward_expiries.remove(&(f.expires, bu.home_address));
            self.out
                .push_back(Output::Tunnel(TunnelEvent::Down(f.spec)));
        }
        if forwarding {
            let expires = now + Duration::from_secs(u64::from(bu.lifetime));
            self.out
                .push_back(Output::Tunnel(TunnelEvent::Up(spec.clone())));
            self.forward_expiries.insert((expires, bu.home_address));
            self.forwards
                .insert(bu.home_address, Forward { spec, expires });
        }
        if let Ok(b) = build_ba(
            binding::status::ACCEPTED,
            bu.home_address,
            bu.lifetime,
            bu.identification,
            &sa,
        ) {
            self.out.push_back(Output::Send {
                to: agent_port(*from.ip()),
                bytes: b,
            });
        }
    }

    fn drop_visitor(&mut self, home: Ipv4Addr) {
        if let Some(v) = self.visitors.remove(&home) {
            self.visitor_expiries.remove(&(v.expires, home));
            for t in v.tunnels {
                self.out.push_back(Output::Tunnel(TunnelEvent::Down(t)));
            }
        }
    }

    /// Runs the timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.client.handle_timeout(now);
        self.pump(now);
        while let Some(&(t, home)) = self.visitor_expiries.first() {
            if t > now {
                break;
            }
            self.visitor_expiries.pop_first();
            if self.visitors.get(&home).is_some_and(|v| v.expires == t) {
                self.counters.lifetime_expiries += 1;
                self.drop_visitor(home);
            }
        }
        while let Some(&(t, home)) = self.forward_expiries.first() {
            if t > now {
                break;
            }
            self.forward_expiries.pop_first();
            if let Some(f) = self.forwards.remove(&home) {
                self.counters.forward_expiries += 1;
                self.out
                    .push_back(Output::Tunnel(TunnelEvent::Down(f.spec)));
            }
        }
        while let Some(&(t, w)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            let Some((r, _)) = self.peer_wait.remove(&w) else {
                continue;
            };
            match w {
                Wait::Ha(..) => self.deny(&r, code::FA_TIMEOUT),
                Wait::Ba(..) => {
                    // The registration stands; only the forwarding from the old FA is missing.
                    self.counters.ba_timeouts += 1;
                    self.reply_to(r.mn, r.reply);
                }
            }
        }
        // Challenges age out of the window by count; stale ones are refused by age.
    }
}
