//! The resolved `ldp:` section (checked by `profile::check::ldp`).

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::time::Duration;

use controlplane::ldp::wire::Prefix4;

/// LDP's UDP and TCP port (RFC 5036 §3.10).
pub const LDP_PORT: u16 = 646;

/// A trunk port LDP runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdpPortCfg {
    /// Port index.
    pub port: usize,
    /// Port name.
    pub name: String,
    /// Its IPv4 addresses with their prefix lengths (Hellos go out of the first).
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

/// One static core route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRouteCfg {
    /// Destination.
    pub prefix: Prefix4,
    /// Next hop, on-link on `port`.
    pub via: Ipv4Addr,
    /// Port index.
    pub port: usize,
}

/// LDP in the appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdpCfg {
    /// LSR Id.
    pub lsr_id: Ipv4Addr,
    /// Transport address.
    pub transport: Ipv4Addr,
    /// The trunk ports LDP runs on.
    pub ports: Vec<LdpPortCfg>,
    /// LDP's label block.
    pub labels: RangeInclusive<u32>,
    /// FECs originated besides the LSR Id /32.
    pub fecs: Vec<Prefix4>,
    /// Link Hello interval.
    pub hello_interval: Duration,
    /// Link Hello hold time (seconds).
    pub hold_time: u16,
    /// KeepAlive time proposed (seconds).
    pub keepalive: u16,
    /// UDP/TCP port.
    pub udp_tcp_port: u16,
    /// Static core routes.
    pub core_routes: Vec<CoreRouteCfg>,
    /// A FEC that is a peer's LSR Id / address goes via that peer.
    pub next_hop_from_peers: bool,
    /// Loop Hellos back to this host (not in the profile: tests with several speakers on
    /// one host).
    pub hello_loopback: bool,
}

impl LdpCfg {
    /// The FECs this router originates: its LSR Id /32, then `fecs`.
    pub fn own_fecs(&self) -> Vec<Prefix4> {
        let me = Prefix4::host(self.lsr_id);
        let mut v = vec![me];
        v.extend(self.fecs.iter().copied().filter(|f| *f != me));
        v
    }

    /// The LDP port whose subnet holds `ip`.
    pub fn port_on_link(&self, ip: Ipv4Addr) -> Option<usize> {
        self.ports.iter().find_map(|p| {
            p.addrs
                .iter()
                .any(|(a, len)| same_subnet(*a, ip, *len))
                .then_some(p.port)
        })
    }
}

/// Whether `a` and `b` are in one /`len`.
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    u32::from(a) & m == u32::from(b) & m
}

/// Whether `p` covers `a`.
pub fn covers(p: Prefix4, a: Ipv4Addr) -> bool {
    same_subnet(p.addr(), a, p.len())
}
