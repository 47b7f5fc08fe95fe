//! RT-Constraint (RFC 4684): the route targets a peer asked for.
//!
//! A peer that negotiated the RT-Constraint family tells us, with RT membership routes, which
//! route targets it wants; we then send it only the EVPN routes carrying one of them (RFC 4684
//! §4). The default membership (prefix length 0) asks for everything. A peer that did not
//! negotiate the family gets every route.

use super::intern::PathAttrs;
use evpnd_wire::RtMembership;
use std::collections::HashSet;

/// The set of route targets one peer asked for.
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
    /// The filter of the memberships `m`.
    pub fn from_memberships<'a>(m: impl Iterator<Item = &'a RtMembership>) -> Self {
        let mut f = RtFilter::default();
        for m in m {
            match *m {
                RtMembership::Default => f.all = true,
                RtMembership::Target {
                    rt_len: 64,
                    route_target,
                    ..
                } => {
                    f.exact.insert(route_target);
                }
                RtMembership::Target {
                    rt_len,
                    route_target,
                    ..
                } => f.prefixes.push(RtMembership::Target {
                    origin_as: 0,
                    rt_len,
                    route_target,
                }),
            }
        }
        f.prefixes.sort();
        f.prefixes.dedup();
        f
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

/// `filter` of a member (`None`: no RT-Constraint, everything passes) applied to `attrs`.
pub(crate) fn passes(filter: Option<&RtFilter>, attrs: &PathAttrs) -> bool {
    match filter {
        None => true,
        Some(f) => f.matches(attrs),
    }
}
