//! What LDP wants in the label matrix and which transport paths it offers, computed from
//! the speaker's state (pure, so it is tested without sockets).
//!
//! The IGP next hop of a FEC (docs/protocols/ldp.md §6): the longest `core_routes` entry
//! covering it; otherwise, with `next_hop_from_peers`, a /32 FEC that is an operational
//! peer's LSR Id or one of the addresses it advertised goes to that peer, via the address
//! its link Hellos come from. A FEC has a label path when the peer owning that next hop
//! (its Hello source, transport address or an advertised address) sent a mapping for it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use controlplane::ldp::wire::Prefix4;
use labelswitch::Label;

use super::config::{covers, LdpCfg};

/// A peer as the plan sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// Operational session.
    pub operational: bool,
    /// Source address of its link Hellos (on our link).
    pub hello_source: Option<Ipv4Addr>,
    /// Its transport address.
    pub transport: Option<Ipv4Addr>,
    /// Addresses it advertised (Address messages).
    pub addresses: BTreeSet<Ipv4Addr>,
    /// Mappings it sent.
    pub learnt: BTreeMap<Prefix4, Label>,
}

/// A FEC's IGP next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Next-hop address (on-link).
    pub via: Ipv4Addr,
    /// Port index.
    pub port: usize,
    /// The LDP peer that owns `via` (operational session), if any.
    pub peer: Option<Ipv4Addr>,
    /// `core` (a core route) or `peer` (the FEC is the peer's own).
    pub source: &'static str,
}

/// A label-matrix entry LDP wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanOp {
    /// Our own FEC: pop and look the next label up (egress, pop-next).
    PopNext { fec: Prefix4 },
    /// Transit: swap to the downstream peer's label.
    Swap {
        fec: Prefix4,
        out: Label,
        port: usize,
        via: Ipv4Addr,
    },
    /// Transit, downstream asked for Implicit NULL: pop and forward (PHP).
    PopForward {
        fec: Prefix4,
        port: usize,
        via: Ipv4Addr,
    },
}

impl PlanOp {
    /// The FEC.
    pub fn fec(&self) -> Prefix4 {
        match *self {
            PlanOp::PopNext { fec } | PlanOp::Swap { fec, .. } | PlanOp::PopForward { fec, .. } => {
                fec
            }
        }
    }
}

/// A labelled path toward a router (its /32 FEC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// Label to push (`None`: Implicit NULL).
    pub label: Option<u32>,
    /// Port index.
    pub port: usize,
    /// Next hop.
    pub via: Ipv4Addr,
}

/// Everything LDP wants installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In-label → operation.
    pub labels: BTreeMap<u32, PlanOp>,
    /// Router (the address of a /32 FEC) → labelled path toward it.
    pub paths: BTreeMap<Ipv4Addr, Path>,
}

/// The operational peer owning address `a` (Hello source, transport or advertised).
pub fn peer_of(peers: &BTreeMap<Ipv4Addr, PeerInfo>, a: Ipv4Addr) -> Option<Ipv4Addr> {
    peers.iter().find_map(|(lsr, p)| {
        (p.operational
            && (p.hello_source == Some(a) || p.transport == Some(a) || p.addresses.contains(&a)))
        .then_some(*lsr)
    })
}

/// The IGP next hop of `fec` (module docs).
pub fn next_hop(cfg: &LdpCfg, peers: &BTreeMap<Ipv4Addr, PeerInfo>, fec: Prefix4) -> Option<Hop> {
    let core = cfg
        .core_routes
        .iter()
        .filter(|r| r.prefix.len() <= fec.len() && covers(r.prefix, fec.addr()))
        .max_by_key(|r| r.prefix.len());
    if let Some(r) = core {
        return Some(Hop {
            via: r.via,
            port: r.port,
            peer: peer_of(peers, r.via),
            source: "core",
        });
    }
    if !cfg.next_hop_from_peers || fec.len() != 32 {
        return None;
    }
    let a = fec.addr();
    peers.iter().find_map(|(lsr, p)| {
        if !p.operational || (*lsr != a && !p.addresses.contains(&a)) {
            return None;
        }
        let via = p.hello_source?;
        Some(Hop {
            via,
            port: cfg.port_on_link(via)?,
            peer: Some(*lsr),
            source: "peer",
        })
    })
}

/// FECs learnt from some peer, not ours, that have a next hop: we advertise a label for
/// each (independent control, RFC 5036 §2.6.1).
pub fn transit_fecs(
    cfg: &LdpCfg,
    peers: &BTreeMap<Ipv4Addr, PeerInfo>,
    own: &BTreeSet<Prefix4>,
) -> BTreeSet<Prefix4> {
    peers
        .values()
        .filter(|p| p.operational)
        .flat_map(|p| p.learnt.keys().copied())
        .filter(|f| !own.contains(f) && next_hop(cfg, peers, *f).is_some())
        .collect()
}

/// The downstream label of `fec` at `hop` (the peer owning the next hop sent it).
fn downstream(peers: &BTreeMap<Ipv4Addr, PeerInfo>, hop: &Hop, fec: Prefix4) -> Option<Label> {
    peers.get(&hop.peer?)?.learnt.get(&fec).copied()
}

/// The plan for our local bindings `local` (own FECs and transit FECs with our labels).
pub fn compute(
    cfg: &LdpCfg,
    peers: &BTreeMap<Ipv4Addr, PeerInfo>,
    own: &BTreeSet<Prefix4>,
    local: &BTreeMap<Prefix4, Label>,
) -> Plan {
    let mut plan = Plan::default();
    for (fec, label) in local {
        if own.contains(fec) {
            plan.labels
                .insert(label.value(), PlanOp::PopNext { fec: *fec });
            continue;
        }
        let Some(hop) = next_hop(cfg, peers, *fec) else {
            continue;
        };
        let Some(out) = downstream(peers, &hop, *fec) else {
            continue;
        };
        let op = if out == Label::IMPLICIT_NULL {
            PlanOp::PopForward {
                fec: *fec,
                port: hop.port,
                via: hop.via,
            }
        } else {
            PlanOp::Swap {
                fec: *fec,
                out,
                port: hop.port,
                via: hop.via,
            }
        };
        plan.labels.insert(label.value(), op);
    }
    // Transport paths toward other routers: every /32 FEC learnt that has a labelled
    // next hop (the VPN service uses those of remote PEs and ignores the rest).
    let learnt: BTreeSet<Prefix4> = peers
        .values()
        .filter(|p| p.operational)
        .flat_map(|p| p.learnt.keys().copied())
        .filter(|f| f.len() == 32 && !own.contains(f))
        .collect();
    for fec in learnt {
        let Some(hop) = next_hop(cfg, peers, fec) else {
            continue;
        };
        if let Some(out) = downstream(peers, &hop, fec) {
            plan.paths.insert(
                fec.addr(),
                Path {
                    label: (out != Label::IMPLICIT_NULL).then_some(out.value()),
                    port: hop.port,
                    via: hop.via,
                },
            );
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldp::config::{CoreRouteCfg, LdpPortCfg};
    use std::time::Duration;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn pf(s: &str) -> Prefix4 {
        s.parse().unwrap()
    }
    fn l(v: u32) -> Label {
        Label::new(v).unwrap()
    }

    /// P of seed 001 Fig. 13: port 0 toward PE1 (10.99.1.0/24), port 1 toward PE2.
    fn cfg() -> LdpCfg {
        LdpCfg {
            lsr_id: ip("10.255.0.2"),
            transport: ip("10.255.0.2"),
            ports: vec![
                LdpPortCfg {
                    port: 0,
                    name: "to-pe1".into(),
                    addrs: vec![(ip("10.99.1.2"), 24)],
                },
                LdpPortCfg {
                    port: 1,
                    name: "to-pe2".into(),
                    addrs: vec![(ip("10.99.2.2"), 24)],
                },
            ],
            labels: 20000..=20999,
            fecs: vec![],
            hello_interval: Duration::from_secs(5),
            hold_time: 15,
            keepalive: 180,
            udp_tcp_port: 646,
            core_routes: vec![],
            next_hop_from_peers: true,
            hello_loopback: false,
        }
    }

    fn peer(src: &str, learnt: &[(&str, u32)]) -> PeerInfo {
        PeerInfo {
            operational: true,
            hello_source: Some(ip(src)),
            transport: None,
            addresses: [ip(src)].into(),
            learnt: learnt.iter().map(|(p, v)| (pf(p), l(*v))).collect(),
        }
    }

    fn peers() -> BTreeMap<Ipv4Addr, PeerInfo> {
        // PE1 advertises its loopback with label F1 = 100 and knows PE2's via us (label
        // 20001 we gave it); PE2 advertises Implicit NULL for its own loopback.
        [
            (
                ip("10.255.0.1"),
                peer(
                    "10.99.1.1",
                    &[("10.255.0.1/32", 100), ("10.255.0.3/32", 101)],
                ),
            ),
            (
                ip("10.255.0.3"),
                peer("10.99.2.3", &[("10.255.0.3/32", 3), ("10.255.0.1/32", 300)]),
            ),
        ]
        .into()
    }

    #[test]
    fn a_peers_own_fec_goes_via_that_peer() {
        let c = cfg();
        let h = next_hop(&c, &peers(), pf("10.255.0.1/32")).unwrap();
        assert_eq!(
            (h.via, h.port, h.peer),
            (ip("10.99.1.1"), 0, Some(ip("10.255.0.1")))
        );
        assert_eq!(next_hop(&c, &peers(), pf("10.255.0.9/32")), None);
        // A /24 is nobody's own address.
        assert_eq!(next_hop(&c, &peers(), pf("10.255.0.0/24")), None);
        let mut c = c;
        c.next_hop_from_peers = false;
        assert_eq!(next_hop(&c, &peers(), pf("10.255.0.1/32")), None);
    }

    #[test]
    fn core_routes_win_with_the_longest_match() {
        let mut c = cfg();
        c.core_routes = vec![
            CoreRouteCfg {
                prefix: pf("10.255.0.0/24"),
                via: ip("10.99.2.3"),
                port: 1,
            },
            CoreRouteCfg {
                prefix: pf("10.255.0.8/29"),
                via: ip("10.99.1.1"),
                port: 0,
            },
        ];
        let h = next_hop(&c, &peers(), pf("10.255.0.1/32")).unwrap();
        assert_eq!(
            (h.via, h.source, h.peer),
            (ip("10.99.2.3"), "core", Some(ip("10.255.0.3")))
        );
        let h = next_hop(&c, &peers(), pf("10.255.0.9/32")).unwrap();
        assert_eq!((h.via, h.port), (ip("10.99.1.1"), 0));
    }

    #[test]
    fn transit_swaps_and_pops_toward_the_next_hop() {
        let c = cfg();
        let p = peers();
        let own: BTreeSet<_> = [pf("10.255.0.2/32")].into();
        let t = transit_fecs(&c, &p, &own);
        assert_eq!(t, [pf("10.255.0.1/32"), pf("10.255.0.3/32")].into());
        let local: BTreeMap<_, _> = [
            (pf("10.255.0.2/32"), l(20000)),
            (pf("10.255.0.1/32"), l(20001)),
            (pf("10.255.0.3/32"), l(20002)),
        ]
        .into();
        let plan = compute(&c, &p, &own, &local);
        assert_eq!(
            plan.labels[&20000],
            PlanOp::PopNext {
                fec: pf("10.255.0.2/32")
            }
        );
        // E -> F toward PE1: swap 20001 -> 100 (PE1's label), not 300 (PE2's).
        assert_eq!(
            plan.labels[&20001],
            PlanOp::Swap {
                fec: pf("10.255.0.1/32"),
                out: l(100),
                port: 0,
                via: ip("10.99.1.1")
            }
        );
        assert_eq!(
            plan.labels[&20002],
            PlanOp::PopForward {
                fec: pf("10.255.0.3/32"),
                port: 1,
                via: ip("10.99.2.3")
            }
        );
        assert_eq!(
            plan.paths[&ip("10.255.0.1")],
            Path {
                label: Some(100),
                port: 0,
                via: ip("10.99.1.1")
            }
        );
        assert_eq!(plan.paths[&ip("10.255.0.3")].label, None);
    }

    #[test]
    fn a_lost_session_takes_its_entries_and_paths_away() {
        let c = cfg();
        let mut p = peers();
        p.get_mut(&ip("10.255.0.1")).unwrap().operational = false;
        let own: BTreeSet<_> = [pf("10.255.0.2/32")].into();
        // PE2 still advertises 10.255.0.1/32 but its next hop (PE1) is gone.
        assert_eq!(transit_fecs(&c, &p, &own), [pf("10.255.0.3/32")].into());
        let local: BTreeMap<_, _> = [
            (pf("10.255.0.1/32"), l(20001)),
            (pf("10.255.0.3/32"), l(20002)),
        ]
        .into();
        let plan = compute(&c, &p, &own, &local);
        assert!(!plan.labels.contains_key(&20001));
        assert!(plan.labels.contains_key(&20002));
        assert!(!plan.paths.contains_key(&ip("10.255.0.1")));
    }

    #[test]
    fn no_binding_from_the_next_hop_means_no_entry() {
        let c = cfg();
        let mut p = peers();
        p.get_mut(&ip("10.255.0.3"))
            .unwrap()
            .learnt
            .remove(&pf("10.255.0.3/32"));
        let own: BTreeSet<_> = [pf("10.255.0.2/32")].into();
        let local: BTreeMap<_, _> = [(pf("10.255.0.3/32"), l(20002))].into();
        let plan = compute(&c, &p, &own, &local);
        // PE1's label for 10.255.0.3/32 is not used: PE1 is not the next hop.
        assert!(plan.labels.is_empty());
        assert!(!plan.paths.contains_key(&ip("10.255.0.3")));
        assert!(plan.paths.contains_key(&ip("10.255.0.1")));
    }
}
