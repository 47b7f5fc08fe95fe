//! The RIBs of the evpnd speaker, sans-I/O: Adj-RIB-In, Loc-RIB with best-path selection,
//! route reflection, RT-Constraint and Adj-RIB-Out through update groups.
//!
//! [`Rib`] holds the routing state of the whole speaker. The daemon feeds it session events
//! ([`Rib::peer_up`], [`Rib::peer_down`]), decoded UPDATEs with their RFC 7606 outcome
//! ([`Rib::apply_update`]), local routes ([`Rib::originate`]) and the time
//! ([`Rib::handle_timeout`]); it takes out encoded UPDATE bytes per peer
//! ([`Rib::poll_transmit`]) and best-path changes ([`Rib::poll_best_changes`]).
//!
//! ## How state is kept
//! * **Loc-RIB** (`table.rs`): per family, each route with all its paths, best first. A path is
//!   the Adj-RIB-In entry of the peer that sent it: there is no inbound policy that would make
//!   the two differ, so they are stored once. Paths are added, removed and marked stale in
//!   `path_change.rs`, chosen among in `best_path.rs`; UPDATEs are applied in `adj_in.rs`.
//! * **Route keys** (`key.rs`): a route is stored under its key, the NLRI without the EVPN
//!   fields that RFC 7432 §7.1-7.2 and RFC 9136 §3.1 make route attributes (labels, ESI,
//!   gateway IP). Those fields belong to each path ([`NlriExtras`], in its attributes): a
//!   re-advertisement with a new label replaces the path, a withdrawal matches whatever label
//!   it carries, and what is sent or shown is the key with the best path's fields.
//! * **Attributes** (`intern.rs`) are interned: identical sets share one [`Arc`].
//! * **Adj-RIB-Out** (`out.rs`): peers with the same outbound policy (family, eBGP/iBGP,
//!   route-reflector client or not, the encoding context, our BGP Role where the OTC rules
//!   apply) form an *update group*. Changes are
//!   batched until the next [`Rib::flush`] (which the `poll_*` calls run); each batch is encoded
//!   once per group and distinct attribute set, and every member gets the same bytes (shared,
//!   reference-counted chunks). What a peer has been sent is not stored per peer: it is derived
//!   from the route's best path at the previous flush, which the table keeps for changed
//!   routes only. Per-member differences (split horizon by source, the member's RT-Constraint
//!   filter) select which shared chunks a member receives; the members are filed by the route
//!   targets of their filters (`receivers.rs`), so finding a route's receivers costs
//!   O(receivers), not O(members).
//! * **RT-Constraint** (`rtc.rs`, `dumps.rs`): the EVPN table waits for the peer's
//!   RT-Constraint End-of-RIB; membership changes send exact differences (RFC 4684 §4, §6).
//! * **Peers** (`peers.rs`): sessions up and down, timers in one ordered set, the list of
//!   peers with output waiting, slot reuse: every event costs O(the peers it concerns).
//!
//! ## Rules applied
//! * Inbound (RFC 4271 §9, RFC 4456 §8, RFC 7606 §7.2): a path whose AS_PATH holds our AS, whose
//!   ORIGINATOR_ID is our router id or whose CLUSTER_LIST holds our cluster id is withdrawn
//!   (treated as withdraw: it replaces any earlier path of the peer); from an external peer, an
//!   AS_PATH not starting with the peer's AS is treat-as-withdraw.
//! * Only to Customer (RFC 9234 §5; eBGP sessions with a BGP Role of ours, IPv4/IPv6 unicast
//!   only, the rules themselves in [`crate::role`]): a route with OTC from a Customer or an
//!   RS-Client, or from a Peer with an OTC other than the Peer's AS, is a leak and treated as
//!   withdrawn ([`RibStats::leaks_rejected`]); a route without OTC from a Provider, a Peer or
//!   an RS is stored with OTC = the neighbour's AS. A route with OTC is not sent to a
//!   Provider, a Peer or an RS; one without gets OTC = our AS towards a Customer, a Peer or
//!   an RS-Client. OTC is otherwise carried unchanged, to every peer and in every family.
//! * Outbound: to external peers the local AS is prepended, LOCAL_PREF, ORIGINATOR_ID,
//!   CLUSTER_LIST and non-transitive extended communities (also IPv6 address specific ones,
//!   RFC 5701 §2) are removed, MED is kept only on local routes; to internal peers LOCAL_PREF
//!   is always present; when reflecting (internal source, internal target) ORIGINATOR_ID is
//!   set if absent and the cluster id is prepended to CLUSTER_LIST (RFC 4456 §8). Routes from internal non-clients go to clients and external
//!   peers only (RFC 4456 §6). The next hop is never changed (EVPN: it is the VTEP). Unknown
//!   optional transitive attributes are passed on with the Partial bit; unknown non-transitive
//!   ones are dropped (RFC 4271 §5). NO_ADVERTISE and NO_EXPORT are honoured (RFC 1997).

mod adj_in;
mod best_path;
mod dumps;
mod export;
mod intern;
mod key;
mod out;
mod path_change;
mod peers;
mod receivers;
mod rtc;
mod table;
#[cfg(test)]
mod tests;
mod types;

pub use intern::PathAttrs;
pub use key::NlriExtras;
pub use types::{
    BestChange, FamilyCounters, MaxPrefixExceeded, Path, PeerCounters, PeerInfo, RibConfig,
    RibStats, RouteSource,
};

use crate::config::PeerId;
use crate::role::otc_applies;
use evpnd_wire::capability::BgpRole;
use evpnd_wire::{CodecContext, Family, NextHop, Nlri, PathAttribute, Route};
use intern::Interner;
use key::RouteKey;
use receivers::{Receivers, SrcSet};
use rtc::{RouteIndex, RtFilter, RtKey};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use table::{StoredPath, Table, LOCAL};

/// How a source relates to us: decides where its routes may be sent (RFC 4456 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SrcKind {
    /// This speaker.
    Local,
    /// An external peer.
    External,
    /// An internal route-reflector client.
    Client,
    /// An internal non-client.
    Internal,
}

/// Where a peer stands in the list of peers with output waiting ([`Rib::take_ready_peers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Not listed: its queue was empty when last looked at.
    Idle,
    /// In [`Rib`]'s ready list, not yet taken.
    Listed,
    /// Taken by [`Rib::take_ready_peers`]; listed again once its queue has been emptied.
    Taken,
}

/// A peer as a source of paths and a receiver of updates.
#[derive(Debug)]
pub(crate) struct Source {
    /// Its own index in [`Rib`]'s sources.
    pub idx: u32,
    pub info: PeerInfo,
    pub up: bool,
    /// Families disabled by RFC 7606 AFI/SAFI-disable on this session.
    pub disabled: Vec<Family>,
    pub counters: Vec<FamilyCounters>,
    /// Families holding stale paths (RFC 4724), and when they expire.
    pub stale_families: Vec<Family>,
    pub stale_deadline: Option<Instant>,
    /// RT-Constraint filter applied to what the peer is sent: `None` when the session did not
    /// negotiate the family.
    pub rtc: Option<RtFilter>,
    /// Every RT membership the peer's paths hold now (stale ones included), with how many
    /// paths hold it: kept by the path changes, whether or not the session is up.
    pub memberships: HashMap<RtKey, u32>,
    /// Memberships whose count went from or to zero since the last flush.
    pub rtc_touched: Vec<RtKey>,
    /// The applied filter is to be rebuilt from [`Source::memberships`] (session up).
    pub rtc_resync: bool,
    /// The peer's RT membership paths changed since the filter was computed. Set and cleared
    /// only through [`Source::set_rtc_dirty`], which keeps [`Rib`]'s count of marked sources.
    pub rtc_dirty: bool,
    /// RFC 4684 §6 hold-back: EVPN routes wait for the peer's RT-Constraint End-of-RIB or this
    /// deadline.
    pub rtc_wait: Option<Instant>,
    /// Families with a [`DumpKind::Join`] queued and not yet sent.
    pub joins_pending: Vec<Family>,
    /// Incremented whenever the session's output starts over: queued dumps of an earlier
    /// generation are dropped.
    pub generation: u32,
    /// Encoded UPDATEs waiting for [`Rib::poll_transmit`].
    pub out: VecDeque<Arc<[u8]>>,
    pub out_bytes: usize,
    pub ready: Ready,
    /// The (table, entry) of every path the peer added, some since gone (checked on use):
    /// what its session going down walks instead of whole tables. `None` once the peer held
    /// more than [`HELD_LIST_MAX`] paths (a full table: a scan then costs what the removal
    /// does anyway).
    pub held: Option<Vec<(u32, u32)>>,
}

/// Most entries of [`Source::held`] before it is compacted, or dropped for scans.
pub(crate) const HELD_LIST_MAX: usize = 1 << 16;

impl Source {
    fn new(idx: u32, info: PeerInfo) -> Self {
        Source {
            idx,
            info,
            up: false,
            disabled: Vec::new(),
            counters: Vec::new(),
            stale_families: Vec::new(),
            stale_deadline: None,
            rtc: None,
            memberships: HashMap::new(),
            rtc_touched: Vec::new(),
            rtc_resync: false,
            rtc_dirty: false,
            rtc_wait: None,
            joins_pending: Vec::new(),
            generation: 0,
            out: VecDeque::new(),
            out_bytes: 0,
            ready: Ready::Idle,
            held: Some(Vec::new()),
        }
    }

    fn kind(&self) -> SrcKind {
        if self.info.external {
            SrcKind::External
        } else if self.info.rr_client {
            SrcKind::Client
        } else {
            SrcKind::Internal
        }
    }

    fn counters_mut(&mut self, family: Family) -> &mut FamilyCounters {
        let i = match self.counters.iter().position(|c| c.family == family) {
            Some(i) => i,
            None => {
                self.counters.push(FamilyCounters::new(family));
                self.counters.len() - 1
            }
        };
        &mut self.counters[i]
    }

    /// True when routes of `family` from this peer are to be used.
    fn accepts(&self, family: Family) -> bool {
        self.up && self.info.families.contains(&family) && !self.disabled.contains(&family)
    }

    /// Sets or clears [`Source::rtc_dirty`], keeping the RIB's count of sources with the mark
    /// exact and listing newly marked ones in `list` (which may hold sources whose mark was
    /// cleared since: the flush skips them).
    fn set_rtc_dirty(&mut self, dirty: bool, dirty_sources: &mut usize, list: &mut Vec<u32>) {
        if self.rtc_dirty == dirty {
            return;
        }
        self.rtc_dirty = dirty;
        if dirty {
            *dirty_sources += 1;
            list.push(self.idx);
        } else {
            debug_assert!(*dirty_sources > 0, "RT-Constraint dirty count out of step");
            *dirty_sources = dirty_sources.saturating_sub(1);
        }
    }

    /// A path holding membership `m` was added (`up`) or removed: keeps
    /// [`Source::memberships`] and notes the entries whose presence changed.
    fn count_membership(&mut self, m: &evpnd_wire::RtMembership, added: bool) {
        let k = RtKey::of(m);
        let n = self.memberships.entry(k).or_insert(0);
        let was = *n;
        if added {
            *n = n.saturating_add(1);
        } else {
            *n = n.saturating_sub(1);
        }
        let now = *n;
        if now == 0 {
            self.memberships.remove(&k);
        }
        if (was == 0) != (now == 0) {
            self.rtc_touched.push(k);
        }
    }

    /// Queues `chunk`, listing the peer in `ready` when its queue was empty and it is not
    /// listed yet.
    fn push_out(&mut self, chunk: Arc<[u8]>, ready: &mut Vec<u32>) {
        self.out_bytes += chunk.len();
        self.out.push_back(chunk);
        if self.ready == Ready::Idle {
            self.ready = Ready::Listed;
            ready.push(self.idx);
        }
    }

    /// Drops everything queued (the session's output starts over).
    fn clear_out(&mut self) {
        self.out.clear();
        self.out_bytes = 0;
        if self.ready == Ready::Taken {
            self.ready = Ready::Idle;
        }
    }

    /// Bookkeeping after chunks were taken from the queue.
    fn after_pop(&mut self) {
        if self.out.is_empty() && self.ready == Ready::Taken {
            self.ready = Ready::Idle;
        }
    }
}

/// What decides how a route is encoded for a peer: peers with equal keys share encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupKey {
    pub family: Family,
    pub external: bool,
    /// Route-reflector client (internal peers only).
    pub rr_client: bool,
    pub four_octet_as: bool,
    pub extended_message: bool,
    /// We send ADD-PATH path identifiers in this family.
    pub add_path: bool,
    /// Our BGP Role towards the members when the OTC egress rules apply (eBGP, IPv4/IPv6
    /// unicast: RFC 9234 §5): decides which routes they get and with which OTC.
    pub local_role: Option<BgpRole>,
}

impl GroupKey {
    fn of(info: &PeerInfo, family: Family) -> Self {
        GroupKey {
            family,
            external: info.external,
            rr_client: !info.external && info.rr_client,
            four_octet_as: info.tx.four_octet_as,
            extended_message: info.tx.extended_message,
            add_path: info.tx.has_path_id(family),
            local_role: info
                .local_role
                .filter(|_| info.external && otc_applies(family)),
        }
    }

    /// The encoding context of the group.
    pub fn ctx(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
            add_path: if self.add_path {
                vec![self.family]
            } else {
                Vec::new()
            },
            external_peer: self.external,
        }
    }
}

/// An update group: the peers that receive the same encoding.
#[derive(Debug)]
pub(crate) struct Group {
    pub key: GroupKey,
    /// Source indices of the members that have had their initial table.
    pub members: SrcSet,
    /// The same members, by the RT-Constraint filter applied to them (EVPN; in other families
    /// every member receives every route).
    pub receivers: Receivers,
}

impl Group {
    fn new(key: GroupKey) -> Self {
        Group {
            key,
            members: SrcSet::default(),
            receivers: Receivers::default(),
        }
    }
}

/// Why a peer needs the whole table of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DumpKind {
    /// Session up: the initial table, then End-of-RIB (RFC 4724 §2).
    Join,
    /// ROUTE-REFRESH (RFC 2918).
    Refresh,
    /// Enhanced route refresh: BoRR, the table, EoRR (RFC 7313 §4).
    EnhancedRefresh,
}

/// A table dump waiting for the next flush.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingDump {
    pub src: u32,
    pub family: Family,
    pub kind: DumpKind,
    /// [`Source::generation`] when queued: a dump of an earlier session is dropped.
    pub generation: u32,
}

/// What a RIB timer does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The source's stale paths expire (RFC 4724 §4.2).
    Stale,
    /// The source's RT-Constraint End-of-RIB wait ends (RFC 4684 §6).
    RtcWait,
}

/// The routing state of the whole speaker. See the module documentation.
#[derive(Debug)]
pub struct Rib {
    cfg: RibConfig,
    interner: Interner,
    tables: Vec<Table>,
    sources: Vec<Source>,
    by_id: HashMap<PeerId, u32>,
    groups: Vec<Group>,
    pending: Vec<PendingDump>,
    best_changes: Vec<BestChange>,
    track_best_changes: bool,
    deferred: bool,
    stats: RibStats,
    /// How many sources have [`Source::rtc_dirty`] set: lets a flush know whether it has
    /// RT-Constraint work without scanning every peer (the daemon polls each peer after every
    /// event).
    rtc_dirty_sources: usize,
    /// Sources marked [`Source::rtc_dirty`] since the last flush (possibly unmarked since).
    rtc_dirty_list: Vec<u32>,
    /// An initial RT membership table is queued in `pending`: what a flush during deferral
    /// sends (`Rib::flush`), so that it does not sort the queue on every poll for nothing.
    rtc_join_pending: bool,
    /// Every armed timer, earliest first: (deadline, source, what).
    timers: BTreeSet<(Instant, u32, Timer)>,
    /// Sources whose queue became non-empty since [`Rib::take_ready_peers`] last ran.
    ready: Vec<u32>,
    /// Source slots free for reuse ([`Rib::remove_peer`]).
    free_slots: Vec<u32>,
    /// Slots of removed peers, freed at the end of the next flush (the batch may still name
    /// them as the source of an earlier best path).
    retired: Vec<u32>,
    /// EVPN routes by the route targets of their best path at the last flush, built when the
    /// first RT-Constraint peer comes up: delta and dump walks touch only the routes of the
    /// route targets concerned.
    evpn_by_rt: Option<RouteIndex>,
    /// Scratch for [`Rib::apply_update`] (`adj_in.rs`): the routes of one UPDATE with their
    /// keys' hashes, kept to reuse its allocation.
    ingest_batch: Vec<IngestItem>,
}

/// A route of an UPDATE being applied: key, its hash in the table, non-key NLRI fields, path
/// identifier.
type IngestItem = (RouteKey, u64, NlriExtras, Option<u32>);

/// Largest chunk [`Rib::poll_transmit`] assembles (whole messages; one larger chunk is
/// returned alone).
pub const TRANSMIT_CHUNK: usize = 64 * 1024;

impl Rib {
    /// An empty RIB.
    pub fn new(config: RibConfig) -> Self {
        Rib {
            cfg: config,
            interner: Interner::default(),
            tables: Vec::new(),
            sources: Vec::new(),
            by_id: HashMap::new(),
            groups: Vec::new(),
            pending: Vec::new(),
            best_changes: Vec::new(),
            track_best_changes: true,
            deferred: false,
            stats: RibStats::default(),
            rtc_dirty_sources: 0,
            rtc_dirty_list: Vec::new(),
            rtc_join_pending: false,
            timers: BTreeSet::new(),
            ready: Vec::new(),
            free_slots: Vec::new(),
            retired: Vec::new(),
            evpn_by_rt: None,
            ingest_batch: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.cfg
    }

    /// Work counters.
    pub fn stats(&self) -> RibStats {
        self.stats.clone()
    }

    /// Number of distinct attribute sets currently interned.
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    /// Whether [`Rib::poll_best_changes`] collects changes (default on). A daemon without a
    /// subscriber turns it off so that changes do not pile up.
    pub fn set_best_change_tracking(&mut self, on: bool) {
        self.track_best_changes = on;
        if !on {
            self.best_changes = Vec::new();
        }
    }

    /// Restarting-speaker deferral (RFC 4724 §4.1): while on, nothing but the RT membership
    /// family is flushed (see [`Rib::flush`]): no other UPDATE is produced and no other
    /// best-path change reported; routes received meanwhile are kept. Turn it
    /// off once the peers' End-of-RIB markers are in (or the deferral timer fires).
    pub fn set_deferral(&mut self, on: bool) {
        self.deferred = on;
    }

    /// True while deferral is on.
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }

    fn table_index(&self, family: Family) -> Option<usize> {
        self.tables.iter().position(|t| t.family == family)
    }

    fn table_index_or_create(&mut self, family: Family) -> usize {
        match self.table_index(family) {
            Some(i) => i,
            None => {
                self.tables.push(Table::new(family));
                self.tables.len() - 1
            }
        }
    }

    fn src_of(&self, peer: PeerId) -> Option<u32> {
        self.by_id.get(&peer).copied()
    }

    /// Originates a local route (static routes from the config, the EVPN engine): `attrs` are
    /// the attributes to send (ORIGIN and AS_PATH default to IGP and empty), `next_hop` the
    /// next hop (the VTEP for EVPN). Replaces an earlier local route with the same route key
    /// (for EVPN, the key fields of RFC 7432 §7 / RFC 9136 §3.1: a new label replaces the old
    /// one). A route whose family is not `family` is ignored.
    pub fn originate(
        &mut self,
        family: Family,
        nlri: Nlri,
        attrs: Vec<PathAttribute>,
        next_hop: NextHop,
    ) {
        if nlri.route.family() != family {
            return;
        }
        let (key, extras) = RouteKey::split(&nlri.route);
        let mut a =
            PathAttrs::from_attributes(&attrs, evpnd_wire::AttrSet::default(), next_hop, true);
        a.nlri_extras = extras;
        let attrs = self.interner.intern(a);
        let ti = self.table_index_or_create(family);
        let path = StoredPath {
            attrs,
            src: LOCAL,
            path_id: 0,
            has_path_id: false,
            stale: false,
        };
        self.upsert(ti, key, path);
    }

    /// Withdraws a local route: the one with the route key of `nlri` (its non-key EVPN fields
    /// are not compared).
    pub fn withdraw_local(&mut self, family: Family, nlri: &Nlri) {
        if let Some(ti) = self.table_index(family) {
            self.remove_path(ti, &RouteKey::of(&nlri.route), LOCAL, None);
        }
    }

    /// The next encoded UPDATE messages for `peer` (whole messages, concatenated up to
    /// [`TRANSMIT_CHUNK`] bytes), after flushing pending changes.
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Vec<u8>> {
        self.flush();
        let s = self.src_of(peer)?;
        let src = &mut self.sources[s as usize];
        let first = src.out.pop_front()?;
        let mut v = first.to_vec();
        while let Some(c) = src.out.front() {
            if v.len() + c.len() > TRANSMIT_CHUNK {
                break;
            }
            v.extend_from_slice(c);
            src.out.pop_front();
        }
        src.out_bytes -= v.len();
        src.after_pop();
        Some(v)
    }

    /// Like [`Rib::poll_transmit`], without copying: the chunk is shared with the other
    /// members of the peer's update group.
    pub fn poll_transmit_shared(&mut self, peer: PeerId) -> Option<Arc<[u8]>> {
        self.flush();
        let s = self.src_of(peer)?;
        let src = &mut self.sources[s as usize];
        let c = src.out.pop_front()?;
        src.out_bytes -= c.len();
        src.after_pop();
        Some(c)
    }

    /// Bytes waiting for `peer` (not counting changes not yet flushed).
    pub fn pending_bytes(&self, peer: PeerId) -> usize {
        self.src_of(peer)
            .map_or(0, |s| self.sources[s as usize].out_bytes)
    }

    /// Best-path changes since the last call (coalesced per route and flush), after flushing.
    pub fn poll_best_changes(&mut self) -> Vec<BestChange> {
        self.flush();
        std::mem::take(&mut self.best_changes)
    }

    /// Every route of `family` with all its paths, best first (for `show routes`). The route
    /// is the one the best path carries: for EVPN, the route key with the best path's labels,
    /// ESI and gateway IP, i.e. what is advertised; each [`Path::route`] has its own.
    pub fn loc_rib(&self, family: Family) -> impl Iterator<Item = (Route, Vec<Path>)> + '_ {
        self.table_index(family)
            .map(|ti| &self.tables[ti])
            .into_iter()
            .flat_map(move |t| {
                t.iter().map(move |(_, e)| {
                    let paths = self.public_paths(&e.key, e.paths.as_slice());
                    let route = paths
                        .first()
                        .map_or_else(|| e.key.route(&NlriExtras::default()), |p| p.route);
                    (route, paths)
                })
            })
    }

    /// Every route of `family` with its best path's attributes, without copying any path:
    /// for counting (metrics) over tables of millions of routes.
    pub fn best_routes(&self, family: Family) -> impl Iterator<Item = (Route, &PathAttrs)> + '_ {
        self.table_index(family)
            .map(|ti| &self.tables[ti])
            .into_iter()
            .flat_map(|t| {
                t.iter().filter_map(|(_, e)| {
                    let best = e.paths.best()?;
                    Some((e.key.route(&best.attrs.nlri_extras), &*best.attrs))
                })
            })
    }

    /// The routes of `family` from table slot `from` on, each with its slot and all its paths
    /// best first, as [`Rib::loc_rib`] gives them: a listing resumes from the slot after the
    /// last one it returned (a live route keeps its slot), walking only what it returns.
    pub fn loc_rib_from(
        &self,
        family: Family,
        from: u32,
    ) -> impl Iterator<Item = (u32, Route, Vec<Path>)> + '_ {
        self.table_index(family)
            .map(|ti| &self.tables[ti])
            .into_iter()
            .flat_map(move |t| {
                let start = (from as usize).min(t.entries.len());
                t.entries[start..]
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| !e.paths.is_empty())
                    .map(move |(i, e)| {
                        let paths = self.public_paths(&e.key, e.paths.as_slice());
                        let route = paths
                            .first()
                            .map_or_else(|| e.key.route(&NlriExtras::default()), |p| p.route);
                        (from.saturating_add(i as u32), route, paths)
                    })
            })
    }

    /// The paths of one route, best first. The route is looked up by its key: for EVPN, the
    /// non-key fields of `route` (labels, ESI of type 2 and 5, gateway IP) are not compared.
    pub fn paths(&self, family: Family, route: &Route) -> Vec<Path> {
        let Some(ti) = self.table_index(family) else {
            return Vec::new();
        };
        let t = &self.tables[ti];
        let key = RouteKey::of(route);
        match t.find(&key) {
            Some(i) => self.public_paths(&key, t.entries[i as usize].paths.as_slice()),
            None => Vec::new(),
        }
    }

    /// The best path of one route, looked up by its key as in [`Rib::paths`]. Its
    /// [`Path::route`] is the route as advertised.
    pub fn best(&self, family: Family, route: &Route) -> Option<Path> {
        self.paths(family, route).into_iter().next()
    }

    /// Number of routes (with at least one path) in `family`.
    pub fn route_count(&self, family: Family) -> usize {
        self.table_index(family)
            .map_or(0, |ti| self.tables[ti].iter().count())
    }

    /// Approximate heap bytes of the Loc-RIB tables (entries and index; the shared attribute
    /// sets are not counted), for the memory figures of the benchmark.
    pub fn table_bytes(&self) -> usize {
        self.tables.iter().map(Table::heap_bytes).sum()
    }

    /// Route counts of `peer`.
    pub fn peer_counters(&self, peer: PeerId) -> PeerCounters {
        match self.src_of(peer) {
            Some(s) => PeerCounters {
                families: self.sources[s as usize].counters.clone(),
            },
            None => PeerCounters::default(),
        }
    }

    fn public_paths(&self, key: &RouteKey, paths: &[StoredPath]) -> Vec<Path> {
        paths.iter().map(|p| self.public_path(key, p)).collect()
    }

    fn public_path(&self, key: &RouteKey, p: &StoredPath) -> Path {
        Path {
            route: key.route(&p.attrs.nlri_extras),
            source: self.route_source(p.src),
            path_id: p.path_id(),
            attrs: p.attrs.clone(),
            stale: p.stale,
        }
    }

    fn route_source(&self, src: u32) -> RouteSource {
        if src == LOCAL {
            RouteSource::Local
        } else {
            RouteSource::Peer(self.sources[src as usize].info.id)
        }
    }
}

/// The kind of source `src`.
pub(crate) fn kind_of(sources: &[Source], src: u32) -> SrcKind {
    if src == LOCAL {
        return SrcKind::Local;
    }
    match sources.get(src as usize) {
        Some(s) => s.kind(),
        None => SrcKind::Local,
    }
}
