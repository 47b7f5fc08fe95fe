//! What the API asks of the driver: commands and queries in the node's own types, each with
//! the channel its answer goes back on. No transport type appears here: the gRPC module turns
//! requests into these and answers into protobuf, the driver turns these into calls on the
//! [`evpnd_node::Node`].

use evpnd_dataplane::MemoryDataplane;
use evpnd_evpn::{MacEntry, NeighborEntry, VniSummary};
use evpnd_node::{Command, CommandError, EvpnStatus, NeighborView, Reply, RouteFilter, RouteView};
use evpnd_wire::Vni;
use std::net::IpAddr;
use tokio::sync::oneshot;

/// Where an answer goes.
pub type Answer<T> = oneshot::Sender<T>;

/// Flood lists: each VNI with its remote VTEPs.
pub type FloodLists = Vec<(Vni, Vec<IpAddr>)>;

/// The EVIs with the engine's status and the data plane kind (`show vnis`).
#[derive(Clone, Debug)]
pub struct VnisAnswer {
    /// One row per EVI.
    pub vnis: Vec<VniSummary>,
    /// The engine's VTEP and counters.
    pub status: EvpnStatus,
    /// The data plane kind ("none", "memory", "linux").
    pub dataplane: &'static str,
    /// The data plane's counters.
    pub dataplane_stats: evpnd_dataplane::BackendStats,
    /// The data plane's word on each VNI's devices: forwarding, or why not.
    pub links: std::collections::BTreeMap<Vni, (bool, Option<String>)>,
}

/// A request for the driver, answered in order with the protocol events.
pub enum Request {
    /// Carry out a command.
    Command(Command, Answer<Result<Reply, CommandError>>),
    /// `show neighbors`.
    Neighbors(Answer<Vec<NeighborView>>),
    /// `show routes`.
    Routes(RouteFilter, Answer<Vec<RouteView>>),
    /// `show vnis`.
    Vnis(Answer<Result<VnisAnswer, CommandError>>),
    /// `show macs` for a VNI (0: all).
    Macs(u32, Answer<Result<Vec<MacEntry>, CommandError>>),
    /// `show flood` for a VNI (0: all).
    Flood(u32, Answer<Result<FloodLists, CommandError>>),
    /// `show arp` for a VNI (0: all).
    Arp(u32, Answer<Result<Vec<NeighborEntry>, CommandError>>),
    /// `show dataplane`: the memory data plane's tables.
    Dataplane(Answer<Result<MemoryDataplane, CommandError>>),
    /// A watch stream starts: a handle on the watch hub (crate::watch).
    Watch(Answer<crate::watch::WatchHandle>),
    /// A metrics scrape: the counters and table sizes as plain values.
    Metrics(Answer<crate::metrics::Snapshot>),
    /// `explain`: the node's chain and the data plane's record for a MAC or IP of a VNI.
    Explain(
        u32,
        crate::explain::Subject,
        Answer<Result<crate::explain::Facts, CommandError>>,
    ),
}
