//! Reconciliation with what an earlier run left in the kernel: read at start, matched against
//! the intents (an entry already there as wanted is not written again), swept at `Synced`.

use super::apply::{lock, Applier};
use super::fdb::{self, entry_requests, Neigh, NUD_NOARP, NUD_PERMANENT};
use super::netdev::{self, Link, SHARED_ALIAS};
use super::socket::{NlError, NlSocket, Request};
use super::vlan;
use super::DeviceModel;
use crate::{DataplaneIntent, FdbEntry, NeighEntry};
use evpnd_wire::{MacAddress, Vni};
use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_route::link::InfoKind;
use netlink_packet_route::neighbour::{NeighbourAttribute, NeighbourFlags, NeighbourMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// The VNI an entry or port intent belongs to.
pub(crate) fn intent_vni(intent: &DataplaneIntent) -> Option<u32> {
    match *intent {
        DataplaneIntent::RemoteMac { vni, .. }
        | DataplaneIntent::RemoveRemoteMac { vni, .. }
        | DataplaneIntent::Flood { vni, .. }
        | DataplaneIntent::RemoveFlood { vni, .. }
        | DataplaneIntent::Neighbor { vni, .. }
        | DataplaneIntent::RemoveNeighbor { vni, .. }
        | DataplaneIntent::Port { vni, .. }
        | DataplaneIntent::RemovePort { vni, .. } => Some(vni.get()),
        DataplaneIntent::Vni { .. }
        | DataplaneIntent::RemoveVni { .. }
        | DataplaneIntent::Synced
        | DataplaneIntent::Vrf { .. }
        | DataplaneIntent::RemoveVrf { .. }
        | DataplaneIntent::Gateway { .. }
        | DataplaneIntent::RemoveGateway { .. }
        | DataplaneIntent::RouterMac { .. }
        | DataplaneIntent::RemoveRouterMac { .. }
        | DataplaneIntent::RemoteRoute { .. }
        | DataplaneIntent::RemoveRemoteRoute { .. }
        | DataplaneIntent::GatewayRoute { .. }
        | DataplaneIntent::RemoveGatewayRoute { .. } => None,
    }
}

/// Reads the bridge FDB entries of `bridge` (`bridge fdb show br BRIDGE`).
pub(crate) fn bridge_fdb(socket: &mut NlSocket, bridge: u32) -> Result<Vec<Neigh>, NlError> {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.attributes = vec![NeighbourAttribute::Controller(bridge)];
    let answers = socket.query(&RouteNetlinkMessage::GetNeighbour(m), NLM_F_DUMP)?;
    Ok(parse_neighbours(&answers)
        .into_iter()
        .filter(|n| n.master == Some(bridge))
        .collect())
}

fn parse_neighbours(answers: &[RouteNetlinkMessage]) -> Vec<Neigh> {
    answers
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(n) => Some(Neigh::parse(n)),
            _ => None,
        })
        .collect()
}

/// Ours in an earlier run and not renewed (yet) by an intent.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Remote MACs on our VXLAN devices: `Some` when both entries (the device's and the
    /// bridge's) are there exactly as that intent would write them.
    pub fdb: BTreeMap<(u32, MacAddress), Option<FdbEntry>>,
    /// Flood entries on our VXLAN devices.
    pub flood: BTreeSet<(u32, IpAddr)>,
    /// Neighbours with our protocol on the bridges of our VXLAN devices.
    pub neigh: BTreeMap<(u32, IpAddr), NeighEntry>,
    /// Devices carrying our marker, by VNI.
    pub devices: BTreeMap<u32, Vec<Link>>,
    /// Single model: the VLAN of each VNI mapped on our shared VXLAN device (the kernel's
    /// VLAN-tunnel mapping), so that a VNI keeps its VLAN across restarts.
    pub vlans: BTreeMap<u32, u16>,
}

impl Snapshot {
    /// Reads our devices (by marker), the FDB of our VXLAN devices and our neighbours. An
    /// entry's VNI is its device's (per-VNI model) or, on a shared `external vnifilter`
    /// device, its `NDA_SRC_VNI` (the device's own entries) or its VLAN's mapping (the
    /// bridge's).
    pub fn read(socket: &mut NlSocket) -> Result<Snapshot, NlError> {
        let mut snapshot = Snapshot::default();
        let mut vxlans: HashMap<u32, u32> = HashMap::new();
        let mut shared_vxlans: Vec<u32> = Vec::new();
        let mut neigh_devices: HashMap<u32, u32> = HashMap::new();
        for link in netdev::dump(socket)? {
            if link.alias.as_deref() == Some(SHARED_ALIAS) && link.kind == Some(InfoKind::Vxlan) {
                shared_vxlans.push(link.index);
            }
            let Some(vni) = link.owner() else { continue };
            if link.kind == Some(InfoKind::Vxlan) && link.vxlan_id == Some(vni) {
                vxlans.insert(link.index, vni);
                if let Some(master) = link.master {
                    neigh_devices.insert(master, vni);
                }
            } else if link.kind == Some(InfoKind::Vlan) {
                // Single model: the VNI's SVI holds its neighbours.
                neigh_devices.insert(link.index, vni);
            }
            snapshot.devices.entry(vni).or_default().push(link);
        }
        if vxlans.is_empty() && shared_vxlans.is_empty() {
            return Ok(snapshot);
        }
        let mut tunnels: HashMap<(u32, u16), u32> = HashMap::new();
        if !shared_vxlans.is_empty() {
            let (request, flags) = vlan::tunnel_dump_request();
            for answer in socket.query(&request, flags)? {
                let RouteNetlinkMessage::NewLink(l) = answer else {
                    continue;
                };
                if !shared_vxlans.contains(&l.header.index) {
                    continue;
                }
                for (vid, vni) in vlan::tunnels(&l) {
                    tunnels.insert((l.header.index, vid), vni);
                    snapshot.vlans.insert(vni, vid);
                }
            }
        }
        let vni_of = |n: &Neigh| -> Option<u32> {
            if let Some(&vni) = vxlans.get(&n.ifindex) {
                return Some(vni);
            }
            if !shared_vxlans.contains(&n.ifindex) {
                return None;
            }
            if n.is_bridge_entry() {
                tunnels.get(&(n.ifindex, n.vlan?)).copied()
            } else {
                n.src_vni
            }
        };
        let answers = socket.query(&fdb::dump_request(AddressFamily::Bridge), NLM_F_DUMP)?;
        let mut own: BTreeMap<(u32, MacAddress), FdbEntry> = BTreeMap::new();
        let mut master: BTreeMap<(u32, MacAddress), bool> = BTreeMap::new();
        for n in parse_neighbours(&answers) {
            let (Some(vni), Some(mac)) = (vni_of(&n), n.mac) else {
                continue;
            };
            let ext = n.flags.contains(NeighbourFlags::ExtLearned);
            let sticky = n.flags.contains(NeighbourFlags::Sticky);
            if n.is_vxlan_entry() {
                let Some(vtep) = n.dst else { continue };
                if mac.is_zero() {
                    snapshot.flood.insert((vni, vtep));
                } else if ext || (sticky && n.state & NUD_NOARP != 0) {
                    // Ours: `extern_learn`, or `sticky static`; a plain `bridge fdb add`
                    // (permanent) or `static` entry is someone else's.
                    own.entry((vni, mac))
                        .or_insert(FdbEntry { vtep, sticky: !ext });
                }
            } else if n.is_bridge_entry() && (ext || sticky) {
                master.insert((vni, mac), sticky && !ext);
            }
        }
        for key in own.keys().chain(master.keys()) {
            let exact = match (own.get(key), master.get(key)) {
                (Some(e), Some(sticky)) if e.sticky == *sticky => Some(*e),
                _ => None,
            };
            snapshot.fdb.insert(*key, exact);
        }
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let answers = socket.query(&fdb::dump_request(family), NLM_F_DUMP)?;
            for n in parse_neighbours(&answers) {
                let (Some(&vni), Some(ip), Some(mac)) =
                    (neigh_devices.get(&n.ifindex), n.dst, n.mac)
                else {
                    continue;
                };
                if n.protocol != Some(fdb::EVPND_NEIGH_PROTOCOL) {
                    continue;
                }
                let entry = NeighEntry {
                    mac,
                    router: n.flags.contains(NeighbourFlags::Router),
                    local: n.state & NUD_PERMANENT != 0,
                };
                snapshot.neigh.insert((vni, ip), entry);
            }
        }
        Ok(snapshot)
    }

    /// True when `intent`'s entry is in the kernel exactly as it would be written; either
    /// way the entry is no longer stale (the intent renews or removes it).
    pub fn already_installed(&mut self, intent: &DataplaneIntent) -> bool {
        match *intent {
            DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            } => self.fdb.remove(&(vni.get(), mac)) == Some(Some(FdbEntry { vtep, sticky })),
            DataplaneIntent::RemoveRemoteMac { vni, mac } => {
                self.fdb.remove(&(vni.get(), mac));
                false
            }
            DataplaneIntent::Flood { vni, vtep } => self.flood.remove(&(vni.get(), vtep)),
            DataplaneIntent::RemoveFlood { vni, vtep } => {
                self.flood.remove(&(vni.get(), vtep));
                false
            }
            DataplaneIntent::Neighbor {
                vni,
                ip,
                mac,
                router,
                local,
            } => self.neigh.remove(&(vni.get(), ip)) == Some(NeighEntry { mac, router, local }),
            DataplaneIntent::RemoveNeighbor { vni, ip } => {
                self.neigh.remove(&(vni.get(), ip));
                false
            }
            _ => false,
        }
    }

    /// The removals of the stale entries (of `only` that VNI, or of all).
    pub fn removals(&self, only: Option<u32>) -> Vec<DataplaneIntent> {
        let keep = |vni: u32| only.is_none_or(|o| o == vni);
        let mut removals = Vec::new();
        for (vni, mac) in self.fdb.keys() {
            if let (true, Ok(v)) = (keep(*vni), Vni::new(*vni)) {
                removals.push(DataplaneIntent::RemoveRemoteMac { vni: v, mac: *mac });
            }
        }
        for (vni, vtep) in &self.flood {
            if let (true, Ok(v)) = (keep(*vni), Vni::new(*vni)) {
                removals.push(DataplaneIntent::RemoveFlood {
                    vni: v,
                    vtep: *vtep,
                });
            }
        }
        for (vni, ip) in self.neigh.keys() {
            if let (true, Ok(v)) = (keep(*vni), Vni::new(*vni)) {
                removals.push(DataplaneIntent::RemoveNeighbor { vni: v, ip: *ip });
            }
        }
        removals
    }

    /// Drops what is known of `vni` (its devices go or were never ours).
    pub fn forget_vni(&mut self, vni: u32) {
        self.forget_vxlan_entries(vni);
        self.neigh.retain(|(v, _), _| *v != vni);
        self.devices.remove(&vni);
    }

    /// Drops the entries of the VXLAN device of `vni` (remote MACs and flood entries): the
    /// device is made again without them.
    pub fn forget_vxlan_entries(&mut self, vni: u32) {
        self.fdb.retain(|(v, _), _| *v != vni);
        self.flood.retain(|(v, _)| *v != vni);
    }

    /// True when nothing is left to sweep.
    pub fn is_empty(&self) -> bool {
        self.fdb.is_empty()
            && self.flood.is_empty()
            && self.neigh.is_empty()
            && self.devices.is_empty()
    }
}

impl Applier {
    /// A `Vni` intent claims the devices of that VNI found at start under the configured
    /// names: they are not swept.
    pub(super) fn snapshot_take_devices(&mut self, vni: u32) {
        let names = match &self.config.model {
            DeviceModel::PerVni => vec![self.config.bridge_name(vni), self.config.vxlan_name(vni)],
            DeviceModel::SingleVxlan { bridge, .. } => self
                .vlans
                .get(&vni)
                .and_then(|vid| vlan::svi_name(bridge, *vid).ok())
                .into_iter()
                .collect(),
        };
        if let Some(links) = self.snapshot.devices.get_mut(&vni) {
            links.retain(|l| !names.contains(&l.name));
            if links.is_empty() {
                self.snapshot.devices.remove(&vni);
            }
        }
    }

    /// Removes what an earlier run left and no intent renewed: entries on the devices of
    /// wanted VNIs, and our devices of VNIs nobody asked for. Runs once.
    pub(super) fn sweep(&mut self) {
        self.sweep_at = None;
        self.flush();
        self.sweep_routes();
        let snapshot = std::mem::take(&mut self.snapshot);
        if snapshot.is_empty() {
            return;
        }
        let removals = snapshot.removals(None);
        let mut requests: Vec<Request> = Vec::new();
        {
            let shared = lock(&self.shared);
            for intent in &removals {
                let Some(vni) = intent_vni(intent) else {
                    continue;
                };
                if let Some(state) = shared.vnis.get(&vni) {
                    requests.extend(
                        entry_requests(intent, state.devices)
                            .into_iter()
                            .map(|r| r.request),
                    );
                }
            }
        }
        // Failures (mostly entries already gone) leave nothing to retry: the next start
        // sweeps again.
        let _ = self.socket.send_batch(&requests);
        for (vni, links) in snapshot.devices {
            let wanted = Vni::new(vni).is_ok_and(|v| self.desired.vnis.contains_key(&v));
            if wanted {
                continue;
            }
            // The VXLAN device first: an adopted bridge stays.
            let mut links = links;
            links.sort_by_key(|l| l.kind != Some(InfoKind::Vxlan));
            for link in links {
                let _ = self.socket.request(netdev::delete(link.index), 0);
            }
        }
        if let DeviceModel::SingleVxlan { .. } = self.config.model {
            self.sweep_single(&snapshot.vlans, &removals);
        }
    }
}
