//! The discovery engine on its UDP driver (`controlplane::discovery::driver`): three routers
//! on loopback ports 18213–18215 converge (two VPNs, one on all three, one on two), a
//! datagram from the wrong source address is refused and counted, and a removal reaches the
//! others. One thread polls the three drivers; the deadline only bounds a failure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use controlplane::discovery::driver::UdpDriver;
use controlplane::discovery::{Config, Engine};

fn router(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, i as u8 + 1)
}

fn port(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 18213 + i as u16))
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const A: u32 = 100;
const B: u32 = 200;

fn poll_until(d: &mut [UdpDriver], what: &str, done: impl Fn(&[UdpDriver]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(d) {
        assert!(Instant::now() < deadline, "{what}: not converged in 20 s");
        for x in d.iter_mut() {
            x.poll(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn map(d: &UdpDriver, vpn: u32) -> Vec<(Ipv4Addr, IpAddr)> {
    d.engine()
        .config_map(vpn)
        .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
        .unwrap_or_default()
}

#[test]
fn three_routers_on_loopback_converge() {
    let addresses: BTreeMap<Ipv4Addr, SocketAddr> = (0..3).map(|i| (router(i), port(i))).collect();
    let ids: Vec<Ipv4Addr> = addresses.keys().copied().collect();
    let mut d: Vec<UdpDriver> = (0..3)
        .map(|i| {
            let mut c = Config::new(router(i), ids.clone(), 1 + 1_000_000 * i as u64);
            c.rto_initial = Duration::from_millis(100);
            let mut e = Engine::new(c);
            e.set_key(A, b"loopback secret of VPN A").unwrap();
            if i != 1 {
                e.set_key(B, b"loopback secret of VPN B").unwrap();
            }
            UdpDriver::bind(port(i), e, addresses.clone()).unwrap()
        })
        .collect();
    let now = Instant::now();
    for (i, x) in d.iter_mut().enumerate() {
        let e = x.engine_mut();
        e.add_vr(now, A, addr(&format!("10.0.0.{}", i + 1)))
            .unwrap();
        if i != 1 {
            e.add_vr(now, B, addr(&format!("2001:db8::{}", i + 1)))
                .unwrap();
        }
        x.flush();
    }
    poll_until(&mut d, "join", |d| {
        map(&d[0], A).len() == 2
            && map(&d[1], A).len() == 2
            && map(&d[2], A).len() == 2
            && map(&d[0], B).len() == 1
            && map(&d[2], B).len() == 1
    });
    assert_eq!(
        map(&d[0], A),
        vec![(router(1), addr("10.0.0.2")), (router(2), addr("10.0.0.3"))]
    );
    assert_eq!(map(&d[2], B), vec![(router(0), addr("2001:db8::1"))]);
    assert!(d[1].engine().config_map(B).is_none());

    // A datagram sent by router 1 but arriving from another socket is refused.
    let stray = UdpSocket::bind("127.0.0.1:18216").unwrap();
    let now = Instant::now();
    d[1].engine_mut().remove_vr(now, A).unwrap();
    let mut copied = 0;
    while let Some(t) = d[1].engine_mut().poll_transmit() {
        stray.send_to(&t.payload, d[1].address_of(t.dst)).unwrap();
        copied += 1;
    }
    assert_eq!(copied, 2);
    poll_until(&mut d, "stray datagrams", |d| {
        d[0].counters().rx_wrong_source + d[2].counters().rx_wrong_source == 2
    });
    assert_eq!(
        map(&d[0], A).len(),
        2,
        "a datagram from the wrong source was applied"
    );
    // The engine retransmits the withdrawal itself (100 ms), from the right address.
    poll_until(&mut d, "withdrawal", |d| {
        map(&d[0], A).len() == 1 && map(&d[2], A).len() == 1
    });
    assert_eq!(map(&d[2], A), vec![(router(0), addr("10.0.0.1"))]);
    for x in &d {
        assert_eq!(x.engine().counters().rx_bad_auth, 0);
        assert_eq!(x.counters().tx_errors, 0);
    }
}
