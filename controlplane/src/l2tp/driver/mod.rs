//! Drivers that connect the sans-IO engine to I/O.

pub mod udp;
pub mod vr;
