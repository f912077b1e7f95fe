//! The validated, resolved form of a profile: names turned into indices, text into
//! addresses. Everything the appliance builder consumes; produced by
//! [`crate::profile::check::check`].

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// A resolved profile.
#[derive(Debug, Clone)]
pub struct Config {
    /// Router identifier.
    pub router_id: Ipv4Addr,
    /// CPU of the control thread.
    pub control_core: Option<usize>,
    /// CPUs of the workers; empty = one unpinned worker.
    pub worker_cores: Vec<usize>,
    /// Ports; the index is the port id.
    pub ports: Vec<PortCfg>,
    /// Virtual routers, in profile order.
    pub vrs: Vec<VrCfg>,
    /// Static neighbors.
    pub neighbors: Vec<NeighborCfg>,
    /// Static label matrix entries.
    pub label_matrix: Vec<LabelCfg>,
    /// Label allocation range.
    pub label_range: RangeInclusive<u32>,
    /// Generator flows.
    pub flows: Vec<FlowCfg>,
    /// DPDK settings (used when ports have the `dpdk` backend).
    pub dpdk: DpdkCfg,
    /// The management API, when the profile has one.
    pub management: Option<ManagementCfg>,
    /// The mobile VPN's AAA, when the profile has one (the `aaa:` section).
    pub aaa: Option<crate::aaa::AaaConfig>,
    /// VR discovery, when the profile has a `discovery:` section.
    pub discovery: Option<DiscoveryCfg>,
    /// The Mobile IPv4 agents, when the profile has a `mobile_ip:` section.
    pub mobile_ip: Option<crate::mip::MipConfig>,
    /// LDP, when the profile has an `ldp:` section.
    pub ldp: Option<crate::ldp::config::LdpCfg>,
    /// VPN peering channels, when the profile has a `vpn_peering:` section.
    pub vpn_peering: Option<VpnPeeringCfg>,
}

/// VPN peering (the profile's `vpn_peering:` section), resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnPeeringCfg {
    /// The L2TP host socket's address.
    pub listen: std::net::SocketAddr,
    /// Routers' L2TP sockets other than `router id : listen port`.
    pub reach: std::collections::BTreeMap<Ipv4Addr, std::net::SocketAddr>,
    /// The VPNs (32-bit discovery id) with their CHAP secrets.
    pub vpns: Vec<VpnPeeringVpnCfg>,
    /// Who checks CHAP responses.
    pub radius: VpnRadiusCfg,
    /// RADIUS retransmission timeout.
    pub radius_timeout: std::time::Duration,
    /// L2TP HELLO interval.
    pub hello: std::time::Duration,
    /// First L2TP retransmission interval.
    pub retransmit: std::time::Duration,
    /// L2TP retransmissions before a channel is lost.
    pub max_retransmits: u32,
    /// Hold time of a silent peer.
    pub hold: std::time::Duration,
    /// Wait before reopening a channel.
    pub reconnect: std::time::Duration,
    /// Routes accepted from one peer.
    pub max_routes_per_peer: usize,
    /// Channels over all VPNs.
    pub max_peers: usize,
    /// Static transport paths by remote router: (label or `None` for implicit null, port,
    /// next hop).
    pub transport: std::collections::BTreeMap<Ipv4Addr, (Option<u32>, usize, IpAddr)>,
}

/// One VPN of `vpn_peering.vpns`.
#[derive(Clone, PartialEq, Eq)]
pub struct VpnPeeringVpnCfg {
    /// The 32-bit VPN id (discovery's).
    pub id: u32,
    /// The CHAP secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for VpnPeeringVpnCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpnPeeringVpnCfg")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Who checks the peers' CHAP responses.
#[derive(Clone, PartialEq, Eq)]
pub enum VpnRadiusCfg {
    /// The in-process RADIUS server on this UDP address.
    InProcess(std::net::SocketAddr),
    /// An external server with its shared secret.
    External(std::net::SocketAddr, Vec<u8>),
}

impl std::fmt::Debug for VpnRadiusCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VpnRadiusCfg::InProcess(a) => write!(f, "InProcess({a})"),
            VpnRadiusCfg::External(a, _) => write!(f, "External({a}, <redacted>)"),
        }
    }
}

/// Default `vpn_peering.listen` port (L2TP, RFC 2661).
pub const VPN_PEERING_PORT: u16 = 1701;

/// VR discovery (the profile's `discovery:` section), resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryCfg {
    /// Our router id in the provider network.
    pub router_id: Ipv4Addr,
    /// The host UDP socket's address.
    pub listen: std::net::SocketAddr,
    /// The provider routers ("all routers").
    pub routers: Vec<Ipv4Addr>,
    /// Routers reached elsewhere than `router id : listen port`.
    pub reach: std::collections::BTreeMap<Ipv4Addr, std::net::SocketAddr>,
    /// The VPNs with their keys.
    pub vpns: Vec<DiscoveryVpnCfg>,
    /// First retransmission interval.
    pub rto_initial: std::time::Duration,
    /// Cap of the retransmission interval.
    pub rto_max: std::time::Duration,
    /// Transmissions before giving up.
    pub max_attempts: u32,
    /// Re-announcement period (`None`: off).
    pub refresh: Option<std::time::Duration>,
}

/// Default `discovery.listen` port (docs/protocols/vr-discovery.md §4).
pub const DISCOVERY_PORT: u16 = 61701;

/// One VPN of `discovery.vpns`.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscoveryVpnCfg {
    /// The RFC 2685 VPN id of its VRs.
    pub vpn_id: vr::VpnId,
    /// The 32-bit id on the wire.
    pub id: u32,
    /// The secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for DiscoveryVpnCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryVpnCfg")
            .field("vpn_id", &self.vpn_id)
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl DiscoveryCfg {
    /// The discovery VPN (32-bit id) of a VR's RFC 2685 VPN id, if it takes part.
    pub fn vpn_of(&self, vpn_id: vr::VpnId) -> Option<u32> {
        self.vpns.iter().find(|v| v.vpn_id == vpn_id).map(|v| v.id)
    }
}

impl VrCfg {
    /// The address a VR announces in discovery: the first IPv4 address of its interfaces,
    /// else the first IPv6 one.
    pub fn discovery_addr(&self) -> Option<IpAddr> {
        let all = || self.interfaces.iter().flat_map(|i| i.addresses.iter());
        all()
            .find(|a| a.addr.is_ipv4())
            .or_else(|| all().next())
            .map(|a| a.addr)
    }
}

/// The management API (the profile's `management:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementCfg {
    /// Listening address.
    pub listen: std::net::SocketAddr,
    /// HTTPS certificate and key files (resolved against the profile's directory).
    pub tls: Option<TlsCfg>,
    /// The carrier's own tenant (revoked VRs go back to it).
    pub owner: String,
    /// JSON-lines audit file (resolved), or none (stderr).
    pub audit_log: Option<PathBuf>,
    /// Principals.
    pub principals: Vec<PrincipalCfg>,
    /// The users' web page of the mobile VPN (seed 003 Fig. 30), when enabled.
    pub portal: Option<PortalCfg>,
}

/// The users' web page (`management.portal`): where the VPN database is, how long a login
/// lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalCfg {
    /// The VPN database: `sqlite:PATH` (resolved against the profile's directory) or a
    /// `postgres://` URL.
    pub database: String,
    /// How long a login lasts without a request (each request starts it again).
    pub idle: std::time::Duration,
}

/// Default `management.portal.idle_minutes`.
pub const DEFAULT_PORTAL_IDLE_MINUTES: u64 = 15;

/// TLS files of the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCfg {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// One API principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalCfg {
    /// Name.
    pub name: String,
    /// Role.
    pub role: crate::mgmt::scope::Role,
    /// Tenant it is limited to (tenant-admin: always; read-only: optional).
    pub tenant: Option<String>,
    /// argon2id PHC string of its token.
    pub token_hash: String,
}

/// Default `management.owner`.
pub const DEFAULT_OWNER: &str = "carrier";

/// DPDK settings of a profile (the `dpdk:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkCfg {
    /// Extra EAL arguments (`--no-huge`, `-m 512`, `--file-prefix x`, ...).
    pub eal_args: Vec<String>,
    /// Virtual devices, one `--vdev` each (`net_pcap0,rx_pcap=in.pcap`).
    pub vdevs: Vec<String>,
    /// PCI devices to use, one `-a` each (`0000:3b:00.0`); empty = the EAL's default scan.
    pub allow: Vec<String>,
    /// Rx descriptors per queue.
    pub rx_desc: u16,
    /// Tx descriptors per queue.
    pub tx_desc: u16,
    /// Minimum mbufs per socket pool (0 = sized from the queue depths only).
    pub mbufs: u32,
}

impl Default for DpdkCfg {
    fn default() -> Self {
        DpdkCfg {
            eal_args: Vec::new(),
            vdevs: Vec::new(),
            allow: Vec::new(),
            rx_desc: 1024,
            tx_desc: 1024,
            mbufs: 0,
        }
    }
}

impl Config {
    /// Size of arrays indexed by VR id (per-VR counters): the largest id + 1.
    pub fn vr_slots(&self) -> usize {
        self.vrs
            .iter()
            .map(|v| v.id as usize + 1)
            .max()
            .unwrap_or(1)
    }
}

/// Port backend and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In-process generator and sink.
    Mem,
    /// Capture files.
    Pcap {
        /// Read as received packets.
        rx: Option<PathBuf>,
        /// Sent packets are written here.
        tx: Option<PathBuf>,
    },
    /// A DPDK ethdev (cargo feature `dpdk`).
    Dpdk {
        /// Ethdev name (`net_pcap0`, a PCI address) or decimal port id.
        device: String,
    },
    /// A Linux interface through AF_PACKET rings.
    AfPacket {
        /// Interface name.
        interface: String,
    },
}

/// A port.
#[derive(Debug, Clone)]
pub struct PortCfg {
    /// Name.
    pub name: String,
    /// Backend.
    pub backend: Backend,
    /// Own MAC.
    pub mac: [u8; 6],
    /// Core-facing trunk.
    pub trunk: bool,
    /// Trunk addresses.
    pub addresses: Vec<IfAddr>,
    /// IP MTU.
    pub mtu: u32,
}

/// An interface address: the router's address and the on-link prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The router's own address.
    pub addr: IpAddr,
    /// Prefix length of the on-link subnet.
    pub len: u8,
}

impl IfAddr {
    /// True when `ip` is inside this address's subnet.
    pub fn on_link(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.len)
                };
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.len)
                };
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

/// A VR.
#[derive(Debug, Clone)]
pub struct VrCfg {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// RFC 2685 VPN id.
    pub vpn_id: vr::VpnId,
    /// Owning tenant.
    pub tenant: String,
    /// Interfaces.
    pub interfaces: Vec<IfCfg>,
    /// Static routes.
    pub routes: Vec<RouteCfg>,
    /// L2TP endpoint.
    pub l2tp: Option<L2tpCfg>,
    /// Subscriber termination (PPP, RADIUS, pools) on the LNS.
    pub ppp: Option<controlplane::subscriber::config::SubscriberConfig>,
    /// Relaying of the VR's subscribers by realm (with its PPPoE settings).
    pub relay: Option<controlplane::access::config::AccessConfig>,
    /// The VR runs a PPPoE access concentrator on its interfaces.
    pub pppoe: bool,
    /// Static ESP SAs.
    pub esp: Vec<EspSaCfg>,
}

/// A static ESP SA, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspSaCfg {
    /// Name in the VR.
    pub name: String,
    /// Inbound (we decrypt) or outbound.
    pub inbound: bool,
    /// The SA's parameters (SPI, cipher, keys, ESN, window, lifetime).
    pub params: esp::SaParams,
    /// Id of the VR the outer packets are routed in / arrive in.
    pub outer_vr: u32,
    /// Our outer address.
    pub local: IpAddr,
    /// The peer's outer address.
    pub remote: IpAddr,
    /// UDP encapsulation ports (ours, the peer's).
    pub udp: Option<(u16, u16)>,
    /// DSCP the inner packets are marked with (outbound), after the VR's marking policy.
    pub dscp: Option<u8>,
    /// Outbound: the inner source prefixes the SA takes (`None`: any).
    pub sources: Option<Vec<IpPrefix>>,
}

/// L2TP role of a VR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2tpRole {
    /// Access concentrator.
    Lac,
    /// Network server.
    Lns,
}

/// A VR's L2TP endpoint, validated.
#[derive(Debug, Clone)]
pub struct L2tpCfg {
    /// LAC or LNS.
    pub role: L2tpRole,
    /// Tunnel endpoint address (one of the VR's interface addresses).
    pub local: std::net::Ipv4Addr,
    /// Host Name AVP.
    pub hostname: String,
    /// Tunnel secret.
    pub secret: Option<String>,
    /// Hide id AVPs.
    pub hide_avps: bool,
    /// Peers (see the profile reference).
    pub peers: Vec<std::net::Ipv4Addr>,
    /// HELLO interval.
    pub hello_interval: std::time::Duration,
    /// LAC: call each LNS once its tunnel is up.
    pub autodial: bool,
    /// Max tunnels.
    pub max_tunnels: usize,
    /// Max half-open tunnels.
    pub max_half_open: usize,
    /// Max half-open tunnels per source.
    pub max_half_open_per_source: usize,
    /// Max sessions per tunnel.
    pub max_sessions_per_tunnel: usize,
    /// Max sessions of the VR.
    pub max_sessions: usize,
}

/// A VR interface.
#[derive(Debug, Clone)]
pub struct IfCfg {
    /// Port index.
    pub port: usize,
    /// VLAN.
    pub vlan: Option<u16>,
    /// Addresses.
    pub addresses: Vec<IfAddr>,
}

/// A destination prefix of either family.
pub use vr::IpPrefix;

/// A static route.
#[derive(Debug, Clone)]
pub struct RouteCfg {
    /// Destination.
    pub prefix: IpPrefix,
    /// What to do with matching packets.
    pub target: RouteTarget,
}

/// Route target.
#[derive(Debug, Clone)]
pub enum RouteTarget {
    /// Send to a next hop.
    Via {
        /// Next-hop address.
        addr: IpAddr,
        /// Port it is on-link on.
        port: usize,
        /// VLAN it is on-link on.
        vlan: Option<u16>,
        /// Labels to push, outermost first.
        push: Vec<u32>,
    },
    /// Discard.
    Blackhole,
    /// Into the outbound ESP SA of this SPI (its id in the tables).
    Esp(u32),
}

/// A static neighbor.
#[derive(Debug, Clone)]
pub struct NeighborCfg {
    /// Port index.
    pub port: usize,
    /// VLAN.
    pub vlan: Option<u16>,
    /// Address.
    pub ip: IpAddr,
    /// MAC.
    pub mac: [u8; 6],
}

/// A label matrix entry.
#[derive(Debug, Clone)]
pub struct LabelCfg {
    /// Incoming label.
    pub label: u32,
    /// Operation.
    pub op: LabelOpCfg,
}

/// Label operation.
#[derive(Debug, Clone)]
pub enum LabelOpCfg {
    /// Swap to `out` and send to `via` on trunk `port`.
    Swap {
        /// Outgoing label.
        out: u32,
        /// Port index.
        port: usize,
        /// Next hop.
        via: IpAddr,
    },
    /// Pop and route in the VR (index into `Config::vrs`).
    Pop {
        /// VR index.
        vr: usize,
    },
    /// Pop a transport label and process the label below it.
    PopNext,
    /// Pop and send to `via` on `port`.
    PopForward {
        /// Port index.
        port: usize,
        /// Next hop.
        via: IpAddr,
    },
}

/// An address range (inclusive), as integers of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrRange {
    /// IPv4 range.
    V4(u32, u32),
    /// IPv6 range.
    V6(u128, u128),
}

impl AddrRange {
    /// Number of addresses in the range (saturating).
    pub fn count(&self) -> u128 {
        match *self {
            AddrRange::V4(a, b) => u128::from(b - a) + 1,
            AddrRange::V6(a, b) => (b - a).saturating_add(1),
        }
    }
}

/// Generated frame sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSize {
    /// Every frame this many bytes (without FCS).
    Fixed(u16),
    /// Simple IMIX: 7 × 64 B, 4 × 576 B, 1 × 1500 B.
    Imix,
}

/// A generator flow.
#[derive(Debug, Clone)]
pub struct FlowCfg {
    /// Name.
    pub name: String,
    /// Ingress port index.
    pub port: usize,
    /// VLAN on generated frames.
    pub vlan: Option<u16>,
    /// Labels on generated frames, outermost first.
    pub labels: Vec<u32>,
    /// Source addresses.
    pub src: AddrRange,
    /// Destination addresses.
    pub dst: AddrRange,
    /// Sizes.
    pub size: FrameSize,
    /// Rate, or as fast as possible.
    pub rate_pps: Option<u64>,
    /// Packet budget.
    pub count: Option<u64>,
    /// Expected egress, or `None` when the flow must be dropped.
    pub expect: Option<ExpectCfg>,
}

/// Expected egress of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectCfg {
    /// Port index.
    pub port: usize,
    /// VLAN.
    pub vlan: Option<u16>,
    /// Labels, outermost first.
    pub labels: Vec<u32>,
}
