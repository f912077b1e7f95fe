//! The `mobile_ip:` section of a profile: the Mobile IPv4 agents (home agent, foreign
//! agent, proxy correspondent node) hosted in the appliance's VRs (docs/profile.md,
//! docs/mobile-vpn.md). Checked by `check/mobile_ip.rs` into [`crate::mip::MipConfig`].

use serde::Deserialize;

use super::S;

/// The section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileIp {
    /// The agents.
    pub agents: Vec<MipAgent>,
}

/// One agent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipAgent {
    /// Unique name (listings, counters).
    pub name: S<String>,
    /// The VR it lives in (by name).
    pub vr: S<String>,
    /// `home_agent`, `foreign_agent` or `pcn`.
    pub role: S<String>,
    /// Its address: one of the VR's interface addresses (`transport: vr`).
    pub address: S<String>,
    /// `vr` (default: UDP 434 in the VR) or `host` (a host socket at `listen`).
    #[serde(default)]
    pub transport: Option<S<String>>,
    /// `transport: host`: the host socket's `address:port`.
    #[serde(default)]
    pub listen: Option<S<String>>,
    /// The agent's Diameter side (FA: required; HA: to take HARs).
    #[serde(default)]
    pub diameter: Option<MipDiameter>,
    /// FA: Agent Advertisements.
    #[serde(default)]
    pub advertise: Option<MipAdvertise>,
    /// FA: the RFC 3012 challenge.
    #[serde(default)]
    pub challenge: Option<MipChallenge>,
    /// FA: the smooth handoff's replay of what a moved visitor missed on the old link.
    #[serde(default)]
    pub handoff: Option<MipHandoff>,
    /// Longest registration lifetime, seconds (default 600).
    #[serde(default)]
    pub max_lifetime: Option<S<u16>>,
    /// HA: most bindings (default 100000).
    #[serde(default)]
    pub max_bindings: Option<S<u32>>,
    /// FA: most visitors (default 100000).
    #[serde(default)]
    pub max_visitors: Option<S<u32>>,
    /// PCN: most cache entries (default 100000).
    #[serde(default)]
    pub max_entries: Option<S<u32>>,
    /// HA: the home network (`10.200.0.0/16`).
    #[serde(default)]
    pub home_network: Option<S<String>>,
    /// PCN: the CN networks it answers for.
    #[serde(default)]
    pub serves: Vec<S<String>>,
    /// HA: static MN-HA associations.
    #[serde(default)]
    pub mn_ha: Vec<MipSa>,
    /// HA: static FA-HA associations.
    #[serde(default)]
    pub fa_ha: Vec<MipSa>,
    /// Binding-message associations: FA–FA (FA), HA–PCN (HA), PCN–HA (PCN).
    #[serde(default)]
    pub peers: Vec<MipSa>,
    /// ESP of the agent's tunnels.
    #[serde(default)]
    pub esp: Option<MipEsp>,
}

/// An agent's Diameter identity and peers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipDiameter {
    /// Origin-Host.
    pub origin_host: S<String>,
    /// Origin-Realm.
    pub origin_realm: S<String>,
    /// `address:port` AAA nodes connect to (an HA's AAAH).
    #[serde(default)]
    pub listen: Option<S<String>>,
    /// AAA nodes we connect to (an FA's AAAF), `address:port`.
    #[serde(default)]
    pub peers: Vec<S<String>>,
}

/// FA advertisements.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipAdvertise {
    /// Interval, milliseconds (default 1000).
    #[serde(default)]
    pub interval_ms: Option<S<u64>>,
    /// The ports (of the VR's interfaces) to advertise on.
    pub ports: Vec<S<String>>,
}

/// The FA's smooth handoff (`docs/mobile-vpn.md`, "Smooth handoff without loss").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipHandoff {
    /// Packets kept per visitor for a replay into the forwarding tunnel (0: off; default
    /// 64, at most 4096).
    #[serde(default)]
    pub replay_packets: Option<S<u32>>,
    /// How much earlier than the new FA's time of the node's request the replay starts,
    /// milliseconds (default 10, at most 1000).
    #[serde(default)]
    pub replay_margin_ms: Option<S<u64>>,
}

/// The FA's challenge.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipChallenge {
    /// Bytes (4–255, default 16).
    #[serde(default)]
    pub length: Option<S<u32>>,
    /// Recent challenges accepted (1–64, default 4).
    #[serde(default)]
    pub window: Option<S<u32>>,
    /// Age limit, seconds (default 10).
    #[serde(default)]
    pub lifetime_s: Option<S<u64>>,
}

/// A mobility security association with a peer (HMAC-MD5).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipSa {
    /// The peer: a home address (mn_ha), an FA (fa_ha, FA peers), a PCN or an HA.
    pub peer: S<String>,
    /// SPI (256 and up).
    pub spi: S<u32>,
    /// Key, hexadecimal.
    pub key: S<String>,
}

/// ESP of the agent's tunnels.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipEsp {
    /// The VR the outer packets are routed in (default: the agent's VR).
    #[serde(default)]
    pub outer_vr: Option<S<String>>,
    /// Pre-provisioned SLA default SAs (the AAA sends their SPIs, no keys).
    #[serde(default)]
    pub default_sas: Vec<MipDefaultSa>,
}

/// A pre-provisioned default SA.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MipDefaultSa {
    /// SPI.
    pub spi: S<u32>,
    /// `aes-gcm-128`, `aes-gcm-256` or `chacha20-poly1305`.
    pub cipher: S<String>,
    /// Key || 4-byte salt, hexadecimal.
    pub key: S<String>,
}
