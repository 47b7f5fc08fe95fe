//! What the fabric is made of and what it has done: the nodes, their data planes and event
//! logs, the orchestrator's record, the counters and the trace.

use super::{Sim, Stats};
use crate::config::{Role, SimConfig};
use crate::endpoints::Endpoints;
use crate::trace::TraceRecord;
use evpnd_dataplane::MemoryDataplane;
use evpnd_node::{Node, NodeEvent};
use std::net::IpAddr;
use std::time::Duration;

impl Sim {
    /// The run's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Number of nodes: NVEs `0..nves`, then route reflectors.
    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    /// Number of NVEs.
    pub fn nve_count(&self) -> usize {
        self.config.nves
    }

    /// The node index of route reflector `j`.
    pub fn rr(&self, j: usize) -> usize {
        self.config.nves + j
    }

    /// What node `i` is.
    pub fn role(&self, i: usize) -> Role {
        self.slots[i].role
    }

    /// Node `i`'s BGP address.
    pub fn address(&self, i: usize) -> IpAddr {
        self.slots[i].address
    }

    /// The node whose BGP address is `address`.
    pub fn node_at(&self, address: IpAddr) -> Option<usize> {
        self.by_address.get(&address).copied()
    }

    /// Node `i`, or `None` while it is crashed.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.slots.get(i).and_then(|s| s.node.as_ref())
    }

    /// True while node `i` runs.
    pub fn is_alive(&self, i: usize) -> bool {
        self.node(i).is_some()
    }

    /// Node `i`'s data plane (a restarted node starts with an empty one).
    pub fn dataplane(&self, i: usize) -> &MemoryDataplane {
        &self.slots[i].dataplane
    }

    /// The deltas node `i`'s data plane refused (the first few), with the reason.
    pub fn refused(&self, i: usize) -> &[String] {
        &self.slots[i].refused
    }

    /// Node `i`'s events so far, with their virtual time (kept with
    /// [`SimConfig::keep_events`]).
    pub fn events(&self, i: usize) -> &[(Duration, NodeEvent)] {
        &self.slots[i].events
    }

    /// Node `i`'s events, removed from the log.
    pub fn take_events(&mut self, i: usize) -> Vec<NodeEvent> {
        std::mem::take(&mut self.slots[i].events)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The orchestrator's record of what is attached where.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The run's counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The hash of the whole trace so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// Number of trace records so far.
    pub fn trace_len(&self) -> u64 {
        self.trace.len()
    }

    /// The trace records (kept with [`SimConfig::keep_trace`]).
    pub fn trace_records(&self) -> Option<&[TraceRecord]> {
        self.trace.records()
    }

    pub(crate) fn reachable(&self, a: usize, b: usize) -> bool {
        self.net.reachable(a, b)
    }

    /// Pairs of nodes one of which still holds a connection that a partition or a reset
    /// killed (it waits for its hold timer, or for the reset once the nodes reach each other).
    pub fn dead_connections(&self) -> Vec<(usize, usize)> {
        self.net
            .wires
            .values()
            .filter(|w| w.broken)
            .filter_map(|w| {
                let open: Vec<usize> = w
                    .ends
                    .iter()
                    .flatten()
                    .filter(|e| e.open)
                    .map(|e| e.node)
                    .collect();
                let a = w.ends[0].map(|e| e.node)?;
                let b = w.ends[1].map_or(w.target, |e| e.node);
                (!open.is_empty()).then_some((a, b))
            })
            .collect()
    }
}
