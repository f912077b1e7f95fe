//! Fuzzes the Mobile IPv4 decoders: every message type and the authenticator checks on any
//! bytes; whatever decodes must re-encode to the same bytes (the codec is canonical for what
//! it accepts) and decode again to the same value.
#![no_main]

use controlplane::mip::auth;
use controlplane::mip::wire::advert::{check_solicitation, checksum, Advertisement};
use controlplane::mip::wire::binding::{BindingAck, BindingRequest, BindingUpdate};
use controlplane::mip::wire::ext::kind;
use controlplane::mip::wire::registration::{flags, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Request::parse(data) {
        let b = r.emit().expect("a decoded request encodes");
        // The reserved `r` flag is sent as zero (RFC 5944 §3.3); everything else survives.
        let want = Request {
            flags: r.flags & !flags::R,
            ..r.clone()
        };
        assert_eq!(Request::parse(&b).expect("re-decodes"), want);
        for l in &r.extensions {
            let _ = l.ext.as_prev_fa();
            let _ = l.ext.as_vpn_profile();
        }
        let _ = r.nai();
        let _ = auth::verify_hmac(data, &r.extensions, kind::MN_HA_AUTH, b"key");
        let _ = auth::mn_aaa_diameter(data);
        let _ = controlplane::mip::unknown_critical(&r.extensions);
    }
    let _ = auth::verify_mn_aaa(b"key", data, None);
    if let Ok(r) = Reply::parse(data) {
        let b = r.emit().expect("a decoded reply encodes");
        assert_eq!(Reply::parse(&b).expect("re-decodes"), r);
    }
    if let Ok(r) = BindingUpdate::parse(data) {
        let b = r.emit().expect("encodes");
        let again = BindingUpdate::parse(&b).expect("re-decodes");
        assert_eq!(again.extensions, r.extensions);
        let _ = controlplane::mip::vpn_profiles(&r.extensions);
    }
    if let Ok(r) = BindingAck::parse(data) {
        assert_eq!(BindingAck::parse(&r.emit().expect("encodes")).expect("re-decodes"), r);
    }
    if let Ok(r) = BindingRequest::parse(data) {
        assert_eq!(BindingRequest::parse(&r.emit().expect("encodes")).expect("re-decodes"), r);
    }
    if let Ok(a) = Advertisement::parse(data) {
        if let Ok(b) = a.emit() {
            assert_eq!(Advertisement::parse(&b).expect("re-decodes"), a);
        }
    }
    // A solicitation is accepted exactly when it is type 10 code 0, 8 bytes or more, and its
    // checksum sums to zero.
    let ok = data.len() >= 8 && data[0] == 10 && data[1] == 0 && checksum(data) == 0;
    assert_eq!(check_solicitation(data).is_ok(), ok);
});
