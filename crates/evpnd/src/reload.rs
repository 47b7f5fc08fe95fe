//! Configuration reload (SIGHUP, `ReloadConfig`): the difference between the running
//! configuration and a newly read one, as node commands. The new file is validated in full
//! before this runs (`config::load`); [`plan`] then refuses what only a restart can change
//! (the AS, the router id, the VTEP, the data plane), so a reload either applies completely or
//! changes nothing. Neighbours and VNIs that did not change are left alone: their sessions and
//! tables are not touched. A changed neighbour or VNI is removed and added again. Tenant VRFs
//! are added and removed (VRFs before the VNIs that name them, after the VNIs that named them);
//! a change to an existing VRF (its L3VNI, RD, route targets, router MAC, advertisements,
//! routes or kernel options) needs a restart, since every VNI in it would have to go with it.
//! The only changes taken as no change are the order of the `[[vrf]]` sections.

use crate::config::{Config, DataplaneKind};
use crate::control::ReloadReport;
use evpnd_dataplane::{VniOptions, VrfOptions};
use evpnd_evpn::{EviConfig, VrfConfig};
use evpnd_node::{NeighborConfig, PeerGroupConfig};
use std::net::IpAddr;

/// What a reload does, in the order the driver applies it: removals first (a changed entry's
/// old self goes before its new self comes), then additions.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Neighbours to remove (removed and changed ones).
    pub remove_neighbors: Vec<IpAddr>,
    /// VNIs to delete (removed and changed ones).
    pub remove_vnis: Vec<u32>,
    /// VRFs to delete (after the VNIs that named them).
    pub remove_vrfs: Vec<String>,
    /// VRFs to create with their kernel options (before the VNIs that name them).
    pub add_vrfs: Vec<(VrfConfig, VrfOptions)>,
    /// EVIs to create with their device options (added and changed ones).
    pub add_vnis: Vec<(EviConfig, VniOptions)>,
    /// Neighbours to add (added and changed ones).
    pub add_neighbors: Vec<NeighborConfig>,
    /// Peer groups to remove (their dynamic sessions end), with their old settings.
    pub remove_peer_groups: Vec<PeerGroupConfig>,
    /// Peer groups to add or change (a new limit applies in place; other changes restart the
    /// group's sessions), each with its old settings when it existed.
    pub set_peer_groups: Vec<(PeerGroupConfig, Option<PeerGroupConfig>)>,
    /// What the reload changes, for the answer and the log.
    pub report: ReloadReport,
}

/// The device options `config` gives `vni` (defaults unless the Linux data plane names them).
pub fn vni_options(config: &Config, vni: u32) -> VniOptions {
    match &config.dataplane {
        DataplaneKind::Linux(l) => l.vnis.get(&vni).cloned().unwrap_or_default(),
        _ => VniOptions::default(),
    }
}

/// The kernel options `config` gives VRF `name` (defaults unless the Linux data plane names
/// them).
pub fn vrf_options(config: &Config, name: &str) -> VrfOptions {
    match &config.dataplane {
        DataplaneKind::Linux(l) => l.vrfs.get(name).cloned().unwrap_or_default(),
        _ => VrfOptions::default(),
    }
}

/// The VRFs of a configuration (none without the engine).
fn vrfs(c: &Config) -> &[VrfConfig] {
    c.node.evpn.as_ref().map_or(&[], |e| e.vrfs.as_slice())
}

/// The data plane settings other than the per-VNI and per-VRF options (those a reload
/// applies).
fn dataplane_globals(d: &DataplaneKind) -> DataplaneKind {
    match d {
        DataplaneKind::Linux(l) => {
            let mut l = l.clone();
            l.vnis.clear();
            l.vrfs.clear();
            DataplaneKind::Linux(l)
        }
        other => other.clone(),
    }
}

/// The EVIs of a configuration (none without the engine).
fn evis(c: &Config) -> &[EviConfig] {
    c.node.evpn.as_ref().map_or(&[], |e| e.evis.as_slice())
}

/// The commands that take the running configuration `old` to `new`, or why `new` cannot be
/// applied without a restart.
pub fn plan(old: &Config, new: &Config) -> Result<Plan, String> {
    if old.node.asn != new.node.asn {
        return Err(format!(
            "asn: {} -> {} needs a restart",
            old.node.asn, new.node.asn
        ));
    }
    if old.node.router_id != new.node.router_id {
        return Err(format!(
            "router-id: {} -> {} needs a restart",
            old.node.router_id, new.node.router_id
        ));
    }
    let (oe, ne) = (old.node.evpn.as_ref(), new.node.evpn.as_ref());
    match (oe, ne) {
        (Some(_), None) | (None, Some(_)) => {
            return Err("evpn: turning the EVPN engine on or off needs a restart".into())
        }
        (Some(o), Some(n)) if o.engine != n.engine => {
            return Err("evpn: the engine settings (vtep, duplicate detection, route-target derivation, irb, anycast-gateway-mac) need a restart".into())
        }
        _ => {}
    }
    if dataplane_globals(&old.dataplane) != dataplane_globals(&new.dataplane) {
        return Err("dataplane: changing the data plane needs a restart (only [[vni]] device keys are reloaded)".into());
    }
    let mut p = Plan::default();
    for (name, changed) in [
        ("bgp.listen", old.listen != new.listen),
        ("api.listen", old.api != new.api),
        ("bgp.state-dir", old.state_dir != new.state_dir),
        ("bgp.cluster-id", old.node.cluster_id != new.node.cluster_id),
        (
            "bgp.select-defer-time",
            old.node.select_defer_time != new.node.select_defer_time,
        ),
        (
            "bgp.rtc-end-of-rib-wait",
            old.node.rtc_end_of_rib_wait != new.node.rtc_end_of_rib_wait,
        ),
        (
            "bgp.import-route-targets",
            old.node.import_route_targets != new.node.import_route_targets,
        ),
        (
            "static-route",
            old.node.static_routes != new.node.static_routes,
        ),
        (
            "endpoint",
            oe.map(|e| &e.endpoints) != ne.map(|e| &e.endpoints),
        ),
    ] {
        if changed {
            p.report.ignored.push(format!("{name}: needs a restart"));
        }
    }
    for n in &old.node.neighbors {
        let a = n.peer.address;
        match new.node.neighbors.iter().find(|x| x.peer.address == a) {
            None => {
                p.remove_neighbors.push(a);
                p.report.neighbors_removed.push(a);
            }
            Some(x) if x != n => {
                p.remove_neighbors.push(a);
                p.add_neighbors.push(x.clone());
                p.report.neighbors_changed.push(a);
            }
            Some(_) => {}
        }
    }
    for n in &new.node.neighbors {
        if !old
            .node
            .neighbors
            .iter()
            .any(|x| x.peer.address == n.peer.address)
        {
            p.add_neighbors.push(n.clone());
            p.report.neighbors_added.push(n.peer.address);
        }
    }
    for v in vrfs(old) {
        let name = v.name.as_str();
        match vrfs(new).iter().find(|x| x.name == v.name) {
            None => {
                p.remove_vrfs.push(name.to_string());
                p.report.vrfs_removed.push(name.to_string());
            }
            Some(x) if x != v || vrf_options(old, name) != vrf_options(new, name) => {
                return Err(format!(
                    "vrf {name}: changing an existing VRF needs a restart (or remove it with its VNIs in one reload and add it back in the next)"
                ));
            }
            Some(_) => {}
        }
    }
    for v in vrfs(new) {
        if !vrfs(old).iter().any(|x| x.name == v.name) {
            let name = v.name.as_str();
            p.add_vrfs.push((v.clone(), vrf_options(new, name)));
            p.report.vrfs_added.push(name.to_string());
        }
    }
    for e in evis(old) {
        let v = e.vni.get();
        match evis(new).iter().find(|x| x.vni == e.vni) {
            None => {
                p.remove_vnis.push(v);
                p.report.vnis_removed.push(v);
            }
            Some(x) if x != e || vni_options(old, v) != vni_options(new, v) => {
                p.remove_vnis.push(v);
                p.add_vnis.push((x.clone(), vni_options(new, v)));
                p.report.vnis_changed.push(v);
            }
            Some(_) => {}
        }
    }
    for e in evis(new) {
        if !evis(old).iter().any(|x| x.vni == e.vni) {
            let v = e.vni.get();
            p.add_vnis.push((e.clone(), vni_options(new, v)));
            p.report.vnis_added.push(v);
        }
    }
    for g in &old.node.peer_groups {
        if !new.node.peer_groups.iter().any(|n| n.name == g.name) {
            p.remove_peer_groups.push(g.clone());
            p.report.peer_groups_removed.push(g.name.clone());
        }
    }
    for g in &new.node.peer_groups {
        let before = old.node.peer_groups.iter().find(|o| o.name == g.name);
        if before != Some(g) {
            p.set_peer_groups.push((g.clone(), before.cloned()));
            p.report.peer_groups_set.push(g.name.clone());
        }
    }
    Ok(p)
}

/// The running configuration after a reload: `old` with the neighbours, EVIs and per-VNI
/// device options of `new` (the settings a reload does not apply stay as they run).
pub fn applied(old: &Config, new: &Config) -> Config {
    let mut c = old.clone();
    c.node.neighbors = new.node.neighbors.clone();
    c.node.peer_groups = new.node.peer_groups.clone();
    if let (Some(e), Some(n)) = (c.node.evpn.as_mut(), new.node.evpn.as_ref()) {
        e.evis = n.evis.clone();
        e.vrfs = n.vrfs.clone();
    }
    if let (DataplaneKind::Linux(l), DataplaneKind::Linux(n)) = (&mut c.dataplane, &new.dataplane) {
        l.vnis = n.vnis.clone();
        l.vrfs = n.vrfs.clone();
    }
    c
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::parse;

    const BASE: &str = r#"
asn = 65000
router-id = "198.18.0.1"
[bgp]
listen = "127.0.0.1:1179"
[[neighbor]]
address = "198.18.0.2"
remote-asn = 65000
[[neighbor]]
address = "198.18.0.3"
remote-asn = 65000
[evpn]
vtep = "198.18.0.1"
[[vni]]
vni = 100
[[vni]]
vni = 200
[dataplane]
kind = "memory"
"#;

    fn plan_of(new: &str) -> Result<Plan, String> {
        plan(&parse(BASE).unwrap(), &parse(new).unwrap())
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let p = plan_of(BASE).unwrap();
        assert_eq!(p.report, ReloadReport::default());
        assert!(p.remove_neighbors.is_empty() && p.add_neighbors.is_empty());
        assert!(p.remove_vnis.is_empty() && p.add_vnis.is_empty());
    }

    #[test]
    fn peer_groups_are_added_changed_and_removed() {
        let group = |name: &str, range: &str, limit: u32| {
            format!(
                "[[peer-group]]\nname = \"{name}\"\nlisten-range = \"{range}\"\nremote-asn = \"internal\"\nlimit = {limit}\n"
            )
        };
        let old = format!(
            "{BASE}{}{}",
            group("a", "127.64.0.0/16", 10),
            group("b", "127.65.0.0/16", 10)
        );
        let new = format!(
            "{BASE}{}{}",
            group("a", "127.64.0.0/16", 20),
            group("c", "127.66.0.0/16", 10)
        );
        let (old, new) = (parse(&old).unwrap(), parse(&new).unwrap());
        let p = plan(&old, &new).unwrap();
        assert_eq!(p.report.peer_groups_removed, vec!["b".to_string()]);
        assert_eq!(
            p.report.peer_groups_set,
            vec!["a".to_string(), "c".to_string()]
        );
        assert_eq!(p.remove_peer_groups[0].name, "b");
        let (a, a_old) = &p.set_peer_groups[0];
        assert_eq!((a.limit, a_old.as_ref().map(|g| g.limit)), (20, Some(10)));
        assert!(p.set_peer_groups[1].1.is_none());
        assert!(p.add_neighbors.is_empty() && p.remove_neighbors.is_empty());
        assert_eq!(applied(&old, &new).node.peer_groups, new.node.peer_groups);
        // The same groups again: nothing to do.
        let p = plan(&new, &new).unwrap();
        assert!(p.set_peer_groups.is_empty() && p.remove_peer_groups.is_empty());
    }

    #[test]
    fn added_removed_and_changed_neighbours_leave_the_others_alone() {
        let new = BASE
            .replace(
                "[[neighbor]]\naddress = \"198.18.0.2\"\nremote-asn = 65000\n",
                "",
            )
            .replace(
                "address = \"198.18.0.3\"\nremote-asn = 65000\n",
                "address = \"198.18.0.3\"\nremote-asn = 65000\npassive = true\n[[neighbor]]\naddress = \"198.18.0.4\"\nremote-asn = 65001\n",
            );
        let p = plan_of(&new).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(p.report.neighbors_removed, vec![ip("198.18.0.2")]);
        assert_eq!(p.report.neighbors_changed, vec![ip("198.18.0.3")]);
        assert_eq!(p.report.neighbors_added, vec![ip("198.18.0.4")]);
        assert_eq!(p.remove_neighbors, vec![ip("198.18.0.2"), ip("198.18.0.3")]);
        let added: Vec<IpAddr> = p.add_neighbors.iter().map(|n| n.peer.address).collect();
        assert_eq!(added, vec![ip("198.18.0.3"), ip("198.18.0.4")]);
        assert!(p.add_neighbors[0].peer.passive);
    }

    #[test]
    fn added_removed_and_changed_vnis() {
        let new = BASE
            .replace(
                "[[vni]]\nvni = 100\n",
                "[[vni]]\nvni = 100\nrd = \"198.18.0.1:7\"\n",
            )
            .replace("[[vni]]\nvni = 200\n", "[[vni]]\nvni = 300\n");
        let p = plan_of(&new).unwrap();
        assert_eq!(p.report.vnis_changed, vec![100]);
        assert_eq!(p.report.vnis_removed, vec![200]);
        assert_eq!(p.report.vnis_added, vec![300]);
        assert_eq!(p.remove_vnis, vec![100, 200]);
        let added: Vec<u32> = p.add_vnis.iter().map(|(e, _)| e.vni.get()).collect();
        assert_eq!(added, vec![100, 300]);
    }

    #[test]
    fn vrfs_come_and_go_and_a_changed_one_needs_a_restart() {
        let with_red = BASE.replace(
            "[[vni]]\nvni = 200\n",
            "[[vni]]\nvni = 200\nvrf = \"red\"\ngateway = [\"192.0.2.254/24\"]\n[[vrf]]\nname = \"red\"\nl3vni = 5000\n",
        );
        let p = plan_of(&with_red).unwrap();
        assert_eq!(p.report.vrfs_added, vec!["red".to_string()]);
        assert_eq!(p.report.vnis_changed, vec![200]);
        assert_eq!(p.add_vrfs.len(), 1);
        let old = parse(&with_red).unwrap();
        let back = plan(&old, &parse(BASE).unwrap()).unwrap();
        assert_eq!(back.report.vrfs_removed, vec!["red".to_string()]);
        let e = plan(
            &old,
            &parse(&with_red.replace("l3vni = 5000", "l3vni = 5001")).unwrap(),
        )
        .unwrap_err();
        assert!(e.starts_with("vrf red:"), "{e}");
        let e = plan_of(&BASE.replace(
            "vtep = \"198.18.0.1\"",
            "vtep = \"198.18.0.1\"\nirb = \"asymmetric\"",
        ))
        .unwrap_err();
        assert!(e.starts_with("evpn:"), "{e}");
    }

    #[test]
    fn what_needs_a_restart_is_refused_or_reported() {
        let e = plan_of(&BASE.replace("asn = 65000\nrouter", "asn = 65001\nrouter")).unwrap_err();
        assert!(e.starts_with("asn:"), "{e}");
        let e = plan_of(&BASE.replace("router-id = \"198.18.0.1\"", "router-id = \"198.18.0.9\""))
            .unwrap_err();
        assert!(e.starts_with("router-id:"), "{e}");
        let e = plan_of(&BASE.replace("kind = \"memory\"", "kind = \"none\"")).unwrap_err();
        assert!(e.starts_with("dataplane:"), "{e}");
        let p = plan_of(&BASE.replace("127.0.0.1:1179", "127.0.0.1:1180")).unwrap();
        assert_eq!(
            p.report.ignored,
            vec!["bgp.listen: needs a restart".to_string()]
        );
    }

    #[test]
    fn the_running_configuration_takes_what_was_applied() {
        let old = parse(BASE).unwrap();
        let new = parse(&BASE.replace("[[vni]]\nvni = 200\n", "")).unwrap();
        let c = applied(&old, &new);
        assert_eq!(evis(&c).len(), 1);
        assert!(plan(&c, &new).unwrap().report == ReloadReport::default());
    }
}
