//! IP prefixes, generic over the address family.
//!
//! Addresses are host-order integers (`u32` for IPv4, `u128` for IPv6), as the FIBs use them;
//! [`Prefix4`] and [`Prefix6`] convert from and to [`Ipv4Addr`]/[`Ipv6Addr`] and parse the
//! usual text forms (`10.0.0.0/8`, `2001:db8::/32`).

use std::fmt;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u128 {}
}

/// An address family's address as an integer: implemented for `u32` (IPv4) and `u128`
/// (IPv6) only.
pub trait Addr: sealed::Sealed + Copy + Ord + Hash + fmt::Debug + Send + Sync + 'static {
    /// Address width in bits.
    const BITS: u8;
    /// The all-zero address.
    const ZERO: Self;
    /// Network mask with the top `len` bits set (`len` ≤ `BITS`).
    fn mask(len: u8) -> Self;
    /// Bitwise and.
    fn and(self, other: Self) -> Self;
    /// Formats the address in its usual text form.
    fn fmt_addr(self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    /// Parses the address from its usual text form.
    fn parse_addr(s: &str) -> Option<Self>;
    /// Name of the family, for messages.
    const FAMILY: &'static str;
}

impl Addr for u32 {
    const BITS: u8 = 32;
    const ZERO: Self = 0;
    const FAMILY: &'static str = "IPv4";
    #[inline]
    fn mask(len: u8) -> Self {
        u32::MAX
            .checked_shl(u32::from(
                <Self as Addr>::BITS - len.min(<Self as Addr>::BITS),
            ))
            .unwrap_or(0)
    }
    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
    fn fmt_addr(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Ipv4Addr::from(self), f)
    }
    fn parse_addr(s: &str) -> Option<Self> {
        s.parse::<Ipv4Addr>().ok().map(u32::from)
    }
}

impl Addr for u128 {
    const BITS: u8 = 128;
    const ZERO: Self = 0;
    const FAMILY: &'static str = "IPv6";
    #[inline]
    fn mask(len: u8) -> Self {
        u128::MAX
            .checked_shl(u32::from(
                <Self as Addr>::BITS - len.min(<Self as Addr>::BITS),
            ))
            .unwrap_or(0)
    }
    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
    fn fmt_addr(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Ipv6Addr::from(self), f)
    }
    fn parse_addr(s: &str) -> Option<Self> {
        s.parse::<Ipv6Addr>().ok().map(u128::from)
    }
}

/// Errors when building or parsing a prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The length exceeds the address width.
    #[error("prefix length /{len} is too long for {family}; expected 0..={max}")]
    LengthTooLong {
        /// The length given.
        len: u8,
        /// The address width.
        max: u8,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// Bits below the prefix length are set.
    #[error("{given} has host bits set; did you mean {suggestion}?")]
    HostBitsSet {
        /// The prefix as written.
        given: String,
        /// The same prefix with the host bits cleared.
        suggestion: String,
    },
    /// The text is not `address/length`.
    #[error("`{input}` is not an {family} prefix; expected address/length, e.g. {example}")]
    Syntax {
        /// The text given.
        input: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// An example of the right form.
        example: &'static str,
    },
}

/// An IP prefix: `addr/len` with every bit of `addr` below `len` clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix<A> {
    addr: A,
    len: u8,
}

/// An IPv4 prefix.
pub type Prefix4 = Prefix<u32>;
/// An IPv6 prefix.
pub type Prefix6 = Prefix<u128>;

impl<A: Addr> Prefix<A> {
    /// The default route `0/0`.
    pub const DEFAULT: Prefix<A> = Prefix {
        addr: A::ZERO,
        len: 0,
    };

    /// `addr/len`; fails if `len` is longer than the address or host bits are set.
    pub fn new(addr: A, len: u8) -> Result<Self, PrefixError> {
        let truncated = Self::new_truncating(addr, len)?;
        if truncated.addr != addr {
            return Err(PrefixError::HostBitsSet {
                given: format!("{}/{}", DisplayAddr(addr), len),
                suggestion: truncated.to_string(),
            });
        }
        Ok(truncated)
    }

    /// `addr/len` with host bits cleared; fails only if `len` is longer than the address.
    pub fn new_truncating(addr: A, len: u8) -> Result<Self, PrefixError> {
        if len > A::BITS {
            return Err(PrefixError::LengthTooLong {
                len,
                max: A::BITS,
                family: A::FAMILY,
            });
        }
        Ok(Prefix {
            addr: addr.and(A::mask(len)),
            len,
        })
    }

    /// `addr/len` with host bits cleared and `len` clamped to the address width (for
    /// prefixes rebuilt from trie paths, which are valid by construction).
    pub(crate) fn clamped(addr: A, len: u8) -> Self {
        let len = len.min(A::BITS);
        Prefix {
            addr: addr.and(A::mask(len)),
            len,
        }
    }

    /// The host route (`/32` or `/128`) for `addr`.
    pub fn host(addr: A) -> Self {
        Prefix { addr, len: A::BITS }
    }

    /// The network address.
    #[inline]
    pub fn addr(&self) -> A {
        self.addr
    }

    /// The prefix length in bits.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// The network mask.
    #[inline]
    pub fn mask(&self) -> A {
        A::mask(self.len)
    }

    /// True if `addr` is inside this prefix.
    #[inline]
    pub fn contains(&self, addr: A) -> bool {
        addr.and(A::mask(self.len)) == self.addr
    }

    /// True if every address of `other` is inside this prefix.
    pub fn covers(&self, other: &Prefix<A>) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }
}

struct DisplayAddr<A>(A);

impl<A: Addr> fmt::Display for DisplayAddr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_addr(f)
    }
}

impl<A: Addr> fmt::Display for Prefix<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt_addr(f)?;
        write!(f, "/{}", self.len)
    }
}

fn parse_prefix<A: Addr>(s: &str, example: &'static str) -> Result<Prefix<A>, PrefixError> {
    let syntax = || PrefixError::Syntax {
        input: s.to_string(),
        family: A::FAMILY,
        example,
    };
    let (addr, len) = s.trim().split_once('/').ok_or_else(syntax)?;
    // Only plain decimal lengths: no sign, no leading `+`.
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let len: u8 = len.parse().map_err(|_| syntax())?;
    let addr = A::parse_addr(addr).ok_or_else(syntax)?;
    Prefix::new(addr, len)
}

impl FromStr for Prefix4 {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_prefix(s, "10.0.0.0/8")
    }
}

impl FromStr for Prefix6 {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_prefix(s, "2001:db8::/32")
    }
}

impl Prefix4 {
    /// `ip/len` from an [`Ipv4Addr`].
    pub fn from_ipv4(ip: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        Prefix::new(u32::from(ip), len)
    }
    /// The network address as an [`Ipv4Addr`].
    pub fn ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
}

impl Prefix6 {
    /// `ip/len` from an [`Ipv6Addr`].
    pub fn from_ipv6(ip: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        Prefix::new(u128::from(ip), len)
    }
    /// The network address as an [`Ipv6Addr`].
    pub fn ip(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }
}

impl From<Ipv4Addr> for Prefix4 {
    /// The `/32` host route.
    fn from(ip: Ipv4Addr) -> Self {
        Prefix::host(u32::from(ip))
    }
}

impl From<Ipv6Addr> for Prefix6 {
    /// The `/128` host route.
    fn from(ip: Ipv6Addr) -> Self {
        Prefix::host(u128::from(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_display() {
        let p: Prefix4 = "10.0.0.0/8".parse().unwrap();
        assert_eq!(p.addr(), 0x0a00_0000);
        assert_eq!(p.len(), 8);
        assert_eq!(p.to_string(), "10.0.0.0/8");
        let p6: Prefix6 = "2001:db8::/32".parse().unwrap();
        assert_eq!(p6.addr(), 0x2001_0db8 << 96);
        assert_eq!(p6.to_string(), "2001:db8::/32");
        assert_eq!("0.0.0.0/0".parse::<Prefix4>().unwrap(), Prefix4::DEFAULT);
        assert_eq!("::/0".parse::<Prefix6>().unwrap(), Prefix6::DEFAULT);
        assert_eq!(
            "192.0.2.1/32".parse::<Prefix4>().unwrap(),
            Prefix4::from(Ipv4Addr::new(192, 0, 2, 1))
        );
    }

    #[test]
    fn errors_say_what_is_right() {
        assert_eq!(
            "10.0.0.1/8".parse::<Prefix4>().unwrap_err().to_string(),
            "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"
        );
        assert_eq!(
            "2001:db8::1/32".parse::<Prefix6>().unwrap_err().to_string(),
            "2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?"
        );
        assert_eq!(
            "10.0.0.0/33".parse::<Prefix4>().unwrap_err().to_string(),
            "prefix length /33 is too long for IPv4; expected 0..=32"
        );
        assert_eq!(
            "10.0.0.0".parse::<Prefix4>().unwrap_err().to_string(),
            "`10.0.0.0` is not an IPv4 prefix; expected address/length, e.g. 10.0.0.0/8"
        );
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "/8",
            "::/8",
            "10.0.0.0/0008",
        ] {
            assert!(bad.parse::<Prefix4>().is_err(), "{bad}");
        }
        assert!("::/129".parse::<Prefix6>().is_err());
        assert!("10.0.0.0/8".parse::<Prefix6>().is_err());
    }

    #[test]
    fn contains_and_covers() {
        let p: Prefix4 = "192.168.0.0/16".parse().unwrap();
        assert!(p.contains(u32::from(Ipv4Addr::new(192, 168, 255, 1))));
        assert!(!p.contains(u32::from(Ipv4Addr::new(192, 169, 0, 0))));
        assert!(Prefix4::DEFAULT.contains(12345));
        assert!(p.covers(&"192.168.4.0/24".parse().unwrap()));
        assert!(!p.covers(&"192.0.0.0/8".parse().unwrap()));
        assert_eq!(p.mask(), 0xffff_0000);
        assert_eq!(Prefix6::host(7).mask(), u128::MAX);
        assert_eq!(u32::mask(0), 0);
        assert_eq!(u128::mask(0), 0);
        assert_eq!(u128::mask(1), 1 << 127);
    }

    proptest! {
        #[test]
        fn v4_text_round_trip(addr: u32, len in 0u8..=32) {
            let p = Prefix4::new_truncating(addr, len).unwrap();
            prop_assert_eq!(p.to_string().parse::<Prefix4>().unwrap(), p);
            prop_assert!(p.contains(p.addr()));
        }

        #[test]
        fn v6_text_round_trip(addr: u128, len in 0u8..=128) {
            let p = Prefix6::new_truncating(addr, len).unwrap();
            prop_assert_eq!(p.to_string().parse::<Prefix6>().unwrap(), p);
            prop_assert!(p.contains(addr));
        }
    }
}
