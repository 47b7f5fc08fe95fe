//! Events: what happened inside the node, for logs, metrics and watch streams (drained with
//! [`crate::Node::poll_event`]), and the data plane's feedback into the node.

use evpnd_dataplane::DataplaneIntent;
use evpnd_evpn::EngineEvent;
use evpnd_wire::{Family, Notification};
use std::net::IpAddr;
use std::time::Instant;

/// Something that happened. Nothing here asks the driver to act: actions are
/// [`crate::Output`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// A session reached Established.
    Established {
        /// The neighbour.
        address: IpAddr,
        /// Negotiated families.
        families: Vec<Family>,
    },
    /// A session left Established.
    Down {
        /// The neighbour.
        address: IpAddr,
        /// Why, in words.
        reason: String,
        /// Its routes are kept as stale (RFC 4724 §4.2).
        graceful: bool,
    },
    /// A connection from an address that is neither a neighbour nor in a peer group's listen
    /// range was refused before OPEN.
    Refused {
        /// Where it came from.
        remote: IpAddr,
    },
    /// A connection from a peer group's listen range was refused before OPEN: the group has
    /// `limit` dynamic sessions already.
    RefusedGroupLimit {
        /// Where it came from.
        remote: IpAddr,
        /// The peer group.
        group: String,
        /// Its limit.
        limit: u32,
    },
    /// A neighbour sent more routes than its limit: the session is closed with this Cease
    /// (RFC 4486 §4).
    MaxPrefix {
        /// The neighbour.
        address: IpAddr,
        /// The family.
        family: Family,
        /// The limit.
        limit: u32,
        /// The NOTIFICATION sent.
        notification: Notification,
    },
    /// This start is a graceful restart: advertising is deferred until every End-of-RIB or
    /// `until` (RFC 4724 §4.1).
    DeferralStarted {
        /// The select-defer deadline.
        until: Instant,
    },
    /// Deferral ended: every End-of-RIB arrived (`timed_out` false) or the timer ran out.
    DeferralEnded {
        /// The select-defer time ran out first.
        timed_out: bool,
    },
    /// An EVI imports with a wildcard (`*:VNI`), which an RT-Constraint membership cannot
    /// express (RFC 4684 §4): RTC peers send such routes only when another membership covers
    /// them.
    WildcardImportWithRtc,
    /// Something was refused and left out: an EVI or endpoint of the configuration the engine
    /// would not take at start, or data-plane feedback naming an unknown VNI or a bad MAC.
    Ignored {
        /// What, in words.
        reason: String,
    },
    /// An EVPN engine event (learned, moved, removed, duplicate, unfrozen, sticky conflict).
    Engine(EngineEvent),
    /// The data plane's devices of a VNI came up or went down.
    DataplaneLink {
        /// The VNI.
        vni: u32,
        /// Forwarding.
        up: bool,
        /// Why not, when down.
        reason: Option<String>,
    },
    /// The data plane could not apply an intent.
    DataplaneFailed {
        /// The intent.
        intent: DataplaneIntent,
        /// Why.
        reason: String,
    },
}

/// What a data plane tells the node (defined with the backends, in `evpnd-dataplane`).
pub use evpnd_dataplane::Feedback as DataplaneFeedback;
