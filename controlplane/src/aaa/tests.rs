//! The AAA engines wired together in memory: FA client → AAAF → AAAH → HA client, every
//! message encoded and parsed again on the way, on a simulated clock.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::SeedableRng;
use vpndb::model::{
    AddrMask, CnGwEntry, GwType, KeyBytes, Nai, Qos, SaKeys, SecurityType, Sla, VpnProfile,
    VpnShare,
};

use super::client::{FaClient, FaEvent, HaClient, HaDecision};
use super::foreign::{Foreign, ForeignConfig};
use super::home::{Home, HomeConfig, Subscriber};
use super::{Output, ReqId, Token};
use crate::diameter::mip4::{Ama, Amr, MnAaaAuth, Route, OLD_FA_ADDRESS, VENDOR_ID};
use crate::diameter::wire::codes::{app, cmd, code, mip_feature, result};
use crate::diameter::wire::{Avp, Message};

const HOME: &str = "home.example";
const VISITED: &str = "visited.example";
const VISITED2: &str = "visited2.example";
const FA1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FA2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const FA3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 130);
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const MN: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 5);
const ENTERPRISE_GW: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
const PCN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const KEY: &[u8] = b"mn-aaa shared key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Fa(usize),
    Aaaf(usize),
    Aaah,
    Ha,
}

/// The FA's challenge the test mobile nodes echo.
const CHALLENGE: &[u8] = b"\x01\x02\x03\x04fa-challenge";

/// Mobile IP Registration Request with the NAI, the MN-FA Challenge and the MN-AAA
/// authentication extension (RFC 3012), as a mobile node builds it.
fn reg_request(coa: Ipv4Addr, key: &[u8]) -> (Vec<u8>, MnAaaAuth) {
    super::mn_aaa_registration(MN, HA, coa, 3600, 7, "mn@home.example", CHALLENGE, 256, key)
}

fn amr(session: &str, nai: &str, fa_host: &str, realm: &str, coa: Ipv4Addr) -> Amr {
    let (reg, auth) = reg_request(coa, KEY);
    Amr {
        session_id: session.into(),
        route: Route {
            origin_host: fa_host.into(),
            origin_realm: realm.into(),
            destination_realm: HOME.into(),
            destination_host: None,
        },
        user_name: nai.into(),
        reg_request: reg,
        mn_aaa_auth: auth,
        mn_address: Some(MN),
        ha_address: Some(HA),
        feature_vector: Some(mip_feature::FA_HA_KEY_REQUEST),
        originating_foreign_aaa: None,
        authorization_lifetime: None,
        auth_session_state: None,
        ha_to_fa_spi: None,
        old_fa: None,
        service_update: false,
        route_record: vec![],
    }
}

/// An AMR of alice through FA1 whose MN-AAA authenticator is made with a wrong key.
fn wrong_key_amr(session: &str) -> Amr {
    let mut m = amr(session, ALICE, "fa1.visited.example", VISITED, FA1);
    let (reg, auth) = reg_request(FA1, b"wrong key");
    m.reg_request = reg;
    m.mn_aaa_auth = auth;
    m
}

fn sla() -> Sla {
    Sla {
        name: "acme".into(),
        up_spi: 1000,
        down_spi: 1001,
        keys: SaKeys {
            up_enc: KeyBytes::new(vec![1; 16]),
            down_enc: KeyBytes::new(vec![2; 16]),
            up_auth: KeyBytes::new(vec![3; 20]),
            down_auth: KeyBytes::new(vec![4; 20]),
        },
        qos: Qos {
            up_tos: 0xb8,
            down_tos: 0xb8,
        },
        security: SecurityType::Esp,
        domain: vec![],
        users: vec![],
    }
}

fn subscriber(nai: &str, dest: &str, own_sa: bool) -> Subscriber {
    Subscriber {
        profiles: vec![VpnProfile {
            profile_number: 7,
            nai: Nai::parse(nai).unwrap(),
            sla: "acme".into(),
            vpnshare: if own_sa {
                VpnShare::Own
            } else {
                VpnShare::Shared
            },
            destinations: vec![dest.parse().unwrap()],
            up_class: None,
            down_class: None,
            up_spi: own_sa.then_some(5000),
            down_spi: own_sa.then_some(5001),
        }],
        slas: vec![sla()],
        cn_gw: vec![
            CnGwEntry {
                cn: "10.1.0.0/16".parse().unwrap(),
                gw: ENTERPRISE_GW,
                gw_type: GwType::Static,
            },
            CnGwEntry {
                cn: "10.2.0.0/16".parse().unwrap(),
                gw: PCN,
                gw_type: GwType::Dynamic,
            },
        ],
        mn_aaa_key: Some(KeyBytes::new(KEY.to_vec())),
    }
}

struct Net {
    now: Instant,
    fas: Vec<FaClient>,
    aaafs: Vec<Foreign>,
    aaah: Home<StdRng>,
    ha: HaClient,
    users: HashMap<String, Subscriber>,
    /// Received request id → (who sent it, its token at the sender).
    reqs: HashMap<ReqId, (Node, Token)>,
    next_req: ReqId,
    /// (from, to, command, request?) of every message.
    log: Vec<(Node, Node, u32, bool)>,
    ha_silent: bool,
    lookups_held: bool,
    events: Vec<(usize, FaEvent)>,
}

impl Net {
    fn new() -> Net {
        let mut hc = HomeConfig::new("aaah.home.example", HOME);
        hc.default_ha_host = Some("ha.home.example".into());
        hc.transaction_timeout = Duration::from_secs(5);
        Net {
            now: Instant::now(),
            fas: vec![
                FaClient::new("fa1.visited.example", VISITED, Duration::from_secs(20)),
                FaClient::new("fa2.visited.example", VISITED, Duration::from_secs(20)),
                FaClient::new("fa3.visited2.example", VISITED2, Duration::from_secs(20)),
            ],
            aaafs: vec![
                Foreign::new(ForeignConfig::new("aaaf.visited.example", VISITED)),
                Foreign::new(ForeignConfig::new("aaaf.visited2.example", VISITED2)),
            ],
            aaah: Home::new(hc, StdRng::seed_from_u64(7)),
            ha: HaClient::new(
                "ha.home.example",
                HOME,
                HA,
                Box::new(|h| HaDecision {
                    result_code: result::SUCCESS,
                    reg_reply: Some(vec![3, 0, 0, 0]),
                    mn_address: h.mn_address,
                    old_fa: None,
                }),
            ),
            users: HashMap::new(),
            reqs: HashMap::new(),
            next_req: 1,
            log: vec![],
            ha_silent: false,
            lookups_held: false,
            events: vec![],
        }
    }

    fn wire(m: &Message) -> Message {
        Message::parse(&m.emit().expect("emits")).expect("parses back")
    }

    fn deliver_request(&mut self, from: Node, token: Token, realm: &str, msg: Message) {
        let to = match (from, realm) {
            (Node::Fa(i), _) => Node::Aaaf(if i == 2 { 1 } else { 0 }),
            (Node::Aaaf(_), HOME) => Node::Aaah,
            (Node::Aaah, HOME) => Node::Ha,
            (Node::Aaaf(i), _) => {
                self.aaafs[i].handle_send_failed(self.now, token);
                return;
            }
            _ => panic!("no route from {from:?} to {realm}"),
        };
        self.log.push((from, to, msg.header.command, true));
        if to == Node::Ha && self.ha_silent {
            return;
        }
        let id = self.next_req;
        self.next_req += 1;
        self.reqs.insert(id, (from, token));
        let m = Net::wire(&msg);
        match to {
            Node::Aaaf(i) => self.aaafs[i].handle_request(self.now, id, m),
            Node::Aaah => self.aaah.handle_request(self.now, id, m),
            Node::Ha => self.ha.handle_request(self.now, id, m),
            Node::Fa(_) => unreachable!(),
        }
    }

    fn deliver_answer(&mut self, from: Node, req: ReqId, msg: Message) {
        let (to, token) = self.reqs.remove(&req).expect("answer to a known request");
        self.log.push((from, to, msg.header.command, false));
        let m = Net::wire(&msg);
        match to {
            Node::Fa(i) => self.fas[i].handle_answer(self.now, token, m),
            Node::Aaaf(i) => self.aaafs[i].handle_answer(self.now, token, m),
            Node::Aaah => self.aaah.handle_answer(self.now, token, m),
            Node::Ha => unreachable!(),
        }
    }

    fn step(&mut self, from: Node, o: Output) {
        match o {
            Output::Send { token, dest, msg } => {
                self.deliver_request(from, token, &dest.realm, msg)
            }
            Output::Answer { req, msg } => self.deliver_answer(from, req, msg),
            Output::Lookup { token, nai } => {
                if !self.lookups_held {
                    let sub = self.users.get(&nai).cloned();
                    self.aaah.handle_lookup(self.now, token, sub);
                }
            }
        }
    }

    fn run(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.fas.len() {
                while let Some(o) = self.fas[i].poll_output() {
                    moved = true;
                    self.step(Node::Fa(i), o);
                }
                while let Some(e) = self.fas[i].poll_event() {
                    self.events.push((i, e));
                }
            }
            for i in 0..self.aaafs.len() {
                while let Some(o) = self.aaafs[i].poll_output() {
                    moved = true;
                    self.step(Node::Aaaf(i), o);
                }
            }
            while let Some(o) = self.aaah.poll_output() {
                moved = true;
                self.step(Node::Aaah, o);
            }
            while let Some(o) = self.ha.poll_output() {
                moved = true;
                self.step(Node::Ha, o);
            }
            if !moved {
                return;
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        for f in &mut self.fas {
            f.handle_timeout(self.now);
        }
        for f in &mut self.aaafs {
            f.handle_timeout(self.now);
        }
        self.aaah.handle_timeout(self.now);
        self.run();
    }

    fn register(&mut self, fa: usize, a: &Amr) -> Ama {
        let t = self.fas[fa].send_amr(self.now, a);
        self.run();
        let i = self
            .events
            .iter()
            .position(|(f, e)| {
                *f == fa && matches!(e, FaEvent::Answer { token, .. } if *token == t)
            })
            .unwrap_or_else(|| panic!("no answer to the AMR: {:?}", self.events));
        match self.events.remove(i).1 {
            FaEvent::Answer { ama, .. } => *ama,
            FaEvent::Failed { .. } => unreachable!(),
        }
    }
}

const ALICE: &str = "alice@home.example";

#[test]
fn initial_registration_static_gw_amr_har_haa_ama() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    let ama = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::SUCCESS);
    // FA→AAAF→AAAH→HA and back, in this order.
    let path: Vec<_> = n.log.iter().map(|l| (l.0, l.1, l.2, l.3)).collect();
    assert_eq!(
        path,
        vec![
            (Node::Fa(0), Node::Aaaf(0), cmd::AA_MOBILE_NODE, true),
            (Node::Aaaf(0), Node::Aaah, cmd::AA_MOBILE_NODE, true),
            (Node::Aaah, Node::Ha, cmd::HOME_AGENT_MIP, true),
            (Node::Ha, Node::Aaah, cmd::HOME_AGENT_MIP, false),
            (Node::Aaah, Node::Aaaf(0), cmd::AA_MOBILE_NODE, false),
            (Node::Aaaf(0), Node::Fa(0), cmd::AA_MOBILE_NODE, false),
        ]
    );
    // The HA got both VPNs (Fig. 13 S113): FA→HA and HA→enterprise GW.
    let har = n.ha.recent.back().unwrap();
    let vpn = har.vpn.as_ref().unwrap();
    assert_eq!(vpn.profiles.len(), 2);
    assert_eq!((vpn.profiles[0].src_gw, vpn.profiles[0].dst_gw), (FA1, HA));
    assert_eq!(
        (vpn.profiles[1].src_gw, vpn.profiles[1].dst_gw),
        (HA, ENTERPRISE_GW)
    );
    assert_eq!(vpn.profiles[1].up_spi, 1000, "HA–GW uses the SLA's SA");
    assert!(
        vpn.profiles[1].keys.up_enc.is_empty(),
        "default SA: no keys sent"
    );
    assert!(har.ha_to_fa_msa.is_some(), "FA–HA key requested");
    // The FA got its VPN only, with generated keys and SPIs.
    let fa_vpn = ama.vpn.unwrap();
    assert_eq!(fa_vpn.profiles.len(), 1);
    let p = &fa_vpn.profiles[0];
    assert_eq!(
        (p.src_gw, p.dst_gw, p.dst_gw_type),
        (FA1, HA, GwType::Static)
    );
    assert_eq!(p.src, AddrMask::host(MN));
    assert_eq!(p.tos, 0xb8);
    assert_eq!(p.keys.up_enc.len(), 16);
    assert_eq!(p.keys.up_auth.len(), 20);
    assert!(p.up_spi >= 256 && p.up_spi != 5000);
    assert_eq!(
        ama.fa_to_ha_msa.unwrap().key,
        har.ha_to_fa_msa.as_ref().unwrap().key
    );
    assert_eq!(ama.reg_reply, Some(vec![3, 0, 0, 0]));
    assert_eq!(ama.old_fa, None);
    // The cache instance (Fig. 7) is kept per Session-Id; the AAAF cached per NAI.
    let s = n.aaah.session("fa1;1").unwrap();
    assert_eq!(s.entry.profiles.len(), 2);
    assert_eq!(n.aaafs[0].cached(ALICE).unwrap().fa, FA1);
    assert_eq!(n.aaah.counters().keys_generated, 1);
    assert_eq!(n.aaah.pending(), 0);
    assert_eq!(n.aaafs[0].pending(), 0);
}

#[test]
fn dynamic_gw_gives_fa_to_pcn_directly() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.2.3.0/24", true));
    let ama = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::SUCCESS);
    let har_vpn = n.ha.recent.back().unwrap().vpn.clone().unwrap();
    assert_eq!(har_vpn.profiles.len(), 1);
    let p = &har_vpn.profiles[0];
    assert_eq!(
        (p.src_gw, p.dst_gw, p.dst_gw_type),
        (FA1, PCN, GwType::Dynamic)
    );
    assert_eq!(ama.vpn.unwrap().profiles, har_vpn.profiles);
}

#[test]
fn intra_domain_move_is_answered_by_the_aaaf_cache() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    let first = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    let before = n.log.len();
    let aaah_amrs = n.aaah.counters().rx_amr;
    let mut m = amr("fa2;1", ALICE, "fa2.visited.example", VISITED, FA2);
    m.old_fa = Some(FA1);
    let ama = n.register(1, &m);
    assert_eq!(ama.result_code, result::SUCCESS);
    assert_eq!(
        n.log.len() - before,
        2,
        "only FA2→AAAF and back: {:?}",
        &n.log[before..]
    );
    assert_eq!(n.aaah.counters().rx_amr, aaah_amrs, "nothing went home");
    assert_eq!(n.aaafs[0].counters().cache_hits, 1);
    assert_eq!(ama.old_fa, Some(FA1));
    assert_eq!(ama.session_id, "fa2;1");
    let p = &ama.vpn.unwrap().profiles[0];
    assert_eq!(
        (p.src_gw, p.dst_gw),
        (FA2, HA),
        "old FA replaced by the new one"
    );
    assert_eq!(p.keys, first.vpn.unwrap().profiles[0].keys);
    assert_eq!(n.aaafs[0].cached(ALICE).unwrap().fa, FA2);
}

#[test]
fn inter_domain_move_goes_home_and_har_carries_the_old_fa() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    let lookups = n.aaah.counters().lookups;
    // FA3 in another domain, through its own AAAF: a new Session-Id.
    let ama = n.register(
        2,
        &amr("fa3;1", ALICE, "fa3.visited2.example", VISITED2, FA3),
    );
    assert_eq!(ama.result_code, result::SUCCESS);
    assert_eq!(
        n.aaah.counters().lookups,
        lookups,
        "served from the AAAH's cache"
    );
    assert_eq!(n.aaah.counters().moves, 1);
    let har = n.ha.recent.back().unwrap();
    assert_eq!(har.old_fa, Some(FA1));
    assert_eq!(har.vpn.as_ref().unwrap().profiles[0].src_gw, FA3);
    assert_eq!(har.vpn.as_ref().unwrap().profiles[1].src_gw, HA);
    assert_eq!(ama.old_fa, Some(FA1));
    assert_eq!(ama.vpn.unwrap().profiles[0].src_gw, FA3);
    assert!(n.aaah.session("fa1;1").is_none());
    assert!(n.aaah.session("fa3;1").is_some());
    // An intra-domain move claim to the first AAAF with an FA it never served goes home.
    let mut m = amr("fa2;1", ALICE, "fa2.visited.example", VISITED, FA2);
    m.old_fa = Some(FA3);
    let before = n.aaah.counters().rx_amr;
    assert_eq!(n.register(1, &m).result_code, result::SUCCESS);
    assert_eq!(n.aaah.counters().rx_amr, before + 1);
    assert_eq!(n.aaafs[0].counters().cache_hits, 0);
}

#[test]
fn unknown_user_and_bad_authenticator_are_refused_4001() {
    let mut n = Net::new();
    let ama = n.register(
        0,
        &amr(
            "fa1;1",
            "bob@home.example",
            "fa1.visited.example",
            VISITED,
            FA1,
        ),
    );
    assert_eq!(ama.result_code, result::AUTHENTICATION_REJECTED);
    assert!(ama.vpn.is_none());
    assert_eq!(n.aaah.counters().unknown_user, 1);
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    let mut m = amr("fa1;2", ALICE, "fa1.visited.example", VISITED, FA1);
    let (reg, _) = reg_request(FA1, b"wrong key");
    m.reg_request = reg;
    assert_eq!(
        n.register(0, &m).result_code,
        result::AUTHENTICATION_REJECTED
    );
    assert_eq!(n.aaah.counters().auth_failed, 1);
    assert_eq!(n.aaah.counters().tx_har, 0, "no HAR for a refused user");
    assert!(n.aaafs[0].cached(ALICE).is_none());
}

/// A registered user's next request is served from the AAAH's session cache, but never
/// without its MN-AAA authenticator (found by the mobile lab: a wrong key was accepted).
#[test]
fn a_cached_session_still_checks_the_mn_aaa_authenticator() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    let ama = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::SUCCESS);
    // The same FA again (no move: the AAAF forwards it home), with a wrong key.
    let m = wrong_key_amr("fa1;2");
    assert_eq!(
        n.register(0, &m).result_code,
        result::AUTHENTICATION_REJECTED
    );
    assert_eq!(n.aaah.counters().auth_failed, 1);
    // With the right key it is served from the cache.
    let hits = n.aaah.counters().cache_hits;
    let ama = n.register(0, &amr("fa1;3", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::SUCCESS);
    assert_eq!(n.aaah.counters().cache_hits, hits + 1);
}

/// A request with the user's NAI and a wrong MN-AAA key (4001) leaves the AAAF's cache entry
/// of the user's session alone: the next intra-domain move is still answered from the cache
/// (found by the mobile lab: any refused answer dropped the entry).
#[test]
fn a_refused_authentication_keeps_the_aaaf_cache_entry() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    let ama = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::SUCCESS);
    let m = wrong_key_amr("fa1;2");
    assert_eq!(
        n.register(0, &m).result_code,
        result::AUTHENTICATION_REJECTED
    );
    assert_eq!(n.aaafs[0].cached(ALICE).map(|e| e.fa), Some(FA1));
    let aaah_amrs = n.aaah.counters().rx_amr;
    let mut m = amr("fa2;1", ALICE, "fa2.visited.example", VISITED, FA2);
    m.old_fa = Some(FA1);
    assert_eq!(n.register(1, &m).result_code, result::SUCCESS);
    assert_eq!(n.aaah.counters().rx_amr, aaah_amrs, "nothing went home");
    assert_eq!(n.aaafs[0].counters().cache_hits, 1);
}

#[test]
fn user_without_vpn_is_5003() {
    let mut n = Net::new();
    let mut s = subscriber(ALICE, "10.1.0.0/16", true);
    s.profiles[0].sla = "nosuch".into();
    n.users.insert(ALICE.into(), s);
    let ama = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::AUTHORIZATION_REJECTED);
    assert_eq!(n.aaah.counters().not_authorized, 1);
    assert_eq!(n.aaah.counters().plain_authorized, 0);
    assert!(n.ha.recent.is_empty(), "no HAR for a refused user");
}

#[test]
fn user_without_vpn_gets_plain_mobile_ip_when_the_home_aaa_allows_it() {
    let mut n = Net::new();
    let mut hc = HomeConfig::new("aaah.home.example", HOME);
    hc.default_ha_host = Some("ha.home.example".into());
    hc.plain_mobile_ip = true;
    n.aaah = Home::new(hc, StdRng::seed_from_u64(7));
    let mut s = subscriber(ALICE, "10.1.0.0/16", true);
    s.profiles[0].sla = "nosuch".into();
    n.users.insert(ALICE.into(), s);
    let ama = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    assert_eq!(ama.result_code, result::SUCCESS);
    // The HA was asked (HAR) and neither it nor the FA got a VPN profile: no ESP, no marking;
    // the agents fall back to their plain IP-in-IP tunnel.
    let har = n.ha.recent.back().expect("a HAR went to the HA");
    assert!(
        har.vpn.as_ref().is_none_or(|v| v.profiles.is_empty()),
        "{:?}",
        har.vpn
    );
    assert!(
        ama.vpn.as_ref().is_none_or(|v| v.profiles.is_empty()),
        "{:?}",
        ama.vpn
    );
    assert_eq!(ama.reg_reply, Some(vec![3, 0, 0, 0]));
    assert_eq!(n.aaah.counters().plain_authorized, 1);
    assert_eq!(n.aaah.counters().not_authorized, 0);
    assert_eq!(n.aaah.session("fa1;1").unwrap().entry.profiles.len(), 0);
    // Still authenticated: a wrong MN-AAA key is refused as before.
    let m = wrong_key_amr("fa1;2");
    assert_eq!(
        n.register(0, &m).result_code,
        result::AUTHENTICATION_REJECTED
    );
}

#[test]
fn silent_home_agent_times_out_3002_and_no_session_stays() {
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    n.ha_silent = true;
    let t = n.fas[0].send_amr(
        n.now,
        &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1),
    );
    n.run();
    assert!(n.events.is_empty());
    assert_eq!(n.aaah.pending(), 1);
    n.advance(Duration::from_secs(4));
    assert!(n.events.is_empty());
    n.advance(Duration::from_secs(2));
    match &n.events[..] {
        [(0, FaEvent::Answer { token, ama })] => {
            assert_eq!(*token, t);
            assert_eq!(ama.result_code, result::UNABLE_TO_DELIVER);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(n.aaah.counters().timeouts, 1);
    assert_eq!(n.aaah.sessions(), 0);
    assert_eq!(n.aaah.pending(), 0);
}

#[test]
fn unreachable_home_realm_is_3002_and_slow_lookup_times_out() {
    let mut n = Net::new();
    let mut m = amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1);
    m.route.destination_realm = "nowhere.example".into();
    let ama = n.register(0, &m);
    assert_eq!(ama.result_code, result::UNABLE_TO_DELIVER);
    assert_eq!(ama.session_id, "fa1;1");
    assert_eq!(n.aaafs[0].counters().unreachable, 1);
    // A database that never answers: the AAAH answers 3002 at its deadline.
    n.lookups_held = true;
    n.fas[0].send_amr(
        n.now,
        &amr("fa1;2", ALICE, "fa1.visited.example", VISITED, FA1),
    );
    n.run();
    n.advance(Duration::from_secs(6));
    assert!(
        matches!(&n.events[..], [(0, FaEvent::Answer { ama, .. })] if ama.result_code == result::UNABLE_TO_DELIVER)
    );
    // The FA's own timeout when nobody answers at all.
    let mut fa = FaClient::new("fa", VISITED, Duration::from_secs(3));
    let t = fa.send_amr(n.now, &amr("x;1", ALICE, "fa", VISITED, FA1));
    assert!(fa.poll_output().is_some());
    fa.handle_timeout(n.now + Duration::from_secs(3));
    assert_eq!(
        fa.poll_event(),
        Some(FaEvent::Failed {
            token: t,
            why: "timed out".into()
        })
    );
}

#[test]
fn keys_are_unique_per_session_and_default_spi_generates_none() {
    let mut n = Net::new();
    let carol = "carol@home.example";
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    n.users
        .insert(carol.into(), subscriber(carol, "10.1.0.0/16", true));
    let a = n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    let c = n.register(0, &amr("fa1;2", carol, "fa1.visited.example", VISITED, FA1));
    let (pa, pc) = (&a.vpn.unwrap().profiles[0], &c.vpn.unwrap().profiles[0]);
    assert_ne!(pa.keys.up_enc, pc.keys.up_enc);
    assert_ne!(pa.keys.down_auth, pc.keys.down_auth);
    assert_ne!(pa.keys.up_enc, pa.keys.down_enc);
    assert_ne!(pa.up_spi, pc.up_spi);
    assert_ne!(a.fa_to_ha_msa.unwrap().key, c.fa_to_ha_msa.unwrap().key);
    assert_eq!(n.aaah.counters().keys_generated, 2);
    // Service update (Fig. 30) re-reads the database: fresh keys for the same session.
    let mut m = amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1);
    m.service_update = true;
    let again = n.register(0, &m);
    assert_ne!(again.vpn.unwrap().profiles[0].keys.up_enc, pa.keys.up_enc);
    assert_eq!(n.aaah.counters().service_updates, 1);
    // Default SA (shared): the SLA's SPIs, no keys, no generation.
    let dave = "dave@home.example";
    n.users
        .insert(dave.into(), subscriber(dave, "10.1.0.0/16", false));
    let d = n.register(0, &amr("fa1;3", dave, "fa1.visited.example", VISITED, FA1));
    let pd = &d.vpn.unwrap().profiles[0];
    assert_eq!((pd.up_spi, pd.down_spi), (1000, 1001));
    assert_eq!(pd.keys, SaKeys::default());
    assert_eq!(n.aaah.counters().keys_generated, 3);
}

fn home_alone() -> Home<StdRng> {
    Home::new(
        HomeConfig::new("aaah.home.example", HOME),
        StdRng::seed_from_u64(1),
    )
}

fn only_answer(o: Option<Output>) -> Message {
    match o {
        Some(Output::Answer { msg, .. }) => msg,
        o => panic!("{o:?}"),
    }
}

fn result_of(m: &Message) -> u32 {
    m.find(code::RESULT_CODE).unwrap().as_u32().unwrap()
}

#[test]
fn malformed_requests_get_the_right_result_codes() {
    let now = Instant::now();
    let mut h = home_alone();
    let good = amr("s;1", ALICE, "fa", VISITED, FA1).to_message();
    // Missing User-Name: 5005 with an example User-Name in Failed-AVP.
    let mut m = good.clone();
    m.avps.retain(|a| a.code != code::USER_NAME);
    h.handle_request(now, 1, m);
    let a = only_answer(h.poll_output());
    assert_eq!(result_of(&a), result::MISSING_AVP);
    let failed = a.find(code::FAILED_AVP).unwrap().as_grouped().unwrap();
    assert_eq!(failed[0].code, code::USER_NAME);
    assert_eq!(a.find(code::SESSION_ID).unwrap().as_utf8().unwrap(), "s;1");
    // Unknown mandatory vendor AVP: 5001 with it in Failed-AVP.
    let m = good.clone().with(Avp::u32(999, 1).with_vendor(VENDOR_ID));
    h.handle_request(now, 2, m);
    let a = only_answer(h.poll_output());
    assert_eq!(result_of(&a), result::AVP_UNSUPPORTED);
    assert_eq!(
        a.find(code::FAILED_AVP).unwrap().as_grouped().unwrap()[0].code,
        999
    );
    // The same AVP without the M bit passes the check (and the user is unknown: lookup).
    h.handle_request(
        now,
        3,
        good.clone()
            .with(Avp::u32(999, 1).with_vendor(VENDOR_ID).optional()),
    );
    assert!(matches!(h.poll_output(), Some(Output::Lookup { .. })));
    // An Old-FA-Address of 3 bytes: 5014.
    let m = good
        .clone()
        .with(Avp::new(OLD_FA_ADDRESS, vec![0, 1, 9]).with_vendor(VENDOR_ID));
    h.handle_request(now, 4, m);
    assert_eq!(
        result_of(&only_answer(h.poll_output())),
        result::INVALID_AVP_LENGTH
    );
    // MIP-Reg-Request that is not a Registration Request: 5004.
    let mut m = good.clone();
    for a in &mut m.avps {
        if a.code == code::MIP_REG_REQUEST {
            a.data = vec![3, 0];
        }
    }
    h.handle_request(now, 5, m);
    assert_eq!(
        result_of(&only_answer(h.poll_output())),
        result::INVALID_AVP_VALUE
    );
    // A HAR sent to the AAAH, another application, Session-Id not first.
    let mut m = good.clone();
    m.header.command = cmd::HOME_AGENT_MIP;
    h.handle_request(now, 6, m);
    let a = only_answer(h.poll_output());
    assert_eq!(result_of(&a), result::COMMAND_UNSUPPORTED);
    assert!(a.header.error);
    let mut m = good.clone();
    m.header.application = app::BASE_ACCOUNTING;
    h.handle_request(now, 7, m);
    assert_eq!(
        result_of(&only_answer(h.poll_output())),
        result::APPLICATION_UNSUPPORTED
    );
    let mut m = good.clone();
    m.avps.swap(0, 1);
    h.handle_request(now, 8, m);
    assert_eq!(
        result_of(&only_answer(h.poll_output())),
        result::INVALID_AVP_VALUE
    );
    assert!(h.poll_output().is_none());
    assert_eq!(h.counters().malformed, 3 + 1);
    // Another realm's user: 3003 DIAMETER_REALM_NOT_SERVED (E bit).
    let mut other = amr("s;9", ALICE, "fa", VISITED, FA1);
    other.route.destination_realm = "elsewhere.example".into();
    h.handle_request(now, 9, other.to_message());
    let a = only_answer(h.poll_output());
    assert_eq!(result_of(&a), result::REALM_NOT_SERVED);
    assert!(a.header.error);
    // The HA side answers a HAR without MIP-Feature-Vector with 5005.
    let mut ha = HaClient::new("ha", HOME, HA, Box::new(|_| unreachable!("not asked")));
    let mut n = Net::new();
    n.users
        .insert(ALICE.into(), subscriber(ALICE, "10.1.0.0/16", true));
    n.register(0, &amr("fa1;1", ALICE, "fa1.visited.example", VISITED, FA1));
    let mut har = n.ha.recent.back().unwrap().to_message();
    har.avps.retain(|a| a.code != code::MIP_FEATURE_VECTOR);
    ha.handle_request(now, 1, har);
    assert_eq!(
        result_of(&only_answer(ha.poll_output())),
        result::MISSING_AVP
    );
    // Answers to nothing are counted, not fatal.
    h.handle_answer(now, 4242, good);
    h.handle_send_failed(now, 4243);
    assert_eq!(h.counters().unmatched, 2);
}

#[test]
fn hostile_byte_strings_never_panic_the_engines() {
    use rand::Rng as _;
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(99);
    let good = amr("s;1", ALICE, "fa", VISITED, FA1)
        .to_message()
        .emit()
        .unwrap();
    let mut h = home_alone();
    let mut f = Foreign::new(ForeignConfig::new("aaaf", VISITED));
    for i in 0..3000u64 {
        let mut b = good.clone();
        for _ in 0..(1 + rng.next_u32() % 4) {
            let k = (rng.next_u32() as usize) % b.len();
            b[k] = rng.next_u32() as u8;
        }
        if let Ok(m) = Message::parse(&b) {
            h.handle_request(now, i, m.clone());
            f.handle_request(now, i, m);
        }
        while let Some(o) = h.poll_output() {
            if let Output::Lookup { token, .. } = o {
                h.handle_lookup(now, token, Some(subscriber(ALICE, "10.1.0.0/16", true)));
            }
        }
        while f.poll_output().is_some() {}
    }
    h.handle_timeout(now + Duration::from_secs(3600 * 2));
    f.handle_timeout(now + Duration::from_secs(3600 * 2));
}

#[test]
fn a_failed_database_lookup_is_answered_unable_to_comply_not_unknown_user() {
    let now = Instant::now();
    let mut h = home_alone();
    h.handle_request(now, 1, amr("s;db", ALICE, "fa", VISITED, FA1).to_message());
    let token = match h.poll_output() {
        Some(Output::Lookup { token, .. }) => token,
        o => panic!("expected a lookup, got {o:?}"),
    };
    h.handle_lookup_failed(now, token);
    match h.poll_output() {
        Some(Output::Answer { req: 1, msg }) => {
            let ama = Ama::parse(&msg).unwrap();
            assert_eq!(ama.result_code, result::UNABLE_TO_COMPLY);
        }
        o => panic!("expected the AMA, got {o:?}"),
    }
    assert_eq!(h.counters().lookup_failed, 1);
    assert_eq!(h.counters().unknown_user, 0);
    assert_eq!(h.pending(), 0);
    // A second report for the finished transaction is only counted.
    h.handle_lookup_failed(now, token);
    assert_eq!(h.counters().lookup_failed, 1);
    assert!(h.poll_output().is_none());
}

#[test]
fn mn_aaa_registration_is_what_the_aaah_authenticates() {
    let (reg, auth) =
        super::mn_aaa_registration(MN, HA, FA1, 3600, 7, "mn@home.example", CHALLENGE, 256, KEY);
    let info = crate::diameter::mip4::RegRequestInfo::parse(&reg).unwrap();
    assert_eq!(
        (
            info.home_address,
            info.home_agent,
            info.care_of_address,
            info.lifetime
        ),
        (MN, HA, FA1, 3600)
    );
    // 24 fixed + NAI (2 + 15) + challenge (2 + 16) + MN-AAA header (8) = 67 covered bytes.
    assert_eq!(
        (
            auth.input_len,
            auth.authenticator_offset,
            auth.authenticator_len
        ),
        (67, 67, 16)
    );
    assert_eq!(reg.len(), 83);
    // RFC 3012 §8 by hand: MD5(challenge[0] || key || MD5(covered) || challenge), the
    // challenge being shorter than 238 bytes (its least-order 237 bytes are all of it).
    let inner = Md5::digest(&reg[..67]);
    let mut h = Md5::new();
    h.update([CHALLENGE[0]]);
    h.update(KEY);
    h.update(inner);
    h.update(CHALLENGE);
    assert_eq!(&reg[67..], h.finalize().as_slice());
    assert_eq!(
        crate::mip::auth::verify_mn_aaa(KEY, &reg, Some(&auth)),
        Ok(256)
    );
    // A different challenge, key or any covered byte changes the answer.
    assert!(crate::mip::auth::verify_mn_aaa(b"other key", &reg, Some(&auth)).is_err());
    for i in 0..67 {
        let mut r = reg.clone();
        r[i] ^= 0x40;
        assert!(
            crate::mip::auth::verify_mn_aaa(KEY, &r, Some(&auth)).is_err(),
            "byte {i} is covered"
        );
    }
    // Offsets that point elsewhere are refused even with a right authenticator.
    let mut off = auth;
    off.input_len = 24;
    assert!(matches!(
        crate::mip::auth::verify_mn_aaa(KEY, &reg, Some(&off)),
        Err(crate::mip::auth::AuthError::OffsetMismatch { .. })
    ));
}

/// One registration through a lone AAAH and an HA client answering `code`: the AMA's
/// Result-Code.
fn register_alone(h: &mut Home<StdRng>, now: Instant, sid: &str, coa: Ipv4Addr, code: u32) -> u32 {
    let mut ha = HaClient::new(
        "ha.home.example",
        HOME,
        HA,
        Box::new(move |_| HaDecision {
            result_code: code,
            reg_reply: None,
            mn_address: None,
            old_fa: None,
        }),
    );
    h.handle_request(now, 1, amr(sid, ALICE, "fa", VISITED, coa).to_message());
    loop {
        match h.poll_output() {
            Some(Output::Lookup { token, .. }) => {
                h.handle_lookup(now, token, Some(subscriber(ALICE, "10.1.0.0/16", true)))
            }
            Some(Output::Send { token, msg, .. }) => {
                let msg = Message::parse(&msg.emit().unwrap()).unwrap();
                ha.handle_request(now, 9, msg);
                match ha.poll_output() {
                    Some(Output::Answer { msg, .. }) => h.handle_answer(now, token, msg),
                    o => panic!("HA: {o:?}"),
                }
            }
            Some(Output::Answer { msg, .. }) => return Ama::parse(&msg).unwrap().result_code,
            None => panic!("no AMA"),
        }
    }
}

#[test]
fn session_events_follow_the_sessions_life() {
    use super::home::SessionEvent;
    let mut cfg = HomeConfig::new("aaah.home.example", HOME);
    cfg.default_ha_host = Some("ha.home.example".into());
    cfg.session_events = true;
    cfg.authorization_lifetime = 60;
    let mut h = Home::new(cfg, StdRng::seed_from_u64(3));
    let now = Instant::now();
    let up = |h: &mut Home<StdRng>| match h.poll_session_event() {
        Some(SessionEvent::Up(s)) => (s.entry.session_id.clone(), s.fa),
        e => panic!("expected up, got {e:?}"),
    };
    let down = |h: &mut Home<StdRng>| match h.poll_session_event() {
        Some(SessionEvent::Down { session_id }) => session_id,
        e => panic!("expected down, got {e:?}"),
    };
    assert_eq!(
        register_alone(&mut h, now, "s;1", FA1, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(up(&mut h), ("s;1".to_string(), FA1));
    assert!(h.poll_session_event().is_none());
    // Re-registration under the same Session-Id from the cache: up again, no down.
    assert_eq!(
        register_alone(&mut h, now, "s;1", FA1, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(up(&mut h), ("s;1".to_string(), FA1));
    assert!(h.poll_session_event().is_none());
    // A move under a new Session-Id: the old one goes down, the new one comes up at FA2.
    assert_eq!(
        register_alone(&mut h, now, "s;2", FA2, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(down(&mut h), "s;1");
    assert_eq!(up(&mut h), ("s;2".to_string(), FA2));
    // The HA refuses the next re-registration: the session is gone.
    assert_eq!(register_alone(&mut h, now, "s;2", FA2, 4005), 4005);
    assert_eq!(down(&mut h), "s;2");
    assert!(h.poll_session_event().is_none());
    // A new session expires.
    assert_eq!(
        register_alone(&mut h, now, "s;3", FA1, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(up(&mut h).0, "s;3");
    h.handle_timeout(now + Duration::from_secs(61));
    assert_eq!(down(&mut h), "s;3");
    assert_eq!(h.sessions(), 0);
    // Without session_events nothing queues.
    let mut c = HomeConfig::new("aaah.home.example", HOME);
    c.default_ha_host = Some("ha.home.example".into());
    let mut quiet = Home::new(c, StdRng::seed_from_u64(4));
    assert_eq!(
        register_alone(&mut quiet, now, "q;1", FA1, result::SUCCESS),
        result::SUCCESS
    );
    assert!(quiet.poll_session_event().is_none());
}

#[test]
fn the_expiry_index_follows_re_registrations_and_moves() {
    let mut cfg = HomeConfig::new("aaah.home.example", HOME);
    cfg.default_ha_host = Some("ha.home.example".into());
    cfg.authorization_lifetime = 60;
    let mut h = Home::new(cfg, StdRng::seed_from_u64(5));
    let t0 = Instant::now();
    let s = Duration::from_secs;
    assert_eq!(
        register_alone(&mut h, t0, "e;1", FA1, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(h.poll_timeout(), Some(t0 + s(60)));
    // Re-registration: the old expiry is gone from the index, not only superseded.
    assert_eq!(
        register_alone(&mut h, t0 + s(10), "e;1", FA1, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(h.poll_timeout(), Some(t0 + s(70)));
    // A move under a new Session-Id replaces the session.
    assert_eq!(
        register_alone(&mut h, t0 + s(20), "e;2", FA2, result::SUCCESS),
        result::SUCCESS
    );
    assert_eq!(h.poll_timeout(), Some(t0 + s(80)));
    assert_eq!(h.sessions(), 1);
    h.handle_timeout(t0 + s(79));
    assert_eq!(h.sessions(), 1);
    h.handle_timeout(t0 + s(80));
    assert_eq!(h.sessions(), 0);
    assert_eq!(h.poll_timeout(), None);
    assert_eq!(h.counters().sessions_expired, 1);
}
