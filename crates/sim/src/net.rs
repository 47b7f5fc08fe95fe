//! The virtual network: TCP connections between nodes ("wires"), per-link latencies,
//! partitions. It only keeps state; [`crate::Sim`] decides when things arrive.
//!
//! A wire has two ends: end 0 is the node that connected, end 1 the node that accepted (absent
//! until the connection reaches it). Each end is named by its node's own [`ConnId`]. Bytes
//! travel in order per direction: an arrival is never scheduled before the previous one in the
//! same direction. A wire crossing a partition is *broken*: whatever is written on it is lost,
//! silently, as on a real network where nothing answers any more; both ends find out through
//! their hold timers. Once its two ends reach each other again, whichever end still holds the
//! connection is reset (it is not resumed), so sessions come back on new connections.

use evpnd_node::ConnId;
use std::collections::BTreeMap;
use std::time::Duration;

/// One end of a wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    /// The node.
    pub node: usize,
    /// The node's incarnation when the end was made (a restarted node has new connections).
    pub incarnation: u32,
    /// The node's name for the connection.
    pub conn: ConnId,
    /// The node still holds the connection.
    pub open: bool,
    /// When the last byte the node wrote on it leaves the node.
    pub queued_until: Duration,
}

/// A TCP connection between two nodes.
#[derive(Clone, Debug)]
pub struct Wire {
    /// End 0 connected, end 1 accepted.
    pub ends: [Option<End>; 2],
    /// The node end 0 connected to.
    pub target: usize,
    /// One-way latency.
    pub latency: Duration,
    /// Arrival time of the last delivery scheduled towards each end.
    pub last_arrival: [Duration; 2],
    /// Crossed a partition or was reset: writes are lost, closes are not seen.
    pub broken: bool,
    /// Both open ends have been sent their reset.
    pub reset: bool,
}

impl Wire {
    /// True when no end holds the connection any more.
    pub fn finished(&self) -> bool {
        self.ends.iter().all(|e| e.is_none_or(|e| !e.open))
    }
}

/// Every wire and the network's shape.
#[derive(Debug, Default)]
pub struct Network {
    /// Wires by id (ids grow; never reused).
    pub wires: BTreeMap<u64, Wire>,
    next_wire: u64,
    /// `(node, conn)` → (wire, end index), for open ends.
    pub index: BTreeMap<(usize, u64), (u64, usize)>,
    /// Latency of each pair of nodes (lower index first), drawn on first use.
    pub latency: BTreeMap<(usize, usize), Duration>,
    /// Partition group of each node: two nodes reach each other when in the same group.
    pub groups: Vec<u32>,
}

impl Network {
    /// A network of `nodes` nodes, unpartitioned.
    pub fn new(nodes: usize) -> Self {
        Network {
            groups: vec![0; nodes],
            ..Network::default()
        }
    }

    /// True when `a` and `b` are on the same side of every partition.
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        self.groups.get(a) == self.groups.get(b)
    }

    /// A new wire from `from` (end 0) towards `target`.
    pub fn open(&mut self, from: End, target: usize, latency: Duration) -> u64 {
        let id = self.next_wire;
        self.next_wire += 1;
        self.index.insert((from.node, from.conn.0), (id, 0));
        self.wires.insert(
            id,
            Wire {
                ends: [Some(from), None],
                target,
                latency,
                last_arrival: [Duration::ZERO; 2],
                broken: false,
                reset: false,
            },
        );
        id
    }

    /// Sets end 1 of `wire` (the connection was accepted).
    pub fn accepted(&mut self, wire: u64, end: End) {
        if let Some(w) = self.wires.get_mut(&wire) {
            self.index.insert((end.node, end.conn.0), (wire, 1));
            w.ends[1] = Some(end);
        }
    }

    /// The wire and end index of `node`'s open connection `conn`.
    pub fn find(&self, node: usize, conn: ConnId) -> Option<(u64, usize)> {
        self.index.get(&(node, conn.0)).copied()
    }

    /// Marks end `side` of `wire` closed; drops the wire once both ends are.
    pub fn close_end(&mut self, wire: u64, side: usize) {
        let Some(w) = self.wires.get_mut(&wire) else {
            return;
        };
        if let Some(e) = w.ends[side].as_mut() {
            e.open = false;
            self.index.remove(&(e.node, e.conn.0));
        }
        if w.finished() {
            self.wires.remove(&wire);
        }
    }

    /// Drops `wire` and its index entries.
    pub fn remove(&mut self, wire: u64) {
        if let Some(w) = self.wires.remove(&wire) {
            for e in w.ends.iter().flatten() {
                self.index.remove(&(e.node, e.conn.0));
            }
        }
    }

    /// The open ends of `node`: (wire, end index), in connection order.
    pub fn ends_of(&self, node: usize) -> Vec<(u64, usize)> {
        self.index
            .range((node, 0)..=(node, u64::MAX))
            .map(|(_, v)| *v)
            .collect()
    }

    /// The broken wires, not reset yet, whose two ends reach each other again.
    pub fn rejoined(&self) -> Vec<u64> {
        self.wires
            .iter()
            .filter(|(_, w)| w.broken && !w.reset)
            .filter(|(_, w)| {
                let a = w.ends[0].map(|e| e.node);
                let b = w.ends[1].map_or(w.target, |e| e.node);
                a.is_some_and(|a| self.reachable(a, b))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Marks every wire between two nodes that no longer reach each other as broken.
    pub fn break_crossing(&mut self) {
        let groups = &self.groups;
        for w in self.wires.values_mut() {
            let a = w.ends[0].map(|e| e.node);
            let b = w.ends[1].map_or(w.target, |e| e.node);
            if a.is_some_and(|a| groups.get(a) != groups.get(b)) {
                w.broken = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(node: usize, conn: u64) -> End {
        End {
            node,
            incarnation: 0,
            conn: ConnId(conn),
            open: true,
            queued_until: Duration::ZERO,
        }
    }

    #[test]
    fn a_wire_lives_until_both_ends_close() {
        let mut n = Network::new(3);
        let w = n.open(end(0, 1), 2, Duration::from_millis(1));
        n.accepted(w, end(2, 7));
        assert_eq!(n.find(2, ConnId(7)), Some((w, 1)));
        assert_eq!(n.ends_of(0), vec![(w, 0)]);
        n.close_end(w, 0);
        assert!(n.find(0, ConnId(1)).is_none());
        assert!(n.wires.contains_key(&w));
        n.close_end(w, 1);
        assert!(n.wires.is_empty() && n.index.is_empty());
    }

    #[test]
    fn partitions_break_the_wires_that_cross_them() {
        let mut n = Network::new(3);
        let inside = n.open(end(0, 1), 1, Duration::ZERO);
        let across = n.open(end(0, 2), 2, Duration::ZERO);
        n.groups = vec![1, 1, 0];
        assert!(n.reachable(0, 1) && !n.reachable(1, 2));
        n.break_crossing();
        assert!(!n.wires[&inside].broken);
        assert!(n.wires[&across].broken);
        assert!(n.rejoined().is_empty());
        n.groups = vec![0; 3];
        assert_eq!(n.rejoined(), vec![across]);
    }
}
