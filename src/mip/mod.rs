//! The Mobile IPv4 agents of the mobile VPN (seed 003, issue 17) in `varouter run`: the
//! home agent, foreign agent and proxy correspondent node engines of
//! `controlplane::mip` hosted in VRs, as the profile's `mobile_ip:` section describes them
//! (docs/profile.md, docs/mobile-vpn.md "Mobile IPv4 agents").
//!
//! - [`service`]: [`service::MipService`], one control-core service for every agent of the
//!   profile: Mobile IP datagrams on UDP 434 (punted `local` UDP in the agent's VR, answered
//!   as packets routed in that VR; or a host socket), ICMP Agent Advertisements on the FA's
//!   access ports, the engines' timers, counters and listings.
//! - [`diameter`]: the agents' Diameter peers (FA → its AAAF: AMR/AMA; AAAH → HA: HAR/HAA)
//!   on a thread of their own, exchanging messages with the service through channels.
//! - [`datapath`]: the engines' tunnel events turned into ESP SAs and routes of the VR
//!   through the incremental state writer; what the data plane cannot carry (IP-in-IP, AH)
//!   is refused before a registration is accepted.
//! - [`view`]: the listings of bindings and tunnels for the management API and `varouter
//!   ctl mobile`.

pub mod datapath;
pub mod diameter;
pub mod esp_hold;
pub mod replay;
pub mod service;
pub mod view;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use controlplane::mip::Sa;

/// What an agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MipRole {
    /// Home agent (RFC 5944 §3.8): bindings, HAR from the AAAH.
    HomeAgent,
    /// Foreign agent (§3.7): advertisements, visitors, AMR to the AAAF.
    ForeignAgent,
    /// Proxy correspondent node: Binding Updates on behalf of the CNs it serves.
    Pcn,
}

impl MipRole {
    /// The profile's name of the role.
    pub fn name(self) -> &'static str {
        match self {
            MipRole::HomeAgent => "home_agent",
            MipRole::ForeignAgent => "foreign_agent",
            MipRole::Pcn => "pcn",
        }
    }
}

/// Where an agent's Mobile IP datagrams come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP 434 to the agent's address in its VR: punted by the data plane as `local` UDP,
    /// answered as packets routed in the VR (replies to a visiting mobile node go straight
    /// to its link address, RFC 5944 §3.7.2.3).
    Vr,
    /// A host socket (the agent address is the appliance's own on the host network; tests).
    Host(SocketAddr),
}

/// An agent's Diameter side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiameterCfg {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm (an FA's realm is its AAAF's).
    pub origin_realm: String,
    /// Where AAA nodes connect to us (the AAAH connects to its HAs).
    pub listen: Option<SocketAddr>,
    /// AAA nodes we connect to and keep connected (an FA's AAAF).
    pub peers: Vec<SocketAddr>,
}

/// A pre-provisioned ESP SA (the SLA's default SA, Fig. 24 S232: the AAA sends its SPIs and
/// no keys).
#[derive(Clone, PartialEq, Eq)]
pub struct DefaultSa {
    /// SPI.
    pub spi: u32,
    /// Cipher.
    pub cipher: esp::Cipher,
    /// Key || 4-byte salt.
    pub keymat: Vec<u8>,
}

impl std::fmt::Debug for DefaultSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DefaultSa {{ spi: {}, cipher: {}, keymat: <{} bytes> }}",
            self.spi,
            self.cipher.name(),
            self.keymat.len()
        )
    }
}

/// One agent of the `mobile_ip:` section, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCfg {
    /// Its name (listings, counters).
    pub name: String,
    /// The VR it lives in.
    pub vr: u32,
    /// The VR's name.
    pub vr_name: String,
    /// Its role.
    pub role: MipRole,
    /// Its address (HA address, care-of address, PCN address).
    pub address: Ipv4Addr,
    /// UDP 434 in the VR or a host socket.
    pub transport: Transport,
    /// Its Diameter side (FA and HA).
    pub diameter: Option<DiameterCfg>,
    /// FA: how often an Agent Advertisement goes out on each access port.
    pub advertise_interval: Duration,
    /// FA: the access ports (port, VLAN) advertisements go out on.
    pub advertise_on: Vec<(usize, Option<u16>)>,
    /// FA: challenge length, window and lifetime (RFC 3012).
    pub challenge_len: usize,
    /// FA: how many recent challenges are accepted.
    pub challenge_window: usize,
    /// FA: how old a challenge may be.
    pub challenge_lifetime: Duration,
    /// FA (VR transport): packets kept per visitor for the smooth handoff's replay (0: off).
    pub handoff_replay_packets: usize,
    /// FA: how much earlier than the new FA's time of the node's request the replay starts.
    pub handoff_replay_margin: Duration,
    /// Longest registration lifetime granted / accepted, seconds.
    pub max_lifetime: u16,
    /// Most bindings (HA), visitors (FA) or cache entries (PCN).
    pub max_entries: usize,
    /// HA: the home network (home addresses it serves; others are refused 136-free but
    /// listed as a check error for static MN-HA keys outside it).
    pub home_network: Option<(Ipv4Addr, u8)>,
    /// PCN: the CN networks it answers for.
    pub serves: Vec<(Ipv4Addr, u8)>,
    /// HA: MN-HA associations by home address.
    pub mn_ha: Vec<(Ipv4Addr, Sa)>,
    /// HA: FA-HA associations by FA address.
    pub fa_ha: Vec<(Ipv4Addr, Sa)>,
    /// Binding-message associations: FA–FA (FA), HA–PCN (HA), PCN–HA (PCN).
    pub peers: Vec<(Ipv4Addr, Sa)>,
    /// The VR the tunnels' outer packets are routed in (default: the agent's VR).
    pub outer_vr: u32,
    /// Pre-provisioned default SAs, by SPI.
    pub default_sas: Vec<DefaultSa>,
}

/// The `mobile_ip:` section, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MipConfig {
    /// The agents.
    pub agents: Vec<AgentCfg>,
}
