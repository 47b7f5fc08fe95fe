//! EVIs (MAC-VRFs) of VLAN-based service, one per VNI (RFC 7432 §6.1, RFC 8365 §5.1.2):
//! adding, reconfiguring and removing them together with what they originated and installed.
//! The RD and route targets they use are derived in [`crate::config`] (RFC 7432 §7.9–7.10,
//! RFC 8365 §5.1.2.1).

use super::mobility::MacRecord;
use super::proxy_arp_nd::IpRecord;
use super::Engine;
use crate::config::{EviConfig, ResolvedEvi};
use crate::types::{DataplaneIntent, EngineEvent, Location};
use evpnd_wire::{MacAddress, Vni};
use std::net::IpAddr;

impl Engine {
    /// The EVI of `vni` with its resolved RD and route targets.
    pub fn evi(&self, vni: Vni) -> Option<&ResolvedEvi> {
        self.evis.get(&vni)
    }

    /// Every EVI, by VNI.
    pub fn evis(&self) -> impl Iterator<Item = &ResolvedEvi> {
        self.evis.values()
    }

    /// Adds (or reconfigures) an EVI and originates its type-3 route (RFC 7432 §11.1, RFC 8365
    /// §9). A new EVI is announced to the data plane first ([`DataplaneIntent::Vni`]). Reconfiguring re-originates the EVI's routes (withdrawing them first when the RD
    /// changes); see [`Engine`] for the replay the driver owes after import changes.
    pub fn add_evi(&mut self, evi: EviConfig) {
        let mut resolved = ResolvedEvi::resolve(&self.config, &evi);
        self.vet_evi_vrf(&mut resolved);
        let vni = evi.vni;
        let previous = self.evis.get(&vni).cloned();
        if let Some(old) = &previous {
            if *old == resolved {
                return;
            }
            if old.rd != resolved.rd {
                self.withdraw_evi_routes(vni);
            }
        }
        let vrf = resolved.vrf;
        if self.evis.insert(vni, resolved).is_none() {
            self.intents.push_back(DataplaneIntent::Vni { vni, vrf });
        }
        self.evi_l3_changed(vni, previous.as_ref());
        self.originate_imet(vni);
        for mac in self.advertised_macs(vni) {
            self.originate_mac_routes(vni, mac);
        }
    }

    /// Removes an EVI: withdraws every route it originated, forgets its local endpoints and
    /// removes its remote MACs, neighbours, flood entries and ports (with the removal intents),
    /// then the EVI itself ([`DataplaneIntent::RemoveVni`]).
    pub fn remove_evi(&mut self, vni: Vni) {
        if !self.evis.contains_key(&vni) {
            return;
        }
        self.withdraw_evi_routes(vni);
        let mut macs: Vec<(MacAddress, MacRecord)> = Vec::new();
        self.macs.retain(|(v, m), r| {
            if *v == vni {
                macs.push((*m, r.clone()));
                false
            } else {
                true
            }
        });
        macs.sort_by_key(|(m, _)| *m);
        for (mac, r) in macs {
            if let Some(w) = r.installed {
                if matches!(w.at, Location::Remote { .. }) {
                    self.intents
                        .push_back(DataplaneIntent::RemoveRemoteMac { vni, mac });
                }
                self.events.push_back(EngineEvent::Removed { vni, mac });
            }
        }
        let mut ips: Vec<(IpAddr, IpRecord)> = Vec::new();
        self.ips.retain(|(v, ip), r| {
            if *v == vni {
                ips.push((*ip, r.clone()));
                false
            } else {
                true
            }
        });
        ips.sort_by_key(|(ip, _)| *ip);
        for (ip, r) in ips {
            if r.installed.is_some() {
                self.intents
                    .push_back(DataplaneIntent::RemoveNeighbor { vni, ip });
            }
        }
        self.local_ips.retain(|(v, _), _| *v != vni);
        self.imported.retain(|_, st| st.vni() != vni);
        self.sources.forget_vni(vni);
        if let Some(list) = self.flood.remove(&vni) {
            for vtep in list.into_keys() {
                self.intents
                    .push_back(DataplaneIntent::RemoveFlood { vni, vtep });
            }
        }
        self.drop_ports_of_vni(vni);
        let old = self.evis.remove(&vni);
        // Gateways and connected routes go, then the VRF's prefix routes follow.
        self.evi_l3_changed(vni, old.as_ref());
        self.intents.push_back(DataplaneIntent::RemoveVni { vni });
    }
}
