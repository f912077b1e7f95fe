//! MPLS label switching for varouter: label values, label stack entries, TTL rules, the
//! label matrix and label allocation (RFC 3032, RFC 3443).
//!
//! This crate is a leaf of the workspace. It knows nothing of ports, virtual routers or
//! protocols: a [`LabelOp`] names its targets by plain indices (`vr` id, next-hop index) that
//! the `vr` crate gives meaning to. The control plane allocates labels with a
//! [`LabelAllocator`], compiles the incoming-label operations into a read-only
//! [`LabelMatrix`] with a [`LabelMatrixBuilder`], and the data-plane workers read that matrix
//! on every labelled packet without locks or allocation.
//!
//! | module | what it holds |
//! |---|---|
//! | [`label`] | [`Label`]: the 20-bit label value and the reserved labels |
//! | [`entry`] | [`LabelEntry`]: one 4-byte label stack entry (label, TC, S, TTL) |
//! | [`stack`] | [`LabelStack`]: a parsed label stack of up to [`MAX_STACK_DEPTH`] entries |
//! | [`ttl`]   | TTL rules of the uniform model (RFC 3443 §3.1) as pure functions |
//! | [`matrix`]| [`LabelOp`], [`LabelMatrix`], [`LabelMatrixBuilder`] |
//! | [`alloc`] | [`LabelAllocator`]: labels handed out from a configured range |
//!
//! Not implemented yet: the pipe and short-pipe TTL models of RFC 3443, TC (EXP) to DiffServ
//! mapping (RFC 3270), entropy labels (RFC 6790) and extended special-purpose labels (label 15,
//! RFC 7274); a label stack with label 15 is parsed as ordinary entries.

pub mod alloc;
pub mod entry;
pub mod label;
pub mod matrix;
pub mod stack;
pub mod ttl;

pub use alloc::{AllocError, LabelAllocator};
pub use entry::LabelEntry;
pub use label::{Label, LabelError};
pub use matrix::{LabelMatrix, LabelMatrixBuilder, LabelOp, MatrixError};
pub use stack::{LabelStack, StackError, MAX_STACK_DEPTH};
