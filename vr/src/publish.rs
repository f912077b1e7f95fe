//! Lock-free publication of table versions (RCU style) on top of [`arc_swap`].
//!
//! The control plane owns one [`Publisher`]; every worker holds a [`TableHandle`] (or a
//! [`TableCache`]). A worker loads the current version once per burst and uses that one
//! version for the whole burst, so every answer in a burst comes from the same complete
//! version: never a mix of old and new.
//!
//! * [`TableHandle::load`] is lock-free and does not touch the reference count in the common
//!   case (arc-swap's per-thread debt slots); a [`TableGuard`] is meant to live for one
//!   burst, not longer.
//! * [`TableCache::load`] is cheaper still — one atomic load to see that nothing changed —
//!   and holds a full reference until the next `load` that sees a new version.
//!
//! **Where old versions are freed.** A version can hold megabytes (label matrix, FIBs);
//! freeing it must not stall a worker. The publisher therefore keeps every replaced version
//! in a retire list and frees it in [`Publisher::reclaim`] (also called by
//! [`Publisher::publish`]) once no reader holds it, so the last reference is dropped on the
//! control core. A worker would free a version only if the `Publisher` itself is dropped
//! first (at shutdown).
//!
//! No `loom` model here: the only concurrent code is inside `arc-swap`, which is widely used
//! and tested (its own test suite covers these orderings); this module adds single-threaded
//! bookkeeping on top. The stress test below checks the end-to-end property instead.

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

/// A loaded version; dereferences to `Arc<T>`. Keep it for one burst.
pub type TableGuard<T> = arc_swap::Guard<Arc<T>>;

/// The writer side: publishes new versions, frees old ones once unused.
#[derive(Debug)]
pub struct Publisher<T> {
    current: Arc<ArcSwap<T>>,
    retired: Vec<Arc<T>>,
}

impl<T> Publisher<T> {
    /// A publisher whose first version is `initial`.
    pub fn new(initial: T) -> Self {
        Publisher {
            current: Arc::new(ArcSwap::from_pointee(initial)),
            retired: Vec::new(),
        }
    }

    /// A reader handle for a worker.
    pub fn handle(&self) -> TableHandle<T> {
        TableHandle {
            current: Arc::clone(&self.current),
        }
    }

    /// Makes `value` the current version. Readers that load after this returns see it;
    /// readers holding the previous version keep it until they let go. Also reclaims
    /// unused old versions.
    pub fn publish(&mut self, value: T) {
        let old = self.current.swap(Arc::new(value));
        self.retired.push(old);
        self.reclaim();
    }

    /// Frees every replaced version that no reader holds any more; returns how many
    /// replaced versions are still held by readers. Call it periodically on the control
    /// core (e.g. every few milliseconds) so versions released by idle workers go too.
    pub fn reclaim(&mut self) -> usize {
        // Once swapped out, a version cannot be loaded again, and arc-swap has turned every
        // outstanding guard on it into a counted reference; so a count of 1 means only this
        // list holds it, and dropping it here is the last drop.
        self.retired.retain(|v| Arc::strong_count(v) > 1);
        self.retired.len()
    }

    /// The current version.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }
}

/// The reader side: cheap to clone, one per worker.
#[derive(Debug)]
pub struct TableHandle<T> {
    current: Arc<ArcSwap<T>>,
}

impl<T> Clone for TableHandle<T> {
    fn clone(&self) -> Self {
        TableHandle {
            current: Arc::clone(&self.current),
        }
    }
}

impl<T> TableHandle<T> {
    /// The current version, lock-free. Hold the guard for one burst at most.
    #[inline]
    pub fn load(&self) -> TableGuard<T> {
        self.current.load()
    }

    /// The current version as a full reference (one atomic increment), to keep longer.
    pub fn load_full(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// A per-worker cache of the current version.
    pub fn cache(&self) -> TableCache<T> {
        TableCache {
            cache: Cache::new(Arc::clone(&self.current)),
        }
    }
}

/// A worker's cached reference to the current version (see the module docs).
pub struct TableCache<T> {
    cache: Cache<Arc<ArcSwap<T>>, Arc<T>>,
}

impl<T> TableCache<T> {
    /// The current version: a pointer comparison when nothing changed.
    #[inline]
    pub fn load(&mut self) -> &Arc<T> {
        self.cache.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::thread;

    /// A version whose every entry encodes its version number: a reader that saw parts of
    /// two versions would find entries that disagree.
    struct Snapshot {
        version: u64,
        entries: Vec<u64>,
    }

    impl Snapshot {
        fn new(version: u64) -> Self {
            Snapshot {
                version,
                entries: vec![version; 4096],
            }
        }
        fn check(&self) -> u64 {
            assert!(
                self.entries.iter().all(|e| *e == self.version),
                "torn snapshot"
            );
            self.version
        }
    }

    const VERSIONS: u64 = 2000;

    #[test]
    fn readers_never_see_a_torn_or_older_version() {
        let mut publisher = Publisher::new(Snapshot::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|i| {
                let handle = publisher.handle();
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut cache = handle.cache();
                    let mut last = 0;
                    let mut loads = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        // Alternate both read paths.
                        let v = if i % 2 == 0 {
                            handle.load().check()
                        } else {
                            cache.load().check()
                        };
                        assert!(v >= last, "version went back from {last} to {v}");
                        last = v;
                        loads += 1;
                    }
                    // After the writer is done, the final version is visible.
                    assert_eq!(handle.load().check(), VERSIONS);
                    assert_eq!(cache.load().check(), VERSIONS);
                    loads
                })
            })
            .collect();
        for v in 1..=VERSIONS {
            publisher.publish(Snapshot::new(v));
            if v % 64 == 0 {
                thread::yield_now();
            }
        }
        stop.store(true, Ordering::Release);
        for r in readers {
            let loads = r.join().expect("reader panicked");
            assert!(loads > 0);
        }
        assert_eq!(publisher.current().version, VERSIONS);
        // All readers are gone: every replaced version can now be freed.
        assert_eq!(publisher.reclaim(), 0);
    }

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn old_versions_are_freed_by_the_publisher_once_unused() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut p = Publisher::new(Counted(Arc::clone(&dropped)));
        let handle = p.handle();
        let held = handle.load_full();
        let guard = handle.load();
        p.publish(Counted(Arc::clone(&dropped)));
        // Version 0 is still held by `held` and `guard`.
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        assert_eq!(p.reclaim(), 1);
        drop(guard);
        assert_eq!(p.reclaim(), 1);
        // The reader's drop is not the last one: the publisher still holds the version.
        drop(held);
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        assert_eq!(p.reclaim(), 0);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        // Unheld versions are freed at publish time.
        p.publish(Counted(Arc::clone(&dropped)));
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        drop(p);
        drop(handle);
        assert_eq!(dropped.load(Ordering::SeqCst), 3);
    }
}
