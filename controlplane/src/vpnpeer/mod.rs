//! The VPN peering channel between VRs of one VPN (issue 15; seed 001 Figs. 5–13): one
//! authenticated L2TP control connection per pair of VRs, carrying the VRs' routes and VPN
//! labels, with a monitor (L2TP HELLO) and a hold time. The protocol is defined in
//! `docs/protocols/vpn-peering.md`.
//!
//! - [`wire`]: our message type and vendor AVPs (Open, Auth-Response, Auth-Accept, Update
//!   with IPv4/IPv6 route entries and VPN labels).
//! - [`auth`]: the [`auth::Authenticator`] abstraction and its RADIUS implementation
//!   (CHAP-Password / CHAP-Challenge through [`crate::radius::client`]).
//! - [`engine`]: the sans-IO engine of one router, driving the L2TP engine and the
//!   authenticator.
//! - [`sim`]: a deterministic simulated network (virtual clock, loss, reordering,
//!   partitions) with the project's RADIUS server (`radius::server`) per router, for the
//!   simulations and
//!   `varouter bench vpnpeer`.
//!
//! - [`service`]: the appliance's service (the profile's `vpn_peering:` section): the engine
//!   on control-core host sockets with the in-process RADIUS server, fed by discovery's map
//!   and the transport paths, installing received routes into the VRs' FIBs.
//!
//! Not implemented: route policies; a data-path lab over the installed routes.

pub mod auth;
pub mod engine;
pub mod service;
pub mod sim;
pub mod wire;

pub use auth::{AuthRequest, AuthResult, Authenticator, RadiusAuthenticator, Verdict};
pub use engine::{ChannelInfo, Config, Counters, DownCause, Engine, Error, Event, Transmit};
pub use wire::{IpPrefix, Message, RouteOp};
