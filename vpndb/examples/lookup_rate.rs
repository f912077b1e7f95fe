//! How fast the AAAH's database read is: `user_vpn(nai, registration = true)` (profiles,
//! SLAs, CN → GW rows, marks cleared: one transaction per registration) on a store filled
//! with `USERS` users of two profiles each.
//!
//! ```text
//! cargo run --release -p vpndb --example lookup_rate -- sqlite:/tmp/v.sqlite 10000 20000
//! cargo run --release -p vpndb --example lookup_rate -- postgres://postgres@127.0.0.1:18150/db 10000 20000
//! ```

use std::time::{Duration, Instant};
use vpndb::{AddrMask, CnGwEntry, GwType, Nai, Sla, VpnDocument, VpnProfile, VpnShare};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: lookup_rate DB_URL USERS LOOKUPS");
        std::process::exit(2);
    }
    let users: u32 = args[2].parse().expect("USERS");
    let lookups: u32 = args[3].parse().expect("LOOKUPS");
    let mut s = vpndb::open(&args[1]).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[1]);
        std::process::exit(1)
    });
    let sla = Sla {
        name: "bench".into(),
        up_spi: 4096,
        down_spi: 4097,
        keys: Default::default(),
        qos: Default::default(),
        security: vpndb::SecurityType::Ah,
        domain: vec![],
        users: vec![],
    };
    let mut doc = VpnDocument {
        slas: vec![sla],
        cn_gw: vec![
            CnGwEntry {
                cn: "10.0.0.0/8".parse().unwrap(),
                gw: "198.51.100.1".parse().unwrap(),
                gw_type: GwType::Static,
            },
            CnGwEntry {
                cn: "172.16.0.0/12".parse().unwrap(),
                gw: "203.0.113.9".parse().unwrap(),
                gw_type: GwType::Dynamic,
            },
        ],
        profiles: vec![],
    };
    for u in 0..users {
        let nai = Nai::parse(&format!("user{u}@bench.example")).unwrap();
        for (k, net) in [(1u32, "10.0.0.0/16"), (2, "172.16.0.0/16")] {
            doc.profiles.push(VpnProfile {
                profile_number: u * 2 + k,
                nai: nai.clone(),
                sla: "bench".into(),
                vpnshare: VpnShare::Shared,
                destinations: vec![net.parse::<AddrMask>().unwrap()],
                up_class: None,
                down_class: None,
                up_spi: None,
                down_spi: None,
            });
        }
    }
    let t = Instant::now();
    s.import("bench", &doc).expect("import");
    println!(
        "{}: imported {} profiles in {:.2} s",
        s.backend(),
        doc.profiles.len(),
        t.elapsed().as_secs_f64()
    );
    let mut lat: Vec<Duration> = Vec::with_capacity(lookups as usize);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let t = Instant::now();
    for _ in 0..lookups {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x % users as u64) as u32;
        let nai = Nai::parse(&format!("user{u}@bench.example")).unwrap();
        let t1 = Instant::now();
        let v = s.user_vpn(&nai, true).expect("user_vpn").expect("user");
        lat.push(t1.elapsed());
        assert_eq!(v.profiles.len(), 2);
    }
    let total = t.elapsed().as_secs_f64();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "{}: {} registrations' reads in {:.2} s: {:.0}/s, p50 {:?}, p99 {:?}",
        s.backend(),
        lookups,
        total,
        lookups as f64 / total,
        p(0.5),
        p(0.99)
    );
}
