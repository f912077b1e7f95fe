//! One complete version of the forwarding state: everything a worker reads to forward a
//! packet, compiled by the control plane and published as a whole ([`crate::publish`]).
//!
//! A [`ForwardingState`] is immutable. The control plane keeps a [`ForwardingStateBuilder`]
//! as its editable mirror, changes it, and builds and publishes a new version; `build`
//! checks that every index points somewhere (routes and label operations to existing next
//! hops, interface bindings and pop-to-VR operations to declared VRs), so the fast path can
//! follow indices without a second thought.
//!
//! VR FIBs are found through a flat `u32` array indexed by [`VrId`] (ids up to
//! [`MAX_VR_ID`], 4 bytes per id up to the largest id in use: 4 MiB at a million) that points
//! into a dense array of [`VrFib`]s, so sparse ids do not cost a FIB each.

use std::collections::BTreeMap;

use labelswitch::{Label, LabelMatrix, LabelMatrixBuilder, LabelOp, MatrixError};

use crate::fib::{Fib4, Fib6, Lpm, Prefix4, Prefix6};
use crate::ids::{NextHopId, VrId};
use crate::iface::{IfBinding, IfError, IfKey, InterfaceTable, InterfaceTableBuilder};
use crate::nexthop::{NextHop, NextHopError, NextHopTable, NextHopTableBuilder};
use crate::rib::{Rib, VrFib};

/// Largest VR id the forwarding state accepts (2^20 - 1).
pub const MAX_VR_ID: u32 = (1 << 20) - 1;

const NO_VR: u32 = u32::MAX;

/// Errors when assembling a forwarding state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The VR id is above [`MAX_VR_ID`].
    #[error("{0}: VR ids must be at most {MAX_VR_ID}")]
    VrIdTooLarge(VrId),
    /// The VR was declared twice.
    #[error("{0} is already declared")]
    DuplicateVr(VrId),
    /// The VR was not declared.
    #[error("{0} is not declared; declare it with add_vr first")]
    UnknownVr(VrId),
    /// A route names a next hop that does not exist.
    #[error("route {prefix} in {vr} uses {next_hop}, which does not exist")]
    RouteToUnknownNextHop {
        /// The VR.
        vr: VrId,
        /// The prefix, as text.
        prefix: String,
        /// The missing next hop.
        next_hop: NextHopId,
    },
    /// An interface is bound to a VR that was not declared.
    #[error("{key} is bound to {vr}, which is not declared")]
    BindingToUnknownVr {
        /// The interface.
        key: IfKey,
        /// The missing VR.
        vr: VrId,
    },
    /// A label operation points to a missing next hop or VR.
    #[error("label {label} ({op}) points to a {what} that does not exist")]
    DanglingLabel {
        /// The label.
        label: Label,
        /// Its operation.
        op: LabelOp,
        /// `next hop` or `virtual router`.
        what: &'static str,
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
}

/// Everything the data plane reads, one immutable version.
#[derive(Clone, Debug)]
pub struct ForwardingState {
    /// Version number, increasing with every publication.
    pub version: u64,
    /// Ingress interface → VR or trunk.
    pub interfaces: InterfaceTable,
    /// The shared next-hop table.
    pub next_hops: NextHopTable,
    /// Incoming label → operation.
    pub labels: LabelMatrix,
    /// `VrId.0` → index into `vrs`, [`NO_VR`] when absent.
    vr_slots: Box<[u32]>,
    vrs: Box<[VrFib]>,
    vr_ids: Box<[VrId]>,
}

impl Default for ForwardingState {
    /// Version 0: nothing bound, so every packet is dropped.
    fn default() -> Self {
        ForwardingStateBuilder::new()
            .build(0)
            .expect("an empty state is consistent")
    }
}

impl ForwardingState {
    /// The FIBs of VR `vr`, if it is declared.
    #[inline]
    pub fn vr_fib(&self, vr: VrId) -> Option<&VrFib> {
        let slot = *self.vr_slots.get(vr.0 as usize)?;
        // NO_VR (u32::MAX) is never a valid index.
        self.vrs.get(slot as usize)
    }

    /// The next hop at `id` (shortcut for `next_hops.get`).
    #[inline]
    pub fn next_hop(&self, id: NextHopId) -> Option<&NextHop> {
        self.next_hops.get(id)
    }

    /// Number of declared VRs.
    pub fn vr_count(&self) -> usize {
        self.vrs.len()
    }

    /// Every declared VR and its FIBs, by id.
    pub fn vr_fibs(&self) -> impl Iterator<Item = (VrId, &VrFib)> + '_ {
        self.vr_ids.iter().copied().zip(self.vrs.iter())
    }

    /// Heap bytes held by this version (for scale reports).
    pub fn memory_bytes(&self) -> usize {
        self.interfaces.memory_bytes()
            + self.next_hops.memory_bytes()
            + self.labels.memory_bytes()
            + std::mem::size_of_val(&*self.vr_slots)
            + std::mem::size_of_val(&*self.vrs)
            + std::mem::size_of_val(&*self.vr_ids)
            + self.vrs.iter().map(VrFib::memory_bytes).sum::<usize>()
    }
}

#[derive(Clone, Debug, Default)]
struct VrRoutes {
    v4: Vec<(Prefix4, NextHopId)>,
    v6: Vec<(Prefix6, NextHopId)>,
}

/// The control plane's editable mirror of the forwarding state.
#[derive(Clone, Debug, Default)]
pub struct ForwardingStateBuilder {
    interfaces: InterfaceTableBuilder,
    next_hops: NextHopTableBuilder,
    labels: LabelMatrixBuilder,
    vrs: BTreeMap<VrId, VrRoutes>,
}

impl ForwardingStateBuilder {
    /// An empty builder: no VR, no binding, no label; next hops Drop and Local only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a next hop (deduplicated, see [`NextHopTableBuilder::add`]).
    pub fn add_next_hop(&mut self, nh: NextHop) -> NextHopId {
        self.next_hops.add(nh)
    }

    /// Replaces a next hop in place (neighbour resolved or changed).
    pub fn replace_next_hop(&mut self, id: NextHopId, nh: NextHop) -> Result<NextHop, StateError> {
        Ok(self.next_hops.replace(id, nh)?)
    }

    /// Binds an interface (checked against declared VRs at [`build`](Self::build)).
    pub fn bind_interface(&mut self, key: IfKey, binding: IfBinding) -> Result<(), StateError> {
        Ok(self.interfaces.bind(key, binding)?)
    }

    /// Unbinds an interface.
    pub fn unbind_interface(&mut self, key: &IfKey) -> Result<IfBinding, StateError> {
        Ok(self.interfaces.unbind(key)?)
    }

    /// Declares VR `vr` with no routes.
    pub fn add_vr(&mut self, vr: VrId) -> Result<(), StateError> {
        if vr.0 > MAX_VR_ID {
            return Err(StateError::VrIdTooLarge(vr));
        }
        if self.vrs.contains_key(&vr) {
            return Err(StateError::DuplicateVr(vr));
        }
        self.vrs.insert(vr, VrRoutes::default());
        Ok(())
    }

    /// Declares VR `vr` with the best routes of `rib`.
    pub fn add_vr_from_rib(&mut self, vr: VrId, rib: &Rib) -> Result<(), StateError> {
        let v4 = rib.v4.fib_routes();
        let v6 = rib.v6.fib_routes();
        for (p, nh) in &v4 {
            self.check_next_hop(vr, p, *nh)?;
        }
        for (p, nh) in &v6 {
            self.check_next_hop(vr, p, *nh)?;
        }
        self.add_vr(vr)?;
        self.vrs.insert(vr, VrRoutes { v4, v6 });
        Ok(())
    }

    /// Removes VR `vr` with its routes, its interface bindings and the label operations
    /// that pop into it.
    pub fn remove_vr(&mut self, vr: VrId) -> Result<(), StateError> {
        self.vrs.remove(&vr).ok_or(StateError::UnknownVr(vr))?;
        self.interfaces.unbind_vr(vr);
        self.labels
            .retain(|_, op| op != LabelOp::PopToVr { vr: vr.0 });
        Ok(())
    }

    fn check_next_hop(
        &self,
        vr: VrId,
        prefix: &dyn std::fmt::Display,
        nh: NextHopId,
    ) -> Result<(), StateError> {
        if self.next_hops.contains(nh) {
            Ok(())
        } else {
            Err(StateError::RouteToUnknownNextHop {
                vr,
                prefix: prefix.to_string(),
                next_hop: nh,
            })
        }
    }

    /// Adds an IPv4 route to VR `vr` (a later route for the same prefix wins).
    pub fn add_route4(
        &mut self,
        vr: VrId,
        prefix: Prefix4,
        nh: NextHopId,
    ) -> Result<(), StateError> {
        self.check_next_hop(vr, &prefix, nh)?;
        let routes = self.vrs.get_mut(&vr).ok_or(StateError::UnknownVr(vr))?;
        routes.v4.push((prefix, nh));
        Ok(())
    }

    /// Adds an IPv6 route to VR `vr` (a later route for the same prefix wins).
    pub fn add_route6(
        &mut self,
        vr: VrId,
        prefix: Prefix6,
        nh: NextHopId,
    ) -> Result<(), StateError> {
        self.check_next_hop(vr, &prefix, nh)?;
        let routes = self.vrs.get_mut(&vr).ok_or(StateError::UnknownVr(vr))?;
        routes.v6.push((prefix, nh));
        Ok(())
    }

    /// Binds an incoming label (checked against next hops and VRs at
    /// [`build`](Self::build)).
    pub fn insert_label(&mut self, label: Label, op: LabelOp) -> Result<(), StateError> {
        Ok(self.labels.insert(label, op)?)
    }

    /// Unbinds an incoming label.
    pub fn remove_label(&mut self, label: Label) -> Option<LabelOp> {
        self.labels.remove(label)
    }

    /// The next hops so far.
    pub fn next_hops(&self) -> &NextHopTableBuilder {
        &self.next_hops
    }

    /// The interface bindings so far.
    pub fn interfaces(&self) -> &InterfaceTableBuilder {
        &self.interfaces
    }

    /// Compiles version `version`, after checking that every index resolves.
    pub fn build(&self, version: u64) -> Result<ForwardingState, StateError> {
        for (key, binding) in self.interfaces.iter() {
            if let IfBinding::Vr(vr) = binding {
                if !self.vrs.contains_key(&vr) {
                    return Err(StateError::BindingToUnknownVr { key, vr });
                }
            }
        }
        let labels = self.labels.build();
        for (label, op) in labels.iter() {
            let ok = match op {
                LabelOp::Swap { next_hop, .. } | LabelOp::PopAndForward { next_hop } => {
                    self.next_hops.contains(NextHopId(next_hop))
                }
                LabelOp::PopToVr { vr } => self.vrs.contains_key(&VrId(vr)),
                LabelOp::Pop => true,
            };
            if !ok {
                let what = match op {
                    LabelOp::PopToVr { .. } => "virtual router",
                    _ => "next hop",
                };
                return Err(StateError::DanglingLabel { label, op, what });
            }
        }

        let slots_len = self
            .vrs
            .keys()
            .next_back()
            .map_or(0, |id| id.0 as usize + 1);
        let mut vr_slots = vec![NO_VR; slots_len];
        let mut vrs = Vec::with_capacity(self.vrs.len());
        let mut vr_ids = Vec::with_capacity(self.vrs.len());
        for (id, routes) in &self.vrs {
            // Fewer than 2^20 VRs, so the dense index fits in u32.
            vr_slots[id.0 as usize] = vrs.len() as u32;
            vrs.push(VrFib {
                fib4: Fib4::build(&routes.v4),
                fib6: Fib6::build(&routes.v6),
            });
            vr_ids.push(*id);
        }
        Ok(ForwardingState {
            version,
            interfaces: self.interfaces.build(),
            next_hops: self.next_hops.build(),
            labels,
            vr_slots: vr_slots.into_boxed_slice(),
            vrs: vrs.into_boxed_slice(),
            vr_ids: vr_ids.into_boxed_slice(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PortId;
    use crate::nexthop::LabelPush;
    use crate::rib::RouteSource;

    fn l(v: u32) -> Label {
        Label::new(v).unwrap()
    }

    fn fwd(push: LabelPush) -> NextHop {
        NextHop::Forward {
            port: PortId(0),
            vlan: None,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            push,
        }
    }

    #[test]
    fn assemble_and_read() {
        let mut b = ForwardingStateBuilder::new();
        let to_core = b.add_next_hop(fwd(LabelPush::one(l(2000))));
        b.add_vr(VrId(7)).unwrap();
        b.add_vr(VrId(1_000_000)).unwrap();
        b.add_route4(VrId(7), "0.0.0.0/0".parse().unwrap(), to_core)
            .unwrap();
        b.add_route6(VrId(7), "::/0".parse().unwrap(), NextHopTable::DROP)
            .unwrap();
        b.bind_interface(IfKey::PortVlan(PortId(1), 100), IfBinding::Vr(VrId(7)))
            .unwrap();
        b.bind_interface(IfKey::Port(PortId(0)), IfBinding::Trunk)
            .unwrap();
        b.insert_label(l(1000), LabelOp::PopToVr { vr: 7 }).unwrap();
        b.insert_label(
            l(1001),
            LabelOp::Swap {
                out: l(3000),
                next_hop: to_core.0,
            },
        )
        .unwrap();
        let s = b.build(42).unwrap();
        assert_eq!(s.version, 42);
        assert_eq!(s.vr_count(), 2);
        assert_eq!(
            s.interfaces.lookup_l2(PortId(1), Some(100)),
            Some(IfBinding::Vr(VrId(7)))
        );
        let fib = s.vr_fib(VrId(7)).unwrap();
        assert_eq!(fib.lookup4(0x0808_0808), Some(to_core));
        assert_eq!(fib.lookup6(1), Some(NextHopTable::DROP));
        assert_eq!(s.next_hop(to_core), Some(&fwd(LabelPush::one(l(2000)))));
        assert!(s.vr_fib(VrId(1_000_000)).unwrap().fib4.is_empty());
        assert!(s.vr_fib(VrId(8)).is_none());
        assert!(s.vr_fib(VrId(u32::MAX)).is_none());
        assert_eq!(s.labels.lookup(l(1000)), Some(LabelOp::PopToVr { vr: 7 }));
        assert_eq!(
            s.vr_fibs().map(|(id, _)| id).collect::<Vec<_>>(),
            vec![VrId(7), VrId(1_000_000)]
        );
        assert!(s.memory_bytes() >= 4 * 1_000_000);

        // Removing the VR drops its bindings and its pop label, nothing else.
        b.remove_vr(VrId(7)).unwrap();
        let s = b.build(43).unwrap();
        assert!(s.vr_fib(VrId(7)).is_none());
        assert_eq!(s.interfaces.lookup_l2(PortId(1), Some(100)), None);
        assert_eq!(
            s.interfaces.lookup_l2(PortId(0), None),
            Some(IfBinding::Trunk)
        );
        assert_eq!(s.labels.lookup(l(1000)), None);
        assert!(s.labels.lookup(l(1001)).is_some());
    }

    #[test]
    fn dangling_indices_are_refused() {
        let mut b = ForwardingStateBuilder::new();
        assert_eq!(
            b.add_vr(VrId(MAX_VR_ID + 1)).unwrap_err().to_string(),
            "vr1048576: VR ids must be at most 1048575"
        );
        b.add_vr(VrId(1)).unwrap();
        assert_eq!(b.add_vr(VrId(1)), Err(StateError::DuplicateVr(VrId(1))));
        assert_eq!(
            b.add_route4(VrId(1), "10.0.0.0/8".parse().unwrap(), NextHopId(9))
                .unwrap_err()
                .to_string(),
            "route 10.0.0.0/8 in vr1 uses nh9, which does not exist"
        );
        assert_eq!(
            b.add_route4(VrId(2), "10.0.0.0/8".parse().unwrap(), NextHopTable::DROP),
            Err(StateError::UnknownVr(VrId(2)))
        );

        b.bind_interface(IfKey::Port(PortId(3)), IfBinding::Vr(VrId(2)))
            .unwrap();
        assert_eq!(
            b.build(1).unwrap_err().to_string(),
            "port 3 is bound to vr2, which is not declared"
        );
        b.unbind_interface(&IfKey::Port(PortId(3))).unwrap();

        b.insert_label(l(100), LabelOp::PopToVr { vr: 2 }).unwrap();
        assert_eq!(
            b.build(1).unwrap_err().to_string(),
            "label 100 (pop to vr2) points to a virtual router that does not exist"
        );
        b.remove_label(l(100));
        b.insert_label(l(100), LabelOp::PopAndForward { next_hop: 77 })
            .unwrap();
        assert_eq!(
            b.build(1).unwrap_err().to_string(),
            "label 100 (pop and forward via nh77) points to a next hop that does not exist"
        );
        b.remove_label(l(100));
        assert!(b.build(1).is_ok());
        assert!(matches!(
            b.insert_label(l(3), LabelOp::PopToVr { vr: 1 }),
            Err(StateError::Label(MatrixError::Reserved(_)))
        ));
    }

    #[test]
    fn vr_from_rib() {
        let mut b = ForwardingStateBuilder::new();
        let nh = b.add_next_hop(fwd(LabelPush::EMPTY));
        let mut rib = Rib::new();
        rib.v4
            .add("192.0.2.0/24".parse().unwrap(), RouteSource::Connected, nh)
            .unwrap();
        rib.v4
            .add(
                "192.0.2.1/32".parse().unwrap(),
                RouteSource::Local,
                NextHopTable::LOCAL,
            )
            .unwrap();
        b.add_vr_from_rib(VrId(3), &rib).unwrap();
        let s = b.build(1).unwrap();
        let fib = s.vr_fib(VrId(3)).unwrap();
        assert_eq!(fib.lookup4(0xc000_0201), Some(NextHopTable::LOCAL));
        assert_eq!(fib.lookup4(0xc000_0202), Some(nh));

        let mut bad = Rib::new();
        bad.v6
            .add(
                "2001:db8::/32".parse().unwrap(),
                RouteSource::Static,
                NextHopId(50),
            )
            .unwrap();
        assert!(matches!(
            b.add_vr_from_rib(VrId(4), &bad),
            Err(StateError::RouteToUnknownNextHop { .. })
        ));
        assert!(matches!(
            b.add_vr_from_rib(VrId(3), &rib),
            Err(StateError::DuplicateVr(VrId(3)))
        ));
    }

    #[test]
    fn default_state_forwards_nothing() {
        let s = ForwardingState::default();
        assert_eq!(s.version, 0);
        assert_eq!(s.vr_count(), 0);
        assert!(s.vr_fib(VrId(0)).is_none());
        assert_eq!(s.interfaces.lookup_l2(PortId(0), None), None);
        assert_eq!(s.next_hops.len(), 2);
    }
}
