//! The `ldp:` section of a profile (issue 15, docs/protocols/ldp.md §6): LDP on the trunk
//! ports, the label block it allocates from, the FECs this router originates and the minimal
//! static IGP (core routes) that gives each FEC its next hop.

use serde::Deserialize;

use super::{LabelRange, S};

/// LDP (RFC 5036) in the appliance: transport labels hop by hop into the label matrix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ldp {
    /// LSR Id (default: the profile's `router_id`). An address the host owns.
    #[serde(default)]
    pub lsr_id: Option<S<String>>,
    /// Trunk ports LDP runs on (link Hellos go out of their IPv4 addresses).
    pub ports: Vec<S<String>>,
    /// Transport address sessions use (default: the LSR Id).
    #[serde(default)]
    pub transport_address: Option<S<String>>,
    /// The label block LDP allocates its incoming labels from (disjoint from every static
    /// `label_matrix` label).
    pub labels: LabelRange,
    /// Prefixes this router originates besides its LSR Id /32.
    #[serde(default)]
    pub fecs: Vec<S<String>>,
    /// Seconds between link Hellos (default 5).
    #[serde(default)]
    pub hello_interval_s: Option<S<u64>>,
    /// Link Hello hold time, seconds (default 15).
    #[serde(default)]
    pub hold_time_s: Option<S<u64>>,
    /// KeepAlive time proposed, seconds (default 180).
    #[serde(default)]
    pub keepalive_s: Option<S<u64>>,
    /// UDP and TCP port (default 646; another one only for tests on one host).
    #[serde(default)]
    pub port: Option<S<u16>>,
    /// Static core routes: the IGP next hop of the FECs they cover (longest match wins).
    #[serde(default)]
    pub core_routes: Vec<CoreRoute>,
    /// A FEC that is a peer's LSR Id or one of its advertised addresses goes via that peer
    /// when no core route covers it (default true).
    #[serde(default)]
    pub next_hop_from_peers: Option<S<bool>>,
}

/// One static core route of `ldp.core_routes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreRoute {
    /// The destination prefix (`10.255.0.3/32`).
    pub prefix: S<String>,
    /// The next hop, on-link on `port`.
    pub via: S<String>,
    /// The trunk port it leaves by (one of `ldp.ports`).
    pub port: S<String>,
}
