//! What the API asks of the driver: commands and queries in the node's own types, each with
//! the channel its answer goes back on. No transport type appears here: the gRPC module turns
//! requests into these and answers into protobuf, the driver turns these into calls on the
//! [`evpnd_node::Node`].

use evpnd_dataplane::MemoryDataplane;
use evpnd_evpn::{MacEntry, NeighborEntry, VniSummary, VrfName, VrfRoute, VrfSummary};
use evpnd_node::{Command, CommandError, EvpnStatus, NeighborView, Reply, RouteFilter, RouteView};
use evpnd_wire::Vni;
use std::net::IpAddr;
use tokio::sync::oneshot;

/// Where an answer goes.
pub type Answer<T> = oneshot::Sender<T>;

/// One page of EVIs with the engine's status and the data plane kind (`show vnis`).
#[derive(Clone, Debug)]
pub struct VnisAnswer {
    /// One row per EVI of the page.
    pub vnis: Vec<VniSummary>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<Vni>,
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
    /// `show neighbors`: one page of at most the given size after the given neighbour slot.
    Neighbors(
        Option<u32>,
        usize,
        Answer<evpnd_node::Page<NeighborView, u32>>,
    ),
    /// `show vnis`: one page of at most the given size after the given VNI.
    Vnis(Option<Vni>, usize, Answer<Result<VnisAnswer, CommandError>>),
    /// `show dataplane`: the memory data plane's tables.
    Dataplane(Answer<Result<MemoryDataplane, CommandError>>),
    /// A watch stream starts: a handle on the watch hub (crate::watch).
    Watch(Answer<crate::watch::WatchHandle>),
    /// A `WatchRoutes` stream starts: the node's best-path feed is on (with a gap recorded
    /// if it was off) when the answer is sent; the stream holds the subscription.
    WatchRoutes(Answer<(crate::watch::WatchHandle, crate::watch::RouteWatcher)>),
    /// A metrics scrape: the counters and table sizes as plain values.
    Metrics(Answer<crate::metrics::Snapshot>),
    /// `explain`: the node's chain and the data plane's record for a MAC or IP of a VNI.
    Explain(
        u32,
        crate::explain::Subject,
        Answer<Result<crate::explain::Facts, CommandError>>,
    ),
    /// Run-time management and paged lists.
    Manage(ManageRequest),
    /// `show peer-groups`: every peer group with its counters, and the connections refused
    /// from outside every listen range.
    PeerGroups(Answer<(Vec<evpnd_node::PeerGroupView>, u64)>),
}

/// A neighbour to add at run time, as the API describes it; the driver fills in what the
/// configuration's `[bgp]` section gives every neighbour (hold time, connect retry).
#[derive(Clone, Debug)]
pub struct NeighborSpec {
    /// Its address.
    pub address: IpAddr,
    /// Its AS.
    pub remote_asn: u32,
    /// Families to offer (empty: the default, l2vpn-evpn).
    pub families: Vec<evpnd_wire::Family>,
    /// A route-reflector client (RFC 4456).
    pub route_reflector_client: bool,
    /// Never connect; wait for it.
    pub passive: bool,
    /// Hold time (`None`: `[bgp] hold-time`).
    pub hold_time: Option<u16>,
    /// Graceful restart (RFC 4724) with the default restart time.
    pub graceful_restart: bool,
    /// How to reach it.
    pub transport: evpnd_node::Transport,
}

/// One endpoint of [`Request::EndpointsPage`]: the node's view and whether the configuration
/// lists it (`[[endpoint]]`).
pub type EndpointRow = (evpnd_node::EndpointView, bool);

/// What a reload changed (`ReloadConfig`, SIGHUP).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Neighbours added, removed and changed (removed then added: their sessions restart).
    pub neighbors_added: Vec<IpAddr>,
    /// See `neighbors_added`.
    pub neighbors_removed: Vec<IpAddr>,
    /// See `neighbors_added`.
    pub neighbors_changed: Vec<IpAddr>,
    /// VRFs added and removed.
    pub vrfs_added: Vec<String>,
    /// See `vrfs_added`.
    pub vrfs_removed: Vec<String>,
    /// VNIs added, removed and changed (deleted then created).
    pub vnis_added: Vec<u32>,
    /// See `vnis_added`.
    pub vnis_removed: Vec<u32>,
    /// See `vnis_added`.
    pub vnis_changed: Vec<u32>,
    /// Changed settings a reload does not apply (they need a restart).
    pub ignored: Vec<String>,
    /// Peer groups added or changed.
    pub peer_groups_set: Vec<String>,
    /// Peer groups removed (their dynamic sessions ended).
    pub peer_groups_removed: Vec<String>,
}

/// Where one page of a table (or the refusal of the query) goes.
pub type PageAnswer<T, C> = Answer<Result<evpnd_node::Page<T, C>, CommandError>>;

/// The run-time management and paged requests, answered like [`Request`]'s.
pub enum ManageRequest {
    /// Create an EVI with its data-plane device options.
    CreateVni(
        evpnd_node::VniSpec,
        evpnd_dataplane::VniOptions,
        Answer<Result<VniSummary, CommandError>>,
    ),
    /// Delete an EVI and forget its device options.
    DeleteVni(u32, Answer<Result<(), CommandError>>),
    /// Add a neighbour.
    AddNeighbor(NeighborSpec, Answer<Result<(), CommandError>>),
    /// Create a tenant VRF with its kernel options.
    AddVrf(
        evpnd_node::VrfSpec,
        evpnd_dataplane::VrfOptions,
        Answer<Result<VrfSummary, CommandError>>,
    ),
    /// Delete a tenant VRF and forget its kernel options.
    RemoveVrf(String, Answer<Result<(), CommandError>>),
    /// One page of tenant VRFs.
    VrfsPage(Option<VrfName>, usize, PageAnswer<VrfSummary, VrfName>),
    /// One page of the VRF tables, of one VRF (by name) or all.
    IpRoutesPage(
        Option<String>,
        Option<(VrfName, evpnd_wire::IpPrefix)>,
        usize,
        PageAnswer<VrfRoute, (VrfName, evpnd_wire::IpPrefix)>,
    ),
    /// The routed path of an IP in a VRF (`explain ip --vrf`).
    ExplainRoute(
        String,
        IpAddr,
        Answer<Result<Option<evpnd_evpn::RouteExplanation>, CommandError>>,
    ),
    /// One page of routes (refused when the filter names an unknown VRF).
    RoutesPage(
        RouteFilter,
        Option<evpnd_node::RouteCursor>,
        usize,
        PageAnswer<RouteView, evpnd_node::RouteCursor>,
    ),
    /// One page of the MAC table of a VNI (0: all).
    MacsPage(
        u32,
        Option<(Vni, evpnd_wire::MacAddress)>,
        usize,
        PageAnswer<MacEntry, (Vni, evpnd_wire::MacAddress)>,
    ),
    /// One page of the per-host entries of the desired data plane (remote FDB entries, then
    /// proxy ARP/ND bindings) as add intents: the intent stream's snapshots read them here.
    HostIntentsPage(
        Option<evpnd_node::HostIntentCursor>,
        usize,
        Answer<evpnd_node::Page<evpnd_dataplane::DataplaneIntent, evpnd_node::HostIntentCursor>>,
    ),
    /// One page of the ARP/ND table of a VNI (0: all).
    ArpPage(
        u32,
        Option<(Vni, IpAddr)>,
        usize,
        PageAnswer<NeighborEntry, (Vni, IpAddr)>,
    ),
    /// One page of flood lists (VNI 0: all).
    FloodPage(u32, Option<Vni>, usize, PageAnswer<(Vni, Vec<IpAddr>), Vni>),
    /// One page of local endpoints of a VNI (0: all).
    EndpointsPage(
        u32,
        Option<(Vni, evpnd_wire::MacAddress)>,
        usize,
        PageAnswer<EndpointRow, (Vni, evpnd_wire::MacAddress)>,
    ),
    /// Re-read the configuration file and apply the difference.
    Reload(Answer<Result<ReloadReport, String>>),
}
