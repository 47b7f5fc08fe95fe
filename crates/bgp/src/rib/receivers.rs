//! Who receives a route: the members of an update group indexed by route target, so that
//! finding the receivers of a route costs O(receivers), not O(members) (issue 12; RFC 4684 §4).
//!
//! A member is filed under exactly one heading, by the RT-Constraint filter applied to what it
//! is sent: no filter, or the default membership, means *every route*; a filter with a route
//! target prefix is tested route by route (prefixes are rare); otherwise the member is listed
//! under each of its full route targets, and a route's receivers are the union of the lists
//! of its route targets.

use super::intern::PathAttrs;
use super::rtc::RtFilter;
use super::Source;
use std::collections::HashMap;

/// A set of source indices with O(1) insertion, removal and membership test (the order is
/// insertion order until a removal moves the last element into the hole).
#[derive(Clone, Debug, Default)]
pub(crate) struct SrcSet {
    items: Vec<u32>,
    pos: HashMap<u32, u32>,
}

impl SrcSet {
    /// Adds `s`; false when it was there.
    pub fn insert(&mut self, s: u32) -> bool {
        if self.pos.contains_key(&s) {
            return false;
        }
        self.pos.insert(s, self.items.len() as u32);
        self.items.push(s);
        true
    }

    /// Removes `s`; false when it was not there.
    pub fn remove(&mut self, s: u32) -> bool {
        let Some(i) = self.pos.remove(&s) else {
            return false;
        };
        self.items.swap_remove(i as usize);
        if let Some(&moved) = self.items.get(i as usize) {
            self.pos.insert(moved, i);
        }
        true
    }

    /// True when `s` is in the set.
    pub fn contains(&self, s: u32) -> bool {
        self.pos.contains_key(&s)
    }

    /// The members.
    pub fn as_slice(&self) -> &[u32] {
        &self.items
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The receivers of one update group (or one dump batch), by RT-Constraint filter.
#[derive(Debug, Default)]
pub(crate) struct Receivers {
    /// Members that receive every route (no filter, or the default membership).
    all: SrcSet,
    /// Members with full route targets only, under each of them.
    by_rt: HashMap<[u8; 8], Vec<u32>>,
    /// Members with a route target prefix: tested with their filter.
    tested: SrcSet,
}

impl Receivers {
    /// Files member `s` whose filter is `filter` (`None`: no RT-Constraint).
    pub fn add(&mut self, s: u32, filter: Option<&RtFilter>) {
        match filter {
            None => {
                self.all.insert(s);
            }
            Some(f) if f.is_all() => {
                self.all.insert(s);
            }
            Some(f) if f.has_prefixes() => {
                self.tested.insert(s);
            }
            Some(f) => {
                for rt in f.exact() {
                    self.by_rt.entry(*rt).or_default().push(s);
                }
            }
        }
    }

    /// Unfiles member `s`, filed with `filter`.
    pub fn remove(&mut self, s: u32, filter: Option<&RtFilter>) {
        if self.all.remove(s) || self.tested.remove(s) {
            return;
        }
        if let Some(f) = filter {
            for rt in f.exact() {
                if let Some(v) = self.by_rt.get_mut(rt) {
                    v.retain(|m| *m != s);
                    if v.is_empty() {
                        self.by_rt.remove(rt);
                    }
                }
            }
        }
    }

    /// True when every member of the set is filed under full route targets only, so that the
    /// routes they may receive are exactly those of [`Receivers::route_targets`].
    pub fn only_exact(&self) -> bool {
        self.all.is_empty() && self.tested.is_empty()
    }

    /// The full route targets some member is filed under.
    pub fn route_targets(&self) -> impl Iterator<Item = &[u8; 8]> {
        self.by_rt.keys()
    }

    /// The members that may receive a route with attributes `attrs`, except `except` (split
    /// horizon), sorted. A tested member is tested with its applied filter (`Source::rtc`).
    pub fn of(&self, sources: &[Source], attrs: &PathAttrs, except: u32) -> Vec<u32> {
        let mut v: Vec<u32> = Vec::with_capacity(self.all.len());
        v.extend(self.all.as_slice().iter().copied().filter(|s| *s != except));
        for rt in attrs.route_targets() {
            if let Some(l) = self.by_rt.get(&rt.0) {
                v.extend(l.iter().copied().filter(|s| *s != except));
            }
        }
        for &s in self.tested.as_slice() {
            let passes = sources
                .get(s as usize)
                .and_then(|src| src.rtc.as_ref())
                .is_none_or(|f| f.matches(attrs));
            if s != except && passes {
                v.push(s);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}
