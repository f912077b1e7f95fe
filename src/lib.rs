//! varouter: a carrier edge appliance hosting many isolated virtual routers.
//!
//! This library is the appliance as a profile describes it — profile loading and
//! validation ([`profile`], [`config`]), what a profile asks of the forwarding state
//! ([`tables`]) and of the protocol services ([`services`]), port backends brought up from
//! a profile ([`backend`]), running it on the control core's loop ([`appliance`]) and
//! reloading it live ([`reload`]), and managing it over HTTP ([`mgmt`], with the
//! [`ctl`] client). The `varouter` binary is a thin CLI over it; the
//! benchmarks live in [`bench`].

pub mod aaa;
pub mod appliance;
pub mod backend;
pub mod bench;
pub mod config;
pub mod ctl;
pub mod ldp;
pub mod mgmt;
pub mod mip;
pub mod profile;
pub mod reload;
pub mod services;
pub mod tables;

/// The embedded default profile (`configs/demo.yaml`), used when `run` gets no profile.
pub const DEMO_PROFILE: &str = include_str!("../configs/demo.yaml");

/// Loads and checks a profile file in one step.
pub fn load_config(path: &std::path::Path) -> Result<config::Config, Vec<profile::ProfileError>> {
    let p = profile::load(path)?;
    profile::check::check(path, &p)
}

/// Parses and checks profile text; `path` names it in messages and anchors relative paths.
pub fn parse_config(
    path: &std::path::Path,
    text: &str,
) -> Result<config::Config, Vec<profile::ProfileError>> {
    let p = profile::parse(path, text)?;
    profile::check::check(path, &p)
}
