//! A Diameter base-protocol peer on TCP (the `diameter::peer` engine with its driver), for
//! interop runs against freeDiameter (`scripts/test.d/41-diameter-peer-interop.sh`).
//!
//! ```text
//! diameter_peer --listen IP:PORT | --connect IP:PORT
//!     [--host FQDN] [--realm REALM] [--tw SECS] [--seconds T] [--disconnect-after T]
//!     [--auth-app ID]... [--acct-app ID]... [--relay] [--exit-when-done]
//! ```
//! Prints one line per event (`up ...`, `request ...`, `down ...`) and, per connection
//! when it ends, its counters (`counters peer=... rx_cer=1 tx_cea=1 ...`). Application
//! requests are answered with DIAMETER_UNABLE_TO_COMPLY: this peer runs no application.
//! `--disconnect-after T` sends a DPR (REBOOTING) T seconds after the connection opened;
//! at `--seconds` (default 30) open connections are disconnected the same way. With
//! `--exit-when-done` the program ends once a connection has come and gone.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use controlplane::diameter::driver::Connection;
use controlplane::diameter::peer::{Config, Counters, Event};
use controlplane::diameter::wire::codes::{disconnect_cause, result};
use rand::rngs::StdRng;

fn usage() -> ! {
    eprintln!(
        "usage: diameter_peer --listen IP:PORT | --connect IP:PORT [--host FQDN] [--realm R] \
         [--tw S] [--seconds T] [--disconnect-after T] [--auth-app ID]... [--acct-app ID]... \
         [--relay] [--exit-when-done]"
    );
    std::process::exit(2)
}

fn print_counters(who: &str, c: &Counters) {
    println!(
        "counters peer={who} rx_cer={} tx_cea={} tx_cer={} rx_cea={} rx_dwr={} tx_dwa={} \
         tx_dwr={} rx_dwa={} rx_dpr={} tx_dpa={} tx_dpr={} rx_dpa={} rx_messages={} \
         tx_messages={} tx_error_answers={} malformed={} unmatched={} watchdog_failovers={}",
        c.rx_cer,
        c.tx_cea,
        c.tx_cer,
        c.rx_cea,
        c.rx_dwr,
        c.tx_dwa,
        c.tx_dwr,
        c.rx_dwa,
        c.rx_dpr,
        c.tx_dpa,
        c.tx_dpr,
        c.rx_dpa,
        c.rx_messages,
        c.tx_messages,
        c.tx_error_answers,
        c.malformed_framing + c.malformed_header + c.malformed_avp,
        c.rx_unmatched_answers,
        c.watchdog_failovers,
    );
}

struct Conn {
    c: Connection<StdRng>,
    opened: Option<Instant>,
    name: String,
    dpr_sent: bool,
}

/// Prints the events of a connection and answers application requests.
fn handle_events(k: &mut Conn, now: Instant) {
    while let Some(ev) = k.c.peer().poll_event() {
        match ev {
            Event::Up(info) => {
                k.opened = Some(now);
                k.name = info.origin_host.clone();
                println!(
                    "up peer={} realm={} product={:?} vendor={} auth_apps={:?} \
                     acct_apps={:?} common={:?} state={:?}",
                    info.origin_host,
                    info.origin_realm,
                    info.product_name,
                    info.vendor_id,
                    info.auth_applications,
                    info.acct_applications,
                    info.common_applications,
                    k.c.peer().state()
                );
            }
            Event::Request(m) => {
                println!(
                    "request peer={} command={} application={}",
                    k.name, m.header.command, m.header.application
                );
                let a = k.c.peer().answer(&m, result::UNABLE_TO_COMPLY);
                if let Err(e) = k.c.peer().send_answer(&a) {
                    eprintln!("answer: {e}");
                }
            }
            Event::Down { reason, pending } => {
                println!(
                    "down peer={} reason={reason:?} pending={}",
                    k.name,
                    pending.len()
                );
            }
            other => println!("event peer={} {other:?}", k.name),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let all = |k: &str| -> Vec<u32> {
        args.windows(2)
            .filter(|w| w[0] == k)
            .map(|w| w[1].parse().unwrap_or_else(|_| usage()))
            .collect()
    };
    let flag = |k: &str| args.iter().any(|a| a == k);
    let secs = |k: &str| -> Option<f64> { opt(k).map(|s| s.parse().unwrap_or_else(|_| usage())) };
    let addr = |s: String| -> SocketAddr { s.parse().unwrap_or_else(|_| usage()) };
    let listen = opt("--listen").map(addr);
    let connect = opt("--connect").map(addr);
    if listen.is_some() == connect.is_some() {
        usage();
    }
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut cfg = Config::new(
        &opt("--host").unwrap_or_else(|| "peer.varouter.test".into()),
        &opt("--realm").unwrap_or_else(|| "varouter.test".into()),
    );
    cfg.epoch_secs = epoch;
    cfg.origin_state_id = epoch as u32;
    cfg.relay = flag("--relay");
    let auth = all("--auth-app");
    if !auth.is_empty() || cfg.relay {
        cfg.auth_applications = auth;
    }
    cfg.acct_applications = all("--acct-app");
    if let Some(tw) = secs("--tw") {
        cfg.watchdog_interval = Duration::from_secs_f64(tw);
    }
    let run_for = Duration::from_secs_f64(secs("--seconds").unwrap_or(30.0));
    let disconnect_after = secs("--disconnect-after").map(Duration::from_secs_f64);
    let exit_when_done = flag("--exit-when-done");

    let start = Instant::now();
    let rng = || rand::make_rng::<StdRng>();
    let mut conns: Vec<Conn> = Vec::new();
    let listener = listen.map(|a| {
        let l = TcpListener::bind(a).unwrap_or_else(|e| {
            eprintln!("cannot listen on {a}: {e}");
            std::process::exit(1)
        });
        l.set_nonblocking(true).expect("nonblocking listener");
        println!("listening {a}");
        l
    });
    if let Some(a) = connect {
        let c = Connection::connect(a, cfg.clone(), rng(), start);
        println!("connecting {a}");
        conns.push(Conn {
            c,
            opened: None,
            name: a.to_string(),
            dpr_sent: false,
        });
    }
    let mut finished = 0usize;
    let mut stopping = false;
    loop {
        let now = Instant::now();
        if let Some(l) = &listener {
            while let Ok((s, from)) = l.accept() {
                match Connection::accepted(s, cfg.clone(), rng(), now) {
                    Ok(c) => {
                        println!("accepted {from}");
                        conns.push(Conn {
                            c,
                            opened: None,
                            name: from.to_string(),
                            dpr_sent: false,
                        });
                    }
                    Err(e) => eprintln!("accept {from}: {e}"),
                }
            }
        }
        if !stopping && now.duration_since(start) >= run_for {
            stopping = true;
        }
        for k in conns.iter_mut() {
            let due = match (k.opened, disconnect_after) {
                (Some(o), Some(d)) => now.duration_since(o) >= d,
                _ => false,
            };
            if (due || stopping) && !k.dpr_sent {
                k.dpr_sent = true;
                k.c.peer().disconnect(now, disconnect_cause::REBOOTING);
            }
            k.c.poll(now);
            handle_events(k, now);
            k.c.poll(now);
            handle_events(k, now);
            if k.c.is_finished() {
                print_counters(&k.name, k.c.peer().counters());
                finished += 1;
            }
        }
        conns.retain(|k| !k.c.is_finished());
        if (exit_when_done && finished > 0 && conns.is_empty())
            || (stopping && conns.is_empty())
            || now.duration_since(start) >= run_for + Duration::from_secs(5)
        {
            for k in conns.iter_mut() {
                print_counters(&k.name, k.c.peer().counters());
            }
            break;
        }
        let wake = conns
            .iter()
            .filter_map(|k| k.c.next_wakeup())
            .min()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::MAX);
        std::thread::sleep(wake.min(Duration::from_millis(5)));
    }
}
