//! Layer-3 fabrics with evpnd on them (issue 11), shared by `tests/l3_fabric.rs`: starting
//! the reflector and the hosts with the layer-3 configuration of the lab
//! (`evpnd_lab::fabric::l3`), attaching dual-stack tenants through the API, the routed ping
//! matrix as an assertion, and what the kernel holds in a VRF's namespace for failure
//! messages and checks.

use super::kernel_fabric::{reflector_config, Running, WAIT};
use super::netns_daemon::NsDaemon;
use super::{wait_until, EvpnApi};
use evpnd_lab::fabric::evpnd::HostOptions;
use evpnd_lab::fabric::l3::{attach_requests, l3_host_config, ping_matrix, L3Host, PingCase};
use evpnd_lab::fabric::{FabricNode, LinkEntry, RouteEntry};
use evpnd_lab::Fabric;
use std::net::IpAddr;

/// What to tell the reader when evpnd refuses the layer-3 configuration: before issue 11 is
/// merged this is the expected failure of every test of this file.
pub const NEEDS_LAYER3: &str = "evpnd did not start with the layer-3 configuration \
     (`[evpn] irb`, `[[vrf]]` with `netns`, `[[vrf.route]]`, `[[vni]] vrf/gateway`, \
     `[dataplane] vrf-model`)";

/// Creates each host's VRF namespaces (`<host ns>-<vrf>`), then starts the reflector (its
/// configuration plus `rr_extra`, e.g. a GoBGP client) and evpnd on every host `pos` with
/// `hosts[pos]`. A host that does not come up fails the test with [`NEEDS_LAYER3`], its log
/// and its configuration.
pub fn start_l3(mut fabric: Fabric, hosts: &[L3Host], rr_extra: &str) -> Running {
    assert_eq!(hosts.len(), fabric.hosts().len(), "one L3Host per host");
    for (pos, h) in hosts.iter().enumerate() {
        for vrf in h.vrf_names() {
            fabric.add_vrf(pos, vrf).unwrap();
        }
    }
    let all: Vec<usize> = (0..hosts.len()).collect();
    let rr = NsDaemon::start(
        fabric.route_reflector().unwrap().ns(),
        "rr",
        &format!("{}{rr_extra}", reflector_config(&fabric, &all, false)),
    );
    let mut daemons = Vec::new();
    for (pos, h) in hosts.iter().enumerate() {
        let cfg = l3_host_config(&fabric, pos, h, &HostOptions::default(), "").unwrap();
        let name = format!("host{}", pos + 1);
        match NsDaemon::try_start(fabric.host(pos).unwrap().ns(), &name, &cfg) {
            Ok(d) => daemons.push(Some(d)),
            Err(e) => panic!("{name}: {NEEDS_LAYER3}.\n{e}\n--- configuration:\n{cfg}"),
        }
    }
    let vnis = hosts
        .iter()
        .map(|h| {
            h.vnis
                .iter()
                .map(|v| v.vni)
                .chain(h.bridged.iter().copied())
                .collect()
        })
        .collect();
    Running {
        hosts: daemons,
        frr: Vec::new(),
        rr,
        fabric,
        vnis,
    }
}

/// Attaches every tenant of `labels` on its host through the API, one request per address
/// (the first plugs the port into the VNI's bridge, wherever evpnd keeps it).
pub fn attach_all(r: &Running, labels: &[&str]) {
    for l in labels {
        let t = r.fabric.tenant(l).unwrap();
        for req in attach_requests(t) {
            let ip = req.ip.clone();
            r.evpnd(t.host())
                .attach(req)
                .unwrap_or_else(|e| panic!("attach {l} {ip}: {e}\n{}", r.logs()));
        }
    }
}

/// Detaches tenant `label` (the MAC with every IP) from the host at `pos`.
pub fn detach(r: &Running, label: &str, pos: usize) {
    let t = r.fabric.tenant(label).unwrap();
    r.evpnd(pos)
        .detach(t.vni(), t.mac(), "")
        .unwrap_or_else(|e| panic!("detach {label} from host {}: {e}\n{}", pos + 1, r.logs()));
}

/// Runs the ping matrix of `cases` (reach cases wait up to [`WAIT`] for a first reply, then 3
/// pings must all be answered; isolated cases must get no reply) and fails with the matrix, the
/// VRF tables of every host and the logs when a cell is wrong. Returns the rendered matrix.
pub fn assert_matrix(r: &Running, what: &str, cases: &[PingCase], vrfs: &[&str]) -> String {
    let m = ping_matrix(&r.fabric, cases, WAIT, 3);
    let failures = m.failures();
    if !failures.is_empty() {
        panic!(
            "{what}: {} of {} ping cells wrong:\n{}\nfull matrix:\n{m}\n{}\n{}",
            failures.len(),
            m.rows.len(),
            failures.join("\n"),
            vrf_dump(&r.fabric, vrfs),
            r.logs()
        );
    }
    eprintln!("{what}: routed ping matrix\n{m}");
    m.to_string()
}

/// Every host's kernel tables in the VRFs `vrfs` (links, routes, neighbours), for failure
/// messages.
pub fn vrf_dump(f: &Fabric, vrfs: &[&str]) -> String {
    let mut s = String::new();
    for h in f.hosts() {
        for vrf in vrfs {
            if h.vrf_ns(vrf).is_err() {
                continue;
            }
            s.push_str(&format!("--- host {} VRF {vrf}:\n", h.index()));
            match h.vrf_links(vrf) {
                Ok(links) => {
                    for l in links {
                        s.push_str(&format!(
                            "  link {} kind {:?} vni {:?} master {:?} mac {:?} addr {:?}\n",
                            l.name, l.kind, l.vni, l.master, l.mac, l.addresses
                        ));
                    }
                }
                Err(e) => s.push_str(&format!("  links: {e}\n")),
            }
            for v6 in [false, true] {
                match h.vrf_routes(vrf, v6) {
                    Ok(routes) => {
                        for r in routes {
                            s.push_str(&format!("  route {r:?}\n"));
                        }
                    }
                    Err(e) => s.push_str(&format!("  routes: {e}\n")),
                }
            }
            match h.vrf_neighbors(vrf, None) {
                Ok(n) => {
                    for e in n {
                        s.push_str(&format!("  neigh {e:?}\n"));
                    }
                }
                Err(e) => s.push_str(&format!("  neighbours: {e}\n")),
            }
        }
    }
    s
}

/// The VXLAN device of `vni` in VRF `vrf` on `node`, if evpnd made one there.
pub fn vxlan_of(node: &FabricNode, vrf: &str, vni: u32) -> Option<LinkEntry> {
    node.vrf_links(vrf)
        .ok()?
        .into_iter()
        .find(|l| l.kind.as_deref() == Some("vxlan") && l.vni == Some(vni))
}

/// The devices through which traffic of `vni` leaves in VRF `vrf` on `node`: its VXLAN device
/// and the bridge that device is a port of (a route may point at either).
pub fn vni_devices(node: &FabricNode, vrf: &str, vni: u32) -> Vec<String> {
    match vxlan_of(node, vrf, vni) {
        None => Vec::new(),
        Some(l) => std::iter::once(l.name).chain(l.master).collect(),
    }
}

/// The device in VRF `vrf` on `node` that holds the gateway address `gateway`.
pub fn gateway_link(node: &FabricNode, vrf: &str, gateway: IpAddr) -> Option<LinkEntry> {
    node.vrf_links(vrf)
        .ok()?
        .into_iter()
        .find(|l| l.has_address(gateway))
}

/// The most specific route of VRF `vrf` on `node` towards `ip`.
pub fn best_route(node: &FabricNode, vrf: &str, ip: IpAddr) -> Option<RouteEntry> {
    node.vrf_routes_to(vrf, ip).ok()?.into_iter().next()
}

/// Waits (bounded by [`WAIT`]) until `cond` holds for the host at `pos`, failing with `what`,
/// the VRF tables and the logs.
pub fn wait_vrf(
    r: &Running,
    pos: usize,
    vrf: &str,
    what: &str,
    mut cond: impl FnMut(&FabricNode) -> bool,
) {
    let node = r.fabric.host(pos).unwrap();
    if wait_until(WAIT, || cond(node)).is_err() {
        panic!(
            "host {} VRF {vrf}: {what} (waited {WAIT:?})\n{}\n{}",
            pos + 1,
            vrf_dump(&r.fabric, &[vrf]),
            r.logs()
        );
    }
}
