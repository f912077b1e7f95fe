//! Sans-IO discovery engine of one router (`docs/protocols/vr-discovery.md` §5–6).
//!
//! Inputs: [`Engine::add_vr`] / [`Engine::remove_vr`] (a local VR of a VPN appears or goes),
//! [`Engine::handle_input`] (a datagram arrived), [`Engine::handle_timeout`]. Outputs:
//! [`Engine::poll_transmit`] (datagrams to a provider router, port chosen by the driver),
//! [`Engine::poll_timeout`], [`Engine::poll_event`] (peer VR learnt / lost) and
//! [`Engine::counters`]. The engine keeps the configuration map of each local VR
//! ([`Engine::config_map`]). One router hosts at most one VR per VPN.
//!
//! Additions and withdrawals go to every provider router and are retransmitted until ACKed
//! or `max_attempts`; per peer VR only the newest statement (highest sender sequence) is
//! applied, so reordering cannot undo a later change; every `Config::refresh` period the
//! local VRs (and recent withdrawals) are re-announced, which repairs exchanges whose every
//! transmission was lost. Deadlines live in ordered sets (O(log n) per timer).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::wire::{kind, Error as WireError, KeyId, ReplayWindow, Repr, VpnKey};

/// Static configuration of an engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// This router's id (its loopback address in the provider network).
    pub router_id: Ipv4Addr,
    /// The provider routers that additions are sent to ("all routers"); our own id is skipped.
    pub routers: Vec<Ipv4Addr>,
    /// First sequence number; the driver passes wall-clock microseconds since the epoch so
    /// a restarted router resumes above what peers have seen.
    pub seq_start: u64,
    /// First retransmission interval.
    pub rto_initial: Duration,
    /// Cap of the doubling retransmission interval.
    pub rto_max: Duration,
    /// Transmissions of one addition or withdrawal before giving up (first one included).
    pub max_attempts: u32,
    /// Period of the re-announcement: every local VR re-sends its addition, and every VR
    /// withdrawn during the last [`Config::withdrawal_rounds`] periods its withdrawal, to every
    /// provider router (each with the full retransmission schedule). It repairs what the
    /// retransmissions could not (a partition longer than 47 s, every copy lost). `None`
    /// disables it.
    pub refresh: Option<Duration>,
    /// Re-announcement rounds a withdrawal is repeated in before it is forgotten.
    pub withdrawal_rounds: u32,
}

impl Config {
    /// Defaults of the doc: 1 s doubling to 16 s, 6 transmissions.
    pub fn new(router_id: Ipv4Addr, routers: Vec<Ipv4Addr>, seq_start: u64) -> Config {
        Config {
            router_id,
            routers,
            seq_start,
            rto_initial: Duration::from_secs(1),
            rto_max: Duration::from_secs(16),
            max_attempts: 6,
            refresh: Some(Duration::from_secs(300)),
            withdrawal_rounds: 2,
        }
    }
}

/// A datagram to send to a provider router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination router id.
    pub dst: Ipv4Addr,
    /// The sealed message.
    pub payload: Vec<u8>,
}

/// Changes of a local VR's configuration map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The VR of `vpn_id` on `router` at `addr` joined our VR's map.
    PeerLearnt {
        vpn_id: u32,
        router: Ipv4Addr,
        addr: IpAddr,
    },
    /// It left the map (withdrawal received, or replaced by a new address).
    PeerLost {
        vpn_id: u32,
        router: Ipv4Addr,
        addr: IpAddr,
    },
}

/// Configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("VPN {0} has no discovery key")]
    NoKey(u32),
    #[error("VPN {0} already has a local VR on this router")]
    DuplicateVr(u32),
    #[error("VPN {0} has no local VR on this router")]
    NoVr(u32),
    #[error("the key of VPN {0} has the key id of VPN {1}'s (same secret)")]
    KeyIdClash(u32, u32),
    #[error(transparent)]
    Key(#[from] WireError),
}

/// Named counters; every dropped datagram increments exactly one `rx_*` drop counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Authentic, fresh messages processed.
    pub rx_ok: u64,
    /// Too short, bad version, type or Length.
    pub rx_malformed: u64,
    /// Key id of no VPN we hold a key for (includes forgeries with made-up key ids).
    pub rx_unknown_key: u64,
    /// Tag check failed (wrong key, altered) or the decrypted body is invalid.
    pub rx_bad_auth: u64,
    /// Sequence replayed or older than the window.
    pub rx_replay: u64,
    /// Sender router not in the configured provider router list, or ourselves.
    pub rx_unknown_router: u64,
    /// Authentic message of a VPN we hold the key of but have no VR in (we stay silent).
    pub rx_no_local_vr: u64,
    /// ACK that answers nothing outstanding (late or duplicate).
    pub rx_ack_unmatched: u64,
    /// Additions sent (retransmissions included).
    pub tx_addition: u64,
    /// ACKs sent.
    pub tx_ack: u64,
    /// Withdrawals sent (retransmissions included).
    pub tx_withdrawal: u64,
    /// Retransmissions among the above.
    pub retransmits: u64,
    /// Additions or withdrawals abandoned after `max_attempts` without an ACK.
    pub gave_up: u64,
    /// Authentic, fresh messages older (by the sender's sequence) than the state already
    /// applied for that peer VR: answered but not applied (reordering, see the doc §6).
    pub rx_superseded: u64,
    /// Re-announcement rounds run (one per local or recently withdrawn VR per period).
    pub refreshes: u64,
    /// Map entries dropped because their control channel's hold time expired.
    pub expired: u64,
}

/// When a VPN's VR is next re-announced, and how (doc §6, re-announcement).
#[derive(Debug, Clone, Copy)]
struct Refresh {
    next: Instant,
    /// `None`: the VR exists (addition); `Some(n)`: withdrawn, `n` rounds left.
    withdrawn: Option<u32>,
    addr: IpAddr,
}

#[derive(Debug)]
struct Pending {
    msg_type: u8,
    addr: IpAddr,
    /// Sequences of every transmission so far (an ACK may answer any of them).
    seqs: Vec<u64>,
    attempts: u32,
    rto: Duration,
    deadline: Instant,
}

/// Discovery engine of one router.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    keys: BTreeMap<u32, VpnKey>,
    by_key_id: HashMap<KeyId, u32>,
    seq: u64,
    /// Local VR address per VPN.
    local: BTreeMap<u32, IpAddr>,
    /// Configuration map per local VR: peer router → peer VR address.
    maps: BTreeMap<u32, BTreeMap<Ipv4Addr, IpAddr>>,
    /// Outstanding additions/withdrawals per (VPN, destination router).
    pending: BTreeMap<(u32, Ipv4Addr), Pending>,
    /// The pending entries by deadline, so that finding what is due costs O(log n) and not
    /// a scan of every pending entry (1,000 VRs × 9 routers after a PE joins).
    deadlines: BTreeSet<(Instant, u32, Ipv4Addr)>,
    /// Replay windows per (VPN, sender router).
    replay: HashMap<(u32, Ipv4Addr), ReplayWindow>,
    /// Sequence of the newest addition, withdrawal or ACK applied to a map per (VPN, peer
    /// router): an older statement about the same peer VR (reordered) is not applied.
    applied: HashMap<(u32, Ipv4Addr), u64>,
    /// Re-announcement schedule per VPN (local VRs and recent withdrawals).
    refresh: BTreeMap<u32, Refresh>,
    /// The same by time.
    refresh_due: BTreeSet<(Instant, u32)>,
    tx: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Engine {
    /// A new engine with no keys and no VRs.
    ///
    /// A zero `rto_initial` is raised to 1 ms (a zero interval would retransmit in a loop);
    /// a zero `refresh` disables the re-announcement.
    pub fn new(mut cfg: Config) -> Engine {
        cfg.rto_initial = cfg.rto_initial.max(Duration::from_millis(1));
        cfg.rto_max = cfg.rto_max.max(cfg.rto_initial);
        Engine {
            seq: cfg.seq_start,
            cfg,
            keys: BTreeMap::new(),
            by_key_id: HashMap::new(),
            local: BTreeMap::new(),
            maps: BTreeMap::new(),
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            replay: HashMap::new(),
            applied: HashMap::new(),
            refresh: BTreeMap::new(),
            refresh_due: BTreeSet::new(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// Installs (or replaces) the discovery key of `vpn_id`, derived from `secret`.
    pub fn set_key(&mut self, vpn_id: u32, secret: &[u8]) -> Result<(), ConfigError> {
        let key = VpnKey::derive(secret)?;
        if let Some(&other) = self.by_key_id.get(&key.id()) {
            if other != vpn_id {
                return Err(ConfigError::KeyIdClash(vpn_id, other));
            }
        }
        if let Some(old) = self.keys.remove(&vpn_id) {
            self.by_key_id.remove(&old.id());
        }
        self.by_key_id.insert(key.id(), vpn_id);
        self.keys.insert(vpn_id, key);
        Ok(())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(
        &mut self,
        dst: Ipv4Addr,
        msg_type: u8,
        vpn_id: u32,
        addr: IpAddr,
        ack_seq: u64,
    ) -> u64 {
        let seq = self.next_seq();
        let repr = Repr {
            msg_type,
            sender: self.cfg.router_id,
            seq,
            vpn_id,
            ack_seq,
            vr_addr: addr,
        };
        // Only called for VPNs with a key, with valid fields: sealing cannot fail.
        if let Some(Ok(payload)) = self.keys.get(&vpn_id).map(|k| repr.seal(k)) {
            match msg_type {
                kind::ADDITION => self.counters.tx_addition += 1,
                kind::ACK => self.counters.tx_ack += 1,
                _ => self.counters.tx_withdrawal += 1,
            }
            self.tx.push_back(Transmit { dst, payload });
        }
        seq
    }

    fn start(&mut self, now: Instant, vpn_id: u32, dst: Ipv4Addr, msg_type: u8, addr: IpAddr) {
        let seq = self.send(dst, msg_type, vpn_id, addr, 0);
        let rto = self.cfg.rto_initial;
        self.unpend(vpn_id, dst);
        self.deadlines.insert((now + rto, vpn_id, dst));
        self.pending.insert(
            (vpn_id, dst),
            Pending {
                msg_type,
                addr,
                seqs: vec![seq],
                attempts: 1,
                rto,
                deadline: now + rto,
            },
        );
    }

    /// Drops the pending entry of (VPN, router), if any, with its deadline.
    fn unpend(&mut self, vpn_id: u32, dst: Ipv4Addr) -> Option<Pending> {
        let p = self.pending.remove(&(vpn_id, dst))?;
        self.deadlines.remove(&(p.deadline, vpn_id, dst));
        Some(p)
    }

    /// A local VR of `vpn_id` at `addr` was added: send an addition to every provider router.
    pub fn add_vr(&mut self, now: Instant, vpn_id: u32, addr: IpAddr) -> Result<(), ConfigError> {
        if !self.keys.contains_key(&vpn_id) {
            return Err(ConfigError::NoKey(vpn_id));
        }
        if self.local.contains_key(&vpn_id) {
            return Err(ConfigError::DuplicateVr(vpn_id));
        }
        self.local.insert(vpn_id, addr);
        self.maps.insert(vpn_id, BTreeMap::new());
        for dst in self.others() {
            // Replaces any withdrawal still outstanding for this VPN.
            self.start(now, vpn_id, dst, kind::ADDITION, addr);
        }
        self.schedule_refresh(now, vpn_id, None, addr);
        Ok(())
    }

    /// Every provider router but ourselves.
    fn others(&self) -> Vec<Ipv4Addr> {
        let me = self.cfg.router_id;
        self.cfg
            .routers
            .iter()
            .copied()
            .filter(|r| *r != me)
            .collect()
    }

    fn schedule_refresh(
        &mut self,
        now: Instant,
        vpn_id: u32,
        withdrawn: Option<u32>,
        addr: IpAddr,
    ) {
        if let Some(old) = self.refresh.remove(&vpn_id) {
            self.refresh_due.remove(&(old.next, vpn_id));
        }
        match self.cfg.refresh {
            Some(period) if !period.is_zero() && withdrawn != Some(0) => {
                let next = now + period;
                self.refresh_due.insert((next, vpn_id));
                self.refresh.insert(
                    vpn_id,
                    Refresh {
                        next,
                        withdrawn,
                        addr,
                    },
                );
            }
            _ => {}
        }
    }

    /// Re-announces what is due: the addition of each local VR, the withdrawal of each VR
    /// withdrawn in the last rounds, to every router without an outstanding message of the
    /// VPN (an outstanding one is already being retransmitted).
    fn run_refresh(&mut self, now: Instant) {
        while let Some(&(next, vpn_id)) = self.refresh_due.first() {
            if next > now {
                break;
            }
            let Some(&r) = self.refresh.get(&vpn_id) else {
                self.refresh_due.pop_first();
                continue;
            };
            self.counters.refreshes += 1;
            let msg_type = if r.withdrawn.is_some() {
                kind::WITHDRAWAL
            } else {
                kind::ADDITION
            };
            for dst in self.others() {
                if !self.pending.contains_key(&(vpn_id, dst)) {
                    self.start(now, vpn_id, dst, msg_type, r.addr);
                }
            }
            self.schedule_refresh(now, vpn_id, r.withdrawn.map(|n| n - 1), r.addr);
        }
    }

    /// The local VR of `vpn_id` was deleted: drop its map and send a withdrawal to every
    /// provider router (retransmitted until ACKed, repeated by the re-announcement).
    ///
    /// Every router, not only those of the map: a router may have learnt us from an addition
    /// whose ACK we have not received (yet, or ever), so it is not in our map.
    pub fn remove_vr(&mut self, now: Instant, vpn_id: u32) -> Result<(), ConfigError> {
        let addr = self
            .local
            .remove(&vpn_id)
            .ok_or(ConfigError::NoVr(vpn_id))?;
        let outstanding: Vec<Ipv4Addr> = self
            .pending
            .range((vpn_id, Ipv4Addr::UNSPECIFIED)..=(vpn_id, Ipv4Addr::BROADCAST))
            .map(|((_, r), _)| *r)
            .collect();
        for r in outstanding {
            self.unpend(vpn_id, r);
        }
        self.maps.remove(&vpn_id);
        for dst in self.others() {
            self.start(now, vpn_id, dst, kind::WITHDRAWAL, addr);
        }
        let rounds = self.cfg.withdrawal_rounds;
        self.schedule_refresh(now, vpn_id, Some(rounds), addr);
        Ok(())
    }

    /// A datagram arrived on the discovery port.
    pub fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        let p = match super::wire::Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(_) => {
                self.counters.rx_malformed += 1;
                return;
            }
        };
        let Some(&vpn_id) = self.by_key_id.get(&p.key_id()) else {
            self.counters.rx_unknown_key += 1;
            return;
        };
        let sender = p.sender();
        if sender == self.cfg.router_id || !self.cfg.routers.contains(&sender) {
            self.counters.rx_unknown_router += 1;
            return;
        }
        let Some(key) = self.keys.get(&vpn_id) else {
            self.counters.rx_unknown_key += 1;
            return;
        };
        let Ok(m) = Repr::open(&p, key) else {
            self.counters.rx_bad_auth += 1;
            return;
        };
        if m.vpn_id != vpn_id {
            // Authentic under our key but naming another VPN: same secret misconfigured.
            self.counters.rx_bad_auth += 1;
            return;
        }
        if !self
            .replay
            .entry((vpn_id, sender))
            .or_default()
            .accept(m.seq)
        {
            self.counters.rx_replay += 1;
            return;
        }
        if m.msg_type == kind::ACK {
            // Matched against what is outstanding, so an ACK of our withdrawal is taken even
            // though our VR is gone.
            let matched = self
                .pending
                .get(&(vpn_id, sender))
                .is_some_and(|p| p.seqs.contains(&m.ack_seq));
            if !matched {
                self.counters.rx_ack_unmatched += 1;
                return;
            }
            self.counters.rx_ok += 1;
            if let Some(p) = self.unpend(vpn_id, sender) {
                if p.msg_type == kind::ADDITION && self.newest(vpn_id, sender, m.seq) {
                    self.learn(vpn_id, sender, m.vr_addr);
                }
            }
            return;
        }
        let Some(&local) = self.local.get(&vpn_id) else {
            self.counters.rx_no_local_vr += 1;
            return;
        };
        self.counters.rx_ok += 1;
        // Answered even when superseded, so that the sender stops retransmitting it.
        if self.newest(vpn_id, sender, m.seq) {
            if m.msg_type == kind::ADDITION {
                self.learn(vpn_id, sender, m.vr_addr);
            } else {
                self.forget(vpn_id, sender, m.vr_addr);
            }
        }
        self.send(sender, kind::ACK, vpn_id, local, m.seq);
    }

    /// Whether `seq` is the newest statement of `sender` about its VR of `vpn_id` (and then
    /// records it). A sender's sequence grows with every message, so the message with the
    /// highest sequence describes its current state; an older one that arrives late (the
    /// network reordered an addition after the withdrawal that followed it) is not applied.
    fn newest(&mut self, vpn_id: u32, sender: Ipv4Addr, seq: u64) -> bool {
        let last = self.applied.entry((vpn_id, sender)).or_insert(0);
        if seq <= *last {
            self.counters.rx_superseded += 1;
            return false;
        }
        *last = seq;
        true
    }

    fn learn(&mut self, vpn_id: u32, router: Ipv4Addr, addr: IpAddr) {
        let Some(map) = self.maps.get_mut(&vpn_id) else {
            return;
        };
        match map.insert(router, addr) {
            Some(old) if old == addr => {}
            old => {
                if let Some(old) = old {
                    self.events.push_back(Event::PeerLost {
                        vpn_id,
                        router,
                        addr: old,
                    });
                }
                self.events.push_back(Event::PeerLearnt {
                    vpn_id,
                    router,
                    addr,
                });
            }
        }
    }

    fn forget(&mut self, vpn_id: u32, router: Ipv4Addr, addr: IpAddr) {
        let Some(map) = self.maps.get_mut(&vpn_id) else {
            return;
        };
        if map.get(&router) == Some(&addr) {
            map.remove(&router);
            self.events.push_back(Event::PeerLost {
                vpn_id,
                router,
                addr,
            });
        }
    }

    /// Drops `router` from the map of the local VR of `vpn_id` (an [`Event::PeerLost`])
    /// because the control channel to its VR stayed silent for the hold time (seed 001
    /// Fig. 10). Its next addition (a restart, a re-announcement) is learnt again: it
    /// carries a higher sequence. Returns whether the map held it.
    pub fn expire_peer(&mut self, vpn_id: u32, router: Ipv4Addr) -> bool {
        let Some(addr) = self.maps.get(&vpn_id).and_then(|m| m.get(&router)).copied() else {
            return false;
        };
        self.forget(vpn_id, router, addr);
        self.counters.expired += 1;
        true
    }

    /// Retransmits what is due (new sequence, doubled interval), gives up after
    /// `max_attempts` transmissions, and runs the re-announcements that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_refresh(now);
        while let Some(&(deadline, vpn_id, dst)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(p) = self
                .pending
                .get(&(vpn_id, dst))
                .filter(|p| p.deadline == deadline)
            else {
                continue;
            };
            if p.attempts >= self.cfg.max_attempts {
                self.pending.remove(&(vpn_id, dst));
                self.counters.gave_up += 1;
                continue;
            }
            let (msg_type, addr) = (p.msg_type, p.addr);
            let seq = self.send(dst, msg_type, vpn_id, addr, 0);
            self.counters.retransmits += 1;
            let max = self.cfg.rto_max;
            if let Some(p) = self.pending.get_mut(&(vpn_id, dst)) {
                p.seqs.push(seq);
                p.attempts += 1;
                p.rto = (p.rto * 2).min(max);
                p.deadline = now + p.rto;
                self.deadlines.insert((p.deadline, vpn_id, dst));
            }
        }
    }

    /// When [`Engine::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.deadlines.first().map(|d| d.0);
        let refresh = self.refresh_due.first().map(|d| d.0);
        match (retransmit, refresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop_front()
    }

    /// Next configuration-map change.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Configuration map of the local VR of `vpn_id`: peer router id → peer VR address.
    pub fn config_map(&self, vpn_id: u32) -> Option<&BTreeMap<Ipv4Addr, IpAddr>> {
        self.maps.get(&vpn_id)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// This router's id.
    pub fn router_id(&self) -> Ipv4Addr {
        self.cfg.router_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u32 = 100;
    const B: u32 = 200;
    const KA: &[u8] = b"secret of VPN A, 32 bytes long!";
    const KB: &[u8] = b"secret of VPN B, 32 bytes long!";

    fn r(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, n)
    }
    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Engines without re-announcement (the tests that need it turn it on).
    fn engines(n: u8) -> Vec<Engine> {
        let all: Vec<Ipv4Addr> = (1..=n).map(r).collect();
        (1..=n)
            .map(|i| {
                let mut c = Config::new(r(i), all.clone(), 1000 * u64::from(i));
                c.refresh = None;
                Engine::new(c)
            })
            .collect()
    }

    fn keyed(n: u8) -> Vec<Engine> {
        let mut e = engines(n);
        for x in e.iter_mut() {
            x.set_key(A, KA).unwrap();
        }
        e
    }

    /// Hands `t` (sent by `from`) to its destination engine.
    fn deliver(e: &mut [Engine], now: Instant, t: &Transmit) {
        if let Some(j) = idx(e, t.dst) {
            e[j].handle_input(now, &t.payload);
        }
    }

    /// A peer whose control channel's hold time expired leaves the map (a `PeerLost`), and
    /// is learnt again from its next addition (its restart: a higher sequence).
    #[test]
    fn an_expired_peer_leaves_the_map_and_is_learnt_again() {
        let now = Instant::now();
        let mut e = keyed(2);
        e[0].add_vr(now, A, a("10.0.0.1")).unwrap();
        e[1].add_vr(now, A, a("10.0.0.2")).unwrap();
        run(&mut e, now, |_, _| false);
        while e[0].poll_event().is_some() {}
        assert!(e[0].config_map(A).unwrap().contains_key(&r(2)));
        assert!(!e[0].expire_peer(B, r(2)), "no VR of B here");
        assert!(e[0].expire_peer(A, r(2)));
        assert!(!e[0].expire_peer(A, r(2)), "already gone");
        assert!(e[0].config_map(A).unwrap().is_empty());
        assert_eq!(
            e[0].poll_event(),
            Some(Event::PeerLost {
                vpn_id: A,
                router: r(2),
                addr: a("10.0.0.2")
            })
        );
        assert_eq!(e[0].counters().expired, 1);
        // Router 2 restarts (a new engine, a later sequence start) and announces again.
        let mut c = Config::new(r(2), vec![r(1), r(2)], 1_000_000);
        c.refresh = None;
        e[1] = Engine::new(c);
        e[1].set_key(A, KA).unwrap();
        e[1].add_vr(now, A, a("10.0.0.2")).unwrap();
        run(&mut e, now, |_, _| false);
        assert_eq!(e[0].config_map(A).unwrap().get(&r(2)), Some(&a("10.0.0.2")));
        assert!(matches!(e[0].poll_event(), Some(Event::PeerLearnt { .. })));
    }

    fn drain(e: &mut Engine) -> Vec<Transmit> {
        std::iter::from_fn(|| e.poll_transmit()).collect()
    }

    fn idx(e: &[Engine], id: Ipv4Addr) -> Option<usize> {
        e.iter().position(|x| x.router_id() == id)
    }

    /// Delivers every queued datagram (and what it triggers) until quiet; `drop` decides
    /// per (from, transmit) whether to lose it. Returns all datagrams seen.
    fn run(
        e: &mut [Engine],
        now: Instant,
        mut drop: impl FnMut(Ipv4Addr, &Transmit) -> bool,
    ) -> Vec<(Ipv4Addr, Transmit)> {
        let mut seen = Vec::new();
        loop {
            let mut moved = false;
            for i in 0..e.len() {
                while let Some(t) = e[i].poll_transmit() {
                    moved = true;
                    let from = e[i].router_id();
                    seen.push((from, t.clone()));
                    if drop(from, &t) {
                        continue;
                    }
                    if let Some(j) = idx(e, t.dst) {
                        e[j].handle_input(now, &t.payload);
                    }
                }
            }
            if !moved {
                return seen;
            }
        }
    }

    fn map(e: &Engine, vpn: u32) -> Vec<(Ipv4Addr, IpAddr)> {
        e.config_map(vpn)
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn two_routers_learn_each_other() {
        let t0 = Instant::now();
        let mut e = engines(2);
        for x in e.iter_mut() {
            x.set_key(A, KA).unwrap();
        }
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        run(&mut e, t0, |_, _| false);
        // Router 2 has no VR of A yet: it stays silent.
        assert_eq!(e[1].counters().tx_ack, 0);
        assert_eq!(e[1].counters().rx_no_local_vr, 1);
        assert!(map(&e[0], A).is_empty());
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        run(&mut e, t0, |_, _| false);
        assert_eq!(map(&e[0], A), vec![(r(2), a("10.0.0.2"))]);
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        assert_eq!(
            e[1].poll_event(),
            Some(Event::PeerLearnt {
                vpn_id: A,
                router: r(1),
                addr: a("10.0.0.1")
            })
        );
        // Router 1's addition to 2 is still outstanding (2 had no VR then); it gives up.
        let mut t = t0;
        while let Some(d) = e[0].poll_timeout() {
            t = d;
            e[0].handle_timeout(t);
            run(&mut e, t, |_, _| false);
        }
        // The retransmitted addition reached 2, which now ACKs it.
        assert_eq!(e[0].counters().gave_up, 0);
        assert!(t > t0);
    }

    #[test]
    fn three_routers_two_vpns_and_silence_of_others() {
        let t0 = Instant::now();
        let mut e = engines(3);
        for x in e.iter_mut() {
            x.set_key(A, KA).unwrap();
        }
        e[1].set_key(B, KB).unwrap();
        e[2].set_key(B, KB).unwrap();
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        e[1].add_vr(t0, B, a("10.0.0.2")).unwrap();
        run(&mut e, t0, |_, _| false);
        e[2].add_vr(t0, A, a("2001:db8::3")).unwrap();
        let seen = run(&mut e, t0, |_, _| false);
        // Router 1 does not hold B's key: it never answers a B message (none addressed
        // there anyway: router 3 has no B VR); router 3's A addition is ACKed by 1 and 2.
        assert_eq!(seen.iter().filter(|(f, _)| *f == r(3)).count(), 2);
        assert_eq!(
            map(&e[0], A),
            vec![(r(2), a("10.0.0.2")), (r(3), a("2001:db8::3"))]
        );
        assert_eq!(
            map(&e[2], A),
            vec![(r(1), a("10.0.0.1")), (r(2), a("10.0.0.2"))]
        );
        assert!(map(&e[1], B).is_empty());
        // B's additions reached 1 (no key: unknown key, silent) and 3 (key, no VR: silent).
        assert_eq!(e[0].counters().rx_unknown_key, 1);
        assert_eq!(e[2].counters().rx_no_local_vr, 3);
        assert!(e[0].config_map(B).is_none());
        // Router 3 adds a B VR: 2 and 3 learn each other in B, 1 learns nothing of B.
        e[2].add_vr(t0, B, a("10.9.0.3")).unwrap();
        run(&mut e, t0, |_, _| false);
        assert_eq!(map(&e[1], B), vec![(r(3), a("10.9.0.3"))]);
        assert_eq!(map(&e[2], B), vec![(r(2), a("10.0.0.2"))]);
        assert_eq!(e[0].counters().rx_unknown_key, 2);
        // Withdrawal: 2 removes its A VR; 1 and 3 forget it, B is untouched.
        e[1].remove_vr(t0, A).unwrap();
        run(&mut e, t0, |_, _| false);
        assert_eq!(map(&e[0], A), vec![(r(3), a("2001:db8::3"))]);
        assert_eq!(map(&e[2], A), vec![(r(1), a("10.0.0.1"))]);
        assert_eq!(map(&e[2], B), vec![(r(2), a("10.0.0.2"))]);
        assert!(!e[1].pending.keys().any(|(v, _)| *v == A));
    }

    #[test]
    fn router_without_the_key_learns_nothing_and_cannot_inject() {
        let t0 = Instant::now();
        let mut e = engines(3);
        e[0].set_key(A, KA).unwrap();
        e[1].set_key(A, KA).unwrap();
        // Router 3 guesses a key for VPN A.
        e[2].set_key(A, b"not the key of VPN A at all!!!").unwrap();
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        let seen = run(&mut e, t0, |_, _| false);
        assert!(e[2].config_map(A).is_none());
        assert_eq!(e[2].counters().rx_unknown_key, 2);
        // Whatever reached router 3 never shows VPN A's VR addresses in clear.
        for (_, t) in seen.iter().filter(|(_, t)| t.dst == r(3)) {
            assert!(!t.payload.windows(4).any(|w| w == [10, 0, 0, 1]));
        }
        // Its own VR with the wrong key: additions refused (unknown key id) and counted.
        e[2].add_vr(t0, A, a("10.6.6.6")).unwrap();
        run(&mut e, t0, |_, _| false);
        assert_eq!(e[0].counters().rx_unknown_key, 1);
        assert_eq!(e[1].counters().rx_unknown_key, 1);
        // A forgery that copies the right key id from an observed message fails the tag.
        let sniffed = &seen.iter().find(|(f, _)| *f == r(1)).unwrap().1.payload;
        let wrong = VpnKey::derive(b"not the key of VPN A at all!!!").unwrap();
        let mut forged = Repr {
            msg_type: kind::ADDITION,
            sender: r(3),
            seq: u64::MAX,
            vpn_id: A,
            ack_seq: 0,
            vr_addr: a("10.6.6.6"),
        }
        .seal(&wrong)
        .unwrap();
        forged[4..12].copy_from_slice(&sniffed[4..12]);
        e[1].handle_input(t0, &forged);
        assert_eq!(e[1].counters().rx_bad_auth, 1);
        assert_eq!(map(&e[0], A), vec![(r(2), a("10.0.0.2"))]);
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
    }

    #[test]
    fn replayed_addition_is_refused() {
        let t0 = Instant::now();
        let mut e = engines(2);
        for x in e.iter_mut() {
            x.set_key(A, KA).unwrap();
        }
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        run(&mut e, t0, |_, _| false);
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        let seen = run(&mut e, t0, |_, _| false);
        let addition = &seen.iter().find(|(f, _)| *f == r(1)).unwrap().1.payload;
        let acks = e[1].counters().tx_ack;
        e[1].handle_input(t0, addition);
        assert_eq!(e[1].counters().rx_replay, 1);
        assert_eq!(e[1].counters().tx_ack, acks, "a replay gets no answer");
        // Replaying a withdrawal-looking copy does nothing either: bytes are the same message.
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        // Malformed input is counted, not processed.
        e[1].handle_input(t0, &addition[..10]);
        assert_eq!(e[1].counters().rx_malformed, 1);
    }

    #[test]
    fn lost_ack_is_retransmitted_with_backoff() {
        let t0 = Instant::now();
        let mut e = engines(2);
        for x in e.iter_mut() {
            x.set_key(A, KA).unwrap();
        }
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        run(&mut e, t0, |_, _| false);
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        // Lose every ACK from router 2 the first time.
        run(&mut e, t0, |f, _| f == r(2));
        assert!(map(&e[0], A).is_empty());
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        let d = e[0].poll_timeout().unwrap();
        assert_eq!(d, t0 + Duration::from_secs(1));
        e[0].handle_timeout(d);
        run(&mut e, d, |_, _| false);
        assert_eq!(e[0].counters().retransmits, 1);
        assert_eq!(map(&e[0], A), vec![(r(2), a("10.0.0.2"))]);
        assert!(e[0].poll_timeout().is_none());
        // Router 2 answered the retransmission (a new sequence) again, without a new event.
        assert_eq!(e[1].counters().tx_ack, 2);
    }

    #[test]
    fn unanswered_addition_backs_off_then_gives_up() {
        let t0 = Instant::now();
        let mut e = engines(2);
        e[0].set_key(A, KA).unwrap();
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        let mut deadlines = Vec::new();
        while let Some(d) = e[0].poll_timeout() {
            deadlines.push(d - t0);
            e[0].handle_timeout(d);
            while e[0].poll_transmit().is_some() {}
        }
        let s = Duration::from_secs;
        assert_eq!(deadlines, vec![s(1), s(3), s(7), s(15), s(31), s(47)]);
        assert_eq!(e[0].counters().tx_addition, 6);
        assert_eq!(e[0].counters().gave_up, 1);
    }

    #[test]
    fn config_errors() {
        let t0 = Instant::now();
        let mut e = engines(2);
        assert_eq!(
            e[0].add_vr(t0, A, a("10.0.0.1")),
            Err(ConfigError::NoKey(A))
        );
        e[0].set_key(A, KA).unwrap();
        assert_eq!(e[0].set_key(B, KA), Err(ConfigError::KeyIdClash(B, A)));
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        assert_eq!(
            e[0].add_vr(t0, A, a("10.0.0.9")),
            Err(ConfigError::DuplicateVr(A))
        );
        assert_eq!(e[0].remove_vr(t0, B), Err(ConfigError::NoVr(B)));
    }
    /// Regression: a VR removed before the ACK of its addition arrived was never withdrawn
    /// from the router that had learnt it (withdrawals went only to the map's routers).
    #[test]
    fn removal_before_the_ack_still_withdraws() {
        let t0 = Instant::now();
        let mut e = keyed(2);
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        run(&mut e, t0, |_, _| false);
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        // Router 2 learns router 1 from the addition; its ACK is lost.
        run(&mut e, t0, |f, _| f == r(2));
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        assert!(map(&e[0], A).is_empty());
        e[0].remove_vr(t0, A).unwrap();
        run(&mut e, t0, |_, _| false);
        assert!(map(&e[1], A).is_empty(), "router 2 kept a withdrawn VR");
        assert!(e[0].poll_timeout().is_none());
    }

    /// Regression: a withdrawal delayed behind the re-addition that followed it removed a VR
    /// that exists (the older statement was applied last).
    #[test]
    fn reordered_withdrawal_does_not_remove_a_readded_vr() {
        let t0 = Instant::now();
        let mut e = keyed(2);
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        drain(&mut e[1]);
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        let add1 = drain(&mut e[0]);
        e[0].remove_vr(t0, A).unwrap();
        let withdraw = drain(&mut e[0]);
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        let add2 = drain(&mut e[0]);
        for t in add1.iter().chain(&add2).chain(&withdraw) {
            deliver(&mut e, t0, t);
        }
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        assert_eq!(e[1].counters().rx_superseded, 1);
        // The late withdrawal is still answered, so router 1 would stop retransmitting it.
        assert_eq!(e[1].counters().tx_ack, 3);
    }

    /// Regression: an ACK delayed behind the responder's withdrawal made the adder learn a
    /// VR that no longer exists.
    #[test]
    fn late_ack_after_the_withdrawal_is_not_learnt() {
        let t0 = Instant::now();
        let mut e = keyed(2);
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        drain(&mut e[1]);
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        for t in drain(&mut e[0]) {
            deliver(&mut e, t0, &t);
        }
        let ack = drain(&mut e[1]);
        e[1].remove_vr(t0, A).unwrap();
        for t in drain(&mut e[1]).iter().chain(&ack) {
            deliver(&mut e, t0, t);
        }
        assert!(
            map(&e[0], A).is_empty(),
            "learnt a withdrawn VR from a late ACK"
        );
        assert_eq!(e[0].counters().rx_superseded, 1);
    }

    /// Every copy lost for longer than the retransmissions last: the re-announcement finds
    /// the peer afterwards, and repeats a withdrawal whose copies were all lost.
    #[test]
    fn reannouncement_repairs_what_retransmission_gave_up() {
        let t0 = Instant::now();
        let mut e = keyed(2);
        for x in e.iter_mut() {
            x.cfg.refresh = Some(Duration::from_secs(60));
        }
        e[0].add_vr(t0, A, a("10.0.0.1")).unwrap();
        e[1].add_vr(t0, A, a("10.0.0.2")).unwrap();
        // A partition for the first 59 s: everything is lost, both sides give up.
        let step = |e: &mut [Engine], until: Duration, lose: bool| loop {
            let next = e.iter().filter_map(|x| x.poll_timeout()).min();
            let Some(t) = next.filter(|t| *t <= t0 + until) else {
                break;
            };
            for x in e.iter_mut() {
                x.handle_timeout(t);
            }
            run(e, t, |_, _| lose);
        };
        run(&mut e, t0, |_, _| true);
        step(&mut e, Duration::from_secs(59), true);
        assert_eq!(e[0].counters().gave_up, 1);
        assert!(map(&e[0], A).is_empty() && map(&e[1], A).is_empty());
        step(&mut e, Duration::from_secs(61), false);
        assert_eq!(map(&e[0], A), vec![(r(2), a("10.0.0.2"))]);
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        // The withdrawal's first six copies are lost; the next round's get through.
        e[0].remove_vr(t0 + Duration::from_secs(61), A).unwrap();
        step(&mut e, Duration::from_secs(119), true);
        assert_eq!(map(&e[1], A), vec![(r(1), a("10.0.0.1"))]);
        step(&mut e, Duration::from_secs(125), false);
        assert!(map(&e[1], A).is_empty());
        // After its rounds the withdrawal is forgotten: only router 2's own refresh remains.
        step(&mut e, Duration::from_secs(400), false);
        assert!(e[0].poll_timeout().is_none());
        assert_eq!(e[0].counters().refreshes, 3);
    }
}
