//! The data plane: packet buffers, port backends, the forwarding pipeline and the worker
//! loop. Packet headers are read and written with the views of the `wire` crate.
//!
//! Workers read the compiled tables of the `vr` and `labelswitch` crates (published as
//! whole versions, never locked), process bursts of packets through [`pipeline`], buffer
//! transmissions per port, and hand packets for the router itself to the control core over
//! per-worker single-producer rings ([`punt`]). Nothing here allocates, locks or logs per
//! packet.

pub mod buffer;
pub mod counters;
pub mod pipeline;
pub mod port;
pub mod punt;
pub mod worker;
