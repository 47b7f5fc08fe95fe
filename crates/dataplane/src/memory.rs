//! The in-memory data plane: the tables a kernel VTEP would hold, applied from deltas exactly.

use crate::{Dataplane, DataplaneIntent};
use evpnd_evpn::{PortName, VrfName};
use evpnd_wire::{IpPrefix, MacAddress, Vni};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// A tenant VRF as the data plane holds it (RFC 9135 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VrfEntry {
    /// The L3VNI (symmetric IRB), if any.
    pub l3vni: Option<Vni>,
    /// This NVE's router MAC in the VRF.
    pub router_mac: MacAddress,
}

/// An anycast gateway address on a VNI's IRB interface (RFC 9135 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayEntry {
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The gateway MAC.
    pub mac: MacAddress,
}

/// One path of a VRF route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoutePath {
    /// Over the L3VNI to a remote VTEP (symmetric IRB, IP prefix routes).
    Remote(IpAddr),
    /// Through a next hop on a local subnet.
    Gateway(IpAddr),
}

/// The paths of one VRF route (its ECMP set), in order, each once. Most routes have one
/// path: it is held inline, so a route costs no allocation of its own; two or more are kept
/// in a sorted vector. The representation is canonical (none, one, or a vector of two or
/// more), so equal sets compare equal whatever their history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutePaths(PathsRepr);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum PathsRepr {
    #[default]
    None,
    One(RoutePath),
    /// Sorted, at least two.
    Many(Vec<RoutePath>),
}

impl RoutePaths {
    /// The paths in order.
    pub fn as_slice(&self) -> &[RoutePath] {
        match &self.0 {
            PathsRepr::None => &[],
            PathsRepr::One(p) => std::slice::from_ref(p),
            PathsRepr::Many(v) => v,
        }
    }

    /// The paths in order.
    pub fn iter(&self) -> std::slice::Iter<'_, RoutePath> {
        self.as_slice().iter()
    }

    /// How many paths.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when there is no path.
    pub fn is_empty(&self) -> bool {
        matches!(self.0, PathsRepr::None)
    }

    /// True when `path` is one of them.
    pub fn contains(&self, path: &RoutePath) -> bool {
        self.as_slice().binary_search(path).is_ok()
    }

    /// Adds `path`; false when it is there already.
    pub fn insert(&mut self, path: RoutePath) -> bool {
        match &mut self.0 {
            PathsRepr::None => self.0 = PathsRepr::One(path),
            PathsRepr::One(p) if *p == path => return false,
            PathsRepr::One(p) => {
                let mut v = vec![*p, path];
                v.sort_unstable();
                self.0 = PathsRepr::Many(v);
            }
            PathsRepr::Many(v) => match v.binary_search(&path) {
                Ok(_) => return false,
                Err(at) => v.insert(at, path),
            },
        }
        true
    }

    /// Removes `path`; false when it is not there.
    pub fn remove(&mut self, path: &RoutePath) -> bool {
        match &mut self.0 {
            PathsRepr::None => false,
            PathsRepr::One(p) => {
                let here = p == path;
                if here {
                    self.0 = PathsRepr::None;
                }
                here
            }
            PathsRepr::Many(v) => {
                let Ok(at) = v.binary_search(path) else {
                    return false;
                };
                v.remove(at);
                if let [only] = v.as_slice() {
                    self.0 = PathsRepr::One(*only);
                }
                true
            }
        }
    }
}

impl<'a> IntoIterator for &'a RoutePaths {
    type Item = &'a RoutePath;
    type IntoIter = std::slice::Iter<'a, RoutePath>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<RoutePath> for RoutePaths {
    fn from_iter<I: IntoIterator<Item = RoutePath>>(paths: I) -> RoutePaths {
        let mut set = RoutePaths::default();
        for p in paths {
            set.insert(p);
        }
        set
    }
}

/// A remote FDB entry: where frames for a MAC go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// The remote VTEP.
    pub vtep: IpAddr,
    /// Static at that VTEP (RFC 7432 §15.2): local learning must not override it.
    pub sticky: bool,
}

/// A proxy ARP/ND binding (RFC 9161 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEntry {
    /// The MAC the IP resolves to.
    pub mac: MacAddress,
    /// ND router flag (RFC 9047 §3.1).
    pub router: bool,
    /// Attached locally rather than learned from a remote route.
    pub local: bool,
}

/// A delta that does not fit the tables: the engine and the data plane disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inconsistent {
    /// The refused intent.
    pub intent: DataplaneIntent,
}

impl fmt::Display for Inconsistent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.intent {
            DataplaneIntent::Flood { .. } => {
                "a flood entry that is already there, or of an unknown VNI"
            }
            DataplaneIntent::Vni { .. } => "a VNI that is already there",
            DataplaneIntent::RemoveVni { .. } => "a VNI that is not there or still holds entries",
            DataplaneIntent::Port { .. } => "a port already plugged in, or of an unknown VNI",
            DataplaneIntent::Vrf { .. } => "a VRF that is already there",
            DataplaneIntent::RemoveVrf { .. } => "a VRF that is not there or still holds entries",
            DataplaneIntent::RemoteRoute { .. } | DataplaneIntent::GatewayRoute { .. } => {
                "a path already there, of an unknown VRF, or through a VTEP without router MAC"
            }
            DataplaneIntent::RemoveRouterMac { .. } => {
                "a router MAC that is not there or still carries routes"
            }
            _ => "an entry that is not there, or of an unknown VNI",
        };
        write!(f, "inconsistent data-plane delta {:?}: {what}", self.intent)
    }
}

impl std::error::Error for Inconsistent {}

/// The tables a kernel data plane would hold, kept in memory (see the crate notes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryDataplane {
    /// The broadcast domains: VNI → the tenant ports plugged into it.
    pub vnis: BTreeMap<Vni, BTreeSet<PortName>>,
    /// Remote FDB: (VNI, MAC) → VTEP.
    pub fdb: BTreeMap<(Vni, MacAddress), FdbEntry>,
    /// Ingress-replication flood lists: VNI → remote VTEPs (RFC 8365 §9).
    pub flood: BTreeMap<Vni, BTreeSet<IpAddr>>,
    /// Proxy ARP/ND: (VNI, IP) → MAC.
    pub neigh: BTreeMap<(Vni, IpAddr), NeighEntry>,
    /// Tenant VRFs (RFC 9135 §3): name → L3VNI and router MAC.
    pub vrfs: BTreeMap<VrfName, VrfEntry>,
    /// The VRF of each VNI that has an IRB interface.
    pub vni_vrf: BTreeMap<Vni, VrfName>,
    /// Anycast gateway addresses: (VNI, address) → prefix length and MAC.
    pub gateways: BTreeMap<(Vni, IpAddr), GatewayEntry>,
    /// Remote router MACs: (VRF, VTEP) → MAC (RFC 9135 §8.1).
    pub router_macs: BTreeMap<(VrfName, IpAddr), MacAddress>,
    /// VRF routing tables: (VRF, prefix) → its paths (an ECMP set).
    pub routes: BTreeMap<(VrfName, IpPrefix), RoutePaths>,
    /// Intents applied (refused ones included).
    pub applied: u64,
    /// Intents refused as inconsistent.
    pub errors: u64,
}

impl MemoryDataplane {
    /// True when the tables hold nothing.
    pub fn is_empty(&self) -> bool {
        self.vnis.is_empty()
            && self.fdb.is_empty()
            && self.flood.is_empty()
            && self.neigh.is_empty()
            && self.vrfs.is_empty()
            && self.gateways.is_empty()
            && self.router_macs.is_empty()
            && self.routes.is_empty()
    }

    /// The same tables without the counters: two data planes that hold the same entries
    /// compare equal through this whatever their history.
    pub fn tables(&self) -> MemoryDataplane {
        MemoryDataplane {
            vnis: self.vnis.clone(),
            fdb: self.fdb.clone(),
            flood: self.flood.clone(),
            neigh: self.neigh.clone(),
            vrfs: self.vrfs.clone(),
            vni_vrf: self.vni_vrf.clone(),
            gateways: self.gateways.clone(),
            router_macs: self.router_macs.clone(),
            routes: self.routes.clone(),
            applied: 0,
            errors: 0,
        }
    }

    /// True when `vni` holds no entry and no port.
    fn vni_is_empty(&self, vni: Vni) -> bool {
        let in_vni = |(v, _): &(Vni, _)| *v == vni;
        self.vnis.get(&vni).is_none_or(BTreeSet::is_empty)
            && !self.fdb.keys().any(in_vni)
            && !self.flood.contains_key(&vni)
            && !self.neigh.keys().any(|(v, _)| *v == vni)
            && !self.gateways.keys().any(|(v, _)| *v == vni)
    }

    /// True when nothing refers to `vrf` any more.
    fn vrf_is_empty(&self, vrf: VrfName) -> bool {
        !self.vni_vrf.values().any(|v| *v == vrf)
            && !self.router_macs.keys().any(|(v, _)| *v == vrf)
            && !self.routes.keys().any(|(v, _)| *v == vrf)
    }

    /// Adds a path to `(vrf, prefix)`; false when the VRF is unknown or the path is there.
    fn add_path(&mut self, vrf: VrfName, prefix: IpPrefix, path: RoutePath) -> bool {
        self.add_path_then(vrf, prefix, path).is_some()
    }

    /// [`Self::add_path`], answering the route's paths after the change (what the kernel
    /// backend writes) from the same lookup; `None` when refused.
    fn add_path_then(
        &mut self,
        vrf: VrfName,
        prefix: IpPrefix,
        path: RoutePath,
    ) -> Option<&RoutePaths> {
        if !self.vrfs.contains_key(&vrf) {
            return None;
        }
        if let RoutePath::Remote(vtep) = path {
            // A route over the L3VNI needs the router MAC of its VTEP first.
            let symmetric = self.vrfs.get(&vrf).is_some_and(|v| v.l3vni.is_some());
            if !symmetric || !self.router_macs.contains_key(&(vrf, vtep)) {
                return None;
            }
        }
        let paths = self.routes.entry((vrf, prefix)).or_default();
        paths.insert(path).then_some(&*paths)
    }

    /// Removes a path of `(vrf, prefix)`; false when it is not there.
    fn remove_path(&mut self, vrf: VrfName, prefix: IpPrefix, path: RoutePath) -> bool {
        self.remove_path_then(vrf, prefix, path).is_some()
    }

    /// [`Self::remove_path`], answering the paths left (none when the route is gone) from
    /// the same lookup; `None` when the path was not there.
    fn remove_path_then(
        &mut self,
        vrf: VrfName,
        prefix: IpPrefix,
        path: RoutePath,
    ) -> Option<RoutePaths> {
        match self.routes.entry((vrf, prefix)) {
            std::collections::btree_map::Entry::Vacant(_) => None,
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if !e.get_mut().remove(&path) {
                    return None;
                }
                if e.get().is_empty() {
                    e.remove();
                    Some(RoutePaths::default())
                } else {
                    Some(e.get().clone())
                }
            }
        }
    }

    /// Applies a route intent (`RemoteRoute`, `GatewayRoute` and their removals) as
    /// [`Dataplane::apply`] does, answering the route's paths after the change from the same
    /// table lookup (the kernel backend builds its request from them: no second lookup per
    /// route). `Ok(None)` for any other intent, which is not applied here.
    pub(crate) fn apply_route(
        &mut self,
        intent: &DataplaneIntent,
    ) -> Result<Option<RoutePaths>, Inconsistent> {
        let done = match *intent {
            DataplaneIntent::RemoteRoute { vrf, prefix, vtep } => self
                .add_path_then(vrf, prefix, RoutePath::Remote(vtep))
                .cloned(),
            DataplaneIntent::RemoveRemoteRoute { vrf, prefix, vtep } => {
                self.remove_path_then(vrf, prefix, RoutePath::Remote(vtep))
            }
            DataplaneIntent::GatewayRoute { vrf, prefix, via } => self
                .add_path_then(vrf, prefix, RoutePath::Gateway(via))
                .cloned(),
            DataplaneIntent::RemoveGatewayRoute { vrf, prefix, via } => {
                self.remove_path_then(vrf, prefix, RoutePath::Gateway(via))
            }
            _ => return Ok(None),
        };
        self.applied += 1;
        match done {
            Some(paths) => Ok(Some(paths)),
            None => {
                self.errors += 1;
                Err(Inconsistent { intent: *intent })
            }
        }
    }

    fn apply_delta(&mut self, intent: &DataplaneIntent) -> bool {
        if let Some(vni) = entry_vni(intent) {
            if !self.vnis.contains_key(&vni) {
                return false;
            }
        }
        match *intent {
            DataplaneIntent::Vni { vni, vrf } => {
                if self.vnis.contains_key(&vni) || vrf.is_some_and(|v| !self.vrfs.contains_key(&v))
                {
                    return false;
                }
                self.vnis.insert(vni, BTreeSet::new());
                if let Some(vrf) = vrf {
                    self.vni_vrf.insert(vni, vrf);
                }
                true
            }
            DataplaneIntent::RemoveVni { vni } => {
                let removed = self.vnis.contains_key(&vni)
                    && self.vni_is_empty(vni)
                    && self.vnis.remove(&vni).is_some();
                if removed {
                    self.vni_vrf.remove(&vni);
                }
                removed
            }
            DataplaneIntent::Vrf {
                vrf,
                l3vni,
                router_mac,
            } => self
                .vrfs
                .insert(vrf, VrfEntry { l3vni, router_mac })
                .is_none(),
            DataplaneIntent::RemoveVrf { vrf } => {
                self.vrfs.contains_key(&vrf)
                    && self.vrf_is_empty(vrf)
                    && self.vrfs.remove(&vrf).is_some()
            }
            DataplaneIntent::Gateway {
                vni,
                address,
                prefix_len,
                mac,
            } => {
                // A gateway needs the VNI's IRB interface, which only a VNI in a VRF has.
                self.vni_vrf.contains_key(&vni)
                    && self
                        .gateways
                        .insert((vni, address), GatewayEntry { prefix_len, mac })
                        .is_none()
            }
            DataplaneIntent::RemoveGateway {
                vni,
                address,
                prefix_len,
            } => {
                self.gateways.get(&(vni, address)).map(|g| g.prefix_len) == Some(prefix_len)
                    && self.gateways.remove(&(vni, address)).is_some()
            }
            DataplaneIntent::RouterMac { vrf, vtep, mac } => {
                // Replaces an earlier MAC of the same VTEP.
                self.vrfs.get(&vrf).is_some_and(|v| v.l3vni.is_some()) && {
                    self.router_macs.insert((vrf, vtep), mac);
                    true
                }
            }
            DataplaneIntent::RemoveRouterMac { vrf, vtep } => {
                let in_use = self
                    .routes
                    .iter()
                    .any(|((v, _), paths)| *v == vrf && paths.contains(&RoutePath::Remote(vtep)));
                !in_use && self.router_macs.remove(&(vrf, vtep)).is_some()
            }
            DataplaneIntent::RemoteRoute { vrf, prefix, vtep } => {
                self.add_path(vrf, prefix, RoutePath::Remote(vtep))
            }
            DataplaneIntent::RemoveRemoteRoute { vrf, prefix, vtep } => {
                self.remove_path(vrf, prefix, RoutePath::Remote(vtep))
            }
            DataplaneIntent::GatewayRoute { vrf, prefix, via } => {
                self.add_path(vrf, prefix, RoutePath::Gateway(via))
            }
            DataplaneIntent::RemoveGatewayRoute { vrf, prefix, via } => {
                self.remove_path(vrf, prefix, RoutePath::Gateway(via))
            }
            DataplaneIntent::Port { vni, port } => {
                self.vnis.get_mut(&vni).is_some_and(|p| p.insert(port))
            }
            DataplaneIntent::RemovePort { vni, port } => {
                self.vnis.get_mut(&vni).is_some_and(|p| p.remove(&port))
            }
            DataplaneIntent::Synced => true,
            DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            } => {
                // Replaces an earlier entry for the same MAC: a move re-points it.
                self.fdb.insert((vni, mac), FdbEntry { vtep, sticky });
                true
            }
            DataplaneIntent::RemoveRemoteMac { vni, mac } => self.fdb.remove(&(vni, mac)).is_some(),
            DataplaneIntent::Flood { vni, vtep } => self.flood.entry(vni).or_default().insert(vtep),
            DataplaneIntent::RemoveFlood { vni, vtep } => {
                let removed = self.flood.get_mut(&vni).is_some_and(|s| s.remove(&vtep));
                if self.flood.get(&vni).is_some_and(BTreeSet::is_empty) {
                    self.flood.remove(&vni);
                }
                removed
            }
            DataplaneIntent::Neighbor {
                vni,
                ip,
                mac,
                router,
                local,
            } => {
                self.neigh
                    .insert((vni, ip), NeighEntry { mac, router, local });
                true
            }
            DataplaneIntent::RemoveNeighbor { vni, ip } => self.neigh.remove(&(vni, ip)).is_some(),
        }
    }
}

/// The VNI an entry or port intent belongs to (`None` for the VNI intents themselves and
/// [`DataplaneIntent::Synced`]).
fn entry_vni(intent: &DataplaneIntent) -> Option<Vni> {
    match *intent {
        DataplaneIntent::RemoteMac { vni, .. }
        | DataplaneIntent::RemoveRemoteMac { vni, .. }
        | DataplaneIntent::Flood { vni, .. }
        | DataplaneIntent::RemoveFlood { vni, .. }
        | DataplaneIntent::Neighbor { vni, .. }
        | DataplaneIntent::RemoveNeighbor { vni, .. }
        | DataplaneIntent::Port { vni, .. }
        | DataplaneIntent::RemovePort { vni, .. } => Some(vni),
        DataplaneIntent::Gateway { vni, .. } | DataplaneIntent::RemoveGateway { vni, .. } => {
            Some(vni)
        }
        DataplaneIntent::Vni { .. }
        | DataplaneIntent::RemoveVni { .. }
        | DataplaneIntent::Synced
        | DataplaneIntent::Vrf { .. }
        | DataplaneIntent::RemoveVrf { .. }
        | DataplaneIntent::RouterMac { .. }
        | DataplaneIntent::RemoveRouterMac { .. }
        | DataplaneIntent::RemoteRoute { .. }
        | DataplaneIntent::RemoveRemoteRoute { .. }
        | DataplaneIntent::GatewayRoute { .. }
        | DataplaneIntent::RemoveGatewayRoute { .. } => None,
    }
}

impl Dataplane for MemoryDataplane {
    fn apply(&mut self, intent: &DataplaneIntent) -> Result<(), Inconsistent> {
        self.applied += 1;
        if self.apply_delta(intent) {
            Ok(())
        } else {
            self.errors += 1;
            Err(Inconsistent { intent: *intent })
        }
    }

    fn memory(&self) -> Option<&MemoryDataplane> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
