//! The ESP lifetime monitor (see the module docs of [`crate::esp`]).

use controlcore::{Ctx, Interest, Service};
use esp::LifetimeState;
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use vr::{Change, EspTunnel, InboundKey, OutboundKey};

/// How often lifetimes are checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

const TICK: u64 = 1;

/// An SA as the monitor names it: outbound by VR and id, inbound by outer VR and SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    In(InboundKey),
    Out(OutboundKey),
}

/// Counters of the monitor.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EspStats {
    /// SAs seen past a soft limit (each once).
    pub soft_expired: u64,
    /// SAs removed at a hard limit.
    pub hard_expired: u64,
    /// Lifetime checks run.
    pub checks: u64,
}

/// The ESP lifetime monitor.
#[derive(Debug, Default)]
pub struct EspService {
    stats: EspStats,
    /// SAs already reported past their soft limit (by SPI, so a rekeyed SA under the same
    /// id is reported again).
    soft_reported: HashSet<(Key, u32)>,
}

impl EspService {
    /// A monitor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its counters.
    pub fn stats(&self) -> EspStats {
        self.stats
    }

    /// One pass over every SA.
    pub fn check(&mut self, cx: &mut Ctx<'_>) {
        self.stats.checks += 1;
        let w = cx.writer();
        let tunnels: Vec<(Key, Arc<EspTunnel>)> = w
            .esp_inbound_all()
            .map(|t| {
                let k = InboundKey::new(t.outer_vr, t.sa.spi());
                (Key::In(k), Arc::clone(t))
            })
            .chain(
                w.esp_outbound_all()
                    .map(|(id, t)| (Key::Out(OutboundKey::new(t.vr, id)), Arc::clone(t))),
            )
            .collect();
        for (k, t) in tunnels {
            let spi = t.sa.spi();
            let (packets, bytes) = t.sa.traffic();
            let state = t.sa.lifetime_state();
            match state {
                LifetimeState::Live => continue,
                LifetimeState::Soft if !self.soft_reported.insert((k, spi)) => continue,
                LifetimeState::Soft => self.stats.soft_expired += 1,
                LifetimeState::Hard => {
                    t.sa.expire();
                    self.soft_reported.remove(&(k, spi));
                    self.stats.hard_expired += 1;
                }
            }
            let what = if state == LifetimeState::Soft {
                "ESP SA past its soft lifetime; replace it"
            } else {
                "ESP SA past its hard lifetime; removed"
            };
            tracing::warn!(
                sa = %t.name,
                spi = format_args!("{spi:#010x}"),
                packets,
                bytes,
                "{what}"
            );
            if state == LifetimeState::Hard {
                let c = match k {
                    Key::In(k) => Change::RemoveEspInbound(k),
                    Key::Out(k) => Change::RemoveEspOutbound(k),
                };
                if let Err(e) = cx.tables().apply_one(&c) {
                    tracing::error!("ESP lifetime: {c}: {e}");
                }
            }
        }
    }
}

impl Service for EspService {
    fn name(&self) -> &'static str {
        "esp"
    }

    fn interests(&self) -> Vec<Interest> {
        Vec::new()
    }

    fn start(&mut self, cx: &mut Ctx<'_>) {
        cx.timer_at(TICK, cx.now + CHECK_EVERY);
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, _token: u64) {
        self.check(cx);
        cx.timer_at(TICK, cx.now + CHECK_EVERY);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("esp_soft_expired", self.stats.soft_expired),
            ("esp_hard_expired", self.stats.hard_expired),
            ("esp_lifetime_checks", self.stats.checks),
        ]
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
