//! The neighbour service: ARP and IPv6 Neighbor Discovery on the control core.
//!
//! * **In:** ARP punts, IPv6 multicast punts (NS/NA), neighbour discovery addressed to a
//!   VR's own address, and neighbour misses — packets the workers (or the core, for a
//!   packet it originated) could not send because their next hop has no MAC yet.
//! * **Out:** answers and solicitations as frames; resolved neighbours as table changes:
//!   every next hop through the neighbour follows it in place
//!   ([`vr::StateWriter::set_neighbor`]), and a neighbour on a VR's connected subnet gets
//!   a host route in that VR ([`vr::RouteSource::Neighbor`]) so the workers stop punting
//!   its traffic; both are withdrawn when the neighbour stops answering. Packets that
//!   waited are sent once resolved, or answered with ICMP host unreachable (an
//!   [`Event::IcmpError`] for the ICMP service) when resolution fails.
//! * **Timers:** one per table entry in the core's timer set (no scan of the table), and
//!   one that retries unresolved next hops every [`STATIC_RETRY`].

use std::any::Any;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use controlcore::{Ctx, Event, IcmpKind, Interest, Punt, PuntView, Service};
use vr::{IpPrefix, LabelPush, NeighborKey, NextHop, PortId, RouteSource, VrId};

use super::{arp, nd, Action, NeighborConfig, NeighborTable};
use crate::packet::{l2_split, IfaceChanges, Interfaces};

/// How often next hops whose neighbour did not resolve are tried again.
pub const STATIC_RETRY: Duration = Duration::from_secs(3);

/// Timer token of the retry timer (entry tokens count up from 0).
const RETRY: u64 = u64::MAX;

/// A packet waiting for its next hop's MAC: the complete frame but for the destination
/// MAC, the port it leaves on, its VR and where its IP header is (for ICMP).
#[derive(Debug)]
pub struct Pending {
    port: PortId,
    vr: Option<VrId>,
    frame: Vec<u8>,
    ip: usize,
}

/// Counters of the neighbour service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighborServiceStats {
    /// ARP requests answered.
    pub arp_replies: u64,
    /// NS answered.
    pub nd_adverts: u64,
    /// ARP/ND packets refused (malformed, bogus, routed ND) or on no interface of ours.
    pub bad: u64,
    /// Packets dropped waiting for a neighbour (queue full or resolution failed).
    pub drops: u64,
    /// Neighbour misses that could not be attributed (label-switched packets, a next hop
    /// that is not a neighbour).
    pub unattributed: u64,
    /// Host routes added for resolved on-link neighbours.
    pub host_routes_added: u64,
    /// Host routes withdrawn.
    pub host_routes_removed: u64,
}

/// The neighbour service (see the module docs).
pub struct NeighborService {
    ifaces: Interfaces,
    arp: NeighborTable<Ipv4Addr, Pending>,
    nd: NeighborTable<Ipv6Addr, Pending>,
    tokens: HashMap<(usize, IpAddr), u64>,
    keys: HashMap<u64, (usize, IpAddr)>,
    next_token: u64,
    host_routes: HashSet<(usize, IpAddr)>,
    statics: BTreeSet<NeighborKey>,
    /// Counters.
    pub stats: NeighborServiceStats,
}

impl NeighborService {
    /// A service answering on `ifaces`.
    pub fn new(ifaces: Interfaces, cfg: NeighborConfig) -> Self {
        NeighborService {
            ifaces,
            arp: NeighborTable::new(cfg),
            nd: NeighborTable::new(cfg),
            tokens: HashMap::new(),
            keys: HashMap::new(),
            next_token: 0,
            host_routes: HashSet::new(),
            statics: BTreeSet::new(),
            stats: NeighborServiceStats::default(),
        }
    }

    /// Neighbours configured statically: what ARP/ND learn never overrides or withdraws
    /// them, and they get no host route from here (the profile gives them one).
    pub fn set_static(&mut self, statics: BTreeSet<NeighborKey>) {
        self.statics = statics;
    }

    /// The interfaces it answers on.
    pub fn interfaces(&self) -> &Interfaces {
        &self.ifaces
    }

    /// The IPv4 table (listings).
    pub fn arp_table(&self) -> &NeighborTable<Ipv4Addr, Pending> {
        &self.arp
    }

    /// The IPv6 table (listings).
    pub fn nd_table(&self) -> &NeighborTable<Ipv6Addr, Pending> {
        &self.nd
    }

    /// Replaces the interfaces (a reload): entries of removed interfaces are forgotten and
    /// withdrawn from the tables, new addresses are announced.
    pub fn set_interfaces(&mut self, cx: &mut Ctx<'_>, ifaces: Interfaces) -> IfaceChanges {
        let list: Vec<_> = ifaces.iter().map(|(_, f)| f.clone()).collect();
        let ch = self.ifaces.update(list);
        for &id in ch.removed.iter().chain(&ch.changed) {
            self.forget_iface(cx, id);
        }
        for &id in ch.added.iter().chain(&ch.changed) {
            self.announce(cx, id);
        }
        self.pump(cx);
        ch
    }

    fn forget_iface(&mut self, cx: &mut Ctx<'_>, id: usize) {
        let dropped = self.arp.flush_iface(id).len() + self.nd.flush_iface(id).len();
        self.stats.drops += dropped as u64;
        let gone: Vec<(usize, IpAddr)> = self
            .host_routes
            .iter()
            .filter(|(i, _)| *i == id)
            .copied()
            .collect();
        for (i, ip) in gone {
            self.withdraw(cx, i, ip);
        }
        // Next hops through neighbours of this interface go back to unresolved.
        let keys: Vec<NeighborKey> = cx
            .writer()
            .next_hops()
            .neighbors()
            .map(|(k, _)| *k)
            .filter(|k| self.ifaces.find(k.port.0, k.vlan).is_none_or(|x| x == id))
            .filter(|k| !self.statics.contains(k))
            .collect();
        for k in keys {
            cx.tables().set_neighbor(k, None);
        }
    }

    /// Gratuitous ARP / unsolicited NA for every address of interface `id`.
    fn announce(&mut self, cx: &mut Ctx<'_>, id: usize) {
        let Some(f) = self.ifaces.get(id) else {
            return;
        };
        let port = PortId(f.port);
        let mut frames = Vec::new();
        for (a, _) in &f.v4 {
            frames.push(arp::gratuitous(f, *a));
        }
        for (a, _) in &f.v6 {
            frames.push(nd::unsolicited_advert(f, *a));
        }
        for fr in frames {
            cx.send_frame(port, fr);
        }
    }

    /// Starts resolving every neighbour a next hop goes through that has no MAC yet.
    fn resolve_next_hops(&mut self, cx: &mut Ctx<'_>) {
        let pool = cx.writer().next_hops();
        let wanted: Vec<NeighborKey> = pool
            .wanted_neighbors()
            .filter(|k| pool.neighbor(k).is_none())
            .copied()
            .collect();
        for k in wanted {
            let Some(i) = self.ifaces.find(k.port.0, k.vlan) else {
                continue;
            };
            // A neighbour already known (learnt from its own request, or resolved before
            // this next hop existed, e.g. an LDP cross connect installed later) is
            // published at once.
            let known = match k.ip {
                IpAddr::V4(ip) => self.arp.lookup(i, ip),
                IpAddr::V6(ip) => self.nd.lookup(i, ip),
            };
            if let Some(mac) = known {
                self.publish(cx, i, k.ip, mac);
                continue;
            }
            match k.ip {
                IpAddr::V4(ip) if self.arp.state(i, ip).is_none() => {
                    let _ = self.arp.resolve(cx.now, i, ip, None);
                }
                IpAddr::V6(ip) if self.nd.state(i, ip).is_none() => {
                    let _ = self.nd.resolve(cx.now, i, ip, None);
                }
                _ => {}
            }
        }
    }

    fn on_arp(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        let (Some(i), Some(payload)) = (self.ifaces.find(p.port.0, p.vlan()), p.l3()) else {
            self.stats.bad += 1;
            return;
        };
        let Some(f) = self.ifaces.get(i) else { return };
        match arp::handle(&mut self.arp, cx.now, i, f, payload) {
            Ok(Some(reply)) => {
                self.stats.arp_replies += 1;
                cx.send_frame(p.port, reply);
            }
            Ok(None) => {}
            Err(_) => self.stats.bad += 1,
        }
    }

    fn on_nd(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        let (Some(i), Some(ip)) = (self.ifaces.find(p.port.0, p.vlan()), p.ip()) else {
            self.stats.bad += 1;
            return;
        };
        if !nd::is_nd(ip) || p.frame.len() < 12 {
            // Other IPv6 multicast (MLD, RS, ...) is not ours to answer.
            return;
        }
        let Some(f) = self.ifaces.get(i) else { return };
        let mut src = [0u8; 6];
        src.copy_from_slice(&p.frame[6..12]);
        match nd::handle(&mut self.nd, cx.now, i, f, src, ip) {
            Ok(Some(reply)) => {
                self.stats.nd_adverts += 1;
                cx.send_frame(p.port, reply);
            }
            Ok(None) => {}
            Err(_) => self.stats.bad += 1,
        }
    }

    /// A packet whose next hop has no MAC: find the neighbour and queue it there.
    fn on_miss(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        let Some(MissTarget {
            port,
            vlan,
            ip,
            known,
        }) = miss_target(cx, p)
        else {
            self.stats.unattributed += 1;
            return;
        };
        let mut frame = p.frame.to_vec();
        if let Some(mac) = known {
            // Resolved since the packet was punted: send it.
            frame[0..6].copy_from_slice(&mac);
            cx.send_frame(port, frame);
            return;
        }
        let Some(i) = self.ifaces.find(port.0, vlan) else {
            self.stats.unattributed += 1;
            return;
        };
        let pkt = Pending {
            port,
            vr: p.vr(),
            frame,
            ip: usize::from(p.to.at.ip),
        };
        let refused = match ip {
            IpAddr::V4(a) => self.arp.resolve(cx.now, i, a, Some(pkt)).err(),
            IpAddr::V6(a) => self.nd.resolve(cx.now, i, a, Some(pkt)).err(),
        };
        if refused.is_some() {
            self.stats.drops += 1;
        }
    }

    /// Carries out what the tables asked for and follows their timers.
    fn pump(&mut self, cx: &mut Ctx<'_>) {
        loop {
            let a = match self.arp.poll_action() {
                Some(a) => map_action(a),
                None => match self.nd.poll_action() {
                    Some(a) => map_action(a),
                    None => break,
                },
            };
            self.act(cx, a);
        }
        let updates: Vec<_> = std::iter::from_fn(|| {
            self.arp
                .poll_timer_update()
                .map(|((i, a), t)| ((i, IpAddr::V4(a)), t))
                .or_else(|| {
                    self.nd
                        .poll_timer_update()
                        .map(|((i, a), t)| ((i, IpAddr::V6(a)), t))
                })
        })
        .collect();
        for (key, at) in updates {
            match at {
                Some(at) => {
                    let token = match self.tokens.get(&key) {
                        Some(t) => *t,
                        None => {
                            let t = self.next_token;
                            self.next_token += 1;
                            self.tokens.insert(key, t);
                            self.keys.insert(t, key);
                            t
                        }
                    };
                    cx.timer_at(token, at);
                }
                None => {
                    if let Some(t) = self.tokens.remove(&key) {
                        self.keys.remove(&t);
                        cx.timer_cancel(t);
                    }
                }
            }
        }
    }

    fn act(&mut self, cx: &mut Ctx<'_>, a: Action<IpAddr, Pending>) {
        match a {
            Action::Solicit {
                iface,
                target,
                unicast,
            } => {
                let Some(f) = self.ifaces.get(iface) else {
                    return;
                };
                let frame = match target {
                    IpAddr::V4(t) => arp::request(f, t, unicast),
                    IpAddr::V6(t) => nd::solicit(f, t, unicast),
                };
                if let Some(fr) = frame {
                    cx.send_frame(PortId(f.port), fr);
                }
            }
            Action::Resolved { iface, ip, mac } => self.publish(cx, iface, ip, mac),
            Action::Release { mac, pkt, .. } => {
                let Pending {
                    port, mut frame, ..
                } = pkt;
                if frame.len() >= 6 {
                    frame[0..6].copy_from_slice(&mac);
                    cx.send_frame(port, frame);
                }
            }
            Action::Failed { iface, ip, pkts } => {
                self.withdraw(cx, iface, ip);
                for p in pkts {
                    self.stats.drops += 1;
                    if let (Some(vr), Some(inner)) = (p.vr, p.frame.get(p.ip..)) {
                        cx.emit(Event::IcmpError {
                            vr,
                            port: None,
                            packet: inner.to_vec(),
                            kind: IcmpKind::HostUnreachable,
                        });
                    }
                }
            }
        }
    }

    /// A neighbour resolved: its next hops follow, and an on-link neighbour of a VR gets a
    /// host route there.
    fn publish(&mut self, cx: &mut Ctx<'_>, iface: usize, ip: IpAddr, mac: [u8; 6]) {
        let Some(f) = self.ifaces.get(iface) else {
            return;
        };
        let key = NeighborKey {
            port: PortId(f.port),
            vlan: f.vlan,
            ip,
        };
        if self.statics.contains(&key) {
            return;
        }
        cx.tables().set_neighbor(key, Some(mac));
        let Some(vr) = f.vr else { return };
        let on_link = match ip {
            IpAddr::V4(a) => f.v4_on_link(a).is_some(),
            IpAddr::V6(a) => f.v6_on_link(a).is_some(),
        };
        if !on_link || self.host_routes.contains(&(iface, ip)) {
            return;
        }
        let via = NextHop::Unresolved {
            port: key.port,
            vlan: key.vlan,
            via: ip,
            push: LabelPush::EMPTY,
        };
        if cx
            .tables()
            .set_route(VrId(vr), IpPrefix::host(ip), RouteSource::Neighbor, via)
            .is_ok()
        {
            self.host_routes.insert((iface, ip));
            self.stats.host_routes_added += 1;
        }
    }

    /// A neighbour stopped answering: its next hops go back to unresolved and its host
    /// route goes.
    fn withdraw(&mut self, cx: &mut Ctx<'_>, iface: usize, ip: IpAddr) {
        if let Some(f) = self.ifaces.get(iface) {
            let key = NeighborKey {
                port: PortId(f.port),
                vlan: f.vlan,
                ip,
            };
            if !self.statics.contains(&key) {
                cx.tables().set_neighbor(key, None);
            }
        }
        if self.host_routes.remove(&(iface, ip)) {
            if let Some(vr) = self.ifaces.get(iface).and_then(|f| f.vr) {
                let _ =
                    cx.tables()
                        .remove_route(VrId(vr), IpPrefix::host(ip), RouteSource::Neighbor);
            }
            self.stats.host_routes_removed += 1;
        }
    }
}

/// Where a missed packet goes, from its VR's FIB in the current version.
struct MissTarget {
    port: PortId,
    vlan: Option<u16>,
    /// The neighbour: the next hop, or the destination itself on a connected subnet.
    ip: IpAddr,
    /// Its MAC, when it resolved since the packet was punted.
    known: Option<[u8; 6]>,
}

fn miss_target(cx: &Ctx<'_>, p: &PuntView<'_>) -> Option<MissTarget> {
    let vr = p.vr()?;
    let ip = p.ip()?;
    let st = cx.state();
    let entry = st.vr(vr)?;
    let (dst, nh) = match ip.first()? >> 4 {
        4 if ip.len() >= 20 => {
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (IpAddr::V4(dst), entry.lookup4(u32::from(dst))?)
        }
        6 if ip.len() >= 40 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&ip[24..40]);
            let dst = Ipv6Addr::from(a);
            (IpAddr::V6(dst), entry.lookup6(u128::from(dst))?)
        }
        _ => return None,
    };
    match *st.next_hop(nh)? {
        NextHop::Unresolved {
            port, vlan, via, ..
        } => {
            let ip = if via.is_unspecified() { dst } else { via };
            Some(MissTarget {
                port,
                vlan,
                ip,
                known: None,
            })
        }
        NextHop::Forward {
            port,
            vlan,
            dst_mac,
            ..
        } => Some(MissTarget {
            port,
            vlan,
            ip: dst,
            known: Some(dst_mac),
        }),
        _ => None,
    }
}

fn map_action<A: Into<IpAddr>>(a: Action<A, Pending>) -> Action<IpAddr, Pending> {
    match a {
        Action::Solicit {
            iface,
            target,
            unicast,
        } => Action::Solicit {
            iface,
            target: target.into(),
            unicast,
        },
        Action::Resolved { iface, ip, mac } => Action::Resolved {
            iface,
            ip: ip.into(),
            mac,
        },
        Action::Release { iface, mac, pkt } => Action::Release { iface, mac, pkt },
        Action::Failed { iface, ip, pkts } => Action::Failed {
            iface,
            ip: ip.into(),
            pkts,
        },
    }
}

impl Service for NeighborService {
    fn name(&self) -> &'static str {
        "neighbor"
    }

    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest::Punt(Punt::Arp),
            Interest::Punt(Punt::Ipv6Multicast),
            Interest::Punt(Punt::NeighborMiss),
            Interest::LocalNd,
        ]
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        let ids: Vec<usize> = self.ifaces.iter().map(|(i, _)| i).collect();
        for i in ids {
            self.announce(cx, i);
        }
        self.resolve_next_hops(cx);
        cx.timer_at(RETRY, cx.now + STATIC_RETRY);
        self.pump(cx);
    }

    fn on_punt(&mut self, cx: &mut Ctx<'_>, p: &PuntView<'_>) {
        match p.reason() {
            Punt::Arp => self.on_arp(cx, p),
            Punt::NeighborMiss => self.on_miss(cx, p),
            // IPv6 multicast, and ND to a VR's own address (a `local` punt).
            _ => {
                if l2_split(p.frame).is_some() {
                    self.on_nd(cx, p)
                }
            }
        }
        self.pump(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, token: u64) {
        if token == RETRY {
            self.resolve_next_hops(cx);
            cx.timer_at(RETRY, cx.now + STATIC_RETRY);
        } else if let Some((i, ip)) = self.keys.remove(&token) {
            self.tokens.remove(&(i, ip));
            match ip {
                IpAddr::V4(a) => self.arp.handle_entry_timeout(cx.now, i, a),
                IpAddr::V6(a) => self.nd.handle_entry_timeout(cx.now, i, a),
            }
        }
        self.pump(cx);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        let (a, n) = (self.arp.stats, self.nd.stats);
        vec![
            ("arp_replies", s.arp_replies),
            ("nd_adverts", s.nd_adverts),
            ("neighbor_bad_packets", s.bad),
            ("neighbor_drops", s.drops),
            ("neighbor_miss_unattributed", s.unattributed),
            ("neighbor_host_routes_added", s.host_routes_added),
            ("neighbor_host_routes_removed", s.host_routes_removed),
            ("arp_entries", self.arp.len() as u64),
            ("arp_solicits", a.solicits),
            ("arp_resolved", a.resolved),
            ("arp_failed", a.failed),
            ("arp_queue_overflow", a.queue_overflow),
            ("arp_table_full", a.table_full),
            ("nd_entries", self.nd.len() as u64),
            ("nd_solicits", n.solicits),
            ("nd_resolved", n.resolved),
            ("nd_failed", n.failed),
            ("nd_queue_overflow", n.queue_overflow),
            ("nd_table_full", n.table_full),
        ]
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
