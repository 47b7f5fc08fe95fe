//! The single-VXLAN-device model, as FRR and Cumulus run it: one VLAN-aware bridge and one
//! `external vnifilter` VXLAN device for every VNI (Linux ≥ 5.18; `Documentation/networking/
//! vxlan.rst`, "VNI filtering"). Each VNI gets a VLAN of the bridge:
//! * the VLAN is on the VXLAN port (`vlan_tunnel on`) and mapped to the VNI
//!   (`IFLA_BRIDGE_VLAN_TUNNEL_INFO`): the bridge sends a frame of the VLAN with the VNI as
//!   its tunnel id, and the device gives a received frame of the VNI that VLAN;
//! * the VNI is in the device's VNI filter ([`super::vnifilter`]), or the device drops it;
//! * the bridge itself carries the VLAN (`self`), and the VNI's SVI `<bridge>.<vid>` holds its
//!   ARP/ND suppression neighbours: the bridge's own neighbour table is shared by all VLANs,
//!   while `br_do_proxy_suppress_arp` looks up the VLAN device of the frame's VLAN first, so
//!   per-VNI SVIs keep overlapping tenant addresses of different VNIs apart (FRR installs them
//!   on the SVI too);
//! * tenant ports are access ports of the VLAN (untagged, PVID).
//!
//! Suppression is the port-wide `neigh_suppress on`: per-VLAN suppression
//! (`IFLA_BRPORT_NEIGH_VLAN_SUPPRESS`, Linux ≥ 6.5) would make it depend on a per-VLAN option
//! for each VNI, and every VNI of evpnd suppresses (RFC 9161 §3).
//!
//! A VNI's VLAN is the lowest free one when the VNI first comes; at start it is read back from
//! the mapping on our VXLAN port, so it survives a restart. The shared devices carry the
//! marker [`SHARED_ALIAS`], a VNI's SVI that of its VNI; an adopted bridge must already be
//! VLAN-aware. The shared devices go when the last VNI goes, if ours.

use super::apply::{lock, Applier};
use super::fdb::{entry_requests, VniDevices};
use super::netdev::{self, owner_alias, Link, SHARED_ALIAS};
use super::vni::SetUp;
use super::{vlan, vnifilter, DeviceModel};
use crate::DataplaneIntent;
use netlink_packet_route::link::{BridgeVlanInfoFlags, InfoKind};
use std::collections::BTreeMap;

impl Applier {
    /// The shared bridge's and VXLAN device's names (single model only).
    fn shared_names(&self) -> Option<(String, String)> {
        match &self.config.model {
            DeviceModel::SingleVxlan { bridge, vxlan } => Some((bridge.clone(), vxlan.clone())),
            DeviceModel::PerVni => None,
        }
    }

    /// True when our shared VXLAN device `x` is what the configuration would create.
    fn shared_vxlan_is_current(&self, x: &Link) -> bool {
        x.kind == Some(InfoKind::Vxlan)
            && x.vxlan_vnifilter
            && x.vxlan_local == Some(self.config.vtep)
            && x.vxlan_port == Some(self.config.udp_port)
    }

    /// Creates (or recognises) the VLAN-aware bridge and the `external vnifilter` VXLAN
    /// device, makes the device a `vlan_tunnel`, non-learning, ARP/ND-suppressing port of the
    /// bridge and brings both up. Returns them and whether the bridge is ours.
    fn shared_devices(&mut self) -> Result<(Link, Link, bool), String> {
        let (bridge_name, vxlan_name) = self
            .shared_names()
            .ok_or("not the single-VXLAN-device model")?;
        let bridge = match self.get_link(&bridge_name)? {
            Some(b) if b.kind != Some(InfoKind::Bridge) => {
                return Err(format!(
                    "device {bridge_name} exists and is of kind {}, not a bridge; evpnd leaves \
                     it alone",
                    b.kind_name()
                ))
            }
            Some(b) if b.vlan_filtering != Some(true) => {
                return Err(format!(
                    "bridge {bridge_name} exists without vlan_filtering; the single-VXLAN model \
                     needs a VLAN-aware bridge and evpnd does not change one it did not create"
                ))
            }
            Some(b) => b,
            None => {
                let (m, f) = netdev::create_vlan_bridge(&bridge_name);
                self.ask(m, f, &format!("creating bridge {bridge_name}"))?;
                let b = self
                    .get_link(&bridge_name)?
                    .ok_or_else(|| format!("bridge {bridge_name} vanished after its creation"))?;
                self.ask(
                    netdev::set_alias(b.index, SHARED_ALIAS),
                    0,
                    "marking the bridge",
                )?;
                Link {
                    alias: Some(SHARED_ALIAS.into()),
                    ..b
                }
            }
        };
        let bridge_ours = bridge.alias.as_deref() == Some(SHARED_ALIAS);
        let vxlan = match self.get_link(&vxlan_name)? {
            Some(x) if x.alias.as_deref() != Some(SHARED_ALIAS) => {
                return Err(format!(
                    "device {vxlan_name} exists and was not created by evpnd (kind {}, no alias \
                     \"{SHARED_ALIAS}\"); evpnd leaves it alone",
                    x.kind_name()
                ))
            }
            Some(x) if self.shared_vxlan_is_current(&x) => x,
            stale_or_absent => {
                if let Some(stale) = stale_or_absent {
                    if stale.kind != Some(InfoKind::Vxlan) {
                        return Err(format!(
                            "device {vxlan_name} carries evpnd's marker but is of kind {}, not \
                             a VXLAN device; evpnd leaves it alone",
                            stale.kind_name()
                        ));
                    }
                    // Ours, made for another configuration: made again, without the
                    // entries an earlier run left on it.
                    self.ask(
                        netdev::delete(stale.index),
                        0,
                        &format!("deleting {vxlan_name} (made for another configuration)"),
                    )?;
                    self.snapshot.fdb.clear();
                    self.snapshot.flood.clear();
                }
                let (m, f) = netdev::create_vnifilter_vxlan(
                    &vxlan_name,
                    self.config.vtep,
                    self.config.udp_port,
                );
                self.ask(m, f, &format!("creating VXLAN device {vxlan_name}"))?;
                let x = self
                    .get_link(&vxlan_name)?
                    .ok_or_else(|| format!("device {vxlan_name} vanished after its creation"))?;
                self.ask(
                    netdev::set_alias(x.index, SHARED_ALIAS),
                    0,
                    "marking the VXLAN device",
                )?;
                x
            }
        };
        if vxlan.master != Some(bridge.index) {
            self.ask(
                netdev::set_master(vxlan.index, bridge.index),
                0,
                &format!("plugging {vxlan_name} into {bridge_name}"),
            )?;
        }
        self.ask(
            netdev::vlan_tunnel_port_options(vxlan.index),
            0,
            &format!("setting vlan_tunnel on, learning off, neigh_suppress on for {vxlan_name}"),
        )?;
        for (index, name) in [(bridge.index, &bridge_name), (vxlan.index, &vxlan_name)] {
            self.ask(netdev::set_up(index), 0, &format!("bringing {name} up"))?;
        }
        Ok((bridge, vxlan, bridge_ours))
    }

    /// The VLAN of `vni`: the one it had (this run or, from the kernel's mapping, the last),
    /// else the lowest free one.
    fn vlan_of(&mut self, vni: u32) -> Result<u16, String> {
        if let Some(vid) = self.vlans.get(&vni) {
            return Ok(*vid);
        }
        let vid = lowest_free_vlan(&self.vlans)
            .ok_or_else(|| format!("no VLAN left for VNI {vni}: all 4094 are mapped"))?;
        self.vlans.insert(vni, vid);
        Ok(vid)
    }

    /// Sets up `vni` on the shared devices: its VLAN on the VXLAN port and the bridge, the
    /// VLAN↔VNI mapping, the VNI filter entry and the SVI.
    pub(super) fn setup_single_vni(&mut self, vni: u32) -> Result<SetUp, String> {
        let (bridge, vxlan, bridge_ours) = self.shared_devices()?;
        let vid = self.vlan_of(vni)?;
        vnifilter::add(&mut self.socket, vxlan.index, vni)
            .map_err(|e| format!("adding VNI {vni} to the VNI filter of {}: {e}", vxlan.name))?;
        self.ask(
            vlan::add_vlan(vxlan.index, vid, BridgeVlanInfoFlags::empty()),
            0,
            &format!("adding VLAN {vid} to {}", vxlan.name),
        )?;
        self.ask(
            netdev::add_vlan_tunnel(vxlan.index, vid, vni),
            0,
            &format!("mapping VLAN {vid} to VNI {vni} on {}", vxlan.name),
        )?;
        self.ask(
            vlan::bridge_self_vlan(bridge.index, vid, true),
            0,
            &format!("adding VLAN {vid} to bridge {}", bridge.name),
        )?;
        let svi = self.svi(vni, &bridge, vid)?;
        let devices = VniDevices {
            bridge: bridge.index,
            vxlan: vxlan.index,
            vlan: Some(vid),
            neigh: svi,
        };
        Ok((devices, bridge.name, vxlan.name, bridge_ours))
    }

    /// Creates (or recognises) the SVI of `vni` and brings it up; returns its ifindex.
    fn svi(&mut self, vni: u32, bridge: &Link, vid: u16) -> Result<u32, String> {
        let name = vlan::svi_name(&bridge.name, vid)?;
        let svi = match self.get_link(&name)? {
            Some(s) if s.owner() == Some(vni) && s.kind == Some(InfoKind::Vlan) => s,
            Some(s) => {
                return Err(format!(
                    "device {name} exists and is not evpnd's SVI of VNI {vni} (kind {}); evpnd \
                     leaves it alone",
                    s.kind_name()
                ))
            }
            None => {
                let (m, f) = vlan::create_svi(&name, bridge.index, vid);
                self.ask(m, f, &format!("creating SVI {name}"))?;
                let s = self
                    .get_link(&name)?
                    .ok_or_else(|| format!("SVI {name} vanished after its creation"))?;
                self.ask(
                    netdev::set_alias(s.index, &owner_alias(vni)),
                    0,
                    "marking the SVI",
                )?;
                s
            }
        };
        self.ask(netdev::set_up(svi.index), 0, &format!("bringing {name} up"))?;
        Ok(svi.index)
    }

    /// Takes `vni` off the shared devices: the entries an earlier run left, the SVI, the
    /// VLAN (its mapping and the bridge's FDB entries of it go with it) and the VNI filter
    /// entry; the shared devices go too when no VNI is left and they are ours.
    pub(super) fn remove_single_vni(&mut self, vni: u32) -> Result<(), String> {
        let state = lock(&self.shared).remove(vni);
        let stale = self.snapshot.removals(Some(vni));
        self.snapshot.forget_vni(vni);
        if let Some(state) = state {
            self.unmap(vni, state.devices, &stale)?;
        }
        self.vlans.remove(&vni);
        self.release_shared_if_unused()
    }

    /// Removes the stale entries of `vni`, its SVI, VLAN and filter entry.
    fn unmap(
        &mut self,
        vni: u32,
        devices: VniDevices,
        stale: &[DataplaneIntent],
    ) -> Result<(), String> {
        let requests: Vec<_> = stale
            .iter()
            .flat_map(|i| entry_requests(i, devices))
            .map(|r| r.request)
            .collect();
        // Failures are entries already gone.
        let _ = self.socket.send_batch(&requests);
        let Some(vid) = devices.vlan else {
            return Ok(());
        };
        let mut steps = vec![
            (
                vlan::del_vlan(devices.vxlan, vid),
                "removing the VLAN of the VXLAN port",
            ),
            (
                vlan::bridge_self_vlan(devices.bridge, vid, false),
                "removing the VLAN of the bridge",
            ),
        ];
        if devices.neigh != devices.bridge {
            steps.insert(0, (netdev::delete(devices.neigh), "deleting the SVI"));
        }
        for (message, what) in steps {
            match self.socket.request(message, 0) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(format!("VNI {vni}: {what}: {e}")),
            }
        }
        vnifilter::delete(&mut self.socket, devices.vxlan, vni)
            .map_err(|e| format!("removing VNI {vni} from the VNI filter: {e}"))
    }

    /// Deletes the shared devices when no VNI uses them and they are ours.
    fn release_shared_if_unused(&mut self) -> Result<(), String> {
        let Some((bridge, vxlan)) = self.shared_names() else {
            return Ok(());
        };
        if !lock(&self.shared).vnis.is_empty() {
            return Ok(());
        }
        for name in [vxlan, bridge] {
            let Some(link) = self.get_link(&name)? else {
                continue;
            };
            if link.alias.as_deref() != Some(SHARED_ALIAS) {
                continue;
            }
            match self.socket.request(netdev::delete(link.index), 0) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(format!("deleting {name}: {e}")),
            }
        }
        Ok(())
    }

    /// The sweep's part in the single model: the VLANs, mappings and filter entries an
    /// earlier run left for VNIs nobody asked for (with their `stale` entries), then the
    /// shared devices if no VNI is left.
    pub(super) fn sweep_single(&mut self, mapped: &BTreeMap<u32, u16>, stale: &[DataplaneIntent]) {
        let Some((bridge, vxlan)) = self.shared_names() else {
            return;
        };
        let (Ok(Some(bridge)), Ok(Some(vxlan))) = (self.get_link(&bridge), self.get_link(&vxlan))
        else {
            return;
        };
        for (vni, vid) in mapped {
            let wanted = evpnd_wire::Vni::new(*vni)
                .is_ok_and(|v| self.desired.vnis.contains_key(&v))
                || lock(&self.shared).vnis.contains_key(vni);
            if wanted || self.vlans.get(vni) != Some(vid) {
                continue;
            }
            let devices = VniDevices {
                bridge: bridge.index,
                vxlan: vxlan.index,
                vlan: Some(*vid),
                // Its SVI went with the VNI's devices.
                neigh: bridge.index,
            };
            let own: Vec<DataplaneIntent> = stale
                .iter()
                .filter(|i| super::reconcile::intent_vni(i) == Some(*vni))
                .copied()
                .collect();
            let _ = self.unmap(*vni, devices, &own);
            self.vlans.remove(vni);
        }
        let _ = self.release_shared_if_unused();
    }
}

/// The lowest VLAN id in 1..=4094 that no VNI uses.
fn lowest_free_vlan(vlans: &BTreeMap<u32, u16>) -> Option<u16> {
    let used: std::collections::BTreeSet<u16> = vlans.values().copied().collect();
    vlan::VLAN_IDS.into_iter().find(|v| !used.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlans_are_the_lowest_free() {
        let mut vlans = BTreeMap::new();
        assert_eq!(lowest_free_vlan(&vlans), Some(1));
        vlans.insert(100, 1);
        vlans.insert(200, 3);
        assert_eq!(lowest_free_vlan(&vlans), Some(2));
        for (i, vid) in vlan::VLAN_IDS.enumerate() {
            vlans.insert(1000 + i as u32, vid);
        }
        assert_eq!(lowest_free_vlan(&vlans), None);
    }
}
