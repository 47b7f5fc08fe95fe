//! The devices of a VNI: set up, removed, repaired; tenant ports plugged in. The per-VNI
//! model is here; what the single-VXLAN model does differently is in [`super::single`].

use super::apply::{lock, Applier, VniState};
use super::fdb::VniDevices;
use super::netdev::{self, owner_alias, Link, OWNER_ALIAS_PREFIX};
use super::watch::{classify_fdb, FdbEvent};
use super::DeviceModel;
use crate::{DataplaneIntent, Feedback};
use evpnd_evpn::PortName;
use netlink_packet_route::link::InfoKind;
use netlink_packet_route::RouteNetlinkMessage;

/// What setting up a VNI's devices yields: the devices, the bridge's and the VXLAN device's
/// names, and whether the bridge is ours (else adopted).
pub(super) type SetUp = (VniDevices, String, String, bool);

impl Applier {
    pub(super) fn get_link(&mut self, name: &str) -> Result<Option<Link>, String> {
        netdev::get_by_name(&mut self.socket, name)
            .map_err(|e| format!("reading device {name}: {e}"))
    }

    pub(super) fn ask(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<(), String> {
        self.socket
            .request(message, flags)
            .map_err(|e| format!("{what}: {e}"))
    }

    /// Why the existing devices cannot serve `vni` (`None`: they can, or they are absent).
    fn conflict(&self, vni: u32, bridge: Option<&Link>, vxlan: Option<&Link>) -> Option<String> {
        if let Some(b) = bridge {
            if b.kind != Some(InfoKind::Bridge) {
                return Some(format!(
                    "device {} exists and is of kind {}, not a bridge; evpnd leaves it alone",
                    b.name,
                    b.kind_name()
                ));
            }
            if let Some(other) = b.owner().filter(|o| *o != vni) {
                return Some(format!(
                    "bridge {} was created by evpnd for VNI {other}, not VNI {vni}",
                    b.name
                ));
            }
        }
        if let Some(x) = vxlan {
            match x.owner() {
                None => {
                    return Some(format!(
                        "device {} exists and was not created by evpnd (kind {}, no alias \
                         \"{OWNER_ALIAS_PREFIX}{vni}\"); evpnd leaves it alone",
                        x.name,
                        x.kind_name()
                    ))
                }
                Some(other) if other != vni => {
                    return Some(format!(
                        "device {} was created by evpnd for VNI {other}, not VNI {vni}",
                        x.name
                    ))
                }
                Some(_) => {}
            }
            if x.kind != Some(InfoKind::Vxlan) {
                return Some(format!(
                    "device {} carries evpnd's marker for VNI {vni} but is of kind {}, not a \
                     VXLAN device; evpnd leaves it alone",
                    x.name,
                    x.kind_name(),
                ));
            }
        }
        None
    }

    /// True when our VXLAN device `x` of `vni` is what the configuration would create (VXLAN
    /// id, source address and UDP port, RFC 7348 §5).
    pub(super) fn vxlan_is_current(&self, x: &Link, vni: u32) -> bool {
        x.vxlan_id == Some(vni)
            && x.vxlan_local == Some(self.config.vtep)
            && x.vxlan_port == Some(self.config.udp_port)
    }

    /// Sets up the devices of `vni` in the configured model and registers them; then puts
    /// back what `desired` holds for the VNI.
    pub(super) fn setup_vni(&mut self, vni: u32) -> Result<(), String> {
        let vrf = evpnd_wire::Vni::new(vni)
            .ok()
            .and_then(|v| self.desired.vni_vrf.get(&v).copied());
        let (devices, bridge_name, vxlan_name, bridge_ours) = match (vrf, &self.config.model) {
            (Some(vrf), DeviceModel::PerVni) => self.setup_vrf_vni(vni, vrf)?,
            (Some(vrf), DeviceModel::SingleVxlan { .. }) => {
                return Err(format!(
                    "VNI {vni} is in VRF {vrf}: tenant VRFs need the per-VNI device model"
                ))
            }
            (None, DeviceModel::PerVni) => self.setup_per_vni(vni)?,
            (None, DeviceModel::SingleVxlan { .. }) => self.setup_single_vni(vni)?,
        };
        let netns = self.l3.ns_key(vrf);
        lock(&self.shared).insert(
            vni,
            VniState {
                devices,
                bridge_name,
                vxlan_name,
                bridge_ours,
                learning: self.config.learning(vni),
                bridge_up: true,
                vxlan_up: true,
                reported_up: true,
                netns,
            },
        );
        self.report(Feedback::LinkState {
            vni,
            up: true,
            reason: None,
        });
        if netns.is_none() {
            self.report_learned(vni, devices.bridge);
        }
        self.reinstall(vni);
        Ok(())
    }

    /// Creates (or recognises) the bridge and the VXLAN device of `vni`, makes the VXLAN
    /// device a non-learning, ARP/ND-suppressing port of the bridge and brings both up.
    /// Returns the devices, their names and whether the bridge is ours.
    pub(super) fn setup_per_vni(&mut self, vni: u32) -> Result<SetUp, String> {
        let bridge_name = self.config.bridge_name(vni);
        let vxlan_name = self.config.vxlan_name(vni);
        let bridge = self.get_link(&bridge_name)?;
        let vxlan = self.get_link(&vxlan_name)?;
        if let Some(reason) = self.conflict(vni, bridge.as_ref(), vxlan.as_ref()) {
            return Err(reason);
        }
        let marker = owner_alias(vni);
        let (bridge, bridge_ours) = match bridge {
            Some(b) => {
                let ours = b.owner() == Some(vni);
                (b, ours)
            }
            None => {
                let (m, f) = netdev::create_bridge(&bridge_name);
                self.ask(m, f, &format!("creating bridge {bridge_name}"))?;
                let b = self
                    .get_link(&bridge_name)?
                    .ok_or_else(|| format!("bridge {bridge_name} vanished after its creation"))?;
                self.ask(netdev::set_alias(b.index, &marker), 0, "marking the bridge")?;
                (b, true)
            }
        };
        let vxlan = match vxlan {
            Some(x) if self.vxlan_is_current(&x, vni) => x,
            stale_or_absent => {
                if let Some(stale) = stale_or_absent {
                    // Ours, made for another configuration (local address, VNI or port):
                    // made again. Its FDB goes with it; what an earlier run left there is
                    // no longer in the kernel to be renewed.
                    self.ask(
                        netdev::delete(stale.index),
                        0,
                        &format!("deleting {vxlan_name} (made for another configuration)"),
                    )?;
                    self.snapshot.forget_vxlan_entries(vni);
                }
                let (m, f) =
                    netdev::create_vxlan(&vxlan_name, vni, self.config.vtep, self.config.udp_port);
                self.ask(m, f, &format!("creating VXLAN device {vxlan_name}"))?;
                let x = self
                    .get_link(&vxlan_name)?
                    .ok_or_else(|| format!("device {vxlan_name} vanished after its creation"))?;
                self.ask(
                    netdev::set_alias(x.index, &marker),
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
            netdev::vxlan_port_options(vxlan.index),
            0,
            &format!("setting learning off and neigh_suppress on for {vxlan_name}"),
        )?;
        self.ask(
            netdev::set_up(bridge.index),
            0,
            &format!("bringing {bridge_name} up"),
        )?;
        self.ask(
            netdev::set_up(vxlan.index),
            0,
            &format!("bringing {vxlan_name} up"),
        )?;
        let devices = VniDevices {
            bridge: bridge.index,
            vxlan: vxlan.index,
            vlan: None,
            neigh: bridge.index,
        };
        Ok((devices, bridge_name, vxlan_name, bridge_ours))
    }

    /// Reports the MACs the bridge of `vni` has already learned on its tenant ports (a
    /// restarted daemon re-learns its local endpoints at once).
    fn report_learned(&mut self, vni: u32, bridge: u32) {
        let Ok(entries) = super::reconcile::bridge_fdb(&mut self.socket, bridge) else {
            return;
        };
        let mut found = Vec::new();
        {
            let mut shared = lock(&self.shared);
            for entry in &entries {
                if let FdbEvent::Learned(v, mac) = classify_fdb(entry, &shared) {
                    if v == vni && shared.learned.insert((v, mac)) {
                        found.push(mac);
                    }
                }
            }
        }
        for mac in found {
            self.report(Feedback::LocalMacLearned { vni, mac, ip: None });
        }
    }

    /// Deletes what we created for `vni`: per-VNI, the VXLAN device, and the bridge unless
    /// adopted (an adopted bridge only loses our VXLAN port).
    pub(super) fn remove_vni(&mut self, vni: u32) -> Result<(), String> {
        if let DeviceModel::SingleVxlan { .. } = self.config.model {
            return self.remove_single_vni(vni);
        }
        let state = lock(&self.shared).remove(vni);
        self.snapshot.forget_vni(vni);
        let Some(state) = state else {
            return Ok(());
        };
        self.in_netns(state.netns, |a| {
            for (index, name, ours) in [
                (state.devices.vxlan, &state.vxlan_name, true),
                (state.devices.bridge, &state.bridge_name, state.bridge_ours),
            ] {
                if !ours {
                    continue;
                }
                match a.socket.request(netdev::delete(index), 0) {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(format!("deleting {name}: {e}")),
                }
            }
            Ok(())
        })
    }

    /// Plugs the tenant port `port` into the bridge of `vni` and brings it up (single model:
    /// as an access port of the VNI's VLAN).
    pub(super) fn plug(&mut self, vni: u32, port: PortName) -> Result<(), String> {
        let netns = lock(&self.shared).vnis.get(&vni).and_then(|s| s.netns);
        if let Some(vrf) = netns {
            // A VNI in a VRF namespace: the port moves there first (from the host).
            if let Some(link) = self.get_link(port.as_str())? {
                self.port_into_netns(&link, vrf)?;
            }
        }
        self.in_netns(netns, |a| a.plug_here(vni, port))
    }

    /// Plugs `port` into the bridge of `vni`, both in the namespace of `self.socket`.
    fn plug_here(&mut self, vni: u32, port: PortName) -> Result<(), String> {
        let devices = lock(&self.shared).vnis.get(&vni).map(|s| s.devices);
        let bridge = devices.map(|d| d.bridge).ok_or_else(|| {
            format!("the devices of VNI {vni} are not set up (see its link state)")
        })?;
        let link = self
            .get_link(port.as_str())?
            .ok_or_else(|| format!("interface {port} does not exist (yet)"))?;
        if link.master != Some(bridge) {
            self.ask(
                netdev::set_master(link.index, bridge),
                0,
                &format!("plugging {port} in"),
            )?;
        }
        if let Some(vid) = devices.and_then(|d| d.vlan) {
            self.ask(
                super::vlan::add_access_vlan(link.index, vid),
                0,
                &format!("making {port} an access port of VLAN {vid}"),
            )?;
        }
        if !link.up {
            self.ask(
                netdev::set_up(link.index),
                0,
                &format!("bringing {port} up"),
            )?;
        }
        Ok(())
    }

    /// Releases `port` from the bridge of `vni` if it is still plugged in there.
    /// In a VRF namespace the port then goes back to the host namespace.
    pub(super) fn unplug(&mut self, vni: u32, port: PortName) -> Result<(), String> {
        let state = lock(&self.shared)
            .vnis
            .get(&vni)
            .map(|s| (s.devices.bridge, s.netns));
        let Some((bridge, netns)) = state else {
            return Ok(());
        };
        self.in_netns(netns, |a| {
            let Some(link) = a.get_link(port.as_str())? else {
                return Ok(());
            };
            a.unplug_here(&link, bridge, port)?;
            if netns.is_some() {
                a.port_to_host(link.index, port.as_str())?;
            }
            Ok(())
        })
    }

    /// Releases `link` from `bridge`, both in the namespace of `self.socket`.
    fn unplug_here(&mut self, link: &Link, bridge: u32, port: PortName) -> Result<(), String> {
        if link.master == Some(bridge) {
            self.ask(
                netdev::set_master(link.index, 0),
                0,
                &format!("releasing {port}"),
            )?;
        }
        Ok(())
    }

    /// A device of `vni` was deleted by someone else while the VNI is wanted: set it up again
    /// and put its entries back.
    pub(super) fn repair(&mut self, vni: u32) {
        let Ok(v) = evpnd_wire::Vni::new(vni) else {
            return;
        };
        if !self.desired.vnis.contains_key(&v) {
            return;
        }
        lock(&self.shared).remove(vni);
        if let Err(reason) = self.setup_vni(vni) {
            self.report(Feedback::LinkState {
                vni,
                up: false,
                reason: Some(reason.clone()),
            });
            self.fail(DataplaneIntent::Vni { vni: v, vrf: None }, reason);
        }
    }
}
