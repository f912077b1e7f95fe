//! The per-VR L2TP driver: a LAC VR and an LNS VR (two appliances, simulated clock) bring a
//! tunnel and an autodialed session up through IPv4/UDP packets, bind the session in each
//! side's VR, refuse what is not theirs, and switch role by draining.

use controlplane::l2tp::driver::vr::{EndpointConfig, TableChange, VrEndpoints};
use controlplane::l2tp::engine::{Config, Role};
use rand::SeedableRng;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vr::VrId;

const LAC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const LNS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn endpoints(vr: u32, role: Role, local: Ipv4Addr, peers: Vec<Ipv4Addr>, seed: u64) -> VrEndpoints {
    let mut engine = Config::new(role, if role == Role::Lac { "lac" } else { "lns" });
    engine.secret = Some(b"s3cret".to_vec());
    let cfg = EndpointConfig {
        vr: VrId(vr),
        local,
        engine,
        peers,
        autodial: true,
    };
    let mut n = seed;
    VrEndpoints::new(
        vec![cfg],
        Box::new(move || {
            n += 1;
            rand::rngs::StdRng::seed_from_u64(n)
        }),
        Instant::now(),
    )
}

struct Net {
    lac: VrEndpoints,
    lns: VrEndpoints,
    lac_changes: Vec<TableChange>,
    lns_changes: Vec<TableChange>,
    now: Instant,
}

impl Net {
    /// Moves packets both ways until quiet, advancing the clock by `step` per round.
    fn run(&mut self, rounds: usize, step: Duration) {
        for _ in 0..rounds {
            let mut a = Vec::new();
            let mut b = Vec::new();
            self.lac
                .drain(self.now, &mut a, &mut self.lac_changes, |_, _| true);
            self.lns
                .drain(self.now, &mut b, &mut self.lns_changes, |_, _| true);
            for (vr, ip) in a {
                assert_eq!(vr, VrId(1), "LAC packets are routed in the LAC's VR");
                self.lns.handle_packet(self.now, VrId(5), &ip);
            }
            for (vr, ip) in b {
                assert_eq!(vr, VrId(5));
                self.lac.handle_packet(self.now, VrId(1), &ip);
            }
            self.now += step;
            self.lac.handle_timeout(self.now);
            self.lns.handle_timeout(self.now);
        }
    }
}

fn net(lns_peers: Vec<Ipv4Addr>) -> Net {
    let now = Instant::now();
    Net {
        lac: endpoints(1, Role::Lac, LAC_IP, vec![LNS_IP], 10),
        lns: endpoints(5, Role::Lns, LNS_IP, lns_peers, 20),
        lac_changes: Vec::new(),
        lns_changes: Vec::new(),
        now,
    }
}

#[test]
fn tunnel_and_autodialed_session_bind_in_each_vr() {
    let mut n = net(vec![LAC_IP]);
    n.run(20, Duration::from_millis(50));
    assert_eq!(n.lac.occupancy(), vec![(VrId(1), 1, 1)]);
    assert_eq!(n.lns.occupancy(), vec![(VrId(5), 1, 1)]);
    assert!(matches!(
        n.lac_changes.as_slice(),
        [TableChange::Bind { vr: VrId(1), .. }]
    ));
    assert!(matches!(
        n.lns_changes.as_slice(),
        [TableChange::Bind { vr: VrId(5), .. }]
    ));
    assert!(n.lns.engine_counter(|c| c.sessions_established) == 1);
}

#[test]
fn lns_refuses_unlisted_peers_and_wrong_addresses() {
    let mut n = net(vec![Ipv4Addr::new(192, 0, 2, 99)]);
    n.run(5, Duration::from_millis(50));
    assert!(n.lns.stats.rx_peer_not_allowed > 0);
    assert_eq!(n.lns.occupancy(), vec![(VrId(5), 0, 0)]);
    // A packet for another VR, or for another address of the VR, is not this endpoint's.
    let ip = controlplane::l2tp::driver::vr::udp4(
        LAC_IP,
        LNS_IP,
        1701,
        1701,
        &[0xc8, 2, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    n.lns.handle_packet(n.now, VrId(6), &ip);
    let other = controlplane::l2tp::driver::vr::udp4(
        LAC_IP,
        Ipv4Addr::new(10, 0, 0, 9),
        1701,
        1701,
        &[0; 12],
    );
    n.lns.handle_packet(n.now, VrId(5), &other);
    assert_eq!(n.lns.stats.rx_not_configured, 2);
    n.lns.handle_packet(n.now, VrId(5), &[0x45, 0, 0]);
    assert_eq!(n.lns.stats.rx_malformed, 1);
}

#[test]
fn id_collision_closes_the_session() {
    let mut n = net(vec![]);
    // The LNS's table says every pair is taken.
    for _ in 0..20 {
        let mut a = Vec::new();
        let mut b = Vec::new();
        n.lac.drain(n.now, &mut a, &mut n.lac_changes, |_, _| true);
        n.lns.drain(n.now, &mut b, &mut n.lns_changes, |_, _| false);
        for (_, ip) in a {
            n.lns.handle_packet(n.now, VrId(5), &ip);
        }
        for (_, ip) in b {
            n.lac.handle_packet(n.now, VrId(1), &ip);
        }
        n.now += Duration::from_millis(50);
        n.lac.handle_timeout(n.now);
        n.lns.handle_timeout(n.now);
    }
    assert!(n.lns.stats.id_collisions >= 1);
    assert!(n.lns_changes.is_empty(), "nothing was bound");
    assert_eq!(
        n.lns.occupancy()[0].2,
        0,
        "the colliding session was closed"
    );
}

#[test]
fn role_switch_drains_tunnels_then_changes_role() {
    let mut n = net(vec![]);
    n.run(20, Duration::from_millis(50));
    assert_eq!(n.lns.occupancy(), vec![(VrId(5), 1, 1)]);
    assert!(n.lns.set_role(n.now, VrId(5), Role::Lac));
    assert!(!n.lns.set_role(n.now, VrId(9), Role::Lac), "no such VR");
    n.run(40, Duration::from_millis(100));
    assert_eq!(n.lns.role(VrId(5)), Some(Role::Lac));
    assert_eq!(n.lns.stats.role_switches, 1);
    // Both sides unbound the session they had bound.
    assert!(n
        .lns_changes
        .iter()
        .any(|c| matches!(c, TableChange::Unbind { .. })));
    assert!(n
        .lac_changes
        .iter()
        .any(|c| matches!(c, TableChange::Unbind { .. })));
}

#[test]
fn operators_list_and_clear_tunnels_and_sessions() {
    use controlplane::l2tp::engine::{SessionState, TunnelState};
    let mut n = net(vec![LAC_IP]);
    n.run(20, Duration::from_millis(50));
    let t = n.lns.tunnels(VrId(5));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].state, Some(TunnelState::Established));
    assert_eq!(t[0].peer.map(|p| p.ip()), Some(LAC_IP.into()));
    assert_eq!(t[0].sessions.len(), 1);
    assert_eq!(t[0].sessions[0].1, Some(SessionState::Established));
    assert!(n.lns.tunnels(VrId(6)).is_empty(), "no endpoint, no tunnels");
    // A CDN for the session: gone on both sides, the tunnel stays.
    let (tid, sid) = (t[0].id, t[0].sessions[0].0);
    assert!(!n.lns.close_session(n.now, VrId(5), tid, sid + 1));
    assert!(n.lns.close_session(n.now, VrId(5), tid, sid));
    n.run(10, Duration::from_millis(50));
    assert_eq!(n.lns.occupancy(), vec![(VrId(5), 1, 0)]);
    assert_eq!(n.lac.occupancy(), vec![(VrId(1), 1, 0)]);
    // A StopCCN for the tunnel: the LAC sees it close too.
    assert!(!n.lns.close_tunnel(n.now, VrId(5), tid.wrapping_add(1)));
    assert!(!n.lns.close_tunnel(n.now, VrId(6), tid));
    assert!(n.lns.close_tunnel(n.now, VrId(5), tid));
    n.run(5, Duration::from_millis(50));
    assert_eq!(
        n.lac
            .tunnels(VrId(1))
            .iter()
            .filter(|t| t.state == Some(TunnelState::Established))
            .count(),
        0
    );
}
