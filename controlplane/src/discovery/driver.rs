//! UDP driver of the discovery engine: one `std::net` socket in nonblocking mode, polled
//! (like `diameter::driver`).
//!
//! [`UdpDriver::poll`] reads the datagrams the socket has (at most [`RX_BURST`] per call, each
//! fed to [`Engine::handle_input`]), runs the engine's due timers, and sends what the engine
//! has to send to the destination router's discovery address. The caller changes the engine
//! through [`UdpDriver::engine_mut`] (add or remove a VR, install a key), takes events with
//! `driver.engine_mut().poll_event()`, and sleeps at most until [`UdpDriver::next_wakeup`]
//! between polls (there is no readiness API in `std`; a caller polls every few milliseconds).
//!
//! **Addresses.** Each provider router's discovery address is `router id : port` unless the
//! configuration maps the router id to another socket address (the loopback tests run three
//! routers on 127.0.0.1 with different ports). A datagram whose header names sender R is
//! accepted only from R's discovery address (`rx_wrong_source` otherwise): the engine's
//! authentication already refuses forgeries, this stops a key holder from speaking for another
//! router from its own address.
//!
//! Honest limits: one thread, polled; no `SO_REUSEPORT` sharding; a send the socket refuses
//! (`WouldBlock`, an ICMP error reported on the socket) drops the datagram, counted, and the
//! engine's retransmission covers it.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Instant;

use super::engine::Engine;
use super::wire::{Packet, MAX_LEN};

/// Datagrams read per [`UdpDriver::poll`] at most, so that timers and sends are not starved.
pub const RX_BURST: usize = 256;

/// The driver's own counters (the engine counts the protocol's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Datagrams read from the socket.
    pub rx_datagrams: u64,
    /// Datagrams longer than any discovery message (dropped before the engine).
    pub rx_oversize: u64,
    /// Datagrams whose header sender's discovery address is not their source.
    pub rx_wrong_source: u64,
    /// Receive errors other than `WouldBlock` (ICMP errors reported on the socket).
    pub rx_errors: u64,
    /// Datagrams sent.
    pub tx_datagrams: u64,
    /// Datagrams the socket refused (dropped; retransmission covers them).
    pub tx_errors: u64,
}

/// The discovery engine of one router on a UDP socket.
#[derive(Debug)]
pub struct UdpDriver {
    socket: UdpSocket,
    engine: Engine,
    port: u16,
    addresses: BTreeMap<Ipv4Addr, SocketAddr>,
    counters: DriverCounters,
}

impl UdpDriver {
    /// Binds `local` (nonblocking). Router ids absent from `addresses` are reached at
    /// `router id : port of local`.
    pub fn bind(
        local: SocketAddr,
        engine: Engine,
        addresses: BTreeMap<Ipv4Addr, SocketAddr>,
    ) -> io::Result<UdpDriver> {
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        let port = socket.local_addr()?.port();
        Ok(UdpDriver {
            socket,
            engine,
            port,
            addresses,
            counters: DriverCounters::default(),
        })
    }

    /// The discovery address of `router`.
    pub fn address_of(&self, router: Ipv4Addr) -> SocketAddr {
        self.addresses
            .get(&router)
            .copied()
            .unwrap_or(SocketAddr::V4(SocketAddrV4::new(router, self.port)))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads, runs due timers, sends (see the [module docs](self)).
    pub fn poll(&mut self, now: Instant) {
        let mut buf = [0u8; MAX_LEN + 1];
        for _ in 0..RX_BURST {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    self.counters.rx_datagrams += 1;
                    if n > MAX_LEN {
                        self.counters.rx_oversize += 1;
                        continue;
                    }
                    let bytes = &buf[..n];
                    // A datagram too short for a header goes to the engine, which counts it
                    // malformed; one with a header must come from its sender's address.
                    if let Ok(p) = Packet::new_checked(bytes) {
                        if self.address_of(p.sender()) != from {
                            self.counters.rx_wrong_source += 1;
                            continue;
                        }
                    }
                    self.engine.handle_input(now, bytes);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.counters.rx_errors += 1;
                }
            }
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        self.flush();
    }

    /// Sends what the engine has queued (also done by [`UdpDriver::poll`]).
    pub fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            let to = self.address_of(t.dst);
            match self.socket.send_to(&t.payload, to) {
                Ok(_) => self.counters.tx_datagrams += 1,
                Err(e) => {
                    self.counters.tx_errors += 1;
                    tracing::debug!(%to, error = %e, "discovery datagram not sent");
                }
            }
        }
    }

    /// When [`UdpDriver::poll`] must run at the latest (datagrams may arrive before).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to add or remove VRs and take events; call [`UdpDriver::flush`] (or
    /// [`UdpDriver::poll`]) afterwards to send what that queued.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The driver's counters.
    pub fn counters(&self) -> &DriverCounters {
        &self.counters
    }
}
