//! Address pools of a VR's subscribers: IPv4 ranges and IPv6 prefix pools (delegated
//! prefixes of a fixed length carved out of a larger one).
//!
//! Pools are named; a RADIUS `Framed-Pool` picks one, otherwise the VR's first pool of the
//! family is used. An address is handed out once: [`Pools::allocate_v4`] takes a free one,
//! [`Pools::reserve_v4`] takes a given one (a RADIUS `Framed-IP-Address`, which may lie
//! inside a pool or outside all of them) and refuses an address that is already in use.
//! [`Pools::release_v4`] gives it back at session end.
//!
//! Reconfiguration ([`Pools::reconfigure`]) keeps every address in use: an address of a
//! range that was removed stays taken (and counted as `orphaned`) until its session ends,
//! so a reload never hands out an address twice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One IPv4 pool: inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4PoolConfig {
    /// Name (`Framed-Pool`).
    pub name: String,
    /// Inclusive ranges, first to last.
    pub ranges: Vec<(Ipv4Addr, Ipv4Addr)>,
}

/// One IPv6 prefix pool: prefixes of `delegated_len` out of `prefix/len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6PoolConfig {
    /// Name.
    pub name: String,
    /// The prefix delegated prefixes are carved from.
    pub prefix: Ipv6Addr,
    /// Its length.
    pub len: u8,
    /// Length of each delegated prefix (64 for a subscriber's link prefix; 56 or 48 for
    /// delegation).
    pub delegated_len: u8,
}

/// Why an address could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// No pool of that name.
    #[error("no address pool named `{0}`")]
    UnknownPool(String),
    /// The VR has no pool of this family.
    #[error("no {0} address pool is configured")]
    NoPool(&'static str),
    /// Every address is in use.
    #[error("address pool `{0}` is exhausted")]
    Exhausted(String),
    /// The address is already a subscriber's.
    #[error("address {0} is already in use")]
    InUse(String),
}

/// The pools of one VR and the addresses in use.
#[derive(Debug, Default)]
pub struct Pools {
    v4: Vec<V4PoolConfig>,
    v6: Vec<V6PoolConfig>,
    used_v4: BTreeSet<u32>,
    used_v6: BTreeSet<(u128, u8)>,
    /// Round-robin cursor per pool (next candidate), so released addresses are not
    /// reused at once.
    cursor_v4: BTreeMap<String, u64>,
    cursor_v6: BTreeMap<String, u64>,
    /// Counters.
    pub stats: PoolStats,
}

/// Counters of a VR's pools.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Addresses handed out.
    pub allocated: u64,
    /// Addresses refused because a pool was full.
    pub exhausted: u64,
    /// Given addresses refused because they were in use.
    pub conflicts: u64,
}

fn v4_size(p: &V4PoolConfig) -> u64 {
    p.ranges
        .iter()
        .map(|(a, b)| u64::from(u32::from(*b)).saturating_sub(u64::from(u32::from(*a))) + 1)
        .sum()
}

fn v4_nth(p: &V4PoolConfig, mut n: u64) -> Option<u32> {
    for (a, b) in &p.ranges {
        let (a, b) = (u32::from(*a), u32::from(*b));
        let len = u64::from(b.saturating_sub(a)) + 1;
        if n < len {
            return Some(a + n as u32);
        }
        n -= len;
    }
    None
}

fn v6_size(p: &V6PoolConfig) -> u64 {
    let bits = u32::from(p.delegated_len.saturating_sub(p.len));
    1u64.checked_shl(bits.min(63)).unwrap_or(u64::MAX)
}

fn v6_nth(p: &V6PoolConfig, n: u64) -> u128 {
    let base = u128::from(p.prefix) & mask6(p.len);
    base | (u128::from(n) << (128 - u32::from(p.delegated_len)))
}

fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Pools {
    /// Pools with these settings, nothing in use.
    pub fn new(v4: Vec<V4PoolConfig>, v6: Vec<V6PoolConfig>) -> Self {
        Pools {
            v4,
            v6,
            ..Pools::default()
        }
    }

    /// New settings; addresses in use stay in use (see the module docs).
    pub fn reconfigure(&mut self, v4: Vec<V4PoolConfig>, v6: Vec<V6PoolConfig>) {
        self.v4 = v4;
        self.v6 = v6;
    }

    fn pick_v4(&self, name: Option<&str>) -> Result<&V4PoolConfig, PoolError> {
        match name {
            Some(n) => self
                .v4
                .iter()
                .find(|p| p.name == n)
                .ok_or_else(|| PoolError::UnknownPool(n.to_string())),
            None => self.v4.first().ok_or(PoolError::NoPool("IPv4")),
        }
    }

    /// A free address of pool `name` (or of the first pool).
    pub fn allocate_v4(&mut self, name: Option<&str>) -> Result<Ipv4Addr, PoolError> {
        let p = self.pick_v4(name)?.clone();
        let size = v4_size(&p);
        let start = self.cursor_v4.get(&p.name).copied().unwrap_or(0);
        for k in 0..size {
            let n = (start + k) % size;
            let Some(a) = v4_nth(&p, n) else { break };
            if self.used_v4.insert(a) {
                self.cursor_v4.insert(p.name.clone(), n + 1);
                self.stats.allocated += 1;
                return Ok(Ipv4Addr::from(a));
            }
        }
        self.stats.exhausted += 1;
        Err(PoolError::Exhausted(p.name))
    }

    /// Takes `a` (given by RADIUS or a local user), inside a pool or not.
    pub fn reserve_v4(&mut self, a: Ipv4Addr) -> Result<(), PoolError> {
        if self.used_v4.insert(u32::from(a)) {
            self.stats.allocated += 1;
            Ok(())
        } else {
            self.stats.conflicts += 1;
            Err(PoolError::InUse(a.to_string()))
        }
    }

    /// Gives `a` back.
    pub fn release_v4(&mut self, a: Ipv4Addr) {
        self.used_v4.remove(&u32::from(a));
    }

    /// A free delegated prefix of pool `name` (or of the first IPv6 pool).
    pub fn allocate_v6(&mut self, name: Option<&str>) -> Result<(Ipv6Addr, u8), PoolError> {
        let p = match name {
            Some(n) => self
                .v6
                .iter()
                .find(|p| p.name == n)
                .ok_or_else(|| PoolError::UnknownPool(n.to_string()))?,
            None => self.v6.first().ok_or(PoolError::NoPool("IPv6"))?,
        }
        .clone();
        let size = v6_size(&p);
        let start = self.cursor_v6.get(&p.name).copied().unwrap_or(0);
        // Bounded search: a pool of 2^40 prefixes is not scanned whole.
        for k in 0..size.min(1 << 20) {
            let n = (start + k) % size;
            let key = (v6_nth(&p, n), p.delegated_len);
            if self.used_v6.insert(key) {
                self.cursor_v6.insert(p.name.clone(), n + 1);
                self.stats.allocated += 1;
                return Ok((Ipv6Addr::from(key.0), key.1));
            }
        }
        self.stats.exhausted += 1;
        Err(PoolError::Exhausted(p.name))
    }

    /// Takes a given prefix (RADIUS `Framed-IPv6-Prefix` / `Delegated-IPv6-Prefix`).
    pub fn reserve_v6(&mut self, prefix: Ipv6Addr, len: u8) -> Result<(), PoolError> {
        let key = (u128::from(prefix) & mask6(len), len);
        if self.used_v6.insert(key) {
            self.stats.allocated += 1;
            Ok(())
        } else {
            self.stats.conflicts += 1;
            Err(PoolError::InUse(format!("{prefix}/{len}")))
        }
    }

    /// Gives a prefix back.
    pub fn release_v6(&mut self, prefix: Ipv6Addr, len: u8) {
        self.used_v6.remove(&(u128::from(prefix) & mask6(len), len));
    }

    /// Addresses and prefixes in use.
    pub fn in_use(&self) -> (usize, usize) {
        (self.used_v4.len(), self.used_v6.len())
    }

    /// Addresses in use that no configured pool contains (their range was removed by a
    /// reload, or RADIUS gave them).
    pub fn orphaned_v4(&self) -> usize {
        self.used_v4
            .iter()
            .filter(|a| {
                !self.v4.iter().any(|p| {
                    p.ranges
                        .iter()
                        .any(|(x, y)| u32::from(*x) <= **a && **a <= u32::from(*y))
                })
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str, a: [u8; 4], b: [u8; 4]) -> V4PoolConfig {
        V4PoolConfig {
            name: name.into(),
            ranges: vec![(a.into(), b.into())],
        }
    }

    #[test]
    fn v4_never_hands_out_an_address_twice() {
        let mut p = Pools::new(
            vec![
                pool("a", [100, 64, 0, 1], [100, 64, 0, 3]),
                pool("b", [100, 65, 0, 1], [100, 65, 0, 1]),
            ],
            vec![],
        );
        let mut got = BTreeSet::new();
        for _ in 0..3 {
            assert!(got.insert(p.allocate_v4(None).unwrap()));
        }
        assert_eq!(p.allocate_v4(None), Err(PoolError::Exhausted("a".into())));
        assert_eq!(
            p.allocate_v4(Some("b")).unwrap(),
            Ipv4Addr::new(100, 65, 0, 1)
        );
        assert_eq!(
            p.allocate_v4(Some("zz")),
            Err(PoolError::UnknownPool("zz".into()))
        );
        // A RADIUS-given address inside a pool is taken from it.
        p.release_v4(Ipv4Addr::new(100, 64, 0, 2));
        p.reserve_v4(Ipv4Addr::new(100, 64, 0, 2)).unwrap();
        assert!(p.reserve_v4(Ipv4Addr::new(100, 64, 0, 2)).is_err());
        assert_eq!(p.allocate_v4(None), Err(PoolError::Exhausted("a".into())));
        assert_eq!(p.stats.conflicts, 1);
        assert_eq!(p.stats.exhausted, 2);
        // Released addresses come back, round robin.
        p.release_v4(Ipv4Addr::new(100, 64, 0, 1));
        assert_eq!(p.allocate_v4(None).unwrap(), Ipv4Addr::new(100, 64, 0, 1));
    }

    #[test]
    fn reload_keeps_addresses_in_use() {
        let mut p = Pools::new(vec![pool("a", [10, 0, 0, 1], [10, 0, 0, 2])], vec![]);
        let x = p.allocate_v4(None).unwrap();
        p.reconfigure(vec![pool("a", [10, 0, 0, 2], [10, 0, 0, 3])], vec![]);
        assert_eq!(p.orphaned_v4(), 1);
        let y = p.allocate_v4(None).unwrap();
        let z = p.allocate_v4(None).unwrap();
        assert!(x != y && y != z && x != z);
        assert!(p.allocate_v4(None).is_err());
        p.reconfigure(vec![pool("a", [10, 0, 0, 1], [10, 0, 0, 3])], vec![]);
        assert!(p.allocate_v4(None).is_err(), "x is still in use");
        p.release_v4(x);
        assert_eq!(p.allocate_v4(None).unwrap(), x);
    }

    #[test]
    fn v6_prefixes_are_carved_and_unique() {
        let mut p = Pools::new(
            vec![],
            vec![V6PoolConfig {
                name: "pd".into(),
                prefix: "2001:db8:100::".parse().unwrap(),
                len: 62,
                delegated_len: 64,
            }],
        );
        let mut got = BTreeSet::new();
        for _ in 0..4 {
            let (a, l) = p.allocate_v6(None).unwrap();
            assert_eq!(l, 64);
            assert_eq!(u128::from(a) & !mask6(64), 0);
            assert_eq!(u128::from(a) & mask6(62), u128::from(p.v6[0].prefix));
            assert!(got.insert(a));
        }
        assert!(p.allocate_v6(None).is_err());
        let first = *got.iter().next().unwrap();
        p.release_v6(first, 64);
        assert_eq!(p.allocate_v6(Some("pd")).unwrap(), (first, 64));
        assert_eq!(p.allocate_v4(None), Err(PoolError::NoPool("IPv4")));
    }
}
