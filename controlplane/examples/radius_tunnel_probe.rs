//! Asks a real RADIUS server (FreeRADIUS, `tests/interop/radius/freeradius.sh` with the users
//! of `tests/interop/radius/tunnel-users`) for the tunnels of some users, through the sans-IO
//! client over a UDP socket, and prints what the client made of each Access-Accept (RFC 2868
//! tunnel attributes). `tests/interop/radius/tunnel-attrs.sh` runs it and compares its
//! output with what FreeRADIUS was configured to send, radclient's decoding and tshark's.
//!
//! Output, one line each (strings as `"text"` when printable ASCII without `"` or `\`,
//! else `0x` + hex; `-` when absent):
//! - `user=U result=accept|reject|challenge|timeout tunnels=N l2tp=none|reject|T1,T2..`
//!   (`l2tp`: RFC 2868 §3.1 for an L2TP-over-IPv4 LAC, usable tunnels' tags in preference
//!   order);
//! - per tunnel, by tag: `user=U tunnel tag=T type=.. medium=.. client=.. server=..
//!   private_group=.. assignment=.. client_auth=.. server_auth=.. preference=..`;
//! - per tunnel with a password: `user=U password tag=T value=..`;
//! - for a reject counted as a malformed tunnel Accept: `user=U tunnel_error="why"`;
//! - last: `counters accepts=.. rejects=.. accept_tunnel_invalid=.. dropped=..` (dropped:
//!   every drop counter summed).
//!
//! usage: radius_tunnel_probe --server IP --secret SECRET --users U1,U2,.. [--password P]
//!        [--nas-ip IP] [--timeout-ms 2000]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use controlplane::radius::client::{AccessRequest, Auth, Client, ClientResult, Config, Server};
use controlplane::radius::wire::{L2tpChoice, TunnelSpec};

fn args() -> Result<HashMap<String, String>, String> {
    let mut m = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let k = k
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {k:?}"))?
            .to_owned();
        let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
        m.insert(k, v);
    }
    Ok(m)
}

/// A string as the interop script's tshark side prints it.
fn s(v: &[u8]) -> String {
    if v.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        format!("\"{}\"", String::from_utf8_lossy(v))
    } else {
        format!(
            "0x{}",
            v.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }
}

fn o<T>(v: &Option<T>, f: impl Fn(&T) -> String) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), f)
}

fn tunnel_line(user: &str, t: &TunnelSpec) -> String {
    let b = |v: &Option<Vec<u8>>| o(v, |v| s(v));
    format!(
        "user={user} tunnel tag={} type={} medium={} client={} server={} private_group={} assignment={} client_auth={} server_auth={} preference={}",
        t.tag,
        o(&t.tunnel_type, |v| v.to_string()),
        o(&t.medium_type, |v| v.to_string()),
        o(&t.client_endpoint, |v| s(v.to_string().as_bytes())),
        o(&t.server_endpoint, |v| s(v.to_string().as_bytes())),
        b(&t.private_group_id),
        b(&t.assignment_id),
        b(&t.client_auth_id),
        b(&t.server_auth_id),
        o(&t.preference, |v| v.to_string()),
    )
}

/// Sends one PAP Access-Request and waits for its event.
fn exchange(c: &mut Client, sock: &UdpSocket, req: AccessRequest) -> Result<ClientResult, String> {
    c.access_request(Instant::now(), req)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(t) = c.poll_transmit() {
            sock.send_to(&t.payload, t.dst).map_err(|e| e.to_string())?;
        }
        if let Some(ev) = c.poll_event() {
            return Ok(ev.result);
        }
        if Instant::now() > give_up {
            return Err("no event within 30 s".into());
        }
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => c.handle_datagram(Instant::now(), 0, src, &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
        let now = Instant::now();
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
    }
}

fn run() -> Result<(), String> {
    let a = args()?;
    let need = |k: &str| {
        a.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    };
    let server: IpAddr = need("server")?
        .parse()
        .map_err(|e| format!("--server: {e}"))?;
    let secret = need("secret")?;
    let users = need("users")?;
    let password = a
        .get("password")
        .cloned()
        .unwrap_or_else(|| "secret".into());
    let nas_ip: Option<Ipv4Addr> = match a.get("nas-ip") {
        Some(v) => Some(v.parse().map_err(|e| format!("--nas-ip: {e}"))?),
        None => None,
    };
    let timeout_ms: u64 = match a.get("timeout-ms") {
        Some(v) => v.parse().map_err(|e| format!("--timeout-ms: {e}"))?,
        None => 2000,
    };
    let mut cfg = Config::new("vt-lac");
    cfg.nas_ip = nas_ip;
    cfg.source_ports = 1;
    cfg.timeout = Duration::from_millis(timeout_ms);
    cfg.retries = 2;
    cfg.auth_servers.push(Server {
        addr: SocketAddr::new(server, 1812),
        secret: secret.into_bytes(),
    });
    let mut c = Client::new(cfg, u64::from(std::process::id()));
    let bind = SocketAddr::new(nas_ip.map_or(IpAddr::from([0, 0, 0, 0]), IpAddr::V4), 0);
    let sock = UdpSocket::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;

    for (i, user) in users.split(',').filter(|u| !u.is_empty()).enumerate() {
        let invalid_before = c.counters().accept_tunnel_invalid;
        let req = AccessRequest::ppp(
            user,
            Auth::Pap {
                password: password.clone().into_bytes(),
            },
            &format!("vt-{i:04}"),
            i as u64,
        );
        match exchange(&mut c, &sock, req)? {
            ClientResult::Accept(attrs) => {
                let l2tp = match attrs.l2tp_tunnels() {
                    L2tpChoice::NoTunnel => "none".to_owned(),
                    L2tpChoice::Reject => "reject".to_owned(),
                    L2tpChoice::Tunnels(ts) => ts
                        .iter()
                        .map(|t| t.tag.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                };
                println!(
                    "user={user} result=accept tunnels={} l2tp={l2tp}",
                    attrs.tunnels.len()
                );
                let mut by_tag: Vec<&TunnelSpec> = attrs.tunnels.iter().collect();
                by_tag.sort_by_key(|t| t.tag);
                for t in &by_tag {
                    println!("{}", tunnel_line(user, t));
                }
                for t in &by_tag {
                    if let Some(pw) = &t.password {
                        println!("user={user} password tag={} value={}", t.tag, s(pw));
                    }
                }
            }
            ClientResult::Reject { .. } => {
                println!("user={user} result=reject tunnels=0 l2tp=-");
                if c.counters().accept_tunnel_invalid > invalid_before {
                    let e = c
                        .last_tunnel_error()
                        .map_or_else(String::new, |e| e.to_string());
                    println!("user={user} tunnel_error=\"{}\"", e.replace('"', "'"));
                }
            }
            ClientResult::Challenge { .. } => println!("user={user} result=challenge"),
            ClientResult::Timeout => println!("user={user} result=timeout"),
            other => return Err(format!("unexpected result {other:?}")),
        }
    }
    let k = c.counters();
    let dropped = k.drop_malformed
        + k.drop_unknown_id
        + k.drop_unknown_source
        + k.drop_unexpected_code
        + k.drop_bad_authenticator
        + k.drop_missing_message_authenticator
        + k.drop_bad_message_authenticator;
    println!(
        "counters accepts={} rejects={} accept_tunnel_invalid={} retransmits={} dropped={dropped}",
        k.accepts, k.rejects, k.accept_tunnel_invalid, k.retransmits
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radius_tunnel_probe: {e}");
            ExitCode::from(2)
        }
    }
}
