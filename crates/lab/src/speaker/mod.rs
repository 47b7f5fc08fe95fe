//! A raw BGP speaker for tests and benchmarks, built directly on the `evpnd_wire` codec.
//!
//! It does just enough of RFC 4271 to hold a session with a real router: it sends an OPEN with
//! the configured capabilities (by default multiprotocol L2VPN EVPN, route refresh and 4-octet
//! AS, RFC 4760 / RFC 2918 / RFC 6793), answers the peer's OPEN with a KEEPALIVE, waits for the
//! peer's KEEPALIVE (§8.2.2 OpenConfirm → Established), and then keeps the session alive with a
//! KEEPALIVE every third of the negotiated hold time (§4.4) and closes it when the peer's hold
//! timer runs out (§6.5).
//!
//! One connection layer, two ways to consume what the peer sends:
//!
//! * [`Session`], the fast speaker of the benchmark: its reader thread keeps counters and, when
//!   asked to, a route table (Adj-RIB-In) with the RFC 7606 outcome of each UPDATE applied
//!   ([`Tracking`]), so a test waits for exact route sets; malformed input ends the session
//!   with the NOTIFICATION the codec names.
//! * [`RawPeer`], the conformance peer of evpnd's integration tests: it hands every message to
//!   the test as an [`Event`] (decoded, with its outcome and raw bytes, or refused by the
//!   decoder) and keeps the log a test asserts on; it never ends a session because of what the
//!   peer sent, and it sends whatever bytes a test wants, well-formed or not.
//!
//! The pieces: `handshake` (connecting, accepting, OPEN/KEEPALIVE), `io` (the reader and
//! keepalive threads and the message framing), `tracking` (what a [`Session`] keeps of
//! received UPDATEs), `session` and `raw_peer`.
//!
//! It is deliberately not a BGP implementation: no FSM retries, no best path, no policy.

mod handshake;
mod io;
mod raw_peer;
mod session;
mod tracking;

pub use handshake::{accept_timeout, connect};
pub use raw_peer::{Announced, Event, RawPeer};
pub use session::{message_chunks, Session};
pub use tracking::{
    count_evpn_nlri, for_each_evpn_nlri, for_each_mp_nlri, nlri_key, FastHasher, KeySet, PathInfo,
    RouteTable, SessionStats,
};

use evpnd_wire::{Capability, Family};
use std::net::Ipv4Addr;
use std::time::Duration;

/// How a raw speaker presents itself in its OPEN and what it keeps.
#[derive(Clone, Debug)]
pub struct SpeakerConfig {
    /// Our AS (4-octet capable; AS_TRANS goes in the 2-octet field when needed).
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds (0 or ≥ 3).
    pub hold_time: u16,
    /// Capabilities to announce (the 4-octet AS capability is added automatically).
    pub capabilities: Vec<Capability>,
    /// When set, a peer announcing another AS is refused (NOTIFICATION 2/2, Bad Peer AS).
    pub peer_as: Option<u32>,
    /// Bound on the OPEN/KEEPALIVE exchange.
    pub handshake_timeout: Duration,
    /// What a [`Session`]'s reader keeps of received UPDATEs.
    pub tracking: Tracking,
}

/// What a session's reader does with received UPDATEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    /// Frame and count messages only: a load generator must not burn the CPU the device
    /// under test needs.
    Off,
    /// Count EVPN NLRI announced minus withdrawn by walking the MP_REACH / MP_UNREACH length
    /// fields, without decoding routes or keeping a table. An order of magnitude cheaper than
    /// `Full`, for the many sinks of a fan-out; exact only while the peer sends no
    /// duplicates (a duplicate shows up as an overshoot, which the benchmark reports).
    Count,
    /// Keep the set of EVPN NLRI held, as 64-bit digests of their wire bytes ([`nlri_key`]),
    /// found by the same length walk as `Count`: exact set semantics (repeats and withdrawals
    /// handled) at a fraction of `Full`'s cost. What a benchmark sink uses.
    Keys,
    /// Decode every UPDATE with `decode_message` and keep an Adj-RIB-In: every route with its
    /// path, with the RFC 7606 outcome applied.
    Full,
}

impl SpeakerConfig {
    /// An EVPN speaker: multiprotocol L2VPN EVPN (AFI 25 / SAFI 70, RFC 7432 §7), route
    /// refresh (RFC 2918), 4-octet AS (RFC 6793), hold time 90 s, full route tracking. The
    /// capability set both [`Session`] and [`RawPeer`] announce.
    pub fn evpn(local_as: u32, router_id: Ipv4Addr) -> Self {
        SpeakerConfig {
            local_as,
            router_id,
            hold_time: 90,
            capabilities: vec![
                Capability::Multiprotocol(Family::L2VPN_EVPN),
                Capability::RouteRefresh,
            ],
            peer_as: None,
            handshake_timeout: Duration::from_secs(30),
            tracking: Tracking::Full,
        }
    }
}
