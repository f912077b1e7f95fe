//! The scaled LNS state of the `l2tp_100k` benchmark (at a size a debug build handles):
//! every generated packet takes the path its benchmark case claims, and the sessions'
//! counters advance by exactly their packets.

#[path = "common/l2tp_lns_scaled.rs"]
mod scaled;

#[test]
fn every_session_forwards_on_its_path() {
    let sc = scaled::state_scaled(2_000, 20);
    assert_eq!(sc.state.sessions.len(), 2_000);
    assert_eq!(sc.state.session_counters.slots(), 2_000);
    eprintln!(
        "2,000 sessions over 20 tunnels: built in {:?}, {} bytes",
        sc.build_time,
        sc.state.memory_bytes()
    );
    let w = scaled::workload(&sc, 1_000, 1);
    scaled::check(&sc, &w);
    // Every session at least once in each direction, in order.
    let all = scaled::Workload {
        sessions: (0..sc.sessions.len()).collect(),
        decap: sc
            .sessions
            .iter()
            .map(|s| scaled::decap_packet(s, "1.1.1.1".parse().unwrap()))
            .collect(),
        encap: sc
            .sessions
            .iter()
            .map(|s| scaled::encap_packet(s, "1.1.1.1".parse().unwrap()))
            .collect(),
        plain: sc
            .sessions
            .iter()
            .map(|s| scaled::plain_packet(s, "1.1.1.1".parse().unwrap()))
            .collect(),
    };
    scaled::check(&sc, &all);
}
