//! The [`Harness`]: the node, its data plane and the driver around them, playing the
//! operations as the daemon's driver and the peer would.

use super::invariants::check_sent;
use super::shadow::{Shadow, Verdict};
use super::{keepalive, pool_mac, wait_duration, Op, Setup, PEER_ID, VNIS};
use evpnd_dataplane::{Dataplane, MemoryDataplane};
use evpnd_node::{ConnId, DataplaneFeedback, Input, Node, NodeEvent, Output};
use evpnd_wire::CodecContext;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Most rounds of draining per operation (each round feeds the node back what it asked for).
const MAX_DRAIN_ROUNDS: usize = 64;

/// Most timers run by one time step (a livelock guard).
const MAX_TIMERS_PER_STEP: usize = 256;

/// The live connection from the peer, as the driver sees it.
#[derive(Debug)]
struct Conn {
    id: ConnId,
    /// The node closed or aborted it.
    closed_by_node: bool,
    /// The peer closed it ([`Op::PeerCloses`]).
    closed_by_peer: bool,
    /// We sent a NOTIFICATION on it.
    notified: bool,
    /// Bytes were sent and not yet reported written.
    unwritten: bool,
    /// The shadow decoder, from Established on.
    shadow: Option<Shadow>,
}

impl Conn {
    fn live(&self) -> bool {
        !self.closed_by_node && !self.closed_by_peer
    }
}

/// The node, its data plane and the driver state around them.
pub struct Harness {
    pub(super) setup: Setup,
    pub(super) rx: CodecContext,
    tx: CodecContext,
    pub(super) node: Node,
    pub(super) dp: MemoryDataplane,
    now: Instant,
    conn: Option<Conn>,
    pub(super) established: bool,
    /// The last time the session went down it did so without graceful restart.
    pub(super) down_hard: bool,
    /// A prefix limit was hit since the last operation began.
    max_prefix_hit: bool,
    /// Connections we refused to open for the node, to report as failed.
    failed_connects: Vec<ConnId>,
    /// Print every event and intent (for the replay of a crashing input).
    pub(super) trace: bool,
}

impl Harness {
    /// Builds the node of `setup` and brings the session with the peer to Established
    /// (asserted).
    pub fn new(setup: Setup) -> Harness {
        let now = Instant::now();
        let node = match Node::new(setup.node_config(), now) {
            Ok(n) => n,
            Err(e) => panic!("harness configuration refused: {e}"),
        };
        let rx = setup.rx_context();
        let tx = setup.tx_context();
        let mut h = Harness {
            setup,
            rx,
            tx,
            node,
            dp: MemoryDataplane::default(),
            now,
            conn: None,
            established: false,
            down_hard: false,
            max_prefix_hit: false,
            failed_connects: Vec::new(),
            trace: false,
        };
        h.drain();
        h.connect();
        assert!(h.established, "the session did not reach Established");
        h.check();
        h
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// True while the session is Established.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The peer connects and sends its OPEN and KEEPALIVE.
    fn connect(&mut self) {
        let Ok(a) = self.node.accept(IpAddr::V4(PEER_ID), self.now) else {
            panic!("the neighbour's connection was refused");
        };
        self.conn = Some(Conn {
            id: a.conn,
            closed_by_node: false,
            closed_by_peer: false,
            notified: false,
            unwritten: false,
            shadow: None,
        });
        self.drain();
        let mut hello = self.setup.peer_open();
        hello.extend_from_slice(&keepalive());
        self.node.handle(
            Input::Received {
                conn: a.conn,
                bytes: &hello,
            },
            self.now,
        );
        self.drain();
        if self.established {
            if let Some(c) = &mut self.conn {
                c.shadow = Some(Shadow::new(self.rx.clone()));
            }
        }
    }

    /// Plays one operation, drains and checks.
    pub fn step(&mut self, op: Op<'_>) {
        self.max_prefix_hit = false;
        match op {
            Op::Bytes(b) | Op::LongBytes(b) | Op::Rest(b) => self.receive(b),
            Op::Wait(d) => self.wait(wait_duration(d)),
            Op::Generated(p) => {
                let bytes = self.setup.generated_update(p);
                self.receive(&bytes);
            }
            Op::PeerCloses => {
                if let Some(c) = self.conn.as_mut().filter(|c| c.live()) {
                    c.closed_by_peer = true;
                    let id = c.id;
                    self.node.handle(Input::Closed { conn: id }, self.now);
                    self.drain();
                }
            }
            Op::Reconnect => {
                if !self.conn.as_ref().is_some_and(Conn::live) {
                    self.connect();
                }
            }
            Op::LocalMac(b) => {
                let vni = if b & 0x40 != 0 { VNIS[1] } else { VNIS[0] };
                let mac = pool_mac(b);
                let fb = if b & 0x80 == 0 {
                    DataplaneFeedback::LocalMacLearned {
                        vni,
                        mac,
                        ip: (b & 0x20 != 0)
                            .then(|| IpAddr::V4(Ipv4Addr::new(192, 0, 2, (b & 7) + 1))),
                    }
                } else {
                    DataplaneFeedback::LocalMacGone { vni, mac }
                };
                self.node.handle(Input::Dataplane(fb), self.now);
                self.drain();
            }
        }
        self.check();
    }

    /// Bytes from the peer on the current connection, checked against the shadow decoder.
    fn receive(&mut self, bytes: &[u8]) {
        let Some(c) = &mut self.conn else {
            return;
        };
        let id = c.id;
        let was_live = c.live();
        let verdict = c.shadow.as_mut().and_then(|s| s.feed(bytes));
        let notified_before = c.notified;
        // Fed even to a connection the node has closed: it must ignore it.
        self.node
            .handle(Input::Received { conn: id, bytes }, self.now);
        self.drain();
        let Some(c) = &self.conn else {
            return;
        };
        if !was_live || c.shadow.is_none() {
            return;
        }
        match verdict {
            Some(Verdict::MustNotify) => {
                assert!(
                    c.closed_by_node,
                    "malformed or unexpected message left the connection open"
                );
                assert!(
                    c.notified || notified_before,
                    "connection closed on a bad message without a NOTIFICATION"
                );
            }
            Some(Verdict::PeerNotified) => assert!(
                c.closed_by_node,
                "the connection stayed open after the peer's NOTIFICATION"
            ),
            None => assert!(
                !c.closed_by_node || self.max_prefix_hit,
                "the connection was closed on bytes the codec accepts"
            ),
        }
    }

    /// Time passes by `d`: every timer due runs at its own time, then the clock is at
    /// `now + d`.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..MAX_TIMERS_PER_STEP {
            match self.node.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.node.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Drains every output, intent and event, feeding the node back what a driver would
    /// (failed outgoing connections, bytes written), until it is quiet.
    fn drain(&mut self) {
        for _ in 0..MAX_DRAIN_ROUNDS {
            let mut fed = false;
            while let Some(o) = self.node.poll_output() {
                self.on_output(o);
            }
            while let Some(i) = self.node.poll_intent() {
                if self.trace {
                    eprintln!("  intent {i:?}");
                }
                if let Err(e) = self.dp.apply(&i) {
                    panic!("{e}");
                }
            }
            while let Some(ev) = self.node.poll_event() {
                if self.trace {
                    eprintln!("  event {ev:?}");
                }
                self.on_event(ev);
            }
            for conn in std::mem::take(&mut self.failed_connects) {
                self.node.handle(Input::ConnectFailed { conn }, self.now);
                fed = true;
            }
            if let Some(c) = &mut self.conn {
                if c.unwritten && c.live() && !self.setup.slow_reader {
                    c.unwritten = false;
                    let id = c.id;
                    self.node.handle(Input::Drained { conn: id }, self.now);
                    fed = true;
                }
            }
            if !fed {
                return;
            }
        }
    }

    fn on_output(&mut self, o: Output) {
        let ours = |c: &Option<Conn>, id: ConnId| c.as_ref().is_some_and(|c| c.id == id);
        match o {
            Output::Connect { conn, .. } => self.failed_connects.push(conn),
            Output::Send { conn, bytes } if ours(&self.conn, conn) => {
                // OPEN and KEEPALIVE decode alike in every context.
                let notified = check_sent(&self.tx, &bytes);
                if let Some(c) = &mut self.conn {
                    assert!(!c.closed_by_node, "bytes sent after the close");
                    c.notified |= notified;
                    c.unwritten = true;
                }
            }
            Output::Close { conn } | Output::Abort { conn } if ours(&self.conn, conn) => {
                if let Some(c) = &mut self.conn {
                    c.closed_by_node = true;
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, ev: NodeEvent) {
        match ev {
            NodeEvent::Established { families, .. } => {
                assert_eq!(
                    families,
                    self.setup.negotiated_families(),
                    "negotiated families"
                );
                self.established = true;
                self.down_hard = false;
            }
            NodeEvent::Down { graceful, .. } => {
                assert!(
                    self.conn.as_ref().is_some_and(|c| !c.live()),
                    "the session went down with its connection open"
                );
                self.established = false;
                self.down_hard = !graceful;
            }
            NodeEvent::MaxPrefix { .. } => {
                assert!(self.setup.max_prefix, "prefix limit without one configured");
                self.max_prefix_hit = true;
            }
            _ => {}
        }
    }
}
