//! Management: the HTTP/JSON API, its principals and roles, the audit log, metrics and the
//! dashboard (docs/api.md).
//!
//! The API runs on its own thread (a small tokio runtime, never on a worker core). It never
//! touches the control core's state: every request becomes a [`exec::Command`] on a channel
//! that the control thread drains once per loop iteration (`AppSupervisor::tick` calls
//! [`exec::MgmtLink::tick`]), where changes are applied to the running profile document
//! ([`document`], [`ops`]), checked by the same checker as profiles, applied through the
//! incremental publish path ([`crate::reload::apply`]) and published before the answer
//! goes back. A transaction of only route additions and deletions takes the fast path
//! ([`fast`]: the same route checker on the running configuration, only the touched VRs'
//! routes compared); the transactions one loop iteration carries out are published as one
//! version, each answered on its own.
//!
//! | file | what |
//! |---|---|
//! | [`auth`] | principals, argon2id token hashes, the verified-token cache |
//! | [`scope`] | roles and what a principal sees |
//! | [`document`] | the running profile as JSON, the YAML emitter with its line → pointer map |
//! | [`ops`] | the changes of a transaction, with their authorization |
//! | [`fast`] | route-only transactions without the whole-profile round trip |
//! | [`moves`] | moving sessions and tunnels between VRs (live state, not the document) |
//! | [`exec`] | the control-thread side: commands, read views, [`snapshot::Snapshot`]s |
//! | [`server`] | the axum router, authentication, body limit, JSON errors, TLS |
//! | [`audit`] | the JSON-lines audit log |
//! | [`portal`] | the mobile VPN users' web page (seed 003 Fig. 30) under `/portal/` |
//!
//! ## Adding routes (metrics, dashboard)
//!
//! [`server::router`] builds the whole API. Routes that need a principal go into
//! [`server::authenticated_routes`] (add `.merge(crate::mgmt::metrics::routes())` there):
//! the authentication layer is applied after the merge, so their handlers get the caller as
//! `axum::Extension<Arc<auth::Principal>>`, and they can ask the control thread for a
//! scoped snapshot with [`server::ApiState::snapshot`]. Routes without authentication (a
//! static page) go into [`server::public_routes`].

pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod discovery;
pub mod document;
pub mod exec;
pub mod fast;
pub mod metrics;
pub mod mobile;
pub mod moves;
pub mod openapi;
pub mod ops;
pub mod portal;
pub mod scope;
pub mod server;
pub mod sessions;
pub mod snapshot;
pub mod vpn_peering;

use std::sync::Arc;

use serde::Serialize;

/// A failed request: HTTP status, machine-readable code, message and pointers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `invalid_change`,
    /// `conflict`, `address_conflict`, `payload_too_large`, `unavailable`, `internal`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// JSON pointer into the request body, when one element of it is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// JSON pointer into the profile document (checker errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_pointer: Option<String>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            pointer: None,
            profile_pointer: None,
        }
    }
    /// 401.
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", m)
    }
    /// 403.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(403, "forbidden", m)
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(404, "not_found", m)
    }
    /// 400.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(400, "bad_request", m)
    }
    /// 422.
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(422, "invalid_change", m)
    }
    /// 409.
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(409, "conflict", m)
    }
    /// 409 `address_conflict`: a session's address is in use in the VR it would move to.
    pub fn address_conflict(m: impl Into<String>) -> Self {
        Self::new(409, "address_conflict", m)
    }
    /// 413.
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(413, "payload_too_large", m)
    }
    /// 503.
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(503, "unavailable", m)
    }
    /// 500 (a bug: the request was fine).
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(500, "internal", m)
    }
    /// With a pointer into the request (kept when one is set already).
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        if self.pointer.is_none() {
            self.pointer = Some(pointer.into());
        }
        self
    }
    /// The body of the answer: `{"error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self })
    }
}

/// The API thread; stops (and is joined) when dropped.
pub struct ApiThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
    /// The address it listens on (the port the OS chose when the profile says `:0`).
    pub local_addr: std::net::SocketAddr,
}

impl Drop for ApiThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// The management API of a running appliance.
pub struct Management;

impl Management {
    /// Starts the API for the profile at `path` (resolved as `cfg`, whose `management`
    /// section must be present): binds the listening socket (errors here stop the start),
    /// loads the profile document, and starts the API thread pinned off the worker cores.
    /// Returns the thread and the control thread's end of the command channel.
    pub fn start(
        cfg: &crate::config::Config,
        path: &std::path::Path,
    ) -> Result<(ApiThread, exec::MgmtLink), String> {
        let m = cfg
            .management
            .as_ref()
            .ok_or("the profile has no `management` section")?;
        let doc = document::load(path)?;
        let tls = match &m.tls {
            Some(t) => Some(server::tls_config(t)?),
            None => None,
        };
        let listener = std::net::TcpListener::bind(m.listen)
            .map_err(|e| format!("management API: cannot listen on {}: {e}", m.listen))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("management API: {e}"))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| format!("management API: {e}"))?;
        let principals = Arc::new(arc_swap::ArcSwap::from_pointee(auth::Principals::from_cfg(
            &m.principals,
        )));
        let audit = Arc::new(audit::Audit::new(m.audit_log.clone()));
        let (tx, rx) = crossbeam::channel::bounded(exec::QUEUE);
        let link = exec::MgmtLink::new(
            rx,
            doc,
            path.to_path_buf(),
            principals.clone(),
            audit.clone(),
        );
        let portal = match &m.portal {
            Some(p) => Some(portal::Portal::start(p, tls.is_some())?),
            None => None,
        };
        let state = Arc::new(server::ApiState {
            tx,
            auth: auth::Authenticator::new(principals),
            audit,
            portal,
            wake: link.waker(),
        });
        let core = api_core(cfg);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let join = std::thread::Builder::new()
            .name("varouter-api".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                server::serve(state, listener, tls, stop_rx);
            })
            .map_err(|e| format!("management API thread: {e}"))?;
        Ok((
            ApiThread {
                stop: Some(stop_tx),
                join: Some(join),
                local_addr,
            },
            link,
        ))
    }
}

/// The CPU the API thread runs on: the control core when the profile pins one, else the
/// first CPU no worker is pinned to; `None` (unpinned) when the workers are not pinned.
fn api_core(cfg: &crate::config::Config) -> Option<usize> {
    if cfg.control_core.is_some() {
        return cfg.control_core;
    }
    if cfg.worker_cores.is_empty() {
        return None;
    }
    core_affinity::get_core_ids()?
        .into_iter()
        .map(|c| c.id)
        .find(|c| !cfg.worker_cores.contains(c))
}
