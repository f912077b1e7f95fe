//! The control core's one timer structure: every service's deadlines in one ordered set.
//!
//! A timer is a key (the service and a token of its choosing) and an instant. Setting a
//! key again moves its deadline; cancelling removes it. [`Timers::pop_due`] hands out due
//! keys in deadline order, and [`Timers::next`] says when the loop must wake next. Every
//! operation is O(log n) in the number of armed timers, so a service with a timer per
//! tunnel or per neighbour costs nothing per tick for the ones that are not due — no
//! linear scan of tunnels or VRs.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Deadlines by key.
#[derive(Debug)]
pub struct Timers<K> {
    by_time: BTreeSet<(Instant, u64, K)>,
    by_key: HashMap<K, (Instant, u64)>,
    seq: u64,
}

impl<K: Copy + Ord + Hash> Default for Timers<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Ord + Hash> Timers<K> {
    /// No timers.
    pub fn new() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
            seq: 0,
        }
    }

    /// Arms `key` for `at` (moving it if armed).
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some((t, s)) = self.by_key.get(&key) {
            if *t == at {
                return;
            }
            self.by_time.remove(&(*t, *s, key));
        }
        self.seq += 1;
        self.by_time.insert((at, self.seq, key));
        self.by_key.insert(key, (at, self.seq));
    }

    /// Disarms `key`; returns its deadline.
    pub fn cancel(&mut self, key: K) -> Option<Instant> {
        let (t, s) = self.by_key.remove(&key)?;
        self.by_time.remove(&(t, s, key));
        Some(t)
    }

    /// The deadline of `key`.
    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.by_key.get(&key).map(|x| x.0)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|x| x.0)
    }

    /// Removes and returns the earliest key due at `now` (deadline ≤ now).
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let first = *self.by_time.first()?;
        if first.0 > now {
            return None;
        }
        self.by_time.remove(&first);
        self.by_key.remove(&first.2);
        Some(first.2)
    }

    /// Armed timers.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn set_move_cancel_pop() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::new();
        t.set(1u32, ms(30));
        t.set(2, ms(10));
        t.set(3, ms(20));
        t.set(1, ms(5)); // moved ahead of everyone
        assert_eq!(t.len(), 3);
        assert_eq!(t.next(), Some(ms(5)));
        assert_eq!(t.cancel(3), Some(ms(20)));
        assert_eq!(t.cancel(3), None);
        assert_eq!(t.pop_due(ms(4)), None);
        assert_eq!(t.pop_due(ms(10)), Some(1));
        assert_eq!(t.pop_due(ms(10)), Some(2));
        assert_eq!(t.pop_due(ms(100)), None);
        assert!(t.is_empty());
        // Equal deadlines come out in the order they were set.
        t.set(9, ms(1));
        t.set(8, ms(1));
        assert_eq!(t.pop_due(ms(1)), Some(9));
        assert_eq!(t.pop_due(ms(1)), Some(8));
    }

    proptest! {
        #[test]
        fn pops_in_deadline_order_and_keeps_the_last_setting(
            ops in proptest::collection::vec((0u8..20, 0u64..1000, any::<bool>()), 1..300)
        ) {
            let t0 = Instant::now();
            let mut t = Timers::new();
            let mut truth: HashMap<u8, u64> = HashMap::new();
            for (k, at, cancel) in ops {
                if cancel {
                    t.cancel(k);
                    truth.remove(&k);
                } else {
                    t.set(k, t0 + Duration::from_millis(at));
                    truth.insert(k, at);
                }
            }
            prop_assert_eq!(t.len(), truth.len());
            let mut last = 0;
            while let Some(k) = t.pop_due(t0 + Duration::from_secs(5)) {
                let at = truth.remove(&k).expect("popped a key that is not armed");
                prop_assert!(at >= last);
                last = at;
            }
            prop_assert!(truth.is_empty());
        }
    }
}
