//! The control core: punts in, services, timers, host sockets, table changes published.
//!
//! [`Core`] is generic over the data plane's buffer type, so every port backend runs the
//! same code. It owns the services, the forwarding-state writer and its publisher, the
//! inject rings and one timer structure. Each dispatch (a punt, a timer, a datagram, an
//! event) runs one service with a [`Ctx`]; what the service queued — frames, packets to
//! route in a VR, frames to run through the pipeline, events — is carried out right after,
//! in order, until nothing is left. Table changes go straight to the writer and become
//! visible to the workers at the next [`Core::publish`] (the run loop calls it at the end
//! of every iteration, so a change made while handling a punt reaches the workers within
//! one loop iteration).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::buffer::{BufAlloc, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, originate, PortInfo, Verdict};
use dataplane::punt::{Inject, InjectRing, Offsets, PuntTo, Punted};
use vr::{ForwardingState, PortId, Publisher, StateWriter, TableHandle, VrId};

use crate::latency::LatencyHistogram;
use crate::service::{Ctx, Event, EventKind, Interest, Outbox, PuntView, Service, ServiceId};
use crate::sockets::Sockets;
use crate::timers::Timers;

/// The `port` of a punt the core made itself: a packet it originated in a VR (an ICMP
/// answer, an L2TP control message) whose next hop had no MAC yet.
pub const ORIGINATED: PortId = PortId(u16::MAX);

/// Dispatches handled per loop iteration and origin before the core moves on (bounds a
/// service that keeps raising events for another).
const MAX_CASCADE: usize = 10_000;

/// Registration conflicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// Two services want the same punt reason or UDP port.
    #[error("service `{new}` wants {what}, which service `{owner}` already handles")]
    Conflict {
        /// The service being added.
        new: &'static str,
        /// What it wants.
        what: String,
        /// Who has it.
        owner: &'static str,
    },
}

/// The core's own counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Punts received, by reason.
    pub punts: [u64; Punt::COUNT],
    /// Punts no service handles, by reason (counted and released).
    pub unclaimed: [u64; Punt::COUNT],
    /// Punts from ports whose frames are not given to services (generators, captures).
    pub not_live: u64,
    /// Frames services sent (or routed) out of such ports, dropped to keep their output
    /// deterministic.
    pub not_live_tx: u64,
    /// Frames handed to workers.
    pub injected: u64,
    /// Frames dropped because an inject ring was full.
    pub inject_ring_full: u64,
    /// Punted buffers that could not be returned to their worker (ring full; freed here).
    pub recycle_ring_full: u64,
    /// Frames dropped because no buffer could be allocated.
    pub alloc_failed: u64,
    /// Packets routed for services.
    pub originated: u64,
    /// Packets services asked to route that could not be (no route, blackhole, ...).
    pub originate_dropped: u64,
    /// Frames re-run through the pipeline for services.
    pub reforwarded: u64,
    /// Of those, not sent.
    pub reforward_dropped: u64,
    /// Timer expirations dispatched.
    pub timers_fired: u64,
    /// Events dispatched.
    pub events: u64,
    /// Cascades cut at [`MAX_CASCADE`] (a service loop; a bug).
    pub cascades_cut: u64,
    /// Table versions published.
    pub publications: u64,
    /// Longest time from a table change to its publication.
    pub max_publish_delay: Duration,
    /// Time spent committing and swapping in published versions, all of them.
    pub publish_time: Duration,
    /// The last publication's commit-and-swap time.
    pub last_publish_time: Duration,
    /// Busy time of each run-loop iteration (filled by [`crate::run`]).
    pub loop_busy: LatencyHistogram,
}

enum Work {
    Punt(PuntTo, PortId, Vec<u8>),
    Event(Event),
}

/// The control core (see the module docs).
pub struct Core<B: PacketBuf> {
    services: Vec<Box<dyn Service>>,
    by_punt: [Option<ServiceId>; Punt::COUNT],
    by_udp: HashMap<u16, ServiceId>,
    by_nd: Option<ServiceId>,
    by_icmp4: HashMap<u8, ServiceId>,
    by_event: HashMap<EventKind, Vec<ServiceId>>,
    timers: Timers<(ServiceId, u64)>,
    sockets: Sockets,
    writer: StateWriter,
    publisher: Publisher<ForwardingState>,
    current: Arc<ForwardingState>,
    ports: Arc<[PortInfo]>,
    live: Vec<bool>,
    injects: Vec<Arc<InjectRing<B>>>,
    alloc: Box<dyn BufAlloc<B>>,
    counters: WorkerCounters,
    next_ring: usize,
    dirty_since: Option<Instant>,
    /// Counters.
    pub stats: CoreStats,
}

impl<B: PacketBuf> Core<B> {
    /// A core that publishes what `writer` holds as the first version, and injects into
    /// `injects` (one ring per worker). Punts from ports not marked in `live` (generators,
    /// capture replays, whose outputs must stay deterministic) are counted and released
    /// without reaching services.
    pub fn new(
        mut writer: StateWriter,
        ports: Arc<[PortInfo]>,
        live: Vec<bool>,
        injects: Vec<Arc<InjectRing<B>>>,
        alloc: Box<dyn BufAlloc<B>>,
    ) -> Self {
        let first = writer.commit().unwrap_or_else(|| writer.snapshot());
        let publisher = Publisher::new(first);
        let current = publisher.current();
        Core {
            services: Vec::new(),
            by_punt: [None; Punt::COUNT],
            by_udp: HashMap::new(),
            by_nd: None,
            by_icmp4: HashMap::new(),
            by_event: HashMap::new(),
            timers: Timers::new(),
            sockets: Sockets::default(),
            writer,
            publisher,
            current,
            counters: WorkerCounters::new(usize::MAX, ports.len()),
            ports,
            live,
            injects,
            alloc,
            next_ring: 0,
            dirty_since: None,
            stats: CoreStats::default(),
        }
    }

    /// Adds a service; its interests must not overlap another service's punt reasons or
    /// UDP ports.
    pub fn add_service(&mut self, svc: Box<dyn Service>) -> Result<ServiceId, CoreError> {
        let id = self.services.len();
        let interests = svc.interests();
        for i in &interests {
            let (owner, what) = match i {
                Interest::Punt(p) => (self.by_punt[*p as usize], format!("punts `{}`", p.name())),
                Interest::LocalUdp(port) => (
                    self.by_udp.get(port).copied(),
                    format!("UDP port {port} on VR addresses"),
                ),
                Interest::LocalNd => (self.by_nd, "neighbor discovery to VR addresses".into()),
                Interest::LocalIcmp4(t) => (
                    self.by_icmp4.get(t).copied(),
                    format!("ICMPv4 type {t} to VR addresses"),
                ),
                Interest::Event(_) => (None, String::new()),
            };
            if let Some(o) = owner {
                return Err(CoreError::Conflict {
                    new: svc.name(),
                    what,
                    owner: self.services[o].name(),
                });
            }
        }
        for i in interests {
            match i {
                Interest::Punt(p) => self.by_punt[p as usize] = Some(id),
                Interest::LocalUdp(port) => {
                    self.by_udp.insert(port, id);
                }
                Interest::LocalNd => self.by_nd = Some(id),
                Interest::LocalIcmp4(t) => {
                    self.by_icmp4.insert(t, id);
                }
                Interest::Event(k) => self.by_event.entry(k).or_default().push(id),
            }
        }
        self.services.push(svc);
        Ok(id)
    }

    /// Starts every service (in registration order).
    pub fn start(&mut self, now: Instant) {
        for i in 0..self.services.len() {
            self.call(i, now, |s, cx| s.start(cx));
        }
    }

    /// A reader handle on the published versions, for a worker.
    pub fn handle(&self) -> TableHandle<ForwardingState> {
        self.publisher.handle()
    }

    /// The version the workers use now.
    pub fn state(&self) -> Arc<ForwardingState> {
        Arc::clone(&self.current)
    }

    /// The forwarding-state writer (changes are published by [`Core::publish`]).
    pub fn writer(&self) -> &StateWriter {
        &self.writer
    }

    /// The writer, to change tables from outside a service (reload, management).
    pub fn writer_mut(&mut self) -> &mut StateWriter {
        self.note_change();
        &mut self.writer
    }

    /// Port facts.
    pub fn ports(&self) -> &Arc<[PortInfo]> {
        &self.ports
    }

    /// The host sockets (read-only).
    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }

    /// The service of type `T`, if one is registered.
    pub fn service<T: Service>(&self) -> Option<&T> {
        self.services
            .iter()
            .find_map(|s| (s.as_any() as &dyn Any).downcast_ref::<T>())
    }

    /// Runs `f` on the service of type `T` with a [`Ctx`] (reconfiguration that has to
    /// send, arm timers or change tables), then carries out what it queued.
    pub fn with_service<T: Service, R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut T, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let i = self
            .services
            .iter_mut()
            .position(|s| s.as_any_mut().downcast_mut::<T>().is_some())?;
        let mut r = None;
        self.call(i, now, |s, cx| {
            if let Some(t) = s.as_any_mut().downcast_mut::<T>() {
                r = Some(f(t, cx));
            }
        });
        r
    }

    /// Raises `ev` from outside any service (a supervisor relaying what a protocol thread
    /// learnt, e.g. LDP's transport paths): every service interested in its kind gets it,
    /// and what they queue is carried out as for a service's own events.
    pub fn raise(&mut self, now: Instant, ev: Event) {
        let out = Outbox {
            events: vec![ev],
            ..Outbox::default()
        };
        self.carry_out(now, out);
    }

    fn note_change(&mut self) {
        if self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    /// Runs one service with a context, then carries out what it queued.
    fn call(&mut self, i: ServiceId, now: Instant, f: impl FnOnce(&mut dyn Service, &mut Ctx<'_>)) {
        let out = self.run_one(i, now, f);
        if !out.is_empty() {
            self.carry_out(now, out);
        }
    }

    /// Carries out a service's outbox, and everything that follows from it.
    fn carry_out(&mut self, now: Instant, out: Outbox) {
        let mut work = VecDeque::new();
        self.outbox_into(out, &mut work);
        let mut n = 0;
        while let Some(w) = work.pop_front() {
            n += 1;
            if n > MAX_CASCADE {
                self.stats.cascades_cut += 1;
                tracing::error!("control core: dispatch cascade cut after {MAX_CASCADE} steps");
                break;
            }
            match w {
                Work::Punt(to, port, frame) => {
                    let Some(i) = self.owner(&to, &frame) else {
                        self.stats.unclaimed[to.reason as usize] += 1;
                        continue;
                    };
                    let out = self.run_one(i, now, |s, cx| {
                        s.on_punt(
                            cx,
                            &PuntView {
                                to,
                                port,
                                frame: &frame,
                            },
                        )
                    });
                    self.outbox_into(out, &mut work);
                }
                Work::Event(ev) => {
                    self.stats.events += 1;
                    let subs = self.by_event.get(&ev.kind()).cloned().unwrap_or_default();
                    for i in subs {
                        let out = self.run_one(i, now, |s, cx| s.on_event(cx, &ev));
                        self.outbox_into(out, &mut work);
                    }
                }
            }
        }
    }

    /// Runs a service and returns its outbox without carrying it out.
    fn run_one(
        &mut self,
        i: ServiceId,
        now: Instant,
        f: impl FnOnce(&mut dyn Service, &mut Ctx<'_>),
    ) -> Outbox {
        let mut out = Outbox::default();
        let had_changes = self.writer.has_changes();
        {
            let mut cx = Ctx {
                now,
                svc: i,
                out: &mut out,
                writer: &mut self.writer,
                state: &self.current,
                timers: &mut self.timers,
                sockets: &mut self.sockets,
            };
            f(self.services[i].as_mut(), &mut cx);
        }
        if !had_changes && self.writer.has_changes() {
            self.note_change();
        }
        out
    }

    /// Sends frames, routes and re-forwards packets; queues events and the punts that
    /// routing produced (neighbour misses).
    fn outbox_into(&mut self, out: Outbox, work: &mut VecDeque<Work>) {
        let Outbox {
            frames,
            routes,
            reforward,
            events,
        } = out;
        for (port, mut f) in frames {
            if f.len() < 60 {
                f.resize(60, 0);
            }
            match self.alloc.alloc_from(&f) {
                Some(buf) => self.inject(port, buf),
                None => self.stats.alloc_failed += 1,
            }
        }
        for (vr, ip) in routes {
            let Some(mut buf) = self.alloc.alloc_from(&ip) else {
                self.stats.alloc_failed += 1;
                continue;
            };
            self.stats.originated += 1;
            let v = originate(&self.current, &self.ports, vr, &mut buf, &self.counters);
            self.verdict(v, None, buf, work, vr);
        }
        for (port, frame) in reforward {
            let Some(mut buf) = self.alloc.alloc_from(&frame) else {
                self.stats.alloc_failed += 1;
                continue;
            };
            self.stats.reforwarded += 1;
            let v = forward(&self.current, &self.ports, port, &mut buf, &self.counters);
            self.verdict(v, Some(port), buf, work, VrId(u32::MAX));
        }
        work.extend(events.into_iter().map(Work::Event));
    }

    fn verdict(
        &mut self,
        v: Verdict,
        reforwarded: Option<PortId>,
        buf: B,
        work: &mut VecDeque<Work>,
        vr: VrId,
    ) {
        match v {
            Verdict::Tx(port) => self.inject(port, buf),
            Verdict::Punt(to) if to.reason == Punt::NeighborMiss => {
                // Complete but for the destination MAC; for the neighbour service to queue.
                let port = reforwarded.unwrap_or(ORIGINATED);
                work.push_back(Work::Punt(to, port, buf.data().to_vec()));
            }
            Verdict::Punt(to) => {
                tracing::debug!(?to, %vr, "originated packet punted; not sent");
                self.count_dropped(reforwarded);
            }
            Verdict::Drop(d) => {
                if d != Drop::NoRoute {
                    tracing::debug!(drop = d.name(), %vr, "originated packet dropped");
                }
                self.count_dropped(reforwarded);
            }
        }
    }

    fn count_dropped(&mut self, reforwarded: Option<PortId>) {
        if reforwarded.is_some() {
            self.stats.reforward_dropped += 1;
        } else {
            self.stats.originate_dropped += 1;
        }
    }

    fn inject(&mut self, port: PortId, buf: B) {
        if !self.live.get(usize::from(port.0)).copied().unwrap_or(false) {
            self.stats.not_live_tx += 1;
            return;
        }
        let n = self.injects.len();
        if n == 0 {
            self.stats.inject_ring_full += 1;
            return;
        }
        let ring = &self.injects[self.next_ring % n];
        self.next_ring = self.next_ring.wrapping_add(1);
        match ring.push(Inject::Tx { port, buf }) {
            Ok(()) => self.stats.injected += 1,
            Err(_) => self.stats.inject_ring_full += 1,
        }
    }

    /// The service a punt goes to.
    fn owner(&self, to: &PuntTo, frame: &[u8]) -> Option<ServiceId> {
        if to.reason == Punt::Local {
            match local_kind(to, frame) {
                Some(Local::Udp(port)) => {
                    if let Some(i) = self.by_udp.get(&port) {
                        return Some(*i);
                    }
                }
                Some(Local::Nd) if self.by_nd.is_some() => return self.by_nd,
                Some(Local::Icmp4(t)) => {
                    if let Some(i) = self.by_icmp4.get(&t) {
                        return Some(*i);
                    }
                }
                _ => {}
            }
        }
        self.by_punt[to.reason as usize]
    }

    /// Handles one punted packet and gives its buffer back to the worker that punted it.
    pub fn handle_punt(&mut self, now: Instant, p: Punted<B>) {
        let Punted {
            to,
            port,
            worker,
            buf,
        } = p;
        self.stats.punts[to.reason as usize] += 1;
        if self.live.get(usize::from(port.0)).copied().unwrap_or(false) {
            match self.owner(&to, buf.data()) {
                Some(i) => {
                    let frame = buf.data();
                    self.call(i, now, |s, cx| s.on_punt(cx, &PuntView { to, port, frame }));
                }
                None => self.stats.unclaimed[to.reason as usize] += 1,
            }
        } else {
            self.stats.not_live += 1;
        }
        self.recycle(usize::from(worker), buf);
    }

    /// Returns a consumed buffer to its worker's pool (through its inject ring).
    fn recycle(&mut self, worker: usize, buf: B) {
        if let Some(ring) = self.injects.get(worker) {
            if ring.push(Inject::Recycle(buf)).is_err() {
                self.stats.recycle_ring_full += 1;
            }
        }
    }

    /// Runs every due timer.
    pub fn run_timers(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some((i, token)) = self.timers.pop_due(now) {
            n += 1;
            self.stats.timers_fired += 1;
            self.call(i, now, |s, cx| s.on_timer(cx, token));
        }
        n
    }

    /// Tells every service the appliance stops ([`Service::stop`]).
    pub fn stop(&mut self, now: Instant) {
        for i in 0..self.services.len() {
            self.call(i, now, |s, cx| s.stop(cx));
        }
    }

    /// Reads the host sockets and dispatches their datagrams.
    pub fn poll_sockets(&mut self, now: Instant) -> usize {
        let got = self.sockets.poll();
        let n = got.len();
        for (i, sock, from, data) in got {
            self.call(i, now, |s, cx| s.on_datagram(cx, sock, from, &data));
        }
        n
    }

    /// When the next timer is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Publishes what changed as a new version (nothing when nothing changed), and frees
    /// old versions no worker holds. Returns true when a version was published.
    pub fn publish(&mut self) -> bool {
        let t0 = Instant::now();
        // Free the versions workers have let go first: a large FIB's version before the
        // current one is then unreferenced, and the commit rewrites it in place instead of
        // copying the table (see `vr::fib::update`).
        self.publisher.reclaim();
        let Some(st) = self.writer.commit() else {
            return false;
        };
        self.publisher.publish(st);
        self.current = self.publisher.current();
        let took = t0.elapsed();
        self.stats.publications += 1;
        self.stats.publish_time += took;
        self.stats.last_publish_time = took;
        if let Some(t) = self.dirty_since.take() {
            self.stats.max_publish_delay = self.stats.max_publish_delay.max(t.elapsed());
        }
        true
    }

    /// Replaced versions still held by workers.
    pub fn retired_versions(&mut self) -> usize {
        self.publisher.reclaim()
    }

    /// The core's and every service's counters, as (name, value).
    pub fn stat_lines(&self) -> Vec<(String, u64)> {
        let s = &self.stats;
        let mut v: Vec<(String, u64)> = [
            ("injected", s.injected),
            ("inject_ring_full", s.inject_ring_full),
            ("recycle_ring_full", s.recycle_ring_full),
            ("buffer_alloc_failed", s.alloc_failed),
            ("originated", s.originated),
            ("originate_dropped", s.originate_dropped),
            ("reforwarded", s.reforwarded),
            ("reforward_dropped", s.reforward_dropped),
            ("timers_fired", s.timers_fired),
            ("events", s.events),
            ("dispatch_cascades_cut", s.cascades_cut),
            ("punts_from_non_live_ports", s.not_live),
            ("sends_to_non_live_ports", s.not_live_tx),
            ("table_publications", s.publications),
            (
                "table_publish_delay_max_us",
                s.max_publish_delay.as_micros() as u64,
            ),
            ("sockets_rx", self.sockets.rx),
            ("sockets_tx", self.sockets.tx),
            ("sockets_errors", self.sockets.errors),
            ("state_refused_changes", self.writer.stats.refused),
        ]
        .into_iter()
        .map(|(k, x)| (k.to_string(), x))
        .collect();
        for p in Punt::ALL {
            let u = s.unclaimed[*p as usize];
            if u > 0 {
                v.push((format!("{}_unhandled", p.name()), u));
            }
        }
        for svc in &self.services {
            for (k, x) in svc.counters() {
                v.push((k.to_string(), x));
            }
        }
        v
    }

    /// Punts received by reason.
    pub fn punts_received(&self) -> Vec<(Punt, u64)> {
        Punt::ALL
            .iter()
            .map(|p| (*p, self.stats.punts[*p as usize]))
            .collect()
    }

    /// Drains the inject rings (at shutdown, before the backend's buffers go away).
    pub fn drain_rings(&mut self) {
        for r in &self.injects {
            while r.pop().is_some() {}
        }
    }
}

enum Local {
    Udp(u16),
    Nd,
    Icmp4(u8),
}

/// What a `local` punt carries, when it matters for dispatch: UDP (by destination port),
/// IPv6 Neighbor Discovery, or ICMPv4 (by type).
fn local_kind(to: &PuntTo, frame: &[u8]) -> Option<Local> {
    let ip = frame.get(Offsets::get(to.at.ip)?..)?;
    match ip.first()? >> 4 {
        // The type after the header (its length from IHL: options are possible here, e.g.
        // Router Alert), and only in a first fragment.
        4 if *ip.get(9)? == 1 => {
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
            (frag == 0).then_some(())?;
            Some(Local::Icmp4(*ip.get(usize::from(ip[0] & 0x0f) * 4)?))
        }
        4 if *ip.get(9)? == 17 => {
            let l4 = Offsets::get(to.at.l4)?;
            Some(Local::Udp(u16::from_be_bytes([
                *frame.get(l4 + 2)?,
                *frame.get(l4 + 3)?,
            ])))
        }
        // ND has no extension headers before ICMPv6 (RFC 4861 §6.1, hop limit 255).
        6 if *ip.get(6)? == 58 && (133..=137).contains(ip.get(40)?) => Some(Local::Nd),
        6 if *ip.get(6)? == 17 => {
            Some(Local::Udp(u16::from_be_bytes([*ip.get(42)?, *ip.get(43)?])))
        }
        _ => None,
    }
}
