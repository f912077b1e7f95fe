//! The shared next-hop table: index → what to do with a packet (VPP's DPOs).
//!
//! FIB entries and label-matrix entries hold a [`NextHopId`]; the data plane follows it to a
//! [`NextHop`] that says which port, VLAN and MAC addresses to use and which labels to push.
//! Equal next hops are stored once ([`NextHopTableBuilder::add`] deduplicates), so a
//! neighbour change rewrites one entry for every route that uses it.
//!
//! Ids [`NextHopTable::DROP`] (0) and [`NextHopTable::LOCAL`] (1) are always present.
//!
//! [`NextHop::L2tp`] sends a routed packet into an L2TPv2 session (the LNS direction:
//! IP → PPP → L2TP → UDP → IPv4). Not yet here: ESP encapsulation (S3) and ECMP groups.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use hashbrown::HashMap;
use labelswitch::Label;

use crate::ids::{NextHopId, PortId};

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
    /// Our UDP port (1701 unless the peer floated it).
    pub src_port: u16,
    /// The peer's UDP port.
    pub dst_port: u16,
    /// Tunnel id assigned by the peer.
    pub peer_tunnel: u16,
    /// Session id assigned by the peer.
    pub peer_session: u16,
}

/// Collects next hops (deduplicated), then compiles a [`NextHopTable`].
#[derive(Clone, Debug)]
pub struct NextHopTableBuilder {
    hops: Vec<NextHop>,
    index: HashMap<NextHop, NextHopId>,
}

impl Default for NextHopTableBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl NextHopTableBuilder {
    /// A builder holding [`NextHop::Drop`] at id 0 and [`NextHop::Local`] at id 1.
    pub fn new() -> Self {
        let mut b = NextHopTableBuilder {
            hops: Vec::new(),
            index: HashMap::new(),
        };
        b.add(NextHop::Drop);
        b.add(NextHop::Local);
        b
    }

    /// Adds `nh` and returns its id; an equal next hop already present keeps its id.
    ///
    /// # Panics
    ///
    /// After 2^32 - 1 distinct next hops (ids are `u32`).
    pub fn add(&mut self, nh: NextHop) -> NextHopId {
        if let Some(id) = self.index.get(&nh) {
            return *id;
        }
        let id = NextHopId(u32::try_from(self.hops.len()).expect("fewer than 2^32 next hops"));
        self.hops.push(nh);
        self.index.insert(nh, id);
        id
    }

    /// Replaces the next hop at `id` in place (e.g. `Unresolved` → `Forward` when the
    /// neighbour's MAC is learnt); every route using `id` follows. Returns the old value.
    pub fn replace(&mut self, id: NextHopId, nh: NextHop) -> Result<NextHop, NextHopError> {
        let slot = self
            .hops
            .get_mut(id.0 as usize)
            .ok_or(NextHopError::UnknownId(id))?;
        let old = std::mem::replace(slot, nh);
        if self.index.get(&old) == Some(&id) {
            self.index.remove(&old);
        }
        self.index.entry(nh).or_insert(id);
        Ok(old)
    }

    /// The next hop at `id`.
    pub fn get(&self, id: NextHopId) -> Option<&NextHop> {
        self.hops.get(id.0 as usize)
    }

    /// True if `id` is in the table.
    pub fn contains(&self, id: NextHopId) -> bool {
        (id.0 as usize) < self.hops.len()
    }

    /// Number of next hops (including the two fixed ones).
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Always false: Drop and Local are always present.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// Compiles the table.
    pub fn build(&self) -> NextHopTable {
        NextHopTable {
            hops: self.hops.clone().into_boxed_slice(),
        }
    }
}

/// The compiled, read-only next-hop table.
#[derive(Clone, Debug)]
pub struct NextHopTable {
    hops: Box<[NextHop]>,
}

impl Default for NextHopTable {
    fn default() -> Self {
        NextHopTableBuilder::new().build()
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

    /// Number of next hops.
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
        std::mem::size_of_val(&*self.hops)
    }

    /// A builder holding this table's next hops (same ids).
    pub fn to_builder(&self) -> NextHopTableBuilder {
        let mut index = HashMap::with_capacity(self.hops.len());
        for (id, nh) in self.iter() {
            index.entry(*nh).or_insert(id);
        }
        NextHopTableBuilder {
            hops: self.hops.to_vec(),
            index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn fwd(port: u16, push: LabelPush) -> NextHop {
        NextHop::Forward {
            port: PortId(port),
            vlan: Some(10),
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            push,
        }
    }

    #[test]
    fn fixed_ids_and_dedup() {
        let mut b = NextHopTableBuilder::new();
        assert_eq!(b.add(NextHop::Drop), NextHopTable::DROP);
        assert_eq!(b.add(NextHop::Local), NextHopTable::LOCAL);
        let l = Label::new(100).unwrap();
        let a = b.add(fwd(1, LabelPush::one(l)));
        assert_eq!(a, NextHopId(2));
        assert_eq!(b.add(fwd(1, LabelPush::one(l))), a);
        assert_ne!(b.add(fwd(1, LabelPush::EMPTY)), a);
        assert_ne!(b.add(fwd(2, LabelPush::one(l))), a);
        let t = b.build();
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(a), Some(&fwd(1, LabelPush::one(l))));
        assert_eq!(t.get(NextHopId(5)), None);
        assert_eq!(t.get(NextHopTable::DROP), Some(&NextHop::Drop));
        assert_eq!(t.iter().count(), 5);
        let mut b2 = t.to_builder();
        assert_eq!(b2.add(fwd(2, LabelPush::one(l))), NextHopId(4));
    }

    #[test]
    fn resolve_in_place() {
        let mut b = NextHopTableBuilder::new();
        let unresolved = NextHop::Unresolved {
            port: PortId(1),
            vlan: Some(10),
            via: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            push: LabelPush::EMPTY,
        };
        let id = b.add(unresolved);
        assert_eq!(b.replace(id, fwd(1, LabelPush::EMPTY)), Ok(unresolved));
        assert_eq!(b.get(id), Some(&fwd(1, LabelPush::EMPTY)));
        // The old value is no longer indexed; the new one is.
        assert_eq!(b.add(fwd(1, LabelPush::EMPTY)), id);
        assert_ne!(b.add(unresolved), id);
        assert_eq!(
            b.replace(NextHopId(99), NextHop::Drop),
            Err(NextHopError::UnknownId(NextHopId(99)))
        );
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
