//! Tenant VRFs (RFC 9135 §3) in the kernel, in either model behind one interface:
//!
//! * **namespace per VRF** ([`VrfModel::Namespace`]): the VRF is a network namespace
//!   (`VrfOptions::netns`, default `evpnd-<vrf>`), opened or created, with forwarding on. The
//!   VXLAN devices of its L3VNI and of its L2VNIs are created in the host namespace (their
//!   underlay sockets stay there) and moved in; their bridges are created inside; tenant ports
//!   are moved in when plugged and back when released. Routes go in the namespace's main
//!   table. Every request for the namespace goes through a netlink socket opened inside it.
//! * **VRF devices** ([`VrfModel::Device`], the FRR/Cumulus model, `CONFIG_NET_VRF`): a `vrf`
//!   device named after the VRF with its own table (`VrfOptions::table`, default
//!   [`route::default_table`]); the VRF's bridges are enslaved to it; everything stays in the
//!   host namespace.
//!
//! With an L3VNI (symmetric IRB, RFC 9135 §5) the VRF gets a bridge `br<l3vni>` whose MAC is
//! the router MAC (RFC 9135 §8.1) and a VXLAN port `vx<l3vni>`. A remote router MAC is an FDB
//! entry `MAC dev vx<l3vni> dst VTEP` plus permanent neighbours `VTEP` and `::ffff:VTEP`
//! (IPv4 VTEPs) on `br<l3vni>`; a route's remote path is `via VTEP dev br<l3vni> onlink`.
//! Routes, router MACs and VNI entries are queued and written in the same pipelined batches.

use super::apply::{lock, Applier, PendingEntry};
use super::fdb::{entry_requests, EntryRequest, VniDevices};
use super::netdev::{self, Link};
use super::netns::{self, Namespace};
use super::route::{self, MAIN_TABLE};
use super::socket::Request;
use super::vni::SetUp;
use super::VrfModel;
use crate::{DataplaneIntent, RoutePaths, VrfName};
use evpnd_wire::{MacAddress, Vni};
use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_route::link::InfoKind;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

/// The alias that marks a `vrf` device evpnd created.
const VRF_ALIAS: &str = "evpnd vrf";

/// Where a VRF lives.
pub(crate) enum VrfPlace {
    /// Its own network namespace.
    Namespace(Namespace),
    /// A `vrf` device of the host namespace.
    Device {
        /// Its ifindex.
        index: u32,
        /// Created by us (else adopted: never deleted).
        ours: bool,
    },
}

/// The devices of a VRF's L3VNI.
#[derive(Clone, Debug)]
pub(crate) struct L3Devices {
    /// The L3VNI.
    pub vni: u32,
    /// Its bridge and VXLAN device (ifindexes in the VRF's namespace).
    pub devices: VniDevices,
    /// The bridge's name.
    pub bridge_name: String,
    /// The VXLAN device's name.
    pub vxlan_name: String,
    /// We created the bridge.
    pub bridge_ours: bool,
}

/// A VRF as the backend set it up.
pub(crate) struct VrfState {
    /// Where it lives.
    pub place: VrfPlace,
    /// Its routing table.
    pub table: u32,
    /// The L3VNI's devices (symmetric IRB).
    pub l3: Option<L3Devices>,
    /// The remote router MACs installed: VTEP → MAC.
    pub router_macs: BTreeMap<IpAddr, MacAddress>,
}

/// The layer-3 state of the apply thread.
#[derive(Default)]
pub(crate) struct L3 {
    /// The VRF model in use (resolved: never `Auto`).
    pub model: VrfModel,
    /// The backend's own namespace (released tenant ports go back there).
    pub host_ns: Option<OwnedFd>,
    /// The VRFs set up.
    pub vrfs: BTreeMap<VrfName, VrfState>,
}

impl L3 {
    /// The namespace key of `vrf`'s requests: `Some(vrf)` when it is a namespace of its own.
    pub fn ns_key(&self, vrf: Option<VrfName>) -> Option<VrfName> {
        let vrf = vrf?;
        match self.vrfs.get(&vrf).map(|s| &s.place) {
            Some(VrfPlace::Namespace(_)) => Some(vrf),
            _ if self.model == VrfModel::Namespace => Some(vrf),
            _ => None,
        }
    }
}

impl Applier {
    /// Runs `f` with `self.socket` inside the namespace of `ns` (the host's when `None` or
    /// when the VRF is not a namespace). `f` must not flush.
    pub(super) fn in_netns<T>(
        &mut self,
        ns: Option<VrfName>,
        f: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<T, String> {
        let Some(vrf) = ns else { return f(self) };
        let Some(mut state) = self.l3.vrfs.remove(&vrf) else {
            return Err(format!("VRF {vrf} is not set up"));
        };
        let result = match &mut state.place {
            VrfPlace::Namespace(n) => {
                std::mem::swap(&mut self.socket, &mut n.socket);
                let result = f(self);
                std::mem::swap(&mut self.socket, &mut n.socket);
                result
            }
            VrfPlace::Device { .. } => f(self),
        };
        self.l3.vrfs.insert(vrf, state);
        result
    }

    /// The raw fd of `vrf`'s namespace.
    fn netns_fd(&self, vrf: VrfName) -> Result<i32, String> {
        match self.l3.vrfs.get(&vrf).map(|s| &s.place) {
            Some(VrfPlace::Namespace(n)) => Ok(n.fd.as_raw_fd()),
            _ => Err(format!("VRF {vrf} has no network namespace")),
        }
    }

    /// Carries out a VRF or gateway intent (device changes, acked one by one).
    pub(super) fn execute_vrf_device(&mut self, intent: DataplaneIntent) -> Result<(), String> {
        match intent {
            DataplaneIntent::Vrf {
                vrf,
                l3vni,
                router_mac,
            } => self.setup_vrf(vrf, l3vni.map(Vni::get), router_mac),
            DataplaneIntent::RemoveVrf { vrf } => self.remove_vrf(vrf),
            DataplaneIntent::Gateway {
                vni,
                address,
                prefix_len,
                mac,
            } => self.gateway(vni.get(), address, prefix_len, Some(mac)),
            DataplaneIntent::RemoveGateway {
                vni,
                address,
                prefix_len,
            } => self.gateway(vni.get(), address, prefix_len, None),
            _ => Ok(()),
        }
    }

    /// Sets up `vrf` (idempotent: a retry completes what an earlier attempt left).
    fn setup_vrf(
        &mut self,
        vrf: VrfName,
        l3vni: Option<u32>,
        router_mac: MacAddress,
    ) -> Result<(), String> {
        let options = self
            .config
            .vrfs
            .get(vrf.as_str())
            .cloned()
            .unwrap_or_default();
        if !self.l3.vrfs.contains_key(&vrf) {
            let state = match self.l3.model {
                VrfModel::Device => {
                    let table = options
                        .table
                        .unwrap_or_else(|| route::default_table(vrf.as_str(), l3vni));
                    let (index, ours) = self.vrf_device(vrf.as_str(), table)?;
                    VrfState {
                        place: VrfPlace::Device { index, ours },
                        table,
                        l3: None,
                        router_macs: BTreeMap::new(),
                    }
                }
                _ => {
                    let name = options
                        .netns
                        .clone()
                        .unwrap_or_else(|| format!("evpnd-{vrf}"));
                    VrfState {
                        place: VrfPlace::Namespace(netns::open(&name)?),
                        table: MAIN_TABLE,
                        l3: None,
                        router_macs: BTreeMap::new(),
                    }
                }
            };
            self.l3.vrfs.insert(vrf, state);
        }
        let Some(l3vni) = l3vni else {
            return Ok(());
        };
        let (devices, bridge_name, vxlan_name, bridge_ours) = self.setup_vrf_vni(l3vni, vrf)?;
        let ns = self.l3.ns_key(Some(vrf));
        self.in_netns(ns, |a| {
            a.ask(
                route::set_mac(devices.bridge, router_mac),
                0,
                &format!("setting the router MAC {router_mac} on {bridge_name}"),
            )
        })?;
        if let Some(state) = self.l3.vrfs.get_mut(&vrf) {
            state.l3 = Some(L3Devices {
                vni: l3vni,
                devices,
                bridge_name,
                vxlan_name,
                bridge_ours,
            });
        }
        Ok(())
    }

    /// Creates (or adopts) the `vrf` device `name` with `table` and brings it up.
    fn vrf_device(&mut self, name: &str, table: u32) -> Result<(u32, bool), String> {
        if let Some(link) = self.get_link(name)? {
            if link.kind != Some(InfoKind::Vrf) {
                return Err(format!(
                    "device {name} exists and is of kind {}, not a VRF; evpnd leaves it alone",
                    link.kind_name()
                ));
            }
            let ours = link.alias.as_deref() == Some(VRF_ALIAS);
            if !link.up {
                self.ask(
                    netdev::set_up(link.index),
                    0,
                    &format!("bringing {name} up"),
                )?;
            }
            return Ok((link.index, ours));
        }
        let (m, f) = route::create_vrf(name, table);
        self.ask(m, f, &format!("creating VRF device {name} (table {table})"))?;
        let link = self
            .get_link(name)?
            .ok_or_else(|| format!("VRF device {name} vanished after its creation"))?;
        self.ask(
            netdev::set_alias(link.index, VRF_ALIAS),
            0,
            "marking the VRF device",
        )?;
        self.ask(
            netdev::set_up(link.index),
            0,
            &format!("bringing {name} up"),
        )?;
        Ok((link.index, true))
    }

    /// Sets up the bridge and VXLAN device of `vni` (an L2VNI or the L3VNI) inside `vrf`:
    /// namespace model, VXLAN device created in the host namespace and moved in, the rest
    /// as the per-VNI model does it inside; device model, the per-VNI devices with the bridge
    /// enslaved to the VRF device.
    pub(super) fn setup_vrf_vni(&mut self, vni: u32, vrf: VrfName) -> Result<SetUp, String> {
        let place = match self.l3.vrfs.get(&vrf).map(|s| &s.place) {
            Some(VrfPlace::Namespace(_)) => None,
            Some(VrfPlace::Device { index, .. }) => Some(*index),
            None => return Err(format!("VRF {vrf} is not set up (see its install failure)")),
        };
        match place {
            None => {
                self.vxlan_into_netns(vni, vrf)?;
                self.in_netns(Some(vrf), |a| a.setup_per_vni(vni))
            }
            Some(vrf_index) => {
                self.snapshot_take_devices(vni);
                let set_up = self.setup_per_vni(vni)?;
                self.ask(
                    netdev::set_master(set_up.0.bridge, vrf_index),
                    0,
                    &format!("enslaving {} to VRF {vrf}", set_up.1),
                )?;
                Ok(set_up)
            }
        }
    }

    /// Makes sure the VXLAN device of `vni` is in `vrf`'s namespace, created in the host
    /// namespace (so that its underlay socket stays there) and moved in.
    fn vxlan_into_netns(&mut self, vni: u32, vrf: VrfName) -> Result<(), String> {
        let name = self.config.vxlan_name(vni);
        let inside = self.in_netns(Some(vrf), |a| a.get_link(&name))?;
        if let Some(x) = inside {
            if x.owner() != Some(vni) {
                return Err(foreign(&x, vni));
            }
            if self.vxlan_is_current(&x, vni) {
                return Ok(());
            }
            // Ours, made for another configuration: made again from the host.
            self.in_netns(Some(vrf), |a| {
                a.ask(
                    netdev::delete(x.index),
                    0,
                    &format!("deleting stale {name}"),
                )
            })?;
        }
        if let Some(h) = self.get_link(&name)? {
            if h.owner() != Some(vni) {
                return Err(foreign(&h, vni));
            }
            // Ours in the host namespace (the VNI was not in a VRF before): made again.
            self.ask(netdev::delete(h.index), 0, &format!("deleting {name}"))?;
        }
        let (m, f) = netdev::create_vxlan(&name, vni, self.config.vtep, self.config.udp_port);
        self.ask(m, f, &format!("creating VXLAN device {name}"))?;
        let x = self
            .get_link(&name)?
            .ok_or_else(|| format!("device {name} vanished after its creation"))?;
        let moved = self
            .ask(
                netdev::set_alias(x.index, &netdev::owner_alias(vni)),
                0,
                "marking the VXLAN device",
            )
            .and_then(|()| {
                let fd = self.netns_fd(vrf)?;
                self.ask(
                    route::move_to_netns(x.index, fd),
                    0,
                    &format!("moving {name} into the namespace of VRF {vrf}"),
                )
            });
        if moved.is_err() {
            // Never leave a half-made device behind in the host namespace.
            let _ = self.socket.request(netdev::delete(x.index), 0);
        }
        moved
    }

    /// Adds (`mac` given) or removes the gateway `address/prefix_len` on the bridge of `vni`
    /// (RFC 9135 §4.1); an add also gives the bridge the gateway MAC.
    fn gateway(
        &mut self,
        vni: u32,
        address: IpAddr,
        prefix_len: u8,
        mac: Option<MacAddress>,
    ) -> Result<(), String> {
        let state = lock(&self.shared)
            .vnis
            .get(&vni)
            .map(|s| (s.devices.bridge, s.netns, s.bridge_name.clone()));
        let Some((bridge, ns, name)) = state else {
            if mac.is_none() {
                return Ok(());
            }
            return Err(format!(
                "the devices of VNI {vni} are not set up (see its link state)"
            ));
        };
        self.in_netns(ns, |a| {
            if let Some(mac) = mac {
                a.ask(
                    route::set_mac(bridge, mac),
                    0,
                    &format!("setting the gateway MAC {mac} on {name}"),
                )?;
            }
            let request = route::address(bridge, address, prefix_len, mac.is_some());
            match a.socket.request(request.message, request.flags) {
                Ok(()) => Ok(()),
                Err(e) if mac.is_none() && (e.is_not_found() || e.code == 99) => Ok(()),
                Err(e) => Err(format!(
                    "{} gateway {address}/{prefix_len} on {name}: {e}",
                    if mac.is_some() { "adding" } else { "removing" }
                )),
            }
        })
    }

    /// Deletes what was made for `vrf`: its L3VNI devices, then its VRF device (ours) or its
    /// namespace (created in this run).
    fn remove_vrf(&mut self, vrf: VrfName) -> Result<(), String> {
        let Some(state) = self.l3.vrfs.get(&vrf) else {
            return Ok(());
        };
        let l3 = state.l3.clone();
        let ns = self.l3.ns_key(Some(vrf));
        if let Some(l3) = l3 {
            self.in_netns(ns, |a| {
                for (index, name, ours) in [
                    (l3.devices.vxlan, &l3.vxlan_name, true),
                    (l3.devices.bridge, &l3.bridge_name, l3.bridge_ours),
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
            })?;
            if let Some(s) = self.l3.vrfs.get_mut(&vrf) {
                s.l3 = None;
            }
        }
        let Some(state) = self.l3.vrfs.remove(&vrf) else {
            return Ok(());
        };
        match state.place {
            VrfPlace::Namespace(n) => {
                let (name, created) = (n.name.clone(), n.created);
                drop(n);
                if created {
                    netns::delete(&name)?;
                }
            }
            VrfPlace::Device { index, ours } => {
                if ours {
                    match self.socket.request(netdev::delete(index), 0) {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(format!("deleting VRF device {vrf}: {e}")),
                    }
                }
            }
        }
        Ok(())
    }

    /// Queues the requests of a router MAC or route intent (written at the next flush).
    pub(super) fn queue_layer3(
        &mut self,
        intent: DataplaneIntent,
        retry: bool,
        paths: Option<&RoutePaths>,
    ) {
        match self.layer3_requests(intent, paths) {
            Ok((ns, requests)) => {
                for request in requests {
                    self.pending.push(PendingEntry {
                        intent,
                        request,
                        ns,
                    });
                }
                if retry {
                    self.pending_retries.push(intent);
                }
            }
            Err(reason) => self.fail(intent, reason),
        }
    }

    /// The requests of a router MAC or route intent and the namespace they go to. `paths`:
    /// a route's paths when the caller has them (from applying it to the desired tables);
    /// otherwise they are looked up there.
    fn layer3_requests(
        &mut self,
        intent: DataplaneIntent,
        paths: Option<&RoutePaths>,
    ) -> Result<(Option<VrfName>, Vec<EntryRequest>), String> {
        let vrf = match intent {
            DataplaneIntent::RouterMac { vrf, .. }
            | DataplaneIntent::RemoveRouterMac { vrf, .. }
            | DataplaneIntent::RemoteRoute { vrf, .. }
            | DataplaneIntent::RemoveRemoteRoute { vrf, .. }
            | DataplaneIntent::GatewayRoute { vrf, .. }
            | DataplaneIntent::RemoveGatewayRoute { vrf, .. } => vrf,
            _ => return Ok((None, Vec::new())),
        };
        let ns = self.l3.ns_key(Some(vrf));
        let Some(state) = self.l3.vrfs.get_mut(&vrf) else {
            return Err(format!("VRF {vrf} is not set up (see its install failure)"));
        };
        let l3 = state.l3.as_ref().map(|l| (l.vni, l.devices));
        let mut out = Vec::new();
        match intent {
            DataplaneIntent::RouterMac { vtep, mac, .. } => {
                let (vni, devices) =
                    l3.ok_or_else(|| format!("VRF {vrf} has no L3VNI devices set up"))?;
                let vni = Vni::new(vni).map_err(|e| e.to_string())?;
                if let Some(old) = state.router_macs.get(&vtep).filter(|m| **m != mac) {
                    let remove = DataplaneIntent::RemoveRemoteMac { vni, mac: *old };
                    out.extend(entry_requests(&remove, devices));
                }
                let fdb = DataplaneIntent::RemoteMac {
                    vni,
                    mac,
                    vtep,
                    sticky: false,
                };
                out.extend(entry_requests(&fdb, devices));
                for ip in vtep_neighbours(vtep) {
                    let neigh = DataplaneIntent::Neighbor {
                        vni,
                        ip,
                        mac,
                        router: false,
                        local: true,
                    };
                    out.extend(entry_requests(&neigh, devices));
                }
                state.router_macs.insert(vtep, mac);
            }
            DataplaneIntent::RemoveRouterMac { vtep, .. } => {
                let Some(((vni, devices), mac)) = l3.zip(state.router_macs.remove(&vtep)) else {
                    return Ok((ns, out));
                };
                let vni = Vni::new(vni).map_err(|e| e.to_string())?;
                out.extend(entry_requests(
                    &DataplaneIntent::RemoveRemoteMac { vni, mac },
                    devices,
                ));
                for ip in vtep_neighbours(vtep) {
                    out.extend(entry_requests(
                        &DataplaneIntent::RemoveNeighbor { vni, ip },
                        devices,
                    ));
                }
            }
            DataplaneIntent::RemoteRoute { prefix, .. }
            | DataplaneIntent::RemoveRemoteRoute { prefix, .. }
            | DataplaneIntent::GatewayRoute { prefix, .. }
            | DataplaneIntent::RemoveGatewayRoute { prefix, .. } => {
                let paths = paths
                    .or_else(|| self.desired.routes.get(&(vrf, prefix)))
                    .map_or(&[][..], RoutePaths::as_slice);
                let table = state.table;
                let request =
                    route::route_request(table, prefix, paths, l3.map(|(_, d)| d.bridge))?;
                out.push(EntryRequest {
                    request,
                    delete: paths.is_empty(),
                });
            }
            _ => {}
        }
        Ok((ns, out))
    }

    /// Deletes the routes an earlier run left in the tables of the VRFs set up (protocol
    /// [`route::EVPND_ROUTE_PROTOCOL`], the VRF's table) that no intent renewed. Part of the
    /// sweep at `Synced`; failures leave them for the next start.
    pub(super) fn sweep_routes(&mut self) {
        let vrfs: Vec<(VrfName, u32)> = self.l3.vrfs.iter().map(|(v, s)| (*v, s.table)).collect();
        for (vrf, table) in vrfs {
            let ns = self.l3.ns_key(Some(vrf));
            let found = self.in_netns(ns, |a| {
                let mut found = Vec::new();
                for family in [AddressFamily::Inet, AddressFamily::Inet6] {
                    let answers = a
                        .socket
                        .query(&route::dump_routes(family), NLM_F_DUMP)
                        .map_err(|e| e.to_string())?;
                    found.extend(answers.iter().filter_map(|m| match m {
                        RouteNetlinkMessage::NewRoute(r) => route::ours(r, table),
                        _ => None,
                    }));
                }
                Ok(found)
            });
            let Ok(found) = found else { continue };
            let requests: Vec<Request> = found
                .into_iter()
                .filter(|p| !self.desired.routes.contains_key(&(vrf, *p)))
                .filter_map(|p| route::route_request(table, p, &[], None).ok())
                .collect();
            if !requests.is_empty() {
                let _ = self.in_netns(ns, |a| Ok(a.socket.send_batch(&requests)));
            }
        }
    }

    /// Moves tenant port `link` of a VNI in `vrf` from the host namespace into the VRF's.
    pub(super) fn port_into_netns(&mut self, link: &Link, vrf: VrfName) -> Result<(), String> {
        let fd = self.netns_fd(vrf)?;
        self.ask(
            route::move_to_netns(link.index, fd),
            0,
            &format!("moving {} into the namespace of VRF {vrf}", link.name),
        )
    }

    /// Moves tenant port `index` (inside a VRF's namespace) back to the host namespace.
    pub(super) fn port_to_host(&mut self, index: u32, name: &str) -> Result<(), String> {
        let fd = self
            .l3
            .host_ns
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or_else(|| "the host network namespace is not open".to_string())?;
        self.ask(
            route::move_to_netns(index, fd),
            0,
            &format!("moving {name} back to the host namespace"),
        )
    }
}

/// The neighbour entries a remote router MAC needs on the L3VNI bridge: the VTEP, and for an
/// IPv4 VTEP its IPv4-mapped IPv6 address (the gateway of IPv6 routes).
fn vtep_neighbours(vtep: IpAddr) -> Vec<IpAddr> {
    match vtep {
        IpAddr::V4(_) => vec![vtep, route::mapped(vtep)],
        IpAddr::V6(_) => vec![vtep],
    }
}

/// Why a device in the way of our VXLAN device is left alone.
fn foreign(link: &Link, vni: u32) -> String {
    format!(
        "device {} exists and was not created by evpnd for VNI {vni} (kind {}); evpnd leaves it alone",
        link.name,
        link.kind_name()
    )
}
