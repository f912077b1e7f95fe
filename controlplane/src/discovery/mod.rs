//! VR discovery (seed 001 Fig. 7, issue 15): how a virtual router learns the other VRs of its
//! VPN across the provider network. The protocol is defined in
//! `docs/protocols/vr-discovery.md`.
//!
//! [`wire`] is the message codec (authenticated encryption with a per-VPN key, replay window),
//! [`engine`] the sans-IO engine of one router that keeps the configuration map of each local
//! VR. [`sim`] is a deterministic simulated network (virtual clock, seeded loss, duplication
//! and reordering) that the simulations and `varouter bench discovery` drive engines with.
//! [`driver`] runs an engine on a nonblocking UDP socket (the `discovery_router` example runs
//! one router from a JSON file). [`service`] runs an engine as a service of the control core
//! on a host socket: the appliance's `discovery:` profile section, its VRs' lifecycle, the
//! maps shown by the management API and `varouter ctl vr map`, map changes raised as
//! `controlcore::Event::VrPeer` for the L2TP control channels (later work of issue 15).

pub mod driver;
pub mod engine;
pub mod service;
pub mod sim;
pub mod wire;

pub use engine::{Config, ConfigError, Counters, Engine, Event, Transmit};
