//! ESP that reaches a foreign agent before its SA (docs/mobile-vpn.md, "Smooth handoff
//! without loss"): at a move, the HA (and a PCN, on the HA's BU) send to the new care-of
//! address as soon as they accept the registration, while the new FA installs the SAs only
//! when the answer reaches it — through the AAAH and the AAAF for a move to another domain.
//! What arrives in between has an SPI the FA's outer VR does not know yet.
//!
//! The service marks each VR-transport FA's outer VR ([`vr::StateWriter::set_esp_hold`]),
//! so the workers punt such packets (`Punt::EspUnknownSpi`) instead of dropping them. They
//! are held here, at most [`MAX_HELD`] packets for at most [`MAX_AGE`] each, and forwarded
//! again ([`controlcore::service::Ctx::reforward`]) once the published state has an
//! inbound SA of their SPI in that VR; then they take the same way as the packets after
//! them (decrypted, to the visitor). What is never claimed is dropped at its age, counted.
//!
//! A flood of ESP under made-up SPIs costs the workers one punt each (bounded by the punt
//! ring, `punt_ring_full` beyond) and this queue its bound: it cannot grow, and the oldest
//! packet of the queue is not pushed out by new ones (those are dropped, counted).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use controlcore::service::{Ctx, PuntView};
use vr::{InboundKey, PortId, VrId};

/// Most packets held at once (all VRs).
pub const MAX_HELD: usize = 256;
/// Longest a packet is held.
pub const MAX_AGE: Duration = Duration::from_millis(500);
/// How often the held packets are looked at.
pub const TICK: Duration = Duration::from_millis(1);

/// Counters of the hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldCounters {
    /// Packets taken into the queue.
    pub held: u64,
    /// Packets forwarded again once their SA was there.
    pub released: u64,
    /// Packets dropped at [`MAX_AGE`] (no SA came).
    pub expired: u64,
    /// Packets dropped because the queue was full.
    pub full: u64,
    /// Punts without a readable SPI or VR (dropped).
    pub malformed: u64,
}

struct Held {
    at: Instant,
    port: PortId,
    key: InboundKey,
    frame: Vec<u8>,
}

/// The held packets.
#[derive(Default)]
pub struct EspHold {
    q: VecDeque<Held>,
    /// Counters.
    pub counters: HoldCounters,
}

impl EspHold {
    /// Takes a punted packet; true when the caller should arm the tick.
    pub fn take(&mut self, now: Instant, p: &PuntView<'_>) -> bool {
        let spi = p
            .app()
            .and_then(|e| e.get(..4)?.try_into().ok())
            .map(u32::from_be_bytes);
        let (Some(vr), Some(spi)) = (p.vr(), spi) else {
            self.counters.malformed += 1;
            return false;
        };
        if self.q.len() >= MAX_HELD {
            self.counters.full += 1;
            return false;
        }
        self.counters.held += 1;
        self.q.push_back(Held {
            at: now,
            port: p.port,
            key: InboundKey::new(vr, spi),
            frame: p.frame.to_vec(),
        });
        true
    }

    /// Forwards again what has its SA now, drops what is too old. Returns when to look
    /// again (`None`: nothing is held).
    pub fn tick(&mut self, cx: &mut Ctx<'_>) -> Option<Instant> {
        let now = cx.now;
        let mut keep = VecDeque::with_capacity(self.q.len());
        for h in self.q.drain(..) {
            if cx.state().esp.inbound.get(&h.key).is_some() {
                self.counters.released += 1;
                cx.reforward(h.port, h.frame);
            } else if now.duration_since(h.at) >= MAX_AGE {
                self.counters.expired += 1;
            } else {
                keep.push_back(h);
            }
        }
        self.q = keep;
        (!self.q.is_empty()).then_some(now + TICK)
    }

    /// The VRs whose unknown-SPI ESP should be held.
    pub fn vrs(agents: &[super::service::Agent]) -> Vec<VrId> {
        let mut v: Vec<VrId> = agents
            .iter()
            .filter(|a| {
                a.cfg.role == super::MipRole::ForeignAgent
                    && a.cfg.transport == super::Transport::Vr
            })
            .map(|a| VrId(a.cfg.outer_vr))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
