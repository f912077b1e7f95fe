//! The proxy correspondent node (seed 003, Figs. 27–30): it receives the Binding Updates sent
//! to the correspondent nodes it serves, keeps their binding cache and VPN information, and
//! sets the VPN tunnel to the mobile node's current FA.
//!
//! A BU is taken only when its route optimisation authenticator verifies with the
//! association of the sending HA ([`Pcn::set_peer`]) and its Identification is above the last
//! one for that mobile node; anything else is dropped and counted (a forged BU never moves a
//! tunnel). At [`PcnConfig::refresh_at`] of the lifetime the PCN sends the HA a Binding
//! Request; the HA refreshes with a BU while the VPN is cached, otherwise the entry and its
//! tunnels go at expiry (Fig. 30).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use vpndb::model::VpnCacheProfile;

use super::auth::{self, seal};
use super::ha::build_ba;
use super::tunnel::{TunnelEvent, TunnelRole, TunnelSpec};
use super::wire::binding::{self, BindingRequest, BindingUpdate};
use super::wire::ext::kind;
use super::wire::msg_type;
use super::wire::ntp::NtpClock;
use super::{agent_port, unknown_critical, vpn_profiles, Output, Sa};

/// Configuration of a PCN.
#[derive(Debug, Clone)]
pub struct PcnConfig {
    /// Our address (the tunnel end).
    pub address: Ipv4Addr,
    /// Most cache entries.
    pub max_entries: usize,
    /// Fraction of the lifetime (per mille) after which the Binding Request goes out.
    pub refresh_at: u32,
    /// Our NTP clock (Identification of the Binding Requests).
    pub clock: NtpClock,
}

impl PcnConfig {
    /// Defaults.
    pub fn new(address: Ipv4Addr, clock: NtpClock) -> Self {
        PcnConfig {
            address,
            max_entries: 100_000,
            refresh_at: 800,
            clock,
        }
    }
}

/// Counters of the PCN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcnCounters {
    /// BUs accepted.
    pub accepted: u64,
    /// BUs refused for resources or bad contents (acknowledged with the status).
    pub denied: u64,
    /// BUs whose authenticator did not verify, or from a sender without an association.
    pub bad_authenticator: u64,
    /// BUs with an old Identification.
    pub replayed: u64,
    /// Entries that expired (VPN deleted).
    pub lifetime_expiries: u64,
    /// Binding Requests sent.
    pub br_sent: u64,
    /// Datagrams that do not parse.
    pub malformed: u64,
}

/// One binding cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The HA that sent the BU.
    pub home_agent: Ipv4Addr,
    /// Care-of address.
    pub care_of: Ipv4Addr,
    /// Expiry.
    pub expires: Instant,
    /// When the Binding Request goes to the HA.
    pub refresh_at: Instant,
    /// Last Identification taken.
    pub last_id: u64,
    /// The VPN profiles.
    pub vpn: Vec<VpnCacheProfile>,
    /// Tunnels up.
    pub tunnels: Vec<TunnelSpec>,
}

/// The PCN (see the [module docs](self)).
pub struct Pcn {
    cfg: PcnConfig,
    peers: HashMap<Ipv4Addr, Sa>,
    cache: HashMap<Ipv4Addr, Entry>,
    expiries: BTreeSet<(Instant, Ipv4Addr)>,
    refreshes: BTreeSet<(Instant, Ipv4Addr)>,
    last_br: u64,
    out: VecDeque<Output>,
    counters: PcnCounters,
}

impl Pcn {
    /// A PCN.
    pub fn new(cfg: PcnConfig) -> Self {
        Pcn {
            cfg,
            peers: HashMap::new(),
            cache: HashMap::new(),
            expiries: BTreeSet::new(),
            refreshes: BTreeSet::new(),
            last_br: 0,
            out: VecDeque::new(),
            counters: PcnCounters::default(),
        }
    }
    /// Provisions the association with the HA at `ha`.
    pub fn set_peer(&mut self, ha: Ipv4Addr, sa: Sa) {
        self.peers.insert(ha, sa);
    }
    /// The counters.
    pub fn counters(&self) -> &PcnCounters {
        &self.counters
    }
    /// The cache entry of `home`.
    pub fn entry(&self, home: Ipv4Addr) -> Option<&Entry> {
        self.cache.get(&home)
    }
    /// All entries.
    pub fn entries(&self) -> impl Iterator<Item = (&Ipv4Addr, &Entry)> {
        self.cache.iter()
    }
    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    /// When to call [`Pcn::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.expiries.first().map(|e| e.0),
            self.refreshes.first().map(|e| e.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A datagram to UDP 434.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV4, bytes: &[u8]) {
        match bytes.first() {
            Some(&msg_type::BINDING_UPDATE) => self.binding_update(now, *from.ip(), bytes),
            _ => self.counters.malformed += 1,
        }
    }

    fn ack(&mut self, to: Ipv4Addr, status: u8, bu: &BindingUpdate, sa: &Sa) {
        if let Ok(b) = build_ba(status, bu.home_address, bu.lifetime, bu.identification, sa) {
            self.out.push_back(Output::Send {
                to: agent_port(to),
                bytes: b,
            });
        }
    }

    fn binding_update(&mut self, now: Instant, from: Ipv4Addr, bytes: &[u8]) {
        let Ok(bu) = BindingUpdate::parse(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(sa) = self.peers.get(&from).cloned() else {
            self.counters.bad_authenticator += 1;
            tracing::debug!(%from, "mip pcn: BU from a sender without an association");
            return;
        };
        if auth::verify_hmac(bytes, &bu.extensions, kind::RO_AUTH, &sa.key).is_err() {
            self.counters.bad_authenticator += 1;
            tracing::debug!(%from, home = %bu.home_address, "mip pcn: BU authenticator mismatch");
            return;
        }
        let home = bu.home_address;
        if self
            .cache
            .get(&home)
            .is_some_and(|e| bu.identification <= e.last_id)
        {
            self.counters.replayed += 1;
            return self.ack(from, binding::status::ID_MISMATCH, &bu, &sa);
        }
        let profiles = match vpn_profiles(&bu.extensions) {
            Ok(p) if unknown_critical(&bu.extensions).is_none() => p,
            _ => {
                self.counters.denied += 1;
                return self.ack(from, binding::status::POORLY_FORMED, &bu, &sa);
            }
        };
        if bu.lifetime == 0 {
            self.remove(home);
            self.counters.accepted += 1;
            return self.ack(from, binding::status::ACCEPTED, &bu, &sa);
        }
        if !self.cache.contains_key(&home) && self.cache.len() >= self.cfg.max_entries {
            self.counters.denied += 1;
            return self.ack(from, binding::status::NO_RESOURCES, &bu, &sa);
        }
        let me = self.cfg.address;
        let tunnels: Vec<TunnelSpec> = profiles
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
                    home,
                    TunnelRole::PcnToForeign,
                    me,
                    remote,
                    p,
                    false,
                ))
            })
            .collect();
        let old = self.cache.remove(&home);
        if let Some(o) = &old {
            self.expiries.remove(&(o.expires, home));
            self.refreshes.remove(&(o.refresh_at, home));
        }
        let before = old.as_ref().map_or(&[][..], |o| &o.tunnels[..]);
        self.out.extend(
            super::tunnel::changes(before, &tunnels)
                .into_iter()
                .map(Output::Tunnel),
        );
        let life = Duration::from_secs(u64::from(bu.lifetime));
        let expires = now + life;
        self.expiries.insert((expires, home));
        let refresh_at = now + life * self.cfg.refresh_at / 1000;
        self.refreshes.insert((refresh_at, home));
        self.cache.insert(
            home,
            Entry {
                home_agent: from,
                care_of: bu.care_of_address,
                expires,
                refresh_at,
                last_id: bu.identification,
                vpn: profiles,
                tunnels,
            },
        );
        self.counters.accepted += 1;
        self.ack(from, binding::status::ACCEPTED, &bu, &sa);
    }

    fn remove(&mut self, home: Ipv4Addr) {
        if let Some(e) = self.cache.remove(&home) {
            self.expiries.remove(&(e.expires, home));
            self.refreshes.remove(&(e.refresh_at, home));
            for t in e.tunnels {
                self.out.push_back(Output::Tunnel(TunnelEvent::Down(t)));
            }
        }
    }

    /// Runs the refreshes and the expiries.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, home)) = self.refreshes.first() {
            if t > now {
                break;
            }
            self.refreshes.pop_first();
            let Some(e) = self.cache.get(&home) else {
                continue;
            };
            let ha = e.home_agent;
            let Some(sa) = self.peers.get(&ha).cloned() else {
                continue;
            };
            let id = self.cfg.clock.at(now).max(self.last_br + 1);
            self.last_br = id;
            let br = BindingRequest {
                home_address: home,
                identification: id,
                extensions: Vec::new(),
            };
            if let Ok(b) = seal(
                br.fixed(),
                &[auth::auth_placeholder(kind::RO_AUTH, sa.spi)],
                0,
                |c| auth::hmac_md5(&sa.key, c),
            ) {
                self.counters.br_sent += 1;
                self.out.push_back(Output::Send {
                    to: agent_port(ha),
                    bytes: b,
                });
            }
        }
        while let Some(&(t, home)) = self.expiries.first() {
            if t > now {
                break;
            }
            self.expiries.pop_first();
            if self.cache.get(&home).is_some_and(|e| e.expires == t) {
                self.counters.lifetime_expiries += 1;
                tracing::debug!(%home, "mip pcn: binding expired, VPN deleted");
                self.remove(home);
            }
        }
    }
}
