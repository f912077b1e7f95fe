//! A small UDP driver for the sans-IO RADIUS server ([`controlplane::radius::server`]): one
//! nonblocking `std::net` socket, users from a file, clients and VPN secrets from the command
//! line. `scripts/test.d/52-radius-server.sh` runs it against radclient, radtest and
//! tests/interop/radius/radtool.py; it also works by hand:
//!
//! ```text
//! radius_server --listen 127.0.0.1:18230 --users users.txt \
//!     --client lo,127.0.0.1/32,testing123 [--client legacy,10.0.0.0/8,s3cret,no-ma] \
//!     [--vpn 100=secret-of-vpn-100] [--seconds 60]
//! ```
//!
//! - `--users FILE`: the users file of [`StaticUsers::from_text`] (`NAME PASSWORD
//!   [Attribute=value ...]` a line).
//! - `--client NAME,PREFIX/LEN,SECRET[,no-ma]` (repeatable): a NAS; `no-ma` lets it send
//!   Access-Requests without Message-Authenticator. Secrets cannot contain commas here.
//! - `--vpn ID=SECRET` (repeatable): VR authentication, user `<ID>/<router-id>` with the
//!   VPN's secret ([`VpnUsers`]); a name in the users file takes precedence.
//! - `--seconds N`: stop after N seconds; SIGINT/SIGTERM stop it too.
//!
//! Output on stdout: `listening ADDR` once bound, one `event ...` line per decision, and at
//! the end `counters: Counters { ... }` (the engine's named counters). Exit status 1 on a
//! configuration or socket error.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::radius::server::{
    Config, Handled, NasClient, RadiusServer, StaticUsers, UserEntry, UserTable, VpnUsers,
};

/// The users file first, then the VPN secrets.
struct Users {
    file: StaticUsers,
    vpns: VpnUsers,
}

impl UserTable for Users {
    fn lookup(&self, user: &[u8]) -> Option<UserEntry> {
        self.file.lookup(user).or_else(|| self.vpns.lookup(user))
    }
}

struct Args {
    listen: SocketAddr,
    users: Option<String>,
    clients: Vec<NasClient>,
    vpns: VpnUsers,
    seconds: Option<f64>,
}

fn parse_client(v: &str) -> Result<NasClient, String> {
    let parts: Vec<&str> = v.split(',').collect();
    let (name, prefix, secret, flag) = match parts.as_slice() {
        [n, p, s] => (*n, *p, *s, None),
        [n, p, s, f] => (*n, *p, *s, Some(*f)),
        _ => {
            return Err(format!(
                "--client {v:?}: want NAME,PREFIX/LEN,SECRET[,no-ma]"
            ))
        }
    };
    let (addr, len) = prefix
        .split_once('/')
        .ok_or_else(|| format!("--client {v:?}: prefix {prefix:?} has no /LEN"))?;
    let addr = addr
        .parse()
        .map_err(|_| format!("--client {v:?}: {addr:?} is not an IP address"))?;
    let len = len
        .parse()
        .map_err(|_| format!("--client {v:?}: prefix length {len:?} is not a number"))?;
    let mut c = NasClient::new(name, addr, len, secret.as_bytes()).map_err(|e| e.to_string())?;
    match flag {
        None => {}
        Some("no-ma") => c.require_message_authenticator = false,
        Some(f) => return Err(format!("--client {v:?}: unknown flag {f:?} (known: no-ma)")),
    }
    Ok(c)
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:1812".parse().expect("literal address"),
        users: None,
        clients: Vec::new(),
        vpns: VpnUsers::new(),
        seconds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--listen" => {
                let s = v()?;
                a.listen = s
                    .parse()
                    .map_err(|_| format!("--listen {s:?} is not ADDR:PORT"))?
            }
            "--users" => a.users = Some(v()?),
            "--client" => a.clients.push(parse_client(&v()?)?),
            "--vpn" => {
                let s = v()?;
                let (id, secret) = s
                    .split_once('=')
                    .ok_or_else(|| format!("--vpn {s:?}: want ID=SECRET"))?;
                let id: u32 = id
                    .parse()
                    .map_err(|_| format!("--vpn {s:?}: VPN id {id:?} is not a 32-bit number"))?;
                a.vpns
                    .set_secret(id, secret.as_bytes())
                    .map_err(|e| format!("--vpn {s:?}: {e}"))?;
            }
            "--seconds" => {
                let s = v()?;
                a.seconds = Some(
                    s.parse()
                        .map_err(|_| format!("--seconds {s:?} is not a number"))?,
                )
            }
            _ => return Err(format!("unknown argument {k:?}")),
        }
    }
    if a.clients.is_empty() {
        return Err("at least one --client is needed".into());
    }
    Ok(a)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let file = match &args.users {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
            StaticUsers::from_text(&text).map_err(|e| format!("{p}: {e}"))?
        }
        None => StaticUsers::new(),
    };
    let mut srv = RadiusServer::new(
        Config::default(),
        Users {
            file,
            vpns: args.vpns,
        },
    );
    for c in args.clients {
        srv.add_client(c).map_err(|e| e.to_string())?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let sock = UdpSocket::bind(args.listen).map_err(|e| format!("bind {}: {e}", args.listen))?;
    sock.set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    println!(
        "listening {}",
        sock.local_addr().map_err(|e| e.to_string())?
    );
    let start = Instant::now();
    let deadline = args.seconds.map(|s| start + Duration::from_secs_f64(s));
    let mut buf = vec![0u8; 65536];
    let mut send_errors = 0u64;
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        let mut idle = true;
        // A burst at a time, then send what it produced.
        for _ in 0..64 {
            match sock.recv_from(&mut buf) {
                Ok((n, src)) => {
                    idle = false;
                    let h = srv.handle_datagram(Instant::now(), src, &buf[..n]);
                    if let Handled::Dropped(why) = h {
                        eprintln!("dropped {n} bytes from {src}: {why:?}");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => break,
                // ICMP errors of earlier sends surface here on Linux; not fatal.
                Err(e) => eprintln!("recv: {e}"),
            }
        }
        while let Some(t) = srv.poll_transmit() {
            if let Err(e) = sock.send_to(&t.payload, t.dst) {
                send_errors += 1;
                eprintln!("send to {}: {e}", t.dst);
            }
        }
        while let Some(e) = srv.poll_event() {
            println!(
                "event client={} src={} user={:?} method={:?} result={:?}",
                e.client,
                e.src,
                String::from_utf8_lossy(&e.user),
                e.method,
                e.result
            );
        }
        let now = Instant::now();
        if srv.poll_timeout().is_some_and(|t| t <= now) {
            srv.handle_timeout(now);
        }
        if idle {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    println!("counters: {:?}", srv.counters());
    println!("send_errors: {send_errors}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radius_server: {e}");
            ExitCode::FAILURE
        }
    }
}
