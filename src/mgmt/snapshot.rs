//! A point-in-time view of the running appliance for the API's statistics, the metrics
//! exposition and the dashboard.
//!
//! Built on the control thread (the only one that reads the core's state and the workers'
//! counters together), sent to the API thread, and cut down to a principal's [`Scope`] there
//! before anything is shown.

use std::collections::BTreeMap;

use serde::Serialize;

use super::scope::Scope;

/// Everything the statistics endpoints, `/metrics` and the dashboard show.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// Seconds since the appliance started forwarding.
    pub uptime_s: f64,
    /// Per port (appliance-wide: only for [`Scope::All`]).
    pub ports: Vec<PortStats>,
    /// Per worker (appliance-wide).
    pub workers: Vec<WorkerStats>,
    /// Per VR.
    pub vrs: Vec<VrStats>,
    /// Per VR running a RADIUS client.
    pub radius: Vec<RadiusStats>,
    /// Busy time of control-loop iterations (appliance-wide).
    pub loop_latency: Histogram,
    /// Versions published to the workers (appliance-wide).
    pub publish: PublishStats,
    /// The mobile VPN's AAA, when the profile runs one (appliance-wide).
    pub aaa: Option<AaaSnapshot>,
    /// VR discovery, when the profile runs it (appliance-wide).
    pub discovery: Option<DiscoverySnapshot>,
    /// LDP, when the profile runs it (appliance-wide).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldp: Option<LdpSnapshot>,
    /// VPN peering, when the profile runs it (appliance-wide).
    pub vpn_peering: Option<VpnPeeringSnapshot>,
    /// Which way the API's transactions were checked (appliance-wide).
    pub transactions: super::exec::TxPaths,
    /// The Mobile IP agents' counters (a tenant sees the agents of its VRs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mobile: Vec<super::mobile::MobileAgentStats>,
}

/// LDP's state and counters (`crate::ldp`) as the API shows them.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct LdpSnapshot {
    /// Sessions operational now.
    pub sessions_up: u64,
    /// Bindings learnt from peers now.
    pub bindings_learnt: u64,
    /// Local bindings (labels we advertise) now.
    pub bindings_local: u64,
    /// Label-matrix entries LDP installed now.
    pub cross_connects: u64,
    /// Every counter by name (engine, driver, service, label-matrix application).
    pub counters: std::collections::BTreeMap<String, u64>,
}

impl From<&crate::ldp::LdpShared> for LdpSnapshot {
    fn from(s: &crate::ldp::LdpShared) -> Self {
        LdpSnapshot {
            sessions_up: s.sessions_up,
            bindings_learnt: s.bindings_learnt,
            bindings_local: s.bindings_local,
            cross_connects: s.apply.installed,
            counters: crate::ldp::counters(s)
                .into_iter()
                .map(|(k, v)| (k.trim_start_matches("ldp_").to_string(), v))
                .collect(),
        }
    }
}

/// VR discovery's counters (`controlplane::discovery::service`) as the API shows them.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct DiscoverySnapshot {
    /// Local VRs announced.
    pub vrs_announced: u64,
    /// Local VRs of a discovery VPN not announced (no address, refused).
    pub vrs_not_announced: u64,
    /// Entries in all local VRs' configuration maps.
    pub map_entries: u64,
    /// Datagrams waiting for the send pacing.
    pub tx_queued: u64,
    /// Event counters (`rx_ok`, `rx_bad_auth`, `rx_unknown_key`, `tx_addition`, ...).
    pub counters: BTreeMap<String, u64>,
}

impl DiscoverySnapshot {
    /// From the service's `(discovery_NAME, value)` counters.
    pub fn from_counters(c: &[(&'static str, u64)]) -> Self {
        let mut d = DiscoverySnapshot::default();
        for (k, v) in c {
            let k = k.strip_prefix("discovery_").unwrap_or(k);
            match k {
                "vrs_announced" => d.vrs_announced = *v,
                "vrs_not_announced" => d.vrs_not_announced = *v,
                "map_entries" => d.map_entries = *v,
                "tx_queued" => d.tx_queued = *v,
                _ => {
                    d.counters.insert(k.to_string(), *v);
                }
            }
        }
        d
    }
}

/// VPN peering's counters (`controlplane::vpnpeer::service`) as the API shows them.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct VpnPeeringSnapshot {
    /// Local VRs taking part.
    pub vrs: u64,
    /// Channels authenticated both ways now.
    pub channels_up: u64,
    /// Channels on hold now (peer silent, routes kept).
    pub channels_held: u64,
    /// Routes the channels hold in VRs' FIBs now.
    pub fib_routes: u64,
    /// Event counters (`auth_accepts`, `auth_rejects`, `routes_rx`, `routes_tx`,
    /// `fib_installs`, `withdraws_rx`, `hold_expiries`, ...).
    pub counters: BTreeMap<String, u64>,
}

impl VpnPeeringSnapshot {
    /// From the service's `(vpnpeer_NAME, value)` counters.
    pub fn from_counters(c: &[(&'static str, u64)]) -> Self {
        let mut d = VpnPeeringSnapshot::default();
        for (k, v) in c {
            let k = k.strip_prefix("vpnpeer_").unwrap_or(k);
            match k {
                "vrs" => d.vrs = *v,
                "channels_up" => d.channels_up = *v,
                "channels_held" => d.channels_held = *v,
                "fib_routes" => d.fib_routes = *v,
                _ => {
                    d.counters.insert(k.to_string(), *v);
                }
            }
        }
        d
    }
}

/// The AAA thread's counters (`crate::aaa::AaaStats`) as the API shows them.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct AaaSnapshot {
    /// `home` (AAAH) or `foreign` (AAAF).
    pub role: String,
    /// Diameter requests received.
    pub requests: u64,
    /// Answers sent.
    pub answers: u64,
    /// Answers sent by Result-Code.
    pub answers_by_result: BTreeMap<String, u64>,
    /// Sessions (AAAH) or cache entries (AAAF).
    pub sessions: u64,
    /// Transactions in progress.
    pub pending: u64,
    /// Peers with an open Diameter connection.
    pub peers_up: u64,
    /// VPN database lookups.
    pub lookups: u64,
    /// VPN database lookups that failed.
    pub lookup_errors: u64,
    /// AAAH: `vpn_session` rows written by the session writer.
    pub sessions_recorded: u64,
    /// AAAH: sessions ended (their rows removed) by the session writer.
    pub sessions_ended: u64,
    /// AAAH: session changes the VPN database refused.
    pub session_record_errors: u64,
    /// AAAH: session changes dropped because the session writer's queue was full.
    pub session_records_dropped: u64,
    /// The engine's own counters by name (AAAH: `rx_amr`, `unknown_user`, `auth_failed`,
    /// `not_authorized`, `plain_authorized`, …; AAAF: its cache and forwarding counters).
    pub engine: BTreeMap<String, u64>,
}

impl From<&crate::aaa::AaaStats> for AaaSnapshot {
    fn from(a: &crate::aaa::AaaStats) -> Self {
        AaaSnapshot {
            role: a.role.to_string(),
            requests: a.requests,
            answers: a.answers,
            answers_by_result: a
                .answers_by_result
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            sessions: a.sessions,
            pending: a.pending,
            peers_up: a.peers_up,
            lookups: a.lookups,
            lookup_errors: a.lookup_errors,
            sessions_recorded: a.sessions_recorded,
            sessions_ended: a.sessions_ended,
            session_record_errors: a.session_record_errors,
            session_records_dropped: a.session_records_dropped,
            engine: a.engine.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }
}

/// One port's counters, summed over the workers.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct PortStats {
    /// Port name from the profile.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets received on this port and dropped.
    pub drops: u64,
    /// The port backend's own statistics of the port, by name: af_packet's kernel counters
    /// (`kernel_packets`, `kernel_drops`), `rx_oversize`, `rx_no_buffer`, `tx_ring_full`,
    /// `rx_csum_completed`, `rx_csum_unhandled`; a DPDK port's xstats. Empty for ports
    /// without any (generators, capture files).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub device: BTreeMap<String, u64>,
}

/// One worker's counters.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct WorkerStats {
    /// Worker index.
    pub id: usize,
    /// Packets received on all its queues.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Drops by counter name (`dataplane::counters::Drop::name`), zero counters left out.
    pub drops: BTreeMap<String, u64>,
    /// Punts to the control core.
    pub punts: u64,
}

/// One VR's counters and sessions.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct VrStats {
    /// VR name.
    pub name: String,
    /// VR id.
    pub id: u32,
    /// Owning tenant (the delegation).
    pub tenant: String,
    /// Packets that entered the VR.
    pub rx_packets: u64,
    /// Packets the VR sent.
    pub tx_packets: u64,
    /// Bytes that entered the VR.
    pub rx_bytes: u64,
    /// Bytes the VR sent.
    pub tx_bytes: u64,
    /// Packets of the VR dropped.
    pub drops: u64,
    /// L2TP tunnels of the VR's endpoint.
    pub tunnels: u64,
    /// Sessions (L2TP, PPP subscribers) in the VR.
    pub sessions: u64,
    /// Other VRs of its VPN in the VR's configuration map (VR discovery; 0 without).
    pub discovery_peers: u64,
}

/// One VR's RADIUS client statistics.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RadiusStats {
    /// The VR.
    pub vr: String,
    /// Owning tenant of the VR (for scoping).
    pub tenant: String,
    /// Counter name → value, as the RADIUS client reports them.
    pub counters: BTreeMap<String, u64>,
}

/// A cumulative histogram (Prometheus style): bucket upper bounds in microseconds.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Histogram {
    /// `(upper bound µs, observations ≤ bound)`, bounds increasing.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations, µs.
    pub sum_us: f64,
    /// Number of observations.
    pub count: u64,
}

/// Publication of forwarding-state versions.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct PublishStats {
    /// Versions published.
    pub count: u64,
    /// Total time spent committing and publishing, µs.
    pub total_delay_us: f64,
    /// The last publication's delay, µs.
    pub last_delay_us: f64,
    /// Longest time from a table change to its publication, µs.
    pub max_change_to_publish_us: f64,
}

/// A VR's `(rx bytes, tx bytes)` summed over the workers (0 for a VR not in `st`).
pub fn vr_bytes(st: &vr::ForwardingState, id: u32) -> (u64, u64) {
    use vr::counters::vr_counter::{RX_BYTES, TX_BYTES};
    st.vr(vr::VrId(id)).map_or((0, 0), |e| {
        (e.counters.total(RX_BYTES), e.counters.total(TX_BYTES))
    })
}

impl From<&controlcore::LatencyHistogram> for Histogram {
    fn from(h: &controlcore::LatencyHistogram) -> Self {
        Histogram {
            buckets: h.cumulative().map(|(b, c)| (b as f64, c)).collect(),
            sum_us: h.sum().as_secs_f64() * 1e6,
            count: h.count(),
        }
    }
}

impl From<&controlcore::CoreStats> for PublishStats {
    fn from(s: &controlcore::CoreStats) -> Self {
        PublishStats {
            count: s.publications,
            total_delay_us: s.publish_time.as_secs_f64() * 1e6,
            last_delay_us: s.last_publish_time.as_secs_f64() * 1e6,
            max_change_to_publish_us: s.max_publish_delay.as_secs_f64() * 1e6,
        }
    }
}

impl Snapshot {
    /// The part of the snapshot `scope` may see: VRs (and their RADIUS lines) of other
    /// tenants vanish; appliance-wide facts only for [`Scope::All`].
    pub fn scoped(&self, scope: &Scope) -> Snapshot {
        if scope.sees_appliance() {
            return self.clone();
        }
        Snapshot {
            uptime_s: self.uptime_s,
            ports: Vec::new(),
            workers: Vec::new(),
            vrs: self
                .vrs
                .iter()
                .filter(|v| scope.sees(&v.tenant))
                .cloned()
                .collect(),
            radius: self
                .radius
                .iter()
                .filter(|r| scope.sees(&r.tenant))
                .cloned()
                .collect(),
            loop_latency: Histogram::default(),
            publish: PublishStats::default(),
            aaa: None,
            discovery: None,
            ldp: None,
            vpn_peering: None,
            transactions: Default::default(),
            mobile: self
                .mobile
                .iter()
                .filter(|m| scope.sees(&m.tenant))
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vr(name: &str, tenant: &str) -> VrStats {
        VrStats {
            name: name.into(),
            tenant: tenant.into(),
            ..VrStats::default()
        }
    }

    #[test]
    fn a_tenant_sees_only_its_vrs_and_nothing_appliance_wide() {
        let s = Snapshot {
            ports: vec![PortStats::default()],
            workers: vec![WorkerStats::default()],
            vrs: vec![vr("a", "t1"), vr("b", "t2")],
            radius: vec![RadiusStats {
                vr: "b".into(),
                tenant: "t2".into(),
                counters: BTreeMap::new(),
            }],
            ..Snapshot::default()
        };
        let t1 = s.scoped(&Scope::Tenant("t1".into()));
        assert_eq!(t1.vrs.len(), 1);
        assert_eq!(t1.vrs[0].name, "a");
        assert!(t1.radius.is_empty() && t1.ports.is_empty() && t1.workers.is_empty());
        let all = s.scoped(&Scope::All);
        assert_eq!((all.vrs.len(), all.ports.len()), (2, 1));
    }
}
