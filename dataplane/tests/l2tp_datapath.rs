//! L2TPv2 data path golden test: LNS decapsulation into the session's VR, encapsulation of
//! routed traffic into a session, and every refusal with its counter. Inputs are crafted by
//! scapy (`tests/golden_l2tp/make_inputs.py`); outputs must equal `expected/out.pcap` byte
//! for byte, and `scripts/test` has tshark decode that capture (no malformed packets, good
//! checksums). Bless after an intended change with `VAROUTER_BLESS=1`.

use dataplane::buffer::{HeapBuf, PacketBuf};
use dataplane::counters::{Drop, Punt, WorkerCounters};
use dataplane::pipeline::{forward, PortInfo, Verdict};
use dataplane::port::pcap::read_capture;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use std::path::Path;
use std::time::Duration;
use vr::{LabelPush, NextHop, PortId, RouteSource, SessionKey, VrId};

#[path = "common/l2tp_lns.rs"]
mod l2tp_lns;
use l2tp_lns::{state, writer, CE, LAC, R};

#[test]
fn l2tp_data_path_golden() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_l2tp");
    let input = read_capture(&dir.join("in.pcap")).unwrap();
    let st = state();
    let ports = [
        PortInfo { mac: R, mtu: 1500 },
        PortInfo { mac: R, mtu: 1500 },
    ];
    let c = WorkerCounters::new(0, 2);
    let mut sent = Vec::new();
    let mut verdicts = Vec::new();
    for (i, pkt) in input.iter().enumerate() {
        // Packet 2 comes from the site (port 0); the rest from the LAC side (port 1).
        let port = if i == 1 { 0 } else { 1 };
        let mut b = HeapBuf::from_slice(pkt).unwrap();
        let v = forward(&st, &ports, PortId(port), &mut b, &c);
        if let Verdict::Tx(p) = v {
            sent.push((p, b.data().to_vec()));
        }
        verdicts.push(v);
    }
    #[derive(Debug, PartialEq)]
    enum V {
        Tx(PortId),
        Drop(Drop),
        Punt(Punt, Option<VrId>),
    }
    let summary: Vec<V> = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Punt(p) => V::Punt(p.reason, p.vr),
            Verdict::Drop(d) => V::Drop(*d),
            Verdict::Tx(p) => V::Tx(*p),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            V::Tx(PortId(0)),
            V::Tx(PortId(1)),
            V::Punt(Punt::L2tpControl, Some(VrId(1))),
            V::Drop(Drop::L2tpNoSession),
            V::Punt(Punt::PppControl, Some(VrId(1))),
            V::Drop(Drop::L2tpMalformed),
            V::Drop(Drop::L2tpWrongVr),
            V::Tx(PortId(0)),
        ]
    );
    // Punts carry the offsets the worker found: IPv4 at 14, UDP at 34, L2TP at 42, and for
    // the PPP control frame the PPP header after the L2TP header.
    let Verdict::Punt(ctl) = verdicts[2] else {
        unreachable!()
    };
    assert_eq!(
        (ctl.at.l3, ctl.at.ip, ctl.at.l4, ctl.at.app),
        (14, 14, 34, 42)
    );
    let Verdict::Punt(ppp) = verdicts[4] else {
        unreachable!()
    };
    assert_eq!((ppp.at.app, ppp.at.inner), (42, 48));
    // Decapsulated subscriber packet: plain IPv4 to the CE with TTL 63.
    let d = &sent[0].1;
    assert_eq!(&d[0..6], &CE);
    assert_eq!(u16::from_be_bytes([d[12], d[13]]), 0x0800);
    assert_eq!(d[14 + 8], 63);
    // Encapsulated reply: outer IPv4 to the LAC, UDP 1701, L2TP (70, 90), PPP IPv4.
    let e = &sent[1].1;
    assert_eq!(&e[0..6], &LAC);
    assert_eq!(&e[14 + 16..14 + 20], &[198, 51, 100, 2]);
    assert_eq!(&e[34 + 8..34 + 14], &[0x00, 0x02, 0x00, 70, 0x00, 90]);
    assert_eq!(&e[48..52], &[0xff, 0x03, 0x00, 0x21]);
    // Session 9 (counter slot 0) counted what it carried (the IP packets' bytes): the
    // IPv4 and IPv6 packets from the subscriber, the reply to it; session 10 (slot 1, the
    // wrong-VR injection) nothing.
    let v6 = &sent[2].1;
    let rx_ip = u64::from(u16::from_be_bytes([d[16], d[17]]))
        + 40
        + u64::from(u16::from_be_bytes([v6[18], v6[19]]));
    let tx_ip = (e.len() - 52) as u64;
    assert_eq!(st.session_counters.read(0), [2, rx_ip, 1, tx_ip]);
    assert_eq!(st.session_counters.read(1), [0; 4]);

    let tmp = std::env::temp_dir().join(format!("varouter-l2tp-{}.pcap", std::process::id()));
    {
        let mut w = PcapWriter::new(std::fs::File::create(&tmp).unwrap()).unwrap();
        for (n, (_, bytes)) in sent.iter().enumerate() {
            let p = PcapPacket::new(
                Duration::from_micros(n as u64 + 1),
                bytes.len() as u32,
                bytes,
            );
            w.write_packet(&p).unwrap();
        }
    }
    let got = std::fs::read(&tmp).unwrap();
    let exp = dir.join("expected/out.pcap");
    if std::env::var_os("VAROUTER_BLESS").is_some() {
        std::fs::create_dir_all(exp.parent().unwrap()).unwrap();
        std::fs::write(&exp, &got).unwrap();
    }
    let want = std::fs::read(&exp).expect("expected/out.pcap (bless with VAROUTER_BLESS=1)");
    assert!(
        got == want,
        "{} differs from {}",
        tmp.display(),
        exp.display()
    );
    // Kept only when it differs, for inspection.
    let _ = std::fs::remove_file(&tmp);
}

/// A session moved to another VR (management, issue 11): its L2TP packets still arrive in
/// its tunnel's VR; what it carries is routed — and counted — in the VR it was moved to,
/// whose FIB alone decides (VR 1's route to the CE does not apply). The same data message
/// arriving in the VR it was moved to is refused (`l2tp_wrong_vr`).
#[test]
fn a_moved_session_is_decapsulated_in_its_tunnels_vr_and_routed_in_its_own() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_l2tp");
    let input = read_capture(&dir.join("in.pcap")).unwrap();
    let ports = [
        PortInfo { mac: R, mtu: 1500 },
        PortInfo { mac: R, mtu: 1500 },
    ];
    let c = WorkerCounters::new(0, 2);
    let session9 = SessionKey::L2tp {
        tunnel: 7,
        session: 9,
    };
    let run = |st: &vr::ForwardingState| {
        let mut b = HeapBuf::from_slice(&input[0]).unwrap();
        let v = forward(st, &ports, PortId(1), &mut b, &c);
        (v, b.data().to_vec())
    };
    let rx = |st: &vr::ForwardingState, id: u32| -> [u64; 2] {
        let k = &st.vr(VrId(id)).unwrap().counters;
        [k.total(vr::vr_counter::RX), k.total(vr::vr_counter::DROP)]
    };
    // Moved to VR 2, which has no route to the CE yet: dropped there, counted there.
    let mut w = writer();
    assert_eq!(w.move_session(&session9, VrId(2)), Ok(VrId(1)));
    let st = w.commit().unwrap();
    assert!(
        matches!(run(&st).0, Verdict::Drop(_)),
        "VR 1's route is not used"
    );
    assert_eq!(rx(&st, 2), [1, 1]);
    // VR 2 routes it to another CE: out on port 0 to that CE.
    let other_ce = [2, 0, 0, 0, 0x0c, 0xe2];
    w.set_route(
        VrId(2),
        "10.1.0.0/16".parse().unwrap(),
        RouteSource::Static,
        NextHop::Forward {
            port: PortId(0),
            vlan: None,
            src_mac: R,
            dst_mac: other_ce,
            push: LabelPush::EMPTY,
        },
    )
    .unwrap();
    let st = w.commit().unwrap();
    let (v, out) = run(&st);
    assert_eq!(v, Verdict::Tx(PortId(0)));
    assert_eq!(&out[0..6], &other_ce);
    assert_eq!(
        st.session_counters.read(0)[0],
        2,
        "its session counters go on"
    );
    // The same session's data arriving in VR 2 (its routing VR, not its tunnel's): refused.
    w.unbind_interface(&vr::IfKey::Port(PortId(1))).unwrap();
    w.bind_interface(vr::IfKey::Port(PortId(1)), vr::IfBinding::Vr(VrId(2)))
        .unwrap();
    w.set_route(
        VrId(2),
        "192.0.2.1/32".parse().unwrap(),
        RouteSource::Local,
        NextHop::Local,
    )
    .unwrap();
    let st = w.commit().unwrap();
    assert_eq!(run(&st).0, Verdict::Drop(Drop::L2tpWrongVr));
}
