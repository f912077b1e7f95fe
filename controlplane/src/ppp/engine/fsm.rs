//! The option negotiation automaton of RFC 1661 §4, shared by LCP, IPCP and IPV6CP: states
//! and the per-protocol counters. The transitions live in the engine (they need its
//! transmit queue and the protocol-specific actions), in `Engine::ev_*`, one function per
//! RFC event, each with the RFC 1661 §4.1 state-table column in its match.

use std::time::Instant;

/// RFC 1661 §4.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initial,
    Starting,
    Closed,
    Stopped,
    Closing,
    Stopping,
    ReqSent,
    AckRcvd,
    AckSent,
    Opened,
}

/// One automaton: 24 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fsm {
    pub state: State,
    /// Restart counter (RFC 1661 §4.6).
    pub restart: u8,
    /// Configure-Naks sent since the last Configure-Ack (Max-Failure, §4.6).
    pub failures: u8,
    /// Identifier of our last Configure-Request (or Terminate-Request).
    pub id: u8,
    /// Restart timer.
    pub timer: Option<Instant>,
}

impl Fsm {
    pub const fn new() -> Self {
        Fsm {
            state: State::Initial,
            restart: 0,
            failures: 0,
            id: 0,
            timer: None,
        }
    }
}
