//! # evpnd-bgp: the sans-I/O BGP speaker of evpnd
//!
//! Pure state machines, fed bytes, events and the current time, returning what to send, which
//! timers to arm and which routes changed. No sockets, clocks or threads: the `evpnd` daemon
//! drives them with tokio.
//!
//! * [`session`]: one BGP session's finite state machine (RFC 4271 §8), capability negotiation
//!   and timers (hold, keepalive, connect-retry with backoff, send-hold RFC 9687).
//! * [`rib`]: Adj-RIB-In per peer, the Loc-RIB with best-path selection (RFC 4271 §9.1), route
//!   reflection (RFC 4456), RT-Constraint filtering (RFC 4684) and Adj-RIB-Out through update
//!   groups.
//! * [`config`]: the per-neighbour settings both share.
//! * [`role`]: BGP Roles and the Only-to-Customer rules (RFC 9234), which the session's OPEN
//!   check and the RIB's ingress and egress both apply.

pub mod config;
pub mod rib;
pub mod role;
pub mod session;

pub use config::{PeerConfig, PeerId};
