//! ARP (RFC 826) for IPv4 neighbors, on top of the shared [`NeighborTable`].
//!
//! Implemented: answering requests for the interface's addresses (unicast reply), learning
//! the sender of requests addressed to us and updating known senders of any ARP packet
//! (RFC 826's merge rule), resolution requests (broadcast, or unicast when probing),
//! gratuitous ARP (a request for our own address) when an interface starts.
//! Not implemented: RFC 5227 address conflict detection, proxy ARP.

use super::NeighborTable;
use crate::packet::{ethernet, Iface};
use std::net::Ipv4Addr;
use std::time::Instant;
use wire::{ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress};

const BROADCAST: [u8; 6] = [0xff; 6];

/// ARP packets the engine refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArpError {
    /// Not a well-formed Ethernet/IPv4 ARP packet.
    #[error("malformed ARP packet: {0}")]
    Malformed(wire::Error),
    /// The sender claims a broadcast/multicast MAC or one of our addresses.
    #[error("ARP packet with a bogus sender ({0})")]
    BogusSender(Ipv4Addr),
}

/// Handles an ARP packet (`payload`, after the Ethernet/VLAN header) received on interface
/// `idx`. Returns the reply frame to send, if any.
pub fn handle<P>(
    table: &mut NeighborTable<Ipv4Addr, P>,
    now: Instant,
    idx: usize,
    ifc: &Iface,
    payload: &[u8],
) -> Result<Option<Vec<u8>>, ArpError> {
    let pkt = ArpPacket::new_checked(payload).map_err(ArpError::Malformed)?;
    let r = ArpRepr::parse(&pkt).map_err(ArpError::Malformed)?;
    let smac = r.source_hardware_addr.0;
    let sip = r.source_protocol_addr;
    if smac[0] & 1 == 1 || smac == ifc.mac || ifc.owns_v4(sip) {
        return Err(ArpError::BogusSender(sip));
    }
    let for_us = ifc.owns_v4(r.target_protocol_addr);
    // RFC 826 "merge": learn the sender when it is on-link (an address probe has sender 0).
    if !sip.is_unspecified() && ifc.v4_on_link(sip).is_some() {
        let confirmed = r.operation == ArpOperation::Reply && for_us;
        table.learn(now, idx, sip, smac, confirmed, for_us);
    }
    if r.operation == ArpOperation::Request && for_us {
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress(ifc.mac),
            source_protocol_addr: r.target_protocol_addr,
            target_hardware_addr: EthernetAddress(smac),
            target_protocol_addr: sip,
        };
        return Ok(Some(frame(smac, ifc, &reply)));
    }
    Ok(None)
}

fn frame(dst: [u8; 6], ifc: &Iface, r: &ArpRepr) -> Vec<u8> {
    let mut body = vec![0u8; r.buffer_len()];
    r.emit(&mut ArpPacket::new_unchecked(&mut body[..]));
    ethernet(dst, ifc.mac, ifc.vlan, EtherType::Arp, &body)
}

/// A request for `target` from the interface address on its subnet (or the first one);
/// broadcast, or unicast to `unicast` (a probe). `None` when the interface has no IPv4.
pub fn request(ifc: &Iface, target: Ipv4Addr, unicast: Option<[u8; 6]>) -> Option<Vec<u8>> {
    let src = ifc
        .v4_on_link(target)
        .or_else(|| ifc.v4.first().map(|a| a.0))?;
    let r = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(ifc.mac),
        source_protocol_addr: src,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    Some(frame(unicast.unwrap_or(BROADCAST), ifc, &r))
}

/// A gratuitous ARP for `ip` (a broadcast request with sender = target = `ip`), sent when
/// an interface starts so that neighbors update stale caches.
pub fn gratuitous(ifc: &Iface, ip: Ipv4Addr) -> Vec<u8> {
    let r = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(ifc.mac),
        source_protocol_addr: ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: ip,
    };
    frame(BROADCAST, ifc, &r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbor::{Action, NeighborConfig, NeighborState};
    use crate::packet::l2_split;

    fn ifc() -> Iface {
        Iface {
            port: 0,
            vlan: Some(10),
            mac: [2, 0, 0, 0, 0, 1],
            vr: Some(1),
            v4: vec![(Ipv4Addr::new(10, 1, 0, 1), 24)],
            v6: vec![],
        }
    }
    const HOST: [u8; 6] = [2, 0, 0, 0, 0xa, 2];
    const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);

    // scapy 2.5: ARP(op=1, hwsrc="02:00:00:00:0a:02", psrc="10.1.0.2", pdst="10.1.0.1")
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x02, 10, 1,
        0, 2, 0, 0, 0, 0, 0, 0, 10, 1, 0, 1,
    ];

    #[test]
    fn answers_requests_for_our_address_and_learns_the_sender() {
        let t0 = Instant::now();
        let mut t: NeighborTable<Ipv4Addr, ()> = NeighborTable::new(NeighborConfig::default());
        let reply = handle(&mut t, t0, 0, &ifc(), &REQUEST)
            .unwrap()
            .expect("a reply");
        let (et, vlan, off) = l2_split(&reply).unwrap();
        assert_eq!((et, vlan), (0x0806, Some(10)));
        assert_eq!(&reply[0..6], &HOST, "unicast to the requester");
        let r = ArpRepr::parse(&ArpPacket::new_checked(&reply[off..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Reply);
        assert_eq!(r.source_hardware_addr.0, ifc().mac);
        assert_eq!(r.source_protocol_addr, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(r.target_protocol_addr, HOST_IP);
        assert_eq!(t.lookup(0, HOST_IP), Some(HOST));
        assert!(matches!(
            t.state(0, HOST_IP),
            Some(NeighborState::Stale { .. })
        ));
    }

    #[test]
    fn ignores_requests_for_others_and_bogus_senders() {
        let t0 = Instant::now();
        let mut t: NeighborTable<Ipv4Addr, ()> = NeighborTable::new(NeighborConfig::default());
        let mut other = REQUEST;
        other[27] = 9; // who-has 10.1.0.9
        assert_eq!(handle(&mut t, t0, 0, &ifc(), &other), Ok(None));
        assert!(
            t.is_empty(),
            "not for us: nothing learned (no entry to merge into)"
        );
        let mut bogus = REQUEST;
        bogus[8] = 0xff; // multicast sender MAC
        assert!(matches!(
            handle(&mut t, t0, 0, &ifc(), &bogus),
            Err(ArpError::BogusSender(_))
        ));
        assert!(matches!(
            handle(&mut t, t0, 0, &ifc(), &REQUEST[..20]),
            Err(ArpError::Malformed(_))
        ));
    }

    #[test]
    fn reply_to_our_request_resolves() {
        let t0 = Instant::now();
        let mut t: NeighborTable<Ipv4Addr, u8> = NeighborTable::new(NeighborConfig::default());
        t.resolve(t0, 0, HOST_IP, Some(1)).unwrap();
        let Some(Action::Solicit {
            target,
            unicast: None,
            ..
        }) = t.poll_action()
        else {
            panic!("expected a solicitation")
        };
        let req = request(&ifc(), target, None).unwrap();
        assert_eq!(&req[0..6], &BROADCAST);
        // The host answers (built by swapping our request, as a host would).
        let off = l2_split(&req).unwrap().2;
        let q = ArpRepr::parse(&ArpPacket::new_checked(&req[off..]).unwrap()).unwrap();
        let ans = ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress(HOST),
            source_protocol_addr: q.target_protocol_addr,
            target_hardware_addr: q.source_hardware_addr,
            target_protocol_addr: q.source_protocol_addr,
        };
        let mut body = [0u8; 28];
        ans.emit(&mut ArpPacket::new_unchecked(&mut body[..]));
        assert_eq!(handle(&mut t, t0, 0, &ifc(), &body), Ok(None));
        assert_eq!(
            t.poll_action(),
            Some(Action::Resolved {
                iface: 0,
                ip: HOST_IP,
                mac: HOST
            })
        );
        assert_eq!(
            t.poll_action(),
            Some(Action::Release {
                iface: 0,
                mac: HOST,
                pkt: 1
            })
        );
    }

    #[test]
    fn gratuitous_announces_our_address() {
        let g = gratuitous(&ifc(), Ipv4Addr::new(10, 1, 0, 1));
        let off = l2_split(&g).unwrap().2;
        let r = ArpRepr::parse(&ArpPacket::new_checked(&g[off..]).unwrap()).unwrap();
        assert_eq!(r.source_protocol_addr, r.target_protocol_addr);
        assert_eq!(&g[0..6], &BROADCAST);
    }

    proptest::proptest! {
        /// Arbitrary bytes (and mutations of a valid request) never panic, and a reply is
        /// only ever sent for our own address.
        #[test]
        fn arbitrary_arp_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), flip in 0usize..28) {
            let t0 = Instant::now();
            let mut t: NeighborTable<Ipv4Addr, ()> = NeighborTable::new(NeighborConfig::default());
            let _ = handle(&mut t, t0, 0, &ifc(), &bytes);
            let mut m = REQUEST;
            m[flip] ^= 0x5a;
            if let Ok(Some(reply)) = handle(&mut t, t0, 0, &ifc(), &m) {
                let off = l2_split(&reply).unwrap().2;
                let r = ArpRepr::parse(&ArpPacket::new_checked(&reply[off..]).unwrap()).unwrap();
                proptest::prop_assert!(ifc().owns_v4(r.source_protocol_addr));
            }
        }
    }
}
