//! Session bindings: which VR (and, later, which relay) the packets of an L2TP or PPPoE
//! session belong to (seed 002, claim 8: the interface table's session keys).
//!
//! Sessions come and go at subscriber rates (thousands per second on a BNG), so they are
//! kept out of the interface table, which changes only by management: the
//! [`SessionTable`] is a persistent sharded hash map ([`crate::persist::PMap`]). Binding or
//! unbinding a session copies one shard of a few hundred bytes and touches nothing else of
//! the forwarding state — no FIB, no interface array.

use std::fmt;

use crate::ids::{PortId, VrId};
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

/// What a session is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionBinding {
    /// The VR whose table routes the session's packets; the session is accepted only in
    /// this VR.
    pub vr: VrId,
    /// The session's traffic counter slot ([`crate::SessionCounters`]), or
    /// [`SessionBinding::NO_COUNTERS`].
    pub counters: u32,
}

impl SessionBinding {
    /// A binding without traffic counters.
    pub const NO_COUNTERS: u32 = u32::MAX;

    /// A session of `vr`, not counted per session.
    pub fn new(vr: VrId) -> Self {
        SessionBinding {
            vr,
            counters: Self::NO_COUNTERS,
        }
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
}
