//! Sends a PAP and a CHAP Access-Request and an Accounting Start to a RADIUS server through
//! the sans-IO client, and prints what came back. For checking against a real FreeRADIUS
//! (e.g. `lab.sh radius`; the server must sign its replies with a Message-Authenticator,
//! see /work/shared/peers/README.md, or the answers are dropped and counted).
//!
//! usage: radius_probe [server-ip] [secret] [user] [password]
//! defaults: 127.0.0.1 testing123 bob hello

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use controlplane::radius::client::{
    AccessRequest, AcctRequest, AcctStatus, Auth, Client, Config, Server,
};
use md5::{Digest, Md5};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_owned());
    let ip = arg(0, "127.0.0.1");
    let secret = arg(1, "testing123").into_bytes();
    let user = arg(2, "bob");
    let password = arg(3, "hello");

    let mut cfg = Config::new("varouter-probe");
    cfg.auth_servers.push(Server {
        addr: format!("{ip}:1812").parse().expect("server ip"),
        secret: secret.clone(),
    });
    cfg.acct_servers.push(Server {
        addr: format!("{ip}:1813").parse().expect("server ip"),
        secret,
    });
    cfg.source_ports = 1;
    cfg.timeout = Duration::from_secs(1);
    cfg.retries = 1;
    cfg.nas_ip = Some([127, 0, 0, 1].into());
    let seed = Instant::now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
    let mut c = Client::new(cfg, seed);
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;

    let now = Instant::now();
    let pap = Auth::Pap {
        password: password.clone().into_bytes(),
    };
    c.access_request(now, AccessRequest::ppp(&user, pap, "probe-1", 1))
        .expect("PAP request");
    let (id, challenge) = (7u8, [0x5a; 16]);
    let response: [u8; 16] = Md5::new()
        .chain_update([id])
        .chain_update(password.as_bytes())
        .chain_update(challenge)
        .finalize()
        .into();
    let chap = Auth::Chap {
        id,
        challenge: challenge.to_vec(),
        response,
    };
    c.access_request(now, AccessRequest::ppp(&user, chap, "probe-2", 2))
        .expect("CHAP request");
    let start = AcctRequest {
        status: Some(AcctStatus::Start),
        acct_session_id: "probe-1".into(),
        user: user.clone(),
        framed_ip: Some([100, 64, 0, 1].into()),
        tag: 3,
        ..Default::default()
    };
    c.accounting(now, start).expect("accounting request");

    let names = ["", "PAP", "CHAP", "Accounting-Start"];
    let mut done = 0;
    let mut buf = [0u8; 4096];
    while done < 3 {
        while let Some(t) = c.poll_transmit() {
            sock.send_to(&t.payload, t.dst)?;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => c.handle_datagram(Instant::now(), 0, src, &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        while let Some(ev) = c.poll_event() {
            done += 1;
            let name = names.get(ev.tag as usize).copied().unwrap_or("?");
            println!("{name}: {:?}", ev.result);
        }
    }
    println!("counters: {:?}", c.counters());
    Ok(())
}
