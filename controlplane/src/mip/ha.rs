//! The home agent (RFC 5944 §3.8) of the mobile VPN (seed 003, Figs. 4, 20–24, 27–30).
//!
//! Registrations come two ways:
//! - through the AAA: the AAAH's HAR (RFC 4004) carries the Registration Request, already
//!   authenticated by the AAAH (MN-AAA), and the VPN information cache of the user;
//!   the HA answers with the HAA carrying its Registration Reply ([`Ha::handle_diameter_request`]);
//! - directly from an FA (a move inside a domain that the AAAF answered from its cache,
//!   Figs. 25/28 ④, and re-registrations): authenticated with the MN-HA extension and the
//!   MN-HA security association the SLA provisioned ([`Ha::set_mn_ha`]), and the FA-HA
//!   extension when an FA-HA association exists (the AAA's MIP-HA-to-FA-MSA, or provisioned).
//!
//! For every VPN profile whose destination gateway is dynamic (a PCN), the HA sends a Binding
//! Update with the profile, authenticated with the HA–PCN association, and answers the
//! registration only after the Binding Acknowledge (Fig. 27 ④–⑥), or after
//! [`HaConfig::bu_retries`] retransmissions went unanswered. A PCN's Binding Request at its
//! lifetime threshold is answered with a fresh BU while the binding (and so the VPN) exists;
//! otherwise it is ignored and the PCN lets the VPN expire (Fig. 30).
//!
//! Reply codes (RFC 5944 §3.4): 0 accepted, 130 table full, 131 MN authentication failed,
//! 132 FA authentication failed, 133 identification mismatch (replay / clock), 134 poorly
//! formed, 136 unknown home agent address. Every decision is counted in [`HaCounters`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use vpndb::model::{GwType, VpnCacheProfile};

use super::auth::{self, seal};
use super::tunnel::{TunnelEvent, TunnelRole, TunnelSpec};
use super::wire::binding::{self, BindingAck, BindingRequest, BindingUpdate};
use super::wire::ext::{kind, Extension};
use super::wire::ntp::{self, IdCheck, NtpClock};
use super::wire::registration::{code, Reply, Request};
use super::wire::{msg_type, Error as WireError};
use super::{agent_port, unknown_critical, Output, Sa};
use crate::aaa::{error_answer, precheck, ReqId};
use crate::diameter::mip4::{Haa, Har};
use crate::diameter::wire::codes::{cmd, result};
use crate::diameter::wire::{Header, Message};

/// Configuration of a home agent.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// The HA's address (Home Agent field of the requests it serves).
    pub address: Ipv4Addr,
    /// Diameter Origin-Host.
    pub origin_host: String,
    /// Diameter Origin-Realm.
    pub origin_realm: String,
    /// Most bindings held (130 beyond).
    pub max_bindings: usize,
    /// Longest lifetime granted (seconds); longer requests are granted this.
    pub max_lifetime: u16,
    /// How far an Identification may be from our clock (§5.7.1; default 7 s).
    pub replay_tolerance: Duration,
    /// Our NTP clock.
    pub clock: NtpClock,
    /// Wait for a Binding Acknowledge before retransmitting.
    pub bu_timeout: Duration,
    /// Retransmissions of a Binding Update before answering without its BA.
    pub bu_retries: u8,
    /// Which tunnels the data plane can build (others: 129, `tunnel_unsupported`).
    pub tunnel_support: super::tunnel::TunnelSupport,
}

impl HaConfig {
    /// Defaults for the HA at `address`.
    pub fn new(address: Ipv4Addr, origin_host: &str, origin_realm: &str, clock: NtpClock) -> Self {
        HaConfig {
            address,
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            max_bindings: 200_000,
            max_lifetime: 3600,
            replay_tolerance: Duration::from_secs(7),
            clock,
            bu_timeout: Duration::from_secs(1),
            bu_retries: 2,
            tunnel_support: super::tunnel::any_tunnel,
        }
    }
}

/// Counters of the HA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaCounters {
    /// Registration Requests received (HAR and direct).
    pub rx_requests: u64,
    /// Of them through a HAR.
    pub rx_har: u64,
    /// Accepted (registrations and deregistrations).
    pub accepted: u64,
    /// Deregistrations (lifetime 0).
    pub deregistrations: u64,
    /// Denied, by reply code.
    pub denied: BTreeMap<u8, u64>,
    /// MN-HA, FA-HA or route optimisation authenticators that did not verify.
    pub bad_authenticator: u64,
    /// Identifications refused (replayed or out of the clock window).
    pub replayed: u64,
    /// Bindings that reached their lifetime.
    pub lifetime_expiries: u64,
    /// Messages that do not parse (dropped when no reply can be built).
    pub malformed: u64,
    /// Diameter requests refused before registration (not a HAR, bad AVPs).
    pub diameter_refused: u64,
    /// Binding Updates sent (first transmissions).
    pub bu_sent: u64,
    /// Binding Updates retransmitted.
    pub bu_retransmits: u64,
    /// Registrations answered without a BA after the retries.
    pub bu_timeouts: u64,
    /// Dynamic profiles without an HA–PCN association (no BU sent).
    pub bu_no_sa: u64,
    /// Binding Acknowledges received (authenticated and matched).
    pub ba_rx: u64,
    /// Of them with a rejecting status.
    pub ba_rejected: u64,
    /// BAs that match no pending BU.
    pub ba_unmatched: u64,
    /// Binding Requests answered with a BU.
    pub br_answered: u64,
    /// Binding Requests for a mobile node without a binding (ignored; the PCN expires it).
    pub br_no_binding: u64,
    /// Registrations refused because the data plane cannot build their tunnels (129).
    pub tunnel_unsupported: u64,
}

/// A mobility binding (§4.1 of RFC 5944's "mobility binding list").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The NAI, when the registration carried one.
    pub nai: Option<Box<str>>,
    /// Care-of address.
    pub care_of: Ipv4Addr,
    /// Expiry.
    pub expires: Instant,
    /// Lifetime granted (seconds).
    pub lifetime: u16,
    /// Last accepted Identification.
    pub last_id: u64,
    /// The VPN information cache instance of the user (Fig. 7), gateways rewritten to the
    /// current FA.
    pub vpn: Vec<VpnCacheProfile>,
    /// Tunnels the HA has up for it.
    pub tunnels: Vec<TunnelSpec>,
}

enum Via {
    Aaa {
        req: ReqId,
        header: Header,
        session_id: String,
        user_name: String,
    },
    Udp {
        to: SocketAddrV4,
    },
}

struct Pending {
    via: Via,
    reply: Vec<u8>,
    old_fa: Option<Ipv4Addr>,
    mn_address: Ipv4Addr,
    /// (PCN, BU bytes, identification) still unacknowledged.
    waiting: Vec<(Ipv4Addr, Vec<u8>, u64)>,
    retries_left: u8,
    deadline: Instant,
}

/// The home agent (see the [module docs](self)).
pub struct Ha {
    cfg: HaConfig,
    bindings: HashMap<Ipv4Addr, Binding>,
    expiries: BTreeSet<(Instant, Ipv4Addr)>,
    mn_ha: HashMap<Ipv4Addr, Sa>,
    fa_ha: HashMap<Ipv4Addr, Sa>,
    ro: HashMap<Ipv4Addr, Sa>,
    pending: HashMap<u64, Pending>,
    bu_waits: HashMap<(Ipv4Addr, u64), u64>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_pending: u64,
    last_bu_id: u64,
    out: VecDeque<Output>,
    counters: HaCounters,
}

/// Why a request is denied (reply code) and what is counted.
struct Deny(u8);

impl Ha {
    /// A home agent.
    pub fn new(cfg: HaConfig) -> Self {
        Ha {
            cfg,
            bindings: HashMap::new(),
            expiries: BTreeSet::new(),
            mn_ha: HashMap::new(),
            fa_ha: HashMap::new(),
            ro: HashMap::new(),
            pending: HashMap::new(),
            bu_waits: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_pending: 1,
            last_bu_id: 0,
            out: VecDeque::new(),
            counters: HaCounters::default(),
        }
    }

    /// Provisions the MN-HA association of the mobile node at `home`.
    pub fn set_mn_ha(&mut self, home: Ipv4Addr, sa: Sa) {
        self.mn_ha.insert(home, sa);
    }
    /// Provisions the FA-HA association with the FA at `fa`.
    pub fn set_fa_ha(&mut self, fa: Ipv4Addr, sa: Sa) {
        self.fa_ha.insert(fa, sa);
    }
    /// Provisions the route optimisation association with the PCN at `pcn`.
    pub fn set_pcn(&mut self, pcn: Ipv4Addr, sa: Sa) {
        self.ro.insert(pcn, sa);
    }
    /// The counters.
    pub fn counters(&self) -> &HaCounters {
        &self.counters
    }
    /// The binding of `home`.
    pub fn binding(&self, home: Ipv4Addr) -> Option<&Binding> {
        self.bindings.get(&home)
    }
    /// All bindings (the listing of bindings and tunnels).
    pub fn bindings(&self) -> impl Iterator<Item = (&Ipv4Addr, &Binding)> {
        self.bindings.iter()
    }
    /// Number of bindings.
    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }
    /// Registrations waiting for a BA.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    /// When to call [`Ha::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.expiries.first().map(|e| e.0);
        let b = self.deadlines.first().map(|e| e.0);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A Diameter request from the AAAH: a HAR is processed, anything else refused.
    pub fn handle_diameter_request(&mut self, now: Instant, req: ReqId, msg: Message) {
        if let Err((c, err)) = precheck(&msg) {
            self.counters.diameter_refused += 1;
            self.diameter_error(req, &msg, c, err.as_ref());
            return;
        }
        if msg.header.command != cmd::HOME_AGENT_MIP {
            self.counters.diameter_refused += 1;
            self.diameter_error(req, &msg, result::COMMAND_UNSUPPORTED, None);
            return;
        }
        let har = match Har::parse(&msg) {
            Ok(h) => h,
            Err(e) => {
                self.counters.diameter_refused += 1;
                self.diameter_error(req, &msg, e.result_code, Some(&e));
                return;
            }
        };
        self.counters.rx_har += 1;
        if let Some(msa) = &har.ha_to_fa_msa {
            if let Ok(r) = Request::parse(&har.reg_request) {
                self.fa_ha.insert(
                    r.care_of_address,
                    Sa {
                        spi: msa.spi,
                        key: msa.key.clone(),
                    },
                );
            }
        }
        let vpn = har.vpn.as_ref().map(|v| v.profiles.clone());
        let via = Via::Aaa {
            req,
            header: msg.header,
            session_id: har.session_id.clone(),
            user_name: har.user_name.clone(),
        };
        self.register(now, &har.reg_request, via, vpn);
    }

    fn diameter_error(
        &mut self,
        req: ReqId,
        msg: &Message,
        c: u32,
        e: Option<&crate::diameter::mip4::MsgError>,
    ) {
        let a = error_answer(msg, &self.cfg.origin_host, &self.cfg.origin_realm, c, e);
        self.out
            .push_back(Output::Aaa(crate::aaa::Output::Answer { req, msg: a }));
    }

    /// A Mobile IP datagram to UDP 434 from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV4, bytes: &[u8]) {
        match bytes.first() {
            Some(&msg_type::REGISTRATION_REQUEST) => {
                self.register(now, bytes, Via::Udp { to: from }, None)
            }
            Some(&msg_type::BINDING_ACK) => self.binding_ack(now, *from.ip(), bytes),
            Some(&msg_type::BINDING_REQUEST) => self.binding_request(now, *from.ip(), bytes),
            _ => self.counters.malformed += 1,
        }
    }

    fn register(
        &mut self,
        now: Instant,
        bytes: &[u8],
        via: Via,
        vpn: Option<Vec<VpnCacheProfile>>,
    ) {
        self.counters.rx_requests += 1;
        let req = match Request::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!(error = %e, "mip ha: malformed Registration Request");
                self.counters
                    .denied
                    .entry(code::HA_POORLY_FORMED)
                    .and_modify(|c| *c += 1)
                    .or_insert(1);
                // No reply can be built without the fixed part; answer the AAA, drop UDP.
                if let Via::Aaa {
                    req,
                    header,
                    session_id,
                    user_name,
                } = via
                {
                    self.answer_aaa(
                        req,
                        &header,
                        session_id,
                        user_name,
                        result::ERROR_MIP_REPLY_FAILURE,
                        None,
                        None,
                        None,
                    );
                }
                return;
            }
        };
        let ours = self.cfg.clock.at(now);
        let mut reply = Reply {
            code: code::ACCEPTED,
            lifetime: 0,
            home_address: req.home_address,
            home_agent: self.cfg.address,
            identification: req.identification,
            extensions: Vec::new(),
        };
        match self.decide(now, bytes, &req, &via, ours, vpn) {
            Ok(Accepted {
                lifetime,
                old_fa,
                bus,
            }) => {
                self.counters.accepted += 1;
                reply.lifetime = lifetime;
                let reply = self.seal_reply(&reply);
                if bus.is_empty() {
                    self.finish(via, reply, old_fa, req.home_address);
                } else {
                    let id = self.next_pending;
                    self.next_pending += 1;
                    for (pcn, _, bid) in &bus {
                        self.bu_waits.insert((*pcn, *bid), id);
                    }
                    for (pcn, b, _) in &bus {
                        self.counters.bu_sent += 1;
                        self.out.push_back(Output::Send {
                            to: agent_port(*pcn),
                            bytes: b.clone(),
                        });
                    }
                    let deadline = now + self.cfg.bu_timeout;
                    self.deadlines.insert((deadline, id));
                    self.pending.insert(
                        id,
                        Pending {
                            via,
                            reply,
                            old_fa,
                            mn_address: req.home_address,
                            waiting: bus,
                            retries_left: self.cfg.bu_retries,
                            deadline,
                        },
                    );
                }
            }
            Err(Deny(c)) => {
                *self.counters.denied.entry(c).or_insert(0) += 1;
                reply.code = c;
                if c == code::HA_ID_MISMATCH {
                    reply.identification = ntp::resync(ours, req.identification);
                }
                tracing::debug!(home = %req.home_address, code = c, "mip ha: registration denied");
                let reply = self.seal_reply(&reply);
                self.finish(via, reply, None, req.home_address);
            }
        }
    }

    /// The reply, with the MN-HA extension when we hold the association.
    fn seal_reply(&self, r: &Reply) -> Vec<u8> {
        let fixed = r.fixed();
        match self.mn_ha.get(&r.home_address) {
            Some(sa) => seal(
                fixed,
                &[auth::auth_placeholder(kind::MN_HA_AUTH, sa.spi)],
                0,
                |c| auth::hmac_md5(&sa.key, c),
            )
            .unwrap_or_else(|_| r.fixed()),
            None => fixed,
        }
    }

    fn finish(&mut self, via: Via, reply: Vec<u8>, old_fa: Option<Ipv4Addr>, mn: Ipv4Addr) {
        match via {
            Via::Udp { to } => self.out.push_back(Output::Send { to, bytes: reply }),
            Via::Aaa {
                req,
                header,
                session_id,
                user_name,
            } => {
                let ok = Reply::parse(&reply)
                    .map(|r| code::accepted(r.code))
                    .unwrap_or(false);
                let rc = if ok {
                    result::SUCCESS
                } else {
                    result::ERROR_MIP_REPLY_FAILURE
                };
                self.answer_aaa(
                    req,
                    &header,
                    session_id,
                    user_name,
                    rc,
                    Some(reply),
                    old_fa,
                    Some(mn),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_aaa(
        &mut self,
        req: ReqId,
        header: &Header,
        session_id: String,
        user_name: String,
        rc: u32,
        reply: Option<Vec<u8>>,
        old_fa: Option<Ipv4Addr>,
        mn: Option<Ipv4Addr>,
    ) {
        let haa = Haa {
            session_id,
            result_code: rc,
            origin_host: self.cfg.origin_host.clone(),
            origin_realm: self.cfg.origin_realm.clone(),
            user_name: Some(user_name),
            reg_reply: reply,
            ha_address: Some(self.cfg.address),
            mn_address: mn,
            fa_to_ha_spi: None,
            old_fa,
            error_message: None,
        };
        self.out.push_back(Output::Aaa(crate::aaa::Output::Answer {
            req,
            msg: haa.to_message(header),
        }));
    }

    fn decide(
        &mut self,
        now: Instant,
        bytes: &[u8],
        req: &Request,
        via: &Via,
        ours: u64,
        vpn: Option<Vec<VpnCacheProfile>>,
    ) -> Result<Accepted, Deny> {
        if unknown_critical(&req.extensions).is_some() {
            return Err(Deny(code::HA_POORLY_FORMED));
        }
        if req.home_agent != self.cfg.address {
            return Err(Deny(code::HA_UNKNOWN_HA));
        }
        // MN authentication: through the AAA the AAAH checked MN-AAA; directly, MN-HA.
        let has_mn_ha = req.extensions.iter().any(|l| {
            matches!(
                l.ext,
                Extension::Auth {
                    kind: kind::MN_HA_AUTH,
                    ..
                }
            )
        });
        match (self.mn_ha.get(&req.home_address), via) {
            (Some(sa), _) if has_mn_ha => {
                if auth::verify_hmac(bytes, &req.extensions, kind::MN_HA_AUTH, &sa.key).is_err() {
                    self.counters.bad_authenticator += 1;
                    return Err(Deny(code::HA_MN_AUTH_FAILED));
                }
            }
            (_, Via::Aaa { .. }) => {}
            (_, Via::Udp { .. }) => {
                self.counters.bad_authenticator += 1;
                return Err(Deny(code::HA_MN_AUTH_FAILED));
            }
        }
        if let Via::Udp { to } = via {
            if let Some(sa) = self.fa_ha.get(to.ip()) {
                if auth::verify_hmac(bytes, &req.extensions, kind::FA_HA_AUTH, &sa.key).is_err() {
                    self.counters.bad_authenticator += 1;
                    return Err(Deny(code::HA_FA_AUTH_FAILED));
                }
            }
        }
        let existing = self.bindings.get(&req.home_address);
        match ntp::check(
            req.identification,
            ours,
            existing.map(|b| b.last_id),
            self.cfg.replay_tolerance,
        ) {
            IdCheck::Ok => {}
            IdCheck::Replayed | IdCheck::OutOfWindow => {
                self.counters.replayed += 1;
                return Err(Deny(code::HA_ID_MISMATCH));
            }
        }
        if req.lifetime == 0 {
            self.counters.deregistrations += 1;
            let old = self.remove(req.home_address);
            let old_fa = old.as_ref().map(|b| b.care_of);
            // The PCNs of the binding's dynamic-GW profiles get a BU with lifetime 0: they
            // drop the entry and their tunnels to the FA now, not at the end of the lifetime
            // (the reply waits for their BAs, as at registration).
            let bus = match &old {
                Some(b) => self.binding_updates(ours, req.home_address, b.care_of, 0, &b.vpn),
                None => Vec::new(),
            };
            return Ok(Accepted {
                lifetime: 0,
                old_fa,
                bus,
            });
        }
        if existing.is_none() && self.bindings.len() >= self.cfg.max_bindings {
            return Err(Deny(code::HA_NO_RESOURCES));
        }
        let lifetime = req.lifetime.min(self.cfg.max_lifetime);
        let coa = req.care_of_address;
        let old = self.bindings.get(&req.home_address).cloned();
        let old_fa = old.as_ref().map(|b| b.care_of).filter(|c| *c != coa);
        let mut profiles = vpn
            .or_else(|| old.as_ref().map(|b| b.vpn.clone()))
            .unwrap_or_default();
        if let Some(o) = old_fa {
            // S214: the destination GW of the cached VPN is the new care-of address.
            for p in &mut profiles {
                if p.src_gw == o {
                    p.src_gw = coa;
                }
                if p.dst_gw == o {
                    p.dst_gw = coa;
                }
            }
        }
        let nai = req
            .nai()
            .map(Into::into)
            .or(old.as_ref().and_then(|b| b.nai.clone()));
        let tunnels = self.tunnels_for(req.home_address, coa, &profiles);
        if let Some((t, why)) = tunnels
            .iter()
            .find_map(|t| (self.cfg.tunnel_support)(t).err().map(|w| (t, w)))
        {
            self.counters.tunnel_unsupported += 1;
            tracing::warn!(home = %req.home_address, remote = %t.remote, "mip ha: registration refused: {why}");
            return Err(Deny(code::HA_PROHIBITED));
        }
        if let Some(o) = &old {
            self.expiries.remove(&(o.expires, req.home_address));
        }
        let before = old.as_ref().map_or(&[][..], |o| &o.tunnels[..]);
        self.out.extend(
            super::tunnel::changes(before, &tunnels)
                .into_iter()
                .map(Output::Tunnel),
        );
        let expires = now + Duration::from_secs(u64::from(lifetime));
        self.expiries.insert((expires, req.home_address));
        // S215: a BU to every dynamic GW when the binding is new or moved, or when its
        // dynamic-GW profiles changed (a service update, Fig. 30 ⑤).
        let moved = old.as_ref().is_none_or(|o| o.care_of != coa);
        let dynamic = |v: &[VpnCacheProfile]| -> Vec<VpnCacheProfile> {
            v.iter()
                .filter(|p| p.dst_gw_type == GwType::Dynamic)
                .cloned()
                .collect()
        };
        let changed = old
            .as_ref()
            .is_some_and(|o| dynamic(&o.vpn) != dynamic(&profiles));
        let bus = if moved || changed {
            self.binding_updates(ours, req.home_address, coa, lifetime, &profiles)
        } else {
            Vec::new()
        };
        self.bindings.insert(
            req.home_address,
            Binding {
                nai,
                care_of: coa,
                expires,
                lifetime,
                last_id: req.identification,
                vpn: profiles,
                tunnels,
            },
        );
        Ok(Accepted {
            lifetime,
            old_fa,
            bus,
        })
    }

    /// The HA's tunnels: the profiles with the HA at one end, else the plain Mobile IP tunnel.
    fn tunnels_for(
        &self,
        home: Ipv4Addr,
        coa: Ipv4Addr,
        profiles: &[VpnCacheProfile],
    ) -> Vec<TunnelSpec> {
        let me = self.cfg.address;
        let mut v: Vec<TunnelSpec> = profiles
            .iter()
            .filter_map(|p| {
                if p.src_gw == me {
                    // HA → GW: the HA is the mobile node's end of this hop (up = out).
                    Some(TunnelSpec::from_profile(
                        home,
                        TunnelRole::HomeToGw,
                        me,
                        p.dst_gw,
                        p,
                        true,
                    ))
                } else if p.dst_gw == me {
                    Some(TunnelSpec::from_profile(
                        home,
                        TunnelRole::HomeToCareOf,
                        me,
                        p.src_gw,
                        p,
                        false,
                    ))
                } else {
                    None
                }
            })
            .collect();
        if !v.iter().any(|t| t.remote == coa) {
            v.push(TunnelSpec::plain(home, TunnelRole::HomeToCareOf, me, coa));
        }
        v
    }

    fn next_bu_id(&mut self, ours: u64) -> u64 {
        self.last_bu_id = ours.max(self.last_bu_id + 1);
        self.last_bu_id
    }

    /// Binding Updates for the dynamic-GW profiles: (PCN, bytes, identification).
    fn binding_updates(
        &mut self,
        ours: u64,
        home: Ipv4Addr,
        coa: Ipv4Addr,
        lifetime: u16,
        profiles: &[VpnCacheProfile],
    ) -> Vec<(Ipv4Addr, Vec<u8>, u64)> {
        let mut per_pcn: BTreeMap<Ipv4Addr, Vec<&VpnCacheProfile>> = BTreeMap::new();
        for p in profiles.iter().filter(|p| p.dst_gw_type == GwType::Dynamic) {
            let pcn = if p.src_gw == coa { p.dst_gw } else { p.src_gw };
            if pcn != self.cfg.address {
                per_pcn.entry(pcn).or_default().push(p);
            }
        }
        let mut out = Vec::new();
        for (pcn, ps) in per_pcn {
            let Some(sa) = self.ro.get(&pcn).cloned() else {
                self.counters.bu_no_sa += 1;
                tracing::warn!(%pcn, "mip ha: no HA-PCN association, Binding Update not sent");
                continue;
            };
            let id = self.next_bu_id(ours);
            match build_bu(home, coa, lifetime, id, &ps, &sa) {
                Ok(b) => out.push((pcn, b, id)),
                Err(e) => tracing::warn!(error = %e, "mip ha: Binding Update not encodable"),
            }
        }
        out
    }

    fn binding_ack(&mut self, _now: Instant, from: Ipv4Addr, bytes: &[u8]) {
        let Ok(ba) = BindingAck::parse(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(sa) = self.ro.get(&from) else {
            self.counters.bad_authenticator += 1;
            return;
        };
        if auth::verify_hmac(bytes, &ba.extensions, kind::RO_AUTH, &sa.key).is_err() {
            self.counters.bad_authenticator += 1;
            return;
        }
        let Some(id) = self.bu_waits.remove(&(from, ba.identification)) else {
            self.counters.ba_unmatched += 1;
            return;
        };
        self.counters.ba_rx += 1;
        if ba.status >= binding::status::UNSPECIFIED {
            self.counters.ba_rejected += 1;
            tracing::warn!(pcn = %from, status = ba.status, "mip ha: Binding Update rejected");
        }
        let done = match self.pending.get_mut(&id) {
            Some(p) => {
                p.waiting
                    .retain(|w| !(w.0 == from && w.2 == ba.identification));
                p.waiting.is_empty()
            }
            None => false,
        };
        if done {
            self.complete(id);
        }
    }

    fn complete(&mut self, id: u64) {
        if let Some(p) = self.pending.remove(&id) {
            self.deadlines.remove(&(p.deadline, id));
            for (pcn, _, bid) in &p.waiting {
                self.bu_waits.remove(&(*pcn, *bid));
            }
            self.finish(p.via, p.reply, p.old_fa, p.mn_address);
        }
    }

    fn binding_request(&mut self, now: Instant, from: Ipv4Addr, bytes: &[u8]) {
        let Ok(br) = BindingRequest::parse(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(sa) = self.ro.get(&from).cloned() else {
            self.counters.bad_authenticator += 1;
            return;
        };
        if auth::verify_hmac(bytes, &br.extensions, kind::RO_AUTH, &sa.key).is_err() {
            self.counters.bad_authenticator += 1;
            return;
        }
        let Some(b) = self.bindings.get(&br.home_address) else {
            self.counters.br_no_binding += 1;
            return;
        };
        let remaining = b.expires.saturating_duration_since(now).as_secs();
        let (coa, vpn) = (b.care_of, b.vpn.clone());
        let ps: Vec<&VpnCacheProfile> = vpn
            .iter()
            .filter(|p| p.dst_gw_type == GwType::Dynamic && (p.src_gw == from || p.dst_gw == from))
            .collect();
        if ps.is_empty() || remaining == 0 {
            // Nothing to refresh (or under a second left): the PCN lets the entry expire.
            self.counters.br_no_binding += 1;
            return;
        }
        let ours = self.cfg.clock.at(now);
        let id = self.next_bu_id(ours);
        let lifetime = u16::try_from(remaining).unwrap_or(u16::MAX);
        if let Ok(b) = build_bu(br.home_address, coa, lifetime, id, &ps, &sa) {
            self.counters.br_answered += 1;
            self.out.push_back(Output::Send {
                to: agent_port(from),
                bytes: b,
            });
        }
    }

    fn remove(&mut self, home: Ipv4Addr) -> Option<Binding> {
        let b = self.bindings.remove(&home)?;
        self.expiries.remove(&(b.expires, home));
        for t in &b.tunnels {
            self.out
                .push_back(Output::Tunnel(TunnelEvent::Down(t.clone())));
        }
        Some(b)
    }

    /// Runs lifetimes and BU retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, home)) = self.expiries.first() {
            if t > now {
                break;
            }
            self.expiries.pop_first();
            if self.bindings.get(&home).is_some_and(|b| b.expires == t) {
                self.counters.lifetime_expiries += 1;
                tracing::debug!(%home, "mip ha: binding expired");
                self.remove(home);
            }
        }
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if p.retries_left == 0 {
                self.counters.bu_timeouts += 1;
                tracing::warn!(mn = %p.mn_address, "mip ha: no Binding Acknowledge, answering without it");
                self.complete(id);
                continue;
            }
            p.retries_left -= 1;
            p.deadline = now + self.cfg.bu_timeout;
            self.deadlines.insert((p.deadline, id));
            for (pcn, b, _) in &p.waiting {
                self.counters.bu_retransmits += 1;
                self.out.push_back(Output::Send {
                    to: agent_port(*pcn),
                    bytes: b.clone(),
                });
            }
        }
    }
}

struct Accepted {
    lifetime: u16,
    old_fa: Option<Ipv4Addr>,
    bus: Vec<(Ipv4Addr, Vec<u8>, u64)>,
}

/// A Binding Update for `home` at `coa` with `profiles`, authenticated with `sa`.
pub fn build_bu(
    home: Ipv4Addr,
    coa: Ipv4Addr,
    lifetime: u16,
    identification: u64,
    profiles: &[&VpnCacheProfile],
    sa: &Sa,
) -> Result<Vec<u8>, WireError> {
    let bu = BindingUpdate {
        flags: binding::flags::A | binding::flags::I,
        lifetime,
        home_address: home,
        care_of_address: coa,
        identification,
        extensions: Vec::new(),
    };
    let mut exts = Vec::with_capacity(profiles.len() + 1);
    for p in profiles {
        exts.push(Extension::vpn_profile(p)?);
    }
    exts.push(auth::auth_placeholder(kind::RO_AUTH, sa.spi));
    let n = exts.len() - 1;
    seal(bu.fixed(), &exts, n, |c| auth::hmac_md5(&sa.key, c))
}

/// A Binding Acknowledge for `bu`'s identification, authenticated with `sa`.
pub fn build_ba(
    status: u8,
    home: Ipv4Addr,
    lifetime: u16,
    identification: u64,
    sa: &Sa,
) -> Result<Vec<u8>, WireError> {
    let ba = BindingAck {
        status,
        home_address: home,
        lifetime,
        refresh: lifetime / 2,
        identification,
        extensions: Vec::new(),
    };
    seal(
        ba.fixed(),
        &[auth::auth_placeholder(kind::RO_AUTH, sa.spi)],
        0,
        |c| auth::hmac_md5(&sa.key, c),
    )
}
