//! Host sockets of services: the OSS/BSS side (RADIUS, and later Diameter and the
//! management network) runs over ordinary sockets of the control core, not over data-plane
//! ports. Sockets are non-blocking and polled by the control loop every iteration; a
//! datagram goes to the service that opened the socket. A service can use only its own
//! sockets.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

use crate::service::ServiceId;

/// A socket of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u32);

/// Socket failures, as an operator reads them.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Bind failed.
    #[error("cannot open UDP socket on {addr}: {err}")]
    Open {
        /// The address.
        addr: SocketAddr,
        /// Why.
        err: std::io::Error,
    },
    /// Not a socket of this service.
    #[error("socket {0:?} does not belong to this service")]
    NotOwner(SocketId),
    /// Send failed.
    #[error("cannot send to {to}: {err}")]
    Send {
        /// Destination.
        to: SocketAddr,
        /// Why.
        err: std::io::Error,
    },
    /// The socket buffer is full: the datagram was dropped.
    #[error("socket buffer full, datagram to {0} dropped")]
    WouldBlock(SocketAddr),
}

/// Receive buffer asked for each host socket (the kernel caps it at `net.core.rmem_max`):
/// room for thousands of small datagrams arriving while the loop does other work.
pub const RECV_BUFFER: usize = 4 << 20;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;
/// Datagrams read from one socket per loop iteration.
const READ_BURST: usize = 64;

struct Entry {
    owner: ServiceId,
    sock: UdpSocket,
}

/// The open sockets.
#[derive(Default)]
pub struct Sockets {
    slots: Vec<Option<Entry>>,
    buf: Vec<u8>,
    /// Datagrams received.
    pub rx: u64,
    /// Datagrams sent.
    pub tx: u64,
    /// Send or receive errors.
    pub errors: u64,
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sockets")
            .field("open", &self.slots.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

impl Sockets {
    pub(crate) fn open(
        &mut self,
        owner: ServiceId,
        addr: SocketAddr,
    ) -> Result<SocketId, SocketError> {
        let sock = UdpSocket::bind(addr).map_err(|err| SocketError::Open { addr, err })?;
        sock.set_nonblocking(true)
            .map_err(|err| SocketError::Open { addr, err })?;
        // Best effort: a smaller buffer only means that bursts are lost sooner.
        if let Err(e) = socket2::SockRef::from(&sock).set_recv_buffer_size(RECV_BUFFER) {
            tracing::debug!(%addr, error = %e, "host socket: receive buffer not enlarged");
        }
        let e = Entry { owner, sock };
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(e);
                i
            }
            None => {
                self.slots.push(Some(e));
                self.slots.len() - 1
            }
        };
        Ok(SocketId(i as u32))
    }

    fn entry(&self, owner: ServiceId, id: SocketId) -> Result<&Entry, SocketError> {
        match self.slots.get(id.0 as usize) {
            Some(Some(e)) if e.owner == owner => Ok(e),
            _ => Err(SocketError::NotOwner(id)),
        }
    }

    pub(crate) fn send(
        &mut self,
        owner: ServiceId,
        id: SocketId,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<(), SocketError> {
        let r = match self.entry(owner, id)?.sock.send_to(data, to) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(SocketError::WouldBlock(to)),
            Err(err) => Err(SocketError::Send { to, err }),
        };
        match r {
            Ok(()) => self.tx += 1,
            Err(_) => self.errors += 1,
        }
        r
    }

    pub(crate) fn close(&mut self, owner: ServiceId, id: SocketId) {
        if self.entry(owner, id).is_ok() {
            self.slots[id.0 as usize] = None;
        }
    }

    /// The local address of a socket.
    pub fn local_addr(&self, id: SocketId) -> Option<SocketAddr> {
        self.slots
            .get(id.0 as usize)?
            .as_ref()?
            .sock
            .local_addr()
            .ok()
    }

    /// Reads what arrived: `(owner, socket, source, datagram)`, at most a burst per socket.
    pub(crate) fn poll(&mut self) -> Vec<(ServiceId, SocketId, SocketAddr, Vec<u8>)> {
        let mut got = Vec::new();
        if self.slots.is_empty() {
            return got;
        }
        self.buf.resize(MAX_DATAGRAM, 0);
        for (i, e) in self.slots.iter().enumerate() {
            let Some(e) = e else { continue };
            for _ in 0..READ_BURST {
                match e.sock.recv_from(&mut self.buf) {
                    Ok((n, from)) => {
                        got.push((e.owner, SocketId(i as u32), from, self.buf[..n].to_vec()));
                    }
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        self.errors += 1;
                        break;
                    }
                }
            }
        }
        self.rx += got.len() as u64;
        got
    }

    /// Open sockets.
    pub fn open_count(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}
