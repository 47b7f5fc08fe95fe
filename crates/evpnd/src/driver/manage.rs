//! The driver's side of run-time management: VNIs with their data-plane device
//! options, neighbours with the configuration's defaults, paged lists, and configuration
//! reload (SIGHUP and `ReloadConfig`, the difference computed by [`crate::reload`]).

use super::Driver;
use crate::control::{ManageRequest, NeighborSpec, ReloadReport};
use crate::persist::Restored;
use evpnd_bgp::config::{GracefulRestartConfig, PeerConfig};
use evpnd_dataplane::{VniOptions, VrfOptions};
use evpnd_evpn::{VniSummary, VrfConfig, VrfSummary};
use evpnd_node::{Command, CommandError, NeighborConfig, VniSpec, VrfSpec};
use std::time::{Duration, Instant};
use tracing::{info, warn};

impl Driver {
    /// Answers a management or paged request.
    pub(super) fn on_manage(&mut self, req: ManageRequest) {
        let n = &self.node;
        match req {
            // What changes the journal is answered once the journal is written.
            ManageRequest::CreateVni(spec, options, tx) => {
                let r = self.create_vni(spec.clone(), options.clone());
                if r.is_ok() {
                    self.journal.record_vni(&spec, &options);
                }
                self.answer_after_journal(tx, r);
            }
            ManageRequest::DeleteVni(vni, tx) => {
                let r = self.delete_vni(vni);
                self.answer_after_journal(tx, r);
            }
            ManageRequest::AddNeighbor(spec, tx) => {
                let r = self.add_neighbor(spec.clone());
                if r.is_ok() {
                    self.journal.record_neighbor(&spec);
                }
                self.answer_after_journal(tx, r);
            }
            ManageRequest::AddVrf(spec, options, tx) => {
                let r = self.add_vrf(spec.clone(), options.clone());
                if r.is_ok() {
                    self.journal.record_vrf(&spec, &options);
                }
                self.answer_after_journal(tx, r);
            }
            ManageRequest::RemoveVrf(name, tx) => {
                let r = self.remove_vrf(&name);
                self.answer_after_journal(tx, r);
            }
            ManageRequest::VrfsPage(after, limit, tx) => {
                let _ = tx.send(n.vrfs_page(after, limit));
            }
            ManageRequest::ExplainRoute(vrf, ip, tx) => {
                let _ = tx.send(n.explain_route(&vrf, ip));
            }
            ManageRequest::IpRoutesPage(vrf, after, limit, tx) => {
                let _ = tx.send(n.vrf_routes_page(vrf.as_deref(), after, limit));
            }
            ManageRequest::RoutesPage(filter, after, limit, tx) => {
                // A filter naming a VRF that does not exist is NOT_FOUND, not an empty list.
                let page = match filter.vrf {
                    Some(v) => n.vrf(v.as_str()).map(|_| ()),
                    None => Ok(()),
                }
                .map(|()| n.routes_page(&filter, after, limit));
                let _ = tx.send(page);
            }
            ManageRequest::MacsPage(vni, after, limit, tx) => {
                let _ = tx.send(n.macs_page(vni, after, limit));
            }
            ManageRequest::HostIntentsPage(after, limit, tx) => {
                let _ = tx.send(n.host_intent_page(after, limit));
            }
            ManageRequest::ArpPage(vni, after, limit, tx) => {
                let _ = tx.send(n.arp_page(vni, after, limit));
            }
            ManageRequest::FloodPage(vni, after, limit, tx) => {
                let _ = tx.send(n.flood_page(vni, after, limit));
            }
            ManageRequest::EndpointsPage(vni, after, limit, tx) => {
                let configured = self.running.node.evpn.as_ref();
                let page = n
                    .endpoints_page(vni, after, limit)
                    .map(|p| evpnd_node::Page {
                        items: p
                            .items
                            .into_iter()
                            .map(|e| {
                                let listed = configured.is_some_and(|c| {
                                    c.endpoints
                                        .iter()
                                        .any(|a| a.vni == e.entry.vni && a.mac == e.entry.mac)
                                });
                                (e, listed)
                            })
                            .collect(),
                        next: p.next,
                    });
                let _ = tx.send(page);
            }
            ManageRequest::Reload(tx) => {
                let _ = tx.send(self.reload());
            }
        }
    }

    /// Creates an EVI: the data plane judges the device options first, the node the EVI; the
    /// options reach the data plane before the EVI's intents do.
    fn create_vni(
        &mut self,
        spec: VniSpec,
        options: VniOptions,
    ) -> Result<VniSummary, CommandError> {
        let vni = spec.vni;
        // The VNI itself is judged before its device options.
        evpnd_node::validate::vni(vni)?;
        if let Err(e) = self.dataplane.check_vni_options(vni, &options) {
            // The backend names the option first ("vxlan_device: ..."): options a data plane
            // without devices cannot take are a precondition, bad names a bad argument.
            let (field, message) = match e.split_once(": ") {
                Some(("vxlan_device", m)) => ("vxlan_device", m.to_string()),
                Some(("learning", m)) => ("learning", m.to_string()),
                Some(("bridge", m)) => ("bridge", m.to_string()),
                _ => ("bridge", e.clone()),
            };
            return Err(if self.dataplane.kind() == "linux" {
                CommandError::invalid(field, message)
            } else {
                CommandError::precondition(field, message)
            });
        }
        self.command(Command::AddVni(spec))?;
        self.dataplane.set_vni_options(vni, Some(options));
        self.node.vni(vni)
    }

    /// Creates a tenant VRF: the data plane judges the kernel options first, the node the VRF;
    /// the options reach the data plane before the VRF's intents do.
    fn add_vrf(&mut self, spec: VrfSpec, options: VrfOptions) -> Result<VrfSummary, CommandError> {
        let name = evpnd_node::validate::vrf_name("name", &spec.name)?;
        if let Err(e) = self.dataplane.check_vrf_options(name, &options) {
            // The backend names the option first ("netns: ...").
            let (field, message) = match e.split_once(": ") {
                Some(("table", m)) => ("table", m.to_string()),
                Some(("netns", m)) => ("netns", m.to_string()),
                _ => ("netns", e.clone()),
            };
            return Err(if self.dataplane.kind() == "linux" {
                CommandError::invalid(field, message)
            } else {
                CommandError::precondition(field, message)
            });
        }
        self.dataplane.set_vrf_options(name, Some(options));
        if let Err(e) = self.command(Command::AddVrf(spec)) {
            self.dataplane.set_vrf_options(name, None);
            return Err(e);
        }
        self.node.vrf(name.as_str())
    }

    /// Deletes a tenant VRF (refused while a VNI names it); the data plane forgets its kernel
    /// options.
    fn remove_vrf(&mut self, name: &str) -> Result<(), CommandError> {
        self.command(Command::RemoveVrf {
            name: name.to_string(),
        })?;
        if let Ok(v) = evpnd_evpn::VrfName::new(name) {
            self.dataplane.set_vrf_options(v, None);
        }
        Ok(())
    }

    /// Deletes an EVI; the data plane forgets its device options (its devices go with the
    /// removal intents, by the names they were made with).
    fn delete_vni(&mut self, vni: u32) -> Result<(), CommandError> {
        self.command(Command::RemoveVni { vni })?;
        self.dataplane.set_vni_options(vni, None);
        Ok(())
    }

    /// Carries out a command as an API request does (recorded in the endpoint journal).
    fn command(&mut self, cmd: Command) -> Result<evpnd_node::Reply, CommandError> {
        let r = self.node.command(cmd.clone(), Instant::now());
        if r.is_ok() {
            self.journal.record(&cmd);
        }
        r
    }

    /// Adds a neighbour with the `[bgp]` defaults of the running configuration.
    fn add_neighbor(&mut self, s: NeighborSpec) -> Result<(), CommandError> {
        let (hold_time, connect_retry) = self.running.neighbor_defaults;
        let mut peer = PeerConfig::new(
            s.address,
            s.remote_asn,
            self.node.asn(),
            self.node.router_id(),
        );
        peer.hold_time = s.hold_time.unwrap_or(hold_time);
        peer.passive = s.passive;
        peer.route_reflector_client = s.route_reflector_client;
        peer.connect_retry = connect_retry;
        peer.connect_retry_max = peer.connect_retry_max.max(connect_retry);
        if !s.families.is_empty() {
            peer.families = s.families;
        }
        if s.graceful_restart {
            peer.graceful_restart = Some(GracefulRestartConfig {
                restart_time: 120,
                stale_routes_time: Duration::from_secs(360),
            });
        }
        let config = NeighborConfig {
            peer,
            transport: s.transport,
        };
        self.command(Command::AddNeighbor(Box::new(config)))?;
        Ok(())
    }

    /// Makes again what the API made before this start (the journal's notes), each through
    /// the API's own path and recorded anew: VRFs, then VNIs, then neighbours, then endpoints. A VNI or
    /// neighbour the configuration file has (now) is the file's: its journal entry is dropped.
    /// What the node refuses is logged and dropped.
    pub(super) fn restore(&mut self, r: Restored) {
        let (vnis, neighbors, endpoints) = (r.vnis.len(), r.neighbors.len(), r.endpoints.len());
        let vrfs = r.vrfs.len();
        let configured_vrfs: Vec<String> = self
            .node
            .vrfs()
            .map(|v| v.iter().map(|s| s.vrf.name.to_string()).collect())
            .unwrap_or_default();
        for (spec, options) in r.vrfs {
            if configured_vrfs.contains(&spec.name) {
                info!(vrf = %spec.name, "API journal: the configuration file has this VRF: the file wins, the journal entry is dropped");
                continue;
            }
            match self.add_vrf(spec.clone(), options.clone()) {
                Ok(_) => self.journal.record_vrf(&spec, &options),
                Err(e) => warn!(vrf = %spec.name, "API journal: VRF not created again: {e}"),
            }
        }
        let configured_vnis: Vec<u32> = self
            .node
            .vnis()
            .map(|v| v.iter().map(|s| s.evi.vni.get()).collect())
            .unwrap_or_default();
        for (spec, options) in r.vnis {
            let vni = spec.vni;
            if configured_vnis.contains(&vni) {
                info!(vni, "API journal: the configuration file has this VNI: the file wins, the journal entry is dropped");
                continue;
            }
            match self.create_vni(spec.clone(), options.clone()) {
                Ok(_) => self.journal.record_vni(&spec, &options),
                Err(e) => warn!(vni, "API journal: VNI not created again: {e}"),
            }
        }
        let now = Instant::now();
        let configured_neighbors: Vec<std::net::IpAddr> =
            self.node.neighbors(now).iter().map(|n| n.address).collect();
        for spec in r.neighbors {
            let address = spec.address;
            if configured_neighbors.contains(&address) {
                info!(%address, "API journal: the configuration file has this neighbor: the file wins, the journal entry is dropped");
                continue;
            }
            match self.add_neighbor(spec.clone()) {
                Ok(()) => self.journal.record_neighbor(&spec),
                Err(e) => warn!(%address, "API journal: neighbor not added again: {e}"),
            }
        }
        // Journaled neighbours with graceful restart join this restart as configured ones do.
        self.node.join_restart(Instant::now());
        for spec in r.endpoints {
            if let Err(e) = self.command(Command::Attach(spec)) {
                warn!(vni = spec.vni, mac = %spec.mac, "API journal: endpoint not attached again: {e}");
            }
        }
        if vrfs + vnis + neighbors + endpoints > 0 {
            info!(
                vrfs,
                vnis,
                neighbors,
                endpoints,
                "made the API journal's VRFs, VNIs, neighbors and endpoints again"
            );
        }
    }

    /// SIGHUP: reloads and logs what changed or why nothing did.
    pub(super) fn reload_logged(&mut self) {
        match self.reload() {
            Ok(r) => info!(
                neighbors_added = ?r.neighbors_added,
                neighbors_removed = ?r.neighbors_removed,
                neighbors_changed = ?r.neighbors_changed,
                vrfs_added = ?r.vrfs_added,
                vrfs_removed = ?r.vrfs_removed,
                vnis_added = ?r.vnis_added,
                vnis_removed = ?r.vnis_removed,
                vnis_changed = ?r.vnis_changed,
                ignored = ?r.ignored,
                peer_groups_set = ?r.peer_groups_set,
                peer_groups_removed = ?r.peer_groups_removed,
                "configuration reloaded"
            ),
            Err(e) => warn!("configuration not reloaded, nothing changed: {e}"),
        }
    }

    /// Reads the configuration file again, validates it in full, and applies the difference
    /// with the running one (see [`crate::reload`]).
    fn reload(&mut self) -> Result<ReloadReport, String> {
        let path = self
            .running
            .path
            .clone()
            .ok_or("the daemon was not started from a file")?;
        let new = crate::config::load(&path).map_err(|e| e.to_string())?;
        let mut plan = crate::reload::plan(&self.running, &new)?;
        // The node may differ from the file last loaded (the API adds and removes neighbours
        // and VNIs): what is gone already is not removed again, and an addition that would
        // collide with something the API made refuses the whole reload before anything moves.
        let now = Instant::now();
        let neighbors: Vec<std::net::IpAddr> =
            self.node.neighbors(now).iter().map(|n| n.address).collect();
        let vnis: Vec<u32> = self
            .node
            .vnis()
            .map(|v| v.iter().map(|s| s.evi.vni.get()).collect())
            .unwrap_or_default();
        let vrfs: Vec<String> = self
            .node
            .vrfs()
            .map(|v| v.iter().map(|s| s.vrf.name.to_string()).collect())
            .unwrap_or_default();
        plan.remove_neighbors.retain(|a| neighbors.contains(a));
        plan.remove_vnis.retain(|v| vnis.contains(v));
        plan.remove_vrfs.retain(|v| vrfs.contains(v));
        if let Some((v, _)) = plan
            .add_vrfs
            .iter()
            .find(|(v, _)| vrfs.iter().any(|x| x == v.name.as_str()))
        {
            return Err(format!(
                "vrf {}: created through the API already; delete it first (nothing changed)",
                v.name
            ));
        }
        if let Some((v, _)) = plan.add_vrfs.iter().find(|(v, _)| !v.routes.is_empty()) {
            // A VRF's routes are judged against its VNIs' gateway subnets, which a new VRF
            // does not have yet when it is created.
            return Err(format!(
                "vrf {}: a new VRF with [[vrf.route]] needs a restart (nothing changed)",
                v.name
            ));
        }
        if let Some(n) = plan.add_neighbors.iter().find(|n| {
            neighbors.contains(&n.peer.address) && !plan.remove_neighbors.contains(&n.peer.address)
        }) {
            return Err(format!(
                "neighbor {}: added through the API already; remove it first (nothing changed)",
                n.peer.address
            ));
        }
        if let Some((e, _)) = plan
            .add_vnis
            .iter()
            .find(|(e, _)| vnis.contains(&e.vni.get()) && !plan.remove_vnis.contains(&e.vni.get()))
        {
            return Err(format!(
                "vni {}: created through the API already; delete it first (nothing changed)",
                e.vni
            ));
        }
        let fail = |what: String, e: CommandError| format!("{what}: {e} (reload stopped here)");
        for a in &plan.remove_neighbors {
            self.command(Command::RemoveNeighbor { address: *a })
                .map_err(|e| fail(format!("removing neighbor {a}"), e))?;
        }
        for v in &plan.remove_vnis {
            self.delete_vni(*v)
                .map_err(|e| fail(format!("deleting VNI {v}"), e))?;
        }
        for name in &plan.remove_vrfs {
            self.remove_vrf(name)
                .map_err(|e| fail(format!("deleting VRF {name}"), e))?;
        }
        for (vrf, options) in &plan.add_vrfs {
            self.add_vrf(vrf_spec(vrf), options.clone())
                .map_err(|e| fail(format!("creating VRF {}", vrf.name), e))?;
        }
        for (evi, options) in &plan.add_vnis {
            let spec = VniSpec {
                vni: evi.vni.get(),
                rd: evi.rd,
                import: evi.import.clone(),
                export: evi.export.clone(),
                vrf: evi.vrf.map(|v| v.to_string()),
                gateways: evi.gateways.clone(),
            };
            self.create_vni(spec, options.clone())
                .map_err(|e| fail(format!("creating VNI {}", evi.vni), e))?;
        }
        for n in &plan.add_neighbors {
            self.command(Command::AddNeighbor(Box::new(n.clone())))
                .map_err(|e| fail(format!("adding neighbor {}", n.peer.address), e))?;
        }
        for g in &plan.remove_peer_groups {
            self.command(Command::RemovePeerGroup {
                name: g.name.clone(),
            })
            .map_err(|e| fail(format!("removing peer-group {}", g.name), e))?;
            self.listener_ranges(g, false);
        }
        for (g, old) in &plan.set_peer_groups {
            self.command(Command::SetPeerGroup(Box::new(g.clone())))
                .map_err(|e| fail(format!("setting peer-group {}", g.name), e))?;
            if let Some(old) = old {
                self.listener_ranges(old, false);
            }
            self.listener_ranges(g, true);
        }
        self.running = crate::reload::applied(&self.running, &new);
        Ok(plan.report)
    }
}

/// The `AddVrf` command of a configured VRF.
fn vrf_spec(v: &VrfConfig) -> VrfSpec {
    VrfSpec {
        name: v.name.to_string(),
        l3vni: v.l3vni.map(|n| n.get()),
        rd: v.rd,
        import: v.import.clone(),
        export: v.export.clone(),
        router_mac: v.router_mac,
        advertise_connected: v.advertise_connected,
        advertise: v.advertise.clone(),
        routes: v.routes.clone(),
    }
}
