//! The `dpdk` backend (cargo feature `dpdk`): DPDK 22.11 ethdevs — PCI NICs and vdevs.
//!
//! Lcores: lcore 0 is the control core (the calling thread, which the EAL pins to
//! `cores.control`), lcore *i* runs worker *i − 1* pinned to `cores.workers[i − 1]`. Every
//! port gets one rx queue (RSS across them when the device hashes) and one tx queue per
//! worker; mbufs come from one pool per NUMA socket, sized from the queue depths. Each
//! port's MAC address is set to the profile's (`rte_eth_dev_default_mac_addr_set`; a device
//! that refuses keeps its own and stays promiscuous, and the pipeline still filters unicast
//! on the profile's MAC). The MTU is the profile's: it is never set on the device (on
//! `net_af_packet`, `rte_eth_dev_set_mtu` would shrink the kernel interface).
//!
//! Ports run the control protocols (ARP, ND, ICMP, L2TP) unless they are capture or
//! generator devices (`net_pcap`, `net_null`, `net_ring`): like the `pcap` and `mem`
//! backends, those replay and record deterministic traffic, and their punts are only counted.
//!
//! DPDK can initialise its EAL once per process: a process runs one DPDK appliance.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use controlcore::{Backend, PortStatsSource, WorkerIo};
use dataplane::buffer::BufAlloc;
use dataplane::pipeline::PortInfo;
use dataplane::port::dpdk::{
    DpdkError, Eal, EthPort, Launched, Mbuf, MbufPool, Mempool, PortSetup,
};
use dataplane::port::{PortQueue, BURST};
use dataplane::punt::PUNT_RING_SIZE;

use super::BackendError;
use crate::config::{Backend as PortBackend, Config};

/// Per-lcore mempool cache.
const POOL_CACHE: u32 = 256;

fn dpdk_err(e: DpdkError) -> BackendError {
    BackendError::Dpdk(e.to_string())
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

/// True for drivers that replay or record traffic rather than connect to a network.
fn is_test_device(driver: &str) -> bool {
    matches!(driver, "net_pcap" | "net_null" | "net_ring")
}

/// A profile's DPDK ports, brought up.
pub struct DpdkBackend {
    infos: Arc<[PortInfo]>,
    live: Vec<bool>,
    names: Vec<String>,
    nworkers: usize,
    first_pool: Arc<Mempool>,
    launched: Vec<(Launched, Arc<AtomicBool>)>,
    // Drop order: ports, then pools, then the EAL (fields drop in declaration order).
    ports: Vec<Arc<EthPort>>,
    _pools: BTreeMap<i32, Arc<Mempool>>,
    eal: Eal,
}

impl DpdkBackend {
    /// Initialises the EAL and opens every port of `cfg` (all must be `dpdk`).
    pub fn new(cfg: &Config) -> Result<Self, BackendError> {
        let ncpus = core_affinity::get_core_ids().map_or(1, |c| c.len().max(1));
        for c in cfg.worker_cores.iter().chain(cfg.control_core.iter()) {
            if *c >= ncpus {
                return Err(BackendError::NoSuchCore(*c, ncpus));
            }
        }
        let nworkers = cfg.worker_cores.len().max(1);
        let devices: Vec<&str> = cfg
            .ports
            .iter()
            .map(|p| match &p.backend {
                PortBackend::Dpdk { device } => Ok(device.as_str()),
                _ => Err(BackendError::Dpdk(format!(
                    "port `{}` is not a dpdk port; a DPDK run needs every port on DPDK",
                    p.name
                ))),
            })
            .collect::<Result<_, _>>()?;

        let eal = Eal::init(&eal_args(cfg, ncpus)).map_err(dpdk_err)?;
        if eal.lcore_count() as usize != nworkers + 1 {
            return Err(BackendError::Dpdk(format!(
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
        let mut ports: Vec<Arc<EthPort>> = Vec::new();
        let mut live = Vec::new();
        for (i, d) in devices.iter().enumerate() {
            let setup = PortSetup {
                mac: Some(cfg.ports[i].mac),
                queues: nworkers as u16,
                rx_desc: cfg.dpdk.rx_desc,
                tx_desc: cfg.dpdk.tx_desc,
            };
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
            let test_dev = is_test_device(port.driver());
            println!(
                "port {} = {} (driver {}, DPDK port {}, socket {}): {}, {} queue(s){}{}{}",
                cfg.ports[i].name,
                d,
                port.driver(),
                port.id(),
                port_socket[i],
                link,
                nworkers,
                if port.rss() { ", RSS" } else { "" },
                match port.mac_set() {
                    Some(false) => ", MAC not settable (promiscuous)",
                    _ => "",
                },
                if test_dev {
                    ", capture/generator device: no control protocols"
                } else {
                    ""
                }
            );
            live.push(!test_dev);
            ports.push(port);
        }
        let first_pool = pools
            .get(&port_socket.first().copied().unwrap_or(-1))
            .or_else(|| pools.values().next())
            .cloned()
            .ok_or_else(|| BackendError::Dpdk("no mbuf pool (no ports?)".into()))?;
        Ok(DpdkBackend {
            infos: crate::backend::soft::static_port_infos(cfg),
            live,
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            nworkers,
            first_pool,
            launched: Vec::new(),
            ports,
            _pools: pools,
            eal,
        })
    }
}

impl Backend for DpdkBackend {
    type Buf = Mbuf;
    type Pool = MbufPool;

    fn workers(&self) -> usize {
        self.nworkers
    }

    fn ports(&self) -> Arc<[PortInfo]> {
        self.infos.clone()
    }

    fn live_ports(&self) -> Vec<bool> {
        self.live.clone()
    }

    fn worker_io(&mut self, w: usize) -> Result<WorkerIo<Mbuf, MbufPool>, String> {
        let mut queues: Vec<Box<dyn PortQueue<Mbuf, MbufPool>>> = Vec::new();
        for p in &self.ports {
            let q = p
                .queue(w as u16)
                .ok_or_else(|| format!("port {} has no queue {w}", p.name()))?;
            queues.push(Box::new(q));
        }
        Ok(WorkerIo {
            pool: MbufPool(self.first_pool.clone()),
            queues,
        })
    }

    fn launch(&mut self, w: usize, job: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let l = self
            .eal
            .launch(
                w as u32 + 1,
                Box::new(move || {
                    job();
                    d.store(true, Ordering::Release);
                }),
            )
            .map_err(|e| e.to_string())?;
        self.launched.push((l, done));
        Ok(())
    }

    fn workers_finished(&self) -> bool {
        self.launched.iter().all(|(_, d)| d.load(Ordering::Acquire))
    }

    fn join(&mut self) -> usize {
        self.launched
            .drain(..)
            .map(|(l, _)| l.wait())
            .filter(|ok| !ok)
            .count()
    }

    fn allocator(&self) -> Box<dyn BufAlloc<Mbuf>> {
        Box::new(MbufPool(self.first_pool.clone()))
    }

    fn port_stats_source(&self) -> PortStatsSource {
        let ports: Vec<(String, Arc<EthPort>)> = self
            .names
            .iter()
            .cloned()
            .zip(self.ports.iter().cloned())
            .collect();
        Arc::new(move || {
            ports
                .iter()
                .map(|(n, p)| (n.clone(), p.xstats().unwrap_or_default()))
                .collect()
        })
    }
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
