//! varouter: a carrier edge appliance hosting many isolated virtual routers.
//!
//! This library is the appliance itself — profile loading and validation ([`profile`],
//! [`config`]), compiling a profile into forwarding tables ([`build`]) and running workers
//! and the control loop ([`run`]). The `varouter` binary is a thin CLI over it.

pub mod bench_fib;
pub mod bench_pipeline;
pub mod build;
pub mod config;
pub mod control;
pub mod gen_routes;
pub mod profile;
pub mod run;
#[cfg(feature = "dpdk")]
pub mod run_dpdk;

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
