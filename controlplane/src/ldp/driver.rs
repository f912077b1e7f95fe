//! Socket driver of the LDP speaker: link Hellos over UDP 646 and sessions over TCP 646,
//! `std::net` sockets (set up with socket2) in nonblocking mode, polled.
//!
//! [`Driver::poll`] receives Hellos (to [`Speaker::handle_hello`]), accepts connections on
//! the transport address ([`Speaker::handle_accepted`] says whether to keep them), completes
//! connects the engine asked for, reads sessions, runs due timers, then carries out the
//! engine's [`Transmit`]s: a Hello goes to 224.0.0.2 on every configured interface (TTL 1,
//! `IP_MULTICAST_IF` set per interface), session bytes are written (what the socket does not
//! take is kept for the next poll), Close shuts the connection down once its bytes are out.
//! The caller takes events with `driver.speaker().poll_event()` and sleeps at most until
//! [`Driver::next_wakeup`] (there is no readiness API in `std`; the example polls every few
//! milliseconds).
//!
//! Connects are nonblocking (socket2, bound to the transport address first so the passive
//! peer sees the address it knows from our Hellos); completion is found with `SO_ERROR` and
//! `getpeername`, and a connect not done within [`CONNECT_TIMEOUT`] fails.
//!
//! Backpressure: a session with more than [`MAX_UNSENT`] bytes waiting is not read until
//! the socket takes them.
//!
//! Limits: IPv4 only; one UDP socket for all interfaces (Hellos are matched to peers by LSR
//! Id, not by interface); no TCP MD5 signature option.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::engine::{Speaker, Transmit};
use super::wire::{ALL_ROUTERS, PORT};

/// Bytes waiting to be written above which a session is not read.
pub const MAX_UNSENT: usize = 1 << 20;
/// How long a TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the driver listens and sends.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Addresses of the interfaces LDP runs on (Hellos go out of each; the group is joined on
    /// each).
    pub interfaces: Vec<Ipv4Addr>,
    /// UDP and TCP port (646; another one only for tests between two local speakers).
    pub port: u16,
    /// Loop our multicast Hellos back to this host (off; on only for tests where two
    /// speakers share a host, e.g. on 127.0.0.x — each ignores its own Hellos).
    pub multicast_loop: bool,
}

impl DriverConfig {
    /// LDP on these interface addresses, port 646.
    pub fn new(interfaces: Vec<Ipv4Addr>) -> Self {
        DriverConfig {
            interfaces,
            port: PORT,
            multicast_loop: false,
        }
    }
}

/// Counters of the driver (the engine has its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverCounters {
    pub udp_send_errors: u64,
    pub udp_recv_errors: u64,
    pub tcp_accepted: u64,
    pub tcp_refused: u64,
    pub tcp_errors: u64,
    pub connect_timeouts: u64,
    /// Session bytes the engine produced for a peer with no connection (dropped).
    pub sends_without_connection: u64,
}

#[derive(Debug)]
struct Conn {
    stream: Option<TcpStream>,
    connecting: Option<(Socket, Instant)>,
    out: Vec<u8>,
    closing: bool,
}

/// An LDP speaker on sockets (see the [module docs](self)).
#[derive(Debug)]
pub struct Driver {
    speaker: Speaker,
    cfg: DriverConfig,
    udp: UdpSocket,
    listener: TcpListener,
    conns: BTreeMap<Ipv4Addr, Conn>,
    counters: DriverCounters,
}

fn io_err(what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Driver {
    /// Opens the UDP socket (0.0.0.0:port, group joined on every interface) and the TCP
    /// listener on the speaker's transport address.
    pub fn new(speaker: Speaker, cfg: DriverConfig) -> std::io::Result<Self> {
        if cfg.interfaces.is_empty() {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "LDP driver: no interface address given",
            ));
        }
        let udp = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| io_err("LDP UDP socket", e))?;
        udp.set_reuse_address(true)?;
        udp.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, cfg.port)).into())
            .map_err(|e| io_err(&format!("LDP: bind UDP 0.0.0.0:{}", cfg.port), e))?;
        for a in &cfg.interfaces {
            udp.join_multicast_v4(&ALL_ROUTERS, a)
                .map_err(|e| io_err(&format!("LDP: join 224.0.0.2 on {a}"), e))?;
        }
        udp.set_multicast_ttl_v4(1)?;
        udp.set_multicast_loop_v4(cfg.multicast_loop)?;
        udp.set_nonblocking(true)?;
        let transport = speaker.config().transport_address;
        let tcp = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| io_err("LDP TCP socket", e))?;
        tcp.set_reuse_address(true)?;
        tcp.bind(&SocketAddr::from((transport, cfg.port)).into())
            .map_err(|e| io_err(&format!("LDP: bind TCP {transport}:{}", cfg.port), e))?;
        tcp.listen(16)?;
        tcp.set_nonblocking(true)?;
        Ok(Driver {
            speaker,
            cfg,
            udp: udp.into(),
            listener: tcp.into(),
            conns: BTreeMap::new(),
            counters: DriverCounters::default(),
        })
    }

    /// The engine (events, bindings, counters, advertise/withdraw).
    pub fn speaker(&mut self) -> &mut Speaker {
        &mut self.speaker
    }

    /// The engine, read-only (bindings, sessions, counters).
    pub fn speaker_ref(&self) -> &Speaker {
        &self.speaker
    }

    /// The driver's counters.
    pub fn counters(&self) -> &DriverCounters {
        &self.counters
    }

    /// When to poll next at the latest.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.speaker.poll_timeout()
    }

    /// Receives, accepts, connects, reads, runs timers, sends (see the
    /// [module docs](self)). Returns whether anything moved.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut moved = self.recv_hellos(now);
        moved |= self.accept(now);
        self.finish_connects(now);
        moved |= self.read(now);
        if self.speaker.poll_timeout().is_some_and(|t| t <= now) {
            self.speaker.handle_timeout(now);
        }
        self.transmit(now);
        moved |= self.write(now);
        moved
    }

    /// Ends every session with a Shutdown notification and writes what is left.
    pub fn shutdown(&mut self, now: Instant) {
        self.speaker.shutdown(now);
        self.transmit(now);
        self.write(now);
    }

    fn recv_hellos(&mut self, now: Instant) -> bool {
        let mut buf = [0u8; 9000];
        let mut moved = false;
        loop {
            match self.udp.recv_from(&mut buf) {
                Ok((n, SocketAddr::V4(src))) => {
                    moved = true;
                    self.speaker.handle_hello(now, *src.ip(), &buf[..n]);
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return moved,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.counters.udp_recv_errors += 1;
                    tracing::debug!(error = %e, "LDP: UDP receive failed");
                    return moved;
                }
            }
        }
    }

    fn accept(&mut self, now: Instant) -> bool {
        let mut moved = false;
        loop {
            match self.listener.accept() {
                Ok((s, SocketAddr::V4(remote))) => {
                    moved = true;
                    match self.speaker.handle_accepted(now, *remote.ip()) {
                        Some(peer) if !self.conns.contains_key(&peer) => {
                            if s.set_nonblocking(true)
                                .and_then(|_| s.set_nodelay(true))
                                .is_err()
                            {
                                self.counters.tcp_errors += 1;
                                self.speaker.handle_session_closed(now, peer);
                                continue;
                            }
                            self.counters.tcp_accepted += 1;
                            self.conns.insert(
                                peer,
                                Conn {
                                    stream: Some(s),
                                    connecting: None,
                                    out: Vec::new(),
                                    closing: false,
                                },
                            );
                        }
                        Some(peer) => {
                            self.counters.tcp_refused += 1;
                            self.speaker.handle_session_closed(now, peer);
                        }
                        None => self.counters.tcp_refused += 1,
                    }
                }
                Ok(_) => self.counters.tcp_refused += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return moved,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.counters.tcp_errors += 1;
                    tracing::debug!(error = %e, "LDP: accept failed");
                    return moved;
                }
            }
        }
    }

    fn start_connect(&mut self, now: Instant, peer: Ipv4Addr, local: Ipv4Addr, remote: Ipv4Addr) {
        let r = (|| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind(&SocketAddr::from((local, 0)).into())?;
            s.set_nonblocking(true)?;
            match s.connect(&SocketAddr::V4(SocketAddrV4::new(remote, self.cfg.port)).into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            Ok(s)
        })();
        match r {
            Ok(s) => {
                self.conns.insert(
                    peer,
                    Conn {
                        stream: None,
                        connecting: Some((s, now + CONNECT_TIMEOUT)),
                        out: Vec::new(),
                        closing: false,
                    },
                );
            }
            Err(e) => {
                self.counters.tcp_errors += 1;
                tracing::debug!(%peer, %remote, error = %e, "LDP: connect failed");
                self.speaker.handle_connect_failed(now, peer);
            }
        }
    }

    fn finish_connects(&mut self, now: Instant) {
        let peers: Vec<_> = self
            .conns
            .iter()
            .filter(|(_, c)| c.connecting.is_some())
            .map(|(p, _)| *p)
            .collect();
        for peer in peers {
            let c = self.conns.get_mut(&peer).expect("listed");
            let (s, deadline) = c.connecting.as_ref().expect("listed");
            let failed = match s.take_error() {
                Ok(Some(e)) | Err(e) => Some(e.to_string()),
                Ok(None) => None,
            };
            if failed.is_none() && s.peer_addr().is_ok() {
                let (s, _) = c.connecting.take().expect("listed");
                let stream: TcpStream = s.into();
                let _ = stream.set_nodelay(true);
                c.stream = Some(stream);
                self.speaker.handle_connected(now, peer);
                continue;
            }
            if failed.is_some() || *deadline <= now {
                if failed.is_none() {
                    self.counters.connect_timeouts += 1;
                }
                tracing::debug!(%peer, error = ?failed, "LDP: connect did not complete");
                self.conns.remove(&peer);
                self.speaker.handle_connect_failed(now, peer);
            }
        }
    }

    fn read(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let mut buf = [0u8; 16384];
        let peers: Vec<_> = self.conns.keys().copied().collect();
        for peer in peers {
            let c = self.conns.get_mut(&peer).expect("listed");
            let Some(s) = c.stream.as_mut() else { continue };
            if c.out.len() >= MAX_UNSENT || c.closing {
                continue;
            }
            let mut closed = false;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        moved = true;
                        self.speaker.handle_session_input(now, peer, &buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.counters.tcp_errors += 1;
                        tracing::debug!(%peer, error = %e, "LDP: session read failed");
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                self.conns.remove(&peer);
                self.speaker.handle_session_closed(now, peer);
            }
        }
        moved
    }

    fn transmit(&mut self, now: Instant) {
        while let Some(t) = self.speaker.poll_transmit() {
            match t {
                Transmit::Hello(bytes) => {
                    let dst = SocketAddr::from((ALL_ROUTERS, self.cfg.port));
                    let sock = socket2::SockRef::from(&self.udp);
                    for a in &self.cfg.interfaces {
                        let r = sock
                            .set_multicast_if_v4(a)
                            .and_then(|_| self.udp.send_to(&bytes, dst));
                        if let Err(e) = r {
                            self.counters.udp_send_errors += 1;
                            tracing::debug!(interface = %a, error = %e, "LDP: Hello not sent");
                        }
                    }
                }
                Transmit::Connect {
                    peer,
                    local,
                    remote,
                } => self.start_connect(now, peer, local, remote),
                Transmit::Send { peer, bytes } => match self.conns.get_mut(&peer) {
                    Some(c) => c.out.extend_from_slice(&bytes),
                    None => self.counters.sends_without_connection += 1,
                },
                Transmit::Close { peer } => {
                    if let Some(c) = self.conns.get_mut(&peer) {
                        c.closing = true;
                    }
                }
            }
        }
    }

    fn write(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let peers: Vec<_> = self.conns.keys().copied().collect();
        for peer in peers {
            let c = self.conns.get_mut(&peer).expect("listed");
            let Some(s) = c.stream.as_mut() else {
                if c.closing {
                    self.conns.remove(&peer);
                }
                continue;
            };
            let mut failed = false;
            while !c.out.is_empty() {
                match s.write(&c.out) {
                    Ok(0) => break,
                    Ok(n) => {
                        moved = true;
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.counters.tcp_errors += 1;
                        tracing::debug!(%peer, error = %e, "LDP: session write failed");
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                self.conns.remove(&peer);
                self.speaker.handle_session_closed(now, peer);
            } else if c.closing && c.out.is_empty() {
                let _ = s.shutdown(Shutdown::Both);
                self.conns.remove(&peer);
            }
        }
        moved
    }
}
