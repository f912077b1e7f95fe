//! The one run loop of the appliance, over any port backend.
//!
//! A [`Backend`] brings up its ports and hands out, per worker, a buffer pool and one queue
//! per port; it launches workers on their cores (threads, DPDK lcores) and says when they
//! have finished. Everything else — punt and inject rings, counters, workers, the control
//! core with its services, the loop, shutdown — is here, once, for every backend.
//!
//! The loop, on the control core's thread: drain every punt ring (a bounded burst per
//! ring), run due timers, read host sockets, let the [`Supervisor`] act (statistics,
//! reload, management), publish table changes, and sleep briefly when there was nothing to
//! do (parked: a supervisor's other thread may wake the loop with `Thread::unpark`). It
//! ends when the stop flag is raised, the duration has passed, the supervisor says so, or
//! every worker has finished (finite inputs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::buffer::{BufAlloc, BufPool, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::PortInfo;
use dataplane::port::PortQueue;
use dataplane::punt::{InjectRing, PuntRing, INJECT_RING_SIZE, PUNT_RING_SIZE};
use dataplane::worker::{StopWhen, Worker};
use vr::{ForwardingState, StateWriter};

use crate::core::{Core, CoreError};
use crate::service::Service;

/// Punts handled per ring per loop iteration.
const PUNT_BURST: usize = 256;
/// Longest sleep of an idle loop (bounds the latency of a punt that arrives meanwhile).
const IDLE_SLEEP: Duration = Duration::from_micros(500);

/// One worker's queues and buffer pool, as a backend hands them out.
pub struct WorkerIo<B: PacketBuf, P: BufPool<B>> {
    /// The worker's buffer pool.
    pub pool: P,
    /// One queue per port (`queues[i]` serves port `i`).
    pub queues: Vec<Box<dyn PortQueue<B, P>>>,
}

/// A port backend: what differs between `mem`, `pcap`, `af_packet` and `dpdk`.
pub trait Backend {
    /// Packet buffer.
    type Buf: PacketBuf;
    /// Per-worker buffer pool.
    type Pool: BufPool<Self::Buf> + Send + 'static;

    /// Number of workers.
    fn workers(&self) -> usize;
    /// Port facts (MAC, MTU), index = port id.
    fn ports(&self) -> Arc<[PortInfo]>;
    /// Ports whose punts go to the protocol services (real links); punts from the others
    /// (generators, capture replays) are counted and released.
    fn live_ports(&self) -> Vec<bool>;
    /// Worker `w`'s pool and queues (called once per worker).
    fn worker_io(&mut self, w: usize) -> Result<WorkerIo<Self::Buf, Self::Pool>, String>;
    /// Starts `job` (worker `w`'s loop) on its core.
    fn launch(&mut self, w: usize, job: Box<dyn FnOnce() + Send>) -> Result<(), String>;
    /// True when every launched worker has returned.
    fn workers_finished(&self) -> bool;
    /// Waits for every launched worker; returns how many panicked.
    fn join(&mut self) -> usize;
    /// The buffer allocator of the control core.
    fn allocator(&self) -> Box<dyn BufAlloc<Self::Buf>>;
    /// A handle on the backend's own per-port statistics (device xstats, kernel counters,
    /// checksum completion) that any thread can read while the appliance runs (the
    /// management API's `/api/v1/stats` and `/metrics`).
    fn port_stats_source(&self) -> PortStatsSource;
    /// Per port, the backend's own statistics now.
    fn port_stats(&self) -> Vec<(String, Vec<(String, u64)>)> {
        (self.port_stats_source())()
    }
}

/// Reads a backend's per-port statistics: (port name, [(statistic, value)]); ports without
/// statistics of their own (generators, capture files) are left out.
pub type PortStatsSource = Arc<dyn Fn() -> Vec<(String, Vec<(String, u64)>)> + Send + Sync>;

/// The supervisor's answer after each loop iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop the appliance.
    Stop,
}

/// What drives the appliance from outside the data path: statistics lines, profile
/// reloads, management commands. Called on the control core once per loop iteration.
pub trait Supervisor<B: PacketBuf> {
    /// One loop iteration has run.
    fn tick(&mut self, core: &mut Core<B>, counters: &[Arc<WorkerCounters>], now: Instant) -> Flow;
}

/// A supervisor that does nothing.
pub struct Unsupervised;

impl<B: PacketBuf> Supervisor<B> for Unsupervised {
    fn tick(&mut self, _: &mut Core<B>, _: &[Arc<WorkerCounters>], _: Instant) -> Flow {
        Flow::Continue
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// When workers stop on their own.
    pub stop_when: StopWhen,
}

/// Run failures (before any packet moved, or a worker that panicked).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The backend failed.
    #[error("{0}")]
    Backend(String),
    /// Two services want the same thing.
    #[error(transparent)]
    Service(#[from] CoreError),
    /// Workers panicked.
    #[error("{0} worker(s) panicked")]
    WorkersPanicked(usize),
}

/// What a run did.
pub struct RunReport {
    /// Wall time from the workers' start.
    pub elapsed: Duration,
    /// Workers.
    pub workers: usize,
    /// Every worker's counters.
    pub counters: Vec<Arc<WorkerCounters>>,
    /// Punts the control core received, by reason.
    pub punts: Vec<(dataplane::counters::Punt, u64)>,
    /// The control core's and its services' counters.
    pub control: Vec<(String, u64)>,
    /// The last published version (VRs with their counters).
    pub state: Arc<ForwardingState>,
    /// Per port, the backend's own statistics.
    pub port_stats: Vec<(String, Vec<(String, u64)>)>,
}

/// Runs the appliance: `writer` holds the initial tables, `services` the protocol
/// services, `stop` is the stop flag (SIGINT/SIGTERM).
pub fn run<Bk: Backend>(
    backend: &mut Bk,
    writer: StateWriter,
    services: Vec<Box<dyn Service>>,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    sup: &mut dyn Supervisor<Bk::Buf>,
) -> Result<RunReport, RunError> {
    let nworkers = backend.workers().max(1);
    let ports = backend.ports();
    let counters: Vec<Arc<WorkerCounters>> = (0..nworkers)
        .map(|w| Arc::new(WorkerCounters::new(w, ports.len())))
        .collect();
    let punts: Vec<Arc<PuntRing<Bk::Buf>>> = (0..nworkers)
        .map(|_| Arc::new(PuntRing::new(PUNT_RING_SIZE)))
        .collect();
    let injects: Vec<Arc<InjectRing<Bk::Buf>>> = (0..nworkers)
        .map(|_| Arc::new(InjectRing::new(INJECT_RING_SIZE)))
        .collect();
    let mut core = Core::new(
        writer,
        ports.clone(),
        backend.live_ports(),
        injects.clone(),
        backend.allocator(),
    );
    for s in services {
        core.add_service(s)?;
    }
    core.start(Instant::now());
    core.publish();

    let start = Instant::now();
    for w in 0..nworkers {
        let launched = backend.worker_io(w).and_then(|io| {
            let mut worker = Worker::new(
                w,
                io.pool,
                io.queues,
                ports.clone(),
                core.handle(),
                counters[w].clone(),
                punts[w].clone(),
            )
            .with_inject(injects[w].clone());
            let stop = stop.clone();
            let when = opts.stop_when;
            backend.launch(w, Box::new(move || worker.run(&stop, when)))
        });
        if let Err(e) = launched {
            stop.store(true, Ordering::Relaxed);
            backend.join();
            core.drain_rings();
            return Err(RunError::Backend(e));
        }
    }

    loop {
        let now = Instant::now();
        let mut busy = 0;
        for r in &punts {
            for _ in 0..PUNT_BURST {
                match r.pop() {
                    Some(p) => {
                        busy += 1;
                        core.handle_punt(now, p);
                    }
                    None => break,
                }
            }
        }
        busy += core.run_timers(now);
        busy += core.poll_sockets(now);
        let flow = sup.tick(&mut core, &counters, now);
        core.publish();
        core.stats.loop_busy.observe(now.elapsed());
        if flow == Flow::Stop || stop.load(Ordering::Relaxed) || backend.workers_finished() {
            break;
        }
        if opts.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if busy == 0 {
            let nap = core
                .next_deadline()
                .map_or(IDLE_SLEEP, |t| t.saturating_duration_since(Instant::now()))
                .min(IDLE_SLEEP);
            if !nap.is_zero() {
                // A park, not a sleep: another thread (the management API, when it queues
                // a command) may unpark the loop early. A spurious wake-up only costs one
                // more iteration.
                std::thread::park_timeout(nap);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    core.stop(Instant::now());
    let panicked = backend.join();
    let elapsed = start.elapsed();
    // What the workers punted last is counted, then every buffer goes back before the
    // backend (and, for DPDK, its pools) can go away.
    let now = Instant::now();
    for r in &punts {
        while let Some(p) = r.pop() {
            core.handle_punt(now, p);
        }
    }
    core.drain_rings();
    if panicked > 0 {
        return Err(RunError::WorkersPanicked(panicked));
    }
    Ok(RunReport {
        elapsed,
        workers: nworkers,
        counters,
        punts: core.punts_received(),
        control: core.stat_lines(),
        state: core.state(),
        port_stats: backend.port_stats(),
    })
}
