//! The engine's inputs and outputs: endpoint attachments, routes for the speaker, data-plane
//! deltas, events and the rows of its tables.

use evpnd_wire::{IpPrefix, MacAddress, NextHop, Nlri, PathAttribute, Vni};
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

/// A local endpoint as the orchestrator (or kernel learning) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The L2VNI the endpoint sits in.
    pub vni: Vni,
    /// Its MAC address.
    pub mac: MacAddress,
    /// An IP address bound to the MAC, if known (one MAC may carry several: attach once per IP).
    pub ip: Option<IpAddr>,
    /// A static MAC: never moves, advertised with the sticky bit (RFC 7432 §15.2).
    pub sticky: bool,
    /// The IP belongs to a router (the ND R flag, RFC 9047 §3.1; IPv6 only).
    pub router: bool,
    /// A static IP↔MAC binding: advertised immutable (the ARP/ND I flag, RFC 9047 §3.1), and a
    /// remote claim of the IP by another MAC does not displace it.
    pub static_binding: bool,
    /// The host interface the endpoint sits behind (the host side of a container's veth or a
    /// VM's tap): the data plane plugs it into the VNI's bridge while an endpoint uses it.
    pub port: Option<PortName>,
}

impl Attachment {
    /// A dynamic endpoint: `mac` (and `ip`) in `vni`, no flags.
    pub fn new(vni: Vni, mac: MacAddress, ip: Option<IpAddr>) -> Self {
        Attachment {
            vni,
            mac,
            ip,
            sticky: false,
            router: false,
            static_binding: false,
            port: None,
        }
    }
}

/// The name of a host network interface (a tenant port): 1 to 15 bytes, as Linux allows
/// (`IFNAMSIZ` is 16 with the terminating NUL), without `/`, whitespace, `:` or control
/// characters, and neither `.` nor `..`. A fixed-size value so that intents stay `Copy`; ordered
/// as its text (so tables list names alphabetically).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortName {
    len: u8,
    bytes: [u8; 15],
}

impl PortName {
    /// The longest name Linux accepts.
    pub const MAX_LEN: usize = 15;

    /// The least value in the order (the empty name; never a valid port, only a range bound).
    pub const MIN: PortName = PortName {
        len: 0,
        bytes: [0; 15],
    };

    /// Checks `name` and wraps it; the error says what is wrong with it.
    pub fn new(name: &str) -> Result<PortName, String> {
        if name.is_empty() {
            return Err("an interface name cannot be empty".into());
        }
        if name.len() > Self::MAX_LEN {
            return Err(format!(
                "interface name {name:?} is {} bytes long (at most {})",
                name.len(),
                Self::MAX_LEN
            ));
        }
        if name == "." || name == ".." {
            return Err(format!("{name:?} is not a valid interface name"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "interface name {name:?} contains {c:?} (no '/', ':', whitespace or control characters)"
            ));
        }
        let mut bytes = [0u8; 15];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(PortName {
            len: name.len() as u8,
            bytes,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` of at most 15 bytes, so always valid UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl PortName {
    /// The name as one big-endian integer (its 15 bytes, then a zero byte): names hold no NUL
    /// (control characters are refused) and the unused tail is zero, so integers order as the
    /// texts do (a prefix first), and compare in one instruction.
    fn order_key(&self) -> u128 {
        let mut wide = [0u8; 16];
        wide[..15].copy_from_slice(&self.bytes);
        u128::from_be_bytes(wide)
    }
}

impl Ord for PortName {
    /// The order of the text (names are keys of the large VRF route tables: no UTF-8 check or
    /// `memcmp` call per comparison).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

impl PartialOrd for PortName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The name of a tenant VRF (IP-VRF, RFC 9135 §3): the same rules as an interface name
/// ([`PortName`]), because the VRF-device model names its Linux `vrf` device after it. A
/// fixed-size value so that intents stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VrfName(PortName);

impl VrfName {
    /// The least value in the order (never a valid VRF, only a range bound).
    pub const MIN: VrfName = VrfName(PortName::MIN);

    /// Checks `name` and wraps it; the error says what is wrong with it.
    pub fn new(name: &str) -> Result<VrfName, String> {
        PortName::new(name).map(VrfName).map_err(|e| {
            e.replace("an interface name", "a VRF name")
                .replace("interface name", "VRF name")
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for VrfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for VrfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// True for an address an endpoint or a VTEP can own: not unspecified, multicast, broadcast or
/// loopback. An endpoint or VTEP address must be reachable over the fabric: the unspecified
/// address is never assigned to a node (RFC 4291 §2.5.2, RFC 1122 §3.2.1.3), multicast and the
/// limited broadcast address name groups rather than one host, and loopback addresses never
/// leave their own host (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3).
///
/// The engine refuses an attachment whose IP fails this ([`EngineError::InvalidIp`]) and
/// installs a remote MAC+IP route whose IP fails it for its MAC only.
pub fn is_host_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
        }
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
    }
}

/// A route for the BGP speaker to advertise or withdraw (family L2VPN EVPN). The daemon hands
/// it to `evpnd_bgp::rib::Rib::originate` / `Rib::withdraw_local`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChange {
    /// Advertise `nlri` (replacing any earlier route with the same route key).
    Originate {
        /// The EVPN route.
        nlri: Nlri,
        /// Its path attributes: EXTENDED_COMMUNITIES (export RTs, VXLAN encapsulation, MAC
        /// mobility when the sequence is above 0 or the MAC is sticky, ARP/ND for IPv6 and
        /// static bindings) and, for type 3, PMSI_TUNNEL.
        attributes: Vec<PathAttribute>,
        /// The next hop: the local VTEP (RFC 8365 §5.1.3).
        next_hop: NextHop,
    },
    /// Withdraw the route with the route key of `nlri`.
    Withdraw {
        /// The EVPN route as it was advertised.
        nlri: Nlri,
    },
}

/// A change the data plane must apply (a delta: each add is matched by one removal later).
///
/// Order within one VNI: [`DataplaneIntent::Vni`] comes before anything else of that VNI, and
/// [`DataplaneIntent::RemoveVni`] after the removal of everything it held (entries and ports).
/// Within one VRF: [`DataplaneIntent::Vrf`] first (and before the `Vni` of its L2VNIs), a
/// [`DataplaneIntent::RouterMac`] before the routes through its VTEP, and
/// [`DataplaneIntent::RemoveVrf`] last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataplaneIntent {
    /// An EVI (MAC-VRF) of VLAN-based service exists for `vni` (RFC 8365 §5.1.2): the data plane
    /// provides its broadcast domain (on Linux: a bridge and a VXLAN device).
    Vni {
        /// The VNI.
        vni: Vni,
        /// The tenant VRF whose IRB interface this broadcast domain has (RFC 9135 §3), if any:
        /// the data plane creates the domain inside that VRF (announced before by
        /// [`DataplaneIntent::Vrf`]).
        vrf: Option<VrfName>,
    },
    /// The EVI of `vni` is gone: what the data plane created for it goes too.
    RemoveVni {
        /// The VNI.
        vni: Vni,
    },
    /// Plug the tenant port `port` into the broadcast domain of `vni`.
    Port {
        /// The VNI.
        vni: Vni,
        /// The host interface.
        port: PortName,
    },
    /// Release the tenant port `port` from `vni` (it stays on the host, unplugged).
    RemovePort {
        /// The VNI.
        vni: Vni,
        /// The host interface.
        port: PortName,
    },
    /// Every table now holds what the control plane knows after a start: entries the data
    /// plane still holds from before it (a restart) and that no intent renewed are stale and
    /// may go. Sent once per start, after the End-of-RIB of every neighbour or a timeout.
    Synced,
    /// Forward frames for `mac` in `vni` to the remote `vtep` (FDB entry; replaces an earlier
    /// entry for the same `(vni, mac)`).
    RemoteMac {
        /// The VNI.
        vni: Vni,
        /// The MAC address.
        mac: MacAddress,
        /// The remote VTEP.
        vtep: IpAddr,
        /// The MAC is static (sticky) at that VTEP: the data plane must not let local
        /// learning override it.
        sticky: bool,
    },
    /// Remove the remote FDB entry for `(vni, mac)`.
    RemoveRemoteMac {
        /// The VNI.
        vni: Vni,
        /// The MAC address.
        mac: MacAddress,
    },
    /// Add `vtep` to the ingress-replication flood list of `vni` (RFC 8365 §9).
    Flood {
        /// The VNI.
        vni: Vni,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// Remove `vtep` from the flood list of `vni`.
    RemoveFlood {
        /// The VNI.
        vni: Vni,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// An IP↔MAC binding the data plane answers ARP/ND requests from (proxy ARP/ND, RFC 9161
    /// §3); replaces an earlier binding of `(vni, ip)`. Local bindings are included, so that
    /// entries the orchestrator gave never age out.
    Neighbor {
        /// The VNI.
        vni: Vni,
        /// The IP address.
        ip: IpAddr,
        /// Its MAC address.
        mac: MacAddress,
        /// The IP is a router's (ND R flag, RFC 9047): answer Neighbor Solicitations with R set.
        router: bool,
        /// The binding is local (attached here) rather than learned from a remote route.
        local: bool,
    },
    /// Remove the binding of `(vni, ip)`.
    RemoveNeighbor {
        /// The VNI.
        vni: Vni,
        /// The IP address.
        ip: IpAddr,
    },
    /// A tenant VRF (IP-VRF, RFC 9135 §3) exists: the data plane gives it its own routing table
    /// (a network namespace or a VRF device) and, with `l3vni` (symmetric IRB, RFC 9135 §5),
    /// the L3VNI's broadcast domain whose MAC is `router_mac` (the Router's MAC extended
    /// community, RFC 9135 §8.1). Comes before anything else of the VRF.
    Vrf {
        /// The VRF.
        vrf: VrfName,
        /// The L3VNI (symmetric IRB); `None` in asymmetric IRB.
        l3vni: Option<Vni>,
        /// This NVE's router MAC in the VRF.
        router_mac: MacAddress,
    },
    /// The VRF is gone: comes after the removal of everything it held.
    RemoveVrf {
        /// The VRF.
        vrf: VrfName,
    },
    /// The IRB interface of `vni` answers as gateway `address/prefix_len` with MAC `mac` (the
    /// distributed anycast gateway, RFC 9135 §4.1: the same address and MAC on every NVE); the
    /// subnet becomes a connected route of the VNI's VRF. After the VNI's `Vni` intent.
    Gateway {
        /// The VNI.
        vni: Vni,
        /// The gateway address.
        address: IpAddr,
        /// The subnet's prefix length.
        prefix_len: u8,
        /// The gateway MAC.
        mac: MacAddress,
    },
    /// The gateway address is gone from the IRB interface of `vni`.
    RemoveGateway {
        /// The VNI.
        vni: Vni,
        /// The gateway address.
        address: IpAddr,
        /// The subnet's prefix length.
        prefix_len: u8,
    },
    /// The remote NVE `vtep` has router MAC `mac` in `vrf` (symmetric IRB, RFC 9135 §5.2, §8.1):
    /// the data plane makes frames routed towards `vtep` over the L3VNI carry `mac` as their
    /// inner destination (on Linux: an FDB entry on the L3VNI device and a neighbour entry for
    /// the VTEP). Comes before any [`DataplaneIntent::RemoteRoute`] through `vtep`; replaces an
    /// earlier MAC of the same `(vrf, vtep)`.
    RouterMac {
        /// The VRF.
        vrf: VrfName,
        /// The remote VTEP.
        vtep: IpAddr,
        /// Its router MAC.
        mac: MacAddress,
    },
    /// The router MAC of `vtep` in `vrf` is no longer used (after its last route went).
    RemoveRouterMac {
        /// The VRF.
        vrf: VrfName,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// Route `prefix` in `vrf` to the remote NVE `vtep` over the L3VNI (a symmetric IRB host
    /// route, RFC 9135 §5.2, or an IP prefix route, RFC 9136 §4.4.1). Several paths for one
    /// prefix form an ECMP route.
    RemoteRoute {
        /// The VRF.
        vrf: VrfName,
        /// The destination.
        prefix: IpPrefix,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// Remove the path of `prefix` through `vtep`.
    RemoveRemoteRoute {
        /// The VRF.
        vrf: VrfName,
        /// The destination.
        prefix: IpPrefix,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// Route `prefix` in `vrf` through `via`, an address on one of the VRF's local subnets
    /// (a configured route behind a local tenant router, or an IP prefix route whose gateway
    /// IP overlay index resolves on a local subnet, RFC 9136 §3.2). Joins the ECMP set of
    /// `prefix`.
    GatewayRoute {
        /// The VRF.
        vrf: VrfName,
        /// The destination.
        prefix: IpPrefix,
        /// The next hop on a local subnet.
        via: IpAddr,
    },
    /// Remove the path of `prefix` through `via`.
    RemoveGatewayRoute {
        /// The VRF.
        vrf: VrfName,
        /// The destination.
        prefix: IpPrefix,
        /// The next hop.
        via: IpAddr,
    },
}

/// Where a MAC (or the MAC of an IP) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// Attached locally (orchestrator or kernel learning).
    Local,
    /// Behind a remote VTEP (the best path's next hop).
    Remote {
        /// The VTEP.
        vtep: IpAddr,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local => f.write_str("local"),
            Location::Remote { vtep } => write!(f, "{vtep}"),
        }
    }
}

/// The name used before locations had their own type.
pub type MacOrigin = Location;

/// Duplicate-detection state of a MAC or IP (RFC 7432 §15.1, RFC 9161 duplicate-IP detection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DuplicateState {
    /// Moves are being counted normally.
    Normal,
    /// Detected as duplicate: not advertised, forwarding frozen at its location until
    /// `until` (`None`: until an operator clears it).
    Frozen {
        /// When the freeze ends by itself.
        until: Option<Instant>,
    },
}

/// One row of the MAC table (`evpnctl show macs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The VNI.
    pub vni: Vni,
    /// The MAC address.
    pub mac: MacAddress,
    /// Where the MAC is (for a frozen MAC: where it was frozen).
    pub origin: Location,
    /// MAC mobility sequence number (RFC 7432 §15): as received for remote entries, as
    /// advertised for local ones.
    pub sequence: u32,
    /// Static (sticky) MAC (RFC 7432 §15.2).
    pub sticky: bool,
    /// IP addresses bound to the MAC (from MAC+IP routes or local attachments).
    pub ips: Vec<IpAddr>,
    /// When the entry last changed location (the `now` of that input).
    pub since: Instant,
    /// Moves counted inside the current detection window.
    pub moves: u32,
    /// Duplicate detection state.
    pub duplicate: DuplicateState,
    /// The MAC is attached locally but a remote VTEP holds it sticky (or the reverse): the
    /// losing claim is neither advertised nor installed (RFC 7432 §15.2).
    pub sticky_conflict: bool,
}

/// One row of the proxy ARP/ND table (`evpnctl show arp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborEntry {
    /// The VNI.
    pub vni: Vni,
    /// The IP address.
    pub ip: IpAddr,
    /// Its MAC address.
    pub mac: MacAddress,
    /// Local binding or learned from a remote VTEP.
    pub origin: Location,
    /// ND router flag (RFC 9047).
    pub router: bool,
    /// Immutable (static) binding (RFC 9047 I flag).
    pub immutable: bool,
    /// Duplicate IP detection state (RFC 9161 duplicate-IP detection).
    pub duplicate: DuplicateState,
}

/// A summary row per EVI (`evpnctl show vnis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VniSummary {
    /// The EVI with its RD and route targets.
    pub evi: crate::ResolvedEvi,
    /// Locally attached MACs.
    pub local_macs: usize,
    /// Remote MACs installed.
    pub remote_macs: usize,
    /// Remote VTEPs in the flood list.
    pub flood_vteps: usize,
    /// IP↔MAC bindings (local and remote).
    pub neighbors: usize,
    /// MACs and IPs currently frozen as duplicates.
    pub duplicates: usize,
    /// Tenant ports plugged into the VNI, in name order.
    pub ports: Vec<PortName>,
}

/// A summary row per tenant VRF (`evpnctl show vrfs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfSummary {
    /// The VRF with its RD, route targets and router MAC.
    pub vrf: crate::ResolvedVrf,
    /// The L2VNIs whose IRB interface is in the VRF, in VNI order.
    pub vnis: Vec<Vni>,
    /// Host routes from remote MAC/IP routes (symmetric IRB).
    pub host_routes: usize,
    /// Routes from remote IP prefix routes (RFC 9136).
    pub prefix_routes: usize,
    /// Connected subnets (gateway addresses) and configured routes.
    pub local_routes: usize,
    /// Remote NVEs whose router MAC is in use.
    pub remote_vteps: usize,
}

/// Where a route of a VRF table comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VrfRouteOrigin {
    /// A subnet of a local gateway address (an IRB interface).
    Connected,
    /// A configured route towards a local tenant router.
    Static,
    /// A remote MAC/IP route's host route (symmetric IRB, RFC 9135).
    HostRoute,
    /// A remote IP prefix route (RFC 9136).
    IpPrefix,
}

/// One path of a VRF route as the engine installed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VrfRoutePath {
    /// On the IRB interface of a local VNI (a connected subnet).
    Interface {
        /// The VNI.
        vni: Vni,
    },
    /// Over the L3VNI to a remote NVE with its router MAC.
    Remote {
        /// The remote VTEP.
        vtep: IpAddr,
        /// Its router MAC.
        router_mac: MacAddress,
    },
    /// Through a next hop on a local subnet.
    Gateway {
        /// The next hop.
        via: IpAddr,
    },
}

/// One route of a VRF table (`evpnctl show ip-routes`): what evpnd installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfRoute {
    /// The VRF.
    pub vrf: VrfName,
    /// The destination.
    pub prefix: IpPrefix,
    /// Where it comes from.
    pub origin: VrfRouteOrigin,
    /// Its paths (several: ECMP).
    pub paths: Vec<VrfRoutePath>,
}

/// What a MAC or IP event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A MAC address.
    Mac(MacAddress),
    /// An IP address (duplicate IP detection).
    Ip(IpAddr),
}

/// Something operators and metrics care about (drained with `Engine::poll_event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// A MAC appeared in the table.
    Learned {
        /// The VNI.
        vni: Vni,
        /// The MAC address.
        mac: MacAddress,
        /// Where.
        at: Location,
    },
    /// A MAC moved between VTEPs (RFC 7432 §15): `sequence` is the winning route's.
    Moved {
        /// The VNI.
        vni: Vni,
        /// The MAC address.
        mac: MacAddress,
        /// Old location.
        from: Location,
        /// New location.
        to: Location,
        /// MAC mobility sequence number of the new location.
        sequence: u32,
    },
    /// A MAC left the table.
    Removed {
        /// The VNI.
        vni: Vni,
        /// The MAC address.
        mac: MacAddress,
    },
    /// `moves` moves inside the detection window: the MAC or IP is a duplicate and now frozen
    /// at `at` (RFC 7432 §15.1, RFC 9161 duplicate-IP detection).
    Duplicate {
        /// The VNI.
        vni: Vni,
        /// The MAC or IP.
        subject: Subject,
        /// Where it is frozen (for an IP: the location of its MAC binding).
        at: Location,
        /// When the freeze ends by itself (`None`: permanent until cleared).
        until: Option<Instant>,
    },
    /// A freeze ended: by expiry or by the operator.
    Unfrozen {
        /// The VNI.
        vni: Vni,
        /// The MAC or IP.
        subject: Subject,
        /// An operator cleared it (rather than the freeze timer).
        by_operator: bool,
    },
    /// A sticky MAC was claimed elsewhere (RFC 7432 §15.2): the claim is ignored.
    StickyConflict {
        /// The VNI.
        vni: Vni,
        /// The MAC address.
        mac: MacAddress,
        /// Where the MAC is sticky.
        sticky_at: Location,
        /// Where it was claimed.
        claimed_at: Location,
    },
}

/// An input the engine refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// No EVI is configured for the VNI.
    UnknownVni(Vni),
    /// The MAC is a broadcast/multicast address or all zeros: not an endpoint.
    InvalidMac(MacAddress),
    /// The IP is unspecified, multicast, broadcast or loopback: not an endpoint address
    /// ([`is_host_address`]).
    InvalidIp(IpAddr),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::UnknownVni(v) => write!(f, "no EVI configured for VNI {v}"),
            EngineError::InvalidMac(m) => {
                write!(f, "{m} is not a unicast MAC address")
            }
            EngineError::InvalidIp(ip) => write!(f, "{ip} is not a unicast host address"),
        }
    }
}

impl std::error::Error for EngineError {}

#[cfg(test)]
mod tests {
    use super::is_host_address;
    use std::net::IpAddr;

    #[test]
    fn names_order_as_their_text() {
        use super::{PortName, VrfName};
        let v = |s: &str| VrfName::new(s).unwrap();
        assert!(v("blue") < v("red"), "alphabetical, not by length");
        assert!(v("red") < v("redder"));
        assert!(PortName::MIN < PortName::new("a").unwrap());
        // The byte order of the text, whatever the lengths (a prefix first).
        let mut names = vec![
            "b",
            "a",
            "ab",
            "a-1",
            "aa",
            "A",
            "z0",
            "abcdefghijklmno",
            "é",
        ];
        let mut ports: Vec<PortName> = names.iter().map(|n| PortName::new(n).unwrap()).collect();
        names.sort_unstable();
        ports.sort_unstable();
        assert_eq!(
            ports.iter().map(PortName::as_str).collect::<Vec<_>>(),
            names
        );
        assert_eq!(VrfName::new("").unwrap_err(), "a VRF name cannot be empty");
    }

    #[test]
    fn host_addresses_are_unicast_and_reachable_over_the_fabric() {
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        for good in ["192.0.2.10", "198.18.0.1", "2001:db8::1", "fe80::1"] {
            assert!(is_host_address(addr(good)), "{good}");
        }
        for bad in [
            "0.0.0.0",
            "224.0.0.1",
            "239.1.2.3",
            "255.255.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "::",
            "ff02::1",
            "::1",
        ] {
            assert!(!is_host_address(addr(bad)), "{bad}");
        }
    }
}
