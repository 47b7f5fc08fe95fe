//! The public types of the RIB: its configuration, what it is told about a peer, the paths and
//! best-path changes it reports, and its counters.

use super::PathAttrs;
use crate::config::{MaxPrefix, PeerId};
use crate::session::max_prefix_notification;
use evpnd_wire::capability::BgpRole;
use evpnd_wire::{CodecContext, ExtendedCommunity, Family, Notification, Route};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Settings of the speaker that the RIB needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS.
    pub local_asn: u32,
    /// Our BGP identifier (ORIGINATOR_ID loop check, RFC 4456 §8).
    pub router_id: Ipv4Addr,
    /// Our cluster id as a route reflector (RFC 4456 §7); usually the router id.
    pub cluster_id: Ipv4Addr,
    /// LOCAL_PREF given to paths without one (external and local paths), RFC 4271 §9.1.1.
    pub default_local_pref: u32,
    /// How long EVPN routes are held back from a peer that negotiated RT-Constraint while its
    /// RT-Constraint End-of-RIB has not arrived (RFC 4684 §6); zero sends at once, filtered
    /// by the memberships known then. Default [`RibConfig::DEFAULT_RTC_END_OF_RIB_WAIT`].
    pub rtc_end_of_rib_wait: Duration,
}

impl RibConfig {
    /// Default of [`RibConfig::rtc_end_of_rib_wait`]: 30 seconds. A peer sends its
    /// memberships, then End-of-RIB, right after the session comes up, so the wait normally
    /// ends within a round trip; the timer only matters for a peer that never sends an
    /// End-of-RIB, which then gets its routes a third of a default hold time (90 s) late
    /// rather than unfiltered or never.
    pub const DEFAULT_RTC_END_OF_RIB_WAIT: Duration = Duration::from_secs(30);

    /// The usual settings: cluster id = router id, default LOCAL_PREF 100, RT-Constraint
    /// End-of-RIB wait [`RibConfig::DEFAULT_RTC_END_OF_RIB_WAIT`].
    pub fn new(local_asn: u32, router_id: Ipv4Addr) -> Self {
        RibConfig {
            local_asn,
            router_id,
            cluster_id: router_id,
            default_local_pref: 100,
            rtc_end_of_rib_wait: Self::DEFAULT_RTC_END_OF_RIB_WAIT,
        }
    }
}

/// An established session, as the RIB needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The neighbour.
    pub id: PeerId,
    /// Its address (last best-path tie-break).
    pub address: IpAddr,
    /// Its AS.
    pub asn: u32,
    /// Its BGP identifier, from its OPEN (ORIGINATOR_ID when reflecting its routes).
    pub router_id: Ipv4Addr,
    /// The session is eBGP.
    pub external: bool,
    /// The neighbour is a route-reflector client (RFC 4456).
    pub rr_client: bool,
    /// Families negotiated on the session (RFC 4760 §8).
    pub families: Vec<Family>,
    /// Encoding context for what we send (4-octet AS, extended messages, ADD-PATH send).
    pub tx: CodecContext,
    /// Per-family prefix limits (RFC 4486 §4).
    pub max_prefix: Vec<MaxPrefix>,
    /// Our BGP Role on the session (RFC 9234 §3.1), from
    /// [`PeerConfig::local_role`](crate::config::PeerConfig::local_role): on an eBGP session
    /// it applies the Only-to-Customer ingress and egress rules (§5) to the IPv4 and IPv6
    /// unicast routes exchanged with the peer. `None` (and on iBGP): OTC is only carried.
    pub local_role: Option<BgpRole>,
}

impl PeerInfo {
    /// A session with `families`, the default encoding context, no prefix limit and no BGP
    /// Role.
    pub fn new(
        id: PeerId,
        address: IpAddr,
        asn: u32,
        router_id: Ipv4Addr,
        external: bool,
        families: Vec<Family>,
    ) -> Self {
        PeerInfo {
            id,
            address,
            asn,
            router_id,
            external,
            rr_client: false,
            families,
            tx: CodecContext {
                external_peer: external,
                ..CodecContext::default()
            },
            max_prefix: Vec::new(),
            local_role: None,
        }
    }
}

/// Where a path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteSource {
    /// Originated by this speaker ([`Rib::originate`](super::Rib::originate)).
    Local,
    /// Received from a peer.
    Peer(PeerId),
}

/// One path of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// The route as this path carries it: the route key with this path's own non-key NLRI
    /// fields (EVPN labels, ESI, gateway IP; `attrs.nlri_extras`). Paths of one route share
    /// the key fields and may differ in these (RFC 7432 §7.2, RFC 9136 §3.1).
    pub route: Route,
    /// Who sent it.
    pub source: RouteSource,
    /// ADD-PATH path identifier (RFC 7911), when received with one.
    pub path_id: Option<u32>,
    /// The interned attributes.
    pub attrs: Arc<PathAttrs>,
    /// Kept from a restarting peer until its End-of-RIB or the restart timer (RFC 4724 §4.2).
    pub stale: bool,
}

/// A change of best path, for the EVPN engine and the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestChange {
    /// The family.
    pub family: Family,
    /// The route as the new best path carries it (its labels, ESI, gateway IP); when the route
    /// is gone, as the previous best path carried it.
    pub route: Route,
    /// The new best path; `None` when the route is gone.
    pub best: Option<Path>,
}

impl BestChange {
    /// True when the new best path carries one of `route_targets` (import filtering).
    pub fn has_route_target(&self, route_targets: &[ExtendedCommunity]) -> bool {
        self.best
            .as_ref()
            .is_some_and(|p| p.attrs.route_targets().any(|rt| route_targets.contains(rt)))
    }
}

/// A peer sent more routes of a family than its limit (RFC 4486 §4). The daemon closes the
/// session with [`Self::notification`] (Cease / Maximum Number of Prefixes Reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPrefixExceeded {
    /// The family.
    pub family: Family,
    /// The configured limit.
    pub limit: u32,
}

impl MaxPrefixExceeded {
    /// The Cease / Maximum Number of Prefixes Reached NOTIFICATION for this limit (RFC 4486
    /// §4), built by [`max_prefix_notification`]: pass it to
    /// [`Input::Stop`](crate::session::Input::Stop).
    pub fn notification(&self) -> Notification {
        max_prefix_notification(self.family, self.limit)
    }
}

impl fmt::Display for MaxPrefixExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {} {} routes", self.limit, self.family)
    }
}

impl std::error::Error for MaxPrefixExceeded {}

/// Route counts of one peer in one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FamilyCounters {
    /// The family.
    pub family: Family,
    /// Routes announced by the peer since the session came up (every NLRI, accepted or not).
    pub received: u64,
    /// Paths from the peer currently held (loop-rejected and withdrawn ones excluded).
    pub accepted: u64,
    /// Routes currently advertised to the peer.
    pub advertised: u64,
}

impl FamilyCounters {
    /// Zero counts for `family`.
    pub(super) fn new(family: Family) -> Self {
        FamilyCounters {
            family,
            received: 0,
            accepted: 0,
            advertised: 0,
        }
    }
}

/// Route counts of one peer, per family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// One entry per family seen on the session.
    pub families: Vec<FamilyCounters>,
}

impl PeerCounters {
    /// The counters of `family` (zero when none).
    pub fn family(&self, family: Family) -> FamilyCounters {
        self.families
            .iter()
            .find(|c| c.family == family)
            .copied()
            .unwrap_or(FamilyCounters::new(family))
    }
}

/// Work counters of the RIB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RibStats {
    /// Encodings made: one per group (or private dump) and attribute set per batch, and one
    /// per withdrawal batch. Members of a group share them.
    pub encodings: u64,
    /// UPDATE messages encoded.
    pub messages: u64,
    /// Bytes encoded.
    pub bytes: u64,
    /// Batches that could not be encoded (their routes were not sent).
    pub encode_errors: u64,
    /// The last encoding error.
    pub last_encode_error: Option<String>,
    /// Paths refused by the loop checks (AS_PATH, ORIGINATOR_ID, CLUSTER_LIST, first AS).
    pub loops_rejected: u64,
    /// Paths refused as route leaks by the Only-to-Customer ingress rules (RFC 9234 §5).
    pub leaks_rejected: u64,
}
