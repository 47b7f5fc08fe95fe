//! One configured neighbour inside the node: its session FSM, its live connections and the
//! per-peer state the node keeps around the session (End-of-RIB markers, bytes in flight).

use crate::config::NeighborConfig;
use evpnd_bgp::session::{ConnId, Session};
use evpnd_wire::Family;
use std::net::IpAddr;
use std::time::Instant;

/// Flow control towards each peer: more of its Adj-RIB-Out is taken from the RIB (where the
/// encodings are shared by the update group) only once the driver has written what is in
/// flight below this. It bounds the per-peer memory whatever the peer's reading speed.
pub const INFLIGHT_LIMIT: usize = 1 << 20;

/// A neighbour and its live state.
#[derive(Debug)]
pub struct PeerSlot {
    /// The configuration it was added with.
    pub config: NeighborConfig,
    /// The FSM.
    pub session: Session,
    /// Connections the driver holds for this peer (at most an outgoing and an incoming one).
    pub conns: Vec<ConnId>,
    /// The outgoing attempt in progress.
    pub connecting: Option<ConnId>,
    /// The session is Established and known to the RIB.
    pub established: bool,
    /// Families whose End-of-RIB the peer sent on the current session.
    pub end_of_rib: Vec<Family>,
    /// UPDATE bytes handed to the driver and not yet reported written.
    pub inflight: usize,
    /// The peer group of a dynamic neighbour (`None`: a configured one).
    pub group: Option<String>,
    /// The session's deadline as the node's timer index holds it.
    pub(crate) deadline: Option<Instant>,
}

impl PeerSlot {
    /// A stopped session for `config`.
    pub fn new(config: NeighborConfig, now: Instant) -> Self {
        PeerSlot {
            session: Session::new(config.peer.clone(), now),
            config,
            conns: Vec::new(),
            connecting: None,
            established: false,
            end_of_rib: Vec::new(),
            inflight: 0,
            group: None,
            deadline: None,
        }
    }

    /// The neighbour's address.
    pub fn address(&self) -> IpAddr {
        self.config.peer.address
    }

    /// True when the neighbour negotiates RT-Constraint (RFC 4684).
    pub fn rtc(&self) -> bool {
        self.config
            .peer
            .families
            .contains(&evpnd_wire::Family::RT_CONSTRAINT)
    }

    /// True when graceful restart is configured for the neighbour.
    pub fn graceful_restart(&self) -> bool {
        self.config.peer.graceful_restart.is_some()
    }
}

/// The address a connection came from, as neighbours are configured: an IPv4 peer reaching an
/// IPv6 socket arrives as `::ffff:a.b.c.d` and is the IPv4 neighbour `a.b.c.d`. The one rule by
/// which an accepted connection is matched to its neighbour.
pub fn peer_address(remote: IpAddr) -> IpAddr {
    match remote {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}
