//! The fast path of a transaction made only of route additions and deletions (the changes
//! an API client makes most, and many per second).
//!
//! The full path ([`super::document::check`]) writes the whole changed document as YAML,
//! parses it back and checks the whole profile, then builds and compares the whole
//! forwarding state of the old and new configurations. A route change can affect only its
//! own VR's routes: nothing in a profile refers to a route, and a route's own check needs
//! only its VR's interfaces, the trunk ports, its VR's other prefixes and ESP SAs. So here:
//!
//! * each added route is parsed on its own ([`crate::profile::parse_part`], the same
//!   deserializer and messages) and checked by the very function the full checker runs on
//!   every route ([`crate::profile::check::added_route`]) against the running, already
//!   checked configuration;
//! * the new configuration is the running one with only the touched VRs' routes changed;
//! * the table changes are the difference of only the table entries of the prefixes the
//!   transaction touched ([`crate::tables::static_entry`], [`crate::tables::route_diff`]):
//!   nothing else of the VR can have changed.
//!
//! Errors are the full checker's: the same messages, in the order it would report them
//! (by position in the profile: VR, route, line, column), and only the first structural error when there is one (the
//! parser stops there), with the same JSON pointers. A transaction the fast path cannot
//! reproduce exactly — any other change, a deletion after an addition (which would move
//! the added route in the document), a document that does not line up with the running
//! configuration — goes the full way. `tests/mgmt_fast.rs` holds the two paths to the
//! same answers on a table of transactions.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde_json::Value;

use super::document::{self, DocError};
use super::ops::{self, Change};
use super::scope::Scope;
use crate::config::{Config, RouteCfg};
use crate::tables::{self, Routes};
use vr::IpPrefix;

/// Why a transaction of only route changes went the full way (counted per reason in the
/// statistics and `/metrics`: `api_transaction_fallbacks_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fallback {
    /// The fast path is turned off (`VAROUTER_API_FAST=0`).
    Disabled,
    /// A deletion after an addition (it could move the added route in the document).
    DeleteAfterAdd,
    /// The document does not line up with the running configuration (VR count or names).
    DocumentMismatch,
    /// A route table's own limit: the full path words the error.
    TableLimit,
}

impl Fallback {
    /// Every reason.
    pub const ALL: [Fallback; 4] = [
        Fallback::Disabled,
        Fallback::DeleteAfterAdd,
        Fallback::DocumentMismatch,
        Fallback::TableLimit,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Fallback::Disabled => "disabled",
            Fallback::DeleteAfterAdd => "delete_after_add",
            Fallback::DocumentMismatch => "document_mismatch",
            Fallback::TableLimit => "table_limit",
        }
    }
}

/// What a transaction did to one VR's routes, in document indices.
#[derive(Debug, Default)]
struct VrEdit {
    /// Routes deleted, each index in the list as it was then.
    deleted: Vec<usize>,
    /// Routes added, at these (final) indices.
    added: Vec<usize>,
}

/// Follows a transaction's changes as they are applied to the document, and afterwards
/// gives the configuration and table changes the full path would give (or `None`).
#[derive(Debug)]
pub struct RouteEdits {
    vrs: BTreeMap<usize, VrEdit>,
    eligible: bool,
    /// Route changes only, but the fast path cannot reproduce them: why.
    fallback: Option<Fallback>,
    added: bool,
}

impl Default for RouteEdits {
    fn default() -> Self {
        RouteEdits {
            vrs: BTreeMap::new(),
            eligible: true,
            fallback: None,
            added: false,
        }
    }
}

/// Why [`RouteEdits::finish`] leaves a transaction to the full path: `None` when it is not
/// one of only route changes (the fast path is not for it), else the reason.
pub type NotFast = Option<Fallback>;

/// The fast path's result: the new configuration and the table changes that take the
/// running state there.
pub type Prepared = (Config, Vec<vr::Change>);

impl RouteEdits {
    /// Notes change `c`, about to be applied to `doc` (called before [`ops::apply`]; if
    /// that refuses the change, the transaction ends and nothing noted matters).
    pub fn note(&mut self, doc: &Value, c: &Change) {
        if !self.eligible {
            return;
        }
        match c {
            Change::AddRoute { vr, .. } => {
                let Ok(ix) = ops::find_vr(doc, vr, &Scope::All) else {
                    return;
                };
                let k = doc["virtual_routers"][ix]
                    .get("routes")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                self.vrs.entry(ix).or_default().added.push(k);
                self.added = true;
            }
            Change::DeleteRoute { vr, prefix } => {
                if self.added {
                    // A deletion after an addition may move the added route.
                    self.eligible = false;
                    self.fallback = Some(Fallback::DeleteAfterAdd);
                    return;
                }
                let Ok(ix) = ops::find_vr(doc, vr, &Scope::All) else {
                    return;
                };
                if let Some(r) = ops::route_index(doc, ix, prefix) {
                    self.vrs.entry(ix).or_default().deleted.push(r);
                }
            }
            _ => {
                self.eligible = false;
                self.fallback = None;
            }
        }
    }

    /// After every change applied to `doc`: the new configuration and table changes, the
    /// checker's errors, or why the full path must decide.
    pub fn finish(
        self,
        path: &Path,
        doc: &Value,
        running: &Config,
    ) -> Result<Result<Prepared, Vec<DocError>>, NotFast> {
        if !self.eligible {
            return Err(self.fallback);
        }
        if self.vrs.is_empty() {
            return Err(None);
        }
        let mismatch = Err(Some(Fallback::DocumentMismatch));
        let Some(list) = doc.get("virtual_routers").and_then(Value::as_array) else {
            return mismatch;
        };
        if list.len() != running.vrs.len() {
            return mismatch;
        }
        for &ix in self.vrs.keys() {
            let name = list[ix].get("name").and_then(Value::as_str);
            if name != Some(running.vrs[ix].name.as_str()) {
                return mismatch;
            }
        }
        let mut new = running.clone();
        // ((VR index, route index, line, column), error) for the semantic errors, so that
        // they can be put in the checker's order (by position in the profile); the first
        // structural one.
        type Pos = (usize, usize, u64, u64);
        let mut errors: Vec<(Pos, DocError)> = Vec::new();
        let mut structural: Option<(usize, usize, DocError)> = None;
        let mut touched: BTreeMap<usize, BTreeSet<IpPrefix>> = BTreeMap::new();
        for (&ix, edit) in &self.vrs {
            let routes = &mut new.vrs[ix].routes;
            let t = touched.entry(ix).or_default();
            for &r in &edit.deleted {
                if r >= routes.len() {
                    return mismatch;
                }
                t.insert(routes.remove(r).prefix);
            }
            let mut prefixes: HashSet<_> = routes.iter().map(|r| r.prefix).collect();
            let mut added: Vec<RouteCfg> = Vec::with_capacity(edit.added.len());
            for &k in &edit.added {
                let base = format!("/virtual_routers/{ix}/routes/{k}");
                let Some(rv) = list[ix].get("routes").and_then(|r| r.get(k)) else {
                    return mismatch;
                };
                let em = document::emit(rv);
                let at = |line: u64| {
                    if line == 0 {
                        String::new()
                    } else {
                        format!("{base}{}", em.pointer_at(line))
                    }
                };
                let route: crate::profile::Route = match crate::profile::parse_part(path, &em.text)
                {
                    Ok(r) => r,
                    Err(es) => {
                        if structural.is_none() {
                            let e = &es[0];
                            structural = Some((
                                ix,
                                k,
                                DocError {
                                    message: e.message.clone(),
                                    pointer: at(e.line),
                                    structural: true,
                                },
                            ));
                        }
                        continue;
                    }
                };
                match crate::profile::check::added_route(path, running, ix, &route, &mut prefixes) {
                    Ok(rc) => added.push(rc),
                    Err(es) => errors.extend(es.into_iter().map(|e| {
                        (
                            (ix, k, e.line, e.column),
                            DocError {
                                pointer: at(e.line),
                                message: e.message,
                                structural: false,
                            },
                        )
                    })),
                }
            }
            t.extend(added.iter().map(|r| r.prefix));
            new.vrs[ix].routes.extend(added);
        }
        if let Some((_, _, e)) = structural {
            return Ok(Err(vec![e]));
        }
        if !errors.is_empty() {
            errors.sort_by_key(|(pos, _)| *pos);
            return Ok(Err(errors.into_iter().map(|(_, e)| e).collect()));
        }
        // Only the table entries of the prefixes the transaction touched can differ (the
        // VR's interfaces, neighbours and other routes are as they were): compare those.
        let mut old_routes = Routes::new();
        let mut new_routes = Routes::new();
        for (ix, prefixes) in touched {
            let (a, b) = (&running.vrs[ix], &new.vrs[ix]);
            for p in prefixes {
                let key = (vr::VrId(b.id), p, vr::RouteSource::Static);
                match (
                    tables::static_entry(running, a, p),
                    tables::static_entry(&new, b, p),
                ) {
                    (Ok(o), Ok(n)) => {
                        if let Some(o) = o {
                            old_routes.insert(key, o);
                        }
                        if let Some(n) = n {
                            new_routes.insert(key, n);
                        }
                    }
                    // A table type's own limit: let the full path word it.
                    _ => return Err(Some(Fallback::TableLimit)),
                }
            }
        }
        Ok(Ok((new, tables::route_diff(&old_routes, &new_routes))))
    }
}
