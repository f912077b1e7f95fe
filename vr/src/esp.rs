//! The ESP tables of the published state: inbound (outer VR, SPI) → tunnel and outbound
//! (VR, SA id) → tunnel (RFC 4303 tunnel mode; the crypto is the crate `esp`).
//!
//! **Keyed per VR.** RFC 4301 §4.1 lets a receiver look an SA up by SPI *and* destination;
//! ours is the SPI and the VR the ESP arrived in (the SA's outer VR), so two VRs of one
//! appliance may hold the same inbound SPI with different keys (two foreign agents on the
//! SLA's default SA, each in its own VR): a packet finds only the SA of the VR it arrived
//! in, with one hash probe. Outbound ids are likewise per VR: a route of VR `v` that says
//! `NextHop::Esp(id)` reaches `v`'s SA `id` and no other VR's, so isolation holds by the
//! key, not by a check after the lookup.
//!
//! An [`EspTunnel`] is an SA with what the workers need around it: the VR whose traffic it
//! carries (`vr`: decrypted packets are routed there and only there; only routes of that VR
//! may send into it), the VR the outer packets are routed in and arrive in (`outer_vr`), the
//! outer addresses (IPv4 or IPv6), UDP encapsulation (RFC 3948) and the DSCP policy. The
//! [`esp::Sa`] inside is shared across versions (its sequence numbers, replay window and
//! counters live on), so republishing never resets them; replacing an outbound SA under
//! the same [`EspSaId`] (a rekey) leaves the routes that name the id untouched.
//!
//! Routes send into a tunnel with [`crate::NextHop::Esp`], which names the outbound id only;
//! a missing id or a tunnel of another VR is a named drop on the workers, not a writer
//! error, so SAs and routes can be installed in any order.

use crate::ids::VrId;
use crate::persist::{PKey, PMap, PMapWriter};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// The name of an outbound SA in routes ([`crate::NextHop::Esp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EspSaId(pub u32);

impl fmt::Display for EspSaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ESP SA #{}", self.0)
    }
}

impl PKey for EspSaId {
    #[inline]
    fn pack(&self) -> u64 {
        u64::from(self.0)
    }
}

/// An inbound SA's key: the VR the ESP arrives in (the SA's outer VR) and the SPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InboundKey {
    /// The VR the ESP packets arrive in ([`EspTunnel::outer_vr`]).
    pub outer_vr: VrId,
    /// The SPI.
    pub spi: u32,
}

impl InboundKey {
    /// The key of an inbound SA of `outer_vr` with `spi`.
    #[inline]
    pub fn new(outer_vr: VrId, spi: u32) -> Self {
        InboundKey { outer_vr, spi }
    }
}

impl PKey for InboundKey {
    #[inline]
    fn pack(&self) -> u64 {
        (u64::from(self.outer_vr.0) << 32) | u64::from(self.spi)
    }
}

impl fmt::Display for InboundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SPI {:#010x} in {}", self.spi, self.outer_vr)
    }
}

/// An outbound SA's key: the VR whose routes send into it (the SA's VR) and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboundKey {
    /// The VR whose traffic the SA carries ([`EspTunnel::vr`]).
    pub vr: VrId,
    /// The id routes name.
    pub id: EspSaId,
}

impl OutboundKey {
    /// The key of `vr`'s outbound SA `id`.
    #[inline]
    pub fn new(vr: VrId, id: EspSaId) -> Self {
        OutboundKey { vr, id }
    }
}

impl PKey for OutboundKey {
    #[inline]
    fn pack(&self) -> u64 {
        (u64::from(self.vr.0) << 32) | u64::from(self.id.0)
    }
}

impl fmt::Display for OutboundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.id, self.vr)
    }
}

/// UDP encapsulation of ESP (RFC 3948): our port and the peer's (4500 both, unless a NAT
/// moved the peer's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspUdp {
    /// Our UDP port.
    pub local_port: u16,
    /// The peer's UDP port.
    pub remote_port: u16,
}

/// An SA with its tunnel.
#[derive(Debug, Clone)]
pub struct EspTunnel {
    /// The operator's name of the SA.
    pub name: Arc<str>,
    /// The SA.
    pub sa: Arc<esp::Sa>,
    /// The VR whose traffic it carries.
    pub vr: VrId,
    /// The VR the outer packets are routed in (outbound) and must arrive in (inbound).
    pub outer_vr: VrId,
    /// Our outer address.
    pub local: IpAddr,
    /// The peer's outer address.
    pub remote: IpAddr,
    /// UDP encapsulation, if any.
    pub udp: Option<EspUdp>,
    /// Outbound: `Some(d)` (0–63) marks the inner packet with DSCP `d` before encapsulation; the
    /// outer header always copies the inner DSCP and ECN (seed 003 S204, RFC 4301
    /// §5.1.2.1). Inbound: unused.
    pub dscp: Option<u8>,
    /// Outbound: the inner source addresses the SA takes (RFC 4301 §4.4.1's source
    /// selector); a packet routed into the SA from any other source is dropped
    /// (`esp_source_not_allowed`) and never enters the tunnel. `None`: any source. Inbound:
    /// unused.
    pub sources: Option<Arc<SourceSelector>>,
}

/// The inner source prefixes an outbound SA takes (see [`EspTunnel::sources`]). Small
/// lists (one address per mobile node on a shared SA), scanned linearly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSelector {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl SourceSelector {
    /// A selector allowing `prefixes` (address, length; lengths above the family's are
    /// clamped, host bits ignored).
    pub fn new(prefixes: impl IntoIterator<Item = (IpAddr, u8)>) -> Self {
        let mut s = SourceSelector::default();
        for (a, len) in prefixes {
            match a {
                IpAddr::V4(a) => {
                    let m = if len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(len.min(32)))
                    };
                    s.v4.push((u32::from(a) & m, m));
                }
                IpAddr::V6(a) => {
                    let m = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(len.min(128)))
                    };
                    s.v6.push((u128::from(a) & m, m));
                }
            }
        }
        s.v4.sort_unstable();
        s.v4.dedup();
        s.v6.sort_unstable();
        s.v6.dedup();
        s
    }

    /// A selector allowing the route prefixes `prefixes`.
    pub fn from_prefixes<'a>(prefixes: impl IntoIterator<Item = &'a crate::IpPrefix>) -> Self {
        Self::new(prefixes.into_iter().map(|p| match p {
            crate::IpPrefix::V4(p) => (IpAddr::V4(p.addr().into()), p.len()),
            crate::IpPrefix::V6(p) => (IpAddr::V6(p.addr().into()), p.len()),
        }))
    }

    /// Whether the IPv4 source `a` (host order) is allowed.
    #[inline]
    pub fn allows_v4(&self, a: u32) -> bool {
        self.v4.iter().any(|&(net, m)| a & m == net)
    }

    /// Whether the IPv6 source `a` is allowed.
    #[inline]
    pub fn allows_v6(&self, a: u128) -> bool {
        self.v6.iter().any(|&(net, m)| a & m == net)
    }

    /// Whether the source address of the IPv4 (`v4`) or IPv6 header at the start of `ip` is
    /// allowed; false when `ip` is too short to hold it.
    #[inline]
    pub fn allows_header(&self, ip: &[u8], v4: bool) -> bool {
        if v4 {
            ip.get(12..16)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .is_some_and(|b| self.allows_v4(u32::from_be_bytes(b)))
        } else {
            ip.get(8..24)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .is_some_and(|b| self.allows_v6(u128::from_be_bytes(b)))
        }
    }

    /// Whether the source `a` is allowed.
    pub fn allows(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.allows_v4(u32::from(a)),
            IpAddr::V6(a) => self.allows_v6(u128::from(a)),
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether it allows nothing at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The prefixes, as (address, length).
    pub fn prefixes(&self) -> impl Iterator<Item = (IpAddr, u8)> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|&(n, m)| (IpAddr::V4(n.into()), m.count_ones() as u8));
        let v6 = self
            .v6
            .iter()
            .map(|&(n, m)| (IpAddr::V6(n.into()), m.count_ones() as u8));
        v4.chain(v6)
    }
}

impl PartialEq for EspTunnel {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.sa, &o.sa)
            && self.name == o.name
            && self.vr == o.vr
            && self.outer_vr == o.outer_vr
            && self.local == o.local
            && self.remote == o.remote
            && self.udp == o.udp
            && self.dscp == o.dscp
            && self.sources == o.sources
    }
}

impl Eq for EspTunnel {}

/// Why a tunnel cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// The tunnel's addresses are of two families.
    #[error("ESP SA {name}: local {local} and remote {remote} are not of one address family")]
    Family {
        /// The SA.
        name: String,
        /// Our address.
        local: IpAddr,
        /// The peer's.
        remote: IpAddr,
    },
    /// A VR the tunnel names does not exist.
    #[error("ESP SA {name}: {vr} does not exist")]
    UnknownVr {
        /// The SA.
        name: String,
        /// The VR.
        vr: VrId,
    },
    /// A DSCP that does not fit its six bits.
    #[error("ESP SA {name}: DSCP {dscp} is above 63")]
    Dscp {
        /// The SA.
        name: String,
        /// The DSCP given.
        dscp: u8,
    },
    /// Nothing is installed under that key.
    #[error("no {0} is installed")]
    NotInstalled(String),
}

impl EspTunnel {
    /// Checks what the data plane relies on.
    pub fn check(&self) -> Result<(), EspError> {
        if self.local.is_ipv4() != self.remote.is_ipv4() {
            return Err(EspError::Family {
                name: self.name.to_string(),
                local: self.local,
                remote: self.remote,
            });
        }
        if let Some(dscp) = self.dscp.filter(|d| *d > 63) {
            return Err(EspError::Dscp {
                name: self.name.to_string(),
                dscp,
            });
        }
        Ok(())
    }
}

/// The published ESP tables.
#[derive(Clone, Default)]
pub struct EspTable {
    /// Inbound SAs by outer VR and SPI.
    pub inbound: PMap<InboundKey, Arc<EspTunnel>>,
    /// Outbound SAs by VR and id.
    pub outbound: PMap<OutboundKey, Arc<EspTunnel>>,
}

impl fmt::Debug for EspTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspTable")
            .field("inbound", &self.inbound.len())
            .field("outbound", &self.outbound.len())
            .finish()
    }
}

/// The writer's side of the ESP tables.
#[derive(Default)]
pub struct EspTableWriter {
    pub(crate) inbound: PMapWriter<InboundKey, Arc<EspTunnel>>,
    pub(crate) outbound: PMapWriter<OutboundKey, Arc<EspTunnel>>,
}

impl EspTableWriter {
    /// Publishes the current contents (only changed shards are copied).
    pub fn publish(&mut self) -> EspTable {
        EspTable {
            inbound: self.inbound.publish(),
            outbound: self.outbound.publish(),
        }
    }

    /// Removes every tunnel that names `vr` (its VR is being removed); returns how many.
    pub fn remove_vr(&mut self, vr: VrId) -> usize {
        self.inbound.retain(|_, t| t.vr != vr && t.outer_vr != vr)
            + self.outbound.retain(|_, t| t.vr != vr && t.outer_vr != vr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_selectors_match_prefixes_of_both_families() {
        let s = SourceSelector::new([
            (IpAddr::V4([10, 200, 0, 2].into()), 32),
            (IpAddr::V4([10, 9, 7, 7].into()), 16), // host bits ignored
            (IpAddr::V4([10, 200, 0, 2].into()), 32), // twice: once
            ("2001:db8:1::".parse().unwrap(), 48),
        ]);
        assert_eq!(s.len(), 3);
        assert!(s.allows("10.200.0.2".parse().unwrap()));
        assert!(!s.allows("10.200.0.3".parse().unwrap()));
        assert!(s.allows("10.9.255.1".parse().unwrap()));
        assert!(!s.allows("10.10.0.1".parse().unwrap()));
        assert!(s.allows("2001:db8:1:ffff::1".parse().unwrap()));
        assert!(!s.allows("2001:db8:2::1".parse().unwrap()));
        let mut p: Vec<_> = s.prefixes().collect();
        p.sort();
        assert_eq!(
            p,
            vec![
                (IpAddr::V4([10, 9, 0, 0].into()), 16),
                (IpAddr::V4([10, 200, 0, 2].into()), 32),
                ("2001:db8:1::".parse().unwrap(), 48),
            ]
        );
        // A /0 takes everything of its family only; an empty selector takes nothing.
        let any4 = SourceSelector::new([(IpAddr::V4([1, 2, 3, 4].into()), 0)]);
        assert!(any4.allows("203.0.113.1".parse().unwrap()));
        assert!(!any4.allows("::1".parse().unwrap()));
        assert!(!SourceSelector::default().allows("10.0.0.1".parse().unwrap()));
        // From a packet's header: the source field of either version; a cut header is refused.
        let mut h4 = [0u8; 20];
        h4[12..16].copy_from_slice(&[10, 9, 3, 4]);
        assert!(s.allows_header(&h4, true));
        h4[12] = 11;
        assert!(!s.allows_header(&h4, true));
        assert!(!s.allows_header(&h4[..15], true));
        let mut h6 = [0u8; 40];
        h6[8..24].copy_from_slice(
            &"2001:db8:1::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert!(s.allows_header(&h6, false));
        assert!(!s.allows_header(&h6[..23], false));
        assert!(!s.allows_header(&h4, false));
    }
}
