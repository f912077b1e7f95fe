//! The foreign AAA server (AAAF): the local AAA of the FA's domain (seed 003 Figs. 4,
//! 25–29).
//!
//! An AMR from an FA of our realm goes to the user's home realm (its Destination-Realm)
//! with MIP-Originating-Foreign-AAA and a Route-Record added, the Session-Id and End-to-End
//! id kept (a proxy). The AMA coming back is passed to the FA and, when successful, its VPN
//! information is cached per NAI ("to follow the move within the local domain").
//!
//! **Intra-domain move** (Figs. 25, 28): an AMR from an FA of our realm naming an old FA
//! (the vendor Old-FA-Address) that is the FA of the user's cached entry is answered from
//! the cache: the old FA's address in the profiles is replaced by the new FA's, and the AMA
//! (2001, the profiles, the old FA, the home agent, the FA–HA key) goes back without a
//! message to the home realm. The new FA then registers with the HA directly. A move from
//! another domain, a user without cache, a Service-Update request (Fig. 30) or an expired
//! entry go home. No route or no answer from home: DIAMETER_UNABLE_TO_DELIVER (3002).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{error_answer, precheck, Dest, Output, ReqId, Token};
use crate::diameter::mip4::{Ama, Amr, ForeignAaa, MsgError, RegRequestInfo, VpnInfo};
use crate::diameter::wire::codes::{auth_session_state, cmd, code, result};
use crate::diameter::wire::{Avp, Header, Message};

/// AAAF configuration.
#[derive(Debug, Clone)]
pub struct ForeignConfig {
    /// Our Origin-Host.
    pub origin_host: String,
    /// Our Origin-Realm: the FAs' domain.
    pub origin_realm: String,
    /// How long the home realm may take to answer.
    pub transaction_timeout: Duration,
    /// How long a cached entry is used when the AMA gave no Authorization-Lifetime.
    pub default_lifetime: Duration,
    /// Most AMRs forwarded and not answered yet.
    pub max_transactions: usize,
    /// Most cached users.
    pub max_cache: usize,
}

impl ForeignConfig {
    /// Defaults: 10 s to answer, 1 h of cache.
    pub fn new(origin_host: &str, origin_realm: &str) -> Self {
        ForeignConfig {
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            transaction_timeout: Duration::from_secs(10),
            default_lifetime: Duration::from_secs(3600),
            max_transactions: 4096,
            max_cache: 100_000,
        }
    }
}

/// Counters of the AAAF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignCounters {
    pub rx_amr: u64,
    pub tx_amr_home: u64,
    pub rx_ama_home: u64,
    pub tx_ama: u64,
    /// Intra-domain moves answered from the cache.
    pub cache_hits: u64,
    /// AMRs that went home though the user had a cache entry (another domain's old FA,
    /// service update, no match).
    pub cache_bypassed: u64,
    pub cached: u64,
    pub malformed: u64,
    pub avp_unsupported: u64,
    pub command_unsupported: u64,
    pub unreachable: u64,
    pub timeouts: u64,
    pub too_busy: u64,
    pub unmatched: u64,
    pub expired: u64,
}

/// What the AAAF keeps of a successful AMA, per NAI.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    /// The session.
    pub session_id: String,
    /// The FA the profiles point at.
    pub fa: Ipv4Addr,
    /// The AMA as received from home (its VPN profiles, keys, addresses).
    pub ama: Ama,
    /// When it stops being used.
    pub expires: Instant,
}

#[derive(Debug)]
struct Txn {
    req: ReqId,
    header: Header,
    session_id: String,
    nai: String,
    fa: Ipv4Addr,
    deadline: Instant,
}

/// The AAAF engine (see the [module docs](self)).
pub struct Foreign {
    cfg: ForeignConfig,
    next_token: Token,
    txns: HashMap<Token, Txn>,
    deadlines: BTreeSet<(Instant, Token)>,
    cache: HashMap<String, CacheEntry>,
    /// Cache expiries in time order (so the next one is found without a scan).
    cache_expiries: BTreeSet<(Instant, String)>,
    out: VecDeque<Output>,
    counters: ForeignCounters,
}

impl Foreign {
    /// An AAAF.
    pub fn new(cfg: ForeignConfig) -> Self {
        Foreign {
            cfg,
            next_token: 1,
            txns: HashMap::new(),
            deadlines: BTreeSet::new(),
            cache: HashMap::new(),
            cache_expiries: BTreeSet::new(),
            out: VecDeque::new(),
            counters: ForeignCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &ForeignCounters {
        &self.counters
    }
    /// The cache entry of a user.
    pub fn cached(&self, nai: &str) -> Option<&CacheEntry> {
        self.cache.get(nai)
    }
    /// Users in the cache.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }
    /// AMRs waiting for home.
    pub fn pending(&self) -> usize {
        self.txns.len()
    }
    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    /// When to call [`Foreign::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.deadlines.first().map(|d| d.0);
        let s = self.cache_expiries.first().map(|e| e.0);
        match (t, s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn answer_error(&mut self, req: ReqId, msg: &Message, code: u32, err: Option<&MsgError>) {
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

    /// A request from a peer (an FA's AMR).
    pub fn handle_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        if let Err((code, err)) = precheck(&msg) {
            if code == result::AVP_UNSUPPORTED {
                self.counters.avp_unsupported += 1;
            }
            self.answer_error(req, &msg, code, err.as_ref());
            return;
        }
        if msg.header.command != cmd::AA_MOBILE_NODE {
            self.counters.command_unsupported += 1;
            self.answer_error(req, &msg, result::COMMAND_UNSUPPORTED, None);
            return;
        }
        self.counters.rx_amr += 1;
        let mut amr = match Amr::parse(&msg) {
            Ok(a) => a,
            Err(e) => {
                self.counters.malformed += 1;
                self.answer_error(req, &msg, e.result_code, Some(&e));
                return;
            }
        };
        let Some(info) = RegRequestInfo::parse(&amr.reg_request) else {
            self.counters.malformed += 1;
            let e = MsgError {
                result_code: result::INVALID_AVP_VALUE,
                failed_avp: msg.find(code::MIP_REG_REQUEST).cloned(),
                why: "MIP-Reg-Request is not a Registration Request".into(),
            };
            self.answer_error(req, &msg, e.result_code, Some(&e));
            return;
        };
        let new_fa = info.care_of_address;
        let from_our_domain = amr.route.origin_realm == self.cfg.origin_realm;
        if let Some(e) = self.cache.get(&amr.user_name) {
            let hit = from_our_domain
                && !amr.service_update
                && e.expires > now
                && amr.old_fa == Some(e.fa)
                && amr.old_fa != Some(new_fa);
            if hit {
                self.counters.cache_hits += 1;
                self.answer_from_cache(now, req, &msg.header, &amr, new_fa);
                return;
            }
            self.counters.cache_bypassed += 1;
        }
        if self.txns.len() >= self.cfg.max_transactions {
            self.counters.too_busy += 1;
            self.answer_error(req, &msg, result::TOO_BUSY, None);
            return;
        }
        // Forward home as a proxy: same Session-Id, End-to-End id and Origin (the FA's).
        if amr.originating_foreign_aaa.is_none() {
            amr.originating_foreign_aaa = Some(ForeignAaa {
                realm: self.cfg.origin_realm.clone(),
                host: self.cfg.origin_host.clone(),
            });
        }
        amr.route_record.push(amr.route.origin_host.clone());
        let mut fwd = amr.to_message();
        fwd.header.end_to_end = msg.header.end_to_end;
        // Unknown optional AVPs travel on (a proxy keeps what it does not understand).
        let extra: Vec<Avp> = msg
            .avps
            .iter()
            .filter(|a| {
                !a.mandatory
                    && !fwd
                        .avps
                        .iter()
                        .any(|b| b.code == a.code && b.vendor == a.vendor)
            })
            .cloned()
            .collect();
        fwd.avps.extend(extra);
        let token = self.next_token;
        self.next_token += 1;
        let deadline = now + self.cfg.transaction_timeout;
        self.txns.insert(
            token,
            Txn {
                req,
                header: msg.header,
                session_id: amr.session_id.clone(),
                nai: amr.user_name.clone(),
                fa: new_fa,
                deadline,
            },
        );
        self.deadlines.insert((deadline, token));
        self.counters.tx_amr_home += 1;
        self.out.push_back(Output::Send {
            token,
            dest: Dest {
                realm: amr.route.destination_realm.clone(),
                host: amr.route.destination_host.clone(),
            },
            msg: fwd,
        });
    }

    fn answer_from_cache(
        &mut self,
        now: Instant,
        req: ReqId,
        header: &Header,
        amr: &Amr,
        new_fa: Ipv4Addr,
    ) {
        let Some(e) = self.cache.get_mut(&amr.user_name) else {
            return;
        };
        let old = e.fa;
        let mut profiles = e.ama.vpn.clone().unwrap_or_default().profiles;
        for p in &mut profiles {
            if p.src_gw == old {
                p.src_gw = new_fa;
            }
            if p.dst_gw == old {
                p.dst_gw = new_fa;
            }
        }
        e.fa = new_fa;
        e.session_id = amr.session_id.clone();
        e.ama.vpn = Some(VpnInfo {
            profiles: profiles.clone(),
        });
        let mut ama = e.ama.clone();
        ama.session_id = amr.session_id.clone();
        ama.result_code = result::SUCCESS;
        ama.origin_host = self.cfg.origin_host.clone();
        ama.origin_realm = self.cfg.origin_realm.clone();
        ama.user_name = Some(amr.user_name.clone());
        ama.reg_reply = None; // the new FA registers with the HA itself (Fig. 25 ④)
        ama.old_fa = Some(old);
        ama.auth_session_state = Some(auth_session_state::NO_STATE_MAINTAINED);
        ama.error_message = None;
        let remaining = e.expires.saturating_duration_since(now).as_secs() as u32;
        ama.authorization_lifetime = Some(remaining);
        self.counters.tx_ama += 1;
        self.out.push_back(Output::Answer {
            req,
            msg: ama.to_message(header),
        });
    }

    /// The answer from home to a forwarded AMR.
    pub fn handle_answer(&mut self, now: Instant, token: Token, msg: Message) {
        let Some(txn) = self.txns.remove(&token) else {
            self.counters.unmatched += 1;
            return;
        };
        self.deadlines.remove(&(txn.deadline, token));
        self.counters.rx_ama_home += 1;
        match Ama::parse(&msg) {
            Ok(ama) if ama.result_code == result::SUCCESS && ama.vpn.is_some() => {
                if self.cache.len() < self.cfg.max_cache || self.cache.contains_key(&txn.nai) {
                    let life = ama
                        .authorization_lifetime
                        .map(|s| Duration::from_secs(u64::from(s)))
                        .unwrap_or(self.cfg.default_lifetime);
                    self.counters.cached += 1;
                    let expires = now + life;
                    if let Some(old) = self.cache.insert(
                        txn.nai.clone(),
                        CacheEntry {
                            session_id: ama.session_id.clone(),
                            fa: txn.fa,
                            ama,
                            expires,
                        },
                    ) {
                        self.cache_expiries.remove(&(old.expires, txn.nai.clone()));
                    }
                    self.cache_expiries.insert((expires, txn.nai.clone()));
                }
            }
            // A request whose authentication failed says nothing about the user's cached
            // session: anyone can send one with the user's NAI, and dropping the entry for
            // it would send the user's next intra-domain move home (found by the mobile lab).
            Ok(ama) if ama.result_code == result::AUTHENTICATION_REJECTED => {}
            Ok(_) => {
                if let Some(old) = self.cache.remove(&txn.nai) {
                    self.cache_expiries.remove(&(old.expires, txn.nai.clone()));
                }
            }
            Err(_) => self.counters.malformed += 1,
        }
        // Relay the answer as it came, on the FA's request ids.
        let mut a = msg;
        a.header = Header {
            error: a.header.error,
            ..Message::answer_to(&txn.header).header
        };
        self.counters.tx_ama += 1;
        self.out.push_back(Output::Answer {
            req: txn.req,
            msg: a,
        });
    }

    /// The forwarded AMR could not reach home (no route, peer down, no answer).
    pub fn handle_send_failed(&mut self, _now: Instant, token: Token) {
        let Some(txn) = self.txns.remove(&token) else {
            self.counters.unmatched += 1;
            return;
        };
        self.deadlines.remove(&(txn.deadline, token));
        self.counters.unreachable += 1;
        self.unreachable(txn);
    }

    fn unreachable(&mut self, txn: Txn) {
        let req = Message {
            header: txn.header,
            avps: vec![Avp::text(code::SESSION_ID, &txn.session_id)],
        };
        let mut a = error_answer(
            &req,
            &self.cfg.origin_host,
            &self.cfg.origin_realm,
            result::UNABLE_TO_DELIVER,
            None,
        );
        a = a.with(Avp::text(code::ERROR_MESSAGE, "home realm unreachable").optional());
        self.counters.tx_ama += 1;
        self.out.push_back(Output::Answer {
            req: txn.req,
            msg: a,
        });
    }

    /// Runs the timers: AMRs home did not answer get 3002; expired cache entries go.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(d, t)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(txn) = self.txns.remove(&t) {
                self.counters.timeouts += 1;
                self.unreachable(txn);
            }
        }
        while let Some((t, _)) = self.cache_expiries.first() {
            if *t > now {
                break;
            }
            let Some((t, nai)) = self.cache_expiries.pop_first() else {
                break;
            };
            if self.cache.get(&nai).is_some_and(|e| e.expires == t) {
                self.cache.remove(&nai);
                self.counters.expired += 1;
            }
        }
    }
}
