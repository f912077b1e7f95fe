//! TCP driver of the Diameter peer engine: `std::net` sockets in nonblocking mode, polled.
//!
//! A [`Connection`] owns one socket and its [`Peer`] engine. [`Connection::poll`] reads what
//! the socket has (feeding [`Peer::handle_input`]; end of stream is
//! [`Peer::handle_transport_closed`]), runs the engine's due timers, and writes what it has
//! to send, keeping the part of a write the socket did not take for the next poll. Once the
//! engine is closed and everything is written, the socket is shut down. The caller takes
//! events with `conn.peer().poll_event()` and sleeps at most until
//! [`Connection::next_wakeup`] between polls (there is no readiness API in `std`, so a
//! caller that wants low latency polls often; the example polls every few milliseconds).
//!
//! Backpressure: when more than [`MAX_UNSENT`] bytes wait to be written (a peer that sends
//! requests and does not read the answers), the connection stops reading until the socket
//! takes them, so TCP flow control holds the peer back instead of our memory growing.
//!
//! [`Client`] keeps a connection to one peer: it reconnects Tc after the connection ended
//! (RFC 6733 §2.1), except after the peer's DPR with DO_NOT_WANT_TO_TALK_TO_YOU (§5.4.3),
//! until [`Client::stop`].
//!
//! Honest limits: [`Connection::connect`] blocks up to the engine's `connect_timeout`
//! (`std` has no nonblocking connect); one thread polls its connections in turn; no TLS, no
//! SCTP; after a reconnection the peer is used at once (the REOPEN state of RFC 3539, three
//! DWAs first, is not done).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rand::Rng;

use super::peer::{Config, DownReason, Event, Peer};
use super::wire::codes::disconnect_cause;

/// Bytes waiting to be written above which a connection stops reading.
pub const MAX_UNSENT: usize = 1 << 20;

/// One Diameter connection over TCP (see the [module docs](self)).
#[derive(Debug)]
pub struct Connection<R> {
    stream: Option<TcpStream>,
    peer: Peer<R>,
    out: Vec<u8>,
    remote: SocketAddr,
    shut: bool,
}

/// With the local address as Host-IP-Address when the configuration names none.
fn with_local_address(mut cfg: Config, s: &TcpStream) -> Config {
    if cfg.host_ip_addresses.is_empty() {
        if let Ok(a) = s.local_addr() {
            cfg.host_ip_addresses.push(a.ip());
        }
    }
    cfg
}

impl<R: Rng> Connection<R> {
    /// Connects to `remote` (blocking up to `cfg.connect_timeout`) and sends the CER. A
    /// failed connect gives a connection whose engine is closed with
    /// `DownReason::ConnectFailed` (see its events).
    pub fn connect(remote: SocketAddr, cfg: Config, rng: R, now: Instant) -> Self {
        let timeout = cfg.connect_timeout;
        match TcpStream::connect_timeout(&remote, timeout).and_then(|s| {
            s.set_nonblocking(true)?;
            s.set_nodelay(true)?;
            Ok(s)
        }) {
            Ok(s) => {
                let mut peer = Peer::connect(with_local_address(cfg, &s), rng, now);
                peer.handle_connected(now);
                Connection {
                    stream: Some(s),
                    peer,
                    out: Vec::new(),
                    remote,
                    shut: false,
                }
            }
            Err(e) => {
                tracing::debug!(%remote, error = %e, "Diameter connect failed");
                let mut peer = Peer::connect(cfg, rng, now);
                peer.handle_connect_failed(now);
                Connection {
                    stream: None,
                    peer,
                    out: Vec::new(),
                    remote,
                    shut: true,
                }
            }
        }
    }

    /// Takes an accepted socket; the engine waits for the peer's CER.
    pub fn accepted(stream: TcpStream, cfg: Config, rng: R, now: Instant) -> std::io::Result<Self> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let remote = stream.peer_addr()?;
        let peer = Peer::accept(with_local_address(cfg, &stream), rng, now);
        Ok(Connection {
            stream: Some(stream),
            peer,
            out: Vec::new(),
            remote,
            shut: false,
        })
    }

    /// The engine (send requests and answers, take events).
    pub fn peer(&mut self) -> &mut Peer<R> {
        &mut self.peer
    }

    /// The remote socket address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the engine is closed and the socket shut down.
    pub fn is_finished(&self) -> bool {
        self.shut
    }

    /// Bytes the engine produced that the socket has not taken yet.
    pub fn unsent(&self) -> usize {
        self.out.len()
    }

    /// When the engine's next timer is due.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.peer.poll_timeout()
    }

    /// Reads, runs due timers, writes (see the [module docs](self)). Returns whether any
    /// byte moved.
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.shut {
            return false;
        }
        let mut moved = self.read(now);
        if self.peer.poll_timeout().is_some_and(|t| t <= now) {
            self.peer.handle_timeout(now);
        }
        moved |= self.write(now);
        if self.peer.is_closed() && self.out.is_empty() {
            if let Some(s) = self.stream.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
            self.shut = true;
        }
        moved
    }

    fn read(&mut self, now: Instant) -> bool {
        let Some(s) = self.stream.as_mut() else {
            return false;
        };
        if self.out.len() >= MAX_UNSENT {
            return false;
        }
        let mut buf = [0u8; 16384];
        let mut moved = false;
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    self.peer.handle_transport_closed(now);
                    return moved;
                }
                Ok(n) => {
                    moved = true;
                    self.peer.handle_input(now, &buf[..n]);
                    while let Some(b) = self.peer.poll_transmit() {
                        self.out.extend_from_slice(&b);
                    }
                    if self.peer.is_closed() || self.out.len() >= MAX_UNSENT {
                        return moved;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return moved,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(remote = %self.remote, error = %e, "Diameter read failed");
                    self.peer.handle_transport_closed(now);
                    return moved;
                }
            }
        }
    }

    fn write(&mut self, now: Instant) -> bool {
        while let Some(b) = self.peer.poll_transmit() {
            self.out.extend_from_slice(&b);
        }
        let Some(s) = self.stream.as_mut() else {
            self.out.clear();
            return false;
        };
        let mut moved = false;
        while !self.out.is_empty() {
            match s.write(&self.out) {
                Ok(0) => break,
                Ok(n) => {
                    moved = true;
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(remote = %self.remote, error = %e, "Diameter write failed");
                    self.out.clear();
                    self.peer.handle_transport_closed(now);
                    break;
                }
            }
        }
        moved
    }
}

/// A connection to one peer that is re-established Tc after it ends (see the
/// [module docs](self)). Events of every connection come out of [`Client::poll_event`].
pub struct Client<R> {
    remote: SocketAddr,
    cfg: Config,
    tc: Duration,
    make_rng: Box<dyn FnMut() -> R + Send>,
    conn: Option<Connection<R>>,
    next_attempt: Option<Instant>,
    events: VecDeque<Event>,
    connects: u64,
    stopped: bool,
    stay_away: bool,
}

impl<R: Rng> Client<R> {
    /// A client that connects to `remote` at the first [`Client::poll`] and `tc` after each
    /// connection ends; `make_rng` gives each connection's engine its RNG.
    pub fn new(
        remote: SocketAddr,
        cfg: Config,
        tc: Duration,
        make_rng: impl FnMut() -> R + Send + 'static,
        now: Instant,
    ) -> Self {
        Client {
            remote,
            cfg,
            tc,
            make_rng: Box::new(make_rng),
            conn: None,
            next_attempt: Some(now),
            events: VecDeque::new(),
            connects: 0,
            stopped: false,
            stay_away: false,
        }
    }

    /// The current connection's engine, if there is a connection.
    pub fn peer(&mut self) -> Option<&mut Peer<R>> {
        self.conn.as_mut().map(Connection::peer)
    }

    /// Connection attempts made so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Whether the client reconnects when the connection ends (not after [`Client::stop`]
    /// or the peer's DO_NOT_WANT_TO_TALK_TO_YOU).
    pub fn will_reconnect(&self) -> bool {
        !self.stopped && !self.stay_away
    }

    /// Reconnect now if no connection is up (e.g. after DO_NOT_WANT_TO_TALK_TO_YOU, when the
    /// caller has a message to send).
    pub fn reconnect_now(&mut self, now: Instant) {
        self.stopped = false;
        self.stay_away = false;
        if self.conn.is_none() {
            self.next_attempt = Some(now);
        }
    }

    /// Disconnects (DPR with `cause` when open) and does not reconnect.
    pub fn stop(&mut self, now: Instant, cause: u32) {
        self.stopped = true;
        self.next_attempt = None;
        if let Some(c) = self.conn.as_mut() {
            c.peer().disconnect(now, cause);
        }
    }

    /// The next event of any of the client's connections.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to poll next at the latest.
    pub fn next_wakeup(&self) -> Option<Instant> {
        match &self.conn {
            Some(c) => c.next_wakeup(),
            None => self.next_attempt,
        }
    }

    /// Connects when due, polls the connection, collects its events, and schedules the
    /// reconnection when it has ended. Returns whether any byte moved.
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.conn.is_none() && self.next_attempt.is_some_and(|t| t <= now) {
            self.next_attempt = None;
            self.connects += 1;
            let rng = (self.make_rng)();
            self.conn = Some(Connection::connect(self.remote, self.cfg.clone(), rng, now));
        }
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        let moved = c.poll(now);
        while let Some(e) = c.peer().poll_event() {
            if let Event::Down {
                reason: DownReason::PeerDisconnect { cause },
                ..
            } = &e
            {
                self.stay_away = *cause == Some(disconnect_cause::DO_NOT_WANT_TO_TALK_TO_YOU);
            }
            self.events.push_back(e);
        }
        if c.is_finished() {
            self.conn = None;
            if self.will_reconnect() {
                self.next_attempt = Some(now + self.tc);
            }
        }
        moved
    }
}
