//! Tenant VRFs (IP-VRFs, RFC 9135 §3): adding, reconfiguring and removing them, the layer-3
//! part of their EVIs (anycast gateways and connected subnets, RFC 9135 §4.1), and their
//! operator views (`evpnctl show vrfs`, `show ip-routes`, `explain ip`).
//!
//! An EVI naming a VRF that does not exist is bridged only: it gets no IRB interface, no
//! gateways and no symmetric attributes (the node validates its configuration first, so this
//! is a safety net). Changing the VRF of an existing EVI moves its gateways and routes in the
//! engine, but the data plane created the VNI's domain in the first VRF: the node removes and
//! re-adds such an EVI instead. Likewise a new L3VNI or router MAC of an existing VRF is not
//! passed to the data plane (its [`DataplaneIntent::Vrf`] is sent once): remove and re-add it.

use super::import::ImportKey;
use super::vrf_table::{Entry, L3Route, PrefixTarget, Source};
use super::Engine;
use crate::config::{ImportTarget, ResolvedEvi, ResolvedVrf, VrfConfig};
use crate::types::{DataplaneIntent, VrfName, VrfRoute, VrfRouteOrigin, VrfRoutePath, VrfSummary};
use evpnd_wire::{IpPrefix, MacAddress, RouteDistinguisher, Vni};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Bound;

/// Why the engine holds a VRF route (`evpnctl explain ip`): the longest matching route of the
/// table, what is installed, and every source offering a path (RFC 9135 §5.2, RFC 9136 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteExplanation {
    /// The VRF.
    pub vrf: VrfName,
    /// The longest prefix of the table holding the address.
    pub prefix: IpPrefix,
    /// What the data plane holds for it (`None`: nothing, e.g. an unresolved overlay index).
    pub installed: Option<VrfRoute>,
    /// Every source offering a path, installed or not.
    pub contributions: Vec<RouteContribution>,
}

/// One source of a VRF route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteContribution {
    /// What kind of source.
    pub origin: VrfRouteOrigin,
    /// The RD of the imported route (host and IP prefix routes).
    pub rd: Option<RouteDistinguisher>,
    /// The VTEP that advertised it (host and IP prefix routes).
    pub vtep: Option<IpAddr>,
    /// The MAC mobility sequence number of a host route (RFC 7432 §15).
    pub sequence: Option<u32>,
    /// The path it offers (`None`: its overlay index does not resolve).
    pub path: Option<VrfRoutePath>,
    /// How a GW-IP overlay index resolved (RFC 9136 §3.2).
    pub overlay: Option<OverlayResolution>,
    /// This path is installed.
    pub installed: bool,
}

/// How the GW-IP overlay index of an IP prefix route resolved (RFC 9136 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverlayResolution {
    /// Through the host route of the GW IP (a symmetric MAC/IP route): its VTEP and router MAC.
    HostRoute {
        /// The GW IP.
        gateway: IpAddr,
        /// The VTEP of its host route.
        vtep: IpAddr,
        /// Its router MAC.
        router_mac: MacAddress,
    },
    /// The GW IP is bound on a local connected subnet: it is the next hop.
    LocalSubnet {
        /// The GW IP.
        gateway: IpAddr,
        /// The VNI of the subnet.
        vni: Vni,
    },
    /// Neither: nothing installed until the MAC/IP route of the GW IP arrives.
    Unresolved {
        /// The GW IP.
        gateway: IpAddr,
    },
}

/// The least prefix in the order (the IPv4 default route): a range bound.
fn least_prefix() -> Option<IpPrefix> {
    IpPrefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
}

impl Engine {
    /// The VRF `name` with its resolved RD, route targets and router MAC.
    pub fn vrf(&self, name: VrfName) -> Option<&ResolvedVrf> {
        self.vrfs.get(&name)
    }

    /// Every VRF, by name.
    pub fn vrfs(&self) -> impl Iterator<Item = &ResolvedVrf> {
        self.vrfs.values()
    }

    /// The import rules of every EVI, then of every VRF: what RT-Constraint memberships the
    /// node advertises (RFC 4684 §4) so that the MAC/IP, IMET and IP prefix routes both need
    /// reach this NVE.
    pub fn import_targets(&self) -> impl Iterator<Item = &ImportTarget> {
        self.evis
            .values()
            .flat_map(|e| e.import.iter())
            .chain(self.vrfs.values().flat_map(|v| v.import.iter()))
    }

    /// Adds (or reconfigures) a VRF; a new one is announced to the data plane
    /// ([`DataplaneIntent::Vrf`]) before anything of it. Its configured routes are installed
    /// ([`DataplaneIntent::GatewayRoute`]) and its IP prefix routes originated (RFC 9136
    /// §4.4.1); a reconfiguration installs, withdraws and re-originates exactly the
    /// difference (every route again when the RD, RTs, L3VNI or router MAC changed, with the
    /// old RD's routes withdrawn first), and re-originates the MAC+IP routes of its EVIs when
    /// their symmetric attributes changed (RFC 9135 §5.1). As with EVIs, the driver replays
    /// the speaker's EVPN best paths afterwards.
    pub fn add_vrf(&mut self, vrf: VrfConfig) {
        let resolved = ResolvedVrf::resolve(&self.config, &vrf);
        let name = resolved.name;
        let old = self.vrfs.get(&name).cloned();
        if old.as_ref() == Some(&resolved) {
            return;
        }
        let attributes_changed = old.as_ref().is_some_and(|o| {
            o.rd != resolved.rd
                || o.export != resolved.export
                || o.l3vni != resolved.l3vni
                || o.router_mac != resolved.router_mac
        });
        if let Some(o) = &old {
            if o.rd != resolved.rd {
                self.withdraw_prefix_routes(name, o.rd);
            }
            if let Some(l3vni) = o.l3vni {
                self.l3.l3vnis.remove(&l3vni);
            }
        }
        if let Some(l3vni) = resolved.l3vni {
            self.l3.l3vnis.insert(l3vni, name);
        }
        let old_routes: BTreeSet<_> = old
            .as_ref()
            .map(|o| o.routes.iter().copied().collect())
            .unwrap_or_default();
        let new_routes: BTreeSet<_> = resolved.routes.iter().copied().collect();
        if old.is_none() {
            self.intents.push_back(DataplaneIntent::Vrf {
                vrf: name,
                l3vni: resolved.l3vni,
                router_mac: resolved.router_mac,
            });
        }
        self.vrfs.insert(name, resolved);
        for r in old_routes.difference(&new_routes) {
            self.set_candidate(name, r.prefix, Source::Static(r.via), None);
        }
        for r in new_routes.difference(&old_routes) {
            let path = VrfRoutePath::Gateway { via: r.via };
            self.set_candidate(name, r.prefix, Source::Static(r.via), Some(Some(path)));
        }
        self.sync_prefix_routes(name, attributes_changed);
        if attributes_changed {
            let vnis: Vec<Vni> = self.vnis_of(name);
            for vni in vnis {
                for mac in self.advertised_macs(vni) {
                    self.originate_mac_routes(vni, mac);
                }
            }
        }
    }

    /// Removes a VRF (the node refuses while an EVI still names it): withdraws its IP prefix
    /// routes, removes its routes (configured and imported) and then the router MACs they
    /// used, then the VRF itself ([`DataplaneIntent::RemoveVrf`]).
    pub fn remove_vrf(&mut self, name: VrfName) {
        let Some(rd) = self.vrfs.get(&name).map(|v| v.rd) else {
            return;
        };
        self.withdraw_prefix_routes(name, rd);
        self.forget_vrf_imports(name);
        let prefixes: Vec<IpPrefix> = match least_prefix() {
            Some(min) => self
                .l3
                .table
                .range((name, min)..)
                .take_while(|((v, _), _)| *v == name)
                .map(|((_, p), _)| *p)
                .collect(),
            None => Vec::new(),
        };
        for prefix in prefixes {
            if let Some(e) = self.l3.table.get_mut(&(name, prefix)) {
                e.candidates.clear();
            }
            self.reinstall(name, prefix);
        }
        self.l3.l3vnis.retain(|_, v| *v != name);
        self.vrfs.remove(&name);
        self.intents
            .push_back(DataplaneIntent::RemoveVrf { vrf: name });
    }

    /// The VNIs of the EVIs in `vrf`, in order (configuration changes only: walks the EVIs).
    fn vnis_of(&self, vrf: VrfName) -> Vec<Vni> {
        self.evis
            .values()
            .filter(|e| e.vrf == Some(vrf))
            .map(|e| e.vni)
            .collect()
    }

    /// Checks an EVI's layer-3 configuration before it is stored: an unknown VRF makes it
    /// bridged only, and gateways need a VRF.
    pub(super) fn vet_evi_vrf(&self, evi: &mut ResolvedEvi) {
        if evi.vrf.is_some_and(|v| !self.vrfs.contains_key(&v)) {
            evi.vrf = None;
        }
        if evi.vrf.is_none() {
            evi.gateways.clear();
        }
    }

    /// The layer-3 part of an EVI change (after the EVI is stored and its `Vni` intent sent):
    /// gateways gone from `old` are removed with their connected routes, new ones added
    /// ([`DataplaneIntent::Gateway`] with the anycast gateway MAC, RFC 9135 §4.1), and the
    /// VRFs' IP prefix routes and overlay resolutions follow.
    pub(super) fn evi_l3_changed(&mut self, vni: Vni, old: Option<&ResolvedEvi>) {
        let (new_vrf, new_gws) = match self.evis.get(&vni) {
            Some(e) => (e.vrf, e.gateways.clone()),
            None => (None, Vec::new()),
        };
        let (old_vrf, old_gws) = old.map_or((None, Vec::new()), |o| (o.vrf, o.gateways.clone()));
        let keep = |g: &crate::config::GatewayAddress, list: &[crate::config::GatewayAddress]| {
            old_vrf == new_vrf && list.contains(g)
        };
        for g in old_gws.iter().filter(|g| !keep(g, &new_gws)) {
            self.intents.push_back(DataplaneIntent::RemoveGateway {
                vni,
                address: g.address,
                prefix_len: g.prefix_len,
            });
            if let (Some(vrf), Some(subnet)) = (old_vrf, g.subnet()) {
                self.set_candidate(vrf, subnet, Source::Connected(vni), None);
            }
            if let Some(vrf) = old_vrf {
                self.l3.gateway_addresses.remove(&(vrf, g.address));
            }
        }
        for g in new_gws.iter().filter(|g| !keep(g, &old_gws)) {
            self.intents.push_back(DataplaneIntent::Gateway {
                vni,
                address: g.address,
                prefix_len: g.prefix_len,
                mac: self.config.anycast_gateway_mac,
            });
            if let (Some(vrf), Some(subnet)) = (new_vrf, g.subnet()) {
                let path = VrfRoutePath::Interface { vni };
                self.set_candidate(vrf, subnet, Source::Connected(vni), Some(Some(path)));
            }
            if let Some(vrf) = new_vrf {
                self.l3.gateway_addresses.insert((vrf, g.address), vni);
            }
            // A remote binding of the address imported before it became ours goes (the
            // import rule keeps new ones out: `irb` notes, RFC 7432 §10.1).
            if let Some(r) = self.ips.get_mut(&(vni, g.address)) {
                r.remotes.clear();
                self.settle_ip(vni, g.address);
            }
        }
        for vrf in [old_vrf, new_vrf]
            .into_iter()
            .flatten()
            .collect::<BTreeSet<_>>()
        {
            self.sync_prefix_routes(vrf, false);
            self.resolve_all_overlays(vrf);
        }
    }

    /// One summary row per VRF (`evpnctl show vrfs`). Walks the VRF tables: a view.
    pub fn vrf_summaries(&self) -> Vec<VrfSummary> {
        let mut rows: Vec<VrfSummary> = self
            .vrfs
            .values()
            .map(|v| VrfSummary {
                vrf: v.clone(),
                vnis: self.vnis_of(v.name),
                host_routes: 0,
                prefix_routes: 0,
                local_routes: 0,
                remote_vteps: self
                    .l3
                    .router_macs
                    .keys()
                    .filter(|(vrf, _)| *vrf == v.name)
                    .count(),
            })
            .collect();
        for row in &mut rows {
            let Some(min) = least_prefix() else {
                continue;
            };
            let name = row.vrf.name;
            for ((_, _), e) in self
                .l3
                .table
                .range((name, min)..)
                .take_while(|((v, _), _)| *v == name)
            {
                match e.origin.filter(|_| !e.installed.is_empty()) {
                    Some(VrfRouteOrigin::Connected | VrfRouteOrigin::Static) => {
                        row.local_routes += 1
                    }
                    Some(VrfRouteOrigin::HostRoute) => row.host_routes += 1,
                    Some(VrfRouteOrigin::IpPrefix) => row.prefix_routes += 1,
                    None => {}
                }
            }
        }
        rows
    }

    /// One page of the VRF tables (`evpnctl show ip-routes`): the first `limit` routes after
    /// `after`, in (VRF, prefix) order, of `vrf` only when given. Routes with nothing
    /// installed (an unresolved overlay index) are left out.
    pub fn vrf_route_page(
        &self,
        vrf: Option<VrfName>,
        after: Option<(VrfName, IpPrefix)>,
        limit: usize,
    ) -> Vec<VrfRoute> {
        let start = match (after, vrf.zip(least_prefix())) {
            (Some(a), _) => Bound::Excluded(a),
            (None, Some(first)) => Bound::Included(first),
            (None, None) => Bound::Unbounded,
        };
        self.l3
            .table
            .range((start, Bound::Unbounded))
            .skip_while(|((v, _), _)| vrf.is_some_and(|want| *v < want))
            .take_while(|((v, _), _)| vrf.is_none_or(|want| *v == want))
            .filter_map(|((v, p), e)| route_row(*v, *p, e))
            .take(limit)
            .collect()
    }

    /// The route of `vrf` that `ip` matches (longest prefix), what is installed and every
    /// source of it, with the resolution of GW-IP overlay indexes (`None`: no route matches).
    pub fn explain_route(&self, vrf: VrfName, ip: IpAddr) -> Option<RouteExplanation> {
        let width = if ip.is_ipv4() { 32u8 } else { 128 };
        let (prefix, entry) = (0..=width).rev().find_map(|len| {
            let prefix = IpPrefix::new(ip, len)?;
            self.l3.table.get(&(vrf, prefix)).map(|e| (prefix, e))
        })?;
        let installed_path = |p: &Option<VrfRoutePath>| {
            p.is_some_and(|p| {
                entry.installed.iter().any(|i| match (i, &p) {
                    (
                        VrfRoutePath::Remote { vtep: a, .. },
                        VrfRoutePath::Remote { vtep: b, .. },
                    ) => a == b,
                    _ => *i == p,
                })
            })
        };
        let mut contributions = Vec::new();
        for c in &entry.candidates {
            let origin = c.source.origin();
            let base = RouteContribution {
                origin,
                rd: None,
                vtep: None,
                sequence: None,
                path: c.path,
                overlay: None,
                installed: installed_path(&c.path) && entry.origin == Some(origin),
            };
            match c.source {
                Source::Connected(_) | Source::Static(_) => contributions.push(base),
                Source::Host => {
                    let winner = self.host_winner(vrf, prefix.addr());
                    let mut claims = self
                        .l3
                        .hosts
                        .get(&(vrf, prefix.addr()))
                        .cloned()
                        .unwrap_or_default();
                    claims.sort_by_key(|h| h.rank());
                    for h in claims {
                        contributions.push(RouteContribution {
                            rd: key_rd(h.key),
                            vtep: Some(h.vtep),
                            sequence: Some(h.sequence),
                            path: Some(VrfRoutePath::Remote {
                                vtep: h.vtep,
                                router_mac: h.router_mac,
                            }),
                            installed: base.installed && winner == Some(h),
                            ..base.clone()
                        });
                    }
                }
                Source::Prefix(key) => {
                    let target = match self.l3.imported.get(&key) {
                        Some(L3Route::Prefix { target, .. }) => Some(*target),
                        _ => None,
                    };
                    let (vtep, overlay) = match target {
                        Some(PrefixTarget::Remote { vtep, .. }) => (Some(vtep), None),
                        Some(PrefixTarget::Overlay { gateway, vtep }) => {
                            (Some(vtep), Some(self.overlay_resolution(vrf, gateway)))
                        }
                        None => (None, None),
                    };
                    contributions.push(RouteContribution {
                        rd: key_rd(key),
                        vtep,
                        overlay,
                        ..base
                    });
                }
            }
        }
        Some(RouteExplanation {
            vrf,
            prefix,
            installed: route_row(vrf, prefix, entry),
            contributions,
        })
    }

    fn overlay_resolution(&self, vrf: VrfName, gateway: IpAddr) -> OverlayResolution {
        match self.resolve_overlay(vrf, gateway) {
            Some(VrfRoutePath::Remote { vtep, router_mac }) => OverlayResolution::HostRoute {
                gateway,
                vtep,
                router_mac,
            },
            Some(_) => match self.connected_vni(vrf, gateway) {
                Some(vni) => OverlayResolution::LocalSubnet { gateway, vni },
                None => OverlayResolution::Unresolved { gateway },
            },
            None => OverlayResolution::Unresolved { gateway },
        }
    }
}

/// The row of an entry, if anything is installed.
fn route_row(vrf: VrfName, prefix: IpPrefix, e: &Entry) -> Option<VrfRoute> {
    let origin = e.origin?;
    if e.installed.is_empty() {
        return None;
    }
    Some(VrfRoute {
        vrf,
        prefix,
        origin,
        paths: e.installed.clone(),
    })
}

/// The RD of an imported route key.
fn key_rd(key: ImportKey) -> Option<RouteDistinguisher> {
    match key {
        ImportKey::MacIp { rd, .. }
        | ImportKey::Imet { rd, .. }
        | ImportKey::IpPrefix { rd, .. } => Some(rd),
    }
}
