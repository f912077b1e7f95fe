//! Session bindings: which VR the packets of an L2TP or PPPoE session belong to, and for a
//! relayed session which next hop its PPP frames are relayed through (seed 002, claim 8:
//! the interface table's session keys; issue 14: the LAC and tunnel switching).
//!
//! A binding either *terminates* the session in its VR (PPP IPv4/IPv6 is routed there,
//! other PPP is punted to the control core) or *relays* it: every PPP frame of the session
//! is sent on, unchanged from its protocol field, through the binding's relay next hop — an
//! L2TP session (PPPoE → L2TP on a LAC, L2TP → L2TP for tunnel switching) or a PPPoE
//! session (L2TP → PPPoE). The writer sets the relay ([`crate::StateWriter::bind_session_relay`]);
//! callers build bindings with [`SessionBinding::new`] or [`SessionBinding::pppoe`].
//!
//! PPPoE sessions are keyed by port and session id only, so the binding also names the
//! subscriber's MAC address and VLAN: the data plane accepts a session frame only from them
//! (a subscriber cannot use another's session id).
//!
//! Sessions come and go at subscriber rates (thousands per second on a BNG), so they are
//! kept out of the interface table, which changes only by management: the
//! [`SessionTable`] is a persistent sharded hash map ([`crate::persist::PMap`]). Binding or
//! unbinding a session copies one shard of a few hundred bytes and touches nothing else of
//! the forwarding state — no FIB, no interface array.

use std::fmt;

use crate::ids::{NextHopId, PortId, VrId};
use crate::persist::{PKey, PMap, PMapWriter};

/// A session, by the ids the data plane sees in its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionKey {
    /// An L2TP session (RFC 2661), by our tunnel and session ids.
    L2tp {
        /// Our tunnel id.
        tunnel: u16,
        /// Our session id.
        session: u16,
    },
    /// A PPPoE session (RFC 2516) on a port.
    Pppoe {
        /// Port the session runs on.
        port: PortId,
        /// PPPoE session id.
        session: u16,
    },
}

impl PKey for SessionKey {
    #[inline]
    fn pack(&self) -> u64 {
        match *self {
            SessionKey::L2tp { tunnel, session } => {
                1 << 48 | u64::from(tunnel) << 16 | u64::from(session)
            }
            SessionKey::Pppoe { port, session } => {
                2 << 48 | u64::from(port.0) << 16 | u64::from(session)
            }
        }
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionKey::L2tp { tunnel, session } => {
                write!(f, "l2tp tunnel {tunnel} session {session}")
            }
            SessionKey::Pppoe { port, session } => {
                write!(f, "port {} pppoe session {session}", port.0)
            }
        }
    }
}

/// What a session is bound to (28 bytes, `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionBinding {
    /// The VR whose table routes the session's packets (the owner of a relayed session:
    /// removing the VR unbinds it).
    pub vr: VrId,
    /// L2TP: the VR of the session's tunnel — its L2TP packets are accepted only when they
    /// arrive in this VR. The same as `vr` unless the session was moved to another VR
    /// ([`crate::StateWriter::move_session`], issue 11): then its tunnel stays where it
    /// is and its subscriber's packets are routed in `vr`. PPPoE: the same as `vr` (the
    /// access interface decides where its frames arrive). Removing either VR unbinds it.
    pub tunnel_vr: VrId,
    /// The session's traffic counter slot ([`crate::SessionCounters`]), or
    /// [`SessionBinding::NO_COUNTERS`].
    pub counters: u32,
    /// PPPoE: the subscriber's MAC address, the only source its session frames are
    /// accepted from. All zeros for L2TP sessions.
    pub peer_mac: [u8; 6],
    /// PPPoE: the subscriber's VLAN (0 = untagged), the only one its session frames are
    /// accepted on. 0 for L2TP sessions.
    pub peer_vlan: u16,
    /// The next hop the session's PPP frames are relayed through (`None`: terminated in
    /// `vr`). Set by the writer ([`crate::StateWriter::bind_session_relay`]), which holds a
    /// reference on it while the session is bound; `bind_session` clears whatever a caller
    /// put here.
    pub relay: Option<NextHopId>,
}

impl SessionBinding {
    /// A binding without traffic counters.
    pub const NO_COUNTERS: u32 = u32::MAX;

    /// A session of `vr` (L2TP, or any session not tied to a peer's MAC), not counted per
    /// session.
    pub fn new(vr: VrId) -> Self {
        SessionBinding {
            vr,
            tunnel_vr: vr,
            counters: Self::NO_COUNTERS,
            peer_mac: [0; 6],
            peer_vlan: 0,
            relay: None,
        }
    }

    /// A PPPoE session of `vr` with the subscriber at `mac` on `vlan` (`None`: untagged),
    /// counted in slot `counters` (or [`SessionBinding::NO_COUNTERS`]).
    pub fn pppoe(vr: VrId, counters: u32, mac: [u8; 6], vlan: Option<u16>) -> Self {
        SessionBinding {
            vr,
            tunnel_vr: vr,
            counters,
            peer_mac: mac,
            peer_vlan: vlan.unwrap_or(0),
            relay: None,
        }
    }

    /// The subscriber's VLAN as the data plane sees it (`None`: untagged).
    pub fn peer_vlan(&self) -> Option<u16> {
        (self.peer_vlan != 0).then_some(self.peer_vlan)
    }
}

/// The published session table.
pub type SessionTable = PMap<SessionKey, SessionBinding>;
/// Its writer.
pub type SessionTableWriter = PMapWriter<SessionKey, SessionBinding>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pack_injectively() {
        let a = SessionKey::L2tp {
            tunnel: 1,
            session: 2,
        };
        let b = SessionKey::Pppoe {
            port: PortId(1),
            session: 2,
        };
        assert_ne!(a.pack(), b.pack());
        assert_eq!(a.to_string(), "l2tp tunnel 1 session 2");
        assert_eq!(b.to_string(), "port 1 pppoe session 2");
        let mut w = SessionTableWriter::new();
        w.insert(a, SessionBinding::new(VrId(7)));
        let t = w.publish();
        assert_eq!(t.get(&a), Some(&SessionBinding::new(VrId(7))));
        assert_eq!(t.get(&b), None);
    }

    #[test]
    fn pppoe_bindings_name_their_peer() {
        let mac = [2, 0, 0, 0, 0xab, 1];
        let b = SessionBinding::pppoe(VrId(3), 5, mac, Some(100));
        assert_eq!((b.vr, b.counters, b.peer_mac), (VrId(3), 5, mac));
        assert_eq!((b.peer_vlan, b.peer_vlan()), (100, Some(100)));
        assert_eq!(b.relay, None);
        let u = SessionBinding::pppoe(VrId(3), SessionBinding::NO_COUNTERS, mac, None);
        assert_eq!((u.peer_vlan, u.peer_vlan()), (0, None));
        let l = SessionBinding::new(VrId(3));
        assert_eq!((l.peer_mac, l.peer_vlan, l.relay), ([0; 6], 0, None));
        assert_eq!(l.tunnel_vr, l.vr);
        // 24 bytes before the tunnel's VR was kept apart from the routing VR (issue 11);
        // a shard of the session table copies 4 more bytes per binding.
        assert!(std::mem::size_of::<SessionBinding>() <= 28);
    }
}
