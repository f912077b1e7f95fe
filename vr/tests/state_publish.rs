//! The incremental publish path under churn: one writer derives thousands of
//! forwarding-state versions — session binds and unbinds, route adds and withdrawals with
//! next hops interned and freed, neighbour resolutions, route changes in other VRs — and
//! publishes each, while reader threads load versions continuously and check that every
//! version they see is internally consistent and exactly the one the writer built:
//!
//! * version `v` has sessions `(1, k)` bound to VR 1 for exactly `k` in `v-W+1 ..= v`;
//! * VR 1 routes `10.k.k.0/24` for exactly those `k`, through a next hop whose MAC names
//!   `k` (a reader that paired a FIB of one version with a next-hop table of another would
//!   find a next hop of the wrong `k`, or a freed one);
//! * the neighbour of VR 1's default route resolves in even versions and is withdrawn in
//!   odd ones, and the default route's next hop says so.
//!
//! Afterwards, with the readers gone, every replaced version is freed, and the writer's
//! next-hop table and session table are back at their steady-state size (memory does not
//! grow with churn).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use vr::{
    ForwardingState, IpPrefix, LabelPush, NeighborKey, NextHop, PortId, Prefix4, Publisher,
    RouteSource, SessionBinding, SessionKey, StateWriter, VirtualRouter, VpnId, VrId,
};

const VERSIONS: u32 = 3000;
const WINDOW: u32 = 64;
const SMALL_VRS: u32 = 50;

fn key(k: u32) -> SessionKey {
    SessionKey::L2tp {
        tunnel: 1,
        session: k as u16,
    }
}

fn prefix(k: u32) -> IpPrefix {
    IpPrefix::V4(Prefix4::new(0x0a00_0000 | (k & 0xffff) << 8, 24).unwrap())
}

fn addr(k: u32) -> u32 {
    0x0a00_0000 | (k & 0xffff) << 8 | 7
}

fn mac_of(k: u32) -> [u8; 6] {
    let b = k.to_be_bytes();
    [2, 0xaa, b[0], b[1], b[2], b[3]]
}

fn nh(k: u32) -> NextHop {
    NextHop::Forward {
        port: PortId(0),
        vlan: None,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: mac_of(k),
        push: LabelPush::EMPTY,
    }
}

fn gateway() -> NeighborKey {
    NeighborKey {
        port: PortId(0),
        vlan: None,
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    }
}

/// Panics unless `s` is exactly the version the writer built as number `s.version`.
fn check(s: &ForwardingState) {
    let v = s.version as u32;
    if v < 2 {
        return; // the empty and the set-up versions
    }
    let k = v - 1; // round k built version k + 1
    let lo = (k + 1).saturating_sub(WINDOW).max(1);
    assert_eq!(s.sessions.len() as u32, k - lo + 1, "v{v}: session count");
    let a = s.vr(VrId(1)).expect("VR 1");
    for j in [lo.saturating_sub(1), lo, (lo + k) / 2, k, k + 1] {
        let live = j >= lo && j <= k && j > 0;
        assert_eq!(
            s.session(&key(j)).map(|b| b.vr),
            live.then_some(VrId(1)),
            "v{v}: session {j}"
        );
        let hop = a.lookup4(addr(j)).and_then(|id| s.next_hop(id)).copied();
        if live {
            assert_eq!(hop, Some(nh(j)), "v{v}: route {j}");
        } else {
            assert_ne!(hop, Some(nh(j)), "v{v}: route {j} must be gone");
        }
    }
    let dflt = a
        .lookup4(0x0808_0808)
        .and_then(|id| s.next_hop(id))
        .copied();
    let resolved = matches!(dflt, Some(NextHop::Forward { .. }));
    assert_eq!(
        resolved,
        k.is_multiple_of(2),
        "v{v}: default route resolution"
    );
}

#[test]
fn readers_see_whole_versions_while_sessions_routes_and_neighbours_churn() {
    let mut w = StateWriter::new(vec![[2, 0, 0, 0, 0, 1]], 2);
    for id in 1..=SMALL_VRS + 1 {
        w.add_vr(VirtualRouter::new(
            VrId(id),
            format!("vr{id}"),
            VpnId::new(1, id).unwrap(),
            "t",
        ))
        .unwrap();
    }
    w.set_route(
        VrId(1),
        "0.0.0.0/0".parse().unwrap(),
        RouteSource::Static,
        NextHop::Unresolved {
            port: PortId(0),
            vlan: None,
            via: gateway().ip,
            push: LabelPush::EMPTY,
        },
    )
    .unwrap();
    let mut publisher = Publisher::new(w.commit().unwrap());
    let baseline_hops = w.next_hops().live();

    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let h = publisher.handle();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut cache = h.cache();
                let (mut last, mut seen) = (0, 0u64);
                while !stop.load(Ordering::Acquire) {
                    let s = cache.load();
                    check(s);
                    assert!(s.version >= last, "went back from {last} to {}", s.version);
                    if s.version != last {
                        seen += 1;
                    }
                    last = s.version;
                }
                seen
            })
        })
        .collect();

    for k in 1..=VERSIONS {
        w.bind_session(key(k), SessionBinding::new(VrId(1)))
            .unwrap();
        w.set_route(VrId(1), prefix(k), RouteSource::Static, nh(k))
            .unwrap();
        if k > WINDOW {
            w.unbind_session(&key(k - WINDOW)).unwrap();
            w.remove_route(VrId(1), prefix(k - WINDOW), RouteSource::Static)
                .unwrap();
        }
        let mac = k.is_multiple_of(2).then_some([2, 0, 0, 0, 0, 2]);
        w.set_neighbor(gateway(), mac);
        // A change in some small VR too.
        let small = VrId(2 + k % SMALL_VRS);
        w.set_route(small, prefix(k % 7), RouteSource::Static, NextHop::Drop)
            .unwrap();
        let s = w.commit().unwrap();
        assert_eq!(s.version, u64::from(k) + 1);
        check(&s);
        publisher.publish(s);
        if k % 128 == 0 {
            thread::yield_now();
        }
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        let seen = r.join().expect("a reader saw an inconsistent version");
        assert!(seen > 0);
    }
    assert_eq!(publisher.reclaim(), 0, "every replaced version is freed");
    assert_eq!(
        w.next_hops().live(),
        baseline_hops + WINDOW as usize,
        "freed next hops are reused"
    );
    assert!(
        w.next_hops().capacity() <= baseline_hops + 2 * WINDOW as usize + 8,
        "the id space does not grow with churn: {}",
        w.next_hops().capacity()
    );
    assert_eq!(w.session_count(), WINDOW as usize);
}
