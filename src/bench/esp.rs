//! `varouter bench esp`: what ESP tunnel mode costs a worker (issue 13), beside plain
//! routing and beside `openssl speed` on the same machine in the same run.
//!
//! **Cases**, each at every `--sizes` inner IPv4 packet length (default 64, 512 and 1,420
//! bytes) with AES-GCM-128, and with AES-GCM-256 and ChaCha20-Poly1305 at `--others-at`
//! (default 1,420):
//!
//! 1. `plain route` — the inner packet from CE A (port 0) routed in the customer VR to CE
//!    B (port 2): the baseline, once per size (no cipher);
//! 2. `encrypt + route` — the same packet, to a prefix the customer VR routes through
//!    [`NextHop::Esp`]: marked, padded, sealed in place, given an outer IPv4 header and
//!    routed in the core VR to the gateway (port 1, a [`NextHop::Forward`]);
//! 3. `decrypt + route` — ESP (IP protocol 50) from the peer to a local address of the core
//!    VR (port 1): SA by SPI, replay window, ICV and decryption in place, trailer, and the
//!    inner packet routed in the customer VR to CE B (port 2);
//! 4. `Sa::seal alone`, `Sa::open alone` — [`esp::Sa::seal`] / [`esp::Sa::open`] on a
//!    buffer laid out for them, without the pipeline.
//!
//! Each case's packets cycle over `--flows` inner flows (distinct addresses).
//!
//! **How a case is measured.** `--burst` pre-allocated [`HeapBuf`]s are *restored* (the
//! next frames of the ring copied in), then run through [`forward`] back to back on this
//! thread; only the second part is timed (one clock read before and after; the cost of a
//! read is measured and printed, about 0.5 ns per packet at the default burst of 64). The restore is timed
//! separately and printed (`restore ns`), never included. For `decrypt + route` the restore
//! also *seals* each packet with a twin of the inbound SA (same SPI, key and salt: the
//! peer), so every packet the pipeline sees is a distinct, valid ESP packet with the next
//! sequence number — re-decrypting one buffer would only measure the replay drop. Every
//! verdict is counted: a packet not sent on its case's port fails the benchmark, and so
//! does an SA whose packet counter did not advance by exactly the packets measured. Before
//! measuring, one packet of each case is checked byte for byte (the encrypted one opened by
//! a twin of the outbound SA). `Sa::seal alone` re-seals the same buffers (no restore);
//! `Sa::open alone` restores by copying and sealing with a twin, like `decrypt + route`.
//! The packets live in L1/L2 when timed (just restored), as they would after a NIC's DMA
//! into the last-level cache and the worker's prefetch; the FIB and SA state are hot.
//!
//! **Numbers.** Per run and case, `ns/pkt` is the *median burst's* time per packet: on a
//! shared machine a burst during which the scheduler ran someone else takes milliseconds,
//! and the median leaves those out (`mean ns`, over every burst, keeps them). Each printed
//! number is the median of `--runs` runs of `--seconds` per case (the cases interleaved
//! within a run so a noisy neighbour hits them alike; a short warm-up before each), with
//! the fastest and slowest run beside it. Mpps = 1000 / ns; Gbps counts inner IP bytes;
//! cycles per packet = ns × TSC MHz / 1000 (the TSC frequency from `--cpu-mhz` or
//! `/proc/cpuinfo`, as `bench relay` does).
//!
//! **openssl.** With `--with-openssl`, or by default when `openssl` is on `PATH`, each
//! cipher and size is also measured with `openssl speed -evp <cipher> -bytes <size>
//! -seconds <n> -mr` on this thread's CPU set: plain (the raw cipher streaming over one
//! buffer: one IV and no tag per call — the command of issue 13) and with `-aead` (per
//! record: IV, AAD, encryption, tag — the per-packet work of an ESP seal), encrypting and,
//! with `-decrypt`, decrypting. openssl divides by its CPU time, which like our median burst
//! leaves out the time others had the CPU (`--openssl-elapsed` passes `-elapsed`: wall
//! clock). `--openssl-runs` repetitions, after each of our first runs; the median. Both are
//! assembly-accelerated (OpenSSL's own perlasm, `ring` BoringSSL's), but not with the same
//! code paths on every CPU: see below.
//!
//! **One run** (`scripts/bench-esp`, defaults; 2-vCPU KVM guest, AMD EPYC with AES-NI,
//! VAES and VPCLMULQDQ but no AVX-512, TSC 2,596 MHz, pinned to one vCPU; the host was
//! shared with other builds, load average 3–5 during the run, so single runs spread by up
//! to +60 %, while the AES-GCM medians repeated within 1 % of an earlier run at load 7–8
//! (ChaCha20-Poly1305 open within 16 %); OpenSSL 3.0.19). Gbps of inner IP bytes (cycles per packet):
//!
//! | cipher, size | plain route | encrypt + route | decrypt + route | `Sa::seal` | `Sa::open` | `openssl -evp` | `-aead` | `-aead -decrypt` |
//! |---|---|---|---|---|---|---|---|---|
//! | AES-GCM-128, 64 B | 11.48 (116) | 2.12 (628) | 2.10 (632) | 3.28 (405) | 3.29 (403) | 0.86 (1541) | 0.67 (1991) | 0.53 (2502) |
//! | AES-GCM-128, 512 B | 89.32 (119) | 13.39 (794) | 13.69 (777) | 18.90 (563) | 19.68 (540) | 5.75 (1851) | 5.50 (1933) | 4.42 (2408) |
//! | AES-GCM-128, 1,420 B | 244.47 (121) | **28.98** (1018) | **29.24** (1009) | 37.42 (788) | 37.79 (780) | 10.36 (2846) | 10.44 (2824) | 9.64 (3059) |
//! | AES-GCM-256, 1,420 B | 244.47 (121) | 26.93 (1095) | 27.69 (1065) | 34.21 (862) | 35.39 (833) | 9.73 (3032) | 11.26 (2620) | 9.87 (2988) |
//! | ChaCha20-Poly1305, 1,420 B | 244.47 (121) | 10.86 (2716) | 11.72 (2515) | 12.07 (2444) | 11.14 (2647) | 10.34 (2853) | 10.68 (2761) | 11.06 (2666) |
//!
//! The goal of issue 13 (≥ 25 Gbps per core at 1,420 B, AES-GCM-128) is met on this CPU
//! in both directions: 2.55–2.57 Mpps. The ESP path costs a fixed 85–90 ns (≈ 230 cycles)
//! per packet over `Sa::seal`/`open` (SA table lookup, outer header, second FIB lookup in
//! the outer VR, trailer; replay window lock on decrypt), about twice a plain route, at
//! every size; the rest is the AEAD. `ring` beats this OpenSSL 3–5× on AES-GCM (2.9× at
//! 1,420 B in the earlier run): ring 0.17.14 has BoringSSL's AVX2 VAES/VPCLMULQDQ AES-GCM,
//! OpenSSL's VAES AES-GCM needs AVX-512 (absent here), and OpenSSL 3's EVP calls cost well
//! over 1,000 cycles each at 64 B. ChaCha20-Poly1305 (AVX2 in both) is even. openssl's
//! figures moved by up to 25 % between the two runs (its CPU-time divisor is coarse).

use super::pipeline::tsc_mhz;
use super::relay::ipv4;
use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use esp::{Cipher, Sa, SaParams, HEAD_LEN};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vr::{
    EspSaId, EspTunnel, ForwardingState, IfBinding, IfKey, LabelPush, NextHop, PortId, RouteSource,
    StateWriter, VirtualRouter, VpnId, VrId,
};
use wire::checksum;

/// Options of `varouter bench esp`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Measured seconds per case and run (wall clock, restores included).
    #[arg(long, default_value_t = 0.5)]
    pub seconds: f64,
    /// Unmeasured seconds before each measurement.
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f64,
    /// Runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Inner IPv4 packet lengths (bytes, 28..=1444) measured with AES-GCM-128.
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 512, 1420])]
    pub sizes: Vec<usize>,
    /// Inner packet length for AES-GCM-256 and ChaCha20-Poly1305 (0: leave them out).
    #[arg(long, default_value_t = 1420)]
    pub others_at: usize,
    /// Packets per burst (restored untimed, then forwarded timed).
    #[arg(long, default_value_t = 64)]
    pub burst: usize,
    /// Distinct inner flows the packets cycle over (1..=65536).
    #[arg(long, default_value_t = 1024)]
    pub flows: usize,
    /// TSC frequency in MHz (default: /proc/cpuinfo).
    #[arg(long)]
    pub cpu_mhz: Option<f64>,
    /// Run `openssl speed` beside (an error if `openssl` is not on PATH). Default: run it
    /// when it is on PATH.
    #[arg(long, conflicts_with = "no_openssl")]
    pub with_openssl: bool,
    /// Do not run `openssl speed`.
    #[arg(long)]
    pub no_openssl: bool,
    /// Seconds of each `openssl speed` measurement (its `-seconds`).
    #[arg(long, default_value_t = 1)]
    pub openssl_seconds: u32,
    /// Repetitions of each `openssl speed` measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub openssl_runs: usize,
    /// Divide `openssl speed`'s work by wall-clock time (`-elapsed`) instead of its CPU
    /// time (which leaves out the time other processes had the CPU).
    #[arg(long)]
    pub openssl_elapsed: bool,
    /// Print one JSON line instead of tables.
    #[arg(long)]
    pub json: bool,
}

const CE_A_PORT: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const CORE_PORT: [u8; 6] = [2, 0, 0, 0, 0, 0xc0];
const CE_B_PORT: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
const CE_A: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xea];
const CE_B: [u8; 6] = [2, 0, 0, 0, 0x0c, 0xeb];
const GW: [u8; 6] = [2, 0, 0, 0, 0x6e, 0x01];
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const CUSTOMER_VR: VrId = VrId(1);
const CORE_VR: VrId = VrId(2);
const ETH_HLEN: usize = 14;
/// Ethernet and outer IPv4 in front of a received ESP packet.
const OUTER: usize = ETH_HLEN + 20;
/// Largest inner packet whose ESP packet fits the 1,500-byte MTU of the core port.
const MAX_SIZE: usize = 1444;
/// Second octet of the inner destinations routed to CE B (`10.1.0.0/16`); the prefix sent
/// into the outbound SA of cipher `i` is `10.(2 + i).0.0/16`.
const TO_CE: u8 = 1;

/// What one measured case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Routed CE A → CE B.
    Plain,
    /// Routed into the outbound SA, outer packet routed in the core VR.
    Encrypt,
    /// ESP to the core VR decrypted, inner packet routed to CE B.
    Decrypt,
    /// [`Sa::seal`] alone.
    Seal,
    /// [`Sa::open`] alone.
    Open,
}

impl Case {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Case::Plain => "plain route",
            Case::Encrypt => "encrypt + route",
            Case::Decrypt => "decrypt + route",
            Case::Seal => "Sa::seal alone",
            Case::Open => "Sa::open alone",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Case::Plain => "plain",
            Case::Encrypt => "encrypt_route",
            Case::Decrypt => "decrypt_route",
            Case::Seal => "seal",
            Case::Open => "open",
        }
    }

    /// Ingress port and the port the packets must leave on (pipeline cases).
    fn ports(self) -> (u16, u16) {
        match self {
            Case::Decrypt => (1, 2),
            Case::Encrypt => (0, 1),
            _ => (0, 2),
        }
    }
}

/// One case at one size (and cipher, for all but [`Case::Plain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// What runs.
    pub case: Case,
    /// The SA's cipher (`None` for the plain route).
    pub cipher: Option<Cipher>,
    /// Inner IPv4 packet length.
    pub size: usize,
}

fn cipher_index(c: Cipher) -> usize {
    Cipher::ALL.iter().position(|x| *x == c).unwrap_or(0)
}

/// Keying material (key ‖ salt) for cipher `c`, distinct per `role`.
fn keymat(c: Cipher, role: u8) -> Vec<u8> {
    (0..c.key_len() as u8 + 4)
        .map(|i| i.wrapping_mul(37) ^ role.wrapping_mul(101) ^ 0x5a)
        .collect()
}

/// Parameters of the SAs of cipher `c`: outbound (`role` 0: SPI 0x1000 + i), inbound
/// (1: 0x2000 + i), and the raw seal (2) and open (3) cases' SAs.
fn params(c: Cipher, role: u8) -> SaParams {
    let spi = 0x1000 * (u32::from(role) + 1) + cipher_index(c) as u32;
    SaParams::new(spi, c, keymat(c, role))
}

/// The benchmark's forwarding state and the SAs in it.
pub struct Bench {
    /// The published state: port 0 CE A and port 2 CE B in the customer VR, port 1 the
    /// core VR (local address 192.0.2.1, the peer 198.51.100.2 behind a gateway).
    pub state: ForwardingState,
    /// Outbound SAs, by [`Cipher::ALL`] index (routes to `10.(2 + i).0.0/16`).
    pub outbound: Vec<Arc<Sa>>,
    /// Inbound SAs, by [`Cipher::ALL`] index.
    pub inbound: Vec<Arc<Sa>>,
}

fn ports() -> Vec<PortInfo> {
    [CE_A_PORT, CORE_PORT, CE_B_PORT]
        .into_iter()
        .map(|mac| PortInfo { mac, mtu: 1500 })
        .collect()
}

/// Builds the state of every case (one worker).
pub fn state() -> Result<Bench, String> {
    let e = |e: vr::StateError| e.to_string();
    let p = |s: &str| s.parse().map_err(|_| format!("bad prefix {s}"));
    let mut w = StateWriter::new(vec![CE_A_PORT, CORE_PORT, CE_B_PORT], 1);
    for (id, name) in [(CUSTOMER_VR, "customer"), (CORE_VR, "core")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).map_err(|e| e.to_string())?,
            "bench",
        ))
        .map_err(e)?;
    }
    for (port, vr) in [(0, CUSTOMER_VR), (1, CORE_VR), (2, CUSTOMER_VR)] {
        w.bind_interface(IfKey::Port(PortId(port)), IfBinding::Vr(vr))
            .map_err(e)?;
    }
    let fwd = |port: u16, src_mac, dst_mac| NextHop::Forward {
        port: PortId(port),
        vlan: None,
        src_mac,
        dst_mac,
        push: LabelPush::EMPTY,
    };
    w.set_route(
        CORE_VR,
        p("192.0.2.1/32")?,
        RouteSource::Local,
        NextHop::Local,
    )
    .map_err(e)?;
    w.set_route(
        CORE_VR,
        p("198.51.100.0/24")?,
        RouteSource::Static,
        fwd(1, CORE_PORT, GW),
    )
    .map_err(e)?;
    w.set_route(
        CUSTOMER_VR,
        p(&format!("10.{TO_CE}.0.0/16"))?,
        RouteSource::Static,
        fwd(2, CE_B_PORT, CE_B),
    )
    .map_err(e)?;
    let mut outbound = Vec::new();
    let mut inbound = Vec::new();
    for (i, c) in Cipher::ALL.into_iter().enumerate() {
        let tunnel = |role: u8| -> Result<Arc<EspTunnel>, String> {
            let sa = Sa::new(&params(c, role), 1).map_err(|e| e.to_string())?;
            Ok(Arc::new(EspTunnel {
                name: format!("bench-{}-{role}", c.name()).into(),
                sa: Arc::new(sa),
                vr: CUSTOMER_VR,
                outer_vr: CORE_VR,
                local: IpAddr::V4(ME),
                remote: IpAddr::V4(PEER),
                udp: None,
                dscp: None,
                sources: None,
            }))
        };
        let (out, inb) = (tunnel(0)?, tunnel(1)?);
        outbound.push(Arc::clone(&out.sa));
        inbound.push(Arc::clone(&inb.sa));
        let id = EspSaId(1 + i as u32);
        w.set_esp_outbound(id, out).map_err(e)?;
        w.set_esp_inbound(inb).map_err(e)?;
        w.set_route(
            CUSTOMER_VR,
            p(&format!("10.{}.0.0/16", 2 + i))?,
            RouteSource::Static,
            NextHop::Esp(id),
        )
        .map_err(e)?;
    }
    Ok(Bench {
        state: w.snapshot(),
        outbound,
        inbound,
    })
}

/// Inner packet `k` of `size` bytes to `10.net.x.y`.
fn inner(k: usize, size: usize, net: u8) -> Vec<u8> {
    let [_, _, a, b] = (k as u32).to_be_bytes();
    ipv4([10, 9, a, b], [10, net, a, b], size)
}

/// `ip` after routing: TTL one less, checksum updated.
fn routed(ip: &[u8]) -> Vec<u8> {
    let mut r = ip.to_vec();
    r[8] -= 1;
    r[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::data(&r[..20]);
    r[10..12].copy_from_slice(&c.to_be_bytes());
    r
}

fn eth(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_HLEN + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(payload);
    f
}

/// An ESP frame from the peer with room for `ip` sealed in place: Ethernet, outer IPv4
/// (protocol 50, [`PEER`] → [`ME`]), [`HEAD_LEN`] bytes to fill, `ip`, the tail to fill.
fn esp_template(ip: &[u8]) -> Vec<u8> {
    let esp_len = HEAD_LEN + ip.len() + Sa::tail_len(ip.len());
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + esp_len) as u16).to_be_bytes());
    h[8] = 64;
    h[9] = wire::esp::IP_PROTOCOL;
    h[12..16].copy_from_slice(&PEER.octets());
    h[16..20].copy_from_slice(&ME.octets());
    let c = !checksum::data(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(CORE_PORT, GW, &h);
    f.extend_from_slice(&[0; HEAD_LEN]);
    f.extend_from_slice(ip);
    f.resize(OUTER + esp_len, 0);
    f
}

/// The second octet of a job's inner destinations.
fn net(job: Job) -> u8 {
    match (job.case, job.cipher) {
        (Case::Encrypt, Some(c)) => 2 + cipher_index(c) as u8,
        _ => TO_CE,
    }
}

/// The frames (or, for the raw cases, ESP packets before sealing) a job cycles over.
fn ring(job: Job, flows: usize) -> Vec<Vec<u8>> {
    (0..flows)
        .map(|k| {
            let ip = inner(k, job.size, net(job));
            match job.case {
                Case::Plain | Case::Encrypt => eth(CE_A_PORT, CE_A, &ip),
                Case::Decrypt => esp_template(&ip),
                Case::Seal | Case::Open => esp_template(&ip)[OUTER..].to_vec(),
            }
        })
        .collect()
}

/// What one measurement found.
#[derive(Clone, Copy, Debug, Default)]
struct Meas {
    /// Timed nanoseconds per packet: the median burst's (a burst the scheduler preempted
    /// does not count more than any other).
    ns: f64,
    /// Timed nanoseconds per packet over every burst (preemptions included).
    mean_ns: f64,
    /// Restore nanoseconds per packet, median burst (not in `ns`).
    restore_ns: f64,
    /// Packets measured.
    packets: u64,
}

/// Restores every slot (untimed), then runs `work` on each (timed), burst after burst for
/// `secs`; `work` returns false for a packet that did not take its path. Returns the
/// measurement and the packets that did not take their path.
fn timed<T>(
    slots: &mut [T],
    secs: Duration,
    mut restore: impl FnMut(&mut T),
    mut work: impl FnMut(&mut T) -> bool,
) -> (Meas, u64) {
    let mut busy = Vec::with_capacity(4096);
    let mut prep = Vec::with_capacity(4096);
    let mut bad = 0u64;
    let start = Instant::now();
    loop {
        let t0 = Instant::now();
        for s in slots.iter_mut() {
            restore(s);
        }
        let t1 = Instant::now();
        for s in slots.iter_mut() {
            bad += u64::from(!work(s));
        }
        let t2 = Instant::now();
        prep.push((t1 - t0).as_nanos() as f64);
        busy.push((t2 - t1).as_nanos() as f64);
        if t2 - start >= secs {
            break;
        }
    }
    let per = slots.len() as f64;
    let packets = (busy.len() * slots.len()) as u64;
    (
        Meas {
            ns: median(&busy) / per,
            mean_ns: busy.iter().sum::<f64>() / packets as f64,
            restore_ns: median(&prep) / per,
            packets,
        },
        bad,
    )
}

/// The runner of every job on one state.
struct Runner<'a> {
    b: &'a Bench,
    ports: Vec<PortInfo>,
    counters: WorkerCounters,
    burst: usize,
    flows: usize,
    /// Per cipher: the peer's twin of the inbound SA (seals what `decrypt + route` opens).
    peers: Vec<Sa>,
    /// Per cipher: the raw cases' sealer, and the opener with its twin sealer.
    raw_seal: Vec<Sa>,
    raw_open: Vec<(Sa, Sa)>,
}

impl<'a> Runner<'a> {
    fn new(b: &'a Bench, burst: usize, flows: usize) -> Result<Self, String> {
        let sa = |c: Cipher, role: u8| Sa::new(&params(c, role), 1).map_err(|e| e.to_string());
        let mut r = Runner {
            b,
            ports: ports(),
            counters: WorkerCounters::new(0, 3),
            burst,
            flows,
            peers: Vec::new(),
            raw_seal: Vec::new(),
            raw_open: Vec::new(),
        };
        for c in Cipher::ALL {
            r.peers.push(sa(c, 1)?);
            r.raw_seal.push(sa(c, 2)?);
            r.raw_open.push((sa(c, 3)?, sa(c, 3)?));
        }
        Ok(r)
    }

    /// The SA of the job whose packet counter must advance by the packets measured.
    fn counted_sa(&self, job: Job) -> Option<&Sa> {
        let i = cipher_index(job.cipher?);
        match job.case {
            Case::Plain => None,
            Case::Encrypt => Some(&self.b.outbound[i]),
            Case::Decrypt => Some(&self.b.inbound[i]),
            Case::Seal => Some(&self.raw_seal[i]),
            Case::Open => Some(&self.raw_open[i].0),
        }
    }

    /// Checks one packet of `job` byte for byte.
    fn check(&self, job: Job) -> Result<(), String> {
        let what = |s: &str| {
            format!(
                "{} {} {} B: {s}",
                job.case.name(),
                cipher_name(job),
                job.size
            )
        };
        let (in_port, out_port) = job.case.ports();
        let frame = &ring(job, 1)[0];
        let want_ip = routed(&inner(0, job.size, net(job)));
        let mut b = HeapBuf::new();
        let go = |b: &mut HeapBuf| -> Result<Vec<u8>, String> {
            let v = forward(
                &self.b.state,
                &self.ports,
                PortId(in_port),
                b,
                &self.counters,
            );
            if v != Verdict::Tx(PortId(out_port)) {
                return Err(what(&format!("gave {v:?}, not sent on port {out_port}")));
            }
            Ok(b.data().to_vec())
        };
        match (job.case, job.cipher) {
            (Case::Plain, _) => {
                b.set(frame);
                let out = go(&mut b)?;
                if out != eth(CE_B, CE_B_PORT, &want_ip) {
                    return Err(what("routed frame differs"));
                }
            }
            (Case::Encrypt, Some(c)) => {
                b.set(frame);
                let mut out = go(&mut b)?;
                let twin = Sa::new(&params(c, 0), 1).map_err(|e| e.to_string())?;
                let ok_outer = out[..12] == eth(GW, CORE_PORT, &[])[..12]
                    && out[ETH_HLEN + 9] == wire::esp::IP_PROTOCOL
                    && out[ETH_HLEN + 12..ETH_HLEN + 20] == [ME.octets(), PEER.octets()].concat()
                    && checksum::data(&out[ETH_HLEN..OUTER]) == 0xffff;
                if !ok_outer {
                    return Err(what("bad outer headers"));
                }
                let o = twin
                    .open(0, &mut out[OUTER..])
                    .map_err(|e| what(&format!("the peer cannot open it: {e}")))?;
                if out[OUTER..][o.payload] != want_ip[..] || o.next_header != 4 {
                    return Err(what("the decrypted packet differs"));
                }
            }
            (Case::Decrypt, Some(c)) => {
                b.set(frame);
                // Sealed by the peer's twin, whose sequence numbers the runs continue.
                self.peers[cipher_index(c)]
                    .seal(0, &mut b.data_mut()[OUTER..], job.size, 4)
                    .map_err(|e| what(&e.to_string()))?;
                let out = go(&mut b)?;
                if out != eth(CE_B, CE_B_PORT, &want_ip) {
                    return Err(what("decrypted and routed frame differs"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One measurement of `job` for `secs`.
    fn measure(&self, job: Job, secs: Duration) -> Result<Meas, String> {
        let frames = ring(job, self.flows);
        let mut k = 0usize;
        let mut next = || {
            let f = &frames[k];
            k = (k + 1) % frames.len();
            f
        };
        let size = job.size;
        let before = self.counted_sa(job).map(|s| s.traffic().0);
        let (m, bad, first) = match (job.case, job.cipher) {
            (Case::Plain | Case::Encrypt | Case::Decrypt, cipher) => {
                let (in_port, out_port) = job.case.ports();
                let want = Verdict::Tx(PortId(out_port));
                let peer = cipher.map(|c| &self.peers[cipher_index(c)]);
                let decrypt = job.case == Case::Decrypt;
                let mut slots: Vec<HeapBuf> = (0..self.burst).map(|_| HeapBuf::new()).collect();
                let mut first = None;
                let (m, bad) = timed(
                    &mut slots,
                    secs,
                    |b| {
                        b.set(next());
                        if let (true, Some(peer)) = (decrypt, peer) {
                            // Valid only if sealed; a failure shows as a drop below.
                            let _ = peer.seal(0, &mut b.data_mut()[OUTER..], size, 4);
                        }
                    },
                    |b| {
                        let v = forward(
                            &self.b.state,
                            &self.ports,
                            PortId(in_port),
                            b,
                            &self.counters,
                        );
                        if v == want {
                            true
                        } else {
                            first.get_or_insert(v);
                            false
                        }
                    },
                );
                (m, bad, first.map(|v| format!("{v:?}")))
            }
            (Case::Seal, Some(c)) => {
                let sa = &self.raw_seal[cipher_index(c)];
                let mut slots: Vec<Vec<u8>> = (0..self.burst).map(|_| next().clone()).collect();
                let mut first = None;
                let (m, bad) = timed(
                    &mut slots,
                    secs,
                    |_| {},
                    |p| match sa.seal(0, p, size, 4) {
                        Ok(_) => true,
                        Err(e) => {
                            first.get_or_insert(e.to_string());
                            false
                        }
                    },
                );
                (m, bad, first)
            }
            (Case::Open, Some(c)) => {
                let (rx, tx) = &self.raw_open[cipher_index(c)];
                let mut slots: Vec<Vec<u8>> = (0..self.burst).map(|_| next().clone()).collect();
                let mut first = None;
                let (m, bad) = timed(
                    &mut slots,
                    secs,
                    |p| {
                        p.copy_from_slice(next());
                        let _ = tx.seal(0, p, size, 4);
                    },
                    |p| match rx.open(0, p) {
                        Ok(o) if o.payload.len() == size => true,
                        Ok(_) => {
                            first.get_or_insert("wrong payload length".to_string());
                            false
                        }
                        Err(e) => {
                            first.get_or_insert(e.to_string());
                            false
                        }
                    },
                );
                (m, bad, first)
            }
            (_, None) => return Err(format!("{} needs a cipher", job.case.name())),
        };
        let label = format!("{} {} {} B", job.case.name(), cipher_name(job), size);
        if bad > 0 {
            return Err(format!(
                "{label}: {bad} of {} packets did not take their path (first: {})",
                m.packets,
                first.unwrap_or_default()
            ));
        }
        if let (Some(sa), Some(before)) = (self.counted_sa(job), before) {
            let moved = sa.traffic().0 - before;
            if moved != m.packets {
                return Err(format!(
                    "{label}: the SA counted {moved} packets, {} were measured",
                    m.packets
                ));
            }
        }
        Ok(m)
    }
}

fn cipher_name(job: Job) -> &'static str {
    job.cipher.map_or("-", Cipher::name)
}

/// How `openssl speed` is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsslMode {
    /// `openssl speed -evp <cipher>`: the cipher streaming over one buffer (one IV, no tag
    /// per call) — the raw cipher speed.
    Evp,
    /// `-aead`: per record IV, AAD, encryption and tag, as an ESP seal does.
    AeadEnc,
    /// `-aead -decrypt`: per record IV, AAD, decryption and tag check.
    AeadDec,
}

impl OsslMode {
    /// Every mode, in report order.
    pub const ALL: [OsslMode; 3] = [OsslMode::Evp, OsslMode::AeadEnc, OsslMode::AeadDec];

    /// Its column in the report.
    pub fn name(self) -> &'static str {
        match self {
            OsslMode::Evp => "openssl -evp",
            OsslMode::AeadEnc => "openssl -aead",
            OsslMode::AeadDec => "ossl -aead -dec",
        }
    }

    fn key(self) -> &'static str {
        match self {
            OsslMode::Evp => "evp",
            OsslMode::AeadEnc => "aead_encrypt",
            OsslMode::AeadDec => "aead_decrypt",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            OsslMode::Evp => &[],
            OsslMode::AeadEnc => &["-aead"],
            OsslMode::AeadDec => &["-aead", "-decrypt"],
        }
    }
}

/// openssl's name of a cipher.
pub fn openssl_cipher(c: Cipher) -> &'static str {
    match c {
        Cipher::AesGcm128 => "aes-128-gcm",
        Cipher::AesGcm256 => "aes-256-gcm",
        Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
    }
}

/// `openssl version`, or `None` when `openssl` cannot be run.
pub fn openssl_version() -> Option<String> {
    let out = Command::new("openssl").arg("version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The bytes per second on the `+F:` line of `openssl speed -mr` output (one size).
pub fn parse_openssl_mr(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("+F:"))
        .and_then(|r| r.rsplit(':').next())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Bytes per second of `openssl speed` for `c` on `size`-byte buffers (one thread; over
/// its CPU time, or wall-clock time with `elapsed`).
pub fn openssl_speed(
    c: Cipher,
    size: usize,
    mode: OsslMode,
    seconds: u32,
    elapsed: bool,
) -> Result<f64, String> {
    let mut args: Vec<String> = ["speed", "-evp", openssl_cipher(c), "-bytes"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(size.to_string());
    args.extend(["-seconds".into(), seconds.to_string(), "-mr".into()]);
    if elapsed {
        args.push("-elapsed".into());
    }
    args.extend(mode.flags().iter().map(|s| s.to_string()));
    let cmd = format!("openssl {}", args.join(" "));
    let out = Command::new("openssl")
        .args(&args)
        .output()
        .map_err(|e| format!("`{cmd}`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("`{cmd}` failed ({}): {last}", out.status));
    }
    parse_openssl_mr(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("`{cmd}`: no `+F:` line in its output"))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The jobs of a run: every case at every size with AES-GCM-128, then the other ciphers at
/// `others_at` (with a plain baseline at that size if it is not among `sizes`).
pub fn jobs(sizes: &[usize], others_at: usize) -> Vec<Job> {
    let mut v = Vec::new();
    let mut add = |cipher: Cipher, size: usize, plain: bool| {
        if plain {
            v.push(Job {
                case: Case::Plain,
                cipher: None,
                size,
            });
        }
        for case in [Case::Encrypt, Case::Decrypt, Case::Seal, Case::Open] {
            v.push(Job {
                case,
                cipher: Some(cipher),
                size,
            });
        }
    };
    for &s in sizes {
        add(Cipher::AesGcm128, s, true);
    }
    if others_at > 0 {
        let mut plain = !sizes.contains(&others_at);
        for c in [Cipher::AesGcm256, Cipher::ChaCha20Poly1305] {
            add(c, others_at, plain);
            plain = false;
        }
    }
    v
}

/// Nanoseconds of one `Instant::now()` (median of 200 batches of 1,000).
fn clock_ns() -> f64 {
    let batches: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(Instant::now());
            }
            t.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    median(&batches)
}

/// One job's medians.
#[derive(Clone, Debug)]
pub struct JobResult {
    /// The job.
    pub job: Job,
    /// Nanoseconds per packet (median over the runs of each run's median burst).
    pub ns: f64,
    /// Nanoseconds per packet over every burst, preemptions included (median over the runs).
    pub mean_ns: f64,
    /// Fastest and slowest run (ns per packet).
    pub ns_range: (f64, f64),
    /// Restore nanoseconds per packet (median; not in `ns`).
    pub restore_ns: f64,
    /// Packets measured in all runs.
    pub packets: u64,
}

impl JobResult {
    /// Million packets per second.
    pub fn mpps(&self) -> f64 {
        1e3 / self.ns
    }

    /// Gigabits per second of inner IP packets.
    pub fn gbps(&self) -> f64 {
        self.job.size as f64 * 8.0 / self.ns
    }
}

/// One `openssl speed` measurement's median.
#[derive(Clone, Debug)]
pub struct OpensslResult {
    /// Cipher.
    pub cipher: Cipher,
    /// Buffer size (`-bytes`).
    pub size: usize,
    /// How it ran.
    pub mode: OsslMode,
    /// Bytes per second (median), or why there is none.
    pub bytes_per_sec: Result<f64, String>,
}

impl OpensslResult {
    /// Nanoseconds per buffer.
    pub fn ns(&self) -> Option<f64> {
        self.bytes_per_sec
            .as_ref()
            .ok()
            .map(|b| self.size as f64 * 1e9 / b)
    }
}

/// `Gbps (cycles)` of `size`-byte packets taking `ns` each.
fn cell(size: usize, ns: Option<f64>, mhz: f64) -> String {
    match ns {
        Some(ns) if ns.is_finite() && ns > 0.0 => {
            format!("{:.2} ({:.0})", size as f64 * 8.0 / ns, ns * mhz / 1e3)
        }
        _ => "n/a".into(),
    }
}

/// Runs the benchmark and prints the result.
pub fn run(args: Args) -> Result<(), String> {
    let bad_time = args.seconds.is_nan() || args.seconds <= 0.0 || args.warmup.is_nan();
    if bad_time || args.warmup < 0.0 || args.runs == 0 || args.burst == 0 {
        return Err("--seconds must be > 0, --warmup >= 0, --runs and --burst >= 1".into());
    }
    if args.flows == 0 || args.flows > 65536 {
        return Err("--flows must be 1..=65536".into());
    }
    let sizes_ok = args.sizes.iter().all(|s| (28..=MAX_SIZE).contains(s));
    if args.sizes.is_empty()
        || !sizes_ok
        || !(args.others_at == 0 || (28..=MAX_SIZE).contains(&args.others_at))
    {
        return Err(format!(
            "--sizes (at least one) and --others-at must be 28..={MAX_SIZE} bytes (the \
             largest inner packet whose ESP packet fits a 1,500-byte MTU); --others-at 0 \
             leaves the other ciphers out"
        ));
    }
    if args.openssl_seconds == 0 {
        return Err("--openssl-seconds must be >= 1".into());
    }
    let mhz = tsc_mhz(args.cpu_mhz)?;
    let openssl = if args.no_openssl {
        None
    } else {
        match openssl_version() {
            Some(v) => Some(v),
            None if args.with_openssl => {
                return Err("--with-openssl: `openssl` is not on PATH or does not run \
                            (apt-get install openssl), or leave --with-openssl out"
                    .into())
            }
            None => None,
        }
    };
    let t = Instant::now();
    let b = state()?;
    let build = t.elapsed();
    let r = Runner::new(&b, args.burst, args.flows)?;
    let jobs = jobs(&args.sizes, args.others_at);
    for j in &jobs {
        r.check(*j)?;
    }
    let mut combos: Vec<(Cipher, usize)> =
        args.sizes.iter().map(|s| (Cipher::AesGcm128, *s)).collect();
    if args.others_at > 0 {
        combos.push((Cipher::AesGcm256, args.others_at));
        combos.push((Cipher::ChaCha20Poly1305, args.others_at));
    }
    let clock = clock_ns();
    let (warm, secs) = (
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.seconds),
    );
    let mut meas: Vec<Vec<Meas>> = vec![Vec::new(); jobs.len()];
    let mut ossl: Vec<(Vec<f64>, Option<String>)> =
        vec![(Vec::new(), None); combos.len() * OsslMode::ALL.len()];
    for run in 0..args.runs {
        for (i, j) in jobs.iter().enumerate() {
            if !warm.is_zero() {
                r.measure(*j, warm)?;
            }
            meas[i].push(r.measure(*j, secs)?);
        }
        if openssl.is_some() && run < args.openssl_runs {
            for (ci, (c, size)) in combos.iter().enumerate() {
                for (mi, mode) in OsslMode::ALL.iter().enumerate() {
                    let slot = &mut ossl[ci * OsslMode::ALL.len() + mi];
                    if slot.1.is_some() {
                        continue;
                    }
                    let e = args.openssl_elapsed;
                    match openssl_speed(*c, *size, *mode, args.openssl_seconds, e) {
                        Ok(bps) => slot.0.push(bps),
                        // The raw cipher speed is what was asked for; the per-record modes
                        // need OpenSSL 3 (`-aead`) and are left out without it.
                        Err(e) if *mode == OsslMode::Evp => return Err(e),
                        Err(e) => slot.1 = Some(e),
                    }
                }
            }
        }
    }
    let results: Vec<JobResult> = jobs
        .iter()
        .zip(&meas)
        .map(|(j, m)| {
            let ns: Vec<f64> = m.iter().map(|m| m.ns).collect();
            let mean: Vec<f64> = m.iter().map(|m| m.mean_ns).collect();
            let restore: Vec<f64> = m.iter().map(|m| m.restore_ns).collect();
            JobResult {
                job: *j,
                ns: median(&ns),
                mean_ns: median(&mean),
                ns_range: (
                    ns.iter().copied().fold(f64::INFINITY, f64::min),
                    ns.iter().copied().fold(0.0, f64::max),
                ),
                restore_ns: median(&restore),
                packets: m.iter().map(|m| m.packets).sum(),
            }
        })
        .collect();
    let ossl_results: Vec<OpensslResult> = if openssl.is_some() {
        combos
            .iter()
            .flat_map(|(c, s)| OsslMode::ALL.iter().map(move |m| (*c, *s, *m)))
            .zip(&ossl)
            .map(|((cipher, size, mode), (v, err))| OpensslResult {
                cipher,
                size,
                mode,
                bytes_per_sec: match err {
                    Some(e) => Err(e.clone()),
                    None => Ok(median(v)),
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let find = |case: Case, cipher: Cipher, size: usize| {
        results.iter().find(|r| {
            r.job.case == case
                && r.job.size == size
                && (case == Case::Plain || r.job.cipher == Some(cipher))
        })
    };
    let mut o = String::new();
    if args.json {
        let cases: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "{{\"case\":\"{}\",\"cipher\":\"{}\",\"size\":{},\"mpps\":{:.4},\"gbps\":{:.3},\"ns_per_packet\":{:.2},\"cycles_per_packet\":{:.1},\"mean_ns\":{:.2},\"ns_min\":{:.2},\"ns_max\":{:.2},\"restore_ns\":{:.2},\"packets\":{}}}",
                    r.job.case.key(),
                    cipher_name(r.job),
                    r.job.size,
                    r.mpps(),
                    r.gbps(),
                    r.ns,
                    r.ns * mhz / 1e3,
                    r.mean_ns,
                    r.ns_range.0,
                    r.ns_range.1,
                    r.restore_ns,
                    r.packets
                )
            })
            .collect();
        let os: Vec<String> = ossl_results
            .iter()
            .filter_map(|x| {
                let bps = x.bytes_per_sec.as_ref().ok()?;
                let ns = x.ns()?;
                Some(format!(
                    "{{\"cipher\":\"{}\",\"size\":{},\"mode\":\"{}\",\"gbps\":{:.3},\"ns_per_packet\":{:.2},\"cycles_per_packet\":{:.1}}}",
                    openssl_cipher(x.cipher),
                    x.size,
                    x.mode.key(),
                    bps * 8.0 / 1e9,
                    ns,
                    ns * mhz / 1e3
                ))
            })
            .collect();
        let _ = writeln!(
            o,
            "{{\"runs\":{},\"seconds\":{},\"burst\":{},\"flows\":{},\"cpu_mhz\":{:.1},\"clock_read_ns\":{:.1},\"openssl\":{},\"openssl_elapsed\":{},\"cases\":[{}],\"openssl_results\":[{}]}}",
            args.runs,
            args.seconds,
            args.burst,
            args.flows,
            mhz,
            clock,
            openssl.as_ref().map_or("null".to_string(), |v| format!("\"{}\"", v.replace('"', "'"))),
            args.openssl_elapsed,
            cases.join(","),
            os.join(",")
        );
        print!("{o}");
        return Ok(());
    }
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let _ = writeln!(o, "=== varouter bench esp ===");
    let _ = writeln!(
        o,
        "{model}, TSC {mhz:.0} MHz, {} CPUs usable here; 1 worker on this thread; {} runs x {:.2} s \
         per case (median), cases interleaved; {} flows, bursts of {}; state built in {:.1} ms",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.runs,
        args.seconds,
        args.flows,
        args.burst,
        build.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        o,
        "timed: forward()/seal/open over each burst only; ns/pkt = the median burst's (per \
         run; median of the runs), `mean ns` = all bursts' (preempted ones included); `restore \
         ns` (untimed, not included) = frame copy (plain, encrypt), copy + seal by the peer's \
         twin SA (decrypt, open); a clock read costs {clock:.1} ns (~{:.2} ns per packet inside \
         the timed part)",
        clock / args.burst as f64
    );
    let _ = writeln!(
        o,
        "{:<18} {:<18} {:>5} {:>7} {:>7} {:>8} {:>8} {:>17} {:>9} {:>10}",
        "case",
        "cipher",
        "size",
        "Mpps",
        "Gbps",
        "ns/pkt",
        "cyc/pkt",
        "(ns min..max)",
        "mean ns",
        "restore ns"
    );
    for r in &results {
        let _ = writeln!(
            o,
            "{:<18} {:<18} {:>5} {:>7.3} {:>7.2} {:>8.1} {:>8.0} {:>17} {:>9.1} {:>10.1}",
            r.job.case.name(),
            cipher_name(r.job),
            r.job.size,
            r.mpps(),
            r.gbps(),
            r.ns,
            r.ns * mhz / 1e3,
            format!("({:.1}..{:.1})", r.ns_range.0, r.ns_range.1),
            r.mean_ns,
            r.restore_ns
        );
    }
    let _ = writeln!(o);
    match &openssl {
        Some(v) => {
            let _ =
                writeln!(
                o,
                "Gbps of inner IP bytes per core (cycles per packet), ours beside `openssl speed \
                 -evp <cipher> -bytes <size> -seconds {}{}` ({v}; {}; median of {} runs; -evp: \
                 raw cipher streaming, -aead: per packet IV+AAD+tag, encrypt / -decrypt):",
                args.openssl_seconds,
                if args.openssl_elapsed { " -elapsed" } else { "" },
                if args.openssl_elapsed {
                    "over wall-clock time"
                } else {
                    "over its CPU time"
                },
                args.openssl_runs.min(args.runs)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "Gbps of inner IP bytes per core (cycles per packet); openssl not run ({}):",
                if args.no_openssl {
                    "--no-openssl"
                } else {
                    "not on PATH"
                }
            );
        }
    }
    let mut head = format!(
        "{:<18} {:>5} {:>14} {:>16} {:>16} {:>14} {:>14}",
        "cipher", "size", "plain route", "encrypt+route", "decrypt+route", "Sa::seal", "Sa::open"
    );
    if openssl.is_some() {
        for m in OsslMode::ALL {
            let _ = write!(head, " {:>16}", m.name());
        }
    }
    let _ = writeln!(o, "{head}");
    for (ci, (c, size)) in combos.iter().enumerate() {
        let ns = |case| find(case, *c, *size).map(|r| r.ns);
        let _ = write!(
            o,
            "{:<18} {:>5} {:>14} {:>16} {:>16} {:>14} {:>14}",
            c.name(),
            size,
            cell(*size, ns(Case::Plain), mhz),
            cell(*size, ns(Case::Encrypt), mhz),
            cell(*size, ns(Case::Decrypt), mhz),
            cell(*size, ns(Case::Seal), mhz),
            cell(*size, ns(Case::Open), mhz),
        );
        if openssl.is_some() {
            for mi in 0..OsslMode::ALL.len() {
                let x = &ossl_results[ci * OsslMode::ALL.len() + mi];
                let _ = write!(o, " {:>16}", cell(*size, x.ns(), mhz));
            }
        }
        let _ = writeln!(o);
    }
    for x in &ossl_results {
        if let Err(e) = &x.bytes_per_sec {
            let _ = writeln!(o, "note: {} left out: {e}", x.mode.name());
            break;
        }
    }
    if let (Some(e), Some(d)) = (
        find(Case::Encrypt, Cipher::AesGcm128, 1420),
        find(Case::Decrypt, Cipher::AesGcm128, 1420),
    ) {
        let met = |g: f64| if g >= 25.0 { "met" } else { "not met" };
        let _ = writeln!(
            o,
            "goal >= 25 Gbps per core at 1,420 B, AES-GCM-128: encrypt + route {:.2} Gbps ({}), \
             decrypt + route {:.2} Gbps ({})",
            e.gbps(),
            met(e.gbps()),
            d.gbps(),
            met(d.gbps())
        );
    }
    print!("{o}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_takes_its_path_and_is_checked() {
        let b = state().unwrap();
        let r = Runner::new(&b, 8, 16).unwrap();
        for j in jobs(&[64, 1420], 512) {
            r.check(j).unwrap();
            let m = r.measure(j, Duration::from_millis(5)).unwrap();
            assert!(m.packets >= 8 && m.packets.is_multiple_of(8), "{j:?}");
            assert!(m.ns > 0.0, "{j:?}");
        }
    }

    #[test]
    fn decrypting_a_replayed_buffer_fails_the_measurement() {
        // Without the twin's fresh seal in the restore, the second burst would be replays:
        // the benchmark must fail loudly rather than time drops.
        let b = state().unwrap();
        let r = Runner::new(&b, 4, 4).unwrap();
        let job = Job {
            case: Case::Decrypt,
            cipher: Some(Cipher::AesGcm128),
            size: 64,
        };
        r.measure(job, Duration::from_millis(2)).unwrap();
        // Seal one packet, decrypt it twice.
        let (in_port, _) = Case::Decrypt.ports();
        let mut f = ring(job, 1)[0].clone();
        r.peers[0].seal(0, &mut f[OUTER..], 64, 4).unwrap();
        let mut slots = vec![HeapBuf::new()];
        let (_, bad) = timed(
            &mut slots,
            Duration::from_millis(1),
            |bf| {
                bf.set(&f);
            },
            |bf| {
                forward(&b.state, &r.ports, PortId(in_port), bf, &r.counters)
                    == Verdict::Tx(PortId(2))
            },
        );
        assert!(bad >= 1);
    }

    #[test]
    fn a_wrong_route_is_reported() {
        let b = state().unwrap();
        let mut r = Runner::new(&b, 4, 4).unwrap();
        // Ports with a small MTU: the 1,420-byte packets cannot leave.
        for p in &mut r.ports {
            p.mtu = 576;
        }
        let job = Job {
            case: Case::Encrypt,
            cipher: Some(Cipher::AesGcm128),
            size: 1420,
        };
        assert!(r.check(job).is_err());
        let e = r.measure(job, Duration::from_millis(2)).unwrap_err();
        assert!(e.contains("did not take their path"), "{e}");
    }

    #[test]
    fn openssl_machine_readable_output() {
        let out = "+DT:AES-128-GCM:1:1420\n+R:1112583:AES-128-GCM:0.940000\n+H:1420\n\
                   +F:25:AES-128-GCM:1680710489.36\n";
        assert_eq!(parse_openssl_mr(out), Some(1680710489.36));
        assert_eq!(parse_openssl_mr("+H:64\n"), None);
        assert_eq!(parse_openssl_mr("+F:25:AES-128-GCM:nan\n"), None);
    }

    #[test]
    fn job_list_and_medians() {
        let j = jobs(&[64, 512, 1420], 1420);
        assert_eq!(j.len(), 3 * 5 + 2 * 4);
        assert_eq!(jobs(&[64], 1420).len(), 5 + 5 + 4);
        assert_eq!(jobs(&[64], 0).len(), 5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
