//! Live heap bytes, as counted by the `varouter` binary's global allocator.
//!
//! The allocator itself (an `unsafe impl GlobalAlloc` around [`std::alloc::System`]) lives
//! in `src/main.rs`; it adds to these counters only while [`enable`] is in force, so the
//! appliance pays one relaxed load of a read-mostly flag per allocation and nothing else.
//! Benchmarks read differences of [`live`] (memory freed that was allocated before
//! counting began makes the absolute value meaningless; differences are exact).

use std::cell::Cell;
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

thread_local! {
    /// This thread's bytes and allocations not yet added to [`LIVE`] and [`ALLOCS`]: an
    /// atomic read-modify-write on every call cost the benchmark ~8 % of its rate; a plain
    /// per-thread cell flushed every [`FLUSH_BYTES`] or [`FLUSH_ALLOCS`] does not. (A
    /// `const` cell of a type without `Drop`: no lazy initialisation, no allocation.)
    static PENDING: Cell<(i64, u64)> = const { Cell::new((0, 0)) };
}

/// Flush threshold of a thread's pending bytes (the most another thread's reading of
/// [`live`] can miss per thread).
pub const FLUSH_BYTES: i64 = 64 * 1024;
/// Flush threshold of a thread's pending allocation count.
pub const FLUSH_ALLOCS: u64 = 4096;

fn flush(p: &Cell<(i64, u64)>) {
    let (b, n) = p.replace((0, 0));
    LIVE.fetch_add(b, Ordering::Relaxed);
    ALLOCS.fetch_add(n, Ordering::Relaxed);
}

/// Live bytes counted so far (compare two readings): exact for the calling thread's
/// allocations, within [`FLUSH_BYTES`] per other thread.
pub fn live() -> i64 {
    PENDING.with(flush);
    LIVE.load(Ordering::Relaxed)
}

/// Allocations counted so far.
pub fn allocs() -> u64 {
    PENDING.with(flush);
    ALLOCS.load(Ordering::Relaxed)
}

#[inline]
fn add(bytes: i64, allocs: u64) {
    PENDING.with(|p| {
        let (b, n) = p.get();
        let (b, n) = (b + bytes, n + allocs);
        p.set((b, n));
        if b.abs() >= FLUSH_BYTES || n >= FLUSH_ALLOCS {
            flush(p);
        }
    });
}

/// Called by the allocator on every allocation of `size` bytes.
#[inline]
pub fn on_alloc(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        add(size as i64, 1);
    }
}

/// Called by the allocator on every free of `size` bytes.
#[inline]
pub fn on_dealloc(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        add(-(size as i64), 0);
    }
}
