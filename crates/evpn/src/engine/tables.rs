//! The engine's tables as operators see them (`evpnctl show vnis`, `macs`, `flood`, `arp`):
//! read-only views built from the records.

use super::import::ImportKey;
use super::Engine;
use crate::types::{is_host_address, Location, MacEntry, NeighborEntry, VniSummary};
use evpnd_wire::Vni;
use std::collections::BTreeMap;
use std::net::IpAddr;

impl Engine {
    /// One summary row per EVI (`evpnctl show vnis`).
    pub fn vni_summaries(&self) -> Vec<VniSummary> {
        let mut rows: BTreeMap<Vni, VniSummary> = self
            .evis
            .values()
            .map(|e| {
                (
                    e.vni,
                    VniSummary {
                        evi: e.clone(),
                        local_macs: 0,
                        remote_macs: 0,
                        flood_vteps: self.flood.get(&e.vni).map_or(0, |f| f.len()),
                        neighbors: 0,
                        duplicates: 0,
                        ports: self.ports(e.vni).collect(),
                    },
                )
            })
            .collect();
        for ((vni, _), r) in &self.macs {
            if let Some(row) = rows.get_mut(vni) {
                match r.installed.map(|w| w.at) {
                    Some(Location::Local) => row.local_macs += 1,
                    Some(Location::Remote { .. }) => row.remote_macs += 1,
                    None => {}
                }
                row.duplicates += usize::from(r.detection.frozen());
            }
        }
        for ((vni, _), r) in &self.ips {
            if let Some(row) = rows.get_mut(vni) {
                row.neighbors += usize::from(r.installed.is_some());
                row.duplicates += usize::from(r.detection.frozen());
            }
        }
        rows.into_values().collect()
    }

    /// The MAC table of `vni`, one row per MAC, sorted by MAC (`evpnctl show macs`).
    pub fn mac_table(&self, vni: Vni) -> Vec<MacEntry> {
        let mut out: Vec<MacEntry> = self
            .macs
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .filter_map(|((_, mac), r)| {
                let w = r.installed?;
                let ips: Vec<IpAddr> = match w.at {
                    Location::Local => r
                        .local
                        .as_ref()
                        .map(|l| l.ips.keys().copied().collect())
                        .unwrap_or_default(),
                    Location::Remote { vtep } => {
                        let mut v: Vec<IpAddr> = r
                            .remotes
                            .iter()
                            .filter(|c| c.vtep == vtep)
                            .filter_map(|c| match c.key {
                                ImportKey::MacIp { ip, .. } => ip.filter(|ip| is_host_address(*ip)),
                                ImportKey::Imet { .. } => None,
                            })
                            .collect();
                        v.sort();
                        v.dedup();
                        v
                    }
                };
                Some(MacEntry {
                    vni,
                    mac: *mac,
                    origin: w.at,
                    sequence: w.sequence,
                    sticky: w.sticky,
                    ips,
                    since: r.since,
                    moves: u32::try_from(r.detection.moves()).unwrap_or(u32::MAX),
                    duplicate: r.detection.state(),
                    sticky_conflict: r.conflict,
                })
            })
            .collect();
        out.sort_by_key(|e| e.mac);
        out
    }

    /// The remote VTEPs in the flood list of `vni`, sorted (`evpnctl show flood`).
    pub fn flood_list(&self, vni: Vni) -> Vec<IpAddr> {
        self.flood
            .get(&vni)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The IP↔MAC bindings of `vni` (local and remote), sorted by IP (`evpnctl show arp`).
    pub fn neighbors(&self, vni: Vni) -> Vec<NeighborEntry> {
        let mut v: Vec<NeighborEntry> = self
            .ips
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .filter_map(|((_, ip), r)| {
                let b = r.installed?;
                Some(NeighborEntry {
                    vni,
                    ip: *ip,
                    mac: b.mac,
                    origin: b.at,
                    router: b.router,
                    immutable: b.immutable,
                    duplicate: r.detection.state(),
                })
            })
            .collect();
        v.sort_by_key(|e| e.ip);
        v
    }
}
