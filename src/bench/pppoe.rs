//! `varouter bench pppoe`: PPPoE discovery through the real engine — session setup rate and
//! engine memory per session.
//!
//! **Set-up.** One thread, one [`Discovery`] with one access interface per VLAN on one port
//! (`--vlans`, default 1: untagged). `--sessions` simulated clients, each with its own MAC
//! and a 4-byte Host-Uniq, go through PADI → PADO → PADR → PADS one after the other: the
//! client's frames are built with [`DiscoveryRepr::to_frame`], the engine's replies parsed
//! back with [`DiscoveryRepr::parse`] (the cookie taken from the PADO, the session id from
//! the PADS and checked against the engine's [`Output::SessionUp`]). A run fails unless
//! every client ends with a session. `--runs` runs on fresh engines; the rate reported is
//! the median.
//!
//! **Time**: the whole loop (clients and engine), and the engine alone (every
//! `handle_frame` + `poll_output` timed; two clock reads per call, ≈ 50 ns, included).
//!
//! **Memory** is counted by the binary's global allocator ([`super::heap`]): the heap bytes
//! the engine frees when it is dropped after the last run, divided by its sessions. It
//! includes, per session, the session map entry (120-byte [`Session`] + key), its Service-Name
//! and Host-Uniq bytes, the per-MAC entry, and the client MAC's entry in the PADI rate table
//! (`--tracked-macs`, 0 = no rate table), plus the port's 8 KiB id bitmap.
//!
//! **Results** (2-core VM, load ≈ 2 from other work, release build, 64,000 sessions on one
//! port, untagged, medians of 5 runs):
//!
//! | case | sessions/s | µs/session | heap bytes/session |
//! |---|---|---|---|
//! | discovery engine, default (rate table 65,536 MACs) | 567,428 (clients + engine; engine alone 719,434) | 1.39 (engine) | 306 |
//! | discovery engine, `--tracked-macs 0` (an earlier, busier run) | 267,228 | 2.97 | 210 |
//! | through the access side (PPP engine, bind, publish) | 227,674 | 4.4 | 1,238 |
//!
//! The engine's per-session cost is two HMAC-SHA1 (the PADO's cookie, the PADR's check),
//! two frames built, the tag walks, the id bitmap and three hash-map inserts. Bytes are
//! those requested from the allocator (malloc adds ~16 B per block: the boxed session and
//! its two strings).
//!
//! **Through the access side** (second part of the report): the same clients against the
//! [`AccessManager`] the control core runs, with what the L2TP service does for each new
//! session: the access PPP engine created and its first LCP Configure-Request sent, a
//! traffic-counter slot taken, the session bound in the session table
//! ([`StateWriter::bind_session`]) and a new forwarding-state version committed every 32
//! sessions (the control loop publishes once per iteration). Memory: the manager's heap
//! (discovery + PPP engines) per session.
//!
//! [`Session`]: controlplane::pppoe::discovery::Session

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use controlplane::access::config::AccessConfig as RelayConfig;
use controlplane::access::manager::{AccessManager, Output as AccessOutput};
use controlplane::pppoe::discovery::{AccessConfig, Discovery, Limits, Output};
use controlplane::pppoe::wire::{kind, DiscoveryRepr, EthHeader, Tag};
use vr::{PortId, VrId};
use vr::{SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId};
use wire::pppoe::{Code, PppoeHeader};

use super::{heap, median};

/// Options of `varouter bench pppoe`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sessions to establish (on one port; at most 65,534).
    #[arg(long, default_value_t = 64_000)]
    pub sessions: u32,
    /// Access interfaces (VLANs 1..=N) on the port the sessions are spread over; 1 =
    /// untagged.
    #[arg(long, default_value_t = 1)]
    pub vlans: u16,
    /// Runs (fresh engine each); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Entries of the engine's per-MAC PADI rate table (`Limits::max_tracked_macs`).
    #[arg(long, default_value_t = 65_536)]
    pub tracked_macs: usize,
    /// Print one JSON line instead of a report.
    #[arg(long)]
    pub json: bool,
}

const PORT: PortId = PortId(0);
const AC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xac];

/// One run's figures.
struct RunResult {
    whole: Duration,
    engine: Duration,
}

fn vlan_of(i: u32, vlans: u16) -> Option<u16> {
    (vlans > 1).then(|| (i % u32::from(vlans)) as u16 + 1)
}

fn client_mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0x42, b[0], b[1], b[2], b[3]]
}

fn new_engine(args: &Args, now: Instant) -> Discovery {
    let mut d = Discovery::new(
        [0x5a; 32],
        Limits {
            max_sessions_per_port: 65_534,
            max_tracked_macs: args.tracked_macs,
        },
    );
    let cfg = AccessConfig {
        vr: VrId(1),
        ac_name: "varouter-bench".into(),
        service_names: vec!["internet".into()],
        max_sessions: 65_534,
        max_sessions_per_mac: 1,
        padi_per_mac_per_sec: 10,
        max_payload: 1500,
    };
    if args.vlans > 1 {
        for v in 1..=args.vlans {
            d.configure(now, PORT, Some(v), Some(cfg.clone()));
        }
    } else {
        d.configure(now, PORT, None, Some(cfg));
    }
    d
}

/// The engine's reply: the one frame, parsed, and the session it brought up, if any.
fn reply(d: &mut Discovery) -> Result<(DiscoveryRepr, Option<u16>), String> {
    let mut frame = None;
    let mut up = None;
    while let Some(o) = d.poll_output() {
        match o {
            Output::Frame { frame: f, .. } => frame = Some(f),
            Output::SessionUp(s) => up = Some(s.session),
            o => return Err(format!("unexpected output {o:?}")),
        }
    }
    let f = frame.ok_or("no reply")?;
    let l3 = if f[12..14] == [0x81, 0x00] { 18 } else { 14 };
    let h = PppoeHeader::new_checked(&f[l3..]).map_err(|e| e.to_string())?;
    let r = DiscoveryRepr::parse(&h).map_err(|e| e.to_string())?;
    Ok((r, up))
}

/// Establishes `args.sessions` sessions on a fresh engine; returns the timings and the
/// engine (for the memory figure).
fn one_run(args: &Args, t0: Instant) -> Result<(RunResult, Discovery), String> {
    let mut d = new_engine(args, t0);
    let mut engine = Duration::ZERO;
    let start = Instant::now();
    for i in 0..args.sessions {
        // A virtual clock: 10 µs per client, all within one cookie epoch or the next.
        let now = t0 + Duration::from_micros(u64::from(i) * 10);
        let mac = client_mac(i);
        let vlan = vlan_of(i, args.vlans);
        let host_uniq = i.to_be_bytes().to_vec();
        let mut tags = vec![
            Tag::ServiceName(b"internet".to_vec()),
            Tag::HostUniq(host_uniq.clone()),
        ];
        let padi = DiscoveryRepr {
            code: Code::Padi,
            session_id: 0,
            tags: tags.clone(),
        };
        let eth = EthHeader {
            dst: [0xff; 6],
            src: mac,
            vlan,
        };
        let f = padi.to_frame(&eth).map_err(|e| e.to_string())?;
        let t = Instant::now();
        d.handle_frame(now, PORT, AC_MAC, vlan, &f, eth.len());
        let (pado, _) = reply(&mut d)?;
        engine += t.elapsed();
        if pado.code != Code::Pado {
            return Err(format!("client {i}: {:?} instead of a PADO", pado.code));
        }
        let Some(Tag::AcCookie(cookie)) = pado.first(kind::AC_COOKIE) else {
            return Err(format!("client {i}: PADO without a cookie"));
        };
        if pado.first(kind::HOST_UNIQ) != Some(&Tag::HostUniq(host_uniq)) {
            return Err(format!("client {i}: Host-Uniq not echoed"));
        }
        tags.push(Tag::AcCookie(cookie.clone()));
        let padr = DiscoveryRepr {
            code: Code::Padr,
            session_id: 0,
            tags,
        };
        let eth = EthHeader {
            dst: AC_MAC,
            src: mac,
            vlan,
        };
        let f = padr.to_frame(&eth).map_err(|e| e.to_string())?;
        let t = Instant::now();
        d.handle_frame(now, PORT, AC_MAC, vlan, &f, eth.len());
        let (pads, up) = reply(&mut d)?;
        engine += t.elapsed();
        if pads.code != Code::Pads || pads.session_id == 0 || up != Some(pads.session_id) {
            return Err(format!(
                "client {i}: no session (PADS id {}, tags {:?}; counters {:?})",
                pads.session_id,
                pads.tags,
                d.counters()
            ));
        }
    }
    let whole = start.elapsed();
    if d.session_count() != args.sessions as usize {
        return Err(format!(
            "{} sessions of {}",
            d.session_count(),
            args.sessions
        ));
    }
    Ok((RunResult { whole, engine }, d))
}

/// Discovery frames to `mac` among the manager's outputs (the last one), parsed; binds
/// what it asks to bind in `w`. Returns the reply and the PPP frames sent.
fn manager_reply(
    m: &mut AccessManager,
    w: &mut StateWriter,
) -> Result<(Option<DiscoveryRepr>, usize), String> {
    let mut disc = None;
    let mut ppp = 0;
    let outs: Vec<AccessOutput> = m.drain().collect();
    for o in outs {
        match o {
            AccessOutput::Frame { frame, .. } => {
                let l3 = if frame[12..14] == [0x81, 0x00] {
                    18
                } else {
                    14
                };
                if frame[l3 - 2..l3] == [0x88, 0x63] {
                    let h = PppoeHeader::new_checked(&frame[l3..]).map_err(|e| e.to_string())?;
                    disc = Some(DiscoveryRepr::parse(&h).map_err(|e| e.to_string())?);
                } else {
                    ppp += 1;
                }
            }
            AccessOutput::Bind {
                link: controlplane::access::manager::LinkKey::Pppoe { port, session },
                vr,
                mac,
                vlan,
            } => {
                let slot = w
                    .alloc_session_counters()
                    .unwrap_or(SessionBinding::NO_COUNTERS);
                w.bind_session(
                    SessionKey::Pppoe { port, session },
                    SessionBinding::pppoe(vr, slot, mac, vlan),
                )
                .map_err(|e| e.to_string())?;
            }
            AccessOutput::Timer { .. } => {}
            o => return Err(format!("unexpected output {o:?}")),
        }
    }
    Ok((disc, ppp))
}

/// The clients against the access manager and a state writer, as the control core runs
/// them; returns the time and the manager (for its memory).
fn manager_run(args: &Args, t0: Instant) -> Result<(Duration, AccessManager), String> {
    let mut w = StateWriter::new(vec![AC_MAC], 1);
    let vpn = VpnId::new(0x00a0c9, 1).map_err(|e| e.to_string())?;
    w.add_vr(VirtualRouter::new(VrId(1), "access", vpn, "bench"))
        .map_err(|e| e.to_string())?;
    w.set_session_counter_slots(65_536);
    let mut m = AccessManager::new(
        [0x5a; 32],
        Limits {
            max_sessions_per_port: 65_534,
            max_tracked_macs: args.tracked_macs,
        },
        7,
    );
    let mut c = RelayConfig::new(VrId(1));
    c.max_sessions = args.sessions;
    c.max_sessions_per_mac = 1;
    let ifs = (1..=args.vlans)
        .map(|v| (PORT, (args.vlans > 1).then_some(v)))
        .collect();
    m.configure(t0, vec![(c, ifs)]);
    let start = Instant::now();
    let mut lcp = 0;
    for i in 0..args.sessions {
        let now = t0 + Duration::from_micros(u64::from(i) * 10);
        let mac = client_mac(i);
        let vlan = vlan_of(i, args.vlans);
        let mut tags = vec![
            Tag::ServiceName(b"internet".to_vec()),
            Tag::HostUniq(i.to_be_bytes().to_vec()),
        ];
        let eth = EthHeader {
            dst: [0xff; 6],
            src: mac,
            vlan,
        };
        let padi = DiscoveryRepr {
            code: Code::Padi,
            session_id: 0,
            tags: tags.clone(),
        }
        .to_frame(&eth)
        .map_err(|e| e.to_string())?;
        m.discovery_frame(now, PORT, AC_MAC, vlan, &padi, eth.len());
        let (pado, _) = manager_reply(&mut m, &mut w)?;
        let Some(Tag::AcCookie(cookie)) = pado.as_ref().and_then(|p| p.first(kind::AC_COOKIE))
        else {
            return Err(format!("client {i}: no PADO with a cookie"));
        };
        tags.push(Tag::AcCookie(cookie.clone()));
        let eth = EthHeader {
            dst: AC_MAC,
            src: mac,
            vlan,
        };
        let padr = DiscoveryRepr {
            code: Code::Padr,
            session_id: 0,
            tags,
        }
        .to_frame(&eth)
        .map_err(|e| e.to_string())?;
        m.discovery_frame(now, PORT, AC_MAC, vlan, &padr, eth.len());
        let (pads, ppp) = manager_reply(&mut m, &mut w)?;
        if pads.is_none_or(|p| p.code != Code::Pads || p.session_id == 0) {
            return Err(format!("client {i}: no PADS"));
        }
        lcp += ppp;
        if i % 32 == 31 {
            w.commit();
        }
    }
    w.commit();
    let whole = start.elapsed();
    if m.count() != args.sessions as usize || w.session_count() != args.sessions as usize {
        return Err(format!(
            "{} links, {} bound, of {}",
            m.count(),
            w.session_count(),
            args.sessions
        ));
    }
    if lcp < args.sessions as usize {
        return Err(format!("{lcp} LCP requests for {} sessions", args.sessions));
    }
    Ok((whole, m))
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<(), String> {
    if args.sessions == 0 || args.sessions > 65_534 {
        return Err("--sessions must be 1..=65534 (the session ids of one port)".into());
    }
    if args.vlans == 0 || args.vlans > 4094 {
        return Err("--vlans must be 1..=4094".into());
    }
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let counting = heap::enable();
    let n = f64::from(args.sessions);
    let mut results = Vec::new();
    let mut mem = 0i64;
    for r in 0..args.runs {
        let t0 = Instant::now();
        let before = heap::live();
        let (res, d) = one_run(&args, t0)?;
        let held = heap::live() - before;
        if r + 1 == args.runs {
            // Exact bytes owned by the engine: what it frees when dropped.
            let a = heap::live();
            drop(d);
            mem = a - heap::live();
            debug_assert!(held >= mem);
        }
        results.push(res);
    }
    let rates: Vec<f64> = results.iter().map(|r| n / r.whole.as_secs_f64()).collect();
    let engine_us: Vec<f64> = results
        .iter()
        .map(|r| r.engine.as_secs_f64() * 1e6 / n)
        .collect();
    let whole_us: Vec<f64> = results
        .iter()
        .map(|r| r.whole.as_secs_f64() * 1e6 / n)
        .collect();
    let (rate, us, eng_us) = (
        median(rates.clone()),
        median(whole_us),
        median(engine_us.clone()),
    );
    let per_session = mem as f64 / n;
    // Through the access manager and the state writer.
    let mut mrates = Vec::new();
    let mut mmem = 0i64;
    for r in 0..args.runs {
        let (t, m) = manager_run(&args, Instant::now())?;
        mrates.push(n / t.as_secs_f64());
        if r + 1 == args.runs {
            let a = heap::live();
            drop(m);
            mmem = a - heap::live();
        }
    }
    let mrate = median(mrates.clone());
    let mper = mmem as f64 / n;
    if args.json {
        println!(
            "{{\"sessions\":{},\"vlans\":{},\"runs\":{},\"rate_median\":{rate:.0},\"us_per_session\":{us:.2},\
\"engine_us_per_session\":{eng_us:.2},\"engine_rate\":{:.0},\"bytes_per_session\":{},\"tracked_macs\":{},\"counting\":{counting},\
\"access_rate_median\":{mrate:.0},\"access_bytes_per_session\":{mper:.0}}}",
            args.sessions,
            args.vlans,
            args.runs,
            1e6 / eng_us,
            if counting { format!("{per_session:.0}") } else { "null".into() },
            args.tracked_macs,
        );
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "pppoe discovery  {} sessions on one port ({}), PADI → PADO → PADR → PADS per client, {} runs",
        args.sessions,
        if args.vlans > 1 {
            format!("{} VLANs", args.vlans)
        } else {
            "untagged".into()
        },
        args.runs
    );
    for (i, r) in results.iter().enumerate() {
        let _ = writeln!(
            o,
            "  run {}          {:.3} s: {:.0} sessions/s, {:.2} µs/session (engine {:.2} µs)",
            i + 1,
            r.whole.as_secs_f64(),
            rates[i],
            r.whole.as_secs_f64() * 1e6 / n,
            engine_us[i]
        );
    }
    let _ = writeln!(
        o,
        "median           {rate:.0} sessions/s, {us:.2} µs/session (clients + engine); engine alone {eng_us:.2} µs/session = {:.0} sessions/s",
        1e6 / eng_us
    );
    if counting {
        let _ = writeln!(
            o,
            "engine memory    {mem} bytes at {} sessions = {per_session:.0} bytes/session (heap; incl. the PADI rate table of {} entries max)",
            args.sessions, args.tracked_macs
        );
    } else {
        let _ = writeln!(o, "engine memory    not counted (no counting allocator)");
    }
    let _ = writeln!(
        o,
        "access side      {mrate:.0} sessions/s median (runs: {}): discovery + the access PPP engine's first LCP request + counter slot + session-table bind + a publish every 32 sessions",
        mrates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if counting {
        let _ = writeln!(
            o,
            "access memory    {mmem} bytes at {} sessions = {mper:.0} bytes/session (discovery + PPP engines; the session table is the forwarding state's)",
            args.sessions
        );
    }
    print!("{o}");
    Ok(())
}
