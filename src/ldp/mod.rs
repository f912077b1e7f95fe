//! LDP in the appliance (issue 15, seed 001 Fig. 13, docs/protocols/ldp.md §6): the sans-IO
//! speaker of `controlplane::ldp` with its socket driver on **its own thread** (its TCP
//! sessions do not fit the control core's datagram sockets), and the control loop's side
//! that writes what LDP learnt into the label matrix and tells the VPN service which
//! transport label leads to each remote PE.
//!
//! - The LDP thread polls the driver, reacts to its events (adjacency, session, binding
//!   learnt / lost), keeps the transit FECs advertised (every FEC learnt that has an IGP next
//!   hop, [`plan::transit_fecs`]) and computes the [`plan::Plan`]: our own FECs' labels
//!   pop-next, a transit FEC's label swaps to (or, for Implicit NULL, pops toward) the
//!   downstream peer's label, and a labelled path per /32 FEC. It publishes the plan and a
//!   view (sessions, bindings, counters) in [`LdpShared`] and bumps a generation number.
//! - [`LdpLink::tick`], called by the appliance's supervisor on the control thread, sees the
//!   new generation, diffs the plan against what it installed and applies the difference
//!   through `core.writer_mut()` (`SetLabel` / `RemoveLabel`), then publishes; it raises
//!   `Event::TransportPath` for each path learnt, changed or lost. It never touches a label
//!   it did not install (a static or API entry in the way is counted as a conflict).
//!
//! The thread polls (the driver has no readiness API): it sleeps [`IDLE_SLEEP`] when
//! nothing moved, so an idle LDP costs next to nothing.

pub mod config;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use controlcore::{Core, Event as CoreEvent, TransportPath};
use controlplane::ldp::driver::{Driver, DriverConfig, DriverCounters};
use controlplane::ldp::engine::{Config as EngineConfig, Counters, Event, SessionState, Speaker};
use controlplane::ldp::wire::Prefix4;
use dataplane::buffer::PacketBuf;
use labelswitch::{Label, LabelAllocator};
use serde_json::{json, Value};
use vr::{Change, LabelAction, LabelPush, NextHop, PortId};

use config::LdpCfg;
use plan::{PeerInfo, Plan, PlanOp};

/// How long the LDP thread sleeps when nothing moved.
pub const IDLE_SLEEP: Duration = Duration::from_millis(5);
/// How often the view (counters, uptimes) is refreshed when nothing changed.
pub const VIEW_EVERY: Duration = Duration::from_millis(500);
/// Owner id of LDP's labels in its allocator.
const LABEL_OWNER: u32 = 0x4c44_5000;

/// What the control loop did with the plan (counters shown with LDP's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Label-matrix entries set (new or changed).
    pub labels_set: u64,
    /// Entries removed.
    pub labels_removed: u64,
    /// Entries not set because another entry (static, API) holds the label.
    pub label_conflicts: u64,
    /// Changes the state writer refused (logged).
    pub apply_errors: u64,
    /// `TransportPath` events raised with a path.
    pub paths_raised: u64,
    /// `TransportPath` events raised without one (lost).
    pub paths_withdrawn: u64,
    /// Plans applied.
    pub plans_applied: u64,
    /// Entries installed now.
    pub installed: u64,
}

/// LDP's own counters besides the engine's and the driver's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Transit FECs advertised (a label allocated).
    pub transit_advertised: u64,
    /// Transit FECs withdrawn.
    pub transit_withdrawn: u64,
    /// Transit FECs not advertised: the label block is exhausted.
    pub label_block_exhausted: u64,
    /// Plans computed.
    pub plans: u64,
}

/// What the LDP thread publishes.
#[derive(Debug, Default)]
pub struct LdpShared {
    /// The label-matrix entries and paths LDP wants.
    pub plan: Plan,
    /// The JSON view `GET /api/v1/ldp` and `varouter ctl ldp` show (without `installed`,
    /// which the control loop adds).
    pub view: Value,
    /// Engine counters.
    pub counters: Counters,
    /// Driver counters.
    pub driver: DriverCounters,
    /// Service counters.
    pub service: ServiceStats,
    /// What the control loop did (written by [`LdpLink`]).
    pub apply: ApplyStats,
    /// Sessions operational now.
    pub sessions_up: u64,
    /// The entries the control loop installed (JSON, written by [`LdpLink`]).
    pub installed: Vec<Value>,
    /// Bindings learnt now.
    pub bindings_learnt: u64,
    /// Local bindings now.
    pub bindings_local: u64,
}

/// The LDP thread, running.
pub struct LdpHandle {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
    shared: Arc<Mutex<LdpShared>>,
    generation: Arc<AtomicU64>,
    transport: Ipv4Addr,
}

impl LdpHandle {
    /// The control loop's side; `port_names` (index = port id) name ports in the view.
    pub fn link(&self, port_names: Vec<String>) -> LdpLink {
        LdpLink {
            port_names,
            shared: self.shared.clone(),
            generation: self.generation.clone(),
            seen: 0,
            installed: BTreeMap::new(),
            raised: BTreeMap::new(),
            stats: ApplyStats::default(),
        }
    }

    /// The shared state (for the API).
    pub fn shared(&self) -> Arc<Mutex<LdpShared>> {
        self.shared.clone()
    }

    /// Where sessions are accepted.
    pub fn transport(&self) -> Ipv4Addr {
        self.transport
    }

    /// Ends every session (Shutdown notification) and stops the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for LdpHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The speaker's configuration for `cfg`.
pub fn engine_config(cfg: &LdpCfg) -> EngineConfig {
    let mut e = EngineConfig::new(cfg.lsr_id, cfg.transport);
    e.addresses = cfg
        .ports
        .iter()
        .flat_map(|p| p.addrs.iter().map(|a| a.0))
        .collect();
    e.fecs = cfg.fecs.clone();
    e.hello_interval = cfg.hello_interval;
    e.hello_hold_time = cfg.hold_time;
    e.keepalive_time = cfg.keepalive;
    e.label_owner = LABEL_OWNER;
    e
}

/// Opens LDP's sockets (errors are reported here, before the appliance runs) and starts its
/// thread.
pub fn start(cfg: &LdpCfg) -> Result<LdpHandle, String> {
    let alloc = LabelAllocator::new(cfg.labels.clone())
        .map_err(|e| format!("label block {:?}: {e}", cfg.labels))?;
    let speaker =
        Speaker::new(engine_config(cfg), alloc, Instant::now()).map_err(|e| e.to_string())?;
    let mut dc = DriverConfig::new(cfg.ports.iter().map(|p| p.addrs[0].0).collect());
    dc.port = cfg.udp_tcp_port;
    dc.multicast_loop = cfg.hello_loopback;
    let driver = Driver::new(speaker, dc).map_err(|e| {
        format!(
            "{e} (the LSR Id / transport address {} must be an address of this host, and the trunk addresses must be on host interfaces)",
            cfg.transport
        )
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(LdpShared::default()));
    let generation = Arc::new(AtomicU64::new(0));
    let mut t = LdpThread {
        cfg: cfg.clone(),
        driver,
        own: cfg.own_fecs().into_iter().collect(),
        hello_source: BTreeMap::new(),
        up_since: BTreeMap::new(),
        stats: ServiceStats::default(),
        shared: shared.clone(),
        generation: generation.clone(),
    };
    t.publish(Instant::now(), true);
    let s = stop.clone();
    let join = std::thread::Builder::new()
        .name("ldp".into())
        .spawn(move || t.run(&s))
        .map_err(|e| format!("cannot start the LDP thread: {e}"))?;
    Ok(LdpHandle {
        stop,
        join: Some(join),
        shared,
        generation,
        transport: cfg.transport,
    })
}

struct LdpThread {
    cfg: LdpCfg,
    driver: Driver,
    own: BTreeSet<Prefix4>,
    hello_source: BTreeMap<Ipv4Addr, Ipv4Addr>,
    up_since: BTreeMap<Ipv4Addr, Instant>,
    stats: ServiceStats,
    shared: Arc<Mutex<LdpShared>>,
    generation: Arc<AtomicU64>,
}

impl LdpThread {
    fn run(&mut self, stop: &AtomicBool) {
        let mut last_view = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let moved = self.driver.poll(now);
            let mut changed = false;
            while let Some(ev) = self.driver.speaker().poll_event() {
                changed = true;
                self.on_event(now, ev);
            }
            if changed {
                self.reconcile();
                // Advertising / withdrawing queued PDUs: send them now.
                self.driver.poll(now);
                while let Some(ev) = self.driver.speaker().poll_event() {
                    self.on_event(now, ev);
                }
            }
            if changed || now.duration_since(last_view) >= VIEW_EVERY {
                last_view = now;
                self.publish(now, changed);
            }
            if !moved && !changed {
                let sleep = self
                    .driver
                    .next_wakeup()
                    .map_or(IDLE_SLEEP, |t| t.saturating_duration_since(now))
                    .min(IDLE_SLEEP);
                std::thread::sleep(sleep);
            }
        }
        let now = Instant::now();
        self.driver.shutdown(now);
        tracing::info!("LDP: stopped (Shutdown sent to every peer)");
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::AdjacencyUp {
                peer,
                source,
                transport,
            } => {
                tracing::info!(%peer, %source, %transport, "LDP: adjacency up");
                self.hello_source.insert(peer, source);
            }
            Event::AdjacencyDown { peer } => {
                tracing::info!(%peer, "LDP: adjacency down");
                self.hello_source.remove(&peer);
            }
            Event::SessionUp { peer, keepalive } => {
                tracing::info!(%peer, keepalive, "LDP: session operational");
                self.up_since.insert(peer, now);
            }
            Event::SessionDown { peer, reason } => {
                tracing::warn!(%peer, %reason, "LDP: session down");
                self.up_since.remove(&peer);
            }
            Event::BindingLearnt {
                peer,
                prefix,
                label,
            } => tracing::debug!(%peer, %prefix, label = label.value(), "LDP: binding learnt"),
            Event::BindingLost {
                peer,
                prefix,
                label,
            } => tracing::debug!(%peer, %prefix, label = label.value(), "LDP: binding lost"),
            Event::Notification { peer, status } => {
                tracing::info!(%peer, ?status, "LDP: notification received")
            }
        }
    }

    fn peers(&self) -> BTreeMap<Ipv4Addr, PeerInfo> {
        let sp = self.driver.speaker_ref();
        let mut peers: BTreeMap<Ipv4Addr, PeerInfo> = sp
            .sessions()
            .map(|(p, st)| {
                (
                    p,
                    PeerInfo {
                        operational: st == SessionState::Operational,
                        hello_source: self.hello_source.get(&p).copied(),
                        transport: None,
                        addresses: BTreeSet::new(),
                        learnt: BTreeMap::new(),
                    },
                )
            })
            .collect();
        for (p, info) in peers.iter_mut() {
            info.addresses = sp.peer_addresses(*p).collect();
        }
        for (p, fec, l) in sp.learnt() {
            if let Some(info) = peers.get_mut(&p) {
                info.learnt.insert(fec, l);
            }
        }
        peers
    }

    /// Advertises the transit FECs that have a next hop now and withdraws the others.
    fn reconcile(&mut self) {
        let peers = self.peers();
        let want = plan::transit_fecs(&self.cfg, &peers, &self.own);
        let sp = self.driver.speaker();
        let have: Vec<Prefix4> = sp
            .local_bindings()
            .map(|(p, _)| p)
            .filter(|p| !self.own.contains(p))
            .collect();
        for p in have {
            if !want.contains(&p) && sp.withdraw(p) {
                self.stats.transit_withdrawn += 1;
                tracing::info!(fec = %p, "LDP: transit FEC withdrawn (no next hop)");
            }
        }
        for p in want {
            if sp.local_label(p).is_some() {
                continue;
            }
            match sp.advertise(p) {
                Ok(l) => {
                    self.stats.transit_advertised += 1;
                    tracing::info!(fec = %p, label = l.value(), "LDP: transit FEC advertised");
                }
                Err(e) => {
                    self.stats.label_block_exhausted += 1;
                    tracing::warn!(fec = %p, error = %e, "LDP: transit FEC not advertised");
                }
            }
        }
    }

    fn publish(&mut self, now: Instant, changed: bool) {
        let peers = self.peers();
        let sp = self.driver.speaker_ref();
        let local: BTreeMap<Prefix4, Label> = sp.local_bindings().collect();
        let new_plan = plan::compute(&self.cfg, &peers, &self.own, &local);
        let plans = self.stats.plans + u64::from(changed);
        let sessions: Vec<Value> = sp
            .sessions()
            .map(|(p, st)| {
                json!({
                    "peer": p.to_string(),
                    "state": state_name(st),
                    "uptime_s": self.up_since.get(&p).map(|t| now.duration_since(*t).as_secs()),
                    "hello_source": self.hello_source.get(&p).map(|a| a.to_string()),
                    "addresses": sp.peer_addresses(p).map(|a| a.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        // Adjacencies without a session yet.
        let pending: Vec<Value> = self
            .hello_source
            .iter()
            .filter(|(p, _)| sp.session_state(**p).is_none())
            .map(|(p, s)| json!({"peer": p.to_string(), "state": "adjacency", "uptime_s": null, "hello_source": s.to_string(), "addresses": []}))
            .collect();
        let mut fecs: BTreeSet<Prefix4> = local.keys().copied().collect();
        fecs.extend(sp.learnt().map(|(_, f, _)| f));
        let bindings: Vec<Value> = fecs
            .iter()
            .map(|f| {
                let hop = if self.own.contains(f) {
                    None
                } else {
                    plan::next_hop(&self.cfg, &peers, *f)
                };
                let remote: Vec<Value> = sp
                    .learnt()
                    .filter(|(_, x, _)| x == f)
                    .map(|(p, _, l)| json!({"peer": p.to_string(), "label": l.value()}))
                    .collect();
                json!({
                    "fec": f.to_string(),
                    "own": self.own.contains(f),
                    "local_label": local.get(f).map(|l| l.value()),
                    "remote": remote,
                    "next_hop": hop.map(|h| json!({"via": h.via.to_string(), "port": self.port_name(h.port), "peer": h.peer.map(|p| p.to_string()), "source": h.source})),
                })
            })
            .collect();
        let c = sp.counters().clone();
        let dc = self.driver.counters().clone();
        let n_learnt = sp.learnt().count() as u64;
        let n_up = peers.values().filter(|p| p.operational).count() as u64;
        let view = json!({
            "lsr_id": self.cfg.lsr_id.to_string(),
            "transport_address": self.cfg.transport.to_string(),
            "label_block": [self.cfg.labels.start(), self.cfg.labels.end()],
            "ports": self.cfg.ports.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "sessions": sessions.into_iter().chain(pending).collect::<Vec<_>>(),
            "bindings": bindings,
            "paths": new_plan.paths.iter().map(|(r, p)| json!({"router": r.to_string(), "label": p.label, "port": self.port_name(p.port), "via": p.via.to_string()})).collect::<Vec<_>>(),
        });
        let mut g = match self.shared.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let plan_changed = g.plan != new_plan;
        g.plan = new_plan;
        g.view = view;
        g.counters = c;
        g.driver = dc;
        self.stats.plans = plans;
        g.service = self.stats.clone();
        g.sessions_up = n_up;
        g.bindings_learnt = n_learnt;
        g.bindings_local = local.len() as u64;
        drop(g);
        if plan_changed {
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    fn port_name(&self, port: usize) -> String {
        self.cfg
            .ports
            .iter()
            .find(|p| p.port == port)
            .map_or_else(|| port.to_string(), |p| p.name.clone())
    }
}

/// RFC 5036 §2.5.4 state names as FRR shows them.
pub fn state_name(s: SessionState) -> &'static str {
    match s {
        SessionState::Connecting => "CONNECTING",
        SessionState::Initialized => "INITIALIZED",
        SessionState::OpenSent => "OPENSENT",
        SessionState::OpenRec => "OPENREC",
        SessionState::Operational => "OPERATIONAL",
    }
}

/// The control loop's side of LDP (see the [module docs](self)).
pub struct LdpLink {
    port_names: Vec<String>,
    shared: Arc<Mutex<LdpShared>>,
    generation: Arc<AtomicU64>,
    seen: u64,
    installed: BTreeMap<u32, (PlanOp, LabelAction)>,
    raised: BTreeMap<Ipv4Addr, TransportPath>,
    stats: ApplyStats,
}

fn action(op: &PlanOp) -> LabelAction {
    let nh = |port: usize, via: Ipv4Addr| NextHop::Unresolved {
        port: PortId(port as u16),
        vlan: None,
        via: IpAddr::V4(via),
        push: LabelPush::EMPTY,
    };
    match *op {
        PlanOp::PopNext { .. } => LabelAction::Pop,
        PlanOp::Swap { out, port, via, .. } => LabelAction::Swap {
            out,
            via: nh(port, via),
        },
        PlanOp::PopForward { port, via, .. } => LabelAction::PopAndForward { via: nh(port, via) },
    }
}

impl LdpLink {
    /// The shared state.
    pub fn shared(&self) -> &Arc<Mutex<LdpShared>> {
        &self.shared
    }

    /// Applies a new plan, if there is one: label-matrix changes (published at once) and
    /// `TransportPath` events. Returns whether anything changed.
    pub fn tick<B: PacketBuf>(&mut self, core: &mut Core<B>, now: Instant) -> bool {
        let g = self.generation.load(Ordering::Acquire);
        if g == self.seen {
            return false;
        }
        self.seen = g;
        let plan = match self.shared.lock() {
            Ok(s) => s.plan.clone(),
            Err(p) => p.into_inner().plan.clone(),
        };
        let changed = self.apply(core, &plan, now);
        self.stats.plans_applied += 1;
        self.stats.installed = self.installed.len() as u64;
        let installed = self.installed_json();
        if let Ok(mut s) = self.shared.lock() {
            s.apply = self.stats.clone();
            s.installed = installed;
        }
        changed
    }

    fn apply<B: PacketBuf>(&mut self, core: &mut Core<B>, plan: &Plan, now: Instant) -> bool {
        let mut changes = Vec::new();
        let gone: Vec<u32> = self
            .installed
            .keys()
            .filter(|l| !plan.labels.contains_key(l))
            .copied()
            .collect();
        for l in gone {
            self.installed.remove(&l);
            if let Ok(label) = Label::new(l) {
                changes.push((l, None, Change::RemoveLabel(label)));
            }
        }
        let taken: HashSet<u32> = core.writer().labels().map(|(l, _)| l.value()).collect();
        for (l, op) in &plan.labels {
            let a = action(op);
            if self.installed.get(l).is_some_and(|x| x.1 == a) {
                continue;
            }
            if !self.installed.contains_key(l) && taken.contains(l) {
                self.stats.label_conflicts += 1;
                tracing::warn!(label = l, fec = %op.fec(), "LDP: label {l} is held by another label-matrix entry (static or API); not installed");
                continue;
            }
            let Ok(label) = Label::new(*l) else {
                continue;
            };
            changes.push((*l, Some((*op, a)), Change::SetLabel(label, a)));
        }
        let mut any = false;
        for (l, entry, c) in changes {
            match core.writer_mut().apply(std::slice::from_ref(&c)) {
                Ok(()) => {
                    any = true;
                    match entry {
                        Some(e) => {
                            tracing::info!(label = l, fec = %e.0.fec(), "LDP: label matrix: {c}");
                            self.stats.labels_set += 1;
                            self.installed.insert(l, e);
                        }
                        None => {
                            tracing::info!(label = l, "LDP: label matrix: {c}");
                            self.stats.labels_removed += 1;
                        }
                    }
                }
                Err((_, e)) => {
                    self.stats.apply_errors += 1;
                    tracing::warn!(label = l, error = %e, "LDP: label matrix change `{c}` refused");
                }
            }
        }
        if any {
            core.publish();
        }
        // Transport paths.
        let lost: Vec<Ipv4Addr> = self
            .raised
            .keys()
            .filter(|r| !plan.paths.contains_key(r))
            .copied()
            .collect();
        for router in lost {
            self.raised.remove(&router);
            self.stats.paths_withdrawn += 1;
            tracing::info!(%router, "LDP: transport path lost");
            core.raise(now, CoreEvent::TransportPath { router, path: None });
        }
        for (router, p) in &plan.paths {
            let tp = TransportPath {
                label: p.label,
                port: PortId(p.port as u16),
                via: IpAddr::V4(p.via),
            };
            if self.raised.get(router) == Some(&tp) {
                continue;
            }
            self.raised.insert(*router, tp);
            self.stats.paths_raised += 1;
            tracing::info!(%router, label = ?p.label, via = %p.via, "LDP: transport path");
            core.raise(
                now,
                CoreEvent::TransportPath {
                    router: *router,
                    path: Some(tp),
                },
            );
        }
        any
    }

    /// The installed entries as JSON (for the API view).
    pub fn installed_json(&self) -> Vec<Value> {
        let port_name = |p: usize| {
            self.port_names
                .get(p)
                .cloned()
                .unwrap_or_else(|| p.to_string())
        };
        self.installed
            .iter()
            .map(|(l, (op, _))| match *op {
                PlanOp::PopNext { fec } => {
                    json!({"in_label": l, "fec": fec.to_string(), "action": "pop-next"})
                }
                PlanOp::Swap { fec, out, port, via } => json!({"in_label": l, "fec": fec.to_string(), "action": "swap", "out_label": out.value(), "port": port_name(port), "via": via.to_string()}),
                PlanOp::PopForward { fec, port, via } => json!({"in_label": l, "fec": fec.to_string(), "action": "pop-forward", "port": port_name(port), "via": via.to_string()}),
            })
            .collect()
    }

    /// The apply counters.
    pub fn stats(&self) -> &ApplyStats {
        &self.stats
    }
}

/// The engine's, the driver's, the service's and the control loop's counters by name
/// (`ldp_` prefixed, for the API, the metrics and the summary).
pub fn counters(s: &LdpShared) -> Vec<(&'static str, u64)> {
    let c = &s.counters;
    let d = &s.driver;
    let v = &s.service;
    let a = &s.apply;
    vec![
        ("ldp_hellos_sent", c.hellos_sent),
        ("ldp_hellos_received", c.hellos_received),
        ("ldp_hellos_dropped", c.hellos_dropped),
        ("ldp_adjacencies_up", c.adjacencies_up),
        ("ldp_adjacencies_down", c.adjacencies_down),
        ("ldp_connects", c.connects),
        ("ldp_connects_failed", c.connects_failed),
        ("ldp_accepts_refused", c.accepts_refused),
        ("ldp_sessions_up", c.sessions_up),
        ("ldp_sessions_down", c.sessions_down),
        ("ldp_keepalive_expired", c.keepalive_expired),
        ("ldp_init_timeouts", c.init_timeouts),
        ("ldp_pdus_sent", c.pdus_sent),
        ("ldp_pdus_received", c.pdus_received),
        ("ldp_messages_received", c.messages_received),
        ("ldp_malformed", c.malformed),
        ("ldp_unknown_messages", c.unknown_messages),
        ("ldp_unknown_tlvs", c.unknown_tlvs),
        ("ldp_unexpected_messages", c.unexpected_messages),
        ("ldp_notifications_sent", c.notifications_sent),
        ("ldp_notifications_received", c.notifications_received),
        ("ldp_mappings_sent", c.mappings_sent),
        ("ldp_mappings_received", c.mappings_received),
        ("ldp_withdraws_sent", c.withdraws_sent),
        ("ldp_withdraws_received", c.withdraws_received),
        ("ldp_releases_sent", c.releases_sent),
        ("ldp_releases_received", c.releases_received),
        ("ldp_requests_received", c.requests_received),
        ("ldp_unsupported_family", c.unsupported_family),
        ("ldp_bindings_over_limit", c.bindings_over_limit),
        ("ldp_encode_errors", c.encode_errors),
        ("ldp_udp_send_errors", d.udp_send_errors),
        ("ldp_udp_recv_errors", d.udp_recv_errors),
        ("ldp_tcp_accepted", d.tcp_accepted),
        ("ldp_tcp_refused", d.tcp_refused),
        ("ldp_tcp_errors", d.tcp_errors),
        ("ldp_connect_timeouts", d.connect_timeouts),
        ("ldp_sends_without_connection", d.sends_without_connection),
        ("ldp_transit_advertised", v.transit_advertised),
        ("ldp_transit_withdrawn", v.transit_withdrawn),
        ("ldp_label_block_exhausted", v.label_block_exhausted),
        ("ldp_labels_set", a.labels_set),
        ("ldp_labels_removed", a.labels_removed),
        ("ldp_label_conflicts", a.label_conflicts),
        ("ldp_apply_errors", a.apply_errors),
        ("ldp_paths_raised", a.paths_raised),
        ("ldp_paths_withdrawn", a.paths_withdrawn),
    ]
}

/// The LDP line of the live statistics.
pub fn stats_line(s: &LdpShared) -> String {
    format!(
        "ldp: {} session(s) up, {} binding(s) learnt, {} local, {} cross connect(s) installed | pdus rx {} tx {} malformed {} | sessions down {} | conflicts {} refused {}",
        s.sessions_up,
        s.bindings_learnt,
        s.bindings_local,
        s.apply.installed,
        s.counters.pdus_received,
        s.counters.pdus_sent,
        s.counters.malformed,
        s.counters.sessions_down,
        s.apply.label_conflicts,
        s.apply.apply_errors,
    )
}

/// The document of `GET /api/v1/ldp`.
pub fn document(s: &LdpShared) -> Value {
    let mut v = s.view.clone();
    if let Value::Object(m) = &mut v {
        m.insert("cross_connects".into(), Value::Array(s.installed.clone()));
        m.insert(
            "counters".into(),
            Value::Object(
                counters(s)
                    .into_iter()
                    .map(|(k, n)| (k.trim_start_matches("ldp_").to_string(), json!(n)))
                    .collect(),
            ),
        );
    }
    v
}

/// One installed entry (an object of [`LdpShared::installed`]) as a table line.
pub fn cross_connect_line(e: &Value) -> String {
    let g = |k: &str| match e.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(v) => v.to_string(),
    };
    format!(
        "{:>8} {:<12} {:<18} out {:>8} port {:<10} via {}",
        g("in_label"),
        g("action"),
        g("fec"),
        g("out_label"),
        g("port"),
        g("via")
    )
}

/// LDP's label block as the document gives it (`label_block: [min, max]`); `None` when
/// the document has none.
pub fn block_of(doc: &Value) -> Option<std::ops::RangeInclusive<u32>> {
    let b = |i: usize| {
        doc.get("label_block")
            .and_then(|x| x.get(i))
            .and_then(Value::as_u64)
            .map(|v| v as u32)
    };
    Some(b(0)?..=b(1)?)
}
