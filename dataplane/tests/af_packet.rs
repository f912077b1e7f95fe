//! AF_PACKET backend against a real veth pair. Needs root (CAP_NET_ADMIN to create the
//! pair, CAP_NET_RAW for packet sockets): without it these tests FAIL, they never skip.
#![cfg(target_os = "linux")]

use dataplane::buffer::{BufPool, HeapBuf, HeapPool, PacketBuf};
use dataplane::port::af_packet::{interface_info, AfPacketError, AfPacketPort, AfPacketStats};
use dataplane::port::PortQueue;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A veth pair that is deleted when dropped.
struct Veth {
    a: String,
    b: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("the `ip` command (iproute2) is required");
    assert!(
        out.status.success(),
        "`ip {}` failed (these tests need root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Veth {
    fn new(tag: &str, mtu: u32) -> Veth {
        let id = std::process::id() % 100_000;
        let v = Veth {
            a: format!("vt{tag}{id}a"),
            b: format!("vt{tag}{id}b"),
        };
        let _ = Command::new("ip").args(["link", "del", &v.a]).output();
        let m = mtu.to_string();
        ip(&[
            "link", "add", &v.a, "mtu", &m, "type", "veth", "peer", "name", &v.b, "mtu", &m,
        ]);
        for n in [&v.a, &v.b] {
            // No offloads: frames as on the wire.
            let _ = Command::new("ethtool")
                .args(["-K", n, "tx", "off", "rx", "off", "gro", "off"])
                .output();
            ip(&["link", "set", n, "up"]);
            // Keep the kernel quiet on the test links (no IPv6 autoconf chatter).
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{n}/disable_ipv6"), "1");
        }
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.a]).output();
    }
}

fn frame(tag: u8, len: usize, vlan: Option<u16>) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    let mut o = 12;
    if let Some(v) = vlan {
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        f[14..16].copy_from_slice(&v.to_be_bytes());
        o = 16;
    }
    f[o..o + 2].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    for (i, b) in f[o + 2..].iter_mut().enumerate() {
        *b = tag.wrapping_add(i as u8);
    }
    f
}

fn recv_all(port: &mut AfPacketPort, pool: &mut HeapPool, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut bufs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        port.rx_burst(pool, &mut bufs, 32);
        for b in bufs.drain(..) {
            // Only our test frames (the kernel may still send something of its own).
            if b.data().windows(2).any(|w| w == [0x88, 0xb5]) {
                got.push(b.data().to_vec());
            }
            pool.free(b);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    got
}

#[test]
fn frames_cross_a_veth_pair_both_ways_with_vlan_tags_intact() {
    let v = Veth::new("x", 1500);
    let sa = Arc::new(AfPacketStats::default());
    let sb = Arc::new(AfPacketStats::default());
    let mut a = AfPacketPort::open(&v.a, None, sa.clone()).expect("open side a");
    let mut b = AfPacketPort::open(&v.b, None, sb.clone()).expect("open side b");
    assert_eq!(a.info().mtu, 1500, "MTU comes from the interface");
    let mut pool = HeapPool::new(64, 4096);

    let sent: Vec<Vec<u8>> = (0..100u8)
        .map(|i| {
            frame(
                i,
                60 + usize::from(i) * 14,
                if i % 3 == 0 { Some(100) } else { None },
            )
        })
        .collect();
    let mut tx: Vec<HeapBuf> = sent
        .iter()
        .map(|f| HeapBuf::from_slice(f).unwrap())
        .collect();
    assert_eq!(a.tx_burst(&mut pool, &mut tx), 0, "tx ring accepts a burst");
    assert!(tx.is_empty());
    let got = recv_all(&mut b, &mut pool, sent.len());
    assert_eq!(
        got.len(),
        sent.len(),
        "every frame arrives once (own transmissions not looped back)"
    );
    assert_eq!(got, sent, "byte-exact, in order, VLAN tags re-inserted");

    // And back, with a frame at the interface MTU.
    let big = frame(7, 1514, None);
    let mut tx = vec![HeapBuf::from_slice(&big).unwrap()];
    assert_eq!(b.tx_burst(&mut pool, &mut tx), 0);
    assert_eq!(recv_all(&mut a, &mut pool, 1), vec![big]);
    // Nothing came back to the sender side.
    assert!(
        recv_all(&mut b, &mut pool, 1).is_empty(),
        "no loopback of our own frames"
    );

    a.finish();
    b.finish();
    assert!(
        sb.kernel_packets.load(Ordering::Relaxed) >= 100,
        "PACKET_STATISTICS read"
    );
    assert_eq!(sb.kernel_drops.load(Ordering::Relaxed), 0);
    assert_eq!(pool.outstanding(), 0, "every buffer went back to the pool");
}

#[test]
fn fanout_spreads_flows_over_two_sockets_without_duplicates() {
    let v = Veth::new("f", 1500);
    let st = Arc::new(AfPacketStats::default());
    let ifindex = interface_info(&v.b).unwrap().ifindex;
    let group = dataplane::port::af_packet::fanout_group(ifindex);
    let mut r1 = AfPacketPort::open(&v.b, Some(group), st.clone()).unwrap();
    let mut r2 = AfPacketPort::open(&v.b, Some(group), st.clone()).unwrap();
    let mut s = AfPacketPort::open(&v.a, None, Arc::new(AfPacketStats::default())).unwrap();
    let mut pool = HeapPool::new(64, 4096);
    // 64 different IPv4 flows (the fanout hash looks at addresses).
    let mut tx: Vec<HeapBuf> = (0..64u8)
        .map(|i| {
            let mut f = vec![0u8; 60];
            f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xbb]);
            f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xaa]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f[14] = 0x45;
            f[17] = 46; // total length
            f[22] = 64;
            f[23] = 253; // experimental protocol
            f[26..30].copy_from_slice(&[10, 0, 0, i]);
            f[30..34].copy_from_slice(&[10, 1, 0, 255 - i]);
            HeapBuf::from_slice(&f).unwrap()
        })
        .collect();
    assert_eq!(s.tx_burst(&mut pool, &mut tx), 0);
    let mut n1 = 0;
    let mut n2 = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut bufs = Vec::new();
    while n1 + n2 < 64 && Instant::now() < deadline {
        n1 += r1.rx_burst(&mut pool, &mut bufs, 32);
        n2 += r2.rx_burst(&mut pool, &mut bufs, 32);
        for b in bufs.drain(..) {
            pool.free(b);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(
        n1 + n2,
        64,
        "each frame delivered to exactly one socket of the group"
    );
    assert!(n1 > 0 && n2 > 0, "both sockets got flows ({n1}/{n2})");
}

#[test]
fn clear_errors_for_missing_and_down_interfaces() {
    let e = AfPacketPort::open("vt-missing0", None, Arc::default()).unwrap_err();
    assert!(matches!(e, AfPacketError::NoSuchInterface(_)), "{e}");
    let v = Veth::new("d", 1500);
    ip(&["link", "set", &v.a, "down"]);
    let e = AfPacketPort::open(&v.a, None, Arc::default()).unwrap_err();
    assert!(matches!(e, AfPacketError::Down(_)), "{e}");
    assert!(
        e.to_string().contains(&format!("ip link set {} up", v.a)),
        "{e}"
    );
}
