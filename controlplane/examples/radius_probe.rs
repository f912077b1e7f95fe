//! Drives the sans-IO RADIUS client and DAE server over real UDP sockets against a real
//! RADIUS server (FreeRADIUS, `tests/interop/radius/freeradius.sh`) and a real DAE client
//! (radclient). `tests/interop/radius/client-interop.sh` runs it; it also works by hand.
//!
//! Client checks, in order (each waits for its answer):
//! - PAP `alice`: Access-Accept with Framed-IP-Address, Session-Timeout, Acct-Interim-Interval;
//! - CHAP `bob`: Access-Accept with Framed-Pool;
//! - MS-CHAPv2 `carol`: Access-Accept whose MS-CHAP2-Success carries the authenticator
//!   response RFC 2759 §8.7 computes from the password (so the server really checked it);
//! - PAP `alice` and MS-CHAPv2 `carol` with a wrong password: Access-Reject;
//! - accounting Start, Interim-Update, Stop for `alice` (session `--session`) with non-zero
//!   counters, output octets above 4 GiB on Stop (Acct-Output-Gigawords).
//!
//! Then, with `--dae ADDR:PORT`, a DAE listener (RFC 5176) for `--dae-client`: a
//! Disconnect- or CoA-Request naming Acct-Session-Id `--session` is ACKed, anything else
//! NAKed with Error-Cause 503 (Session-Context-Not-Found), an unsupported attribute with 401.
//! It stops after `--dae-requests` answered requests or `--dae-wait` seconds.
//!
//! Output: one line per result, `test=<name> result=ok|FAIL key=value ...`, then the
//! counters. Exit status 1 if any result was unexpected or a reply was dropped as invalid.
//!
//! usage: radius_probe --server IP --secret SECRET [--password secret] [--wrong-password x]
//!        [--nas-ip IP] [--session ID] [--pap-user alice] [--chap-user bob]
//!        [--mschap-user carol] [--expect-pap-ip 100.64.0.10] [--expect-mschap-ip 100.64.0.12]
//!        [--expect-pool subscribers] [--timeout-ms 2000]
//!        [--dae ADDR:PORT --dae-client IP [--dae-requests N] [--dae-wait SECS]]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use controlplane::ppp::auth;
use controlplane::radius::client::{
    AccessRequest, AcctRequest, AcctStatus, Auth, AuthAttrs, Client, ClientResult, Config, Server,
};
use controlplane::radius::dae::{DaeAnswer, DaeClient, DaeKind, DaeServer, ErrorCause};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Result<Args, String> {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let Some(k) = k.strip_prefix("--") else {
                return Err(format!("unexpected argument {k:?}"));
            };
            let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
            m.insert(k.to_owned(), v);
        }
        Ok(Args(m))
    }
    fn get(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_owned())
    }
    fn need(&self, k: &str) -> Result<String, String> {
        self.0
            .get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    }
}

/// Prints results and remembers whether any was unexpected.
#[derive(Default)]
struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, test: &str, ok: bool, detail: &str) {
        self.failed |= !ok;
        let r = if ok { "ok" } else { "FAIL" };
        println!("test={test} result={r} {detail}");
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).replace(' ', "_")
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request through the client: sends, retransmits, waits for its event.
fn exchange(
    c: &mut Client,
    sock: &UdpSocket,
    submit: impl FnOnce(&mut Client, Instant) -> Result<(), String>,
) -> Result<ClientResult, String> {
    submit(c, Instant::now())?;
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

fn describe(r: &ClientResult) -> String {
    match r {
        ClientResult::Accept(a) => format!(
            "code=accept framed_ip={} framed_pool={} session_timeout={} interim={} ms_chap2_success={}",
            opt(a.framed_ip),
            a.framed_pool.as_deref().map_or("-".into(), text),
            opt(a.session_timeout),
            opt(a.acct_interim_interval),
            a.ms_chap2_success.as_deref().map_or("-".into(), |s| {
                // Ident byte, then the text.
                format!("{:02x}:{}", s[0], text(&s[1..]))
            }),
        ),
        ClientResult::Reject {
            reply_message,
            ms_chap_error,
        } => format!(
            "code=reject reply_message={} ms_chap_error={}",
            reply_message.as_deref().map_or("-".into(), text),
            ms_chap_error
                .as_deref()
                .map_or("-".into(), |e| format!("{:02x}:{}", e[0], text(&e[1..]))),
        ),
        ClientResult::Challenge { .. } => "code=challenge".into(),
        ClientResult::Timeout => "code=timeout".into(),
        ClientResult::AcctOk => "code=acct-response".into(),
        ClientResult::AcctFailed => "code=acct-failed".into(),
    }
}

fn accept(r: &ClientResult) -> Option<&AuthAttrs> {
    match r {
        ClientResult::Accept(a) => Some(a),
        _ => None,
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("radius_probe: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let args = Args::parse()?;
    let server: IpAddr = args
        .need("server")?
        .parse()
        .map_err(|e| format!("--server: {e}"))?;
    let secret = args.need("secret")?.into_bytes();
    let password = args.get("password", "secret");
    let wrong = args.get("wrong-password", "not-the-password");
    let session = args.get("session", "vr2-0001");
    let pap_user = args.get("pap-user", "alice");
    let chap_user = args.get("chap-user", "bob");
    let ms_user = args.get("mschap-user", "carol");
    let pap_ip: Ipv4Addr = args
        .get("expect-pap-ip", "100.64.0.10")
        .parse()
        .map_err(|e| format!("--expect-pap-ip: {e}"))?;
    let ms_ip: Ipv4Addr = args
        .get("expect-mschap-ip", "100.64.0.12")
        .parse()
        .map_err(|e| format!("--expect-mschap-ip: {e}"))?;
    let pool = args.get("expect-pool", "subscribers");
    let timeout_ms: u64 = args
        .get("timeout-ms", "2000")
        .parse()
        .map_err(|e| format!("--timeout-ms: {e}"))?;

    let mut cfg = Config::new("varouter-probe");
    cfg.auth_servers.push(Server {
        addr: SocketAddr::new(server, 1812),
        secret: secret.clone(),
    });
    cfg.acct_servers.push(Server {
        addr: SocketAddr::new(server, 1813),
        secret: secret.clone(),
    });
    cfg.source_ports = 1;
    cfg.timeout = Duration::from_millis(timeout_ms);
    cfg.retries = 1;
    if let Some(ip) = args.0.get("nas-ip") {
        cfg.nas_ip = Some(ip.parse().map_err(|e| format!("--nas-ip: {e}"))?);
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Client::new(cfg, rng.next_u64());
    let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let mut rep = Report::default();
    let mut tag = 0u64;
    let mut next_tag = || {
        tag += 1;
        tag
    };

    // PAP alice.
    let t = next_tag();
    let r = exchange(&mut c, &sock, |c, now| {
        let a = Auth::Pap {
            password: password.clone().into_bytes(),
        };
        c.access_request(now, AccessRequest::ppp(&pap_user, a, &session, t))
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    let ok = accept(&r).is_some_and(|a| {
        a.framed_ip == Some(pap_ip)
            && a.session_timeout.is_some()
            && a.acct_interim_interval.is_some()
    });
    rep.line("pap", ok, &format!("user={pap_user} {}", describe(&r)));
    let class = accept(&r).map(|a| a.class.clone()).unwrap_or_default();

    // CHAP bob.
    let t = next_tag();
    let mut challenge = [0u8; 16];
    rng.fill_bytes(&mut challenge);
    let id = (rng.next_u32() & 0xff) as u8;
    let r = exchange(&mut c, &sock, |c, now| {
        let a = Auth::Chap {
            id,
            challenge: challenge.to_vec(),
            response: auth::chap_md5_response(id, password.as_bytes(), &challenge),
        };
        c.access_request(now, AccessRequest::ppp(&chap_user, a, "vr2-chap", t))
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    let ok = accept(&r).is_some_and(|a| {
        a.framed_pool.as_deref() == Some(pool.as_bytes()) && a.framed_ip.is_none()
    });
    rep.line("chap", ok, &format!("user={chap_user} {}", describe(&r)));

    // MS-CHAPv2 carol, right and wrong password.
    for (test, pw, want_accept) in [
        ("mschapv2", password.as_str(), true),
        ("mschapv2-wrong-password", wrong.as_str(), false),
    ] {
        let t = next_tag();
        let (mut ac, mut pc) = ([0u8; 16], [0u8; 16]);
        rng.fill_bytes(&mut ac);
        rng.fill_bytes(&mut pc);
        let ident = (rng.next_u32() & 0xff) as u8;
        let nt = auth::generate_nt_response(&ac, &pc, ms_user.as_bytes(), pw);
        let r = exchange(&mut c, &sock, |c, now| {
            let a = Auth::MsChapV2 {
                ident,
                auth_challenge: ac,
                peer_challenge: pc,
                nt_response: nt,
                flags: 0,
            };
            c.access_request(now, AccessRequest::ppp(&ms_user, a, "vr2-mschap", t))
                .map(drop)
                .map_err(|e| e.to_string())
        })?;
        let ok = if want_accept {
            let want =
                auth::generate_authenticator_response(&password, &nt, &pc, &ac, ms_user.as_bytes());
            accept(&r).is_some_and(|a| {
                a.framed_ip == Some(ms_ip)
                    && a.ms_chap2_success.as_deref().is_some_and(|s| {
                        s.len() > 1
                            && s[0] == ident
                            && s[1..].starts_with(want.as_bytes())
                            && auth::check_authenticator_response(
                                &password,
                                &nt,
                                &pc,
                                &ac,
                                ms_user.as_bytes(),
                                &s[1..],
                            )
                    })
            })
        } else {
            matches!(r, ClientResult::Reject { .. })
        };
        let verdict = if want_accept {
            " authenticator_response="
        } else {
            ""
        };
        let extra = if want_accept {
            if ok {
                "valid"
            } else {
                "invalid"
            }
        } else {
            ""
        };
        rep.line(
            test,
            ok,
            &format!(
                "user={ms_user} ident={ident:02x} {}{verdict}{extra}",
                describe(&r)
            ),
        );
    }

    // PAP with a wrong password.
    let t = next_tag();
    let r = exchange(&mut c, &sock, |c, now| {
        let a = Auth::Pap {
            password: wrong.clone().into_bytes(),
        };
        c.access_request(now, AccessRequest::ppp(&pap_user, a, "vr2-wrong", t))
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    let ok = matches!(r, ClientResult::Reject { .. });
    rep.line(
        "pap-wrong-password",
        ok,
        &format!("user={pap_user} {}", describe(&r)),
    );

    // Accounting: Start, Interim-Update, Stop.
    let base = AcctRequest {
        acct_session_id: session.clone(),
        user: pap_user.clone(),
        framed_ip: Some(pap_ip),
        nas_port: Some(1),
        class,
        ..Default::default()
    };
    let records = [
        ("acct-start", AcctStatus::Start, 0, 0, 0, 0, 0, None),
        (
            "acct-interim",
            AcctStatus::Interim,
            1000,
            2000,
            10,
            20,
            10,
            None,
        ),
        // 4 GiB + 7 out: Acct-Output-Gigawords 1, Acct-Output-Octets 7.
        (
            "acct-stop",
            AcctStatus::Stop,
            5000,
            (1u64 << 32) + 7,
            50,
            3_000_000,
            20,
            Some(5), // Session-Timeout
        ),
    ];
    for (test, status, inp, out, in_pkts, out_pkts, time, cause) in records {
        let t = next_tag();
        let req = AcctRequest {
            status: Some(status),
            input_octets: inp,
            output_octets: out,
            input_packets: in_pkts,
            output_packets: out_pkts,
            session_time: time,
            terminate_cause: cause,
            event_timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs() as u32),
            tag: t,
            ..base.clone()
        };
        let r = exchange(&mut c, &sock, |c, now| {
            c.accounting(now, req).map(drop).map_err(|e| e.to_string())
        })?;
        rep.line(
            test,
            r == ClientResult::AcctOk,
            &format!(
                "session={session} in={inp} out={out} in_pkts={in_pkts} out_pkts={out_pkts} time={time} {}",
                describe(&r)
            ),
        );
    }

    let k = *c.counters();
    let drops = k.drop_malformed
        + k.drop_unknown_id
        + k.drop_unknown_source
        + k.drop_unexpected_code
        + k.drop_bad_authenticator
        + k.drop_missing_message_authenticator
        + k.drop_bad_message_authenticator;
    rep.line(
        "client-counters",
        drops == 0 && k.timeouts == 0 && k.acct_failures == 0,
        &format!(
            "accepts={} rejects={} acct_responses={} retransmits={} timeouts={} acct_failures={} \
             drop_malformed={} drop_unknown_id={} drop_unknown_source={} drop_unexpected_code={} \
             drop_bad_authenticator={} drop_missing_message_authenticator={} drop_bad_message_authenticator={}",
            k.accepts,
            k.rejects,
            k.acct_responses,
            k.retransmits,
            k.timeouts,
            k.acct_failures,
            k.drop_malformed,
            k.drop_unknown_id,
            k.drop_unknown_source,
            k.drop_unexpected_code,
            k.drop_bad_authenticator,
            k.drop_missing_message_authenticator,
            k.drop_bad_message_authenticator
        ),
    );

    if let Some(addr) = args.0.get("dae") {
        let addr: SocketAddr = addr.parse().map_err(|e| format!("--dae: {e}"))?;
        let peer: IpAddr = args
            .need("dae-client")?
            .parse()
            .map_err(|e| format!("--dae-client: {e}"))?;
        let want: usize = args
            .get("dae-requests", "3")
            .parse()
            .map_err(|e| format!("--dae-requests: {e}"))?;
        let wait: u64 = args
            .get("dae-wait", "30")
            .parse()
            .map_err(|e| format!("--dae-wait: {e}"))?;
        dae(&mut rep, addr, peer, &secret, &session, want, wait)?;
    }
    Ok(!rep.failed)
}

fn dae(
    rep: &mut Report,
    addr: SocketAddr,
    peer: IpAddr,
    secret: &[u8],
    session: &str,
    want: usize,
    wait: u64,
) -> Result<(), String> {
    let sock = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let mut d = DaeServer::new(vec![DaeClient {
        addr: peer,
        secret: secret.to_vec(),
    }]);
    // The script waits for this line before it sends.
    println!("test=dae-listen result=ok addr={addr} client={peer}");
    let give_up = Instant::now() + Duration::from_secs(wait);
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    while answered < want && Instant::now() < give_up {
        let now = Instant::now();
        if d.poll_timeout().is_some_and(|t| t <= now) {
            d.handle_timeout(now);
        }
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e.to_string()),
        };
        if let Some(req) = d.handle_datagram(Instant::now(), src, &buf[..n]) {
            let known = req.identifies.acct_session_id.as_deref() == Some(session.as_bytes());
            let verdict = if !req.unsupported.is_empty() {
                DaeAnswer::Nak(ErrorCause::UnsupportedAttribute)
            } else if known {
                DaeAnswer::Ack
            } else {
                DaeAnswer::Nak(ErrorCause::SessionContextNotFound)
            };
            let (dst, bytes) = d
                .answer(Instant::now(), req.handle, verdict)
                .map_err(|e| e.to_string())?;
            sock.send_to(&bytes, dst).map_err(|e| e.to_string())?;
            answered += 1;
            let kind = match req.kind {
                DaeKind::Disconnect => "disconnect",
                DaeKind::Coa => "coa",
            };
            let verdict = match verdict {
                DaeAnswer::Ack => "ack".to_owned(),
                DaeAnswer::Nak(c) => format!("nak error_cause={}", c as u32),
            };
            rep.line(
                "dae",
                true,
                &format!(
                    "kind={kind} from={src} id={} session={} user={} session_timeout={} unsupported={:?} answer={verdict} reply={}",
                    req.id,
                    req.identifies
                        .acct_session_id
                        .as_deref()
                        .map_or("-".into(), text),
                    req.identifies.user_name.as_deref().map_or("-".into(), text),
                    opt(req.changes.session_timeout),
                    req.unsupported,
                    hex(&bytes[..4]),
                ),
            );
        }
        while let Some((dst, bytes)) = d.poll_transmit() {
            sock.send_to(&bytes, dst).map_err(|e| e.to_string())?;
        }
    }
    let k = *d.counters();
    // Requests without a Message-Authenticator are dropped on purpose (the script sends one
    // to check that): reported, not a failure. Bad authenticators are interop failures.
    rep.line(
        "dae-counters",
        answered == want
            && k.drop_malformed == 0
            && k.drop_bad_authenticator == 0
            && k.drop_bad_message_authenticator == 0
            && k.drop_unknown_client == 0,
        &format!(
            "answered={answered} expected={want} acks={} naks={} duplicates_resent={} \
             drop_unknown_client={} drop_malformed={} drop_bad_authenticator={} \
             drop_missing_message_authenticator={} drop_bad_message_authenticator={}",
            k.acks,
            k.naks,
            k.duplicates_resent,
            k.drop_unknown_client,
            k.drop_malformed,
            k.drop_bad_authenticator,
            k.drop_missing_message_authenticator,
            k.drop_bad_message_authenticator
        ),
    );
    Ok(())
}
