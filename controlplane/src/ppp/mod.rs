//! PPP (RFC 1661) for the L2TP LNS/LAC: wire format, authentication crypto and a sans-IO
//! per-link engine.
//!
//! Work in progress: see [`engine`] for what the state machine does.

pub mod auth;
pub mod engine;
pub mod wire;
