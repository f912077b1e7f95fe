//! The IP-in-IP tables of the published state (RFC 2003; IPv6 inner packets as protocol
//! 41, RFC 4213 §3.5, over the same IPv4 outer header): outbound (VR, tunnel id) → tunnel
//! and inbound (outer VR, remote address) → tunnel.
//!
//! Modelled on the ESP tables ([`crate::esp`]) without the SA: an [`IpIpTunnel`] names the
//! VR whose traffic it carries (`vr`: decapsulated packets are routed there and only there;
//! only routes of that VR may send into it), the VR its outer packets are routed in and
//! arrive in (`outer_vr`), the outer IPv4 addresses, the DSCP mark and the source selector.
//!
//! **Keyed per VR.** A route of VR `v` that says [`crate::NextHop::IpIp`]`(id)` reaches `v`'s
//! tunnel `id` and no other VR's. An IP-in-IP packet carries no SPI, so the inbound key is
//! what identifies the tunnel on the wire: the VR it arrived in and the outer source (the
//! tunnel's remote end); the data plane also requires the outer destination to be the
//! tunnel's local address. A packet from an address that is no tunnel's remote in that VR is
//! dropped (`ipip_unknown_tunnel`), so a host cannot inject into a VR by encapsulating.
//!
//! A missing id or a tunnel of another VR is a named drop on the workers, not a writer
//! error, so tunnels and routes can be installed in any order.

use crate::esp::SourceSelector;
use crate::ids::VrId;
use crate::persist::{PKey, PMap, PMapWriter};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The name of an outbound IP-in-IP tunnel in routes ([`crate::NextHop::IpIp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpIpId(pub u32);

impl fmt::Display for IpIpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IP-in-IP tunnel #{}", self.0)
    }
}

/// An outbound tunnel's key: the VR whose routes send into it and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpIpKey {
    /// The VR whose traffic the tunnel carries ([`IpIpTunnel::vr`]).
    pub vr: VrId,
    /// The id routes name.
    pub id: IpIpId,
}

impl IpIpKey {
    /// The key of `vr`'s tunnel `id`.
    #[inline]
    pub fn new(vr: VrId, id: IpIpId) -> Self {
        IpIpKey { vr, id }
    }
}

impl PKey for IpIpKey {
    #[inline]
    fn pack(&self) -> u64 {
        (u64::from(self.vr.0) << 32) | u64::from(self.id.0)
    }
}

impl fmt::Display for IpIpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.id, self.vr)
    }
}

/// An inbound tunnel's key: the VR the outer packets arrive in and their source (the
/// tunnel's remote end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpIpInboundKey {
    /// The VR the outer packets arrive in ([`IpIpTunnel::outer_vr`]).
    pub outer_vr: VrId,
    /// The outer source address (host order).
    pub remote: u32,
}

impl IpIpInboundKey {
    /// The key of packets from `remote` arriving in `outer_vr`.
    #[inline]
    pub fn new(outer_vr: VrId, remote: Ipv4Addr) -> Self {
        IpIpInboundKey {
            outer_vr,
            remote: u32::from(remote),
        }
    }
}

impl PKey for IpIpInboundKey {
    #[inline]
    fn pack(&self) -> u64 {
        (u64::from(self.outer_vr.0) << 32) | u64::from(self.remote)
    }
}

impl fmt::Display for IpIpInboundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP-in-IP from {} in {}",
            Ipv4Addr::from(self.remote),
            self.outer_vr
        )
    }
}

/// An IP-in-IP tunnel (one direction: the tables hold outbound and inbound entries apart,
/// like ESP SAs; one tunnel value may serve as both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpIpTunnel {
    /// The operator's name of the tunnel.
    pub name: Arc<str>,
    /// The VR whose traffic it carries.
    pub vr: VrId,
    /// The VR the outer packets are routed in (outbound) and must arrive in (inbound).
    pub outer_vr: VrId,
    /// Our outer address (the outer source; inbound: the outer destination required).
    pub local: Ipv4Addr,
    /// The peer's outer address (the outer destination; inbound: the outer source).
    pub remote: Ipv4Addr,
    /// Outbound: `Some(d)` (0–63) marks the inner packet with DSCP `d` before encapsulation;
    /// the outer header always copies the inner DSCP and ECN (seed 003 S204). Inbound: unused.
    pub dscp: Option<u8>,
    /// Outbound: the inner source addresses the tunnel takes (`ipip_source_not_allowed`
    /// for others); `None`: any source. Inbound: unused.
    pub sources: Option<Arc<SourceSelector>>,
}

/// Why a tunnel cannot be installed or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpIpError {
    /// A VR the tunnel names does not exist.
    #[error("IP-in-IP tunnel {name}: {vr} does not exist")]
    UnknownVr {
        /// The tunnel.
        name: String,
        /// The VR.
        vr: VrId,
    },
    /// A DSCP that does not fit its six bits.
    #[error("IP-in-IP tunnel {name}: DSCP {dscp} is above 63")]
    Dscp {
        /// The tunnel.
        name: String,
        /// The DSCP given.
        dscp: u8,
    },
    /// An outer address that cannot be one (unspecified, multicast, broadcast).
    #[error("IP-in-IP tunnel {name}: {addr} cannot be a tunnel end; a unicast address is")]
    Address {
        /// The tunnel.
        name: String,
        /// The address.
        addr: Ipv4Addr,
    },
    /// Nothing is installed under that key.
    #[error("no {0} is installed")]
    NotInstalled(String),
}

impl IpIpTunnel {
    /// Checks what the data plane relies on.
    pub fn check(&self) -> Result<(), IpIpError> {
        if let Some(dscp) = self.dscp.filter(|d| *d > 63) {
            return Err(IpIpError::Dscp {
                name: self.name.to_string(),
                dscp,
            });
        }
        for addr in [self.local, self.remote] {
            if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
                return Err(IpIpError::Address {
                    name: self.name.to_string(),
                    addr,
                });
            }
        }
        Ok(())
    }
}

/// The published IP-in-IP tables.
#[derive(Clone, Default)]
pub struct IpIpTable {
    /// Inbound tunnels by outer VR and remote address.
    pub inbound: PMap<IpIpInboundKey, Arc<IpIpTunnel>>,
    /// Outbound tunnels by VR and id.
    pub outbound: PMap<IpIpKey, Arc<IpIpTunnel>>,
}

impl fmt::Debug for IpIpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpIpTable")
            .field("inbound", &self.inbound.len())
            .field("outbound", &self.outbound.len())
            .finish()
    }
}

/// The writer's side of the IP-in-IP tables.
#[derive(Default)]
pub struct IpIpTableWriter {
    pub(crate) inbound: PMapWriter<IpIpInboundKey, Arc<IpIpTunnel>>,
    pub(crate) outbound: PMapWriter<IpIpKey, Arc<IpIpTunnel>>,
}

impl IpIpTableWriter {
    /// Publishes the current contents (only changed shards are copied).
    pub fn publish(&mut self) -> IpIpTable {
        IpIpTable {
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
    fn keys_pack_injectively_and_tunnels_check_their_fields() {
        let a = IpIpInboundKey::new(VrId(1), Ipv4Addr::new(192, 0, 2, 1));
        let b = IpIpInboundKey::new(VrId(2), Ipv4Addr::new(192, 0, 2, 1));
        let c = IpIpInboundKey::new(VrId(1), Ipv4Addr::new(192, 0, 2, 2));
        assert_ne!(a.pack(), b.pack());
        assert_ne!(a.pack(), c.pack());
        assert_eq!(a.to_string(), "IP-in-IP from 192.0.2.1 in vr1");
        let t = IpIpTunnel {
            name: "t".into(),
            vr: VrId(1),
            outer_vr: VrId(2),
            local: Ipv4Addr::new(198, 51, 100, 1),
            remote: Ipv4Addr::new(192, 0, 2, 1),
            dscp: Some(46),
            sources: None,
        };
        assert_eq!(t.check(), Ok(()));
        let e = IpIpTunnel {
            dscp: Some(64),
            ..t.clone()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.to_string(), "IP-in-IP tunnel t: DSCP 64 is above 63");
        let e = IpIpTunnel {
            remote: Ipv4Addr::UNSPECIFIED,
            ..t.clone()
        }
        .check()
        .unwrap_err();
        assert!(
            e.to_string().contains("0.0.0.0 cannot be a tunnel end"),
            "{e}"
        );
        assert!(IpIpTunnel {
            local: Ipv4Addr::new(224, 0, 0, 5),
            ..t
        }
        .check()
        .is_err());
    }
}
