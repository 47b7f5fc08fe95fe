//! The demo fabric: the lab's namespace fabric (underlay switch, route reflector, three
//! hosts), evpnd on the reflector and on every host (kernel data plane), tenant "VMs" in
//! both bridged VNIs on every host, and the routed tenants of VRF red on hosts 1 and 3 (its
//! namespaces `evpnd-demo-hostN-red`), all attached through each host's gRPC API.

use super::routed::{self, ROUTED, VRF};
use super::{preflight, stopping, Result, HOSTS, NAMESPACE_PREFIX, VNIS};
use evpnd_api::v1;
use evpnd_lab::fabric::evpnd::{
    call, reflector_config, tenant_spec, tenant_subnet, EvpndProcess, HostOptions,
};
use evpnd_lab::fabric::l3::{attach_requests, l3_host_config};
use evpnd_lab::{Fabric, FabricOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bound on an evpnd's API coming up.
const API_UP: Duration = Duration::from_secs(15);
/// Bound on sessions coming up and on the MAC tables converging.
pub const CONVERGE: Duration = Duration::from_secs(30);
/// What the daemons log (to their log files).
const LOG_FILTER: &str = "info";

/// The running demo. Fields drop in order: the daemons before the namespaces they run in.
pub struct DemoFabric {
    /// evpnd on host position N-1.
    pub hosts: Vec<EvpndProcess>,
    /// evpnd as route reflector.
    pub rr: EvpndProcess,
    /// The namespaces.
    pub fabric: Fabric,
    /// The bridged tenants' labels, VNI 100 first, then host order.
    pub labels: Vec<String>,
    /// The routed tenants' labels ([`ROUTED`] order).
    pub routed: Vec<String>,
}

/// The tenants of the demo by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// Bridged-only tenants, VNI 100 first, then host order.
    pub bridged: Vec<String>,
    /// Routed tenants of VRF red ([`ROUTED`] order).
    pub routed: Vec<String>,
}

/// Builds the namespaces: switch, reflector, hosts, one bridged tenant per host and VNI (with
/// an on-link route to the other VNI's subnet, so that only the data plane keeps VNIs apart),
/// VRF red's namespace on the hosts that have it and its routed tenants.
pub fn build_namespaces() -> Result<(Fabric, Labels)> {
    let hosts = u8::try_from(HOSTS).map_err(|_| "too many hosts".to_string())?;
    let mut fabric = Fabric::new(&FabricOptions::new(hosts).named(NAMESPACE_PREFIX))?;
    check_vxlan(&fabric)?;
    let mut labels = Vec::new();
    for vni in VNIS {
        for pos in 0..HOSTS {
            let spec = tenant_spec(pos, vni)?;
            let t = fabric.add_tenant(&spec)?;
            if let Some(other) = VNIS
                .iter()
                .find(|v| **v != vni)
                .and_then(|v| tenant_subnet(*v))
            {
                t.ns().ip(&["route", "add", other, "dev", "eth0"])?;
            }
            labels.push(spec.label);
        }
    }
    for pos in routed::vrf_hosts() {
        fabric.add_vrf(pos, VRF)?;
    }
    let mut routed_labels = Vec::new();
    for p in &ROUTED {
        let spec = p.tenant_spec();
        fabric.add_tenant(&spec)?;
        routed_labels.push(spec.label);
    }
    Ok((
        fabric,
        Labels {
            bridged: labels,
            routed: routed_labels,
        },
    ))
}

/// Fails with an explanation when the kernel cannot create VXLAN devices (no vxlan module):
/// evpnd would only log it, deep in a daemon's log.
fn check_vxlan(fabric: &Fabric) -> Result<()> {
    let ns = fabric.host(0)?.ns();
    let probe = [
        "link", "add", "vxcheck", "type", "vxlan", "id", "1", "dstport", "4789",
    ];
    ns.ip(&probe).map_err(|e| {
        format!(
            "this kernel cannot create VXLAN devices (the demo needs the vxlan module: \
             modprobe vxlan, or load it on the container's host): {e}"
        )
    })?;
    ns.ip(&["link", "del", "vxcheck"])?;
    Ok(())
}

/// Starts evpnd on the reflector and the hosts (configurations and logs in `work_dir/NAME/`),
/// recording each pid in `pid_file`. Every host has `irb = "symmetric"` and the
/// namespace-per-VRF model; hosts 1 and 3 have VRF red ([`routed::l3_host`]).
pub fn start_daemons(
    fabric: Fabric,
    labels: Labels,
    binary: &Path,
    work_dir: &Path,
    pid_file: &Path,
) -> Result<DemoFabric> {
    let positions: Vec<usize> = (0..HOSTS).collect();
    let rr_node = fabric
        .route_reflector()
        .ok_or_else(|| "the fabric has no route reflector".to_string())?;
    let mut rr = EvpndProcess::prepare(
        rr_node.ns(),
        "rr",
        &work_dir.join("rr"),
        &reflector_config(&fabric, &positions, false)?,
    )?;
    rr.spawn(binary, LOG_FILTER, API_UP)?;
    record(pid_file, &rr)?;
    let mut hosts = Vec::new();
    for pos in positions {
        let name = format!("host{}", pos + 1);
        let l3 = routed::l3_host(pos);
        let cfg = l3_host_config(&fabric, pos, &l3, &HostOptions::default(), "")?;
        let mut d =
            EvpndProcess::prepare(fabric.host(pos)?.ns(), &name, &work_dir.join(&name), &cfg)?;
        d.spawn(binary, LOG_FILTER, API_UP)?;
        record(pid_file, &d)?;
        hosts.push(d);
    }
    Ok(DemoFabric {
        hosts,
        rr,
        fabric,
        labels: labels.bridged,
        routed: labels.routed,
    })
}

fn record(pid_file: &Path, d: &EvpndProcess) -> Result<()> {
    match d.pid() {
        Some(pid) => preflight::record_pid(pid_file, pid),
        None => Err(format!("{} is not running", d.name())),
    }
}

pub use evpnd_lab::fabric::evpnd::attach_request;

/// `ListMacs` of every VNI from the evpnd whose API socket is `api`.
pub fn list_macs(api: &Path) -> Result<Vec<v1::MacEntry>> {
    let mut macs = Vec::new();
    let mut page_token = String::new();
    // Bounded: each page moves the cursor forward; the demo's tables hold a few entries.
    for _ in 0..1000 {
        let token = std::mem::take(&mut page_token);
        let page = call(api, |mut c| async move {
            c.list_macs(v1::ListMacsRequest {
                vni: 0,
                page_token: token,
                ..Default::default()
            })
            .await
        })
        .map_err(|e| format!("ListMacs: {}", e.message()))?;
        macs.extend(page.macs);
        if page.next_page_token.is_empty() {
            return Ok(macs);
        }
        page_token = page.next_page_token;
    }
    Err("ListMacs: more than 1000 pages".into())
}

/// True when every neighbour of the evpnd at `api` is Established.
fn all_established(api: &Path) -> bool {
    evpnd_lab::fabric::evpnd::list_neighbors(api)
        .is_ok_and(|n| !n.is_empty() && n.iter().all(|n| n.state == "Established"))
}

impl DemoFabric {
    /// The API socket of host position `pos`.
    pub fn api(&self, pos: usize) -> Result<PathBuf> {
        self.hosts
            .get(pos)
            .map(EvpndProcess::api)
            .ok_or_else(|| format!("no host at position {pos}"))
    }

    /// Waits (bounded) until every session is Established, on the hosts and the reflector.
    pub fn wait_sessions(&self) -> Result<()> {
        let apis: Vec<PathBuf> = self
            .hosts
            .iter()
            .chain([&self.rr])
            .map(EvpndProcess::api)
            .collect();
        evpnd_lab::wait_until(CONVERGE, Duration::from_millis(100), || {
            stopping() || apis.iter().all(|a| all_established(a))
        })
        .map_err(|_| {
            format!(
                "the BGP sessions did not come up within {} s\n{}",
                CONVERGE.as_secs(),
                self.logs()
            )
        })
    }

    /// Every tenant's label: bridged, then routed.
    pub fn all_labels(&self) -> impl Iterator<Item = &String> {
        self.labels.iter().chain(&self.routed)
    }

    /// Attaches every tenant through the API of the host its port is on, one call per address
    /// (a routed tenant's IPv6 address is a second binding of its MAC). Returns the calls made.
    pub fn attach_all(&self) -> Result<usize> {
        let mut calls = 0;
        for l in self.all_labels() {
            let t = self.fabric.tenant(l)?;
            for req in attach_requests(t) {
                call(&self.api(t.host())?, |mut c| async move {
                    c.attach_endpoint(req).await
                })
                .map_err(|e| format!("AttachEndpoint {l} on host {}: {e}", t.host() + 1))?;
                calls += 1;
            }
        }
        Ok(calls)
    }

    /// Waits (bounded) until every host lists every tenant's MAC, at the tenant's host.
    pub fn wait_macs(&self) -> Result<()> {
        let mut last = String::new();
        let ok = evpnd_lab::wait_until(CONVERGE, Duration::from_millis(100), || {
            if stopping() {
                return true;
            }
            match self.mac_table_mismatch() {
                Ok(None) => true,
                Ok(Some(m)) | Err(m) => {
                    last = m;
                    false
                }
            }
        });
        ok.map_err(|_| format!("the MAC tables did not converge: {last}\n{}", self.logs()))
    }

    /// The first way in which a host's MAC table differs from where the tenants are (a host
    /// lists the MACs of the VNIs it has).
    fn mac_table_mismatch(&self) -> Result<Option<String>> {
        for pos in 0..self.hosts.len() {
            let macs = list_macs(&self.api(pos)?)?;
            for l in self.all_labels() {
                let t = self.fabric.tenant(l)?;
                if !routed::host_has_vni(pos, t.vni()) {
                    continue;
                }
                let want = if t.host() == pos {
                    "local".to_string()
                } else {
                    self.fabric.host(t.host())?.underlay().to_string()
                };
                let got = macs
                    .iter()
                    .find(|m| m.vni == t.vni() && m.mac.eq_ignore_ascii_case(t.mac()));
                if got.map(|m| m.location.as_str()) != Some(want.as_str()) {
                    return Ok(Some(format!(
                        "host {} has {l} ({}) at {:?}, expected {want}",
                        pos + 1,
                        t.mac(),
                        got.map(|m| m.location.as_str())
                    )));
                }
            }
        }
        Ok(None)
    }

    /// The ends of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for d in self.hosts.iter().chain([&self.rr]) {
            s.push_str(&format!(
                "--- {} ({}):\n{}\n",
                d.name(),
                d.log().display(),
                d.log_tail(15)
            ));
        }
        s
    }
}
