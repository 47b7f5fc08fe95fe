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
//! 6. paths from external peers over internal ones;
//! 7. lowest ORIGINATOR_ID, or BGP identifier of the sender when absent (RFC 4456 §9);
//! 8. shortest CLUSTER_LIST (RFC 4456 §9);
//! 9. paths that are not stale (RFC 4724 §4.2 keeps a restarting peer's paths usable);
//! 10. lowest peer address;
//! 11. then, for determinism, lowest path identifier and source.
//!
//! ## Where staleness ranks, and why there
//!
//! RFC 4724 §4.2 has a helper keep a restarting peer's routes, marked stale, and forward on
//! them like on any other: a stale path is as good as a fresh one. Preferring fresh paths is a
//! local choice, safe only where a speaker's choice cannot feed back into what it is offered.
//! Staleness is a per-session fact: the same route is stale at one reflector (whose session
//! with the client reset) and fresh, as a reflected copy, at the other. Ranked before
//! ORIGINATOR_ID (as it once was), it made two meshed reflectors whose client restarted each
//! prefer the other's copy of the client's route (the other's own stale path), withdraw their
//! own copy from each other, fall back to their stale path when the other's copy went away,
//! advertise it again, and so on for as long as the paths stayed stale. Ranked anywhere before
//! CLUSTER_LIST it keeps that loop (the two paths share their originator); ranked before
//! ORIGINATOR_ID it can also set reflectors chasing each other over one route from two
//! originators, stale at one reflector and fresh at the other.
//!
//! After CLUSTER_LIST, the paths still in the running share LOCAL_PREF, AS_PATH length,
//! ORIGIN, MED, session type, originator and CLUSTER_LIST length: copies of one originator's
//! route that reached us over equally long reflection chains. Staleness there cannot feed
//! back. Say reflector S holds the route over a chain of length `l` and gets reflector R's copy,
//! made from R's path of length `l'`, with length `l' + 1`. Staleness decides at S only when
//! `l = l' + 1`; but then at R its own path (`l'`) is strictly shorter than S's copy
//! (`l + 1 = l' + 2`), so R's choice, and with it what R sends S, does not depend on any
//! staleness. Two speakers can never both be at such a tie, so neither can chase the other.
//! Paths of different originators are ranked by ORIGINATOR_ID first, which travels with the
//! route and is the same everywhere. The stale rank still does what it is for: a client whose
//! session with one reflector reset uses the other reflector's fresh copy. The price: a
//! reflector keeps its own (shorter) stale path of a client over another reflector's fresh
//! copy until the client's End-of-RIB or the stale timer, and a stale path from an originator
//! with a lower identifier beats a fresh one from another originator (as RFC 4724 §4.2 would
//! have it anyway).

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
    select(paths, ctx, (0..paths.len()).collect()).unwrap_or(0)
}

/// The index of the best of the paths for which `keep` holds, if any: the decision of
/// [`best_index`] over that subset (RFC 4684 §3.2 has a reflector advertise to some peers a
/// path other than its best).
pub(crate) fn best_index_where(
    paths: &[StoredPath],
    ctx: &SelectCtx<'_>,
    keep: impl Fn(&StoredPath) -> bool,
) -> Option<usize> {
    let c: Vec<usize> = (0..paths.len()).filter(|&i| keep(&paths[i])).collect();
    select(paths, ctx, c)
}

/// Runs the decision steps over the candidates `c` (indices into `paths`).
fn select(paths: &[StoredPath], ctx: &SelectCtx<'_>, mut c: Vec<usize>) -> Option<usize> {
    if c.len() <= 1 {
        return c.first().copied();
    }
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
    keep_max(&mut c, |i| ctx.external(p(i)));
    keep_min(&mut c, |i| ctx.router_id(p(i)));
    keep_min(&mut c, |i| p(i).attrs.cluster_list.len());
    // After the CLUSTER_LIST step, not before: see the module documentation.
    keep_min(&mut c, |i| p(i).stale);
    keep_min(&mut c, |i| ctx.address(p(i)));
    keep_min(&mut c, |i| (p(i).path_id, p(i).src));
    c.first().copied()
}

/// Moves the best path to the front, keeping the others in their order.
pub(crate) fn put_best_first(paths: &mut [StoredPath], ctx: &SelectCtx<'_>) {
    let i = best_index(paths, ctx);
    paths[..=i].rotate_right(1);
}
