//! Subscribers of a VR's LNS: PPP terminated on the control core, authenticated by the
//! VR's RADIUS servers (or local users), given addresses from the VR's pools, accounted,
//! timed out and disconnected on request (RFC 5176), and routed back into their L2TP
//! session by the workers.
//!
//! - [`config`]: the settings of one VR (the profile's `ppp` section).
//! - [`pool`]: IPv4 ranges and IPv6 prefix pools.
//! - [`manager`]: [`manager::Subscribers`], the sans-IO manager the L2TP service drives.
//!
//! Not yet: PPPoE access (the PPP engine is shared with it), L2TP tunnel switching, LAC-side
//! relaying by realm, MPPE, RADIUS-driven filters and rate limits (QoS), per-subscriber
//! IPv6 prefixes by DHCPv6-PD (the prefix is advertised in a Router Advertisement), Router
//! Solicitations (RAs are sent when IPV6CP opens and every 600 s).

pub mod config;
pub mod manager;
pub mod pool;
