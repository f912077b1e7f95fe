//! One test suite for every [`VpnStore`] backend: [`suite`] runs on SQLite (a temp file) in
//! plain `cargo test`, and on PostgreSQL in the `#[ignore]`d `pg_*` tests, which
//! `scripts/test.d/43-vpndb-postgres.sh` runs with `--ignored` against a server it starts.
//! Those tests FAIL when `VPNDB_PG_URL` is missing: they are never skipped silently.

use std::net::Ipv4Addr;
use std::path::Path;
use vpndb::model::{lookup_cn_gw, MIN_SPI};
use vpndb::store::latest_version;
use vpndb::{
    AddrMask, CnGwEntry, GwType, Nai, StoreError, VpnDocument, VpnProfile, VpnShare, VpnStore,
};

fn example() -> VpnDocument {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/vpndb/users.yaml");
    let text = std::fs::read_to_string(&p).expect("configs/vpndb/users.yaml");
    let doc: VpnDocument = serde_saphyr::from_str(&text).expect("configs/vpndb/users.yaml parses");
    doc.validate().expect("configs/vpndb/users.yaml is valid");
    doc
}

fn nai(s: &str) -> Nai {
    Nai::parse(s).unwrap()
}

fn am(s: &str) -> AddrMask {
    s.parse().unwrap()
}

/// The suite: every behaviour of the trait, on an empty store.
fn suite(s: &mut dyn VpnStore) {
    // A fresh store: the migrations applied, nothing in it; migrating again does nothing.
    assert_eq!(s.schema_version().unwrap(), latest_version());
    assert!(s.migrate().unwrap().is_empty(), "migrations re-applied");
    assert!(s.list_profiles().unwrap().is_empty());
    assert_eq!(s.export().unwrap(), VpnDocument::default());

    // Import the example and read it back exactly (keys included).
    let doc = example();
    let c = s.import("test", &doc).unwrap();
    assert_eq!((c.slas, c.cn_gw, c.profiles), (2, 2, 4));
    let out = s.export().unwrap();
    assert_eq!(out, doc);
    let acme = s.get_sla("acme").unwrap().unwrap();
    assert_eq!(acme.keys.up_enc.len(), 16);
    assert_eq!(acme.keys.up_auth.as_bytes()[19], 0x33);
    assert_eq!(
        acme.users,
        vec![nai("alice@isp.example"), nai("bob@isp.example")]
    );
    assert!(s.get_sla("nope").unwrap().is_none());

    // S105: by NAI, all of a user's VPNs.
    let alice = s.profiles_by_nai(&nai("alice@isp.example")).unwrap();
    assert_eq!(
        alice
            .iter()
            .map(|p| p.profile.profile_number)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(alice[1].profile.up_spi, Some(12288));
    assert!(!alice[1].profile.uses_default_sa());
    assert!(alice[0].profile.uses_default_sa());
    assert_eq!(
        s.profiles_by_nai(&nai("bob@isp.example")).unwrap()[0]
            .profile
            .destinations,
        vec![am("10.10.5.0/24"), am("10.10.6.0/24")]
    );
    assert!(s
        .profiles_by_nai(&nai("nobody@isp.example"))
        .unwrap()
        .is_empty());

    // What the AAAH reads at registration: profiles, their SLAs, the covering CN -> GW rows.
    let u = s
        .user_vpn(&nai("alice@isp.example"), false)
        .unwrap()
        .unwrap();
    assert_eq!(u.profiles.len(), 2);
    assert_eq!(
        u.slas.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        vec!["acme", "globex"]
    );
    assert_eq!(
        u.cn_gw.iter().map(|e| e.gw_type).collect::<Vec<_>>(),
        vec![GwType::Static, GwType::Dynamic]
    );
    assert!(u.profiles.iter().all(|p| p.service_update), "not cleared");
    let u = s
        .user_vpn(&nai("carol@roam.example"), false)
        .unwrap()
        .unwrap();
    assert_eq!((u.slas.len(), u.cn_gw.len()), (1, 1));
    assert_eq!(u.cn_gw[0].gw, Ipv4Addr::new(203, 0, 113, 9));
    assert!(s
        .user_vpn(&nai("nobody@isp.example"), true)
        .unwrap()
        .is_none());

    // Fig. 30: the service-update mark, read and cleared by the registration.
    let reg = s
        .profiles_for_registration(&nai("alice@isp.example"))
        .unwrap();
    assert!(reg.iter().all(|p| p.service_update && p.version == 1));
    let reg = s
        .profiles_for_registration(&nai("alice@isp.example"))
        .unwrap();
    assert!(reg.iter().all(|p| !p.service_update));
    // The user changes a destination on the web page: version up, marked again.
    let owner = nai("alice@isp.example");
    let p = s
        .set_destinations(
            "web:alice@isp.example",
            1,
            Some(&owner),
            &[am("10.10.1.0/24"), am("10.10.2.0/24")],
        )
        .unwrap();
    assert_eq!(p.version, 2);
    assert!(p.service_update);
    assert_eq!(
        p.profile.destinations,
        vec![am("10.10.1.0/24"), am("10.10.2.0/24")]
    );
    assert!(p.changed_at > 1_600_000_000);
    let reg = s
        .user_vpn(&nai("alice@isp.example"), true)
        .unwrap()
        .unwrap()
        .profiles;
    assert_eq!(
        reg.iter().map(|p| p.service_update).collect::<Vec<_>>(),
        vec![true, false]
    );
    assert!(s
        .profiles_for_registration(&nai("alice@isp.example"))
        .unwrap()
        .iter()
        .all(|p| !p.service_update));
    // Another user's VPN is not there for her, and the answer is the one for a missing id.
    let e = s
        .set_destinations(
            "web:alice@isp.example",
            3,
            Some(&owner),
            &[am("10.10.9.0/24")],
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    let e2 = s
        .set_destinations(
            "web:alice@isp.example",
            999,
            Some(&owner),
            &[am("10.10.9.0/24")],
        )
        .unwrap_err();
    assert_eq!(
        e.to_string().replace('3', "N"),
        e2.to_string().replace("999", "N")
    );
    assert_eq!(
        s.get_profile(3).unwrap().unwrap().profile.destinations,
        vec![am("10.10.5.0/24"), am("10.10.6.0/24")]
    );

    // Add and remove one destination.
    let p = s
        .add_destination("web:alice@isp.example", 1, Some(&owner), am("10.10.3.0/24"))
        .unwrap();
    assert_eq!(p.profile.destinations.len(), 3);
    assert_eq!(p.version, 3);
    let e = s
        .add_destination("op", 1, None, am("10.10.3.0/24"))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(s.get_profile(1).unwrap().unwrap().version, 3, "rolled back");
    let p = s
        .remove_destination("op", 1, None, am("10.10.1.0/24"))
        .unwrap();
    assert_eq!(
        p.profile.destinations,
        vec![am("10.10.2.0/24"), am("10.10.3.0/24")]
    );
    let e = s
        .remove_destination("op", 1, None, am("10.99.0.0/16"))
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    s.set_destinations("op", 1, None, &[am("10.10.0.0/16")])
        .unwrap();
    let e = s
        .remove_destination("op", 1, None, am("10.10.0.0/16"))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let e = s.set_destinations("op", 1, None, &[]).unwrap_err();
    assert!(e.to_string().contains("at least one destination"), "{e}");
    let e = s
        .set_destinations("op", 1, None, &[am("10.1.0.0/16"), am("10.1.0.0/16")])
        .unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");

    // mark_changed.
    let before = s.get_profile(4).unwrap().unwrap().version;
    assert_eq!(s.mark_changed("op", 4).unwrap().version, before + 1);
    assert!(matches!(
        s.mark_changed("op", 77).unwrap_err(),
        StoreError::NotFound(_)
    ));

    // Upsert: replace, create; refused input leaves nothing.
    let mut p4 = s.get_profile(4).unwrap().unwrap().profile;
    p4.up_class = Some(0x28);
    let v = s.upsert_profile("op", &p4).unwrap();
    assert_eq!(v.version, before + 2);
    assert_eq!(v.profile, p4);
    let new = VpnProfile {
        profile_number: 9,
        nai: nai("dave@isp.example"),
        sla: "acme".into(),
        vpnshare: VpnShare::Own,
        destinations: vec![am("10.10.7.7")],
        up_class: None,
        down_class: None,
        up_spi: Some(MIN_SPI),
        down_spi: Some(u32::MAX),
    };
    // Dave is not among ACME's users (Fig. 4's list) until the SLA says so.
    let e = s.upsert_profile("op", &new).unwrap_err();
    assert!(e.to_string().contains("not a user of SLA"), "{e}");
    let mut acme = s.get_sla("acme").unwrap().unwrap();
    acme.users.push(nai("dave@isp.example"));
    s.upsert_sla("op", &acme).unwrap();
    let v = s.upsert_profile("op", &new).unwrap();
    assert_eq!((v.version, v.profile.clone()), (1, new.clone()));
    // ... and cannot be dropped from it while he has a profile there.
    let mut without = acme.clone();
    without.users.retain(|u| u.as_str() != "dave@isp.example");
    let e = s.upsert_sla("op", &without).unwrap_err();
    assert!(
        e.to_string().contains("would drop user dave@isp.example"),
        "{e}"
    );
    let mut bad = new.clone();
    bad.profile_number = 10;
    bad.sla = "initech".into();
    let e = s.upsert_profile("op", &bad).unwrap_err();
    assert!(e.to_string().contains("initech"), "{e}");
    bad.sla = "acme".into();
    bad.up_spi = Some(255);
    let e = s.upsert_profile("op", &bad).unwrap_err();
    assert!(e.to_string().contains("reserved"), "{e}");
    bad.up_spi = None;
    let e = s.upsert_profile("op", &bad).unwrap_err();
    assert!(e.to_string().contains("both SPIs or neither"), "{e}");
    bad.down_spi = None;
    bad.vpnshare = VpnShare::Shared;
    bad.destinations.clear();
    assert!(s.upsert_profile("op", &bad).is_err());
    assert!(s.get_profile(10).unwrap().is_none());

    // The CN -> GW table and path determination's lookup.
    let t = s.cn_gw_table().unwrap();
    assert_eq!(
        lookup_cn_gw(&t, &am("10.10.5.0/24")).map(|e| (e.gw, e.gw_type)),
        Some((Ipv4Addr::new(198, 51, 100, 1), GwType::Static))
    );
    let pcn = CnGwEntry {
        cn: am("10.10.5.0/24"),
        gw: Ipv4Addr::new(203, 0, 113, 20),
        gw_type: GwType::Dynamic,
    };
    s.upsert_cn_gw("op", &pcn).unwrap();
    let t = s.cn_gw_table().unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(lookup_cn_gw(&t, &am("10.10.5.7")), Some(&pcn));
    let mut moved = pcn;
    moved.gw = Ipv4Addr::new(203, 0, 113, 21);
    s.upsert_cn_gw("op", &moved).unwrap();
    assert_eq!(s.cn_gw_table().unwrap().len(), 3);
    assert!(s.delete_cn_gw("op", &pcn.cn).unwrap());
    assert!(!s.delete_cn_gw("op", &pcn.cn).unwrap());

    // SLAs: a change marks their profiles; one in use cannot go.
    let v3 = s.get_profile(3).unwrap().unwrap().version;
    let mut acme = s.get_sla("acme").unwrap().unwrap();
    acme.up_spi = 5000;
    s.upsert_sla("op", &acme).unwrap();
    assert_eq!(s.get_sla("acme").unwrap().unwrap().up_spi, 5000);
    let p3 = s.get_profile(3).unwrap().unwrap();
    assert_eq!(p3.version, v3 + 1);
    assert!(p3.service_update);
    let e = s.delete_sla("op", "acme").unwrap_err();
    assert!(e.to_string().contains("used by"), "{e}");
    let mut spare = acme.clone();
    spare.name = "spare".into();
    s.upsert_sla("op", &spare).unwrap();
    // Names whose byte order and a locale's order differ: each keeps its own lists.
    let mut upper = acme.clone();
    upper.name = "Zeta-1".into();
    upper.domain = vec![am("10.99.0.0/16")];
    upper.users = vec![nai("zed@isp.example")];
    s.upsert_sla("op", &upper).unwrap();
    let all = s.list_slas().unwrap();
    assert_eq!(
        all.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        vec!["Zeta-1", "acme", "globex", "spare"]
    );
    assert_eq!(all[0], upper);
    assert_eq!(all[1].users, acme.users);
    for x in &all {
        assert_eq!(s.get_sla(&x.name).unwrap().as_ref(), Some(x));
    }
    assert!(s.delete_sla("op", "Zeta-1").unwrap());
    assert!(s.delete_sla("op", "spare").unwrap());
    assert!(!s.delete_sla("op", "spare").unwrap());
    let mut badsla = acme.clone();
    badsla.keys.up_enc = vpndb::KeyBytes::default();
    assert!(s.upsert_sla("op", &badsla).is_err(), "ESP without a key");

    // Delete a profile.
    assert!(s.delete_profile("op", 9).unwrap());
    assert!(!s.delete_profile("op", 9).unwrap());
    assert!(s.get_profile(9).unwrap().is_none());

    // Import is all or nothing.
    let mut d = VpnDocument::default();
    let mut ok = new.clone();
    ok.profile_number = 20;
    let mut bad = new.clone();
    bad.profile_number = 21;
    bad.sla = "initech".into();
    d.profiles = vec![ok, bad];
    let e = s.import("op", &d).unwrap_err();
    assert!(e.to_string().contains("initech"), "{e}");
    assert!(
        s.get_profile(20).unwrap().is_none(),
        "half an import stored"
    );

    // The audit: who, what, when, in order, never keys.
    let all = s.audit(0, 10_000).unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(all.iter().all(|a| a.at > 1_600_000_000));
    let first = &all[0];
    assert_eq!(first.actor, "test");
    assert_eq!(first.action, "upsert_sla");
    let web: Vec<_> = all
        .iter()
        .filter(|a| a.actor == "web:alice@isp.example")
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(web, vec!["set_destinations", "add_destination"]);
    let p1 = s.audit_of("profile 1", 100).unwrap();
    assert_eq!(
        p1.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
        vec![
            "upsert_profile",
            "set_destinations",
            "add_destination",
            "remove_destination",
            "set_destinations"
        ]
    );
    assert!(all.iter().all(|a| !a.detail.contains("000102030405")));
    assert_eq!(s.audit(all[2].id, 2).unwrap().len(), 2);
    // The refused operations left no audit record.
    assert!(!all
        .iter()
        .any(|a| a.target == "profile 10" || a.target == "profile 20"));

    logins_and_sessions(s);
}

/// A PHC string of the shape argon2 writes (the store checks the shape, not the hash).
const PHC_A: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$hJ6h3ZL0b2Zt0oK4a3mTt5X8kC1Yt2zP4uN1xQ9Wv0E";
const PHC_B: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm8";

fn tunnel(id: &str, user: &str, profile: u32, expires_in: i64) -> vpndb::VpnSession {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    vpndb::VpnSession {
        session_id: id.into(),
        nai: nai(user),
        profile_number: profile,
        fa: Ipv4Addr::new(192, 0, 2, 10),
        ha: Ipv4Addr::new(192, 0, 2, 1),
        src_gw: Ipv4Addr::new(192, 0, 2, 10),
        dst_gw: Ipv4Addr::new(203, 0, 113, 9),
        gw_type: GwType::Dynamic,
        up_spi: 12288,
        down_spi: 12289,
        created_at: now - 10,
        expires_at: now + expires_in,
    }
}

/// The web page's tables (migration 003): logins and current tunnels.
fn logins_and_sessions(s: &mut dyn VpnStore) {
    let alice = nai("alice@isp.example");
    let bob = nai("bob@isp.example");
    // Replacing one destination in place (the page's "replace"), only on the owner's profile.
    let before = s.get_profile(3).unwrap().unwrap();
    let p = s
        .replace_destination(
            "web:bob@isp.example",
            3,
            Some(&bob),
            am("10.10.5.0/24"),
            am("10.10.7.0/24"),
        )
        .unwrap();
    assert_eq!(
        p.profile.destinations,
        vec![am("10.10.7.0/24"), am("10.10.6.0/24")]
    );
    assert_eq!(p.version, before.version + 1);
    assert!(p.service_update);
    for (owner, old, new) in [
        (&alice, "10.10.7.0/24", "10.10.8.0/24"), // not hers: as if there were no profile 3
        (&bob, "10.10.9.0/24", "10.10.8.0/24"),   // no such destination
        (&bob, "10.10.7.0/24", "10.10.6.0/24"),   // already listed
    ] {
        let e = s
            .replace_destination("web:x@isp.example", 3, Some(owner), am(old), am(new))
            .unwrap_err();
        assert!(
            matches!(e, StoreError::NotFound(_) | StoreError::Conflict(_)),
            "{e}"
        );
    }
    match s.replace_destination("w", 3, Some(&alice), am("10.10.7.0/24"), am("10.10.8.0/24")) {
        Err(StoreError::NotFound(m)) => assert_eq!(m, "profile 3"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.get_profile(3).unwrap().unwrap().version,
        p.version,
        "a refused change left a trace"
    );
    let last = s.audit_of("profile 3", 1000).unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.action.as_str()),
        ("web:bob@isp.example", "replace_destination")
    );
    assert!(
        last.detail
            .contains("replaced=10.10.5.0/24 by=10.10.7.0/24"),
        "{}",
        last.detail
    );
    // Logins: none, set, replaced, per user; only argon2id PHC strings are taken.
    assert_eq!(s.password_hash(&alice).unwrap(), None);
    s.set_password("op", &alice, PHC_A).unwrap();
    s.set_password("op", &bob, PHC_B).unwrap();
    assert_eq!(s.password_hash(&alice).unwrap().as_deref(), Some(PHC_A));
    s.set_password("op", &alice, PHC_B).unwrap();
    assert_eq!(s.password_hash(&alice).unwrap().as_deref(), Some(PHC_B));
    for bad in [
        "hunter2",
        "",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=1 9456$c2FsdA$aGFzaA",
        "$argon2id$",
    ] {
        let e = s.set_password("op", &alice, bad).unwrap_err();
        assert!(e.to_string().contains("argon2id"), "{bad:?}: {e}");
    }
    assert_eq!(s.password_hash(&alice).unwrap().as_deref(), Some(PHC_B));
    let audit = s.audit_of("login alice@isp.example", 100).unwrap();
    assert_eq!(audit.len(), 2, "one record per accepted change: {audit:?}");
    assert!(audit
        .iter()
        .all(|a| a.action == "set_password" && a.detail.is_empty()));
    assert!(s.delete_password("op", &bob).unwrap());
    assert!(!s.delete_password("op", &bob).unwrap());
    assert_eq!(s.password_hash(&bob).unwrap(), None);

    // Tunnels: recorded per (session, profile), replaced by a new registration, listed per
    // user and per profile, expired ones hidden and purged, ended per session.
    assert!(s.sessions_of_nai(&alice).unwrap().is_empty());
    s.record_session(&tunnel("aaah;1;0", "alice@isp.example", 2, -5))
        .unwrap();
    assert!(
        s.sessions_of_nai(&alice).unwrap().is_empty(),
        "expired tunnel listed"
    );
    s.record_session(&tunnel("aaah;1;1", "alice@isp.example", 2, 600))
        .unwrap();
    s.record_session(&tunnel("aaah;1;1", "alice@isp.example", 1, 600))
        .unwrap();
    let mut moved = tunnel("aaah;1;1", "alice@isp.example", 1, 900);
    moved.fa = Ipv4Addr::new(192, 0, 2, 20);
    moved.gw_type = GwType::Static;
    s.record_session(&moved).unwrap();
    s.record_session(&tunnel("aaah;1;2", "bob@isp.example", 3, 600))
        .unwrap();
    let a = s.sessions_of_nai(&alice).unwrap();
    assert_eq!(
        a.iter()
            .map(|t| (t.profile_number, t.session_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "aaah;1;1"), (2, "aaah;1;1")],
        "expired tunnel listed or order wrong"
    );
    assert_eq!(a[0], moved);
    assert_eq!(s.sessions_of_profile(3).unwrap().len(), 1);
    assert_eq!(s.sessions_of_profile(3).unwrap()[0].nai, bob);
    assert!(s.sessions_of_profile(4).unwrap().is_empty());
    // Bad tunnels are refused with the field named.
    let mut bad = tunnel("x", "alice@isp.example", 1, 60);
    bad.up_spi = 5;
    assert!(s
        .record_session(&bad)
        .unwrap_err()
        .to_string()
        .contains("up_spi"));
    let mut bad = tunnel("", "alice@isp.example", 1, 60);
    assert!(s.record_session(&bad).is_err());
    bad.session_id = "y".into();
    bad.expires_at = bad.created_at - 1;
    assert!(s
        .record_session(&bad)
        .unwrap_err()
        .to_string()
        .contains("expires_at"));
    assert_eq!(s.end_session("aaah;1;1").unwrap(), 2);
    assert_eq!(s.end_session("aaah;1;1").unwrap(), 0);
    assert!(s.sessions_of_nai(&alice).unwrap().is_empty());
    assert_eq!(s.sessions_of_nai(&bob).unwrap().len(), 1);
    // The expired row was purged by a later record (not only hidden).
    assert_eq!(s.end_session("aaah;1;0").unwrap(), 0);
    // A batch (the AAAH's session writer): applied in order in one transaction, so a
    // session recorded, ended and recorded again in one batch ends up recorded once; an
    // invalid record is skipped and counted, the rest of the batch lands.
    use vpndb::{SessionChange as C, SessionChangeCounts};
    let mut carol1 = tunnel("aaah;2;1", "alice@isp.example", 1, 600);
    carol1.fa = Ipv4Addr::new(192, 0, 2, 30);
    let mut bad = tunnel("aaah;2;9", "alice@isp.example", 1, 600);
    bad.down_spi = 7;
    let n = s
        .apply_session_changes(&[
            C::Record(tunnel("aaah;2;1", "alice@isp.example", 1, 600)),
            C::Record(tunnel("aaah;2;1", "alice@isp.example", 2, 600)),
            C::End("aaah;2;1".into()),
            C::Record(carol1.clone()),
            C::Record(bad),
            C::End("aaah;1;2".into()),
            C::End("never-recorded".into()),
            C::Record(tunnel("aaah;2;2", "bob@isp.example", 3, 600)),
        ])
        .unwrap();
    assert_eq!(
        n,
        SessionChangeCounts {
            recorded: 4,
            ended: 2,
            rows_removed: 3,
            invalid: 1
        }
    );
    assert_eq!(s.sessions_of_nai(&alice).unwrap(), vec![carol1]);
    let b = s.sessions_of_nai(&bob).unwrap();
    assert_eq!(
        b.iter().map(|t| t.session_id.as_str()).collect::<Vec<_>>(),
        ["aaah;2;2"],
        "bob's old session not ended or the new one missing"
    );
    // An empty batch and an all-invalid one change nothing.
    assert_eq!(
        s.apply_session_changes(&[]).unwrap(),
        SessionChangeCounts::default()
    );
    let mut bad = tunnel("aaah;2;8", "alice@isp.example", 1, 600);
    bad.up_spi = 1;
    assert_eq!(
        s.apply_session_changes(&[C::Record(bad)]).unwrap().invalid,
        1
    );
    assert_eq!(s.sessions_of_nai(&alice).unwrap().len(), 1);
    // Order across batches: ending in the next batch removes what the previous one wrote.
    let n = s
        .apply_session_changes(&[C::End("aaah;2;1".into()), C::End("aaah;2;2".into())])
        .unwrap();
    assert_eq!((n.ended, n.rows_removed), (2, 2));
    assert!(s.sessions_of_nai(&alice).unwrap().is_empty());
    assert!(s.sessions_of_nai(&bob).unwrap().is_empty());
    // Tunnels are state, not configuration: no audit record.
    assert!(s
        .audit(0, 10_000)
        .unwrap()
        .iter()
        .all(|a| !a.target.starts_with("session")));
}

/// Malformed input in files and values: clear errors, no panic.
#[test]
fn malformed_input_is_refused() {
    let bad_nai = r#"{"profiles":[{"profile_number":1,"nai":"alice","sla":"a","vpnshare":"shared","destinations":["10.0.0.0/8"]}]}"#;
    let e = serde_json::from_str::<VpnDocument>(bad_nai).unwrap_err();
    assert!(e.to_string().contains("bad NAI"), "{e}");
    let bad_addr = r#"{"profiles":[{"profile_number":1,"nai":"a@b.c","sla":"a","vpnshare":"shared","destinations":["10.0.0.1/8"]}]}"#;
    let e = serde_json::from_str::<VpnDocument>(bad_addr).unwrap_err();
    assert!(e.to_string().contains("host bits"), "{e}");
    let bad_share = r#"{"profiles":[{"profile_number":1,"nai":"a@b.c","sla":"a","vpnshare":"maybe","destinations":["10.0.0.0/8"]}]}"#;
    assert!(serde_json::from_str::<VpnDocument>(bad_share).is_err());
    let bad_key =
        "slas:\n  - {name: x, up_spi: 300, down_spi: 301, security: ah, keys: {up_auth: xyz}}\n";
    let e = serde_saphyr::from_str::<VpnDocument>(bad_key).unwrap_err();
    assert!(e.to_string().contains("bad key"), "{e}");
    let bad_gw = "cn_gw:\n  - {cn: 10.0.0.0/8, gw: 1.2.3.4, gw_type: sometimes}\n";
    assert!(serde_saphyr::from_str::<VpnDocument>(bad_gw).is_err());
    // Unknown SLA reference caught by validate.
    let mut d = example();
    d.profiles[0].sla = "nope".into();
    assert!(d.validate().unwrap_err().to_string().contains("nope"));
    // Bad URLs.
    for u in ["mysql://x", "sqlite:", "", "postgres"] {
        match vpndb::open(u) {
            Err(StoreError::BadUrl(_)) => {}
            Err(e) => panic!("{u}: {e}"),
            Ok(_) => panic!("{u} opened"),
        }
    }
}

#[test]
fn sqlite_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vpn.sqlite");
    let url = format!("sqlite:{}", path.display());
    let mut s = vpndb::open(&url).unwrap();
    assert_eq!(s.backend(), "sqlite");
    suite(s.as_mut());
    // The file is in WAL mode and outlives the connection; reopening migrates nothing.
    drop(s);
    let mut raw = vpndb::sqlite::SqliteStore::open(&path).unwrap();
    assert_eq!(raw.backend_mut().journal_mode().unwrap(), "wal");
    assert!(raw.migrate().unwrap().is_empty());
    assert_eq!(raw.get_profile(1).unwrap().unwrap().version, 7);
}

#[test]
fn sqlite_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vpn.sqlite");
    drop(vpndb::sqlite::SqliteStore::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(c);
    match vpndb::sqlite::SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened a newer schema"),
    }
}

/// Two connections (two processes in `scripts/test.d`), each adding `n` destinations to the
/// same profile in its own transactions: every add lands, the version counts them all.
fn concurrent_adds(open: impl Fn() -> Box<dyn VpnStore> + Sync, n: u32) {
    let mut s = open();
    s.import("test", &example()).unwrap();
    let v0 = s.get_profile(3).unwrap().unwrap().version;
    let d0 = s
        .get_profile(3)
        .unwrap()
        .unwrap()
        .profile
        .destinations
        .len();
    std::thread::scope(|sc| {
        for w in 0..2u8 {
            let open = &open;
            sc.spawn(move || {
                let mut s = open();
                for i in 0..n {
                    let d = AddrMask::host(Ipv4Addr::new(10, 10, 100 + w, i as u8));
                    s.add_destination(&format!("worker{w}"), 3, None, d)
                        .unwrap();
                }
            });
        }
    });
    let p = s.get_profile(3).unwrap().unwrap();
    assert_eq!(p.version, v0 + 2 * n as i64);
    assert_eq!(p.profile.destinations.len(), d0 + 2 * n as usize);
    let audit = s.audit_of("profile 3", 10_000).unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "add_destination")
            .count(),
        2 * n as usize
    );
}

#[test]
fn sqlite_concurrent_adds() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("vpn.sqlite").display());
    concurrent_adds(|| vpndb::open(&url).unwrap(), 50);
}

// ---- PostgreSQL: run by scripts/test.d/43-vpndb-postgres.sh with --ignored. ----

/// The URL of the database the script made; the PostgreSQL tests fail without it.
fn pg_base() -> String {
    std::env::var("VPNDB_PG_URL").expect(
        "VPNDB_PG_URL is not set: the PostgreSQL tests are run by \
         scripts/test.d/43-vpndb-postgres.sh, which starts a server",
    )
}

/// A fresh database `<base>_<name>` next to the script's (each test has its own: they run in
/// parallel), and its URL.
fn pg_fresh(name: &str) -> String {
    let base = pg_base();
    let (prefix, db) = base.rsplit_once('/').expect("URL with a database name");
    let db = db.split('?').next().unwrap();
    let fresh = format!("{db}_{name}");
    let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {fresh}"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {fresh}"))
        .unwrap();
    format!("{prefix}/{fresh}")
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.d/43-vpndb-postgres.sh"]
fn pg_suite() {
    let url = pg_fresh("suite");
    let mut s = vpndb::open(&url).unwrap();
    assert_eq!(s.backend(), "postgres");
    suite(s.as_mut());
    drop(s);
    // Reconnecting re-runs the migrations as a no-op.
    let mut s = vpndb::open(&url).unwrap();
    assert!(s.migrate().unwrap().is_empty());
    assert_eq!(s.get_profile(1).unwrap().unwrap().version, 7);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.d/43-vpndb-postgres.sh"]
fn pg_concurrent_adds() {
    let url = pg_fresh("concurrent");
    concurrent_adds(|| vpndb::open(&url).unwrap(), 100);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.d/43-vpndb-postgres.sh"]
fn pg_migrations_race() {
    // Four connections migrate a new database at once: the advisory lock lets one apply,
    // the others find it done.
    let url = pg_fresh("race");
    let applied: Vec<Vec<i64>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let url = &url;
                sc.spawn(move || {
                    let mut st = vpndb::pg::PgStore::connect(url).unwrap();
                    // connect already migrated; report what that did via the table.
                    st.schema_version().unwrap();
                    st.migrate().unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(applied.iter().all(|a| a.is_empty()));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap();
    let v: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(v, (1..=latest_version()).collect::<Vec<_>>());
    let audit_rows: i64 = c
        .query_one("SELECT value FROM vpn_counter WHERE name = 'audit'", &[])
        .unwrap()
        .get(0);
    assert_eq!(audit_rows, 0, "the counter row inserted once");
    let n: i64 = c
        .query_one("SELECT COUNT(*) FROM vpn_counter", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
