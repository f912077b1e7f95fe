//! The agents' tunnels in the data plane: each [`TunnelEvent`] of an engine becomes ESP SAs
//! (the same [`EspTunnel`]s as the profile's `esp:` SAs) or IP-in-IP tunnels
//! ([`IpIpTunnel`], RFC 2003) and a route of the agent's VR through the incremental state
//! writer, and goes again on `Down` (deregistration, expiry, handoff).
//!
//! - **Which tunnels**: ESP and IP-in-IP (plain Mobile IP without a VPN profile, and the
//!   profiles of security type "encapsulation only"). The data plane has no AH, so
//!   [`supported`] refuses it: the engines ask it before they accept a registration (HA
//!   129, FA 65, counted `tunnel_unsupported`).
//! - **IP-in-IP**: one outbound tunnel per (agent's VR, local, remote, DSCP mark), shared by
//!   reference count by the mobile nodes behind one care-of address (its id is allocated
//!   here, the first free one of the VR), and one inbound tunnel per (outer VR, remote): the
//!   packets the remote end encapsulates to the agent's address (reverse tunnelling) are
//!   decapsulated into the agent's VR. An inbound tunnel of that remote in that outer VR
//!   that decapsulates into another VR or to another local address is a conflict: not
//!   installed, counted. Marking, routes and source selectors as for ESP below.
//! - **SAs**: outbound under [`EspSaId`] = the outbound SPI in the agent's VR, inbound
//!   under its SPI in the agent's outer VR (the state keys SAs per VR, so two agents in two
//!   VRs of one appliance — FA1 and FA2 — may both hold the SLA's default SA). The
//!   "up" keys (mobile node → CN) are the outbound keys of the FA's tunnel to the gateway
//!   and of the HA's to the static gateway; the HA's tunnel to the care-of address, the
//!   PCN's and a handoff tunnel send "down". A 16-byte key is AES-GCM-128, a
//!   32-byte one AES-GCM-256; the 4-byte GCM salt is the first four bytes of
//!   SHA-256("varouter mip esp salt" || key) — both ends derive it from the key the AAA
//!   gave them. A profile on the SLA's default SA carries no keys: its SA must be in the
//!   agent's `default_sas` (by SPI), else the tunnel is not installed (counted, logged).
//! - **Marking** (seed S204, Fig. 23): a profile TOS ≠ 0 marks the inner packet with its
//!   DSCP before encapsulation; the outer header always copies the inner DSCP (and ECN).
//! - **Routes** (source `subscriber`: a mobile node's routes are those of a session of the
//!   mobile VPN): the FA's tunnel to the gateway and the HA's to the static gateway route
//!   the profile's destination network into the SA; the HA's tunnel to the care-of
//!   address, the PCN's and an old FA's forwarding tunnel route the mobile node's home
//!   address /32; the FA's plain IP-in-IP tunnel to the HA (a user without a VPN
//!   profile) routes nothing: it is there to decapsulate what the HA sends (reverse
//!   tunnelling would need routing by source). Several tunnels may want one prefix: when
//!   they all send into one SA or tunnel (users on the SLA's default SA) or none of them
//!   names a source, the route is the plain next hop of the latest (falling back to the
//!   others as they go); when several users' tunnels on different SAs want it, the route
//!   selects by source ([`NextHop::BySource`], [`vr::srcsel`]): each tunnel's source (the
//!   profile's source selector, else the home address /32; the PCN's: the VPN's
//!   destination network) into its own SA or tunnel, so each user's packets enter that
//!   user's SA (SPI, keys, DSCP class) and a host that is none of them is dropped on the
//!   worker (`source_route_no_match`). Among equal sources (two profiles of one user) the
//!   latest tunnel wins. When one user is left, the route is plain again.
//! - SAs are shared by reference count (profiles on one default SA) within one VR; an SA id
//!   or SPI that the profile's own `esp:` SAs of that VR (or another agent of the VR with
//!   other keys) already use is a conflict: not installed, counted.
//!
//! - **Source selectors** (seed 003: "traffic of users the enterprise did not authorise never
//!   enters a tunnel"): the outbound SA of an upward tunnel (FA → gateway, HA → static
//!   gateway) carries a [`SourceSelector`] naming the mobile nodes it serves (the profile's
//!   source selector, else the home address /32); another host of the VR that sends to the
//!   profile's destination is dropped on the worker (`esp_source_not_allowed`) instead of
//!   entering the tunnel. Each SA's selector names its own tunnels' sources only (routes
//!   shared by users on different SAs select by source, above, so no other user's traffic
//!   is routed into it). An SA shared by several mobile nodes (the SLA's default SA) takes
//!   all of them, and the selector is republished (same SA, sequence numbers go on) as they
//!   come and go. The PCN's SA toward the mobile node takes the profile's destination
//!   network (the CNs of the VPN: after a service update moved the VPN to another
//!   network, the old one's hosts are dropped there); the HA's and the old FA's SAs toward
//!   the mobile node take any source.
//!
//! Not here: UDP encapsulation of the SAs.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use controlplane::mip::tunnel::TunnelRole;
use controlplane::mip::{TunnelEvent, TunnelKind, TunnelSpec};
use sha2::{Digest, Sha256};
use vr::{
    EspSaId, EspTunnel, InboundKey, IpIpId, IpIpInboundKey, IpIpKey, IpIpTunnel, IpPrefix, NextHop,
    OutboundKey, Prefix4, RouteSource, SourceRouteId, SourceRouteKey, SourceRoutes, SourceSelector,
    StateWriter, VrId,
};

use super::DefaultSa;

/// The data plane carries ESP and IP-in-IP tunnels, not AH (see the module docs).
pub fn supported(t: &TunnelSpec) -> Result<(), &'static str> {
    match &t.kind {
        TunnelKind::Esp { ah: true, .. } => Err(
            "the profile asks for AH; the data plane has no AH (ESP and IP-in-IP profiles are served)",
        ),
        TunnelKind::IpInIp | TunnelKind::Esp { .. } => Ok(()),
    }
}

/// What a tunnel's route sends into: an outbound ESP SA (by SPI) or an outbound IP-in-IP
/// tunnel (by id), both of the agent's VR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TunnelOut {
    /// ESP SA with this outbound SPI (= [`EspSaId`]).
    Esp(u32),
    /// IP-in-IP tunnel with this [`IpIpId`].
    IpIp(u32),
}

impl TunnelOut {
    /// The next hop of routes into it.
    pub fn next_hop(self) -> NextHop {
        match self {
            TunnelOut::Esp(s) => NextHop::Esp(EspSaId(s)),
            TunnelOut::IpIp(i) => NextHop::IpIp(IpIpId(i)),
        }
    }
}

/// The route source of the agents' routes.
pub const SOURCE: RouteSource = RouteSource::Subscriber;

/// A tunnel as listed (`GET /api/v1/mobile/tunnels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledTunnel {
    /// The spec the engine gave.
    pub spec: TunnelSpec,
    /// What its route sends into.
    pub out: TunnelOut,
    /// Outbound SA id (= SPI); 0 for IP-in-IP.
    pub out_spi: u32,
    /// Inbound SPI; 0 for IP-in-IP.
    pub in_spi: u32,
    /// The VR its outer packets are routed in and arrive in (which keys the inbound SA).
    pub outer_vr: VrId,
    /// Cipher name (`none` for IP-in-IP).
    pub cipher: &'static str,
    /// The routed prefix.
    pub prefix: (Ipv4Addr, u8),
    /// Whether `prefix` is routed into it: not for the plain IP-in-IP tunnel FA → HA of a
    /// user without a VPN profile (reverse tunnelling would need routing by source; the
    /// tunnel is there for what the HA sends the FA, decapsulated into the FA's VR).
    pub routed: bool,
    /// DSCP marked on the inner packet (None: copied only).
    pub dscp: Option<u8>,
}

impl InstalledTunnel {
    /// The sources it takes: its entry in a source-selected route and its share of its
    /// outbound SA's selector (`None`: any source).
    pub fn source(&self) -> Option<(Ipv4Addr, u8)> {
        source_of(&self.spec)
    }
}

/// Counters of the data-plane side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatapathCounters {
    /// Tunnels installed (Up events that became SAs and a route).
    pub tunnels_up: u64,
    /// Tunnels removed.
    pub tunnels_down: u64,
    /// IP-in-IP tunnels installed (of `tunnels_up`).
    pub ipip_up: u64,
    /// Up events refused: AH.
    pub refused_ah: u64,
    /// Up events refused: no usable keys (wrong length, default SA not provisioned).
    pub refused_keys: u64,
    /// Up events refused: SA id or SPI taken by another SA with other keys, or an inbound
    /// IP-in-IP tunnel from the same remote into another VR or local address.
    pub refused_conflict: u64,
    /// State writer errors (a VR gone, a table full).
    pub writer_errors: u64,
}

/// Identity of a tunnel: agent, home address, role, remote end, selectors.
type Key = (
    usize,
    Ipv4Addr,
    TunnelRole,
    Ipv4Addr,
    Option<(u32, u8)>,
    Option<(u32, u8)>,
);

fn key(agent: usize, t: &TunnelSpec) -> Key {
    let sel = |a: &Option<vpndb::model::AddrMask>| a.map(|m| (u32::from(m.addr()), m.prefix_len()));
    (
        agent,
        t.home_address,
        t.role,
        t.remote,
        sel(&t.src),
        sel(&t.dst),
    )
}

/// An outbound (or ESP inbound) tunnel entry of the state.
#[derive(Clone)]
enum Tun {
    Esp(Arc<EspTunnel>),
    IpIp(Arc<IpIpTunnel>),
}

impl Tun {
    fn remote(&self) -> IpAddr {
        match self {
            Tun::Esp(t) => t.remote,
            Tun::IpIp(t) => IpAddr::V4(t.remote),
        }
    }

    fn sources(&self) -> &Option<Arc<SourceSelector>> {
        match self {
            Tun::Esp(t) => &t.sources,
            Tun::IpIp(t) => &t.sources,
        }
    }
}

struct SaRef {
    tunnel: Tun,
    /// ESP: the keying material (IP-in-IP: empty).
    keymat: Vec<u8>,
    refs: usize,
    /// Outbound: the sources its upward tunnels take (a mobile node's home address or the
    /// profile's source selector), with how many tunnels name each.
    sources: BTreeMap<(Ipv4Addr, u8), usize>,
    /// Outbound: tunnels into it that take any source (those toward a mobile node).
    any_source: usize,
}

impl SaRef {
    fn new(tunnel: Tun, keymat: Vec<u8>) -> Self {
        SaRef {
            tunnel,
            keymat,
            refs: 0,
            sources: BTreeMap::new(),
            any_source: 0,
        }
    }
}

/// A tunnel that wants a routed prefix: what it sends into and the source it takes.
type RouteUser = (TunnelOut, Option<(Ipv4Addr, u8)>);

/// An inbound IP-in-IP tunnel: how many tunnels use it, the VR it decapsulates into, the
/// local address it takes.
struct IpIpIn {
    refs: usize,
    vr: VrId,
    local: Ipv4Addr,
}

/// What a tunnel lets into its outbound SA (seed 003: "traffic of users the enterprise did
/// not authorise never enters a tunnel"): an upward tunnel the profile's source selector,
/// else the mobile node's home address; the PCN's tunnel toward the mobile node the
/// profile's destination network, the correspondent nodes the VPN names (after a service
/// update moved the VPN, the old network's hosts no longer reach the mobile node). `None`
/// (any source) for the HA's and the old FA's tunnels toward the mobile node.
fn source_of(t: &TunnelSpec) -> Option<(Ipv4Addr, u8)> {
    match t.role {
        TunnelRole::ForeignToGw | TunnelRole::HomeToGw => Some(
            t.src
                .map(|m| (m.addr(), m.prefix_len()))
                .unwrap_or((t.home_address, 32)),
        ),
        TunnelRole::PcnToForeign => t.dst.map(|m| (m.addr(), m.prefix_len())),
        TunnelRole::HomeToCareOf | TunnelRole::Handoff | TunnelRole::HandoffReceive => None,
    }
}

/// The agents' tunnels in the forwarding state.
#[derive(Default)]
pub struct Datapath {
    workers: usize,
    tunnels: HashMap<Key, (VrId, InstalledTunnel)>,
    /// Outbound SAs and IP-in-IP tunnels by (agent's VR, SPI or id).
    out: HashMap<(VrId, TunnelOut), SaRef>,
    /// Inbound SAs by (agent's outer VR, SPI).
    inb: HashMap<(VrId, u32), SaRef>,
    /// Outbound IP-in-IP ids by (agent's VR, local, remote, DSCP mark).
    ipip_ids: HashMap<(VrId, Ipv4Addr, Ipv4Addr, Option<u8>), u32>,
    /// Inbound IP-in-IP tunnels by (outer VR, remote).
    ipip_in: HashMap<(VrId, Ipv4Addr), IpIpIn>,
    /// Per routed prefix: the tunnels that want it (what they send into, source they
    /// take), oldest first ([`Datapath::publish_route`] makes the route of them).
    routes: HashMap<(VrId, Prefix4), Vec<RouteUser>>,
    /// Per routed prefix whose route selects by source: the id of its source selection.
    selections: HashMap<(VrId, Prefix4), u32>,
    counters: DatapathCounters,
}

/// What an agent gives the data plane besides the event.
pub struct AgentSide<'a> {
    /// Index of the agent.
    pub agent: usize,
    /// Its VR.
    pub vr: VrId,
    /// The VR of the outer packets.
    pub outer_vr: VrId,
    /// Its pre-provisioned SAs.
    pub default_sas: &'a [DefaultSa],
}

/// The keying material and cipher of an SA with `key` from the AAA (or, without one, the
/// default SA of `spi`).
fn keymat(spi: u32, key: &[u8], defaults: &[DefaultSa]) -> Result<(esp::Cipher, Vec<u8>), String> {
    let cipher = match key.len() {
        0 => {
            return defaults
                .iter()
                .find(|d| d.spi == spi)
                .map(|d| (d.cipher, d.keymat.clone()))
                .ok_or_else(|| {
                    format!(
                        "SPI {spi} is the SLA's default SA (no keys from the AAA) and is not in the agent's default_sas"
                    )
                })
        }
        16 => esp::Cipher::AesGcm128,
        32 => esp::Cipher::AesGcm256,
        n => {
            return Err(format!(
                "SPI {spi}: a {n}-byte ESP key from the AAA; expected 16 (AES-GCM-128) or 32 (AES-GCM-256)"
            ))
        }
    };
    let mut h = Sha256::new();
    h.update(b"varouter mip esp salt");
    h.update(key);
    let salt = h.finalize();
    let mut m = key.to_vec();
    m.extend_from_slice(&salt[..4]);
    Ok((cipher, m))
}

fn prefix_of(a: Ipv4Addr, len: u8) -> Option<Prefix4> {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    Prefix4::new(u32::from(a) & m, len).ok()
}

impl Datapath {
    /// The data plane of an appliance with `workers` workers.
    pub fn new(workers: usize) -> Self {
        Datapath {
            workers: workers.max(1),
            ..Datapath::default()
        }
    }

    /// The counters.
    pub fn counters(&self) -> &DatapathCounters {
        &self.counters
    }

    /// The installed tunnels of agent `agent`.
    pub fn tunnels(&self, agent: usize) -> impl Iterator<Item = &InstalledTunnel> + '_ {
        self.tunnels
            .iter()
            .filter(move |(k, _)| k.0 == agent)
            .map(|(_, (_, t))| t)
    }

    /// Number of installed tunnels.
    pub fn len(&self) -> usize {
        self.tunnels.len()
    }

    /// Whether no tunnel is installed.
    pub fn is_empty(&self) -> bool {
        self.tunnels.is_empty()
    }

    /// Applies one event of agent `a`.
    pub fn apply(&mut self, w: &mut StateWriter, a: &AgentSide<'_>, ev: &TunnelEvent) {
        match ev {
            TunnelEvent::Up(t) => {
                // "Up replaces the one with the same home address, role and remote."
                let k = key(a.agent, t);
                if self.tunnels.contains_key(&k) {
                    self.remove(w, &k);
                }
                if let Err(e) = self.install(w, a, t, k) {
                    tracing::warn!(home = %t.home_address, remote = %t.remote, "mip: tunnel not installed: {e}");
                }
            }
            TunnelEvent::Down(t) => {
                let k = key(a.agent, t);
                if self.tunnels.contains_key(&k) {
                    self.remove(w, &k);
                }
            }
        }
    }

    fn install(
        &mut self,
        w: &mut StateWriter,
        a: &AgentSide<'_>,
        t: &TunnelSpec,
        k: Key,
    ) -> Result<(), String> {
        if let TunnelKind::Esp { ah: true, .. } = &t.kind {
            self.counters.refused_ah += 1;
            return Err("AH: the data plane has no AH".into());
        }
        let (pa, plen) = match t.role {
            TunnelRole::ForeignToGw | TunnelRole::HomeToGw => t
                .dst
                .map(|d| (d.addr(), d.prefix_len()))
                .unwrap_or((t.home_address, 32)),
            _ => (t.home_address, 32),
        };
        let Some(prefix) = prefix_of(pa, plen) else {
            return Err(format!("{pa}/{plen} is not a prefix"));
        };
        let upward = matches!(t.role, TunnelRole::ForeignToGw | TunnelRole::HomeToGw);
        // The new FA's end of a handoff's forwarding tunnel only takes packets in.
        let routed = !(t.kind == TunnelKind::IpInIp && upward && t.dst.is_none())
            && t.role != TunnelRole::HandoffReceive;
        let dscp = (t.tos != 0).then_some(t.tos >> 2);
        let name = format!(
            "mip-{}-{}-{}",
            t.home_address,
            match t.role {
                TunnelRole::HomeToCareOf => "ha",
                TunnelRole::HomeToGw => "ha-gw",
                TunnelRole::ForeignToGw => "fa",
                TunnelRole::PcnToForeign => "pcn",
                TunnelRole::Handoff => "handoff",
                TunnelRole::HandoffReceive => "handoff-in",
            },
            t.remote
        );
        let (out, in_spi, cipher) = match &t.kind {
            TunnelKind::Esp {
                out_spi,
                in_spi,
                keys,
                ..
            } => {
                let c = self.install_esp(w, a, t, (*out_spi, *in_spi, keys), dscp, &name)?;
                (TunnelOut::Esp(*out_spi), *in_spi, c)
            }
            TunnelKind::IpInIp => {
                let id = self.install_ipip(w, a, t, dscp, &name)?;
                (TunnelOut::IpIp(id), 0, "none")
            }
        };
        let out_k = (a.vr, out);
        if let Some(r) = self.out.get_mut(&out_k) {
            r.refs += 1;
            match source_of(t) {
                Some(s) => *r.sources.entry(s).or_default() += 1,
                None => r.any_source += 1,
            }
        }
        match out {
            TunnelOut::Esp(_) => {
                if let Some(r) = self.inb.get_mut(&(a.outer_vr, in_spi)) {
                    r.refs += 1;
                }
            }
            TunnelOut::IpIp(_) => {
                if let Some(r) = self.ipip_in.get_mut(&(a.outer_vr, t.remote)) {
                    r.refs += 1;
                }
                self.counters.ipip_up += 1;
            }
        }
        self.republish_selector(w, out_k);
        if routed {
            let group = (a.vr, prefix);
            self.routes
                .entry(group)
                .or_default()
                .push((out, source_of(t)));
            self.publish_route(w, group);
        }
        self.counters.tunnels_up += 1;
        let out_spi = match out {
            TunnelOut::Esp(s) => s,
            TunnelOut::IpIp(_) => 0,
        };
        self.tunnels.insert(
            k,
            (
                a.vr,
                InstalledTunnel {
                    spec: t.clone(),
                    out,
                    out_spi,
                    in_spi,
                    outer_vr: a.outer_vr,
                    cipher,
                    prefix: (pa, plen),
                    routed,
                    dscp,
                },
            ),
        );
        Ok(())
    }

    /// The SAs of an ESP tunnel: installs those not there yet (nothing when it fails).
    /// Returns the cipher's name.
    fn install_esp(
        &mut self,
        w: &mut StateWriter,
        a: &AgentSide<'_>,
        t: &TunnelSpec,
        (out_spi, in_spi, keys): (u32, u32, &vpndb::model::SaKeys),
        dscp: Option<u8>,
        name: &str,
    ) -> Result<&'static str, String> {
        // Keys: the MN's side of the tunnel sends "up" (the new FA's end of a handoff's
        // forwarding tunnel is on the MN's side of the old FA).
        let upward = matches!(
            t.role,
            TunnelRole::ForeignToGw | TunnelRole::HomeToGw | TunnelRole::HandoffReceive
        );
        let (out_key, in_key) = if upward {
            (keys.up_enc.as_bytes(), keys.down_enc.as_bytes())
        } else {
            (keys.down_enc.as_bytes(), keys.up_enc.as_bytes())
        };
        let out = keymat(out_spi, out_key, a.default_sas);
        let inb = keymat(in_spi, in_key, a.default_sas);
        let ((oc, om), (ic, im)) = match (out, inb) {
            (Ok(o), Ok(i)) => (o, i),
            (Err(e), _) | (_, Err(e)) => {
                self.counters.refused_keys += 1;
                return Err(e);
            }
        };
        let mk = |spi: u32, c: esp::Cipher, m: &[u8], dscp: Option<u8>, dir: &str| {
            esp::Sa::new(&esp::SaParams::new(spi, c, m.to_vec()), self.workers)
                .map(|sa| {
                    Arc::new(EspTunnel {
                        name: format!("{name}-{dir}").into(),
                        sa: Arc::new(sa),
                        vr: a.vr,
                        outer_vr: a.outer_vr,
                        local: IpAddr::V4(t.local),
                        remote: IpAddr::V4(t.remote),
                        udp: None,
                        dscp,
                        sources: None,
                    })
                })
                .map_err(|e| format!("SPI {spi}: {e}"))
        };
        // Conflicts first, before anything changes.
        // Per VR, as the state keys them: the outbound SA in the agent's VR, the inbound
        // one in the VR its ESP arrives in.
        let (out_k, in_k) = ((a.vr, TunnelOut::Esp(out_spi)), (a.outer_vr, in_spi));
        let conflict = |r: Option<&SaRef>, m: &[u8], theirs: bool| match r {
            Some(r) => r.keymat != m || r.tunnel.remote() != IpAddr::V4(t.remote),
            None => theirs,
        };
        let out_taken = w
            .esp_outbound(OutboundKey::new(a.vr, EspSaId(out_spi)))
            .is_some();
        let in_taken = w.esp_inbound(InboundKey::new(a.outer_vr, in_spi)).is_some();
        if conflict(self.out.get(&out_k), &om, out_taken)
            || conflict(self.inb.get(&in_k), &im, in_taken)
        {
            self.counters.refused_conflict += 1;
            return Err(format!(
                "SPI {out_spi} (out) or {in_spi} (in) is used by another SA"
            ));
        }
        if !self.out.contains_key(&out_k) {
            let tun = mk(out_spi, oc, &om, dscp, "out")
                .inspect_err(|_| self.counters.refused_keys += 1)?;
            if let Err(e) = w.set_esp_outbound(EspSaId(out_spi), tun.clone()) {
                self.counters.writer_errors += 1;
                return Err(e.to_string());
            }
            self.out
                .insert(out_k, SaRef::new(Tun::Esp(tun), om.clone()));
        }
        if !self.inb.contains_key(&in_k) {
            let tun = match mk(in_spi, ic, &im, None, "in") {
                Ok(t) => t,
                Err(e) => {
                    self.counters.refused_keys += 1;
                    self.release_out(w, out_k);
                    return Err(e);
                }
            };
            if let Err(e) = w.set_esp_inbound(tun.clone()) {
                self.counters.writer_errors += 1;
                self.release_out(w, out_k);
                return Err(e.to_string());
            }
            self.inb.insert(in_k, SaRef::new(Tun::Esp(tun), im.clone()));
        }
        Ok(oc.name())
    }

    /// The outbound and inbound entries of an IP-in-IP tunnel: installs those not there yet
    /// (nothing when it fails). Returns the outbound id.
    fn install_ipip(
        &mut self,
        w: &mut StateWriter,
        a: &AgentSide<'_>,
        t: &TunnelSpec,
        dscp: Option<u8>,
        name: &str,
    ) -> Result<u32, String> {
        // Conflicts first: the inbound key (outer VR, remote) names one VR and one local
        // address.
        let in_k = (a.outer_vr, t.remote);
        let in_conflict = match self.ipip_in.get(&in_k) {
            Some(i) => i.vr != a.vr || i.local != t.local,
            None => w
                .ipip_inbound(IpIpInboundKey::new(a.outer_vr, t.remote))
                .is_some(),
        };
        if in_conflict {
            self.counters.refused_conflict += 1;
            return Err(format!(
                "IP-in-IP from {} in {} already decapsulates into another VR or to another address",
                t.remote, a.outer_vr
            ));
        }
        let id_k = (a.vr, t.local, t.remote, dscp);
        let tunnel = |dir: &str| IpIpTunnel {
            name: format!("{name}-{dir}").into(),
            vr: a.vr,
            outer_vr: a.outer_vr,
            local: t.local,
            remote: t.remote,
            dscp,
            sources: None,
        };
        let id = match self.ipip_ids.get(&id_k) {
            Some(id) => *id,
            None => {
                // The first id of the VR that nothing (ours or another's) uses.
                let mut id = 1u32;
                while self.out.contains_key(&(a.vr, TunnelOut::IpIp(id)))
                    || w.ipip_outbound(IpIpKey::new(a.vr, IpIpId(id))).is_some()
                {
                    id += 1;
                }
                let tun = Arc::new(tunnel("out"));
                if let Err(e) = w.set_ipip_outbound(IpIpId(id), tun.clone()) {
                    self.counters.writer_errors += 1;
                    return Err(e.to_string());
                }
                self.ipip_ids.insert(id_k, id);
                self.out.insert(
                    (a.vr, TunnelOut::IpIp(id)),
                    SaRef::new(Tun::IpIp(tun), Vec::new()),
                );
                id
            }
        };
        if !self.ipip_in.contains_key(&in_k) {
            if let Err(e) = w.set_ipip_inbound(Arc::new(tunnel("in"))) {
                self.counters.writer_errors += 1;
                self.release_out(w, (a.vr, TunnelOut::IpIp(id)));
                return Err(e.to_string());
            }
            self.ipip_in.insert(
                in_k,
                IpIpIn {
                    refs: 0,
                    vr: a.vr,
                    local: t.local,
                },
            );
        }
        Ok(id)
    }

    /// Makes the route of `group` what its tunnels want (the route the data plane reads):
    ///
    /// - none left: no route (and no source selection);
    /// - all of them send into one SA or tunnel (one user, or users sharing the SLA's
    ///   default SA), or none of them names a source (tunnels toward a mobile node): the
    ///   plain next hop of the newest — what a single user costs today;
    /// - else (several users' tunnels toward one network, on different SAs): a source
    ///   selection, each tunnel's source (any source: 0.0.0.0/0) into its own SA or
    ///   tunnel, the most specific source first and among equal ones the newest tunnel, so
    ///   each user's packets enter that user's SA and a host that is none of the users is
    ///   dropped (`source_route_no_match`).
    fn publish_route(&mut self, w: &mut StateWriter, group: (VrId, Prefix4)) {
        let (vr, prefix) = group;
        let users = self.routes.get(&group).map(Vec::as_slice).unwrap_or(&[]);
        let Some(&(newest, _)) = users.last() else {
            self.routes.remove(&group);
            if w.remove_route(vr, IpPrefix::V4(prefix), SOURCE).is_err() {
                self.counters.writer_errors += 1;
            }
            self.drop_selection(w, group);
            return;
        };
        let by_source = users.iter().any(|u| u.0 != newest) && users.iter().any(|u| u.1.is_some());
        let nh = if by_source {
            let entries: Vec<_> = users
                .iter()
                .rev()
                .map(|&(out, src)| {
                    let (a, l) = src.unwrap_or((Ipv4Addr::UNSPECIFIED, 0));
                    ((IpAddr::V4(a), l), out.next_hop())
                })
                .collect();
            let name = format!("mip-{}", IpPrefix::V4(prefix));
            let sel = SourceRoutes::new(name, vr, entries);
            let id = match self.selections.get(&group) {
                Some(id) => *id,
                // The first id of the VR that nothing (ours or another's) uses.
                None => {
                    let mut id = 1u32;
                    while w
                        .source_routes(SourceRouteKey::new(vr, SourceRouteId(id)))
                        .is_some()
                    {
                        id += 1;
                    }
                    id
                }
            };
            let k = SourceRouteKey::new(vr, SourceRouteId(id));
            if w.source_routes(k).is_none_or(|s| **s != sel) {
                if let Err(e) = w.set_source_routes(SourceRouteId(id), Arc::new(sel)) {
                    self.counters.writer_errors += 1;
                    tracing::warn!("mip: source selection of {prefix} in {vr} not set: {e}");
                    return;
                }
            }
            self.selections.insert(group, id);
            NextHop::BySource(SourceRouteId(id))
        } else {
            newest.next_hop()
        };
        if w.route(vr, IpPrefix::V4(prefix), SOURCE) != Some(nh) {
            if let Err(e) = w.set_route(vr, IpPrefix::V4(prefix), SOURCE, nh) {
                self.counters.writer_errors += 1;
                tracing::warn!("mip: route {prefix} in {vr} not set: {e}");
            }
        }
        if !by_source {
            self.drop_selection(w, group);
        }
    }

    /// Removes the source selection of `group`, if it has one (its route no longer names it).
    fn drop_selection(&mut self, w: &mut StateWriter, group: (VrId, Prefix4)) {
        if let Some(id) = self.selections.remove(&group) {
            if w.remove_source_routes(SourceRouteKey::new(group.0, SourceRouteId(id)))
                .is_err()
            {
                self.counters.writer_errors += 1;
            }
        }
    }

    /// The source selector of outbound SA or tunnel `k`: the sources of its own tunnels,
    /// nothing else (a route several users' tunnels share selects by source, so no other
    /// user's traffic is routed into it). `None` (any source) when one of them is a tunnel
    /// toward a mobile node.
    fn selector(&self, k: (VrId, TunnelOut)) -> Option<Arc<SourceSelector>> {
        let r = self.out.get(&k)?;
        if r.any_source > 0 {
            return None;
        }
        Some(Arc::new(SourceSelector::new(
            r.sources.keys().map(|&(a, l)| (IpAddr::V4(a), l)),
        )))
    }

    /// Publishes outbound SA or tunnel `k` again when its users' sources changed (same
    /// [`esp::Sa`]: sequence numbers and counters go on; routes naming the id are
    /// untouched).
    fn republish_selector(&mut self, w: &mut StateWriter, k: (VrId, TunnelOut)) {
        let sel = self.selector(k);
        let Some(r) = self.out.get_mut(&k) else {
            return;
        };
        if *r.tunnel.sources() == sel {
            return;
        }
        let (tun, res) = match (&r.tunnel, k.1) {
            (Tun::Esp(t), TunnelOut::Esp(spi)) => {
                let t = Arc::new(EspTunnel {
                    sources: sel,
                    ..(**t).clone()
                });
                let res = w.set_esp_outbound(EspSaId(spi), t.clone());
                (Tun::Esp(t), res)
            }
            (Tun::IpIp(t), TunnelOut::IpIp(id)) => {
                let t = Arc::new(IpIpTunnel {
                    sources: sel,
                    ..(**t).clone()
                });
                let res = w.set_ipip_outbound(IpIpId(id), t.clone());
                (Tun::IpIp(t), res)
            }
            // Entries are made with the kind of their key.
            _ => return,
        };
        match res {
            Ok(_) => r.tunnel = tun,
            Err(e) => {
                self.counters.writer_errors += 1;
                tracing::warn!(
                    "mip: outbound {:?} of {}: source selector not updated: {e}",
                    k.1,
                    k.0
                );
            }
        }
    }

    /// Removes outbound SA or tunnel `k` from the state.
    fn drop_out(&mut self, w: &mut StateWriter, k: (VrId, TunnelOut)) -> bool {
        self.out.remove(&k);
        match k.1 {
            TunnelOut::Esp(spi) => w
                .remove_esp_outbound(OutboundKey::new(k.0, EspSaId(spi)))
                .is_ok(),
            TunnelOut::IpIp(id) => {
                self.ipip_ids.retain(|key, v| !(key.0 == k.0 && *v == id));
                w.remove_ipip_outbound(IpIpKey::new(k.0, IpIpId(id)))
                    .is_ok()
            }
        }
    }

    fn release_out(&mut self, w: &mut StateWriter, k: (VrId, TunnelOut)) {
        if self.out.get(&k).is_some_and(|r| r.refs == 0) {
            self.drop_out(w, k);
        }
    }

    fn remove(&mut self, w: &mut StateWriter, k: &Key) {
        let Some((vr, t)) = self.tunnels.remove(k) else {
            return;
        };
        self.counters.tunnels_down += 1;
        if let Some(prefix) = prefix_of(t.prefix.0, t.prefix.1).filter(|_| t.routed) {
            let group = (vr, prefix);
            if let Some(users) = self.routes.get_mut(&group) {
                let src = source_of(&t.spec);
                if let Some(i) = users.iter().rposition(|u| *u == (t.out, src)) {
                    users.remove(i);
                }
                self.publish_route(w, group);
            }
        }
        let out_k = (vr, t.out);
        if let Some(r) = self.out.get_mut(&out_k) {
            r.refs = r.refs.saturating_sub(1);
            match source_of(&t.spec) {
                Some(s) => {
                    if let Some(n) = r.sources.get_mut(&s) {
                        *n -= 1;
                        if *n == 0 {
                            r.sources.remove(&s);
                        }
                    }
                }
                None => r.any_source = r.any_source.saturating_sub(1),
            }
            if r.refs > 0 {
                self.republish_selector(w, out_k);
            } else if !self.drop_out(w, out_k) {
                self.counters.writer_errors += 1;
            }
        }
        match t.out {
            TunnelOut::Esp(_) => {
                let in_k = (t.outer_vr, t.in_spi);
                if let Some(r) = self.inb.get_mut(&in_k) {
                    r.refs = r.refs.saturating_sub(1);
                    if r.refs == 0 {
                        self.inb.remove(&in_k);
                        if w.remove_esp_inbound(InboundKey::new(t.outer_vr, t.in_spi))
                            .is_err()
                        {
                            self.counters.writer_errors += 1;
                        }
                    }
                }
            }
            TunnelOut::IpIp(_) => {
                let in_k = (t.outer_vr, t.spec.remote);
                if let Some(r) = self.ipip_in.get_mut(&in_k) {
                    r.refs = r.refs.saturating_sub(1);
                    if r.refs == 0 {
                        self.ipip_in.remove(&in_k);
                        if w.remove_ipip_inbound(IpIpInboundKey::new(t.outer_vr, t.spec.remote))
                            .is_err()
                        {
                            self.counters.writer_errors += 1;
                        }
                    }
                }
            }
        }
    }

    /// Removes every tunnel (the service stops or is replaced).
    pub fn clear(&mut self, w: &mut StateWriter) {
        let keys: Vec<Key> = self.tunnels.keys().copied().collect();
        for k in keys {
            self.remove(w, &k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use controlplane::mip::TunnelSpec;
    use vpndb::model::{AddrMask, KeyBytes, SaKeys};
    use vr::{VirtualRouter, VpnId};

    const FA_VR: VrId = VrId(1);
    const CORE_VR: VrId = VrId(2);

    /// The FA's side (agent 0 in FA_VR, outer CORE_VR) without default SAs.
    fn fa_side() -> AgentSide<'static> {
        AgentSide {
            agent: 0,
            vr: FA_VR,
            outer_vr: CORE_VR,
            default_sas: &[],
        }
    }

    fn writer() -> StateWriter {
        let mut w = StateWriter::new(vec![[2, 0, 0, 0, 0, 1]], 1);
        for (id, name) in [(FA_VR, "fa"), (CORE_VR, "core")] {
            w.add_vr(VirtualRouter::new(
                id,
                name,
                VpnId::new(1, id.0).unwrap(),
                "t",
            ))
            .unwrap();
        }
        w
    }

    fn net(a: [u8; 4], len: u8) -> AddrMask {
        let m = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        AddrMask::new(a.into(), m.into()).unwrap()
    }

    /// A tunnel of `role` for home address 10.200.0.`mn` with SPIs `out`/`inb` (empty keys:
    /// the default SA) to the CN network 10.10.0.0/16.
    fn spec(mn: u8, role: TunnelRole, out: u32, inb: u32, key: Option<u8>) -> TunnelSpec {
        let k = |b: u8| KeyBytes::new(vec![b; 16]);
        let keys = match key {
            Some(b) => SaKeys {
                up_enc: k(b),
                down_enc: k(b + 1),
                ..SaKeys::default()
            },
            None => SaKeys::default(),
        };
        let home = Ipv4Addr::new(10, 200, 0, mn);
        TunnelSpec {
            home_address: home,
            role,
            local: Ipv4Addr::new(192, 0, 2, 1),
            remote: Ipv4Addr::new(198, 51, 100, 1),
            kind: TunnelKind::Esp {
                out_spi: out,
                in_spi: inb,
                keys,
                ah: false,
            },
            src: Some(AddrMask::host(home)),
            dst: Some(net([10, 10, 0, 0], 16)),
            tos: 0,
        }
    }

    fn sources(w: &StateWriter, spi: u32) -> Option<Vec<String>> {
        let t = w
            .esp_outbound(OutboundKey::new(FA_VR, EspSaId(spi)))
            .expect("SA installed");
        t.sources.as_ref().map(|s| {
            let mut v: Vec<String> = s.prefixes().map(|(a, l)| format!("{a}/{l}")).collect();
            v.sort();
            v
        })
    }

    #[test]
    fn upward_sas_take_only_the_mobile_nodes_they_serve() {
        let mut w = writer();
        let mut d = Datapath::new(1);
        let defaults = [4096u32, 4097].map(|spi| DefaultSa {
            spi,
            cipher: esp::Cipher::AesGcm128,
            keymat: vec![spi as u8; 20],
        });
        let side = AgentSide {
            agent: 0,
            vr: FA_VR,
            outer_vr: CORE_VR,
            default_sas: &defaults,
        };
        let up = |d: &mut Datapath, w: &mut StateWriter, t: &TunnelSpec| {
            d.apply(w, &side, &TunnelEvent::Up(t.clone()))
        };
        let down = |d: &mut Datapath, w: &mut StateWriter, t: &TunnelSpec| {
            d.apply(w, &side, &TunnelEvent::Down(t.clone()))
        };
        let (a, b) = (
            spec(2, TunnelRole::ForeignToGw, 4096, 4097, None),
            spec(3, TunnelRole::ForeignToGw, 4096, 4097, None),
        );
        up(&mut d, &mut w, &a);
        assert_eq!(sources(&w, 4096), Some(vec!["10.200.0.2/32".into()]));
        let sa = w
            .esp_outbound(OutboundKey::new(FA_VR, EspSaId(4096)))
            .unwrap()
            .sa
            .clone();
        // A second mobile node on the SLA's default SA: one SA takes both, and it is the
        // same SA (sequence numbers go on), republished with the wider selector.
        up(&mut d, &mut w, &b);
        assert_eq!(
            sources(&w, 4096),
            Some(vec!["10.200.0.2/32".into(), "10.200.0.3/32".into()])
        );
        assert!(Arc::ptr_eq(
            &sa,
            &w.esp_outbound(OutboundKey::new(FA_VR, EspSaId(4096)))
                .unwrap()
                .sa
        ));
        let cn: IpPrefix = "10.10.0.0/16".parse().unwrap();
        assert_eq!(
            w.route(FA_VR, cn, SOURCE),
            Some(NextHop::Esp(EspSaId(4096))),
            "two users on one SA: one plain route"
        );
        // A user with her own SA toward the same network: the route selects by source, each
        // user into their own SA, and each SA takes its own users only.
        let c = spec(4, TunnelRole::ForeignToGw, 6000, 6001, Some(9));
        up(&mut d, &mut w, &c);
        assert_eq!(sources(&w, 6000), Some(vec!["10.200.0.4/32".into()]));
        assert_eq!(
            sources(&w, 4096),
            Some(vec!["10.200.0.2/32".into(), "10.200.0.3/32".into()])
        );
        let Some(NextHop::BySource(id)) = w.route(FA_VR, cn, SOURCE) else {
            panic!("{:?}", w.route(FA_VR, cn, SOURCE))
        };
        let sel = w
            .source_routes(vr::SourceRouteKey::new(FA_VR, id))
            .expect("selection installed")
            .clone();
        for (mn, spi) in [(2, 4096), (3, 4096), (4, 6000)] {
            assert_eq!(
                sel.select(Ipv4Addr::new(10, 200, 0, mn).into()),
                Some(NextHop::Esp(EspSaId(spi))),
                "node {mn}"
            );
        }
        assert_eq!(sel.select(Ipv4Addr::new(10, 200, 0, 5).into()), None);
        // She leaves: the route is plain again and her selection goes.
        down(&mut d, &mut w, &c);
        assert!(w
            .esp_outbound(OutboundKey::new(FA_VR, EspSaId(6000)))
            .is_none());
        assert_eq!(
            w.route(FA_VR, cn, SOURCE),
            Some(NextHop::Esp(EspSaId(4096)))
        );
        assert!(w
            .source_routes(vr::SourceRouteKey::new(FA_VR, id))
            .is_none());
        assert_eq!(
            sources(&w, 4096),
            Some(vec!["10.200.0.2/32".into(), "10.200.0.3/32".into()])
        );
        // The old FA's tunnel toward a mobile node takes any source (the CNs').
        let h = spec(5, TunnelRole::Handoff, 7000, 7001, Some(3));
        up(&mut d, &mut w, &h);
        assert_eq!(sources(&w, 7000), None);
        // The PCN's tunnel toward a mobile node takes the VPN's destination network (the
        // CNs behind the PCN), nothing else; a second profile's network widens it.
        let p = spec(6, TunnelRole::PcnToForeign, 8000, 8001, Some(5));
        up(&mut d, &mut w, &p);
        assert_eq!(sources(&w, 8000), Some(vec!["10.10.0.0/16".into()]));
        let mut p2 = p.clone();
        p2.dst = Some(net([10, 30, 6, 0], 24));
        up(&mut d, &mut w, &p2);
        assert_eq!(
            sources(&w, 8000),
            Some(vec!["10.10.0.0/16".into(), "10.30.6.0/24".into()])
        );
        down(&mut d, &mut w, &p);
        assert_eq!(sources(&w, 8000), Some(vec!["10.30.6.0/24".into()]));
        down(&mut d, &mut w, &p2);
        // The first node leaves: only the second remains.
        down(&mut d, &mut w, &a);
        assert_eq!(sources(&w, 4096), Some(vec!["10.200.0.3/32".into()]));
        down(&mut d, &mut w, &b);
        assert!(w
            .esp_outbound(OutboundKey::new(FA_VR, EspSaId(4096)))
            .is_none());
        assert_eq!(d.counters().writer_errors, 0);
    }

    #[test]
    fn a_handoff_receive_end_takes_the_forwarding_sa_in_and_routes_nothing() {
        let (mut w, mut d, side) = (writer(), Datapath::new(1), fa_side());
        // The old FA sends with the profile's down key under SPI 0x8000_0002 (its out); the
        // new FA's end is the mirror: in 0x8000_0002 with the down key, out 0x8000_0001.
        let r = spec(
            7,
            TunnelRole::HandoffReceive,
            0x8000_0001,
            0x8000_0002,
            Some(9),
        );
        d.apply(&mut w, &side, &TunnelEvent::Up(r.clone()));
        let inb = w
            .esp_inbound(InboundKey::new(CORE_VR, 0x8000_0002))
            .expect("the forwarding SA is taken in");
        assert_eq!(inb.vr, FA_VR, "decrypted into the FA's VR");
        assert!(w
            .esp_outbound(OutboundKey::new(FA_VR, EspSaId(0x8000_0001)))
            .is_some());
        let home = IpPrefix::V4(Prefix4::new(u32::from(Ipv4Addr::new(10, 200, 0, 7)), 32).unwrap());
        assert_eq!(w.route(FA_VR, home, SOURCE), None, "no route: only in");
        let listed = d.tunnels(0).next().unwrap();
        assert!(!listed.routed);
        d.apply(&mut w, &side, &TunnelEvent::Down(r));
        assert!(w
            .esp_inbound(InboundKey::new(CORE_VR, 0x8000_0002))
            .is_none());
        assert_eq!(d.counters().writer_errors, 0);
    }

    #[test]
    fn keys_make_gcm_keymat_with_a_derived_salt() {
        let (c, m) = keymat(1000, &[7u8; 16], &[]).unwrap();
        assert_eq!(c, esp::Cipher::AesGcm128);
        assert_eq!(m.len(), 20);
        assert_eq!(&m[..16], &[7u8; 16]);
        // Both ends derive the same salt; another key another salt.
        assert_eq!(keymat(1000, &[7u8; 16], &[]).unwrap().1, m);
        assert_ne!(keymat(1000, &[8u8; 16], &[]).unwrap().1[16..], m[16..]);
        assert_eq!(
            keymat(1, &[1u8; 32], &[]).unwrap().0,
            esp::Cipher::AesGcm256
        );
        assert!(keymat(1, &[1u8; 20], &[]).unwrap_err().contains("20-byte"));
        let d = DefaultSa {
            spi: 1000,
            cipher: esp::Cipher::ChaCha20Poly1305,
            keymat: vec![3; 36],
        };
        assert_eq!(
            keymat(1000, &[], std::slice::from_ref(&d)).unwrap(),
            (esp::Cipher::ChaCha20Poly1305, vec![3; 36])
        );
        assert!(keymat(1001, &[], &[d]).unwrap_err().contains("default_sas"));
    }

    /// Plain Mobile IP at the HA: IP-in-IP to the care-of address, shared by the mobile
    /// nodes behind one FA, with the inbound tunnel of that FA; a conflicting inbound
    /// tunnel is refused; everything goes with the last node.
    #[test]
    fn ipip_tunnels_are_shared_per_care_of_address_and_removed_with_the_last_node() {
        use vr::{IpIpInboundKey, IpIpKey};
        let (mut w, mut d, side) = (writer(), Datapath::new(1), fa_side());
        let coa = Ipv4Addr::new(192, 0, 2, 77);
        let plain = |mn: u8| {
            TunnelSpec::plain(
                Ipv4Addr::new(10, 200, 0, mn),
                TunnelRole::HomeToCareOf,
                Ipv4Addr::new(198, 51, 100, 10),
                coa,
            )
        };
        assert_eq!(supported(&plain(1)), Ok(()));
        let (a, b) = (plain(1), plain(2));
        d.apply(&mut w, &side, &TunnelEvent::Up(a.clone()));
        d.apply(&mut w, &side, &TunnelEvent::Up(b.clone()));
        assert_eq!(d.len(), 2);
        assert_eq!(d.counters().ipip_up, 2);
        let ids: Vec<TunnelOut> = d.tunnels(0).map(|t| t.out).collect();
        assert_eq!(
            ids,
            vec![TunnelOut::IpIp(1); 2],
            "one tunnel for both nodes"
        );
        let t = w
            .ipip_outbound(IpIpKey::new(FA_VR, vr::IpIpId(1)))
            .expect("outbound tunnel");
        assert_eq!((t.remote, t.outer_vr, t.dscp), (coa, CORE_VR, None));
        assert_eq!(
            t.sources, None,
            "toward the mobile node: any source (the CNs')"
        );
        let i = w
            .ipip_inbound(IpIpInboundKey::new(CORE_VR, coa))
            .expect("inbound tunnel");
        assert_eq!((i.vr, i.local), (FA_VR, Ipv4Addr::new(198, 51, 100, 10)));
        for mn in [1, 2] {
            let p: IpPrefix = format!("10.200.0.{mn}/32").parse().unwrap();
            assert_eq!(
                w.route(FA_VR, p, SOURCE),
                Some(NextHop::IpIp(vr::IpIpId(1))),
                "node {mn}"
            );
        }
        // Another agent's VR cannot take the same remote in the same outer VR into itself.
        let other = AgentSide {
            agent: 1,
            vr: CORE_VR,
            outer_vr: CORE_VR,
            default_sas: &[],
        };
        d.apply(&mut w, &other, &TunnelEvent::Up(plain(3)));
        assert_eq!(d.counters().refused_conflict, 1);
        assert_eq!(d.len(), 2);
        // A DSCP-marking profile to the same FA is another outbound tunnel, same inbound.
        let mut marked = plain(4);
        marked.tos = 0xb8;
        d.apply(&mut w, &side, &TunnelEvent::Up(marked.clone()));
        let t4 = d
            .tunnels(0)
            .find(|t| t.spec.home_address == marked.home_address)
            .unwrap();
        assert_eq!((t4.out, t4.dscp), (TunnelOut::IpIp(2), Some(46)));
        for t in [&a, &marked] {
            d.apply(&mut w, &side, &TunnelEvent::Down(t.clone()));
        }
        assert!(w
            .ipip_outbound(IpIpKey::new(FA_VR, vr::IpIpId(2)))
            .is_none());
        assert!(w
            .ipip_outbound(IpIpKey::new(FA_VR, vr::IpIpId(1)))
            .is_some());
        assert!(w.ipip_inbound(IpIpInboundKey::new(CORE_VR, coa)).is_some());
        d.apply(&mut w, &side, &TunnelEvent::Down(b));
        assert!(d.is_empty());
        assert!(w
            .ipip_outbound(IpIpKey::new(FA_VR, vr::IpIpId(1)))
            .is_none());
        assert!(w.ipip_inbound(IpIpInboundKey::new(CORE_VR, coa)).is_none());
        assert!(w
            .route(FA_VR, "10.200.0.2/32".parse().unwrap(), SOURCE)
            .is_none());
        assert_eq!(d.counters().writer_errors, 0);
        // The FA's plain tunnel to the HA (no profile): decapsulates what the HA sends, routes
        // nothing (the visitor's /32 stays the FA's own route to the mobile node).
        let fa_plain = TunnelSpec::plain(
            Ipv4Addr::new(10, 200, 0, 5),
            TunnelRole::ForeignToGw,
            Ipv4Addr::new(198, 51, 100, 10),
            coa,
        );
        d.apply(&mut w, &side, &TunnelEvent::Up(fa_plain.clone()));
        assert!(!d.tunnels(0).next().unwrap().routed);
        assert!(w.ipip_inbound(IpIpInboundKey::new(CORE_VR, coa)).is_some());
        assert!(w
            .route(FA_VR, "10.200.0.5/32".parse().unwrap(), SOURCE)
            .is_none());
        d.apply(&mut w, &side, &TunnelEvent::Down(fa_plain));
        assert!(d.is_empty() && w.ipip_inbound(IpIpInboundKey::new(CORE_VR, coa)).is_none());
        assert_eq!(d.counters().writer_errors, 0);
        // AH is still refused.
        let mut ah = spec(9, TunnelRole::ForeignToGw, 1, 2, Some(1));
        if let TunnelKind::Esp { ah: x, .. } = &mut ah.kind {
            *x = true;
        }
        assert!(supported(&ah).is_err());
    }

    /// What the driver installs for a plain Mobile IP user carries traffic: a CN's packet to
    /// the home address leaves the HA encapsulated to the care-of address (protocol 4, outer
    /// TTL 64, routed in the outer VR), and what the FA encapsulates back is decapsulated
    /// into the HA's VR and routed to the CN.
    #[test]
    fn an_installed_ipip_tunnel_carries_traffic_both_ways() {
        use dataplane::buffer::{HeapBuf, PacketBuf};
        use dataplane::counters::WorkerCounters;
        use dataplane::pipeline::{forward, PortInfo, Verdict};
        use vr::{IfBinding, IfKey, LabelPush, PortId};
        let (home_mac, core_mac, cn_mac, gw_mac) = (
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            [2, 0, 0, 0, 0xc, 0xe],
            [2, 0, 0, 0, 0x6e, 1],
        );
        let mut w = StateWriter::new(vec![home_mac, core_mac], 1);
        for (id, name) in [(FA_VR, "home"), (CORE_VR, "core")] {
            w.add_vr(VirtualRouter::new(
                id,
                name,
                VpnId::new(1, id.0).unwrap(),
                "t",
            ))
            .unwrap();
        }
        w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(FA_VR))
            .unwrap();
        w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(CORE_VR))
            .unwrap();
        let fwd = |port: u16, src, dst| NextHop::Forward {
            port: PortId(port),
            vlan: None,
            src_mac: src,
            dst_mac: dst,
            push: LabelPush::EMPTY,
        };
        let (ha, coa) = (Ipv4Addr::new(198, 51, 100, 10), Ipv4Addr::new(192, 0, 2, 1));
        let set = |w: &mut StateWriter, vr, p: &str, src, nh| {
            w.set_route(vr, p.parse().unwrap(), src, nh).unwrap()
        };
        set(
            &mut w,
            CORE_VR,
            "198.51.100.10/32",
            RouteSource::Local,
            NextHop::Local,
        );
        set(
            &mut w,
            CORE_VR,
            "192.0.2.0/24",
            RouteSource::Static,
            fwd(1, core_mac, gw_mac),
        );
        set(
            &mut w,
            FA_VR,
            "10.10.0.0/16",
            RouteSource::Static,
            fwd(0, home_mac, cn_mac),
        );
        let mut d = Datapath::new(1);
        let side = AgentSide {
            agent: 0,
            vr: FA_VR,
            outer_vr: CORE_VR,
            default_sas: &[],
        };
        let home = Ipv4Addr::new(10, 200, 0, 1);
        let t = TunnelSpec::plain(home, TunnelRole::HomeToCareOf, ha, coa);
        d.apply(&mut w, &side, &TunnelEvent::Up(t));
        let st = w.commit().unwrap();
        let ports = [home_mac, core_mac].map(|mac| PortInfo { mac, mtu: 1500 });
        let c = WorkerCounters::new(0, 2);
        let ip4 = |src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]| {
            let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 30, proto, 0, 0];
            p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            p.extend_from_slice(&src.octets());
            p.extend_from_slice(&dst.octets());
            let sum = !wire::checksum::data(&p);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            p.extend_from_slice(payload);
            p
        };
        let frame = |to: [u8; 6], ip: &[u8]| {
            let mut f = to.to_vec();
            f.extend_from_slice(&[2, 0, 0, 0, 0, 0x77, 0x08, 0x00]);
            f.extend_from_slice(ip);
            f
        };
        // CN → mobile node: encapsulated to the care-of address.
        let inner = ip4(Ipv4Addr::new(10, 10, 0, 5), home, 17, &[0; 16]);
        let mut b = HeapBuf::from_slice(&frame(home_mac, &inner)).unwrap();
        assert_eq!(
            forward(&st, &ports, PortId(0), &mut b, &c),
            Verdict::Tx(PortId(1))
        );
        let o = &b.data()[14..];
        assert_eq!((o[8], o[9]), (64, 4), "outer TTL 64, protocol 4");
        assert_eq!(
            (&o[12..16], &o[16..20]),
            (&ha.octets()[..], &coa.octets()[..])
        );
        assert_eq!(
            &o[20 + 12..20 + 20],
            &inner[12..20],
            "the CN's packet inside"
        );
        // FA → HA (reverse tunnel): decapsulated into the home VR, routed to the CN.
        let back = ip4(home, Ipv4Addr::new(10, 10, 0, 5), 17, &[0; 16]);
        let outer = ip4(coa, ha, 4, &back);
        let mut b = HeapBuf::from_slice(&frame(core_mac, &outer)).unwrap();
        assert_eq!(
            forward(&st, &ports, PortId(1), &mut b, &c),
            Verdict::Tx(PortId(0))
        );
        assert_eq!(&b.data()[0..6], &cn_mac);
        assert_eq!(&b.data()[14 + 12..14 + 20], &back[12..20]);
    }
}
