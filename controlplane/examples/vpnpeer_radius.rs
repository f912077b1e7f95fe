//! Three peering engines (controlplane::vpnpeer) on real UDP sockets, authenticated by a
//! real RADIUS server (FreeRADIUS in scripts/test.d/53-vpnpeer-radius.sh):
//!
//!   R1 10.255.0.1  L2TP 127.0.0.1:18220  RADIUS client 127.0.0.1:18225
//!   R2 10.255.0.2  L2TP 127.0.0.2:18221  RADIUS client 127.0.0.2:18226
//!   R3 10.255.0.3  L2TP 127.0.0.3:18224  RADIUS client 127.0.0.3:18227  (wrong VPN secret)
//!
//! All three hold a VR of VPN 100. R1 and R2 must come up and exchange their routes; R3
//! must be refused by both (their `auth_rejects`, its `refused_by_peer`) and install
//! nothing. Prints `ok` / `FAIL` lines and the counters; exits 1 on any failure.
//!
//! usage: vpnpeer_radius RADIUS_ADDR RADIUS_SECRET VPN_SECRET [SECONDS]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use controlplane::radius::client::{self, Client};
use controlplane::vpnpeer::engine::{Config, Engine, Event, Transmit};
use controlplane::vpnpeer::wire::{IpPrefix, RouteOp};
use controlplane::vpnpeer::RadiusAuthenticator;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vr::Prefix4;

const VPN: u32 = 100;

struct Router {
    rid: Ipv4Addr,
    l2tp: UdpSocket,
    radius: UdpSocket,
    engine: Engine<StdRng, RadiusAuthenticator>,
    installed: Vec<(IpPrefix, u32, Ipv4Addr)>,
}

fn router(
    n: u8,
    l2tp_port: u16,
    radius_port: u16,
    server: SocketAddr,
    radius_secret: &str,
    vpn_secret: &[u8],
) -> std::io::Result<Router> {
    let rid = Ipv4Addr::new(10, 255, 0, n);
    let ip = Ipv4Addr::new(127, 0, 0, n);
    let l2tp = UdpSocket::bind((ip, l2tp_port))?;
    let radius = UdpSocket::bind((ip, radius_port))?;
    l2tp.set_nonblocking(true)?;
    radius.set_nonblocking(true)?;
    let mut rc = client::Config::new(&rid.to_string());
    rc.auth_servers.push(client::Server {
        addr: server,
        secret: radius_secret.as_bytes().to_vec(),
    });
    rc.source_ports = 1;
    // Above FreeRADIUS's reject_delay (1 s), so a delayed Access-Reject is not retransmitted for.
    rc.timeout = Duration::from_secs(3);
    rc.nas_ip = Some(ip);
    let mut cfg = Config::new(rid);
    cfg.hold_time = Duration::from_secs(30);
    cfg.reconnect_interval = Duration::from_secs(2);
    let mut engine = Engine::new(
        cfg,
        StdRng::seed_from_u64(u64::from(n)),
        RadiusAuthenticator::new(Client::new(rc, u64::from(n) * 77)),
    );
    engine.add_vr(VPN, vpn_secret);
    let route = RouteOp {
        prefix: IpPrefix::V4(Prefix4::new(u32::from_be_bytes([192, 168, n, 0]), 24).unwrap()),
        label: 1000 + u32::from(n),
        withdraw: false,
    };
    engine
        .update(Instant::now(), VPN, &[route])
        .map_err(std::io::Error::other)?;
    Ok(Router {
        rid,
        l2tp,
        radius,
        engine,
        installed: Vec::new(),
    })
}

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        eprintln!("usage: vpnpeer_radius RADIUS_ADDR RADIUS_SECRET VPN_SECRET [SECONDS]");
        return ExitCode::from(2);
    }
    let server: SocketAddr = match a[1].parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("RADIUS_ADDR `{}`: {e}", a[1]);
            return ExitCode::from(2);
        }
    };
    let secs: u64 = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(15);
    let vpn_secret = a[3].as_bytes();
    let mut rs = Vec::new();
    for (n, lp, rp, secret) in [
        (1u8, 18220u16, 18225u16, vpn_secret),
        (2, 18221, 18226, vpn_secret),
        (3, 18224, 18227, b"not the VPN secret".as_slice()),
    ] {
        match router(n, lp, rp, server, &a[2], secret) {
            Ok(r) => rs.push(r),
            Err(e) => {
                eprintln!("router {n}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let l2tp_addr = |n: usize| -> SocketAddr {
        let port = [18220, 18221, 18224][n];
        SocketAddr::from((Ipv4Addr::new(127, 0, 0, n as u8 + 1), port))
    };
    let now = Instant::now();
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                let rid = rs[j].rid;
                if let Err(e) = rs[i].engine.add_peer(now, VPN, rid, l2tp_addr(j)) {
                    eprintln!("add_peer: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let end = Instant::now() + Duration::from_secs(secs);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < end {
        for r in rs.iter_mut() {
            let now = Instant::now();
            while let Ok((n, src)) = r.l2tp.recv_from(&mut buf) {
                r.engine.handle_input(now, src, &buf[..n]);
            }
            while let Ok((n, src)) = r.radius.recv_from(&mut buf) {
                r.engine.handle_auth_input(now, 0, src, &buf[..n]);
            }
            if r.engine.poll_timeout().is_some_and(|t| t <= now) {
                r.engine.handle_timeout(now);
            }
            while let Some(t) = r.engine.poll_transmit() {
                let res = match t {
                    Transmit::L2tp { dst, bytes } => r.l2tp.send_to(&bytes, dst),
                    Transmit::Auth(t) => r.radius.send_to(&t.payload, t.dst),
                };
                if let Err(e) = res {
                    eprintln!("{}: send: {e}", r.rid);
                }
            }
            while let Some(e) = r.engine.poll_event() {
                println!("{}: {e:?}", r.rid);
                match e {
                    Event::Install {
                        prefix,
                        vpn_label,
                        via,
                        ..
                    } => r.installed.push((prefix, vpn_label, via)),
                    Event::Withdraw { prefix, via, .. } => {
                        r.installed.retain(|x| !(x.0 == prefix && x.2 == via))
                    }
                    _ => {}
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut fail = false;
    let mut check = |what: &str, ok: bool| {
        println!("{} - {what}", if ok { "ok  " } else { "FAIL" });
        fail |= !ok;
    };
    let p = |n: u8| IpPrefix::V4(Prefix4::new(u32::from_be_bytes([192, 168, n, 0]), 24).unwrap());
    check(
        "R1 and R2 are up (authenticated both ways through RADIUS)",
        rs[0].engine.peer_is_up(VPN, rs[1].rid) && rs[1].engine.peer_is_up(VPN, rs[0].rid),
    );
    check(
        "R1 installed 192.168.2.0/24 label 1002 via R2",
        rs[0].installed == vec![(p(2), 1002, rs[1].rid)],
    );
    check(
        "R2 installed 192.168.1.0/24 label 1001 via R1",
        rs[1].installed == vec![(p(1), 1001, rs[0].rid)],
    );
    check(
        "R1 and R2 each rejected R3 once (RADIUS Access-Reject)",
        rs[0].engine.counters().auth_rejects == 1 && rs[1].engine.counters().auth_rejects == 1,
    );
    check(
        "R3 was refused by both and stopped",
        rs[2].engine.counters().refused_by_peer == 2 && rs[2].engine.peer_count() == 0,
    );
    check("R3 installed nothing", rs[2].installed.is_empty());
    for r in &rs {
        println!("{} counters: {:?}", r.rid, r.engine.counters());
        println!(
            "{} radius: {:?}",
            r.rid,
            r.engine.authenticator().client().counters()
        );
    }
    if fail {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
