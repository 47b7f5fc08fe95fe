//! Changes to the paths of the Loc-RIB: adding or replacing a path, removing paths, marking
//! them stale (RFC 4724 §4.2). Each keeps the route's paths best first (RFC 4271 §9.1), marks
//! the route changed for the next flush and keeps the per-peer counters and the RT-Constraint
//! "memberships changed" mark (RFC 4684) up to date.

use super::best_path::{self, SelectCtx};
use super::key::RouteKey;
use super::table::{Paths, StoredPath, Table, LOCAL};
use super::{Rib, Source, HELD_LIST_MAX};
use std::sync::Arc;

impl Rib {
    /// Adds or replaces the path of `path.src`/`path.path_id` for the route `key`. Returns
    /// true when a path was added (not replaced).
    pub(super) fn upsert(&mut self, ti: usize, key: RouteKey, path: StoredPath) -> bool {
        let h = self.tables[ti].hash(&key);
        self.upsert_hashed(ti, key, h, path)
    }

    /// [`Rib::upsert`] with the key's hash `h` in table `ti` already computed.
    pub(super) fn upsert_hashed(
        &mut self,
        ti: usize,
        key: RouteKey,
        h: u64,
        path: StoredPath,
    ) -> bool {
        let Rib {
            tables,
            sources,
            cfg,
            rtc_dirty_sources,
            rtc_dirty_list,
            ..
        } = self;
        let t = &mut tables[ti];
        let idx = t.find_or_insert_hashed(key, h);
        let e = &t.entries[idx as usize];
        let pos = e
            .paths
            .as_slice()
            .iter()
            .position(|p| p.src == path.src && p.path_id() == path.path_id());
        if let Some(i) = pos {
            let old = &e.paths.as_slice()[i];
            if Arc::ptr_eq(&old.attrs, &path.attrs) && old.stale == path.stale {
                return false;
            }
        }
        t.touch(idx);
        if pos.is_none() {
            if let Some(src) = sources.get_mut(path.src as usize) {
                note_path(src, t, ti, idx);
            }
        }
        let e = &mut t.entries[idx as usize];
        if pos.is_none() {
            // A new membership path of a peer (RFC 4684): its membership set grows.
            if let (Some(m), Some(src)) =
                (e.key.rt_membership(), sources.get_mut(path.src as usize))
            {
                src.count_membership(m, true);
                src.set_rtc_dirty(true, rtc_dirty_sources, rtc_dirty_list);
            }
        }
        match (&mut e.paths, pos) {
            (Paths::Empty, _) => e.paths = Paths::One(path),
            (Paths::One(p), Some(_)) => *p = path,
            (paths, pos) => {
                let mut v = paths.take_vec();
                match pos {
                    Some(i) => v[i] = path,
                    None => v.push(path),
                }
                best_path::put_best_first(&mut v, &SelectCtx { cfg, sources });
                paths.set(v);
            }
        }
        pos.is_none()
    }

    /// Removes the path of `src`/`path_id` for the route `key`. Returns true when one was
    /// removed.
    pub(super) fn remove_path(
        &mut self,
        ti: usize,
        key: &RouteKey,
        src: u32,
        path_id: Option<u32>,
    ) -> bool {
        let Some(idx) = self.tables[ti].find(key) else {
            return false;
        };
        self.remove_in_entry(ti, idx, |p| p.src == src && p.path_id() == path_id) > 0
    }

    /// Removes the paths of entry `idx` for which `pred` holds; returns how many.
    pub(super) fn remove_in_entry(
        &mut self,
        ti: usize,
        idx: u32,
        pred: impl Fn(&StoredPath) -> bool,
    ) -> usize {
        let Rib {
            tables,
            sources,
            cfg,
            rtc_dirty_sources,
            rtc_dirty_list,
            ..
        } = self;
        let t = &mut tables[ti];
        let family = t.family;
        if !t.entries[idx as usize].paths.as_slice().iter().any(&pred) {
            return 0;
        }
        t.touch(idx);
        let e = &mut t.entries[idx as usize];
        let membership = e.key.rt_membership().copied();
        let mut v = e.paths.take_vec();
        let before = v.len();
        v.retain(|p| {
            if pred(p) {
                if p.src != LOCAL {
                    if let Some(s) = sources.get_mut(p.src as usize) {
                        let c = s.counters_mut(family);
                        c.accepted = c.accepted.saturating_sub(1);
                        if let Some(m) = &membership {
                            s.count_membership(m, false);
                            s.set_rtc_dirty(true, rtc_dirty_sources, rtc_dirty_list);
                        }
                    }
                }
                false
            } else {
                true
            }
        });
        let removed = before - v.len();
        if v.len() > 1 {
            best_path::put_best_first(&mut v, &SelectCtx { cfg, sources });
        }
        e.paths.set(v);
        removed
    }

    /// The entries of table `ti` where source `s` may hold paths, when it keeps the list
    /// ([`Source::held`]); `None`: scan the table.
    fn candidates(&self, ti: usize, s: u32) -> Option<Vec<u32>> {
        let held = self.sources.get(s as usize)?.held.as_ref()?;
        let mut v: Vec<u32> = held
            .iter()
            .filter(|(t, _)| *t as usize == ti)
            .map(|(_, i)| *i)
            .collect();
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// Removes every path of source `s` in table `ti` for which `pred` holds (`pred` is only
    /// asked about paths of `s`).
    pub(super) fn remove_paths_where(
        &mut self,
        ti: usize,
        s: u32,
        pred: impl Fn(&StoredPath) -> bool,
    ) -> usize {
        let pred = |p: &StoredPath| p.src == s && pred(p);
        let t = &self.tables[ti];
        let idxs: Vec<u32> = match self.candidates(ti, s) {
            Some(c) => c
                .into_iter()
                .filter(|&i| {
                    t.entries
                        .get(i as usize)
                        .is_some_and(|e| e.paths.as_slice().iter().any(pred))
                })
                .collect(),
            None => t
                .iter()
                .filter(|(_, e)| e.paths.as_slice().iter().any(pred))
                .map(|(i, _)| i)
                .collect(),
        };
        idxs.into_iter()
            .map(|i| self.remove_in_entry(ti, i, pred))
            .sum()
    }

    /// Marks the paths of source `s` in table `ti` stale; returns how many.
    pub(super) fn mark_stale(&mut self, ti: usize, s: u32) -> usize {
        let candidates = self.candidates(ti, s);
        let Rib {
            tables,
            sources,
            cfg,
            ..
        } = self;
        let t = &mut tables[ti];
        let fresh =
            |e: &super::table::Entry| e.paths.as_slice().iter().any(|p| p.src == s && !p.stale);
        let idxs: Vec<u32> = match candidates {
            Some(c) => c
                .into_iter()
                .filter(|&i| t.entries.get(i as usize).is_some_and(fresh))
                .collect(),
            None => t.iter().filter(|(_, e)| fresh(e)).map(|(i, _)| i).collect(),
        };
        for &idx in &idxs {
            t.touch(idx);
            let e = &mut t.entries[idx as usize];
            let mut v = e.paths.take_vec();
            for p in &mut v {
                if p.src == s {
                    p.stale = true;
                }
            }
            if v.len() > 1 {
                best_path::put_best_first(&mut v, &SelectCtx { cfg, sources });
            }
            e.paths.set(v);
        }
        idxs.len()
    }
}

/// Notes in `src`'s list ([`Source::held`]) that it added a path to entry `idx` of table `t`
/// (index `ti`); compacts the list when full, and gives it up for a peer holding that many
/// paths.
fn note_path(src: &mut Source, t: &Table, ti: usize, idx: u32) {
    let Some(held) = &mut src.held else {
        return;
    };
    if held.len() >= HELD_LIST_MAX {
        let me = src.idx;
        // Only this table is at hand: entries of other tables are kept as they are.
        held.retain(|&(hti, i)| {
            hti as usize != ti
                || t.entries
                    .get(i as usize)
                    .is_some_and(|e| e.paths.as_slice().iter().any(|p| p.src == me))
        });
        held.sort_unstable();
        held.dedup();
        if held.len() >= HELD_LIST_MAX / 2 {
            src.held = None;
            return;
        }
    }
    held.push((ti as u32, idx));
}
