//! Counters for metrics: per-session message counts with their RFC 7606 outcomes, and the
//! Loc-RIB's route counts by family, EVPN route type and VNI. Plain values; exposing them
//! (Prometheus in the daemon) is the driver's business.

use crate::node::Node;
use crate::query::route_vni;
use evpnd_bgp::session::{Rfc7606Counts, State};
use evpnd_wire::{Family, Route};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One session's counters since the node started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCounters {
    /// The neighbour.
    pub address: IpAddr,
    /// The session state (RFC 4271 §8.2.2).
    pub state: State,
    /// UPDATEs received.
    pub updates_in: u64,
    /// UPDATEs sent.
    pub updates_out: u64,
    /// Received UPDATEs by RFC 7606 §2 error-handling outcome.
    pub rfc7606: Rfc7606Counts,
}

/// A route count of the Loc-RIB for one (family, EVPN route type, VNI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteCountKey {
    /// The family.
    pub family: Family,
    /// The EVPN route type (RFC 7432 §7; `None` outside EVPN).
    pub route_type: Option<u8>,
    /// The VNI the route belongs to (label or PMSI label, RFC 8365 §5.1.3; `None`: none).
    pub vni: Option<u32>,
}

impl Node {
    /// Every neighbour's message counters, in configuration order.
    pub fn session_counters(&self) -> Vec<SessionCounters> {
        self.peers
            .iter()
            .flatten()
            .map(|p| {
                let stats = p.session.stats();
                SessionCounters {
                    address: p.address(),
                    state: p.session.state(),
                    updates_in: stats.updates_in,
                    updates_out: stats.updates_out,
                    rfc7606: stats.rfc7606,
                }
            })
            .collect()
    }

    /// Routes of the Loc-RIB (every listed family) counted by family, EVPN route type and
    /// VNI. Walks the tables without copying a path: O(routes), for a metrics scrape.
    pub fn route_counts(&self) -> BTreeMap<RouteCountKey, u64> {
        let mut counts = BTreeMap::new();
        for family in crate::query::LISTED_FAMILIES {
            for (route, best) in self.rib.best_routes(family) {
                let route_type = match &route {
                    Route::Evpn(e) => Some(e.route_type()),
                    _ => None,
                };
                let key = RouteCountKey {
                    family,
                    route_type,
                    vni: route_vni(&route, Some(best)),
                };
                *counts.entry(key).or_insert(0u64) += 1;
            }
        }
        counts
    }
}
