//! Adj-RIB-Out through update groups.
//!
//! Changes are batched in the tables (`Table::dirty`, with the best path each changed route had
//! at the previous flush). [`Rib::flush`] turns a batch into UPDATE messages:
//!
//! 1. For each update group of the family, every changed route is classified by its
//!    *transition*: (new best, old best), each masked by the group's export rules and
//!    identified by (attribute set, source). Routes of one transition are treated alike.
//! 2. For each transition and member the plan decides: does the member receive the new best
//!    (not its own route — split horizon — and passing its RT-Constraint filter)? Did it have
//!    the old one? Announce, withdraw, or nothing.
//! 3. Transitions with the same new attributes and the same receivers form one encoding unit;
//!    withdrawals with the same receivers another. Each unit is encoded once with
//!    [`UpdatePacker`] and the resulting chunks (reference-counted) are queued to every
//!    receiver.
//!
//! The NLRI of an announcement is the route key with the new best path's non-key fields
//! (EVPN labels, ESI, gateway IP: `key.rs`), so a peer receives the labels of the path it is
//! sent; a withdrawal carries the fields of the path the peer had been sent.
//!
//! Nothing is stored per peer and route: what a peer was sent is a function of the route's
//! previous best path, the group's rules and the peer's filter. Table dumps (session up, route
//! refresh) and RT-Constraint filter changes use the same planner with a different notion of
//! "old".
//!
//! RT membership routes to internal peers are the one exception to "everyone gets the best
//! path": RFC 4684 §3.2 has each peer offered the best path that may be sent to it and does not
//! come from it (`rtc.rs`). [`plan_memberships`] plans them route by route and member by
//! member, from all the paths the route has now and had at the previous flush
//! (`Table::old_paths`); members offered the same path still share one encoding per attribute
//! set. There are few membership routes (one per route target), so the per-member work is
//! small.

use super::best_path::SelectCtx;
use super::export::{eligible, out_attributes};
use super::key::{NlriExtras, RouteKey};
use super::receivers::{Receivers, SrcSet};
use super::rtc::{offers_per_member, passes, MembershipOffer, RtFilter};
use super::table::{Adv, AdvRef, Dirty, StoredPath, Table};
use super::{
    kind_of, BestChange, GroupKey, Rib, RibConfig, RibStats, Source, SrcKind, TRANSMIT_CHUNK,
};
use evpnd_wire::{encode_message, Family, Message, Nlri, UpdatePacker};
use std::collections::HashMap;
use std::sync::Arc;

/// Who a plan is for.
pub(crate) enum Audience<'a> {
    /// These members, each tested with its filters: an RT-Constraint filter change, where a
    /// member's old and new filters differ.
    Each(&'a [Member<'a>]),
    /// Members filed by their filter, which is the same before and after: a route's
    /// receivers are found by its route targets, in O(receivers).
    Indexed {
        /// The members.
        receivers: &'a Receivers,
        /// They have nothing yet (dump): every route they are to receive is announced.
        fresh: bool,
        /// Adjust their "advertised" counters.
        count: bool,
    },
}

/// A receiver as the planner sees it.
pub(crate) struct Member<'a> {
    /// Source index.
    pub src: u32,
    /// RT-Constraint filter that applied to what it was sent (`None`: everything).
    pub old_filter: Option<&'a RtFilter>,
    /// RT-Constraint filter that applies from now on.
    pub new_filter: Option<&'a RtFilter>,
    /// It has nothing yet (dump): every route it is to receive is announced.
    pub fresh: bool,
    /// Adjust its "advertised" counter.
    pub count: bool,
}

/// One encoding unit: routes sent with the same attributes to the same receivers, or
/// withdrawn from the same receivers.
#[derive(Debug)]
pub(crate) struct Unit {
    /// The new best path (announcement) or `None` (withdrawal).
    pub announce: Option<Adv>,
    /// Receivers (source indices).
    pub to: Vec<u32>,
    pub nlri: Vec<Nlri>,
}

/// What one flush step sends in one group.
#[derive(Debug)]
pub(crate) struct Plan {
    pub key: GroupKey,
    pub units: Vec<Unit>,
    /// Changes of the receivers' advertised counters.
    pub counts: Vec<(u32, i64)>,
}

type AdvKey = (usize, u32);
/// A transition: (new best, old best) after the group's export rules.
type ClassKey = (Option<AdvKey>, Option<AdvKey>);

/// The encoding units of a plan being built: one per attribute set and receiver set
/// (announcements) and one per receiver set (withdrawals), so that receivers of the same
/// routes with the same attributes share one encoding.
#[derive(Default)]
struct Units {
    units: Vec<Unit>,
    announce: HashMap<(AdvKey, Vec<u32>), usize>,
    withdraw: HashMap<Vec<u32>, usize>,
}

impl Units {
    /// The unit announcing with the attributes of `adv` to `to`.
    fn announce(&mut self, adv: AdvRef<'_>, to: Vec<u32>) -> usize {
        let units = &mut self.units;
        *self
            .announce
            .entry((adv.key(), to.clone()))
            .or_insert_with(|| {
                units.push(Unit {
                    announce: Some(adv.to_owned()),
                    to,
                    nlri: Vec::new(),
                });
                units.len() - 1
            })
    }

    /// The unit withdrawing from `to`.
    fn withdraw(&mut self, to: Vec<u32>) -> usize {
        let units = &mut self.units;
        *self.withdraw.entry(to.clone()).or_insert_with(|| {
            units.push(Unit {
                announce: None,
                to,
                nlri: Vec::new(),
            });
            units.len() - 1
        })
    }

    /// The finished plan; `counts` are the changes of the receivers' advertised counters.
    fn into_plan(self, key: &GroupKey, counts: HashMap<u32, i64>) -> Plan {
        let mut counts: Vec<(u32, i64)> = counts.into_iter().filter(|(_, c)| *c != 0).collect();
        counts.sort_unstable();
        Plan {
            key: key.clone(),
            units: self.units,
            counts,
        }
    }
}

struct Class<'a> {
    new: Option<AdvRef<'a>>,
    old: Option<AdvRef<'a>>,
    count: u64,
    ann: Option<usize>,
    wd: Option<usize>,
}

/// Plans the messages of group `key` for `items` = (route key, old best, new best).
pub(crate) fn plan<'a, I>(
    sources: &[Source],
    key: &GroupKey,
    audience: Audience<'_>,
    items: I,
) -> Plan
where
    I: Iterator<Item = (&'a RouteKey, Option<AdvRef<'a>>, Option<AdvRef<'a>>)> + Clone,
{
    let elig =
        |a: Option<AdvRef<'a>>| a.filter(|a| eligible(key, kind_of(sources, a.src), a.attrs));
    let mut classes: Vec<Class<'a>> = Vec::new();
    let mut class_map: HashMap<ClassKey, usize> = HashMap::new();
    let mut last: Option<(ClassKey, usize)> = None;
    let mut classify =
        |old: Option<AdvRef<'a>>, new: Option<AdvRef<'a>>, classes: &mut Vec<Class<'a>>| {
            let (old, new) = (elig(old), elig(new));
            if old.is_none() && new.is_none() {
                return None;
            }
            let k = (new.map(|a| a.key()), old.map(|a| a.key()));
            if let Some((lk, ci)) = last {
                if lk == k {
                    return Some(ci);
                }
            }
            let ci = *class_map.entry(k).or_insert_with(|| {
                classes.push(Class {
                    new,
                    old,
                    count: 0,
                    ann: None,
                    wd: None,
                });
                classes.len() - 1
            });
            last = Some((k, ci));
            Some(ci)
        };
    for (_, old, new) in items.clone() {
        if let Some(ci) = classify(old, new, &mut classes) {
            classes[ci].count += 1;
        }
    }

    let mut units = Units::default();
    let mut counts: HashMap<u32, i64> = HashMap::new();
    for cl in &mut classes {
        let same = matches!((cl.new, cl.old), (Some(n), Some(o)) if n.key() == o.key());
        let n = cl.count as i64;
        let (ann_to, wd_to) = match &audience {
            Audience::Each(members) => {
                let mut ann_to = Vec::new();
                let mut wd_to = Vec::new();
                for m in members.iter() {
                    let r = cl
                        .new
                        .is_some_and(|n| n.src != m.src && passes(m.new_filter, n.attrs));
                    let h = !m.fresh
                        && cl
                            .old
                            .is_some_and(|o| o.src != m.src && passes(m.old_filter, o.attrs));
                    if r && !(h && same) {
                        ann_to.push(m.src);
                    }
                    if h && !r {
                        wd_to.push(m.src);
                    }
                    if m.count {
                        if r && !h {
                            *counts.entry(m.src).or_default() += n;
                        } else if h && !r {
                            *counts.entry(m.src).or_default() -= n;
                        }
                    }
                }
                (ann_to, wd_to)
            }
            Audience::Indexed {
                receivers,
                fresh,
                count,
            } => {
                let r = cl
                    .new
                    .map_or_else(Vec::new, |a| receivers.of(sources, a.attrs, a.src));
                let h = match cl.old {
                    Some(a) if !*fresh => receivers.of(sources, a.attrs, a.src),
                    _ => Vec::new(),
                };
                let gained = difference(&r, &h);
                let lost = difference(&h, &r);
                if *count {
                    for &m in &gained {
                        *counts.entry(m).or_default() += n;
                    }
                    for &m in &lost {
                        *counts.entry(m).or_default() -= n;
                    }
                }
                (if same { gained } else { r }, lost)
            }
        };
        if let (Some(n), false) = (cl.new, ann_to.is_empty()) {
            cl.ann = Some(units.announce(n, ann_to));
        }
        if !wd_to.is_empty() {
            cl.wd = Some(units.withdraw(wd_to));
        }
    }

    let path_id = key.add_path.then_some(1);
    for (route, old, new) in items {
        let Some(ci) = classify(old, new, &mut classes) else {
            continue;
        };
        // Announce what the new best path carries; withdraw what the old one did (what the
        // receivers were sent).
        if let (Some(u), Some(n)) = (classes[ci].ann, new) {
            units.units[u].nlri.push(Nlri {
                path_id,
                route: route.route(&n.attrs.nlri_extras),
            });
        }
        if let (Some(u), Some(o)) = (classes[ci].wd, old) {
            units.units[u].nlri.push(Nlri {
                path_id,
                route: route.route(&o.attrs.nlri_extras),
            });
        }
    }
    units.into_plan(key, counts)
}

/// The elements of sorted `a` not in sorted `b`.
fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Plans the messages of group `key` (internal peers: [`offers_per_member`]) for RT membership
/// routes, `items` = (route key, its paths at the previous flush, its paths now), to `members`
/// (`fresh`: they have nothing yet; `count`: adjust their "advertised" counters). Each member
/// is sent the path [`MembershipOffer`] offers it (RFC 4684 §3.2); members offered the same
/// path share its encoding. RT-Constraint filters do not apply to membership routes.
///
/// A change costs O(members whose offer changed): when the group's best path stays the same
/// (by source and attribute set), every member it does not come from is offered it before and
/// after, so only the member it comes from is looked at (a best path carrying an
/// ORIGINATOR_ID may come from a member by that id too: then every member is).
pub(crate) fn plan_memberships<'a, I>(
    ctx: &SelectCtx<'_>,
    key: &GroupKey,
    members: &SrcSet,
    fresh: bool,
    count: bool,
    items: I,
) -> Plan
where
    I: Iterator<Item = (&'a RouteKey, &'a [StoredPath], &'a [StoredPath])>,
{
    let mut units = Units::default();
    let mut counts: HashMap<u32, i64> = HashMap::new();
    let path_id = key.add_path.then_some(1);
    let mut one = [0u32; 1];
    for (route, old, new) in items {
        let (old, new) = (
            MembershipOffer::new(old, key, ctx),
            MembershipOffer::new(new, key, ctx),
        );
        let who: &[u32] = match (old.best(), new.best()) {
            _ if fresh => members.as_slice(),
            (None, None) => continue,
            (Some(o), Some(n))
                if o.src == n.src
                    && Arc::ptr_eq(&o.attrs, &n.attrs)
                    && n.attrs.originator_id.is_none() =>
            {
                if !members.contains(n.src) {
                    continue;
                }
                one[0] = n.src;
                &one
            }
            _ => members.as_slice(),
        };
        // Receivers of each announced path, and of the withdrawal.
        let mut ann: Vec<(AdvRef<'a>, Vec<u32>)> = Vec::new();
        let mut wd_to = Vec::new();
        // Pairs (had, gets) of different paths already compared by what they send.
        let mut sends_same: Vec<(AdvKey, AdvKey, bool)> = Vec::new();
        for &m in who {
            let had = if fresh {
                None
            } else {
                old.to(m, key, ctx).map(StoredPath::adv)
            };
            let gets = new.to(m, key, ctx).map(StoredPath::adv);
            let delta = match (had, gets) {
                (Some(h), Some(g)) if h.key() == g.key() => 0,
                // Another path, the same bytes (a client is sent memberships as ours: export.rs):
                // nothing to send.
                (Some(h), Some(g)) if same_message(ctx, key, h, g, &mut sends_same) => 0,
                (h, Some(g)) => {
                    match ann.iter_mut().find(|(a, _)| a.key() == g.key()) {
                        Some((_, to)) => to.push(m),
                        None => ann.push((g, vec![m])),
                    }
                    i64::from(h.is_none())
                }
                (Some(_), None) => {
                    wd_to.push(m);
                    -1
                }
                (None, None) => 0,
            };
            if count && delta != 0 {
                *counts.entry(m).or_default() += delta;
            }
        }
        // A membership NLRI is all key: no field of it belongs to the path (key.rs).
        let nlri = Nlri {
            path_id,
            route: route.route(&NlriExtras::default()),
        };
        for (adv, to) in ann {
            let u = units.announce(adv, to);
            units.units[u].nlri.push(nlri);
        }
        if !wd_to.is_empty() {
            let u = units.withdraw(wd_to);
            units.units[u].nlri.push(nlri);
        }
    }
    units.into_plan(key, counts)
}

/// True when paths `h` and `g` are sent to members of group `key` as the same attributes and
/// next hop (the answers are kept in `seen`, a route has few distinct pairs).
fn same_message(
    ctx: &SelectCtx<'_>,
    key: &GroupKey,
    h: AdvRef<'_>,
    g: AdvRef<'_>,
    seen: &mut Vec<(AdvKey, AdvKey, bool)>,
) -> bool {
    let (hk, gk) = (h.key(), g.key());
    if let Some(&(_, _, same)) = seen.iter().find(|(a, b, _)| *a == hk && *b == gk) {
        return same;
    }
    let out = |a: AdvRef<'_>| {
        let kind = kind_of(ctx.sources, a.src);
        let rid = match kind {
            SrcKind::Local => ctx.cfg.router_id,
            _ => ctx.sources[a.src as usize].info.router_id,
        };
        out_attributes(ctx.cfg, key, kind, rid, a.attrs)
    };
    let same = out(h) == out(g);
    seen.push((hk, gk, same));
    same
}

/// True when `a` and `b` are the same paths (same sources, path identifiers, attribute sets and
/// staleness, in the same order).
fn same_paths(a: &[StoredPath], b: &[StoredPath]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.src == y.src
                && x.path_id() == y.path_id()
                && x.stale == y.stale
                && Arc::ptr_eq(&x.attrs, &y.attrs)
        })
}

/// Splits concatenated messages into chunks of whole messages of at most [`TRANSMIT_CHUNK`]
/// bytes (a longer message stands alone).
fn split_chunks(buf: &[u8]) -> Vec<Arc<[u8]>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos + 19 <= buf.len() {
        let len = usize::from(u16::from_be_bytes([buf[pos + 16], buf[pos + 17]])).max(19);
        if pos > start && pos + len - start > TRANSMIT_CHUNK {
            out.push(Arc::from(&buf[start..pos]));
            start = pos;
        }
        pos += len;
    }
    let end = pos.min(buf.len());
    if end > start {
        out.push(Arc::from(&buf[start..end]));
    }
    out
}

fn record_error(stats: &mut RibStats, e: impl std::fmt::Display) {
    stats.encode_errors += 1;
    stats.last_encode_error = Some(e.to_string());
}

/// Encodes the plan's units and queues them to their receivers.
pub(super) fn execute(
    cfg: &RibConfig,
    sources: &mut [Source],
    ready: &mut Vec<u32>,
    stats: &mut RibStats,
    plan: Plan,
) {
    let ctx = plan.key.ctx();
    let family = plan.key.family;
    let packer = UpdatePacker::new(&ctx);
    let mut buf = Vec::new();
    for u in &plan.units {
        if u.nlri.is_empty() {
            continue;
        }
        buf.clear();
        let res = match &u.announce {
            None => packer.withdraw(family, &u.nlri, &mut buf),
            Some(adv) => {
                let kind = kind_of(sources, adv.src);
                let rid = match kind {
                    SrcKind::Local => cfg.router_id,
                    _ => sources[adv.src as usize].info.router_id,
                };
                let o = out_attributes(cfg, &plan.key, kind, rid, &adv.attrs);
                packer.announce(
                    family,
                    &o.next_hop,
                    &o.attributes,
                    o.partial,
                    &u.nlri,
                    &mut buf,
                )
            }
        };
        match res {
            Ok(n) => {
                stats.encodings += 1;
                stats.messages += n as u64;
                stats.bytes += buf.len() as u64;
            }
            Err(e) => {
                record_error(stats, e);
                continue;
            }
        }
        let chunks = split_chunks(&buf);
        for &to in &u.to {
            let s = &mut sources[to as usize];
            for c in &chunks {
                s.push_out(c.clone(), ready);
            }
        }
    }
    for (src, d) in plan.counts {
        let c = sources[src as usize].counters_mut(family);
        c.advertised = c.advertised.saturating_add_signed(d);
    }
}

/// Encodes a single message for a session of context `ctx`.
pub(super) fn encode_one(
    ctx: &evpnd_wire::CodecContext,
    msg: &Message,
    stats: &mut RibStats,
) -> Option<Arc<[u8]>> {
    let mut buf = Vec::new();
    match encode_message(ctx, msg, &mut buf) {
        Ok(()) => {
            stats.messages += 1;
            stats.bytes += buf.len() as u64;
            Some(Arc::from(buf))
        }
        Err(e) => {
            record_error(stats, e);
            None
        }
    }
}

pub(super) fn rt_filter_for(sources: &[Source], family: Family, src: u32) -> Option<&RtFilter> {
    if family == Family::L2VPN_EVPN {
        sources[src as usize].rtc.as_ref()
    } else {
        None
    }
}

impl Rib {
    /// True when a flush has work. Cheap: the daemon polls every established peer after every
    /// event, so this must not scan the peers.
    pub(super) fn has_work(&self) -> bool {
        !self.pending.is_empty()
            || self.tables.iter().any(|t| !t.dirty.is_empty())
            || self.rtc_dirty_sources > 0
    }

    /// Turns the changes batched since the last flush into UPDATE messages for every peer and
    /// best-path change reports. The `poll_*` calls run it. While deferral is on only the RT
    /// membership family is flushed (changes, and new sessions' tables with End-of-RIB):
    /// peers hold their VPN routes back until they have our memberships (RFC 4684 §6), so a
    /// restarting speaker waiting for their End-of-RIB markers (RFC 4724 §4.1) would
    /// otherwise wait for the timers.
    pub fn flush(&mut self) {
        if self.deferred {
            if let Some(ti) = self.table_index(Family::RT_CONSTRAINT) {
                self.flush_table(ti);
            }
            if self.rtc_join_pending {
                self.flush_dumps(true);
            }
            return;
        }
        if self.has_work() {
            for ti in 0..self.tables.len() {
                self.flush_table(ti);
            }
            self.flush_rtc_filters();
            self.flush_dumps(false);
            self.interner.maybe_sweep();
        }
        if !self.retired.is_empty() {
            self.free_retired();
        }
    }

    fn flush_table(&mut self, ti: usize) {
        let dirty = std::mem::take(&mut self.tables[ti].dirty);
        if dirty.is_empty() {
            return;
        }
        let family = self.tables[ti].family;
        // Membership routes: every path at the previous flush (table.rs, rtc.rs).
        let old_paths = std::mem::take(&mut self.tables[ti].old_paths);
        let mut idxs: Vec<u32> = Vec::with_capacity(dirty.len());
        let mut changes: Vec<Dirty> = Vec::with_capacity(dirty.len());
        for d in dirty {
            idxs.push(d.idx);
            self.tables[ti].clear_dirty(d.idx);
            let e = &self.tables[ti].entries[d.idx as usize];
            let new = e.paths.best();
            let same_best = match (&d.old, new) {
                (None, None) => true,
                (Some(o), Some(n)) => o.src == n.src && Arc::ptr_eq(&o.attrs, &n.attrs),
                _ => false,
            };
            // A membership route is offered per peer from all its paths: a change of any
            // path may change what some peer is sent.
            let same = same_best
                && old_paths
                    .get(&d.idx)
                    .is_none_or(|o| same_paths(o, e.paths.as_slice()));
            if same {
                continue;
            }
            if self.track_best_changes && !same_best {
                let best = new.map(|p| self.public_path(&e.key, p));
                let route = match (&best, &d.old) {
                    (Some(b), _) => b.route,
                    (None, Some(o)) => e.key.route(&o.attrs.nlri_extras),
                    (None, None) => e.key.route(&Default::default()),
                };
                self.best_changes.push(BestChange {
                    family,
                    route,
                    best,
                });
            }
            changes.push(d);
        }
        if family == Family::L2VPN_EVPN {
            if let Some(ix) = &mut self.evpn_by_rt {
                let t = &self.tables[ti];
                for d in &changes {
                    let new = t.entries[d.idx as usize].paths.best();
                    ix.update(
                        d.idx,
                        d.old.as_ref().map(|o| &*o.attrs),
                        new.map(|p| &*p.attrs),
                    );
                }
            }
        }
        if !changes.is_empty() {
            for gi in 0..self.groups.len() {
                let g = &self.groups[gi];
                if g.key.family != family || g.members.is_empty() {
                    continue;
                }
                let plan = {
                    let sources = &self.sources;
                    let t: &Table = &self.tables[ti];
                    if offers_per_member(&g.key) {
                        let ctx = SelectCtx {
                            cfg: &self.cfg,
                            sources,
                        };
                        let items = changes.iter().map(|d| {
                            let e = &t.entries[d.idx as usize];
                            let old: &[StoredPath] = old_paths.get(&d.idx).map_or(&[], |o| o);
                            (&e.key, old, e.paths.as_slice())
                        });
                        plan_memberships(&ctx, &g.key, &g.members, false, true, items)
                    } else {
                        let items = changes.iter().map(|d| {
                            let e = &t.entries[d.idx as usize];
                            (
                                &e.key,
                                d.old.as_ref().map(Adv::as_ref),
                                e.paths.best().map(|p| p.adv()),
                            )
                        });
                        let audience = Audience::Indexed {
                            receivers: &g.receivers,
                            fresh: false,
                            count: true,
                        };
                        plan(sources, &g.key, audience, items)
                    }
                };
                execute(
                    &self.cfg,
                    &mut self.sources,
                    &mut self.ready,
                    &mut self.stats,
                    plan,
                );
            }
        }
        drop(changes);
        drop(old_paths);
        let t = &mut self.tables[ti];
        for idx in idxs {
            t.release_if_empty(idx);
        }
    }
}
