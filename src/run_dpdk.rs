//! Running a profile whose ports are DPDK ethdevs (cargo feature `dpdk`).
//!
//! Lcores: lcore 0 is the control core (the calling thread, which the EAL pins to
//! `cores.control`), lcore *i* runs worker *i − 1* pinned to `cores.workers[i − 1]`. Every
//! port gets one rx queue (RSS across them when the device hashes) and one tx queue per
//! worker; mbufs come from one pool per NUMA socket, sized from the queue depths. Workers
//! run the same [`Worker`] loop as every backend, with [`Mbuf`] as the buffer.
//!
//! DPDK can initialise its EAL once per process: a process runs one DPDK appliance.

use crate::config::{Backend, Config};
use crate::run::{RunError, RunOptions, Summary, VrResult};
use dataplane::counters::{Punt, Totals, WorkerCounters};
use dataplane::pipeline::PortInfo;
use dataplane::port::dpdk::{DpdkError, Eal, EthPort, Mbuf, MbufPool, Mempool, PortSetup};
use dataplane::port::{PortQueue, BURST};
use dataplane::punt::{PuntRing, PUNT_RING_SIZE};
use dataplane::worker::{StopWhen, Worker};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{ForwardingState, Publisher};

/// Per-lcore mempool cache.
const POOL_CACHE: u32 = 256;

fn dpdk_err(e: DpdkError) -> RunError {
    RunError::Dpdk(e.to_string())
}

/// The EAL arguments for a profile: the lcore map from `cores` (lcore 0 = control,
/// lcore i = worker i-1; unpinned threads may use every CPU), vdevs, PCI allow-list,
/// then the profile's own `eal_args`.
pub fn eal_args(cfg: &Config, ncpus: usize) -> Vec<String> {
    let any = format!("({}-{})", 0, ncpus.saturating_sub(1));
    let at = |c: Option<usize>| c.map_or_else(|| any.clone(), |c| c.to_string());
    let nworkers = cfg.worker_cores.len().max(1);
    let mut map = vec![format!("0@{}", at(cfg.control_core))];
    for w in 0..nworkers {
        map.push(format!(
            "{}@{}",
            w + 1,
            at(cfg.worker_cores.get(w).copied())
        ));
    }
    let mut a = vec![
        "--lcores".to_string(),
        map.join(","),
        "--main-lcore".into(),
        "0".into(),
    ];
    for v in &cfg.dpdk.vdevs {
        a.push("--vdev".into());
        a.push(v.clone());
    }
    for p in &cfg.dpdk.allow {
        a.push("-a".into());
        a.push(p.clone());
    }
    a.extend(cfg.dpdk.eal_args.iter().cloned());
    a
}

/// Mbufs a socket's pool needs: every descriptor of every queue of its ports, plus per
/// worker a burst in flight per port, the punt ring and the lcore caches, plus margin.
pub fn pool_size(
    ports_on_socket: usize,
    workers: usize,
    rx_desc: u16,
    tx_desc: u16,
    total_ports: usize,
) -> u32 {
    let rings = ports_on_socket * workers * (usize::from(rx_desc) + usize::from(tx_desc));
    let inflight = workers * (BURST * (total_ports + 2) + PUNT_RING_SIZE);
    let caches = (workers + 1) * POOL_CACHE as usize * 3 / 2;
    let n = rings + inflight + caches + 1024;
    // Mempools are most memory-efficient at 2^k − 1 elements.
    ((n + 1).next_power_of_two() - 1) as u32
}

/// Runs the appliance on DPDK until `stop` is raised or the duration ends.
pub fn run(cfg: &Config, opts: &RunOptions, stop: Arc<AtomicBool>) -> Result<Summary, RunError> {
    run_with_tables(cfg, crate::build::compile(cfg)?, opts, stop)
}

/// As [`run`], with tables compiled by the caller (benchmarks add routes from a file).
pub fn run_with_tables(
    cfg: &Config,
    tables: ForwardingState,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
) -> Result<Summary, RunError> {
    let publisher: Publisher<ForwardingState> = Publisher::new(tables);
    let ncpus = core_affinity::get_core_ids().map_or(1, |c| c.len().max(1));
    for c in cfg.worker_cores.iter().chain(cfg.control_core.iter()) {
        if *c >= ncpus {
            return Err(RunError::NoSuchCore(*c, ncpus));
        }
    }
    let nworkers = cfg.worker_cores.len().max(1);
    let devices: Vec<&str> = cfg
        .ports
        .iter()
        .map(|p| match &p.backend {
            Backend::Dpdk { device } => Ok(device.as_str()),
            _ => Err(RunError::Dpdk(format!(
                "port `{}` is not a dpdk port; a DPDK run needs every port on DPDK",
                p.name
            ))),
        })
        .collect::<Result<_, _>>()?;

    let eal = Eal::init(&eal_args(cfg, ncpus)).map_err(dpdk_err)?;
    if eal.lcore_count() as usize != nworkers + 1 {
        return Err(RunError::Dpdk(format!(
            "the EAL runs {} lcores; expected {} (1 control + {} workers)",
            eal.lcore_count(),
            nworkers + 1,
            nworkers
        )));
    }

    // One pool per NUMA socket of the ports.
    let mut sockets: BTreeMap<i32, usize> = BTreeMap::new();
    let mut port_socket = Vec::new();
    for d in &devices {
        let s = eal.port_socket(d).map_err(dpdk_err)?;
        *sockets.entry(s).or_default() += 1;
        port_socket.push(s);
    }
    let mut pools: BTreeMap<i32, Arc<Mempool>> = BTreeMap::new();
    for (&s, &n) in &sockets {
        let size = pool_size(
            n,
            nworkers,
            cfg.dpdk.rx_desc,
            cfg.dpdk.tx_desc,
            devices.len(),
        )
        .max(cfg.dpdk.mbufs);
        let name = format!("vr_mbuf_s{}", s.max(0));
        pools.insert(
            s,
            eal.mempool(&name, size, POOL_CACHE, s).map_err(dpdk_err)?,
        );
    }
    let setup = PortSetup {
        queues: nworkers as u16,
        rx_desc: cfg.dpdk.rx_desc,
        tx_desc: cfg.dpdk.tx_desc,
    };
    let mut ports: Vec<Arc<EthPort>> = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let port = eal
            .open_port(d, &setup, &pools[&port_socket[i]])
            .map_err(dpdk_err)?;
        let link = match port.link() {
            Ok(l) if l.up => format!(
                "link up {} Mbit/s {}",
                l.speed_mbps,
                if l.full_duplex {
                    "full-duplex"
                } else {
                    "half-duplex"
                }
            ),
            Ok(_) => "link down".into(),
            Err(e) => format!("link unknown ({e})"),
        };
        println!(
            "port {} = {} (driver {}, DPDK port {}, socket {}): {}, {} queue(s){}",
            cfg.ports[i].name,
            d,
            port.driver(),
            port.id(),
            port_socket[i],
            link,
            nworkers,
            if port.rss() { ", RSS" } else { "" }
        );
        ports.push(port);
    }

    let vr_slots = cfg.vr_slots();
    let infos: Arc<[PortInfo]> = crate::run::static_port_infos(cfg);
    let counters: Vec<Arc<WorkerCounters>> = (0..nworkers)
        .map(|_| Arc::new(WorkerCounters::new(cfg.ports.len(), vr_slots)))
        .collect();
    let rings: Vec<Arc<PuntRing<Mbuf>>> = (0..nworkers)
        .map(|_| Arc::new(PuntRing::new(PUNT_RING_SIZE)))
        .collect();

    let start = Instant::now();
    let mut launched = Vec::new();
    for w in 0..nworkers {
        let mut queues: Vec<Box<dyn PortQueue<Mbuf, MbufPool>>> = Vec::new();
        for p in &ports {
            let q = p
                .queue(w as u16)
                .ok_or_else(|| RunError::Dpdk(format!("port {} has no queue {w}", p.name())))?;
            queues.push(Box::new(q));
        }
        let pool = pools
            .get(&port_socket.first().copied().unwrap_or(-1))
            .cloned()
            .ok_or_else(|| RunError::Dpdk("no mbuf pool".into()))?;
        let mut worker = Worker::new(
            w,
            MbufPool(pool),
            queues,
            infos.clone(),
            publisher.handle(),
            counters[w].clone(),
            rings[w].clone(),
        );
        let wstop = stop.clone();
        match eal.launch(
            w as u32 + 1,
            Box::new(move || worker.run(&wstop, StopWhen::Flag)),
        ) {
            Ok(j) => launched.push(j),
            Err(e) => {
                // Stop (and wait for) the workers already running before reporting.
                stop.store(true, Ordering::Relaxed);
                drop(launched);
                return Err(dpdk_err(e));
            }
        }
    }

    // Control loop (lcore 0): punt rings, stats, clock.
    let mut punted = [0u64; Punt::COUNT];
    let mut last_print = Instant::now();
    let mut last_totals = Totals::sum(&counters);
    loop {
        let mut drained = 0;
        for r in &rings {
            while let Some(p) = r.pop() {
                punted[p.reason as usize] += 1;
                drained += 1;
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if opts.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if let Some(every) = opts.stats_every {
            if last_print.elapsed() >= every {
                let now = Totals::sum(&counters);
                let secs = last_print.elapsed().as_secs_f64();
                println!(
                    "{}",
                    crate::run::stats_line(cfg, start.elapsed(), &last_totals, &now, secs)
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
    let mut failed = 0;
    for j in launched {
        if !j.wait() {
            failed += 1;
        }
    }
    for r in &rings {
        while let Some(p) = r.pop() {
            punted[p.reason as usize] += 1;
        }
    }
    let elapsed = start.elapsed();
    let backend_stats = cfg
        .ports
        .iter()
        .zip(&ports)
        .map(|(p, e)| (p.name.clone(), e.xstats().unwrap_or_default()))
        .collect();
    // Teardown order: queues went with the workers; then ports, pools, the EAL.
    drop(rings);
    drop(ports);
    drop(pools);
    drop(eal);
    if failed > 0 {
        return Err(RunError::Dpdk(format!("{failed} worker(s) panicked")));
    }

    let totals = Totals::sum(&counters);
    let vrs = cfg
        .vrs
        .iter()
        .map(|v| {
            let (rx, tx) = totals.vrs.get(v.id as usize).copied().unwrap_or((0, 0));
            VrResult {
                id: v.id,
                name: v.name.clone(),
                rx,
                tx,
                delivered: 0,
                misdelivered: 0,
            }
        })
        .collect();
    Ok(Summary {
        elapsed,
        workers: nworkers,
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        foreign: vec![0; cfg.ports.len()],
        totals,
        flows: Vec::new(),
        vrs,
        punted: Punt::ALL
            .iter()
            .map(|p| (*p, punted[*p as usize]))
            .collect(),
        backend_stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_sized_from_queue_depths() {
        let small = pool_size(1, 1, 1024, 1024, 2);
        let big = pool_size(2, 4, 2048, 2048, 2);
        assert!(small as usize >= 2048 + PUNT_RING_SIZE, "{small}");
        assert!(big as usize >= 2 * 4 * 4096, "{big}");
        assert!((small + 1).is_power_of_two() && (big + 1).is_power_of_two());
    }
}
