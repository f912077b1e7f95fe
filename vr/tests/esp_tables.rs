//! The ESP tables of the writer and the published state (issue 13): installing, replacing
//! and removing inbound and outbound SAs, what is refused (unknown VRs, mixed address
//! families, a DSCP that does not fit, removing what is not there), SAs going with their
//! VR, an SA's runtime state (sequence numbers, replay window) surviving republishing, and
//! `check` predicting `apply` for change lists that touch SAs and their VRs.

use esp::{Cipher, Sa, SaParams};
use std::net::IpAddr;
use std::sync::Arc;
use vr::{
    Change, EspError, EspSaId, EspTunnel, EspUdp, ForwardingState, InboundKey, IpPrefix, NextHop,
    OutboundKey, RouteSource, StateError, StateWriter, VirtualRouter, VpnId, VrId,
};

const CUST: VrId = VrId(1);
const CORE: VrId = VrId(2);
const OTHER: VrId = VrId(3);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(spi: u32) -> Arc<Sa> {
    let keymat = (0..20).map(|i| i as u8 ^ spi as u8).collect();
    Arc::new(Sa::new(&SaParams::new(spi, Cipher::AesGcm128, keymat), 2).unwrap())
}

fn tunnel(name: &str, spi: u32, vr: VrId, outer_vr: VrId) -> EspTunnel {
    EspTunnel {
        name: name.into(),
        sa: sa(spi),
        vr,
        outer_vr,
        local: ip("192.0.2.1"),
        remote: ip("198.51.100.9"),
        udp: None,
        dscp: None,
        sources: None,
    }
}

fn writer() -> StateWriter {
    let mut w = StateWriter::new(vec![[2, 0, 0, 0, 0, 1]], 2);
    for (id, name) in [(CUST, "cust"), (CORE, "core"), (OTHER, "other")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w
}

/// A writer with an inbound SA (SPI 0x1000) and an outbound one (id 1) of `CUST` over
/// `CORE`, and an outbound one (id 2) of `OTHER` over `OTHER`.
fn with_sas() -> StateWriter {
    let mut w = writer();
    w.set_esp_inbound(Arc::new(tunnel("in", 0x1000, CUST, CORE)))
        .unwrap();
    w.set_esp_outbound(EspSaId(1), Arc::new(tunnel("out", 0x2000, CUST, CORE)))
        .unwrap();
    w.set_esp_outbound(EspSaId(2), Arc::new(tunnel("o2", 0x3000, OTHER, OTHER)))
        .unwrap();
    w
}

/// The key of an inbound SA of these tests: every one arrives in `CORE`.
fn ik(spi: u32) -> InboundKey {
    InboundKey::new(CORE, spi)
}

/// The key of outbound id `id` of these tests: ids 2, 5 and 8 are `OTHER`'s, the rest
/// `CUST`'s.
fn ok(id: u32) -> OutboundKey {
    let vr = if matches!(id, 2 | 5 | 8) { OTHER } else { CUST };
    OutboundKey::new(vr, EspSaId(id))
}

fn inbound(st: &ForwardingState, spi: u32) -> Option<&Arc<EspTunnel>> {
    st.esp.inbound.get(&ik(spi))
}

fn outbound(st: &ForwardingState, id: u32) -> Option<&Arc<EspTunnel>> {
    st.esp.outbound.get(&ok(id))
}

/// Seals an empty payload with `sa` (worker 0); returns the sequence number.
fn seal(sa: &Sa) -> u64 {
    let mut pkt = vec![0; esp::HEAD_LEN + Sa::tail_len(0)];
    sa.seal(0, &mut pkt, 0, 4).unwrap()
}

#[test]
fn install_replace_and_remove_inbound_and_outbound() {
    let mut w = with_sas();
    assert_eq!(w.stats.esp_changes, 3);
    let s1 = w.commit().unwrap();
    assert_eq!((s1.esp.inbound.len(), s1.esp.outbound.len()), (1, 2));
    let t = inbound(&s1, 0x1000).unwrap();
    assert_eq!((t.vr, t.outer_vr, &*t.name), (CUST, CORE, "in"));
    assert_eq!(outbound(&s1, 1).unwrap().sa.spi(), 0x2000);
    assert!(
        inbound(&s1, 0x2000).is_none(),
        "outbound SPIs are not inbound keys"
    );
    assert!(outbound(&s1, 3).is_none());
    // Replacing the inbound SA of SPI 0x1000 (same SPI, new keys: a new Sa).
    let fresh = Arc::new(EspTunnel {
        udp: Some(EspUdp {
            local_port: 4500,
            remote_port: 4501,
        }),
        ..tunnel("in2", 0x1000, CUST, CORE)
    });
    w.set_esp_inbound(Arc::clone(&fresh)).unwrap();
    // A rekey of outbound id 1.
    let rekey = Arc::new(tunnel("out2", 0x2001, CUST, CORE));
    w.set_esp_outbound(EspSaId(1), Arc::clone(&rekey)).unwrap();
    let s2 = w.commit().unwrap();
    assert_eq!((s2.esp.inbound.len(), s2.esp.outbound.len()), (1, 2));
    assert!(Arc::ptr_eq(inbound(&s2, 0x1000).unwrap(), &fresh));
    assert!(Arc::ptr_eq(outbound(&s2, 1).unwrap(), &rekey));
    assert_eq!(&*inbound(&s1, 0x1000).unwrap().name, "in", "s1 unchanged");
    assert_eq!(outbound(&s1, 1).unwrap().sa.spi(), 0x2000);
    // Removing both: returned, gone from the next version.
    assert!(Arc::ptr_eq(
        &w.remove_esp_inbound(ik(0x1000)).unwrap(),
        &fresh
    ));
    assert!(Arc::ptr_eq(&w.remove_esp_outbound(ok(1)).unwrap(), &rekey));
    assert_eq!(w.stats.esp_changes, 7);
    let s3 = w.commit().unwrap();
    assert!(inbound(&s3, 0x1000).is_none());
    assert!(outbound(&s3, 1).is_none());
    assert!(outbound(&s3, 2).is_some());
    assert!(w.esp_inbound(ik(0x1000)).is_none());
    assert_eq!(
        w.esp_outbound_all().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![EspSaId(2)]
    );
    // The same through change lists.
    w.apply(&[
        Change::SetEspInbound(Arc::new(tunnel("in3", 0x1001, OTHER, CORE))),
        Change::SetEspOutbound(EspSaId(5), Arc::new(tunnel("o5", 0x2005, OTHER, CORE))),
    ])
    .unwrap();
    let s4 = w.commit().unwrap();
    assert_eq!(inbound(&s4, 0x1001).unwrap().vr, OTHER);
    assert_eq!(outbound(&s4, 5).unwrap().vr, OTHER);
    w.apply(&[
        Change::RemoveEspInbound(ik(0x1001)),
        Change::RemoveEspOutbound(ok(5)),
    ])
    .unwrap();
    let s5 = w.commit().unwrap();
    assert!(s5.esp.inbound.is_empty());
    assert_eq!(s5.esp.outbound.len(), 1);
}

#[test]
fn unknown_vrs_mixed_families_and_bad_dscp_are_refused() {
    let mut w = with_sas();
    w.commit();
    let bad = [
        (
            tunnel("a", 0x5000, VrId(9), CORE),
            "ESP SA a: vr9 does not exist",
        ),
        (
            tunnel("b", 0x5000, CUST, VrId(9)),
            "ESP SA b: vr9 does not exist",
        ),
        (
            EspTunnel {
                remote: ip("2001:db8::9"),
                ..tunnel("c", 0x5000, CUST, CORE)
            },
            "ESP SA c: local 192.0.2.1 and remote 2001:db8::9 are not of one address family",
        ),
        (
            EspTunnel {
                dscp: Some(64),
                sources: None,
                ..tunnel("d", 0x5000, CUST, CORE)
            },
            "ESP SA d: DSCP 64 is above 63",
        ),
    ];
    for (t, msg) in bad {
        let t = Arc::new(t);
        let e = w.set_esp_inbound(Arc::clone(&t)).unwrap_err();
        assert_eq!(e.to_string(), msg);
        assert_eq!(
            w.set_esp_outbound(EspSaId(9), Arc::clone(&t)).unwrap_err(),
            e
        );
        // `check` says the same, and `apply` changes nothing.
        for c in [
            Change::SetEspInbound(Arc::clone(&t)),
            Change::SetEspOutbound(EspSaId(9), Arc::clone(&t)),
        ] {
            let list = [Change::RemoveEspOutbound(ok(2)), c];
            assert_eq!(w.check(&list), Err((1, e.clone())));
            assert_eq!(w.apply(&list), Err((1, e.clone())));
        }
    }
    assert!(w.esp_inbound(ik(0x5000)).is_none());
    assert!(w.esp_outbound(ok(9)).is_none());
    assert!(w.esp_outbound(ok(2)).is_some(), "nothing of a refused list");
    assert!(w.commit().is_none(), "nothing changed");
    // Both IPv6, and DSCP 63: fine.
    let ok = EspTunnel {
        local: ip("2001:db8::1"),
        remote: ip("2001:db8::9"),
        dscp: Some(63),
        sources: None,
        ..tunnel("e", 0x5000, CUST, CORE)
    };
    w.set_esp_inbound(Arc::new(ok)).unwrap();
}

#[test]
fn removing_missing_sas_is_refused() {
    let mut w = with_sas();
    let e = w.remove_esp_inbound(ik(0x7777)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no inbound ESP SA of SPI 0x00007777 in vr2 is installed"
    );
    assert_eq!(
        w.remove_esp_outbound(ok(7)).unwrap_err(),
        StateError::Esp(EspError::NotInstalled("ESP SA #7 of vr1".into()))
    );
    // An outbound id is no inbound SPI and the other way round.
    assert!(w.remove_esp_inbound(ik(1)).is_err());
    assert!(w.remove_esp_outbound(ok(0x1000)).is_err());
    // Twice in one list: the second is refused, and so the whole list.
    let list = [
        Change::RemoveEspOutbound(ok(1)),
        Change::RemoveEspOutbound(ok(1)),
    ];
    assert!(matches!(w.check(&list), Err((1, StateError::Esp(_)))));
    assert!(matches!(w.apply(&list), Err((1, StateError::Esp(_)))));
    assert!(w.esp_outbound(ok(1)).is_some());
    let list = [
        Change::RemoveEspInbound(ik(0x1000)),
        Change::RemoveEspInbound(ik(0x1000)),
    ];
    assert!(matches!(w.apply(&list), Err((1, StateError::Esp(_)))));
    assert!(w.esp_inbound(ik(0x1000)).is_some());
    // Installed earlier in the same list: removable.
    w.apply(&[
        Change::SetEspOutbound(EspSaId(7), Arc::new(tunnel("o7", 0x2007, CUST, CORE))),
        Change::RemoveEspOutbound(ok(7)),
    ])
    .unwrap();
    assert!(w.esp_outbound(ok(7)).is_none());
}

#[test]
fn remove_vr_removes_its_sas_as_vr_and_as_outer_vr() {
    let mut w = with_sas();
    w.set_esp_inbound(Arc::new(tunnel("x", 0x1100, OTHER, CORE)))
        .unwrap();
    let s1 = w.commit().unwrap();
    let changes = w.stats.esp_changes;
    // CORE is the outer VR of CUST's SAs: they go with it; OTHER's stay.
    w.remove_vr(CORE).unwrap();
    assert_eq!(w.stats.esp_changes, changes + 3);
    assert!(w.esp_inbound(ik(0x1000)).is_none());
    assert!(w.esp_outbound(ok(1)).is_none());
    assert!(w.esp_inbound(ik(0x1100)).is_none());
    assert!(w.esp_outbound(ok(2)).is_some());
    let s2 = w.commit().unwrap();
    assert!(inbound(&s2, 0x1000).is_none() && outbound(&s2, 1).is_none());
    assert!(outbound(&s2, 2).is_some());
    assert!(inbound(&s1, 0x1000).is_some(), "the old version keeps them");
    // OTHER is both VR and outer VR of id 2.
    w.remove_vr(OTHER).unwrap();
    let s3 = w.commit().unwrap();
    assert!(s3.esp.outbound.is_empty() && s3.esp.inbound.is_empty());
    // A VR re-added under the same id does not get them back.
    w.add_vr(VirtualRouter::new(
        OTHER,
        "other",
        VpnId::new(1, 3).unwrap(),
        "t",
    ))
    .unwrap();
    assert!(w.esp_outbound(ok(2)).is_none());
}

#[test]
fn republishing_keeps_the_same_sa_and_its_state() {
    let mut w = with_sas();
    let s1 = w.commit().unwrap();
    let out1 = Arc::clone(&outbound(&s1, 1).unwrap().sa);
    assert_eq!(seal(&out1), 1);
    // Unrelated changes (a route, another SA) and a commit each.
    w.set_route(
        CUST,
        "10.2.0.0/16".parse::<IpPrefix>().unwrap(),
        RouteSource::Static,
        NextHop::Esp(EspSaId(1)),
    )
    .unwrap();
    let s2 = w.commit().unwrap();
    w.set_esp_inbound(Arc::new(tunnel("y", 0x1200, OTHER, CORE)))
        .unwrap();
    w.remove_esp_outbound(ok(2)).unwrap();
    let s3 = w.commit().unwrap();
    w.remove_vr(OTHER).unwrap();
    let s4 = w.snapshot();
    for s in [&s2, &s3, &s4] {
        assert!(Arc::ptr_eq(&outbound(s, 1).unwrap().sa, &out1));
        assert!(Arc::ptr_eq(
            &inbound(s, 0x1000).unwrap().sa,
            &inbound(&s1, 0x1000).unwrap().sa
        ));
    }
    // Sequence numbers go on from where the first version left them.
    assert_eq!(seal(&outbound(&s4, 1).unwrap().sa), 2);
    assert_eq!(seal(&outbound(&s2, 1).unwrap().sa), 3);
    assert_eq!(out1.traffic().0, 3);
    // The replay window too: a packet opened through one version is a replay in the next.
    let peer = sa(0x1000);
    let mut pkt = vec![0; esp::HEAD_LEN + Sa::tail_len(0)];
    peer.seal(0, &mut pkt, 0, 4).unwrap();
    let first = pkt.clone();
    inbound(&s1, 0x1000).unwrap().sa.open(1, &mut pkt).unwrap();
    let mut again = first;
    assert!(matches!(
        inbound(&s4, 0x1000).unwrap().sa.open(0, &mut again),
        Err(esp::OpenError::Replay(_))
    ));
    assert_eq!(inbound(&s4, 0x1000).unwrap().sa.replay_top(), 1);
}

/// `check` must refuse what `apply_one` would refuse at the same point, and `apply` must
/// then leave the writer untouched.
fn check_agrees(list: &[Change], refused_at: Option<usize>) {
    let mut w = with_sas();
    w.commit();
    let checked = w.check(list);
    let mut one_by_one = with_sas();
    let mut applied = Ok(());
    for (i, c) in list.iter().enumerate() {
        if let Err(e) = one_by_one.apply_one(c) {
            applied = Err((i, e));
            break;
        }
    }
    assert_eq!(checked, applied, "{list:?}");
    assert_eq!(
        checked.as_ref().err().map(|(i, _)| *i),
        refused_at,
        "{list:?}"
    );
    let r = w.apply(list);
    assert_eq!(r, checked);
    if r.is_err() {
        assert!(w.commit().is_none(), "a refused list changes nothing");
        assert!(w.esp_inbound(ik(0x1000)).is_some());
        assert!(w.esp_outbound(ok(1)).is_some());
        assert!(w.has_vr(CORE));
    }
}

#[test]
fn check_agrees_with_apply_about_sas_of_removed_vrs() {
    let remove_vr = |id| Change::RemoveVr(id);
    let readd = Change::AddVr(VirtualRouter::new(
        CORE,
        "core",
        VpnId::new(1, 2).unwrap(),
        "t",
    ));
    let new_out = Change::SetEspOutbound(EspSaId(8), Arc::new(tunnel("o8", 0x2008, OTHER, CORE)));
    let new_in = Change::SetEspInbound(Arc::new(tunnel("i8", 0x1008, OTHER, CORE)));
    // The writer's SAs of a VR the list removed (as VR, as outer VR).
    check_agrees(
        &[remove_vr(CUST), Change::RemoveEspOutbound(ok(1))],
        Some(1),
    );
    check_agrees(
        &[remove_vr(CORE), Change::RemoveEspInbound(ik(0x1000))],
        Some(1),
    );
    // Removed and re-added under the same id: still gone.
    check_agrees(
        &[
            remove_vr(CORE),
            readd.clone(),
            Change::RemoveEspOutbound(ok(1)),
        ],
        Some(2),
    );
    check_agrees(
        &[
            remove_vr(CORE),
            readd.clone(),
            Change::RemoveEspInbound(ik(0x1000)),
        ],
        Some(2),
    );
    // SAs the list itself installed, then their VR removed.
    check_agrees(
        &[
            new_out.clone(),
            remove_vr(CORE),
            Change::RemoveEspOutbound(ok(8)),
        ],
        Some(2),
    );
    check_agrees(
        &[
            new_in.clone(),
            remove_vr(OTHER),
            Change::RemoveEspInbound(ik(0x1008)),
        ],
        Some(2),
    );
    // An SA installed for a VR the list removed and re-added: refused, then fine.
    check_agrees(&[remove_vr(CORE), new_out.clone()], Some(1));
    check_agrees(
        &[
            remove_vr(CORE),
            readd.clone(),
            new_out.clone(),
            Change::RemoveEspOutbound(ok(8)),
        ],
        None,
    );
    // A VR the SA does not name: the SA stays.
    check_agrees(
        &[
            new_in,
            remove_vr(CUST),
            Change::RemoveEspInbound(ik(0x1008)),
            Change::RemoveEspOutbound(ok(2)),
        ],
        None,
    );
    // Removing a missing SA in a list.
    check_agrees(&[Change::RemoveEspInbound(ik(0x4444))], Some(0));
    check_agrees(&[new_out, Change::RemoveEspOutbound(ok(9))], Some(1));
}

#[test]
fn changes_describe_themselves() {
    let t = Arc::new(tunnel("hq", 0x1000, CUST, CORE));
    assert_eq!(
        Change::SetEspInbound(Arc::clone(&t)).to_string(),
        "inbound ESP SA hq (SPI 0x00001000 in vr2) into vr1"
    );
    assert_eq!(
        Change::SetEspOutbound(EspSaId(4), t).to_string(),
        "ESP SA #4: outbound ESP SA hq (SPI 0x00001000) from vr1"
    );
    assert_eq!(
        Change::RemoveEspOutbound(ok(4)).to_string(),
        "remove ESP SA #4 of vr1"
    );
    assert_eq!(
        Change::RemoveEspInbound(ik(0x1000)).to_string(),
        "remove inbound ESP SPI 0x00001000 in vr2"
    );
}

/// Two VRs of one appliance may hold the same inbound SPI (and the same outbound id) with
/// different keys: each key finds its own VR's SA and only that one, removing one leaves
/// the other, and within one VR the SPI still names one SA (installing it again replaces
/// it, as a rekey).
#[test]
fn the_same_spi_and_id_in_two_vrs_are_two_sas() {
    const FA1: VrId = VrId(11);
    const FA2: VrId = VrId(12);
    let mut w = writer();
    for (id, name) in [(FA1, "fa1"), (FA2, "fa2")] {
        w.add_vr(VirtualRouter::new(
            id,
            name,
            VpnId::new(1, id.0).unwrap(),
            "t",
        ))
        .unwrap();
    }
    // The same SPI 0x1000 and id 1, other keys (sa(spi) derives keys from the SPI, so the
    // second SA gets keys of its own).
    let other_keys = |name: &str, vr: VrId| EspTunnel {
        sa: Arc::new(
            Sa::new(&SaParams::new(0x1000, Cipher::AesGcm128, vec![0x5a; 20]), 2).unwrap(),
        ),
        ..tunnel(name, 0x1000, vr, vr)
    };
    let in1 = Arc::new(tunnel("in1", 0x1000, FA1, FA1));
    let in2 = Arc::new(other_keys("in2", FA2));
    let out1 = Arc::new(tunnel("out1", 0x1000, FA1, FA1));
    let out2 = Arc::new(other_keys("out2", FA2));
    w.set_esp_inbound(Arc::clone(&in1)).unwrap();
    w.set_esp_inbound(Arc::clone(&in2)).unwrap();
    w.set_esp_outbound(EspSaId(1), Arc::clone(&out1)).unwrap();
    w.set_esp_outbound(EspSaId(1), Arc::clone(&out2)).unwrap();
    let s = w.commit().unwrap();
    assert_eq!((s.esp.inbound.len(), s.esp.outbound.len()), (2, 2));
    let got_in =
        |st: &ForwardingState, vr| st.esp.inbound.get(&InboundKey::new(vr, 0x1000)).cloned();
    let got_out = |st: &ForwardingState, vr| {
        st.esp
            .outbound
            .get(&OutboundKey::new(vr, EspSaId(1)))
            .cloned()
    };
    assert!(Arc::ptr_eq(&got_in(&s, FA1).unwrap(), &in1));
    assert!(Arc::ptr_eq(&got_in(&s, FA2).unwrap(), &in2));
    assert!(Arc::ptr_eq(&got_out(&s, FA1).unwrap(), &out1));
    assert!(Arc::ptr_eq(&got_out(&s, FA2).unwrap(), &out2));
    assert!(got_in(&s, CORE).is_none() && got_out(&s, CUST).is_none());
    // Isolation by key: a packet sealed with FA2's peer keys opens with FA2's SA only.
    let peer2 = Sa::new(&SaParams::new(0x1000, Cipher::AesGcm128, vec![0x5a; 20]), 1).unwrap();
    let mut pkt = vec![0; esp::HEAD_LEN + Sa::tail_len(0)];
    peer2.seal(0, &mut pkt, 0, 4).unwrap();
    let mut copy = pkt.clone();
    assert!(matches!(
        got_in(&s, FA1).unwrap().sa.open(0, &mut copy),
        Err(esp::OpenError::BadIcv)
    ));
    got_in(&s, FA2).unwrap().sa.open(0, &mut pkt).unwrap();
    // The same SPI again in FA1: one SA per (VR, SPI), the new one replaces the old.
    let again = Arc::new(tunnel("in1b", 0x1000, FA1, FA1));
    w.set_esp_inbound(Arc::clone(&again)).unwrap();
    assert_eq!(w.esp_inbound_all().count(), 2);
    assert!(Arc::ptr_eq(
        w.esp_inbound(InboundKey::new(FA1, 0x1000)).unwrap(),
        &again
    ));
    // Removing FA1's leaves FA2's, and removing FA1 (the VR) takes only its SAs.
    w.remove_esp_inbound(InboundKey::new(FA1, 0x1000)).unwrap();
    assert!(w.remove_esp_inbound(InboundKey::new(FA1, 0x1000)).is_err());
    assert!(w.esp_inbound(InboundKey::new(FA2, 0x1000)).is_some());
    w.remove_vr(FA1).unwrap();
    let s2 = w.commit().unwrap();
    assert!(got_out(&s2, FA1).is_none());
    assert!(Arc::ptr_eq(&got_out(&s2, FA2).unwrap(), &out2));
    assert!(Arc::ptr_eq(&got_in(&s2, FA2).unwrap(), &in2));
    // A change list naming FA2's keys: checked and applied per VR.
    let list = [
        Change::RemoveEspInbound(InboundKey::new(FA2, 0x1000)),
        Change::RemoveEspOutbound(OutboundKey::new(FA2, EspSaId(1))),
    ];
    assert_eq!(w.check(&list), Ok(()));
    w.apply(&list).unwrap();
    assert!(w.esp_inbound_all().next().is_none() && w.esp_outbound_all().next().is_none());
}
