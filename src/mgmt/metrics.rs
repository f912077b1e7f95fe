//! The Prometheus exposition (`GET /metrics`): a [`Snapshot`] cut to the principal's
//! [`Scope`], encoded with the `prometheus-client` crate.
//!
//! Every scrape encodes the snapshot the control thread just built; nothing is kept between
//! scrapes (the counters live in the workers and the control core, the snapshot reads them).
//! Series, all prefixed `varouter_`:
//!
//! | metric | type | labels | scope |
//! |---|---|---|---|
//! | `uptime_seconds` | gauge | | any |
//! | `vr_rx_packets_total`, `vr_tx_packets_total`, `vr_rx_bytes_total`, `vr_tx_bytes_total`, `vr_drops_total` | counter | `vr`, `tenant` | VRs in scope |
//! | `vr_tunnels`, `vr_sessions` | gauge | `vr`, `tenant` | VRs in scope |
//! | `radius_client_events_total` | counter | `vr`, `tenant`, `event` | VRs in scope |
//! | `port_rx_packets_total`, `port_tx_packets_total`, `port_drops_total` | counter | `port` | appliance |
//! | `port_device_total` | counter | `port`, `stat` (the backend's own: `kernel_drops`, `rx_csum_completed`, DPDK xstats, ...) | appliance |
//! | `worker_rx_packets_total`, `worker_tx_packets_total`, `worker_punts_total` | counter | `worker` | appliance |
//! | `worker_drops_total` | counter | `worker`, `reason` | appliance |
//! | `control_loop_busy_seconds` | histogram | | appliance |
//! | `publish_total`, `publish_seconds_total` | counter | | appliance |
//! | `publish_last_seconds`, `publish_max_delay_seconds` | gauge | | appliance |
//! | `vr_discovery_peers` | gauge | `vr`, `tenant` | VRs in scope |
//! | `discovery_events_total` | counter | `event` | appliance, with a `discovery:` section |
//! | `vpn_peering_events_total` | counter | `event` | appliance, with a `vpn_peering:` section |
//! | `vpn_peering_vrs`, `vpn_peering_channels_up`, `vpn_peering_channels_held`, `vpn_peering_fib_routes` | gauge | | appliance, with a `vpn_peering:` section |
//! | `discovery_vrs_announced`, `discovery_vrs_not_announced`, `discovery_map_entries`, `discovery_tx_queued` | gauge | | appliance, with a `discovery:` section |
//! | `api_transactions_total` | counter | `path` (`fast`, `full`, `moves`) | appliance |
//! | `api_transaction_fallbacks_total` | counter | `reason` (`disabled`, `delete_after_add`, `document_mismatch`, `table_limit`) | appliance |
//! | `ldp_events_total` | counter | `event` | appliance, with an `ldp:` section |
//! | `ldp_sessions_up`, `ldp_bindings_learnt`, `ldp_bindings_local`, `ldp_cross_connects` | gauge | | appliance, with an `ldp:` section |
//! | `aaa_requests_total`, `aaa_lookups_total`, `aaa_lookup_errors_total` | counter | `role` | appliance, with an `aaa:` section |
//! | `aaa_sessions_recorded_total`, `aaa_sessions_ended_total`, `aaa_session_record_errors_total`, `aaa_session_records_dropped_total` | counter | `role` | appliance, with an `aaa:` section (zero unless a home AAA records sessions) |
//! | `aaa_answers_total` | counter | `role`, `result_code` | appliance, with an `aaa:` section |
//! | `aaa_engine_events_total` | counter | `role`, `event` (the engine's counter names) | appliance, with an `aaa:` section |
//! | `aaa_sessions`, `aaa_pending`, `aaa_peers_up` | gauge | `role` | appliance, with an `aaa:` section |
//! | `mobile_ip_events_total` | counter | `agent`, `role`, `vr`, `tenant`, `event` (`accepted`, `denied`, `bad_authenticator`, `replayed`, `expiries`, ...) | per agent of the `mobile_ip:` section, scoped by its VR |
//! | `mobile_ip_denied_total` | counter | `agent`, `vr`, `tenant`, `code` (Registration Reply code) | per agent |
//! | `mobile_ip_entries` | gauge | `agent`, `role`, `vr`, `tenant` | bindings (HA), visitors (FA), cache entries (PCN) |
//!
//! A tenant's scope sees only its own VRs: the snapshot is scoped first
//! ([`Snapshot::scoped`]) and the appliance-wide families (ports, workers, the control loop,
//! publication) are not even declared, so another tenant's VR name cannot appear anywhere.
//!
//! The format is the Prometheus text format 0.0.4 (what `promtool check metrics` reads and
//! every Prometheus scrapes), or OpenMetrics when the scraper asks for it in `Accept`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::auth::Principal;
use super::scope::Scope;
use super::server::ApiState;
use super::snapshot::{
    AaaSnapshot, DiscoverySnapshot, Histogram, PortStats, Snapshot, VpnPeeringSnapshot, VrStats,
    WorkerStats,
};

/// The exposition formats `/metrics` can answer in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the default).
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format a scraper's `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text`, otherwise the Prometheus text format.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// `GET /metrics` (merged into the authenticated routes: the caller is known).
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new().route("/metrics", get(metrics))
}

/// One scrape: a fresh snapshot from the control thread, in the caller's scope.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    description = "Prometheus exposition of the caller's scope (text 0.0.4; OpenMetrics when \
                   `Accept` asks for `application/openmetrics-text`).",
    responses(
        (status = 200, description = "The exposition", content_type = "text/plain", body = String),
        (status = 401, description = "Missing or unknown token", body = super::ApiError),
        (status = 503, description = "The control loop did not answer", body = super::ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn metrics(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Arc<Principal>>,
    headers: HeaderMap,
) -> Response {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|h| h.to_str().ok()));
    let scope = who.scope();
    match st.snapshot(who).await {
        Ok(snap) => {
            let mut text = render(&snap, &scope, format);
            // The users' web page's counters: appliance-wide, the carrier's only.
            if let (Some(p), true) = (&st.portal, scope.sees_appliance()) {
                let om = matches!(format, Format::OpenMetrics);
                let extra = p.metrics_text(om);
                match text.rfind("# EOF\n") {
                    Some(i) if om => text.insert_str(i, &extra),
                    _ => text.push_str(&extra),
                }
            }
            ([(header::CONTENT_TYPE, format.content_type())], text).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The exposition of `snap` as `scope` may see it.
pub fn render(snap: &Snapshot, scope: &Scope, format: Format) -> String {
    let mut registry = Registry::with_prefix("varouter");
    registry.register_collector(Box::new(SnapshotCollector {
        snap: snap.scoped(scope),
        appliance: scope.sees_appliance(),
    }));
    let mut out = String::new();
    let res = match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
    };
    // Writing into a String cannot fail, and the collector only fails on an empty histogram,
    // which it never encodes; keep whatever was written rather than panic.
    if res.is_err() {
        tracing::warn!("metrics: encoding stopped early");
    }
    out
}

/// One scrape's values: an already scoped snapshot.
#[derive(Debug)]
struct SnapshotCollector {
    snap: Snapshot,
    /// Whether the appliance-wide families are shown.
    appliance: bool,
}

/// Encodes one metric family: `name`, `help`, and its samples (label set, value).
fn family<L, M>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ty: MetricType,
    samples: impl Iterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error>
where
    L: prometheus_client::encoding::EncodeLabelSet,
    M: EncodeMetric,
{
    let mut fam = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, m) in samples {
        m.encode(fam.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge(v: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The labels of a VR's series.
fn vr_labels(v: &VrStats) -> [(&'static str, &str); 2] {
    [("vr", v.name.as_str()), ("tenant", v.tenant.as_str())]
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.snap;
        let c = MetricType::Counter;
        let g = MetricType::Gauge;

        let up = ConstGauge::new(s.uptime_s);
        up.encode(enc.encode_descriptor(
            "uptime_seconds",
            "Seconds since the appliance started forwarding.",
            None,
            g,
        )?)?;

        type VrField = fn(&VrStats) -> u64;
        let vr_counters: [(&str, &str, VrField); 5] = [
            ("vr_rx_packets", "Packets that entered the VR.", |v| {
                v.rx_packets
            }),
            ("vr_tx_packets", "Packets the VR sent.", |v| v.tx_packets),
            ("vr_rx_bytes", "Bytes that entered the VR.", |v| v.rx_bytes),
            ("vr_tx_bytes", "Bytes the VR sent.", |v| v.tx_bytes),
            ("vr_drops", "Packets of the VR dropped.", |v| v.drops),
        ];
        for (name, help, f) in vr_counters {
            let samples = s.vrs.iter().map(|v| (vr_labels(v), counter(f(v))));
            family(&mut enc, name, help, c, samples)?;
        }
        let vr_gauges: [(&str, &str, VrField); 3] = [
            (
                "vr_discovery_peers",
                "Other VRs of the VR's VPN in its configuration map (VR discovery).",
                |v| v.discovery_peers,
            ),
            ("vr_tunnels", "L2TP tunnels of the VR's endpoint.", |v| {
                v.tunnels
            }),
            (
                "vr_sessions",
                "Sessions (L2TP, PPP subscribers) in the VR.",
                |v| v.sessions,
            ),
        ];
        for (name, help, f) in vr_gauges {
            let samples = s.vrs.iter().map(|v| (vr_labels(v), gauge(f(v))));
            family(&mut enc, name, help, g, samples)?;
        }
        let radius = s.radius.iter().flat_map(|r| {
            r.counters.iter().map(move |(event, v)| {
                (
                    [
                        ("vr", r.vr.as_str()),
                        ("tenant", r.tenant.as_str()),
                        ("event", event.as_str()),
                    ],
                    counter(*v),
                )
            })
        });
        family(
            &mut enc,
            "radius_client_events",
            "RADIUS client counters of the VR, by event.",
            c,
            radius,
        )?;

        if !self.appliance {
            return Ok(());
        }

        type PortField = fn(&PortStats) -> u64;
        let port_counters: [(&str, &str, PortField); 3] = [
            ("port_rx_packets", "Packets received on the port.", |p| {
                p.rx_packets
            }),
            ("port_tx_packets", "Packets sent on the port.", |p| {
                p.tx_packets
            }),
            (
                "port_drops",
                "Packets received on the port and dropped.",
                |p| p.drops,
            ),
        ];
        for (name, help, f) in port_counters {
            let samples = s
                .ports
                .iter()
                .map(|p| ([("port", p.name.as_str())], counter(f(p))));
            family(&mut enc, name, help, c, samples)?;
        }
        let device = s.ports.iter().flat_map(|p| {
            p.device.iter().map(move |(stat, v)| {
                (
                    [("port", p.name.as_str()), ("stat", stat.as_str())],
                    counter(*v),
                )
            })
        });
        family(
            &mut enc,
            "port_device",
            "The port backend's own statistics of the port (af_packet kernel counters and checksum completion, DPDK xstats), by name.",
            c,
            device,
        )?;

        let ids: Vec<String> = s.workers.iter().map(|w| w.id.to_string()).collect();
        type WorkerField = fn(&WorkerStats) -> u64;
        let worker_counters: [(&str, &str, WorkerField); 3] = [
            (
                "worker_rx_packets",
                "Packets the worker received on all its queues.",
                |w| w.rx_packets,
            ),
            ("worker_tx_packets", "Packets the worker sent.", |w| {
                w.tx_packets
            }),
            (
                "worker_punts",
                "Packets the worker punted to the control core.",
                |w| w.punts,
            ),
        ];
        for (name, help, f) in worker_counters {
            let samples = s
                .workers
                .iter()
                .zip(&ids)
                .map(|(w, id)| ([("worker", id.as_str())], counter(f(w))));
            family(&mut enc, name, help, c, samples)?;
        }
        let drops = s.workers.iter().zip(&ids).flat_map(|(w, id)| {
            w.drops.iter().map(move |(reason, v)| {
                (
                    [("worker", id.as_str()), ("reason", reason.as_str())],
                    counter(*v),
                )
            })
        });
        family(
            &mut enc,
            "worker_drops",
            "Packets the worker dropped, by reason.",
            c,
            drops,
        )?;

        encode_histogram(
            &mut enc,
            "control_loop_busy_seconds",
            "Busy time of control-loop iterations (punts, timers, sockets, management, publication).",
            &s.loop_latency,
        )?;
        counter(s.publish.count).encode(enc.encode_descriptor(
            "publish",
            "Forwarding-state versions published to the workers.",
            None,
            c,
        )?)?;
        ConstCounter::new(s.publish.total_delay_us / 1e6).encode(enc.encode_descriptor(
            "publish_seconds",
            "Time spent committing and publishing versions.",
            None,
            c,
        )?)?;
        ConstGauge::new(s.publish.last_delay_us / 1e6).encode(enc.encode_descriptor(
            "publish_last_seconds",
            "Commit-and-publish time of the last version.",
            None,
            g,
        )?)?;
        ConstGauge::new(s.publish.max_change_to_publish_us / 1e6).encode(
            enc.encode_descriptor(
                "publish_max_delay_seconds",
                "Longest time from a table change to its publication to the workers.",
                None,
                g,
            )?,
        )?;
        if let Some(d) = &s.discovery {
            let events = d
                .counters
                .iter()
                .map(|(event, v)| ([("event", event.as_str())], counter(*v)));
            family(
                &mut enc,
                "discovery_events",
                "VR discovery counters by event (rx_ok, rx_bad_auth, rx_unknown_key, rx_replay, tx_addition, ...).",
                c,
                events,
            )?;
            type DiscField = fn(&DiscoverySnapshot) -> u64;
            let gauges: [(&str, &str, DiscField); 4] = [
                (
                    "discovery_tx_queued",
                    "Discovery datagrams waiting for the send pacing.",
                    |d| d.tx_queued,
                ),
                (
                    "discovery_vrs_announced",
                    "Local VRs announced by VR discovery.",
                    |d| d.vrs_announced,
                ),
                (
                    "discovery_vrs_not_announced",
                    "Local VRs of a discovery VPN not announced (no address, refused).",
                    |d| d.vrs_not_announced,
                ),
                (
                    "discovery_map_entries",
                    "Entries in all local VRs' configuration maps.",
                    |d| d.map_entries,
                ),
            ];
            for (name, help, f) in gauges {
                gauge(f(d)).encode(enc.encode_descriptor(name, help, None, g)?)?;
            }
        }
        if let Some(d) = &s.vpn_peering {
            let events = d
                .counters
                .iter()
                .map(|(event, v)| ([("event", event.as_str())], counter(*v)));
            family(
                &mut enc,
                "vpn_peering_events",
                "VPN peering counters by event (auth_accepts, auth_rejects, routes_rx, routes_tx, fib_installs, withdraws_rx, hold_expiries, ...).",
                c,
                events,
            )?;
            type PeerField = fn(&VpnPeeringSnapshot) -> u64;
            let gauges: [(&str, &str, PeerField); 4] = [
                (
                    "vpn_peering_vrs",
                    "Local VRs taking part in VPN peering.",
                    |d| d.vrs,
                ),
                (
                    "vpn_peering_channels_up",
                    "VPN peering channels authenticated both ways.",
                    |d| d.channels_up,
                ),
                (
                    "vpn_peering_channels_held",
                    "VPN peering channels on hold (peer silent, routes kept).",
                    |d| d.channels_held,
                ),
                (
                    "vpn_peering_fib_routes",
                    "Routes learnt over VPN peering channels in the VRs' FIBs.",
                    |d| d.fib_routes,
                ),
            ];
            for (name, help, f) in gauges {
                gauge(f(d)).encode(enc.encode_descriptor(name, help, None, g)?)?;
            }
        }
        let t = &s.transactions;
        family(
            &mut enc,
            "api_transactions",
            "API transactions checked, by path: fast (route changes only, checked route by route), full (the whole profile), moves (sessions and tunnels only).",
            c,
            [("fast", t.fast), ("full", t.full), ("moves", t.moves)]
                .into_iter()
                .map(|(p, n)| ([("path", p)], counter(n))),
        )?;
        // Every reason, zeros included: a rate() over a reason that has not happened yet
        // is 0, not absent.
        family(
            &mut enc,
            "api_transaction_fallbacks",
            "Transactions of only route changes that went the full path, by reason.",
            c,
            super::fast::Fallback::ALL.iter().map(|f| {
                let n = t.fallbacks.get(f.name()).copied().unwrap_or(0);
                ([("reason", f.name())], counter(n))
            }),
        )?;
        if let Some(l) = &s.ldp {
            family(
                &mut enc,
                "ldp_events",
                "LDP counters by event (hellos_received, sessions_up, mappings_received, labels_set, label_conflicts, ...).",
                c,
                l.counters
                    .iter()
                    .map(|(k, v)| ([("event", k.as_str())], counter(*v))),
            )?;
            type LdpField = fn(&super::snapshot::LdpSnapshot) -> u64;
            let ldp_gauges: [(&str, &str, LdpField); 4] = [
                ("ldp_sessions_up", "LDP sessions operational.", |l| {
                    l.sessions_up
                }),
                (
                    "ldp_bindings_learnt",
                    "LDP label bindings learnt from peers.",
                    |l| l.bindings_learnt,
                ),
                (
                    "ldp_bindings_local",
                    "LDP label bindings advertised (local FECs).",
                    |l| l.bindings_local,
                ),
                (
                    "ldp_cross_connects",
                    "Label-matrix entries installed by LDP.",
                    |l| l.cross_connects,
                ),
            ];
            for (name, help, f) in ldp_gauges {
                gauge(f(l)).encode(enc.encode_descriptor(name, help, None, g)?)?;
            }
        }
        if !s.mobile.is_empty() {
            family(
                &mut enc,
                "mobile_ip_events",
                "Mobile IP agent events: registrations accepted, denied, bad authenticators, replayed identifications, lifetime expiries, datagrams, Diameter messages.",
                c,
                s.mobile.iter().flat_map(|m| {
                    m.counters.iter().map(move |(k, v)| {
                        (
                            [
                                ("agent", m.agent.as_str()),
                                ("role", m.role.as_str()),
                                ("vr", m.vr.as_str()),
                                ("tenant", m.tenant.as_str()),
                                ("event", k.as_str()),
                            ],
                            counter(*v),
                        )
                    })
                }),
            )?;
            family(
                &mut enc,
                "mobile_ip_denied",
                "Registrations a Mobile IP agent denied, by Registration Reply code.",
                c,
                s.mobile.iter().flat_map(|m| {
                    m.denied_by_code.iter().map(move |(k, v)| {
                        (
                            [
                                ("agent", m.agent.as_str()),
                                ("vr", m.vr.as_str()),
                                ("tenant", m.tenant.as_str()),
                                ("code", k.as_str()),
                            ],
                            counter(*v),
                        )
                    })
                }),
            )?;
            family(
                &mut enc,
                "mobile_ip_entries",
                "Bindings (home agent), visitors (foreign agent) or binding cache entries (PCN) held.",
                g,
                s.mobile.iter().map(|m| {
                    (
                        [
                            ("agent", m.agent.as_str()),
                            ("role", m.role.as_str()),
                            ("vr", m.vr.as_str()),
                            ("tenant", m.tenant.as_str()),
                        ],
                        gauge(m.entries),
                    )
                }),
            )?;
        }
        if let Some(a) = &s.aaa {
            let role = [("role", a.role.as_str())];
            type AaaField = fn(&AaaSnapshot) -> u64;
            let aaa_counters: [(&str, &str, AaaField); 7] = [
                ("aaa_requests", "Diameter requests the AAA received.", |a| {
                    a.requests
                }),
                ("aaa_lookups", "VPN database lookups of the AAA.", |a| {
                    a.lookups
                }),
                (
                    "aaa_lookup_errors",
                    "VPN database lookups that failed (answered 5012).",
                    |a| a.lookup_errors,
                ),
                (
                    "aaa_sessions_recorded",
                    "Session rows the home AAA's session writer wrote into vpn_session.",
                    |a| a.sessions_recorded,
                ),
                (
                    "aaa_sessions_ended",
                    "Sessions the home AAA's session writer ended in vpn_session.",
                    |a| a.sessions_ended,
                ),
                (
                    "aaa_session_record_errors",
                    "Session changes the VPN database refused (batch failed or row invalid).",
                    |a| a.session_record_errors,
                ),
                (
                    "aaa_session_records_dropped",
                    "Session changes dropped because the session writer's queue was full.",
                    |a| a.session_records_dropped,
                ),
            ];
            for (name, help, f) in aaa_counters {
                family(
                    &mut enc,
                    name,
                    help,
                    c,
                    std::iter::once((role, counter(f(a)))),
                )?;
            }
            let answers = a.answers_by_result.iter().map(|(code, v)| {
                (
                    [("role", a.role.as_str()), ("result_code", code.as_str())],
                    counter(*v),
                )
            });
            family(
                &mut enc,
                "aaa_answers",
                "Diameter answers the AAA sent, by Result-Code.",
                c,
                answers,
            )?;
            let engine = a.engine.iter().map(|(name, v)| {
                (
                    [("role", a.role.as_str()), ("event", name.as_str())],
                    counter(*v),
                )
            });
            family(
                &mut enc,
                "aaa_engine_events",
                "The AAA engine's own counters by name (AAAH: unknown_user, auth_failed, not_authorized, plain_authorized, ...).",
                c,
                engine,
            )?;
            let aaa_gauges: [(&str, &str, AaaField); 3] = [
                (
                    "aaa_sessions",
                    "Sessions of the home AAA (cache entries of a foreign AAA).",
                    |a| a.sessions,
                ),
                ("aaa_pending", "AAA transactions in progress.", |a| {
                    a.pending
                }),
                (
                    "aaa_peers_up",
                    "Diameter peers with an open connection to the AAA.",
                    |a| a.peers_up,
                ),
            ];
            for (name, help, f) in aaa_gauges {
                family(
                    &mut enc,
                    name,
                    help,
                    g,
                    std::iter::once((role, gauge(f(a)))),
                )?;
            }
        }
        Ok(())
    }
}

/// A histogram kept in µs (cumulative buckets), exposed in seconds.
fn encode_histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &Histogram,
) -> Result<(), std::fmt::Error> {
    // The encoder takes per-bucket counts and accumulates them itself; the last bucket
    // must be +Inf.
    let mut buckets = Vec::with_capacity(h.buckets.len() + 1);
    let mut below = 0;
    for &(le_us, cum) in &h.buckets {
        buckets.push((le_us / 1e6, cum.saturating_sub(below)));
        below = cum.max(below);
    }
    buckets.push((f64::INFINITY, h.count.saturating_sub(below)));
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        h.sum_us / 1e6,
        h.count,
        &buckets,
        None,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::mgmt::snapshot::{PublishStats, RadiusStats};

    fn snap() -> Snapshot {
        let vr = |name: &str, tenant: &str, rx: u64| VrStats {
            name: name.into(),
            id: 1,
            tenant: tenant.into(),
            rx_packets: rx,
            tx_packets: rx - 1,
            rx_bytes: rx * 100,
            tx_bytes: rx * 90,
            drops: 1,
            tunnels: 2,
            sessions: 3,
            discovery_peers: 4,
        };
        Snapshot {
            uptime_s: 12.5,
            ports: vec![PortStats {
                name: "uplink-secret-port".into(),
                rx_packets: 10,
                tx_packets: 9,
                drops: 1,
                device: BTreeMap::from([("rx_csum_completed".to_string(), 7)]),
            }],
            workers: vec![WorkerStats {
                id: 0,
                rx_packets: 10,
                tx_packets: 9,
                drops: BTreeMap::from([("no_route".to_string(), 4)]),
                punts: 2,
            }],
            vrs: vec![
                vr("blue-of-b", "carrier-b", 100),
                vr("red-of-c", "carrier-c", 200),
                vr("green-of-a", "carrier-a", 300),
            ],
            radius: vec![RadiusStats {
                vr: "red-of-c".into(),
                tenant: "carrier-c".into(),
                counters: BTreeMap::from([("access_accepts".to_string(), 7)]),
            }],
            loop_latency: Histogram {
                buckets: vec![(10.0, 5), (100.0, 8), (1000.0, 9)],
                sum_us: 2500.0,
                count: 10,
            },
            publish: PublishStats {
                count: 4,
                total_delay_us: 400.0,
                last_delay_us: 50.0,
                max_change_to_publish_us: 1500.0,
            },
            aaa: Some(AaaSnapshot {
                role: "home".into(),
                requests: 40,
                answers: 40,
                answers_by_result: BTreeMap::from([
                    ("2001".to_string(), 37),
                    ("4001".to_string(), 3),
                ]),
                sessions: 30,
                pending: 1,
                peers_up: 3,
                lookups: 39,
                lookup_errors: 0,
                sessions_recorded: 36,
                sessions_ended: 5,
                session_record_errors: 0,
                session_records_dropped: 2,
                engine: BTreeMap::from([
                    ("not_authorized".to_string(), 2),
                    ("plain_authorized".to_string(), 1),
                ]),
            }),
            ldp: None,
            discovery: Some(DiscoverySnapshot {
                vrs_announced: 3,
                vrs_not_announced: 0,
                map_entries: 12,
                tx_queued: 0,
                counters: BTreeMap::from([
                    ("rx_ok".to_string(), 20),
                    ("rx_unknown_key".to_string(), 6),
                ]),
            }),
            vpn_peering: Some(VpnPeeringSnapshot {
                vrs: 2,
                channels_up: 3,
                channels_held: 1,
                fib_routes: 40,
                counters: BTreeMap::from([
                    ("auth_rejects".to_string(), 2),
                    ("hold_expiries".to_string(), 1),
                ]),
            }),
            mobile: vec![crate::mgmt::mobile::MobileAgentStats {
                agent: "ha1".into(),
                role: "home_agent".into(),
                vr: "red-of-c".into(),
                tenant: "carrier-c".into(),
                counters: BTreeMap::from([
                    ("accepted".to_string(), 5),
                    ("replayed".to_string(), 2),
                ]),
                entries: 4,
                denied_by_code: BTreeMap::from([("133".to_string(), 2)]),
            }],
            transactions: crate::mgmt::exec::TxPaths {
                fast: 11,
                full: 3,
                moves: 2,
                fallbacks: BTreeMap::from([("delete_after_add".to_string(), 1)]),
            },
        }
    }

    #[test]
    fn a_tenant_sees_no_other_tenants_vr_anywhere() {
        let s = snap();
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let out = render(&s, &Scope::Tenant("carrier-b".into()), format);
            assert!(out.contains(r#"vr="blue-of-b""#), "{out}");
            for hidden in [
                "red-of-c",
                "carrier-c",
                "green-of-a",
                "carrier-a",
                "uplink-secret-port",
                "varouter_port_",
                "varouter_worker_",
                "no_route",
                "control_loop",
                "varouter_publish",
                "varouter_aaa_",
                "varouter_discovery_",
                "varouter_vpn_peering_",
            ] {
                assert!(!out.contains(hidden), "{hidden} leaked:\n{out}");
            }
        }
        // A tenant with no VR sees declarations and the uptime only.
        let none = render(&s, &Scope::Tenant("nobody".into()), Format::Prometheus);
        let samples: Vec<&str> = none.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["varouter_uptime_seconds 12.5"]);
    }

    #[test]
    fn the_carrier_sees_everything_in_prometheus_text_format() {
        let out = render(&snap(), &Scope::All, Format::Prometheus);
        for line in [
            "# HELP varouter_vr_rx_packets_total Packets that entered the VR.",
            "# TYPE varouter_vr_rx_packets_total counter",
            r#"varouter_vr_rx_packets_total{vr="red-of-c",tenant="carrier-c"} 200"#,
            r#"varouter_vr_tx_bytes_total{vr="green-of-a",tenant="carrier-a"} 27000"#,
            "# TYPE varouter_vr_sessions gauge",
            r#"varouter_vr_sessions{vr="blue-of-b",tenant="carrier-b"} 3"#,
            r#"varouter_radius_client_events_total{vr="red-of-c",tenant="carrier-c",event="access_accepts"} 7"#,
            r#"varouter_port_drops_total{port="uplink-secret-port"} 1"#,
            r#"varouter_port_device_total{port="uplink-secret-port",stat="rx_csum_completed"} 7"#,
            r#"varouter_worker_drops_total{worker="0",reason="no_route"} 4"#,
            r#"varouter_worker_punts_total{worker="0"} 2"#,
            "# TYPE varouter_control_loop_busy_seconds histogram",
            r#"varouter_control_loop_busy_seconds_bucket{le="1e-05"} 5"#,
            r#"varouter_control_loop_busy_seconds_bucket{le="0.0001"} 8"#,
            r#"varouter_control_loop_busy_seconds_bucket{le="0.001"} 9"#,
            r#"varouter_control_loop_busy_seconds_bucket{le="+Inf"} 10"#,
            "varouter_control_loop_busy_seconds_count 10",
            "varouter_control_loop_busy_seconds_sum 0.0025",
            "varouter_publish_total 4",
            "varouter_publish_last_seconds 0.00005",
            "varouter_publish_max_delay_seconds 0.0015",
            r#"varouter_vr_discovery_peers{vr="blue-of-b",tenant="carrier-b"} 4"#,
            r#"varouter_discovery_events_total{event="rx_unknown_key"} 6"#,
            r#"varouter_vpn_peering_events_total{event="auth_rejects"} 2"#,
            "varouter_vpn_peering_channels_held 1",
            "varouter_vpn_peering_fib_routes 40",
            "# TYPE varouter_discovery_map_entries gauge",
            "varouter_discovery_map_entries 12",
            r#"varouter_api_transactions_total{path="fast"} 11"#,
            r#"varouter_api_transactions_total{path="full"} 3"#,
            r#"varouter_api_transactions_total{path="moves"} 2"#,
            r#"varouter_api_transaction_fallbacks_total{reason="delete_after_add"} 1"#,
            r#"varouter_api_transaction_fallbacks_total{reason="disabled"} 0"#,
            r#"varouter_aaa_requests_total{role="home"} 40"#,
            r#"varouter_mobile_ip_events_total{agent="ha1",role="home_agent",vr="red-of-c",tenant="carrier-c",event="accepted"} 5"#,
            r#"varouter_mobile_ip_denied_total{agent="ha1",vr="red-of-c",tenant="carrier-c",code="133"} 2"#,
            r#"varouter_mobile_ip_entries{agent="ha1",role="home_agent",vr="red-of-c",tenant="carrier-c"} 4"#,
            r#"varouter_aaa_answers_total{role="home",result_code="2001"} 37"#,
            r#"varouter_aaa_answers_total{role="home",result_code="4001"} 3"#,
            r#"varouter_aaa_engine_events_total{role="home",event="plain_authorized"} 1"#,
            r#"varouter_aaa_engine_events_total{role="home",event="not_authorized"} 2"#,
            "# TYPE varouter_aaa_sessions gauge",
            r#"varouter_aaa_sessions{role="home"} 30"#,
            r#"varouter_aaa_peers_up{role="home"} 3"#,
            r#"varouter_aaa_lookup_errors_total{role="home"} 0"#,
            r#"varouter_aaa_sessions_recorded_total{role="home"} 36"#,
            r#"varouter_aaa_sessions_ended_total{role="home"} 5"#,
            r#"varouter_aaa_session_record_errors_total{role="home"} 0"#,
            r#"varouter_aaa_session_records_dropped_total{role="home"} 2"#,
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line}:\n{out}");
        }
        // Every sample belongs to a family declared with HELP and TYPE before it, and
        // every counter sample ends in _total.
        let mut declared: Vec<(String, String)> = Vec::new();
        for l in out.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let (n, t) = rest.split_once(' ').unwrap();
                declared.push((n.to_string(), t.to_string()));
                continue;
            }
            if l.starts_with('#') || l.is_empty() {
                continue;
            }
            let name = l.split(['{', ' ']).next().unwrap();
            let (fam, ty) = declared.last().expect("sample before any TYPE");
            assert!(name.starts_with(fam.as_str()), "{name} outside {fam}");
            if ty == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            }
            assert!(name.starts_with("varouter_"), "{name}");
        }
        assert!(!out.contains("# EOF"));
    }

    #[test]
    fn openmetrics_when_asked_for() {
        let a = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::from_accept(Some(a)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Prometheus);
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        let out = render(&snap(), &Scope::All, Format::OpenMetrics);
        assert!(out.ends_with("# EOF\n"));
        assert!(out.contains("# TYPE varouter_vr_rx_packets counter"));
        assert!(Format::OpenMetrics
            .content_type()
            .starts_with("application/openmetrics-text"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = snap();
        s.vrs[0].name = "we\"ird\\name\n".into();
        let out = render(&s, &Scope::All, Format::Prometheus);
        assert!(out.contains(r#"vr="we\"ird\\name\n""#), "{out}");
    }
}
