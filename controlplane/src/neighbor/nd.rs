//! IPv6 Neighbor Discovery (RFC 4861) address resolution, on top of the shared
//! [`NeighborTable`].
//!
//! Implemented: answering Neighbor Solicitations for the interface's addresses with
//! solicited Neighbor Advertisements (R, S, O set; to the all-nodes group for DAD probes),
//! learning the solicitor's link-layer address (STALE), resolving with multicast NS to the
//! solicited-node group (unicast when probing), NA processing (S → REACHABLE, otherwise an
//! update), unsolicited NA for our addresses when an interface starts, the hop-limit-255 and
//! checksum checks of §7.1. Not implemented: router advertisements, redirects, DAD for our
//! own addresses, link-local addresses of the router (NS/NA are sourced from the interface's
//! configured address).

use super::NeighborTable;
use crate::packet::{ethernet, ipv6, Iface};
use std::net::Ipv6Addr;
use std::time::Instant;
use wire::{
    EtherType, EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, NdiscOption,
    NdiscOptions, NeighborFlags,
};

/// The all-nodes multicast group.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// ND packets the engine refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NdError {
    /// Not a well-formed IPv6/ICMPv6 packet (or a bad checksum).
    #[error("malformed neighbor discovery packet: {0}")]
    Malformed(wire::Error),
    /// Hop limit not 255: the packet was routed, RFC 4861 §7.1 says drop.
    #[error("neighbor discovery packet with hop limit {0}, expected 255")]
    HopLimit(u8),
}

/// The solicited-node multicast group of `ip` (RFC 4291 §2.7.1).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet multicast address of an IPv6 group (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// True for an IPv6 packet carrying an NS or NA (what [`handle`] takes).
pub fn is_nd(ip6: &[u8]) -> bool {
    ip6.len() > 40 && ip6[6] == 58 && matches!(ip6[40], 135 | 136)
}

/// Handles an NS or NA (`ip6`: the IPv6 packet) that arrived on interface `idx` from
/// `eth_src`. Returns the frame to send back, if any.
pub fn handle<P>(
    table: &mut NeighborTable<Ipv6Addr, P>,
    now: Instant,
    idx: usize,
    ifc: &Iface,
    eth_src: [u8; 6],
    ip6: &[u8],
) -> Result<Option<Vec<u8>>, NdError> {
    let ip = Ipv6Packet::new_checked(ip6).map_err(NdError::Malformed)?;
    if ip.hop_limit() != 255 {
        return Err(NdError::HopLimit(ip.hop_limit()));
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(NdError::Malformed)?;
    match Icmpv6Repr::parse(&icmp, &src, &dst).map_err(NdError::Malformed)? {
        Icmpv6Repr::NeighborSolicit {
            target_addr,
            options,
        } => {
            if !ifc.owns_v6(target_addr) {
                return Ok(None);
            }
            let slla = options.source_lladdr().map(|a| a.0);
            if src.is_unspecified() {
                // Duplicate address detection by someone else: defend, to all nodes.
                let flags = NeighborFlags {
                    router: true,
                    solicited: false,
                    override_: true,
                };
                return Ok(Some(advert(
                    ifc,
                    target_addr,
                    ALL_NODES,
                    multicast_mac(ALL_NODES),
                    flags,
                )));
            }
            if let Some(mac) = slla {
                table.learn(now, idx, src, mac, false, true);
            }
            let to_mac = slla.unwrap_or(eth_src);
            let flags = NeighborFlags {
                router: true,
                solicited: true,
                override_: true,
            };
            Ok(Some(advert(ifc, target_addr, src, to_mac, flags)))
        }
        Icmpv6Repr::NeighborAdvert {
            flags,
            target_addr,
            options,
        } => {
            if ifc.owns_v6(target_addr) {
                return Ok(None);
            }
            let mac = options.target_lladdr().map(|a| a.0).unwrap_or(eth_src);
            if mac[0] & 1 == 0 {
                table.learn(now, idx, target_addr, mac, flags.solicited, false);
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn nd_frame(
    ifc: &Iface,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    dst_mac: [u8; 6],
    repr: &Icmpv6Repr,
) -> Vec<u8> {
    let mut body = vec![0u8; repr.buffer_len()];
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut body[..]));
    let pkt = ipv6(src, dst, IpProtocol::Icmpv6, 255, &body);
    ethernet(dst_mac, ifc.mac, ifc.vlan, EtherType::Ipv6, &pkt)
}

fn advert(
    ifc: &Iface,
    target: Ipv6Addr,
    dst: Ipv6Addr,
    dst_mac: [u8; 6],
    flags: NeighborFlags,
) -> Vec<u8> {
    let mut opt = [0u8; 8];
    NdiscOption::TargetLinkLayerAddr(EthernetAddress(ifc.mac)).emit(&mut opt);
    let options = NdiscOptions::new_checked(&opt).unwrap_or_default();
    let repr = Icmpv6Repr::NeighborAdvert {
        flags,
        target_addr: target,
        options,
    };
    nd_frame(ifc, target, dst, dst_mac, &repr)
}

/// A solicitation for `target` from the interface address on its subnet (or the first
/// one): to the solicited-node group, or unicast to `unicast` (a probe). `None` when the
/// interface has no IPv6 address.
pub fn solicit(ifc: &Iface, target: Ipv6Addr, unicast: Option<[u8; 6]>) -> Option<Vec<u8>> {
    let src = ifc
        .v6_on_link(target)
        .or_else(|| ifc.v6.first().map(|a| a.0))?;
    let mut opt = [0u8; 8];
    NdiscOption::SourceLinkLayerAddr(EthernetAddress(ifc.mac)).emit(&mut opt);
    let options = NdiscOptions::new_checked(&opt).unwrap_or_default();
    let repr = Icmpv6Repr::NeighborSolicit {
        target_addr: target,
        options,
    };
    let (dst, mac) = match unicast {
        Some(m) => (target, m),
        None => {
            let g = solicited_node(target);
            (g, multicast_mac(g))
        }
    };
    Some(nd_frame(ifc, src, dst, mac, &repr))
}

/// An unsolicited NA for our address `ip` to all nodes (override set), sent at start.
pub fn unsolicited_advert(ifc: &Iface, ip: Ipv6Addr) -> Vec<u8> {
    let flags = NeighborFlags {
        router: true,
        solicited: false,
        override_: true,
    };
    advert(ifc, ip, ALL_NODES, multicast_mac(ALL_NODES), flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbor::{Action, NeighborConfig, NeighborState};
    use crate::packet::l2_split;

    const HOST: [u8; 6] = [2, 0, 0, 0, 0xa, 2];

    fn ifc() -> Iface {
        Iface {
            port: 0,
            vlan: None,
            mac: [2, 0, 0, 0, 0, 1],
            vr: Some(1),
            v4: vec![],
            v6: vec![("fd00:1::1".parse().unwrap(), 64)],
        }
    }

    fn host() -> Iface {
        Iface {
            mac: HOST,
            v6: vec![("fd00:1::2".parse().unwrap(), 64)],
            ..ifc()
        }
    }

    fn ip_of(frame: &[u8]) -> &[u8] {
        &frame[l2_split(frame).unwrap().2..]
    }

    #[test]
    fn solicited_node_group() {
        let g = solicited_node("fd00:1::1:2:3".parse().unwrap());
        assert_eq!(g, "ff02::1:ff02:3".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(g), [0x33, 0x33, 0xff, 0x02, 0x00, 0x03]);
    }

    #[test]
    fn answers_a_solicitation_and_learns_the_solicitor() {
        let t0 = Instant::now();
        let mut t: NeighborTable<Ipv6Addr, ()> = NeighborTable::new(NeighborConfig::default());
        // The host solicits our address (built with the same code, from the host's side).
        let ns = solicit(&host(), "fd00:1::1".parse().unwrap(), None).unwrap();
        assert!(is_nd(ip_of(&ns)));
        let na = handle(&mut t, t0, 0, &ifc(), HOST, ip_of(&ns))
            .unwrap()
            .expect("an NA");
        assert_eq!(&na[0..6], &HOST);
        let ip = Ipv6Packet::new_checked(ip_of(&na)).unwrap();
        assert_eq!(ip.hop_limit(), 255);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        match Icmpv6Repr::parse(&icmp, &ip.src_addr(), &ip.dst_addr()).unwrap() {
            Icmpv6Repr::NeighborAdvert {
                flags,
                target_addr,
                options,
            } => {
                assert!(flags.solicited && flags.router && flags.override_);
                assert_eq!(target_addr, "fd00:1::1".parse::<Ipv6Addr>().unwrap());
                assert_eq!(options.target_lladdr().map(|a| a.0), Some(ifc().mac));
            }
            other => panic!("not an NA: {other:?}"),
        }
        let h: Ipv6Addr = "fd00:1::2".parse().unwrap();
        assert_eq!(t.lookup(0, h), Some(HOST));
        assert!(matches!(t.state(0, h), Some(NeighborState::Stale { .. })));
    }

    #[test]
    fn resolution_completes_with_a_solicited_advert() {
        let t0 = Instant::now();
        let h: Ipv6Addr = "fd00:1::2".parse().unwrap();
        let mut t: NeighborTable<Ipv6Addr, u8> = NeighborTable::new(NeighborConfig::default());
        t.resolve(t0, 0, h, Some(5)).unwrap();
        assert!(matches!(
            t.poll_action(),
            Some(Action::Solicit { unicast: None, .. })
        ));
        let ns = solicit(&ifc(), h, None).unwrap();
        assert_eq!(&ns[0..6], &multicast_mac(solicited_node(h)));
        // The host answers our NS.
        let mut ht: NeighborTable<Ipv6Addr, ()> = NeighborTable::new(NeighborConfig::default());
        let na = handle(&mut ht, t0, 0, &host(), ifc().mac, ip_of(&ns))
            .unwrap()
            .unwrap();
        assert_eq!(handle(&mut t, t0, 0, &ifc(), HOST, ip_of(&na)), Ok(None));
        assert_eq!(
            t.poll_action(),
            Some(Action::Resolved {
                iface: 0,
                ip: h,
                mac: HOST
            })
        );
        assert_eq!(
            t.poll_action(),
            Some(Action::Release {
                iface: 0,
                mac: HOST,
                pkt: 5
            })
        );
        assert!(matches!(
            t.state(0, h),
            Some(NeighborState::Reachable { .. })
        ));
    }

    #[test]
    fn routed_nd_is_refused() {
        let t0 = Instant::now();
        let mut t: NeighborTable<Ipv6Addr, ()> = NeighborTable::new(NeighborConfig::default());
        let ns = solicit(&host(), "fd00:1::1".parse().unwrap(), None).unwrap();
        let mut ip = ip_of(&ns).to_vec();
        ip[7] = 254;
        assert_eq!(
            handle(&mut t, t0, 0, &ifc(), HOST, &ip),
            Err(NdError::HopLimit(254))
        );
        let mut bad = ip_of(&ns).to_vec();
        let n = bad.len();
        bad[n - 1] ^= 1; // checksum no longer matches
        assert!(matches!(
            handle(&mut t, t0, 0, &ifc(), HOST, &bad),
            Err(NdError::Malformed(_))
        ));
    }

    #[test]
    fn unsolicited_advert_goes_to_all_nodes() {
        let f = unsolicited_advert(&ifc(), "fd00:1::1".parse().unwrap());
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert!(is_nd(ip_of(&f)));
    }

    proptest::proptest! {
        /// Arbitrary bytes after a valid IPv6 header never panic the handler.
        #[test]
        fn arbitrary_nd_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96), hl in proptest::prelude::any::<u8>()) {
            let t0 = Instant::now();
            let mut t: NeighborTable<Ipv6Addr, ()> = NeighborTable::new(NeighborConfig::default());
            let mut ip = ipv6("fd00:1::2".parse().unwrap(), "fd00:1::1".parse().unwrap(), IpProtocol::Icmpv6, 255, &body);
            let _ = handle(&mut t, t0, 0, &ifc(), HOST, &ip);
            ip[7] = hl;
            let _ = handle(&mut t, t0, 0, &ifc(), HOST, &ip);
            let _ = handle(&mut t, t0, 0, &ifc(), HOST, &body);
            let _ = is_nd(&body);
        }
    }
}
