//! Label allocation from a configured range (the profile's `label ranges`).
//!
//! Each label has an owner: the id of the virtual router it was allocated for (labels of the
//! label matrix that belong to no VR, e.g. transit swaps, use an owner id the caller picks).
//! Dynamic allocation walks the range round-robin from the last label handed out, so a freed
//! label is handed out again only after the rest of the range has been tried: packets still
//! in flight, and peers that have not yet withdrawn the old binding, do not hit a label that
//! already means something else. Statically configured labels are claimed with
//! [`LabelAllocator::reserve`].

use std::ops::RangeInclusive;

use crate::label::Label;

/// Errors of the label allocator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The configured range is not valid.
    #[error("invalid label range {start}..={end}: {reason}")]
    InvalidRange {
        /// First label of the range.
        start: u32,
        /// Last label of the range.
        end: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// Every label of the range is in use.
    #[error("label range {start}..={end} is exhausted ({count} labels in use)")]
    Exhausted {
        /// First label of the range.
        start: u32,
        /// Last label of the range.
        end: u32,
        /// Labels in use.
        count: usize,
    },
    /// The label is outside this allocator's range.
    #[error("label {label} is outside the label range {start}..={end}")]
    OutOfRange {
        /// The label asked for.
        label: Label,
        /// First label of the range.
        start: u32,
        /// Last label of the range.
        end: u32,
    },
    /// The label is already in use by another owner (or by the same owner, for `reserve`).
    #[error("label {label} is already allocated to vr{owner}")]
    Conflict {
        /// The label asked for.
        label: Label,
        /// Its current owner.
        owner: u32,
    },
    /// `free` of a label that is not allocated.
    #[error("label {0} is not allocated")]
    NotAllocated(Label),
}

/// Hands out labels of one range and remembers their owners.
#[derive(Clone, Debug)]
pub struct LabelAllocator {
    start: u32,
    owners: Vec<Option<u32>>,
    in_use: usize,
    /// Offset (from `start`) where the next search begins.
    cursor: usize,
}

impl LabelAllocator {
    /// An allocator for `range`, which must be non-empty and within `16..=1048575`.
    pub fn new(range: RangeInclusive<u32>) -> Result<LabelAllocator, AllocError> {
        let (start, end) = (*range.start(), *range.end());
        let invalid = |reason: String| AllocError::InvalidRange { start, end, reason };
        if start > end {
            return Err(invalid("the range is empty (start > end)".into()));
        }
        for v in [start, end] {
            if let Err(e) = Label::new_unreserved(v) {
                return Err(invalid(e.to_string()));
            }
        }
        Ok(LabelAllocator {
            start,
            owners: vec![None; (end - start) as usize + 1],
            in_use: 0,
            cursor: 0,
        })
    }

    /// The configured range.
    pub fn range(&self) -> RangeInclusive<u32> {
        self.start..=self.end()
    }

    fn end(&self) -> u32 {
        // owners is never empty and never longer than 2^20.
        self.start + (self.owners.len() as u32 - 1)
    }

    /// Number of labels in the range.
    pub fn capacity(&self) -> usize {
        self.owners.len()
    }

    /// Number of labels in use.
    pub fn allocated(&self) -> usize {
        self.in_use
    }

    fn offset(&self, label: Label) -> Result<usize, AllocError> {
        if self.range().contains(&label.value()) {
            Ok((label.value() - self.start) as usize)
        } else {
            Err(AllocError::OutOfRange {
                label,
                start: self.start,
                end: self.end(),
            })
        }
    }

    fn label_at(&self, offset: usize) -> Label {
        Label::new(self.start + offset as u32)
            .expect("offsets index `owners`, so start + offset is within the validated range")
    }

    /// Allocates a free label for `owner`.
    pub fn alloc(&mut self, owner: u32) -> Result<Label, AllocError> {
        if self.in_use == self.owners.len() {
            return Err(AllocError::Exhausted {
                start: self.start,
                end: self.end(),
                count: self.in_use,
            });
        }
        let n = self.owners.len();
        // There is a free slot, so this finds one within n steps.
        let mut off = self.cursor;
        while self.owners[off].is_some() {
            off = if off + 1 == n { 0 } else { off + 1 };
        }
        self.owners[off] = Some(owner);
        self.in_use += 1;
        self.cursor = if off + 1 == n { 0 } else { off + 1 };
        Ok(self.label_at(off))
    }

    /// Claims a specific label (statically configured) for `owner`.
    pub fn reserve(&mut self, label: Label, owner: u32) -> Result<(), AllocError> {
        let off = self.offset(label)?;
        if let Some(current) = self.owners[off] {
            return Err(AllocError::Conflict {
                label,
                owner: current,
            });
        }
        self.owners[off] = Some(owner);
        self.in_use += 1;
        Ok(())
    }

    /// Returns `label` to the pool; gives back its former owner.
    pub fn free(&mut self, label: Label) -> Result<u32, AllocError> {
        let off = self.offset(label)?;
        match self.owners[off].take() {
            Some(owner) => {
                self.in_use -= 1;
                Ok(owner)
            }
            None => Err(AllocError::NotAllocated(label)),
        }
    }

    /// The owner of `label`, if it is allocated (labels outside the range have none).
    pub fn owner_of(&self, label: Label) -> Option<u32> {
        self.offset(label).ok().and_then(|off| self.owners[off])
    }

    /// Frees every label owned by `owner` (a VR being deleted); returns how many.
    pub fn free_owner(&mut self, owner: u32) -> usize {
        let mut n = 0;
        for slot in self.owners.iter_mut().filter(|o| **o == Some(owner)) {
            *slot = None;
            n += 1;
        }
        self.in_use -= n;
        n
    }

    /// Allocated labels and their owners, by ascending label.
    pub fn iter(&self) -> impl Iterator<Item = (Label, u32)> + '_ {
        self.owners
            .iter()
            .enumerate()
            .filter_map(|(off, o)| o.map(|owner| (self.label_at(off), owner)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: u32) -> Label {
        Label::new(v).unwrap()
    }

    #[test]
    fn range_validation() {
        assert!(LabelAllocator::new(16..=16).is_ok());
        let e = LabelAllocator::new(10..=100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid label range 10..=100: label 10 is reserved (0..=15); expected 16..=1048575"
        );
        assert!(LabelAllocator::new(100..=0x10_0000).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let empty = LabelAllocator::new(200..=100);
        assert!(empty.is_err());
        let a = LabelAllocator::new(16..=Label::MAX).unwrap();
        assert_eq!(a.capacity(), (Label::MAX - 15) as usize);
    }

    #[test]
    fn exhaustion_and_reuse() {
        let mut a = LabelAllocator::new(100..=103).unwrap();
        let got: Vec<u32> = (0..4).map(|i| a.alloc(i).unwrap().value()).collect();
        assert_eq!(got, vec![100, 101, 102, 103]);
        assert_eq!(
            a.alloc(9),
            Err(AllocError::Exhausted {
                start: 100,
                end: 103,
                count: 4
            })
        );
        assert_eq!(a.free(l(101)), Ok(1));
        assert_eq!(a.owner_of(l(101)), None);
        assert_eq!(a.alloc(5), Ok(l(101)));
        assert_eq!(a.owner_of(l(101)), Some(5));
        assert_eq!(a.allocated(), 4);
    }

    #[test]
    fn freed_labels_are_not_reused_at_once() {
        let mut a = LabelAllocator::new(100..=109).unwrap();
        let first = a.alloc(1).unwrap();
        a.free(first).unwrap();
        let next: Vec<u32> = (0..9).map(|_| a.alloc(1).unwrap().value()).collect();
        assert_eq!(next, (101..=109).collect::<Vec<_>>());
        // Only now does the search wrap around to the freed label.
        assert_eq!(a.alloc(1), Ok(first));
    }

    #[test]
    fn reserve_conflicts() {
        let mut a = LabelAllocator::new(100..=199).unwrap();
        a.reserve(l(150), 7).unwrap();
        let e = a.reserve(l(150), 8).unwrap_err();
        assert_eq!(e.to_string(), "label 150 is already allocated to vr7");
        assert_eq!(
            a.reserve(l(99), 1).unwrap_err().to_string(),
            "label 99 is outside the label range 100..=199"
        );
        assert_eq!(a.free(l(151)), Err(AllocError::NotAllocated(l(151))));
        // Dynamic allocation skips reserved labels.
        let mut b = LabelAllocator::new(100..=101).unwrap();
        b.reserve(l(100), 3).unwrap();
        assert_eq!(b.alloc(4), Ok(l(101)));
        assert!(b.alloc(4).is_err());
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(l(100), 3), (l(101), 4)]);
        assert_eq!(b.free_owner(4), 1);
        assert_eq!(b.allocated(), 1);
    }
}
