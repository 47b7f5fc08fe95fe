//! Tenant VRFs (IP-VRFs, RFC 9135 §3): adding and removing them, and their operator views.
//!
//! LAYER3-CONTRACT: the skeleton of the layer-3 engine. Origination of symmetric MAC/IP and IP
//! prefix routes, their import into VRF tables and the VRF tables themselves are still to come.

use super::Engine;
use crate::config::{ResolvedVrf, VrfConfig};
use crate::types::{DataplaneIntent, VrfName, VrfRoute, VrfSummary};
use evpnd_wire::IpPrefix;

impl Engine {
    /// The VRF `name` with its resolved RD, route targets and router MAC.
    pub fn vrf(&self, name: VrfName) -> Option<&ResolvedVrf> {
        self.vrfs.get(&name)
    }

    /// Every VRF, by name.
    pub fn vrfs(&self) -> impl Iterator<Item = &ResolvedVrf> {
        self.vrfs.values()
    }

    /// Adds (or reconfigures) a VRF; a new one is announced to the data plane
    /// ([`DataplaneIntent::Vrf`]) before anything of it. As with EVIs, the driver replays the
    /// speaker's EVPN best paths afterwards.
    pub fn add_vrf(&mut self, vrf: VrfConfig) {
        let resolved = ResolvedVrf::resolve(&self.config, &vrf);
        if self.vrfs.get(&vrf.name) == Some(&resolved) {
            return;
        }
        let intent = DataplaneIntent::Vrf {
            vrf: resolved.name,
            l3vni: resolved.l3vni,
            router_mac: resolved.router_mac,
        };
        if self.vrfs.insert(vrf.name, resolved).is_none() {
            self.intents.push_back(intent);
        }
    }

    /// Removes a VRF (the node refuses while an EVI still names it).
    pub fn remove_vrf(&mut self, name: VrfName) {
        if self.vrfs.remove(&name).is_some() {
            self.intents
                .push_back(DataplaneIntent::RemoveVrf { vrf: name });
        }
    }

    /// One summary row per VRF (`evpnctl show vrfs`).
    pub fn vrf_summaries(&self) -> Vec<VrfSummary> {
        self.vrfs
            .values()
            .map(|v| VrfSummary {
                vrf: v.clone(),
                vnis: self
                    .evis
                    .values()
                    .filter(|e| e.vrf == Some(v.name))
                    .map(|e| e.vni)
                    .collect(),
                host_routes: 0,
                prefix_routes: 0,
                local_routes: 0,
                remote_vteps: 0,
            })
            .collect()
    }

    /// One page of the VRF tables (`evpnctl show ip-routes`): the first `limit` routes after
    /// `after`, in (VRF, prefix) order, of `vrf` only when given.
    pub fn vrf_route_page(
        &self,
        vrf: Option<VrfName>,
        after: Option<(VrfName, IpPrefix)>,
        limit: usize,
    ) -> Vec<VrfRoute> {
        let _ = (vrf, after, limit);
        Vec::new()
    }
}
