//! The changes a transaction is made of, applied to a copy of the running document with
//! the caller's authorization checked per change.
//!
//! Every change names what it touches; a VR the caller cannot see (another tenant's, or one
//! that does not exist) is `404 not_found` whatever the change, and a change the caller's
//! role may never make (creating VRs, labels, neighbours, principals, delegation) is
//! `403 forbidden` before any VR is looked at, so neither answer tells a tenant anything
//! about VRs outside its scope.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::auth::{generate_token, hash_token, Principal};
use super::scope::{Role, Scope};
use super::ApiError;

/// One change of a transaction (`op` names it).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// Creates a VR (carrier-admin): `vr` as in the profile's `virtual_routers[]`.
    CreateVr {
        /// The VR document.
        #[schema(value_type = Object)]
        vr: Value,
    },
    /// Deletes a VR (carrier-admin).
    DeleteVr {
        /// VR name.
        vr: String,
    },
    /// Delegates a VR to a tenant (carrier-admin).
    SetTenant {
        /// VR name.
        vr: String,
        /// The tenant.
        tenant: String,
    },
    /// Gives a VR back to the owner (carrier-admin).
    Revoke {
        /// VR name.
        vr: String,
    },
    /// Binds an interface (port, VLAN, addresses) to a VR (carrier-admin).
    BindInterface {
        /// VR name.
        vr: String,
        /// As in the profile's `interfaces[]`.
        #[schema(value_type = Object)]
        interface: Value,
    },
    /// Unbinds an interface from a VR (carrier-admin).
    UnbindInterface {
        /// VR name.
        vr: String,
        /// Port name.
        port: String,
        /// VLAN id (absent: untagged).
        #[serde(default)]
        vlan: Option<u16>,
    },
    /// Moves an interface from one VR to another (both in the caller's scope).
    MoveInterface {
        /// VR it is bound to now.
        from: String,
        /// VR it goes to.
        to: String,
        /// Port name.
        port: String,
        /// VLAN id (absent: untagged).
        #[serde(default)]
        vlan: Option<u16>,
        /// New addresses (absent: keep).
        #[serde(default)]
        addresses: Option<Vec<String>>,
    },
    /// Moves a session (L2TP or PPPoE, by its id as listed: `l2tp-T-S`, `pppoe-PORT-S`)
    /// routed in `vr` to VR `to` (both in the caller's scope) while it stays up: its
    /// packets and its subscriber's routes go to `to` in one publish (docs/api.md).
    MoveSession {
        /// The VR the session is routed in now.
        vr: String,
        /// The session id as listed.
        session: String,
        /// The VR it goes to.
        to: String,
    },
    /// Moves an L2TP tunnel whose sessions are routed in `vr` to VR `to` (both in the
    /// caller's scope): its sessions move, and those that come up later are routed in `to`.
    MoveTunnel {
        /// The VR its sessions are routed in now.
        vr: String,
        /// Our tunnel id.
        tunnel: u16,
        /// The VR it goes to.
        to: String,
    },
    /// Adds a static route.
    AddRoute {
        /// VR name.
        vr: String,
        /// As in the profile's `routes[]`.
        #[schema(value_type = Object)]
        route: Value,
    },
    /// Deletes the static route of a prefix.
    DeleteRoute {
        /// VR name.
        vr: String,
        /// The prefix (`10.0.0.0/8`).
        prefix: String,
    },
    /// Adds a label matrix entry (carrier-admin).
    AddLabel {
        /// As in the profile's `label_matrix[]`.
        #[schema(value_type = Object)]
        entry: Value,
    },
    /// Deletes a label matrix entry (carrier-admin).
    DeleteLabel {
        /// Incoming label.
        label: u32,
    },
    /// Adds a static neighbour (carrier-admin).
    AddNeighbor {
        /// As in the profile's `neighbors[]`.
        #[schema(value_type = Object)]
        neighbor: Value,
    },
    /// Deletes a static neighbour (carrier-admin).
    DeleteNeighbor {
        /// Port name.
        port: String,
        /// VLAN id.
        #[serde(default)]
        vlan: Option<u16>,
        /// Neighbour address.
        ip: String,
    },
    /// Sets (or with `null` removes) a VR's L2TP endpoint.
    SetL2tp {
        /// VR name.
        vr: String,
        /// As in the profile's `l2tp`, or null.
        #[schema(value_type = Option<Object>)]
        l2tp: Option<Value>,
    },
    /// Switches a VR's L2TP role (its tunnels are drained).
    SetL2tpRole {
        /// VR name.
        vr: String,
        /// `lac` or `lns`.
        role: String,
    },
    /// Sends a realm's subscribers of a relaying VR to another VR's LAC.
    SetRealm {
        /// The relaying VR.
        vr: String,
        /// The realm (`isp-a.example`).
        realm: String,
        /// The VR whose LAC takes them.
        to_vr: String,
        /// The LNS to call (absent: the VR's first peer).
        #[serde(default)]
        lns: Option<String>,
    },
    /// Removes a realm from a relaying VR.
    DeleteRealm {
        /// The relaying VR.
        vr: String,
        /// The realm.
        realm: String,
    },
    /// Adds a principal (carrier-admin); the answer carries its token, once.
    AddPrincipal {
        /// Name.
        name: String,
        /// Role.
        #[schema(value_type = String)]
        role: Role,
        /// Tenant (tenant-admin: required).
        #[serde(default)]
        tenant: Option<String>,
    },
    /// Deletes a principal (carrier-admin).
    DeletePrincipal {
        /// Name.
        name: String,
    },
}

impl Change {
    /// Whether it moves live state (a session, a tunnel) rather than changing the profile
    /// document: carried out on the L2TP service after the document's changes
    /// ([`super::moves`]).
    pub fn is_move(&self) -> bool {
        matches!(self, Change::MoveSession { .. } | Change::MoveTunnel { .. })
    }

    /// Whether only a carrier-admin may make it.
    pub fn carrier_only(&self) -> bool {
        !matches!(
            self,
            Change::MoveInterface { .. }
                | Change::MoveSession { .. }
                | Change::MoveTunnel { .. }
                | Change::AddRoute { .. }
                | Change::DeleteRoute { .. }
                | Change::SetL2tp { .. }
                | Change::SetL2tpRole { .. }
                | Change::SetRealm { .. }
                | Change::DeleteRealm { .. }
        )
    }
}

/// Where a change put an element from the request into the document, so checker errors
/// inside it point into the request too.
#[derive(Clone, Debug)]
pub struct Placed {
    /// Pointer in the document.
    pub at: String,
    /// Pointer in the request.
    pub from: String,
}

/// What applying changes produced besides the document.
#[derive(Debug, Default)]
pub struct Applied {
    /// Elements taken from the request.
    pub placed: Vec<Placed>,
    /// Tokens of principals added: (name, token), shown once.
    pub tokens: Vec<(String, String)>,
}

/// Applies change `i` to `doc` as `who`; `owner` is the tenant revoked VRs go back to.
pub fn apply(
    doc: &mut Value,
    c: &Change,
    i: usize,
    who: &Principal,
    owner: &str,
    out: &mut Applied,
) -> Result<(), ApiError> {
    let req = format!("/changes/{i}");
    if !who.role.may_write() || (c.carrier_only() && who.role != Role::CarrierAdmin) {
        return Err(
            ApiError::forbidden(format!("a {} may not make this change", who.role.name())).at(req),
        );
    }
    let scope = who.scope();
    match c {
        Change::CreateVr { vr } => {
            let name = vr
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_request("the VR has no `name`").at(format!("{req}/vr/name"))
                })?
                .to_string();
            if !vr.is_object() {
                return Err(ApiError::bad_request("`vr` must be an object").at(format!("{req}/vr")));
            }
            if find_vr(doc, &name, &Scope::All).is_ok() {
                return Err(
                    ApiError::conflict(format!("VR `{name}` exists")).at(format!("{req}/vr/name"))
                );
            }
            let list = array(doc, "virtual_routers");
            list.push(vr.clone());
            out.placed.push(Placed {
                at: format!("/virtual_routers/{}", list.len() - 1),
                from: format!("{req}/vr"),
            });
        }
        Change::DeleteVr { vr } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            array(doc, "virtual_routers").remove(ix);
        }
        Change::SetTenant { vr, tenant } => {
            if tenant.is_empty() {
                return Err(ApiError::bad_request("tenant is empty").at(format!("{req}/tenant")));
            }
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            doc["virtual_routers"][ix]["tenant"] = json!(tenant);
        }
        Change::Revoke { vr } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            doc["virtual_routers"][ix]["tenant"] = json!(owner);
        }
        Change::BindInterface { vr, interface } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            if !interface.is_object() {
                return Err(ApiError::bad_request("`interface` must be an object")
                    .at(format!("{req}/interface")));
            }
            let list = vr_array(doc, ix, "interfaces");
            list.push(interface.clone());
            out.placed.push(Placed {
                at: format!("/virtual_routers/{ix}/interfaces/{}", list.len() - 1),
                from: format!("{req}/interface"),
            });
        }
        Change::UnbindInterface { vr, port, vlan } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            take_interface(doc, ix, vr, port, *vlan).map_err(|e| e.at(format!("{req}/port")))?;
        }
        Change::MoveInterface {
            from,
            to,
            port,
            vlan,
            addresses,
        } => {
            let a = find_vr(doc, from, &scope).map_err(|e| e.at(format!("{req}/from")))?;
            let b = find_vr(doc, to, &scope).map_err(|e| e.at(format!("{req}/to")))?;
            if a == b {
                return Err(ApiError::bad_request("`from` and `to` are the same VR")
                    .at(format!("{req}/to")));
            }
            let mut itf = take_interface(doc, a, from, port, *vlan)
                .map_err(|e| e.at(format!("{req}/port")))?;
            if let Some(ad) = addresses {
                itf["addresses"] = json!(ad);
            }
            let list = vr_array(doc, b, "interfaces");
            list.push(itf);
            if addresses.is_some() {
                out.placed.push(Placed {
                    at: format!(
                        "/virtual_routers/{b}/interfaces/{}/addresses",
                        list.len() - 1
                    ),
                    from: format!("{req}/addresses"),
                });
            }
        }
        Change::MoveSession { vr, to, .. } | Change::MoveTunnel { vr, to, .. } => {
            // Live state, not the document: only who may do it is checked here (both VRs
            // in scope, else 404 as everywhere); `super::moves` carries it out.
            let a = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            let b = find_vr(doc, to, &scope).map_err(|e| e.at(format!("{req}/to")))?;
            if a == b {
                return Err(
                    ApiError::bad_request("`vr` and `to` are the same VR").at(format!("{req}/to"))
                );
            }
        }
        Change::AddRoute { vr, route } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            let prefix = route
                .get("prefix")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_request("the route has no `prefix`")
                        .at(format!("{req}/route/prefix"))
                })?
                .to_string();
            if !route.is_object() {
                return Err(
                    ApiError::bad_request("`route` must be an object").at(format!("{req}/route"))
                );
            }
            let labelled = route
                .get("push")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty());
            if labelled && who.role != Role::CarrierAdmin {
                // Labels lead into the provider core and other carriers' VPNs.
                return Err(ApiError::forbidden(
                    "labelled routes (`push`) are the carrier's; a tenant-admin may add unlabelled routes",
                )
                .at(format!("{req}/route/push")));
            }
            if route_index(doc, ix, &prefix).is_some() {
                return Err(ApiError::conflict(format!(
                    "VR `{vr}` has a route to {prefix} already; delete it first"
                ))
                .at(format!("{req}/route/prefix")));
            }
            let list = vr_array(doc, ix, "routes");
            list.push(route.clone());
            out.placed.push(Placed {
                at: format!("/virtual_routers/{ix}/routes/{}", list.len() - 1),
                from: format!("{req}/route"),
            });
        }
        Change::DeleteRoute { vr, prefix } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            let r = route_index(doc, ix, prefix).ok_or_else(|| {
                ApiError::not_found(format!("VR `{vr}` has no route to {prefix}"))
                    .at(format!("{req}/prefix"))
            })?;
            vr_array(doc, ix, "routes").remove(r);
        }
        Change::AddLabel { entry } => {
            let label = entry.get("label").and_then(Value::as_u64);
            if !entry.is_object() || label.is_none() {
                return Err(ApiError::bad_request("the entry needs a numeric `label`")
                    .at(format!("{req}/entry/label")));
            }
            let list = array(doc, "label_matrix");
            if list
                .iter()
                .any(|e| e.get("label").and_then(Value::as_u64) == label)
            {
                return Err(ApiError::conflict(format!(
                    "label {} has an entry already",
                    label.unwrap_or_default()
                ))
                .at(format!("{req}/entry/label")));
            }
            list.push(entry.clone());
            out.placed.push(Placed {
                at: format!("/label_matrix/{}", list.len() - 1),
                from: format!("{req}/entry"),
            });
        }
        Change::DeleteLabel { label } => {
            let list = array(doc, "label_matrix");
            let p = list
                .iter()
                .position(|e| e.get("label").and_then(Value::as_u64) == Some(u64::from(*label)))
                .ok_or_else(|| {
                    ApiError::not_found(format!("label {label} has no entry"))
                        .at(format!("{req}/label"))
                })?;
            list.remove(p);
        }
        Change::AddNeighbor { neighbor } => {
            if !neighbor.is_object() {
                return Err(ApiError::bad_request("`neighbor` must be an object")
                    .at(format!("{req}/neighbor")));
            }
            let list = array(doc, "neighbors");
            list.push(neighbor.clone());
            out.placed.push(Placed {
                at: format!("/neighbors/{}", list.len() - 1),
                from: format!("{req}/neighbor"),
            });
        }
        Change::DeleteNeighbor { port, vlan, ip } => {
            let list = array(doc, "neighbors");
            let p = list
                .iter()
                .position(|n| {
                    n.get("port").and_then(Value::as_str) == Some(port)
                        && same_ip(n.get("ip"), ip)
                        && n.get("vlan").and_then(Value::as_u64) == vlan.map(u64::from)
                })
                .ok_or_else(|| {
                    ApiError::not_found(format!("no static neighbour {ip} on port {port}"))
                        .at(format!("{req}/ip"))
                })?;
            list.remove(p);
        }
        Change::SetL2tp { vr, l2tp } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            let v = vr_obj(doc, ix);
            match l2tp {
                Some(l) => {
                    v.insert("l2tp".into(), l.clone());
                    out.placed.push(Placed {
                        at: format!("/virtual_routers/{ix}/l2tp"),
                        from: format!("{req}/l2tp"),
                    });
                }
                None => {
                    v.shift_remove("l2tp");
                }
            }
        }
        Change::SetL2tpRole { vr, role } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            let v = vr_obj(doc, ix);
            let Some(l) = v.get_mut("l2tp").and_then(Value::as_object_mut) else {
                return Err(ApiError::invalid(format!(
                    "VR `{vr}` has no L2TP endpoint; set one with set_l2tp"
                ))
                .at(format!("{req}/vr")));
            };
            l.insert("role".into(), json!(role));
            out.placed.push(Placed {
                at: format!("/virtual_routers/{ix}/l2tp/role"),
                from: format!("{req}/role"),
            });
        }
        Change::SetRealm {
            vr,
            realm,
            to_vr,
            lns,
        } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            find_vr(doc, to_vr, &scope).map_err(|e| e.at(format!("{req}/to_vr")))?;
            let v = vr_obj(doc, ix);
            let relay = v
                .entry("relay")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .ok_or_else(|| ApiError::invalid(format!("VR `{vr}`: `relay` is not a mapping")))?;
            let realms = relay
                .entry("realms")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or_else(|| {
                    ApiError::invalid(format!("VR `{vr}`: `relay.realms` is not a list"))
                })?;
            let mut e = json!({"realm": realm, "vr": to_vr});
            if let Some(l) = lns {
                e["lns"] = json!(l);
            }
            let at = match realms
                .iter()
                .position(|r| r.get("realm").and_then(Value::as_str) == Some(realm))
            {
                Some(p) => {
                    realms[p] = e;
                    p
                }
                None => {
                    realms.push(e);
                    realms.len() - 1
                }
            };
            for (f, t) in [("vr", "to_vr"), ("lns", "lns"), ("realm", "realm")] {
                out.placed.push(Placed {
                    at: format!("/virtual_routers/{ix}/relay/realms/{at}/{f}"),
                    from: format!("{req}/{t}"),
                });
            }
        }
        Change::DeleteRealm { vr, realm } => {
            let ix = find_vr(doc, vr, &scope).map_err(|e| e.at(format!("{req}/vr")))?;
            let realms = vr_obj(doc, ix)
                .get_mut("relay")
                .and_then(|r| r.get_mut("realms"))
                .and_then(Value::as_array_mut);
            let p = realms.as_ref().and_then(|r| {
                r.iter()
                    .position(|x| x.get("realm").and_then(Value::as_str) == Some(realm))
            });
            match (realms, p) {
                (Some(r), Some(p)) => {
                    r.remove(p);
                }
                _ => {
                    return Err(
                        ApiError::not_found(format!("VR `{vr}` relays no realm `{realm}`"))
                            .at(format!("{req}/realm")),
                    )
                }
            }
        }
        Change::AddPrincipal { name, role, tenant } => {
            let m = management(doc)?;
            let list = m
                .entry("principals")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or_else(|| ApiError::invalid("`management.principals` is not a list"))?;
            if list
                .iter()
                .any(|p| p.get("name").and_then(Value::as_str) == Some(name))
            {
                return Err(ApiError::conflict(format!("principal `{name}` exists"))
                    .at(format!("{req}/name")));
            }
            let tok = generate_token();
            let mut p = json!({"name": name, "role": role.name(), "token_hash": hash_token(&tok)});
            if let Some(t) = tenant {
                p["tenant"] = json!(t);
            }
            list.push(p);
            let at = format!("/management/principals/{}", list.len() - 1);
            for f in ["name", "role", "tenant"] {
                out.placed.push(Placed {
                    at: format!("{at}/{f}"),
                    from: format!("{req}/{f}"),
                });
            }
            out.tokens.push((name.clone(), tok));
        }
        Change::DeletePrincipal { name } => {
            let m = management(doc)?;
            let list = m.get_mut("principals").and_then(Value::as_array_mut);
            let p = list.as_ref().and_then(|l| {
                l.iter()
                    .position(|p| p.get("name").and_then(Value::as_str) == Some(name))
            });
            match (list, p) {
                (Some(l), Some(p)) => {
                    l.remove(p);
                }
                _ => {
                    return Err(ApiError::not_found(format!("no principal `{name}`"))
                        .at(format!("{req}/name")))
                }
            }
        }
    }
    Ok(())
}

/// The index of the VR named `name` in `doc` if `scope` sees it; 404 otherwise (the same
/// answer for another tenant's VR and for none at all).
pub fn find_vr(doc: &Value, name: &str, scope: &Scope) -> Result<usize, ApiError> {
    doc.get("virtual_routers")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter().position(|v| {
                v.get("name").and_then(Value::as_str) == Some(name)
                    && scope.sees(v.get("tenant").and_then(Value::as_str).unwrap_or(""))
            })
        })
        .ok_or_else(|| ApiError::not_found(format!("no VR named `{name}`")))
}

/// The top-level list `key`, created when absent (a non-list is replaced: the checker
/// would refuse it anyway).
fn array<'a>(doc: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    let o = doc
        .as_object_mut()
        .expect("documents are mappings (document::parse)");
    let e = o.entry(key).or_insert_with(|| json!([]));
    if !e.is_array() {
        *e = json!([]);
    }
    e.as_array_mut().expect("just made a list")
}

fn vr_obj(doc: &mut Value, ix: usize) -> &mut Map<String, Value> {
    doc["virtual_routers"][ix]
        .as_object_mut()
        .expect("find_vr only finds mappings with a name")
}

fn vr_array<'a>(doc: &'a mut Value, ix: usize, key: &str) -> &'a mut Vec<Value> {
    let e = vr_obj(doc, ix).entry(key).or_insert_with(|| json!([]));
    if !e.is_array() {
        *e = json!([]);
    }
    e.as_array_mut().expect("just made a list")
}

fn management(doc: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    doc.get_mut("management")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::invalid("the profile has no `management` section"))
}

fn take_interface(
    doc: &mut Value,
    ix: usize,
    vr: &str,
    port: &str,
    vlan: Option<u16>,
) -> Result<Value, ApiError> {
    let list = vr_array(doc, ix, "interfaces");
    let p = list
        .iter()
        .position(|i| {
            i.get("port").and_then(Value::as_str) == Some(port)
                && i.get("vlan").and_then(Value::as_u64) == vlan.map(u64::from)
        })
        .ok_or_else(|| {
            ApiError::not_found(match vlan {
                Some(v) => format!("VR `{vr}` has no interface on port {port} VLAN {v}"),
                None => format!("VR `{vr}` has no untagged interface on port {port}"),
            })
        })?;
    Ok(list.remove(p))
}

/// Index of VR `ix`'s route to `prefix` (as written, or the same prefix written otherwise).
pub fn route_index(doc: &Value, ix: usize, prefix: &str) -> Option<usize> {
    let want = crate::profile::check::parse_prefix(prefix).ok();
    doc["virtual_routers"][ix]
        .get("routes")
        .and_then(Value::as_array)?
        .iter()
        .position(|r| {
            let p = r.get("prefix").and_then(Value::as_str).unwrap_or("");
            p == prefix || (want.is_some() && crate::profile::check::parse_prefix(p).ok() == want)
        })
}

fn same_ip(v: Option<&Value>, ip: &str) -> bool {
    let Some(s) = v.and_then(Value::as_str) else {
        return false;
    };
    s == ip
        || matches!((s.parse::<std::net::IpAddr>(), ip.parse::<std::net::IpAddr>()), (Ok(a), Ok(b)) if a == b)
}
