//! RT-Constraint (RFC 4684): the route targets a peer asked for, and which membership routes
//! each peer is sent.
//!
//! ## Filtering EVPN routes (RFC 4684 §4)
//!
//! A peer that negotiated the RT-Constraint family tells us, with RT membership routes, which
//! route targets it wants; we then send it only the EVPN routes carrying one of them. The
//! default membership (prefix length 0) asks for everything. A peer that did not negotiate the
//! family gets every route. A peer's filter is built from every membership path it sent us,
//! whether or not that path is the best one of its route: RFC 4684 §3.2 has a speaker
//! consider all iBGP paths of a membership route when it builds its outbound filter, not just
//! the best path. That makes the filter towards a client exactly the route targets the client
//! imports. The set is kept as paths come and go (`Source::memberships`, counted per
//! membership), and the filter applied to what the peer is sent follows it at each flush
//! (`Rib::flush_rtc_filters`), which sends the peer exactly the difference, walking only the
//! routes of the route targets that changed ([`RouteIndex`]).
//!
//! ## Waiting for the peer's memberships (RFC 4684 §6)
//!
//! A peer that negotiated the family gets no EVPN route until its RT-Constraint End-of-RIB
//! has arrived, or `RibConfig::rtc_end_of_rib_wait` has passed since the session came up
//! (`Rib::peer_up_at`); then its table is sent filtered by the memberships known, and the
//! EVPN End-of-RIB after it. Without the wait, the table would go out with a still-empty
//! filter, End-of-RIB first and the routes after it as filter changes: a restarting peer
//! acting on End-of-RIB would flush its stale routes and learn them again.
//!
//! ## Advertising membership routes inside the AS (RFC 4684 §3.2)
//!
//! Every speaker of the AS that imports a route target originates the same membership NLRI
//! (origin AS = our AS, the route target). Plain route reflection would pick one best path,
//! say client A's, and by split horizon never send it back to A: if A's path is the only one,
//! fine, but if client B imports the same route target, A never learns that anyone else wants
//! it and withholds every EVPN route of that target from the reflector. RFC 4684 §3.2 changes
//! the reflection of memberships so that they flow back to every client on behalf of the
//! others: towards a client the reflector advertises a membership as its own (ORIGINATOR_ID =
//! the reflector's router id; `out_attributes`), and towards a non-client it advertises a
//! client's path when its best path came from a non-client (which plain reflection would not
//! send to a non-client at all).
//!
//! What this module implements, for internal peers ([`offers_per_member`]), is the rule those
//! two cases follow from: each peer is offered the best of the membership paths that may be
//! sent to it and that do not come from it ([`MembershipOffer`]). "May be sent" is the
//! reflection rule of RFC 4456 §6 (no path from a non-client to a non-client). "Come from it"
//! means received from that peer, or carrying its router id as ORIGINATOR_ID: a copy of its
//! own membership that another reflector sent back, which the peer would refuse (RFC 4456 §8)
//! and which, re-labelled with our ORIGINATOR_ID, would make it believe someone else imports
//! the target. So:
//!
//! * a client learns a membership exactly when some other peer (another client, another
//!   reflector on behalf of its clients, or we ourselves) imports the target, and sends us
//!   exactly the EVPN routes some other peer wants;
//! * another reflector learns it whenever one of our clients, or we, import the target.
//!
//! Alternatives considered: originating the default membership from every reflector (clients
//! would then send every route to the reflectors, the reflectors' own filters would still
//! protect the clients, but the reflectors would carry every route of the fabric); sending
//! the best path back to its source as well (the source would learn of its own membership and
//! send routes nobody needs). Towards external peers nothing changes: memberships of another
//! AS carry that AS as origin, so they are distinct routes (RFC 4684 §3.1) and the plain best
//! path with split horizon is right.
//!
//! Each peer's offer is computed from the route's paths, not stored: the table keeps every
//! path a membership route had at the previous flush (`Table::old_paths`), which tells what
//! each peer was offered then. Peers offered the same path share one encoding.
//!
//! The other half of the first §3.2 rule, the next hop set to our address on that session, is
//! not applied: the RIB does not know its local addresses, and nothing reads the next hop of
//! a membership route; it is passed on unchanged.

use super::best_path::{best_index_where, SelectCtx};
use super::export::eligible;
use super::intern::PathAttrs;
use super::table::StoredPath;
use super::{kind_of, GroupKey};
use evpnd_wire::{Family, RtMembership};
use std::collections::{HashMap, HashSet};

/// One RT membership as a filter entry: the default membership, a full route target, or a
/// prefix of one (origin AS cleared: RFC 4684 §4 matches on the route target only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum RtKey {
    /// The default membership (prefix length 0): everything.
    All,
    /// A full 64-bit route target.
    Exact([u8; 8]),
    /// Fewer than 64 significant bits, normalised (origin AS 0).
    Prefix(RtMembership),
}

impl RtKey {
    /// The filter entry of membership `m`.
    pub fn of(m: &RtMembership) -> Self {
        match *m {
            RtMembership::Default => RtKey::All,
            RtMembership::Target {
                rt_len: 64,
                route_target,
                ..
            } => RtKey::Exact(route_target),
            RtMembership::Target {
                rt_len,
                route_target,
                ..
            } => RtKey::Prefix(RtMembership::Target {
                origin_as: 0,
                rt_len,
                route_target,
            }),
        }
    }
}

/// The set of route targets one peer asked for, as applied to what it is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RtFilter {
    /// The default membership was advertised: everything matches.
    all: bool,
    /// Full 64-bit route targets.
    exact: HashSet<[u8; 8]>,
    /// Memberships with fewer than 64 significant bits, normalised (origin AS 0) and sorted.
    prefixes: Vec<RtMembership>,
}

impl RtFilter {
    /// True when entry `k` is in the filter.
    pub fn contains(&self, k: &RtKey) -> bool {
        match k {
            RtKey::All => self.all,
            RtKey::Exact(rt) => self.exact.contains(rt),
            RtKey::Prefix(m) => self.prefixes.binary_search(m).is_ok(),
        }
    }

    /// Adds entry `k`.
    pub fn insert(&mut self, k: RtKey) {
        match k {
            RtKey::All => self.all = true,
            RtKey::Exact(rt) => {
                self.exact.insert(rt);
            }
            RtKey::Prefix(m) => {
                if let Err(i) = self.prefixes.binary_search(&m) {
                    self.prefixes.insert(i, m);
                }
            }
        }
    }

    /// Removes entry `k`.
    pub fn remove(&mut self, k: &RtKey) {
        match k {
            RtKey::All => self.all = false,
            RtKey::Exact(rt) => {
                self.exact.remove(rt);
            }
            RtKey::Prefix(m) => {
                if let Ok(i) = self.prefixes.binary_search(m) {
                    self.prefixes.remove(i);
                }
            }
        }
    }

    /// The default membership is in: every route matches.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Some membership is a route target prefix (matched by testing, not by index).
    pub fn has_prefixes(&self) -> bool {
        !self.prefixes.is_empty()
    }

    /// The full route targets.
    pub fn exact(&self) -> impl Iterator<Item = &[u8; 8]> {
        self.exact.iter()
    }

    /// True when a route with attributes `attrs` may be sent (RFC 4684 §4: one of its route
    /// targets matches one membership).
    pub fn matches(&self, attrs: &PathAttrs) -> bool {
        if self.all {
            return true;
        }
        attrs
            .route_targets()
            .any(|rt| self.exact.contains(&rt.0) || self.prefixes.iter().any(|m| m.matches(&rt.0)))
    }
}

/// EVPN routes (entry indices) by the route targets of their best path: what a membership
/// change or a filtered table dump walks instead of the whole table (RFC 4684 §4).
#[derive(Debug, Default)]
pub(crate) struct RouteIndex {
    by_rt: HashMap<[u8; 8], HashSet<u32>>,
}

impl RouteIndex {
    /// Route `idx` had best-path attributes `old` and now has `new`.
    pub fn update(&mut self, idx: u32, old: Option<&PathAttrs>, new: Option<&PathAttrs>) {
        if let Some(o) = old {
            for rt in o.route_targets() {
                if new.is_some_and(|n| n.route_targets().any(|x| x == rt)) {
                    continue;
                }
                if let Some(set) = self.by_rt.get_mut(&rt.0) {
                    set.remove(&idx);
                    if set.is_empty() {
                        self.by_rt.remove(&rt.0);
                    }
                }
            }
        }
        if let Some(n) = new {
            for rt in n.route_targets() {
                self.by_rt.entry(rt.0).or_default().insert(idx);
            }
        }
    }

    /// The routes whose best path carries route target `rt`, sorted and without repeats,
    /// for every route target of `rts`.
    pub fn routes_of<'a>(&self, rts: impl Iterator<Item = &'a [u8; 8]>) -> Vec<u32> {
        let mut v: Vec<u32> = Vec::new();
        for rt in rts {
            if let Some(set) = self.by_rt.get(rt) {
                v.extend(set.iter().copied());
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// `filter` of a member (`None`: no RT-Constraint, everything passes) applied to `attrs`.
pub(crate) fn passes(filter: Option<&RtFilter>, attrs: &PathAttrs) -> bool {
    match filter {
        None => true,
        Some(f) => f.matches(attrs),
    }
}

/// True when the members of group `key` are offered membership routes one by one
/// ([`MembershipOffer`]): RT membership routes to internal peers (RFC 4684 §3.2). Everything
/// else is sent as the plain best path with split horizon.
pub(crate) fn offers_per_member(key: &GroupKey) -> bool {
    key.family == Family::RT_CONSTRAINT && !key.external
}

/// What the members of one internal update group are offered of one membership route, given
/// its paths (RFC 4684 §3.2, see the module documentation).
pub(crate) struct MembershipOffer<'p> {
    paths: &'p [StoredPath],
    /// The best of the paths the group may be sent (RFC 4456 §6).
    best: Option<usize>,
}

impl<'p> MembershipOffer<'p> {
    /// The offer of `paths` (a route's paths, in any order) to the members of group `key`.
    pub fn new(paths: &'p [StoredPath], key: &GroupKey, ctx: &SelectCtx<'_>) -> Self {
        let best = best_index_where(paths, ctx, |p| sendable(key, ctx, p));
        MembershipOffer { paths, best }
    }

    /// The group's best path (offered to every member it does not come from).
    pub fn best(&self) -> Option<&'p StoredPath> {
        self.best.map(|i| &self.paths[i])
    }

    /// The path member `member` (a source index) is offered: the group's best path unless it
    /// comes from the member, else the best of the group's paths that do not. `None`: the
    /// member is sent nothing.
    pub fn to(&self, member: u32, key: &GroupKey, ctx: &SelectCtx<'_>) -> Option<&'p StoredPath> {
        let best = &self.paths[self.best?];
        if !comes_from(ctx, member, best) {
            return Some(best);
        }
        best_index_where(self.paths, ctx, |p| {
            sendable(key, ctx, p) && !comes_from(ctx, member, p)
        })
        .map(|i| &self.paths[i])
    }
}

/// May `p` be sent to members of group `key` (RFC 4456 §6, RFC 1997)?
fn sendable(key: &GroupKey, ctx: &SelectCtx<'_>, p: &StoredPath) -> bool {
    eligible(key, kind_of(ctx.sources, p.src), &p.attrs)
}

/// Does `p` come from internal peer `member`: received from it, or its own route sent back to
/// us by another reflector (ORIGINATOR_ID = its router id, RFC 4456 §8)?
fn comes_from(ctx: &SelectCtx<'_>, member: u32, p: &StoredPath) -> bool {
    p.src == member
        || ctx
            .sources
            .get(member as usize)
            .is_some_and(|s| p.attrs.originator_id == Some(s.info.router_id))
}
