//! Running an appliance: threads, pinning, the control loop, live statistics and the
//! final summary.

use crate::config::{AddrRange, Backend, Config, FrameSize};
use dataplane::buffer::{HeapBuf, HeapPool};
use dataplane::counters::{Punt, Totals, WorkerCounters};
use dataplane::pipeline::PortInfo;
use dataplane::port::af_packet::{self, AfPacketPort, AfPacketStats};
use dataplane::port::mem::{self, Egress, FlowSpec, MemPort, MemStats, Range};
use dataplane::port::pcap::{read_capture, CaptureWriter, PcapPort, SharedWriter};
use dataplane::port::PortQueue;
use dataplane::punt::{InjectRing, PuntRing, INJECT_RING_SIZE, PUNT_RING_SIZE};
use dataplane::worker::{StopWhen, Worker};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{ForwardingState, Publisher};

/// Buffers each worker may have in flight (rx bursts, tx buffers, punt ring share).
const POOL_LIMIT: usize = 8192;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when every input is exhausted (capture files, counted flows).
    pub until_inputs_finished: bool,
    /// Print a stats line this often.
    pub stats_every: Option<Duration>,
}

/// Run failures (before any packet moved).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Table compilation.
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    /// A capture file.
    #[error(transparent)]
    Pcap(#[from] dataplane::port::pcap::PcapError),
    /// A core that does not exist.
    #[error("core {0} does not exist on this machine (cores 0..{1} are available)")]
    NoSuchCore(usize, usize),
    /// A thread failed to start.
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    /// A profile with `dpdk` ports run by a binary built without DPDK.
    #[error("backend `dpdk` needs a build with `--features dpdk` (cargo build --release --features dpdk; needs libdpdk-dev)")]
    DpdkNotBuilt,
    /// An af_packet port could not be opened.
    #[error(transparent)]
    AfPacket(#[from] dataplane::port::af_packet::AfPacketError),
    /// DPDK refused something (EAL, ports, pools, lcores).
    #[error("{0}")]
    Dpdk(String),
}

/// Per-flow results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowResult {
    /// Flow name.
    pub name: String,
    /// VR the flow belongs to (name), if known.
    pub vr: Option<String>,
    /// Generated.
    pub sent: u64,
    /// Left where expected.
    pub delivered: u64,
    /// Left anywhere else (for a flow expected to be dropped: left at all).
    pub misdelivered: u64,
}

/// Per-VR results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrResult {
    /// VR id.
    pub id: u32,
    /// VR name.
    pub name: String,
    /// Packets classified into the VR.
    pub rx: u64,
    /// Packets forwarded by the VR.
    pub tx: u64,
    /// Generator packets of this VR's flows delivered where expected.
    pub delivered: u64,
    /// Generator packets of this VR's flows delivered anywhere else.
    pub misdelivered: u64,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Wall time.
    pub elapsed: Duration,
    /// Workers.
    pub workers: usize,
    /// Summed counters.
    pub totals: Totals,
    /// Port names (index = port id).
    pub port_names: Vec<String>,
    /// Per flow.
    pub flows: Vec<FlowResult>,
    /// Per VR.
    pub vrs: Vec<VrResult>,
    /// Frames the sinks could not attribute to a flow, per port.
    pub foreign: Vec<u64>,
    /// Punted packets the control core received, by reason.
    pub punted: Vec<(Punt, u64)>,
    /// Per port, the backend's own statistics (DPDK xstats); empty for other backends.
    pub backend_stats: Vec<(String, Vec<(String, u64)>)>,
}

impl Summary {
    /// All misdelivered packets.
    pub fn misdelivered(&self) -> u64 {
        self.flows.iter().map(|f| f.misdelivered).sum()
    }
    /// Packets received on all ports.
    pub fn rx_packets(&self) -> u64 {
        self.totals.ports.iter().map(|p| p.0).sum()
    }
    /// Packets sent on all ports.
    pub fn tx_packets(&self) -> u64 {
        self.totals.ports.iter().map(|p| p.1).sum()
    }
}

/// The VR (index into `cfg.vrs`) a flow belongs to: the VR of its ingress interface, or
/// for labelled ingress the VR its top label pops into, or the VR of its expected egress.
pub fn flow_vr(cfg: &Config, f: &crate::config::FlowCfg) -> Option<usize> {
    let by_if = |port: usize, vlan: Option<u16>| {
        cfg.vrs.iter().position(|v| {
            v.interfaces
                .iter()
                .any(|i| i.port == port && i.vlan == vlan)
        })
    };
    by_if(f.port, f.vlan)
        .or_else(|| {
            let top = *f.labels.last()?;
            cfg.label_matrix.iter().find_map(|l| match l.op {
                crate::config::LabelOpCfg::Pop { vr } if l.label == top => Some(vr),
                _ => None,
            })
        })
        .or_else(|| f.expect.as_ref().and_then(|e| by_if(e.port, e.vlan)))
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

fn split(total: u64, parts: usize, i: usize) -> u64 {
    total / parts as u64 + u64::from((i as u64) < total % parts as u64)
}

/// Builds the per-worker port queues.
#[allow(clippy::type_complexity)]
fn make_queues(
    cfg: &Config,
    workers: usize,
    stats: &[Arc<MemStats>],
    afp_stats: &[Arc<AfPacketStats>],
) -> Result<Vec<Vec<Box<dyn PortQueue<HeapBuf, HeapPool>>>>, RunError> {
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
    let mut per_worker: Vec<Vec<Box<dyn PortQueue<HeapBuf, HeapPool>>>> =
        (0..workers).map(|_| Vec::new()).collect();
    for (pi, p) in cfg.ports.iter().enumerate() {
        match &p.backend {
            Backend::Mem => {
                for (w, queues) in per_worker.iter_mut().enumerate() {
                    let flows = flow_specs(cfg, pi, workers, w);
                    queues.push(Box::new(MemPort::new(
                        pi as u16,
                        flows,
                        expect.clone(),
                        stats[w].clone(),
                    )));
                }
            }
            Backend::AfPacket { interface } => {
                // One socket per worker; several join one fanout group.
                let fanout = (workers > 1).then(|| {
                    af_packet::interface_info(interface).map(|i| af_packet::fanout_group(i.ifindex))
                });
                let fanout = fanout.transpose()?;
                for queues in per_worker.iter_mut() {
                    queues.push(Box::new(AfPacketPort::open(
                        interface,
                        fanout,
                        afp_stats[pi].clone(),
                    )?));
                }
            }
            // Profiles with dpdk ports run in `crate::run_dpdk` (check forbids mixing).
            Backend::Dpdk { .. } => return Err(RunError::DpdkNotBuilt),
            Backend::Pcap { rx, tx } => {
                let rx_pkts = match rx {
                    Some(path) => read_capture(path)?,
                    None => Vec::new(),
                };
                let writer: Option<SharedWriter> = match tx {
                    Some(path) => Some(CaptureWriter::create(path)?),
                    None => None,
                };
                for (w, queues) in per_worker.iter_mut().enumerate() {
                    // A capture file is one queue: worker 0 replays it, every worker may send.
                    let pkts = if w == 0 { rx_pkts.clone() } else { Vec::new() };
                    queues.push(Box::new(PcapPort::new(pkts, writer.clone())));
                }
            }
        }
    }
    Ok(per_worker)
}

/// Runs the appliance described by `cfg` until `stop` is raised or `opts` says so.
pub fn run(cfg: &Config, opts: &RunOptions, stop: Arc<AtomicBool>) -> Result<Summary, RunError> {
    run_with_reload(cfg, opts, stop, None)
}

/// Where a running appliance re-reads its profile from, and the flag (raised by SIGHUP)
/// that asks it to.
#[derive(Clone, Debug)]
pub struct Reload {
    /// The profile file.
    pub path: std::path::PathBuf,
    /// Raised to request a reload; lowered by the control loop.
    pub requested: Arc<AtomicBool>,
}

/// [`run`], re-reading the profile whenever `reload` is requested. A reload applies the
/// changes that can be made live — today the L2TP role of each VR (LAC ↔ LNS, draining the
/// VR's tunnels first) — and reports every other difference as needing a restart. A profile
/// that does not check is refused with its errors and the running configuration is kept.
pub fn run_with_reload(
    cfg: &Config,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    reload: Option<Reload>,
) -> Result<Summary, RunError> {
    if cfg
        .ports
        .iter()
        .any(|p| matches!(p.backend, Backend::Dpdk { .. }))
    {
        #[cfg(feature = "dpdk")]
        return crate::run_dpdk::run(cfg, opts, stop);
        #[cfg(not(feature = "dpdk"))]
        return Err(RunError::DpdkNotBuilt);
    }
    let builder = crate::build::compile_builder(cfg)?;
    let tables = builder
        .build(1)
        .map_err(|e| crate::build::BuildError(format!("tables: {e}")))?;
    let publisher: Publisher<ForwardingState> = Publisher::new(tables);

    let cores = core_affinity::get_core_ids().unwrap_or_default();
    for c in cfg.worker_cores.iter().chain(cfg.control_core.iter()) {
        if !cores.iter().any(|id| id.id == *c) {
            return Err(RunError::NoSuchCore(*c, cores.len()));
        }
    }
    let nworkers = cfg.worker_cores.len().max(1);
    let vr_slots = cfg.vr_slots();
    let ports: Arc<[PortInfo]> = cfg
        .ports
        .iter()
        .map(|p| {
            Ok(PortInfo {
                mac: p.mac,
                mtu: match &p.backend {
                    Backend::AfPacket { interface } => af_packet::interface_info(interface)?.mtu,
                    _ => p.mtu,
                },
            })
        })
        .collect::<Result<_, RunError>>()?;
    let counters: Vec<Arc<WorkerCounters>> = (0..nworkers)
        .map(|_| Arc::new(WorkerCounters::new(cfg.ports.len(), vr_slots)))
        .collect();
    let mem_stats: Vec<Arc<MemStats>> = (0..nworkers)
        .map(|_| Arc::new(MemStats::new(cfg.flows.len(), cfg.ports.len())))
        .collect();
    let rings: Vec<Arc<PuntRing<HeapBuf>>> = (0..nworkers)
        .map(|_| Arc::new(PuntRing::new(PUNT_RING_SIZE)))
        .collect();
    let afp_stats: Vec<Arc<AfPacketStats>> = cfg.ports.iter().map(|_| Arc::default()).collect();
    let injects: Vec<Arc<InjectRing<HeapBuf>>> = (0..nworkers)
        .map(|_| Arc::new(InjectRing::new(INJECT_RING_SIZE)))
        .collect();
    let queues = make_queues(cfg, nworkers, &mem_stats, &afp_stats)?;

    if let Some(c) = cfg.control_core {
        core_affinity::set_for_current(core_affinity::CoreId { id: c });
    }
    let when = if opts.until_inputs_finished {
        StopWhen::InputsFinished
    } else {
        StopWhen::Flag
    };
    let start = Instant::now();
    let mut handles = Vec::new();
    for (w, q) in queues.into_iter().enumerate() {
        let mut worker = Worker::new(
            w,
            HeapPool::new(1024, POOL_LIMIT),
            q,
            ports.clone(),
            publisher.handle(),
            counters[w].clone(),
            rings[w].clone(),
        )
        .with_inject(injects[w].clone());
        let core = cfg.worker_cores.get(w).copied();
        let stop = stop.clone();
        let h = std::thread::Builder::new()
            .name(format!("worker{w}"))
            .spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        tracing::warn!(worker = w, core = c, "could not pin worker");
                    }
                }
                worker.run(&stop, when);
            })
            .map_err(RunError::Spawn)?;
        handles.push(h);
    }

    // Control loop: drain punt rings into the ARP/ND/ICMP engines, publish what they
    // learn, print stats, watch the clock.
    let live: Vec<bool> = cfg
        .ports
        .iter()
        .map(|p| matches!(p.backend, Backend::AfPacket { .. }))
        .collect();
    let mut control = crate::control::Control::new(
        cfg,
        builder,
        publisher,
        ports.clone(),
        injects.clone(),
        &live,
        Instant::now(),
    );
    let mut punted = [0u64; Punt::COUNT];
    let mut last_print = Instant::now();
    let mut last_totals = Totals::sum(&counters);
    loop {
        let mut drained = 0;
        for r in &rings {
            while let Some(p) = r.pop() {
                punted[p.reason as usize] += 1;
                drained += 1;
                control.handle_punt(Instant::now(), p);
            }
        }
        if let Some(r) = &reload {
            if r.requested.swap(false, Ordering::Relaxed) {
                apply_reload(cfg, &r.path, &mut control, Instant::now());
            }
        }
        control.tick(Instant::now());
        let all_done = handles.iter().all(|h| h.is_finished());
        if all_done || stop.load(Ordering::Relaxed) {
            break;
        }
        if opts.duration.is_some_and(|d| start.elapsed() >= d) {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        if let Some(every) = opts.stats_every {
            if last_print.elapsed() >= every {
                let now = Totals::sum(&counters);
                let secs = last_print.elapsed().as_secs_f64();
                println!(
                    "{}",
                    stats_line(cfg, start.elapsed(), &last_totals, &now, secs)
                );
                last_totals = now;
                last_print = Instant::now();
            }
        }
        if drained == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    for r in &rings {
        while let Some(p) = r.pop() {
            punted[p.reason as usize] += 1;
        }
    }
    let elapsed = start.elapsed();
    let totals = Totals::sum(&counters);

    let sum_flow = |f: &dyn Fn(&MemStats) -> &[std::sync::atomic::AtomicU64], i: usize| {
        mem_stats.iter().map(|s| mem::load(f(s), i)).sum::<u64>()
    };
    let flows: Vec<FlowResult> = cfg
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| FlowResult {
            name: f.name.clone(),
            vr: flow_vr(cfg, f).map(|v| cfg.vrs[v].name.clone()),
            sent: sum_flow(&|s| &s.sent, i),
            delivered: sum_flow(&|s| &s.delivered, i),
            misdelivered: sum_flow(&|s| &s.misdelivered, i),
        })
        .collect();
    let vrs = cfg
        .vrs
        .iter()
        .map(|v| {
            let mine = flows
                .iter()
                .filter(|f| f.vr.as_deref() == Some(v.name.as_str()));
            let (d, m) = mine.fold((0, 0), |(d, m), f| (d + f.delivered, m + f.misdelivered));
            let (rx, tx) = totals.vrs.get(v.id as usize).copied().unwrap_or((0, 0));
            VrResult {
                id: v.id,
                name: v.name.clone(),
                rx,
                tx,
                delivered: d,
                misdelivered: m,
            }
        })
        .collect();
    Ok(Summary {
        elapsed,
        workers: nworkers,
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        foreign: (0..cfg.ports.len())
            .map(|p| sum_flow(&|s| &s.foreign, p))
            .collect(),
        totals,
        flows,
        vrs,
        punted: Punt::ALL
            .iter()
            .map(|p| (*p, punted[*p as usize]))
            .collect(),
        backend_stats: cfg
            .ports
            .iter()
            .zip(&afp_stats)
            .filter(|(p, _)| matches!(p.backend, Backend::AfPacket { .. }))
            .map(|(p, st)| {
                let l = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                (
                    p.name.clone(),
                    vec![
                        ("kernel_packets".to_string(), l(&st.kernel_packets)),
                        ("kernel_drops".to_string(), l(&st.kernel_drops)),
                        ("rx_oversize".to_string(), l(&st.rx_oversize)),
                        ("rx_no_buffer".to_string(), l(&st.rx_no_buffer)),
                        ("tx_ring_full".to_string(), l(&st.tx_ring_full)),
                    ],
                )
            })
            .chain(std::iter::once((
                "control core".to_string(),
                control.stat_lines(),
            )))
            .collect(),
    })
}

/// Re-reads the profile and applies what can change live (see [`run_with_reload`]).
fn apply_reload(
    running: &Config,
    path: &std::path::Path,
    control: &mut crate::control::Control,
    now: Instant,
) {
    let new = match crate::load_config(path) {
        Ok(c) => c,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            eprintln!(
                "varouter: reload refused ({} errors); running configuration kept",
                errs.len()
            );
            return;
        }
    };
    let mut applied = 0;
    for v in &new.vrs {
        let Some(old) = running.vrs.iter().find(|o| o.id == v.id) else {
            eprintln!(
                "varouter: reload: VR {} is new; adding VRs needs a restart",
                v.name
            );
            continue;
        };
        let (Some(nl), Some(ol)) = (&v.l2tp, &old.l2tp) else {
            if v.l2tp.is_some() != old.l2tp.is_some() {
                eprintln!(
                    "varouter: reload: adding or removing L2TP on VR {} needs a restart",
                    v.name
                );
            }
            continue;
        };
        if nl.role != ol.role {
            let role = match nl.role {
                crate::config::L2tpRole::Lac => controlplane::l2tp::engine::Role::Lac,
                crate::config::L2tpRole::Lns => controlplane::l2tp::engine::Role::Lns,
            };
            if control.l2tp.set_role(now, vr::VrId(v.id), role) {
                eprintln!(
                    "varouter: reload: VR {} switches L2TP role to {:?} (draining its tunnels)",
                    v.name, nl.role
                );
                applied += 1;
            }
        }
    }
    eprintln!(
        "varouter: reload of {}: {applied} live change(s) applied",
        path.display()
    );
}

/// Formats a rate in packets per second.
pub fn pps(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2}Mpps", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}kpps", n / 1e3)
    } else {
        format!("{n:.0}pps")
    }
}

/// Most VRs / ports named on one live stats line.
const LINE_ITEMS: usize = 8;

pub(crate) fn stats_line(
    cfg: &Config,
    t: Duration,
    before: &Totals,
    now: &Totals,
    secs: f64,
) -> String {
    let mut s = format!("[{:>4.0}s]", t.as_secs_f64());
    let rate = |a: u64, b: u64| pps((a.saturating_sub(b)) as f64 / secs);
    let mut shown = 0;
    let mut active = 0;
    for v in &cfg.vrs {
        let i = v.id as usize;
        let (rx, tx) = now.vrs.get(i).copied().unwrap_or_default();
        let (rx0, tx0) = before.vrs.get(i).copied().unwrap_or_default();
        if rx == rx0 && tx == tx0 {
            continue;
        }
        active += 1;
        if shown < LINE_ITEMS {
            let _ = write!(
                s,
                " | vr {} rx {} tx {}",
                v.name,
                rate(rx, rx0),
                rate(tx, tx0)
            );
            shown += 1;
        }
    }
    if active > shown {
        let _ = write!(s, " | +{} VRs", active - shown);
    }
    for (i, p) in cfg.ports.iter().enumerate().take(LINE_ITEMS) {
        let (rx, tx, dr) = now.ports[i];
        let (rx0, tx0, dr0) = before.ports[i];
        let _ = write!(
            s,
            " | {} rx {} tx {} drop {}",
            p.name,
            rate(rx, rx0),
            rate(tx, tx0),
            dr - dr0
        );
    }
    s
}

/// The final report, as printed by `varouter run`.
pub fn format_summary(s: &Summary) -> String {
    let mut o = String::new();
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(o, "=== varouter summary ===");
    let _ = writeln!(
        o,
        "elapsed {:.2}s, {} worker(s); rx {} pkts, tx {} pkts; {} per worker",
        secs,
        s.workers,
        s.rx_packets(),
        s.tx_packets(),
        pps(s.rx_packets() as f64 / secs / s.workers as f64)
    );
    let _ = writeln!(o, "virtual routers:");
    for v in &s.vrs {
        let _ = writeln!(
            o,
            "  {:<12} id {:<5} rx {:>12} tx {:>12} delivered {:>12} misdelivered {}",
            v.name, v.id, v.rx, v.tx, v.delivered, v.misdelivered
        );
    }
    let _ = writeln!(o, "ports:");
    for (i, n) in s.port_names.iter().enumerate() {
        let (rx, tx, dr) = s.totals.ports[i];
        let _ = writeln!(
            o,
            "  {n:<12} rx {rx:>12} tx {tx:>12} dropped {dr:>10} unattributed {}",
            s.foreign[i]
        );
    }
    if !s.flows.is_empty() {
        let _ = writeln!(o, "flows:");
        for f in &s.flows {
            let _ = writeln!(
                o,
                "  {:<24} vr {:<8} sent {:>12} delivered {:>12} misdelivered {}",
                f.name,
                f.vr.as_deref().unwrap_or("-"),
                f.sent,
                f.delivered,
                f.misdelivered
            );
        }
    }
    let drops: Vec<_> = s.totals.drops.iter().filter(|d| d.1 > 0).collect();
    if !drops.is_empty() {
        let _ = writeln!(o, "drops:");
        for (d, n) in drops {
            let _ = writeln!(o, "  {:<28} {n}", d.name());
        }
    }
    let punts: Vec<_> = s.punted.iter().filter(|p| p.1 > 0).collect();
    if !punts.is_empty() {
        let _ = writeln!(o, "punted to control core:");
        for (p, n) in punts {
            let _ = writeln!(o, "  {:<28} {n}", p.name());
        }
    }
    for (port, stats) in &s.backend_stats {
        let nz: Vec<_> = stats.iter().filter(|x| x.1 > 0).collect();
        if !nz.is_empty() {
            if port == "control core" {
                let _ = writeln!(o, "control core (non-zero):");
            } else {
                let _ = writeln!(o, "port {port} device statistics (non-zero):");
            }
            for (k, v) in nz {
                let _ = writeln!(o, "  {k:<36} {v}");
            }
        }
    }
    let _ = writeln!(
        o,
        "misdelivered (delivered to the wrong VR or port): {}",
        s.misdelivered()
    );
    o
}
