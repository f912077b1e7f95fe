//! Bindings held by one home agent and what they cost: registers N mobile nodes with the
//! [`Ha`] engine through HARs (as the AAAH sends them: the Registration Request and one ESP
//! VPN profile FA–HA each) and prints the resident memory per binding and the HAR rate of
//! the engine alone (no Diameter transport, no AAAH).
//!
//! `cargo run --release -p controlplane --example mip_ha_capacity -- 100000`
//! (Linux: memory from /proc/self/statm.)

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use controlplane::diameter::mip4::{Har, Route, VpnInfo};
use controlplane::diameter::wire::codes::result;
use controlplane::diameter::wire::Message;
use controlplane::mip::ha::{Ha, HaConfig};
use controlplane::mip::mn::MnRegistration;
use controlplane::mip::wire::ntp::NtpClock;
use controlplane::mip::{Output, Sa};
use vpndb::model::{AddrMask, GwType, KeyBytes, SaKeys, SecurityType, VpnCacheProfile};

const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The HAR the AAAH sends for user `i` (one ESP profile FA–HA).
fn har(i: u32, clock: &NtpClock, start: Instant, key: &Sa) -> Message {
    let home = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i);
    let nai = format!("user{i}@home.example");
    let reg = MnRegistration {
        flags: 0,
        lifetime: 3600,
        home_address: home,
        home_agent: HA,
        care_of_address: FA,
        identification: clock.at(start),
        nai: &nai,
        challenge: b"challenge",
        previous_fa: None,
        service_update: false,
        mn_ha: None,
        mn_aaa: key,
    }
    .build()
    .expect("encodes");
    let profile = VpnCacheProfile {
        profile_number: i,
        src: AddrMask::new(home, Ipv4Addr::BROADCAST).expect("host mask"),
        dst: AddrMask::new(Ipv4Addr::new(10, 1, 0, 0), Ipv4Addr::new(255, 255, 0, 0))
            .expect("contiguous"),
        tos: 184,
        security: SecurityType::Esp,
        src_gw: FA,
        dst_gw: HA,
        dst_gw_type: GwType::Static,
        up_spi: 5000 + 2 * i,
        down_spi: 5001 + 2 * i,
        keys: SaKeys {
            up_enc: KeyBytes::new(vec![1; 16]),
            down_enc: KeyBytes::new(vec![2; 16]),
            up_auth: KeyBytes::new(vec![3; 20]),
            down_auth: KeyBytes::new(vec![4; 20]),
        },
    };
    Har {
        session_id: format!("fa.visited.example;{nai};{i}"),
        route: Route {
            origin_host: "aaah.home.example".into(),
            origin_realm: "home.example".into(),
            destination_realm: "home.example".into(),
            destination_host: Some("ha.home.example".into()),
        },
        authorization_lifetime: 3600,
        auth_session_state: 1,
        reg_request: reg,
        user_name: nai,
        feature_vector: 0,
        ha_to_fa_msa: None,
        msa_lifetime: None,
        originating_foreign_aaa: None,
        mn_address: Some(home),
        ha_address: Some(HA),
        vpn: Some(VpnInfo {
            profiles: vec![profile],
        }),
        old_fa: None,
    }
    .to_message()
}

/// Takes the HA's outputs; 1 when one of them is a successful HAA.
fn drain(ha: &mut Ha) -> u64 {
    let mut ok = 0;
    while let Some(o) = ha.poll_output() {
        if let Output::Aaa(controlplane::aaa::Output::Answer { msg, .. }) = o {
            if msg
                .find(controlplane::diameter::wire::codes::code::RESULT_CODE)
                .and_then(|a| a.as_u32().ok())
                == Some(result::SUCCESS)
            {
                ok += 1;
            }
        }
    }
    ok
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let start = Instant::now();
    let clock = NtpClock {
        epoch: start,
        epoch_ntp: 3_973_795_200u64 << 32,
    };
    let key = Sa {
        spi: 256,
        key: b"mn-aaa shared key".to_vec(),
    };
    let mut cfg = HaConfig::new(HA, "ha.home.example", "home.example", clock);
    cfg.max_bindings = n as usize;
    // Memory: a fresh HA, each HAR built just before it is handed in (so freed HARs are
    // not reused by the bindings and hide their cost).
    let before = rss_bytes();
    let mut ha = Ha::new(cfg.clone());
    for i in 1..=n {
        ha.handle_diameter_request(start, u64::from(i), har(i, &clock, start, &key));
        drain(&mut ha);
    }
    let after = rss_bytes();
    let held = ha.binding_count();
    drop(ha);
    // Rate: HARs built beforehand, only the engine timed.
    let hars: Vec<Message> = (1..=n).map(|i| har(i, &clock, start, &key)).collect();
    let mut ha = Ha::new(cfg);
    let t = Instant::now();
    let mut ok = 0u64;
    for (i, m) in hars.into_iter().enumerate() {
        ha.handle_diameter_request(start + Duration::from_micros(i as u64), i as u64, m);
        ok += drain(&mut ha);
    }
    let took = t.elapsed();
    println!(
        "bindings {} held; rate run: {ok} accepted, HARs/s {:.0}, RSS +{:.1} MiB, {:.0} bytes per binding",
        held,
        f64::from(n) / took.as_secs_f64(),
        (after.saturating_sub(before)) as f64 / (1 << 20) as f64,
        after.saturating_sub(before) as f64 / f64::from(n)
    );
}
