//! The VRF tables (IP-VRFs, RFC 9135 §3): every route a tenant VRF holds, with every source
//! that offers a path for it, and the single place where installed paths change
//! ([`Engine::reinstall`]).
//!
//! ## Data structures (why every route costs O(1))
//! * One [`Entry`] per `(VRF, prefix)` holds the *candidates*: each source that offers a path
//!   (a connected subnet, a configured route, the winning host route, one per imported IP
//!   prefix route key; a GW-IP route whose overlay index does not resolve is a candidate
//!   without path). The installed paths are those of the most preferred origin present:
//!   connected, then configured, then host routes, then IP prefix routes (a local route is
//!   never shadowed by a remote one; several paths of the chosen origin form an ECMP set).
//!   Each change recomputes one entry from its few candidates and emits only the difference,
//!   new paths before the removal of old ones (a moving host route never leaves a gap).
//! * Router MACs are reference counted per `(VRF, VTEP)` by the installed remote paths:
//!   [`DataplaneIntent::RouterMac`] before the first route through the VTEP (and again when its
//!   MAC changes), [`DataplaneIntent::RemoveRouterMac`] after the last (RFC 9135 §8.1).
//! * Host-route claims (remote MAC/IP routes with label 2, RFC 9135 §5.2) sit per
//!   `(VRF, host IP)`; the winner follows the MAC mobility rules (RFC 7432 §15: the higher
//!   sequence number, then the lower VTEP), so a moving tenant's host route moves.
//! * GW-IP overlay indexes (RFC 9136 §3.2) are indexed by `(VRF, gateway IP)`: when the host
//!   route or the neighbour binding of that IP changes, only the routes depending on it are
//!   resolved again.

use super::import::ImportKey;
use super::Engine;
use crate::types::{DataplaneIntent, VrfName, VrfRouteOrigin, VrfRoutePath};
use evpnd_wire::{IpPrefix, MacAddress, Vni};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

/// Who offers a path for a VRF route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Source {
    /// The subnet of a gateway address on the IRB interface of this VNI.
    Connected(Vni),
    /// A configured route through this next hop.
    Static(IpAddr),
    /// The winning remote MAC/IP route of a host (one per host prefix).
    Host,
    /// The imported IP prefix route with this key.
    Prefix(ImportKey),
}

impl Source {
    pub(super) fn origin(&self) -> VrfRouteOrigin {
        match self {
            Source::Connected(_) => VrfRouteOrigin::Connected,
            Source::Static(_) => VrfRouteOrigin::Static,
            Source::Host => VrfRouteOrigin::HostRoute,
            Source::Prefix(_) => VrfRouteOrigin::IpPrefix,
        }
    }
}

/// One source's offer for a route: its path, `None` while a GW-IP overlay index is unresolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Candidate {
    pub(super) source: Source,
    pub(super) path: Option<VrfRoutePath>,
}

/// One route of a VRF table: its candidates and what is installed.
#[derive(Clone, Debug, Default)]
pub(super) struct Entry {
    pub(super) candidates: Vec<Candidate>,
    pub(super) origin: Option<VrfRouteOrigin>,
    pub(super) installed: Vec<VrfRoutePath>,
}

/// A remote MAC/IP route claiming a host IP of a VRF (symmetric IRB, RFC 9135 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HostClaim {
    pub(super) key: ImportKey,
    pub(super) vtep: IpAddr,
    pub(super) router_mac: MacAddress,
    pub(super) sequence: u32,
}

impl HostClaim {
    /// RFC 7432 §15: the higher sequence number wins, then the lower VTEP; then the route key.
    pub(super) fn rank(&self) -> (Reverse<u32>, IpAddr, ImportKey) {
        (Reverse(self.sequence), self.vtep, self.key)
    }
}

/// Where an imported IP prefix route leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PrefixTarget {
    /// Over the L3VNI to `vtep` (GW IP zero: the interface-less model, RFC 9136 §4.4.1).
    Remote {
        vtep: IpAddr,
        router_mac: MacAddress,
    },
    /// Through the GW-IP overlay index `gateway` (RFC 9136 §3.2), resolved recursively.
    Overlay { gateway: IpAddr, vtep: IpAddr },
}

/// The layer-3 contribution of one imported route key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum L3Route {
    /// A host route claim of a MAC/IP route (its claim sits in `hosts`).
    Host {
        vrf: VrfName,
        ip: IpAddr,
        claim: HostClaim,
    },
    /// An IP prefix route (its candidate sits in the table).
    Prefix {
        vrf: VrfName,
        prefix: IpPrefix,
        target: PrefixTarget,
    },
}

impl L3Route {
    pub(super) fn vrf(&self) -> VrfName {
        match self {
            L3Route::Host { vrf, .. } | L3Route::Prefix { vrf, .. } => *vrf,
        }
    }
}

/// Everything the engine holds for its tenant VRFs.
#[derive(Debug, Default)]
pub(super) struct L3State {
    /// The VRF tables, in (VRF, prefix) order (paging, longest-prefix match).
    pub(super) table: BTreeMap<(VrfName, IpPrefix), Entry>,
    /// Router MACs in use: the MAC and the installed remote paths through the VTEP.
    pub(super) router_macs: HashMap<(VrfName, IpAddr), (MacAddress, u32)>,
    /// Host-route claims per (VRF, host IP).
    pub(super) hosts: HashMap<(VrfName, IpAddr), Vec<HostClaim>>,
    /// The layer-3 contribution of each imported route key.
    pub(super) imported: HashMap<ImportKey, L3Route>,
    /// IP prefix routes whose GW-IP overlay index is this (VRF, IP).
    pub(super) overlay_users: HashMap<(VrfName, IpAddr), BTreeSet<ImportKey>>,
    /// The VRF of each L3VNI.
    pub(super) l3vnis: HashMap<Vni, VrfName>,
    /// The IP prefix routes this NVE originates, per VRF.
    pub(super) originated: BTreeMap<VrfName, BTreeSet<IpPrefix>>,
    /// This NVE's own gateway addresses per VRF, with the VNI whose IRB interface has each
    /// (several VNIs may, in different subnets of one address family only by mistake).
    pub(super) gateway_addresses: HashMap<(VrfName, IpAddr), Vni>,
}

/// What a path is keyed by in the data plane (a remote path by VTEP, whatever its MAC).
fn path_key(p: &VrfRoutePath) -> (u8, IpAddr, u32) {
    match *p {
        VrfRoutePath::Interface { vni } => (0, IpAddr::from([0, 0, 0, 0]), vni.get()),
        VrfRoutePath::Remote { vtep, .. } => (1, vtep, 0),
        VrfRoutePath::Gateway { via } => (2, via, 0),
    }
}

/// The host prefix (/32 or /128) of `ip`.
pub(super) fn host_prefix(ip: IpAddr) -> Option<IpPrefix> {
    IpPrefix::new(ip, if ip.is_ipv4() { 32 } else { 128 })
}

/// Where the installed paths of one `(vrf, prefix)` change: the router MAC reference counts
/// and the intent queue (fields of the engine beside its table, so that an entry of the table
/// is recomputed in place).
struct Installer<'a> {
    vrf: VrfName,
    prefix: IpPrefix,
    router_macs: &'a mut HashMap<(VrfName, IpAddr), (MacAddress, u32)>,
    intents: &'a mut VecDeque<DataplaneIntent>,
}

impl Installer<'_> {
    /// Recomputes the installed paths of `entry` from its candidates (those of the most
    /// preferred origin, one per path key, in key order) and emits the difference: new paths
    /// (with their router MAC first) before removals. True when the entry has no candidate
    /// left (the caller removes it).
    fn install_preferred(&mut self, entry: &mut Entry) -> bool {
        let origin = entry
            .candidates
            .iter()
            .filter(|c| c.path.is_some())
            .map(|c| c.source.origin())
            .min();
        let preferred = || {
            entry
                .candidates
                .iter()
                .filter(move |c| Some(c.source.origin()) == origin)
                .filter_map(|c| c.path)
        };
        // Sized exactly (usually one path), not the four a collect would start with.
        let mut new: Vec<VrfRoutePath> = Vec::with_capacity(preferred().count());
        new.extend(preferred());
        // Stable: of several candidates with one key, the first one offered stays.
        new.sort_by_key(path_key);
        new.dedup_by_key(|p| path_key(p));
        entry.origin = origin;
        let old = std::mem::replace(&mut entry.installed, new);
        for p in &entry.installed {
            let fresh = !old.iter().any(|o| path_key(o) == path_key(p));
            if let VrfRoutePath::Remote { vtep, router_mac } = *p {
                self.use_router_mac(vtep, router_mac, fresh);
            }
            if fresh {
                self.path_intent(*p, true);
            }
        }
        for p in &old {
            if !entry.installed.iter().any(|n| path_key(n) == path_key(p)) {
                self.path_intent(*p, false);
                if let VrfRoutePath::Remote { vtep, .. } = *p {
                    self.release_router_mac(vtep);
                }
            }
        }
        entry.candidates.is_empty()
    }

    /// The route intent of one path (connected subnets have none: the gateway makes them).
    fn path_intent(&mut self, p: VrfRoutePath, add: bool) {
        let (vrf, prefix) = (self.vrf, self.prefix);
        let intent = match (p, add) {
            (VrfRoutePath::Interface { .. }, _) => return,
            (VrfRoutePath::Remote { vtep, .. }, true) => {
                DataplaneIntent::RemoteRoute { vrf, prefix, vtep }
            }
            (VrfRoutePath::Remote { vtep, .. }, false) => {
                DataplaneIntent::RemoveRemoteRoute { vrf, prefix, vtep }
            }
            (VrfRoutePath::Gateway { via }, true) => {
                DataplaneIntent::GatewayRoute { vrf, prefix, via }
            }
            (VrfRoutePath::Gateway { via }, false) => {
                DataplaneIntent::RemoveGatewayRoute { vrf, prefix, via }
            }
        };
        self.intents.push_back(intent);
    }

    /// One more installed path through `vtep` (`fresh`), or an installed one whose MAC may
    /// have changed: the router MAC is announced before the first route and when it changes.
    fn use_router_mac(&mut self, vtep: IpAddr, mac: MacAddress, fresh: bool) {
        let vrf = self.vrf;
        let slot = self.router_macs.entry((vrf, vtep)).or_insert((mac, 0));
        let announce = slot.1 == 0 || slot.0 != mac;
        slot.0 = mac;
        if fresh {
            slot.1 = slot.1.saturating_add(1);
        }
        if announce && slot.1 > 0 {
            self.intents
                .push_back(DataplaneIntent::RouterMac { vrf, vtep, mac });
        } else if slot.1 == 0 {
            self.router_macs.remove(&(vrf, vtep));
        }
    }

    /// One installed path through `vtep` fewer: after the last, the router MAC goes.
    fn release_router_mac(&mut self, vtep: IpAddr) {
        let vrf = self.vrf;
        let Some(slot) = self.router_macs.get_mut(&(vrf, vtep)) else {
            return;
        };
        slot.1 = slot.1.saturating_sub(1);
        if slot.1 == 0 {
            self.router_macs.remove(&(vrf, vtep));
            self.intents
                .push_back(DataplaneIntent::RemoveRouterMac { vrf, vtep });
        }
    }
}

impl Engine {
    /// Sets (`Some`) or removes (`None`) the candidate of `source` for `(vrf, prefix)` and
    /// installs the difference (one table lookup: this runs once per imported route).
    pub(super) fn set_candidate(
        &mut self,
        vrf: VrfName,
        prefix: IpPrefix,
        source: Source,
        path: Option<Option<VrfRoutePath>>,
    ) {
        let l3 = &mut self.l3;
        let entry = l3.table.entry((vrf, prefix)).or_default();
        let at = entry.candidates.iter().position(|c| c.source == source);
        match (at, path) {
            (Some(i), Some(path)) => {
                if entry.candidates[i].path == path {
                    return;
                }
                entry.candidates[i].path = path;
            }
            (None, Some(path)) => {
                // Most routes have one source: room for exactly one (a first push would
                // allocate four, on a table of a hundred thousand routes).
                entry.candidates.reserve_exact(1);
                entry.candidates.push(Candidate { source, path });
            }
            (Some(i), None) => {
                entry.candidates.swap_remove(i);
            }
            (None, None) => {
                if entry.candidates.is_empty() && entry.installed.is_empty() {
                    l3.table.remove(&(vrf, prefix));
                }
                return;
            }
        }
        let mut out = Installer {
            vrf,
            prefix,
            router_macs: &mut l3.router_macs,
            intents: &mut self.intents,
        };
        if out.install_preferred(entry) {
            l3.table.remove(&(vrf, prefix));
        }
    }

    /// Recomputes the installed paths of `(vrf, prefix)` from its candidates and emits the
    /// difference: new paths (with their router MAC first) before removals.
    pub(super) fn reinstall(&mut self, vrf: VrfName, prefix: IpPrefix) {
        let l3 = &mut self.l3;
        let Some(entry) = l3.table.get_mut(&(vrf, prefix)) else {
            return;
        };
        let mut out = Installer {
            vrf,
            prefix,
            router_macs: &mut l3.router_macs,
            intents: &mut self.intents,
        };
        if out.install_preferred(entry) {
            l3.table.remove(&(vrf, prefix));
        }
    }
    /// The winning host claim of `(vrf, ip)`.
    pub(super) fn host_winner(&self, vrf: VrfName, ip: IpAddr) -> Option<HostClaim> {
        self.l3
            .hosts
            .get(&(vrf, ip))?
            .iter()
            .min_by_key(|c| c.rank())
            .copied()
    }

    /// Installs the winner of the host claims on `(vrf, ip)` as its host route, and resolves
    /// again the IP prefix routes whose overlay index is `ip`.
    pub(super) fn settle_host(&mut self, vrf: VrfName, ip: IpAddr) {
        let winner = self.host_winner(vrf, ip);
        if winner.is_none() {
            self.l3.hosts.remove(&(vrf, ip));
        }
        let Some(prefix) = host_prefix(ip) else {
            return;
        };
        let path = winner.map(|w| {
            Some(VrfRoutePath::Remote {
                vtep: w.vtep,
                router_mac: w.router_mac,
            })
        });
        self.set_candidate(vrf, prefix, Source::Host, path);
        self.resolve_overlay_users(vrf, ip);
    }

    /// The path a GW-IP overlay index `gateway` resolves to in `vrf` (RFC 9136 §3.2): the
    /// host route of the gateway (its VTEP and router MAC), or, on a local connected subnet
    /// where the gateway has a neighbour binding, the gateway itself as next hop.
    pub(super) fn resolve_overlay(&self, vrf: VrfName, gateway: IpAddr) -> Option<VrfRoutePath> {
        if let Some(w) = self.host_winner(vrf, gateway) {
            return Some(VrfRoutePath::Remote {
                vtep: w.vtep,
                router_mac: w.router_mac,
            });
        }
        let vni = self.connected_vni(vrf, gateway)?;
        let bound = self.local_ips.contains_key(&(vni, gateway))
            || self
                .ips
                .get(&(vni, gateway))
                .is_some_and(|r| r.installed.is_some());
        bound.then_some(VrfRoutePath::Gateway { via: gateway })
    }

    /// The VNI of the local connected subnet of `vrf` holding `ip` (longest match).
    pub(super) fn connected_vni(&self, vrf: VrfName, ip: IpAddr) -> Option<Vni> {
        let width = if ip.is_ipv4() { 32u8 } else { 128 };
        (0..=width).rev().find_map(|len| {
            let prefix = IpPrefix::new(ip, len)?;
            self.l3
                .table
                .get(&(vrf, prefix))?
                .candidates
                .iter()
                .find_map(|c| match c.source {
                    Source::Connected(vni) => Some(vni),
                    _ => None,
                })
        })
    }

    /// Resolves again every IP prefix route whose overlay index is `(vrf, gateway)`.
    pub(super) fn resolve_overlay_users(&mut self, vrf: VrfName, gateway: IpAddr) {
        let Some(keys) = self.l3.overlay_users.get(&(vrf, gateway)) else {
            return;
        };
        let keys: Vec<ImportKey> = keys.iter().copied().collect();
        let path = self.resolve_overlay(vrf, gateway);
        for key in keys {
            if let Some(L3Route::Prefix { prefix, .. }) = self.l3.imported.get(&key).copied() {
                self.set_candidate(vrf, prefix, Source::Prefix(key), Some(path));
            }
        }
    }

    /// Resolves again every overlay index of `vrf` (after its connected subnets changed).
    pub(super) fn resolve_all_overlays(&mut self, vrf: VrfName) {
        let gateways: Vec<IpAddr> = self
            .l3
            .overlay_users
            .keys()
            .filter(|(v, _)| *v == vrf)
            .map(|(_, ip)| *ip)
            .collect();
        for gateway in gateways {
            self.resolve_overlay_users(vrf, gateway);
        }
    }

    /// The IP binding of `(vni, ip)` changed: routes using `ip` as overlay index follow.
    pub(super) fn binding_changed(&mut self, vni: Vni, ip: IpAddr) {
        if self.l3.overlay_users.is_empty() {
            return;
        }
        if let Some(vrf) = self.evis.get(&vni).and_then(|e| e.vrf) {
            self.resolve_overlay_users(vrf, ip);
        }
    }
}
