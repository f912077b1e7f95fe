//! Reliable delivery of control messages (RFC 2661 §5.8).
//!
//! Ns/Nr sequence numbers per tunnel, a send window sized by the peer's Receive Window Size,
//! out-of-order messages buffered up to our own window, ZLB acknowledgements when no message
//! carries Nr back in time, and retransmission of unacknowledged messages with an exponentially
//! growing timeout capped at `retransmit_cap`; after `max_retransmits` the tunnel is cleared.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::l2tp::wire::{ControlMessage, L2tpPacket};

/// `a < b` in sequence-number space (modulo 2^16).
pub fn seq_lt(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

struct Sent {
    bytes: Vec<u8>,
    ns: u16,
}

/// Verdict on a received, sequenced (non-ZLB) message.
#[derive(Debug, PartialEq, Eq)]
pub enum Receive {
    /// These messages are now deliverable, in order.
    Deliver(Vec<ControlMessage>),
    /// Already received: re-acknowledge.
    Duplicate,
    /// Ahead of the next expected Ns and within our window: kept.
    Buffered,
    /// Beyond our window: dropped.
    OutOfWindow,
}

/// Sequencing state of one control connection.
pub struct Reliable {
    /// Next Ns to send.
    pub ns: u16,
    /// Next Ns expected from the peer (our Nr).
    pub nr: u16,
    /// How many unacknowledged messages the peer accepts.
    pub peer_window: u16,
    local_window: u16,
    unacked: VecDeque<Sent>,
    waiting: VecDeque<ControlMessage>,
    reorder: BTreeMap<u16, ControlMessage>,
    rto: Duration,
    rto_at: Option<Instant>,
    retries: u32,
    /// When a ZLB must go out if no message carried our Nr before.
    pub ack_due: Option<Instant>,
}

/// Timer parameters.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub initial: Duration,
    pub cap: Duration,
    pub max_retransmits: u32,
    pub ack_delay: Duration,
}

/// Outcome of a retransmission timeout.
pub enum Expired {
    Nothing,
    Retransmit(Vec<Vec<u8>>),
    GaveUp,
}

impl Reliable {
    pub fn new(local_window: u16, initial_rto: Duration) -> Self {
        Reliable {
            ns: 0,
            nr: 0,
            peer_window: 4,
            local_window: local_window.max(1),
            unacked: VecDeque::new(),
            waiting: VecDeque::new(),
            reorder: BTreeMap::new(),
            rto: initial_rto,
            rto_at: None,
            retries: 0,
            ack_due: None,
        }
    }

    /// Queues a message for sending (Ns/Nr are assigned when it enters the window).
    pub fn enqueue(&mut self, m: ControlMessage) {
        self.waiting.push_back(m);
    }

    /// Drops messages that have not entered the window yet.
    pub fn enqueue_clear(&mut self) {
        self.waiting.clear();
    }

    /// Gives up on everything unacknowledged or waiting (the peer closed the tunnel: what
    /// we had in flight is moot); received messages are still acknowledged.
    pub fn abandon(&mut self) {
        self.unacked.clear();
        self.waiting.clear();
        self.rto_at = None;
        self.retries = 0;
    }

    /// Messages unacknowledged or waiting to enter the window.
    pub fn pending(&self) -> usize {
        self.unacked.len() + self.waiting.len()
    }

    /// Whether anything is unacknowledged or waiting.
    pub fn idle(&self) -> bool {
        self.unacked.is_empty() && self.waiting.is_empty()
    }

    /// Moves waiting messages into the window; returns the (message, bytes) to send now.
    pub fn flush(
        &mut self,
        now: Instant,
        t: &Timers,
        mut encode: impl FnMut(&ControlMessage) -> Option<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.unacked.len() < usize::from(self.peer_window.max(1)) {
            let Some(mut m) = self.waiting.pop_front() else {
                break;
            };
            m.ns = self.ns;
            m.nr = self.nr;
            let Some(bytes) = encode(&m) else { continue };
            self.ns = self.ns.wrapping_add(1);
            if self.unacked.is_empty() {
                self.rto = t.initial;
                self.rto_at = Some(now + self.rto);
                self.retries = 0;
            }
            self.unacked.push_back(Sent {
                bytes: bytes.clone(),
                ns: m.ns,
            });
            out.push(bytes);
            self.ack_due = None;
        }
        out
    }

    /// Processes the peer's Nr: drops acknowledged messages, restarts the timer on progress.
    pub fn on_ack(&mut self, nr: u16, now: Instant, t: &Timers) {
        let before = self.unacked.len();
        while let Some(s) = self.unacked.front() {
            // Ignore an Nr that acknowledges messages we never sent.
            if seq_lt(s.ns, nr) && !seq_lt(self.ns, nr) {
                self.unacked.pop_front();
            } else {
                break;
            }
        }
        if self.unacked.len() != before {
            self.retries = 0;
            self.rto = t.initial;
            self.rto_at = (!self.unacked.is_empty()).then(|| now + self.rto);
        }
    }

    /// Sequences a received message with Ns `ns`.
    pub fn on_receive(&mut self, m: ControlMessage, now: Instant, t: &Timers) -> Receive {
        let ns = m.ns;
        if ns == self.nr {
            let mut out = vec![m];
            self.nr = self.nr.wrapping_add(1);
            while let Some(next) = self.reorder.remove(&self.nr) {
                out.push(next);
                self.nr = self.nr.wrapping_add(1);
            }
            self.ack_due.get_or_insert(now + t.ack_delay);
            Receive::Deliver(out)
        } else if seq_lt(ns, self.nr) {
            self.ack_due = Some(now);
            Receive::Duplicate
        } else if ns.wrapping_sub(self.nr) < self.local_window {
            self.reorder.insert(ns, m);
            self.ack_due = Some(now);
            Receive::Buffered
        } else {
            Receive::OutOfWindow
        }
    }

    /// Earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.rto_at, self.ack_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmission timer: resend every unacknowledged message with the current Nr.
    pub fn on_timeout(&mut self, now: Instant, t: &Timers) -> Expired {
        match self.rto_at {
            Some(at) if at <= now => {}
            _ => return Expired::Nothing,
        }
        if self.retries >= t.max_retransmits {
            self.rto_at = None;
            return Expired::GaveUp;
        }
        self.retries += 1;
        self.rto = (self.rto * 2).min(t.cap);
        self.rto_at = Some(now + self.rto);
        let nr = self.nr;
        let out = self
            .unacked
            .iter_mut()
            .map(|s| {
                if let Ok(mut p) = L2tpPacket::new_checked(&mut s.bytes[..]) {
                    p.set_nr(nr);
                }
                s.bytes.clone()
            })
            .collect();
        self.ack_due = None;
        Expired::Retransmit(out)
    }

    /// Current retransmission timeout (for tests and metrics).
    pub fn rto(&self) -> Duration {
        self.rto
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::wire::MessageType;

    fn timers() -> Timers {
        Timers {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(8),
            max_retransmits: 5,
            ack_delay: Duration::from_millis(100),
        }
    }

    #[test]
    fn seq_arithmetic_wraps() {
        assert!(seq_lt(1, 2));
        assert!(seq_lt(65535, 0));
        assert!(!seq_lt(0, 65535));
        assert!(!seq_lt(5, 5));
    }

    #[test]
    fn backoff_doubles_and_caps_then_gives_up() {
        let t = timers();
        let t0 = Instant::now();
        let mut r = Reliable::new(4, t.initial);
        r.enqueue(ControlMessage::new(1, 0, MessageType::Hello, vec![]));
        let out = r.flush(t0, &t, |m| m.to_bytes(None).ok());
        assert_eq!(out.len(), 1);
        let mut now = t0;
        let mut gaps = vec![];
        loop {
            let at = r.poll_timeout().unwrap();
            gaps.push((at - now).as_secs());
            now = at;
            match r.on_timeout(now, &t) {
                Expired::Retransmit(v) => assert_eq!(v.len(), 1),
                Expired::GaveUp => break,
                Expired::Nothing => panic!("timer fired without effect"),
            }
        }
        assert_eq!(gaps, vec![1, 2, 4, 8, 8, 8]);
    }

    #[test]
    fn window_limits_in_flight_and_ack_releases() {
        let t = timers();
        let now = Instant::now();
        let mut r = Reliable::new(4, t.initial);
        r.peer_window = 2;
        for _ in 0..5 {
            r.enqueue(ControlMessage::new(1, 0, MessageType::Hello, vec![]));
        }
        assert_eq!(r.flush(now, &t, |m| m.to_bytes(None).ok()).len(), 2);
        r.on_ack(1, now, &t);
        assert_eq!(r.flush(now, &t, |m| m.to_bytes(None).ok()).len(), 1);
        // An Nr for messages never sent is ignored.
        r.on_ack(40, now, &t);
        assert!(!r.idle());
        r.on_ack(3, now, &t);
        assert_eq!(r.flush(now, &t, |m| m.to_bytes(None).ok()).len(), 2);
    }

    #[test]
    fn reorder_and_duplicates() {
        let t = timers();
        let now = Instant::now();
        let mut r = Reliable::new(4, t.initial);
        let msg = |ns| {
            let mut m = ControlMessage::new(1, 0, MessageType::Hello, vec![]);
            m.ns = ns;
            m
        };
        assert_eq!(r.on_receive(msg(1), now, &t), Receive::Buffered);
        assert_eq!(r.on_receive(msg(9), now, &t), Receive::OutOfWindow);
        match r.on_receive(msg(0), now, &t) {
            Receive::Deliver(v) => {
                assert_eq!(v.iter().map(|m| m.ns).collect::<Vec<_>>(), vec![0, 1])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.on_receive(msg(0), now, &t), Receive::Duplicate);
        assert_eq!(r.nr, 2);
    }
}
