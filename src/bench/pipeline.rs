//! `varouter bench pipeline`: a pktgen-style benchmark of the real forwarding pipeline.
//!
//! **What is measured.** Packets come from the profile's generator flows (templates with
//! source/destination ranges, fixed sizes 64..1514 B or IMIX, any number of flows) — or,
//! with `--dst-from-routes`, with destinations drawn at random from inside the routes of
//! `--routes` (a full Internet table), so every lookup walks a different path of a big FIB.
//!
//! * **`mem` profiles (software replay).** For each ingress port a ring of `--ring`
//!   packets is generated *before* timing starts (address picking, checksums and flow
//!   tags are not measured). During the run each worker's replay queue copies the next
//!   frame of the ring into a pooled buffer — the work a NIC's DMA or DPDK's `net_pcap`
//!   `infinite_rx` does — then the packet goes through the real [`Worker`] loop and
//!   pipeline; the tx side counts and recycles buffers. The copy is counted.
//! * **`dpdk` profiles.** The appliance runs on DPDK exactly as `varouter run` does
//!   (build with `--features dpdk`); traffic comes from the profile's vdevs — typically
//!   `net_pcap` with `infinite_rx=1` replaying a capture written by `--write-pcap` (the
//!   same frames as the software replay). Packets and drops come from the workers'
//!   counters over the whole run.
//!
//! **Cycles per packet** = TSC frequency ÷ packets received per second per worker (every
//! worker polls all the time, so this is the cost of one packet including I/O). The TSC
//! frequency is DPDK's measurement for DPDK runs, otherwise `--cpu-mhz` or the `cpu MHz`
//! of `/proc/cpuinfo` (invariant TSC); reading the TSC directly would need `unsafe`.

use crate::config::{Backend, Config, IpPrefix, RouteTarget};
use controlcore::{Core, Flow, Supervisor, WorkerIo};
use dataplane::buffer::{BufAlloc, BufPool, HeapAlloc, HeapBuf, HeapPool, PacketBuf};
use dataplane::counters::{Totals, WorkerCounters};
use dataplane::pipeline::PortInfo;
use dataplane::port::mem::{Egress, FlowSpec, MemPort, MemStats};
use dataplane::port::{PortQueue, BURST};
use dataplane::worker::StopWhen;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{ForwardingState, NextHop, RouteSource, StateWriter, VrId};
use wire::checksum;

/// Options of `varouter bench pipeline`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile: `mem` ports with `traffic.flows` (software replay), or `dpdk` ports.
    #[arg(long)]
    pub profile: PathBuf,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured seconds before the measurement (software replay).
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Print one JSON line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Route file (`prefix [anything]` per line, `#` comments) loaded into `--routes-vr`;
    /// route *k* uses the next hop of that VR's static route *k mod n* of its family.
    #[arg(long)]
    pub routes: Option<PathBuf>,
    /// VR (by name) receiving `--routes`; default the profile's first VR.
    #[arg(long)]
    pub routes_vr: Option<String>,
    /// Replace each generated IPv4 packet's destination by a random address inside a random
    /// route of `--routes` (checksums fixed up), so lookups hit the whole table.
    #[arg(long)]
    pub dst_from_routes: bool,
    /// Packets generated per ingress port (the replay ring).
    #[arg(long, default_value_t = 65536)]
    pub ring: usize,
    /// Write each ingress port's ring to `DIR/<port>.pcap` (for `net_pcap` vdevs and
    /// dpdk-testpmd) and exit without measuring.
    #[arg(long)]
    pub write_pcap: Option<PathBuf>,
    /// Seed of `--dst-from-routes`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// TSC frequency in MHz (default: DPDK's measurement, else /proc/cpuinfo).
    #[arg(long)]
    pub cpu_mhz: Option<f64>,
}

/// What one benchmark run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// `mem-replay` or `dpdk`.
    pub mode: &'static str,
    /// Workers.
    pub workers: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Packets received by the workers.
    pub rx: u64,
    /// Packets forwarded (sent).
    pub packets: u64,
    /// Packets dropped (named pipeline drops plus refused transmissions).
    pub drops: u64,
    /// Packets punted to the control core.
    pub punts: u64,
    /// TSC MHz used for cycles.
    pub cpu_mhz: f64,
    /// Routes in the benchmarked VR's tables (static + loaded).
    pub routes_loaded: usize,
    /// Packets received per second (all workers) in each whole second of the measurement,
    /// in order: the per-second rates `dpdk-testpmd --stats-period 1` prints, so both sides
    /// of a comparison can be judged by the same estimator.
    pub rx_per_second: Vec<f64>,
}

impl BenchResult {
    /// Forwarded million packets per second (all workers).
    pub fn mpps(&self) -> f64 {
        self.packets as f64 / self.seconds / 1e6
    }
    /// Received million packets per second per worker.
    pub fn rx_mpps_per_worker(&self) -> f64 {
        self.rx as f64 / self.seconds / 1e6 / self.workers as f64
    }
    /// CPU cycles per received packet on one worker.
    pub fn cycles_per_packet(&self) -> f64 {
        let pps = self.rx as f64 / self.seconds / self.workers as f64;
        if pps > 0.0 {
            self.cpu_mhz * 1e6 / pps
        } else {
            f64::INFINITY
        }
    }
    /// CPU cycles per received packet on one worker at the median of the per-second
    /// receive rates (`None` when the measurement held no whole second). A second in which
    /// another tenant of the machine took the core counts once, as in testpmd's figure,
    /// instead of pulling the whole window's mean down.
    pub fn median_second_cycles_per_packet(&self) -> Option<f64> {
        if self.rx_per_second.is_empty() {
            return None;
        }
        let pps = super::median(self.rx_per_second.clone()) / self.workers as f64;
        (pps > 0.0).then(|| self.cpu_mhz * 1e6 / pps)
    }
    /// One JSON line.
    pub fn json(&self) -> String {
        let median = match self.median_second_cycles_per_packet() {
            Some(c) => format!("{c:.1}"),
            None => "null".into(),
        };
        let seconds: Vec<String> = self
            .rx_per_second
            .iter()
            .map(|r| format!("{:.4}", r / 1e6))
            .collect();
        format!(
            "{{\"mode\":\"{}\",\"mpps\":{:.4},\"mpps_per_worker\":{:.4},\"cycles_per_packet\":{:.1},\"cycles_per_packet_median_second\":{},\"rx_mpps_per_second\":[{}],\"workers\":{},\"packets\":{},\"rx\":{},\"drops\":{},\"punts\":{},\"seconds\":{:.3},\"cpu_mhz\":{:.1},\"routes\":{}}}",
            self.mode,
            self.mpps(),
            self.packets as f64 / self.seconds / 1e6 / self.workers as f64,
            self.cycles_per_packet(),
            median,
            seconds.join(","),
            self.workers,
            self.packets,
            self.rx,
            self.drops,
            self.punts,
            self.seconds,
            self.cpu_mhz,
            self.routes_loaded
        )
    }
}

/// Runs the benchmark and prints the result.
pub fn run(args: Args) -> Result<(), String> {
    if args.seconds.is_nan() || args.seconds <= 0.0 || args.warmup.is_nan() || args.warmup < 0.0 {
        return Err("--seconds must be > 0 and --warmup >= 0".into());
    }
    if args.ring == 0 {
        return Err("--ring must be at least 1".into());
    }
    let cfg = crate::load_config(&args.profile).map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let routes = match &args.routes {
        Some(p) => load_routes(p)?,
        None => Vec::new(),
    };
    if args.dst_from_routes && !routes.iter().any(|r| matches!(r, IpPrefix::V4(_))) {
        return Err("--dst-from-routes needs IPv4 routes from --routes".into());
    }
    let workers = cfg.worker_cores.len().max(1);
    let (mut writer, routes_loaded) =
        writer_with_routes(&cfg, &routes, args.routes_vr.as_deref(), workers)?;
    let dpdk = cfg
        .ports
        .iter()
        .any(|p| matches!(p.backend, Backend::Dpdk { .. }));

    if let Some(dir) = &args.write_pcap {
        let rings = generate_rings(&cfg, &args, &routes)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (pi, ring) in rings.iter().enumerate() {
            if ring.is_empty() {
                continue;
            }
            let path = dir.join(format!("{}.pcap", cfg.ports[pi].name));
            write_pcap(&path, ring)?;
            println!("{}: {} packets", path.display(), ring.len());
        }
        return Ok(());
    }

    let mut fib_ns = None;
    let r = if dpdk {
        run_dpdk(&cfg, &args, writer, routes_loaded)?
    } else {
        let rings = generate_rings(&cfg, &args, &routes)?;
        fib_ns = fib_only_ns(&cfg, &writer.snapshot(), &rings, args.routes_vr.as_deref());
        run_replay(&cfg, &args, writer, rings, routes_loaded)?
    };
    if args.json {
        println!("{}", r.json());
    } else {
        let mut o = String::new();
        let _ = writeln!(o, "=== varouter bench pipeline ({}) ===", r.mode);
        let _ = writeln!(o, "profile          {}", args.profile.display());
        let _ = writeln!(o, "routes in VR     {}", r.routes_loaded);
        let _ = writeln!(o, "workers          {}", r.workers);
        let _ = writeln!(o, "seconds          {:.2}", r.seconds);
        let _ = writeln!(o, "received         {}", r.rx);
        let _ = writeln!(o, "forwarded        {} ({:.3} Mpps)", r.packets, r.mpps());
        let _ = writeln!(o, "dropped          {}", r.drops);
        let _ = writeln!(o, "punted           {}", r.punts);
        let _ = writeln!(
            o,
            "per worker       {:.3} Mpps received",
            r.rx_mpps_per_worker()
        );
        let _ = writeln!(
            o,
            "cycles/packet    {:.1} (at {:.0} MHz)",
            r.cycles_per_packet(),
            r.cpu_mhz
        );
        if let Some(c) = r.median_second_cycles_per_packet() {
            let _ = writeln!(
                o,
                "  median second  {c:.1} (of {} whole seconds)",
                r.rx_per_second.len()
            );
        }
        if let Some(ns) = fib_ns {
            let _ = writeln!(
                o,
                "FIB alone        {ns:.1} ns = {:.1} cycles per lookup of the same destinations",
                ns * r.cpu_mhz / 1e3
            );
        }
        print!("{o}");
    }
    Ok(())
}

/// Reads a route file: the first field of each line is a prefix; `#` starts a comment.
pub fn load_routes(path: &Path) -> Result<Vec<IpPrefix>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut v = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(tok) = line
            .split('#')
            .next()
            .and_then(|l| l.split_whitespace().next())
        else {
            continue;
        };
        let p = crate::profile::check::parse_prefix(tok)
            .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        v.push(p);
    }
    Ok(v)
}

/// The profile's tables with `routes` added to the VR named `vr` (default: the first),
/// through the next hops of that VR's static routes (round robin per family). Returns the
/// writer and the number of routes added.
pub fn writer_with_routes(
    cfg: &Config,
    routes: &[IpPrefix],
    vr: Option<&str>,
    workers: usize,
) -> Result<(StateWriter, usize), String> {
    let mut w = crate::appliance::initial_state(cfg, workers).map_err(|e| e.to_string())?;
    if routes.is_empty() {
        return Ok((w, 0));
    }
    let v = match vr {
        Some(name) => cfg
            .vrs
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| format!("--routes-vr: no VR named `{name}`"))?,
        None => cfg
            .vrs
            .first()
            .ok_or("--routes needs a VR in the profile")?,
    };
    let id = VrId(v.id);
    let (mut nh4, mut nh6): (Vec<NextHop>, Vec<NextHop>) = (Vec::new(), Vec::new());
    for r in &v.routes {
        if !matches!(r.target, RouteTarget::Via { .. }) {
            continue;
        }
        if let Some(nh) = w.route(id, r.prefix, RouteSource::Static) {
            match r.prefix {
                IpPrefix::V4(_) => nh4.push(nh),
                IpPrefix::V6(_) => nh6.push(nh),
            }
        }
    }
    if nh4.is_empty() && nh6.is_empty() {
        return Err(format!(
            "VR `{}` has no static `via` route whose next hop the loaded routes could use",
            v.name
        ));
    }
    let (mut k4, mut k6, mut added) = (0usize, 0usize, 0usize);
    for r in routes {
        let nh = match r {
            IpPrefix::V4(_) if !nh4.is_empty() => {
                k4 += 1;
                nh4[k4 % nh4.len()]
            }
            IpPrefix::V6(_) if !nh6.is_empty() => {
                k6 += 1;
                nh6[k6 % nh6.len()]
            }
            _ => continue,
        };
        w.set_route(id, *r, RouteSource::Static, nh)
            .map_err(|e| e.to_string())?;
        added += 1;
    }
    Ok((w, added))
}

/// Generates `args.ring` frames per port from the flows entering it (index = port).
fn generate_rings(
    cfg: &Config,
    args: &Args,
    routes: &[IpPrefix],
) -> Result<Vec<Vec<Vec<u8>>>, String> {
    if cfg.flows.is_empty() {
        return Err(format!(
            "{}: no `traffic.flows`; the generator needs flows (on `mem` ports)",
            args.profile.display()
        ));
    }
    let v4: Vec<vr::Prefix4> = routes
        .iter()
        .filter_map(|r| match r {
            IpPrefix::V4(p) => Some(*p),
            IpPrefix::V6(_) => None,
        })
        .collect();
    let mut rng = SplitMix(args.seed);
    let mut rings = Vec::new();
    for (pi, p) in cfg.ports.iter().enumerate() {
        // The ring is replayed as fast as the worker goes: profile rates and budgets do not
        // apply to a benchmark.
        let flows: Vec<FlowSpec> = crate::backend::soft::flow_specs(cfg, pi, 1, 0)
            .into_iter()
            .map(|f| FlowSpec {
                rate_pps: None,
                count: None,
                ..f
            })
            .collect();
        if flows.is_empty() {
            rings.push(Vec::new());
            continue;
        }
        let stats = Arc::new(MemStats::new(cfg.flows.len(), cfg.ports.len()));
        let mut gen = MemPort::new(
            pi as u16,
            flows,
            Arc::new(Vec::<Option<Egress>>::new()),
            stats,
        );
        let mut pool = HeapPool::new(BURST, BURST * 2);
        let mut ring = Vec::with_capacity(args.ring);
        let mut burst = Vec::with_capacity(BURST);
        while ring.len() < args.ring {
            let n = gen.rx_burst(&mut pool, &mut burst, BURST.min(args.ring - ring.len()));
            if n == 0 {
                return Err(format!("port {}: the generator produced nothing", p.name));
            }
            for b in burst.drain(..) {
                let mut f = b.data().to_vec();
                if args.dst_from_routes {
                    let r = v4[(rng.next() % v4.len() as u64) as usize];
                    let host = if r.len() >= 32 {
                        0
                    } else {
                        (rng.next() as u32) & !r.mask()
                    };
                    set_ipv4_dst(&mut f, r.addr() | host);
                }
                ring.push(f);
                pool.free(b);
            }
        }
        rings.push(ring);
    }
    Ok(rings)
}

/// For comparison with the per-packet cost: nanoseconds per IPv4 FIB lookup of the ring's
/// destinations in the benchmarked VR, looked up back to back outside the pipeline.
fn fib_only_ns(
    cfg: &Config,
    st: &ForwardingState,
    rings: &[Vec<Vec<u8>>],
    vr: Option<&str>,
) -> Option<f64> {
    let v = match vr {
        Some(n) => cfg.vrs.iter().find(|v| v.name == n)?,
        None => cfg.vrs.first()?,
    };
    let fib = st.vr(VrId(v.id))?;
    let dsts: Vec<u32> = rings
        .iter()
        .flatten()
        .filter(|f| f.len() >= 34 && f[12..14] == [0x08, 0x00])
        .map(|f| u32::from_be_bytes([f[30], f[31], f[32], f[33]]))
        .collect();
    if dsts.is_empty() {
        return None;
    }
    let rounds = (4_000_000 / dsts.len()).max(1);
    let t = Instant::now();
    let mut hits = 0u64;
    for _ in 0..rounds {
        for d in &dsts {
            hits += u64::from(fib.lookup4(std::hint::black_box(*d)).is_some());
        }
    }
    std::hint::black_box(hits);
    Some(t.elapsed().as_nanos() as f64 / (rounds * dsts.len()) as f64)
}

/// Rewrites the destination of an (optionally VLAN-tagged) IPv4 frame, fixing the header
/// and UDP checksums incrementally. Other frames are left alone.
fn set_ipv4_dst(f: &mut [u8], dst: u32) {
    let mut l3 = 14;
    if f.len() >= 18 && f[12..14] == [0x81, 0x00] {
        l3 = 18;
    }
    if f.len() < l3 + 20 || f[l3 - 2..l3] != [0x08, 0x00] {
        return;
    }
    let ihl = usize::from(f[l3] & 0x0f) * 4;
    let old = u32::from_be_bytes([f[l3 + 16], f[l3 + 17], f[l3 + 18], f[l3 + 19]]);
    let hc = u16::from_be_bytes([f[l3 + 10], f[l3 + 11]]);
    f[l3 + 10..l3 + 12].copy_from_slice(&checksum::update_u32(hc, old, dst).to_be_bytes());
    f[l3 + 16..l3 + 20].copy_from_slice(&dst.to_be_bytes());
    let u = l3 + ihl;
    if f[l3 + 9] == 17 && f.len() >= u + 8 {
        let uc = u16::from_be_bytes([f[u + 6], f[u + 7]]);
        if uc != 0 {
            let mut n = checksum::update_u32(uc, old, dst);
            if n == 0 {
                n = 0xffff;
            }
            f[u + 6..u + 8].copy_from_slice(&n.to_be_bytes());
        }
    }
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<(), String> {
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = pcap_file::pcap::PcapWriter::new(std::io::BufWriter::new(f))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for (i, fr) in frames.iter().enumerate() {
        let p =
            pcap_file::pcap::PcapPacket::new(Duration::from_micros(i as u64), fr.len() as u32, fr);
        w.write_packet(&p)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A replay queue: rx copies the next ring frame into a pooled buffer; tx recycles.
/// (Also used by `bench relay`.)
pub(crate) struct Replay {
    pub(crate) ring: Arc<Vec<Vec<u8>>>,
    pub(crate) next: usize,
}

impl PortQueue<HeapBuf, HeapPool> for Replay {
    #[inline]
    fn rx_burst(&mut self, pool: &mut HeapPool, out: &mut Vec<HeapBuf>, max: usize) -> usize {
        if self.ring.is_empty() {
            return 0;
        }
        let mut n = 0;
        while n < max {
            let Some(mut b) = pool.alloc() else { break };
            b.set(&self.ring[self.next]);
            self.next += 1;
            if self.next == self.ring.len() {
                self.next = 0;
            }
            out.push(b);
            n += 1;
        }
        n
    }

    #[inline]
    fn tx_burst(&mut self, pool: &mut HeapPool, pkts: &mut Vec<HeapBuf>) -> usize {
        for b in pkts.drain(..) {
            pool.free(b);
        }
        0
    }

    fn rx_finished(&self) -> bool {
        false
    }
}

fn cpu_mhz(args: &Args) -> Result<f64, String> {
    tsc_mhz(args.cpu_mhz)
}

/// The TSC frequency: `given`, else the `cpu MHz` of /proc/cpuinfo (also used by
/// `bench relay`).
pub(crate) fn tsc_mhz(given: Option<f64>) -> Result<f64, String> {
    if let Some(m) = given {
        return Ok(m);
    }
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "cannot read `cpu MHz` from /proc/cpuinfo; pass --cpu-mhz".into())
}

fn summed(t: &Totals) -> (u64, u64, u64, u64) {
    let rx = t.ports.iter().map(|p| p.0).sum();
    let tx = t.ports.iter().map(|p| p.1).sum();
    let drops = t.drops.iter().map(|d| d.1).sum();
    let punts = t.punts.iter().map(|p| p.1).sum();
    (rx, tx, drops, punts)
}

/// The replay rings as a port backend: every worker replays every port's ring from its own
/// offset; transmitted packets are recycled.
struct ReplayBackend {
    rings: Vec<Arc<Vec<Vec<u8>>>>,
    ports: Arc<[PortInfo]>,
    threads: crate::backend::soft::Threads,
}

impl controlcore::Backend for ReplayBackend {
    type Buf = HeapBuf;
    type Pool = HeapPool;

    fn workers(&self) -> usize {
        self.threads.workers()
    }

    fn ports(&self) -> Arc<[PortInfo]> {
        self.ports.clone()
    }

    fn live_ports(&self) -> Vec<bool> {
        vec![false; self.ports.len()]
    }

    fn worker_io(&mut self, w: usize) -> Result<WorkerIo<HeapBuf, HeapPool>, String> {
        let n = self.threads.workers();
        let queues = self
            .rings
            .iter()
            .map(|r| {
                let q: Box<dyn PortQueue<HeapBuf, HeapPool>> = Box::new(Replay {
                    ring: r.clone(),
                    next: (w * r.len()) / n,
                });
                q
            })
            .collect();
        Ok(WorkerIo {
            pool: HeapPool::new(4096, 8192),
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

    fn port_stats_source(&self) -> controlcore::PortStatsSource {
        Arc::new(Vec::new)
    }
}

/// Takes the counters when the warm-up ends, at every whole second after it and when the
/// measurement ends, then stops.
struct Measure {
    start: Instant,
    warmup: Duration,
    seconds: Duration,
    before: Option<(Instant, Totals)>,
    after: Option<(Instant, Totals)>,
    /// Start and received packets of the current second.
    second: Option<(Instant, u64)>,
    /// Received packets per second of each whole second so far.
    rx_per_second: Vec<f64>,
}

impl<B: PacketBuf> Supervisor<B> for Measure {
    fn tick(&mut self, _: &mut Core<B>, counters: &[Arc<WorkerCounters>], now: Instant) -> Flow {
        let t = now.duration_since(self.start);
        if self.before.is_none() && t >= self.warmup {
            let totals = Totals::sum(counters);
            self.second = Some((now, summed(&totals).0));
            self.before = Some((now, totals));
        }
        if let Some((s0, rx0)) = self.second {
            let dt = now.duration_since(s0);
            if dt >= Duration::from_secs(1) {
                let rx = summed(&Totals::sum(counters)).0;
                self.rx_per_second
                    .push(rx.saturating_sub(rx0) as f64 / dt.as_secs_f64());
                self.second = Some((now, rx));
            }
        }
        if let Some((t0, _)) = &self.before {
            if now.duration_since(*t0) >= self.seconds {
                self.after = Some((now, Totals::sum(counters)));
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}

impl Measure {
    fn new(warmup: f64, seconds: f64) -> Self {
        Measure {
            start: Instant::now(),
            warmup: Duration::from_secs_f64(warmup),
            seconds: Duration::from_secs_f64(seconds),
            before: None,
            after: None,
            second: None,
            rx_per_second: Vec::new(),
        }
    }

    /// (seconds, rx, tx, drops, punts) between the two snapshots.
    fn result(&self) -> Result<(f64, u64, u64, u64, u64), String> {
        let (Some((t0, b)), Some((t1, a))) = (&self.before, &self.after) else {
            return Err("the run ended before the measurement did".into());
        };
        let (rx0, tx0, d0, p0) = summed(b);
        let (rx1, tx1, d1, p1) = summed(a);
        Ok((
            t1.duration_since(*t0).as_secs_f64(),
            rx1 - rx0,
            tx1 - tx0,
            d1 - d0,
            p1 - p0,
        ))
    }
}

/// Runs the appliance's loop (the same as `varouter run`) on the replay backend.
fn run_replay(
    cfg: &Config,
    args: &Args,
    writer: StateWriter,
    rings: Vec<Vec<Vec<u8>>>,
    routes_loaded: usize,
) -> Result<BenchResult, String> {
    let mhz = cpu_mhz(args)?;
    let nworkers = cfg.worker_cores.len().max(1);
    let mut backend = ReplayBackend {
        rings: rings.into_iter().map(Arc::new).collect(),
        ports: crate::backend::soft::static_port_infos(cfg),
        threads: crate::backend::soft::Threads::new(
            (0..nworkers)
                .map(|w| cfg.worker_cores.get(w).copied())
                .collect(),
        ),
    };
    crate::backend::soft::pin(cfg.control_core);
    let mut m = Measure::new(args.warmup, args.seconds);
    let opts = controlcore::RunOptions {
        duration: None,
        stop_when: StopWhen::Flag,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let services = crate::services::services(cfg, Instant::now());
    controlcore::run(&mut backend, writer, services, &opts, stop, &mut m)
        .map_err(|e| e.to_string())?;
    let (seconds, rx, packets, drops, punts) = m.result()?;
    Ok(BenchResult {
        mode: "mem-replay",
        workers: nworkers,
        seconds,
        rx,
        packets,
        drops,
        punts,
        cpu_mhz: mhz,
        routes_loaded,
        rx_per_second: m.rx_per_second.clone(),
    })
}

/// Runs the appliance's loop (the same as `varouter run`) on the profile's DPDK ports.
#[cfg(feature = "dpdk")]
fn run_dpdk(
    cfg: &Config,
    args: &Args,
    writer: StateWriter,
    routes_loaded: usize,
) -> Result<BenchResult, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    let mut backend = crate::backend::dpdk::DpdkBackend::new(cfg).map_err(|e| e.to_string())?;
    let mut m = Measure::new(args.warmup, args.seconds);
    let opts = controlcore::RunOptions {
        duration: None,
        stop_when: StopWhen::Flag,
    };
    let services = crate::services::services(cfg, Instant::now());
    let report = controlcore::run(&mut backend, writer, services, &opts, stop, &mut m)
        .map_err(|e| e.to_string())?;
    drop(backend);
    let hz = dataplane::port::dpdk::tsc_hz();
    let mhz = match args.cpu_mhz {
        Some(m) => m,
        None if hz > 0 => hz as f64 / 1e6,
        None => cpu_mhz(args)?,
    };
    let (seconds, rx, packets, drops, punts) = m.result()?;
    Ok(BenchResult {
        mode: "dpdk",
        workers: report.workers,
        seconds,
        rx,
        packets,
        drops,
        punts,
        cpu_mhz: mhz,
        routes_loaded,
        rx_per_second: m.rx_per_second.clone(),
    })
}

#[cfg(not(feature = "dpdk"))]
fn run_dpdk(_: &Config, _: &Args, _: StateWriter, _: usize) -> Result<BenchResult, String> {
    Err(crate::backend::BackendError::DpdkNotBuilt.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::port::mem::Range;

    #[test]
    fn dst_rewrite_keeps_checksums_valid() {
        // IPv4/UDP frame with a correct header checksum (built by the mem generator).
        let spec = FlowSpec {
            id: 0,
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            vlan: Some(10),
            labels: vec![],
            src: Range::V4(0x0a00_0001, 0x0a00_0001),
            dst: Range::V4(0x0a01_0001, 0x0a01_0001),
            sizes: vec![64],
            rate_pps: None,
            count: Some(1),
            seq_base: 0,
            seq_stride: 1,
        };
        let stats = Arc::new(MemStats::new(1, 1));
        let mut g = MemPort::new(0, vec![spec], Arc::new(vec![]), stats);
        let mut pool = HeapPool::new(1, 1);
        let mut out = Vec::new();
        assert_eq!(g.rx_burst(&mut pool, &mut out, 1), 1);
        let mut f = out[0].data().to_vec();
        set_ipv4_dst(&mut f, 0xc633_6407);
        let ip = wire::Ipv4Packet::new_checked(&f[18..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(&f[18 + 16..18 + 20], &[198, 51, 100, 7]);
    }

    #[test]
    fn result_math() {
        let r = BenchResult {
            mode: "mem-replay",
            workers: 2,
            seconds: 2.0,
            rx: 40_000_000,
            packets: 30_000_000,
            drops: 10_000_000,
            punts: 0,
            cpu_mhz: 2000.0,
            routes_loaded: 0,
            rx_per_second: vec![],
        };
        assert!((r.mpps() - 15.0).abs() < 1e-9);
        assert!((r.cycles_per_packet() - 200.0).abs() < 1e-9);
        assert!(r.json().contains("\"cycles_per_packet\":200.0"));
        assert_eq!(r.median_second_cycles_per_packet(), None);
        assert!(r
            .json()
            .contains("\"cycles_per_packet_median_second\":null"));
    }

    #[test]
    fn median_second_ignores_a_disturbed_second() {
        // Two workers at 2,000 MHz: 20 M packets per second in all is 10 M per worker, 200
        // cycles per packet. One second at half the rate (another tenant took the core)
        // moves the mean, not the median.
        let r = BenchResult {
            mode: "dpdk",
            workers: 2,
            seconds: 3.0,
            rx: 50_000_000,
            packets: 50_000_000,
            drops: 0,
            punts: 0,
            cpu_mhz: 2000.0,
            routes_loaded: 0,
            rx_per_second: vec![20e6, 10e6, 20e6],
        };
        assert!((r.median_second_cycles_per_packet().unwrap() - 200.0).abs() < 1e-9);
        assert!((r.cycles_per_packet() - 240.0).abs() < 1e-9);
        assert!(r
            .json()
            .contains("\"cycles_per_packet_median_second\":200.0,\"rx_mpps_per_second\":[20.0000,10.0000,20.0000]"));
        // An even count takes the mean of the middle two.
        let even = BenchResult {
            rx_per_second: vec![10e6, 20e6, 30e6, 40e6],
            ..r
        };
        assert!((even.median_second_cycles_per_packet().unwrap() - 160.0).abs() < 1e-9);
    }
}
