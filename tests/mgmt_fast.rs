//! The management API's fast path for route transactions (`src/mgmt/fast.rs`) against the
//! full path (the whole document emitted as YAML, parsed and checked as a profile, the
//! whole forwarding state diffed): for a table of transactions, accepted and refused, and
//! for random sequences of route additions and deletions, both give the same answer — the
//! same error (message, pointer into the request and into the profile, status) or the same
//! document, the same configuration and the same table changes.

use std::path::Path;

use proptest::prelude::*;
use serde_json::{json, Value};
use varouter::config::Config;
use varouter::mgmt::auth::Principal;
use varouter::mgmt::document;
use varouter::mgmt::exec::{prepare, Prepared, Refusal};
use varouter::mgmt::ops::Change;
use varouter::mgmt::scope::Role;

const PROFILE: &str = r#"
router_id: 192.0.2.1
ports:
  - { name: access0, backend: mem, mac: "02:00:00:00:00:01" }
  - { name: trunk0, backend: mem, mac: "02:00:00:00:00:02", trunk: true, addresses: [192.0.2.1/30] }
virtual_routers:
  - id: 1
    name: A
    vpn_id: "00a0c9:00000001"
    tenant: t1
    interfaces:
      - { port: access0, vlan: 10, addresses: [10.255.0.1/30, "fd00:ff::1/64"] }
    routes:
      - { prefix: 10.1.0.0/16, via: 10.255.0.2 }
      - { prefix: 10.2.0.0/16, via: 192.0.2.2, push: [16001, 1001] }
      - { prefix: 10.3.0.0/16, esp: a-out }
    esp:
      outer_vr: core
      sas:
        - name: a-out
          direction: out
          spi: 0x0a000001
          cipher: aes-gcm-128
          key: "00112233445566778899aabbccddeeff01020304"
          local: 192.0.2.9
          remote: 198.51.100.9
        - name: a-in
          direction: in
          spi: 0x0a000002
          cipher: aes-gcm-128
          key: "ffeeddccbbaa99887766554433221100a0b0c0d0"
          local: 192.0.2.9
          remote: 198.51.100.9
  - id: 2
    name: B
    vpn_id: "00a0c9:00000002"
    tenant: t2
    interfaces:
      - { port: access0, vlan: 20, addresses: [10.255.0.1/30] }
    routes:
      - { prefix: 10.1.0.0/16, via: 10.255.0.2 }
  - id: 3
    name: core
    vpn_id: "00a0c9:000000ff"
    tenant: carrier
    interfaces:
      - { port: access0, vlan: 99, addresses: [192.0.2.9/30] }
neighbors:
  - { port: access0, vlan: 10, ip: 10.255.0.2, mac: "02:00:00:00:0a:02" }
  - { port: trunk0, ip: 192.0.2.2, mac: "02:00:00:00:ff:02" }
labels: { min: 1000, max: 99999 }
label_matrix:
  - { label: 2001, action: pop, vr: A }
"#;

fn base() -> (Value, Config) {
    let doc = document::parse(PROFILE).unwrap();
    let cfg = varouter::parse_config(Path::new("p.yaml"), PROFILE).unwrap();
    (doc, cfg)
}

fn who(role: Role, tenant: Option<&str>) -> Principal {
    Principal {
        name: "x".into(),
        role,
        tenant: tenant.map(Into::into),
        token_hash: String::new(),
    }
}

fn changes(v: Value) -> Vec<Change> {
    serde_json::from_value(v).unwrap()
}

fn add(vr: &str, route: Value) -> Value {
    json!({"op": "add_route", "vr": vr, "route": route})
}

fn del(vr: &str, prefix: &str) -> Value {
    json!({"op": "delete_route", "vr": vr, "prefix": prefix})
}

/// What [`prepare`] gave, with the document it left.
struct Done {
    doc: Value,
    config: Config,
    fast: bool,
}

/// Both paths on one transaction; asserts they agree (and that a refusal leaves the
/// document as it was, and an accepted transaction's undo puts it back) and returns the
/// answer, and whether the fast path took it.
fn both(doc: &Value, running: &Config, p: &Principal, cs: &[Change]) -> Result<Done, Refusal> {
    let path = Path::new("p.yaml");
    let run = |fast: bool| {
        let mut d = doc.clone();
        let r = prepare(path, &mut d, running, p, "carrier", cs, fast);
        match r {
            Ok(Prepared {
                config,
                routes,
                undo,
                ..
            }) => {
                let mut back = d.clone();
                undo.restore(&mut back);
                assert_eq!(&back, doc, "undo of {cs:?}");
                Ok((d, config, routes))
            }
            Err(e) => {
                assert_eq!(&d, doc, "a refused {cs:?} changed the document");
                Err(e)
            }
        }
    };
    let fast = run(true);
    let full = run(false);
    match (fast, full) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "{cs:?}");
            Err(b)
        }
        (Ok((fdoc, fcfg, froutes)), Ok((doc, config, routes))) => {
            assert!(routes.is_none());
            assert_eq!(fdoc, doc, "{cs:?}");
            assert_eq!(format!("{fcfg:?}"), format!("{config:?}"), "{cs:?}");
            if let Some(fast_changes) = &froutes {
                let old = varouter::tables::desired(running).unwrap();
                let new = varouter::tables::desired(&config).unwrap();
                let full_changes = varouter::tables::diff(&old, &new, 1).unwrap();
                assert_eq!(
                    format!("{fast_changes:?}"),
                    format!("{full_changes:?}"),
                    "{cs:?}"
                );
            }
            Ok(Done {
                doc,
                config,
                fast: froutes.is_some(),
            })
        }
        (a, b) => panic!(
            "the paths disagree on {cs:?}:\nfast: {:?}\nfull: {:?}",
            a.map(|x| x.1),
            b.map(|x| x.1)
        ),
    }
}

#[test]
fn accepted_route_transactions_agree_and_take_the_fast_path() {
    let (doc, cfg) = base();
    let admin = who(Role::CarrierAdmin, None);
    let cases = vec![
        json!([add(
            "A",
            json!({"prefix": "10.50.0.0/16", "via": "10.255.0.2"})
        )]),
        json!([add(
            "A",
            json!({"prefix": "10.51.0.0/16", "via": "192.0.2.2", "push": [16001, 1001]})
        )]),
        json!([add(
            "A",
            json!({"prefix": "10.52.0.0/16", "blackhole": true})
        )]),
        json!([add(
            "A",
            json!({"prefix": "fd00:5::/48", "via": "fd00:ff::2"})
        )]),
        json!([add(
            "A",
            json!({"prefix": "fd00:6::/48", "via": "192.0.2.2", "push": [16001, 1001]})
        )]),
        json!([add("A", json!({"prefix": "10.53.0.0/16", "esp": "a-out"}))]),
        // A static route over a static neighbour's host route, then (below) deleted.
        json!([add(
            "A",
            json!({"prefix": "10.255.0.2/32", "blackhole": true})
        )]),
        json!([del("A", "10.1.0.0/16")]),
        json!([del("A", "10.3.0.0/16")]),
        json!([
            del("A", "10.1.0.0/16"),
            add("A", json!({"prefix": "10.1.0.0/16", "blackhole": true}))
        ]),
        json!([
            add("A", json!({"prefix": "10.54.0.0/16", "via": "10.255.0.2"})),
            add("B", json!({"prefix": "10.54.0.0/16", "via": "10.255.0.2"})),
            add("A", json!({"prefix": "10.55.0.0/24", "via": "10.255.0.2"})),
        ]),
        json!([
            del("B", "10.1.0.0/16"),
            del("A", "10.1.0.0/16"),
            del("A", "10.2.0.0/16")
        ]),
    ];
    for c in cases {
        let cs = changes(c);
        let r = both(&doc, &cfg, &admin, &cs);
        assert!(
            r.as_ref().is_ok_and(|d| d.fast),
            "{cs:?}: not accepted on the fast path: {:?}",
            r.err()
        );
    }
    // Deleting the static route over the neighbour's host route brings that back.
    let cs = changes(json!([add(
        "A",
        json!({"prefix": "10.255.0.2/32", "blackhole": true})
    )]));
    let p = both(&doc, &cfg, &admin, &cs).unwrap();
    let cs = changes(json!([del("A", "10.255.0.2/32")]));
    assert!(both(&p.doc, &p.config, &admin, &cs).is_ok_and(|d| d.fast));
    // A tenant-admin's unlabelled route in its own VR.
    let cs = changes(json!([add(
        "A",
        json!({"prefix": "10.56.0.0/16", "via": "10.255.0.2"})
    )]));
    let r = both(&doc, &cfg, &who(Role::TenantAdmin, Some("t1")), &cs);
    assert!(r.is_ok_and(|d| d.fast));
}

#[test]
fn refused_route_transactions_agree() {
    let (doc, cfg) = base();
    let admin = who(Role::CarrierAdmin, None);
    // (transaction, expected status, expected request pointer)
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "10.9.9.9"})
            )]),
            422,
            "/changes/0/route/via",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "192.0.2.2"})
            )]),
            422,
            "/changes/0/route/via",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "10.255.0.2", "push": [1001]})
            )]),
            422,
            "/changes/0/route/via",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "192.0.2.2", "push": [5]})
            )]),
            422,
            "/changes/0/route/push/0",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "192.0.2.2", "push": [1001, 1002, 1003, 1004, 1005]})
            )]),
            422,
            "/changes/0/route/push/4",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/33", "via": "10.255.0.2"})
            )]),
            422,
            "/changes/0/route/prefix",
        ),
        (
            json!([add("A", json!({"prefix": "10.60.0.0/16", "via": "ten"}))]),
            422,
            "/changes/0/route/via",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "fd00:7::/48", "via": "10.255.0.2"})
            )]),
            422,
            "/changes/0/route/via",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "10.255.0.2", "blackhole": true})
            )]),
            422,
            "/changes/0/route/via",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "blackhole": true, "push": [1001]})
            )]),
            422,
            "/changes/0/route/push/0",
        ),
        (
            json!([add("A", json!({"prefix": "10.60.0.0/16"}))]),
            422,
            "/changes/0/route/prefix",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "esp": "a-out", "via": "10.255.0.2"})
            )]),
            422,
            "/changes/0/route/esp",
        ),
        (
            json!([add("A", json!({"prefix": "10.60.0.0/16", "esp": "a-in"}))]),
            422,
            "/changes/0/route/esp",
        ),
        (
            json!([add("A", json!({"prefix": "10.60.0.0/16", "esp": "nope"}))]),
            422,
            "/changes/0/route/esp",
        ),
        (
            json!([add("B", json!({"prefix": "10.60.0.0/16", "esp": "a-out"}))]),
            422,
            "/changes/0/route/esp",
        ),
        // Structural: unknown field, wrong types.
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "10.255.0.2", "bogus": 1})
            )]),
            400,
            "/changes/0/route",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "via": "192.0.2.2", "push": "x"})
            )]),
            400,
            "/changes/0/route/push",
        ),
        (
            json!([add(
                "A",
                json!({"prefix": "10.60.0.0/16", "blackhole": "maybe"})
            )]),
            400,
            "/changes/0/route/blackhole",
        ),
        // Several errors: the first in profile order (VR A before VR B) decides the pointer.
        (
            json!([
                add("B", json!({"prefix": "10.61.0.0/16", "via": "10.9.9.9"})),
                add("A", json!({"prefix": "10.62.0.0/16", "via": "10.8.8.8"})),
            ]),
            422,
            "/changes/1/route/via",
        ),
        (
            json!([
                add("A", json!({"prefix": "10.63.0.0/16", "via": "10.9.9.9"})),
                add(
                    "A",
                    json!({"prefix": "10.64.0.0/16", "via": "10.255.0.2", "bogus": true})
                ),
            ]),
            400,
            "/changes/1/route",
        ),
        (
            json!([
                add(
                    "B",
                    json!({"prefix": "10.65.0.0/16", "via": "10.255.0.2", "x": 1})
                ),
                add(
                    "A",
                    json!({"prefix": "10.66.0.0/16", "via": "10.255.0.2", "y": 1})
                ),
            ]),
            400,
            "/changes/1/route",
        ),
        // One good and one bad route: nothing of it.
        (
            json!([
                add("A", json!({"prefix": "10.67.0.0/16", "via": "10.255.0.2"})),
                add("A", json!({"prefix": "10.68.0.0/16", "via": "10.9.9.9"})),
            ]),
            422,
            "/changes/1/route/via",
        ),
    ];
    for (c, status, pointer) in cases {
        let cs = changes(c);
        match both(&doc, &cfg, &admin, &cs) {
            Err(Refusal::Check(e)) => {
                assert_eq!(e.status, status, "{cs:?}: {e:?}");
                assert!(
                    e.pointer.as_deref().is_some_and(|p| p.starts_with(pointer)),
                    "{cs:?}: {e:?}"
                );
            }
            other => panic!("{cs:?}: {:?}", other.map(|p| p.config)),
        }
    }
    // Refused before the checker (the same for both: ops decides).
    for c in [
        json!([add(
            "A",
            json!({"prefix": "10.1.0.0/16", "via": "10.255.0.2"})
        )]),
        json!([del("A", "10.99.0.0/16")]),
        json!([add(
            "nope",
            json!({"prefix": "10.1.0.0/16", "via": "10.255.0.2"})
        )]),
    ] {
        let cs = changes(c);
        assert!(matches!(
            both(&doc, &cfg, &admin, &cs),
            Err(Refusal::Change(_))
        ));
    }
}

#[test]
fn transactions_the_fast_path_does_not_take_still_agree() {
    let (doc, cfg) = base();
    let admin = who(Role::CarrierAdmin, None);
    for c in [
        // A deletion after an addition could move the added route in the document.
        json!([
            add("A", json!({"prefix": "10.70.0.0/16", "via": "10.255.0.2"})),
            del("A", "10.1.0.0/16")
        ]),
        // Not a route change.
        json!([{"op": "set_tenant", "vr": "B", "tenant": "t9"}]),
        json!([add("A", json!({"prefix": "10.71.0.0/16", "via": "10.255.0.2"})), {"op": "revoke", "vr": "B"}]),
    ] {
        let cs = changes(c);
        let r = both(&doc, &cfg, &admin, &cs);
        assert!(r.is_ok_and(|d| !d.fast), "{cs:?}");
    }
}

/// One random route change: VR, prefix from a small pool (so additions collide with
/// existing routes and deletions find them), and a target that may be wrong.
fn arb_change() -> impl Strategy<Value = Value> {
    let vr = prop_oneof![Just("A"), Just("B"), Just("core")];
    let prefix = prop_oneof![
        (0u8..6).prop_map(|i| format!("10.{}.0.0/16", i)),
        (0u8..4).prop_map(|i| format!("10.255.0.{}/32", i)),
        (0u8..3).prop_map(|i| format!("fd00:{i}::/48")),
        Just("10.1.0.0/33".to_string()),
    ];
    let target = prop_oneof![
        Just(json!({"via": "10.255.0.2"})),
        Just(json!({"via": "fd00:ff::2"})),
        Just(json!({"via": "192.0.2.10"})),
        Just(json!({"via": "192.0.2.2", "push": [16001, 1001]})),
        Just(json!({"via": "192.0.2.2"})),
        Just(json!({"via": "10.9.9.9"})),
        Just(json!({"blackhole": true})),
        Just(json!({"esp": "a-out"})),
        Just(json!({"esp": "a-in"})),
        Just(json!({"via": "10.255.0.2", "push": [3]})),
        Just(json!({"via": "10.255.0.2", "extra": 1})),
    ];
    (vr, prefix, target, any::<bool>()).prop_map(|(vr, prefix, target, is_add)| {
        if is_add {
            let mut r = target;
            r["prefix"] = json!(prefix);
            add(vr, r)
        } else {
            del(vr, &prefix)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random transactions, each applied when accepted, so later ones run against the
    /// configurations earlier ones made.
    #[test]
    fn random_route_transactions_agree(
        txns in prop::collection::vec(prop::collection::vec(arb_change(), 1..4), 1..12)
    ) {
        let (mut doc, mut cfg) = base();
        let admin = who(Role::CarrierAdmin, None);
        for t in txns {
            let cs = changes(Value::Array(t));
            if let Ok(p) = both(&doc, &cfg, &admin, &cs) {
                doc = p.doc;
                cfg = p.config;
            }
        }
    }
}
