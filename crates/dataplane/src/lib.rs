//! # evpnd-dataplane: where the EVPN engine's intents go
//!
//! The engine (crate `evpnd-evpn`) emits [`DataplaneIntent`] *deltas*: each add is matched by
//! exactly one removal later, and a replacement (a MAC that moves) is an add over an existing
//! entry. A data plane therefore only applies changes; it never diffs tables (a backend that
//! finds state left by an earlier run reconciles it once, at start).
//!
//! Two ways to drive a backend, one set of types:
//! * [`Dataplane`]: applied in line, for backends that cannot block ([`MemoryDataplane`],
//!   [`NoDataplane`]); the fabric simulator and the tests use it.
//! * [`Backend`]: a backend that does I/O (the Linux kernel over netlink, later an external
//!   forwarder stream) runs beside the core. It takes ordered batches of intents through
//!   [`Backend::submit`], never blocking the caller, and reports [`Feedback`] through the
//!   [`FeedbackSink`] it was given: install failures (naming the intent), MACs it learned
//!   locally and the state of each VNI's devices. Nothing in these types is kernel-specific.
//!
//! * [`MemoryDataplane`] keeps the tables a kernel would hold (broadcast domains and their
//!   ports, remote FDB, flood lists, proxy ARP/ND bindings) and applies deltas exactly,
//!   refusing inconsistent ones (a removal of an absent entry, a flood entry added twice, an
//!   entry of an unknown VNI). It is the one in-memory data plane: the daemon's
//!   `kind = "memory"`, the fabric simulator and every test use it.
//! * [`NoDataplane`] (`kind = "none"`) drops intents: a route reflector or pure control plane.
//! * `linux` (Linux only): the kernel backend; all netlink code lives in that one module.

#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
pub mod linux;
mod memory;

pub use memory::{
    FdbEntry, GatewayEntry, Inconsistent, MemoryDataplane, NeighEntry, RoutePath, RoutePaths,
    VrfEntry,
};

pub use evpnd_evpn::{DataplaneIntent, PortName, VrfName};

use evpnd_wire::MacAddress;
use std::net::IpAddr;

/// A data plane backend applied in line: applies the engine's intents in the order they were
/// emitted.
pub trait Dataplane: Send {
    /// Applies one delta. An error is a delta that does not fit the backend's state (the
    /// engine and the backend disagree); the backend stays usable.
    fn apply(&mut self, intent: &DataplaneIntent) -> Result<(), Inconsistent>;
    /// The in-memory tables, for backends that keep them (`None`: nothing to show).
    fn memory(&self) -> Option<&MemoryDataplane> {
        None
    }
    /// A short name for logs and the API ("none", "memory").
    fn kind(&self) -> &'static str;
}

/// `kind = "none"`: intents are dropped (the speaker is a pure control plane).
#[derive(Debug, Default)]
pub struct NoDataplane;

impl Dataplane for NoDataplane {
    fn apply(&mut self, _intent: &DataplaneIntent) -> Result<(), Inconsistent> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}

/// What a data plane tells the node. VNIs are raw numbers: the node checks them (a backend may
/// report a VNI the node no longer has).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feedback {
    /// The data plane learned a local MAC (kernel bridge learning): attached as a local
    /// endpoint of `vni` (RFC 7432 §9.1, learning in the data plane).
    LocalMacLearned {
        /// The VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddress,
        /// An IP seen with it (a local neighbour entry, ARP/ND).
        ip: Option<IpAddr>,
    },
    /// A learned local MAC aged out, left, or was taken over by a remote entry: detached.
    LocalMacGone {
        /// The VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddress,
    },
    /// An intent could not be installed (the backend retries it; see its docs).
    InstallFailed {
        /// The intent.
        intent: DataplaneIntent,
        /// Why.
        reason: String,
    },
    /// The devices of a VNI came up or went down (or could not be set up: `reason`).
    LinkState {
        /// The VNI.
        vni: u32,
        /// Forwarding (devices present and up).
        up: bool,
        /// Why not, when down.
        reason: Option<String>,
    },
}

/// Where a [`Backend`] sends its feedback; called from the backend's own threads, so it must
/// not block (the daemon's sink forwards into its event loop).
pub type FeedbackSink = Box<dyn Fn(Feedback) + Send + Sync>;

/// A data plane that runs beside the core (see the crate notes).
pub trait Backend: Send {
    /// Queues an ordered batch of intents; returns at once. Batches are applied in the order
    /// they were submitted.
    fn submit(&mut self, batch: Vec<DataplaneIntent>);
    /// A short name for logs and the API ("linux").
    fn kind(&self) -> &'static str;
    /// Intents submitted and not yet taken up by the backend: what waits in its queue for
    /// its own thread (0 for a backend that applies in line). The driver reads it to hold
    /// further input back while the backend is behind (back-pressure instead of an
    /// unbounded queue), so it must be cheap and must not block.
    fn backlog(&self) -> usize {
        0
    }
    /// Counters for `show` and metrics.
    fn stats(&self) -> BackendStats {
        BackendStats::default()
    }
    /// The in-memory tables, for backends that keep them (`None`: nothing to show).
    fn memory(&self) -> Option<&MemoryDataplane> {
        None
    }
    /// Judges the device options of a VNI about to be created at run time, changing nothing;
    /// the error starts with the option's field name. A backend without devices refuses any
    /// option that is set.
    fn check_vni_options(&self, vni: u32, options: &VniOptions) -> Result<(), String> {
        let _ = vni;
        if options.is_default() {
            Ok(())
        } else {
            Err(format!(
                "bridge: device options need the linux data plane (this one is {:?})",
                self.kind()
            ))
        }
    }
    /// Records the device options of a VNI created (`Some`) or deleted (`None`) at run time.
    /// Called before the VNI's intents are submitted, so they apply to its devices.
    fn set_vni_options(&mut self, vni: u32, options: Option<VniOptions>) {
        let _ = (vni, options);
    }
    /// Judges the kernel options of a VRF about to be created at run time, changing nothing;
    /// the error starts with the option's field name. A backend without kernel VRFs refuses any
    /// option that is set.
    fn check_vrf_options(&self, vrf: VrfName, options: &VrfOptions) -> Result<(), String> {
        let _ = vrf;
        if options.is_default() {
            Ok(())
        } else {
            Err(format!(
                "netns: VRF options need the linux data plane (this one is {:?})",
                self.kind()
            ))
        }
    }
    /// Records the kernel options of a VRF created (`Some`) or deleted (`None`) at run time.
    /// Called before the VRF's intents are submitted.
    fn set_vrf_options(&mut self, vrf: VrfName, options: Option<VrfOptions>) {
        let _ = (vrf, options);
    }
}

/// Kernel options of one tenant VRF (`[[vrf]]` keys, or those of a VRF created at run time);
/// `None` takes the backend's default. Which one applies depends on the backend's VRF model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VrfOptions {
    /// Namespace-per-VRF model: the network namespace (default `evpnd-<vrf>`).
    pub netns: Option<String>,
    /// VRF-device model: the routing table (default: the L3VNI, or a free table).
    pub table: Option<u32>,
}

impl VrfOptions {
    /// True when every option takes its default.
    pub fn is_default(&self) -> bool {
        *self == VrfOptions::default()
    }
}

/// Device options of one VNI (`[[vni]]` keys, or those of a VNI created at run time); `None`
/// takes the backend's default. Only a backend with devices per VNI uses them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VniOptions {
    /// The bridge's name (Linux per-VNI model; default `br<vni>`).
    pub bridge: Option<String>,
    /// The VXLAN device's name (Linux per-VNI model; default `vx<vni>`).
    pub vxlan: Option<String>,
    /// Report MACs learned on this VNI's tenant ports (default: the backend's setting).
    pub learning: Option<bool>,
}

impl VniOptions {
    /// True when every option takes its default.
    pub fn is_default(&self) -> bool {
        *self == VniOptions::default()
    }
}

/// Counters a [`Backend`] keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Intents applied.
    pub applied: u64,
    /// Install failures reported (each retried).
    pub failures: u64,
    /// Intents waiting to be retried now.
    pub pending_retries: u64,
    /// Times the kernel's notifications overflowed and the backend re-read its state.
    pub resyncs: u64,
    /// Entry requests (FDB, flood, neighbour messages) written to the data plane.
    pub entries_written: u64,
    /// Time spent writing them, first byte sent → last answer read, in microseconds: the
    /// backend's own clock for its install rate.
    pub write_micros: u64,
    /// Intent-to-data-plane latency: per batch, the time from [`Backend::submit`] to the
    /// backend holding it applied (written and acknowledged, failures handed to the retry set).
    pub apply_latency: LatencyHistogram,
}

/// Upper bounds of the [`LatencyHistogram`] buckets, in microseconds (100 µs to 10 s; later
/// samples fall in the implicit +Inf bucket).
pub const LATENCY_BUCKETS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A fixed-bucket latency histogram (bounds [`LATENCY_BUCKETS_MICROS`]) that a backend keeps
/// without allocating, so that [`BackendStats`] stays a plain copyable value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Samples per bucket: `buckets[i]` counts samples above bound `i - 1` and at most bound
    /// `i` (not cumulative); samples above the last bound are only in `count`.
    pub buckets: [u64; LATENCY_BUCKETS_MICROS.len()],
    /// Samples recorded.
    pub count: u64,
    /// Sum of the samples, in microseconds.
    pub sum_micros: u64,
}

impl LatencyHistogram {
    /// Records one sample.
    pub fn record(&mut self, latency: std::time::Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BUCKETS_MICROS.iter().position(|b| micros <= *b) {
            self.buckets[i] = self.buckets[i].saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    /// The buckets as (upper bound in seconds, samples in that bucket alone), ending with the
    /// samples above the last bound at bound `f64::MAX` (+Inf): prometheus-client's form.
    pub fn buckets_seconds(&self) -> Vec<(f64, u64)> {
        let bounded: u64 = self.buckets.iter().sum();
        LATENCY_BUCKETS_MICROS
            .iter()
            .zip(self.buckets.iter())
            .map(|(bound, n)| (*bound as f64 / 1e6, *n))
            .chain([(f64::MAX, self.count.saturating_sub(bounded))])
            .collect()
    }
}

/// Runs an in-line [`Dataplane`] as a [`Backend`]: each intent is applied as it is submitted
/// and refusals are reported as [`Feedback::InstallFailed`].
pub struct InlineBackend<D: Dataplane> {
    /// The data plane.
    pub dataplane: D,
    sink: FeedbackSink,
    stats: BackendStats,
}

impl<D: Dataplane> InlineBackend<D> {
    /// Wraps `dataplane`, reporting to `sink`.
    pub fn new(dataplane: D, sink: FeedbackSink) -> Self {
        InlineBackend {
            dataplane,
            sink,
            stats: BackendStats::default(),
        }
    }
}

impl<D: Dataplane> Backend for InlineBackend<D> {
    fn submit(&mut self, batch: Vec<DataplaneIntent>) {
        let submitted = std::time::Instant::now();
        for intent in batch {
            self.stats.applied += 1;
            if let Err(e) = self.dataplane.apply(&intent) {
                self.stats.failures += 1;
                (self.sink)(Feedback::InstallFailed {
                    intent,
                    reason: e.to_string(),
                });
            }
        }
        self.stats.apply_latency.record(submitted.elapsed());
    }

    fn kind(&self) -> &'static str {
        self.dataplane.kind()
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }

    fn memory(&self) -> Option<&MemoryDataplane> {
        self.dataplane.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latency_samples_fall_in_their_bucket_and_overflow_into_inf() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_micros(100)); // on the first bound: in it
        h.record(Duration::from_micros(101));
        h.record(Duration::from_secs(60)); // above every bound
        assert_eq!(h.count, 3);
        assert_eq!(h.sum_micros, 100 + 101 + 60_000_000);
        let b = h.buckets_seconds();
        assert_eq!(b.len(), LATENCY_BUCKETS_MICROS.len() + 1);
        assert_eq!(b[0], (0.0001, 1));
        assert_eq!(b[1], (0.00025, 1));
        assert_eq!(b.last(), Some(&(f64::MAX, 1)), "+Inf holds the overflow");
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), h.count);
    }
}
