//! Changes to the paths of the Loc-RIB: adding or replacing a path, removing paths, marking
//! them stale (RFC 4724 §4.2). Each keeps the route's paths best first (RFC 4271 §9.1), marks
//! the route changed for the next flush and keeps the per-peer counters and the RT-Constraint
//! "memberships changed" mark (RFC 4684) up to date.

use super::best_path::{self, SelectCtx};
use super::key::RouteKey;
use super::table::{Paths, StoredPath, LOCAL};
use super::Rib;
use std::sync::Arc;

impl Rib {
    /// Adds or replaces the path of `path.src`/`path.path_id` for the route `key`. Returns
    /// true when a path was added (not replaced).
    pub(super) fn upsert(&mut self, ti: usize, key: RouteKey, path: StoredPath) -> bool {
        let Rib {
            tables,
            sources,
            cfg,
            rtc_dirty_sources,
            rtc_dirty_list,
            ..
        } = self;
        let t = &mut tables[ti];
        let idx = t.find_or_insert(key);
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

    /// Removes every path of the table for which `pred` holds.
    pub(super) fn remove_paths_where(
        &mut self,
        ti: usize,
        pred: impl Fn(&StoredPath) -> bool,
    ) -> usize {
        let idxs: Vec<u32> = self.tables[ti]
            .iter()
            .filter(|(_, e)| e.paths.as_slice().iter().any(&pred))
            .map(|(i, _)| i)
            .collect();
        idxs.into_iter()
            .map(|i| self.remove_in_entry(ti, i, &pred))
            .sum()
    }

    /// Marks the paths of source `s` in table `ti` stale; returns how many.
    pub(super) fn mark_stale(&mut self, ti: usize, s: u32) -> usize {
        let Rib {
            tables,
            sources,
            cfg,
            ..
        } = self;
        let t = &mut tables[ti];
        let idxs: Vec<u32> = t
            .iter()
            .filter(|(_, e)| e.paths.as_slice().iter().any(|p| p.src == s && !p.stale))
            .map(|(i, _)| i)
            .collect();
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
