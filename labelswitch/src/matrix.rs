//! The label matrix: incoming label → label operation (the MPLS "ILM", VPP's `mpls_fib`).
//!
//! # Layout
//!
//! The matrix is an array keyed by label value, split in two levels so that a router using a
//! few label ranges does not pay for all 2^20 labels:
//!
//! * `dir`: 256 entries (one per 4096-label chunk, 1 KiB, inline in the struct and so always
//!   hot in L1) holding the offset of that chunk in `slots`;
//! * `slots`: the chunks that hold at least one label, 4096 × `u32` (16 KiB) each, plus one
//!   shared all-empty chunk at offset 0 that every unused `dir` entry points to;
//! * `ops`: the operations, indexed by the `u32` found in `slots` (`u32::MAX` = no entry).
//!
//! A lookup is therefore branch-free up to the final bounds check: `dir` (L1), one slot, one
//! op — no hashing, no probing. A fully populated matrix costs 4 MiB + 16 KiB of index; one
//! that uses a single range of 10 000 labels costs about 48 KiB. The flat single-level array
//! (4 MiB whatever the use) would save the `dir` load, which always hits L1; with thousands of
//! VRs each version of the forwarding state is rebuilt and published on changes, so the
//! smaller index is the better trade.
//!
//! Reserved labels (0..=15) are never in the matrix: the data plane handles them (explicit
//! null, router alert) before looking up, and [`LabelMatrix::lookup`] returns `None` for them.

use std::collections::BTreeMap;
use std::fmt;

use crate::label::Label;

/// What to do with a packet whose top label matched.
///
/// Targets are plain indices so that this crate stays independent of the `vr` crate:
/// `next_hop` is an index into the shared next-hop table (which gives port, VLAN and MACs,
/// and possibly more labels to push), `vr` is a virtual router id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LabelOp {
    /// Replace the top label by `out` (TTL per [`crate::ttl::on_swap`]) and send to
    /// `next_hop`.
    Swap {
        /// Outgoing label.
        out: Label,
        /// Next-hop index.
        next_hop: u32,
    },
    /// Pop the label and look the inner packet up in VR `vr`'s FIB (TTL per
    /// [`crate::ttl::on_pop`]). Only valid at the bottom of the stack.
    PopToVr {
        /// Virtual router id.
        vr: u32,
    },
    /// Pop the label and send what is left to `next_hop` without a lookup (penultimate hop
    /// pop; TTL per [`crate::ttl::on_pop_and_forward`]).
    PopAndForward {
        /// Next-hop index.
        next_hop: u32,
    },
    /// Pop the label and process the next one here (egress of a transport LSP without
    /// penultimate-hop popping: the VPN label below is looked up next). Never at the bottom
    /// of the stack; the TTL moves down without a decrement (the next operation counts).
    Pop,
}

impl fmt::Display for LabelOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelOp::Swap { out, next_hop } => write!(f, "swap to {out} via nh{next_hop}"),
            LabelOp::PopToVr { vr } => write!(f, "pop to vr{vr}"),
            LabelOp::PopAndForward { next_hop } => write!(f, "pop and forward via nh{next_hop}"),
            LabelOp::Pop => write!(f, "pop and look up the next label"),
        }
    }
}

/// Errors when building a label matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// Reserved labels cannot carry an operation.
    #[error("label {0} is reserved (0..=15) and cannot be bound in the label matrix; expected 16..=1048575")]
    Reserved(Label),
    /// The label already has an operation.
    #[error("label {label} is already bound ({existing}); remove it first")]
    Duplicate {
        /// The label inserted twice.
        label: Label,
        /// The operation it already has.
        existing: LabelOp,
    },
}

const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: usize = CHUNK_LEN - 1;
const DIR_LEN: usize = Label::COUNT >> CHUNK_BITS;
const NONE: u32 = u32::MAX;

/// Collects label operations, then compiles them into a [`LabelMatrix`].
#[derive(Clone, Debug, Default)]
pub struct LabelMatrixBuilder {
    ops: BTreeMap<Label, LabelOp>,
}

impl LabelMatrixBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `label` to `op`. Fails for reserved labels and labels already bound.
    pub fn insert(&mut self, label: Label, op: LabelOp) -> Result<(), MatrixError> {
        if label.is_reserved() {
            return Err(MatrixError::Reserved(label));
        }
        match self.ops.entry(label) {
            std::collections::btree_map::Entry::Occupied(e) => Err(MatrixError::Duplicate {
                label,
                existing: *e.get(),
            }),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(op);
                Ok(())
            }
        }
    }

    /// Unbinds `label`, returning its operation if it had one.
    pub fn remove(&mut self, label: Label) -> Option<LabelOp> {
        self.ops.remove(&label)
    }

    /// Keeps only the bindings for which `keep` returns true (e.g. drop every pop into a VR
    /// being deleted); returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(Label, LabelOp) -> bool) -> usize {
        let before = self.ops.len();
        self.ops.retain(|l, op| keep(*l, *op));
        before - self.ops.len()
    }

    /// Every binding so far, by ascending label.
    pub fn iter(&self) -> impl Iterator<Item = (Label, LabelOp)> + '_ {
        self.ops.iter().map(|(l, op)| (*l, *op))
    }

    /// The operation bound to `label` so far.
    pub fn get(&self, label: Label) -> Option<LabelOp> {
        self.ops.get(&label).copied()
    }

    /// Number of bound labels.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no label is bound.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Compiles the matrix.
    pub fn build(&self) -> LabelMatrix {
        let mut dir = [0u32; DIR_LEN];
        // Chunk 0 is the shared empty chunk.
        let mut slots = vec![NONE; CHUNK_LEN];
        let mut ops = Vec::with_capacity(self.ops.len());
        let mut labels = Vec::with_capacity(self.ops.len());
        for (&label, &op) in &self.ops {
            let v = label.value() as usize;
            let d = v >> CHUNK_BITS;
            if dir[d] == 0 {
                // Offsets stay below 2^20 + 2^12, so they fit in u32.
                dir[d] = slots.len() as u32;
                slots.resize(slots.len() + CHUNK_LEN, NONE);
            }
            // ops.len() < 2^20, never NONE.
            slots[dir[d] as usize + (v & CHUNK_MASK)] = ops.len() as u32;
            ops.push(op);
            labels.push(label);
        }
        LabelMatrix {
            dir,
            slots: slots.into_boxed_slice(),
            ops: ops.into_boxed_slice(),
            labels: labels.into_boxed_slice(),
        }
    }
}

/// The compiled, read-only label matrix. See the module docs for the layout.
#[derive(Clone)]
pub struct LabelMatrix {
    dir: [u32; DIR_LEN],
    slots: Box<[u32]>,
    ops: Box<[LabelOp]>,
    /// `labels[i]` is the label bound to `ops[i]` (sorted ascending).
    labels: Box<[Label]>,
}

impl Default for LabelMatrix {
    fn default() -> Self {
        LabelMatrixBuilder::new().build()
    }
}

impl fmt::Debug for LabelMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl LabelMatrix {
    /// An empty matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// The operation bound to `label`, if any.
    #[inline]
    pub fn lookup(&self, label: Label) -> Option<LabelOp> {
        let v = label.value() as usize;
        // `& (DIR_LEN - 1)` is a no-op for a 20-bit label and lets the compiler drop the
        // bounds check on `dir`.
        let base = self.dir[(v >> CHUNK_BITS) & (DIR_LEN - 1)] as usize;
        let idx = self
            .slots
            .get(base + (v & CHUNK_MASK))
            .copied()
            .unwrap_or(NONE);
        // NONE (u32::MAX) is never a valid index, so `get` also answers "no entry".
        self.ops.get(idx as usize).copied()
    }

    /// Number of bound labels.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no label is bound.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes held by the matrix (index and operations).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.ops)
            + std::mem::size_of_val(&*self.labels)
    }

    /// Every binding, by ascending label.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Label, LabelOp)> + '_ {
        self.labels.iter().copied().zip(self.ops.iter().copied())
    }

    /// A builder holding this matrix's bindings, to derive the next version from.
    pub fn to_builder(&self) -> LabelMatrixBuilder {
        LabelMatrixBuilder {
            ops: self.iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn l(v: u32) -> Label {
        Label::new(v).unwrap()
    }

    #[test]
    fn insert_and_lookup() {
        let mut b = LabelMatrixBuilder::new();
        let swap = LabelOp::Swap {
            out: l(2000),
            next_hop: 3,
        };
        b.insert(l(1000), swap).unwrap();
        b.insert(l(1001), LabelOp::PopToVr { vr: 7 }).unwrap();
        b.insert(l(Label::MAX), LabelOp::PopAndForward { next_hop: 1 })
            .unwrap();
        let m = b.build();
        assert_eq!(m.len(), 3);
        assert_eq!(m.lookup(l(1000)), Some(swap));
        assert_eq!(m.lookup(l(1001)), Some(LabelOp::PopToVr { vr: 7 }));
        assert_eq!(
            m.lookup(l(Label::MAX)),
            Some(LabelOp::PopAndForward { next_hop: 1 })
        );
        assert_eq!(m.lookup(l(999)), None);
        assert_eq!(m.lookup(l(0)), None);
        assert_eq!(m.lookup(l(5000)), None);
        let all: Vec<_> = m.iter().map(|(k, _)| k.value()).collect();
        assert_eq!(all, vec![1000, 1001, Label::MAX]);
        // Two used chunks plus the shared empty one.
        assert_eq!(
            m.memory_bytes(),
            std::mem::size_of::<LabelMatrix>()
                + 3 * 4 * CHUNK_LEN
                + 3 * std::mem::size_of::<LabelOp>()
                + 3 * 4
        );
    }

    #[test]
    fn rejects_reserved_and_duplicates() {
        let mut b = LabelMatrixBuilder::new();
        assert_eq!(
            b.insert(Label::ROUTER_ALERT, LabelOp::PopToVr { vr: 1 }),
            Err(MatrixError::Reserved(Label::ROUTER_ALERT))
        );
        b.insert(l(16), LabelOp::PopToVr { vr: 1 }).unwrap();
        let err = b.insert(l(16), LabelOp::PopToVr { vr: 2 }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "label 16 is already bound (pop to vr1); remove it first"
        );
        assert_eq!(b.remove(l(16)), Some(LabelOp::PopToVr { vr: 1 }));
        b.insert(l(16), LabelOp::PopToVr { vr: 2 }).unwrap();
        assert_eq!(b.get(l(16)), Some(LabelOp::PopToVr { vr: 2 }));
        b.insert(l(17), LabelOp::PopToVr { vr: 3 }).unwrap();
        assert_eq!(b.retain(|_, op| op != LabelOp::PopToVr { vr: 2 }), 1);
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            vec![(l(17), LabelOp::PopToVr { vr: 3 })]
        );
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn empty_matrix() {
        let m = LabelMatrix::new();
        assert!(m.is_empty());
        for v in [0, 16, 4095, 4096, Label::MAX] {
            assert_eq!(m.lookup(l(v)), None);
        }
        assert_eq!(format!("{m:?}"), "{}");
    }

    #[test]
    fn op_is_small_and_copy() {
        assert!(std::mem::size_of::<LabelOp>() <= 12);
        assert!(std::mem::size_of::<Option<LabelOp>>() <= 12);
    }

    fn arb_op() -> impl Strategy<Value = LabelOp> {
        prop_oneof![
            (16u32..=Label::MAX, any::<u32>()).prop_map(|(o, n)| LabelOp::Swap {
                out: Label::new(o).unwrap(),
                next_hop: n
            }),
            any::<u32>().prop_map(|vr| LabelOp::PopToVr { vr }),
            any::<u32>().prop_map(|n| LabelOp::PopAndForward { next_hop: n }),
            Just(LabelOp::Pop),
        ]
    }

    proptest! {
        /// The compiled matrix answers exactly as the map it was built from, for bound
        /// labels, their neighbours and random labels.
        #[test]
        fn matches_map(
            binds in proptest::collection::btree_map(16u32..=Label::MAX, arb_op(), 0..200),
            probes in proptest::collection::vec(0u32..=Label::MAX, 0..200),
        ) {
            let mut b = LabelMatrixBuilder::new();
            for (&k, &op) in &binds {
                b.insert(l(k), op).unwrap();
            }
            let m = b.build();
            prop_assert_eq!(m.len(), binds.len());
            let near = binds.keys().flat_map(|&k| [k - 1, k, (k + 1).min(Label::MAX)]);
            for p in near.chain(probes) {
                prop_assert_eq!(m.lookup(l(p)), binds.get(&p).copied());
            }
            let rebuilt = m.to_builder().build();
            prop_assert!(rebuilt.iter().eq(m.iter()));
        }
    }
}
