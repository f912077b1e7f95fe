//! Settings of one access VR (the `pppoe` section of a VR in the profile): its PPPoE
//! access concentrator and where its subscribers go, by realm.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use vr::VrId;

use crate::subscriber::config::{AuthMethod, RadiusServer};

/// Where the subscribers of one realm go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmRoute {
    /// The realm (the part of the user name after the last `@`), lower case.
    pub realm: String,
    /// The VR that takes them: an L2TP LAC VR (the call is relayed to its LNS).
    pub vr: VrId,
    /// The LNS to use instead of the VR's first configured peer.
    pub lns: Option<Ipv4Addr>,
}

/// The RADIUS client of a relaying VR (the profile's `relay.radius`): it authorises each
/// subscriber and may choose the tunnel (RFC 2868). No accounting: the ISP's LNS accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRadius {
    /// Local address the client's sockets bind to.
    pub source: IpAddr,
    /// NAS-Identifier.
    pub nas_identifier: String,
    /// Authentication servers, in order of preference.
    pub servers: Vec<RadiusServer>,
    /// Wait for an answer before retransmitting.
    pub timeout: Duration,
    /// Transmissions to one server before the next is tried (at least 1).
    pub retries: u32,
}

impl RelayRadius {
    /// The longest a request can take: every server, every transmission, `timeout` each.
    pub fn worst_case(&self) -> Duration {
        let sends = self.servers.len() as u32 * self.retries.max(1);
        self.timeout.saturating_mul(sends)
    }
}

/// A VR with an L2TP LAC that RADIUS-chosen tunnels may be placed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LacTarget {
    /// The VR's name (what a Tunnel-Assignment-Id names).
    pub name: String,
    /// The VR.
    pub vr: VrId,
    /// Its configured LNSs (a Tunnel-Server-Endpoint among them picks this VR).
    pub peers: Vec<Ipv4Addr>,
    /// Its L2TP tunnel secret (a Tunnel-Password must equal it).
    pub secret: Option<Vec<u8>>,
}

/// One access VR's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// The access VR (its interfaces are the access interfaces).
    pub vr: VrId,
    /// PPPoE AC-Name.
    pub ac_name: String,
    /// Service-Names offered (empty: any requested name is accepted).
    pub service_names: Vec<String>,
    /// PPPoE sessions on each of the VR's interfaces.
    pub max_sessions: u32,
    /// PPPoE sessions per subscriber MAC.
    pub max_sessions_per_mac: u32,
    /// PADIs per second per subscriber MAC.
    pub padi_per_mac_per_sec: u32,
    /// RFC 4638 PPP-Max-Payload cap (1492: RFC 4638 not offered).
    pub max_payload: u16,
    /// Authentication asked for in LCP, in order (PAP and CHAP: what an ICCN can proxy).
    pub auth: Vec<AuthMethod>,
    /// CHAP name in our challenges.
    pub chap_name: String,
    /// Realms and their VRs.
    pub realms: Vec<RealmRoute>,
    /// Where user names without a known realm go (`None`: refused).
    pub default_route: Option<RealmRoute>,
    /// RADIUS authorises subscribers (and may choose their tunnels) before the call.
    pub radius: Option<RelayRadius>,
    /// The VRs RADIUS-chosen tunnels may be placed from (every L2TP LAC VR).
    pub lacs: Vec<LacTarget>,
}

impl AccessConfig {
    /// Defaults for `vr` (no realm: everyone is refused until realms are given).
    pub fn new(vr: VrId) -> Self {
        AccessConfig {
            vr,
            ac_name: "varouter".into(),
            service_names: Vec::new(),
            max_sessions: 64_000,
            max_sessions_per_mac: 4,
            padi_per_mac_per_sec: 10,
            max_payload: 1492,
            auth: vec![AuthMethod::Chap, AuthMethod::Pap],
            chap_name: "varouter".into(),
            realms: Vec::new(),
            default_route: None,
            radius: None,
            lacs: Vec::new(),
        }
    }

    /// The route of `username` (`user@realm`; the realm compared case-insensitively).
    pub fn route(&self, username: &[u8]) -> Option<&RealmRoute> {
        let name = String::from_utf8_lossy(username);
        let realm = name.rsplit_once('@').map(|(_, r)| r.to_ascii_lowercase());
        realm
            .and_then(|r| self.realms.iter().find(|x| x.realm == r))
            .or(self.default_route.as_ref())
    }
}
