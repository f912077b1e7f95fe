//! Neighbor resolution, sans-IO: the table and state machine shared by ARP (RFC 826,
//! [`arp`]) and IPv6 Neighbor Discovery (RFC 4861, [`nd`]).
//!
//! A [`NeighborTable`] maps (interface, address) to a MAC address and a reachability state
//! named as in RFC 4861 §7.3.2. It reads no clock and sends nothing: the driver calls
//! [`NeighborTable::resolve`] when the data plane misses a neighbor, [`NeighborTable::learn`]
//! when a request or answer arrives, [`NeighborTable::handle_timeout`] when
//! [`NeighborTable::poll_timeout`] says so, and drains [`NeighborTable::poll_action`] for
//! solicitations to send, entries to publish or withdraw, and queued packets to release.
//!
//! States and transitions (RFC 4861 §7.3.3 and appendix C, ARP uses the same machine):
//!
//! ```text
//! (none) --resolve--> INCOMPLETE --answer--> REACHABLE --reachable time--> STALE | PROBE
//! INCOMPLETE --retrans × max_multicast, no answer--> (none), queued packets fail
//! PROBE --unicast solicit × max_unicast, no answer--> (none), withdrawn
//! STALE --garbage-collection time--> (none)
//! ```
//!
//! The data plane does not report which entries carry traffic, so DELAY is skipped: an entry
//! that was asked for ([`NeighborTable::resolve`], a next hop in use) goes from REACHABLE
//! straight to PROBE and is re-confirmed by unicast solicitations; an entry that was only
//! learned (a host that asked for us) goes to STALE and is forgotten after `stale_gc`.
//!
//! Packets waiting for resolution are queued per entry (at most `queue_per_entry`, at most
//! `queue_total` in the whole table); a packet that does not fit is handed back and counted
//! (`queue_overflow`). The table itself holds at most `max_entries` (`table_full`).
//!
//! Not implemented: DELAY (see above), RFC 7048 backoff of retransmissions, the IsRouter
//! flag's effect on routes, and per-interface reachable-time randomisation (RFC 4861 §6.3.2).

pub mod arp;
pub mod nd;
pub mod service;

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Timers and limits (RFC 4861 §10 defaults where it has them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    /// How long a confirmation keeps an entry REACHABLE (REACHABLE_TIME, 30 s).
    pub reachable_time: Duration,
    /// Time between solicitations (RETRANS_TIMER, 1 s).
    pub retrans_time: Duration,
    /// Broadcast/multicast solicitations before giving up (MAX_MULTICAST_SOLICIT, 3).
    pub max_multicast: u8,
    /// Unicast probes before giving up (MAX_UNICAST_SOLICIT, 3).
    pub max_unicast: u8,
    /// How long an unused STALE entry is kept.
    pub stale_gc: Duration,
    /// Packets queued per unresolved entry.
    pub queue_per_entry: usize,
    /// Packets queued in the whole table.
    pub queue_total: usize,
    /// Entries in the table: beyond it, nothing new is learned or resolved (a flood of
    /// solicitations from spoofed sources cannot grow the table without bound).
    pub max_entries: usize,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        NeighborConfig {
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            max_multicast: 3,
            max_unicast: 3,
            stale_gc: Duration::from_secs(120),
            queue_per_entry: 16,
            queue_total: 1024,
            max_entries: 16_384,
        }
    }
}

/// Reachability state of an entry (RFC 4861 §7.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighborState {
    /// Solicitations sent, no answer yet. `sent` solicitations so far; next at `next`.
    Incomplete {
        /// Solicitations sent.
        sent: u8,
        /// When the next one is due.
        next: Instant,
    },
    /// Confirmed recently; valid until `until`.
    Reachable {
        /// End of the reachable time.
        until: Instant,
    },
    /// Not confirmed recently; forgotten at `gc` unless used.
    Stale {
        /// When it is removed.
        gc: Instant,
    },
    /// Being re-confirmed by unicast solicitations.
    Probe {
        /// Probes sent.
        sent: u8,
        /// When the next one is due.
        next: Instant,
    },
}

/// An entry.
#[derive(Debug)]
struct Entry<P> {
    mac: Option<[u8; 6]>,
    state: NeighborState,
    /// Asked for by the data plane / a next hop: kept fresh by probing.
    wanted: bool,
    queue: VecDeque<P>,
}

/// When an entry's timer is due.
fn deadline<P>(e: &Entry<P>) -> Instant {
    match e.state {
        NeighborState::Incomplete { next, .. } | NeighborState::Probe { next, .. } => next,
        NeighborState::Reachable { until } => until,
        NeighborState::Stale { gc } => gc,
    }
}

/// What the driver must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<A, P> {
    /// Send a solicitation (ARP request / NS) for `target` on `iface`: broadcast/multicast,
    /// or unicast to `unicast` when probing.
    Solicit {
        /// Driver's interface index.
        iface: usize,
        /// Address to resolve.
        target: A,
        /// Destination MAC of a unicast probe.
        unicast: Option<[u8; 6]>,
    },
    /// `ip` on `iface` is at `mac` (new, or changed): publish it to the data plane.
    Resolved {
        /// Driver's interface index.
        iface: usize,
        /// Neighbor address.
        ip: A,
        /// Its MAC.
        mac: [u8; 6],
    },
    /// A queued packet can go to `mac` now.
    Release {
        /// Driver's interface index.
        iface: usize,
        /// Destination MAC.
        mac: [u8; 6],
        /// The packet.
        pkt: P,
    },
    /// Resolution failed (or a probed entry stopped answering): withdraw it from the data
    /// plane; `pkts` were waiting for it (send ICMP unreachable or drop them).
    Failed {
        /// Driver's interface index.
        iface: usize,
        /// Neighbor address.
        ip: A,
        /// Packets that were queued.
        pkts: Vec<P>,
    },
}

/// Counters of a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighborStats {
    /// Solicitations asked for.
    pub solicits: u64,
    /// Entries resolved or changed.
    pub resolved: u64,
    /// Resolutions or probes that failed.
    pub failed: u64,
    /// Packets refused because a queue was full.
    pub queue_overflow: u64,
    /// Packets released after resolution.
    pub released: u64,
    /// STALE entries forgotten.
    pub expired: u64,
    /// New entries refused because the table was full.
    pub table_full: u64,
}

/// The neighbor table of one address family; `A` is the address type, `P` whatever the
/// driver queues (a packet buffer).
#[derive(Debug)]
pub struct NeighborTable<A, P> {
    cfg: NeighborConfig,
    entries: HashMap<(usize, A), Entry<P>>,
    queued: usize,
    actions: VecDeque<Action<A, P>>,
    /// Entries whose deadline may have changed since the driver last asked.
    touched: Vec<(usize, A)>,
    /// Counters.
    pub stats: NeighborStats,
}

impl<A: Copy + Eq + Hash + Debug, P> NeighborTable<A, P> {
    /// An empty table.
    pub fn new(cfg: NeighborConfig) -> Self {
        NeighborTable {
            cfg,
            entries: HashMap::new(),
            queued: 0,
            actions: VecDeque::new(),
            touched: Vec::new(),
            stats: NeighborStats::default(),
        }
    }

    /// The MAC of a usable entry (REACHABLE, STALE or PROBE).
    pub fn lookup(&self, iface: usize, ip: A) -> Option<[u8; 6]> {
        self.entries.get(&(iface, ip)).and_then(|e| e.mac)
    }

    /// The state of an entry.
    pub fn state(&self, iface: usize, ip: A) -> Option<NeighborState> {
        self.entries.get(&(iface, ip)).map(|e| e.state)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Packets queued in the whole table.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The data plane needs `ip` on `iface` (a neighbor miss, or a static next hop):
    /// starts resolution if needed and queues `pkt`. A known MAC releases `pkt` at once.
    /// Returns the packet when it cannot be queued (counted as `queue_overflow`).
    pub fn resolve(&mut self, now: Instant, iface: usize, ip: A, pkt: Option<P>) -> Result<(), P> {
        let cfg = self.cfg;
        if self.entries.len() >= cfg.max_entries && !self.entries.contains_key(&(iface, ip)) {
            self.stats.table_full += 1;
            return match pkt {
                Some(p) => Err(p),
                None => Ok(()),
            };
        }
        let e = self.entries.entry((iface, ip)).or_insert_with(|| Entry {
            mac: None,
            state: NeighborState::Incomplete { sent: 0, next: now },
            wanted: true,
            queue: VecDeque::new(),
        });
        let newly_wanted = !e.wanted;
        e.wanted = true;
        match (e.mac, e.state) {
            (Some(mac), st) => {
                if let NeighborState::Stale { .. } = st {
                    // Used again: confirm it (RFC 4861 §7.3.3, STALE → DELAY → PROBE).
                    e.state = NeighborState::Probe { sent: 0, next: now };
                }
                if newly_wanted {
                    self.actions.push_back(Action::Resolved { iface, ip, mac });
                }
                if let Some(pkt) = pkt {
                    self.stats.released += 1;
                    self.actions.push_back(Action::Release { iface, mac, pkt });
                }
            }
            (None, _) => {
                if let Some(pkt) = pkt {
                    if e.queue.len() >= cfg.queue_per_entry || self.queued >= cfg.queue_total {
                        self.stats.queue_overflow += 1;
                        return Err(pkt);
                    }
                    e.queue.push_back(pkt);
                    self.queued += 1;
                }
            }
        }
        self.touched.push((iface, ip));
        // A new entry solicits at once.
        self.handle_entry_timeout(now, iface, ip);
        Ok(())
    }

    /// A packet from `ip` on `iface` told us its MAC. `confirmed` is true for an answer to
    /// our solicitation (ARP reply, NA with the Solicited flag): the entry becomes REACHABLE.
    /// Otherwise (a request, an unsolicited advertisement) an existing entry takes the new
    /// MAC and becomes STALE if it changed, and a new entry is created only when `create`.
    pub fn learn(
        &mut self,
        now: Instant,
        iface: usize,
        ip: A,
        mac: [u8; 6],
        confirmed: bool,
        create: bool,
    ) {
        let cfg = self.cfg;
        let known = self.entries.contains_key(&(iface, ip));
        if !create && !confirmed && !known {
            return;
        }
        if !known && self.entries.len() >= cfg.max_entries {
            self.stats.table_full += 1;
            return;
        }
        let e = self.entries.entry((iface, ip)).or_insert_with(|| Entry {
            mac: None,
            state: NeighborState::Stale {
                gc: now + cfg.stale_gc,
            },
            wanted: false,
            queue: VecDeque::new(),
        });
        self.touched.push((iface, ip));
        let changed = e.mac != Some(mac);
        let was_incomplete = e.mac.is_none();
        e.mac = Some(mac);
        if confirmed || was_incomplete && e.wanted {
            e.state = NeighborState::Reachable {
                until: now + cfg.reachable_time,
            };
        } else if changed {
            e.state = NeighborState::Stale {
                gc: now + cfg.stale_gc,
            };
        }
        if changed {
            self.stats.resolved += 1;
            if e.wanted {
                self.actions.push_back(Action::Resolved { iface, ip, mac });
            }
        }
        let q = std::mem::take(&mut e.queue);
        self.queued -= q.len();
        self.stats.released += q.len() as u64;
        for pkt in q {
            self.actions.push_back(Action::Release { iface, mac, pkt });
        }
    }

    /// Forgets every entry of `iface` (the interface went away) without actions; returns
    /// the packets that were queued on them.
    pub fn flush_iface(&mut self, iface: usize) -> Vec<P> {
        let keys: Vec<(usize, A)> = self
            .entries
            .keys()
            .filter(|(i, _)| *i == iface)
            .copied()
            .collect();
        let mut pkts = Vec::new();
        for k in keys {
            if let Some(e) = self.entries.remove(&k) {
                self.queued -= e.queue.len();
                pkts.extend(e.queue);
                self.touched.push(k);
            }
        }
        pkts
    }

    /// Every entry with a MAC: (iface, address, MAC, state), for listings.
    pub fn entries(&self) -> impl Iterator<Item = (usize, A, Option<[u8; 6]>, NeighborState)> + '_ {
        self.entries
            .iter()
            .map(|((i, a), e)| (*i, *a, e.mac, e.state))
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next (a scan of every
    /// entry: for tests and small tables; the appliance follows each entry's deadline with
    /// [`poll_timer_update`](Self::poll_timer_update) instead).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.values().map(deadline).min()
    }

    /// The next entry whose deadline may have changed, with its deadline now (`None`: the
    /// entry is gone). A driver that keeps one timer per entry re-arms it with this and
    /// calls [`handle_entry_timeout`](Self::handle_entry_timeout) when it fires.
    pub fn poll_timer_update(&mut self) -> Option<((usize, A), Option<Instant>)> {
        let k = self.touched.pop()?;
        Some((k, self.entries.get(&k).map(deadline)))
    }

    /// Runs every timer due at `now` (a scan of every entry; see
    /// [`handle_entry_timeout`](Self::handle_entry_timeout)).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(usize, A)> = self
            .entries
            .iter()
            .filter(|(_, e)| deadline(e) <= now)
            .map(|(k, _)| *k)
            .collect();
        for (iface, ip) in due {
            self.handle_entry_timeout(now, iface, ip);
        }
    }

    /// Runs the timer of one entry if it is due at `now`.
    pub fn handle_entry_timeout(&mut self, now: Instant, iface: usize, ip: A) {
        let cfg = self.cfg;
        let Some(e) = self.entries.get_mut(&(iface, ip)) else {
            return;
        };
        let mut gone = None;
        match e.state {
            NeighborState::Incomplete { sent, next } if next <= now => {
                if sent >= cfg.max_multicast {
                    gone = Some(true);
                } else {
                    self.stats.solicits += 1;
                    self.actions.push_back(Action::Solicit {
                        iface,
                        target: ip,
                        unicast: None,
                    });
                    e.state = NeighborState::Incomplete {
                        sent: sent + 1,
                        next: now + cfg.retrans_time,
                    };
                }
            }
            NeighborState::Probe { sent, next } if next <= now => {
                if sent >= cfg.max_unicast {
                    gone = Some(true);
                } else {
                    self.stats.solicits += 1;
                    self.actions.push_back(Action::Solicit {
                        iface,
                        target: ip,
                        unicast: e.mac,
                    });
                    e.state = NeighborState::Probe {
                        sent: sent + 1,
                        next: now + cfg.retrans_time,
                    };
                }
            }
            NeighborState::Reachable { until } if until <= now => {
                if e.wanted {
                    // DELAY skipped, see the module documentation: first probe now.
                    self.stats.solicits += 1;
                    self.actions.push_back(Action::Solicit {
                        iface,
                        target: ip,
                        unicast: e.mac,
                    });
                    e.state = NeighborState::Probe {
                        sent: 1,
                        next: now + cfg.retrans_time,
                    };
                } else {
                    e.state = NeighborState::Stale {
                        gc: now + cfg.stale_gc,
                    };
                }
            }
            NeighborState::Stale { gc } if gc <= now => gone = Some(e.wanted),
            _ => return,
        }
        self.touched.push((iface, ip));
        let Some(report) = gone else {
            return;
        };
        if let Some(e) = self.entries.remove(&(iface, ip)) {
            self.queued -= e.queue.len();
            if report {
                self.stats.failed += 1;
                self.actions.push_back(Action::Failed {
                    iface,
                    ip,
                    pkts: e.queue.into_iter().collect(),
                });
            } else {
                self.stats.expired += 1;
            }
        }
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action<A, P>> {
        self.actions.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    type T = NeighborTable<Ipv4Addr, u32>;
    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn drain(t: &mut T) -> Vec<Action<Ipv4Addr, u32>> {
        std::iter::from_fn(|| t.poll_action()).collect()
    }

    fn solicits(a: &[Action<Ipv4Addr, u32>]) -> usize {
        a.iter()
            .filter(|a| matches!(a, Action::Solicit { .. }))
            .count()
    }

    #[test]
    fn per_entry_timers_follow_the_state_machine() {
        let t0 = Instant::now();
        let mut t = T::new(NeighborConfig::default());
        t.resolve(t0, 0, IP, None).unwrap();
        assert_eq!(solicits(&drain(&mut t)), 1);
        // The driver learns the entry's deadline: the next solicitation.
        let mut next = None;
        while let Some((k, at)) = t.poll_timer_update() {
            assert_eq!(k, (0, IP));
            next = at;
        }
        let next = next.expect("armed");
        assert_eq!(next, t0 + Duration::from_secs(1));
        // Firing early does nothing; on time it solicits again and moves the deadline.
        t.handle_entry_timeout(t0, 0, IP);
        assert!(drain(&mut t).is_empty());
        t.handle_entry_timeout(next, 0, IP);
        assert_eq!(solicits(&drain(&mut t)), 1);
        assert_eq!(
            t.poll_timer_update(),
            Some(((0, IP), Some(next + Duration::from_secs(1))))
        );
        // After the last solicitation the entry fails and its timer goes.
        let mut at = next + Duration::from_secs(1);
        loop {
            t.handle_entry_timeout(at, 0, IP);
            if t.state(0, IP).is_none() {
                break;
            }
            at += Duration::from_secs(1);
        }
        assert!(drain(&mut t)
            .iter()
            .any(|a| matches!(a, Action::Failed { .. })));
        let last = std::iter::from_fn(|| t.poll_timer_update()).last();
        assert_eq!(last, Some(((0, IP), None)));
    }

    #[test]
    fn resolution_queues_then_releases_in_order() {
        let t0 = Instant::now();
        let mut t = T::new(NeighborConfig::default());
        t.resolve(t0, 0, IP, Some(1)).unwrap();
        t.resolve(t0, 0, IP, Some(2)).unwrap();
        let a = drain(&mut t);
        assert_eq!(
            a,
            vec![Action::Solicit {
                iface: 0,
                target: IP,
                unicast: None
            }]
        );
        assert_eq!(t.queued(), 2);
        t.learn(t0 + Duration::from_millis(3), 0, IP, MAC, true, false);
        let a = drain(&mut t);
        assert_eq!(
            a,
            vec![
                Action::Resolved {
                    iface: 0,
                    ip: IP,
                    mac: MAC
                },
                Action::Release {
                    iface: 0,
                    mac: MAC,
                    pkt: 1
                },
                Action::Release {
                    iface: 0,
                    mac: MAC,
                    pkt: 2
                },
            ]
        );
        assert_eq!(t.queued(), 0);
        assert_eq!(t.lookup(0, IP), Some(MAC));
        assert!(matches!(
            t.state(0, IP),
            Some(NeighborState::Reachable { .. })
        ));
        // Known now: released at once.
        t.resolve(t0, 0, IP, Some(3)).unwrap();
        assert_eq!(
            drain(&mut t),
            vec![Action::Release {
                iface: 0,
                mac: MAC,
                pkt: 3
            }]
        );
    }

    #[test]
    fn retries_then_fails_with_the_queued_packets() {
        let t0 = Instant::now();
        let cfg = NeighborConfig::default();
        let mut t = T::new(cfg);
        t.resolve(t0, 1, IP, Some(7)).unwrap();
        let mut sent = solicits(&drain(&mut t));
        let mut now = t0;
        let mut failed = None;
        for _ in 0..10 {
            now = t.poll_timeout().expect("a timer is pending");
            t.handle_timeout(now);
            for a in drain(&mut t) {
                match a {
                    Action::Solicit { unicast: None, .. } => sent += 1,
                    Action::Failed { iface, ip, pkts } => failed = Some((iface, ip, pkts)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if failed.is_some() {
                break;
            }
        }
        assert_eq!(
            sent,
            usize::from(cfg.max_multicast),
            "RFC 4861 MAX_MULTICAST_SOLICIT"
        );
        assert_eq!(failed, Some((1, IP, vec![7])));
        assert_eq!(now, t0 + cfg.retrans_time * u32::from(cfg.max_multicast));
        assert!(t.is_empty());
        assert_eq!(t.queued(), 0);
        assert_eq!(t.stats.failed, 1);
    }

    #[test]
    fn queue_overflow_hands_packets_back_and_counts() {
        let t0 = Instant::now();
        let cfg = NeighborConfig {
            queue_per_entry: 2,
            queue_total: 3,
            ..NeighborConfig::default()
        };
        let mut t = T::new(cfg);
        assert!(t.resolve(t0, 0, IP, Some(1)).is_ok());
        assert!(t.resolve(t0, 0, IP, Some(2)).is_ok());
        assert_eq!(t.resolve(t0, 0, IP, Some(3)), Err(3), "per-entry limit");
        let other = Ipv4Addr::new(10, 0, 0, 3);
        assert!(t.resolve(t0, 0, other, Some(4)).is_ok());
        assert_eq!(
            t.resolve(t0, 0, Ipv4Addr::new(10, 0, 0, 4), Some(5)),
            Err(5),
            "table limit"
        );
        assert_eq!(t.stats.queue_overflow, 2);
        assert_eq!(t.queued(), 3);
    }

    #[test]
    fn wanted_entries_are_probed_and_withdrawn_when_silent() {
        let t0 = Instant::now();
        let cfg = NeighborConfig::default();
        let mut t = T::new(cfg);
        t.resolve(t0, 0, IP, None).unwrap();
        t.learn(t0, 0, IP, MAC, true, false);
        drain(&mut t);
        // Reachable time passes: unicast probes follow.
        let now = t0 + cfg.reachable_time;
        t.handle_timeout(now);
        let a = drain(&mut t);
        assert_eq!(
            a,
            vec![Action::Solicit {
                iface: 0,
                target: IP,
                unicast: Some(MAC)
            }]
        );
        assert_eq!(t.lookup(0, IP), Some(MAC), "still usable while probing");
        // An answer makes it reachable again.
        t.learn(now + Duration::from_millis(10), 0, IP, MAC, true, false);
        assert!(drain(&mut t).is_empty(), "same MAC: nothing to republish");
        assert!(matches!(
            t.state(0, IP),
            Some(NeighborState::Reachable { .. })
        ));
        // Silence this time: max_unicast probes, then withdrawn.
        let mut probes = 0;
        let mut withdrawn = false;
        while !withdrawn {
            let now = t.poll_timeout().unwrap();
            t.handle_timeout(now);
            for a in drain(&mut t) {
                match a {
                    Action::Solicit {
                        unicast: Some(m), ..
                    } => {
                        assert_eq!(m, MAC);
                        probes += 1
                    }
                    Action::Failed { pkts, .. } => {
                        assert!(pkts.is_empty());
                        withdrawn = true
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(probes, usize::from(cfg.max_unicast));
        assert_eq!(t.lookup(0, IP), None);
    }

    #[test]
    fn learned_entries_age_out_quietly_and_mac_changes_republish() {
        let t0 = Instant::now();
        let cfg = NeighborConfig::default();
        let mut t = T::new(cfg);
        // A host asked for us: learned, not wanted, not published.
        t.learn(t0, 0, IP, MAC, false, true);
        assert!(drain(&mut t).is_empty());
        assert!(matches!(t.state(0, IP), Some(NeighborState::Stale { .. })));
        // Not created from unsolicited traffic when `create` is false.
        t.learn(t0, 0, Ipv4Addr::new(10, 0, 0, 9), MAC, false, false);
        assert_eq!(t.len(), 1);
        t.handle_timeout(t0 + cfg.stale_gc);
        assert!(drain(&mut t).is_empty());
        assert!(t.is_empty());
        assert_eq!(t.stats.expired, 1);
        // A wanted entry whose MAC changes is republished.
        t.resolve(t0, 0, IP, None).unwrap();
        t.learn(t0, 0, IP, MAC, true, false);
        drain(&mut t);
        let mac2 = [2, 0, 0, 0, 0, 0x22];
        t.learn(t0, 0, IP, mac2, false, false);
        assert_eq!(
            drain(&mut t),
            vec![Action::Resolved {
                iface: 0,
                ip: IP,
                mac: mac2
            }]
        );
    }

    #[test]
    fn table_size_is_bounded() {
        let t0 = Instant::now();
        let cfg = NeighborConfig {
            max_entries: 2,
            ..NeighborConfig::default()
        };
        let mut t = T::new(cfg);
        t.learn(t0, 0, Ipv4Addr::new(10, 0, 0, 1), MAC, false, true);
        t.learn(t0, 0, Ipv4Addr::new(10, 0, 0, 2), MAC, false, true);
        t.learn(t0, 0, Ipv4Addr::new(10, 0, 0, 3), MAC, false, true);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.resolve(t0, 0, Ipv4Addr::new(10, 0, 0, 4), Some(9)),
            Err(9)
        );
        assert_eq!(t.stats.table_full, 2);
        // Known entries still update.
        t.learn(
            t0,
            0,
            Ipv4Addr::new(10, 0, 0, 1),
            [2, 0, 0, 0, 0, 9],
            true,
            false,
        );
        assert_eq!(
            t.lookup(0, Ipv4Addr::new(10, 0, 0, 1)),
            Some([2, 0, 0, 0, 0, 9])
        );
    }

    #[test]
    fn interfaces_are_separate() {
        let t0 = Instant::now();
        let mut t = T::new(NeighborConfig::default());
        t.resolve(t0, 0, IP, Some(1)).unwrap();
        t.learn(t0, 1, IP, MAC, true, false);
        assert_eq!(
            t.lookup(0, IP),
            None,
            "same address on another interface (another VR)"
        );
        assert_eq!(t.queued(), 1);
    }
}
