//! The kernel VXLAN fabric with evpnd on it, shared by the end-to-end tests
//! (`tests/linux_fabric.rs`) and the attach-latency benchmark (`benches/attach_latency.rs`):
//! tenant addressing, host and reflector configurations, starting the daemons, and the exact
//! check of every host's kernel FDB. See `tests/linux_fabric.rs` for the layout.

use super::netns_daemon::NsDaemon;
use super::wait_until;
use evpnd_lab::{Fabric, Frr, Tenant, TenantSpec};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

/// Bound on sessions coming up and routes converging.
pub const WAIT: Duration = Duration::from_secs(30);

#[allow(unused_imports)] // Not every test binary uses each.
pub use evpnd_lab::fabric::evpnd::{endpoint_config, HostOptions, ASN};

// ---------------------------------------------------------------------------------------------
// Tenants and configuration (rendered by `evpnd_lab::fabric::evpnd`, shared with `evpnd demo`)

/// The tenant of host position `pos` in `vni` (see the module documentation).
pub fn tenant_spec(pos: usize, vni: u32) -> TenantSpec {
    evpnd_lab::fabric::evpnd::tenant_spec(pos, vni).unwrap()
}

#[allow(unused_imports)] // not every test binary attaches
pub use evpnd_lab::fabric::evpnd::attach_request;

/// evpnd on host position `pos` (see `evpnd_lab::fabric::evpnd::host_config`).
pub fn host_config(f: &Fabric, pos: usize, vnis: &[u32], o: &HostOptions, extra: &str) -> String {
    evpnd_lab::fabric::evpnd::host_config(f, pos, vnis, o, extra).unwrap()
}

/// The route reflector (see `evpnd_lab::fabric::evpnd::reflector_config`).
pub fn reflector_config(f: &Fabric, clients: &[usize], graceful_restart: bool) -> String {
    evpnd_lab::fabric::evpnd::reflector_config(f, clients, graceful_restart).unwrap()
}

/// A running fabric. Fields drop in order: the daemons before the namespaces they run in.
pub struct Running {
    /// evpnd per host position (`None` where another speaker runs).
    pub hosts: Vec<Option<NsDaemon>>,
    pub frr: Vec<Frr>,
    pub rr: NsDaemon,
    pub fabric: Fabric,
    /// The VNIs of each host position.
    pub vnis: Vec<Vec<u32>>,
}

impl Running {
    pub fn evpnd(&self, pos: usize) -> &NsDaemon {
        self.hosts[pos]
            .as_ref()
            .unwrap_or_else(|| panic!("host {} runs no evpnd", pos + 1))
    }

    pub fn rr_address(&self) -> String {
        self.fabric
            .route_reflector()
            .unwrap()
            .underlay()
            .to_string()
    }

    pub fn vtep(&self, pos: usize) -> IpAddr {
        self.fabric.host(pos).unwrap().underlay()
    }

    /// Waits until every evpnd host has its session to the reflector.
    pub fn wait_sessions(&self) {
        let rr = self.rr_address();
        for d in self.hosts.iter().flatten() {
            d.wait_established(&rr, WAIT);
        }
    }

    /// The ends of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for d in self.hosts.iter().flatten().chain([&self.rr]) {
            s.push_str(&format!("--- {}:\n{}\n", d.name, d.log_tail(25)));
            let routes: Vec<String> = d
                .evpn_routes()
                .iter()
                .map(|r| {
                    let p = r.paths.first();
                    format!(
                        "{} via {} from {}",
                        r.prefix,
                        p.map(|p| p.next_hop.as_str()).unwrap_or("-"),
                        p.map(|p| p.source.as_str()).unwrap_or("-")
                    )
                })
                .collect();
            s.push_str(&format!("{} EVPN routes: {routes:#?}\n", d.name));
        }
        for frr in &self.frr {
            s.push_str(&format!("--- frr bgpd:\n{}\n", frr.bgpd_log(15)));
        }
        s
    }

    /// The first way in which the kernel FDBs differ from what the tenants `advertised`
    /// (labels) call for, or `None` when every host is right (see [`fdb_mismatch`]).
    pub fn fdb_mismatch(&self, advertised: &[&str]) -> Option<String> {
        let evpnd: Vec<bool> = self.hosts.iter().map(Option::is_some).collect();
        fdb_mismatch(&self.fabric, &self.vnis, advertised, &evpnd)
    }

    /// Waits until the FDBs are right for `advertised`, panicking with the difference and the
    /// logs otherwise.
    pub fn wait_fdb(&self, advertised: &[&str], what: &str) {
        let mut last = None;
        let ok = wait_until(WAIT, || {
            last = self.fdb_mismatch(advertised);
            last.is_none()
        });
        if ok.is_err() {
            panic!(
                "{what}: the kernel FDBs did not converge: {}\n{}",
                last.unwrap_or_default(),
                self.logs()
            );
        }
    }
}

/// Starts the reflector and evpnd on every host position in `evpnd_on` with `vnis[pos]` and the
/// per-host `extra` configuration; other positions get no daemon.
pub fn start(
    fabric: Fabric,
    vnis: Vec<Vec<u32>>,
    evpnd_on: &[usize],
    o: &HostOptions,
    extra: &[String],
) -> Running {
    let all: Vec<usize> = (0..fabric.hosts().len()).collect();
    let rr = NsDaemon::start(
        fabric.route_reflector().unwrap().ns(),
        "rr",
        &reflector_config(&fabric, &all, o.graceful_restart),
    );
    let hosts = all
        .iter()
        .map(|&pos| {
            evpnd_on.contains(&pos).then(|| {
                let cfg = host_config(
                    &fabric,
                    pos,
                    &vnis[pos],
                    o,
                    extra.get(pos).map(String::as_str).unwrap_or(""),
                );
                NsDaemon::start(
                    fabric.host(pos).unwrap().ns(),
                    &format!("host{}", pos + 1),
                    &cfg,
                )
            })
        })
        .collect();
    Running {
        hosts,
        frr: Vec::new(),
        rr,
        fabric,
        vnis,
    }
}

// ---------------------------------------------------------------------------------------------
// Checks

/// Compares every host's kernel FDB with the tenants `advertised` (labels; each at the host
/// the fabric says it is on now): for each VNI of a host, `vxV` holds exactly one `self
/// extern_learn` entry per remote tenant MAC with dst = the VTEP of the tenant's host (and, on
/// evpnd hosts, the bridge's `master` entry for it), and exactly one flood entry per other host
/// of the VNI. A host without the VNI has no `vxV` or no remote entry on it.
pub fn fdb_mismatch(
    f: &Fabric,
    vnis: &[Vec<u32>],
    advertised: &[&str],
    check_master: &[bool],
) -> Option<String> {
    let all_vnis: BTreeSet<u32> = vnis.iter().flatten().copied().collect();
    let tenants: Vec<&Tenant> = advertised.iter().map(|l| f.tenant(l).unwrap()).collect();
    for (pos, host) in f.hosts().iter().enumerate() {
        let n = pos + 1;
        for &v in &all_vnis {
            let vx = format!("vx{v}");
            if !vnis[pos].contains(&v) {
                match host.vxlan_fdb(&vx) {
                    Ok(rows) if !rows.is_empty() => {
                        return Some(format!("host {n} has no VNI {v} but {vx} holds {rows:?}"))
                    }
                    _ => continue,
                }
            }
            let rows = match host.fdb(Some(&vx)) {
                Ok(r) => r,
                Err(e) => return Some(format!("host {n}: {e}")),
            };
            let mut got: Vec<(String, IpAddr)> = rows
                .iter()
                .filter(|e| e.is_self() && !e.is_flood())
                .filter_map(|e| e.dst.map(|d| (e.mac.clone(), d)))
                .collect();
            got.sort();
            let mut want: Vec<(String, IpAddr)> = tenants
                .iter()
                .filter(|t| t.vni() == v && t.host() != pos)
                .map(|t| (t.mac().to_string(), f.host(t.host()).unwrap().underlay()))
                .collect();
            want.sort();
            if got != want {
                return Some(format!(
                    "host {n} {vx}: remote MACs {got:?}, expected {want:?}"
                ));
            }
            if let Some(e) = rows.iter().find(|e| {
                e.is_self() && !e.is_flood() && e.dst.is_some() && !e.has_flag("extern_learn")
            }) {
                return Some(format!("host {n} {vx}: remote MAC not extern_learn: {e:?}"));
            }
            let mut flood: Vec<IpAddr> = rows
                .iter()
                .filter(|e| e.is_flood())
                .filter_map(|e| e.dst)
                .collect();
            flood.sort();
            let mut want_flood: Vec<IpAddr> = (0..f.hosts().len())
                .filter(|&q| q != pos && vnis[q].contains(&v))
                .map(|q| f.host(q).unwrap().underlay())
                .collect();
            want_flood.sort();
            if flood != want_flood {
                return Some(format!(
                    "host {n} {vx}: flood entries {flood:?}, expected {want_flood:?}"
                ));
            }
            if check_master.get(pos).copied().unwrap_or(false) {
                let bridge = format!("br{v}");
                for (mac, _) in &want {
                    if !rows
                        .iter()
                        .any(|e| &e.mac == mac && e.master.as_deref() == Some(&bridge))
                    {
                        return Some(format!(
                            "host {n}: no `master {bridge}` entry for remote {mac} on {vx}: {rows:?}"
                        ));
                    }
                }
            }
        }
    }
    None
}
