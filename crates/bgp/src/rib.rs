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
//!   filter) select which shared chunks a member receives.
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
mod export;
mod intern;
mod key;
mod out;
mod path_change;
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
use rtc::RtFilter;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// A peer as a source of paths and a receiver of updates.
#[derive(Debug)]
pub(crate) struct Source {
    pub info: PeerInfo,
    pub up: bool,
    /// Families disabled by RFC 7606 AFI/SAFI-disable on this session.
    pub disabled: Vec<Family>,
    pub counters: Vec<FamilyCounters>,
    /// Families holding stale paths (RFC 4724), and when they expire.
    pub stale_families: Vec<Family>,
    pub stale_deadline: Option<Instant>,
    /// RT-Constraint filter: `None` when the session did not negotiate the family.
    pub rtc: Option<RtFilter>,
    /// The peer's RT membership paths changed since the filter was computed. Set and cleared
    /// only through [`Source::set_rtc_dirty`], which keeps [`Rib`]'s count of marked sources.
    pub rtc_dirty: bool,
    /// Encoded UPDATEs waiting for [`Rib::poll_transmit`].
    pub out: VecDeque<Arc<[u8]>>,
    pub out_bytes: usize,
}

impl Source {
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

    /// Sets or clears [`Source::rtc_dirty`], keeping `dirty_sources` (the RIB's count of
    /// sources with the mark) exact.
    fn set_rtc_dirty(&mut self, dirty: bool, dirty_sources: &mut usize) {
        if self.rtc_dirty == dirty {
            return;
        }
        self.rtc_dirty = dirty;
        if dirty {
            *dirty_sources += 1;
        } else {
            debug_assert!(*dirty_sources > 0, "RT-Constraint dirty count out of step");
            *dirty_sources = dirty_sources.saturating_sub(1);
        }
    }

    fn push_out(&mut self, chunk: Arc<[u8]>) {
        self.out_bytes += chunk.len();
        self.out.push_back(chunk);
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
    pub members: Vec<u32>,
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
}

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

    /// Restarting-speaker deferral (RFC 4724 §4.1): while on, nothing is flushed: no UPDATE is
    /// produced and no best-path change reported; routes received meanwhile are kept. Turn it
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

    /// A session reached Established: the peer will get the whole table of each negotiated
    /// family, then End-of-RIB per family (RFC 4724 §2), at the next flush. Paths kept stale
    /// from an earlier session stay until End-of-RIB or the restart timer.
    pub fn peer_up(&mut self, peer: PeerInfo) {
        let s = match self.src_of(peer.id) {
            Some(s) => {
                if self.sources[s as usize].up {
                    // Re-established without a down event: start the output over.
                    self.leave_groups(s);
                }
                s
            }
            None => {
                let s = self.sources.len() as u32;
                self.by_id.insert(peer.id, s);
                self.sources.push(Source {
                    info: peer.clone(),
                    up: false,
                    disabled: Vec::new(),
                    counters: Vec::new(),
                    stale_families: Vec::new(),
                    stale_deadline: None,
                    rtc: None,
                    rtc_dirty: false,
                    out: VecDeque::new(),
                    out_bytes: 0,
                });
                s
            }
        };
        let rtc = peer.families.contains(&Family::RT_CONSTRAINT);
        {
            let src = &mut self.sources[s as usize];
            src.info = peer.clone();
            src.up = true;
            src.disabled.clear();
            src.out.clear();
            src.out_bytes = 0;
            for c in &mut src.counters {
                c.received = 0;
                c.advertised = 0;
            }
            src.rtc = rtc.then(RtFilter::default);
            src.set_rtc_dirty(rtc, &mut self.rtc_dirty_sources);
        }
        for &family in &peer.families {
            self.table_index_or_create(family);
            let key = GroupKey::of(&peer, family);
            if !self.groups.iter().any(|g| g.key == key) {
                self.groups.push(Group {
                    key,
                    members: Vec::new(),
                });
            }
            self.pending.push(PendingDump {
                src: s,
                family,
                kind: DumpKind::Join,
            });
        }
    }

    fn leave_groups(&mut self, s: u32) {
        for g in &mut self.groups {
            g.members.retain(|m| *m != s);
        }
        self.pending.retain(|p| p.src != s);
        let pending = &self.pending;
        let sources = &self.sources;
        self.groups.retain(|g| {
            !g.members.is_empty()
                || pending
                    .iter()
                    .any(|p| GroupKey::of(&sources[p.src as usize].info, p.family) == g.key)
        });
    }

    /// The session went down. `graceful: None` removes the peer's paths (withdrawn from the
    /// others at the next flush); `Some(restart_time)` keeps them as stale until the peer's
    /// End-of-RIB per family or `now + restart_time` (RFC 4724 §4.2, helper side).
    pub fn peer_down(&mut self, peer: PeerId, graceful: Option<Duration>, now: Instant) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        self.leave_groups(s);
        {
            let src = &mut self.sources[s as usize];
            src.up = false;
            src.out.clear();
            src.out_bytes = 0;
            src.rtc = None;
            src.set_rtc_dirty(false, &mut self.rtc_dirty_sources);
            for c in &mut src.counters {
                c.advertised = 0;
            }
        }
        match graceful {
            Some(t) => {
                let mut families = Vec::new();
                for ti in 0..self.tables.len() {
                    if self.mark_stale(ti, s) > 0 {
                        families.push(self.tables[ti].family);
                    }
                }
                let src = &mut self.sources[s as usize];
                for f in families {
                    if !src.stale_families.contains(&f) {
                        src.stale_families.push(f);
                    }
                }
                src.stale_deadline = if src.stale_families.is_empty() {
                    None
                } else {
                    Some(now + t)
                };
            }
            None => {
                for ti in 0..self.tables.len() {
                    self.remove_paths_where(ti, |p| p.src == s);
                }
                let src = &mut self.sources[s as usize];
                src.stale_families.clear();
                src.stale_deadline = None;
            }
        }
    }

    /// The peer's End-of-RIB for `family`: its paths still stale there are removed (RFC 4724
    /// §4.2). [`Rib::apply_update`] calls this itself when given an End-of-RIB UPDATE.
    pub fn end_of_rib(&mut self, peer: PeerId, family: Family) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        let src = &mut self.sources[s as usize];
        let Some(i) = src.stale_families.iter().position(|f| *f == family) else {
            return;
        };
        src.stale_families.swap_remove(i);
        if src.stale_families.is_empty() {
            src.stale_deadline = None;
        }
        if let Some(ti) = self.table_index(family) {
            self.remove_paths_where(ti, |p| p.src == s && p.stale);
        }
    }

    /// Replaces the time at which the peer's stale paths expire (`None`: only End-of-RIB
    /// purges them). The daemon uses it once the session is back, to switch from the restart
    /// time to its stale-routes time (RFC 4724 §4.2).
    pub fn set_stale_deadline(&mut self, peer: PeerId, deadline: Option<Instant>) {
        if let Some(s) = self.src_of(peer) {
            let src = &mut self.sources[s as usize];
            if !src.stale_families.is_empty() {
                src.stale_deadline = deadline;
            }
        }
    }

    /// The peer sent BoRR for `family` (RFC 7313 §4): its paths of the family become stale
    /// until [`Rib::end_of_route_refresh`]; they stay usable meanwhile.
    pub fn begin_of_route_refresh(&mut self, peer: PeerId, family: Family) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        let Some(ti) = self.table_index(family) else {
            return;
        };
        if self.mark_stale(ti, s) > 0 {
            let src = &mut self.sources[s as usize];
            if !src.stale_families.contains(&family) {
                src.stale_families.push(family);
            }
        }
    }

    /// The peer sent EoRR for `family` (RFC 7313 §4): its paths not refreshed since BoRR are
    /// removed.
    pub fn end_of_route_refresh(&mut self, peer: PeerId, family: Family) {
        self.end_of_rib(peer, family);
    }

    /// Expires stale paths whose restart timer has run out.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in 0..self.sources.len() {
            let due = self.sources[s].stale_deadline.is_some_and(|d| d <= now);
            if !due {
                continue;
            }
            let families = std::mem::take(&mut self.sources[s].stale_families);
            self.sources[s].stale_deadline = None;
            for f in families {
                if let Some(ti) = self.table_index(f) {
                    self.remove_paths_where(ti, |p| p.src == s as u32 && p.stale);
                }
            }
        }
    }

    /// When [`Rib::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sources.iter().filter_map(|s| s.stale_deadline).min()
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

    /// ROUTE-REFRESH from the peer (RFC 2918): the family's routes are sent again at the next
    /// flush.
    pub fn route_refresh(&mut self, peer: PeerId, family: Family) {
        self.queue_refresh(peer, family, DumpKind::Refresh);
    }

    /// Enhanced route refresh (RFC 7313 §4): BoRR, the family's routes, EoRR.
    pub fn route_refresh_enhanced(&mut self, peer: PeerId, family: Family) {
        self.queue_refresh(peer, family, DumpKind::EnhancedRefresh);
    }

    fn queue_refresh(&mut self, peer: PeerId, family: Family, kind: DumpKind) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        if !self.sources[s as usize].up || !self.sources[s as usize].info.families.contains(&family)
        {
            return;
        }
        // A join still pending covers a refresh.
        if self
            .pending
            .iter()
            .any(|p| p.src == s && p.family == family && p.kind == DumpKind::Join)
        {
            return;
        }
        self.pending.push(PendingDump {
            src: s,
            family,
            kind,
        });
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
        Some(c)
    }

    /// The peers with encoded UPDATEs waiting, after flushing pending changes: the ones a
    /// driver of the RIB should call [`Rib::poll_transmit`] for. A peer is listed at most once
    /// and again only after its queue has been emptied and refilled, so that a pump does work
    /// proportional to the peers that have something to send, not to all peers.
    ///
    /// ISSUE12-CONTRACT: naive scan for now; the wt-rtc helper makes it O(ready peers).
    pub fn take_ready_peers(&mut self) -> Vec<PeerId> {
        self.flush();
        self.sources
            .iter()
            .filter(|s| s.up && !s.out.is_empty())
            .map(|s| s.info.id)
            .collect()
    }

    /// Forgets a peer that is down and has no paths left (a dynamic neighbour whose session
    /// ended): its slot is freed. A peer that is up, or still holds stale paths, is kept and
    /// `false` is returned.
    ///
    /// ISSUE12-CONTRACT: for now only checks and unmaps; the wt-rtc helper reuses the slot.
    pub fn remove_peer(&mut self, peer: PeerId) -> bool {
        let Some(s) = self.src_of(peer) else {
            return true;
        };
        let src = &self.sources[s as usize];
        if src.up || !src.stale_families.is_empty() {
            return false;
        }
        self.by_id.remove(&peer);
        true
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
