//! The home AAA server (AAAH) of the mobile VPN: seed 003 Figs. 9–13.
//!
//! An AMR (S101) starts the AAAVPN control (S102): the user's VPN data are read by NAI
//! (S105, [`Output::Lookup`] → [`Home::handle_lookup`]), the MN-AAA authenticator is
//! checked, the path is determined per destination (S106, Fig. 13):
//!
//! - the destination's gateway is **static** (an enterprise VPNGW whose tunnel to the HA the
//!   SLA fixed): two VPNs, FA→HA (to the FA and the HA) and HA→GW (to the HA only, with the
//!   SLA's SA) — S113;
//! - the gateway is **dynamic** (a PCN): one VPN FA→PCN, to the FA, and to the HA which
//!   posts it to the PCN in a Binding Update — S112;
//! - no CN–GW entry: the FA→HA VPN only (the HA forwards to the CN unprotected).
//!
//! Keys (S108): a profile on the SLA's default SA gets the SLA's SPIs and no keys (the SA
//! is pre-provisioned at the agents); a profile with its own SA gets fresh SPIs (≥ 256) and
//! fresh keys from the injected CSPRNG for its FA-side tunnel, unique per session. The
//! HA→GW tunnel always uses the SLA's SA.
//!
//! The result is the session's VPN information cache entry (Fig. 7), kept per Session-Id
//! (and indexed by NAI). The HAR (with all the profiles, and the old FA on a move) goes to
//! the home agent; its HAA gives the AMA (with the FA's profiles and the old FA). A later
//! AMR of a cached user (re-registration, or a move to another FA — a new Session-Id from a
//! new domain) reuses the entry and rewrites the FA address; a Service-Update AVP
//! (Fig. 30) or an expired entry reads the database again.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::{CryptoRng, Rng};
use vpndb::model::{
    lookup_cn_gw, AddrMask, CnGwEntry, GwType, KeyBytes, SaKeys, SecurityType, Sla, VpnCacheEntry,
    VpnCacheProfile, VpnProfile, MIN_SPI,
};

use super::{error_answer, precheck, Dest, Output, ReqId, Token};
use crate::diameter::mip4::{Ama, Amr, Haa, Har, Msa, RegRequestInfo, VpnInfo};
use crate::diameter::wire::codes::{auth_session_state, cmd, mip_feature, mip_values, result};
use crate::diameter::wire::{Header, Message};

/// Lengths of generated keys: ESP encryption (AES-128), ESP/AH authentication
/// (HMAC-SHA-1-96 key), the RFC 4004 FA–HA session key (HMAC-SHA-1).
pub const ENC_KEY_LEN: usize = 16;
/// See [`ENC_KEY_LEN`].
pub const AUTH_KEY_LEN: usize = 20;
/// See [`ENC_KEY_LEN`].
pub const MIP_KEY_LEN: usize = 20;

/// AAAH configuration.
#[derive(Debug, Clone)]
pub struct HomeConfig {
    /// Our Origin-Host.
    pub origin_host: String,
    /// Our Origin-Realm (the users' home realm).
    pub origin_realm: String,
    /// Destination-Host of the HAR when the home agent's address has no entry in `ha_hosts`.
    pub default_ha_host: Option<String>,
    /// Diameter identity of each home agent, by its address (Reg Request's Home Agent).
    pub ha_hosts: HashMap<Ipv4Addr, String>,
    /// Authorization-Lifetime granted (seconds); also how long a cache entry lives after
    /// its last registration.
    pub authorization_lifetime: u32,
    /// Refuse a user whose record has no MN-AAA key (else the authenticator is not checked).
    pub require_mn_aaa_auth: bool,
    /// How long a lookup or a HAR may take before the AMR is answered with 3002.
    pub transaction_timeout: Duration,
    /// Most AMRs in progress at once (more are answered DIAMETER_TOO_BUSY, 3004).
    pub max_transactions: usize,
    /// Most cached sessions.
    pub max_sessions: usize,
    /// Report sessions as [`SessionEvent`]s ([`Home::poll_session_event`]): off by default,
    /// because the events queue up until the caller takes them.
    pub session_events: bool,
    /// Authorize a user whose record grants no VPN for plain Mobile IP (the HA's IP-in-IP
    /// tunnel to the care-of address, no ESP, no marking) instead of refusing the AMR with
    /// DIAMETER_AUTHORIZATION_REJECTED (5003). Off by default: a carrier decides whether
    /// its mobile service exists without a VPN.
    pub plain_mobile_ip: bool,
}

impl HomeConfig {
    /// Defaults: lifetime 3600 s, MN-AAA authentication required, 10 s transactions.
    pub fn new(origin_host: &str, origin_realm: &str) -> Self {
        HomeConfig {
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            default_ha_host: None,
            ha_hosts: HashMap::new(),
            authorization_lifetime: 3600,
            require_mn_aaa_auth: true,
            transaction_timeout: Duration::from_secs(10),
            max_transactions: 4096,
            max_sessions: 100_000,
            session_events: false,
            plain_mobile_ip: false,
        }
    }
}

/// What the VPN database says about one NAI (the answer to [`Output::Lookup`]).
#[derive(Debug, Clone, Default)]
pub struct Subscriber {
    /// The user's VPN data instances (Fig. 5); empty: no VPN.
    pub profiles: Vec<VpnProfile>,
    /// The SLAs they name (Fig. 4).
    pub slas: Vec<Sla>,
    /// The CN → GW table (Fig. 8).
    pub cn_gw: Vec<CnGwEntry>,
    /// The MN-AAA shared key (checks MIP-MN-AAA-Auth), if provisioned.
    pub mn_aaa_key: Option<KeyBytes>,
}

/// A change of the AAAH's sessions, for the caller to record (the current tunnels the web
/// page of Fig. 30 shows a user).
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// A registration was answered 2001: the session (new, re-registered or moved) as it is
    /// now.
    Up(Box<Session>),
    /// A session that was reported up is gone: expired, replaced by a newer session of the
    /// same user, re-keyed to another Session-Id, or refused on re-registration.
    Down {
        /// Its Session-Id.
        session_id: String,
    },
}

/// Counters of the AAAH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeCounters {
    pub rx_amr: u64,
    pub tx_ama: u64,
    pub tx_ama_success: u64,
    pub tx_har: u64,
    pub rx_haa: u64,
    pub lookups: u64,
    /// AMRs served from the session cache (no database read).
    pub cache_hits: u64,
    /// AMRs that moved a cached session to another FA.
    pub moves: u64,
    pub service_updates: u64,
    pub unknown_user: u64,
    pub auth_failed: u64,
    pub not_authorized: u64,
    /// Users authorized with no VPN (plain Mobile IP, [`HomeConfig::plain_mobile_ip`]).
    pub plain_authorized: u64,
    pub malformed: u64,
    pub avp_unsupported: u64,
    pub command_unsupported: u64,
    pub timeouts: u64,
    pub send_failed: u64,
    pub too_busy: u64,
    /// Lookups the database could not answer (the AMR is answered 5012).
    pub lookup_failed: u64,
    /// AMRs for another realm (3003).
    pub realm_not_served: u64,
    pub unmatched: u64,
    pub keys_generated: u64,
    pub sessions_expired: u64,
}

/// One cached session (the Fig. 7 instance and what the AAAH needs to redo a HAR).
#[derive(Debug, Clone)]
pub struct Session {
    /// The VPN information cache instance.
    pub entry: VpnCacheEntry,
    /// The FA (care-of address) the profiles point at.
    pub fa: Ipv4Addr,
    /// The home agent.
    pub ha: Ipv4Addr,
    /// The RFC 4004 FA–HA key, when one was requested.
    pub fa_ha: Option<(u32, u32, Vec<u8>)>,
    /// When the entry expires.
    pub expires: Instant,
    /// The user's MN-AAA key as the lookup gave it: re-registrations served from the cache
    /// are authenticated with it too.
    pub mn_aaa_key: Option<KeyBytes>,
}

#[derive(Debug)]
enum Stage {
    Lookup,
    Har { token: Token },
}

#[derive(Debug)]
struct Txn {
    req: ReqId,
    header: Header,
    amr: Amr,
    deadline: Instant,
    stage: Stage,
    /// The FA the session pointed at before (a move).
    old_fa: Option<Ipv4Addr>,
}

/// The AAAH engine (see the [module docs](self)).
pub struct Home<R> {
    cfg: HomeConfig,
    rng: R,
    next_token: Token,
    /// Transactions by lookup token.
    txns: HashMap<Token, Txn>,
    /// HAR token → lookup token.
    har_of: HashMap<Token, Token>,
    deadlines: BTreeSet<(Instant, Token)>,
    sessions: HashMap<String, Session>,
    /// (expiry, Session-Id) of every cached session: the next expiry without a scan.
    expiries: BTreeSet<(Instant, String)>,
    by_nai: HashMap<String, String>,
    out: VecDeque<Output>,
    counters: HomeCounters,
    /// Session-Ids reported [`SessionEvent::Up`] and not yet down.
    reported: std::collections::HashSet<String>,
    session_events: VecDeque<SessionEvent>,
}

impl<R: Rng + CryptoRng> Home<R> {
    /// An AAAH; `rng` generates keys and SPIs (a CSPRNG: `StdRng` seeded from the OS).
    pub fn new(cfg: HomeConfig, rng: R) -> Self {
        Home {
            cfg,
            rng,
            next_token: 1,
            txns: HashMap::new(),
            har_of: HashMap::new(),
            deadlines: BTreeSet::new(),
            sessions: HashMap::new(),
            expiries: BTreeSet::new(),
            by_nai: HashMap::new(),
            out: VecDeque::new(),
            counters: HomeCounters::default(),
            reported: std::collections::HashSet::new(),
            session_events: VecDeque::new(),
        }
    }

    /// The next change of the sessions (only with [`HomeConfig::session_events`]).
    pub fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.session_events.pop_front()
    }

    /// Puts a session in the cache (replacing one of the same Session-Id).
    fn insert_session(&mut self, sid: String, s: Session) {
        self.expiries.insert((s.expires, sid.clone()));
        if let Some(old) = self.sessions.insert(sid.clone(), s) {
            if self
                .sessions
                .get(&sid)
                .is_some_and(|n| n.expires != old.expires)
            {
                self.expiries.remove(&(old.expires, sid));
            }
        }
    }

    /// Takes a session out of the cache without reporting it (it comes back at once).
    fn take_session(&mut self, sid: &str) -> Option<Session> {
        let s = self.sessions.remove(sid)?;
        self.expiries.remove(&(s.expires, sid.to_string()));
        Some(s)
    }

    /// Removes a session from the cache, reporting it down if it was reported up.
    fn remove_session(&mut self, sid: &str) -> Option<Session> {
        let s = self.take_session(sid);
        if self.reported.remove(sid) {
            self.session_events.push_back(SessionEvent::Down {
                session_id: sid.to_string(),
            });
        }
        s
    }

    /// The counters.
    pub fn counters(&self) -> &HomeCounters {
        &self.counters
    }
    /// The VPN information cache instance of a session.
    pub fn session(&self, session_id: &str) -> Option<&Session> {
        self.sessions.get(session_id)
    }
    /// Cached sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
    /// AMRs in progress.
    pub fn pending(&self) -> usize {
        self.txns.len()
    }
    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    /// When to call [`Home::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.deadlines.first().map(|d| d.0);
        let s = self.expiries.first().map(|e| e.0);
        match (t, s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn token(&mut self) -> Token {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    fn answer_error(
        &mut self,
        req: ReqId,
        msg: &Message,
        code: u32,
        err: Option<&crate::diameter::mip4::MsgError>,
    ) {
        self.counters.tx_ama += 1;
        let a = error_answer(
            msg,
            &self.cfg.origin_host,
            &self.cfg.origin_realm,
            code,
            err,
        );
        self.out.push_back(Output::Answer { req, msg: a });
    }

    /// A request from a peer (S100/S101: dispatched by Command-Code).
    pub fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        if let Err((code, err)) = precheck(&msg) {
            if code == result::AVP_UNSUPPORTED {
                self.counters.avp_unsupported += 1;
            }
            self.answer_error(req, &msg, code, err.as_ref());
            return;
        }
        match msg.header.command {
            cmd::AA_MOBILE_NODE => self.on_amr(now, req, msg),
            _ => {
                self.counters.command_unsupported += 1;
                self.answer_error(req, &msg, result::COMMAND_UNSUPPORTED, None);
            }
        }
    }

    fn on_amr(&mut self, now: Instant, req: ReqId, msg: Message) {
        self.counters.rx_amr += 1;
        let amr = match Amr::parse(&msg) {
            Ok(a) => a,
            Err(e) => {
                self.counters.malformed += 1;
                self.answer_error(req, &msg, e.result_code, Some(&e));
                return;
            }
        };
        if RegRequestInfo::parse(&amr.reg_request).is_none() {
            self.counters.malformed += 1;
            let e = crate::diameter::mip4::MsgError {
                result_code: result::INVALID_AVP_VALUE,
                failed_avp: msg
                    .find(crate::diameter::wire::codes::code::MIP_REG_REQUEST)
                    .cloned(),
                why: "MIP-Reg-Request is not a Registration Request".into(),
            };
            self.answer_error(req, &msg, e.result_code, Some(&e));
            return;
        }
        if amr.route.destination_realm != self.cfg.origin_realm {
            self.counters.realm_not_served += 1;
            self.answer_error(req, &msg, result::REALM_NOT_SERVED, None);
            return;
        }
        if self.txns.len() >= self.cfg.max_transactions {
            self.counters.too_busy += 1;
            self.answer_error(req, &msg, result::TOO_BUSY, None);
            return;
        }
        let token = self.token();
        let deadline = now + self.cfg.transaction_timeout;
        // A cached user (same session, or the same NAI from a new FA/session) is served
        // from the cache unless the service update asks to re-read the database.
        let cached = self
            .sessions
            .get(&amr.session_id)
            .map(|_| amr.session_id.clone())
            .or_else(|| self.by_nai.get(&amr.user_name).cloned())
            .filter(|sid| self.sessions.get(sid).is_some_and(|s| s.expires > now));
        if amr.service_update {
            self.counters.service_updates += 1;
        }
        let txn = Txn {
            req,
            header: msg.header,
            amr,
            deadline,
            stage: Stage::Lookup,
            old_fa: None,
        };
        self.txns.insert(token, txn);
        self.deadlines.insert((deadline, token));
        match cached {
            Some(sid) if !self.txns[&token].amr.service_update => {
                // Served from the cache, but never without the mobile node's authenticator:
                // the MN-AAA key of the session's lookup checks this request too.
                let key = self.sessions.get(&sid).and_then(|s| s.mn_aaa_key.clone());
                if !self.authenticate_with(&self.txns[&token].amr, key.as_ref()) {
                    self.counters.auth_failed += 1;
                    self.fail(
                        token,
                        result::AUTHENTICATION_REJECTED,
                        "authentication rejected",
                    );
                    return;
                }
                self.counters.cache_hits += 1;
                self.serve_cached(now, token, &sid);
            }
            _ => {
                self.counters.lookups += 1;
                let nai = self.txns[&token].amr.user_name.clone();
                self.out.push_back(Output::Lookup { token, nai });
            }
        }
    }

    /// Re-registration or move of a cached session: re-key it to the AMR's Session-Id and
    /// rewrite the FA address.
    fn serve_cached(&mut self, now: Instant, token: Token, sid: &str) {
        // The same Session-Id again (a re-registration) stays reported; a new one ends the old.
        let same = self
            .txns
            .get(&token)
            .is_some_and(|t| t.amr.session_id == sid);
        let s = if same {
            self.take_session(sid)
        } else {
            self.remove_session(sid)
        };
        let Some(mut s) = s else {
            return;
        };
        let txn = self
            .txns
            .get_mut(&token)
            .expect("transaction just inserted");
        let info = RegRequestInfo::parse(&txn.amr.reg_request).expect("checked on arrival");
        let new_fa = info.care_of_address;
        if new_fa != s.fa {
            self.counters.moves += 1;
            txn.old_fa = Some(s.fa);
            for p in &mut s.entry.profiles {
                if p.src_gw == s.fa {
                    p.src_gw = new_fa;
                }
                if p.dst_gw == s.fa {
                    p.dst_gw = new_fa;
                }
            }
            s.fa = new_fa;
        } else {
            txn.old_fa = txn.amr.old_fa;
        }
        s.entry.session_id = txn.amr.session_id.clone();
        s.expires = now + Duration::from_secs(u64::from(self.cfg.authorization_lifetime));
        self.by_nai
            .insert(txn.amr.user_name.clone(), txn.amr.session_id.clone());
        let sid = txn.amr.session_id.clone();
        self.insert_session(sid, s);
        self.send_har(now, token);
    }

    /// The VPN data of a [`Output::Lookup`] (`None`: no such user).
    pub fn handle_lookup(&mut self, now: Instant, token: Token, sub: Option<Subscriber>) {
        let Some(txn) = self.txns.get(&token) else {
            self.counters.unmatched += 1;
            return;
        };
        if !matches!(txn.stage, Stage::Lookup) {
            self.counters.unmatched += 1;
            return;
        }
        let Some(sub) = sub else {
            self.counters.unknown_user += 1;
            self.fail(
                token,
                result::AUTHENTICATION_REJECTED,
                "authentication rejected",
            );
            return;
        };
        if !self.authenticate(&txn.amr, &sub) {
            self.counters.auth_failed += 1;
            self.fail(
                token,
                result::AUTHENTICATION_REJECTED,
                "authentication rejected",
            );
            return;
        }
        let amr = txn.amr.clone();
        let info = RegRequestInfo::parse(&amr.reg_request).expect("checked on arrival");
        let home = amr
            .mn_address
            .filter(|a| !a.is_unspecified())
            .unwrap_or(info.home_address);
        let ha = amr
            .ha_address
            .filter(|a| !a.is_unspecified())
            .unwrap_or(info.home_agent);
        let profiles = match self.determine(&amr.user_name, &sub, home, info.care_of_address, ha) {
            Ok(p) if !p.is_empty() => p,
            Ok(p) if self.cfg.plain_mobile_ip => {
                self.counters.plain_authorized += 1;
                p
            }
            _ => {
                self.counters.not_authorized += 1;
                self.fail(
                    token,
                    result::AUTHORIZATION_REJECTED,
                    "no VPN authorized for this user",
                );
                return;
            }
        };
        let fa_ha =
            (amr.feature_vector.unwrap_or(0) & mip_feature::FA_HA_KEY_REQUEST != 0).then(|| {
                let key = self.random_key(MIP_KEY_LEN);
                (
                    self.random_spi(),
                    self.random_spi(),
                    key.as_bytes().to_vec(),
                )
            });
        let Ok(nai) = vpndb::model::Nai::parse(&amr.user_name) else {
            self.counters.unknown_user += 1;
            self.fail(
                token,
                result::AUTHENTICATION_REJECTED,
                "authentication rejected",
            );
            return;
        };
        // A session of this user from before (another FA): this is a move.
        let old = self
            .by_nai
            .get(&amr.user_name)
            .and_then(|sid| self.sessions.get(sid))
            .map(|s| s.fa)
            .filter(|fa| *fa != info.care_of_address);
        if let Some(prev) = self.by_nai.remove(&amr.user_name) {
            self.remove_session(&prev);
        }
        if self.sessions.len() >= self.cfg.max_sessions {
            self.fail(token, result::TOO_BUSY, "session cache full");
            return;
        }
        let s = Session {
            entry: VpnCacheEntry {
                session_id: amr.session_id.clone(),
                nai,
                profiles,
            },
            fa: info.care_of_address,
            ha,
            fa_ha,
            expires: now + Duration::from_secs(u64::from(self.cfg.authorization_lifetime)),
            mn_aaa_key: sub.mn_aaa_key.clone(),
        };
        self.by_nai
            .insert(amr.user_name.clone(), amr.session_id.clone());
        self.insert_session(amr.session_id.clone(), s);
        if let Some(t) = self.txns.get_mut(&token) {
            t.old_fa = old.or(amr.old_fa);
        }
        self.send_har(now, token);
    }

    /// The database could not answer a [`Output::Lookup`] (connection lost, lock timeout):
    /// the AMR is answered DIAMETER_UNABLE_TO_COMPLY (5012), not as an unknown user, so the
    /// FA may retry and the user is not told its NAI is unknown.
    pub fn handle_lookup_failed(&mut self, _now: Instant, token: Token) {
        match self.txns.get(&token) {
            Some(t) if matches!(t.stage, Stage::Lookup) => {}
            _ => {
                self.counters.unmatched += 1;
                return;
            }
        }
        self.counters.lookup_failed += 1;
        self.fail(
            token,
            result::UNABLE_TO_COMPLY,
            "the VPN database could not be read",
        );
    }

    /// Checks the MN-AAA authenticator of the Registration Request in MIP-Reg-Request with
    /// [`crate::mip::auth::verify_mn_aaa`]: RFC 3012 §8 with the FA's challenge from the
    /// MN-FA Challenge extension, over the bytes RFC 3012 §6 covers; the RFC 4004
    /// MIP-MN-AAA-Auth offsets must point at exactly that extension.
    fn authenticate(&self, amr: &Amr, sub: &Subscriber) -> bool {
        self.authenticate_with(amr, sub.mn_aaa_key.as_ref())
    }

    fn authenticate_with(&self, amr: &Amr, key: Option<&KeyBytes>) -> bool {
        let Some(key) = key else {
            return !self.cfg.require_mn_aaa_auth;
        };
        match crate::mip::auth::verify_mn_aaa(
            key.as_bytes(),
            &amr.reg_request,
            Some(&amr.mn_aaa_auth),
        ) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(nai = %amr.user_name, error = %e, "aaah: MN-AAA authentication failed");
                false
            }
        }
    }

    fn random_spi(&mut self) -> u32 {
        loop {
            let s = self.rng.next_u32();
            if s >= MIN_SPI {
                return s;
            }
        }
    }

    fn random_key(&mut self, len: usize) -> KeyBytes {
        let mut k = vec![0u8; len];
        self.rng.fill_bytes(&mut k);
        KeyBytes::new(k)
    }

    /// Path determination (Fig. 13) and key generation (S108) for every destination of
    /// every profile of the user.
    fn determine(
        &mut self,
        nai: &str,
        sub: &Subscriber,
        home: Ipv4Addr,
        fa: Ipv4Addr,
        ha: Ipv4Addr,
    ) -> Result<Vec<VpnCacheProfile>, ()> {
        let mut out = Vec::new();
        for p in sub.profiles.iter().filter(|p| p.nai.as_str() == nai) {
            let Some(sla) = sub.slas.iter().find(|s| s.name == p.sla) else {
                continue;
            };
            if !sla.users.is_empty() && !sla.users.iter().any(|u| u.as_str() == nai) {
                continue;
            }
            let tos = p.up_class.unwrap_or(sla.qos.up_tos);
            for dst in &p.destinations {
                let gw = lookup_cn_gw(&sub.cn_gw, dst);
                let (fa_dst, fa_type) = match gw {
                    Some(g) if g.gw_type == GwType::Dynamic => (g.gw, GwType::Dynamic),
                    _ => (ha, GwType::Static),
                };
                let (up_spi, down_spi, keys) = self.sa_for(p, sla);
                out.push(VpnCacheProfile {
                    profile_number: p.profile_number,
                    src: AddrMask::host(home),
                    dst: *dst,
                    tos,
                    security: sla.security,
                    src_gw: fa,
                    dst_gw: fa_dst,
                    dst_gw_type: fa_type,
                    up_spi,
                    down_spi,
                    keys,
                });
                if let Some(g) = gw.filter(|g| g.gw_type == GwType::Static) {
                    // HA → enterprise GW: the SLA's SA, fixed at contract time.
                    out.push(VpnCacheProfile {
                        profile_number: p.profile_number,
                        src: AddrMask::host(home),
                        dst: *dst,
                        tos,
                        security: sla.security,
                        src_gw: ha,
                        dst_gw: g.gw,
                        dst_gw_type: GwType::Static,
                        up_spi: sla.up_spi,
                        down_spi: sla.down_spi,
                        keys: SaKeys::default(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// SPIs and keys of a profile's FA-side tunnel (S107/S108).
    fn sa_for(&mut self, p: &VpnProfile, sla: &Sla) -> (u32, u32, SaKeys) {
        if sla.security == SecurityType::EncapsulationOnly {
            return (0, 0, SaKeys::default());
        }
        if p.uses_default_sa() {
            return (sla.up_spi, sla.down_spi, SaKeys::default());
        }
        self.counters.keys_generated += 1;
        let esp = sla.security == SecurityType::Esp;
        let up_spi = self.random_spi();
        let mut down_spi = self.random_spi();
        while down_spi == up_spi {
            down_spi = self.random_spi();
        }
        let keys = SaKeys {
            up_enc: if esp {
                self.random_key(ENC_KEY_LEN)
            } else {
                KeyBytes::default()
            },
            down_enc: if esp {
                self.random_key(ENC_KEY_LEN)
            } else {
                KeyBytes::default()
            },
            up_auth: self.random_key(AUTH_KEY_LEN),
            down_auth: self.random_key(AUTH_KEY_LEN),
        };
        (up_spi, down_spi, keys)
    }

    fn send_har(&mut self, _now: Instant, token: Token) {
        let Some(txn) = self.txns.get(&token) else {
            return;
        };
        let Some(s) = self.sessions.get(&txn.amr.session_id) else {
            return;
        };
        let host = self
            .cfg
            .ha_hosts
            .get(&s.ha)
            .cloned()
            .or_else(|| self.cfg.default_ha_host.clone());
        let har = Har {
            session_id: txn.amr.session_id.clone(),
            route: crate::diameter::mip4::Route {
                origin_host: self.cfg.origin_host.clone(),
                origin_realm: self.cfg.origin_realm.clone(),
                destination_realm: self.cfg.origin_realm.clone(),
                destination_host: host.clone(),
            },
            authorization_lifetime: self.cfg.authorization_lifetime,
            auth_session_state: auth_session_state::NO_STATE_MAINTAINED,
            reg_request: txn.amr.reg_request.clone(),
            user_name: txn.amr.user_name.clone(),
            feature_vector: txn.amr.feature_vector.unwrap_or(0),
            ha_to_fa_msa: s.fa_ha.as_ref().map(|(_, ha_fa, key)| Msa {
                spi: *ha_fa,
                algorithm: mip_values::ALGORITHM_HMAC_SHA1,
                key: key.clone(),
            }),
            msa_lifetime: s.fa_ha.as_ref().map(|_| self.cfg.authorization_lifetime),
            originating_foreign_aaa: txn.amr.originating_foreign_aaa.clone(),
            mn_address: txn.amr.mn_address,
            ha_address: Some(s.ha),
            vpn: Some(VpnInfo {
                profiles: s.entry.profiles.clone(),
            }),
            old_fa: txn.old_fa,
        };
        let har_token = self.token();
        self.har_of.insert(har_token, token);
        if let Some(t) = self.txns.get_mut(&token) {
            t.stage = Stage::Har { token: har_token };
        }
        self.counters.tx_har += 1;
        self.out.push_back(Output::Send {
            token: har_token,
            dest: Dest {
                realm: self.cfg.origin_realm.clone(),
                host,
            },
            msg: har.to_message(),
        });
    }

    /// The answer to a request we sent (a HAA).
    pub fn handle_answer(&mut self, _now: Instant, token: Token, msg: Message) {
        let Some(t) = self.har_of.remove(&token) else {
            self.counters.unmatched += 1;
            return;
        };
        self.counters.rx_haa += 1;
        let haa = match Haa::parse(&msg) {
            Ok(h) => h,
            Err(e) => {
                self.counters.malformed += 1;
                self.drop_session_of(t);
                self.fail(t, result::UNABLE_TO_COMPLY, &format!("bad HAA: {}", e.why));
                return;
            }
        };
        let Some(txn) = self.txns.remove(&t) else {
            return;
        };
        self.deadlines.remove(&(txn.deadline, t));
        if haa.result_code != result::SUCCESS {
            // The home agent refused: no session.
            if let Some(s) = self.remove_session(&txn.amr.session_id) {
                if self.by_nai.get(s.entry.nai.as_str()) == Some(&txn.amr.session_id) {
                    self.by_nai.remove(s.entry.nai.as_str());
                }
            }
            let mut ama = Ama::bare(
                &txn.amr.session_id,
                haa.result_code,
                &self.cfg.origin_host,
                &self.cfg.origin_realm,
            );
            ama.reg_reply = haa.reg_reply;
            ama.error_message = haa.error_message.or(Some("home agent refused".into()));
            self.counters.tx_ama += 1;
            self.out.push_back(Output::Answer {
                req: txn.req,
                msg: ama.to_message(&txn.header),
            });
            return;
        }
        let Some(s) = self.sessions.get_mut(&txn.amr.session_id) else {
            return;
        };
        // The HA assigned the home address: the profiles' source selector is it.
        if let Some(mn) = haa.mn_address.filter(|a| !a.is_unspecified()) {
            for p in &mut s.entry.profiles {
                if p.src.addr().is_unspecified() {
                    p.src = AddrMask::host(mn);
                }
            }
        }
        let fa = s.fa;
        let fa_profiles: Vec<VpnCacheProfile> = s
            .entry
            .profiles
            .iter()
            .filter(|p| p.src_gw == fa)
            .cloned()
            .collect();
        let ama = Ama {
            session_id: txn.amr.session_id.clone(),
            result_code: result::SUCCESS,
            origin_host: self.cfg.origin_host.clone(),
            origin_realm: self.cfg.origin_realm.clone(),
            user_name: Some(txn.amr.user_name.clone()),
            authorization_lifetime: Some(self.cfg.authorization_lifetime),
            auth_session_state: Some(auth_session_state::NO_STATE_MAINTAINED),
            reg_reply: haa.reg_reply,
            fa_to_ha_msa: s.fa_ha.as_ref().map(|(fa_ha, _, key)| Msa {
                spi: *fa_ha,
                algorithm: mip_values::ALGORITHM_HMAC_SHA1,
                key: key.clone(),
            }),
            msa_lifetime: s.fa_ha.as_ref().map(|_| self.cfg.authorization_lifetime),
            ha_address: Some(s.ha),
            mn_address: haa.mn_address.or(txn.amr.mn_address),
            vpn: Some(VpnInfo {
                profiles: fa_profiles,
            }),
            old_fa: haa.old_fa.or(txn.old_fa),
            error_message: None,
        };
        if self.cfg.session_events {
            self.reported.insert(txn.amr.session_id.clone());
            self.session_events
                .push_back(SessionEvent::Up(Box::new(s.clone())));
        }
        self.counters.tx_ama += 1;
        self.counters.tx_ama_success += 1;
        self.out.push_back(Output::Answer {
            req: txn.req,
            msg: ama.to_message(&txn.header),
        });
    }

    /// A request we sent could not be delivered (no route, peer down, answer timeout).
    pub fn handle_send_failed(&mut self, _now: Instant, token: Token) {
        self.counters.send_failed += 1;
        match self.har_of.remove(&token) {
            Some(t) => {
                self.drop_session_of(t);
                self.fail(t, result::UNABLE_TO_DELIVER, "home agent unreachable")
            }
            None => self.counters.unmatched += 1,
        }
    }

    fn drop_session_of(&mut self, t: Token) {
        if let Some(txn) = self.txns.get(&t) {
            let sid = txn.amr.session_id.clone();
            let nai = txn.amr.user_name.clone();
            self.remove_session(&sid);
            if self.by_nai.get(&nai) == Some(&sid) {
                self.by_nai.remove(&nai);
            }
        }
    }

    /// Answers the AMR of transaction `t` with `code` and ends it.
    fn fail(&mut self, t: Token, code: u32, why: &str) {
        let Some(txn) = self.txns.remove(&t) else {
            return;
        };
        self.deadlines.remove(&(txn.deadline, t));
        if let Stage::Har { token } = txn.stage {
            self.har_of.remove(&token);
        }
        let mut ama = Ama::bare(
            &txn.amr.session_id,
            code,
            &self.cfg.origin_host,
            &self.cfg.origin_realm,
        );
        ama.error_message = Some(why.to_string());
        self.counters.tx_ama += 1;
        self.out.push_back(Output::Answer {
            req: txn.req,
            msg: ama.to_message(&txn.header),
        });
    }

    /// Runs the timers: transactions past their deadline are answered 3002 (the lookup or
    /// the home agent did not answer); expired sessions leave the cache.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(d, t)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            self.counters.timeouts += 1;
            self.drop_session_of(t);
            self.fail(
                t,
                result::UNABLE_TO_DELIVER,
                "timed out (database or home agent)",
            );
        }
        while self.expiries.first().is_some_and(|e| e.0 <= now) {
            let Some((_, sid)) = self.expiries.pop_first() else {
                break;
            };
            if let Some(s) = self.remove_session(&sid) {
                self.counters.sessions_expired += 1;
                if self.by_nai.get(s.entry.nai.as_str()) == Some(&sid) {
                    self.by_nai.remove(s.entry.nai.as_str());
                }
            }
        }
    }
}

/// The answer to a [`Output::Lookup`] from a `vpndb` store (SQLite or PostgreSQL), read in
/// one transaction ([`vpndb::store::VpnStore::user_vpn`]): the user's profiles for this
/// registration (their service-update marks are cleared, Fig. 30), the SLAs they name and
/// the CN → GW rows of their destinations; `mn_aaa_key` comes from the caller (the store
/// keeps no MN-AAA secrets). `Ok(None)`: no profile for this NAI (or not an NAI).
pub fn subscriber_from_store(
    store: &mut dyn vpndb::store::VpnStore,
    nai: &str,
    mn_aaa_key: Option<KeyBytes>,
) -> Result<Option<Subscriber>, vpndb::store::StoreError> {
    let Ok(nai) = vpndb::model::Nai::parse(nai) else {
        return Ok(None);
    };
    let Some(u) = store.user_vpn(&nai, true)? else {
        return Ok(None);
    };
    Ok(Some(Subscriber {
        profiles: u.profiles.into_iter().map(|s| s.profile).collect(),
        slas: u.slas,
        cn_gw: u.cn_gw,
        mn_aaa_key,
    }))
}
