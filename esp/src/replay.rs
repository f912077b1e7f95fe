//! The anti-replay window of an inbound SA (RFC 4303 §3.4.3 and Appendix A), with extended
//! sequence numbers (RFC 4304; the high 32 bits inferred as in RFC 4303 Appendix A2.2).
//!
//! The window is a bitmap of `size` bits (a multiple of 64) indexed by sequence number
//! modulo `size`, so sliding it clears bits instead of shifting words. [`ReplayWindow::check`]
//! runs before the ICV is verified (a replayed packet costs no decryption) and does not
//! change the window; [`ReplayWindow::accept`] runs after, re-checks (another worker may have
//! accepted the same number in between) and records the number.

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Seen before (inside the window).
    #[error("sequence number {0} was received before")]
    Duplicate(u64),
    /// Left of the window (or, without ESN, 0).
    #[error("sequence number {0} is older than the replay window")]
    TooOld(u64),
}

/// Smallest and largest window sizes.
pub const MIN_WINDOW: u32 = 64;
/// Largest window size (bits).
pub const MAX_WINDOW: u32 = 65_536;
/// The window size when the profile gives none.
pub const DEFAULT_WINDOW: u32 = 1024;

/// The receive window of one SA.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Highest sequence number accepted so far (0: none).
    top: u64,
    bits: Box<[u64]>,
    size: u64,
    esn: bool,
}

impl ReplayWindow {
    /// A window of `size` bits (rounded up to a multiple of 64 and clamped to
    /// [`MIN_WINDOW`]..=[`MAX_WINDOW`]) for an SA with or without extended sequence numbers.
    pub fn new(size: u32, esn: bool) -> Self {
        let size = size.clamp(MIN_WINDOW, MAX_WINDOW).div_ceil(64) * 64;
        ReplayWindow {
            top: 0,
            bits: vec![0; size as usize / 64].into_boxed_slice(),
            size: u64::from(size),
            esn,
        }
    }

    /// Window size in bits.
    pub fn size(&self) -> u32 {
        self.size as u32
    }

    /// The highest sequence number accepted so far.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// The full sequence number of a packet carrying the low 32 bits `seq_low`, if the
    /// window would take it. Changes nothing.
    pub fn check(&self, seq_low: u32) -> Result<u64, ReplayError> {
        let seq = self.infer(seq_low)?;
        self.check_full(seq).map(|()| seq)
    }

    /// Records `seq` (from [`check`](Self::check), after the ICV verified); refuses it if it
    /// has become a duplicate or too old meanwhile.
    pub fn accept(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check_full(seq)?;
        if seq > self.top {
            let diff = seq - self.top;
            if diff >= self.size {
                self.bits.fill(0);
            } else {
                let mut s = self.top + 1;
                while s < seq {
                    if s.is_multiple_of(64) && seq - s >= 64 {
                        self.bits[self.word(s)] = 0;
                        s += 64;
                    } else {
                        self.clear(s);
                        s += 1;
                    }
                }
                self.clear(seq);
            }
            self.top = seq;
        }
        let w = self.word(seq);
        self.bits[w] |= 1 << (seq % 64);
        Ok(())
    }

    fn word(&self, s: u64) -> usize {
        ((s % self.size) / 64) as usize
    }

    fn clear(&mut self, s: u64) {
        let w = self.word(s);
        self.bits[w] &= !(1 << (s % 64));
    }

    fn check_full(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::TooOld(0));
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(ReplayError::TooOld(seq));
        }
        if self.bits[self.word(seq)] & (1 << (seq % 64)) != 0 {
            return Err(ReplayError::Duplicate(seq));
        }
        Ok(())
    }

    /// The full sequence number: the low bits themselves without ESN, else the high half
    /// inferred from the window as in RFC 4303 Appendix A2.2.
    fn infer(&self, seq_low: u32) -> Result<u64, ReplayError> {
        if !self.esn {
            return Ok(u64::from(seq_low));
        }
        let w = self.size as u32;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let bottom = tl.wrapping_sub(w - 1);
        let high = if tl >= w - 1 {
            // Case A: the window lies within one sub-space.
            if seq_low >= bottom {
                th
            } else {
                // A wrap into the next sub-space.
                match th.checked_add(1) {
                    Some(h) => h,
                    None => return Err(ReplayError::TooOld(u64::from(seq_low))),
                }
            }
        } else if seq_low >= bottom {
            // Case B: the window spans two sub-spaces; this number is in the lower one.
            match th.checked_sub(1) {
                Some(h) => h,
                None => return Err(ReplayError::TooOld(u64::from(seq_low))),
            }
        } else {
            th
        };
        Ok((u64::from(high) << 32) | u64::from(seq_low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(w: &mut ReplayWindow, low: u32) -> Result<u64, ReplayError> {
        let s = w.check(low)?;
        w.accept(s)?;
        Ok(s)
    }

    #[test]
    fn in_order_duplicates_and_old() {
        let mut w = ReplayWindow::new(1024, false);
        assert_eq!(w.size(), 1024);
        assert_eq!(take(&mut w, 0), Err(ReplayError::TooOld(0)));
        for s in 1..=2000 {
            assert_eq!(take(&mut w, s), Ok(u64::from(s)));
        }
        assert_eq!(take(&mut w, 2000), Err(ReplayError::Duplicate(2000)));
        assert_eq!(take(&mut w, 977), Err(ReplayError::Duplicate(977)));
        // 2000 - 976 = 1024: left of the window.
        assert_eq!(take(&mut w, 976), Err(ReplayError::TooOld(976)));
    }

    #[test]
    fn out_of_order_inside_the_window_is_taken_once() {
        let mut w = ReplayWindow::new(1024, false);
        assert!(take(&mut w, 5000).is_ok());
        for s in (3977..5000).rev() {
            assert_eq!(take(&mut w, s), Ok(u64::from(s)), "{s}");
        }
        for s in 3977..=5000 {
            assert_eq!(take(&mut w, s), Err(ReplayError::Duplicate(u64::from(s))));
        }
        assert_eq!(take(&mut w, 3976), Err(ReplayError::TooOld(3976)));
    }

    #[test]
    fn far_ahead_clears_the_window() {
        let mut w = ReplayWindow::new(128, false);
        for s in 1..=128 {
            take(&mut w, s).unwrap();
        }
        // A jump of exactly the window and of more: old bits must not survive.
        take(&mut w, 256).unwrap();
        assert_eq!(take(&mut w, 200), Ok(200));
        take(&mut w, 1_000_000).unwrap();
        assert_eq!(take(&mut w, 999_900), Ok(999_900));
        assert_eq!(take(&mut w, 999_900), Err(ReplayError::Duplicate(999_900)));
    }

    #[test]
    fn a_check_then_someone_else_accepts() {
        let mut w = ReplayWindow::new(64, false);
        let s = w.check(7).unwrap();
        let mut other = w.clone();
        other.accept(s).unwrap();
        w.accept(s).unwrap();
        assert_eq!(w.accept(s), Err(ReplayError::Duplicate(7)));
    }

    #[test]
    fn esn_wraps_into_the_next_subspace() {
        let mut w = ReplayWindow::new(1024, true);
        let start = u32::MAX - 10;
        // As if 2^32 - 12 packets had gone before.
        w.top = u64::from(start - 1);
        for s in start..=u32::MAX {
            assert_eq!(take(&mut w, s), Ok(u64::from(s)));
        }
        // Low 0.. after the wrap belong to high half 1.
        assert_eq!(take(&mut w, 0), Ok(1 << 32));
        assert_eq!(take(&mut w, 1), Ok((1 << 32) + 1));
        // A late packet from before the wrap (inside the window) is still taken.
        assert_eq!(take(&mut w, start - 5), Ok(u64::from(start - 5)));
        assert_eq!(
            take(&mut w, u32::MAX),
            Err(ReplayError::Duplicate(u64::from(u32::MAX)))
        );
        // Further along the new sub-space, case B turns into case A.
        for s in 2..3000 {
            take(&mut w, s).unwrap();
        }
        assert_eq!(w.top(), (1 << 32) + 2999);
        // Below the window in case A reads as the next sub-space (RFC 4303 A2.2): the ICV,
        // which covers the high half, then fails for an old packet.
        assert_eq!(w.check(1500), Ok((2 << 32) + 1500));
        assert_eq!(w.check(2000), Err(ReplayError::Duplicate((1 << 32) + 2000)));
    }

    #[test]
    fn without_esn_numbers_do_not_wrap() {
        let mut w = ReplayWindow::new(64, false);
        take(&mut w, u32::MAX).unwrap();
        assert_eq!(take(&mut w, 1), Err(ReplayError::TooOld(1)));
    }

    #[test]
    fn sizes_are_rounded_and_clamped() {
        assert_eq!(ReplayWindow::new(1, false).size(), 64);
        assert_eq!(ReplayWindow::new(100, false).size(), 128);
        assert_eq!(ReplayWindow::new(u32::MAX, false).size(), 65_536);
    }
}
