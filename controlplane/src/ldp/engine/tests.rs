//! Two speakers wired together with a simulated clock.

use super::*;

const A_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const B_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);
const A_TR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_TR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn speaker(
    id: Ipv4Addr,
    tr: Ipv4Addr,
    range: std::ops::RangeInclusive<u32>,
    now: Instant,
) -> Speaker {
    let mut cfg = Config::new(id, tr);
    cfg.addresses = vec![tr];
    cfg.keepalive_time = 30;
    Speaker::new(cfg, LabelAllocator::new(range).unwrap(), now).unwrap()
}

/// Two speakers and the link between them. `drop_session` loses session bytes,
/// `drop_hellos` loses Hellos; `chunk` delivers session bytes in pieces of that size.
struct Net {
    now: Instant,
    a: Speaker,
    b: Speaker,
    ev_a: Vec<Event>,
    ev_b: Vec<Event>,
    drop_hellos: bool,
    drop_session: bool,
    chunk: usize,
    /// Session connection between the two: true once connected.
    connected: bool,
}

impl Net {
    fn new() -> Self {
        let now = Instant::now();
        Net {
            now,
            a: speaker(A_ID, A_TR, 1000..=1999, now),
            b: speaker(B_ID, B_TR, 2000..=2999, now),
            ev_a: Vec::new(),
            ev_b: Vec::new(),
            drop_hellos: false,
            drop_session: false,
            chunk: usize::MAX,
            connected: false,
        }
    }

    /// Moves everything queued until nothing moves.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for from_a in [true, false] {
                let (src, dst, src_id, src_tr) = if from_a {
                    (&mut self.a, &mut self.b, A_ID, A_TR)
                } else {
                    (&mut self.b, &mut self.a, B_ID, B_TR)
                };
                let mut to_dst = Vec::new();
                while let Some(t) = src.poll_transmit() {
                    moved = true;
                    to_dst.push(t);
                }
                for t in to_dst {
                    match t {
                        Transmit::Hello(b) => {
                            if !self.drop_hellos {
                                dst.handle_hello(self.now, src_tr, &b)
                            }
                        }
                        Transmit::Connect {
                            peer,
                            local,
                            remote,
                        } => {
                            assert_eq!(local, src_tr);
                            assert_eq!(remote, if from_a { B_TR } else { A_TR });
                            let got = dst.handle_accepted(self.now, local);
                            assert_eq!(got, Some(src_id));
                            self.connected = true;
                            src.handle_connected(self.now, peer);
                        }
                        Transmit::Send { bytes, .. } => {
                            if self.connected && !self.drop_session {
                                for c in bytes.chunks(self.chunk.min(bytes.len()).max(1)) {
                                    dst.handle_session_input(self.now, src_id, c);
                                }
                            }
                        }
                        Transmit::Close { .. } => {
                            if self.connected {
                                self.connected = false;
                                dst.handle_session_closed(self.now, src_id);
                            }
                        }
                    }
                }
            }
            while let Some(e) = self.a.poll_event() {
                self.ev_a.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.ev_b.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the two speakers never went quiet");
    }

    /// Advances the clock to `until` in steps of each speaker's next timer.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.pump();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            if next > until {
                self.now = until;
                return;
            }
            self.now = next.max(self.now);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }
}

fn learnt(s: &Speaker) -> Vec<(Ipv4Addr, Prefix4, Label)> {
    s.learnt().collect()
}

#[test]
fn sessions_come_up_and_bindings_are_learnt_both_ways() {
    let mut n = Net::new();
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
    assert_eq!(n.b.session_state(A_ID), Some(SessionState::Operational));
    // B has the higher transport address: it connected.
    assert_eq!(n.b.counters().connects, 1);
    assert_eq!(n.a.counters().connects, 0);
    let la = n.a.local_label(Prefix4::host(A_ID)).unwrap();
    let lb = n.b.local_label(Prefix4::host(B_ID)).unwrap();
    assert!((1000..=1999).contains(&la.value()));
    assert!((2000..=2999).contains(&lb.value()));
    assert_eq!(learnt(&n.a), vec![(B_ID, Prefix4::host(B_ID), lb)]);
    assert_eq!(learnt(&n.b), vec![(A_ID, Prefix4::host(A_ID), la)]);
    assert!(n.ev_a.contains(&Event::BindingLearnt {
        peer: B_ID,
        prefix: Prefix4::host(B_ID),
        label: lb
    }));
    assert!(n.ev_a.contains(&Event::SessionUp {
        peer: B_ID,
        keepalive: 30
    }));
    // Addresses were exchanged: B is the peer for next hop 10.0.0.2.
    assert_eq!(n.a.peer_for_next_hop(B_TR), Some(B_ID));
    assert_eq!(n.a.counters().malformed, 0);
    assert_eq!(n.b.counters().malformed, 0);
    // KeepAlives keep the session up well past the KeepAlive time.
    n.run_for(Duration::from_secs(300));
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
    assert_eq!(n.a.counters().sessions_up, 1);
    assert_eq!(n.a.counters().sessions_down, 0);
}

#[test]
fn byte_by_byte_delivery_reassembles() {
    let mut n = Net::new();
    n.chunk = 1;
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
    assert_eq!(learnt(&n.b).len(), 1);
}

#[test]
fn advertise_and_withdraw_reach_the_peer_and_the_label_is_freed_on_release() {
    let mut n = Net::new();
    n.run_for(Duration::from_secs(1));
    let p: Prefix4 = "192.0.2.0/24".parse().unwrap();
    let l = n.a.advertise(p).unwrap();
    n.pump();
    assert!(learnt(&n.b).contains(&(A_ID, p, l)));
    assert!(n.a.withdraw(p));
    assert_eq!(n.a.labels_releasing(), 1);
    assert_eq!(n.a.labels_in_use(), 2);
    n.pump();
    assert!(!learnt(&n.b).iter().any(|(_, q, _)| *q == p));
    assert!(n.ev_b.contains(&Event::BindingLost {
        peer: A_ID,
        prefix: p,
        label: l
    }));
    // B answered the withdraw with a release: the label is back in the allocator.
    assert_eq!(n.a.labels_releasing(), 0);
    assert_eq!(n.a.labels_in_use(), 1);
    assert_eq!(n.a.counters().releases_received, 1);
    assert!(!n.a.withdraw(p));
}

#[test]
fn cross_connects_swap_our_label_for_the_next_hops() {
    let mut n = Net::new();
    // A is a transit router for B's loopback: it advertises a label for it too.
    let la = n.a.advertise(Prefix4::host(B_ID)).unwrap();
    n.run_for(Duration::from_secs(1));
    let lb = n.b.local_label(Prefix4::host(B_ID)).unwrap();
    let x =
        n.a.cross_connects(|p| (p == Prefix4::host(B_ID)).then_some(B_TR));
    assert_eq!(
        x,
        vec![CrossConnect {
            prefix: Prefix4::host(B_ID),
            in_label: la,
            out_label: lb,
            peer: B_ID,
            next_hop: B_TR
        }]
    );
    // No next hop known: nothing to install.
    assert!(n.a.cross_connects(|_| None).is_empty());
}

#[test]
fn hello_loss_takes_the_session_and_its_bindings_down() {
    let mut n = Net::new();
    n.run_for(Duration::from_secs(1));
    n.drop_hellos = true;
    n.run_for(Duration::from_secs(16));
    assert_eq!(n.a.session_state(B_ID), None);
    assert!(n.ev_a.contains(&Event::AdjacencyDown { peer: B_ID }));
    assert!(n
        .ev_a
        .iter()
        .any(|e| matches!(e, Event::SessionDown { peer, .. } if *peer == B_ID)));
    assert!(n
        .ev_a
        .iter()
        .any(|e| matches!(e, Event::BindingLost { peer, .. } if *peer == B_ID)));
    assert!(learnt(&n.a).is_empty());
    // Hellos again: a new session comes up.
    n.drop_hellos = false;
    n.run_for(Duration::from_secs(20));
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
    assert_eq!(learnt(&n.a).len(), 1);
}

#[test]
fn silent_session_expires_by_keepalive_and_is_retried_with_backoff() {
    let mut n = Net::new();
    n.run_for(Duration::from_secs(1));
    n.drop_session = true;
    n.run_for(Duration::from_secs(31));
    assert_eq!(
        n.a.counters().keepalive_expired + n.b.counters().keepalive_expired,
        2
    );
    assert!(n.ev_a.iter().any(|e| matches!(
        e,
        Event::SessionDown {
            reason: DownReason::KeepaliveExpired,
            ..
        }
    )));
    // Still silent: the active side retries after 15 s, then 30 s, ... each attempt times out.
    n.run_for(Duration::from_secs(120));
    let tries = n.b.counters().connects;
    assert!((3..=5).contains(&tries), "{tries} connects");
    assert!(n.b.counters().init_timeouts >= 2);
    n.drop_session = false;
    n.run_for(Duration::from_secs(200));
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
}

fn operational_pair() -> Net {
    let mut n = Net::new();
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
    n
}

fn pdu_from(id: Ipv4Addr, msgs: &[Message]) -> Vec<u8> {
    encode_pdus(LdpId::platform(id), msgs, 4096)
        .unwrap()
        .remove(0)
}

/// The notifications `s` queued for `peer`, and whether it closed the connection.
fn drain(s: &mut Speaker) -> (Vec<Status>, bool) {
    let mut st = Vec::new();
    let mut closed = false;
    while let Some(t) = s.poll_transmit() {
        match t {
            Transmit::Send { bytes, .. } => {
                let v = PduView::new_checked(&bytes[..]).unwrap();
                for r in v.messages() {
                    let m = Message::parse(&r.unwrap()).unwrap();
                    if let Some(x) = m.status() {
                        st.push(x);
                    }
                }
            }
            Transmit::Close { .. } => closed = true,
            _ => {}
        }
    }
    (st, closed)
}

#[test]
fn garbage_on_the_session_closes_it_with_a_fatal_notification() {
    let mut n = operational_pair();
    n.a.handle_session_input(n.now, B_ID, &[0, 9, 0, 20, 1, 2, 3]);
    let (st, closed) = drain(&mut n.a);
    assert!(closed);
    assert_eq!(st[0].value(), status::BAD_VERSION);
    assert!(st[0].is_fatal());
    assert_eq!(n.a.session_state(B_ID), None);
    assert_eq!(n.a.counters().malformed, 1);
}

#[test]
fn wrong_ldp_identifier_closes_the_session() {
    let mut n = operational_pair();
    let ka = Message::new(msg::KEEPALIVE, 99, vec![]);
    n.a.handle_session_input(n.now, B_ID, &pdu_from(Ipv4Addr::new(6, 6, 6, 6), &[ka]));
    let (st, closed) = drain(&mut n.a);
    assert!(closed);
    assert_eq!(st[0].value(), status::BAD_LDP_ID);
}

#[test]
fn unknown_messages_and_tlvs_follow_the_u_bit() {
    let mut n = operational_pair();
    // Unknown message, U clear: notified, session stays.
    let m = Message::new(0x3f00, 5, vec![]);
    n.a.handle_session_input(n.now, B_ID, &pdu_from(B_ID, &[m]));
    let (st, closed) = drain(&mut n.a);
    assert!(!closed);
    assert_eq!(st, vec![Status::new(status::UNKNOWN_MESSAGE, 5, 0x3f00)]);
    // Unknown message, U set: silent.
    let mut m = Message::new(0x3f00, 6, vec![]);
    m.unknown_bit = true;
    n.a.handle_session_input(n.now, B_ID, &pdu_from(B_ID, &[m]));
    assert_eq!(drain(&mut n.a), (vec![], false));
    // A mapping with an unknown TLV (U clear) is ignored and notified.
    let p: Prefix4 = "198.51.100.0/24".parse().unwrap();
    let unknown = |u| Tlv::Unknown {
        unknown_bit: u,
        forward_bit: false,
        kind: 0x3e00,
        value: vec![1],
    };
    let m = Message::new(
        msg::LABEL_MAPPING,
        7,
        vec![
            Tlv::Fec(vec![FecElement::Prefix4(p)]),
            Tlv::GenericLabel(77),
            unknown(false),
        ],
    );
    n.a.handle_session_input(n.now, B_ID, &pdu_from(B_ID, &[m]));
    let (st, _) = drain(&mut n.a);
    assert_eq!(
        st,
        vec![Status::new(status::UNKNOWN_TLV, 7, msg::LABEL_MAPPING)]
    );
    assert!(!learnt(&n.a).iter().any(|(_, q, _)| *q == p));
    // With the U bit set, the TLV is skipped and the mapping used.
    let m = Message::new(
        msg::LABEL_MAPPING,
        8,
        vec![
            Tlv::Fec(vec![FecElement::Prefix4(p)]),
            Tlv::GenericLabel(77),
            unknown(true),
        ],
    );
    n.a.handle_session_input(n.now, B_ID, &pdu_from(B_ID, &[m]));
    assert_eq!(drain(&mut n.a), (vec![], false));
    assert!(learnt(&n.a).contains(&(B_ID, p, Label::new(77).unwrap())));
}

/// A PDU from B holding one Label Mapping (id 9) whose TLVs are `tlvs`, bytes as given.
fn raw_mapping(tlvs: &[u8]) -> Vec<u8> {
    let mut pdu = vec![0, 1, 0, 0, 10, 255, 0, 2, 0, 0];
    pdu.extend_from_slice(&[0x04, 0x00]);
    pdu.extend_from_slice(&((tlvs.len() + 4) as u16).to_be_bytes());
    pdu.extend_from_slice(&[0, 0, 0, 9]);
    pdu.extend_from_slice(tlvs);
    let plen = (pdu.len() - 4) as u16;
    pdu[2..4].copy_from_slice(&plen.to_be_bytes());
    pdu
}

#[test]
fn malformed_tlv_is_fatal_unknown_fec_is_not() {
    let mut n = operational_pair();
    // FEC with an unknown element type: Unknown FEC, not fatal.
    let pdu = raw_mapping(&[
        0x01, 0x00, 0x00, 0x01, 0x07, 0x02, 0x00, 0x00, 0x04, 0, 0, 0, 20,
    ]);
    n.a.handle_session_input(n.now, B_ID, &pdu);
    let (st, closed) = drain(&mut n.a);
    assert!(!closed);
    assert_eq!(
        st,
        vec![Status::new(status::UNKNOWN_FEC, 9, msg::LABEL_MAPPING)]
    );
    assert_eq!(n.a.session_state(B_ID), Some(SessionState::Operational));
    // Generic Label of 3 bytes: Bad TLV Length, fatal.
    let pdu = raw_mapping(&[
        0x01, 0x00, 0x00, 0x04, 0x02, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x03, 0, 0, 20,
    ]);
    n.a.handle_session_input(n.now, B_ID, &pdu);
    let (st, closed) = drain(&mut n.a);
    assert!(closed, "{st:?}");
    assert_eq!(st[0].value(), status::BAD_TLV_LENGTH);
    assert!(st[0].is_fatal());
    assert_eq!(n.a.session_state(B_ID), None);
}

#[test]
fn initialization_for_another_lsr_is_rejected() {
    let now = Instant::now();
    let mut a = speaker(A_ID, A_TR, 1000..=1999, now);
    let mut b = speaker(B_ID, B_TR, 2000..=2999, now);
    a.handle_timeout(now);
    while let Some(t) = a.poll_transmit() {
        if let Transmit::Hello(h) = t {
            b.handle_hello(now, A_TR, &h);
        }
    }
    b.handle_timeout(now);
    while let Some(t) = b.poll_transmit() {
        if let Transmit::Hello(h) = t {
            a.handle_hello(now, B_TR, &h);
        }
    }
    // A is passive: it accepts B's connection; B's Initialization names a third LSR.
    assert_eq!(a.handle_accepted(now, B_TR), Some(B_ID));
    let init = Message::new(
        msg::INITIALIZATION,
        1,
        vec![Tlv::CommonSession(SessionParams {
            version: 1,
            keepalive: 30,
            on_demand: false,
            loop_detection: false,
            path_vector_limit: 0,
            max_pdu: 4096,
            receiver: LdpId::platform(Ipv4Addr::new(1, 2, 3, 4)),
        })],
    );
    a.handle_session_input(now, B_ID, &pdu_from(B_ID, &[init]));
    let (st, closed) = drain(&mut a);
    assert!(closed);
    assert_eq!(st[0].value(), status::SESSION_REJECTED_NO_HELLO);
    // A connection from an address with no adjacency is refused.
    assert_eq!(a.handle_accepted(now, Ipv4Addr::new(10, 9, 9, 9)), None);
    assert_eq!(a.counters().accepts_refused, 1);
    // A KeepAlive before Initialization ends a fresh session.
    assert_eq!(a.handle_accepted(now, B_TR), Some(B_ID));
    a.handle_session_input(
        now,
        B_ID,
        &pdu_from(B_ID, &[Message::new(msg::KEEPALIVE, 2, vec![])]),
    );
    let (_, closed) = drain(&mut a);
    assert!(closed);
}

#[test]
fn hellos_that_are_malformed_targeted_or_our_own_are_dropped() {
    let now = Instant::now();
    let mut a = speaker(A_ID, A_TR, 1000..=1999, now);
    a.handle_hello(now, B_TR, &[1, 2, 3]);
    let targeted = Message::new(
        msg::HELLO,
        1,
        vec![Tlv::CommonHello {
            hold_time: 45,
            targeted: true,
            request_targeted: false,
            gtsm: false,
        }],
    );
    a.handle_hello(now, B_TR, &pdu_from(B_ID, &[targeted]));
    let no_params = Message::new(msg::HELLO, 2, vec![]);
    a.handle_hello(now, B_TR, &pdu_from(B_ID, &[no_params]));
    assert_eq!(a.counters().hellos_dropped, 3);
    a.handle_timeout(now);
    let Some(Transmit::Hello(own)) = a.poll_transmit() else {
        panic!("no Hello")
    };
    a.handle_hello(now, A_TR, &own);
    assert_eq!(a.counters().hellos_received, 3);
    assert!(a.poll_event().is_none());
}

#[test]
fn config_is_checked() {
    let now = Instant::now();
    let alloc = || LabelAllocator::new(16..=100).unwrap();
    let mut c = Config::new(A_ID, A_TR);
    c.hello_interval = Duration::from_secs(20);
    assert!(Speaker::new(c, alloc(), now).is_err());
    let c = Config::new(Ipv4Addr::UNSPECIFIED, A_TR);
    assert!(Speaker::new(c, alloc(), now).is_err());
    // More FECs than labels.
    let mut c = Config::new(A_ID, A_TR);
    c.fecs = (0..10)
        .map(|i| Prefix4::host(Ipv4Addr::new(192, 0, 2, i)))
        .collect();
    assert!(matches!(
        Speaker::new(c, LabelAllocator::new(16..=20).unwrap(), now),
        Err(Error::Alloc { .. })
    ));
}

/// Speakers on point-to-point links, transport addresses on their loopbacks (the LSR Ids).
struct Chain {
    now: Instant,
    nodes: Vec<Speaker>,
    /// (node, node, address of the first on the link, address of the second).
    links: Vec<(usize, usize, Ipv4Addr, Ipv4Addr)>,
}

impl Chain {
    fn index(&self, lsr: Ipv4Addr) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id().lsr_id == lsr)
            .unwrap()
    }

    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                let me = self.nodes[i].id().lsr_id;
                let mut out = Vec::new();
                while let Some(t) = self.nodes[i].poll_transmit() {
                    out.push(t);
                }
                for t in out {
                    moved = true;
                    match t {
                        Transmit::Hello(b) => {
                            for &(x, y, ax, ay) in &self.links.clone() {
                                if x == i {
                                    self.nodes[y].handle_hello(self.now, ax, &b);
                                } else if y == i {
                                    self.nodes[x].handle_hello(self.now, ay, &b);
                                }
                            }
                        }
                        Transmit::Connect { peer, local, .. } => {
                            let j = self.index(peer);
                            assert_eq!(self.nodes[j].handle_accepted(self.now, local), Some(me));
                            self.nodes[i].handle_connected(self.now, peer);
                        }
                        Transmit::Send { peer, bytes } => {
                            let j = self.index(peer);
                            self.nodes[j].handle_session_input(self.now, me, &bytes);
                        }
                        Transmit::Close { peer } => {
                            let j = self.index(peer);
                            self.nodes[j].handle_session_closed(self.now, me);
                        }
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the chain never went quiet");
    }
}

#[test]
fn transit_router_swaps_upstream_label_for_downstream_label_seed_001_fig_13() {
    // PE1 (10.255.0.1) -- 10.1.0.0/30 -- P (10.255.0.9) -- 10.2.0.0/30 -- PE2 (10.255.0.2)
    let now = Instant::now();
    let (pe1, p, pe2) = (A_ID, Ipv4Addr::new(10, 255, 0, 9), B_ID);
    let mk = |id, addrs: Vec<Ipv4Addr>, fecs: Vec<Prefix4>, base: u32| {
        let mut c = Config::new(id, id);
        c.addresses = addrs;
        c.fecs = fecs;
        Speaker::new(c, LabelAllocator::new(base..=base + 999).unwrap(), now).unwrap()
    };
    let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let mut net = Chain {
        now,
        nodes: vec![
            mk(pe1, vec![a("10.1.0.1")], vec![], 1000),
            // P routes both PEs' loopbacks (its IGP says so) and advertises a label for each.
            mk(
                p,
                vec![a("10.1.0.2"), a("10.2.0.1")],
                vec![Prefix4::host(pe1), Prefix4::host(pe2)],
                5000,
            ),
            mk(pe2, vec![a("10.2.0.2")], vec![], 2000),
        ],
        links: vec![
            (0, 1, a("10.1.0.1"), a("10.1.0.2")),
            (1, 2, a("10.2.0.1"), a("10.2.0.2")),
        ],
    };
    for n in &mut net.nodes {
        n.handle_timeout(now);
    }
    net.pump();
    for n in &net.nodes {
        assert!(n.sessions().all(|(_, s)| s == SessionState::Operational));
    }
    assert_eq!(net.nodes[1].sessions().count(), 2);
    // F: PE2's label for its loopback. E: P's label for it.
    let f = net.nodes[2].local_label(Prefix4::host(pe2)).unwrap();
    let e = net.nodes[1].local_label(Prefix4::host(pe2)).unwrap();
    assert_ne!(e, f);
    // PE1 learnt E from P (it pushes E towards PE2's loopback).
    assert!(net.nodes[0]
        .learnt()
        .any(|x| x == (p, Prefix4::host(pe2), e)));
    // P swaps E -> F towards PE2 (next hop 10.2.0.2 from its IGP), and the reverse for PE1.
    let x = net.nodes[1].cross_connects(|fec| match fec {
        f if f == Prefix4::host(pe2) => Some(a("10.2.0.2")),
        f if f == Prefix4::host(pe1) => Some(a("10.1.0.1")),
        _ => None,
    });
    assert_eq!(x.len(), 2);
    let to_pe2 = x.iter().find(|c| c.prefix == Prefix4::host(pe2)).unwrap();
    assert_eq!(
        (to_pe2.in_label, to_pe2.out_label, to_pe2.peer),
        (e, f, pe2)
    );
    assert_eq!(
        to_pe2.label_op(7),
        LabelOp::Swap {
            out: f,
            next_hop: 7
        }
    );
    let php = CrossConnect {
        out_label: Label::IMPLICIT_NULL,
        ..*to_pe2
    };
    assert_eq!(php.label_op(7), LabelOp::PopAndForward { next_hop: 7 });
    let to_pe1 = x.iter().find(|c| c.prefix == Prefix4::host(pe1)).unwrap();
    assert_eq!(
        to_pe1.out_label,
        net.nodes[0].local_label(Prefix4::host(pe1)).unwrap()
    );
    assert_eq!(to_pe1.peer, pe1);
}

/// The dynamic lab's start-up race: the active side (B, the higher transport address)
/// started first and its Hellos went nowhere; A starts and sends its first Hello, B
/// connects at once. A accepts only a neighbour it has heard, so B's new adjacency must
/// answer with a Hello ahead of the connection (before: the connection was refused and
/// retried only after the 15 s session backoff).
#[test]
fn a_new_adjacency_is_answered_by_a_hello_before_the_connection() {
    let now = Instant::now();
    let mut a = speaker(A_ID, A_TR, 1000..=1999, now);
    let mut b = speaker(B_ID, B_TR, 2000..=2999, now);
    b.handle_timeout(now);
    while b.poll_transmit().is_some() {} // lost: A was not running
    a.handle_timeout(now);
    let Some(Transmit::Hello(a_hello)) = a.poll_transmit() else {
        panic!("A sent no Hello")
    };
    b.handle_hello(now, A_TR, &a_hello);
    let Some(Transmit::Hello(b_hello)) = b.poll_transmit() else {
        panic!("B did not answer the new adjacency with a Hello first")
    };
    assert!(matches!(
        b.poll_transmit(),
        Some(Transmit::Connect { remote, .. }) if remote == A_TR
    ));
    a.handle_hello(now, B_TR, &b_hello);
    assert_eq!(a.handle_accepted(now, B_TR), Some(B_ID));
    // A known neighbour's Hellos trigger nothing more.
    b.handle_hello(now, A_TR, &a_hello);
    assert!(b.poll_transmit().is_none());
}
