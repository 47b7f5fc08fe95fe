//! Whole-table sends and RT-Constraint filter changes (RFC 4684 §4, RFC 4724 §2, RFC 2918,
//! RFC 7313), planned with the machinery of `out.rs`.
//!
//! * A filter change sends a peer exactly the difference: the routes of the route targets it
//!   added that no other of its route targets already selected, and withdrawals of those of
//!   the route targets it removed that none of its remaining ones selects. Only the routes of
//!   the route targets concerned are looked at ([`RouteIndex`]); a change of the default
//!   membership or of a route target prefix (rare) walks the whole table.
//! * A table dump (session up, refresh) serves every peer of one update group that needs the
//!   same kind of dump at once; when every one of them is filtered by full route targets only
//!   (the RT-Constraint peers released together after their End-of-RIB), the dump walks the
//!   routes of the union of their route targets instead of the whole table.
//!
//! [`RouteIndex`]: super::rtc::RouteIndex

use super::best_path::SelectCtx;
use super::out::{encode_one, execute, plan, plan_memberships, rt_filter_for, Audience, Member};
use super::receivers::{Receivers, SrcSet};
use super::rtc::{offers_per_member, RtFilter, RtKey};
use super::{DumpKind, GroupKey, Rib};
use evpnd_wire::message::refresh_subtype;
use evpnd_wire::{Family, Message, RouteRefresh, Update};

impl Rib {
    /// Brings the applied RT-Constraint filters of peers whose memberships changed up to date,
    /// and sends them the difference (RFC 4684 §4). Costs O(peers marked + routes of the
    /// route targets that changed).
    pub(super) fn flush_rtc_filters(&mut self) {
        let list = std::mem::take(&mut self.rtc_dirty_list);
        for s in list {
            let su = s as usize;
            if !self.sources[su].rtc_dirty {
                continue;
            }
            self.sources[su].set_rtc_dirty(
                false,
                &mut self.rtc_dirty_sources,
                &mut self.rtc_dirty_list,
            );
            let src = &mut self.sources[su];
            let mut touched = std::mem::take(&mut src.rtc_touched);
            let resync = std::mem::take(&mut src.rtc_resync);
            if !src.up {
                continue;
            }
            let Some(old) = src.rtc.clone() else {
                continue;
            };
            let mut new = old.clone();
            let mut changed: Vec<RtKey> = Vec::new();
            if resync {
                new = RtFilter::default();
                for k in src.memberships.keys() {
                    new.insert(*k);
                }
                // A resynchronised peer has just come up: it is in no group yet, nothing
                // is sent; `changed` stays empty and a member would get a full walk.
            } else {
                touched.sort_unstable();
                touched.dedup();
                for k in touched {
                    let want = src.memberships.contains_key(&k);
                    if want != new.contains(&k) {
                        if want {
                            new.insert(k);
                        } else {
                            new.remove(&k);
                        }
                        changed.push(k);
                    }
                }
            }
            if new == old {
                continue;
            }
            let gi = self
                .groups
                .iter()
                .position(|g| g.key.family == Family::L2VPN_EVPN && g.members.contains(s));
            if let (Some(gi), Some(ti)) = (gi, self.table_index(Family::L2VPN_EVPN)) {
                let plan = {
                    let sources = &self.sources;
                    let t = &self.tables[ti];
                    let key = &self.groups[gi].key;
                    let member = [Member {
                        src: s,
                        old_filter: Some(&old),
                        new_filter: Some(&new),
                        fresh: false,
                        count: true,
                    }];
                    let exact_only = !resync
                        && !changed.is_empty()
                        && changed.iter().all(|k| matches!(k, RtKey::Exact(_)));
                    match self.evpn_by_rt.as_ref().filter(|_| exact_only) {
                        Some(ix) => {
                            let idxs = ix.routes_of(changed.iter().filter_map(|k| match k {
                                RtKey::Exact(rt) => Some(rt),
                                _ => None,
                            }));
                            let items = idxs.iter().filter_map(|&i| {
                                let e = &t.entries[i as usize];
                                let b = e.paths.best()?.adv();
                                Some((&e.key, Some(b), Some(b)))
                            });
                            plan(sources, key, Audience::Each(&member), items)
                        }
                        None => {
                            let items = t.iter().map(|(_, e)| {
                                let b = e.paths.best().map(|p| p.adv());
                                (&e.key, b, b)
                            });
                            plan(sources, key, Audience::Each(&member), items)
                        }
                    }
                };
                execute(
                    &self.cfg,
                    &mut self.sources,
                    &mut self.ready,
                    &mut self.stats,
                    plan,
                );
                let g = &mut self.groups[gi];
                g.receivers.remove(s, Some(&old));
                g.receivers.add(s, Some(&new));
            }
            self.sources[su].rtc = Some(new);
        }
    }

    /// Sends whole tables: initial tables with End-of-RIB, and route refreshes.
    /// `memberships_only`: only the initial RT membership tables, the rest stays queued.
    pub(super) fn flush_dumps(&mut self, memberships_only: bool) {
        let mut pending = std::mem::take(&mut self.pending);
        self.rtc_join_pending = false;
        if memberships_only {
            let (now, later) = pending
                .into_iter()
                .partition(|p| p.family == Family::RT_CONSTRAINT && p.kind == DumpKind::Join);
            pending = now;
            self.pending = later;
        }
        // Group the requests: one encoding serves every peer of a group that needs the same
        // dump.
        let mut batches: Vec<(GroupKey, DumpKind, Vec<u32>)> = Vec::new();
        for p in pending {
            let src = &mut self.sources[p.src as usize];
            if p.generation != src.generation || !src.up || !src.info.families.contains(&p.family) {
                continue;
            }
            if p.kind == DumpKind::Join {
                src.joins_pending.retain(|f| *f != p.family);
            }
            let key = GroupKey::of(&src.info, p.family);
            match batches
                .iter_mut()
                .find(|(k, d, _)| *k == key && *d == p.kind)
            {
                Some((_, _, v)) => v.push(p.src),
                None => batches.push((key, p.kind, vec![p.src])),
            }
        }
        for (key, kind, mut srcs) in batches {
            srcs.sort_unstable();
            srcs.dedup();
            let family = key.family;
            let ctx = key.ctx();
            if kind == DumpKind::EnhancedRefresh {
                let borr = Message::RouteRefresh(RouteRefresh {
                    family,
                    subtype: refresh_subtype::BEGIN,
                });
                if let Some(c) = encode_one(&ctx, &borr, &mut self.stats) {
                    for &s in &srcs {
                        self.sources[s as usize].push_out(c.clone(), &mut self.ready);
                    }
                }
            }
            if let Some(ti) = self.table_index(family) {
                let plan = {
                    let sources = &self.sources;
                    let t = &self.tables[ti];
                    let count = kind == DumpKind::Join;
                    if offers_per_member(&key) {
                        let ctx = SelectCtx {
                            cfg: &self.cfg,
                            sources,
                        };
                        let mut set = SrcSet::default();
                        for &s in &srcs {
                            set.insert(s);
                        }
                        let items = t.iter().map(|(_, e)| (&e.key, &[][..], e.paths.as_slice()));
                        plan_memberships(&ctx, &key, &set, true, count, items)
                    } else {
                        let mut receivers = Receivers::default();
                        for &m in &srcs {
                            receivers.add(m, rt_filter_for(sources, family, m));
                        }
                        let routes = self
                            .evpn_by_rt
                            .as_ref()
                            .filter(|_| family == Family::L2VPN_EVPN && receivers.only_exact())
                            .map(|ix| ix.routes_of(receivers.route_targets()));
                        let audience = Audience::Indexed {
                            receivers: &receivers,
                            fresh: true,
                            count,
                        };
                        match routes {
                            Some(idxs) => {
                                let items = idxs.iter().filter_map(|&i| {
                                    let e = &t.entries[i as usize];
                                    let b = e.paths.best()?.adv();
                                    Some((&e.key, None, Some(b)))
                                });
                                plan(sources, &key, audience, items)
                            }
                            None => {
                                let items = t
                                    .iter()
                                    .map(|(_, e)| (&e.key, None, e.paths.best().map(|p| p.adv())));
                                plan(sources, &key, audience, items)
                            }
                        }
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
            let tail = match kind {
                DumpKind::Join => Some(Message::Update(Update::end_of_rib(family))),
                DumpKind::EnhancedRefresh => Some(Message::RouteRefresh(RouteRefresh {
                    family,
                    subtype: refresh_subtype::END,
                })),
                DumpKind::Refresh => None,
            };
            if let Some(m) = tail {
                if let Some(c) = encode_one(&ctx, &m, &mut self.stats) {
                    for &s in &srcs {
                        self.sources[s as usize].push_out(c.clone(), &mut self.ready);
                    }
                }
            }
            if kind == DumpKind::Join {
                if let Some(g) = self.groups.iter_mut().find(|g| g.key == key) {
                    for s in srcs {
                        if g.members.insert(s) {
                            g.receivers.add(s, rt_filter_for(&self.sources, family, s));
                        }
                    }
                }
            }
        }
    }
}
