//! The NVE engine: local endpoints → routes, imported best paths → dataplane intents, with MAC
//! mobility, duplicate detection and proxy ARP/ND bindings.
//!
//! ## Data structures (why every route costs O(1))
//! * One [`MacRecord`] per `(vni, mac)` holds *every* claim on the MAC: the local attachment (if
//!   any) and the imported routes that name it (normally one or two: the MAC-only and MAC+IP
//!   routes of one VTEP; a few more only while a move is in flight). The winner is computed
//!   from that record alone ([`Engine::decide`]), so a route update never scans a table.
//! * One [`IpRecord`] per `(vni, ip)` does the same for IP↔MAC bindings; `local_ips` maps a
//!   locally bound IP to its MAC.
//! * A type-2 route's whole contribution is its claim in the MAC record: no entry per route
//!   key. A withdrawal finds the claim again through the VNIs its (RD, Ethernet tag) feeds
//!   (`sources`: one entry per remote MAC-VRF, RFC 7432 §7.9), so a withdrawal or a new best
//!   path undoes exactly that contribution without storing the route twice. Type-3 routes are
//!   remembered by route key (`imported`) with their VNI and flood VTEP.
//! * The MAC records live densely in a vector behind a hash index of 4-byte positions
//!   ([`mac_table`]): a million MACs do not leave a million record-sized holes in a hash map
//!   at half load. A record keeps its one common claim (a MAC-only route from an IPv4 VTEP)
//!   packed inline and spills anything else to full claims ([`claims`]); readers always see
//!   full claims, so the decision below is unchanged.
//! * Move history is a short deque per record (at most N timestamps); freeze expiries sit in a
//!   binary heap ordered by deadline, checked lazily.
//!
//! ## Mobility rules (RFC 7432 §15)
//! Sticky claims win over non-sticky ones. Between non-sticky claims the higher sequence number
//! wins and, on equal numbers, the lower VTEP address. A local claim that loses is kept
//! *dormant* in the record: its routes are withdrawn (§15: the losing PE withdraws its route)
//! and its IP bindings uninstalled, but the MAC is still attached here; against a sticky route
//! it also raises a sticky conflict (§15.2). When the remote claim that beat it goes away (or
//! is replaced by one it beats), the dormant claim wins again. A local learn of a MAC held
//! remotely, like a dormant claim winning again, is advertised above the highest sequence
//! number the local claim has seen for the MAC (§15: the highest received + 1; kept in the
//! boxed local claim, so remote-only records do not grow) and counts as a move (§15.1). Only
//! a detach ends a local claim.
//!
//! ## Modules (one RFC concept each)
//! * [`evi`]: EVIs and their lifecycle (RFC 7432 §6.1; RD/RT derivation in [`crate::config`]).
//! * [`origination`]: local endpoints and the type-2/type-3 routes they originate
//!   (RFC 7432 §7.2–7.3, §9.1, §11.1; RFC 8365 §5.1.3, §9).
//! * [`import`]: remote best paths into claims and flood entries (RFC 7432 §9.2, §11.2).
//! * [`mobility`]: the MAC record and its decision (RFC 7432 §15, §15.2).
//! * [`duplicate`]: move counting and freezes (RFC 7432 §15.1, RFC 9161).
//! * [`proxy_arp_nd`]: the IP record and its binding (RFC 9161, RFC 9047).
//! * [`tables`]: the operator views.
//! * [`vrf`]: tenant VRFs, the layer-3 part of EVIs (anycast gateways, RFC 9135 §4.1) and the
//!   VRF views (`show vrfs`, `show ip-routes`, `explain ip`).
//! * [`irb`]: what MAC/IP routes carry under symmetric and asymmetric IRB (RFC 9135 §5.1, §6).
//! * [`prefix`]: origination of IP prefix routes (RFC 9136 §3.1, §4.4.1).
//! * [`l3_import`]: host routes and IP prefix routes into VRFs, GW-IP overlay indexes
//!   (RFC 9135 §5.2, RFC 9136 §3.2).
//! * [`vrf_table`]: the VRF tables, router MAC reference counts and overlay-index users; its
//!   notes say why every layer-3 route event also costs O(1). Unlike the layer-2 records, the
//!   layer-3 contribution of an imported route (a few dozen bytes) is kept whole per route key.
//! * [`explain`]: why the engine holds what it holds (`evpnctl explain`).

mod claims;
mod duplicate;
mod evi;
mod explain;
mod import;
mod irb;
mod l3_import;
mod mac_table;
mod mobility;
mod origination;
mod ports;
mod prefix;
mod proxy_arp_nd;
mod tables;
mod vrf;
mod vrf_table;

pub use explain::{BindingView, ClaimView, Decision, ImportVerdict, IpExplanation, MacExplanation};
pub use vrf::{OverlayResolution, RouteContribution, RouteExplanation};

use crate::config::{EngineConfig, ResolvedEvi, ResolvedVrf};
use crate::types::VrfName;
use crate::types::{DataplaneIntent, EngineEvent, RouteChange};
use duplicate::TimerKey;
use evpnd_wire::{MacAddress, Vni};
use import::{ImportKey, RouteSources, Stored};
use mobility::MacRecord;
use proxy_arp_nd::IpRecord;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// The EVPN NVE engine of one router (sans-I/O).
///
/// Inputs: EVI configuration ([`Engine::add_evi`], [`Engine::remove_evi`]), local endpoint
/// events ([`Engine::local_attach`], [`Engine::local_detach`]), the speaker's EVPN best-path
/// changes ([`Engine::remote_best_change`]), time ([`Engine::handle_timeout`]) and operator
/// commands ([`Engine::clear_duplicate`]). Outputs, drained by the driver: routes for the
/// speaker ([`Engine::poll_route`]), data-plane deltas ([`Engine::poll_intent`]) and events
/// ([`Engine::poll_event`]).
///
/// Every endpoint event and every best-path change costs O(1) (module notes); only EVI
/// configuration changes walk the tables. After [`Engine::add_evi`] adds an EVI or changes its
/// import rules, the driver must replay the speaker's current EVPN best paths (the engine keeps
/// no routes that matched no EVI).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    /// The reference point of the instants the MAC records keep in 8 bytes.
    epoch: Instant,
    evis: BTreeMap<Vni, ResolvedEvi>,
    vrfs: BTreeMap<VrfName, ResolvedVrf>,
    macs: mac_table::MacTable<MacRecord>,
    ips: HashMap<(Vni, IpAddr), IpRecord>,
    local_ips: HashMap<(Vni, IpAddr), MacAddress>,
    imported: HashMap<ImportKey, Stored>,
    sources: RouteSources,
    flood: HashMap<Vni, BTreeMap<IpAddr, u32>>,
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    routes: VecDeque<RouteChange>,
    intents: VecDeque<DataplaneIntent>,
    ports: ports::Ports,
    events: VecDeque<EngineEvent>,
    l3: vrf_table::L3State,
}

impl Engine {
    /// An engine with no EVI.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            epoch: Instant::now(),
            evis: BTreeMap::new(),
            vrfs: BTreeMap::new(),
            macs: mac_table::MacTable::default(),
            ips: HashMap::new(),
            local_ips: HashMap::new(),
            imported: HashMap::new(),
            sources: RouteSources::default(),
            flood: HashMap::new(),
            timers: BinaryHeap::new(),
            routes: VecDeque::new(),
            intents: VecDeque::new(),
            ports: ports::Ports::default(),
            events: VecDeque::new(),
            l3: vrf_table::L3State::default(),
        }
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The next route for the speaker, in the order the inputs produced them.
    pub fn poll_route(&mut self) -> Option<RouteChange> {
        pop_and_trim(&mut self.routes)
    }

    /// The next data-plane delta, in the order the inputs produced them.
    pub fn poll_intent(&mut self) -> Option<DataplaneIntent> {
        pop_and_trim(&mut self.intents)
    }

    /// The next event (learned, moved, removed, duplicate, unfrozen, sticky conflict).
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        pop_and_trim(&mut self.events)
    }
}

/// Output queues keep at most this capacity once drained.
const QUEUE_KEEP: usize = 1024;

/// Pops the next output; once the queue is drained after a burst (a full table arriving at
/// start-up), gives the burst's memory back instead of keeping it for the daemon's lifetime.
fn pop_and_trim<T>(q: &mut VecDeque<T>) -> Option<T> {
    let next = q.pop_front();
    if next.is_none() && q.capacity() > QUEUE_KEEP {
        q.shrink_to(QUEUE_KEEP);
    }
    next
}
