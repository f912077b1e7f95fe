//! The forwarding state: everything a worker reads to forward a packet, one immutable
//! version at a time, and the writer that derives each version from the last.
//!
//! # A version is a small root of shared parts
//!
//! A [`ForwardingState`] holds, each behind its own reference:
//!
//! | part | what | changes when |
//! |---|---|---|
//! | `interfaces` | (port), (port, VLAN), ISP id → VR or trunk | management (reload, API) |
//! | `sessions` | L2TP / PPPoE session → VR or relay next hop ([`crate::session`]) | subscribers come and go |
//! | `next_hops` | id → action, persistent array ([`crate::nexthop`]) | neighbours resolve, routes change |
//! | `labels` | incoming label → operation | label plan changes |
//! | VR table | VR id → [`VrEntry`]: identity, IPv4 and IPv6 FIB, counters | routes of that VR change |
//!
//! [`StateWriter::commit`] builds a new root that shares every part it did not touch: a
//! session bind rewrites one shard of the session table; a neighbour resolution rewrites
//! the next-hop chunks it touches; a route change recompiles the touched slots of that one
//! VR's FIB ([`crate::fib::update::IncrementalFib`]) and the VR table chunk holding it.
//! Nothing is recompiled whole, so a full-table VR beside thousands of small ones costs
//! nothing on a bind. Workers load the current root once per burst (see
//! [`crate::publish`]): a lookup sees the old version or the new one, never a mix, because
//! the parts of a root are never modified after it is published. Old roots are dropped by
//! the publisher once no worker holds them; a part is freed with the last root holding it.
//!
//! # The writer owns the truth
//!
//! [`StateWriter`] holds the control plane's model — VR identities ([`VrRegistry`]), each
//! VR's RIB with route sources, interned next hops with reference counts and the
//! neighbours they resolve through, interface and session bindings, label operations — and
//! checks every change as it is made (a route to a VR that does not exist, a binding to a
//! missing VR, a label popping into nothing are refused with an error), so the fast path
//! follows indices without a second thought. [`StateWriter::apply`] applies a list of
//! [`Change`]s all or nothing: the list is checked against the current state first.
//!
//! VR ids go up to [`MAX_VR_ID`]; the VR table is indexed by id directly (persistent, in
//! chunks of 64 ids), so sparse ids cost a chunk pointer per 64 ids of range.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use labelswitch::{Label, LabelMatrix, LabelMatrixBuilder, LabelOp, MatrixError};

use crate::counters::{SessionCounters, VrCounters};
use crate::esp::{EspError, EspSaId, EspTable, EspTableWriter, EspTunnel, InboundKey, OutboundKey};
use crate::fib::update::IncrementalFib;
use crate::fib::{Fib4, Fib6, Lpm, Prefix4, Prefix6};
use crate::ids::{NextHopId, VrId};
use crate::iface::{IfBinding, IfError, IfKey, InterfaceTable, InterfaceTableBuilder};
use crate::ipip::{IpIpError, IpIpInboundKey, IpIpKey, IpIpTable, IpIpTableWriter, IpIpTunnel};
use crate::nexthop::{NeighborKey, NextHop, NextHopError, NextHopPool, NextHopTable};
use crate::persist::{PVec, PVecWriter};
use crate::registry::{RegistryError, VirtualRouter, VrRegistry};
use crate::replay::{ReplayError, ReplayHop, ReplayId, ReplayKey, ReplayTable, ReplayTableWriter};
use crate::rib::{Rib, RibError, RouteSource};
use crate::session::{SessionBinding, SessionKey, SessionTable, SessionTableWriter};
use crate::srcsel::{
    SourceRouteError, SourceRouteId, SourceRouteKey, SourceRouteTable, SourceRouteTableWriter,
    SourceRoutes,
};

/// Largest VR id the forwarding state accepts (2^20 - 1).
pub const MAX_VR_ID: u32 = (1 << 20) - 1;

/// Errors of forwarding-state changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The VR id is above [`MAX_VR_ID`].
    #[error("{0}: VR ids must be at most {MAX_VR_ID}")]
    VrIdTooLarge(VrId),
    /// The VR does not exist.
    #[error("{0} does not exist")]
    UnknownVr(VrId),
    /// VR identity (duplicate id or name, empty name).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An interface is bound to a VR that does not exist.
    #[error("{key} cannot be bound to {vr}, which does not exist")]
    BindingToUnknownVr {
        /// The interface.
        key: IfKey,
        /// The missing VR.
        vr: VrId,
    },
    /// A session is bound to a VR that does not exist.
    #[error("{key} cannot be bound to {vr}, which does not exist")]
    SessionToUnknownVr {
        /// The session.
        key: SessionKey,
        /// The missing VR.
        vr: VrId,
    },
    /// The session is bound already.
    #[error("{key} is already bound to {vr}")]
    SessionBound {
        /// The session.
        key: SessionKey,
        /// Its VR.
        vr: VrId,
    },
    /// The session is not bound.
    #[error("{0} is not bound")]
    SessionNotBound(SessionKey),
    /// A relayed session was asked to move to another VR.
    #[error("{0} is relayed (its PPP frames go on to another session): it is routed in no VR and cannot move")]
    MoveRelayed(SessionKey),
    /// A session relayed through a next hop that does not carry PPP frames.
    #[error(
        "{key} cannot be relayed through a {kind} next hop; PPP frames are relayed into \
         an L2TP or a PPPoE session"
    )]
    RelayNotSession {
        /// The session.
        key: SessionKey,
        /// The kind of next hop given.
        kind: &'static str,
    },
    /// A label pops into a VR that does not exist.
    #[error("label {label} cannot pop into {vr}, which does not exist")]
    LabelToUnknownVr {
        /// The label.
        label: Label,
        /// The missing VR.
        vr: VrId,
    },
    /// The label has no operation.
    #[error("label {0} is not bound")]
    LabelNotBound(Label),
    /// A label operation sends into an L2TP or PPPoE session, which the data plane's label
    /// path cannot do (it forwards Ethernet with labels only).
    #[error(
        "label {label} cannot send into a {kind} session; label operations forward to a \
         neighbour"
    )]
    LabelIntoSession {
        /// The label.
        label: Label,
        /// The kind of next hop given.
        kind: &'static str,
    },
    /// Route errors (removing a route that does not exist).
    #[error("{vr}: {err}")]
    Route {
        /// The VR.
        vr: VrId,
        /// What is wrong.
        err: RibError,
    },
    /// Interface binding error.
    #[error(transparent)]
    Interface(#[from] IfError),
    /// Label matrix error.
    #[error(transparent)]
    Label(#[from] MatrixError),
    /// Next-hop table error.
    #[error(transparent)]
    NextHop(#[from] NextHopError),
    /// ESP table error.
    #[error(transparent)]
    Esp(#[from] crate::esp::EspError),
    /// IP-in-IP table error.
    #[error(transparent)]
    IpIp(#[from] IpIpError),
    /// Source selection error.
    #[error(transparent)]
    SourceRoute(#[from] SourceRouteError),
    /// Replay hop error.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// A destination prefix of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpPrefix {
    /// IPv4.
    V4(Prefix4),
    /// IPv6.
    V6(Prefix6),
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpPrefix::V4(p) => p.fmt(f),
            IpPrefix::V6(p) => p.fmt(f),
        }
    }
}

impl IpPrefix {
    /// The host prefix of `ip` (/32 or /128).
    pub fn host(ip: std::net::IpAddr) -> IpPrefix {
        match ip {
            std::net::IpAddr::V4(a) => {
                IpPrefix::V4(Prefix4::new(u32::from(a), 32).expect("a /32 is valid"))
            }
            std::net::IpAddr::V6(a) => {
                IpPrefix::V6(Prefix6::new(u128::from(a), 128).expect("a /128 is valid"))
            }
        }
    }
}

impl std::str::FromStr for IpPrefix {
    type Err = crate::fib::PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(IpPrefix::V6)
        } else {
            s.parse().map(IpPrefix::V4)
        }
    }
}

/// One VR as a forwarding-state version holds it.
#[derive(Debug)]
pub struct VrEntry {
    /// Identity (id, name, VPN id, tenant).
    pub info: Arc<VirtualRouter>,
    /// IPv4 FIB (host-order addresses).
    pub fib4: Arc<Fib4>,
    /// IPv6 FIB (host-order addresses).
    pub fib6: Arc<Fib6>,
    /// Traffic counters, shared by every version of this VR.
    pub counters: Arc<VrCounters>,
    /// Up to [`LOCAL_HOSTS`] of the VR's own IPv4 addresses — host routes (/32) whose
    /// best next hop is [`NextHopTable::LOCAL`] — ascending: [`Self::lookup4`] answers
    /// `LOCAL` for each, so the data path may skip the lookup for them (tunnel endpoints:
    /// see [`Self::is_local4`]).
    pub local4: Arc<[u32]>,
    /// ESP to this VR under an SPI it has no SA for is punted (`esp_unknown_spi`) instead of
    /// dropped: a foreign agent holds it for the SA its registration is about to install
    /// ([`StateWriter::set_esp_hold`]).
    pub esp_hold: bool,
}

/// At most this many addresses in [`VrEntry::local4`] (a VR's tunnel endpoints are few;
/// addresses past these are found by the FIB lookup as before).
pub const LOCAL_HOSTS: usize = 8;

impl VrEntry {
    /// True when `addr` is in [`Self::local4`]: then `lookup4(addr)` is
    /// `Some(NextHopTable::LOCAL)` (a /32 is the longest match there is). `false` says
    /// nothing: the address may still be local through a route not listed.
    #[inline]
    pub fn is_local4(&self, addr: u32) -> bool {
        self.local4.contains(&addr)
    }

    /// The VR's id.
    #[inline]
    pub fn id(&self) -> VrId {
        self.info.id
    }

    /// IPv4 longest-prefix match.
    #[inline]
    pub fn lookup4(&self, addr: u32) -> Option<NextHopId> {
        self.fib4.lookup(addr)
    }

    /// IPv6 longest-prefix match.
    #[inline]
    pub fn lookup6(&self, addr: u128) -> Option<NextHopId> {
        self.fib6.lookup(addr)
    }

    /// Heap bytes of both FIBs.
    pub fn memory_bytes(&self) -> usize {
        self.fib4.memory_bytes() + self.fib6.memory_bytes()
    }
}

/// Everything the data plane reads, one immutable version (see the module docs).
#[derive(Clone, Debug)]
pub struct ForwardingState {
    /// Version number, increasing with every publication.
    pub version: u64,
    /// Ingress interface → VR or trunk.
    pub interfaces: Arc<InterfaceTable>,
    /// L2TP / PPPoE session → VR.
    pub sessions: SessionTable,
    /// Per-session traffic counters (slots named by the session bindings and L2TP next
    /// hops), shared by every version.
    pub session_counters: Arc<SessionCounters>,
    /// The shared next-hop table.
    pub next_hops: NextHopTable,
    /// Incoming label → operation.
    pub labels: Arc<LabelMatrix>,
    /// ESP SAs: inbound by outer VR and SPI, outbound by VR and id.
    pub esp: EspTable,
    /// IP-in-IP tunnels: inbound by outer VR and remote, outbound by VR and id.
    pub ipip: IpIpTable,
    /// Source selections ([`NextHop::BySource`]) by VR and id.
    pub source_routes: SourceRouteTable,
    /// Replay hops ([`NextHop::Replayable`]) by VR and id.
    pub replays: ReplayTable,
    vrs: PVec<Option<Arc<VrEntry>>>,
    vr_count: usize,
}

impl Default for ForwardingState {
    /// Version 0: nothing bound, so every packet is dropped.
    fn default() -> Self {
        let mut w = StateWriter::new(Vec::new(), 1);
        let mut s = w.snapshot();
        s.version = 0;
        s
    }
}

impl ForwardingState {
    /// VR `vr`, if it exists in this version.
    #[inline]
    pub fn vr(&self, vr: VrId) -> Option<&VrEntry> {
        self.vrs.get(vr.0 as usize)?.as_deref()
    }

    /// The next hop at `id` (shortcut for `next_hops.get`).
    #[inline]
    pub fn next_hop(&self, id: NextHopId) -> Option<&NextHop> {
        self.next_hops.get(id)
    }

    /// The binding of a session.
    #[inline]
    pub fn session(&self, key: &SessionKey) -> Option<&SessionBinding> {
        self.sessions.get(key)
    }

    /// Number of VRs.
    pub fn vr_count(&self) -> usize {
        self.vr_count
    }

    /// Every VR, by id.
    pub fn vrs(&self) -> impl Iterator<Item = &VrEntry> + '_ {
        self.vrs.iter().filter_map(|v| v.as_deref())
    }

    /// Heap bytes held by this version (parts shared with other versions counted in full).
    pub fn memory_bytes(&self) -> usize {
        self.interfaces.memory_bytes()
            + self.sessions.memory_bytes()
            + self.next_hops.memory_bytes()
            + self.labels.memory_bytes()
            + self.vrs.memory_bytes()
            + self.vrs().map(VrEntry::memory_bytes).sum::<usize>()
    }

    /// True when `self` and `other` share their VR table (no VR or FIB changed between).
    pub fn same_vrs(&self, other: &ForwardingState) -> bool {
        self.vrs.same_as(&other.vrs)
    }
}

/// A label operation as the writer takes it: next hops as specifications, interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LabelAction {
    /// Swap to `out` and send to `via`.
    Swap {
        /// Outgoing label.
        out: Label,
        /// Next hop (usually `Unresolved` towards a neighbour on a trunk).
        via: NextHop,
    },
    /// Pop (bottom of stack) and look the packet up in the VR.
    PopToVr(VrId),
    /// Pop a transport label and process the next one.
    Pop,
    /// Pop and send to `via` without a lookup.
    PopAndForward {
        /// Next hop.
        via: NextHop,
    },
}

/// One change to the forwarding state, for [`StateWriter::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Create a VR (no routes, no bindings).
    AddVr(VirtualRouter),
    /// Delete a VR with its routes, interface and session bindings and pop labels.
    RemoveVr(VrId),
    /// Hand a VR to another tenant (delegation): only its identity changes; its tables,
    /// bindings, sessions and counters stay.
    SetTenant(VrId, String),
    /// Bind an interface.
    Bind(IfKey, IfBinding),
    /// Unbind an interface.
    Unbind(IfKey),
    /// Add or replace the route of `prefix` from `source` in `vr`.
    SetRoute {
        /// The VR.
        vr: VrId,
        /// Destination.
        prefix: IpPrefix,
        /// Route source.
        source: RouteSource,
        /// Next hop specification.
        via: NextHop,
    },
    /// Remove the route of `prefix` from `source` in `vr`.
    RemoveRoute {
        /// The VR.
        vr: VrId,
        /// Destination.
        prefix: IpPrefix,
        /// Route source.
        source: RouteSource,
    },
    /// Bind (or rebind) an incoming label.
    SetLabel(Label, LabelAction),
    /// Unbind an incoming label.
    RemoveLabel(Label),
    /// Record or withdraw a neighbour's MAC.
    SetNeighbor(NeighborKey, Option<[u8; 6]>),
    /// Bind a session.
    BindSession(SessionKey, SessionBinding),
    /// Bind a session whose PPP frames are relayed through the next hop (see
    /// [`StateWriter::bind_session_relay`]).
    BindSessionRelay(SessionKey, SessionBinding, NextHop),
    /// Unbind a session.
    UnbindSession(SessionKey),
    /// Install (or replace) an inbound ESP SA, keyed by its outer VR and SPI.
    SetEspInbound(Arc<EspTunnel>),
    /// Remove the inbound ESP SA of an SPI in an outer VR.
    RemoveEspInbound(InboundKey),
    /// Install (or replace: a rekey) the outbound ESP SA of an id in the tunnel's VR.
    SetEspOutbound(EspSaId, Arc<EspTunnel>),
    /// Remove an outbound ESP SA of a VR.
    RemoveEspOutbound(OutboundKey),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddVr(v) => write!(f, "add VR {} ({})", v.name, v.id),
            Change::RemoveVr(v) => write!(f, "remove {v}"),
            Change::SetTenant(v, t) => write!(f, "{v} now belongs to tenant `{t}`"),
            Change::Bind(k, b) => write!(f, "bind {k} to {b}"),
            Change::Unbind(k) => write!(f, "unbind {k}"),
            Change::SetRoute {
                vr,
                prefix,
                source,
                via,
            } => write!(f, "{vr}: {source} route {prefix} via {via:?}"),
            Change::RemoveRoute { vr, prefix, source } => {
                write!(f, "{vr}: remove {source} route {prefix}")
            }
            Change::SetLabel(l, a) => write!(f, "label {l}: {a:?}"),
            Change::RemoveLabel(l) => write!(f, "remove label {l}"),
            Change::SetNeighbor(k, Some(m)) => write!(
                f,
                "neighbor {k} is {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Change::SetNeighbor(k, None) => write!(f, "neighbor {k} withdrawn"),
            Change::BindSession(k, b) => write!(f, "bind {k} to {}", b.vr),
            Change::BindSessionRelay(k, b, via) => {
                write!(f, "bind {k} to {}, relayed via {via:?}", b.vr)
            }
            Change::UnbindSession(k) => write!(f, "unbind {k}"),
            Change::SetEspInbound(t) => write!(
                f,
                "inbound ESP SA {} (SPI {:#010x} in {}) into {}",
                t.name,
                t.sa.spi(),
                t.outer_vr,
                t.vr
            ),
            Change::RemoveEspInbound(k) => write!(f, "remove inbound ESP {k}"),
            Change::SetEspOutbound(id, t) => write!(
                f,
                "{id}: outbound ESP SA {} (SPI {:#010x}) from {}",
                t.name,
                t.sa.spi(),
                t.vr
            ),
            Change::RemoveEspOutbound(k) => write!(f, "remove {k}"),
        }
    }
}

/// What the writer has done (for the summary and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Versions produced.
    pub commits: u64,
    /// VR FIB versions compiled (IPv4 and IPv6 counted apart).
    pub fib_commits: u64,
    /// Session binds and unbinds.
    pub session_changes: u64,
    /// ESP SAs installed, replaced and removed.
    pub esp_changes: u64,
    /// IP-in-IP tunnels installed, replaced and removed.
    pub ipip_changes: u64,
    /// Source selections installed, replaced and removed.
    pub source_route_changes: u64,
    /// Replay hops installed, replaced or removed.
    pub replay_changes: u64,
    /// Interface-table rebuilds.
    pub interface_rebuilds: u64,
    /// Label-matrix rebuilds.
    pub label_rebuilds: u64,
    /// Changes refused with an error.
    pub refused: u64,
}

struct VrState {
    info: Arc<VirtualRouter>,
    rib: Rib,
    /// IPv4 addresses whose /32's best route is `Local` (kept as routes change; the
    /// first [`LOCAL_HOSTS`] are published in [`VrEntry::local4`]).
    local4: BTreeSet<u32>,
    fib4: IncrementalFib<u32>,
    fib6: IncrementalFib<u128>,
    counters: Arc<VrCounters>,
    esp_hold: bool,
}

/// The control plane's model of the forwarding state, and the compiler of its versions.
pub struct StateWriter {
    workers: usize,
    version: u64,
    registry: VrRegistry,
    vrs: BTreeMap<VrId, VrState>,
    vr_table: PVecWriter<Option<Arc<VrEntry>>>,
    dirty_vrs: BTreeSet<VrId>,
    interfaces: InterfaceTableBuilder,
    interfaces_pub: Option<Arc<InterfaceTable>>,
    sessions: SessionTableWriter,
    session_counters: Arc<SessionCounters>,
    /// Counter slots: next never used, freed ones, and each used slot's totals when it was
    /// handed out (workers write the counters, so a reused slot is not zeroed but read
    /// relative to its baseline).
    counter_next: u32,
    counter_free: Vec<u32>,
    counter_base: Vec<[u64; crate::counters::session_counter::PER_SESSION]>,
    next_hops: NextHopPool,
    labels: BTreeMap<Label, LabelOp>,
    labels_pub: Option<Arc<LabelMatrix>>,
    esp: EspTableWriter,
    ipip: IpIpTableWriter,
    source_routes: SourceRouteTableWriter,
    replays: ReplayTableWriter,
    changed: bool,
    /// Counters.
    pub stats: WriterStats,
}

impl fmt::Debug for StateWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateWriter")
            .field("version", &self.version)
            .field("vrs", &self.vrs.len())
            .field("sessions", &self.sessions.len())
            .field("next_hops", &self.next_hops.live())
            .field("labels", &self.labels.len())
            .finish_non_exhaustive()
    }
}

fn release_label(pool: &mut NextHopPool, op: LabelOp) {
    if let LabelOp::Swap { next_hop, .. } | LabelOp::PopAndForward { next_hop } = op {
        pool.release(NextHopId(next_hop));
    }
}

impl StateWriter {
    /// An empty state for an appliance whose ports have the MAC addresses `port_macs`
    /// (index = port id) and which runs `workers` workers (the size of per-VR counters).
    pub fn new(port_macs: Vec<[u8; 6]>, workers: usize) -> Self {
        StateWriter {
            workers: workers.max(1),
            version: 0,
            registry: VrRegistry::new(),
            vrs: BTreeMap::new(),
            vr_table: PVecWriter::new(None),
            dirty_vrs: BTreeSet::new(),
            interfaces: InterfaceTableBuilder::new(),
            interfaces_pub: None,
            sessions: SessionTableWriter::new(),
            session_counters: Arc::new(SessionCounters::new(workers, 0)),
            counter_next: 0,
            counter_free: Vec::new(),
            counter_base: Vec::new(),
            next_hops: NextHopPool::new(port_macs),
            labels: BTreeMap::new(),
            labels_pub: None,
            esp: EspTableWriter::default(),
            ipip: IpIpTableWriter::default(),
            source_routes: SourceRouteTableWriter::default(),
            replays: ReplayTableWriter::default(),
            changed: true,
            stats: WriterStats::default(),
        }
    }

    /// Workers the per-VR counters are sized for.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The version the next [`commit`](Self::commit) produces, minus one.
    pub fn version(&self) -> u64 {
        self.version
    }

    // --- VRs -------------------------------------------------------------------------

    /// Creates a VR (no routes, no bindings).
    pub fn add_vr(&mut self, info: VirtualRouter) -> Result<(), StateError> {
        let id = info.id;
        if id.0 > MAX_VR_ID {
            return Err(StateError::VrIdTooLarge(id));
        }
        self.registry.add(info.clone())?;
        self.vrs.insert(
            id,
            VrState {
                info: Arc::new(info),
                rib: Rib::new(),
                local4: BTreeSet::new(),
                fib4: IncrementalFib::new(&[]),
                fib6: IncrementalFib::new(&[]),
                counters: Arc::new(VrCounters::new(self.workers)),
                esp_hold: false,
            },
        );
        self.dirty_vrs.insert(id);
        self.changed = true;
        Ok(())
    }

    /// Whether ESP to VR `id` under an unknown SPI is punted (`Punt::EspUnknownSpi`) rather
    /// than dropped: for the outer VR of a Mobile IP foreign agent, which holds such packets
    /// briefly for the SA a registration in progress installs.
    pub fn set_esp_hold(&mut self, id: VrId, on: bool) -> Result<(), StateError> {
        let st = self.vrs.get_mut(&id).ok_or(StateError::UnknownVr(id))?;
        if st.esp_hold != on {
            st.esp_hold = on;
            self.dirty_vrs.insert(id);
            self.changed = true;
        }
        Ok(())
    }

    /// Changes the tenant of a VR (delegation); nothing else of it changes.
    pub fn set_tenant(&mut self, id: VrId, tenant: &str) -> Result<(), StateError> {
        let st = self.vrs.get_mut(&id).ok_or(StateError::UnknownVr(id))?;
        let mut info = (*st.info).clone();
        info.tenant = tenant.to_string();
        self.registry.set_tenant(id, tenant)?;
        st.info = Arc::new(info);
        self.dirty_vrs.insert(id);
        self.changed = true;
        Ok(())
    }

    /// Deletes a VR with its routes, its interface and session bindings and the labels
    /// that pop into it; returns its identity.
    pub fn remove_vr(&mut self, id: VrId) -> Result<VirtualRouter, StateError> {
        let st = self.vrs.remove(&id).ok_or(StateError::UnknownVr(id))?;
        let info = self.registry.remove(id)?;
        for (_, _, nh) in st.rib.v4.iter() {
            self.next_hops.release(nh);
        }
        for (_, _, nh) in st.rib.v6.iter() {
            self.next_hops.release(nh);
        }
        if self.interfaces.unbind_vr(id) > 0 {
            self.interfaces_pub = None;
        }
        let relays: Vec<NextHopId> = self
            .sessions
            .iter()
            .filter(|(_, b)| b.vr == id || b.tunnel_vr == id)
            .filter_map(|(_, b)| b.relay)
            .collect();
        let n = self.sessions.retain(|_, b| b.vr != id && b.tunnel_vr != id);
        for r in relays {
            self.next_hops.release(r);
        }
        self.stats.session_changes += n as u64;
        let pops: Vec<Label> = self
            .labels
            .iter()
            .filter(|(_, op)| **op == LabelOp::PopToVr { vr: id.0 })
            .map(|(l, _)| *l)
            .collect();
        for l in pops {
            self.labels.remove(&l);
            self.labels_pub = None;
        }
        self.stats.esp_changes += self.esp.remove_vr(id) as u64;
        self.stats.ipip_changes += self.ipip.remove_vr(id) as u64;
        self.stats.source_route_changes += self.source_routes.retain(|_, s| s.vr != id) as u64;
        self.stats.replay_changes += self.replays.retain(|_, r| r.vr != id) as u64;
        self.vr_table.set(id.0 as usize, None);
        self.dirty_vrs.remove(&id);
        self.changed = true;
        Ok(info)
    }

    /// True when VR `id` exists.
    pub fn has_vr(&self, id: VrId) -> bool {
        self.vrs.contains_key(&id)
    }

    /// The VRs' identities.
    pub fn registry(&self) -> &VrRegistry {
        &self.registry
    }

    /// The counters of VR `id`.
    pub fn vr_counters(&self, id: VrId) -> Option<&Arc<VrCounters>> {
        self.vrs.get(&id).map(|v| &v.counters)
    }

    // --- interfaces ------------------------------------------------------------------

    /// Binds an interface to a VR (which must exist) or to the trunk.
    pub fn bind_interface(&mut self, key: IfKey, binding: IfBinding) -> Result<(), StateError> {
        key.check()?;
        if let IfBinding::Vr(vr) = binding {
            if !self.vrs.contains_key(&vr) {
                return Err(StateError::BindingToUnknownVr { key, vr });
            }
        }
        self.interfaces.bind(key, binding)?;
        self.interfaces_pub = None;
        self.changed = true;
        Ok(())
    }

    /// Unbinds an interface; returns what it was bound to.
    pub fn unbind_interface(&mut self, key: &IfKey) -> Result<IfBinding, StateError> {
        let b = self.interfaces.unbind(key)?;
        self.interfaces_pub = None;
        self.changed = true;
        Ok(b)
    }

    /// The binding of an interface.
    pub fn interface(&self, key: &IfKey) -> Option<IfBinding> {
        self.interfaces.get(key)
    }

    /// Every interface binding.
    pub fn interfaces(&self) -> impl Iterator<Item = (IfKey, IfBinding)> + '_ {
        self.interfaces.iter()
    }

    // --- sessions ----------------------------------------------------------------------

    /// Binds a session to a VR (which must exist), terminated there; the session must not
    /// be bound. A `relay` in `binding` is ignored (cleared): only
    /// [`bind_session_relay`](Self::bind_session_relay) sets it.
    pub fn bind_session(
        &mut self,
        key: SessionKey,
        binding: SessionBinding,
    ) -> Result<(), StateError> {
        self.check_session_bind(key, &binding)?;
        self.sessions.insert(
            key,
            SessionBinding {
                relay: None,
                ..binding
            },
        );
        self.stats.session_changes += 1;
        self.changed = true;
        Ok(())
    }

    fn check_session_bind(
        &self,
        key: SessionKey,
        binding: &SessionBinding,
    ) -> Result<(), StateError> {
        if !self.vrs.contains_key(&binding.vr) {
            return Err(StateError::SessionToUnknownVr {
                key,
                vr: binding.vr,
            });
        }
        if let Some(b) = self.sessions.get(&key) {
            return Err(StateError::SessionBound { key, vr: b.vr });
        }
        Ok(())
    }

    /// Binds a session whose PPP frames the workers relay through `via`
    /// ([`NextHop::L2tp`] or [`NextHop::Pppoe`]; anything else is an error) instead of
    /// terminating them in `binding.vr` (which must exist, and owns the session: removing
    /// the VR unbinds it). `via` is interned (and resolved through neighbours like routes'
    /// next hops); the binding holds the reference, and [`unbind_session`](Self::unbind_session)
    /// releases it. The session must not be bound; `binding.relay` is set here.
    pub fn bind_session_relay(
        &mut self,
        key: SessionKey,
        binding: SessionBinding,
        via: NextHop,
    ) -> Result<(), StateError> {
        self.check_session_bind(key, &binding)?;
        if !via.is_session() {
            return Err(StateError::RelayNotSession {
                key,
                kind: via.kind(),
            });
        }
        let nh = self.next_hops.intern(via)?;
        self.sessions.insert(
            key,
            SessionBinding {
                relay: Some(nh),
                ..binding
            },
        );
        self.stats.session_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Unbinds a session (releasing its relay next hop, if any); returns its binding.
    pub fn unbind_session(&mut self, key: &SessionKey) -> Result<SessionBinding, StateError> {
        let b = self
            .sessions
            .remove(key)
            .ok_or(StateError::SessionNotBound(*key))?;
        if let Some(r) = b.relay {
            self.next_hops.release(r);
        }
        self.stats.session_changes += 1;
        self.changed = true;
        Ok(b)
    }

    /// Moves a terminated session to VR `to` (issue 11): its packets are routed in `to`
    /// from the next published version on; an L2TP session's tunnel stays in its VR
    /// ([`SessionBinding::tunnel_vr`]); its counters slot stays (its traffic counts on).
    /// Returns the VR it was routed in. A relayed session cannot move (its frames are not
    /// routed in any VR); the subscriber's routes are the caller's to move, in the same
    /// version.
    pub fn move_session(&mut self, key: &SessionKey, to: VrId) -> Result<VrId, StateError> {
        if !self.vrs.contains_key(&to) {
            return Err(StateError::SessionToUnknownVr { key: *key, vr: to });
        }
        let b = *self
            .sessions
            .get(key)
            .ok_or(StateError::SessionNotBound(*key))?;
        if b.relay.is_some() {
            return Err(StateError::MoveRelayed(*key));
        }
        self.sessions.insert(*key, SessionBinding { vr: to, ..b });
        self.stats.session_changes += 1;
        self.changed = true;
        Ok(b.vr)
    }

    /// Every bound session (in no particular order).
    pub fn sessions(&self) -> impl Iterator<Item = (&SessionKey, &SessionBinding)> + '_ {
        self.sessions.iter()
    }

    /// The binding of a session.
    pub fn session(&self, key: &SessionKey) -> Option<&SessionBinding> {
        self.sessions.get(key)
    }

    /// Number of bound sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    // --- ESP ---------------------------------------------------------------------------

    fn esp_tunnel_ok(&self, t: &EspTunnel) -> Result<(), StateError> {
        t.check()?;
        for vr in [t.vr, t.outer_vr] {
            if !self.vrs.contains_key(&vr) {
                return Err(EspError::UnknownVr {
                    name: t.name.to_string(),
                    vr,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Installs an inbound SA (both its VRs must exist), replacing the one of the same SPI
    /// in the same outer VR (another VR's SA of that SPI is another SA).
    pub fn set_esp_inbound(&mut self, t: Arc<EspTunnel>) -> Result<(), StateError> {
        self.esp_tunnel_ok(&t)?;
        self.esp
            .inbound
            .insert(InboundKey::new(t.outer_vr, t.sa.spi()), t);
        self.stats.esp_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Removes the inbound SA of `k` (outer VR and SPI); returns it.
    pub fn remove_esp_inbound(&mut self, k: InboundKey) -> Result<Arc<EspTunnel>, StateError> {
        let t = self
            .esp
            .inbound
            .remove(&k)
            .ok_or_else(|| EspError::NotInstalled(format!("inbound ESP SA of {k}")))?;
        self.stats.esp_changes += 1;
        self.changed = true;
        Ok(t)
    }

    /// Installs the outbound SA `id` of the tunnel's VR (both its VRs must exist),
    /// replacing the one there (a rekey: the VR's routes through `id` carry on with the new
    /// SA). Another VR's SA `id` is another SA.
    pub fn set_esp_outbound(&mut self, id: EspSaId, t: Arc<EspTunnel>) -> Result<(), StateError> {
        self.esp_tunnel_ok(&t)?;
        self.esp.outbound.insert(OutboundKey::new(t.vr, id), t);
        self.stats.esp_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Removes the outbound SA `k` (VR and id); the VR's routes through it then drop
    /// (`esp_no_sa`).
    pub fn remove_esp_outbound(&mut self, k: OutboundKey) -> Result<Arc<EspTunnel>, StateError> {
        let t = self
            .esp
            .outbound
            .remove(&k)
            .ok_or_else(|| EspError::NotInstalled(k.to_string()))?;
        self.stats.esp_changes += 1;
        self.changed = true;
        Ok(t)
    }

    /// The inbound SA of `k` (outer VR and SPI).
    pub fn esp_inbound(&self, k: InboundKey) -> Option<&Arc<EspTunnel>> {
        self.esp.inbound.get(&k)
    }

    /// The outbound SA `k` (VR and id).
    pub fn esp_outbound(&self, k: OutboundKey) -> Option<&Arc<EspTunnel>> {
        self.esp.outbound.get(&k)
    }

    /// Every inbound SA.
    pub fn esp_inbound_all(&self) -> impl Iterator<Item = &Arc<EspTunnel>> + '_ {
        self.esp.inbound.iter().map(|(_, t)| t)
    }

    /// Every outbound SA with its id (its VR is the tunnel's `vr`).
    pub fn esp_outbound_all(&self) -> impl Iterator<Item = (EspSaId, &Arc<EspTunnel>)> + '_ {
        self.esp.outbound.iter().map(|(k, t)| (k.id, t))
    }

    // --- IP-in-IP tunnels -------------------------------------------------------------------

    fn ipip_tunnel_ok(&self, t: &IpIpTunnel) -> Result<(), StateError> {
        t.check()?;
        for vr in [t.vr, t.outer_vr] {
            if !self.vrs.contains_key(&vr) {
                return Err(IpIpError::UnknownVr {
                    name: t.name.to_string(),
                    vr,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Installs the outbound IP-in-IP tunnel `id` of the tunnel's VR (both its VRs must
    /// exist), replacing the one there (the VR's routes through `id` carry on with the new
    /// one). Another VR's tunnel `id` is another tunnel.
    pub fn set_ipip_outbound(
        &mut self,
        id: crate::ipip::IpIpId,
        t: Arc<IpIpTunnel>,
    ) -> Result<(), StateError> {
        self.ipip_tunnel_ok(&t)?;
        self.ipip.outbound.insert(IpIpKey::new(t.vr, id), t);
        self.stats.ipip_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Removes the outbound IP-in-IP tunnel `k`; the VR's routes through it then drop
    /// (`ipip_no_tunnel`).
    pub fn remove_ipip_outbound(&mut self, k: IpIpKey) -> Result<Arc<IpIpTunnel>, StateError> {
        let t = self
            .ipip
            .outbound
            .remove(&k)
            .ok_or_else(|| IpIpError::NotInstalled(k.to_string()))?;
        self.stats.ipip_changes += 1;
        self.changed = true;
        Ok(t)
    }

    /// Installs an inbound IP-in-IP tunnel (both its VRs must exist): packets from its
    /// `remote` to its `local` arriving in its `outer_vr` are decapsulated into its `vr`.
    /// Replaces the one of the same remote in the same outer VR.
    pub fn set_ipip_inbound(&mut self, t: Arc<IpIpTunnel>) -> Result<(), StateError> {
        self.ipip_tunnel_ok(&t)?;
        self.ipip
            .inbound
            .insert(IpIpInboundKey::new(t.outer_vr, t.remote), t);
        self.stats.ipip_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Removes the inbound IP-in-IP tunnel of `k`; returns it.
    pub fn remove_ipip_inbound(
        &mut self,
        k: IpIpInboundKey,
    ) -> Result<Arc<IpIpTunnel>, StateError> {
        let t = self
            .ipip
            .inbound
            .remove(&k)
            .ok_or_else(|| IpIpError::NotInstalled(k.to_string()))?;
        self.stats.ipip_changes += 1;
        self.changed = true;
        Ok(t)
    }

    /// The outbound IP-in-IP tunnel `k`.
    pub fn ipip_outbound(&self, k: IpIpKey) -> Option<&Arc<IpIpTunnel>> {
        self.ipip.outbound.get(&k)
    }

    /// The inbound IP-in-IP tunnel of `k`.
    pub fn ipip_inbound(&self, k: IpIpInboundKey) -> Option<&Arc<IpIpTunnel>> {
        self.ipip.inbound.get(&k)
    }

    // --- source selections ------------------------------------------------------------------

    /// Installs the source selection `id` of the selection's VR (the VR must exist, the
    /// entries must send into ESP SAs or IP-in-IP tunnels), replacing the one there (the
    /// VR's routes through `id` carry on with the new entries). The SAs and tunnels the
    /// entries name need not be installed yet: a packet selecting a missing one is dropped
    /// as a route into it would be (`esp_no_sa`, `ipip_no_tunnel`).
    pub fn set_source_routes(
        &mut self,
        id: SourceRouteId,
        s: Arc<SourceRoutes>,
    ) -> Result<(), StateError> {
        s.check()?;
        if !self.vrs.contains_key(&s.vr) {
            return Err(SourceRouteError::UnknownVr {
                name: s.name.to_string(),
                vr: s.vr,
            }
            .into());
        }
        self.source_routes.insert(SourceRouteKey::new(s.vr, id), s);
        self.stats.source_route_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Removes the source selection `k`; the VR's routes through it then drop
    /// (`source_route_unknown`).
    pub fn remove_source_routes(
        &mut self,
        k: SourceRouteKey,
    ) -> Result<Arc<SourceRoutes>, StateError> {
        let s = self
            .source_routes
            .remove(&k)
            .ok_or_else(|| SourceRouteError::NotInstalled(k.to_string()))?;
        self.stats.source_route_changes += 1;
        self.changed = true;
        Ok(s)
    }

    /// The source selection `k`.
    pub fn source_routes(&self, k: SourceRouteKey) -> Option<&Arc<SourceRoutes>> {
        self.source_routes.get(&k)
    }

    // --- replay hops ---------------------------------------------------------------------

    /// Installs the replay hop `id` of the hop's VR (the VR must exist, the hop must be a
    /// resolved link neighbour), replacing the one there. The VR's routes through `id`
    /// carry on with the new hop (and its ring: give the old ring to keep what it holds).
    pub fn set_replay(&mut self, id: ReplayId, r: Arc<ReplayHop>) -> Result<(), StateError> {
        r.check()?;
        if let NextHop::Forward { port, .. } = r.hop {
            self.next_hops.port_ok(port)?;
        }
        if !self.vrs.contains_key(&r.vr) {
            return Err(ReplayError::UnknownVr {
                name: r.name.to_string(),
                vr: r.vr,
            }
            .into());
        }
        self.replays.insert(ReplayKey::new(r.vr, id), r);
        self.stats.replay_changes += 1;
        self.changed = true;
        Ok(())
    }

    /// Removes the replay hop `k`; the VR's routes through it then drop
    /// (`replay_hop_unknown`). Returns it (its ring still holds what it kept).
    pub fn remove_replay(&mut self, k: ReplayKey) -> Result<Arc<ReplayHop>, StateError> {
        let r = self
            .replays
            .remove(&k)
            .ok_or_else(|| ReplayError::NotInstalled(k.to_string()))?;
        self.stats.replay_changes += 1;
        self.changed = true;
        Ok(r)
    }

    /// The replay hop `k`.
    pub fn replay(&self, k: ReplayKey) -> Option<&Arc<ReplayHop>> {
        self.replays.get(&k)
    }

    // --- session counters ----------------------------------------------------------------

    /// Sizes the per-session traffic counters for `slots` sessions. Only before the first
    /// slot is handed out (false otherwise); the next published version carries them.
    pub fn set_session_counter_slots(&mut self, slots: usize) -> bool {
        if self.counter_next != 0 {
            return false;
        }
        self.session_counters = Arc::new(SessionCounters::new(self.workers, slots));
        self.changed = true;
        true
    }

    /// Hands out a counter slot for a new session (`None` when all are in use: the
    /// session is then not counted, which the caller counts).
    pub fn alloc_session_counters(&mut self) -> Option<u32> {
        let slot = match self.counter_free.pop() {
            Some(s) => s,
            None if (self.counter_next as usize) < self.session_counters.slots() => {
                self.counter_next += 1;
                self.counter_base.push([0; 4]);
                self.counter_next - 1
            }
            None => return None,
        };
        self.counter_base[slot as usize] = self.session_counters.read(slot);
        Some(slot)
    }

    /// Gives a slot back (after its last reading).
    pub fn free_session_counters(&mut self, slot: u32) {
        if (slot as usize) < self.counter_base.len() && !self.counter_free.contains(&slot) {
            self.counter_free.push(slot);
        }
    }

    /// The traffic of the session holding `slot` since it got it: packets and bytes from
    /// and to the subscriber (indices of [`crate::counters::session_counter`]).
    pub fn session_traffic(&self, slot: u32) -> [u64; 4] {
        let Some(base) = self.counter_base.get(slot as usize) else {
            return [0; 4];
        };
        let now = self.session_counters.read(slot);
        std::array::from_fn(|i| now[i].wrapping_sub(base[i]))
    }

    /// Counter slots in use and in all.
    pub fn session_counter_use(&self) -> (usize, usize) {
        (
            self.counter_next as usize - self.counter_free.len(),
            self.session_counters.slots(),
        )
    }

    // --- routes --------------------------------------------------------------------------

    /// Adds or replaces the route of `prefix` from `source` in VR `vr`, through next hop
    /// `via` (interned; see [`NextHopPool`]).
    pub fn set_route(
        &mut self,
        vr: VrId,
        prefix: IpPrefix,
        source: RouteSource,
        via: NextHop,
    ) -> Result<(), StateError> {
        if !self.vrs.contains_key(&vr) {
            return Err(StateError::UnknownVr(vr));
        }
        let nh = self.next_hops.intern(via)?;
        let st = self.vrs.get_mut(&vr).expect("checked above");
        let old = match prefix {
            IpPrefix::V4(p) => {
                let old = st.rib.v4.replace(p, source, nh);
                refresh(&st.rib.v4, &mut st.fib4, p);
                note_local4(&st.rib.v4, &mut st.local4, p);
                old
            }
            IpPrefix::V6(p) => {
                let old = st.rib.v6.replace(p, source, nh);
                refresh(&st.rib.v6, &mut st.fib6, p);
                old
            }
        };
        if let Some(old) = old {
            self.next_hops.release(old);
        }
        self.dirty_vrs.insert(vr);
        self.changed = true;
        Ok(())
    }

    /// Removes the route of `prefix` from `source` in VR `vr`.
    pub fn remove_route(
        &mut self,
        vr: VrId,
        prefix: IpPrefix,
        source: RouteSource,
    ) -> Result<(), StateError> {
        let st = self.vrs.get_mut(&vr).ok_or(StateError::UnknownVr(vr))?;
        let nh = match prefix {
            IpPrefix::V4(p) => {
                let nh = st.rib.v4.remove(p, source);
                refresh(&st.rib.v4, &mut st.fib4, p);
                note_local4(&st.rib.v4, &mut st.local4, p);
                nh
            }
            IpPrefix::V6(p) => {
                let nh = st.rib.v6.remove(p, source);
                refresh(&st.rib.v6, &mut st.fib6, p);
                nh
            }
        }
        .map_err(|err| StateError::Route { vr, err })?;
        self.next_hops.release(nh);
        self.dirty_vrs.insert(vr);
        self.changed = true;
        Ok(())
    }

    /// The route of `prefix` from `source` in `vr`: its next hop's specification.
    pub fn route(&self, vr: VrId, prefix: IpPrefix, source: RouteSource) -> Option<NextHop> {
        let st = self.vrs.get(&vr)?;
        let nh = match prefix {
            IpPrefix::V4(p) => st.rib.v4.get(&p, source),
            IpPrefix::V6(p) => st.rib.v6.get(&p, source),
        }?;
        self.next_hops.spec(nh).copied()
    }

    /// Every route of `vr` (all sources) with its next hop's specification.
    pub fn routes(&self, vr: VrId) -> impl Iterator<Item = (IpPrefix, RouteSource, NextHop)> + '_ {
        let st = self.vrs.get(&vr);
        let v4 = st.into_iter().flat_map(|s| {
            s.rib
                .v4
                .iter()
                .map(|(p, src, nh)| (IpPrefix::V4(p), src, nh))
        });
        let v6 = st.into_iter().flat_map(|s| {
            s.rib
                .v6
                .iter()
                .map(|(p, src, nh)| (IpPrefix::V6(p), src, nh))
        });
        v4.chain(v6)
            .filter_map(|(p, src, nh)| self.next_hops.spec(nh).map(|spec| (p, src, *spec)))
    }

    /// Number of prefixes routed in `vr` (both families).
    pub fn route_count(&self, vr: VrId) -> usize {
        self.vrs
            .get(&vr)
            .map_or(0, |s| s.rib.v4.len() + s.rib.v6.len())
    }

    // --- labels ---------------------------------------------------------------------------

    /// Binds `label` to `action`, replacing what it had.
    pub fn set_label(&mut self, label: Label, action: LabelAction) -> Result<(), StateError> {
        if label.is_reserved() {
            return Err(MatrixError::Reserved(label).into());
        }
        if let LabelAction::Swap { via, .. } | LabelAction::PopAndForward { via } = action {
            if via.is_encapsulation() {
                return Err(StateError::LabelIntoSession {
                    label,
                    kind: via.kind(),
                });
            }
        }
        let op = match action {
            LabelAction::Swap { out, via } => LabelOp::Swap {
                out,
                next_hop: self.next_hops.intern(via)?.0,
            },
            LabelAction::PopAndForward { via } => LabelOp::PopAndForward {
                next_hop: self.next_hops.intern(via)?.0,
            },
            LabelAction::PopToVr(vr) => {
                if !self.vrs.contains_key(&vr) {
                    return Err(StateError::LabelToUnknownVr { label, vr });
                }
                LabelOp::PopToVr { vr: vr.0 }
            }
            LabelAction::Pop => LabelOp::Pop,
        };
        if let Some(old) = self.labels.insert(label, op) {
            release_label(&mut self.next_hops, old);
        }
        self.labels_pub = None;
        self.changed = true;
        Ok(())
    }

    /// Unbinds `label`.
    pub fn remove_label(&mut self, label: Label) -> Result<(), StateError> {
        let op = self
            .labels
            .remove(&label)
            .ok_or(StateError::LabelNotBound(label))?;
        release_label(&mut self.next_hops, op);
        self.labels_pub = None;
        self.changed = true;
        Ok(())
    }

    /// Every bound label with its operation as the data plane sees it.
    pub fn labels(&self) -> impl Iterator<Item = (Label, LabelOp)> + '_ {
        self.labels.iter().map(|(l, op)| (*l, *op))
    }

    // --- neighbours -------------------------------------------------------------------------

    /// Records (`Some`) or withdraws (`None`) a neighbour's MAC: every next hop through it
    /// follows. Returns how many next hops changed.
    pub fn set_neighbor(&mut self, key: NeighborKey, mac: Option<[u8; 6]>) -> usize {
        let n = self.next_hops.set_neighbor(key, mac);
        if n > 0 {
            self.changed = true;
        }
        n
    }

    /// The next-hop pool (read-only).
    pub fn next_hops(&self) -> &NextHopPool {
        &self.next_hops
    }

    // --- transactions ---------------------------------------------------------------------

    /// Applies `changes` in order, all or nothing: they are checked against the current
    /// state first, and nothing is changed when one of them would fail. Returns the index
    /// of the refused change with its error.
    pub fn apply(&mut self, changes: &[Change]) -> Result<(), (usize, StateError)> {
        self.check(changes)?;
        for (i, c) in changes.iter().enumerate() {
            self.apply_one(c).map_err(|e| {
                // The check above models every failure `apply_one` can report; reaching
                // this means the model and the writer disagree.
                self.stats.refused += 1;
                (i, e)
            })?;
        }
        Ok(())
    }

    /// Applies one change.
    pub fn apply_one(&mut self, c: &Change) -> Result<(), StateError> {
        let r = match c {
            Change::AddVr(v) => self.add_vr(v.clone()),
            Change::RemoveVr(id) => self.remove_vr(*id).map(|_| ()),
            Change::SetTenant(id, t) => self.set_tenant(*id, t),
            Change::Bind(k, b) => self.bind_interface(*k, *b),
            Change::Unbind(k) => self.unbind_interface(k).map(|_| ()),
            Change::SetRoute {
                vr,
                prefix,
                source,
                via,
            } => self.set_route(*vr, *prefix, *source, *via),
            Change::RemoveRoute { vr, prefix, source } => self.remove_route(*vr, *prefix, *source),
            Change::SetLabel(l, a) => self.set_label(*l, *a),
            Change::RemoveLabel(l) => self.remove_label(*l),
            Change::SetNeighbor(k, m) => {
                self.set_neighbor(*k, *m);
                Ok(())
            }
            Change::BindSession(k, b) => self.bind_session(*k, *b),
            Change::BindSessionRelay(k, b, via) => self.bind_session_relay(*k, *b, *via),
            Change::UnbindSession(k) => self.unbind_session(k).map(|_| ()),
            Change::SetEspInbound(t) => self.set_esp_inbound(Arc::clone(t)),
            Change::RemoveEspInbound(k) => self.remove_esp_inbound(*k).map(|_| ()),
            Change::SetEspOutbound(id, t) => self.set_esp_outbound(*id, Arc::clone(t)),
            Change::RemoveEspOutbound(k) => self.remove_esp_outbound(*k).map(|_| ()),
        };
        if r.is_err() {
            self.stats.refused += 1;
        }
        r
    }

    /// Checks `changes` as [`apply`](Self::apply) would apply them, without changing
    /// anything.
    pub fn check(&self, changes: &[Change]) -> Result<(), (usize, StateError)> {
        let mut m = Model::new(self);
        for (i, c) in changes.iter().enumerate() {
            m.step(c).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    // --- publication ------------------------------------------------------------------------

    /// True when something changed since the last commit.
    pub fn has_changes(&self) -> bool {
        self.changed
    }

    /// Compiles what changed into a new version; `None` when nothing changed.
    pub fn commit(&mut self) -> Option<ForwardingState> {
        if !self.changed {
            return None;
        }
        Some(self.snapshot())
    }

    /// Compiles the current contents into a version even when nothing changed since the
    /// last one (a reader that starts late, a benchmark that looks before it runs).
    pub fn snapshot(&mut self) -> ForwardingState {
        for id in std::mem::take(&mut self.dirty_vrs) {
            let Some(st) = self.vrs.get_mut(&id) else {
                continue;
            };
            let f4 = st.fib4.commit();
            let f6 = st.fib6.commit();
            self.stats.fib_commits += u64::from(f4.is_some()) + u64::from(f6.is_some());
            let entry = VrEntry {
                info: Arc::clone(&st.info),
                fib4: Arc::clone(st.fib4.current()),
                fib6: Arc::clone(st.fib6.current()),
                counters: Arc::clone(&st.counters),
                local4: st.local4.iter().take(LOCAL_HOSTS).copied().collect(),
                esp_hold: st.esp_hold,
            };
            self.vr_table.set(id.0 as usize, Some(Arc::new(entry)));
        }
        let interfaces = match &self.interfaces_pub {
            Some(t) => Arc::clone(t),
            None => {
                self.stats.interface_rebuilds += 1;
                let t = Arc::new(self.interfaces.build());
                self.interfaces_pub = Some(Arc::clone(&t));
                t
            }
        };
        let labels = match &self.labels_pub {
            Some(t) => Arc::clone(t),
            None => {
                self.stats.label_rebuilds += 1;
                let mut b = LabelMatrixBuilder::new();
                for (l, op) in &self.labels {
                    // Reserved labels are refused by `set_label`; nothing else can fail.
                    let _ = b.insert(*l, *op);
                }
                let t = Arc::new(b.build());
                self.labels_pub = Some(Arc::clone(&t));
                t
            }
        };
        self.version += 1;
        self.changed = false;
        self.stats.commits += 1;
        ForwardingState {
            version: self.version,
            interfaces,
            sessions: self.sessions.publish(),
            session_counters: Arc::clone(&self.session_counters),
            next_hops: self.next_hops.publish(),
            labels,
            esp: self.esp.publish(),
            ipip: self.ipip.publish(),
            source_routes: self.source_routes.publish(),
            replays: self.replays.publish(),
            vrs: self.vr_table.publish(),
            vr_count: self.vrs.len(),
        }
    }
}

/// Brings the FIB entry of `prefix` in line with the RIB's best route.
/// Keeps `local` (the VR's [`VrState::local4`]) in step with the RIB after a change of
/// `prefix`: a /32 whose best route is `Local` is in, any other is out.
fn note_local4(rib: &crate::rib::RibTable<u32>, local: &mut BTreeSet<u32>, prefix: Prefix4) {
    if prefix.len() != 32 {
        return;
    }
    if matches!(rib.best(&prefix), Some((_, nh)) if nh == NextHopTable::LOCAL) {
        local.insert(prefix.addr());
    } else {
        local.remove(&prefix.addr());
    }
}

fn refresh<A: crate::fib::poptrie::TrieKey>(
    rib: &crate::rib::RibTable<A>,
    fib: &mut IncrementalFib<A>,
    prefix: crate::fib::Prefix<A>,
) {
    match rib.best(&prefix) {
        Some((_, nh)) => {
            fib.set(prefix, nh);
        }
        None => {
            fib.delete(&prefix);
        }
    }
}

/// An SA in [`Model`]: (outbound?, the outer VR of an inbound SA or the VR of an outbound
/// one, the SPI or id).
type EspKey = (bool, VrId, u32);

/// The existence model [`StateWriter::check`] runs a change list against: what the writer
/// would refuse, with the changes before it taken into account.
struct Model<'a> {
    w: &'a StateWriter,
    /// VR id → its name (`None`: removed) for VRs the list added or removed.
    vrs: HashMap<VrId, Option<String>>,
    /// Name → owner (`None`: freed) for names the list took or freed.
    names: HashMap<String, Option<VrId>>,
    ifs: BTreeMap<IfKey, Option<IfBinding>>,
    /// Label → `None` unbound, `Some(Some(vr))` pops into `vr`, `Some(None)` other.
    labels: BTreeMap<Label, Option<Option<VrId>>>,
    sessions: BTreeMap<SessionKey, Option<VrId>>,
    routes: BTreeMap<(VrId, IpPrefix, RouteSource), bool>,
    /// (outbound?, its key's VR, SPI or id) → the installed SA's VR and outer VR (`None`:
    /// removed), for SAs the list touched or whose VR it removed. The key's VR is the outer
    /// VR of an inbound SA, the VR of an outbound one.
    esp: BTreeMap<EspKey, Option<(VrId, VrId)>>,
}

impl<'a> Model<'a> {
    fn new(w: &'a StateWriter) -> Self {
        Model {
            w,
            vrs: HashMap::new(),
            names: HashMap::new(),
            ifs: BTreeMap::new(),
            labels: BTreeMap::new(),
            sessions: BTreeMap::new(),
            routes: BTreeMap::new(),
            esp: BTreeMap::new(),
        }
    }

    fn vr_name(&self, id: VrId) -> Option<String> {
        match self.vrs.get(&id) {
            Some(n) => n.clone(),
            None => self.w.registry.get(id).map(|x| x.name.clone()),
        }
    }

    fn vr(&self, id: VrId) -> bool {
        self.vr_name(id).is_some()
    }

    fn name_owner(&self, name: &str) -> Option<VrId> {
        match self.names.get(name) {
            Some(o) => *o,
            None => self.w.registry.by_name(name).map(|x| x.id),
        }
    }

    /// `None`: unbound; `Some(Some(vr))`: pops into `vr`; `Some(None)`: another operation.
    fn label(&self, l: &Label) -> Option<Option<VrId>> {
        match self.labels.get(l) {
            Some(x) => *x,
            None => self.w.labels.get(l).map(|op| match op {
                LabelOp::PopToVr { vr } => Some(VrId(*vr)),
                _ => None,
            }),
        }
    }

    /// The VR and outer VR of the SA (outbound or inbound) installed at this point of the
    /// list: the list's own changes (removals of its VRs included), else the writer's.
    fn esp_sa(&self, k: EspKey) -> Option<(VrId, VrId)> {
        if let Some(t) = self.esp.get(&k) {
            return *t;
        }
        let (outbound, vr, key) = k;
        let t = if outbound {
            self.w.esp_outbound(OutboundKey::new(vr, EspSaId(key)))
        } else {
            self.w.esp_inbound(InboundKey::new(vr, key))
        };
        t.map(|t| (t.vr, t.outer_vr))
    }

    fn session(&self, k: &SessionKey) -> Option<VrId> {
        match self.sessions.get(k) {
            Some(v) => *v,
            None => self.w.session(k).map(|b| b.vr),
        }
    }

    fn iface(&self, k: &IfKey) -> Option<IfBinding> {
        match self.ifs.get(k) {
            Some(b) => *b,
            None => self.w.interface(k),
        }
    }

    fn route(&self, vr: VrId, p: IpPrefix, s: RouteSource) -> bool {
        match self.routes.get(&(vr, p, s)) {
            Some(b) => *b,
            // A VR the list added or removed has no routes of the writer's.
            None => !self.vrs.contains_key(&vr) && self.w.route(vr, p, s).is_some(),
        }
    }

    /// What [`NextHopPool::intern`] refuses. (It returns an equal next hop already
    /// interned without checking again, but only valid next hops are ever interned.)
    fn next_hop_ok(&self, nh: &NextHop) -> Result<(), StateError> {
        let port = match nh {
            NextHop::Forward { port, .. } | NextHop::Unresolved { port, .. } => *port,
            NextHop::L2tp(e) => e.port,
            NextHop::Pppoe(e) => e.port,
            NextHop::Drop
            | NextHop::Local
            | NextHop::Esp(_)
            | NextHop::IpIp(_)
            | NextHop::BySource(_)
            | NextHop::Replayable(_) => return Ok(()),
        };
        if usize::from(port.0) >= self.w.next_hops.port_count() {
            return Err(NextHopError::UnknownPort(port).into());
        }
        if let NextHop::Pppoe(e) = nh {
            e.check()?;
        }
        Ok(())
    }

    fn session_bind_ok(&self, k: &SessionKey, b: &SessionBinding) -> Result<(), StateError> {
        if !self.vr(b.vr) {
            return Err(StateError::SessionToUnknownVr { key: *k, vr: b.vr });
        }
        if let Some(vr) = self.session(k) {
            return Err(StateError::SessionBound { key: *k, vr });
        }
        Ok(())
    }

    fn step(&mut self, c: &Change) -> Result<(), StateError> {
        match c {
            Change::AddVr(v) => {
                if v.id.0 > MAX_VR_ID {
                    return Err(StateError::VrIdTooLarge(v.id));
                }
                if v.name.is_empty() {
                    return Err(RegistryError::EmptyName(v.id).into());
                }
                if let Some(name) = self.vr_name(v.id) {
                    return Err(RegistryError::DuplicateId { id: v.id, name }.into());
                }
                if let Some(id) = self.name_owner(&v.name) {
                    return Err(RegistryError::DuplicateName {
                        name: v.name.clone(),
                        id,
                    }
                    .into());
                }
                self.vrs.insert(v.id, Some(v.name.clone()));
                self.names.insert(v.name.clone(), Some(v.id));
                // A VR created here starts without routes.
                self.routes.retain(|(vr, _, _), _| *vr != v.id);
            }
            Change::SetTenant(id, _) => {
                if !self.vr(*id) {
                    return Err(StateError::UnknownVr(*id));
                }
            }
            Change::RemoveVr(id) => {
                let Some(name) = self.vr_name(*id) else {
                    return Err(StateError::UnknownVr(*id));
                };
                self.vrs.insert(*id, None);
                self.names.insert(name, None);
                // Its bindings go with it.
                let gone: Vec<IfKey> = self
                    .w
                    .interfaces()
                    .map(|(k, _)| k)
                    .chain(self.ifs.keys().copied())
                    .filter(|k| self.iface(k) == Some(IfBinding::Vr(*id)))
                    .collect();
                for k in gone {
                    self.ifs.insert(k, None);
                }
                self.routes.retain(|(vr, _, _), _| vr != id);
                let labels: Vec<Label> = self
                    .w
                    .labels
                    .keys()
                    .chain(self.labels.keys())
                    .filter(|l| self.label(l) == Some(Some(*id)))
                    .copied()
                    .collect();
                for l in labels {
                    self.labels.insert(l, None);
                }
                let sessions: Vec<SessionKey> = self
                    .w
                    .sessions
                    .iter()
                    .map(|(k, _)| k)
                    .chain(self.sessions.keys())
                    .filter(|k| self.session(k) == Some(*id))
                    .copied()
                    .collect();
                for k in sessions {
                    self.sessions.insert(k, None);
                }
                // Its ESP SAs (as VR or outer VR) too, the list's own included.
                let sas: Vec<EspKey> = self
                    .w
                    .esp_inbound_all()
                    .map(|t| (false, t.outer_vr, t.sa.spi()))
                    .chain(self.w.esp_outbound_all().map(|(sa, t)| (true, t.vr, sa.0)))
                    .chain(self.esp.keys().copied())
                    .filter(|k| {
                        self.esp_sa(*k)
                            .is_some_and(|(vr, outer)| vr == *id || outer == *id)
                    })
                    .collect();
                for k in sas {
                    self.esp.insert(k, None);
                }
            }
            Change::Bind(k, b) => {
                k.check()?;
                if let IfBinding::Vr(vr) = b {
                    if !self.vr(*vr) {
                        return Err(StateError::BindingToUnknownVr { key: *k, vr: *vr });
                    }
                }
                if let Some(existing) = self.iface(k) {
                    return Err(IfError::AlreadyBound { key: *k, existing }.into());
                }
                self.ifs.insert(*k, Some(*b));
            }
            Change::Unbind(k) => {
                if self.iface(k).is_none() {
                    return Err(IfError::NotBound(*k).into());
                }
                self.ifs.insert(*k, None);
            }
            Change::SetRoute {
                vr,
                prefix,
                source,
                via,
            } => {
                if !self.vr(*vr) {
                    return Err(StateError::UnknownVr(*vr));
                }
                self.next_hop_ok(via)?;
                self.routes.insert((*vr, *prefix, *source), true);
            }
            Change::RemoveRoute { vr, prefix, source } => {
                if !self.vr(*vr) {
                    return Err(StateError::UnknownVr(*vr));
                }
                if !self.route(*vr, *prefix, *source) {
                    return Err(StateError::Route {
                        vr: *vr,
                        err: RibError::NotFound {
                            prefix: prefix.to_string(),
                            route_source: *source,
                        },
                    });
                }
                self.routes.insert((*vr, *prefix, *source), false);
            }
            Change::SetLabel(l, a) => {
                if l.is_reserved() {
                    return Err(MatrixError::Reserved(*l).into());
                }
                match a {
                    LabelAction::Swap { via, .. } | LabelAction::PopAndForward { via } => {
                        if via.is_encapsulation() {
                            return Err(StateError::LabelIntoSession {
                                label: *l,
                                kind: via.kind(),
                            });
                        }
                        self.next_hop_ok(via)?
                    }
                    LabelAction::PopToVr(vr) if !self.vr(*vr) => {
                        return Err(StateError::LabelToUnknownVr { label: *l, vr: *vr })
                    }
                    _ => {}
                }
                let pops = match a {
                    LabelAction::PopToVr(vr) => Some(*vr),
                    _ => None,
                };
                self.labels.insert(*l, Some(pops));
            }
            Change::RemoveLabel(l) => {
                if self.label(l).is_none() {
                    return Err(StateError::LabelNotBound(*l));
                }
                self.labels.insert(*l, None);
            }
            Change::SetNeighbor(..) => {}
            Change::BindSession(k, b) => {
                self.session_bind_ok(k, b)?;
                self.sessions.insert(*k, Some(b.vr));
            }
            Change::BindSessionRelay(k, b, via) => {
                self.session_bind_ok(k, b)?;
                if !via.is_session() {
                    return Err(StateError::RelayNotSession {
                        key: *k,
                        kind: via.kind(),
                    });
                }
                self.next_hop_ok(via)?;
                self.sessions.insert(*k, Some(b.vr));
            }
            Change::UnbindSession(k) => {
                if self.session(k).is_none() {
                    return Err(StateError::SessionNotBound(*k));
                }
                self.sessions.insert(*k, None);
            }
            Change::SetEspInbound(t) | Change::SetEspOutbound(_, t) => {
                t.check()?;
                for vr in [t.vr, t.outer_vr] {
                    if !self.vr(vr) {
                        return Err(EspError::UnknownVr {
                            name: t.name.to_string(),
                            vr,
                        }
                        .into());
                    }
                }
                let key = match c {
                    Change::SetEspOutbound(id, _) => (true, t.vr, id.0),
                    _ => (false, t.outer_vr, t.sa.spi()),
                };
                self.esp.insert(key, Some((t.vr, t.outer_vr)));
            }
            Change::RemoveEspInbound(k) => {
                let key = (false, k.outer_vr, k.spi);
                if self.esp_sa(key).is_none() {
                    return Err(EspError::NotInstalled(format!("inbound ESP SA of {k}")).into());
                }
                self.esp.insert(key, None);
            }
            Change::RemoveEspOutbound(k) => {
                let key = (true, k.vr, k.id.0);
                if self.esp_sa(key).is_none() {
                    return Err(EspError::NotInstalled(k.to_string()).into());
                }
                self.esp.insert(key, None);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PortId;
    use crate::nexthop::LabelPush;
    use crate::registry::VpnId;
    use std::net::{IpAddr, Ipv4Addr};

    const MACS: [[u8; 6]; 2] = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];

    fn l(v: u32) -> Label {
        Label::new(v).unwrap()
    }

    fn vr(id: u32, name: &str) -> VirtualRouter {
        VirtualRouter::new(VrId(id), name, VpnId::new(0xa0c9, id).unwrap(), "t")
    }

    fn p(s: &str) -> IpPrefix {
        s.parse().unwrap()
    }

    fn via(ip: [u8; 4], push: LabelPush) -> NextHop {
        NextHop::Unresolved {
            port: PortId(0),
            vlan: None,
            via: IpAddr::V4(Ipv4Addr::from(ip)),
            push,
        }
    }

    fn sess(t: u16, s: u16) -> SessionKey {
        SessionKey::L2tp {
            tunnel: t,
            session: s,
        }
    }

    fn pppoe_key(port: u16, s: u16) -> SessionKey {
        SessionKey::Pppoe {
            port: PortId(port),
            session: s,
        }
    }

    const SUB: [u8; 6] = [2, 0, 0, 0, 0xab, 1];

    /// `VrEntry::local4` follows the best route of each /32 through replacements and
    /// removals, holds at most `LOCAL_HOSTS` addresses, and every address it holds looks
    /// up to `LOCAL` (what lets the data path skip that lookup).
    #[test]
    fn local_hosts_follow_the_best_route() {
        let mut w = StateWriter::new(MACS.to_vec(), 1);
        w.add_vr(vr(1, "a")).unwrap();
        let a = VrId(1);
        let host = p("192.0.2.1/32");
        let addr = 0xc000_0201;
        // The published VR after a snapshot, checked: every listed address looks up LOCAL.
        let local = |w: &mut StateWriter| -> Arc<VrEntry> {
            let st = w.snapshot();
            let v = st.vr(a).unwrap();
            let e = Arc::new(VrEntry {
                info: Arc::clone(&v.info),
                fib4: Arc::clone(&v.fib4),
                fib6: Arc::clone(&v.fib6),
                counters: Arc::clone(&v.counters),
                local4: Arc::clone(&v.local4),
                esp_hold: v.esp_hold,
            });
            for x in e.local4.iter() {
                assert_eq!(e.lookup4(*x), Some(NextHopTable::LOCAL), "{x:#x}");
            }
            assert!(e.local4.windows(2).all(|p| p[0] < p[1]), "ascending");
            e
        };
        assert!(local(&mut w).local4.is_empty());
        w.set_route(a, host, RouteSource::Local, NextHop::Local)
            .unwrap();
        assert!(local(&mut w).is_local4(addr));
        // A static route beside it does not win over the local one.
        w.set_route(
            a,
            host,
            RouteSource::Static,
            via([10, 0, 0, 1], LabelPush::EMPTY),
        )
        .unwrap();
        assert!(local(&mut w).is_local4(addr));
        // Nor does a connected one (same distance; local first).
        w.set_route(
            a,
            host,
            RouteSource::Connected,
            via([10, 0, 0, 2], LabelPush::EMPTY),
        )
        .unwrap();
        assert!(local(&mut w).is_local4(addr));
        // Without the local route, the connected one is the best: not local any more.
        w.remove_route(a, host, RouteSource::Local).unwrap();
        let e = local(&mut w);
        assert!(!e.is_local4(addr));
        assert_ne!(e.lookup4(addr), Some(NextHopTable::LOCAL));
        w.set_route(a, host, RouteSource::Local, NextHop::Local)
            .unwrap();
        assert!(local(&mut w).is_local4(addr));
        // Replaced by a non-local next hop from the same source.
        w.set_route(a, host, RouteSource::Local, NextHop::Drop)
            .unwrap();
        assert!(!local(&mut w).is_local4(addr));
        // A local /24 is not a host: looked up as before.
        w.set_route(a, p("198.51.100.0/24"), RouteSource::Local, NextHop::Local)
            .unwrap();
        let e = local(&mut w);
        assert!(!e.is_local4(0xc633_6405));
        assert_eq!(e.lookup4(0xc633_6405), Some(NextHopTable::LOCAL));
        // More local hosts than published: the first LOCAL_HOSTS, the others by lookup.
        for i in 0..LOCAL_HOSTS as u32 + 3 {
            let h = IpPrefix::V4(Prefix4::new(0x0a09_0000 + i, 32).unwrap());
            w.set_route(a, h, RouteSource::Local, NextHop::Local)
                .unwrap();
        }
        let e = local(&mut w);
        assert_eq!(e.local4.len(), LOCAL_HOSTS);
        assert!(e.is_local4(0x0a09_0000) && !e.is_local4(0x0a09_0000 + LOCAL_HOSTS as u32));
    }

    fn to_subscriber(session: u16) -> NextHop {
        NextHop::Pppoe(crate::nexthop::PppoeEncap {
            port: PortId(1),
            vlan: Some(30),
            src_mac: [0; 6],
            dst_mac: SUB,
            session,
            counters: 0,
        })
    }

    fn to_lns(peer_session: u16) -> NextHop {
        NextHop::L2tp(crate::nexthop::L2tpEncap {
            port: PortId(0),
            vlan: None,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src_ip: Ipv4Addr::new(192, 0, 2, 1),
            dst_ip: Ipv4Addr::new(198, 51, 100, 9),
            via: Ipv4Addr::new(192, 0, 2, 2),
            counters: 1,
            src_port: 1701,
            dst_port: 1701,
            peer_tunnel: 40,
            peer_session,
        })
    }

    fn writer() -> StateWriter {
        let mut w = StateWriter::new(MACS.to_vec(), 2);
        w.add_vr(vr(7, "A")).unwrap();
        w.add_vr(vr(1_000_000, "B")).unwrap();
        let core = via([192, 0, 2, 2], LabelPush::one(l(2000)));
        w.set_route(VrId(7), p("0.0.0.0/0"), RouteSource::Static, core)
            .unwrap();
        w.set_route(VrId(7), p("::/0"), RouteSource::Static, NextHop::Drop)
            .unwrap();
        w.bind_interface(IfKey::PortVlan(PortId(1), 100), IfBinding::Vr(VrId(7)))
            .unwrap();
        w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Trunk)
            .unwrap();
        w.set_label(l(1000), LabelAction::PopToVr(VrId(7))).unwrap();
        w.set_label(
            l(1001),
            LabelAction::Swap {
                out: l(3000),
                via: via([192, 0, 2, 2], LabelPush::EMPTY),
            },
        )
        .unwrap();
        w
    }

    #[test]
    fn assemble_and_read() {
        let mut w = writer();
        let s = w.commit().unwrap();
        assert_eq!(s.version, 1);
        assert_eq!(s.vr_count(), 2);
        assert_eq!(
            s.interfaces.lookup_l2(PortId(1), Some(100)),
            Some(IfBinding::Vr(VrId(7)))
        );
        let a = s.vr(VrId(7)).unwrap();
        assert_eq!(a.info.name, "A");
        let nh = a.lookup4(0x0808_0808).unwrap();
        assert!(matches!(
            s.next_hop(nh),
            Some(NextHop::Unresolved { push, .. }) if push.len() == 1
        ));
        assert_eq!(a.lookup6(1), Some(NextHopTable::DROP));
        assert!(s.vr(VrId(1_000_000)).unwrap().fib4.is_empty());
        assert!(s.vr(VrId(8)).is_none());
        assert!(s.vr(VrId(u32::MAX)).is_none());
        assert_eq!(s.labels.lookup(l(1000)), Some(LabelOp::PopToVr { vr: 7 }));
        assert_eq!(
            s.vrs().map(|v| v.id()).collect::<Vec<_>>(),
            vec![VrId(7), VrId(1_000_000)]
        );
        assert!(w.commit().is_none(), "nothing changed, nothing to publish");
        assert_eq!(ForwardingState::default().version, 0);
        assert_eq!(ForwardingState::default().vr_count(), 0);
    }

    #[test]
    fn a_change_touches_only_its_part() {
        let mut w = writer();
        let v1 = w.commit().unwrap();
        // A session bind: a new session table, everything else shared.
        w.bind_session(sess(5, 9), SessionBinding::new(VrId(7)))
            .unwrap();
        let v2 = w.commit().unwrap();
        assert_eq!(v2.session(&sess(5, 9)).map(|b| b.vr), Some(VrId(7)));
        assert_eq!(v1.session(&sess(5, 9)), None);
        assert!(v2.same_vrs(&v1));
        assert!(Arc::ptr_eq(&v1.interfaces, &v2.interfaces));
        assert!(Arc::ptr_eq(&v1.labels, &v2.labels));
        assert_eq!(
            w.stats.fib_commits, 2,
            "only the first commit compiled FIBs"
        );
        // A route change in A: A's entry is new, B's is shared, counters are A's own.
        w.set_route(VrId(7), p("10.0.0.0/8"), RouteSource::Static, NextHop::Drop)
            .unwrap();
        let v3 = w.commit().unwrap();
        let (a2, a3) = (v2.vr(VrId(7)).unwrap(), v3.vr(VrId(7)).unwrap());
        assert!(!Arc::ptr_eq(&a2.fib4, &a3.fib4));
        assert!(Arc::ptr_eq(&a2.fib6, &a3.fib6), "IPv6 untouched");
        assert!(Arc::ptr_eq(&a2.counters, &a3.counters));
        assert!(Arc::ptr_eq(
            &v2.vr(VrId(1_000_000)).unwrap().fib4,
            &v3.vr(VrId(1_000_000)).unwrap().fib4
        ));
        assert_eq!(a3.lookup4(0x0a01_0203), Some(NextHopTable::DROP));
        assert_eq!(a2.lookup4(0x0a01_0203), a2.lookup4(0x0808_0808));
        // A neighbour resolution: next hops change, no FIB is recompiled.
        let fibs = w.stats.fib_commits;
        let key = NeighborKey {
            port: PortId(0),
            vlan: None,
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        };
        assert_eq!(w.set_neighbor(key, Some([2, 0, 0, 0, 0, 9])), 2);
        let v4 = w.commit().unwrap();
        assert_eq!(w.stats.fib_commits, fibs);
        assert!(v4.same_vrs(&v3));
        let nh = v4.vr(VrId(7)).unwrap().lookup4(0x0808_0808).unwrap();
        assert_eq!(
            v4.next_hop(nh),
            Some(&NextHop::Forward {
                port: PortId(0),
                vlan: None,
                src_mac: MACS[0],
                dst_mac: [2, 0, 0, 0, 0, 9],
                push: LabelPush::one(l(2000)),
            })
        );
        assert!(matches!(v3.next_hop(nh), Some(NextHop::Unresolved { .. })));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let mut w = writer();
        assert_eq!(
            w.add_vr(vr(MAX_VR_ID + 1, "big")).unwrap_err().to_string(),
            "vr1048576: VR ids must be at most 1048575"
        );
        assert_eq!(
            w.add_vr(vr(7, "other")).unwrap_err().to_string(),
            "vr7 already exists (named `A`)"
        );
        assert_eq!(
            w.set_route(VrId(2), p("10.0.0.0/8"), RouteSource::Static, NextHop::Drop)
                .unwrap_err()
                .to_string(),
            "vr2 does not exist"
        );
        assert_eq!(
            w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(2)))
                .unwrap_err()
                .to_string(),
            "port 1 cannot be bound to vr2, which does not exist"
        );
        assert_eq!(
            w.set_label(l(100), LabelAction::PopToVr(VrId(2)))
                .unwrap_err()
                .to_string(),
            "label 100 cannot pop into vr2, which does not exist"
        );
        assert!(matches!(
            w.set_label(l(3), LabelAction::Pop),
            Err(StateError::Label(MatrixError::Reserved(_)))
        ));
        assert_eq!(
            w.set_route(
                VrId(7),
                p("10.0.0.0/8"),
                RouteSource::Static,
                NextHop::Unresolved {
                    port: PortId(9),
                    vlan: None,
                    via: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    push: LabelPush::EMPTY
                }
            )
            .unwrap_err()
            .to_string(),
            "next hop on port9, which does not exist"
        );
        assert_eq!(
            w.remove_route(VrId(7), p("10.9.0.0/16"), RouteSource::Static)
                .unwrap_err()
                .to_string(),
            "vr7: no static route for 10.9.0.0/16"
        );
        w.bind_session(sess(1, 1), SessionBinding::new(VrId(7)))
            .unwrap();
        assert_eq!(
            w.bind_session(sess(1, 1), SessionBinding::new(VrId(1_000_000)))
                .unwrap_err()
                .to_string(),
            "l2tp tunnel 1 session 1 is already bound to vr7"
        );
        assert_eq!(
            w.unbind_session(&sess(2, 2)).unwrap_err().to_string(),
            "l2tp tunnel 2 session 2 is not bound"
        );
        assert_eq!(w.stats.refused, 0, "direct calls are not counted; apply is");
    }

    #[test]
    fn a_moved_session_keeps_its_tunnel_vr_counters_and_goes_with_either_vr() {
        let mut w = writer();
        let b = SessionBinding {
            counters: 5,
            ..SessionBinding::new(VrId(7))
        };
        w.bind_session(sess(3, 4), b).unwrap();
        let changes = w.stats.session_changes;
        assert_eq!(w.move_session(&sess(3, 4), VrId(1_000_000)), Ok(VrId(7)));
        let m = *w.session(&sess(3, 4)).unwrap();
        assert_eq!(
            (m.vr, m.tunnel_vr, m.counters),
            (VrId(1_000_000), VrId(7), 5)
        );
        assert_eq!(w.stats.session_changes, changes + 1);
        // Published: the workers see the new binding.
        assert_eq!(w.commit().unwrap().session(&sess(3, 4)), Some(&m));
        assert_eq!(
            w.move_session(&sess(3, 4), VrId(9))
                .unwrap_err()
                .to_string(),
            w.bind_session(sess(9, 9), SessionBinding::new(VrId(9)))
                .unwrap_err()
                .to_string()
                .replace("tunnel 9 session 9", "tunnel 3 session 4"),
            "an unknown VR is refused as a bind to it is"
        );
        assert_eq!(
            w.move_session(&sess(8, 8), VrId(7))
                .unwrap_err()
                .to_string(),
            "l2tp tunnel 8 session 8 is not bound"
        );
        // A relayed session is routed in no VR.
        w.bind_session_relay(sess(5, 5), SessionBinding::new(VrId(7)), to_lns(5))
            .unwrap();
        assert_eq!(
            w.move_session(&sess(5, 5), VrId(1_000_000)),
            Err(StateError::MoveRelayed(sess(5, 5)))
        );
        // Home again: the same binding as before the move.
        w.move_session(&sess(3, 4), VrId(7)).unwrap();
        assert_eq!(w.session(&sess(3, 4)), Some(&b));
        // Removing the tunnel's VR unbinds a session moved out of it; removing the VR it
        // was moved to too.
        w.move_session(&sess(3, 4), VrId(1_000_000)).unwrap();
        w.bind_session(sess(6, 6), SessionBinding::new(VrId(1_000_000)))
            .unwrap();
        w.move_session(&sess(6, 6), VrId(7)).unwrap();
        w.remove_vr(VrId(7)).unwrap();
        assert_eq!(w.session(&sess(3, 4)), None);
        assert_eq!(w.session(&sess(6, 6)), None);
        assert_eq!(w.sessions().count(), 0);
    }

    #[test]
    fn relayed_sessions_hold_their_next_hop() {
        let mut w = writer();
        let baseline = w.next_hops().live();
        let sub = SessionBinding::pppoe(VrId(7), 3, SUB, Some(30));
        // A caller's relay is ignored by bind_session.
        let mut forged = sub;
        forged.relay = Some(NextHopTable::LOCAL);
        w.bind_session(pppoe_key(1, 5), forged).unwrap();
        assert_eq!(w.session(&pppoe_key(1, 5)).unwrap().relay, None);
        w.unbind_session(&pppoe_key(1, 5)).unwrap();
        // PPPoE → L2TP (LAC): the L2TP next hop is interned, resolved through its neighbour.
        w.bind_session_relay(pppoe_key(1, 5), sub, to_lns(90))
            .unwrap();
        let b = *w.session(&pppoe_key(1, 5)).unwrap();
        let nh = b.relay.expect("relay set by the writer");
        assert_eq!(
            (b.vr, b.counters, b.peer_mac, b.peer_vlan),
            (VrId(7), 3, SUB, 30)
        );
        assert_eq!(w.next_hops().refs(nh), 1);
        assert_eq!(w.next_hops().live(), baseline + 1);
        // A route through the same next hop shares it.
        w.set_route(VrId(7), p("100.64.0.9/32"), RouteSource::Static, to_lns(90))
            .unwrap();
        assert_eq!(w.next_hops().refs(nh), 2);
        let v = w.commit().unwrap();
        assert_eq!(v.session(&pppoe_key(1, 5)).unwrap().relay, Some(nh));
        assert!(matches!(v.next_hop(nh), Some(NextHop::L2tp(e)) if e.dst_mac == [0; 6]));
        let key = NeighborKey {
            port: PortId(0),
            vlan: None,
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        };
        w.set_neighbor(key, Some([2, 0, 0, 0, 0, 0x99]));
        let v = w.commit().unwrap();
        assert!(matches!(
            v.next_hop(nh),
            Some(NextHop::L2tp(e)) if e.dst_mac == [2, 0, 0, 0, 0, 0x99] && e.src_mac == MACS[0]
        ));
        // L2TP → PPPoE and L2TP → L2TP (tunnel switching).
        w.bind_session_relay(sess(40, 90), SessionBinding::new(VrId(7)), to_subscriber(5))
            .unwrap();
        w.bind_session_relay(sess(41, 1), SessionBinding::new(VrId(7)), to_lns(91))
            .unwrap();
        assert_eq!(w.next_hops().live(), baseline + 3);
        let sw = w.session(&sess(40, 90)).unwrap().relay.unwrap();
        assert!(matches!(w.next_hops().get(sw), Some(NextHop::Pppoe(e)) if e.src_mac == MACS[1]));
        // Unbinding releases; the route keeps the shared one alive.
        assert_eq!(w.unbind_session(&pppoe_key(1, 5)).unwrap().relay, Some(nh));
        assert_eq!(w.next_hops().refs(nh), 1);
        w.unbind_session(&sess(40, 90)).unwrap();
        assert!(!w.next_hops().contains(sw));
        w.remove_route(VrId(7), p("100.64.0.9/32"), RouteSource::Static)
            .unwrap();
        assert!(!w.next_hops().contains(nh));
        // Removing the VR releases the relays of its sessions.
        w.remove_vr(VrId(7)).unwrap();
        assert_eq!(w.session(&sess(41, 1)), None);
        assert!(
            w.next_hops().live() < baseline,
            "VR 7's routes and relays are gone"
        );
    }

    #[test]
    fn relay_and_label_refusals() {
        let mut w = writer();
        let live = w.next_hops().live();
        let b = SessionBinding::new(VrId(7));
        assert_eq!(
            w.bind_session_relay(sess(1, 1), b, NextHop::Local)
                .unwrap_err()
                .to_string(),
            "l2tp tunnel 1 session 1 cannot be relayed through a local next hop; PPP frames \
             are relayed into an L2TP or a PPPoE session"
        );
        assert_eq!(
            w.bind_session_relay(sess(1, 1), b, via([192, 0, 2, 2], LabelPush::EMPTY))
                .unwrap_err(),
            StateError::RelayNotSession {
                key: sess(1, 1),
                kind: "unresolved"
            }
        );
        assert_eq!(
            w.bind_session_relay(sess(1, 1), SessionBinding::new(VrId(9)), to_lns(1))
                .unwrap_err()
                .to_string(),
            "l2tp tunnel 1 session 1 cannot be bound to vr9, which does not exist"
        );
        assert!(matches!(
            w.bind_session_relay(sess(1, 1), b, to_subscriber(0)),
            Err(StateError::NextHop(NextHopError::InvalidPppoe { .. }))
        ));
        w.bind_session(sess(1, 1), b).unwrap();
        assert_eq!(
            w.bind_session_relay(sess(1, 1), b, to_lns(1))
                .unwrap_err()
                .to_string(),
            "l2tp tunnel 1 session 1 is already bound to vr7"
        );
        assert_eq!(w.next_hops().live(), live, "nothing interned by a refusal");
        for action in [
            LabelAction::Swap {
                out: l(40),
                via: to_subscriber(5),
            },
            LabelAction::PopAndForward { via: to_lns(1) },
        ] {
            let e = w.set_label(l(700), action).unwrap_err();
            assert!(matches!(e, StateError::LabelIntoSession { .. }), "{e}");
            assert_eq!(w.check(&[Change::SetLabel(l(700), action)]), Err((0, e)));
        }
        assert_eq!(
            w.set_label(
                l(700),
                LabelAction::PopAndForward {
                    via: to_subscriber(5)
                }
            )
            .unwrap_err()
            .to_string(),
            "label 700 cannot send into a PPPoE session; label operations forward to a neighbour"
        );
        // A subscriber route through a PPPoE session is fine.
        w.set_route(
            VrId(7),
            p("100.64.0.5/32"),
            RouteSource::Static,
            to_subscriber(5),
        )
        .unwrap();
        assert_eq!(
            w.route(VrId(7), p("100.64.0.5/32"), RouteSource::Static),
            Some(to_subscriber(5))
        );
    }

    #[test]
    fn removing_a_vr_takes_its_bindings_and_frees_its_next_hops() {
        let mut w = writer();
        let baseline = w.next_hops().live();
        w.add_vr(vr(9, "C")).unwrap();
        for i in 0..50u32 {
            let pfx = IpPrefix::V4(Prefix4::new(0x0a00_0000 | i << 8, 24).unwrap());
            w.set_route(
                VrId(9),
                pfx,
                RouteSource::Static,
                via([10, 9, 0, i as u8], LabelPush::EMPTY),
            )
            .unwrap();
        }
        w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(VrId(9)))
            .unwrap();
        w.bind_session(sess(3, 3), SessionBinding::new(VrId(9)))
            .unwrap();
        w.set_label(l(5000), LabelAction::PopToVr(VrId(9))).unwrap();
        assert_eq!(w.next_hops().live(), baseline + 50);
        let before = w.commit().unwrap();
        assert!(before.vr(VrId(9)).is_some());
        assert_eq!(w.remove_vr(VrId(9)).unwrap().name, "C");
        let after = w.commit().unwrap();
        assert!(after.vr(VrId(9)).is_none());
        assert_eq!(after.interfaces.lookup_l2(PortId(1), None), None);
        assert_eq!(after.session(&sess(3, 3)), None);
        assert_eq!(after.labels.lookup(l(5000)), None);
        assert!(after.labels.lookup(l(1000)).is_some());
        assert_eq!(w.next_hops().live(), baseline, "next hops freed");
        // The old version still answers as it did.
        assert!(before.vr(VrId(9)).unwrap().lookup4(0x0a00_0101).is_some());
        // The name and id can be used again.
        w.add_vr(vr(9, "C")).unwrap();
    }

    #[test]
    fn a_new_tenant_keeps_the_vrs_tables_and_counters() {
        let mut w = writer();
        let before = w.commit().unwrap();
        let e0 = before.vr(VrId(7)).unwrap();
        e0.counters.worker(0).unwrap().bump(0, 5);
        assert_eq!(
            w.apply(&[Change::SetTenant(VrId(99), "x".into())])
                .unwrap_err()
                .1,
            StateError::UnknownVr(VrId(99))
        );
        w.apply(&[Change::SetTenant(VrId(7), "carrier-b".into())])
            .unwrap();
        let after = w.commit().unwrap();
        let e1 = after.vr(VrId(7)).unwrap();
        assert_eq!(e1.info.tenant, "carrier-b");
        assert_eq!(w.registry().get(VrId(7)).unwrap().tenant, "carrier-b");
        assert!(
            Arc::ptr_eq(&e0.fib4, &e1.fib4),
            "the FIB is shared, not rebuilt"
        );
        assert!(Arc::ptr_eq(&e0.counters, &e1.counters));
        assert_eq!(e1.counters.total(0), 5);
    }

    #[test]
    fn apply_is_all_or_nothing() {
        let mut w = writer();
        w.commit();
        let changes = vec![
            Change::AddVr(vr(20, "D")),
            Change::Bind(IfKey::PortVlan(PortId(1), 200), IfBinding::Vr(VrId(20))),
            Change::SetRoute {
                vr: VrId(20),
                prefix: p("10.0.0.0/8"),
                source: RouteSource::Static,
                via: NextHop::Drop,
            },
            // Bound to A above: refused, so nothing of this list happens.
            Change::Bind(IfKey::PortVlan(PortId(1), 100), IfBinding::Vr(VrId(20))),
        ];
        let (i, e) = w.apply(&changes).unwrap_err();
        assert_eq!(i, 3);
        assert_eq!(e.to_string(), "port 1 vlan 100 is already bound to vr7");
        assert!(!w.has_vr(VrId(20)));
        assert!(w.commit().is_none(), "nothing changed");
        // Moving the VLAN first makes the same list valid.
        let mut ok = vec![Change::Unbind(IfKey::PortVlan(PortId(1), 100))];
        ok.extend(changes);
        w.apply(&ok).unwrap();
        let s = w.commit().unwrap();
        assert_eq!(
            s.interfaces.lookup_l2(PortId(1), Some(100)),
            Some(IfBinding::Vr(VrId(20)))
        );
        // Removing a VR and reusing its name in one list.
        w.apply(&[Change::RemoveVr(VrId(20)), Change::AddVr(vr(21, "D"))])
            .unwrap();
        assert_eq!(
            w.apply(&[Change::RemoveVr(VrId(20))]).unwrap_err().1,
            StateError::UnknownVr(VrId(20))
        );
    }

    #[test]
    fn session_churn_keeps_memory_flat() {
        let mut w = writer();
        let mut peak = 0;
        for round in 0..20u16 {
            for s in 0..2000u16 {
                w.bind_session(sess(round % 3 + 1, s), SessionBinding::new(VrId(7)))
                    .unwrap();
            }
            let v = w.commit().unwrap();
            assert_eq!(v.sessions.len(), 2000);
            let m = v.sessions.memory_bytes();
            if round < 3 {
                peak = peak.max(m);
            } else {
                // Shard sizes vary with the keys that land in them; they do not add up.
                assert!(m <= peak + peak / 4, "round {round}: {m} > {peak} + 25 %");
            }
            for s in 0..2000u16 {
                w.unbind_session(&sess(round % 3 + 1, s)).unwrap();
            }
        }
        let empty = w.commit().unwrap();
        assert_eq!(empty.sessions.len(), 0);
        // Shards copied after they emptied are right-sized: the memory goes with the sessions.
        assert!(
            empty.sessions.memory_bytes() < peak / 4,
            "{} after everything was unbound, {peak} at the peak",
            empty.sessions.memory_bytes()
        );
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        fn base() -> StateWriter {
            let mut w = StateWriter::new(MACS.to_vec(), 1);
            w.add_vr(vr(1, "a")).unwrap();
            w.add_vr(vr(2, "b")).unwrap();
            w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
                .unwrap();
            w.set_route(VrId(1), p("10.0.0.0/8"), RouteSource::Static, NextHop::Drop)
                .unwrap();
            w.set_label(l(16), LabelAction::PopToVr(VrId(2))).unwrap();
            w.bind_session(sess(1, 1), SessionBinding::new(VrId(2)))
                .unwrap();
            w.set_esp_inbound(esp_tunnel(0x100, 2, 1, false)).unwrap();
            w.set_esp_outbound(EspSaId(1), esp_tunnel(0x200, 1, 2, false))
                .unwrap();
            w
        }

        /// An ESP tunnel of VR `vr` over `outer`; `mixed`: with addresses of two families.
        fn esp_tunnel(spi: u32, vr: u32, outer: u32, mixed: bool) -> Arc<EspTunnel> {
            let params = esp::SaParams::new(spi, esp::Cipher::AesGcm128, vec![7; 20]);
            Arc::new(EspTunnel {
                name: format!("sa{spi:x}").into(),
                sa: Arc::new(esp::Sa::new(&params, 1).unwrap()),
                vr: VrId(vr),
                outer_vr: VrId(outer),
                local: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                remote: if mixed {
                    IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
                } else {
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9))
                },
                udp: None,
                dscp: None,
                sources: None,
            })
        }

        /// Any change: ESP SAs (of the three VRs, some of two address families) or the
        /// rest.
        fn arb_change() -> impl Strategy<Value = Change> {
            let spi = prop_oneof![Just(0x100u32), Just(0x101)];
            let sa_id = prop_oneof![Just(EspSaId(1)), Just(EspSaId(2))];
            let vr_id = (1u32..4).prop_map(VrId);
            let tun = (spi.clone(), 1u32..4, 1u32..4, proptest::bool::weighted(0.1))
                .prop_map(|(spi, vr, outer, mixed)| esp_tunnel(spi, vr, outer, mixed));
            prop_oneof![
                3 => other_change(),
                1 => prop_oneof![
                    tun.clone().prop_map(Change::SetEspInbound),
                    (sa_id.clone(), tun).prop_map(|(id, t)| Change::SetEspOutbound(id, t)),
                    (vr_id.clone(), spi)
                        .prop_map(|(v, spi)| Change::RemoveEspInbound(InboundKey::new(v, spi))),
                    (vr_id, sa_id)
                        .prop_map(|(v, id)| Change::RemoveEspOutbound(OutboundKey::new(v, id))),
                ],
            ]
        }

        fn other_change() -> impl Strategy<Value = Change> {
            let id = (1u32..4).prop_map(VrId);
            let key = prop_oneof![
                Just(IfKey::Port(PortId(0))),
                Just(IfKey::Port(PortId(1))),
                Just(IfKey::PortVlan(PortId(1), 10)),
                Just(IfKey::PortVlan(PortId(1), 0)),
            ];
            let prefix = prop_oneof![
                Just(p("10.0.0.0/8")),
                Just(p("10.1.0.0/16")),
                Just(p("::/0"))
            ];
            let source = prop_oneof![Just(RouteSource::Static), Just(RouteSource::Connected)];
            let nh = prop_oneof![
                Just(NextHop::Drop),
                Just(via([10, 0, 0, 1], LabelPush::EMPTY)),
                Just(to_subscriber(5)),
                Just(to_subscriber(0xffff)),
                Just(to_lns(90)),
                Just(NextHop::Unresolved {
                    port: PortId(5),
                    vlan: None,
                    via: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    push: LabelPush::EMPTY
                }),
            ];
            let label = prop_oneof![Just(l(16)), Just(l(17)), Just(l(3))];
            let skey = prop_oneof![
                Just(sess(1, 1)),
                Just(sess(1, 2)),
                Just(pppoe_key(1, 5)),
                Just(pppoe_key(1, 6))
            ];
            let relay = prop_oneof![
                Just(to_lns(90)),
                Just(to_lns(91)),
                Just(to_subscriber(5)),
                Just(to_subscriber(0)),
                Just(NextHop::Drop),
                Just(via([10, 0, 0, 1], LabelPush::EMPTY)),
                Just(NextHop::Pppoe(crate::nexthop::PppoeEncap {
                    port: PortId(5),
                    vlan: None,
                    src_mac: [0; 6],
                    dst_mac: SUB,
                    session: 5,
                    counters: 0,
                })),
            ];
            let name = prop_oneof![Just("a"), Just("b"), Just("c"), Just("")];
            prop_oneof![
                (id.clone(), name).prop_map(|(i, n)| Change::AddVr(vr(i.0, n))),
                id.clone().prop_map(Change::RemoveVr),
                (key.clone(), id.clone()).prop_map(|(k, v)| Change::Bind(k, IfBinding::Vr(v))),
                key.clone().prop_map(|k| Change::Bind(k, IfBinding::Trunk)),
                key.prop_map(Change::Unbind),
                (id.clone(), prefix.clone(), source.clone(), nh.clone()).prop_map(
                    |(vr, prefix, source, via)| Change::SetRoute {
                        vr,
                        prefix,
                        source,
                        via
                    }
                ),
                (id.clone(), prefix, source).prop_map(|(vr, prefix, source)| {
                    Change::RemoveRoute { vr, prefix, source }
                }),
                (label.clone(), id.clone())
                    .prop_map(|(l, v)| Change::SetLabel(l, LabelAction::PopToVr(v))),
                (label.clone(), nh)
                    .prop_map(|(l, via)| Change::SetLabel(l, LabelAction::PopAndForward { via })),
                label.prop_map(Change::RemoveLabel),
                (skey.clone(), id.clone())
                    .prop_map(|(k, vr)| Change::BindSession(k, SessionBinding::new(vr))),
                (skey.clone(), id, relay).prop_map(|(k, vr, via)| Change::BindSessionRelay(
                    k,
                    SessionBinding::pppoe(vr, 2, SUB, Some(30)),
                    via
                )),
                skey.prop_map(Change::UnbindSession),
            ]
        }

        proptest! {
            /// `check` predicts exactly what applying the changes one by one does.
            #[test]
            fn check_agrees_with_the_writer(changes in proptest::collection::vec(arb_change(), 1..12)) {
                let checked = base().check(&changes);
                let mut w = base();
                let mut applied = Ok(());
                for (i, c) in changes.iter().enumerate() {
                    if let Err(e) = w.apply_one(c) {
                        applied = Err((i, e));
                        break;
                    }
                }
                prop_assert_eq!(checked, applied);
            }

            /// Whatever was applied (refused changes included), next-hop references add up:
            /// once every label and VR is gone (routes, sessions and relays with them), only
            /// the two permanent next hops are left.
            #[test]
            fn next_hop_references_do_not_leak(changes in proptest::collection::vec(arb_change(), 1..16)) {
                let mut w = base();
                for c in &changes {
                    let _ = w.apply_one(c);
                }
                let labels: Vec<Label> = w.labels().map(|(l, _)| l).collect();
                for l in labels {
                    w.remove_label(l).unwrap();
                }
                let vrs: Vec<VrId> = w.registry().iter().map(|v| v.id).collect();
                for v in vrs {
                    w.remove_vr(v).unwrap();
                }
                prop_assert_eq!(w.session_count(), 0);
                prop_assert_eq!(w.next_hops().live(), 2);
            }
        }
    }

    #[test]
    fn session_counter_slots_are_reused_relative_to_their_baseline() {
        let mut w = StateWriter::new(vec![[2; 6]], 2);
        assert_eq!(w.alloc_session_counters(), None, "no slots until sized");
        assert!(w.set_session_counter_slots(2));
        let st = w.commit().unwrap();
        let a = w.alloc_session_counters().unwrap();
        let b = w.alloc_session_counters().unwrap();
        assert_eq!(w.alloc_session_counters(), None);
        assert!(!w.set_session_counter_slots(8), "not once slots are in use");
        assert_eq!(w.session_counter_use(), (2, 2));
        st.session_counters
            .bump(1, a, crate::session_counter::RX_PACKETS, 100);
        assert_eq!(w.session_traffic(a), [1, 100, 0, 0]);
        assert_eq!(w.session_traffic(b), [0; 4]);
        w.free_session_counters(a);
        w.free_session_counters(a);
        let c = w.alloc_session_counters().unwrap();
        assert_eq!(c, a);
        assert_eq!(
            w.session_traffic(c),
            [0; 4],
            "a reused slot starts from zero"
        );
        st.session_counters
            .bump(0, c, crate::session_counter::TX_PACKETS, 5);
        assert_eq!(w.session_traffic(c), [0, 0, 1, 5]);
    }
}
