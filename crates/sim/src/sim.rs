//! The simulator: real [`Node`]s driven over the virtual network ([`crate::net`]) on the
//! virtual clock ([`crate::queue`]), exactly as the daemon drives one node over sockets.
//!
//! This module holds the fabric's state, its construction, the clock and the event loop;
//! the rest of `Sim` lives in its submodules, by concept:
//!
//! * [`fabric`]: what the fabric is made of and what it has done (accessors);
//! * [`orchestrator`]: commands to a node, and the record of what is attached where;
//! * [`faults`]: cut, partition, heal, crash, restart;
//! * [`driver`]: handing an input to a node and collecting its outputs, intents, events and
//!   timer;
//! * [`transport`]: connections and bytes on the virtual network.

mod driver;
mod fabric;
mod faults;
mod orchestrator;
mod transport;

use crate::config::{bgp_address, node_config, Role, SimConfig};
use crate::endpoints::Endpoints;
use crate::net::Network;
use crate::queue::EventQueue;
use crate::trace::{Trace, TraceKind, TraceRecord};
use evpnd_dataplane::MemoryDataplane;
use evpnd_node::{ConnId, Input, Node, NodeEvent};
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longest [`Sim::settle`] runs before it gives up.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// Something that happens at a virtual time.
#[derive(Debug)]
enum Event {
    /// A connection attempt reaches its target.
    Syn { wire: u64 },
    /// The target accepted: the connecting node learns its connection is up.
    SynAck { wire: u64 },
    /// The attempt failed: the connecting node learns it.
    Refused { wire: u64 },
    /// Bytes reach end `to`.
    Data {
        wire: u64,
        to: usize,
        bytes: Vec<u8>,
    },
    /// The other end closed: end `to` learns it.
    Fin { wire: u64, to: usize },
    /// Bytes a node wrote up to `done` have left it.
    Written {
        node: usize,
        incarnation: u32,
        conn: ConnId,
        done: Duration,
    },
    /// A node's timer.
    Timer {
        node: usize,
        incarnation: u32,
        at: Duration,
    },
}

/// An event and whether it is traffic (counted while in flight to tell a quiet fabric).
#[derive(Debug)]
struct Pending {
    event: Event,
    traffic: bool,
}

/// One node's place in the fabric: alive or crashed, with its data plane and logs.
#[derive(Debug)]
struct Slot {
    role: Role,
    address: IpAddr,
    config: evpnd_node::NodeConfig,
    node: Option<Node>,
    incarnation: u32,
    dataplane: MemoryDataplane,
    refused: Vec<String>,
    /// The time the armed timer event fires at.
    timer: Option<Duration>,
    /// When the node's egress link is free again (bandwidth model).
    egress_free: Duration,
    events: Vec<(Duration, NodeEvent)>,
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Writes (`Output::Send`).
    pub sends: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Data-plane intents applied.
    pub intents: u64,
    /// Connections opened.
    pub connects: u64,
    /// Convergence checks run.
    pub checks: u64,
}

/// A fault to inject (see the `Sim` methods of the same names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reset every connection between two nodes ([`Sim::cut`]).
    Cut(usize, usize),
    /// Split the network ([`Sim::partition`]).
    Partition(Vec<Vec<usize>>),
    /// Join the network again ([`Sim::heal`]).
    Heal,
    /// Crash a node ([`Sim::crash`]).
    Crash(usize),
    /// Start a crashed node again ([`Sim::restart`]).
    Restart(usize),
}

/// A fabric of real nodes on a virtual network and clock (see the crate documentation).
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    base: Instant,
    now: Duration,
    queue: EventQueue<Pending>,
    slots: Vec<Slot>,
    by_address: BTreeMap<IpAddr, usize>,
    net: Network,
    rng: ChaCha8Rng,
    trace: Trace,
    endpoints: Endpoints,
    /// Traffic events in flight.
    in_flight: usize,
    /// Something changed since the last convergence check.
    dirty: bool,
    stats: Stats,
}

impl Sim {
    /// Builds the fabric of `config` and starts every node at virtual time 0. The base
    /// `Instant` is the one reading of the real clock; every other time is an offset from it.
    pub fn new(config: SimConfig) -> Result<Sim, String> {
        config.validate()?;
        let roles: Vec<Role> = (0..config.nves)
            .map(Role::Nve)
            .chain((0..config.rrs()).map(Role::RouteReflector))
            .collect();
        let mut slots = Vec::with_capacity(roles.len());
        let mut by_address = BTreeMap::new();
        for (i, role) in roles.iter().enumerate() {
            let address = bgp_address(*role);
            by_address.insert(address, i);
            slots.push(Slot {
                role: *role,
                address,
                config: node_config(&config, *role)?,
                node: None,
                incarnation: 0,
                dataplane: MemoryDataplane::default(),
                refused: Vec::new(),
                timer: None,
                egress_free: Duration::ZERO,
                events: Vec::new(),
            });
        }
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            trace: Trace::new(config.keep_trace),
            net: Network::new(slots.len()),
            base: Instant::now(),
            now: Duration::ZERO,
            queue: EventQueue::default(),
            slots,
            by_address,
            endpoints: Endpoints::default(),
            in_flight: 0,
            dirty: true,
            stats: Stats::default(),
            config,
        };
        for i in 0..sim.slots.len() {
            let node = Node::new(sim.slots[i].config.clone(), sim.instant())
                .map_err(|e| format!("node {i}: {e}"))?;
            sim.slots[i].node = Some(node);
            sim.after(i);
        }
        Ok(sim)
    }

    // ------------------------------------------------------------------------------------
    // Time

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The current virtual time as the nodes see it.
    pub fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// The virtual time of an `Instant` handed out by a node.
    pub fn offset(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.base)
    }

    fn schedule(&mut self, at: Duration, event: Event, traffic: bool) {
        if traffic {
            self.in_flight += 1;
        }
        self.queue
            .push(at.max(self.now), Pending { event, traffic });
    }

    /// Runs the next event. False when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some((at, p)) = self.queue.pop() else {
            return false;
        };
        if p.traffic {
            self.in_flight -= 1;
        }
        self.now = self.now.max(at);
        self.stats.events += 1;
        self.process(p.event);
        true
    }

    /// Runs every event due up to `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Duration) {
        while self.queue.peek_time().is_some_and(|at| at <= t) {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// True when no message other than a KEEPALIVE and no connection event is in flight.
    pub fn is_quiet(&self) -> bool {
        self.in_flight == 0
    }

    /// Runs until the fabric is quiet ([`Sim::is_quiet`]), at most `limit` of virtual time.
    /// Returns the time it took.
    pub fn run_until_quiet(&mut self, limit: Duration) -> Result<Duration, String> {
        let start = self.now;
        let deadline = start + limit;
        while !self.is_quiet() {
            match self.queue.peek_time() {
                Some(at) if at <= deadline => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return Err(format!(
                        "not quiet after {limit:?}: {} traffic events in flight",
                        self.in_flight
                    ));
                }
            }
        }
        Ok(self.now - start)
    }

    /// Lets every message in flight arrive and be answered (within [`SETTLE_LIMIT`]).
    pub fn settle(&mut self) -> Result<Duration, String> {
        self.run_until_quiet(SETTLE_LIMIT)
    }

    /// Runs until [`Sim::check`] passes on a quiet fabric, at most `limit` of virtual time.
    /// Returns the virtual time it took; the error is the last check's finding.
    pub fn run_until_converged(&mut self, limit: Duration) -> Result<Duration, String> {
        let start = self.now;
        let deadline = start + limit;
        self.dirty = true;
        let mut last = String::from("never quiet");
        loop {
            if self.is_quiet() && self.dirty {
                self.dirty = false;
                self.stats.checks += 1;
                match self.check() {
                    Ok(()) => return Ok(self.now - start),
                    Err(e) => last = e,
                }
            }
            match self.queue.peek_time() {
                Some(at) if at <= deadline => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return Err(format!("not converged after {limit:?}: {last}"));
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Events

    /// Runs one event: hands the node it concerns what it means for that node (connection
    /// events and bytes through [`crate::net`], timers directly).
    fn process(&mut self, event: Event) {
        match event {
            Event::Syn { wire } => self.on_syn(wire),
            Event::SynAck { wire } => {
                let Some(e) = self.net.wires.get(&wire).and_then(|w| w.ends[0]) else {
                    return;
                };
                if e.open && self.alive(e.node, e.incarnation) {
                    self.record(e.node, TraceKind::Connected, e.conn.0, 0, 0);
                    self.deliver(e.node, Input::Connected { conn: e.conn });
                }
            }
            Event::Refused { wire } => {
                let Some(e) = self.net.wires.get(&wire).and_then(|w| w.ends[0]) else {
                    return;
                };
                self.net.remove(wire);
                if e.open && self.alive(e.node, e.incarnation) {
                    self.record(e.node, TraceKind::ConnectFailed, e.conn.0, 0, 0);
                    self.deliver(e.node, Input::ConnectFailed { conn: e.conn });
                }
            }
            Event::Data { wire, to, bytes } => self.on_data(wire, to, &bytes),
            Event::Fin { wire, to } => {
                let Some(w) = self.net.wires.get(&wire) else {
                    return;
                };
                let Some(e) = w.ends[to] else {
                    return;
                };
                self.net.close_end(wire, to);
                if e.open && self.alive(e.node, e.incarnation) {
                    self.record(e.node, TraceKind::Closed, e.conn.0, 0, 0);
                    self.deliver(e.node, Input::Closed { conn: e.conn });
                }
            }
            Event::Written {
                node,
                incarnation,
                conn,
                done,
            } => {
                if !self.alive(node, incarnation) {
                    return;
                }
                let Some((wire, side)) = self.net.find(node, conn) else {
                    return;
                };
                let all = self
                    .net
                    .wires
                    .get(&wire)
                    .and_then(|w| w.ends[side])
                    .is_some_and(|e| e.queued_until <= done);
                if all {
                    self.record(node, TraceKind::Drained, conn.0, 0, 0);
                    self.deliver(node, Input::Drained { conn });
                } else {
                    self.record(node, TraceKind::WriteProgress, conn.0, 0, 0);
                    self.deliver(node, Input::WriteProgress { conn });
                }
            }
            Event::Timer {
                node,
                incarnation,
                at,
            } => {
                if !self.alive(node, incarnation) || self.slots[node].timer != Some(at) {
                    return;
                }
                self.slots[node].timer = None;
                let now = self.instant();
                let due = self.slots[node]
                    .node
                    .as_ref()
                    .and_then(Node::poll_timeout)
                    .is_some_and(|t| t <= now);
                if due {
                    self.record(node, TraceKind::Timeout, 0, 0, 0);
                    if let Some(n) = self.slots[node].node.as_mut() {
                        n.handle_timeout(now);
                    }
                }
                self.after(node);
            }
        }
    }

    /// Appends a record to the trace, at the current virtual time.
    fn record(&mut self, node: usize, kind: TraceKind, conn: u64, len: u64, digest: u64) {
        self.trace.record(TraceRecord {
            at: self.now,
            node: node as u32,
            kind,
            conn,
            len,
            digest,
        });
    }

    /// True while node `node` runs in incarnation `incarnation` (events addressed to an
    /// earlier incarnation, from before a crash, are dropped).
    fn alive(&self, node: usize, incarnation: u32) -> bool {
        self.slots
            .get(node)
            .is_some_and(|s| s.node.is_some() && s.incarnation == incarnation)
    }
}
