//! `varouter bench relay`: what a PPP relay costs a worker beside plain routing (issue 14).
//!
//! **Cases**, in one run on the same machine and state:
//!
//! 1. `plain IPv4 routing` — IPv4 from a CE, routed in its VR to the CE (the baseline);
//! 2. `PPPoE → L2TP relay` — PPPoE session frames (LAC: subscribers' PPP to the LNS);
//! 3. `L2TP → PPPoE relay` — L2TP data from the LNS to the subscribers' PPPoE sessions;
//! 4. `PPPoE terminated → routed` — PPPoE session frames whose IPv4 is routed in the
//!    session's VR (the BNG terminating PPPoE itself).
//!
//! Every case carries IPv4 packets of `--ip-len` bytes spread round robin over `--sessions`
//! sessions (one ring of `--ring` pre-built frames per case; case 1 uses as many distinct
//! destinations).
//!
//! **What is measured.** Two numbers per case, each the median of `--runs` runs (the cases
//! interleaved within a run, so a noisy neighbour hits them alike):
//!
//! * *worker loop*: a real [`Worker`] on this thread polls the replay queue of
//!   `varouter bench pipeline` ([`super::pipeline`]'s `Replay`: rx copies the next ring
//!   frame into a pooled buffer, tx recycles) for `--seconds` after `--warmup`; Mpps =
//!   packets received per second, **cycles per packet** = TSC MHz ÷ Mpps, as `bench
//!   pipeline` computes them (the TSC frequency from `--cpu-mhz` or `/proc/cpuinfo`). This
//!   includes the burst I/O, the prefetch stage, the tx buffering and the frame copy.
//! * *pipeline alone*: `pipeline::forward` on the ring's frames back to back (each frame
//!   restored into one buffer first, a ~10 ns copy included), in ns and cycles per packet.
//!
//! Before measuring, every case's ring is checked to take its path (sent on the expected
//! port, the sessions' counters moving); during the runs any drop or punt is an error.

use super::pipeline::{tsc_mhz, Replay};
use dataplane::buffer::{HeapBuf, HeapPool};
use dataplane::counters::{Totals, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use dataplane::port::PortQueue;
use dataplane::punt::PuntRing;
use dataplane::worker::Worker;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{
    ForwardingState, IfBinding, IfKey, L2tpEncap, LabelPush, NeighborKey, NextHop, PortId,
    PppoeEncap, Publisher, RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter,
    VpnId, VrId,
};
use wire::checksum;

/// Options of `varouter bench relay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Measured seconds per case and run.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Unmeasured seconds before each measurement.
    #[arg(long, default_value_t = 0.2)]
    pub warmup: f64,
    /// Runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Sessions the packets are spread over (each relayed or terminated case has its own).
    #[arg(long, default_value_t = 1000)]
    pub sessions: u16,
    /// IPv4 packet length (bytes) inside every frame.
    #[arg(long, default_value_t = 64)]
    pub ip_len: usize,
    /// Frames per case ring.
    #[arg(long, default_value_t = 4096)]
    pub ring: usize,
    /// TSC frequency in MHz (default: /proc/cpuinfo).
    #[arg(long)]
    pub cpu_mhz: Option<f64>,
    /// Print one JSON line instead of a table.
    #[arg(long)]
    pub json: bool,
}

const ACCESS: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];
const CE: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xe0];
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LNS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const VLAN: u16 = 100;
const OUR_TUNNEL: u16 = 7;
const PEER_TUNNEL: u16 = 40;
const ACCESS_VR: VrId = VrId(1);
const CORE_VR: VrId = VrId(2);
const ISP_VR: VrId = VrId(3);

/// The benchmark's cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// IPv4 routed CE → CE.
    Plain,
    /// PPPoE session frames relayed into L2TP.
    PppoeToL2tp,
    /// L2TP data relayed into PPPoE sessions.
    L2tpToPppoe,
    /// PPPoE session frames terminated, their IPv4 routed.
    PppoeTerminated,
}

impl Case {
    /// Every case, in report order.
    pub const ALL: [Case; 4] = [
        Case::Plain,
        Case::PppoeToL2tp,
        Case::L2tpToPppoe,
        Case::PppoeTerminated,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Case::Plain => "plain IPv4 routing",
            Case::PppoeToL2tp => "PPPoE -> L2TP relay",
            Case::L2tpToPppoe => "L2TP -> PPPoE relay",
            Case::PppoeTerminated => "PPPoE terminated -> routed",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Case::Plain => "plain",
            Case::PppoeToL2tp => "pppoe_to_l2tp",
            Case::L2tpToPppoe => "l2tp_to_pppoe",
            Case::PppoeTerminated => "pppoe_terminated",
        }
    }

    /// Ingress port and the port the frames must leave on.
    fn ports(self) -> (u16, u16) {
        match self {
            Case::Plain | Case::PppoeToL2tp | Case::PppoeTerminated => (0, 1),
            Case::L2tpToPppoe => (1, 0),
        }
    }
}

fn ports() -> Vec<PortInfo> {
    vec![
        PortInfo {
            mac: ACCESS,
            mtu: 1500,
        },
        PortInfo {
            mac: CORE,
            mtu: 1500,
        },
    ]
}

fn sub_mac(i: u16) -> [u8; 6] {
    let [a, b] = i.to_be_bytes();
    [2, 0, 0, 0xab, a, b]
}

/// PPPoE session ids: relayed sessions 1..=n, terminated n+1..=2n.
fn relayed_id(i: u16) -> u16 {
    1 + i
}

fn terminated_id(n: u16, i: u16) -> u16 {
    1 + n + i
}

/// The forwarding state of every case: port 0 is the access port (VLAN 100: the access VR;
/// untagged: the core VR, where the CE traffic of case 1 comes from), port 1 the core
/// (the LNS behind gateway `GW`, the CE). Relayed session `i`: PPPoE id `1 + i` ⇄ our
/// L2TP session `1 + i` (the LNS's `1 + i`); terminated session `i`: PPPoE id `1 + n + i`
/// in the ISP VR.
pub fn state(n: u16) -> Result<ForwardingState, String> {
    if n == 0 || n > 0x7ffe {
        return Err(format!(
            "--sessions must be 1..={} (two PPPoE session ids each)",
            0x7ffe
        ));
    }
    let e = |e: vr::StateError| e.to_string();
    let mut w = StateWriter::new(vec![ACCESS, CORE], 1);
    w.set_session_counter_slots(3 * usize::from(n));
    for (id, name) in [(ACCESS_VR, "access"), (CORE_VR, "core"), (ISP_VR, "isp")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).map_err(|e| e.to_string())?,
            "bench",
        ))
        .map_err(e)?;
    }
    w.bind_interface(IfKey::PortVlan(PortId(0), VLAN), IfBinding::Vr(ACCESS_VR))
        .map_err(e)?;
    w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(CORE_VR))
        .map_err(e)?;
    w.bind_interface(IfKey::Port(PortId(1)), IfBinding::Vr(CORE_VR))
        .map_err(e)?;
    w.set_neighbor(
        NeighborKey {
            port: PortId(1),
            vlan: None,
            ip: Ipv4Addr::new(192, 0, 2, 254).into(),
        },
        Some(GW),
    );
    w.set_route(
        CORE_VR,
        "192.0.2.1/32".parse().map_err(|_| "prefix")?,
        RouteSource::Local,
        NextHop::Local,
    )
    .map_err(e)?;
    let ce = NextHop::Forward {
        port: PortId(1),
        vlan: None,
        src_mac: CORE,
        dst_mac: CE,
        push: LabelPush::EMPTY,
    };
    for vr in [CORE_VR, ISP_VR] {
        w.set_route(
            vr,
            "10.0.0.0/8".parse().map_err(|_| "prefix")?,
            RouteSource::Static,
            ce,
        )
        .map_err(e)?;
    }
    let slot = |w: &mut StateWriter| {
        w.alloc_session_counters()
            .ok_or_else(|| "out of session counter slots".to_string())
    };
    for i in 0..n {
        let id = relayed_id(i);
        let (up, down) = (slot(&mut w)?, slot(&mut w)?);
        let to_lns = NextHop::L2tp(L2tpEncap {
            port: PortId(1),
            vlan: None,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src_ip: ME,
            dst_ip: LNS,
            via: Ipv4Addr::new(192, 0, 2, 254),
            counters: up,
            src_port: 1701,
            dst_port: 1701,
            peer_tunnel: PEER_TUNNEL,
            peer_session: id,
        });
        w.bind_session_relay(
            SessionKey::Pppoe {
                port: PortId(0),
                session: id,
            },
            SessionBinding::pppoe(ACCESS_VR, down, sub_mac(i), Some(VLAN)),
            to_lns,
        )
        .map_err(e)?;
        let to_sub = NextHop::Pppoe(PppoeEncap {
            port: PortId(0),
            vlan: Some(VLAN),
            src_mac: [0; 6],
            dst_mac: sub_mac(i),
            session: id,
            counters: down,
        });
        w.bind_session_relay(
            SessionKey::L2tp {
                tunnel: OUR_TUNNEL,
                session: id,
            },
            SessionBinding {
                counters: up,
                ..SessionBinding::new(CORE_VR)
            },
            to_sub,
        )
        .map_err(e)?;
        let t = slot(&mut w)?;
        w.bind_session(
            SessionKey::Pppoe {
                port: PortId(0),
                session: terminated_id(n, i),
            },
            SessionBinding::pppoe(ISP_VR, t, sub_mac(i), Some(VLAN)),
        )
        .map_err(e)?;
    }
    Ok(w.snapshot())
}

/// An IPv4/UDP packet of `len` bytes (at least 28) from `src` to `dst`.
pub(crate) fn ipv4(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = !checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&1024u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    p
}

fn pppoe_frame(i: u16, session: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = ACCESS.to_vec();
    f.extend_from_slice(&sub_mac(i));
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&VLAN.to_be_bytes());
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&[0x00, 0x21]);
    f.extend_from_slice(ip);
    f
}

fn l2tp_frame(session: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = CORE.to_vec();
    f.extend_from_slice(&GW);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 8 + 6 + 4 + ip.len();
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[8] = 64;
    h[9] = 17;
    h[12..16].copy_from_slice(&LNS.octets());
    h[16..20].copy_from_slice(&ME.octets());
    let c = !checksum::data(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(&[0x06, 0xa5, 0x06, 0xa5]);
    f.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x00, 0x02]);
    f.extend_from_slice(&OUR_TUNNEL.to_be_bytes());
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
    f.extend_from_slice(ip);
    f
}

/// The ring of `case`: `ring` frames over `n` sessions (round robin).
pub fn ring(case: Case, n: u16, ip_len: usize, ring: usize) -> Vec<Vec<u8>> {
    (0..ring)
        .map(|k| {
            let i = (k % usize::from(n)) as u16;
            let [a, b] = i.to_be_bytes();
            let sub = [100, 64, a, b];
            let net = [10, 1, (k >> 8) as u8, k as u8];
            match case {
                Case::Plain => {
                    let mut f = ACCESS.to_vec();
                    f.extend_from_slice(&CE);
                    f.extend_from_slice(&[0x08, 0x00]);
                    f.extend(ipv4([10, 2, a, b], net, ip_len));
                    f
                }
                Case::PppoeToL2tp => pppoe_frame(i, relayed_id(i), &ipv4(sub, net, ip_len)),
                Case::L2tpToPppoe => l2tp_frame(relayed_id(i), &ipv4(net, sub, ip_len)),
                Case::PppoeTerminated => {
                    pppoe_frame(i, terminated_id(n, i), &ipv4(sub, net, ip_len))
                }
            }
        })
        .collect()
}

/// Checks that every frame of `ring` takes the case's path (on a scratch copy of the
/// counters) and that the sessions' counters move.
fn check_ring(st: &ForwardingState, case: Case, ring: &[Vec<u8>]) -> Result<(), String> {
    let (in_port, out_port) = case.ports();
    let c = WorkerCounters::new(0, 2);
    let before: u64 = (0..st.session_counters.slots() as u32)
        .map(|s| st.session_counters.read(s).iter().sum::<u64>())
        .sum();
    let mut b = HeapBuf::new();
    for (k, f) in ring.iter().enumerate() {
        if !b.set(f) {
            return Err(format!("{}: frame {k} does not fit a buffer", case.name()));
        }
        let v = forward(st, &ports(), PortId(in_port), &mut b, &c);
        if v != Verdict::Tx(PortId(out_port)) {
            return Err(format!(
                "{}: frame {k} gave {v:?}, not sent on port {out_port}",
                case.name()
            ));
        }
    }
    let after: u64 = (0..st.session_counters.slots() as u32)
        .map(|s| st.session_counters.read(s).iter().sum::<u64>())
        .sum();
    if case != Case::Plain && after == before {
        return Err(format!("{}: no session counter moved", case.name()));
    }
    Ok(())
}

/// One measurement of the worker loop: (packets per second, packets).
fn worker_pps(
    st: &ForwardingState,
    case: Case,
    ring: &Arc<Vec<Vec<u8>>>,
    warmup: Duration,
    seconds: Duration,
) -> Result<(f64, u64), String> {
    let (in_port, _) = case.ports();
    let queues: Vec<Box<dyn PortQueue<HeapBuf, HeapPool>>> = (0..2u16)
        .map(|p| {
            let r = if p == in_port {
                Arc::clone(ring)
            } else {
                Arc::new(Vec::new())
            };
            Box::new(Replay { ring: r, next: 0 }) as Box<dyn PortQueue<HeapBuf, HeapPool>>
        })
        .collect();
    let publisher = Publisher::new(st.clone());
    let counters = Arc::new(WorkerCounters::new(0, 2));
    let punts: Arc<PuntRing<HeapBuf>> = Arc::new(PuntRing::new(1024));
    let mut worker = Worker::new(
        0,
        HeapPool::new(4096, 8192),
        queues,
        Arc::from(ports()),
        publisher.handle(),
        Arc::clone(&counters),
        punts,
    );
    let run_for = |worker: &mut Worker<HeapBuf, HeapPool>, d: Duration| {
        let t0 = Instant::now();
        while t0.elapsed() < d {
            for _ in 0..64 {
                worker.poll_once();
            }
        }
    };
    run_for(&mut worker, warmup);
    let a = Totals::sum(std::slice::from_ref(&counters));
    let t0 = Instant::now();
    run_for(&mut worker, seconds);
    let dt = t0.elapsed().as_secs_f64();
    let b = Totals::sum(std::slice::from_ref(&counters));
    let rx = b.ports[usize::from(in_port)].0 - a.ports[usize::from(in_port)].0;
    let tx: u64 =
        b.ports.iter().map(|p| p.1).sum::<u64>() - a.ports.iter().map(|p| p.1).sum::<u64>();
    let bad = b.total_drops() - a.total_drops() + b.punts.iter().map(|p| p.1).sum::<u64>()
        - a.punts.iter().map(|p| p.1).sum::<u64>();
    if bad > 0 || tx != rx {
        let why: Vec<String> = b
            .drops
            .iter()
            .filter(|d| d.1 > 0)
            .map(|d| format!("{} {}", d.0.name(), d.1))
            .collect();
        return Err(format!(
            "{}: {rx} received, {tx} sent, {bad} dropped or punted ({})",
            case.name(),
            why.join(", ")
        ));
    }
    Ok((rx as f64 / dt, rx))
}

/// Nanoseconds per packet of `pipeline::forward` alone over the ring.
fn pipeline_ns(st: &ForwardingState, case: Case, ring: &[Vec<u8>], seconds: Duration) -> f64 {
    let (in_port, _) = case.ports();
    let ports = ports();
    let c = WorkerCounters::new(0, 2);
    let mut b = HeapBuf::new();
    let mut n = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < seconds {
        for f in ring {
            b.set(f);
            let v = forward(st, &ports, PortId(in_port), &mut b, &c);
            std::hint::black_box(v);
        }
        n += ring.len() as u64;
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// One case's medians.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// Worker loop: million packets per second.
    pub mpps: f64,
    /// Worker loop: cycles per packet.
    pub cycles: f64,
    /// Pipeline alone: nanoseconds per packet.
    pub pipeline_ns: f64,
    /// Spread of the worker-loop Mpps over the runs (min, max).
    pub mpps_range: (f64, f64),
}

/// Runs the benchmark and prints the result.
pub fn run(args: Args) -> Result<(), String> {
    let bad_time = args.seconds.is_nan() || args.seconds <= 0.0 || args.warmup.is_nan();
    if bad_time || args.warmup < 0.0 || args.runs == 0 || args.ring == 0 {
        return Err("--seconds must be > 0, --warmup >= 0, --runs and --ring >= 1".into());
    }
    if !(28..=1400).contains(&args.ip_len) {
        return Err("--ip-len must be 28..=1400".into());
    }
    let mhz = tsc_mhz(args.cpu_mhz)?;
    let t = Instant::now();
    let st = state(args.sessions)?;
    let build = t.elapsed();
    let rings: Vec<Arc<Vec<Vec<u8>>>> = Case::ALL
        .iter()
        .map(|c| Arc::new(ring(*c, args.sessions, args.ip_len, args.ring)))
        .collect();
    for (c, r) in Case::ALL.iter().zip(&rings) {
        check_ring(&st, *c, r)?;
    }
    let (warm, secs) = (
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.seconds),
    );
    let mut pps = vec![Vec::new(); Case::ALL.len()];
    let mut ns = vec![Vec::new(); Case::ALL.len()];
    for _ in 0..args.runs {
        for (i, c) in Case::ALL.iter().enumerate() {
            pps[i].push(worker_pps(&st, *c, &rings[i], warm, secs)?.0);
            ns[i].push(pipeline_ns(&st, *c, &rings[i], secs / 2));
        }
    }
    let results: Vec<CaseResult> = Case::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let lo = pps[i].iter().copied().fold(f64::INFINITY, f64::min);
            let hi = pps[i].iter().copied().fold(0.0, f64::max);
            let m = median(&mut pps[i]);
            CaseResult {
                case: *c,
                mpps: m / 1e6,
                cycles: mhz * 1e6 / m,
                pipeline_ns: median(&mut ns[i]),
                mpps_range: (lo / 1e6, hi / 1e6),
            }
        })
        .collect();
    let mut o = String::new();
    if args.json {
        let cases: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "\"{}\":{{\"mpps\":{:.4},\"cycles_per_packet\":{:.1},\"pipeline_ns\":{:.1},\"pipeline_cycles\":{:.1}}}",
                    r.case.key(),
                    r.mpps,
                    r.cycles,
                    r.pipeline_ns,
                    r.pipeline_ns * mhz / 1e3
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "{{\"sessions\":{},\"ip_len\":{},\"runs\":{},\"seconds\":{},\"cpu_mhz\":{:.1},{}}}",
            args.sessions,
            args.ip_len,
            args.runs,
            args.seconds,
            mhz,
            cases.join(",")
        );
    } else {
        let _ = writeln!(o, "=== varouter bench relay ===");
        let _ = writeln!(
            o,
            "{} sessions per case, IPv4 {} B, ring {} frames, {} runs x {:.2} s (median), \
             1 worker on this thread, TSC {mhz:.0} MHz; state built in {:.1} ms",
            args.sessions,
            args.ip_len,
            args.ring,
            args.runs,
            args.seconds,
            build.as_secs_f64() * 1e3
        );
        let _ = writeln!(
            o,
            "{:<28} {:>8} {:>17} {:>12} {:>14} {:>15}",
            "case", "Mpps", "(min..max)", "cycles/pkt", "pipeline ns", "pipeline cyc"
        );
        for r in &results {
            let _ = writeln!(
                o,
                "{:<28} {:>8.3} {:>17} {:>12.1} {:>14.1} {:>15.1}",
                r.case.name(),
                r.mpps,
                format!("({:.2}..{:.2})", r.mpps_range.0, r.mpps_range.1),
                r.cycles,
                r.pipeline_ns,
                r.pipeline_ns * mhz / 1e3
            );
        }
    }
    print!("{o}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_takes_its_path() {
        let st = state(50).unwrap();
        for c in Case::ALL {
            let r = ring(c, 50, 64, 200);
            check_ring(&st, c, &r).unwrap();
        }
        assert!(state(0).is_err());
    }

    #[test]
    fn a_short_worker_run_sends_everything() {
        let st = state(8).unwrap();
        for c in Case::ALL {
            let r = Arc::new(ring(c, 8, 100, 64));
            let (pps, n) =
                worker_pps(&st, c, &r, Duration::ZERO, Duration::from_millis(20)).unwrap();
            assert!(n > 0 && pps > 0.0, "{c:?}");
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
