//! LDP in the appliance (issue 15): two LDP threads of `varouter::ldp` on 127.0.0.2 and
//! 127.0.0.3 (UDP/TCP port 18281, Hellos looped back on the host), each with the control
//! loop's side ([`varouter::ldp::LdpLink`]) on a control core of its own. Each must learn the
//! other's LSR Id /32, install its own label as pop-next, and raise
//! `Event::TransportPath` toward the other (the event the VPN peering service takes the
//! transport label from); when one stops, the other must raise the path's loss.

use std::any::Any;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::{Core, Ctx, Event, EventKind, Interest, Service, TransportPath};
use controlplane::ldp::wire::Prefix4;
use dataplane::buffer::HeapAlloc;
use dataplane::pipeline::PortInfo;
use dataplane::punt::InjectRing;
use labelswitch::LabelOp;
use varouter::ldp::config::{LdpCfg, LdpPortCfg};
use vr::{PortId, StateWriter};

const PORT: u16 = 18281;

/// Records the transport paths raised.
#[derive(Default)]
struct Paths(Vec<(Ipv4Addr, Option<TransportPath>)>);

impl Service for Paths {
    fn name(&self) -> &'static str {
        "paths"
    }
    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Event(EventKind::TransportPath)]
    }
    fn on_event(&mut self, _cx: &mut Ctx<'_>, ev: &Event) {
        if let Event::TransportPath { router, path } = ev {
            self.0.push((*router, *path));
        }
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn cfg(me: Ipv4Addr, labels: std::ops::RangeInclusive<u32>) -> LdpCfg {
    LdpCfg {
        lsr_id: me,
        transport: me,
        ports: vec![LdpPortCfg {
            port: 0,
            name: "core".into(),
            addrs: vec![(me, 8)],
        }],
        labels,
        fecs: Vec::new(),
        hello_interval: Duration::from_secs(1),
        hold_time: 3,
        keepalive: 6,
        udp_tcp_port: PORT,
        core_routes: Vec::new(),
        next_hop_from_peers: true,
        hello_loopback: true,
    }
}

fn core() -> Core<dataplane::buffer::HeapBuf> {
    let mac = [2, 0, 0, 0, 0, 1];
    let w = StateWriter::new(vec![mac], 1);
    let ports: Arc<[PortInfo]> = vec![PortInfo { mac, mtu: 1500 }].into();
    let mut c = Core::new(
        w,
        ports,
        vec![true],
        vec![Arc::new(InjectRing::new(64))],
        Box::new(HeapAlloc),
    );
    c.add_service(Box::new(Paths::default())).unwrap();
    c
}

fn paths(c: &Core<dataplane::buffer::HeapBuf>) -> Vec<(Ipv4Addr, Option<TransportPath>)> {
    c.service::<Paths>().unwrap().0.clone()
}

#[test]
fn two_appliances_learn_each_others_transport_label() {
    let a_ip = Ipv4Addr::new(127, 0, 0, 2);
    let b_ip = Ipv4Addr::new(127, 0, 0, 3);
    let a = varouter::ldp::start(&cfg(a_ip, 21000..=21099)).expect("LDP A starts");
    let b = varouter::ldp::start(&cfg(b_ip, 22000..=22099)).expect("LDP B starts");
    let names = vec!["core".to_string()];
    let (mut la, mut lb) = (a.link(names.clone()), b.link(names));
    let (mut ca, mut cb) = (core(), core());
    let deadline = Instant::now() + Duration::from_secs(20);
    let toward = |c: &Core<_>, r: Ipv4Addr| paths(c).iter().rev().find(|p| p.0 == r).map(|p| p.1);
    loop {
        let now = Instant::now();
        la.tick(&mut ca, now);
        lb.tick(&mut cb, now);
        if matches!(toward(&ca, b_ip), Some(Some(_))) && matches!(toward(&cb, a_ip), Some(Some(_)))
        {
            break;
        }
        assert!(
            now < deadline,
            "no transport paths within 20 s: A saw {:?}, B saw {:?}",
            paths(&ca),
            paths(&cb)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // B's label for its LSR Id is in its block; A pushes it toward B's Hello source.
    let pa = toward(&ca, b_ip).unwrap().unwrap();
    let b_label = b
        .shared()
        .lock()
        .unwrap()
        .plan
        .labels
        .iter()
        .find(|(_, op)| op.fec() == Prefix4::host(b_ip))
        .map(|(l, _)| *l)
        .expect("B's own FEC has a label");
    assert!((22000..=22099).contains(&b_label));
    assert_eq!(
        pa,
        TransportPath {
            label: Some(b_label),
            port: PortId(0),
            via: IpAddr::V4(b_ip),
        }
    );
    // B's own label pops (egress, pop-next) in B's label matrix.
    let ops: Vec<_> = cb.writer().labels().collect();
    assert!(
        ops.iter()
            .any(|(l, op)| l.value() == b_label && *op == LabelOp::Pop),
        "B's matrix: {ops:?}"
    );
    assert_eq!(lb.stats().label_conflicts, 0);
    // B goes away (Shutdown notification): A raises the loss of the path.
    b.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        la.tick(&mut ca, Instant::now());
        if toward(&ca, b_ip) == Some(None) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A did not lose its path toward B: {:?}",
            paths(&ca)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(la.stats().paths_withdrawn, 1);
    a.stop();
}
