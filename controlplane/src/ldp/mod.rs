//! LDP (RFC 5036) for transport labels hop by hop (issue 15, seed 001 Fig. 13): transit
//! routers learn each PE's label for its loopback and build their swap entries (E -> F)
//! without static configuration.
//!
//! - [`wire`]: PDU header, messages and TLVs, parse and emit with every length checked;
//! - [`engine`]: the sans-IO speaker: link Hello discovery, sessions (§2.5.4 state machine,
//!   KeepAlive), downstream-unsolicited independent distribution with liberal retention,
//!   binding learnt / lost events and counters;
//! - [`driver`]: UDP Hellos and TCP sessions over `std::net` sockets (nonblocking, polled).
//!
//! The appliance runs it on a thread of its own and turns what it learns into label-matrix
//! entries and transport paths (`src/ldp/` of the `varouter` crate). See
//! `docs/protocols/ldp.md` §6.

pub mod driver;
pub mod engine;
pub mod wire;
