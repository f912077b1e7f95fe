//! The AAA engines on real TCP connections over loopback (`aaa::driver::Node` on the
//! Diameter peer engine): FA → AAAF → AAAH → HA, each a node with its own CER/CEA, then an
//! intra-domain move answered by the AAAF and a user the AAAH does not know.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use controlplane::aaa::client::{FaClient, FaEvent, HaClient, HaDecision};
use controlplane::aaa::driver::Node;
use controlplane::aaa::foreign::{Foreign, ForeignConfig};
use controlplane::aaa::home::{Home, HomeConfig, Subscriber};
use controlplane::diameter::mip4::{self, Ama, Amr, Route};
use controlplane::diameter::peer::Config;
use controlplane::diameter::wire::codes::result;
use rand::rngs::StdRng;
use vpndb::model::{
    CnGwEntry, GwType, KeyBytes, Nai, Qos, SaKeys, SecurityType, Sla, VpnProfile, VpnShare,
};

const KEY: &[u8] = b"loopback key";
const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

fn cfg(host: &str, realm: &str) -> Config {
    let mut c = Config::new(host, realm);
    c.known_avp = mip4::known_avp;
    c.supported_vendor_ids = vec![mip4::VENDOR_ID];
    c
}

fn amr(session: &str, nai: &str, coa: Ipv4Addr, old_fa: Option<Ipv4Addr>) -> Amr {
    // The mobile node's Request with the FA's challenge and MN-AAA (RFC 3012).
    let (b, mn_aaa_auth) = controlplane::aaa::mn_aaa_registration(
        Ipv4Addr::new(10, 200, 0, 5),
        HA,
        coa,
        3600,
        0,
        nai,
        b"fa challenge",
        256,
        KEY,
    );
    Amr {
        session_id: session.into(),
        route: Route {
            origin_host: "fa.visited.example".into(),
            origin_realm: "visited.example".into(),
            destination_realm: "home.example".into(),
            destination_host: None,
        },
        user_name: nai.into(),
        reg_request: b,
        mn_aaa_auth,
        mn_address: None,
        ha_address: None,
        feature_vector: None,
        originating_foreign_aaa: None,
        authorization_lifetime: None,
        auth_session_state: None,
        ha_to_fa_spi: None,
        old_fa,
        service_update: false,
        route_record: vec![],
    }
}

fn lookup(nai: &str) -> Option<Subscriber> {
    (nai == "alice@home.example").then(|| Subscriber {
        profiles: vec![VpnProfile {
            profile_number: 1,
            nai: Nai::parse(nai).unwrap(),
            sla: "acme".into(),
            vpnshare: VpnShare::Own,
            destinations: vec!["10.2.0.0/16".parse().unwrap()],
            up_class: None,
            down_class: None,
            up_spi: Some(300),
            down_spi: Some(301),
        }],
        slas: vec![Sla {
            name: "acme".into(),
            up_spi: 1000,
            down_spi: 1001,
            keys: SaKeys::default(),
            qos: Qos::default(),
            security: SecurityType::Ah,
            domain: vec![],
            users: vec![],
        }],
        cn_gw: vec![CnGwEntry {
            cn: "10.2.0.0/16".parse().unwrap(),
            gw: Ipv4Addr::new(203, 0, 113, 9),
            gw_type: GwType::Dynamic,
        }],
        mn_aaa_key: Some(KeyBytes::new(KEY.to_vec())),
    })
}

struct Lab {
    ha: Node<HaClient>,
    aaah: Node<Home<StdRng>>,
    aaaf: Node<Foreign>,
    fa: Node<FaClient>,
}

impl Lab {
    fn poll(&mut self) {
        let now = Instant::now();
        self.ha.poll(now);
        self.aaah.poll(now);
        self.aaaf.poll(now);
        self.fa.poll(now);
    }
    fn until<T>(&mut self, what: &str, mut f: impl FnMut(&mut Lab) -> Option<T>) -> T {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            self.poll();
            if let Some(t) = f(self) {
                return t;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    fn register(&mut self, a: &Amr) -> Ama {
        let t = self.fa.engine_mut().send_amr(Instant::now(), a);
        self.until("the AMA", |l| match l.fa.engine_mut().poll_event() {
            Some(FaEvent::Answer { token, ama }) if token == t => Some(*ama),
            Some(e) => panic!("{e:?}"),
            None => None,
        })
    }
}

#[test]
fn fa_aaaf_aaah_ha_over_loopback_tcp() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let decide = Box::new(|_: &_| HaDecision {
        result_code: result::SUCCESS,
        reg_reply: Some(vec![3, 0]),
        mn_address: None,
        old_fa: None,
    });
    let ha = Node::new(
        HaClient::new("ha.home.example", "home.example", HA, decide),
        cfg("ha.home.example", "home.example"),
        Some(any),
        Box::new(|_| Ok(None)),
    )
    .unwrap();
    let mut hc = HomeConfig::new("aaah.home.example", "home.example");
    hc.default_ha_host = Some("ha.home.example".into());
    let mut aaah = Node::new(
        Home::new(hc, rand::make_rng()),
        cfg("aaah.home.example", "home.example"),
        Some(any),
        Box::new(|n: &str| Ok(lookup(n))),
    )
    .unwrap();
    let mut aaaf = Node::new(
        Foreign::new(ForeignConfig::new(
            "aaaf.visited.example",
            "visited.example",
        )),
        cfg("aaaf.visited.example", "visited.example"),
        Some(any),
        Box::new(|_| Ok(None)),
    )
    .unwrap();
    let mut fa = Node::new(
        FaClient::new(
            "fa.visited.example",
            "visited.example",
            Duration::from_secs(5),
        ),
        cfg("fa.visited.example", "visited.example"),
        None,
        Box::new(|_| Ok(None)),
    )
    .unwrap();
    let now = Instant::now();
    aaah.connect(ha.local_addr().unwrap(), Duration::from_secs(1), now);
    aaaf.connect(aaah.local_addr().unwrap(), Duration::from_secs(1), now);
    fa.connect(aaaf.local_addr().unwrap(), Duration::from_secs(1), now);
    let mut lab = Lab { ha, aaah, aaaf, fa };
    lab.until("every connection open", |l| {
        (l.fa.open_peers().len() == 1
            && l.aaaf.open_peers().len() == 2
            && l.aaah.open_peers().len() == 2)
            .then_some(())
    });

    let fa1 = Ipv4Addr::new(192, 0, 2, 1);
    let ama = lab.register(&amr("fa;1", "alice@home.example", fa1, None));
    assert_eq!(ama.result_code, result::SUCCESS);
    let p = &ama.vpn.as_ref().unwrap().profiles[0];
    assert_eq!(
        (p.src_gw, p.dst_gw, p.dst_gw_type),
        (fa1, Ipv4Addr::new(203, 0, 113, 9), GwType::Dynamic)
    );
    assert_eq!(p.keys.up_auth.len(), 20);
    assert!(p.keys.up_enc.is_empty(), "AH: no encryption key");
    assert_eq!(lab.ha.engine().counters().rx_har, 1);

    // Intra-domain move: answered by the AAAF, nothing more reaches the AAAH.
    let fa2 = Ipv4Addr::new(192, 0, 2, 2);
    let moved = lab.register(&amr("fa;2", "alice@home.example", fa2, Some(fa1)));
    assert_eq!(moved.result_code, result::SUCCESS);
    assert_eq!(moved.old_fa, Some(fa1));
    assert_eq!(moved.vpn.unwrap().profiles[0].src_gw, fa2);
    assert_eq!(lab.aaah.engine().counters().rx_amr, 1);
    assert_eq!(lab.aaaf.engine().counters().cache_hits, 1);

    // Unknown user: 4001 from the AAAH, relayed.
    let bad = lab.register(&amr("fa;3", "mallory@home.example", fa1, None));
    assert_eq!(bad.result_code, result::AUTHENTICATION_REJECTED);
    assert_eq!(lab.aaah.engine().counters().unknown_user, 1);
    assert_eq!(lab.aaah.counters().no_route, 0);
}
