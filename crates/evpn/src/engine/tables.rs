//! The engine's tables as operators see them (`evpnctl show vnis`, `macs`, `flood`, `arp`):
//! read-only views built from the records.

use super::import::ImportKey;
use super::mobility::MacRecord;
use super::Engine;
use crate::types::{is_host_address, Location, MacEntry, NeighborEntry, VniSummary};
use evpnd_wire::MacAddress;
use evpnd_wire::Vni;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Bound;

impl Engine {
    /// One summary row per EVI (`evpnctl show vnis`).
    pub fn vni_summaries(&self) -> Vec<VniSummary> {
        self.vni_summary_page(None, usize::MAX)
    }

    /// One page of [`Engine::vni_summaries`]: the first `limit` EVIs after `after`, in VNI
    /// order. The rows' counters cost one pass over the MAC and IP tables per page; the memory
    /// is one page's.
    pub fn vni_summary_page(&self, after: Option<Vni>, limit: usize) -> Vec<VniSummary> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.summaries((from, Bound::Unbounded), limit)
    }

    /// The summary row of EVI `vni` (`None`: no such EVI).
    pub fn vni_summary(&self, vni: Vni) -> Option<VniSummary> {
        self.summaries((Bound::Included(vni), Bound::Included(vni)), 1)
            .pop()
    }

    /// The rows of at most `limit` EVIs in `range`, in VNI order.
    fn summaries(&self, range: (Bound<Vni>, Bound<Vni>), limit: usize) -> Vec<VniSummary> {
        let mut rows: BTreeMap<Vni, VniSummary> = self
            .evis
            .range(range)
            .take(limit)
            .map(|(_, e)| {
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
        for ((vni, _), r) in self.macs.iter() {
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
            .filter_map(|((_, mac), r)| self.mac_row(vni, *mac, r))
            .collect();
        out.sort_by_key(|e| e.mac);
        out
    }

    /// One page of the MAC table: the first `limit` rows after `after` in (VNI, MAC) order,
    /// of `vni` (`None`: every VNI), local ones only with `local_only`. One pass over the table
    /// keeping at most `limit` keys, so a listing of any size costs one page of memory.
    pub fn mac_page(
        &self,
        vni: Option<Vni>,
        after: Option<(Vni, MacAddress)>,
        limit: usize,
        local_only: bool,
    ) -> Vec<MacEntry> {
        let keys = smallest_after(
            self.macs.iter().filter(|(k, r)| {
                vni.is_none_or(|v| k.0 == v)
                    && r.installed
                        .is_some_and(|w| !local_only || w.at == Location::Local)
            }),
            after,
            limit,
        );
        keys.into_iter()
            .filter_map(|k| {
                let r = self.macs.get(&k)?;
                self.mac_row(k.0, k.1, r)
            })
            .collect()
    }

    /// One page of the ARP/ND table: the first `limit` bindings after `after` in (VNI, IP)
    /// order, of `vni` (`None`: every VNI); bounded as [`Engine::mac_page`].
    pub fn neighbor_page(
        &self,
        vni: Option<Vni>,
        after: Option<(Vni, IpAddr)>,
        limit: usize,
    ) -> Vec<NeighborEntry> {
        let keys = smallest_after(
            self.ips
                .iter()
                .filter(|(k, r)| vni.is_none_or(|v| k.0 == v) && r.installed.is_some()),
            after,
            limit,
        );
        keys.into_iter()
            .filter_map(|k| {
                let r = self.ips.get(&k)?;
                let b = r.installed?;
                Some(NeighborEntry {
                    vni: k.0,
                    ip: k.1,
                    mac: b.mac,
                    origin: b.at,
                    router: b.router,
                    immutable: b.immutable,
                    duplicate: r.detection.state(),
                })
            })
            .collect()
    }

    /// The row of one MAC record (`None` when nothing is installed).
    fn mac_row(&self, vni: Vni, mac: MacAddress, r: &MacRecord) -> Option<MacEntry> {
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
                    .view(mac)
                    .iter()
                    .filter(|c| c.vtep == vtep)
                    .filter_map(|c| match c.key {
                        ImportKey::MacIp { ip, .. } => ip.filter(|ip| is_host_address(*ip)),
                        ImportKey::Imet { .. } | ImportKey::IpPrefix { .. } => None,
                    })
                    .collect();
                v.sort();
                v.dedup();
                v
            }
        };
        Some(MacEntry {
            vni,
            mac,
            origin: w.at,
            sequence: w.sequence,
            sticky: w.sticky,
            ips,
            since: r.since.instant(self.epoch),
            moves: u32::try_from(r.detection.moves()).unwrap_or(u32::MAX),
            duplicate: r.detection.state(),
            sticky_conflict: r.conflict,
        })
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

/// The `limit` smallest keys above `after` among `items`, in order: one pass, at most
/// `limit` + 1 keys held.
fn smallest_after<'a, K: Ord + Copy + 'a, V: 'a>(
    items: impl Iterator<Item = (&'a K, &'a V)>,
    after: Option<K>,
    limit: usize,
) -> Vec<K> {
    let mut kept: BTreeSet<K> = BTreeSet::new();
    if limit == 0 {
        return Vec::new();
    }
    for (k, _) in items {
        if after.is_some_and(|a| *k <= a) {
            continue;
        }
        if kept.len() == limit && kept.last().is_some_and(|last| k >= last) {
            continue;
        }
        kept.insert(*k);
        if kept.len() > limit {
            kept.pop_last();
        }
    }
    kept.into_iter().collect()
}

#[cfg(test)]
mod page_tests {
    use super::smallest_after;

    #[test]
    fn pages_walk_every_key_once_in_order() {
        let items: Vec<(u32, ())> = [9, 3, 7, 1, 5, 2, 8].iter().map(|k| (*k, ())).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = smallest_after(items.iter().map(|(k, v)| (k, v)), after, 3);
            if page.is_empty() {
                break;
            }
            after = page.last().copied();
            seen.extend(page);
        }
        assert_eq!(seen, vec![1, 2, 3, 5, 7, 8, 9]);
    }
}
