//! Longest-prefix-match forwarding tables (FIBs), one per VR and address family.
//!
//! Every FIB implementation sits behind [`Lpm`], so the simple reference structure and the
//! fast compressed tries can be swapped and checked against each other. The aliases
//! [`Fib4`] and [`Fib6`] name the implementation the data plane uses.

pub mod gen;
pub mod poptrie;
pub mod prefix;
pub mod simple;
pub mod update;

pub use prefix::{Prefix, Prefix4, Prefix6, PrefixError};

use crate::ids::NextHopId;

/// A compiled, read-only longest-prefix-match table from addresses to next-hop indices.
///
/// Implementations are immutable once built (workers read them without locks); updates
/// build or patch a new version that is then published (see [`crate::publish`]).
pub trait Lpm<A: Copy>: Send + Sync + Sized {
    /// Builds the table from a route list. Later duplicates of the same prefix win.
    fn build(routes: &[(Prefix<A>, NextHopId)]) -> Self;
    /// Longest-prefix match of one address.
    fn lookup(&self, addr: A) -> Option<NextHopId>;
    /// Looks up a burst; `out[i]` is the answer for `addrs[i]`. `out` must be at least as
    /// long as `addrs`. Implementations may override this with a faster bulk path.
    fn lookup_bulk(&self, addrs: &[A], out: &mut [Option<NextHopId>]) {
        for (a, o) in addrs.iter().zip(out.iter_mut()) {
            *o = self.lookup(*a);
        }
    }
    /// Heap bytes held by the table (for scale reports).
    fn memory_bytes(&self) -> usize;
    /// Number of routes in the table.
    fn len(&self) -> usize;
    /// True when the table holds no route.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The IPv4 FIB the data plane uses (addresses as host-order `u32`).
pub type Fib4 = poptrie::Trie4;
/// The IPv6 FIB the data plane uses (addresses as host-order `u128`).
pub type Fib6 = poptrie::Trie6;
