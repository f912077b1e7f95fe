//! The answers a RADIUS server keeps for duplicate detection (RFC 5080 §2.2.2), shared by
//! the authentication server ([`super::server`]) and the Dynamic Authorization server
//! ([`super::dae`]): entries keyed by (source, identifier, Request Authenticator), each
//! kept until its expiry, expired in time order from one queue.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// (source, identifier, Request Authenticator): what makes a request a duplicate.
pub(crate) type DupKey = (SocketAddr, u8, [u8; 16]);

#[derive(Debug)]
pub(crate) struct DupCache<V> {
    entries: HashMap<DupKey, (Instant, V)>,
    /// Expiry times in insertion order; an entry replaced later leaves a stale one here,
    /// which is skipped.
    expiry: VecDeque<(Instant, DupKey)>,
}

impl<V> DupCache<V> {
    pub(crate) fn new() -> Self {
        DupCache {
            entries: HashMap::new(),
            expiry: VecDeque::new(),
        }
    }

    pub(crate) fn get(&self, key: &DupKey) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keeps `value` under `key` until `expires` (replacing what was there).
    pub(crate) fn insert(&mut self, key: DupKey, value: V, expires: Instant) {
        self.entries.insert(key, (expires, value));
        self.expiry.push_back((expires, key));
    }

    /// Removes the oldest live entry; false when there is none.
    pub(crate) fn evict_oldest(&mut self) -> bool {
        while let Some((t, k)) = self.expiry.pop_front() {
            if self.entries.get(&k).is_some_and(|(e, _)| *e == t) {
                self.entries.remove(&k);
                return true;
            }
        }
        false
    }

    /// Drops the entries expired at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.expiry.front() {
            if t > now {
                break;
            }
            self.expiry.pop_front();
            if self.entries.get(&key).is_some_and(|(e, _)| *e <= now) {
                self.entries.remove(&key);
            }
        }
    }

    /// The next expiry time.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.front().map(|(t, _)| *t)
    }
}
