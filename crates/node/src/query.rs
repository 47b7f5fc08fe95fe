//! Queries: typed, transport-free views of the node's state (what `evpnctl show …` prints and
//! the API serves). Rendering is the driver's business.

use crate::error::CommandError;
use crate::evpn::EvpnCounters;
use crate::node::Node;
use crate::peer::PeerSlot;
use evpnd_bgp::rib::{FamilyCounters, Path, PathAttrs, RouteSource};
use evpnd_bgp::session::State;
use evpnd_bgp::PeerId;
use evpnd_dataplane::{FdbEntry, MemoryDataplane, NeighEntry};
use evpnd_evpn::{Location, MacEntry, NeighborEntry, VniSummary, VrfSummary};
use evpnd_wire::{EvpnRoute, Family, MacAddress, Notification, Route, RouteDistinguisher, Vni};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// A NOTIFICATION and how long ago it passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationView {
    /// The message.
    pub notification: Notification,
    /// Its age at the time of the query.
    pub age: Duration,
}

/// One neighbour as `show neighbors` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborView {
    /// Its address.
    pub address: IpAddr,
    /// Its AS: as configured, or for a dynamic neighbour the one it announced once
    /// Established (0 before, when its group takes any external AS).
    pub remote_asn: u32,
    /// Our AS on the session.
    pub local_asn: u32,
    /// The session state (RFC 4271 §8.2.2).
    pub state: State,
    /// Time in Established (`None` when not Established).
    pub uptime: Option<Duration>,
    /// Its BGP identifier, when Established.
    pub peer_router_id: Option<Ipv4Addr>,
    /// Negotiated families, when Established.
    pub families: Vec<Family>,
    /// Routes received, accepted and advertised per family.
    pub counters: Vec<FamilyCounters>,
    /// The last NOTIFICATION we sent.
    pub last_notification_sent: Option<NotificationView>,
    /// The last NOTIFICATION it sent.
    pub last_notification_received: Option<NotificationView>,
    /// The negotiated hold time, or the configured one when not Established.
    pub hold_time: u16,
    /// A route-reflector client (RFC 4456).
    pub route_reflector_client: bool,
    /// We never connect; it does.
    pub passive: bool,
    /// How many times the session reached Established.
    pub established_count: u64,
    /// Why the last connection ended, in words.
    pub last_error: Option<String>,
    /// The peer group of a dynamic neighbour (`None`: configured).
    pub group: Option<String>,
}

/// Which routes [`Node::routes`] lists; every `None` field matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteFilter {
    /// One family (EVPN, RT-Constraint, IPv4 or IPv6 unicast).
    pub family: Option<Family>,
    /// One EVPN route type (1–5).
    pub route_type: Option<u8>,
    /// One route distinguisher.
    pub rd: Option<RouteDistinguisher>,
    /// Type-2 routes of one MAC.
    pub mac: Option<MacAddress>,
    /// Routes of one VNI: the label of type 1, 2 and 5 routes, the PMSI tunnel label of type 3
    /// (RFC 8365 §5.1.3, §9).
    pub vni: Option<u32>,
    /// Routes whose paths (the best one with `best_only`) carry this route target.
    pub route_target: Option<evpnd_wire::RouteTarget>,
    /// Type-2 routes binding this IP, type-5 routes whose prefix holds it.
    pub ip: Option<IpAddr>,
    /// Routes with a path from this source (the best one with `best_only`).
    pub peer: Option<PathSource>,
    /// EVPN routes of one tenant VRF: type-2 routes with a label 2 (symmetric IRB, RFC 9135
    /// §4.1) and type-5 routes (RFC 9136), whose best path carries a route target one of the
    /// VRF's import rules accepts. The VRF must exist ([`Node::known_vrf`] checks it).
    pub vrf: Option<evpnd_evpn::VrfName>,
    /// List only the best path of each route.
    pub best_only: bool,
}

/// Where a path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSource {
    /// Originated here.
    Local,
    /// Received from the neighbour at this address.
    Peer(IpAddr),
}

/// One path of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathView {
    /// The path with its attributes (and, for EVPN, the route as this path carries it).
    pub path: Path,
    /// Chosen as best.
    pub best: bool,
    /// Who sent it.
    pub source: PathSource,
    /// LOCAL_PREF, the default where the path has none (RFC 4271 §9.1.1).
    pub local_pref: u32,
}

/// A route with all its paths, best first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteView {
    /// The family.
    pub family: Family,
    /// The route as advertised (its best path's labels, ESI and gateway).
    pub route: Route,
    /// The paths, best first.
    pub paths: Vec<PathView>,
}

/// The engine's identity and counters (`show vnis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvpnStatus {
    /// The local VTEP.
    pub vtep: IpAddr,
    /// Counters since the node started.
    pub counters: EvpnCounters,
}

/// The families [`Node::routes`] lists, in order.
pub(crate) const LISTED_FAMILIES: [Family; 4] = [
    Family::L2VPN_EVPN,
    Family::RT_CONSTRAINT,
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
];

impl RouteFilter {
    /// True when `route` (with `paths`, best first) passes the filter.
    pub fn matches(&self, route: &Route, paths: &[Path]) -> bool {
        let evpn = match route {
            Route::Evpn(e) => Some(e),
            _ => None,
        };
        if let Some(t) = self.route_type {
            if evpn.is_none_or(|e| e.route_type() != t) {
                return false;
            }
        }
        if let Some(rd) = self.rd {
            if evpn.is_none_or(|e| e.rd() != rd) {
                return false;
            }
        }
        if let Some(mac) = self.mac {
            if !matches!(evpn, Some(EvpnRoute::MacIp(r)) if r.mac == mac) {
                return false;
            }
        }
        if let Some(ip) = self.ip {
            let hit = match evpn {
                Some(EvpnRoute::MacIp(r)) => r.ip == Some(ip),
                Some(EvpnRoute::IpPrefix(r)) => prefix_holds(r.prefix, r.prefix_len, ip),
                _ => false,
            };
            if !hit {
                return false;
            }
        }
        if let Some(vni) = self.vni {
            if route_vni(route, paths.first().map(|p| &*p.attrs)) != Some(vni) {
                return false;
            }
        }
        true
    }
}

/// The VNI an EVPN route belongs to: the label of type 1, 2 and 5 routes, the PMSI tunnel
/// label of the best path (`best`) of type 3 (RFC 8365 §5.1.3, §9); `None` for other routes.
pub(crate) fn route_vni(route: &Route, best: Option<&PathAttrs>) -> Option<u32> {
    let route_vni = match route {
        Route::Evpn(EvpnRoute::MacIp(r)) => Some(r.label1.vni()),
        Route::Evpn(EvpnRoute::IpPrefix(r)) => Some(r.label.vni()),
        Route::Evpn(EvpnRoute::EthernetAd(r)) => Some(r.label.vni()),
        Route::Evpn(_) => None,
        _ => return None,
    };
    let pmsi_vni = best
        .and_then(|a| a.pmsi_tunnel.as_ref())
        .map(|t| t.label.vni());
    route_vni.or(pmsi_vni)
}

/// True when `ip` lies inside `prefix`/`len` (same family; a length beyond the address width
/// counts as the full width).
fn prefix_holds(prefix: IpAddr, len: u8, ip: IpAddr) -> bool {
    let width = if prefix.is_ipv4() { 32 } else { 128 };
    evpnd_wire::IpPrefix::new(prefix, len.min(width))
        .is_some_and(|p| crate::validate::prefix_holds(p, ip))
}

impl Node {
    /// Every neighbour with its session state and counters, in configuration order.
    pub fn neighbors(&self, now: Instant) -> Vec<NeighborView> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| self.neighbor_view(i, p, now)))
            .collect()
    }

    /// Neighbour `i` as listed.
    pub(crate) fn neighbor_view(&self, i: usize, p: &PeerSlot, now: Instant) -> NeighborView {
        let notification = |n: &Option<(Notification, Instant)>| {
            n.as_ref().map(|(n, at)| NotificationView {
                notification: n.clone(),
                age: now.saturating_duration_since(*at),
            })
        };
        let s = &p.session;
        let stats = s.stats();
        let cfg = &p.config.peer;
        let neg = s.negotiated().filter(|_| p.established);
        NeighborView {
            address: cfg.address,
            remote_asn: neg.map_or(cfg.remote_asn, |n| n.peer_asn),
            local_asn: cfg.local_asn,
            state: s.state(),
            uptime: stats
                .established_since
                .filter(|_| p.established)
                .map(|t| now.saturating_duration_since(t)),
            peer_router_id: neg.map(|n| n.peer_router_id),
            families: neg.map(|n| n.families.clone()).unwrap_or_default(),
            counters: self.rib.peer_counters(PeerId(i as u32)).families,
            last_notification_sent: notification(&stats.last_notification_sent),
            last_notification_received: notification(&stats.last_notification_received),
            hold_time: neg.map_or(cfg.hold_time, |n| n.hold_time),
            route_reflector_client: cfg.route_reflector_client,
            passive: cfg.passive,
            established_count: stats.established_count,
            last_error: stats.last_error.clone(),
            group: p.group.clone(),
        }
    }

    /// The address of neighbour `id` (also of a removed one, while its routes are listed).
    pub fn peer_address_of(&self, id: PeerId) -> Option<IpAddr> {
        self.peers
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .map(|p| p.address())
    }

    /// The routes matching `filter`, family by family, each with all its paths best first.
    pub fn routes<'a>(&'a self, filter: &'a RouteFilter) -> impl Iterator<Item = RouteView> + 'a {
        let default_local_pref = self.rib.config().default_local_pref;
        LISTED_FAMILIES
            .into_iter()
            .filter(move |f| filter.family.is_none_or(|want| want == *f))
            .flat_map(move |family| {
                self.rib
                    .loc_rib(family)
                    .filter(move |(route, paths)| filter.matches(route, paths))
                    .filter(move |(route, paths)| {
                        filter
                            .vrf
                            .is_none_or(|v| self.route_in_vrf(v, route, paths))
                    })
                    .map(move |(route, paths)| {
                        self.route_view(family, route, paths, default_local_pref)
                    })
                    .filter(move |v| filter.matches_paths(v))
                    .map(move |mut v| {
                        if filter.best_only {
                            v.paths.truncate(1);
                        }
                        v
                    })
            })
    }

    /// A route with its paths as listed: sources by address, LOCAL_PREF defaulted.
    pub(crate) fn route_view(
        &self,
        family: Family,
        route: Route,
        paths: Vec<Path>,
        default_local_pref: u32,
    ) -> RouteView {
        RouteView {
            family,
            route,
            paths: paths
                .into_iter()
                .enumerate()
                .map(|(i, path)| self.path_view(path, i == 0, default_local_pref))
                .collect(),
        }
    }

    /// One path as listed: its source by address, LOCAL_PREF defaulted.
    pub(crate) fn path_view(&self, path: Path, best: bool, default_local_pref: u32) -> PathView {
        PathView {
            best,
            source: match path.source {
                RouteSource::Local => PathSource::Local,
                RouteSource::Peer(id) => self
                    .peer_address_of(id)
                    .map_or(PathSource::Local, PathSource::Peer),
            },
            local_pref: path.attrs.local_pref.unwrap_or(default_local_pref),
            path,
        }
    }

    /// The engine's identity and counters (`None`: no engine).
    pub fn evpn_status(&self) -> Option<EvpnStatus> {
        self.evpn.as_ref().map(|e| EvpnStatus {
            vtep: e.vtep(),
            counters: e.counters,
        })
    }

    /// The VNIs a query covers: every EVI for 0, else the one asked for (which must exist).
    fn query_vnis(&self, vni: u32) -> Result<Vec<Vni>, CommandError> {
        if vni != 0 {
            return self.known_vni(vni).map(|v| vec![v]);
        }
        let e = self.evpn.as_ref().ok_or_else(|| {
            CommandError::precondition(
                "vni",
                "the EVPN engine is off: configure [evpn] vtep and [[vni]]",
            )
        })?;
        Ok(e.engine.evis().map(|e| e.vni).collect())
    }

    /// One row per EVI with its RD, route targets and table sizes.
    pub fn vnis(&self) -> Result<Vec<VniSummary>, CommandError> {
        self.query_vnis(0)?;
        Ok(self
            .evpn
            .as_ref()
            .map(|e| e.engine.vni_summaries())
            .unwrap_or_default())
    }

    /// One row per tenant VRF, by name: RD, route targets, router MAC, L3VNI, its VNIs and
    /// table sizes (`evpnctl show vrfs`).
    pub fn vrfs(&self) -> Result<Vec<VrfSummary>, CommandError> {
        self.query_vnis(0)?;
        Ok(self
            .evpn
            .as_ref()
            .map(|e| e.engine.vrf_summaries())
            .unwrap_or_default())
    }

    /// The row of VRF `name` (which must exist).
    pub fn vrf(&self, name: &str) -> Result<VrfSummary, CommandError> {
        let v = self.known_vrf(name)?;
        self.vrfs()?
            .into_iter()
            .find(|s| s.vrf.name == v)
            .ok_or_else(|| CommandError::not_found("vrf", format!("no VRF {name}")))
    }

    /// The route of VRF `name` that `ip` matches (longest prefix), its sources and what is
    /// installed (`None`: no route holds it): the routed path of `explain ip --vrf`.
    pub fn explain_route(
        &self,
        name: &str,
        ip: IpAddr,
    ) -> Result<Option<evpnd_evpn::RouteExplanation>, CommandError> {
        let vrf = self.known_vrf(name)?;
        Ok(self
            .evpn
            .as_ref()
            .and_then(|e| e.engine.explain_route(vrf, ip)))
    }

    /// True when `route` (best path first in `paths`) belongs to VRF `vrf`: a type-2 route
    /// with a label 2 (the L3VNI, RFC 9135 §5.1) or a type-5 route (RFC 9136 §3), whose best
    /// path carries a route target the VRF imports. False for an unknown VRF.
    pub(crate) fn route_in_vrf(
        &self,
        vrf: evpnd_evpn::VrfName,
        route: &Route,
        paths: &[Path],
    ) -> bool {
        let routed = match route {
            Route::Evpn(EvpnRoute::MacIp(r)) => r.label2.is_some(),
            Route::Evpn(EvpnRoute::IpPrefix(_)) => true,
            _ => false,
        };
        if !routed {
            return false;
        }
        let Some(v) = self.evpn.as_ref().and_then(|e| e.engine.vrf(vrf)) else {
            return false;
        };
        let Some(best) = paths.first() else {
            return false;
        };
        let rts: Vec<evpnd_wire::RouteTarget> = best
            .attrs
            .route_targets()
            .filter_map(|c| match c.kind() {
                evpnd_wire::ExtCommunityKind::RouteTarget(rt) => Some(rt),
                _ => None,
            })
            .collect();
        v.imports(rts.iter())
    }

    /// The data plane's last word on each VNI's devices (forwarding, or why not); VNIs it said
    /// nothing about are absent.
    pub fn dataplane_links(&self) -> std::collections::BTreeMap<Vni, (bool, Option<String>)> {
        self.evpn
            .as_ref()
            .map(|e| e.links.clone())
            .unwrap_or_default()
    }

    /// The row of EVI `vni` (which must exist) with its RD, route targets and table sizes.
    pub fn vni(&self, vni: u32) -> Result<VniSummary, CommandError> {
        let v = self.known_vni(vni)?;
        self.evpn
            .as_ref()
            .and_then(|e| e.engine.vni_summary(v))
            .ok_or_else(|| CommandError::not_found("vni", format!("no EVI for VNI {vni}")))
    }

    /// The data plane's last word on the devices of `vni` (`None`: it said nothing).
    pub fn dataplane_link(&self, vni: Vni) -> Option<(bool, Option<String>)> {
        self.evpn.as_ref().and_then(|e| e.links.get(&vni).cloned())
    }

    /// The MAC table of `vni` (0: every VNI).
    pub fn macs(&self, vni: u32) -> Result<Vec<MacEntry>, CommandError> {
        let vnis = self.query_vnis(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(Vec::new());
        };
        Ok(vnis
            .into_iter()
            .flat_map(|v| e.engine.mac_table(v))
            .collect())
    }

    /// The flood list of `vni` (0: every VNI): remote VTEPs from type-3 routes.
    pub fn flood(&self, vni: u32) -> Result<Vec<(Vni, Vec<IpAddr>)>, CommandError> {
        let vnis = self.query_vnis(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(Vec::new());
        };
        Ok(vnis
            .into_iter()
            .map(|v| (v, e.engine.flood_list(v)))
            .collect())
    }

    /// The proxy ARP/ND table of `vni` (0: every VNI).
    pub fn arp(&self, vni: u32) -> Result<Vec<NeighborEntry>, CommandError> {
        let vnis = self.query_vnis(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(Vec::new());
        };
        Ok(vnis
            .into_iter()
            .flat_map(|v| e.engine.neighbors(v))
            .collect())
    }

    /// The data plane the engine's tables call for: what a data plane that applied every
    /// intent so far must hold. Tests, the simulator and the fuzzer compare it with their
    /// [`MemoryDataplane`].
    pub fn expected_dataplane(&self) -> MemoryDataplane {
        let mut want = MemoryDataplane::default();
        let Some(e) = &self.evpn else {
            return want;
        };
        for evi in e.engine.evis() {
            let vni = evi.vni;
            want.vnis.insert(vni, e.engine.ports(vni).collect());
            for m in e.engine.mac_table(vni) {
                if let Location::Remote { vtep } = m.origin {
                    want.fdb.insert(
                        (vni, m.mac),
                        FdbEntry {
                            vtep,
                            sticky: m.sticky,
                        },
                    );
                }
            }
            let list = e.engine.flood_list(vni);
            if !list.is_empty() {
                want.flood.insert(vni, list.into_iter().collect());
            }
            for n in e.engine.neighbors(vni) {
                want.neigh.insert(
                    (vni, n.ip),
                    NeighEntry {
                        mac: n.mac,
                        router: n.router,
                        local: n.origin == Location::Local,
                    },
                );
            }
        }
        want
    }
}
