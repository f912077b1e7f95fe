//! The 20-bit MPLS label value (RFC 3032 §2.1) and the reserved label values.

use std::fmt;

/// Errors when turning a number into a [`Label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The value does not fit in the 20-bit label field.
    #[error("label {0} is out of range; labels are 20 bits (0..=1048575)")]
    OutOfRange(u32),
    /// The value is one of the reserved labels, where an ordinary label was required.
    #[error("label {0} is reserved (0..=15); expected 16..=1048575")]
    Reserved(u32),
}

/// An MPLS label: a 20-bit value, `0..=`[`Label::MAX`].
///
/// The field is private so that every `Label` in the program is known to fit in 20 bits;
/// build one with [`Label::new`] (any value) or [`Label::new_unreserved`] (the values a
/// profile or an allocator may hand out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(u32);

impl Label {
    /// Largest label value (2^20 - 1).
    pub const MAX: u32 = 0xF_FFFF;
    /// Smallest label value that is not reserved (RFC 3032 §2.1: 0..=15 are reserved).
    pub const MIN_UNRESERVED: u32 = 16;
    /// Number of distinct label values (2^20).
    pub const COUNT: usize = 1 << 20;

    /// IPv4 Explicit NULL (RFC 3032 §2.1): pop, then forward by the IPv4 header.
    pub const IPV4_EXPLICIT_NULL: Label = Label(0);
    /// Router Alert (RFC 3032 §2.1): deliver to the local software module.
    pub const ROUTER_ALERT: Label = Label(1);
    /// IPv6 Explicit NULL (RFC 3032 §2.1): pop, then forward by the IPv6 header.
    pub const IPV6_EXPLICIT_NULL: Label = Label(2);
    /// Implicit NULL (RFC 3032 §2.1): signalled only, never appears on the wire; means "pop".
    pub const IMPLICIT_NULL: Label = Label(3);

    /// A label with any 20-bit value, reserved or not.
    pub const fn new(value: u32) -> Result<Label, LabelError> {
        if value > Self::MAX {
            Err(LabelError::OutOfRange(value))
        } else {
            Ok(Label(value))
        }
    }

    /// A label that is not reserved: `16..=1048575`. Use this for every label that comes
    /// from configuration or an allocator.
    pub const fn new_unreserved(value: u32) -> Result<Label, LabelError> {
        if value > Self::MAX {
            Err(LabelError::OutOfRange(value))
        } else if value < Self::MIN_UNRESERVED {
            Err(LabelError::Reserved(value))
        } else {
            Ok(Label(value))
        }
    }

    /// The label carried in the top 20 bits of a 32-bit label stack entry word.
    #[inline]
    pub const fn from_entry_word(word: u32) -> Label {
        Label(word >> 12)
    }

    /// The numeric value, `0..=`[`Label::MAX`].
    #[inline]
    pub const fn value(self) -> u32 {
        self.0
    }

    /// True for the reserved values `0..=15`.
    #[inline]
    pub const fn is_reserved(self) -> bool {
        self.0 < Self::MIN_UNRESERVED
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<u32> for Label {
    type Error = LabelError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Label::new(value)
    }
}

impl From<Label> for u32 {
    fn from(label: Label) -> u32 {
        label.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_limits() {
        assert_eq!(Label::new(0).unwrap().value(), 0);
        assert_eq!(Label::new(Label::MAX).unwrap().value(), 0xF_FFFF);
        assert_eq!(
            Label::new(0x10_0000),
            Err(LabelError::OutOfRange(0x10_0000))
        );
        assert_eq!(Label::new_unreserved(15), Err(LabelError::Reserved(15)));
        assert_eq!(Label::new_unreserved(16).unwrap().value(), 16);
        assert_eq!(
            Label::new_unreserved(u32::MAX),
            Err(LabelError::OutOfRange(u32::MAX))
        );
    }

    #[test]
    fn reserved_names() {
        assert!(Label::IPV4_EXPLICIT_NULL.is_reserved());
        assert!(Label::IMPLICIT_NULL.is_reserved());
        assert_eq!(Label::IPV6_EXPLICIT_NULL.value(), 2);
        assert_eq!(Label::ROUTER_ALERT.value(), 1);
        assert!(!Label::new(16).unwrap().is_reserved());
    }

    #[test]
    fn messages_are_operator_facing() {
        assert_eq!(
            LabelError::Reserved(5).to_string(),
            "label 5 is reserved (0..=15); expected 16..=1048575"
        );
        assert_eq!(
            LabelError::OutOfRange(2_000_000).to_string(),
            "label 2000000 is out of range; labels are 20 bits (0..=1048575)"
        );
        assert_eq!(Label::new(1000).unwrap().to_string(), "1000");
    }

    #[test]
    fn entry_word() {
        assert_eq!(Label::from_entry_word(0xFFFF_F000).value(), Label::MAX);
        assert_eq!(Label::from_entry_word(0x0001_0FFF).value(), 16);
    }
}
