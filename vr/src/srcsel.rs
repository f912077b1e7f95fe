//! Source-selected next hops: a route whose next hop is [`crate::NextHop::BySource`]`(id)`
//! sends each packet into the tunnel its *source* address selects — the ESP SA or the
//! IP-in-IP tunnel of the entry of [`SourceRoutes`] `(VR, id)` whose source prefix contains
//! the packet's IPv4 or IPv6 source.
//!
//! What it is for: two mobile nodes of one VR, each with its own SA (own SPI, keys and
//! DSCP class), that reach one destination network. A route follows the destination only,
//! so one of them would be carried in the other's SA; with the route naming a source
//! selection, each one's packets enter its own SA, and a source none of the entries names
//! is dropped (`source_route_no_match`) instead of entering someone's tunnel. A route
//! with a single user keeps its plain [`crate::NextHop::Esp`] / [`crate::NextHop::IpIp`]
//! and pays nothing for this.
//!
//! **Entries.** `(source prefix, next hop)`, the next hop an [`crate::NextHop::Esp`] or
//! [`crate::NextHop::IpIp`] (ids of the same VR's tables; no nesting, nothing that needs a
//! neighbour). The entries are kept longest prefix first (equal lengths in the order given),
//! and the first that contains the source wins: the most specific source prefix decides.
//! Lists are small (one entry per user sharing the destination), scanned linearly.
//!
//! **Keyed per VR**, like the ESP and IP-in-IP tables: a route of VR `v` reaches `v`'s
//! selection `id` only. A missing id is a named drop on the workers
//! (`source_route_unknown`), not a writer error, so selections and routes can be installed
//! in any order.

use crate::ids::VrId;
use crate::nexthop::NextHop;
use crate::persist::{PKey, PMap, PMapWriter};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// The name of a source selection in routes ([`crate::NextHop::BySource`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceRouteId(pub u32);

impl fmt::Display for SourceRouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source selection #{}", self.0)
    }
}

/// A source selection's key: the VR whose routes name it and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceRouteKey {
    /// The VR whose routes use it ([`SourceRoutes::vr`]).
    pub vr: VrId,
    /// The id routes name.
    pub id: SourceRouteId,
}

impl SourceRouteKey {
    /// The key of `vr`'s selection `id`.
    #[inline]
    pub fn new(vr: VrId, id: SourceRouteId) -> Self {
        SourceRouteKey { vr, id }
    }
}

impl PKey for SourceRouteKey {
    #[inline]
    fn pack(&self) -> u64 {
        (u64::from(self.vr.0) << 32) | u64::from(self.id.0)
    }
}

impl fmt::Display for SourceRouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.id, self.vr)
    }
}

/// Why a source selection cannot be installed or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceRouteError {
    /// The VR it names does not exist.
    #[error("source selection {name}: {vr} does not exist")]
    UnknownVr {
        /// The selection.
        name: String,
        /// The VR.
        vr: VrId,
    },
    /// An entry whose next hop is not a tunnel.
    #[error(
        "source selection {name}: an entry sends into a {kind} next hop; entries send into \
         an ESP SA or an IP-in-IP tunnel"
    )]
    Hop {
        /// The selection.
        name: String,
        /// The kind of next hop given.
        kind: &'static str,
    },
    /// No entry at all (every packet would be dropped: a discard route says that better).
    #[error("source selection {name} has no entries; it needs at least one (source, tunnel)")]
    Empty {
        /// The selection.
        name: String,
    },
    /// Nothing is installed under that key.
    #[error("no {0} is installed")]
    NotInstalled(String),
}

/// A source selection: which tunnel each source's packets take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRoutes {
    /// The operator's name (for messages and listings).
    pub name: Arc<str>,
    /// The VR whose routes use it; its entries' ids are that VR's.
    pub vr: VrId,
    /// IPv4 entries: (network, mask, next hop), longest mask first.
    v4: Vec<(u32, u32, NextHop)>,
    /// IPv6 entries likewise.
    v6: Vec<(u128, u128, NextHop)>,
}

impl SourceRoutes {
    /// A selection of `vr` from `(source address, prefix length) → next hop` entries
    /// (lengths above the family's are clamped, host bits ignored). Kept longest prefix
    /// first; among equal lengths the order given.
    pub fn new(
        name: impl Into<Arc<str>>,
        vr: VrId,
        entries: impl IntoIterator<Item = ((IpAddr, u8), NextHop)>,
    ) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for ((a, len), nh) in entries {
            match a {
                IpAddr::V4(a) => {
                    let m = if len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(len.min(32)))
                    };
                    v4.push((u32::from(a) & m, m, nh));
                }
                IpAddr::V6(a) => {
                    let m = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(len.min(128)))
                    };
                    v6.push((u128::from(a) & m, m, nh));
                }
            }
        }
        // Stable: equal lengths keep the given order.
        v4.sort_by_key(|e| std::cmp::Reverse(e.1.count_ones()));
        v6.sort_by_key(|e| std::cmp::Reverse(e.1.count_ones()));
        SourceRoutes {
            name: name.into(),
            vr,
            v4,
            v6,
        }
    }

    /// Checks what the data plane relies on: at least one entry, each into an ESP SA or an
    /// IP-in-IP tunnel.
    pub fn check(&self) -> Result<(), SourceRouteError> {
        if self.v4.is_empty() && self.v6.is_empty() {
            return Err(SourceRouteError::Empty {
                name: self.name.to_string(),
            });
        }
        let hops = self
            .v4
            .iter()
            .map(|e| e.2)
            .chain(self.v6.iter().map(|e| e.2));
        for nh in hops {
            if !matches!(nh, NextHop::Esp(_) | NextHop::IpIp(_)) {
                return Err(SourceRouteError::Hop {
                    name: self.name.to_string(),
                    kind: nh.kind(),
                });
            }
        }
        Ok(())
    }

    /// The next hop of IPv4 source `a` (host order), if an entry contains it.
    #[inline]
    pub fn select_v4(&self, a: u32) -> Option<NextHop> {
        self.v4.iter().find(|e| a & e.1 == e.0).map(|e| e.2)
    }

    /// The next hop of IPv6 source `a`, if an entry contains it.
    #[inline]
    pub fn select_v6(&self, a: u128) -> Option<NextHop> {
        self.v6.iter().find(|e| a & e.1 == e.0).map(|e| e.2)
    }

    /// The next hop of `a`, if an entry contains it.
    pub fn select(&self, a: IpAddr) -> Option<NextHop> {
        match a {
            IpAddr::V4(a) => self.select_v4(u32::from(a)),
            IpAddr::V6(a) => self.select_v6(u128::from(a)),
        }
    }

    /// The next hop of the source of the IPv4 (`v4`) or IPv6 header at the start of `ip`;
    /// `None` when no entry contains it or `ip` is too short to hold it.
    #[inline]
    pub fn select_header(&self, ip: &[u8], v4: bool) -> Option<NextHop> {
        if v4 {
            let b = <[u8; 4]>::try_from(ip.get(12..16)?).ok()?;
            self.select_v4(u32::from_be_bytes(b))
        } else {
            let b = <[u8; 16]>::try_from(ip.get(8..24)?).ok()?;
            self.select_v6(u128::from_be_bytes(b))
        }
    }

    /// The entries, as (source address, prefix length, next hop), in the order they are
    /// tried (IPv4 first).
    pub fn entries(&self) -> impl Iterator<Item = (IpAddr, u8, NextHop)> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|&(n, m, nh)| (IpAddr::V4(n.into()), m.count_ones() as u8, nh));
        let v6 = self
            .v6
            .iter()
            .map(|&(n, m, nh)| (IpAddr::V6(n.into()), m.count_ones() as u8, nh));
        v4.chain(v6)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The published source selections by VR and id.
pub type SourceRouteTable = PMap<SourceRouteKey, Arc<SourceRoutes>>;

/// The writer's side of [`SourceRouteTable`].
pub(crate) type SourceRouteTableWriter = PMapWriter<SourceRouteKey, Arc<SourceRoutes>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::EspSaId;
    use crate::ipip::IpIpId;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_longest_source_prefix_that_contains_the_source_wins() {
        let (e1, e2, e3, i1) = (
            NextHop::Esp(EspSaId(1)),
            NextHop::Esp(EspSaId(2)),
            NextHop::Esp(EspSaId(3)),
            NextHop::IpIp(IpIpId(1)),
        );
        let s = SourceRoutes::new(
            "s",
            VrId(1),
            [
                ((a("10.200.0.0"), 16), e1),
                ((a("10.200.0.2"), 32), e2),
                ((a("10.200.7.7"), 16), e3), // same as the first: the first given wins
                ((a("2001:db8:1::"), 48), i1),
            ],
        );
        assert_eq!(s.check(), Ok(()));
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.select(a("10.200.0.2")),
            Some(e2),
            "the /32 before the /16"
        );
        assert_eq!(s.select(a("10.200.0.3")), Some(e1));
        assert_eq!(s.select(a("10.201.0.2")), None);
        assert_eq!(s.select(a("2001:db8:1:ff::9")), Some(i1));
        assert_eq!(s.select(a("2001:db8:2::9")), None);
        let order: Vec<_> = s
            .entries()
            .map(|(a, l, nh)| (a.to_string(), l, nh))
            .collect();
        assert_eq!(
            order,
            vec![
                ("10.200.0.2".into(), 32, e2),
                ("10.200.0.0".into(), 16, e1),
                ("10.200.0.0".into(), 16, e3),
                ("2001:db8:1::".into(), 48, i1),
            ]
        );
        // From a packet's header; a cut one selects nothing.
        let mut h4 = [0u8; 20];
        h4[12..16].copy_from_slice(&[10, 200, 0, 2]);
        assert_eq!(s.select_header(&h4, true), Some(e2));
        assert_eq!(s.select_header(&h4[..15], true), None);
        let mut h6 = [0u8; 40];
        h6[8..24].copy_from_slice(
            &"2001:db8:1::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(s.select_header(&h6, false), Some(i1));
        assert_eq!(s.select_header(&h6[..23], false), None);
        // A /0 takes its family only.
        let any = SourceRoutes::new("any", VrId(1), [((a("0.0.0.0"), 0), e1)]);
        assert_eq!(any.select(a("203.0.113.1")), Some(e1));
        assert_eq!(any.select(a("::1")), None);
    }

    #[test]
    fn only_tunnel_next_hops_and_at_least_one_entry_are_accepted() {
        let e = SourceRoutes::new("e", VrId(1), []).check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "source selection e has no entries; it needs at least one (source, tunnel)"
        );
        for nh in [
            NextHop::Local,
            NextHop::Drop,
            NextHop::BySource(SourceRouteId(2)),
        ] {
            let e = SourceRoutes::new("n", VrId(1), [((a("10.0.0.1"), 32), nh)])
                .check()
                .unwrap_err();
            assert!(
                e.to_string()
                    .contains("entries send into an ESP SA or an IP-in-IP tunnel"),
                "{e}"
            );
        }
        let k = SourceRouteKey::new(VrId(1), SourceRouteId(2));
        assert_ne!(
            k.pack(),
            SourceRouteKey::new(VrId(2), SourceRouteId(1)).pack()
        );
        assert_eq!(k.to_string(), "source selection #2 of vr1");
    }

    /// The writer publishes a selection under its VR's key only, replaces it in place, and
    /// drops it with its VR.
    #[test]
    fn selections_are_published_per_vr_and_go_with_their_vr() {
        use crate::{StateWriter, VirtualRouter, VpnId};
        let mut w = StateWriter::new(vec![[2, 0, 0, 0, 0, 1]], 1);
        for v in [1, 2] {
            w.add_vr(VirtualRouter::new(
                VrId(v),
                format!("v{v}"),
                VpnId::new(1, v).unwrap(),
                "t",
            ))
            .unwrap();
        }
        let sel = |spi| {
            Arc::new(SourceRoutes::new(
                "s",
                VrId(1),
                [((a("10.0.0.1"), 32), NextHop::Esp(EspSaId(spi)))],
            ))
        };
        w.set_source_routes(SourceRouteId(3), sel(1)).unwrap();
        let st = w.commit().unwrap();
        let k1 = SourceRouteKey::new(VrId(1), SourceRouteId(3));
        assert_eq!(st.source_routes.get(&k1), Some(&sel(1)));
        assert!(st
            .source_routes
            .get(&SourceRouteKey::new(VrId(2), SourceRouteId(3)))
            .is_none());
        w.set_source_routes(SourceRouteId(3), sel(2)).unwrap();
        assert_eq!(
            w.commit()
                .unwrap()
                .source_routes
                .get(&k1)
                .unwrap()
                .select(a("10.0.0.1")),
            Some(NextHop::Esp(EspSaId(2)))
        );
        w.remove_vr(VrId(1)).unwrap();
        assert!(w.commit().unwrap().source_routes.is_empty());
        assert_eq!(w.stats.source_route_changes, 3);
    }
}
