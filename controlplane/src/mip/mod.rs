//! Mobile IPv4 (RFC 5944) for the mobile VPN of seed 003 (issue 17): the wire format, the
//! authenticators, and sans-IO engines of the home agent, the foreign agent and the proxy
//! correspondent node (PCN).
//!
//! - [`wire`]: Registration Request/Reply with their extensions, the binding messages of the
//!   route optimisation draft, the ICMP Agent Advertisement, the NTP Identification.
//! - [`auth`]: MN-HA / MN-FA / FA-HA / route optimisation HMAC-MD5 and the RFC 3012 MN-AAA
//!   authenticator (one implementation, used by the mobile node side, the FA and the AAAH).
//! - [`ha`], [`fa`], [`pcn`]: the agents. Each takes datagrams (`handle_datagram`), Diameter
//!   requests/answers from the [`crate::aaa`] side and the time (`handle_timeout`), and hands
//!   back datagrams to send, Diameter messages, and [`TunnelEvent`]s for a later data-plane
//!   driver. They own no socket and read no clock.
//!
//! What is not here yet (see `docs/mobile-vpn.md`): the drivers (UDP 434, ICMP, the AAA peer
//! wiring in `varouter run`), the data-plane side of the tunnel events, the mobile lab.

pub mod auth;
pub mod fa;
pub mod ha;
pub mod mn;
pub mod pcn;
pub mod tunnel;
pub mod wire;

pub use tunnel::{TunnelEvent, TunnelKind, TunnelSpec};

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddrV4};

/// What an agent asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this Mobile IP datagram (UDP, source port 434) to `to`.
    Send {
        /// Destination address and port.
        to: SocketAddrV4,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// A Diameter request or answer for the [`crate::aaa`] driver.
    Aaa(crate::aaa::Output),
    /// A tunnel for the data-plane driver.
    Tunnel(TunnelEvent),
    /// FA, as the old FA of a smooth handoff: the visitor `home` has moved and its route
    /// now goes into the forwarding tunnel to the new FA. Send again, by that route, what
    /// was delivered to it on the link at or after `since` (when it left, as the new FA
    /// saw it; the packets put on the old link after that reached nobody). Comes before
    /// the tunnel events that take the visitor down.
    Replay {
        /// The mobile node's home address.
        home: Ipv4Addr,
        /// Since when.
        since: std::time::Instant,
    },
}

/// A mobility security association with a peer (RFC 5944 §1.6): SPI and key, HMAC-MD5.
#[derive(Clone, PartialEq, Eq)]
pub struct Sa {
    /// SPI (256 and up; 0–255 are reserved).
    pub spi: u32,
    /// Key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Sa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sa {{ spi: {}, key: <{} bytes> }}",
            self.spi,
            self.key.len()
        )
    }
}

/// The Mobile IP port of a peer agent.
pub fn agent_port(a: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(a, wire::UDP_PORT)
}

/// Whether `exts` holds an extension of a type 0–127 the agents do not understand (RFC 5944
/// §1.9: the message must then be refused).
pub fn unknown_critical(exts: &[wire::ext::Located]) -> Option<u8> {
    exts.iter().find_map(|l| match &l.ext {
        wire::Extension::Unknown { kind, .. } if *kind < 128 => Some(*kind),
        wire::Extension::Vendor {
            critical: true,
            vendor,
            vtype,
            ..
        } if *vendor != wire::ext::VENDOR_ID || *vtype != wire::ext::VENDOR_VPN_PROFILE => {
            Some(wire::ext::kind::CVSE)
        }
        _ => None,
    })
}

/// The VPN profiles carried in `exts` (CVSEs); an error for the first that does not parse.
pub fn vpn_profiles(
    exts: &[wire::ext::Located],
) -> Result<Vec<vpndb::model::VpnCacheProfile>, wire::Error> {
    exts.iter().filter_map(|l| l.ext.as_vpn_profile()).collect()
}
