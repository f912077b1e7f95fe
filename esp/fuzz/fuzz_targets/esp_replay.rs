//! `ReplayWindow` against a reference model: the set of every number accepted and the
//! highest one.
//!
//! Input: one byte (bit 0: extended sequence numbers), two bytes of window size (any value:
//! the window rounds and clamps it), then operations of five bytes, a kind and a 32-bit
//! value:
//!
//! - `take`: `check(low)` then `accept` of what it returned (a packet whose ICV verified);
//! - `check`: `check(low)` alone (a packet whose ICV failed: nothing may change);
//! - `defer`: `check(low)`, the result kept aside; `commit` accepts the oldest kept result
//!   later, after other packets went through (another worker accepted in between);
//! - `jump`: `accept` of a full 64-bit number (the value as the high or the low half), so
//!   the window reaches the end of a 32-bit sub-space and the wrap of ESN.
//!
//! Without ESN the window must agree with the model exactly: the same full number or the
//! same error for every `check` and `accept`, and the same highest number. With ESN the
//! high half is inferred: a number `accept` takes is never taken twice, `check` returns a
//! number whose low half is the one given, a refused `accept` changes nothing, and the
//! model of RFC 4303 Appendix A2.2 written as arithmetic (the full number ≡ low mod 2³² in
//! the 2³² numbers from the window's left edge on) gives the same results.
#![no_main]

use esp::replay::{ReplayError, MAX_WINDOW, MIN_WINDOW};
use esp::ReplayWindow;
use libfuzzer_sys::fuzz_target;
use std::collections::{HashSet, VecDeque};

struct Model {
    seen: HashSet<u64>,
    top: u64,
    size: u64,
    esn: bool,
}

impl Model {
    fn check_full(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            Err(ReplayError::TooOld(0))
        } else if seq > self.top {
            Ok(())
        } else if self.top - seq >= self.size {
            Err(ReplayError::TooOld(seq))
        } else if self.seen.contains(&seq) {
            Err(ReplayError::Duplicate(seq))
        } else {
            Ok(())
        }
    }

    fn infer(&self, low: u32) -> Result<u64, ReplayError> {
        if !self.esn {
            return Ok(u64::from(low));
        }
        // The window's left edge (may be below 0 early on); the number is the one with
        // this low half among the 2^32 numbers from the edge on.
        let edge = i128::from(self.top) - (self.size as i128 - 1);
        let seq = edge + (i128::from(low) - edge).rem_euclid(1 << 32);
        u64::try_from(seq).map_err(|_| ReplayError::TooOld(u64::from(low)))
    }

    fn check(&self, low: u32) -> Result<u64, ReplayError> {
        let seq = self.infer(low)?;
        self.check_full(seq).map(|()| seq)
    }

    fn accept(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check_full(seq)?;
        assert!(self.seen.insert(seq), "{seq} accepted twice");
        self.top = self.top.max(seq);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, s0, s1, ops @ ..] = data else {
        return;
    };
    let esn = flags & 1 != 0;
    let asked = match u16::from_be_bytes([*s0, *s1]) {
        0xffff => u32::MAX,
        n => u32::from(n),
    };
    let mut w = ReplayWindow::new(asked, esn);
    let size = asked.clamp(MIN_WINDOW, MAX_WINDOW).div_ceil(64) * 64;
    assert_eq!(w.size(), size);
    assert!(w.size() >= asked.min(MAX_WINDOW) && w.size().is_multiple_of(64));
    let mut m = Model {
        seen: HashSet::new(),
        top: 0,
        size: u64::from(size),
        esn,
    };
    let mut deferred = VecDeque::new();
    for op in ops.chunks_exact(5) {
        let v = u32::from_be_bytes([op[1], op[2], op[3], op[4]]);
        match op[0] % 5 {
            0 => {
                let c = w.check(v);
                assert_eq!(c, m.check(v), "check({v:#x}) top {:#x}", m.top);
                if let Ok(seq) = c {
                    assert_eq!(seq as u32, v);
                    assert_eq!(w.accept(seq), Ok(()), "take {seq:#x}");
                    m.accept(seq).unwrap();
                }
            }
            1 => {
                let c = w.check(v);
                assert_eq!(c, m.check(v), "check({v:#x}) top {:#x}", m.top);
                if let Ok(seq) = c {
                    assert_eq!(seq as u32, v);
                }
            }
            2 => {
                let c = w.check(v);
                assert_eq!(c, m.check(v), "check({v:#x}) top {:#x}", m.top);
                if let Ok(seq) = c {
                    deferred.push_back(seq);
                }
            }
            3 => {
                if let Some(seq) = deferred.pop_front() {
                    let r = w.accept(seq);
                    assert_eq!(r, m.accept(seq), "late accept of {seq:#x}");
                }
            }
            _ => {
                // The value as the low half, or as the high half with the number 64 below
                // to 63 above the start of that sub-space (from the kind byte).
                let seq = if op[0] & 0x80 != 0 {
                    let off = i64::from(op[0] & 0x7f) - 64;
                    (u64::from(v) << 32).wrapping_add_signed(off)
                } else {
                    u64::from(v)
                };
                assert_eq!(w.accept(seq), m.accept(seq), "accept({seq:#x})");
            }
        }
        assert_eq!(w.top(), m.top, "highest accepted");
    }
});
