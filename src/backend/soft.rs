//! The software backends: `mem` (in-process generator and sink), `pcap` (capture files) and
//! `af_packet` (Linux interfaces). Workers are threads pinned to the profile's cores; their
//! buffers come from per-worker heap pools.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use controlcore::{Backend, PortStatsSource, WorkerIo};
use dataplane::buffer::{BufAlloc, HeapAlloc, HeapBuf, HeapPool};
use dataplane::pipeline::PortInfo;
use dataplane::port::af_packet::{self, AfPacketPort, AfPacketStats};
use dataplane::port::mem::{self, Egress, FlowSpec, MemPort, MemStats, Range};
use dataplane::port::pcap::{read_capture, CaptureWriter, PcapPort, SharedWriter};
use dataplane::port::PortQueue;

use super::BackendError;
use crate::config::{AddrRange, Backend as PortBackend, Config, FrameSize};

/// Buffers each worker may have in flight (rx bursts, tx buffers, punt ring share).
const POOL_LIMIT: usize = 8192;

/// Checks that the profile's cores exist on this machine.
pub fn check_cores(cfg: &Config) -> Result<(), BackendError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    for c in cfg.worker_cores.iter().chain(cfg.control_core.iter()) {
        if !cores.iter().any(|id| id.id == *c) {
            return Err(BackendError::NoSuchCore(*c, cores.len()));
        }
    }
    Ok(())
}

/// Pins the calling thread to `core` (when given); false if the OS refused.
pub fn pin(core: Option<usize>) -> bool {
    match core {
        Some(c) => core_affinity::set_for_current(core_affinity::CoreId { id: c }),
        None => true,
    }
}

fn range(r: AddrRange) -> Range {
    match r {
        AddrRange::V4(a, b) => Range::V4(a, b),
        AddrRange::V6(a, b) => Range::V6(a, b),
    }
}

/// A deterministic locally administered MAC for the hosts behind a port.
fn host_mac(port: usize) -> [u8; 6] {
    [0x02, 0xee, 0, 0, (port >> 8) as u8, port as u8]
}

fn split(total: u64, parts: usize, i: usize) -> u64 {
    total / parts as u64 + u64::from((i as u64) < total % parts as u64)
}

/// The generator flows of mem port `port` as worker `w` of `workers` runs them: rates and
/// packet budgets split between the workers, sequence numbers interleaved.
pub fn flow_specs(cfg: &Config, port: usize, workers: usize, w: usize) -> Vec<FlowSpec> {
    let p = &cfg.ports[port];
    cfg.flows
        .iter()
        .enumerate()
        .filter(|(_, f)| f.port == port)
        .map(|(id, f)| FlowSpec {
            id: id as u32,
            dst_mac: p.mac,
            src_mac: host_mac(port),
            vlan: f.vlan,
            labels: f.labels.clone(),
            src: range(f.src),
            dst: range(f.dst),
            sizes: match f.size {
                FrameSize::Fixed(n) => vec![n],
                FrameSize::Imix => mem::IMIX.to_vec(),
            },
            rate_pps: f.rate_pps.map(|r| split(r, workers, w).max(1)),
            count: f.count.map(|c| split(c, workers, w)),
            seq_base: w as u64,
            seq_stride: workers as u64,
        })
        .collect()
}

/// Port facts the pipeline needs, from the profile alone (the MTU as configured).
pub fn static_port_infos(cfg: &Config) -> Arc<[PortInfo]> {
    cfg.ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: p.mtu,
        })
        .collect()
}

type Queues = Vec<Box<dyn PortQueue<HeapBuf, HeapPool>>>;

/// Worker threads pinned to their cores: launching, watching and joining them (shared by
/// the software backends and the benchmark's replay backend).
pub struct Threads {
    cores: Vec<Option<usize>>,
    handles: Vec<JoinHandle<()>>,
}

impl Threads {
    /// Workers `0..cores.len()`, worker `w` pinned to `cores[w]` when given.
    pub fn new(cores: Vec<Option<usize>>) -> Self {
        Threads {
            cores,
            handles: Vec::new(),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.cores.len()
    }

    /// Starts worker `w` on its core.
    pub fn launch(&mut self, w: usize, job: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        let core = self.cores.get(w).copied().flatten();
        let h = std::thread::Builder::new()
            .name(format!("worker{w}"))
            .spawn(move || {
                if !pin(core) {
                    tracing::warn!(worker = w, core = ?core, "could not pin worker");
                }
                job();
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        self.handles.push(h);
        Ok(())
    }

    /// True when every started worker has returned.
    pub fn finished(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Waits for every worker; returns how many panicked.
    pub fn join(&mut self) -> usize {
        self.handles
            .drain(..)
            .map(|h| h.join())
            .filter(Result::is_err)
            .count()
    }
}

/// The `mem`, `pcap` and `af_packet` ports of a profile.
pub struct SoftBackend {
    ports: Arc<[PortInfo]>,
    live: Vec<bool>,
    names: Vec<String>,
    threads: Threads,
    io: Vec<Option<Queues>>,
    afp_stats: Vec<Option<Arc<AfPacketStats>>>,
    /// Per worker, the generator and sink statistics of the mem ports.
    pub mem_stats: Vec<Arc<MemStats>>,
}

impl SoftBackend {
    /// Opens every port of `cfg` (none may be `dpdk`).
    pub fn new(cfg: &Config) -> Result<Self, BackendError> {
        check_cores(cfg)?;
        let workers = cfg.worker_cores.len().max(1);
        let ports: Arc<[PortInfo]> = cfg
            .ports
            .iter()
            .map(|p| {
                Ok(PortInfo {
                    mac: p.mac,
                    mtu: match &p.backend {
                        PortBackend::AfPacket { interface } => {
                            af_packet::interface_info(interface)?.mtu
                        }
                        _ => p.mtu,
                    },
                })
            })
            .collect::<Result<_, BackendError>>()?;
        let mem_stats: Vec<Arc<MemStats>> = (0..workers)
            .map(|_| Arc::new(MemStats::new(cfg.flows.len(), cfg.ports.len())))
            .collect();
        let expect: Arc<Vec<Option<Egress>>> = Arc::new(
            cfg.flows
                .iter()
                .map(|f| {
                    f.expect.as_ref().map(|e| Egress {
                        port: e.port as u16,
                        vlan: e.vlan,
                        labels: e.labels.clone(),
                    })
                })
                .collect(),
        );
        let mut per_worker: Vec<Queues> = (0..workers).map(|_| Vec::new()).collect();
        let mut afp_stats = Vec::new();
        for (pi, p) in cfg.ports.iter().enumerate() {
            let mut stats = None;
            match &p.backend {
                PortBackend::Mem => {
                    for (w, queues) in per_worker.iter_mut().enumerate() {
                        queues.push(Box::new(MemPort::new(
                            pi as u16,
                            flow_specs(cfg, pi, workers, w),
                            expect.clone(),
                            mem_stats[w].clone(),
                        )));
                    }
                }
                PortBackend::AfPacket { interface } => {
                    // One socket per worker; several join one fanout group.
                    let fanout = (workers > 1).then(|| {
                        af_packet::interface_info(interface)
                            .map(|i| af_packet::fanout_group(i.ifindex))
                    });
                    let fanout = fanout.transpose()?;
                    let st: Arc<AfPacketStats> = Arc::default();
                    for queues in per_worker.iter_mut() {
                        queues.push(Box::new(AfPacketPort::open(interface, fanout, st.clone())?));
                    }
                    stats = Some(st);
                }
                PortBackend::Dpdk { .. } => return Err(BackendError::DpdkNotBuilt),
                PortBackend::Pcap { rx, tx } => {
                    let rx_pkts = match rx {
                        Some(path) => read_capture(path)?,
                        None => Vec::new(),
                    };
                    let writer: Option<SharedWriter> = match tx {
                        Some(path) => Some(CaptureWriter::create(path)?),
                        None => None,
                    };
                    for (w, queues) in per_worker.iter_mut().enumerate() {
                        // A capture file is one queue: worker 0 replays it, every worker
                        // may send.
                        let pkts = if w == 0 { rx_pkts.clone() } else { Vec::new() };
                        queues.push(Box::new(PcapPort::new(pkts, writer.clone())));
                    }
                }
            }
            afp_stats.push(stats);
        }
        Ok(SoftBackend {
            ports,
            live: cfg
                .ports
                .iter()
                .map(|p| matches!(p.backend, PortBackend::AfPacket { .. }))
                .collect(),
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            threads: Threads::new(
                (0..workers)
                    .map(|w| cfg.worker_cores.get(w).copied())
                    .collect(),
            ),
            io: per_worker.into_iter().map(Some).collect(),
            afp_stats,
            mem_stats,
        })
    }
}

impl Backend for SoftBackend {
    type Buf = HeapBuf;
    type Pool = HeapPool;

    fn workers(&self) -> usize {
        self.threads.workers()
    }

    fn ports(&self) -> Arc<[PortInfo]> {
        self.ports.clone()
    }

    fn live_ports(&self) -> Vec<bool> {
        self.live.clone()
    }

    fn worker_io(&mut self, w: usize) -> Result<WorkerIo<HeapBuf, HeapPool>, String> {
        let queues = self
            .io
            .get_mut(w)
            .and_then(Option::take)
            .ok_or_else(|| format!("worker {w} has no queues (asked twice?)"))?;
        Ok(WorkerIo {
            pool: HeapPool::new(1024, POOL_LIMIT),
            queues,
        })
    }

    fn launch(&mut self, w: usize, job: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        self.threads.launch(w, job)
    }

    fn workers_finished(&self) -> bool {
        self.threads.finished()
    }

    fn join(&mut self) -> usize {
        self.threads.join()
    }

    fn allocator(&self) -> Box<dyn BufAlloc<HeapBuf>> {
        Box::new(HeapAlloc)
    }

    fn port_stats_source(&self) -> PortStatsSource {
        let ports: Vec<(String, Arc<AfPacketStats>)> = self
            .names
            .iter()
            .zip(&self.afp_stats)
            .filter_map(|(n, st)| Some((n.clone(), st.clone()?)))
            .collect();
        Arc::new(move || {
            let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
            ports
                .iter()
                .map(|(n, st)| {
                    (
                        n.clone(),
                        vec![
                            ("kernel_packets".to_string(), l(&st.kernel_packets)),
                            ("kernel_drops".to_string(), l(&st.kernel_drops)),
                            ("rx_oversize".to_string(), l(&st.rx_oversize)),
                            ("rx_no_buffer".to_string(), l(&st.rx_no_buffer)),
                            ("tx_ring_full".to_string(), l(&st.tx_ring_full)),
                            ("rx_csum_completed".to_string(), l(&st.rx_csum_completed)),
                            ("rx_csum_unhandled".to_string(), l(&st.rx_csum_unhandled)),
                        ],
                    )
                })
                .collect()
        })
    }
}
