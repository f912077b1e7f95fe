//! What the agents hand a data-plane driver: tunnels to set up and tear down (Fig. 24, the
//! tunnel control section) with the VPN profile's selectors, encapsulation, SA and marking.
//! The appliance's driver (`src/mip/`) turns them into ESP SAs and routes of the VR; it
//! tells the agents beforehand which tunnels it can build ([`TunnelSupport`]), so that a
//! registration whose tunnels the data plane cannot carry is refused instead of accepted
//! into a black hole.

use std::net::Ipv4Addr;

use vpndb::model::{AddrMask, SaKeys, SecurityType, VpnCacheProfile};

/// How packets enter the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelKind {
    /// IP-in-IP (RFC 2003), the Mobile IP default; the VPN profile's "encapsulation only".
    IpInIp,
    /// ESP tunnel mode with the SPIs and keys of the VPN profile (AH profiles too: the
    /// data plane has ESP only; an AH profile is carried as ESP with null encryption — the
    /// driver decides, the engine reports `ah: true`).
    Esp {
        /// SPI of the outbound SA (from `local`).
        out_spi: u32,
        /// SPI of the inbound SA (to `local`).
        in_spi: u32,
        /// Keys as the AAA generated them (up = MN → CN).
        keys: SaKeys,
        /// The profile asked for AH.
        ah: bool,
    },
}

/// Which agent role the tunnel serves (for listings and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelRole {
    /// HA ↔ care-of address (the Mobile IP tunnel to the FA).
    HomeToCareOf,
    /// HA → enterprise gateway (static GW, Fig. 13: the second hop after FA → HA); the HA
    /// is on the mobile node's side of it, so its outbound SA is the "up" one.
    HomeToGw,
    /// FA ↔ HA or FA ↔ PCN (the VPN tunnel of the profile, Fig. 13).
    ForeignToGw,
    /// PCN ↔ FA (dynamic GW, Fig. 27).
    PcnToForeign,
    /// Old FA → new FA during a smooth handoff (Fig. 25 ③).
    Handoff,
    /// The new FA's end of that forwarding tunnel: what the old FA forwards is taken (its
    /// own SA pair, or IP-in-IP from the old FA) into the FA's VR; routes nothing.
    HandoffReceive,
}

/// One tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// The mobile node it serves (home address).
    pub home_address: Ipv4Addr,
    /// Role.
    pub role: TunnelRole,
    /// Tunnel entrance (our address).
    pub local: Ipv4Addr,
    /// Tunnel exit.
    pub remote: Ipv4Addr,
    /// Encapsulation and SA.
    pub kind: TunnelKind,
    /// Packets it applies to: source (e.g. the MN's /32) ...
    pub src: Option<AddrMask>,
    /// ... and destination (the CN network).
    pub dst: Option<AddrMask>,
    /// TOS/DSCP to mark (0: copy inner → outer only, no QoS filter; Fig. 23).
    pub tos: u8,
}

/// Up or down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelEvent {
    /// Set up (or replace the one with the same home address, role and remote).
    Up(TunnelSpec),
    /// Tear down.
    Down(TunnelSpec),
}

/// The events that turn the tunnels `old` into `new`: `Down` for each old tunnel not kept,
/// then `Up` for each new one not there before (a kept tunnel emits nothing).
pub fn changes(old: &[TunnelSpec], new: &[TunnelSpec]) -> Vec<TunnelEvent> {
    let down = old.iter().filter(|t| !new.contains(t));
    let up = new.iter().filter(|t| !old.contains(t));
    down.map(|t| TunnelEvent::Down(t.clone()))
        .chain(up.map(|t| TunnelEvent::Up(t.clone())))
        .collect()
}

impl TunnelSpec {
    /// The plain Mobile IP tunnel without a VPN profile.
    pub fn plain(home: Ipv4Addr, role: TunnelRole, local: Ipv4Addr, remote: Ipv4Addr) -> Self {
        TunnelSpec {
            home_address: home,
            role,
            local,
            remote,
            kind: TunnelKind::IpInIp,
            src: None,
            dst: None,
            tos: 0,
        }
    }

    /// The tunnel of VPN profile `p` from `local` to `remote`; `upward` when `local` is on the
    /// mobile node's side (the FA), so the outbound SA is the "up" one.
    pub fn from_profile(
        home: Ipv4Addr,
        role: TunnelRole,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        p: &VpnCacheProfile,
        upward: bool,
    ) -> Self {
        let kind = match p.security {
            SecurityType::EncapsulationOnly => TunnelKind::IpInIp,
            SecurityType::Esp | SecurityType::Ah => {
                let (out_spi, in_spi) = if upward {
                    (p.up_spi, p.down_spi)
                } else {
                    (p.down_spi, p.up_spi)
                };
                TunnelKind::Esp {
                    out_spi,
                    in_spi,
                    keys: p.keys.clone(),
                    ah: p.security == SecurityType::Ah,
                }
            }
        };
        TunnelSpec {
            home_address: home,
            role,
            local,
            remote,
            kind,
            src: Some(p.src),
            dst: Some(p.dst),
            tos: p.tos,
        }
    }
}

/// Which tunnels the data plane behind an agent can build: a registration that would need
/// another is refused (HA: 129, FA: 65) and counted (`tunnel_unsupported`). The default
/// accepts everything (the simulation, the engines' unit tests).
pub type TunnelSupport = fn(&TunnelSpec) -> Result<(), &'static str>;

/// A [`TunnelSupport`] that accepts every tunnel.
pub fn any_tunnel(_: &TunnelSpec) -> Result<(), &'static str> {
    Ok(())
}
