//! Round trips and refusals of the Mobile IPv4 messages.

use std::net::Ipv4Addr;

use vpndb::model::{GwType, KeyBytes, SaKeys, SecurityType, VpnCacheProfile};

use super::*;
use crate::diameter::wire::codes::{code, result};

fn profile(keys: bool) -> VpnCacheProfile {
    VpnCacheProfile {
        profile_number: 3,
        src: "10.200.0.5/32".parse().unwrap(),
        dst: "10.1.0.0/16".parse().unwrap(),
        tos: 0xb8,
        security: SecurityType::Esp,
        src_gw: Ipv4Addr::new(192, 0, 2, 1),
        dst_gw: Ipv4Addr::new(198, 51, 100, 10),
        dst_gw_type: GwType::Dynamic,
        up_spi: 4096,
        down_spi: 4097,
        keys: if keys {
            SaKeys {
                up_enc: KeyBytes::new(vec![1; 16]),
                down_enc: KeyBytes::new(vec![2; 16]),
                up_auth: KeyBytes::new(vec![3; 20]),
                down_auth: KeyBytes::new(vec![4; 20]),
            }
        } else {
            SaKeys::default()
        },
    }
}

fn har() -> Har {
    Har {
        session_id: "aaah;1;2".into(),
        route: Route {
            origin_host: "aaah.home.example".into(),
            origin_realm: "home.example".into(),
            destination_realm: "home.example".into(),
            destination_host: Some("ha.home.example".into()),
        },
        authorization_lifetime: 3600,
        auth_session_state: 1,
        reg_request: vec![1; 24],
        user_name: "alice@home.example".into(),
        feature_vector: 64,
        ha_to_fa_msa: Some(Msa {
            spi: 300,
            algorithm: 2,
            key: vec![9; 20],
        }),
        msa_lifetime: Some(3600),
        originating_foreign_aaa: Some(ForeignAaa {
            realm: "visited.example".into(),
            host: "aaaf.visited.example".into(),
        }),
        mn_address: Some(Ipv4Addr::new(10, 200, 0, 5)),
        ha_address: Some(Ipv4Addr::new(198, 51, 100, 10)),
        vpn: Some(VpnInfo {
            profiles: vec![profile(true), profile(false)],
        }),
        old_fa: Some(Ipv4Addr::new(192, 0, 2, 9)),
    }
}

fn wire(m: &Message) -> Message {
    Message::parse(&m.emit().unwrap()).unwrap()
}

#[test]
fn har_haa_round_trip_with_vendor_avps() {
    let h = har();
    let m = wire(&h.to_message());
    assert_eq!(m.avps[0].code, code::SESSION_ID);
    assert!(m.check_mandatory(|c, v| known_avp(2, c, v)).is_ok());
    assert_eq!(Har::parse(&m).unwrap(), h);
    let haa = Haa {
        session_id: h.session_id.clone(),
        result_code: 2001,
        origin_host: "ha.home.example".into(),
        origin_realm: "home.example".into(),
        user_name: Some(h.user_name.clone()),
        reg_reply: Some(vec![3, 0, 0, 0]),
        ha_address: h.ha_address,
        mn_address: h.mn_address,
        fa_to_ha_spi: Some(300),
        old_fa: h.old_fa,
        error_message: None,
    };
    let a = wire(&haa.to_message(&m.header));
    assert!(!a.header.request);
    assert_eq!(a.header.hop_by_hop, m.header.hop_by_hop);
    assert_eq!(Haa::parse(&a).unwrap(), haa);
    // Without the vendor dictionary the VPN AVPs are unknown mandatory AVPs.
    assert!(m
        .check_mandatory(|c, v| crate::diameter::peer::default_known_avp(2, c, v))
        .is_err());
}

#[test]
fn amr_ama_round_trip() {
    let amr = Amr {
        session_id: "fa1;1".into(),
        route: Route {
            origin_host: "fa1.visited.example".into(),
            origin_realm: "visited.example".into(),
            destination_realm: "home.example".into(),
            destination_host: None,
        },
        user_name: "alice@home.example".into(),
        reg_request: vec![1; 48],
        mn_aaa_auth: MnAaaAuth {
            spi: 256,
            input_len: 32,
            authenticator_len: 16,
            authenticator_offset: 32,
        },
        mn_address: None,
        ha_address: Some(Ipv4Addr::new(198, 51, 100, 10)),
        feature_vector: Some(64),
        originating_foreign_aaa: None,
        authorization_lifetime: Some(60),
        auth_session_state: Some(1),
        ha_to_fa_spi: Some(77),
        old_fa: Some(Ipv4Addr::new(192, 0, 2, 1)),
        service_update: true,
        route_record: vec!["fa1.visited.example".into()],
    };
    let m = wire(&amr.to_message());
    assert_eq!(Amr::parse(&m).unwrap(), amr);
    let mut ama = Ama::bare("fa1;1", 2001, "aaah.home.example", "home.example");
    ama.vpn = Some(VpnInfo {
        profiles: vec![profile(true)],
    });
    ama.old_fa = amr.old_fa;
    ama.fa_to_ha_msa = Some(Msa {
        spi: 301,
        algorithm: 2,
        key: vec![5; 20],
    });
    ama.reg_reply = Some(vec![3, 0, 0, 0]);
    assert_eq!(Ama::parse(&wire(&ama.to_message(&m.header))).unwrap(), ama);
    // Refusals: missing MIP-MN-AAA-Auth (5005), a child of it missing (5005).
    let mut bad = m.clone();
    bad.avps.retain(|a| a.code != code::MIP_MN_AAA_AUTH);
    let e = Amr::parse(&bad).unwrap_err();
    assert_eq!(e.result_code, result::MISSING_AVP);
    assert_eq!(e.failed_avp.unwrap().code, code::MIP_MN_AAA_AUTH);
    let mut bad = m.clone();
    for a in &mut bad.avps {
        if a.code == code::MIP_MN_AAA_AUTH {
            *a = Avp::grouped(code::MIP_MN_AAA_AUTH, &[Avp::u32(code::MIP_MN_AAA_SPI, 1)]).unwrap();
        }
    }
    assert_eq!(
        Amr::parse(&bad).unwrap_err().result_code,
        result::MISSING_AVP
    );
}

#[test]
fn vpn_info_refusals() {
    let mut v = VpnInfo {
        profiles: vec![profile(false)],
    }
    .to_avp();
    assert_eq!(VpnInfo::from_avp(&v).unwrap().profiles.len(), 1);
    // Count says 2, one profile.
    let mut c = v.as_grouped().unwrap();
    c[0] = Avp::u32(VPN_PROFILE_COUNT, 2).with_vendor(VENDOR_ID);
    v = Avp::grouped(VPN_INFO_CACHE, &c)
        .unwrap()
        .with_vendor(VENDOR_ID);
    assert_eq!(
        VpnInfo::from_avp(&v).unwrap_err().result_code,
        result::INVALID_AVP_VALUE
    );
    // A non-contiguous mask, a security type 7, an unknown mandatory child.
    for (code, avp) in [
        (
            VPN_SOURCE_MASK,
            addr(VPN_SOURCE_MASK, Ipv4Addr::new(255, 0, 255, 0)),
        ),
        (VPN_SECURITY_TYPE, Avp::u32(VPN_SECURITY_TYPE, 7)),
        (VPN_TOS, Avp::u32(VPN_TOS, 256)),
        (4242, Avp::u32(4242, 1)),
    ] {
        let p = profile_to_avp_for_test(code, avp.with_vendor(VENDOR_ID));
        let info = Avp::grouped(
            VPN_INFO_CACHE,
            &[Avp::u32(VPN_PROFILE_COUNT, 1).with_vendor(VENDOR_ID), p],
        )
        .unwrap()
        .with_vendor(VENDOR_ID);
        let e = VpnInfo::from_avp(&info).unwrap_err();
        let want = if code == 4242 {
            result::AVP_UNSUPPORTED
        } else {
            result::INVALID_AVP_VALUE
        };
        assert_eq!(e.result_code, want, "{code}");
    }
}

/// A VPN-Profile with the child `code` replaced (or appended) by `avp`.
fn profile_to_avp_for_test(code: u32, avp: Avp) -> Avp {
    let p = VpnInfo {
        profiles: vec![profile(false)],
    }
    .to_avp()
    .as_grouped()
    .unwrap()
    .remove(1);
    let mut c = p.as_grouped().unwrap();
    match c.iter_mut().find(|a| a.code == code) {
        Some(a) => *a = avp,
        None => c.push(avp),
    }
    Avp::grouped(VPN_PROFILE, &c)
        .unwrap()
        .with_vendor(VENDOR_ID)
}

#[test]
fn reg_request_info() {
    let mut b = vec![1, 0, 0, 60];
    b.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 3]);
    b.extend_from_slice(&[0; 8]);
    let i = RegRequestInfo::parse(&b).unwrap();
    assert_eq!(i.care_of_address, Ipv4Addr::new(10, 0, 0, 3));
    assert_eq!(i.lifetime, 60);
    assert!(RegRequestInfo::parse(&b[..23]).is_none());
    b[0] = 3;
    assert!(RegRequestInfo::parse(&b).is_none());
}
