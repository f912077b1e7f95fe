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
//! Either end going away ends the other: PADT from the subscriber or a dead PPP link →
//! CDN toward the LNS ([`Output::Hangup`]); the call ending ([`AccessManager::call_down`]) →
//! PADT to the subscriber.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vr::{PortId, VrId};

use super::config::AccessConfig;
use crate::l2tp::engine::ProxyInfo;
use crate::ppp::auth::{AuthRequest, AuthResult, Credentials};
use crate::ppp::engine::{self as ppp, Engine as PppEngine, Event as PppEvent};
use crate::pppoe::discovery::{
    AccessConfig as IfConfig, Discovery, DownReason as DiscDown, Limits,
    Output as DiscOutput,
};
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

/// How long a call may take to come up before the subscriber is refused.
pub const PLACE_TIMEOUT: Duration = Duration::from_secs(20);

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
}

/// Where a subscriber is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// LCP and authentication with the access side's PPP engine.
    Negotiating,
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

struct Link {
    vr: VrId,
    access: Access,
    since: Instant,
    user: Vec<u8>,
    stage: Stage,
    ppp: Option<Box<PppEngine>>,
    place_deadline: Option<Instant>,
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
}

struct VrAccess {
    cfg: AccessConfig,
    ppp: Arc<ppp::Config>,
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
        auth_timeout: PLACE_TIMEOUT,
        record_proxy_lcp: true,
        ..ppp::Config::default()
    }
}

/// "aa:bb:cc:dd:ee:ff port P vlan V", the Calling Number of the call (as accel-ppp and
/// most BNGs report the subscriber's MAC).
fn calling_number(mac: [u8; 6], port: PortId, vlan: Option<u16>) -> Vec<u8> {
    let m = mac.map(|b| format!("{b:02x}")).join(":");
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

/// An L2TP data message carrying `frame` (`ff 03`, protocol, ...) to a switched session's
/// LAC, as an IPv4 packet for the VR to route.
fn l2tp_packet(leg: &L2tpLeg, frame: &[u8]) -> Vec<u8> {
    let mut msg = vec![0u8; wire::l2tp::MIN_HEADER_LEN + frame.len()];
    wire::l2tp::emit_data_header(&mut msg, leg.peer_tunnel, leg.peer_session);
    msg[wire::l2tp::MIN_HEADER_LEN..].copy_from_slice(frame);
    let (dst, dport) = match leg.peer {
        SocketAddr::V4(a) => (*a.ip(), a.port()),
        SocketAddr::V6(_) => (Ipv4Addr::UNSPECIFIED, wire::l2tp::UDP_PORT),
    };
    crate::l2tp::driver::vr::udp4(leg.local, dst, wire::l2tp::UDP_PORT, dport, &msg)
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
            stats: AccessStats::default(),
        }
    }

    /// Makes the relaying VRs those of `cfgs`, each with its PPPoE access interfaces
    /// (`(port, vlan)`; none for a VR that only switches L2TP sessions). PPPoE sessions on
    /// interfaces that go away (or change VR) end.
    pub fn configure(
        &mut self,
        now: Instant,
        cfgs: Vec<(AccessConfig, Vec<(PortId, Option<u16>)>)>,
    ) {
        let mut want: BTreeMap<(PortId, Option<u16>), IfConfig> = BTreeMap::new();
        self.vrs.clear();
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
            self.vrs.insert(c.vr, VrAccess { cfg: c, ppp });
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
        self.disc
            .handle_frame(now, port, port_mac, vlan, frame, l3);
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
        };
        let Access::L2tp(leg) = &l.access else {
            unreachable!("just built")
        };
        if let Some(p) = proxied_auth(leg) {
            l.user = p.authen_name.clone();
            let proxy = Box::new(p.clone());
            let calling = leg.calling_number.clone();
            match va.cfg.route(&l.user).cloned() {
                Some(route) => {
                    self.stats.switched_by_proxy += 1;
                    self.stats.calls_placed += 1;
                    l.stage = Stage::Placing {
                        vr: route.vr,
                        call: None,
                    };
                    l.place_deadline = Some(now + PLACE_TIMEOUT);
                    self.out.push(Output::Place {
                        link,
                        vr: route.vr,
                        lns: route.lns,
                        proxy,
                        calling_number: calling,
                    });
                    self.out.push(Output::Timer {
                        link,
                        at: l.place_deadline,
                    });
                    self.links.insert(link, l);
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
        self.stats.calls_up += 1;
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
            Stage::Relaying { .. } => {
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
        l.stage = Stage::Negotiating;
        l.place_deadline = None;
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

    /// Ends the link: CDN of its call (if `hangup` and there is one), and toward the
    /// subscriber (if `tell`) a PADT or the CDN of the switched session; unbinds PPPoE.
    fn end(&mut self, now: Instant, link: LinkKey, tell: bool, hangup: bool) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
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
                    self.disc
                        .close(now, port, session, DiscDown::Local(None));
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
                        ip: l2tp_packet(leg, &f),
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
                    let route = self
                        .vrs
                        .get(&l.vr)
                        .and_then(|v| v.cfg.route(&req.username))
                        .cloned();
                    let Some(route) = route else {
                        self.stats.realm_unknown += 1;
                        e.auth_result(
                            now,
                            AuthResult::Reject {
                                message: "unknown realm".into(),
                            },
                        );
                        continue;
                    };
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
                    self.stats.calls_placed += 1;
                    l.stage = Stage::Placing {
                        vr: route.vr,
                        call: None,
                    };
                    l.place_deadline = Some(now + PLACE_TIMEOUT);
                    self.out.push(Output::Place {
                        link,
                        vr: route.vr,
                        lns: route.lns,
                        proxy,
                        calling_number: calling,
                    });
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
