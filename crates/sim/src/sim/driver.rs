//! The driver of one node: an input goes in, and everything it caused comes out (outputs
//! to the network, data-plane intents into its `MemoryDataplane`, events into its log),
//! then its timer is armed again.

use super::{Event, Sim};
use crate::trace::{digest, TraceKind};
use evpnd_dataplane::Dataplane;
use evpnd_node::{Input, Node, NodeEvent, Output};

/// Most refused data-plane deltas kept per node for the error message (all are counted).
const REFUSALS_KEPT: usize = 8;

impl Sim {
    /// Hands `input` to node `i` (which must be alive) and collects what it caused.
    pub(super) fn deliver(&mut self, i: usize, input: Input<'_>) {
        let now = self.instant();
        if let Some(n) = self.slots[i].node.as_mut() {
            n.handle(input, now);
        }
        self.after(i);
    }

    /// Everything node `i` has for the driver: outputs, intents, events; then its timer.
    pub(super) fn after(&mut self, i: usize) {
        while let Some(out) = self.slots[i].node.as_mut().and_then(Node::poll_output) {
            self.output(i, out);
        }
        while let Some(intent) = self.slots[i].node.as_mut().and_then(Node::poll_intent) {
            self.dirty = true;
            self.stats.intents += 1;
            let slot = &mut self.slots[i];
            let d = digest(&intent);
            match slot.dataplane.apply(&intent) {
                Ok(()) => self.record(i, TraceKind::Intent, 0, 0, d),
                Err(e) => {
                    if slot.refused.len() < REFUSALS_KEPT {
                        slot.refused.push(format!("at {:?}: {e}", self.now));
                    }
                    self.record(i, TraceKind::IntentRefused, 0, 0, d);
                }
            }
        }
        while let Some(ev) = self.slots[i].node.as_mut().and_then(Node::poll_event) {
            self.dirty = true;
            self.record(i, TraceKind::Event, 0, 0, event_code(&ev));
            if self.config.keep_events {
                self.slots[i].events.push((self.now, ev));
            }
        }
        self.arm(i);
    }

    fn arm(&mut self, i: usize) {
        let Some(t) = self.slots[i].node.as_ref().and_then(Node::poll_timeout) else {
            return;
        };
        let at = self.offset(t).max(self.now);
        let slot = &mut self.slots[i];
        if slot.timer.is_some_and(|armed| armed <= at) {
            return;
        }
        slot.timer = Some(at);
        let incarnation = slot.incarnation;
        self.schedule(
            at,
            Event::Timer {
                node: i,
                incarnation,
                at,
            },
            false,
        );
    }

    fn output(&mut self, i: usize, out: Output) {
        match out {
            Output::Connect { conn, remote, .. } => self.connect(i, conn, remote.ip()),
            Output::Send { conn, bytes } => self.send(i, conn, bytes),
            // Never asked for (the simulator keeps one buffer per write); handled all the same.
            Output::SendShared { conn, bytes } => self.send(i, conn, bytes.to_vec()),
            Output::Close { conn } => {
                self.dirty = true;
                self.record(i, TraceKind::Close, conn.0, 0, 0);
                if let Some((wire, side)) = self.net.find(i, conn) {
                    self.close_end(wire, side);
                }
            }
            Output::Abort { conn } => {
                self.dirty = true;
                self.record(i, TraceKind::Abort, conn.0, 0, 0);
                if let Some((wire, side)) = self.net.find(i, conn) {
                    self.close_end(wire, side);
                }
            }
            Output::NeighborAdded { address, .. } => {
                self.record(i, TraceKind::Listener, 1, 0, digest(&address));
            }
            Output::NeighborRemoved { address, .. } => {
                self.record(i, TraceKind::Listener, 0, 0, digest(&address));
            }
        }
    }
}

/// A small code per kind of event for the trace (events are not hashable; their effects on
/// the wire and the data plane are traced in full).
fn event_code(e: &NodeEvent) -> u64 {
    use evpnd_evpn::EngineEvent;
    match e {
        NodeEvent::Established { .. } => 1,
        NodeEvent::Down { graceful, .. } => 2 + u64::from(*graceful),
        NodeEvent::Refused { .. } => 4,
        NodeEvent::RefusedGroupLimit { .. } => 14,
        NodeEvent::MaxPrefix { .. } => 5,
        NodeEvent::DeferralStarted { .. } => 6,
        NodeEvent::DeferralEnded { timed_out } => 7 + u64::from(*timed_out),
        NodeEvent::WildcardImportWithRtc => 9,
        NodeEvent::Ignored { .. } => 10,
        NodeEvent::DataplaneFailed { .. } => 11,
        NodeEvent::DataplaneLink { up, .. } => 12 + u64::from(*up),
        NodeEvent::Engine(EngineEvent::Learned { .. }) => 20,
        NodeEvent::Engine(EngineEvent::Moved { .. }) => 21,
        NodeEvent::Engine(EngineEvent::Removed { .. }) => 22,
        NodeEvent::Engine(EngineEvent::Duplicate { .. }) => 23,
        NodeEvent::Engine(EngineEvent::Unfrozen { .. }) => 24,
        NodeEvent::Engine(EngineEvent::StickyConflict { .. }) => 25,
    }
}
