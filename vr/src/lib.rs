//! Virtual routers and the forwarding state the data plane reads.
//!
//! This crate is the control plane's model of the appliance's forwarding — the VRs
//! (identity, RFC 2685 VPN id, tenant, RIB), the interface table that binds ingress
//! interfaces to VRs, the session bindings, the shared next-hop table, the per-VR FIBs,
//! per-VR counters — and the writer that derives immutable [`ForwardingState`] versions
//! from it incrementally ([`state`]: a change rebuilds only the part it touches, the rest
//! is shared with the previous version through [`persist`]ent tables), published to the
//! workers without locks ([`publish`]). Workers only read compiled tables: flat arrays and
//! indices (VPP style), no allocation and no locks on lookup. Like `labelswitch` (whose
//! [`labelswitch::LabelMatrix`] is part of the state), it knows nothing of ports' I/O or of
//! protocols.
//!
//! Isolation: a packet gets exactly one VR from the interface table and is then looked up
//! only in that VR's FIB; there is no default VR anywhere.

pub mod counters;
pub mod esp;
pub mod fib;
pub mod ids;
pub mod iface;
pub mod ipip;
pub mod nexthop;
pub mod persist;
pub mod publish;
pub mod registry;
pub mod replay;
pub mod rib;
pub mod session;
pub mod srcsel;
pub mod state;

pub use counters::{
    session_counter, vr_counter, CounterArray, CounterLine, SessionCounters, VrCounters,
};
pub use esp::{
    EspError, EspSaId, EspTable, EspTunnel, EspUdp, InboundKey, OutboundKey, SourceSelector,
};
pub use fib::{Fib4, Fib6, Lpm, Prefix, Prefix4, Prefix6, PrefixError};
pub use ids::{NextHopId, PortId, VrId};
pub use iface::{IfBinding, IfError, IfKey, InterfaceTable, InterfaceTableBuilder};
pub use ipip::{IpIpError, IpIpId, IpIpInboundKey, IpIpKey, IpIpTable, IpIpTunnel};
pub use nexthop::{
    L2tpEncap, LabelPush, NeighborKey, NextHop, NextHopError, NextHopPool, NextHopTable, PppoeEncap,
};
pub use publish::{Publisher, TableCache, TableGuard, TableHandle};
pub use registry::{RegistryError, VirtualRouter, VpnId, VpnIdError, VrRegistry};
pub use replay::{ReplayError, ReplayHop, ReplayId, ReplayKey, ReplayRing, ReplayTable};
pub use rib::{Rib, RibError, RibTable, RouteSource};
pub use session::{SessionBinding, SessionKey, SessionTable};
pub use srcsel::{SourceRouteError, SourceRouteId, SourceRouteKey, SourceRouteTable, SourceRoutes};
pub use state::{
    Change, ForwardingState, IpPrefix, LabelAction, StateError, StateWriter, VrEntry, WriterStats,
    LOCAL_HOSTS, MAX_VR_ID,
};
