//! Prometheus metrics (`[metrics] listen`): what is exposed and how it is gathered.
//!
//! The driver never touches the exposition. It keeps plain event counters ([`EventCounts`],
//! bumped from node events as it drains them) and, when a scrape asks
//! ([`crate::control::Request::Metrics`]), answers with a [`Snapshot`] of plain values read
//! from the node's queries and the data plane's counters. The HTTP task (`metrics_http`)
//! turns that snapshot into Prometheus text through prometheus-client's encoder, off the
//! driver task. A scrape costs the driver one walk of the Loc-RIB (route counts) and of the
//! MAC table (per-VNI sizes).
//!
//! Every metric, its type and labels:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `evpnd_bgp_sessions` | gauge | `state` (idle, connect, active, opensent, openconfirm, established) |
//! | `evpnd_bgp_session_up` | gauge | `peer` |
//! | `evpnd_bgp_updates_received_total` | counter | `peer` |
//! | `evpnd_bgp_updates_sent_total` | counter | `peer` |
//! | `evpnd_bgp_rfc7606_outcomes_total` | counter | `peer`, `outcome` (attribute-discard, treat-as-withdraw, afi-safi-disable, session-reset) |
//! | `evpnd_bgp_peer_group_limit` | gauge | `group` |
//! | `evpnd_bgp_peer_group_sessions` | gauge | `group`, `state` (active, established) |
//! | `evpnd_bgp_peer_group_accepted_total` | counter | `group` |
//! | `evpnd_bgp_peer_group_refused_total` | counter | `group`, `reason` (limit) |
//! | `evpnd_bgp_refused_out_of_range_total` | counter | |
//! | `evpnd_bgp_routes` | gauge | `family`, `route_type` (EVPN 1–5, else empty), `vni` (else empty) |
//! | `evpnd_evpn_macs` | gauge | `vni`, `location` (local, remote) |
//! | `evpnd_evpn_arp_nd_entries` | gauge | `vni` |
//! | `evpnd_evpn_frozen` | gauge | `vni` (MACs and IPs frozen as duplicates) |
//! | `evpnd_evpn_flood_vteps` | gauge | `vni` |
//! | `evpnd_evpn_mac_moves_total` | counter | `vni` |
//! | `evpnd_evpn_duplicates_detected_total` | counter | `vni`, `subject` (mac, ip) |
//! | `evpnd_evpn_sticky_conflicts_total` | counter | `vni` |
//! | `evpnd_evpn_intents_total` | counter | |
//! | `evpnd_dataplane_intents_applied_total` | counter | `kind` |
//! | `evpnd_dataplane_failures_total` | counter | `kind` |
//! | `evpnd_dataplane_pending_retries` | gauge | `kind` |
//! | `evpnd_dataplane_resyncs_total` | counter | `kind` |
//! | `evpnd_dataplane_entries_written_total` | counter | `kind` |
//! | `evpnd_dataplane_apply_latency_seconds` | histogram | `kind` |

use evpnd_bgp::session::State;
use evpnd_dataplane::{Backend, BackendStats};
use evpnd_evpn::{EngineEvent, Subject, VniSummary};
use evpnd_node::{EvpnCounters, Node, NodeEvent, RouteCountKey, SessionCounters};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Per-VNI counts of engine events, kept by the driver since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VniEventCounts {
    /// MAC moves (RFC 7432 §15).
    pub mac_moves: u64,
    /// MACs detected as duplicates (RFC 7432 §15.1).
    pub mac_duplicates: u64,
    /// IPs detected as duplicates (RFC 9161).
    pub ip_duplicates: u64,
    /// Sticky MACs claimed elsewhere (RFC 7432 §15.2).
    pub sticky_conflicts: u64,
}

/// The engine events the driver counts, by VNI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// VNI → its counts.
    pub vnis: BTreeMap<u32, VniEventCounts>,
}

impl EventCounts {
    /// Counts one node event (a few increments: safe on the driver's hot path).
    pub fn observe(&mut self, ev: &NodeEvent) {
        let NodeEvent::Engine(e) = ev else {
            return;
        };
        match *e {
            EngineEvent::Moved { vni, .. } => self.vni(vni.get()).mac_moves += 1,
            EngineEvent::Duplicate {
                vni,
                subject: Subject::Mac(_),
                ..
            } => self.vni(vni.get()).mac_duplicates += 1,
            EngineEvent::Duplicate {
                vni,
                subject: Subject::Ip(_),
                ..
            } => self.vni(vni.get()).ip_duplicates += 1,
            EngineEvent::StickyConflict { vni, .. } => self.vni(vni.get()).sticky_conflicts += 1,
            _ => {}
        }
    }

    fn vni(&mut self, vni: u32) -> &mut VniEventCounts {
        self.vnis.entry(vni).or_default()
    }
}

/// Everything a scrape exposes, as plain values read by the driver.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Per-session counters.
    pub sessions: Vec<SessionCounters>,
    /// Peer groups and their counters.
    pub peer_groups: Vec<evpnd_node::PeerGroupView>,
    /// Connections refused from outside every listen range.
    pub refused_out_of_range: u64,
    /// Loc-RIB routes by family, EVPN route type and VNI.
    pub routes: BTreeMap<RouteCountKey, u64>,
    /// The EVIs with their table sizes (empty without an engine).
    pub vnis: Vec<VniSummary>,
    /// The engine's counters (`None`: no engine).
    pub evpn: Option<EvpnCounters>,
    /// Engine events counted by the driver.
    pub events: EventCounts,
    /// The data plane kind ("none", "memory", "linux").
    pub dataplane_kind: &'static str,
    /// The data plane's counters.
    pub dataplane: BackendStats,
}

impl Snapshot {
    /// Reads the snapshot from the node and the data plane (called on the driver task).
    pub fn read(node: &Node, dataplane: &dyn Backend, events: &EventCounts) -> Snapshot {
        Snapshot {
            sessions: node.session_counters(),
            peer_groups: node.peer_groups(),
            refused_out_of_range: node.refused_out_of_range(),
            routes: node.route_counts(),
            vnis: node.vnis().unwrap_or_default(),
            evpn: node.evpn_status().map(|s| s.counters),
            events: events.clone(),
            dataplane_kind: dataplane.kind(),
            dataplane: dataplane.stats(),
        }
    }
}

/// Session states in RFC 4271 §8.2.2 order: every state is exposed, with 0 when empty.
const STATES: [State; 6] = [
    State::Idle,
    State::Connect,
    State::Active,
    State::OpenSent,
    State::OpenConfirm,
    State::Established,
];

/// The exposition: a prometheus-client registry whose one collector encodes the latest
/// snapshot.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
    latest: Arc<Mutex<Snapshot>>,
}

impl Default for Exposition {
    fn default() -> Self {
        let latest = Arc::new(Mutex::new(Snapshot::default()));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SnapshotCollector(Arc::clone(&latest))));
        Exposition { registry, latest }
    }
}

impl Exposition {
    /// Encodes `snapshot` as Prometheus text (the OpenMetrics-compatible text format).
    pub fn render(&self, snapshot: Snapshot) -> Result<String, std::fmt::Error> {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = snapshot;
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[derive(Debug)]
struct SnapshotCollector(Arc<Mutex<Snapshot>>);

type Labels = Vec<(&'static str, String)>;

/// Writes one metric family: a descriptor, then one sample per label set.
fn family<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (Labels, V)>,
) -> Result<(), std::fmt::Error>
where
    V: prometheus_client::encoding::EncodeGaugeValue
        + prometheus_client::encoding::EncodeCounterValue,
{
    let mut m = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, v) in samples {
        if labels.is_empty() {
            sample(&mut m, metric_type, &v)?;
        } else {
            sample(&mut m.encode_family(&labels)?, metric_type, &v)?;
        }
    }
    Ok(())
}

fn sample<V>(
    e: &mut prometheus_client::encoding::MetricEncoder,
    metric_type: MetricType,
    v: &V,
) -> Result<(), std::fmt::Error>
where
    V: prometheus_client::encoding::EncodeGaugeValue
        + prometheus_client::encoding::EncodeCounterValue,
{
    match metric_type {
        MetricType::Counter => e.encode_counter::<NoLabelSet, V, u64>(v, None),
        _ => e.encode_gauge(v),
    }
}

fn label(key: &'static str, value: impl ToString) -> (&'static str, String) {
    (key, value.to_string())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let gauge = MetricType::Gauge;
        let counter = MetricType::Counter;
        family(
            &mut enc,
            "evpnd_bgp_sessions",
            "BGP sessions by state (RFC 4271 section 8.2.2)",
            gauge,
            STATES.iter().map(|st| {
                let n = s.sessions.iter().filter(|c| c.state == *st).count() as u64;
                (vec![label("state", st.name())], n)
            }),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_peer_group_limit",
            "Most dynamic sessions of the peer group at once",
            gauge,
            s.peer_groups
                .iter()
                .map(|g| (vec![label("group", &g.name)], u64::from(g.limit))),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_peer_group_sessions",
            "Dynamic neighbours of the peer group: active (with a slot) and established",
            gauge,
            s.peer_groups.iter().flat_map(|g| {
                [("active", g.active), ("established", g.established)].map(|(state, n)| {
                    (
                        vec![label("group", &g.name), label("state", state)],
                        u64::from(n),
                    )
                })
            }),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_peer_group_accepted",
            "Connections accepted as new dynamic neighbours of the peer group",
            counter,
            s.peer_groups
                .iter()
                .map(|g| (vec![label("group", &g.name)], g.accepted)),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_peer_group_refused",
            "Connections from the peer group's listen ranges refused before OPEN",
            counter,
            s.peer_groups.iter().map(|g| {
                (
                    vec![label("group", &g.name), label("reason", "limit")],
                    g.refused_limit,
                )
            }),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_refused_out_of_range",
            "Connections refused before OPEN: no neighbour and no listen range has their address",
            counter,
            [(Vec::new(), s.refused_out_of_range)],
        )?;
        family(
            &mut enc,
            "evpnd_bgp_session_up",
            "1 when the session with the neighbour is Established",
            gauge,
            s.sessions.iter().map(|c| {
                (
                    vec![label("peer", c.address)],
                    u64::from(c.state == State::Established),
                )
            }),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_updates_received",
            "UPDATE messages received from the neighbour",
            counter,
            s.sessions
                .iter()
                .map(|c| (vec![label("peer", c.address)], c.updates_in)),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_updates_sent",
            "UPDATE messages sent to the neighbour",
            counter,
            s.sessions
                .iter()
                .map(|c| (vec![label("peer", c.address)], c.updates_out)),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_rfc7606_outcomes",
            "Malformed UPDATEs received, by RFC 7606 section 2 error-handling outcome",
            counter,
            s.sessions.iter().flat_map(|c| {
                let r = c.rfc7606;
                [
                    ("attribute-discard", r.attribute_discard),
                    ("treat-as-withdraw", r.treat_as_withdraw),
                    ("afi-safi-disable", r.afi_safi_disable),
                    ("session-reset", r.session_reset),
                ]
                .map(|(outcome, n)| (vec![label("peer", c.address), label("outcome", outcome)], n))
            }),
        )?;
        family(
            &mut enc,
            "evpnd_bgp_routes",
            "Loc-RIB routes by family, EVPN route type and VNI",
            gauge,
            s.routes.iter().map(|(k, n)| {
                (
                    vec![
                        label("family", k.family),
                        label(
                            "route_type",
                            k.route_type.map(|t| t.to_string()).unwrap_or_default(),
                        ),
                        label("vni", k.vni.map(|v| v.to_string()).unwrap_or_default()),
                    ],
                    *n,
                )
            }),
        )?;
        family(
            &mut enc,
            "evpnd_evpn_macs",
            "MACs in the EVPN MAC table by VNI and location",
            gauge,
            s.vnis.iter().flat_map(|v| {
                [("local", v.local_macs), ("remote", v.remote_macs)].map(|(at, n)| {
                    (
                        vec![label("vni", v.evi.vni), label("location", at)],
                        n as u64,
                    )
                })
            }),
        )?;
        let per_vni = |f: fn(&VniSummary) -> usize| {
            s.vnis
                .iter()
                .map(move |v| (vec![label("vni", v.evi.vni)], f(v) as u64))
        };
        family(
            &mut enc,
            "evpnd_evpn_arp_nd_entries",
            "IP to MAC bindings (proxy ARP/ND, RFC 9161) by VNI",
            gauge,
            per_vni(|v| v.neighbors),
        )?;
        family(
            &mut enc,
            "evpnd_evpn_frozen",
            "MACs and IPs frozen as duplicates (RFC 7432 section 15.1, RFC 9161) by VNI",
            gauge,
            per_vni(|v| v.duplicates),
        )?;
        family(
            &mut enc,
            "evpnd_evpn_flood_vteps",
            "Remote VTEPs in the ingress-replication flood list (RFC 8365 section 9) by VNI",
            gauge,
            per_vni(|v| v.flood_vteps),
        )?;
        let events = |f: fn(&VniEventCounts) -> u64| {
            s.events
                .vnis
                .iter()
                .map(move |(vni, c)| (vec![label("vni", vni)], f(c)))
        };
        family(
            &mut enc,
            "evpnd_evpn_mac_moves",
            "MAC moves (RFC 7432 section 15) by VNI",
            counter,
            events(|c| c.mac_moves),
        )?;
        family(
            &mut enc,
            "evpnd_evpn_duplicates_detected",
            "MACs and IPs detected as duplicates (RFC 7432 section 15.1, RFC 9161) by VNI",
            counter,
            s.events.vnis.iter().flat_map(|(vni, c)| {
                [("mac", c.mac_duplicates), ("ip", c.ip_duplicates)]
                    .map(|(subject, n)| (vec![label("vni", vni), label("subject", subject)], n))
            }),
        )?;
        family(
            &mut enc,
            "evpnd_evpn_sticky_conflicts",
            "Sticky MACs claimed elsewhere (RFC 7432 section 15.2) by VNI",
            counter,
            events(|c| c.sticky_conflicts),
        )?;
        family(
            &mut enc,
            "evpnd_evpn_intents",
            "Data-plane intents the EVPN engine handed to the driver",
            counter,
            s.evpn.map(|e| (Labels::new(), e.intents)),
        )?;
        let kind = || vec![label("kind", s.dataplane_kind)];
        let d = s.dataplane;
        for (name, help, metric_type, value) in [
            (
                "evpnd_dataplane_intents_applied",
                "Intents the data plane applied",
                counter,
                d.applied,
            ),
            (
                "evpnd_dataplane_failures",
                "Intents the data plane failed to install (each retried)",
                counter,
                d.failures,
            ),
            (
                "evpnd_dataplane_pending_retries",
                "Intents waiting to be retried",
                gauge,
                d.pending_retries,
            ),
            (
                "evpnd_dataplane_resyncs",
                "Kernel notification overflows after which the data plane re-read its state",
                counter,
                d.resyncs,
            ),
            (
                "evpnd_dataplane_entries_written",
                "Entry requests (FDB, flood, neighbour) written to the data plane",
                counter,
                d.entries_written,
            ),
        ] {
            family(&mut enc, name, help, metric_type, [(kind(), value)])?;
        }
        let h = d.apply_latency;
        let mut m = enc.encode_descriptor(
            "evpnd_dataplane_apply_latency_seconds",
            "Time from the driver's submit of an intent batch to the data plane holding it applied",
            None,
            MetricType::Histogram,
        )?;
        let labels = kind();
        m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            h.sum_micros as f64 / 1e6,
            h.count,
            &h.buckets_seconds(),
            None,
        )?;
        Ok(())
    }
}
