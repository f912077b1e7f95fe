//! `varouter ctl`: the command-line client of the management API (docs/api.md).
//!
//! Every command is one HTTP request (a write is a one-change transaction on the server;
//! `ctl txn FILE.json` sends several changes at once). The API address and token come from
//! `--api` / `--token` or the environment (`VAROUTER_API`, `VAROUTER_TOKEN`). Answers are
//! printed as aligned tables ([`table`]) or, with `--json`, as the API's JSON unchanged
//! (pretty-printed), for scripts.
//!
//! Exit codes: 0 done; 2 the API refused the request (4xx: its code, message and JSON
//! pointer are printed on stderr, and with `--json` the API's error object on stdout); 3 the API could not be reached; 1 anything else (5xx, a local file
//! that cannot be read).

pub mod bench;
pub mod client;
pub mod table;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use client::{segment, Client, CtlError, Method};
use table::Table;

/// `varouter ctl` options and command.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// API address (`http://127.0.0.1:8443`, `https://edge1:8443`) [env: VAROUTER_API].
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// Bearer token [env: VAROUTER_TOKEN].
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// PEM certificate(s) to trust for an `https://` API (a self-signed API certificate).
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Print the API's JSON answer instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub cmd: CtlCmd,
}

/// The commands of `varouter ctl`, mirroring the API's resources.
#[derive(Subcommand, Debug)]
pub enum CtlCmd {
    /// Virtual routers: list, show, create, delete, delegate to a tenant, revoke.
    #[command(subcommand)]
    Vr(VrCmd),
    /// Interfaces (ports, VLANs) of VRs: list, bind, unbind, move between VRs.
    #[command(subcommand)]
    Iface(IfaceCmd),
    /// Static routes of a VR.
    #[command(subcommand)]
    Route(RouteCmd),
    /// Label matrix entries.
    #[command(subcommand)]
    Label(LabelCmd),
    /// Static neighbours (ARP/ND entries).
    #[command(subcommand)]
    Neighbor(NeighborCmd),
    /// L2TP settings of a VR.
    #[command(subcommand)]
    L2tp(L2tpCmd),
    /// Realms (ISP ids) of a VR's relay: which VR (and LNS) their subscribers go to.
    #[command(subcommand)]
    Realm(RealmCmd),
    /// L2TP tunnels of a VR.
    #[command(subcommand)]
    Tunnel(TunnelCmd),
    /// Sessions (L2TP, PPP subscribers) of a VR.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Mobile IP agents (home agent, foreign agent, PCN): bindings, tunnels, counters.
    #[command(subcommand)]
    Mobile(MobileCmd),
    /// Send a transaction: a JSON file `{"changes": [...]}` (or just the array of changes);
    /// all of them are applied or none.
    Txn {
        /// The transaction file (JSON).
        file: PathBuf,
        /// Check the changes without applying them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-read the profile file and apply what changed (like SIGHUP).
    Reload,
    /// The running configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Statistics: VRs, ports, workers (within the token's scope).
    Stats,
    /// LDP: sessions, bindings per FEC, the cross connects it installed, transport paths
    /// (carrier scope).
    Ldp,
    /// API principals and their tokens.
    #[command(subcommand)]
    Principal(PrincipalCmd),
    /// The last records of the audit log.
    Audit {
        /// How many records.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Print the argon2id hash of a token for a profile's `management.principals` (reads
    /// the token from the argument or, without one, from standard input). Needs no API.
    HashToken {
        /// The token (prefer standard input: arguments show in `ps`).
        token: Option<String>,
    },
}

/// `ctl mobile ...`
#[derive(Subcommand, Debug)]
pub enum MobileCmd {
    /// Bindings (HA), visitors (FA) and binding cache entries (PCN).
    Bindings,
    /// The agents' tunnels in the data plane (ESP SAs and routes).
    Tunnels,
    /// The agents with their counters and Diameter peers.
    Agents,
}

/// `ctl vr ...`
#[derive(Subcommand, Debug)]
pub enum VrCmd {
    /// List the VRs in scope with their counters.
    List,
    /// One VR: its profile entry and counters.
    Show {
        /// VR name.
        name: String,
    },
    /// Create a VR from a file holding one `virtual_routers` entry (YAML or JSON).
    Create {
        /// The VR (YAML or JSON, as in a profile).
        file: PathBuf,
    },
    /// Delete a VR.
    Delete {
        /// VR name.
        name: String,
    },
    /// Delegate a VR to a tenant (sets its `tenant`).
    Delegate {
        /// VR name.
        name: String,
        /// The tenant that may manage it.
        tenant: String,
    },
    /// Revoke a delegation (the VR goes back to the owner).
    Revoke {
        /// VR name.
        name: String,
    },
    /// A VR's configuration map (VR discovery): the other VRs of its VPN, by provider
    /// router.
    Map {
        /// VR name.
        name: String,
    },
    /// A VR's VPN peering channels: state, L2TP tunnel ids, routes received/sent, hold
    /// time left, transport path, and the routes they installed.
    Peers {
        /// VR name.
        name: String,
    },
}

/// `ctl iface ...`
#[derive(Subcommand, Debug)]
pub enum IfaceCmd {
    /// The interfaces bound to a VR.
    List {
        /// VR name.
        vr: String,
    },
    /// Bind a port (or a VLAN of it: `PORT.VLAN`) to a VR with addresses.
    Bind {
        /// VR name.
        vr: String,
        /// `PORT` or `PORT.VLAN`.
        port: String,
        /// Addresses with prefix length (`10.255.0.1/30`).
        addresses: Vec<String>,
    },
    /// Unbind a port or VLAN from a VR.
    Unbind {
        /// VR name.
        vr: String,
        /// `PORT` or `PORT.VLAN`.
        port: String,
    },
    /// Move a port or VLAN from one VR to another (one atomic change).
    Move {
        /// VR it is bound to now.
        from: String,
        /// VR it goes to.
        to: String,
        /// `PORT` or `PORT.VLAN`.
        port: String,
        /// New addresses (default: keep the current ones).
        #[arg(long = "address")]
        addresses: Vec<String>,
    },
}

/// `ctl route ...`
#[derive(Subcommand, Debug)]
pub enum RouteCmd {
    /// The static routes of a VR.
    List {
        /// VR name.
        vr: String,
    },
    /// Add a route: a next hop (optionally with labels to push), a blackhole, or an ESP SA.
    Add {
        /// VR name.
        vr: String,
        /// Destination prefix (`10.2.0.0/16`, `fd00:2::/48`).
        prefix: String,
        /// Next-hop address.
        #[arg(long)]
        via: Option<String>,
        /// Discard matching packets.
        #[arg(long, conflicts_with_all = ["via", "esp", "push"])]
        blackhole: bool,
        /// Labels to push, outermost first (`16001,1001`); needs `--via`.
        #[arg(long, value_delimiter = ',', requires = "via")]
        push: Vec<u32>,
        /// Send into the VR's outbound ESP SA of this name.
        #[arg(long, conflicts_with = "via")]
        esp: Option<String>,
    },
    /// Delete a route.
    Del {
        /// VR name.
        vr: String,
        /// Its prefix.
        prefix: String,
    },
}

/// `ctl label ...`
#[derive(Subcommand, Debug)]
pub enum LabelCmd {
    /// The label matrix.
    List,
    /// Add an entry: `pop --vr VR`, `swap --out-label N --port P --via IP`,
    /// `pop-forward --port P --via IP`, `pop-next`.
    Add {
        /// Incoming label.
        label: u32,
        /// `pop`, `swap`, `pop-next`, `pop-forward`.
        action: String,
        /// `swap`: the outgoing label.
        #[arg(long)]
        out_label: Option<u32>,
        /// `swap`, `pop-forward`: trunk port.
        #[arg(long)]
        port: Option<String>,
        /// `swap`, `pop-forward`: next hop on that port.
        #[arg(long)]
        via: Option<String>,
        /// `pop`: the VR that routes the packet.
        #[arg(long)]
        vr: Option<String>,
    },
    /// Delete an entry.
    Del {
        /// Incoming label.
        label: u32,
    },
}

/// `ctl neighbor ...`
#[derive(Subcommand, Debug)]
pub enum NeighborCmd {
    /// The static neighbours.
    List,
    /// Add a static neighbour.
    Add {
        /// `PORT` or `PORT.VLAN`.
        port: String,
        /// Its IP address.
        ip: String,
        /// Its MAC address.
        mac: String,
    },
    /// Delete a static neighbour.
    Del {
        /// `PORT` or `PORT.VLAN`.
        port: String,
        /// Its IP address.
        ip: String,
    },
}

/// `ctl l2tp ...`
#[derive(Subcommand, Debug)]
pub enum L2tpCmd {
    /// Switch a VR's L2TP endpoint between LAC and LNS (its tunnels are drained first).
    Role {
        /// VR name.
        vr: String,
        /// `lac` or `lns`.
        #[arg(value_parser = ["lac", "lns"])]
        role: String,
    },
    /// Replace a VR's L2TP settings with a file (YAML or JSON, as `l2tp:` in a profile),
    /// or remove them with `none`.
    Set {
        /// VR name.
        vr: String,
        /// The settings file, or `none`.
        file: String,
    },
}

/// `ctl realm ...`
#[derive(Subcommand, Debug)]
pub enum RealmCmd {
    /// Send a realm's subscribers to another VR (and LNS): moves an ISP id between VRs.
    Set {
        /// The VR whose relay has the realm.
        vr: String,
        /// The realm (`isp-b.example`).
        realm: String,
        /// The VR the realm's sessions are relayed in.
        to_vr: String,
        /// The LNS address in that VR.
        #[arg(long)]
        lns: Option<String>,
    },
    /// Remove a realm from a VR's relay.
    Del {
        /// The VR.
        vr: String,
        /// The realm.
        realm: String,
    },
}

/// `ctl tunnel ...`
#[derive(Subcommand, Debug)]
pub enum TunnelCmd {
    /// The L2TP tunnels of a VR.
    List {
        /// VR name.
        vr: String,
    },
    /// Clear a tunnel (StopCCN).
    Clear {
        /// VR name.
        vr: String,
        /// Local tunnel id.
        id: u16,
    },
    /// Move a tunnel to another VR: its sessions (and those it brings up later) are routed
    /// there; the tunnel stays up.
    Move {
        /// Local tunnel id.
        id: u16,
        /// The VR it goes to.
        #[arg(long)]
        to: String,
        /// The VR its sessions are routed in now (default: the VR whose tunnel list has it).
        #[arg(long)]
        from: Option<String>,
    },
}

/// `ctl session ...`
#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// The sessions of a VR.
    List {
        /// VR name.
        vr: String,
    },
    /// Disconnect a session (CDN / PPP terminate).
    Disconnect {
        /// VR name.
        vr: String,
        /// Session id as listed.
        id: String,
    },
    /// Move a session to another VR while it stays up (no PPP renegotiation).
    Move {
        /// `TUNNEL/SESSION` (L2TP) or the id as listed (`l2tp-T-S`, `pppoe-PORT-S`).
        id: String,
        /// The VR it goes to.
        #[arg(long)]
        to: String,
        /// The VR it is routed in now (default: the VR whose session list has it).
        #[arg(long)]
        from: Option<String>,
    },
}

/// A session id as the API takes it: `T/S` is `l2tp-T-S`; anything else as given.
pub fn session_id(id: &str) -> String {
    match id.split_once('/') {
        Some((t, s)) if t.parse::<u16>().is_ok() && s.parse::<u16>().is_ok() => {
            format!("l2tp-{t}-{s}")
        }
        _ => id.to_string(),
    }
}

/// The VR (in the caller's scope) whose `what` listing (`sessions`, `tunnels`) has an
/// entry with `id`: asks the API for the VRs and their listings.
fn find_vr_listing(client: &Client, what: &str, id: &Value) -> Result<String, CtlError> {
    let vrs = client.get("/api/v1/vrs")?;
    for v in vrs.as_array().into_iter().flatten() {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let list = client.get(&format!("/api/v1/vrs/{}/{what}", segment(name)))?;
        if list
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e.get("id") == Some(id) && e.get("moved_out") != Some(&Value::Bool(true)))
        {
            return Ok(name.to_string());
        }
    }
    Err(CtlError::Local(format!(
        "no VR you can see lists {what} {id}; give --from VR"
    )))
}

/// `ctl config ...`
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Print the running configuration as a profile (YAML).
    Show,
    /// Save the running configuration as a profile (default: the profile file it runs from).
    Save {
        /// Where to write it (on the appliance's file system).
        path: Option<String>,
    },
}

/// `ctl principal ...`
#[derive(Subcommand, Debug)]
pub enum PrincipalCmd {
    /// The principals (never their tokens).
    List,
    /// Add a principal; its token is printed once.
    Add {
        /// Principal name.
        name: String,
        /// `carrier-admin`, `tenant-admin` or `read-only`.
        #[arg(value_parser = ["carrier-admin", "tenant-admin", "read-only"])]
        role: String,
        /// Tenant (required for tenant-admin, optional for read-only).
        tenant: Option<String>,
    },
    /// Delete a principal.
    Del {
        /// Principal name.
        name: String,
    },
}

/// What one command asks of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Method.
    pub method: Method,
    /// Path (percent-encoded), from `/`.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// How to print the answer.
    pub show: Show,
}

/// How an answer is printed as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Show {
    /// An array of objects as a table with these columns first.
    List(&'static [&'static str]),
    /// One object as a form.
    Object,
    /// The result of a change (applied lines, version, a new token).
    Change,
    /// The body as it came (YAML of `config show`).
    Raw,
    /// The statistics snapshot.
    Stats,
    /// A VR's configuration map.
    Map,
    /// LDP's document.
    Ldp,
    /// A VR's VPN peering channels.
    Peers,
}

const VR_COLS: &[&str] = &[
    "name",
    "id",
    "vpn_id",
    "tenant",
    "interfaces",
    "routes",
    "l2tp_role",
    "rx",
    "tx",
    "drops",
];
const IFACE_COLS: &[&str] = &["port", "vlan", "addresses"];
const ROUTE_COLS: &[&str] = &["prefix", "via", "push", "blackhole", "esp"];
const LABEL_COLS: &[&str] = &["label", "action", "out_label", "port", "via", "vr"];
const NEIGHBOR_COLS: &[&str] = &["port", "vlan", "ip", "mac"];
const MAP_COLS: &[&str] = &["router", "address", "age_s"];
const PEER_COLS: &[&str] = &[
    "router",
    "state",
    "tunnel",
    "peer_tunnel",
    "routes_received",
    "routes_installed",
    "routes_sent",
    "hold_left_s",
    "transport",
    "address",
];
const TUNNEL_COLS: &[&str] = &["id", "peer", "state", "sessions"];
const SESSION_COLS: &[&str] = &[
    "id", "kind", "tunnel", "session", "vlan", "user", "address", "state", "phase", "lns",
    "uptime_s",
];
const PRINCIPAL_COLS: &[&str] = &["name", "role", "tenant"];
const MOBILE_BINDING_COLS: &[&str] = &[
    "agent",
    "role",
    "vr",
    "home_address",
    "nai",
    "care_of",
    "home_agent",
    "mobile_node",
    "expires_in_s",
    "tunnels",
];
const MOBILE_TUNNEL_COLS: &[&str] = &[
    "agent",
    "vr",
    "home_address",
    "role",
    "local",
    "remote",
    "kind",
    "out_spi",
    "in_spi",
    "cipher",
    "prefix",
    "dscp",
];
const MOBILE_AGENT_COLS: &[&str] = &["agent", "role", "vr", "address", "diameter_peers"];
const AUDIT_COLS: &[&str] = &["time", "principal", "method", "path", "status", "result"];

/// Runs `varouter ctl` and returns the process exit code.
pub fn main(args: CtlArgs) -> std::process::ExitCode {
    match run(args, &mut std::io::stdout()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varouter ctl: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one `ctl` command, printing its output to `out`.
pub fn run(args: CtlArgs, out: &mut dyn std::io::Write) -> Result<(), CtlError> {
    if let CtlCmd::HashToken { token } = &args.cmd {
        let token = match token {
            Some(t) => t.clone(),
            None => {
                let mut s = String::new();
                std::io::stdin()
                    .read_line(&mut s)
                    .map_err(|e| CtlError::Local(format!("standard input: {e}")))?;
                s.trim_end_matches(['\r', '\n']).to_string()
            }
        };
        if token.is_empty() {
            return Err(CtlError::Local("hash-token: empty token".into()));
        }
        let h = crate::mgmt::auth::hash_token(&token);
        return write_out(out, &format!("{h}\n"));
    }
    let mut call = plan(&args.cmd)?;
    let api = args
        .api
        .clone()
        .or_else(|| std::env::var("VAROUTER_API").ok())
        .ok_or_else(|| {
            CtlError::Local("no API address: give --api URL or set VAROUTER_API".into())
        })?;
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("VAROUTER_TOKEN").ok());
    let client = Client::new(&api, token.as_deref(), args.ca.as_deref())?;
    // A move without --from: the VR whose listing has the session (tunnel).
    let found = match &args.cmd {
        CtlCmd::Session(SessionCmd::Move { id, from: None, .. }) => Some(find_vr_listing(
            &client,
            "sessions",
            &json!(session_id(id)),
        )?),
        CtlCmd::Tunnel(TunnelCmd::Move { id, from: None, .. }) => {
            Some(find_vr_listing(&client, "tunnels", &json!(id))?)
        }
        _ => None,
    };
    if let Some(vr) = found {
        call.path = call.path.replacen(
            "/api/v1/vrs/-/",
            &format!("/api/v1/vrs/{}/", segment(&vr)),
            1,
        );
    }
    let answer = match client.request(call.method, &call.path, call.body.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            // Scripts reading --json output get the API's error object on stdout as well.
            if args.json {
                if let Some(v) = e.to_json() {
                    write_out(
                        out,
                        &(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"),
                    )?;
                }
            }
            return Err(e);
        }
    };
    let text = if call.show == Show::Raw {
        answer.body.clone()
    } else if args.json {
        let v = answer.json()?;
        if v.is_null() {
            String::new()
        } else {
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
    } else {
        format_answer(&call.show, &answer.json()?)
    };
    write_out(out, &text)
}

fn write_out(out: &mut dyn std::io::Write, s: &str) -> Result<(), CtlError> {
    out.write_all(s.as_bytes())
        .map_err(|e| CtlError::Local(format!("standard output: {e}")))
}

/// Turns a command into its request (reading the files it names). Pure apart from reading
/// those files, so that it can be tested without a server.
pub fn plan(cmd: &CtlCmd) -> Result<Call, CtlError> {
    let v = |name: &str| format!("/api/v1/vrs/{}", segment(name));
    let call = |method, path: String, body: Option<Value>, show| Call {
        method,
        path,
        body,
        show,
    };
    Ok(match cmd {
        CtlCmd::Mobile(c) => match c {
            MobileCmd::Bindings => call(
                Method::Get,
                "/api/v1/mobile/bindings".into(),
                None,
                Show::List(MOBILE_BINDING_COLS),
            ),
            MobileCmd::Tunnels => call(
                Method::Get,
                "/api/v1/mobile/tunnels".into(),
                None,
                Show::List(MOBILE_TUNNEL_COLS),
            ),
            MobileCmd::Agents => call(
                Method::Get,
                "/api/v1/mobile/agents".into(),
                None,
                Show::List(MOBILE_AGENT_COLS),
            ),
        },
        CtlCmd::Vr(c) => match c {
            VrCmd::List => call(Method::Get, "/api/v1/vrs".into(), None, Show::List(VR_COLS)),
            VrCmd::Show { name } => call(Method::Get, v(name), None, Show::Object),
            VrCmd::Map { name } => call(Method::Get, format!("{}/map", v(name)), None, Show::Map),
            VrCmd::Peers { name } => {
                call(Method::Get, format!("{}/peers", v(name)), None, Show::Peers)
            }
            VrCmd::Create { file } => call(
                Method::Post,
                "/api/v1/vrs".into(),
                Some(read_document(file)?),
                Show::Change,
            ),
            VrCmd::Delete { name } => call(Method::Delete, v(name), None, Show::Change),
            VrCmd::Delegate { name, tenant } => call(
                Method::Put,
                format!("{}/tenant", v(name)),
                Some(json!({ "tenant": tenant })),
                Show::Change,
            ),
            VrCmd::Revoke { name } => call(
                Method::Delete,
                format!("{}/tenant", v(name)),
                None,
                Show::Change,
            ),
        },
        CtlCmd::Iface(c) => match c {
            IfaceCmd::List { vr } => call(
                Method::Get,
                format!("{}/interfaces", v(vr)),
                None,
                Show::List(IFACE_COLS),
            ),
            IfaceCmd::Bind {
                vr,
                port,
                addresses,
            } => {
                let (port, vlan) = port_vlan(port)?;
                let mut b = Map::new();
                b.insert("port".into(), json!(port));
                if let Some(vl) = vlan {
                    b.insert("vlan".into(), json!(vl));
                }
                b.insert("addresses".into(), json!(addresses));
                call(
                    Method::Post,
                    format!("{}/interfaces", v(vr)),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
            IfaceCmd::Unbind { vr, port } => {
                let (port, vlan) = port_vlan(port)?;
                call(
                    Method::Delete,
                    format!(
                        "{}/interfaces/{}{}",
                        v(vr),
                        segment(&port),
                        vlan.map_or(String::new(), |n| format!("?vlan={n}"))
                    ),
                    None,
                    Show::Change,
                )
            }
            IfaceCmd::Move {
                from,
                to,
                port,
                addresses,
            } => {
                let (port, vlan) = port_vlan(port)?;
                let mut b = Map::new();
                b.insert("from".into(), json!(from));
                b.insert("to".into(), json!(to));
                b.insert("port".into(), json!(port));
                if let Some(vl) = vlan {
                    b.insert("vlan".into(), json!(vl));
                }
                if !addresses.is_empty() {
                    b.insert("addresses".into(), json!(addresses));
                }
                call(
                    Method::Post,
                    "/api/v1/interfaces/move".into(),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
        },
        CtlCmd::Route(c) => match c {
            RouteCmd::List { vr } => call(
                Method::Get,
                format!("{}/routes", v(vr)),
                None,
                Show::List(ROUTE_COLS),
            ),
            RouteCmd::Add {
                vr,
                prefix,
                via,
                blackhole,
                push,
                esp,
            } => {
                if via.is_none() && !blackhole && esp.is_none() {
                    return Err(CtlError::Local(
                        "a route needs --via IP, --blackhole or --esp NAME".into(),
                    ));
                }
                let mut b = Map::new();
                b.insert("prefix".into(), json!(prefix));
                if let Some(x) = via {
                    b.insert("via".into(), json!(x));
                }
                if !push.is_empty() {
                    b.insert("push".into(), json!(push));
                }
                if *blackhole {
                    b.insert("blackhole".into(), json!(true));
                }
                if let Some(x) = esp {
                    b.insert("esp".into(), json!(x));
                }
                call(
                    Method::Post,
                    format!("{}/routes", v(vr)),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
            RouteCmd::Del { vr, prefix } => call(
                Method::Delete,
                format!("{}/routes/{}", v(vr), segment(prefix)),
                None,
                Show::Change,
            ),
        },
        CtlCmd::Label(c) => match c {
            LabelCmd::List => call(
                Method::Get,
                "/api/v1/labels".into(),
                None,
                Show::List(LABEL_COLS),
            ),
            LabelCmd::Add {
                label,
                action,
                out_label,
                port,
                via,
                vr,
            } => {
                let mut b = Map::new();
                b.insert("label".into(), json!(label));
                b.insert("action".into(), json!(action));
                if let Some(x) = out_label {
                    b.insert("out_label".into(), json!(x));
                }
                if let Some(x) = port {
                    b.insert("port".into(), json!(x));
                }
                if let Some(x) = via {
                    b.insert("via".into(), json!(x));
                }
                if let Some(x) = vr {
                    b.insert("vr".into(), json!(x));
                }
                call(
                    Method::Post,
                    "/api/v1/labels".into(),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
            LabelCmd::Del { label } => call(
                Method::Delete,
                format!("/api/v1/labels/{label}"),
                None,
                Show::Change,
            ),
        },
        CtlCmd::Neighbor(c) => match c {
            NeighborCmd::List => call(
                Method::Get,
                "/api/v1/neighbors".into(),
                None,
                Show::List(NEIGHBOR_COLS),
            ),
            NeighborCmd::Add { port, ip, mac } => {
                let (port, vlan) = port_vlan(port)?;
                let mut b = Map::new();
                b.insert("port".into(), json!(port));
                if let Some(vl) = vlan {
                    b.insert("vlan".into(), json!(vl));
                }
                b.insert("ip".into(), json!(ip));
                b.insert("mac".into(), json!(mac));
                call(
                    Method::Post,
                    "/api/v1/neighbors".into(),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
            NeighborCmd::Del { port, ip } => {
                let (port, vlan) = port_vlan(port)?;
                call(
                    Method::Delete,
                    format!(
                        "/api/v1/neighbors/{}/{}{}",
                        segment(&port),
                        segment(ip),
                        vlan.map_or(String::new(), |n| format!("?vlan={n}"))
                    ),
                    None,
                    Show::Change,
                )
            }
        },
        CtlCmd::L2tp(c) => match c {
            L2tpCmd::Role { vr, role } => call(
                Method::Put,
                format!("{}/l2tp/role", v(vr)),
                Some(json!({ "role": role })),
                Show::Change,
            ),
            L2tpCmd::Set { vr, file } => {
                let body = if file == "none" {
                    Value::Null
                } else {
                    read_document(Path::new(file))?
                };
                call(
                    Method::Put,
                    format!("{}/l2tp", v(vr)),
                    Some(body),
                    Show::Change,
                )
            }
        },
        CtlCmd::Realm(c) => match c {
            RealmCmd::Set {
                vr,
                realm,
                to_vr,
                lns,
            } => {
                let mut b = Map::new();
                b.insert("to_vr".into(), json!(to_vr));
                if let Some(l) = lns {
                    b.insert("lns".into(), json!(l));
                }
                call(
                    Method::Put,
                    format!("{}/realms/{}", v(vr), segment(realm)),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
            RealmCmd::Del { vr, realm } => call(
                Method::Delete,
                format!("{}/realms/{}", v(vr), segment(realm)),
                None,
                Show::Change,
            ),
        },
        CtlCmd::Tunnel(c) => match c {
            TunnelCmd::List { vr } => call(
                Method::Get,
                format!("{}/tunnels", v(vr)),
                None,
                Show::List(TUNNEL_COLS),
            ),
            TunnelCmd::Clear { vr, id } => call(
                Method::Delete,
                format!("{}/tunnels/{id}", v(vr)),
                None,
                Show::Change,
            ),
            TunnelCmd::Move { id, to, from } => call(
                Method::Post,
                format!("{}/tunnels/{id}/move", v(from.as_deref().unwrap_or("-"))),
                Some(json!({ "to": to })),
                Show::Change,
            ),
        },
        CtlCmd::Session(c) => match c {
            SessionCmd::List { vr } => call(
                Method::Get,
                format!("{}/sessions", v(vr)),
                None,
                Show::List(SESSION_COLS),
            ),
            SessionCmd::Disconnect { vr, id } => call(
                Method::Delete,
                format!("{}/sessions/{}", v(vr), segment(id)),
                None,
                Show::Change,
            ),
            SessionCmd::Move { id, to, from } => call(
                Method::Post,
                format!(
                    "{}/sessions/{}/move",
                    v(from.as_deref().unwrap_or("-")),
                    segment(&session_id(id))
                ),
                Some(json!({ "to": to })),
                Show::Change,
            ),
        },
        CtlCmd::Txn { file, dry_run } => {
            let doc = read_document(file)?;
            let body = match doc {
                Value::Array(changes) => json!({ "changes": changes, "dry_run": dry_run }),
                Value::Object(mut m) => {
                    if *dry_run {
                        m.insert("dry_run".into(), json!(true));
                    }
                    Value::Object(m)
                }
                _ => {
                    return Err(CtlError::Local(format!(
                    "{}: a transaction is an object {{\"changes\": [...]}} or an array of changes",
                    file.display()
                )))
                }
            };
            call(
                Method::Post,
                "/api/v1/transaction".into(),
                Some(body),
                Show::Change,
            )
        }
        CtlCmd::Reload => call(Method::Post, "/api/v1/reload".into(), None, Show::Change),
        CtlCmd::Config(c) => match c {
            ConfigCmd::Show => call(Method::Get, "/api/v1/config".into(), None, Show::Raw),
            ConfigCmd::Save { path } => call(
                Method::Post,
                "/api/v1/config/save".into(),
                Some(match path {
                    Some(p) => json!({ "path": p }),
                    None => json!({}),
                }),
                Show::Change,
            ),
        },
        CtlCmd::Stats => call(Method::Get, "/api/v1/stats".into(), None, Show::Stats),
        CtlCmd::Ldp => call(Method::Get, "/api/v1/ldp".into(), None, Show::Ldp),
        CtlCmd::Principal(c) => match c {
            PrincipalCmd::List => call(
                Method::Get,
                "/api/v1/principals".into(),
                None,
                Show::List(PRINCIPAL_COLS),
            ),
            PrincipalCmd::Add { name, role, tenant } => {
                let mut b = Map::new();
                b.insert("name".into(), json!(name));
                b.insert("role".into(), json!(role));
                if let Some(t) = tenant {
                    b.insert("tenant".into(), json!(t));
                }
                call(
                    Method::Post,
                    "/api/v1/principals".into(),
                    Some(Value::Object(b)),
                    Show::Change,
                )
            }
            PrincipalCmd::Del { name } => call(
                Method::Delete,
                format!("/api/v1/principals/{}", segment(name)),
                None,
                Show::Change,
            ),
        },
        CtlCmd::Audit { limit } => call(
            Method::Get,
            format!("/api/v1/audit?limit={limit}"),
            None,
            Show::List(AUDIT_COLS),
        ),
        CtlCmd::HashToken { .. } => {
            return Err(CtlError::Local("hash-token needs no API".into()));
        }
    })
}

/// `PORT` or `PORT.VLAN` (the last `.N` with a number is the VLAN).
pub fn port_vlan(s: &str) -> Result<(String, Option<u16>), CtlError> {
    if let Some((p, vl)) = s.rsplit_once('.') {
        if !vl.is_empty() && vl.bytes().all(|b| b.is_ascii_digit()) {
            let n: u16 = vl
                .parse()
                .ok()
                .filter(|n| (1..=4094).contains(n))
                .ok_or_else(|| CtlError::Local(format!("{s}: VLAN {vl} is not in 1..=4094")))?;
            if p.is_empty() {
                return Err(CtlError::Local(format!(
                    "{s}: no port name before the VLAN"
                )));
            }
            return Ok((p.to_string(), Some(n)));
        }
    }
    if s.is_empty() {
        return Err(CtlError::Local("empty port name".into()));
    }
    Ok((s.to_string(), None))
}

/// Reads a YAML or JSON file into JSON (YAML is a superset of JSON; `.json` files are
/// read as JSON so that their errors are JSON's).
pub fn read_document(path: &Path) -> Result<Value, CtlError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CtlError::Local(format!("{}: {e}", path.display())))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        serde_json::from_str(&text)
            .map_err(|e| CtlError::Local(format!("{}: invalid JSON: {e}", path.display())))
    } else {
        serde_saphyr::from_str::<Value>(&text)
            .map_err(|e| CtlError::Local(format!("{}: invalid YAML: {e}", path.display())))
    }
}

/// The text output of an answer.
pub fn format_answer(show: &Show, v: &Value) -> String {
    match show {
        Show::Raw => v.as_str().map(str::to_string).unwrap_or_default(),
        Show::List(cols) => {
            let rows = match v {
                Value::Array(a) => a.clone(),
                // A list wrapped in an object (`{"vrs": [...]}`): the first array in it.
                Value::Object(m) => m
                    .values()
                    .find_map(|x| x.as_array().cloned())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if rows.is_empty() {
                "(none)\n".to_string()
            } else {
                Table::from_objects(&rows, cols).render()
            }
        }
        Show::Object => table::render_object(v),
        Show::Change => format_change(v),
        Show::Stats => format_stats(v),
        Show::Map => format_map(v),
        Show::Ldp => format_ldp(v),
        Show::Peers => format_peers(v),
    }
}

/// `ctl ldp`: the LSR line, then sessions, bindings, cross connects and paths as tables.
fn format_ldp(v: &Value) -> String {
    let g = |k: &str| v.get(k).map(table::cell).unwrap_or_default();
    let rows = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut o = format!(
        "LDP LSR {} transport {} label block {} on {}\n",
        g("lsr_id"),
        g("transport_address"),
        g("label_block"),
        g("ports")
    );
    let mut section = |title: &str, rs: Vec<Value>, cols: &[&str]| {
        o.push_str(&format!("{title}:\n"));
        if rs.is_empty() {
            o.push_str("(none)\n");
        } else {
            o.push_str(&Table::from_objects(&rs, cols).render());
        }
    };
    section(
        "sessions",
        rows("sessions"),
        &["peer", "state", "uptime_s", "hello_source"],
    );
    let bindings: Vec<Value> = rows("bindings")
        .iter()
        .map(|b| {
            let remote: Vec<String> = b
                .get("remote")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{}={}",
                        r.get("peer").map(table::cell).unwrap_or_default(),
                        r.get("label").map(table::cell).unwrap_or_default()
                    )
                })
                .collect();
            let nh = b.get("next_hop").filter(|x| !x.is_null()).map(|h| {
                format!(
                    "{} on {} ({})",
                    h.get("via").map(table::cell).unwrap_or_default(),
                    h.get("port").map(table::cell).unwrap_or_default(),
                    h.get("source").map(table::cell).unwrap_or_default()
                )
            });
            json!({
                "fec": b.get("fec"),
                "local": b.get("local_label"),
                "remote": remote.join(" "),
                "next_hop": nh.unwrap_or_else(|| if b.get("own") == Some(&json!(true)) { "(own)".into() } else { "-".into() }),
            })
        })
        .collect();
    section(
        "bindings",
        bindings,
        &["fec", "local", "remote", "next_hop"],
    );
    section(
        "cross connects (label matrix)",
        rows("cross_connects"),
        &["in_label", "action", "out_label", "port", "via", "fec"],
    );
    section(
        "transport paths",
        rows("paths"),
        &["router", "label", "port", "via"],
    );
    o
}

/// `ctl vr peers`: the VR's own line, its channels, then the routes they installed.
fn format_peers(v: &Value) -> String {
    let g = |k: &str| v.get(k).map(table::cell).unwrap_or_default();
    let mut o = format!(
        "vr {} (id {}), VPN {} (peering id {}), router {}, VPN label {}, {} route(s) announced: {}\n",
        g("vr"),
        g("id"),
        g("vpn_id"),
        g("peering_vpn"),
        g("router_id"),
        g("label"),
        g("routes_announced"),
        g("state")
    );
    let rows: Vec<Value> = v
        .get("channels")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut c| {
            let t = match c.get("transport") {
                Some(Value::Object(t)) => {
                    let label = match t.get("label") {
                        Some(Value::Number(n)) => n.to_string(),
                        _ => "implicit-null".into(),
                    };
                    format!(
                        "{label} on {} via {}",
                        t.get("port").map(table::cell).unwrap_or_default(),
                        t.get("via").map(table::cell).unwrap_or_default()
                    )
                }
                _ => "none (routes unusable)".into(),
            };
            c["transport"] = json!(t);
            c
        })
        .collect();
    if rows.is_empty() {
        o.push_str("(no channel: no other VR of the VPN known)\n");
    } else {
        o.push_str(&Table::from_objects(&rows, PEER_COLS).render());
    }
    let fib = v
        .get("fib")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !fib.is_empty() {
        o.push_str("routes installed:\n");
        o.push_str(&Table::from_objects(&fib, &["prefix", "push", "port", "via"]).render());
    }
    o
}

/// `ctl vr map`: the VR's own line, then its peers as a table.
fn format_map(v: &Value) -> String {
    let g = |k: &str| v.get(k).map(table::cell).unwrap_or_default();
    let mut o = format!(
        "vr {} (id {}), VPN {} (discovery id {}), router {}, address {}: {}\n",
        g("vr"),
        g("id"),
        g("vpn_id"),
        g("discovery_vpn"),
        g("router_id"),
        g("address"),
        g("state")
    );
    let rows = v
        .get("peers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() {
        o.push_str("(no other VR of the VPN known)\n");
    } else {
        o.push_str(&Table::from_objects(&rows, MAP_COLS).render());
    }
    o
}

fn format_change(v: &Value) -> String {
    let mut o = String::new();
    match v {
        Value::Null => o.push_str("ok\n"),
        Value::Object(m) => {
            if let Some(Value::Array(lines)) = m.get("applied") {
                for l in lines {
                    o.push_str(&table::cell(l));
                    o.push('\n');
                }
                if lines.is_empty() && m.get("tokens").is_none() {
                    o.push_str("no table change\n");
                }
            }
            if let Some(ver) = m.get("version") {
                o.push_str(&format!("version {}\n", table::cell(ver)));
            }
            let tokens = m.get("tokens").and_then(Value::as_array);
            for t in tokens.into_iter().flatten() {
                let name = t.get("name").map(table::cell).unwrap_or_default();
                let tok = t.get("token").map(table::cell).unwrap_or_default();
                o.push_str(&format!("token of {name}: {tok}\n"));
            }
            if tokens.is_some_and(|t| !t.is_empty()) {
                o.push_str("(shown once: store it now)\n");
            }
            if let Some(p) = m.get("path").and_then(Value::as_str) {
                let bytes = m
                    .get("bytes")
                    .map(table::cell)
                    .unwrap_or_else(|| "-".into());
                o.push_str(&format!("saved to {p} ({bytes} bytes)\n"));
            }
            if o.is_empty() {
                o = table::render_object(v);
            }
        }
        other => o = format!("{}\n", table::cell(other)),
    }
    o
}

fn format_stats(v: &Value) -> String {
    let mut o = String::new();
    if let Some(u) = v.get("uptime_s").and_then(Value::as_f64) {
        o.push_str(&format!("uptime {u:.1} s\n"));
    }
    let section = |o: &mut String, title: &str, key: &str, cols: &[&str]| {
        if let Some(rows) = v.get(key).and_then(Value::as_array) {
            if !rows.is_empty() {
                o.push_str(&format!("\n{title}:\n"));
                for l in Table::from_objects(rows, cols).render().lines() {
                    o.push_str(&format!("  {l}\n"));
                }
            }
        }
    };
    section(
        &mut o,
        "virtual routers",
        "vrs",
        &[
            "name",
            "id",
            "tenant",
            "rx_packets",
            "tx_packets",
            "rx_bytes",
            "tx_bytes",
            "drops",
            "tunnels",
            "sessions",
        ],
    );
    section(
        &mut o,
        "ports",
        "ports",
        &["name", "rx_packets", "tx_packets", "drops"],
    );
    section(
        &mut o,
        "workers",
        "workers",
        &["id", "rx_packets", "tx_packets", "punts", "drops"],
    );
    section(&mut o, "radius", "radius", &["vr", "tenant"]);
    if let Some(p) = v.get("publish").filter(|p| p.get("count").is_some()) {
        let g = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        if g("count") > 0.0 {
            o.push_str(&format!(
                "\npublished {} versions, last took {:.0} µs, {:.0} µs in all\n",
                g("count"),
                g("last_delay_us"),
                g("total_delay_us")
            ));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: CtlArgs,
    }

    fn planned(args: &[&str]) -> Call {
        let t = T::try_parse_from(std::iter::once("ctl").chain(args.iter().copied())).unwrap();
        plan(&t.a.cmd).unwrap()
    }

    #[test]
    fn mobile_commands_list_the_agents() {
        for (arg, path) in [
            ("bindings", "/api/v1/mobile/bindings"),
            ("tunnels", "/api/v1/mobile/tunnels"),
            ("agents", "/api/v1/mobile/agents"),
        ] {
            let c = planned(&["mobile", arg]);
            assert_eq!((c.method, c.path.as_str()), (Method::Get, path));
            assert!(matches!(c.show, Show::List(_)));
        }
        let v = serde_json::json!({"bindings": [{"agent": "ha1", "role": "home_agent", "vr": "home",
            "home_address": "10.200.0.1", "nai": "u@x", "care_of": "192.0.2.1", "expires_in_s": 299, "tunnels": 2}]});
        let out = format_answer(&Show::List(MOBILE_BINDING_COLS), &v);
        assert!(
            out.contains("10.200.0.1") && out.contains("192.0.2.1"),
            "{out}"
        );
        assert_eq!(
            format_answer(
                &Show::List(MOBILE_TUNNEL_COLS),
                &serde_json::json!({"tunnels": []})
            ),
            "(none)\n"
        );
    }

    #[test]
    fn commands_map_to_the_contracts_requests() {
        let c = planned(&["route", "del", "A", "10.0.0.0/8"]);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::Delete, "/api/v1/vrs/A/routes/10.0.0.0%2F8")
        );
        let c = planned(&[
            "route",
            "add",
            "A",
            "10.9.0.0/16",
            "--via",
            "192.0.2.2",
            "--push",
            "16001,1001",
        ]);
        assert_eq!(c.path, "/api/v1/vrs/A/routes");
        assert_eq!(
            c.body.unwrap(),
            json!({"prefix": "10.9.0.0/16", "via": "192.0.2.2", "push": [16001, 1001]})
        );
        let c = planned(&["iface", "move", "A", "B", "access0.10"]);
        assert_eq!(
            c.body.unwrap(),
            json!({"from": "A", "to": "B", "port": "access0", "vlan": 10})
        );
        let c = planned(&["session", "move", "7/12", "--to", "B", "--from", "A"]);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::Post, "/api/v1/vrs/A/sessions/l2tp-7-12/move")
        );
        assert_eq!(c.body.unwrap(), json!({"to": "B"}));
        let c = planned(&[
            "session",
            "move",
            "pppoe-0-4711",
            "--to",
            "B",
            "--from",
            "A",
        ]);
        assert_eq!(c.path, "/api/v1/vrs/A/sessions/pppoe-0-4711/move");
        let c = planned(&["tunnel", "move", "7", "--to", "B", "--from", "A"]);
        assert_eq!(c.path, "/api/v1/vrs/A/tunnels/7/move");
        assert_eq!(c.body.unwrap(), json!({"to": "B"}));
        // Without --from, `run` asks the API which VR lists it first.
        let c = planned(&["tunnel", "move", "7", "--to", "B"]);
        assert_eq!(c.path, "/api/v1/vrs/-/tunnels/7/move");
        assert_eq!(session_id("7/x"), "7/x");
        let c = planned(&["iface", "unbind", "A", "access0.10"]);
        assert_eq!(c.path, "/api/v1/vrs/A/interfaces/access0?vlan=10");
        let c = planned(&["vr", "delegate", "B", "carrier-b"]);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::Put, "/api/v1/vrs/B/tenant")
        );
        assert_eq!(c.body.unwrap(), json!({"tenant": "carrier-b"}));
        let c = planned(&["neighbor", "del", "trunk0", "fd00::2"]);
        assert_eq!(c.path, "/api/v1/neighbors/trunk0/fd00%3A%3A2");
        let c = planned(&["config", "save"]);
        assert_eq!(c.body.unwrap(), json!({}));
        let c = planned(&["audit", "--limit", "5"]);
        assert_eq!(c.path, "/api/v1/audit?limit=5");
        let c = planned(&["principal", "add", "ops", "tenant-admin", "carrier-b"]);
        assert_eq!(
            c.body.unwrap(),
            json!({"name": "ops", "role": "tenant-admin", "tenant": "carrier-b"})
        );
    }

    #[test]
    fn a_route_needs_a_destination_and_push_needs_via() {
        let t = T::try_parse_from(["ctl", "route", "add", "A", "10.0.0.0/8"]).unwrap();
        assert!(matches!(plan(&t.a.cmd), Err(CtlError::Local(_))));
        assert!(
            T::try_parse_from(["ctl", "route", "add", "A", "10.0.0.0/8", "--push", "1"]).is_err()
        );
        assert!(T::try_parse_from([
            "ctl",
            "route",
            "add",
            "A",
            "x",
            "--blackhole",
            "--via",
            "1.1.1.1"
        ])
        .is_err());
    }

    #[test]
    fn port_and_vlan() {
        assert_eq!(port_vlan("access0").unwrap(), ("access0".into(), None));
        assert_eq!(
            port_vlan("access0.10").unwrap(),
            ("access0".into(), Some(10))
        );
        assert_eq!(port_vlan("eth.x").unwrap(), ("eth.x".into(), None));
        assert!(port_vlan("access0.4095").is_err());
        assert!(port_vlan(".10").is_err());
    }

    #[test]
    fn transactions_from_a_file_object_or_array() {
        let d = std::env::temp_dir().join(format!("ctl-txn-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("t.json");
        std::fs::write(
            &f,
            r#"[{"op":"delete_route","vr":"A","prefix":"10.1.0.0/16"}]"#,
        )
        .unwrap();
        let c = planned(&["txn", f.to_str().unwrap(), "--dry-run"]);
        assert_eq!(
            c.body.unwrap(),
            json!({"changes": [{"op":"delete_route","vr":"A","prefix":"10.1.0.0/16"}], "dry_run": true})
        );
        let y = d.join("vr.yaml");
        std::fs::write(
            &y,
            "id: 7\nname: C\nvpn_id: \"00a0c9:00000007\"\ntenant: t\n",
        )
        .unwrap();
        let c = planned(&["vr", "create", y.to_str().unwrap()]);
        assert_eq!(
            c.body.unwrap(),
            json!({"id": 7, "name": "C", "vpn_id": "00a0c9:00000007", "tenant": "t"})
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn change_answers_read_as_text() {
        let s = format_answer(
            &Show::Change,
            &json!({"applied": ["route A 10.9.0.0/16 added"], "version": 7}),
        );
        assert_eq!(s, "route A 10.9.0.0/16 added\nversion 7\n");
        assert_eq!(format_answer(&Show::Change, &Value::Null), "ok\n");
        assert_eq!(format_answer(&Show::List(VR_COLS), &json!([])), "(none)\n");
    }
}
