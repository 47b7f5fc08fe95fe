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
//! The fabric builds no bridge or VXLAN device on the hosts: that is the job of the EVPN
//! speaker under test (evpnd with the Linux data plane, or FRR's zebra, for which the test
//! creates them itself).
//!
//! Helpers read the kernel state the way an operator would ([`Node::fdb`], [`Node::neighbors`],
//! [`FdbMonitor`]), drive tenants ([`Tenant::ping`], [`Tenant::announce`],
//! [`Tenant::rx_packets`]) and move a tenant's port from one host to another
//! ([`Fabric::move_tenant`]). Every namespace is deleted when the fabric is dropped; drop the
//! daemons running in it first (declare them after the fabric, or in fields listed before it).

use crate::env::tool_path;
use crate::error::{Context, LabError, Result};
use crate::netns::Netns;
use crate::process::{run_output, signal};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

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
}

impl FabricOptions {
    /// `hosts` hosts and a route reflector on an IPv4 underlay.
    pub fn new(hosts: u8) -> Self {
        FabricOptions {
            hosts,
            underlay: UnderlayFamily::Ipv4,
            route_reflector: true,
        }
    }

    /// The same with the underlay family `family`.
    pub fn underlay(mut self, family: UnderlayFamily) -> Self {
        self.underlay = family;
        self
    }
}

/// A node of the fabric attached to the underlay: a host (VTEP) or the route reflector.
#[derive(Debug)]
pub struct Node {
    index: u8,
    underlay: IpAddr,
    netns: Netns,
}

impl Node {
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
        let mut args = vec!["bridge", "-j", "fdb", "show"];
        if let Some(d) = dev {
            args.extend(["dev", d]);
        }
        let out = self.netns.exec(&args)?;
        parse_fdb(&out, dev)
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
        let mut args = vec!["-j", "neigh", "show", "nud", "all"];
        if let Some(d) = dev {
            args.extend(["dev", d]);
        }
        let out = self.netns.ip(&args)?;
        parse_neighbors(&out, dev)
    }
}

/// One row of `bridge fdb show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// The MAC address, lower case.
    pub mac: String,
    /// The device the entry is on.
    pub dev: String,
    /// The remote VTEP, for VXLAN `self` entries.
    pub dst: Option<IpAddr>,
    /// The VLAN, on VLAN-aware bridges.
    pub vlan: Option<u16>,
    /// The bridge, for entries of the bridge's own table (`master`).
    pub master: Option<String>,
    /// Flags such as `self`, `extern_learn`, `sticky`.
    pub flags: Vec<String>,
    /// `permanent`, `static`, or empty for dynamic entries.
    pub state: String,
}

impl FdbEntry {
    /// An entry of the device's own table (the VXLAN device's, `self`), not the bridge's.
    pub fn is_self(&self) -> bool {
        self.has_flag("self")
    }

    /// True when the entry carries `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// A VXLAN flood (ingress replication) entry: the all-zero MAC with a destination.
    pub fn is_flood(&self) -> bool {
        self.mac == "00:00:00:00:00:00" && self.dst.is_some()
    }
}

/// Parses `bridge -j fdb show [dev DEV]` (the device is implied by the filter when given).
pub fn parse_fdb(json: &str, dev: Option<&str>) -> Result<Vec<FdbEntry>> {
    let rows = parse_json_rows(json, "bridge -j fdb show")?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    rows.iter()
        .map(|r| {
            let dst = match text(r, "dst") {
                Some(d) => Some(
                    d.parse::<IpAddr>()
                        .map_err(|e| LabError::new(format!("fdb dst {d:?}: {e}")))?,
                ),
                None => None,
            };
            Ok(FdbEntry {
                mac: text(r, "mac").unwrap_or_default().to_ascii_lowercase(),
                dev: text(r, "ifname")
                    .or_else(|| dev.map(str::to_string))
                    .unwrap_or_default(),
                dst,
                vlan: r
                    .get("vlan")
                    .and_then(Value::as_u64)
                    .and_then(|v| u16::try_from(v).ok()),
                master: text(r, "master"),
                flags: string_list(r.get("flags")),
                state: text(r, "state").unwrap_or_default(),
            })
        })
        .collect()
}

/// One row of `ip neigh show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborEntry {
    /// The IP address.
    pub ip: IpAddr,
    /// The device.
    pub dev: String,
    /// The link-layer address, when resolved.
    pub mac: Option<String>,
    /// NUD states (`PERMANENT`, `REACHABLE`, `NOARP`, …).
    pub states: Vec<String>,
    /// Flags such as `extern_learn`, `router`.
    pub flags: Vec<String>,
}

/// Parses `ip -j neigh show [dev DEV]`.
pub fn parse_neighbors(json: &str, dev: Option<&str>) -> Result<Vec<NeighborEntry>> {
    let rows = parse_json_rows(json, "ip -j neigh show")?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    rows.iter()
        .map(|r| {
            let dst = text(r, "dst").unwrap_or_default();
            Ok(NeighborEntry {
                ip: dst
                    .parse()
                    .map_err(|e| LabError::new(format!("neighbour {dst:?}: {e}")))?,
                dev: text(r, "dev")
                    .or_else(|| dev.map(str::to_string))
                    .unwrap_or_default(),
                mac: text(r, "lladdr").map(|m| m.to_ascii_lowercase()),
                states: string_list(r.get("state")),
                flags: string_list(r.get("flags")),
            })
        })
        .collect()
}

fn parse_json_rows(json: &str, what: &str) -> Result<Vec<Value>> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(json).map_err(|e| {
        LabError::new(format!(
            "{what}: not JSON ({e}): {}",
            json.chars().take(200).collect::<String>()
        ))
    })?;
    match v {
        Value::Array(rows) => Ok(rows),
        other => Err(LabError::new(format!("{what}: not a list: {other}"))),
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A tenant to add with [`Fabric::add_tenant`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSpec {
    /// A name for messages and look-ups.
    pub label: String,
    /// The host (0-based position in [`Fabric::hosts`]) whose namespace gets the port.
    pub host: usize,
    /// The VNI the tenant belongs to (for the test's bookkeeping; the fabric plugs nothing).
    pub vni: u32,
    /// The tenant's MAC (on `eth0`).
    pub mac: String,
    /// The tenant's address with its prefix length, e.g. `192.0.2.11/24`.
    pub address: String,
    /// The name of the host side of the veth, e.g. `t1v100`.
    pub port: String,
}

impl TenantSpec {
    /// A tenant called `label` on host position `host`, in `vni`, with `mac` and `address`
    /// (with prefix length), behind the host interface `port`.
    pub fn new(label: &str, host: usize, vni: u32, mac: &str, address: &str, port: &str) -> Self {
        TenantSpec {
            label: label.into(),
            host,
            vni,
            mac: mac.into(),
            address: address.into(),
            port: port.into(),
        }
    }
}

/// A tenant: a namespace with one interface `eth0` behind a port in a host namespace.
#[derive(Debug)]
pub struct Tenant {
    label: String,
    vni: u32,
    mac: String,
    ip: IpAddr,
    prefix_len: u8,
    port: String,
    host: usize,
    netns: Netns,
}

/// How a tenant announced itself ([`Tenant::announce`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// `arping -U` (iputils-arping): unsolicited ARP requests for the tenant's own address.
    Arping,
    /// The kernel's own gratuitous ARP: `arp_notify` set on `eth0`, then the link cycled down
    /// and up (used when `arping` is not installed).
    ArpNotify,
}

/// How [`Tenant::ping`] pings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PingOptions {
    /// Replies to wait for (`-c`).
    pub count: u32,
    /// Time between requests (`-i`; below 0.2 s needs root, which lab tests have).
    pub interval: Duration,
    /// Give up after this long whatever was received (`-w`; a broadcast ping sends `count`
    /// requests and is only bounded by the deadline plus a few seconds).
    pub deadline: Duration,
    /// Allow a broadcast destination (`-b`).
    pub broadcast: bool,
}

impl PingOptions {
    /// `count` requests `interval` apart, at most `deadline` in all.
    pub fn new(count: u32, interval: Duration, deadline: Duration) -> Self {
        PingOptions {
            count,
            interval,
            deadline,
            broadcast: false,
        }
    }

    fn args(&self, dst: IpAddr) -> Vec<String> {
        let mut a = vec![
            "ping".to_string(),
            "-n".into(),
            "-q".into(),
            "-c".into(),
            self.count.to_string(),
            "-i".into(),
            format!("{:.3}", self.interval.as_secs_f64()),
        ];
        if self.broadcast {
            // No replies come back from a broadcast (hosts ignore echo to broadcast): send
            // exactly `count` requests (with `-w`, ping would go on until the deadline) and
            // wait one second after the last instead of the default ten.
            a.extend(["-b".into(), "-W".into(), "1".into()]);
        } else {
            a.extend(["-w".into(), self.deadline.as_secs().max(1).to_string()]);
        }
        a.push(dst.to_string());
        a
    }
}

/// What a ping run counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingStats {
    /// Requests sent.
    pub transmitted: u32,
    /// Replies received.
    pub received: u32,
}

impl PingStats {
    /// Requests without a reply.
    pub fn lost(&self) -> u32 {
        self.transmitted.saturating_sub(self.received)
    }
}

/// Reads ping's summary line ("N packets transmitted, M received, …").
pub fn parse_ping_summary(out: &str) -> Result<PingStats> {
    let line = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .ok_or_else(|| LabError::new(format!("no ping summary in {out:?}")))?;
    let number_before = |word: &str| -> Option<u32> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words.iter().position(|w| w.trim_end_matches(',') == word)?;
        words.get(i.checked_sub(1)?)?.parse().ok()
    };
    match (number_before("packets"), number_before("received")) {
        (Some(transmitted), Some(received)) => Ok(PingStats {
            transmitted,
            received,
        }),
        _ => Err(LabError::new(format!("unreadable ping summary {line:?}"))),
    }
}

/// `InType8` (echo requests received) from the `IcmpMsg` lines of /proc/net/snmp; the kernel
/// lists only the types seen so far, so a missing column is 0.
pub fn parse_icmp_in_echo(snmp: &str) -> Result<u64> {
    let mut rows = snmp.lines().filter(|l| l.starts_with("IcmpMsg:"));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
        return Ok(0);
    };
    let position = names.split_whitespace().position(|n| n == "InType8");
    match position {
        None => Ok(0),
        Some(i) => values
            .split_whitespace()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| LabError::new(format!("unreadable IcmpMsg values {values:?}"))),
    }
}

impl Tenant {
    /// The tenant's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The VNI it was declared in.
    pub fn vni(&self) -> u32 {
        self.vni
    }

    /// Its MAC (lower case).
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// Its IP address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Its prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The name of its port (the host side of the veth).
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The host (0-based position) whose namespace holds the port now.
    pub fn host(&self) -> usize {
        self.host
    }

    /// The tenant's namespace.
    pub fn ns(&self) -> &Netns {
        &self.netns
    }

    /// Pings `dst` from the tenant as `opts` says and returns what ping counted (a run with
    /// no reply is not an error). Bounded by the deadline plus a few seconds.
    pub fn ping(&self, dst: IpAddr, opts: &PingOptions) -> Result<PingStats> {
        let args = opts.args(dst);
        let (prog, rest) = args
            .split_first()
            .ok_or_else(|| LabError::new("empty ping command"))?;
        let bound = opts.deadline + Duration::from_secs(5);
        let out = run_output(self.netns.command(prog).args(rest), bound)?;
        parse_ping_summary(&String::from_utf8_lossy(&out.stdout)).context(format!(
            "ping {dst} from {} ({})",
            self.label,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }

    /// Starts the same ping in the background; [`PingRun::finish`] collects its counts.
    pub fn ping_in_background(&self, dst: IpAddr, opts: &PingOptions) -> Result<PingRun> {
        let args = opts.args(dst);
        let (prog, rest) = args
            .split_first()
            .ok_or_else(|| LabError::new("empty ping command"))?;
        let child = self
            .netns
            .command(prog)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LabError::new(format!("cannot start ping: {e}")))?;
        Ok(PingRun {
            child: Some(child),
            bound: opts.deadline + Duration::from_secs(5),
            started: Instant::now(),
        })
    }

    /// Packets received on `eth0` so far (`rx_packets`).
    pub fn rx_packets(&self) -> Result<u64> {
        let out = self
            .netns
            .ip(&["-j", "-s", "link", "show", "dev", TENANT_IF])?;
        let v = parse_json_rows(&out, "ip -j -s link show")?;
        v.first()
            .and_then(|l| l.pointer("/stats64/rx/packets"))
            .and_then(Value::as_u64)
            .ok_or_else(|| LabError::new(format!("no rx counter in {out}")))
    }

    /// ICMP echo requests that reached the tenant's IP stack so far (`IcmpMsg: InType8` of the
    /// namespace's /proc/net/snmp), broadcast ones included even though the kernel does not
    /// answer those. Unlike [`Tenant::rx_packets`] it ignores background traffic (ARP, the
    /// bridges' IPv6), so it tells exactly which tenants a broadcast ping reached.
    pub fn echo_requests_received(&self) -> Result<u64> {
        let snmp = self.netns.exec(&["cat", "/proc/net/snmp"])?;
        parse_icmp_in_echo(&snmp)
    }

    /// Announces the tenant's MAC and IP with a gratuitous ARP: `arping -U` when installed,
    /// else the kernel's `arp_notify` on a down/up cycle of `eth0`. Returns which was used.
    pub fn announce(&self) -> Result<Announcement> {
        let ip = self.ip.to_string();
        if tool_path("arping").is_some() {
            self.netns
                .exec(&["arping", "-U", "-c", "1", "-I", TENANT_IF, &ip])?;
            return Ok(Announcement::Arping);
        }
        let key = format!("net.ipv4.conf.{TENANT_IF}.arp_notify=1");
        self.netns.exec(&["sysctl", "-qw", &key])?;
        self.netns.ip(&["link", "set", TENANT_IF, "down"])?;
        self.netns.ip(&["link", "set", TENANT_IF, "up"])?;
        Ok(Announcement::ArpNotify)
    }
}

/// A ping running in the background ([`Tenant::ping_in_background`]).
#[derive(Debug)]
pub struct PingRun {
    child: Option<Child>,
    bound: Duration,
    started: Instant,
}

impl PingRun {
    /// Waits (bounded by the ping's deadline plus a few seconds) for ping to end and returns
    /// its counts.
    pub fn finish(mut self) -> Result<PingStats> {
        let child = self
            .child
            .take()
            .ok_or_else(|| LabError::new("ping already collected"))?;
        let pid = child.id();
        let remaining = self.bound.saturating_sub(self.started.elapsed());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(remaining) {
            Ok(Ok(out)) => parse_ping_summary(&String::from_utf8_lossy(&out.stdout)),
            Ok(Err(e)) => Err(LabError::new(format!("waiting for ping: {e}"))),
            Err(_) => {
                let _ = signal(pid, rustix::process::Signal::KILL);
                Err(LabError::new("background ping did not end in time"))
            }
        }
    }
}

impl Drop for PingRun {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The fabric: an underlay switch, hosts, an optional route reflector and tenants. Dropping it
/// deletes every namespace it created.
#[derive(Debug)]
pub struct Fabric {
    underlay: UnderlayFamily,
    tenants: Vec<Tenant>,
    hosts: Vec<Node>,
    route_reflector: Option<Node>,
    switch: Netns,
}

fn ns_sysctl(ns: &Netns, settings: &[String]) -> Result<()> {
    let mut args = vec!["sysctl", "-qw"];
    args.extend(settings.iter().map(String::as_str));
    ns.exec(&args).map(|_| ())
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
        let switch = Netns::new()?;
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
            switch,
        };
        for index in 1..=opts.hosts {
            let node = fabric.add_node(index)?;
            fabric.hosts.push(node);
        }
        if opts.route_reflector {
            fabric.route_reflector = Some(fabric.add_node(ROUTE_REFLECTOR_INDEX)?);
        }
        Ok(fabric)
    }

    fn add_node(&self, index: u8) -> Result<Node> {
        let netns = Netns::new()?;
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
        Ok(Node {
            index,
            underlay,
            netns,
        })
    }

    /// The underlay's address family.
    pub fn underlay(&self) -> UnderlayFamily {
        self.underlay
    }

    /// The hosts; host N is at position N-1.
    pub fn hosts(&self) -> &[Node] {
        &self.hosts
    }

    /// The host at `position` (0-based).
    pub fn host(&self, position: usize) -> Result<&Node> {
        self.hosts
            .get(position)
            .ok_or_else(|| LabError::new(format!("no host at position {position}")))
    }

    /// The route reflector, if the fabric has one.
    pub fn route_reflector(&self) -> Option<&Node> {
        self.route_reflector.as_ref()
    }

    /// Adds a tenant as `spec` says: its namespace (IPv6 off) with `eth0` up carrying the MAC
    /// and address, and the port in the host's namespace, up, IPv6 off, not enslaved.
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
        let host = self.host(spec.host)?;
        let netns = Netns::new()?;
        if ip.is_ipv4() {
            ns_sysctl(
                &netns,
                &[
                    "net.ipv6.conf.all.disable_ipv6=1".into(),
                    "net.ipv6.conf.default.disable_ipv6=1".into(),
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
        let addr_args: Vec<&str> = if ip.is_ipv6() {
            vec!["addr", "add", &spec.address, "dev", TENANT_IF, "nodad"]
        } else {
            vec!["addr", "add", &spec.address, "dev", TENANT_IF]
        };
        netns.ip(&addr_args)?;
        netns.ip(&["link", "set", TENANT_IF, "up"])?;
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
        self.host(from)?
            .netns
            .ip(&["link", "set", &port, "netns", &target])?;
        self.tenants[i].host = to;
        let dest = self.host(to)?;
        disable_ipv6_on(&dest.netns, &port)?;
        dest.netns.ip(&["link", "set", &port, "up"])?;
        Ok(())
    }

    /// Names of every namespace of the fabric (switch, nodes, tenants), e.g. to check that
    /// they are gone after a drop.
    pub fn namespace_names(&self) -> Vec<String> {
        std::iter::once(&self.switch)
            .chain(self.hosts.iter().map(|h| &h.netns))
            .chain(self.route_reflector.iter().map(|r| &r.netns))
            .chain(self.tenants.iter().map(|t| &t.netns))
            .map(|n| n.name().to_string())
            .collect()
    }
}

/// A `bridge monitor fdb` running in a node's namespace: every FDB change, time-stamped when
/// read, to measure how fast an entry changes without polling the table.
#[derive(Debug)]
pub struct FdbMonitor {
    child: Option<Child>,
    lines: Receiver<(Instant, String)>,
}

impl FdbMonitor {
    /// Starts the monitor in `ns`. Returns after a short settling time (the netlink
    /// subscription is made right at start-up; nothing reports it).
    pub fn start(ns: &Netns) -> Result<FdbMonitor> {
        let mut child = ns
            .command("bridge")
            .args(["monitor", "fdb"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::new(format!("cannot start bridge monitor: {e}")))?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| LabError::new("bridge monitor without stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        Ok(FdbMonitor {
            child: Some(child),
            lines: rx,
        })
    }

    /// Forgets every change reported so far.
    pub fn drain(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// Waits (bounded by `timeout`) for a change whose line satisfies `pred`, returning when it
    /// was read and the line; earlier lines are consumed.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if pred(&line) => return Ok((at, line)),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(LabError::new(format!(
                        "no matching FDB change within {:.1} s",
                        timeout.as_secs_f64()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(LabError::new("bridge monitor ended"))
                }
            }
        }
    }
}

impl Drop for FdbMonitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Our own child, by pid.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn underlay_addresses() {
        assert_eq!(UnderlayFamily::Ipv4.address(3).to_string(), "198.18.0.3");
        assert_eq!(
            UnderlayFamily::Ipv6
                .address(ROUTE_REFLECTOR_INDEX)
                .to_string(),
            "2001:db8::fe"
        );
        assert_eq!(
            socket_text(UnderlayFamily::Ipv6.address(1), 179),
            "[2001:db8::1]:179"
        );
        assert_eq!(router_id(254).to_string(), "198.19.0.254");
    }

    #[test]
    fn parses_fdb_rows() {
        let json = r#"[{"mac":"02:00:00:00:00:01","flags":["extern_learn"],"master":"br9","state":""},
            {"mac":"02:00:00:00:00:01","dst":"198.18.0.2","flags":["self","extern_learn"],"state":"permanent"},
            {"mac":"00:00:00:00:00:00","dst":"2001:db8::2","flags":["self"],"state":"permanent"}]"#;
        let rows = parse_fdb(json, Some("vx9")).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].master.as_deref(), Some("br9"));
        assert!(!rows[0].is_self() && rows[0].has_flag("extern_learn"));
        assert_eq!(rows[1].dst, Some("198.18.0.2".parse().unwrap()));
        assert!(rows[1].is_self() && !rows[1].is_flood());
        assert!(rows[2].is_flood());
        assert!(rows.iter().all(|r| r.dev == "vx9"));
        assert!(parse_fdb("", None).unwrap().is_empty());
        assert!(parse_fdb("{", None).is_err());
    }

    #[test]
    fn parses_neighbor_rows() {
        let json = r#"[{"dst":"192.0.2.5","dev":"br9","lladdr":"02:00:00:00:00:01","flags":["extern_learn"],"state":["NOARP"]}]"#;
        let rows = parse_neighbors(json, None).unwrap();
        assert_eq!(rows[0].ip.to_string(), "192.0.2.5");
        assert_eq!(rows[0].dev, "br9");
        assert_eq!(rows[0].mac.as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(rows[0].states, ["NOARP"]);
    }

    #[test]
    fn parses_ping_summaries() {
        let s = parse_ping_summary(
            "PING x\n\n--- 192.0.2.12 ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss, time 2003ms\n",
        )
        .unwrap();
        assert_eq!((s.transmitted, s.received, s.lost()), (3, 2, 1));
        let s = parse_ping_summary(
            "5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4ms",
        )
        .unwrap();
        assert_eq!((s.transmitted, s.received), (5, 0));
        assert!(parse_ping_summary("connect: Network is unreachable").is_err());
    }

    #[test]
    fn parses_icmp_counters() {
        let snmp = "Ip: Forwarding\nIp: 1\nIcmpMsg: InType0 InType8 OutType0\nIcmpMsg: 3 40 2\n";
        assert_eq!(parse_icmp_in_echo(snmp).unwrap(), 40);
        assert_eq!(
            parse_icmp_in_echo("IcmpMsg: InType0\nIcmpMsg: 3\n").unwrap(),
            0
        );
        assert_eq!(parse_icmp_in_echo("Ip: 1\n").unwrap(), 0);
    }

    #[test]
    fn ping_arguments() {
        let mut o = PingOptions::new(3, Duration::from_millis(10), Duration::from_secs(2));
        assert_eq!(
            o.args("192.0.2.1".parse().unwrap()).join(" "),
            "ping -n -q -c 3 -i 0.010 -w 2 192.0.2.1"
        );
        o.broadcast = true;
        assert!(o
            .args("192.0.2.255".parse().unwrap())
            .join(" ")
            .ends_with("-i 0.010 -b -W 1 192.0.2.255"));
    }

    /// Plugs `port` into a hand-made VNI 100 on `node`: `br100` with `vx100` (local = the
    /// node's VTEP, flooding to `peers`), which is what a control plane would set up.
    fn static_vni(node: &Node, peers: &[IpAddr], port: &str) {
        let ns = node.ns();
        let local = node.underlay().to_string();
        ns.ip(&["link", "add", "br100", "type", "bridge"]).unwrap();
        ns.ip(&[
            "link",
            "add",
            "vx100",
            "type",
            "vxlan",
            "id",
            "100",
            "local",
            &local,
            "dstport",
            "4789",
            "nolearning",
        ])
        .unwrap();
        ns.ip(&["link", "set", "vx100", "master", "br100", "up"])
            .unwrap();
        ns.ip(&["link", "set", "br100", "up"]).unwrap();
        for p in peers {
            ns.exec(&[
                "bridge",
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                "vx100",
                "dst",
                &p.to_string(),
                "self",
                "permanent",
            ])
            .unwrap();
        }
        ns.ip(&["link", "set", port, "master", "br100"]).unwrap();
    }

    /// The fabric forwards between tenants over a hand-made VXLAN (both underlay families),
    /// reads the FDB back, reports changes through the monitor, counts packets and moves a
    /// tenant; every namespace is gone after the drop.
    #[test]
    fn static_vxlan_fabric_forwards_and_moves() {
        if !crate::require_root_and_tools(&["ip", "bridge", "ping", "sysctl"]) {
            return;
        }
        for family in [UnderlayFamily::Ipv4, UnderlayFamily::Ipv6] {
            let mut f = Fabric::new(&FabricOptions {
                hosts: 2,
                underlay: family,
                route_reflector: true,
            })
            .unwrap();
            assert!(f.route_reflector().is_some());
            f.add_tenant(&TenantSpec::new(
                "a",
                0,
                100,
                "02:00:00:01:01:01",
                "192.0.2.11/24",
                "t1v100",
            ))
            .unwrap();
            f.add_tenant(&TenantSpec::new(
                "b",
                1,
                100,
                "02:00:00:01:02:01",
                "192.0.2.12/24",
                "t2v100",
            ))
            .unwrap();
            let (h1, h2) = (f.host(0).unwrap(), f.host(1).unwrap());
            let monitor = FdbMonitor::start(h2.ns()).unwrap();
            static_vni(h1, &[h2.underlay()], "t1v100");
            static_vni(h2, &[h1.underlay()], "t2v100");
            let flood = h1.vxlan_fdb("vx100").unwrap();
            assert_eq!(flood.len(), 1, "{flood:?}");
            assert!(flood[0].is_flood() && flood[0].dst == Some(h2.underlay()));
            monitor
                .wait_for(Duration::from_secs(5), |l| {
                    l.contains("00:00:00:00:00:00") && l.contains(&h1.underlay().to_string())
                })
                .unwrap();
            let (a, b) = (f.tenant("a").unwrap(), f.tenant("b").unwrap());
            let rx_before = b.rx_packets().unwrap();
            let echo_before = b.echo_requests_received().unwrap();
            let opts = PingOptions::new(3, Duration::from_millis(20), Duration::from_secs(5));
            let st = a.ping(b.ip(), &opts).unwrap();
            assert_eq!(st.received, 3, "{family:?}: {st:?}");
            assert!(b.rx_packets().unwrap() >= rx_before + 3);
            assert_eq!(b.echo_requests_received().unwrap(), echo_before + 3);
            // The bridge learned a's MAC behind the VXLAN port of host 2.
            let learned = h2.fdb(Some("vx100")).unwrap();
            assert!(
                learned
                    .iter()
                    .any(|e| e.mac == a.mac() && e.master.is_some()),
                "{learned:?}"
            );
            // a moves to host 2 and talks to b locally.
            f.move_tenant("a", 1).unwrap();
            let h2 = f.host(1).unwrap();
            assert!(h2.has_link("t1v100") && !f.host(0).unwrap().has_link("t1v100"));
            h2.ns()
                .ip(&["link", "set", "t1v100", "master", "br100"])
                .unwrap();
            let (a, b) = (f.tenant("a").unwrap(), f.tenant("b").unwrap());
            assert_eq!(a.host(), 1);
            a.announce().unwrap();
            let st = a.ping(b.ip(), &opts).unwrap();
            assert_eq!(st.received, 3, "{family:?} after the move: {st:?}");
            let run = b
                .ping_in_background(
                    a.ip(),
                    &PingOptions::new(5, Duration::from_millis(10), Duration::from_secs(3)),
                )
                .unwrap();
            assert_eq!(run.finish().unwrap().received, 5);
            let names = f.namespace_names();
            assert_eq!(names.len(), 6);
            drop(monitor);
            drop(f);
            assert!(names.iter().all(|n| !Netns::exists(n)), "{names:?}");
        }
    }
}
