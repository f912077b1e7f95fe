//! Small helpers the control-core engines share: the description of a router interface
//! and builders for the Ethernet and IP headers of originated packets (on top of the views of
//! the `wire` crate).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    Ipv6Packet, Ipv6Repr,
};

/// A router interface on the control core: where ARP/ND run and ICMP is sourced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Port id.
    pub port: u16,
    /// 802.1Q VLAN, or untagged.
    pub vlan: Option<u16>,
    /// The port's MAC.
    pub mac: [u8; 6],
    /// The VR the interface belongs to; `None` for a trunk (core-facing) port.
    pub vr: Option<u32>,
    /// IPv4 addresses with their on-link prefix length.
    pub v4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with their on-link prefix length.
    pub v6: Vec<(Ipv6Addr, u8)>,
}

impl Iface {
    /// True when `ip` is one of this interface's IPv4 addresses.
    pub fn owns_v4(&self, ip: Ipv4Addr) -> bool {
        self.v4.iter().any(|(a, _)| *a == ip)
    }

    /// True when `ip` is one of this interface's IPv6 addresses.
    pub fn owns_v6(&self, ip: Ipv6Addr) -> bool {
        self.v6.iter().any(|(a, _)| *a == ip)
    }

    /// The interface address whose subnet holds `ip`.
    pub fn v4_on_link(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.v4
            .iter()
            .find(|(a, l)| same_net4(*a, ip, *l))
            .map(|(a, _)| *a)
    }

    /// The interface address whose subnet holds `ip`.
    pub fn v6_on_link(&self, ip: Ipv6Addr) -> Option<Ipv6Addr> {
        self.v6
            .iter()
            .find(|(a, l)| same_net6(*a, ip, *l))
            .map(|(a, _)| *a)
    }
}

/// The router's interfaces as the services that answer on them see them, with ids that stay
/// the same while the appliance runs: an interface keeps its id across reconfigurations as
/// long as it stays on the same (port, VLAN), and a removed interface's id is not reused.
#[derive(Clone, Debug, Default)]
pub struct Interfaces {
    slots: Vec<Option<Iface>>,
    by_l2: HashMap<(u16, Option<u16>), usize>,
    by_vr: HashMap<u32, Vec<usize>>,
}

/// What [`Interfaces::update`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfaceChanges {
    /// Ids removed.
    pub removed: Vec<usize>,
    /// Ids added.
    pub added: Vec<usize>,
    /// Ids whose VR or addresses changed.
    pub changed: Vec<usize>,
}

impl Interfaces {
    /// The interfaces of `list` (ids 0..n in order).
    pub fn new(list: Vec<Iface>) -> Self {
        let mut i = Interfaces::default();
        i.update(list);
        i
    }

    /// The interface with id `id`.
    pub fn get(&self, id: usize) -> Option<&Iface> {
        self.slots.get(id)?.as_ref()
    }

    /// The id of the interface on `port` (untagged, or with VLAN `vlan`).
    pub fn find(&self, port: u16, vlan: Option<u16>) -> Option<usize> {
        self.by_l2.get(&(port, vlan)).copied()
    }

    /// The interfaces of VR `vr`, in id order.
    pub fn of_vr(&self, vr: u32) -> impl Iterator<Item = &Iface> + '_ {
        self.by_vr
            .get(&vr)
            .into_iter()
            .flatten()
            .filter_map(|i| self.get(*i))
    }

    /// Every interface with its id.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Iface)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
    }

    /// Replaces the set (see the type's docs for ids).
    pub fn update(&mut self, list: Vec<Iface>) -> IfaceChanges {
        let mut ch = IfaceChanges::default();
        let mut keep = HashMap::new();
        for f in list {
            keep.insert((f.port, f.vlan), f);
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(old) = slot else { continue };
            match keep.remove(&(old.port, old.vlan)) {
                Some(new) => {
                    if new != *old {
                        ch.changed.push(i);
                        *old = new;
                    }
                }
                None => {
                    self.by_l2.remove(&(old.port, old.vlan));
                    *slot = None;
                    ch.removed.push(i);
                }
            }
        }
        let mut fresh: Vec<Iface> = keep.into_values().collect();
        fresh.sort_by_key(|f| (f.port, f.vlan));
        for f in fresh {
            let i = self.slots.len();
            self.by_l2.insert((f.port, f.vlan), i);
            self.slots.push(Some(f));
            ch.added.push(i);
        }
        self.by_vr.clear();
        for (i, f) in self.slots.iter().enumerate() {
            if let Some(vr) = f.as_ref().and_then(|f| f.vr) {
                self.by_vr.entry(vr).or_default().push(i);
            }
        }
        ch
    }
}

fn same_net4(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    u32::from(a) & m == u32::from(b) & m
}

fn same_net6(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    };
    u128::from(a) & m == u128::from(b) & m
}

/// An Ethernet frame (with an 802.1Q tag when `vlan` is set) around `payload`.
pub fn ethernet(
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    ethertype: EtherType,
    payload: &[u8],
) -> Vec<u8> {
    let tag = if vlan.is_some() { 4 } else { 0 };
    let mut f = vec![0u8; 14 + tag + payload.len()];
    let outer = if vlan.is_some() {
        EtherType::from(0x8100)
    } else {
        ethertype
    };
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype: outer,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    if let Some(v) = vlan {
        f[14..16].copy_from_slice(&(v & 0x0fff).to_be_bytes());
        f[16..18].copy_from_slice(&u16::from(ethertype).to_be_bytes());
    }
    f[14 + tag..].copy_from_slice(payload);
    f
}

/// The EtherType, VLAN and payload offset of a frame (one optional 802.1Q tag).
pub fn l2_split(frame: &[u8]) -> Option<(u16, Option<u16>, usize)> {
    let et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if et == 0x8100 {
        let vid = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]) & 0x0fff;
        let inner = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        Some((inner, Some(vid), 18))
    } else {
        Some((et, None, 14))
    }
}

/// An IPv4 packet (no options, DF clear) around `payload`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len: payload.len(),
        hop_limit: ttl,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut p[..]));
    p[20..].copy_from_slice(payload);
    p
}

/// An IPv6 packet around `payload`.
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: IpProtocol,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload.len()];
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: next,
        payload_len: payload.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut p[..]));
    p[40..].copy_from_slice(payload);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_frame_round_trips_through_l2_split() {
        let f = ethernet([1; 6], [2; 6], Some(10), EtherType::Arp, &[9, 9]);
        assert_eq!(l2_split(&f), Some((0x0806, Some(10), 18)));
        assert_eq!(&f[18..], &[9, 9]);
        let f = ethernet([1; 6], [2; 6], None, EtherType::Ipv4, &[7]);
        assert_eq!(l2_split(&f), Some((0x0800, None, 14)));
        assert_eq!(l2_split(&f[..13]), None);
    }

    #[test]
    fn interface_ids_are_stable_across_updates() {
        let f = |port: u16, vlan: Option<u16>, vr: Option<u32>, a: [u8; 4]| Iface {
            port,
            vlan,
            mac: [2, 0, 0, 0, 0, 1],
            vr,
            v4: vec![(Ipv4Addr::from(a), 24)],
            v6: vec![],
        };
        let mut i = Interfaces::new(vec![
            f(0, Some(10), Some(1), [10, 0, 1, 1]),
            f(0, Some(20), Some(2), [10, 0, 2, 1]),
            f(1, None, None, [192, 0, 2, 1]),
        ]);
        let b = i.find(0, Some(20)).unwrap();
        assert_eq!(i.of_vr(2).count(), 1);
        // VLAN 10 goes, B's address changes, VLAN 30 comes: ids of the others stay.
        let ch = i.update(vec![
            f(0, Some(20), Some(2), [10, 0, 9, 1]),
            f(1, None, None, [192, 0, 2, 1]),
            f(0, Some(30), Some(1), [10, 0, 3, 1]),
        ]);
        assert_eq!(ch.removed, vec![0]);
        assert_eq!(ch.changed, vec![b]);
        assert_eq!(ch.added, vec![3], "a new id, never a reused one");
        assert_eq!(i.find(0, Some(20)), Some(b));
        assert!(i.get(0).is_none());
        assert_eq!(i.find(0, Some(10)), None);
        assert_eq!(
            i.of_vr(1).map(|x| x.vlan).collect::<Vec<_>>(),
            vec![Some(30)]
        );
        assert_eq!(i.iter().count(), 3);
    }

    #[test]
    fn on_link_checks_prefixes() {
        let i = Iface {
            port: 0,
            vlan: None,
            mac: [2, 0, 0, 0, 0, 1],
            vr: Some(1),
            v4: vec![(Ipv4Addr::new(10, 1, 0, 1), 24)],
            v6: vec![("fd00:1::1".parse().unwrap(), 64)],
        };
        assert_eq!(
            i.v4_on_link(Ipv4Addr::new(10, 1, 0, 77)),
            Some(Ipv4Addr::new(10, 1, 0, 1))
        );
        assert_eq!(i.v4_on_link(Ipv4Addr::new(10, 2, 0, 77)), None);
        assert!(i.v6_on_link("fd00:1::5".parse().unwrap()).is_some());
        assert!(i.owns_v4(Ipv4Addr::new(10, 1, 0, 1)));
    }
}
