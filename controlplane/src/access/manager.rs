//! The access manager, sans-IO: PPPoE subscribers from discovery to the relay.
//!
//! For every access VR it runs the PPPoE discovery stage ([`crate::pppoe::discovery`]) on
//! the VR's interfaces; for every session that comes up, a PPP engine (authenticator role)
//! negotiates LCP and collects the subscriber's credentials — the LAC's part (RFC 2661
//! §4.4.5). The user name's realm chooses the ISP's VR; the manager then asks the driver to
//! place an incoming call from that VR's L2TP endpoint with proxy LCP and proxy
//! authentication ([`Output::Place`]), and once the call is up ([`AccessManager::call_up`])
//! the PPP engine is dropped: from then on the workers relay PPP frames between the PPPoE
//! session and the L2TP session, and the LNS answers the subscriber's authentication. A
//! realm without a route is refused (CHAP Failure / PAP Nak "unknown realm", then PADT) and
//! counted.
//!
//! **Tunnel switching** (seed 002, claim 3) is the same with an L2TP session as the access
//! link: a session arriving in a switching VR's LNS ([`AccessManager::l2tp_session_up`]) is
//! routed by the realm of its proxy authentication when the wholesale LAC sent one (no PPP
//! here at all), else by the credentials our own PPP engine collects over the session; the
//! workers then relay between the two L2TP sessions.
//!
//! **RADIUS** (`relay.radius`, [`RelayRadius`]): when a relaying VR has RADIUS servers, the
//! credentials go to them first (Access-Request through the VR's own sans-IO
//! [`Client`]; [`Output::Radius`], [`Output::RadiusTimer`]). An Access-Reject, a timeout or a
//! request that cannot be sent refuses the subscriber. An Access-Accept without tunnel
//! attributes lets the realm decide as above; one with RFC 2868 tunnels chooses them, most
//! preferred first: the call is placed from the VR a Tunnel-Assignment-Id names (an L2TP LAC
//! VR, by name), else from the LAC VR whose `l2tp.peers` list the Tunnel-Server-Endpoint,
//! else from the realm's VR; the LNS is the Tunnel-Server-Endpoint. A tunnel that cannot be
//! used here is skipped (counted, logged): a host-name endpoint (no resolver in the control
//! core), no VR to place it from, or a Tunnel-Password that is not the chosen VR's L2TP
//! secret (the LAC engine has one secret per VR, so a different one could not authenticate
//! the tunnel). When the call on one tunnel fails (cannot be placed, the tunnel or call is
//! refused, or it does not come up within its share of [`PLACE_TIMEOUT`]), the next tunnel
//! is tried (RFC 2868 §3 preference); when none is left, or none was usable to begin with
//! (RFC 2868 §3.1: behave as on an Access-Reject), the subscriber is refused.
//!
//! Either end going away ends the other: PADT from the subscriber or a dead PPP link →
//! CDN toward the LNS ([`Output::Hangup`]); the call ending ([`AccessManager::call_down`]) →
//! PADT to the subscriber.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vr::{PortId, VrId};

use super::config::{AccessConfig, RelayRadius};
use crate::l2tp::engine::ProxyInfo;
use crate::ppp::auth::{AuthRequest, AuthResult, Credentials};
use crate::ppp::engine::{self as ppp, Engine as PppEngine, Event as PppEvent};
use crate::pppoe::discovery::{
    AccessConfig as IfConfig, Discovery, DownReason as DiscDown, Limits, Output as DiscOutput,
};
use crate::radius::client::{
    AccessRequest, Auth as RadiusAuth, AuthAttrs, Client, ClientResult, Config as RadiusConfig,
    Counters as RadiusCounters, Server as RadiusServer,
};
use crate::radius::wire::tunnel::Endpoint;
use crate::radius::wire::L2tpChoice;
use crate::subscriber::config::AuthMethod as CfgAuth;

/// A subscriber's access link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKey {
    /// A PPPoE session: the port it runs on and its id.
    Pppoe {
        /// The port.
        port: PortId,
        /// The PPPoE session id.
        session: u16,
    },
    /// An L2TP session in a switching VR's LNS: the VR, our tunnel and session ids.
    L2tp {
        /// The switching VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
}

impl std::fmt::Display for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkKey::Pppoe { port, session } => write!(f, "port {} pppoe {session}", port.0),
            LinkKey::L2tp {
                vr,
                tunnel,
                session,
            } => write!(f, "vr {} l2tp {tunnel}/{session}", vr.0),
        }
    }
}

/// An L2TP session that came up in a switching VR's LNS, as the manager needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2tpLeg {
    /// The wholesale LAC's address and port.
    pub peer: SocketAddr,
    /// Our tunnel address.
    pub local: Ipv4Addr,
    /// The LAC's tunnel id.
    pub peer_tunnel: u16,
    /// The LAC's session id.
    pub peer_session: u16,
    /// Calling Number of the call (passed on).
    pub calling_number: Vec<u8>,
    /// The LAC's proxy LCP and authentication, if it sent them.
    pub proxy: Option<Box<ProxyInfo>>,
}

/// An access VR's PPPoE interfaces: `(port, VLAN)`.
pub type AccessInterfaces = Vec<(PortId, Option<u16>)>;

/// How long a call may take to come up before the subscriber is refused (with RADIUS
/// tunnels, shared among the tunnels still to try).
pub const PLACE_TIMEOUT: Duration = Duration::from_secs(20);

/// NAS-Port-Type Ethernet (RFC 2865 §5.41): a PPPoE subscriber.
pub use crate::radius::wire::values::NAS_PORT_TYPE_ETHERNET;

/// The source sockets a relaying VR's RADIUS client uses (the driver opens this many).
pub fn radius_source_ports() -> usize {
    RadiusConfig::new("").source_ports
}

/// What the manager wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this Ethernet frame on `port`.
    Frame {
        /// The port.
        port: PortId,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Route this IPv4 packet in the VR: a PPP frame to a switched L2TP session's LAC.
    Packet {
        /// The switching VR.
        vr: VrId,
        /// The packet (IPv4/UDP/L2TP data/PPP).
        ip: Vec<u8>,
    },
    /// Bind the PPPoE session in the session table (its PPP control frames punted here).
    Bind {
        /// The session.
        link: LinkKey,
        /// The access VR.
        vr: VrId,
        /// The subscriber's MAC.
        mac: [u8; 6],
        /// Its VLAN.
        vlan: Option<u16>,
    },
    /// Remove the PPPoE session's binding (and its relay).
    Unbind {
        /// The session.
        link: LinkKey,
    },
    /// Place an incoming call from `vr`'s L2TP endpoint for this subscriber; answer with
    /// [`AccessManager::call_placed`] (or [`AccessManager::call_down`] if it cannot be).
    Place {
        /// The session.
        link: LinkKey,
        /// The ISP's VR (an L2TP LAC).
        vr: VrId,
        /// The LNS, when the realm names one.
        lns: Option<std::net::Ipv4Addr>,
        /// Proxy LCP and authentication for the ICCN.
        proxy: Box<ProxyInfo>,
        /// Calling Number: the subscriber's MAC, port and VLAN.
        calling_number: Vec<u8>,
    },
    /// Clear the call (CDN): the call toward the ISP, or a switched access session.
    Hangup {
        /// The VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// Arm (`Some`) or cancel (`None`) the session's timer.
    Timer {
        /// The session.
        link: LinkKey,
        /// When.
        at: Option<Instant>,
    },
    /// Send a RADIUS datagram from source socket `socket` of `vr`'s RADIUS client (see
    /// [`radius_source_ports`]); answers come back through
    /// [`AccessManager::radius_datagram`].
    Radius {
        /// The relaying VR.
        vr: VrId,
        /// Its client's source socket.
        socket: usize,
        /// The server.
        dst: SocketAddr,
        /// The datagram.
        payload: Vec<u8>,
    },
    /// Arm (`Some`) or cancel (`None`) `vr`'s RADIUS client timer
    /// ([`AccessManager::handle_radius_timer`]).
    RadiusTimer {
        /// The relaying VR.
        vr: VrId,
        /// When.
        at: Option<Instant>,
    },
}

/// Where a subscriber is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// LCP and authentication with the access side's PPP engine.
    Negotiating,
    /// Credentials collected; waiting for the VR's RADIUS servers.
    Authorizing,
    /// Authentication collected; the call is being placed.
    Placing {
        /// The ISP's VR.
        vr: VrId,
        /// Our L2TP ids once known.
        call: Option<(u16, u16)>,
    },
    /// The workers relay the session to the call.
    Relaying {
        /// The ISP's VR.
        vr: VrId,
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// Terminated in a VR of this appliance (its subscriber manager runs the PPP now).
    Terminated {
        /// The terminating VR.
        vr: VrId,
    },
}

/// How to reach the subscriber.
enum Access {
    Pppoe {
        vlan: Option<u16>,
        mac: [u8; 6],
        our_mac: [u8; 6],
    },
    L2tp(Box<L2tpLeg>),
}

/// Where a call may be placed: from `vr`'s LAC to `lns` (`None`: the VR's first peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    vr: VrId,
    lns: Option<Ipv4Addr>,
}

/// What a subscriber's call carries, kept until it is up (the next tunnel may need it).
struct PendingCall {
    proxy: Box<ProxyInfo>,
    calling: Vec<u8>,
    /// Tunnels still to try, most preferred first.
    next: VecDeque<Candidate>,
    /// When the last try must be up.
    overall: Instant,
}

struct Link {
    vr: VrId,
    access: Access,
    since: Instant,
    user: Vec<u8>,
    stage: Stage,
    ppp: Option<Box<PppEngine>>,
    place_deadline: Option<Instant>,
    /// The RADIUS request under way (its tag).
    radius_tag: Option<u64>,
    pending: Option<PendingCall>,
}

/// A subscriber as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// The access link.
    pub link: LinkKey,
    /// The access VR.
    pub vr: VrId,
    /// PPPoE: VLAN (`None` also for L2TP links).
    pub vlan: Option<u16>,
    /// PPPoE: subscriber MAC (zeros for L2TP links).
    pub mac: [u8; 6],
    /// PPPoE: our MAC on the port.
    pub our_mac: [u8; 6],
    /// L2TP links: the wholesale LAC's leg.
    pub l2tp: Option<L2tpLeg>,
    /// User name (empty before authentication).
    pub user: String,
    /// Where it is.
    pub stage: Stage,
    /// Up since.
    pub since: Instant,
}

/// Counters of the access side (discovery keeps its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessStats {
    /// PPPoE sessions that came up (PADS sent).
    pub sessions_up: u64,
    /// Subscribers whose realm has no route: refused.
    pub realm_unknown: u64,
    /// Authentication methods the LAC cannot proxy (MS-CHAPv2): refused.
    pub auth_not_proxyable: u64,
    /// Calls placed.
    pub calls_placed: u64,
    /// Calls that came up: the session is relayed.
    pub calls_up: u64,
    /// Calls that could not be placed or ended before coming up.
    pub calls_failed: u64,
    /// Calls that did not come up within [`PLACE_TIMEOUT`].
    pub call_timeouts: u64,
    /// Relayed sessions ended by the subscriber (PADT, LCP).
    pub ended_by_subscriber: u64,
    /// Relayed sessions ended by the LNS side (CDN, tunnel down).
    pub ended_by_lns: u64,
    /// PPP frames for sessions unknown here (or already relayed).
    pub ppp_unknown_session: u64,
    /// Switched L2TP sessions routed by the LAC's proxy authentication (no PPP here).
    pub switched_by_proxy: u64,
    /// PPPoE subscribers terminated in a VR of this appliance.
    pub terminated_here: u64,
    /// Access-Requests sent for subscribers.
    pub radius_requests: u64,
    /// Subscribers accepted by RADIUS.
    pub radius_accepts: u64,
    /// Subscribers refused by RADIUS: Access-Reject, Access-Challenge (PPP cannot carry
    /// one), or an Accept with malformed tunnel attributes (the client reports it as a
    /// reject; [`RadiusCounters::accept_tunnel_invalid`]).
    pub radius_rejects: u64,
    /// Subscribers refused because no RADIUS server answered.
    pub radius_timeouts: u64,
    /// Subscribers refused because the Access-Request could not be sent (queue full, ...).
    pub radius_errors: u64,
    /// Accepts whose tunnels offered none this appliance can use: refused (RFC 2868 §3.1).
    pub radius_tunnel_unusable: u64,
    /// Offered tunnels skipped: host-name endpoint, or no VR to place the call from.
    pub radius_tunnel_skipped: u64,
    /// Offered tunnels skipped: the Tunnel-Password is not the chosen VR's L2TP secret.
    pub radius_tunnel_secret_mismatch: u64,
    /// Calls placed on a RADIUS-chosen tunnel.
    pub radius_tunnel_calls: u64,
    /// A call on one RADIUS-chosen tunnel failed and the next one was tried.
    pub radius_tunnel_fallbacks: u64,
}

struct VrAccess {
    cfg: AccessConfig,
    ppp: Arc<ppp::Config>,
    radius: Option<Client>,
    radius_armed: Option<Instant>,
}

/// The access manager (see the module docs).
pub struct AccessManager {
    disc: Discovery,
    vrs: BTreeMap<VrId, VrAccess>,
    /// Access interfaces and their VR.
    ifaces: BTreeMap<(PortId, Option<u16>), VrId>,
    links: HashMap<LinkKey, Link>,
    out: Vec<Output>,
    seed: u64,
    /// RADIUS request tags → their links.
    tags: HashMap<u64, LinkKey>,
    next_tag: u64,
    /// Counters.
    pub stats: AccessStats,
}

fn ppp_config(c: &AccessConfig) -> ppp::Config {
    let auth = c
        .auth
        .iter()
        .filter_map(|m| match m {
            CfgAuth::Pap => Some(crate::ppp::auth::AuthMethod::Pap),
            CfgAuth::Chap => Some(crate::ppp::auth::AuthMethod::ChapMd5),
            CfgAuth::MsChapV2 => None,
        })
        .collect();
    ppp::Config {
        mru: 1492,
        auth,
        name: c.chap_name.clone(),
        echo_interval: Some(Duration::from_secs(10)),
        // The subscriber waits for RADIUS, then for the call.
        auth_timeout: PLACE_TIMEOUT + c.radius.as_ref().map_or(Duration::ZERO, |r| r.worst_case()),
        record_proxy_lcp: true,
        ..ppp::Config::default()
    }
}

fn radius_client(r: &RelayRadius, seed: u64) -> Client {
    let mut rc = RadiusConfig::new(&r.nas_identifier);
    rc.auth_servers = r
        .servers
        .iter()
        .map(|s| RadiusServer {
            addr: s.addr,
            secret: s.secret.as_bytes().to_vec(),
        })
        .collect();
    rc.timeout = r.timeout;
    // `retries` counts transmissions per server; the client counts retransmissions.
    rc.retries = r.retries.saturating_sub(1);
    rc.nas_ip = match r.source {
        std::net::IpAddr::V4(a) if !a.is_unspecified() => Some(a),
        _ => None,
    };
    Client::new(rc, seed)
}

/// The credentials of proxy authentication AVPs as RADIUS sends them (CHAP with a 16-byte
/// response, or PAP).
fn radius_auth(p: &ProxyInfo) -> Option<RadiusAuth> {
    match p.authen_type? {
        2 => Some(RadiusAuth::Chap {
            id: p.authen_id?,
            challenge: p.authen_challenge.clone(),
            response: p.authen_response.as_slice().try_into().ok()?,
        }),
        3 => Some(RadiusAuth::Pap {
            password: p.authen_response.clone(),
        }),
        _ => None,
    }
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// The calls an Access-Accept asks for, most preferred first (see the module docs), or why
/// the subscriber is refused. Skipped tunnels are counted in `stats` and logged.
fn accept_candidates(
    cfg: &AccessConfig,
    user: &[u8],
    a: &AuthAttrs,
    stats: &mut AccessStats,
) -> Result<(Vec<Candidate>, bool), &'static str> {
    let route = cfg.route(user);
    let who = String::from_utf8_lossy(user);
    let tunnels = match a.l2tp_tunnels() {
        L2tpChoice::NoTunnel => {
            return match route {
                Some(r) => Ok((
                    vec![Candidate {
                        vr: r.vr,
                        lns: r.lns,
                    }],
                    false,
                )),
                None => {
                    stats.realm_unknown += 1;
                    Err("unknown realm")
                }
            };
        }
        L2tpChoice::Reject => {
            stats.radius_tunnel_unusable += 1;
            tracing::warn!(
                "vr {}: RADIUS offered {who} no L2TP-over-IPv4 tunnel; refused (RFC 2868 §3.1)",
                cfg.vr.0
            );
            return Err("no usable tunnel");
        }
        L2tpChoice::Tunnels(t) => t,
    };
    let mut out = Vec::new();
    for t in tunnels {
        let lns = match &t.server_endpoint {
            Some(Endpoint::Ipv4(a)) => *a,
            other => {
                stats.radius_tunnel_skipped += 1;
                tracing::warn!(
                    "vr {}: RADIUS tunnel (tag {}) for {who}: server endpoint {:?} is not an IPv4 address (host names are not resolved); skipped",
                    cfg.vr.0,
                    t.tag,
                    other.as_ref().map(ToString::to_string)
                );
                continue;
            }
        };
        let named = t
            .assignment_id
            .as_ref()
            .and_then(|id| cfg.lacs.iter().find(|x| x.name.as_bytes() == id.as_slice()));
        let vr = named
            .or_else(|| cfg.lacs.iter().find(|x| x.peers.contains(&lns)))
            .map(|x| x.vr)
            .or(route.map(|r| r.vr));
        let Some(vr) = vr else {
            stats.radius_tunnel_skipped += 1;
            tracing::warn!(
                "vr {}: RADIUS tunnel (tag {}) to {lns} for {who}: no LAC VR named by its assignment id or peering with {lns}, and no realm route; skipped",
                cfg.vr.0,
                t.tag
            );
            continue;
        };
        if let Some(pw) = &t.password {
            let secret = cfg
                .lacs
                .iter()
                .find(|x| x.vr == vr)
                .and_then(|x| x.secret.as_deref());
            if secret != Some(pw.as_slice()) {
                stats.radius_tunnel_secret_mismatch += 1;
                tracing::warn!(
                    "vr {}: RADIUS tunnel (tag {}) to {lns} for {who}: its Tunnel-Password is not the L2TP secret of vr {} (one secret per LAC VR); skipped",
                    cfg.vr.0,
                    t.tag,
                    vr.0
                );
                continue;
            }
        }
        out.push(Candidate { vr, lns: Some(lns) });
    }
    if out.is_empty() {
        stats.radius_tunnel_unusable += 1;
        return Err("no usable tunnel");
    }
    Ok((out, true))
}

/// "aa:bb:cc:dd:ee:ff port P vlan V", the Calling Number of the call (as accel-ppp and
/// most BNGs report the subscriber's MAC).
fn calling_number(mac: [u8; 6], port: PortId, vlan: Option<u16>) -> Vec<u8> {
    let m = mac_string(mac);
    match vlan {
        Some(v) => format!("{m} port {} vlan {v}", port.0),
        None => format!("{m} port {}", port.0),
    }
    .into_bytes()
}

/// The proxy AVPs for an ICCN from what the access side's PPP engine saw.
fn proxy_info(e: &PppEngine, req: &AuthRequest) -> Option<Box<ProxyInfo>> {
    let lcp = e.proxy_lcp()?;
    let mut p = ProxyInfo {
        initial_received_confreq: Some(lcp.initial_received.clone()),
        last_sent_confreq: Some(lcp.last_sent_confreq.clone()),
        last_received_confreq: Some(lcp.last_received_confreq.clone()),
        authen_name: req.username.clone(),
        ..ProxyInfo::default()
    };
    match &req.credentials {
        Credentials::Pap { password } => {
            p.authen_type = Some(3);
            p.authen_response = password.clone();
        }
        Credentials::ChapMd5 {
            id,
            challenge,
            response,
        } => {
            p.authen_type = Some(2);
            p.authen_id = Some(*id);
            p.authen_challenge = challenge.clone();
            p.authen_response = response.to_vec();
        }
        Credentials::MsChapV2 { .. } => return None,
    }
    Some(Box::new(p))
}

/// A PPPoE session frame carrying `ppp` (a PPP frame from its protocol field).
fn session_frame(
    (mac, our_mac, vlan): ([u8; 6], [u8; 6], Option<u16>),
    session: u16,
    ppp: &[u8],
) -> Vec<u8> {
    let tag = if vlan.is_some() { 4 } else { 0 };
    let mut f = Vec::with_capacity(14 + tag + 6 + ppp.len());
    f.extend_from_slice(&mac);
    f.extend_from_slice(&our_mac);
    if let Some(v) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&0x8864u16.to_be_bytes());
    f.extend_from_slice(&[0x11, 0x00]);
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    f.extend_from_slice(ppp);
    f
}

/// The realm route of a switched session whose LAC proxied a PAP or CHAP authentication,
/// with the proxy to pass on unchanged.
fn proxied_auth(leg: &L2tpLeg) -> Option<&ProxyInfo> {
    let p = leg.proxy.as_deref()?;
    let lcp_complete = p.last_sent_confreq.is_some() && p.last_received_confreq.is_some();
    (lcp_complete && matches!(p.authen_type, Some(2) | Some(3)) && !p.authen_name.is_empty())
        .then_some(p)
}

impl Link {
    fn view(&self, link: LinkKey) -> LinkView {
        let (vlan, mac, our_mac, l2tp) = match &self.access {
            Access::Pppoe { vlan, mac, our_mac } => (*vlan, *mac, *our_mac, None),
            Access::L2tp(leg) => (None, [0; 6], [0; 6], Some((**leg).clone())),
        };
        LinkView {
            link,
            vr: self.vr,
            vlan,
            mac,
            our_mac,
            l2tp,
            user: String::from_utf8_lossy(&self.user).into_owned(),
            stage: self.stage,
            since: self.since,
        }
    }
}

impl AccessManager {
    /// A manager with discovery limits `limits`; `cookie_key` keys the AC-Cookies, `seed`
    /// the PPP engines (both from the OS in the appliance, fixed in tests).
    pub fn new(cookie_key: [u8; 32], limits: Limits, seed: u64) -> Self {
        AccessManager {
            disc: Discovery::new(cookie_key, limits),
            vrs: BTreeMap::new(),
            ifaces: BTreeMap::new(),
            links: HashMap::new(),
            out: Vec::new(),
            seed,
            tags: HashMap::new(),
            next_tag: 0,
            stats: AccessStats::default(),
        }
    }

    /// Makes the relaying VRs those of `cfgs`, each with its PPPoE access interfaces
    /// (`(port, vlan)`; none for a VR that only switches L2TP sessions). PPPoE sessions on
    /// interfaces that go away (or change VR) end. A VR whose RADIUS settings are unchanged
    /// keeps its client (and the requests under way); subscribers waiting for a client that
    /// is replaced or removed are refused.
    pub fn configure(&mut self, now: Instant, cfgs: Vec<(AccessConfig, AccessInterfaces)>) {
        let mut want: BTreeMap<(PortId, Option<u16>), IfConfig> = BTreeMap::new();
        let mut old = std::mem::take(&mut self.vrs);
        // VRs whose RADIUS client is new (or gone).
        let mut fresh = std::collections::BTreeSet::new();
        for (c, ifs) in cfgs {
            for i in ifs {
                want.insert(
                    i,
                    IfConfig {
                        vr: c.vr,
                        ac_name: c.ac_name.clone(),
                        service_names: c.service_names.clone(),
                        max_sessions: c.max_sessions,
                        max_sessions_per_mac: c.max_sessions_per_mac,
                        padi_per_mac_per_sec: c.padi_per_mac_per_sec,
                        max_payload: c.max_payload,
                    },
                );
            }
            let ppp = Arc::new(ppp_config(&c));
            let (radius, radius_armed) = match old.remove(&c.vr) {
                Some(o) if o.cfg.radius == c.radius => (o.radius, o.radius_armed),
                o => {
                    fresh.insert(c.vr);
                    if o.is_some_and(|o| o.radius_armed.is_some()) {
                        self.out.push(Output::RadiusTimer { vr: c.vr, at: None });
                    }
                    self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (c.radius.as_ref().map(|r| radius_client(r, self.seed)), None)
                }
            };
            self.vrs.insert(
                c.vr,
                VrAccess {
                    cfg: c,
                    ppp,
                    radius,
                    radius_armed,
                },
            );
        }
        for (vr, o) in old {
            fresh.insert(vr);
            if o.radius_armed.is_some() {
                self.out.push(Output::RadiusTimer { vr, at: None });
            }
        }
        // Requests whose client went: their answers will not come.
        let orphans: Vec<LinkKey> = self
            .links
            .iter()
            .filter(|(_, l)| l.radius_tag.is_some() && fresh.contains(&l.vr))
            .map(|(k, _)| *k)
            .collect();
        for link in orphans {
            self.stats.radius_errors += 1;
            self.refuse(now, link, "authentication service reconfigured");
        }
        let gone: Vec<_> = self
            .ifaces
            .keys()
            .filter(|k| !want.contains_key(k))
            .copied()
            .collect();
        for (port, vlan) in gone {
            self.disc.configure(now, port, vlan, None);
            self.ifaces.remove(&(port, vlan));
        }
        for ((port, vlan), c) in want {
            self.ifaces.insert((port, vlan), c.vr);
            self.disc.configure(now, port, vlan, Some(c));
        }
        self.pump(now);
    }

    /// True when some VR relays subscribers.
    pub fn is_active(&self) -> bool {
        !self.vrs.is_empty()
    }

    /// True when `vr` relays its subscribers (its L2TP sessions are switched, not
    /// terminated).
    pub fn relays(&self, vr: VrId) -> bool {
        self.vrs.contains_key(&vr)
    }

    /// The discovery engine (counters, sessions).
    pub fn discovery(&self) -> &Discovery {
        &self.disc
    }

    /// A punted PPPoE discovery frame (`l3`: offset of the PPPoE header).
    pub fn discovery_frame(
        &mut self,
        now: Instant,
        port: PortId,
        port_mac: [u8; 6],
        vlan: Option<u16>,
        frame: &[u8],
        l3: usize,
    ) {
        self.disc.handle_frame(now, port, port_mac, vlan, frame, l3);
        self.pump(now);
    }

    /// An L2TP session came up in `vr`'s LNS, `vr` relaying (tunnel switching): routed at
    /// once by the LAC's proxy authentication, else PPP starts here to learn the user.
    pub fn l2tp_session_up(
        &mut self,
        now: Instant,
        vr: VrId,
        tunnel: u16,
        session: u16,
        leg: L2tpLeg,
    ) {
        let link = LinkKey::L2tp {
            vr,
            tunnel,
            session,
        };
        let Some(va) = self.vrs.get(&vr) else {
            self.out.push(Output::Hangup {
                vr,
                tunnel,
                session,
            });
            return;
        };
        self.stats.sessions_up += 1;
        let mut l = Link {
            vr,
            access: Access::L2tp(Box::new(leg)),
            since: now,
            user: Vec::new(),
            stage: Stage::Negotiating,
            ppp: None,
            place_deadline: None,
            radius_tag: None,
            pending: None,
        };
        let Access::L2tp(leg) = &l.access else {
            unreachable!("just built")
        };
        if let Some(p) = proxied_auth(leg) {
            l.user = p.authen_name.clone();
            let proxy = Box::new(p.clone());
            let calling = leg.calling_number.clone();
            if va.radius.is_some() {
                // RADIUS authorises the proxied credentials; no PPP here to tell a refusal.
                self.stats.switched_by_proxy += 1;
                l.stage = Stage::Authorizing;
                l.pending = Some(PendingCall {
                    proxy,
                    calling,
                    next: VecDeque::new(),
                    overall: now,
                });
                self.links.insert(link, l);
                self.send_radius(now, link);
                return;
            }
            match va.cfg.route(&l.user).cloned() {
                Some(route) => {
                    self.stats.switched_by_proxy += 1;
                    l.pending = Some(PendingCall {
                        proxy,
                        calling,
                        next: VecDeque::from([Candidate {
                            vr: route.vr,
                            lns: route.lns,
                        }]),
                        overall: now + PLACE_TIMEOUT,
                    });
                    self.links.insert(link, l);
                    self.place_next(now, link);
                }
                None => {
                    // No PPP here to say why: the call is cleared.
                    self.stats.realm_unknown += 1;
                    self.out.push(Output::Hangup {
                        vr,
                        tunnel,
                        session,
                    });
                }
            }
            return;
        }
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut e = PppEngine::new(va.ppp.clone(), ppp::Role::Server, now, self.seed);
        e.open(now);
        l.ppp = Some(Box::new(e));
        self.links.insert(link, l);
        self.service(now, link);
    }

    /// A switched L2TP session went down (CDN or tunnel down from the wholesale LAC).
    pub fn l2tp_session_down(&mut self, now: Instant, vr: VrId, tunnel: u16, session: u16) {
        let link = LinkKey::L2tp {
            vr,
            tunnel,
            session,
        };
        if let Some(l) = self.links.get(&link) {
            if !matches!(l.stage, Stage::Negotiating) {
                self.stats.ended_by_subscriber += 1;
            }
            self.end(now, link, false, true);
        }
    }

    /// A punted PPP control frame of an access link (`ppp`: from the protocol field, or
    /// from `ff 03`).
    pub fn ppp_frame(&mut self, now: Instant, link: LinkKey, ppp: &[u8]) {
        let Some(e) = self.links.get_mut(&link).and_then(|l| l.ppp.as_mut()) else {
            self.stats.ppp_unknown_session += 1;
            return;
        };
        if ppp.starts_with(&[0xff, 0x03]) {
            e.handle_frame(now, ppp);
        } else {
            // The engine takes HDLC-like framing (`ff 03`); PPPoE carries none (RFC 2516 §7).
            let mut f = Vec::with_capacity(ppp.len() + 2);
            f.extend_from_slice(&[0xff, 0x03]);
            f.extend_from_slice(ppp);
            e.handle_frame(now, &f);
        }
        self.service(now, link);
    }

    /// The link's timer fired.
    pub fn handle_timer(&mut self, now: Instant, link: LinkKey) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.place_deadline.is_some_and(|d| d <= now) {
            l.place_deadline = None;
            self.stats.call_timeouts += 1;
            self.fail_call(now, link, "the ISP's LNS did not answer");
            return;
        }
        if let Some(e) = l.ppp.as_mut() {
            if e.deadline().is_some_and(|d| d <= now) {
                e.handle_timeout(now);
            }
        }
        self.service(now, link);
    }

    /// A datagram from a RADIUS server on source socket `socket` of `vr`'s client.
    pub fn radius_datagram(
        &mut self,
        now: Instant,
        vr: VrId,
        socket: usize,
        src: SocketAddr,
        bytes: &[u8],
    ) {
        if let Some(c) = self.vrs.get_mut(&vr).and_then(|v| v.radius.as_mut()) {
            c.handle_datagram(now, socket, src, bytes);
        }
        self.pump_radius(now, vr);
    }

    /// `vr`'s RADIUS client timer fired (retransmission, failover, timeout).
    pub fn handle_radius_timer(&mut self, now: Instant, vr: VrId) {
        if let Some(v) = self.vrs.get_mut(&vr) {
            v.radius_armed = None;
            if let Some(c) = v.radius.as_mut() {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
        }
        self.pump_radius(now, vr);
    }

    /// The RADIUS client counters of every relaying VR, summed.
    pub fn radius_counters(&self) -> RadiusCounters {
        let mut t = RadiusCounters::default();
        for c in self.vrs.values().filter_map(|v| v.radius.as_ref()) {
            t.add(c.counters());
        }
        t
    }

    /// True when `vr` relays with RADIUS (it needs [`radius_source_ports`] sockets).
    pub fn has_radius(&self, vr: VrId) -> bool {
        self.vrs.get(&vr).is_some_and(|v| v.radius.is_some())
    }

    /// The call of `link` was placed as `(tunnel, session)`.
    pub fn call_placed(&mut self, link: LinkKey, tunnel: u16, session: u16) {
        if let Some(l) = self.links.get_mut(&link) {
            if let Stage::Placing { vr, .. } = l.stage {
                l.stage = Stage::Placing {
                    vr,
                    call: Some((tunnel, session)),
                };
            }
        }
    }

    /// The call of `link` is up: the driver has bound both relays; the access side's PPP
    /// is over.
    pub fn call_up(&mut self, link: LinkKey) -> bool {
        let Some(l) = self.links.get_mut(&link) else {
            return false;
        };
        let Stage::Placing {
            vr,
            call: Some((tunnel, session)),
        } = l.stage
        else {
            return false;
        };
        l.stage = Stage::Relaying {
            vr,
            tunnel,
            session,
        };
        l.ppp = None;
        l.place_deadline = None;
        l.pending = None;
        self.stats.calls_up += 1;
        self.out.push(Output::Timer { link, at: None });
        true
    }

    /// `link` (a PPPoE session whose call was to be placed from `vr`) is terminated in `vr`
    /// itself: its PPP goes on in that VR's subscriber manager, which the driver started
    /// with the proxy LCP and authentication of the [`Output::Place`]. The access side
    /// keeps the PPPoE session (PADT, listing) and drops its PPP engine.
    pub fn terminated_here(&mut self, link: LinkKey, vr: VrId) -> bool {
        let Some(l) = self.links.get_mut(&link) else {
            return false;
        };
        if !matches!(l.stage, Stage::Placing { .. }) {
            return false;
        }
        l.stage = Stage::Terminated { vr };
        l.ppp = None;
        l.place_deadline = None;
        l.pending = None;
        self.stats.terminated_here += 1;
        self.out.push(Output::Timer { link, at: None });
        true
    }

    /// The call of `link` ended (CDN, tunnel down) or could not be placed: the subscriber
    /// is told (PADT or CDN, after an authentication failure if it was still waiting).
    pub fn call_down(&mut self, now: Instant, link: LinkKey, why: &str) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        match l.stage {
            Stage::Relaying { .. } | Stage::Terminated { .. } => {
                self.stats.ended_by_lns += 1;
                self.end(now, link, true, false);
            }
            _ => self.fail_call(now, link, why),
        }
    }

    /// Ends a subscriber from the appliance (operator, reload): CDN to the ISP, PADT or
    /// CDN to the subscriber.
    pub fn disconnect(&mut self, now: Instant, link: LinkKey) -> bool {
        if !self.links.contains_key(&link) {
            return false;
        }
        self.end(now, link, true, true);
        true
    }

    /// Every subscriber (at most `limit`), for listings.
    pub fn list(&self, limit: usize) -> Vec<LinkView> {
        let mut v: Vec<LinkView> = self.links.iter().map(|(k, l)| l.view(*k)).collect();
        v.sort_by_key(|x| x.link);
        v.truncate(limit);
        v
    }

    /// One subscriber.
    pub fn link(&self, link: LinkKey) -> Option<LinkView> {
        self.links.get(&link).map(|l| l.view(link))
    }

    /// Subscribers in all.
    pub fn count(&self) -> usize {
        self.links.len()
    }

    /// PPP counters of the engines still negotiating.
    pub fn ppp_counters(&self) -> ppp::Counters {
        let mut c = ppp::Counters::default();
        for e in self.links.values().filter_map(|l| l.ppp.as_deref()) {
            c.add(e.counters());
        }
        c
    }

    /// What to do, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    fn fail_call(&mut self, now: Instant, link: LinkKey, why: &str) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        self.stats.calls_failed += 1;
        if let Stage::Placing {
            vr,
            call: Some((tunnel, session)),
        } = l.stage
        {
            self.out.push(Output::Hangup {
                vr,
                tunnel,
                session,
            });
        }
        l.place_deadline = None;
        if l.pending.as_ref().is_some_and(|p| !p.next.is_empty()) {
            self.stats.radius_tunnel_fallbacks += 1;
            tracing::info!("access {link}: call failed ({why}); trying the next RADIUS tunnel");
            self.place_next(now, link);
            return;
        }
        self.refuse(now, link, why);
    }

    /// Refuses the subscriber: an authentication failure with `why` through its PPP (then
    /// LCP ends and PADT), or the switched session's CDN when there is no PPP here.
    fn refuse(&mut self, now: Instant, link: LinkKey, why: &str) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.stage = Stage::Negotiating;
        l.place_deadline = None;
        l.pending = None;
        if let Some(t) = l.radius_tag.take() {
            self.tags.remove(&t);
        }
        match l.ppp.as_mut() {
            Some(e) => {
                e.auth_result(
                    now,
                    AuthResult::Reject {
                        message: why.into(),
                    },
                );
                self.service(now, link);
            }
            None => self.end(now, link, true, false),
        }
    }

    /// Places the call on the next candidate tunnel, with its share of the time left.
    /// False when none is left.
    fn place_next(&mut self, now: Instant, link: LinkKey) -> bool {
        let Some(l) = self.links.get_mut(&link) else {
            return false;
        };
        let Some(p) = l.pending.as_mut() else {
            return false;
        };
        let Some(c) = p.next.pop_front() else {
            return false;
        };
        let share = p.next.len() as u32 + 1;
        let deadline = now + p.overall.saturating_duration_since(now) / share;
        self.stats.calls_placed += 1;
        l.stage = Stage::Placing {
            vr: c.vr,
            call: None,
        };
        l.place_deadline = Some(deadline);
        self.out.push(Output::Place {
            link,
            vr: c.vr,
            lns: c.lns,
            proxy: p.proxy.clone(),
            calling_number: p.calling.clone(),
        });
        let at = match l.ppp.as_ref().and_then(|e| e.deadline()) {
            Some(d) => d.min(deadline),
            None => deadline,
        };
        self.out.push(Output::Timer { link, at: Some(at) });
        true
    }

    /// Sends the Access-Request of a link whose call is pending (credentials from its
    /// proxy authentication).
    fn send_radius(&mut self, now: Instant, link: LinkKey) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let Some(auth) = l.pending.as_ref().and_then(|p| radius_auth(&p.proxy)) else {
            self.stats.auth_not_proxyable += 1;
            self.refuse(now, link, "authentication method cannot be relayed");
            return;
        };
        self.next_tag += 1;
        let tag = self.next_tag;
        let vr = l.vr;
        let user = String::from_utf8_lossy(&l.user).into_owned();
        let mut r = AccessRequest::ppp(&user, auth, &format!("relay-{}-{tag}", vr.0), tag);
        match (link, &l.access) {
            (LinkKey::Pppoe { port, session }, Access::Pppoe { mac, vlan, .. }) => {
                r.nas_port_type = NAS_PORT_TYPE_ETHERNET;
                r.nas_port = u32::from(port.0) << 16 | u32::from(session);
                r.nas_port_id = Some(match vlan {
                    Some(v) => format!("port {} vlan {v}", port.0),
                    None => format!("port {}", port.0),
                });
                r.calling_station = Some(mac_string(*mac));
            }
            (
                LinkKey::L2tp {
                    tunnel, session, ..
                },
                Access::L2tp(leg),
            ) => {
                r.nas_port = u32::from(tunnel) << 16 | u32::from(session);
                r.nas_port_id = Some(format!("l2tp {tunnel}/{session}"));
                if !leg.calling_number.is_empty() {
                    r.calling_station =
                        Some(String::from_utf8_lossy(&leg.calling_number).into_owned());
                }
            }
            _ => {}
        }
        let sent = match self.vrs.get_mut(&vr).and_then(|v| v.radius.as_mut()) {
            Some(c) => c.access_request(now, r).map_err(|e| e.to_string()),
            None => Err("no RADIUS client".into()),
        };
        match sent {
            Ok(_) => {
                self.stats.radius_requests += 1;
                if let Some(l) = self.links.get_mut(&link) {
                    l.radius_tag = Some(tag);
                }
                self.tags.insert(tag, link);
                self.pump_radius_io(vr);
            }
            Err(e) => {
                self.stats.radius_errors += 1;
                tracing::warn!("vr {}: RADIUS request for {user} not sent: {e}", vr.0);
                self.refuse(now, link, "authentication service unavailable");
            }
        }
    }

    /// Hands the VR's RADIUS client's datagrams and timer to the driver.
    fn pump_radius_io(&mut self, vr: VrId) {
        let Some(v) = self.vrs.get_mut(&vr) else {
            return;
        };
        let Some(c) = v.radius.as_mut() else {
            return;
        };
        while let Some(t) = c.poll_transmit() {
            self.out.push(Output::Radius {
                vr,
                socket: t.socket,
                dst: t.dst,
                payload: t.payload,
            });
        }
        let at = c.poll_timeout();
        if at != v.radius_armed {
            v.radius_armed = at;
            self.out.push(Output::RadiusTimer { vr, at });
        }
    }

    /// Acts on the VR's finished RADIUS requests.
    fn pump_radius(&mut self, now: Instant, vr: VrId) {
        loop {
            self.pump_radius_io(vr);
            let Some(ev) = self
                .vrs
                .get_mut(&vr)
                .and_then(|v| v.radius.as_mut())
                .and_then(|c| c.poll_event())
            else {
                return;
            };
            // Gone while RADIUS was asked (or a stale tag): nothing to do.
            let Some(link) = self.tags.remove(&ev.tag) else {
                continue;
            };
            let Some(l) = self.links.get_mut(&link) else {
                continue;
            };
            if l.radius_tag != Some(ev.tag) {
                continue;
            }
            l.radius_tag = None;
            match ev.result {
                ClientResult::Accept(a) => self.radius_accept(now, link, &a),
                ClientResult::Reject { reply_message, .. }
                | ClientResult::Challenge { reply_message, .. } => {
                    self.stats.radius_rejects += 1;
                    let why = reply_message
                        .map(|m| String::from_utf8_lossy(&m).into_owned())
                        .unwrap_or_else(|| "rejected by RADIUS".into());
                    self.refuse(now, link, &why);
                }
                ClientResult::Timeout => {
                    self.stats.radius_timeouts += 1;
                    tracing::warn!("vr {}: no RADIUS server answered for {link}", vr.0);
                    self.refuse(now, link, "authentication service unavailable");
                }
                ClientResult::AcctOk | ClientResult::AcctFailed => {}
            }
        }
    }

    /// An Access-Accept: the realm's call, or the RADIUS-chosen tunnels in turn.
    fn radius_accept(&mut self, now: Instant, link: LinkKey, a: &AuthAttrs) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let Some(va) = self.vrs.get(&l.vr) else {
            return;
        };
        self.stats.radius_accepts += 1;
        match accept_candidates(&va.cfg, &l.user, a, &mut self.stats) {
            Ok((cands, tunnels)) => {
                if tunnels {
                    self.stats.radius_tunnel_calls += 1;
                }
                if let Some(p) = l.pending.as_mut() {
                    p.next = cands.into();
                    p.overall = now + PLACE_TIMEOUT;
                }
                self.place_next(now, link);
            }
            Err(why) => self.refuse(now, link, why),
        }
    }

    /// Ends the link: CDN of its call (if `hangup` and there is one), and toward the
    /// subscriber (if `tell`) a PADT or the CDN of the switched session; unbinds PPPoE.
    fn end(&mut self, now: Instant, link: LinkKey, tell: bool, hangup: bool) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        if let Some(t) = l.radius_tag {
            self.tags.remove(&t);
        }
        let call = match l.stage {
            Stage::Relaying {
                vr,
                tunnel,
                session,
            } => Some((vr, tunnel, session)),
            Stage::Placing {
                vr,
                call: Some((t, s)),
            } => Some((vr, t, s)),
            _ => None,
        };
        if let (true, Some((vr, tunnel, session))) = (hangup, call) {
            self.out.push(Output::Hangup {
                vr,
                tunnel,
                session,
            });
        }
        self.out.push(Output::Timer { link, at: None });
        match link {
            LinkKey::Pppoe { port, session } => {
                self.out.push(Output::Unbind { link });
                if tell {
                    self.disc.close(now, port, session, DiscDown::Local(None));
                    self.pump_discovery();
                }
            }
            LinkKey::L2tp {
                vr,
                tunnel,
                session,
            } => {
                if tell {
                    self.out.push(Output::Hangup {
                        vr,
                        tunnel,
                        session,
                    });
                }
            }
        }
    }

    /// Carries out what discovery produced.
    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.disc.poll_output() {
            match o {
                DiscOutput::Frame { port, frame } => self.out.push(Output::Frame { port, frame }),
                DiscOutput::SessionUp(s) => {
                    let link = LinkKey::Pppoe {
                        port: s.port,
                        session: s.session,
                    };
                    let Some(va) = self.vrs.get(&s.vr) else {
                        self.disc
                            .close(now, s.port, s.session, DiscDown::Local(None));
                        continue;
                    };
                    self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let mut cfg = va.ppp.clone();
                    if s.max_payload != cfg.mru {
                        let mut c = (*cfg).clone();
                        c.mru = s.max_payload;
                        cfg = Arc::new(c);
                    }
                    let mut e = PppEngine::new(cfg, ppp::Role::Server, now, self.seed);
                    e.open(now);
                    self.stats.sessions_up += 1;
                    self.out.push(Output::Bind {
                        link,
                        vr: s.vr,
                        mac: s.mac,
                        vlan: s.vlan,
                    });
                    self.links.insert(
                        link,
                        Link {
                            vr: s.vr,
                            access: Access::Pppoe {
                                vlan: s.vlan,
                                mac: s.mac,
                                our_mac: s.our_mac,
                            },
                            since: now,
                            user: Vec::new(),
                            stage: Stage::Negotiating,
                            ppp: Some(Box::new(e)),
                            place_deadline: None,
                            radius_tag: None,
                            pending: None,
                        },
                    );
                    self.service(now, link);
                }
                DiscOutput::SessionDown {
                    port,
                    session,
                    reason,
                    ..
                } => {
                    let link = LinkKey::Pppoe { port, session };
                    if let Some(l) = self.links.get(&link) {
                        if reason == DiscDown::PadtFromPeer
                            && !matches!(l.stage, Stage::Negotiating)
                        {
                            self.stats.ended_by_subscriber += 1;
                        }
                        // Discovery already forgot the session: no second PADT.
                        self.end(now, link, false, true);
                    }
                }
            }
        }
    }

    fn pump_discovery(&mut self) {
        while let Some(o) = self.disc.poll_output() {
            if let DiscOutput::Frame { port, frame } = o {
                self.out.push(Output::Frame { port, frame });
            }
        }
    }

    /// Runs a link's PPP engine: its frames to the subscriber, its events (the
    /// authentication request starts the call), its timer.
    fn service(&mut self, now: Instant, link: LinkKey) {
        loop {
            let Some(l) = self.links.get_mut(&link) else {
                return;
            };
            let Some(e) = l.ppp.as_mut() else {
                return;
            };
            while let Some(f) = e.poll_transmit() {
                match (&l.access, link) {
                    (Access::Pppoe { vlan, mac, our_mac }, LinkKey::Pppoe { port, session }) => {
                        // Drop the `ff 03` the engine writes.
                        let ppp = f.strip_prefix(&[0xff, 0x03][..]).unwrap_or(&f);
                        let frame = session_frame((*mac, *our_mac, *vlan), session, ppp);
                        self.out.push(Output::Frame { port, frame });
                    }
                    (Access::L2tp(leg), _) => self.out.push(Output::Packet {
                        vr: l.vr,
                        ip: crate::l2tp::driver::vr::data_packet(
                            leg.local,
                            leg.peer,
                            (leg.peer_tunnel, leg.peer_session),
                            &f,
                        ),
                    }),
                    _ => {}
                }
            }
            let calling = match (&l.access, link) {
                (Access::Pppoe { vlan, mac, .. }, LinkKey::Pppoe { port, .. }) => {
                    calling_number(*mac, port, *vlan)
                }
                (Access::L2tp(leg), _) => leg.calling_number.clone(),
                _ => Vec::new(),
            };
            match e.poll_event() {
                None => {
                    let at = match (e.deadline(), l.place_deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    self.out.push(Output::Timer { link, at });
                    return;
                }
                Some(PppEvent::Authenticate(req)) => {
                    l.user = req.username.clone();
                    let va = self.vrs.get(&l.vr);
                    let radius = va.is_some_and(|v| v.radius.is_some());
                    // With RADIUS, the realm is asked only if the Accept names no tunnel.
                    let route = va
                        .and_then(|v| v.cfg.route(&req.username))
                        .cloned()
                        .filter(|_| !radius);
                    if route.is_none() && !radius {
                        self.stats.realm_unknown += 1;
                        e.auth_result(
                            now,
                            AuthResult::Reject {
                                message: "unknown realm".into(),
                            },
                        );
                        continue;
                    }
                    let Some(proxy) = proxy_info(e, &req) else {
                        self.stats.auth_not_proxyable += 1;
                        e.auth_result(
                            now,
                            AuthResult::Reject {
                                message: "authentication method cannot be relayed".into(),
                            },
                        );
                        continue;
                    };
                    let next = route
                        .map(|r| Candidate {
                            vr: r.vr,
                            lns: r.lns,
                        })
                        .into_iter()
                        .collect();
                    l.pending = Some(PendingCall {
                        proxy,
                        calling,
                        next,
                        overall: now + PLACE_TIMEOUT,
                    });
                    if radius {
                        l.stage = Stage::Authorizing;
                        self.send_radius(now, link);
                    } else {
                        self.place_next(now, link);
                    }
                }
                Some(PppEvent::Down { .. }) => {
                    if !matches!(l.stage, Stage::Negotiating) {
                        self.stats.ended_by_subscriber += 1;
                    }
                    self.end(now, link, true, true);
                    return;
                }
                Some(_) => {}
            }
        }
    }
}
