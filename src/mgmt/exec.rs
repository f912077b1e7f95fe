//! The control thread's side of the API: commands from the API thread, carried out inside
//! `AppSupervisor::tick` (the only place that touches the `Core` and the running document).
//!
//! A transaction is applied to a copy of the running document ([`super::ops`]), emitted
//! and checked as a profile ([`super::document::check`]) — or, when it only adds and
//! deletes routes, checked route by route on the fast path ([`super::fast`]) — refused if it
//! changes what needs a restart, then applied with [`crate::reload::apply`] (or
//! [`crate::reload::apply_routes`]) and published before the answer goes back; on any
//! failure the running document, configuration and tables stay as they were. The
//! transactions of one tick are published together ([`MgmtLink::tick`]). Reads build their views from the document and the live counters; statistics are a
//! [`Snapshot`] cut to the caller's scope.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use controlcore::Core;
use crossbeam::channel::Receiver;
use dataplane::buffer::PacketBuf;
use dataplane::counters::{Drop, WorkerCounters};
use serde::Deserialize;
use serde_json::{json, Value};
use vr::vr_counter;

use super::audit::Audit;
use super::auth::{Principal, Principals};
use super::document;
use super::ops::{self, Applied, Change};
use super::scope::{Role, Scope};
use super::snapshot::{vr_bytes, PortStats, RadiusStats, Snapshot, VrStats, WorkerStats};
use super::ApiError;
use crate::config::Config;
use crate::reload::Outcome;

/// Commands the channel holds before the API answers 503.
pub const QUEUE: usize = 1024;
/// Commands carried out per loop iteration, at most.
pub const PER_TICK: usize = 64;
/// Time one loop iteration spends on commands before it goes back to punts and timers (a
/// command started is finished).
pub const TICK_BUDGET: Duration = Duration::from_millis(2);

/// A transaction: changes applied all together or not at all.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// Check only; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to a transaction (and to a reload).
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TxResult {
    /// One line per table or service change applied.
    pub applied: Vec<String>,
    /// Versions of the forwarding state published so far (the change is in this one).
    pub version: u64,
    /// Only checked, nothing applied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Tokens of principals the transaction added, shown this once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<NewToken>,
}

/// A new principal's token.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// The principal.
    pub name: String,
    /// Its bearer token.
    pub token: String,
}

fn tx_json(r: TxResult) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// What a transaction came to before the tick publishes.
enum Staged {
    /// Answered as it is (a dry run).
    Ready(Answer),
    /// Applied to the writer: answered with the version the tick's publish makes.
    Applied(TxResult),
}

type Reply = tokio::sync::oneshot::Sender<Result<Answer, ApiError>>;

/// Transactions of one tick waiting for their publish: every transaction is checked and
/// applied to the writer on its own (all or nothing), then one publish carries all the
/// accepted ones and each gets its own answer, in the order they came. A refused one is
/// answered with its error and changed nothing.
#[derive(Default)]
struct Held {
    replies: Vec<(Reply, Result<Staged, ApiError>)>,
}

impl Held {
    fn flush<B: PacketBuf>(&mut self, core: &mut Core<B>) {
        if self.replies.is_empty() {
            return;
        }
        core.publish();
        let v = version(core);
        for (tx, r) in self.replies.drain(..) {
            let a = r.map(|s| match s {
                Staged::Ready(a) => a,
                Staged::Applied(mut t) => {
                    t.version = v;
                    Answer::Json(200, tx_json(t))
                }
            });
            let _ = tx.send(a);
        }
    }
}

/// What the API asks of the control thread.
#[derive(Clone, Debug)]
pub enum Request {
    /// VRs in scope, with counters.
    ListVrs,
    /// One VR's document and counters.
    GetVr(String),
    /// The scoped statistics snapshot.
    Stats,
    /// A transaction.
    Transaction(Transaction),
    /// A VR's interfaces.
    ListInterfaces(String),
    /// A VR's routes.
    ListRoutes(String),
    /// Label matrix entries in scope.
    ListLabels,
    /// Static neighbours.
    ListNeighbors,
    /// A VR's L2TP tunnels.
    Tunnels(String),
    /// A VR's discovery configuration map.
    VrMap(String),
    /// LDP: sessions, bindings, installed cross connects, counters (appliance-wide).
    Ldp,
    /// A VR's VPN peering channels.
    VrPeers(String),
    /// The Mobile IP agents' bindings, tunnels or counters (scoped).
    Mobile(super::mobile::Listing),
    /// Clears a tunnel (StopCCN).
    ClearTunnel(String, u16),
    /// A VR's sessions.
    Sessions(String),
    /// Disconnects a session (`tunnel-session` or a relayed link's id).
    Disconnect(String, String),
    /// Re-reads the profile file.
    Reload,
    /// The running profile as YAML.
    GetConfig,
    /// Writes the running profile (default: the profile file).
    SaveConfig(Option<PathBuf>),
}

/// A successful answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// JSON with a status (200, 201, 204).
    Json(u16, Value),
    /// YAML text.
    Yaml(String),
    /// A statistics snapshot (already scoped).
    Snapshot(Box<Snapshot>),
}

/// One request with its caller and where the answer goes.
pub struct Command {
    /// The authenticated caller.
    pub principal: Arc<Principal>,
    /// What it asks.
    pub req: Request,
    /// The answer.
    pub reply: tokio::sync::oneshot::Sender<Result<Answer, ApiError>>,
}

/// The control thread's end of the API: the command channel and the running document.
pub struct MgmtLink {
    rx: Receiver<Command>,
    /// The running profile document (what the API reads and changes).
    pub doc: Value,
    path: PathBuf,
    principals: Arc<ArcSwap<Principals>>,
    audit: Arc<Audit>,
    start: Instant,
    /// Commands carried out.
    pub commands: u64,
    /// The AAA thread's counters, when the profile runs one (set by the appliance).
    pub aaa: Option<Arc<std::sync::Mutex<crate::aaa::AaaStats>>>,
    /// The port backend's own per-port statistics (kernel counters, checksum completion,
    /// DPDK xstats), set by the appliance once the backend is up.
    pub devices: Option<controlcore::PortStatsSource>,
    /// LDP's shared state, when the profile runs LDP (set by the appliance).
    pub ldp: Option<Arc<std::sync::Mutex<crate::ldp::LdpShared>>>,
    /// Whether route-only transactions take the fast path (on; `VAROUTER_API_FAST=0`
    /// turns it off, to compare the two paths).
    pub fast: bool,
    /// Which way the transactions went.
    pub paths: TxPaths,
    waker: Arc<OnceLock<std::thread::Thread>>,
}

impl MgmtLink {
    /// The control side of a channel.
    pub fn new(
        rx: Receiver<Command>,
        doc: Value,
        path: PathBuf,
        principals: Arc<ArcSwap<Principals>>,
        audit: Arc<Audit>,
    ) -> Self {
        MgmtLink {
            rx,
            doc,
            path,
            principals,
            audit,
            start: Instant::now(),
            commands: 0,
            aaa: None,
            devices: None,
            ldp: None,
            fast: std::env::var("VAROUTER_API_FAST").map_or(true, |v| v != "0"),
            paths: TxPaths::default(),
            waker: Arc::new(OnceLock::new()),
        }
    }

    /// The profile file was reloaded (SIGHUP) and applied as `running`: the document
    /// follows it.
    pub fn reloaded(&mut self, running: &Config) {
        match document::load(&self.path) {
            Ok(d) => self.doc = d,
            Err(e) => eprintln!("varouter: management: {e}; the API keeps the previous document"),
        }
        self.follow(running);
    }

    /// Principals and the audit file follow the running configuration.
    fn follow(&mut self, running: &Config) {
        if let Some(m) = &running.management {
            self.principals
                .store(Arc::new(Principals::from_cfg(&m.principals)));
            self.audit.set_file(m.audit_log.clone());
        }
    }

    /// One loop iteration: carries out up to [`PER_TICK`] commands within [`TICK_BUDGET`].
    /// Transactions are checked and applied one by one and answered after one publish at
    /// the end (or before the next command of another kind, which then sees them).
    /// (The snapshot's `loop_latency` is each loop iteration's busy time and `publish` every
    /// published version with its commit-and-swap time, both measured by the control core.)
    pub fn tick<B: PacketBuf>(
        &mut self,
        core: &mut Core<B>,
        running: &mut Config,
        counters: &[Arc<WorkerCounters>],
        now: Instant,
    ) {
        self.waker.get_or_init(std::thread::current);
        let t0 = Instant::now();
        let mut held = Held::default();
        for _ in 0..PER_TICK {
            if t0.elapsed() > TICK_BUDGET {
                break;
            }
            let Ok(cmd) = self.rx.try_recv() else {
                break;
            };
            self.commands += 1;
            match cmd.req {
                Request::Transaction(t) => {
                    let r = self.transaction(core, running, &cmd.principal, t, now);
                    held.replies.push((cmd.reply, r));
                }
                req => {
                    // Whatever else is asked sees every change answered before it.
                    held.flush(core);
                    let ans = self.execute(core, running, counters, &cmd.principal, req, now);
                    let _ = cmd.reply.send(ans);
                }
            }
        }
        held.flush(core);
    }

    /// The handle the API thread uses to wake the control loop when it queues a command
    /// (set by the first [`MgmtLink::tick`], i.e. on the control thread).
    pub fn waker(&self) -> Arc<OnceLock<std::thread::Thread>> {
        self.waker.clone()
    }

    fn execute<B: PacketBuf>(
        &mut self,
        core: &mut Core<B>,
        running: &mut Config,
        counters: &[Arc<WorkerCounters>],
        who: &Principal,
        req: Request,
        now: Instant,
    ) -> Result<Answer, ApiError> {
        let scope = who.scope();
        let carrier = || {
            if who.role == Role::CarrierAdmin {
                Ok(())
            } else {
                Err(ApiError::forbidden(format!(
                    "a {} may not do this",
                    who.role.name()
                )))
            }
        };
        match req {
            Request::ListVrs => {
                let st = core.state();
                let list: Vec<Value> = self
                    .vrs_in(&scope)
                    .map(|v| {
                        let id = v.get("id").and_then(Value::as_u64).unwrap_or(0) as u32;
                        let (rx, tx, drops) = vr_totals(&st, id);
                        json!({
                            "name": v.get("name"),
                            "id": id,
                            "vpn_id": v.get("vpn_id"),
                            "tenant": v.get("tenant"),
                            "interfaces": len(v, "interfaces"),
                            "routes": len(v, "routes"),
                            "l2tp_role": v.get("l2tp").and_then(|l| l.get("role")),
                            "rx": rx, "tx": tx, "drops": drops,
                        })
                    })
                    .collect();
                Ok(Answer::Json(200, Value::Array(list)))
            }
            Request::GetVr(name) => {
                let ix = ops::find_vr(&self.doc, &name, &scope)?;
                let v = &self.doc["virtual_routers"][ix];
                let id = v.get("id").and_then(Value::as_u64).unwrap_or(0) as u32;
                let st = core.state();
                let per_worker: Vec<Value> = st
                    .vr(vr::VrId(id))
                    .map(|e| {
                        (0..e.counters.workers())
                            .filter_map(|w| e.counters.worker(w))
                            .map(|l| {
                                json!({
                                    "rx_packets": l.get(vr_counter::RX),
                                    "tx_packets": l.get(vr_counter::TX),
                                    "drops": l.get(vr_counter::DROP),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let (rx, tx, drops) = vr_totals(&st, id);
                Ok(Answer::Json(
                    200,
                    json!({
                        "vr": v,
                        "counters": {"rx_packets": rx, "tx_packets": tx, "drops": drops,
                                     "per_worker": per_worker},
                    }),
                ))
            }
            Request::Stats => Ok(Answer::Snapshot(Box::new(
                self.snapshot(core, running, counters).scoped(&scope),
            ))),
            Request::ListInterfaces(vr) => {
                let ix = ops::find_vr(&self.doc, &vr, &scope)?;
                let v = &self.doc["virtual_routers"][ix];
                Ok(Answer::Json(
                    200,
                    v.get("interfaces").cloned().unwrap_or(json!([])),
                ))
            }
            Request::ListRoutes(vr) => {
                let ix = ops::find_vr(&self.doc, &vr, &scope)?;
                let v = &self.doc["virtual_routers"][ix];
                Ok(Answer::Json(
                    200,
                    v.get("routes").cloned().unwrap_or(json!([])),
                ))
            }
            Request::ListLabels => {
                let list: Vec<Value> = self
                    .doc
                    .get("label_matrix")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter(|e| {
                                scope.sees_appliance()
                                    || e.get("vr")
                                        .and_then(Value::as_str)
                                        .is_some_and(|v| ops::find_vr(&self.doc, v, &scope).is_ok())
                            })
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Answer::Json(200, Value::Array(list)))
            }
            Request::ListNeighbors => {
                if !scope.sees_appliance() {
                    return Err(ApiError::forbidden("static neighbours are appliance-wide"));
                }
                Ok(Answer::Json(
                    200,
                    self.doc.get("neighbors").cloned().unwrap_or(json!([])),
                ))
            }
            Request::Transaction(t) => {
                let r = self.transaction(core, running, who, t, now)?;
                core.publish();
                Ok(match r {
                    Staged::Ready(a) => a,
                    Staged::Applied(mut t) => {
                        t.version = version(core);
                        Answer::Json(200, tx_json(t))
                    }
                })
            }
            Request::Tunnels(vr) => {
                let id = self.vr_id(&vr, &scope)?;
                Ok(Answer::Json(200, super::sessions::tunnels(core, id)))
            }
            Request::VrMap(vr) => {
                let id = self.vr_id(&vr, &scope)?;
                Ok(Answer::Json(
                    200,
                    super::discovery::vr_map(core, running, id, now)?,
                ))
            }
            Request::Ldp => {
                if !scope.sees_appliance() {
                    return Err(ApiError::forbidden("LDP is appliance-wide"));
                }
                let Some(l) = &self.ldp else {
                    return Err(ApiError::not_found(
                        "this appliance runs no LDP (its profile has no `ldp:` section)",
                    ));
                };
                let g = l.lock().unwrap_or_else(|p| p.into_inner());
                let mut d = crate::ldp::document(&g);
                drop(g);
                // What the label matrix holds in LDP's block now (the control loop's
                // writer), to compare with what LDP installed.
                let block = crate::ldp::block_of(&d);
                let matrix: Vec<Value> = core
                    .writer()
                    .labels()
                    .filter(|(l, _)| block.as_ref().is_some_and(|b| b.contains(&l.value())))
                    .map(|(l, op)| json!({"label": l.value(), "op": format!("{op:?}")}))
                    .collect();
                if let Value::Object(m) = &mut d {
                    m.insert("label_matrix".into(), Value::Array(matrix));
                }
                Ok(Answer::Json(200, d))
            }
            Request::VrPeers(vr) => {
                let id = self.vr_id(&vr, &scope)?;
                Ok(Answer::Json(
                    200,
                    super::vpn_peering::vr_peers(core, running, id, now)?,
                ))
            }
            Request::Mobile(what) => Ok(Answer::Json(
                200,
                super::mobile::listing(core, &self.doc, &scope, what, now)?,
            )),
            Request::Sessions(vr) => {
                let id = self.vr_id(&vr, &scope)?;
                Ok(Answer::Json(200, super::sessions::sessions(core, id, now)))
            }
            Request::ClearTunnel(vr, t) => {
                if !who.role.may_write() {
                    return Err(ApiError::forbidden("read-only"));
                }
                let id = self.vr_id(&vr, &scope)?;
                super::sessions::clear_tunnel(core, id, t, now)?;
                core.publish();
                Ok(Answer::Json(204, Value::Null))
            }
            Request::Disconnect(vr, s) => {
                if !who.role.may_write() {
                    return Err(ApiError::forbidden("read-only"));
                }
                let id = self.vr_id(&vr, &scope)?;
                super::sessions::disconnect(core, id, &s, now)?;
                core.publish();
                Ok(Answer::Json(204, Value::Null))
            }
            Request::Reload => {
                carrier()?;
                match crate::reload::reload(core, running, &self.path.clone(), now) {
                    Outcome::Applied(lines) => {
                        self.reloaded(running);
                        core.publish();
                        Ok(Answer::Json(
                            200,
                            tx_json(TxResult {
                                applied: lines,
                                version: version(core),
                                ..TxResult::default()
                            }),
                        ))
                    }
                    Outcome::Invalid(n) => Err(ApiError::invalid(format!(
                        "the profile file has {n} error(s) (see `varouter check`); nothing applied"
                    ))),
                    Outcome::NeedsRestart(why) => Err(ApiError::conflict(format!(
                        "the profile file changes what needs a restart: {}; nothing applied",
                        why.join(", ")
                    ))),
                    Outcome::Refused(e) => {
                        Err(ApiError::invalid(format!("refused: {e}; nothing applied")))
                    }
                }
            }
            Request::GetConfig => {
                carrier()?;
                Ok(Answer::Yaml(document::emit(&self.doc).text))
            }
            Request::SaveConfig(p) => {
                carrier()?;
                let base = self.path.parent().unwrap_or(std::path::Path::new("."));
                let path = p.map_or_else(|| self.path.clone(), |p| base.join(p));
                let text = document::emit(&self.doc).text;
                document::save(&path, &text).map_err(|e| {
                    ApiError::conflict(format!("cannot write {}: {e}", path.display()))
                })?;
                Ok(Answer::Json(
                    200,
                    json!({"path": path.display().to_string(), "bytes": text.len()}),
                ))
            }
        }
    }

    fn vrs_in<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a Value> + 'a {
        self.doc
            .get("virtual_routers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(move |v| scope.sees(v.get("tenant").and_then(Value::as_str).unwrap_or("")))
    }

    fn vr_id(&self, name: &str, scope: &Scope) -> Result<vr::VrId, ApiError> {
        let ix = ops::find_vr(&self.doc, name, scope)?;
        Ok(vr::VrId(
            self.doc["virtual_routers"][ix]
                .get("id")
                .and_then(Value::as_u64)
                .unwrap_or(0) as u32,
        ))
    }

    fn transaction<B: PacketBuf>(
        &mut self,
        core: &mut Core<B>,
        running: &mut Config,
        who: &Principal,
        t: Transaction,
        now: Instant,
    ) -> Result<Staged, ApiError> {
        if !who.role.may_write() {
            return Err(ApiError::forbidden("a read-only principal changes nothing"));
        }
        if t.changes.is_empty() {
            return Err(ApiError::bad_request("the transaction has no changes").at("/changes"));
        }
        let owner = running
            .management
            .as_ref()
            .map_or(crate::config::DEFAULT_OWNER, |m| m.owner.as_str())
            .to_string();
        let moves = t.changes.iter().any(Change::is_move);
        if moves && t.changes.iter().all(Change::is_move) {
            // Live state only: the document does not change (`ops::apply` checks only
            // that the caller sees both VRs).
            let mut applied = Applied::default();
            for (i, c) in t.changes.iter().enumerate() {
                ops::apply(&mut self.doc, c, i, who, &owner, &mut applied)?;
            }
            let planned = super::moves::plan(core, running, &t.changes)?;
            self.paths.moves += 1;
            if t.dry_run {
                return Ok(Staged::Ready(Answer::Json(
                    200,
                    tx_json(TxResult {
                        version: version(core),
                        dry_run: true,
                        ..TxResult::default()
                    }),
                )));
            }
            let lines = super::moves::apply(core, &planned, now)?;
            return Ok(Staged::Applied(TxResult {
                applied: lines,
                ..TxResult::default()
            }));
        }
        // The document is changed in place; `undo` puts it back unless the transaction is
        // applied.
        let Prepared {
            config: new,
            routes,
            applied,
            undo,
        } = prepare_counted(
            &self.path,
            &mut self.doc,
            running,
            who,
            &owner,
            &t.changes,
            self.fast,
            &mut self.paths,
        )
        .map_err(|r| match r {
            Refusal::Change(e) => e,
            Refusal::Check(e) => self.confine(e, who),
        })?;
        // (After `prepare`: who may delete VRs at all is answered first.)
        if let Some(e) = self.deletes_vr_with_moved_sessions(core, running, &t.changes) {
            undo.restore(&mut self.doc);
            return Err(e);
        }
        // To put the tables back when a move of the transaction is refused after the
        // document's changes were applied.
        let before = moves.then(|| running.clone());
        let r = Self::commit(core, running, new, routes, t.dry_run, now);
        let r = match (r, before) {
            (Ok(Some(mut lines)), Some(before)) => {
                match super::moves::plan(core, running, &t.changes)
                    .and_then(|p| super::moves::apply(core, &p, now))
                {
                    Ok(more) => {
                        lines.extend(more);
                        Ok(Some(lines))
                    }
                    Err(e) => {
                        // Nothing published yet: the document's changes are taken back.
                        if !matches!(
                            crate::reload::apply(core, running, before, now),
                            Outcome::Applied(_)
                        ) {
                            tracing::error!(
                                "management: taking back a refused transaction failed; the running configuration stays"
                            );
                        }
                        Err(Refusal::Change(e))
                    }
                }
            }
            (Ok(None), Some(_)) => super::moves::plan(core, running, &t.changes)
                .map(|_| None)
                .map_err(Refusal::Change),
            (r, _) => r,
        };
        match r {
            Ok(Some(lines)) => {
                // Published by the tick, with the other transactions it carries out.
                self.follow(running);
                Ok(Staged::Applied(TxResult {
                    applied: lines,
                    version: 0,
                    dry_run: false,
                    tokens: applied
                        .tokens
                        .into_iter()
                        .map(|(name, token)| NewToken { name, token })
                        .collect(),
                }))
            }
            Ok(None) => {
                undo.restore(&mut self.doc);
                Ok(Staged::Ready(Answer::Json(
                    200,
                    tx_json(TxResult {
                        version: version(core),
                        dry_run: true,
                        ..TxResult::default()
                    }),
                )))
            }
            Err(r) => {
                undo.restore(&mut self.doc);
                Err(match r {
                    Refusal::Change(e) => e,
                    Refusal::Check(e) => self.confine(e, who),
                })
            }
        }
    }

    /// A transaction that deletes a VR into which sessions or tunnels of other VRs were
    /// moved is refused (409): they would lose their routing VR while their tunnel or PPP
    /// goes on elsewhere. They are moved back (or ended) first.
    fn deletes_vr_with_moved_sessions<B: PacketBuf>(
        &self,
        core: &Core<B>,
        running: &Config,
        changes: &[Change],
    ) -> Option<ApiError> {
        for (i, c) in changes.iter().enumerate() {
            let Change::DeleteVr { vr } = c else { continue };
            let Some(id) = running
                .vrs
                .iter()
                .find(|v| &v.name == vr)
                .map(|v| vr::VrId(v.id))
            else {
                continue;
            };
            let sessions = core
                .writer()
                .sessions()
                .filter(|(_, b)| b.vr == id && b.tunnel_vr != id)
                .count();
            let tunnels = core
                .service::<controlplane::l2tp::service::L2tpService>()
                .map_or(0, |s| s.tunnels_moved_into(id).len());
            if sessions + tunnels > 0 {
                return Some(
                    ApiError::conflict(format!(
                        "VR `{vr}` routes {sessions} session(s) and {tunnels} tunnel(s) moved into it from other VRs; move them back first"
                    ))
                    .at(format!("/changes/{i}/vr")),
                );
            }
        }
        None
    }

    /// Applies a checked configuration: the lines of what changed, or `None` for a dry run.
    fn commit<B: PacketBuf>(
        core: &mut Core<B>,
        running: &mut Config,
        new: Config,
        routes: Option<Vec<vr::Change>>,
        dry_run: bool,
        now: Instant,
    ) -> Result<Option<Vec<String>>, Refusal> {
        let admins = |c: &Config| {
            c.management.as_ref().map_or(0, |m| {
                m.principals
                    .iter()
                    .filter(|p| p.role == Role::CarrierAdmin)
                    .count()
            })
        };
        if admins(&new) == 0 && admins(running) > 0 {
            return Err(Refusal::Change(ApiError::conflict(
                "the transaction leaves no carrier-admin: nobody could administer the appliance",
            )));
        }
        let why = crate::reload::restart_needed(running, &new);
        if !why.is_empty() {
            return Err(Refusal::Change(ApiError::conflict(format!(
                "changing {} needs a restart",
                why.join(", ")
            ))));
        }
        if dry_run {
            return Ok(None);
        }
        let outcome = match routes {
            Some(changes) => crate::reload::apply_routes(core, running, new, &changes, now),
            None => crate::reload::apply(core, running, new, now),
        };
        match outcome {
            Outcome::Applied(lines) => Ok(Some(lines)),
            Outcome::NeedsRestart(why) => Err(Refusal::Change(ApiError::conflict(format!(
                "changing {} needs a restart",
                why.join(", ")
            )))),
            Outcome::Refused(e) => Err(Refusal::Check(ApiError::invalid(format!(
                "the tables refused the change: {e}"
            )))),
            Outcome::Invalid(n) => Err(Refusal::Change(ApiError::invalid(format!("{n} error(s)")))),
        }
    }

    /// A checker message may name VRs; a scoped caller must not learn of VRs outside its
    /// scope, so such a message (or one pointing into such a VR) is replaced.
    fn confine(&self, mut e: ApiError, who: &Principal) -> ApiError {
        let scope = who.scope();
        if scope.sees_appliance() {
            return e;
        }
        let hidden: Vec<(usize, &str)> = self
            .doc
            .get("virtual_routers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, v)| !scope.sees(v.get("tenant").and_then(Value::as_str).unwrap_or("")))
            .map(|(i, v)| (i, v.get("name").and_then(Value::as_str).unwrap_or("")))
            .collect();
        let leaks = hidden.iter().any(|(i, n)| {
            e.message.contains(&format!("`{n}`"))
                || e.profile_pointer.as_deref().is_some_and(|p| {
                    p == format!("/virtual_routers/{i}")
                        || p.starts_with(&format!("/virtual_routers/{i}/"))
                })
        });
        if leaks {
            e.message = "the change conflicts with configuration outside your scope".into();
            e.profile_pointer = None;
        }
        e
    }

    /// The full snapshot (cut to a scope by the caller).
    pub fn snapshot<B: PacketBuf>(
        &self,
        core: &Core<B>,
        running: &Config,
        counters: &[Arc<WorkerCounters>],
    ) -> Snapshot {
        let st = core.state();
        let mut devices: HashMap<String, Vec<(String, u64)>> = self
            .devices
            .as_ref()
            .map(|d| d().into_iter().collect())
            .unwrap_or_default();
        let ports = running
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| PortStats {
                name: p.name.clone(),
                rx_packets: counters.iter().map(|w| w.port_rx.get(i)).sum(),
                tx_packets: counters.iter().map(|w| w.port_tx.get(i)).sum(),
                drops: counters.iter().map(|w| w.port_drop.get(i)).sum(),
                device: devices
                    .remove(&p.name)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            })
            .collect();
        let workers = counters
            .iter()
            .map(|w| WorkerStats {
                id: w.worker,
                rx_packets: (0..running.ports.len()).map(|i| w.port_rx.get(i)).sum(),
                tx_packets: (0..running.ports.len()).map(|i| w.port_tx.get(i)).sum(),
                drops: Drop::ALL
                    .iter()
                    .map(|d| (d.name().to_string(), w.drops(*d)))
                    .filter(|d| d.1 > 0)
                    .collect::<BTreeMap<_, _>>(),
                punts: dataplane::counters::Punt::ALL
                    .iter()
                    .map(|p| w.punts(*p))
                    .sum(),
            })
            .collect();
        let l2tp = super::sessions::occupancy(core);
        let disc = core.service::<controlplane::discovery::service::DiscoveryService>();
        let vrs = running
            .vrs
            .iter()
            .map(|v| {
                let (rx, tx, drops) = vr_totals(&st, v.id);
                let (rx_bytes, tx_bytes) = vr_bytes(&st, v.id);
                let (tunnels, sessions) = l2tp.get(&v.id).copied().unwrap_or((0, 0));
                VrStats {
                    name: v.name.clone(),
                    id: v.id,
                    tenant: v.tenant.clone(),
                    rx_packets: rx,
                    tx_packets: tx,
                    rx_bytes,
                    tx_bytes,
                    drops,
                    tunnels,
                    sessions,
                    discovery_peers: disc.map_or(0, |d| d.peer_count(vr::VrId(v.id)) as u64),
                }
            })
            .collect();
        let radius = super::sessions::radius(core, running)
            .into_iter()
            .map(|(vr, tenant, counters)| RadiusStats {
                vr,
                tenant,
                counters,
            })
            .collect();
        Snapshot {
            uptime_s: self.start.elapsed().as_secs_f64(),
            ports,
            workers,
            vrs,
            radius,
            // Measured on the control thread by the run loop and Core::publish.
            loop_latency: (&core.stats.loop_busy).into(),
            publish: (&core.stats).into(),
            aaa: self
                .aaa
                .as_ref()
                .and_then(|a| a.lock().ok().map(|g| (&*g).into())),
            discovery: disc.map(|d| {
                super::snapshot::DiscoverySnapshot::from_counters(&controlcore::Service::counters(
                    d,
                ))
            }),
            ldp: self
                .ldp
                .as_ref()
                .and_then(|l| l.lock().ok().map(|g| (&*g).into())),
            vpn_peering: core
                .service::<controlplane::vpnpeer::service::VpnPeerService>()
                .map(|v| {
                    super::snapshot::VpnPeeringSnapshot::from_counters(
                        &controlcore::Service::counters(v),
                    )
                }),
            transactions: self.paths.clone(),
            mobile: super::mobile::stats(core, running),
        }
    }

    /// How long the control thread may take to answer before the API gives up.
    pub const TIMEOUT: Duration = Duration::from_secs(5);
}

/// Which way the transactions went (statistics, `/metrics`): route-only ones by the fast
/// path or the full one (and why), the others the full way, moves-only ones without the
/// document.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TxPaths {
    /// Checked by the fast path (route changes only).
    pub fast: u64,
    /// Checked by the whole-profile path.
    pub full: u64,
    /// Moves only (sessions, tunnels): no document change to check.
    pub moves: u64,
    /// Route-only transactions that went the full way, by reason
    /// (`super::fast::Fallback::name`).
    pub fallbacks: BTreeMap<String, u64>,
}

impl TxPaths {
    fn note(&mut self, path: Option<Result<(), super::fast::Fallback>>) {
        match path {
            Some(Ok(())) => self.fast += 1,
            Some(Err(why)) => {
                self.full += 1;
                *self.fallbacks.entry(why.name().to_string()).or_default() += 1;
            }
            None => self.full += 1,
        }
    }
}

/// A transaction's changes applied to the document and checked.
pub struct Prepared {
    /// The configuration the changed document checks to.
    pub config: Config,
    /// The table changes, when the fast path ([`super::fast`]) computed them (else
    /// [`crate::reload::apply`] diffs the whole state).
    pub routes: Option<Vec<vr::Change>>,
    /// What the changes placed in the document, and new tokens.
    pub applied: Applied,
    /// Puts the document back as it was.
    pub undo: Undo,
}

/// What puts a document changed by [`prepare`] back.
pub enum Undo {
    /// The whole document as it was.
    Doc(Box<Value>),
    /// Route changes only: what each one did, undone in reverse order.
    Routes(Vec<RouteStep>),
}

/// One route change made to the document in place.
pub enum RouteStep {
    /// A route appended to VR `ix`'s `routes`.
    Added {
        /// VR index.
        ix: usize,
        /// `None`: `routes` was a list. Else the change made it one, and this is what it
        /// was (`None`: absent).
        replaced: Option<Option<Value>>,
    },
    /// Route `at` of VR `ix` removed; it was `route`.
    Deleted {
        /// VR index.
        ix: usize,
        /// Its index in `routes`.
        at: usize,
        /// The route.
        route: Value,
    },
}

impl Undo {
    /// Restores `doc`.
    pub fn restore(self, doc: &mut Value) {
        match self {
            Undo::Doc(d) => *doc = *d,
            Undo::Routes(steps) => {
                for step in steps.into_iter().rev() {
                    let ix = match &step {
                        RouteStep::Added { ix, .. } | RouteStep::Deleted { ix, .. } => *ix,
                    };
                    let Some(vr) = doc
                        .get_mut("virtual_routers")
                        .and_then(|l| l.get_mut(ix))
                        .and_then(Value::as_object_mut)
                    else {
                        continue;
                    };
                    match step {
                        RouteStep::Added {
                            replaced: Some(before),
                            ..
                        } => match before {
                            Some(v) => {
                                vr.insert("routes".into(), v);
                            }
                            None => {
                                vr.remove("routes");
                            }
                        },
                        RouteStep::Added { replaced: None, .. } => {
                            if let Some(l) = vr.get_mut("routes").and_then(Value::as_array_mut) {
                                l.pop();
                            }
                        }
                        RouteStep::Deleted { at, route, .. } => {
                            if let Some(l) = vr.get_mut("routes").and_then(Value::as_array_mut) {
                                l.insert(at.min(l.len()), route);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Why [`prepare`] refused a transaction.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// A change could not be made (authorization, what it names): said as it is.
    Change(ApiError),
    /// The changed profile does not check (the checker's errors, first one's pointer); a
    /// scoped caller gets it confined (`MgmtLink::confine`).
    Check(ApiError),
}

/// Applies `changes` as `who` to `doc` (the running profile document, which checks to
/// `running`) and checks the result, by the fast path when `fast` is set and the
/// transaction is one it takes, else by emitting and checking the whole profile. Both give
/// the same answer (`tests/mgmt_fast.rs`). On success `doc` is the changed document (and
/// [`Prepared::undo`] puts it back); when refused, `doc` is as it was.
///
/// A transaction of only route changes is applied in place, remembering only what each
/// change did to undo it (the document is not copied); any other one works on a copy.
pub fn prepare(
    path: &Path,
    doc: &mut Value,
    running: &Config,
    who: &Principal,
    owner: &str,
    changes: &[Change],
    fast: bool,
) -> Result<Prepared, Refusal> {
    prepare_counted(
        path,
        doc,
        running,
        who,
        owner,
        changes,
        fast,
        &mut TxPaths::default(),
    )
}

/// [`prepare`], counting in `paths` which way the transaction was checked (when it got
/// that far: a change refused before the check is not counted).
#[allow(clippy::too_many_arguments)]
pub fn prepare_counted(
    path: &Path,
    doc: &mut Value,
    running: &Config,
    who: &Principal,
    owner: &str,
    changes: &[Change],
    fast: bool,
    paths: &mut TxPaths,
) -> Result<Prepared, Refusal> {
    let route_changes = changes
        .iter()
        .all(|c| matches!(c, Change::AddRoute { .. } | Change::DeleteRoute { .. }));
    let routes_only = fast && route_changes;
    let mut undo = if routes_only {
        Undo::Routes(Vec::with_capacity(changes.len()))
    } else {
        Undo::Doc(Box::new(doc.clone()))
    };
    let mut applied = Applied::default();
    let mut edits = super::fast::RouteEdits::default();
    for (i, c) in changes.iter().enumerate() {
        if fast {
            edits.note(doc, c);
        }
        // What the change is about to do, to undo it (route changes in place).
        let step = match (&undo, c) {
            (Undo::Routes(_), Change::AddRoute { vr, .. }) => {
                ops::find_vr(doc, vr, &super::scope::Scope::All)
                    .ok()
                    .map(|ix| {
                        let routes = doc["virtual_routers"][ix].get("routes");
                        RouteStep::Added {
                            ix,
                            replaced: match routes {
                                Some(r) if r.is_array() => None,
                                other => Some(other.cloned()),
                            },
                        }
                    })
            }
            (Undo::Routes(_), Change::DeleteRoute { vr, prefix }) => {
                ops::find_vr(doc, vr, &super::scope::Scope::All)
                    .ok()
                    .and_then(|ix| {
                        let at = ops::route_index(doc, ix, prefix)?;
                        Some(RouteStep::Deleted {
                            ix,
                            at,
                            route: doc["virtual_routers"][ix]["routes"][at].clone(),
                        })
                    })
            }
            _ => None,
        };
        if let Err(e) = ops::apply(doc, c, i, who, owner, &mut applied) {
            undo.restore(doc);
            return Err(Refusal::Change(e));
        }
        if let (Undo::Routes(steps), Some(step)) = (&mut undo, step) {
            steps.push(step);
        }
    }
    let full = |doc: &Value| document::check(path, doc).map(|(config, _)| (config, None));
    let (checked, way) = if fast {
        match edits.finish(path, doc, running) {
            Ok(Ok((config, routes))) => (Ok((config, Some(routes))), Some(Ok(()))),
            Ok(Err(errs)) => (Err(errs), Some(Ok(()))),
            Err(why) => (full(doc), why.map(Err)),
        }
    } else {
        let why = route_changes.then_some(Err(super::fast::Fallback::Disabled));
        (full(doc), why)
    };
    paths.note(way);
    match checked {
        Ok((config, routes)) => Ok(Prepared {
            config,
            routes,
            applied,
            undo,
        }),
        Err(errs) => {
            undo.restore(doc);
            Err(Refusal::Check(check_error(&errs, &applied)))
        }
    }
}

/// The checker's errors as one API error: every message, the first one's pointer in the
/// profile and, when it lies in something the request placed, in the request.
fn check_error(errs: &[document::DocError], applied: &Applied) -> ApiError {
    let e = &errs[0];
    let msg = errs
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut err = if e.structural {
        ApiError::bad_request(msg)
    } else {
        ApiError::invalid(msg)
    };
    if let Some(p) = applied
        .placed
        .iter()
        .find(|p| e.pointer == p.at || e.pointer.starts_with(&format!("{}/", p.at)))
    {
        err.pointer = Some(format!("{}{}", p.from, &e.pointer[p.at.len()..]));
    }
    err.profile_pointer = Some(e.pointer.clone());
    err
}

fn vr_totals(st: &vr::ForwardingState, id: u32) -> (u64, u64, u64) {
    st.vr(vr::VrId(id)).map_or((0, 0, 0), |e| {
        (
            e.counters.total(vr_counter::RX),
            e.counters.total(vr_counter::TX),
            e.counters.total(vr_counter::DROP),
        )
    })
}

fn len(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// The version number of the published tables (publications so far).
pub fn version<B: PacketBuf>(core: &Core<B>) -> u64 {
    core.stat_lines()
        .iter()
        .find(|l| l.0 == "table_publications")
        .map_or(0, |l| l.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> MgmtLink {
        let doc = json!({"virtual_routers": [
            {"name": "mine", "tenant": "t1"},
            {"name": "theirs", "tenant": "t2"},
        ]});
        let (_tx, rx) = crossbeam::channel::bounded(1);
        MgmtLink::new(
            rx,
            doc,
            PathBuf::from("p.yaml"),
            Arc::new(ArcSwap::from_pointee(Principals::default())),
            Arc::new(Audit::new(None)),
        )
    }

    fn who(role: Role, tenant: Option<&str>) -> Principal {
        Principal {
            name: "x".into(),
            role,
            tenant: tenant.map(Into::into),
            token_hash: String::new(),
        }
    }

    #[test]
    fn checker_messages_never_name_vrs_outside_the_scope() {
        let l = link();
        let t1 = who(Role::TenantAdmin, Some("t1"));
        let mut e = ApiError::invalid("port p0 is bound to VR `theirs` already");
        e.profile_pointer = Some("/virtual_routers/0/interfaces/1".into());
        let c = l.confine(e.clone(), &t1);
        assert!(!c.message.contains("theirs"), "{c:?}");
        assert_eq!(c.profile_pointer, None);
        // The carrier sees everything as it is.
        assert_eq!(l.confine(e, &who(Role::CarrierAdmin, None)), {
            let mut e = ApiError::invalid("port p0 is bound to VR `theirs` already");
            e.profile_pointer = Some("/virtual_routers/0/interfaces/1".into());
            e
        });
        // A pointer into a hidden VR is hidden too; one into the caller's VR is kept.
        let mut e = ApiError::invalid("bad address");
        e.profile_pointer = Some("/virtual_routers/1/routes/0".into());
        assert_eq!(l.confine(e, &t1).profile_pointer, None);
        let mut e = ApiError::invalid("VR `mine`: bad address");
        e.profile_pointer = Some("/virtual_routers/0/routes/0".into());
        let kept = l.confine(e.clone(), &t1);
        assert_eq!(kept, e);
    }
}
