//! Subscribers of a VR's LNS: PPP terminated on the control core, authenticated by the
//! VR's RADIUS servers (or local users), given addresses from the VR's pools, and routed
//! back into their L2TP session by the workers.

pub mod config;
pub mod pool;
