//! # evpnd-sim: a deterministic EVPN fabric simulator
//!
//! A [`Sim`] runs N real [`evpnd_node::Node`]s — the very object the `evpnd` daemon drives
//! over sockets — over a virtual network and a virtual clock. Nodes exchange real BGP bytes
//! (OPEN, UPDATE, KEEPALIVE, NOTIFICATION as the codec encodes and decodes them), each NVE's
//! data-plane intents go into its own [`evpnd_dataplane::MemoryDataplane`], which refuses
//! inconsistent deltas. What the simulator shows about a fabric is therefore what the daemon
//! runs.
//!
//! ## Determinism
//!
//! * **Clock**: one base `Instant` (the only reading of the real clock, taken once) plus a
//!   `Duration` offset. Events wait in a queue ordered by (time, sequence number)
//!   ([`queue`]), so events due at the same time run in the order they were scheduled.
//! * **Randomness**: every draw (link latencies, read splits; workloads and faults in
//!   [`workload`]) comes from `ChaCha8Rng::seed_from_u64(seed)` (`rand` 0.10, whose ChaCha
//!   generators are portable: the same seed gives the same stream everywhere). `rand_chacha`
//!   is not used: its latest release targets the older `rand_core` 0.9, while `rand` 0.10
//!   ships the same generators (through `chacha20`) and is already in the lock file.
//! * **Order**: every collection whose order matters is a `BTreeMap` or a `Vec`.
//! * **Trace**: every delivered input, every output, intent, event, command and fault is a
//!   compact record (virtual time, node, kind, connection, byte count, hash of the content)
//!   folded into a running 64-bit hash ([`trace`]). Same seed ⇒ same [`Sim::trace_hash`]; a
//!   test runs a faulty fabric twice and compares.
//!
//! ## The network
//!
//! * **Connect**: on [`evpnd_node::Output::Connect`] the simulator finds the node with that
//!   BGP address. If both run and reach each other, the target's [`evpnd_node::Node::accept`]
//!   is called one link latency later and the initiator gets `Connected` one latency after
//!   that. A running host without the daemon (a crashed node) answers with a reset:
//!   `ConnectFailed` after a round trip; an unreachable address (no such node, partition) makes
//!   the attempt time out ([`SimConfig::connect_timeout`]).
//! * **Bytes**: `Send` bytes arrive as `Received` after the link latency, in order per
//!   connection, sometimes split in two at a random byte. Each node has one egress link:
//!   with [`SimConfig::egress_bandwidth`] its writes queue behind each other; without it they
//!   leave at once. The writer gets `Drained` when all it queued has left (`WriteProgress` when
//!   only part of it has), which drives the node's flow control.
//! * **Close**: `Close` and `Abort` reach the other end as `Closed`, after the data already
//!   on its way.
//! * **Faults** ([`Fault`]): [`Sim::cut`] resets the connections between two nodes (both ends
//!   see them close: a graceful-restart helper keeps the routes as stale, RFC 4724 §4.2).
//!   [`Sim::partition`] silently loses everything across it: sessions end by hold timer (with
//!   a NOTIFICATION nobody receives, hence without graceful restart), connects time out;
//!   [`Sim::heal`] lets new connections through and resets the ends still holding a lost one. [`Sim::crash`] drops a node's whole state and
//!   resets its connections (the host's kernel does); [`Sim::restart`] builds a fresh node
//!   with `restarting = true` (graceful restart, restarting side: R bit, deferred advertising,
//!   RFC 4724 §4.1) and the orchestrator attaches its endpoints again.
//! * **Data plane across a crash**: a real kernel keeps its FDB when the daemon dies; taking
//!   it over belongs to the Linux data plane's reconciliation. The simulator models the honest
//!   minimum: a restarted node starts with an empty `MemoryDataplane` and rebuilds it from its
//!   intents, so every intent it emits must fit an empty table.
//!
//! ## What is not modelled
//!
//! Processing takes no virtual time: a node answers at the instant an input arrives, so the
//! simulated convergence time is the network's (latencies, bandwidth, timers), not the CPU's.
//! TCP itself is ideal: no loss or reordering inside a connection, no retransmission; a
//! partition kills every connection across it even if it heals before TCP would have given up
//! (a connection caught in its handshake waits for the heal, or for the OpenSent hold timer).
//!
//! ## Topologies and addressing
//!
//! See [`config`]: NVEs behind any number of route reflectors (clients of every reflector;
//! reflectors meshed among themselves) or a full iBGP mesh, AS 65000, underlay
//! 198.18.0.0/15, VTEP = router id in 198.19.0.0/16, small timers (hold 9 s, connect-retry
//! 1 s) so that faults resolve in seconds of virtual time.
//!
//! ## Checks
//!
//! The orchestrator's record ([`Endpoints`]) is what every NVE's tables must converge to:
//! [`Sim::check`] (exact) and [`Sim::check_agreement`] (for timing-dependent workloads)
//! return a precise account of each difference; [`Sim::run_until_converged`] runs until the
//! check passes on a quiet fabric.
//!
//! The `evpnd-sim` binary runs a large fabric to convergence and reports the simulated
//! convergence time, the wall time and the trace hash.

#![forbid(unsafe_code)]

mod check;
pub mod config;
mod endpoints;
pub mod net;
pub mod queue;
mod sim;
pub mod trace;
pub mod workload;

pub use config::{Role, SimConfig, Topology};
pub use endpoints::{Claim, Endpoints};
pub use sim::{Fault, Sim, Stats, SETTLE_LIMIT};
pub use workload::{Chaos, Op, Workload};
