//! The interface table: which VR (or the MPLS trunk) a packet belongs to, by where it came
//! in (seed claim 8: port, VLAN, L2TP session, PPPoE session, ISP id).
//!
//! The compiled [`InterfaceTable`] answers the per-packet question for Ethernet ingress,
//! [`InterfaceTable::lookup_l2`], from flat arrays: one entry per port for untagged frames
//! and, for ports with VLAN bindings, a 4096-entry array indexed by VLAN id. No hashing, no
//! allocation. ISP ids go through a hash map ([`InterfaceTable::lookup`]). It changes only
//! by management (profile reload, API) and is rebuilt whole when it does; session keys
//! (L2TP, PPPoE), which change at subscriber rates, live in [`crate::session`].
//!
//! There is deliberately no default: a key that is not bound has no VR, and the data plane
//! drops the packet (DESIGN.md: "nothing in the fast path may fall back to a default VR").

use std::collections::BTreeMap;
use std::fmt;

use hashbrown::HashMap;

use crate::ids::{PortId, VrId};

/// Number of VLAN ids (12 bits).
pub const VLAN_COUNT: usize = 4096;

/// Where a packet entered the appliance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfKey {
    /// Untagged (or priority-tagged, VLAN id 0) frames on a port.
    Port(PortId),
    /// 802.1Q-tagged frames with this VLAN id (1..=4094) on a port.
    PortVlan(PortId, u16),
    /// Traffic attributed to an ISP (wholesale access), by ISP id.
    Isp(u32),
}

impl IfKey {
    /// Checks that the key can be bound (VLAN ids 1..=4094).
    pub fn check(&self) -> Result<(), IfError> {
        if let IfKey::PortVlan(_, vlan) = *self {
            if vlan == 0 || vlan as usize >= VLAN_COUNT - 1 {
                return Err(IfError::InvalidVlan { key: *self, vlan });
            }
        }
        Ok(())
    }
}

impl fmt::Display for IfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfKey::Port(p) => write!(f, "port {}", p.0),
            IfKey::PortVlan(p, v) => write!(f, "port {} vlan {v}", p.0),
            IfKey::Isp(id) => write!(f, "isp {id}"),
        }
    }
}

/// What an interface is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IfBinding {
    /// Customer-facing: packets belong to this VR. Labelled packets are dropped.
    Vr(VrId),
    /// Core-facing trunk: carries MPLS, handled by the label matrix; belongs to no VR.
    Trunk,
}

impl fmt::Display for IfBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfBinding::Vr(vr) => write!(f, "{vr}"),
            IfBinding::Trunk => f.write_str("the MPLS trunk"),
        }
    }
}

/// Errors when binding interfaces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IfError {
    /// The key already has a binding.
    #[error("{key} is already bound to {existing}")]
    AlreadyBound {
        /// The key bound twice.
        key: IfKey,
        /// Its current binding.
        existing: IfBinding,
    },
    /// The VLAN id cannot be bound.
    #[error("{key}: VLAN id {vlan} cannot be bound; expected 1..=4094 (0 means untagged, 4095 is reserved)")]
    InvalidVlan {
        /// The key as given.
        key: IfKey,
        /// The VLAN id.
        vlan: u16,
    },
    /// `unbind` of a key that is not bound.
    #[error("{0} is not bound")]
    NotBound(IfKey),
}

/// Collects bindings, then compiles an [`InterfaceTable`].
#[derive(Clone, Debug, Default)]
pub struct InterfaceTableBuilder {
    bindings: BTreeMap<IfKey, IfBinding>,
}

impl InterfaceTableBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `key` to `binding`; a key can be bound only once.
    pub fn bind(&mut self, key: IfKey, binding: IfBinding) -> Result<(), IfError> {
        key.check()?;
        match self.bindings.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => Err(IfError::AlreadyBound {
                key,
                existing: *e.get(),
            }),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(binding);
                Ok(())
            }
        }
    }

    /// Removes the binding of `key` and returns it.
    pub fn unbind(&mut self, key: &IfKey) -> Result<IfBinding, IfError> {
        self.bindings.remove(key).ok_or(IfError::NotBound(*key))
    }

    /// Removes every binding to `vr` (a VR being deleted); returns how many.
    pub fn unbind_vr(&mut self, vr: VrId) -> usize {
        let before = self.bindings.len();
        self.bindings.retain(|_, b| *b != IfBinding::Vr(vr));
        before - self.bindings.len()
    }

    /// The binding of `key` so far.
    pub fn get(&self, key: &IfKey) -> Option<IfBinding> {
        self.bindings.get(key).copied()
    }

    /// Every binding, by key.
    pub fn iter(&self) -> impl Iterator<Item = (IfKey, IfBinding)> + '_ {
        self.bindings.iter().map(|(k, b)| (*k, *b))
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// True when nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Compiles the table.
    pub fn build(&self) -> InterfaceTable {
        let mut ports: Vec<PortEntry> = Vec::new();
        let mut other = HashMap::new();
        for (&key, &binding) in &self.bindings {
            match key {
                IfKey::Port(p) | IfKey::PortVlan(p, _) => {
                    let i = p.0 as usize;
                    if ports.len() <= i {
                        ports.resize_with(i + 1, PortEntry::default);
                    }
                    let entry = &mut ports[i];
                    match key {
                        IfKey::PortVlan(_, v) => {
                            if entry.vlans.is_empty() {
                                entry.vlans = vec![None; VLAN_COUNT].into_boxed_slice();
                            }
                            entry.vlans[v as usize] = Some(binding);
                        }
                        _ => entry.untagged = Some(binding),
                    }
                }
                _ => {
                    other.insert(key, binding);
                }
            }
        }
        other.shrink_to_fit();
        InterfaceTable {
            ports: ports.into_boxed_slice(),
            other,
            count: self.bindings.len(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct PortEntry {
    untagged: Option<IfBinding>,
    /// Empty, or `VLAN_COUNT` entries indexed by VLAN id.
    vlans: Box<[Option<IfBinding>]>,
}

/// The compiled, read-only interface table.
#[derive(Clone, Debug, Default)]
pub struct InterfaceTable {
    ports: Box<[PortEntry]>,
    other: HashMap<IfKey, IfBinding>,
    count: usize,
}

impl InterfaceTable {
    /// Binding of an Ethernet frame received on `port`, untagged (`vlan == None`) or with
    /// an 802.1Q VLAN id. VLAN id 0 (priority tag, IEEE 802.1Q) counts as untagged; ids
    /// above 4095 have no binding.
    #[inline]
    pub fn lookup_l2(&self, port: PortId, vlan: Option<u16>) -> Option<IfBinding> {
        let entry = self.ports.get(port.0 as usize)?;
        match vlan {
            None | Some(0) => entry.untagged,
            Some(v) => entry.vlans.get(v as usize).copied().flatten(),
        }
    }

    /// Binding of any interface key.
    #[inline]
    pub fn lookup(&self, key: &IfKey) -> Option<IfBinding> {
        match *key {
            IfKey::Port(p) => self.lookup_l2(p, None),
            IfKey::PortVlan(p, v) if v != 0 => self.lookup_l2(p, Some(v)),
            IfKey::PortVlan(..) => None,
            _ => self.other.get(key).copied(),
        }
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Heap bytes held by the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.ports)
            + self
                .ports
                .iter()
                .map(|p| std::mem::size_of_val(&*p.vlans))
                .sum::<usize>()
            + self.other.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: PortId = PortId(1);

    #[test]
    fn bind_and_lookup() {
        let mut b = InterfaceTableBuilder::new();
        b.bind(IfKey::Port(P1), IfBinding::Vr(VrId(1))).unwrap();
        b.bind(IfKey::PortVlan(P1, 100), IfBinding::Vr(VrId(2)))
            .unwrap();
        b.bind(IfKey::Port(PortId(3)), IfBinding::Trunk).unwrap();
        b.bind(IfKey::Isp(42), IfBinding::Vr(VrId(9))).unwrap();
        let t = b.build();
        assert_eq!(t.len(), 4);
        assert_eq!(t.lookup_l2(P1, None), Some(IfBinding::Vr(VrId(1))));
        assert_eq!(t.lookup_l2(P1, Some(0)), Some(IfBinding::Vr(VrId(1))));
        assert_eq!(t.lookup_l2(P1, Some(100)), Some(IfBinding::Vr(VrId(2))));
        assert_eq!(t.lookup_l2(P1, Some(101)), None);
        assert_eq!(t.lookup_l2(P1, Some(60000)), None);
        assert_eq!(t.lookup_l2(PortId(2), None), None);
        assert_eq!(t.lookup_l2(PortId(3), None), Some(IfBinding::Trunk));
        assert_eq!(t.lookup_l2(PortId(3), Some(100)), None);
        assert_eq!(t.lookup_l2(PortId(400), Some(100)), None);
        assert_eq!(t.lookup(&IfKey::Isp(42)), Some(IfBinding::Vr(VrId(9))));
        assert_eq!(
            t.lookup(&IfKey::PortVlan(P1, 100)),
            Some(IfBinding::Vr(VrId(2)))
        );
        assert_eq!(t.lookup(&IfKey::PortVlan(P1, 0)), None);
        assert_eq!(t.lookup(&IfKey::Port(P1)), Some(IfBinding::Vr(VrId(1))));
        // One port with a VLAN array dominates the memory.
        assert!(t.memory_bytes() >= VLAN_COUNT * std::mem::size_of::<Option<IfBinding>>());
    }

    #[test]
    fn no_default_vr() {
        let t = InterfaceTableBuilder::new().build();
        assert!(t.is_empty());
        assert_eq!(t.lookup_l2(PortId(0), None), None);
        assert_eq!(t.lookup(&IfKey::Isp(0)), None);
    }

    #[test]
    fn rejects_double_binding_with_clear_message() {
        let mut b = InterfaceTableBuilder::new();
        b.bind(IfKey::PortVlan(P1, 100), IfBinding::Vr(VrId(2)))
            .unwrap();
        let e = b
            .bind(IfKey::PortVlan(P1, 100), IfBinding::Vr(VrId(3)))
            .unwrap_err();
        assert_eq!(e.to_string(), "port 1 vlan 100 is already bound to vr2");
        assert_eq!(
            b.bind(IfKey::PortVlan(P1, 4095), IfBinding::Trunk)
                .unwrap_err()
                .to_string(),
            "port 1 vlan 4095: VLAN id 4095 cannot be bound; expected 1..=4094 (0 means untagged, 4095 is reserved)"
        );
        assert!(b.bind(IfKey::PortVlan(P1, 0), IfBinding::Trunk).is_err());
        assert_eq!(
            b.unbind(&IfKey::PortVlan(P1, 100)),
            Ok(IfBinding::Vr(VrId(2)))
        );
        assert_eq!(
            b.unbind(&IfKey::PortVlan(P1, 100)).unwrap_err().to_string(),
            "port 1 vlan 100 is not bound"
        );
        b.bind(IfKey::PortVlan(P1, 100), IfBinding::Vr(VrId(3)))
            .unwrap();
        b.bind(IfKey::Port(P1), IfBinding::Vr(VrId(3))).unwrap();
        b.bind(IfKey::Isp(1), IfBinding::Vr(VrId(4))).unwrap();
        assert_eq!(b.unbind_vr(VrId(3)), 2);
        assert_eq!(b.len(), 1);
        let t = b.build();
        assert_eq!(t.lookup_l2(P1, Some(100)), None);
    }
}
