//! Live heap bytes, as counted by the `varouter` binary's global allocator.
//!
//! The allocator itself (an `unsafe impl GlobalAlloc` around [`std::alloc::System`]) lives
//! in `src/main.rs`; it adds to these counters only while [`enable`] is in force, so the
//! appliance pays one relaxed load of a read-mostly flag per allocation and nothing else.
//! Benchmarks read differences of [`live`] (memory freed that was allocated before
//! counting began makes the absolute value meaningless; differences are exact).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Counting is on.
pub static ENABLED: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed while counting was on.
pub static LIVE: AtomicI64 = AtomicI64::new(0);
/// Allocations (alloc and the growing side of realloc) while counting was on.
pub static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Set by the binary when its counting allocator is installed.
pub static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Starts counting. Returns false when no counting allocator is installed (library use,
/// tests): [`live`] then stays 0.
pub fn enable() -> bool {
    ENABLED.store(true, Ordering::Relaxed);
    INSTALLED.load(Ordering::Relaxed)
}

/// Live bytes counted so far (compare two readings).
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Allocations counted so far.
pub fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Called by the allocator on every allocation of `size` bytes.
#[inline]
pub fn on_alloc(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        LIVE.fetch_add(size as i64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Called by the allocator on every free of `size` bytes.
#[inline]
pub fn on_dealloc(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        LIVE.fetch_sub(size as i64, Ordering::Relaxed);
    }
}
