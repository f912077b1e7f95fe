//! The subscribers of every VR that terminates PPP: one PPP engine per L2TP session, the
//! VR's RADIUS client and Dynamic Authorization server, its address pools, accounting,
//! session and idle timeouts, and the routes that send traffic back into each session.
//!
//! Sans-IO like the engines it drives: the L2TP service feeds it session transitions, PPP
//! frames, RADIUS datagrams and timer expiries, and drains [`Output`]s (IPv4 packets to
//! route in a VR, RADIUS datagrams, route changes, L2TP sessions to close, timers). It never
//! reads a clock; the traffic of a session is read through a [`Traffic`] closure (the
//! workers' per-session counters).
//!
//! Life of a subscriber: the L2TP session comes up → PPP starts (or continues from the
//! LAC's proxy LCP) → the peer authenticates → RADIUS (or a local user) accepts and gives
//! its address (`Framed-IP-Address`, else `Framed-Pool`, else the VR's first pool) →
//! IPCP/IPV6CP open → the subscriber's /32 (and IPv6 prefix) becomes a route in the VR
//! whose next hop encapsulates into the session, accounting starts → … → PPP or L2TP goes
//! down, a timeout fires or RADIUS sends a Disconnect-Request → the routes go, the
//! address returns to its pool, accounting stops with the cause.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vr::{IpPrefix, L2tpEncap, NextHop, PortId, VrId};
use wire::IpProtocol;

use super::config::{AuthMethod, SubscriberConfig};
use super::pool::Pools;
use crate::l2tp::engine::ProxyInfo;
use crate::ppp::auth::{self as ppp_auth, AuthRequest, AuthResult, Credentials};
use crate::ppp::engine::{
    Config as PppConfig, DownReason, Engine, Event as PppEvent, IpcpParams, ProxyAuth, ProxyLcp,
    Role,
};
use crate::radius::client::{
    AccessRequest, AcctRequest, AcctStatus, Auth, Client, ClientResult, Config as RadiusConfig,
    Server,
};
use crate::radius::dae::{DaeAnswer, DaeClient, DaeKind, DaeRequest, DaeServer, ErrorCause};

/// Reads a session's traffic since it started: packets and bytes from and to the
/// subscriber (`vr::session_counter` order), by counter slot.
pub type Traffic<'a> = &'a dyn Fn(u32) -> [u64; 4];

/// An L2TP session as the subscriber manager needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Our tunnel id.
    pub tunnel: u16,
    /// Our session id.
    pub session: u16,
    /// The LAC's tunnel id.
    pub peer_tunnel: u16,
    /// The LAC's session id.
    pub peer_session: u16,
    /// The LAC's address and UDP port.
    pub peer: SocketAddr,
    /// Our tunnel endpoint address.
    pub local: Ipv4Addr,
    /// Where the LAC is reached: port, VLAN and the neighbour (the LAC or a gateway).
    pub egress: Option<(PortId, Option<u16>, Ipv4Addr)>,
    /// The session's traffic counter slot.
    pub counters: u32,
    /// Calling Number (RADIUS Calling-Station-Id).
    pub calling_number: Vec<u8>,
    /// Proxy LCP / authentication from the LAC.
    pub proxy: Option<Box<ProxyInfo>>,
    /// A PPPoE session terminated here instead of an L2TP session: `tunnel` is 0 (no L2TP
    /// tunnel has id 0) and `session` the link number the access side gave it; the L2TP
    /// fields are unused.
    pub pppoe: Option<PppoeLink>,
}

/// A PPPoE session a VR terminates (from the access side, `crate::access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PppoeLink {
    /// The access port.
    pub port: PortId,
    /// The PPPoE session id.
    pub session: u16,
    /// The subscriber's MAC.
    pub mac: [u8; 6],
    /// Our MAC on the port.
    pub our_mac: [u8; 6],
    /// The VLAN.
    pub vlan: Option<u16>,
}

/// Timers of the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    /// A subscriber's next deadline (PPP, accounting, timeouts).
    Session {
        /// The VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// A VR's RADIUS client and DAE server.
    Radius(VrId),
}

/// What the manager wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this Ethernet frame (PPP in a PPPoE session) on `port`.
    Frame {
        /// The port.
        port: PortId,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Route this IPv4 packet (an L2TP data message to a LAC) in the VR.
    Packet {
        /// The VR.
        vr: VrId,
        /// The packet.
        ip: Vec<u8>,
    },
    /// Add (`Some`) or remove (`None`) a subscriber route in the VR.
    Route {
        /// The VR.
        vr: VrId,
        /// The subscriber's address or prefix.
        prefix: IpPrefix,
        /// The encapsulation into the session.
        via: Option<NextHop>,
    },
    /// Close the L2TP session (CDN): PPP is over.
    CloseSession {
        /// The VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// Send a RADIUS datagram from the VR's client socket `socket`.
    Radius {
        /// The VR.
        vr: VrId,
        /// Index of the client's source socket.
        socket: usize,
        /// Destination.
        dst: SocketAddr,
        /// Datagram.
        payload: Vec<u8>,
    },
    /// Send a Dynamic Authorization answer from the VR's DAE socket.
    Dae {
        /// The VR.
        vr: VrId,
        /// Destination.
        dst: SocketAddr,
        /// Datagram.
        payload: Vec<u8>,
    },
    /// Arm (`Some`) or cancel (`None`) a timer.
    Timer {
        /// Which.
        key: TimerKey,
        /// When.
        at: Option<Instant>,
    },
}

/// RFC 2866 Acct-Terminate-Cause values used here.
pub mod terminate_cause {
    /// The subscriber ended the session.
    pub const USER_REQUEST: u32 = 1;
    /// The link went away (L2TP session or tunnel down, keepalive lost).
    pub const LOST_CARRIER: u32 = 2;
    /// Idle-Timeout.
    pub const IDLE_TIMEOUT: u32 = 4;
    /// Session-Timeout.
    pub const SESSION_TIMEOUT: u32 = 5;
    /// Disconnect-Request or an operator.
    pub const ADMIN_RESET: u32 = 6;
    /// The NAS ended it (error, reconfiguration).
    pub const NAS_REQUEST: u32 = 10;
    /// PPP negotiation failed.
    pub const SERVICE_UNAVAILABLE: u32 = 15;
}

/// Counters of one VR's subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VrStats {
    /// Sessions whose PPP started.
    pub sessions_started: u64,
    /// Sessions that reached IPCP or IPV6CP up.
    pub sessions_up: u64,
    /// Sessions that ended.
    pub sessions_ended: u64,
    /// Authentication accepted.
    pub auth_accepts: u64,
    /// Authentication rejected (RADIUS reject or challenge, unknown local user, wrong password).
    pub auth_rejects: u64,
    /// No RADIUS server answered.
    pub radius_timeouts: u64,
    /// RADIUS requests that could not be queued.
    pub radius_errors: u64,
    /// Accounting records that no server acknowledged.
    pub acct_failures: u64,
    /// Accepted users without an address (pool empty, address in use).
    pub no_address: u64,
    /// Sessions with no route to their LAC (their traffic cannot return).
    pub no_egress: u64,
    /// Disconnect-Requests that ended a session.
    pub dae_disconnects: u64,
    /// CoA-Requests applied.
    pub dae_coa: u64,
    /// Dynamic Authorization requests refused (NAK).
    pub dae_naks: u64,
    /// Session-Timeout expiries.
    pub session_timeouts: u64,
    /// Idle-Timeout expiries.
    pub idle_timeouts: u64,
    /// PPP frames for sessions the manager does not know.
    pub frames_unknown_session: u64,
    /// Subscribers whose routing moved to another VR (management, issue 11), counted in
    /// the VR whose subscriber it is.
    pub moves: u64,
}

impl VrStats {
    fn add(&mut self, o: &VrStats) {
        let VrStats {
            sessions_started,
            sessions_up,
            sessions_ended,
            auth_accepts,
            auth_rejects,
            radius_timeouts,
            radius_errors,
            acct_failures,
            no_address,
            no_egress,
            dae_disconnects,
            dae_coa,
            dae_naks,
            session_timeouts,
            idle_timeouts,
            frames_unknown_session,
            moves,
        } = *o;
        self.sessions_started += sessions_started;
        self.sessions_up += sessions_up;
        self.sessions_ended += sessions_ended;
        self.auth_accepts += auth_accepts;
        self.auth_rejects += auth_rejects;
        self.radius_timeouts += radius_timeouts;
        self.radius_errors += radius_errors;
        self.acct_failures += acct_failures;
        self.no_address += no_address;
        self.no_egress += no_egress;
        self.dae_disconnects += dae_disconnects;
        self.dae_coa += dae_coa;
        self.dae_naks += dae_naks;
        self.session_timeouts += session_timeouts;
        self.idle_timeouts += idle_timeouts;
        self.frames_unknown_session += frames_unknown_session;
        self.moves += moves;
    }
}

/// One VR's subscriber figures ([`Subscribers::per_vr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VrReport {
    /// The VR.
    pub vr: VrId,
    /// Its counters.
    pub stats: VrStats,
    /// PPP links now.
    pub sessions: usize,
    /// Links with an address now.
    pub up: usize,
    /// Its RADIUS client's counters.
    pub radius: crate::radius::client::Counters,
}

/// A subscriber as `varouter` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberView {
    /// The VR (whose PPP, pools and RADIUS serve it).
    pub vr: VrId,
    /// The VR its traffic is routed in (`vr` unless it was moved).
    pub routed_in: VrId,
    /// User name (empty before authentication).
    pub user: String,
    /// IPv4 address once assigned.
    pub v4: Option<Ipv4Addr>,
    /// IPv6 prefix once assigned.
    pub v6: Option<(Ipv6Addr, u8)>,
    /// Our tunnel and session ids.
    pub tunnel: u16,
    /// Session id.
    pub session: u16,
    /// PPP phase, as text.
    pub phase: &'static str,
    /// Time since the session started.
    pub uptime: Duration,
    /// Traffic: packets/bytes from and to the subscriber.
    pub traffic: [u64; 4],
    /// Acct-Session-Id.
    pub acct_session_id: String,
}

const ACCT_TAG: u64 = 1 << 63;

/// Period of unsolicited Router Advertisements to an IPv6 subscriber (the advertised router
/// lifetime is 1800 s).
const RA_INTERVAL: Duration = Duration::from_secs(600);

struct Subscriber {
    serial: u64,
    info: SessionInfo,
    ppp: Engine,
    user: String,
    auth_pending: bool,
    v4: Option<Ipv4Addr>,
    v6: Option<(Ipv6Addr, u8)>,
    route_v4: bool,
    route_v6: bool,
    class: Vec<Vec<u8>>,
    started: Instant,
    up_at: Option<Instant>,
    acct_started: bool,
    session_timeout_at: Option<Instant>,
    idle_timeout: Option<Duration>,
    idle_check_at: Option<Instant>,
    last_activity: Instant,
    last_packets: u64,
    interim: Option<Duration>,
    next_interim: Option<Instant>,
    /// Why we are ending it (our own reasons beat what PPP reports afterwards).
    cause: Option<u32>,
    /// The L2TP session is already gone (no CDN to send).
    lower_gone: bool,
    armed: Option<Instant>,
    /// Our IPv6 interface id and when the next unsolicited Router Advertisement is due
    /// (RFC 4861 §6.2.4: periodic, well inside the 1800 s router lifetime it announces).
    ra: Option<(u64, Instant)>,
    /// The VR (id and name) its routes are in when it was moved to another VR than its
    /// own ([`Subscribers::move_routes`]); `None`: its own VR.
    moved_to: Option<(VrId, String)>,
}

impl Subscriber {
    /// The subscriber's IPv4 host route, once it has an address.
    fn v4_prefix(&self) -> Option<IpPrefix> {
        self.v4.map(|a| IpPrefix::host(IpAddr::V4(a)))
    }

    /// The subscriber's IPv6 prefix route, once it has a prefix.
    fn v6_prefix(&self) -> Option<IpPrefix> {
        self.v6.and_then(|(p, l)| v6_prefix(p, l).ok())
    }

    fn ipcp_open(&self) -> bool {
        self.ppp.ipcp_state() == crate::ppp::engine::State::Opened
    }

    fn ipv6cp_open(&self) -> bool {
        self.ppp.ipv6cp_state() == crate::ppp::engine::State::Opened
    }

    /// The VR its routes go into: `vr` (its own) unless it was moved.
    fn route_vr(&self, vr: VrId) -> VrId {
        self.moved_to.as_ref().map_or(vr, |m| m.0)
    }

    fn acct_session_id(&self, vr: VrId) -> String {
        format!("{:05X}{:011X}", vr.0, self.serial)
    }

    fn deadline(&self) -> Option<Instant> {
        [
            self.ppp.deadline(),
            self.session_timeout_at,
            self.next_interim,
            self.idle_check_at,
            self.ra.map(|r| r.1),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

struct VrSubs {
    cfg: SubscriberConfig,
    /// `cfg.users` by name (the first of a name wins, as a scan would find it): a linear
    /// search per authentication made setup quadratic in the number of local users.
    users: HashMap<String, usize>,
    ppp_cfg: Arc<PppConfig>,
    pools: Pools,
    radius: Option<Client>,
    dae: Option<DaeServer>,
    sessions: HashMap<(u16, u16), Subscriber>,
    by_serial: HashMap<u64, (u16, u16)>,
    next_serial: u64,
    stats: VrStats,
    radius_armed: Option<Instant>,
}

/// Every VR's subscribers (see the module docs).
pub struct Subscribers {
    vrs: BTreeMap<VrId, VrSubs>,
    out: Vec<Output>,
    seed: u64,
    retired: VrStats,
    retired_ppp: crate::ppp::engine::Counters,
}

fn ppp_config(c: &SubscriberConfig) -> PppConfig {
    PppConfig {
        mru: c.mru,
        auth: c
            .auth
            .iter()
            .map(|m| match m {
                AuthMethod::Pap => ppp_auth::AuthMethod::Pap,
                AuthMethod::Chap => ppp_auth::AuthMethod::ChapMd5,
                AuthMethod::MsChapV2 => ppp_auth::AuthMethod::MsChapV2,
            })
            .collect(),
        echo_interval: (!c.echo_interval.is_zero()).then_some(c.echo_interval),
        echo_failures: c.echo_failures.min(255) as u8,
        name: "varouter".into(),
        enable_ipv4: true,
        enable_ipv6: c.ipv6,
        ..PppConfig::default()
    }
}

fn user_index(c: &SubscriberConfig) -> HashMap<String, usize> {
    let mut m = HashMap::with_capacity(c.users.len());
    for (i, u) in c.users.iter().enumerate() {
        m.entry(u.name.clone()).or_insert(i);
    }
    m
}

fn radius_client(c: &SubscriberConfig, seed: u64) -> Option<(Client, Option<DaeServer>)> {
    let r = c.radius.as_ref()?;
    let mut rc = RadiusConfig::new(&r.nas_identifier);
    let servers = |l: &[crate::subscriber::config::RadiusServer]| -> Vec<Server> {
        l.iter()
            .map(|s| Server {
                addr: s.addr,
                secret: s.secret.as_bytes().to_vec(),
            })
            .collect()
    };
    rc.auth_servers = servers(&r.servers);
    rc.acct_servers = servers(&r.accounting);
    rc.timeout = r.timeout;
    rc.retries = r.retries.saturating_sub(1);
    rc.nas_ip = match r.source {
        IpAddr::V4(a) if !a.is_unspecified() => Some(a),
        _ => None,
    };
    let dae = r.dae.as_ref().map(|(_, clients)| {
        DaeServer::new(
            clients
                .iter()
                .map(|c| DaeClient {
                    addr: c.addr,
                    secret: c.secret.as_bytes().to_vec(),
                })
                .collect(),
        )
    });
    Some((Client::new(rc, seed), dae))
}

/// The source sockets a VR's RADIUS client uses (the driver opens this many).
pub fn radius_source_ports(c: &SubscriberConfig) -> usize {
    if c.radius.is_some() {
        RadiusConfig::new("").source_ports
    } else {
        0
    }
}

fn mix(seed: u64, n: u64) -> u64 {
    // SplitMix64: distinct, well-spread seeds per link from one OS-seeded value.
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Subscribers {
    /// No VR terminates PPP yet. `seed` (from the OS in production) seeds every link's
    /// magic numbers and challenges.
    pub fn new(seed: u64) -> Self {
        Subscribers {
            vrs: BTreeMap::new(),
            out: Vec::new(),
            seed,
            retired: VrStats::default(),
            retired_ppp: Default::default(),
        }
    }

    /// Makes the VRs' settings those of `cfgs`. A VR that is new starts; a VR that is gone
    /// ends its subscribers (accounting Stop, NAS-Request); a VR whose settings changed
    /// keeps its subscribers and their addresses (the pools are reconfigured; new sessions
    /// use the new settings; RADIUS requests in flight are lost when the servers changed).
    pub fn configure(&mut self, now: Instant, cfgs: Vec<SubscriberConfig>, traffic: Traffic<'_>) {
        let wanted: BTreeMap<VrId, SubscriberConfig> =
            cfgs.into_iter().map(|c| (c.vr, c)).collect();
        let gone: Vec<VrId> = self
            .vrs
            .keys()
            .filter(|v| !wanted.contains_key(v))
            .copied()
            .collect();
        for vr in gone {
            let keys: Vec<(u16, u16)> = self.vrs[&vr].sessions.keys().copied().collect();
            for (t, s) in keys {
                self.end(now, vr, (t, s), terminate_cause::NAS_REQUEST, traffic);
            }
            if let Some(v) = self.vrs.remove(&vr) {
                self.retired.add(&v.stats);
                self.out.push(Output::Timer {
                    key: TimerKey::Radius(vr),
                    at: None,
                });
            }
        }
        for (vr, cfg) in wanted {
            self.seed = mix(self.seed, u64::from(vr.0));
            match self.vrs.get_mut(&vr) {
                Some(v) if v.cfg == cfg => {}
                Some(v) => {
                    v.pools
                        .reconfigure(cfg.pools.clone(), cfg.ipv6_pools.clone());
                    v.ppp_cfg = Arc::new(ppp_config(&cfg));
                    let new_client = v.cfg.radius != cfg.radius;
                    if new_client {
                        let (radius, dae) = match radius_client(&cfg, self.seed) {
                            Some((r, d)) => (Some(r), d),
                            None => (None, None),
                        };
                        v.radius = radius;
                        v.dae = dae;
                    }
                    if v.cfg.users != cfg.users {
                        v.users = user_index(&cfg);
                    }
                    v.cfg = cfg;
                    if new_client {
                        self.accounting_on_off(now, vr, AcctStatus::On);
                    }
                }
                None => {
                    let (radius, dae) = match radius_client(&cfg, self.seed) {
                        Some((r, d)) => (Some(r), d),
                        None => (None, None),
                    };
                    self.vrs.insert(
                        vr,
                        VrSubs {
                            pools: Pools::new(cfg.pools.clone(), cfg.ipv6_pools.clone()),
                            ppp_cfg: Arc::new(ppp_config(&cfg)),
                            users: user_index(&cfg),
                            cfg,
                            radius,
                            dae,
                            sessions: HashMap::new(),
                            by_serial: HashMap::new(),
                            next_serial: 1,
                            stats: VrStats::default(),
                            radius_armed: None,
                        },
                    );
                    self.accounting_on_off(now, vr, AcctStatus::On);
                }
            }
        }
    }

    /// True when `vr` terminates PPP.
    pub fn serves(&self, vr: VrId) -> bool {
        self.vrs.contains_key(&vr)
    }

    /// The settings of `vr`.
    pub fn config(&self, vr: VrId) -> Option<&SubscriberConfig> {
        self.vrs.get(&vr).map(|v| &v.cfg)
    }

    /// An L2TP session of `vr` came up: its PPP starts.
    pub fn session_up(&mut self, now: Instant, vr: VrId, info: SessionInfo) {
        let seed = self.seed;
        let Some(v) = self.vrs.get_mut(&vr) else {
            return;
        };
        let serial = v.next_serial;
        v.next_serial += 1;
        v.stats.sessions_started += 1;
        if info.egress.is_none() && info.pppoe.is_none() {
            v.stats.no_egress += 1;
        }
        let link_seed = mix(seed, serial ^ (u64::from(vr.0) << 40));
        let ppp = match info.proxy.as_deref() {
            Some(p) if p.last_sent_confreq.is_some() && p.last_received_confreq.is_some() => {
                let lcp = ProxyLcp {
                    initial_received: p.initial_received_confreq.clone().unwrap_or_default(),
                    last_sent_confreq: p.last_sent_confreq.clone().unwrap_or_default(),
                    last_received_confreq: p.last_received_confreq.clone().unwrap_or_default(),
                };
                let auth = p.authen_type.map(|t| ProxyAuth {
                    auth_type: t,
                    name: p.authen_name.clone(),
                    challenge: p.authen_challenge.clone(),
                    id: p.authen_id.unwrap_or(0),
                    response: p.authen_response.clone(),
                });
                Engine::server_with_proxy(
                    Arc::clone(&v.ppp_cfg),
                    now,
                    link_seed,
                    &lcp,
                    auth.as_ref(),
                )
            }
            _ => {
                let mut e = Engine::new(Arc::clone(&v.ppp_cfg), Role::Server, now, link_seed);
                e.open(now);
                e
            }
        };
        let key = (info.tunnel, info.session);
        if let Some(old) = v.sessions.remove(&key) {
            // Ids reused before we heard the old session end: the old one is gone.
            v.by_serial.remove(&old.serial);
            release(v, &old);
        }
        v.by_serial.insert(serial, key);
        v.sessions.insert(
            key,
            Subscriber {
                serial,
                info,
                ppp,
                user: String::new(),
                auth_pending: false,
                v4: None,
                v6: None,
                route_v4: false,
                route_v6: false,
                class: Vec::new(),
                started: now,
                up_at: None,
                acct_started: false,
                session_timeout_at: None,
                idle_timeout: None,
                idle_check_at: None,
                last_activity: now,
                last_packets: 0,
                interim: None,
                next_interim: None,
                cause: None,
                lower_gone: false,
                armed: None,
                ra: None,
                moved_to: None,
            },
        );
        self.pump(now, vr, key, &|_| [0; 4]);
    }

    /// The L2TP session is gone (CDN, tunnel down): the subscriber ends (Lost-Carrier).
    pub fn session_down(
        &mut self,
        now: Instant,
        vr: VrId,
        tunnel: u16,
        session: u16,
        traffic: Traffic<'_>,
    ) {
        let Some(s) = self
            .vrs
            .get_mut(&vr)
            .and_then(|v| v.sessions.get_mut(&(tunnel, session)))
        else {
            return;
        };
        s.lower_gone = true;
        // The subscriber's own LCP Terminate-Request leaves LCP Stopping until the restart
        // timer; a LAC that tears the session down as soon as we acknowledged it (lwIP,
        // most CPEs) must still be accounted as User-Request (RFC 2866 §5.10: "for example
        // with LCP Terminate"), not as a lost carrier. (Stopping is only reached from
        // Opened by the peer: its Terminate-Request, or its Code-Reject of an LCP code.)
        let peer_ended = s.ppp.state() == crate::ppp::engine::State::Stopping;
        s.cause.get_or_insert(if peer_ended {
            terminate_cause::USER_REQUEST
        } else {
            terminate_cause::LOST_CARRIER
        });
        s.ppp.lower_down();
        self.pump(now, vr, (tunnel, session), traffic);
    }

    /// A PPP frame of a session (from the workers' punt: the frame after the L2TP header).
    pub fn ppp_frame(
        &mut self,
        now: Instant,
        vr: VrId,
        tunnel: u16,
        session: u16,
        frame: &[u8],
        traffic: Traffic<'_>,
    ) -> bool {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return false;
        };
        let Some(s) = v.sessions.get_mut(&(tunnel, session)) else {
            v.stats.frames_unknown_session += 1;
            return false;
        };
        s.ppp.handle_frame(now, frame);
        self.pump(now, vr, (tunnel, session), traffic);
        true
    }

    /// A datagram on one of `vr`'s RADIUS client sockets.
    pub fn radius_datagram(
        &mut self,
        now: Instant,
        vr: VrId,
        socket: usize,
        src: SocketAddr,
        bytes: &[u8],
        traffic: Traffic<'_>,
    ) {
        if let Some(c) = self.vrs.get_mut(&vr).and_then(|v| v.radius.as_mut()) {
            c.handle_datagram(now, socket, src, bytes);
        }
        self.pump_radius(now, vr, traffic);
    }

    /// A datagram on `vr`'s Dynamic Authorization socket.
    pub fn dae_datagram(
        &mut self,
        now: Instant,
        vr: VrId,
        src: SocketAddr,
        bytes: &[u8],
        traffic: Traffic<'_>,
    ) {
        let req = match self.vrs.get_mut(&vr).and_then(|v| v.dae.as_mut()) {
            Some(d) => d.handle_datagram(now, src, bytes),
            None => return,
        };
        if let Some(req) = req {
            self.on_dae(now, vr, req, traffic);
        }
        self.pump_radius(now, vr, traffic);
    }

    /// A timer of the manager fired.
    pub fn handle_timer(&mut self, now: Instant, key: TimerKey, traffic: Traffic<'_>) {
        match key {
            TimerKey::Radius(vr) => {
                if let Some(v) = self.vrs.get_mut(&vr) {
                    v.radius_armed = None;
                    if let Some(c) = v.radius.as_mut() {
                        c.handle_timeout(now);
                    }
                    if let Some(d) = v.dae.as_mut() {
                        d.handle_timeout(now);
                    }
                }
                self.pump_radius(now, vr, traffic);
            }
            TimerKey::Session {
                vr,
                tunnel,
                session,
            } => self.session_timer(now, vr, (tunnel, session), traffic),
        }
    }

    fn session_timer(&mut self, now: Instant, vr: VrId, key: (u16, u16), traffic: Traffic<'_>) {
        let mut acct = None;
        {
            let Some(v) = self.vrs.get_mut(&vr) else {
                return;
            };
            let Some(s) = v.sessions.get_mut(&key) else {
                return;
            };
            s.armed = None;
            if s.ppp.deadline().is_some_and(|d| d <= now) {
                s.ppp.handle_timeout(now);
            }
            if let (Some((ifid, at)), Some((p, _))) = (s.ra, s.v6) {
                if at <= now && s.route_v6 {
                    let ra = router_advertisement(ifid, p, s.ppp.mru());
                    self.out.push(to_link(vr, &s.info, &ra));
                    s.ra = Some((ifid, now + RA_INTERVAL));
                } else if !s.route_v6 {
                    s.ra = None;
                }
            }
            if s.session_timeout_at.is_some_and(|d| d <= now) && s.cause.is_none() {
                s.session_timeout_at = None;
                v.stats.session_timeouts += 1;
                s.cause = Some(terminate_cause::SESSION_TIMEOUT);
                s.ppp.close(now, DownReason::LocalClose);
            }
            if let (Some(at), Some(idle)) = (s.idle_check_at, s.idle_timeout) {
                if at <= now {
                    // Only traffic from the subscriber counts as activity (RFC 2865 §5.28 leaves it to
                    // the NAS; our own echo and downstream floods should not keep a session alive).
                    let from_sub = traffic(s.info.counters)[0];
                    if from_sub != s.last_packets {
                        s.last_packets = from_sub;
                        s.last_activity = now;
                    }
                    if now.duration_since(s.last_activity) >= idle && s.cause.is_none() {
                        v.stats.idle_timeouts += 1;
                        s.cause = Some(terminate_cause::IDLE_TIMEOUT);
                        s.idle_check_at = None;
                        s.ppp.close(now, DownReason::LocalClose);
                    } else {
                        s.idle_check_at = Some(now + (idle / 4).max(Duration::from_secs(1)));
                    }
                }
            }
            if s.next_interim.is_some_and(|d| d <= now) && s.acct_started && s.cause.is_none() {
                let iv = s.interim.unwrap_or(Duration::from_secs(300));
                s.next_interim = Some(now + iv);
                acct = Some(acct_record(vr, s, AcctStatus::Interim, None, now, traffic));
            }
        }
        if let Some(r) = acct {
            self.send_acct(now, vr, r);
        }
        self.pump(now, vr, key, traffic);
    }

    /// Ends every subscriber of every VR (shutdown): accounting Stop (NAS-Request).
    pub fn shutdown(&mut self, now: Instant, traffic: Traffic<'_>) {
        let all: Vec<(VrId, (u16, u16))> = self
            .vrs
            .iter()
            .flat_map(|(vr, v)| v.sessions.keys().map(move |k| (*vr, *k)))
            .collect();
        for (vr, k) in all {
            self.end(now, vr, k, terminate_cause::NAS_REQUEST, traffic);
        }
        let vrs: Vec<VrId> = self.vrs.keys().copied().collect();
        for vr in vrs {
            self.accounting_on_off(now, vr, AcctStatus::Off);
        }
    }

    /// Accounting-On (the VR's NAS starts: the server may close sessions it still holds
    /// open for it) or Accounting-Off (it stops), RFC 2866 §5.1; only with accounting
    /// servers.
    fn accounting_on_off(&mut self, now: Instant, vr: VrId, status: AcctStatus) {
        let r = AcctRequest {
            status: Some(status),
            acct_session_id: format!("{:05X}{:011X}", vr.0, 0),
            tag: ACCT_TAG,
            ..AcctRequest::default()
        };
        self.send_acct(now, vr, r);
    }

    /// Re-resolves where each subscriber's LAC is reached (`egress(vr, lac)`: port, VLAN,
    /// neighbour) and re-points the routes of those whose path changed (a reload moved the
    /// VR's route to the LAC, or it had none at session start). Returns how many changed.
    pub fn refresh_egress(
        &mut self,
        egress: impl Fn(VrId, Ipv4Addr) -> Option<(PortId, Option<u16>, Ipv4Addr)>,
    ) -> usize {
        let mut changed = 0;
        for (vr, v) in self.vrs.iter_mut() {
            for s in v.sessions.values_mut() {
                let SocketAddr::V4(peer) = s.info.peer else {
                    continue;
                };
                if s.info.pppoe.is_some() {
                    continue;
                }
                let now = egress(*vr, *peer.ip());
                if now == s.info.egress {
                    continue;
                }
                changed += 1;
                s.info.egress = now;
                let nh = encap(&s.info);
                let up = s.up_at.is_some();
                let v4 = s.v4_prefix().filter(|_| up && s.ipcp_open());
                let v6 = s.v6_prefix().filter(|_| up && s.ipv6cp_open());
                let rvr = s.route_vr(*vr);
                for (prefix, installed) in [(v4, &mut s.route_v4), (v6, &mut s.route_v6)] {
                    let Some(prefix) = prefix else { continue };
                    match nh {
                        Some(nh) => {
                            *installed = true;
                            self.out.push(Output::Route {
                                vr: rvr,
                                prefix,
                                via: Some(nh),
                            });
                        }
                        None => withdraw(&mut self.out, rvr, Some(prefix), installed),
                    }
                }
            }
        }
        changed
    }

    /// Ends a subscriber now: routes removed, address released, accounting Stop with
    /// `cause`, the L2TP session closed. Returns false when there is no such subscriber.
    pub fn disconnect(
        &mut self,
        now: Instant,
        vr: VrId,
        tunnel: u16,
        session: u16,
        cause: u32,
        traffic: Traffic<'_>,
    ) -> bool {
        let present = self
            .vrs
            .get(&vr)
            .is_some_and(|v| v.sessions.contains_key(&(tunnel, session)));
        if present {
            self.end(now, vr, (tunnel, session), cause, traffic);
        }
        present
    }

    /// The routes a subscriber of `vr` has installed now (its address, its IPv6 prefix)
    /// and the VR they are in; `None` when there is no such subscriber.
    pub fn routes_of(&self, vr: VrId, tunnel: u16, session: u16) -> Option<(VrId, Vec<IpPrefix>)> {
        let s = self.vrs.get(&vr)?.sessions.get(&(tunnel, session))?;
        let routes = [
            s.v4_prefix().filter(|_| s.route_v4),
            s.v6_prefix().filter(|_| s.route_v6),
        ];
        Some((s.route_vr(vr), routes.into_iter().flatten().collect()))
    }

    /// Moves the routing of the subscriber `(tunnel, session)` of `vr` into VR `to` (named `to_name`; `to ==
    /// vr` moves it home): its installed routes leave the VR they are in and enter `to`
    /// (the same encapsulation into its session), and the routes it installs later go
    /// there. Its PPP, address lease, RADIUS context and Acct-Session-Id stay with `vr`:
    /// the session goes on; an accounting Interim-Update (when accounting started) says
    /// where its traffic goes now (Cisco-AVPair `ip:vrf-id=`), as does every accounting
    /// record after it. The caller checked that its addresses are free in `to` and moves
    /// the session's data-plane binding in the same version. False when there is no such
    /// subscriber.
    pub fn move_routes(
        &mut self,
        now: Instant,
        vr: VrId,
        (tunnel, session): (u16, u16),
        to: VrId,
        to_name: &str,
        traffic: Traffic<'_>,
    ) -> bool {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return false;
        };
        let Some(s) = v.sessions.get_mut(&(tunnel, session)) else {
            return false;
        };
        let from = s.route_vr(vr);
        if from == to {
            return true;
        }
        let nh = encap(&s.info);
        for (prefix, installed) in [(s.v4_prefix(), s.route_v4), (s.v6_prefix(), s.route_v6)] {
            let (Some(prefix), true) = (prefix, installed) else {
                continue;
            };
            self.out.push(Output::Route {
                vr: from,
                prefix,
                via: None,
            });
            if let Some(nh) = nh {
                self.out.push(Output::Route {
                    vr: to,
                    prefix,
                    via: Some(nh),
                });
            }
        }
        s.moved_to = (to != vr).then(|| (to, to_name.to_string()));
        v.stats.moves += 1;
        tracing::info!(
            "vr {}: subscriber {} on {}/{} now routed in vr {} ({to_name})",
            vr.0,
            s.user,
            tunnel,
            session,
            to.0
        );
        if s.acct_started {
            let mut r = acct_record(vr, s, AcctStatus::Interim, None, now, traffic);
            // Home again: say so (an absent VRF would read as "unchanged").
            r.vrf.get_or_insert_with(|| to_name.to_string());
            self.send_acct(now, vr, r);
        }
        true
    }

    /// What must be done, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// Subscribers of `vr` (all VRs when `None`), for listings: the first `limit` in
    /// (VR, tunnel, session) order. Only those are rendered (the listing runs every second
    /// on the control core, with up to 100,000s of subscribers).
    pub fn list(
        &self,
        now: Instant,
        vr: Option<VrId>,
        limit: usize,
        traffic: Traffic<'_>,
    ) -> Vec<SubscriberView> {
        let mut keys: Vec<(VrId, u16, u16, &Subscriber)> = self
            .vrs
            .iter()
            .filter(|(id, _)| vr.is_none_or(|x| x == **id))
            .flat_map(|(id, v)| {
                v.sessions
                    .values()
                    .map(move |s| (*id, s.info.tunnel, s.info.session, s))
            })
            .collect();
        if keys.len() > limit {
            keys.select_nth_unstable_by_key(limit, |k| (k.0, k.1, k.2));
            keys.truncate(limit);
        }
        keys.sort_unstable_by_key(|k| (k.0, k.1, k.2));
        keys.into_iter()
            .map(|(id, _, _, s)| view(id, s, now, traffic))
            .collect()
    }

    /// One subscriber of `vr`, by its (tunnel, session) key there.
    pub fn get(
        &self,
        now: Instant,
        vr: VrId,
        tunnel: u16,
        session: u16,
        traffic: Traffic<'_>,
    ) -> Option<SubscriberView> {
        let s = self.vrs.get(&vr)?.sessions.get(&(tunnel, session))?;
        Some(view(vr, s, now, traffic))
    }
}

/// A subscriber as listings show it.
fn view(id: VrId, s: &Subscriber, now: Instant, traffic: Traffic<'_>) -> SubscriberView {
    SubscriberView {
        vr: id,
        routed_in: s.route_vr(id),
        user: s.user.clone(),
        v4: s.v4,
        v6: s.v6,
        tunnel: s.info.tunnel,
        session: s.info.session,
        phase: match s.ppp.phase() {
            crate::ppp::engine::Phase::Establish => "lcp",
            crate::ppp::engine::Phase::Authenticate => "auth",
            crate::ppp::engine::Phase::Network if s.up_at.is_some() => "up",
            crate::ppp::engine::Phase::Network => "ncp",
            crate::ppp::engine::Phase::Terminate => "closing",
            crate::ppp::engine::Phase::Dead => "dead",
        },
        uptime: now.saturating_duration_since(s.started),
        traffic: traffic(s.info.counters),
        acct_session_id: s.acct_session_id(id),
    }
}

impl Subscribers {
    /// Subscribers now (all VRs).
    pub fn count(&self) -> usize {
        self.vrs.values().map(|v| v.sessions.len()).sum()
    }

    /// Subscribers with an address now (all VRs).
    pub fn count_up(&self) -> usize {
        self.vrs
            .values()
            .map(|v| v.sessions.values().filter(|s| s.up_at.is_some()).count())
            .sum()
    }

    /// Counters summed over the VRs (those removed included).
    pub fn stats(&self) -> VrStats {
        let mut t = self.retired;
        for v in self.vrs.values() {
            t.add(&v.stats);
        }
        t
    }

    /// Per VR: its counters, subscribers now / up now, and its RADIUS client's counters.
    pub fn per_vr(&self) -> Vec<VrReport> {
        self.vrs
            .iter()
            .map(|(vr, v)| VrReport {
                vr: *vr,
                stats: v.stats,
                sessions: v.sessions.len(),
                up: v.sessions.values().filter(|s| s.up_at.is_some()).count(),
                radius: v.radius.as_ref().map(|c| *c.counters()).unwrap_or_default(),
            })
            .collect()
    }

    /// PPP counters summed over every link (ended links included).
    pub fn ppp_counters(&self) -> crate::ppp::engine::Counters {
        let mut t = self.retired_ppp;
        for v in self.vrs.values() {
            for s in v.sessions.values() {
                t.add(s.ppp.counters());
            }
        }
        t
    }

    /// RADIUS client counters summed over the VRs.
    pub fn radius_counters(&self) -> crate::radius::client::Counters {
        let mut t = crate::radius::client::Counters::default();
        for v in self.vrs.values() {
            if let Some(c) = &v.radius {
                t.add(c.counters());
            }
        }
        t
    }

    /// DAE server counters summed over the VRs.
    pub fn dae_counters(&self) -> crate::radius::dae::Counters {
        let mut t = crate::radius::dae::Counters::default();
        for v in self.vrs.values() {
            if let Some(d) = &v.dae {
                t.add(d.counters());
            }
        }
        t
    }

    /// Pool counters summed over the VRs, and addresses / prefixes in use.
    pub fn pool_stats(&self) -> (crate::subscriber::pool::PoolStats, usize, usize) {
        let mut t = crate::subscriber::pool::PoolStats::default();
        let (mut a, mut b) = (0, 0);
        for v in self.vrs.values() {
            t.allocated += v.pools.stats.allocated;
            t.exhausted += v.pools.stats.exhausted;
            t.conflicts += v.pools.stats.conflicts;
            let (x, y) = v.pools.in_use();
            a += x;
            b += y;
        }
        (t, a, b)
    }

    // --- internals --------------------------------------------------------------------

    fn send_acct(&mut self, now: Instant, vr: VrId, r: AcctRequest) {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return;
        };
        let Some(c) = v.radius.as_mut() else {
            return;
        };
        if c.config().acct_servers.is_empty() {
            return;
        }
        if c.accounting(now, r).is_err() {
            v.stats.acct_failures += 1;
        }
        self.pump_radius_io(vr);
    }

    /// Ends a subscriber at once (no PPP Terminate exchange): used when the VR goes, for
    /// Disconnect-Requests and operator commands.
    fn end(&mut self, now: Instant, vr: VrId, key: (u16, u16), cause: u32, traffic: Traffic<'_>) {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return;
        };
        let Some(s) = v.sessions.get_mut(&key) else {
            return;
        };
        s.cause.get_or_insert(cause);
        // PPP sends its Terminate-Request; the session ends now all the same.
        s.ppp.close(now, DownReason::LocalClose);
        let frames: Vec<Vec<u8>> = std::iter::from_fn(|| s.ppp.poll_transmit()).collect();
        for f in frames {
            self.out.push(to_link(vr, &s.info, &f));
        }
        self.finish(now, vr, key, traffic);
    }

    /// Removes a subscriber: routes, address, accounting Stop, the L2TP session.
    fn finish(&mut self, now: Instant, vr: VrId, key: (u16, u16), traffic: Traffic<'_>) {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return;
        };
        let Some(mut s) = v.sessions.remove(&key) else {
            return;
        };
        v.by_serial.remove(&s.serial);
        v.stats.sessions_ended += 1;
        self.retired_ppp.add(s.ppp.counters());
        let stop = s.acct_started.then(|| {
            let cause = s.cause.unwrap_or(terminate_cause::USER_REQUEST);
            acct_record(vr, &s, AcctStatus::Stop, Some(cause), now, traffic)
        });
        let rvr = s.route_vr(vr);
        withdraw(&mut self.out, rvr, s.v4_prefix(), &mut s.route_v4);
        withdraw(&mut self.out, rvr, s.v6_prefix(), &mut s.route_v6);
        release(v, &s);
        if !s.lower_gone {
            self.out.push(Output::CloseSession {
                vr,
                tunnel: key.0,
                session: key.1,
            });
        }
        if s.armed.is_some() {
            self.out.push(Output::Timer {
                key: TimerKey::Session {
                    vr,
                    tunnel: key.0,
                    session: key.1,
                },
                at: None,
            });
        }
        if let Some(r) = stop {
            self.send_acct(now, vr, r);
        }
    }

    /// Moves what one subscriber's PPP produced out, acts on its events, re-arms its timer.
    fn pump(&mut self, now: Instant, vr: VrId, key: (u16, u16), traffic: Traffic<'_>) {
        loop {
            let Some(v) = self.vrs.get_mut(&vr) else {
                return;
            };
            let Some(s) = v.sessions.get_mut(&key) else {
                return;
            };
            while let Some(f) = s.ppp.poll_transmit() {
                self.out.push(to_link(vr, &s.info, &f));
            }
            let Some(ev) = s.ppp.poll_event() else {
                break;
            };
            match ev {
                PppEvent::Authenticate(req) => self.authenticate(now, vr, key, req),
                PppEvent::Ipv4Up { peer, .. } => {
                    let acct = {
                        let v = self.vrs.get_mut(&vr).expect("present");
                        let s = v.sessions.get_mut(&key).expect("present");
                        if let Some(nh) = encap(&s.info) {
                            s.route_v4 = true;
                            self.out.push(Output::Route {
                                vr: s.route_vr(vr),
                                prefix: IpPrefix::host(IpAddr::V4(peer)),
                                via: Some(nh),
                            });
                        }
                        came_up(v, vr, key, now, traffic)
                    };
                    if let Some(r) = acct {
                        self.send_acct(now, vr, r);
                    }
                }
                PppEvent::Ipv6Up { local_ifid, .. } => {
                    let acct = {
                        let v = self.vrs.get_mut(&vr).expect("present");
                        let s = v.sessions.get_mut(&key).expect("present");
                        if let (Some((p, l)), Some(nh)) = (s.v6, encap(&s.info)) {
                            if let Ok(prefix) = v6_prefix(p, l) {
                                s.route_v6 = true;
                                self.out.push(Output::Route {
                                    vr: s.route_vr(vr),
                                    prefix,
                                    via: Some(nh),
                                });
                            }
                            let ra = router_advertisement(local_ifid, p, s.ppp.mru());
                            self.out.push(to_link(vr, &s.info, &ra));
                            s.ra = Some((local_ifid, now + RA_INTERVAL));
                        }
                        came_up(v, vr, key, now, traffic)
                    };
                    if let Some(r) = acct {
                        self.send_acct(now, vr, r);
                    }
                }
                PppEvent::Ipv4Down => {
                    let s = self
                        .vrs
                        .get_mut(&vr)
                        .expect("present")
                        .sessions
                        .get_mut(&key);
                    let s = s.expect("present");
                    withdraw(
                        &mut self.out,
                        s.route_vr(vr),
                        s.v4_prefix(),
                        &mut s.route_v4,
                    );
                }
                PppEvent::Ipv6Down => {
                    let s = self
                        .vrs
                        .get_mut(&vr)
                        .expect("present")
                        .sessions
                        .get_mut(&key);
                    let s = s.expect("present");
                    withdraw(
                        &mut self.out,
                        s.route_vr(vr),
                        s.v6_prefix(),
                        &mut s.route_v6,
                    );
                }
                PppEvent::Down { reason } => {
                    let v = self.vrs.get_mut(&vr).expect("present");
                    let s = v.sessions.get_mut(&key).expect("present");
                    s.cause.get_or_insert(match reason {
                        DownReason::PeerTerminate => terminate_cause::USER_REQUEST,
                        DownReason::EchoTimeout | DownReason::LowerDown => {
                            terminate_cause::LOST_CARRIER
                        }
                        DownReason::LocalClose => terminate_cause::NAS_REQUEST,
                        _ => terminate_cause::SERVICE_UNAVAILABLE,
                    });
                    self.finish(now, vr, key, traffic);
                    return;
                }
                PppEvent::LinkUp | PppEvent::AuthDone { .. } => {}
            }
        }
        let Some(s) = self.vrs.get_mut(&vr).and_then(|v| v.sessions.get_mut(&key)) else {
            return;
        };
        let d = s.deadline();
        if d != s.armed {
            s.armed = d;
            self.out.push(Output::Timer {
                key: TimerKey::Session {
                    vr,
                    tunnel: key.0,
                    session: key.1,
                },
                at: d,
            });
        }
    }

    fn authenticate(&mut self, now: Instant, vr: VrId, key: (u16, u16), req: AuthRequest) {
        let v = self.vrs.get_mut(&vr).expect("present");
        let s = v.sessions.get_mut(&key).expect("present");
        s.user = String::from_utf8_lossy(&req.username).into_owned();
        if let Some(c) = v.radius.as_mut() {
            let auth = match req.credentials {
                Credentials::Pap { password } => Auth::Pap { password },
                Credentials::ChapMd5 {
                    id,
                    challenge,
                    response,
                } => Auth::Chap {
                    id,
                    challenge,
                    response,
                },
                Credentials::MsChapV2 {
                    id,
                    auth_challenge,
                    peer_challenge,
                    nt_response,
                    flags,
                } => Auth::MsChapV2 {
                    ident: id,
                    auth_challenge,
                    peer_challenge,
                    nt_response,
                    flags,
                },
            };
            let mut r = AccessRequest::ppp(&s.user, auth, &s.acct_session_id(vr), s.serial);
            r.nas_port = u32::from(key.0) << 16 | u32::from(key.1);
            r.nas_port_id = Some(format!("l2tp {} {}", key.0, key.1));
            if let Some(l) = &s.info.pppoe {
                r.nas_port = u32::from(l.port.0) << 16 | u32::from(l.session);
                r.nas_port_type = crate::radius::wire::values::NAS_PORT_TYPE_ETHERNET;
                r.nas_port_id = Some(match l.vlan {
                    Some(v) => format!("port {} vlan {v} pppoe {}", l.port.0, l.session),
                    None => format!("port {} pppoe {}", l.port.0, l.session),
                });
            }
            if !s.info.calling_number.is_empty() {
                r.calling_station = Some(String::from_utf8_lossy(&s.info.calling_number).into());
            }
            match c.access_request(now, r) {
                Ok(_) => s.auth_pending = true,
                Err(e) => {
                    v.stats.radius_errors += 1;
                    tracing::warn!("vr {}: RADIUS request for {} not sent: {e}", vr.0, s.user);
                    s.ppp.auth_result(
                        now,
                        AuthResult::Reject {
                            message: "authentication service unavailable".into(),
                        },
                    );
                }
            }
            self.pump_radius_io(vr);
            return;
        }
        // Local users.
        let user = v.users.get(&s.user).map(|&i| v.cfg.users[i].clone());
        let verdict = user
            .as_ref()
            .and_then(|u| ppp_auth::verify_local(&req, &u.password));
        match (user, verdict) {
            (
                Some(u),
                Some(AuthResult::Accept {
                    mschap2_success, ..
                }),
            ) => {
                let attrs = Granted {
                    framed_ip: u.address,
                    ..Granted::default()
                };
                accept(v, vr, key, now, attrs, mschap2_success, "Welcome".into());
            }
            _ => {
                v.stats.auth_rejects += 1;
                s.ppp.auth_result(
                    now,
                    AuthResult::Reject {
                        message: "Authentication failed".into(),
                    },
                );
            }
        }
    }

    fn pump_radius_io(&mut self, vr: VrId) {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return;
        };
        if let Some(c) = v.radius.as_mut() {
            while let Some(t) = c.poll_transmit() {
                self.out.push(Output::Radius {
                    vr,
                    socket: t.socket,
                    dst: t.dst,
                    payload: t.payload,
                });
            }
        }
        if let Some(d) = v.dae.as_mut() {
            while let Some((dst, payload)) = d.poll_transmit() {
                self.out.push(Output::Dae { vr, dst, payload });
            }
        }
        let at = [
            v.radius.as_ref().and_then(|c| c.poll_timeout()),
            v.dae.as_ref().and_then(|d| d.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        if at != v.radius_armed {
            v.radius_armed = at;
            self.out.push(Output::Timer {
                key: TimerKey::Radius(vr),
                at,
            });
        }
    }

    /// Acts on the RADIUS client's finished requests.
    fn pump_radius(&mut self, now: Instant, vr: VrId, traffic: Traffic<'_>) {
        loop {
            self.pump_radius_io(vr);
            let Some(v) = self.vrs.get_mut(&vr) else {
                return;
            };
            let Some(ev) = v.radius.as_mut().and_then(|c| c.poll_event()) else {
                return;
            };
            if ev.tag & ACCT_TAG != 0
                || matches!(ev.result, ClientResult::AcctOk | ClientResult::AcctFailed)
            {
                if ev.result == ClientResult::AcctFailed {
                    v.stats.acct_failures += 1;
                }
                continue;
            }
            let Some(&key) = v.by_serial.get(&ev.tag) else {
                continue; // the session ended while RADIUS was asked
            };
            let Some(s) = v.sessions.get_mut(&key) else {
                continue;
            };
            s.auth_pending = false;
            match ev.result {
                ClientResult::Accept(a) => {
                    let g = Granted {
                        framed_ip: a.framed_ip,
                        framed_pool: a
                            .framed_pool
                            .as_ref()
                            .map(|p| String::from_utf8_lossy(p).into_owned()),
                        v6: a
                            .delegated_ipv6_prefix
                            .or(a.framed_ipv6_prefix)
                            .map(|p| (p.addr, p.len)),
                        session_timeout: a.session_timeout,
                        idle_timeout: a.idle_timeout,
                        interim: a.acct_interim_interval,
                        class: a.class.clone(),
                        dns: [a.dns_primary, a.dns_secondary],
                    };
                    let success = a.ms_chap2_success.as_ref().and_then(|b| {
                        // MS-CHAP2-Success: the CHAP identifier, then "S=<40 hex>".
                        b.get(1..).map(|t| String::from_utf8_lossy(t).into_owned())
                    });
                    let msg = a
                        .reply_message
                        .as_ref()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .unwrap_or_else(|| "Welcome".into());
                    accept(v, vr, key, now, g, success, msg);
                }
                ClientResult::Timeout => {
                    v.stats.radius_timeouts += 1;
                    s.ppp.auth_result(
                        now,
                        AuthResult::Reject {
                            message: "authentication service unavailable".into(),
                        },
                    );
                }
                ClientResult::Reject { reply_message, .. }
                | ClientResult::Challenge { reply_message, .. } => {
                    v.stats.auth_rejects += 1;
                    let message = reply_message
                        .map(|m| String::from_utf8_lossy(&m).into_owned())
                        .unwrap_or_else(|| "Authentication failed".into());
                    s.ppp.auth_result(now, AuthResult::Reject { message });
                }
                ClientResult::AcctOk | ClientResult::AcctFailed => {}
            }
            self.pump(now, vr, key, traffic);
        }
    }

    fn on_dae(&mut self, now: Instant, vr: VrId, req: DaeRequest, traffic: Traffic<'_>) {
        let v = self.vrs.get_mut(&vr).expect("present");
        let sel = &req.identifies;
        let found: Vec<(u16, u16)> = if sel.is_empty() {
            Vec::new()
        } else {
            v.sessions
                .iter()
                .filter(|(_, s)| {
                    sel.acct_session_id
                        .as_ref()
                        .is_none_or(|id| id.as_slice() == s.acct_session_id(vr).as_bytes())
                        && sel
                            .user_name
                            .as_ref()
                            .is_none_or(|u| u.as_slice() == s.user.as_bytes())
                        && sel.framed_ip.is_none_or(|a| s.v4 == Some(a))
                })
                .map(|(k, _)| *k)
                .collect()
        };
        let answer = if !req.unsupported.is_empty() {
            DaeAnswer::Nak(ErrorCause::UnsupportedAttribute)
        } else if sel.is_empty() {
            DaeAnswer::Nak(ErrorCause::MissingAttribute)
        } else if found.is_empty() {
            DaeAnswer::Nak(ErrorCause::SessionContextNotFound)
        } else {
            DaeAnswer::Ack
        };
        if answer == DaeAnswer::Ack {
            match req.kind {
                DaeKind::Disconnect => {
                    v.stats.dae_disconnects += found.len() as u64;
                }
                DaeKind::Coa => {
                    v.stats.dae_coa += 1;
                    for k in &found {
                        let s = v.sessions.get_mut(k).expect("found");
                        apply_timeouts(
                            s,
                            now,
                            req.changes.session_timeout,
                            req.changes.idle_timeout,
                            req.changes.acct_interim_interval,
                        );
                    }
                }
            }
        } else {
            v.stats.dae_naks += 1;
        }
        if let Some(d) = v.dae.as_mut() {
            match d.answer(now, req.handle, answer) {
                Ok((dst, payload)) => self.out.push(Output::Dae { vr, dst, payload }),
                Err(e) => tracing::warn!("vr {}: DAE answer not sent: {e}", vr.0),
            }
        }
        if answer == DaeAnswer::Ack {
            for k in found {
                match req.kind {
                    DaeKind::Disconnect => {
                        self.end(now, vr, k, terminate_cause::ADMIN_RESET, traffic)
                    }
                    DaeKind::Coa => self.pump(now, vr, k, traffic),
                }
            }
        }
    }
}

/// What authorisation gave a subscriber.
#[derive(Debug, Default)]
struct Granted {
    framed_ip: Option<Ipv4Addr>,
    framed_pool: Option<String>,
    v6: Option<(Ipv6Addr, u8)>,
    session_timeout: Option<u32>,
    idle_timeout: Option<u32>,
    interim: Option<u32>,
    class: Vec<Vec<u8>>,
    dns: [Option<Ipv4Addr>; 2],
}

/// RADIUS's "the NAS assigns" (255.255.255.254) and "the user chooses" (255.255.255.255,
/// which we do not allow: the NAS assigns instead), RFC 2865 §5.8.
fn nas_assigns(a: Ipv4Addr) -> bool {
    a == Ipv4Addr::new(255, 255, 255, 254) || a == Ipv4Addr::BROADCAST
}

/// Accepts an authenticated subscriber: addresses, timeouts, then the PPP verdict.
fn accept(
    v: &mut VrSubs,
    vr: VrId,
    key: (u16, u16),
    now: Instant,
    g: Granted,
    mschap2_success: Option<String>,
    message: String,
) {
    let s = v.sessions.get_mut(&key).expect("present");
    let addr = match g.framed_ip.filter(|a| !nas_assigns(*a)) {
        Some(a) => v.pools.reserve_v4(a).map(|_| a),
        None => v.pools.allocate_v4(g.framed_pool.as_deref()),
    };
    let addr = match addr {
        Ok(a) => a,
        Err(e) => {
            v.stats.no_address += 1;
            tracing::warn!("vr {}: no address for {}: {e}", vr.0, s.user);
            s.ppp.auth_result(
                now,
                AuthResult::Reject {
                    message: "no address available".into(),
                },
            );
            return;
        }
    };
    s.v4 = Some(addr);
    if v.cfg.ipv6 {
        let p = match g.v6 {
            Some((p, l)) => v.pools.reserve_v6(p, l).map(|_| (p, l)),
            None => v.pools.allocate_v6(None),
        };
        match p {
            Ok(p) => s.v6 = Some(p),
            Err(e) => tracing::warn!("vr {}: no IPv6 prefix for {}: {e}", vr.0, s.user),
        }
    }
    let dns = if g.dns.iter().any(|d| d.is_some()) {
        g.dns
    } else {
        [v.cfg.dns.first().copied(), v.cfg.dns.get(1).copied()]
    };
    s.ppp.set_ipv4(
        now,
        IpcpParams {
            local: v.cfg.local_v4,
            peer: addr,
            dns,
        },
    );
    if s.v6.is_some() {
        // Our interface id: stable per VR link address, never 0 (RFC 5072 §4.1).
        let ifid = 0x0200_00ff_fe00_0000 | u64::from(u32::from(v.cfg.local_v4) & 0x00ff_ffff);
        s.ppp.set_ipv6(now, ifid);
    }
    s.class = g.class;
    apply_timeouts(s, now, g.session_timeout, g.idle_timeout, g.interim);
    if s.interim.is_none() {
        s.interim = v.cfg.radius.as_ref().and_then(|r| r.interim_interval);
    }
    v.stats.auth_accepts += 1;
    s.ppp.auth_result(
        now,
        AuthResult::Accept {
            mschap2_success,
            message,
        },
    );
}

fn apply_timeouts(
    s: &mut Subscriber,
    now: Instant,
    session: Option<u32>,
    idle: Option<u32>,
    interim: Option<u32>,
) {
    if let Some(t) = session.filter(|t| *t > 0) {
        s.session_timeout_at = Some(now + Duration::from_secs(u64::from(t)));
    }
    if let Some(t) = idle.filter(|t| *t > 0) {
        let d = Duration::from_secs(u64::from(t));
        s.idle_timeout = Some(d);
        s.last_activity = now;
        s.idle_check_at = Some(now + (d / 4).max(Duration::from_secs(1)));
    }
    if let Some(t) = interim.filter(|t| *t > 0) {
        // RFC 2869 §5.16: not less than 60 s in practice; we accept down to 10 s (tests).
        let d = Duration::from_secs(u64::from(t.max(10)));
        s.interim = Some(d);
        if s.acct_started {
            s.next_interim = Some(now + d);
        }
    }
}

/// IPCP or IPV6CP came up: the first time, the subscriber is up and accounting starts.
fn came_up(
    v: &mut VrSubs,
    vr: VrId,
    key: (u16, u16),
    now: Instant,
    traffic: Traffic<'_>,
) -> Option<AcctRequest> {
    let s = v.sessions.get_mut(&key)?;
    if s.up_at.is_some() {
        return None;
    }
    s.up_at = Some(now);
    v.stats.sessions_up += 1;
    tracing::info!(
        "vr {}: subscriber {} up on l2tp {}/{}: {}",
        vr.0,
        s.user,
        key.0,
        key.1,
        s.v4.map(|a| a.to_string()).unwrap_or_default()
    );
    if v.radius
        .as_ref()
        .is_none_or(|c| c.config().acct_servers.is_empty())
    {
        return None;
    }
    s.acct_started = true;
    s.next_interim = s.interim.map(|d| now + d);
    Some(acct_record(vr, s, AcctStatus::Start, None, now, traffic))
}

fn acct_record(
    vr: VrId,
    s: &Subscriber,
    status: AcctStatus,
    cause: Option<u32>,
    now: Instant,
    traffic: Traffic<'_>,
) -> AcctRequest {
    let t = if status == AcctStatus::Start {
        [0; 4]
    } else {
        traffic(s.info.counters)
    };
    AcctRequest {
        status: Some(status),
        acct_session_id: s.acct_session_id(vr),
        user: s.user.clone(),
        framed_ip: s.v4,
        nas_port: Some(u32::from(s.info.tunnel) << 16 | u32::from(s.info.session)),
        input_octets: t[1],
        output_octets: t[3],
        input_packets: t[0].min(u64::from(u32::MAX)) as u32,
        output_packets: t[2].min(u64::from(u32::MAX)) as u32,
        session_time: s.up_at.map_or(0, |u| {
            now.saturating_duration_since(u)
                .as_secs()
                .min(u64::from(u32::MAX)) as u32
        }),
        terminate_cause: cause,
        class: s.class.clone(),
        tag: ACCT_TAG | s.serial,
        vrf: s.moved_to.as_ref().map(|m| m.1.clone()),
        ..AcctRequest::default()
    }
}

/// Removes a subscriber route if it is installed (`installed` says so, and is cleared).
fn withdraw(out: &mut Vec<Output>, vr: VrId, prefix: Option<IpPrefix>, installed: &mut bool) {
    if std::mem::take(installed) {
        if let Some(prefix) = prefix {
            out.push(Output::Route {
                vr,
                prefix,
                via: None,
            });
        }
    }
}

fn release(v: &mut VrSubs, s: &Subscriber) {
    if let Some(a) = s.v4 {
        v.pools.release_v4(a);
    }
    if let Some((p, l)) = s.v6 {
        v.pools.release_v6(p, l);
    }
}

fn v6_prefix(p: Ipv6Addr, l: u8) -> Result<IpPrefix, String> {
    format!("{p}/{l}")
        .parse::<IpPrefix>()
        .map_err(|e| e.to_string())
}

/// The next hop that encapsulates into the subscriber's session.
fn encap(info: &SessionInfo) -> Option<NextHop> {
    if let Some(l) = info.pppoe {
        return Some(NextHop::Pppoe(vr::PppoeEncap {
            port: l.port,
            vlan: l.vlan,
            src_mac: [0; 6],
            dst_mac: l.mac,
            session: l.session,
            counters: info.counters,
        }));
    }
    let (port, vlan, via) = info.egress?;
    let SocketAddr::V4(peer) = info.peer else {
        return None;
    };
    Some(NextHop::L2tp(L2tpEncap {
        port,
        vlan,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        src_ip: info.local,
        dst_ip: *peer.ip(),
        via,
        counters: info.counters,
        src_port: wire::l2tp::UDP_PORT,
        dst_port: peer.port(),
        peer_tunnel: info.peer_tunnel,
        peer_session: info.peer_session,
    }))
}

/// A PPP frame (`ff 03` first) to the subscriber: an L2TP data message to its LAC for the VR
/// to route, or a PPPoE session frame on its access port.
fn to_link(vr: VrId, info: &SessionInfo, frame: &[u8]) -> Output {
    match info.pppoe {
        Some(l) => Output::Frame {
            port: l.port,
            frame: pppoe_frame(&l, frame.strip_prefix(&[0xff, 0x03][..]).unwrap_or(frame)),
        },
        None => Output::Packet {
            vr,
            ip: l2tp_packet(info, frame),
        },
    }
}

/// A PPPoE session frame carrying `ppp` (from its protocol field, RFC 2516 §7).
pub fn pppoe_frame(l: &PppoeLink, ppp: &[u8]) -> Vec<u8> {
    let tag = if l.vlan.is_some() { 4 } else { 0 };
    let mut f = Vec::with_capacity(14 + tag + 6 + ppp.len());
    f.extend_from_slice(&l.mac);
    f.extend_from_slice(&l.our_mac);
    if let Some(v) = l.vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&0x8864u16.to_be_bytes());
    f.extend_from_slice(&[0x11, 0x00]);
    f.extend_from_slice(&l.session.to_be_bytes());
    f.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    f.extend_from_slice(ppp);
    f
}

/// An L2TP data message carrying `frame` (a PPP frame starting `ff 03`) to the LAC, as an
/// IPv4 packet for the VR to route.
fn l2tp_packet(info: &SessionInfo, frame: &[u8]) -> Vec<u8> {
    crate::l2tp::driver::vr::data_packet(
        info.local,
        info.peer,
        (info.peer_tunnel, info.peer_session),
        frame,
    )
}

/// A Router Advertisement (RFC 4861 §4.2) to the subscriber over PPP, from our link-local
/// address (fe80::`ifid`): the subscriber's /64 as on-link and autonomous (SLAAC), or, for
/// a shorter delegated prefix, its first /64; MTU option = our MRU.
fn router_advertisement(ifid: u64, prefix: Ipv6Addr, mtu: u16) -> Vec<u8> {
    let src = Ipv6Addr::from((0xfe80u128 << 112) | u128::from(ifid));
    let dst: Ipv6Addr = "ff02::1".parse().expect("literal");
    let mut icmp = vec![
        134, 0, 0, 0, // type, code, checksum
        64, 0, // cur hop limit, flags
        0x07, 0x08, // router lifetime 1800 s
        0, 0, 0, 0, // reachable time
        0, 0, 0, 0, // retrans timer
    ];
    // Prefix Information: type 3, length 4 (32 bytes), /64 (SLAAC needs 64; of a shorter
    // delegated prefix the first /64), L|A, lifetimes.
    let mut pi = vec![3, 4, 64, 0xc0];
    pi.extend_from_slice(&86400u32.to_be_bytes());
    pi.extend_from_slice(&14400u32.to_be_bytes());
    pi.extend_from_slice(&[0; 4]);
    let masked = u128::from(prefix) & (u128::MAX << 64);
    pi.extend_from_slice(&masked.to_be_bytes());
    icmp.extend_from_slice(&pi);
    // MTU: type 5, length 1.
    icmp.extend_from_slice(&[5, 1, 0, 0]);
    icmp.extend_from_slice(&u32::from(mtu).to_be_bytes());
    let sum = !wire::checksum::combine(&[
        wire::checksum::pseudo_header_v6(&src, &dst, IpProtocol::Icmpv6, icmp.len() as u32),
        wire::checksum::data(&icmp),
    ]);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let ip = crate::packet::ipv6(src, dst, IpProtocol::Icmpv6, 255, &icmp);
    let mut frame = vec![0xff, 0x03, 0x00, 0x57];
    frame.extend_from_slice(&ip);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::engine::Config as PppConfig;
    use crate::radius::wire::crypto::{sign, Signing};
    use crate::radius::wire::{code, Attribute, Repr};
    use crate::subscriber::config::RadiusServer;
    use crate::subscriber::pool::V4PoolConfig;

    const VR: VrId = VrId(10);
    const SECRET: &str = "testing123";
    const HDR: usize = 20 + 8 + wire::l2tp::MIN_HEADER_LEN;

    fn config() -> SubscriberConfig {
        let mut c = SubscriberConfig::new(VR, Ipv4Addr::new(100, 64, 0, 1));
        c.auth = vec![AuthMethod::Pap];
        c.echo_interval = Duration::ZERO;
        c.pools = vec![V4PoolConfig {
            name: "subscribers".into(),
            ranges: vec![(
                Ipv4Addr::new(100, 64, 0, 100),
                Ipv4Addr::new(100, 64, 0, 199),
            )],
        }];
        let server = |port| RadiusServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            secret: SECRET.into(),
        };
        c.radius = Some(crate::subscriber::config::RadiusSettings {
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            nas_identifier: "test".into(),
            servers: vec![server(1812)],
            accounting: vec![server(1813)],
            timeout: Duration::from_secs(2),
            retries: 3,
            interim_interval: None,
            dae: None,
        });
        c
    }

    /// One subscriber (a client PPP engine) behind L2TP session 1/2, a RADIUS server that
    /// accepts it with Framed-IP-Address 100.64.0.10, the accounting records it received.
    struct Lab {
        now: Instant,
        subs: Subscribers,
        client: Engine,
        client_up: bool,
        client_down: bool,
        acct: Vec<Repr>,
        timer: Option<Instant>,
    }

    impl Lab {
        fn new() -> Lab {
            let now = Instant::now();
            let mut subs = Subscribers::new(7);
            subs.configure(now, vec![config()], &|_| [0; 4]);
            subs.session_up(
                now,
                VR,
                SessionInfo {
                    tunnel: 1,
                    session: 2,
                    peer_tunnel: 3,
                    peer_session: 4,
                    peer: SocketAddr::from(([10, 214, 0, 1], 1701)),
                    local: Ipv4Addr::new(10, 214, 0, 2),
                    egress: Some((PortId(0), None, Ipv4Addr::new(10, 214, 0, 1))),
                    counters: 0,
                    calling_number: Vec::new(),
                    proxy: None,
                    pppoe: None,
                },
            );
            let ccfg = PppConfig {
                auth: vec![ppp_auth::AuthMethod::Pap],
                username: "alice".into(),
                password: "secret".into(),
                echo_interval: None,
                enable_ipv6: false,
                ..PppConfig::default()
            };
            let mut client = Engine::new(Arc::new(ccfg), Role::Client, now, 99);
            client.open(now);
            Lab {
                now,
                subs,
                client,
                client_up: false,
                client_down: false,
                acct: Vec::new(),
                timer: None,
            }
        }

        /// Moves frames and datagrams until nothing moves; true if anything did.
        fn exchange(&mut self) -> bool {
            let mut moved = false;
            loop {
                let now = self.now;
                let outs: Vec<Output> = self.subs.drain().collect();
                let frames: Vec<Vec<u8>> =
                    std::iter::from_fn(|| self.client.poll_transmit()).collect();
                while let Some(e) = self.client.poll_event() {
                    match e {
                        PppEvent::Ipv4Up { .. } => self.client_up = true,
                        PppEvent::Down { .. } => self.client_down = true,
                        _ => {}
                    }
                }
                if outs.is_empty() && frames.is_empty() {
                    return moved;
                }
                moved = true;
                for f in frames {
                    self.subs
                        .ppp_frame(now, VR, 1, 2, &f, &|_| [1, 100, 1, 100]);
                }
                for o in outs {
                    match o {
                        Output::Packet { ip, .. } => self.client.handle_frame(now, &ip[HDR..]),
                        Output::Radius {
                            socket,
                            dst,
                            payload,
                            ..
                        } => {
                            let req = Repr::from_bytes(&payload).expect("RADIUS");
                            let mut ans = Repr {
                                code: code::ACCOUNTING_RESPONSE,
                                identifier: req.identifier,
                                authenticator: [0; 16],
                                attributes: Vec::new(),
                            };
                            if req.code == code::ACCESS_REQUEST {
                                ans.code = code::ACCESS_ACCEPT;
                                ans.attributes = vec![
                                    Attribute::FramedIpAddress(Ipv4Addr::new(100, 64, 0, 10)),
                                    Attribute::MessageAuthenticator([0; 16]),
                                ];
                            } else {
                                self.acct.push(req.clone());
                            }
                            let mut b = ans.to_bytes().expect("encode");
                            sign(
                                &mut b,
                                SECRET.as_bytes(),
                                Signing::Response {
                                    request_authenticator: req.authenticator,
                                },
                            )
                            .expect("sign");
                            self.subs
                                .radius_datagram(now, VR, socket, dst, &b, &|_| [1, 100, 1, 100]);
                        }
                        Output::Timer {
                            key: TimerKey::Session { .. },
                            at,
                        } => self.timer = at,
                        _ => {}
                    }
                }
            }
        }

        /// Runs until `done`, firing timers when nothing moves (bounded).
        fn run(&mut self, done: impl Fn(&Lab) -> bool) {
            for _ in 0..200 {
                self.exchange();
                if done(self) {
                    return;
                }
                let next = [self.timer, self.client.deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(at) = next else { break };
                self.now = self.now.max(at);
                if self.client.deadline().is_some_and(|d| d <= self.now) {
                    self.client.handle_timeout(self.now);
                }
                if self.timer.is_some_and(|d| d <= self.now) {
                    self.timer = None;
                    let key = TimerKey::Session {
                        vr: VR,
                        tunnel: 1,
                        session: 2,
                    };
                    self.subs.handle_timer(self.now, key, &|_| [1, 100, 1, 100]);
                }
            }
            assert!(done(self), "did not get there");
        }

        fn stop_cause(&self) -> Option<u32> {
            let stop = self.acct.iter().find(|r| {
                r.find(|a| match a {
                    Attribute::AcctStatusType(t) => Some(*t),
                    _ => None,
                }) == Some(2)
            })?;
            stop.find(|a| match a {
                Attribute::AcctTerminateCause(c) => Some(*c),
                _ => None,
            })
        }
    }

    #[test]
    fn subscriber_terminate_then_lac_teardown_is_user_request() {
        let mut lab = Lab::new();
        lab.run(|l| l.client_up && !l.acct.is_empty());
        // lwIP's close: LCP Terminate-Request, our Terminate-Ack, at once the LAC's CDN /
        // StopCCN (before our Stopping restart timer would report PPP down).
        lab.client.close(lab.now, DownReason::LocalClose);
        lab.run(|l| l.client_down);
        assert_eq!(
            lab.subs.count(),
            1,
            "still Stopping when the L2TP session goes"
        );
        lab.subs
            .session_down(lab.now, VR, 1, 2, &|_| [1, 100, 1, 100]);
        lab.exchange();
        assert_eq!(lab.subs.count(), 0);
        assert_eq!(lab.stop_cause(), Some(terminate_cause::USER_REQUEST));
    }

    #[test]
    fn l2tp_session_lost_while_up_is_lost_carrier() {
        let mut lab = Lab::new();
        lab.run(|l| l.client_up && !l.acct.is_empty());
        lab.subs
            .session_down(lab.now, VR, 1, 2, &|_| [1, 100, 1, 100]);
        lab.exchange();
        assert_eq!(lab.subs.count(), 0);
        assert_eq!(lab.stop_cause(), Some(terminate_cause::LOST_CARRIER));
    }
}
