//! The AAAH with its users in the real `vpndb` SQLite store (seed 003 S105 and Fig. 30):
//! AMR → lookup in the store → HAR → HAA → AMA, and a destination changed in the store is
//! picked up by the next registration with the Service-Update request.

use std::net::Ipv4Addr;
use std::time::Instant;

use controlplane::aaa::client::{HaClient, HaDecision};
use controlplane::aaa::home::{subscriber_from_store, Home, HomeConfig};
use controlplane::aaa::Output;
use controlplane::diameter::mip4::{Ama, Amr, MnAaaAuth, Route};
use controlplane::diameter::wire::codes::result;
use controlplane::diameter::wire::Message;
use rand::SeedableRng;
use vpndb::model::{KeyBytes, Nai, VpnDocument};
use vpndb::sqlite::SqliteStore;
use vpndb::store::VpnStore;

const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

fn amr(session: &str, service_update: bool) -> Amr {
    let mut reg = vec![1, 0, 0x0e, 0x10, 10, 200, 0, 5];
    reg.extend_from_slice(&HA.octets());
    reg.extend_from_slice(&FA.octets());
    reg.extend_from_slice(&[0; 8]);
    Amr {
        session_id: session.into(),
        route: Route {
            origin_host: "fa.visited.example".into(),
            origin_realm: "visited.example".into(),
            destination_realm: "home.example".into(),
            destination_host: None,
        },
        user_name: "alice@home.example".into(),
        reg_request: reg,
        mn_aaa_auth: MnAaaAuth {
            spi: 256,
            input_len: 24,
            authenticator_len: 0,
            authenticator_offset: 24,
        },
        mn_address: None,
        ha_address: None,
        feature_vector: None,
        originating_foreign_aaa: None,
        authorization_lifetime: None,
        auth_session_state: None,
        ha_to_fa_spi: None,
        old_fa: None,
        service_update,
        route_record: vec![],
    }
}

/// One registration through the AAAH and an HA client, users read from `store`.
fn register(
    home: &mut Home<rand::rngs::StdRng>,
    ha: &mut HaClient,
    store: &mut dyn VpnStore,
    a: &Amr,
) -> Ama {
    let now = Instant::now();
    home.handle_request(
        now,
        1,
        Message::parse(&a.to_message().emit().unwrap()).unwrap(),
    );
    loop {
        match home.poll_output().expect("the AAAH answers") {
            Output::Lookup { token, nai } => {
                let sub = subscriber_from_store(store, &nai, None).expect("store reads");
                home.handle_lookup(now, token, sub);
            }
            Output::Send { token, msg, .. } => {
                ha.handle_request(now, 9, msg);
                let Some(Output::Answer { msg, .. }) = ha.poll_output() else {
                    panic!()
                };
                home.handle_answer(now, token, msg);
            }
            Output::Answer { msg, .. } => return Ama::parse(&msg).unwrap(),
        }
    }
}

#[test]
fn aaah_reads_users_from_sqlite_and_follows_a_service_update() {
    let doc: VpnDocument =
        serde_json::from_str(include_str!("../../tests/interop/aaa/profiles.json")).unwrap();
    let mut store = SqliteStore::open_in_memory().unwrap();
    store.import("test", &doc).unwrap();
    let mut cfg = HomeConfig::new("aaah.home.example", "home.example");
    cfg.require_mn_aaa_auth = false; // the store keeps no MN-AAA keys
    let mut home = Home::new(cfg, rand::rngs::StdRng::seed_from_u64(3));
    let mut ha = HaClient::new(
        "ha.home.example",
        "home.example",
        HA,
        Box::new(|_| HaDecision {
            result_code: result::SUCCESS,
            reg_reply: Some(vec![3, 0]),
            mn_address: None,
            old_fa: None,
        }),
    );
    let ama = register(&mut home, &mut ha, &mut store, &amr("s;1", false));
    assert_eq!(ama.result_code, result::SUCCESS);
    let p = &ama.vpn.unwrap().profiles;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].dst.to_string(), "10.1.0.0/16");
    assert_eq!(p[0].dst_gw, HA, "static enterprise GW: FA→HA");
    // The user changes the destination on the web page (Fig. 30 ①): to the PCN's network.
    let alice = Nai::parse("alice@home.example").unwrap();
    store
        .set_destinations(
            "web:alice@home.example",
            1,
            Some(&alice),
            &["10.2.0.0/16".parse().unwrap()],
        )
        .unwrap();
    // A plain re-registration is served from the VPN information cache…
    let again = register(&mut home, &mut ha, &mut store, &amr("s;1", false));
    assert_eq!(
        again.vpn.unwrap().profiles[0].dst.to_string(),
        "10.1.0.0/16"
    );
    assert_eq!(home.counters().cache_hits, 1);
    // …the service update re-reads the database: now FA→PCN directly (Fig. 13 S112).
    let upd = register(&mut home, &mut ha, &mut store, &amr("s;1", true));
    let p = &upd.vpn.unwrap().profiles;
    assert_eq!(p[0].dst.to_string(), "10.2.0.0/16");
    assert_eq!(p[0].dst_gw, Ipv4Addr::new(203, 0, 113, 9));
    assert_eq!(home.counters().lookups, 2);
    // The registration cleared the store's service-update mark.
    assert!(!store.profiles_by_nai(&alice).unwrap()[0].service_update);
    // An unknown NAI: no subscriber.
    assert!(
        subscriber_from_store(&mut store, "nobody@home.example", Some(KeyBytes::default()))
            .unwrap()
            .is_none()
    );
}
