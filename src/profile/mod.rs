//! Deployment profiles: the YAML file that says what one varouter appliance is.
//!
//! A profile is parsed in two steps. [`load`] turns YAML into the typed, position-carrying
//! tree of this module (structural errors — YAML syntax, unknown keys, wrong types — stop
//! there, at the first one, because the parser cannot recover past them). [`check::check`]
//! then validates the meaning of the whole profile and reports *every* semantic error at
//! once, each as `file:line:col: what is wrong, what was expected`.
//!
//! The format is documented for operators in `docs/profile.md`.

pub mod check;
mod ldp;
pub mod mobile_ip;

pub use ldp::{CoreRoute, Ldp};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::fmt;
use std::path::{Path, PathBuf};

/// A value together with where it was written in the profile.
pub type S<T> = Spanned<T>;

/// The whole profile (top level of the YAML document).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Router identifier, an IPv4 address in dotted form (as OSPF/BGP router ids).
    pub router_id: S<String>,
    /// Core placement of the control thread and the forwarding workers.
    #[serde(default)]
    pub cores: Cores,
    /// Physical (or emulated) ports, in order: a port's index in this list is its port id.
    pub ports: Vec<Port>,
    /// Virtual routers hosted by this appliance.
    #[serde(default)]
    pub virtual_routers: Vec<VirtualRouter>,
    /// Static neighbor (ARP/ND) entries: next-hop address on a port → MAC.
    #[serde(default)]
    pub neighbors: Vec<Neighbor>,
    /// Static label matrix entries for labelled packets arriving on trunk ports.
    #[serde(default)]
    pub label_matrix: Vec<LabelEntry>,
    /// The label range the appliance may allocate from (static labels must lie inside it).
    #[serde(default)]
    pub labels: Option<LabelRange>,
    /// Packet generator flows for `mem` ports (demos, benchmarks, tests).
    #[serde(default)]
    pub traffic: Option<Traffic>,
    /// DPDK settings for profiles whose ports use the `dpdk` backend.
    #[serde(default)]
    pub dpdk: Option<Dpdk>,
    /// The management API (absent: no API). See docs/api.md.
    #[serde(default)]
    pub management: Option<Management>,
    /// The mobile VPN's AAA (absent: none). See docs/mobile-vpn.md.
    #[serde(default)]
    pub aaa: Option<Aaa>,
    /// VR discovery across the provider network (absent: none). See docs/profile.md and
    /// docs/protocols/vr-discovery.md.
    #[serde(default)]
    pub discovery: Option<Discovery>,
    /// The Mobile IPv4 agents (absent: none). See docs/profile.md and docs/mobile-vpn.md.
    #[serde(default)]
    pub mobile_ip: Option<mobile_ip::MobileIp>,
    /// LDP on the trunk ports (absent: none). See docs/profile.md and docs/protocols/ldp.md.
    #[serde(default)]
    pub ldp: Option<Ldp>,
    /// VPN peering channels between the VRs discovery finds (absent: none). See
    /// docs/profile.md and docs/protocols/vpn-peering.md.
    #[serde(default)]
    pub vpn_peering: Option<VpnPeering>,
}

/// VPN peering (seed 001 Figs. 5–13, issue 15): the L2TP control channels between the VRs
/// of a VPN that `discovery:` finds, their CHAP secrets, RADIUS, timers, limits and the
/// static transport paths toward the other provider routers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnPeering {
    /// `address:port` of the L2TP host socket (default `0.0.0.0:1701`).
    #[serde(default)]
    pub listen: Option<S<String>>,
    /// Where a router's L2TP socket is when not at `router id : listen port`.
    #[serde(default)]
    pub reach: Vec<DiscoveryReach>,
    /// The VPNs whose VRs open channels, with their CHAP secrets.
    pub vpns: Vec<VpnPeeringVpn>,
    /// The RADIUS server that checks the peers' CHAP responses (default: in-process on
    /// 127.0.0.1:1812).
    #[serde(default)]
    pub radius: Option<VpnPeeringRadius>,
    /// L2TP HELLO interval, seconds (default 60).
    #[serde(default)]
    pub hello_s: Option<S<u64>>,
    /// First L2TP retransmission interval, milliseconds (default 1000).
    #[serde(default)]
    pub retransmit_ms: Option<S<u64>>,
    /// L2TP retransmissions before a channel is declared lost (default 5).
    #[serde(default)]
    pub max_retransmits: Option<S<u32>>,
    /// How long a silent peer's routes are kept, seconds (default 86400).
    #[serde(default)]
    pub hold_s: Option<S<u64>>,
    /// Wait before reopening a failed channel, seconds (default 5).
    #[serde(default)]
    pub reconnect_s: Option<S<u64>>,
    /// Routes accepted from one peer (default 100000).
    #[serde(default)]
    pub max_routes_per_peer: Option<S<u64>>,
    /// Channels over all VPNs (default 4096).
    #[serde(default)]
    pub max_peers: Option<S<u64>>,
    /// Static transport paths toward provider routers, used when LDP does not run.
    #[serde(default)]
    pub transport: Vec<VpnTransport>,
}

/// One VPN of `vpn_peering.vpns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnPeeringVpn {
    /// The RFC 2685 VPN id (must be in `discovery.vpns`).
    pub vpn_id: S<String>,
    /// The VPN's CHAP secret (at least 16 bytes, not the discovery secret).
    pub secret: S<String>,
}

/// `vpn_peering.radius`: the in-process server (`listen`) or an external one (`server`,
/// `secret`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnPeeringRadius {
    /// The in-process server's UDP socket (default 127.0.0.1:1812).
    #[serde(default)]
    pub listen: Option<S<String>>,
    /// An external server (`address:port`), e.g. FreeRADIUS.
    #[serde(default)]
    pub server: Option<S<String>>,
    /// The shared secret with the external server.
    #[serde(default)]
    pub secret: Option<S<String>>,
    /// Wait for an answer before retransmitting, milliseconds (default 3000).
    #[serde(default)]
    pub timeout_ms: Option<S<u64>>,
}

/// One static transport path: push `label` (3 = implicit null: push nothing) out of trunk
/// `port` toward `via` for routes learnt from `router`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnTransport {
    /// The remote provider router id.
    pub router: S<String>,
    /// The transport label (3 = implicit null).
    pub label: S<u32>,
    /// The trunk port.
    pub port: S<String>,
    /// The next hop on the trunk.
    pub via: S<String>,
}

/// VR discovery (seed 001 Fig. 7, issue 15): which provider routers to announce this
/// appliance's VRs to, on which host socket, with which per-VPN keys and timers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// Our router id in the provider network (default: the profile's `router_id`).
    #[serde(default)]
    pub router_id: Option<S<String>>,
    /// `address:port` of the host UDP socket (default `0.0.0.0:61701`).
    #[serde(default)]
    pub listen: Option<S<String>>,
    /// The provider routers additions go to ("all routers"), by router id.
    pub routers: Vec<S<String>>,
    /// Where a router is reached when not at `router id : listen port` (labs, tests).
    #[serde(default)]
    pub reach: Vec<DiscoveryReach>,
    /// The VPNs whose VRs this router announces and learns, with their keys.
    pub vpns: Vec<DiscoveryVpn>,
    /// First retransmission interval, milliseconds (default 1000).
    #[serde(default)]
    pub rto_initial_ms: Option<S<u64>>,
    /// Cap of the doubling retransmission interval, milliseconds (default 16000).
    #[serde(default)]
    pub rto_max_ms: Option<S<u64>>,
    /// Transmissions of one addition or withdrawal before giving up (default 6).
    #[serde(default)]
    pub max_attempts: Option<S<u32>>,
    /// Re-announcement period, seconds (default 300; 0 disables it).
    #[serde(default)]
    pub refresh_s: Option<S<u64>>,
}

/// A provider router's discovery address other than `router id : port`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryReach {
    /// Its router id.
    pub router: S<String>,
    /// Where its discovery socket is (`address:port`).
    pub address: S<String>,
}

/// One VPN of `discovery.vpns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryVpn {
    /// The RFC 2685 VPN id of its VRs (`virtual_routers[].vpn_id`): a VR with this id
    /// is announced.
    pub vpn_id: S<String>,
    /// The 32-bit VPN id on the wire (default: the index part of `vpn_id`); the same on
    /// every router.
    #[serde(default)]
    pub id: Option<S<u32>>,
    /// The VPN's discovery secret, at least 16 bytes; the same on every router of the VPN.
    pub secret: S<String>,
}

/// The mobile VPN's AAA (seed 003): a home AAA (AAAH) with its VPN database, or a foreign
/// AAA (AAAF), speaking Diameter (RFC 6733, RFC 4004) over TCP on its own thread.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aaa {
    /// `home` (AAAH) or `foreign` (AAAF).
    pub role: S<String>,
    /// `address:port` FAs, AAAFs and HAs connect to (`0.0.0.0:3868`).
    pub listen: S<String>,
    /// Our Diameter identity (Origin-Host), a host name.
    pub origin_host: S<String>,
    /// Our realm (Origin-Realm); an AAAH serves the users of this realm.
    pub origin_realm: S<String>,
    /// Peers we connect to and keep connected (`address:port`): the home agents for an
    /// AAAH, the home AAA for an AAAF.
    #[serde(default)]
    pub peers: Vec<S<String>>,
    /// The VPN database of an AAAH: `sqlite:PATH` (relative to the profile), a bare path
    /// (SQLite) or `postgres://USER@HOST:PORT/DB`.
    #[serde(default)]
    pub database: Option<S<String>>,
    /// AAAH: file (YAML or JSON, relative to the profile) mapping each NAI to its MN-AAA
    /// key in hexadecimal.
    #[serde(default)]
    pub mn_aaa_keys: Option<S<String>>,
    /// AAAH: refuse users without an MN-AAA key (default true).
    #[serde(default)]
    pub require_mn_aaa_auth: Option<S<bool>>,
    /// AAAH: the home agent's Diameter identity (Destination-Host of the HAR).
    #[serde(default)]
    pub ha_host: Option<S<String>>,
    /// AAAH: write sessions into the database's `vpn_session` table (default true).
    #[serde(default)]
    pub record_sessions: Option<S<bool>>,
    /// AAAH: authorize a user whose record grants no VPN for plain Mobile IP (default
    /// false: such a user is refused, 5003).
    #[serde(default)]
    pub plain_mobile_ip: Option<S<bool>>,
    /// AAAH: Authorization-Lifetime granted, seconds (default 3600).
    #[serde(default)]
    pub authorization_lifetime: Option<S<u32>>,
    /// How long a transaction may take, milliseconds (default 10000).
    #[serde(default)]
    pub transaction_timeout_ms: Option<S<u64>>,
    /// Most transactions in progress (default 4096).
    #[serde(default)]
    pub max_transactions: Option<S<u32>>,
    /// Most sessions (AAAH) or cache entries (AAAF) (default 100000).
    #[serde(default)]
    pub max_sessions: Option<S<u32>>,
}

/// The management API: where it listens, TLS, its principals and the audit log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Management {
    /// `address:port` to listen on (`127.0.0.1:8443`).
    pub listen: S<String>,
    /// Certificate and key (PEM) for HTTPS; absent = plain HTTP.
    #[serde(default)]
    pub tls: Option<ManagementTls>,
    /// The carrier's own tenant name: revoked VRs go back to it (default `carrier`).
    #[serde(default)]
    pub owner: Option<S<String>>,
    /// JSON-lines audit file, relative to the profile (absent: one line on stderr each).
    #[serde(default)]
    pub audit_log: Option<S<String>>,
    /// Who may use the API.
    #[serde(default)]
    pub principals: Vec<Principal>,
    /// The users' web page of the mobile VPN (seed 003 Fig. 30) under `/portal/` (absent: not
    /// served).
    #[serde(default)]
    pub portal: Option<Portal>,
}

/// The users' web page (`management.portal`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// The VPN database: `sqlite:PATH` (relative to the profile) or `postgres://...`.
    pub database: S<String>,
    /// Minutes a login lasts without a request (1-1440, default 15).
    #[serde(default)]
    pub idle_minutes: Option<S<u64>>,
}

/// TLS files of the management API (relative to the profile).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementTls {
    /// Certificate chain (PEM).
    pub cert: S<String>,
    /// Private key (PEM).
    pub key: S<String>,
}

/// One API principal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Unique name (shown in the audit log).
    pub name: S<String>,
    /// `carrier-admin`, `tenant-admin` or `read-only`.
    pub role: S<String>,
    /// The tenant whose VRs it sees (required for `tenant-admin`; absent = all for
    /// `read-only`).
    #[serde(default)]
    pub tenant: Option<S<String>>,
    /// argon2id PHC string of its token (`varouter hash-token` prints one).
    pub token_hash: S<String>,
}

/// DPDK settings. The EAL core list is derived from `cores` (lcore 0 = the control core,
/// lcore *i* = worker *i*), so core options are not accepted in `eal_args`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dpdk {
    /// Extra EAL arguments, e.g. `[--no-huge, --no-pci, -m, "512"]` or
    /// `[--file-prefix, edge1, --socket-mem, "2048,2048"]`.
    #[serde(default)]
    pub eal_args: Vec<S<String>>,
    /// Virtual devices (`net_null0`, `net_ring0`, `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`,
    /// `net_tap0,iface=vr0`, `net_memif0,role=server`), one `--vdev` each.
    #[serde(default)]
    pub vdevs: Vec<S<String>>,
    /// PCI devices to use (`0000:3b:00.0`), one `-a` each; absent = every bound device.
    #[serde(default)]
    pub allow: Vec<S<String>>,
    /// Rx descriptors per queue (power of two, 64..=8192; default 1024).
    #[serde(default)]
    pub rx_desc: Option<S<u16>>,
    /// Tx descriptors per queue (power of two, 64..=8192; default 1024).
    #[serde(default)]
    pub tx_desc: Option<S<u16>>,
    /// Mbufs per socket pool, when more are needed than the queue depths call for
    /// (e.g. `net_pcap` with `infinite_rx=1` holds its whole capture in mbufs).
    #[serde(default)]
    pub mbufs: Option<S<u32>>,
}

/// Where threads run. Without `workers`, one unpinned worker is started.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cores {
    /// CPU the control thread is pinned to.
    #[serde(default)]
    pub control: Option<S<usize>>,
    /// CPUs the forwarding workers are pinned to, one worker per entry.
    #[serde(default)]
    pub workers: Vec<S<usize>>,
}

/// One port and its backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Unique port name, used by interfaces, routes and neighbors.
    pub name: S<String>,
    /// Backend: `mem` (in-process generator and sink) or `pcap` (capture files).
    pub backend: S<String>,
    /// The port's own MAC address (`02:00:00:00:00:01`).
    pub mac: S<String>,
    /// A trunk port faces the provider core: it carries labelled traffic and is bound to
    /// no VR. Customer-facing ports are bound to VRs through `virtual_routers[].interfaces`.
    #[serde(default)]
    pub trunk: Option<S<bool>>,
    /// Core-facing addresses of a trunk port (`192.0.2.1/30`); next hops of labelled routes
    /// must lie in one of these subnets.
    #[serde(default)]
    pub addresses: Vec<S<String>>,
    /// Largest IP packet (bytes) the port sends; default 1500.
    #[serde(default)]
    pub mtu: Option<S<u32>>,
    /// `pcap` backend: capture file read as received packets.
    #[serde(default)]
    pub rx: Option<S<String>>,
    /// `pcap` backend: capture file the sent packets are written to.
    #[serde(default)]
    pub tx: Option<S<String>>,
    /// `dpdk` backend: the ethdev — a vdev name from `dpdk.vdevs` (`net_pcap0`), a PCI
    /// address (`0000:3b:00.0`) or a DPDK port id (`"0"`).
    #[serde(default)]
    pub device: Option<S<String>>,
    /// `af_packet` backend: the Linux interface to bind (`eth1`, a veth end); its MTU is
    /// the port's MTU.
    #[serde(default)]
    pub interface: Option<S<String>>,
}

/// A virtual router: one VPN customer on this appliance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualRouter {
    /// Numeric id, unique, 1..=65535.
    pub id: S<u32>,
    /// Unique name (used in logs, stats and references).
    pub name: S<String>,
    /// VPN identifier in RFC 2685 form, `OUI:index` in hex (`00a0c9:00000001`).
    pub vpn_id: S<String>,
    /// The tenant (carrier or customer account) that owns this VR.
    pub tenant: S<String>,
    /// Customer-facing interfaces bound to this VR.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Static routes of this VR.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The VR's L2TP endpoint (LAC or LNS), if it runs one.
    #[serde(default)]
    pub l2tp: Option<L2tp>,
    /// Subscriber termination on the VR's LNS: PPP, RADIUS, address pools.
    #[serde(default)]
    pub ppp: Option<Ppp>,
    /// PPPoE access concentrator on the VR's interfaces (docs/access.md).
    #[serde(default)]
    pub pppoe: Option<Pppoe>,
    /// Where the VR's subscribers go, by realm: its PPPoE sessions and the sessions of its
    /// L2TP LNS (tunnel switching) are relayed to ISPs' LNSs (docs/access.md).
    #[serde(default)]
    pub relay: Option<Relay>,
    /// IPsec ESP tunnels carrying the VR's traffic, and its DiffServ marking
    /// (docs/esp.md).
    #[serde(default)]
    pub esp: Option<Esp>,
}

/// A VR's ESP tunnels (RFC 4303 tunnel mode, static keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Esp {
    /// The VR (by name) the outer packets are routed in and arrive in (default: this VR).
    #[serde(default)]
    pub outer_vr: Option<S<String>>,
    /// DiffServ marking of the VR's tunnelled traffic.
    #[serde(default)]
    pub marking: Option<Marking>,
    /// Security associations.
    #[serde(default)]
    pub sas: Vec<EspSa>,
}

/// DiffServ marking per VPN (seed 003): one DSCP for all the VR's tunnelled traffic, or
/// one per class (an SA says its class).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marking {
    /// DSCP (0..=63) for SAs without a class.
    #[serde(default)]
    pub dscp: Option<S<u8>>,
    /// DSCP of the `up` class.
    #[serde(default)]
    pub up: Option<S<u8>>,
    /// DSCP of the `down` class.
    #[serde(default)]
    pub down: Option<S<u8>>,
}

/// One static security association.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspSa {
    /// Name, unique in the VR (routes name outbound SAs: `esp: NAME`).
    pub name: S<String>,
    /// `in` (we decrypt) or `out` (we encrypt).
    pub direction: S<String>,
    /// Security Parameters Index, 256..=4294967295; an inbound SPI is unique per outer VR,
    /// an outbound one per VR.
    pub spi: S<u32>,
    /// `aes-gcm-128`, `aes-gcm-256` or `chacha20-poly1305`.
    pub cipher: S<String>,
    /// Key followed by the 4-byte salt, in hex (40 hex digits for AES-GCM-128, 72 for the
    /// others).
    pub key: S<String>,
    /// Our outer address: one of the outer VR's interface addresses.
    pub local: S<String>,
    /// The peer's outer address.
    pub remote: S<String>,
    /// UDP encapsulation (RFC 3948).
    #[serde(default)]
    pub udp: Option<EspUdp>,
    /// Extended sequence numbers (RFC 4304; default false).
    #[serde(default)]
    pub esn: Option<S<bool>>,
    /// Replay window in packets (inbound; default 1024, 64..=65536).
    #[serde(default)]
    pub replay_window: Option<S<u32>>,
    /// Lifetime limits.
    #[serde(default)]
    pub lifetime: Option<EspLifetime>,
    /// Outbound: DSCP (0..=63) to mark the inner packets with (overrides `marking`).
    #[serde(default)]
    pub dscp: Option<S<u8>>,
    /// Outbound: the marking class, `up` or `down`.
    #[serde(default)]
    pub class: Option<S<String>>,
    /// Outbound: the inner source prefixes the SA takes (RFC 4301 source selector); packets
    /// of other sources routed into it are dropped. Default: any source.
    #[serde(default)]
    pub sources: Option<Vec<S<String>>>,
}

/// UDP encapsulation ports.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspUdp {
    /// Our port (default 4500).
    #[serde(default)]
    pub local_port: Option<S<u16>>,
    /// The peer's port (default 4500).
    #[serde(default)]
    pub remote_port: Option<S<u16>>,
}

/// Soft and hard limits of an SA.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspLifetime {
    /// Bytes after which the SA is reported for replacement.
    #[serde(default)]
    pub soft_bytes: Option<S<u64>>,
    /// Bytes after which the SA is removed.
    #[serde(default)]
    pub hard_bytes: Option<S<u64>>,
    /// Seconds after which the SA is reported for replacement.
    #[serde(default)]
    pub soft_seconds: Option<S<u64>>,
    /// Seconds after which the SA is removed.
    #[serde(default)]
    pub hard_seconds: Option<S<u64>>,
}

/// PPPoE access (RFC 2516) on a VR's interfaces, and where its subscribers go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pppoe {
    /// AC-Name in PADO/PADS (default `varouter`).
    #[serde(default)]
    pub ac_name: Option<S<String>>,
    /// Service-Names offered (empty: any requested name is accepted).
    #[serde(default)]
    pub service_names: Vec<S<String>>,
    /// Sessions per interface (default 64000, at most 65534).
    #[serde(default)]
    pub max_sessions: Option<S<u32>>,
    /// Sessions per subscriber MAC (default 4).
    #[serde(default)]
    pub max_sessions_per_mac: Option<S<u32>>,
    /// PADIs per second per subscriber MAC (default 10; 0 = no limit).
    #[serde(default)]
    pub padi_per_mac_per_sec: Option<S<u32>>,
    /// RFC 4638 PPP-Max-Payload cap (default 1492 = RFC 4638 not offered).
    #[serde(default)]
    pub max_payload: Option<S<u16>>,
}

/// Relaying a VR's subscribers to their ISPs by realm.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// Authentication asked of subscribers: `chap`, `pap` (default both, CHAP first).
    #[serde(default)]
    pub auth: Vec<S<String>>,
    /// CHAP name in our challenges (default `varouter`).
    #[serde(default)]
    pub chap_name: Option<S<String>>,
    /// Realm → VR (an L2TP LAC) that tunnels the realm's subscribers to its LNS.
    #[serde(default)]
    pub realms: Vec<RelayRealm>,
    /// The VR that takes user names of no listed realm (absent: they are refused).
    #[serde(default)]
    pub default_vr: Option<S<String>>,
    /// RADIUS servers that authorise each subscriber before the call and may choose its
    /// tunnel (RFC 2868 tunnel attributes).
    #[serde(default)]
    pub radius: Option<RelayRadius>,
}

/// The RADIUS client of a relaying VR: `ppp.radius` without accounting or Dynamic
/// Authorization (the ISP's LNS accounts for relayed subscribers).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayRadius {
    /// Local address the appliance's RADIUS sockets bind to.
    pub source: S<String>,
    /// NAS-Identifier (default: the VR's name).
    #[serde(default)]
    pub nas_identifier: Option<S<String>>,
    /// Authentication servers, in order.
    pub servers: Vec<RadiusServer>,
    /// Seconds before a retransmission (default 3).
    #[serde(default)]
    pub timeout: Option<S<u64>>,
    /// Transmissions per server before failing over (default 3).
    #[serde(default)]
    pub retries: Option<S<u32>>,
}

/// One realm's route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayRealm {
    /// The realm (`isp-a.example` for `alice@isp-a.example`).
    pub realm: S<String>,
    /// The VR (by name) whose L2TP LAC takes the subscribers.
    pub vr: S<String>,
    /// The LNS to call (default: the VR's first L2TP peer).
    #[serde(default)]
    pub lns: Option<S<String>>,
}

/// PPP termination of the subscribers of a VR's LNS (see docs/bng.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ppp {
    /// Authentication methods offered, most preferred first: `mschapv2`, `chap`, `pap`.
    #[serde(default)]
    pub auth: Vec<S<String>>,
    /// Our IPv4 address on every subscriber link (IPCP).
    pub address: S<String>,
    /// DNS servers handed out in IPCP (at most two).
    #[serde(default)]
    pub dns: Vec<S<String>>,
    /// Negotiate IPV6CP and advertise each subscriber its prefix (needs `ipv6_pools`).
    #[serde(default)]
    pub ipv6: Option<S<bool>>,
    /// Our MRU (default 1460).
    #[serde(default)]
    pub mru: Option<S<u16>>,
    /// LCP keepalive.
    #[serde(default)]
    pub keepalive: Option<PppKeepalive>,
    /// IPv4 address pools.
    #[serde(default)]
    pub pools: Vec<PppPool>,
    /// IPv6 prefix pools.
    #[serde(default)]
    pub ipv6_pools: Vec<PppV6Pool>,
    /// Local users (only without `radius`).
    #[serde(default)]
    pub users: Vec<PppUser>,
    /// The VR's RADIUS servers.
    #[serde(default)]
    pub radius: Option<Radius>,
}

/// LCP Echo keepalive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppKeepalive {
    /// Seconds between Echo-Requests (0 = off; default 10).
    #[serde(default)]
    pub interval: Option<S<u64>>,
    /// Unanswered Echo-Requests before the link is declared dead (default 3).
    #[serde(default)]
    pub failures: Option<S<u32>>,
}

/// An IPv4 pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppPool {
    /// Name (RADIUS `Framed-Pool`).
    pub name: S<String>,
    /// Ranges `first-last` or prefixes `a.b.c.d/len`.
    pub ranges: Vec<S<String>>,
}

/// An IPv6 prefix pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppV6Pool {
    /// Name.
    pub name: S<String>,
    /// The prefix subscribers' prefixes are carved from.
    pub prefix: S<String>,
    /// Length of each subscriber's prefix (default 64).
    #[serde(default)]
    pub length: Option<S<u8>>,
}

/// A local user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppUser {
    /// User name.
    pub name: S<String>,
    /// Password.
    pub password: S<String>,
    /// Fixed IPv4 address (else from the first pool).
    #[serde(default)]
    pub address: Option<S<String>>,
}

/// RADIUS settings of a VR.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radius {
    /// Local address the appliance's RADIUS sockets bind to.
    pub source: S<String>,
    /// NAS-Identifier (default: the VR's name).
    #[serde(default)]
    pub nas_identifier: Option<S<String>>,
    /// Authentication servers, in order.
    pub servers: Vec<RadiusServer>,
    /// Accounting servers, in order.
    #[serde(default)]
    pub accounting: Vec<RadiusServer>,
    /// Seconds before a retransmission (default 3).
    #[serde(default)]
    pub timeout: Option<S<u64>>,
    /// Transmissions per server before failing over (default 3).
    #[serde(default)]
    pub retries: Option<S<u32>>,
    /// Interim-Update interval in seconds (default: only when RADIUS asks).
    #[serde(default)]
    pub interim_interval: Option<S<u64>>,
    /// Dynamic Authorization (RFC 5176) server.
    #[serde(default)]
    pub dynamic_authorization: Option<RadiusDae>,
}

/// A RADIUS server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusServer {
    /// `address:port`.
    pub address: S<String>,
    /// Shared secret.
    pub secret: S<String>,
}

/// The Dynamic Authorization server of a VR.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusDae {
    /// `address:port` to listen on (port 3799 by RFC 5176).
    pub listen: S<String>,
    /// Who may send Disconnect / CoA requests.
    pub clients: Vec<RadiusDaeClient>,
}

/// A Dynamic Authorization client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusDaeClient {
    /// Its address.
    pub address: S<String>,
    /// Shared secret.
    pub secret: S<String>,
}

/// A VR interface: a port, or a VLAN on a port, with the VR's addresses on it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Port name.
    pub port: S<String>,
    /// 802.1Q VLAN id (1..=4094); absent = untagged.
    #[serde(default)]
    pub vlan: Option<S<u16>>,
    /// The VR's addresses on this interface, with prefix length (`10.1.0.1/24`, `fd00::1/64`).
    #[serde(default)]
    pub addresses: Vec<S<String>>,
}

/// A static route in a VR.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination prefix (`10.2.0.0/16`, `fd00:2::/48`).
    pub prefix: S<String>,
    /// Next-hop address; must be on-link on one of the VR's interfaces or, for labelled
    /// routes, on a trunk port's subnet.
    #[serde(default)]
    pub via: Option<S<String>>,
    /// Labels to push, outermost first (`[transport, vpn]`).
    #[serde(default)]
    pub push: Vec<S<u32>>,
    /// Discard matching packets (counted as `blackhole`).
    #[serde(default)]
    pub blackhole: Option<S<bool>>,
    /// Send into the VR's outbound ESP SA of this name.
    #[serde(default)]
    pub esp: Option<S<String>>,
}

/// A static neighbor entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    /// Port name.
    pub port: S<String>,
    /// VLAN id, when the neighbor sits on a VLAN of the port.
    #[serde(default)]
    pub vlan: Option<S<u16>>,
    /// Neighbor IP address.
    pub ip: S<String>,
    /// Neighbor MAC address.
    pub mac: S<String>,
}

/// A static label matrix entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelEntry {
    /// Incoming label (16..=1048575).
    pub label: S<u32>,
    /// `swap` (replace the top label and send to `via` on `port`), `pop` (remove the label
    /// and route the packet in `vr`), `pop-next` (remove a transport label and process the
    /// label below it), or `pop-forward` (remove the label and send to `via`).
    pub action: S<String>,
    /// `swap`: the outgoing label.
    #[serde(default)]
    pub out_label: Option<S<u32>>,
    /// `swap`, `pop-forward`: the trunk port to send on.
    #[serde(default)]
    pub port: Option<S<String>>,
    /// `swap`, `pop-forward`: next-hop address on that port (resolved by `neighbors`).
    #[serde(default)]
    pub via: Option<S<String>>,
    /// `pop`: the VR (by name) that routes the packet after the pop.
    #[serde(default)]
    pub vr: Option<S<String>>,
}

/// Dynamic label allocation range.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRange {
    /// First label of the range (≥ 16).
    pub min: S<u32>,
    /// Last label of the range (≤ 1048575).
    pub max: S<u32>,
}

/// Generator traffic for `mem` ports.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// The flows; each is generated on its ingress port and counted where it leaves.
    pub flows: Vec<Flow>,
}

/// One generated flow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Unique flow name.
    pub name: S<String>,
    /// Ingress `mem` port.
    pub port: S<String>,
    /// VLAN tag to put on generated frames.
    #[serde(default)]
    pub vlan: Option<S<u16>>,
    /// Labels to put on generated frames (for traffic arriving from the core).
    #[serde(default)]
    pub labels: Vec<S<u32>>,
    /// Source address or range (`10.1.0.10`, `10.1.0.10-10.1.0.200`).
    pub src: S<String>,
    /// Destination address or range.
    pub dst: S<String>,
    /// Frame size in bytes without FCS (60..=1514 with no VLAN/labels), or `imix`
    /// (7:4:1 of 64, 576, 1500 bytes). Default 64.
    #[serde(default)]
    pub size: Option<S<String>>,
    /// Packets per second; absent = as fast as possible.
    #[serde(default)]
    pub rate_pps: Option<S<u64>>,
    /// Stop after this many packets; absent = until the run ends.
    #[serde(default)]
    pub count: Option<S<u64>>,
    /// Where the flow must come out; absent = it must be dropped (any delivery is a leak).
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// Expected egress of a flow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Egress port.
    pub port: S<String>,
    /// Egress VLAN.
    #[serde(default)]
    pub vlan: Option<S<u16>>,
    /// Egress label stack, outermost first.
    #[serde(default)]
    pub labels: Vec<S<u32>>,
}

/// One problem in a profile, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The profile file.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ProfileError {}

impl ProfileError {
    /// An error at a YAML location.
    pub fn at(file: &Path, loc: Location, message: impl Into<String>) -> Self {
        ProfileError {
            file: file.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }
}

/// Reads and parses a profile file (structure only; see [`check::check`] for meaning).
pub fn load(path: &Path) -> Result<Profile, Vec<ProfileError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ProfileError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read profile: {e}"),
        }]
    })?;
    parse(path, &text)
}

/// Parses profile text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Profile, Vec<ProfileError>> {
    parse_part(path, text)
}

/// Parses one part of a profile (a route, …) from its own YAML text, with the same
/// messages [`parse`] gives for it inside a whole profile (positions are in `text`).
pub fn parse_part<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, Vec<ProfileError>> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        vec![ProfileError {
            file: path.to_path_buf(),
            line,
            column,
            message: first_line(&e.to_string()),
        }]
    })
}

/// serde-saphyr's message may carry a source snippet after the first line; the operator
/// gets our own `file:line:col:` prefix instead.
fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("").trim();
    let l = l.strip_prefix("error: ").unwrap_or(l);
    // Drop the parser's own "line N column M: " prefix; ours is in front already.
    match l.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, rest)) if pos.contains(" column ") => rest.to_string(),
        _ => l.to_string(),
    }
}

/// A VR's L2TP endpoint (RFC 2661): one LAC or LNS per VR.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2tp {
    /// `lac` or `lns`; can be switched at run time (existing tunnels are drained).
    pub role: S<String>,
    /// The tunnel endpoint address: one of the VR's interface addresses.
    pub local: S<String>,
    /// Host Name AVP sent to peers.
    pub hostname: S<String>,
    /// Tunnel shared secret: enables challenge/response both ways and hidden AVPs.
    #[serde(default)]
    pub secret: Option<S<String>>,
    /// Hide the id AVPs (needs `secret`).
    #[serde(default)]
    pub hide_avps: Option<S<bool>>,
    /// LAC: the LNSs to open tunnels to. LNS: the LACs allowed to connect (empty = any).
    #[serde(default)]
    pub peers: Vec<S<String>>,
    /// Seconds of idle before a HELLO (default 60).
    #[serde(default)]
    pub hello_interval: Option<S<u64>>,
    /// LAC: place one call to each LNS as soon as its tunnel is up (as xl2tpd's `autodial`).
    #[serde(default)]
    pub autodial: Option<S<bool>>,
    /// Resource limits (defaults in docs/profile.md).
    #[serde(default)]
    pub limits: Option<L2tpLimits>,
}

/// Limits of one VR's L2TP endpoint; each refusal is counted with its reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2tpLimits {
    /// Tunnels in any state.
    #[serde(default)]
    pub max_tunnels: Option<S<usize>>,
    /// Tunnels not yet established (bounds an SCCRQ flood).
    #[serde(default)]
    pub max_half_open: Option<S<usize>>,
    /// Peer-initiated half-open tunnels per source address.
    #[serde(default)]
    pub max_half_open_per_source: Option<S<usize>>,
    /// Sessions in one tunnel.
    #[serde(default)]
    pub max_sessions_per_tunnel: Option<S<usize>>,
    /// Sessions of this VR.
    #[serde(default)]
    pub max_sessions: Option<S<usize>>,
}
