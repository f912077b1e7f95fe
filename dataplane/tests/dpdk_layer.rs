//! The safe DPDK layer against a real EAL (`--no-huge --no-pci`, a `net_null` vdev): mbufs
//! behave as `PacketBuf`s and return to their pool, ports move bursts, link and xstats
//! read, and a second EAL initialisation is refused. One test function: the EAL can be
//! initialised once per process.

#![cfg(feature = "dpdk")]

use dataplane::buffer::{BufPool, PacketBuf};
use dataplane::port::dpdk::{DpdkError, Eal, MbufPool, PortSetup, MBUF_HEADROOM};
use dataplane::port::PortQueue;

#[test]
fn eal_mbufs_and_ports() {
    let prefix = format!("vrlayer{}", std::process::id());
    let args: Vec<String> = [
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "-m",
        "128",
        "--lcores",
        "0@(0-1)",
        "--file-prefix",
        &prefix,
        "--vdev",
        "net_null0",
        "--log-level",
        "*:warning",
        "--no-telemetry",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL init");
    assert!(matches!(Eal::init(&args), Err(DpdkError::EalAlreadyUsed)));
    assert!(dataplane::port::dpdk::tsc_hz() > 0);

    let pool = eal.mempool("layer_test", 2047, 32, -1).expect("mempool");
    let size = pool.size();
    {
        let mut p = MbufPool(pool.clone());
        let mut m = p.alloc().expect("mbuf");
        assert_eq!(m.headroom(), MBUF_HEADROOM);
        assert!(m.is_empty());
        assert!(m.set(&[1, 2, 3, 4]));
        let h = m.prepend(2).expect("headroom");
        h.copy_from_slice(&[9, 9]);
        assert_eq!(m.data(), &[9, 9, 1, 2, 3, 4]);
        assert_eq!(m.headroom(), MBUF_HEADROOM - 2);
        assert!(m.adj(3));
        assert_eq!(m.data(), &[2, 3, 4]);
        assert!(!m.adj(4), "adj past the end changes nothing");
        m.data_mut()[0] = 7;
        m.trim(2);
        assert_eq!(m.data(), &[7, 3]);
        assert!(m.prepend(MBUF_HEADROOM + 10).is_none());
        assert!(!m.set(&vec![0u8; 4096]), "larger than the data room");
        assert!(pool.available() < size);
        p.free(m);
    }
    assert!(
        eal.port_names().iter().any(|n| n == "net_null0"),
        "{:?}",
        eal.port_names()
    );
    assert!(matches!(
        eal.open_port(
            "net_nope9",
            &PortSetup {
                mac: None,
                queues: 1,
                rx_desc: 256,
                tx_desc: 256
            },
            &pool
        ),
        Err(DpdkError::NoSuchPort { .. })
    ));
    let port = eal
        .open_port(
            "net_null0",
            &PortSetup {
                mac: Some([2, 0, 0, 0, 0x4e, 0x11]),
                queues: 1,
                rx_desc: 256,
                tx_desc: 256,
            },
            &pool,
        )
        .expect("port");
    assert_eq!(port.driver(), "net_null");
    // The profile's MAC becomes the device's.
    assert_eq!(port.mac_set(), Some(true));
    assert_eq!(port.mac(), [2, 0, 0, 0, 0x4e, 0x11]);
    assert!(port.link().expect("link").up);
    let mut q = port.queue(0).expect("queue 0");
    assert!(port.queue(1).is_none());
    let mut p = MbufPool(pool.clone());
    let mut rx = Vec::new();
    let n = q.rx_burst(&mut p, &mut rx, 16);
    assert_eq!(n, 16, "net_null always has packets");
    assert_eq!(rx.len(), 16);
    assert!(rx
        .iter()
        .all(|m| m.len() == 64 && m.headroom() == MBUF_HEADROOM));
    let failed = q.tx_burst(&mut p, &mut rx);
    assert_eq!(failed, 0);
    assert!(rx.is_empty());
    let x = port.xstats().expect("xstats");
    let get = |k: &str| x.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    assert_eq!(get("rx_good_packets"), Some(16));
    assert_eq!(get("tx_good_packets"), Some(16));
    assert_eq!(get("varouter_rx_multiseg_dropped"), Some(0));

    // Work on a worker lcore is not possible with a single lcore: launching is refused.
    assert!(eal.launch(1, Box::new(|| {})).is_err());

    drop(q);
    drop(port);
    assert_eq!(pool.available(), size, "every mbuf is back in the pool");
    drop(p);
    drop(pool);
    drop(eal);
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/{prefix}"));
}
