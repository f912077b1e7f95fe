//! The shared next-hop table: index → what to do with a packet (VPP's DPOs).
//!
//! FIB entries and label-matrix entries hold a [`NextHopId`]; the data plane follows it to a
//! [`NextHop`] that says which port, VLAN and MAC addresses to use and which labels to push.
//! Equal next hops are stored once ([`NextHopPool::intern`] deduplicates and counts
//! references), so a neighbour change rewrites one entry for every route that uses it.
//! The published [`NextHopTable`] is a persistent array ([`crate::persist::PVec`]): a
//! change copies the 64-entry chunk it touches, not the table.
//!
//! Ids [`NextHopTable::DROP`] (0) and [`NextHopTable::LOCAL`] (1) are always present.
//!
//! [`NextHop::L2tp`] sends a routed packet into an L2TPv2 session (the LNS direction:
//! IP → PPP → L2TP → UDP → IPv4); [`NextHop::Pppoe`] into a PPPoE session (IP → PPP →
//! PPPoE → Ethernet, to the subscriber's MAC). Both also carry relayed PPP frames (a
//! session bound with a relay, [`crate::StateWriter::bind_session_relay`]). Neither can be
//! reached by a label operation (the writer refuses it). [`NextHop::Esp`] and
//! [`NextHop::IpIp`] name a tunnel of the route's VR ([`crate::esp`], [`crate::ipip`]);
//! [`NextHop::BySource`] names a list of such tunnels chosen by the packet's source
//! ([`crate::srcsel`]). Not yet here: ECMP groups.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use hashbrown::HashMap;
use labelswitch::Label;

use crate::ids::{NextHopId, PortId};
use crate::persist::{PVec, PVecWriter};

/// Most labels one next hop pushes.
pub const MAX_PUSH: usize = 4;

/// Errors of the next-hop table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextHopError {
    /// More labels than [`MAX_PUSH`].
    #[error("a next hop can push at most {MAX_PUSH} labels, {0} given")]
    TooManyLabels(usize),
    /// The id is not in the table.
    #[error("next hop {0} does not exist")]
    UnknownId(NextHopId),
    /// A next hop on a port the appliance does not have.
    #[error("next hop on {0}, which does not exist")]
    UnknownPort(PortId),
    /// Every id is taken.
    #[error("the next-hop table is full (2^32 - 1 next hops)")]
    Full,
    /// A PPPoE next hop that cannot name a session: session id 0 or 0xffff (RFC 2516 §4:
    /// reserved) or a subscriber MAC that is zero or multicast.
    #[error(
        "PPPoE next hop on {port} session {session}: {reason} (needs a session id \
         1..=65534 and the subscriber's unicast MAC)"
    )]
    InvalidPppoe {
        /// The port.
        port: PortId,
        /// The session id given.
        session: u16,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Labels to push, outermost first; at most [`MAX_PUSH`]. Inline and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelPush {
    // Unused slots always hold label 0 so that derived Eq/Hash compare only the used part.
    labels: [Label; MAX_PUSH],
    len: u8,
}

impl LabelPush {
    /// Push nothing.
    pub const EMPTY: LabelPush = LabelPush {
        labels: [Label::IPV4_EXPLICIT_NULL; MAX_PUSH],
        len: 0,
    };

    /// Labels to push, outermost first.
    pub fn new(labels: &[Label]) -> Result<LabelPush, NextHopError> {
        if labels.len() > MAX_PUSH {
            return Err(NextHopError::TooManyLabels(labels.len()));
        }
        let mut p = Self::EMPTY;
        p.labels[..labels.len()].copy_from_slice(labels);
        p.len = labels.len() as u8;
        Ok(p)
    }

    /// One label.
    pub const fn one(label: Label) -> LabelPush {
        let mut p = Self::EMPTY;
        p.labels[0] = label;
        p.len = 1;
        p
    }

    /// The labels, outermost first.
    #[inline]
    pub fn as_slice(&self) -> &[Label] {
        &self.labels[..self.len as usize]
    }

    /// Number of labels.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True when nothing is pushed.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the pushed labels add to the packet.
    #[inline]
    pub const fn header_len(&self) -> usize {
        self.len as usize * 4
    }
}

impl Default for LabelPush {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl fmt::Debug for LabelPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// Discard (blackhole route, expired or filtered).
    Drop,
    /// Addressed to the appliance itself: punt to the control core.
    Local,
    /// Rewrite L2 (and push labels) and send on `port`.
    Forward {
        /// Outgoing port.
        port: PortId,
        /// 802.1Q VLAN id to tag with (1..=4094), or untagged.
        vlan: Option<u16>,
        /// Source MAC (the port's).
        src_mac: [u8; 6],
        /// Destination MAC (the neighbour's).
        dst_mac: [u8; 6],
        /// Labels to push, outermost first.
        push: LabelPush,
    },
    /// The neighbour `via` has no known MAC yet: the data plane punts the packet (to trigger
    /// ARP/ND) or drops it, with a counter either way.
    Unresolved {
        /// Outgoing port.
        port: PortId,
        /// 802.1Q VLAN id, or untagged.
        vlan: Option<u16>,
        /// The neighbour's IP address.
        via: IpAddr,
        /// Labels to push once resolved.
        push: LabelPush,
    },
    /// Encapsulate in an L2TPv2 data message of an established session and send it to the
    /// peer (LAC or LNS) over UDP/IPv4.
    L2tp(L2tpEncap),
    /// Encapsulate in a PPPoE session frame and send it to the subscriber.
    Pppoe(PppoeEncap),
    /// Encrypt into the outbound ESP SA `0` (tunnel mode) and route the outer packet in
    /// the SA's outer VR ([`crate::esp`]).
    Esp(crate::esp::EspSaId),
    /// Encapsulate in the outbound IP-in-IP tunnel `0` of the route's VR (RFC 2003) and
    /// route the outer packet in the tunnel's outer VR ([`crate::ipip`]).
    IpIp(crate::ipip::IpIpId),
    /// Send into the ESP SA or IP-in-IP tunnel that the packet's source selects: the entry of
    /// the route's VR's source selection `0` whose source prefix contains it
    /// ([`crate::srcsel`]; `source_route_no_match` when none does).
    BySource(crate::srcsel::SourceRouteId),
    /// Send as the `Forward` next hop of the route's VR's replay hop `0`, keeping a copy of
    /// the IP packet in its ring ([`crate::replay`]: a foreign agent's visitor, whose last
    /// packets are sent again into the forwarding tunnel when it moves).
    Replayable(crate::replay::ReplayId),
}

impl NextHop {
    /// The kind of next hop, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            NextHop::Drop => "drop",
            NextHop::Local => "local",
            NextHop::Forward { .. } => "forward",
            NextHop::Unresolved { .. } => "unresolved",
            NextHop::L2tp(_) => "L2TP",
            NextHop::Pppoe(_) => "PPPoE",
            NextHop::Esp(_) => "ESP",
            NextHop::IpIp(_) => "IP-in-IP",
            NextHop::BySource(_) => "source-selected tunnel",
            NextHop::Replayable(_) => "replayable forward",
        }
    }

    /// True for the next hops that send into a PPP session (L2TP, PPPoE): a session's PPP
    /// frames can be relayed through them, a label operation cannot use them.
    pub fn is_session(&self) -> bool {
        matches!(self, NextHop::L2tp(_) | NextHop::Pppoe(_))
    }

    /// True for the next hops a label operation cannot send to: the data plane's label path
    /// forwards Ethernet with labels only, never into a session or an ESP or IP-in-IP tunnel
    /// (nor one selected by source, nor a replay hop: only the IP path keeps its copies).
    pub fn is_encapsulation(&self) -> bool {
        self.is_session()
            || matches!(
                self,
                NextHop::Esp(_) | NextHop::IpIp(_) | NextHop::BySource(_) | NextHop::Replayable(_)
            )
    }
}

/// The headers of a PPPoE session (RFC 2516 §4, §7): Ethernet (+802.1Q) to the
/// subscriber, the PPPoE header (VER/TYPE 1/1, CODE 0, the session id, LENGTH), then the
/// PPP frame from its protocol field on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PppoeEncap {
    /// Outgoing port (the access port the session runs on).
    pub port: PortId,
    /// 802.1Q VLAN id, or untagged.
    pub vlan: Option<u16>,
    /// Source MAC: filled in by the pool from the port (what a caller gives is ignored),
    /// like [`L2tpEncap::src_mac`].
    pub src_mac: [u8; 6],
    /// The subscriber's MAC (known from discovery; never resolved through a neighbour).
    pub dst_mac: [u8; 6],
    /// The PPPoE session id (1..=0xfffe).
    pub session: u16,
    /// The session's traffic counter slot ([`crate::SessionCounters`]), or
    /// [`crate::SessionBinding::NO_COUNTERS`].
    pub counters: u32,
}

impl PppoeEncap {
    /// Checks what the data plane relies on: a session id that names a session and a
    /// unicast destination.
    pub fn check(&self) -> Result<(), NextHopError> {
        let reason = if self.session == 0 || self.session == 0xffff {
            "reserved session id"
        } else if self.dst_mac == [0; 6] {
            "no subscriber MAC"
        } else if self.dst_mac[0] & 1 == 1 {
            "multicast subscriber MAC"
        } else {
            return Ok(());
        };
        Err(NextHopError::InvalidPppoe {
            port: self.port,
            session: self.session,
            reason,
        })
    }
}

/// The outer headers of an L2TPv2 session (RFC 2661 §3.1): Ethernet (+VLAN), IPv4, UDP,
/// the L2TP data header with the *peer's* tunnel and session ids, PPP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L2tpEncap {
    /// Outgoing port.
    pub port: PortId,
    /// 802.1Q VLAN id, or untagged.
    pub vlan: Option<u16>,
    /// Source MAC (the port's).
    pub src_mac: [u8; 6],
    /// Destination MAC (the next hop towards the peer).
    pub dst_mac: [u8; 6],
    /// Our tunnel endpoint address.
    pub src_ip: Ipv4Addr,
    /// The peer's tunnel endpoint address.
    pub dst_ip: Ipv4Addr,
    /// The neighbour the peer is reached through (the peer itself on a connected subnet,
    /// else the gateway of the VR's route to it): the pool fills `src_mac` and `dst_mac`
    /// from the port and this neighbour, and keeps them current as the neighbour changes;
    /// while it is unresolved `dst_mac` is all zeros and the data plane drops
    /// (`l2tp_no_neighbor`).
    pub via: Ipv4Addr,
    /// The session's traffic counter slot ([`crate::SessionCounters`]), or
    /// [`crate::SessionBinding::NO_COUNTERS`].
    pub counters: u32,
    /// Our UDP port (1701 unless the peer floated it).
    pub src_port: u16,
    /// The peer's UDP port.
    pub dst_port: u16,
    /// Tunnel id assigned by the peer.
    pub peer_tunnel: u16,
    /// Session id assigned by the peer.
    pub peer_session: u16,
}

/// A neighbour as next hops depend on it: where it is and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NeighborKey {
    /// Port.
    pub port: PortId,
    /// 802.1Q VLAN, or untagged.
    pub vlan: Option<u16>,
    /// The neighbour's address.
    pub ip: IpAddr,
}

impl fmt::Display for NeighborKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on port {}", self.ip, self.port.0)?;
        if let Some(v) = self.vlan {
            write!(f, " vlan {v}")?;
        }
        Ok(())
    }
}

/// The control plane's side of the next-hop table: interned next hops with reference
/// counts, and the neighbours they resolve through.
///
/// * **Interning.** [`intern`](Self::intern) returns the id of an equal next hop when one
///   exists (so a neighbour change rewrites one entry for every route that uses it) and
///   takes a reference; [`release`](Self::release) drops one. An id whose last reference
///   goes is reset to [`NextHop::Drop`] and reused, so churn (sessions, neighbours coming
///   and going) does not grow the table. [`NextHopTable::DROP`] and
///   [`NextHopTable::LOCAL`] are permanent.
/// * **Neighbours.** A next hop is interned as its *specification*: an
///   [`NextHop::Unresolved`] with the neighbour's address means "forward to that
///   neighbour"; while the neighbour's MAC is known ([`set_neighbor`](Self::set_neighbor))
///   the table holds the [`NextHop::Forward`] it resolves to (source MAC = the port's), and
///   it goes back to `Unresolved` when the neighbour is withdrawn. An unspecified address
///   (`0.0.0.0`, `::`) means "the destination itself" (a connected subnet, resolved per
///   host by the control core) and never resolves.
#[derive(Debug)]
pub struct NextHopPool {
    hops: PVecWriter<NextHop>,
    specs: Vec<NextHop>,
    refs: Vec<u32>,
    index: HashMap<NextHop, NextHopId>,
    free: Vec<u32>,
    neighbors: HashMap<NeighborKey, [u8; 6]>,
    by_neighbor: HashMap<NeighborKey, Vec<NextHopId>>,
    port_macs: Vec<[u8; 6]>,
}

const PINNED: u32 = u32::MAX;

impl NextHopPool {
    /// A pool for ports whose MAC addresses are `port_macs` (index = port id), holding
    /// [`NextHop::Drop`] at id 0 and [`NextHop::Local`] at id 1.
    pub fn new(port_macs: Vec<[u8; 6]>) -> Self {
        let mut p = NextHopPool {
            hops: PVecWriter::new(NextHop::Drop),
            specs: Vec::new(),
            refs: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
            neighbors: HashMap::new(),
            by_neighbor: HashMap::new(),
            port_macs,
        };
        for nh in [NextHop::Drop, NextHop::Local] {
            let id = NextHopId(p.specs.len() as u32);
            p.hops.set(id.0 as usize, nh);
            p.specs.push(nh);
            p.refs.push(PINNED);
            p.index.insert(nh, id);
        }
        p
    }

    /// `port` is one of the appliance's ports.
    pub(crate) fn port_ok(&self, port: PortId) -> Result<(), NextHopError> {
        if usize::from(port.0) < self.port_macs.len() {
            Ok(())
        } else {
            Err(NextHopError::UnknownPort(port))
        }
    }

    /// What a specification forwards with now.
    fn effective(&self, spec: &NextHop) -> NextHop {
        match *spec {
            NextHop::Unresolved {
                port,
                vlan,
                via,
                push,
            } => match self.neighbors.get(&NeighborKey {
                port,
                vlan,
                ip: via,
            }) {
                Some(mac) => NextHop::Forward {
                    port,
                    vlan,
                    src_mac: self.port_macs[usize::from(port.0)],
                    dst_mac: *mac,
                    push,
                },
                None => *spec,
            },
            NextHop::L2tp(mut e) => {
                e.src_mac = self.port_macs[usize::from(e.port.0)];
                e.dst_mac = self
                    .neighbors
                    .get(&NeighborKey {
                        port: e.port,
                        vlan: e.vlan,
                        ip: IpAddr::V4(e.via),
                    })
                    .copied()
                    .unwrap_or([0; 6]);
                NextHop::L2tp(e)
            }
            NextHop::Pppoe(mut e) => {
                e.src_mac = self.port_macs[usize::from(e.port.0)];
                NextHop::Pppoe(e)
            }
            other => other,
        }
    }

    /// Takes a reference on a next hop equal to `spec`, adding it if there is none. The
    /// MAC addresses of an [`NextHop::L2tp`] specification are ignored (they come from the
    /// port and the neighbour `via`), and so is the source MAC of a [`NextHop::Pppoe`]
    /// (the port's); a PPPoE next hop must pass [`PppoeEncap::check`].
    pub fn intern(&mut self, spec: NextHop) -> Result<NextHopId, NextHopError> {
        let spec = match spec {
            NextHop::L2tp(mut e) => {
                e.src_mac = [0; 6];
                e.dst_mac = [0; 6];
                NextHop::L2tp(e)
            }
            NextHop::Pppoe(mut e) => {
                e.src_mac = [0; 6];
                NextHop::Pppoe(e)
            }
            other => other,
        };
        if let Some(&id) = self.index.get(&spec) {
            let r = &mut self.refs[id.0 as usize];
            if *r != PINNED {
                *r += 1;
            }
            return Ok(id);
        }
        match spec {
            NextHop::Forward { port, .. } | NextHop::Unresolved { port, .. } => {
                self.port_ok(port)?
            }
            NextHop::L2tp(e) => self.port_ok(e.port)?,
            NextHop::Pppoe(e) => {
                self.port_ok(e.port)?;
                e.check()?
            }
            NextHop::Drop
            | NextHop::Local
            | NextHop::Esp(_)
            | NextHop::IpIp(_)
            | NextHop::BySource(_)
            | NextHop::Replayable(_) => {}
        }
        let id = match self.free.pop() {
            Some(i) => NextHopId(i),
            None => {
                let i = u32::try_from(self.specs.len())
                    .ok()
                    .filter(|i| *i < u32::MAX)
                    .ok_or(NextHopError::Full)?;
                self.specs.push(NextHop::Drop);
                self.refs.push(0);
                NextHopId(i)
            }
        };
        let i = id.0 as usize;
        self.specs[i] = spec;
        self.refs[i] = 1;
        self.index.insert(spec, id);
        if let Some(k) = neighbor_of(&spec) {
            self.by_neighbor.entry(k).or_default().push(id);
        }
        let eff = self.effective(&spec);
        self.hops.set(i, eff);
        Ok(id)
    }

    /// Takes one more reference on `id`.
    pub fn retain(&mut self, id: NextHopId) -> Result<(), NextHopError> {
        match self.refs.get_mut(id.0 as usize) {
            Some(r) if *r == PINNED => Ok(()),
            Some(r) if *r > 0 => {
                *r += 1;
                Ok(())
            }
            _ => Err(NextHopError::UnknownId(id)),
        }
    }

    /// Drops a reference; the id is freed (and reset to `Drop`) with its last reference.
    pub fn release(&mut self, id: NextHopId) {
        let i = id.0 as usize;
        let Some(r) = self.refs.get_mut(i) else {
            return;
        };
        if *r == PINNED || *r == 0 {
            return;
        }
        *r -= 1;
        if *r > 0 {
            return;
        }
        let spec = std::mem::replace(&mut self.specs[i], NextHop::Drop);
        if self.index.get(&spec) == Some(&id) {
            self.index.remove(&spec);
        }
        if let Some(k) = neighbor_of(&spec) {
            if let Some(ids) = self.by_neighbor.get_mut(&k) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.by_neighbor.remove(&k);
                }
            }
        }
        self.hops.set(i, NextHop::Drop);
        self.free.push(id.0);
    }

    /// Records (`Some`) or withdraws (`None`) a neighbour's MAC and re-resolves every next
    /// hop that goes through it. Returns how many next hops changed.
    pub fn set_neighbor(&mut self, key: NeighborKey, mac: Option<[u8; 6]>) -> usize {
        let before = self.neighbors.get(&key).copied();
        if before == mac {
            return 0;
        }
        match mac {
            Some(m) => self.neighbors.insert(key, m),
            None => self.neighbors.remove(&key),
        };
        let ids = self.by_neighbor.get(&key).cloned().unwrap_or_default();
        for id in &ids {
            let eff = self.effective(&self.specs[id.0 as usize]);
            self.hops.set(id.0 as usize, eff);
        }
        ids.len()
    }

    /// Every neighbour some next hop in use goes through (resolved or not).
    pub fn wanted_neighbors(&self) -> impl Iterator<Item = &NeighborKey> + '_ {
        self.by_neighbor.keys()
    }

    /// The MAC of a neighbour, if recorded.
    pub fn neighbor(&self, key: &NeighborKey) -> Option<[u8; 6]> {
        self.neighbors.get(key).copied()
    }

    /// Every recorded neighbour.
    pub fn neighbors(&self) -> impl Iterator<Item = (&NeighborKey, &[u8; 6])> + '_ {
        self.neighbors.iter()
    }

    /// The next hop at `id` as the data plane sees it.
    pub fn get(&self, id: NextHopId) -> Option<&NextHop> {
        self.hops.get(id.0 as usize)
    }

    /// The specification `id` was interned with.
    pub fn spec(&self, id: NextHopId) -> Option<&NextHop> {
        match self.refs.get(id.0 as usize) {
            Some(r) if *r > 0 => self.specs.get(id.0 as usize),
            _ => None,
        }
    }

    /// True when `id` is in use.
    pub fn contains(&self, id: NextHopId) -> bool {
        matches!(self.refs.get(id.0 as usize), Some(r) if *r > 0)
    }

    /// References held on `id` (`u32::MAX` for the permanent ones).
    pub fn refs(&self, id: NextHopId) -> u32 {
        self.refs.get(id.0 as usize).copied().unwrap_or(0)
    }

    /// Number of ports next hops may use.
    pub fn port_count(&self) -> usize {
        self.port_macs.len()
    }

    /// The MAC address of `port`.
    pub fn port_mac(&self, port: PortId) -> Option<[u8; 6]> {
        self.port_macs.get(usize::from(port.0)).copied()
    }

    /// Next hops in use (including the two permanent ones).
    pub fn live(&self) -> usize {
        self.specs.len() - self.free.len()
    }

    /// Size of the id space (live plus free ids).
    pub fn capacity(&self) -> usize {
        self.specs.len()
    }

    /// The table as the data plane reads it.
    pub fn publish(&mut self) -> NextHopTable {
        NextHopTable {
            hops: self.hops.publish(),
        }
    }
}

fn neighbor_of(spec: &NextHop) -> Option<NeighborKey> {
    match *spec {
        NextHop::Unresolved {
            port, vlan, via, ..
        } if !via.is_unspecified() => Some(NeighborKey {
            port,
            vlan,
            ip: via,
        }),
        NextHop::L2tp(e) => Some(NeighborKey {
            port: e.port,
            vlan: e.vlan,
            ip: IpAddr::V4(e.via),
        }),
        _ => None,
    }
}

/// The read-only next-hop table of one forwarding-state version.
#[derive(Clone, Debug)]
pub struct NextHopTable {
    hops: PVec<NextHop>,
}

impl Default for NextHopTable {
    fn default() -> Self {
        NextHopPool::new(Vec::new()).publish()
    }
}

impl NextHopTable {
    /// Id of [`NextHop::Drop`].
    pub const DROP: NextHopId = NextHopId(0);
    /// Id of [`NextHop::Local`].
    pub const LOCAL: NextHopId = NextHopId(1);

    /// The next hop at `id`.
    #[inline]
    pub fn get(&self, id: NextHopId) -> Option<&NextHop> {
        self.hops.get(id.0 as usize)
    }

    /// Number of ids (free ones included; they read as `Drop`).
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Always false: Drop and Local are always present.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// Every next hop with its id.
    pub fn iter(&self) -> impl Iterator<Item = (NextHopId, &NextHop)> + '_ {
        self.hops
            .iter()
            .enumerate()
            .map(|(i, nh)| (NextHopId(i as u32), nh))
    }

    /// Heap bytes held by the table.
    pub fn memory_bytes(&self) -> usize {
        self.hops.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MACS: [[u8; 6]; 3] = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 2, 1]];

    #[test]
    fn l2tp_next_hops_follow_their_neighbour() {
        let mut p = NextHopPool::new(MACS.to_vec());
        let lac = Ipv4Addr::new(198, 51, 100, 2);
        let spec = |dst_mac| L2tpEncap {
            port: PortId(1),
            vlan: Some(7),
            src_mac: [9; 6],
            dst_mac,
            src_ip: Ipv4Addr::new(192, 0, 2, 1),
            dst_ip: lac,
            via: lac,
            counters: 3,
            src_port: 1701,
            dst_port: 1701,
            peer_tunnel: 70,
            peer_session: 90,
        };
        // The MACs of the specification do not matter: the same spec interns once.
        let a = p.intern(NextHop::L2tp(spec([1; 6]))).unwrap();
        let b = p.intern(NextHop::L2tp(spec([2; 6]))).unwrap();
        assert_eq!(a, b);
        let key = NeighborKey {
            port: PortId(1),
            vlan: Some(7),
            ip: lac.into(),
        };
        assert!(p.wanted_neighbors().any(|k| *k == key));
        let eff = |p: &NextHopPool| match p.get(a) {
            Some(NextHop::L2tp(e)) => (e.src_mac, e.dst_mac),
            other => panic!("{other:?}"),
        };
        assert_eq!(eff(&p), (MACS[1], [0; 6]), "unresolved: no destination MAC");
        assert_eq!(p.set_neighbor(key, Some([0xaa; 6])), 1);
        assert_eq!(eff(&p), (MACS[1], [0xaa; 6]));
        assert_eq!(p.set_neighbor(key, Some([0xbb; 6])), 1);
        assert_eq!(eff(&p), (MACS[1], [0xbb; 6]));
        p.release(a);
        p.release(b);
        assert!(!p.wanted_neighbors().any(|k| *k == key));
    }

    #[test]
    fn pppoe_next_hops_take_the_port_mac_and_are_checked() {
        let mut p = NextHopPool::new(MACS.to_vec());
        let e = |src_mac, session, dst_mac| PppoeEncap {
            port: PortId(2),
            vlan: Some(30),
            src_mac,
            dst_mac,
            session,
            counters: 4,
        };
        let sub = [2, 0, 0, 0, 0xab, 1];
        let a = p.intern(NextHop::Pppoe(e([1; 6], 7, sub))).unwrap();
        let b = p.intern(NextHop::Pppoe(e([2; 6], 7, sub))).unwrap();
        assert_eq!(a, b, "the source MAC of the spec does not matter");
        assert_eq!(p.refs(a), 2);
        assert_eq!(p.get(a), Some(&NextHop::Pppoe(e(MACS[2], 7, sub))));
        assert_eq!(p.spec(a), Some(&NextHop::Pppoe(e([0; 6], 7, sub))));
        assert_eq!(p.wanted_neighbors().count(), 0, "no neighbour to resolve");
        let other = p.intern(NextHop::Pppoe(e([0; 6], 8, sub))).unwrap();
        assert_ne!(other, a);
        for (session, mac, why) in [
            (0, sub, "reserved session id"),
            (0xffff, sub, "reserved session id"),
            (9, [0; 6], "no subscriber MAC"),
            (9, [1, 0, 0x5e, 0, 0, 1], "multicast subscriber MAC"),
        ] {
            let err = p
                .intern(NextHop::Pppoe(e([0; 6], session, mac)))
                .unwrap_err();
            assert_eq!(
                err,
                NextHopError::InvalidPppoe {
                    port: PortId(2),
                    session,
                    reason: why
                }
            );
        }
        assert_eq!(
            p.intern(NextHop::Pppoe(e([0; 6], 0, sub)))
                .unwrap_err()
                .to_string(),
            "PPPoE next hop on port2 session 0: reserved session id (needs a session id \
             1..=65534 and the subscriber's unicast MAC)"
        );
        let mut bad_port = e([0; 6], 7, sub);
        bad_port.port = PortId(9);
        assert_eq!(
            p.intern(NextHop::Pppoe(bad_port)),
            Err(NextHopError::UnknownPort(PortId(9)))
        );
        p.release(a);
        p.release(a);
        assert!(!p.contains(a));
        assert_eq!(NextHop::Pppoe(e([0; 6], 7, sub)).kind(), "PPPoE");
        assert!(NextHop::Pppoe(e([0; 6], 7, sub)).is_session());
        assert!(!NextHop::Local.is_session());
    }

    fn fwd(port: u16, push: LabelPush) -> NextHop {
        NextHop::Forward {
            port: PortId(port),
            vlan: Some(10),
            src_mac: MACS.get(port as usize).copied().unwrap_or_default(),
            dst_mac: [2, 0, 0, 0, 0, 2],
            push,
        }
    }

    fn via(port: u16, ip: [u8; 4], push: LabelPush) -> NextHop {
        NextHop::Unresolved {
            port: PortId(port),
            vlan: Some(10),
            via: IpAddr::V4(Ipv4Addr::from(ip)),
            push,
        }
    }

    #[test]
    fn fixed_ids_dedup_and_reuse() {
        let mut p = NextHopPool::new(MACS.to_vec());
        assert_eq!(p.intern(NextHop::Drop), Ok(NextHopTable::DROP));
        assert_eq!(p.intern(NextHop::Local), Ok(NextHopTable::LOCAL));
        let l = Label::new(100).unwrap();
        let a = p.intern(fwd(1, LabelPush::one(l))).unwrap();
        assert_eq!(a, NextHopId(2));
        assert_eq!(p.intern(fwd(1, LabelPush::one(l))), Ok(a));
        assert_eq!(p.refs(a), 2);
        let b = p.intern(fwd(1, LabelPush::EMPTY)).unwrap();
        assert_ne!(b, a);
        let t = p.publish();
        assert_eq!(t.get(a), Some(&fwd(1, LabelPush::one(l))));
        assert_eq!(t.get(NextHopTable::DROP), Some(&NextHop::Drop));
        assert_eq!(t.iter().count(), 4);
        // Two releases free `a`; its id is reused and reads as Drop until then.
        p.release(a);
        assert!(p.contains(a));
        p.release(a);
        assert!(!p.contains(a));
        assert_eq!(p.get(a), Some(&NextHop::Drop));
        assert_eq!(
            t.get(a),
            Some(&fwd(1, LabelPush::one(l))),
            "published version unchanged"
        );
        assert_eq!(p.intern(fwd(2, LabelPush::EMPTY)), Ok(a));
        assert_eq!(p.live(), 4);
        // The permanent ids survive any number of releases.
        p.release(NextHopTable::DROP);
        p.release(NextHopTable::DROP);
        assert!(p.contains(NextHopTable::DROP));
        assert_eq!(
            p.intern(fwd(7, LabelPush::EMPTY)),
            Err(NextHopError::UnknownPort(PortId(7)))
        );
        assert_eq!(
            p.retain(NextHopId(99)),
            Err(NextHopError::UnknownId(NextHopId(99)))
        );
    }

    #[test]
    fn next_hops_follow_their_neighbour() {
        let mut p = NextHopPool::new(MACS.to_vec());
        let l = LabelPush::one(Label::new(2001).unwrap());
        let plain = p.intern(via(1, [192, 0, 2, 2], LabelPush::EMPTY)).unwrap();
        let labelled = p.intern(via(1, [192, 0, 2, 2], l)).unwrap();
        let other = p.intern(via(1, [192, 0, 2, 3], l)).unwrap();
        let glean = p
            .intern(NextHop::Unresolved {
                port: PortId(1),
                vlan: Some(10),
                via: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                push: LabelPush::EMPTY,
            })
            .unwrap();
        let key = NeighborKey {
            port: PortId(1),
            vlan: Some(10),
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        };
        assert_eq!(p.set_neighbor(key, Some([2, 0, 0, 0, 0, 2])), 2);
        assert_eq!(p.get(plain), Some(&fwd(1, LabelPush::EMPTY)));
        assert_eq!(p.get(labelled), Some(&fwd(1, l)));
        assert!(matches!(p.get(other), Some(NextHop::Unresolved { .. })));
        assert!(matches!(p.get(glean), Some(NextHop::Unresolved { .. })));
        assert_eq!(
            p.set_neighbor(key, Some([2, 0, 0, 0, 0, 2])),
            0,
            "no change"
        );
        // Interned after the neighbour is known: resolved at once; the spec is kept.
        p.release(plain);
        let again = p.intern(via(1, [192, 0, 2, 2], LabelPush::EMPTY)).unwrap();
        assert_eq!(p.get(again), Some(&fwd(1, LabelPush::EMPTY)));
        assert_eq!(
            p.spec(again),
            Some(&via(1, [192, 0, 2, 2], LabelPush::EMPTY))
        );
        assert_eq!(p.set_neighbor(key, None), 2);
        assert_eq!(p.get(labelled), Some(&via(1, [192, 0, 2, 2], l)));
    }

    #[test]
    fn label_push() {
        let ls: Vec<Label> = (16..21).map(|v| Label::new(v).unwrap()).collect();
        assert_eq!(
            LabelPush::new(&ls).unwrap_err().to_string(),
            "a next hop can push at most 4 labels, 5 given"
        );
        let p = LabelPush::new(&ls[..2]).unwrap();
        assert_eq!(p.as_slice(), &ls[..2]);
        assert_eq!(p.len(), 2);
        assert_eq!(p.header_len(), 8);
        assert!(LabelPush::EMPTY.is_empty());
        assert_eq!(LabelPush::new(&[]).unwrap(), LabelPush::default());
        assert_eq!(format!("{p:?}"), "[Label(16), Label(17)]");
        // Fits a cache line with room to spare; grows only on purpose.
        assert!(
            std::mem::size_of::<NextHop>() <= 48,
            "{}",
            std::mem::size_of::<NextHop>()
        );
    }
}
