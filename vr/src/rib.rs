//! The routing information base of one VR, and its compilation into the VR's FIBs.
//!
//! A RIB holds, per prefix, at most one route per [`RouteSource`]; the best route of a
//! prefix is the one whose source has the lowest administrative distance. Only the best
//! routes reach the FIB (the forwarding-state writer, [`crate::state::StateWriter`], keeps
//! each VR's FIB in step with its RIB incrementally). Routes learnt from VPN peers over the peering
//! channel are [`RouteSource::Vpn`].

use std::collections::BTreeMap;
use std::fmt;

use crate::fib::prefix::{Addr, Prefix};
use crate::ids::NextHopId;

/// Number of route sources.
pub const SOURCES: usize = 6;

/// Where a route comes from. The order of the variants is the preference order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteSource {
    /// An address of the VR itself (`/32`, `/128`) → [`crate::NextHopTable::LOCAL`].
    Local,
    /// The subnet of one of the VR's interfaces.
    Connected,
    /// Configured in the profile or through the management API.
    Static,
    /// A subscriber's address or prefix, into its session (PPP on the LNS).
    Subscriber,
    /// A host route to a resolved neighbour of a connected subnet (the control core adds
    /// it when ARP/ND resolves the destination, removes it when the neighbour goes).
    Neighbor,
    /// Learnt from a VR of the same VPN on another provider router over the peering
    /// channel (`docs/protocols/vpn-peering.md` §7), with push [transport, VPN label]. The
    /// least preferred: a remote site's announcement never overrides what this router was
    /// given or observed for the same prefix (a static route, a subscriber, a neighbour).
    Vpn,
}

impl RouteSource {
    /// All sources, most preferred first.
    pub const ALL: [RouteSource; SOURCES] = [
        RouteSource::Local,
        RouteSource::Connected,
        RouteSource::Static,
        RouteSource::Subscriber,
        RouteSource::Neighbor,
        RouteSource::Vpn,
    ];

    /// Administrative distance (lower wins), with the customary values.
    pub const fn admin_distance(self) -> u8 {
        match self {
            RouteSource::Local | RouteSource::Connected => 0,
            RouteSource::Static => 1,
            RouteSource::Subscriber => 2,
            RouteSource::Neighbor => 3,
            RouteSource::Vpn => 4,
        }
    }

    const fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RouteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteSource::Local => "local",
            RouteSource::Connected => "connected",
            RouteSource::Static => "static",
            RouteSource::Subscriber => "subscriber",
            RouteSource::Neighbor => "neighbor",
            RouteSource::Vpn => "vpn",
        })
    }
}

/// Errors of RIB updates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// `add` of a route that exists.
    #[error(
        "{route_source} route {prefix} already exists (via {existing}); use replace to change it"
    )]
    Exists {
        /// The prefix, as text.
        prefix: String,
        /// The route's source.
        route_source: RouteSource,
        /// Its current next hop.
        existing: NextHopId,
    },
    /// `remove` of a route that does not exist.
    #[error("no {route_source} route for {prefix}")]
    NotFound {
        /// The prefix, as text.
        prefix: String,
        /// The route's source.
        route_source: RouteSource,
    },
}

/// The routes of one address family.
#[derive(Clone, Debug)]
pub struct RibTable<A> {
    routes: BTreeMap<Prefix<A>, [Option<NextHopId>; SOURCES]>,
}

impl<A: Addr> Default for RibTable<A> {
    fn default() -> Self {
        RibTable {
            routes: BTreeMap::new(),
        }
    }
}

impl<A: Addr> RibTable<A> {
    /// Adds a route; fails if `prefix` already has a route from `source`.
    pub fn add(
        &mut self,
        prefix: Prefix<A>,
        source: RouteSource,
        nh: NextHopId,
    ) -> Result<(), RibError> {
        let slots = self.routes.entry(prefix).or_default();
        match slots[source.slot()] {
            Some(existing) => Err(RibError::Exists {
                prefix: prefix.to_string(),
                route_source: source,
                existing,
            }),
            None => {
                slots[source.slot()] = Some(nh);
                Ok(())
            }
        }
    }

    /// Adds or overwrites the route of `prefix` from `source`; returns the previous next
    /// hop.
    pub fn replace(
        &mut self,
        prefix: Prefix<A>,
        source: RouteSource,
        nh: NextHopId,
    ) -> Option<NextHopId> {
        self.routes.entry(prefix).or_default()[source.slot()].replace(nh)
    }

    /// Removes the route of `prefix` from `source`; returns its next hop.
    pub fn remove(
        &mut self,
        prefix: Prefix<A>,
        source: RouteSource,
    ) -> Result<NextHopId, RibError> {
        let not_found = || RibError::NotFound {
            prefix: prefix.to_string(),
            route_source: source,
        };
        let slots = self.routes.get_mut(&prefix).ok_or_else(not_found)?;
        let nh = slots[source.slot()].take().ok_or_else(not_found)?;
        if slots.iter().all(Option::is_none) {
            self.routes.remove(&prefix);
        }
        Ok(nh)
    }

    /// The route of `prefix` (exact match) from `source`.
    pub fn get(&self, prefix: &Prefix<A>, source: RouteSource) -> Option<NextHopId> {
        self.routes.get(prefix).and_then(|s| s[source.slot()])
    }

    /// The best route of `prefix` (exact match): its source and next hop.
    pub fn best(&self, prefix: &Prefix<A>) -> Option<(RouteSource, NextHopId)> {
        self.routes.get(prefix).and_then(best_of)
    }

    /// The best route of every prefix, by prefix.
    pub fn best_routes(&self) -> impl Iterator<Item = (Prefix<A>, RouteSource, NextHopId)> + '_ {
        self.routes
            .iter()
            .filter_map(|(p, slots)| best_of(slots).map(|(s, nh)| (*p, s, nh)))
    }

    /// Every route (all sources), by prefix then preference.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix<A>, RouteSource, NextHopId)> + '_ {
        self.routes.iter().flat_map(|(p, slots)| {
            RouteSource::ALL
                .iter()
                .filter_map(move |s| slots[s.slot()].map(|nh| (*p, *s, nh)))
        })
    }

    /// Number of prefixes with at least one route.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there is no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The FIB input: the best route of every prefix, as `(prefix, next hop)`.
    pub fn fib_routes(&self) -> Vec<(Prefix<A>, NextHopId)> {
        self.best_routes().map(|(p, _, nh)| (p, nh)).collect()
    }
}

fn best_of(slots: &[Option<NextHopId>; SOURCES]) -> Option<(RouteSource, NextHopId)> {
    RouteSource::ALL
        .iter()
        .min_by_key(|s| (slots[s.slot()].is_none(), s.admin_distance(), **s))
        .and_then(|s| slots[s.slot()].map(|nh| (*s, nh)))
}

/// The RIB of one VR: IPv4 and IPv6 routes.
#[derive(Clone, Debug, Default)]
pub struct Rib {
    /// IPv4 routes.
    pub v4: RibTable<u32>,
    /// IPv6 routes.
    pub v6: RibTable<u128>,
}

impl Rib {
    /// An empty RIB.
    pub fn new() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::{Prefix4, Prefix6};

    fn p4(s: &str) -> Prefix4 {
        s.parse().unwrap()
    }

    #[test]
    fn preference_and_best_routes() {
        let mut rib = Rib::new();
        rib.v4
            .add(p4("10.0.0.0/24"), RouteSource::Static, NextHopId(5))
            .unwrap();
        rib.v4
            .add(p4("10.0.0.0/24"), RouteSource::Connected, NextHopId(6))
            .unwrap();
        rib.v4
            .add(p4("10.0.0.1/32"), RouteSource::Local, NextHopId(1))
            .unwrap();
        rib.v4
            .add(p4("0.0.0.0/0"), RouteSource::Static, NextHopId(7))
            .unwrap();
        rib.v6
            .add(
                "2001:db8::/32".parse::<Prefix6>().unwrap(),
                RouteSource::Static,
                NextHopId(8),
            )
            .unwrap();
        assert_eq!(
            rib.v4.best(&p4("10.0.0.0/24")),
            Some((RouteSource::Connected, NextHopId(6)))
        );
        assert_eq!(rib.v4.iter().count(), 4);
        assert_eq!(rib.v4.len(), 3);
        assert_eq!(
            rib.v4.fib_routes(),
            vec![
                (p4("0.0.0.0/0"), NextHopId(7)),
                (p4("10.0.0.0/24"), NextHopId(6)),
                (p4("10.0.0.1/32"), NextHopId(1)),
            ]
        );
        assert_eq!(rib.v6.fib_routes().len(), 1);

        // Withdrawing the connected route falls back to the static one.
        assert_eq!(
            rib.v4.remove(p4("10.0.0.0/24"), RouteSource::Connected),
            Ok(NextHopId(6))
        );
        assert_eq!(
            rib.v4.best(&p4("10.0.0.0/24")),
            Some((RouteSource::Static, NextHopId(5)))
        );
        assert_eq!(
            rib.v4.remove(p4("10.0.0.0/24"), RouteSource::Static),
            Ok(NextHopId(5))
        );
        assert_eq!(rib.v4.len(), 2);
        assert_eq!(rib.v4.best(&p4("10.0.0.0/24")), None);
    }

    #[test]
    fn add_replace_remove_errors() {
        let mut t = RibTable::<u32>::default();
        t.add(p4("10.0.0.0/8"), RouteSource::Static, NextHopId(2))
            .unwrap();
        assert_eq!(
            t.add(p4("10.0.0.0/8"), RouteSource::Static, NextHopId(3))
                .unwrap_err()
                .to_string(),
            "static route 10.0.0.0/8 already exists (via nh2); use replace to change it"
        );
        assert_eq!(
            t.replace(p4("10.0.0.0/8"), RouteSource::Static, NextHopId(3)),
            Some(NextHopId(2))
        );
        assert_eq!(
            t.remove(p4("10.0.0.0/8"), RouteSource::Connected)
                .unwrap_err()
                .to_string(),
            "no connected route for 10.0.0.0/8"
        );
        assert_eq!(
            t.remove(p4("10.0.0.0/8"), RouteSource::Static),
            Ok(NextHopId(3))
        );
        assert!(t.is_empty());
        assert!(t.remove(p4("10.0.0.0/8"), RouteSource::Static).is_err());
    }
}
