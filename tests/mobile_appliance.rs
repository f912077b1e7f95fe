//! The Mobile IPv4 agents in `varouter run` (issue 17): two appliances in this process —
//! "home" (the AAAH on a SQLite VPN database, and the home agent in VR `home`) and
//! "visited" (the AAAF and the foreign agent in VR `visited`) — connected by Diameter over
//! loopback TCP, and a mobile node built with `controlplane::mip::mn` talking to the FA's
//! host socket over real UDP (ports 18290–18296).
//!
//! Checked: the FA's first Reply brings the challenge (a host-socket FA sends no
//! advertisements); a registration accepted through FA → AAAF → AAAH → HA and back; the
//! binding and the visitor in `GET /api/v1/mobile/bindings`; the ESP tunnels (SPIs of the
//! SLA's default SA, the profile's DSCP) with their SAs and routes in the published state in
//! `GET /api/v1/mobile/tunnels`; a replayed Identification refused by the HA (133) and a
//! wrong MN-HA authenticator (131) and a wrong MN-AAA key (67), counted; a dynamic-GW user,
//! whose HA → care-of tunnel is IP-in-IP (RFC 2003), accepted, with that tunnel (outbound,
//! inbound and the home address route) in the published state next to the FA's ESP tunnel
//! to the PCN; deregistration removes the bindings, the visitors and every tunnel.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use controlplane::mip::auth;
use controlplane::mip::mn::MnRegistration;
use controlplane::mip::wire::ext::kind;
use controlplane::mip::wire::registration::{code, Reply, Request};
use controlplane::mip::wire::Extension;
use controlplane::mip::Sa;
use serde_json::Value;
use varouter::bench::aaa::{document, mn_key, nai};

mod common;
use common::{agent, cheap_hash, Running};

const AAAH: u16 = 18290;
const HA_DIA: u16 = 18291;
const HOME_API: u16 = 18292;
const HA_UDP: u16 = 18293;
const AAAF: u16 = 18294;
const FA_UDP: u16 = 18295;
const VISITED_API: u16 = 18296;
const TOKEN: &str = "mobile-test-admin-token";
const TENANT_TOKEN: &str = "mobile-test-tenant-token";
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const MN_HA_KEY: &str = "6d6e2d6861206b6579206f6620757365722033";
/// Key || salt of the SLA's default SA (bench document: SPIs 4096 up, 4097 down).
const SA_UP: &str = "0101010101010101010101010101010111111111";
const SA_DOWN: &str = "0202020202020202020202020202020222222222";

fn home_profile(dir: &Path) -> String {
    format!(
        r#"router_id: 198.51.100.10
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:01:01" }}
virtual_routers:
  - id: 1
    name: home
    vpn_id: "00a0c9:00000001"
    tenant: carrier
    interfaces:
      - {{ port: p0, addresses: [198.51.100.10/24] }}
  - id: 2
    name: other
    vpn_id: "00a0c9:00000002"
    tenant: t9
    interfaces:
      - {{ port: p0, vlan: 9, addresses: [10.9.0.1/24] }}
management:
  listen: 127.0.0.1:{HOME_API}
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{hash}" }}
    - {{ name: t9, role: tenant-admin, tenant: t9, token_hash: "{thash}" }}
aaa:
  role: home
  listen: 127.0.0.1:{AAAH}
  origin_host: aaah.bench.example
  origin_realm: bench.example
  peers: [127.0.0.1:{HA_DIA}]
  database: sqlite:{db}
  mn_aaa_keys: keys.yaml
  ha_host: ha.bench.example
  authorization_lifetime: 600
  record_sessions: false
mobile_ip:
  agents:
    - name: ha1
      vr: home
      role: home_agent
      address: 198.51.100.10
      transport: host
      listen: 127.0.0.1:{HA_UDP}
      diameter: {{ origin_host: ha.bench.example, origin_realm: bench.example, listen: 127.0.0.1:{HA_DIA} }}
      home_network: 10.200.0.0/16
      max_bindings: 1000
      mn_ha:
        - {{ peer: 10.200.0.3, spi: 400, key: "{MN_HA_KEY}" }}
      esp:
        default_sas:
          - {{ spi: 4096, cipher: aes-gcm-128, key: "{SA_UP}" }}
          - {{ spi: 4097, cipher: aes-gcm-128, key: "{SA_DOWN}" }}
"#,
        hash = cheap_hash(TOKEN),
        thash = cheap_hash(TENANT_TOKEN),
        db = dir.join("vpndb.sqlite").display(),
    )
}

fn visited_profile() -> String {
    format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: p0, backend: mem, mac: "02:00:00:00:02:01" }}
virtual_routers:
  - id: 1
    name: visited
    vpn_id: "00a0c9:00000003"
    tenant: carrier
    interfaces:
      - {{ port: p0, addresses: [192.0.2.1/24] }}
management:
  listen: 127.0.0.1:{VISITED_API}
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{hash}" }}
aaa:
  role: foreign
  listen: 127.0.0.1:{AAAF}
  origin_host: aaaf.visited.example
  origin_realm: visited.example
  peers: [127.0.0.1:{AAAH}]
mobile_ip:
  agents:
    - name: fa1
      vr: visited
      role: foreign_agent
      address: 192.0.2.1
      transport: host
      listen: 127.0.0.1:{FA_UDP}
      diameter: {{ origin_host: fa1.visited.example, origin_realm: visited.example, peers: [127.0.0.1:{AAAF}] }}
      max_lifetime: 600
      esp:
        default_sas:
          - {{ spi: 4096, cipher: aes-gcm-128, key: "{SA_UP}" }}
          - {{ spi: 4097, cipher: aes-gcm-128, key: "{SA_DOWN}" }}
"#,
        hash = cheap_hash(TOKEN),
    )
}

fn get(port: u16, token: &str, path: &str) -> Value {
    let mut r = agent()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ntp_now() -> u64 {
    let now = Instant::now();
    varouter::mip::service::wall_ntp_clock(now).at(now)
}

/// The mobile node's side: one UDP socket, the FA's host socket.
struct Mn {
    sock: UdpSocket,
    to: SocketAddr,
}

impl Mn {
    fn exchange(&self, bytes: &[u8]) -> (Reply, Option<Vec<u8>>) {
        self.sock.send_to(bytes, self.to).unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("a Registration Reply");
        let r = Reply::parse(&buf[..n]).unwrap();
        let ch = r.extensions.iter().find_map(|l| match &l.ext {
            Extension::Challenge(c) => Some(c.clone()),
            _ => None,
        });
        (r, ch)
    }
}

fn request(
    user: u32,
    home: Ipv4Addr,
    lifetime: u16,
    id: u64,
    challenge: &[u8],
    key: &[u8],
) -> Vec<u8> {
    MnRegistration {
        flags: 0,
        lifetime,
        home_address: home,
        home_agent: HA,
        care_of_address: FA,
        identification: id,
        nai: &nai(user),
        challenge,
        previous_fa: None,
        service_update: false,
        mn_ha: None,
        mn_aaa: &Sa {
            spi: 256,
            key: key.to_vec(),
        },
    }
    .build()
    .unwrap()
}

fn counter(agents: &Value, name: &str, key: &str) -> u64 {
    agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == name)
        .unwrap_or_else(|| panic!("no agent {name} in {agents}"))["counters"][key]
        .as_u64()
        .unwrap()
}

#[test]
fn registration_through_the_aaa_builds_esp_tunnels_and_deregistration_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vpndb::open(&format!(
        "sqlite:{}",
        dir.path().join("vpndb.sqlite").display()
    ))
    .unwrap();
    store.import("test", &document(4)).unwrap();
    drop(store);
    let keys: String = (1..=4)
        .map(|i| {
            let hex: String = mn_key(i)
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{}: \"{hex}\"\n", nai(i))
        })
        .collect();
    std::fs::write(dir.path().join("keys.yaml"), keys).unwrap();
    let home_path = dir.path().join("home.yaml");
    std::fs::write(&home_path, home_profile(dir.path())).unwrap();
    let visited_path = dir.path().join("visited.yaml");
    std::fs::write(&visited_path, visited_profile()).unwrap();

    let _home = Running::until_stopped(&home_path, Duration::from_secs(20));
    let _visited = Running::until_stopped(&visited_path, Duration::from_secs(20));

    // Diameter up: AAAH → HA (the AAAH connects), FA → AAAF → AAAH.
    until("the HA's and the FA's Diameter peers", || {
        let h = get(HOME_API, TOKEN, "/api/v1/mobile/agents");
        let v = get(VISITED_API, TOKEN, "/api/v1/mobile/agents");
        let open = |x: &Value| x["agents"][0]["diameter_peers"].as_array().unwrap().len();
        (open(&h) == 1 && open(&v) == 1).then_some(())
    });
    let ha_peers = get(HOME_API, TOKEN, "/api/v1/mobile/agents");
    assert_eq!(
        ha_peers["agents"][0]["diameter_peers"][0],
        "aaah.bench.example"
    );

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mn = Mn {
        sock,
        to: format!("127.0.0.1:{FA_UDP}").parse().unwrap(),
    };
    let home1 = Ipv4Addr::new(10, 200, 0, 1);

    // 1. No challenge yet: 105, and the Reply carries one.
    let bare = Request {
        flags: 0,
        lifetime: 300,
        home_address: home1,
        home_agent: HA,
        care_of_address: FA,
        identification: ntp_now(),
        extensions: Vec::new(),
    }
    .emit_extensions(&[Extension::Nai(nai(1).into_bytes())])
    .unwrap()
    .0;
    let (r, ch) = mn.exchange(&bare);
    assert_eq!(r.code, code::FA_MISSING_CHALLENGE);
    let ch = ch.expect("the FA's Reply carries a challenge");

    // 2. Registered through FA → AAAF → AAAH → HA.
    let id1 = ntp_now();
    let accepted = request(1, home1, 300, id1, &ch, mn_key(1).as_bytes());
    let (r, ch) = mn.exchange(&accepted);
    assert_eq!(r.code, code::ACCEPTED, "{r:?}");
    assert_eq!(r.lifetime, 300);
    let ch = ch.unwrap();

    // The binding at the HA, the visitor at the FA.
    let b = get(HOME_API, TOKEN, "/api/v1/mobile/bindings");
    let b = &b["bindings"];
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b[0]["agent"], "ha1");
    assert_eq!(b[0]["home_address"], "10.200.0.1");
    assert_eq!(b[0]["care_of"], "192.0.2.1");
    assert_eq!(b[0]["nai"], nai(1));
    let v = get(VISITED_API, TOKEN, "/api/v1/mobile/bindings");
    assert_eq!(v["bindings"][0]["home_address"], "10.200.0.1");
    assert_eq!(v["bindings"][0]["home_agent"], "198.51.100.10");

    // The tunnels: ESP on the SLA's default SA (up 4096, down 4097), DSCP of TOS 0x28,
    // SAs and routes in the version the workers use.
    let published = |t: &Value| {
        t["published"]["out_sa"] == true
            && t["published"]["in_sa"] == true
            && t["published"]["route"] == true
    };
    let ft = until("the FA's tunnel in the published state", || {
        let t = get(VISITED_API, TOKEN, "/api/v1/mobile/tunnels");
        (t["tunnels"].as_array().unwrap().len() == 1 && published(&t["tunnels"][0])).then_some(t)
    });
    let f = &ft["tunnels"][0];
    assert_eq!(f["role"], "fa_to_gw");
    assert_eq!(f["remote"], "198.51.100.10");
    assert_eq!(f["kind"], "esp");
    assert_eq!(
        (f["out_spi"].as_u64(), f["in_spi"].as_u64()),
        (Some(4096), Some(4097))
    );
    assert_eq!(f["cipher"], "aes-gcm-128");
    assert_eq!(f["prefix"], "10.10.1.0/24");
    assert_eq!(f["dscp"], 10);
    let ht = until("the HA's tunnels in the published state", || {
        let t = get(HOME_API, TOKEN, "/api/v1/mobile/tunnels");
        let l = t["tunnels"].as_array().unwrap();
        (l.len() == 2 && l.iter().all(published)).then_some(t)
    });
    let l = ht["tunnels"].as_array().unwrap();
    let to_fa = l.iter().find(|t| t["role"] == "ha_to_care_of").unwrap();
    assert_eq!(to_fa["remote"], "192.0.2.1");
    assert_eq!(to_fa["prefix"], "10.200.0.1/32");
    assert_eq!(
        (to_fa["out_spi"].as_u64(), to_fa["in_spi"].as_u64()),
        (Some(4097), Some(4096))
    );
    let to_gw = l.iter().find(|t| t["role"] == "ha_to_gw").unwrap();
    assert_eq!(to_gw["remote"], "198.51.100.1");
    assert_eq!(to_gw["prefix"], "10.10.1.0/24");
    assert_eq!(
        (to_gw["out_spi"].as_u64(), to_gw["in_spi"].as_u64()),
        (Some(4096), Some(4097))
    );

    // A tenant sees only its VRs' agents (none here).
    let t = get(HOME_API, TENANT_TOKEN, "/api/v1/mobile/bindings");
    assert_eq!(t["bindings"].as_array().unwrap().len(), 0, "{t}");

    // 3. The same Identification again (with a fresh challenge): the HA refuses it, 133.
    let replay = request(1, home1, 300, id1, &ch, mn_key(1).as_bytes());
    let (r, ch) = mn.exchange(&replay);
    assert_eq!(r.code, code::HA_ID_MISMATCH, "{r:?}");
    let ch = ch.unwrap();

    // 4. A wrong MN-AAA key: the AAAH refuses, the FA answers 67.
    let home4 = Ipv4Addr::new(10, 200, 0, 4);
    let sock3 = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock3
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mn3 = Mn {
        sock: sock3,
        to: mn.to,
    };
    // The challenge was for home1; user 3 gets its own first.
    let bare3 = Request {
        flags: 0,
        lifetime: 300,
        home_address: home4,
        home_agent: HA,
        care_of_address: FA,
        identification: ntp_now(),
        extensions: Vec::new(),
    }
    .emit_extensions(&[Extension::Nai(nai(3).into_bytes())])
    .unwrap()
    .0;
    let (r, ch3) = mn3.exchange(&bare3);
    assert_eq!(r.code, code::FA_MISSING_CHALLENGE);
    let (r, _) = mn3.exchange(&request(
        3,
        home4,
        300,
        ntp_now(),
        &ch3.unwrap(),
        b"not the key",
    ));
    assert_eq!(r.code, code::FA_MN_AUTH_FAILED, "{r:?}");

    // 5. Straight to the HA with a wrong MN-HA authenticator: 131, counted.
    let home3 = Ipv4Addr::new(10, 200, 0, 3);
    let direct = Request {
        flags: 0,
        lifetime: 300,
        home_address: home3,
        home_agent: HA,
        care_of_address: FA,
        identification: ntp_now(),
        extensions: Vec::new(),
    };
    let exts = [
        Extension::Nai(nai(3).into_bytes()),
        auth::auth_placeholder(kind::MN_HA_AUTH, 400),
    ];
    let (mut bytes, offs) = direct.emit_extensions(&exts).unwrap();
    let at = offs[1] + 6;
    let m = auth::hmac_md5(b"a wrong key", &bytes[..at]);
    bytes[at..at + auth::AUTH_LEN].copy_from_slice(&m);
    let ha_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    ha_sock
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let to_ha = Mn {
        sock: ha_sock,
        to: format!("127.0.0.1:{HA_UDP}").parse().unwrap(),
    };
    let (r, _) = to_ha.exchange(&bytes);
    assert_eq!(r.code, code::HA_MN_AUTH_FAILED, "{r:?}");

    // 6. A dynamic-GW user: the HA's tunnel to the care-of address is IP-in-IP (the VPN's
    // ESP runs FA ↔ PCN directly, Fig. 13): accepted, and the tunnel is in the published
    // state.
    let home2 = Ipv4Addr::new(10, 200, 0, 2);
    let sock2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock2
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mn2 = Mn {
        sock: sock2,
        to: mn.to,
    };
    let bare2 = Request {
        flags: 0,
        lifetime: 300,
        home_address: home2,
        home_agent: HA,
        care_of_address: FA,
        identification: ntp_now(),
        extensions: Vec::new(),
    }
    .emit_extensions(&[Extension::Nai(nai(2).into_bytes())])
    .unwrap()
    .0;
    let (_, ch2) = mn2.exchange(&bare2);
    let (r, ch2) = mn2.exchange(&request(
        2,
        home2,
        300,
        ntp_now(),
        &ch2.unwrap(),
        mn_key(2).as_bytes(),
    ));
    assert_eq!(r.code, code::ACCEPTED, "{r:?}");
    let ch2 = ch2.unwrap();
    let ht = until("the HA's IP-in-IP tunnel in the published state", || {
        let t = get(HOME_API, TOKEN, "/api/v1/mobile/tunnels");
        let l = t["tunnels"].as_array().unwrap();
        (l.len() == 3 && l.iter().all(published)).then_some(t)
    });
    let ipip: Vec<&Value> = ht["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["home_address"] == "10.200.0.2")
        .collect();
    assert_eq!(ipip.len(), 1, "{ht}");
    let t = ipip[0];
    assert_eq!(t["role"], "ha_to_care_of", "{t}");
    assert_eq!(t["kind"], "ipip", "{t}");
    assert_eq!(t["local"], "198.51.100.10", "{t}");
    assert_eq!(t["remote"], "192.0.2.1", "{t}");
    assert_eq!(t["prefix"], "10.200.0.2/32", "{t}");
    assert_eq!(t["cipher"], "none", "{t}");
    assert!(t["ipip_id"].as_u64().is_some_and(|i| i >= 1), "{t}");
    // The FA's side: ESP to the PCN on the user's own SA (the dynamic GW), and the other end
    // of the HA's plain IP-in-IP tunnel (it takes the HA's packets; it routes nothing, so
    // its route is null). Without the latter the HA's tunnel led nowhere: the mobile lab's
    // dynamic-GW-only user found it.
    let plain_ok = |t: &Value| {
        t["kind"] == "ipip"
            && t["published"]["out_sa"] == true
            && t["published"]["in_sa"] == true
            && t["published"]["route"].is_null()
    };
    let ft = until("the FA's tunnels to the PCN and from the HA", || {
        let t = get(VISITED_API, TOKEN, "/api/v1/mobile/tunnels");
        let l = t["tunnels"].as_array().unwrap();
        (l.len() == 3 && l.iter().all(|x| published(x) || plain_ok(x))).then_some(t)
    });
    let mut f: Vec<(String, String)> = ft["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["home_address"] == "10.200.0.2")
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_string(),
                t["remote"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    f.sort();
    assert_eq!(
        f,
        [
            ("esp".to_string(), "203.0.113.9".to_string()),
            ("ipip".to_string(), HA.to_string())
        ],
        "{ft}"
    );

    let h = get(HOME_API, TOKEN, "/api/v1/mobile/agents");
    assert_eq!(counter(&h, "ha1", "accepted"), 2, "{h}");
    assert_eq!(counter(&h, "ha1", "replayed"), 1, "{h}");
    assert_eq!(counter(&h, "ha1", "bad_authenticator"), 1, "{h}");
    assert_eq!(counter(&h, "ha1", "tunnel_unsupported"), 0, "{h}");
    assert_eq!(h["agents"][0]["denied_by_code"]["133"], 1, "{h}");
    assert_eq!(h["agents"][0]["denied_by_code"]["131"], 1, "{h}");
    assert!(h["agents"][0]["denied_by_code"]["129"].is_null(), "{h}");
    let v = get(VISITED_API, TOKEN, "/api/v1/mobile/agents");
    assert_eq!(counter(&v, "fa1", "accepted"), 2, "{v}");
    // The handoff counters are listed (no move here: all zero at the FA; the HA took HARs).
    assert!(counter(&h, "ha1", "har") >= 2, "{h}");
    // User 2's gateway is a PCN, but this profile gives the HA no HA–PCN association:
    // no Binding Update goes out (the mobile lab has the association and checks BUs).
    assert_eq!(counter(&h, "ha1", "bu_sent"), 0, "{h}");
    for k in [
        "relayed_to_ha",
        "bu_sent",
        "bu_accepted",
        "ba_timeouts",
        "forward_expiries",
    ] {
        assert_eq!(counter(&v, "fa1", k), 0, "{k}: {v}");
    }
    assert_eq!(v["agents"][0]["denied_by_code"]["67"], 1, "{v}");
    assert_eq!(v["agents"][0]["denied_by_code"]["105"], 3, "{v}");
    // Two bindings: nothing refused touched them.
    let b = get(HOME_API, TOKEN, "/api/v1/mobile/bindings");
    assert_eq!(b["bindings"].as_array().unwrap().len(), 2, "{b}");

    // 7. Deregistration: bindings, visitors and every tunnel go.
    let (r, _) = mn.exchange(&request(1, home1, 0, ntp_now(), &ch, mn_key(1).as_bytes()));
    assert_eq!(r.code, code::ACCEPTED, "{r:?}");
    assert_eq!(r.lifetime, 0);
    let (r, _) = mn2.exchange(&request(2, home2, 0, ntp_now(), &ch2, mn_key(2).as_bytes()));
    assert_eq!(r.code, code::ACCEPTED, "{r:?}");
    assert_eq!(r.lifetime, 0);
    until("the tunnels gone", || {
        let h = get(HOME_API, TOKEN, "/api/v1/mobile/tunnels");
        let v = get(VISITED_API, TOKEN, "/api/v1/mobile/tunnels");
        (h["tunnels"].as_array().unwrap().is_empty() && v["tunnels"].as_array().unwrap().is_empty())
            .then_some(())
    });
    let b = get(HOME_API, TOKEN, "/api/v1/mobile/bindings");
    assert!(b["bindings"].as_array().unwrap().is_empty(), "{b}");
    let v = get(VISITED_API, TOKEN, "/api/v1/mobile/bindings");
    assert!(v["bindings"].as_array().unwrap().is_empty(), "{v}");
    let h = get(HOME_API, TOKEN, "/api/v1/mobile/agents");
    assert_eq!(counter(&h, "ha1", "deregistrations"), 2, "{h}");
}
