//! The Identification field as an NTP timestamp (RFC 5944 §5.7.1): 32 bits of seconds since
//! 1900-01-01 and 32 bits of fraction. The HA accepts a registration whose timestamp is
//! within the replay tolerance of its own clock and greater than the last accepted one; on a
//! mismatch it answers 133 with its own seconds in the high 32 bits and the request's low 32
//! bits, from which the mobile node resynchronises.

use std::time::{Duration, Instant};

/// A mapping of the monotonic clock the engines run on to NTP time: `ntp_at(epoch)` is
/// `epoch_ntp`. Deterministic in tests (a virtual epoch), set from the wall clock once by the
/// driver in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpClock {
    /// The instant the mapping was taken.
    pub epoch: Instant,
    /// The NTP timestamp at `epoch`.
    pub epoch_ntp: u64,
}

impl NtpClock {
    /// The NTP timestamp at `now` (instants before the epoch map to the epoch).
    pub fn at(&self, now: Instant) -> u64 {
        self.epoch_ntp
            .wrapping_add(to_ntp_duration(now.saturating_duration_since(self.epoch)))
    }
}

/// A duration as a 32.32 fixed-point NTP value.
pub fn to_ntp_duration(d: Duration) -> u64 {
    (d.as_secs() << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// |a - b| in the 32.32 format, as a duration (saturating at about 136 years).
pub fn distance(a: u64, b: u64) -> Duration {
    let d = a.abs_diff(b);
    Duration::from_secs(d >> 32) + Duration::from_nanos(((d & 0xffff_ffff) * 1_000_000_000) >> 32)
}

/// Why an Identification is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCheck {
    /// Fresh and in order.
    Ok,
    /// Not within the tolerance of our clock.
    OutOfWindow,
    /// Not greater than the last accepted (a replay or reordering).
    Replayed,
}

/// Checks `id` against our clock `ours` and the `last` accepted Identification.
pub fn check(id: u64, ours: u64, last: Option<u64>, tolerance: Duration) -> IdCheck {
    if let Some(l) = last {
        if id <= l {
            return IdCheck::Replayed;
        }
    }
    if distance(id, ours) > tolerance {
        return IdCheck::OutOfWindow;
    }
    IdCheck::Ok
}

/// The Identification of a 133 reply: our seconds, the request's low 32 bits.
pub fn resync(ours: u64, request: u64) -> u64 {
    (ours & 0xffff_ffff_0000_0000) | (request & 0xffff_ffff)
}
