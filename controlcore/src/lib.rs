//! The control core of varouter: one control loop for every port backend, the interface
//! protocol services plug into, one timer structure, and incremental publishing of the
//! forwarding state.
//!
//! Layering (see `docs/architecture.md`): `wire` (packet views) ← `vr`, `labelswitch`
//! (tables) ← `dataplane` (buffers, pipeline, workers, port backends) ← **`controlcore`**
//! (this crate: [`run`] loop, [`core::Core`], [`service::Service`]) ← `controlplane`
//! (sans-IO protocol engines and their services) ← the `varouter` binary (profiles,
//! backends' bring-up, reload).
//!
//! * [`run::run`] starts the workers of any [`run::Backend`] and runs the loop: punts in,
//!   timers, host sockets, the supervisor (statistics, reload), publication.
//! * [`core::Core`] dispatches each punt to the [`service::Service`] that registered for
//!   its reason (or UDP port), hands services a [`service::Ctx`] to answer with frames,
//!   packets routed in a VR, table changes, timers, events and host datagrams, and
//!   publishes table changes through the incremental writer ([`vr::StateWriter`]).
//! * [`timers::Timers`] holds every service's deadlines in one ordered set.
//!
//! Adding a protocol: a `wire` module (or a codec in the protocol's own module), a sans-IO
//! engine, a [`service::Service`] adapter, a profile section, tests. Nothing here changes.
#![forbid(unsafe_code)]

pub mod core;
pub mod latency;
pub mod run;
pub mod service;
pub mod sockets;
pub mod timers;

pub use dataplane::counters::Punt;
pub use dataplane::punt::{Offsets, PuntTo};

pub use crate::core::{Core, CoreError, CoreStats, ORIGINATED};
pub use latency::LatencyHistogram;
pub use run::{
    run, Backend, Flow, PortStatsSource, RunError, RunOptions, RunReport, Supervisor, Unsupervised,
    WorkerIo,
};
pub use service::{
    Ctx, Event, EventKind, IcmpKind, Interest, PuntView, Service, ServiceId, TransportPath,
};
pub use sockets::{SocketError, SocketId};
pub use timers::Timers;
