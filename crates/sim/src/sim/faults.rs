//! Faults ([`Fault`]): resetting connections, partitioning and healing the network,
//! crashing and restarting nodes (see the crate documentation for what each one models).

use super::{Event, Fault, Sim};
use crate::config::Role;
use crate::trace::{digest, TraceKind};
use evpnd_dataplane::MemoryDataplane;
use evpnd_node::{Command, Node};

impl Sim {
    /// Injects `fault`.
    pub fn inject(&mut self, fault: Fault) -> Result<(), String> {
        match fault {
            Fault::Cut(a, b) => self.cut(a, b),
            Fault::Partition(groups) => self.partition(&groups),
            Fault::Heal => self.heal(),
            Fault::Crash(i) => self.crash(i),
            Fault::Restart(i) => self.restart(i)?,
        }
        Ok(())
    }

    /// Resets every connection between `a` and `b` (a TCP RST from the network): both ends
    /// see the connection close after one link latency. Sessions come back on new ones.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.record(a, TraceKind::Cut, b as u64, 0, 0);
        self.dirty = true;
        let wires: Vec<u64> = self
            .net
            .wires
            .iter()
            .filter(|(_, w)| {
                let x = w.ends[0].map(|e| e.node);
                let y = w.ends[1].map(|e| e.node);
                matches!((x, y), (Some(x), Some(y)) if (x, y) == (a, b) || (x, y) == (b, a))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in wires {
            self.reset_wire(id);
        }
    }

    /// Nothing more is carried on `wire`; each end still holding it gets a reset after one
    /// link latency.
    fn reset_wire(&mut self, wire: u64) {
        let Some(w) = self.net.wires.get_mut(&wire) else {
            return;
        };
        w.broken = true;
        w.reset = true;
        let at = self.now + w.latency;
        let open: Vec<usize> = (0..2)
            .filter(|s| w.ends[*s].is_some_and(|e| e.open))
            .collect();
        for side in open {
            self.schedule(at, Event::Fin { wire, to: side }, true);
        }
    }

    /// Resets the connections a partition broke whose ends reach each other again.
    fn reset_rejoined(&mut self) {
        for wire in self.net.rejoined() {
            self.reset_wire(wire);
        }
    }

    /// Splits the network: each group of nodes reaches only its own members; nodes in no
    /// group form one more group (and a new partition replaces the previous one). Connections
    /// across are lost: nothing crosses any more, silently (sessions end by hold timer when
    /// the partition outlasts it), new ones fail, and once two nodes reach each other again
    /// the ends still holding a lost connection are reset.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.record(0, TraceKind::Partition, 1, 0, digest(groups));
        self.dirty = true;
        self.net.groups.iter_mut().for_each(|g| *g = 0);
        for (k, group) in groups.iter().enumerate() {
            for i in group {
                if let Some(g) = self.net.groups.get_mut(*i) {
                    *g = k as u32 + 1;
                }
            }
        }
        self.net.break_crossing();
        self.reset_rejoined();
    }

    /// Ends every partition: the ends still holding a connection it broke are reset.
    pub fn heal(&mut self) {
        self.record(0, TraceKind::Partition, 0, 0, 0);
        self.dirty = true;
        self.net.groups.iter_mut().for_each(|g| *g = 0);
        self.reset_rejoined();
    }

    /// Crashes node `i`: its state is gone, its host resets its connections (peers see them
    /// close after one link latency), events still on their way to it are dropped. Its data
    /// plane is kept for inspection until [`Sim::restart`].
    pub fn crash(&mut self, i: usize) {
        if self.slots.get(i).is_none_or(|s| s.node.is_none()) {
            return;
        }
        self.record(i, TraceKind::Crash, 0, 0, 0);
        self.dirty = true;
        for (wire, side) in self.net.ends_of(i) {
            self.close_end(wire, side);
        }
        let slot = &mut self.slots[i];
        slot.node = None;
        slot.incarnation += 1;
        slot.timer = None;
    }

    /// Starts crashed node `i` again: a fresh [`Node`] whose configuration says it restarted
    /// (`restarting`: graceful restart, RFC 4724 §4.1), an empty data plane (see the crate
    /// documentation), and the orchestrator attaching its endpoints again.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(format!("no node {i}"));
        };
        if slot.node.is_some() {
            return Err(format!("node {i} is running"));
        }
        let mut config = slot.config.clone();
        config.restarting = true;
        let now = self.base + self.now;
        let node = Node::new(config, now).map_err(|e| format!("node {i}: {e}"))?;
        slot.node = Some(node);
        slot.dataplane = MemoryDataplane::default();
        slot.refused.clear();
        slot.egress_free = self.now;
        self.record(i, TraceKind::Restart, 0, 0, 0);
        self.dirty = true;
        self.after(i);
        if let Role::Nve(_) = self.slots[i].role {
            for spec in self.endpoints.attachments_of(i) {
                let result = self.slots[i]
                    .node
                    .as_mut()
                    .map(|n| n.command(Command::Attach(spec), now));
                self.record(
                    i,
                    TraceKind::Command,
                    0,
                    0,
                    digest(&format!("{spec:?} {result:?}")),
                );
                if let Some(Err(e)) = result {
                    return Err(format!("node {i}: attaching {spec:?} again: {e}"));
                }
                self.after(i);
            }
        }
        Ok(())
    }
}
