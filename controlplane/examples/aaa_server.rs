//! A Diameter Mobile IPv4 AAA server (seed 003): the AAAH or the AAAF engine of
//! `controlplane::aaa` on the Diameter peer engine and its TCP driver.
//!
//! ```text
//! aaa_server --role home|foreign --listen IP:PORT --host FQDN --realm REALM
//!     [--connect IP:PORT]... [--profiles FILE.json] [--db FILE.sqlite] [--ha-host FQDN]
//!     [--seconds T]
//! ```
//! `--connect` keeps a connection to a peer (the HA for the AAAH, the home AAAH for the
//! AAAF); peers may also connect to `--listen`. The AAAH reads its users from
//! `--profiles`: vpndb's document (`slas`, `cn_gw`, `profiles`) plus `mn_aaa_keys`, a map
//! from NAI to the hex MN-AAA key. With `--db` the document is imported into that vpndb
//! SQLite store (created if needed) and every lookup reads the store (S105); the MN-AAA keys
//! stay in memory (the store keeps none). Prints `ready` once listening and, at the end
//! (`--seconds`, default 30), the engine's and the driver's counters on one line each.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use controlplane::aaa::driver::Node;
use controlplane::aaa::foreign::{Foreign, ForeignConfig};
use controlplane::aaa::home::{subscriber_from_store, Home, HomeConfig, Subscriber};
use controlplane::diameter::mip4;
use controlplane::diameter::peer::Config;
use rand::rngs::StdRng;
use vpndb::model::{KeyBytes, VpnDocument};
use vpndb::store::VpnStore;

fn usage() -> ! {
    eprintln!(
        "usage: aaa_server --role home|foreign --listen IP:PORT --host FQDN --realm R \
         [--connect IP:PORT]... [--profiles FILE] [--db FILE] [--ha-host FQDN] [--seconds T]"
    );
    std::process::exit(2)
}

fn load(path: &str) -> Result<(VpnDocument, HashMap<String, KeyBytes>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let doc: VpnDocument = serde_json::from_value(v.clone()).map_err(|e| format!("{path}: {e}"))?;
    doc.validate().map_err(|e| format!("{path}: {e}"))?;
    let mut keys = HashMap::new();
    if let Some(m) = v.get("mn_aaa_keys").and_then(|m| m.as_object()) {
        for (nai, hex) in m {
            let k = KeyBytes::from_hex(hex.as_str().unwrap_or(""))
                .map_err(|e| format!("{nai}: {e}"))?;
            keys.insert(nai.clone(), k);
        }
    }
    Ok((doc, keys))
}

fn run<E: controlplane::aaa::driver::Engine>(
    mut node: Node<E>,
    connect: &[SocketAddr],
    seconds: u64,
    counters: impl Fn(&E) -> String,
) {
    let start = Instant::now();
    for c in connect {
        node.connect(*c, Duration::from_secs(1), start);
    }
    println!("ready");
    let end = start + Duration::from_secs(seconds);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        node.poll(now);
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("engine {}", counters(node.engine()));
    println!("driver {:?}", node.counters());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut role, mut listen, mut host, mut realm) = (None, None, None, None);
    let (mut connect, mut profiles, mut ha_host, mut seconds) = (Vec::new(), None, None, 30u64);
    let mut db: Option<String> = None;
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--role" => role = Some(val()),
            "--listen" => listen = Some(val().parse::<SocketAddr>().unwrap_or_else(|_| usage())),
            "--host" => host = Some(val()),
            "--realm" => realm = Some(val()),
            "--connect" => connect.push(val().parse::<SocketAddr>().unwrap_or_else(|_| usage())),
            "--profiles" => profiles = Some(val()),
            "--ha-host" => ha_host = Some(val()),
            "--db" => db = Some(val()),
            "--seconds" => seconds = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (Some(role), Some(host), Some(realm)) = (role, host, realm) else {
        usage()
    };
    let mut cfg = Config::new(&host, &realm);
    cfg.known_avp = mip4::known_avp;
    cfg.supported_vendor_ids = vec![mip4::VENDOR_ID];
    cfg.product_name = "varouter-aaa".into();
    match role.as_str() {
        "home" => {
            let (doc, keys) = match profiles.as_deref().map(load) {
                Some(Ok(x)) => x,
                Some(Err(e)) => {
                    eprintln!("aaa_server: {e}");
                    std::process::exit(1)
                }
                None => usage(),
            };
            let lookup: controlplane::aaa::driver::Lookup = match db.as_deref() {
                Some(path) => {
                    let mut store = vpndb::sqlite::SqliteStore::open(std::path::Path::new(path))
                        .unwrap_or_else(|e| {
                            eprintln!("aaa_server: {path}: {e}");
                            std::process::exit(1)
                        });
                    if let Err(e) = store.import("aaa_server", &doc) {
                        eprintln!("aaa_server: import into {path}: {e}");
                        std::process::exit(1)
                    }
                    Box::new(move |nai: &str| {
                        subscriber_from_store(&mut store, nai, keys.get(nai).cloned())
                            .map_err(|e| format!("lookup {nai}: {e}"))
                    })
                }
                None => Box::new(move |nai: &str| {
                    let profiles: Vec<_> = doc
                        .profiles
                        .iter()
                        .filter(|p| p.nai.as_str() == nai)
                        .cloned()
                        .collect();
                    if profiles.is_empty() {
                        return Ok(None);
                    }
                    Ok(Some(Subscriber {
                        profiles,
                        slas: doc.slas.clone(),
                        cn_gw: doc.cn_gw.clone(),
                        mn_aaa_key: keys.get(nai).cloned(),
                    }))
                }),
            };
            let mut hc = HomeConfig::new(&host, &realm);
            hc.default_ha_host = ha_host;
            let engine: Home<StdRng> = Home::new(hc, rand::make_rng());
            let node = Node::new(engine, cfg, listen, lookup).unwrap_or_else(|e| {
                eprintln!("aaa_server: listen: {e}");
                std::process::exit(1)
            });
            run(node, &connect, seconds, |e| format!("{:?}", e.counters()));
        }
        "foreign" => {
            let engine = Foreign::new(ForeignConfig::new(&host, &realm));
            let node = Node::new(engine, cfg, listen, Box::new(|_| Ok(None))).unwrap_or_else(|e| {
                eprintln!("aaa_server: listen: {e}");
                std::process::exit(1)
            });
            run(node, &connect, seconds, |e| format!("{:?}", e.counters()));
        }
        _ => usage(),
    }
}
