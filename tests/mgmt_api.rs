//! The management API over real HTTP: the appliance runs in-process (mem ports) with a
//! profile that has a `management:` section, and the tests talk to it on 127.0.0.1 (ports
//! 18110–18119) with a blocking client.
//!
//! The authorization matrix runs every role against every endpoint for a VR of its own, a
//! VR of another tenant and a VR that does not exist, asserts the status of each cell, and
//! after each cell that the running configuration is what it should be (unchanged after a
//! refusal; restored by the carrier admin after an accepted change).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use varouter::appliance::RunOptions;

mod common;
use common::{cheap_hash, Running, TestDir};

const ADMIN: &str = "tok-admin";
const TA: &str = "tok-tenant-admin-t1";
const RO: &str = "tok-read-only";
const ROT1: &str = "tok-read-only-t1";

fn profile(port: u16, tls: Option<(&str, &str)>) -> String {
    let tls = tls
        .map(|(c, k)| format!("  tls: {{ cert: {c}, key: {k} }}\n"))
        .unwrap_or_default();
    format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:00:01" }}
  - {{ name: p1, backend: mem, mac: "02:00:00:00:00:02" }}
  - {{ name: p2, backend: mem, mac: "02:00:00:00:00:03" }}
  - {{ name: core, backend: mem, mac: "02:00:00:00:00:04", trunk: true, addresses: [192.0.2.1/30] }}
  - {{ name: p4, backend: mem, mac: "02:00:00:00:00:05" }}
labels: {{ min: 1000, max: 99999 }}
virtual_routers:
  - id: 1
    name: a1
    vpn_id: "00a0c9:00000001"
    tenant: t1
    interfaces:
      - {{ port: p0, vlan: 10, addresses: [10.1.0.1/24] }}
      - {{ port: p2, vlan: 11, addresses: [10.11.0.1/24] }}
    routes:
      - {{ prefix: 10.9.0.0/16, via: 10.1.0.254 }}
      - {{ prefix: 10.250.0.0/16, blackhole: true }}
    l2tp: {{ role: lns, local: 10.1.0.1, hostname: a1-lns, peers: [10.1.0.200] }}
  - id: 2
    name: a2
    vpn_id: "00a0c9:00000002"
    tenant: t1
    interfaces:
      - {{ port: p0, vlan: 12, addresses: [10.12.0.1/24] }}
  - id: 3
    name: b1
    vpn_id: "00a0c9:00000003"
    tenant: t2
    interfaces:
      - {{ port: p1, vlan: 20, addresses: [10.2.0.1/24] }}
      - {{ port: p2, vlan: 21, addresses: [10.21.0.1/24] }}
    routes:
      - {{ prefix: 10.250.0.0/16, blackhole: true }}
    l2tp: {{ role: lns, local: 10.2.0.1, hostname: b1-lns, peers: [10.2.0.200] }}
neighbors:
  - {{ port: p0, vlan: 10, ip: 10.1.0.50, mac: "02:aa:00:00:00:50" }}
label_matrix:
  - {{ label: 4000, action: pop, vr: a1 }}
  - {{ label: 4001, action: pop, vr: b1 }}
management:
  listen: 127.0.0.1:{port}
{tls}  owner: carrier
  audit_log: audit.jsonl
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{}" }}
    - {{ name: t1-admin, role: tenant-admin, tenant: t1, token_hash: "{}" }}
    - {{ name: viewer, role: read-only, token_hash: "{}" }}
    - {{ name: t1-viewer, role: read-only, tenant: t1, token_hash: "{}" }}
"#,
        cheap_hash(ADMIN),
        cheap_hash(TA),
        cheap_hash(RO),
        cheap_hash(ROT1),
    )
}

/// A running appliance with its API.
struct App {
    run: Running,
    base: String,
    dir: PathBuf,
    agent: ureq::Agent,
    /// The scratch directory [`start`] made, removed after the run stops (fields drop in
    /// order); `None` when the test holds its directory itself.
    scratch: Option<TestDir>,
}

fn test_dir(name: &str) -> TestDir {
    TestDir::new(&format!("mgmt-{name}"))
}

fn agent(tls_root: Option<Vec<u8>>) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)));
    if let Some(der) = tls_root {
        b = b.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![
                    ureq::tls::Certificate::from_der(&der).to_owned(),
                ])))
                .build(),
        );
    }
    b.build().into()
}

/// Starts the appliance on the profile at `path`; `base` is the API's URL.
fn start_at(path: &Path, base: String, agent: ureq::Agent) -> App {
    start_with(path, base, agent, false)
}

/// [`start_at`]; with `until_flows_done` the run ends when its generator flows are done.
fn start_with(path: &Path, base: String, agent: ureq::Agent, until_flows_done: bool) -> App {
    let opts = RunOptions {
        duration: None,
        until_inputs_finished: until_flows_done,
        stats_every: None,
    };
    App {
        run: Running::start(path, opts, Duration::from_secs(10)),
        base,
        dir: path.parent().unwrap().to_path_buf(),
        agent,
        scratch: None,
    }
}

fn start(name: &str, port: u16) -> App {
    let dir = test_dir(name);
    let path = dir.join("profile.yaml");
    std::fs::write(&path, profile(port, None)).unwrap();
    let mut app = start_at(&path, format!("http://127.0.0.1:{port}"), agent(None));
    app.scratch = Some(dir);
    app
}

impl App {
    /// One request: (status, body text).
    fn req(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
        self.try_req(method, path, token, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// One request; a transport error (the appliance stopped) is an error.
    fn try_req(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), ureq::Error> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let r = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("POST", Some(b)) => self.agent.post(&url).header("Authorization", &auth).send(b),
            ("POST", None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
            ("PUT", Some(b)) => self.agent.put(&url).header("Authorization", &auth).send(b),
            ("PUT", None) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_empty(),
            _ => panic!("method {method}"),
        };
        let mut r = r?;
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        Ok((status, text))
    }

    fn json(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, Value) {
        let (s, t) = self.req(method, path, token, body);
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    /// The running configuration (as the carrier admin reads it), normalized: lists are
    /// compared as sets, so the order of re-created elements does not matter.
    fn config(&self) -> Value {
        let (s, t) = self.req("GET", "/api/v1/config", ADMIN, None);
        assert_eq!(s, 200, "{t}");
        let v: Value = serde_saphyr::from_str(&t).unwrap();
        normalize(v)
    }
}

fn normalize(v: Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a: Vec<Value> = a.into_iter().map(normalize).collect();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, x)| (k, normalize(x))).collect()),
        x => x,
    }
}

/// Which VR a cell addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A VR of tenant t1 (the tenant of the scoped principals).
    Own,
    /// A VR of tenant t2.
    Other,
    /// No such VR.
    Missing,
    /// The endpoint names no VR.
    NoVr,
}

const ROLES: [(&str, &str); 4] = [
    ("carrier-admin", ADMIN),
    ("tenant-admin t1", TA),
    ("read-only", RO),
    ("read-only t1", ROT1),
];

/// A carrier-admin request: method, path, body.
type Undo = (&'static str, String, Option<String>);

/// One endpoint of the matrix.
struct Case {
    name: &'static str,
    method: &'static str,
    /// Path and body for a target.
    make: fn(Target) -> (String, Option<String>),
    /// Expected status per role (ROLES order) for each target.
    expect: fn(Target) -> [u16; 4],
    /// Carrier-admin requests that undo an accepted change for a target.
    undo: fn(Target) -> Vec<Undo>,
    /// Targets the endpoint is tried with.
    targets: &'static [Target],
}

const VR_TARGETS: &[Target] = &[Target::Own, Target::Other, Target::Missing];
const NO_VR: &[Target] = &[Target::NoVr];

fn vr(t: Target) -> &'static str {
    match t {
        Target::Own => "a1",
        Target::Other => "b1",
        Target::Missing => "zz",
        Target::NoVr => unreachable!(),
    }
}

/// Reads any role may make: the VR in scope is 200, else 404.
fn read_scoped(t: Target) -> [u16; 4] {
    match t {
        Target::Own => [200, 200, 200, 200],
        Target::Other => [200, 404, 200, 404],
        _ => [404, 404, 404, 404],
    }
}

/// Writes a tenant-admin may make in its VRs (`ok` on success).
fn write_scoped(ok: u16) -> fn(Target) -> [u16; 4] {
    match ok {
        200 => |t| match t {
            Target::Own => [200, 200, 403, 403],
            Target::Other => [200, 404, 403, 403],
            _ => [404, 404, 403, 403],
        },
        201 => |t| match t {
            Target::Own => [201, 201, 403, 403],
            Target::Other => [201, 404, 403, 403],
            _ => [404, 404, 403, 403],
        },
        _ => |t| match t {
            Target::Own => [204, 204, 403, 403],
            Target::Other => [204, 404, 403, 403],
            _ => [404, 404, 403, 403],
        },
    }
}

/// Writes only the carrier admin may make.
fn carrier_vr(ok: u16) -> fn(Target) -> [u16; 4] {
    match ok {
        200 => |t| match t {
            Target::Missing => [404, 403, 403, 403],
            _ => [200, 403, 403, 403],
        },
        201 => |t| match t {
            Target::Missing => [404, 403, 403, 403],
            _ => [201, 403, 403, 403],
        },
        _ => |t| match t {
            Target::Missing => [404, 403, 403, 403],
            _ => [204, 403, 403, 403],
        },
    }
}

fn none(_: Target) -> Vec<Undo> {
    Vec::new()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "show VR",
            method: "GET",
            make: |t| (format!("/api/v1/vrs/{}", vr(t)), None),
            expect: read_scoped,
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "list interfaces",
            method: "GET",
            make: |t| (format!("/api/v1/vrs/{}/interfaces", vr(t)), None),
            expect: read_scoped,
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "list routes",
            method: "GET",
            make: |t| (format!("/api/v1/vrs/{}/routes", vr(t)), None),
            expect: read_scoped,
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "list tunnels",
            method: "GET",
            make: |t| (format!("/api/v1/vrs/{}/tunnels", vr(t)), None),
            expect: read_scoped,
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "list sessions",
            method: "GET",
            make: |t| (format!("/api/v1/vrs/{}/sessions", vr(t)), None),
            expect: read_scoped,
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "delete VR",
            method: "DELETE",
            make: |t| (format!("/api/v1/vrs/{}", vr(t)), None),
            expect: |t| match t {
                Target::Missing => [404, 403, 403, 403],
                // a1 is referenced by a label entry: the checker refuses its deletion.
                Target::Own => [422, 403, 403, 403],
                _ => [422, 403, 403, 403],
            },
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "delegate",
            method: "PUT",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/tenant", vr(t)),
                    Some(r#"{"tenant":"t9"}"#.into()),
                )
            },
            expect: carrier_vr(200),
            undo: |t| {
                let back = if t == Target::Own { "t1" } else { "t2" };
                vec![(
                    "PUT",
                    format!("/api/v1/vrs/{}/tenant", vr(t)),
                    Some(format!(r#"{{"tenant":"{back}"}}"#)),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "revoke",
            method: "DELETE",
            make: |t| (format!("/api/v1/vrs/{}/tenant", vr(t)), None),
            expect: carrier_vr(200),
            undo: |t| {
                let back = if t == Target::Own { "t1" } else { "t2" };
                vec![(
                    "PUT",
                    format!("/api/v1/vrs/{}/tenant", vr(t)),
                    Some(format!(r#"{{"tenant":"{back}"}}"#)),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "bind interface",
            method: "POST",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/interfaces", vr(t)),
                    Some(r#"{"port":"p4","vlan":77,"addresses":["10.77.0.1/24"]}"#.into()),
                )
            },
            expect: carrier_vr(201),
            undo: |t| {
                vec![(
                    "DELETE",
                    format!("/api/v1/vrs/{}/interfaces/p4?vlan=77", vr(t)),
                    None,
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "unbind interface",
            method: "DELETE",
            make: |t| {
                let vlan = if t == Target::Other { 21 } else { 11 };
                (
                    format!("/api/v1/vrs/{}/interfaces/p2?vlan={vlan}", vr(t)),
                    None,
                )
            },
            expect: carrier_vr(204),
            undo: |t| {
                let (vlan, net) = if t == Target::Other {
                    (21, 21)
                } else {
                    (11, 11)
                };
                vec![(
                    "POST",
                    format!("/api/v1/vrs/{}/interfaces", vr(t)),
                    Some(format!(
                        r#"{{"port":"p2","vlan":{vlan},"addresses":["10.{net}.0.1/24"]}}"#
                    )),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "move interface",
            method: "POST",
            make: |t| {
                let (from, vlan) = match t {
                    Target::Own => ("a1", 11),
                    Target::Other => ("b1", 21),
                    _ => ("zz", 11),
                };
                (
                    "/api/v1/interfaces/move".into(),
                    Some(format!(
                        r#"{{"from":"{from}","to":"a2","port":"p2","vlan":{vlan}}}"#
                    )),
                )
            },
            expect: write_scoped(200),
            undo: |t| {
                let (back, vlan) = if t == Target::Other {
                    ("b1", 21)
                } else {
                    ("a1", 11)
                };
                vec![(
                    "POST",
                    "/api/v1/interfaces/move".into(),
                    Some(format!(
                        r#"{{"from":"a2","to":"{back}","port":"p2","vlan":{vlan}}}"#
                    )),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "add route",
            method: "POST",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/routes", vr(t)),
                    Some(r#"{"prefix":"10.200.0.0/16","blackhole":true}"#.into()),
                )
            },
            expect: write_scoped(201),
            undo: |t| {
                vec![(
                    "DELETE",
                    format!("/api/v1/vrs/{}/routes/10.200.0.0%2F16", vr(t)),
                    None,
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "delete route",
            method: "DELETE",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/routes/10.250.0.0%2F16", vr(t)),
                    None,
                )
            },
            expect: write_scoped(204),
            undo: |t| {
                vec![(
                    "POST",
                    format!("/api/v1/vrs/{}/routes", vr(t)),
                    Some(r#"{"prefix":"10.250.0.0/16","blackhole":true}"#.into()),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "set L2TP (remove)",
            method: "PUT",
            make: |t| (format!("/api/v1/vrs/{}/l2tp", vr(t)), Some("null".into())),
            expect: write_scoped(200),
            undo: |t| {
                let (local, host, peer) = if t == Target::Other {
                    ("10.2.0.1", "b1-lns", "10.2.0.200")
                } else {
                    ("10.1.0.1", "a1-lns", "10.1.0.200")
                };
                vec![(
                    "PUT",
                    format!("/api/v1/vrs/{}/l2tp", vr(t)),
                    Some(format!(
                        r#"{{"role":"lns","local":"{local}","hostname":"{host}","peers":["{peer}"]}}"#
                    )),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "L2TP role",
            method: "PUT",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/l2tp/role", vr(t)),
                    Some(r#"{"role":"lac"}"#.into()),
                )
            },
            expect: write_scoped(200),
            undo: |t| {
                vec![(
                    "PUT",
                    format!("/api/v1/vrs/{}/l2tp/role", vr(t)),
                    Some(r#"{"role":"lns"}"#.into()),
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "clear tunnel",
            method: "DELETE",
            make: |t| (format!("/api/v1/vrs/{}/tunnels/7", vr(t)), None),
            // No tunnel is up: the VRs in scope answer "no tunnel 7".
            expect: |_| [404, 404, 403, 403],
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "disconnect session",
            method: "DELETE",
            make: |t| (format!("/api/v1/vrs/{}/sessions/l2tp-7-9", vr(t)), None),
            expect: |_| [404, 404, 403, 403],
            undo: none,
            targets: VR_TARGETS,
        },
        // No session or tunnel is up here (tests/mgmt_move.rs moves live ones): a move
        // between two VRs in scope answers "no session"/"no tunnel" (404), one naming a VR
        // outside the scope the same 404, a read-only principal 403.
        Case {
            name: "move session (from the target)",
            method: "POST",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/sessions/l2tp-7-9/move", vr(t)),
                    Some(r#"{"to":"a2"}"#.into()),
                )
            },
            expect: |_| [404, 404, 403, 403],
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "move session (to the target)",
            method: "POST",
            make: |t| {
                (
                    "/api/v1/vrs/a2/sessions/pppoe-0-9/move".into(),
                    Some(format!(r#"{{"to":"{}"}}"#, vr(t))),
                )
            },
            expect: |_| [404, 404, 403, 403],
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "move tunnel",
            method: "POST",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/tunnels/7/move", vr(t)),
                    Some(r#"{"to":"a2"}"#.into()),
                )
            },
            expect: |_| [404, 404, 403, 403],
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "transaction: move tunnel (to the target)",
            method: "POST",
            make: |t| {
                (
                    "/api/v1/transaction".into(),
                    Some(format!(
                        r#"{{"changes":[{{"op":"move_tunnel","vr":"a2","tunnel":7,"to":"{}"}}]}}"#,
                        vr(t)
                    )),
                )
            },
            expect: |_| [404, 404, 403, 403],
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "transaction: add route",
            method: "POST",
            make: |t| {
                (
                    "/api/v1/transaction".into(),
                    Some(format!(
                        r#"{{"changes":[{{"op":"add_route","vr":"{}","route":{{"prefix":"10.201.0.0/16","blackhole":true}}}}]}}"#,
                        vr(t)
                    )),
                )
            },
            expect: write_scoped(200),
            undo: |t| {
                vec![(
                    "DELETE",
                    format!("/api/v1/vrs/{}/routes/10.201.0.0%2F16", vr(t)),
                    None,
                )]
            },
            targets: VR_TARGETS,
        },
        Case {
            name: "transaction: delete realm",
            method: "POST",
            make: |t| {
                (
                    "/api/v1/transaction".into(),
                    Some(format!(
                        r#"{{"changes":[{{"op":"delete_realm","vr":"{}","realm":"isp.example"}}]}}"#,
                        vr(t)
                    )),
                )
            },
            // The VRs in scope relay no realm `isp.example`.
            expect: |t| match t {
                Target::Own => [404, 404, 403, 403],
                _ => [404, 404, 403, 403],
            },
            undo: none,
            targets: VR_TARGETS,
        },
        Case {
            name: "set realm",
            method: "PUT",
            make: |t| {
                (
                    format!("/api/v1/vrs/{}/realms/isp.example", vr(t)),
                    Some(r#"{"to_vr":"a2"}"#.into()),
                )
            },
            // a2 runs no L2TP LAC: the checker refuses the realm wherever the caller may
            // make the change at all.
            expect: |t| match t {
                Target::Own => [422, 422, 403, 403],
                Target::Other => [422, 404, 403, 403],
                _ => [404, 404, 403, 403],
            },
            undo: none,
            targets: VR_TARGETS,
        },
        // Endpoints that name no VR.
        Case {
            name: "list VRs",
            method: "GET",
            make: |_| ("/api/v1/vrs".into(), None),
            expect: |_| [200, 200, 200, 200],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "create VR",
            method: "POST",
            make: |_| {
                (
                    "/api/v1/vrs".into(),
                    Some(r#"{"id":9,"name":"c9","vpn_id":"00a0c9:00000009","tenant":"t1"}"#.into()),
                )
            },
            expect: |_| [201, 403, 403, 403],
            undo: |_| vec![("DELETE", "/api/v1/vrs/c9".into(), None)],
            targets: NO_VR,
        },
        Case {
            name: "list labels",
            method: "GET",
            make: |_| ("/api/v1/labels".into(), None),
            expect: |_| [200, 200, 200, 200],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "add label",
            method: "POST",
            make: |_| {
                (
                    "/api/v1/labels".into(),
                    Some(r#"{"label":4100,"action":"pop","vr":"a1"}"#.into()),
                )
            },
            expect: |_| [201, 403, 403, 403],
            undo: |_| vec![("DELETE", "/api/v1/labels/4100".into(), None)],
            targets: NO_VR,
        },
        Case {
            name: "delete label",
            method: "DELETE",
            make: |_| ("/api/v1/labels/4000".into(), None),
            expect: |_| [204, 403, 403, 403],
            undo: |_| {
                vec![(
                    "POST",
                    "/api/v1/labels".into(),
                    Some(r#"{"label":4000,"action":"pop","vr":"a1"}"#.into()),
                )]
            },
            targets: NO_VR,
        },
        Case {
            name: "list neighbours",
            method: "GET",
            make: |_| ("/api/v1/neighbors".into(), None),
            expect: |_| [200, 403, 200, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "add neighbour",
            method: "POST",
            make: |_| {
                (
                    "/api/v1/neighbors".into(),
                    Some(
                        r#"{"port":"p0","vlan":10,"ip":"10.1.0.60","mac":"02:aa:00:00:00:60"}"#
                            .into(),
                    ),
                )
            },
            expect: |_| [201, 403, 403, 403],
            undo: |_| {
                vec![(
                    "DELETE",
                    "/api/v1/neighbors/p0/10.1.0.60?vlan=10".into(),
                    None,
                )]
            },
            targets: NO_VR,
        },
        Case {
            name: "delete neighbour",
            method: "DELETE",
            make: |_| ("/api/v1/neighbors/p0/10.1.0.50?vlan=10".into(), None),
            expect: |_| [204, 403, 403, 403],
            undo: |_| {
                vec![(
                    "POST",
                    "/api/v1/neighbors".into(),
                    Some(
                        r#"{"port":"p0","vlan":10,"ip":"10.1.0.50","mac":"02:aa:00:00:00:50"}"#
                            .into(),
                    ),
                )]
            },
            targets: NO_VR,
        },
        Case {
            name: "reload",
            method: "POST",
            make: |_| ("/api/v1/reload".into(), None),
            expect: |_| [200, 403, 403, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "show config",
            method: "GET",
            make: |_| ("/api/v1/config".into(), None),
            expect: |_| [200, 403, 403, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "save config",
            method: "POST",
            make: |_| {
                (
                    "/api/v1/config/save".into(),
                    Some(r#"{"path":"saved.yaml"}"#.into()),
                )
            },
            expect: |_| [200, 403, 403, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "stats",
            method: "GET",
            make: |_| ("/api/v1/stats".into(), None),
            expect: |_| [200, 200, 200, 200],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "list principals",
            method: "GET",
            make: |_| ("/api/v1/principals".into(), None),
            expect: |_| [200, 403, 403, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "add principal",
            method: "POST",
            make: |_| {
                (
                    "/api/v1/principals".into(),
                    Some(r#"{"name":"new1","role":"read-only"}"#.into()),
                )
            },
            expect: |_| [201, 403, 403, 403],
            undo: |_| vec![("DELETE", "/api/v1/principals/new1".into(), None)],
            targets: NO_VR,
        },
        Case {
            name: "delete principal",
            method: "DELETE",
            make: |_| ("/api/v1/principals/nobody".into(), None),
            expect: |_| [404, 403, 403, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "audit",
            method: "GET",
            make: |_| ("/api/v1/audit?limit=5".into(), None),
            expect: |_| [200, 403, 403, 403],
            undo: none,
            targets: NO_VR,
        },
        Case {
            name: "transaction: add label",
            method: "POST",
            make: |_| {
                (
                    "/api/v1/transaction".into(),
                    Some(r#"{"changes":[{"op":"add_label","entry":{"label":4200,"action":"pop","vr":"a2"}}]}"#.into()),
                )
            },
            expect: |_| [200, 403, 403, 403],
            undo: |_| vec![("DELETE", "/api/v1/labels/4200".into(), None)],
            targets: NO_VR,
        },
    ]
}

#[test]
fn authorization_matrix() {
    let app = start("matrix", 18110);
    let baseline = app.config();
    let mut cells = 0;
    let mut failures = Vec::new();
    for c in cases() {
        for &t in c.targets {
            let expect = (c.expect)(t);
            for (ri, (role, tok)) in ROLES.iter().enumerate() {
                let (path, body) = (c.make)(t);
                let (s, text) = app.req(c.method, &path, tok, body.as_deref());
                cells += 1;
                if s != expect[ri] {
                    failures.push(format!(
                        "{} {:?} as {role}: {} {path} → {s}, expected {}: {text}",
                        c.name, t, c.method, expect[ri]
                    ));
                }
                if s >= 400 {
                    let e: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    assert!(
                        e["error"]["code"].is_string(),
                        "{} as {role}: error without a code: {text}",
                        c.name
                    );
                }
                if (200..300).contains(&s) && c.method != "GET" {
                    for (m, p, b) in (c.undo)(t) {
                        let (us, ut) = app.req(m, &p, ADMIN, b.as_deref());
                        assert!((200..300).contains(&us), "undo {m} {p}: {us} {ut}");
                    }
                }
                let now = app.config();
                if now != baseline {
                    panic!(
                        "{} {:?} as {role} ({s}) left the configuration changed:\n{}",
                        c.name,
                        t,
                        serde_json::to_string_pretty(&now).unwrap()
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells >= 150, "only {cells} cells");
    eprintln!("authorization matrix: {cells} cells, all as expected");
}

#[test]
fn lists_and_stats_are_scoped() {
    let app = start("scoped", 18111);
    let names = |tok: &str| -> Vec<String> {
        let (s, v) = app.json("GET", "/api/v1/vrs", tok, None);
        assert_eq!(s, 200);
        v.as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(ADMIN), ["a1", "a2", "b1"]);
    assert_eq!(names(RO), ["a1", "a2", "b1"]);
    assert_eq!(names(TA), ["a1", "a2"]);
    assert_eq!(names(ROT1), ["a1", "a2"]);
    let (_, s) = app.json("GET", "/api/v1/stats", TA, None);
    let vrs: Vec<&str> = s["vrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vrs, ["a1", "a2"]);
    assert!(
        s["ports"].as_array().unwrap().is_empty() && s["workers"].as_array().unwrap().is_empty()
    );
    let (_, s) = app.json("GET", "/api/v1/stats", ADMIN, None);
    assert_eq!(s["ports"].as_array().unwrap().len(), 5);
    assert_eq!(s["vrs"].as_array().unwrap().len(), 3);
    assert!(s["loop_latency"]["count"].as_u64().unwrap() > 0);
    let (_, l) = app.json("GET", "/api/v1/labels", TA, None);
    assert_eq!(l, json!([{"label": 4000, "action": "pop", "vr": "a1"}]));
    // Delegation and revocation take effect at the next request.
    let (s, v) = app.json(
        "PUT",
        "/api/v1/vrs/b1/tenant",
        ADMIN,
        Some(r#"{"tenant":"t1"}"#),
    );
    assert_eq!(s, 200);
    // Delegation changes hands only: the VR is not re-created.
    assert_eq!(
        v["applied"],
        json!(["vr3 now belongs to tenant `t1`"]),
        "{v}"
    );
    assert_eq!(names(TA), ["a1", "a2", "b1"]);
    assert_eq!(app.req("GET", "/api/v1/vrs/b1/routes", TA, None).0, 200);
    let (s, _) = app.req("DELETE", "/api/v1/vrs/b1/tenant", ADMIN, None);
    assert_eq!(s, 200);
    assert_eq!(names(TA), ["a1", "a2"]);
    assert_eq!(app.req("GET", "/api/v1/vrs/b1/routes", TA, None).0, 404);
    let (_, v) = app.json("GET", "/api/v1/vrs/b1", ADMIN, None);
    assert_eq!(
        v["vr"]["tenant"], "carrier",
        "revoked VRs go back to the owner"
    );
}

#[test]
fn bad_requests_change_nothing() {
    let app = start("bad", 18112);
    let before = app.config();
    let check =
        |method: &str, path: &str, tok: &str, body: Option<&str>, status: u16, code: &str| {
            let (s, v) = app.json(method, path, tok, body);
            assert_eq!(s, status, "{method} {path}: {v}");
            assert_eq!(v["error"]["code"], code, "{method} {path}: {v}");
        };
    check("GET", "/api/v1/vrs", "", None, 401, "unauthorized");
    // Moves: a tunnel id that is no number, a session id of no known form, an unknown
    // field, the same VR twice.
    check(
        "POST",
        "/api/v1/vrs/a1/tunnels/x/move",
        ADMIN,
        Some(r#"{"to":"a2"}"#),
        400,
        "bad_request",
    );
    check(
        "POST",
        "/api/v1/vrs/a1/sessions/tun-7-9/move",
        ADMIN,
        Some(r#"{"to":"a2"}"#),
        400,
        "bad_request",
    );
    check(
        "POST",
        "/api/v1/vrs/a1/sessions/l2tp-7-9/move",
        TA,
        Some(r#"{"to":"a2","keep":true}"#),
        400,
        "bad_request",
    );
    check(
        "POST",
        "/api/v1/vrs/a1/sessions/l2tp-7-9/move",
        TA,
        Some(r#"{"to":"a1"}"#),
        400,
        "bad_request",
    );
    check(
        "GET",
        "/api/v1/vrs",
        "wrong-token",
        None,
        401,
        "unauthorized",
    );
    check(
        "POST",
        "/api/v1/vrs/a1/routes",
        "wrong-token",
        Some(r#"{"prefix":"10.3.0.0/16","blackhole":true}"#),
        401,
        "unauthorized",
    );
    check(
        "POST",
        "/api/v1/vrs/a1/routes",
        ADMIN,
        Some(r#"{"prefix": "10.3.0.0/16", "#),
        400,
        "bad_request",
    );
    check(
        "POST",
        "/api/v1/transaction",
        ADMIN,
        Some(r#"{"changes":[],"bogus":1}"#),
        400,
        "bad_request",
    );
    check(
        "POST",
        "/api/v1/transaction",
        ADMIN,
        Some(
            r#"{"changes":[{"op":"add_route","vr":"a1","route":{"prefix":"10.3.0.0/16","blackhole":true},"extra":1}]}"#,
        ),
        400,
        "bad_request",
    );
    check(
        "POST",
        "/api/v1/transaction",
        ADMIN,
        Some(r#"{"changes":[{"op":"no_such_op"}]}"#),
        400,
        "bad_request",
    );
    check(
        "PUT",
        "/api/v1/vrs/a1/tenant",
        ADMIN,
        Some(r#"{"tenant":5}"#),
        400,
        "bad_request",
    );
    // Unknown fields inside a profile element: the profile's own structure check.
    let (s, v) = app.json(
        "POST",
        "/api/v1/vrs/a1/routes",
        ADMIN,
        Some(r#"{"prefix":"10.3.0.0/16","blackhole":true,"colour":"red"}"#),
    );
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["pointer"]
            .as_str()
            .unwrap()
            .starts_with("/route"),
        "{v}"
    );
    // Oversized.
    let big = format!(
        r#"{{"prefix":"10.3.0.0/16","blackhole":true,"pad":"{}"}}"#,
        "x".repeat(1_100_000)
    );
    check(
        "POST",
        "/api/v1/vrs/a1/routes",
        ADMIN,
        Some(&big),
        413,
        "payload_too_large",
    );
    check("GET", "/api/v1/nothing-here", ADMIN, None, 404, "not_found");
    check(
        "PUT",
        "/api/v1/stats",
        ADMIN,
        Some("{}"),
        405,
        "method_not_allowed",
    );
    // One bad change of three: nothing is applied.
    let (s, v) = app.json(
        "POST",
        "/api/v1/transaction",
        ADMIN,
        Some(
            r#"{"changes":[
                {"op":"add_route","vr":"a1","route":{"prefix":"10.3.0.0/16","blackhole":true}},
                {"op":"add_route","vr":"a1","route":{"prefix":"10.4.0.0/16","via":"10.99.0.1"}},
                {"op":"add_route","vr":"a2","route":{"prefix":"10.5.0.0/16","blackhole":true}}]}"#,
        ),
    );
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_change");
    assert_eq!(v["error"]["pointer"], "/changes/1/route/via", "{v}");
    assert_eq!(
        v["error"]["profile_pointer"], "/virtual_routers/0/routes/3/via",
        "{v}"
    );
    // A tenant's change to its own VR, refused by the checker, points into its request.
    let (s, v) = app.json(
        "POST",
        "/api/v1/vrs/a2/routes",
        TA,
        Some(r#"{"prefix":"10.6.0.0/16","via":"10.99.0.1"}"#),
    );
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["pointer"], "/route/via", "{v}");
    assert_eq!(
        v["error"]["profile_pointer"], "/virtual_routers/1/routes/0/via",
        "{v}"
    );
    // Labels lead into other carriers' VPNs: a tenant pushes none.
    let (s, v) = app.json(
        "POST",
        "/api/v1/vrs/a1/routes",
        TA,
        Some(r#"{"prefix":"10.6.0.0/16","via":"192.0.2.2","push":[16,4001]}"#),
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["pointer"], "/route/push", "{v}");
    // A transaction where the tenant touches another tenant's VR third: 404, nothing applied.
    let (s, v) = app.json(
        "POST",
        "/api/v1/transaction",
        TA,
        Some(
            r#"{"changes":[
                {"op":"add_route","vr":"a1","route":{"prefix":"10.3.0.0/16","blackhole":true}},
                {"op":"add_route","vr":"a2","route":{"prefix":"10.5.0.0/16","blackhole":true}},
                {"op":"add_route","vr":"b1","route":{"prefix":"10.5.0.0/16","blackhole":true}}]}"#,
        ),
    );
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["pointer"], "/changes/2/vr", "{v}");
    // The last carrier-admin stays.
    let (s, v) = app.json("DELETE", "/api/v1/principals/admin", ADMIN, None);
    assert_eq!((s, &v["error"]["code"]), (409, &json!("conflict")), "{v}");
    // A dry run checks and changes nothing.
    let (s, v) = app.json(
        "POST",
        "/api/v1/transaction",
        ADMIN,
        Some(r#"{"changes":[{"op":"delete_principal","name":"viewer"}],"dry_run":true}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        app.config(),
        before,
        "failed and dry-run requests changed the configuration"
    );
    // The audit log has the refused requests, secrets masked.
    let (s, a) = app.json("GET", "/api/v1/audit?limit=100", ADMIN, None);
    assert_eq!(s, 200);
    let a = a.as_array().unwrap();
    assert!(a
        .iter()
        .any(|r| r["status"] == 401 && r["principal"] == "-"));
    assert!(a
        .iter()
        .any(|r| r["status"] == 422 && r["principal"] == "admin"));
    let file = std::fs::read_to_string(app.dir.join("audit.jsonl")).unwrap();
    assert!(file.lines().count() >= a.len().min(10), "{file}");
}

#[test]
fn transactions_apply_and_save_round_trips() {
    let mut app = start("save", 18113);
    // Three changes together: a route, a move within the tenant, a new principal.
    let (s, v) = app.json(
        "POST",
        "/api/v1/transaction",
        ADMIN,
        Some(
            r#"{"changes":[
                {"op":"add_route","vr":"a1","route":{"prefix":"10.30.0.0/16","via":"10.1.0.77"}},
                {"op":"move_interface","from":"a1","to":"a2","port":"p2","vlan":11},
                {"op":"add_principal","name":"t2-admin","role":"tenant-admin","tenant":"t2"}]}"#,
        ),
    );
    assert_eq!(s, 200, "{v}");
    assert!(v["version"].as_u64().unwrap() >= 1);
    assert!(!v["applied"].as_array().unwrap().is_empty(), "{v}");
    let token = v["tokens"][0]["token"].as_str().unwrap().to_string();
    // The new principal works at once, within its tenant.
    let (s, l) = app.json("GET", "/api/v1/vrs", &token, None);
    assert_eq!(s, 200);
    assert_eq!(l.as_array().unwrap().len(), 1);
    assert_eq!(l[0]["name"], "b1");
    let (_, ifs) = app.json("GET", "/api/v1/vrs/a2/interfaces", TA, None);
    assert_eq!(ifs.as_array().unwrap().len(), 2, "{ifs}");
    let running = app.config();
    let (s, v) = app.json("POST", "/api/v1/config/save", ADMIN, None);
    assert_eq!(s, 200, "{v}");
    let saved = app.dir.join("profile.yaml");
    assert!(varouter::load_config(&saved).is_ok());
    // The directory outlives this run: the next one starts from the saved file.
    let _scratch = app.scratch.take();
    drop(app);
    // Restart from the saved file: the same running configuration, the same principals.
    let app = start_at(&saved, "http://127.0.0.1:18113".into(), agent(None));
    assert_eq!(app.config(), running);
    let (s, l) = app.json("GET", "/api/v1/vrs", &token, None);
    assert_eq!(s, 200);
    assert_eq!(l.as_array().unwrap().len(), 1);
    // Deleting the principal revokes its token at the next request.
    assert_eq!(
        app.req("DELETE", "/api/v1/principals/t2-admin", ADMIN, None)
            .0,
        204
    );
    assert_eq!(app.req("GET", "/api/v1/vrs", &token, None).0, 401);
}

#[test]
fn https_when_the_profile_has_a_certificate() {
    let dir = test_dir("tls");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("api.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("api.key"), key.serialize_pem()).unwrap();
    let path = dir.join("profile.yaml");
    std::fs::write(&path, profile(18114, Some(("api.pem", "api.key")))).unwrap();
    let app = start_at(
        &path,
        "https://localhost:18114".into(),
        agent(Some(cert.der().to_vec())),
    );
    let (s, v) = app.json("GET", "/api/v1/vrs", ROT1, None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 2);
    // Plain HTTP to the TLS port gets no answer.
    let plain = agent(None).get("http://127.0.0.1:18114/api/v1/vrs").call();
    assert!(plain.is_err() || plain.unwrap().status().as_u16() >= 400);
}

#[test]
fn reload_follows_the_file_and_refuses_what_needs_a_restart() {
    let app = start("reload", 18115);
    let path = app.dir.join("profile.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    // The file gains a route: a reload through the API applies it.
    let more = text.replace(
        "      - { prefix: 10.9.0.0/16, via: 10.1.0.254 }",
        "      - { prefix: 10.9.0.0/16, via: 10.1.0.254 }\n      - { prefix: 10.10.0.0/16, via: 10.1.0.254 }",
    );
    assert_ne!(more, text);
    std::fs::write(&path, &more).unwrap();
    let (s, v) = app.json("POST", "/api/v1/reload", ADMIN, None);
    assert_eq!(s, 200, "{v}");
    let (_, r) = app.json("GET", "/api/v1/vrs/a1/routes", TA, None);
    assert_eq!(r.as_array().unwrap().len(), 3, "{r}");
    // A new listening address needs a restart: refused, nothing changes.
    let before = app.config();
    std::fs::write(
        &path,
        more.replace("listen: 127.0.0.1:18115", "listen: 127.0.0.1:18116"),
    )
    .unwrap();
    let (s, v) = app.json("POST", "/api/v1/reload", ADMIN, None);
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    assert_eq!(app.config(), before);
    // A broken file: 422, nothing changes.
    std::fs::write(&path, "router_id: nope\n").unwrap();
    let (s, _) = app.json("POST", "/api/v1/reload", ADMIN, None);
    assert_eq!(s, 422);
    assert_eq!(app.config(), before);
}

#[test]
fn hash_token_prints_a_phc_string_the_api_accepts() {
    use std::io::Write as _;
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_varouter"))
        .arg("hash-token")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"my-token\n").unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    let phc = phc.trim();
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    assert!(varouter::mgmt::auth::check_phc(phc).is_ok());
    assert!(varouter::mgmt::auth::verify("my-token", phc));
    assert!(!varouter::mgmt::auth::verify("my-token\n", phc));
}

#[test]
fn changes_through_the_api_lose_no_packet_of_other_vrs_or_routes() {
    let dir = test_dir("zero-loss");
    let path = dir.join("profile.yaml");
    let text = format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:00:01" }}
  - {{ name: p1, backend: mem, mac: "02:00:00:00:00:02" }}
  - {{ name: p2, backend: mem, mac: "02:00:00:00:00:03" }}
virtual_routers:
  - id: 1
    name: a
    vpn_id: "00a0c9:00000001"
    tenant: t1
    interfaces:
      - {{ port: p0, vlan: 10, addresses: [10.1.0.1/24] }}
      - {{ port: p1, vlan: 10, addresses: [10.2.0.1/24] }}
    routes:
      - {{ prefix: 10.50.0.0/16, via: 10.2.0.254 }}
  - id: 2
    name: b
    vpn_id: "00a0c9:00000002"
    tenant: t2
    interfaces:
      - {{ port: p0, vlan: 20, addresses: [10.1.0.1/24] }}
      - {{ port: p1, vlan: 20, addresses: [10.2.0.1/24] }}
    routes:
      - {{ prefix: 10.50.0.0/16, via: 10.2.0.254 }}
  - id: 3
    name: c
    vpn_id: "00a0c9:00000003"
    tenant: t1
    interfaces:
      - {{ port: p2, vlan: 30, addresses: [10.3.0.1/24] }}
  - id: 4
    name: d
    vpn_id: "00a0c9:00000004"
    tenant: t1
    interfaces:
      - {{ port: p2, vlan: 40, addresses: [10.4.0.1/24] }}
neighbors:
  - {{ port: p1, vlan: 10, ip: 10.2.0.254, mac: "02:aa:00:00:00:01" }}
  - {{ port: p1, vlan: 20, ip: 10.2.0.254, mac: "02:aa:00:00:00:02" }}
traffic:
  flows:
    - {{ name: fa, port: p0, vlan: 10, src: 10.1.0.10, dst: 10.50.0.1-10.50.0.200, rate_pps: 20000, count: 60000, expect: {{ port: p1, vlan: 10 }} }}
    - {{ name: fb, port: p0, vlan: 20, src: 10.1.0.10, dst: 10.50.0.1-10.50.0.200, rate_pps: 20000, count: 60000, expect: {{ port: p1, vlan: 20 }} }}
management:
  listen: 127.0.0.1:18116
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{}" }}
    - {{ name: t1-admin, role: tenant-admin, tenant: t1, token_hash: "{}" }}
"#,
        cheap_hash(ADMIN),
        cheap_hash(TA)
    );
    std::fs::write(&path, text).unwrap();
    let mut app = start_with(&path, "http://127.0.0.1:18116".into(), agent(None), true);
    let join = app.run.join.take().unwrap();
    let mut changes = 0;
    let mut moved = false;
    // While the flows run: move an interface between two other VRs back and forth (as the
    // tenant), and add and delete routes beside the flows' routes in both VRs.
    // A request the stopping appliance did not answer ends the loop.
    let ok = |r: Result<(u16, String), ureq::Error>, want: u16, join: &JoinHandle<_>| match r {
        Ok((s, t)) if !join.is_finished() => {
            assert_eq!(s, want, "{t}");
            true
        }
        _ => false,
    };
    'changing: while !join.is_finished() {
        let (from, to) = if moved { ("c", "d") } else { ("d", "c") };
        let body = format!(r#"{{"from":"{from}","to":"{to}","port":"p2","vlan":40}}"#);
        if !ok(
            app.try_req("POST", "/api/v1/interfaces/move", TA, Some(&body)),
            200,
            &join,
        ) {
            break;
        }
        moved = !moved;
        changes += 1;
        for vr in ["a", "b"] {
            let add = app.try_req(
                "POST",
                &format!("/api/v1/vrs/{vr}/routes"),
                ADMIN,
                Some(r#"{"prefix":"10.60.0.0/16","via":"10.2.0.254"}"#),
            );
            if !ok(add, 201, &join) {
                break 'changing;
            }
            let del = app.try_req(
                "DELETE",
                &format!("/api/v1/vrs/{vr}/routes/10.60.0.0%2F16"),
                ADMIN,
                None,
            );
            if !ok(del, 204, &join) {
                break 'changing;
            }
            changes += 2;
        }
    }
    let summary = join.join().unwrap().unwrap();
    assert!(
        changes >= 10,
        "only {changes} changes were made while the flows ran"
    );
    for f in &summary.flows {
        assert_eq!(f.sent, 60_000, "{f:?}");
        assert_eq!(
            (f.delivered, f.misdelivered),
            (f.sent, 0),
            "{f:?} lost packets"
        );
    }
    eprintln!("zero loss: {changes} API changes while 2 x 60000 packets were forwarded");
}
