//! A fixed-bucket latency histogram for the control loop: how long each iteration was busy
//! (punts, timers, sockets, the supervisor, publication — not the idle sleep).
//!
//! Recording is a bucket search over a dozen constants and three additions: no allocation,
//! no lock, cheap enough for every loop iteration. The management API reads it (through
//! [`crate::CoreStats`]) for the Prometheus exposition.

use std::time::Duration;

/// Upper bounds of the buckets, µs; an implicit last bucket takes everything above.
pub const BUCKETS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

/// Counts of durations per bucket, their sum and number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Per bucket of [`BUCKETS_US`] (not cumulative), then the overflow bucket.
    counts: [u64; BUCKETS_US.len() + 1],
    /// Sum of all observations, ns.
    sum_ns: u64,
    /// Number of observations.
    count: u64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&mut self, d: Duration) {
        let us = d.as_micros();
        let i = BUCKETS_US
            .iter()
            .position(|&b| us <= u128::from(b))
            .unwrap_or(BUCKETS_US.len());
        self.counts[i] += 1;
        self.sum_ns = self
            .sum_ns
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.count += 1;
    }

    /// `(upper bound µs, observations ≤ bound)` for each finite bucket, cumulative (the
    /// `+Inf` bucket is [`LatencyHistogram::count`]).
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        BUCKETS_US
            .iter()
            .zip(self.counts.iter())
            .scan(0u64, |acc, (&b, &c)| {
                *acc += c;
                Some((b, *acc))
            })
    }

    /// Sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let mut h = LatencyHistogram::default();
        h.observe(Duration::from_micros(3));
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(11));
        h.observe(Duration::from_millis(900));
        let c: Vec<(u64, u64)> = h.cumulative().collect();
        assert_eq!(c.len(), BUCKETS_US.len());
        assert_eq!(c[0], (10, 2));
        assert_eq!(c[1], (25, 3));
        // The 900 ms iteration is only in +Inf.
        assert_eq!(*c.last().unwrap(), (250_000, 3));
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum(), Duration::from_micros(900_024));
    }
}
