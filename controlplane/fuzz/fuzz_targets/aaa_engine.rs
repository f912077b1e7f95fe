//! Fuzzes the mobile VPN's AAA engines (AAAH, AAAF, HA client): the first byte picks the
//! engine; the rest is a list of messages (2-byte length prefix each) fed as requests, or,
//! when the engine has a request of its own pending, as the answer to it; lookups are
//! answered with a user whose VPN crosses both GW types, and the clock moves. A chunk whose
//! step byte has bit 2 set is not a message but edits (offset, byte pairs) of a valid
//! message of the right kind (AMR, HAR, AMA, HAA with VPN AVPs), so the fuzzer reaches the
//! grammar and the engines' logic. No input may panic an engine, and every message it
//! outputs must encode and parse back.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use controlplane::aaa::client::{HaClient, HaDecision};
use controlplane::aaa::foreign::{Foreign, ForeignConfig};
use controlplane::aaa::home::{Home, HomeConfig, Subscriber};
use controlplane::aaa::Output;
use controlplane::diameter::mip4::{Ama, Amr, Haa, Har, MnAaaAuth, Route, VpnInfo};
use controlplane::diameter::wire::Message;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use vpndb::model::{CnGwEntry, GwType, Nai, Qos, SaKeys, SecurityType, Sla, VpnProfile, VpnShare};

fn subscriber(nai: &str) -> Option<Subscriber> {
    let nai = Nai::parse(nai).ok()?;
    Some(Subscriber {
        profiles: vec![VpnProfile {
            profile_number: 1,
            nai,
            sla: "s".into(),
            vpnshare: VpnShare::Own,
            destinations: vec!["10.1.0.0/16".parse().ok()?, "10.2.0.0/16".parse().ok()?],
            up_class: None,
            down_class: None,
            up_spi: Some(300),
            down_spi: Some(301),
        }],
        slas: vec![Sla {
            name: "s".into(),
            up_spi: 1000,
            down_spi: 1001,
            keys: SaKeys::default(),
            qos: Qos::default(),
            security: SecurityType::Esp,
            domain: vec![],
            users: vec![],
        }],
        cn_gw: vec![
            CnGwEntry { cn: "10.1.0.0/16".parse().ok()?, gw: Ipv4Addr::new(1, 1, 1, 1), gw_type: GwType::Static },
            CnGwEntry { cn: "10.2.0.0/16".parse().ok()?, gw: Ipv4Addr::new(2, 2, 2, 2), gw_type: GwType::Dynamic },
        ],
        mn_aaa_key: None,
    })
}

fn amr() -> Message {
    let mut reg = vec![1, 0, 0, 60, 10, 0, 0, 5, 9, 9, 9, 9, 192, 0, 2, 1];
    reg.extend_from_slice(&[0; 8]);
    Amr {
        session_id: "fa;1".into(),
        route: Route {
            origin_host: "fa.visited".into(),
            origin_realm: "visited".into(),
            destination_realm: "example".into(),
            destination_host: None,
        },
        user_name: "alice@example".into(),
        reg_request: reg,
        mn_aaa_auth: MnAaaAuth { spi: 256, input_len: 24, authenticator_len: 0, authenticator_offset: 24 },
        mn_address: None,
        ha_address: None,
        feature_vector: Some(64),
        originating_foreign_aaa: None,
        authorization_lifetime: None,
        auth_session_state: None,
        ha_to_fa_spi: None,
        old_fa: Some(Ipv4Addr::new(192, 0, 2, 1)),
        service_update: false,
        route_record: vec![],
    }
    .to_message()
}

fn template(kind: u8) -> Vec<u8> {
    let req = amr();
    let m = match kind % 4 {
        0 => req,
        1 => {
            let mut a = Ama::bare("fa;1", 2001, "aaah.example", "example");
            a.vpn = Some(VpnInfo::default());
            a.old_fa = Some(Ipv4Addr::new(192, 0, 2, 7));
            a.to_message(&req.header)
        }
        2 => Haa {
            session_id: "fa;1".into(),
            result_code: 2001,
            origin_host: "ha.example".into(),
            origin_realm: "example".into(),
            user_name: None,
            reg_reply: Some(vec![3, 0]),
            ha_address: None,
            mn_address: Some(Ipv4Addr::new(10, 0, 0, 5)),
            fa_to_ha_spi: None,
            old_fa: None,
            error_message: None,
        }
        .to_message(&req.header),
        _ => {
            let r = Amr::parse(&req).expect("valid");
            Har {
                session_id: r.session_id,
                route: r.route,
                authorization_lifetime: 60,
                auth_session_state: 1,
                reg_request: r.reg_request,
                user_name: r.user_name,
                feature_vector: 0,
                ha_to_fa_msa: None,
                msa_lifetime: None,
                originating_foreign_aaa: None,
                mn_address: None,
                ha_address: None,
                vpn: Some(VpnInfo::default()),
                old_fa: r.old_fa,
            }
            .to_message()
        }
    };
    m.emit().expect("valid template")
}

fn check(o: &Output) -> Option<u64> {
    let (Output::Send { msg, .. } | Output::Answer { msg, .. }) = o else {
        return None;
    };
    let b = msg.emit().expect("engine output encodes");
    Message::parse(&b).expect("engine output parses back");
    match o {
        Output::Send { token, .. } => Some(*token),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut now = Instant::now();
    let mut hc = HomeConfig::new("aaah.example", "example");
    hc.require_mn_aaa_auth = false;
    let mut home = Home::new(hc, rand::rngs::StdRng::seed_from_u64(1));
    let mut foreign = Foreign::new(ForeignConfig::new("aaaf.visited", "visited"));
    let mut ha = HaClient::new(
        "ha.example",
        "example",
        Ipv4Addr::new(9, 9, 9, 9),
        Box::new(|_| HaDecision { result_code: 2001, reg_reply: Some(vec![3, 0]), mn_address: None, old_fa: None }),
    );
    let mut pending: Vec<u64> = Vec::new();
    let mut id = 0u64;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 2048;
        let step = rest[2];
        rest = &rest[3..];
        let (chunk, r) = rest.split_at(len.min(rest.len()));
        rest = r;
        now += Duration::from_millis(u64::from(step) * 50);
        id += 1;
        let edited;
        let bytes = if step & 4 != 0 {
            let mut t = template(step >> 3);
            for pair in chunk.chunks_exact(2) {
                let i = usize::from(pair[0]) * 2 % t.len();
                t[i] = pair[1];
            }
            edited = t;
            &edited[..]
        } else {
            chunk
        };
        let Ok(m) = Message::parse(bytes) else { continue };
        match (mode % 3, pending.pop()) {
            (0, Some(t)) if step & 1 == 1 => home.handle_answer(now, t, m),
            (0, Some(t)) if step & 2 == 2 => home.handle_send_failed(now, t),
            (0, _) => home.handle_request(now, id, m),
            (1, Some(t)) if step & 1 == 1 => foreign.handle_answer(now, t, m),
            (1, Some(t)) if step & 2 == 2 => foreign.handle_send_failed(now, t),
            (1, _) => foreign.handle_request(now, id, m),
            _ => ha.handle_request(now, id, m),
        }
        home.handle_timeout(now);
        foreign.handle_timeout(now);
        while let Some(o) = home.poll_output() {
            if let Output::Lookup { token, nai } = &o {
                home.handle_lookup(now, *token, subscriber(nai));
            }
            pending.extend(check(&o));
        }
        while let Some(o) = foreign.poll_output() {
            pending.extend(check(&o));
        }
        while let Some(o) = ha.poll_output() {
            check(&o);
        }
    }
});
