//! Settings of one VR's subscriber termination (the `ppp` section of a VR in the profile).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use vr::VrId;

use super::pool::{V4PoolConfig, V6PoolConfig};

/// An authentication protocol offered to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// PAP (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994).
    Chap,
    /// MS-CHAPv2 (RFC 2759).
    MsChapV2,
}

impl AuthMethod {
    /// The profile's name of the method.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Pap => "pap",
            AuthMethod::Chap => "chap",
            AuthMethod::MsChapV2 => "mschapv2",
        }
    }
}

/// A subscriber known to the appliance itself (used when the VR has no RADIUS servers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// User name as the subscriber sends it.
    pub name: String,
    /// Password.
    pub password: String,
    /// Fixed address, else one from the pool.
    pub address: Option<Ipv4Addr>,
}

/// A RADIUS server and its shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusServer {
    /// Address and UDP port.
    pub addr: SocketAddr,
    /// Shared secret.
    pub secret: String,
}

/// A Dynamic Authorization client (RFC 5176: the RADIUS server sending Disconnect and
/// CoA requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeClient {
    /// Its address.
    pub addr: IpAddr,
    /// Shared secret.
    pub secret: String,
}

/// RADIUS settings of a VR (each ISP's VR has its own servers and secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusSettings {
    /// Local address the client's sockets bind to (the appliance's management side).
    pub source: IpAddr,
    /// NAS-Identifier.
    pub nas_identifier: String,
    /// Authentication servers, in order of preference.
    pub servers: Vec<RadiusServer>,
    /// Accounting servers, in order of preference (none: no accounting).
    pub accounting: Vec<RadiusServer>,
    /// Seconds to wait for an answer before retransmitting.
    pub timeout: Duration,
    /// Transmissions to one server before the next is tried.
    pub retries: u32,
    /// Interim-Update interval unless RADIUS gives Acct-Interim-Interval (None: no interim
    /// updates unless RADIUS asks).
    pub interim_interval: Option<Duration>,
    /// Dynamic Authorization server: where it listens and who may send.
    pub dae: Option<(SocketAddr, Vec<DaeClient>)>,
}

/// The subscriber termination of one VR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberConfig {
    /// The VR.
    pub vr: VrId,
    /// Authentication methods offered, most preferred first.
    pub auth: Vec<AuthMethod>,
    /// Our address on every PPP link (IPCP).
    pub local_v4: Ipv4Addr,
    /// DNS servers given in IPCP (RFC 1877).
    pub dns: Vec<Ipv4Addr>,
    /// Run IPV6CP and advertise a prefix.
    pub ipv6: bool,
    /// Our MRU.
    pub mru: u16,
    /// LCP Echo-Request interval (zero: no keepalive).
    pub echo_interval: Duration,
    /// Echo-Requests without a reply before the peer is declared dead.
    pub echo_failures: u32,
    /// IPv4 pools.
    pub pools: Vec<V4PoolConfig>,
    /// IPv6 prefix pools (the first one gives each subscriber its link prefix).
    pub ipv6_pools: Vec<V6PoolConfig>,
    /// Local users (when there are no RADIUS servers).
    pub users: Vec<LocalUser>,
    /// RADIUS, if the VR uses it.
    pub radius: Option<RadiusSettings>,
}

impl SubscriberConfig {
    /// Defaults for `vr` with our link address `local_v4`: all three methods (MS-CHAPv2
    /// first), MRU 1460 (fits 1500-byte ports under IPv4/UDP/L2TP/PPP), echo every 10 s,
    /// dead after 3.
    pub fn new(vr: VrId, local_v4: Ipv4Addr) -> Self {
        SubscriberConfig {
            vr,
            auth: vec![AuthMethod::MsChapV2, AuthMethod::Chap, AuthMethod::Pap],
            local_v4,
            dns: Vec::new(),
            ipv6: false,
            mru: 1460,
            echo_interval: Duration::from_secs(10),
            echo_failures: 3,
            pools: Vec::new(),
            ipv6_pools: Vec::new(),
            users: Vec::new(),
            radius: None,
        }
    }
}
