//! The simulator: real [`Node`]s driven over the virtual network ([`crate::net`]) on the
//! virtual clock ([`crate::queue`]), exactly as the daemon drives one node over sockets.

use crate::config::{bgp_address, node_config, Role, SimConfig};
use crate::endpoints::Endpoints;
use crate::net::{End, Network};
use crate::queue::EventQueue;
use crate::trace::{digest, digest_bytes, Trace, TraceKind, TraceRecord};
use evpnd_dataplane::{Dataplane, MemoryDataplane};
use evpnd_node::{
    Command, CommandError, ConnId, EndpointSpec, Input, Node, NodeEvent, Output, Reply,
};
use evpnd_wire::MacAddress;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most refused data-plane deltas kept per node for the error message (all are counted).
const REFUSALS_KEPT: usize = 8;

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

/// True for a write that is one KEEPALIVE (RFC 4271 §4.4: a bare 19-byte header of type 4).
fn is_keepalive(bytes: &[u8]) -> bool {
    bytes.len() == 19 && bytes[18] == 4
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
    // The fabric

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

    // ------------------------------------------------------------------------------------
    // The orchestrator

    /// Gives `cmd` to node `i`, as an operator or orchestrator would. Attach and detach
    /// commands that succeed update the orchestrator's record ([`Sim::endpoints`]). A crashed
    /// node refuses everything (FAILED_PRECONDITION on field `node`).
    pub fn command(&mut self, i: usize, cmd: Command) -> Result<Reply, CommandError> {
        let now = self.instant();
        let result = match self.slots.get_mut(i).and_then(|s| s.node.as_mut()) {
            Some(n) => n.command(cmd.clone(), now),
            None => Err(CommandError::precondition(
                "node",
                format!("node {i} is not running"),
            )),
        };
        if result.is_ok() {
            match &cmd {
                Command::Attach(spec) => self.endpoints.attach(i, *spec),
                Command::Detach { vni, mac, ip } => self.endpoints.detach(i, *vni, *mac, *ip),
                Command::RemoveVni { vni } => self.endpoints.forget_vni(i, *vni),
                _ => {}
            }
        }
        self.record(
            i,
            TraceKind::Command,
            0,
            0,
            digest(&format!("{cmd:?} {result:?}")),
        );
        self.dirty = true;
        if i < self.slots.len() {
            self.after(i);
        }
        result
    }

    /// Attaches an endpoint on NVE `i` ([`Command::Attach`]).
    pub fn attach(&mut self, i: usize, spec: EndpointSpec) -> Result<Reply, CommandError> {
        self.command(i, Command::Attach(spec))
    }

    /// Attaches `mac` in `vni` (with `ip`) on NVE `i`: a dynamic endpoint without flags.
    pub fn attach_mac(
        &mut self,
        i: usize,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
    ) -> Result<Reply, CommandError> {
        self.attach(i, EndpointSpec::new(vni, mac, ip))
    }

    /// Detaches `mac` (or only its `ip` binding) in `vni` from NVE `i`.
    pub fn detach(
        &mut self,
        i: usize,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
    ) -> Result<Reply, CommandError> {
        self.command(i, Command::Detach { vni, mac, ip })
    }

    // ------------------------------------------------------------------------------------
    // Faults

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

    // ------------------------------------------------------------------------------------
    // The driver

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

    fn alive(&self, node: usize, incarnation: u32) -> bool {
        self.slots
            .get(node)
            .is_some_and(|s| s.node.is_some() && s.incarnation == incarnation)
    }

    /// The latency between two nodes, drawn from the configured range on first use.
    fn latency(&mut self, a: usize, b: usize) -> Duration {
        let key = (a.min(b), a.max(b));
        if let Some(l) = self.net.latency.get(&key) {
            return *l;
        }
        let (lo, hi) = self.config.latency;
        let nanos = self
            .rng
            .random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64);
        let l = Duration::from_nanos(nanos);
        self.net.latency.insert(key, l);
        l
    }

    /// Hands `input` to node `i` (which must be alive) and collects what it caused.
    fn deliver(&mut self, i: usize, input: Input<'_>) {
        let now = self.instant();
        if let Some(n) = self.slots[i].node.as_mut() {
            n.handle(input, now);
        }
        self.after(i);
    }

    /// Everything node `i` has for the driver: outputs, intents, events; then its timer.
    fn after(&mut self, i: usize) {
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

    /// End `side` of `wire` is closed by its node (or its node crashed): the other end learns
    /// it after the data already on its way, unless the wire is broken.
    fn close_end(&mut self, wire: u64, side: usize) {
        let Some(w) = self.net.wires.get_mut(&wire) else {
            return;
        };
        let other = 1 - side;
        let notify = !w.broken && w.ends[other].is_some_and(|e| e.open);
        let at = (self.now + w.latency).max(w.last_arrival[other]);
        if notify {
            w.last_arrival[other] = at;
        }
        self.net.close_end(wire, side);
        if notify {
            self.schedule(at, Event::Fin { wire, to: other }, true);
        }
    }

    fn connect(&mut self, i: usize, conn: ConnId, remote: IpAddr) {
        self.dirty = true;
        self.stats.connects += 1;
        self.record(i, TraceKind::Connect, conn.0, 0, digest(&remote));
        let end = End {
            node: i,
            incarnation: self.slots[i].incarnation,
            conn,
            open: true,
            queued_until: self.now,
        };
        let target = self.by_address.get(&remote).copied();
        let latency = match target {
            Some(t) => self.latency(i, t),
            None => self.config.connect_timeout,
        };
        let wire = self.net.open(end, target.unwrap_or(i), latency);
        match target {
            Some(t) if self.net.reachable(i, t) => {
                self.schedule(self.now + latency, Event::Syn { wire }, true);
            }
            // Nothing answers: the SYN times out.
            _ => {
                let at = self.now + self.config.connect_timeout;
                self.schedule(at, Event::Refused { wire }, true);
            }
        }
    }

    fn send(&mut self, i: usize, conn: ConnId, bytes: Vec<u8>) {
        let keepalive = is_keepalive(&bytes);
        if !keepalive {
            self.dirty = true;
        }
        self.stats.sends += 1;
        self.stats.bytes += bytes.len() as u64;
        self.record(
            i,
            TraceKind::Send,
            conn.0,
            bytes.len() as u64,
            digest_bytes(&bytes),
        );
        let Some((wire, side)) = self.net.find(i, conn) else {
            return;
        };
        // The bytes leave the node once its link has sent what was queued before them.
        let start = self.slots[i].egress_free.max(self.now);
        let done = match self.config.egress_bandwidth {
            Some(bw) => {
                let nanos = (bytes.len() as u128 * 1_000_000_000).div_ceil(u128::from(bw));
                start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
            None => start,
        };
        self.slots[i].egress_free = done;
        let Some(w) = self.net.wires.get_mut(&wire) else {
            return;
        };
        let other = 1 - side;
        let mut arrival = None;
        if let Some(e) = w.ends[side].as_mut() {
            e.queued_until = done;
        }
        let carried = !w.broken && w.ends[other].is_some_and(|e| e.open);
        if carried {
            let at = (done + w.latency).max(w.last_arrival[other]);
            w.last_arrival[other] = at;
            arrival = Some(at);
        }
        let broken = w.broken;
        let incarnation = self.slots[i].incarnation;
        // A broken wire never drains: the peer acknowledges nothing (the send hold timer of
        // RFC 9687 may fire, the hold timer usually first).
        if !broken {
            self.schedule(
                done,
                Event::Written {
                    node: i,
                    incarnation,
                    conn,
                    done,
                },
                true,
            );
        }
        if let Some(at) = arrival {
            self.schedule(
                at,
                Event::Data {
                    wire,
                    to: other,
                    bytes,
                },
                !keepalive,
            );
        }
    }

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

    fn on_syn(&mut self, wire: u64) {
        let Some(w) = self.net.wires.get(&wire) else {
            return;
        };
        let (Some(src), target, latency) = (w.ends[0], w.target, w.latency) else {
            return;
        };
        if !src.open || !self.alive(src.node, src.incarnation) {
            self.net.remove(wire);
            return;
        }
        if !self.net.reachable(src.node, target) {
            // The SYN is lost in the partition: the attempt times out.
            let at = self.now + self.config.connect_timeout.saturating_sub(latency);
            self.schedule(at, Event::Refused { wire }, true);
            return;
        }
        let now = self.instant();
        let from = self.slots[src.node].address;
        let incarnation = self.slots[target].incarnation;
        let accepted = self.slots[target]
            .node
            .as_mut()
            .map(|n| n.accept(from, now));
        match accepted {
            Some(Ok(a)) => {
                self.record(target, TraceKind::Accept, a.conn.0, 0, digest(&from));
                self.net.accepted(
                    wire,
                    End {
                        node: target,
                        incarnation,
                        conn: a.conn,
                        open: true,
                        queued_until: self.now,
                    },
                );
                self.schedule(self.now + latency, Event::SynAck { wire }, true);
                self.after(target);
            }
            // Refused by the node, or no process listening: a reset comes back.
            Some(Err(_)) => {
                self.record(target, TraceKind::Refuse, 0, 0, digest(&from));
                self.schedule(self.now + latency, Event::Refused { wire }, true);
                self.after(target);
            }
            None => {
                self.schedule(self.now + latency, Event::Refused { wire }, true);
            }
        }
    }

    fn on_data(&mut self, wire: u64, to: usize, bytes: &[u8]) {
        let Some(w) = self.net.wires.get(&wire) else {
            return;
        };
        let Some(e) = w.ends[to] else {
            return;
        };
        if w.broken || !e.open || !self.alive(e.node, e.incarnation) {
            return;
        }
        if !is_keepalive(bytes) {
            self.dirty = true;
        }
        // Reads may end anywhere: sometimes deliver the bytes in two pieces.
        let split = if self.config.split_reads && bytes.len() > 1 && self.rng.random_bool(0.25) {
            self.rng.random_range(1..bytes.len())
        } else {
            bytes.len()
        };
        for part in [&bytes[..split], &bytes[split..]] {
            if part.is_empty() {
                continue;
            }
            // The node may have closed the connection after the first piece.
            if self.net.find(e.node, e.conn) != Some((wire, to)) {
                return;
            }
            self.record(
                e.node,
                TraceKind::Receive,
                e.conn.0,
                part.len() as u64,
                digest_bytes(part),
            );
            self.deliver(
                e.node,
                Input::Received {
                    conn: e.conn,
                    bytes: part,
                },
            );
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
        NodeEvent::MaxPrefix { .. } => 5,
        NodeEvent::DeferralStarted { .. } => 6,
        NodeEvent::DeferralEnded { timed_out } => 7 + u64::from(*timed_out),
        NodeEvent::WildcardImportWithRtc => 9,
        NodeEvent::Ignored { .. } => 10,
        NodeEvent::DataplaneFailed { .. } => 11,
        NodeEvent::Engine(EngineEvent::Learned { .. }) => 20,
        NodeEvent::Engine(EngineEvent::Moved { .. }) => 21,
        NodeEvent::Engine(EngineEvent::Removed { .. }) => 22,
        NodeEvent::Engine(EngineEvent::Duplicate { .. }) => 23,
        NodeEvent::Engine(EngineEvent::Unfrozen { .. }) => 24,
        NodeEvent::Engine(EngineEvent::StickyConflict { .. }) => 25,
    }
}
