//! Layer 3 on a [`Fabric`] (issue 11): tenant VRFs on the hosts, routed dual-stack tenants
//! behind a distributed anycast gateway, the hosts' layer-3 configuration, a routed ping
//! matrix, and readers of the kernel tables inside a VRF's namespace.
//!
//! * **VRF namespaces.** The kernel here has no VRF devices, so evpnd realises a tenant VRF
//!   as a network namespace (the namespace-per-VRF model) holding the VNIs' bridges and VXLAN
//!   devices, the gateway interfaces and the VRF's routes. The lab names it
//!   `<host namespace>-<vrf>` ([`FabricNode::vrf_netns_name`]), creates it before evpnd starts
//!   ([`Fabric::add_vrf`]; a namespace mounted by a daemon under `ip netns exec` would not be
//!   visible outside it) and deletes it with the fabric.
//! * **Routed tenants** ([`routed_tenant_spec`]): tenant `tNvV` on host N in VNI V with an
//!   IPv4 and an IPv6 address and default routes via the VNI's anycast gateway (RFC 9135 §4):
//!   VNI 100 `192.0.2.(10+N)/24`, `2001:db8:100::(10+N)/64`, gateway `192.0.2.254`,
//!   `2001:db8:100::1`; VNI 200 `198.51.100.(10+N)/24`, `2001:db8:200::(10+N)/64`, gateway
//!   `198.51.100.254`, `2001:db8:200::1`; VNI 300 reuses VNI 100's addresses (another VRF).
//! * **Configuration** ([`l3_host_config`]): the TOML of the layer-3 contract (`[evpn] irb`,
//!   `[[vrf]]` with `netns`, `[[vrf.route]]`, `advertise`, `[[vni]] vrf/gateway`) on top of
//!   [`host_config`].
//! * **Checks**: [`ping_matrix`] (pairs that must reach and pairs that must stay isolated, each
//!   bounded) and [`FabricNode::vrf_routes`], [`FabricNode::vrf_links`],
//!   [`FabricNode::vrf_neighbors`], [`FabricNode::vrf_fdb`] (what the kernel holds in a VRF).

use super::evpnd::{attach_request, host_config, HostOptions};
use super::kernel::{parse_links, parse_routes, LinkEntry, RouteEntry};
use super::{fdb_in, neighbors_in, Fabric, FabricNode, FdbEntry, NeighborEntry, TenantSpec};
use crate::error::{LabError, Result};
use crate::netns::Netns;
use crate::wait::wait_until;
use evpnd_api::v1;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// VRF namespaces

/// The one naming rule of VRF namespaces: `<host namespace>-<vrf>`.
pub fn vrf_netns_name(host_netns: &str, vrf: &str) -> String {
    format!("{host_netns}-{vrf}")
}

impl FabricNode {
    /// The name of this node's namespace for tenant VRF `vrf`: `<node namespace>-<vrf>` (the
    /// `netns` the lab's configurations give evpnd).
    pub fn vrf_netns_name(&self, vrf: &str) -> String {
        vrf_netns_name(self.netns.name(), vrf)
    }

    /// The namespace of tenant VRF `vrf` ([`Fabric::add_vrf`]).
    pub fn vrf_ns(&self, vrf: &str) -> Result<&Netns> {
        self.vrfs
            .iter()
            .find(|(name, _)| name == vrf)
            .map(|(_, ns)| ns)
            .ok_or_else(|| LabError::new(format!("node {} has no VRF namespace {vrf}", self.index)))
    }

    /// The routes of the main table of VRF `vrf`'s namespace (`ip -j -4|-6 route show`).
    pub fn vrf_routes(&self, vrf: &str, ipv6: bool) -> Result<Vec<RouteEntry>> {
        let family = if ipv6 { "-6" } else { "-4" };
        let out = self.vrf_ns(vrf)?.ip(&["-j", family, "route", "show"])?;
        parse_routes(&out)
    }

    /// The routes of VRF `vrf` that cover `ip`, most specific first.
    pub fn vrf_routes_to(&self, vrf: &str, ip: IpAddr) -> Result<Vec<RouteEntry>> {
        let mut v: Vec<RouteEntry> = self
            .vrf_routes(vrf, ip.is_ipv6())?
            .into_iter()
            .filter(|r| r.covers(ip))
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.prefix_len().unwrap_or(0)));
        Ok(v)
    }

    /// The network devices of VRF `vrf`'s namespace with their kind, VNI, bridge and addresses
    /// (`ip -d -j addr show`).
    pub fn vrf_links(&self, vrf: &str) -> Result<Vec<LinkEntry>> {
        let out = self.vrf_ns(vrf)?.ip(&["-d", "-j", "addr", "show"])?;
        parse_links(&out)
    }

    /// The neighbour table of VRF `vrf`'s namespace, every device or only `dev`.
    pub fn vrf_neighbors(&self, vrf: &str, dev: Option<&str>) -> Result<Vec<NeighborEntry>> {
        neighbors_in(self.vrf_ns(vrf)?, dev)
    }

    /// The forwarding database of VRF `vrf`'s namespace, every device or only `dev`.
    pub fn vrf_fdb(&self, vrf: &str, dev: Option<&str>) -> Result<Vec<FdbEntry>> {
        fdb_in(self.vrf_ns(vrf)?, dev)
    }
}

impl Fabric {
    /// Creates the namespace of tenant VRF `vrf` on the host at `pos` (`ip netns add
    /// <host namespace>-<vrf>`, `lo` up), for evpnd's namespace-per-VRF model to fill. It is
    /// deleted when the fabric is dropped, whatever the test did.
    pub fn add_vrf(&mut self, pos: usize, vrf: &str) -> Result<&Netns> {
        let host = self
            .hosts
            .get_mut(pos)
            .ok_or_else(|| LabError::new(format!("no host at position {pos}")))?;
        if host.vrfs.iter().any(|(name, _)| name == vrf) {
            return Err(LabError::new(format!(
                "host {} already has VRF {vrf}",
                pos + 1
            )));
        }
        let ns = Netns::named(&host.vrf_netns_name(vrf))?;
        host.vrfs.push((vrf.to_string(), ns));
        host.vrfs
            .last()
            .map(|(_, ns)| ns)
            .ok_or_else(|| LabError::new("VRF list empty after a push"))
    }
}

// ---------------------------------------------------------------------------------------------
// Routed tenants

/// The addressing of a routed VNI (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutedSubnet {
    /// The VNI.
    pub vni: u32,
    /// The IPv4 subnet, e.g. `192.0.2.0/24`.
    pub ipv4: &'static str,
    /// The IPv6 subnet, e.g. `2001:db8:100::/64`.
    pub ipv6: &'static str,
    /// The anycast gateway's IPv4 address.
    pub gateway4: &'static str,
    /// The anycast gateway's IPv6 address.
    pub gateway6: &'static str,
    /// The second-to-last byte of the tenants' MACs (`02:00:00:0X:0N:01`).
    mac_byte: u8,
    /// The first three bytes of the tenants' IPv4 addresses.
    v4_base: [u8; 3],
    /// The tenants' IPv6 addresses are `V6_BASE::(10+N)`.
    v6_base: &'static str,
}

impl RoutedSubnet {
    /// The gateway addresses with prefix lengths, as `[[vni]] gateway` takes them.
    pub fn gateway_cidrs(&self) -> [String; 2] {
        [
            format!("{}/24", self.gateway4),
            format!("{}/64", self.gateway6),
        ]
    }
}

/// The routed VNIs the lab has addressing for: 100 and 200 (VRF red in the tests), 300 (VRF
/// blue, reusing VNI 100's addresses).
pub fn routed_subnet(vni: u32) -> Option<RoutedSubnet> {
    let s100 = RoutedSubnet {
        vni: 100,
        ipv4: "192.0.2.0/24",
        ipv6: "2001:db8:100::/64",
        gateway4: "192.0.2.254",
        gateway6: "2001:db8:100::1",
        mac_byte: 1,
        v4_base: [192, 0, 2],
        v6_base: "2001:db8:100",
    };
    match vni {
        100 => Some(s100),
        200 => Some(RoutedSubnet {
            vni: 200,
            ipv4: "198.51.100.0/24",
            ipv6: "2001:db8:200::/64",
            gateway4: "198.51.100.254",
            gateway6: "2001:db8:200::1",
            mac_byte: 2,
            v4_base: [198, 51, 100],
            v6_base: "2001:db8:200",
        }),
        300 => Some(RoutedSubnet {
            vni: 300,
            mac_byte: 3,
            ..s100
        }),
        _ => None,
    }
}

/// The routed tenant of host position `pos` in `vni` (100, 200 or 300): label and port
/// `tNvV`, MAC `02:00:00:0X:0N:01`, an IPv4 and an IPv6 address and default routes via the
/// VNI's anycast gateway (module documentation).
pub fn routed_tenant_spec(pos: usize, vni: u32) -> Result<TenantSpec> {
    let subnet = routed_subnet(vni)
        .ok_or_else(|| LabError::new(format!("no routed addressing for VNI {vni}")))?;
    let n = pos
        .checked_add(1)
        .filter(|n| *n <= 9)
        .ok_or_else(|| LabError::new(format!("no tenant addressing for host position {pos}")))?;
    let label = format!("t{n}v{vni}");
    let [a, b, c] = subnet.v4_base;
    let host = 10 + n;
    Ok(TenantSpec::new(
        &label,
        pos,
        vni,
        &format!("02:00:00:0{}:0{n}:01", subnet.mac_byte),
        &format!("{a}.{b}.{c}.{host}/24"),
        &label,
    )
    .with_ipv6(&format!("{}::{host}/64", subnet.v6_base))
    .with_gateway(subnet.gateway4)
    .with_gateway(subnet.gateway6))
}

/// `AttachEndpoint` requests for tenant `t`, one per address (IPv4, then IPv6), each with
/// the tenant's port: the first plugs the port and advertises MAC/IPv4, the second adds the
/// IPv6 binding (RFC 7432 §9.2.1; with symmetric IRB each becomes a type-2 route carrying the
/// L3VNI, RFC 9135 §5.1).
pub fn attach_requests(t: &super::Tenant) -> Vec<v1::AttachEndpointRequest> {
    t.addresses()
        .into_iter()
        .map(|ip| v1::AttachEndpointRequest {
            ip: ip.to_string(),
            ..attach_request(t)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Integrated routing and bridging (RFC 9135 §4): `[evpn] irb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irb {
    /// Symmetric IRB (RFC 9135 §5): routed over the VRF's L3VNI.
    Symmetric,
    /// Asymmetric IRB (RFC 9135 §6): routed at the ingress into the destination's L2VNI.
    Asymmetric,
}

impl Irb {
    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            Irb::Symmetric => "symmetric",
            Irb::Asymmetric => "asymmetric",
        }
    }
}

/// A `[[vrf.route]]`: `prefix` through `via`, a tenant router on a local subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfRouteSpec {
    /// The prefix, e.g. `203.0.113.0/24`.
    pub prefix: String,
    /// The next hop, e.g. `198.51.100.13`.
    pub via: String,
}

/// A `[[vrf]]` of the layer-3 contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfSpec {
    /// The VRF's name.
    pub name: String,
    /// The L3VNI (required with symmetric IRB).
    pub l3vni: Option<u32>,
    /// An explicit router MAC (else evpnd derives one from its router id).
    pub router_mac: Option<String>,
    /// `advertise-connected` when set (evpnd's default is true).
    pub advertise_connected: Option<bool>,
    /// Extra prefixes advertised as type-5 routes.
    pub advertise: Vec<String>,
    /// Static routes towards tenant routers.
    pub routes: Vec<VrfRouteSpec>,
}

impl VrfSpec {
    /// VRF `name` with `l3vni` and everything else left to evpnd.
    pub fn new(name: &str, l3vni: Option<u32>) -> Self {
        VrfSpec {
            name: name.into(),
            l3vni,
            router_mac: None,
            advertise_connected: None,
            advertise: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// The same VRF with a `[[vrf.route]]` to `prefix` via `via`.
    pub fn with_route(mut self, prefix: &str, via: &str) -> Self {
        self.routes.push(VrfRouteSpec {
            prefix: prefix.into(),
            via: via.into(),
        });
        self
    }
}

/// A `[[vni]]` in a VRF with the anycast gateway addresses of its [`routed_subnet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutedVni {
    /// The L2VNI.
    pub vni: u32,
    /// The VRF it belongs to.
    pub vrf: String,
    /// Gateway addresses with prefix lengths.
    pub gateways: Vec<String>,
}

impl RoutedVni {
    /// `vni` in `vrf` with the lab's gateway addresses for it ([`routed_subnet`]).
    pub fn new(vni: u32, vrf: &str) -> Result<Self> {
        let s = routed_subnet(vni)
            .ok_or_else(|| LabError::new(format!("no routed addressing for VNI {vni}")))?;
        Ok(RoutedVni {
            vni,
            vrf: vrf.into(),
            gateways: s.gateway_cidrs().to_vec(),
        })
    }
}

/// The layer-3 part of one host's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L3Host {
    /// `[evpn] irb`.
    pub irb: Irb,
    /// The host's VRFs.
    pub vrfs: Vec<VrfSpec>,
    /// Its routed VNIs.
    pub vnis: Vec<RoutedVni>,
    /// Its bridged-only VNIs (no VRF).
    pub bridged: Vec<u32>,
}

impl L3Host {
    /// A host with `irb` and nothing else yet.
    pub fn new(irb: Irb) -> Self {
        L3Host {
            irb,
            vrfs: Vec::new(),
            vnis: Vec::new(),
            bridged: Vec::new(),
        }
    }

    /// The same host with VRF `vrf` (replacing one of the same name).
    pub fn vrf(mut self, vrf: VrfSpec) -> Self {
        self.vrfs.retain(|v| v.name != vrf.name);
        self.vrfs.push(vrf);
        self
    }

    /// The same host with routed VNI `vni` in VRF `vrf` (lab gateways, [`RoutedVni::new`]).
    pub fn routed(mut self, vni: u32, vrf: &str) -> Result<Self> {
        self.vnis.push(RoutedVni::new(vni, vrf)?);
        Ok(self)
    }

    /// Names of the host's VRFs (the namespaces [`Fabric::add_vrf`] must create).
    pub fn vrf_names(&self) -> Vec<&str> {
        self.vrfs.iter().map(|v| v.name.as_str()).collect()
    }
}

fn quoted_list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", v.join(", "))
}

/// The `[[vrf]]` and `[[vni]]` tables of `l3` for the host whose namespace is `host_netns`
/// (the layer-3 contract; each VRF's `netns` is [`vrf_netns_name`]).
pub fn l3_tables(host_netns: &str, l3: &L3Host) -> String {
    let mut s = String::new();
    for v in &l3.vrfs {
        s.push_str(&format!(
            "[[vrf]]\nname = \"{}\"\nnetns = \"{}\"\n",
            v.name,
            vrf_netns_name(host_netns, &v.name)
        ));
        if let Some(l3vni) = v.l3vni {
            s.push_str(&format!("l3vni = {l3vni}\n"));
        }
        if let Some(mac) = &v.router_mac {
            s.push_str(&format!("router-mac = \"{mac}\"\n"));
        }
        if let Some(on) = v.advertise_connected {
            s.push_str(&format!("advertise-connected = {on}\n"));
        }
        if !v.advertise.is_empty() {
            s.push_str(&format!("advertise = {}\n", quoted_list(&v.advertise)));
        }
        for r in &v.routes {
            s.push_str(&format!(
                "[[vrf.route]]\nprefix = \"{}\"\nvia = \"{}\"\n",
                r.prefix, r.via
            ));
        }
    }
    for v in &l3.vnis {
        s.push_str(&format!(
            "[[vni]]\nvni = {}\nvrf = \"{}\"\ngateway = {}\n",
            v.vni,
            v.vrf,
            quoted_list(&v.gateways)
        ));
    }
    s
}

/// evpnd on host position `pos` with the layer-3 configuration `l3`: [`host_config`] with
/// `irb` in `[evpn]`, `vrf-model = "namespace"` in `[dataplane]`, the bridged VNIs, then the
/// `[[vrf]]`/`[[vni]]` tables ([`l3_tables`]) and `extra`.
pub fn l3_host_config(
    f: &Fabric,
    pos: usize,
    l3: &L3Host,
    o: &HostOptions,
    extra: &str,
) -> Result<String> {
    let node = f.host(pos)?;
    let o = HostOptions {
        evpn: format!("irb = \"{}\"\n{}", l3.irb.as_str(), o.evpn),
        dataplane: format!("vrf-model = \"namespace\"\n{}", o.dataplane),
        graceful_restart: o.graceful_restart,
    };
    let tables = format!("{}{extra}", l3_tables(node.ns().name(), l3));
    host_config(f, pos, &l3.bridged, &o, &tables)
}

// ---------------------------------------------------------------------------------------------
// Routed ping matrix

/// One cell of a ping matrix: tenant `from` pings `to` and must (or must not) get replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingCase {
    /// The label of the pinging tenant.
    pub from: String,
    /// The destination.
    pub to: IpAddr,
    /// A name for the destination in reports (a tenant label, "gateway", "203.0.113.1").
    pub to_name: String,
    /// Replies expected (true) or none allowed (false).
    pub reach: bool,
}

impl PingCase {
    /// `from` must reach `to`.
    pub fn reach(from: &str, to: IpAddr, to_name: &str) -> Self {
        PingCase {
            from: from.into(),
            to,
            to_name: to_name.into(),
            reach: true,
        }
    }

    /// `from` must not reach `to`.
    pub fn isolated(from: &str, to: IpAddr, to_name: &str) -> Self {
        PingCase {
            reach: false,
            ..PingCase::reach(from, to, to_name)
        }
    }

    /// Both families: `from` to every address of tenant `to` ([`super::Tenant::addresses`]),
    /// expecting `reach`.
    pub fn tenants(f: &Fabric, from: &str, to: &str, reach: bool) -> Result<Vec<PingCase>> {
        let t = f.tenant(to)?;
        Ok(t.addresses()
            .into_iter()
            .map(|ip| PingCase {
                from: from.into(),
                to: ip,
                to_name: to.into(),
                reach,
            })
            .collect())
    }
}

/// What one cell gave: the replies of the final run, or why it could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingRow {
    /// The case.
    pub case: PingCase,
    /// Requests sent and replies received in the deciding run, or the error.
    pub outcome: std::result::Result<super::PingStats, String>,
}

impl PingRow {
    /// True when the cell behaved as expected: every request answered for a reach case, none
    /// for an isolated one.
    pub fn passed(&self) -> bool {
        match &self.outcome {
            Ok(s) if self.case.reach => s.transmitted > 0 && s.received == s.transmitted,
            Ok(s) => s.received == 0,
            Err(_) => false,
        }
    }
}

/// The result of [`ping_matrix`]; `Display` renders it as a table (for reports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingMatrix {
    /// One row per case, in order.
    pub rows: Vec<PingRow>,
}

impl PingMatrix {
    /// The rows that did not behave as expected, rendered one per line.
    pub fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| !r.passed())
            .map(render_row)
            .collect()
    }
}

fn render_row(r: &PingRow) -> String {
    let want = if r.case.reach { "reach" } else { "isolated" };
    let got = match &r.outcome {
        Ok(s) => format!("{}/{} replies", s.received, s.transmitted),
        Err(e) => format!("error: {e}"),
    };
    let verdict = if r.passed() { "ok" } else { "FAILED" };
    format!(
        "{} -> {} ({}): want {want}, got {got}: {verdict}",
        r.case.from, r.case.to_name, r.case.to
    )
}

impl fmt::Display for PingMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rows {
            writeln!(f, "{}", render_row(r))?;
        }
        Ok(())
    }
}

/// Runs every case of a routed ping matrix, each bounded:
///
/// * a **reach** case pings once a second until a reply comes (at most `converge`: routes and
///   neighbour entries may still be arriving; 2 s once a case has not converged), then sends
///   `count` requests 50 ms apart (deadline 3 s), all of which must be answered;
/// * an **isolated** case sends `count` requests 50 ms apart (deadline 2 s), none of which may
///   be answered.
pub fn ping_matrix(f: &Fabric, cases: &[PingCase], converge: Duration, count: u32) -> PingMatrix {
    let probe = super::PingOptions::new(1, Duration::from_millis(200), Duration::from_secs(1));
    let mut rows = Vec::new();
    // Once a reach case never converged, the fabric is broken: later ones wait briefly, so
    // that a failing matrix reports in seconds, not minutes.
    let mut budget = converge;
    for case in cases {
        let outcome = (|| -> std::result::Result<super::PingStats, String> {
            let from = f.tenant(&case.from).map_err(|e| e.0)?;
            if case.reach {
                // The deciding run below says whether it worked.
                let converged = wait_until(budget, Duration::from_millis(10), || {
                    from.ping(case.to, &probe).is_ok_and(|s| s.received >= 1)
                });
                if converged.is_err() {
                    budget = budget.min(Duration::from_secs(2));
                }
                let opts = super::PingOptions::new(
                    count,
                    Duration::from_millis(50),
                    Duration::from_secs(3),
                );
                from.ping(case.to, &opts).map_err(|e| e.0)
            } else {
                let opts = super::PingOptions::new(
                    count,
                    Duration::from_millis(50),
                    Duration::from_secs(2),
                );
                from.ping(case.to, &opts).map_err(|e| e.0)
            }
        })();
        rows.push(PingRow {
            case: case.clone(),
            outcome,
        });
    }
    PingMatrix { rows }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_host_routes_multipath_and_protocols() {
        let json = r#"[{"dst":"default","gateway":"192.0.2.254","dev":"eth0","flags":[]},
            {"dst":"198.51.100.13","gateway":"198.19.0.3","dev":"br5000","protocol":"186",
             "flags":["onlink"]},
            {"dst":"192.0.2.0/24","dev":"br100","protocol":"kernel","scope":"link",
             "prefsrc":"192.0.2.254","flags":[]},
            {"dst":"203.0.113.0/24","flags":[],"nexthops":[
              {"gateway":"198.19.0.2","dev":"br5000","weight":1,"flags":["onlink"]},
              {"gateway":"198.19.0.3","dev":"br5000","weight":1,"flags":["onlink"]}]},
            {"type":"blackhole","dst":"198.51.100.128/25","protocol":186,"flags":[]}]"#;
        let r = parse_routes(json).unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].prefix_len(), Some(0));
        assert!(r[0].covers("203.0.113.9".parse().unwrap()));
        assert!(r[1].is_prefix("198.51.100.13/32"));
        assert!(r[1].covers("198.51.100.13".parse().unwrap()));
        assert!(!r[1].covers("198.51.100.14".parse().unwrap()));
        assert_eq!(r[1].protocol, "186");
        assert_eq!(r[1].flags, vec!["onlink"]);
        assert!(r[2].covers("192.0.2.77".parse().unwrap()));
        assert!(!r[2].covers("2001:db8:100::1".parse().unwrap()));
        assert_eq!(r[3].paths().len(), 2);
        assert_eq!(r[3].paths()[1].0, Some("198.19.0.3".parse().unwrap()));
        assert_eq!(r[4].kind, "blackhole");
        assert_eq!(r[4].protocol, "186");
        let v6 = parse_routes(
            r#"[{"dst":"2001:db8:200::/64","dev":"br200","protocol":"kernel","flags":[]}]"#,
        )
        .unwrap();
        assert!(v6[0].covers("2001:db8:200::13".parse().unwrap()));
        assert!(!v6[0].covers("2001:db8:100::13".parse().unwrap()));
        assert!(parse_routes("").unwrap().is_empty());
    }

    #[test]
    fn links_parse_kinds_vnis_and_addresses() {
        let json = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],
              "address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifindex":5,"ifname":"vx5000","flags":["BROADCAST","UP"],"master":"br5000",
              "address":"02:00:C6:13:00:01","linkinfo":{"info_kind":"vxlan","info_data":{"id":5000,"local":"198.19.0.1"}},
              "addr_info":[]},
            {"ifindex":6,"ifname":"br100","flags":["BROADCAST"],"address":"00:00:5e:00:01:01",
              "linkinfo":{"info_kind":"bridge","info_data":{}},
              "addr_info":[{"family":"inet","local":"192.0.2.254","prefixlen":24},
                           {"family":"inet6","local":"2001:db8:100::1","prefixlen":64}]}]"#;
        let l = parse_links(json).unwrap();
        assert_eq!(l[0].kind, None);
        assert_eq!(l[1].kind.as_deref(), Some("vxlan"));
        assert_eq!(l[1].vni, Some(5000));
        assert_eq!(l[1].master.as_deref(), Some("br5000"));
        assert_eq!(l[1].mac.as_deref(), Some("02:00:c6:13:00:01"));
        assert!(l[1].up && !l[2].up);
        assert!(l[2].has_address("2001:db8:100::1".parse().unwrap()));
        assert_eq!(l[2].addresses[0], ("192.0.2.254".parse().unwrap(), 24));
    }

    #[test]
    fn routed_tenants_are_dual_stack_behind_the_anycast_gateway() {
        let t = routed_tenant_spec(2, 200).unwrap();
        assert_eq!(t.label, "t3v200");
        assert_eq!(t.mac, "02:00:00:02:03:01");
        assert_eq!(t.address, "198.51.100.13/24");
        assert_eq!(t.address6.as_deref(), Some("2001:db8:200::13/64"));
        assert_eq!(t.gateways, vec!["198.51.100.254", "2001:db8:200::1"]);
        let blue = routed_tenant_spec(0, 300).unwrap();
        let red = routed_tenant_spec(0, 100).unwrap();
        assert_eq!(blue.address, red.address);
        assert_eq!(blue.address6, red.address6);
        assert_ne!(blue.mac, red.mac);
        assert!(routed_tenant_spec(0, 400).is_err());
        assert!(routed_tenant_spec(9, 100).is_err());
    }

    #[test]
    fn l3_tables_follow_the_contract() {
        let host = L3Host::new(Irb::Symmetric)
            .vrf(VrfSpec::new("red", Some(5000)).with_route("203.0.113.0/24", "198.51.100.13"))
            .routed(100, "red")
            .unwrap();
        let t = l3_tables("evl-1-2", &host);
        let v: toml::Value = toml::from_str(&t).unwrap();
        let vrf = &v["vrf"][0];
        assert_eq!(vrf["name"].as_str(), Some("red"));
        assert_eq!(vrf["netns"].as_str(), Some("evl-1-2-red"));
        assert_eq!(vrf["l3vni"].as_integer(), Some(5000));
        assert_eq!(vrf["route"][0]["prefix"].as_str(), Some("203.0.113.0/24"));
        assert_eq!(vrf["route"][0]["via"].as_str(), Some("198.51.100.13"));
        let vni = &v["vni"][0];
        assert_eq!(vni["vni"].as_integer(), Some(100));
        assert_eq!(vni["vrf"].as_str(), Some("red"));
        let gw: Vec<&str> = vni["gateway"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert_eq!(gw, vec!["192.0.2.254/24", "2001:db8:100::1/64"]);
        assert_eq!(host.vrf_names(), vec!["red"]);
        let asym = L3Host::new(Irb::Asymmetric).vrf(VrfSpec::new("red", None));
        assert!(!l3_tables("h", &asym).contains("l3vni"));
    }

    #[test]
    fn ping_rows_pass_only_as_expected() {
        let case = PingCase::reach("t1v100", "192.0.2.12".parse().unwrap(), "t2v100");
        let stats = |transmitted, received| super::super::PingStats {
            transmitted,
            received,
        };
        let row = |case: &PingCase, o| PingRow {
            case: case.clone(),
            outcome: o,
        };
        assert!(row(&case, Ok(stats(3, 3))).passed());
        assert!(!row(&case, Ok(stats(3, 2))).passed());
        assert!(!row(&case, Ok(stats(0, 0))).passed());
        assert!(!row(&case, Err("no ping".into())).passed());
        let iso = PingCase::isolated("t1v300", "198.51.100.13".parse().unwrap(), "t3v200");
        assert!(row(&iso, Ok(stats(3, 0))).passed());
        assert!(!row(&iso, Ok(stats(3, 1))).passed());
        let m = PingMatrix {
            rows: vec![row(&case, Ok(stats(3, 3))), row(&iso, Ok(stats(3, 1)))],
        };
        assert_eq!(m.failures().len(), 1);
        assert!(m.failures()[0].contains("t1v300 -> t3v200"), "{m}");
    }
}
