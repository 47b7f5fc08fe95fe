//! Per-neighbour configuration shared by the session FSM and the RIBs.

use evpnd_wire::capability::BgpRole;
use evpnd_wire::Family;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Identifies a configured neighbour within one speaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// A per-family prefix limit (Cease subcode 1, RFC 4486 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPrefix {
    /// The family the limit applies to.
    pub family: Family,
    /// Most routes accepted from the peer in this family.
    pub limit: u32,
    /// Re-establish the session after this long; `None`: stay down until an operator acts.
    pub restart_after: Option<Duration>,
}

/// Graceful restart settings (RFC 4724).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart time we advertise (seconds, ≤ 4095).
    pub restart_time: u16,
    /// Keep a restarting peer's routes as stale at most this long after its End-of-RIB was due.
    pub stale_routes_time: Duration,
}

/// Everything the speaker needs to know about one neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The neighbour's address.
    pub address: IpAddr,
    /// The neighbour's AS (ignored when `accept_any_external_asn` is set).
    pub remote_asn: u32,
    /// Accept any AS other than `local_asn` in the peer's OPEN instead of `remote_asn` (a
    /// dynamic neighbour of a peer group with `remote-asn = "external"`): the session is eBGP
    /// and an OPEN carrying our own AS is refused with Bad Peer AS (RFC 4271 §6.2).
    pub accept_any_external_asn: bool,
    /// Our AS on this session.
    pub local_asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we propose (0 or ≥ 3 seconds; RFC 4271 §4.2).
    pub hold_time: u16,
    /// Initial connect-retry interval; doubles on each failure up to `connect_retry_max`.
    pub connect_retry: Duration,
    /// Upper bound of the connect-retry backoff.
    pub connect_retry_max: Duration,
    /// Never initiate the TCP connection; wait for the neighbour.
    pub passive: bool,
    /// Address families to negotiate (multiprotocol capability, RFC 4760 §8).
    pub families: Vec<Family>,
    /// The neighbour is a route-reflector client (RFC 4456).
    pub route_reflector_client: bool,
    /// Per-family prefix limits.
    pub max_prefix: Vec<MaxPrefix>,
    /// Graceful restart, if enabled.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Send-hold timer (RFC 9687): give up on a peer that does not read for this long.
    /// `None` uses max(8 minutes, 2 × hold time).
    pub send_hold_time: Option<Duration>,
    /// Our BGP Role on this session (RFC 9234 §3.1): announced in the BGP Role capability and
    /// checked against the peer's (§4.2); on IPv4/IPv6 unicast it also drives the
    /// Only-to-Customer rules (§5). `None`: no role, no capability; OTC is only carried.
    /// Roles describe relations between ASes, so on an iBGP session the role is ignored (not
    /// announced, not checked, no OTC rule): see [`PeerConfig::local_role`].
    pub role: Option<BgpRole>,
    /// Strict mode (RFC 9234 §4.2): refuse a peer whose OPEN carries no BGP Role capability
    /// with OPEN Message Error / Role Mismatch (2/11). Has no effect without a role in effect.
    pub strict_role: bool,
    /// Families in which we take several paths per route from the neighbour, each with its
    /// path identifier: our OPEN announces the ADD-PATH capability with mode "receive" for
    /// those of them that are also in `families` (RFC 7911 §4). It takes effect in a family
    /// only when the neighbour announces "send" (or "both") for it too. Empty: no ADD-PATH.
    pub add_path_receive: Vec<Family>,
}

impl PeerConfig {
    /// A neighbour with the defaults FRR and GoBGP users expect: hold time 90 s, connect-retry
    /// from 1 s backing off to 60 s, active, L2VPN EVPN only, no ADD-PATH.
    pub fn new(address: IpAddr, remote_asn: u32, local_asn: u32, router_id: Ipv4Addr) -> Self {
        PeerConfig {
            address,
            remote_asn,
            accept_any_external_asn: false,
            local_asn,
            router_id,
            hold_time: 90,
            connect_retry: Duration::from_secs(1),
            connect_retry_max: Duration::from_secs(60),
            passive: false,
            families: vec![Family::L2VPN_EVPN],
            route_reflector_client: false,
            max_prefix: Vec::new(),
            graceful_restart: None,
            send_hold_time: None,
            role: None,
            strict_role: false,
            add_path_receive: Vec::new(),
        }
    }

    /// True for an eBGP session.
    pub fn is_external(&self) -> bool {
        self.accept_any_external_asn || self.remote_asn != self.local_asn
    }

    /// The BGP Role in effect on this session: the configured role on an eBGP session, `None`
    /// on iBGP (RFC 9234 §3.1: roles are the relations between neighbouring ASes). The session
    /// announces it and the RIB applies the OTC rules with it
    /// ([`crate::rib::PeerInfo::local_role`]).
    pub fn local_role(&self) -> Option<BgpRole> {
        self.role.filter(|_| self.is_external())
    }
}
