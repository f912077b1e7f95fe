//! The HTTP side of the API: an axum router on a current-thread tokio runtime on its own
//! thread, HTTPS through rustls (ring provider) when the profile gives a certificate.
//!
//! Every request under `/api/v1` (and any route merged into [`authenticated_routes`]) passes
//! [`guard`] first: the bearer token is authenticated (401 otherwise), the body of a
//! changing request is read up to [`BODY_LIMIT`] (413 beyond), and after the answer the
//! request is written to the audit log. Handlers turn requests into [`Request`]s for the
//! control thread ([`ApiState::call`]); writes are one-change transactions. Every error is
//! `{"error": {"code", "message", "pointer"?, "profile_pointer"?}}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request as HttpRequest, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Router};
use crossbeam::channel::Sender;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::Audit;
use super::audit::Record;
use super::auth::{Authenticator, Principal};
use super::exec::{Answer, Command, MgmtLink, Request, Transaction, TxResult};
use super::ops::Change;
use super::scope::Role;
use super::snapshot::Snapshot;
use super::ApiError;
use crate::config::TlsCfg;

/// Largest request body (1 MiB).
pub const BODY_LIMIT: usize = 1 << 20;

/// What the handlers share.
pub struct ApiState {
    /// Commands to the control thread.
    pub tx: Sender<Command>,
    /// Token → principal.
    pub auth: Authenticator,
    /// The audit log.
    pub audit: Arc<Audit>,
    /// The users' web page under `/portal/` (`management.portal`), when enabled.
    pub portal: Option<Arc<super::portal::Portal>>,
    /// The control loop's thread, unparked when a command is queued so that it does not
    /// finish its idle sleep first (set once the loop has run; see `MgmtLink::waker`).
    pub wake: Arc<std::sync::OnceLock<std::thread::Thread>>,
}

impl ApiState {
    /// Asks the control thread; 503 when it does not answer within [`MgmtLink::TIMEOUT`].
    pub async fn call(&self, principal: Arc<Principal>, req: Request) -> Result<Answer, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .try_send(Command {
                principal,
                req,
                reply: tx,
            })
            .map_err(|_| ApiError::unavailable("the control loop is not taking commands"))?;
        if let Some(t) = self.wake.get() {
            t.unpark();
        }
        match tokio::time::timeout(MgmtLink::TIMEOUT, rx).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => Err(ApiError::unavailable("the control loop stopped")),
            Err(_) => Err(ApiError::unavailable(
                "the control loop did not answer within 5 s",
            )),
        }
    }

    /// The statistics snapshot, cut to `principal`'s scope.
    pub async fn snapshot(&self, principal: Arc<Principal>) -> Result<Snapshot, ApiError> {
        match self.call(principal, Request::Stats).await? {
            Answer::Snapshot(s) => Ok(*s),
            _ => Err(ApiError::internal(
                "the control thread answered stats with something else",
            )),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

fn respond(r: Result<Answer, ApiError>) -> Response {
    match r {
        Ok(Answer::Json(204, _)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Answer::Json(s, v)) => (
            StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
            axum::Json(v),
        )
            .into_response(),
        Ok(Answer::Yaml(t)) => {
            ([(header::CONTENT_TYPE, "text/yaml; charset=utf-8")], t).into_response()
        }
        Ok(Answer::Snapshot(s)) => axum::Json(*s).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Parses a JSON body strictly (unknown fields are refused by the types).
fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T, ApiError> {
    if b.is_empty() {
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError::bad_request(format!("malformed request body: {e}")))
}

/// The caller, as [`guard`] authenticated it.
type Caller = Extension<Arc<Principal>>;

/// The whole API for `state`.
pub fn router(state: Arc<ApiState>) -> Router {
    let authed =
        authenticated_routes().layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    let mut r = public_routes().merge(authed);
    if let Some(p) = &state.portal {
        r = r.merge(super::portal::routes(p.clone()));
    }
    r.fallback(|| async { ApiError::not_found("no such endpoint").into_response() })
        .method_not_allowed_fallback(|| async {
            let mut e = ApiError::bad_request("this endpoint does not take that method");
            e.status = 405;
            e.code = "method_not_allowed";
            e.into_response()
        })
        .with_state(state)
}

/// Routes served without a token.
pub fn public_routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(super::dashboard::routes())
}

/// Routes that need a principal (the caller comes as `Extension<Arc<Principal>>`).
pub fn authenticated_routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/vrs", get(list_vrs).post(create_vr))
        .route("/api/v1/vrs/{vr}", get(get_vr).delete(delete_vr))
        .route("/api/v1/vrs/{vr}/tenant", put(set_tenant).delete(revoke))
        .route(
            "/api/v1/vrs/{vr}/interfaces",
            get(list_interfaces).post(bind_interface),
        )
        .route(
            "/api/v1/vrs/{vr}/interfaces/{port}",
            delete(unbind_interface),
        )
        .route("/api/v1/interfaces/move", post(move_interface))
        .route("/api/v1/vrs/{vr}/routes", get(list_routes).post(add_route))
        .route("/api/v1/vrs/{vr}/routes/{prefix}", delete(delete_route))
        .route("/api/v1/labels", get(list_labels).post(add_label))
        .route("/api/v1/labels/{label}", delete(delete_label))
        .route("/api/v1/neighbors", get(list_neighbors).post(add_neighbor))
        .route("/api/v1/neighbors/{port}/{ip}", delete(delete_neighbor))
        .route("/api/v1/vrs/{vr}/l2tp", put(set_l2tp))
        .route("/api/v1/vrs/{vr}/l2tp/role", put(set_l2tp_role))
        .route(
            "/api/v1/vrs/{vr}/realms/{realm}",
            put(set_realm).delete(delete_realm),
        )
        .route("/api/v1/vrs/{vr}/tunnels", get(list_tunnels))
        .route("/api/v1/vrs/{vr}/map", get(vr_map))
        .route("/api/v1/ldp", get(ldp))
        .route("/api/v1/vrs/{vr}/peers", get(vr_peers))
        .route("/api/v1/mobile/bindings", get(mobile_bindings))
        .route("/api/v1/mobile/tunnels", get(mobile_tunnels))
        .route("/api/v1/mobile/agents", get(mobile_agents))
        .route("/api/v1/vrs/{vr}/tunnels/{id}", delete(clear_tunnel))
        .route("/api/v1/vrs/{vr}/tunnels/{id}/move", post(move_tunnel))
        .route("/api/v1/vrs/{vr}/sessions", get(list_sessions))
        .route("/api/v1/vrs/{vr}/sessions/{id}", delete(disconnect))
        .route("/api/v1/vrs/{vr}/sessions/{id}/move", post(move_session))
        .route("/api/v1/transaction", post(transaction))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/config", get(get_config))
        .route("/api/v1/config/save", post(save_config))
        .route("/api/v1/stats", get(stats))
        .route(
            "/api/v1/principals",
            get(list_principals).post(add_principal),
        )
        .route("/api/v1/principals/{name}", delete(delete_principal))
        .route("/api/v1/audit", get(audit))
        .merge(super::metrics::routes())
}

/// Authentication, body limit and audit for every authenticated route.
pub async fn guard(State(st): State<Arc<ApiState>>, req: HttpRequest, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let changing = method != Method::GET && method != Method::HEAD;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    // argon2 is slow on purpose: a token not in the cache is verified off the runtime's
    // thread (the blocking pool inherits the API thread's CPU), so other requests go on.
    // A token verified before is looked up here, without the hop to the blocking pool.
    let found = match st.auth.cached(&token) {
        Some(found) => found,
        None => {
            let auth = st.clone();
            let tok = token.clone();
            tokio::task::spawn_blocking(move || auth.auth.authenticate(&tok))
                .await
                .ok()
                .flatten()
        }
    };
    let Some(p) = found else {
        let e = if token.is_empty() {
            ApiError::unauthorized("missing `Authorization: Bearer <token>`")
        } else {
            ApiError::unauthorized("unknown token")
        };
        st.audit.record("-", method.as_str(), &path, b"", 401);
        let mut r = e.into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let (mut parts, b) = req.into_parts();
    let bytes = match read_body(b).await {
        Ok(b) => b,
        Err(e) => {
            st.audit
                .record(&p.name, method.as_str(), &path, b"", e.status);
            return e.into_response();
        }
    };
    parts.extensions.insert(p.clone());
    let req = HttpRequest::from_parts(parts, Body::from(bytes.clone()));
    let resp = next.run(req).await;
    if changing {
        st.audit.record(
            &p.name,
            method.as_str(),
            &path,
            &bytes,
            resp.status().as_u16(),
        );
    }
    resp
}

/// Bytes of an oversized body read (and dropped) before answering 413, so that a client
/// that writes its whole request before reading gets the answer; beyond this the
/// connection is closed.
const DRAIN_LIMIT: usize = 16 << 20;

async fn read_body(mut b: Body) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(f) = b.frame().await {
        let f =
            f.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if let Ok(d) = f.into_data() {
            total += d.len();
            if total <= BODY_LIMIT {
                buf.extend_from_slice(&d);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > BODY_LIMIT {
        return Err(ApiError::too_large(format!(
            "the request body is larger than {BODY_LIMIT} bytes"
        )));
    }
    Ok(Bytes::from(buf))
}

async fn tx1(
    st: &ApiState,
    p: Arc<Principal>,
    c: Change,
    created: bool,
    deleted: bool,
) -> Response {
    let r = st
        .call(
            p,
            Request::Transaction(Transaction {
                changes: vec![c],
                dry_run: false,
            }),
        )
        .await
        .map_err(|mut e| {
            // A one-change transaction: pointers into `/changes/0` are pointers into the
            // request body of the REST call.
            if let Some(q) = &e.pointer {
                if let Some(rest) = q.strip_prefix("/changes/0") {
                    e.pointer = Some(rest.to_string());
                }
            }
            e
        });
    match r {
        Ok(Answer::Json(200, v)) if created => respond(Ok(Answer::Json(201, v))),
        Ok(Answer::Json(200, _)) if deleted => StatusCode::NO_CONTENT.into_response(),
        other => respond(other),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VlanQ {
    vlan: Option<u16>,
}

fn vlan_q(
    q: Result<Query<VlanQ>, axum::extract::rejection::QueryRejection>,
) -> Result<Option<u16>, ApiError> {
    q.map(|q| q.0.vlan)
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))
}

#[utoipa::path(get, path = "/api/v1/vrs", tag = "api", summary = "VRs in the caller's scope with their counters",
    responses((status = 200, description = "VRs")),
    security(("bearer" = [])))]
async fn list_vrs(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(st.call(p, Request::ListVrs).await)
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}", tag = "api", summary = "One VR's document and counters",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "the VR"), (status = 404, description = "no such VR in scope", body = ApiError)),
    security(("bearer" = [])))]
async fn get_vr(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::GetVr(vr)).await)
}

#[utoipa::path(post, path = "/api/v1/vrs", tag = "api", summary = "Create a VR (carrier-admin)",
    request_body(content = Object, description = "as in the profile"),
    responses((status = 201, description = "created", body = TxResult), (status = 403, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn create_vr(State(st): State<Arc<ApiState>>, Extension(p): Caller, b: Bytes) -> Response {
    match body::<Value>(&b) {
        Ok(vr) => tx1(&st, p, Change::CreateVr { vr }, true, false).await,
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}", tag = "api", summary = "Delete a VR (carrier-admin)",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 204, description = "deleted"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn delete_vr(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    tx1(&st, p, Change::DeleteVr { vr }, false, true).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantBody {
    tenant: String,
}

#[utoipa::path(put, path = "/api/v1/vrs/{vr}/tenant", tag = "api", summary = "Delegate a VR to a tenant (carrier-admin)",
    params(("vr" = String, Path, description = "VR name")),
    request_body = TenantBody,
    responses((status = 200, body = TxResult), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn set_tenant(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
    b: Bytes,
) -> Response {
    match body::<TenantBody>(&b) {
        Ok(t) => {
            tx1(
                &st,
                p,
                Change::SetTenant {
                    vr,
                    tenant: t.tenant,
                },
                false,
                false,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}/tenant", tag = "api", summary = "Revoke a delegation: the VR goes back to the owner (carrier-admin)",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, body = TxResult), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn revoke(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    tx1(&st, p, Change::Revoke { vr }, false, false).await
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}/interfaces", tag = "api", summary = "A VR's interfaces",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "interfaces as in the profile"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn list_interfaces(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::ListInterfaces(vr)).await)
}

#[utoipa::path(post, path = "/api/v1/vrs/{vr}/interfaces", tag = "api", summary = "Bind an interface to a VR (carrier-admin)",
    params(("vr" = String, Path, description = "VR name")),
    request_body(content = Object, description = "as in the profile"),
    responses((status = 201, body = TxResult), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn bind_interface(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
    b: Bytes,
) -> Response {
    match body::<Value>(&b) {
        Ok(interface) => tx1(&st, p, Change::BindInterface { vr, interface }, true, false).await,
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}/interfaces/{port}", tag = "api", summary = "Unbind an interface (carrier-admin)",
    params(("vr" = String, Path, description = "VR name"), ("port" = String, Path, description = "port name"), ("vlan" = Option<u16>, Query, description = "VLAN id")),
    responses((status = 204, description = "unbound"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn unbind_interface(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, port)): Path<(String, String)>,
    q: Result<Query<VlanQ>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match vlan_q(q) {
        Ok(vlan) => {
            tx1(
                &st,
                p,
                Change::UnbindInterface { vr, port, vlan },
                false,
                true,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveBody {
    from: String,
    to: String,
    port: String,
    #[serde(default)]
    vlan: Option<u16>,
    #[serde(default)]
    addresses: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/api/v1/interfaces/move", tag = "api", summary = "Move an interface between two VRs in scope",
    request_body = MoveBody,
    responses((status = 200, body = TxResult), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn move_interface(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    b: Bytes,
) -> Response {
    match body::<MoveBody>(&b) {
        Ok(m) => {
            let c = Change::MoveInterface {
                from: m.from,
                to: m.to,
                port: m.port,
                vlan: m.vlan,
                addresses: m.addresses,
            };
            tx1(&st, p, c, false, false).await
        }
        Err(e) => e.into_response(),
    }
}

/// Where a session or tunnel goes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToBody {
    /// The VR (in the caller's scope).
    to: String,
}

#[utoipa::path(post, path = "/api/v1/vrs/{vr}/sessions/{id}/move", tag = "api", summary = "Move a session (L2TP or PPPoE) to another VR while it stays up",
    params(("vr" = String, Path, description = "VR the session is routed in now"), ("id" = String, Path, description = "session id as listed: `l2tp-T-S` or `pppoe-PORT-S`")),
    request_body = ToBody,
    responses((status = 200, body = TxResult), (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "`address_conflict`: its address is in use in the VR; `conflict`: a relayed session", body = ApiError)),
    security(("bearer" = [])))]
async fn move_session(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, id)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    match body::<ToBody>(&b) {
        Ok(t) => {
            let c = Change::MoveSession {
                vr,
                session: id,
                to: t.to,
            };
            tx1(&st, p, c, false, false).await
        }
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/vrs/{vr}/tunnels/{id}/move", tag = "api", summary = "Move an L2TP tunnel (its sessions, and those it brings up later) to another VR",
    params(("vr" = String, Path, description = "VR its sessions are routed in now"), ("id" = u16, Path, description = "our tunnel id")),
    request_body = ToBody,
    responses((status = 200, body = TxResult), (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "`address_conflict`: an address of one of its sessions is in use in the VR", body = ApiError)),
    security(("bearer" = [])))]
async fn move_tunnel(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, id)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    let Ok(tunnel) = id.parse::<u16>() else {
        return ApiError::bad_request(format!("tunnel id `{id}` is not a number")).into_response();
    };
    match body::<ToBody>(&b) {
        Ok(t) => {
            let c = Change::MoveTunnel {
                vr,
                tunnel,
                to: t.to,
            };
            tx1(&st, p, c, false, false).await
        }
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}/routes", tag = "api", summary = "A VR's static routes",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "routes as in the profile"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn list_routes(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::ListRoutes(vr)).await)
}

#[utoipa::path(post, path = "/api/v1/vrs/{vr}/routes", tag = "api", summary = "Add a static route",
    params(("vr" = String, Path, description = "VR name")),
    request_body(content = Object, description = "as in the profile"),
    responses((status = 201, body = TxResult), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn add_route(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
    b: Bytes,
) -> Response {
    match body::<Value>(&b) {
        Ok(route) => tx1(&st, p, Change::AddRoute { vr, route }, true, false).await,
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}/routes/{prefix}", tag = "api", summary = "Delete a static route (prefix URL-encoded: 10.0.0.0%2F8)",
    params(("vr" = String, Path, description = "VR name"), ("prefix" = String, Path, description = "the prefix")),
    responses((status = 204, description = "deleted"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn delete_route(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, prefix)): Path<(String, String)>,
) -> Response {
    tx1(&st, p, Change::DeleteRoute { vr, prefix }, false, true).await
}

#[utoipa::path(get, path = "/api/v1/labels", tag = "api", summary = "Label matrix entries (scoped: pops into VRs in scope)",
    responses((status = 200, description = "entries as in the profile")),
    security(("bearer" = [])))]
async fn list_labels(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(st.call(p, Request::ListLabels).await)
}

#[utoipa::path(post, path = "/api/v1/labels", tag = "api", summary = "Add a label matrix entry (carrier-admin)",
    request_body(content = Object, description = "as in the profile"),
    responses((status = 201, body = TxResult), (status = 403, body = ApiError), (status = 409, body = ApiError)),
    security(("bearer" = [])))]
async fn add_label(State(st): State<Arc<ApiState>>, Extension(p): Caller, b: Bytes) -> Response {
    match body::<Value>(&b) {
        Ok(entry) => tx1(&st, p, Change::AddLabel { entry }, true, false).await,
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/labels/{label}", tag = "api", summary = "Delete a label matrix entry (carrier-admin)",
    params(("label" = u32, Path, description = "incoming label")),
    responses((status = 204, description = "deleted"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn delete_label(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(label): Path<String>,
) -> Response {
    match label.parse::<u32>() {
        Ok(label) => tx1(&st, p, Change::DeleteLabel { label }, false, true).await,
        Err(_) => ApiError::bad_request(format!("label `{label}` is not a number")).into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/neighbors", tag = "api", summary = "Static neighbours (unscoped principals)",
    responses((status = 200, description = "neighbours as in the profile"), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
async fn list_neighbors(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(st.call(p, Request::ListNeighbors).await)
}

#[utoipa::path(post, path = "/api/v1/neighbors", tag = "api", summary = "Add a static neighbour (carrier-admin)",
    request_body(content = Object, description = "as in the profile"),
    responses((status = 201, body = TxResult), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
async fn add_neighbor(State(st): State<Arc<ApiState>>, Extension(p): Caller, b: Bytes) -> Response {
    match body::<Value>(&b) {
        Ok(neighbor) => tx1(&st, p, Change::AddNeighbor { neighbor }, true, false).await,
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/neighbors/{port}/{ip}", tag = "api", summary = "Delete a static neighbour (carrier-admin)",
    params(("port" = String, Path, description = "port name"), ("ip" = String, Path, description = "neighbour address"), ("vlan" = Option<u16>, Query, description = "VLAN id")),
    responses((status = 204, description = "deleted"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn delete_neighbor(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((port, ip)): Path<(String, String)>,
    q: Result<Query<VlanQ>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match vlan_q(q) {
        Ok(vlan) => {
            tx1(
                &st,
                p,
                Change::DeleteNeighbor { port, vlan, ip },
                false,
                true,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(put, path = "/api/v1/vrs/{vr}/l2tp", tag = "api", summary = "Set (or with null remove) a VR's L2TP endpoint",
    params(("vr" = String, Path, description = "VR name")),
    request_body(content = Object, description = "as in the profile"),
    responses((status = 200, body = TxResult), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn set_l2tp(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
    b: Bytes,
) -> Response {
    match body::<Value>(&b) {
        Ok(v) => {
            let l2tp = if v.is_null() { None } else { Some(v) };
            tx1(&st, p, Change::SetL2tp { vr, l2tp }, false, false).await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleBody {
    role: String,
}

#[utoipa::path(put, path = "/api/v1/vrs/{vr}/l2tp/role", tag = "api", summary = "Switch a VR's L2TP role (lac | lns)",
    params(("vr" = String, Path, description = "VR name")),
    request_body = RoleBody,
    responses((status = 200, body = TxResult), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn set_l2tp_role(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
    b: Bytes,
) -> Response {
    match body::<RoleBody>(&b) {
        Ok(r) => {
            tx1(
                &st,
                p,
                Change::SetL2tpRole { vr, role: r.role },
                false,
                false,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RealmBody {
    to_vr: String,
    #[serde(default)]
    lns: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/vrs/{vr}/realms/{realm}", tag = "api", summary = "Relay a realm's subscribers to another VR's LAC",
    params(("vr" = String, Path, description = "VR name"), ("realm" = String, Path, description = "realm")),
    request_body = RealmBody,
    responses((status = 200, body = TxResult), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn set_realm(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, realm)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    match body::<RealmBody>(&b) {
        Ok(r) => {
            let c = Change::SetRealm {
                vr,
                realm,
                to_vr: r.to_vr,
                lns: r.lns,
            };
            tx1(&st, p, c, false, false).await
        }
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}/realms/{realm}", tag = "api", summary = "Stop relaying a realm",
    params(("vr" = String, Path, description = "VR name"), ("realm" = String, Path, description = "realm")),
    responses((status = 204, description = "deleted"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn delete_realm(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, realm)): Path<(String, String)>,
) -> Response {
    tx1(&st, p, Change::DeleteRealm { vr, realm }, false, true).await
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}/tunnels", tag = "api", summary = "A VR's L2TP tunnels",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "tunnels"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn list_tunnels(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::Tunnels(vr)).await)
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}/map", tag = "api", summary = "A VR's configuration map (VR discovery): the other VRs of its VPN by provider router",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "the map"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn vr_map(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::VrMap(vr)).await)
}

#[utoipa::path(get, path = "/api/v1/ldp", tag = "api", summary = "LDP: sessions, bindings per FEC, installed cross connects, transport paths, counters (carrier scope)",
    responses((status = 200, description = "{lsr_id, transport_address, label_block, ports, sessions, bindings, paths, cross_connects, counters}"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn ldp(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(st.call(p, Request::Ldp).await)
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}/peers", tag = "api", summary = "A VR's VPN peering channels: state, L2TP tunnel ids, routes, transport path, and the routes they installed",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "the channels"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn vr_peers(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::VrPeers(vr)).await)
}

#[utoipa::path(get, path = "/api/v1/mobile/bindings", tag = "api", summary = "Mobile IP bindings (HA), visitors (FA) and cache entries (PCN) of the agents in scope",
    responses((status = 200, description = "bindings"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn mobile_bindings(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(
        st.call(p, Request::Mobile(super::mobile::Listing::Bindings))
            .await,
    )
}

#[utoipa::path(get, path = "/api/v1/mobile/tunnels", tag = "api", summary = "The Mobile IP agents' tunnels in the data plane (ESP SAs and routes), with what the published state holds",
    responses((status = 200, description = "tunnels"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn mobile_tunnels(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(
        st.call(p, Request::Mobile(super::mobile::Listing::Tunnels))
            .await,
    )
}

#[utoipa::path(get, path = "/api/v1/mobile/agents", tag = "api", summary = "The Mobile IP agents in scope with their counters (accepted, denied by reply code, bad authenticators, replays, expiries) and Diameter peers",
    responses((status = 200, description = "agents"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn mobile_agents(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    respond(
        st.call(p, Request::Mobile(super::mobile::Listing::Agents))
            .await,
    )
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}/tunnels/{id}", tag = "api", summary = "Clear a tunnel (StopCCN)",
    params(("vr" = String, Path, description = "VR name"), ("id" = u16, Path, description = "our tunnel id")),
    responses((status = 204, description = "cleared"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn clear_tunnel(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, id)): Path<(String, String)>,
) -> Response {
    if p.role == Role::ReadOnly {
        return ApiError::forbidden("a read-only principal changes nothing").into_response();
    }
    match id.parse::<u16>() {
        Ok(t) => respond(st.call(p, Request::ClearTunnel(vr, t)).await),
        Err(_) => {
            ApiError::bad_request(format!("tunnel id `{id}` is not a number")).into_response()
        }
    }
}

#[utoipa::path(get, path = "/api/v1/vrs/{vr}/sessions", tag = "api", summary = "A VR's sessions (L2TP with their subscribers, PPPoE links)",
    params(("vr" = String, Path, description = "VR name")),
    responses((status = 200, description = "sessions"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn list_sessions(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(vr): Path<String>,
) -> Response {
    respond(st.call(p, Request::Sessions(vr)).await)
}

#[utoipa::path(delete, path = "/api/v1/vrs/{vr}/sessions/{id}", tag = "api", summary = "Disconnect a session (CDN, PADT): id `l2tp-T-S` or `pppoe-PORT-S`",
    params(("vr" = String, Path, description = "VR name"), ("id" = String, Path, description = "session id as listed")),
    responses((status = 204, description = "disconnected"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn disconnect(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path((vr, id)): Path<(String, String)>,
) -> Response {
    if p.role == Role::ReadOnly {
        return ApiError::forbidden("a read-only principal changes nothing").into_response();
    }
    respond(st.call(p, Request::Disconnect(vr, id)).await)
}

#[utoipa::path(post, path = "/api/v1/transaction", tag = "api", summary = "Apply changes all together or not at all",
    request_body = Transaction,
    responses((status = 200, body = TxResult), (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn transaction(State(st): State<Arc<ApiState>>, Extension(p): Caller, b: Bytes) -> Response {
    if p.role == Role::ReadOnly {
        return ApiError::forbidden("a read-only principal changes nothing").into_response();
    }
    match body::<Transaction>(&b) {
        Ok(t) => respond(st.call(p, Request::Transaction(t)).await),
        Err(e) => e.into_response(),
    }
}

fn carrier(p: &Principal) -> Result<(), ApiError> {
    if p.role == Role::CarrierAdmin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} may not do this",
            p.role.name()
        )))
    }
}

#[utoipa::path(post, path = "/api/v1/reload", tag = "api", summary = "Re-read the profile file (carrier-admin)",
    responses((status = 200, body = TxResult), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn reload(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    if let Err(e) = carrier(&p) {
        return e.into_response();
    }
    respond(st.call(p, Request::Reload).await)
}

#[utoipa::path(get, path = "/api/v1/config", tag = "api", summary = "The running profile as YAML (carrier-admin)",
    responses((status = 200, description = "YAML", content_type = "text/yaml"), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
async fn get_config(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    if let Err(e) = carrier(&p) {
        return e.into_response();
    }
    respond(st.call(p, Request::GetConfig).await)
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SaveBody {
    #[serde(default)]
    path: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/config/save", tag = "api", summary = "Write the running profile (carrier-admin)",
    request_body = SaveBody,
    responses((status = 200, description = "{path, bytes}"), (status = 403, body = ApiError), (status = 409, body = ApiError)),
    security(("bearer" = [])))]
async fn save_config(State(st): State<Arc<ApiState>>, Extension(p): Caller, b: Bytes) -> Response {
    if let Err(e) = carrier(&p) {
        return e.into_response();
    }
    let s = if b.is_empty() {
        SaveBody::default()
    } else {
        match body::<SaveBody>(&b) {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        }
    };
    respond(
        st.call(p, Request::SaveConfig(s.path.map(Into::into)))
            .await,
    )
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "api", summary = "Statistics snapshot in the caller's scope",
    responses((status = 200, body = Snapshot)),
    security(("bearer" = [])))]
async fn stats(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    match st.snapshot(p).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/principals", tag = "api", summary = "Principals (carrier-admin)",
    responses((status = 200, description = "[{name, role, tenant}]"), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
async fn list_principals(State(st): State<Arc<ApiState>>, Extension(p): Caller) -> Response {
    if let Err(e) = carrier(&p) {
        return e.into_response();
    }
    let ps = st.auth.principals.load();
    let v: Vec<Value> = ps
        .list
        .iter()
        .map(|p| json!({"name": p.name, "role": p.role.name(), "tenant": p.tenant}))
        .collect();
    axum::Json(v).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalBody {
    name: String,
    #[schema(value_type = String)]
    role: Role,
    #[serde(default)]
    tenant: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/principals", tag = "api", summary = "Add a principal; the answer carries its token once (carrier-admin)",
    request_body = PrincipalBody,
    responses((status = 201, body = TxResult), (status = 403, body = ApiError), (status = 409, body = ApiError)),
    security(("bearer" = [])))]
async fn add_principal(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    b: Bytes,
) -> Response {
    match body::<PrincipalBody>(&b) {
        Ok(x) => {
            let c = Change::AddPrincipal {
                name: x.name,
                role: x.role,
                tenant: x.tenant,
            };
            tx1(&st, p, c, true, false).await
        }
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/principals/{name}", tag = "api", summary = "Delete a principal (carrier-admin)",
    params(("name" = String, Path, description = "principal name")),
    responses((status = 204, description = "deleted"), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn delete_principal(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    Path(name): Path<String>,
) -> Response {
    tx1(&st, p, Change::DeletePrincipal { name }, false, true).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQ {
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "api", summary = "The last audit records (carrier-admin)",
    params(("limit" = Option<usize>, Query, description = "how many (default 100)")),
    responses((status = 200, body = [Record]), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
async fn audit(
    State(st): State<Arc<ApiState>>,
    Extension(p): Caller,
    q: Result<Query<AuditQ>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(e) = carrier(&p) {
        return e.into_response();
    }
    match q {
        Ok(q) => axum::Json(st.audit.last(q.limit.unwrap_or(100))).into_response(),
        Err(e) => ApiError::bad_request(format!("query: {e}")).into_response(),
    }
}

async fn openapi() -> Response {
    axum::Json(super::openapi::document()).into_response()
}

/// Loads the certificate chain and key for HTTPS.
pub fn tls_config(t: &TlsCfg) -> Result<Arc<rustls::ServerConfig>, String> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("management TLS: cannot read {}: {e}", p.display()))
    };
    let cert_pem = read(&t.cert)?;
    let key_pem = read(&t.key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("management TLS: {}: {e}", t.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "management TLS: {} holds no certificate",
            t.cert.display()
        ));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("management TLS: {}: {e}", t.key.display()))?
        .ok_or_else(|| format!("management TLS: {} holds no private key", t.key.display()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("management TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("management TLS: {e}"))?;
    Ok(Arc::new(cfg))
}

/// The client's address as the handlers see it (`ConnectInfo<PeerAddr>`), over plain TCP
/// and over TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

/// Accepts TCP connections and completes the TLS handshake (5 s at most each).
struct TlsListener {
    inner: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (s, a) = match self.inner.accept().await {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if let Ok(Ok(t)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(s)).await
            {
                return (t, a);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Runs the API on the calling thread until `stop` fires.
pub fn serve(
    state: Arc<ApiState>,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("varouter: management API: cannot start its runtime: {e}");
            return;
        }
    };
    rt.block_on(async move {
        let l = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("varouter: management API: {e}");
                return;
            }
        };
        // The peer's address reaches the handlers (the portal throttles failed logins per
        // source address).
        let app = router(state).into_make_service_with_connect_info::<PeerAddr>();
        let served = async move {
            let r = match tls {
                None => axum::serve(l, app).await,
                Some(cfg) => {
                    let tl = TlsListener {
                        inner: l,
                        acceptor: tokio_rustls::TlsAcceptor::from(cfg),
                    };
                    axum::serve(tl, app).await
                }
            };
            if let Err(e) = r {
                eprintln!("varouter: management API stopped: {e}");
            }
        };
        tokio::select! {
            _ = served => {}
            _ = stop => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::auth::Principals;

    fn state() -> (Arc<ApiState>, crossbeam::channel::Receiver<Command>) {
        let (tx, rx) = crossbeam::channel::bounded(1);
        let ps = Arc::new(arc_swap::ArcSwap::from_pointee(Principals::default()));
        let st = Arc::new(ApiState {
            tx,
            auth: Authenticator::new(ps),
            audit: Arc::new(Audit::new(None)),
            portal: None,
            wake: Arc::default(),
        });
        (st, rx)
    }

    fn who() -> Arc<Principal> {
        Arc::new(Principal {
            name: "a".into(),
            role: Role::CarrierAdmin,
            tenant: None,
            token_hash: String::new(),
        })
    }

    #[test]
    fn a_control_loop_that_does_not_answer_is_503() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // The loop took the command and stopped without answering.
            let (st, rx) = state();
            let taker = std::thread::spawn(move || drop(rx.recv().unwrap()));
            let e = st.call(who(), Request::ListVrs).await.unwrap_err();
            taker.join().unwrap();
            assert_eq!((e.status, e.code), (503, "unavailable"));
            // The loop is gone: the command cannot even be queued.
            let (st, rx) = state();
            drop(rx);
            let e = st.call(who(), Request::ListVrs).await.unwrap_err();
            assert_eq!((e.status, e.code), (503, "unavailable"));
            // An answer comes back as it was sent.
            let (st, rx) = state();
            let answerer = std::thread::spawn(move || {
                let c = rx.recv().unwrap();
                let _ = c.reply.send(Ok(Answer::Json(200, json!([1]))));
            });
            let a = st.call(who(), Request::ListVrs).await.unwrap();
            answerer.join().unwrap();
            assert!(matches!(a, Answer::Json(200, v) if v == json!([1])));
        });
    }
}
