//! A UDP-socket driver for the sans-IO engine: std `UdpSocket`, a read timeout set from
//! [`Engine::poll_timeout`], no threads. Used by tests, examples and interop runs against
//! xl2tpd; the appliance drives the same engine from punt/inject rings instead.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::l2tp::engine::{Engine, Event};

/// An engine bound to a UDP socket.
pub struct UdpDriver<R: Rng> {
    socket: UdpSocket,
    engine: Engine<R>,
    buf: Vec<u8>,
}

impl<R: Rng> UdpDriver<R> {
    /// Binds `local` (usually port 1701) for `engine`.
    pub fn bind(local: SocketAddr, engine: Engine<R>) -> io::Result<Self> {
        let socket = UdpSocket::bind(local)?;
        Ok(UdpDriver {
            socket,
            engine,
            buf: vec![0u8; 65536],
        })
    }

    /// The engine (to open tunnels and sessions, read counters).
    pub fn engine(&mut self) -> &mut Engine<R> {
        &mut self.engine
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn flush(&mut self) -> io::Result<()> {
        while let Some(t) = self.engine.poll_transmit() {
            match self.socket.send_to(&t.bytes, t.dst) {
                Ok(_) => {}
                // A peer that is not there yet (ICMP unreachable) is the engine's business:
                // it retransmits and eventually clears the tunnel.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends what is pending, waits for at most `max_wait` (less if an engine timer is due
    /// sooner) for one datagram, runs due timers, and returns the events that occurred.
    pub fn poll(&mut self, max_wait: Duration) -> io::Result<Vec<Event>> {
        self.flush()?;
        let now = Instant::now();
        let wait = self
            .engine
            .poll_timeout()
            .map_or(max_wait, |t| t.saturating_duration_since(now).min(max_wait))
            .max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(wait))?;
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, src)) => {
                let now = Instant::now();
                self.engine.handle_input(now, src, &self.buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        self.flush()?;
        let mut events = Vec::new();
        while let Some(ev) = self.engine.poll_event() {
            events.push(ev);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::engine::{CallParams, Config, Role};
    use rand::SeedableRng;

    #[test]
    fn two_drivers_over_loopback() {
        let mut lac_cfg = Config::new(Role::Lac, "lac");
        lac_cfg.secret = Some(b"s".to_vec());
        let mut lns_cfg = Config::new(Role::Lns, "lns");
        lns_cfg.secret = Some(b"s".to_vec());
        let rng = |s| rand::rngs::StdRng::seed_from_u64(s);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut lns = UdpDriver::bind(any, Engine::new(lns_cfg, rng(1))).unwrap();
        let mut lac = UdpDriver::bind(any, Engine::new(lac_cfg, rng(2))).unwrap();
        let lns_addr = lns.local_addr().unwrap();
        let t = lac.engine().open_tunnel(Instant::now(), lns_addr).unwrap();
        lac.engine()
            .open_session(Instant::now(), t, CallParams::default())
            .unwrap();
        let mut up = (0, 0);
        for _ in 0..200 {
            for ev in lac.poll(Duration::from_millis(5)).unwrap() {
                up.0 += usize::from(matches!(ev, Event::SessionUp { .. }));
            }
            for ev in lns.poll(Duration::from_millis(5)).unwrap() {
                up.1 += usize::from(matches!(ev, Event::SessionUp { .. }));
            }
            if up == (1, 1) {
                break;
            }
        }
        assert_eq!(up, (1, 1));
    }
}
