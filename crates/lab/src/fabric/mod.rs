//! An EVPN-VXLAN fabric in network namespaces, with a real kernel data plane.
//!
//! The layout is the one of a small data centre (RFC 8365 §4: VXLAN over an IP underlay, one
//! VTEP per host):
//!
//! * an **underlay switch**: a namespace holding one bridge (`br0`, multicast snooping off) with a
//!   port `pN` for every node;
//! * **hosts** 1..=N: a namespace each, joined to the switch by a veth whose host end is `lan0`,
//!   carrying the host's underlay address, which is also its VTEP: `198.18.0.N/24`, or
//!   `2001:db8::N/64` with an IPv6 underlay. Each host's router id is `198.19.0.N`;
//! * an optional **route reflector** on the same segment with index 254 (`198.18.0.254` /
//!   `2001:db8::fe`, router id `198.19.0.254`);
//! * **tenants**: a namespace each with a single interface `eth0` (the tenant's MAC and IP) whose
//!   veth peer, the *port*, sits in a host namespace under a given name (e.g. `t1v100`), up and
//!   not enslaved: the control plane under test (or the test itself) plugs it into the VNI's
//!   bridge. IPv6 is off in tenant namespaces and on ports, so that the only frames a tenant
//!   sends are the ones a test asks for (broadcast counting relies on it).
//!
//! * **VRF namespaces** of a host (`<host namespace>-<vrf>`, [`Fabric::add_vrf`]) for the
//!   namespace-per-VRF model of layer 3, and **peers** ([`Fabric::add_peer`]: GoBGP or FRR
//!   beside the reflector); see [`l3`].
//!
//! The fabric builds no bridge or VXLAN device on the hosts: that is the job of the EVPN
//! speaker under test (evpnd with the Linux data plane, or FRR's zebra, for which the test
//! creates them itself).
//!
//! Helpers read the kernel state the way an operator would ([`FabricNode::fdb`], [`FabricNode::neighbors`],
//! [`FdbMonitor`]), drive tenants ([`Tenant::ping`], [`Tenant::announce`],
//! [`Tenant::rx_packets`]) and move a tenant's port from one host to another
//! ([`Fabric::move_tenant`]). Every namespace is deleted when the fabric is dropped; drop the
//! daemons running in it first (declare them after the fabric, or in fields listed before it).

pub mod evpnd;
mod kernel;
pub mod l3;
mod tenant;
#[cfg(test)]
mod tests;

pub use kernel::{
    parse_fdb, parse_links, parse_neighbors, parse_routes, FdbEntry, FdbMonitor, LinkEntry,
    NeighborEntry, RouteEntry,
};
pub use l3::{ping_matrix, PingCase, PingMatrix};
pub use tenant::{
    parse_icmp_in_echo, parse_ping_summary, Announcement, PingOptions, PingRun, PingStats, Tenant,
    TenantSpec,
};

use crate::error::{LabError, Result};
use crate::netns::Netns;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Name of the underlay interface of every host and of the route reflector.
pub const UNDERLAY_IF: &str = "lan0";
/// Name of the tenant's interface inside its namespace.
pub const TENANT_IF: &str = "eth0";
/// Index of the route reflector on the underlay (`198.18.0.254`, `2001:db8::fe`).
pub const ROUTE_REFLECTOR_INDEX: u8 = 254;

/// The underlay's address family: VTEPs and BGP sessions use it; tenants do not care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnderlayFamily {
    /// `198.18.0.N/24` (RFC 2544 benchmarking space, the project's underlay range).
    Ipv4,
    /// `2001:db8::N/64` (RFC 3849 documentation space); VXLAN over IPv6 (RFC 7348 §5).
    Ipv6,
}

impl UnderlayFamily {
    /// The underlay address (and VTEP) of node `index`.
    pub fn address(self, index: u8) -> IpAddr {
        match self {
            UnderlayFamily::Ipv4 => IpAddr::V4(Ipv4Addr::new(198, 18, 0, index)),
            UnderlayFamily::Ipv6 => IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                0,
                u16::from(index),
            )),
        }
    }

    /// The underlay's prefix length.
    pub fn prefix_len(self) -> u8 {
        match self {
            UnderlayFamily::Ipv4 => 24,
            UnderlayFamily::Ipv6 => 64,
        }
    }
}

/// `ip:port` as a socket address text (`198.18.0.1:179`, `[2001:db8::1]:179`).
pub fn socket_text(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// The router id (BGP identifier) of node `index`: `198.19.0.N`.
pub fn router_id(index: u8) -> Ipv4Addr {
    let [a, b, c] = crate::LOOPBACK_PREFIX;
    Ipv4Addr::new(a, b, c, index)
}

/// What [`Fabric::new`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FabricOptions {
    /// Number of hosts (VTEPs), 1 to 250.
    pub hosts: u8,
    /// The underlay's address family.
    pub underlay: UnderlayFamily,
    /// Add a route-reflector node (index 254).
    pub route_reflector: bool,
    /// Name the namespaces `PREFIXswitch`, `PREFIXhostN`, `PREFIXrr` and `PREFIXLABEL` (for
    /// tenants) instead of the lab's unique `evl-PID-N`: names a user can type, for a tool
    /// that owns the prefix (`evpnd demo`). Such a fabric exists once per machine.
    pub name_prefix: Option<&'static str>,
}

impl FabricOptions {
    /// `hosts` hosts and a route reflector on an IPv4 underlay.
    pub fn new(hosts: u8) -> Self {
        FabricOptions {
            hosts,
            underlay: UnderlayFamily::Ipv4,
            route_reflector: true,
            name_prefix: None,
        }
    }

    /// The same with the underlay family `family`.
    pub fn underlay(mut self, family: UnderlayFamily) -> Self {
        self.underlay = family;
        self
    }

    /// The same with namespaces named after `prefix` (see [`FabricOptions::name_prefix`]).
    pub fn named(mut self, prefix: &'static str) -> Self {
        self.name_prefix = Some(prefix);
        self
    }
}

/// A node of the fabric attached to the underlay: a host (VTEP) or the route reflector.
#[derive(Debug)]
pub struct FabricNode {
    index: u8,
    underlay: IpAddr,
    netns: Netns,
    /// Tenant VRF namespaces of a host (`NODENS-VRF`, [`Fabric::add_vrf`]), by VRF name.
    vrfs: Vec<(String, Netns)>,
}

impl FabricNode {
    /// The node's number: N for host N, [`ROUTE_REFLECTOR_INDEX`] for the route reflector.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The node's namespace.
    pub fn ns(&self) -> &Netns {
        &self.netns
    }

    /// The underlay address on `lan0`, which is also the host's VTEP address.
    pub fn underlay(&self) -> IpAddr {
        self.underlay
    }

    /// The node's router id, `198.19.0.N`.
    pub fn router_id(&self) -> Ipv4Addr {
        router_id(self.index)
    }

    /// True when the node has a network device called `name`.
    pub fn has_link(&self, name: &str) -> bool {
        self.netns.ip(&["link", "show", "dev", name]).is_ok()
    }

    /// The forwarding database (`bridge -j fdb show`), every device or only `dev`.
    pub fn fdb(&self, dev: Option<&str>) -> Result<Vec<FdbEntry>> {
        fdb_in(&self.netns, dev)
    }

    /// The entries of VXLAN device `vxlan` that send to a remote VTEP (`self` entries with a
    /// `dst`: remote MACs and flood entries). A missing device gives an error.
    pub fn vxlan_fdb(&self, vxlan: &str) -> Result<Vec<FdbEntry>> {
        Ok(self
            .fdb(Some(vxlan))?
            .into_iter()
            .filter(|e| e.dst.is_some() && e.is_self())
            .collect())
    }

    /// The neighbour table (`ip -j neigh show nud all`), every device or only `dev`.
    pub fn neighbors(&self, dev: Option<&str>) -> Result<Vec<NeighborEntry>> {
        neighbors_in(&self.netns, dev)
    }
}

/// The forwarding database of namespace `ns` (`bridge -j fdb show`), every device or only
/// `dev`: the one reader behind [`FabricNode::fdb`] and [`FabricNode::vrf_fdb`].
pub fn fdb_in(ns: &Netns, dev: Option<&str>) -> Result<Vec<FdbEntry>> {
    let mut args = vec!["bridge", "-j", "fdb", "show"];
    if let Some(d) = dev {
        args.extend(["dev", d]);
    }
    let out = ns.exec(&args)?;
    parse_fdb(&out, dev)
}

/// The neighbour table of namespace `ns` (`ip -j neigh show nud all`), every device or only
/// `dev`: the one reader behind [`FabricNode::neighbors`] and [`FabricNode::vrf_neighbors`].
pub fn neighbors_in(ns: &Netns, dev: Option<&str>) -> Result<Vec<NeighborEntry>> {
    let mut args = vec!["-j", "neigh", "show", "nud", "all"];
    if let Some(d) = dev {
        args.extend(["dev", d]);
    }
    let out = ns.ip(&args)?;
    parse_neighbors(&out, dev)
}

/// The fabric: an underlay switch, hosts, an optional route reflector and tenants. Dropping it
/// deletes every namespace it created.
#[derive(Debug)]
pub struct Fabric {
    underlay: UnderlayFamily,
    tenants: Vec<Tenant>,
    hosts: Vec<FabricNode>,
    route_reflector: Option<FabricNode>,
    /// Further speakers on the underlay (GoBGP, FRR peers of the reflector; [`Fabric::add_peer`]).
    peers: Vec<FabricNode>,
    switch: Netns,
    name_prefix: Option<&'static str>,
}

fn ns_sysctl(ns: &Netns, settings: &[String]) -> Result<()> {
    let mut args = vec!["sysctl", "-qw"];
    args.extend(settings.iter().map(String::as_str));
    ns.exec(&args).map(|_| ())
}

/// A namespace called `PREFIXrole` when the fabric is named, else a unique lab namespace.
fn new_namespace(prefix: Option<&str>, role: &str) -> Result<Netns> {
    match prefix {
        Some(p) => Netns::named(&format!("{p}{role}")),
        None => Netns::new(),
    }
}

fn disable_ipv6_on(ns: &Netns, dev: &str) -> Result<()> {
    ns_sysctl(ns, &[format!("net.ipv6.conf.{dev}.disable_ipv6=1")])
}

impl Fabric {
    /// Builds the underlay switch, the hosts and the route reflector of `opts` (no tenants).
    /// Stale namespaces of dead test runs are removed first.
    pub fn new(opts: &FabricOptions) -> Result<Fabric> {
        if opts.hosts == 0 || opts.hosts > 250 {
            return Err(LabError::new("a fabric has 1 to 250 hosts"));
        }
        let _ = crate::netns::cleanup_stale_namespaces();
        let switch = new_namespace(opts.name_prefix, "switch")?;
        switch.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        switch.ip(&["link", "set", "br0", "up"])?;
        let mut fabric = Fabric {
            underlay: opts.underlay,
            tenants: Vec::new(),
            hosts: Vec::new(),
            route_reflector: None,
            peers: Vec::new(),
            switch,
            name_prefix: opts.name_prefix,
        };
        for index in 1..=opts.hosts {
            let node = fabric.add_node(index, &format!("host{index}"))?;
            fabric.hosts.push(node);
        }
        if opts.route_reflector {
            fabric.route_reflector = Some(fabric.add_node(ROUTE_REFLECTOR_INDEX, "rr")?);
        }
        Ok(fabric)
    }

    fn add_node(&self, index: u8, role: &str) -> Result<FabricNode> {
        let netns = new_namespace(self.name_prefix, role)?;
        let port = format!("p{index}");
        self.switch.ip(&[
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            UNDERLAY_IF,
            "netns",
            netns.name(),
        ])?;
        self.switch
            .ip(&["link", "set", &port, "master", "br0", "up"])?;
        let underlay = self.underlay.address(index);
        let cidr = format!("{underlay}/{}", self.underlay.prefix_len());
        match self.underlay {
            UnderlayFamily::Ipv4 => netns.ip(&["addr", "add", &cidr, "dev", UNDERLAY_IF])?,
            // No duplicate address detection: the address is usable at once.
            UnderlayFamily::Ipv6 => {
                netns.ip(&["addr", "add", &cidr, "dev", UNDERLAY_IF, "nodad"])?
            }
        };
        netns.ip(&["link", "set", UNDERLAY_IF, "up"])?;
        Ok(FabricNode {
            index,
            underlay,
            netns,
            vrfs: Vec::new(),
        })
    }

    /// The underlay's address family.
    pub fn underlay(&self) -> UnderlayFamily {
        self.underlay
    }

    /// The hosts; host N is at position N-1.
    pub fn hosts(&self) -> &[FabricNode] {
        &self.hosts
    }

    /// The host at `position` (0-based).
    pub fn host(&self, position: usize) -> Result<&FabricNode> {
        self.hosts
            .get(position)
            .ok_or_else(|| LabError::new(format!("no host at position {position}")))
    }

    /// The route reflector, if the fabric has one.
    pub fn route_reflector(&self) -> Option<&FabricNode> {
        self.route_reflector.as_ref()
    }

    /// Adds a tenant as `spec` says: its namespace (IPv6 off unless the tenant has an IPv6
    /// address; router advertisements ignored when on) with `eth0` up carrying the MAC and
    /// addresses and a default route via each of `spec.gateways`, and the port in the host's
    /// namespace, up, IPv6 off, not enslaved.
    pub fn add_tenant(&mut self, spec: &TenantSpec) -> Result<&Tenant> {
        if self.tenants.iter().any(|t| t.label == spec.label) {
            return Err(LabError::new(format!("tenant {} exists", spec.label)));
        }
        let (ip_text, len_text) = spec.address.split_once('/').ok_or_else(|| {
            LabError::new(format!("tenant address {:?} lacks /LEN", spec.address))
        })?;
        let ip: IpAddr = ip_text
            .parse()
            .map_err(|e| LabError::new(format!("tenant address {ip_text:?}: {e}")))?;
        let prefix_len: u8 = len_text
            .parse()
            .map_err(|e| LabError::new(format!("tenant prefix length {len_text:?}: {e}")))?;
        let ip6: Option<IpAddr> = match &spec.address6 {
            None => None,
            Some(a) => {
                let text = a.split_once('/').map_or(a.as_str(), |(ip, _)| ip);
                Some(
                    text.parse()
                        .map_err(|e| LabError::new(format!("tenant IPv6 address {a:?}: {e}")))?,
                )
            }
        };
        let gateways = spec
            .gateways
            .iter()
            .map(|g| {
                g.parse::<IpAddr>()
                    .map_err(|e| LabError::new(format!("tenant gateway {g:?}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let host = self.host(spec.host)?;
        let netns = new_namespace(self.name_prefix, &spec.label)?;
        let dual_stack = ip.is_ipv6() || ip6.is_some();
        if !dual_stack {
            ns_sysctl(
                &netns,
                &[
                    "net.ipv6.conf.all.disable_ipv6=1".into(),
                    "net.ipv6.conf.default.disable_ipv6=1".into(),
                ],
            )?;
        } else {
            // No router advertisements or autoconfiguration: the tenant's routes are the ones
            // the test gives it.
            ns_sysctl(
                &netns,
                &[
                    "net.ipv6.conf.all.accept_ra=0".into(),
                    "net.ipv6.conf.default.accept_ra=0".into(),
                    "net.ipv6.conf.default.autoconf=0".into(),
                ],
            )?;
        }
        host.netns.ip(&[
            "link",
            "add",
            &spec.port,
            "type",
            "veth",
            "peer",
            "name",
            TENANT_IF,
            "netns",
            netns.name(),
        ])?;
        disable_ipv6_on(&host.netns, &spec.port)?;
        netns.ip(&["link", "set", TENANT_IF, "address", &spec.mac])?;
        for address in std::iter::once(&spec.address).chain(spec.address6.as_ref()) {
            let addr_args: Vec<&str> = if address.contains(':') {
                vec!["addr", "add", address, "dev", TENANT_IF, "nodad"]
            } else {
                vec!["addr", "add", address, "dev", TENANT_IF]
            };
            netns.ip(&addr_args)?;
        }
        netns.ip(&["link", "set", TENANT_IF, "up"])?;
        for g in &gateways {
            let text = g.to_string();
            let family = if g.is_ipv6() { "-6" } else { "-4" };
            netns.ip(&[
                family, "route", "add", "default", "via", &text, "dev", TENANT_IF,
            ])?;
        }
        host.netns.ip(&["link", "set", &spec.port, "up"])?;
        self.tenants.push(Tenant {
            label: spec.label.clone(),
            vni: spec.vni,
            mac: spec.mac.to_ascii_lowercase(),
            ip,
            prefix_len,
            port: spec.port.clone(),
            host: spec.host,
            netns,
            ip6,
            gateways,
        });
        self.tenants
            .last()
            .ok_or_else(|| LabError::new("tenant list empty after a push"))
    }

    /// Every tenant, in the order added.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The tenant called `label`.
    pub fn tenant(&self, label: &str) -> Result<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.label == label)
            .ok_or_else(|| LabError::new(format!("no tenant {label}")))
    }

    /// Moves tenant `label`'s port into the namespace of the host at position `to` (`ip link
    /// set PORT netns H`), with IPv6 off and up again: the tenant keeps its MAC and IP, and the
    /// port arrives unplugged (leaving a namespace releases it from the old host's bridge).
    /// Nothing is announced: call [`Tenant::announce`] for a gratuitous ARP.
    pub fn move_tenant(&mut self, label: &str, to: usize) -> Result<()> {
        let target = self.host(to)?.netns.name().to_string();
        let i = self
            .tenants
            .iter()
            .position(|t| t.label == label)
            .ok_or_else(|| LabError::new(format!("no tenant {label}")))?;
        let (from, port) = (self.tenants[i].host, self.tenants[i].port.clone());
        if from == to {
            return Err(LabError::new(format!("{label} is already on host {to}")));
        }
        // The port sits in the old host's namespace, or in one of its VRF namespaces when the
        // daemon moved it there with the VNI's bridge (issue 11, item 7).
        let old = self.host(from)?;
        let holder = std::iter::once(&old.netns)
            .chain(old.vrfs.iter().map(|(_, ns)| ns))
            .find(|ns| ns.ip(&["link", "show", "dev", &port]).is_ok())
            .ok_or_else(|| {
                LabError::new(format!(
                    "port {port} of {label} is in no namespace of host {}",
                    from + 1
                ))
            })?;
        holder.ip(&["link", "set", &port, "netns", &target])?;
        self.tenants[i].host = to;
        let dest = self.host(to)?;
        disable_ipv6_on(&dest.netns, &port)?;
        dest.netns.ip(&["link", "set", &port, "up"])?;
        Ok(())
    }

    /// Names of every namespace of the fabric (switch, nodes, their VRF namespaces, peers,
    /// tenants), e.g. to check that they are gone after a drop.
    pub fn namespace_names(&self) -> Vec<String> {
        let nodes = || {
            self.hosts
                .iter()
                .chain(self.route_reflector.iter())
                .chain(self.peers.iter())
        };
        std::iter::once(&self.switch)
            .chain(nodes().map(|h| &h.netns))
            .chain(nodes().flat_map(|h| h.vrfs.iter().map(|(_, ns)| ns)))
            .chain(self.tenants.iter().map(|t| &t.netns))
            .map(|n| n.name().to_string())
            .collect()
    }

    /// Adds a speaker that is neither a host nor the reflector (a GoBGP or FRR peer of the
    /// reflector) on the underlay at `index` (`198.18.0.INDEX`, router id `198.19.0.INDEX`);
    /// `index` must be above the hosts' and not the reflector's.
    pub fn add_peer(&mut self, index: u8) -> Result<&FabricNode> {
        let taken = usize::from(index) <= self.hosts.len()
            || index == ROUTE_REFLECTOR_INDEX
            || self.peers.iter().any(|p| p.index == index);
        if taken || index == 0 {
            return Err(LabError::new(format!("underlay index {index} is taken")));
        }
        let node = self.add_node(index, &format!("peer{index}"))?;
        self.peers.push(node);
        self.peers
            .last()
            .ok_or_else(|| LabError::new("peer list empty after a push"))
    }

    /// The peers added with [`Fabric::add_peer`].
    pub fn peers(&self) -> &[FabricNode] {
        &self.peers
    }
}
