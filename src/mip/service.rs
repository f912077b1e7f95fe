//! [`MipService`]: the Mobile IPv4 agents of a profile on the control core.
//!
//! **UDP 434.** An agent with `transport: vr` (the default) is addressed at one of its VR's
//! interface addresses: the data plane punts UDP 434 to that address as `local` and the
//! core hands it here ([`Interest::LocalUdp`]). Mobile IP is a protocol of the customer's
//! (or the access network's) address space, so it lives in the VR like the VR's other
//! control traffic; a host socket would put the agents in the appliance's management
//! network. What an agent sends is routed in its VR, except replies to a visiting mobile
//! node: the FA sends those straight to the link address the request came from (RFC 5944
//! §3.7.2.3 — the home address is not on the FA's link), and installs a host route to that
//! link address for the tunnel's decrypted traffic. An agent with `transport: host` uses a
//! host socket (`listen`) instead: for an agent whose address is the appliance's own on the
//! host network, and for tests without frames. Host-socket FAs send no advertisements;
//! their mobile nodes learn a challenge from the FA's first Reply (RFC 3012 §3.3).
//!
//! **Advertisements.** An FA sends an ICMP Agent Advertisement (with a fresh challenge) to
//! 224.0.0.1 on each of its `advertise` ports every `interval_ms`. It answers an Agent
//! Solicitation (RFC 5944 §2.2: ICMP type 10 to 224.0.0.11, or to the FA's address) on one
//! of those ports at once with an advertisement unicast to the soliciting node (its link
//! address; at IP to its source address, or to 224.0.0.1 from a node with no address yet),
//! so a mobile node that just arrived need not wait for the next periodic one. The service
//! takes ICMP type 10 from the core ([`Interest::LocalIcmp4`]) and routes 224.0.0.11/32 to
//! `local` in each advertising FA's VR. Answers are limited to one per
//! [`SOLICITED_MIN_INTERVAL`] per agent and port (more are counted and dropped), so a flood
//! of solicitations cannot make the FA flood its link.
//!
//! **Diameter.** Through [`super::diameter`]: messages are taken by
//! [`MipService::poll_aaa`], which the appliance's supervisor calls every loop iteration
//! when the Diameter thread raised its flag, and the service's own 100 ms timer.
//!
//! **Tunnels.** The engines' events go to [`super::datapath::Datapath`] in the same
//! dispatch, so the version the core publishes after it has the SAs and routes.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use controlcore::service::{Ctx, Interest, PuntView, Service};
use controlcore::sockets::SocketId;
use controlplane::aaa::Output as AaaOutput;
use controlplane::diameter::wire::codes::result;
use controlplane::mip::fa::{Fa, FaConfig};
use controlplane::mip::ha::{Ha, HaConfig};
use controlplane::mip::pcn::{Pcn, PcnConfig};
use controlplane::mip::wire::advert;
use controlplane::mip::wire::ntp::NtpClock;
use controlplane::mip::Output;
use dataplane::counters::Punt;
use rand::rngs::StdRng;
use vr::{IpPrefix, NextHop, PortId, Prefix4, VrId};
use wire::{IpProtocol, UdpPacket};

use super::datapath::{self, AgentSide, Datapath};
use super::diameter::{DiameterLink, ToAgent};
use super::esp_hold::{self, EspHold};
use super::replay;
use super::{AgentCfg, MipConfig, MipRole, Transport};

/// The Mobile IP port.
pub const MIP_PORT: u16 = controlplane::mip::wire::UDP_PORT;
/// The all-systems group of the advertisements.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// How often the service looks at the Diameter channel on its own.
pub const AAA_POLL: Duration = Duration::from_millis(100);
/// The shortest time between two solicited advertisements of one agent on one port.
pub const SOLICITED_MIN_INTERVAL: Duration = Duration::from_millis(50);
const TOKEN_AAA: u64 = u64::MAX;
const TOKEN_REPLAY: u64 = u64::MAX - 1;
const TOKEN_ESP_HOLD: u64 = u64::MAX - 2;

/// An agent's engine.
pub enum Engine {
    /// Home agent.
    Ha(Box<Ha>),
    /// Foreign agent.
    Fa(Box<Fa<StdRng>>),
    /// Proxy correspondent node.
    Pcn(Box<Pcn>),
}

/// The driver's own counters of one agent (the engine counts the protocol).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Datagrams handed to the engine.
    pub rx_datagrams: u64,
    /// Datagrams sent.
    pub tx_datagrams: u64,
    /// Datagrams that could not be sent (host socket error).
    pub tx_errors: u64,
    /// Agent Advertisements sent (one per port), solicited ones included.
    pub adverts: u64,
    /// Agent Solicitations answered.
    pub solicitations: u64,
    /// Agent Solicitations not answered: within [`SOLICITED_MIN_INTERVAL`] of the last
    /// answer on that port.
    pub solicitations_rate_limited: u64,
    /// Diameter messages handed to the peers / taken from them.
    pub aaa_out: u64,
    /// Diameter messages taken from the peers.
    pub aaa_in: u64,
    /// Diameter requests the agent does not take (answered 3001).
    pub aaa_unexpected: u64,
    /// Diameter messages with no peer to go to (the agent has no Diameter side).
    pub aaa_no_peer: u64,
}

/// One agent.
pub struct Agent {
    /// Its configuration.
    pub cfg: AgentCfg,
    /// Its engine.
    pub engine: Engine,
    sock: Option<SocketId>,
    /// FA: the link address of each visitor (port, VLAN, MAC), from its last request.
    links: HashMap<Ipv4Addr, (PortId, Option<u16>, [u8; 6])>,
    /// Visitor host routes installed (home address → link).
    visitor_routes: HashMap<Ipv4Addr, (PortId, Option<u16>, [u8; 6])>,
    /// FA: the visitors' replay hops (smooth handoff without loss).
    pub replays: replay::Visitors,
    /// FA: when it last answered a solicitation, per advertising port and VLAN.
    solicited: HashMap<(usize, Option<u16>), Instant>,
    /// Driver counters.
    pub counters: DriverCounters,
}

impl Agent {
    /// An FA on the VR's ports with `advertise` ports: it advertises there and answers
    /// solicitations.
    fn advertises(&self) -> bool {
        self.cfg.role == MipRole::ForeignAgent
            && self.cfg.transport == Transport::Vr
            && !self.cfg.advertise_on.is_empty()
    }
}

/// Service-wide counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    /// UDP 434 punts for an address no agent of the VR has.
    pub not_for_agent: u64,
    /// Punts that are not UDP in IPv4 (or are truncated).
    pub malformed: u64,
    /// ICMP punts that are not a well-formed Agent Solicitation (bad checksum, code, length).
    pub solicitations_malformed: u64,
    /// Agent Solicitations no FA advertises on (their VR, port and VLAN) or addressed to
    /// another address.
    pub solicitations_not_for_agent: u64,
    /// Routes the service could not install (224.0.0.11 in an FA's VR).
    pub route_errors: u64,
    /// Host sockets that could not be opened at start.
    pub socket_errors: u64,
}

/// The Mobile IPv4 agents of a profile.
pub struct MipService {
    agents: Vec<Agent>,
    dp: Datapath,
    aaa: Option<DiameterLink>,
    port_macs: Vec<[u8; 6]>,
    counters: ServiceCounters,
    /// Replays asked by the FAs, not yet (fully) carried out.
    replay_due: Vec<replay::Due>,
    /// The next replay hop id to try.
    next_replay_id: u32,
    /// ESP that reached an FA before its SA.
    esp_hold: EspHold,
}

/// 224.0.0.11/32, the all-mobility-agents group Agent Solicitations go to.
fn solicitation_group() -> Prefix4 {
    Prefix4::new(advert::ALL_MOBILITY_AGENTS.into(), 32).expect("a /32 is a prefix")
}

/// The NTP clock of the engines, taken from the wall clock once (RFC 5944 §5.7.1).
pub fn wall_ntp_clock(now: Instant) -> NtpClock {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = t.as_secs() + 2_208_988_800;
    let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
    NtpClock {
        epoch: now,
        epoch_ntp: (secs << 32) | frac,
    }
}

fn engine_of(a: &AgentCfg, clock: NtpClock) -> Engine {
    let (host, realm) = a
        .diameter
        .as_ref()
        .map(|d| (d.origin_host.clone(), d.origin_realm.clone()))
        .unwrap_or_else(|| (format!("{}.mip.invalid", a.name), "mip.invalid".into()));
    match a.role {
        MipRole::HomeAgent => {
            let mut c = HaConfig::new(a.address, &host, &realm, clock);
            c.max_bindings = a.max_entries;
            c.max_lifetime = a.max_lifetime;
            c.tunnel_support = datapath::supported;
            let mut ha = Ha::new(c);
            for (home, sa) in &a.mn_ha {
                ha.set_mn_ha(*home, sa.clone());
            }
            for (fa, sa) in &a.fa_ha {
                ha.set_fa_ha(*fa, sa.clone());
            }
            for (pcn, sa) in &a.peers {
                ha.set_pcn(*pcn, sa.clone());
            }
            Engine::Ha(Box::new(ha))
        }
        MipRole::ForeignAgent => {
            let mut c = FaConfig::new(a.address, &host, &realm, clock);
            c.max_visitors = a.max_entries;
            c.max_lifetime = a.max_lifetime;
            c.challenge_len = a.challenge_len;
            c.challenge_window = a.challenge_window;
            c.challenge_lifetime = a.challenge_lifetime;
            c.handoff_replay_margin = a.handoff_replay_margin;
            c.tunnel_support = datapath::supported;
            let mut fa = Fa::new(c, rand::make_rng());
            for (peer, sa) in &a.peers {
                fa.set_fa_peer(*peer, sa.clone());
            }
            Engine::Fa(Box::new(fa))
        }
        MipRole::Pcn => {
            let mut c = PcnConfig::new(a.address, clock);
            c.max_entries = a.max_entries;
            let mut p = Pcn::new(c);
            for (ha, sa) in &a.peers {
                p.set_peer(*ha, sa.clone());
            }
            Engine::Pcn(Box::new(p))
        }
    }
}

/// A UDP datagram in an IPv4 packet, checksums filled.
pub fn udp_ipv4(src: SocketAddrV4, dst: SocketAddrV4, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8 + payload.len()];
    u[0..2].copy_from_slice(&src.port().to_be_bytes());
    u[2..4].copy_from_slice(&dst.port().to_be_bytes());
    let len = u.len() as u16;
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u[8..].copy_from_slice(payload);
    let mut p = UdpPacket::new_unchecked(&mut u[..]);
    p.fill_checksum_ipv4(src.ip(), dst.ip());
    controlplane::packet::ipv4(*src.ip(), *dst.ip(), IpProtocol::Udp, ttl, &u)
}

impl MipService {
    /// The agents of `cfg` (none started yet: [`Service::start`] opens sockets and timers);
    /// `aaa` is the Diameter thread of those that have a Diameter side.
    pub fn new(
        cfg: &MipConfig,
        port_macs: Vec<[u8; 6]>,
        workers: usize,
        aaa: Option<DiameterLink>,
        now: Instant,
    ) -> Self {
        let clock = wall_ntp_clock(now);
        MipService {
            agents: cfg
                .agents
                .iter()
                .map(|a| Agent {
                    engine: engine_of(a, clock),
                    cfg: a.clone(),
                    sock: None,
                    links: HashMap::new(),
                    visitor_routes: HashMap::new(),
                    replays: replay::Visitors::default(),
                    solicited: HashMap::new(),
                    counters: DriverCounters::default(),
                })
                .collect(),
            dp: Datapath::new(workers),
            aaa,
            port_macs,
            counters: ServiceCounters::default(),
            replay_due: Vec::new(),
            next_replay_id: 1,
            esp_hold: EspHold::default(),
        }
    }

    /// Starts the Diameter thread of `cfg`'s agents and builds the service.
    pub fn from_config(
        cfg: &MipConfig,
        port_macs: Vec<[u8; 6]>,
        workers: usize,
        now: Instant,
    ) -> Result<Self, String> {
        let with: Vec<(usize, super::DiameterCfg)> = cfg
            .agents
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.diameter.clone().map(|d| (i, d)))
            .collect();
        let link = super::diameter::start(cfg.agents.len(), &with)?;
        Ok(MipService::new(cfg, port_macs, workers, link, now))
    }

    /// The agents.
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// The data-plane side (installed tunnels, counters).
    pub fn datapath(&self) -> &Datapath {
        &self.dp
    }

    /// The service-wide counters.
    pub fn service_counters(&self) -> &ServiceCounters {
        &self.counters
    }

    /// Per agent Diameter peer statistics (as the thread last published them).
    pub fn peer_stats(&self) -> Vec<super::diameter::PeerStats> {
        self.aaa
            .as_ref()
            .and_then(|l| l.stats.lock().ok().map(|s| s.clone()))
            .unwrap_or_default()
    }

    /// Whether the Diameter thread has handed something over since the last look.
    pub fn aaa_pending(&self) -> bool {
        self.aaa
            .as_ref()
            .is_some_and(|l| l.pending.load(Ordering::Acquire))
    }

    /// Takes what the Diameter peers sent and hands it to the agents.
    pub fn poll_aaa(&mut self, cx: &mut Ctx<'_>) {
        let Some(link) = &self.aaa else { return };
        link.pending.store(false, Ordering::Release);
        let mut got = Vec::new();
        while let Ok(m) = link.from_thread.try_recv() {
            got.push(m);
        }
        for m in got {
            let now = cx.now;
            let i = match &m {
                ToAgent::Request { agent, .. }
                | ToAgent::Answer { agent, .. }
                | ToAgent::Failed { agent, .. } => *agent,
            };
            let Some(a) = self.agents.get_mut(i) else {
                continue;
            };
            a.counters.aaa_in += 1;
            match (m, &mut a.engine) {
                (ToAgent::Request { req, msg, .. }, Engine::Ha(ha)) => {
                    ha.handle_diameter_request(now, req, msg)
                }
                (ToAgent::Request { req, msg, .. }, _) => {
                    a.counters.aaa_unexpected += 1;
                    let (h, r) = a
                        .cfg
                        .diameter
                        .as_ref()
                        .map(|d| (d.origin_host.as_str(), d.origin_realm.as_str()))
                        .unwrap_or(("", ""));
                    let ans = controlplane::aaa::error_answer(
                        &msg,
                        h,
                        r,
                        result::COMMAND_UNSUPPORTED,
                        None,
                    );
                    if let Some(l) = &self.aaa {
                        l.send(i, AaaOutput::Answer { req, msg: ans });
                    }
                }
                (ToAgent::Answer { token, msg, .. }, Engine::Fa(fa)) => {
                    fa.handle_aaa_answer(now, token, msg)
                }
                (ToAgent::Failed { token, .. }, Engine::Fa(fa)) => {
                    fa.handle_aaa_send_failed(now, token)
                }
                _ => a.counters.aaa_unexpected += 1,
            }
            self.drain(cx, i);
        }
    }

    /// Carries out what agent `i`'s engine asked for, then re-arms its timer.
    fn drain(&mut self, cx: &mut Ctx<'_>, i: usize) {
        loop {
            let o = match &mut self.agents[i].engine {
                Engine::Ha(e) => e.poll_output(),
                Engine::Fa(e) => e.poll_output(),
                Engine::Pcn(e) => e.poll_output(),
            };
            let Some(o) = o else { break };
            match o {
                Output::Send { to, bytes } => self.send(cx, i, to, &bytes),
                Output::Aaa(o) => {
                    let sent = self.aaa.as_ref().is_some_and(|l| l.send(i, o.clone()));
                    let a = &mut self.agents[i];
                    if sent {
                        a.counters.aaa_out += 1;
                    } else {
                        a.counters.aaa_no_peer += 1;
                        if let (AaaOutput::Send { token, .. }, Engine::Fa(fa)) = (&o, &mut a.engine)
                        {
                            fa.handle_aaa_send_failed(cx.now, *token);
                        }
                    }
                }
                Output::Replay { home, since } => {
                    let a = &mut self.agents[i];
                    if let Some(d) = a.replays.replay(i, VrId(a.cfg.vr), home, since, cx.now) {
                        cx.timer_at(TOKEN_REPLAY, d.at);
                        self.replay_due.push(d);
                    }
                }
                Output::Tunnel(ev) => {
                    let a = &self.agents[i];
                    let side = AgentSide {
                        agent: i,
                        vr: VrId(a.cfg.vr),
                        outer_vr: VrId(a.cfg.outer_vr),
                        default_sas: &a.cfg.default_sas,
                    };
                    self.dp.apply(cx.tables(), &side, &ev);
                    self.visitor_route(cx, i, &ev);
                }
            }
        }
        let t = match &self.agents[i].engine {
            Engine::Ha(e) => e.poll_timeout(),
            Engine::Fa(e) => e.poll_timeout(),
            Engine::Pcn(e) => e.poll_timeout(),
        };
        match t {
            Some(t) => cx.timer_at(i as u64 * 2, t),
            None => cx.timer_cancel(i as u64 * 2),
        }
    }

    /// Carries out the replays that are due (see [`replay`]) and re-arms for the rest.
    fn replay_sweep(&mut self, cx: &mut Ctx<'_>) {
        let mut next: Option<Instant> = None;
        for d in std::mem::take(&mut self.replay_due) {
            let Some(a) = self.agents.get_mut(d.agent) else {
                continue;
            };
            if let replay::Swept::Again(d) = d.sweep(cx, &mut a.replays.counters) {
                next = Some(next.map_or(d.at, |n| n.min(d.at)));
                self.replay_due.push(d);
            }
        }
        if let Some(t) = next {
            cx.timer_at(TOKEN_REPLAY, t);
        }
    }

    /// FA, VR transport: the host route of a visitor's home address to its link address
    /// while the visitor has a tunnel (decrypted traffic to the mobile node goes there).
    fn visitor_route(&mut self, cx: &mut Ctx<'_>, i: usize, ev: &controlplane::mip::TunnelEvent) {
        use controlplane::mip::tunnel::TunnelRole;
        use controlplane::mip::TunnelEvent;
        let a = &mut self.agents[i];
        if a.cfg.role != MipRole::ForeignAgent || a.cfg.transport != Transport::Vr {
            return;
        }
        let vr = VrId(a.cfg.vr);
        match ev {
            TunnelEvent::Up(t) if t.role == TunnelRole::ForeignToGw => {
                let home = t.home_address;
                let Some(link) = a.links.get(&home).copied() else {
                    return;
                };
                let Some(src_mac) = self.port_macs.get(link.0 .0 as usize).copied() else {
                    return;
                };
                let Ok(pfx) = Prefix4::new(u32::from(home), 32) else {
                    return;
                };
                let mut nh = NextHop::Forward {
                    port: link.0,
                    vlan: link.1,
                    src_mac,
                    dst_mac: link.2,
                    push: vr::LabelPush::EMPTY,
                };
                if a.cfg.handoff_replay_packets > 0 {
                    nh = a.replays.route_via(
                        cx,
                        &mut self.next_replay_id,
                        &a.cfg.name,
                        vr,
                        home,
                        nh,
                        a.cfg.handoff_replay_packets,
                    );
                }
                if cx
                    .tables()
                    .set_route(vr, IpPrefix::V4(pfx), datapath::SOURCE, nh)
                    .is_ok()
                {
                    a.visitor_routes.insert(home, link);
                } else {
                    a.replays.remove(cx, vr, home);
                }
            }
            TunnelEvent::Down(t) if t.role == TunnelRole::ForeignToGw => {
                let home = t.home_address;
                let still = match &a.engine {
                    Engine::Fa(fa) => fa.visitor(home).is_some(),
                    _ => false,
                };
                if !still && a.visitor_routes.remove(&home).is_some() {
                    if let Ok(pfx) = Prefix4::new(u32::from(home), 32) {
                        let _ = cx
                            .tables()
                            .remove_route(vr, IpPrefix::V4(pfx), datapath::SOURCE);
                    }
                    a.replays.remove(cx, vr, home);
                }
            }
            _ => {}
        }
    }

    fn send(&mut self, cx: &mut Ctx<'_>, i: usize, to: SocketAddrV4, bytes: &[u8]) {
        let a = &mut self.agents[i];
        match a.cfg.transport {
            Transport::Host(_) => {
                let Some(s) = a.sock else {
                    a.counters.tx_errors += 1;
                    return;
                };
                match cx.udp_send(s, SocketAddr::V4(to), bytes) {
                    Ok(()) => a.counters.tx_datagrams += 1,
                    Err(e) => {
                        a.counters.tx_errors += 1;
                        tracing::debug!(agent = %a.cfg.name, %to, "mip: send failed: {e}");
                    }
                }
            }
            Transport::Vr => {
                let src = SocketAddrV4::new(a.cfg.address, MIP_PORT);
                a.counters.tx_datagrams += 1;
                // A visiting mobile node: straight to its link address.
                if let Some((port, vlan, mac)) = a.links.get(to.ip()).copied() {
                    if let Some(src_mac) = self.port_macs.get(port.0 as usize) {
                        let ip = udp_ipv4(src, to, 255, bytes);
                        let f = controlplane::packet::ethernet(
                            mac,
                            *src_mac,
                            vlan,
                            wire::EtherType::Ipv4,
                            &ip,
                        );
                        cx.send_frame(port, f);
                        return;
                    }
                }
                cx.route(VrId(a.cfg.vr), udp_ipv4(src, to, 64, bytes));
            }
        }
    }

    fn advertise(&mut self, cx: &mut Ctx<'_>, i: usize) {
        let a = &mut self.agents[i];
        let Engine::Fa(fa) = &mut a.engine else {
            return;
        };
        let icmp = fa.advertisement(cx.now);
        let ip = controlplane::packet::ipv4(a.cfg.address, ALL_SYSTEMS, IpProtocol::Icmp, 1, &icmp);
        for (port, vlan) in &a.cfg.advertise_on {
            let Some(mac) = self.port_macs.get(*port) else {
                continue;
            };
            let f = controlplane::packet::ethernet(
                [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
                *mac,
                *vlan,
                wire::EtherType::Ipv4,
                &ip,
            );
            cx.send_frame(PortId(*port as u16), f);
            a.counters.adverts += 1;
        }
        cx.timer_at(i as u64 * 2 + 1, cx.now + a.cfg.advertise_interval);
    }

    /// The advertising FAs of the profile (the ones that answer solicitations).
    fn advertising(&self) -> impl Iterator<Item = &Agent> + '_ {
        self.agents.iter().filter(|a| a.advertises())
    }

    /// The VRs where 224.0.0.11 must reach the core (one route per VR).
    fn solicitation_vrs(&self) -> Vec<VrId> {
        let mut v: Vec<VrId> = self.advertising().map(|a| VrId(a.cfg.vr)).collect();
        v.sort_by_key(|v| v.0);
        v.dedup();
        v
    }

    /// An ICMP punt: an Agent Solicitation, answered by each FA of the VR that advertises on
    /// the port and VLAN it came in on (and is the destination, when it was unicast).
    fn solicitation(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>, vr: VrId, ip: &[u8]) {
        let hl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let icmp = match ip.get(hl..total) {
            Some(b) => b,
            None => {
                self.counters.solicitations_malformed += 1;
                return;
            }
        };
        if let Err(e) = advert::check_solicitation(icmp) {
            self.counters.solicitations_malformed += 1;
            tracing::debug!(vr = vr.0, "mip: Agent Solicitation refused: {e}");
            return;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let Some(mac) = p.frame.get(6..12) else {
            self.counters.solicitations_malformed += 1;
            return;
        };
        let mut node = [0u8; 6];
        node.copy_from_slice(mac);
        let here = (usize::from(p.port.0), p.vlan());
        let mut answered = false;
        for i in 0..self.agents.len() {
            let a = &self.agents[i];
            if a.cfg.vr != vr.0
                || !a.advertises()
                || !a.cfg.advertise_on.contains(&here)
                || !(dst == advert::ALL_MOBILITY_AGENTS || dst == a.cfg.address)
            {
                continue;
            }
            answered = true;
            let a = &mut self.agents[i];
            if let Some(t) = a.solicited.get(&here) {
                if cx.now.saturating_duration_since(*t) < SOLICITED_MIN_INTERVAL {
                    a.counters.solicitations_rate_limited += 1;
                    continue;
                }
            }
            let Engine::Fa(fa) = &mut a.engine else {
                continue;
            };
            let Some(port_mac) = self.port_macs.get(here.0) else {
                continue;
            };
            let to = if src.is_unspecified() {
                ALL_SYSTEMS
            } else {
                src
            };
            let icmp = fa.advertisement(cx.now);
            let ip = controlplane::packet::ipv4(a.cfg.address, to, IpProtocol::Icmp, 1, &icmp);
            let f =
                controlplane::packet::ethernet(node, *port_mac, here.1, wire::EtherType::Ipv4, &ip);
            cx.send_frame(p.port, f);
            a.solicited.insert(here, cx.now);
            a.counters.solicitations += 1;
            a.counters.adverts += 1;
        }
        if !answered {
            self.counters.solicitations_not_for_agent += 1;
        }
    }

    fn datagram(&mut self, cx: &mut Ctx<'_>, i: usize, from: SocketAddrV4, data: &[u8]) {
        let now = cx.now;
        let a = &mut self.agents[i];
        a.counters.rx_datagrams += 1;
        match &mut a.engine {
            Engine::Ha(e) => e.handle_datagram(now, from, data),
            Engine::Fa(e) => e.handle_datagram(now, from, data),
            Engine::Pcn(e) => e.handle_datagram(now, from, data),
        }
        self.drain(cx, i);
    }

    /// Summed engine counters, by name (for [`Service::counters`] and the stats line).
    pub fn totals(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for a in &self.agents {
            for (k, v) in agent_counters(a) {
                *m.entry(k).or_insert(0) += v;
            }
        }
        m
    }
}

/// One agent's counters as (name, value): the engine's (accepted, denied, bad
/// authenticator, replayed, expiries, ...) and the driver's.
pub fn agent_counters(a: &Agent) -> Vec<(&'static str, u64)> {
    let d = &a.counters;
    let mut v = match &a.engine {
        Engine::Ha(e) => {
            let c = e.counters();
            vec![
                ("requests", c.rx_requests),
                ("accepted", c.accepted),
                ("denied", c.denied.values().sum()),
                ("bad_authenticator", c.bad_authenticator),
                ("replayed", c.replayed),
                ("expiries", c.lifetime_expiries),
                ("malformed", c.malformed),
                ("tunnel_unsupported", c.tunnel_unsupported),
                ("deregistrations", c.deregistrations),
                ("har", c.rx_har),
                ("bu_sent", c.bu_sent),
                ("ba_received", c.ba_rx),
                ("bu_timeouts", c.bu_timeouts),
                ("bindings", e.binding_count() as u64),
            ]
        }
        Engine::Fa(e) => {
            let c = e.counters();
            vec![
                ("requests", c.rx_requests),
                ("accepted", c.accepted),
                ("denied", c.denied.values().sum()),
                ("bad_authenticator", c.bad_authenticator),
                ("replayed", c.replayed),
                ("expiries", c.lifetime_expiries),
                ("malformed", c.malformed),
                ("tunnel_unsupported", c.tunnel_unsupported),
                // The smooth handoff (Figs. 25–29): registered with the HA directly after
                // an AAAF cache answer; BUs sent as the new FA, taken as the old one.
                ("relayed_to_ha", c.relayed_to_ha),
                ("bu_sent", c.bu_sent),
                ("bu_accepted", c.bu_accepted),
                ("ba_timeouts", c.ba_timeouts),
                ("forward_expiries", c.forward_expiries),
                ("visitors", e.visitors().count() as u64),
            ]
        }
        Engine::Pcn(e) => {
            let c = e.counters();
            vec![
                (
                    "requests",
                    c.accepted + c.denied + c.bad_authenticator + c.replayed,
                ),
                ("accepted", c.accepted),
                ("denied", c.denied),
                ("bad_authenticator", c.bad_authenticator),
                ("replayed", c.replayed),
                ("expiries", c.lifetime_expiries),
                ("malformed", c.malformed),
                ("entries", e.entries().count() as u64),
            ]
        }
    };
    v.extend([
        ("rx_datagrams", d.rx_datagrams),
        ("tx_datagrams", d.tx_datagrams),
        ("tx_errors", d.tx_errors),
        ("adverts", d.adverts),
        ("solicitations", d.solicitations),
        ("solicitations_rate_limited", d.solicitations_rate_limited),
        ("aaa_in", d.aaa_in),
        ("aaa_out", d.aaa_out),
        ("aaa_no_peer", d.aaa_no_peer),
    ]);
    if let Engine::Fa(e) = &a.engine {
        // The smooth handoff's replay (old FA): asked by the engine, carried out here.
        let r = &a.replays.counters;
        v.extend([
            ("handoff_replays", e.counters().handoff_replays),
            ("handoff_replayed_packets", r.replayed),
            ("handoff_replay_older", r.older),
            ("handoff_replay_incomplete", r.incomplete),
            ("handoff_replay_no_ring", r.no_ring),
            ("handoff_replay_hop_errors", r.hop_errors),
            ("handoff_replay_given_up", r.given_up),
        ]);
    }
    v
}

/// Denials of one agent by reply code.
pub fn denied_by_code(a: &Agent) -> BTreeMap<u8, u64> {
    match &a.engine {
        Engine::Ha(e) => e.counters().denied.clone(),
        Engine::Fa(e) => e.counters().denied.clone(),
        Engine::Pcn(_) => BTreeMap::new(),
    }
}

impl Service for MipService {
    fn name(&self) -> &'static str {
        "mip"
    }

    fn interests(&self) -> Vec<Interest> {
        let mut v = Vec::new();
        if self.agents.iter().any(|a| a.cfg.transport == Transport::Vr) {
            v.push(Interest::LocalUdp(MIP_PORT));
        }
        if self.advertising().next().is_some() {
            v.push(Interest::LocalIcmp4(advert::ICMP_ROUTER_SOLICITATION));
        }
        if !EspHold::vrs(&self.agents).is_empty() {
            v.push(Interest::Punt(Punt::EspUnknownSpi));
        }
        v
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        for vr in EspHold::vrs(&self.agents) {
            if let Err(e) = cx.tables().set_esp_hold(vr, true) {
                self.counters.route_errors += 1;
                tracing::error!(%vr, "mip: cannot hold early ESP in the FA's outer VR: {e}");
            }
        }
        for i in 0..self.agents.len() {
            if let Transport::Host(addr) = self.agents[i].cfg.transport {
                match cx.udp_open(addr) {
                    Ok(s) => self.agents[i].sock = Some(s),
                    Err(e) => {
                        self.counters.socket_errors += 1;
                        tracing::error!(agent = %self.agents[i].cfg.name, %addr, "mip: cannot open the host socket: {e}");
                    }
                }
            }
            let a = &self.agents[i];
            if a.advertises() {
                self.advertise(cx, i);
            }
            self.drain(cx, i);
        }
        for vr in self.solicitation_vrs() {
            if let Err(e) = cx.tables().set_route(
                vr,
                IpPrefix::V4(solicitation_group()),
                datapath::SOURCE,
                NextHop::Local,
            ) {
                self.counters.route_errors += 1;
                tracing::error!(vr = vr.0, "mip: cannot route 224.0.0.11 to the agents: {e}");
            }
        }
        if self.aaa.is_some() {
            cx.timer_at(TOKEN_AAA, cx.now + AAA_POLL);
        }
    }

    fn on_punt(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        if p.reason() == Punt::EspUnknownSpi {
            if self.esp_hold.take(cx.now, p) && cx.timer(TOKEN_ESP_HOLD).is_none() {
                cx.timer_at(TOKEN_ESP_HOLD, cx.now + esp_hold::TICK);
            }
            return;
        }
        if let (Some(vr), Some(ip)) = (p.vr(), p.ip()) {
            if ip.len() >= 20 && ip[0] >> 4 == 4 && ip[9] == 1 {
                self.solicitation(cx, p, vr, ip);
                return;
            }
        }
        let (Some(vr), Some(ip), Some(l4)) = (p.vr(), p.ip(), p.l4()) else {
            self.counters.malformed += 1;
            return;
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            self.counters.malformed += 1;
            return;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let Ok(u) = UdpPacket::new_checked(l4) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(i) = self.agents.iter().position(|a| {
            a.cfg.vr == vr.0 && a.cfg.address == dst && a.cfg.transport == Transport::Vr
        }) else {
            self.counters.not_for_agent += 1;
            return;
        };
        let from = SocketAddrV4::new(src, u.src_port());
        if self.agents[i].cfg.role == MipRole::ForeignAgent && p.frame.len() >= 12 {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&p.frame[6..12]);
            // Only requests from mobile nodes come from a link address worth keeping; a
            // handful of agents' own datagrams (BUs) may come from routers: harmless.
            if u.payload().first() == Some(&controlplane::mip::wire::msg_type::REGISTRATION_REQUEST)
            {
                self.agents[i].links.insert(src, (p.port, p.vlan(), mac));
            }
        }
        let data = u.payload().to_vec();
        self.datagram(cx, i, from, &data);
    }

    fn on_datagram(&mut self, cx: &mut Ctx<'_>, sock: SocketId, from: SocketAddr, data: &[u8]) {
        let Some(i) = self.agents.iter().position(|a| a.sock == Some(sock)) else {
            return;
        };
        let SocketAddr::V4(from) = from else {
            self.counters.malformed += 1;
            return;
        };
        self.datagram(cx, i, from, data);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, token: u64) {
        if token == TOKEN_REPLAY {
            self.replay_sweep(cx);
            return;
        }
        if token == TOKEN_ESP_HOLD {
            if let Some(t) = self.esp_hold.tick(cx) {
                cx.timer_at(TOKEN_ESP_HOLD, t);
            }
            return;
        }
        if token == TOKEN_AAA {
            self.poll_aaa(cx);
            cx.timer_at(TOKEN_AAA, cx.now + AAA_POLL);
            return;
        }
        let i = (token / 2) as usize;
        if i >= self.agents.len() {
            return;
        }
        if token % 2 == 1 {
            self.advertise(cx, i);
            return;
        }
        let now = cx.now;
        match &mut self.agents[i].engine {
            Engine::Ha(e) => e.handle_timeout(now),
            Engine::Fa(e) => e.handle_timeout(now),
            Engine::Pcn(e) => e.handle_timeout(now),
        }
        self.drain(cx, i);
    }

    fn stop(&mut self, cx: &mut Ctx<'_>) {
        self.dp.clear(cx.tables());
        for vr in EspHold::vrs(&self.agents) {
            let _ = cx.tables().set_esp_hold(vr, false);
        }
        for vr in self.solicitation_vrs() {
            let _ =
                cx.tables()
                    .remove_route(vr, IpPrefix::V4(solicitation_group()), datapath::SOURCE);
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let t = self.totals();
        let g = |k: &str| t.get(k).copied().unwrap_or(0);
        let dp = self.dp.counters();
        vec![
            ("mip_requests", g("requests")),
            ("mip_accepted", g("accepted")),
            ("mip_denied", g("denied")),
            ("mip_bad_authenticator", g("bad_authenticator")),
            ("mip_replayed", g("replayed")),
            ("mip_expiries", g("expiries")),
            ("mip_malformed", g("malformed") + self.counters.malformed),
            ("mip_tunnel_unsupported", g("tunnel_unsupported")),
            ("mip_not_for_agent", self.counters.not_for_agent),
            ("mip_adverts", g("adverts")),
            ("mip_solicitations", g("solicitations")),
            (
                "mip_solicitations_rate_limited",
                g("solicitations_rate_limited"),
            ),
            (
                "mip_solicitations_malformed",
                self.counters.solicitations_malformed,
            ),
            (
                "mip_solicitations_not_for_agent",
                self.counters.solicitations_not_for_agent,
            ),
            ("mip_route_errors", self.counters.route_errors),
            // ESP that reached an FA before its SA (esp_hold.rs).
            ("mip_esp_held", self.esp_hold.counters.held),
            ("mip_esp_held_released", self.esp_hold.counters.released),
            ("mip_esp_held_expired", self.esp_hold.counters.expired),
            ("mip_esp_hold_full", self.esp_hold.counters.full),
            ("mip_esp_hold_malformed", self.esp_hold.counters.malformed),
            ("mip_tunnels", self.dp.len() as u64),
            ("mip_tunnels_up", dp.tunnels_up),
            ("mip_tunnels_down", dp.tunnels_down),
            ("mip_tunnels_up_ipip", dp.ipip_up),
            ("mip_tunnels_refused_ah", dp.refused_ah),
            ("mip_tunnels_refused_keys", dp.refused_keys),
            ("mip_tunnels_refused_conflict", dp.refused_conflict),
            ("mip_writer_errors", dp.writer_errors),
        ]
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The live stats line of the agents.
pub fn stats_line(s: &MipService) -> String {
    let mut parts = Vec::new();
    for a in s.agents() {
        let c: BTreeMap<&str, u64> = agent_counters(a).into_iter().collect();
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        let held = match &a.engine {
            Engine::Ha(_) => format!("{} bindings", g("bindings")),
            Engine::Fa(_) => format!("{} visitors", g("visitors")),
            Engine::Pcn(_) => format!("{} entries", g("entries")),
        };
        parts.push(format!(
            "{} ({}): {held}, accepted {} denied {} bad auth {} replayed {} expiries {}",
            a.cfg.name,
            a.cfg.role.name(),
            g("accepted"),
            g("denied"),
            g("bad_authenticator"),
            g("replayed"),
            g("expiries"),
        ));
    }
    format!(
        "mobile ip: {} | {} tunnels",
        parts.join(" | "),
        s.datapath().len()
    )
}
