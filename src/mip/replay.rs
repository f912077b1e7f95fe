//! The smooth handoff's replay at the old FA (docs/mobile-vpn.md, "Smooth handoff without
//! loss"): a visitor's host route goes through a replay hop ([`vr::replay`]) whose ring keeps
//! what the workers delivered to it on the link; when the FA engine, taking the new FA's
//! Binding Update, asks for a replay ([`controlplane::mip::Output::Replay`]), the packets
//! delivered since the node left are routed again in the FA's VR — by then into the old →
//! new forwarding tunnel.
//!
//! **When.** The engine asks before the visitor's tunnels go down and the forwarding tunnel
//! comes up, in the same dispatch; the core publishes those changes after it. A replay is
//! carried out only once the published state no longer holds the visitor's replay hop (so
//! the route already leads into the tunnel), looked at every [`RETRY`]. A second sweep
//! [`STRAGGLERS`] later sends what a worker still delivered through the old version after
//! the first one (those arrive after newer packets, but arrive).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlcore::service::Ctx;
use vr::{NextHop, ReplayHop, ReplayId, ReplayKey, ReplayRing, VrId};

/// How often a replay looks whether the new version is published.
pub const RETRY: Duration = Duration::from_millis(1);
/// When the second sweep goes, after the first.
pub const STRAGGLERS: Duration = Duration::from_millis(20);
/// Looks at the ring a replay makes: once published, once more [`STRAGGLERS`] later.
const SWEEPS: u8 = 2;
/// Give up a replay whose version is not published by then (counted).
pub const GIVE_UP: Duration = Duration::from_secs(1);

/// The replay counters of one FA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayCounters {
    /// Packets sent again into the forwarding tunnel.
    pub replayed: u64,
    /// Packets in the ring delivered before the node left (it had them): not sent again.
    pub older: u64,
    /// Replays whose ring was too small for the interval (it had lost packets of it).
    pub incomplete: u64,
    /// Replays asked for a visitor without a ring (replay off, host transport, or its hop
    /// could not be installed).
    pub no_ring: u64,
    /// Replay hops the state writer refused (the visitor's route is then a plain one).
    pub hop_errors: u64,
    /// Replays given up: the version without the visitor's hop was not published in time.
    pub given_up: u64,
}

/// An FA's visitors' replay hops.
#[derive(Debug, Default)]
pub struct Visitors {
    /// Each visitor's hop id (in the agent's VR) and ring, while its route is installed.
    hops: HashMap<Ipv4Addr, (ReplayId, Arc<ReplayRing>)>,
    /// Counters.
    pub counters: ReplayCounters,
}

impl Visitors {
    /// Puts `hop` (the visitor's link next hop) behind a replay hop keeping `packets`
    /// packets and returns the next hop for its route: the same hop and ring again for a
    /// visitor that has one (its link address may have changed), a new id (the first free
    /// one of `vr` from `next`) otherwise. A refused hop leaves the plain route.
    #[allow(clippy::too_many_arguments)]
    pub fn route_via(
        &mut self,
        cx: &mut Ctx<'_>,
        next: &mut u32,
        agent: &str,
        vr: VrId,
        home: Ipv4Addr,
        hop: NextHop,
        packets: usize,
    ) -> NextHop {
        let (id, ring) = match self.hops.get(&home) {
            Some((id, ring)) => (*id, ring.clone()),
            None => {
                let mut free = None;
                for _ in 0..64 {
                    let c = ReplayId(*next);
                    *next = next.checked_add(1).unwrap_or(1);
                    if cx.writer().replay(ReplayKey::new(vr, c)).is_none() {
                        free = Some(c);
                        break;
                    }
                }
                let Some(id) = free else {
                    self.counters.hop_errors += 1;
                    return hop;
                };
                (id, Arc::new(ReplayRing::new(packets)))
            }
        };
        let h = Arc::new(ReplayHop {
            name: format!("{agent} visitor {home}").into(),
            vr,
            hop,
            ring: ring.clone(),
        });
        match cx.tables().set_replay(id, h) {
            Ok(()) => {
                self.hops.insert(home, (id, ring));
                NextHop::Replayable(id)
            }
            Err(e) => {
                tracing::warn!(%home, error = %e, "mip fa: replay hop refused; plain visitor route");
                self.counters.hop_errors += 1;
                hop
            }
        }
    }

    /// The visitor's route is gone: its hop goes too (a replay already asked keeps the ring).
    pub fn remove(&mut self, cx: &mut Ctx<'_>, vr: VrId, home: Ipv4Addr) {
        if let Some((id, _)) = self.hops.remove(&home) {
            let _ = cx.tables().remove_replay(ReplayKey::new(vr, id));
        }
    }

    /// The replay the engine asked for `home`, to carry out once published; `None` (and
    /// counted) when the visitor has no ring.
    pub fn replay(
        &mut self,
        agent: usize,
        vr: VrId,
        home: Ipv4Addr,
        since: Instant,
        now: Instant,
    ) -> Option<Due> {
        let Some((id, ring)) = self.hops.get(&home) else {
            self.counters.no_ring += 1;
            return None;
        };
        Some(Due {
            agent,
            key: ReplayKey::new(vr, *id),
            home,
            since,
            ring: ring.clone(),
            at: now + RETRY,
            asked: now,
            sweeps: SWEEPS,
        })
    }
}

/// A replay to carry out.
#[derive(Debug)]
pub struct Due {
    /// The FA (index of the service's agents).
    pub agent: usize,
    key: ReplayKey,
    home: Ipv4Addr,
    since: Instant,
    ring: Arc<ReplayRing>,
    /// When to look next.
    pub at: Instant,
    asked: Instant,
    sweeps: u8,
}

/// What one look at a replay did.
pub enum Swept {
    /// Not yet published, or a sweep to come: look again at [`Due::at`].
    Again(Due),
    /// Done.
    Done,
}

impl Due {
    /// Sends the packets delivered since the node left (routed in the FA's VR), once the
    /// published state no longer has the visitor's hop.
    pub fn sweep(mut self, cx: &mut Ctx<'_>, c: &mut ReplayCounters) -> Swept {
        let now = cx.now;
        if now < self.at {
            return Swept::Again(self);
        }
        if cx.state().replays.get(&self.key).is_some() {
            if now.duration_since(self.asked) >= GIVE_UP {
                tracing::warn!(home = %self.home, "mip fa: replay given up; the handoff's tables were not published");
                c.given_up += 1;
                return Swept::Done;
            }
            self.at = now + RETRY;
            return Swept::Again(self);
        }
        let t = self.ring.take_since(self.since);
        c.replayed += t.packets.len() as u64;
        c.older += t.older as u64;
        // Only the first sweep can tell: the second finds the ring emptied by it.
        if t.incomplete && self.sweeps == SWEEPS {
            c.incomplete += 1;
        }
        if !t.packets.is_empty() {
            tracing::debug!(home = %self.home, packets = t.packets.len(), older = t.older, "mip fa: replayed into the forwarding tunnel");
        }
        for p in t.packets {
            cx.route(self.key.vr, p);
        }
        self.sweeps -= 1;
        if self.sweeps == 0 {
            return Swept::Done;
        }
        self.at = now + STRAGGLERS;
        Swept::Again(self)
    }
}
