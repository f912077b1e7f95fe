//! Running an appliance from a profile: the initial tables, the protocol services, the
//! backend of its ports, and the [`controlcore::run`] loop with a supervisor that prints
//! live statistics and reloads the profile on request; then the summary.

use controlcore::Backend as _;
use controlplane::discovery::service::{DiscoveryService, MapView};
use controlplane::l2tp::service::L2tpService;
use controlplane::l2tp::service::RelayView;
use controlplane::subscriber::manager::{SubscriberView, VrReport};
use controlplane::vpnpeer::service::VpnPeerService;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::{Core, Flow, RunReport, Supervisor};
use dataplane::buffer::PacketBuf;
use dataplane::counters::{Punt, Totals, WorkerCounters};
use dataplane::port::mem::{self, MemStats};
use dataplane::worker::StopWhen;
use vr::{vr_counter, ForwardingState, StateWriter, VrId};

use crate::backend::soft::SoftBackend;
use crate::backend::BackendError;
use crate::config::{Backend, Config};

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

/// Where a running appliance re-reads its profile from, and the flag (raised by SIGHUP)
/// that asks it to.
#[derive(Clone, Debug)]
pub struct Reload {
    /// The profile file.
    pub path: std::path::PathBuf,
    /// Raised to request a reload; lowered by the supervisor.
    pub requested: Arc<AtomicBool>,
}

/// Run failures.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Table compilation.
    #[error(transparent)]
    Build(#[from] crate::tables::BuildError),
    /// The initial tables were refused (a profile that checked never is).
    #[error("initial tables: {0}")]
    Tables(String),
    /// A backend could not start.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The run loop failed.
    #[error(transparent)]
    Run(#[from] controlcore::RunError),
    /// The management API could not start.
    #[error("{0}")]
    Management(String),
    /// The AAA (`aaa:` section) could not start.
    #[error("aaa: {0}")]
    Aaa(String),
    /// LDP (`ldp:` section) could not start.
    #[error("ldp: {0}")]
    Ldp(String),
    /// The Mobile IPv4 agents (`mobile_ip:` section) could not start.
    #[error("mobile_ip: {0}")]
    Mip(String),
    /// VR discovery (`discovery:` section) could not be set up.
    #[error("discovery: {0}")]
    Discovery(String),
    /// VPN peering (`vpn_peering:` section) could not be set up.
    #[error("vpn peering: {0}")]
    VpnPeering(String),
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
    /// Packets of the VR dropped.
    pub dropped: u64,
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
    /// Summed worker counters.
    pub totals: Totals,
    /// Port names (index = port id).
    pub port_names: Vec<String>,
    /// Per flow.
    pub flows: Vec<FlowResult>,
    /// Per VR (the VRs of the last published version).
    pub vrs: Vec<VrResult>,
    /// Frames the sinks could not attribute to a flow, per port.
    pub foreign: Vec<u64>,
    /// Punted packets the control core received, by reason.
    pub punted: Vec<(Punt, u64)>,
    /// The control core's and its services' counters.
    pub control: Vec<(String, u64)>,
    /// Per port, the backend's own statistics (DPDK xstats, kernel counters).
    pub backend_stats: Vec<(String, Vec<(String, u64)>)>,
    /// PPP subscribers seen last before the end (at most [`LISTED_SUBSCRIBERS`]), and how
    /// many there were in all.
    pub subscribers: (Vec<SubscriberView>, usize),
    /// Per VR terminating PPP: its subscriber counters (last seen).
    pub subscriber_vrs: Vec<VrReport>,
    /// Relayed subscribers (PPPoE, switched L2TP) seen last, and how many in all.
    pub relayed: (Vec<RelayView>, usize),
    /// ESP SAs installed at the end, with their traffic.
    pub esp: Vec<EspSaView>,
    /// The AAA's counters at the end, when the profile has an `aaa:` section.
    pub aaa: Option<crate::aaa::AaaStats>,
    /// The discovery configuration maps of the local VRs as last listed (refreshed every
    /// second), when the profile has a `discovery:` section.
    pub discovery: Vec<MapView>,
    /// LDP at the end (its line, the installed cross connects, non-zero counters), when
    /// the profile has an `ldp:` section.
    pub ldp: Option<LdpSummary>,
}

/// LDP as the summary shows it.
#[derive(Clone, Debug)]
pub struct LdpSummary {
    /// The stats line.
    pub line: String,
    /// Installed label-matrix entries (JSON objects).
    pub installed: Vec<serde_json::Value>,
    /// Counters by name.
    pub counters: Vec<(&'static str, u64)>,
}

/// Stops LDP (Shutdown to every peer) and takes its final state for the summary.
fn ldp_summary(h: Option<crate::ldp::LdpHandle>) -> Option<LdpSummary> {
    let h = h?;
    let shared = h.shared();
    h.stop();
    let g = shared.lock().ok()?;
    Some(LdpSummary {
        line: crate::ldp::stats_line(&g),
        installed: g.installed.clone(),
        counters: crate::ldp::counters(&g),
    })
}

/// An ESP SA as the summary shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EspSaView {
    /// The VR whose traffic it carries.
    pub vr: String,
    /// The SA's name.
    pub name: String,
    /// True for inbound.
    pub inbound: bool,
    /// SPI.
    pub spi: u32,
    /// Cipher name.
    pub cipher: &'static str,
    /// Outbound: the DSCP inner packets are marked with (`None`: copied as they are).
    pub dscp: Option<u8>,
    /// Packets sealed or opened.
    pub packets: u64,
    /// Payload bytes sealed or opened.
    pub bytes: u64,
    /// `live`, `soft` or `hard` (lifetime).
    pub lifetime: &'static str,
}

fn esp_views(st: &vr::ForwardingState) -> Vec<EspSaView> {
    let name = |id: vr::VrId| st.vr(id).map_or(id.to_string(), |v| v.info.name.clone());
    let view = |t: &vr::EspTunnel, inbound: bool| {
        let (packets, bytes) = t.sa.traffic();
        EspSaView {
            vr: name(t.vr),
            name: t.name.to_string(),
            inbound,
            spi: t.sa.spi(),
            cipher: t.sa.cipher().name(),
            dscp: if inbound { None } else { t.dscp },
            packets,
            bytes,
            lifetime: match t.sa.lifetime_state() {
                esp::LifetimeState::Live => "live",
                esp::LifetimeState::Soft => "soft",
                esp::LifetimeState::Hard => "hard",
            },
        }
    };
    let mut v: Vec<EspSaView> = st
        .esp
        .inbound
        .iter()
        .map(|(_, t)| view(t, true))
        .chain(st.esp.outbound.iter().map(|(_, t)| view(t, false)))
        .collect();
    v.sort_by(|a, b| (&a.vr, &a.name).cmp(&(&b.vr, &b.name)));
    v
}

/// Subscribers the summary lists.
pub const LISTED_SUBSCRIBERS: usize = 1000;

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
    /// A control-core counter by name.
    pub fn control_counter(&self, name: &str) -> Option<u64> {
        self.control.iter().find(|c| c.0 == name).map(|c| c.1)
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

/// Most sessions counted per session (accounting): the sessions the profile's L2TP
/// endpoints allow, up to this. Sized at start (32 bytes per slot and worker); sessions
/// beyond it run uncounted (`session_counters_exhausted`).
pub const MAX_SESSION_COUNTERS: usize = 262_144;

/// Session counter slots for `cfg`.
pub fn session_counter_slots(cfg: &Config) -> usize {
    cfg.vrs
        .iter()
        .filter_map(|v| v.l2tp.as_ref().map(|l| l.max_sessions))
        .sum::<usize>()
        .min(MAX_SESSION_COUNTERS)
}

/// The forwarding state a profile starts with, for `workers` workers.
pub fn initial_state(cfg: &Config, workers: usize) -> Result<StateWriter, RunError> {
    let mut w = StateWriter::new(cfg.ports.iter().map(|p| p.mac).collect(), workers);
    w.set_session_counter_slots(session_counter_slots(cfg));
    let changes = crate::tables::initial(cfg, workers)?;
    w.apply(&changes)
        .map_err(|(i, e)| RunError::Tables(format!("{}: {e}", changes[i])))?;
    Ok(w)
}

/// Runs the appliance described by `cfg` until `stop` is raised or `opts` says so.
pub fn run(cfg: &Config, opts: &RunOptions, stop: Arc<AtomicBool>) -> Result<Summary, RunError> {
    run_with_reload(cfg, opts, stop, None)
}

/// [`run`], re-reading the profile whenever `reload` is requested ([`crate::reload`]).
pub fn run_with_reload(
    cfg: &Config,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    reload: Option<Reload>,
) -> Result<Summary, RunError> {
    let writer = initial_state(cfg, cfg.worker_cores.len().max(1))?;
    let mut services = crate::services::services(cfg, Instant::now());
    if let Some(d) = crate::services::discovery(cfg).map_err(RunError::Discovery)? {
        eprintln!(
            "varouter: VR discovery on {} as router {}",
            d.listen(),
            d.engine().router_id()
        );
        services.push(Box::new(d));
    }
    if let Some(v) = crate::services::vpn_peering(cfg).map_err(RunError::VpnPeering)? {
        eprintln!("varouter: VPN peering on {} ({:?})", v.listen(), v.radius());
        services.push(Box::new(v));
    }
    if let Some(m) = &cfg.mobile_ip {
        let macs = cfg.ports.iter().map(|p| p.mac).collect();
        let svc = crate::mip::service::MipService::from_config(
            m,
            macs,
            cfg.worker_cores.len().max(1),
            Instant::now(),
        )
        .map_err(RunError::Mip)?;
        eprintln!("varouter: {} Mobile IP agent(s)", m.agents.len());
        services.push(Box::new(svc));
    }
    let run_opts = controlcore::RunOptions {
        duration: opts.duration,
        stop_when: if opts.until_inputs_finished {
            StopWhen::InputsFinished
        } else {
            StopWhen::Flag
        },
    };
    // The management API (its own thread) when the profile has one; it works on the
    // profile file, so it needs to know where that is.
    let mut api = None;
    let mgmt = match (&cfg.management, &reload) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(RunError::Management(
                "the management API needs the profile file it was loaded from".into(),
            ))
        }
        (Some(m), Some(r)) => {
            let (t, link) =
                crate::mgmt::Management::start(cfg, &r.path).map_err(RunError::Management)?;
            eprintln!(
                "varouter: management API on {}://{}",
                if m.tls.is_some() { "https" } else { "http" },
                t.local_addr
            );
            api = Some(t);
            Some(link)
        }
    };
    // The mobile VPN's AAA on its own thread (its database lookups block only it).
    let aaa = match &cfg.aaa {
        Some(a) => {
            let h = crate::aaa::start(a).map_err(RunError::Aaa)?;
            eprintln!(
                "varouter: AAA ({}) on {} as {}",
                a.role.name(),
                h.local_addr(),
                a.origin_host
            );
            Some(h)
        }
        None => None,
    };
    // LDP on its own thread (its TCP sessions do not fit the control core's sockets).
    let ldp = match &cfg.ldp {
        Some(l) => {
            let h = crate::ldp::start(l).map_err(RunError::Ldp)?;
            eprintln!(
                "varouter: LDP as LSR {} (transport {}) on {}",
                l.lsr_id,
                h.transport(),
                l.ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Some(h)
        }
        None => None,
    };
    let mut sup = AppSupervisor::new(cfg.clone(), opts.stats_every, reload);
    sup.ldp = ldp
        .as_ref()
        .map(|h| h.link(cfg.ports.iter().map(|p| p.name.clone()).collect()));
    sup.mgmt = mgmt;
    sup.aaa = aaa.as_ref().map(|h| h.stats_ref());
    if let Some(m) = &mut sup.mgmt {
        m.aaa = sup.aaa.clone();
        m.ldp = sup.ldp.as_ref().map(|l| l.shared().clone());
    }
    if let Some(c) = cfg.control_core {
        crate::backend::soft::pin(Some(c));
    }
    if cfg
        .ports
        .iter()
        .any(|p| matches!(p.backend, Backend::Dpdk { .. }))
    {
        #[cfg(feature = "dpdk")]
        {
            let mut b = crate::backend::dpdk::DpdkBackend::new(cfg)?;
            sup.set_devices(Some(b.port_stats_source()));
            let report = controlcore::run(&mut b, writer, services, &run_opts, stop, &mut sup)?;
            drop(api);
            // The API's handle holds the ports: let go of it before the EAL goes.
            sup.set_devices(None);
            drop(b);
            let mut s = summary(&sup.running, report, &[]);
            s.aaa = aaa.map(|h| h.stop());
            s.ldp = ldp_summary(ldp);
            s.subscribers = std::mem::take(&mut sup.subscribers);
            s.subscriber_vrs = std::mem::take(&mut sup.subscriber_vrs);
            s.relayed = std::mem::take(&mut sup.relayed);
            s.discovery = std::mem::take(&mut sup.discovery);
            return Ok(s);
        }
        #[cfg(not(feature = "dpdk"))]
        return Err(BackendError::DpdkNotBuilt.into());
    }
    let mut b = SoftBackend::new(cfg)?;
    sup.set_devices(Some(b.port_stats_source()));
    let report = controlcore::run(&mut b, writer, services, &run_opts, stop, &mut sup)?;
    drop(api);
    let mut s = summary(&sup.running, report, &b.mem_stats);
    s.aaa = aaa.map(|h| h.stop());
    s.ldp = ldp_summary(ldp);
    s.subscribers = std::mem::take(&mut sup.subscribers);
    s.subscriber_vrs = std::mem::take(&mut sup.subscriber_vrs);
    s.relayed = std::mem::take(&mut sup.relayed);
    s.discovery = std::mem::take(&mut sup.discovery);
    Ok(s)
}

/// The supervisor of a profile-driven appliance: live statistics lines and reloads.
pub struct AppSupervisor {
    /// The configuration running now (the last one a reload applied).
    pub running: Config,
    stats_every: Option<Duration>,
    reload: Option<Reload>,
    start: Instant,
    last_print: Instant,
    last_totals: Option<Totals>,
    last_vrs: HashMap<VrId, (u64, u64)>,
    /// The subscribers as last listed (refreshed every second), and how many in all.
    pub subscribers: (Vec<SubscriberView>, usize),
    /// Per VR subscriber counters, as last read.
    pub subscriber_vrs: Vec<VrReport>,
    /// Relayed subscribers as last listed, and how many in all.
    pub relayed: (Vec<RelayView>, usize),
    last_listing: Instant,
    /// The management API's control side, when it runs.
    pub mgmt: Option<crate::mgmt::exec::MgmtLink>,
    /// The AAA thread's counters, when it runs.
    pub aaa: Option<Arc<std::sync::Mutex<crate::aaa::AaaStats>>>,
    /// The discovery maps as last listed (when they changed, at most every second).
    pub discovery: Vec<MapView>,
    /// LDP's control-loop side, when the profile runs LDP.
    pub ldp: Option<crate::ldp::LdpLink>,
    discovery_changes: Option<u64>,
    discovery_listed: Instant,
}

impl AppSupervisor {
    /// Gives the management API (when the profile runs one) the backend's per-port
    /// statistics; `None` takes them back.
    pub fn set_devices(&mut self, src: Option<controlcore::PortStatsSource>) {
        if let Some(m) = &mut self.mgmt {
            m.devices = src;
        }
    }

    /// A supervisor for `running`.
    pub fn new(running: Config, stats_every: Option<Duration>, reload: Option<Reload>) -> Self {
        let now = Instant::now();
        AppSupervisor {
            running,
            stats_every,
            reload,
            start: now,
            last_print: now,
            last_totals: None,
            last_vrs: HashMap::new(),
            subscribers: (Vec::new(), 0),
            subscriber_vrs: Vec::new(),
            relayed: (Vec::new(), 0),
            last_listing: now,
            mgmt: None,
            aaa: None,
            discovery: Vec::new(),
            ldp: None,
            discovery_changes: None,
            discovery_listed: now.checked_sub(Duration::from_secs(1)).unwrap_or(now),
        }
    }
}

impl<B: PacketBuf> Supervisor<B> for AppSupervisor {
    fn tick(&mut self, core: &mut Core<B>, counters: &[Arc<WorkerCounters>], now: Instant) -> Flow {
        if let Some(r) = &self.reload {
            if r.requested.swap(false, Ordering::Relaxed) {
                let path = r.path.clone();
                let o = crate::reload::reload(core, &mut self.running, &path, now);
                if let (crate::reload::Outcome::Applied(_), Some(m)) = (o, &mut self.mgmt) {
                    m.reloaded(&self.running);
                }
            }
        }
        if let Some(m) = &mut self.mgmt {
            m.tick(core, &mut self.running, counters, now);
        }
        if let Some(l) = &mut self.ldp {
            l.tick(core, now);
        }
        // The Mobile IP agents' Diameter messages, as soon as their thread has some.
        if core
            .service::<crate::mip::service::MipService>()
            .is_some_and(|m| m.aaa_pending())
        {
            core.with_service::<crate::mip::service::MipService, _>(now, |m, cx| m.poll_aaa(cx));
        }
        // The discovery maps: listed again when they changed, at most every second (a
        // listing of 1,000 VRs on every map change slowed convergence down).
        if let Some(d) = core.service::<DiscoveryService>() {
            let changes = d.service_counters().map_changes;
            if self.discovery_changes != Some(changes)
                && now.duration_since(self.discovery_listed) >= Duration::from_secs(1)
            {
                self.discovery_changes = Some(changes);
                self.discovery_listed = now;
                self.discovery = d.maps(now);
            }
        }
        if now.duration_since(self.last_listing) >= Duration::from_secs(1) {
            self.last_listing = now;
            if let Some(l2tp) = core.service::<L2tpService>() {
                let n = l2tp.subscribers().count();
                self.subscriber_vrs = l2tp.subscribers().per_vr();
                if n > 0 || !self.subscribers.0.is_empty() {
                    let v = l2tp.subscriber_list(core.writer(), now, LISTED_SUBSCRIBERS);
                    self.subscribers = (v, n);
                }
                let n = l2tp.access().count();
                if n > 0 || !self.relayed.0.is_empty() {
                    let v = l2tp.relay_list(core.writer(), now, LISTED_SUBSCRIBERS);
                    self.relayed = (v, n);
                }
            }
        }
        if let Some(every) = self.stats_every {
            if self.last_totals.is_none() {
                self.last_totals = Some(Totals::sum(counters));
            }
            let secs = now.duration_since(self.last_print).as_secs_f64();
            if now.duration_since(self.last_print) >= every {
                let totals = Totals::sum(counters);
                let st = core.state();
                let line = stats_line(
                    &self.running,
                    &st,
                    self.start.elapsed(),
                    self.last_totals.as_ref().unwrap_or(&totals),
                    &totals,
                    &mut self.last_vrs,
                    secs,
                );
                println!("{line}");
                if let Some(a) = self
                    .aaa
                    .as_ref()
                    .and_then(|a| a.lock().ok().map(|g| g.clone()))
                {
                    println!(
                        "[{:>4.0}s] {}",
                        self.start.elapsed().as_secs_f64(),
                        crate::aaa::stats_line(&a)
                    );
                }
                if let Some(l) = self.ldp.as_ref().and_then(|l| l.shared().lock().ok()) {
                    println!(
                        "[{:>4.0}s] {}",
                        self.start.elapsed().as_secs_f64(),
                        crate::ldp::stats_line(&l)
                    );
                }
                if let Some(d) = core.service::<DiscoveryService>() {
                    println!(
                        "[{:>4.0}s] {}",
                        self.start.elapsed().as_secs_f64(),
                        discovery_line(d)
                    );
                }
                if let Some(v) = core.service::<VpnPeerService>() {
                    println!(
                        "[{:>4.0}s] {}",
                        self.start.elapsed().as_secs_f64(),
                        vpn_peering_line(v)
                    );
                }
                if let Some(m) = core.service::<crate::mip::service::MipService>() {
                    println!(
                        "[{:>4.0}s] {}",
                        self.start.elapsed().as_secs_f64(),
                        crate::mip::service::stats_line(m)
                    );
                }
                self.last_totals = Some(totals);
                self.last_print = now;
            }
        }
        Flow::Continue
    }
}

fn summary(cfg: &Config, r: RunReport, mem_stats: &[Arc<MemStats>]) -> Summary {
    let totals = Totals::sum(&r.counters);
    let sum_flow = |f: &dyn Fn(&MemStats) -> &[std::sync::atomic::AtomicU64], i: usize| {
        mem_stats.iter().map(|s| mem::load(f(s), i)).sum::<u64>()
    };
    let flows: Vec<FlowResult> = if mem_stats.is_empty() {
        Vec::new()
    } else {
        cfg.flows
            .iter()
            .enumerate()
            .map(|(i, f)| FlowResult {
                name: f.name.clone(),
                vr: flow_vr(cfg, f).map(|v| cfg.vrs[v].name.clone()),
                sent: sum_flow(&|s| &s.sent, i),
                delivered: sum_flow(&|s| &s.delivered, i),
                misdelivered: sum_flow(&|s| &s.misdelivered, i),
            })
            .collect()
    };
    let vrs = r
        .state
        .vrs()
        .map(|v| {
            let mine = flows
                .iter()
                .filter(|f| f.vr.as_deref() == Some(v.info.name.as_str()));
            let (d, m) = mine.fold((0, 0), |(d, m), f| (d + f.delivered, m + f.misdelivered));
            VrResult {
                id: v.id().0,
                name: v.info.name.clone(),
                rx: v.counters.total(vr_counter::RX),
                tx: v.counters.total(vr_counter::TX),
                dropped: v.counters.total(vr_counter::DROP),
                delivered: d,
                misdelivered: m,
            }
        })
        .collect();
    Summary {
        elapsed: r.elapsed,
        workers: r.workers,
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        foreign: (0..cfg.ports.len())
            .map(|p| sum_flow(&|s| &s.foreign, p))
            .collect(),
        totals,
        flows,
        vrs,
        punted: r.punts,
        control: r.control,
        backend_stats: r.port_stats,
        subscribers: (Vec::new(), 0),
        subscriber_vrs: Vec::new(),
        relayed: (Vec::new(), 0),
        esp: esp_views(&r.state),
        aaa: None,
        discovery: Vec::new(),
        ldp: None,
    }
}

/// The VPN peering service's live line: channels, routes, authentication, hold.
pub fn vpn_peering_line(v: &VpnPeerService) -> String {
    use controlcore::Service;
    let c: HashMap<&str, u64> = v.counters().into_iter().collect();
    let g = |k: &str| c.get(k).copied().unwrap_or(0);
    format!(
        "vpn peering: {} VR(s), channels up {} held {}, {} route(s) in FIBs | auth accepted {} refused {} unavailable {} | routes in {} out {} withdrawn in {} | FIB installs {} removals {} errors {} no transport {} | hold expiries {} recoveries {}",
        g("vpnpeer_vrs"),
        g("vpnpeer_channels_up"),
        g("vpnpeer_channels_held"),
        g("vpnpeer_fib_routes"),
        g("vpnpeer_auth_accepts"),
        g("vpnpeer_auth_rejects"),
        g("vpnpeer_auth_unavailable"),
        g("vpnpeer_routes_rx"),
        g("vpnpeer_routes_tx"),
        g("vpnpeer_withdraws_rx"),
        g("vpnpeer_fib_installs"),
        g("vpnpeer_fib_removals"),
        g("vpnpeer_fib_errors"),
        g("vpnpeer_no_transport"),
        g("vpnpeer_hold_expiries"),
        g("vpnpeer_hold_recoveries"),
    )
}

/// The discovery service's live line: VRs announced, map entries, what was received and
/// refused.
pub fn discovery_line(d: &DiscoveryService) -> String {
    use controlcore::Service;
    let c: HashMap<&str, u64> = d.counters().into_iter().collect();
    let g = |k: &str| c.get(k).copied().unwrap_or(0);
    format!(
        "discovery: {} VR(s) announced, {} map entries | rx ok {} refused: unknown key {} bad auth {} replay {} unknown router {} wrong source {} malformed {} | tx {} retransmits {} gave up {}",
        g("discovery_vrs_announced"),
        g("discovery_map_entries"),
        g("discovery_rx_ok"),
        g("discovery_rx_unknown_key"),
        g("discovery_rx_bad_auth"),
        g("discovery_rx_replay"),
        g("discovery_rx_unknown_router"),
        g("discovery_rx_wrong_source"),
        g("discovery_rx_malformed") + g("discovery_rx_oversize"),
        g("discovery_tx_datagrams"),
        g("discovery_retransmits"),
        g("discovery_gave_up"),
    )
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

fn stats_line(
    cfg: &Config,
    st: &ForwardingState,
    t: Duration,
    before: &Totals,
    now: &Totals,
    last_vrs: &mut HashMap<VrId, (u64, u64)>,
    secs: f64,
) -> String {
    let secs = secs.max(1e-9);
    let mut s = format!("[{:>4.0}s]", t.as_secs_f64());
    let rate = |a: u64, b: u64| pps((a.saturating_sub(b)) as f64 / secs);
    let mut shown = 0;
    let mut active = 0;
    let mut seen = HashMap::with_capacity(last_vrs.len());
    for v in st.vrs() {
        let (rx, tx) = (
            v.counters.total(vr_counter::RX),
            v.counters.total(vr_counter::TX),
        );
        let (rx0, tx0) = last_vrs.get(&v.id()).copied().unwrap_or((rx, tx));
        seen.insert(v.id(), (rx, tx));
        if rx == rx0 && tx == tx0 {
            continue;
        }
        active += 1;
        if shown < LINE_ITEMS {
            let _ = write!(
                s,
                " | vr {} rx {} tx {}",
                v.info.name,
                rate(rx, rx0),
                rate(tx, tx0)
            );
            shown += 1;
        }
    }
    *last_vrs = seen;
    if active > shown {
        let _ = write!(s, " | +{} VRs", active - shown);
    }
    for (i, p) in cfg.ports.iter().enumerate().take(LINE_ITEMS) {
        let (rx, tx, dr) = now.ports.get(i).copied().unwrap_or_default();
        let (rx0, tx0, dr0) = before.ports.get(i).copied().unwrap_or_default();
        let _ = write!(
            s,
            " | {} rx {} tx {} drop {}",
            p.name,
            rate(rx, rx0),
            rate(tx, tx0),
            dr.saturating_sub(dr0)
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
            "  {:<12} id {:<5} rx {:>12} tx {:>12} dropped {:>10} delivered {:>12} misdelivered {}",
            v.name, v.id, v.rx, v.tx, v.dropped, v.delivered, v.misdelivered
        );
    }
    let _ = writeln!(o, "ports:");
    for (i, n) in s.port_names.iter().enumerate() {
        let (rx, tx, dr) = s.totals.ports.get(i).copied().unwrap_or_default();
        let _ = writeln!(
            o,
            "  {n:<12} rx {rx:>12} tx {tx:>12} dropped {dr:>10} unattributed {}",
            s.foreign.get(i).copied().unwrap_or(0)
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
    if !s.esp.is_empty() {
        let _ = writeln!(
            o,
            "esp SAs:\n  {:<10} {:<12} {:<4} {:<10} {:<18} {:<5} {:>12} {:>14} lifetime",
            "vr", "sa", "dir", "spi", "cipher", "dscp", "packets", "bytes"
        );
        for e in &s.esp {
            let _ = writeln!(
                o,
                "  {:<10} {:<12} {:<4} {:<#10x} {:<18} {:<5} {:>12} {:>14} {}",
                e.vr,
                e.name,
                if e.inbound { "in" } else { "out" },
                e.spi,
                e.cipher,
                e.dscp.map_or("copy".to_string(), |d| d.to_string()),
                e.packets,
                e.bytes,
                e.lifetime
            );
        }
        // DiffServ classification: encrypted packets per marking class.
        let mut classes: std::collections::BTreeMap<Option<u8>, u64> = Default::default();
        for e in s.esp.iter().filter(|e| !e.inbound) {
            *classes.entry(e.dscp).or_default() += e.packets;
        }
        let _ = writeln!(o, "esp packets sent per DSCP class:");
        for (d, n) in classes {
            let d = d.map_or("copy (inner DSCP)".to_string(), |d| format!("DSCP {d}"));
            let _ = writeln!(o, "  {d:<28} {n}");
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
    if let Some(a) = &s.aaa {
        let _ = writeln!(o, "{}", crate::aaa::stats_line(a));
        let nz: Vec<_> = a.engine.iter().filter(|x| x.1 > 0).collect();
        for (k, v) in nz {
            let _ = writeln!(o, "  {k:<36} {v}");
        }
    }
    if let Some(l) = &s.ldp {
        let _ = writeln!(o, "{}", l.line);
        for e in &l.installed {
            let _ = writeln!(o, "  {}", crate::ldp::cross_connect_line(e));
        }
        for (k, v) in l.counters.iter().filter(|x| x.1 > 0) {
            let _ = writeln!(o, "  {k:<36} {v}");
        }
    }
    if !s.discovery.is_empty() {
        let _ = writeln!(o, "discovery configuration maps (last listed):");
        for m in &s.discovery {
            let name = s
                .vrs
                .iter()
                .find(|v| v.id == m.vr.0)
                .map_or_else(|| m.vr.0.to_string(), |v| v.name.clone());
            let addr = m.addr.map_or_else(|| "-".to_string(), |a| a.to_string());
            let _ = writeln!(
                o,
                "  vr {name:<12} vpn {:<10} address {addr:<16} {}: {} peer(s)",
                m.vpn_id,
                m.state,
                m.peers.len()
            );
            for p in &m.peers {
                let _ = writeln!(o, "    router {:<15} address {}", p.router, p.addr);
            }
        }
    }
    let nz: Vec<_> = s.control.iter().filter(|x| x.1 > 0).collect();
    if !nz.is_empty() {
        let _ = writeln!(o, "control core (non-zero):");
        for (k, v) in nz {
            let _ = writeln!(o, "  {k:<36} {v}");
        }
    }
    if !s.subscriber_vrs.is_empty() {
        let _ = writeln!(
            o,
            "subscribers per VR:\n  {:<6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}",
            "vr", "now", "up", "accepted", "rejected", "rad-tmo", "retrans", "no-addr", "acct-fail"
        );
        for r in &s.subscriber_vrs {
            let _ = writeln!(
                o,
                "  {:<6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}",
                r.vr.0,
                r.sessions,
                r.up,
                r.stats.auth_accepts,
                r.stats.auth_rejects,
                r.stats.radius_timeouts,
                r.radius.retransmits,
                r.stats.no_address,
                r.stats.acct_failures
            );
        }
    }
    if s.subscribers.1 > 0 {
        let _ = writeln!(
            o,
            "subscribers (last listed, {} in all):\n  {:<6} {:<20} {:<15} {:<12} {:<8} {:>8} {:>14} {:>14}",
            s.subscribers.1, "vr", "user", "address", "l2tp t/s", "state", "uptime", "bytes in", "bytes out"
        );
        for x in &s.subscribers.0 {
            let _ = writeln!(
                o,
                "  {:<6} {:<20} {:<15} {:<12} {:<8} {:>7}s {:>14} {:>14}",
                x.vr.0,
                x.user,
                x.v4.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
                format!("{}/{}", x.tunnel, x.session),
                x.phase,
                x.uptime.as_secs(),
                x.traffic[1],
                x.traffic[3]
            );
        }
    }
    if s.relayed.1 > 0 {
        let _ = writeln!(
            o,
            "relayed subscribers (last listed, {} in all):\n  {:<28} {:<17} {:<24} {:<30} {:>8} {:>14} {:>14}",
            s.relayed.1, "access link (vr)", "mac", "user", "path", "uptime", "bytes in", "bytes out"
        );
        for x in &s.relayed.0 {
            use controlplane::access::manager::Stage;
            let l = &x.link;
            let access = match l.vlan {
                Some(v) => format!("{} vlan {v} ({})", l.link, l.vr.0),
                None => format!("{} ({})", l.link, l.vr.0),
            };
            let lns = x
                .lns
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "?".into());
            let path = match l.stage {
                Stage::Negotiating => "negotiating".to_string(),
                Stage::Authorizing => "radius".to_string(),
                Stage::Placing { vr, .. } => format!("placing vr {} -> {lns}", vr.0),
                Stage::Relaying {
                    vr,
                    tunnel,
                    session,
                } => format!("vr {} l2tp {tunnel}/{session} -> {lns}", vr.0),
                Stage::Terminated { vr } => format!("terminated in vr {}", vr.0),
            };
            let mac = l.mac.map(|b| format!("{b:02x}")).join(":");
            let _ = writeln!(
                o,
                "  {:<28} {:<17} {:<24} {:<30} {:>7}s {:>14} {:>14}",
                access,
                mac,
                l.user,
                path,
                x.uptime.as_secs(),
                x.traffic[1],
                x.traffic[3]
            );
        }
    }
    for (port, stats) in &s.backend_stats {
        let nz: Vec<_> = stats.iter().filter(|x| x.1 > 0).collect();
        if !nz.is_empty() {
            let _ = writeln!(o, "port {port} device statistics (non-zero):");
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
