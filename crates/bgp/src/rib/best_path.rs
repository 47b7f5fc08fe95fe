//! Best-path selection (RFC 4271 §9.1.2.2, RFC 4456 §9).
//!
//! The decision runs as the RFC describes it: each step removes from the candidate set the
//! paths that lose on that step, over the whole set. (A pairwise comparator would not do:
//! MED is compared only between paths from the same neighbour AS, which is not a total order.)
//!
//! Steps, in order:
//! 1. highest LOCAL_PREF (paths from external peers get the configured default);
//! 2. locally originated paths;
//! 3. shortest AS_PATH (an AS_SET counts 1, confederation segments 0);
//! 4. lowest ORIGIN;
//! 5. lowest MED among paths from the same neighbour AS (a missing MED counts 0);
//! 6. paths that are not stale (RFC 4724 keeps a restarting peer's paths usable; they only
//!    lose ties against fresh ones);
//! 7. paths from external peers over internal ones;
//! 8. lowest ORIGINATOR_ID, or BGP identifier of the sender when absent (RFC 4456 §9);
//! 9. shortest CLUSTER_LIST (RFC 4456 §9);
//! 10. lowest peer address;
//! 11. then, for determinism, lowest path identifier and source.

use super::table::{StoredPath, LOCAL};
use super::{RibConfig, Source};
use std::net::{IpAddr, Ipv4Addr};

/// What selection needs besides the paths.
pub(crate) struct SelectCtx<'a> {
    /// The speaker's configuration.
    pub cfg: &'a RibConfig,
    /// The sources, by index.
    pub sources: &'a [Source],
}

impl SelectCtx<'_> {
    fn source(&self, src: u32) -> Option<&Source> {
        if src == LOCAL {
            None
        } else {
            self.sources.get(src as usize)
        }
    }

    fn external(&self, p: &StoredPath) -> bool {
        self.source(p.src).is_some_and(|s| s.info.external)
    }

    /// LOCAL_PREF as used by the decision (RFC 4271 §9.1.1): the attribute for internal and
    /// local paths, the configured default for external ones and when absent.
    pub fn local_pref(&self, p: &StoredPath) -> u32 {
        if self.external(p) {
            self.cfg.default_local_pref
        } else {
            p.attrs.local_pref.unwrap_or(self.cfg.default_local_pref)
        }
    }

    /// The AS the route was learned from (RFC 4271 §9.1.2.2 (c)): the first AS of the path, or
    /// the local AS when the path is empty or starts with a set.
    fn neighbor_as(&self, p: &StoredPath) -> u32 {
        p.attrs.as_path.first_asn().unwrap_or(self.cfg.local_asn)
    }

    fn router_id(&self, p: &StoredPath) -> Ipv4Addr {
        if let Some(id) = p.attrs.originator_id {
            return id;
        }
        match self.source(p.src) {
            Some(s) => s.info.router_id,
            None => self.cfg.router_id,
        }
    }

    fn address(&self, p: &StoredPath) -> IpAddr {
        match self.source(p.src) {
            Some(s) => s.info.address,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// Keeps the candidates with the greatest `key`.
fn keep_max<K: Ord>(c: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    if let Some(best) = c.iter().map(|&i| key(i)).max() {
        c.retain(|&i| key(i) == best);
    }
}

/// Keeps the candidates with the least `key`.
fn keep_min<K: Ord>(c: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    if let Some(best) = c.iter().map(|&i| key(i)).min() {
        c.retain(|&i| key(i) == best);
    }
}

/// The index of the best of `paths` (which must not be empty).
pub(crate) fn best_index(paths: &[StoredPath], ctx: &SelectCtx<'_>) -> usize {
    if paths.len() <= 1 {
        return 0;
    }
    let mut c: Vec<usize> = (0..paths.len()).collect();
    let p = |i: usize| &paths[i];
    keep_max(&mut c, |i| ctx.local_pref(p(i)));
    keep_max(&mut c, |i| p(i).src == LOCAL);
    keep_min(&mut c, |i| p(i).attrs.as_path.path_len());
    keep_min(&mut c, |i| p(i).attrs.origin);
    if c.len() > 1 {
        // MED only between paths from the same neighbour AS (RFC 4271 §9.1.2.2 (c)).
        let all = c.clone();
        let med = |i: usize| p(i).attrs.med.unwrap_or(0);
        c.retain(|&i| {
            !all.iter()
                .any(|&j| ctx.neighbor_as(p(j)) == ctx.neighbor_as(p(i)) && med(j) < med(i))
        });
    }
    keep_min(&mut c, |i| p(i).stale);
    keep_max(&mut c, |i| ctx.external(p(i)));
    keep_min(&mut c, |i| ctx.router_id(p(i)));
    keep_min(&mut c, |i| p(i).attrs.cluster_list.len());
    keep_min(&mut c, |i| ctx.address(p(i)));
    keep_min(&mut c, |i| (p(i).path_id, p(i).src));
    c.first().copied().unwrap_or(0)
}

/// Moves the best path to the front, keeping the others in their order.
pub(crate) fn put_best_first(paths: &mut [StoredPath], ctx: &SelectCtx<'_>) {
    let i = best_index(paths, ctx);
    paths[..=i].rotate_right(1);
}
