//! Prints Mobile IPv4 messages as our code builds them, one `label hex` per line, for
//! decoders to check (`scripts/test.d/52-mip-tshark.sh` feeds them to tshark): the mobile
//! node's Registration Request (NAI, Previous FA Notification, MN-HA, challenge, MN-AAA) as
//! the FA relays it with FA-HA, the HA's Reply (MN-HA), the FA's Agent Advertisement, and a
//! Binding Update / Acknowledge with a VPN profile.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use controlplane::mip::auth;
use controlplane::mip::fa::{Fa, FaConfig};
use controlplane::mip::ha::{build_ba, build_bu, Ha, HaConfig};
use controlplane::mip::mn::MnRegistration;
use controlplane::mip::wire::advert::Advertisement;
use controlplane::mip::wire::ext::kind;
use controlplane::mip::wire::ntp::NtpClock;
use controlplane::mip::wire::registration::Request;
use controlplane::mip::{Output, Sa};
use rand::rngs::StdRng;
use rand::SeedableRng;
use vpndb::model::{AddrMask, GwType, KeyBytes, SaKeys, SecurityType, VpnCacheProfile};

const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OLD_FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const MN: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 5);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let t0 = Instant::now();
    let clock = NtpClock {
        epoch: t0,
        epoch_ntp: 3_973_795_200u64 << 32,
    };
    let mut fa = Fa::new(
        FaConfig::new(FA, "fa1.visited.example", "visited.example", clock),
        StdRng::seed_from_u64(1),
    );
    let adv = fa.advertisement(t0);
    println!("advertisement {}", hex(&adv));
    let challenge = Advertisement::parse(&adv)
        .expect("our advertisement parses")
        .challenge
        .expect("with a challenge");
    let mn_ha = Sa {
        spi: 0x1000,
        key: b"mn-ha key".to_vec(),
    };
    let mn_aaa = Sa {
        spi: 0x1001,
        key: b"mn-aaa key".to_vec(),
    };
    let req = MnRegistration {
        flags: 0x02,
        lifetime: 600,
        home_address: MN,
        home_agent: HA,
        care_of_address: FA,
        identification: clock.at(t0),
        nai: "alice@home.example",
        challenge: &challenge,
        previous_fa: Some((OLD_FA, 10)),
        service_update: false,
        mn_ha: Some(&mn_ha),
        mn_aaa: &mn_aaa,
    }
    .build()
    .expect("encodes");
    println!("request {}", hex(&req));
    // As the FA relays it to the HA: its FA-HA extension appended.
    let fa_ha = Sa {
        spi: 0x2000,
        key: b"fa-ha key".to_vec(),
    };
    let parsed = Request::parse(&req).expect("parses");
    let mut exts: Vec<_> = parsed.extensions.iter().map(|l| l.ext.clone()).collect();
    exts.push(auth::auth_placeholder(kind::FA_HA_AUTH, fa_ha.spi));
    let n = exts.len() - 1;
    let relayed =
        auth::seal(parsed.fixed(), &exts, n, |c| auth::hmac_md5(&fa_ha.key, c)).expect("seals");
    println!("relayed {}", hex(&relayed));
    let mut ha = Ha::new(HaConfig::new(HA, "ha.home.example", "home.example", clock));
    ha.set_mn_ha(MN, mn_ha);
    ha.handle_datagram(t0, SocketAddrV4::new(FA, 434), &relayed);
    while let Some(o) = ha.poll_output() {
        if let Output::Send { bytes, .. } = o {
            println!("reply {}", hex(&bytes));
        }
    }
    let profile = VpnCacheProfile {
        profile_number: 1,
        src: AddrMask::new(MN, Ipv4Addr::BROADCAST).expect("host"),
        dst: AddrMask::new(Ipv4Addr::new(10, 2, 0, 0), Ipv4Addr::new(255, 255, 0, 0))
            .expect("contiguous"),
        tos: 184,
        security: SecurityType::Esp,
        src_gw: FA,
        dst_gw: Ipv4Addr::new(203, 0, 113, 9),
        dst_gw_type: GwType::Dynamic,
        up_spi: 5000,
        down_spi: 5001,
        keys: SaKeys {
            up_enc: KeyBytes::new(vec![1; 16]),
            down_enc: KeyBytes::new(vec![2; 16]),
            up_auth: KeyBytes::new(vec![3; 20]),
            down_auth: KeyBytes::new(vec![4; 20]),
        },
    };
    let ro = Sa {
        spi: 0x3000,
        key: b"ha-pcn key".to_vec(),
    };
    let id = clock.at(t0);
    println!(
        "binding-update {}",
        hex(&build_bu(MN, FA, 600, id, &[&profile], &ro).expect("encodes"))
    );
    println!(
        "binding-ack {}",
        hex(&build_ba(0, MN, 600, id, &ro).expect("encodes"))
    );
}
